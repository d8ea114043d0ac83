import { AgentSafeError, type Issue } from '@agent-safe/core';

/** Longest window or cooldown accepted, in seconds (one year): longer values are almost surely a typo. */
export const MAX_GUARD_SECONDS = 31_536_000;

const SNAKE_CASE_HINTS: Readonly<Record<string, string>> = {
  max_requests: 'maxRequests',
  window_seconds: 'windowSeconds',
  circuit_breaker_threshold: 'circuitBreakerThreshold',
  circuit_breaker_cooldown_seconds: 'circuitBreakerCooldownSeconds',
  cooldown_seconds: 'cooldownSeconds',
};

/**
 * Checks that `options` is a plain object holding only `allowed` keys; throws a USAGE error listing
 * every unknown key (with the camelCase name when a snake_case key from the original config was used).
 */
export function checkOptionsObject(options: unknown, owner: string, allowed: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new AgentSafeError('USAGE', `${owner} options must be an object`, {
      issues: [{ message: `expected an object with ${allowed.join(', ')}`, path: owner }],
    });
  }
  const issues: Issue[] = [];
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const hint = Object.hasOwn(SNAKE_CASE_HINTS, key) ? `; did you mean '${SNAKE_CASE_HINTS[key]}'?` : '';
    issues.push({ message: `unknown option '${key}'${hint} (allowed: ${allowed.join(', ')})`, path: key });
  }
  if (issues.length > 0) {
    throw new AgentSafeError('USAGE', `${owner} received unknown options`, { issues });
  }
}

/** Returns `value` (or `fallback` when undefined) if it is an integer in [1, max]; throws USAGE otherwise. */
export function positiveInteger(
  owner: string,
  field: string,
  value: unknown,
  fallback: number | undefined,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  const candidate = value === undefined ? fallback : value;
  if (typeof candidate === 'number' && Number.isInteger(candidate) && candidate >= 1 && candidate <= max) {
    return candidate;
  }
  const shown = typeof candidate === 'number' ? String(candidate) : typeof candidate;
  throw new AgentSafeError('USAGE', `${owner}: ${field} must be a positive integer, got ${shown}`, {
    issues: [{ message: `expected an integer from 1 to ${max}, got ${shown}`, path: field }],
  });
}

/** Checks an optional key prefix used to namespace keys in a shared store. */
export function keyPrefix(owner: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && value.length <= 64) return value;
  throw new AgentSafeError('USAGE', `${owner}: keyPrefix must be a string of at most 64 characters`, {
    issues: [{ message: 'expected a short string such as "rate-limit:"', path: 'keyPrefix' }],
  });
}

/** Checks that a caller key is a non-empty string before it reaches a store or a reason text. */
export function checkCallerKey(owner: string, callerKey: unknown): asserts callerKey is string {
  if (typeof callerKey !== 'string' || callerKey.length === 0) {
    throw new AgentSafeError('INPUT_INVALID', `${owner}: caller key must be a non-empty string`, {
      issues: [{ message: `expected a non-empty string, got ${typeof callerKey}`, path: 'callerKey' }],
    });
  }
}
