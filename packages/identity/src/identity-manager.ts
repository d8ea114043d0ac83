import {
  AgentSafeError,
  type Caller,
  type Clock,
  type DelegationLink,
  randomId,
  systemClock,
} from '@agent-safe/core';
import { errors, type CryptoKey, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import {
  DEFAULT_DELEGATION_DEPTH,
  DEFAULT_TOKEN_TTL_SECONDS,
  IDENTITY_TOKEN_TYPE,
  type IdentityAlgorithm,
  isIdentityAlgorithm,
  MAX_DELEGATION_DEPTH,
  MAX_TOKEN_LENGTH,
  MAX_TOKEN_TTL_SECONDS,
} from './algorithms.js';
import { createVerificationKeys, publicJwks, type SigningKey, type VerificationKey } from './keys.js';
import {
  type IdentityClaims,
  idProblem,
  isId,
  readIdentityClaims,
  readScope,
  scopeProblem,
} from './token-claims.js';
import { VerificationCache, type VerificationCacheStats } from './verification-cache.js';

/** Why a token was refused. */
export type IdentityFailureCode =
  | 'MALFORMED'
  | 'TOO_LARGE'
  | 'ALGORITHM'
  | 'KEY_UNKNOWN'
  | 'SIGNATURE'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'ISSUER'
  | 'AUDIENCE'
  | 'TYPE'
  | 'CLAIMS'
  | 'DELEGATION';

/** A refused token. `reason` says what was wrong, for logs and DENY decisions. */
export interface IdentityFailure {
  readonly ok: false;
  readonly code: IdentityFailureCode;
  readonly reason: string;
}

/** A token that verified, with its chain verified link by link. */
export interface IdentityVerified {
  readonly ok: true;
  /** `authenticated: true`; `delegationChain` lists the ancestors root first. */
  readonly caller: Caller;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** The token's `jti`. */
  readonly tokenId: string;
  /** Number of delegation hops above this token (0 for a token from `createToken`). */
  readonly delegationDepth: number;
  /** Most hops the chain may reach (the most restrictive `max_depth` along it). */
  readonly maxDelegationDepth: number;
}

/** Outcome of {@link IdentityManager.verify}. Never thrown. */
export type IdentityVerificationResult = IdentityVerified | IdentityFailure;

/** Options of {@link IdentityManager.create}. */
export interface IdentityManagerOptions {
  /** The one algorithm tokens must use; anything else (including `none`) is refused. */
  readonly algorithm: IdentityAlgorithm;
  /** Needed to mint tokens and delegate. A verifier-only manager omits it. */
  readonly signingKey?: SigningKey;
  /** Keys that verify; default: the signing key's. A public JWKS makes a verifier that cannot mint. */
  readonly verificationKeys?: JSONWebKeySet | readonly VerificationKey[];
  /** `iss` written and required; default `agent-safe`. */
  readonly issuer?: string;
  /** `aud` written and required; default `agent-safe`. */
  readonly audience?: string;
  /** Allowed clock skew for `exp` and `nbf`, 0–300 seconds; default 30. */
  readonly clockToleranceSeconds?: number;
  /** Longest token lifetime accepted when minting and verifying; default and cap 24 h. */
  readonly maxTtlSeconds?: number;
  readonly clock?: Clock;
  /** Most verified tokens cached; default 10 000, 0 disables the cache. */
  readonly cacheMaxEntries?: number;
}

/** Input of {@link IdentityManager.createToken}. */
export interface CreateTokenOptions {
  readonly agentId: string;
  readonly agentName?: string;
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
  /** Lifetime in seconds; default 3600, at most `maxTtlSeconds`. */
  readonly ttl?: number;
  /** Most delegation hops below this token (0–10); omitted means only the hard cap of 10 applies. */
  readonly maxDelegationDepth?: number;
}

/** Input of {@link IdentityManager.delegate}. */
export interface DelegateOptions {
  readonly parentToken: string;
  readonly childAgentId: string;
  readonly childAgentName?: string;
  /** Must be a subset of the parent's roles; default: all of them. */
  readonly childRoles?: readonly string[];
  /** Must be a subset of the parent's groups; default: all of them. */
  readonly childGroups?: readonly string[];
  /**
   * Lifetime in seconds. When given and longer than the parent's remaining life, the delegation is
   * refused; when omitted, the child gets min(1 h, the parent's remaining life).
   */
  readonly ttl?: number;
  /** Most hops the chain may reach (1–10, default 3); it may lower the chain's limit, never raise it. */
  readonly maxDepth?: number;
}

/** Outcome of {@link IdentityManager.delegate}. A refusal is data, not an exception. */
export type DelegationResult =
  | {
      readonly success: true;
      readonly token: string;
      /** The ancestors of the new token, root first (the parent is last). */
      readonly chain: readonly DelegationLink[];
      /** Milliseconds since the epoch. */
      readonly expiresAt: number;
      readonly depth: number;
      readonly maxDepth: number;
    }
  | {
      readonly success: false;
      readonly code: IdentityFailureCode | 'INPUT_INVALID';
      readonly reason: string;
    };

/** Outcome of {@link IdentityManager.verifyDelegation}: a verification plus the chain for display. */
export type DelegationVerificationResult =
  | (IdentityVerified & { readonly chain: readonly DelegationLink[] })
  | IdentityFailure;

interface VerifiedRecord {
  readonly claims: IdentityClaims;
  readonly result: IdentityVerified;
}

type LevelOutcome = { readonly ok: true; readonly record: VerifiedRecord } | IdentityFailure;

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * True when `part` (only base64url characters) is the one canonical unpadded encoding of its bytes: not
 * 4n+1 long, and the bits of its last character beyond the data are zero (RFC 4648 §3.5). jose, like
 * every decoder, ignores those bits, so without this a token has several spellings that all verify.
 */
export function isCanonicalBase64url(part: string): boolean {
  const remainder = part.length % 4;
  if (remainder === 0) return true;
  if (remainder === 1) return false;
  const last = BASE64URL_ALPHABET.indexOf(part[part.length - 1]!);
  return (last & (remainder === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Mints and verifies agent identity tokens and delegation chains. Build it with
 * {@link IdentityManager.create} (keys are imported once there). `verify` never throws: a bad token
 * is an {@link IdentityFailure} with a specific reason, never a fallback to a plain agent id.
 */
export class IdentityManager {
  readonly algorithm: IdentityAlgorithm;
  readonly issuer: string;
  readonly audience: string;
  readonly #signingKey: SigningKey | undefined;
  readonly #keys: ReadonlyMap<string, VerificationKey>;
  readonly #tolerance: number;
  readonly #maxTtl: number;
  readonly #clock: Clock;
  readonly #cache: VerificationCache<VerifiedRecord>;

  private constructor(options: IdentityManagerOptions, keys: readonly VerificationKey[]) {
    this.algorithm = options.algorithm;
    this.issuer = options.issuer ?? 'agent-safe';
    this.audience = options.audience ?? 'agent-safe';
    this.#signingKey = options.signingKey;
    this.#keys = new Map(keys.map((key) => [key.keyId, key]));
    this.#tolerance = options.clockToleranceSeconds ?? 30;
    this.#maxTtl = options.maxTtlSeconds ?? MAX_TOKEN_TTL_SECONDS;
    this.#clock = options.clock ?? systemClock;
    this.#cache = new VerificationCache({ maxEntries: options.cacheMaxEntries ?? 10_000 });
  }

  /** Validates the options and imports the verification keys once. Throws `KEY_INVALID` / `USAGE`. */
  static async create(options: IdentityManagerOptions): Promise<IdentityManager> {
    if (options === null || typeof options !== 'object') throw usage('options must be an object', 'options');
    if (!isIdentityAlgorithm(options.algorithm)) {
      throw new AgentSafeError(
        'KEY_INVALID',
        `Algorithm ${JSON.stringify(String(options.algorithm))} is not supported`,
        {
          issues: [{ message: 'expected HS256, EdDSA or ES256', path: 'algorithm' }],
        },
      );
    }
    for (const field of ['issuer', 'audience'] as const) {
      const value = options[field];
      if (value !== undefined && !isId(value)) throw usage(`${field} must be a non-empty string`, field);
    }
    const tolerance = options.clockToleranceSeconds;
    if (tolerance !== undefined && !(Number.isInteger(tolerance) && tolerance >= 0 && tolerance <= 300)) {
      throw usage('clockToleranceSeconds must be an integer from 0 to 300', 'clockToleranceSeconds');
    }
    const maxTtl = options.maxTtlSeconds;
    if (
      maxTtl !== undefined &&
      !(Number.isInteger(maxTtl) && maxTtl > 0 && maxTtl <= MAX_TOKEN_TTL_SECONDS)
    ) {
      throw usage(`maxTtlSeconds must be an integer from 1 to ${MAX_TOKEN_TTL_SECONDS}`, 'maxTtlSeconds');
    }
    const signing = options.signingKey;
    if (signing !== undefined && signing.algorithm !== options.algorithm) {
      throw new AgentSafeError(
        'KEY_INVALID',
        `The signing key is for ${signing.algorithm} but the manager is configured for ${options.algorithm}`,
        { issues: [{ message: 'use a key made for the configured algorithm', path: 'signingKey' }] },
      );
    }
    let keys: VerificationKey[];
    const given = options.verificationKeys;
    if (given === undefined) {
      if (signing === undefined) {
        throw new AgentSafeError(
          'KEY_INVALID',
          'No keys configured: give a signingKey, verificationKeys, or both',
          {
            issues: [{ message: 'a verifier needs at least one key', path: 'verificationKeys' }],
          },
        );
      }
      keys = [signing.verificationKey];
    } else if (Array.isArray(given)) {
      keys = [...(given as readonly VerificationKey[])];
      for (const key of keys) {
        if (key.algorithm !== options.algorithm) {
          throw new AgentSafeError(
            'KEY_INVALID',
            `Verification key ${key.keyId} is for ${key.algorithm}, not ${options.algorithm}`,
            {
              issues: [
                { message: 'every verification key must fit the pinned algorithm', path: 'verificationKeys' },
              ],
            },
          );
        }
      }
    } else {
      keys = await createVerificationKeys({ algorithm: options.algorithm, material: given as JSONWebKeySet });
    }
    if (keys.length === 0) {
      throw new AgentSafeError('KEY_INVALID', 'verificationKeys is empty', {
        issues: [{ message: 'give at least one key', path: 'verificationKeys' }],
      });
    }
    if (signing !== undefined && !keys.some((key) => key.keyId === signing.keyId)) {
      // Tokens this manager mints must verify here too.
      keys.push(signing.verificationKey);
    }
    return new IdentityManager(options, keys);
  }

  /** True when this manager holds a signing key (can mint and delegate). */
  get canSign(): boolean {
    return this.#signingKey !== undefined;
  }

  /** Public JWKS of the verification keys, for verifiers that must not be able to mint. */
  jwks(): JSONWebKeySet {
    if (this.algorithm === 'HS256') {
      throw usage('HS256 keys are shared secrets: there is no public JWKS; use EdDSA or ES256', 'algorithm');
    }
    return publicJwks([...this.#keys.values()]);
  }

  /**
   * Mints an identity token. Throws `INPUT_INVALID` for bad input and `KEY_INVALID` when this
   * manager has no signing key.
   */
  async createToken(options: CreateTokenOptions): Promise<string> {
    const signingKey = this.#requireSigningKey();
    if (options === null || typeof options !== 'object')
      throw inputError('createToken needs an options object', 'options');
    const agentIdProblem = idProblem(options.agentId);
    if (agentIdProblem !== undefined) throw inputError(`agentId ${agentIdProblem}`, 'agentId');
    if (options.agentName !== undefined) {
      const problem = idProblem(options.agentName);
      if (problem !== undefined) throw inputError(`agentName ${problem}`, 'agentName');
    }
    const rolesProblem = scopeProblem(options.roles);
    if (rolesProblem !== undefined) throw inputError(`roles ${rolesProblem}`, 'roles');
    const groupsProblem = scopeProblem(options.groups);
    if (groupsProblem !== undefined) throw inputError(`groups ${groupsProblem}`, 'groups');
    const roles = readScope(options.roles)!;
    const groups = readScope(options.groups)!;
    const ttl = options.ttl ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!isTtl(ttl, this.#maxTtl))
      throw inputError(`ttl must be an integer from 1 to ${this.#maxTtl} seconds`, 'ttl');
    const depth = options.maxDelegationDepth;
    if (depth !== undefined && !(Number.isInteger(depth) && depth >= 0 && depth <= MAX_DELEGATION_DEPTH)) {
      throw inputError(
        `maxDelegationDepth must be an integer from 0 to ${MAX_DELEGATION_DEPTH}`,
        'maxDelegationDepth',
      );
    }
    const now = this.#nowSeconds();
    return this.#sign(signingKey, {
      sub: options.agentId,
      agent_id: options.agentId,
      ...(options.agentName === undefined ? {} : { agent_name: options.agentName }),
      roles: [...roles],
      groups: [...groups],
      ...(depth === undefined ? {} : { max_depth: depth }),
      iat: now,
      nbf: now,
      exp: now + ttl,
    });
  }

  /**
   * Verifies a token: structure, pinned algorithm, key id, signature, `typ`, `iss`, `aud`, `exp`,
   * `nbf` (with bounded tolerance), claim shapes, and for a delegated token every ancestor link.
   * Never throws. Tokens that verified are cached until they expire.
   */
  async verify(token: unknown): Promise<IdentityVerificationResult> {
    try {
      const outcome = await this.#verifyLevel(token, 0);
      return outcome.ok ? outcome.record.result : outcome;
    } catch (error) {
      // Fail closed: an unexpected failure is a refusal, never an identity.
      return failure(
        'MALFORMED',
        `token could not be verified: ${(error as Error)?.message ?? String(error)}`,
      );
    }
  }

  /**
   * The result of an earlier successful {@link verify} of this exact token while it is still valid,
   * without any asynchronous work; undefined when the token must be verified. Lets hot paths skip a
   * promise round trip for the common case of an agent reusing its token.
   */
  verifyCached(token: string): IdentityVerified | undefined {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined;
    return this.#cache.get(token, this.#clock.now())?.result as IdentityVerified | undefined;
  }

  /** The same verification as {@link verify}, with the chain (root first) for display. */
  async verifyDelegation(token: unknown): Promise<DelegationVerificationResult> {
    const result = await this.verify(token);
    return result.ok ? { ...result, chain: result.caller.delegationChain } : result;
  }

  /**
   * Mints a token for a child agent with a scope no wider than the parent's, a life no longer than
   * the parent's and a depth within the chain's limit. The parent's token is embedded so every
   * verifier re-checks the whole chain. Refusals are returned, not thrown (a missing signing key
   * throws `KEY_INVALID`).
   */
  async delegate(options: DelegateOptions): Promise<DelegationResult> {
    const signingKey = this.#requireSigningKey();
    if (options === null || typeof options !== 'object')
      return refuse('INPUT_INVALID', 'delegate needs an options object');
    const childProblem = idProblem(options.childAgentId);
    if (childProblem !== undefined) return refuse('INPUT_INVALID', `childAgentId ${childProblem}`);
    if (options.childAgentName !== undefined) {
      const problem = idProblem(options.childAgentName);
      if (problem !== undefined) return refuse('INPUT_INVALID', `childAgentName ${problem}`);
    }
    if (options.childRoles !== undefined) {
      const problem = scopeProblem(options.childRoles);
      if (problem !== undefined) return refuse('INPUT_INVALID', `childRoles ${problem}`);
    }
    if (options.childGroups !== undefined) {
      const problem = scopeProblem(options.childGroups);
      if (problem !== undefined) return refuse('INPUT_INVALID', `childGroups ${problem}`);
    }
    if (options.ttl !== undefined && !isTtl(options.ttl, this.#maxTtl)) {
      return refuse('INPUT_INVALID', `ttl must be an integer from 1 to ${this.#maxTtl} seconds`);
    }
    const requestedDepth = options.maxDepth;
    if (
      requestedDepth !== undefined &&
      !(Number.isInteger(requestedDepth) && requestedDepth >= 1 && requestedDepth <= MAX_DELEGATION_DEPTH)
    ) {
      return refuse('INPUT_INVALID', `maxDepth must be an integer from 1 to ${MAX_DELEGATION_DEPTH}`);
    }
    const parentOutcome = await this.#safeVerifyLevel(options.parentToken);
    if (!parentOutcome.ok) return refuse(parentOutcome.code, `parent token refused: ${parentOutcome.reason}`);
    const parent = parentOutcome.record;
    const roles = options.childRoles === undefined ? parent.claims.roles : readScope(options.childRoles);
    if (roles === null)
      return refuse('INPUT_INVALID', 'childRoles must be an array of at most 256 non-empty strings');
    const groups = options.childGroups === undefined ? parent.claims.groups : readScope(options.childGroups);
    if (groups === null)
      return refuse('INPUT_INVALID', 'childGroups must be an array of at most 256 non-empty strings');
    const extraRoles = notIn(roles, parent.claims.roles);
    if (extraRoles.length > 0) {
      return refuse(
        'DELEGATION',
        `child roles widen the parent's scope: ${list(extraRoles)} not held by ${parent.claims.agentId}`,
      );
    }
    const extraGroups = notIn(groups, parent.claims.groups);
    if (extraGroups.length > 0) {
      return refuse(
        'DELEGATION',
        `child groups widen the parent's scope: ${list(extraGroups)} not held by ${parent.claims.agentId}`,
      );
    }
    const ancestors = [
      ...parent.result.caller.delegationChain.map((link) => link.agentId),
      parent.claims.agentId,
    ];
    if (ancestors.includes(options.childAgentId)) {
      return refuse(
        'DELEGATION',
        `delegation cycle: ${options.childAgentId} is already in the chain ${ancestors.join(' → ')}`,
      );
    }
    const depth = parent.result.delegationDepth + 1;
    const chainLimit = parent.result.maxDelegationDepth;
    if (requestedDepth !== undefined && requestedDepth > chainLimit) {
      return refuse(
        'DELEGATION',
        `maxDepth ${requestedDepth} would raise the chain's limit of ${chainLimit}; it can only be lowered`,
      );
    }
    const maxDepth = Math.min(requestedDepth ?? DEFAULT_DELEGATION_DEPTH, chainLimit);
    if (depth > maxDepth) {
      return refuse(
        'DELEGATION',
        `delegation depth ${depth} would exceed the chain's maximum depth of ${maxDepth}`,
      );
    }
    const now = this.#nowSeconds();
    const remaining = parent.claims.expiresAt - now;
    if (remaining < 1)
      return refuse('DELEGATION', 'the parent token expires now; mint a fresh parent token first');
    let expiresAt: number;
    if (options.ttl !== undefined) {
      if (options.ttl > remaining) {
        return refuse(
          'DELEGATION',
          `ttl ${options.ttl}s would outlive the parent token, which expires in ${remaining}s; a child cannot outlive its parent`,
        );
      }
      expiresAt = now + options.ttl;
    } else {
      expiresAt = Math.min(now + DEFAULT_TOKEN_TTL_SECONDS, parent.claims.expiresAt);
    }
    const token = await this.#sign(signingKey, {
      sub: options.childAgentId,
      agent_id: options.childAgentId,
      ...(options.childAgentName === undefined ? {} : { agent_name: options.childAgentName }),
      roles: [...roles],
      groups: [...groups],
      max_depth: maxDepth,
      parent_token: options.parentToken,
      iat: now,
      nbf: now,
      exp: expiresAt,
    });
    if (token.length > MAX_TOKEN_LENGTH) {
      return refuse(
        'TOO_LARGE',
        `the delegated token would be ${token.length} characters, over the ${MAX_TOKEN_LENGTH} limit; shorten the chain or the scope`,
      );
    }
    const chain = Object.freeze([...parent.result.caller.delegationChain, link(parent.claims, now)]);
    return { success: true, token, chain, expiresAt: expiresAt * 1000, depth, maxDepth };
  }

  /** Cache counters (hits count every lookup, including ancestors of delegated tokens). */
  cacheStats(): VerificationCacheStats {
    return this.#cache.stats();
  }

  /** Drops every cached verification (e.g. after rotating keys). */
  clearCache(): void {
    this.#cache.clear();
  }

  async #safeVerifyLevel(token: unknown): Promise<LevelOutcome> {
    try {
      return await this.#verifyLevel(token, 0);
    } catch (error) {
      return failure(
        'MALFORMED',
        `token could not be verified: ${(error as Error)?.message ?? String(error)}`,
      );
    }
  }

  async #verifyLevel(token: unknown, level: number): Promise<LevelOutcome> {
    if (typeof token !== 'string')
      return failure('MALFORMED', `a token must be a string, got ${describeType(token)}`);
    if (token.length > MAX_TOKEN_LENGTH) {
      return failure('TOO_LARGE', `token is ${token.length} characters, over the ${MAX_TOKEN_LENGTH} limit`);
    }
    const cached = this.#cache.get(token, this.#clock.now());
    if (cached !== undefined) return { ok: true, record: cached };
    const outcome = await this.#verifyUncached(token, level);
    if (outcome.ok) {
      this.#cache.set(token, outcome.record, (outcome.record.claims.expiresAt + this.#tolerance) * 1000);
    }
    return outcome;
  }

  async #verifyUncached(token: string, level: number): Promise<LevelOutcome> {
    const parts = token.split('.');
    if (
      parts.length !== 3 ||
      !BASE64URL_PART.test(parts[0]!) ||
      !BASE64URL_PART.test(parts[1]!) ||
      !/^[A-Za-z0-9_-]*$/.test(parts[2]!)
    ) {
      return failure('MALFORMED', 'not a compact JWT (expected three base64url parts separated by dots)');
    }
    for (const [index, name] of ['header', 'payload', 'signature'].entries()) {
      if (!isCanonicalBase64url(parts[index]!)) {
        return failure(
          'MALFORMED',
          `the token ${name} is not canonical base64url (a 4n+1 length, or unused bits of its last character set)`,
        );
      }
    }
    let header: Record<string, unknown>;
    try {
      const decoded: unknown = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
      if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded))
        throw new Error('not an object');
      header = decoded as Record<string, unknown>;
    } catch {
      return failure('MALFORMED', 'the token header is not a base64url JSON object');
    }
    const alg = header.alg;
    if (typeof alg !== 'string') return failure('MALFORMED', 'the token header has no "alg"');
    if (alg.toLowerCase() === 'none')
      return failure('ALGORITHM', 'unsigned tokens (alg "none") are never accepted');
    if (alg !== this.algorithm) {
      return failure(
        'ALGORITHM',
        `token is signed with ${printable(alg)}, but this verifier accepts only ${this.algorithm}`,
      );
    }
    if (header.typ !== IDENTITY_TOKEN_TYPE) {
      return failure(
        'TYPE',
        `token type is ${printable(header.typ)}, expected ${IDENTITY_TOKEN_TYPE} (an execution ticket or another JWT is not an identity)`,
      );
    }
    let key: VerificationKey | undefined;
    if (typeof header.kid === 'string') {
      key = this.#keys.get(header.kid);
      if (key === undefined)
        return failure('KEY_UNKNOWN', `no verification key has kid ${printable(header.kid)}`);
    } else if (header.kid === undefined && this.#keys.size === 1) {
      key = this.#keys.values().next().value as VerificationKey;
    } else {
      return failure('KEY_UNKNOWN', 'the token names no key id ("kid") and several keys are configured');
    }
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(token, key.key as CryptoKey, {
        algorithms: [this.algorithm],
        issuer: this.issuer,
        audience: this.audience,
        typ: IDENTITY_TOKEN_TYPE,
        clockTolerance: this.#tolerance,
        currentDate: new Date(this.#clock.now()),
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'nbf', 'exp', 'jti'],
      });
      payload = verified.payload as Record<string, unknown>;
    } catch (error) {
      return mapJoseError(error);
    }
    const read = readIdentityClaims(payload);
    if (!read.ok) return failure('CLAIMS', read.reason);
    const claims = read.claims;
    if (claims.expiresAt - claims.notBefore > this.#maxTtl) {
      return failure(
        'CLAIMS',
        `token lifetime ${claims.expiresAt - claims.notBefore}s exceeds the ${this.#maxTtl}s maximum`,
      );
    }
    if (claims.parentToken === null) {
      const maxDelegationDepth = claims.maxDepth ?? MAX_DELEGATION_DEPTH;
      return { ok: true, record: this.#record(claims, [], 0, maxDelegationDepth) };
    }
    return this.#verifyLink(claims, claims.parentToken, level);
  }

  /** Checks one delegation link: the parent verifies, and the child stays within its scope, life and depth. */
  async #verifyLink(claims: IdentityClaims, parentToken: string, level: number): Promise<LevelOutcome> {
    if (level + 1 > MAX_DELEGATION_DEPTH) {
      return failure('DELEGATION', `delegation chain is deeper than the ${MAX_DELEGATION_DEPTH}-link limit`);
    }
    const parentOutcome = await this.#verifyLevel(parentToken, level + 1);
    if (!parentOutcome.ok) {
      return failure(
        parentOutcome.code,
        `delegating parent of ${claims.agentId} refused: ${parentOutcome.reason}`,
      );
    }
    const parent = parentOutcome.record;
    const extraRoles = notIn(claims.roles, parent.claims.roles);
    if (extraRoles.length > 0) {
      return failure(
        'DELEGATION',
        `${claims.agentId} holds roles ${list(extraRoles)} that its delegating parent ${parent.claims.agentId} does not`,
      );
    }
    const extraGroups = notIn(claims.groups, parent.claims.groups);
    if (extraGroups.length > 0) {
      return failure(
        'DELEGATION',
        `${claims.agentId} holds groups ${list(extraGroups)} that its delegating parent ${parent.claims.agentId} does not`,
      );
    }
    if (claims.expiresAt > parent.claims.expiresAt) {
      return failure(
        'DELEGATION',
        `${claims.agentId}'s token outlives its delegating parent ${parent.claims.agentId}'s`,
      );
    }
    const ancestors = [
      ...parent.result.caller.delegationChain.map((entry) => entry.agentId),
      parent.claims.agentId,
    ];
    if (ancestors.includes(claims.agentId)) {
      return failure(
        'DELEGATION',
        `delegation cycle: ${claims.agentId} is its own ancestor (${ancestors.join(' → ')})`,
      );
    }
    const depth = parent.result.delegationDepth + 1;
    const maxDepth = claims.maxDepth as number;
    if (maxDepth > parent.result.maxDelegationDepth) {
      return failure(
        'DELEGATION',
        `max_depth ${maxDepth} raises the chain's limit of ${parent.result.maxDelegationDepth}`,
      );
    }
    if (depth > maxDepth)
      return failure('DELEGATION', `delegation depth ${depth} exceeds the chain's maximum of ${maxDepth}`);
    const chain = [...parent.result.caller.delegationChain, link(parent.claims, claims.issuedAt)];
    return { ok: true, record: this.#record(claims, chain, depth, maxDepth) };
  }

  #record(claims: IdentityClaims, chain: DelegationLink[], depth: number, maxDepth: number): VerifiedRecord {
    // Frozen because cached results are shared between callers.
    const caller: Caller = Object.freeze({
      agentId: claims.agentId,
      ...(claims.agentName === undefined ? {} : { agentName: claims.agentName }),
      roles: claims.roles,
      groups: claims.groups,
      authenticated: true,
      delegationChain: Object.freeze(chain),
    });
    const result: IdentityVerified = Object.freeze({
      ok: true as const,
      caller,
      expiresAt: claims.expiresAt * 1000,
      tokenId: claims.tokenId,
      delegationDepth: depth,
      maxDelegationDepth: maxDepth,
    });
    return { claims, result };
  }

  #requireSigningKey(): SigningKey {
    if (this.#signingKey === undefined) {
      throw new AgentSafeError(
        'KEY_INVALID',
        'This identity manager has only verification keys and cannot mint tokens',
        {
          issues: [
            {
              message: 'configure a signing key (env:NAME or a key file) to create or delegate tokens',
              path: 'signingKey',
            },
          ],
        },
      );
    }
    return this.#signingKey;
  }

  async #sign(signingKey: SigningKey, claims: Record<string, unknown>): Promise<string> {
    return new SignJWT({ ...claims, iss: this.issuer, aud: this.audience, jti: randomId('id') })
      .setProtectedHeader({ alg: this.algorithm, typ: IDENTITY_TOKEN_TYPE, kid: signingKey.keyId })
      .sign(signingKey.privateKey);
  }

  #nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000);
  }
}

function mapJoseError(error: unknown): IdentityFailure {
  if (error instanceof errors.JWTExpired) return failure('EXPIRED', 'token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return failure('NOT_YET_VALID', 'token is not valid yet (nbf is in the future)');
      case 'iss':
        return failure('ISSUER', 'token has the wrong issuer (iss)');
      case 'aud':
        return failure('AUDIENCE', 'token has the wrong audience (aud)');
      case 'typ':
        return failure('TYPE', `token type is not ${IDENTITY_TOKEN_TYPE}`);
      default:
        return failure(
          'CLAIMS',
          `claim "${error.claim}" is ${error.reason === 'missing' ? 'missing' : 'invalid'}`,
        );
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return failure(
      'SIGNATURE',
      'signature does not verify (the token was altered or signed with another key)',
    );
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return failure('ALGORITHM', 'token algorithm is not allowed');
  if (error instanceof errors.JOSEError) return failure('MALFORMED', `token is malformed: ${error.message}`);
  return failure('MALFORMED', `token could not be verified: ${(error as Error)?.message ?? String(error)}`);
}

function link(claims: IdentityClaims, delegatedAt: number): DelegationLink {
  return Object.freeze({ agentId: claims.agentId, roles: claims.roles, groups: claims.groups, delegatedAt });
}

function notIn(values: readonly string[], allowed: readonly string[]): string[] {
  const set = new Set(allowed);
  return values.filter((value) => !set.has(value));
}

function list(values: readonly string[]): string {
  return values.map((value) => JSON.stringify(value)).join(', ');
}

function isTtl(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max;
}

function failure(code: IdentityFailureCode, reason: string): IdentityFailure {
  return { ok: false, code, reason };
}

function refuse(code: IdentityFailureCode | 'INPUT_INVALID', reason: string): DelegationResult {
  return { success: false, code, reason };
}

function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 64 ? `${clean.slice(0, 64)}…` : clean);
}

function describeType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function usage(message: string, path: string): AgentSafeError {
  return new AgentSafeError('USAGE', message, { issues: [{ message, path }] });
}

function inputError(message: string, path: string): AgentSafeError {
  return new AgentSafeError('INPUT_INVALID', message, { issues: [{ message, path }] });
}
