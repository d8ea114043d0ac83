import { createServer } from 'node:net';
import type { ExecutionRequest } from '@agent-safe/core';
import type { ConfigurationOptions, V1ConfigMap, V1Pod, V1PodSpec, V1Secret } from '@kubernetes/client-node';
import type { KubernetesApis } from './apis.js';
import {
  type Check,
  controllerOf,
  fail,
  integerParam,
  items,
  LIST_LIMIT,
  listAll,
  nameList,
  optionalText,
  pass,
  plural,
  podReady,
  PrecheckStop,
  quote,
  read,
  namespacedObject,
  selectorMatches,
  textParam,
  warn,
} from './precheck-support.js';

/** Namespace, pod, ConfigMap, Secret and NetworkPolicy prechecks. */

/** The namespaces Kubernetes itself depends on; deleting one breaks the cluster. */
export const SYSTEM_NAMESPACES: readonly string[] = [
  'default',
  'kube-system',
  'kube-public',
  'kube-node-lease',
];

// ---------------------------------------------------------------- namespaces

/** namespace-exists: the namespace exists and is not terminating. */
export const namespaceExists: Check = async (request, apis, signal) => {
  const name = textParam(request, 'namespace');
  const namespace = await read(signal, `namespace ${quote(name)}`, (options) =>
    apis.core.readNamespace({ name }, options),
  );
  if (namespace.metadata?.deletionTimestamp || namespace.status?.phase === 'Terminating') {
    return fail(`namespace ${quote(name)} is already terminating`);
  }
  return pass(`namespace ${quote(name)} exists (${quote(namespace.status?.phase ?? 'Active', 40)})`);
};

/** namespace-absent: no namespace of that name, not even a terminating one. */
export const namespaceAbsent: Check = async (request, apis, signal) => {
  const name = textParam(request, 'namespace');
  const namespace = await read(
    signal,
    `namespace ${quote(name)}`,
    (options) => apis.core.readNamespace({ name }, options),
    true,
  );
  if (namespace === undefined) return pass(`no namespace ${quote(name)} exists yet`);
  const terminating = namespace.metadata?.deletionTimestamp || namespace.status?.phase === 'Terminating';
  return fail(`namespace ${quote(name)} already exists${terminating ? ' and is still terminating' : ''}`);
};

/** not-system-namespace: refuses default, kube-system, kube-public, kube-node-lease and any other kube-*. */
export const notSystemNamespace: Check = async (request) => {
  const name = textParam(request, 'namespace');
  if (SYSTEM_NAMESPACES.includes(name) || name.startsWith('kube-')) {
    return fail(`namespace ${quote(name)} is a system namespace the cluster depends on`);
  }
  return pass(`namespace ${quote(name)} is not a system namespace`);
};

/** Objects Kubernetes puts in every namespace; they say nothing about what a deletion destroys. */
const BUILT_IN: Readonly<Record<string, readonly string[]>> = {
  ConfigMaps: ['kube-root-ca.crt'],
  ServiceAccounts: ['default'],
};

type NamedList = (
  options: ConfigurationOptions,
) => Promise<{ items?: { metadata?: { name?: string } }[]; metadata?: { _continue?: string } }>;

/** inventory-of-contents: counts what the namespace holds (a warning when it holds anything). */
export const inventoryOfContents: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  const page = { namespace, limit: LIST_LIMIT };
  const kinds: [string, NamedList][] = [
    ['Pods', (options) => apis.core.listNamespacedPod(page, options)],
    ['Deployments', (options) => apis.apps.listNamespacedDeployment(page, options)],
    ['StatefulSets', (options) => apis.apps.listNamespacedStatefulSet(page, options)],
    ['DaemonSets', (options) => apis.apps.listNamespacedDaemonSet(page, options)],
    ['ReplicaSets', (options) => apis.apps.listNamespacedReplicaSet(page, options)],
    ['Services', (options) => apis.core.listNamespacedService(page, options)],
    ['PersistentVolumeClaims', (options) => apis.core.listNamespacedPersistentVolumeClaim(page, options)],
    ['ConfigMaps', (options) => apis.core.listNamespacedConfigMap(page, options)],
    ['Secrets', (options) => apis.core.listNamespacedSecret(page, options)],
    ['ServiceAccounts', (options) => apis.core.listNamespacedServiceAccount(page, options)],
    [
      'HorizontalPodAutoscalers',
      (options) => apis.autoscaling.listNamespacedHorizontalPodAutoscaler(page, options),
    ],
    ['PodDisruptionBudgets', (options) => apis.policy.listNamespacedPodDisruptionBudget(page, options)],
    ['NetworkPolicies', (options) => apis.networking.listNamespacedNetworkPolicy(page, options)],
    ['Ingresses', (options) => apis.networking.listNamespacedIngress(page, options)],
  ];
  const counts: string[] = [];
  for (const [kind, call] of kinds) {
    const list = await read(signal, `the ${kind} of namespace ${quote(namespace)}`, call);
    const names = (list.items ?? [])
      .map((item) => item.metadata?.name ?? '')
      .filter((name) => !(BUILT_IN[kind] ?? []).includes(name));
    const more = list.metadata?._continue ? '+' : '';
    if (names.length > 0) counts.push(`${names.length}${more} ${kind}`);
  }
  if (counts.length === 0)
    return pass(`namespace ${quote(namespace)} holds nothing but its built-in objects`);
  return warn(`deleting namespace ${quote(namespace)} destroys ${counts.join(', ')}`);
};

/**
 * no-persistent-volumes-retained: warns about bound claims whose PersistentVolume has the Delete
 * reclaim policy (deleting the namespace deletes their data); Retain volumes are named as kept.
 */
export const noPersistentVolumesRetained: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  const claims = await listAll(
    signal,
    `the PersistentVolumeClaims of namespace ${quote(namespace)}`,
    (page, options) => apis.core.listNamespacedPersistentVolumeClaim({ namespace, ...page }, options),
  );
  if (claims.length === 0) return pass(`namespace ${quote(namespace)} has no PersistentVolumeClaims`);
  const deleted: string[] = [];
  const kept: string[] = [];
  const unbound: string[] = [];
  for (const claim of claims) {
    const claimName = claim.metadata?.name ?? '';
    const volumeName = claim.spec?.volumeName;
    if (!volumeName) {
      unbound.push(claimName);
      continue;
    }
    const volume = await read(
      signal,
      `PersistentVolume ${quote(volumeName)} (of claim ${quote(claimName)})`,
      (options) => apis.core.readPersistentVolume({ name: volumeName }, options),
      true,
    );
    const policy = volume?.spec?.persistentVolumeReclaimPolicy ?? 'Delete';
    (policy === 'Retain' ? kept : deleted).push(`${claimName} (${volumeName})`);
  }
  const parts: string[] = [];
  if (deleted.length > 0)
    parts.push(
      `${plural(deleted.length, 'claim')} ${deleted.length === 1 ? 'loses its' : 'lose their'} data (reclaim policy Delete): ${nameList(deleted)}`,
    );
  if (kept.length > 0) parts.push(`${plural(kept.length, 'volume')} kept (Retain): ${nameList(kept)}`);
  if (unbound.length > 0) parts.push(`${plural(unbound.length, 'unbound claim')}: ${nameList(unbound)}`);
  return deleted.length > 0 ? warn(parts.join('; ')) : pass(parts.join('; '));
};

// ---------------------------------------------------------------- pods

const { read: readPod, label: podLabel } = namespacedObject<V1Pod>('pod', 'pod', (apis, object, options) =>
  apis.core.readNamespacedPod(object, options),
);

/** pod-exists: the pod can be read (one being deleted is a warning). */
export const podExists: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  if (pod.metadata?.deletionTimestamp)
    return warn(`pod ${podLabel(request)} exists but is already terminating`);
  return pass(`pod ${podLabel(request)} exists (phase ${quote(pod.status?.phase ?? 'unknown', 40)})`);
};

/** has-owner: a controlling owner reference exists, so a replacement is created. */
export const hasOwner: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  const owner = controllerOf(pod);
  if (owner === undefined) {
    return fail(`pod ${podLabel(request)} has no controller: deleted, it is gone for good (no replacement)`);
  }
  return pass(
    `pod ${podLabel(request)} is controlled by ${quote(owner.kind, 60)} ${quote(owner.name, 253)}, which replaces it`,
  );
};

/**
 * disruption-budget: a plain delete bypasses PodDisruptionBudgets, so this checks what the Eviction
 * API would: every budget covering a Ready pod must allow at least one disruption.
 */
export const disruptionBudget: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  const namespace = textParam(request, 'namespace');
  const budgets = await listAll(
    signal,
    `the PodDisruptionBudgets of namespace ${quote(namespace)}`,
    (page, options) => apis.policy.listNamespacedPodDisruptionBudget({ namespace, ...page }, options),
  );
  const covering = budgets.filter((budget) => selectorMatches(budget.spec?.selector, pod.metadata?.labels));
  if (covering.length === 0) return pass(`no PodDisruptionBudget covers pod ${podLabel(request)}`);
  if (!podReady(pod)) {
    return pass(
      `pod ${podLabel(request)} is not Ready, so deleting it does not reduce the healthy count of ${nameList(covering.map((b) => b.metadata?.name ?? ''))}`,
    );
  }
  const blocking = covering
    .filter(
      (budget) =>
        !(typeof budget.status?.disruptionsAllowed === 'number' && budget.status.disruptionsAllowed >= 1),
    )
    .map(
      (budget) =>
        `${budget.metadata?.name ?? ''} (disruptionsAllowed ${budget.status?.disruptionsAllowed ?? 'unknown'})`,
    );
  if (blocking.length > 0) {
    return fail(`deleting pod ${podLabel(request)} would break PodDisruptionBudget ${nameList(blocking)}`);
  }
  return pass(
    `PodDisruptionBudget ${nameList(covering.map((b) => b.metadata?.name ?? ''))} allows one more disruption`,
  );
};

function containerNames(spec: V1PodSpec | undefined): string[] {
  return (spec?.containers ?? []).map((container) => container.name);
}

/**
 * pod-running: phase Running; for exec-pod also the chosen container (the param, else the first) is
 * ready.
 */
export const podRunning: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  const phase = pod.status?.phase ?? 'unknown';
  if (pod.metadata?.deletionTimestamp) return fail(`pod ${podLabel(request)} is terminating`);
  if (phase !== 'Running') return fail(`pod ${podLabel(request)} is ${quote(phase, 40)}, not Running`);
  if (request.action.name !== 'exec-pod') return pass(`pod ${podLabel(request)} is Running`);
  const named = optionalText(request, 'container');
  const container = named ?? containerNames(pod.spec)[0];
  if (container === undefined) return fail(`pod ${podLabel(request)} has no containers`);
  if (!containerNames(pod.spec).includes(container)) {
    return fail(
      `pod ${podLabel(request)} has no container ${quote(container, 63)}; it has ${nameList(containerNames(pod.spec))}`,
    );
  }
  const status = pod.status?.containerStatuses?.find((entry) => entry.name === container);
  if (status?.ready !== true)
    return fail(`container ${quote(container, 63)} of pod ${podLabel(request)} is not ready`);
  return pass(`pod ${podLabel(request)} is Running and container ${quote(container, 63)} is ready`);
};

/**
 * container-exists. get-pod-logs: the named container is in the pod (init and ephemeral containers
 * count), and a pod of several containers needs one named. update-image: the Deployment's pod
 * template has the container.
 */
export const podContainerExists: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  const named = optionalText(request, 'container');
  const regular = containerNames(pod.spec);
  const all = [
    ...regular,
    ...(pod.spec?.initContainers ?? []).map((container) => container.name),
    ...(pod.spec?.ephemeralContainers ?? []).map((container) => container.name),
  ];
  if (named === undefined) {
    return regular.length === 1
      ? pass(`pod ${podLabel(request)} has one container, ${quote(regular[0] ?? '', 63)}`)
      : fail(
          `pod ${podLabel(request)} runs ${plural(regular.length, 'container')} (${nameList(regular)}): name one with the container param`,
        );
  }
  return all.includes(named)
    ? pass(`pod ${podLabel(request)} has container ${quote(named, 63)}`)
    : fail(`pod ${podLabel(request)} has no container ${quote(named, 63)}; it has ${nameList(all)}`);
};

/** remote-port-declared: some container declares the port (a warning otherwise: it may still listen). */
export const remotePortDeclared: Check = async (request, apis, signal) => {
  const pod = await readPod(request, apis, signal);
  const port = integerParam(request, 'remote_port');
  const declared = (pod.spec?.containers ?? []).flatMap((container) =>
    (container.ports ?? []).map((entry) => ({ container: container.name, port: entry.containerPort })),
  );
  const hit = declared.find((entry) => entry.port === port);
  if (hit)
    return pass(`container ${quote(hit.container, 63)} of pod ${podLabel(request)} declares port ${port}`);
  return warn(
    `no container of pod ${podLabel(request)} declares port ${port}${declared.length > 0 ? ` (declared: ${declared.map((entry) => entry.port).join(', ')})` : ''}; the tunnel works only if something listens there`,
  );
};

/**
 * local-port-free: tries to listen on 127.0.0.1:<local_port> on this host (the runner's) and closes
 * at once. In use: fail. Free: pass, naming the host, since the tunnel may be opened elsewhere.
 */
export const localPortFree: Check = async (request, _apis, signal) => {
  const port = integerParam(request, 'local_port');
  if (port < 1024 || port > 65535) return fail(`local_port ${port} is outside 1024-65535`);
  signal.throwIfAborted();
  const problem = await new Promise<string | undefined>((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (problem === undefined) return pass(`local port ${port} is free on this host (127.0.0.1) at check time`);
  return fail(
    problem === 'EADDRINUSE'
      ? `local port ${port} is already in use on this host`
      : `local port ${port} cannot be opened on this host (${quote(problem, 80)})`,
  );
};

// ---------------------------------------------------------------- ConfigMaps and Secrets

const { read: readConfigMap, label: configMapLabel } = namespacedObject<V1ConfigMap>(
  'ConfigMap',
  'configmap',
  (apis, object, options) => apis.core.readNamespacedConfigMap(object, options),
);

/** configmap-exists: readable; for get-configmap a named key must be in it. */
export const configMapExists: Check = async (request, apis, signal) => {
  const configMap = await readConfigMap(request, apis, signal);
  const keys = [...Object.keys(configMap.data ?? {}), ...Object.keys(configMap.binaryData ?? {})];
  const key = request.action.name === 'get-configmap' ? optionalText(request, 'key') : undefined;
  if (key !== undefined && !keys.includes(key)) {
    return fail(
      `ConfigMap ${configMapLabel(request)} has no key ${quote(key, 253)}${keys.length > 0 ? `; it has ${nameList(keys)}` : ''}`,
    );
  }
  return pass(`ConfigMap ${configMapLabel(request)} exists (${plural(keys.length, 'key')})`);
};

/** not-immutable: an immutable ConfigMap cannot be patched. */
export const notImmutable: Check = async (request, apis, signal) => {
  const configMap = await readConfigMap(request, apis, signal);
  return configMap.immutable === true
    ? fail(`ConfigMap ${configMapLabel(request)} is immutable: it can only be deleted and recreated`)
    : pass(`ConfigMap ${configMapLabel(request)} is not immutable`);
};

function configMapUses(spec: V1PodSpec | undefined, name: string): string[] {
  const uses = new Set<string>();
  for (const volume of spec?.volumes ?? []) {
    if (volume.configMap?.name === name) uses.add('volume');
    if (volume.projected?.sources?.some((source) => source.configMap?.name === name)) uses.add('volume');
  }
  const containers = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  for (const container of containers) {
    if (container.envFrom?.some((source) => source.configMapRef?.name === name)) uses.add('env');
    if (container.env?.some((variable) => variable.valueFrom?.configMapKeyRef?.name === name))
      uses.add('env');
  }
  return [...uses];
}

/** consumers: lists the pods that mount or reference the ConfigMap (a warning when there are any). */
export const consumers: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  const name = textParam(request, 'configmap');
  const pods = await listAll(signal, `the pods of namespace ${quote(namespace)}`, (page, options) =>
    apis.core.listNamespacedPod({ namespace, ...page }, options),
  );
  const volume: string[] = [];
  const env: string[] = [];
  for (const pod of pods) {
    const uses = configMapUses(pod.spec, name);
    if (uses.includes('volume')) volume.push(pod.metadata?.name ?? '');
    if (uses.includes('env')) env.push(pod.metadata?.name ?? '');
  }
  if (volume.length === 0 && env.length === 0)
    return pass(`no pod uses ConfigMap ${configMapLabel(request)}`);
  const parts: string[] = [];
  if (volume.length > 0)
    parts.push(
      `${plural(volume.length, 'pod')} ${volume.length === 1 ? 'mounts' : 'mount'} it and see the change after the kubelet syncs: ${nameList(volume)}`,
    );
  if (env.length > 0)
    parts.push(
      `${plural(env.length, 'pod')} ${env.length === 1 ? 'reads' : 'read'} it as environment and see it only after a restart: ${nameList(env)}`,
    );
  return warn(`ConfigMap ${configMapLabel(request)} is in use: ${parts.join('; ')}`);
};

const { read: readSecret, label: secretLabel } = namespacedObject<V1Secret>(
  'Secret',
  'secret',
  (apis, object, options) => apis.core.readNamespacedSecret(object, options),
);

async function readSecretMeta(
  request: ExecutionRequest,
  apis: KubernetesApis,
  signal: AbortSignal,
): Promise<{ type: string; keys: string[] }> {
  const secret = await readSecret(request, apis, signal);
  // Only the type and the key names leave this function: the values are never kept or printed.
  return {
    type: secret.type ?? 'Opaque',
    keys: [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})],
  };
}

/** secret-exists: readable; a named key must be in it. Values are never read into the reason. */
export const secretExists: Check = async (request, apis, signal) => {
  const { type, keys } = await readSecretMeta(request, apis, signal);
  const key = optionalText(request, 'key');
  if (key !== undefined && !keys.includes(key)) {
    return fail(
      `Secret ${secretLabel(request)} has no key ${quote(key, 253)}${keys.length > 0 ? `; it has ${nameList(keys)}` : ''}`,
    );
  }
  return pass(
    `Secret ${secretLabel(request)} exists (type ${quote(type, 100)}, ${plural(keys.length, 'key')})`,
  );
};

/** Secret types whose content is a credential for the cluster's own API. */
const API_CREDENTIAL_TYPES = ['kubernetes.io/service-account-token', 'bootstrap.kubernetes.io/token'];

/** not-service-account-token: refuses ServiceAccount tokens (and bootstrap tokens, which also grant API access). */
export const notServiceAccountToken: Check = async (request, apis, signal) => {
  const { type } = await readSecretMeta(request, apis, signal);
  return API_CREDENTIAL_TYPES.includes(type)
    ? fail(
        `Secret ${secretLabel(request)} is of type ${quote(type, 100)}: it is a token for the cluster's API`,
      )
    : pass(`Secret ${secretLabel(request)} is of type ${quote(type, 100)}, not an API token`);
};

// ---------------------------------------------------------------- NetworkPolicy

/** selected-pods: lists the pods the selector matches today (none is a warning: a typo?). */
export const selectedPods: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  const selector = textParam(request, 'pod_selector');
  const list = await read(
    signal,
    `the pods of namespace ${quote(namespace)} matching ${quote(selector, 200)}`,
    (options) =>
      apis.core.listNamespacedPod({ namespace, labelSelector: selector, limit: LIST_LIMIT }, options),
  );
  const names = items(list, 'pods', true).map((pod) => pod.metadata?.name ?? '');
  const more = list.metadata?._continue ? ' (first page)' : '';
  if (names.length === 0) {
    return warn(
      `selector ${quote(selector, 200)} matches no pod in namespace ${quote(namespace)} today: the policy would affect nothing yet`,
    );
  }
  return pass(
    `selector ${quote(selector, 200)} matches ${plural(names.length, 'pod')}${more} in namespace ${quote(namespace)}: ${nameList(names)}`,
  );
};

interface PolicyPort {
  readonly port?: unknown;
  readonly endPort?: unknown;
  readonly protocol?: unknown;
}

function allowsDns(rule: unknown): boolean {
  if (typeof rule !== 'object' || rule === null) return false;
  const ports = (rule as { ports?: unknown }).ports;
  if (ports === undefined || ports === null || (Array.isArray(ports) && ports.length === 0)) return true;
  if (!Array.isArray(ports)) return false;
  return ports.some((entry: PolicyPort) => {
    if (typeof entry !== 'object' || entry === null) return false;
    if (entry.protocol !== undefined && entry.protocol !== 'UDP' && entry.protocol !== 'TCP') return false;
    if (entry.port === undefined) return true; // every port of the protocol
    if (entry.port === 'dns' || entry.port === 'dns-tcp' || entry.port === '53') return true;
    if (typeof entry.port !== 'number') return false;
    const end = typeof entry.endPort === 'number' ? entry.endPort : entry.port;
    return entry.port <= 53 && 53 <= end;
  });
}

/** dns-egress: when Egress is governed, some egress rule must allow port 53 (a warning otherwise). */
export const dnsEgress: Check = async (request) => {
  const types = optionalText(request, 'policy_types') ?? 'Ingress';
  if (!types.split(',').includes('Egress'))
    return pass('the policy does not govern Egress, so DNS is not affected');
  const egress = request.params.egress;
  if (egress !== undefined && !Array.isArray(egress))
    throw new PrecheckStop(fail('param "egress" must be a list of rules'));
  const rules = (egress ?? []) as unknown[];
  if (rules.length === 0) {
    return warn(
      'the policy governs Egress with no egress rule: all egress is denied, DNS (port 53) included, so name resolution breaks',
    );
  }
  return rules.some(allowsDns)
    ? pass('an egress rule allows port 53, so DNS keeps working (its destinations are not checked)')
    : warn(
        `none of the ${plural(rules.length, 'egress rule')} allows port 53: name resolution of the selected pods breaks`,
      );
};

/** Network plugins that can enforce NetworkPolicy, by the DaemonSet names they install in kube-system. */
const ENFORCING_PLUGINS: readonly [string, RegExp][] = [
  ['Calico', /^calico-node$/],
  ['Cilium', /^cilium$/],
  ['Antrea', /^antrea-agent$/],
  ['Weave Net', /^weave-net$/],
  ['kube-router', /^kube-router$/],
  ['Canal', /^canal$/],
  ['kube-network-policies', /^kube-network-policies$/],
];

/**
 * cni-enforces-policies: the API cannot say whether the network plugin enforces NetworkPolicy, so this
 * is always a warning; it names the enforcing plugin it recognises among kube-system's DaemonSets.
 */
export const cniEnforcesPolicies: Check = async (_request, apis, signal) => {
  let found: string[] | undefined;
  try {
    const daemonSets = await listAll(signal, 'the DaemonSets of kube-system', (page, options) =>
      apis.apps.listNamespacedDaemonSet({ namespace: 'kube-system', ...page }, options),
    );
    found = ENFORCING_PLUGINS.filter(([, pattern]) =>
      daemonSets.some((ds) => pattern.test(ds.metadata?.name ?? '')),
    ).map(([plugin]) => plugin);
  } catch (error) {
    if (!(error instanceof PrecheckStop)) throw error;
  }
  const base =
    'not verified: the Kubernetes API does not say whether the network plugin enforces NetworkPolicy';
  if (found === undefined)
    return warn(`${base} (kube-system's DaemonSets could not be read to recognise it)`);
  if (found.length === 0) {
    return warn(
      `${base}, and kube-system runs none of the plugins known to (${ENFORCING_PLUGINS.map(([p]) => p).join(', ')}): the policy may be silently ignored`,
    );
  }
  return warn(`${base}; kube-system runs ${found.join(', ')}, which can, if its policy enforcement is on`);
};
