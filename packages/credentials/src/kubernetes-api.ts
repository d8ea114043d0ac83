import { request as httpsRequest, type RequestOptions } from 'node:https';
import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';

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

/** Largest response body read (a TokenRequest, Status or access review is a few kB). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** One call of {@link kubernetesJsonRequest}. */
export interface KubernetesJsonRequest {
  /** The API server, `https://host:port` (a path prefix, as behind a proxy, is kept). */
  readonly server: URL;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Absolute API path (`/api/v1/namespaces/x`), appended to the server's own path. */
  readonly path: string;
  /** Sent as JSON when given. */
  readonly body?: unknown;
  /** Per-request timeout in milliseconds. */
  readonly timeoutMs: number;
  /** Adds the TLS trust and the caller's credential (CA, bearer token, client certificate) to the options. */
  readonly authorize: (options: RequestOptions) => void | Promise<void>;
}

/**
 * Sends one JSON request to a Kubernetes API server over `node:https` and reads the answer bounded
 * (1 MiB). Resolves with the status and the parsed body for every HTTP status (the body is undefined
 * when empty or not JSON); rejects with an INTERNAL error, naming the call, when the server cannot
 * be reached, does not answer within the timeout or answers too much. Shared by
 * {@link httpsKubernetesApi} and the SDK's kubeconfig-based client.
 */
export async function kubernetesJsonRequest(request: KubernetesJsonRequest): Promise<KubernetesApiResponse> {
  const { server, method, path, timeoutMs } = request;
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const url = new URL(`${server.pathname.replace(/\/$/, '')}${path}`, server);
  const options: RequestOptions = {
    method,
    timeout: timeoutMs,
    headers: {
      Accept: 'application/json',
      ...(payload === undefined
        ? {}
        : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
    },
  };
  await request.authorize(options);
  return await new Promise<KubernetesApiResponse>((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy();
          reject(
            new AgentSafeError('INTERNAL', `The API server's answer to ${method} ${path} was too large`),
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
      req.destroy(
        new AgentSafeError(
          'INTERNAL',
          `The API server did not answer ${method} ${path} within ${timeoutMs} ms`,
        ),
      ),
    );
    req.on('error', (error) =>
      reject(
        error instanceof AgentSafeError
          ? error
          : new AgentSafeError(
              'INTERNAL',
              `The API server could not be reached for ${method} ${path}: ${escapeForTerminal(
                String((error as NodeJS.ErrnoException).code ?? error.message).slice(0, 300),
              )}`,
            ),
      ),
    );
    req.end(payload);
  });
}

/**
 * A minimal {@link KubernetesCredentialApi} over `node:https` with a bearer token and a CA: no
 * dependency, bounded reads, TLS always verified. Enough for the provider; not a general client.
 */
export function httpsKubernetesApi(options: HttpsKubernetesApiOptions): KubernetesCredentialApi {
  const server = new URL(options.server);
  if (server.protocol !== 'https:') {
    throw new AgentSafeError('USAGE', 'The Kubernetes API server must be an https:// URL');
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const authorize = (request: RequestOptions) => {
    request.ca = options.ca;
    request.headers = { ...request.headers, Authorization: `Bearer ${options.token}` };
  };
  return {
    request: (method, path, body) =>
      kubernetesJsonRequest({ server, method, path, body, timeoutMs, authorize }),
  };
}
