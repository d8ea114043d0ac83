import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { editDistance, nearest } from '../src/main.js';
import { cli } from './run-cli.js';

let project: string;

beforeAll(() => {
  project = join(mkdtempSync(join(tmpdir(), 'agent-safe-consistency-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
});

interface Envelope {
  command: string;
  ok: boolean;
  exitCode: number;
  data: Record<string, unknown> | null;
  errors: { code: string; message: string; file?: string; path?: string }[];
}

/** Parses stdout as exactly one envelope and checks its invariants. */
function envelopeOf(result: { stdout: string; code: number | null }): Envelope {
  const document = JSON.parse(result.stdout) as Envelope;
  expect(Object.keys(document).sort()).toEqual(['command', 'data', 'errors', 'exitCode', 'ok']);
  expect(document.exitCode).toBe(result.code);
  expect(document.ok).toBe(result.code === 0);
  expect(Array.isArray(document.errors)).toBe(true);
  if (document.ok) expect(document.errors).toEqual([]);
  return document;
}

const allow = [
  'check',
  'restart-deployment',
  '--target',
  'dev/test-app',
  '--caller',
  'deploy-agent',
  '--params',
  '{"namespace":"dev","deployment":"app"}',
];

describe('one JSON envelope for every command', () => {
  it('wraps check, validate, list-actions, test, audit verify and audit show alike', () => {
    const check = envelopeOf(cli([...allow, '--json-output'], project));
    expect(check.command).toBe('check');
    expect(check.data).toMatchObject({ result: 'ALLOW', action: 'restart-deployment' });
    expect(check.data).not.toHaveProperty('explanation');

    const validate = envelopeOf(cli(['validate', '--json-output'], project));
    expect(validate.command).toBe('validate');
    expect(validate.data).toHaveProperty('findings');
    expect(validate.data).not.toHaveProperty('valid');

    const list = envelopeOf(cli(['list-actions', '--json-output'], project));
    expect(list.command).toBe('list-actions');
    expect((list.data as { actions: unknown[] }).actions.length).toBeGreaterThan(0);

    const test = envelopeOf(cli(['test', 'tests/', '--json-output'], project));
    expect(test.command).toBe('test');
    expect(test.data).toMatchObject({ failed: 0 });
    expect((test.data as { cases: unknown[] }).cases.length).toBe((test.data as { passed: number }).passed);

    const verify = envelopeOf(cli(['audit', 'verify', 'audit.jsonl', '--json-output'], project));
    expect(verify.command).toBe('audit verify');
    expect(verify.data).toMatchObject({ events: 1 });
    expect(verify.data).not.toHaveProperty('ok');

    const show = envelopeOf(cli(['audit', 'show', 'audit.jsonl', '--json-output'], project));
    expect(show.command).toBe('audit show');
    const events = (show.data as { events: Record<string, unknown>[] }).events;
    // The log's own records, as written (snake_case fields of the audit format).
    expect(events[0]).toMatchObject({ event_type: 'decision', decision: 'ALLOW' });
  });

  it('prints the envelope on stdout when a command fails in JSON mode', () => {
    const missing = cli(['audit', 'show', 'no-such.jsonl', '--json-output'], project);
    const shown = envelopeOf(missing);
    expect(shown.data).toBeNull();
    expect(shown.errors[0]).toMatchObject({ code: 'FILE_UNREADABLE' });
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);

    const badFlag = cli(['check', 'restart-deployment', '--taget', 'x', '--json-output'], project);
    const usage = envelopeOf(badFlag);
    expect(usage.command).toBe('check');
    expect(usage.errors[0]!.code).toBe('USAGE');
    expect(usage.errors[0]!.message).toMatch(/--target/);

    const badConfig = cli(['list-actions', '--registry', 'nowhere', '--json-output'], project);
    expect(envelopeOf(badConfig).errors[0]!.code).toBe('FILE_UNREADABLE');

    const badParams = cli(
      ['check', 'restart-deployment', '--target', 'dev/test-app', '--params', '{', '--json-output'],
      project,
    );
    expect(envelopeOf(badParams).errors[0]).toMatchObject({ code: 'USAGE' });
  });

  it('counts each located problem once, with its file and path', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-once-')), 'p');
    cli(['init', dir], tmpdir());
    writeFileSync(
      join(dir, 'actions', 'broken.yaml'),
      'name: broken\nversion: "1.0.0"\ndescription: x\nrisk_class: extreme\ntarget_types: [k8s-pod]\n',
    );
    const text = cli(['validate'], dir);
    expect(text.code).toBe(1);
    expect(text.stdout.match(/^error /gm)).toHaveLength(1);
    expect(text.stdout).toMatch(/Invalid: 1 error\(s\)/);
    const json = envelopeOf(cli(['validate', '--json-output'], dir));
    expect(json.errors).toHaveLength(1);
    expect(json.errors[0]).toMatchObject({ code: 'CONFIG_INVALID', path: 'risk_class' });
    expect(json.errors[0]!.file).toMatch(/broken\.yaml$/);
    expect(json.data).toMatchObject({ errorCount: 1 });
  });
});

describe('typos get a suggestion', () => {
  it('suggests the nearest command', () => {
    const result = cli(['chekc', 'restart-deployment'], project);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unknown command "chekc"; did you mean "agent-safe check"\?/);
    expect(result.stdout).toBe('');
    const sub = cli(['audit', 'shwo', 'audit.jsonl'], project);
    expect(sub.stderr).toMatch(/did you mean "agent-safe audit show"\?/);
  });

  it('suggests the nearest option of the command', () => {
    const result = cli(['check', 'restart-deployment', '--taget', 'dev/test-app'], project);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /unknown option "--taget" for "agent-safe check"; did you mean "--target"\?/,
    );
    expect(result.stdout).toBe('');
    const bound = cli(['check', 'restart-deployment', '--taget=dev/test-app'], project);
    expect(bound.stderr).toMatch(/unknown option "--taget" .*did you mean "--target"\?/);
    const missing = cli(['check', '--json-output'], project);
    expect(JSON.parse(missing.stdout).errors[0].message).toMatch(/run "agent-safe check --help"/);
  });

  it('measures transpositions as one edit and refuses far guesses', () => {
    expect(editDistance('chekc', 'check')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('--taget', ['--target', '--tag'])).toBe('--target');
    expect(nearest('--json', ['--json-output', '--explain'])).toBe('--json-output');
    expect(nearest('deploy', ['check', 'validate'])).toBeUndefined();
  });
});

describe('help', () => {
  it('names option values instead of #0 and shows --no-audit', () => {
    const help = cli(['check', '--help'], project);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toMatch(/#\d/);
    expect(help.stdout).toMatch(/--target <target> +Inventory id/);
    expect(help.stdout).toMatch(/--no-audit/);
    expect(help.stdout).not.toMatch(/\[--audit\]|^ {2}--audit /m);
    // Descriptions stay in one column after the longer placeholders.
    const columns = help.stdout
      .split('\n')
      .filter((line) => /^ {2}--/.test(line))
      .map((line) => line.search(/ {4}\S/));
    expect(new Set(columns).size).toBe(1);
    const all = cli(['--help'], project);
    expect(all.stdout).not.toMatch(/#\d/);
    const usage = cli(['check'], project);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/Not enough positional arguments/);
    expect(usage.stderr).not.toMatch(/#\d/);
  });

  it('still accepts --no-audit (a dry run writes nothing)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-dry-')), 'p');
    cli(['init', dir], tmpdir());
    const dry = cli([...allow, '--no-audit'], dir);
    expect(dry.code).toBe(0);
    expect(cli(['audit', 'show', 'audit.jsonl'], dir).code).toBe(1);
  });
});

describe('empty policy test suites fail', () => {
  it('refuses a suite with `tests: []` and a directory without suites', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-safe-empty-'));
    writeFileSync(join(dir, 'empty.yaml'), 'tests: []\n');
    const empty = cli(['test', dir], project);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/empty\.yaml.*no test cases/);
    const none = mkdtempSync(join(tmpdir(), 'agent-safe-none-'));
    mkdirSync(join(none, 'sub'));
    const nothing = cli(['test', none], project);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/No \*\.yaml policy test files/);
    const json = envelopeOf(cli(['test', dir, '--json-output'], project));
    expect(json.errors[0]!.code).toBe('CONFIG_INVALID');
  });
});
