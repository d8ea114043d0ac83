import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ProjectConfig } from '@agent-safe/sdk';
import { usageError } from './cli-error.js';
import { MAX_TOKEN_BYTES, readInputStream } from './read-input.js';

/** Environment variable consulted when neither a flag nor agent-safe.yaml names a signing key. */
export const SIGNING_KEY_ENV = 'AGENT_SAFE_SIGNING_KEY';

const ALGORITHMS = ['HS256', 'EdDSA', 'ES256'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** A usage error the base command prints as `error [USAGE] …` (exit 1). */
export function usage(message: string): Error {
  return usageError(message);
}

/**
 * The signing key source: `--signing-key`, else agent-safe.yaml's `signing_key`, else
 * `env:AGENT_SAFE_SIGNING_KEY` when that variable is set. Sources are `env:NAME` or `file:PATH` (or a
 * path): keys never travel as command-line values, which other users can read in `ps`.
 */
export function signingKeySource(flag: string | undefined, config: ProjectConfig): string {
  const source =
    flag ??
    config.security?.signingKeySource ??
    (process.env[SIGNING_KEY_ENV] ? `env:${SIGNING_KEY_ENV}` : undefined);
  if (source === undefined) {
    throw usage(
      `no signing key: pass --signing-key env:NAME or --signing-key file:PATH, set signing_key in agent-safe.yaml, or export ${SIGNING_KEY_ENV}`,
    );
  }
  return source;
}

/**
 * Refuses a `--caller env:NAME` / `file:PATH` that reads the signing key (the configured `signing_key`
 * source, or $AGENT_SAFE_SIGNING_KEY), and a caller value equal to the key held in an environment
 * variable: otherwise the secret would be sent as the caller and written into the audit log as an agent
 * id. Nothing is echoed but the option's own text (a source name, never a value).
 */
export function refuseSigningKeyAsCaller(
  callerOption: string | undefined,
  callerValue: string | undefined,
  config: ProjectConfig,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (callerOption === undefined) return;
  const keySources = [config.security?.signingKeySource, `env:${SIGNING_KEY_ENV}`].filter(
    (source): source is string => source !== undefined,
  );
  const shown =
    callerOption.startsWith('env:') || callerOption.startsWith('file:') || callerOption === '-'
      ? callerOption
      : '(value not shown)';
  const refuse = () =>
    usage(
      `--caller ${shown} holds the signing key, not a caller; pass an identity token (or an agent id) as the caller and keep the key where only agent-safe reads it`,
    );
  for (const source of keySources) {
    if (source.startsWith('env:')) {
      if (callerOption === source) throw refuse();
      const secret = env[source.slice(4)]?.trim();
      if (secret && callerValue !== undefined && callerValue.trim() === secret) throw refuse();
    } else if (source.startsWith('file:') && callerOption.startsWith('file:')) {
      if (samePath(callerOption.slice(5), source.slice(5))) throw refuse();
    }
  }
}

function samePath(first: string, second: string): boolean {
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  };
  return real(first) === real(second);
}

/** `--algorithm`, else agent-safe.yaml's `signing_algorithm`, else HS256. */
export function algorithmOf(flag: string | undefined, config: ProjectConfig): Algorithm {
  const value = flag ?? config.security?.signingAlgorithm ?? 'HS256';
  if (!(ALGORITHMS as readonly string[]).includes(value)) {
    throw usage(`--algorithm must be one of ${ALGORITHMS.join(', ')}, got "${value}"`);
  }
  return value as Algorithm;
}

/**
 * A token argument: the token itself, or `-` to read it from standard input (keeps it out of `ps`),
 * bounded and waiting for a slow producer.
 */
export async function readTokenArgument(
  value: string,
  name: string,
  stdin: NodeJS.ReadableStream,
): Promise<string> {
  const token =
    value === '-' ? (await readInputStream(stdin, `${name} -`, MAX_TOKEN_BYTES)).trim() : value.trim();
  if (token.length === 0) throw usage(`${name} is empty`);
  return token;
}

/** Splits `a,b , c` into `['a','b','c']`. */
export function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** Parses a whole number of seconds. */
export function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw usage(`${flag} must be a whole number of seconds ≥ 1, got "${value}"`);
  return number;
}

/** Flags every identity command shares. */
export interface IdentityFlags {
  readonly config?: string | undefined;
  readonly algorithm?: string | undefined;
  readonly signingKey?: string | undefined;
  /** Only for verifying commands: public keys instead of the signing key. */
  readonly jwks?: string | undefined;
}

/**
 * The identity manager an identity command works with: the pinned algorithm, the issuer of
 * agent-safe.yaml, and either the signing key (to mint or verify) or, for `verify` with `--jwks` or
 * `verification_keys`, public keys only.
 */
export async function openIdentity(flags: IdentityFlags, purpose: 'sign' | 'verify') {
  const { IdentityManager, loadProjectConfig, loadSigningKey, loadVerificationKeys } = await import(
    '@agent-safe/sdk'
  );
  const config = loadProjectConfig({ file: flags.config });
  const algorithm = algorithmOf(flags.algorithm, config);
  const issuer = config.security?.issuer ? { issuer: config.security.issuer } : {};
  const jwksSource =
    purpose === 'verify'
      ? (flags.jwks ?? (flags.signingKey ? undefined : config.security?.verificationKeysSource))
      : undefined;
  if (jwksSource) {
    return IdentityManager.create({
      algorithm,
      ...issuer,
      verificationKeys: await loadVerificationKeys(jwksSource, { algorithm }),
    });
  }
  const signingKey = await loadSigningKey(signingKeySource(flags.signingKey, config), { algorithm });
  return IdentityManager.create({ algorithm, ...issuer, signingKey });
}

/** One outcome of {@link checkConfiguredKeys}: a key setting that loads, or one that does not and why. */
export interface KeyCheck {
  readonly ok: boolean;
  /** The agent-safe.yaml setting: `signing_key`, `verification_keys` or `audit_checkpoints.key`. */
  readonly setting: 'signing_key' | 'verification_keys' | 'audit_checkpoints.key';
  readonly message: string;
}

/**
 * Loads the keys agent-safe.yaml configures, exactly as `check` and the SDK will (same loaders, same
 * checks), so `validate` can say now that every check would DENY: an unset variable, a missing or
 * unreadable file, a file others can read or write, a secret that is too short, a key that does not fit
 * `signing_algorithm`. Messages name the setting and the fix, never key material.
 */
export async function checkConfiguredKeys(config: ProjectConfig): Promise<KeyCheck[]> {
  const checkpoints = await checkCheckpointKey(config);
  const security = config.security;
  if (!security?.signingKeySource && !security?.verificationKeysSource) return checkpoints;
  const { IdentityManager, loadKeyMaterial, loadSigningKey } = await import('@agent-safe/sdk');
  const algorithm = security.signingAlgorithm ?? 'HS256';
  const results: KeyCheck[] = [];
  const reason = (error: unknown) => (error instanceof Error ? error.message : 'the key could not be loaded');
  const fix = 'every check is DENY until it loads';
  let signingKey: Awaited<ReturnType<typeof loadSigningKey>> | undefined;
  let verificationKeys: { keys: unknown[] } | undefined;
  if (security.signingKeySource) {
    try {
      signingKey = await loadSigningKey(security.signingKeySource, { algorithm });
      results.push({
        ok: true,
        setting: 'signing_key',
        message: `${algorithm} signing key loads from ${security.signingKeySource}`,
      });
    } catch (error) {
      results.push({
        ok: false,
        setting: 'signing_key',
        message: `${security.signingKeySource} cannot be used (${fix}): ${reason(error)}`,
      });
    }
  }
  if (security.verificationKeysSource) {
    try {
      // As the SDK reads it: verification_keys must be a JSON Web Key Set.
      const material = await loadKeyMaterial(security.verificationKeysSource);
      if (material.kind !== 'jwks') throw new Error('it is not a JSON Web Key Set ({"keys": [...]})');
      verificationKeys = material.jwks;
      results.push({
        ok: true,
        setting: 'verification_keys',
        message: `a key set of ${material.jwks.keys.length} key(s) loads from ${security.verificationKeysSource}`,
      });
    } catch (error) {
      results.push({
        ok: false,
        setting: 'verification_keys',
        message: `${security.verificationKeysSource} cannot be used (${fix}): ${reason(error)}`,
      });
    }
  }
  if (results.every((result) => result.ok)) {
    try {
      await IdentityManager.create({
        algorithm,
        ...(signingKey ? { signingKey } : {}),
        ...(verificationKeys ? { verificationKeys: verificationKeys as { keys: never[] } } : {}),
        ...(security.issuer ? { issuer: security.issuer } : {}),
      });
    } catch (error) {
      results.push({
        ok: false,
        setting: signingKey ? 'signing_key' : 'verification_keys',
        message: `the configured keys do not work together (${fix}): ${reason(error)}`,
      });
    }
  }
  return [...results, ...checkpoints];
}

/**
 * The audit checkpoint key, loaded as the audit log will load it when it opens: a key that cannot be
 * loaded makes the first check fail closed, so validate says so now.
 */
async function checkCheckpointKey(config: ProjectConfig): Promise<KeyCheck[]> {
  const source = config.auditCheckpoints?.key;
  if (!source) return [];
  const { loadCheckpointKey } = await import('@agent-safe/sdk');
  try {
    const key = await loadCheckpointKey(source, {
      ...(config.auditCheckpoints?.keyId ? { keyId: config.auditCheckpoints.keyId } : {}),
      ...(config.file ? { cwd: dirname(config.file) } : {}),
    });
    return [
      {
        ok: true,
        setting: 'audit_checkpoints.key',
        message: `checkpoint key ${key.keyId} loads from ${source}`,
      },
    ];
  } catch (error) {
    return [
      {
        ok: false,
        setting: 'audit_checkpoints.key',
        message: `${source} cannot be used (checks fail closed until it loads): ${error instanceof Error ? error.message : 'the key could not be loaded'}`,
      },
    ];
  }
}
