import { AgentSafeError, Credential, isCredentialHandle } from '@agent-safe/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesClientModule } from './client.js';

const USAGE =
  'context.credentials must be a Credential whose material is { token } (from KubernetesCredentialProvider of ' +
  '@agent-safe/credentials) or a plain { token: string }';

function isToken(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 16_384) return false;
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    if (code <= 0x20 || code >= 0x7f) return false;
  }
  return true;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isHandle(value)) return `a Credential of kind ${JSON.stringify(String(value.kind).slice(0, 60))}`;
  return typeof value === 'object' ? 'an object without a string "token"' : `a ${typeof value}`;
}

/** A Credential handle (not a plain `{ token }` that happens to look like one). */
function isHandle(value: unknown): value is Credential<unknown> {
  return (
    value instanceof Credential ||
    (value !== null &&
      typeof value === 'object' &&
      !Object.hasOwn(value, 'token') &&
      isCredentialHandle(value))
  );
}

/**
 * The bearer token of `context.credentials`: a {@link Credential} handle (its material read now, so a
 * revoked or expired handle fails here) or a plain `{ token }`. Anything else is refused (fail closed);
 * the error never contains the value.
 */
export function credentialToken(credentials: unknown): string {
  if (isHandle(credentials)) {
    const material: unknown = credentials.material; // throws (without the value) once revoked or expired
    const token = (material as { token?: unknown } | null)?.token;
    if (!isToken(token)) {
      throw new AgentSafeError(
        'USAGE',
        `${USAGE}; got ${describe(credentials)} whose material has no usable token`,
      );
    }
    return token;
  }
  const token = (credentials as { token?: unknown } | null)?.token;
  if (
    credentials !== null &&
    typeof credentials === 'object' &&
    !Array.isArray(credentials) &&
    isToken(token)
  ) {
    return token;
  }
  throw new AgentSafeError('USAGE', `${USAGE}; got ${describe(credentials)}`);
}

/**
 * A KubeConfig with the SAME cluster as `base` (server, CA, TLS settings) and only `token` as its user:
 * no client certificate, exec plugin or token of the runner's own user can leak into the run.
 */
export function tokenKubeConfig(k8s: KubernetesClientModule, base: KubeConfig, token: string): KubeConfig {
  const cluster = base.getCurrentCluster();
  if (cluster === null) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `the kubeconfig's current context "${base.getCurrentContext()}" names no cluster: the credential's token has no server to go to`,
    );
  }
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ ...cluster, name: 'agent-safe-cluster' }],
    users: [{ name: 'agent-safe-credential', token }],
    contexts: [
      { name: 'agent-safe-credential', cluster: 'agent-safe-cluster', user: 'agent-safe-credential' },
    ],
    currentContext: 'agent-safe-credential',
  });
  return config;
}
