import { createRequire } from 'node:module';
import { AgentSafeError, type Issue, canonicalJson } from '@agent-safe/core';
import { sha256Hex } from './sha256.js';

type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;

/**
 * The YAML library is loaded on first use: a CLI run whose files are all in the parse cache never pays
 * for importing it.
 */
function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

/** Limits applied to every YAML file Agent-Safe reads. */
export interface YamlLimits {
  /** Largest accepted file, in bytes (default 4 MiB). */
  readonly maxBytes?: number;
  /** Most alias expansions accepted (default 100): a billion-laughs file fails fast instead of hanging. */
  readonly maxAliasCount?: number;
  /** Deepest nesting of flow collections (`[`/`{`) accepted (default 64). */
  readonly maxFlowDepth?: number;
}

/** Default limit on a YAML file's size. */
export const DEFAULT_MAX_YAML_BYTES = 4 * 1024 * 1024;

const DEFAULT_MAX_FLOW_DEPTH = 64;
/** A hostile file can produce thousands of errors; a person needs the first few. */
const MAX_REPORTED_PROBLEMS = 20;

/**
 * Parses untrusted YAML defensively: size, flow-nesting and alias-expansion limits, duplicate keys
 * rejected, only the YAML 1.2 core schema (no language-specific tags such as `!!python/object` or
 * `!!binary`), a single document. The result holds only JSON values (strings, finite or non-finite
 * numbers, booleans, null, arrays, plain objects). Throws `YAML_INVALID` naming the file and each
 * problem's line and column.
 */
export function parseYaml(text: string, file: string, limits: YamlLimits = {}): unknown {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_YAML_BYTES;
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new AgentSafeError(
      'YAML_INVALID',
      `${file}: file is larger than the ${maxBytes}-byte limit for YAML; split it or raise maxBytes`,
      { issues: [{ file, message: `larger than the ${maxBytes}-byte limit` }], details: { file } },
    );
  }
  checkFlowDepth(text, file, limits.maxFlowDepth ?? DEFAULT_MAX_FLOW_DEPTH);
  const document = yaml().parseDocument(text, {
    schema: 'core',
    resolveKnownTags: false,
    uniqueKeys: true,
    // prettyErrors builds a regular expression per error, which exhausts memory on hostile input.
    prettyErrors: false,
    strict: true,
  });
  const problems = [...document.errors, ...document.warnings];
  if (problems.length > 0) {
    const issues: Issue[] = problems.slice(0, MAX_REPORTED_PROBLEMS).map((problem) => ({
      file,
      path: positionOf(text, problem.pos[0]),
      message: problem.message.split('\n')[0] ?? problem.message,
    }));
    if (problems.length > MAX_REPORTED_PROBLEMS) {
      issues.push({ file, message: `and ${problems.length - MAX_REPORTED_PROBLEMS} more problems` });
    }
    throw new AgentSafeError('YAML_INVALID', `${file}: not valid YAML`, { issues, details: { file } });
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: limits.maxAliasCount ?? 100 });
  } catch (error) {
    throw new AgentSafeError(
      'YAML_INVALID',
      `${file}: ${(error as Error).message} (alias expansion is limited to guard against "billion laughs" files)`,
      { cause: error, issues: [{ file, message: 'too many alias expansions' }], details: { file } },
    );
  }
  return value;
}

/**
 * Flow collections nest without indentation, so a few megabytes of `[` make the parser recurse for
 * seconds. The lexer is iterative and is the parser's own, so counting its tokens is exact and stops
 * at the first token past the limit.
 */
function checkFlowDepth(text: string, file: string, maxDepth: number): void {
  if (!text.includes('[') && !text.includes('{')) return;
  let depth = 0;
  let offset = 0;
  const { CST, Lexer } = yaml();
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'flow-seq-start' || type === 'flow-map-start') {
      depth += 1;
      if (depth > maxDepth) {
        throw new AgentSafeError('YAML_INVALID', `${file}: flow collections nested deeper than ${maxDepth}`, {
          issues: [
            { file, path: positionOf(text, offset), message: `nesting deeper than ${maxDepth} levels` },
          ],
          details: { file },
        });
      }
    } else if (type === 'flow-seq-end' || type === 'flow-map-end') {
      depth = Math.max(0, depth - 1);
    }
    // Scalar tokens are preceded by a one-character marker that is not part of the source text.
    if (token !== CST.SCALAR && token !== CST.DOCUMENT && token !== CST.FLOW_END) offset += token.length;
  }
}

function positionOf(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let index = text.indexOf('\n'); index !== -1 && index < end; index = text.indexOf('\n', index + 1)) {
    line += 1;
    lineStart = index + 1;
  }
  return `line ${line}, column ${end - lineStart + 1}`;
}

/**
 * Parses a configuration file by its extension: `.json` with `JSON.parse` (much faster for large,
 * generated files such as an inventory of 100k targets), anything else with {@link parseYaml}.
 */
export function parseConfigText(text: string, file: string, limits: YamlLimits = {}): unknown {
  if (!file.toLowerCase().endsWith('.json')) return parseYaml(text, file, limits);
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_YAML_BYTES;
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new AgentSafeError('YAML_INVALID', `${file}: file is larger than the ${maxBytes}-byte limit`, {
      details: { file },
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AgentSafeError('YAML_INVALID', `${file}: not valid JSON (${(error as Error).message})`, {
      cause: error,
      issues: [{ file, message: (error as Error).message }],
      details: { file },
    });
  }
}

/**
 * A memo of parse results, keyed by a digest of a file's text and the limits it was parsed under. Only
 * the text-to-value step is memoised: loaders still read every file, hash it, verify manifests and
 * validate every field, so a stale or tampered entry can never bypass validation, and a changed file
 * simply misses. Used by the CLI to skip YAML parsing on repeated runs.
 */
export interface ParseCache {
  /** The value stored under `key` for `file`, or undefined (a cache may decline to serve a file). */
  get(key: string, file: string): unknown;
  set(key: string, value: unknown, file: string): void;
}

/**
 * {@link parseConfigText} through an optional {@link ParseCache}. Values that JSON cannot carry exactly
 * (`.inf`, `.nan`) are never cached, so a cached value always equals a fresh parse.
 */
export function parseConfigFile(
  text: string,
  file: string,
  limits: YamlLimits = {},
  cache?: ParseCache,
): unknown {
  if (cache === undefined) return parseConfigText(text, file, limits);
  const format = file.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
  const key = sha256Hex(
    `${format}\0${limits.maxBytes ?? ''}\0${limits.maxAliasCount ?? ''}\0${limits.maxFlowDepth ?? ''}\0${text}`,
  );
  const hit = cache.get(key, file);
  if (hit !== undefined) return hit;
  const value = parseConfigText(text, file, limits);
  try {
    canonicalJson(value);
    cache.set(key, value, file);
  } catch {
    // Not representable in JSON: parse it again next time.
  }
  return value;
}
