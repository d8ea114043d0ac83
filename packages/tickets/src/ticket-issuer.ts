import { type KeyObject, randomBytes } from 'node:crypto';
import { AgentSafeError, type Clock, type ExecutionTicket, systemClock } from '@agent-safe/core';
import type { JSONWebKeySet } from 'jose';
import { encodeSegment, signCompactJws } from './compact-jws.js';
import {
  DEFAULT_TICKET_ISSUER,
  DEFAULT_TICKET_TTL_SECONDS,
  MAX_TICKET_TTL_SECONDS,
  TICKET_TYPE,
  type TicketAlgorithm,
  isTicketAlgorithm,
} from './constants.js';
import { isPlainObject, ticketParamsDigest } from './params-digest.js';
import { type TicketKeyInput, isKeyId, keyThumbprint, publicJwk, toKeyObject } from './ticket-keys.js';
import { requireIdString, requireIntegerInRange } from './validate-options.js';

/** Options of {@link TicketIssuer}. */
export interface TicketIssuerOptions {
  /** Pinned signature algorithm. */
  readonly algorithm: TicketAlgorithm;
  /** HS256: the shared secret (≥ 32 bytes). EdDSA / ES256: the private key. */
  readonly key: TicketKeyInput;
  /** `kid` header; defaults to the key's RFC 7638 thumbprint. */
  readonly keyId?: string;
  /** `iss` claim; default `agent-safe`. */
  readonly issuer?: string;
  /** Ticket lifetime, 1…3600 seconds; default 300. */
  readonly ttlSeconds?: number;
  readonly clock?: Clock;
}

/** The allowed request a ticket is issued for. */
export interface TicketRequest {
  readonly action: string;
  readonly target: string;
  /** Agent id of the caller. */
  readonly caller: string;
  /** The validated params; only their canonical digest goes into the ticket. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Audit event id of the ALLOW decision. */
  readonly auditId: string;
  readonly policyRevision: string;
  /**
   * Agent ids of the caller's verified delegation chain, signed into the ticket (claim `dch`) so that
   * suspending a delegator also refuses its delegates' tickets. Omit or pass `[]` for a direct caller.
   */
  readonly delegationChain?: readonly string[];
}

/** Longest delegation chain signed into a ticket (identity caps delegation depth well below this). */
export const MAX_TICKET_CHAIN = 16;

let noncePool = Buffer.alloc(0);
let nonceOffset = 0;

/** 128 random bits as hex, drawn from a pooled buffer (one syscall per 256 tickets). */
function randomNonce(): string {
  if (nonceOffset + 16 > noncePool.length) {
    noncePool = randomBytes(4096);
    nonceOffset = 0;
  }
  const nonce = noncePool.toString('hex', nonceOffset, nonceOffset + 16);
  nonceOffset += 16;
  return nonce;
}

/**
 * Mints signed single-use execution tickets. The key is checked at construction (a wrong key throws
 * `KEY_INVALID` there, not on first use) and imported once; signing is synchronous node:crypto.
 */
export class TicketIssuer {
  readonly algorithm: TicketAlgorithm;
  readonly keyId: string;
  readonly issuer: string;
  readonly ttlSeconds: number;
  readonly #clock: Clock;
  readonly #keyObject: KeyObject;
  /** The protected header is the same for every ticket, so it is serialised once. */
  readonly #encodedHeader: string;

  constructor(options: TicketIssuerOptions) {
    if (!isPlainObject(options)) {
      throw new AgentSafeError('USAGE', 'TicketIssuer needs an options object', {
        issues: [{ path: 'options', message: 'pass { algorithm, key, … }' }],
      });
    }
    if (!isTicketAlgorithm(options.algorithm)) {
      throw new AgentSafeError('USAGE', `Unsupported ticket algorithm ${String(options.algorithm)}`, {
        issues: [{ path: 'algorithm', message: 'expected one of HS256, EdDSA, ES256' }],
      });
    }
    this.algorithm = options.algorithm;
    this.issuer = requireIdString(options.issuer ?? DEFAULT_TICKET_ISSUER, 'issuer', 'USAGE');
    this.ttlSeconds = requireIntegerInRange(
      options.ttlSeconds ?? DEFAULT_TICKET_TTL_SECONDS,
      'ttlSeconds',
      1,
      MAX_TICKET_TTL_SECONDS,
    );
    this.#clock = options.clock ?? systemClock;
    this.#keyObject = toKeyObject(this.algorithm, options.key, 'sign');
    if (options.keyId !== undefined && !isKeyId(options.keyId)) {
      throw new AgentSafeError('USAGE', 'keyId must be 1-256 printable ASCII characters', {
        issues: [{ path: 'keyId', message: 'use a short label such as "tickets-2025-01"' }],
      });
    }
    this.keyId = options.keyId ?? keyThumbprint(this.#keyObject);
    this.#encodedHeader = encodeSegment(
      JSON.stringify({ alg: this.algorithm, typ: TICKET_TYPE, kid: this.keyId }),
    );
  }

  /** Signs a ticket for exactly this request. Throws `INPUT_INVALID` for a malformed request. */
  async issue(request: TicketRequest): Promise<ExecutionTicket> {
    if (!isPlainObject(request)) {
      throw new AgentSafeError('INPUT_INVALID', 'issue() needs a request object', {
        issues: [
          { path: 'request', message: 'pass { action, target, caller, params, auditId, policyRevision }' },
        ],
      });
    }
    const action = requireIdString(request.action, 'action');
    const target = requireIdString(request.target, 'target');
    const caller = requireIdString(request.caller, 'caller');
    const auditId = requireIdString(request.auditId, 'auditId');
    const policyRevision = requireIdString(request.policyRevision, 'policyRevision');
    const paramsDigest = ticketParamsDigest(request.params);
    const chain = request.delegationChain ?? [];
    if (!Array.isArray(chain) || chain.length > MAX_TICKET_CHAIN) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        `delegationChain must be an array of at most ${MAX_TICKET_CHAIN} agent ids`,
        {
          issues: [{ path: 'delegationChain', message: 'pass the agent ids of the verified chain' }],
        },
      );
    }
    const delegationChain = chain.map((id, index) => requireIdString(id, `delegationChain[${index}]`));
    const now = this.#clock.now();
    if (!Number.isFinite(now) || now < 0) {
      throw new AgentSafeError('INTERNAL', 'The clock returned an invalid time', {
        issues: [{ path: 'clock', message: `expected milliseconds since the epoch, got ${now}` }],
      });
    }
    const issuedAt = Math.floor(now / 1000);
    const expiresAt = issuedAt + this.ttlSeconds;
    const nonce = randomNonce();
    const claims = {
      iss: this.issuer,
      sub: caller,
      act: action,
      tgt: target,
      pdg: paramsDigest,
      aid: auditId,
      rev: policyRevision,
      jti: nonce,
      iat: issuedAt,
      nbf: issuedAt,
      exp: expiresAt,
      // Only when delegated: a direct caller's ticket stays as before.
      ...(delegationChain.length > 0 ? { dch: delegationChain } : {}),
    };
    let token: string;
    try {
      token = signCompactJws({
        algorithm: this.algorithm,
        key: this.#keyObject,
        encodedHeader: this.#encodedHeader,
        payload: JSON.stringify(claims),
      });
    } catch (error) {
      throw new AgentSafeError('KEY_INVALID', 'The ticket could not be signed with the configured key', {
        cause: error,
        issues: [{ path: 'key', message: (error as Error).message }],
      });
    }
    return {
      token,
      nonce,
      action,
      target,
      caller,
      ...(delegationChain.length > 0 ? { delegationChain } : {}),
      paramsDigest,
      auditId,
      policyRevision,
      issuer: this.issuer,
      issuedAt: issuedAt * 1000,
      expiresAt: expiresAt * 1000,
    };
  }

  /**
   * The public key set executors verify with (`{ keys: [ { kty, crv, x, …, kid, alg, use } ] }`).
   * Throws `KEY_INVALID` for HS256, whose key is a shared secret and must never be published.
   */
  jwks(): JSONWebKeySet {
    if (this.algorithm === 'HS256') {
      throw new AgentSafeError('KEY_INVALID', 'An HS256 issuer has no public key to publish', {
        issues: [
          { path: 'algorithm', message: 'use EdDSA or ES256 so executors can verify without the secret' },
        ],
      });
    }
    return { keys: [publicJwk(this.algorithm, this.#keyObject, this.keyId)] };
  }
}
