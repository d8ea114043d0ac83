// The server's load bench (docs/server.md, "Performance"): autocannon, in this process, loads a decision
// server running in a child process on loopback, then OPA's server on the same policy (bench/opa), with
// the same connections and request mix, so the figures come from one run on one machine.
//
//   pnpm --filter @agent-safe/server bench            (after a build; the root `pnpm bench` runs it too)
//   node bench/load.mjs --seconds 10 --connections 32 --only agent-safe --profile /tmp/prof
//
// Options (or BENCH_* variables): --seconds N (BENCH_SECONDS, default 10 per run, after 2 s of warm-up),
// --connections N (BENCH_CONNECTIONS, default 32), --only agent-safe|opa (BENCH_ONLY), --profile DIR
// (BENCH_PROFILE: node --cpu-prof of each agent-safe server child into DIR), --json FILE (BENCH_JSON).
// BENCH_SERVER_DIST=DIR serves another build of this package's dist/ (to compare two versions).
// OPA is built by `bash scripts/services.sh install opa` (AGENT_SAFE_OPA_BIN overrides); without it the
// OPA rows say what to run. Runs: agent-safe with the audit log written (write) and fsynced (fsync), the
// caller as a bearer identity token and as a plain agent id; OPA with its decision log off and on.
import { execFileSync, fork, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const KEY = 'load-bench-signing-key-0123456789abcdef';
const here = import.meta.dirname;

/** The child: a decision server on 127.0.0.1:0; sends its URL and tokens; closes on any message. */
async function serve(cwd, durability, bearer) {
  // BENCH_SERVER_DIST: another build of this package (an A/B comparison of two versions).
  const dist = process.env.BENCH_SERVER_DIST
    ? pathToFileURL(resolve(process.env.BENCH_SERVER_DIST, 'index.js')).href
    : '../dist/index.js';
  const { startServer } = await import(dist);
  const server = await startServer({
    port: 0,
    config: {
      cwd,
      config: false,
      auditLog: join(cwd, 'audit.jsonl'),
      auditDurability: durability,
      ...(bearer ? { security: { signingKey: KEY } } : {}),
    },
  });
  const token = bearer ? await server.safe.identity.createToken({ agentId: 'bench-agent', ttl: 3600 }) : '';
  process.send({ url: server.url, token });
  // The bench went away (killed, crashed): do not outlive it.
  process.once('disconnect', () => process.exit(1));
  // 'cpu': the CPU time this process has used so far (µs), so the bench can state CPU per decision, a
  // figure that holds on a busy machine where decisions/s do not.
  process.on('message', async (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpu: user + system });
      return;
    }
    await server.close();
    process.removeAllListeners('disconnect');
    process.send({ closed: true }, () => process.disconnect());
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: process.env.BENCH_SECONDS ?? '10' },
      connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '32' },
      only: { type: 'string', default: process.env.BENCH_ONLY ?? '' },
      profile: { type: 'string', default: process.env.BENCH_PROFILE ?? '' },
      json: { type: 'string', default: process.env.BENCH_JSON ?? '' },
    },
  });
  const seconds = positive(values.seconds, '--seconds');
  const connections = positive(values.connections, '--connections');
  if (values.only && !['agent-safe', 'opa'].includes(values.only)) fail('--only must be agent-safe or opa');
  const { default: autocannon } = await import('autocannon');
  const settings = { seconds, connections, autocannon };
  console.log(
    `load bench: ${connections} keep-alive connections, pipelining 1, ${seconds} s per run after 2 s of warm-up; ` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}; node ${process.version}`,
  );
  const rows = [];
  if (values.only !== 'opa') {
    for (const durability of ['write', 'fsync']) {
      for (const caller of ['bearer', 'plain']) {
        rows.push(await runAgentSafe(settings, durability, caller, values.profile, true));
        print(rows.at(-1));
      }
    }
    // The same with ?explain=false: decisions without the rule trace (docs/server.md, "Performance").
    for (const caller of ['bearer', 'plain']) {
      rows.push(await runAgentSafe(settings, 'write', caller, values.profile, false));
      print(rows.at(-1));
    }
  }
  if (values.only !== 'agent-safe') {
    const opa = opaBinary();
    for (const log of ['off', 'on']) {
      for (const caller of ['bearer', 'plain']) {
        rows.push(
          opa
            ? await runOpa(settings, opa, log, caller)
            : {
                name: `opa, decision log ${log}, ${caller}`,
                skipped: 'OPA is not installed: bash scripts/services.sh install opa',
              },
        );
        print(rows.at(-1));
      }
    }
  }
  const ratios = [];
  for (const [ours, theirs] of [
    ['agent-safe, audit write, bearer', 'opa, decision log on, bearer'],
    ['agent-safe, audit write, plain', 'opa, decision log on, plain'],
    ['agent-safe, audit write, plain', 'opa, decision log off, plain'],
    ['agent-safe, audit fsync, bearer', 'opa, decision log on, bearer'],
    ['agent-safe, audit write, bearer, ?explain=false', 'opa, decision log on, bearer'],
    ['agent-safe, audit write, plain, ?explain=false', 'opa, decision log on, plain'],
  ]) {
    const a = rows.find((row) => row.name === ours);
    const b = rows.find((row) => row.name === theirs);
    if (a?.rate && b?.rate) {
      const cpu =
        a.cpuMicrosPerDecision && b.cpuMicrosPerDecision
          ? b.cpuMicrosPerDecision / a.cpuMicrosPerDecision
          : undefined;
      ratios.push({ ours, theirs, ratio: a.rate / b.rate, ...(cpu ? { cpuRatio: cpu } : {}) });
    }
  }
  for (const { ours, theirs, ratio, cpuRatio } of ratios)
    console.log(
      `${ours} / ${theirs}: ${ratio.toFixed(2)}x the decisions/s${cpuRatio ? `, ${cpuRatio.toFixed(2)}x less server CPU per decision` : ''}`,
    );
  if (values.json)
    writeFileSync(values.json, `${JSON.stringify({ seconds, connections, rows, ratios }, null, 2)}\n`);
  const failed = rows.filter((row) => row.errors > 0 || row.non2xx > 0 || row.invalid);
  if (failed.length > 0) {
    console.error(`failed requests in: ${failed.map((row) => row.name).join(', ')}`);
    process.exitCode = 1;
  }
}

/** The request mix, one of each per connection in turn: 2 ALLOW, 2 REQUIRE_APPROVAL, 1 DENY, 1 default DENY. */
function mix() {
  return [
    { action: 'restart-deployment', target: 'dev/app', params: { namespace: 'dev', deployment: 'app' } },
    {
      action: 'scale-deployment',
      target: 'staging/app',
      params: { namespace: 'staging', deployment: 'app', replicas: 3 },
    },
    { action: 'restart-deployment', target: 'prod/app', params: { namespace: 'prod', deployment: 'app' } },
    {
      action: 'update-configmap',
      target: 'prod/app',
      params: { namespace: 'prod', configmap: 'app', key: 'k', value: 'v' },
    },
    { action: 'drain-node', target: 'prod/node-1', params: { node: 'node-1' } },
    {
      action: 'update-configmap',
      target: 'staging/app',
      params: { namespace: 'staging', configmap: 'app', key: 'k', value: 'v' },
    },
  ];
}
const EXPECTED = ['ALLOW', 'ALLOW', 'REQUIRE_APPROVAL', 'REQUIRE_APPROVAL', 'DENY', 'DENY'];

async function runAgentSafe(settings, durability, caller, profileDir, explain) {
  const name = `agent-safe, audit ${durability}, ${caller}${explain ? '' : ', ?explain=false'}`;
  const path = explain ? '/v1/check' : '/v1/check?explain=false';
  const profileName = `server-${durability}-${caller}${explain ? '' : '-lean'}.cpuprofile`;
  const cwd = mkdtempSync(join(tmpdir(), 'agent-safe-load-'));
  cpSync(join(here, 'project'), cwd, { recursive: true });
  const execArgv = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`, `--cpu-prof-name=${profileName}`]
    : [];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const child = fork(import.meta.filename, ['--serve', cwd, durability, caller], { execArgv });
  const { url, token } = await new Promise((done, failed) => {
    child.once('message', done);
    child.once('exit', (code) => failed(new Error(`the server child exited with ${code}`)));
  });
  const headers = {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const bodies = mix().map((request) =>
    caller === 'plain' ? { ...request, caller: 'bench-agent' } : request,
  );
  // One sample of each answer: the server decides as the bench expects.
  const invalid = await sample(`${url}${path}`, headers, bodies, (body) =>
    explain === 'explanation' in body ? body.result : `explanation ${explain ? 'missing' : 'present'}`,
  );
  const requests = bodies.map((body) => ({
    method: 'POST',
    path,
    headers,
    body: JSON.stringify(body),
  }));
  const cpu = () =>
    new Promise((done) => {
      const listener = (message) => {
        if (message.cpu === undefined) return;
        child.off('message', listener);
        done(message.cpu);
      };
      child.on('message', listener);
      child.send('cpu');
    });
  const result = await load(settings, url, requests, cpu);
  const closed = new Promise((done) => child.on('message', (message) => message.closed && done()));
  child.send('close');
  await closed;
  const { verifyAuditLog } = await import('@agent-safe/sdk');
  const report = await verifyAuditLog(join(cwd, 'audit.jsonl'));
  return {
    name,
    ...result,
    invalid,
    auditEvents: report.events,
    auditOk: report.ok,
    ...(profileDir ? { profile: join(resolve(profileDir), profileName) } : {}),
  };
}

async function runOpa(settings, opa, log, caller) {
  const name = `opa, decision log ${log}, ${caller}`;
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-load-opa-'));
  const port = await freePort();
  const data = join(dir, 'data.json');
  writeFileSync(data, JSON.stringify(caller === 'bearer' ? { agentsafe: { key: KEY } } : {}));
  const decisions = join(dir, 'decisions.log');
  // Decision log on: every decision as a JSON line on OPA's console, written to a file (as the
  // agent-safe runs write their audit log; OPA never fsyncs it).
  const args = [
    'run',
    '--server',
    '--addr',
    `127.0.0.1:${port}`,
    '--log-format',
    'json',
    '--disable-telemetry',
  ];
  if (log === 'on') args.push('--set', 'decision_logs.console=true', '--log-level', 'info');
  else args.push('--log-level', 'error');
  args.push(join(here, 'opa', 'policy.rego'), join(here, 'opa', 'data.json'), data);
  const out = openSync(decisions, 'w');
  const child = spawn(opa, args, { stdio: ['ignore', out, out] });
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/health`)).ok, 'OPA did not answer /health');
  let token = '';
  if (caller === 'bearer') token = await hs256Token();
  const headers = { 'content-type': 'application/json' };
  const bodies = mix().map((request) => ({
    input: caller === 'plain' ? { ...request, caller: 'bench-agent' } : { ...request, token },
  }));
  const invalid = await sample(
    `${url}/v1/data/agentsafe/decision`,
    headers,
    bodies,
    (body) => body.result?.result,
  );
  const requests = bodies.map((body) => ({
    method: 'POST',
    path: '/v1/data/agentsafe/decision',
    headers,
    body: JSON.stringify(body),
  }));
  const result = await load(settings, url, requests, procCpu(child.pid));
  child.kill('SIGTERM');
  await new Promise((done) => child.once('exit', done));
  const logged =
    log === 'on'
      ? readFileSync(decisions, 'utf8')
          .split('\n')
          .filter((line) => line.includes('"decision_id"')).length
      : 0;
  return { name, ...result, invalid, ...(log === 'on' ? { decisionsLogged: logged } : {}) };
}

/** Sends each body once and compares the answers with EXPECTED; a description of the first mismatch. */
async function sample(url, headers, bodies, resultOf) {
  for (const [index, body] of bodies.entries()) {
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    const answer = await response.json();
    if (response.status !== 200 || resultOf(answer) !== EXPECTED[index])
      return `request ${index} answered ${response.status} ${JSON.stringify(answer).slice(0, 300)}, expected ${EXPECTED[index]}`;
  }
  return undefined;
}

/** Warm-up, then the measured run. */
async function load({ seconds, connections, autocannon }, url, requests, cpu) {
  const options = { url, connections, pipelining: 1, requests };
  await autocannon({ ...options, duration: 2 });
  const before = await cpu?.();
  const result = await autocannon({ ...options, duration: seconds });
  const after = await cpu?.();
  const ok = result['2xx'];
  return {
    rate: Math.round(ok / seconds),
    ...(cpu ? { cpuMicrosPerDecision: Math.round((after - before) / result.requests.total) } : {}),
    requests: result.requests.total,
    ok,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

function print(row) {
  if (row.skipped) {
    console.log(`${row.name.padEnd(48)} skipped: ${row.skipped}`);
    return;
  }
  const extra = [
    row.cpuMicrosPerDecision !== undefined ? `server CPU ${row.cpuMicrosPerDecision} µs/decision` : '',
    row.auditEvents !== undefined
      ? `audit ${row.auditEvents} events${row.auditOk ? ' (verifies)' : ' (DOES NOT VERIFY)'}`
      : '',
    row.decisionsLogged !== undefined ? `${row.decisionsLogged} decisions logged` : '',
    row.invalid ? `WRONG ANSWER: ${row.invalid}` : '',
    row.profile ? `profile ${row.profile}` : '',
  ].filter(Boolean);
  console.log(
    `${row.name.padEnd(48)} ${String(row.rate).padStart(6)} decisions/s  p50 ${row.p50} ms  p99 ${row.p99} ms  max ${row.max} ms  errors ${row.errors}  timeouts ${row.timeouts}  non-2xx ${row.non2xx}${extra.length ? `  ${extra.join('; ')}` : ''}`,
  );
}

/** The OPA binary: AGENT_SAFE_OPA_BIN, else the one scripts/services.sh install opa builds. */
function opaBinary() {
  if (process.env.AGENT_SAFE_OPA_BIN) return process.env.AGENT_SAFE_OPA_BIN;
  const dir =
    process.env.AGENT_SAFE_OPA_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agent-safe', 'opa-v1.22.4');
  const bin = join(dir, 'bin', 'opa');
  if (!existsSync(bin)) return undefined;
  try {
    execFileSync(bin, ['version'], { stdio: 'ignore' });
    return bin;
  } catch {
    return undefined;
  }
}

/** An identity token shaped as agent-safe mints it (HS256 with the bench key, its claims), for OPA's bearer runs. */
async function hs256Token() {
  const { createHmac } = await import('node:crypto');
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = { alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'default' };
  const claims = {
    sub: 'bench-agent',
    agent_id: 'bench-agent',
    roles: [],
    groups: [],
    iat: now,
    nbf: now,
    exp: now + 3600,
    iss: 'agent-safe',
    aud: 'agent-safe',
  };
  const unsigned = `${part(header)}.${part(claims)}`;
  return `${unsigned}.${createHmac('sha256', KEY).update(unsigned).digest('base64url')}`;
}

/** CPU time (µs) a process has used, from /proc (Linux; undefined elsewhere). Clock ticks of 10 ms. */
function procCpu(pid) {
  if (!existsSync(`/proc/${pid}/stat`)) return undefined;
  return async () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime: fields 14 and 15 of stat(5), here 11 and 12 after the command name.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  };
}

function freePort() {
  return new Promise((done, failed) => {
    const probe = createServer();
    probe.once('error', failed);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

async function until(test, message) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if (await test()) return;
    } catch {}
    if (Date.now() > deadline) fail(message);
    await new Promise((done) => setTimeout(done, 100));
  }
}

function positive(text, name) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer, got "${text}"`);
  return value;
}

function fail(message) {
  console.error(`load bench: ${message}`);
  process.exit(2);
}

if (process.argv[2] === '--serve')
  await serve(process.argv[3], process.argv[4], process.argv[5] === 'bearer');
else await main();
