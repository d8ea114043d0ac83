// The KubernetesExecutor behind the real Runner: real tickets (@agent-safe/tickets), a real AuditLog in a
// temp dir, the shipped catalogue, a real kube-apiserver. The audit must hold the execution and the
// state capture with its diff, and generateRollback on those events must give a plan that restores it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog, readAuditLog } from '@agent-safe/audit';
import type { ActionRegistry } from '@agent-safe/registry';
import { generateRollback, Runner } from '@agent-safe/runner';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import type { AppsV1Api, CoreV1Api, PolicyV1Api } from '@kubernetes/client-node';
import {
  KubernetesExecutor,
  type KubernetesClientModule,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from '../src/index.js';
import { catalogue } from './executor-helpers.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';

const SECRET = 'executor-k8s runner test secret, 32+ bytes';
let cluster: K8sCluster;
let k8s: KubernetesClientModule;
let core: CoreV1Api;
let apps: AppsV1Api;
let policy: PolicyV1Api;
let actions: ActionRegistry;
let directory: string;
let auditPath: string;
let audit: AuditLog;
let runner: Runner;
let executor: KubernetesExecutor;
const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
const ns = 'prod';
let decisions = 0;

const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** A ticket as the PDP issues it for an ALLOW decision: on the validated params (defaults applied). */
async function ticket(action: string, target: string, params: Record<string, unknown>) {
  const checked = actions.validateParams(action, params);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  decisions += 1;
  const issued = await issuer.issue({
    action,
    target,
    caller: 'agent-1',
    params: checked.params,
    auditId: `evt_decision_${decisions}`,
    policyRevision: 'test',
  });
  return { token: issued.token, params: checked.params };
}

/** The events of one run: its execution and state_capture, found by the execution's audit id. */
async function runEvents(executionId: string | undefined) {
  const events = await readAuditLog(auditPath);
  const execution = events.find((event) => event.event_id === executionId);
  const capture = events.find(
    (event) => event.event_type === 'state_capture' && event.execution_id === executionId,
  );
  return { events, execution, capture };
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  k8s = await loadKubernetesClient();
  const admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
  core = admin.makeApiClient(k8s.CoreV1Api);
  apps = admin.makeApiClient(k8s.AppsV1Api);
  policy = admin.makeApiClient(k8s.PolicyV1Api);
  actions = await catalogue();
  directory = await mkdtemp(join(tmpdir(), 'agent-safe-executor-k8s-'));
  auditPath = join(directory, 'audit.jsonl');
  audit = await AuditLog.open(auditPath);
  runner = new Runner({
    actions,
    validator: new TicketValidator({ algorithm: 'HS256', key: SECRET }),
    auditSink: audit,
  });
  executor = new KubernetesExecutor({ kubeconfig: cluster.kubeconfigPath, pollIntervalMs: 200 });
  await core.createNamespace({ body: { metadata: { name: ns } } });
}, 150_000);

afterAll(async () => {
  await audit?.close();
  await cluster?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe('Runner + KubernetesExecutor', () => {
  it('scale-deployment: executed, audited with its state diff, and rolled back from the captured state', async () => {
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
        },
      },
    });
    const { token, params } = await ticket('scale-deployment', 'prod/web', {
      namespace: ns,
      deployment: 'web',
      replicas: 5,
    });
    const result = await runner.execute(token, { params, executor });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({
      status: 'succeeded',
      executor: 'kubernetes',
      beforeState: { replicas: 2 },
      afterState: { replicas: 5 },
      diff: { replicas: { before: 2, after: 5 } },
    });
    expect(result.steps.map((step) => `${step.name}:${step.status}`)).toEqual([
      'ticket:ok',
      'credentials:skipped',
      'precheck:deployment-exists:ok',
      'precheck:hpa-not-managing:ok',
      'precheck:quota-allows:ok',
      'before_state:ok',
      'execute:ok',
      'after_state:ok',
    ]);
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(5);

    const { events, execution, capture } = await runEvents(result.auditIds.execution);
    expect(execution).toMatchObject({ event_type: 'execution', status: 'succeeded', executor: 'kubernetes' });
    expect(capture).toMatchObject({
      action: 'scale-deployment',
      before_state: { replicas: 2 },
      after_state: { replicas: 5 },
      diff: { replicas: { before: 2, after: 5 } },
      decision_audit_id: result.auditIds.decision,
    });

    // A replayed ticket is refused and changes nothing.
    const replay = await runner.execute(token, { params, executor });
    expect(replay).toMatchObject({ status: 'refused', error: { code: 'TICKET_REPLAYED' } });

    const rollback = generateRollback(
      events.filter((event) => event.event_id === capture?.event_id),
      actions,
    );
    expect(rollback).toEqual({
      ok: true,
      plan: {
        action: 'scale-deployment',
        target: 'prod/web',
        params: { namespace: ns, deployment: 'web', replicas: 2 },
        correlationId: result.auditIds.decision,
      },
    });
    if (!rollback.ok) return;
    const undo = await ticket(rollback.plan.action, rollback.plan.target, { ...rollback.plan.params });
    const restored = await runner.execute(undo.token, { params: undo.params, executor });
    expect(restored).toMatchObject({ status: 'succeeded', diff: { replicas: { before: 5, after: 2 } } });
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(2);
  }, 60_000);

  it('drain-node: blocked by a PodDisruptionBudget → refused by its precheck, nothing cordoned; allowed → drained, audited; its partial undo (uncordon) restores unschedulable', async () => {
    // Ready nodes with room (no kubelet reports it: the test does), so spare-capacity and node-healthy
    // pass. Node creation adds the not-ready taint; the node lifecycle controller would lift it once Ready.
    for (const name of ['spare', 'worker']) {
      await core.createNode({ body: { metadata: { name } } });
      await core.patchNodeStatus(
        {
          name,
          body: {
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'KubeletReady',
                  lastHeartbeatTime: new Date().toISOString(),
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
              capacity: { pods: '110', cpu: '4', memory: '8Gi' },
              allocatable: { pods: '110', cpu: '4', memory: '8Gi' },
            },
          },
        },
        mergePatch(),
      );
      await core.patchNode({ name, body: { spec: { taints: null } } }, mergePatch());
    }
    const labels = { app: 'api' };
    for (const name of ['api-1', 'api-2']) {
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: {
            name,
            labels,
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'ReplicaSet',
                name: 'api-rs',
                uid: '00000000-0000-0000-0000-0000000000aa',
                controller: true,
              },
            ],
          },
          spec: { nodeName: 'worker', containers: [{ name: 'api', image: 'nginx:1.27' }] },
        },
      });
      await core.patchNamespacedPodStatus(
        {
          name,
          namespace: ns,
          body: {
            status: {
              phase: 'Running',
              conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
            },
          },
        },
        mergePatch(),
      );
    }
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'api' }, spec: { minAvailable: 2, selector: { matchLabels: labels } } },
    });
    const budget = (disruptionsAllowed: number) =>
      policy.patchNamespacedPodDisruptionBudgetStatus(
        {
          name: 'api',
          namespace: ns,
          body: {
            status: {
              observedGeneration: 1,
              disruptionsAllowed,
              currentHealthy: 2,
              desiredHealthy: 2 - disruptionsAllowed,
              expectedPods: 2,
            },
          },
        },
        mergePatch(),
      );
    await budget(0);

    const blocked = await ticket('drain-node', 'worker', { node: 'worker', timeout_seconds: 30 });
    const refused = await runner.execute(blocked.token, { params: blocked.params, executor });
    expect(refused).toMatchObject({ status: 'refused', error: { code: 'PRECHECK_FAILED' } });
    expect(refused.error?.message).toMatch(
      /precheck disruption-budgets failed: .*budget prod\/api allows 0 disruptions/,
    );
    expect((await core.readNode({ name: 'worker' })).spec?.unschedulable).toBeFalsy();

    await budget(2);
    const allowed = await ticket('drain-node', 'worker', { node: 'worker', timeout_seconds: 30 });
    const result = await runner.execute(allowed.token, { params: allowed.params, executor });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({
      status: 'succeeded',
      output: { node: 'worker', evicted: ['prod/api-1', 'prod/api-2'], notEvicted: [] },
      beforeState: { unschedulable: false, pod_count: 2 },
      afterState: { unschedulable: true, pod_count: 0 },
    });
    const { events, execution, capture } = await runEvents(result.auditIds.execution);
    expect(execution).toMatchObject({ status: 'succeeded' });
    expect(capture).toMatchObject({
      action: 'drain-node',
      diff: { unschedulable: { before: false, after: true }, pod_count: { before: 2, after: 0 } },
    });

    // drain-node is marked not reversible (evicted pods do not come back): generateRollback names its
    // partial undo, uncordon-node, and leaves it to be requested explicitly; run that through the runner.
    const rollback = generateRollback(
      events.filter((event) => event.event_id === capture?.event_id),
      actions,
    );
    expect(rollback).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not reversible.*"uncordon-node"/),
    });
    const undo = await ticket('uncordon-node', 'worker', {
      node: String((capture?.params as { node?: unknown } | undefined)?.node),
    });
    const restored = await runner.execute(undo.token, { params: undo.params, executor });
    expect(restored.status).toBe('succeeded');
    expect(restored.diff).toEqual({ unschedulable: { before: true, after: false } });
    expect((await core.readNode({ name: 'worker' })).spec?.unschedulable).toBeFalsy();
  }, 90_000);
});
