import type { ExecutionRequest, PrecheckOutcome } from '@agent-safe/core';
import type { V1Node, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { KubernetesApis } from './apis.js';
import {
  type Check,
  controllerOf,
  fail,
  formatQuantity,
  listAll,
  nameList,
  parseQuantity,
  pass,
  plural,
  podReady,
  podResources,
  quote,
  read,
  type Resources,
  selectorMatches,
  textParam,
  warn,
} from './precheck-support.js';

/** Node and drain prechecks: node-exists, node-cordoned, node-healthy, spare-capacity, unmanaged-pods, disruption-budgets. */

async function readNode(
  apis: KubernetesApis,
  request: ExecutionRequest,
  signal: AbortSignal,
): Promise<V1Node> {
  const name = textParam(request, 'node');
  return await read(signal, `node ${quote(name)}`, (options) => apis.core.readNode({ name }, options));
}

function readyCondition(node: V1Node): { status: string; reason?: string } | undefined {
  return node.status?.conditions?.find((condition) => condition.type === 'Ready');
}

function isReady(node: V1Node): boolean {
  return readyCondition(node)?.status === 'True';
}

function notReadyText(node: V1Node): string {
  const ready = readyCondition(node);
  if (ready === undefined) return 'reports no Ready condition (no kubelet has registered it)';
  return `reports Ready=${quote(ready.status, 20)}${ready.reason ? ` (${quote(ready.reason, 100)})` : ''}`;
}

/** A precheck judging the node the `node` param names, read first (`name`: its name, quoted). */
function onNode(judge: (node: V1Node, name: string, request: ExecutionRequest) => PrecheckOutcome): Check {
  return async (request, apis, signal) => {
    const node = await readNode(apis, request, signal);
    return judge(node, quote(node.metadata?.name ?? ''), request);
  };
}

/** node-exists: the node can be read; for cordon-node a node that is not Ready is a warning. */
export const nodeExists = onNode((node, name, request) => {
  if (node.metadata?.deletionTimestamp) return fail(`node ${name} is being deleted`);
  if (request.action.name === 'cordon-node' && !isReady(node)) {
    return warn(
      `node ${name} exists but ${notReadyText(node)}; cordoning it still keeps new pods off it, which is often the point`,
    );
  }
  return pass(`node ${name} exists${isReady(node) ? ' and is Ready' : ''}`);
});

/** node-cordoned: the node is unschedulable; already schedulable is a warning (nothing to do). */
export const nodeCordoned = onNode((node, name) =>
  node.spec?.unschedulable === true
    ? pass(`node ${name} is cordoned (unschedulable)`)
    : warn(`node ${name} is already schedulable: uncordoning it changes nothing`),
);

const PRESSURE = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable'];

/** node-healthy: Ready=True passes, pressure conditions warn, anything else fails. */
export const nodeHealthy = onNode((node, name) => {
  if (!isReady(node)) {
    return fail(`node ${name} ${notReadyText(node)}: pods scheduled there would not start`);
  }
  const pressure = (node.status?.conditions ?? [])
    .filter((condition) => PRESSURE.includes(condition.type) && condition.status === 'True')
    .map((condition) => condition.type);
  return pressure.length > 0
    ? warn(`node ${name} is Ready but reports ${pressure.join(', ')}`)
    : pass(`node ${name} is Ready`);
});

const podName = (pod: V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
const isTerminal = (pod: V1Pod): boolean =>
  pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
const isMirror = (pod: V1Pod): boolean =>
  Object.hasOwn(pod.metadata?.annotations ?? {}, 'kubernetes.io/config.mirror');
const isDaemonSetPod = (pod: V1Pod): boolean => controllerOf(pod)?.kind === 'DaemonSet';

/** The pods a drain of `node` evicts: not finished, not static (mirror) pods, not DaemonSet pods. */
async function evictedPods(apis: KubernetesApis, node: string, signal: AbortSignal): Promise<V1Pod[]> {
  const pods = await listAll(signal, `the pods on node ${quote(node)}`, (page, options) =>
    apis.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}`, ...page }, options),
  );
  return pods.filter((pod) => !isTerminal(pod) && !isMirror(pod) && !isDaemonSetPod(pod));
}

/** unmanaged-pods: pods the drain evicts that no controller recreates (warning, listing them). */
export const unmanagedPods: Check = async (request, apis, signal) => {
  const node = textParam(request, 'node');
  const pods = await evictedPods(apis, node, signal);
  const bare = pods.filter((pod) => controllerOf(pod) === undefined).map(podName);
  if (bare.length === 0) {
    return pass(
      `every pod the drain evicts from node ${quote(node)} has a controller (${plural(pods.length, 'pod')})`,
    );
  }
  return warn(
    `${plural(bare.length, 'pod')} on node ${quote(node)} ${bare.length === 1 ? 'has' : 'have'} no controller and will be lost, not recreated: ${nameList(bare)}`,
  );
};

/**
 * disruption-budgets: per PodDisruptionBudget, the healthy pods of the node it covers must not exceed
 * its status.disruptionsAllowed (evictions beyond that are refused with 429 until replacements are
 * Ready elsewhere, which may never happen); a pod covered by two budgets cannot be evicted at all.
 */
export const disruptionBudgets: Check = async (request, apis, signal) => {
  const node = textParam(request, 'node');
  const pods = await evictedPods(apis, node, signal);
  if (pods.length === 0) return pass(`node ${quote(node)} has no pods to evict`);
  const namespaces = [...new Set(pods.map((pod) => pod.metadata?.namespace ?? ''))].sort();
  const budgets: V1PodDisruptionBudget[] = [];
  for (const namespace of namespaces) {
    budgets.push(
      ...(await listAll(
        signal,
        `the PodDisruptionBudgets of namespace ${quote(namespace)}`,
        (page, options) => apis.policy.listNamespacedPodDisruptionBudget({ namespace, ...page }, options),
      )),
    );
  }
  const problems: string[] = [];
  const covered = new Map<V1PodDisruptionBudget, V1Pod[]>();
  for (const pod of pods) {
    const matching = budgets.filter(
      (budget) =>
        budget.metadata?.namespace === pod.metadata?.namespace &&
        selectorMatches(budget.spec?.selector, pod.metadata?.labels),
    );
    if (matching.length > 1) {
      problems.push(
        `pod ${quote(podName(pod))} is covered by ${matching.length} budgets (${nameList(matching.map((b) => b.metadata?.name ?? ''))}), so the Eviction API refuses it`,
      );
    }
    for (const budget of matching) covered.set(budget, [...(covered.get(budget) ?? []), pod]);
  }
  let evictions = 0;
  for (const [budget, covering] of covered) {
    // An evicted pod that is not Ready does not count against the budget.
    const healthy = covering.filter(podReady);
    evictions += covering.length;
    const allowed = budget.status?.disruptionsAllowed;
    const name = quote(`${budget.metadata?.namespace}/${budget.metadata?.name}`);
    if (typeof allowed !== 'number') {
      problems.push(`budget ${name} has no status yet (disruptionsAllowed unknown)`);
    } else if (healthy.length > allowed) {
      problems.push(
        `budget ${name} allows ${plural(allowed, 'disruption')} but the drain would evict ${plural(healthy.length, 'healthy pod')} it covers (${nameList(healthy.map(podName))})`,
      );
    }
  }
  if (problems.length > 0)
    return fail(`draining node ${quote(node)} would be blocked: ${problems.join('; ')}`);
  return pass(
    covered.size === 0
      ? `no PodDisruptionBudget covers the ${plural(pods.length, 'pod')} on node ${quote(node)}`
      : `PodDisruptionBudgets allow evicting the ${plural(evictions, 'pod')} they cover on node ${quote(node)} (${plural(covered.size, 'budget')})`,
  );
};

const CAPACITY_RESOURCES = ['cpu', 'memory'] as const;

function schedulable(node: V1Node): boolean {
  if (node.spec?.unschedulable === true || !isReady(node)) return false;
  return !(node.spec?.taints ?? []).some(
    (taint) => taint.effect === 'NoSchedule' || taint.effect === 'NoExecute',
  );
}

/**
 * spare-capacity: by resource requests (what the scheduler uses, readable without metrics), the other
 * schedulable, Ready, untainted nodes can hold what the node would no longer take. cordon-node: at
 * least one such node with a free pod slot; drain-node: the evicted pods' requests fit in what the
 * other nodes have left (in total, and the largest pod on one node). Affinity, topology spread and
 * tolerations are not modelled, so a pass says so.
 */
export const spareCapacity: Check = async (request, apis, signal) => {
  const target = textParam(request, 'node');
  const nodes = await listAll(signal, 'the nodes', (page, options) => apis.core.listNode(page, options));
  const others = nodes.filter((node) => node.metadata?.name !== target && schedulable(node));
  const skipped = nodes.length - others.length - (nodes.some((n) => n.metadata?.name === target) ? 1 : 0);
  const drain = request.action.name === 'drain-node';
  const evicted = drain ? await evictedPods(apis, target, signal) : [];
  if (drain && evicted.length === 0) return pass(`node ${quote(target)} has no pods to move`);
  if (others.length === 0) {
    return fail(
      `no other node is schedulable and Ready${skipped > 0 ? ` (${plural(skipped, 'other node')} cordoned, not Ready or tainted)` : ''}: ${drain ? `the ${plural(evicted.length, 'evicted pod')} would stay Pending` : 'new pods would have nowhere to go'}`,
    );
  }
  const running = await listAll(signal, 'the pods of the cluster', (page, options) =>
    apis.core.listPodForAllNamespaces(
      { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed', ...page },
      options,
    ),
  );
  const free = new Map<string, Resources>();
  for (const node of others) {
    const allocatable = node.status?.allocatable ?? {};
    const room: Resources = { pods: parseQuantity(allocatable.pods) ?? 0 };
    for (const resource of CAPACITY_RESOURCES) room[resource] = parseQuantity(allocatable[resource]) ?? 0;
    free.set(node.metadata?.name ?? '', room);
  }
  for (const pod of running) {
    const room = free.get(pod.spec?.nodeName ?? '');
    if (room === undefined) continue;
    const asks = podResources(pod.spec, 'requests');
    room.pods = (room.pods ?? 0) - 1;
    for (const resource of CAPACITY_RESOURCES) room[resource] = (room[resource] ?? 0) - (asks[resource] ?? 0);
  }
  const total: Resources = { pods: 0, cpu: 0, memory: 0 };
  for (const room of free.values()) {
    for (const resource of ['pods', ...CAPACITY_RESOURCES])
      total[resource] = (total[resource] ?? 0) + Math.max(0, room[resource] ?? 0);
  }
  const freeText = `${plural(others.length, 'other schedulable node')} with ${total.pods} pod slots, ${formatQuantity('cpu', total.cpu ?? 0)} and ${formatQuantity('memory', total.memory ?? 0)} free by requests`;
  if (!drain) {
    return (total.pods ?? 0) > 0
      ? pass(`${freeText}; affinity and tolerations not modelled`)
      : warn(`${freeText}: no pod slot is free, so new pods would stay Pending`);
  }
  const demand: Resources = { pods: evicted.length, cpu: 0, memory: 0 };
  let largest: { pod: V1Pod; asks: Resources } | undefined;
  for (const pod of evicted) {
    const asks = podResources(pod.spec, 'requests');
    for (const resource of CAPACITY_RESOURCES)
      demand[resource] = (demand[resource] ?? 0) + (asks[resource] ?? 0);
    if (
      largest === undefined ||
      (asks.cpu ?? 0) + (asks.memory ?? 0) / 2 ** 30 >
        (largest.asks.cpu ?? 0) + (largest.asks.memory ?? 0) / 2 ** 30
    )
      largest = { pod, asks };
  }
  const short = ['pods', ...CAPACITY_RESOURCES].filter(
    (resource) => (demand[resource] ?? 0) > (total[resource] ?? 0),
  );
  if (short.length > 0) {
    return fail(
      `the ${plural(evicted.length, 'evicted pod')} request ${short.map((r) => formatQuantity(r, demand[r] ?? 0)).join(', ')} but the ${freeText}`,
    );
  }
  if (
    largest !== undefined &&
    ![...free.values()].some((room) =>
      ['pods', ...CAPACITY_RESOURCES].every(
        (resource) => (room[resource] ?? 0) >= (resource === 'pods' ? 1 : (largest.asks[resource] ?? 0)),
      ),
    )
  ) {
    return fail(`no other node has room for pod ${quote(podName(largest.pod))} on its own (${freeText})`);
  }
  return pass(
    `the ${plural(evicted.length, 'evicted pod')} fit on the ${freeText}; affinity, spread and tolerations not modelled`,
  );
};
