import { describe, expect, test } from '@jest/globals';
import type { Executor } from '@agent-safe/core';
import { Runner } from '../src/index.js';
import { MemorySink, RecordingExecutor, catalogue, newClock, tickets } from './helpers.js';

const SCALE = { namespace: 'prod', deployment: 'web', replicas: 5 };

function setup() {
  const clock = newClock();
  const { validator, issue } = tickets(clock);
  const sink = new MemorySink();
  const runner = new Runner({ actions: catalogue(), validator, auditSink: sink, clock });
  return { runner, issue, sink };
}

describe('Runner inputs', () => {
  test('the constructor names every missing dependency', () => {
    expect(() => new Runner({} as never)).toThrow(
      'Runner needs actions (an ActionRegistry), validator (a TicketValidator), auditSink (an AuditLog or another AuditSink)',
    );
  });

  test('a token that is not a ticket is refused, audited as unverified', async () => {
    const { runner, sink } = setup();
    const result = await runner.execute('not-a-jwt', { params: SCALE, executor: new RecordingExecutor() });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'TICKET_MALFORMED' } });
    expect(sink.ofType('execution')[0]).toMatchObject({ status: 'refused', ticket_verified: false });
  });

  test('a forged payload naming another action fails the signature check', async () => {
    const { runner, issue } = setup();
    const [header, payload, signature] = (await issue('scale-deployment', SCALE)).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    const forged = Buffer.from(JSON.stringify({ ...claims, act: 'delete-namespace' })).toString('base64url');
    const executor = new RecordingExecutor();
    const result = await runner.execute(`${header}.${forged}.${signature}`, {
      params: { namespace: 'prod' },
      executor,
    });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'TICKET_SIGNATURE' } });
    expect(executor.calls).toEqual([]);
  });

  test('a missing executor, params or a bad timeout is refused without using the ticket', async () => {
    const { runner, issue } = setup();
    const token = await issue('scale-deployment', SCALE);
    expect(await runner.execute(token, { params: SCALE } as never)).toMatchObject({
      status: 'refused',
      error: { code: 'USAGE' },
    });
    expect(
      await runner.execute(token, { params: null, executor: new RecordingExecutor() } as never),
    ).toMatchObject({ status: 'refused', error: { code: 'USAGE' } });
    for (const timeoutMs of [0, -1, Number.NaN, 2 ** 31]) {
      const result = await runner.execute(token, {
        params: SCALE,
        executor: new RecordingExecutor(),
        timeoutMs,
      });
      expect(result).toMatchObject({ status: 'refused', error: { code: 'USAGE' } });
    }
    // The ticket is still unused.
    const executor: Executor = new RecordingExecutor();
    expect((await runner.execute(token, { params: SCALE, executor })).status).toBe('succeeded');
  });

  test('pinned action and target must match the ticket', async () => {
    const { runner, issue } = setup();
    const token = await issue('scale-deployment', SCALE);
    const result = await runner.execute(token, {
      params: SCALE,
      executor: new RecordingExecutor(),
      target: 'prod/api',
    });
    expect(result).toMatchObject({ status: 'refused', error: { code: 'TICKET_TARGET_MISMATCH' } });
  });
});
