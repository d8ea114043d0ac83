import { type Stats, constants, realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import type { JSONWebKeySet, JWK } from 'jose';

/**
 * Key material read from a file or an environment variable, classified but not yet imported.
 * `source` describes where it came from (`env:NAME`, `file:/path`) for error messages; it never
 * contains the secret itself.
 */
export type KeyMaterial =
  | { readonly kind: 'secret'; readonly secret: Uint8Array; readonly source: string }
  | { readonly kind: 'private-pem'; readonly pem: string; readonly source: string }
  | { readonly kind: 'public-pem'; readonly pem: string; readonly source: string }
  | { readonly kind: 'jwk'; readonly jwk: JWK; readonly source: string }
  | { readonly kind: 'jwks'; readonly jwks: JSONWebKeySet; readonly source: string };

/** Options of {@link loadKeyMaterial}. */
export interface LoadKeyMaterialOptions {
  /** Environment to read `env:NAME` sources from; defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative file paths resolve against; defaults to `process.cwd()`. */
  readonly cwd?: string;
}

/** Largest key file read (a JWKS of a few dozen keys is far below this). */
const MAX_KEY_FILE_BYTES = 1024 * 1024;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const HOW_TO_PASS =
  'pass key material as env:NAME (an environment variable) or file:PATH (a file), never literally: a literal shows in `ps` and shell history';

/**
 * Reads key material from `env:NAME`, `file:PATH` or a plain file path and classifies it as PEM
 * (PKCS#8 private / SPKI public), JWK, JWKS or a raw secret. A source that looks like a literal
 * key or secret is refused, because command-line arguments are visible to every local user.
 * Throws `KEY_INVALID` naming the source (never the secret).
 */
export async function loadKeyMaterial(
  source: string,
  options: LoadKeyMaterialOptions = {},
): Promise<KeyMaterial> {
  if (typeof source !== 'string' || source.trim() === '') {
    throw keyError('The key source is empty', 'key source', `expected env:NAME or file:PATH; ${HOW_TO_PASS}`);
  }
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    if (!ENV_NAME.test(name)) {
      // Not echoed: what follows env: may be a pasted secret.
      throw keyError(
        `The text after env: (${name.length} characters, not shown) is not an environment variable name (letters, digits and _)`,
        'key source',
        HOW_TO_PASS,
      );
    }
    const env = options.env ?? process.env;
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (value === undefined || value.trim() === '') {
      throw keyError(`Environment variable ${name} is not set or empty`, source, `export ${name}=… first`);
    }
    return parseKeyMaterial(value, source);
  }
  if (looksLikeLiteralKey(source)) {
    throw keyError(
      'A literal key or secret was given as the key source and was refused',
      'key source',
      HOW_TO_PASS,
    );
  }
  const explicitFile = source.startsWith('file:');
  const path = explicitFile ? source.slice(5) : source;
  if (path === '') throw keyError('file: needs a path', source, 'write file:/path/to/key.pem');
  const absolute = isAbsolute(path) ? path : resolve(options.cwd ?? process.cwd(), path);
  const label = `file:${absolute}`;
  let file: KeyFile;
  try {
    file = await readKeyFile(absolute);
  } catch (error) {
    if (error instanceof AgentSafeError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (!explicitFile) {
      // A plain source that cannot be read may be a secret typed where a source belongs: never echo it.
      throw keyError(
        `The key source (${source.length} characters, not shown) is not env:NAME, file:PATH or an existing file`,
        'key source',
        HOW_TO_PASS,
      );
    }
    throw keyError(
      `Key file could not be read (${code ?? 'error'})`,
      label,
      'check the path and its permissions',
      {
        cause: error,
      },
    );
  }
  const material = parseKeyMaterial(file.text, label);
  assertPrivate(material, file.mode, absolute);
  assertKeyDirectory(dirname(realpathSync(absolute)));
  return material;
}

interface KeyFile {
  readonly text: string;
  readonly mode: number;
  readonly uid: number;
}

async function readKeyFile(path: string): Promise<KeyFile> {
  // Non-blocking, so a FIFO given as a key file is refused below instead of waiting for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw keyError('Key source is not a regular file', `file:${path}`, 'point at a key file');
    if (stats.size > MAX_KEY_FILE_BYTES) {
      throw keyError(
        `Key file is ${stats.size} bytes, over the ${MAX_KEY_FILE_BYTES}-byte limit`,
        `file:${path}`,
        'point at a key file',
      );
    }
    // Checked on the opened file, so what is checked is what is read.
    assertNotWritableByOthers(stats, path);
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    while (length <= MAX_KEY_FILE_BYTES) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_KEY_FILE_BYTES) {
      throw keyError(
        `Key file grew over the ${MAX_KEY_FILE_BYTES}-byte limit while read`,
        `file:${path}`,
        'point at a key file',
      );
    }
    return { text: buffer.toString('utf8', 0, length), mode: stats.mode, uid: stats.uid };
  } finally {
    await handle.close();
  }
}

/** POSIX permission checks are meaningless on Windows, where mode bits do not describe access. */
const CHECK_PERMISSIONS = process.platform !== 'win32';

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, '0');
}

/**
 * Any key file (public ones too) that another user could rewrite, or that belongs to another user (other
 * than root), is refused: whoever can replace a verification key can make forged tokens verify.
 */
function assertNotWritableByOthers(stats: { mode: number; uid: number }, path: string): void {
  if (!CHECK_PERMISSIONS) return;
  if ((stats.mode & 0o022) !== 0) {
    throw keyError(
      `Key file is writable by other users (mode ${octal(stats.mode)}); refused`,
      `file:${path}`,
      `run \`chmod 600 ${path}\` (a public key set may be 644): anyone who can rewrite a key file can make forged tokens and tickets verify`,
    );
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
    throw keyError(
      `Key file belongs to another user (uid ${stats.uid}); refused`,
      `file:${path}`,
      'use a key file owned by the user this service runs as (or by root)',
    );
  }
}

/**
 * Throws `KEY_INVALID` unless `directory` is a place only this user (or root) can change: not writable
 * by group or others unless the sticky bit stops them renaming or deleting other users' files (as in
 * /tmp), and owned by this user or root. Key files are read from, and `identity keygen` writes into,
 * such directories only: whoever can rename entries in a directory can swap the key file in it.
 */
export function assertKeyDirectory(directory: string): void {
  if (!CHECK_PERMISSIONS) return;
  let stats: Stats;
  try {
    stats = statSync(directory);
  } catch (error) {
    throw keyError(
      `The key directory could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      `file:${directory}`,
      'check the path',
      { cause: error },
    );
  }
  if (!stats.isDirectory()) {
    throw keyError('The key directory is not a directory', `file:${directory}`, 'point at a directory');
  }
  const sticky = (stats.mode & 0o1000) !== 0;
  if ((stats.mode & 0o022) !== 0 && !sticky) {
    throw keyError(
      `The key directory is writable by other users (mode ${octal(stats.mode)}); refused`,
      `file:${directory}`,
      `run \`chmod 700 ${directory}\` (or go-w), or keep keys in a directory only this user can write: anyone who can write there can swap the key file`,
    );
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
    throw keyError(
      `The key directory belongs to another user (uid ${stats.uid}); refused`,
      `file:${directory}`,
      'keep keys in a directory owned by the user this service runs as (or by root)',
    );
  }
}

/**
 * Secret material (an HS256 secret, a private PEM or JWK) must not be readable by group or others: a
 * reader can mint identity tokens and execution tickets.
 */
function assertPrivate(material: KeyMaterial, mode: number, path: string): void {
  if (!CHECK_PERMISSIONS || (mode & 0o044) === 0) return;
  const secret =
    material.kind === 'secret' ||
    material.kind === 'private-pem' ||
    (material.kind === 'jwk' && (typeof material.jwk.d === 'string' || typeof material.jwk.k === 'string'));
  if (!secret) return;
  throw keyError(
    `Key file holding ${material.kind === 'secret' ? 'a shared secret' : 'a private key'} is readable by other users (mode ${octal(mode)}); refused`,
    `file:${path}`,
    `run \`chmod 600 ${path}\`: anyone who can read it can mint tokens and tickets`,
  );
}

/**
 * Classifies key text (already read from a trusted place) as PEM, JWK, JWKS or a raw secret.
 * `source` is only used in error messages.
 */
export function parseKeyMaterial(text: string, source: string): KeyMaterial {
  const trimmed = text.trim();
  if (trimmed === '') throw keyError('Key material is empty', source, 'put the key in the file or variable');
  if (trimmed.startsWith('-----BEGIN')) {
    const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(trimmed)?.[1] ?? '';
    if (label === 'PUBLIC KEY') return { kind: 'public-pem', pem: trimmed, source };
    if (label.endsWith('PRIVATE KEY') && label !== 'ENCRYPTED PRIVATE KEY') {
      return { kind: 'private-pem', pem: trimmed, source };
    }
    throw keyError(
      `PEM block "${label || 'unknown'}" is not supported`,
      source,
      'use an unencrypted PKCS#8 private key (BEGIN PRIVATE KEY) or an SPKI public key (BEGIN PUBLIC KEY); convert with `openssl pkcs8 -topk8 -nocrypt`',
    );
  }
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw keyError(
        'Key material starts with "{" but is not valid JSON',
        source,
        'fix the JWK or JWKS JSON',
      );
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw keyError('Key JSON is not an object', source, 'expected a JWK or a JWKS ({ "keys": [...] })');
    }
    const record = parsed as Record<string, unknown>;
    if (Object.hasOwn(record, 'keys')) {
      if (!Array.isArray(record.keys) || !record.keys.every(isPlainObject)) {
        throw keyError(
          'JWKS "keys" is not an array of objects',
          source,
          'expected { "keys": [ {JWK}, ... ] }',
        );
      }
      return { kind: 'jwks', jwks: { keys: record.keys as JWK[] }, source };
    }
    if (typeof record.kty === 'string') return { kind: 'jwk', jwk: record as JWK, source };
    throw keyError(
      'Key JSON is neither a JWK (no "kty") nor a JWKS (no "keys")',
      source,
      'expected a JWK or a JWKS',
    );
  }
  return { kind: 'secret', secret: new TextEncoder().encode(trimmed), source };
}

function looksLikeLiteralKey(source: string): boolean {
  const start = source.trimStart();
  return start.startsWith('-----BEGIN') || start.startsWith('{') || /[\r\n]/.test(source);
}

function isPlainObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A `KEY_INVALID` error whose issue names the source and how to fix it. */
export function keyError(
  message: string,
  source: string,
  fix: string,
  extra: { cause?: unknown } = {},
): AgentSafeError {
  return new AgentSafeError('KEY_INVALID', `${message} (${source}); ${fix}`, {
    issues: [
      {
        message: `${message}; ${fix}`,
        file: source.startsWith('file:') ? source.slice(5) : undefined,
        path: source,
      },
    ],
    cause: extra.cause,
  });
}
