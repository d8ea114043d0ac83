import { AgentSafeError } from '@agent-safe/core';
import { Redis, type RedisOptions } from 'ioredis';

/** Timeouts of a store's Redis connection. */
export interface RedisConnectionTimeouts {
  /** Per command (ms). Default 1000. */
  readonly commandTimeoutMs?: number;
  /** To connect (ms). Default 1000. */
  readonly connectTimeoutMs?: number;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(invalid Redis URL)';
  }
}

/**
 * Opens one connection for a store (approvals, suspensions) that fails fast: no offline queue, one retry
 * of a command, reconnects backing off to 2 s. Rejects with INTERNAL naming `what` and the server
 * (without its password) when Redis cannot be reached. Returns the options too, for a second connection
 * (a subscriber) made alike.
 */
export async function connectRedis(
  url: string,
  timeouts: RedisConnectionTimeouts,
  what: string,
): Promise<{ redis: Redis; redisOptions: RedisOptions }> {
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeouts.commandTimeoutMs ?? 1000,
    connectTimeout: timeouts.connectTimeoutMs ?? 1000,
    retryStrategy: (times) => Math.min(times * 100, 2000),
  };
  const redis = new Redis(url, redisOptions);
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new AgentSafeError(
      'INTERNAL',
      `${what}: cannot connect to Redis at ${redactUrl(url)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { redis, redisOptions };
}
