import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog, checkpointKeyFrom } from '@agent-safe/sdk';
import { cli } from './run-cli.js';

const SECRET = 'cli-checkpoint-secret-0123456789abcdef-0123';
const env = { AUDIT_CHECKPOINT_KEY: SECRET };
const keyArgs = [
  '--checkpoints',
  'audit.jsonl.checkpoints',
  '--key',
  'env:AUDIT_CHECKPOINT_KEY',
  '--key-id',
  'k1',
];

function envelope(stdout: string) {
  return JSON.parse(stdout) as {
    ok: boolean;
    data: {
      proves: string[];
      cannotProve: string[];
      sequence?: number;
      headHash?: string;
      logId?: string;
    } | null;
    errors: { code: string; message: string }[];
  };
}

describe('audit verify with checkpoints and anchors, audit head', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-safe-cli-audit-'));
    const key = checkpointKeyFrom(SECRET, 'env:AUDIT_CHECKPOINT_KEY', { keyId: 'k1' });
    const log = await AuditLog.open(join(dir, 'audit.jsonl'), {
      durability: 'write',
      checkpoints: { key, every: 5 },
    });
    for (let index = 0; index < 12; index++) {
      await log.append({
        event_id: `e${index}`,
        timestamp: '2026-12-03T00:00:00.000Z',
        event_type: 'decision',
        decision: 'ALLOW',
      });
    }
    await log.close();
  });

  it('proves what the checkpoints prove, and says what the chain alone cannot', () => {
    const signed = cli(['audit', 'verify', 'audit.jsonl', ...keyArgs, '--json-output'], dir, env);
    expect(signed.code).toBe(0);
    expect(envelope(signed.stdout).data!.proves.join('\n')).toMatch(/not cut below sequence 14/);
    const text = cli(['audit', 'verify', 'audit.jsonl', ...keyArgs], dir, env);
    expect(text.stdout).toMatch(/proves .*exactly those the writer holding key "k1" wrote/);
    const bare = cli(['audit', 'verify', 'audit.jsonl', '--json-output'], dir);
    expect(bare.code).toBe(0);
    expect(envelope(bare.stdout).data!.cannotProve.join('\n')).toMatch(/cut from the end of the log/);
  });

  it('head prints the anchor; verify fails once the log no longer holds it', () => {
    const head = envelope(cli(['audit', 'head', 'audit.jsonl', '--json-output'], dir).stdout).data!;
    expect(head).toMatchObject({ sequence: 15, headHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(cli(['audit', 'head', 'audit.jsonl'], dir).stdout).toMatch(/sequence\s+15/);
    const anchor = ['--expect-sequence', '15', '--expect-head', head.headHash!];
    expect(cli(['audit', 'verify', 'audit.jsonl', ...anchor], dir).code).toBe(0);
    const cut = mkdtempSync(join(tmpdir(), 'agent-safe-cli-audit-cut-'));
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').slice(0, 9);
    writeFileSync(join(cut, 'audit.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(join(cut, 'audit.jsonl.checkpoints'), readFileSync(join(dir, 'audit.jsonl.checkpoints')));
    const anchored = cli(['audit', 'verify', 'audit.jsonl', ...anchor, '--json-output'], cut);
    expect(anchored.code).toBe(1);
    expect(envelope(anchored.stdout).errors[0]!.message).toMatch(/anchor-mismatch/);
    const checked = cli(['audit', 'verify', 'audit.jsonl', ...keyArgs], cut, env);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toMatch(/truncated: the log ends at sequence 9/);
    expect(cli(['audit', 'verify', 'audit.jsonl'], cut).code).toBe(0);
  });

  it('refuses a literal key (never echoing it) and malformed anchors', () => {
    const literal = cli(['audit', 'verify', 'audit.jsonl', '--key', SECRET], dir);
    expect(literal.code).toBe(1);
    expect(literal.stderr).toMatch(/KEY_INVALID/);
    expect(literal.stderr + literal.stdout).not.toContain(SECRET);
    const bad = cli(['audit', 'verify', 'audit.jsonl', '--expect-sequence', 'ten'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--expect-sequence must be a positive integer/);
    expect(cli(['audit', 'verify', 'audit.jsonl', '--expect-head', 'abc'], dir).stderr).toMatch(
      /64 lowercase hex/,
    );
  });
});

describe('audit verify, show and head on a rotated log', () => {
  it('walk the rotated files from the log or its directory, and report a missing file as a gap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-cli-rotated-'));
    const log = await AuditLog.open(join(dir, 'audit.jsonl'), {
      durability: 'write',
      rotate: { maxBytes: 1024 },
    });
    for (let index = 0; index < 30; index++) {
      await log.append({
        event_id: `e${index}`,
        timestamp: '2026-12-03T00:00:00.000Z',
        event_type: 'decision',
        decision: 'ALLOW',
      });
    }
    await log.close();
    const verified = cli(['audit', 'verify', '.'], dir);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/\(\d+ files\): \d+ events, chain intact/);
    const shown = envelope(
      cli(['audit', 'show', 'audit.jsonl', '--last', '30', '--event-type', 'decision', '--json-output'], dir)
        .stdout,
    );
    expect(
      (shown.data as unknown as { events: { event_id: string }[] }).events.map((event) => event.event_id),
    ).toEqual(Array.from({ length: 30 }, (_, index) => `e${index}`));
    const rotated = readdirSync(dir)
      .filter((name) => /^audit\.jsonl\.\d{12}$/.test(name))
      .sort();
    expect(rotated.length).toBeGreaterThan(2);
    rmSync(join(dir, rotated[1]!));
    const gap = cli(['audit', 'verify', 'audit.jsonl'], dir);
    expect(gap.code).toBe(1);
    expect(gap.stdout).toMatch(/missing-file: .*event\(s\) are missing between them/);
  });
});
