import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '@agent-safe/core';
import { AuditLog, checkpointKeyFrom, verifyAuditLog } from '../src/index.js';
import { withTempDir } from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const SECRET = 'crash-test-checkpoint-secret-0123456789abcdef';
const ROUNDS = 6;
const CHILDREN = 3;

/** Runs a writer child until it has acknowledged some events, then SIGKILLs it mid-append. */
function runAndKill(path: string, label: string, acknowledged: Set<string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(fixtures, 'crash-child.mjs'), path, label], {
      env: { ...process.env, CRASH_TEST_KEY: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    let stderr = '';
    let acks = 0;
    // Kill at a random point after the first acknowledgements, so the kill lands inside appends.
    const killAfter = 5 + Math.floor(Math.random() * 200);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('ack ')) {
          acknowledged.add(line.slice(4));
          if (++acks === killAfter) child.kill('SIGKILL');
        }
        newline = buffered.indexOf('\n');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child ${label} exited ${code}: ${stderr}`));
      else resolve();
    });
  });
}

describe('crash safety', () => {
  it(`writers SIGKILLed mid-append (${ROUNDS} rounds of ${CHILDREN} at once): every acknowledged event is there, at most a torn line per kill, appends continue`, async () => {
    expect(existsSync(join(import.meta.dirname, '..', 'dist', 'index.js'))).toBe(true);
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const acknowledged = new Set<string>();
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(
          Array.from({ length: CHILDREN }, (_, index) =>
            runAndKill(path, `r${round}c${index}`, acknowledged),
          ),
        );
      }
      const kills = ROUNDS * CHILDREN;
      expect(acknowledged.size).toBeGreaterThan(kills);
      const key = checkpointKeyFrom(SECRET, 'env:CRASH_TEST_KEY', { keyId: 'crash' });
      const report = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key });
      expect(report.problems).toEqual([]);
      const torn = report.warnings.filter(
        (warning) => warning.kind === 'torn-tail' || warning.kind === 'recovered-torn-line',
      );
      expect(report.warnings.length).toBe(torn.length);
      expect(torn.length).toBeLessThanOrEqual(kills);
      const stored = new Set(
        (await readFile(path, 'utf8'))
          .split('\n')
          .filter((line) => line.startsWith('{') && line.endsWith('}'))
          .map((line) => (JSON.parse(line) as AuditEvent).event_id),
      );
      const missing = [...acknowledged].filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      // And the log takes appends again, acknowledging any torn tail, and verifies clean.
      const log = await AuditLog.open(path, { durability: 'fsync', checkpoints: { key } });
      await log.append({
        event_id: 'after-crashes',
        timestamp: new Date().toISOString(),
        event_type: 'decision',
      });
      await log.close();
      const after = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key });
      expect(after.ok).toBe(true);
      expect(
        after.warnings.filter(
          (warning) => warning.kind === 'torn-tail' && !warning.message.startsWith('checkpoint file'),
        ),
      ).toEqual([]);
      expect(after.checkpoints.lastSequence).toBe(after.lastSequence - 1);
    });
  }, 120_000);
});
