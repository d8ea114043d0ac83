import {
  AgentSafeError,
  type AuditSink,
  type Caller,
  type Clock,
  type NonceStore,
  type DecisionError,
  type ExecutionTicket,
  anonymousCaller,
} from '@agent-safe/core';
import {
  type IdentityAlgorithm,
  IdentityManager,
  type JSONWebKeySet,
  type KeyMaterial,
  type SigningKey,
  createSigningKey,
  loadKeyMaterial,
  looksLikeToken,
} from '@agent-safe/identity';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';

/** Identity and execution-ticket settings of {@link AgentSafe}. */
export interface SecurityOptions {
  /**
   * The signing key itself: an HS256 secret (at least 32 bytes), or a PKCS#8 PEM / private JWK for
   * EdDSA and ES256. Enables identity tokens as callers and, on ALLOW, signed execution tickets.
   */
  readonly signingKey?: string | Uint8Array | Record<string, unknown>;
  /** Where to read the signing key: `env:NAME` or `file:PATH` (what agent-safe.yaml and the CLI use). */
  readonly signingKeySource?: string;
  /** Default HS256. */
  readonly signingAlgorithm?: IdentityAlgorithm;
  /** Public keys only: callers' tokens are verified, but nothing can be minted (no tickets either). */
  readonly verificationKeys?: JSONWebKeySet;
  /** Where to read the verification JWKS: `env:NAME` or `file:PATH`. */
  readonly verificationKeysSource?: string;
  /** `iss` of tokens and tickets; default `agent-safe`. */
  readonly issuer?: string;
  /**
   * Accept plain agent ids (and in-process Caller objects) as callers although identity is configured.
   * They are recorded as unauthenticated. Default false: only verified tokens are accepted.
   */
  readonly allowPlainCallers?: boolean;
  /** Lifetime of execution tickets; default 300 (5 minutes), at most 3600. */
  readonly ticketTtlSeconds?: number;
  /** Issue execution tickets on ALLOW when a signing key is configured; default true. */
  readonly tickets?: boolean;
}

/** How a request's caller was resolved. */
export type CallerResolution =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly caller: Caller; readonly error: DecisionError };

/** The identity manager and ticket issuer built from {@link SecurityOptions}. */
export class Security {
  readonly identity: IdentityManager;
  readonly tickets: TicketIssuer | undefined;
  readonly allowPlainCallers: boolean;
  readonly #signingKey: SigningKey | undefined;
  readonly #issuer: string | undefined;

  private constructor(
    identity: IdentityManager,
    tickets: TicketIssuer | undefined,
    allowPlainCallers: boolean,
    signingKey: SigningKey | undefined,
    issuer: string | undefined,
  ) {
    this.identity = identity;
    this.tickets = tickets;
    this.allowPlainCallers = allowPlainCallers;
    this.#signingKey = signingKey;
    this.#issuer = issuer;
  }

  /** A validator for tickets this layer issues (same algorithm, key and issuer). */
  createValidator(options: {
    nonceStore?: NonceStore;
    clockSkewSeconds?: number;
    clock: Clock;
    auditSink?: AuditSink;
  }): TicketValidator {
    if (!this.#signingKey || !this.tickets) {
      throw new AgentSafeError(
        'USAGE',
        'no ticket signing key is configured, so there are no tickets to validate',
      );
    }
    const algorithm = this.#signingKey.algorithm;
    return new TicketValidator({
      algorithm,
      ...(algorithm === 'HS256' ? { key: this.#signingKey.privateKey } : { jwks: this.tickets.jwks() }),
      ...(this.#issuer ? { issuer: this.#issuer } : {}),
      ...options,
    });
  }

  /** Whether the options configure identity at all. */
  static configured(options: SecurityOptions): boolean {
    return (
      options.signingKey !== undefined ||
      options.signingKeySource !== undefined ||
      options.verificationKeys !== undefined ||
      options.verificationKeysSource !== undefined
    );
  }

  /** Imports keys once. Throws KEY_INVALID naming the source for unusable key material. */
  static async create(options: SecurityOptions, clock: Clock, cwd: string): Promise<Security> {
    const algorithm = options.signingAlgorithm ?? 'HS256';
    let signingKey: SigningKey | undefined;
    if (options.signingKey !== undefined || options.signingKeySource !== undefined) {
      const material: KeyMaterial | string | Uint8Array | Record<string, unknown> =
        options.signingKeySource !== undefined
          ? await loadKeyMaterial(options.signingKeySource, { cwd })
          : options.signingKey!;
      signingKey = await createSigningKey({ algorithm, material: material as KeyMaterial });
    }
    let verificationKeys: JSONWebKeySet | undefined = options.verificationKeys;
    if (options.verificationKeysSource !== undefined) {
      const material = await loadKeyMaterial(options.verificationKeysSource, { cwd });
      if (material.kind !== 'jwks') {
        throw new AgentSafeError(
          'KEY_INVALID',
          `${options.verificationKeysSource} is not a JSON Web Key Set`,
          {
            issues: [{ file: material.source, message: 'expected {"keys": [...]} with public keys' }],
          },
        );
      }
      verificationKeys = material.jwks;
    }
    const identity = await IdentityManager.create({
      algorithm,
      ...(signingKey ? { signingKey } : {}),
      ...(verificationKeys ? { verificationKeys } : {}),
      ...(options.issuer ? { issuer: options.issuer } : {}),
      clock,
    });
    const tickets =
      signingKey && options.tickets !== false
        ? new TicketIssuer({
            algorithm,
            key: signingKey.privateKey,
            keyId: signingKey.keyId,
            ...(options.issuer ? { issuer: options.issuer } : {}),
            ...(options.ticketTtlSeconds !== undefined ? { ttlSeconds: options.ticketTtlSeconds } : {}),
            clock,
          })
        : undefined;
    return new Security(identity, tickets, options.allowPlainCallers === true, signingKey, options.issuer);
  }

  /**
   * A token caller is always verified and never falls back to a plain id. Plain ids and in-process
   * Caller objects are accepted only when `allowPlainCallers` is set, and are never authenticated.
   */
  async resolveCaller(caller: unknown, plain: (caller: unknown) => Caller): Promise<CallerResolution> {
    if (typeof caller === 'string' && looksLikeToken(caller)) {
      const verified = await this.identity.verify(caller);
      if (verified.ok) return { ok: true, caller: verified.caller };
      return {
        ok: false,
        caller: UNVERIFIED,
        error: {
          code: 'IDENTITY_INVALID',
          path: 'caller',
          message: `identity token refused (${verified.code}): ${verified.reason}`,
        },
      };
    }
    if (this.allowPlainCallers) return { ok: true, caller: plain(caller) };
    return {
      ok: false,
      caller: plain(caller),
      error: {
        code: 'IDENTITY_INVALID',
        path: 'caller',
        message:
          'an identity token is required as the caller (plain agent ids are not accepted when identity is configured; set allowPlainCallers / allow_plain_callers: true to accept them unauthenticated)',
      },
    };
  }

  /** Issues the execution ticket for an ALLOW. */
  issueTicket(input: {
    action: string;
    target: string;
    caller: string;
    params: Readonly<Record<string, unknown>>;
    auditId: string;
    policyRevision: string;
  }): Promise<ExecutionTicket> | undefined {
    return this.tickets?.issue({ ...input, params: input.params as Record<string, unknown> });
  }
}

/** Recorded as the caller of a request whose token failed verification: its claims are not trusted. */
const UNVERIFIED: Caller = Object.freeze(anonymousCaller('(unverified token)'));
