import { AgentSafeError } from '@agent-safe/core';
import { type ShipBatch, batchFileName, sha256OfBytes } from './ship-batch.js';
import { ShipError, type Shipper, errorMessage } from './shipper.js';
import { checkShipperName } from './ship-state.js';

/** Options of {@link S3Shipper}. Credentials come from the AWS SDK's usual chain (env, profile, role). */
export interface S3ShipperOptions {
  readonly bucket: string;
  /** Key prefix, e.g. `audit/prod`; objects are `<prefix>/<logId>/<first>-<last>.jsonl`. */
  readonly prefix?: string;
  readonly region?: string;
  /** Another S3 API (MinIO, moto, a VPC endpoint); path-style addressing is used with it. */
  readonly endpoint?: string;
  /**
   * Object Lock retention set on each object: `{ mode: 'COMPLIANCE' | 'GOVERNANCE', days }`. The
   * bucket must have been created with Object Lock. Without it, a bucket's default retention (if
   * configured) still applies to every object.
   */
  readonly objectLock?: { readonly mode: 'COMPLIANCE' | 'GOVERNANCE'; readonly days: number };
  /** State file suffix. Default `s3`. */
  readonly name?: string;
  /** Per request. Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** For tests: a ready client with `send(command)`. */
  readonly client?: unknown;
}

type S3Module = typeof import('@aws-sdk/client-s3');

const PACKAGE = '@aws-sdk/client-s3';
let s3Module: Promise<S3Module> | undefined;

/** Loads the AWS S3 client on first use; an error naming the package when it is not installed. */
export function loadS3Module(
  load: () => Promise<S3Module> = () => import(PACKAGE as '@aws-sdk/client-s3'),
): Promise<S3Module> {
  s3Module ??= load().catch((error: unknown) => {
    s3Module = undefined;
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `the S3 shipper needs ${PACKAGE}: install it where Agent-Safe is installed (npm install ${PACKAGE}; for a global agent-safe CLI, npm install -g ${PACKAGE})`,
      { cause: error, issues: [{ path: 's3Bucket', message: `npm install ${PACKAGE}` }] },
    );
  });
  return s3Module;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Puts one object per batch, named by its sequence range, with the batch's SHA-256 as the object's
 * `ChecksumSHA256` (S3 rejects a body that does not match it) and the batch header as user metadata.
 * With `objectLock`, each object is retained (COMPLIANCE: nobody, not even the account root, can delete
 * or overwrite it before the date).
 */
export class S3Shipper implements Shipper {
  readonly name: string;
  readonly destination: string;
  readonly #options: S3ShipperOptions;
  readonly #prefix: string;
  #client:
    | Promise<{ send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> }>
    | undefined;

  constructor(options: S3ShipperOptions) {
    if (typeof options.bucket !== 'string' || !BUCKET.test(options.bucket)) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `S3 shipper: bucket ${JSON.stringify(options.bucket)} is not a bucket name`,
        {
          issues: [{ path: 's3Bucket', message: '3-63 lowercase letters, digits, dots and dashes' }],
        },
      );
    }
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (
      prefix.length > 512 ||
      [...prefix].some((character) => character < ' ' || character === '\\') ||
      /(^|\/)\.\.?(\/|$)/.test(prefix)
    ) {
      throw new AgentSafeError('CONFIG_INVALID', 'S3 shipper: prefix is not a usable key prefix', {
        issues: [
          {
            path: 's3Prefix',
            message: 'e.g. audit/prod (no control characters, backslashes or . / .. segments)',
          },
        ],
      });
    }
    if (options.endpoint !== undefined) {
      try {
        new URL(options.endpoint);
      } catch {
        throw new AgentSafeError('CONFIG_INVALID', 'S3 shipper: endpoint is not a URL', {
          issues: [{ path: 's3Endpoint', message: 'e.g. http://127.0.0.1:5055' }],
        });
      }
    }
    const lock = options.objectLock;
    if (lock !== undefined) {
      if (
        (lock.mode !== 'COMPLIANCE' && lock.mode !== 'GOVERNANCE') ||
        !Number.isInteger(lock.days) ||
        lock.days < 1 ||
        lock.days > 36_500
      ) {
        throw new AgentSafeError(
          'CONFIG_INVALID',
          'S3 shipper: objectLock needs mode COMPLIANCE or GOVERNANCE and whole days (1-36500)',
          {
            issues: [{ path: 's3ObjectLock', message: "e.g. { mode: 'COMPLIANCE', days: 365 }" }],
          },
        );
      }
    }
    this.name = options.name ?? 's3';
    checkShipperName(this.name);
    this.#options = options;
    this.#prefix = prefix;
    this.destination = `s3://${options.bucket}/${prefix}${options.endpoint ? ` (${options.endpoint})` : ''}`;
  }

  /** The object key of a batch. */
  key(batch: Pick<ShipBatch, 'logId' | 'firstSequence' | 'lastSequence'>): string {
    return `${this.#prefix ? `${this.#prefix}/` : ''}${batch.logId}/${batchFileName(batch)}`;
  }

  #clientFor() {
    this.#client ??= (async () => {
      if (this.#options.client) return this.#options.client as never;
      const { S3Client } = await loadS3Module();
      return new S3Client({
        ...(this.#options.region ? { region: this.#options.region } : {}),
        ...(this.#options.endpoint ? { endpoint: this.#options.endpoint, forcePathStyle: true } : {}),
        maxAttempts: 1,
      }) as never;
    })();
    this.#client.catch(() => {
      this.#client = undefined;
    });
    return this.#client;
  }

  async send(batch: ShipBatch, signal: AbortSignal): Promise<void> {
    const client = await this.#clientFor();
    const { PutObjectCommand } = await loadS3Module();
    const checkpoint = batch.checkpoint == null ? undefined : JSON.stringify(batch.checkpoint);
    const lock = this.#options.objectLock;
    const command = new PutObjectCommand({
      Bucket: this.#options.bucket,
      Key: this.key(batch),
      Body: batch.lines,
      ContentType: 'application/x-ndjson',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256OfBytes(batch.lines, 'base64'),
      Metadata: {
        'log-id': batch.logId,
        'first-sequence': String(batch.firstSequence),
        'last-sequence': String(batch.lastSequence),
        'first-prev-hash': batch.firstPrevHash,
        'last-hash': batch.lastHash,
        'line-count': String(batch.lineCount),
        'byte-offset': String(batch.byteOffset),
        // User metadata is limited to 2 KB in all: a larger checkpoint is left to the receiver's next batch.
        ...(checkpoint !== undefined && checkpoint.length <= 1024 && /^[\x20-\x7e]*$/.test(checkpoint)
          ? { checkpoint }
          : {}),
      },
      ...(lock
        ? {
            ObjectLockMode: lock.mode,
            ObjectLockRetainUntilDate: new Date(Date.now() + lock.days * 86_400_000),
          }
        : {}),
    });
    try {
      await client.send(command, {
        abortSignal: AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs ?? 30_000), signal]),
      });
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = (error as Error)?.name ?? '';
      const retryable =
        status === undefined ||
        status === 408 ||
        status === 429 ||
        status >= 500 ||
        name === 'RequestTimeout';
      throw new ShipError(
        this.name,
        `PutObject s3://${this.#options.bucket}/${this.key(batch)} failed: ${name && name !== 'Error' ? `${name}: ` : ''}${errorMessage(error)}${status ? ` (HTTP ${status})` : ''}`,
        { retryable, cause: error },
      );
    }
  }

  async close(): Promise<void> {
    const client = await this.#client?.catch(() => undefined);
    (client as { destroy?: () => void } | undefined)?.destroy?.();
  }
}
