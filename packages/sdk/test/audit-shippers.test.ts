// auditShippers / audit_shippers: (issue 10): the SDK ships its audit log in the background, stops on
// close(), refuses bad settings at construction, and a shipper that is down never slows check().
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { AgentSafe, shippingStatus } from '../src/index.js';
import { copyProject } from './helpers.js';

const SECRET = 'sdk-shipping-secret-0123456789abcdef-0123456789';

function project(dir: string, extra: Record<string, unknown> = {}) {
  return {
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    auditDurability: 'write' as const,
    config: false as const,
    ...extra,
  };
}

const request = (index: number) => ({
  caller: 'agent-01',
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'd', deployment: `a${index}` },
});

/** A loopback port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe('auditShippers', () => {
  it('ships the log to a directory in the background and finishes on close()', async () => {
    const dir = copyProject();
    mkdirSync(join(dir, 'copy'));
    // filesystemPath in options is relative to cwd.
    const safe = new AgentSafe({
      ...project(dir),
      cwd: dir,
      auditShippers: { filesystemPath: 'copy', logId: 'sdk-test' },
    });
    for (let index = 0; index < 30; index++) await safe.check(request(index));
    await safe.close();
    const files = readdirSync(join(dir, 'copy', 'sdk-test')).filter((file) => file.endsWith('.jsonl'));
    const copied = files
      .sort()
      .map((file) => readFileSync(join(dir, 'copy', 'sdk-test', file), 'utf8'))
      .join('');
    expect(copied).toBe(readFileSync(join(dir, 'audit.jsonl'), 'utf8'));
    const [status] = await shippingStatus(join(dir, 'audit.jsonl'));
    expect(status).toMatchObject({ shipper: 'filesystem', lag: 0, headSequence: 30, shippingProcess: null });
  });

  it('reads audit_shippers from agent-safe.yaml (paths relative to the file) and refuses bad settings', async () => {
    const dir = copyProject();
    mkdirSync(join(dir, 'copy'));
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'audit_shippers:\n  filesystem_path: ./copy\n  log_id: from-yaml\n',
    );
    const safe = new AgentSafe({ ...project(dir), config: join(dir, 'agent-safe.yaml'), cwd: '/' });
    await safe.check(request(1));
    await safe.close();
    expect(readdirSync(join(dir, 'copy', 'from-yaml'))).toContain('000000000001-000000000001.jsonl');

    const refused = (yaml: string) => {
      writeFileSync(join(dir, 'agent-safe.yaml'), yaml);
      try {
        new AgentSafe({ ...project(dir), config: join(dir, 'agent-safe.yaml') });
      } catch (error) {
        return JSON.stringify((error as { issues: unknown }).issues) + (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused('audit_shippers:\n  webhook_url: https://a.example/x\n')).toMatch(
      /audit_shippers\.webhook_secret.*env:NAME or file:PATH/,
    );
    expect(
      refused(`audit_shippers:\n  webhook_url: https://a.example/x\n  webhook_secret: ${SECRET}\n`),
    ).toMatch(/expected env:NAME or file:PATH/);
    expect(
      refused(`audit_shippers:\n  webhook_url: https://a.example/x\n  webhook_secret: ${SECRET}\n`),
    ).not.toContain(SECRET);
    expect(
      refused(
        'audit_shippers:\n  webhook_url: https://a.example/x\n  webhook_secret: env:AGENT_SAFE_NOT_SET_IN_TESTS\n',
      ),
    ).toMatch(/AGENT_SAFE_NOT_SET_IN_TESTS is not set/);
    expect(refused('audit_shippers:\n  s3_bucket: ok-bucket\n  s3_object_lock_mode: COMPLIANCE\n')).toMatch(
      /needs both a mode/,
    );
    expect(refused('audit_shippers:\n  colour: blue\n')).toMatch(/audit_shippers\.colour.*unknown setting/);
    expect(refused('audit_shippers: {}\n')).toMatch(/at least one destination/);
    expect(
      refused('audit_shippers:\n  webhook_url: http://remote.example/x\n  webhook_secret: env:HOME\n'),
    ).toMatch(/https/);
  });

  it('with auditing off (the CLI read-only commands, dry runs) shippers are not started, not an error', async () => {
    const dir = copyProject();
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'audit_shippers:\n  webhook_url: https://a.example/x\n  webhook_secret: env:AGENT_SAFE_NOT_SET_IN_TESTS\n',
    );
    const safe = new AgentSafe({ ...project(dir), config: join(dir, 'agent-safe.yaml'), auditLog: false });
    expect((await safe.check(request(1))).result).toBe('ALLOW');
    await safe.close();
    expect(readdirSync(dir).some((name) => name.includes('.ship-'))).toBe(false);
  });

  it('a webhook shipper pointing at a dead port does not slow check() (p99) and records its failures', async () => {
    const measure = async (extra: Record<string, unknown>, dir: string) => {
      const safe = new AgentSafe(project(dir, extra));
      for (let index = 0; index < 200; index++) await safe.check(request(index)); // warm up
      const latencies: number[] = [];
      const started = performance.now();
      for (let round = 0; round < 100; round++) {
        await Promise.all(
          Array.from({ length: 16 }, async (_, index) => {
            const begin = performance.now();
            await safe.check(request(round * 16 + index));
            latencies.push(performance.now() - begin);
          }),
        );
      }
      const elapsed = performance.now() - started;
      await safe.close();
      return { p99: percentile(latencies, 99), elapsed };
    };
    process.env.AGENT_SAFE_TEST_SHIP_SECRET = SECRET;
    const port = await deadPort();
    const withoutDir = copyProject();
    const withDir = copyProject();
    const without = await measure({}, withoutDir);
    const down = await measure(
      {
        auditShippers: {
          webhookUrl: `http://127.0.0.1:${port}/ingest`,
          webhookSecret: 'env:AGENT_SAFE_TEST_SHIP_SECRET',
          pollIntervalMs: 5,
          retryMaxMs: 20,
        },
      },
      withDir,
    );
    delete process.env.AGENT_SAFE_TEST_SHIP_SECRET;
    // Generous bounds for a shared 2-core machine; the shipper's failed attempts cost microseconds.
    expect(down.p99).toBeLessThan(Math.max(3 * without.p99, without.p99 + 10));
    expect(down.elapsed).toBeLessThan(Math.max(3 * without.elapsed, without.elapsed + 500));
    const [status] = await shippingStatus(join(withDir, 'audit.jsonl'));
    expect(status).toMatchObject({ shipper: 'webhook', acknowledgedSequence: 0, headSequence: 1800 });
    expect(status!.failures).toBeGreaterThan(0);
    expect(status!.lastError).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/ingest failed/);
    console.log(
      `check() p99 without shipping ${without.p99.toFixed(2)} ms, with a dead webhook ${down.p99.toFixed(2)} ms`,
    );
  });
});
