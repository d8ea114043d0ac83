import { AgentSafeError } from '@agent-safe/core';
import type { CredentialResolver } from '@agent-safe/runner';

/**
 * The runner's credential resolver for the `credentials` option of `safe.execute` / `safe.runner`:
 * `'none'` or absent → none; a function → the runner's resolver as it is.
 */
export async function resolveCredentials(option: unknown): Promise<CredentialResolver | undefined> {
  if (option === undefined || option === 'none') return undefined;
  if (typeof option === 'function') return option as CredentialResolver;
  throw new AgentSafeError(
    'USAGE',
    "options.credentials must be 'none', a CredentialResolver (request => ({ value, id, revoke }))",
    { issues: [{ path: 'credentials', message: "pass 'none' or a resolver function" }] },
  );
}
