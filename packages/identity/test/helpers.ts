import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';

/** A 48-byte HS256 secret used only by tests. */
export const SECRET = 'test-secret-for-identity-tokens-0123456789-abcdef';

export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

/** base64url of a JSON value. */
export function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes the payload of a compact JWT without verifying it. */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** Valid identity claims at `nowSeconds`, to be altered by a test. */
export function claims(nowSeconds: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'agent-1',
    agent_id: 'agent-1',
    roles: ['reader'],
    groups: [],
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 600,
    iss: 'agent-safe',
    aud: 'agent-safe',
    jti: 'id-test',
    ...extra,
  };
}

/** Signs arbitrary claims with the test secret (a holder of the key minting by hand). */
export async function signHs256(
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'agent-safe-id+jwt', kid: 'default', ...header })
    .sign(new TextEncoder().encode(SECRET));
}

/** HMAC-SHA256 over header.payload with arbitrary key bytes (for algorithm-confusion attacks). */
export function hmacToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: string | Buffer,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}
