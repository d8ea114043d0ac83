import type { OperationalStatistics } from '@agent-safe/sdk';

/**
 * The audit queue, guard-store failures and shipper lag in the Prometheus text format (docs/server.md,
 * "Metrics"), from `AgentSafe.operationalStatistics()`: read when /metrics is scraped, never on a check.
 */
export function renderOperationalMetrics(statistics: OperationalStatistics): string {
  const lines: string[] = [];
  const audit = statistics.audit;
  if (audit !== undefined) {
    lines.push(
      '# HELP agent_safe_audit_queue_events Audit events waiting to be written (queued, or in the batch being written).',
      '# TYPE agent_safe_audit_queue_events gauge',
      `agent_safe_audit_queue_events ${audit.queuedEvents}`,
      '# HELP agent_safe_audit_last_batch_seconds Time the last audit batch took to write and sync.',
      '# TYPE agent_safe_audit_last_batch_seconds gauge',
      `agent_safe_audit_last_batch_seconds ${audit.lastBatchSeconds}`,
      '# HELP agent_safe_audit_failed_batches_total Audit batches that could not be written (their checks failed).',
      '# TYPE agent_safe_audit_failed_batches_total counter',
      `agent_safe_audit_failed_batches_total ${audit.failedBatches}`,
    );
  }
  lines.push(
    '# HELP agent_safe_guard_store_errors_total Checks answered DENY because the guard store (rate limit, breaker, cumulative risk) failed.',
    '# TYPE agent_safe_guard_store_errors_total counter',
    `agent_safe_guard_store_errors_total ${statistics.guardStoreErrors}`,
  );
  if (statistics.shippers.length > 0) {
    lines.push(
      '# HELP agent_safe_audit_shipper_lag_events Audit events the shipper has not delivered yet.',
      '# TYPE agent_safe_audit_shipper_lag_events gauge',
      ...statistics.shippers.map(
        (lag) => `agent_safe_audit_shipper_lag_events{shipper="${lag.shipper}"} ${lag.lagEvents}`,
      ),
      '# HELP agent_safe_audit_shipper_lag_seconds 0 when caught up, else seconds since the shipper last delivered a batch.',
      '# TYPE agent_safe_audit_shipper_lag_seconds gauge',
      ...statistics.shippers.map(
        (lag) => `agent_safe_audit_shipper_lag_seconds{shipper="${lag.shipper}"} ${lag.lagSeconds}`,
      ),
      '# HELP agent_safe_audit_shipper_consecutive_failures Failed delivery attempts in a row.',
      '# TYPE agent_safe_audit_shipper_consecutive_failures gauge',
      ...statistics.shippers.map(
        (lag) =>
          `agent_safe_audit_shipper_consecutive_failures{shipper="${lag.shipper}"} ${lag.consecutiveFailures}`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}
