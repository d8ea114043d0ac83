// Kill-switch propagation figure for docs/server.md: two replicas (separate processes) share one
// redis-server; an admin suspends an agent through replica A and this script polls replica B (every 5 ms)
// until it answers DENY, then resumes and waits for ALLOW again. Run after a build, with redis-server on
// PATH: `node packages/server/bench/kill-switch.bench.js` (ROUNDS=20 by default). Prints the figures.
import { fork, spawn } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KEY = 'kill-switch-bench-signing-key-0123456789abcdef';

if (process.argv[2] === 'serve') {
  const { startServer } = await import('../dist/index.js');
  const server = await startServer({
    port: 0,
    config: {
      cwd: process.argv[3],
      config: false,
      auditLog: join(process.argv[3], `audit-${process.pid}.jsonl`),
      auditDurability: 'write',
      store: process.argv[4],
      security: { signingKey: KEY },
    },
    adminRoles: ['ops'],
  });
  process.send?.(server.url);
  process.on('message', async () => {
    await server.close();
    process.exit(0);
  });
} else {
  const port = await new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
  const redisDir = mkdtempSync(join(tmpdir(), 'agent-safe-kill-bench-redis-'));
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', redisDir],
    {
      stdio: 'ignore',
    },
  );
  await new Promise((done) => setTimeout(done, 300));
  const store = `redis://127.0.0.1:${port}`;
  const cwd = mkdtempSync(join(tmpdir(), 'agent-safe-kill-bench-'));
  cpSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'project'), cwd, { recursive: true });
  const replicas = [
    fork(import.meta.filename, ['serve', cwd, store]),
    fork(import.meta.filename, ['serve', cwd, store]),
  ];
  const [urlA, urlB] = await Promise.all(
    replicas.map((child) => new Promise((done) => child.once('message', done))),
  );
  const { AgentSafe } = await import('@agent-safe/sdk/facade');
  const minter = new AgentSafe({ cwd, config: false, auditLog: false, security: { signingKey: KEY } });
  const admin = await minter.identity.createToken({ agentId: 'sec-admin', roles: ['ops'] });
  const agent = await minter.identity.createToken({ agentId: 'bench-agent' });
  const post = async (url, body, token) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return response.json();
  };
  const check = {
    action: 'restart-deployment',
    target: 'dev/app',
    params: { namespace: 'dev', deployment: 'app' },
  };
  const until = async (result) => {
    const started = performance.now();
    while ((await post(`${urlB}/v1/check`, check, agent)).result !== result) {
      if (performance.now() - started > 30_000) throw new Error(`replica B never answered ${result}`);
      await new Promise((done) => setTimeout(done, 5));
    }
    return performance.now() - started;
  };
  const rounds = Number(process.env.ROUNDS ?? 20);
  const suspend = [];
  const resume = [];
  for (let round = 0; round < rounds; round++) {
    // A random phase against B's refresh timer, as an operator's click would have.
    await new Promise((done) => setTimeout(done, Math.random() * 1000));
    let started = performance.now();
    await post(`${urlA}/v1/admin/agents/bench-agent/suspend`, { reason: `round ${round}` }, admin);
    await until('DENY');
    suspend.push(performance.now() - started);
    started = performance.now();
    await post(`${urlA}/v1/admin/agents/bench-agent/resume`, {}, admin);
    await until('ALLOW');
    resume.push(performance.now() - started);
  }
  const summary = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(0);
    return `min ${sorted[0].toFixed(0)} ms, median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`;
  };
  console.log(`kill switch, ${rounds} rounds, 2 replicas on one Redis, refresh_interval_ms 1000 (default)`);
  console.log(`suspend via A -> DENY on B: ${summary(suspend)}`);
  console.log(`resume via A  -> ALLOW on B: ${summary(resume)}`);
  await minter.close();
  for (const child of replicas) child.send('stop');
  await Promise.all(replicas.map((child) => new Promise((done) => child.once('exit', done))));
  redis.kill('SIGKILL');
}
