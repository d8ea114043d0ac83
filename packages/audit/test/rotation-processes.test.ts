import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { readAuditLog, verifyAuditLog } from '../src/index.js';
import { withTempDir } from './helpers.js';

const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');

describe('rotation with several writer processes', () => {
  it('keeps one unbroken chain across the files whichever process rotates', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const outputs = await Promise.all(
        ['a', 'b', 'c'].map((label) =>
          run(process.execPath, [join(fixtures, 'rotate-child.mjs'), path, '300', label, '8192']),
        ),
      );
      const results = outputs.map(({ stdout }) => JSON.parse(stdout) as { ids: string[]; rotations: number });
      const rotations = results.reduce((sum, result) => sum + result.rotations, 0);
      const files = (await readdir(directory)).filter((name) => /^audit\.jsonl\.\d{12}$/.test(name));
      expect(files.length).toBe(rotations);
      expect(rotations).toBeGreaterThan(5);
      const report = await verifyAuditLog(directory);
      expect(report.problems).toEqual([]);
      expect(report.warnings).toEqual([]);
      const stored = new Set(
        (await readAuditLog(path, { eventType: 'decision' })).map((event) => event.event_id),
      );
      expect(stored.size).toBe(900);
      for (const result of results) for (const id of result.ids) expect(stored.has(id)).toBe(true);
    });
  }, 60_000);
});
