import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/sdk';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

// Hot reload under a constant stream of checks: the policy flips between "dev is open" and "dev is
// closed" and POST /v1/admin/reload swaps it in, again and again, while workers keep asking. Correctness
// only: no failed request, each answer decided wholly by the revision it names, the log verifies and
// holds exactly the answered decisions. Nothing here measures time.

const DEV = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'dev', deployment: 'app' },
};
const OPEN = 'decision: allow\n    reason: Dev is unrestricted';
const CLOSED = 'decision: deny\n    reason: Dev is closed';
const WORKERS = 16;
const RELOADS = 12;

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function setDev(cwd: string, rule: string): void {
  const file = join(cwd, 'policies', 'rules.yaml');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(text.includes(OPEN) ? OPEN : CLOSED, rule));
}

it(`answers every check while the configuration is reloaded ${RELOADS} times, each by the revision it names`, async () => {
  const cwd = copyProject();
  running = await startServer({
    port: 0,
    config: { cwd, config: false, auditDurability: 'write', security: { signingKey: TEST_KEY } },
    adminRoles: ['ops'],
  });
  const { url } = running;
  const agent = await running.safe.identity.createToken({ agentId: 'deploy-agent' });
  const admin = await running.safe.identity.createToken({ agentId: 'operator', roles: ['ops'] });

  // The result each revision must give: the open policy allows dev, the closed one denies it.
  const expected = new Map<string, string>();
  const first = await post(`${url}/v1/check`, DEV, { token: agent });
  expect(first.body.result).toBe('ALLOW');
  expected.set(first.body.policyRevision, 'ALLOW');

  // biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
  const answers: { status: number; body: any }[] = [];
  const failures: string[] = [];
  let stop = false;
  const worker = async () => {
    while (!stop) {
      try {
        answers.push(await post(`${url}/v1/check`, DEV, { token: agent }));
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);

  const reloads = [];
  for (let round = 0; round < RELOADS; round++) {
    const open = round % 2 === 1;
    setDev(cwd, open ? OPEN : CLOSED);
    const reloaded = await post(`${url}/v1/admin/reload`, {}, { token: admin });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body).toMatchObject({ ok: true, trigger: 'admin' });
    const revision = reloaded.body.policyRevision as string;
    if (expected.has(revision)) expect(expected.get(revision)).toBe(open ? 'ALLOW' : 'DENY');
    expected.set(revision, open ? 'ALLOW' : 'DENY');
    reloads.push(revision);
    // Let some checks through on this revision before the next swap.
    const seen = answers.length;
    while (answers.length < seen + WORKERS * 2 && failures.length === 0) await sleep(1);
  }
  stop = true;
  await Promise.all(workers);

  expect(failures).toEqual([]);
  expect(answers.length).toBeGreaterThan(RELOADS * WORKERS);
  expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
  const revisionsSeen = new Set<string>();
  for (const { body } of answers) {
    expect(expected.has(body.policyRevision)).toBe(true);
    expect([body.policyRevision, body.result]).toEqual([
      body.policyRevision,
      expected.get(body.policyRevision),
    ]);
    revisionsSeen.add(body.policyRevision);
  }
  // Both configurations served while the load ran.
  expect(new Set([...revisionsSeen].map((revision) => expected.get(revision)))).toEqual(
    new Set(['ALLOW', 'DENY']),
  );

  await running.close();
  running = undefined;
  const log = join(cwd, 'audit.jsonl');
  const report = await verifyAuditLog(log);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  const decisions = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event_type: string; event_id: string })
    .filter((event) => event.event_type === 'decision');
  // The warm-up check and every answered one, each exactly once.
  expect(decisions).toHaveLength(answers.length + 1);
  const logged = new Set(decisions.map((event) => event.event_id));
  for (const { body } of answers) expect(logged.has(body.auditId)).toBe(true);
}, 120_000);
