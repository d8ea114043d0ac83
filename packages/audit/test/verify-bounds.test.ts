import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AuditLog, verifyAuditLog } from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

describe('verify bounds what it reads', () => {
  it('reports a line over 64 MiB as line-too-long, naming it, without holding it, and goes on', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      await log.append(decision(1));
      await log.append(decision(2));
      await log.close();
      const [first, second] = (await readFile(path, 'utf8')).split('\n');
      const handle = await open(path, 'w');
      await handle.write(`${first}\n`);
      const chunk = Buffer.alloc(8 * 1024 * 1024, 0x61);
      for (let index = 0; index < 9; index++) await handle.write(chunk);
      await handle.write(`\n${second}\n`);
      await handle.close();
      const report = await verifyAuditLog(path);
      expect(report.lines).toBe(3);
      expect(report.problems.map((problem) => [problem.kind, problem.line])).toEqual([
        ['line-too-long', 2],
        // The line after it still links to line 1: nothing was lost but the damage itself.
      ]);
      expect(report.problems[0]!.message).toMatch(/line 2 is longer than 67108864 bytes/);
      expect(report.lastSequence).toBe(2);
    });
  }, 30_000);

  it('refuses a checkpoint file that is not a regular file, and a checkpoint line over 4 KiB', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      await log.append(decision(1));
      await log.close();
      await expect(verifyAuditLog(path, { checkpoints: directory })).rejects.toMatchObject({
        code: 'FILE_UNREADABLE',
      });
      await writeFile(`${path}.checkpoints`, `{"alg":"HS256","x":"${'a'.repeat(5000)}"}\n`);
      const report = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints` });
      expect(report.problems).toEqual([
        expect.objectContaining({
          kind: 'checkpoint-invalid',
          message: expect.stringMatching(/longer than 4096/),
        }),
      ]);
    });
  });
});
