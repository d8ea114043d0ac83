import {
  type ActionDefinition,
  type CredentialScope,
  type Issue,
  PARAM_TYPES,
  type ParamConstraints,
  type ParamType,
  type ParameterDefinition,
  type Precheck,
  RISK_CLASSES,
  type RiskClass,
  type RollbackParamSource,
  type StateField,
  isRiskClass,
} from '@agent-safe/core';
import { describeValue, quoteString } from './describe-value.js';
import { cloneJson, deepFreeze, isPlainObject } from './json-value.js';
import { MAX_PATTERN_INPUT_LENGTH, compileParameterCheck, compilePattern } from './param-validator.js';
import { patternSafetyProblem } from './pattern-safety.js';
import { SchemaReader, fieldPath } from './schema-reader.js';

/** Action names: lowercase words joined by hyphens, e.g. `scale-deployment`. */
export const ACTION_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
const MAX_NAME_LENGTH = 128;
/** Semantic version `x.y.z`, optionally with a pre-release and build suffix. */
const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const PARAMETER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const ROLLBACK_SOURCE_PATTERN =
  /^(params|before_state|after_state|target)\.[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const DEFAULT_CREDENTIAL_TTL = 300;

const ACTION_FIELDS = [
  'name',
  'version',
  'description',
  'parameters',
  'risk_class',
  'target_types',
  'prechecks',
  'reversible',
  'rollback_action',
  'required_privileges',
  'tags',
  'credentials',
  'state_fields',
  'rollback_params',
  'target_binding',
] as const;
const PARAMETER_FIELDS = ['name', 'type', 'required', 'description', 'default', 'constraints', 'sensitive'];
const CONSTRAINT_FIELDS = ['min_value', 'max_value', 'min_length', 'max_length', 'pattern', 'enum'];
const PRECHECK_FIELDS = ['name', 'description', 'force_allowed'];
const CREDENTIAL_FIELDS = ['type', 'fields', 'ttl'];
const STATE_FIELD_FIELDS = ['name', 'description', 'type', 'required', 'sensitive'];
const ROLLBACK_PARAM_FIELDS = ['source'];

/** Outcome of checking one action definition: the definition when it has no errors, and every issue. */
export interface ActionParseResult {
  readonly action?: ActionDefinition;
  /** Errors and warnings (`severity: 'warning'` does not prevent loading). */
  readonly issues: Issue[];
}

/**
 * Checks one action definition in the YAML schema (snake_case fields, as in the original tool) and
 * converts it to an {@link ActionDefinition}. Never throws: every problem comes back as an issue naming
 * the file, the field path and what was expected. The returned definition is deeply frozen.
 */
export function parseActionDefinition(raw: unknown, file?: string): ActionParseResult {
  const reader = new SchemaReader(file);
  if (raw === null || raw === undefined) {
    reader.error('', 'the file is empty; expected an action definition (name, version, risk_class …)');
    return { issues: reader.issues };
  }
  const record = reader.mapping(raw, '', 'a mapping of action fields (name, version, risk_class …)');
  if (record === undefined) return { issues: reader.issues };
  reader.rejectUnknownKeys(record, '', ACTION_FIELDS);

  const name = reader.string(record, 'name', '', {
    required: true,
    pattern: ACTION_NAME_PATTERN,
    patternHint:
      'a lowercase name like "scale-deployment" (letters, digits, hyphens; starting with a letter)',
  });
  if (name !== undefined && name.length > MAX_NAME_LENGTH) {
    reader.error('name', `expected at most ${MAX_NAME_LENGTH} characters, got ${name.length}`);
  }
  const version = reader.string(record, 'version', '', {
    required: true,
    pattern: SEMVER_PATTERN,
    patternHint: 'a semantic version like "1.0.0" (quote it in YAML)',
  });
  const description = reader.string(record, 'description', '', { required: true });
  const riskClass = readRiskClass(reader, record);
  const targetTypes = reader.stringList(record, 'target_types', '', { required: true, nonEmpty: true });
  const parameters = readParameters(reader, record, name);
  const prechecks = reader.list(record, 'prechecks', '', (item, path) => readPrecheck(reader, item, path));
  const reversible = reader.boolean(record, 'reversible', '', false);
  const rollbackAction = readRollbackAction(reader, record);
  if (reversible && rollbackAction === null) {
    reader.warning('rollback_action', 'the action is reversible but names no rollback_action');
  }
  const requiredPrivileges = reader.stringList(record, 'required_privileges', '');
  const tags = reader.stringList(record, 'tags', '');
  const credentials = readCredentials(reader, record);
  const stateFields = readStateFields(reader, record);
  const rollbackParams = readRollbackParams(reader, record, parameters, stateFields);
  const targetBinding = readTargetBinding(reader, record, parameters);

  if (
    reader.hasErrors ||
    name === undefined ||
    version === undefined ||
    description === undefined ||
    riskClass === undefined
  ) {
    return { issues: reader.issues };
  }
  const action: ActionDefinition = {
    name,
    version,
    description,
    parameters,
    riskClass,
    targetTypes,
    prechecks,
    reversible,
    rollbackAction,
    requiredPrivileges,
    tags,
    credentials,
    stateFields,
    rollbackParams,
    ...(targetBinding === undefined ? {} : { targetBinding }),
  };
  return { action: deepFreeze(action), issues: reader.issues };
}

function readRiskClass(reader: SchemaReader, record: Record<string, unknown>): RiskClass | undefined {
  const value = Object.hasOwn(record, 'risk_class') ? record.risk_class : undefined;
  if (value === undefined) {
    reader.error('risk_class', `required field is missing; expected one of ${RISK_CLASSES.join(', ')}`);
    return undefined;
  }
  if (!isRiskClass(value)) {
    reader.error('risk_class', `expected one of ${RISK_CLASSES.join(', ')}, got ${describeValue(value)}`);
    return undefined;
  }
  return value;
}

function readRollbackAction(reader: SchemaReader, record: Record<string, unknown>): string | null {
  const value = Object.hasOwn(record, 'rollback_action') ? record.rollback_action : undefined;
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !ACTION_NAME_PATTERN.test(value)) {
    reader.error('rollback_action', `expected an action name or null, got ${describeValue(value)}`);
    return null;
  }
  return value;
}

function readPrecheck(reader: SchemaReader, item: unknown, path: string): Precheck | undefined {
  const record = reader.mapping(item, path, 'a mapping with name and description');
  if (record === undefined) return undefined;
  reader.rejectUnknownKeys(record, path, PRECHECK_FIELDS);
  const name = reader.string(record, 'name', path, { required: true, nonEmpty: true });
  const description = reader.string(record, 'description', path) ?? '';
  const forceAllowed = reader.boolean(record, 'force_allowed', path, false);
  if (name === undefined) return undefined;
  return forceAllowed ? { name, description, forceAllowed } : { name, description };
}

function readParameters(
  reader: SchemaReader,
  record: Record<string, unknown>,
  actionName: string | undefined,
): ParameterDefinition[] {
  const seen = new Map<string, string>();
  return reader.list(record, 'parameters', '', (item, path) => {
    const parameter = readParameter(reader, item, path, actionName);
    if (parameter === undefined) return undefined;
    const earlier = seen.get(parameter.name);
    if (earlier !== undefined) {
      reader.error(
        fieldPath(path, 'name'),
        `duplicate parameter name "${parameter.name}" (also at ${earlier})`,
      );
      return undefined;
    }
    seen.set(parameter.name, path);
    return parameter;
  });
}

function readParameter(
  reader: SchemaReader,
  item: unknown,
  path: string,
  actionName: string | undefined,
): ParameterDefinition | undefined {
  const record = reader.mapping(item, path, 'a parameter mapping (name, type …)');
  if (record === undefined) return undefined;
  reader.rejectUnknownKeys(record, path, PARAMETER_FIELDS);
  const errorsBefore = reader.errorCount;
  const name = reader.string(record, 'name', path, {
    required: true,
    pattern: PARAMETER_NAME_PATTERN,
    patternHint: 'a parameter name like "replicas" (letters, digits, _ and -)',
  });
  if (name === '__proto__') reader.error(fieldPath(path, 'name'), '"__proto__" cannot be a parameter name');
  const type = readParamType(reader, record, path, 'type');
  const required = reader.boolean(record, 'required', path, true);
  const description = reader.string(record, 'description', path) ?? '';
  const sensitive = reader.boolean(record, 'sensitive', path, false);
  const constraints =
    type === undefined
      ? undefined
      : readConstraints(
          reader,
          record,
          path,
          type,
          `parameter ${quoteString(name ?? '?')} of action ${quoteString(actionName ?? '?')}`,
        );
  if (name === undefined || type === undefined || reader.errorCount !== errorsBefore) return undefined;
  const parameter: { -readonly [K in keyof ParameterDefinition]: ParameterDefinition[K] } = {
    name,
    type,
    required,
    description,
    sensitive,
  };
  if (constraints !== undefined) parameter.constraints = constraints;
  if (Object.hasOwn(record, 'default') && record.default !== undefined) {
    const fallback = record.default;
    if (fallback === null) {
      reader.error(
        fieldPath(path, 'default'),
        'a default of null is not allowed; leave the default out instead',
      );
      return undefined;
    }
    const problem = compileParameterCheck(parameter)(fallback);
    if (problem !== undefined) {
      reader.error(fieldPath(path, 'default'), `the default does not satisfy the parameter: ${problem}`);
      return undefined;
    }
    parameter.default = cloneJson(fallback);
  }
  return parameter;
}

function readParamType(
  reader: SchemaReader,
  record: Record<string, unknown>,
  path: string,
  key: string,
): ParamType | undefined {
  const value = Object.hasOwn(record, key) ? record[key] : undefined;
  if (value === undefined) {
    reader.error(
      fieldPath(path, key),
      `required field is missing; expected one of ${PARAM_TYPES.join(', ')}`,
    );
    return undefined;
  }
  if (typeof value !== 'string' || !(PARAM_TYPES as readonly string[]).includes(value)) {
    reader.error(
      fieldPath(path, key),
      `expected one of ${PARAM_TYPES.join(', ')}, got ${describeValue(value)}`,
    );
    return undefined;
  }
  return value as ParamType;
}

function readConstraints(
  reader: SchemaReader,
  record: Record<string, unknown>,
  path: string,
  type: ParamType,
  owner: string,
): ParamConstraints | undefined {
  const value = Object.hasOwn(record, 'constraints') ? record.constraints : undefined;
  if (value === undefined || value === null) return undefined;
  const where = fieldPath(path, 'constraints');
  const constraints = reader.mapping(value, where);
  if (constraints === undefined) return undefined;
  reader.rejectUnknownKeys(constraints, where, CONSTRAINT_FIELDS);
  const result: { -readonly [K in keyof ParamConstraints]: ParamConstraints[K] } = {};
  const numeric = type === 'integer' || type === 'number';
  const sized = type === 'string' || type === 'array';
  const applies = (key: string, ok: boolean, types: string): boolean => {
    if (!Object.hasOwn(constraints, key) || constraints[key] === null) return false;
    if (!ok) reader.error(fieldPath(where, key), `only applies to ${types} parameters, not ${type}`);
    return ok;
  };

  if (applies('min_value', numeric, 'integer and number')) {
    const minimum = reader.number(constraints, 'min_value', where);
    if (minimum !== undefined) result.minValue = minimum;
  }
  if (applies('max_value', numeric, 'integer and number')) {
    const maximum = reader.number(constraints, 'max_value', where);
    if (maximum !== undefined) result.maxValue = maximum;
  }
  if (result.minValue !== undefined && result.maxValue !== undefined && result.minValue > result.maxValue) {
    reader.error(
      fieldPath(where, 'min_value'),
      `min_value ${result.minValue} is greater than max_value ${result.maxValue}; no value could pass`,
    );
  }
  if (applies('min_length', sized, 'string and array')) {
    const minimum = reader.integer(constraints, 'min_length', where, 0);
    if (minimum !== undefined) result.minLength = minimum;
  }
  if (applies('max_length', sized, 'string and array')) {
    const maximum = reader.integer(constraints, 'max_length', where, 0);
    if (maximum !== undefined) result.maxLength = maximum;
  }
  if (
    result.minLength !== undefined &&
    result.maxLength !== undefined &&
    result.minLength > result.maxLength
  ) {
    reader.error(
      fieldPath(where, 'min_length'),
      `min_length ${result.minLength} is greater than max_length ${result.maxLength}; no value could pass`,
    );
  }
  if (applies('pattern', type === 'string', 'string')) {
    const pattern = reader.string(constraints, 'pattern', where);
    if (pattern !== undefined) {
      try {
        compilePattern(pattern);
        const unsafe = patternSafetyProblem(pattern);
        if (unsafe !== undefined) {
          reader.error(
            fieldPath(where, 'pattern'),
            `${owner}: pattern ${quoteString(pattern)} is refused because it can backtrack catastrophically on a hostile value: ${unsafe}`,
          );
        } else {
          result.pattern = pattern;
          if (result.maxLength === undefined || result.maxLength > MAX_PATTERN_INPUT_LENGTH) {
            reader.warning(
              fieldPath(where, 'pattern'),
              `pattern without a max_length of at most ${MAX_PATTERN_INPUT_LENGTH}: values longer than ${MAX_PATTERN_INPUT_LENGTH} characters are refused without being matched; set max_length to say what is expected`,
            );
          }
        }
      } catch (error) {
        reader.error(
          fieldPath(where, 'pattern'),
          `expected a regular expression (JavaScript syntax, unicode mode), got ${quoteString(pattern)}: ${(error as Error).message}`,
        );
      }
    }
  }
  if (Object.hasOwn(constraints, 'enum') && constraints.enum !== null && constraints.enum !== undefined) {
    const allowed = readEnum(reader, constraints.enum, fieldPath(where, 'enum'), type);
    if (allowed !== undefined) result.enum = allowed;
  }
  return Object.keys(result).length === 0 ? undefined : result;
}

function readEnum(
  reader: SchemaReader,
  value: unknown,
  path: string,
  type: ParamType,
): (string | number | boolean)[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    reader.error(path, `expected a non-empty list of allowed values, got ${describeValue(value)}`);
    return undefined;
  }
  if (type === 'array' || type === 'object') {
    reader.error(path, `enum only applies to string, integer, number and boolean parameters, not ${type}`);
    return undefined;
  }
  const typeCheck = compileParameterCheck({
    name: 'enum',
    type,
    required: true,
    description: '',
    sensitive: false,
  });
  let ok = true;
  value.forEach((item, index) => {
    const problem = typeCheck(item);
    if (problem !== undefined) {
      reader.error(`${path}[${index}]`, problem);
      ok = false;
    }
  });
  return ok ? (value as (string | number | boolean)[]) : undefined;
}

function readCredentials(reader: SchemaReader, record: Record<string, unknown>): CredentialScope | null {
  const value = Object.hasOwn(record, 'credentials') ? record.credentials : undefined;
  if (value === undefined || value === null) return null;
  const credentials = reader.mapping(value, 'credentials', 'a mapping with type, fields and ttl');
  if (credentials === undefined) return null;
  reader.rejectUnknownKeys(credentials, 'credentials', CREDENTIAL_FIELDS);
  const type = reader.string(credentials, 'type', 'credentials', { required: true, nonEmpty: true });
  let fields: Record<string, unknown> = {};
  if (
    Object.hasOwn(credentials, 'fields') &&
    credentials.fields !== null &&
    credentials.fields !== undefined
  ) {
    if (isPlainObject(credentials.fields)) fields = cloneJson(credentials.fields);
    else reader.error('credentials.fields', `expected a mapping, got ${describeValue(credentials.fields)}`);
  }
  const ttl = reader.integer(credentials, 'ttl', 'credentials', 1) ?? DEFAULT_CREDENTIAL_TTL;
  return type === undefined ? null : { type, fields, ttl };
}

function readStateFields(reader: SchemaReader, record: Record<string, unknown>): StateField[] {
  const seen = new Set<string>();
  return reader.list(record, 'state_fields', '', (item, path) => {
    const field = reader.mapping(item, path, 'a mapping with name, description, type and required');
    if (field === undefined) return undefined;
    reader.rejectUnknownKeys(field, path, STATE_FIELD_FIELDS);
    const name = reader.string(field, 'name', path, { required: true, nonEmpty: true });
    const description = reader.string(field, 'description', path) ?? '';
    const type = readParamType(reader, field, path, 'type');
    const required = reader.boolean(field, 'required', path, false);
    const sensitive = reader.boolean(field, 'sensitive', path, false);
    if (name === undefined || type === undefined) return undefined;
    if (seen.has(name)) {
      reader.error(fieldPath(path, 'name'), `duplicate state field "${name}"`);
      return undefined;
    }
    seen.add(name);
    return sensitive
      ? { name, description, type, required, sensitive }
      : { name, description, type, required };
  });
}

/** Identifier names of inventory targets: `namespace`, `name`, `arn`, `resource_group` … */
export const IDENTIFIER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const MAX_BINDINGS = 32;

/**
 * `target_binding:` maps param names to target identifier names. Every bound param must be a declared
 * string param (the comparison is exact string equality), and identifier names follow the inventory's
 * rules. Undefined when the field is absent (an unbound action); `{}` is an explicit "names no object".
 */
function readTargetBinding(
  reader: SchemaReader,
  record: Record<string, unknown>,
  parameters: readonly ParameterDefinition[],
): Readonly<Record<string, string>> | undefined {
  const value = Object.hasOwn(record, 'target_binding') ? record.target_binding : undefined;
  if (value === undefined || value === null) return undefined;
  const mapping = reader.mapping(
    value,
    'target_binding',
    'a mapping of parameter name to target identifier name, e.g. { namespace: namespace, deployment: name }',
  );
  if (mapping === undefined) return undefined;
  const keys = Object.keys(mapping);
  if (keys.length > MAX_BINDINGS) {
    reader.error('target_binding', `expected at most ${MAX_BINDINGS} bound parameters, got ${keys.length}`);
    return undefined;
  }
  const byName = new Map(parameters.map((parameter) => [parameter.name, parameter]));
  const result: Record<string, string> = {};
  for (const key of keys) {
    const path = `target_binding.${key.length > 64 ? quoteString(key) : key}`;
    const parameter = byName.get(key);
    if (parameter === undefined) {
      reader.error(
        path,
        `names no parameter of this action; bind one of: ${[...byName.keys()].join(', ') || '(none declared)'}`,
      );
      continue;
    }
    if (parameter.type !== 'string') {
      reader.error(
        path,
        `parameter "${key}" is of type ${parameter.type}; only string parameters can be bound to a target identifier`,
      );
      continue;
    }
    const identifier = mapping[key];
    if (typeof identifier !== 'string' || !IDENTIFIER_NAME_PATTERN.test(identifier)) {
      reader.error(
        path,
        `expected the name of a target identifier (letters, digits, _ and -, at most 64), such as "namespace" or "name", got ${describeValue(identifier)}`,
      );
      continue;
    }
    if (!parameter.required && parameter.default === undefined) {
      reader.warning(
        path,
        `parameter "${key}" is optional with no default: a request that leaves it out is DENY, since it would not name the target's ${identifier}`,
      );
    }
    result[key] = identifier;
  }
  return Object.freeze(result);
}

function readRollbackParams(
  reader: SchemaReader,
  record: Record<string, unknown>,
  parameters: readonly ParameterDefinition[],
  stateFields: readonly StateField[],
): Record<string, RollbackParamSource> | null {
  const value = Object.hasOwn(record, 'rollback_params') ? record.rollback_params : undefined;
  if (value === undefined || value === null) return null;
  const mapping = reader.mapping(value, 'rollback_params', 'a mapping of parameter name to { source }');
  if (mapping === undefined) return null;
  const parameterNames = new Set(parameters.map((parameter) => parameter.name));
  const stateNames = new Set(stateFields.map((field) => field.name));
  const result: Record<string, RollbackParamSource> = {};
  for (const key of Object.keys(mapping)) {
    const path = `rollback_params.${key.length > 64 ? quoteString(key) : key}`;
    if (!PARAMETER_NAME_PATTERN.test(key) || key === '__proto__') {
      reader.error(path, 'expected a parameter name (letters, digits, _ and -)');
      continue;
    }
    const entry = reader.mapping(mapping[key], path, 'a mapping with source');
    if (entry === undefined) continue;
    reader.rejectUnknownKeys(entry, path, ROLLBACK_PARAM_FIELDS);
    const source = reader.string(entry, 'source', path, {
      required: true,
      pattern: ROLLBACK_SOURCE_PATTERN,
      patternHint: 'a source like "params.namespace" or "before_state.replicas"',
    });
    if (source === undefined) continue;
    const [scope, field] = source.split('.') as [string, string];
    if (scope === 'params' && !parameterNames.has(field)) {
      reader.error(`${path}.source`, `"${source}" names no parameter of this action`);
      continue;
    }
    if (scope === 'before_state' && !stateNames.has(field)) {
      reader.warning(`${path}.source`, `"${source}" names no entry of state_fields`);
    }
    result[key] = { source };
  }
  return result;
}
