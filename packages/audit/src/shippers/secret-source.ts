import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';

const MAX_SECRET_FILE_BYTES = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads a secret given as `env:NAME` (an environment variable) or `file:PATH` (a file, at most 64 KiB,
 * trimmed). Anything else is refused without being echoed: a literal secret in a config file would be
 * committed with it. `setting` names the option in errors.
 */
export async function readSecretSource(
  source: string,
  setting: string,
  options: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<string> {
  const refuse = (message: string, fix: string) =>
    new AgentSafeError('KEY_INVALID', `${setting}: ${message}`, {
      issues: [{ path: setting, message: `${message}; ${fix}` }],
    });
  if (typeof source !== 'string') {
    throw refuse('expected env:NAME or file:PATH', 'e.g. env:AGENT_SAFE_SHIP_SECRET');
  }
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    if (!ENV_NAME.test(name))
      throw refuse(
        `"${name.slice(0, 64)}" is not an environment variable name`,
        'e.g. env:AGENT_SAFE_SHIP_SECRET',
      );
    const value = (options.env ?? process.env)[name];
    if (value === undefined || value.trim() === '') {
      throw refuse(
        `environment variable ${name} is not set`,
        `export ${name}=… (e.g. $(openssl rand -base64 48))`,
      );
    }
    return value.trim();
  }
  if (source.startsWith('file:') && source.length > 5) {
    const path = source.slice(5);
    const absolute = isAbsolute(path) ? path : resolve(options.cwd ?? process.cwd(), path);
    try {
      const handle = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw new Error('not a regular file');
        if (info.size > MAX_SECRET_FILE_BYTES) throw new Error(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
        const text = (await handle.readFile('utf8')).trim();
        if (text === '') throw new Error('the file is empty');
        return text;
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw new AgentSafeError(
        'KEY_INVALID',
        `${setting}: cannot read ${absolute}: ${(error as Error).message}`,
        {
          cause: error,
          issues: [{ file: absolute, path: setting, message: 'a readable regular file holding the secret' }],
        },
      );
    }
  }
  throw refuse(
    'expected env:NAME or file:PATH (the secret itself is never accepted here)',
    'e.g. env:AGENT_SAFE_SHIP_SECRET or file:/run/secrets/ship',
  );
}
