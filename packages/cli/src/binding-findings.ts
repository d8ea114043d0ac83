/** The parts of an action definition the findings read. */
interface ActionDefinition {
  readonly name: string;
  readonly targetTypes: readonly string[];
  readonly targetBinding?: Readonly<Record<string, string>>;
}

/** The parts of an inventory target the findings read. */
interface TargetDefinition {
  readonly id: string;
  readonly type: string;
  readonly identifiers?: Readonly<Record<string, string>>;
}

/** One `validate` line about the target binding. */
export interface BindingFinding {
  readonly severity: 'warning';
  readonly message: string;
}

const SHOWN = 8;

function some(names: readonly string[]): string {
  const shown = names.slice(0, SHOWN).join(', ');
  return names.length > SHOWN ? `${shown} and ${names.length - SHOWN} more` : shown;
}

/**
 * What `validate` says about the target binding (docs/target-binding.md): actions that declare no
 * `target_binding`, targets without `identifiers`, and targets of an action's type that lack an
 * identifier it binds (every such request is DENY). Summarised, so a 100 000-target inventory gives a
 * few lines, not thousands.
 */
export function bindingFindings(
  actions: Iterable<ActionDefinition> | undefined,
  targets: Iterable<TargetDefinition> | undefined,
  enforced: boolean,
): BindingFinding[] {
  const findings: BindingFinding[] = [];
  const actionList = actions === undefined ? [] : [...actions];
  const targetList = targets === undefined ? [] : [...targets];
  const unboundActions = actionList.filter((action) => action.targetBinding === undefined).map((a) => a.name);
  const unnamedTargets = targetList.filter((target) => target.identifiers === undefined).map((t) => t.id);
  const consequence = enforced
    ? 'every request for them is DENY (enforce_target_binding is on)'
    : 'their params are not checked against the target; fix that, then set enforce_target_binding: true';
  if (unboundActions.length > 0) {
    findings.push({
      severity: 'warning',
      message: `${unboundActions.length} action(s) declare no target_binding (${some(unboundActions)}): ${consequence}`,
    });
  }
  if (unnamedTargets.length > 0) {
    findings.push({
      severity: 'warning',
      message: `${unnamedTargets.length} target(s) have no identifiers (${some(unnamedTargets)}): ${
        enforced
          ? 'every request on them is DENY (enforce_target_binding is on)'
          : 'an action with a target_binding is DENY on them; add identifiers (e.g. namespace, name)'
      }`,
    });
  }
  // Targets that have identifiers, but not the ones an action of their type binds.
  const byType = new Map<string, TargetDefinition[]>();
  for (const target of targetList) {
    if (target.identifiers === undefined) continue;
    const list = byType.get(target.type);
    if (list === undefined) byType.set(target.type, [target]);
    else list.push(target);
  }
  for (const action of actionList) {
    const binding = action.targetBinding;
    if (binding === undefined) continue;
    const needed = [...new Set(Object.values(binding))];
    if (needed.length === 0) continue;
    const lacking: string[] = [];
    const missingNames = new Set<string>();
    for (const type of action.targetTypes) {
      for (const target of byType.get(type) ?? []) {
        const missing = needed.filter((name) => !Object.hasOwn(target.identifiers!, name));
        if (missing.length === 0) continue;
        lacking.push(target.id);
        for (const name of missing) missingNames.add(name);
      }
    }
    if (lacking.length > 0) {
      findings.push({
        severity: 'warning',
        message: `action ${action.name} binds identifier(s) ${[...missingNames].join(', ')} that ${lacking.length} target(s) of its types lack (${some(lacking)}): every ${action.name} request on them is DENY`,
      });
    }
  }
  return findings;
}
