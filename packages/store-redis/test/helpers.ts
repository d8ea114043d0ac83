import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./fixtures/hammer-worker.mjs', import.meta.url));

/** Result of one worker process. */
export interface WorkerTally {
  readonly wins: number[];
  readonly errors: number;
}

/**
 * Runs `processes` worker processes against the same key, releases them together once all are connected,
 * and returns each one's tally.
 */
export async function runWorkers(options: {
  readonly url: string;
  readonly mode: 'take' | 'nonce' | 'guard' | 'step';
  readonly key: string;
  readonly limit: number;
  readonly attempts: number;
  readonly processes: number;
  readonly inFlight: number;
}): Promise<WorkerTally[]> {
  const children = Array.from({ length: options.processes }, () =>
    spawn(
      process.execPath,
      [
        WORKER,
        options.url,
        options.mode,
        options.key,
        String(options.limit),
        String(options.attempts),
        String(options.inFlight),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    ),
  );
  const outputs = children.map((child) => {
    child.stdin.on('error', () => {});
    let stdout = '';
    let stderr = '';
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolveReady) => {
      markReady = resolveReady;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.startsWith('ready\n')) markReady();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const exited = new Promise<WorkerTally>((resolveExit, reject) => {
      child.once('exit', (code) => {
        markReady();
        if (code !== 0) {
          reject(new Error(`worker exited with ${code}: ${stderr}`));
          return;
        }
        const lines = stdout.trim().split('\n');
        resolveExit(JSON.parse(lines[lines.length - 1] ?? '{}') as WorkerTally);
      });
    });
    return { ready, exited };
  });
  await Promise.all(outputs.map((output) => output.ready));
  for (const child of children) child.stdin.end('go\n');
  return await Promise.all(outputs.map((output) => output.exited));
}
