import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { colourEnabled } from '../src/output.js';
import { cli } from './run-cli.js';

let project: string;

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-cli-'));
  project = join(root, 'myproject');
  const init = cli(['init', 'myproject'], root);
  expect(init.stderr).toBe('');
  expect(init.code).toBe(0);
  expect(init.stdout).toMatch(/Created/);
});

describe('agent-safe init', () => {
  it('scaffolds the 20 curated actions, policies, inventory, tests and config', () => {
    const list = cli(['list-actions', '--json-output'], project);
    expect(list.code).toBe(0);
    const actions = JSON.parse(list.stdout).data.actions as { name: string }[];
    expect(actions).toHaveLength(20);
    expect(actions.map((action) => action.name)).toContain('drain-node');
  });

  it('refuses to overwrite an existing project without --force', () => {
    const again = cli(['init', '.'], project);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has .*--force/);
  });
});

describe('agent-safe validate / test', () => {
  it('validates the scaffolded project without errors', () => {
    const result = cli(['validate'], project);
    expect(result.stdout).toMatch(/actions: 20 loaded/);
    expect(result.stdout).toMatch(/Valid/);
    expect(result.code).toBe(0);
  });

  it('passes the scaffolded policy test suite', () => {
    const result = cli(['test', 'tests/'], project);
    expect(result.stdout).toMatch(/13 passed, 0 failed/);
    expect(result.code).toBe(0);
  });

  it('reports a shadowed rule and fails with --strict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-shadow-'));
    cli(['init', dir], tmpdir());
    writeFileSync(
      join(dir, 'policies', 'default.yaml'),
      readFileSync(join(dir, 'policies', 'default.yaml'), 'utf8').replace('priority: 1100', 'priority: 900'),
    );
    const result = cli(['validate', '--strict'], dir);
    expect(result.stdout).toMatch(/shadowed/);
    expect(result.stdout).toMatch(/deny-namespace-deletion-in-prod/);
    expect(result.code).toBe(1);
  });

  it('names the file and field of a broken action', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-bad-'));
    cli(['init', dir], tmpdir());
    writeFileSync(
      join(dir, 'actions', 'broken.yaml'),
      'name: broken\nversion: "1.0.0"\ndescription: x\nrisk_class: extreme\ntarget_types: [k8s-pod]\n',
    );
    const result = cli(['validate'], dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/broken\.yaml.*risk_class/);
  });
});

describe('agent-safe check', () => {
  it('exits 0 on ALLOW and records the decision', () => {
    const result = cli(
      [
        'check',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--caller',
        'deploy-agent',
        '--params',
        '{"namespace":"dev","deployment":"app"}',
      ],
      project,
    );
    expect(result.stdout).toMatch(/^ALLOW {2}restart-deployment on dev\/test-app by deploy-agent/);
    expect(result.stdout).toMatch(/audit id +evt-/);
    expect(result.stdout.includes('\u001b[')).toBe(false);
    expect(result.code).toBe(0);
  });

  it('exits 3 on REQUIRE_APPROVAL and prints JSON with the ticket id', () => {
    const result = cli(
      [
        'check',
        'restart-deployment',
        '--target',
        'prod/api-server',
        '--params',
        '{"namespace":"prod","deployment":"api-server"}',
        '--ticket-id',
        'JIRA-1234',
        '--json-output',
      ],
      project,
    );
    expect(result.code).toBe(3);
    const decision = JSON.parse(result.stdout).data;
    expect(decision).toMatchObject({
      result: 'REQUIRE_APPROVAL',
      ticketId: 'JIRA-1234',
      effectiveRisk: 'critical',
    });
  });

  it('exits 2 on DENY and explains which rules were considered', () => {
    const result = cli(
      [
        'check',
        'scale-deployment',
        '--target',
        'staging/api-server',
        '--caller',
        'chat-agent',
        '--params',
        '{"namespace":"staging","deployment":"api-server","replicas":2}',
        '--explain',
      ],
      project,
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^DENY/);
    expect(result.stdout).toMatch(/Explanation/);
    expect(result.stdout).toMatch(/allow-deployers-in-staging.*callers\.roles/);
  });

  it('rejects malformed --params with a clear message and exit 1', () => {
    const result = cli(
      ['check', 'restart-deployment', '--target', 'dev/test-app', '--params', '{namespace: dev}'],
      project,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--params is not valid JSON/);
  });

  it('writes the audit log given by --audit-log and none with --no-audit', () => {
    const log = join(project, 'custom.jsonl');
    const args = [
      'check',
      'get-pod-logs',
      '--target',
      'dev/debug-pod',
      '--params',
      '{"namespace":"dev","pod":"debug-pod"}',
    ];
    expect(cli([...args, '--audit-log', log], project).code).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    const dry = cli([...args, '--no-audit'], project);
    expect(dry.stdout).toMatch(/not recorded/);
  });
});

describe('agent-safe audit', () => {
  it('verifies an intact log, shows entries, and reports tampering with exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-audit-'));
    cli(['init', dir], tmpdir());
    for (const target of ['dev/test-app', 'prod/api-server', 'nowhere/at-all']) {
      cli(
        [
          'check',
          'restart-deployment',
          '--target',
          target,
          '--params',
          // The params name the target's own object (target binding), so each decision is the policy's.
          JSON.stringify(
            target === 'dev/test-app'
              ? { namespace: 'dev', deployment: 'app' }
              : { namespace: 'prod', deployment: 'api-server' },
          ),
        ],
        dir,
      );
    }
    const ok = cli(['audit', 'verify', 'audit.jsonl'], dir);
    expect(ok.stdout).toMatch(/3 events, chain intact/);
    expect(ok.code).toBe(0);

    const show = cli(['audit', 'show', 'audit.jsonl', '--last', '2', '--json-output'], dir);
    const events = JSON.parse(show.stdout).data.events as { sequence: number; decision: string }[];
    expect(events.map((event) => event.sequence)).toEqual([2, 3]);
    expect(events.map((event) => event.decision)).toEqual(['REQUIRE_APPROVAL', 'DENY']);

    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"decision":"DENY"', '"decision":"ALLOW"'));
    const broken = cli(['audit', 'verify', 'audit.jsonl'], dir);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/line 3/);
    expect(broken.stdout).toMatch(/BROKEN/);
  });

  it('reports a torn last line as a crash, not tampering, and keeps appending', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-torn-'));
    cli(['init', dir], tmpdir());
    const check = [
      'check',
      'restart-deployment',
      '--target',
      'dev/test-app',
      '--params',
      '{"namespace":"dev","deployment":"app"}',
    ];
    cli(check, dir);
    appendFileSync(join(dir, 'audit.jsonl'), '{"event_id":"evt-torn","times');
    const torn = cli(['audit', 'verify', 'audit.jsonl'], dir);
    expect(torn.stdout).toMatch(/torn/i);
    expect(torn.code).toBe(0);
    expect(cli(check, dir).code).toBe(0);
    const after = cli(['audit', 'verify', 'audit.jsonl'], dir);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/chain intact/);
  });

  it('says which file is missing', () => {
    const result = cli(['audit', 'verify', 'no-such.jsonl'], project);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no-such\.jsonl/);
  });
});

describe('help and colour', () => {
  it('prints help for every command', () => {
    for (const command of [
      ['init'],
      ['validate'],
      ['check'],
      ['list-actions'],
      ['test'],
      ['audit', 'verify'],
      ['audit', 'show'],
    ]) {
      const result = cli([...command, '--help'], project);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage|\$ agent-safe/);
    }
    expect(cli(['--version'], project).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('colours only a TTY without NO_COLOR', () => {
    expect(colourEnabled({ isTTY: true } as never, {})).toBe(true);
    expect(colourEnabled({ isTTY: true } as never, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: false } as never, {})).toBe(false);
    expect(colourEnabled({ isTTY: false } as never, { FORCE_COLOR: '1' })).toBe(true);
  });
});
