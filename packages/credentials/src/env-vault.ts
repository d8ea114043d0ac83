import {
  AgentSafeError,
  type Clock,
  Credential,
  type CredentialProvider,
  type CredentialRequest,
  randomId,
  systemClock,
} from '@agent-safe/core';

/** Material of an {@link EnvVault} credential: credential field name → value read from the environment. */
export type EnvCredentialMaterial = Readonly<Record<string, string>>;

/** Options of {@link EnvVault}. */
export interface EnvVaultOptions {
  /**
   * Per action (`name` or `name@version`; the exact version wins): credential field name → name of the
   * environment variable holding its value, e.g. `{ 'scale-deployment': { token: 'DEV_K8S_TOKEN' } }`.
   */
  readonly actions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Environment to read from; defaults to `process.env`. Read at issue time, never at construction. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  /** Longest lifetime handed out; longer requests are shortened to it. Default 3600 s. */
  readonly maxTtlSeconds?: number;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const DEFAULT_MAX_TTL_SECONDS = 3600;

/**
 * FOR DEVELOPMENT ONLY. Hands out values of named environment variables per action. The values are
 * whatever the environment holds: nothing is scoped to the request and nothing at the backend expires
 * or is revoked. What this vault does enforce: only the variables configured for the action are read,
 * each handle expires after the request's ttl (on the injected clock), and `revoke` drops the value from
 * the handle and the vault. Values never appear in errors, `toJSON` or `util.inspect`. Use the
 * Kubernetes provider (ServiceAccount + Role + TokenRequest) for anything real.
 */
export class EnvVault implements CredentialProvider<EnvCredentialMaterial> {
  readonly type = 'env';
  readonly #actions: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #clock: Clock;
  readonly #maxTtlSeconds: number;
  readonly #issued = new Map<string, Credential<EnvCredentialMaterial>>();

  constructor(options: EnvVaultOptions) {
    this.#env = options.env ?? process.env;
    this.#clock = options.clock ?? systemClock;
    const maxTtl = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    if (!Number.isSafeInteger(maxTtl) || maxTtl < 1) {
      throw new AgentSafeError('USAGE', 'EnvVault: maxTtlSeconds must be a positive whole number of seconds');
    }
    this.#maxTtlSeconds = maxTtl;
    const actions = new Map<string, ReadonlyMap<string, string>>();
    for (const [action, mapping] of Object.entries(options.actions ?? {})) {
      if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
        throw new AgentSafeError(
          'USAGE',
          `EnvVault: actions.${action} must map credential fields to variable names`,
        );
      }
      const fields = new Map<string, string>();
      for (const [field, variable] of Object.entries(mapping)) {
        if (!FIELD_NAME.test(field)) {
          throw new AgentSafeError(
            'USAGE',
            `EnvVault: actions.${action}: "${field}" is not a credential field name`,
          );
        }
        if (typeof variable !== 'string' || !ENV_NAME.test(variable)) {
          // Not echoed: a secret pasted where a variable name belongs must not be printed.
          throw new AgentSafeError(
            'USAGE',
            `EnvVault: actions.${action}.${field} must name an environment variable (letters, digits and _), not hold a value`,
          );
        }
        fields.set(field, variable);
      }
      if (fields.size === 0) throw new AgentSafeError('USAGE', `EnvVault: actions.${action} lists no fields`);
      actions.set(action, fields);
    }
    this.#actions = actions;
  }

  /** Reads the action's variables now and returns a handle that expires after `ttlSeconds`. */
  async issue(request: CredentialRequest): Promise<Credential<EnvCredentialMaterial>> {
    const ttl = request.ttlSeconds;
    if (!Number.isSafeInteger(ttl) || ttl < 1) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        `EnvVault: ttlSeconds for ${request.action} must be a positive whole number`,
      );
    }
    const name = request.action.split('@')[0]!;
    const fields = this.#actions.get(request.action) ?? this.#actions.get(name);
    if (fields === undefined) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `EnvVault has no entry for action ${request.action}; add one under actions (fields → environment variable names)`,
        { details: { action: request.action } },
      );
    }
    const material: Record<string, string> = {};
    const missing: string[] = [];
    for (const [field, variable] of fields) {
      const value = Object.hasOwn(this.#env, variable) ? this.#env[variable] : undefined;
      if (value === undefined || value === '') missing.push(`${field} (${variable})`);
      else material[field] = value;
    }
    if (missing.length > 0) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `EnvVault: environment variables for ${request.action} are not set or empty: ${missing.join(', ')}`,
        { details: { action: request.action } },
      );
    }
    const effectiveTtl = Math.min(ttl, this.#maxTtlSeconds);
    const issuedAt = this.#clock.now();
    const credential = new Credential<EnvCredentialMaterial>({
      kind: 'env',
      id: randomId('cred'),
      issuedAt,
      expiresAt: issuedAt + effectiveTtl * 1000,
      material: Object.freeze(material),
      clock: this.#clock,
      notes:
        effectiveTtl < ttl
          ? [`ttl ${ttl} s shortened to the vault's maximum of ${this.#maxTtlSeconds} s`]
          : [],
    });
    this.#issued.set(credential.id, credential);
    return credential;
  }

  /** Forgets the credential: its handle no longer yields the values. Idempotent. */
  async revoke(credential: Credential<EnvCredentialMaterial>): Promise<void> {
    credential.invalidate();
    this.#issued.delete(credential.id);
  }

  /** Number of credentials handed out and neither revoked nor expired (for tests and metrics). */
  activeCount(): number {
    const now = this.#clock.now();
    for (const [id, credential] of this.#issued) {
      if (credential.isExpired(now)) {
        credential.invalidate();
        this.#issued.delete(id);
      }
    }
    return this.#issued.size;
  }
}
