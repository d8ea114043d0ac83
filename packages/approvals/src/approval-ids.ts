import { createHash } from 'node:crypto';
import { randomId } from '@agent-safe/core';

const ID_PATTERN = /^apr-[0-9a-f]{32}$/;

/** A new unguessable approval id: `apr-` and 128 random bits in hex. */
export function newApprovalId(): string {
  // core's pooled generator: 16 random bytes, hex, `apr-` prefix.
  return randomId('apr');
}

/** True for a string shaped like an approval id (checked before any store lookup or file name). */
export function isApprovalId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/**
 * What makes two requests "the same" for deduplication: the caller (and whether it was authenticated:
 * a plain id never joins a token's request), the action, the target and the digest of the params. Hashed, so it is safe as a file name or Redis key.
 */
export function approvalDedupeKey(input: {
  caller: string;
  callerAuthenticated: boolean;
  action: string;
  target: string;
  paramsDigest: string;
}): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        input.caller,
        input.callerAuthenticated,
        input.action,
        input.target,
        input.paramsDigest,
      ]),
    )
    .digest('hex');
}
