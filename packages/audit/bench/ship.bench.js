// Benchmarks audit shipping (issue 10) on the built packages (pnpm turbo run build --filter=@agent-safe/sdk):
//  1. check() throughput with durable audit at 64 concurrent, shipping off vs a webhook shipper on
//     (interleaved rounds; the receiver runs in its own process, as a real one would);
//  2. time to ship BENCH_SHIP_EVENTS events (default 100 000; 1 000 000 for the full figure) to a local
//     webhook and to moto S3 (moto 5.2.5 from scripts/services.sh's cache; skipped with a note if missing).
// Run: node packages/audit/bench/ship.bench.js   (BENCH_SHIP_EVENTS=1000000 for 1M)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentSafe } from '../../sdk/dist/index.js';
import { AuditLog, AuditShipping, S3Shipper, WebhookShipper } from '../dist/index.js';

const EVENTS = Number(process.env.BENCH_SHIP_EVENTS ?? 100_000);
const CHECKS = Number(process.env.BENCH_SHIP_CHECKS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_SHIP_ROUNDS ?? 4);
const CONCURRENCY = 64;
const SECRET = randomBytes(48).toString('base64');
const directory = mkdtempSync(join(tmpdir(), 'agent-safe-ship-bench-'));
const children = [];

function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
}

/**
 * A webhook receiver in its own process, answering 200; with `verify` it checks each signature first
 * (the time-to-ship figures). For check() throughput it only drains the request: a real receiver runs on
 * another machine, and on this 2-core box its HMAC work would be charged to check().
 */
async function startReceiver(verify) {
  const code = `
    const { createHmac, timingSafeEqual } = require('node:crypto');
    const server = require('node:http').createServer((request, response) => {
      const chunks = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        if (process.env.VERIFY !== '1') return void response.writeHead(200).end();
        const body = Buffer.concat(chunks);
        const expected = Buffer.from('v1=' + createHmac('sha256', process.env.SECRET).update(request.headers['x-agent-safe-timestamp'] + '.').update(body).digest('hex'));
        const given = Buffer.from(String(request.headers['x-agent-safe-signature']));
        response.writeHead(expected.length === given.length && timingSafeEqual(expected, given) ? 200 : 401).end();
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', code], {
    env: { ...process.env, SECRET, VERIFY: verify ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const port = await new Promise((resolve) =>
    child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim()))),
  );
  return `http://127.0.0.1:${port}/ingest`;
}

async function startMoto() {
  const venv = join(
    process.env.AGENT_SAFE_MOTO_DIR ??
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agent-safe', 'moto-5.2.5'),
    'venv',
    'bin',
    'python',
  );
  if (!existsSync(venv)) return undefined;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(venv, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: 'ignore',
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const response = await fetch(`${url}/moto-api/data.json`);
      await response.body?.cancel();
      if (response.ok) return url;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

const project = join(import.meta.dirname, '..', '..', 'sdk', 'test', 'fixtures', 'project');
const request = (index) => ({
  caller: 'bench',
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'd', deployment: `app-${index % 100}` },
});

async function checks(safe, count) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        await safe.check(request(next));
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function checkThroughput(url) {
  const make = (name, shippers) => {
    const dir = join(directory, name);
    cpSync(project, dir, { recursive: true });
    return new AgentSafe({
      registry: join(dir, 'actions'),
      policies: join(dir, 'policies'),
      inventory: join(dir, 'inventory.yaml'),
      auditLog: join(dir, 'audit.jsonl'),
      config: false,
      ...(shippers ? { auditShippers: shippers } : {}),
    });
  };
  process.env.AGENT_SAFE_BENCH_SHIP_SECRET = SECRET;
  const off = make('off');
  const on = make('on', {
    webhookUrl: url,
    webhookSecret: 'env:AGENT_SAFE_BENCH_SHIP_SECRET',
    logId: 'bench',
  });
  await checks(off, 2000);
  await checks(on, 2000);
  const rates = { off: [], on: [] };
  const cpu = { off: 0, on: 0 };
  const measure = async (name, safe) => {
    const before = process.cpuUsage();
    rates[name].push(await checks(safe, CHECKS));
    const used = process.cpuUsage(before);
    cpu[name] += used.user + used.system;
  };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift in the machine's load does not favour one side.
    if (round % 2 === 0) {
      await measure('off', off);
      await measure('on', on);
    } else {
      await measure('on', on);
      await measure('off', off);
    }
  }
  await off.close();
  await on.close();
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const ratios = rates.on.map((value, index) => value / rates.off[index]);
  return {
    off: median(rates.off),
    on: median(rates.on),
    ratio: median(ratios),
    rounds: rates,
    // Process CPU (all threads: the shipper's worker included) per check.
    cpuPerCheck: { off: cpu.off / (ROUNDS * CHECKS), on: cpu.on / (ROUNDS * CHECKS) },
  };
}

async function writeLog(path, count) {
  const log = await AuditLog.open(path, { durability: 'write' });
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < count) {
        const index = next++;
        await log.append({
          event_id: `evt-${index.toString(16).padStart(20, '0')}`,
          timestamp: new Date(1_750_000_000_000 + index).toISOString(),
          event_type: 'decision',
          action: 'k8s.scale_deployment@1.2.0',
          target: 'prod-eu-1/payments/api-gateway',
          caller: 'agent:deploy-bot',
          params: { namespace: 'payments', deployment: 'api-gateway', replicas: 4 + (index % 8) },
          decision: 'ALLOW',
          reason: 'Scaling within the approved range',
          matched_rule: 'prod-scale-within-range',
          risk_class: 'medium',
          policy_revision: 'rev-2024-06-01',
        });
      }
    }),
  );
  await log.close();
  return (performance.now() - started) / 1000;
}

async function timeShip(log, shipper) {
  const started = performance.now();
  const [result] = await new AuditShipping({ log, logId: 'bench', shippers: [shipper] }).shipOnce();
  const seconds = (performance.now() - started) / 1000;
  if (!result.ok) throw new Error(`${shipper.name}: ${result.error?.message}`);
  return { seconds, batches: result.batches, lines: result.lines };
}

try {
  console.log(
    `node ${process.version}, load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  );
  const throughput = await checkThroughput(await startReceiver(false));
  const url = await startReceiver(true);
  console.log(
    `check() durable audit, ${CONCURRENCY} concurrent, median of ${ROUNDS} interleaved rounds of ${CHECKS}: ` +
      `shipping off ${Math.round(throughput.off)}/s, webhook shipper on ${Math.round(throughput.on)}/s ` +
      `(median of the per-round ratios ${(throughput.ratio * 100).toFixed(1)} %); process CPU per check ${throughput.cpuPerCheck.off.toFixed(1)} µs off, ${throughput.cpuPerCheck.on.toFixed(1)} µs on; rounds off ${throughput.rounds.off.map(Math.round).join(' ')}, on ${throughput.rounds.on.map(Math.round).join(' ')}`,
  );
  const log = join(directory, 'ship.jsonl');
  const written = await writeLog(log, EVENTS);
  const megabytes = statSync(log).size / 1024 / 1024;
  console.log(`log of ${EVENTS} events (${megabytes.toFixed(0)} MiB) written in ${written.toFixed(1)} s`);
  const scale = 1_000_000 / EVENTS;
  const report = (name, { seconds, batches }) =>
    console.log(
      `${name}: ${EVENTS} events in ${batches} batches: ${seconds.toFixed(1)} s (${Math.round(EVENTS / seconds)} events/s, ${(megabytes / seconds).toFixed(1)} MiB/s)` +
        (scale === 1 ? '' : `; 1M events ≈ ${(seconds * scale).toFixed(0)} s (extrapolated)`),
    );
  report(
    'webhook (local, HMAC checked)',
    await timeShip(log, new WebhookShipper({ url, secret: SECRET, name: 'webhook' })),
  );
  const moto = await startMoto();
  if (moto === undefined) {
    console.log('moto S3: skipped (run scripts/services.sh install moto)');
  } else {
    process.env.AWS_ACCESS_KEY_ID ??= 'bench';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ region: 'us-east-1', endpoint: moto, forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: 'ship-bench' }));
    client.destroy();
    report(
      'moto S3 (local)',
      await timeShip(
        log,
        new S3Shipper({ bucket: 'ship-bench', region: 'us-east-1', endpoint: moto, name: 's3' }),
      ),
    );
  }
} finally {
  cleanup();
}
