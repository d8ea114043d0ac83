import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { AgentSafeError } from '@agent-safe/core';

/**
 * Reads a configuration text file synchronously, bounded: a regular file (symbolic links followed) of at
 * most `maxBytes`. A directory, device (`/dev/zero`) or named pipe is refused with FILE_UNREADABLE naming
 * `what` and the path, so a bad path can neither hang the process nor fill its memory.
 */
export function readTextFileSync(file: string, what: string, maxBytes: number): string {
  let descriptor: number | undefined;
  const fail = (message: string, cause?: unknown): never => {
    throw new AgentSafeError('FILE_UNREADABLE', `Cannot read ${what} ${file}: ${message}`, {
      cause,
      issues: [{ file, message }],
    });
  };
  try {
    // O_NONBLOCK: opening a named pipe must not wait for a writer.
    descriptor = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = fstatSync(descriptor);
    if (!stats.isFile()) return fail('not a regular file (a directory, device or pipe); pass a file');
    if (stats.size > maxBytes) return fail(`larger than the ${maxBytes}-byte limit`);
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (;;) {
      const read = readSync(descriptor, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length === buffer.length) return fail('changed while it was read; try again');
    }
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof AgentSafeError) throw error;
    return fail((error as Error).message, error);
  } finally {
    if (descriptor !== undefined) closeSync(descriptor);
  }
}
