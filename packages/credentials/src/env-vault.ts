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

/** One configured variable of an {@link EnvVault} and whether it is set; never its value. */
export type EnvVariableStatus =
  | {
      readonly action: string;
      readonly configured: true;
      readonly field: string;
      readonly variable: string;
      readonly set: boolean;
    }
  | { readonly action: string; readonly configured: false };

/** What {@link testEnvVault} returns: `ok` when every variable asked about is set. */
export interface EnvVaultTestResult {
  readonly ok: boolean;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
  /** Names of the variables that are set (non-empty). */
  readonly set: readonly string[];
  /** Names of the variables that are missing or empty. */
  readonly missing: readonly string[];
}

/**
 * Which environment variables an {@link EnvVault} would read are set and which are missing, for every
 * configured action or only `actions` (for `agent-safe credential test-vault`). Reports names only,
 * never a value; an action the vault has no entry for is a failed check.
 */
export function testEnvVault(vault: EnvVault, actions?: readonly string[]): EnvVaultTestResult {
  if (!(vault instanceof EnvVault)) {
    throw new AgentSafeError('USAGE', 'testEnvVault needs an EnvVault');
  }
  if (
    actions !== undefined &&
    (!Array.isArray(actions) || actions.some((name) => typeof name !== 'string'))
  ) {
    throw new AgentSafeError('USAGE', 'testEnvVault: actions must be a list of action names');
  }
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const set = new Set<string>();
  const missing = new Set<string>();
  for (const status of vault.variableStatus(actions)) {
    if (!status.configured) {
      checks.push({
        name: status.action,
        ok: false,
        detail: `the vault has no entry for ${status.action}; add one under actions (fields → environment variable names)`,
      });
      continue;
    }
    (status.set ? set : missing).add(status.variable);
    checks.push({
      name: `${status.action} ${status.field}`,
      ok: status.set,
      detail: status.set ? `${status.variable} is set` : `${status.variable} is not set or empty`,
    });
  }
  return { ok: checks.every((check) => check.ok), checks, set: [...set], missing: [...missing] };
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

  /**
   * Which configured variables are set (non-empty) in the vault's environment, per action and field, for
   * `actions` (configured keys, `name` or `name@version`; default all). Names only, never values; an
   * action without an entry is reported with `configured: false`.
   */
  variableStatus(actions?: readonly string[]): EnvVariableStatus[] {
    const keys = actions ?? [...this.#actions.keys()];
    const result: EnvVariableStatus[] = [];
    for (const action of keys) {
      const fields = this.#actions.get(action);
      if (fields === undefined) {
        result.push({ action, configured: false });
        continue;
      }
      for (const [field, variable] of fields) {
        const value = Object.hasOwn(this.#env, variable) ? this.#env[variable] : undefined;
        result.push({ action, configured: true, field, variable, set: value !== undefined && value !== '' });
      }
    }
    return result;
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
