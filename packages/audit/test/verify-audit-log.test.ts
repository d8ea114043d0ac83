import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { AuditLog, hashAuditEvent, readAuditLog, verifyAuditLog } from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

async function writeChain(path: string, count: number): Promise<string[]> {
  const log = await AuditLog.open(path, { durability: 'write' });
  for (let index = 1; index <= count; index++) await log.append(decision(index));
  await log.close();
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}

async function rewrite(path: string, lines: string[]): Promise<void> {
  await writeFile(path, `${lines.join('\n')}\n`);
}

describe('verifyAuditLog', () => {
  it('accepts an intact chain and reports progress', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeChain(path, 50);
      const progress: number[] = [];
      const report = await verifyAuditLog(path, { onProgress: (done) => progress.push(done) });
      expect(report).toMatchObject({
        ok: true,
        events: 50,
        lines: 50,
        lastSequence: 50,
        problems: [],
        warnings: [],
      });
      expect(progress.at(-1)).toBe(50);
    });
  });

  it('reports a one-byte modification as hash-mismatch on that line only', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 10);
      lines[4] = lines[4]!.replace('web-5', 'web-6');
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'hash-mismatch', line: 5, sequence: 5 }),
      ]);
      expect(report.problems[0]!.message).toContain('line 5');
    });
  });

  it('reports a modified line whose hash was recomputed as a chain break on the next line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 5);
      const forged = { ...(JSON.parse(lines[2]!) as AuditEvent), decision: 'DENY' };
      lines[2] = canonicalJson({ ...forged, hash: hashAuditEvent(forged) });
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'chain-break', line: 4, sequence: 4 }),
      ]);
    });
  });

  it('reports a deleted line as a chain break that says events were deleted', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 10);
      lines.splice(3, 1);
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ kind: 'chain-break', line: 4, sequence: 5 });
      expect(report.problems[0]!.message).toMatch(/jumped from 3 to 5.*deleted/);
    });
  });

  it('reports a deleted first line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 3);
      await rewrite(path, lines.slice(1));
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'chain-break', line: 1, sequence: 2 }),
      ]);
      expect(report.problems[0]!.message).toMatch(/removed from the start/);
    });
  });

  it('reports an inserted forged line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 6);
      const previous = JSON.parse(lines[2]!) as AuditEvent;
      const forgedBody = { ...decision(99), sequence: 4, prev_hash: previous.hash };
      lines.splice(3, 0, canonicalJson({ ...forgedBody, hash: hashAuditEvent(forgedBody as never) }));
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'chain-break', line: 5, sequence: 4 }),
      ]);
      expect(report.problems[0]!.message).toMatch(/line 4 was inserted/);
    });
  });

  it('reports two swapped lines as reordered', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 8);
      [lines[3], lines[4]] = [lines[4]!, lines[3]!];
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.ok).toBe(false);
      expect(report.problems.map((problem) => [problem.kind, problem.line])).toEqual([
        ['chain-break', 4],
        ['chain-break', 5],
        ['chain-break', 6],
      ]);
      expect(report.problems[1]!.message).toMatch(/reordered/);
    });
  });

  it('reports a line that is not JSON as bad-json', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 5);
      lines.splice(2, 0, 'this is not json');
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'bad-json', line: 3 })]);
      expect(report.events).toBe(5);
    });
  });

  it('reports a JSON line without the event shape, and a sequence gap whose hashes link', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 2);
      const last = JSON.parse(lines[1]!) as AuditEvent;
      const skipped = { ...decision(3), sequence: 7, prev_hash: last.hash };
      lines.push(canonicalJson({ ...skipped, hash: hashAuditEvent(skipped as never) }));
      lines.push('{"sequence":"1"}');
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.problems.map((problem) => [problem.kind, problem.line])).toEqual([
        ['sequence-gap', 3],
        ['bad-json', 4],
      ]);
    });
  });

  it('rejects a line rewritten in non-canonical form, naming the line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const lines = await writeChain(path, 3);
      lines[1] = JSON.stringify(JSON.parse(lines[1]!), null, 1).replace(/\n/g, '');
      await rewrite(path, lines);
      const report = await verifyAuditLog(path);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'non-canonical', line: 2 })]);
      expect(report.problems[0]!.message).toMatch(/line 2 .*whitespace/);
    });
  });

  it('checks lines with non-ASCII content and escapes through the full path', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      await log.append(
        decision(1, { reason: 'café ☕ "quoted"\n\u0001 \ud800', params: { '10': 1, '9': 2, é: 0.5 } }),
      );
      await log.append(decision(2, { context: { ratio: 1e21, small: 1e-7, negative: -0 } }));
      await log.close();
      const report = await verifyAuditLog(path);
      expect(report).toMatchObject({ ok: true, events: 2, warnings: [] });
      const text = await readFile(path, 'utf8');
      await writeFile(path, text.replace('café', 'cafe'));
      expect((await verifyAuditLog(path)).problems).toEqual([
        expect.objectContaining({ kind: 'hash-mismatch', line: 1 }),
      ]);
    });
  });

  it('does not accept a torn line that a recovery event does not name', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeChain(path, 2);
      await writeFile(path, `${await readFile(path, 'utf8')}{"torn`);
      const log = await AuditLog.open(path);
      await log.append(decision(3));
      await log.close();
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines[2] = '{"torn-but-different';
      await writeFile(path, lines.join('\n'));
      const report = await verifyAuditLog(path);
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'bad-json', line: 3 })]);
    });
  });

  it('throws FILE_UNREADABLE for a missing file and verifies an empty one', async () => {
    await withTempDir(async (directory) => {
      await expect(verifyAuditLog(join(directory, 'missing.jsonl'))).rejects.toMatchObject({
        code: 'FILE_UNREADABLE',
      });
      await writeFile(join(directory, 'empty.jsonl'), '');
      expect(await verifyAuditLog(join(directory, 'empty.jsonl'))).toMatchObject({ ok: true, events: 0 });
    });
  });

  it('verifies lines that span the 4 MiB read chunks', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write', maxEventBytes: 8 * 1024 * 1024 });
      await log.append(decision(1, { reason: 'r'.repeat(3 * 1024 * 1024) }));
      await log.append(decision(2, { reason: 's'.repeat(5 * 1024 * 1024) }));
      await log.append(decision(3));
      await log.close();
      expect(await verifyAuditLog(path)).toMatchObject({ ok: true, events: 3 });
    });
  });
});

describe('readAuditLog', () => {
  it('reads all events, filters by type, and reads the last N from the end, skipping a torn tail', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      for (let index = 1; index <= 20; index++) {
        await log.append(decision(index, index % 4 === 0 ? { event_type: 'ticket_validation' } : {}));
      }
      await log.close();
      await writeFile(path, `${await readFile(path, 'utf8')}{"half`);
      expect(await readAuditLog(path)).toHaveLength(20);
      const tickets = await readAuditLog(path, { eventType: 'ticket_validation' });
      expect(tickets.map((event) => event.sequence)).toEqual([4, 8, 12, 16, 20]);
      expect((await readAuditLog(path, { last: 3 })).map((event) => event.sequence)).toEqual([18, 19, 20]);
      const lastTickets = await readAuditLog(path, { last: 2, eventType: 'ticket_validation' });
      expect(lastTickets.map((event) => event.sequence)).toEqual([16, 20]);
      expect(await readAuditLog(path, { last: 100 })).toHaveLength(20);
      await expect(readAuditLog(path, { last: -1 })).rejects.toMatchObject({ code: 'USAGE' });
    });
  });
});

describe('hashAuditEvent', () => {
  it('is SHA-256 of the canonical JSON without the hash member', () => {
    const event = { ...decision(1), sequence: 1, prev_hash: '0'.repeat(64) };
    const expected = createHash('sha256').update(canonicalJson(event)).digest('hex');
    expect(hashAuditEvent(event as never)).toBe(expected);
    expect(hashAuditEvent({ ...event, hash: 'ignored' } as never)).toBe(expected);
  });
});
