import { AgentSafeError, type BreakerSettings, MAX_ID_LENGTH } from '@agent-safe/core';

/** Longest window, cooldown or idle time accepted: ten years, far below Redis' expiry limits. */
export const MAX_DURATION_MS = 10 * 366 * 86_400_000;

// Malformed store arguments are programming errors (USAGE, as the in-memory stores report them); a
// malformed nonce comes from a ticket (INPUT_INVALID, as the other nonce stores report it).
function invalid(
  path: string,
  expected: string,
  got: unknown,
  code: 'USAGE' | 'INPUT_INVALID' = 'USAGE',
): AgentSafeError {
  const shown = typeof got === 'string' ? `a string of ${got.length} characters` : String(got);
  return new AgentSafeError(code, `RedisStore: ${path} must be ${expected} (got ${shown})`, {
    issues: [{ path, message: `pass ${expected}` }],
  });
}

/** A non-empty string key. */
export function requireKey(value: unknown, path = 'key'): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(path, 'a non-empty string', value);
  return value;
}

/** A finite number (a timestamp in ms since the epoch). */
export function requireFinite(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(path, 'a finite number', value);
  return value;
}

/** A duration in ms: finite, greater than 0, at most {@link MAX_DURATION_MS}. */
export function requireDuration(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_DURATION_MS) {
    throw invalid(path, `a number of milliseconds in (0, ${MAX_DURATION_MS}]`, value);
  }
  return value;
}

/** A safe integer in [min, max]. */
export function requireInteger(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(path, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}

/** A finite weight of at least 0. */
export function requireWeight(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(path, 'a finite number of at least 0', value);
  }
  return value;
}

/** A ceiling: any number but NaN (`Infinity` for none). */
export function requireCeiling(value: unknown, path: string): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalid(path, 'a number or Infinity', value);
  return value;
}

/** Well-formed breaker settings. */
export function requireBreakerSettings(value: unknown, path = 'settings'): BreakerSettings {
  if (typeof value !== 'object' || value === null) throw invalid(path, 'an object', value);
  const settings = value as Record<string, unknown>;
  return {
    threshold: requireInteger(settings.threshold, `${path}.threshold`, 1, 1_000_000_000),
    windowMs: requireDuration(settings.windowMs, `${path}.windowMs`),
    cooldownMs: requireDuration(settings.cooldownMs, `${path}.cooldownMs`),
  };
}

/** A ticket nonce: non-empty, at most MAX_ID_LENGTH characters. */
export function requireNonce(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw invalid(
      'nonce',
      `a non-empty string of at most ${MAX_ID_LENGTH} characters`,
      value,
      'INPUT_INVALID',
    );
  }
  return value;
}

/** A nonce expiry: a finite number of ms since the epoch. */
export function requireNonceExpiry(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid('expiresAt', 'a finite number of milliseconds since the epoch', value, 'INPUT_INVALID');
  }
  return value;
}
