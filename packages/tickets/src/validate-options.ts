import { AgentSafeError, MAX_ID_LENGTH, isSafeId } from '@agent-safe/core';

/**
 * True for a non-empty string of at most {@link MAX_ID_LENGTH} characters without control, line
 * separator or bidi characters (core's `isSafeId`): ticket claims are printed and audited.
 */
export function isIdString(value: unknown): value is string {
  return typeof value === 'string' && isSafeId(value);
}

/** Throws `code` naming `path` unless `value` is a non-empty string of at most 512 characters. */
export function requireIdString(
  value: unknown,
  path: string,
  code: 'INPUT_INVALID' | 'USAGE' = 'INPUT_INVALID',
): string {
  if (!isIdString(value)) {
    throw new AgentSafeError(
      code,
      `${path} must be a non-empty string of at most ${MAX_ID_LENGTH} characters, without control characters`,
      {
        issues: [
          {
            path,
            message: `expected a string of 1-${MAX_ID_LENGTH} printable characters, got ${describe(value)}`,
          },
        ],
      },
    );
  }
  return value;
}

/** Throws `USAGE` unless `value` is an integer within [min, max]. */
export function requireIntegerInRange(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new AgentSafeError('USAGE', `${path} must be an integer from ${min} to ${max}`, {
      issues: [{ path, message: `expected an integer in ${min}…${max}, got ${describe(value)}` }],
    });
  }
  return value;
}

/** A short description of a value for error messages (never the whole value: it may be huge or secret). */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 40
      ? `a string of ${value.length} characters`
      : JSON.stringify(value).replace(
          /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
          (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
