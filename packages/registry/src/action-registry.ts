import {
  type ActionDefinition,
  type ActionLookup,
  AgentSafeError,
  type ErrorCode,
  type Issue,
  type ParamValidationResult,
  type RiskClass,
  actionRef,
  canonicalJson,
  isAgentSafeError,
} from '@agent-safe/core';
import { type ActionParseResult, parseActionDefinition } from './action-schema.js';
import { quoteString } from './describe-value.js';
import { deepFreeze, defineEntry, isPlainObject } from './json-value.js';
import { type ManifestMode, verifyManifest } from './manifest.js';
import { compileParamValidator, type ParamValidator } from './param-validator.js';
import { DEFAULT_MAX_YAML_BYTES, type ParseCache, type YamlLimits, parseConfigFile } from './parse-yaml.js';
import {
  MANIFEST_FILE_NAME,
  type ReadOutcome,
  listYamlFiles,
  listYamlFilesSync,
  pathIn,
  readRegularFile,
  readRegularFileSync,
  throwReadFailures,
} from './read-files.js';
import { sha256Hex } from './sha256.js';

const READ_CONCURRENCY = 32;

/** Version of the validated-definition cache entries; bump when validation or the definition shape changes. */
const VALIDATED_FORMAT = 3;

/** Options of {@link ActionRegistry.load}. */
export interface ActionRegistryLoadOptions {
  /**
   * `verify` (default): check `actions.manifest.json` when it is present; `require`: refuse to load
   * without one; `ignore`: do not look at it.
   */
  readonly manifest?: ManifestMode;
  /** Limits for each YAML file. */
  readonly yaml?: YamlLimits;
  /**
   * Memo of parse results (see {@link ParseCache}). It also keeps each definition that validated, keyed
   * by the file's SHA-256 and path, so an unchanged file skips validation too.
   */
  readonly parseCache?: ParseCache;
}

/** Filter of {@link ActionRegistry.list}. */
export interface ActionListFilter {
  readonly tag?: string;
  readonly risk?: RiskClass;
}

/** Where a loaded definition came from and its identity. */
export interface ActionRecord {
  readonly action: ActionDefinition;
  /** `name@version`. */
  readonly ref: string;
  /** Absolute path of the YAML file, for definitions loaded from disk. */
  readonly sourceFile?: string;
  /** SHA-256 of the file's bytes, or of the definition's canonical JSON when it was given in memory. */
  readonly sha256: string;
}

interface Entry extends ActionRecord {
  readonly validate: ParamValidator;
}

interface HashedFile {
  readonly name: string;
  readonly path: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

/**
 * The set of actions agents may request, loaded from YAML definitions and validated once. Lookups are
 * by name; each action's parameter checks are compiled when it is loaded, so {@link validateParams} is
 * cheap enough to run inside every policy check.
 */
export class ActionRegistry implements ActionLookup {
  readonly #entries: ReadonlyMap<string, Entry>;
  readonly #sortedNames: readonly string[];
  /** Content hash over every definition's `name@version` and digest: changes when any definition does. */
  readonly revision: string;
  /** Non-fatal problems found while loading (e.g. a pattern without max_length). */
  readonly warnings: readonly Issue[];

  private constructor(records: readonly ActionRecord[], warnings: readonly Issue[]) {
    const entries = new Map<string, Entry>();
    for (const record of records) {
      entries.set(record.action.name, { ...record, validate: compileParamValidator(record.action) });
    }
    this.#entries = entries;
    this.#sortedNames = Object.freeze([...entries.keys()].sort());
    const lines = records.map((record) => `${record.ref} ${record.sha256}\n`).sort();
    this.revision = sha256Hex(lines.join(''));
    this.warnings = Object.freeze([...warnings]);
  }

  /** Loads every `*.yaml`/`*.yml` file directly in `dir` (sorted, not recursive). */
  static async load(dir: string, options: ActionRegistryLoadOptions = {}): Promise<ActionRegistry> {
    const maxBytes = options.yaml?.maxBytes ?? DEFAULT_MAX_YAML_BYTES;
    const names = await listYamlFiles(dir);
    const outcomes: ReadOutcome[] = [];
    // A bounded number of files open at once: a directory of thousands must not run out of descriptors.
    for (let start = 0; start < names.length; start += READ_CONCURRENCY) {
      const batch = names.slice(start, start + READ_CONCURRENCY);
      outcomes.push(
        ...(await Promise.all(batch.map((name) => readRegularFile(pathIn(dir, name), maxBytes)))),
      );
    }
    const manifest =
      options.manifest === 'ignore'
        ? undefined
        : await readRegularFile(pathIn(dir, MANIFEST_FILE_NAME), maxBytes);
    return ActionRegistry.#fromOutcomes(dir, names, outcomes, manifest, options);
  }

  /** Synchronous {@link load}. */
  static loadSync(dir: string, options: ActionRegistryLoadOptions = {}): ActionRegistry {
    const maxBytes = options.yaml?.maxBytes ?? DEFAULT_MAX_YAML_BYTES;
    const names = listYamlFilesSync(dir);
    const outcomes = names.map((name) => readRegularFileSync(pathIn(dir, name), maxBytes));
    const manifest =
      options.manifest === 'ignore'
        ? undefined
        : readRegularFileSync(pathIn(dir, MANIFEST_FILE_NAME), maxBytes);
    return ActionRegistry.#fromOutcomes(dir, names, outcomes, manifest, options);
  }

  /**
   * Builds a registry from definitions held in memory: YAML-shaped objects (snake_case, as parsed from a
   * file) or {@link ActionDefinition}s (camelCase). Both are validated exactly as files are.
   */
  static fromDefinitions(definitions: readonly unknown[]): ActionRegistry {
    if (!Array.isArray(definitions)) {
      throw new AgentSafeError(
        'USAGE',
        'ActionRegistry.fromDefinitions expects an array of action definitions',
      );
    }
    const issues: Issue[] = [];
    const records: ActionRecord[] = [];
    const origins = new Map<string, string>();
    definitions.forEach((definition, index) => {
      const origin = `definitions[${index}]`;
      const parsed = parseActionDefinition(toYamlShape(definition), origin);
      issues.push(...parsed.issues);
      if (parsed.action === undefined) return;
      const earlier = origins.get(parsed.action.name);
      if (earlier !== undefined) {
        issues.push({
          file: origin,
          path: 'name',
          message: `duplicate action "${parsed.action.name}" (also in ${earlier})`,
        });
        return;
      }
      origins.set(parsed.action.name, origin);
      records.push({
        action: parsed.action,
        ref: actionRef(parsed.action),
        sha256: sha256Hex(canonicalJson(parsed.action)),
      });
    });
    return ActionRegistry.#build(records, issues, 'the action definitions');
  }

  static #fromOutcomes(
    dir: string,
    names: readonly string[],
    outcomes: readonly ReadOutcome[],
    manifest: ReadOutcome | undefined,
    options: ActionRegistryLoadOptions,
  ): ActionRegistry {
    const failures: { code: ErrorCode; issue: Issue }[] = [];
    const files: HashedFile[] = [];
    names.forEach((name, index) => {
      const outcome = outcomes[index]!;
      if (!outcome.ok) failures.push(outcome);
      else
        files.push({ name, path: pathIn(dir, name), bytes: outcome.bytes, sha256: sha256Hex(outcome.bytes) });
    });
    throwReadFailures(failures, 'action');
    let manifestBytes: Buffer | undefined;
    if (manifest !== undefined) {
      if (manifest.ok) manifestBytes = manifest.bytes;
      else if (!isMissing(manifest)) throwReadFailures([manifest], 'manifest');
    }
    // Verified before parsing: a tampered file is never interpreted.
    verifyManifest(dir, files, manifestBytes, options.manifest ?? 'verify');

    const issues: Issue[] = [];
    const records: ActionRecord[] = [];
    const origins = new Map<string, string>();
    let yamlOnly = true;
    for (const file of files) {
      // A definition that validated before (same bytes, same path, same schema) is taken from the parse
      // cache as it was validated, so a CLI start skips parsing and validation alike. The cache only
      // serves files the user may write, so this trusts nothing the user could not have written anyway.
      const validatedKey = options.parseCache
        ? `action-definition:${VALIDATED_FORMAT}:${file.sha256}:${file.path}`
        : undefined;
      let parsed = validatedKey
        ? (options.parseCache!.get(validatedKey, file.path) as ActionParseResult | undefined)
        : undefined;
      if (parsed !== undefined) {
        parsed = {
          action: parsed.action ? deepFreeze(parsed.action) : undefined,
          issues: parsed.issues ?? [],
        };
      } else {
        let raw: unknown;
        try {
          raw = parseConfigFile(file.bytes.toString('utf8'), file.path, options.yaml, options.parseCache);
        } catch (error) {
          if (!isAgentSafeError(error)) throw error;
          issues.push(
            ...(error.issues.length > 0 ? error.issues : [{ file: file.path, message: error.message }]),
          );
          continue;
        }
        parsed = parseActionDefinition(raw, file.path);
        if (validatedKey && parsed.action && !parsed.issues.some((issue) => issue.severity !== 'warning')) {
          try {
            canonicalJson(parsed);
            options.parseCache!.set(validatedKey, parsed, file.path);
          } catch {
            // Not representable in JSON (e.g. an infinite bound): validate it again next time.
          }
        }
      }
      issues.push(...parsed.issues);
      if (parsed.issues.some((issue) => issue.severity !== 'warning')) yamlOnly = false;
      if (parsed.action === undefined) continue;
      // A reviewer approves `restart-deployment.yaml` by its name: it must not define another action.
      const expected = file.name.replace(/\.ya?ml$/, '');
      if (parsed.action.name !== expected) {
        yamlOnly = false;
        issues.push({
          file: file.path,
          path: 'name',
          severity: 'error',
          message: `the file is named ${quoteString(file.name)} but defines action ${quoteString(parsed.action.name)}; name each action file <name>.yaml (rename the file to ${quoteString(`${parsed.action.name}.yaml`)} or fix the name)`,
        });
        continue;
      }
      const earlier = origins.get(parsed.action.name);
      if (earlier !== undefined) {
        yamlOnly = false;
        issues.push({
          file: file.path,
          path: 'name',
          severity: 'error',
          message: `duplicate action "${parsed.action.name}": also defined in ${earlier}; rename or remove one`,
        });
        continue;
      }
      origins.set(parsed.action.name, file.path);
      records.push({
        action: Object.freeze({ ...parsed.action, sourceFile: file.path, sha256: file.sha256 }),
        ref: actionRef(parsed.action),
        sourceFile: file.path,
        sha256: file.sha256,
      });
    }
    return ActionRegistry.#build(records, issues, dir, yamlOnly ? 'YAML_INVALID' : 'CONFIG_INVALID');
  }

  static #build(
    records: ActionRecord[],
    issues: Issue[],
    where: string,
    code: ErrorCode = 'CONFIG_INVALID',
  ): ActionRegistry {
    const names = new Set(records.map((record) => record.action.name));
    for (const record of records) {
      const rollback = record.action.rollbackAction;
      if (rollback !== null && !names.has(rollback)) {
        const issue: Issue = {
          path: 'rollback_action',
          severity: 'warning',
          message: `rollback action "${rollback}" is not in the registry`,
        };
        issues.push(record.sourceFile === undefined ? issue : { ...issue, file: record.sourceFile });
      }
    }
    const errors = issues.filter((issue) => issue.severity !== 'warning');
    if (errors.length > 0) {
      const files = new Set(errors.map((issue) => issue.file));
      throw new AgentSafeError(
        code,
        `${where}: ${errors.length} problem${errors.length === 1 ? '' : 's'} in ${files.size} action definition${files.size === 1 ? '' : 's'}; fix them and load again`,
        { issues: errors, details: { warnings: issues.filter((issue) => issue.severity === 'warning') } },
      );
    }
    for (const record of records) Object.freeze(record);
    return new ActionRegistry(records, issues);
  }

  /** The definition of `name`, or undefined. */
  get(name: string): ActionDefinition | undefined {
    return this.#entries.get(name)?.action;
  }

  /** True when `name` is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** `name@version` of `name`, or undefined. */
  ref(name: string): string | undefined {
    return this.#entries.get(name)?.ref;
  }

  /** Identity and origin of `name` (ref, source file, sha256), or undefined. */
  record(name: string): ActionRecord | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    const { validate: _validate, ...record } = entry;
    return record;
  }

  /** Identity and origin of every action, sorted by name. */
  records(): ActionRecord[] {
    return this.#sortedNames.map((name) => this.record(name)!);
  }

  /** Registered action names, sorted. */
  names(): string[] {
    return [...this.#sortedNames];
  }

  /** Definitions sorted by name, optionally only those with a tag and/or a risk class. */
  list(filter: ActionListFilter = {}): ActionDefinition[] {
    const result: ActionDefinition[] = [];
    for (const name of this.#sortedNames) {
      const action = this.#entries.get(name)!.action;
      if (filter.tag !== undefined && !action.tags.includes(filter.tag)) continue;
      if (filter.risk !== undefined && action.riskClass !== filter.risk) continue;
      result.push(action);
    }
    return result;
  }

  /** Number of registered actions. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Validates `params` for action `name` and applies defaults. Never throws: an unknown action is an
   * ACTION_UNKNOWN error, bad params are PARAMS_INVALID errors (all of them, not only the first).
   */
  validateParams(name: string, params: unknown): ParamValidationResult {
    const entry = typeof name === 'string' ? this.#entries.get(name) : undefined;
    if (entry === undefined) {
      return {
        ok: false,
        errors: [
          {
            code: 'ACTION_UNKNOWN',
            path: 'action',
            message: `unknown action ${typeof name === 'string' ? quoteString(name) : String(typeof name)}; it is not in the registry`,
          },
        ],
      };
    }
    return entry.validate(params);
  }
}

function isMissing(outcome: ReadOutcome): boolean {
  return !outcome.ok && outcome.missing === true;
}

const CAMEL_TO_SNAKE: Readonly<Record<string, string>> = {
  riskClass: 'risk_class',
  targetTypes: 'target_types',
  rollbackAction: 'rollback_action',
  requiredPrivileges: 'required_privileges',
  stateFields: 'state_fields',
  rollbackParams: 'rollback_params',
  targetBinding: 'target_binding',
};
const CONSTRAINT_TO_SNAKE: Readonly<Record<string, string>> = {
  minValue: 'min_value',
  maxValue: 'max_value',
  minLength: 'min_length',
  maxLength: 'max_length',
};

/**
 * An {@link ActionDefinition} (camelCase) rewritten in the YAML schema so one validator checks both.
 * Objects already in the YAML schema pass through unchanged.
 */
function toYamlShape(definition: unknown): unknown {
  if (!isPlainObject(definition)) return definition;
  const camel = Object.hasOwn(definition, 'riskClass') || Object.hasOwn(definition, 'targetTypes');
  if (!camel) return definition;
  const shaped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(definition)) {
    // Provenance is recomputed, never trusted from the input.
    if (key === 'sourceFile' || key === 'sha256') continue;
    if (key === 'parameters' && Array.isArray(value)) {
      shaped.parameters = value.map(parameterToYamlShape);
    } else if (key === 'prechecks' && Array.isArray(value)) {
      shaped.prechecks = value.map(precheckToYamlShape);
    } else {
      defineEntry(shaped, Object.hasOwn(CAMEL_TO_SNAKE, key) ? CAMEL_TO_SNAKE[key]! : key, value);
    }
  }
  return shaped;
}

function precheckToYamlShape(precheck: unknown): unknown {
  if (!isPlainObject(precheck) || !Object.hasOwn(precheck, 'forceAllowed')) return precheck;
  const { forceAllowed, ...rest } = precheck;
  return { ...rest, force_allowed: forceAllowed };
}

function parameterToYamlShape(parameter: unknown): unknown {
  if (!isPlainObject(parameter) || !isPlainObject(parameter.constraints)) return parameter;
  const constraints: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameter.constraints)) {
    defineEntry(
      constraints,
      Object.hasOwn(CONSTRAINT_TO_SNAKE, key) ? CONSTRAINT_TO_SNAKE[key]! : key,
      value,
    );
  }
  return { ...parameter, constraints };
}
