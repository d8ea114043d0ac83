import type { AuditSink } from '@agent-safe/core';
import { AuditLog, type BackgroundShipping, shippingStatus } from '@agent-safe/audit';

/** One shipper's distance behind the audit log (see {@link OperationalStatistics}). */
export interface ShipperLag {
  /** The shipper's name (its state file `<log>.ship-<name>.json`). */
  readonly shipper: string;
  /** Events in the log the destination has not acknowledged. */
  readonly lagEvents: number;
  /**
   * 0 when caught up; else seconds since the shipper last delivered a batch (since shipping started
   * when it never has): how stale the copy off the box is.
   */
  readonly lagSeconds: number;
  /** Failed attempts in a row (0 after a success). */
  readonly consecutiveFailures: number;
}

/** What `AgentSafe.operationalStatistics()` reports, for metrics. */
export interface OperationalStatistics {
  /** The audit log writer's backlog, once the log is open and when it is a file. */
  readonly audit?: {
    /** Appends waiting for their write (queued, or in the batch being written). */
    readonly queuedEvents: number;
    /** Seconds the last batch took to write (and sync). */
    readonly lastBatchSeconds: number;
    /** Batches that failed to be written (each rejected every append in it). */
    readonly failedBatches: number;
  };
  /** Checks whose guard store failed (answered DENY), since this facade was made. */
  readonly guardStoreErrors: number;
  /** One entry per configured shipper; empty without shipping, before it starts, or when unreadable. */
  readonly shippers: readonly ShipperLag[];
}

/** What {@link operationalStatistics} reads from the facade. */
export interface OperationalSources {
  readonly audit: Promise<AuditSink> | undefined;
  readonly shipping: BackgroundShipping | undefined;
  readonly guardStoreErrors: number;
  readonly now?: number;
}

/**
 * Gathers the audit backlog, guard-store failures and shipper lag. Off the hot path: it reads counters
 * the writers keep anyway, and the shippers' state files (small JSON) and the log's last line.
 */
export async function operationalStatistics(sources: OperationalSources): Promise<OperationalStatistics> {
  const sink = sources.audit === undefined ? undefined : await sources.audit.catch(() => undefined);
  const audit =
    sink instanceof AuditLog
      ? {
          queuedEvents: sink.backlog.events,
          lastBatchSeconds: sink.backlog.lastBatchSeconds,
          failedBatches: sink.stats.failedBatches,
        }
      : undefined;
  const shipping = sources.shipping;
  let shippers: ShipperLag[] = [];
  if (shipping !== undefined && shipping.startedAt !== undefined) {
    const now = sources.now ?? Date.now();
    const startedAt = shipping.startedAt;
    try {
      shippers = (await shippingStatus(shipping.log, shipping.shipperNames)).map((status) => {
        const since = status.lastSuccessAt === null ? startedAt : Date.parse(status.lastSuccessAt);
        return {
          shipper: status.shipper,
          lagEvents: status.lag,
          lagSeconds: status.lag === 0 ? 0 : Math.max(0, (now - since) / 1000),
          consecutiveFailures: status.consecutiveFailures,
        };
      });
    } catch {
      // The log or a state file cannot be read right now: no figure rather than a wrong one.
      shippers = [];
    }
  }
  return { ...(audit ? { audit } : {}), guardStoreErrors: sources.guardStoreErrors, shippers };
}
