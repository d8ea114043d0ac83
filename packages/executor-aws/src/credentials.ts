import { AgentSafeError, Credential, isCredentialHandle } from '@agent-safe/core';

/** The keys an AWS client is given: static keys only, never a provider chain. */
export interface AwsCredentialKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** What an AWS credential's material may hold (STS session keys, as the STS provider issues them). */
export interface AwsCredentialMaterial {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date | string | number;
  readonly region?: string;
}

const ALLOWED = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration', 'region']);

const USAGE =
  'context.credentials must be a Credential whose material is { accessKeyId, secretAccessKey, sessionToken?, ' +
  'expiration?, region? } (the STS provider of @agent-safe/credentials) or a plain object with those keys';

/** Printable ASCII without spaces, bounded: what access keys, secrets and session tokens are made of. */
function isKey(value: unknown, max: number): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) return false;
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    if (code <= 0x20 || code >= 0x7f) return false;
  }
  return true;
}

/** A Credential handle (not plain key material that happens to look like one). */
function isHandle(value: unknown): value is Credential<unknown> {
  return (
    value instanceof Credential ||
    (value !== null &&
      typeof value === 'object' &&
      !Object.hasOwn(value, 'accessKeyId') &&
      isCredentialHandle(value))
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isHandle(value)) return `a Credential of kind ${JSON.stringify(String(value.kind).slice(0, 60))}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Why `material` is not usable AWS keys (naming the key, never a value), or undefined when it is. */
function problem(material: unknown): string | undefined {
  if (material === null || typeof material !== 'object' || Array.isArray(material))
    return 'it is not an object';
  const record = material as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    // `$`-keys are the SDK's own bookkeeping (it marks credential objects it was given with `$source`).
    if (!ALLOWED.has(key) && !key.startsWith('$'))
      return `it has the unknown key ${JSON.stringify(key.slice(0, 60))}`;
  }
  if (!isKey(record.accessKeyId, 128)) return 'its accessKeyId is missing or malformed';
  if (!isKey(record.secretAccessKey, 256)) return 'its secretAccessKey is missing or malformed';
  if (record.sessionToken !== undefined && !isKey(record.sessionToken, 8192))
    return 'its sessionToken is malformed';
  if (
    record.region !== undefined &&
    (typeof record.region !== 'string' || !/^[a-z0-9-]{1,40}$/.test(record.region))
  )
    return 'its region is malformed';
  const expiration = record.expiration;
  if (expiration !== undefined && Number.isNaN(new Date(expiration as string | number | Date).getTime()))
    return 'its expiration is not a date';
  return undefined;
}

/**
 * The static keys of `context.credentials`: a {@link Credential} handle (its material read now, so a
 * revoked or expired handle fails here) or a plain object with those keys. Anything else is refused
 * (fail closed); the error never contains a value. The region in the material (if any) is returned apart.
 */
export function awsCredentialKeys(credentials: unknown): { keys: AwsCredentialKeys; region?: string } {
  let material: unknown = credentials;
  if (isHandle(credentials)) material = credentials.material; // throws (without the value) once revoked
  const why = problem(material);
  if (why !== undefined)
    throw new AgentSafeError('USAGE', `${USAGE}; got ${describe(credentials)} and ${why}`);
  const record = material as AwsCredentialMaterial;
  const keys: AwsCredentialKeys = {
    accessKeyId: record.accessKeyId,
    secretAccessKey: record.secretAccessKey,
    ...(record.sessionToken !== undefined ? { sessionToken: record.sessionToken } : {}),
    ...(record.expiration !== undefined ? { expiration: new Date(record.expiration) } : {}),
  };
  return { keys, ...(record.region !== undefined ? { region: record.region } : {}) };
}
