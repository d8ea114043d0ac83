import { AgentSafeError } from '@agent-safe/core';
import { type CredentialResolver, credentialResolver } from '@agent-safe/runner';

/**
 * The runner's credential resolver for the `credentials` option of `safe.execute` / `safe.runner`:
 * `'none'` or absent → none; a function → the runner's resolver as it is; a credential provider of
 * `@agent-safe/credentials` (`KubernetesCredentialProvider`, `StsCredentialProvider`, `SecretsManagerVault`,
 * `EnvVault` …, anything with `issue` and `revoke`) → `credentialResolver(provider)`, which serves the
 * blocks of the provider's `type`, renders the action's `credentials` block with the approved params, asks
 * the provider for one credential and revokes it when the run ends.
 */
export async function resolveCredentials(option: unknown): Promise<CredentialResolver | undefined> {
  if (option === undefined || option === 'none') return undefined;
  if (typeof option === 'function') return option as CredentialResolver;
  if (option !== null && typeof option === 'object') {
    const provider = option as { issue?: unknown; revoke?: unknown };
    if (typeof provider.issue === 'function' && typeof provider.revoke === 'function') {
      return credentialResolver(option as Parameters<typeof credentialResolver>[0]);
    }
  }
  throw new AgentSafeError(
    'USAGE',
    "options.credentials must be 'none', a credential provider (issue, revoke) or a CredentialResolver (request => ({ value, id, revoke }))",
    {
      issues: [
        {
          path: 'credentials',
          message:
            "pass 'none', a provider such as KubernetesCredentialProvider or StsCredentialProvider, or a resolver function",
        },
      ],
    },
  );
}
