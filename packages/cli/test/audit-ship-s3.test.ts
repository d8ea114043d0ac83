// `agent-safe audit ship --backend s3` through the built CLI against moto 5.2.5 (a real S3 API, started
// privately; see packages/audit/test/moto-server.ts): objects named by sequence range, resumable.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AuditLog } from '@agent-safe/sdk';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';
import { BIN } from './run-cli.js';

let moto: MotoServer;
let s3: S3Client;
let directory: string;
const credentials = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
};

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'agent-safe-ship-s3-cli-'));
  moto = await startMoto();
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: moto.url,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  await moto?.stop();
  await rm(directory, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: directory,
      env: { ...process.env, ...credentials },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('agent-safe audit ship --backend s3 (moto)', () => {
  it('puts one object per range with Object Lock retention, then resumes with only the new range', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'cli-audit', ObjectLockEnabledForBucket: true }));
    const path = join(directory, 'audit.jsonl');
    const write = async (from: number, count: number) => {
      const log = await AuditLog.open(path, { durability: 'write' });
      for (let index = from; index < from + count; index++) {
        await log.append({
          event_id: `evt-${index}`,
          timestamp: new Date(Date.UTC(2026, 0, 1)).toISOString(),
          event_type: 'decision',
          decision: 'ALLOW',
          reason: 'test',
        });
      }
      await log.close();
    };
    await write(0, 15);
    const args = [
      'audit',
      'ship',
      path,
      '--backend',
      's3',
      '--bucket',
      'cli-audit',
      '--prefix',
      'prod',
      '--endpoint',
      moto.url,
      '--log-id',
      'cli',
      '--batch-size',
      '10',
      '--object-lock-days',
      '3',
    ];
    const first = await run([...args, '--json-output']);
    expect(first.code).toBe(0);
    expect(first.stderr).not.toContain('NodeVersionSupportWarning'); // JSON mode: stderr stays quiet
    expect(JSON.parse(first.stdout)).toMatchObject({
      command: 'audit ship',
      ok: true,
      data: { shipper: 's3', batches: 2, lines: 15, acknowledgedSequence: 15 },
    });
    await write(15, 5);
    const second = await run(args);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/s3: shipped 5 lines in 1 batch\(es\) to s3:\/\/cli-audit\/prod/);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'cli-audit' }));
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual([
      'prod/cli/000000000001-000000000010.jsonl',
      'prod/cli/000000000011-000000000015.jsonl',
      'prod/cli/000000000016-000000000020.jsonl',
    ]);
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'cli-audit', Key: 'prod/cli/000000000016-000000000020.jsonl' }),
    );
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    expect(head.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThan(Date.now() + 2 * 86_400_000);
  });
});
