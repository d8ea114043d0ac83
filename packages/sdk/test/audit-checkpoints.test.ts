import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AgentSafe, loadCheckpointKey, loadProjectConfig, verifyAuditLog } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

const SECRET = 'sdk-checkpoint-secret-0123456789abcdef-0123';

describe('auditCheckpoints', () => {
  it('signs checkpoints of the audit log with a key from env:, every N events and on close', async () => {
    const dir = copyProject();
    process.env.AGENT_SAFE_TEST_CHECKPOINT_KEY = SECRET;
    const log = join(dir, 'audit.jsonl');
    const safe = new AgentSafe({
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
      auditLog: log,
      auditDurability: 'write',
      config: false,
      auditCheckpoints: { key: 'env:AGENT_SAFE_TEST_CHECKPOINT_KEY', keyId: 'sdk-test', every: 4 },
    });
    for (let index = 0; index < 6; index++) {
      await safe.check({
        caller: 'agent-01',
        action: 'restart-deployment',
        target: 'dev/app',
        params: { namespace: 'd', deployment: `a${index}` },
      });
    }
    await safe.close();
    const types = (await readJsonl(log)).map((event) => event.event_type);
    expect(types.filter((type) => type === 'checkpoint')).toHaveLength(2);
    expect(types.at(-1)).toBe('checkpoint');
    const key = await loadCheckpointKey('env:AGENT_SAFE_TEST_CHECKPOINT_KEY', { keyId: 'sdk-test' });
    const report = await verifyAuditLog(log, { checkpoints: `${log}.checkpoints`, key });
    expect(report.ok).toBe(true);
    expect(report.checkpoints.lastSequence).toBe(types.length - 1);
    delete process.env.AGENT_SAFE_TEST_CHECKPOINT_KEY;
  });

  it('reads audit_checkpoints from agent-safe.yaml and refuses a literal key', () => {
    const dir = copyProject();
    const file = join(dir, 'agent-safe.yaml');
    writeFileSync(
      file,
      'audit_checkpoints:\n  key: file:keys/audit.key\n  key_id: audit-1\n  every: 500\n  interval_seconds: 30\n',
    );
    expect(loadProjectConfig({ file }).auditCheckpoints).toEqual({
      key: `file:${join(dir, 'keys', 'audit.key')}`,
      keyId: 'audit-1',
      every: 500,
      intervalSeconds: 30,
    });
    writeFileSync(file, `audit_checkpoints:\n  key: ${SECRET}\n  every: 0\n  colour: blue\n`);
    let issues: { path?: string; message: string }[] = [];
    try {
      loadProjectConfig({ file });
    } catch (error) {
      issues = (error as { issues: typeof issues }).issues;
    }
    expect(issues.map((issue) => issue.path)).toEqual([
      'audit_checkpoints.key',
      'audit_checkpoints.every',
      'audit_checkpoints.colour',
    ]);
    expect(JSON.stringify(issues)).not.toContain(SECRET);
  });

  it('checks the settings at construction, naming each bad one', () => {
    const dir = copyProject();
    const base = {
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
      config: false as const,
    };
    let issues: { path?: string }[] = [];
    try {
      new AgentSafe({
        ...base,
        auditLog: join(dir, 'audit.jsonl'),
        auditCheckpoints: { key: SECRET, every: 0, intervalSeconds: -1 },
      });
    } catch (error) {
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      issues = (error as { issues: typeof issues }).issues;
    }
    expect(issues.map((issue) => issue.path)).toEqual([
      'auditCheckpoints.key',
      'auditCheckpoints.every',
      'auditCheckpoints.intervalSeconds',
    ]);
    expect(JSON.stringify(issues)).not.toContain(SECRET);
    const sink = { append: async () => undefined, close: async () => undefined };
    expect(
      () =>
        new AgentSafe({
          ...base,
          auditLog: sink as never,
          auditCheckpoints: { key: 'env:AGENT_SAFE_TEST_CHECKPOINT_KEY' },
        }),
    ).toThrow(/invalid auditCheckpoints/);
  });

  it('rotates the log with audit_rotate from agent-safe.yaml, the chain continued', async () => {
    const dir = copyProject();
    const file = join(dir, 'agent-safe.yaml');
    writeFileSync(
      file,
      'audit_log: ./audit.jsonl\naudit_durability: write\naudit_rotate:\n  max_bytes: 2048\n  daily: true\n',
    );
    expect(loadProjectConfig({ file }).auditRotate).toEqual({ maxBytes: 2048, daily: true });
    const safe = new AgentSafe({
      cwd: dir,
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
    });
    for (let index = 0; index < 12; index++) {
      await safe.check({
        caller: 'agent-01',
        action: 'restart-deployment',
        target: 'dev/app',
        params: { namespace: 'd', deployment: `a${index}` },
      });
    }
    await safe.close();
    const report = await verifyAuditLog(join(dir, 'audit.jsonl'));
    expect(report.ok).toBe(true);
    expect(report.files.length).toBeGreaterThan(1);
    writeFileSync(file, 'audit_rotate:\n  max_bytes: 10\n  weekly: true\n');
    let issues: { path?: string }[] = [];
    try {
      loadProjectConfig({ file });
    } catch (error) {
      issues = (error as { issues: typeof issues }).issues;
    }
    expect(issues.map((issue) => issue.path)).toEqual(['audit_rotate.max_bytes', 'audit_rotate.weekly']);
  });
});
