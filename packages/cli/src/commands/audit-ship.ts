import { Command, Option } from 'clipanion';
import type { ShipperStatus, ShipProgress, ShipRunResult } from '@agent-safe/sdk';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { printable } from '../output.js';

const BACKENDS = ['filesystem', 'webhook', 's3'] as const;
type Backend = (typeof BACKENDS)[number];

export class AuditShipCommand extends BaseCommand {
  static override paths = [['audit', 'ship']];
  static override usage = Command.Usage({
    description: 'Ship the audit log off the box (filesystem, webhook or S3), or show shipping status',
    details: `
      Sends every line of the log after the last one the destination acknowledged, in batches named by
      sequence range, and records the acknowledgement in \`<log>.ship-<name>.json\` beside the log: run it
      again (from cron, or after a failure) and it resumes where it stopped. Delivery is at least once: after
      a crash a batch may arrive twice, never not at all. The webhook secret is read from \`env:NAME\` or
      \`file:PATH\`, never given on the command line. S3 credentials come from the AWS SDK's usual chain
      (AWS_ACCESS_KEY_ID …, a profile, a role); the S3 backend needs \`@aws-sdk/client-s3\` installed.

      \`--status\` prints each shipper's acknowledged sequence, the log's head, the lag, the failure count and
      the last error, from the state files beside the log.

      Exit codes: 0 shipped (or already up to date; for \`--status\`, status printed), 1 an error (a failed or
      refused delivery after its retries, bad options, an unreadable log, another process shipping).
    `,
    examples: [
      ['Copy to another disk', '$0 audit ship ./audit.jsonl --backend filesystem --path /mnt/audit-copy'],
      [
        'POST to a webhook',
        '$0 audit ship ./audit.jsonl --backend webhook --url https://audit.example.com/ingest --secret-source env:AGENT_SAFE_SHIP_SECRET',
      ],
      [
        'Put to S3',
        '$0 audit ship ./audit.jsonl --backend s3 --bucket audit-archive --prefix prod --region eu-west-1',
      ],
      ['Show progress of every shipper', '$0 audit ship ./audit.jsonl --status'],
    ],
  });

  log = Option.String({ name: 'log' });
  backend = Option.String('--backend', { description: 'filesystem, webhook or s3' });
  directory = Option.String('--path', { description: 'filesystem: the directory to copy batches into' });
  url = Option.String('--url', { description: 'webhook: the https:// URL to POST batches to' });
  secretSource = Option.String('--secret-source', {
    description: 'webhook: the HMAC secret as env:NAME or file:PATH',
  });
  bucket = Option.String('--bucket', { description: 's3: the bucket' });
  prefix = Option.String('--prefix', {
    description: 's3: the key prefix (objects: <prefix>/<log-id>/<first>-<last>.jsonl)',
  });
  region = Option.String('--region', { description: 's3: the region (default from the AWS environment)' });
  endpoint = Option.String('--endpoint', { description: 's3: another S3 API endpoint (MinIO, moto)' });
  objectLockDays = Option.String('--object-lock-days', {
    description: 's3: retain each object this many days with Object Lock (bucket created with Object Lock)',
  });
  objectLockMode = Option.String('--object-lock-mode', {
    description: 's3: COMPLIANCE (default) or GOVERNANCE',
  });
  name = Option.String('--name', {
    description: 'Names the shipper and its state file <log>.ship-<name>.json (default: the backend)',
  });
  logId = Option.String('--log-id', {
    description: 'Names the log at the destination (default <hostname>-<log file name>)',
  });
  batchSize = Option.String('--batch-size', { description: 'Lines per batch, at most (default 1000)' });
  maxAttempts = Option.String('--max-attempts', {
    description: 'Attempts per batch on retryable failures (default 5)',
  });
  status = Option.Boolean('--status', false, {
    description: 'Show each shipper of the log instead of shipping',
  });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print the result as JSON' });

  async run(): Promise<number> {
    const sdk = await import('@agent-safe/sdk');
    const { AgentSafeError } = sdk;
    const usage = (message: string, path: string, fix: string) =>
      new AgentSafeError('USAGE', message, { issues: [{ path, message: fix }] });
    if (this.status) {
      const names = this.name === undefined ? undefined : [this.name];
      const statuses = await sdk.shippingStatus(this.log, names);
      if (this.jsonOutput) return this.printEnvelope(EXIT.OK, { log: this.log, shippers: statuses });
      this.#printStatus(statuses);
      return EXIT.OK;
    }
    if (this.backend === undefined) {
      throw usage('audit ship needs --backend (or --status)', '--backend', `one of ${BACKENDS.join(', ')}`);
    }
    if (!BACKENDS.includes(this.backend as Backend)) {
      throw usage(
        `unknown --backend "${printable(this.backend)}"`,
        '--backend',
        `one of ${BACKENDS.join(', ')}`,
      );
    }
    const backend = this.backend as Backend;
    const integer = (value: string | undefined, option: string, minimum: number) => {
      if (value === undefined) return undefined;
      const number = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < minimum) {
        throw usage(
          `${option} must be a whole number ≥ ${minimum}, got "${printable(value)}"`,
          option,
          `e.g. ${option} 100`,
        );
      }
      return number;
    };
    const options: Record<string, [string | undefined, readonly Backend[]]> = {
      '--path': [this.directory, ['filesystem']],
      '--url': [this.url, ['webhook']],
      '--secret-source': [this.secretSource, ['webhook']],
      '--bucket': [this.bucket, ['s3']],
      '--prefix': [this.prefix, ['s3']],
      '--region': [this.region, ['s3']],
      '--endpoint': [this.endpoint, ['s3']],
      '--object-lock-days': [this.objectLockDays, ['s3']],
      '--object-lock-mode': [this.objectLockMode, ['s3']],
    };
    for (const [option, [value, backends]] of Object.entries(options)) {
      if (value !== undefined && !backends.includes(backend)) {
        throw usage(
          `${option} does not apply to --backend ${backend}`,
          option,
          `it belongs to --backend ${backends[0]}`,
        );
      }
    }
    const name = this.name === undefined ? {} : { name: this.name };
    let shipper: InstanceType<
      typeof sdk.FilesystemShipper | typeof sdk.WebhookShipper | typeof sdk.S3Shipper
    >;
    if (backend === 'filesystem') {
      if (!this.directory)
        throw usage('--backend filesystem needs --path', '--path', 'the directory to copy batches into');
      shipper = new sdk.FilesystemShipper({ directory: this.directory, ...name });
    } else if (backend === 'webhook') {
      if (!this.url)
        throw usage('--backend webhook needs --url', '--url', 'e.g. --url https://audit.example.com/ingest');
      if (!this.secretSource) {
        throw usage(
          '--backend webhook needs --secret-source',
          '--secret-source',
          'the HMAC secret as env:NAME or file:PATH',
        );
      }
      const secret = await sdk.readSecretSource(this.secretSource, '--secret-source');
      shipper = new sdk.WebhookShipper({ url: this.url, secret, ...name });
    } else {
      if (!this.bucket) throw usage('--backend s3 needs --bucket', '--bucket', 'e.g. --bucket audit-archive');
      const days = integer(this.objectLockDays, '--object-lock-days', 1);
      const mode = this.objectLockMode ?? 'COMPLIANCE';
      if (mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE') {
        throw usage(
          `--object-lock-mode must be COMPLIANCE or GOVERNANCE, got "${printable(mode)}"`,
          '--object-lock-mode',
          'COMPLIANCE',
        );
      }
      if (this.objectLockMode !== undefined && days === undefined) {
        throw usage(
          '--object-lock-mode needs --object-lock-days',
          '--object-lock-days',
          'e.g. --object-lock-days 365',
        );
      }
      shipper = new sdk.S3Shipper({
        bucket: this.bucket,
        ...(this.prefix !== undefined ? { prefix: this.prefix } : {}),
        ...(this.region !== undefined ? { region: this.region } : {}),
        ...(this.endpoint !== undefined ? { endpoint: this.endpoint } : {}),
        ...(days !== undefined ? { objectLock: { mode, days } } : {}),
        ...name,
      });
      // JSON mode keeps stderr to one summary line: the AWS SDK's multi-line Node-version notice (on Node
      // 20) is silenced there, unless the caller set the variable either way.
      if (this.jsonOutput) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      await sdk.loadS3Module();
    }
    const batchSize = integer(this.batchSize, '--batch-size', 1);
    const maxAttempts = integer(this.maxAttempts, '--max-attempts', 1);
    const shipping = new sdk.AuditShipping({
      log: this.log,
      shippers: [shipper],
      ...(this.logId !== undefined ? { logId: this.logId } : {}),
      ...(batchSize !== undefined ? { maxBatchEvents: batchSize } : {}),
    });
    const bar = !this.jsonOutput && (this.context.stderr as { isTTY?: boolean }).isTTY === true;
    const [result] = await shipping.shipOnce({
      ...(maxAttempts !== undefined ? { maxAttempts } : {}),
      ...(bar ? { onProgress: (progress: ShipProgress) => this.#progress(progress) } : {}),
    });
    if (bar) this.context.stderr.write('\r\u001b[K');
    return this.#report(result!);
  }

  #progress(progress: ShipProgress): void {
    const width = 30;
    const fraction = progress.bytesTotal === 0 ? 1 : Math.min(1, progress.bytesShipped / progress.bytesTotal);
    const filled = Math.round(fraction * width);
    this.context.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% sequence ${progress.acknowledgedSequence}/${progress.headSequence}`,
    );
  }

  #report(result: ShipRunResult): number {
    const exitCode = result.ok ? EXIT.OK : EXIT.ERROR;
    if (this.jsonOutput) {
      const { error, ...data } = result;
      return this.printEnvelope(
        exitCode,
        data,
        error ? [{ code: error.code, message: error.message, path: '--backend' }] : [],
      );
    }
    const style = this.out;
    if (result.warning) this.context.stderr.write(`${this.err.yellow('!')} ${printable(result.warning)}\n`);
    if (!result.ok) {
      this.context.stderr.write(
        `${this.err.red('error')} ${this.err.dim(`[${result.error?.code ?? 'INTERNAL'}]`)} ${printable(result.error?.message ?? 'shipping failed')}\n`,
      );
      this.print(
        `${style.red('✗')} ${result.shipper}: acknowledged up to sequence ${result.acknowledgedSequence} of ${result.headSequence}; run the same command again to resume`,
      );
      return exitCode;
    }
    this.print(
      result.lines === 0
        ? `${style.green('✓')} ${result.shipper}: up to date (sequence ${result.acknowledgedSequence}) at ${printable(result.destination)}`
        : `${style.green('✓')} ${result.shipper}: shipped ${result.lines} lines in ${result.batches} batch(es) to ${printable(result.destination)}; acknowledged up to sequence ${result.acknowledgedSequence}`,
    );
    return exitCode;
  }

  #printStatus(statuses: readonly ShipperStatus[]): void {
    const style = this.out;
    if (statuses.length === 0) {
      this.print(
        style.dim(
          `no shipper has shipped ${printable(this.log)} yet (no ${printable(this.log)}.ship-*.json)`,
        ),
      );
      return;
    }
    for (const status of statuses) {
      const healthy = status.consecutiveFailures === 0;
      this.print(
        `${healthy ? style.green('✓') : style.red('✗')} ${style.bold(status.shipper)} ${style.dim(printable(status.destination))}`,
      );
      this.print(
        `    acknowledged ${status.acknowledgedSequence}  head ${status.headSequence}  lag ${status.lag}  batches ${status.batchesShipped}  failures ${status.failures}${status.consecutiveFailures ? ` (${status.consecutiveFailures} in a row)` : ''}`,
      );
      if (status.lastSuccessAt) this.print(`    ${style.dim('last success')} ${status.lastSuccessAt}`);
      if (status.lastError) {
        this.print(
          `    ${style.dim('last error')} ${printable(status.lastErrorAt ?? '')} ${printable(status.lastError)}`,
        );
      }
      if (status.warning) this.print(`    ${style.yellow('warning')} ${printable(status.warning)}`);
      if (status.shippingProcess) {
        this.print(
          `    ${style.dim('shipping now')} pid ${status.shippingProcess.pid} on ${printable(status.shippingProcess.host)}`,
        );
      }
    }
  }
}
