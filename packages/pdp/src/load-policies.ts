import { readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AgentSafeError, type Issue, isAgentSafeError } from '@agent-safe/core';
import { DEFAULT_MAX_YAML_BYTES, type ParseCache, parseConfigFile } from '@agent-safe/registry';
import { parsePolicyDocument } from './parse-policy-document.js';
import type { PolicyRule, PolicySet } from './policy-rule.js';
import { policyRevision } from './policy-revision.js';

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Options of {@link loadPolicies}. */
export interface LoadPoliciesOptions {
  /** Memo of YAML parse results; every rule is still validated. */
  readonly parseCache?: ParseCache;
}

/**
 * Loads policies from a directory (every `*.yaml` / `*.yml` file in it, sorted by name; sub-directories
 * are not read) or from a single file. Every problem in every file is reported at once: YAML_INVALID
 * when a file is not valid YAML, otherwise CONFIG_INVALID listing each bad rule with file and path.
 * FILE_UNREADABLE when the path cannot be read.
 */
export async function loadPolicies(path: string, options: LoadPoliciesOptions = {}): Promise<PolicySet> {
  const info = await stat(path).catch((error: unknown) => unreadable(path, error));
  const files = info.isDirectory() ? await listPolicyFiles(path) : [path];
  const sources: Source[] = [];
  for (const file of files) {
    const fileInfo = await stat(file).catch((error: unknown) => unreadable(file, error));
    if (!fileInfo.isFile()) throw notAFile(file);
    if (fileInfo.size > DEFAULT_MAX_YAML_BYTES) {
      sources.push({ file, text: undefined, size: fileInfo.size });
      continue;
    }
    const text = await readFile(file, 'utf8').catch((error: unknown) => unreadable(file, error));
    sources.push({ file, text, size: fileInfo.size });
  }
  return buildPolicySet(sources, options.parseCache);
}

/** Synchronous {@link loadPolicies}, for start-up code and CLIs. */
export function loadPoliciesSync(path: string, options: LoadPoliciesOptions = {}): PolicySet {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch (error) {
    unreadable(path, error);
  }
  const files = info.isDirectory() ? policyFilesIn(path, readDirectory(path)) : [path];
  return buildPolicySet(files.map(readSourceSync), options.parseCache);
}

function readSourceSync(file: string): Source {
  let fileInfo: ReturnType<typeof statSync>;
  try {
    fileInfo = statSync(file);
  } catch (error) {
    unreadable(file, error);
  }
  if (!fileInfo.isFile()) throw notAFile(file);
  if (fileInfo.size > DEFAULT_MAX_YAML_BYTES) return { file, text: undefined, size: fileInfo.size };
  try {
    return { file, text: readFileSync(file, 'utf8'), size: fileInfo.size };
  } catch (error) {
    unreadable(file, error);
  }
}

interface Source {
  readonly file: string;
  /** Undefined when the file is over the size limit and was not read. */
  readonly text: string | undefined;
  readonly size: number;
}

async function listPolicyFiles(directory: string): Promise<string[]> {
  const names = await readdir(directory).catch((error: unknown) => unreadable(directory, error));
  return policyFilesIn(directory, names);
}

function readDirectory(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch (error) {
    unreadable(directory, error);
  }
}

function policyFilesIn(directory: string, names: readonly string[]): string[] {
  // Hidden files are editor and ConfigMap artefacts (`..data`), never policies.
  const files = names
    .filter((name) => !name.startsWith('.') && POLICY_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(directory, name));
  if (files.length === 0) {
    throw new AgentSafeError('CONFIG_INVALID', `${directory}: no policy files (*.yaml, *.yml) found`, {
      issues: [
        {
          file: directory,
          message:
            'the policy directory has no *.yaml or *.yml files; every request would be denied by default',
        },
      ],
    });
  }
  return files;
}

function buildPolicySet(sources: readonly Source[], parseCache?: ParseCache): PolicySet {
  const rules: PolicyRule[] = [];
  const issues: Issue[] = [];
  let yamlBroken = false;
  for (const { file, text, size } of sources) {
    if (text === undefined) {
      yamlBroken = true;
      issues.push({
        file,
        message: `file is ${size} bytes, over the ${DEFAULT_MAX_YAML_BYTES}-byte limit for YAML; split it`,
      });
      continue;
    }
    let raw: unknown;
    try {
      raw = parseConfigFile(text, file, {}, parseCache);
    } catch (error) {
      if (!isAgentSafeError(error)) throw error;
      yamlBroken = true;
      issues.push(...(error.issues.length > 0 ? error.issues : [{ file, message: error.message }]));
      continue;
    }
    const parsed = parsePolicyDocument(raw, file);
    rules.push(...parsed.rules);
    issues.push(...parsed.issues);
  }
  issues.push(...duplicateNames(rules));
  const errors = issues.filter((issue) => issue.severity !== 'warning');
  if (errors.length > 0) {
    const files = new Set(errors.map((issue) => issue.file).filter(Boolean)).size;
    throw new AgentSafeError(
      yamlBroken ? 'YAML_INVALID' : 'CONFIG_INVALID',
      `${errors.length} problem(s) in ${files} policy file(s); fix them and load again`,
      { issues },
    );
  }
  return {
    rules,
    revision: policyRevision(rules),
    files: sources.map((source) => source.file),
  };
}

function duplicateNames(rules: readonly PolicyRule[]): Issue[] {
  const first = new Map<string, PolicyRule>();
  const issues: Issue[] = [];
  for (const rule of rules) {
    const earlier = first.get(rule.name);
    if (earlier === undefined) {
      first.set(rule.name, rule);
      continue;
    }
    issues.push({
      file: rule.source?.file,
      path: `rules[${rule.source?.index ?? '?'}].name`,
      message: `rule name "${rule.name}" is already used by rules[${earlier.source?.index ?? '?'}] in ${earlier.source?.file ?? 'another file'}; rule names must be unique across all policy files`,
    });
  }
  return issues;
}

function notAFile(file: string): AgentSafeError {
  return new AgentSafeError('FILE_UNREADABLE', `${file}: not a regular file`, {
    issues: [{ file, message: 'expected a policy YAML file or a directory of them' }],
  });
}

function unreadable(path: string, error: unknown): never {
  const code = (error as NodeJS.ErrnoException)?.code;
  throw new AgentSafeError('FILE_UNREADABLE', `${path}: cannot be read${code ? ` (${code})` : ''}`, {
    cause: error,
    issues: [
      {
        file: path,
        message: code === 'ENOENT' ? 'no such file or directory' : String((error as Error)?.message ?? error),
      },
    ],
  });
}
