import { isAbsolute, resolve } from 'node:path';
import { AgentSafeError, type ApprovalStore } from '@agent-safe/core';
import {
  type ApprovalSettings,
  type ApprovalSettingsInput,
  resolveApprovalSettings,
} from '@agent-safe/approvals';

/** Where approvals live when no store is named: beside agent-safe.yaml (or the working directory). */
export const DEFAULT_APPROVALS_DIRECTORY = '.agent-safe/approvals';

/** The `approvals` option of AgentSafe (agent-safe.yaml `approvals:`, snake_case there). */
export interface ApprovalsOptions extends ApprovalSettingsInput {
  /**
   * Where requests live: `file:DIR` (one machine: the CLI, agents and approvers share it), a
   * `redis://` URL (many machines), `memory` (this process only), or a store object. Default: the
   * configured `store` when it is a Redis URL, otherwise `file:.agent-safe/approvals` beside
   * agent-safe.yaml.
   */
  readonly store?: string | ApprovalStore;
  /** POST each new request, HMAC-signed. `secret` may be `env:NAME` or `file:PATH`. */
  readonly webhook?: { readonly url: string; readonly secret: string };
  /** A Slack incoming webhook URL (itself a secret: `env:NAME` or `file:PATH` is accepted). */
  readonly slack?: { readonly url: string };
}

/** Approval options checked and resolved at construction. */
export interface ResolvedApprovals {
  readonly settings: ApprovalSettings;
  /** A store object, `memory`, `file:<absolute dir>` or a Redis URL. */
  readonly store: string | ApprovalStore;
  readonly webhook?: { readonly url: string; readonly secret: string };
  readonly slack?: { readonly url: string };
  /** Directory relative `file:` sources are read from. */
  readonly baseDirectory: string;
}

const SETTINGS = [
  'approverRoles',
  'ttlSeconds',
  'thresholds',
  'defaultApprovals',
  'requireComment',
  'dedupe',
];

/**
 * Checks the approvals options: settings (see resolveApprovalSettings), a store location, notifier
 * shapes. Throws CONFIG_INVALID naming `where` and every problem.
 */
export function resolveApprovalsOptions(
  options: ApprovalsOptions,
  context: { where: string; baseDirectory: string; store: unknown },
): ResolvedApprovals {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new AgentSafeError('CONFIG_INVALID', `${context.where}: approvals must be a mapping of settings`);
  }
  const input: Record<string, unknown> = {};
  for (const key of SETTINGS)
    if ((options as Record<string, unknown>)[key] !== undefined)
      input[key] = (options as Record<string, unknown>)[key];
  for (const key of Object.keys(options)) {
    if (!SETTINGS.includes(key) && !['store', 'webhook', 'slack'].includes(key))
      input[key] = (options as Record<string, unknown>)[key];
  }
  const settings = resolveApprovalSettings(input as ApprovalSettingsInput, context.where);
  const problems: { path: string; message: string }[] = [];
  let store: string | ApprovalStore;
  const given = options.store;
  if (given !== undefined && typeof given === 'object' && given !== null) store = given;
  else if (given === undefined) {
    const shared = context.store;
    store =
      typeof shared === 'string' && /^rediss?:\/\//.test(shared)
        ? shared
        : `file:${resolve(context.baseDirectory, DEFAULT_APPROVALS_DIRECTORY)}`;
  } else if (typeof given !== 'string') {
    problems.push({ path: 'approvals.store', message: 'expected file:DIR, a redis:// URL or memory' });
    store = 'memory';
  } else if (given === 'memory' || /^rediss?:\/\//.test(given)) store = given;
  else if (given.startsWith('file:') && given.length > 5 && given.length < 4096) {
    const directory = given.slice(5);
    store = `file:${isAbsolute(directory) ? directory : resolve(context.baseDirectory, directory)}`;
  } else {
    problems.push({
      path: 'approvals.store',
      message: `expected file:DIR (e.g. file:./${DEFAULT_APPROVALS_DIRECTORY}), a redis:// URL or memory`,
    });
    store = 'memory';
  }
  const webhook = options.webhook;
  if (webhook !== undefined) {
    if (!webhook || typeof webhook.url !== 'string' || typeof webhook.secret !== 'string') {
      problems.push({
        path: 'approvals.webhook',
        message: 'expected { url: https://…, secret: env:NAME } (the HMAC signing secret, at least 32 bytes)',
      });
    }
  }
  const slack = options.slack;
  if (slack !== undefined && (!slack || typeof slack.url !== 'string')) {
    problems.push({
      path: 'approvals.slack',
      message: 'expected { url: env:SLACK_WEBHOOK_URL } (an incoming webhook)',
    });
  }
  if (problems.length > 0) {
    throw new AgentSafeError('CONFIG_INVALID', `${context.where}: approvals settings are invalid`, {
      issues: problems.map((problem) => ({
        ...problem,
        ...(context.where === 'options' ? {} : { file: context.where }),
      })),
    });
  }
  return {
    settings,
    store,
    ...(webhook ? { webhook } : {}),
    ...(slack ? { slack } : {}),
    baseDirectory: context.baseDirectory,
  };
}
