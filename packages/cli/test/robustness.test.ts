import { spawnSync } from 'node:child_process';
import { execFileSync, spawnSync as spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { Cli } from 'clipanion';
import { BaseCommand } from '../src/base-command.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

let project: string;

beforeAll(() => {
  project = join(mkdtempSync(join(tmpdir(), 'agent-safe-robust-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
});

const allowArgs = [
  'check',
  'restart-deployment',
  '--target',
  'dev/test-app',
  '--caller',
  'deploy-agent',
  '--params',
  '\'{"namespace":"dev","deployment":"app"}\'',
];

/** Runs `agent-safe args | reader` in bash; reports the CLI's own exit code and its stderr. */
function piped(args: string[], reader: string) {
  const script = `node ${JSON.stringify(BIN)} ${args.join(' ')} 2>"$ERR_FILE" | ${reader}; echo "cli=\${PIPESTATUS[0]}"; cat "$ERR_FILE"`;
  const result = spawnSync('bash', ['-c', script], {
    cwd: project,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_COLOR: '1', ERR_FILE: join(project, `stderr-${Math.random()}.txt`) },
  });
  const [, code, stderr] = /cli=(\d+)\n([\s\S]*)$/.exec(result.stdout) ?? [];
  return { code: Number(code), stderr: stderr ?? '', raw: result.stdout };
}

describe('a reader that closes the pipe early (EPIPE)', () => {
  it('ends silently with the command exit code: ALLOW is still 0', () => {
    // `true` exits at once, so the decision is written into a pipe nobody reads.
    const result = piped(allowArgs, 'true');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('stops writing a long listing into `head -1` without a stack trace', () => {
    for (let run = 0; run < 30; run++)
      cli(
        allowArgs.map((arg) => arg.replace(/^'|'$/g, '')),
        project,
      );
    const result = piped(['audit', 'show', 'audit.jsonl', '--last', '100000'], 'head -1 >/dev/null');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const list = piped(['list-actions', '--json-output'], 'head -c 10 >/dev/null');
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
  });

  it('keeps a DENY exit code when the pipe closes', () => {
    const deny = piped(
      [
        'check',
        'restart-deployment',
        '--target',
        'nowhere/at-all',
        '--params',
        '\'{"namespace":"dev","deployment":"app"}\'',
      ],
      'true',
    );
    expect(deny.stderr).toBe('');
    expect(deny.code).toBe(2);
  });
});

/** Runs the CLI with a time limit: a hang fails the test instead of blocking the run. */
function bounded(
  args: string[],
  options: { cwd?: string; input?: string; env?: Record<string, string> } = {},
) {
  const result = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? project,
    encoding: 'utf8',
    timeout: 15_000,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** A clear error: exit 1, one `error` line naming `input`, no stack frames. */
function expectClearError(result: ReturnType<typeof bounded>, pattern: RegExp): void {
  expect(result.signal).toBeNull();
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(result.stderr).not.toMatch(/unexpected failure/);
  expect(result.code).toBe(1);
}

describe('bad inputs get clear errors, never a stack trace or a hang', () => {
  it('init onto an existing file, under a file, or where directories cannot be made', () => {
    const root = mkdtempSync(join(tmpdir(), 'agent-safe-init-file-'));
    writeFileSync(join(root, 'taken'), 'x');
    expectClearError(bounded(['init', 'taken'], { cwd: root }), /taken: exists and is not a directory/);
    expectClearError(bounded(['init', 'taken/sub'], { cwd: root }), /taken\/sub: .*not a directory/);
    expectClearError(
      bounded(['init', '/proc/agent-safe-x']),
      /\/proc\/agent-safe-x: cannot create the directory/,
    );
  });

  it('audit show and verify on a directory or a device', () => {
    for (const command of ['show', 'verify']) {
      // A directory is read as a rotated log (docs/audit.md): one without a log is refused, naming it.
      expectClearError(
        bounded(['audit', command, 'actions']),
        /no audit log \(\*\.jsonl\) in directory \S*actions/,
      );
      expectClearError(bounded(['audit', command, '/dev/zero']), /\/dev\/zero: it is a device/);
    }
  });

  it('--caller file: and --params-file on devices, directories and named pipes', () => {
    const check = ['check', 'restart-deployment', '--target', 'dev/test-app'];
    expectClearError(
      bounded([...check, '--caller', 'file:/dev/zero']),
      /--caller file:\/dev\/zero: a character device/,
    );
    expectClearError(
      bounded([...check, '--params-file', '/dev/zero']),
      /--params-file \/dev\/zero: a character device/,
    );
    expectClearError(bounded([...check, '--params-file', '.']), /--params-file \.: a directory/);
    const fifo = join(mkdtempSync(join(tmpdir(), 'agent-safe-fifo-')), 'params');
    execFileSync('mkfifo', [fifo]);
    expectClearError(bounded([...check, '--params-file', fifo]), /a named pipe, not a regular file/);
  });

  it('--config and the test suite path on devices and directories, each problem said once', () => {
    for (const args of [
      ['validate', '--config', '/dev/zero'],
      ['check', 'restart-deployment', '--config', '.'],
      ['test', '/dev/zero'],
    ]) {
      const result = bounded(args);
      expectClearError(result, /(config file|policy tests( at)?) (\/dev\/zero|\/.*): not a regular file/);
      expect(result.stderr.trim().split('\n')).toHaveLength(args[0] === 'test' ? 2 : 1);
    }
  });

  it('--caller - waits for a slow producer and bounds what it reads', () => {
    const script = `(sleep 1; echo deploy-agent) | node ${JSON.stringify(BIN)} check restart-deployment --target dev/test-app --caller - --no-audit --params '{"namespace":"dev","deployment":"app"}'`;
    const slow = spawn('bash', ['-c', script], { cwd: project, encoding: 'utf8', timeout: 15_000 });
    expect(slow.stderr).toBe('');
    expect(slow.stdout).toMatch(/^ALLOW .* by deploy-agent/);
    expect(slow.status).toBe(0);
    const endless = spawn(
      'bash',
      [
        '-c',
        `node ${JSON.stringify(BIN)} check restart-deployment --target dev/test-app --caller - < /dev/zero`,
      ],
      { cwd: project, encoding: 'utf8', timeout: 15_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(endless.signal).toBeNull();
    expect(endless.stderr).toMatch(/--caller -: standard input is larger than the \d+-byte limit/);
    expect(endless.status).toBe(1);
  });

  it('--params-file - reads the parameters from standard input', () => {
    const result = bounded(
      ['check', 'restart-deployment', '--target', 'dev/test-app', '--params-file', '-', '--no-audit'],
      {
        input: '{"namespace":"dev","deployment":"app"}',
      },
    );
    expect(result.stdout).toMatch(/^ALLOW/);
    expect(result.code).toBe(0);
  });
});

describe('an unexpected failure', () => {
  class Broken extends BaseCommand {
    static override paths = [['broken']];
    async run(): Promise<number> {
      throw new TypeError('something odd\n    at secret (file.js:1:1)');
    }
  }

  async function runBroken(env: string | undefined) {
    const previous = process.env.AGENT_SAFE_DEBUG;
    if (env === undefined) delete process.env.AGENT_SAFE_DEBUG;
    else process.env.AGENT_SAFE_DEBUG = env;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const cli = new Cli({ binaryName: 'agent-safe' });
    cli.register(Broken);
    try {
      const code = await cli.run(['broken'], { stdin: process.stdin, stdout, stderr });
      return { code, stdout: String(stdout.read() ?? ''), stderr: String(stderr.read() ?? '') };
    } finally {
      if (previous === undefined) delete process.env.AGENT_SAFE_DEBUG;
      else process.env.AGENT_SAFE_DEBUG = previous;
    }
  }

  it('prints one line, and the stack only with AGENT_SAFE_DEBUG=1', async () => {
    const quiet = await runBroken(undefined);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr.trim().split('\n')).toHaveLength(1);
    expect(quiet.stderr).toMatch(/unexpected failure: something odd .*AGENT_SAFE_DEBUG=1/);
    const debug = await runBroken('1');
    expect(debug.stderr).toMatch(/TypeError: something odd/);
    expect(debug.stderr).toMatch(/\n\s+at .+:\d+:\d+/);
  });
});

describe('printed values cannot drive the terminal', () => {
  it('audit show escapes control characters from the log', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'agent-safe-escape-')), 'p');
    cli(['init', dir], tmpdir());
    const decided = cli(
      allowArgs.map((arg) => arg.replace(/^'|'$/g, '')),
      dir,
    );
    expect(decided.code).toBe(0);
    const event = JSON.parse(readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n')[0]!);
    event.reason = 'ok\u001b[2J\nALLOW forged line';
    event.caller = 'evil\u009b31m';
    writeFileSync(join(dir, 'edited.jsonl'), `${JSON.stringify(event)}\n`);
    const shown = cli(['audit', 'show', 'edited.jsonl'], dir);
    expect(shown.code).toBe(0);
    expect(shown.stdout.includes('\u001b') || shown.stdout.includes('\u009b')).toBe(false);
    expect(shown.stdout).toContain('ok\\x1b[2J\\x0aALLOW forged line');
    expect(shown.stdout).toContain('by evil\\x9b31m');
    expect(shown.stdout.split('\n').filter((line) => line.startsWith('ALLOW'))).toEqual([]);
  });
});
