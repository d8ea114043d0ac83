import { AgentSafeError, type BreakerSettings, MAX_STORE_KEY_LENGTH } from '@agent-safe/core';

// The in-memory stores' argument checks, with their messages: malformed arguments are programming
// errors (USAGE) and fail before the lock is taken.

function usage(message: string, path: string, expected: string): AgentSafeError {
  return new AgentSafeError('USAGE', `FileGuardStore: ${message}`, {
    issues: [{ message: `${path}: expected ${expected}`, path }],
  });
}

export function checkKey(key: unknown, path = 'key'): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_STORE_KEY_LENGTH) {
    throw usage(
      `Store key must be a non-empty string of at most ${MAX_STORE_KEY_LENGTH} characters`,
      path,
      'a non-empty string',
    );
  }
}

export function checkTime(now: number, windowMs: number, path = 'windowMs'): void {
  if (!(now >= 0 && now <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `now must be milliseconds since the epoch, got ${String(now)}`,
      'now',
      'a finite number >= 0',
    );
  }
  if (!(windowMs > 0 && windowMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(`windowMs must be a positive number, got ${String(windowMs)}`, path, 'a number > 0');
  }
}

export function checkLimit(limit: number, path = 'limit'): void {
  if (!(limit >= 0)) throw usage(`limit must be a number >= 0, got ${String(limit)}`, path, 'a number >= 0');
}

export function checkWeight(weight: number, ceiling: number, path = ''): void {
  if (!(weight >= 0 && weight <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `weight must be a finite number >= 0, got ${String(weight)}`,
      `${path}weight`,
      'a finite number >= 0',
    );
  }
  if (Number.isNaN(ceiling))
    throw usage('ceiling must be a number, got NaN', `${path}ceiling`, 'a number or Infinity');
}

export function checkSettings(settings: BreakerSettings, path = 'settings'): void {
  if (typeof settings !== 'object' || settings === null) {
    throw usage('Breaker settings must be an object', path, '{ threshold, windowMs, cooldownMs }');
  }
  const { threshold, windowMs, cooldownMs } = settings;
  if (!(threshold >= 1 && threshold <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `threshold must be a number >= 1, got ${String(threshold)}`,
      `${path}.threshold`,
      'a number >= 1',
    );
  }
  if (!(windowMs > 0 && windowMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `windowMs must be a positive number, got ${String(windowMs)}`,
      `${path}.windowMs`,
      'a number > 0',
    );
  }
  if (!(cooldownMs > 0 && cooldownMs <= Number.MAX_SAFE_INTEGER)) {
    throw usage(
      `cooldownMs must be a positive number, got ${String(cooldownMs)}`,
      `${path}.cooldownMs`,
      'a number > 0',
    );
  }
}

/** A positive safe integer option. */
export function checkOption(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new AgentSafeError('USAGE', `FileGuardStore: ${name} must be an integer from ${min} to ${max}`, {
      issues: [{ path: name, message: `expected an integer from ${min} to ${max}, got ${String(value)}` }],
    });
  }
  return value;
}
