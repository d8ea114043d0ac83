import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CliError } from './cli-error.js';

/** Largest `--params-file` (or params on standard input): well above what a request may carry. */
export const MAX_PARAMS_BYTES = 1024 * 1024;
/** Largest token read by `--caller file:PATH` or `--caller -` (tokens are at most 64 KiB). */
export const MAX_TOKEN_BYTES = 64 * 1024 + 1024;

// O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below then refuses it.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Reads a command-line input file: a regular file (symbolic links followed) of at most `maxBytes`.
 * Directories, devices (`/dev/zero`, a terminal), named pipes and sockets are refused with an error
 * naming the input (`what`, e.g. `--params-file`), so no read can hang or grow without bound. To read
 * from a pipe, pass `-` and use {@link readInputStream} on standard input instead.
 */
export async function readInputFile(path: string, what: string, maxBytes: number): Promise<string> {
  const fail = (message: string, cause?: unknown): never => {
    throw new CliError('FILE_UNREADABLE', `${what}${what.endsWith(':') ? '' : ' '}${path}: ${message}`, {
      issues: [{ file: path, message }],
      cause,
    });
  };
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    try {
      handle = await open(path, OPEN_FLAGS);
    } catch (error) {
      return fail(describeOpenError(error), error);
    }
    const stats = await handle.stat();
    if (!stats.isFile()) return fail(`${kindOf(stats)}, not a regular file; ${FIFO_HINT}`);
    if (stats.size > maxBytes) return fail(`larger than the ${maxBytes}-byte limit`);
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      // The file grew after fstat: refuse rather than read an unbounded amount.
      if (length === buffer.length) return fail('changed while it was read; try again');
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle?.close();
  }
}

const FIFO_HINT = 'pass a file, or pass - and send the data on standard input';

/**
 * Reads a stream (standard input) to its end, asynchronously, so a slow producer is waited for rather
 * than failing with EAGAIN, and at most `maxBytes`, so `< /dev/zero` fails instead of filling memory.
 */
export async function readInputStream(
  stream: NodeJS.ReadableStream,
  what: string,
  maxBytes: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += bytes.length;
    if (total > maxBytes) {
      (stream as { destroy?: () => void }).destroy?.();
      throw new CliError(
        'INPUT_INVALID',
        `${what}: standard input is larger than the ${maxBytes}-byte limit; send only the value`,
        { issues: [{ path: what, message: `more than ${maxBytes} bytes` }] },
      );
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function kindOf(stats: {
  isDirectory(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}

function describeOpenError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file; check the path';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; make the file readable by this user';
    case 'ENOTDIR':
      return 'a part of the path is not a directory; check the path';
    case 'ELOOP':
      return 'too many levels of symbolic links; fix the link';
    case 'ENXIO':
      return `a socket or a pipe without a writer; ${FIFO_HINT}`;
    default:
      return `cannot be read (${(error as Error).message})`;
  }
}
