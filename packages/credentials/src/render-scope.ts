import {
  type ActionDefinition,
  AgentSafeError,
  type Issue,
  type RenderedCredentialScope,
  actionRef,
} from '@agent-safe/core';
import {
  NAMELESS_VERBS,
  apiGroupProblem,
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  resourceProblem,
  verbProblem,
} from './kubernetes-syntax.js';
import { renderArnTemplate } from './aws-arn-template.js';
import {
  arnProblem,
  iamActionProblem,
  isActionWildcard,
  isArnResourceWildcard,
  unscopedActionProblem,
} from './aws-syntax.js';

/** The part of an action definition {@link renderScope} reads. */
export type ScopedAction = Pick<ActionDefinition, 'name' | 'version' | 'credentials' | 'parameters'>;

/** Largest number of values one scope field may hold (after rendering). */
export const MAX_SCOPE_VALUES = 64;

/** A whole-value template: `{{ params.name }}`, spaces inside the braces optional. */
const TEMPLATE = /^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

interface FieldRule {
  readonly required: boolean;
  /** Why a rendered value is not valid for this field, or undefined. */
  readonly problem: (value: string) => string | undefined;
  /**
   * How templates may appear: `whole` (the default: the whole value is one template), `none` (values
   * are written literally in the action file), `arn` (templates inside an ARN, see renderArnTemplate).
   */
  readonly templates?: 'whole' | 'none' | 'arn';
  /** True when a value grants more than one thing (default: the value is exactly `*`). */
  readonly wildcard?: (value: string) => boolean;
}

/** The fields of a `type: kubernetes` credentials block and the syntax of their values. */
const KUBERNETES_FIELDS: Readonly<Record<string, FieldRule>> = {
  verbs: { required: true, problem: verbProblem },
  resources: { required: true, problem: resourceProblem },
  api_groups: { required: true, problem: apiGroupProblem },
  namespaces: { required: false, problem: dns1123LabelProblem },
  resource_names: { required: false, problem: dns1123SubdomainProblem },
  unnamed_verbs: { required: false, problem: unnamedVerbProblem },
};

/** Why `value` cannot be listed under `unnamed_verbs`, or undefined. */
function unnamedVerbProblem(value: string): string | undefined {
  const problem = verbProblem(value);
  if (problem !== undefined) return problem;
  if (!NAMELESS_VERBS.has(value)) {
    return `is not a verb Kubernetes authorizes without an object name (${[...NAMELESS_VERBS].join(', ')}); it is restricted by resource_names already`;
  }
  return undefined;
}

/**
 * Checks between the fields of a rendered Kubernetes scope: `unnamed_verbs` only with `resource_names`,
 * each of them also under `verbs`, and never on a scope whose resources are all subresources.
 */
function checkKubernetesScope(fields: Readonly<Record<string, readonly string[]>>, issues: Issue[]): void {
  const unnamed = fields.unnamed_verbs ?? [];
  if (unnamed.length === 0) return;
  const path = 'credentials.fields.unnamed_verbs';
  if ((fields.resource_names ?? []).length === 0) {
    issues.push({
      path,
      message:
        'only applies together with resource_names (without them no verb is restricted to names); remove it',
    });
    return;
  }
  const verbs = fields.verbs ?? [];
  for (const verb of unnamed) {
    if (!verbs.includes(verb)) {
      issues.push({
        path,
        message: `lists "${verb}", which is not under verbs; add it there or remove it here`,
      });
    }
  }
  if ((fields.resources ?? []).every((resource) => resource.includes('/'))) {
    issues.push({
      path,
      message:
        'applies to top-level resources only, and every resource listed is a subresource (always authorized with the object name); remove it',
    });
  }
}

/**
 * The fields of a `type: aws` credentials block: IAM `actions` (written literally), `resources` as ARNs
 * (templates allowed inside them), and `unscoped_actions`, reads among `actions` that AWS only grants on
 * every resource (e.g. `ec2:DescribeInstances`), which the session policy allows on `*`.
 */
const AWS_FIELDS: Readonly<Record<string, FieldRule>> = {
  actions: { required: true, problem: iamActionProblem, templates: 'none', wildcard: isActionWildcard },
  resources: { required: true, problem: arnProblem, templates: 'arn', wildcard: isArnResourceWildcard },
  unscoped_actions: { required: false, problem: unscopedActionProblem, templates: 'none' },
};

/** Checks between the fields of a rendered AWS scope: each of `unscoped_actions` is also under `actions`. */
function checkAwsScope(fields: Readonly<Record<string, readonly string[]>>, issues: Issue[]): void {
  const actions = fields.actions ?? [];
  for (const action of fields.unscoped_actions ?? []) {
    const problem = unscopedActionProblem(action);
    if (problem !== undefined) {
      issues.push({ path: 'credentials.fields.unscoped_actions', message: `"${action}" ${problem}` });
    } else if (!actions.includes(action)) {
      issues.push({
        path: 'credentials.fields.unscoped_actions',
        message: `lists "${action}", which is not under actions; add it there or remove it here`,
      });
    }
  }
}

/** Field listing which other fields may hold the `*` wildcard (an explicit opt-in in the action file). */
const ALLOW_WILDCARDS = 'allow_wildcards';

const SCOPE_TYPES: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  kubernetes: KUBERNETES_FIELDS,
  aws: AWS_FIELDS,
};

/** Checks between the rendered fields of a scope type (after each value passed its own rule). */
const SCOPE_CHECKS: Readonly<
  Record<string, (fields: Readonly<Record<string, readonly string[]>>, issues: Issue[]) => void>
> = {
  kubernetes: checkKubernetesScope,
  aws: checkAwsScope,
};

/**
 * Renders an action's `credentials` block for one request: each `{{ params.x }}` template is replaced
 * by the param's value, and every value (templated or literal) is validated for its target syntax
 * (Kubernetes: verbs from the RBAC verb set, resources and API groups as Kubernetes names them,
 * namespaces as DNS-1123 labels, resource names as DNS-1123 subdomains; AWS: IAM action names written
 * literally, resources as ARNs).
 *
 * A template must be the whole value: `"prod-{{ params.ns }}"` is refused, so a param is never spliced
 * into another string — except in an AWS ARN, where each template fills one part (region, account, or a
 * name in the resource part) and its value must keep to that part's strict character set, with no
 * wildcard, policy variable, `:` or control character (see `arnValueProblem`). A literal `*` is refused unless the block lists the field under `allow_wildcards`;
 * a param is never allowed to supply `*`.
 * Returns null when the action declares no credentials. Throws `CONFIG_INVALID` for a defect of the
 * action file and `PARAMS_INVALID` for a param value that cannot be used; both name the action, the
 * field and the param, and list every problem found. Param values are never echoed (they may be hostile).
 */
export function renderScope(
  action: ScopedAction,
  params: Readonly<Record<string, unknown>>,
): RenderedCredentialScope | null {
  const scope = action.credentials;
  if (scope === null || scope === undefined) return null;
  const ref = actionRef(action);
  const configIssues: Issue[] = [];
  const paramIssues: Issue[] = [];
  const rules = Object.hasOwn(SCOPE_TYPES, scope.type) ? SCOPE_TYPES[scope.type] : undefined;
  if (rules === undefined) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `Action ${ref}: credentials type "${scope.type}" has no scope renderer; supported: ${Object.keys(SCOPE_TYPES).join(', ')}`,
      { details: { action: ref, field: 'credentials.type' } },
    );
  }
  if (!Number.isSafeInteger(scope.ttl) || scope.ttl < 1) {
    configIssues.push({ path: 'credentials.ttl', message: 'must be a positive whole number of seconds' });
  }
  const declared = new Set(action.parameters.map((parameter) => parameter.name));
  const wildcards = readWildcardOptIn(scope.fields, rules, configIssues);
  const fields: Record<string, readonly string[]> = {};
  for (const key of Object.keys(scope.fields)) {
    if (key !== ALLOW_WILDCARDS && !Object.hasOwn(rules, key)) {
      configIssues.push({
        path: `credentials.fields.${key}`,
        message: `is not a ${scope.type} credentials field (${[...Object.keys(rules), ALLOW_WILDCARDS].join(', ')})`,
      });
    }
  }
  for (const [field, rule] of Object.entries(rules)) {
    const path = `credentials.fields.${field}`;
    const raw = Object.hasOwn(scope.fields, field) ? scope.fields[field] : undefined;
    if (raw === undefined || raw === null) {
      if (rule.required)
        configIssues.push({ path, message: 'is required: list the values the credential needs' });
      continue;
    }
    if (!Array.isArray(raw)) {
      configIssues.push({ path, message: 'must be a list of strings' });
      continue;
    }
    if (raw.length === 0 || raw.length > MAX_SCOPE_VALUES) {
      configIssues.push({ path, message: `must list between 1 and ${MAX_SCOPE_VALUES} values` });
      continue;
    }
    const values: string[] = [];
    raw.forEach((entry: unknown, index) => {
      const at = `${path}[${index}]`;
      if (typeof entry !== 'string') {
        configIssues.push({ path: at, message: 'must be a string' });
        return;
      }
      const mode = rule.templates ?? 'whole';
      if (mode === 'none' && (entry.includes('{{') || entry.includes('}}'))) {
        configIssues.push({ path: at, message: 'is written literally: a param may not choose it' });
        return;
      }
      const value =
        mode === 'arn'
          ? renderArn(entry, at, { ref, params, declared, configIssues, paramIssues })
          : renderValue(entry, at, { ref, params, declared, configIssues, paramIssues });
      if (value === undefined) return;
      const template = mode === 'whole' ? TEMPLATE.exec(entry) : null;
      const origin = template ? `param "${template[1]}"` : 'the value';
      const wildcard = value === '*' || (rule.wildcard?.(value) ?? false);
      if (wildcard) {
        // A wildcard is granted only when written literally in the action file and opted into there;
        // a param can never widen the scope to "*".
        if (template) {
          paramIssues.push({
            path: at,
            message: `${origin} is the wildcard "*", which a param may never supply`,
          });
          return;
        }
        if (!wildcards.has(field)) {
          configIssues.push({
            path: at,
            message: `${value === '*' ? 'is the wildcard "*"' : 'holds a wildcard ("*" or "?")'}, which is refused unless the credentials block lists "${field}" under ${ALLOW_WILDCARDS}`,
          });
          return;
        }
      }
      if (value !== '*') {
        const problem = rule.problem(value);
        if (problem !== undefined) {
          (template ? paramIssues : configIssues).push({ path: at, message: `${origin} ${problem}` });
          return;
        }
      }
      if (!values.includes(value)) values.push(value);
    });
    fields[field] = Object.freeze(values);
  }
  if (configIssues.length === 0 && paramIssues.length === 0) SCOPE_CHECKS[scope.type]?.(fields, configIssues);
  if (configIssues.length > 0) {
    throw new AgentSafeError('CONFIG_INVALID', `Action ${ref}: the credentials block cannot be used`, {
      issues: configIssues,
      details: { action: ref },
    });
  }
  if (paramIssues.length > 0) {
    const first = paramIssues[0]!;
    throw new AgentSafeError(
      'PARAMS_INVALID',
      `Action ${ref}: params cannot be used in the credential scope (${first.path}: ${first.message})`,
      { issues: paramIssues, details: { action: ref } },
    );
  }
  return Object.freeze({ type: scope.type, fields: Object.freeze(fields), ttl: scope.ttl });
}

interface RenderContext {
  readonly ref: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly declared: ReadonlySet<string>;
  readonly configIssues: Issue[];
  readonly paramIssues: Issue[];
}

function renderValue(entry: string, path: string, context: RenderContext): string | undefined {
  const template = TEMPLATE.exec(entry);
  if (template === null) {
    if (entry.includes('{{') || entry.includes('}}')) {
      context.configIssues.push({
        path,
        message:
          'a template must be the whole value, exactly "{{ params.NAME }}": params are never spliced into other text',
      });
      return undefined;
    }
    return entry;
  }
  const name = template[1]!;
  if (!context.declared.has(name)) {
    context.configIssues.push({
      path,
      message: `uses param "${name}", which the action does not declare; declare it under parameters or fix the name`,
    });
    return undefined;
  }
  const value = Object.hasOwn(context.params, name) ? context.params[name] : undefined;
  if (value === undefined || value === null) {
    context.paramIssues.push({ path, message: `param "${name}" is missing; the credential scope needs it` });
    return undefined;
  }
  if (typeof value !== 'string') {
    context.paramIssues.push({
      path,
      message: `param "${name}" must be a string to be used in the credential scope, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    });
    return undefined;
  }
  return value;
}

/** An ARN with templates inside it (aws `resources`): each value checked for the part it fills. */
function renderArn(entry: string, path: string, context: RenderContext): string | undefined {
  const result = renderArnTemplate(entry, (name) => {
    if (!context.declared.has(name)) {
      return {
        kind: 'config',
        problem: `uses param "${name}", which the action does not declare; declare it under parameters or fix the name`,
      };
    }
    const value = Object.hasOwn(context.params, name) ? context.params[name] : undefined;
    if (value === undefined || value === null) {
      return { kind: 'param', problem: `param "${name}" is missing; the credential scope needs it` };
    }
    if (typeof value !== 'string') {
      return {
        kind: 'param',
        problem: `param "${name}" must be a string to be used in the credential scope, got ${Array.isArray(value) ? 'an array' : typeof value}`,
      };
    }
    return { value };
  });
  for (const message of result.configProblems) context.configIssues.push({ path, message });
  for (const message of result.paramProblems) context.paramIssues.push({ path, message });
  return result.value;
}

function readWildcardOptIn(
  fields: Readonly<Record<string, unknown>>,
  rules: Readonly<Record<string, FieldRule>>,
  issues: Issue[],
): ReadonlySet<string> {
  const raw = Object.hasOwn(fields, ALLOW_WILDCARDS) ? fields[ALLOW_WILDCARDS] : undefined;
  if (raw === undefined) return new Set();
  const path = `credentials.fields.${ALLOW_WILDCARDS}`;
  if (!Array.isArray(raw) || raw.some((entry) => typeof entry !== 'string' || !Object.hasOwn(rules, entry))) {
    issues.push({ path, message: `must be a list of field names (${Object.keys(rules).join(', ')})` });
    return new Set();
  }
  return new Set(raw as string[]);
}
