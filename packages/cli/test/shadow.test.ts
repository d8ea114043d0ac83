import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

const DEV = {
  action: 'restart-deployment',
  target: 'dev/test-app',
  caller: 'deploy-agent',
  params: { namespace: 'dev', deployment: 'app' },
};
/** A candidate that closes dev: the init project's policies allow DEV, this one denies it. */
const CLOSE_DEV = `rules:
  - name: dev-closed
    priority: 5000
    match:
      targets:
        environments: [dev]
    decision: deny
    reason: Dev is closed in the candidate
`;

function project(candidate = CLOSE_DEV): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-shadow-')), 'p');
  expect(cli(['init', dir], tmpdir()).code).toBe(0);
  mkdirSync(join(dir, 'candidate'));
  writeFileSync(join(dir, 'candidate', 'rules.yaml'), candidate);
  return dir;
}

/** Resolves with the first line the child prints on stdout. */
function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code} before printing its URL`)));
  });
}

describe('serve --shadow-policy', () => {
  it('answers with the enforced policies, counts the difference in /metrics and audits it', async () => {
    const dir = project();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--shadow-policy', './candidate'], {
      cwd: dir,
      env: { ...process.env, AGENT_SAFE_SIGNING_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      const url = /listening on (http:\/\/\S+)$/.exec(await firstLine(child))?.[1];
      const response = await fetch(`${url}/v1/check`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(DEV),
      });
      const decision = (await response.json()) as { result: string; auditId: string; policyRevision: string };
      expect(decision.result).toBe('ALLOW');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('agent_safe_shadow_evaluations_total 1\n');
      expect(metrics).toContain('agent_safe_shadow_differences_total{enforced="ALLOW",shadow="DENY"} 1\n');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);

      const shown = cli(
        ['audit', 'show', 'audit.jsonl', '--event-type', 'shadow_difference', '--json-output'],
        dir,
      );
      expect(shown.code).toBe(0);
      const events = JSON.parse(shown.stdout).data.events;
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        event_type: 'shadow_difference',
        decision_event_id: decision.auditId,
        enforced_decision: 'ALLOW',
        enforced_policy_revision: decision.policyRevision,
        shadow_decision: 'DENY',
        shadow_matched_rule: 'dev-closed',
      });
      const text = cli(['audit', 'show', 'audit.jsonl'], dir).stdout;
      expect(text).toContain(
        'shadow_difference ALLOW → DENY restart-deployment on dev/test-app by deploy-agent',
      );
      expect(text).toContain(`rule allow-dev → dev-closed  decision ${decision.auditId}`);
      expect(cli(['audit', 'verify', 'audit.jsonl'], dir).code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start when the candidate policies do not load, naming them', () => {
    const dir = project();
    const result = cli(['serve', '--port', '0', '--shadow-policy', './missing'], dir, {
      AGENT_SAFE_SIGNING_KEY: '',
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('shadow policies');
    expect(result.stderr).toContain(join(dir, 'missing'));
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('validate and shadow policies', () => {
  it('validates the candidate of agent-safe.yaml; its analysis findings are warnings', () => {
    const dir = project(`${CLOSE_DEV}  - name: unknown-action
    priority: 1
    match:
      actions: [no-such-action]
    decision: allow
`);
    appendFileSync(join(dir, 'agent-safe.yaml'), '\nshadow:\n  policies: ./candidate\n');
    const result = cli(['validate', '--json-output'], dir, { AGENT_SAFE_SIGNING_KEY: '' });
    const envelope = JSON.parse(result.stdout);
    const findings = envelope.data.findings as { severity: string; subject: string; message: string }[];
    expect(findings).toContainEqual(
      expect.objectContaining({
        severity: 'ok',
        subject: 'shadow policies',
        message: expect.stringContaining('2 rules'),
      }),
    );
    const shadowWarnings = findings.filter(
      (line) => line.subject.startsWith('shadow ') && line.severity === 'warning',
    );
    expect(shadowWarnings.map((line) => line.message).join('\n')).toContain('no-such-action');
    expect(result.code).toBe(0);
    expect(cli(['validate', '--strict'], dir, { AGENT_SAFE_SIGNING_KEY: '' }).code).toBe(1);
  });

  it('reports a candidate that does not load as an error naming its file', () => {
    const dir = project('rules:\n  - name: broken\n    decision: perhaps\n');
    const result = cli(['validate', '--shadow-policy', './candidate', '--json-output'], dir, {
      AGENT_SAFE_SIGNING_KEY: '',
    });
    expect(result.code).toBe(1);
    const envelope = JSON.parse(result.stdout);
    expect(envelope.ok).toBe(false);
    expect(envelope.errors).toContainEqual(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        file: expect.stringMatching(/candidate\/rules\.yaml$/),
      }),
    );
    const text = cli(['validate', '--shadow-policy', './candidate'], dir, { AGENT_SAFE_SIGNING_KEY: '' });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/error shadow policies: .*candidate\/rules\.yaml/);
  });

  it('refuses a malformed shadow block in agent-safe.yaml, naming the file and the setting', () => {
    const dir = project();
    appendFileSync(join(dir, 'agent-safe.yaml'), '\nshadow:\n  policy: ./candidate\n');
    const result = cli(['validate'], dir, { AGENT_SAFE_SIGNING_KEY: '' });
    expect(result.code).not.toBe(0);
    const output = result.stdout + result.stderr;
    expect(output).toContain(join(dir, 'agent-safe.yaml'));
    expect(output).toContain('shadow.policy');
    expect(output).toContain('unknown setting; expected policies');
  });
});
