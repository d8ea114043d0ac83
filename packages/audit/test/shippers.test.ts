// Shipping the audit log off the box (issue 10): filesystem and webhook shippers against real
// destinations (a directory, a local HTTP server), the state file, resume, status and failure handling.
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AuditLog } from '../src/audit-log.js';
import { verifyAuditLog } from '../src/verify-audit-log.js';
import { AuditShipping, shippingStatus } from '../src/shippers/audit-shipping.js';
import { FilesystemShipper } from '../src/shippers/filesystem-shipper.js';
import { readSecretSource } from '../src/shippers/secret-source.js';
import type { ShipBatch } from '../src/shippers/ship-batch.js';
import type { Shipper } from '../src/shippers/shipper.js';
import { ShipError } from '../src/shippers/shipper.js';
import { WebhookShipper, verifyShipment } from '../src/shippers/webhook-shipper.js';
import { decision, withTempDir } from './helpers.js';

const SECRET = randomBytes(48).toString('base64');

async function writeLog(path: string, count: number, from = 0): Promise<void> {
  const log = await AuditLog.open(path, { durability: 'write' });
  await Promise.all(Array.from({ length: count }, (_, index) => log.append(decision(from + index))));
  await log.close();
}

interface Receiver {
  readonly url: string;
  readonly bodies: string[];
  readonly requests: { headers: IncomingMessage['headers']; body: string }[];
  /** Decides each answer: a status, or 'hang' to never answer. */
  answer: (index: number) => number | 'hang';
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const requests: Receiver['requests'] = [];
  const bodies: string[] = [];
  const hanging: ServerResponse[] = [];
  const receiver = {
    requests,
    bodies,
    answer: (_index: number): number | 'hang' => 200,
  } as Receiver & { answer: (index: number) => number | 'hang' };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const index = requests.length;
      requests.push({ headers: request.headers, body });
      const answer = receiver.answer(index);
      if (answer === 'hang') {
        hanging.push(response);
        return;
      }
      if (answer >= 200 && answer < 300) bodies.push(body);
      response.writeHead(answer).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/ingest`,
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  });
}

/** Sequences delivered, in order of delivery, from webhook bodies. */
function deliveredSequences(bodies: readonly string[]): number[] {
  const sequences: number[] = [];
  for (const body of bodies) {
    const [, ...lines] = body.split('\n');
    for (const line of lines) if (line) sequences.push(JSON.parse(line).sequence);
  }
  return sequences;
}

describe('filesystem shipper', () => {
  it('copies the log in batches named by sequence range that concatenate into a log that verifies', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      const copy = join(directory, 'copy');
      await writeFile(join(directory, 'placeholder'), '');
      await import('node:fs/promises').then((fs) => fs.mkdir(copy));
      await writeLog(log, 25);
      const shipping = new AuditShipping({
        log,
        logId: 'host-a',
        shippers: [new FilesystemShipper({ directory: copy })],
        maxBatchEvents: 10,
      });
      const [result] = await shipping.shipOnce();
      expect(result).toMatchObject({
        ok: true,
        batches: 3,
        lines: 25,
        acknowledgedSequence: 25,
        headSequence: 25,
      });
      const files = (await readdir(join(copy, 'host-a'))).sort();
      expect(files.filter((file) => file.endsWith('.jsonl'))).toEqual([
        '000000000001-000000000010.jsonl',
        '000000000011-000000000020.jsonl',
        '000000000021-000000000025.jsonl',
      ]);
      const meta = JSON.parse(
        await readFile(join(copy, 'host-a', '000000000011-000000000020.meta.json'), 'utf8'),
      );
      expect(meta).toMatchObject({ log_id: 'host-a', first_sequence: 11, last_sequence: 20, line_count: 10 });
      expect((await stat(join(copy, 'host-a', files[0]!))).mode & 0o777).toBe(0o600);
      // The copies, concatenated, are the log byte for byte.
      let joined = '';
      for (const file of files.filter((name) => name.endsWith('.jsonl'))) {
        joined += await readFile(join(copy, 'host-a', file), 'utf8');
      }
      expect(joined).toBe(await readFile(log, 'utf8'));
      await writeFile(join(directory, 'joined.jsonl'), joined);
      expect((await verifyAuditLog(join(directory, 'joined.jsonl'))).ok).toBe(true);
      // State file beside the log, 0600, records the acknowledgement.
      const statePath = `${log}.ship-filesystem.json`;
      expect((await stat(statePath)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(statePath, 'utf8'))).toMatchObject({
        acknowledged_sequence: 25,
        batches_shipped: 3,
        failures: 0,
      });
      // Resumable: a second run ships only what is new.
      await writeLog(log, 5, 25);
      const [again] = await new AuditShipping({
        log,
        logId: 'host-a',
        shippers: [new FilesystemShipper({ directory: copy })],
      }).shipOnce();
      expect(again).toMatchObject({ ok: true, batches: 1, lines: 5, acknowledgedSequence: 30 });
      expect(await readdir(join(copy, 'host-a'))).toContain('000000000026-000000000030.jsonl');
    });
  });

  it('ships a torn line left by a crash with the recovery event after it, so the copy still verifies', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      const copy = join(directory, 'copy');
      await import('node:fs/promises').then((fs) => fs.mkdir(copy));
      await writeLog(log, 3);
      await import('node:fs/promises').then((fs) => fs.appendFile(log, '{"event_id":"cut-sh'));
      // The torn tail alone is not shipped (an event acknowledging it is still to come).
      const [before] = await new AuditShipping({
        log,
        logId: 'torn',
        shippers: [new FilesystemShipper({ directory: copy })],
      }).shipOnce();
      expect(before).toMatchObject({ ok: true, acknowledgedSequence: 3 });
      await writeLog(log, 2, 3); // the writer acknowledges the torn line with a recovery event
      const [after] = await new AuditShipping({
        log,
        logId: 'torn',
        shippers: [new FilesystemShipper({ directory: copy })],
      }).shipOnce();
      expect(after).toMatchObject({ ok: true, acknowledgedSequence: 6 });
      let joined = '';
      for (const file of (await readdir(join(copy, 'torn')))
        .filter((name) => name.endsWith('.jsonl'))
        .sort()) {
        joined += await readFile(join(copy, 'torn', file), 'utf8');
      }
      expect(joined).toBe(await readFile(log, 'utf8'));
      expect(joined).toContain('"event_type":"recovery"');
      await writeFile(join(directory, 'joined.jsonl'), joined);
      const report = await verifyAuditLog(join(directory, 'joined.jsonl'));
      expect(report.problems).toEqual([]);
    });
  });

  it('reports a destination that is not a directory as a refusal, counted in the state and status', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 3);
      await writeFile(join(directory, 'not-a-dir'), 'x');
      const [result] = await new AuditShipping({
        log,
        shippers: [new FilesystemShipper({ directory: join(directory, 'not-a-dir') })],
      }).shipOnce();
      expect(result?.ok).toBe(false);
      expect(result?.error?.message).toMatch(/is not a directory/);
      const [status] = await shippingStatus(log);
      expect(status).toMatchObject({
        shipper: 'filesystem',
        acknowledgedSequence: 0,
        headSequence: 3,
        lag: 3,
        failures: 1,
      });
      expect(status?.lastError).toMatch(/not a directory/);
    });
  });
});

describe('webhook shipper', () => {
  it('POSTs signed batches carrying range, hashes and the latest checkpoint; the receiver sees gaps', async () => {
    await withTempDir(async (directory) => {
      const receiver = await startReceiver();
      try {
        const log = join(directory, 'audit.jsonl');
        await writeLog(log, 12);
        await writeFile(
          `${log}.checkpoints`,
          `${JSON.stringify({ sequence: 5, head: 'a'.repeat(64) })}\n${JSON.stringify({ sequence: 12, head: 'b'.repeat(64) })}\n`,
        );
        const [result] = await new AuditShipping({
          log,
          logId: 'host-a',
          shippers: [new WebhookShipper({ url: receiver.url, secret: SECRET })],
          maxBatchEvents: 5,
        }).shipOnce();
        expect(result).toMatchObject({ ok: true, batches: 3 });
        let previousLast = '0'.repeat(64);
        let expectedFirst = 1;
        for (const { headers, body } of receiver.requests) {
          expect(
            verifyShipment({
              secret: SECRET,
              timestamp: headers['x-agent-safe-timestamp'] as string,
              signature: headers['x-agent-safe-signature'] as string,
              body,
            }),
          ).toBe(true);
          // A tampered body does not verify.
          expect(body).toContain('ALLOW');
          expect(
            verifyShipment({
              secret: SECRET,
              timestamp: headers['x-agent-safe-timestamp'] as string,
              signature: headers['x-agent-safe-signature'] as string,
              body: body.replace('ALLOW', 'DENY'),
            }),
          ).toBe(false);
          expect(headers['content-type']).toBe('application/x-ndjson');
          // First line: the header; then the log's lines as stored.
          const batch = JSON.parse(body.slice(0, body.indexOf('\n')));
          expect(batch.log_id).toBe('host-a');
          expect(batch.type).toBe('agent-safe.audit.batch');
          expect(batch.first_sequence).toBe(expectedFirst);
          expect(batch.first_prev_hash).toBe(previousLast);
          expect(batch.checkpoint).toEqual({ sequence: 12, head: 'b'.repeat(64) });
          expect(headers['x-agent-safe-sequence-range']).toBe(
            `${batch.first_sequence}-${batch.last_sequence}`,
          );
          previousLast = batch.last_hash;
          expectedFirst = batch.last_sequence + 1;
        }
        expect(deliveredSequences(receiver.bodies)).toEqual(
          Array.from({ length: 12 }, (_, index) => index + 1),
        );
        // A replayed delivery is refused by the receiver's check once it is old.
        const first = receiver.requests[0]!;
        expect(
          verifyShipment({
            secret: SECRET,
            timestamp: first.headers['x-agent-safe-timestamp'] as string,
            signature: first.headers['x-agent-safe-signature'] as string,
            body: first.body,
            now: Date.now() + 600_000,
          }),
        ).toBe(false);
      } finally {
        await receiver.close();
      }
    });
  });

  it('retries 5xx with backoff, does not retry 4xx, and times out a receiver that hangs', async () => {
    await withTempDir(async (directory) => {
      const receiver = await startReceiver();
      try {
        const log = join(directory, 'audit.jsonl');
        await writeLog(log, 4);
        receiver.answer = (index) => (index < 2 ? 503 : 200);
        const retried = new AuditShipping({
          log,
          shippers: [new WebhookShipper({ url: receiver.url, secret: SECRET, name: 'retry' })],
          retryBaseMs: 20,
        });
        const [ok] = await retried.shipOnce({ maxAttempts: 5 });
        expect(ok).toMatchObject({ ok: true, acknowledgedSequence: 4 });
        expect(receiver.requests.length).toBe(3);
        const [retryStatus] = await shippingStatus(log, ['retry']);
        expect(retryStatus).toMatchObject({ failures: 2, consecutiveFailures: 0, lag: 0 });
        expect(retryStatus?.lastError).toMatch(/HTTP 503/);

        receiver.requests.length = 0;
        receiver.answer = () => 401;
        const [refused] = await new AuditShipping({
          log,
          shippers: [new WebhookShipper({ url: receiver.url, secret: SECRET, name: 'refused' })],
          retryBaseMs: 20,
        }).shipOnce({ maxAttempts: 5 });
        expect(refused?.ok).toBe(false);
        expect(refused?.error?.message).toMatch(/HTTP 401 \(not retried/);
        expect(receiver.requests.length).toBe(1);

        receiver.requests.length = 0;
        receiver.answer = () => 'hang';
        const started = Date.now();
        const [timedOut] = await new AuditShipping({
          log,
          shippers: [new WebhookShipper({ url: receiver.url, secret: SECRET, name: 'slow', timeoutMs: 200 })],
          retryBaseMs: 10,
        }).shipOnce({ maxAttempts: 2 });
        expect(timedOut?.ok).toBe(false);
        expect(timedOut?.error?.message).toMatch(/no answer from .* within 200 ms/);
        expect(receiver.requests.length).toBe(2);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await receiver.close();
      }
    });
  });

  it('refuses a plain-http remote URL, a short secret and a literal secret source', async () => {
    expect(() => new WebhookShipper({ url: 'http://audit.example.com/x', secret: SECRET })).toThrow(/https/);
    expect(() => new WebhookShipper({ url: 'https://audit.example.com/x', secret: 'short' })).toThrow(
      /32 bytes/,
    );
    await expect(readSecretSource('hunter2-literal-secret', 'webhookSecret')).rejects.toThrow(
      /env:NAME or file:PATH/,
    );
    await expect(
      readSecretSource('env:AGENT_SAFE_UNSET_FOR_TEST', 'webhookSecret', { env: {} }),
    ).rejects.toThrow(/AGENT_SAFE_UNSET_FOR_TEST is not set/);
    expect(await readSecretSource('env:S', 'webhookSecret', { env: { S: ` ${SECRET}\n` } })).toBe(SECRET);
  });
});

/** A shipper that records batches and can be made to fail or stall. */
class RecordingShipper implements Shipper {
  readonly name: string;
  readonly destination = 'memory';
  readonly batches: ShipBatch[] = [];
  mode: 'ok' | 'fail' | 'stall' = 'ok';
  constructor(name = 'recording') {
    this.name = name;
  }
  async send(batch: ShipBatch, signal: AbortSignal): Promise<void> {
    if (this.mode === 'fail') throw new ShipError(this.name, 'down', { retryable: true });
    if (this.mode === 'stall') {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    }
    this.batches.push(batch);
  }
}

describe('background shipping', () => {
  it('follows appends, resumes after a restart from the state file, and keeps going past failures', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      const writer = await AuditLog.open(log, { durability: 'write' });
      const shipper = new RecordingShipper();
      const errors: string[] = [];
      const shipping = new AuditShipping({
        log,
        shippers: [shipper],
        pollIntervalMs: 10,
        retryBaseMs: 10,
        retryMaxMs: 50,
        onError: (failure) => errors.push(failure.error),
      });
      shipping.start();
      for (let index = 0; index < 20; index++) await writer.append(decision(index));
      const until = async (condition: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!condition() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
        expect(condition()).toBe(true);
      };
      await until(() => shipper.batches.at(-1)?.lastSequence === 20);
      shipper.mode = 'fail';
      for (let index = 20; index < 30; index++) await writer.append(decision(index));
      await until(() => errors.length >= 2);
      shipper.mode = 'ok';
      await until(() => shipper.batches.at(-1)?.lastSequence === 30);
      await shipping.stop();
      // A new process (a new instance) resumes after 30.
      for (let index = 30; index < 35; index++) await writer.append(decision(index));
      await writer.close();
      const next = new RecordingShipper();
      const [result] = await new AuditShipping({ log, shippers: [next] }).shipOnce();
      expect(result).toMatchObject({ ok: true, acknowledgedSequence: 35 });
      expect(next.batches.map((batch) => [batch.firstSequence, batch.lastSequence])).toEqual([[31, 35]]);
      const [status] = await shippingStatus(log);
      expect(status).toMatchObject({ lag: 0, headSequence: 35 });
      expect(status!.failures).toBeGreaterThanOrEqual(2);
    });
  });

  it('a stalled destination does not delay appends, and stop() returns within its timeout', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      const writer = await AuditLog.open(log, { durability: 'write' });
      const shipper = new RecordingShipper();
      shipper.mode = 'stall';
      const shipping = new AuditShipping({ log, shippers: [shipper], pollIntervalMs: 5 });
      shipping.start();
      const started = Date.now();
      for (let index = 0; index < 200; index++) await writer.append(decision(index));
      expect(Date.now() - started).toBeLessThan(5_000);
      const stopping = Date.now();
      await shipping.stop(200);
      expect(Date.now() - stopping).toBeLessThan(2_000);
      await writer.close();
      const [status] = await shippingStatus(log);
      expect(status).toMatchObject({
        acknowledgedSequence: 0,
        headSequence: 200,
        lag: 200,
        shippingProcess: null,
      });
    });
  });

  it('lets one process ship per log and shipper; another waits (lock), a dead one is taken over', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 3);
      const lock = `${log}.ship-recording.lock`;
      // A lock left by a live process (ours, pid 1 style: a foreign live pid) blocks.
      await writeFile(
        lock,
        JSON.stringify({ pid: process.ppid, host: (await import('node:os')).hostname(), since: 'x' }),
      );
      const [blocked] = await new AuditShipping({ log, shippers: [new RecordingShipper()] }).shipOnce();
      expect(blocked?.ok).toBe(false);
      expect(blocked?.error?.message).toMatch(
        new RegExp(`another process is shipping .* \\(pid ${process.ppid}`),
      );
      // A lock of a process that no longer exists is taken over.
      await writeFile(
        lock,
        JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), since: 'x' }),
      );
      const [taken] = await new AuditShipping({ log, shippers: [new RecordingShipper()] }).shipOnce();
      expect(taken).toMatchObject({ ok: true, acknowledgedSequence: 3 });
    });
  });

  it('follows rotation: lines written before a rotation are shipped from the rotated file, then the new one', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      const writer = await AuditLog.open(log, { durability: 'write', rotate: { maxBytes: 2048 } });
      const shipper = new RecordingShipper();
      const shipping = new AuditShipping({ log, shippers: [shipper], pollIntervalMs: 5, maxBatchEvents: 3 });
      shipping.start();
      for (let index = 0; index < 40; index++) {
        await writer.append(decision(index));
        // Let the shipper fall behind and catch up around the rotations.
        if (index % 7 === 0) await new Promise((done) => setTimeout(done, 15));
      }
      const head = (await writer.append(decision(99))).sequence;
      await writer.close();
      expect(
        (await readdir(directory)).filter((name) => /^audit\.jsonl\.\d{12}$/.test(name)).length,
      ).toBeGreaterThan(2);
      const deadline = Date.now() + 10_000;
      while (shipper.batches.at(-1)?.lastSequence !== head && Date.now() < deadline) {
        await new Promise((done) => setTimeout(done, 10));
      }
      await shipping.stop();
      const delivered = shipper.batches.flatMap((batch) =>
        batch.lines
          .toString('utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line).sequence as number),
      );
      expect(delivered).toEqual(Array.from({ length: head }, (_, index) => index + 1));
      // From scratch, a new shipper starts at the oldest rotated file.
      const fresh = new RecordingShipper('fresh');
      const [result] = await new AuditShipping({ log, shippers: [fresh] }).shipOnce();
      expect(result).toMatchObject({ ok: true, acknowledgedSequence: head });
      expect(fresh.batches[0]?.firstSequence).toBe(1);
    });
  });

  it('a state file that is not valid is an error naming it; a replaced log is reported as a gap', async () => {
    await withTempDir(async (directory) => {
      const log = join(directory, 'audit.jsonl');
      await writeLog(log, 5);
      await writeFile(`${log}.ship-recording.json`, '{"version":1,"offset":-4}');
      await expect(new AuditShipping({ log, shippers: [new RecordingShipper()] }).shipOnce()).rejects.toThrow(
        /ship-recording\.json is not valid/,
      );
      await writeFile(`${log}.ship-recording.json`, '');
      await import('node:fs/promises').then((fs) => fs.unlink(`${log}.ship-recording.json`));
      const first = new RecordingShipper();
      await new AuditShipping({ log, shippers: [first] }).shipOnce();
      // The log is replaced by another one that continues at sequence 1 again (a different chain).
      await import('node:fs/promises').then((fs) => fs.unlink(log));
      await writeLog(log, 7, 100);
      const second = new RecordingShipper();
      const [result] = await new AuditShipping({ log, shippers: [second] }).shipOnce();
      expect(result?.ok).toBe(true);
      expect(result?.warning).toMatch(/last acknowledged event \(sequence 5\) is no longer in/);
      expect(second.batches.map((batch) => [batch.firstSequence, batch.lastSequence])).toEqual([[6, 7]]);
    });
  });
});
