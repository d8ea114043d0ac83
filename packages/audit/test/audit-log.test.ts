import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { AUDIT_GENESIS_HASH, ManualClock, canonicalJson, isAgentSafeError } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { AuditLog, hashAuditEvent, readAuditLog, verifyAuditLog } from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((line) => line.length > 0);
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  return pid;
}

describe('AuditLog', () => {
  it('writes canonical, hash-chained lines starting at sequence 1', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const first = await log.append(decision(1));
      const second = await log.append(decision(2));
      await log.close();
      expect(first.sequence).toBe(1);
      expect(first.prev_hash).toBe(AUDIT_GENESIS_HASH);
      expect(second.sequence).toBe(2);
      expect(second.prev_hash).toBe(first.hash);
      const stored = await lines(path);
      expect(stored).toHaveLength(2);
      const parsed = JSON.parse(stored[1]!) as AuditEvent;
      expect(stored[1]).toBe(canonicalJson(parsed));
      expect(parsed.hash).toBe(second.hash);
      expect(hashAuditEvent(parsed)).toBe(parsed.hash);
      const { hash: _hash, ...withoutHash } = parsed;
      expect(parsed.hash).toBe(
        (await import('node:crypto')).createHash('sha256').update(canonicalJson(withoutHash)).digest('hex'),
      );
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await verifyAuditLog(path)).ok).toBe(true);
    });
  });

  it('continues the chain of an existing file when reopened', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      await log.append(decision(1));
      await log.close();
      const again = await AuditLog.open(path);
      const event = await again.append(decision(2));
      await again.close();
      expect(event.sequence).toBe(2);
      const report = await verifyAuditLog(path);
      expect(report).toMatchObject({ ok: true, events: 2, lastSequence: 2, lastHash: event.hash });
    });
  });

  it('group-commits 1000 concurrent appends into far fewer fsyncs, with one unbroken chain', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const stored = await Promise.all(
        Array.from({ length: 1000 }, (_, index) => log.append(decision(index))),
      );
      const stats = log.stats;
      await log.close();
      expect(stored.map((event) => event.sequence)).toEqual(
        Array.from({ length: 1000 }, (_, index) => index + 1),
      );
      expect(stats.appends).toBe(1000);
      expect(stats.fsyncs).toBeLessThan(50);
      expect(stats.fsyncs).toBe(stats.batches);
      const report = await verifyAuditLog(path);
      expect(report).toMatchObject({ ok: true, events: 1000, lastSequence: 1000 });
    });
  });

  it('alternates two half batches under sustained closed-loop load, keeping one chain', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const callers = 32;
      const rounds = 20;
      let next = 0;
      await Promise.all(
        Array.from({ length: callers }, async () => {
          for (let round = 0; round < rounds; round++) await log.append(decision(next++));
        }),
      );
      const stats = log.stats;
      await log.close();
      // Without splitting every round would be one batch of all callers (20 batches).
      expect(stats.batches).toBeGreaterThanOrEqual(30);
      expect(stats.appends).toBe(callers * rounds);
      expect(await verifyAuditLog(path)).toMatchObject({
        ok: true,
        events: callers * rounds,
        lastSequence: callers * rounds,
      });
    });
  });

  it('shares one fsync among 64 concurrent appends', async () => {
    await withTempDir(async (directory) => {
      const log = await AuditLog.open(join(directory, 'audit.jsonl'));
      await Promise.all(Array.from({ length: 64 }, (_, index) => log.append(decision(index))));
      expect(log.stats.fsyncs).toBe(1);
      await log.close();
    });
  });

  it("with durability 'write' appends without fsync and still chains", async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      await Promise.all(Array.from({ length: 100 }, (_, index) => log.append(decision(index))));
      expect(log.stats.fsyncs).toBe(0);
      expect(log.stats.batches).toBeGreaterThan(0);
      await log.close();
      expect(await verifyAuditLog(path)).toMatchObject({ ok: true, events: 100 });
    });
  });

  it('keeps one chain when 4 processes append 250 events each to the same file', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'shared.jsonl');
      const children = await Promise.all(
        [0, 1, 2, 3].map((index) =>
          run(process.execPath, [join(fixtures, 'append-child.mjs'), path, '250', `p${index}`]),
        ),
      );
      for (const child of children) expect(JSON.parse(child.stdout).failures).toEqual([]);
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, events: 1000, lastSequence: 1000 });
      const events = await readAuditLog(path);
      expect(new Set(events.map((event) => event.sequence)).size).toBe(1000);
      expect(new Set(events.map((event) => event.event_id)).size).toBe(1000);
      for (const label of ['p0', 'p1', 'p2', 'p3']) {
        expect(events.filter((event) => event.caller === `child:${label}`)).toHaveLength(250);
      }
    });
  });

  it('rejects a body that is not JSON-serialisable without failing the others in its batch', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const results = await Promise.allSettled([
        log.append(decision(1)),
        log.append(decision(2, { params: { bad: Number.NaN } })),
        log.append(decision(3, { context: cyclic })),
        log.append(decision(4, { params: { big: 10n } })),
        log.append(decision(5)),
      ]);
      await log.close();
      expect(results.map((result) => result.status)).toEqual([
        'fulfilled',
        'rejected',
        'rejected',
        'rejected',
        'fulfilled',
      ]);
      for (const result of results) {
        if (result.status === 'rejected') expect(isAgentSafeError(result.reason, 'INPUT_INVALID')).toBe(true);
      }
      expect(await verifyAuditLog(path)).toMatchObject({ ok: true, events: 2 });
    });
  });

  it('refuses bodies that try to set chain members, use reserved types or lack required fields', async () => {
    await withTempDir(async (directory) => {
      const log = await AuditLog.open(join(directory, 'audit.jsonl'));
      const refused = [
        { ...decision(1), sequence: 99 },
        { ...decision(1), hash: 'f'.repeat(64) },
        { ...decision(1), prev_hash: AUDIT_GENESIS_HASH },
        { ...decision(1), event_type: 'recovery' },
        { ...decision(1), event_id: '' },
        { ...decision(1), timestamp: 5 },
        null,
        [],
      ];
      for (const body of refused) {
        await expect(log.append(body as never)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
      }
      await expect(log.append(decision(1, { reason: 'x'.repeat(2 * 1024 * 1024) }))).rejects.toMatchObject({
        code: 'INPUT_INVALID',
      });
      await log.close();
    });
  });

  it('stores a __proto__ key as data without polluting prototypes', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      const body = JSON.parse(
        '{"event_id":"e","timestamp":"t","event_type":"decision","__proto__":{"polluted":true}}',
      ) as never;
      const stored = await log.append(body);
      await log.close();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect((await lines(path))[0]).toContain('"__proto__":{"polluted":true}');
      expect((await verifyAuditLog(path)).ok).toBe(true);
    });
  });

  it('names the missing directory, and fails with AUDIT_WRITE_FAILED on an unwritable path', async () => {
    await withTempDir(async (directory) => {
      const missing = join(directory, 'no-such-dir', 'audit.jsonl');
      const error = await AuditLog.open(missing).catch((caught: unknown) => caught);
      expect(isAgentSafeError(error, 'AUDIT_WRITE_FAILED')).toBe(true);
      expect((error as Error).message).toContain(join(directory, 'no-such-dir'));
      const isDirectory = join(directory, 'a-directory');
      await mkdir(isDirectory);
      const second = await AuditLog.open(isDirectory).catch((caught: unknown) => caught);
      expect(isAgentSafeError(second, 'AUDIT_WRITE_FAILED')).toBe(true);
      expect((second as Error).message).toContain(isDirectory);
    });
  });

  it('refuses a log path that is a symbolic link', async () => {
    await withTempDir(async (directory) => {
      await writeFile(join(directory, 'real.jsonl'), '');
      await symlink(join(directory, 'real.jsonl'), join(directory, 'link.jsonl'));
      await expect(AuditLog.open(join(directory, 'link.jsonl'))).rejects.toMatchObject({
        code: 'AUDIT_WRITE_FAILED',
      });
    });
  });

  it('rejects a batch whose write fails (file size limit) and leaves the log consistent', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const script = join(fixtures, 'write-failure-child.mjs');
      const { stdout } = await run('bash', [
        '-c',
        'ulimit -f 2; exec "$0" "$1" "$2"',
        process.execPath,
        script,
        path,
      ]);
      const outcome = JSON.parse(stdout);
      expect(outcome.small).toBe(1);
      expect(outcome.large.code).toBe('AUDIT_WRITE_FAILED');
      expect(outcome.large.message).toContain(path);
      expect(outcome.large.message).toMatch(/EFBIG/);
      expect(outcome.after).toBe(2);
      const report = await verifyAuditLog(path);
      expect(report).toMatchObject({ ok: true, events: 2, warnings: [] });
    });
  });

  it('rejects options that make no sense and appends after close', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await expect(AuditLog.open(path, { durability: 'never' as never })).rejects.toMatchObject({
        code: 'USAGE',
      });
      await expect(AuditLog.open(path, { maxBatch: 0 })).rejects.toMatchObject({ code: 'USAGE' });
      await expect(AuditLog.open(path, { lockTimeoutMilliseconds: Number.NaN })).rejects.toMatchObject({
        code: 'USAGE',
      });
      const log = await AuditLog.open(path);
      await log.close();
      await expect(log.append(decision(1))).rejects.toMatchObject({ code: 'USAGE' });
    });
  });
});

describe('AuditLog torn tails', () => {
  it('acknowledges a torn last line with a recovery event, and verify then reports it as recovered', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      for (let index = 1; index <= 3; index++) await log.append(decision(index));
      await log.close();
      const { size } = await stat(path);
      const before = await lines(path);
      // Simulate a crash part way through writing the fourth line.
      await writeFile(path, `${before.join('\n')}\n${before[2]!.slice(0, 40)}`);
      expect((await stat(path)).size).toBe(size + 40);
      const torn = await verifyAuditLog(path);
      expect(torn.ok).toBe(true);
      expect(torn.events).toBe(3);
      expect(torn.warnings).toEqual([expect.objectContaining({ kind: 'torn-tail', line: 4 })]);

      const clock = new ManualClock(Date.UTC(2025, 5, 1));
      const again = await AuditLog.open(path, { clock });
      const appended = await again.append(decision(4));
      expect(again.stats.recoveries).toBe(1);
      await again.close();
      expect(appended.sequence).toBe(5);
      const events = await readAuditLog(path);
      const recovery = events.find((event) => event.event_type === 'recovery')!;
      expect(recovery).toMatchObject({
        sequence: 4,
        timestamp: '2025-06-01T00:00:00.000Z',
        torn_line: { line_number: 4, byte_offset: size, byte_length: 40 },
      });
      expect(recovery.prev_hash).toBe(events[2]!.hash);
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.events).toBe(5);
      expect(report.warnings).toEqual([expect.objectContaining({ kind: 'recovered-torn-line', line: 4 })]);
    });
  });

  it('keeps a last event that is complete but lacks its newline', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path);
      await log.append(decision(1));
      await log.append(decision(2));
      await log.close();
      const { size } = await stat(path);
      await truncate(path, size - 1);
      const again = await AuditLog.open(path);
      expect((await again.append(decision(3))).sequence).toBe(3);
      await again.close();
      expect(await verifyAuditLog(path)).toMatchObject({ ok: true, events: 3, warnings: [] });
    });
  });

  it('recovers a log whose only content is a torn line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeFile(path, '{"event_id":"e1","timest');
      const log = await AuditLog.open(path);
      const event = await log.append(decision(1));
      await log.close();
      expect(event.sequence).toBe(2);
      const report = await verifyAuditLog(path);
      expect(report).toMatchObject({ ok: true, events: 2 });
      expect(report.warnings.map((warning) => warning.kind)).toEqual(['recovered-torn-line']);
    });
  });
});

describe('AuditLog locking', () => {
  it('steals a stale lock left by a dead process', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const pid = await deadPid();
      await writeFile(
        `${path}.lock`,
        JSON.stringify({ pid, hostname: hostname(), token: 'dead', created: 0 }),
      );
      const log = await AuditLog.open(path, { lockTimeoutMilliseconds: 5000 });
      await log.append(decision(1));
      expect(log.stats.staleLocksRemoved).toBe(1);
      await log.close();
      await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  it('waits for a lock held by a live process and times out with AUDIT_LOCK_TIMEOUT naming the lock file', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      try {
        await writeFile(
          `${path}.lock`,
          JSON.stringify({ pid: holder.pid, hostname: hostname(), token: 'live', created: Date.now() }),
        );
        const log = await AuditLog.open(path, { lockTimeoutMilliseconds: 300 });
        const error = await log.append(decision(1)).catch((caught: unknown) => caught);
        expect(isAgentSafeError(error, 'AUDIT_LOCK_TIMEOUT')).toBe(true);
        expect((error as Error).message).toContain(`${path}.lock`);
        expect((error as Error).message).toContain(String(holder.pid));
        expect(log.stats.lockRetries).toBeGreaterThan(0);
        // Once the holder lets go, appends work again.
        await unlink(`${path}.lock`);
        expect((await log.append(decision(2))).sequence).toBe(1);
        await log.close();
      } finally {
        holder.kill();
      }
    });
  });

  it('treats a lock older than the staleness limit as abandoned even if its pid is alive', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeFile(
        `${path}.lock`,
        JSON.stringify({ pid: process.pid, hostname: hostname(), token: 'old', created: 0 }),
      );
      const log = await AuditLog.open(path, { staleLockMilliseconds: 50, lockTimeoutMilliseconds: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 80));
      await log.append(decision(1));
      expect(log.stats.staleLocksRemoved).toBe(1);
      await log.close();
    });
  });
});
