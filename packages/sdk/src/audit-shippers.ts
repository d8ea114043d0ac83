import { dirname, isAbsolute, resolve } from 'node:path';
import { AgentSafeError, type Issue } from '@agent-safe/core';
import { type BackgroundShippingOptions, type ShipperSpec, shipperFromSpec } from '@agent-safe/audit';
import { readTextFileSync } from './read-text-file.js';

/**
 * Shipping the audit log off the box (docs/audit.md, "Shipping"); `audit_shippers:` in agent-safe.yaml
 * (snake_case there: `filesystem_path`, `webhook_url` …). Each destination given is shipped to, in the
 * background, after every append; a destination that is down never slows or fails a check.
 */
export interface AuditShippersOptions {
  /** Copy batches into this directory (another disk or a mount of another machine). */
  readonly filesystemPath?: string;
  /** POST signed batches to this https:// URL. */
  readonly webhookUrl?: string;
  /** The webhook's HMAC-SHA256 secret, `env:NAME` or `file:PATH` (never the secret itself). */
  readonly webhookSecret?: string;
  /** Per request (ms, default 10 000). */
  readonly webhookTimeoutMs?: number;
  /** Put one object per batch into this bucket (needs `@aws-sdk/client-s3`). */
  readonly s3Bucket?: string;
  readonly s3Prefix?: string;
  readonly s3Region?: string;
  /** Another S3 API (MinIO, moto, a VPC endpoint). */
  readonly s3Endpoint?: string;
  /** Retain each object with Object Lock: mode and days (the bucket must have Object Lock). */
  readonly s3ObjectLockMode?: 'COMPLIANCE' | 'GOVERNANCE';
  readonly s3ObjectLockDays?: number;
  /** Names the log at the destinations (default `<hostname>-<log file name>`). */
  readonly logId?: string;
  /** Lines per batch, at most (default 1000). */
  readonly batchSize?: number;
  /** How often caught-up shippers look for new lines (ms, default 500). */
  readonly pollIntervalMs?: number;
  /** Longest wait between attempts to a destination that is down (ms, default 60 000). */
  readonly retryMaxMs?: number;
}

const KEYS = [
  'filesystemPath',
  'webhookUrl',
  'webhookSecret',
  'webhookTimeoutMs',
  's3Bucket',
  's3Prefix',
  's3Region',
  's3Endpoint',
  's3ObjectLockMode',
  's3ObjectLockDays',
  'logId',
  'batchSize',
  'pollIntervalMs',
  'retryMaxMs',
] as const;

const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * Checks the settings and builds the shippers (reading the webhook secret now, so a missing variable
 * fails at construction). Throws CONFIG_INVALID naming `where` and every problem.
 */
export function resolveAuditShippers(
  options: AuditShippersOptions,
  context: { where: string; baseDirectory: string; yaml: boolean },
): Omit<BackgroundShippingOptions, 'log'> {
  const name = (key: string) => (context.yaml ? `audit_shippers.${snake(key)}` : `auditShippers.${key}`);
  const problems: Issue[] = [];
  const fail = (): never => {
    throw new AgentSafeError('CONFIG_INVALID', `${context.where}: audit shippers settings are invalid`, {
      issues: problems.map((problem) => ({
        ...problem,
        ...(context.where === 'options' ? {} : { file: context.where }),
      })),
    });
  };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    problems.push({
      path: context.yaml ? 'audit_shippers' : 'auditShippers',
      message: 'expected a mapping (filesystem_path, webhook_url, s3_bucket …)',
    });
    fail();
  }
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      problems.push({
        path: name(key),
        message: `unknown setting; expected one of ${KEYS.map((known) => (context.yaml ? snake(known) : known)).join(', ')}`,
      });
    }
  }
  const text = (key: (typeof KEYS)[number]) => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      problems.push({
        path: name(key),
        message: `expected a non-empty string, got ${JSON.stringify(value)}`,
      });
      return undefined;
    }
    return value;
  };
  const integer = (key: (typeof KEYS)[number], minimum: number) => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      problems.push({
        path: name(key),
        message: `expected a whole number ≥ ${minimum}, got ${JSON.stringify(value)}`,
      });
      return undefined;
    }
    return value;
  };
  const filesystemPath = text('filesystemPath');
  const webhookUrl = text('webhookUrl');
  const webhookSecret = text('webhookSecret');
  const s3Bucket = text('s3Bucket');
  const s3Prefix = text('s3Prefix');
  const s3Region = text('s3Region');
  const s3Endpoint = text('s3Endpoint');
  const lockMode = text('s3ObjectLockMode');
  const lockDays = integer('s3ObjectLockDays', 1);
  const logId = text('logId');
  const webhookTimeoutMs = integer('webhookTimeoutMs', 1);
  const batchSize = integer('batchSize', 1);
  const pollIntervalMs = integer('pollIntervalMs', 1);
  const retryMaxMs = integer('retryMaxMs', 1);
  if (
    filesystemPath === undefined &&
    webhookUrl === undefined &&
    s3Bucket === undefined &&
    problems.length === 0
  ) {
    problems.push({
      path: context.yaml ? 'audit_shippers' : 'auditShippers',
      message: 'name at least one destination: filesystem_path, webhook_url or s3_bucket',
    });
  }
  if (webhookUrl !== undefined && webhookSecret === undefined) {
    problems.push({
      path: name('webhookSecret'),
      message: 'the webhook needs its HMAC secret: env:NAME or file:PATH',
    });
  }
  if (webhookSecret !== undefined && webhookUrl === undefined) {
    problems.push({ path: name('webhookUrl'), message: 'webhook_secret is set but webhook_url is not' });
  }
  if (lockMode !== undefined && lockMode !== 'COMPLIANCE' && lockMode !== 'GOVERNANCE') {
    problems.push({
      path: name('s3ObjectLockMode'),
      message: `expected COMPLIANCE or GOVERNANCE, got "${lockMode}"`,
    });
  }
  if ((lockMode === undefined) !== (lockDays === undefined)) {
    problems.push({
      path: name(lockMode === undefined ? 's3ObjectLockMode' : 's3ObjectLockDays'),
      message: 'Object Lock needs both a mode (COMPLIANCE or GOVERNANCE) and days',
    });
  }
  if ((s3Prefix ?? s3Region ?? s3Endpoint ?? lockMode) !== undefined && s3Bucket === undefined) {
    problems.push({ path: name('s3Bucket'), message: 'the s3_* settings need s3_bucket' });
  }
  if (problems.length > 0) fail();
  const shippers: ShipperSpec[] = [];
  const spec = <Kind extends ShipperSpec['kind']>(
    kind: Kind,
    options: Extract<ShipperSpec, { kind: Kind }>['options'],
  ) => ({ kind, options }) as ShipperSpec;
  try {
    if (filesystemPath !== undefined) {
      shippers.push(
        spec('filesystem', {
          directory: isAbsolute(filesystemPath)
            ? filesystemPath
            : resolve(context.baseDirectory, filesystemPath),
        }),
      );
    }
    if (webhookUrl !== undefined) {
      shippers.push(
        spec('webhook', {
          url: webhookUrl,
          secret: readSecret(webhookSecret!, name('webhookSecret'), context.baseDirectory),
          ...(webhookTimeoutMs === undefined ? {} : { timeoutMs: webhookTimeoutMs }),
        }),
      );
    }
    if (s3Bucket !== undefined) {
      shippers.push(
        spec('s3', {
          bucket: s3Bucket,
          ...(s3Prefix === undefined ? {} : { prefix: s3Prefix }),
          ...(s3Region === undefined ? {} : { region: s3Region }),
          ...(s3Endpoint === undefined ? {} : { endpoint: s3Endpoint }),
          ...(lockMode === undefined || lockDays === undefined
            ? {}
            : { objectLock: { mode: lockMode as 'COMPLIANCE' | 'GOVERNANCE', days: lockDays } }),
        }),
      );
    }
    // Each shipper checks its own settings (URL scheme, secret length, bucket name) when built.
    for (const described of shippers) shipperFromSpec(described);
  } catch (error) {
    if (!(error instanceof AgentSafeError)) throw error;
    problems.push(
      ...(error.issues.length > 0
        ? error.issues.map((issue) => ({
            path: issue.path ?? 'auditShippers',
            message: `${error.message}: ${issue.message}`,
          }))
        : [{ path: 'auditShippers', message: error.message }]),
    );
    fail();
  }
  return {
    shippers,
    ...(logId === undefined ? {} : { logId }),
    ...(batchSize === undefined ? {} : { maxBatchEvents: batchSize }),
    ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
    ...(retryMaxMs === undefined ? {} : { retryMaxMs }),
  };
}

/** `env:NAME` or `file:PATH` (bounded, trimmed); the value is never put in an error. */
function readSecret(source: string, setting: string, baseDirectory: string): string {
  if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(source)) {
    const variable = source.slice(4);
    const value = process.env[variable]?.trim();
    if (!value) {
      throw new AgentSafeError('CONFIG_INVALID', `${setting}: environment variable ${variable} is not set`, {
        issues: [
          {
            path: setting,
            message: `export ${variable}=… (e.g. $(openssl rand -base64 48)) before starting`,
          },
        ],
      });
    }
    return value;
  }
  if (source.startsWith('file:') && source.length > 5) {
    const path = source.slice(5);
    return readTextFileSync(
      isAbsolute(path) ? path : resolve(baseDirectory, path),
      setting,
      64 * 1024,
    ).trim();
  }
  throw new AgentSafeError('CONFIG_INVALID', `${setting}: expected env:NAME or file:PATH`, {
    issues: [
      {
        path: setting,
        message: 'never put the secret itself in the configuration; e.g. env:AGENT_SAFE_SHIP_SECRET',
      },
    ],
  });
}

/**
 * For `agent-safe validate`: the `audit_shippers` of a loaded agent-safe.yaml, checked as `check` would
 * (a secret's variable unset, a bad URL or bucket): one `ok` line naming the destinations, or an
 * `error` line per problem.
 */
export function checkAuditShippers(config: {
  readonly auditShippers?: AuditShippersOptions;
  readonly file?: string;
}): { severity: 'ok' | 'error'; message: string; detail?: string; file?: string; path?: string }[] {
  if (config.auditShippers === undefined) return [];
  const where = config.file ?? 'agent-safe.yaml';
  try {
    const { shippers } = resolveAuditShippers(config.auditShippers, {
      where,
      yaml: true,
      baseDirectory: config.file ? dirname(config.file) : process.cwd(),
    });
    return [{ severity: 'ok', message: `ships to ${shippers.map((spec) => spec.kind).join(', ')}` }];
  } catch (error) {
    const issues = error instanceof AgentSafeError && error.issues.length > 0 ? error.issues : undefined;
    if (!issues) return [{ severity: 'error', message: (error as Error).message }];
    return issues.map((issue) => ({
      severity: 'error' as const,
      message: `${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
      detail: issue.message,
      ...(config.file ? { file: config.file } : {}),
      ...(issue.path ? { path: issue.path } : {}),
    }));
  }
}
