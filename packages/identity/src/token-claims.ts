import { MAX_ID_LENGTH } from '@agent-safe/core';
import { MAX_DELEGATION_DEPTH } from './algorithms.js';

/** Most roles or groups a token may carry. */
export const MAX_SCOPE_ENTRIES = 256;

/** The identity claims of a token after their shapes were checked. Times are seconds since the epoch. */
export interface IdentityClaims {
  readonly agentId: string;
  readonly agentName?: string;
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  readonly issuedAt: number;
  readonly notBefore: number;
  readonly expiresAt: number;
  readonly tokenId: string;
  /** `max_depth`: how many delegation hops this chain may have; null when the token sets no limit. */
  readonly maxDepth: number | null;
  /** `parent_token`: the full token of the delegating agent; null for a root token. */
  readonly parentToken: string | null;
}

/** Outcome of {@link readIdentityClaims}. */
export type ClaimsResult =
  | { readonly ok: true; readonly claims: IdentityClaims }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks the shape of a verified payload. The signature is already checked; this guards against a
 * token minted by a different tool with the same key, or by a buggy version of this one.
 */
export function readIdentityClaims(payload: Record<string, unknown>): ClaimsResult {
  const { sub, agent_id: agentId, agent_name: agentName, roles, groups, iat, nbf, exp, jti } = payload;
  if (!isId(sub)) return fail(`claim "sub" must be a string of 1–${MAX_ID_LENGTH} characters`);
  if (agentId !== sub) return fail('claim "agent_id" must equal "sub"');
  if (agentName !== undefined && !isId(agentName))
    return fail(`claim "agent_name" must be a string of 1–${MAX_ID_LENGTH} characters`);
  const roleList = readScope(roles);
  if (roleList === null)
    return fail(`claim "roles" must be an array of at most ${MAX_SCOPE_ENTRIES} non-empty strings`);
  const groupList = readScope(groups);
  if (groupList === null)
    return fail(`claim "groups" must be an array of at most ${MAX_SCOPE_ENTRIES} non-empty strings`);
  if (!isTime(iat) || !isTime(nbf) || !isTime(exp))
    return fail('claims "iat", "nbf" and "exp" must be whole seconds');
  if (exp <= nbf) return fail('claim "exp" must be after "nbf"');
  if (!isId(jti)) return fail('claim "jti" must be a non-empty string');
  let maxDepth: number | null = null;
  if (payload.max_depth !== undefined) {
    const value = payload.max_depth;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_DELEGATION_DEPTH) {
      return fail(`claim "max_depth" must be an integer from 0 to ${MAX_DELEGATION_DEPTH}`);
    }
    maxDepth = value;
  }
  let parentToken: string | null = null;
  if (payload.parent_token !== undefined) {
    if (typeof payload.parent_token !== 'string' || payload.parent_token === '') {
      return fail('claim "parent_token" must be a token string');
    }
    if (maxDepth === null) return fail('a delegated token must carry "max_depth"');
    parentToken = payload.parent_token;
  }
  return {
    ok: true,
    claims: {
      agentId: sub,
      ...(agentName === undefined ? {} : { agentName: agentName as string }),
      roles: roleList,
      groups: groupList,
      issuedAt: iat,
      notBefore: nbf,
      expiresAt: exp,
      tokenId: jti,
      maxDepth,
      parentToken,
    },
  };
}

/** True for an id of 1 to {@link MAX_ID_LENGTH} characters. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

/** A frozen copy of a roles/groups list, or null when it is not an array of ids (absent means empty). */
export function readScope(value: unknown): readonly string[] | null {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.length > MAX_SCOPE_ENTRIES) return null;
  for (const entry of value) if (!isId(entry)) return null;
  return Object.freeze([...new Set(value as string[])]);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function fail(reason: string): ClaimsResult {
  return { ok: false, reason };
}
