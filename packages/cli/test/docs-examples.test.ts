// Issue 8 item 22: every example in the docs runs as written against a project `agent-safe init`
// scaffolds, and gets the outcome the docs state.
//
// Collected from README.md, docs/*.md, catalog/README.md, packages/*/README.md and examples/README.md:
//  - shell blocks (bash, sh, shell, console) with an `agent-safe …` command run with bash in a fresh copy
//    of the project, `agent-safe` being the built CLI; each agent-safe call must exit 0 unless an
//    `<!-- exits: 0 3 2 -->` comment before the block lists the exit code of each call in order
//    (check: 0 ALLOW, 2 DENY, 3 REQUIRE_APPROVAL);
//  - TypeScript and JavaScript blocks run as ES modules in the project (with every @agent-safe package
//    resolvable and AGENT_SAFE_SIGNING_KEY set); a line `expression; // 'value'` (a string, number,
//    boolean or null literal, or a list of strings, without "…") asserts that the expression equals that value;
//  - the examples of `agent-safe check --help` must be requests the policy decides (exit 0 or 3), not
//    refusals of bad input;
//  - every examples/*.mjs runs against the project and exits 0 (each checks its own outcomes).
// A block that cannot run as written (a synopsis with placeholders, a server it needs) is marked with
// `<!-- not-run: why -->` right before it; every other block runs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { transformSync } from 'esbuild';
import { BIN, cli } from './run-cli.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const SIGNING_KEY = randomBytes(32).toString('base64url');

interface Example {
  readonly file: string;
  readonly line: number;
  readonly language: string;
  readonly code: string;
  readonly directives: readonly string[];
}

function markdownFiles(): string[] {
  const files = ['README.md', 'catalog/README.md', 'examples/README.md'];
  for (const name of readdirSync(join(REPO, 'docs'))) if (name.endsWith('.md')) files.push(`docs/${name}`);
  for (const name of readdirSync(join(REPO, 'packages'))) files.push(`packages/${name}/README.md`);
  return files.filter((file) => existsSync(join(REPO, file))).sort();
}

/** Fenced code blocks with the HTML comments just before them. */
function codeBlocks(file: string): Example[] {
  const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
  const blocks: Example[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const open = /^```(\w*)/.exec(lines[index] ?? '');
    if (!open) continue;
    const start = index;
    const body: string[] = [];
    for (index += 1; index < lines.length && !/^```\s*$/.test(lines[index] ?? ''); index += 1) {
      body.push(lines[index] ?? '');
    }
    const directives: string[] = [];
    for (let back = start - 1; back >= 0; back -= 1) {
      const text = (lines[back] ?? '').trim();
      if (text === '' && directives.length === 0 && back === start - 1) continue;
      const comment = /^<!--\s*(.*?)\s*-->$/.exec(text);
      if (!comment?.[1]) break;
      directives.push(comment[1]);
    }
    blocks.push({ file, line: start + 1, language: open[1] ?? '', code: body.join('\n'), directives });
  }
  return blocks;
}

const SHELL = new Set(['bash', 'sh', 'shell', 'console']);
const SCRIPT = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
const all = markdownFiles().flatMap(codeBlocks);
const notRun = (example: Example) => example.directives.some((directive) => directive.startsWith('not-run:'));
const shellExamples = all.filter(
  (example) => SHELL.has(example.language) && /^(\$ )?agent-safe /m.test(example.code) && !notRun(example),
);
const scriptExamples = all.filter((example) => SCRIPT.has(example.language) && !notRun(example));
const label = (example: Example) => `${example.file}:${example.line}`;

let project: string;
let tools: string;

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-docs-'));
  project = join(root, 'project');
  const init = cli(['init', project], root);
  expect(init.code).toBe(0);
  // Every package resolvable from the project, as after `npm install @agent-safe/sdk …`.
  const scope = join(project, 'node_modules', '@agent-safe');
  mkdirSync(scope, { recursive: true });
  for (const name of readdirSync(join(REPO, 'packages'))) {
    symlinkSync(join(REPO, 'packages', name), join(scope, name));
  }
  // Public keys for the snippets that read them, as `identity keygen` writes them.
  expect(cli(['identity', 'keygen', '--algorithm', 'EdDSA', '--out', 'keys'], project).code).toBe(0);
  // As in a clone: the curated catalogue next to the project (catalog/README.md's commands use it).
  symlinkSync(join(REPO, 'catalog'), join(project, 'catalog'));
  tools = join(root, 'bin');
  mkdirSync(tools);
  writeFileSync(
    join(tools, 'agent-safe'),
    `#!/bin/bash\n${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\ncode=$?\necho $code >> "$AGENT_SAFE_DOCS_EXITS"\nexit $code\n`,
  );
  chmodSync(join(tools, 'agent-safe'), 0o755);
});

/** A fresh copy of the scaffolded project, so examples do not see each other's audit logs. */
function freshProject(): string {
  const copy = join(mkdtempSync(join(tmpdir(), 'agent-safe-docs-run-')), 'project');
  cpSync(project, copy, { recursive: true, verbatimSymlinks: true });
  return copy;
}

function environment(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(NO_COLOR|FORCE_COLOR|AGENT_SAFE_SIGNING_KEY)$/.test(key)) env[key] = value;
  }
  return {
    ...env,
    PATH: `${tools}:${env.PATH ?? ''}`,
    AGENT_SAFE_CACHE_DIR: join(tmpdir(), 'agent-safe-docs-cache'),
    ...extra,
  };
}

function runShell(code: string, cwd: string) {
  const exitsFile = join(cwd, '..', 'exits.log');
  writeFileSync(exitsFile, '');
  const script = code
    .split('\n')
    .filter((line, _, lines) => !lines.some((l) => l.startsWith('$ ')) || line.startsWith('$ '))
    .map((line) => line.replace(/^\$ /, ''))
    .join('\n');
  const result = spawnSync('bash', ['-c', script], {
    cwd,
    encoding: 'utf8',
    env: environment({ AGENT_SAFE_DOCS_EXITS: exitsFile }),
    timeout: 60_000,
  });
  const exits = readFileSync(exitsFile, 'utf8').split('\n').filter(Boolean).map(Number);
  return { exits, output: `${result.stdout}\n${result.stderr}` };
}

describe.each(shellExamples.map((example) => [label(example), example] as const))('%s', (_, example) => {
  it('runs with the documented exit codes', () => {
    const { exits, output } = runShell(example.code, freshProject());
    const declared = example.directives.find((directive) => directive.startsWith('exits:'));
    const expected = declared
      ? declared.slice('exits:'.length).trim().split(/\s+/).map(Number)
      : exits.map(() => 0);
    expect(exits.length).toBeGreaterThan(0);
    expect({ exits, output: exits.join() === expected.join() ? '' : output }).toEqual({
      exits: expected,
      output: '',
    });
  });
});

const STRING = "'(?:[^'\\\\…]|\\\\.)*'";
const LITERAL = new RegExp(
  `^(\\s*)(?!const |let |var |return |import |export |await \\w+\\.apply)(.+?);\\s*//\\s*(${STRING}|\\[(?:${STRING}(?:,\\s*)?)*\\]|-?\\d+(?:\\.\\d+)?|true|false|null)(?=$|[\\s:(])`,
);

/** The snippet as a module: `expression; // literal` lines become assertions. */
function asModule(code: string): string {
  const lines = code.split('\n').map((line, index) => {
    const match = LITERAL.exec(line);
    if (!match) return line;
    const [, indent, expression, literal] = match;
    return `${indent}__expectEqual(${expression}, ${literal}, ${index + 1});`;
  });
  const { code: javascript } = transformSync(lines.join('\n'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
  });
  return `import { deepStrictEqual as __deepStrictEqual } from 'node:assert';
function __expectEqual(actual, expected, line) {
  __deepStrictEqual(actual, expected, \`snippet line \${line}: expected \${JSON.stringify(expected)}, got \${JSON.stringify(actual)}\`);
}
${javascript}`;
}

function runModule(file: string, cwd: string, args: string[] = []) {
  const result = spawnSync(process.execPath, [file, ...args], {
    cwd,
    encoding: 'utf8',
    env: environment({ AGENT_SAFE_SIGNING_KEY: SIGNING_KEY, AGENT_SAFE_IDENTITY_KEY: SIGNING_KEY }),
    timeout: 60_000,
  });
  return { code: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe.each(scriptExamples.map((example) => [label(example), example] as const))('%s', (_, example) => {
  it('runs as an ES module and its stated values hold', () => {
    const cwd = freshProject();
    const file = join(cwd, 'snippet.mjs');
    writeFileSync(file, asModule(example.code));
    const result = runModule(file, cwd);
    expect({ code: result.code, output: result.code === 0 ? '' : result.output }).toEqual({
      code: 0,
      output: '',
    });
  });
});

describe('agent-safe check --help', () => {
  it('gives examples the policy decides on the scaffolded project (ALLOW or REQUIRE_APPROVAL)', () => {
    const help = cli(['check', '--help'], project);
    const section = help.stdout.slice(help.stdout.indexOf('\nExamples\n'));
    const examples = [...section.matchAll(/^\s*\$ (agent-safe .*)$/gm)].map((match) => match[1] ?? '');
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const { exits, output } = runShell(example, freshProject());
      expect({ example, ok: exits.length === 1 && [0, 3].includes(exits[0] ?? -1), output }).toMatchObject({
        example,
        ok: true,
      });
    }
  });
});

describe('examples/', () => {
  const scripts = readdirSync(join(REPO, 'examples')).filter((name) => name.endsWith('.mjs'));

  it('has runnable examples', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(3);
  });

  it.each(scripts)('examples/%s runs against a scaffolded project', (name) => {
    // Copied into the project, whose node_modules resolves the packages as an installed app's would.
    const cwd = freshProject();
    cpSync(join(REPO, 'examples', name), join(cwd, name));
    const result = runModule(join(cwd, name), cwd, [cwd]);
    expect({ code: result.code, output: result.code === 0 ? '' : result.output }).toEqual({
      code: 0,
      output: '',
    });
  });
});

it('finds the examples it is meant to run', () => {
  const files = new Set([...shellExamples, ...scriptExamples].map((example) => relative('.', example.file)));
  expect(files).toContain('README.md');
  expect(files).toContain('packages/sdk/README.md');
  expect(shellExamples.length + scriptExamples.length).toBeGreaterThan(20);
});
