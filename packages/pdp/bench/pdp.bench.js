// Benchmarks the policy decision point on dist with the real registry and inventory:
//   (a) a seed-sized config, side by side with the same rules as Cedar policies (@cedar-policy/cedar-wasm),
//   (b) 10k actions, 100k targets, 10k rules, with RSS.
// Run: pnpm --filter @agent-safe/pdp build && pnpm --filter @agent-safe/pdp bench
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { effectiveRisk } from '@agent-safe/risk';
import * as registry from '@agent-safe/registry';
import { PolicyDecisionPoint, parsePolicyDocument, policyRevision } from '../dist/index.js';

const { ActionRegistry, Inventory } = registry;
if (typeof ActionRegistry?.fromDefinitions !== 'function' || typeof Inventory?.fromTargets !== 'function') {
  console.error('@agent-safe/registry does not export ActionRegistry/Inventory yet: build it first.');
  process.exit(1);
}

const MONDAY_10 = Date.UTC(2024, 0, 1, 10);

/** Deterministic pseudo-random numbers, so runs are comparable. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function toRules(raw) {
  const { rules, issues } = parsePolicyDocument({ rules: raw }, 'bench.yaml');
  if (issues.length > 0) throw new Error(JSON.stringify(issues.slice(0, 3)));
  return rules;
}

function caller(agentId, roles) {
  return { agentId, roles, groups: [], authenticated: true, delegationChain: [] };
}

/** Times `run(i)` per call on a sample (percentiles) and in bulk (throughput). */
function measure(label, count, run) {
  for (let i = 0; i < 200_000; i += 1) run(i % count); // warm-up: let the JIT settle
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i += 1) {
    const start = process.hrtime.bigint();
    run(i % count);
    samples[i] = Number(process.hrtime.bigint() - start);
  }
  samples.sort();
  const iterations = 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) run(i % count);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result = {
    label,
    p50: samples[Math.floor(samples.length * 0.5)],
    p99: samples[Math.floor(samples.length * 0.99)],
    perSecond: iterations / seconds,
  };
  console.log(
    `${label.padEnd(44)} p50 ${String(Math.round(result.p50)).padStart(7)} ns   p99 ${String(Math.round(result.p99)).padStart(7)} ns   ${Math.round(result.perSecond).toLocaleString('en-US').padStart(11)} checks/s`,
  );
  return result;
}

// The same loop as a separate function for Cedar: one shared measuring loop that first ran our PDP and
// then the WebAssembly engine crashed V8 (Node 20.20, a deoptimization during concurrent recompilation).
function measureCedar(label, count, run) {
  for (let i = 0; i < 200_000; i += 1) run(i % count); // warm-up: let the JIT settle
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i += 1) {
    const start = process.hrtime.bigint();
    run(i % count);
    samples[i] = Number(process.hrtime.bigint() - start);
  }
  samples.sort();
  const iterations = 1_000_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) run(i % count);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result = {
    label,
    p50: samples[Math.floor(samples.length * 0.5)],
    p99: samples[Math.floor(samples.length * 0.99)],
    perSecond: iterations / seconds,
  };
  console.log(
    `${label.padEnd(44)} p50 ${String(Math.round(result.p50)).padStart(7)} ns   p99 ${String(Math.round(result.p99)).padStart(7)} ns   ${Math.round(result.perSecond).toLocaleString('en-US').padStart(11)} checks/s`,
  );
  return result;
}

// ---------------------------------------------------------------- (a) seed-sized configuration
function seedSized() {
  const kinds = [
    ['k8s-deployment', ['restart', 'scale', 'set-image', 'rollback', 'status', 'logs']],
    ['k8s-namespace', ['wipe', 'create', 'label', 'quota']],
    ['k8s-node', ['cordon', 'uncordon', 'drain', 'taint']],
    ['k8s-pod', ['delete', 'exec', 'forward', 'logs']],
    ['ec2-instance', ['reboot', 'start', 'stop', 'terminate']],
    ['lambda-function', ['invoke', 'configure']],
    ['s3-bucket', ['delete-object', 'set-policy']],
    ['iam-role', ['attach', 'detach']],
    ['ecs-service', ['scale', 'redeploy']],
  ];
  const risks = ['low', 'medium', 'high', 'critical'];
  const actions = [];
  kinds.forEach(([type, verbs], kindIndex) => {
    verbs.forEach((verb, verbIndex) => {
      actions.push({
        name: `${type.split('-')[0]}-${verb}-${type.split('-')[1]}`,
        version: '1.0.0',
        description: `${verb} a ${type}`,
        risk_class:
          type === 'k8s-namespace' && verb === 'wipe' ? 'critical' : risks[(kindIndex + verbIndex) % 4],
        target_types: [type],
        parameters: [
          { name: 'namespace', type: 'string', required: true, description: 'namespace' },
          { name: 'reason', type: 'string', required: false, description: 'why', default: 'n/a' },
        ],
      });
    });
  });
  const sensitivities = ['public', 'internal', 'restricted', 'critical'];
  const targets = [];
  for (const environment of ['prod', 'staging', 'dev']) {
    for (const [index, type] of ['k8s-deployment', 'k8s-namespace', 'k8s-pod', 'ec2-instance'].entries()) {
      targets.push({
        id: `${environment}/${type}-${index}`,
        type,
        environment,
        sensitivity: environment === 'prod' ? (index % 2 ? 'critical' : 'restricted') : sensitivities[index],
        owner: 'platform',
        labels: { app: `app-${index}`, tier: index % 2 ? 'backend' : 'frontend' },
      });
    }
  }
  const rules = toRules([
    {
      name: 'approve-critical',
      priority: 1000,
      match: { risk_classes: ['critical'] },
      decision: 'require_approval',
      reason: 'critical',
    },
    {
      name: 'deny-wipe-prod',
      priority: 900,
      match: { actions: ['k8s-wipe-namespace'], targets: { environments: ['prod'] } },
      decision: 'deny',
      reason: 'no',
    },
    {
      name: 'approve-prod',
      priority: 500,
      match: { targets: { environments: ['prod'] } },
      decision: 'require_approval',
      reason: 'prod',
    },
    {
      name: 'allow-staging-reads',
      priority: 200,
      match: {
        actions: ['k8s-status-deployment', 'k8s-logs-deployment', 'k8s-logs-pod'],
        targets: { environments: ['staging'] },
      },
      decision: 'allow',
      reason: 'reads',
    },
    {
      name: 'allow-staging-deployers',
      priority: 100,
      match: {
        actions: ['k8s-restart-deployment', 'k8s-scale-deployment', 'k8s-delete-pod'],
        targets: { environments: ['staging'] },
        callers: { roles: ['deployer'] },
      },
      decision: 'allow',
      reason: 'deployers',
    },
    {
      name: 'allow-dev',
      priority: 10,
      match: { targets: { environments: ['dev'] } },
      decision: 'allow',
      reason: 'dev',
    },
  ]);
  return { actions, targets, rules };
}

function requestsFor(actions, targets, count, seed, roles) {
  const next = random(seed);
  const byType = new Map();
  for (const target of targets) {
    if (!byType.has(target.type)) byType.set(target.type, []);
    byType.get(target.type).push(target);
  }
  const usable = actions.filter((action) => action.target_types.some((type) => byType.has(type)));
  const requests = [];
  for (let i = 0; i < count; i += 1) {
    const action = usable[Math.floor(next() * usable.length)];
    const type = action.target_types[Math.floor(next() * action.target_types.length)];
    const candidates = byType.get(type) ?? byType.get(action.target_types.find((t) => byType.has(t)));
    const target = candidates[Math.floor(next() * candidates.length)];
    requests.push({
      action: action.name,
      target: target.id,
      caller: caller(`agent-${i % 50}`, [roles[Math.floor(next() * roles.length)]]),
      params: { namespace: 'shop' },
      ticketId: next() < 0.3 ? 'CHG-1' : null,
      now: MONDAY_10 + Math.floor(next() * 7 * 24) * 3_600_000,
    });
  }
  return requests;
}

// Cedar: each rule becomes one policy whose condition is "this rule matches and no higher-priority rule
// does" (first match wins); DENY → forbid, ALLOW and REQUIRE_APPROVAL → permit, told apart by the id
// of the determining policy. Facts the PDP derives (target attributes, effective risk) go in the context.
function cedarPolicies(rules) {
  const sorted = [...rules].sort((a, b) => b.priority - a.priority);
  const conditionOf = (rule) => {
    const parts = [];
    const { actions, targets, callers, riskClasses } = rule.match;
    if (!actions.includes('*')) {
      parts.push(
        `(${actions.map((name) => (name.includes('*') ? `context.action like "${name}"` : `context.action == "${name}"`)).join(' || ')})`,
      );
    }
    if (targets?.environments)
      parts.push(
        `[${targets.environments.map((value) => `"${value}"`).join(', ')}].contains(context.environment)`,
      );
    if (callers?.roles)
      parts.push(`context.roles.containsAny([${callers.roles.map((value) => `"${value}"`).join(', ')}])`);
    if (riskClasses)
      parts.push(`[${riskClasses.map((value) => `"${value}"`).join(', ')}].contains(context.risk)`);
    return parts.length > 0 ? parts.join(' && ') : 'true';
  };
  const policies = {};
  sorted.forEach((rule, index) => {
    const earlier = sorted.slice(0, index).map((higher) => `!(${conditionOf(higher)})`);
    const effect = rule.decision === 'DENY' ? 'forbid' : 'permit';
    policies[rule.name] =
      `${effect}(principal, action, resource) when { ${[conditionOf(rule), ...earlier].join(' && ')} };`;
  });
  return { policies, decisions: new Map(sorted.map((rule) => [rule.name, rule.decision])) };
}

async function runSeedSized() {
  const { actions, targets, rules } = seedSized();
  const actionLookup = ActionRegistry.fromDefinitions(actions);
  const targetLookup = Inventory.fromTargets(targets);
  const pdp = new PolicyDecisionPoint({ actions: actionLookup, targets: targetLookup, policies: rules });
  const requests = requestsFor(actions, targets, 4096, 1, ['deployer', 'viewer', 'sre']);
  const tally = { ALLOW: 0, DENY: 0, REQUIRE_APPROVAL: 0 };
  for (const request of requests) tally[pdp.evaluate(request).result] += 1;
  console.log(
    `\n(a) seed-sized: ${actions.length} actions, ${targets.length} targets, ${rules.length} rules; request mix ${JSON.stringify(tally)}`,
  );
  const ours = measure('agent-safe PolicyDecisionPoint.evaluate', requests.length, (i) =>
    pdp.evaluate(requests[i]),
  );
  // What the server's default answer (and `check --explain`) adds: the rule trace, built lazily.
  measure(
    'evaluate + explanation (the rule trace)',
    requests.length,
    (i) => pdp.evaluate(requests[i]).explanation,
  );

  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const { policies, decisions } = cedarPolicies(rules);
  const parsed = cedar.preparsePolicySet('bench', { staticPolicies: policies });
  if (parsed.type !== 'success') throw new Error(JSON.stringify(parsed.errors));
  const actionRisk = new Map(actions.map((action) => [action.name, action.risk_class]));
  const targetById = new Map(targets.map((target) => [target.id, target]));
  const cedarDecide = (request) => {
    const target = targetById.get(request.target);
    const answer = cedar.statefulIsAuthorized({
      principal: { type: 'Agent', id: request.caller.agentId },
      action: { type: 'Action', id: request.action },
      resource: { type: 'Target', id: request.target },
      context: {
        action: request.action,
        environment: target.environment,
        roles: request.caller.roles,
        risk: effectiveRisk(actionRisk.get(request.action), target.sensitivity),
      },
      preparsedPolicySetId: 'bench',
      entities: [],
    });
    if (answer.type !== 'success') return 'DENY';
    const [determining] = answer.response.diagnostics.reason;
    return answer.response.decision === 'allow' && determining ? decisions.get(determining) : 'DENY';
  };
  let agree = 0;
  for (const request of requests) if (cedarDecide(request) === pdp.evaluate(request).result) agree += 1;
  console.log(`Cedar ${cedar.getCedarVersion()} agrees with the PDP on ${agree}/${requests.length} requests`);
  const theirs = measureCedar('cedar-wasm statefulIsAuthorized (preparsed)', requests.length, (i) =>
    cedarDecide(requests[i]),
  );
  console.log(`ratio: agent-safe is ${(ours.perSecond / theirs.perSecond).toFixed(1)}× Cedar's checks/s`);
}

// ---------------------------------------------------------------- (b) large configuration
function runLarge() {
  const baseline = process.memoryUsage().rss;
  const { pdp, requests, setupMs } = buildLarge();
  // The generated input is garbage now, as a loaded file's text would be: collect it before reading RSS.
  globalThis.gc?.();
  globalThis.gc?.();
  const tally = { ALLOW: 0, DENY: 0, REQUIRE_APPROVAL: 0 };
  let ruleMatched = 0;
  for (const request of requests) {
    const evaluation = pdp.evaluate(request);
    tally[evaluation.result] += 1;
    if (evaluation.matchedRule) ruleMatched += 1;
  }
  console.log(
    `\n(b) large: 10000 actions, 100000 targets, 10000 rules (setup ${setupMs.toFixed(0)} ms); mix ${JSON.stringify(tally)}, ${ruleMatched} decided by a rule`,
  );
  measure('agent-safe PolicyDecisionPoint.evaluate', requests.length, (i) => pdp.evaluate(requests[i]));
  globalThis.gc?.();
  const memory = process.memoryUsage();
  const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
  console.log(
    `RSS ${mb(memory.rss)} (Node alone ${mb(baseline)}; JS heap used ${mb(memory.heapUsed)}), with the registry, inventory, compiled rules, warm caches and 20k requests held`,
  );
}

function buildLarge() {
  const next = random(42);
  const ACTIONS = 10_000;
  const TARGETS = 100_000;
  const RULES = 10_000;
  const types = Array.from({ length: 20 }, (_, index) => `type-${index}`);
  const environments = Array.from({ length: 20 }, (_, index) => `env-${index}`);
  const risks = ['low', 'medium', 'high', 'critical'];
  const sensitivities = ['public', 'internal', 'restricted', 'critical'];
  const roles = Array.from({ length: 30 }, (_, index) => `role-${index}`);
  const actions = Array.from({ length: ACTIONS }, (_, index) => ({
    name: `svc-${index % 100}-op-${index}`,
    version: '1.0.0',
    description: 'generated',
    risk_class: risks[index % 4],
    target_types: [types[index % 20], types[(index * 7 + 3) % 20]].filter(
      (value, position, all) => all.indexOf(value) === position,
    ),
    parameters: [
      { name: 'namespace', type: 'string', required: true, description: 'namespace' },
      { name: 'count', type: 'integer', required: false, description: 'count', default: 1 },
    ],
  }));
  const targets = Array.from({ length: TARGETS }, (_, index) => ({
    id: `${environments[index % 20]}/target-${index}`,
    type: types[Math.floor(index / 20) % 20],
    environment: environments[index % 20],
    sensitivity: sensitivities[index % 4],
    owner: `team-${index % 50}`,
    labels: { team: `team-${index % 50}`, tier: `tier-${index % 3}` },
  }));
  const pick = (list) => list[Math.floor(next() * list.length)];
  const decisions = ['allow', 'deny', 'require_approval'];
  const raw = [];
  for (let index = 0; index < RULES; index += 1) {
    const kind = next();
    const match = {};
    if (kind < 0.5) {
      match.actions = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(actions).name);
      match.targets = { environments: [pick(environments), pick(environments)] };
    } else if (kind < 0.7) {
      match.actions = [`svc-${Math.floor(next() * 100)}-*`];
      match.targets = {
        environments: [pick(environments)],
        labels: { tier: `tier-${Math.floor(next() * 3)}` },
      };
    } else if (kind < 0.75) {
      match.actions = ['*'];
      match.targets = { environments: [pick(environments)] };
      match.callers = { roles: [pick(roles), pick(roles)] };
    } else {
      match.actions = [pick(actions).name, pick(actions).name];
      match.targets = { labels: { team: `team-${Math.floor(next() * 50)}` } };
      match.callers = { roles: [pick(roles)] };
    }
    if (next() < 0.1) match.risk_classes = [pick(risks), pick(risks)];
    raw.push({
      name: `rule-${index}`,
      priority: Math.floor(next() * 1000),
      match,
      decision: pick(decisions),
    });
  }
  const built = process.hrtime.bigint();
  const actionLookup = ActionRegistry.fromDefinitions(actions);
  const targetLookup = Inventory.fromTargets(targets);
  const rules = toRules(raw);
  const pdp = new PolicyDecisionPoint({
    actions: actionLookup,
    targets: targetLookup,
    policies: { rules, revision: policyRevision(rules), files: [] },
  });
  const setupMs = Number(process.hrtime.bigint() - built) / 1e6;
  const requests = requestsFor(actions, targets, 20_000, 7, roles);
  return { pdp, requests, setupMs };
}

// The large run gets its own process, so its RSS does not include part (a) or Cedar's WebAssembly memory.
if (process.argv[2] === '--large') {
  runLarge();
} else {
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  await runSeedSized();
  execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--large'], {
    stdio: 'inherit',
  });
}
