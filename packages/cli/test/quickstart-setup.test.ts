// Issue 8 item 18: the quickstart ("files only, no servers") must install nothing globally: no
// `npm i -g pnpm` (it replaced a user's pnpm and failed with EACCES for non-root users) and no apt-get
// of redis-server. It runs the real scripts/quickstart.sh against the built CLI, with npm, pnpm and
// apt-get replaced by stubs that record how they were called, and redis-server absent from PATH.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';

const REPO = join(import.meta.dirname, '..', '..', '..');
const HIDDEN = new Set(['pnpm', 'pnpx', 'npm', 'npx', 'corepack', 'apt-get', 'apt', 'redis-server', 'sudo']);

let sandbox: string;

/** A directory of links to every command on PATH except the ones the stubs stand in for. */
beforeAll(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'agent-safe-path-'));
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (!directory || !existsSync(directory)) continue;
    for (const name of readdirSync(directory)) {
      if (HIDDEN.has(name) || existsSync(join(sandbox, name))) continue;
      try {
        symlinkSync(join(directory, name), join(sandbox, name));
      } catch {
        // a name that cannot be linked is not needed by the scripts
      }
    }
  }
});

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A pnpm that reports `version`, records its arguments and does nothing (the workspace is built). */
function pnpmStub(path: string, version: string, log: string): void {
  script(
    path,
    `echo "pnpm $*" >> ${JSON.stringify(log)}\nif [ "$1" = --version ]; then echo ${version}; fi\nexit 0`,
  );
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly calls: string[];
  readonly root: string;
}

function quickstart(setup: (stubs: string, log: string) => void): Run {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-quickstart-'));
  const stubs = join(root, 'stubs');
  const log = join(root, 'calls.log');
  mkdirSync(stubs);
  writeFileSync(log, '');
  // npm: records its arguments; `install --prefix DIR pnpm@V` puts a pnpm V stub into DIR.
  script(
    join(stubs, 'npm'),
    [
      `echo "npm $*" >> ${JSON.stringify(log)}`,
      'prefix=""; package=""',
      'while [ $# -gt 0 ]; do case "$1" in --prefix) prefix=$2; shift;; pnpm@*) package=$1;; esac; shift; done',
      'if [ -n "$prefix" ] && [ -n "$package" ]; then',
      '  mkdir -p "$prefix/node_modules/.bin"',
      `  printf '#!/bin/bash\\necho "pnpm $*" >> %s\\nif [ "$1" = --version ]; then echo %s; fi\\n' ${JSON.stringify(log)} "\${package#pnpm@}" > "$prefix/node_modules/.bin/pnpm"`,
      '  chmod +x "$prefix/node_modules/.bin/pnpm"',
      'fi',
    ].join('\n'),
  );
  script(join(stubs, 'apt-get'), `echo "apt-get $*" >> ${JSON.stringify(log)}\nexit 1`);
  setup(stubs, log);
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  delete env.AGENT_SAFE_SIGNING_KEY;
  delete env.AGENT_SAFE_TOOLS_DIR;
  const result = spawnSync('bash', [join(REPO, 'scripts', 'quickstart.sh'), join(root, 'myproject')], {
    encoding: 'utf8',
    env: {
      ...env,
      PATH: `${stubs}${delimiter}${sandbox}`,
      HOME: join(root, 'home'),
      XDG_CACHE_HOME: join(root, 'cache'),
      AGENT_SAFE_CACHE_DIR: join(root, 'parse-cache'),
    },
  });
  const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { code: result.status, stdout: result.stdout + result.stderr, calls, root };
}

function expectQuickstartRan(run: Run): void {
  expect(run.stdout).toMatch(/\$ agent-safe init/);
  expect(run.stdout).toMatch(/Valid/);
  // As README.md says: an ALLOW in dev, a REQUIRE_APPROVAL in prod, a DENY for an out-of-range param.
  const checks = [...run.stdout.matchAll(/^\$ agent-safe check [^\n]*\n[\s\S]*?^\(exit (\d+)\)$/gm)];
  expect(checks.map((match) => Number(match[1]))).toEqual([0, 3, 2]);
  expect(run.stdout).toMatch(/\$ agent-safe audit verify[\s\S]*?\(exit 0\)/);
  expect(run.code).toBe(0);
  // Never a global install, never a system package, never a server.
  expect(run.calls.filter((call) => /(^|\s)(-g|--global)(\s|$)/.test(call))).toEqual([]);
  expect(run.calls.filter((call) => call.startsWith('apt-get'))).toEqual([]);
  // Dependencies are installed inside the clone, from the lockfile, then built.
  expect(run.calls).toContain('pnpm install --frozen-lockfile');
  expect(run.calls).toContain('pnpm turbo run build --output-logs=errors-only');
}

describe('scripts/quickstart.sh', () => {
  it('without pnpm, installs pnpm 10.34.8 into the user cache, not globally, and no redis-server', () => {
    const run = quickstart(() => undefined);
    expectQuickstartRan(run);
    const installs = run.calls.filter((call) => call.startsWith('npm'));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toContain(`--prefix ${join(run.root, 'cache', 'agent-safe', 'pnpm-10.34.8')} `);
    expect(installs[0]).toMatch(/pnpm@10\.34\.8$/);
  });

  it('uses a pnpm 10.34.8 already on PATH and installs nothing', () => {
    const run = quickstart((stubs, log) => pnpmStub(join(stubs, 'pnpm'), '10.34.8', log));
    expectQuickstartRan(run);
    expect(run.calls.filter((call) => call.startsWith('npm'))).toEqual([]);
  });

  it("leaves a user's other pnpm version in place (the cached 10.34.8 goes first on PATH)", () => {
    const run = quickstart((stubs, log) => pnpmStub(join(stubs, 'pnpm'), '9.15.0', log));
    expectQuickstartRan(run);
    expect(readFileSync(join(run.root, 'stubs', 'pnpm'), 'utf8')).toContain('echo 9.15.0');
    expect(run.calls.filter((call) => call.startsWith('npm'))).toHaveLength(1);
  });
});

describe('scripts/test-all.sh', () => {
  it('provides pnpm to everything it runs and keeps redis-server to the test path', () => {
    const testAll = readFileSync(join(REPO, 'scripts', 'test-all.sh'), 'utf8');
    expect(testAll).toMatch(/^\. scripts\/ensure-pnpm\.sh/m);
    expect(testAll).toMatch(/^bash scripts\/ensure-redis\.sh/m);
    expect(testAll).not.toMatch(/^pnpm /m);
    for (const file of ['setup.sh', 'quickstart.sh', 'ensure-pnpm.sh']) {
      const text = readFileSync(join(REPO, 'scripts', file), 'utf8');
      expect(text).not.toMatch(/apt-get install|ensure-redis|npm (i|install) (-g|--global)/);
    }
  });
});
