import type { RiskClass } from './risk-class.js';

/** Parameter types an action definition may declare. */
export const PARAM_TYPES = ['string', 'integer', 'number', 'boolean', 'array', 'object'] as const;

/** A declared parameter type. */
export type ParamType = (typeof PARAM_TYPES)[number];

/** Validation constraints of one parameter. All are optional and combine with AND. */
export interface ParamConstraints {
  readonly minValue?: number;
  readonly maxValue?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly enum?: readonly (string | number | boolean)[];
}

/** One parameter of an action. */
export interface ParameterDefinition {
  readonly name: string;
  readonly type: ParamType;
  readonly required: boolean;
  readonly description: string;
  /** Applied when the caller omits the parameter. */
  readonly default?: unknown;
  readonly constraints?: ParamConstraints;
  /** Masked in the audit log when true. */
  readonly sensitive: boolean;
}

/** A check the executor should make before running the action. */
export interface Precheck {
  readonly name: string;
  readonly description: string;
  /**
   * YAML `force_allowed: true`: a failure of this precheck may be overridden with the runner's `force`
   * (audited). Absent or false: a failure always stops the run.
   */
  readonly forceAllowed?: boolean;
}

/** Credential scope an action needs; `fields` depend on `type` (kubernetes, aws, …). */
export interface CredentialScope {
  readonly type: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly ttl: number;
}

/** A piece of target state worth capturing before and after the action. */
export interface StateField {
  readonly name: string;
  readonly description: string;
  readonly type: string;
  readonly required: boolean;
  /**
   * YAML `sensitive: true`: the field's value may hold a secret (a ConfigMap value, a token), so it is
   * masked in the audit log's `state_capture` events (before_state, after_state, diff), as sensitive
   * params are. Absent or false: logged as read.
   */
  readonly sensitive?: boolean;
}

/** Where a rollback parameter comes from, e.g. `params.namespace` or `before_state.replicas`. */
export interface RollbackParamSource {
  readonly source: string;
}

/** A registered action agents may request. */
export interface ActionDefinition {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly parameters: readonly ParameterDefinition[];
  readonly riskClass: RiskClass;
  readonly targetTypes: readonly string[];
  readonly prechecks: readonly Precheck[];
  readonly reversible: boolean;
  readonly rollbackAction: string | null;
  readonly requiredPrivileges: readonly string[];
  readonly tags: readonly string[];
  readonly credentials: CredentialScope | null;
  readonly stateFields: readonly StateField[];
  readonly rollbackParams: Readonly<Record<string, RollbackParamSource>> | null;
  /**
   * Param name -> target identifier name: each listed param must equal that identifier of the request's
   * target (e.g. `{ namespace: 'namespace', deployment: 'name' }`), or the request is DENY. Absent when
   * the definition declares no binding; `{}` declares that the action's params name no object.
   */
  readonly targetBinding?: Readonly<Record<string, string>>;
  /** File the definition was loaded from, when it came from disk. */
  readonly sourceFile?: string;
  /** SHA-256 (hex) of the file's bytes, when it came from disk. */
  readonly sha256?: string;
}

/** `name@version` of an action: the identity the registry tracks. */
export function actionRef(action: Pick<ActionDefinition, 'name' | 'version'>): string {
  return `${action.name}@${action.version}`;
}
