import { closeSync, constants, fstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentSafeError, type ErrorCode, type Issue } from '@agent-safe/core';

/** Name of the integrity manifest inside an actions directory. */
export const MANIFEST_FILE_NAME = 'actions.manifest.json';

/** A file's bytes as read, or why it could not be read. */
export type ReadOutcome =
  | { readonly ok: true; readonly bytes: Buffer }
  | { readonly ok: false; readonly code: ErrorCode; readonly issue: Issue; readonly missing?: boolean };

// O_NONBLOCK: opening a FIFO named like a YAML file must not hang the loader.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** True for the names the loader reads: `*.yaml` and `*.yml`, not hidden (editor lock files are). */
export function isYamlFileName(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.yaml') || name.endsWith('.yml'));
}

/** Reads a regular file (symbolic links followed) of at most `maxBytes`, synchronously. */
export function readRegularFileSync(path: string, maxBytes: number): ReadOutcome {
  let descriptor: number | undefined;
  try {
    descriptor = openSync(path, OPEN_FLAGS);
    const stats = fstatSync(descriptor);
    if (!stats.isFile()) return notRegular(path);
    if (stats.size > maxBytes) return tooLarge(path, maxBytes);
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (;;) {
      const read = readSync(descriptor, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      // The file grew after fstat: refuse rather than read an unbounded amount.
      if (length > maxBytes) return tooLarge(path, maxBytes);
      if (length === buffer.length) return changed(path);
    }
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (error) {
    return unreadable(path, error);
  } finally {
    if (descriptor !== undefined) closeSync(descriptor);
  }
}

/** Reads a regular file (symbolic links followed) of at most `maxBytes`. */
export async function readRegularFile(path: string, maxBytes: number): Promise<ReadOutcome> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, OPEN_FLAGS);
    const stats = await handle.stat();
    if (!stats.isFile()) return notRegular(path);
    if (stats.size > maxBytes) return tooLarge(path, maxBytes);
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) return tooLarge(path, maxBytes);
      if (length === buffer.length) return changed(path);
    }
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (error) {
    return unreadable(path, error);
  } finally {
    await handle?.close();
  }
}

/** Names of the YAML files directly in `dir`, sorted. Throws FILE_UNREADABLE when `dir` cannot be listed. */
export function listYamlFilesSync(dir: string): string[] {
  try {
    return readdirSync(dir).filter(isYamlFileName).sort();
  } catch (error) {
    throw directoryError(dir, error);
  }
}

/** Names of the YAML files directly in `dir`, sorted. Rejects with FILE_UNREADABLE when it cannot be listed. */
export async function listYamlFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter(isYamlFileName).sort();
  } catch (error) {
    throw directoryError(dir, error);
  }
}

/** Absolute path of a file in a directory. */
export function pathIn(dir: string, name: string): string {
  return resolve(join(dir, name));
}

/** Throws one error for every file that could not be read (FILE_UNREADABLE wins over size problems). */
export function throwReadFailures(
  failures: readonly { code: ErrorCode; issue: Issue }[],
  what: string,
): void {
  if (failures.length === 0) return;
  const code = failures.some((failure) => failure.code === 'FILE_UNREADABLE')
    ? 'FILE_UNREADABLE'
    : failures[0]!.code;
  throw new AgentSafeError(
    code,
    `${failures.length} ${what} file${failures.length === 1 ? '' : 's'} could not be read`,
    { issues: failures.map((failure) => failure.issue) },
  );
}

function notRegular(path: string): ReadOutcome {
  return {
    ok: false,
    code: 'FILE_UNREADABLE',
    issue: {
      file: path,
      message: 'not a regular file (a directory, device or pipe); remove it or rename it',
    },
  };
}

function changed(path: string): ReadOutcome {
  return {
    ok: false,
    code: 'FILE_UNREADABLE',
    issue: { file: path, message: 'changed while it was read; try again' },
  };
}

function tooLarge(path: string, maxBytes: number): ReadOutcome {
  return {
    ok: false,
    code: 'YAML_INVALID',
    issue: { file: path, message: `larger than the ${maxBytes}-byte limit; split it or raise maxBytes` },
  };
}

function unreadable(path: string, error: unknown): ReadOutcome {
  return {
    ok: false,
    code: 'FILE_UNREADABLE',
    issue: { file: path, message: explain(error, 'file') },
    missing: (error as NodeJS.ErrnoException).code === 'ENOENT',
  };
}

function directoryError(dir: string, error: unknown): AgentSafeError {
  const message = explain(error, 'directory');
  return new AgentSafeError('FILE_UNREADABLE', `${dir}: ${message}`, {
    cause: error,
    issues: [{ file: dir, message }],
    details: { path: dir },
  });
}

function explain(error: unknown, kind: 'file' | 'directory'): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return kind === 'file'
        ? 'does not exist (a broken symbolic link?); fix the link or remove it'
        : 'no such directory; check the path (or create it, e.g. with `agent-safe init`)';
    case 'ENOTDIR':
      return kind === 'file'
        ? 'a part of the path is not a directory; check the path'
        : 'not a directory; pass the directory that holds the YAML files';
    case 'EACCES':
    case 'EPERM':
      return `permission denied; make the ${kind} readable by this user`;
    case 'ELOOP':
      return 'too many levels of symbolic links; fix the link';
    case 'EISDIR':
      return 'is a directory; pass a file';
    default:
      return `cannot be read (${code ?? (error as Error).message})`;
  }
}
