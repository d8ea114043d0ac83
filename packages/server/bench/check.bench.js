// Load figure for docs/server.md: keep-alive clients POST /v1/check to a server in this process's child
// for 10 s. Run after a build: `pnpm --filter @agent-safe/server bench`. Prints decisions/s and p99.
import { fork } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.argv[2] === 'serve') {
  const { startServer } = await import('../dist/index.js');
  const server = await startServer({
    port: 0,
    config: { cwd: process.argv[3], config: false, auditDurability: 'write' },
  });
  process.send?.(server.url);
  process.on('message', async () => {
    await server.close();
    process.exit(0);
  });
} else {
  const cwd = mkdtempSync(join(tmpdir(), 'agent-safe-server-bench-'));
  cpSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'project'), cwd, { recursive: true });
  const child = fork(import.meta.filename, ['serve', cwd]);
  const url = new URL(await new Promise((done) => child.once('message', done)));
  const body = JSON.stringify({
    action: 'restart-deployment',
    target: 'dev/app',
    caller: 'bench-agent',
    params: { namespace: 'dev', deployment: 'app' },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const end = Date.now() + seconds * 1000;
  const latencies = [];
  let errors = 0;
  const one = () =>
    new Promise((done) => {
      const started = process.hrtime.bigint();
      const call = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/v1/check',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode !== 200) errors++;
            latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            done();
          });
        },
      );
      call.on('error', () => {
        errors++;
        done();
      });
      call.end(body);
    });
  const worker = async () => {
    while (Date.now() < end) await one();
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  latencies.sort((a, b) => a - b);
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(2);
  console.log(
    `${Math.round(latencies.length / seconds)} decisions/s over ${seconds} s, 64 keep-alive connections; p50 ${p(0.5)} ms, p99 ${p(0.99)} ms; ${errors} errors`,
  );
  agent.destroy();
  child.send('stop');
}
