import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { AgentSafeError, type Issue } from '@agent-safe/core';
import { isPlainObject } from './json-value.js';
import { DEFAULT_MAX_YAML_BYTES } from './parse-yaml.js';
import {
  MANIFEST_FILE_NAME,
  listYamlFilesSync,
  pathIn,
  readRegularFileSync,
  throwReadFailures,
} from './read-files.js';
import { sha256Hex } from './sha256.js';

/** The integrity manifest of an actions directory: SHA-256 of each YAML file's bytes. */
export interface ActionManifest {
  readonly version: 1;
  readonly algorithm: 'sha256';
  /** File name (not path) → lowercase hex digest, sorted by name. */
  readonly files: Readonly<Record<string, string>>;
}

/** What the loader does with `actions.manifest.json`. */
export type ManifestMode = 'verify' | 'require' | 'ignore';

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const REGENERATE_HINT = `after reviewing the changes, regenerate it with writeManifest(dir) from @agent-safe/registry (or the CLI's manifest command)`;

/** Hashes every `*.yaml`/`*.yml` file directly in `dir` (sorted, symbolic links followed). */
export function generateManifest(dir: string): ActionManifest {
  const files: Record<string, string> = {};
  const failures = [];
  for (const name of listYamlFilesSync(dir)) {
    const outcome = readRegularFileSync(pathIn(dir, name), DEFAULT_MAX_YAML_BYTES);
    if (outcome.ok) files[name] = sha256Hex(outcome.bytes);
    else failures.push(outcome);
  }
  throwReadFailures(failures, 'action');
  return { version: 1, algorithm: 'sha256', files };
}

/**
 * Writes `actions.manifest.json` into `dir` for the files there now. The file is written to a temporary
 * name and renamed, so a reader never sees half a manifest. Returns the manifest written.
 */
export function writeManifest(dir: string): ActionManifest {
  const manifest = generateManifest(dir);
  const target = pathIn(dir, MANIFEST_FILE_NAME);
  const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new AgentSafeError(
      'FILE_UNWRITABLE',
      `${target}: the manifest could not be written (${(error as Error).message})`,
      {
        cause: error,
        issues: [{ file: target, message: 'could not be written; check that the directory is writable' }],
      },
    );
  }
  return manifest;
}

/**
 * Checks the hashed files against a manifest's bytes. `manifestBytes` is undefined when there is no
 * manifest: fine unless `mode` is `require`. Throws MANIFEST_MISMATCH listing every modified, missing
 * and unlisted file, or CONFIG_INVALID when the manifest itself is malformed.
 */
export function verifyManifest(
  dir: string,
  files: readonly { readonly name: string; readonly sha256: string }[],
  manifestBytes: Buffer | undefined,
  mode: ManifestMode,
): void {
  if (mode === 'ignore') return;
  const manifestPath = pathIn(dir, MANIFEST_FILE_NAME);
  if (manifestBytes === undefined) {
    if (mode === 'require') {
      throw new AgentSafeError(
        'MANIFEST_MISMATCH',
        `${manifestPath}: no integrity manifest, and manifest: 'require' was asked for; create it with writeManifest(dir) after reviewing the action files`,
        { issues: [{ file: manifestPath, message: 'missing' }], details: { dir } },
      );
    }
    return;
  }
  const listed = parseManifest(manifestBytes, manifestPath);
  const issues: Issue[] = [];
  const present = new Set<string>();
  for (const file of files) {
    present.add(file.name);
    const expected = listed.get(file.name);
    if (expected === undefined) {
      issues.push({ file: pathIn(dir, file.name), message: 'extra: not listed in the manifest' });
    } else if (expected !== file.sha256) {
      issues.push({
        file: pathIn(dir, file.name),
        message: `modified: sha256 is ${file.sha256}, the manifest expects ${expected}`,
      });
    }
  }
  for (const name of listed.keys()) {
    if (!present.has(name))
      issues.push({
        file: pathIn(dir, name),
        message: 'missing: listed in the manifest but not in the directory',
      });
  }
  if (issues.length > 0) {
    throw new AgentSafeError(
      'MANIFEST_MISMATCH',
      `${dir}: ${issues.length === 1 ? '1 file does' : `${issues.length} files do`} not match ${MANIFEST_FILE_NAME}; ${REGENERATE_HINT}`,
      { issues, details: { dir, manifest: manifestPath } },
    );
  }
}

function parseManifest(bytes: Buffer, path: string): Map<string, string> {
  const invalid = (message: string): AgentSafeError =>
    new AgentSafeError(
      'CONFIG_INVALID',
      `${path}: not a valid integrity manifest (${message}); ${REGENERATE_HINT}`,
      {
        issues: [{ file: path, message }],
      },
    );
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) throw invalid('expected a JSON object');
  if (value.version !== 1) throw invalid('expected "version": 1');
  if (value.algorithm !== 'sha256') throw invalid('expected "algorithm": "sha256"');
  if (!isPlainObject(value.files)) throw invalid('expected "files" to be an object of file name → sha256');
  const listed = new Map<string, string>();
  for (const [name, digest] of Object.entries(value.files)) {
    if (typeof digest !== 'string' || !HEX_DIGEST.test(digest)) {
      throw invalid(`files.${name}: expected 64 lowercase hex characters`);
    }
    listed.set(name, digest);
  }
  return listed;
}
