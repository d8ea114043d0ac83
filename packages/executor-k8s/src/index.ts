/**
 * @agent-safe/executor-k8s: runs approved actions through the Kubernetes API.
 *
 * `@kubernetes/client-node` is loaded only when a Kubernetes executor is used ({@link loadKubernetesClient}),
 * so importing this package costs nothing for projects that never touch a cluster.
 */
export {
  type KubeconfigOptions,
  type KubernetesClientModule,
  KUBECONFIG_MAX_BYTES,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from './client.js';
export { type KubernetesApis, kubernetesApis } from './apis.js';
export { MAX_LOG_OUTPUT, STREAMING_ACTIONS } from './actions.js';
export type { DrainReport, PodNotEvicted } from './drain.js';
export {
  createKubernetesExecutor,
  KubernetesExecutor,
  type KubernetesExecutorOptions,
} from './kubernetes-executor.js';
export {
  KUBERNETES_PRECHECKS,
  PRECHECK_READ_RULES,
  type PrecheckOptions,
  type PrecheckReadRule,
  runPrecheck,
} from './prechecks.js';
export { type RolloutProgress, rolloutProgress } from './rollout.js';
export { KubernetesCallError } from './session.js';
