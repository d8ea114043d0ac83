import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

const MOTO_VERSION = '5.2.5';
const REPO = join(import.meta.dirname, '..', '..', '..');
const SERVICES = join(REPO, 'scripts', 'services.sh');

/** Where scripts/services.sh keeps moto's venv (outside the clone, shared by every clone). */
export function motoDirectory(): string {
  return (
    process.env.AGENT_SAFE_MOTO_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agent-safe', `moto-${MOTO_VERSION}`)
  );
}

function motoPython(): string {
  return join(motoDirectory(), 'venv', 'bin', 'python');
}

function installed(): boolean {
  if (!existsSync(motoPython())) return false;
  const probe = spawnSync(motoPython(), ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout.trim() === MOTO_VERSION;
}

/**
 * Makes sure moto is installed: runs `scripts/services.sh install moto` when it is not (once per
 * machine, ~20 s), so the tests work on a fresh machine; throws saying what to run when that fails.
 * These tests run against real AWS APIs (moto) and are never skipped.
 */
export function requireMoto(): void {
  if (installed()) return;
  const result = spawnSync('bash', [SERVICES, 'install', 'moto'], { encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0 || !installed()) {
    throw new Error(
      `moto ${MOTO_VERSION} (the AWS APIs these tests use) is not installed and could not be installed: run ` +
        `\`scripts/services.sh install moto\` (needs python3 with venv and pip)` +
        `${process.env.CI ? ' (CI must be able to install it)' : ''}\n${(result.stderr ?? '').slice(-2000)}`,
    );
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A private moto server on a free loopback port. */
export interface MotoServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a private moto server (S3 and every other service moto has) and waits until it answers. */
export async function startMoto(): Promise<MotoServer> {
  requireMoto();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    motoPython(),
    ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) return { url, stop };
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error(`moto on port ${port} did not answer:\n${output}`);
}
