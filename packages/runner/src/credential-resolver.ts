import {
  AgentSafeError,
  type Credential,
  type CredentialProvider,
  type ExecutionRequest,
  actionRef,
} from '@agent-safe/core';
import { renderScope } from '@agent-safe/credentials';
import type { CredentialResolver, ResolvedCredentials } from './runner.js';

/** Options of {@link credentialResolver}. */
export interface CredentialResolverOptions {
  /**
   * The `credentials.type` values of action files this provider serves. Default: the provider's own
   * `type` (a `KubernetesCredentialProvider` serves `kubernetes` blocks only). A development `EnvVault`
   * can be allowed to serve `kubernetes` blocks with `['kubernetes']`.
   */
  readonly types?: readonly string[];
}

/** Longest note text kept in the audited id (notes are non-secret; this keeps events small). */
const MAX_DETAIL = 600;

/**
 * The runner's {@link CredentialResolver} on a credential provider (`KubernetesCredentialProvider`,
 * `EnvVault`, …): for each approved request it renders the action's `credentials` block with the
 * approved params (`renderScope`: templates replaced, every value validated), refuses a block of a type
 * the provider does not serve, and asks the provider for one credential, named after the decision's
 * audit id. The executor gets the `Credential` handle itself (`context.credentials`; its material is read
 * at use and throws once revoked); the audit gets only the handle's id, expiry and notes (e.g. a ttl
 * raised to Kubernetes' 600 s minimum), never the material. `revoke` always calls the provider.
 * Actions without a `credentials` block get none (`undefined`).
 */
export function credentialResolver<M>(
  provider: CredentialProvider<M>,
  options: CredentialResolverOptions = {},
): CredentialResolver {
  if (typeof provider?.issue !== 'function' || typeof provider.revoke !== 'function') {
    throw new AgentSafeError(
      'USAGE',
      'credentialResolver needs a credential provider (issue and revoke), e.g. a KubernetesCredentialProvider',
    );
  }
  const types = options.types ?? [provider.type];
  if (!Array.isArray(types) || types.length === 0 || types.some((type) => typeof type !== 'string')) {
    throw new AgentSafeError(
      'USAGE',
      'credentialResolver: options.types must be a non-empty list of strings',
    );
  }
  return async (request: ExecutionRequest): Promise<ResolvedCredentials | undefined> => {
    const block = request.action.credentials;
    if (block === null || block === undefined) return undefined;
    const ref = actionRef(request.action);
    if (!types.includes(block.type)) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `Action ${ref} needs a "${block.type}" credential, but the runner's credential provider serves ${types.map((type) => `"${type}"`).join(', ')}; configure a ${block.type} provider for it`,
        { details: { action: ref, field: 'credentials.type' } },
      );
    }
    const scope = renderScope(request.action, request.params);
    if (scope === null) return undefined;
    const credential = await provider.issue({
      action: ref,
      target: request.target === '' ? null : request.target,
      params: request.params,
      scope,
      ttlSeconds: scope.ttl,
      requestId: request.ticket.auditId,
    });
    return {
      value: credential,
      id: describeCredential(credential),
      revoke: () => provider.revoke(credential),
    };
  };
}

/** `<id> (<kind>, expires <time>; <notes>)`: what the audit shows of a credential. Never the material. */
function describeCredential(credential: Credential<unknown>): string {
  const notes = credential.notes.join('; ');
  const detail = `${credential.id} (${credential.kind}, expires ${new Date(credential.expiresAt).toISOString()}${notes === '' ? '' : `; ${notes}`})`;
  return detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail;
}
