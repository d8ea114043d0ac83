// Cold start of `agent-safe check` (a new Node process per run), against Node's own start-up.
// Run `pnpm build` first. Each run scaffolds nothing: a project is made once with `init`, then
// `check` runs N times (the first run fills the parse cache; it is excluded).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const bin = join(import.meta.dirname, '..', 'bin', 'agent-safe.js');
const root = mkdtempSync(join(tmpdir(), 'agent-safe-cold-'));
const cacheDir = join(root, 'cache');
const env = { ...process.env, AGENT_SAFE_CACHE_DIR: cacheDir, NO_COLOR: '1' };

function time(args, cwd) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0 && result.status !== 2 && result.status !== 3) {
    throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  return elapsed;
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))].toFixed(1);
  return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, min ${sorted[0].toFixed(1)} ms`;
}

try {
  const project = join(root, 'project');
  time([bin, 'init', project], root);
  const check = [
    bin,
    'check',
    'restart-deployment',
    '--target',
    'dev/test-app',
    '--caller',
    'bench',
    '--params',
    '{"namespace":"dev","deployment":"app"}',
  ];
  time(check, project);
  const node = [];
  const cli = [];
  const uncached = [];
  for (let run = 0; run < RUNS; run++) {
    node.push(time(['-e', '0'], project));
    cli.push(time(check, project));
  }
  for (let run = 0; run < Math.min(RUNS, 10); run++) {
    rmSync(cacheDir, { recursive: true, force: true });
    uncached.push(time(check, project));
  }
  console.log(
    `load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}; ${RUNS} runs each`,
  );
  console.log(`node -e 0:                          ${summary(node)}`);
  console.log(`agent-safe check (parse cache warm): ${summary(cli)}`);
  console.log(`agent-safe check (no parse cache):   ${summary(uncached)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
