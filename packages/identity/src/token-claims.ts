import { MAX_ID_LENGTH, unsafeIdReason } from '@agent-safe/core';
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
  // Ids are printed on terminals and written into audit lines: a token minted elsewhere with the same
  // key must not smuggle control characters, line breaks or bidi overrides into them.
  const subProblem = idProblem(sub);
  if (subProblem !== undefined) return fail(`claim "sub" ${subProblem}`);
  if (agentId !== sub) return fail('claim "agent_id" must equal "sub"');
  if (agentName !== undefined) {
    const problem = idProblem(agentName);
    if (problem !== undefined) return fail(`claim "agent_name" ${problem}`);
  }
  const roleProblem = scopeProblem(roles);
  if (roleProblem !== undefined) return fail(`claim "roles" ${roleProblem}`);
  const groupProblem = scopeProblem(groups);
  if (groupProblem !== undefined) return fail(`claim "groups" ${groupProblem}`);
  const roleList = readScope(roles)!;
  const groupList = readScope(groups)!;
  if (!isTime(iat) || !isTime(nbf) || !isTime(exp))
    return fail('claims "iat", "nbf" and "exp" must be whole seconds');
  if (exp <= nbf) return fail('claim "exp" must be after "nbf"');
  const jtiProblem = idProblem(jti);
  if (jtiProblem !== undefined) return fail(`claim "jti" ${jtiProblem}`);
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
      agentId: sub as string,
      ...(agentName === undefined ? {} : { agentName: agentName as string }),
      roles: roleList,
      groups: groupList,
      issuedAt: iat,
      notBefore: nbf,
      expiresAt: exp,
      tokenId: jti as string,
      maxDepth,
      parentToken,
    },
  };
}

/**
 * Why `value` cannot be an agent id, name, role, group or token id, or undefined when it can: a string
 * of 1 to {@link MAX_ID_LENGTH} characters without control characters, line or paragraph separators or
 * bidi overrides (core's `unsafeIdReason`).
 */
export function idProblem(value: unknown): string | undefined {
  if (typeof value !== 'string')
    return `must be a string of 1–${MAX_ID_LENGTH} characters, got ${typeName(value)}`;
  return unsafeIdReason(value);
}

/** True for a usable id (see {@link idProblem}). */
export function isId(value: unknown): value is string {
  return idProblem(value) === undefined;
}

/** Why `value` is not a roles/groups list (absent means empty), naming the bad entry, or undefined. */
export function scopeProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return `must be an array of strings, got ${typeName(value)}`;
  if (value.length > MAX_SCOPE_ENTRIES)
    return `has ${value.length} entries; at most ${MAX_SCOPE_ENTRIES} are allowed`;
  for (const [index, entry] of value.entries()) {
    const problem = idProblem(entry);
    if (problem !== undefined) return `entry ${index} ${problem}`;
  }
  return undefined;
}

/** A frozen copy of a roles/groups list, or null when it is not an array of ids (absent means empty). */
export function readScope(value: unknown): readonly string[] | null {
  if (scopeProblem(value) !== undefined) return null;
  if (value === undefined) return Object.freeze([]);
  return Object.freeze([...new Set(value as string[])]);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function fail(reason: string): ClaimsResult {
  return { ok: false, reason };
}
