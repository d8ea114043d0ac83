import { hostname } from 'node:os';
import { lstat, readFile, readlink, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AuditLog, verifyAuditLog } from '../src/index.js';
import { LockFile } from '../src/lock-file.js';
import { decision, withTempDir } from './helpers.js';

describe('lock side files', () => {
  it('a symlink planted at <log>.lock.waiting never redirects a write: the victim stays untouched', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const victim = join(directory, 'victim.txt');
      await writeFile(victim, 'precious contents\n');
      await symlink(victim, `${path}.lock.waiting`);
      // A live lock held by this very process, so the writer must wait (and signal that it waits).
      await writeFile(
        `${path}.lock`,
        JSON.stringify({ pid: process.pid, hostname: hostname(), token: 'held', created: Date.now() }),
      );
      const log = await AuditLog.open(path, { durability: 'write' });
      const appended = log.append(decision(1));
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(log.stats.lockRetries).toBeGreaterThan(0);
      await unlink(`${path}.lock`);
      await appended;
      await log.close();
      expect(await readFile(victim, 'utf8')).toBe('precious contents\n');
      // The planted link was replaced by a file of our own, not followed.
      const waiting = await lstat(`${path}.lock.waiting`).catch(() => undefined);
      if (waiting !== undefined) {
        expect(waiting.isSymbolicLink()).toBe(false);
        expect(waiting.mode & 0o777).toBe(0o600);
      }
      expect((await verifyAuditLog(path)).ok).toBe(true);
    });
  });

  it('a symlink planted at <log>.lock is never followed and is cleared once stale', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const victim = join(directory, 'victim.txt');
      await writeFile(victim, 'precious contents\n');
      await symlink(victim, `${path}.lock`);
      const log = await AuditLog.open(path, { durability: 'write', staleLockMilliseconds: 200 });
      await log.append(decision(1));
      await log.close();
      expect(await readFile(victim, 'utf8')).toBe('precious contents\n');
      expect(await readlink(`${path}.lock`).catch((error: NodeJS.ErrnoException) => error.code)).toBe(
        'ENOENT',
      );
    });
  });

  it('creates the lock file 0600, and refuses to create it through a dangling symlink', async () => {
    await withTempDir(async (directory) => {
      const lockPath = join(directory, 'audit.jsonl.lock');
      const lock = new LockFile(lockPath, {
        logPath: 'audit.jsonl',
        timeoutMilliseconds: 100,
        staleMilliseconds: 60_000,
      });
      await lock.acquire();
      expect((await stat(lockPath)).mode & 0o777).toBe(0o600);
      await lock.release();
      const target = join(directory, 'created-through-link');
      await symlink(target, lockPath);
      await expect(lock.acquire()).rejects.toMatchObject({ code: 'AUDIT_LOCK_TIMEOUT' });
      await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
