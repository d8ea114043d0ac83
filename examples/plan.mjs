// A multi-step plan: one decision per step, all recorded under one correlation id, so the audit log
// shows them as one piece of work. Run against a project `agent-safe init` scaffolded:
//   agent-safe init /tmp/demo && node examples/plan.mjs /tmp/demo
// Exits 1 when a decision is not the one shown here.
import { join, resolve } from 'node:path';
import { AgentSafe } from '@agent-safe/sdk';

const project = resolve(process.argv[2] ?? '.');
const safe = new AgentSafe({
  registry: join(project, 'actions'),
  policies: join(project, 'policies'),
  inventory: join(project, 'inventory.yaml'),
  auditLog: join(project, 'audit.jsonl'),
});

const caller = 'deploy-agent';
const correlationId = 'release-42'; // left out, checkPlan makes one up for the plan
const steps = [
  // read-only in staging: allow-reads-in-staging
  {
    action: 'rollout-status',
    target: 'staging/api-server',
    params: { namespace: 'staging', deployment: 'api-server' },
  },
  // anything in dev: allow-dev
  {
    action: 'scale-deployment',
    target: 'dev/test-app',
    params: { namespace: 'dev', deployment: 'app', replicas: 2 },
  },
  // production: approve-critical-risk
  {
    action: 'restart-deployment',
    target: 'prod/api-server',
    params: { namespace: 'prod', deployment: 'api-server' },
  },
].map((step) => ({ ...step, caller, correlationId }));
const expected = ['ALLOW', 'ALLOW', 'REQUIRE_APPROVAL'];

const decisions = await safe.checkPlan(steps);
decisions.forEach((decision, index) => {
  console.log(
    `step ${index + 1}: ${decision.result.padEnd(16)} ${steps[index].action} on ${steps[index].target}`,
  );
});
await safe.close();

// The plan can go ahead only when every step is ALLOW; here the production step waits for a person.
const results = decisions.map((decision) => decision.result);
console.log(
  results.every((result) => result === 'ALLOW') ? 'plan allowed' : 'plan needs approval or was denied',
);
process.exitCode = JSON.stringify(results) === JSON.stringify(expected) ? 0 : 1;
