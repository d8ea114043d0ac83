import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { AuditLog, checkpointKeyFrom, readAuditHead, readAuditLog, verifyAuditLog } from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

const key = checkpointKeyFrom('rotation-test-secret-0123456789abcdef-01', 'env:TEST', { keyId: 'rot' });

async function events(path: string): Promise<AuditEvent[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent);
}

const kinds = (report: { problems: { kind: string }[] }) => report.problems.map((problem) => problem.kind);

describe('rotation by size', () => {
  it('continues the chain across files; verify and show walk them, from the log path or its directory', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, {
        durability: 'write',
        rotate: { maxBytes: 2048 },
        checkpoints: { key, every: 7 },
      });
      for (let index = 1; index <= 40; index++) await log.append(decision(index));
      await log.close();
      expect(log.stats.rotations).toBeGreaterThan(2);
      const names = (await readdir(directory)).filter((name) => /^audit\.jsonl\.\d{12}$/.test(name)).sort();
      expect(names.length).toBe(log.stats.rotations);
      const current = await events(path);
      expect(current[0]).toMatchObject({
        event_type: 'log_continued',
        previous_file: names.at(-1),
        reason: 'rotated',
      });
      const previous = await events(join(directory, names.at(-1)!));
      expect(current[0]!.prev_hash).toBe(previous.at(-1)!.hash);
      expect(current[0]!.sequence).toBe(previous.at(-1)!.sequence + 1);
      const first = await events(join(directory, names[0]!));
      expect(current[0]!.log_id).toBe(first[0]!.hash);
      for (const target of [path, directory]) {
        const report = await verifyAuditLog(target, { checkpoints: `${path}.checkpoints`, key });
        expect(report).toMatchObject({ ok: true, problems: [], warnings: [], logId: first[0]!.hash });
        expect(report.files).toHaveLength(names.length + 1);
        expect(report.checkpoints.lastSequence).toBe(report.lastSequence - 1);
        const shown = await readAuditLog(target, { eventType: 'decision' });
        expect(shown.map((event) => event.event_id)).toEqual(
          Array.from({ length: 40 }, (_, index) => `evt-${index + 1}`),
        );
        const last = await readAuditLog(target, { last: 3 });
        expect(last.map((event) => event.sequence)).toEqual([
          report.lastSequence - 2,
          report.lastSequence - 1,
          report.lastSequence,
        ]);
      }
      expect((await readAuditHead(directory)).logId).toBe(first[0]!.hash);
    });
  });

  it('reports a missing rotated file as a gap, and a missing oldest file as unverified history', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write', rotate: { maxBytes: 1024 } });
      for (let index = 1; index <= 30; index++) await log.append(decision(index));
      await log.close();
      const names = (await readdir(directory)).filter((name) => /^audit\.jsonl\.\d{12}$/.test(name)).sort();
      expect(names.length).toBeGreaterThan(3);
      await unlink(join(directory, names[1]!));
      const gap = await verifyAuditLog(path);
      expect(kinds(gap)).toEqual(['missing-file']);
      expect(gap.problems[0]!.message).toMatch(/event\(s\) are missing between them/);
      await unlink(join(directory, names[0]!));
      const retention = await verifyAuditLog(path);
      expect(retention.ok).toBe(true);
      expect(retention.warnings).toEqual([expect.objectContaining({ kind: 'missing-file' })]);
      expect(retention.cannotProve.join('\n')).toMatch(/the files holding them are not here/);
    });
  });
});

describe('rotation by day', () => {
  it('starts a new file at the first write of a new UTC day', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const clock = new ManualClock(Date.parse('2026-12-03T23:59:00Z'));
      const log = await AuditLog.open(path, { durability: 'write', rotate: { daily: true }, clock });
      const at = (index: number) => ({ ...decision(index), timestamp: new Date(clock.now()).toISOString() });
      await log.append(at(1));
      await log.append(at(2));
      clock.advance(120_000);
      await log.append(at(3));
      await log.close();
      expect(log.stats.rotations).toBe(1);
      expect(
        (await events(join(directory, 'audit.jsonl.000000000002'))).map((event) => event.sequence),
      ).toEqual([1, 2]);
      expect((await events(path)).map((event) => event.event_type)).toEqual(['log_continued', 'decision']);
      expect((await verifyAuditLog(directory)).ok).toBe(true);
    });
  });
});

describe('external rotation (logrotate renames the file while the writer appends)', () => {
  it('notices the rename and continues the chain in the new file; no event goes to a removed file', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      for (let index = 1; index <= 5; index++) await log.append(decision(index));
      await rename(path, `${path}.1`);
      for (let index = 6; index <= 8; index++) await log.append(decision(index));
      const current = await events(path);
      expect(current[0]).toMatchObject({
        event_type: 'log_continued',
        previous_sequence: 5,
        previous_file: null,
      });
      expect(current.slice(1).map((event) => event.event_id)).toEqual(['evt-6', 'evt-7', 'evt-8']);
      expect((await verifyAuditLog(path)).ok).toBe(true);
      // Rotated again and the rotated file deleted at once: the next event is still in a file.
      await rename(path, `${path}.2`);
      await unlink(`${path}.2`);
      const stored = await log.append(decision(9));
      await log.close();
      const after = await events(path);
      expect(after.map((event) => event.event_id)).toContain(stored.event_id);
      const report = await verifyAuditLog(path);
      expect(kinds(report)).toEqual(['missing-file']);
    });
  });

  it('notices a rename within the check interval under sustained load, and on reopen() at once', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      let stop = false;
      const load = (async () => {
        let index = 0;
        while (!stop) await Promise.all(Array.from({ length: 8 }, () => log.append(decision(++index))));
      })();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await rename(path, `${path}.1`);
      log.reopen();
      await new Promise((resolve) => setTimeout(resolve, 300));
      stop = true;
      await load;
      await log.close();
      expect((await events(path))[0]!.event_type).toBe('log_continued');
      expect((await verifyAuditLog(directory)).ok).toBe(true);
    });
  });

  it('continues the chain after a copytruncate (documented as unsafe: events between copy and truncate are lost)', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      for (let index = 1; index <= 3; index++) await log.append(decision(index));
      await writeFile(`${path}.1`, await readFile(path));
      await writeFile(path, '');
      await log.append(decision(4));
      await log.close();
      expect((await events(path))[0]).toMatchObject({
        event_type: 'log_continued',
        reason: 'truncated in place',
      });
      expect((await verifyAuditLog(directory)).ok).toBe(true);
    });
  });
});
