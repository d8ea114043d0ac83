import type {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PolicyV1Api,
} from '@kubernetes/client-node';
import type { KubernetesClientModule } from './client.js';

/**
 * The typed API clients the Kubernetes executor and its prechecks use, all built on one `KubeConfig`
 * (the runner's own, or one carrying a just-in-time credential's token).
 */
export interface KubernetesApis {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly autoscaling: AutoscalingV2Api;
  readonly policy: PolicyV1Api;
  readonly networking: NetworkingV1Api;
}

/** Builds the {@link KubernetesApis} of a `KubeConfig` with the loaded client module. */
export function kubernetesApis(k8s: KubernetesClientModule, config: KubeConfig): KubernetesApis {
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    autoscaling: config.makeApiClient(k8s.AutoscalingV2Api),
    policy: config.makeApiClient(k8s.PolicyV1Api),
    networking: config.makeApiClient(k8s.NetworkingV1Api),
  };
}
