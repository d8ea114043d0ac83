// KubernetesExecutor against a real kube-apiserver + etcd (RBAC on), no controller manager: every
// catalogue action is executed, then the object is read back through the API. Pods never run (no
// kubelet): the tests patch pod, Deployment and PDB status themselves, as the controllers would.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Credential } from '@agent-safe/core';
import { kubernetesApiCalls } from '@agent-safe/runner';
import type {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PolicyV1Api,
} from '@kubernetes/client-node';
import {
  KubernetesExecutor,
  type KubernetesClientModule,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from '../src/index.js';
import { context, rawRequestFor, requestFor, sleep, tokenConfig } from './executor-helpers.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';

let cluster: K8sCluster;
let k8s: KubernetesClientModule;
let admin: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let autoscaling: AutoscalingV2Api;
let policy: PolicyV1Api;
let networking: NetworkingV1Api;
let executor: KubernetesExecutor;
const ns = 'app';
const NOW = new Date(Date.UTC(2026, 11, 3, 12));

const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

async function createDeployment(name: string, replicas = 2): Promise<void> {
  const labels = { app: name };
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              { name: 'web', image: 'nginx:1.27' },
              { name: 'sidecar', image: 'busybox:1.36' },
            ],
          },
        },
      },
    },
  });
}

async function createPod(
  name: string,
  options: {
    node?: string;
    labels?: Record<string, string>;
    owner?: string;
    emptyDir?: boolean;
    ready?: boolean;
  } = {},
): Promise<void> {
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name,
        labels: options.labels ?? {},
        ...(options.owner
          ? {
              ownerReferences: [
                {
                  apiVersion: 'apps/v1',
                  kind: options.owner,
                  name: `${name}-owner`,
                  uid: '00000000-0000-0000-0000-000000000001',
                  controller: true,
                },
              ],
            }
          : {}),
      },
      spec: {
        ...(options.node ? { nodeName: options.node } : {}),
        containers: [{ name: 'app', image: 'nginx:1.27' }],
        ...(options.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
      },
    },
  });
  if (options.ready) {
    // What a kubelet would report for a running, ready pod.
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
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  k8s = await loadKubernetesClient();
  admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
  core = admin.makeApiClient(k8s.CoreV1Api);
  apps = admin.makeApiClient(k8s.AppsV1Api);
  autoscaling = admin.makeApiClient(k8s.AutoscalingV2Api);
  policy = admin.makeApiClient(k8s.PolicyV1Api);
  networking = admin.makeApiClient(k8s.NetworkingV1Api);
  executor = new KubernetesExecutor({
    kubeconfig: cluster.kubeconfigPath,
    now: () => NOW,
    pollIntervalMs: 200,
  });
  await core.createNamespace({ body: { metadata: { name: ns } } });
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('plan', () => {
  it('is exactly kubernetesApiCalls, and execute reports those calls', async () => {
    await createDeployment('planned');
    const request = await requestFor('scale-deployment', {
      namespace: ns,
      deployment: 'planned',
      replicas: 4,
    });
    expect(executor.plan(request)).toEqual(
      kubernetesApiCalls('scale-deployment', request.params, { now: () => NOW }),
    );
    const outcome = await executor.execute(request, context());
    expect(outcome).toEqual({ ok: true, calls: executor.plan(request), output: { replicas: 4 } });
  });
});

describe('Deployments', () => {
  beforeAll(async () => {
    await createDeployment('web');
  });

  it('scale-deployment: the replicas really change; readState before and after', async () => {
    const request = await requestFor('scale-deployment', { namespace: ns, deployment: 'web', replicas: 5 });
    const fields = ['replicas', 'ready_replicas', 'available_replicas'];
    expect(await executor.readState(request, fields, context())).toEqual({ replicas: 2 });
    const outcome = await executor.execute(request, context());
    expect(outcome.ok).toBe(true);
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(5);
    expect(await executor.readState(request, fields, context())).toEqual({ replicas: 5 });
  });

  it('restart-deployment stamps the restart annotation (a new generation)', async () => {
    const request = await requestFor('restart-deployment', { namespace: ns, deployment: 'web' });
    const fields = ['generation', 'observed_generation', 'available_replicas'];
    const before = await executor.readState(request, fields, context());
    const outcome = await executor.execute(request, context());
    expect(outcome).toMatchObject({ ok: true, output: { restartedAt: NOW.toISOString() } });
    const read = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    expect(read.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toBe(
      NOW.toISOString(),
    );
    const after = await executor.readState(request, fields, context());
    expect(after.generation).toBe((before.generation as number) + 1);
  });

  it('update-image changes only the named container; an unknown container changes nothing', async () => {
    const request = await requestFor('update-image', {
      namespace: ns,
      deployment: 'web',
      container: 'sidecar',
      image: 'busybox:1.37',
    });
    expect(await executor.readState(request, ['image', 'generation', 'revision'], context())).toMatchObject({
      image: 'busybox:1.36',
    });
    const outcome = await executor.execute(request, context());
    expect(outcome).toMatchObject({ ok: true, output: { container: 'sidecar', image: 'busybox:1.37' } });
    const containers = (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.template
      ?.spec?.containers;
    expect(containers?.map((c) => [c.name, c.image])).toEqual([
      ['web', 'nginx:1.27'],
      ['sidecar', 'busybox:1.37'],
    ]);
    expect(await executor.readState(request, ['image'], context())).toEqual({ image: 'busybox:1.37' });

    const unknown = await requestFor('update-image', {
      namespace: ns,
      deployment: 'web',
      container: 'nope',
      image: 'evil:1',
    });
    const refused = await executor.execute(unknown, context());
    expect(refused).toMatchObject({ ok: false });
    expect(refused.error).toMatch(/has no container nope; its containers are web, sidecar/);
    const after = (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.template?.spec
      ?.containers;
    expect(after).toHaveLength(2); // a strategic merge patch would have added a container "nope"
  });

  it('rollout-status: not complete → ok:false after timeout_seconds; complete (status patched) → ok', async () => {
    await createDeployment('rolling', 2);
    const request = await requestFor('rollout-status', {
      namespace: ns,
      deployment: 'rolling',
      timeout_seconds: 1,
    });
    const started = Date.now();
    const waiting = await executor.execute(request, context());
    expect(waiting.ok).toBe(false);
    expect(waiting.error).toMatch(
      /rollout of deployment app\/rolling not complete after 1 s: 0 of 2 updated/,
    );
    expect(Date.now() - started).toBeLessThan(4000);

    // The deployment controller's report, half a second into a longer wait.
    const generation = (await apps.readNamespacedDeployment({ name: 'rolling', namespace: ns })).metadata
      ?.generation;
    const patch = sleep(500).then(() =>
      apps.patchNamespacedDeploymentStatus(
        {
          name: 'rolling',
          namespace: ns,
          body: {
            status: {
              observedGeneration: generation,
              replicas: 2,
              updatedReplicas: 2,
              readyReplicas: 2,
              availableReplicas: 2,
            },
          },
        },
        mergePatch(),
      ),
    );
    const longer = await requestFor('rollout-status', {
      namespace: ns,
      deployment: 'rolling',
      timeout_seconds: 20,
    });
    const done = await executor.execute(longer, context());
    await patch;
    expect(done).toMatchObject({
      ok: true,
      output: { complete: true, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
    });
  });

  it('an aborted signal stops a rollout-status poll promptly', async () => {
    await createDeployment('stuck', 1);
    const request = await requestFor('rollout-status', {
      namespace: ns,
      deployment: 'stuck',
      timeout_seconds: 60,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the run exceeded 300 ms')), 300);
    const started = Date.now();
    const outcome = await executor.execute(request, context({ signal: controller.signal }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcome).toMatchObject({ ok: false, error: 'stopped: the run exceeded 300 ms' });
  });
});

describe('Pods', () => {
  it('delete-pod deletes the pod with its grace period; readState then says it is gone', async () => {
    await createPod('doomed', { owner: 'ReplicaSet' });
    const request = await requestFor('delete-pod', { namespace: ns, pod: 'doomed', grace_period: 5 });
    expect(await executor.readState(request, ['phase', 'node_name', 'owner_kind'], context())).toEqual({
      phase: 'Pending',
      owner_kind: 'ReplicaSet',
    });
    const outcome = await executor.execute(request, context());
    expect(outcome).toMatchObject({ ok: true, output: { pod: 'app/doomed', gracePeriodSeconds: 5 } });
    await expect(core.readNamespacedPod({ name: 'doomed', namespace: ns })).rejects.toMatchObject({
      code: 404,
    });
    await expect(executor.readState(request, ['phase'], context())).rejects.toThrow(
      'cannot read the state: pod app/doomed does not exist (HTTP 404)',
    );
    const again = await executor.execute(request, context());
    expect(again.ok).toBe(false);
    expect(again.error).toMatch(/^HTTP 404: pods "doomed" not found$/);
  });

  it('get-pod-logs asks the server for bounded logs: none for a pod that never ran; an unreachable kubelet is an HTTP failure', async () => {
    await createPod('unscheduled');
    const request = await requestFor('get-pod-logs', { namespace: ns, pod: 'unscheduled', tail_lines: 10 });
    const outcome = await executor.execute(request, context());
    // The API server answers 204 No Content: there is no log yet.
    expect(outcome).toMatchObject({ ok: true, output: { logs: '', truncated: false } });
    expect(outcome.calls?.[0]?.query).toEqual({ tailLines: '10', limitBytes: String(1024 * 1024) });

    // On a node with no kubelet address the API server cannot fetch the log (no kubelet runs here).
    await core.createNode({ body: { metadata: { name: 'node-logs' } } });
    await createPod('placed', { node: 'node-logs' });
    const placed = await executor.execute(
      await requestFor('get-pod-logs', { namespace: ns, pod: 'placed', container: 'app' }),
      context(),
    );
    expect(placed.ok).toBe(false);
    expect(placed.error).toMatch(/^HTTP 5\d\d: no preferred addresses found; known addresses: \[\]$/);
  });

  it('exec-pod and port-forward are refused with the kubectl command a person would run', async () => {
    const exec = await executor.execute(
      await requestFor('exec-pod', { namespace: ns, pod: 'unscheduled', command: ['cat', '/etc/hostname'] }),
      context(),
    );
    expect(exec.ok).toBe(false);
    expect(exec.error).toMatch(/interactive stream.*kubectl exec/);
    const forward = await executor.execute(
      await requestFor('port-forward', {
        namespace: ns,
        pod: 'unscheduled',
        local_port: 8080,
        remote_port: 80,
      }),
      context(),
    );
    expect(forward.error).toMatch(/kubectl port-forward/);
  });
});

describe('Nodes', () => {
  beforeAll(async () => {
    for (const name of ['node-a', 'node-b', 'node-c'])
      await core.createNode({ body: { metadata: { name } } });
  });

  it('cordon-node and uncordon-node flip spec.unschedulable', async () => {
    const cordon = await requestFor('cordon-node', { node: 'node-c' });
    expect(await executor.readState(cordon, ['unschedulable'], context())).toEqual({ unschedulable: false });
    expect(await executor.execute(cordon, context())).toMatchObject({
      ok: true,
      output: { unschedulable: true },
    });
    expect((await core.readNode({ name: 'node-c' })).spec?.unschedulable).toBe(true);
    const uncordon = await requestFor('uncordon-node', { node: 'node-c' });
    expect(await executor.readState(uncordon, ['unschedulable'], context())).toEqual({ unschedulable: true });
    expect(await executor.execute(uncordon, context())).toMatchObject({ ok: true });
    expect((await core.readNode({ name: 'node-c' })).spec?.unschedulable).toBeFalsy();
  });

  it('drain-node: a PodDisruptionBudget that blocks → partial drain, ok:false within the timeout; then it allows → drained', async () => {
    const labels = { app: 'guarded' };
    await createPod('guarded-1', { node: 'node-a', labels, owner: 'ReplicaSet', ready: true });
    await createPod('guarded-2', { node: 'node-a', labels, owner: 'ReplicaSet', ready: true });
    await createPod('daemon-1', { node: 'node-a', owner: 'DaemonSet', ready: true });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'guarded' }, spec: { minAvailable: 2, selector: { matchLabels: labels } } },
    });
    const pdbStatus = (disruptionsAllowed: number) =>
      policy.patchNamespacedPodDisruptionBudgetStatus(
        {
          name: 'guarded',
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
    await pdbStatus(0); // what the disruption controller reports for minAvailable = pod count

    const blocked = await rawRequestFor('drain-node', { node: 'node-a', timeout_seconds: 2 });
    const fields = ['unschedulable', 'pod_count'];
    expect(await executor.readState(blocked, fields, context())).toEqual({
      unschedulable: false,
      pod_count: 3,
    });
    const started = Date.now();
    const partial = await executor.execute(blocked, context());
    expect(Date.now() - started).toBeLessThan(6000);
    expect(partial.ok).toBe(false);
    expect(partial.error).toMatch(
      /^partial drain of node node-a: evicted 0 of 2 pods; not evicted: app\/guarded-1 \(eviction refused/,
    );
    expect(partial.error).toMatch(/disruption budget/);
    expect(partial.error).toMatch(/the node stays cordoned$/);
    expect(partial.output).toMatchObject({
      node: 'node-a',
      cordoned: true,
      evicted: [],
      notEvicted: [{ pod: 'app/guarded-1' }, { pod: 'app/guarded-2' }],
      skipped: [{ pod: 'app/daemon-1', reason: 'managed by a DaemonSet' }],
    });
    expect(await executor.readState(blocked, fields, context())).toEqual({
      unschedulable: true,
      pod_count: 3,
    });

    // The budget frees up while the drain retries: it finishes well before its timeout.
    const allow = sleep(1200).then(() => pdbStatus(2));
    const retried = await rawRequestFor('drain-node', { node: 'node-a', timeout_seconds: 30 });
    const drainStarted = Date.now();
    const drained = await executor.execute(retried, context());
    await allow;
    expect(Date.now() - drainStarted).toBeLessThan(15_000);
    expect(drained).toMatchObject({
      ok: true,
      output: { evicted: ['app/guarded-1', 'app/guarded-2'], notEvicted: [] },
    });
    for (const name of ['guarded-1', 'guarded-2']) {
      const pod = await core.readNamespacedPod({ name, namespace: ns });
      expect(pod.metadata?.deletionTimestamp).toEqual(expect.any(Date)); // evicted: terminating (no kubelet finishes it)
    }
    expect(await executor.readState(retried, fields, context())).toEqual({
      unschedulable: true,
      pod_count: 1,
    });
  }, 60_000);

  it('drain-node refuses like kubectl: DaemonSet pods with ignore_daemonsets false, emptyDir data without delete_emptydir_data', async () => {
    await createPod('ds-b', { node: 'node-b', owner: 'DaemonSet' });
    await createPod('scratch-b', { node: 'node-b', owner: 'ReplicaSet', emptyDir: true });
    await createPod('plain-b', { node: 'node-b', owner: 'ReplicaSet' });
    const request = await requestFor('drain-node', { node: 'node-b', ignore_daemonsets: false });
    const outcome = await executor.execute(request, context());
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toBe(
      'cannot drain node node-b: app/ds-b (managed by a DaemonSet (set ignore_daemonsets: true to leave it)); ' +
        'app/scratch-b (has emptyDir data (set delete_emptydir_data: true to delete it)); nothing was evicted and the node stays cordoned',
    );
    expect(
      (await core.readNamespacedPod({ name: 'plain-b', namespace: ns })).metadata?.deletionTimestamp,
    ).toBeUndefined();
    expect((await core.readNode({ name: 'node-b' })).spec?.unschedulable).toBe(true);

    const allowed = await requestFor('drain-node', { node: 'node-b', delete_emptydir_data: true });
    const drained = await executor.execute(allowed, context());
    expect(drained).toMatchObject({
      ok: true,
      output: { evicted: ['app/plain-b', 'app/scratch-b'], skipped: [{ pod: 'app/ds-b' }] },
    });
  });
});

describe('Namespaces', () => {
  it('create-namespace creates it (a second time: HTTP 409); delete-namespace starts its deletion', async () => {
    const create = await requestFor('create-namespace', { namespace: 'team-a' });
    expect(await executor.readState(create, [], context())).toEqual({});
    expect(await executor.execute(create, context())).toMatchObject({
      ok: true,
      output: { namespace: 'team-a' },
    });
    expect((await core.readNamespace({ name: 'team-a' })).status?.phase).toBe('Active');
    const again = await executor.execute(create, context());
    expect(again).toMatchObject({ ok: false, error: 'HTTP 409: namespaces "team-a" already exists' });

    const remove = await requestFor('delete-namespace', { namespace: 'team-a' });
    expect(await executor.execute(remove, context())).toMatchObject({ ok: true });
    // Without the namespace controller the namespace stays Terminating; with it, it goes away.
    const phase = await core.readNamespace({ name: 'team-a' }).then(
      (namespace) => namespace.status?.phase,
      (error: { code?: number }) => error.code,
    );
    expect([404, 'Terminating']).toContain(phase);
  });
});

describe('ConfigMaps and Secrets', () => {
  beforeAll(async () => {
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'settings' }, data: { mode: 'fast', level: '3' } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'db' },
        data: {
          password: Buffer.from('s3cr3t-value').toString('base64'),
          blob: Buffer.from([0xff, 0xfe]).toString('base64'),
        },
      },
    });
  });

  it('get-configmap returns the data, or one key; a missing key names the keys', async () => {
    const whole = await executor.execute(
      await requestFor('get-configmap', { namespace: ns, configmap: 'settings' }),
      context(),
    );
    expect(whole).toMatchObject({ ok: true, output: { data: { mode: 'fast', level: '3' }, binaryKeys: [] } });
    const one = await executor.execute(
      await requestFor('get-configmap', { namespace: ns, configmap: 'settings', key: 'mode' }),
      context(),
    );
    expect(one.output).toEqual({ key: 'mode', value: 'fast' });
    const none = await executor.execute(
      await requestFor('get-configmap', { namespace: ns, configmap: 'settings', key: 'nope' }),
      context(),
    );
    expect(none).toMatchObject({
      ok: false,
      error: 'configmap app/settings has no key nope; its keys are level, mode',
    });
  });

  it('update-configmap sets the key; the previous value is the state; the value is masked in the calls', async () => {
    const request = await requestFor('update-configmap', {
      namespace: ns,
      configmap: 'settings',
      key: 'mode',
      value: 'safe-and-secret',
    });
    const before = await executor.readState(request, ['previous_value', 'resource_version'], context());
    expect(before).toMatchObject({ previous_value: 'fast' });
    const outcome = await executor.execute(request, context());
    expect(outcome.ok).toBe(true);
    expect(JSON.stringify(outcome)).not.toContain('safe-and-secret');
    expect(outcome.calls?.[0]?.body).toEqual({ data: { mode: '***' } });
    expect((await core.readNamespacedConfigMap({ name: 'settings', namespace: ns })).data?.mode).toBe(
      'safe-and-secret',
    );
    const after = await executor.readState(request, ['previous_value', 'resource_version'], context());
    expect(after.previous_value).toBe('safe-and-secret');
    expect(after.resource_version).not.toBe(before.resource_version);
  });

  it('get-secret returns the decoded values to the caller; its state and calls never hold them', async () => {
    const request = await requestFor('get-secret', { namespace: ns, secret: 'db' });
    const outcome = await executor.execute(request, context());
    expect(outcome).toMatchObject({
      ok: true,
      output: { type: 'Opaque', data: { password: 's3cr3t-value' }, base64: { blob: '//4=' } },
    });
    expect(JSON.stringify(outcome.calls)).not.toContain('s3cr3t');
    const one = await executor.execute(
      await requestFor('get-secret', { namespace: ns, secret: 'db', key: 'password' }),
      context(),
    );
    expect(one.output).toEqual({ key: 'password', value: 's3cr3t-value' });
    const state = await executor.readState(request, ['data', 'value', 'password', 'keys', 'type'], context());
    expect(state).toEqual({ keys: ['blob', 'password'], type: 'Opaque' });
    expect(JSON.stringify(state)).not.toContain('s3cr3t');
    const missingKey = await executor.execute(
      await requestFor('get-secret', { namespace: ns, secret: 'db', key: 'nope' }),
      context(),
    );
    expect(missingKey.error).toBe('secret app/db has no key nope; its keys are blob, password');
  });
});

describe('HorizontalPodAutoscalers and NetworkPolicies', () => {
  beforeAll(async () => {
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 2,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
            },
          ],
        },
      },
    });
  });

  it('scale-hpa changes min and max replicas', async () => {
    const request = await requestFor('scale-hpa', {
      namespace: ns,
      hpa: 'web',
      min_replicas: 3,
      max_replicas: 9,
    });
    const fields = ['min_replicas', 'max_replicas', 'current_replicas'];
    expect(await executor.readState(request, fields, context())).toEqual({
      min_replicas: 2,
      max_replicas: 5,
    });
    expect(await executor.execute(request, context())).toMatchObject({
      ok: true,
      output: { minReplicas: 3, maxReplicas: 9 },
    });
    const read = await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'web', namespace: ns });
    expect([read.spec?.minReplicas, read.spec?.maxReplicas]).toEqual([3, 9]);
    expect(await executor.readState(request, fields, context())).toEqual({
      min_replicas: 3,
      max_replicas: 9,
    });
  });

  it('update-hpa-limits replaces the cpu target (read-modify-replace); a metric that is not there → ok:false', async () => {
    const request = await requestFor('update-hpa-limits', {
      namespace: ns,
      hpa: 'web',
      target_cpu_percent: 70,
    });
    const fields = ['target_cpu_percent', 'target_memory_percent'];
    expect(await executor.readState(request, fields, context())).toEqual({ target_cpu_percent: 50 });
    expect(await executor.execute(request, context())).toMatchObject({
      ok: true,
      output: { targetCpuPercent: 70 },
    });
    const read = await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'web', namespace: ns });
    expect(read.spec?.metrics?.[0]?.resource?.target?.averageUtilization).toBe(70);
    expect(read.spec?.minReplicas).toBe(3); // the rest of the object is kept
    expect(await executor.readState(request, fields, context())).toEqual({ target_cpu_percent: 70 });

    const memory = await requestFor('update-hpa-limits', {
      namespace: ns,
      hpa: 'web',
      target_memory_percent: 80,
    });
    const refused = await executor.execute(memory, context());
    expect(refused).toMatchObject({ ok: false });
    expect(refused.error).toMatch(/has no memory Utilization metric/);
  });

  it('apply-network-policy creates by server-side apply (field manager agent-safe), then replaces', async () => {
    const request = await requestFor('apply-network-policy', {
      namespace: ns,
      policy_name: 'web-in',
      pod_selector: 'app=web,tier in (front)',
      ingress: [
        { from: [{ podSelector: { matchLabels: { role: 'lb' } } }], ports: [{ port: 80, protocol: 'TCP' }] },
      ],
    });
    const fields = ['existed', 'previous_spec'];
    expect(await executor.readState(request, fields, context())).toEqual({ existed: false });
    expect(await executor.execute(request, context())).toMatchObject({
      ok: true,
      output: { policy: 'app/web-in' },
    });
    const read = await networking.readNamespacedNetworkPolicy({ name: 'web-in', namespace: ns });
    expect(read.spec?.podSelector).toEqual({
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }],
    });
    expect(read.spec?.policyTypes).toEqual(['Ingress']);
    expect(read.metadata?.managedFields?.map((field) => [field.manager, field.operation])).toEqual([
      ['agent-safe', 'Apply'],
    ]);

    const state = await executor.readState(request, fields, context());
    expect(state).toMatchObject({
      existed: true,
      previous_spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'lb' } } }] }],
      },
    });
    const replace = await requestFor('apply-network-policy', {
      namespace: ns,
      policy_name: 'web-in',
      pod_selector: 'app=web',
      policy_types: 'Ingress,Egress',
    });
    expect(await executor.execute(replace, context())).toMatchObject({ ok: true });
    const replaced = await networking.readNamespacedNetworkPolicy({ name: 'web-in', namespace: ns });
    expect(replaced.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(replaced.spec?.ingress ?? []).toEqual([]); // the applied configuration no longer has the rule
  });
});

describe('credentials', () => {
  let token: string;
  let scalerToken: string;

  beforeAll(async () => {
    await createDeployment('guarded-web');
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    for (const name of ['nobody', 'scaler']) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'scaler' },
        rules: [
          { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'patch'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'scaler' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'scaler' },
        subjects: [{ kind: 'ServiceAccount', name: 'scaler', namespace: ns }],
      },
    });
    const mint = async (name: string) =>
      (
        await core.createNamespacedServiceAccountToken({
          name,
          namespace: ns,
          body: { spec: { audiences: [], expirationSeconds: 600 } },
        })
      ).status?.token as string;
    token = await mint('nobody');
    scalerToken = await mint('scaler');
  });

  it('a token-only credential without rights gets a clear 403 (no fallback to the runner user); nothing changes', async () => {
    const request = await requestFor('scale-deployment', {
      namespace: ns,
      deployment: 'guarded-web',
      replicas: 7,
    });
    const handle = new Credential({
      kind: 'kubernetes-token',
      id: 'sa/nobody',
      issuedAt: Date.now(),
      expiresAt: Date.now() + 600_000,
      material: { token },
    });
    for (const credentials of [handle, { token }]) {
      const outcome = await executor.execute(request, context({ credentials }));
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toMatch(
        /^HTTP 403: deployments.apps "guarded-web" is forbidden: User "system:serviceaccount:app:nobody" cannot patch/,
      );
      expect(JSON.stringify(outcome)).not.toContain(token);
      await expect(executor.readState(request, ['replicas'], context({ credentials }))).rejects.toThrow(
        /^HTTP 403: /,
      );
    }
    expect((await apps.readNamespacedDeployment({ name: 'guarded-web', namespace: ns })).spec?.replicas).toBe(
      2,
    );
  });

  it('a credential with the rights acts (as that service account); a revoked handle or other values fail closed', async () => {
    const request = await requestFor('scale-deployment', {
      namespace: ns,
      deployment: 'guarded-web',
      replicas: 3,
    });
    const handle = new Credential({
      kind: 'kubernetes-token',
      id: 'sa/scaler',
      issuedAt: Date.now(),
      expiresAt: Date.now() + 600_000,
      material: { token: scalerToken },
    });
    let allowed = await executor.execute(request, context({ credentials: handle }));
    for (let attempt = 0; attempt < 50 && !allowed.ok; attempt += 1) {
      await sleep(100); // the authorizer sees a new binding through an informer
      allowed = await executor.execute(request, context({ credentials: handle }));
    }
    expect(allowed).toMatchObject({ ok: true, output: { replicas: 3 } });
    expect((await apps.readNamespacedDeployment({ name: 'guarded-web', namespace: ns })).spec?.replicas).toBe(
      3,
    );

    handle.invalidate();
    const revoked = await executor.execute(request, context({ credentials: handle }));
    expect(revoked).toMatchObject({
      ok: false,
      error: 'Credential sa/scaler (kubernetes-token) was revoked',
    });
    for (const credentials of ['a-token-string', { token: '' }, { password: 'x' }, null, [scalerToken]]) {
      const outcome = await executor.execute(request, context({ credentials }));
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toMatch(
        /^context.credentials must be a Credential whose material is \{ token \}/,
      );
      expect(outcome.error).not.toContain(scalerToken);
      await expect(executor.precheck('deployment-exists', request, context({ credentials }))).rejects.toThrow(
        /context.credentials must be/,
      );
    }
  });
});

describe('an API server that is down or silent', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((done) => (silent ? silent.close(done) : done(undefined)));
  });

  it('refused connections fail at once with the server named; a silent server times out; no hang', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as { port: number }).port;
        probe.close(() => resolve(port));
      });
    });
    const down = new KubernetesExecutor({
      kubeConfig: tokenConfig(k8s, `https://127.0.0.1:${closedPort}`, cluster.caPath, 'x'),
    });
    const request = await requestFor('scale-deployment', { namespace: ns, deployment: 'web', replicas: 1 });
    const started = Date.now();
    const outcome = await down.execute(request, context());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcome).toMatchObject({
      ok: false,
      error: `cannot reach the Kubernetes API server at https://127.0.0.1:${closedPort}: ECONNREFUSED`,
    });
    await expect(down.readState(request, ['replicas'], context())).rejects.toThrow(/ECONNREFUSED/);

    silent = createServer((socket) => sockets.add(socket)); // accepts, never answers
    const silentPort = await new Promise<number>((resolve) =>
      silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)),
    );
    const hung = new KubernetesExecutor({
      kubeConfig: tokenConfig(k8s, `https://127.0.0.1:${silentPort}`, cluster.caPath, 'x'),
      requestTimeoutMs: 500,
    });
    const silentStarted = Date.now();
    const timedOut = await hung.execute(request, context());
    expect(Date.now() - silentStarted).toBeLessThan(3000);
    expect(timedOut).toMatchObject({
      ok: false,
      error: `the Kubernetes API server at https://127.0.0.1:${silentPort} did not answer within 500 ms`,
    });
  });
});
