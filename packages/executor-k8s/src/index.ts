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
