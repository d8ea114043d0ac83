import { createHmac, timingSafeEqual } from 'node:crypto';
import { AgentSafeError } from '@agent-safe/core';
import { type ShipBatch, batchHeader } from './ship-batch.js';
import { ShipError, type Shipper, errorMessage } from './shipper.js';
import { checkShipperName } from './ship-state.js';

/** Options of {@link WebhookShipper}. */
export interface WebhookShipperOptions {
  /** https:// URL (http:// only for loopback receivers, e.g. in tests). */
  readonly url: string;
  /** HMAC-SHA256 key, at least 32 bytes; the receiver checks `X-Agent-Safe-Signature` with it. */
  readonly secret: string | Uint8Array;
  /** Per request. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** State file suffix. Default `webhook`. */
  readonly name?: string;
}

const MIN_SECRET_BYTES = 32;
export const SIGNATURE_HEADER = 'x-agent-safe-signature';
export const TIMESTAMP_HEADER = 'x-agent-safe-timestamp';

/**
 * POSTs each batch as newline-delimited JSON (`application/x-ndjson`): the first line is the batch
 * header (see batchHeader), the following lines are the log's lines exactly as stored, so a receiver
 * appends them as they are (no re-encoding, and nothing to escape on either side). Signed like the
 * approval webhooks: `X-Agent-Safe-Timestamp` (Unix seconds) and
 * `X-Agent-Safe-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` over the raw body bytes. A 2xx
 * acknowledges the batch; 408, 429 and 5xx are retried; any other status is a refusal.
 */
export class WebhookShipper implements Shipper {
  readonly name: string;
  readonly destination: string;
  readonly #url: string;
  readonly #secret: Uint8Array;
  readonly #timeoutMs: number;
  readonly #bodies = new WeakMap<ShipBatch, Buffer>();

  constructor(options: WebhookShipperOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new AgentSafeError('CONFIG_INVALID', 'webhook shipper: url is not a URL', {
        issues: [{ path: 'webhookUrl', message: 'give an https URL, e.g. https://audit.example.com/ingest' }],
      });
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `webhook shipper: url must be https:// (got ${url.protocol})`,
        {
          issues: [
            {
              path: 'webhookUrl',
              message: 'audit batches travel over TLS; http:// is accepted only for 127.0.0.1/localhost',
            },
          ],
        },
      );
    }
    if (url.username || url.password) {
      throw new AgentSafeError('CONFIG_INVALID', 'webhook shipper: url must not contain credentials', {
        issues: [
          { path: 'webhookUrl', message: 'authenticate with the HMAC secret (webhookSecret) instead' },
        ],
      });
    }
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (!(secret instanceof Uint8Array) || secret.byteLength < MIN_SECRET_BYTES) {
      throw new AgentSafeError(
        'KEY_INVALID',
        `webhook shipper: the signing secret must be at least ${MIN_SECRET_BYTES} bytes`,
        {
          issues: [{ path: 'webhookSecret', message: 'generate one with: openssl rand -base64 48' }],
        },
      );
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1) {
      throw new AgentSafeError('CONFIG_INVALID', 'webhook shipper: timeoutMs must be a positive number', {
        issues: [{ path: 'webhookTimeoutMs', message: `got ${String(timeoutMs)}` }],
      });
    }
    this.name = options.name ?? 'webhook';
    checkShipperName(this.name);
    this.#url = url.toString();
    this.destination = `${url.origin}${url.pathname}`;
    this.#secret = secret;
    this.#timeoutMs = timeoutMs;
  }

  async send(batch: ShipBatch, signal: AbortSignal): Promise<void> {
    // A retried batch is the same object: its body is built once.
    let body = this.#bodies.get(batch);
    if (body === undefined) {
      // No sha256 in the header: the HMAC over the whole body already covers every byte.
      body = Buffer.concat([
        Buffer.from(`${JSON.stringify(batchHeader(batch, { sha256: false }))}\n`),
        batch.lines,
      ]);
      this.#bodies.set(batch, body);
    }
    const timestamp = String(Math.floor(Date.now() / 1000));
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-ndjson',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signShipment(this.#secret, timestamp, body),
          'x-agent-safe-log-id': batch.logId,
          'x-agent-safe-sequence-range': `${batch.firstSequence}-${batch.lastSequence}`,
        },
        body,
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), signal]),
      });
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError';
      throw new ShipError(
        this.name,
        timedOut
          ? `no answer from ${this.destination} within ${this.#timeoutMs} ms`
          : `POST ${this.destination} failed: ${errorMessage(error)}`,
        { retryable: true, cause: error },
      );
    }
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return;
    const status = response.status;
    const retryable = status === 408 || status === 429 || status >= 500;
    throw new ShipError(
      this.name,
      `${this.destination} answered HTTP ${status}${retryable ? '' : ' (not retried: fix the receiver or the secret)'}`,
      {
        retryable,
      },
    );
  }
}

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what the receiver recomputes. */
export function signShipment(
  secret: Uint8Array | string,
  timestamp: string,
  body: string | Uint8Array,
): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * For receivers: true when `signature` is the shipper's signature of `body` at `timestamp` and the
 * timestamp is within `toleranceSeconds` (default 300) of now, so a captured delivery cannot be
 * replayed later. Compares in constant time.
 */
export function verifyShipment(options: {
  secret: Uint8Array | string;
  timestamp: string | undefined;
  signature: string | undefined;
  /** The raw request body (bytes, or the same bytes decoded as UTF-8). */
  body: string | Uint8Array;
  toleranceSeconds?: number;
  now?: number;
}): boolean {
  const { timestamp, signature } = options;
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp) || typeof signature !== 'string')
    return false;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signShipment(options.secret, timestamp, options.body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
