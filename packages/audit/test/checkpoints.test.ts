import { generateKeyPairSync } from 'node:crypto';
import { chmod, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AUDIT_GENESIS_HASH, canonicalJson } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import {
  AuditLog,
  type CheckpointKey,
  checkpointKeyFrom,
  hashAuditEvent,
  loadCheckpointKey,
  readAuditHead,
  readCheckpointFile,
  verifyAuditLog,
} from '../src/index.js';
import { decision, withTempDir } from './helpers.js';

const SECRET = 'a-checkpoint-secret-of-at-least-32-bytes-0123456789';
const key = checkpointKeyFrom(SECRET, 'env:TEST', { keyId: 'audit-test' });

async function writeLog(path: string, count: number, every = 10): Promise<string[]> {
  const log = await AuditLog.open(path, { durability: 'write', checkpoints: { key, every } });
  for (let index = 1; index <= count; index++) await log.append(decision(index));
  await log.close();
  return lines(path);
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}

async function rewrite(path: string, content: string[]): Promise<void> {
  await writeFile(path, content.length === 0 ? '' : `${content.join('\n')}\n`);
}

/** What an attacker without the key can do: recompute every hash (and the heads checkpoints name). */
function rechain(
  content: string[],
  change: (event: Record<string, unknown>, index: number) => void,
): string[] {
  let previous = AUDIT_GENESIS_HASH;
  let previousSequence = 0;
  return content.map((line, index) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    change(event, index);
    if (event.event_type === 'checkpoint') {
      const statement = event.checkpoint as Record<string, unknown>;
      statement.head_hash = previous;
      statement.sequence = previousSequence;
    }
    event.prev_hash = previous;
    event.hash = hashAuditEvent(event as unknown as AuditEvent);
    previous = event.hash as string;
    previousSequence = event.sequence as number;
    return canonicalJson(event);
  });
}

const kinds = (report: { problems: { kind: string }[] }) => report.problems.map((problem) => problem.kind);

describe('signed checkpoints', () => {
  it('are written every N events and on close, to the log and to a 0600 checkpoint file', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 25, 10);
      const types = content.map((line) => (JSON.parse(line) as AuditEvent).event_type);
      // 10 decisions, a checkpoint (covering 10), 8 more (sequence 19 → crossing 20 with the next)…
      expect(types.filter((type) => type === 'checkpoint')).toHaveLength(3);
      expect(types.at(-1)).toBe('checkpoint');
      const checkpoints = await readCheckpointFile(`${path}.checkpoints`);
      expect(checkpoints.every((line) => line.ok)).toBe(true);
      expect(checkpoints).toHaveLength(3);
      const last = checkpoints.at(-1)!;
      expect(last.ok && last.checkpoint.sequence).toBe(content.length - 1);
      expect((await stat(`${path}.checkpoints`)).mode & 0o777).toBe(0o600);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const first = JSON.parse(content[0]!) as AuditEvent;
      const report = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key });
      expect(report).toMatchObject({ ok: true, logId: first.hash, problems: [] });
      expect(report.checkpoints).toMatchObject({
        inFile: 3,
        inLog: 3,
        verified: 6,
        lastSequence: content.length - 1,
      });
      expect(report.proves.join('\n')).toMatch(/not cut below sequence/);
    });
  });

  it('are written after intervalSeconds even when events stop', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, {
        durability: 'write',
        checkpoints: { key, every: 1000, intervalSeconds: 0.05 },
      });
      await log.append(decision(1));
      await new Promise((resolve) => setTimeout(resolve, 400));
      const content = await lines(path);
      expect((JSON.parse(content.at(-1)!) as AuditEvent).event_type).toBe('checkpoint');
      await log.close();
      expect(await lines(path)).toHaveLength(2); // nothing new since: no second checkpoint on close
    });
  });

  it('refuses bodies that claim the reserved checkpoint and continuation types', async () => {
    await withTempDir(async (directory) => {
      const log = await AuditLog.open(join(directory, 'audit.jsonl'), { durability: 'write' });
      for (const type of ['checkpoint', 'log_continued']) {
        await expect(log.append({ ...decision(1), event_type: type })).rejects.toMatchObject({
          code: 'INPUT_INVALID',
        });
      }
      await log.close();
    });
  });

  it('signs with Ed25519; the public key alone verifies but cannot sign', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const pair = generateKeyPairSync('ed25519');
      const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const signing = checkpointKeyFrom(privatePem, 'env:PRIVATE');
      const verifying = checkpointKeyFrom(publicPem, 'env:PUBLIC');
      expect(verifying.keyId).toBe(signing.keyId);
      expect(verifying.canSign).toBe(false);
      await expect(AuditLog.open(path, { checkpoints: { key: verifying } })).rejects.toMatchObject({
        code: 'USAGE',
      });
      const log = await AuditLog.open(path, { durability: 'write', checkpoints: { key: signing, every: 3 } });
      for (let index = 1; index <= 7; index++) await log.append(decision(index));
      await log.close();
      const report = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key: verifying });
      expect(report.ok).toBe(true);
      expect(report.checkpoints.verified).toBeGreaterThan(0);
      const wrong = checkpointKeyFrom(SECRET, 'env:OTHER', { keyId: signing.keyId });
      const forged = await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key: wrong });
      expect(kinds(forged)).toContain('checkpoint-invalid');
    });
  });
});

describe('each tamper class, with and without checkpoints', () => {
  const setups = async (path: string) => ({
    withKey: await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key }),
    chainOnly: await verifyAuditLog(path),
  });

  it('deleting the whole history: detected with checkpoints, undetectable (and said so) without', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeLog(path, 12);
      await rewrite(path, []);
      const { withKey, chainOnly } = await setups(path);
      expect(kinds(withKey)).toEqual(['truncated']);
      expect(withKey.problems[0]!.message).toMatch(/history was deleted/);
      expect(chainOnly.ok).toBe(true);
      expect(chainOnly.cannotProve.join('\n')).toMatch(
        /cut from the end of the log, or the whole log deleted/,
      );
    });
  });

  it('deleting the whole history and writing a new one: detected as another log', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeLog(path, 12);
      const checkpoints = await readFile(`${path}.checkpoints`, 'utf8');
      await rewrite(path, []);
      await writeFile(`${path}.checkpoints`, '');
      await writeLog(path, 30); // a new history, long enough to pass the old checkpoints' sequences
      await writeFile(`${path}.checkpoints`, checkpoints);
      const { withKey } = await setups(path);
      expect(kinds(withKey)).toContain('checkpoint-mismatch');
    });
  });

  it('truncating the tail: detected with checkpoints or an anchor, undetectable without', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 25);
      const head = await readAuditHead(path);
      expect(head).toMatchObject({
        sequence: content.length,
        logId: (JSON.parse(content[0]!) as AuditEvent).hash,
      });
      await rewrite(path, content.slice(0, 15));
      const { withKey, chainOnly } = await setups(path);
      expect(kinds(withKey)).toEqual(['truncated']);
      expect(withKey.problems[0]!.message).toMatch(/ends at sequence 15.*cut from its end/);
      expect(chainOnly.ok).toBe(true);
      const anchored = await verifyAuditLog(path, {
        expectHead: head.headHash,
        expectSequence: head.sequence,
      });
      expect(kinds(anchored)).toEqual(['anchor-mismatch']);
      const headOnly = await verifyAuditLog(path, { expectHead: head.headHash });
      expect(kinds(headOnly)).toEqual(['anchor-mismatch']);
    });
  });

  it('rewriting one event and recomputing every hash: rejected with the key, undetectable by the chain alone', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 25);
      const forged = rechain(content, (event, index) => {
        if (index === 3) event.decision = 'DENY';
      });
      await rewrite(path, forged);
      const chainOnly = await verifyAuditLog(path);
      expect(chainOnly.ok).toBe(true);
      expect(chainOnly.cannotProve.join('\n')).toMatch(/checkpoints are genuine/);
      const inLogOnly = await verifyAuditLog(path, { key });
      expect(kinds(inLogOnly)).toContain('checkpoint-invalid');
      const { withKey } = await setups(path);
      expect(kinds(withKey)).toEqual(expect.arrayContaining(['checkpoint-mismatch', 'checkpoint-invalid']));
    });
  });

  it('editing one line: detected in every setup, naming the line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 12);
      content[4] = content[4]!.replace('"ALLOW"', '"DENY"');
      await rewrite(path, content);
      const { withKey, chainOnly } = await setups(path);
      expect(kinds(chainOnly)).toEqual(['hash-mismatch']);
      expect(chainOnly.problems[0]).toMatchObject({ line: 5 });
      expect(kinds(withKey)).toContain('hash-mismatch');
    });
  });

  it('reordering lines: detected in every setup', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 12);
      [content[2], content[3]] = [content[3]!, content[2]!];
      await rewrite(path, content);
      const { withKey, chainOnly } = await setups(path);
      expect(kinds(chainOnly)).toContain('chain-break');
      expect(kinds(withKey)).toContain('chain-break');
    });
  });

  it('a duplicated key (the line says ALLOW to grep and DENY to JSON.parse): rejected, naming the line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const content = await writeLog(path, 5);
      // Same hash as before for JSON.parse (the last member wins), so only canonical form catches it.
      content[1] = content[1]!.replace('"decision":"ALLOW"', '"decision":"DENY","decision":"ALLOW"');
      await rewrite(path, content);
      const { withKey, chainOnly } = await setups(path);
      for (const report of [withKey, chainOnly]) {
        expect(kinds(report)).toEqual(['non-canonical']);
        expect(report.problems[0]).toMatchObject({ line: 2 });
        expect(report.problems[0]!.message).toMatch(/duplicated key/);
      }
    });
  });

  it('reordered keys and non-canonical numbers: rejected, naming the line', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const log = await AuditLog.open(path, { durability: 'write' });
      await log.append(decision(1, { risk: 5 }));
      await log.append(decision(2));
      await log.close();
      const content = await lines(path);
      const original = [...content];
      content[0] = content[0]!.replace('"risk":5', '"risk":5.0');
      await rewrite(path, content);
      expect((await verifyAuditLog(path)).problems).toEqual([
        expect.objectContaining({ kind: 'non-canonical', line: 1 }),
      ]);
      const event = JSON.parse(original[1]!) as Record<string, unknown>;
      const reordered = `{${Object.keys(event)
        .reverse()
        .map((name) => `${JSON.stringify(name)}:${JSON.stringify(event[name])}`)
        .join(',')}}`;
      await rewrite(path, [original[0]!, reordered]);
      expect((await verifyAuditLog(path)).problems).toEqual([
        expect.objectContaining({ kind: 'non-canonical', line: 2 }),
      ]);
    });
  });

  it('a forged checkpoint file (signatures made up without the key) is rejected', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      await writeLog(path, 12);
      const attacker = checkpointKeyFrom('an-attacker-secret-that-is-long-enough-000', 'env:X', {
        keyId: 'audit-test',
      });
      const entries = (await readFile(`${path}.checkpoints`, 'utf8')).split('\n').filter(Boolean);
      const forged = entries.map((line) => {
        const { signature: _old, ...statement } = JSON.parse(line) as Record<string, unknown>;
        return canonicalJson({ ...statement, signature: attacker.sign('anything') });
      });
      await writeFile(`${path}.checkpoints`, `${forged.join('\n')}\n`);
      expect(kinds(await verifyAuditLog(path, { checkpoints: `${path}.checkpoints`, key }))).toContain(
        'checkpoint-invalid',
      );
    });
  });
});

describe('checkpoint keys', () => {
  it('come from env: or file: only, with the identity keys permission rules', async () => {
    await withTempDir(async (directory) => {
      await expect(loadCheckpointKey(SECRET)).rejects.toMatchObject({ code: 'KEY_INVALID' });
      await expect(loadCheckpointKey('env:NOPE_NOT_SET', { env: {} })).rejects.toMatchObject({
        message: expect.stringMatching(/NOPE_NOT_SET is not set/),
      });
      await expect(loadCheckpointKey('env:SHORT', { env: { SHORT: 'too-short' } })).rejects.toMatchObject({
        message: expect.stringMatching(/at least 32/),
      });
      const file = join(directory, 'checkpoint.key');
      await writeFile(file, SECRET, { mode: 0o644 });
      await chmod(file, 0o644);
      await expect(loadCheckpointKey(`file:${file}`)).rejects.toMatchObject({
        message: expect.stringMatching(/readable by other users.*chmod 600/),
      });
      await chmod(file, 0o600);
      const loaded: CheckpointKey = await loadCheckpointKey(`file:${file}`, { keyId: 'k1' });
      expect(loaded).toMatchObject({ algorithm: 'HS256', keyId: 'k1', canSign: true });
      expect(loaded.verify('x', key.sign('x'))).toBe(true);
      const fromEnv = await loadCheckpointKey('env:K', { env: { K: SECRET } });
      expect(fromEnv.keyId).toMatch(/^hmac-[0-9a-f]{16}$/);
      expect(fromEnv.keyId).not.toContain(SECRET.slice(0, 8));
    });
  });
});

describe('the checkpoint file', () => {
  it('is never written through a symbolic link: open fails naming it, the target stays untouched', async () => {
    await withTempDir(async (directory) => {
      const path = join(directory, 'audit.jsonl');
      const victim = join(directory, 'victim.txt');
      await writeFile(victim, 'precious\n');
      await symlink(victim, `${path}.checkpoints`);
      await expect(AuditLog.open(path, { checkpoints: { key } })).rejects.toMatchObject({
        code: 'AUDIT_WRITE_FAILED',
        message: expect.stringContaining('checkpoint file'),
      });
      expect(await readFile(victim, 'utf8')).toBe('precious\n');
    });
  });
});
