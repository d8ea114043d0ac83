import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The CLI's entry point, as installed. */
export const BIN = join(import.meta.dirname, '..', 'bin', 'agent-safe.js');

// A parse cache of the tests' own, so that runs never touch (or depend on) the user's cache.
const CACHE = mkdtempSync(join(tmpdir(), 'agent-safe-cli-cache-'));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `agent-safe args…` in `cwd` as a user would: colour settings and a signing key from the
 * environment are dropped, `env` is added, `input` goes to standard input.
 */
export function cli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  input?: string,
): CliResult {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.NO_COLOR;
  delete base.FORCE_COLOR;
  delete base.AGENT_SAFE_SIGNING_KEY;
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...base, AGENT_SAFE_CACHE_DIR: CACHE, ...env },
    ...(input !== undefined ? { input } : {}),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
