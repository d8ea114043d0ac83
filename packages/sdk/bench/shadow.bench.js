// Benchmarks what shadow mode adds to AgentSafe.check() (dist), without audit, one caller at a time:
// no shadow, a candidate that agrees with the enforced policies on every request, and one that differs
// on every request; then with an audit log (durability write), where each difference is also an event.
// Interleaved rounds, so that drift on a shared machine hits every variant alike.
// Run: pnpm --filter @agent-safe/sdk build && node packages/sdk/bench/shadow.bench.js
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentiles, requests } from './bench-requests.js';
import { AgentSafe } from '../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agent-safe-shadow-bench-'));
cpSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'project'), dir, { recursive: true });
const rules = readFileSync(join(dir, 'policies', 'rules.yaml'), 'utf8');
mkdirSync(join(dir, 'same'));
writeFileSync(join(dir, 'same', 'rules.yaml'), rules);
// Every rule renamed: the same answers from differently named rules, so every request is a difference.
mkdirSync(join(dir, 'renamed'));
writeFileSync(join(dir, 'renamed', 'rules.yaml'), rules.replace(/name: (\S+)/g, 'name: $1-candidate'));

async function interleaved(label, variants, rounds, perRound) {
  for (const safe of Object.values(variants)) {
    for (let i = 0; i < perRound * 2; i++) await safe.check(requests[i % requests.length]);
  }
  const samples = Object.fromEntries(
    Object.keys(variants).map((name) => [name, new Float64Array(rounds * perRound)]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const [name, safe] of Object.entries(variants)) {
      const into = samples[name];
      for (let i = 0; i < perRound; i++) {
        const started = process.hrtime.bigint();
        await safe.check(requests[i % requests.length]);
        into[round * perRound + i] = Number(process.hrtime.bigint() - started);
      }
    }
  }
  const base = percentiles(samples[Object.keys(variants)[0]])(0.5);
  for (const name of Object.keys(variants)) {
    const at = percentiles(samples[name]);
    const extra = name === Object.keys(variants)[0] ? '' : ` (+${Math.round(at(0.5) - base)} ns at p50)`;
    console.log(`${label}, ${name}: p50 ${Math.round(at(0.5))} ns, p99 ${Math.round(at(0.99))} ns${extra}`);
  }
}

const common = { cwd: dir, config: false, trustCallerObjects: true };
try {
  await interleaved(
    'check() without audit',
    {
      'no shadow': new AgentSafe({ ...common, auditLog: false }),
      'shadow agreeing': new AgentSafe({ ...common, auditLog: false, shadow: { policies: './same' } }),
      'shadow differing on every request': new AgentSafe({
        ...common,
        auditLog: false,
        shadow: { policies: './renamed' },
      }),
    },
    10,
    40_000,
  );
  const withLog = (name, shadow) =>
    new AgentSafe({
      ...common,
      auditLog: join(dir, `${name}.jsonl`),
      auditDurability: 'write',
      ...(shadow ? { shadow } : {}),
    });
  const logged = {
    'no shadow': withLog('plain'),
    'shadow agreeing': withLog('same', { policies: './same' }),
    'shadow differing on every request (one more event each)': withLog('renamed', { policies: './renamed' }),
  };
  await interleaved('check() with audit (durability write), 1 caller', logged, 5, 4_000);
  for (const safe of Object.values(logged)) await safe.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
