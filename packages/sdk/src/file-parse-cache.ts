import {
  accessSync,
  chmodSync,
  constants,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomId } from '@agent-safe/core';
import type { ParseCache } from '@agent-safe/registry';

const FORMAT = 1;

/**
 * Where the CLI keeps its parse cache: `$AGENT_SAFE_CACHE_DIR`, else `$XDG_CACHE_HOME/agent-safe`, else
 * `~/.cache/agent-safe`.
 */
export function defaultCacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGENT_SAFE_CACHE_DIR) return env.AGENT_SAFE_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'agent-safe');
  return join(homedir(), '.cache', 'agent-safe');
}

/**
 * A {@link ParseCache} kept in one JSON file, so that a short-lived process (the CLI) skips YAML
 * parsing (and, for action definitions, re-validation) when the configuration has not changed. Every
 * file is still read and hashed on every run, so a changed file always misses. Best effort by design: an unreadable, corrupt, foreign-owned or group/world-writable cache
 * file is ignored, and a failed save is silent. Entries are only used for files the current user can
 * write (see {@link FileParseCache.get}).
 */
export class FileParseCache implements ParseCache {
  readonly file: string;
  readonly #stored: Map<string, unknown>;
  readonly #used = new Map<string, unknown>();
  #dirty = false;

  private constructor(file: string, stored: Map<string, unknown>) {
    this.file = file;
    this.#stored = stored;
  }

  /** Opens (without creating) the cache file. Never throws. */
  static open(file: string): FileParseCache {
    return new FileParseCache(file, readEntries(file));
  }

  /**
   * Served only for files this process may write. Whoever can write the cache can forge parse results,
   * so the cache must never hold more authority than the files: a policy the current user cannot edit
   * (root-owned configuration read by a service account) is always parsed from the file itself.
   */
  get(key: string, file: string): unknown {
    if (!writable(file)) return undefined;
    const value = this.#stored.get(key);
    if (value !== undefined) this.#used.set(key, value);
    return value;
  }

  set(key: string, value: unknown, file: string): void {
    if (!writable(file)) return;
    this.#used.set(key, value);
    this.#dirty = true;
  }

  /** Keeps only the entries used by this run; writes atomically with mode 0600. Never throws. */
  save(): void {
    if (!this.#dirty && this.#used.size === this.#stored.size) return;
    const directory = join(this.file, '..');
    const temporary = `${this.file}.${randomId('tmp')}`;
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      const entries = Object.fromEntries(this.#used);
      writeFileSync(temporary, JSON.stringify({ format: FORMAT, entries }), { mode: 0o600, flag: 'wx' });
      chmodSync(temporary, 0o600);
      renameSync(temporary, this.file);
      this.#dirty = false;
    } catch {
      rmSync(temporary, { force: true });
    }
  }
}

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readEntries(file: string): Map<string, unknown> {
  try {
    const info = lstatSync(file);
    const uid = process.getuid?.();
    if (!info.isFile() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0)
      return new Map();
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; entries?: unknown };
    if (parsed.format !== FORMAT || parsed.entries === null || typeof parsed.entries !== 'object')
      return new Map();
    return new Map(Object.entries(parsed.entries as Record<string, unknown>));
  } catch {
    return new Map();
  }
}
