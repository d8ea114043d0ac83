import { request as httpsRequest } from 'node:https';
import { AgentSafeError } from '@agent-safe/core';

/** A response of the API server: HTTP status and the parsed JSON body (undefined when empty or not JSON). */
export interface KubernetesApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The few API-server calls the Kubernetes credential provider makes, injected so a deployment can bring
 * its own client (e.g. one built on `@kubernetes/client-node`). Paths are absolute API paths
 * (`/api/v1/namespaces/x/serviceaccounts`). Implementations resolve for every HTTP status and reject
 * only when the server cannot be reached.
 */
export interface KubernetesCredentialApi {
  request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<KubernetesApiResponse>;
}

/** Options of {@link httpsKubernetesApi}. */
export interface HttpsKubernetesApiOptions {
  /** `https://host:port` of the API server. */
  readonly server: string;
  /** PEM CA bundle that verifies the server's certificate. */
  readonly ca: string;
  /** Bearer token of the identity that manages credentials (the runner's own). */
  readonly token: string;
  /** Per-request timeout; default 10 s. */
  readonly timeoutMs?: number;
}

/** Largest response body read (a TokenRequest or Status is a few kB). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * A minimal {@link KubernetesCredentialApi} over `node:https` with a bearer token and a CA: no
 * dependency, bounded reads, TLS always verified. Enough for the provider; not a general client.
 */
export function httpsKubernetesApi(options: HttpsKubernetesApiOptions): KubernetesCredentialApi {
  const base = new URL(options.server);
  if (base.protocol !== 'https:') {
    throw new AgentSafeError('USAGE', 'The Kubernetes API server must be an https:// URL');
  }
  const timeout = options.timeoutMs ?? 10_000;
  return {
    request: (method, path, body) =>
      new Promise<KubernetesApiResponse>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = httpsRequest(
          new URL(path, base),
          {
            method,
            ca: options.ca,
            timeout,
            headers: {
              Authorization: `Bearer ${options.token}`,
              Accept: 'application/json',
              ...(payload === undefined
                ? {}
                : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > MAX_RESPONSE_BYTES) {
                res.destroy();
                reject(
                  new AgentSafeError(
                    'INTERNAL',
                    `The API server's answer to ${method} ${path} was too large`,
                  ),
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
          },
        );
        req.on('timeout', () =>
          req.destroy(
            new AgentSafeError(
              'INTERNAL',
              `The API server did not answer ${method} ${path} within ${timeout} ms`,
            ),
          ),
        );
        req.on('error', (error) =>
          reject(
            error instanceof AgentSafeError
              ? error
              : new AgentSafeError(
                  'INTERNAL',
                  `The API server could not be reached for ${method} ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
                ),
          ),
        );
        req.end(payload);
      }),
  };
}
