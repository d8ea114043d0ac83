import {
  AgentSafeError,
  type Issue,
  MAX_ID_LENGTH,
  SENSITIVITIES,
  type TargetDefinition,
  type TargetLookup,
  isSensitivity,
} from '@agent-safe/core';
import { describeValue, quoteString } from './describe-value.js';
import { defineEntry, isPlainObject } from './json-value.js';
import { type ParseCache, type YamlLimits, parseConfigFile } from './parse-yaml.js';
import { type ReadOutcome, readRegularFile, readRegularFileSync, throwReadFailures } from './read-files.js';
import { SchemaReader } from './schema-reader.js';
import { sha256Hex } from './sha256.js';

/** Options of {@link Inventory.load}. */
export interface InventoryLoadOptions {
  /** Limits for the YAML file; inventories may be large, so the default size limit is 64 MiB. */
  readonly yaml?: YamlLimits;
  /** Memo of parse results (see {@link ParseCache}); validation still runs in full. */
  readonly parseCache?: ParseCache;
}

/** Default size limit of an inventory file. */
export const DEFAULT_MAX_INVENTORY_BYTES = 64 * 1024 * 1024;

const INVENTORY_FIELDS = ['targets'];
const TARGET_FIELDS = ['id', 'type', 'environment', 'sensitivity', 'owner', 'labels', 'identifiers'];
/** Identifier names: `cluster`, `namespace`, `name`, `region`, `arn` … */
const IDENTIFIER_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Enough for every attribute that names one object; more is a mistake (or an attack on memory). */
export const MAX_TARGET_IDENTIFIERS = 16;
// Ids end up in audit lines and terminal output: control characters would let one forge either.
function hasControlCharacters(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) return true;
  }
  return false;
}
const MAX_REPORTED_ISSUES = 200;

/**
 * The managed infrastructure agents may act on: each target's type, environment and sensitivity, which
 * policies use to decide. Lookups are by id in a Map.
 */
export class Inventory implements TargetLookup {
  readonly #targets: ReadonlyMap<string, TargetDefinition>;
  readonly #environments: ReadonlySet<string>;
  /** Content hash: SHA-256 of the file's bytes, or of the targets' canonical JSON when given in memory. */
  readonly revision: string;
  /** Absolute or given path of the file, when loaded from one. */
  readonly sourceFile: string | undefined;

  private constructor(targets: Map<string, TargetDefinition>, revision: string, sourceFile?: string) {
    this.#targets = targets;
    const environments = new Set<string>();
    for (const target of targets.values()) environments.add(target.environment);
    this.#environments = environments;
    this.revision = revision;
    this.sourceFile = sourceFile;
  }

  /** Loads a YAML inventory file (`targets: [...]`). */
  static async load(file: string, options: InventoryLoadOptions = {}): Promise<Inventory> {
    const outcome = await readRegularFile(file, maxBytes(options));
    return Inventory.#fromOutcome(file, outcome, options);
  }

  /** Synchronous {@link load}. */
  static loadSync(file: string, options: InventoryLoadOptions = {}): Inventory {
    return Inventory.#fromOutcome(file, readRegularFileSync(file, maxBytes(options)), options);
  }

  /** Builds an inventory from target objects (as in the YAML `targets` list), validated as a file is. */
  static fromTargets(targets: readonly unknown[]): Inventory {
    if (!Array.isArray(targets)) {
      throw new AgentSafeError('USAGE', 'Inventory.fromTargets expects an array of targets');
    }
    const map = parseTargets(targets, undefined, 'targets');
    return new Inventory(map, targetsRevision(map.values()));
  }

  static #fromOutcome(file: string, outcome: ReadOutcome, options: InventoryLoadOptions): Inventory {
    if (!outcome.ok) {
      throwReadFailures([outcome], 'inventory');
      throw new Error('unreachable');
    }
    const raw = parseConfigFile(
      outcome.bytes.toString('utf8'),
      file,
      { maxBytes: maxBytes(options), ...options.yaml },
      options.parseCache,
    );
    const reader = new SchemaReader(file);
    if (raw === null || raw === undefined) {
      throw invalid(file, [{ file, message: 'the file is empty; expected a mapping with a "targets" list' }]);
    }
    const record = reader.mapping(raw, '', 'a mapping with a "targets" list');
    if (record === undefined) throw invalid(file, reader.issues);
    reader.rejectUnknownKeys(record, '', INVENTORY_FIELDS);
    const targets = Object.hasOwn(record, 'targets') ? record.targets : undefined;
    if (targets === undefined || targets === null) {
      reader.error('targets', 'required field is missing; expected a list of targets');
    } else if (!Array.isArray(targets)) {
      reader.error('targets', `expected a list of targets, got ${describeValue(targets)}`);
    }
    if (reader.hasErrors) throw invalid(file, reader.issues);
    const map = parseTargets(targets as unknown[], file, 'targets');
    return new Inventory(map, sha256Hex(outcome.bytes), file);
  }

  /** The target with this id, or undefined. */
  get(id: string): TargetDefinition | undefined {
    return this.#targets.get(id);
  }

  /** True when a target has this id. */
  has(id: string): boolean {
    return this.#targets.has(id);
  }

  /** Every target, in file order. */
  list(): TargetDefinition[] {
    return [...this.#targets.values()];
  }

  /** Every environment some target is in. */
  environments(): ReadonlySet<string> {
    return this.#environments;
  }

  /** Number of targets. */
  get size(): number {
    return this.#targets.size;
  }
}

function maxBytes(options: InventoryLoadOptions): number {
  return options.yaml?.maxBytes ?? DEFAULT_MAX_INVENTORY_BYTES;
}

function invalid(where: string, issues: readonly Issue[]): AgentSafeError {
  const errors = issues.filter((issue) => issue.severity !== 'warning');
  return new AgentSafeError(
    'CONFIG_INVALID',
    `${where}: ${errors.length} problem${errors.length === 1 ? '' : 's'} in the target inventory; fix them and load again`,
    { issues: errors },
  );
}

/**
 * Validates a list of raw targets. Well-formed entries take a short path with no per-field bookkeeping
 * (this runs over every entry of inventories with 100 000 targets); an entry that fails it is read
 * again field by field to say exactly what is wrong.
 */
function parseTargets(
  raw: readonly unknown[],
  file: string | undefined,
  base: string,
): Map<string, TargetDefinition> {
  const reader = new SchemaReader(file);
  const targets = new Map<string, TargetDefinition>();
  const firstIndex = new Map<string, number>();
  // Types, environments, owners and labels repeat across thousands of targets: keep one copy of each.
  const strings = new Map<string, string>();
  const intern = (value: string): string => {
    const known = strings.get(value);
    if (known !== undefined) return known;
    strings.set(value, value);
    return value;
  };
  for (let index = 0; index < raw.length; index++) {
    if (reader.issues.length >= MAX_REPORTED_ISSUES) break;
    const target =
      readTargetQuickly(raw[index], intern) ?? readTargetCarefully(reader, raw[index], `${base}[${index}]`);
    if (target === undefined) continue;
    const earlier = firstIndex.get(target.id);
    if (earlier !== undefined) {
      reader.error(
        `${base}[${index}].id`,
        `duplicate target id ${quoteString(target.id)} (first at ${base}[${earlier}])`,
      );
      continue;
    }
    firstIndex.set(target.id, index);
    targets.set(target.id, target);
  }
  if (reader.issues.length > 0) {
    const issues = [...reader.issues];
    if (issues.length >= MAX_REPORTED_ISSUES)
      issues.push({ message: `stopped after ${MAX_REPORTED_ISSUES} problems` });
    throw invalid(file ?? 'targets', issues);
  }
  return targets;
}

function readTargetQuickly(value: unknown, intern: (value: string) => string): TargetDefinition | undefined {
  if (!isPlainObject(value)) return undefined;
  let id: unknown;
  let type: unknown;
  let environment: unknown;
  let sensitivity: unknown;
  let owner: unknown = '';
  let labels: unknown;
  let identifiers: unknown;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    switch (key) {
      case 'id':
        id = value.id;
        break;
      case 'type':
        type = value.type;
        break;
      case 'environment':
        environment = value.environment;
        break;
      case 'sensitivity':
        sensitivity = value.sensitivity;
        break;
      case 'owner':
        owner = value.owner;
        break;
      case 'labels':
        labels = value.labels;
        break;
      case 'identifiers':
        identifiers = value.identifiers;
        break;
      default:
        if (!key.startsWith('x-')) return undefined;
    }
  }
  if (
    typeof id !== 'string' ||
    id.trim() === '' ||
    id.length > MAX_ID_LENGTH ||
    hasControlCharacters(id) ||
    typeof type !== 'string' ||
    type.trim() === '' ||
    typeof environment !== 'string' ||
    environment.trim() === '' ||
    !isSensitivity(sensitivity) ||
    typeof owner !== 'string'
  ) {
    return undefined;
  }
  let frozenLabels = NO_LABELS;
  if (labels !== undefined && labels !== null) {
    if (!isPlainObject(labels)) return undefined;
    const entries: [string, string][] = [];
    for (const key in labels) {
      if (!Object.hasOwn(labels, key)) continue;
      const label = labels[key];
      if (typeof label !== 'string') return undefined;
      entries.push([intern(key), intern(label)]);
    }
    // fromEntries defines own data properties (even `__proto__`) on an ordinary object, which stays in
    // V8's compact representation; a null-prototype object would cost several times the memory at 100k
    // targets. Readers must use Object.hasOwn, as the policy matcher does.
    frozenLabels = Object.freeze(Object.fromEntries(entries));
  }
  if (identifiers === undefined || identifiers === null) {
    return Object.freeze({
      id,
      type: intern(type),
      environment: intern(environment),
      sensitivity,
      owner: intern(owner),
      labels: frozenLabels,
    });
  }
  if (!isPlainObject(identifiers)) return undefined;
  const entries: [string, string][] = [];
  for (const key in identifiers) {
    if (!Object.hasOwn(identifiers, key)) continue;
    const identifier = identifiers[key];
    if (!isIdentifierValue(identifier) || !IDENTIFIER_NAME.test(key)) return undefined;
    entries.push([intern(key), intern(identifier)]);
  }
  if (entries.length > MAX_TARGET_IDENTIFIERS) return undefined;
  return Object.freeze({
    id,
    type: intern(type),
    environment: intern(environment),
    sensitivity,
    owner: intern(owner),
    labels: frozenLabels,
    identifiers: Object.freeze(Object.fromEntries(entries)),
  });
}

function isIdentifierValue(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_ID_LENGTH &&
    value.trim() === value &&
    !hasControlCharacters(value)
  );
}

function readTargetCarefully(
  reader: SchemaReader,
  value: unknown,
  path: string,
): TargetDefinition | undefined {
  const record = reader.mapping(value, path, 'a target mapping (id, type, environment, sensitivity …)');
  if (record === undefined) return undefined;
  const errorsBefore = reader.issues.length;
  reader.rejectUnknownKeys(record, path, TARGET_FIELDS);
  const id = reader.string(record, 'id', path, { required: true, nonEmpty: true });
  if (id !== undefined) {
    if (id.length > MAX_ID_LENGTH)
      reader.error(`${path}.id`, `expected at most ${MAX_ID_LENGTH} characters, got ${id.length}`);
    else if (hasControlCharacters(id))
      reader.error(`${path}.id`, `must not contain control characters, got ${quoteString(id)}`);
  }
  const type = reader.string(record, 'type', path, { required: true, nonEmpty: true });
  const environment = reader.string(record, 'environment', path, { required: true, nonEmpty: true });
  const sensitivity = Object.hasOwn(record, 'sensitivity') ? record.sensitivity : undefined;
  if (!isSensitivity(sensitivity)) {
    reader.error(
      `${path}.sensitivity`,
      sensitivity === undefined
        ? `required field is missing; expected one of ${SENSITIVITIES.join(', ')}`
        : `expected one of ${SENSITIVITIES.join(', ')}, got ${describeValue(sensitivity)}`,
    );
  }
  const owner = reader.string(record, 'owner', path) ?? '';
  const labels = readLabels(reader, record, path);
  const identifiers = readIdentifiers(reader, record, path);
  if (
    reader.issues.length !== errorsBefore ||
    id === undefined ||
    type === undefined ||
    environment === undefined ||
    !isSensitivity(sensitivity)
  ) {
    if (reader.issues.length === errorsBefore) reader.error(path, 'not a valid target');
    return undefined;
  }
  return Object.freeze(
    identifiers === undefined
      ? { id, type, environment, sensitivity, owner, labels }
      : { id, type, environment, sensitivity, owner, labels, identifiers },
  );
}

/**
 * `identifiers:` — the attributes that name the object (cluster, namespace, name, region, arn). Values
 * are compared for exact equality with request params, so they are non-empty strings with no
 * surrounding spaces or control characters.
 */
function readIdentifiers(
  reader: SchemaReader,
  record: Record<string, unknown>,
  path: string,
): Readonly<Record<string, string>> | undefined {
  const value = Object.hasOwn(record, 'identifiers') ? record.identifiers : undefined;
  if (value === undefined || value === null) return undefined;
  const where = `${path}.identifiers`;
  if (!isPlainObject(value)) {
    reader.error(
      where,
      `expected a mapping of identifier name to string, e.g. { namespace: dev, name: app }, got ${describeValue(value)}`,
    );
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length > MAX_TARGET_IDENTIFIERS) {
    reader.error(where, `expected at most ${MAX_TARGET_IDENTIFIERS} identifiers, got ${keys.length}`);
    return undefined;
  }
  const identifiers: Record<string, string> = {};
  for (const key of keys) {
    const at = `${where}.${key.length > 64 ? quoteString(key) : key}`;
    if (!IDENTIFIER_NAME.test(key)) {
      reader.error(at, 'expected an identifier name of letters, digits, _ and - (at most 64 characters)');
      continue;
    }
    const identifier = value[key];
    if (!isIdentifierValue(identifier)) {
      reader.error(
        at,
        typeof identifier === 'string'
          ? `expected a non-empty string of at most ${MAX_ID_LENGTH} characters with no surrounding spaces or control characters, got ${quoteString(identifier)}`
          : `expected a string (quote numbers and booleans in YAML, e.g. "3"), got ${describeValue(identifier)}`,
      );
      continue;
    }
    defineEntry(identifiers, key, identifier);
  }
  return Object.freeze(identifiers);
}

/**
 * Revision of targets given in memory: SHA-256 of their JSON. Every target is built with the same field
 * order, so the text is deterministic for the same input (labels keep the order they were given in);
 * canonical JSON of 100 000 targets would cost several times more.
 */
function targetsRevision(targets: Iterable<TargetDefinition>): string {
  return sha256Hex(JSON.stringify([...targets]));
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

function readLabels(
  reader: SchemaReader,
  record: Record<string, unknown>,
  path: string,
): Readonly<Record<string, string>> {
  const value = Object.hasOwn(record, 'labels') ? record.labels : undefined;
  if (value === undefined || value === null) return NO_LABELS;
  if (!isPlainObject(value)) {
    reader.error(`${path}.labels`, `expected a mapping of label name to string, got ${describeValue(value)}`);
    return NO_LABELS;
  }
  // Null prototype: a label called `constructor` or `__proto__` is just a label.
  const labels: Record<string, string> = Object.create(null);
  for (const key of Object.keys(value)) {
    const label = value[key];
    if (typeof label !== 'string') {
      reader.error(
        `${path}.labels.${key.length > 64 ? quoteString(key) : key}`,
        `expected a string (quote numbers and booleans in YAML, e.g. "3"), got ${describeValue(label)}`,
      );
      continue;
    }
    labels[key] = label;
  }
  return Object.freeze(labels);
}
