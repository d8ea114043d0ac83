import { AgentSafeError } from './errors.js';
import type { Clock } from './ports.js';

/**
 * An action's `credentials` block after its `{{ params.x }}` templates were rendered and every value
 * validated for its target syntax: each field is a list of plain strings (Kubernetes: `verbs`,
 * `resources`, `api_groups`, `namespaces`). `ttl` is the lifetime the action file asks for, in seconds.
 */
export interface RenderedCredentialScope {
  readonly type: string;
  readonly fields: Readonly<Record<string, readonly string[]>>;
  readonly ttl: number;
}

/** What a {@link CredentialProvider} is asked for: one credential for one approved request. */
export interface CredentialRequest {
  /** The action, as `name@version`. */
  readonly action: string;
  /** Id of the target the request was decided on, or null when the action names none. */
  readonly target: string | null;
  /** The approved params (already validated against the action definition and bound to the ticket). */
  readonly params: Readonly<Record<string, unknown>>;
  /** The rendered scope (see {@link RenderedCredentialScope}). */
  readonly scope: RenderedCredentialScope;
  /** Lifetime asked for; a provider may raise it to its backend's minimum and must say so. */
  readonly ttlSeconds: number;
  /** Id of the request (decision audit id or ticket id); providers derive object names from it. */
  readonly requestId: string;
}

/** Shown instead of a credential's material wherever it could be printed or serialised. */
export const CREDENTIAL_REDACTED = '[credential material redacted]';

/** Options of {@link Credential}. */
export interface CredentialOptions<M> {
  /** Provider-defined kind, e.g. `env`, `kubernetes-token`. */
  readonly kind: string;
  /** A non-secret handle id, safe to log (e.g. the ServiceAccount name). */
  readonly id: string;
  readonly issuedAt: number;
  /** Milliseconds since the epoch after which the material is no longer handed out. */
  readonly expiresAt: number;
  /** The secret itself. Never serialised, printed or put into an error. */
  readonly material: M;
  /** Clock the expiry is checked against; defaults to the machine's clock. */
  readonly clock?: Clock;
  /** Non-secret facts about the credential worth recording (e.g. a clamped ttl). Must not hold secrets. */
  readonly notes?: readonly string[];
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * An opaque handle on an issued credential. The secret (`material`) lives in a private field: it is not
 * an own property, so `JSON.stringify`, `util.inspect`, `console.log`, `structuredClone` and object
 * spreading never see it; `toJSON()` and the custom inspect print only the non-secret facts. Reading
 * `material` after expiry or revocation throws (without the value).
 *
 * Credential values never reach logs, errors or output: providers must not put them into error messages,
 * audit events or notes, and code that reads `material` must hand it straight to the client that uses it.
 */
export class Credential<M = unknown> {
  readonly kind: string;
  readonly id: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly notes: readonly string[];
  #material: M | undefined;
  #revoked = false;
  readonly #clock: Clock | undefined;

  constructor(options: CredentialOptions<M>) {
    this.kind = options.kind;
    this.id = options.id;
    this.issuedAt = options.issuedAt;
    this.expiresAt = options.expiresAt;
    this.notes = Object.freeze([...(options.notes ?? [])]);
    this.#material = options.material;
    this.#clock = options.clock;
  }

  /** True once {@link invalidate} ran (the provider revoked it). */
  get revoked(): boolean {
    return this.#revoked;
  }

  /** True when the credential is past its expiry on its clock (or on `now`, when given). */
  isExpired(now?: number): boolean {
    return (now ?? (this.#clock ?? { now: Date.now }).now()) >= this.expiresAt;
  }

  /**
   * The secret. Throws `USAGE` once the credential expired or was revoked, so a stale handle cannot be
   * used; the error never contains the value.
   */
  get material(): M {
    if (this.#revoked || this.#material === undefined) {
      throw new AgentSafeError('USAGE', `Credential ${this.id} (${this.kind}) was revoked`, {
        details: { credential: this.id, state: 'revoked' },
      });
    }
    if (this.isExpired()) {
      throw new AgentSafeError(
        'USAGE',
        `Credential ${this.id} (${this.kind}) expired at ${new Date(this.expiresAt).toISOString()}`,
        { details: { credential: this.id, state: 'expired' } },
      );
    }
    return this.#material;
  }

  /** Drops the material from this handle; providers call it from `revoke`. Idempotent. */
  invalidate(): void {
    this.#revoked = true;
    this.#material = undefined;
  }

  /** The non-secret facts, with the material masked. */
  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      id: this.id,
      issuedAt: new Date(this.issuedAt).toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
      revoked: this.#revoked,
      notes: this.notes,
      material: CREDENTIAL_REDACTED,
    };
  }

  toString(): string {
    return `Credential(${this.kind} ${this.id}, expires ${new Date(this.expiresAt).toISOString()}, ${CREDENTIAL_REDACTED})`;
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * True for a {@link Credential} handle, also one built by another copy of `@agent-safe/core` (same
 * shape: `kind`, `id`, `invalidate` and a `material` accessor). Executors use it to tell a handle from
 * plain credential material.
 */
export function isCredentialHandle(value: unknown): value is Credential<unknown> {
  if (value instanceof Credential) return true;
  if (value === null || typeof value !== 'object') return false;
  const handle = value as { kind?: unknown; id?: unknown; invalidate?: unknown };
  return (
    typeof handle.kind === 'string' &&
    typeof handle.id === 'string' &&
    typeof handle.invalidate === 'function' &&
    'material' in value
  );
}

/**
 * The vault port: issues a credential scoped to one approved request and revokes it. The runner calls
 * `revoke` always, also when the action failed. Implementations in `@agent-safe/credentials`:
 * `KubernetesCredentialProvider` (ServiceAccount + Role + RoleBinding + TokenRequest) and `EnvVault`
 * (development only). Errors thrown by `issue` and `revoke` are `AgentSafeError`s that name the action, field and
 * param at fault and never contain a credential value.
 */
export interface CredentialProvider<M = unknown> {
  /** Name of the credential `type` this provider serves (`kubernetes`, `env`, …). */
  readonly type: string;
  issue(request: CredentialRequest): Promise<Credential<M>>;
  /** Makes the credential unusable (at its backend and in the handle). Idempotent. */
  revoke(credential: Credential<M>): Promise<void>;
}

/** The name the design guide uses for the port: the same interface as {@link CredentialProvider}. */
export type CredentialVault<M = unknown> = CredentialProvider<M>;
