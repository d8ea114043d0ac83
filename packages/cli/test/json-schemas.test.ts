// Issue 8 item 21: JSON Schemas for editors (schemas/*.schema.json, shipped in this package) and the
// yaml-language-server modeline `init` writes. The loaders are hand-written readers, not generated from
// the schemas, so this keeps the two honest: every field a loader accepts is in its schema and every
// schema field is accepted by the loader (read from the loaders' own "unknown field" messages, so a
// field added to a loader fails here until the schema has it), and the shipped templates, the
// catalogue, the SDK's fixture project and the README's examples validate against the schemas.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parsePolicyDocument } from '@agent-safe/pdp';
import { Inventory, parseActionDefinition } from '@agent-safe/registry';
import { loadPolicyTests, loadProjectConfig } from '@agent-safe/sdk';
import { describe, expect, it } from '@jest/globals';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { cli } from './run-cli.js';

const PACKAGE = join(import.meta.dirname, '..');
const REPO = join(PACKAGE, '..', '..');
const SCHEMAS = join(PACKAGE, 'schemas');
const KINDS = ['action', 'policy', 'inventory', 'policy-tests', 'agent-safe'] as const;
type Kind = (typeof KINDS)[number];
const { version } = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string };

type JsonSchema = {
  properties?: Record<string, unknown>;
  $defs?: Record<string, JsonSchema>;
  [key: string]: unknown;
};

function schema(kind: Kind): JsonSchema {
  return JSON.parse(readFileSync(join(SCHEMAS, `${kind}.schema.json`), 'utf8')) as JsonSchema;
}

const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
const validators = Object.fromEntries(KINDS.map((kind) => [kind, ajv.compile(schema(kind))])) as Record<
  Kind,
  ValidateFunction
>;

/** The property names of the object schema at `$defs/<name>` (or the root). */
function schemaFields(kind: Kind, definition?: string): string[] {
  const root = schema(kind);
  const node = definition === undefined ? root : root.$defs?.[definition];
  return Object.keys(node?.properties ?? {}).sort();
}

/** The field list a loader printed for an unknown field, by the issue's path without the unknown key. */
function knownFields(issues: readonly { path?: string; message: string }[]): Map<string, string[]> {
  const lists = new Map<string, string[]>();
  for (const issue of issues) {
    const found = /(?:known fields: |expected one of )([A-Za-z0-9_, -]+?)(?:;|\)|$)/.exec(issue.message);
    if (!found?.[1] || !issue.path?.endsWith('zz_unknown')) continue;
    const at = issue.path.slice(0, -'zz_unknown'.length).replace(/\.$/, '');
    lists.set(at, found[1].split(', ').sort());
  }
  return lists;
}

function errorIssues(run: () => unknown): { path?: string; message: string }[] {
  try {
    run();
  } catch (error) {
    return (error as { issues: { path?: string; message: string }[] }).issues;
  }
  throw new Error('the loader accepted an unknown field');
}

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'agent-safe-schema-')), name);
  writeFileSync(file, text);
  return file;
}

describe('the schemas list exactly the fields the loaders accept', () => {
  it('action definitions, at every level', () => {
    const { issues } = parseActionDefinition({
      name: 'a',
      version: '1.0.0',
      description: 'd',
      risk_class: 'low',
      target_types: ['t'],
      zz_unknown: 1,
      parameters: [{ name: 'p', type: 'string', zz_unknown: 1, constraints: { zz_unknown: 1 } }],
      prechecks: [{ name: 'c', zz_unknown: 1 }],
      credentials: { type: 'kubernetes', zz_unknown: 1 },
      state_fields: [{ name: 's', type: 'string', zz_unknown: 1 }],
      rollback_params: { p: { source: 'params.p', zz_unknown: 1 } },
    });
    const lists = knownFields(issues);
    expect(lists.get('')).toEqual(schemaFields('action'));
    expect(lists.get('parameters[0]')).toEqual(schemaFields('action', 'parameter'));
    expect(lists.get('parameters[0].constraints')).toEqual(schemaFields('action', 'constraints'));
    expect(lists.get('prechecks[0]')).toEqual(schemaFields('action', 'precheck'));
    expect(lists.get('credentials')).toEqual(schemaFields('action', 'credentials'));
    expect(lists.get('state_fields[0]')).toEqual(schemaFields('action', 'stateField'));
    expect(lists.get('rollback_params.p')).toEqual(schemaFields('action', 'rollbackParam'));
  });

  it('the inventory and its targets', () => {
    const top = knownFields(
      errorIssues(() => Inventory.loadSync(tempFile('i.yaml', 'targets: []\nzz_unknown: 1\n'))),
    );
    expect(top.get('')).toEqual(schemaFields('inventory'));
    const target = knownFields(
      errorIssues(() =>
        Inventory.loadSync(
          tempFile(
            'i.yaml',
            'targets:\n  - { id: a, type: t, environment: dev, sensitivity: public, zz_unknown: 1 }\n',
          ),
        ),
      ),
    );
    expect(target.get('targets[0]')).toEqual(schemaFields('inventory', 'target'));
  });

  it('policy files, rules, match, target and caller selectors and time windows', () => {
    const { issues } = parsePolicyDocument(
      {
        zz_unknown: 1,
        rules: [
          {
            name: 'r',
            decision: 'allow',
            zz_unknown: 1,
            match: {
              zz_unknown: 1,
              targets: { zz_unknown: 1 },
              callers: { zz_unknown: 1 },
              time_windows: [{ zz_unknown: 1 }],
            },
          },
        ],
      },
      'p.yaml',
    );
    const lists = knownFields(issues);
    expect(lists.get('')).toEqual(schemaFields('policy'));
    expect(lists.get('rules[0]')).toEqual(schemaFields('policy', 'rule'));
    expect(lists.get('rules[0].match')).toEqual(schemaFields('policy', 'match'));
    expect(lists.get('rules[0].match.targets')).toEqual(schemaFields('policy', 'targetSelector'));
    expect(lists.get('rules[0].match.callers')).toEqual(schemaFields('policy', 'callerSelector'));
    expect(lists.get('rules[0].match.time_windows[0]')).toEqual(schemaFields('policy', 'timeWindow'));
  });

  it('agent-safe.yaml', () => {
    const file = tempFile('agent-safe.yaml', 'zz_unknown: 1\n');
    const lists = knownFields(errorIssues(() => loadProjectConfig({ file })));
    expect(lists.get('')).toEqual(schemaFields('agent-safe'));
  });

  it('policy test cases', () => {
    const file = tempFile('suite.yaml', 'tests:\n  - { name: n, action: a, expect: allow, zz_unknown: 1 }\n');
    const lists = knownFields(errorIssues(() => loadPolicyTests(file)));
    expect(lists.get('tests[0]')).toEqual(schemaFields('policy-tests', 'case'));
  });
});

function expectValid(kind: Kind, file: string, value: unknown): void {
  const validate = validators[kind];
  const ok = validate(value);
  expect({ file, errors: ok ? [] : ajv.errorsText(validate.errors) }).toEqual({ file, errors: [] });
}

function yamlFiles(directory: string): string[] {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(directory, name));
}

/** The schema of a file in a project laid out as `init` scaffolds it. */
function kindOf(path: string): Kind {
  // init's templates keep the AWS catalogue's files under aws/ (init --catalog aws).
  if (path.startsWith('aws/')) return kindOf(path.slice('aws/'.length));
  if (path === 'agent-safe.yaml') return 'agent-safe';
  if (path === 'inventory.yaml') return 'inventory';
  if (path.startsWith('actions/')) return 'action';
  if (path.startsWith('policies/')) return 'policy';
  if (path.startsWith('tests/')) return 'policy-tests';
  throw new Error(`no schema for ${path}`);
}

describe('shipped and documented files validate against the schemas', () => {
  it('the curated catalogue', () => {
    const files = ['kubernetes', 'aws'].flatMap((name) => yamlFiles(join(REPO, 'catalog', name)));
    expect(files.length).toBeGreaterThan(30);
    for (const file of files) expectValid('action', file, parse(readFileSync(file, 'utf8')));
  });

  it("init's templates and the SDK's fixture project", () => {
    for (const directory of [
      join(PACKAGE, 'templates'),
      join(REPO, 'packages', 'sdk', 'test', 'fixtures', 'project'),
    ]) {
      for (const file of yamlFiles(directory)) {
        expectValid(kindOf(relative(directory, file)), file, parse(readFileSync(file, 'utf8')));
      }
    }
  });

  it("the README's agent-safe.yaml and policy test examples", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => parse(match[1] ?? ''));
    const config = blocks.find((block) => block && 'audit_log' in block);
    const suite = blocks.find((block) => block && 'tests' in block);
    expectValid('agent-safe', 'README.md agent-safe.yaml', config);
    expectValid('policy-tests', 'README.md policy tests', suite);
  });

  it('every whole file shown in the docs (YAML blocks with a policy, inventory, suite, action or settings)', () => {
    const documents = ['README.md', 'catalog/README.md'];
    for (const name of readdirSync(join(REPO, 'docs')))
      if (name.endsWith('.md')) documents.push(`docs/${name}`);
    for (const name of readdirSync(join(REPO, 'packages'))) documents.push(`packages/${name}/README.md`);
    const settings = new Set(Object.keys(schema('agent-safe').properties ?? {}));
    let checked = 0;
    for (const document of documents) {
      let text: string;
      try {
        text = readFileSync(join(REPO, document), 'utf8');
      } catch {
        continue;
      }
      for (const match of text.matchAll(/(<!--[^\n]*-->\n)?```ya?ml\n([\s\S]*?)```/g)) {
        if (match[1]?.includes('not-run:')) continue;
        let value: unknown;
        try {
          value = parse(match[2] ?? '');
        } catch {
          continue; // an excerpt with "…" is not a file
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
        const keys = Object.keys(value);
        const list = (key: string) => Array.isArray((value as Record<string, unknown>)[key]);
        const kind: Kind | undefined = list('rules')
          ? 'policy'
          : list('targets')
            ? 'inventory'
            : list('tests')
              ? 'policy-tests'
              : keys.includes('risk_class') && keys.includes('name')
                ? 'action'
                : keys.length > 1 && keys.every((key) => settings.has(key))
                  ? 'agent-safe'
                  : undefined;
        if (kind === undefined) continue;
        const line = text.slice(0, match.index).split('\n').length;
        expectValid(kind, `${document}:${line}`, value);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(3);
  });

  it('refuses what the loaders refuse', () => {
    expect(validators.action({ name: 'Bad Name', version: '1', description: 'd', risk_class: 'x' })).toBe(
      false,
    );
    expect(validators.inventory({ targets: [{ id: 'a', type: 't', environment: 'dev' }] })).toBe(false);
    expect(validators.policy({ rules: [{ name: 'r', decision: 'maybe' }] })).toBe(false);
    expect(validators['agent-safe']({ signing_key: 'hunter2hunter2' })).toBe(false);
    expect(validators['policy-tests']({ tests: [{ name: 'n', action: 'a', expect: 'perhaps' }] })).toBe(
      false,
    );
  });
});

describe('agent-safe init', () => {
  it.each([[[]], [['--approvals']]])(
    '%j writes the yaml-language-server modeline naming the shipped schema at the top of each file',
    (flags: string[]) => {
      const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-modeline-')), 'project');
      expect(cli(['init', project, ...flags], tmpdir()).code).toBe(0);
      const files = yamlFiles(project);
      expect(files.length).toBeGreaterThan(20);
      for (const file of files) {
        const path = relative(project, file);
        const kind = kindOf(path);
        const [first] = readFileSync(file, 'utf8').split('\n');
        expect([path, first]).toEqual([
          path,
          `# yaml-language-server: $schema=https://unpkg.com/@agent-safe/cli@${version}/schemas/${kind}.schema.json`,
        ]);
        expectValid(kind, path, parse(readFileSync(file, 'utf8')));
      }
    },
  );

  it('ships the schemas in the package', () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('schemas');
    for (const kind of KINDS) {
      expect(schema(kind).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema(kind).$id).toBe(`https://unpkg.com/@agent-safe/cli/schemas/${kind}.schema.json`);
    }
  });
});
