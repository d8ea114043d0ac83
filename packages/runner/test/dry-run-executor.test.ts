import { describe, expect, test } from '@jest/globals';
import {
  DryRunExecutor,
  MAX_LOG_BYTES,
  PLANNED_KUBERNETES_ACTIONS,
  Runner,
  kubernetesApiCalls,
  labelSelector,
} from '../src/index.js';
import { MemorySink, catalogue, newClock, tickets } from './helpers.js';

const registry = catalogue();
const NOW = new Date(Date.UTC(2026, 0, 1, 12));

/** Valid params for every planned catalogue action (validated against the catalogue below). */
const SAMPLE_PARAMS: Record<string, Record<string, unknown>> = {
  'apply-network-policy': { namespace: 'prod', policy_name: 'deny-all', pod_selector: 'app=web' },
  'cordon-node': { node: 'node-1' },
  'create-namespace': { namespace: 'team-a' },
  'delete-namespace': { namespace: 'team-a' },
  'delete-pod': { namespace: 'prod', pod: 'web-1' },
  'drain-node': { node: 'node-1' },
  'get-configmap': { namespace: 'prod', configmap: 'settings' },
  'get-pod-logs': { namespace: 'prod', pod: 'web-1' },
  'get-secret': { namespace: 'prod', secret: 'db' },
  'restart-deployment': { namespace: 'prod', deployment: 'web' },
  'rollout-status': { namespace: 'prod', deployment: 'web' },
  'rollout-undo': { namespace: 'prod', deployment: 'web' },
  'scale-deployment': { namespace: 'prod', deployment: 'web', replicas: 3 },
  'scale-hpa': { namespace: 'prod', hpa: 'web', min_replicas: 2, max_replicas: 6 },
  'uncordon-node': { node: 'node-1' },
  'update-configmap': { namespace: 'prod', configmap: 'settings', key: 'mode', value: 'safe' },
  'update-hpa-limits': { namespace: 'prod', hpa: 'web', target_cpu_percent: 70 },
  'update-image': { namespace: 'prod', deployment: 'web', container: 'app', image: 'nginx:1.27' },
};

describe('DryRunExecutor', () => {
  test.each(PLANNED_KUBERNETES_ACTIONS.map((action) => [action]))('plans %s', (action) => {
    const checked = registry.validateParams(action, SAMPLE_PARAMS[action]);
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const calls = kubernetesApiCalls(action, checked.params, { now: () => NOW });
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']).toContain(call.method);
      expect(call.path.startsWith('/api')).toBe(true);
    }
  });

  test('restart-deployment is the restart annotation patched onto the pod template', () => {
    expect(
      kubernetesApiCalls('restart-deployment', SAMPLE_PARAMS['restart-deployment']!, { now: () => NOW }),
    ).toEqual([
      {
        method: 'PATCH',
        path: '/apis/apps/v1/namespaces/prod/deployments/web',
        contentType: 'application/strategic-merge-patch+json',
        body: {
          spec: {
            template: {
              metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': NOW.toISOString() } },
            },
          },
        },
        description: 'stamp the restart annotation on the pod template',
      },
    ]);
  });

  test('scale-deployment patches the scale subresource; cordon sets unschedulable', () => {
    expect(kubernetesApiCalls('scale-deployment', SAMPLE_PARAMS['scale-deployment']!)[0]).toMatchObject({
      method: 'PATCH',
      path: '/apis/apps/v1/namespaces/prod/deployments/web/scale',
      body: { spec: { replicas: 3 } },
    });
    expect(kubernetesApiCalls('cordon-node', { node: 'node-1' })[0]).toMatchObject({
      path: '/api/v1/nodes/node-1',
      body: { spec: { unschedulable: true } },
    });
    expect(kubernetesApiCalls('uncordon-node', { node: 'node-1' })[0]).toMatchObject({
      body: { spec: { unschedulable: false } },
    });
  });

  test('a path value stays one segment even if it were not validated', () => {
    const [call] = kubernetesApiCalls('delete-namespace', { namespace: '../../nodes/x' });
    expect(call?.path).toBe('/api/v1/namespaces/..%2F..%2Fnodes%2Fx');
  });

  test('exec-pod and port-forward have no plan', () => {
    expect(() => kubernetesApiCalls('exec-pod', {})).toThrow(/stream/);
    expect(() => kubernetesApiCalls('port-forward', {})).toThrow(/stream/);
  });

  test('through the runner: prechecks pass as "dry run", no state, the calls come back as output', async () => {
    const clock = newClock();
    const { validator, issue } = tickets(clock);
    const sink = new MemorySink();
    const runner = new Runner({ actions: registry, validator, auditSink: sink, clock });
    const params = SAMPLE_PARAMS['scale-deployment']!;
    const result = await runner.execute(await issue('scale-deployment', params), {
      params,
      executor: new DryRunExecutor({ now: () => NOW }),
    });
    expect(result.status).toBe('succeeded');
    expect(result.executor).toBe('dry-run');
    expect(
      result.steps.filter((step) => step.name.startsWith('precheck:')).map((step) => step.detail),
    ).toEqual(['dry run', 'dry run', 'dry run']);
    expect(result.beforeState).toEqual({});
    expect(result.diff).toEqual({});
    expect(result.output).toEqual({
      dryRun: true,
      calls: kubernetesApiCalls('scale-deployment', params, { now: () => NOW }),
    });
  });
});

describe('plans the Kubernetes executor makes exactly', () => {
  test('apply-network-policy sends a LabelSelector object and a policyTypes list (the API refuses strings)', () => {
    const [call] = kubernetesApiCalls('apply-network-policy', {
      namespace: 'prod',
      policy_name: 'web',
      pod_selector: 'app=web,tier in (a, b),env!=dev,!canary,team',
      policy_types: 'Ingress,Egress',
    });
    expect(call?.body).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web', namespace: 'prod' },
      spec: {
        podSelector: {
          matchLabels: { app: 'web' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'env', operator: 'NotIn', values: ['dev'] },
            { key: 'canary', operator: 'DoesNotExist' },
            { key: 'team', operator: 'Exists' },
          ],
        },
        policyTypes: ['Ingress', 'Egress'],
      },
    });
    expect(labelSelector('app == web')).toEqual({ matchLabels: { app: 'web' } });
    expect(() => labelSelector('app=web,(x')).toThrow(/unbalanced/);
    expect(() => labelSelector('app=we b')).toThrow(/cannot read "app=we b"/);
    expect(() => labelSelector('')).toThrow(/non-empty/);
  });

  test('rollout-undo reads the deployment, lists ReplicaSets and replaces the template with a JSON patch', () => {
    const calls = kubernetesApiCalls('rollout-undo', { namespace: 'prod', deployment: 'web' });
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'GET /apis/apps/v1/namespaces/prod/deployments/web',
      'GET /apis/apps/v1/namespaces/prod/replicasets',
      'PATCH /apis/apps/v1/namespaces/prod/deployments/web',
    ]);
    expect(calls[2]?.contentType).toBe('application/json-patch+json');
    expect(calls[2]?.body).toMatchObject([{ op: 'replace', path: '/spec/template' }]);
  });

  test('update-image reads the deployment before patching; get-pod-logs is bounded by limitBytes', () => {
    const calls = kubernetesApiCalls('update-image', {
      namespace: 'prod',
      deployment: 'web',
      container: 'app',
      image: 'nginx:1.27',
    });
    expect(calls.map((call) => call.method)).toEqual(['GET', 'PATCH']);
    expect(kubernetesApiCalls('get-pod-logs', { namespace: 'prod', pod: 'web-1' })[0]?.query).toEqual({
      tailLines: '100',
      limitBytes: String(MAX_LOG_BYTES),
    });
  });
});
