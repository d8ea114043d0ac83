import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { runWorkers } from './helpers.js';

// Workers import the built package (dist/): the test script depends on build.
let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

describe('RedisStore across OS processes', () => {
  it('allows exactly `limit` takes in total across 6 processes hammering one key', async () => {
    const tallies = await runWorkers({
      url: server.url,
      mode: 'take',
      key: 'shared-limit',
      limit: 100,
      attempts: 400,
      processes: 6,
      inFlight: 32,
    });
    expect(tallies.map((tally) => tally.errors)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(tallies.reduce((sum, tally) => sum + tally.wins.length, 0)).toBe(100);
  });

  it('allows exactly `limit` guard checks in total across processes', async () => {
    const tallies = await runWorkers({
      url: server.url,
      mode: 'guard',
      key: 'shared-guard',
      limit: 50,
      attempts: 300,
      processes: 4,
      inFlight: 16,
    });
    expect(tallies.reduce((sum, tally) => sum + tally.errors, 0)).toBe(0);
    expect(tallies.reduce((sum, tally) => sum + tally.wins.length, 0)).toBe(50);
  });

  it('lets exactly one process win each nonce', async () => {
    const nonces = 40;
    const tallies = await runWorkers({
      url: server.url,
      mode: 'nonce',
      key: 'jti',
      limit: nonces,
      attempts: nonces * 5,
      processes: 5,
      inFlight: 16,
    });
    expect(tallies.reduce((sum, tally) => sum + tally.errors, 0)).toBe(0);
    const wins = tallies.flatMap((tally) => tally.wins).sort((left, right) => left - right);
    expect(wins).toEqual(Array.from({ length: nonces }, (_, index) => index));
  });
});
