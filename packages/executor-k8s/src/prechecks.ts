import type { ExecutionRequest, PrecheckOutcome } from '@agent-safe/core';
import type { KubernetesApis } from './apis.js';
import { commandAllowed, type PrecheckOptions } from './precheck-exec.js';
import {
  disruptionBudgets,
  nodeCordoned,
  nodeExists,
  nodeHealthy,
  spareCapacity,
  unmanagedPods,
} from './precheck-nodes.js';
import {
  cniEnforcesPolicies,
  configMapExists,
  consumers,
  disruptionBudget,
  dnsEgress,
  hasOwner,
  inventoryOfContents,
  localPortFree,
  namespaceAbsent,
  namespaceExists,
  noPersistentVolumesRetained,
  notImmutable,
  notServiceAccountToken,
  notSystemNamespace,
  podContainerExists,
  podExists,
  podRunning,
  remotePortDeclared,
  secretExists,
  selectedPods,
} from './precheck-objects.js';
import { apiErrorText, fail, PrecheckStop, quote } from './precheck-support.js';
import {
  boundsOrdered,
  deploymentContainerExists,
  deploymentExists,
  enoughReplicas,
  hpaExists,
  hpaNotManaging,
  imageResolvable,
  metricConfigured,
  noRolloutInProgress,
  notPaused,
  quotaAllows,
  revisionInHistory,
  someTargetGiven,
} from './precheck-workloads.js';

export type { PrecheckOptions } from './precheck-exec.js';

type Implementation = (
  request: ExecutionRequest,
  apis: KubernetesApis,
  signal: AbortSignal,
  options: PrecheckOptions,
) => Promise<PrecheckOutcome> | PrecheckOutcome;

/**
 * Every precheck the Kubernetes catalogue names. Where two actions share a name the check reads the
 * action (container-exists is about a pod for get-pod-logs and a pod template for update-image).
 * The pass / warn / fail rule of each is in docs/enforcement.md ("Prechecks").
 */
const IMPLEMENTATIONS: Readonly<Record<string, Implementation>> = {
  // namespaces
  'namespace-exists': namespaceExists,
  'namespace-absent': namespaceAbsent,
  'not-system-namespace': notSystemNamespace,
  'inventory-of-contents': inventoryOfContents,
  'no-persistent-volumes-retained': noPersistentVolumesRetained,
  // network policies
  'cni-enforces-policies': cniEnforcesPolicies,
  'selected-pods': selectedPods,
  'dns-egress': dnsEgress,
  // nodes
  'node-exists': nodeExists,
  'node-cordoned': nodeCordoned,
  'node-healthy': nodeHealthy,
  'spare-capacity': spareCapacity,
  'unmanaged-pods': unmanagedPods,
  'disruption-budgets': disruptionBudgets,
  // pods
  'pod-exists': podExists,
  'pod-running': podRunning,
  'has-owner': hasOwner,
  'disruption-budget': disruptionBudget,
  'container-exists': (request, apis, signal) =>
    request.action.name === 'update-image' || request.params.deployment !== undefined
      ? deploymentContainerExists(request, apis, signal)
      : podContainerExists(request, apis, signal),
  'command-allowed': (request, _apis, _signal, options) => commandAllowed(request, options),
  'remote-port-declared': remotePortDeclared,
  'local-port-free': localPortFree,
  // ConfigMaps and Secrets
  'configmap-exists': configMapExists,
  'not-immutable': notImmutable,
  consumers,
  'secret-exists': secretExists,
  'not-service-account-token': notServiceAccountToken,
  // Deployments
  'deployment-exists': deploymentExists,
  'enough-replicas': enoughReplicas,
  'no-rollout-in-progress': noRolloutInProgress,
  'revision-in-history': revisionInHistory,
  'not-paused': notPaused,
  'hpa-not-managing': hpaNotManaging,
  'quota-allows': quotaAllows,
  'image-resolvable': imageResolvable,
  // HorizontalPodAutoscalers
  'hpa-exists': hpaExists,
  'bounds-ordered': boundsOrdered,
  'some-target-given': someTargetGiven,
  'metric-configured': metricConfigured,
};

/** Longest reason returned (lists inside are already cut to ten names each). */
const REASON_MAX = 2000;

/** One RBAC rule (the shape of a Role's or ClusterRole's `rules` entry). */
export interface PrecheckReadRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * Everything the prechecks read: bind these rules (in a ClusterRole) to the identity that runs them.
 * Read-only, but it includes listing Secrets (inventory-of-contents counts them) and reading every
 * pod and node, so keep that identity to the runner.
 */
export const PRECHECK_READ_RULES: readonly PrecheckReadRule[] = Object.freeze([
  {
    apiGroups: [''],
    resources: [
      'namespaces',
      'nodes',
      'pods',
      'persistentvolumeclaims',
      'persistentvolumes',
      'configmaps',
      'secrets',
      'serviceaccounts',
      'services',
      'resourcequotas',
    ],
    verbs: ['get', 'list'],
  },
  {
    apiGroups: ['apps'],
    resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'],
    verbs: ['get', 'list'],
  },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['get', 'list'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: ['get', 'list'] },
]);

/** The name of every precheck {@link runPrecheck} implements. */
export const KUBERNETES_PRECHECKS: readonly string[] = Object.freeze(Object.keys(IMPLEMENTATIONS).sort());

/**
 * Runs one named precheck of a catalogue action against the cluster behind `apis`.
 *
 * Never passes what it could not check: an unknown name, a read that fails (403, API down) or a
 * malformed param is a `fail` with a one-line reason naming the object. Reasons quote server text
 * escaped and cut. An aborted `signal` stops the work and rejects with the signal's reason.
 */
export async function runPrecheck(
  name: string,
  request: ExecutionRequest,
  apis: KubernetesApis,
  signal: AbortSignal,
  options: PrecheckOptions = {},
): Promise<PrecheckOutcome> {
  signal.throwIfAborted();
  const implementation =
    typeof name === 'string' && Object.hasOwn(IMPLEMENTATIONS, name) ? IMPLEMENTATIONS[name] : undefined;
  if (implementation === undefined) {
    return fail(
      `the Kubernetes executor has no precheck named "${quote(String(name), 120)}": it cannot pass`,
    );
  }
  try {
    const outcome = await implementation(request, apis, signal, options);
    signal.throwIfAborted();
    return outcome.reason.length > REASON_MAX
      ? { status: outcome.status, reason: `${outcome.reason.slice(0, REASON_MAX)}…` }
      : outcome;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (error instanceof PrecheckStop) return error.outcome;
    return fail(`precheck ${name} could not run: ${apiErrorText(error)}`);
  }
}
