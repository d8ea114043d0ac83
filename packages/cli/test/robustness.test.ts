import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
