import { usageError as usage } from './cli-error.js';
import { MAX_TOKEN_BYTES, readInputFile, readInputStream } from './read-input.js';

/**
 * `--caller` of `check` and `rollback check`: an agent id, an identity token, or `env:NAME` /
 * `file:PATH` / `-` (stdin) holding a token, so a token need not appear in the process list. Files and
 * standard input are read bounded (a token is at most 64 KiB); standard input is read asynchronously,
 * so a slow producer is waited for.
 */
export async function callerArgument(
  value: string | undefined,
  stdin: NodeJS.ReadableStream,
): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (value === '-') return (await readInputStream(stdin, '--caller -', MAX_TOKEN_BYTES)).trim();
  const env = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
  if (env) {
    const token = process.env[env[1]!];
    if (!token) throw usage(`--caller ${value}: environment variable ${env[1]} is not set`);
    return token.trim();
  }
  if (value.startsWith('file:'))
    return (await readInputFile(value.slice(5), '--caller file:', MAX_TOKEN_BYTES)).trim();
  return value;
}
