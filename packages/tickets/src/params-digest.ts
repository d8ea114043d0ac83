import { createHash } from 'node:crypto';
import { AgentSafeError, canonicalJson } from '@agent-safe/core';

/**
 * True for `{}`-style objects (not arrays, dates, maps or class instances). The prototype test accepts
 * a plain object made in another realm (a vm context, a worker), whose Object.prototype differs.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/**
 * SHA-256 (lowercase hex) of the RFC 8785 canonical JSON of `params`: the `pdg` claim a ticket binds.
 * Key order does not matter; any changed value does. Throws `INPUT_INVALID` for params JSON cannot hold.
 */
export function ticketParamsDigest(params: Readonly<Record<string, unknown>>): string {
  if (!isPlainObject(params)) {
    throw new AgentSafeError('INPUT_INVALID', 'Ticket params must be a plain object', {
      issues: [{ path: 'params', message: 'expected a plain object such as { "namespace": "dev" }' }],
    });
  }
  let canonical: string;
  try {
    canonical = canonicalJson(params);
  } catch (error) {
    throw new AgentSafeError('INPUT_INVALID', 'Ticket params cannot be canonicalised as JSON', {
      cause: error,
      issues: [
        {
          path: 'params',
          message: `${(error as Error).message}; use only JSON values (no NaN, Infinity, bigint, functions or cycles)`,
        },
      ],
    });
  }
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
