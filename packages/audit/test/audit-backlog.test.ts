// AuditLog.backlog: the appends not yet acknowledged (what the server's agent_safe_audit_queue_events
// reports) and the time of the last batch.
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '@agent-safe/core';
import { AuditLog } from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

describe('AuditLog.backlog', () => {
  it('counts appends until they are written, then reads 0 with the last batch timed', async () => {
    await withTempDir(async (dir) => {
      const log = await AuditLog.open(join(dir, 'audit.jsonl'), { durability: 'write' });
      expect(log.backlog).toEqual({ events: 0, lastBatchSeconds: 0 });
      const appends: Promise<AuditEvent>[] = [];
      for (let index = 0; index < 25; index++) appends.push(log.append(decision(index)));
      // Nothing is written before the next turn of the event loop: all 25 wait.
      expect(log.backlog.events).toBe(25);
      await Promise.all(appends);
      expect(log.backlog.events).toBe(0);
      expect(log.backlog.lastBatchSeconds).toBeGreaterThan(0);
      await log.close();
    });
  });
});
