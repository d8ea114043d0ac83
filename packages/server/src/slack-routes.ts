import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type ApprovalRecord, SLACK_APPROVE_ACTION, SLACK_DENY_ACTION } from '@agent-safe/sdk';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { JsonSchema } from './json-schema.js';
import type { RouteDescription } from './openapi.js';

/** Slack's replay window: a request signed more than this many seconds from now is refused. */
export const SLACK_MAX_SKEW_SECONDS = 300;
/** The largest interaction body read (Slack's payload carries the message: a few KiB). */
export const MAX_SLACK_BODY_BYTES = 256 * 1024;
/** Lifetime of the identity token minted for one Slack vote. */
const VOTE_TOKEN_TTL_SECONDS = 60;

/** The identity a Slack user approves as. */
export interface SlackApprover {
  /** The approver's agent id (what the approval record and the audit log name). */
  readonly agentId: string;
  /** Its roles; default: the configured approver roles (approvals.approver_roles). */
  readonly roles?: readonly string[];
}

/** `ServerOptions.slack`: the Slack app's interactions endpoint (docs/server.md, "Slack approvals"). */
export interface SlackOptions {
  /** The app's signing secret (Slack: Basic Information → App Credentials → Signing Secret). */
  readonly signingSecret: string | Uint8Array;
  /** Slack user id (`U…`) → the approver identity it votes as. Users not listed are refused. */
  readonly users: Readonly<Record<string, string | SlackApprover>>;
  /**
   * Origins the message update may be POSTed to (the payload's `response_url`). Default
   * `https://hooks.slack.com`; anything else in a payload is ignored (never fetched).
   */
  readonly responseUrlOrigins?: readonly string[];
}

/** What the Slack route needs from the server. */
export interface SlackRouteHost {
  safe(): AgentSafe;
  readonly slack: SlackOptions | undefined;
  /** The configured approver roles (the default roles of a mapped user). */
  approverRoles(): readonly string[];
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

/** What the route handler receives (the server's RequestContext). */
export interface SlackRouteContext {
  readonly request: IncomingMessage;
}

/** The Slack interactions route. */
export interface SlackRoute extends RouteDescription {
  handle(context: SlackRouteContext): Promise<{ status: number; json: unknown }>;
}

/** The form Slack POSTs (`payload` is a JSON document), for /openapi.json. */
export const SLACK_INTERACTION_FORM: JsonSchema = {
  type: 'object',
  required: ['payload'],
  properties: {
    payload: { type: 'string', description: 'The interaction payload (JSON), as Slack sends it' },
  },
};

/** The answer: a Slack message replacing the notification. */
export const SLACK_INTERACTION_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['text'],
  additionalProperties: true,
  properties: {
    replace_original: { type: 'boolean' },
    response_type: { type: 'string' },
    text: { type: 'string' },
    blocks: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
};

const APPROVAL_ID = /^apr-[0-9a-f]{32}$/;
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;

/** Checks `ServerOptions.slack` once, at start: errors name the setting and the fix. */
export function checkSlackOptions(slack: SlackOptions): void {
  const secret = slack.signingSecret;
  const length = typeof secret === 'string' ? Buffer.byteLength(secret) : secret?.byteLength;
  if (!(typeof secret === 'string' || secret instanceof Uint8Array) || (length ?? 0) < 16) {
    throw usage(
      'signing_secret',
      "expected the Slack app's signing secret (16 bytes or more): signing_secret: env:SLACK_SIGNING_SECRET",
    );
  }
  if (slack.users === null || typeof slack.users !== 'object' || Array.isArray(slack.users)) {
    throw usage('users', 'expected a mapping of Slack user ids to approver ids, e.g. { U0123ABCD: alice }');
  }
  for (const [user, approver] of Object.entries(slack.users)) {
    if (!SLACK_USER_ID.test(user)) {
      throw usage(
        `users.${user}`,
        'expected a Slack user id such as U0123ABCD (Slack: profile → Copy member ID)',
      );
    }
    const agentId = typeof approver === 'string' ? approver : approver?.agentId;
    if (typeof agentId !== 'string' || agentId.length === 0) {
      throw usage(`users.${user}`, 'expected an approver agent id, or { agent: ID, roles: [ROLE, …] }');
    }
    const roles = typeof approver === 'string' ? undefined : approver.roles;
    if (
      roles !== undefined &&
      !(Array.isArray(roles) && roles.length > 0 && roles.every((r) => typeof r === 'string' && r))
    ) {
      throw usage(`users.${user}.roles`, 'expected a non-empty list of role names');
    }
  }
}

function usage(path: string, message: string): Error {
  return Object.assign(new Error(`server.slack.${path}: ${message}`), { code: 'CONFIG_INVALID' });
}

/**
 * POST /v1/slack/interactions (docs/server.md, "Slack approvals"): the Approve and Deny buttons of the
 * Slack notification. The request must carry Slack's signature over the raw body (`v0=` HMAC-SHA256 of
 * `v0:<timestamp>:<body>` with the app's signing secret) and a timestamp within five minutes. The Slack
 * user must be mapped to an approver identity; the server mints that identity a one-minute token with
 * its roles and votes through the approval service like any approver (requester ≠ approver, audited).
 */
export function slackRoutes(host: SlackRouteHost): SlackRoute[] {
  const now = host.now ?? Date.now;
  return [
    {
      method: 'POST',
      path: '/v1/slack/interactions',
      operationId: 'slackInteraction',
      summary:
        "Slack's interactions endpoint: the Approve / Deny buttons of the approval notification (Slack-signed form body)",
      requestForm: SLACK_INTERACTION_FORM,
      response: SLACK_INTERACTION_RESPONSE,
      errors: [400, 401, 403, 404, 409, 413, 415],
      async handle({ request }) {
        const slack = host.slack;
        if (!slack) {
          throw new HttpError(
            400,
            'USAGE',
            'Slack interactions are not configured on this server: set server.slack.signing_secret and server.slack.users in agent-safe.yaml',
          );
        }
        const raw = await readFormBody(request);
        verifySignature(request, raw, slack.signingSecret, now());
        const interaction = parseInteraction(raw);
        const mapped = Object.hasOwn(slack.users, interaction.userId)
          ? slack.users[interaction.userId]
          : undefined;
        if (mapped === undefined) {
          throw new HttpError(
            403,
            'APPROVAL_REFUSED',
            `Slack user ${interaction.userId} is not mapped to an approver on this server (server.slack.users)`,
          );
        }
        const approver: SlackApprover = typeof mapped === 'string' ? { agentId: mapped } : mapped;
        const safe = host.safe();
        let record: ApprovalRecord;
        try {
          const current = await safe.approvals.get(interaction.approvalId);
          if (current.requireComment) {
            throw new HttpError(
              409,
              'APPROVAL_REFUSED',
              `approval ${current.id} needs a comment with each vote, which a Slack button cannot give: use agent-safe approval ${interaction.verdict} ${current.id} --comment …`,
            );
          }
          const token = await mint(safe, approver, host.approverRoles());
          const options = { approverToken: token, comment: `via Slack (user ${interaction.userId})` };
          record =
            interaction.verdict === 'approve'
              ? await safe.approvals.approve(interaction.approvalId, options)
              : await safe.approvals.deny(interaction.approvalId, options);
        } catch (error) {
          const refusal = refusalOf(error);
          void postUpdate(slack, interaction.responseUrl, {
            response_type: 'ephemeral',
            replace_original: false,
            // An unexpected failure's text may quote internals: Slack only hears that nothing was recorded.
            text: `Not recorded: ${refusal instanceof HttpError ? refusal.message : 'the server failed; try again or use agent-safe approval'}`,
          });
          throw refusal;
        }
        const update = decidedMessage(record, approver.agentId, interaction.verdict);
        void postUpdate(slack, interaction.responseUrl, update);
        return { status: 200, json: update };
      },
    },
  ];
}

/** Mints the mapped approver a one-minute identity token with its roles (needs the signing key). */
async function mint(
  safe: AgentSafe,
  approver: SlackApprover,
  approverRoles: readonly string[],
): Promise<string> {
  const roles = approver.roles ?? approverRoles;
  try {
    return await safe.identity.createToken({
      agentId: approver.agentId,
      roles: [...roles],
      ttl: VOTE_TOKEN_TTL_SECONDS,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'KEY_INVALID' || code === 'USAGE') {
      throw new HttpError(
        400,
        'USAGE',
        'Slack approvals need this server to hold the signing key (signing_key), since it votes as the mapped approver',
      );
    }
    throw error;
  }
}

async function readFormBody(request: IncomingMessage): Promise<Buffer> {
  const type = (request.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(
      415,
      'INPUT_INVALID',
      'Slack interactions are sent as application/x-www-form-urlencoded (payload=…)',
    );
  }
  const tooLarge = () =>
    new HttpError(413, 'INPUT_INVALID', `the body is larger than ${MAX_SLACK_BODY_BYTES} bytes`);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_SLACK_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SLACK_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Slack's request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + timestamp + ":" +
 * body)>`, timestamp within five minutes. The refusal says which header to look at, never what was
 * expected.
 */
function verifySignature(
  request: IncomingMessage,
  body: Buffer,
  secret: string | Uint8Array,
  nowMs: number,
): void {
  const refuse = (message: string) => new HttpError(401, 'IDENTITY_INVALID', message);
  const timestamp = request.headers['x-slack-request-timestamp'];
  if (
    typeof timestamp !== 'string' ||
    !/^[0-9]{1,12}$/.test(timestamp) ||
    Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS
  ) {
    throw refuse(
      "X-Slack-Request-Timestamp is missing or more than 5 minutes from this server's clock (a replay, or a clock to fix)",
    );
  }
  const signature = request.headers['x-slack-signature'];
  const expected = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest();
  const given =
    typeof signature === 'string' && /^v0=[0-9a-f]{64}$/.test(signature)
      ? Buffer.from(signature.slice(3), 'hex')
      : Buffer.alloc(expected.length);
  // Compared in constant time even when the header is malformed (then against zeros, and refused).
  const equal = timingSafeEqual(given, expected);
  if (!equal || typeof signature !== 'string' || !/^v0=[0-9a-f]{64}$/.test(signature)) {
    throw refuse('the X-Slack-Signature does not verify with the configured signing secret');
  }
}

interface Interaction {
  readonly userId: string;
  readonly approvalId: string;
  readonly verdict: 'approve' | 'deny';
  readonly responseUrl: string | undefined;
}

function parseInteraction(body: Buffer): Interaction {
  const bad = (message: string) => new HttpError(400, 'INPUT_INVALID', message, 'payload');
  const payload = new URLSearchParams(body.toString('utf8')).get('payload');
  if (payload === null) throw bad('the form has no payload field');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    throw bad('payload is not JSON');
  }
  const object = (value: unknown): Record<string, unknown> | undefined =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  const root = object(parsed);
  if (!root || root.type !== 'block_actions') {
    throw bad('only block_actions interactions (the notification buttons) are handled');
  }
  const userId = object(root.user)?.id;
  if (typeof userId !== 'string' || !SLACK_USER_ID.test(userId)) throw bad('payload.user.id is missing');
  const actions = Array.isArray(root.actions) ? root.actions : [];
  const action = object(actions[0]);
  const actionId = action?.action_id;
  if (actions.length !== 1 || (actionId !== SLACK_APPROVE_ACTION && actionId !== SLACK_DENY_ACTION)) {
    throw bad(`expected one action, ${SLACK_APPROVE_ACTION} or ${SLACK_DENY_ACTION}`);
  }
  const approvalId = action?.value;
  if (typeof approvalId !== 'string' || !APPROVAL_ID.test(approvalId)) {
    throw bad('the button value must be an approval id (apr- and 32 hex digits)');
  }
  const responseUrl = typeof root.response_url === 'string' ? root.response_url : undefined;
  return {
    userId,
    approvalId,
    verdict: actionId === SLACK_APPROVE_ACTION ? 'approve' : 'deny',
    responseUrl,
  };
}

const CONFLICTS = new Set(['EXPIRED', 'ALREADY_DECIDED', 'ALREADY_VOTED']);

/** SDK errors as HTTP refusals (as the approval routes map them). */
function refusalOf(error: unknown): Error {
  if (error instanceof HttpError) return error;
  const { code, details, message } = error as {
    code?: string;
    details?: { reason?: string };
    message?: string;
  };
  if (code === 'APPROVAL_UNKNOWN') {
    return new HttpError(404, code, message ?? 'no approval request has that id', 'id');
  }
  if (code === 'APPROVAL_REFUSED') {
    const reason = details?.reason ?? 'REFUSED';
    return new HttpError(CONFLICTS.has(reason) ? 409 : 403, code, `${message ?? 'refused'} (${reason})`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** The notification as it reads once voted on: the outcome replaces the buttons. */
function decidedMessage(record: ApprovalRecord, approver: string, verdict: 'approve' | 'deny') {
  const outcome =
    record.status === 'approved'
      ? `Approved by ${record.approvals.map((vote) => vote.approver).join(', ')}`
      : record.status === 'denied'
        ? `Denied by ${approver}`
        : `${verdict === 'approve' ? 'Approved' : 'Denied'} by ${approver}: ${record.approvals.length} of ${record.requiredApprovals} approvals`;
  const text = `${outcome} — ${record.action} on ${record.target} by ${record.caller} (${record.id})`;
  return {
    replace_original: true,
    text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: slackEscape(text) } }],
  };
}

/** POSTs a message to the payload's response_url when it is on an allowed origin; best effort. */
async function postUpdate(slack: SlackOptions, url: string | undefined, message: unknown): Promise<void> {
  if (url === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  const origins = slack.responseUrlOrigins ?? ['https://hooks.slack.com'];
  if (!origins.includes(parsed.origin)) return;
  try {
    const response = await fetch(parsed, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      redirect: 'error',
      signal: AbortSignal.timeout(5_000),
    });
    await response.body?.cancel();
  } catch {
    // The vote is recorded either way; the message simply keeps its buttons.
  }
}

function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
