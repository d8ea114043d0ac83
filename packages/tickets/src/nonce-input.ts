import { AgentSafeError, MAX_ID_LENGTH } from '@agent-safe/core';

/** Throws `INPUT_INVALID` unless the arguments of `NonceStore.consume` are well formed. */
export function assertNonceInput(nonce: unknown, expiresAt: unknown): asserts nonce is string {
  if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_ID_LENGTH) {
    throw new AgentSafeError(
      'INPUT_INVALID',
      'A nonce must be a non-empty string of at most 512 characters',
      {
        issues: [{ path: 'nonce', message: 'pass the ticket jti' }],
      },
    );
  }
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new AgentSafeError('INPUT_INVALID', 'A nonce expiry must be a finite number of milliseconds', {
      issues: [{ path: 'expiresAt', message: 'pass milliseconds since the epoch' }],
    });
  }
}
