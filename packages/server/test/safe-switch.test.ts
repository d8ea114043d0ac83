import { expect, it } from '@jest/globals';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { SafeSwitch } from '../src/reload.js';

/** A stand-in facade: a revision, keys that import (or not), and a record of close(). */
function fake(revision: string, options: { keys?: Error } = {}) {
  const facade = {
    closed: 0,
    pdp: { revision },
    ready: async () => {
      if (options.keys) throw options.keys;
    },
    close: async () => {
      facade.closed++;
    },
  };
  return facade;
}
const asSafe = (facade: ReturnType<typeof fake>) => facade as unknown as AgentSafe;

it('closes the old facade only once the last request holding it is done', async () => {
  const old = fake('r1');
  const fresh = fake('r2');
  const swapped: AgentSafe[] = [];
  const reloads = new SafeSwitch(
    asSafe(old),
    () => asSafe(fresh),
    (safe) => swapped.push(safe),
  );
  const running = reloads.acquire();
  expect(await reloads.reload('api')).toMatchObject({ ok: true, policyRevision: 'r2', trigger: 'api' });
  expect(swapped).toEqual([fresh]);
  expect(reloads.current).toBe(fresh);
  expect(running.safe).toBe(old);
  expect(old.closed).toBe(0);
  const next = reloads.acquire();
  expect(next.safe).toBe(fresh);
  running.release();
  running.release(); // twice is once
  await reloads.close();
  expect(old.closed).toBe(1);
  expect(fresh.closed).toBe(1);
  expect(reloads.counts).toEqual({ ok: 1, failed: 0 });
});

it('keeps the old facade when the new one fails to load or its keys do not import', async () => {
  const old = fake('r1');
  const badKeys = fake('r3', { keys: new Error('signing_key: too short') });
  let attempt = 0;
  const reloads = new SafeSwitch(
    asSafe(old),
    () => {
      attempt++;
      if (attempt === 1)
        throw Object.assign(new Error('1 problem(s)'), {
          issues: [{ file: 'p.yaml', path: 'rules[0]', message: 'bad' }],
        });
      return asSafe(badKeys);
    },
    () => {
      throw new Error('no swap expected');
    },
  );
  expect(await reloads.reload('signal')).toEqual({
    ok: false,
    time: expect.any(String),
    trigger: 'signal',
    policyRevision: 'r1',
    error: '1 problem(s): p.yaml: rules[0]: bad',
  });
  expect(await reloads.reload('signal')).toMatchObject({ ok: false, error: 'signing_key: too short' });
  expect(badKeys.closed).toBe(1); // the refused facade is closed, not leaked
  expect(reloads.current).toBe(old);
  expect(old.closed).toBe(0);
  expect(reloads.counts).toEqual({ ok: 0, failed: 2 });
});

it('merges reloads asked for while one runs into one more run', async () => {
  const facades = [fake('r2'), fake('r3')];
  let release!: () => void;
  const gate = new Promise<void>((done) => {
    release = done;
  });
  let built = 0;
  const reloads = new SafeSwitch(
    asSafe(fake('r1')),
    async () => {
      const facade = facades[built++]!;
      if (built === 1) await gate;
      return asSafe(facade);
    },
    () => undefined,
  );
  const first = reloads.reload('watch');
  const second = reloads.reload('watch');
  const third = reloads.reload('watch');
  release();
  const results = await Promise.all([first, second, third]);
  expect(built).toBe(2);
  expect(results.map((result) => result.policyRevision)).toEqual(['r3', 'r3', 'r3']);
  await reloads.close();
  expect(facades.map((facade) => facade.closed)).toEqual([1, 1]);
});
