import type {
  ActionDefinition,
  DecisionError,
  ParamType,
  ParamValidationResult,
  ParameterDefinition,
} from '@agent-safe/core';
import { describeValue, quoteString, showScalar } from './describe-value.js';
import { cloneJson, defineEntry, isPlainObject } from './json-value.js';

/** Validates one request's params against one action and applies defaults. Never throws. */
export type ParamValidator = (params: unknown) => ParamValidationResult;

/** Checks one value against a parameter's type and constraints: the problem, or undefined when it is fine. */
export type ParameterCheck = (value: unknown) => string | undefined;

/** A hostile request may carry thousands of unknown keys; the first few are enough to act on. */
const MAX_UNKNOWN_REPORTED = 20;

const TYPE_NAMES: Record<ParamType, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a finite number',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping (plain object)',
};

const TYPE_TESTS: Record<ParamType, (value: unknown) => boolean> = {
  string: (value) => typeof value === 'string',
  integer: (value) => typeof value === 'number' && Number.isInteger(value),
  number: (value) => typeof value === 'number' && Number.isFinite(value),
  boolean: (value) => typeof value === 'boolean',
  array: (value) => Array.isArray(value),
  object: (value) => isPlainObject(value),
};

/**
 * Longest string a pattern is ever matched against. Patterns are checked for catastrophic backtracking
 * when they load; this bounds the work of the rest (a linear pattern over 4096 characters takes
 * microseconds). A longer value for a parameter with a pattern is refused without being matched.
 */
export const MAX_PATTERN_INPUT_LENGTH = 4096;

/**
 * Compiles a regular expression that must match the whole value (like Python's `re.fullmatch`), so a
 * pattern written without `^…$` cannot be satisfied by a value that merely contains a match.
 * Throws a SyntaxError when the pattern does not compile.
 */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, 'u');
}

/**
 * A value of a `sensitive: true` parameter as it may appear in a message: its kind and size, never
 * the value or any part of it (messages reach the decision's reason, its errors, the CLI and logs).
 */
export function describeSensitiveValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    return `(sensitive value, ${value.length} character${value.length === 1 ? '' : 's'})`;
  }
  if (Array.isArray(value))
    return `(sensitive value, a list of ${value.length} item${value.length === 1 ? '' : 's'})`;
  if (typeof value === 'object') return '(sensitive value, a mapping)';
  return `(sensitive value, a ${typeof value})`;
}

/**
 * Compiles a parameter's type and constraint checks into one function. The problems it returns name
 * the value, except for a `sensitive` parameter, whose value (or any fragment of it) never appears.
 */
export function compileParameterCheck(parameter: ParameterDefinition): ParameterCheck {
  const typeTest = TYPE_TESTS[parameter.type];
  const expected = `expected ${TYPE_NAMES[parameter.type]}, got `;
  const checks: ParameterCheck[] = [];
  const constraints = parameter.constraints ?? {};
  const { minValue, maxValue, minLength, maxLength, pattern } = constraints;
  const sensitive = parameter.sensitive === true;
  const describe = sensitive ? describeSensitiveValue : describeValue;
  const show = sensitive ? describeSensitiveValue : (value: unknown) => String(value);
  const showText = sensitive ? describeSensitiveValue : (value: unknown) => quoteString(value as string);
  const showEnum = sensitive ? describeSensitiveValue : showScalar;
  if (minValue !== undefined) {
    checks.push((value) =>
      (value as number) < minValue ? `${show(value)} is below the minimum ${minValue}` : undefined,
    );
  }
  if (maxValue !== undefined) {
    checks.push((value) =>
      (value as number) > maxValue ? `${show(value)} is above the maximum ${maxValue}` : undefined,
    );
  }
  // Length before pattern: patterns come from operators but values from agents, and a long value
  // against a backtracking pattern is the classic ReDoS.
  if (minLength !== undefined) {
    checks.push((value) => {
      const length = (value as string | unknown[]).length;
      return length < minLength
        ? `${lengthText(value, length)}, fewer than the minimum ${minLength}`
        : undefined;
    });
  }
  if (maxLength !== undefined) {
    checks.push((value) => {
      const length = (value as string | unknown[]).length;
      return length > maxLength
        ? `${lengthText(value, length)}, more than the maximum ${maxLength}`
        : undefined;
    });
  }
  if (pattern !== undefined && parameter.type === 'string') {
    const expression = compilePattern(pattern);
    checks.push((value) =>
      (value as string).length > MAX_PATTERN_INPUT_LENGTH
        ? `${lengthText(value, (value as string).length)}, more than the ${MAX_PATTERN_INPUT_LENGTH} a pattern is matched against`
        : expression.test(value as string)
          ? undefined
          : `${showText(value)} does not match the pattern ${pattern}`,
    );
  }
  if (constraints.enum !== undefined) {
    const allowed = new Set<unknown>(constraints.enum);
    const listed = constraints.enum.map(showScalar).join(', ');
    checks.push((value) => (allowed.has(value) ? undefined : `${showEnum(value)} is not one of: ${listed}`));
  }
  const count = checks.length;
  return (value) => {
    if (!typeTest(value)) return expected + describe(value);
    for (let index = 0; index < count; index++) {
      const problem = checks[index]!(value);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
}

function lengthText(value: unknown, length: number): string {
  return typeof value === 'string'
    ? `is ${length} character${length === 1 ? '' : 's'} long`
    : `has ${length} item${length === 1 ? '' : 's'}`;
}

interface CompiledParameter {
  readonly name: string;
  readonly path: string;
  readonly required: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
  readonly defaultNeedsCopy: boolean;
  readonly check: ParameterCheck;
}

/**
 * Compiles an action's parameter definitions into one function that runs inside every policy check:
 * params must be a plain object; every problem is reported (missing, wrong type, constraint, unknown
 * name), each as a PARAMS_INVALID error with path `params.<name>`; on success the result is a new object
 * with defaults applied (the input is never changed, array and object defaults are copied).
 */
export function compileParamValidator(action: Pick<ActionDefinition, 'name' | 'parameters'>): ParamValidator {
  const parameters: CompiledParameter[] = action.parameters.map((parameter) => ({
    name: parameter.name,
    path: `params.${parameter.name}`,
    required: parameter.required,
    hasDefault: parameter.default !== undefined,
    defaultValue: parameter.default,
    defaultNeedsCopy: typeof parameter.default === 'object' && parameter.default !== null,
    check: compileParameterCheck(parameter),
  }));
  const declared = new Set(action.parameters.map((parameter) => parameter.name));
  const accepted =
    declared.size === 0
      ? `${action.name} takes no parameters`
      : `${action.name} accepts: ${[...declared].join(', ')}`;
  const count = parameters.length;

  return (input) => {
    if (!isPlainObject(input)) {
      return {
        ok: false,
        errors: [
          {
            code: 'PARAMS_INVALID',
            path: 'params',
            message: `params: expected a mapping of parameter names to values, got ${describeValue(input)}`,
          },
        ],
      };
    }
    let errors: DecisionError[] | undefined;
    const output: Record<string, unknown> = {};
    let ownDeclared = 0;
    for (let index = 0; index < count; index++) {
      const parameter = parameters[index]!;
      const present = Object.hasOwn(input, parameter.name);
      if (present) ownDeclared += 1;
      const value = present ? input[parameter.name] : undefined;
      if (value === undefined) {
        if (parameter.hasDefault) {
          defineEntry(
            output,
            parameter.name,
            parameter.defaultNeedsCopy ? cloneJson(parameter.defaultValue) : parameter.defaultValue,
          );
        } else if (parameter.required) {
          errors = append(errors, {
            code: 'PARAMS_INVALID',
            path: parameter.path,
            message: `${parameter.path}: required parameter is missing`,
          });
        }
        continue;
      }
      const problem = parameter.check(value);
      if (problem === undefined) {
        defineEntry(output, parameter.name, value);
      } else {
        errors = append(errors, {
          code: 'PARAMS_INVALID',
          path: parameter.path,
          message: `${parameter.path}: ${problem}`,
        });
      }
    }
    // Counting avoids allocating a key list on the common path where every key is declared.
    let ownKeys = 0;
    for (const key in input) if (Object.hasOwn(input, key)) ownKeys += 1;
    if (ownKeys !== ownDeclared) {
      const unknown = Object.keys(input).filter((key) => !declared.has(key));
      for (const key of unknown.slice(0, MAX_UNKNOWN_REPORTED)) {
        const path = paramPath(key);
        errors = append(errors, {
          code: 'PARAMS_INVALID',
          path,
          message: `${path}: unknown parameter; ${accepted}`,
        });
      }
      if (unknown.length > MAX_UNKNOWN_REPORTED) {
        errors = append(errors, {
          code: 'PARAMS_INVALID',
          path: 'params',
          message: `params: ${unknown.length - MAX_UNKNOWN_REPORTED} more unknown parameters`,
        });
      }
    }
    return errors === undefined ? { ok: true, params: output } : { ok: false, errors };
  };
}

/** Adds to a list created on first use, so a valid request allocates none. */
function append(errors: DecisionError[] | undefined, error: DecisionError): DecisionError[] {
  if (errors === undefined) return [error];
  errors.push(error);
  return errors;
}

/** `params.name` for ordinary names; a quoted, shortened form for anything an agent might have sent. */
function paramPath(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(key) ? `params.${key}` : `params[${quoteString(key)}]`;
}
