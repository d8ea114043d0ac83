import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { AuditEvent, AuditEventBody, AuditSink } from '@agent-safe/core';
import { AUDIT_GENESIS_HASH } from '@agent-safe/core';

/** A tiny in-memory AuditSink (the audit package is not a dependency of tickets). */
export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEventBody[] = [];
  failWith: Error | undefined;

  async append(event: AuditEventBody): Promise<AuditEvent> {
    if (this.failWith) throw this.failWith;
    this.events.push(event);
    return { ...event, sequence: this.events.length, prev_hash: AUDIT_GENESIS_HASH, hash: 'x'.repeat(64) };
  }

  async close(): Promise<void> {}
}

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const OTHER_SECRET = 'another-secret-0123456789-abcdefghijklmn';

export const START = Date.UTC(2025, 0, 15, 12, 0, 0);

export const PARAMS = {
  namespace: 'dev',
  deployment: 'app',
  replicas: 3,
  labels: { team: 'a', tier: 'web' },
};

export const REQUEST = {
  action: 'restart-deployment',
  target: 'dev/test-app',
  caller: 'agent-01',
  params: PARAMS,
  auditId: 'evt-0001',
  policyRevision: 'rev-42',
};

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function ed25519(): KeyPair {
  return generateKeyPairSync('ed25519');
}

export function p256(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** base64url of JSON, for hand-crafted tokens. */
export function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Claims of a well-formed ticket at `START`. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(START / 1000);
  return {
    iss: 'agent-safe',
    sub: 'agent-01',
    act: 'restart-deployment',
    tgt: 'dev/test-app',
    pdg: 'a'.repeat(64),
    aid: 'evt-1',
    rev: 'rev-1',
    jti: 'nonce-1',
    iat,
    nbf: iat,
    exp: iat + 300,
    ...overrides,
  };
}

/** What an executor running {@link REQUEST} tells the validator. */
export const EXPECTED = { action: REQUEST.action, target: REQUEST.target, params: PARAMS };
