import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

// Every `agent-safe check` is a new process: with in-memory guards, rate limits and cumulative risk
// started empty on each run and never triggered. The CLI keeps guard state in a file store beside
// agent-safe.yaml (`.agent-safe/state/`) unless the project chooses a store.

const RESTART = [
  'check',
  'restart-deployment',
  '--target',
  'dev/test-app',
  '--params',
  '{"namespace":"dev","deployment":"app"}',
];

function project(settings: string): string {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-guards-'));
  const dir = join(root, 'project');
  expect(cli(['init', 'project'], root).code).toBe(0);
  appendFileSync(join(dir, 'agent-safe.yaml'), settings);
  return dir;
}

function decision(stdout: string): Record<string, unknown> {
  return (JSON.parse(stdout) as { data: Record<string, unknown> }).data;
}

describe('guards across CLI runs', () => {
  it('denies the third check within the window with rate_limit max_requests 2', () => {
    const dir = project('rate_limit:\n  max_requests: 2\n  window_seconds: 60\n');
    const runs = [cli(RESTART, dir), cli(RESTART, dir), cli([...RESTART, '--json-output'], dir)];
    expect(runs.map((run) => run.code)).toEqual([0, 0, 2]);
    expect(decision(runs[2]!.stdout)).toMatchObject({
      result: 'DENY',
      reason: "Rate limit exceeded for caller 'anonymous': 2 requests per 60s window.",
    });
    // The state lives beside agent-safe.yaml, private to the user.
    const state = join(dir, '.agent-safe', 'state');
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect(existsSync(join(state, 'guard-state.json'))).toBe(true);
    // Another caller has its own window.
    expect(cli([...RESTART, '--caller', 'other-agent'], dir).code).toBe(0);
  });

  it('escalates on cumulative risk accumulated over several runs', () => {
    const dir = project(
      'cumulative_risk:\n  window_seconds: 3600\n  escalation_threshold: 2\n  deny_threshold: 3\n',
    );
    const answers = [1, 2, 3].map(() => {
      const run = cli([...RESTART, '--json-output'], dir);
      const data = decision(run.stdout);
      return [run.code, data.result, data.cumulativeRiskScore, data.escalatedFrom];
    });
    expect(answers).toEqual([
      [0, 'ALLOW', 1, null],
      [3, 'REQUIRE_APPROVAL', 2, 'ALLOW'],
      // A request that would reach the deny threshold is refused and adds no points.
      [2, 'DENY', 2, 'ALLOW'],
    ]);
  });

  it('says where guard state lives: check --explain and validate', () => {
    const dir = project('rate_limit:\n  max_requests: 5\n  window_seconds: 60\n');
    const state = join(dir, '.agent-safe', 'state');
    expect(cli([...RESTART, '--explain'], dir).stdout).toContain(`guard state: file store at ${state}`);
    const validate = cli(['validate'], dir);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain(`guard state: file store at ${state}`);
  });

  it('honours store: file:PATH relative to agent-safe.yaml', () => {
    const dir = project('store: file:./guard-state\nrate_limit:\n  max_requests: 1\n  window_seconds: 60\n');
    expect(cli(RESTART, dir).code).toBe(0);
    expect(cli(RESTART, dir).code).toBe(2);
    expect(existsSync(join(dir, 'guard-state', 'guard-state.json'))).toBe(true);
    expect(existsSync(join(dir, '.agent-safe'))).toBe(false);
  });

  it('warns that an explicit store: memory does not persist between runs (and honours it)', () => {
    const dir = project('store: memory\nrate_limit:\n  max_requests: 1\n  window_seconds: 60\n');
    const validate = cli(['validate'], dir);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toMatch(
      /warning.*rate limits and cumulative risk do not persist between CLI runs/,
    );
    expect(cli(['validate', '--strict'], dir).code).toBe(1);
    expect(cli(RESTART, dir).code).toBe(0);
    expect(cli(RESTART, dir).code).toBe(0);
    expect(cli([...RESTART, '--explain'], dir).stdout).toContain('do not persist between CLI runs');
  });

  it('fails closed, naming the store, when the state file is corrupt', () => {
    const dir = project('rate_limit:\n  max_requests: 5\n  window_seconds: 60\n');
    expect(cli(RESTART, dir).code).toBe(0);
    const file = join(dir, '.agent-safe', 'state', 'guard-state.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 20));
    const run = cli([...RESTART, '--json-output'], dir);
    expect(run.code).toBe(2);
    expect(decision(run.stdout).reason).toContain(
      `Denied because file guard store at ${join(dir, '.agent-safe', 'state')} could not be consulted`,
    );
    // validate says so before any check does, without touching the state.
    const validate = cli(['validate'], dir);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toMatch(
      /error guard state: file store at .* is not valid guard state.*every check would be DENY/,
    );
  });

  it('leaves a project without guards untouched (no state directory)', () => {
    const dir = project('');
    expect(cli(RESTART, dir).code).toBe(0);
    expect(existsSync(join(dir, '.agent-safe'))).toBe(false);
    expect(cli(['validate'], dir).stdout).not.toContain('guard state');
  });
});
