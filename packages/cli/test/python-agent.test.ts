// Issue 13: the Python agent example (examples/python-agent/) against a real `agent-safe serve` on a
// project `agent-safe init --approvals` scaffolded (a signing key, so an ALLOW carries a ticket).
// python3 is on every machine, CI included: this test never skips.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'python-agent');

let server: ChildProcessWithoutNullStreams;
let url: string;
let serverOutput = '';

/** Starts `agent-safe serve --port 0` in `project`; resolves with the URL it prints. */
function serve(project: string): Promise<string> {
  server = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    cwd: project,
    env: { ...process.env, AGENT_SAFE_CACHE_DIR: join(project, '..', 'cache') },
  });
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      serverOutput += chunk.toString('utf8');
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverOutput);
      if (found?.[1]) resolve(found[1]);
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.once('error', reject);
    server.once('exit', (code) => reject(new Error(`agent-safe serve exited (${code}):\n${serverOutput}`)));
  });
}

function python(args: string[], env: Record<string, string>) {
  const result = spawnSync('python3', args, {
    cwd: EXAMPLE,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', AGENT_SAFE_TOKEN: '', ...env },
  });
  if (result.error) throw new Error(`python3 could not be run: ${result.error.message}`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A loopback port nothing listens on (taken from the OS, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const address = probe.address();
  await new Promise<void>((done) => probe.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-python-'));
  const project = join(root, 'project');
  expect(cli(['init', project, '--approvals'], root).code).toBe(0);
  url = await serve(project);
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
});

describe('examples/python-agent against agent-safe serve', () => {
  it('main.py acts only on ALLOW (validating its ticket once) and prints the reason otherwise', () => {
    const run = python(['main.py'], { AGENT_SAFE_URL: url });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'ALLOW            restart-deployment on dev/test-app: The development environment is unrestricted',
    );
    expect(lines[1]).toMatch(
      /^ {2}acting: restart-deployment on dev\/test-app with ticket eyJ.{9}… \(validated: Valid ticket for restart-deployment on dev\/test-app\)$/,
    );
    expect(lines[2]).toBe('  replayed ticket: valid=False code=REPLAYED');
    expect(lines[3]).toMatch(
      /^REQUIRE_APPROVAL restart-deployment on prod\/api-server: Critical-risk actions always require human approval/,
    );
    expect(lines[4]).toMatch(
      /^ {2}not acting: a person must approve first \(approval request apr-[0-9a-f]+\)$/,
    );
    expect(lines[5]).toBe(
      'DENY             scale-deployment on dev/test-app: invalid params for "scale-deployment": params.replicas: 500 is above the maximum 100',
    );
    expect(lines[6]).toBe('  not acting: denied');
    expect(lines[7]).toBe(
      'bad request refused: INPUT_INVALID (HTTP 400): params must be an object, got a number',
    );
    expect(lines).toHaveLength(8);
  });

  it("the client's tests pass: check-plan, ticket binding, the server's error codes, timeouts", () => {
    const run = python(['-m', 'unittest', '-v', 'test_client'], { AGENT_SAFE_URL: url });
    expect(run.stderr).toMatch(/Ran 11 tests in .*\n\nOK\n?$/);
    expect(run.code).toBe(0);
  });

  it('main.py does nothing and exits 1 when the server cannot be reached (fail closed)', async () => {
    const run = python(['main.py'], { AGENT_SAFE_URL: `http://127.0.0.1:${await closedPort()}` });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^agent-safe unavailable, doing nothing: UNAVAILABLE: POST \/v1\/check: cannot reach/,
    );
  });
});
