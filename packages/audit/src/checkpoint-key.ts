import {
  type KeyObject,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as signWith,
  timingSafeEqual,
  verify as verifyWith,
} from 'node:crypto';
import { constants, realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import { sha256Hex } from './sha256.js';

/** Signature algorithms of checkpoints: a shared secret (HMAC-SHA256) or an Ed25519 key pair. */
export type CheckpointAlgorithm = 'HS256' | 'Ed25519';

/**
 * A key that signs and/or verifies checkpoints. An HS256 key both signs and verifies; an Ed25519 private
 * key signs (and verifies with its public half); an Ed25519 public key only verifies, so an auditor can
 * check a log without being able to forge checkpoints for it.
 */
export interface CheckpointKey {
  readonly algorithm: CheckpointAlgorithm;
  /** Names the key in each checkpoint, so keys can be rotated and the right one picked to verify. */
  readonly keyId: string;
  /** True when this key can sign (an HS256 secret or an Ed25519 private key). */
  readonly canSign: boolean;
  /** Where the key came from (`env:NAME`, `file:/path`); never the key itself. */
  readonly source: string;
  /** Signature (base64url) of `data`; throws when the key cannot sign. */
  sign(data: string): string;
  /** True when `signature` (base64url) is this key's signature of `data`. */
  verify(data: string, signature: string): boolean;
}

/** Options of {@link loadCheckpointKey} and {@link checkpointKeyFrom}. */
export interface LoadCheckpointKeyOptions {
  /** Key id written into checkpoints; default: derived from the key (not reversible). */
  readonly keyId?: string;
  /** Environment for `env:NAME`; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `file:` paths resolve against; default `process.cwd()`. */
  readonly cwd?: string;
}

const MAX_KEY_FILE_BYTES = 64 * 1024;
const MIN_SECRET_BYTES = 32;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const CHECK_PERMISSIONS = process.platform !== 'win32';
const HOW_TO_PASS =
  'pass the checkpoint key as env:NAME (an environment variable) or file:PATH (a file), never literally';

function keyError(message: string, source: string, fix: string, cause?: unknown): AgentSafeError {
  return new AgentSafeError('KEY_INVALID', `${message} (${source}); ${fix}`, {
    issues: [
      {
        message: `${message}; ${fix}`,
        ...(source.startsWith('file:') ? { file: source.slice(5) } : {}),
        path: source,
      },
    ],
    ...(cause === undefined ? {} : { cause }),
  });
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, '0');
}

/**
 * Reads a checkpoint key from `env:NAME` or `file:PATH` with the rules the identity keys follow: a
 * literal key is refused (it would show in `ps` and shell history); a key file must be a regular file
 * not writable by others and owned by this user (or root), in a directory only this user (or root) can
 * change; a file holding a secret or a private key must not be readable by group or others. The
 * contents: an unencrypted PKCS#8 Ed25519 private key, an SPKI Ed25519 public key (verify only), or a
 * shared secret of at least 32 bytes (HS256). Throws KEY_INVALID naming the source, never the secret.
 */
export async function loadCheckpointKey(
  source: string,
  options: LoadCheckpointKeyOptions = {},
): Promise<CheckpointKey> {
  if (typeof source !== 'string' || source.trim() === '') {
    throw keyError('The checkpoint key source is empty', 'key source', HOW_TO_PASS);
  }
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    if (!ENV_NAME.test(name)) {
      throw keyError(
        `The text after env: (${name.length} characters, not shown) is not an environment variable name`,
        'key source',
        HOW_TO_PASS,
      );
    }
    const env = options.env ?? process.env;
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (value === undefined || value.trim() === '') {
      throw keyError(`Environment variable ${name} is not set or empty`, source, `export ${name}=… first`);
    }
    return checkpointKeyFrom(value, source, options);
  }
  if (!source.startsWith('file:')) {
    throw keyError(
      `The checkpoint key source (${source.length} characters, not shown) is not env:NAME or file:PATH`,
      'key source',
      HOW_TO_PASS,
    );
  }
  const path = source.slice(5);
  if (path === '') throw keyError('file: needs a path', source, 'write file:/path/to/key');
  const absolute = isAbsolute(path) ? path : resolve(options.cwd ?? process.cwd(), path);
  const label = `file:${absolute}`;
  let text: string;
  let mode: number;
  try {
    ({ text, mode } = await readKeyFile(absolute, label));
  } catch (error) {
    if (error instanceof AgentSafeError) throw error;
    throw keyError(
      `Key file could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      label,
      'check the path and its permissions',
      error,
    );
  }
  const key = checkpointKeyFrom(text, label, options);
  if (CHECK_PERMISSIONS && key.canSign && (mode & 0o044) !== 0) {
    throw keyError(
      `Key file holding a signing key is readable by other users (mode ${octal(mode)}); refused`,
      label,
      `run \`chmod 600 ${absolute}\`: anyone who can read it can forge checkpoints`,
    );
  }
  assertKeyDirectory(dirname(realpathSync(absolute)));
  return key;
}

async function readKeyFile(path: string, label: string): Promise<{ text: string; mode: number }> {
  // Non-blocking, so a FIFO is refused below instead of waiting for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw keyError('Key source is not a regular file', label, 'point at a key file');
    if (stats.size > MAX_KEY_FILE_BYTES) {
      throw keyError(
        `Key file is ${stats.size} bytes, over the ${MAX_KEY_FILE_BYTES}-byte limit`,
        label,
        'point at a key file',
      );
    }
    if (CHECK_PERMISSIONS) {
      if ((stats.mode & 0o022) !== 0) {
        throw keyError(
          `Key file is writable by other users (mode ${octal(stats.mode)}); refused`,
          label,
          `run \`chmod 600 ${path}\`: anyone who can rewrite it can make forged checkpoints verify`,
        );
      }
      const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
      if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
        throw keyError(
          `Key file belongs to another user (uid ${stats.uid}); refused`,
          label,
          'use a key file owned by the user this service runs as (or by root)',
        );
      }
    }
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let length = 0;
    while (length <= MAX_KEY_FILE_BYTES) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_KEY_FILE_BYTES) {
      throw keyError('Key file grew over the size limit while read', label, 'point at a key file');
    }
    return { text: buffer.toString('utf8', 0, length), mode: stats.mode };
  } finally {
    await handle.close();
  }
}

function assertKeyDirectory(directory: string): void {
  if (!CHECK_PERMISSIONS) return;
  const stats = statSync(directory);
  const sticky = (stats.mode & 0o1000) !== 0;
  if ((stats.mode & 0o022) !== 0 && !sticky) {
    throw keyError(
      `The key directory is writable by other users (mode ${octal(stats.mode)}); refused`,
      `file:${directory}`,
      `run \`chmod 700 ${directory}\`: anyone who can write there can swap the key file`,
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
 * Builds a checkpoint key from key text (already read from a trusted place): a PEM Ed25519 key (private
 * PKCS#8 or public SPKI) or a shared secret of at least 32 bytes. `source` only names it in errors.
 */
export function checkpointKeyFrom(
  text: string,
  source: string,
  options: { readonly keyId?: string } = {},
): CheckpointKey {
  if (options.keyId !== undefined && !KEY_ID.test(options.keyId)) {
    throw keyError(
      `The key id "${String(options.keyId).slice(0, 80)}" is not 1–64 letters, digits or . _ : -`,
      source,
      'choose a short key id such as audit-2026',
    );
  }
  const trimmed = text.trim();
  if (trimmed === '')
    throw keyError('The checkpoint key is empty', source, 'put the key in the file or variable');
  if (trimmed.startsWith('-----BEGIN')) {
    const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(trimmed)?.[1] ?? '';
    let privateKey: KeyObject | undefined;
    let publicKey: KeyObject;
    try {
      if (label === 'PRIVATE KEY') {
        privateKey = createPrivateKey(trimmed);
        publicKey = createPublicKey(privateKey);
      } else if (label === 'PUBLIC KEY') {
        publicKey = createPublicKey(trimmed);
      } else {
        throw new Error(`PEM block "${label}"`);
      }
    } catch (error) {
      throw keyError(
        'The checkpoint key is not a readable PEM key',
        source,
        'use an unencrypted PKCS#8 Ed25519 private key (openssl genpkey -algorithm ed25519) or its SPKI public key',
        error,
      );
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') {
      throw keyError(
        `The checkpoint key is a ${publicKey.asymmetricKeyType ?? 'unknown'} key; checkpoints are signed with Ed25519`,
        source,
        'generate one with `openssl genpkey -algorithm ed25519`',
      );
    }
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const keyId = options.keyId ?? `ed25519-${sha256Hex(spki).slice(0, 16)}`;
    return {
      algorithm: 'Ed25519',
      keyId,
      canSign: privateKey !== undefined,
      source,
      sign(data) {
        if (privateKey === undefined) {
          throw keyError('A public key cannot sign checkpoints', source, 'give the writer the private key');
        }
        return signWith(null, Buffer.from(data), privateKey).toString('base64url');
      },
      verify(data, signature) {
        try {
          return verifyWith(null, Buffer.from(data), publicKey, Buffer.from(signature, 'base64url'));
        } catch {
          return false;
        }
      },
    };
  }
  const secret = Buffer.from(trimmed, 'utf8');
  if (secret.length < MIN_SECRET_BYTES) {
    throw keyError(
      `The checkpoint secret is ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed`,
      source,
      'generate one with `openssl rand -hex 32`',
    );
  }
  const keyId =
    options.keyId ??
    `hmac-${createHmac('sha256', secret).update('agent-safe audit checkpoint key id').digest('hex').slice(0, 16)}`;
  const mac = (data: string) => createHmac('sha256', secret).update(data).digest('base64url');
  return {
    algorithm: 'HS256',
    keyId,
    canSign: true,
    source,
    sign: mac,
    verify(data, signature) {
      const expected = Buffer.from(mac(data));
      const given = Buffer.from(signature);
      return expected.length === given.length && timingSafeEqual(expected, given);
    },
  };
}
