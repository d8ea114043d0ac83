import type { RequestOptions } from 'node:https';
import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';
import { type KubernetesCredentialApi, kubernetesJsonRequest } from '@agent-safe/credentials';
import {
  KUBERNETES_EXECUTOR_INSTALL,
  KUBERNETES_EXECUTOR_PACKAGE,
  type ClusterOptions,
  loadKubernetesPackage,
} from './execution-executors.js';

/** What is read of `@agent-safe/executor-k8s` (an optional peer, typed loosely). */
interface KubeconfigModule {
  readonly kubeconfigFromOptions?: (options: ClusterOptions) => Promise<{
    getCurrentCluster(): { server: string } | null;
    getCurrentContext(): string;
    applyToHTTPSOptions(options: RequestOptions): Promise<void>;
  }>;
}

/**
 * A {@link KubernetesCredentialApi} (what `KubernetesCredentialProvider` and `testKubernetesProvider`
 * call) on a kubeconfig, as kubectl and the Kubernetes executor read it: `kubeconfig` file, else
 * `$KUBECONFIG`, else `~/.kube/config`, `context`, or `inCluster`. The kubeconfig's user (token, client
 * certificate, exec plugin) authenticates; TLS is verified as the kubeconfig says. Loads
 * `@agent-safe/executor-k8s` (and `@kubernetes/client-node`) on use: a missing package is a USAGE error
 * naming the command that installs it. Answers are read bounded; server text is escaped and cut.
 */
export async function kubernetesCredentialApi(
  options: ClusterOptions & { readonly timeoutMs?: number } = {},
  load: () => Promise<unknown> = () => import('@agent-safe/executor-k8s'),
): Promise<KubernetesCredentialApi> {
  const module = (await loadKubernetesPackage(
    'Talking to a Kubernetes cluster',
    load,
  )) as KubeconfigModule | null;
  if (typeof module?.kubeconfigFromOptions !== 'function') {
    throw new AgentSafeError(
      'USAGE',
      `The installed ${KUBERNETES_EXECUTOR_PACKAGE} has no kubeconfigFromOptions: install a version that matches @agent-safe/sdk ("${KUBERNETES_EXECUTOR_INSTALL}")`,
    );
  }
  const config = await module.kubeconfigFromOptions({
    ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context !== undefined ? { context: options.context } : {}),
    ...(options.inCluster !== undefined ? { inCluster: options.inCluster } : {}),
  });
  const server = config.getCurrentCluster()?.server;
  if (server === undefined || !/^https:\/\//.test(server)) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `the kubeconfig's context "${escapeForTerminal(config.getCurrentContext().slice(0, 200))}" names no https:// API server`,
    );
  }
  const base = new URL(server);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const authorize = (requestOptions: RequestOptions) => config.applyToHTTPSOptions(requestOptions);
  return {
    request: (method, path, body) =>
      kubernetesJsonRequest({ server: base, method, path, body, timeoutMs, authorize }),
  };
}
