import { request as httpsRequest, type RequestOptions } from 'node:https';
import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';
import type { KubernetesApiResponse, KubernetesCredentialApi } from '@agent-safe/credentials';
import {
  KUBERNETES_EXECUTOR_INSTALL,
  KUBERNETES_EXECUTOR_PACKAGE,
  type ClusterOptions,
} from './execution-executors.js';

/** Largest answer read from the API server (a TokenRequest, Status or access review is a few kB). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

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
  let module: KubeconfigModule;
  try {
    module = (await load()) as KubeconfigModule;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new AgentSafeError(
        'USAGE',
        `Talking to a Kubernetes cluster needs the optional package ${KUBERNETES_EXECUTOR_PACKAGE}, which is not installed: run "${KUBERNETES_EXECUTOR_INSTALL}"`,
        { cause: error },
      );
    }
    throw error;
  }
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
  const timeout = options.timeoutMs ?? 10_000;
  return {
    async request(method, path, body): Promise<KubernetesApiResponse> {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const url = new URL(`${base.pathname.replace(/\/$/, '')}${path}`, base);
      const requestOptions: RequestOptions = {
        method,
        timeout,
        headers: {
          Accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
        },
      };
      await config.applyToHTTPSOptions(requestOptions);
      return new Promise<KubernetesApiResponse>((resolve, reject) => {
        const req = httpsRequest(url, requestOptions, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy();
              reject(
                new AgentSafeError('INTERNAL', `the API server's answer to ${method} ${path} was too large`),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        });
        req.on('timeout', () =>
          req.destroy(new Error(`the API server at ${base.origin} did not answer within ${timeout} ms`)),
        );
        req.on('error', (error) =>
          reject(new Error(escapeForTerminal(((error as Error).message ?? String(error)).slice(0, 300)))),
        );
        req.end(payload);
      });
    },
  };
}
