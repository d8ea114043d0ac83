import { isAbsolute, resolve } from 'node:path';
import {
  AgentSafeError,
  type ApprovalStore,
  type AuditEventBody,
  type Clock,
  randomId,
} from '@agent-safe/core';
import {
  type ApprovalNotifier,
  ApprovalService,
  CompositeNotifier,
  MemoryApprovalStore,
  type NotificationFailure,
  SlackNotifier,
  WebhookNotifier,
} from '@agent-safe/approvals';
import type { ResolvedApprovals } from './approvals-options.js';
import { loadFileStore } from './file-store.js';
import { loadRedisStore } from './load-redis-store.js';
import { readTextFileSync } from './read-text-file.js';

/**
 * Builds the approval service of an AgentSafe instance: opens its store (the file or Redis package is
 * loaded only then), builds its notifiers, and routes every transition, and every notification that
 * could not be delivered, to the audit log.
 */
export async function createApprovalService(
  resolved: ResolvedApprovals,
  context: { clock: Clock; audit: ((body: AuditEventBody) => Promise<unknown>) | undefined },
): Promise<ApprovalService> {
  const store = await openApprovalStore(resolved.store);
  const notifiers: ApprovalNotifier[] = [];
  const onFailure = (failure: NotificationFailure) => {
    context
      .audit?.({
        event_id: randomId('evt'),
        timestamp: new Date(context.clock.now()).toISOString(),
        event_type: 'approval_notification_failed',
        approval_id: failure.approvalId,
        notifier: failure.notifier,
        attempts: failure.attempts,
        error: failure.error.slice(0, 500),
      })
      .catch(() => undefined);
  };
  if (resolved.webhook) {
    notifiers.push(
      new WebhookNotifier({
        url: readSecret(resolved.webhook.url, 'approvals.webhook.url', resolved.baseDirectory),
        secret: readSecret(resolved.webhook.secret, 'approvals.webhook.secret', resolved.baseDirectory),
        onFailure,
      }),
    );
  }
  if (resolved.slack) {
    notifiers.push(
      new SlackNotifier({
        url: readSecret(resolved.slack.url, 'approvals.slack.url', resolved.baseDirectory),
        onFailure,
      }),
    );
  }
  return new ApprovalService({
    store,
    settings: resolved.settings,
    clock: context.clock,
    ...(context.audit ? { audit: context.audit } : {}),
    ...(notifiers.length === 1
      ? { notifier: notifiers[0] }
      : notifiers.length > 1
        ? { notifier: new CompositeNotifier(notifiers) }
        : {}),
  });
}

async function openApprovalStore(location: string | ApprovalStore): Promise<ApprovalStore> {
  if (typeof location !== 'string') return location;
  if (location === 'memory') return new MemoryApprovalStore();
  if (location.startsWith('file:')) {
    const { FileApprovalStore } = await loadFileStore();
    return new FileApprovalStore({ directory: location.slice(5) });
  }
  const { RedisApprovalStore } = await loadRedisStore();
  return RedisApprovalStore.connect({ url: location });
}

/**
 * A notifier setting that may be a secret: `env:NAME` reads the variable, `file:PATH` the file
 * (bounded, trimmed); anything else is the value itself. The value is never put in an error.
 */
function readSecret(source: string, setting: string, baseDirectory: string): string {
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    const value = process.env[name];
    if (!value) {
      throw new AgentSafeError('CONFIG_INVALID', `${setting}: environment variable ${name} is not set`, {
        issues: [{ path: setting, message: `export ${name}=… before starting, or use file:PATH` }],
      });
    }
    return value.trim();
  }
  if (source.startsWith('file:')) {
    const path = source.slice(5);
    return readTextFileSync(
      isAbsolute(path) ? path : resolve(baseDirectory, path),
      setting,
      64 * 1024,
    ).trim();
  }
  return source;
}
