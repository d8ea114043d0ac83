// rollout-undo and delete-namespace need the controllers (ReplicaSets carry the rollout history; the
// namespace controller finishes a deletion): this file runs kube-controller-manager with the API server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import {
  KubernetesExecutor,
  type KubernetesClientModule,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from '../src/index.js';
import { context, requestFor, sleep } from './executor-helpers.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';

let cluster: K8sCluster;
let k8s: KubernetesClientModule;
let core: CoreV1Api;
let apps: AppsV1Api;
let executor: KubernetesExecutor;
const ns = 'rollouts';

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let attempt = 0; attempt < 150 && !done(value); attempt += 1) {
    await sleep(200);
    value = await read();
  }
  if (!done(value)) throw new Error(`${what} did not happen within 30 s (last: ${JSON.stringify(value)})`);
  return value;
}

const revision = async () =>
  (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).metadata?.annotations?.[
    'deployment.kubernetes.io/revision'
  ];
const template = async () =>
  (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.template;

beforeAll(async () => {
  cluster = await startK8sCluster({ controllerManager: true });
  k8s = await loadKubernetesClient();
  const admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
  core = admin.makeApiClient(k8s.CoreV1Api);
  apps = admin.makeApiClient(k8s.AppsV1Api);
  executor = new KubernetesExecutor({ kubeConfig: admin, pollIntervalMs: 200 });
  await core.createNamespace({ body: { metadata: { name: ns } } });
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('rollout-undo (ReplicaSet history kept by the deployment controller)', () => {
  it('goes back to the previous revision, replacing the whole template as kubectl does; then to a named revision', async () => {
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.26' }] } },
        },
      },
    });
    await waitFor('revision 1', revision, (value) => value === '1');

    // Revision 2: a new image AND an added sidecar (a strategic merge undo would keep the sidecar).
    const added = await cluster.kubectl([
      '-n',
      ns,
      'patch',
      'deployment',
      'web',
      '--type=strategic',
      '-p',
      JSON.stringify({
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'web', image: 'nginx:1.27' },
                { name: 'sidecar', image: 'busybox:1.36' },
              ],
            },
          },
        },
      }),
    ]);
    expect(added.code).toBe(0);
    await waitFor('revision 2', revision, (value) => value === '2');

    const undo = await requestFor('rollout-undo', { namespace: ns, deployment: 'web' });
    const fields = ['revision', 'images'];
    expect(await executor.readState(undo, fields, context())).toEqual({
      revision: 2,
      images: ['nginx:1.27', 'busybox:1.36'],
    });
    const outcome = await executor.execute(undo, context());
    expect(outcome).toMatchObject({
      ok: true,
      output: { rolledBackTo: 1, previousRevision: 2, images: ['nginx:1.26'] },
    });
    const restored = await template();
    expect(restored?.spec?.containers?.map((container) => container.name)).toEqual(['web']);
    expect(restored?.metadata?.labels).toEqual({ app: 'web' }); // no pod-template-hash
    // The controller re-numbers the restored template as the newest revision, as with kubectl.
    await waitFor('revision 3', revision, (value) => value === '3');
    expect(await executor.readState(undo, fields, context())).toEqual({
      revision: 3,
      images: ['nginx:1.26'],
    });

    // The captured before-state (revision 2) is what the undo's own rollback asks for.
    const redo = await requestFor('rollout-undo', { namespace: ns, deployment: 'web', revision: 2 });
    expect(await executor.execute(redo, context())).toMatchObject({ ok: true, output: { rolledBackTo: 2 } });
    expect((await template())?.spec?.containers?.map((container) => container.image)).toEqual([
      'nginx:1.27',
      'busybox:1.36',
    ]);
    await waitFor('revision 4', revision, (value) => value === '4');

    const unknown = await requestFor('rollout-undo', { namespace: ns, deployment: 'web', revision: 9 });
    const refused = await executor.execute(unknown, context());
    expect(refused).toMatchObject({
      ok: false,
      error: 'deployment rollouts/web has no revision 9 in its history; the revisions that exist are 3, 4',
    });
  }, 120_000);

  it('a deployment with one revision has nothing to go back to', async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'fresh' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'fresh' } },
          template: {
            metadata: { labels: { app: 'fresh' } },
            spec: { containers: [{ name: 'a', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    await waitFor(
      'revision 1',
      async () =>
        (await apps.readNamespacedDeployment({ name: 'fresh', namespace: ns })).metadata?.annotations?.[
          'deployment.kubernetes.io/revision'
        ],
      (value) => value === '1',
    );
    const outcome = await executor.execute(
      await requestFor('rollout-undo', { namespace: ns, deployment: 'fresh' }),
      context(),
    );
    expect(outcome).toMatchObject({
      ok: false,
      error:
        'deployment rollouts/fresh has no previous revision to roll back to; the revisions that exist are 1',
    });
  }, 60_000);
});

describe('delete-namespace (the namespace controller finishes it)', () => {
  it('deletes the namespace and what is in it', async () => {
    await core.createNamespace({ body: { metadata: { name: 'short-lived' } } });
    await core.createNamespacedConfigMap({
      namespace: 'short-lived',
      body: { metadata: { name: 'c' }, data: { a: 'b' } },
    });
    const outcome = await executor.execute(
      await requestFor('delete-namespace', { namespace: 'short-lived' }),
      context(),
    );
    expect(outcome).toMatchObject({ ok: true, output: { namespace: 'short-lived', deleting: true } });
    const gone = await waitFor(
      'namespace deletion',
      () =>
        core.readNamespace({ name: 'short-lived' }).then(
          () => 200,
          (error: { code?: number }) => error.code,
        ),
      (status) => status === 404,
    );
    expect(gone).toBe(404);
  }, 60_000);
});
