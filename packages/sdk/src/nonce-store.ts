import type { NonceStore } from '@agent-safe/core';
import { FileNonceStore } from '@agent-safe/tickets';
import { loadRedisStore } from './load-redis-store.js';

/** A nonce store opened by {@link openNonceStore}; `close` releases its connection, if any. */
export type OpenedNonceStore = NonceStore & { close(): Promise<void> };

/**
 * Opens the nonce store a location names: a `redis://` / `rediss://` URL (single use across every
 * process sharing that Redis; the client is loaded only then) or a directory (single use across the
 * processes of one machine). Rejects (INTERNAL, naming the server) when Redis cannot be reached.
 */
export async function openNonceStore(location: string): Promise<OpenedNonceStore> {
  if (/^rediss?:\/\//.test(location)) {
    const { RedisStore } = await loadRedisStore();
    return await RedisStore.connect({ url: location });
  }
  const store = new FileNonceStore({ directory: location });
  return Object.assign(store, { close: async () => undefined });
}
