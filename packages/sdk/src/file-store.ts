import { join, resolve } from 'node:path';
import { AgentSafeError, type NonceStore } from '@agent-safe/core';
import type { SharedStore } from './guards.js';

/** Subdirectory of a `file:` store that holds ticket nonces (a FileNonceStore). */
export const NONCE_SUBDIRECTORY = 'nonces';

type GuardStoreModule = typeof import('@agent-safe/store-file');
type FileGuardStore = InstanceType<GuardStoreModule['FileGuardStore']>;

/** A store opened from a location; `name` identifies it in refusals. */
export type NamedStore = SharedStore & { close(): Promise<void>; readonly name: string };

/**
 * A `file:DIR` store: guard state in `DIR` (`@agent-safe/store-file`: one locked read-modify-write per
 * check) and single-use ticket nonces in `DIR/nonces` (the tickets package's FileNonceStore). Shared by
 * the processes of one machine, such as successive CLI runs.
 *
 * Built synchronously (so the guards, and their settings errors, exist at construction); each package is
 * loaded and the directory opened on first use, so a process that never reaches a guard pays nothing. A
 * directory that cannot be used (a symlink, writable by others, another user's) makes that operation
 * reject, naming it, and the check fails closed; the next operation tries again.
 */
export function fileStore(directory: string): NamedStore {
  const path = resolve(directory);
  let guards: Promise<FileGuardStore> | undefined;
  let nonces: Promise<NonceStore & { close(): Promise<void> }> | undefined;
  const guardStore = (): Promise<FileGuardStore> => {
    if (guards === undefined) {
      guards = loadFileStore().then(({ FileGuardStore }) => new FileGuardStore({ directory: path }));
      guards.catch(() => {
        guards = undefined;
      });
    }
    return guards;
  };
  const nonceStore = () => {
    if (nonces === undefined) {
      nonces = import('@agent-safe/tickets').then(
        ({ FileNonceStore }) => new FileNonceStore({ directory: join(path, NONCE_SUBDIRECTORY) }),
      );
      nonces.catch(() => {
        nonces = undefined;
      });
    }
    return nonces;
  };
  return {
    name: `file guard store at ${path}`,
    take: async (key, now, windowMs, limit) => (await guardStore()).take(key, now, windowMs, limit),
    addBelow: async (key, now, windowMs, weight, ceiling) =>
      (await guardStore()).addBelow(key, now, windowMs, weight, ceiling),
    clear: async (key) => (await guardStore()).clear(key),
    admit: async (key, now, settings) => (await guardStore()).admit(key, now, settings),
    record: async (key, now, denied, probe, settings) =>
      (await guardStore()).record(key, now, denied, probe, settings),
    guardStep: async (input) => (await guardStore()).guardStep(input),
    consume: async (nonce, expiresAt) => (await nonceStore()).consume(nonce, expiresAt),
    close: async () => {
      if (guards !== undefined) await (await guards.catch(() => undefined))?.close();
      if (nonces !== undefined) await (await nonces.catch(() => undefined))?.close();
    },
  };
}

/**
 * Loads `@agent-safe/store-file` (guards, nonces, approvals, suspensions of a `file:` store) on first
 * use; a failure is a USAGE error naming the package.
 */
export async function loadFileStore(): Promise<GuardStoreModule> {
  try {
    return await import('@agent-safe/store-file');
  } catch (error) {
    throw new AgentSafeError(
      'USAGE',
      `A file: store needs the package @agent-safe/store-file, which could not be loaded: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * What every operation of the `file:` store at `directory` would report, found without changing
 * anything (no directory created, no lock taken); undefined when it is usable or not created yet.
 */
export async function inspectFileStore(directory: string): Promise<string | undefined> {
  return (await loadFileStore()).FileGuardStore.inspect({ directory });
}
