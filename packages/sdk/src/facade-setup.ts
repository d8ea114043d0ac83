import { dirname, resolve } from 'node:path';
import {
  AgentSafeError,
  type ActionLookup,
  type AuditSink,
  type TargetLookup,
  systemClock,
} from '@agent-safe/core';
import { BackgroundShipping } from '@agent-safe/audit';
import { PolicyDecisionPoint, loadPoliciesSync } from '@agent-safe/pdp';
import { ActionRegistry, Inventory } from '@agent-safe/registry';
import type { AgentSafeOptions } from './agent-safe.js';
import { type ResolvedApprovals, resolveApprovalsOptions } from './approvals-options.js';
import { resolveAuditShippers } from './audit-shippers.js';
import { type CumulativeRiskSettings, Guards, type RateLimitOptions, type StoreOption } from './guards.js';
import {
  type AuditCheckpointsOptions,
  type AuditRotateOptions,
  DEFAULT_PATHS,
  type ProjectConfig,
  checkAuditCheckpoints,
  checkAuditRotate,
} from './project-config.js';
import type { SecurityOptions } from './security-options.js';

// How the facade's constructor turns options and agent-safe.yaml into the parts it composes: one
// function per concern, each checking its settings so that a bad one fails at construction, naming
// where it came from ("options" or the config file). Options win over the file, the file over defaults.

/** Where a setting came from, for error messages. */
function where(fromOptions: unknown, config: ProjectConfig): string {
  return fromOptions !== undefined ? 'options' : (config.file ?? 'configuration');
}

/** The registry, inventory and compiled policies: loaded synchronously, so a bad file fails here. */
export function loadDecisionCore(
  options: AgentSafeOptions,
  config: ProjectConfig,
  cwd: string,
): { registry: ActionLookup; inventory: TargetLookup; pdp: PolicyDecisionPoint } {
  const path = (value: string) => resolve(cwd, value);
  const parseCache = options.parseCache;
  const registrySource = options.registry ?? config.registry ?? DEFAULT_PATHS.registry;
  const registry =
    typeof registrySource === 'string'
      ? ActionRegistry.loadSync(path(registrySource), { parseCache })
      : registrySource;
  const inventorySource = options.inventory ?? config.inventory ?? DEFAULT_PATHS.inventory;
  const inventory =
    typeof inventorySource === 'string'
      ? Inventory.loadSync(path(inventorySource), { parseCache })
      : inventorySource;
  const policies = options.policies ?? config.policies ?? DEFAULT_PATHS.policies;
  const pdp = new PolicyDecisionPoint({
    actions: registry,
    targets: inventory,
    policies: typeof policies === 'string' ? loadPoliciesSync(path(policies), { parseCache }) : policies,
    timeZone: options.timeZone ?? config.timeZone,
    enforceTargetTypes: options.enforceTargetTypes ?? config.enforceTargetTypes ?? false,
    enforceTargetBinding: options.enforceTargetBinding ?? config.enforceTargetBinding ?? false,
  });
  return { registry, inventory, pdp };
}

/** The audit log's target, durability, checkpoints, rotation and background shipping. */
export interface AuditSetup {
  readonly target: string | AuditSink | false;
  readonly durability: 'fsync' | 'write';
  readonly checkpoints: AuditCheckpointsOptions | undefined;
  readonly rotate: AuditRotateOptions | undefined;
  readonly shipping: BackgroundShipping | undefined;
}

export function resolveAuditSetup(options: AgentSafeOptions, config: ProjectConfig, cwd: string): AuditSetup {
  const audit = options.auditLog ?? config.auditLog ?? DEFAULT_PATHS.auditLog;
  const target = typeof audit === 'string' ? resolve(cwd, audit) : audit;
  const checkpoints = options.auditCheckpoints ?? config.auditCheckpoints;
  if (checkpoints !== undefined && target !== false) {
    checkAuditCheckpoints(checkpoints, {
      where: where(options.auditCheckpoints, config),
      logFile: typeof target === 'string',
    });
  }
  const rotate = options.auditRotate ?? config.auditRotate;
  if (rotate !== undefined && target !== false) {
    checkAuditRotate(rotate, {
      where: where(options.auditRotate, config),
      logFile: typeof target === 'string',
    });
  }
  const shippers = options.auditShippers ?? config.auditShippers;
  let shipping: BackgroundShipping | undefined;
  // With auditing off (the CLI's read-only commands, dry runs) there is nothing to ship.
  if (shippers !== undefined && target !== false) {
    const from = where(options.auditShippers, config);
    if (typeof target !== 'string') {
      throw new AgentSafeError('CONFIG_INVALID', `${from}: audit shippers need an audit log file (auditLog)`);
    }
    shipping = new BackgroundShipping({
      log: target,
      ...resolveAuditShippers(shippers, {
        where: from,
        yaml: !options.auditShippers,
        baseDirectory: options.auditShippers || !config.file ? cwd : dirname(config.file),
      }),
    });
  }
  return {
    target,
    durability: options.auditDurability ?? config.auditDurability ?? 'fsync',
    checkpoints,
    rotate,
    shipping,
  };
}

/** The guard store and settings; local guards are built now, a Redis store connects on first use. */
export interface GuardSetup {
  readonly store: StoreOption | undefined;
  readonly options:
    | { rateLimit?: RateLimitOptions; cumulativeRisk?: CumulativeRiskSettings; store?: StoreOption }
    | undefined;
  readonly ready: Guards | undefined;
}

export function resolveGuardSetup(options: AgentSafeOptions, config: ProjectConfig, cwd: string): GuardSetup {
  const rateLimit = options.rateLimit ?? config.rateLimit;
  const cumulativeRisk = options.cumulativeRisk ?? config.cumulativeRisk;
  const store = Guards.resolveStore(options.store ?? config.store, cwd);
  // Checked here for every use (guards and ticket nonces), so a bad value fails at construction.
  if (store !== undefined) Guards.remote(store);
  if (!rateLimit && !cumulativeRisk) return { store, options: undefined, ready: undefined };
  const guardOptions = {
    ...(rateLimit ? { rateLimit } : {}),
    ...(cumulativeRisk ? { cumulativeRisk } : {}),
    ...(store ? { store } : {}),
  };
  if (Guards.remote(store)) return { store, options: guardOptions, ready: undefined };
  try {
    return {
      store,
      options: guardOptions,
      ready: Guards.createLocal({ ...guardOptions, clock: options.clock ?? systemClock }),
    };
  } catch (error) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `${where(options.rateLimit ?? options.cumulativeRisk, config)}: rate_limit / cumulative_risk settings are invalid: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Approval settings, checked; approvals need a signing key (approvers are tokens, grants yield tickets). */
export function resolveApprovalSetup(
  options: AgentSafeOptions,
  config: ProjectConfig,
  security: SecurityOptions,
  cwd: string,
): ResolvedApprovals | undefined {
  const approvals = options.approvals ?? config.approvals;
  if (approvals === undefined) return undefined;
  const from = where(options.approvals, config);
  if (security.signingKey === undefined && security.signingKeySource === undefined) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `${from}: approvals need identity and tickets: configure a signing key (signing_key: env:NAME or file:PATH; generate one with agent-safe identity keygen)`,
      {
        issues: [
          {
            path: 'approvals',
            message: 'approvers present identity tokens, and an approved request yields a signed ticket',
          },
        ],
      },
    );
  }
  return resolveApprovalsOptions(approvals, {
    where: from,
    baseDirectory: config.file ? dirname(config.file) : cwd,
    store: options.store ?? config.store,
  });
}
