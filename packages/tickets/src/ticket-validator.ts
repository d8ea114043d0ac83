import type { KeyObject } from 'node:crypto';
import {
  AgentSafeError,
  type AuditSink,
  type Clock,
  type ExecutionTicket,
  type NonceStore,
  type TicketExpectations,
  type TicketFailureCode,
  type TicketValidationResult,
  randomId,
  systemClock,
} from '@agent-safe/core';
import {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_TICKET_ISSUER,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TICKET_LENGTH,
  MAX_TICKET_TTL_SECONDS,
  TICKET_TYPE,
  type TicketAlgorithm,
  isTicketAlgorithm,
} from './constants.js';
import { parseCompactJws, verifyCompactJws } from './compact-jws.js';
import { InMemoryNonceStore } from './in-memory-nonce-store.js';
import { isPlainObject, ticketParamsDigest } from './params-digest.js';
import { type TicketJwks, type TicketKeyInput, isKeyId, readJwks, toKeyObject } from './ticket-keys.js';
import { describe, isIdString, requireIdString, requireIntegerInRange } from './validate-options.js';
import { MAX_TICKET_CHAIN } from './ticket-issuer.js';

/** Options of {@link TicketValidator}. Give exactly one of `key` and `jwks`. */
export interface TicketValidatorOptions {
  /** Pinned algorithm: tickets signed with any other (or `none`) are refused. */
  readonly algorithm: TicketAlgorithm;
  /** HS256: the shared secret. EdDSA / ES256: the public key (a private key is reduced to its public half). */
  readonly key?: TicketKeyInput;
  /** EdDSA / ES256: the issuer's published key set; the ticket's `kid` selects the key. */
  readonly jwks?: TicketJwks;
  /** With `key`: the `kid` tickets must carry (unchecked when omitted). */
  readonly keyId?: string;
  /** Expected `iss`; default `agent-safe`. */
  readonly issuer?: string;
  /** Tolerated clock difference, 0…300 seconds; default 30. */
  readonly clockSkewSeconds?: number;
  /** Records used nonces; default a new {@link InMemoryNonceStore} (single process only). */
  readonly nonceStore?: NonceStore;
  readonly clock?: Clock;
  /** When given, every outcome is appended as a `ticket_validation` event; a failed append refuses the ticket. */
  readonly auditSink?: AuditSink;
  /**
   * The kill switch: called with a ticket that passed every other check, before its nonce is consumed.
   * Returns why the ticket must be refused (its caller, or an agent of its signed delegation chain, is
   * suspended; the suspension list is stale) or undefined. A hook that throws refuses the ticket.
   */
  readonly suspended?: (ticket: ExecutionTicket) => string | undefined;
}

type Failure = {
  readonly valid: false;
  readonly reason: string;
  readonly code: TicketFailureCode;
  readonly ticket?: ExecutionTicket;
};

interface VerificationKey {
  readonly keyId: string | undefined;
  readonly key: KeyObject;
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** What a validator must be told about the request about to run (`caller` is optional). */
const REQUIRED_EXPECTATIONS = ['action', 'target', 'params'] as const;
const decoder = new TextDecoder('utf-8', { fatal: true });

function fail(code: TicketFailureCode, reason: string, ticket?: ExecutionTicket): Failure {
  return ticket === undefined ? { valid: false, reason, code } : { valid: false, reason, code, ticket };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function own(record: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/**
 * Validates execution tickets. `validate` never throws: every problem is a result with a `code` and a
 * `reason`. Checks run cheapest and most fundamental first, and the single-use nonce is consumed LAST,
 * so a ticket refused for any other reason can still be used for the request it was issued for.
 */
export class TicketValidator {
  readonly algorithm: TicketAlgorithm;
  readonly issuer: string;
  readonly clockSkewSeconds: number;
  readonly #keys: readonly VerificationKey[];
  readonly #keyId: string | undefined;
  readonly #fromJwks: boolean;
  readonly #nonceStore: NonceStore;
  readonly #clock: Clock;
  readonly #auditSink: AuditSink | undefined;
  readonly #suspended: ((ticket: ExecutionTicket) => string | undefined) | undefined;

  constructor(options: TicketValidatorOptions) {
    if (!isPlainObject(options)) {
      throw new AgentSafeError('USAGE', 'TicketValidator needs an options object', {
        issues: [{ path: 'options', message: 'pass { algorithm, key | jwks, … }' }],
      });
    }
    if (!isTicketAlgorithm(options.algorithm)) {
      throw new AgentSafeError('USAGE', `Unsupported ticket algorithm ${String(options.algorithm)}`, {
        issues: [{ path: 'algorithm', message: 'expected one of HS256, EdDSA, ES256' }],
      });
    }
    const algorithm = options.algorithm;
    this.algorithm = algorithm;
    this.issuer = requireIdString(options.issuer ?? DEFAULT_TICKET_ISSUER, 'issuer', 'USAGE');
    this.clockSkewSeconds = requireIntegerInRange(
      options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
      'clockSkewSeconds',
      0,
      MAX_CLOCK_SKEW_SECONDS,
    );
    const hasKey = options.key !== undefined;
    const hasJwks = options.jwks !== undefined;
    if (hasKey === hasJwks) {
      throw new AgentSafeError('KEY_INVALID', 'TicketValidator needs exactly one of `key` and `jwks`', {
        issues: [
          {
            path: hasKey ? 'jwks' : 'key',
            message: 'pass the verification key or the issuer JWKS, not both',
          },
        ],
      });
    }
    if (options.keyId !== undefined && (!isKeyId(options.keyId) || hasJwks)) {
      throw new AgentSafeError(
        'USAGE',
        'keyId must be 1-256 printable characters and is only used with `key`',
        {
          issues: [{ path: 'keyId', message: 'with a JWKS the kid of each key selects it' }],
        },
      );
    }
    this.#keyId = options.keyId;
    this.#fromJwks = hasJwks;
    // Checked and imported once here; verifying is then synchronous node:crypto on these KeyObjects.
    this.#keys = hasJwks
      ? readJwks(algorithm, options.jwks)
      : [{ keyId: options.keyId, key: toKeyObject(algorithm, options.key, 'verify') }];
    if (options.nonceStore !== undefined && typeof options.nonceStore?.consume !== 'function') {
      throw new AgentSafeError('USAGE', 'nonceStore must implement consume(nonce, expiresAt)', {
        issues: [
          { path: 'nonceStore', message: 'pass an InMemoryNonceStore, FileNonceStore or another NonceStore' },
        ],
      });
    }
    this.#clock = options.clock ?? systemClock;
    this.#nonceStore = options.nonceStore ?? new InMemoryNonceStore({ clock: this.#clock });
    this.#auditSink = options.auditSink;
    if (options.suspended !== undefined && typeof options.suspended !== 'function') {
      throw new AgentSafeError('USAGE', 'suspended must be a function (ticket) => reason | undefined');
    }
    this.#suspended = options.suspended;
  }

  /**
   * Checks `token` against the key, issuer, time and the request about to run (`expectations`: its
   * `action`, `target` and `params` are required, `caller` is checked when given), then consumes its
   * nonce. Expectations that leave out `action`, `target` or `params` refuse the ticket with
   * `EXPECTATION_MISSING`: the result then carries the verified claims but is never `valid`, and the
   * nonce is not consumed. Never throws; with an audit sink, resolves only after the outcome is recorded.
   */
  async validate(token: unknown, expectations: TicketExpectations): Promise<TicketValidationResult> {
    let result: TicketValidationResult;
    try {
      result = await this.#check(token, expectations);
    } catch (error) {
      // Every expected problem is handled in #check; anything else is a bug and fails closed.
      result = fail(
        'MALFORMED',
        `The ticket could not be validated: ${(error as Error)?.message ?? String(error)}`,
      );
    }
    if (this.#auditSink === undefined) return result;
    return this.#audit(result, expectations);
  }

  /**
   * Like {@link validate} but resolves to the ticket or throws `TICKET_INVALID` (with the failure
   * `code` in `details.code`): for executors that must stop on a bad ticket.
   */
  async require(token: unknown, expectations: TicketExpectations): Promise<ExecutionTicket> {
    const result = await this.validate(token, expectations);
    if (result.valid) return result.ticket;
    throw new AgentSafeError('TICKET_INVALID', `Execution ticket refused: ${result.reason}`, {
      issues: [{ path: 'ticket', message: result.reason }],
      details: { code: result.code },
    });
  }

  async #check(
    token: unknown,
    expectations: TicketExpectations | undefined,
  ): Promise<TicketValidationResult> {
    // 1. Shape and size, before any decoding.
    if (typeof token !== 'string' || token.length === 0)
      return fail('MALFORMED', `The ticket is ${describe(token)}, not a JWT string`);
    if (token.length > MAX_TICKET_LENGTH) {
      return fail(
        'MALFORMED',
        `The ticket is ${token.length} characters; at most ${MAX_TICKET_LENGTH} are accepted`,
      );
    }
    const parsed = parseCompactJws(token);
    if (!parsed.ok) return fail('MALFORMED', parsed.reason);
    const header = parsed.jws.header;

    // 2. Algorithm pinned by configuration, never chosen by the token.
    const alg = own(header, 'alg');
    if (typeof alg !== 'string') return fail('ALGORITHM', 'The ticket header has no "alg"');
    if (alg.toLowerCase() === 'none')
      return fail('ALGORITHM', 'The ticket is unsigned (alg "none"); refused');
    if (alg !== this.algorithm) {
      return fail(
        'ALGORITHM',
        `The ticket is signed with ${alg.slice(0, 32)} but this validator only accepts ${this.algorithm}`,
      );
    }

    // 3. Signature.
    const kid = own(header, 'kid');
    if (kid !== undefined && !isKeyId(kid))
      return fail('MALFORMED', 'The ticket header has an invalid "kid"');
    const selected = this.#selectKey(kid);
    if (typeof selected === 'string') return fail('SIGNATURE', selected);
    const verified = verifyCompactJws(parsed.jws, this.algorithm, selected.key);
    if (!verified.ok) return fail(verified.code, verified.reason);
    const payloadBytes = verified.payload;

    // 4. Type: other JWTs signed with a shared key (agent tokens) are not tickets.
    const typ = own(header, 'typ');
    if (typ !== TICKET_TYPE && typ !== `application/${TICKET_TYPE}`) {
      return fail(
        'TYPE',
        `The token has typ ${describe(typ)}, not "${TICKET_TYPE}": it is not an execution ticket`,
      );
    }
    let claims: Record<string, unknown> | undefined;
    try {
      claims = parseJsonObject(decoder.decode(payloadBytes));
    } catch {
      claims = undefined;
    }
    if (claims === undefined) return fail('MALFORMED', 'The ticket payload is not a JSON object');

    // 5. Issuer.
    const iss = own(claims, 'iss');
    if (iss !== this.issuer)
      return fail('ISSUER', `The ticket issuer is ${describe(iss)}, expected "${this.issuer}"`);

    // 6. Time, with bounded skew.
    const exp = own(claims, 'exp');
    const nbf = own(claims, 'nbf');
    const iat = own(claims, 'iat');
    for (const [name, value] of [
      ['exp', exp],
      ['nbf', nbf],
      ['iat', iat],
    ] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        return fail('MALFORMED', `The ticket claim "${name}" is missing or not a time`);
      }
    }
    const expSeconds = exp as number;
    const nbfSeconds = nbf as number;
    const iatSeconds = iat as number;
    const now = this.#clock.now() / 1000;
    if (!Number.isFinite(now))
      return fail('EXPIRED', 'The validator clock returned an invalid time; refused');
    const skew = this.clockSkewSeconds;
    if (now >= expSeconds + skew) {
      return fail(
        'EXPIRED',
        `The ticket expired at ${new Date(expSeconds * 1000).toISOString()} (clock skew allowed: ${skew}s)`,
      );
    }
    if (nbfSeconds > now + skew || iatSeconds > now + skew) {
      return fail(
        'NOT_YET_VALID',
        `The ticket is not valid before ${new Date(Math.max(nbfSeconds, iatSeconds) * 1000).toISOString()}`,
      );
    }
    if (expSeconds - iatSeconds > MAX_TICKET_TTL_SECONDS || expSeconds < iatSeconds) {
      return fail('MALFORMED', `The ticket lifetime exceeds ${MAX_TICKET_TTL_SECONDS}s`);
    }

    // 7. Required claims, well typed.
    const strings: Record<string, string> = {};
    for (const name of ['sub', 'act', 'tgt', 'aid', 'rev', 'jti']) {
      const value = own(claims, name);
      if (!isIdString(value))
        return fail(
          'MALFORMED',
          `The ticket claim "${name}" is missing or not a string of 1-512 characters without control characters`,
        );
      strings[name] = value;
    }
    const pdg = own(claims, 'pdg');
    if (typeof pdg !== 'string' || !HEX_DIGEST.test(pdg))
      return fail('MALFORMED', 'The ticket claim "pdg" is not a SHA-256 hex digest');
    const dch = own(claims, 'dch');
    if (
      dch !== undefined &&
      (!Array.isArray(dch) || dch.length === 0 || dch.length > MAX_TICKET_CHAIN || !dch.every(isIdString))
    )
      return fail('MALFORMED', `The ticket claim "dch" is not a list of 1-${MAX_TICKET_CHAIN} agent ids`);
    const ticket: ExecutionTicket = {
      token,
      nonce: strings.jti!,
      action: strings.act!,
      target: strings.tgt!,
      caller: strings.sub!,
      ...(dch === undefined ? {} : { delegationChain: dch as string[] }),
      paramsDigest: pdg,
      auditId: strings.aid!,
      policyRevision: strings.rev!,
      issuer: this.issuer,
      issuedAt: iatSeconds * 1000,
      expiresAt: expSeconds * 1000,
    };

    // 8. The request about to be executed.
    const mismatch = this.#compare(ticket, expectations);
    if (mismatch !== undefined) return mismatch;

    // 9. The kill switch: a suspended caller or delegator refuses the ticket (its nonce stays unspent).
    if (this.#suspended !== undefined) {
      let refusal: string | undefined;
      try {
        refusal = this.#suspended(ticket);
      } catch (error) {
        refusal = `The suspension list could not be consulted: ${(error as Error)?.message ?? String(error)}`;
      }
      if (refusal !== undefined) return fail('SUSPENDED', refusal, ticket);
    }

    // 10. Single use, last: only a ticket that passed every other check burns its nonce. The store
    // keeps the nonce until the ticket is dead even for a validator whose clock lags by the full skew.
    let fresh: boolean;
    try {
      fresh = await this.#nonceStore.consume(ticket.nonce, (expSeconds + skew) * 1000);
    } catch (error) {
      return fail(
        'NONCE_STORE',
        `The nonce store failed, so single use cannot be guaranteed: ${(error as Error)?.message ?? String(error)}`,
        ticket,
      );
    }
    if (fresh !== true) return fail('REPLAYED', `The ticket ${ticket.nonce} was already used`, ticket);
    return { valid: true, reason: `Valid ticket for ${ticket.action} on ${ticket.target}`, ticket };
  }

  #selectKey(kid: string | undefined): VerificationKey | string {
    if (!this.#fromJwks) {
      if (this.#keyId !== undefined && kid !== this.#keyId) {
        return `The ticket key id ${describe(kid)} is not the configured key id "${this.#keyId}"`;
      }
      return this.#keys[0]!;
    }
    if (kid === undefined) {
      if (this.#keys.length === 1) return this.#keys[0]!;
      return `The ticket has no "kid" and the key set has ${this.#keys.length} keys`;
    }
    return this.#keys.find((entry) => entry.keyId === kid) ?? `No key with kid "${kid}" in the key set`;
  }

  #compare(ticket: ExecutionTicket, expectations: TicketExpectations | undefined): Failure | undefined {
    if (expectations === undefined || !isPlainObject(expectations)) {
      return fail(
        'EXPECTATION_MISSING',
        `The validator was not told which request the ticket is for (expectations are ${describe(expectations)}); pass { action, target, params } of the request about to run`,
        ticket,
      );
    }
    const missing = REQUIRED_EXPECTATIONS.filter((field) => own(expectations, field) === undefined);
    if (missing.length > 0) {
      return fail(
        'EXPECTATION_MISSING',
        `The expected ${missing.join(', ')} ${missing.length === 1 ? 'was' : 'were'} not given, so the ticket was not checked against the request; pass ${missing.map((field) => `\`${field}\``).join(', ')} of the request about to run (params: {} when it has none)`,
        ticket,
      );
    }
    const checks = [
      ['action', 'ACTION_MISMATCH', ticket.action],
      ['target', 'TARGET_MISMATCH', ticket.target],
      ['caller', 'CALLER_MISMATCH', ticket.caller],
    ] as const;
    for (const [field, code, actual] of checks) {
      const expected = own(expectations, field);
      if (expected === undefined) continue;
      if (typeof expected !== 'string')
        return fail(code, `The expected ${field} is ${describe(expected)}, not a string`, ticket);
      if (expected !== actual) {
        return fail(code, `The ticket is for ${field} "${actual}", not "${expected.slice(0, 512)}"`, ticket);
      }
    }
    const params = own(expectations, 'params');
    let digest: string;
    try {
      digest = ticketParamsDigest(params as Record<string, unknown>);
    } catch (error) {
      return fail(
        'PARAMS_MISMATCH',
        `The params to execute cannot be digested: ${(error as Error).message}`,
        ticket,
      );
    }
    if (digest !== ticket.paramsDigest) {
      return fail(
        'PARAMS_MISMATCH',
        'The params to execute differ from the params the ticket was issued for',
        ticket,
      );
    }
    return undefined;
  }

  async #audit(
    result: TicketValidationResult,
    expectations: TicketExpectations | undefined,
  ): Promise<TicketValidationResult> {
    const ticket = result.ticket;
    const expected = isPlainObject(expectations) ? expectations : {};
    // Claims of a ticket whose signature did not verify are attacker-controlled: record only what the
    // executor expected, never unverified claims.
    const pick = (field: 'action' | 'target' | 'caller'): string | undefined => {
      const value = ticket?.[field] ?? own(expected, field);
      return isIdString(value) ? value : undefined;
    };
    const action = pick('action');
    const target = pick('target');
    const caller = pick('caller');
    try {
      await this.#auditSink!.append({
        event_id: randomId('evt'),
        timestamp: new Date(this.#clock.now()).toISOString(),
        event_type: 'ticket_validation',
        ...(action === undefined ? {} : { action }),
        ...(target === undefined ? {} : { target }),
        ...(caller === undefined ? {} : { caller }),
        decision: result.valid ? 'VALID' : 'INVALID',
        reason: result.reason,
        ticket_nonce: ticket?.nonce ?? null,
        audit_ref: ticket?.auditId ?? null,
        failure_code: result.valid ? null : result.code,
        ...(ticket === undefined ? {} : { policy_revision: ticket.policyRevision }),
      });
    } catch (error) {
      // Fail closed: an execution nobody can later account for is not allowed. (The nonce, if consumed,
      // stays consumed: the caller must obtain a new ticket.)
      return fail(
        'AUDIT',
        `The ticket validation could not be written to the audit log (${(error as Error)?.message ?? String(error)}); refused`,
        ticket,
      );
    }
    return result;
  }
}
