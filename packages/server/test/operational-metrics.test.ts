// /metrics: the audit queue, guard-store errors (a real Redis, killed) and shipper lag (the filesystem
// shipper, its destination first missing, then there).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { copyProject, post } from './helpers.js';

const CHECK = {
  action: 'restart-deployment',
  target: 'dev/app',
  caller: 'deploy-bot',
  params: { namespace: 'dev', deployment: 'app' },
};

let running: AgentSafeServer | undefined;
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function metrics(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one sample (`name` with its labels, exactly as rendered). */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Scrapes until `ready` holds (the shipper works in the background); at most 30 s. */
async function scrapeUntil(url: string, ready: (text: string) => boolean): Promise<string> {
  let text = await metrics(url);
  for (let attempt = 0; attempt < 300 && !ready(text); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    text = await metrics(url);
  }
  return text;
}

describe('operational metrics', () => {
  it('counts checks whose guard store failed', async () => {
    running = await startServer({
      port: 0,
      config: {
        cwd: copyProject(),
        config: false,
        auditDurability: 'write',
        store: redis.url,
        rateLimit: { maxRequests: 100, windowSeconds: 60 },
      },
    });
    expect((await post(`${running.url}/v1/check`, CHECK)).body.result).toBe('ALLOW');
    let text = await metrics(running.url);
    expect(text).toContain('# TYPE agent_safe_guard_store_errors_total counter');
    expect(sample(text, 'agent_safe_guard_store_errors_total')).toBe(0);

    await redis.kill();
    try {
      const down = await post(`${running.url}/v1/check`, CHECK);
      expect(down.body.result).toBe('DENY');
      expect(down.body.reason).toContain(`Redis store at 127.0.0.1:${redis.port}`);
      await post(`${running.url}/v1/check`, CHECK);
      text = await metrics(running.url);
      expect(sample(text, 'agent_safe_guard_store_errors_total')).toBe(2);
    } finally {
      await redis.restart();
    }
  }, 30_000);

  it('reports the audit queue and each shipper lag, which falls to 0 once the destination works', async () => {
    const cwd = copyProject();
    const destination = join(cwd, 'audit-copy');
    running = await startServer({
      port: 0,
      config: {
        cwd,
        config: false,
        auditDurability: 'write',
        auditShippers: { filesystemPath: destination, pollIntervalMs: 100, retryMaxMs: 200 },
      },
    });
    for (let index = 0; index < 3; index++) {
      expect((await post(`${running.url}/v1/check`, CHECK)).status).toBe(200);
    }
    const lag = 'agent_safe_audit_shipper_lag_events{shipper="filesystem"}';
    const seconds = 'agent_safe_audit_shipper_lag_seconds{shipper="filesystem"}';
    const failures = 'agent_safe_audit_shipper_consecutive_failures{shipper="filesystem"}';
    let text = await scrapeUntil(
      running.url,
      (scraped) => (sample(scraped, failures) ?? 0) > 0 && (sample(scraped, seconds) ?? 0) > 0,
    );
    expect(text).toContain('# TYPE agent_safe_audit_queue_events gauge');
    expect(sample(text, 'agent_safe_audit_queue_events')).toBe(0);
    expect(sample(text, 'agent_safe_audit_last_batch_seconds')).toBeGreaterThan(0);
    expect(sample(text, 'agent_safe_audit_failed_batches_total')).toBe(0);
    expect(sample(text, lag)).toBe(3);
    expect(sample(text, seconds)).toBeGreaterThan(0);

    mkdirSync(destination);
    text = await scrapeUntil(running.url, (scraped) => sample(scraped, lag) === 0);
    expect(sample(text, lag)).toBe(0);
    expect(sample(text, seconds)).toBe(0);
    expect(sample(text, failures)).toBe(0);
  }, 60_000);
});
