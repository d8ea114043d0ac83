import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CliError } from './cli-error.js';

/**
 * Makes sure `target` is a directory, creating it and its missing parents one level at a time.
 * `mkdirSync(…, { recursive: true })` is not used: on Node 20 it never returns for some paths under
 * /proc (it retries ENOENT forever), and its errors name no fix. An existing file, device or other
 * non-directory anywhere on the path is refused with an error naming it.
 */
export function ensureProjectDirectory(target: string, what = 'project'): void {
  const missing: string[] = [];
  let current = target;
  for (;;) {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = dirname(current);
      if (code === 'ENOENT' && parent !== current) {
        missing.unshift(current);
        current = parent;
        continue;
      }
      throw failure(current, describe(error), error);
    }
    if (!stats.isDirectory()) {
      throw failure(
        current,
        current === target
          ? `exists and is not a directory; choose a new or existing directory for the ${what}`
          : 'is not a directory; choose a path whose parents are directories',
      );
    }
    break;
  }
  for (const directory of missing) {
    try {
      mkdirSync(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(directory).isDirectory()) continue;
      throw failure(directory, `cannot create the directory: ${describe(error)}`, error, 'FILE_UNWRITABLE');
    }
  }
}

function failure(path: string, message: string, cause?: unknown, code = 'USAGE'): CliError {
  return new CliError(code, `${path}: ${message}`, { issues: [{ file: path, message }], cause });
}

function describe(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; pick a directory you can write to';
    case 'ENOENT':
      return 'the parent does not accept new directories (a virtual file system such as /proc?)';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (error as Error).message;
  }
}
