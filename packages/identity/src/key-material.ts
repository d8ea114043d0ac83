import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
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
      throw keyError(`"${truncate(name)}" is not an environment variable name`, source, HOW_TO_PASS);
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
  let text: string;
  try {
    text = await readKeyFile(absolute);
  } catch (error) {
    if (error instanceof AgentSafeError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (!explicitFile && (code === 'ENOENT' || code === 'ENAMETOOLONG')) {
      // A plain source that is not a file may be a secret typed on the command line: do not echo it.
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
  return parseKeyMaterial(text, label);
}

async function readKeyFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
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
    return await handle.readFile({ encoding: 'utf8' });
  } finally {
    await handle.close();
  }
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

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
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
