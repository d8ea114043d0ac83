import { AgentSafeError, RISK_CLASSES, type RiskClass, isRiskClass, unsafeIdReason } from '@agent-safe/core';

/** Settings of the approval workflow (agent-safe.yaml `approvals:`; camelCase in the SDK). */
export interface ApprovalSettingsInput {
  /** Roles (from verified identity tokens) that may approve or deny. Required, at least one. */
  readonly approverRoles?: readonly string[];
  /** A request not decided within this many seconds expires (a denial). Default 3600. */
  readonly ttlSeconds?: number;
  /** Distinct approvals needed per effective risk; unlisted classes need `defaultApprovals`. Default `{ critical: 2 }`. */
  readonly thresholds?: Partial<Record<RiskClass, number>>;
  /** Approvals needed when the effective risk has no threshold. Default 1. */
  readonly defaultApprovals?: number;
  /** Approvers and deniers must say why. Default false. */
  readonly requireComment?: boolean;
  /**
   * Asking again for the same caller, action, target and params while a request is open returns that
   * request instead of a new one. Default true.
   */
  readonly dedupe?: boolean;
}

/** Settings with every default filled in and every value checked. */
export interface ApprovalSettings {
  readonly approverRoles: readonly string[];
  readonly ttlMs: number;
  readonly thresholds: Readonly<Record<RiskClass, number>>;
  readonly requireComment: boolean;
  readonly dedupe: boolean;
}

export const DEFAULT_APPROVAL_TTL_SECONDS = 3600;
const MIN_TTL_SECONDS = 60;
const MAX_TTL_SECONDS = 30 * 24 * 3600;
const MAX_APPROVALS = 10;
const SETTING_NAMES = [
  'approverRoles',
  'ttlSeconds',
  'thresholds',
  'defaultApprovals',
  'requireComment',
  'dedupe',
];

/**
 * Checks approval settings and fills in defaults. Throws CONFIG_INVALID listing every problem, each
 * with its field path under `where` (a file name, or "options").
 */
export function resolveApprovalSettings(input: ApprovalSettingsInput, where = 'options'): ApprovalSettings {
  const problems: { path: string; message: string }[] = [];
  const problem = (path: string, message: string) => problems.push({ path: `approvals.${path}`, message });
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new AgentSafeError('CONFIG_INVALID', `${where}: approvals must be a mapping of settings`);
  }
  for (const key of Object.keys(input)) {
    if (!SETTING_NAMES.includes(key)) problem(key, `unknown setting (known: ${SETTING_NAMES.join(', ')})`);
  }
  const roles = input.approverRoles;
  if (!Array.isArray(roles) || roles.length === 0) {
    problem('approverRoles', 'list at least one role whose holders may approve, e.g. [approver]');
  } else {
    roles.forEach((role, index) => {
      const reason = typeof role === 'string' ? unsafeIdReason(role) : 'must be a string';
      if (reason) problem(`approverRoles[${index}]`, `role ${reason}`);
    });
  }
  const ttlSeconds = input.ttlSeconds ?? DEFAULT_APPROVAL_TTL_SECONDS;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TTL_SECONDS || ttlSeconds > MAX_TTL_SECONDS) {
    problem('ttlSeconds', `must be a whole number of seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}`);
  }
  const defaultApprovals = input.defaultApprovals ?? 1;
  if (!validCount(defaultApprovals))
    problem('defaultApprovals', `must be a whole number from 1 to ${MAX_APPROVALS}`);
  const thresholds = {} as Record<RiskClass, number>;
  const given = input.thresholds ?? { critical: 2 };
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    problem('thresholds', 'must map risk classes to approval counts, e.g. { critical: 2 }');
  } else {
    for (const key of Object.keys(given)) {
      if (!isRiskClass(key))
        problem(`thresholds.${key}`, `unknown risk class (known: ${RISK_CLASSES.join(', ')})`);
      else if (!validCount(given[key]))
        problem(`thresholds.${key}`, `must be a whole number from 1 to ${MAX_APPROVALS}`);
    }
  }
  for (const risk of RISK_CLASSES)
    thresholds[risk] = (given as Record<string, number>)[risk] ?? defaultApprovals;
  for (const key of ['requireComment', 'dedupe'] as const) {
    if (input[key] !== undefined && typeof input[key] !== 'boolean') problem(key, 'must be true or false');
  }
  if (problems.length > 0) {
    throw new AgentSafeError('CONFIG_INVALID', `${where}: approvals settings are invalid`, {
      issues: problems.map(({ path, message }) => ({
        path,
        message,
        file: where === 'options' ? undefined : where,
      })),
    });
  }
  return Object.freeze({
    approverRoles: Object.freeze([...(roles as string[])]),
    ttlMs: ttlSeconds * 1000,
    thresholds: Object.freeze(thresholds),
    requireComment: input.requireComment === true,
    dedupe: input.dedupe !== false,
  });
}

function validCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_APPROVALS;
}
