// Every catalogue precheck that reads the cluster, against a real kube-apiserver + etcd (RBAC on, no
// controller manager, no kubelet): objects are created as a user would, and their status is patched
// as the kubelet or a controller would. Never skipped: a missing cluster fails the suite.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { type KubernetesApis, kubernetesApis } from '../src/apis.js';
import { type KubernetesClientModule, kubeconfigFromOptions, loadKubernetesClient } from '../src/client.js';
import { KUBERNETES_PRECHECKS, PRECHECK_READ_RULES, runPrecheck } from '../src/prechecks.js';
import { type K8sCluster, startK8sCluster } from './k8s-cluster.js';
import { executionRequest } from './precheck-request.js';

let cluster: K8sCluster;
let k8s: KubernetesClientModule;
let admin: KubeConfig;
let apis: KubernetesApis;
const ns = 'pc';
const quotaNs = 'quota-ns';
const live = () => new AbortController().signal;

async function check(name: string, action: string, params: Record<string, unknown>, using = apis) {
  return await runPrecheck(name, executionRequest(action, params), using, live());
}

function merge() {
  return k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
}

async function createNode(
  name: string,
  options: {
    ready: boolean;
    unschedulable?: boolean;
    cpu: string;
    memory: string;
    pods: string;
    pressure?: string;
  },
): Promise<void> {
  await apis.core.createNode({
    body: { metadata: { name }, spec: { unschedulable: options.unschedulable ?? false } },
  });
  const conditions = [
    {
      type: 'Ready',
      status: options.ready ? 'True' : 'False',
      reason: options.ready ? 'KubeletReady' : 'KubeletNotReady',
    },
    ...(options.pressure ? [{ type: options.pressure, status: 'True' }] : []),
  ];
  // The TaintNodesByCondition admission plugin taints a new node not-ready; the node lifecycle
  // controller lifts the taint once the node reports Ready. No controller runs here, so do it as it would.
  if (options.ready) await apis.core.patchNode({ name, body: { spec: { taints: null } } }, merge());
  const resources = { cpu: options.cpu, memory: options.memory, pods: options.pods };
  await apis.core.patchNodeStatus(
    { name, body: { status: { conditions, allocatable: resources, capacity: resources } } },
    merge(),
  );
}

interface PodOptions {
  node?: string;
  labels?: Record<string, string>;
  owner?: { kind: string; name: string };
  phase?: string;
  ready?: boolean;
  cpu?: string;
  containers?: string[];
  ports?: number[];
  configMapVolume?: string;
  configMapEnv?: string;
  namespace?: string;
}

async function createPod(name: string, options: PodOptions = {}): Promise<void> {
  const namespace = options.namespace ?? ns;
  const containers = (options.containers ?? ['web']).map((container, index) => ({
    name: container,
    image: 'nginx:1.27',
    ...(index === 0 && options.cpu ? { resources: { requests: { cpu: options.cpu, memory: '64Mi' } } } : {}),
    ...(index === 0 && options.ports
      ? { ports: options.ports.map((containerPort) => ({ containerPort })) }
      : {}),
    ...(index === 0 && options.configMapEnv
      ? { envFrom: [{ configMapRef: { name: options.configMapEnv } }] }
      : {}),
  }));
  const body: V1Pod = {
    metadata: {
      name,
      labels: options.labels ?? {},
      ...(options.owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: options.owner.kind,
                name: options.owner.name,
                uid: '00000000-0000-0000-0000-00000000000a',
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      ...(options.node ? { nodeName: options.node } : {}),
      containers,
      ...(options.configMapVolume
        ? { volumes: [{ name: 'config', configMap: { name: options.configMapVolume } }] }
        : {}),
    },
  };
  await apis.core.createNamespacedPod({ namespace, body });
  if (options.phase) {
    const ready = options.ready ?? false;
    await apis.core.patchNamespacedPodStatus(
      {
        name,
        namespace,
        body: {
          status: {
            phase: options.phase,
            conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
            containerStatuses: containers.map((container) => ({
              name: container.name,
              ready,
              restartCount: 0,
              image: 'nginx:1.27',
              imageID: '',
            })),
          },
        },
      },
      merge(),
    );
  }
}

async function setBudget(name: string, disruptionsAllowed: number): Promise<void> {
  await apis.policy.patchNamespacedPodDisruptionBudgetStatus(
    {
      name,
      namespace: ns,
      body: { status: { disruptionsAllowed, currentHealthy: 2, desiredHealthy: 1, expectedPods: 2 } },
    },
    merge(),
  );
}

async function createDeployment(
  namespace: string,
  name: string,
  options: { replicas: number; paused?: boolean; revision?: number; cpu?: string },
): Promise<string> {
  const labels = { app: name };
  const created = await apis.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: {
        name,
        ...(options.revision
          ? { annotations: { 'deployment.kubernetes.io/revision': String(options.revision) } }
          : {}),
      },
      spec: {
        replicas: options.replicas,
        paused: options.paused ?? false,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name,
                image: 'nginx:1.27',
                ...(options.cpu
                  ? { resources: { requests: { cpu: options.cpu }, limits: { cpu: options.cpu } } }
                  : {}),
              },
            ],
          },
        },
      },
    },
  });
  return created.metadata?.uid ?? '';
}

async function setDeploymentStatus(namespace: string, name: string, status: Record<string, unknown>) {
  await apis.apps.patchNamespacedDeploymentStatus({ name, namespace, body: { status } }, merge());
}

async function createReplicaSet(name: string, revision: number, owner: { name: string; uid: string }) {
  const labels = { app: owner.name, 'pod-template-hash': name };
  await apis.apps.createNamespacedReplicaSet({
    namespace: ns,
    body: {
      metadata: {
        name,
        labels,
        annotations: { 'deployment.kubernetes.io/revision': String(revision) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: owner.name, uid: owner.uid, controller: true },
        ],
      },
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: owner.name, image: 'nginx:1.26' }] } },
      },
    },
  });
}

async function createHpa(namespace: string, name: string, target: string, max: number) {
  await apis.autoscaling.createNamespacedHorizontalPodAutoscaler({
    namespace,
    body: {
      metadata: { name },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
        minReplicas: 1,
        maxReplicas: max,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    },
  });
}

/** A client config that authenticates with `token` only, at `server` (default: the test cluster). */
function tokenApis(token: string, server = cluster.url): KubernetesApis {
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, caFile: cluster.caPath }],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
    currentContext: 'sa',
  });
  return kubernetesApis(k8s, config);
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  k8s = await loadKubernetesClient();
  admin = await kubeconfigFromOptions({ kubeconfig: cluster.kubeconfigPath });
  apis = kubernetesApis(k8s, admin);
  for (const name of [ns, quotaNs, 'empty-ns', 'store', 'doomed'])
    await apis.core.createNamespace({ body: { metadata: { name } } });
  // Without a namespace controller, a deleted namespace stays Terminating.
  await apis.core.deleteNamespace({ name: 'doomed' });

  await createNode('node-a', { ready: true, cpu: '4', memory: '8Gi', pods: '110' });
  await createNode('node-b', { ready: true, cpu: '1', memory: '1Gi', pods: '10' });
  await createNode('node-c', { ready: false, unschedulable: true, cpu: '4', memory: '8Gi', pods: '110' });
  await createNode('node-d', { ready: true, unschedulable: true, cpu: '4', memory: '8Gi', pods: '110' });
  await createNode('node-p', {
    ready: true,
    unschedulable: true,
    cpu: '4',
    memory: '8Gi',
    pods: '110',
    pressure: 'DiskPressure',
  });
  await createNode('node-big', { ready: true, cpu: '16', memory: '32Gi', pods: '110' });

  await apis.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'settings' }, data: { mode: 'fast' } },
  });
  await apis.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'lonely' }, data: { a: '1' } },
  });
  await apis.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true },
  });

  await createPod('web-1', {
    node: 'node-a',
    labels: { app: 'web' },
    owner: { kind: 'ReplicaSet', name: 'web-abc' },
    phase: 'Running',
    ready: true,
    cpu: '500m',
    ports: [8080],
    configMapVolume: 'settings',
  });
  await createPod('bare-1', {
    node: 'node-a',
    labels: { app: 'tool' },
    phase: 'Running',
    ready: true,
    cpu: '100m',
  });
  await createPod('ds-1', {
    node: 'node-a',
    owner: { kind: 'DaemonSet', name: 'agent' },
    phase: 'Running',
    ready: true,
  });
  await createPod('hog', {
    node: 'node-big',
    owner: { kind: 'ReplicaSet', name: 'hog-1' },
    phase: 'Running',
    ready: true,
    cpu: '8',
  });
  await createPod('pending-1', { labels: { app: 'web' } });
  await createPod('unready-1', { phase: 'Running', ready: false });
  await createPod('multi-1', { containers: ['main', 'sidecar'], phase: 'Running', ready: true });
  await createPod('env-1', { configMapEnv: 'settings', phase: 'Running', ready: true });

  await apis.policy.createNamespacedPodDisruptionBudget({
    namespace: ns,
    body: {
      metadata: { name: 'web-pdb' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
    },
  });

  await apis.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'builder' } } });
  await apis.core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: 'api-key' }, type: 'Opaque', stringData: { key: 'hunter2-super-secret' } },
  });
  await apis.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'builder-token', annotations: { 'kubernetes.io/service-account.name': 'builder' } },
      type: 'kubernetes.io/service-account-token',
    },
  });
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('namespaces', () => {
  it('namespace-exists passes an active namespace, fails a missing or terminating one', async () => {
    expect(await check('namespace-exists', 'delete-namespace', { namespace: ns })).toEqual({
      status: 'pass',
      reason: 'namespace pc exists (Active)',
    });
    expect(
      await check('namespace-exists', 'apply-network-policy', {
        namespace: 'nowhere',
        policy_name: 'p',
        pod_selector: 'a=b',
      }),
    ).toEqual({
      status: 'fail',
      reason: 'namespace nowhere does not exist',
    });
    expect(await check('namespace-exists', 'delete-namespace', { namespace: 'doomed' })).toEqual({
      status: 'fail',
      reason: 'namespace doomed is already terminating',
    });
  });

  it('namespace-absent passes a free name, fails an existing or still terminating one', async () => {
    expect((await check('namespace-absent', 'create-namespace', { namespace: 'brand-new' })).status).toBe(
      'pass',
    );
    expect(await check('namespace-absent', 'create-namespace', { namespace: ns })).toEqual({
      status: 'fail',
      reason: 'namespace pc already exists',
    });
    expect(await check('namespace-absent', 'create-namespace', { namespace: 'doomed' })).toEqual({
      status: 'fail',
      reason: 'namespace doomed already exists and is still terminating',
    });
  });

  it('inventory-of-contents passes an empty namespace and warns with the counts of a full one', async () => {
    expect((await check('inventory-of-contents', 'delete-namespace', { namespace: 'empty-ns' })).status).toBe(
      'pass',
    );
    const full = await check('inventory-of-contents', 'delete-namespace', { namespace: ns });
    expect(full.status).toBe('warn');
    expect(full.reason).toContain('deleting namespace pc destroys 8 Pods');
    expect(full.reason).toContain('3 ConfigMaps');
    expect(full.reason).toContain('2 Secrets');
    expect(full.reason).toContain('1 PodDisruptionBudgets');
  });

  it('no-persistent-volumes-retained warns about claims whose volume is deleted with them', async () => {
    expect(
      (await check('no-persistent-volumes-retained', 'delete-namespace', { namespace: 'store' })).status,
    ).toBe('pass');
    for (const [volume, policy] of [
      ['pv-delete', 'Delete'],
      ['pv-keep', 'Retain'],
    ] as const) {
      await apis.core.createPersistentVolume({
        body: {
          metadata: { name: volume },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: policy,
            hostPath: { path: `/tmp/${volume}` },
          },
        },
      });
    }
    await apis.core.createNamespacedPersistentVolumeClaim({
      namespace: 'store',
      body: {
        metadata: { name: 'keep-claim' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          volumeName: 'pv-keep',
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const kept = await check('no-persistent-volumes-retained', 'delete-namespace', { namespace: 'store' });
    expect(kept).toEqual({ status: 'pass', reason: '1 volume kept (Retain): keep-claim (pv-keep)' });
    await apis.core.createNamespacedPersistentVolumeClaim({
      namespace: 'store',
      body: {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          volumeName: 'pv-delete',
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const lost = await check('no-persistent-volumes-retained', 'delete-namespace', { namespace: 'store' });
    expect(lost.status).toBe('warn');
    expect(lost.reason).toContain('1 claim loses its data (reclaim policy Delete): data (pv-delete)');
  });
});

describe('network policies', () => {
  const base = { namespace: ns, policy_name: 'web-only' };
  it('selected-pods lists the pods a selector matches, and warns when it matches none', async () => {
    expect(
      await check('selected-pods', 'apply-network-policy', { ...base, pod_selector: 'app=web' }),
    ).toEqual({
      status: 'pass',
      reason: 'selector app=web matches 2 pods in namespace pc: pending-1, web-1',
    });
    const none = await check('selected-pods', 'apply-network-policy', {
      ...base,
      pod_selector: 'app in (nothing)',
    });
    expect(none.status).toBe('warn');
    expect(none.reason).toContain('matches no pod');
  });

  it('cni-enforces-policies always warns (the API cannot tell) and names a plugin it recognises', async () => {
    const unknown = await check('cni-enforces-policies', 'apply-network-policy', {
      ...base,
      pod_selector: 'app=web',
    });
    expect(unknown.status).toBe('warn');
    expect(unknown.reason).toContain('not verified');
    expect(unknown.reason).toContain('silently ignored');
    await apis.apps.createNamespacedDaemonSet({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'calico-node' },
        spec: {
          selector: { matchLabels: { k8s: 'calico' } },
          template: {
            metadata: { labels: { k8s: 'calico' } },
            spec: { containers: [{ name: 'c', image: 'calico/node' }] },
          },
        },
      },
    });
    const calico = await check('cni-enforces-policies', 'apply-network-policy', {
      ...base,
      pod_selector: 'app=web',
    });
    expect(calico.status).toBe('warn');
    expect(calico.reason).toContain('kube-system runs Calico');
  });
});

describe('nodes', () => {
  it('node-exists passes a node, fails a missing one, and warns when cordoning a node that is not Ready', async () => {
    expect(await check('node-exists', 'cordon-node', { node: 'node-a' })).toEqual({
      status: 'pass',
      reason: 'node node-a exists and is Ready',
    });
    expect(await check('node-exists', 'drain-node', { node: 'ghost' })).toEqual({
      status: 'fail',
      reason: 'node ghost does not exist',
    });
    const broken = await check('node-exists', 'cordon-node', { node: 'node-c' });
    expect(broken.status).toBe('warn');
    expect(broken.reason).toContain('Ready=False (KubeletNotReady)');
    expect((await check('node-exists', 'uncordon-node', { node: 'node-c' })).status).toBe('pass');
  });

  it('node-cordoned passes a cordoned node and warns about one that is already schedulable', async () => {
    expect((await check('node-cordoned', 'uncordon-node', { node: 'node-d' })).status).toBe('pass');
    expect(await check('node-cordoned', 'uncordon-node', { node: 'node-a' })).toEqual({
      status: 'warn',
      reason: 'node node-a is already schedulable: uncordoning it changes nothing',
    });
  });

  it('node-healthy passes a Ready node, warns on pressure, fails one that is not Ready', async () => {
    expect((await check('node-healthy', 'uncordon-node', { node: 'node-d' })).status).toBe('pass');
    expect(await check('node-healthy', 'uncordon-node', { node: 'node-p' })).toEqual({
      status: 'warn',
      reason: 'node node-p is Ready but reports DiskPressure',
    });
    const broken = await check('node-healthy', 'uncordon-node', { node: 'node-c' });
    expect(broken.status).toBe('fail');
    expect(broken.reason).toContain('node node-c reports Ready=False');
  });

  it('unmanaged-pods warns about pods no controller recreates (DaemonSet pods are left alone)', async () => {
    expect(await check('unmanaged-pods', 'drain-node', { node: 'node-a' })).toEqual({
      status: 'warn',
      reason: '1 pod on node node-a has no controller and will be lost, not recreated: pc/bare-1',
    });
    expect((await check('unmanaged-pods', 'drain-node', { node: 'node-big' })).status).toBe('pass');
  });

  it('spare-capacity counts the requests the other schedulable nodes have left', async () => {
    const cordon = await check('spare-capacity', 'cordon-node', { node: 'node-a' });
    expect(cordon.status).toBe('pass');
    expect(cordon.reason).toContain('2 other schedulable nodes');
    // node-a's web-1 (500m) and bare-1 (100m) fit on node-b and node-big.
    const fits = await check('spare-capacity', 'drain-node', { node: 'node-a' });
    expect(fits.status).toBe('pass');
    expect(fits.reason).toContain('the 2 evicted pods fit');
    // hog asks for 8 CPUs; node-a and node-b have 4.4 left between them.
    const full = await check('spare-capacity', 'drain-node', { node: 'node-big' });
    expect(full.status).toBe('fail');
    expect(full.reason).toContain('request 8000m CPU');
    expect((await check('spare-capacity', 'drain-node', { node: 'node-d' })).reason).toBe(
      'node node-d has no pods to move',
    );
  });

  it('disruption-budgets fails while a budget would block an eviction, and passes once it allows it', async () => {
    await setBudget('web-pdb', 0);
    const blocked = await check('disruption-budgets', 'drain-node', { node: 'node-a' });
    expect(blocked.status).toBe('fail');
    expect(blocked.reason).toContain(
      'budget pc/web-pdb allows 0 disruptions but the drain would evict 1 healthy pod',
    );
    await setBudget('web-pdb', 1);
    expect(await check('disruption-budgets', 'drain-node', { node: 'node-a' })).toEqual({
      status: 'pass',
      reason: 'PodDisruptionBudgets allow evicting the 1 pod they cover on node node-a (1 budget)',
    });
    expect((await check('disruption-budgets', 'drain-node', { node: 'node-b' })).status).toBe('pass');
  });
});

describe('pods', () => {
  const pod = (name: string, extra: Record<string, unknown> = {}) => ({ namespace: ns, pod: name, ...extra });

  it('pod-exists passes a pod and fails a missing one', async () => {
    expect((await check('pod-exists', 'delete-pod', pod('web-1'))).status).toBe('pass');
    expect(await check('pod-exists', 'get-pod-logs', pod('ghost'))).toEqual({
      status: 'fail',
      reason: 'pod pc/ghost does not exist',
    });
  });

  it('has-owner passes a controlled pod and fails a bare one', async () => {
    expect((await check('has-owner', 'delete-pod', pod('web-1'))).reason).toBe(
      'pod pc/web-1 is controlled by ReplicaSet web-abc, which replaces it',
    );
    expect((await check('has-owner', 'delete-pod', pod('bare-1'))).status).toBe('fail');
  });

  it('disruption-budget fails when the covering budget allows no disruption, passes when it does', async () => {
    await setBudget('web-pdb', 0);
    const blocked = await check('disruption-budget', 'delete-pod', pod('web-1'));
    expect(blocked).toEqual({
      status: 'fail',
      reason: 'deleting pod pc/web-1 would break PodDisruptionBudget web-pdb (disruptionsAllowed 0)',
    });
    // A pod that is not Ready does not count against the budget.
    expect((await check('disruption-budget', 'delete-pod', pod('pending-1'))).status).toBe('pass');
    await setBudget('web-pdb', 1);
    expect((await check('disruption-budget', 'delete-pod', pod('web-1'))).status).toBe('pass');
    expect((await check('disruption-budget', 'delete-pod', pod('bare-1'))).reason).toBe(
      'no PodDisruptionBudget covers pod pc/bare-1',
    );
  });

  it('pod-running passes a Running pod with a ready container and fails pending or unready ones', async () => {
    const command = ['cat', '/etc/hostname'];
    expect((await check('pod-running', 'exec-pod', pod('web-1', { command }))).status).toBe('pass');
    expect(
      await check('pod-running', 'port-forward', pod('pending-1', { local_port: 18080, remote_port: 80 })),
    ).toEqual({
      status: 'fail',
      reason: 'pod pc/pending-1 is Pending, not Running',
    });
    expect(await check('pod-running', 'exec-pod', pod('unready-1', { command }))).toEqual({
      status: 'fail',
      reason: 'container web of pod pc/unready-1 is not ready',
    });
    expect(
      (await check('pod-running', 'exec-pod', pod('multi-1', { command, container: 'nope' }))).status,
    ).toBe('fail');
  });

  it('container-exists (logs) needs a named container of the pod, or a pod of one container', async () => {
    expect((await check('container-exists', 'get-pod-logs', pod('web-1'))).status).toBe('pass');
    expect(
      (await check('container-exists', 'get-pod-logs', pod('multi-1', { container: 'sidecar' }))).status,
    ).toBe('pass');
    expect(await check('container-exists', 'get-pod-logs', pod('multi-1'))).toEqual({
      status: 'fail',
      reason: 'pod pc/multi-1 runs 2 containers (main, sidecar): name one with the container param',
    });
    expect(
      (await check('container-exists', 'get-pod-logs', pod('multi-1', { container: 'nope' }))).status,
    ).toBe('fail');
  });

  it('remote-port-declared passes a declared port and warns about an undeclared one', async () => {
    expect(
      (
        await check(
          'remote-port-declared',
          'port-forward',
          pod('web-1', { local_port: 18080, remote_port: 8080 }),
        )
      ).status,
    ).toBe('pass');
    const other = await check(
      'remote-port-declared',
      'port-forward',
      pod('web-1', { local_port: 18080, remote_port: 9999 }),
    );
    expect(other.status).toBe('warn');
    expect(other.reason).toContain('(declared: 8080)');
  });
});

describe('ConfigMaps and Secrets', () => {
  const cm = (name: string, extra: Record<string, unknown> = {}) => ({
    namespace: ns,
    configmap: name,
    ...extra,
  });

  it('configmap-exists passes, fails a missing ConfigMap, and a missing key for get-configmap', async () => {
    expect((await check('configmap-exists', 'get-configmap', cm('settings', { key: 'mode' }))).status).toBe(
      'pass',
    );
    expect(
      (await check('configmap-exists', 'update-configmap', cm('ghost', { key: 'a', value: 'b' }))).reason,
    ).toBe('ConfigMap pc/ghost does not exist');
    expect(await check('configmap-exists', 'get-configmap', cm('settings', { key: 'missing' }))).toEqual({
      status: 'fail',
      reason: 'ConfigMap pc/settings has no key missing; it has mode',
    });
    // update-configmap may add a key.
    expect(
      (await check('configmap-exists', 'update-configmap', cm('settings', { key: 'new', value: 'x' })))
        .status,
    ).toBe('pass');
  });

  it('not-immutable passes a mutable ConfigMap and fails an immutable one', async () => {
    expect(
      (await check('not-immutable', 'update-configmap', cm('settings', { key: 'a', value: 'b' }))).status,
    ).toBe('pass');
    expect(
      (await check('not-immutable', 'update-configmap', cm('frozen', { key: 'a', value: 'b' }))).status,
    ).toBe('fail');
  });

  it('consumers warns with the pods that mount or read the ConfigMap, passes when none does', async () => {
    const used = await check('consumers', 'update-configmap', cm('settings', { key: 'a', value: 'b' }));
    expect(used).toEqual({
      status: 'warn',
      reason:
        'ConfigMap pc/settings is in use: 1 pod mounts it and see the change after the kubelet syncs: web-1; 1 pod reads it as environment and see it only after a restart: env-1',
    });
    expect(
      (await check('consumers', 'update-configmap', cm('lonely', { key: 'a', value: 'b' }))).status,
    ).toBe('pass');
  });

  it('secret-exists passes without ever printing a value, fails a missing Secret or key', async () => {
    const found = await check('secret-exists', 'get-secret', { namespace: ns, secret: 'api-key' });
    expect(found).toEqual({ status: 'pass', reason: 'Secret pc/api-key exists (type Opaque, 1 key)' });
    expect(JSON.stringify(found)).not.toContain('hunter2');
    expect((await check('secret-exists', 'get-secret', { namespace: ns, secret: 'ghost' })).status).toBe(
      'fail',
    );
    expect(
      (await check('secret-exists', 'get-secret', { namespace: ns, secret: 'api-key', key: 'other' })).status,
    ).toBe('fail');
  });

  it('not-service-account-token fails a ServiceAccount token Secret and passes an Opaque one', async () => {
    expect(
      (await check('not-service-account-token', 'get-secret', { namespace: ns, secret: 'api-key' })).status,
    ).toBe('pass');
    expect(
      await check('not-service-account-token', 'get-secret', { namespace: ns, secret: 'builder-token' }),
    ).toEqual({
      status: 'fail',
      reason:
        "Secret pc/builder-token is of type kubernetes.io/service-account-token: it is a token for the cluster's API",
    });
  });
});

describe('Deployments', () => {
  let webUid = '';
  const dep = (name: string, extra: Record<string, unknown> = {}) => ({
    namespace: ns,
    deployment: name,
    ...extra,
  });

  beforeAll(async () => {
    webUid = await createDeployment(ns, 'web', { replicas: 3, revision: 3 });
    const web = await apis.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    await setDeploymentStatus(ns, 'web', {
      observedGeneration: web.metadata?.generation,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    await createDeployment(ns, 'solo', { replicas: 1 });
    await setDeploymentStatus(ns, 'solo', {
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
    });
    await createDeployment(ns, 'held', { replicas: 2, paused: true, revision: 2 });
    await createReplicaSet('web-r1', 1, { name: 'web', uid: webUid });
    await createReplicaSet('web-r3', 3, { name: 'web', uid: webUid });
    // Same labels, revision 2, but owned by another Deployment: not part of web's history.
    await createReplicaSet('web-stray', 2, { name: 'web', uid: '00000000-0000-0000-0000-0000000000ff' });
    await createHpa(ns, 'web-hpa', 'web', 6);
  });

  it('deployment-exists passes, fails a missing Deployment, and a paused one for a restart', async () => {
    expect((await check('deployment-exists', 'rollout-status', dep('web'))).status).toBe('pass');
    expect(await check('deployment-exists', 'scale-deployment', dep('ghost', { replicas: 1 }))).toEqual({
      status: 'fail',
      reason: 'Deployment pc/ghost does not exist',
    });
    expect((await check('deployment-exists', 'restart-deployment', dep('held'))).status).toBe('fail');
    expect((await check('deployment-exists', 'rollout-status', dep('held'))).status).toBe('pass');
  });

  it('enough-replicas passes with two or more available and warns with fewer', async () => {
    expect((await check('enough-replicas', 'restart-deployment', dep('web'))).status).toBe('pass');
    const solo = await check('enough-replicas', 'restart-deployment', dep('solo'));
    expect(solo.status).toBe('warn');
    expect(solo.reason).toContain('only 1 available replica');
  });

  it('no-rollout-in-progress passes a finished rollout and fails one the controller has not observed', async () => {
    expect((await check('no-rollout-in-progress', 'restart-deployment', dep('web'))).status).toBe('pass');
    const pending = await check('no-rollout-in-progress', 'restart-deployment', dep('solo'));
    expect(pending.status).toBe('fail');
    expect(pending.reason).toContain('the controller has observed none');
  });

  it('revision-in-history finds the previous or named revision among the ReplicaSets the Deployment owns', async () => {
    expect(await check('revision-in-history', 'rollout-undo', dep('web'))).toEqual({
      status: 'pass',
      reason: 'Deployment pc/web would go back from revision 3 to 1',
    });
    expect((await check('revision-in-history', 'rollout-undo', dep('web', { revision: 1 }))).status).toBe(
      'pass',
    );
    expect(await check('revision-in-history', 'rollout-undo', dep('web', { revision: 2 }))).toEqual({
      status: 'fail',
      reason: 'revision 2 of Deployment pc/web is not in its history; kept: 1, 3',
    });
    expect(
      (await check('revision-in-history', 'rollout-undo', dep('web', { revision: 3 }))).reason,
    ).toContain('is the current revision');
    expect((await check('revision-in-history', 'rollout-undo', dep('held'))).status).toBe('fail');
  });

  it('not-paused passes a running Deployment and fails a paused one', async () => {
    expect((await check('not-paused', 'rollout-undo', dep('web'))).status).toBe('pass');
    expect((await check('not-paused', 'rollout-undo', dep('held'))).reason).toContain('is paused');
  });

  it('hpa-not-managing warns when an HPA targets the Deployment', async () => {
    const managed = await check('hpa-not-managing', 'scale-deployment', dep('web', { replicas: 5 }));
    expect(managed).toEqual({
      status: 'warn',
      reason:
        'HorizontalPodAutoscaler web-hpa (1-6) manages Deployment pc/web and will override the new replica count',
    });
    expect((await check('hpa-not-managing', 'scale-deployment', dep('solo', { replicas: 2 }))).status).toBe(
      'pass',
    );
  });

  it('container-exists (update-image) checks the pod template', async () => {
    const image = 'nginx:1.28';
    expect(
      (await check('container-exists', 'update-image', dep('web', { container: 'web', image }))).status,
    ).toBe('pass');
    expect(await check('container-exists', 'update-image', dep('web', { container: 'nope', image }))).toEqual(
      {
        status: 'fail',
        reason: 'Deployment pc/web has no container nope; it has web',
      },
    );
  });
});

describe('HorizontalPodAutoscalers and quotas', () => {
  beforeAll(async () => {
    await apis.core.createNamespacedResourceQuota({
      namespace: quotaNs,
      body: { metadata: { name: 'compute' }, spec: { hard: { pods: '5', 'requests.cpu': '2' } } },
    });
    await apis.core.patchNamespacedResourceQuotaStatus(
      {
        name: 'compute',
        namespace: quotaNs,
        body: {
          status: { hard: { pods: '5', 'requests.cpu': '2' }, used: { pods: '3', 'requests.cpu': '1500m' } },
        },
      },
      merge(),
    );
    await createDeployment(quotaNs, 'api', { replicas: 2, cpu: '250m' });
    await createHpa(quotaNs, 'api-hpa', 'api', 4);
  });

  const hpa = (name: string, extra: Record<string, unknown> = {}) => ({
    namespace: quotaNs,
    hpa: name,
    ...extra,
  });

  it('hpa-exists passes and fails a missing HPA', async () => {
    expect(
      (await check('hpa-exists', 'scale-hpa', hpa('api-hpa', { min_replicas: 1, max_replicas: 4 }))).status,
    ).toBe('pass');
    expect(await check('hpa-exists', 'update-hpa-limits', hpa('ghost', { target_cpu_percent: 50 }))).toEqual({
      status: 'fail',
      reason: 'HorizontalPodAutoscaler quota-ns/ghost does not exist',
    });
  });

  it('metric-configured passes a target the HPA has a Utilization metric for, fails one it has not', async () => {
    expect(
      (await check('metric-configured', 'update-hpa-limits', hpa('api-hpa', { target_cpu_percent: 60 })))
        .status,
    ).toBe('pass');
    expect(
      (await check('metric-configured', 'update-hpa-limits', hpa('api-hpa', { target_memory_percent: 60 })))
        .reason,
    ).toBe(
      'HorizontalPodAutoscaler quota-ns/api-hpa has no memory Resource metric: a percentage target cannot be set',
    );
  });

  it('quota-allows (scale-deployment) passes what fits the ResourceQuota and fails what does not', async () => {
    const dep = (replicas: number) => ({ namespace: quotaNs, deployment: 'api', replicas });
    expect(await check('quota-allows', 'scale-deployment', dep(4))).toEqual({
      status: 'pass',
      reason: 'scaling Deployment quota-ns/api from 2 to 4 fits 1 ResourceQuota',
    });
    const over = await check('quota-allows', 'scale-deployment', dep(5));
    expect(over.status).toBe('fail');
    expect(over.reason).toContain('quota compute allows 5 pods, 3 pods used, and 3 more pods need 3 pods');
    expect(over.reason).toContain('quota compute allows 2000m CPU');
    expect((await check('quota-allows', 'scale-deployment', dep(1))).reason).toContain('adds no pods');
    expect(
      (await check('quota-allows', 'scale-deployment', { namespace: ns, deployment: 'solo', replicas: 3 }))
        .reason,
    ).toBe('namespace pc has no ResourceQuota');
  });

  it('quota-allows (scale-hpa) warns when max_replicas pods would not fit', async () => {
    expect(
      (await check('quota-allows', 'scale-hpa', hpa('api-hpa', { min_replicas: 1, max_replicas: 4 }))).status,
    ).toBe('pass');
    const over = await check(
      'quota-allows',
      'scale-hpa',
      hpa('api-hpa', { min_replicas: 1, max_replicas: 10 }),
    );
    expect(over.status).toBe('warn');
    expect(over.reason).toContain('exceeds the namespace');
  });
});

describe('failing closed', () => {
  const reads: [string, string, Record<string, unknown>][] = [
    ['namespace-exists', 'delete-namespace', { namespace: ns }],
    ['namespace-absent', 'create-namespace', { namespace: 'brand-new' }],
    ['inventory-of-contents', 'delete-namespace', { namespace: 'empty-ns' }],
    ['node-exists', 'cordon-node', { node: 'node-a' }],
    ['spare-capacity', 'cordon-node', { node: 'node-a' }],
    ['disruption-budgets', 'drain-node', { node: 'node-a' }],
    ['pod-exists', 'delete-pod', { namespace: ns, pod: 'web-1' }],
    ['consumers', 'update-configmap', { namespace: ns, configmap: 'lonely', key: 'a', value: 'b' }],
    ['not-service-account-token', 'get-secret', { namespace: ns, secret: 'api-key' }],
    ['deployment-exists', 'rollout-status', { namespace: ns, deployment: 'web' }],
    ['hpa-not-managing', 'scale-deployment', { namespace: ns, deployment: 'solo', replicas: 2 }],
    ['quota-allows', 'scale-deployment', { namespace: quotaNs, deployment: 'api', replicas: 3 }],
  ];

  it('a token without rights (403) fails every precheck that reads, naming the object and the reason', async () => {
    const minted = await apis.core.createNamespacedServiceAccountToken({
      name: 'builder',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = minted.status?.token as string;
    const unprivileged = tokenApis(token);
    for (const [name, action, params] of reads) {
      const outcome = await check(name, action, params, unprivileged);
      expect({ name, status: outcome.status }).toEqual({ name, status: 'fail' });
      expect(outcome.reason).toContain('cannot be read: forbidden');
      expect(outcome.reason).not.toContain(token);
    }
    const one = await check(
      'deployment-exists',
      'rollout-status',
      { namespace: ns, deployment: 'web' },
      unprivileged,
    );
    expect(one.reason).toMatch(
      /^Deployment pc\/web cannot be read: forbidden: deployments\.apps "web" is forbidden: User "system:serviceaccount:pc:builder"/,
    );
  });

  it('a token the server does not accept (401) and an API server that is down both fail', async () => {
    const bogus = await check('node-exists', 'cordon-node', { node: 'node-a' }, tokenApis('not-a-token'));
    expect(bogus).toEqual({
      status: 'fail',
      reason: 'node node-a cannot be read: unauthorized (the credential was not accepted)',
    });
    const down = await check(
      'pod-exists',
      'delete-pod',
      { namespace: ns, pod: 'web-1' },
      tokenApis('x', 'https://127.0.0.1:1'),
    );
    expect(down.status).toBe('fail');
    expect(down.reason).toMatch(/^pod pc\/web-1 cannot be read: .*ECONNREFUSED/);
  });

  it('an abort during the reads stops the precheck with the signal reason', async () => {
    const controller = new AbortController();
    const running = runPrecheck(
      'spare-capacity',
      executionRequest('drain-node', { node: 'node-a' }),
      apis,
      controller.signal,
    );
    controller.abort(new Error('operator cancelled'));
    await expect(running).rejects.toThrow('operator cancelled');
  });
});

describe('the read rights the prechecks need', () => {
  const P = { namespace: ns };
  const cases: [string, string, Record<string, unknown>][] = [
    ['namespace-exists', 'delete-namespace', P],
    ['namespace-absent', 'create-namespace', { namespace: 'brand-new' }],
    ['not-system-namespace', 'delete-namespace', P],
    ['inventory-of-contents', 'delete-namespace', P],
    ['no-persistent-volumes-retained', 'delete-namespace', { namespace: 'store' }],
    ['cni-enforces-policies', 'apply-network-policy', { ...P, policy_name: 'p', pod_selector: 'app=web' }],
    ['selected-pods', 'apply-network-policy', { ...P, policy_name: 'p', pod_selector: 'app=web' }],
    ['dns-egress', 'apply-network-policy', { ...P, policy_name: 'p', pod_selector: 'app=web' }],
    ['node-exists', 'cordon-node', { node: 'node-a' }],
    ['node-cordoned', 'uncordon-node', { node: 'node-d' }],
    ['node-healthy', 'uncordon-node', { node: 'node-d' }],
    ['spare-capacity', 'drain-node', { node: 'node-a' }],
    ['unmanaged-pods', 'drain-node', { node: 'node-a' }],
    ['disruption-budgets', 'drain-node', { node: 'node-a' }],
    ['pod-exists', 'delete-pod', { ...P, pod: 'web-1' }],
    ['has-owner', 'delete-pod', { ...P, pod: 'web-1' }],
    ['disruption-budget', 'delete-pod', { ...P, pod: 'web-1' }],
    ['pod-running', 'exec-pod', { ...P, pod: 'web-1', command: ['cat', '/etc/hostname'] }],
    ['command-allowed', 'exec-pod', { ...P, pod: 'web-1', command: ['cat', '/etc/hostname'] }],
    ['container-exists', 'get-pod-logs', { ...P, pod: 'web-1' }],
    ['remote-port-declared', 'port-forward', { ...P, pod: 'web-1', local_port: 18081, remote_port: 8080 }],
    ['local-port-free', 'port-forward', { ...P, pod: 'web-1', local_port: 18081, remote_port: 8080 }],
    ['configmap-exists', 'get-configmap', { ...P, configmap: 'settings' }],
    ['not-immutable', 'update-configmap', { ...P, configmap: 'settings', key: 'a', value: 'b' }],
    ['consumers', 'update-configmap', { ...P, configmap: 'settings', key: 'a', value: 'b' }],
    ['secret-exists', 'get-secret', { ...P, secret: 'api-key' }],
    ['not-service-account-token', 'get-secret', { ...P, secret: 'api-key' }],
    ['deployment-exists', 'restart-deployment', { ...P, deployment: 'web' }],
    ['enough-replicas', 'restart-deployment', { ...P, deployment: 'web' }],
    ['no-rollout-in-progress', 'restart-deployment', { ...P, deployment: 'web' }],
    ['revision-in-history', 'rollout-undo', { ...P, deployment: 'web' }],
    ['not-paused', 'rollout-undo', { ...P, deployment: 'web' }],
    ['hpa-not-managing', 'scale-deployment', { ...P, deployment: 'web', replicas: 4 }],
    ['quota-allows', 'scale-deployment', { namespace: quotaNs, deployment: 'api', replicas: 4 }],
    ['image-resolvable', 'update-image', { ...P, deployment: 'web', container: 'web', image: 'nginx:1.28' }],
    ['hpa-exists', 'scale-hpa', { namespace: quotaNs, hpa: 'api-hpa', min_replicas: 1, max_replicas: 4 }],
    ['bounds-ordered', 'scale-hpa', { namespace: quotaNs, hpa: 'api-hpa', min_replicas: 1, max_replicas: 4 }],
    [
      'some-target-given',
      'update-hpa-limits',
      { namespace: quotaNs, hpa: 'api-hpa', target_cpu_percent: 60 },
    ],
    [
      'metric-configured',
      'update-hpa-limits',
      { namespace: quotaNs, hpa: 'api-hpa', target_cpu_percent: 60 },
    ],
  ];

  it('covers every precheck', () => {
    expect([...new Set(cases.map(([name]) => name))].sort()).toEqual([...KUBERNETES_PRECHECKS]);
  });

  it('an identity bound to exactly PRECHECK_READ_RULES gets the same outcome as the admin, for every precheck', async () => {
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    await apis.core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'checker' } },
    });
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'agent-safe-prechecks' },
        rules: PRECHECK_READ_RULES.map((rule) => ({
          apiGroups: [...rule.apiGroups],
          resources: [...rule.resources],
          verbs: [...rule.verbs],
        })),
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'agent-safe-prechecks' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agent-safe-prechecks' },
        subjects: [{ kind: 'ServiceAccount', name: 'checker', namespace: ns }],
      },
    });
    const minted = await apis.core.createNamespacedServiceAccountToken({
      name: 'checker',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const checker = tokenApis(minted.status?.token as string);
    // The authorizer sees new bindings through an informer: allow it a moment.
    for (let i = 0; i < 50; i += 1) {
      if ((await check('node-exists', 'cordon-node', { node: 'node-a' }, checker)).status === 'pass') break;
      await new Promise((wait) => setTimeout(wait, 100));
    }
    for (const [name, action, params] of cases) {
      const asAdmin = await check(name, action, params);
      const asChecker = await check(name, action, params, checker);
      expect({ name, action, outcome: asChecker }).toEqual({ name, action, outcome: asAdmin });
    }
  });
});
