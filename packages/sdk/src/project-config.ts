import type { SuspensionsOptions } from './suspensions.js';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AgentSafeError, type Issue } from '@agent-safe/core';
import { DEFAULT_MAX_YAML_BYTES, type ParseCache, parseConfigFile } from '@agent-safe/registry';
import type { ApprovalsOptions } from './approvals-options.js';
import type { AuditShippersOptions } from './audit-shippers.js';
import { type AwsOptions, awsEndpointProblem, awsRegionProblem } from './execution-aws.js';
import type { CumulativeRiskSettings, RateLimitOptions } from './guards.js';
import { readTextFileSync } from './read-text-file.js';
import type { SecurityOptions } from './security.js';
import { type ShadowOptions, parseShadowBlock } from './shadow-options.js';
import { type ServerSettings, parseServerBlock } from './server-settings.js';

/** Signed checkpoints of the audit log (docs/audit.md); `audit_checkpoints:` in agent-safe.yaml. */
export interface AuditCheckpointsOptions {
  /** The signing key: `env:NAME` or `file:PATH` (an HS256 secret of 32+ bytes or an Ed25519 private key). */
  readonly key: string;
  /** Id written into each checkpoint (default derived from the key). */
  readonly keyId?: string;
  /** A checkpoint each time the sequence crosses a multiple of this (default 1000). */
  readonly every?: number;
  /** And at least this often while events arrive (seconds, default 60). */
  readonly intervalSeconds?: number;
}

/** Rotation of the audit log file (docs/audit.md#rotation); `audit_rotate:` in agent-safe.yaml. */
export interface AuditRotateOptions {
  /** Rotate once the file has reached this many bytes (at least 1024). */
  readonly maxBytes?: number;
  /** Rotate at the first write of a new UTC day. */
  readonly daily?: boolean;
}

/** Name of the optional project configuration file looked up in the working directory. */
export const PROJECT_CONFIG_FILE = 'agent-safe.yaml';

/** Settings an `agent-safe.yaml` may hold. Paths are resolved against the file's directory. */
export interface ProjectConfig {
  readonly registry?: string;
  readonly policies?: string;
  readonly inventory?: string;
  readonly auditLog?: string;
  readonly auditDurability?: 'fsync' | 'write';
  /** `audit_checkpoints:` block (signed checkpoints of the audit log). */
  readonly auditCheckpoints?: AuditCheckpointsOptions;
  /** `audit_rotate:` block (rotation of the audit log file). */
  readonly auditRotate?: AuditRotateOptions;
  /** `audit_shippers:` block, keys in camelCase (checked by the AgentSafe constructor). */
  readonly auditShippers?: AuditShippersOptions;
  readonly timeZone?: string;
  /** Default caller id for CLI checks that give no `--caller`. */
  readonly caller?: string;
  /** DENY requests whose target type is not one of the action's `target_types`. */
  readonly enforceTargetTypes?: boolean;
  /** DENY requests that cannot be bound to their target (no `target_binding` or no `identifiers`). */
  readonly enforceTargetBinding?: boolean;
  /** Identity and ticket settings (`signing_key`, `verification_keys`, `signing_algorithm` …). */
  readonly security?: SecurityOptions;
  /** `rate_limit:` block, keys in camelCase. */
  readonly rateLimit?: RateLimitOptions;
  /** `approvals:` block, keys in camelCase (see docs/approvals.md). */
  readonly approvals?: ApprovalsOptions;
  /** `cumulative_risk:` block, keys in camelCase. */
  readonly cumulativeRisk?: CumulativeRiskSettings;
  /** `store: memory | file:PATH | redis://host:port`; a file path is absolute (resolved against the file's folder). */
  readonly store?: string;
  /** `aws:` block: default region and endpoint of the AWS executor and providers (docs/aws.md). */
  readonly aws?: AwsOptions;
  /** `shadow:` block: candidate policies evaluated beside the enforced ones (docs/server.md). */
  readonly shadow?: ShadowOptions;
  /** `server:` block: settings of `agent-safe serve` (admin_roles, slack, tls); its flags override them. */
  readonly server?: ServerSettings;
  /** `suspensions:` block (the kill switch's refresh_interval_ms, max_stale_ms), keys in camelCase. */
  readonly suspensions?: SuspensionsOptions;
  /** The file the settings came from. */
  readonly file?: string;
}

const PATH_KEYS = {
  registry: 'registry',
  policies: 'policies',
  inventory: 'inventory',
  audit_log: 'auditLog',
} as const;
const KNOWN_KEYS = new Set([
  'approvals',
  'rate_limit',
  'cumulative_risk',
  'store',
  'signing_key',
  'signing_algorithm',
  'verification_keys',
  'allow_plain_callers',
  'ticket_ttl_seconds',
  'issuer',
  ...Object.keys(PATH_KEYS),
  'audit_durability',
  'audit_checkpoints',
  'audit_rotate',
  'audit_shippers',
  'time_zone',
  'caller',
  'enforce_target_types',
  'enforce_target_binding',
  'aws',
  'shadow',
  'server',
  'suspensions',
]);

/** The original tool's default locations, relative to the working directory. */
export const DEFAULT_PATHS = {
  registry: './actions',
  policies: './policies',
  inventory: './inventory.yaml',
  auditLog: './audit.jsonl',
} as const;

/**
 * Reads `agent-safe.yaml` (or `file`) when present. Returns `{}` when there is none. Unknown keys and
 * wrongly typed values are errors naming the key, so a typo never silently falls back to a default.
 */
export function loadProjectConfig(
  options: { cwd?: string; file?: string; parseCache?: ParseCache } = {},
): ProjectConfig {
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ? resolve(cwd, options.file) : resolve(cwd, PROJECT_CONFIG_FILE);
  if (!existsSync(file)) {
    if (options.file) {
      throw new AgentSafeError(
        'FILE_UNREADABLE',
        `Config file ${file} does not exist; check the --config path`,
      );
    }
    return {};
  }
  const text = readTextFileSync(file, 'config file', DEFAULT_MAX_YAML_BYTES);
  const raw = parseConfigFile(text, file, {}, options.parseCache) ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `${file}: expected a mapping of settings (registry, policies, …)`,
    );
  }
  const issues: Issue[] = [];
  const record = raw as Record<string, unknown>;
  const config: Record<string, unknown> = { file };
  const base = dirname(file);
  const security: { -readonly [K in keyof SecurityOptions]: SecurityOptions[K] } = {};
  for (const [key, value] of Object.entries(record)) {
    if (!KNOWN_KEYS.has(key)) {
      issues.push({
        file,
        path: key,
        message: `unknown setting; expected one of ${[...KNOWN_KEYS].join(', ')}`,
      });
      continue;
    }
    if (key === 'rate_limit' || key === 'cumulative_risk' || key === 'approvals') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        issues.push({ file, path: key, message: 'expected a mapping of settings (see the README)' });
      } else {
        const name =
          key === 'rate_limit' ? 'rateLimit' : key === 'cumulative_risk' ? 'cumulativeRisk' : 'approvals';
        config[name] = camelKeys(value as Record<string, unknown>);
      }
      continue;
    }
    if (key === 'suspensions') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        issues.push({
          file,
          path: key,
          message: 'expected a mapping: { refresh_interval_ms, max_stale_ms }',
        });
      } else config.suspensions = camelKeys(value as Record<string, unknown>) as SuspensionsOptions;
      continue;
    }
    if (key === 'audit_shippers') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        issues.push({
          file,
          path: key,
          message: 'expected a mapping (filesystem_path, webhook_url, s3_bucket …)',
        });
      } else config.auditShippers = camelKeys(value as Record<string, unknown>);
      continue;
    }
    if (key === 'server') {
      const server = parseServerBlock(value, base, file, issues);
      if (server !== undefined) config.server = server;
      continue;
    }
    if (key === 'shadow') {
      const shadow = parseShadowBlock(value, base, file, issues);
      if (shadow !== undefined) config.shadow = shadow;
      continue;
    }
    if (key === 'aws') {
      const aws = awsBlock(value, file, issues);
      if (aws !== undefined) config.aws = aws;
      continue;
    }
    if (key === 'audit_rotate') {
      const rotate = auditRotate(value, file, issues);
      if (rotate !== undefined) config.auditRotate = rotate;
      continue;
    }
    if (key === 'audit_checkpoints') {
      const parsed = auditCheckpoints(value, base, file, issues);
      if (parsed !== undefined) config.auditCheckpoints = parsed;
      continue;
    }
    if (key === 'allow_plain_callers') {
      if (typeof value !== 'boolean')
        issues.push({ file, path: key, message: `expected true or false, got ${JSON.stringify(value)}` });
      else security.allowPlainCallers = value;
      continue;
    }
    if (key === 'ticket_ttl_seconds') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 3600)
        issues.push({
          file,
          path: key,
          message: `expected whole seconds from 1 to 3600, got ${JSON.stringify(value)}`,
        });
      else security.ticketTtlSeconds = value;
      continue;
    }
    if (key === 'enforce_target_types') {
      if (typeof value !== 'boolean')
        issues.push({ file, path: key, message: `expected true or false, got ${JSON.stringify(value)}` });
      else config.enforceTargetTypes = value;
      continue;
    }
    if (key === 'enforce_target_binding') {
      if (typeof value !== 'boolean')
        issues.push({ file, path: key, message: `expected true or false, got ${JSON.stringify(value)}` });
      else config.enforceTargetBinding = value;
      continue;
    }
    if (typeof value !== 'string' || value.length === 0) {
      issues.push({ file, path: key, message: `expected a non-empty string, got ${JSON.stringify(value)}` });
      continue;
    }
    if (key in PATH_KEYS) {
      config[PATH_KEYS[key as keyof typeof PATH_KEYS]] = isAbsolute(value) ? value : resolve(base, value);
    } else if (key === 'audit_durability') {
      if (value !== 'fsync' && value !== 'write') {
        issues.push({ file, path: key, message: `expected "fsync" or "write", got "${value}"` });
      } else config.auditDurability = value;
    } else if (key === 'signing_key' || key === 'verification_keys') {
      const source = keySource(value, base);
      if (source === undefined) {
        issues.push({
          file,
          path: key,
          message:
            'expected a key source, env:NAME or file:PATH; never put the key itself in this file (it would be committed with it)',
        });
      } else if (key === 'signing_key') security.signingKeySource = source;
      else security.verificationKeysSource = source;
    } else if (key === 'signing_algorithm') {
      if (value !== 'HS256' && value !== 'EdDSA' && value !== 'ES256') {
        issues.push({ file, path: key, message: `expected HS256, EdDSA or ES256, got "${value}"` });
      } else security.signingAlgorithm = value;
    } else if (key === 'store') {
      const store = storeLocation(value, base);
      if (store === undefined) {
        issues.push({
          file,
          path: key,
          message: `expected "memory", file:PATH (a directory, e.g. file:./.agent-safe/state) or a redis:// URL, got ${JSON.stringify(value.slice(0, 80))}`,
        });
      } else config.store = store;
    } else if (key === 'issuer') {
      security.issuer = value;
    } else if (key === 'time_zone') {
      if (!isValidTimeZone(value)) {
        issues.push({
          file,
          path: key,
          message: `unknown IANA time zone "${value}" (e.g. "UTC", "Europe/Berlin")`,
        });
      } else config.timeZone = value;
    } else config.caller = value;
  }
  if (issues.length > 0)
    throw new AgentSafeError('CONFIG_INVALID', `${file} has invalid settings`, { issues });
  if (Object.keys(security).length > 0) config.security = security;
  return config as ProjectConfig;
}

/** True when `Intl` knows the IANA time zone name. */
export function isValidTimeZone(timeZone: string): boolean {
  // Constructing the first Intl.DateTimeFormat loads ICU data (~15 ms): not worth it for UTC.
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** `env:NAME` stays as it is; `file:PATH` and a bare path are resolved against the config file's folder. */
function keySource(value: string, base: string): string | undefined {
  if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return value;
  // A bare value may be the key itself: it is refused (and never echoed), not read as a path.
  if (!value.startsWith('file:')) return undefined;
  const path = value.slice(5);
  if (path.length === 0 || /\s/.test(path) || path.length > 4096) return undefined;
  return `file:${isAbsolute(path) ? path : resolve(base, path)}`;
}

/**
 * Throws CONFIG_INVALID naming the setting when `auditCheckpoints` cannot work: a key source that is not
 * env:NAME or file:PATH, a bad key id, `every` or `intervalSeconds`, or an audit sink that is not a
 * log file (give an `AuditLog` of your own its `checkpoints` option instead). Checked at construction,
 * so a mistake fails there and not at the first check.
 */
export function checkAuditCheckpoints(
  options: AuditCheckpointsOptions,
  context: { readonly where: string; readonly logFile: boolean },
): void {
  const issues: Issue[] = [];
  const add = (path: string, message: string) => issues.push({ path: `auditCheckpoints.${path}`, message });
  if (options === null || typeof options !== 'object') {
    add('', 'expected { key, keyId, every, intervalSeconds }');
  } else {
    if (typeof options.key !== 'string' || !/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\S.*)$/.test(options.key)) {
      add('key', 'expected env:NAME or file:PATH (never the key itself)');
    }
    if (
      options.keyId !== undefined &&
      (typeof options.keyId !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(options.keyId))
    ) {
      add('keyId', 'expected 1–64 letters, digits or . _ : -');
    }
    if (options.every !== undefined && (!Number.isSafeInteger(options.every) || options.every < 1)) {
      add('every', `expected a whole number ≥ 1, got ${JSON.stringify(options.every)}`);
    }
    const interval = options.intervalSeconds;
    if (
      interval !== undefined &&
      (typeof interval !== 'number' || !(interval >= 0.01 && interval <= 86_400))
    ) {
      add('intervalSeconds', `expected seconds from 0.01 to 86400, got ${JSON.stringify(interval)}`);
    }
    if (!context.logFile) {
      add(
        '',
        'checkpoints need an audit log file (auditLog: a path); for an AuditLog of your own, pass checkpoints to AuditLog.open',
      );
    }
  }
  if (issues.length > 0) {
    throw new AgentSafeError('CONFIG_INVALID', `${context.where}: invalid auditCheckpoints`, { issues });
  }
}

/** The `aws:` block (region, endpoint), or undefined (with issues) when it is not valid. */
function awsBlock(value: unknown, file: string, issues: Issue[]): AwsOptions | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({
      file,
      path: 'aws',
      message:
        'expected a mapping: region (e.g. eu-west-1), endpoint (https://…, or http://127.0.0.1:PORT for moto)',
    });
    return undefined;
  }
  const before = issues.length;
  const out: { -readonly [K in keyof AwsOptions]: AwsOptions[K] } = {};
  for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
    if (name === 'region' || name === 'endpoint') {
      const why = name === 'region' ? awsRegionProblem(member) : awsEndpointProblem(member);
      if (why !== undefined) issues.push({ file, path: `aws.${name}`, message: why });
      else out[name] = name === 'endpoint' ? (member as string).replace(/\/+$/, '') : (member as string);
    } else {
      issues.push({ file, path: `aws.${name}`, message: 'unknown setting; expected region, endpoint' });
    }
  }
  return issues.length === before ? out : undefined;
}

/** The `audit_rotate:` block, or undefined (with issues) when it is not valid. */
function auditRotate(value: unknown, file: string, issues: Issue[]): AuditRotateOptions | undefined {
  const path = 'audit_rotate';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ file, path, message: 'expected a mapping: max_bytes, daily' });
    return undefined;
  }
  const before = issues.length;
  const out: { -readonly [K in keyof AuditRotateOptions]: AuditRotateOptions[K] } = {};
  for (const [name, member] of Object.entries(value as Record<string, unknown>)) {
    if (name === 'max_bytes') {
      if (typeof member !== 'number' || !Number.isSafeInteger(member) || member < 1024) {
        issues.push({
          file,
          path: `${path}.max_bytes`,
          message: `expected a whole number of bytes ≥ 1024, got ${JSON.stringify(member)}`,
        });
      } else out.maxBytes = member;
    } else if (name === 'daily') {
      if (typeof member !== 'boolean') {
        issues.push({
          file,
          path: `${path}.daily`,
          message: `expected true or false, got ${JSON.stringify(member)}`,
        });
      } else out.daily = member;
    } else {
      issues.push({ file, path: `${path}.${name}`, message: 'unknown setting; expected max_bytes, daily' });
    }
  }
  return issues.length === before ? out : undefined;
}

/** Throws CONFIG_INVALID naming the setting when `auditRotate` cannot work (checked at construction). */
export function checkAuditRotate(
  options: AuditRotateOptions,
  context: { readonly where: string; readonly logFile: boolean },
): void {
  const issues: Issue[] = [];
  if (options === null || typeof options !== 'object') {
    issues.push({ path: 'auditRotate', message: 'expected { maxBytes, daily }' });
  } else {
    if (
      options.maxBytes !== undefined &&
      (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1024)
    ) {
      issues.push({
        path: 'auditRotate.maxBytes',
        message: `expected a whole number of bytes ≥ 1024, got ${JSON.stringify(options.maxBytes)}`,
      });
    }
    if (options.daily !== undefined && typeof options.daily !== 'boolean') {
      issues.push({
        path: 'auditRotate.daily',
        message: `expected true or false, got ${JSON.stringify(options.daily)}`,
      });
    }
    if (!context.logFile) {
      issues.push({
        path: 'auditRotate',
        message:
          'rotation needs an audit log file (auditLog: a path); for an AuditLog of your own, pass rotate to AuditLog.open',
      });
    }
  }
  if (issues.length > 0)
    throw new AgentSafeError('CONFIG_INVALID', `${context.where}: invalid auditRotate`, { issues });
}

/** The `audit_checkpoints:` block, or undefined (with issues) when it is not valid. */
function auditCheckpoints(
  value: unknown,
  base: string,
  file: string,
  issues: Issue[],
): AuditCheckpointsOptions | undefined {
  const path = 'audit_checkpoints';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({
      file,
      path,
      message: 'expected a mapping: key (env:NAME or file:PATH), key_id, every, interval_seconds',
    });
    return undefined;
  }
  const record = value as Record<string, unknown>;
  const before = issues.length;
  const out: { -readonly [K in keyof AuditCheckpointsOptions]: AuditCheckpointsOptions[K] } = { key: '' };
  for (const [name, member] of Object.entries(record)) {
    if (name === 'key') {
      const source = typeof member === 'string' ? keySource(member, base) : undefined;
      if (source === undefined) {
        issues.push({
          file,
          path: `${path}.key`,
          message: 'expected a key source, env:NAME or file:PATH; never put the key itself in this file',
        });
      } else out.key = source;
    } else if (name === 'key_id') {
      if (typeof member !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(member)) {
        issues.push({ file, path: `${path}.key_id`, message: 'expected 1–64 letters, digits or . _ : -' });
      } else out.keyId = member;
    } else if (name === 'every') {
      if (typeof member !== 'number' || !Number.isSafeInteger(member) || member < 1) {
        issues.push({
          file,
          path: `${path}.every`,
          message: `expected a whole number ≥ 1, got ${JSON.stringify(member)}`,
        });
      } else out.every = member;
    } else if (name === 'interval_seconds') {
      if (typeof member !== 'number' || !Number.isFinite(member) || member < 0.01 || member > 86_400) {
        issues.push({
          file,
          path: `${path}.interval_seconds`,
          message: `expected seconds from 0.01 to 86400, got ${JSON.stringify(member)}`,
        });
      } else out.intervalSeconds = member;
    } else {
      issues.push({
        file,
        path: `${path}.${name}`,
        message: 'unknown setting; expected key, key_id, every, interval_seconds',
      });
    }
  }
  if (!Object.hasOwn(record, 'key')) {
    issues.push({ file, path: `${path}.key`, message: 'is required: env:NAME or file:PATH' });
  }
  return issues.length === before ? out : undefined;
}

/** `memory`, a Redis URL, or `file:PATH` with the path resolved against the config file's folder. */
function storeLocation(value: string, base: string): string | undefined {
  if (value === 'memory' || /^rediss?:\/\/[^\s]+$/.test(value)) return value;
  if (!value.startsWith('file:')) return undefined;
  const path = value.slice(5);
  if (path.length === 0 || path.length > 4096 || path.includes('\0')) return undefined;
  return `file:${isAbsolute(path) ? path : resolve(base, path)}`;
}

/** `max_requests` → `maxRequests`, one level deep (`risk_scores` values keep their keys). */
function camelKeys(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    out[key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase())] = value;
  }
  return out;
}
