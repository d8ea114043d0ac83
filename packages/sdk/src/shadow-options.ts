import { isAbsolute, resolve } from 'node:path';
import { type ActionLookup, AgentSafeError, type Issue, type TargetLookup } from '@agent-safe/core';
import { PolicyDecisionPoint, type PolicyRule, type PolicySet, loadPoliciesSync } from '@agent-safe/pdp';
import type { ParseCache } from '@agent-safe/registry';
import type { AgentSafeOptions } from './agent-safe.js';
import type { ProjectConfig } from './project-config.js';
import { ShadowMode } from './shadow-mode.js';

/**
 * Shadow mode (docs/server.md, "Shadow mode"): a candidate policy set evaluated beside the enforced one
 * on every check; differences are recorded as `shadow_difference` audit events and counted
 * (`safe.shadowStats()`), and never change an answer. `shadow:` in agent-safe.yaml.
 */
export interface ShadowOptions {
  /**
   * The candidate policies: a directory or file of policy YAML (the same formats as `policies`), or
   * loaded rules. A path is relative to `cwd` (to the config file's folder in agent-safe.yaml).
   */
  readonly policies: string | PolicySet | readonly PolicyRule[];
}

/** The `shadow:` block of agent-safe.yaml, or undefined (with issues) when it is not valid. */
export function parseShadowBlock(
  value: unknown,
  base: string,
  file: string,
  issues: Issue[],
): ShadowOptions | undefined {
  const expected = 'expected a mapping: policies (a directory or file of candidate policy YAML)';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ file, path: 'shadow', message: expected });
    return undefined;
  }
  const before = issues.length;
  let policies: string | undefined;
  for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
    if (name !== 'policies') {
      issues.push({ file, path: `shadow.${name}`, message: 'unknown setting; expected policies' });
    } else if (
      typeof member !== 'string' ||
      member.length === 0 ||
      member.length > 4096 ||
      member.includes('\0')
    ) {
      issues.push({
        file,
        path: 'shadow.policies',
        message: `expected the path of a directory or file of policy YAML, got ${JSON.stringify(member)?.slice(0, 80)}`,
      });
    } else policies = isAbsolute(member) ? member : resolve(base, member);
  }
  if (policies === undefined && issues.length === before) {
    issues.push({
      file,
      path: 'shadow.policies',
      message: 'is required: the candidate policies to evaluate',
    });
  }
  return issues.length === before && policies !== undefined ? { policies } : undefined;
}

/** What the candidate decision point shares with the enforced one. */
export interface ShadowSetupContext {
  readonly actions: ActionLookup;
  readonly targets: TargetLookup;
  readonly timeZone: string | undefined;
  readonly enforceTargetTypes: boolean;
  readonly enforceTargetBinding: boolean;
  readonly parseCache: ParseCache | undefined;
  readonly cwd: string;
  /** Where the setting came from, for error messages: `options` or the config file. */
  readonly where: string;
}

/**
 * Compiles the candidate policies into a second decision point on the same registry, inventory, time
 * zone and enforcement settings as the enforced one, so that only the rules differ. Throws
 * CONFIG_INVALID naming the setting and the file when the candidate cannot be loaded.
 */
export function createShadowMode(shadow: ShadowOptions, context: ShadowSetupContext): ShadowMode {
  if (shadow === null || typeof shadow !== 'object' || shadow.policies === undefined) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `${context.where}: shadow needs policies (a directory or file of candidate policy YAML)`,
      { issues: [{ path: 'shadow.policies', message: 'is required' }] },
    );
  }
  const source = shadow.policies;
  let policies: PolicySet | readonly PolicyRule[];
  try {
    policies =
      typeof source === 'string'
        ? loadPoliciesSync(resolve(context.cwd, source), { parseCache: context.parseCache })
        : source;
    return new ShadowMode(
      new PolicyDecisionPoint({
        actions: context.actions,
        targets: context.targets,
        policies,
        timeZone: context.timeZone,
        enforceTargetTypes: context.enforceTargetTypes,
        enforceTargetBinding: context.enforceTargetBinding,
      }),
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const issues = error instanceof AgentSafeError ? error.issues : [];
    throw new AgentSafeError(
      error instanceof AgentSafeError ? error.code : 'CONFIG_INVALID',
      `${context.where}: the shadow policies cannot be loaded: ${message}`,
      { issues, cause: error },
    );
  }
}

/**
 * The facade's shadow mode from its options and agent-safe.yaml (options win), or undefined when none is
 * configured: then check() does no shadow work at all.
 */
export function resolveShadowSetup(
  options: AgentSafeOptions,
  config: ProjectConfig,
  cwd: string,
  decisionCore: { readonly registry: ActionLookup; readonly inventory: TargetLookup },
): ShadowMode | undefined {
  const shadow = options.shadow ?? config.shadow;
  if (shadow === undefined) return undefined;
  return createShadowMode(shadow, {
    actions: decisionCore.registry,
    targets: decisionCore.inventory,
    timeZone: options.timeZone ?? config.timeZone,
    enforceTargetTypes: options.enforceTargetTypes ?? config.enforceTargetTypes ?? false,
    enforceTargetBinding: options.enforceTargetBinding ?? config.enforceTargetBinding ?? false,
    parseCache: options.parseCache,
    cwd,
    where: options.shadow !== undefined ? 'options' : (config.file ?? 'configuration'),
  });
}
