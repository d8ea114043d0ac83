import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Issue } from '@agent-safe/core';
import { loadPolicies, loadPoliciesSync, parsePolicyDocument } from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'policies');
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pdp-policies-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function directoryWith(files: Record<string, string>): Promise<string> {
  const directory = await mkdtemp(join(scratch, 'set-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(directory, name), text);
  return directory;
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ code: string; issues: Issue[]; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; issues: Issue[]; message: string };
  }
  throw new Error('expected the load to fail');
}

describe('loadPolicies', () => {
  it('loads every *.yaml and *.yml file of a directory in name order, skipping other files', async () => {
    const set = await loadPolicies(fixtures);
    expect(set.files.map((file) => file.split('/').pop())).toEqual(['10-baseline.yaml', '20-teams.yml']);
    expect(set.rules.map((rule) => rule.name)).toEqual([
      'approve-anything-critical',
      'never-wipe-prod-namespaces',
      'prod-needs-approval',
      'staging-reads',
      'staging-deployers',
      'dev-is-open',
    ]);
    expect(set.revision).toMatch(/^[0-9a-f]{64}$/);
  });

  it('normalises the rule schema: decisions in any case, defaults for omitted fields', async () => {
    const set = await loadPolicies(fixtures);
    const byName = new Map(set.rules.map((rule) => [rule.name, rule]));
    expect(byName.get('approve-anything-critical')).toMatchObject({
      decision: 'REQUIRE_APPROVAL',
      priority: 1000,
      match: { actions: ['*'], riskClasses: ['critical'] },
    });
    expect(byName.get('never-wipe-prod-namespaces')?.decision).toBe('DENY');
    expect(byName.get('prod-needs-approval')).toMatchObject({
      decision: 'REQUIRE_APPROVAL',
      description: '',
    });
    expect(byName.get('staging-deployers')?.match.callers).toEqual({ roles: ['deployer'] });
    expect(byName.get('dev-is-open')?.source).toEqual({ file: join(fixtures, '20-teams.yml'), index: 2 });
  });

  it('loads a single file, synchronously with the same result', async () => {
    const file = join(fixtures, '20-teams.yml');
    const asynchronous = await loadPolicies(file);
    const synchronous = loadPoliciesSync(file);
    expect(synchronous).toEqual(asynchronous);
    expect(asynchronous.rules).toHaveLength(3);
    expect(loadPoliciesSync(fixtures).revision).toBe((await loadPolicies(fixtures)).revision);
  });

  it('keeps the revision across comments and file moves, changes it when meaning changes', async () => {
    const rule = 'rules:\n  - name: r\n    decision: allow\n';
    const a = await loadPolicies(await directoryWith({ 'a.yaml': rule }));
    const b = await loadPolicies(await directoryWith({ 'other.yml': `# comment\n${rule}` }));
    const c = await loadPolicies(await directoryWith({ 'a.yaml': rule.replace('allow', 'deny') }));
    expect(b.revision).toBe(a.revision);
    expect(c.revision).not.toBe(a.revision);
  });

  it('follows a symlinked policy file (ConfigMap mounts are symlinks)', async () => {
    const directory = await directoryWith({});
    const real = join(scratch, 'real-policy.yaml');
    await writeFile(real, 'rules:\n  - name: linked\n    decision: deny\n');
    await symlink(real, join(directory, 'policy.yaml'));
    const set = await loadPolicies(directory);
    expect(set.rules.map((rule) => rule.name)).toEqual(['linked']);
  });

  it('reports every bad rule of every file in one CONFIG_INVALID error', async () => {
    const directory = await directoryWith({
      'a.yaml': [
        'rules:',
        '  - name: typo',
        '    decision: allow',
        '    match:',
        '      target:',
        '        environments: [prod]',
        '  - name: empty',
        '    decision: allow',
        '    match:',
        '      targets:',
        '        environments: []',
        '  - name: dup',
        '    decision: allow',
      ].join('\n'),
      'b.yaml': [
        'rules:',
        '  - name: bad-decision',
        '    decision: permit',
        '    priority: high',
        '  - name: dup',
        '    decision: deny',
      ].join('\n'),
    });
    const error = await failure(loadPolicies(directory));
    expect(error.code).toBe('CONFIG_INVALID');
    const found = error.issues.map((issue) => [issue.file?.split('/').pop(), issue.path]);
    expect(found).toEqual(
      expect.arrayContaining([
        ['a.yaml', 'rules[0].match.target'],
        ['a.yaml', 'rules[1].match.targets.environments'],
        ['b.yaml', 'rules[0].decision'],
        ['b.yaml', 'rules[0].priority'],
        ['b.yaml', 'rules[1].name'],
      ]),
    );
    const text = error.issues.map((issue) => issue.message).join('\n');
    expect(text).toContain('rule "typo": unknown field "target" (did you mean "targets"?)');
    expect(text).toContain('would match nothing');
    expect(text).toContain('already used by rules[2]');
    expect(() => loadPoliciesSync(directory)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('reports YAML syntax errors with the file, and schema problems of other files too', async () => {
    const directory = await directoryWith({
      'a.yaml': 'rules:\n  - name: [unclosed\n',
      'b.yaml': 'rules:\n  - name: ok\n    decision: nope\n',
    });
    const error = await failure(loadPolicies(directory));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues.some((issue) => issue.file?.endsWith('a.yaml'))).toBe(true);
    expect(
      error.issues.some((issue) => issue.file?.endsWith('b.yaml') && issue.path === 'rules[0].decision'),
    ).toBe(true);
  });

  it('refuses alias bombs and oversized files', async () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'rules: [*c, *c, *c]',
    ].join('\n');
    expect((await failure(loadPolicies(await directoryWith({ 'bomb.yaml': bomb })))).code).toBe(
      'YAML_INVALID',
    );
    const huge = await directoryWith({ 'huge.yaml': `rules: []\n#${'x'.repeat(5 * 1024 * 1024)}\n` });
    const error = await failure(loadPolicies(huge));
    expect(error.code).toBe('YAML_INVALID');
    expect(error.issues[0]?.message).toContain('limit');
  });

  it('fails with FILE_UNREADABLE for a missing path and CONFIG_INVALID for a directory without policies', async () => {
    expect((await failure(loadPolicies(join(scratch, 'missing')))).code).toBe('FILE_UNREADABLE');
    expect(() => loadPoliciesSync(join(scratch, 'missing'))).toThrow(
      expect.objectContaining({ code: 'FILE_UNREADABLE' }),
    );
    const empty = await directoryWith({ 'notes.txt': 'hello' });
    expect((await failure(loadPolicies(empty))).code).toBe('CONFIG_INVALID');
  });

  it('does not descend into sub-directories named like policy files', async () => {
    const directory = await directoryWith({ 'a.yaml': 'rules: []\n' });
    await mkdir(join(directory, 'nested.yaml'));
    await writeFile(
      join(directory, 'nested.yaml', 'b.yaml'),
      'rules:\n  - name: hidden\n    decision: allow\n',
    );
    const error = await failure(loadPolicies(directory));
    expect(error.code).toBe('FILE_UNREADABLE');
  });
});

describe('parsePolicyDocument', () => {
  const parse = (rule: unknown) => parsePolicyDocument({ rules: [rule] }, 'p.yaml');

  it('accepts every field of the schema', () => {
    const { rules, issues } = parse({
      name: 'full',
      description: 'all fields',
      priority: -5,
      decision: 'DENY',
      reason: 'because',
      match: {
        actions: ['a', 'b-*'],
        targets: {
          environments: ['prod'],
          sensitivities: ['Critical'],
          types: ['t'],
          labels: { tier: 'backend', version: 2 },
        },
        callers: {
          agent_ids: ['x'],
          roles: ['r'],
          groups: ['g'],
          delegated_from: ['o'],
          max_delegation_depth: 2,
          require_delegation: true,
        },
        time_windows: [{ days: [0, 'sat', 'SUNDAY'], start_hour: 22, end_hour: 3 }],
        risk_classes: ['HIGH', 'critical'],
        require_ticket: true,
      },
    });
    expect(issues).toEqual([]);
    expect(rules[0]).toMatchObject({
      priority: -5,
      match: {
        actions: ['a', 'b-*'],
        targets: { sensitivities: ['critical'], labels: { tier: 'backend', version: '2' } },
        callers: { agentIds: ['x'], delegatedFrom: ['o'], maxDelegationDepth: 2, requireDelegation: true },
        timeWindows: [{ days: [0, 5, 6], startHour: 22, endHour: 3 }],
        riskClasses: ['high', 'critical'],
        requireTicket: true,
      },
    });
  });

  it.each([
    [
      { name: 'x', decision: 'allow', match: { actions: [] } },
      'rules[0].match.actions',
      'would match nothing',
    ],
    [
      { name: 'x', decision: 'allow', match: { callers: { roles: [] } } },
      'rules[0].match.callers.roles',
      'would match nothing',
    ],
    [
      { name: 'x', decision: 'allow', match: { targets: { labels: {} } } },
      'rules[0].match.targets.labels',
      'is empty',
    ],
    [{ name: 'x', decision: 'allow', match: { targets: null } }, 'rules[0].match.targets', 'is empty'],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [] } },
      'rules[0].match.time_windows',
      'would match nothing',
    ],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [{ days: [] }] } },
      'rules[0].match.time_windows[0].days',
      'no day',
    ],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [{ days: [7] }] } },
      'rules[0].match.time_windows[0].days[0]',
      '0–6',
    ],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [{ start_hour: 24 }] } },
      'rules[0].match.time_windows[0].start_hour',
      '0 to 23',
    ],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [{ end_hour: 1.5 }] } },
      'rules[0].match.time_windows[0].end_hour',
      '0 to 23',
    ],
    [
      { name: 'x', decision: 'allow', match: { time_windows: [{ from: 1 }] } },
      'rules[0].match.time_windows[0].from',
      'unknown field',
    ],
    [
      { name: 'x', decision: 'allow', match: { risk_classes: ['severe'] } },
      'rules[0].match.risk_classes[0]',
      'not a known risk class',
    ],
    [
      { name: 'x', decision: 'allow', match: { targets: { sensitivities: ['secret'] } } },
      'rules[0].match.targets.sensitivities[0]',
      'not a known sensitivity',
    ],
    [
      { name: 'x', decision: 'allow', match: { targets: { labels: { app: ['a'] } } } },
      'rules[0].match.targets.labels.app',
      'string value',
    ],
    [
      { name: 'x', decision: 'allow', match: { require_ticket: 'yes' } },
      'rules[0].match.require_ticket',
      'true, false or null',
    ],
    [
      { name: 'x', decision: 'allow', match: { callers: { max_delegation_depth: -1 } } },
      'rules[0].match.callers.max_delegation_depth',
      '≥ 0',
    ],
    [
      { name: 'x', decision: 'allow', match: { callers: { require_delegation: 1 } } },
      'rules[0].match.callers.require_delegation',
      'true, false',
    ],
    [
      { name: 'x', decision: 'allow', match: { callers: { role: ['a'] } } },
      'rules[0].match.callers.role',
      'did you mean "roles"',
    ],
    [
      { name: 'x', decision: 'allow', match: { actions: 'read-logs' } },
      'rules[0].match.actions',
      'list of strings',
    ],
    [
      { name: 'x', decision: 'allow', match: { actions: [''] } },
      'rules[0].match.actions[0]',
      'non-empty string',
    ],
    [{ name: 'x', decision: 'allow', match: [] }, 'rules[0].match', 'mapping'],
    [{ name: 'x', decision: 'allow', priority: Number.NaN }, 'rules[0].priority', 'integer'],
    [{ name: 'x', decision: 'allow', priority: true }, 'rules[0].priority', 'integer'],
    [{ name: 'x', decision: 'allow', reason: 5 }, 'rules[0].reason', 'string'],
    [{ decision: 'allow' }, 'rules[0].name', 'non-empty string'],
    [{ name: 'x' }, 'rules[0].decision', 'missing'],
    ['just a string', 'rules[0]', 'mapping'],
  ])('reports %j at its path', (rule, path, text) => {
    const { rules, issues } = parsePolicyDocument({ rules: [rule] }, 'p.yaml');
    expect(rules).toEqual([]);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'p.yaml', path, message: expect.stringContaining(text) }),
      ]),
    );
  });

  it('reports a __proto__ key as an unknown field instead of using it', () => {
    const raw = JSON.parse('{"rules": [{"name": "x", "decision": "allow", "__proto__": {"priority": 5}}]}');
    const { rules, issues } = parsePolicyDocument(raw, 'p.yaml');
    expect(rules).toEqual([]);
    expect(issues[0]).toMatchObject({
      path: 'rules[0].__proto__',
      message: expect.stringContaining('unknown field'),
    });
  });

  it('names the rule in each message', () => {
    const { issues } = parse({ name: 'named', decision: 'allow', match: { actoins: ['x'] } });
    expect(issues[0]?.message).toMatch(/^rule "named": unknown field "actoins" \(did you mean "actions"\?\)/);
  });

  it('stores label maps without a prototype, so __proto__ stays plain data', () => {
    const raw = {
      rules: [{ name: 'x', decision: 'allow', match: { targets: { labels: {} as Record<string, string> } } }],
    };
    Object.defineProperty(raw.rules[0]!.match.targets.labels, '__proto__', { value: 'x', enumerable: true });
    const { rules, issues } = parsePolicyDocument(raw, 'p.yaml');
    expect(issues).toEqual([]);
    const labels = rules[0]!.match.targets!.labels!;
    expect(Object.getPrototypeOf(labels)).toBeNull();
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('rejects documents without a rules list, and unknown top-level keys', () => {
    expect(parsePolicyDocument(null, 'p.yaml').issues[0]?.message).toContain('`rules:`');
    expect(parsePolicyDocument({}, 'p.yaml').issues[0]?.message).toContain('rules: []');
    expect(parsePolicyDocument({ rules: {} }, 'p.yaml').issues[0]?.path).toBe('rules');
    expect(parsePolicyDocument({ rules: [], rule: [] }, 'p.yaml').issues[0]).toMatchObject({ path: 'rule' });
    expect(parsePolicyDocument({ rules: [] }, 'p.yaml')).toEqual({ rules: [], issues: [] });
  });
});
