import { AgentSafeError } from '@agent-safe/core';
import type { ShipBatch } from './ship-batch.js';

/**
 * A destination for batches of the audit log. `send` resolves once the destination has the batch
 * (durably, as far as it can tell) and rejects otherwise; a rejection marked not retryable (a 4xx, a
 * refused write) is retried only after the longest backoff, since repeating it at once will not help.
 */
export interface Shipper {
  /** Names the shipper's state file `<log>.ship-<name>.json`: 1-40 of [a-z0-9-]. */
  readonly name: string;
  /** Where batches go, for status output; never contains a secret. */
  readonly destination: string;
  send(batch: ShipBatch, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** A failed delivery. */
export class ShipError extends AgentSafeError {
  /** False when retrying the same batch at once cannot help (e.g. HTTP 400, 401, 403). */
  readonly retryable: boolean;

  constructor(shipper: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super('AUDIT_WRITE_FAILED', `${shipper} shipper: ${message}`, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { shipper, retryable: options.retryable },
    });
    this.retryable = options.retryable;
  }
}

/** The message of any thrown value, one line, bounded. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${text}${cause && !text.includes(cause.slice(2)) ? cause : ''}`.replace(/\s+/g, ' ').slice(0, 500);
}
