import { type ApprovalListFilter, type ApprovalRecord, AgentSafeError } from '@agent-safe/core';

/** Most records {@link ApprovalStore.list} returns. */
export const MAX_LIST_LIMIT = 10_000;

/** Pending, approved or used (its ticket may still be collected): a retry joins it. */
export function isOpen(record: ApprovalRecord): boolean {
  return record.status === 'pending' || record.status === 'approved' || record.status === 'used';
}

/** Applies a list filter: by status, newest first, at most `limit`. */
export function listFilter(records: ApprovalRecord[], filter: ApprovalListFilter): ApprovalRecord[] {
  const limit = filter.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new AgentSafeError('USAGE', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  return records
    .filter((record) => filter.status === undefined || record.status === filter.status)
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1))
    .slice(0, limit);
}

/**
 * Resolves when `subscribe`'s wake is called, the timeout passes or the signal aborts, whichever is
 * first; always unsubscribes.
 */
export function waitWithTimeout(
  options: { timeoutMs: number; signal?: AbortSignal },
  subscribe: (wake: () => void) => () => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    if (options.signal?.aborted) return resolve();
    let unsubscribe: (() => void) | undefined;
    const finish = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', finish);
      unsubscribe?.();
      resolve();
    };
    const timer = setTimeout(finish, Math.max(0, options.timeoutMs));
    options.signal?.addEventListener('abort', finish, { once: true });
    unsubscribe = subscribe(finish);
  });
}
