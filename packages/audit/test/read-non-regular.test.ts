import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { readAuditLog, verifyAuditLog } from '../src/index.js';

describe('audit readers refuse what is not a regular file', () => {
  const directory = mkdtempSync(join(tmpdir(), 'audit-non-regular-'));
  const fifo = join(directory, 'log.fifo');
  execFileSync('mkfifo', [fifo]);

  it.each([
    ['a directory without a log', directory, /is a directory|no audit log/],
    ['an endless device', '/dev/zero', /is a device/],
    ['a named pipe without a writer', fifo, /is a named pipe/],
  ])(
    '%s',
    async (_label, path, message) => {
      for (const read of [
        () => verifyAuditLog(path),
        () => readAuditLog(path),
        () => readAuditLog(path, { last: 5 }),
      ]) {
        await expect(read()).rejects.toMatchObject({
          code: 'FILE_UNREADABLE',
          message: expect.stringMatching(message),
        });
      }
    },
    10_000,
  );
});
