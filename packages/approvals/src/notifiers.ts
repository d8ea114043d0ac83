import { createHmac } from 'node:crypto';
import { AgentSafeError, type ApprovalRecord } from '@agent-safe/core';

/** Tells people about new approval requests. `notify` never throws and never blocks the caller. */
export interface ApprovalNotifier {
  notify(record: ApprovalRecord): void;
  /** Waits (bounded) for queued deliveries to finish, then stops. */
  close(): Promise<void>;
}

/** A delivery that failed for good (after its retries), reported so the host can audit it. */
export interface NotificationFailure {
  readonly notifier: string;
  readonly approvalId: string;
  readonly attempts: number;
  readonly error: string;
}

/** Options shared by the HTTP notifiers. */
export interface HttpNotifierOptions {
  readonly url: string;
  /** Per attempt. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Attempts per notification, first included. Default 5. */
  readonly maxAttempts?: number;
  /** Delay before the first retry, doubled each time, with jitter. Default 500 ms. */
  readonly retryBaseMs?: number;
  /** Notifications waiting beyond this are dropped (and reported). Default 1000. */
  readonly maxQueued?: number;
  /** Called for every notification that could not be delivered. */
  readonly onFailure?: (failure: NotificationFailure) => void;
  /** How the CLI command to approve is spelled in messages. Default `agent-safe`. */
  readonly cliName?: string;
}

/** Options of {@link WebhookNotifier}. */
export interface WebhookNotifierOptions extends HttpNotifierOptions {
  /** HMAC-SHA256 key; the receiver checks `X-Agent-Safe-Signature` with it. At least 32 bytes. */
  readonly secret: string | Uint8Array;
}

const MIN_SECRET_BYTES = 32;

/**
 * Delivers notifications off the hot path: a bounded queue drained by one loop per notifier, each
 * delivery retried with exponential backoff and jitter; a notifier that is down never blocks or loses a
 * request (the request is in the store either way), and every final failure is reported.
 */
abstract class HttpNotifier implements ApprovalNotifier {
  abstract readonly name: string;
  readonly #options: Required<Omit<HttpNotifierOptions, 'onFailure'>> &
    Pick<HttpNotifierOptions, 'onFailure'>;
  readonly #queue: ApprovalRecord[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;
  readonly #controller = new AbortController();

  constructor(options: HttpNotifierOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new AgentSafeError('CONFIG_INVALID', 'approval notifier url is not a URL', {
        issues: [{ path: 'url', message: 'give an http(s) URL, e.g. https://hooks.example.com/agent-safe' }],
      });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AgentSafeError('CONFIG_INVALID', 'approval notifier url must be http(s)', {
        issues: [{ path: 'url', message: `got ${url.protocol}; use https://…` }],
      });
    }
    this.#options = {
      url: url.toString(),
      timeoutMs: options.timeoutMs ?? 5000,
      maxAttempts: options.maxAttempts ?? 5,
      retryBaseMs: options.retryBaseMs ?? 500,
      maxQueued: options.maxQueued ?? 1000,
      cliName: options.cliName ?? 'agent-safe',
      onFailure: options.onFailure,
    };
  }

  protected get cliName(): string {
    return this.#options.cliName;
  }

  /** The request body and headers for one record. */
  protected abstract render(record: ApprovalRecord): { body: string; headers: Record<string, string> };

  notify(record: ApprovalRecord): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#options.maxQueued) {
      this.#fail(record, 0, `queue full (${this.#options.maxQueued} waiting)`);
      return;
    }
    this.#queue.push(record);
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  async close(timeoutMs = 10_000): Promise<void> {
    this.#closed = true;
    if (this.#draining) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#draining,
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.#controller.abort();
    for (const record of this.#queue.splice(0)) this.#fail(record, 0, 'notifier closed before delivery');
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const record = this.#queue.shift()!;
      await this.#deliver(record);
    }
  }

  async #deliver(record: ApprovalRecord): Promise<void> {
    const { maxAttempts, retryBaseMs, timeoutMs } = this.#options;
    let lastError = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        const { body, headers } = this.render(record);
        const response = await fetch(this.#options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
          redirect: 'error',
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#controller.signal]),
        });
        await response.body?.cancel().catch(() => undefined);
        if (response.ok) return;
        lastError = `HTTP ${response.status}`;
        // A client error other than throttling will not improve by retrying.
        if (
          response.status >= 400 &&
          response.status < 500 &&
          response.status !== 408 &&
          response.status !== 429
        ) {
          return this.#fail(record, attempt, lastError);
        }
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
      if (this.#controller.signal.aborted) break;
      if (attempt < maxAttempts) {
        const delay = retryBaseMs * 2 ** (attempt - 1);
        await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
      }
    }
    this.#fail(record, maxAttempts, lastError);
  }

  #fail(record: ApprovalRecord, attempts: number, error: string): void {
    try {
      this.#options.onFailure?.({ notifier: this.name, approvalId: record.id, attempts, error });
    } catch {
      // A failing failure handler must not stop the queue.
    }
  }
}

/** What a webhook receives: the request as approvers should see it (sensitive params masked). */
export function approvalNotification(record: ApprovalRecord, cliName = 'agent-safe') {
  return {
    type: 'approval_requested',
    approval_id: record.id,
    action: record.action,
    target: record.target,
    caller: record.caller,
    caller_authenticated: record.callerAuthenticated,
    delegation_chain: record.delegationChain,
    params: record.params,
    masked_paths: record.maskedPaths,
    params_digest: record.paramsDigest,
    reason: record.reason,
    matched_rule: record.matchedRule,
    effective_risk: record.effectiveRisk,
    required_approvals: record.requiredApprovals,
    created_at: new Date(record.createdAt).toISOString(),
    expires_at: new Date(record.expiresAt).toISOString(),
    approve_command: `${cliName} approval approve ${record.id} --approver-token env:AGENT_SAFE_APPROVER_TOKEN`,
    deny_command: `${cliName} approval deny ${record.id} --approver-token env:AGENT_SAFE_APPROVER_TOKEN`,
  };
}

/**
 * POSTs each new request as JSON, signed: `X-Agent-Safe-Timestamp` (seconds) and
 * `X-Agent-Safe-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. Receivers should reject
 * timestamps more than five minutes old (replays).
 */
export class WebhookNotifier extends HttpNotifier {
  readonly name = 'webhook';
  readonly #secret: Uint8Array;

  constructor(options: WebhookNotifierOptions) {
    super(options);
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (!(secret instanceof Uint8Array) || secret.byteLength < MIN_SECRET_BYTES) {
      throw new AgentSafeError(
        'KEY_INVALID',
        `the webhook signing secret must be at least ${MIN_SECRET_BYTES} bytes`,
        {
          issues: [{ path: 'secret', message: 'generate one with: openssl rand -base64 48' }],
        },
      );
    }
    this.#secret = secret;
  }

  protected render(record: ApprovalRecord) {
    const body = JSON.stringify(approvalNotification(record, this.cliName));
    const timestamp = String(Math.floor(Date.now() / 1000));
    return {
      body,
      headers: {
        'x-agent-safe-timestamp': timestamp,
        'x-agent-safe-signature': signWebhook(this.#secret, timestamp, body),
      },
    };
  }
}

/** The signature header value a webhook receiver recomputes to authenticate a delivery. */
export function signWebhook(secret: Uint8Array | string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** `action_id` of the notification's Approve button; its `value` is the approval id. */
export const SLACK_APPROVE_ACTION = 'agent_safe_approve';
/** `action_id` of the notification's Deny button; its `value` is the approval id. */
export const SLACK_DENY_ACTION = 'agent_safe_deny';

/**
 * A Slack incoming webhook: a Block Kit message naming what is asked, by whom, why, and how to decide,
 * with Approve and Deny buttons (they work when the Slack app's interactivity points at `agent-safe
 * serve`'s POST /v1/slack/interactions; the CLI commands in the message work regardless).
 */
export class SlackNotifier extends HttpNotifier {
  readonly name = 'slack';

  protected render(record: ApprovalRecord) {
    const n = approvalNotification(record, this.cliName);
    const field = (label: string, value: string) => ({
      type: 'mrkdwn',
      text: `*${label}*\n${slackEscape(value)}`,
    });
    const body = JSON.stringify({
      text: `Approval needed: ${record.action} on ${record.target} by ${record.caller}`,
      blocks: [
        {
          type: 'header',
          text: { type: 'plain_text', text: `Approval needed: ${record.action}`.slice(0, 150) },
        },
        {
          type: 'section',
          fields: [
            field('Target', record.target),
            field(
              'Caller',
              record.callerAuthenticated ? record.caller : `${record.caller} (unauthenticated)`,
            ),
            field('Risk', record.effectiveRisk ?? 'unknown'),
            field('Expires', n.expires_at),
          ],
        },
        { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${slackEscape(record.reason)}` } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `*To approve* (${record.requiredApprovals} approval${record.requiredApprovals === 1 ? '' : 's'} needed)\n\`${n.approve_command}\`\n*To deny*\n\`${n.deny_command}\``,
          },
        },
        {
          // Handled by agent-safe serve's POST /v1/slack/interactions (docs/server.md, "Slack approvals").
          type: 'actions',
          block_id: 'agent_safe_vote',
          elements: [
            {
              type: 'button',
              action_id: SLACK_APPROVE_ACTION,
              text: { type: 'plain_text', text: 'Approve' },
              style: 'primary',
              value: record.id,
            },
            {
              type: 'button',
              action_id: SLACK_DENY_ACTION,
              text: { type: 'plain_text', text: 'Deny' },
              style: 'danger',
              value: record.id,
            },
          ],
        },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: `${record.id} · params digest ${record.paramsDigest.slice(0, 16)}…` },
          ],
        },
      ],
    });
    return { body, headers: {} };
  }
}

/** Slack mrkdwn treats &, < and > as markup (links, mentions): escape them so a value cannot ping @channel. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Several notifiers as one. */
export class CompositeNotifier implements ApprovalNotifier {
  readonly #notifiers: readonly ApprovalNotifier[];
  constructor(notifiers: readonly ApprovalNotifier[]) {
    this.#notifiers = notifiers;
  }
  notify(record: ApprovalRecord): void {
    for (const notifier of this.#notifiers) notifier.notify(record);
  }
  async close(): Promise<void> {
    await Promise.all(this.#notifiers.map((notifier) => notifier.close()));
  }
}
