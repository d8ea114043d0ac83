import { AgentSafeError } from '@agent-safe/core';

/** The Redis store module, `@agent-safe/store-redis`. */
export type RedisStoreModule = typeof import('@agent-safe/store-redis');

/** The command that installs the optional Redis packages. */
export const REDIS_INSTALL_COMMAND = 'npm install @agent-safe/store-redis ioredis';

/**
 * Loads `@agent-safe/store-redis` (and with it `ioredis`), the optional peer dependencies a `redis://`
 * store needs, on first use only: users who never configure Redis never install or load them. When
 * either is missing, rejects with a USAGE error naming both packages and the command that installs them.
 */
export async function loadRedisStore(
  load: () => Promise<RedisStoreModule> = () => import('@agent-safe/store-redis'),
): Promise<RedisStoreModule> {
  try {
    return await load();
  } catch (error) {
    const missing = missingPackage(error);
    if (missing === undefined) throw error;
    throw new AgentSafeError(
      'USAGE',
      `A redis:// store needs the optional packages @agent-safe/store-redis and ioredis, and ${missing} is not installed: run "${REDIS_INSTALL_COMMAND}" (or use store: memory).`,
      { cause: error },
    );
  }
}

/** The package a module-not-found error names, when it is one of the two Redis packages. */
function missingPackage(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const message = String((error as { message?: unknown }).message);
  if (/['"]ioredis['"]/.test(message)) return 'ioredis';
  if (message.includes('@agent-safe/store-redis')) return '@agent-safe/store-redis';
  return undefined;
}
