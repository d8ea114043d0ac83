// End to end on a real kube-apiserver + etcd + controller manager (started privately for this file;
// `scripts/services.sh install k8s` builds the binaries once per machine; never skipped): for every
// catalogue Kubernetes action, check → ticket → runner (Kubernetes executor) → the object really changed
// (read back through the API) → the audit log holds the decision, the execution and the state capture →
// the rollback, decided by the PDP, restores the before-state.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { AgentSafe, type Decision, type ExecutionResult } from '../src/index.js';

const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
const SECRET = 'e2e-ticket-secret-with-at-least-32-bytes!!';
const NS = 'shop';
const NODE = 'e2e-node-1';
const SECRET_VALUE = 's3cr3t-e2e-value-never-in-the-audit-log';

/** kubectl's JSON, read loosely by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: the API objects are only read by assertions
type Json = any;

let cluster: K8sCluster;
let dir: string;
let safe: AgentSafe;
let auditPath: string;

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function getJson(args: readonly string[]): Promise<Json> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as Json;
}

async function apply(manifest: unknown): Promise<void> {
  await kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
}

/** Waits for `probe` to return true (the controller manager works asynchronously). */
async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Marks pods ready until the Deployment's rollout is complete (as kubelets would). */
async function settleRollout(name: string): Promise<void> {
  await until(
    async () => {
      await makePodsReady(NS, `app=${name}`);
      const { metadata, spec, status } = await getJson(['deployment', name, '-n', NS]);
      return (
        status.observedGeneration === metadata.generation &&
        status.updatedReplicas === spec.replicas &&
        status.replicas === spec.replicas &&
        status.availableReplicas === spec.replicas
      );
    },
    `the rollout of ${name}`,
    60_000,
  );
}

/** Marks every pod of the namespace Running and Ready, as a kubelet would. */
async function makePodsReady(namespace: string, selector: string): Promise<void> {
  const pods = await getJson(['pods', '-n', namespace, '-l', selector]);
  const now = new Date().toISOString();
  for (const pod of pods.items as Json[]) {
    // A pod the ReplicaSet controller deleted meanwhile is simply gone.
    await cluster.kubectl([
      'patch',
      'pod',
      pod.metadata.name,
      '-n',
      namespace,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          phase: 'Running',
          conditions: [
            { type: 'Ready', status: 'True', lastTransitionTime: now },
            { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
            { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: 'app',
              ready: true,
              restartCount: 0,
              image: pod.spec.containers[0].image,
              imageID: '',
              state: { running: { startedAt: now } },
            },
          ],
        },
      }),
    ]);
  }
}

function deployment(name: string, replicas: number, image: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image }] },
      },
    },
  };
}

function writeProject(): string {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-e2e-'));
  const id = (kind: string, name: string) => `e2e/${kind}-${name}`;
  const targets = [
    { id: id('deploy', 'web'), type: 'k8s-deployment', identifiers: { namespace: NS, name: 'web' } },
    { id: id('deploy', 'api'), type: 'k8s-deployment', identifiers: { namespace: NS, name: 'api' } },
    { id: id('node', NODE), type: 'k8s-node', identifiers: { name: NODE } },
    { id: id('ns', NS), type: 'k8s-namespace', identifiers: { name: NS } },
    { id: id('ns', 'scratch'), type: 'k8s-namespace', identifiers: { name: 'scratch' } },
    { id: id('ns', 'doomed'), type: 'k8s-namespace', identifiers: { name: 'doomed' } },
    { id: id('cm', 'settings'), type: 'k8s-configmap', identifiers: { namespace: NS, name: 'settings' } },
    { id: id('secret', 'db'), type: 'k8s-secret', identifiers: { namespace: NS, name: 'db' } },
    { id: id('hpa', 'web'), type: 'k8s-hpa', identifiers: { namespace: NS, name: 'web' } },
    { id: id('pod', 'lonely'), type: 'k8s-pod', identifiers: { namespace: NS, name: 'lonely' } },
  ].map((target) => ({ ...target, environment: 'dev', sensitivity: 'internal' }));
  writeFileSync(join(root, 'inventory.yaml'), JSON.stringify({ targets }));
  writeFileSync(
    join(root, 'policy.yaml'),
    'rules:\n  - { name: e2e-allow-all, priority: 100, match: { actions: ["*"] }, decision: allow, reason: e2e }\n',
  );
  mkdirSync(join(root, 'audit'));
  writeFileSync(
    join(root, 'agent-safe.yaml'),
    `registry: ${JSON.stringify(CATALOG)}\npolicies: ./policy.yaml\ninventory: ./inventory.yaml\naudit_log: ./audit/audit.jsonl\nenforce_target_binding: true\n`,
  );
  return root;
}

beforeAll(async () => {
  cluster = await startK8sCluster({ controllerManager: true });
  await kubectl(['create', 'namespace', NS]);
  await kubectl(['create', 'namespace', 'doomed']);
  await apply(deployment('web', 2, 'nginx:1.25'));
  await apply(deployment('api', 1, 'nginx:1.25'));
  await apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings', namespace: NS },
    data: { mode: 'blue', level: '1' },
  });
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: NS },
    stringData: { password: SECRET_VALUE },
  });
  await apply({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    },
  });
  await apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } },
    spec: {},
  });
  // A second, Ready node: the spare-capacity precheck of cordon/drain wants somewhere for pods to go.
  await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'e2e-node-2' }, spec: {} });
  for (const node of [NODE, 'e2e-node-2']) {
    await kubectl([
      'patch',
      'node',
      node,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'marked ready by the test',
              lastHeartbeatTime: new Date().toISOString(),
              lastTransitionTime: new Date().toISOString(),
            },
          ],
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          capacity: { cpu: '4', memory: '8Gi', pods: '110' },
        },
      }),
    ]);
    // The TaintNodesByCondition admission taints a new node not-ready; the node lifecycle controller
    // (off here: no kubelet heartbeats) would lift it once Ready.
    await kubectl(['taint', 'node', node, 'node.kubernetes.io/not-ready:NoSchedule-']);
  }
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'lonely', namespace: NS },
    spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
  });
  dir = writeProject();
  auditPath = join(dir, 'audit', 'audit.jsonl');
  safe = new AgentSafe({ cwd: dir, security: { signingKey: SECRET, allowPlainCallers: true } });
}, 200_000);

afterAll(async () => {
  await safe?.close();
  await cluster?.stop();
}, 60_000);

const CALLER = 'e2e-agent';

async function decide(action: string, target: string, params: Record<string, unknown>): Promise<Decision> {
  const decision = await safe.check({ action, target, caller: CALLER, params });
  expect({ result: decision.result, errors: decision.errors }).toEqual({ result: 'ALLOW', errors: [] });
  expect(decision.ticket?.token).toEqual(expect.any(String));
  return decision;
}

function executeOptions() {
  return { executor: 'kubernetes' as const, kubeconfig: cluster.kubeconfigPath, timeoutMs: 120_000 };
}

/** The run succeeded; on failure the assertion shows its error and steps. */
function expectSucceeded(result: ExecutionResult): void {
  expect({ status: result.status, error: result.error }).toEqual({ status: 'succeeded', error: undefined });
}

/** check → execute with the Kubernetes executor; returns the decision and the result. */
async function run(action: string, target: string, params: Record<string, unknown>) {
  const decision = await decide(action, target, params);
  const result = await safe.execute(decision, executeOptions());
  return { decision, result };
}

function auditEvents(): Json[] {
  return readFileSync(auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Json);
}

/** The decision, the execution and the state capture of a run are in the log, linked by the audit id. */
function expectAudited(decision: Decision, status: string, withCapture = true): void {
  const events = auditEvents();
  expect(events.some((event) => event.event_id === decision.auditId && event.decision === 'ALLOW')).toBe(
    true,
  );
  const execution = events.find(
    (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
  );
  expect(execution?.status).toBe(status);
  const capture = events.find(
    (event) => event.event_type === 'state_capture' && event.decision_audit_id === decision.auditId,
  );
  expect(capture !== undefined).toBe(withCapture);
}

/** The rollback plan of `decision`, decided (ALLOW, correlated) and executed. */
async function rollback(decision: Decision) {
  const outcome = await safe.executeRollback(decision.auditId, { ...executeOptions(), caller: CALLER });
  expect(outcome.decision.result).toBe('ALLOW');
  expect(outcome.decision.correlationId).toBe(decision.auditId);
  expect(outcome.result?.status).toBe('succeeded');
  return outcome;
}

describe('Kubernetes enforcement end to end (real API server)', () => {
  it('scale-deployment: scales, captures replicas, and the rollback restores them', async () => {
    const { decision, result } = await run('scale-deployment', 'e2e/deploy-web', {
      namespace: NS,
      deployment: 'web',
      replicas: 4,
    });
    expectSucceeded(result);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.replicas).toBe(4);
    expect(result.beforeState?.replicas).toBe(2);
    expect(result.diff?.replicas).toEqual({ before: 2, after: 4 });
    expectAudited(decision, 'succeeded');
    const plan = await safe.generateRollback(decision.auditId);
    expect(plan).toEqual({
      ok: true,
      plan: expect.objectContaining({
        action: 'scale-deployment',
        params: { namespace: NS, deployment: 'web', replicas: 2 },
      }),
    });
    await rollback(decision);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.replicas).toBe(2);
  });

  it('update-image, rollout-status and rollout-undo: the image changes, the rollout completes, undo restores it', async () => {
    const image = (await getJson(['deployment', 'web', '-n', NS])).spec.template.spec.containers[0].image;
    expect(image).toBe('nginx:1.25');
    const { decision, result } = await run('update-image', 'e2e/deploy-web', {
      namespace: NS,
      deployment: 'web',
      container: 'app',
      image: 'nginx:1.27',
    });
    expectSucceeded(result);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.template.spec.containers[0].image).toBe(
      'nginx:1.27',
    );
    expectAudited(decision, 'succeeded');

    // The controller manager makes the new ReplicaSet's pods; mark them ready, as a kubelet would.
    await until(async () => {
      const pods = await getJson(['pods', '-n', NS, '-l', 'app=web']);
      return (pods.items as Json[]).some((pod) => pod.spec.containers[0].image === 'nginx:1.27');
    }, 'the new ReplicaSet to create pods');
    const status = await (async () => {
      const pending = run('rollout-status', 'e2e/deploy-web', {
        namespace: NS,
        deployment: 'web',
        timeout_seconds: 60,
      });
      // Keep marking pods ready while the rollout proceeds (old ones go, new ones come).
      const marking = (async () => {
        for (let i = 0; i < 40; i += 1) {
          await makePodsReady(NS, 'app=web');
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      })();
      const outcome = await pending;
      await marking.catch(() => undefined);
      return outcome;
    })();
    expectSucceeded(status.result);

    // rollout-undo to the previous revision restores the old image, via the ReplicaSet's template.
    const undo = await run('rollout-undo', 'e2e/deploy-web', { namespace: NS, deployment: 'web' });
    expectSucceeded(undo.result);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.template.spec.containers[0].image).toBe(
      'nginx:1.25',
    );
    expectAudited(undo.decision, 'succeeded');

    // Rolling back the undo goes to the revision captured before it.
    await rollback(undo.decision);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.template.spec.containers[0].image).toBe(
      'nginx:1.27',
    );
    // And the update-image rollback sets the image captured before the update.
    await rollback(decision);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.template.spec.containers[0].image).toBe(
      'nginx:1.25',
    );
  }, 180_000);

  it('restart-deployment stamps the restart annotation; it has no rollback', async () => {
    await settleRollout('web'); // no-rollout-in-progress would refuse while the previous one runs
    const { decision, result } = await run('restart-deployment', 'e2e/deploy-web', {
      namespace: NS,
      deployment: 'web',
    });
    expectSucceeded(result);
    const annotations = (await getJson(['deployment', 'web', '-n', NS])).spec.template.metadata.annotations;
    expect(Date.parse(annotations['kubectl.kubernetes.io/restartedAt'])).toBeGreaterThan(
      Date.now() - 120_000,
    );
    expectAudited(decision, 'succeeded');
    const plan = await safe.generateRollback(decision.auditId);
    expect(plan.ok).toBe(false);
  });

  it('update-configmap changes the key and the rollback restores the previous value; get-configmap reads it', async () => {
    const { decision, result } = await run('update-configmap', 'e2e/cm-settings', {
      namespace: NS,
      configmap: 'settings',
      key: 'mode',
      value: 'green',
    });
    expectSucceeded(result);
    expect((await getJson(['configmap', 'settings', '-n', NS])).data.mode).toBe('green');
    expect(result.beforeState?.previous_value).toBe('blue');
    expectAudited(decision, 'succeeded');
    const read = await run('get-configmap', 'e2e/cm-settings', { namespace: NS, configmap: 'settings' });
    expectSucceeded(read.result);
    expect(JSON.stringify(read.result.output)).toContain('green');
    // previous_value is a sensitive state field: the log holds the mask, never the old value ...
    const capture = auditEvents().find(
      (event) => event.event_type === 'state_capture' && event.decision_audit_id === decision.auditId,
    );
    expect(capture.before_state.previous_value).toBe('***');
    expect(capture.after_state.previous_value).toBe('***');
    expect(JSON.stringify(capture)).not.toContain('blue');
    // ... so the plan from the log is refused, and the rollback comes from the in-memory result.
    const fromLog = await safe.generateRollback(decision.auditId);
    expect(fromLog).toEqual({
      ok: false,
      reason: expect.stringContaining('before_state.previous_value is sensitive and was masked'),
    });
    const plan = await safe.generateRollback(result);
    if (!plan.ok) throw new Error(plan.reason);
    expect(plan.plan.params).toEqual({ namespace: NS, configmap: 'settings', key: 'mode', value: 'blue' });
    const undo = await safe.check({ ...plan.plan, params: { ...plan.plan.params }, caller: CALLER });
    expect(undo).toMatchObject({ result: 'ALLOW', correlationId: decision.auditId });
    expectSucceeded(await safe.execute(undo, executeOptions()));
    expect((await getJson(['configmap', 'settings', '-n', NS])).data.mode).toBe('blue');
  });

  it('get-secret returns the value to the caller and never writes it to the audit log', async () => {
    const { decision, result } = await run('get-secret', 'e2e/secret-db', {
      namespace: NS,
      secret: 'db',
      key: 'password',
    });
    expectSucceeded(result);
    expect(JSON.stringify(result.output)).toContain(SECRET_VALUE);
    expectAudited(decision, 'succeeded');
    const log = readFileSync(auditPath, 'utf8');
    expect(log).not.toContain(SECRET_VALUE);
    expect(log).not.toContain(Buffer.from(SECRET_VALUE).toString('base64'));
  });

  it('scale-hpa and update-hpa-limits change the autoscaler and their rollbacks restore it', async () => {
    const scaled = await run('scale-hpa', 'e2e/hpa-web', {
      namespace: NS,
      hpa: 'web',
      min_replicas: 2,
      max_replicas: 8,
    });
    expectSucceeded(scaled.result);
    let hpa = await getJson(['hpa', 'web', '-n', NS]);
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([2, 8]);
    expectAudited(scaled.decision, 'succeeded');

    const limits = await run('update-hpa-limits', 'e2e/hpa-web', {
      namespace: NS,
      hpa: 'web',
      target_cpu_percent: 55,
    });
    expectSucceeded(limits.result);
    hpa = await getJson(['hpa', 'web', '-n', NS]);
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(55);
    expectAudited(limits.decision, 'succeeded');

    await rollback(limits.decision);
    hpa = await getJson(['hpa', 'web', '-n', NS]);
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(70);
    await rollback(scaled.decision);
    hpa = await getJson(['hpa', 'web', '-n', NS]);
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([1, 5]);
  });

  it('apply-network-policy creates the policy by server-side apply', async () => {
    const { decision, result } = await run('apply-network-policy', 'e2e/ns-shop', {
      namespace: NS,
      policy_name: 'deny-ingress',
      pod_selector: 'app=web',
      policy_types: 'Ingress',
      ingress: [],
    });
    expectSucceeded(result);
    const policy = await getJson(['networkpolicy', 'deny-ingress', '-n', NS, '--show-managed-fields']);
    expect(policy.spec.podSelector).toEqual({ matchLabels: { app: 'web' } });
    expect((policy.metadata.managedFields as Json[]).some((field) => field.manager === 'agent-safe')).toBe(
      true,
    );
    expectAudited(decision, 'succeeded');
  });

  it('cordon-node, uncordon-node and drain-node act on the node; rollbacks restore schedulability', async () => {
    const cordon = await run('cordon-node', `e2e/node-${NODE}`, { node: NODE });
    expectSucceeded(cordon.result);
    expect((await getJson(['node', NODE])).spec.unschedulable).toBe(true);
    expectAudited(cordon.decision, 'succeeded');
    await rollback(cordon.decision);
    expect((await getJson(['node', NODE])).spec.unschedulable ?? false).toBe(false);

    // Two pods of the `api` Deployment on the node (bound as the scheduler would), then drain.
    await until(async () => {
      const pods = await getJson(['pods', '-n', NS, '-l', 'app=api']);
      return (pods.items as Json[]).length >= 1;
    }, 'the api pods');
    const pods = await getJson(['pods', '-n', NS, '-l', 'app=api']);
    for (const pod of pods.items as Json[]) {
      await kubectl(
        ['create', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: NS },
          target: { apiVersion: 'v1', kind: 'Node', name: NODE },
        }),
      );
    }
    const drain = await run('drain-node', `e2e/node-${NODE}`, { node: NODE, timeout_seconds: 30 });
    expect({ status: drain.result.status, error: drain.result.error }).toEqual({
      status: 'succeeded',
      error: undefined,
    });
    expect((await getJson(['node', NODE])).spec.unschedulable).toBe(true);
    expect(drain.result.beforeState?.unschedulable).toBe(false);
    expectAudited(drain.decision, 'succeeded');
    // Evicted pods do not come back: drain is not reversible, so there is no rollback plan; uncordoning
    // is a request of its own.
    const plan = await safe.generateRollback(drain.decision.auditId);
    expect(plan.ok === false && plan.reason).toMatch(/not reversible/);
    const uncordon = await run('uncordon-node', `e2e/node-${NODE}`, { node: NODE });
    expectSucceeded(uncordon.result);
    expect((await getJson(['node', NODE])).spec.unschedulable ?? false).toBe(false);
  }, 120_000);

  it('delete-pod of a bare pod: has-owner refuses it; --force (allowed for that precheck) deletes it, audited', async () => {
    const params = { namespace: NS, pod: 'lonely', grace_period: 1 };
    const refused = await run('delete-pod', 'e2e/pod-lonely', params);
    expect(refused.result.status).toBe('refused');
    expect(refused.result.error?.code).toBe('PRECHECK_FAILED');
    expect(refused.result.error?.message).toMatch(/has-owner/);
    expect((await getJson(['pod', 'lonely', '-n', NS])).metadata.name).toBe('lonely');

    const decision = await decide('delete-pod', 'e2e/pod-lonely', params);
    const result = await safe.execute(decision, { ...executeOptions(), force: true });
    expectSucceeded(result);
    expect(result.forced).toBe(true);
    expect(result.steps.find((step) => step.name === 'precheck:has-owner')?.status).toBe('forced');
    const gone = await cluster.kubectl(['get', 'pod', 'lonely', '-n', NS]);
    expect(gone.stderr).toMatch(/NotFound/);
    expectAudited(decision, 'succeeded');
    const execution = auditEvents().find(
      (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
    );
    expect(execution?.forced).toBe(true);
    expect((await safe.generateRollback(decision.auditId)).ok).toBe(false);
  });

  it('create-namespace creates it and the rollback (delete-namespace) deletes it; delete-namespace deletes', async () => {
    const created = await run('create-namespace', 'e2e/ns-scratch', { namespace: 'scratch' });
    expectSucceeded(created.result);
    expect((await getJson(['namespace', 'scratch'])).status.phase).toBe('Active');
    expectAudited(created.decision, 'succeeded');
    await rollback(created.decision);
    const after = await cluster.kubectl(['get', 'namespace', 'scratch', '-o', 'json']);
    expect(after.code !== 0 || JSON.parse(after.stdout).status.phase === 'Terminating').toBe(true);

    const deleted = await run('delete-namespace', 'e2e/ns-doomed', { namespace: 'doomed' });
    expectSucceeded(deleted.result);
    const doomed = await cluster.kubectl(['get', 'namespace', 'doomed', '-o', 'json']);
    expect(doomed.code !== 0 || JSON.parse(doomed.stdout).status.phase === 'Terminating').toBe(true);
  });

  it('exec-pod and port-forward are refused with the reason, audited, and nothing runs', async () => {
    await kubectl(['delete', 'pod', 'lonely', '-n', NS, '--ignore-not-found', '--grace-period=0', '--force']);
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'lonely', namespace: NS },
      spec: { containers: [{ name: 'app', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] },
    });
    await makePodsReady(NS, '!app');
    for (const [action, params] of [
      ['exec-pod', { namespace: NS, pod: 'lonely', command: ['cat', '/etc/hostname'] }],
      ['port-forward', { namespace: NS, pod: 'lonely', local_port: 18080, remote_port: 80 }],
    ] as const) {
      const { decision, result } = await run(action, 'e2e/pod-lonely', params);
      expect(result.status).not.toBe('succeeded');
      // exec-pod stops at its command allow-list (none configured: nothing may run); port-forward passes
      // its prechecks and the executor explains that it opens no stream.
      expect(result.error?.message).toMatch(
        action === 'exec-pod' ? /command-allowed failed: no allow-list/ : /does not do.*kubectl port-forward/,
      );
      expect(result.steps.some((step) => step.name === 'execute' && step.status === 'ok')).toBe(false);
      const execution = auditEvents().find(
        (event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId,
      );
      expect(execution?.status).toBe(result.status);
    }
  });

  it('get-pod-logs reads the log through the API (empty: no kubelet runs the pod)', async () => {
    const { decision, result } = await run('get-pod-logs', 'e2e/pod-lonely', {
      namespace: NS,
      pod: 'lonely',
    });
    expectSucceeded(result);
    expect(result.output).toEqual({ logs: '', truncated: false });
    expectAudited(decision, 'succeeded');
  });

  it('a replayed ticket, a ticket with other params and an expired ticket are refused before any side effect', async () => {
    const params = { namespace: NS, deployment: 'web', replicas: 3 };
    const decision = await decide('scale-deployment', 'e2e/deploy-web', params);
    const token = decision.ticket?.token as string;
    const other = await safe.execute(token, { ...executeOptions(), params: { ...params, replicas: 9 } });
    expect(other.status).toBe('refused');
    expect(other.error?.code).toMatch(/^TICKET_/);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.replicas).toBe(2);
    const first = await safe.execute(token, { ...executeOptions(), params });
    expectSucceeded(first);
    const replay = await safe.execute(token, { ...executeOptions(), params });
    expect(replay.status).toBe('refused');
    expect(replay.error?.code).toBe('TICKET_REPLAYED');
    await rollback(decision);
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.replicas).toBe(2);
  });

  it('an expired ticket is refused, and a failed precheck stops the run before it acts', async () => {
    const params = { namespace: NS, deployment: 'web', replicas: 5 };
    const decision = await decide('scale-deployment', 'e2e/deploy-web', params);
    // The same project, an hour later: the ticket (minutes long) has expired.
    const later = new AgentSafe({
      cwd: dir,
      clock: { now: () => Date.now() + 3_600_000 },
      security: { signingKey: SECRET, allowPlainCallers: true },
    });
    try {
      const expired = await later.execute(decision, executeOptions());
      expect(expired.status).toBe('refused');
      expect(expired.error?.code).toBe('TICKET_EXPIRED');
    } finally {
      await later.close();
    }
    expect((await getJson(['deployment', 'web', '-n', NS])).spec.replicas).toBe(2);

    // create-namespace of a namespace that exists: namespace-absent fails, nothing is created or changed.
    const exists = await run('create-namespace', 'e2e/ns-shop', { namespace: NS });
    expect(exists.result.status).toBe('refused');
    expect(exists.result.error?.code).toBe('PRECHECK_FAILED');
    expect(exists.result.steps.map((step) => step.name)).not.toContain('execute');
    expectAudited(exists.decision, 'refused', false);
  });
});
