import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AuditLog, readAuditLog, verifyAuditLog } from '../src/index.js';
import { LockFile } from '../src/lock-file.js';
import { decision, withTempDir } from './helpers.js';

describe('AuditLog batching', () => {
  it('splits a batch whose events are too large to encode together, and keeps one chain', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { maxEventBytes: 4 * 1024 * 1024 });
      // Each event may need 3 bytes per character: two of these exceed the 8 MiB a batch may take.
      const stored = await Promise.all(
        [1, 2, 3].map((index) => log.append(decision(index, { reason: String(index).repeat(1_500_000) }))),
      );
      const stats = log.stats;
      await log.close();
      expect(stored.map((event) => event.sequence)).toEqual([1, 2, 3]);
      expect(stats.batches).toBe(3);
      expect(stats.fsyncs).toBe(3);
      expect(await verifyAuditLog(path)).toMatchObject({ ok: true, events: 3, lastHash: stored[2]!.hash });
    });
  });

  it('returns each stored event with the body members and the chain members, each once', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const body = decision(1, { zeta: 'é', alpha: [1, 2] });
      const stored = await log.append(body);
      await log.close();
      expect(Object.keys(stored).sort()).toEqual(
        [...Object.keys(body), 'sequence', 'prev_hash', 'hash'].sort(),
      );
      expect(stored).toEqual((await readAuditLog(path))[0]);
      expect(body).not.toHaveProperty('hash');
    });
  });
});

describe('LockFile waiting signal', () => {
  it('reports a waiting writer only while its signal is fresh', async () => {
    await withTempDir(async (directory) => {
      const lock = new LockFile(join(directory, 'audit.jsonl.lock'), {
        logPath: join(directory, 'audit.jsonl'),
        timeoutMilliseconds: 100,
        staleMilliseconds: 30_000,
      });
      expect(await lock.othersWaiting()).toBe(false);
      const signal = `${lock.path}.waiting`;
      await writeFile(signal, '12345');
      expect(await lock.othersWaiting()).toBe(true);
      // A writer that gave up or died leaves its signal behind; it must not make holders yield forever.
      const longAgo = new Date(Date.now() - 60_000);
      await utimes(signal, longAgo, longAgo);
      expect(await lock.othersWaiting()).toBe(false);
      // The periodic release still asks about a signal of any age.
      expect(await lock.othersWaiting(Number.POSITIVE_INFINITY)).toBe(true);
    });
  });
});
