import { timingSafeEqual } from 'node:crypto';
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
  IdentityManager,
  type JSONWebKeySet,
  type KeyMaterial,
  type SigningKey,
  createSigningKey,
  loadKeyMaterial,
  looksLikeToken,
} from '@agent-safe/identity';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import type { SecurityOptions } from './security-options.js';

export type { SecurityOptions } from './security-options.js';

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
  /** The HS256 secret's bytes, to recognise (never to log) a caller that is the secret itself. */
  #secret: Uint8Array | undefined;

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
    /** The kill switch's hook (TicketValidatorOptions.suspended). */
    suspended?: (ticket: ExecutionTicket) => string | undefined;
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

  /** Imports keys once. Throws KEY_INVALID naming the source for unusable key material. */
  static async create(options: SecurityOptions, clock: Clock, cwd: string): Promise<Security> {
    const algorithm = options.signingAlgorithm ?? 'HS256';
    let signingKey: SigningKey | undefined;
    let secret: Uint8Array | undefined;
    if (options.signingKey !== undefined || options.signingKeySource !== undefined) {
      const material: KeyMaterial | string | Uint8Array | Record<string, unknown> =
        options.signingKeySource !== undefined
          ? await loadKeyMaterial(options.signingKeySource, { cwd })
          : options.signingKey!;
      signingKey = await createSigningKey({ algorithm, material: material as KeyMaterial });
      secret =
        typeof material === 'string'
          ? new TextEncoder().encode(material.trim())
          : material instanceof Uint8Array
            ? material
            : (material as KeyMaterial).kind === 'secret'
              ? (material as { secret: Uint8Array }).secret
              : undefined;
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
    const security = new Security(
      identity,
      tickets,
      options.allowPlainCallers === true,
      signingKey,
      options.issuer,
    );
    if (algorithm === 'HS256') security.#secret = secret;
    return security;
  }

  /**
   * True when `text` is the HS256 signing secret (a caller id read from the wrong variable or file):
   * such a value is refused and never recorded. Compared in constant time.
   */
  revealsSecret(text: string): boolean {
    const secret = this.#secret;
    if (!secret) return false;
    const given = Buffer.from(text.trim(), 'utf8');
    return given.length === secret.length && timingSafeEqual(given, secret);
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
    /** The caller's verified delegation chain: signed into the ticket for the kill switch. */
    delegationChain?: readonly { readonly agentId: string }[];
  }): Promise<ExecutionTicket> | undefined {
    const { delegationChain, ...request } = input;
    return this.tickets?.issue({
      ...request,
      params: input.params as Record<string, unknown>,
      ...(delegationChain && delegationChain.length > 0
        ? { delegationChain: delegationChain.map((link) => link.agentId) }
        : {}),
    });
  }
}

/** Recorded as the caller of a request whose token failed verification: its claims are not trusted. */
const UNVERIFIED: Caller = Object.freeze(anonymousCaller('(unverified token)'));
