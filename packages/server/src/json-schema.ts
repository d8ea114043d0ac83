/**
 * The subset of JSON Schema (2020-12) the server's bodies need, and a validator for it. The schemas in
 * schemas.ts are written once and serve twice: to validate request bodies and to build /openapi.json.
 */
export interface JsonSchema {
  readonly type?: 'object' | 'array' | 'string' | 'boolean' | 'integer' | 'number' | 'null';
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  /** An ECMAScript regular expression the whole string must match (anchor it), tested with the `u` flag. */
  readonly pattern?: string;
  readonly enum?: readonly unknown[];
  readonly oneOf?: readonly JsonSchema[];
  readonly $ref?: string;
}

/** The first place where a value breaks its schema: a dotted path and a message naming the fix. */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

/** Validates `value` against `schema`; undefined when it conforms. Checks only the keywords above. */
export function validateSchema(value: unknown, schema: JsonSchema, path = ''): SchemaProblem | undefined {
  const where = path || 'the body';
  if (schema.type !== undefined && !hasType(value, schema.type)) {
    return { path, message: `${where} must be ${article(schema.type)}, got ${describeType(value)}` };
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    return {
      path,
      message: `${where} must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`,
    };
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      return { path, message: `${where} must not be empty` };
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      return { path, message: `${where} is longer than ${schema.maxLength} characters` };
    if (schema.pattern !== undefined && !patternOf(schema.pattern).test(value))
      return { path, message: `${where} has characters it may not contain (pattern ${schema.pattern})` };
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      return { path, message: `${where} needs at least ${schema.minItems} item(s)` };
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      return { path, message: `${where} has more than ${schema.maxItems} items` };
    if (schema.items) {
      for (let index = 0; index < value.length; index++) {
        const problem = validateSchema(value[index], schema.items, `${path}[${index}]`);
        if (problem) return problem;
      }
    }
  }
  if (schema.type === 'object' && value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      if (record[name] === undefined)
        return { path: join(path, name), message: `${join(path, name)} is required` };
    }
    for (const [name, field] of Object.entries(record)) {
      const property = schema.properties?.[name];
      if (property) {
        const problem = validateSchema(field, property, join(path, name));
        if (problem) return problem;
      } else if (schema.additionalProperties === false) {
        const known = Object.keys(schema.properties ?? {}).join(', ');
        return {
          path: join(path, name),
          message: `${join(path, name)} is not a known field (expected: ${known})`,
        };
      }
    }
  }
  return undefined;
}

const patterns = new Map<string, RegExp>();

/** The compiled pattern, once per pattern text (schemas are constants, so the map stays small). */
function patternOf(pattern: string): RegExp {
  let compiled = patterns.get(pattern);
  if (!compiled) {
    compiled = new RegExp(pattern, 'u');
    patterns.set(pattern, compiled);
  }
  return compiled;
}

function hasType(value: unknown, type: NonNullable<JsonSchema['type']>): boolean {
  switch (type) {
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return article(typeof value);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}
