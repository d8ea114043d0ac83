// The S3 shipper against a real S3 API: moto 5.2.5 in server mode, started privately by the test.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { AuditLog } from '../src/audit-log.js';
import { AuditShipping } from '../src/shippers/audit-shipping.js';
import { S3Shipper } from '../src/shippers/s3-shipper.js';
import { decision, withTempDir } from './helpers.js';
import { type MotoServer, startMoto } from './moto-server.js';

let moto: MotoServer;
let s3: S3Client;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  moto = await startMoto();
  s3 = new S3Client({ region: 'us-east-1', endpoint: moto.url, forcePathStyle: true });
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  await moto?.stop();
});

async function writeLog(path: string, count: number): Promise<void> {
  const log = await AuditLog.open(path, { durability: 'write' });
  await Promise.all(Array.from({ length: count }, (_, index) => log.append(decision(index))));
  await log.close();
}

async function body(bucket: string, key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

describe('S3 shipper (moto)', () => {
  it('puts one object per batch named by sequence range, with a correct ChecksumSHA256 and metadata', async () => {
    await withTempDir(async (directory) => {
      await s3.send(new CreateBucketCommand({ Bucket: 'audit-plain' }));
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 25);
      await import('node:fs/promises').then((fs) =>
        fs.writeFile(`${log}.checkpoints`, `${JSON.stringify({ sequence: 25, key_id: 'k1' })}\n`),
      );
      const shipper = new S3Shipper({
        bucket: 'audit-plain',
        prefix: 'prod/',
        region: 'us-east-1',
        endpoint: moto.url,
      });
      const [result] = await new AuditShipping({
        log,
        logId: 'box1',
        shippers: [shipper],
        maxBatchEvents: 10,
      }).shipOnce();
      expect(result).toMatchObject({ ok: true, batches: 3, acknowledgedSequence: 25 });
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'audit-plain' }));
      const keys = (listed.Contents ?? []).map((object) => object.Key).sort();
      expect(keys).toEqual([
        'prod/box1/000000000001-000000000010.jsonl',
        'prod/box1/000000000011-000000000020.jsonl',
        'prod/box1/000000000021-000000000025.jsonl',
      ]);
      let joined = Buffer.alloc(0);
      for (const key of keys) {
        const bytes = await body('audit-plain', key!);
        const head = await s3.send(
          new HeadObjectCommand({ Bucket: 'audit-plain', Key: key!, ChecksumMode: 'ENABLED' }),
        );
        expect(head.ChecksumSHA256).toBe(createHash('sha256').update(bytes).digest('base64'));
        expect(head.Metadata?.['log-id']).toBe('box1');
        expect(head.Metadata?.checkpoint).toBe(JSON.stringify({ sequence: 25, key_id: 'k1' }));
        joined = Buffer.concat([joined, bytes]);
      }
      expect(joined.equals(await readFile(log))).toBe(true);
      const second = await s3.send(
        new HeadObjectCommand({ Bucket: 'audit-plain', Key: 'prod/box1/000000000011-000000000020.jsonl' }),
      );
      expect(second.Metadata).toMatchObject({
        'first-sequence': '11',
        'last-sequence': '20',
        'line-count': '10',
      });
    });
  });

  it('sets Object Lock retention on each object in a bucket created with Object Lock', async () => {
    await withTempDir(async (directory) => {
      await s3.send(new CreateBucketCommand({ Bucket: 'audit-locked', ObjectLockEnabledForBucket: true }));
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 5);
      const shipper = new S3Shipper({
        bucket: 'audit-locked',
        region: 'us-east-1',
        endpoint: moto.url,
        objectLock: { mode: 'COMPLIANCE', days: 30 },
      });
      const before = Date.now();
      const [result] = await new AuditShipping({ log, logId: 'box1', shippers: [shipper] }).shipOnce();
      expect(result).toMatchObject({ ok: true, batches: 1 });
      // HeadObject: moto's GetObjectRetention answer does not parse in this SDK version.
      const retention = await s3.send(
        new HeadObjectCommand({ Bucket: 'audit-locked', Key: 'box1/000000000001-000000000005.jsonl' }),
      );
      expect(retention.ObjectLockMode).toBe('COMPLIANCE');
      const until = retention.ObjectLockRetainUntilDate!.getTime();
      expect(until).toBeGreaterThan(before + 29 * 86_400_000);
      expect(until).toBeLessThan(Date.now() + 31 * 86_400_000);
    });
  });

  it('a bucket default retention applies without per-object settings', async () => {
    await withTempDir(async (directory) => {
      await s3.send(
        new CreateBucketCommand({ Bucket: 'audit-default-lock', ObjectLockEnabledForBucket: true }),
      );
      await s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: 'audit-default-lock',
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } },
          },
        }),
      );
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 2);
      const shipper = new S3Shipper({
        bucket: 'audit-default-lock',
        region: 'us-east-1',
        endpoint: moto.url,
      });
      const [result] = await new AuditShipping({ log, logId: 'box1', shippers: [shipper] }).shipOnce();
      expect(result?.ok).toBe(true);
      // HeadObject: moto's GetObjectRetention answer does not parse in this SDK version.
      const retention = await s3.send(
        new HeadObjectCommand({ Bucket: 'audit-default-lock', Key: 'box1/000000000001-000000000002.jsonl' }),
      );
      expect(retention.ObjectLockMode).toBe('GOVERNANCE');
    });
  });

  it('a missing bucket is a failure counted in the status, and Object Lock on a bucket without it is refused', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 2);
      const [missing] = await new AuditShipping({
        log,
        shippers: [new S3Shipper({ bucket: 'no-such-bucket', region: 'us-east-1', endpoint: moto.url })],
        retryBaseMs: 10,
      }).shipOnce({ maxAttempts: 2 });
      expect(missing?.ok).toBe(false);
      expect(missing?.error?.message).toMatch(/NoSuchBucket/);
      await s3.send(new CreateBucketCommand({ Bucket: 'audit-unlocked' }));
      const [unlocked] = await new AuditShipping({
        log,
        shippers: [
          new S3Shipper({
            bucket: 'audit-unlocked',
            region: 'us-east-1',
            endpoint: moto.url,
            objectLock: { mode: 'GOVERNANCE', days: 1 },
            name: 'locked',
          }),
        ],
        retryBaseMs: 10,
      }).shipOnce({ maxAttempts: 2 });
      expect(unlocked?.ok).toBe(false);
      expect(unlocked?.error?.message).toMatch(/PutObject s3:\/\/audit-unlocked\/.*failed/);
    });
  });
});
