import type { IncomingMessage } from 'node:http';
import type { ApprovalRecord, ApprovalStatus } from '@agent-safe/sdk';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { RouteDescription } from './openapi.js';
import {
  APPROVAL_LIST_RESPONSE,
  APPROVAL_RECORD,
  APPROVAL_VOTE_REQUEST,
  APPROVAL_WAIT_RESPONSE,
} from './schemas.js';

/** The longest long-poll of GET /v1/approvals/{id}/wait, in seconds. */
export const MAX_APPROVAL_WAIT_SECONDS = 60;
/** The most records GET /v1/approvals answers. */
export const MAX_APPROVAL_LIST = 500;

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];
const ID_PARAMETER = [
  { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^apr-[0-9a-f]{32}$' } },
];

/** What an approval route handler receives. */
export interface ApprovalRouteContext {
  readonly request: IncomingMessage;
  readonly body: unknown;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Aborted when the server closes: long polls answer at once. */
  readonly signal: AbortSignal;
}

/** An approval route: its description and its handler. */
export interface ApprovalRoute extends RouteDescription {
  handle(context: ApprovalRouteContext): Promise<{ status: number; json: unknown }>;
}

/** What the approval routes need from the server. */
export interface ApprovalRouteHost {
  /** The facade serving now (a reload may replace it, so it is read per request). */
  safe(): AgentSafe;
  identityConfigured(): boolean;
  /** The configured approver roles (approvals.approver_roles). */
  approverRoles(): readonly string[];
  /** Roles that may read every request besides the approver roles (ServerOptions.adminRoles). */
  readonly adminRoles: readonly string[];
  /** The bearer token of a request, undefined when none was sent (a malformed header throws 401). */
  bearerToken(request: IncomingMessage): string | undefined;
}

interface Verified {
  readonly token: string;
  readonly agentId: string;
  readonly roles: readonly string[];
}

/**
 * GET /v1/approvals, GET /v1/approvals/{id}, POST …/approve and …/deny, GET …/wait (docs/server.md).
 * Every route needs a verified bearer identity token: the approver is always the token, never a field.
 */
export function approvalRoutes(host: ApprovalRouteHost): ApprovalRoute[] {
  /** The verified bearer identity of a request (400 when approvals or identity are not configured). */
  const identify = async (safe: AgentSafe, request: IncomingMessage): Promise<Verified> => {
    if (!host.identityConfigured()) {
      throw new HttpError(
        400,
        'USAGE',
        'approvals over HTTP need identity: set signing_key (or verification_keys) in agent-safe.yaml, and approvals: { approver_roles: [...] }',
      );
    }
    void safe.approvals; // throws USAGE (400) when approvals are not configured
    const token = host.bearerToken(request);
    if (token === undefined) {
      throw new HttpError(
        401,
        'IDENTITY_INVALID',
        'an identity token is required: send "Authorization: Bearer <identity token>"',
        undefined,
        { 'www-authenticate': 'Bearer' },
      );
    }
    const verified = await safe.identity.verify(token);
    if (!verified.ok) {
      throw new HttpError(
        401,
        'IDENTITY_INVALID',
        `the bearer token was refused (${verified.code}): ${verified.reason}`,
        undefined,
        { 'www-authenticate': 'Bearer' },
      );
    }
    return { token, agentId: verified.caller.agentId, roles: verified.caller.roles ?? [] };
  };

  /** Approvers and admins may read requests; anyone else gets 403. */
  const requireReader = async (safe: AgentSafe, request: IncomingMessage): Promise<Verified> => {
    const caller = await identify(safe, request);
    const readers = new Set([...host.approverRoles(), ...host.adminRoles]);
    if (!caller.roles.some((role) => readers.has(role))) {
      throw new HttpError(
        403,
        'APPROVAL_REFUSED',
        `${caller.agentId} may not read approval requests: its token needs an approver role (approvals.approver_roles) or an admin role (the server's adminRoles)`,
      );
    }
    return caller;
  };

  const record = async (safe: AgentSafe, id: string): Promise<ApprovalRecord> => {
    if (!/^apr-[0-9a-f]{32}$/.test(id)) {
      throw new HttpError(
        404,
        'APPROVAL_UNKNOWN',
        'no approval request has that id (apr- and 32 hex digits)',
        'id',
      );
    }
    try {
      return await safe.approvals.get(id);
    } catch (error) {
      throw mapped(error);
    }
  };

  const vote = (verdict: 'approve' | 'deny'): ApprovalRoute => ({
    method: 'POST',
    path: `/v1/approvals/{id}/${verdict}`,
    operationId: `${verdict}Approval`,
    summary:
      verdict === 'approve'
        ? 'Approve a request as the bearer token (an approver; never the requester); answers the updated record'
        : 'Deny a request as the bearer token (one denial denies it); answers the updated record',
    parameters: ID_PARAMETER,
    request: APPROVAL_VOTE_REQUEST,
    response: APPROVAL_RECORD,
    errors: [400, 401, 403, 404, 409, 413, 415],
    authenticated: true,
    async handle({ request, body, params }) {
      const safe = host.safe();
      const caller = await identify(safe, request);
      await record(safe, params.id!);
      const { comment } = body as { comment?: string };
      const options = { approverToken: caller.token, ...(comment !== undefined ? { comment } : {}) };
      try {
        const updated =
          verdict === 'approve'
            ? await safe.approvals.approve(params.id!, options)
            : await safe.approvals.deny(params.id!, options);
        return { status: 200, json: shown(updated) };
      } catch (error) {
        throw mapped(error);
      }
    },
  });

  return [
    {
      method: 'GET',
      path: '/v1/approvals',
      operationId: 'listApprovals',
      summary: 'Approval requests, newest first (approvers and admins only); ?status=pending&limit=N',
      parameters: [
        { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: STATUSES } },
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 1, maximum: MAX_APPROVAL_LIST, default: 100 },
        },
      ],
      response: APPROVAL_LIST_RESPONSE,
      errors: [400, 401, 403],
      authenticated: true,
      async handle({ request, query }) {
        const safe = host.safe();
        await requireReader(safe, request);
        const status = query.get('status');
        if (status !== null && !STATUSES.includes(status as ApprovalStatus)) {
          throw new HttpError(400, 'INPUT_INVALID', `status must be one of ${STATUSES.join(', ')}`, 'status');
        }
        const limit = query.get('limit');
        if (limit !== null && !(/^[0-9]{1,4}$/.test(limit) && +limit >= 1 && +limit <= MAX_APPROVAL_LIST)) {
          throw new HttpError(
            400,
            'INPUT_INVALID',
            `limit must be a whole number from 1 to ${MAX_APPROVAL_LIST}`,
            'limit',
          );
        }
        const records = await safe.approvals.list({
          ...(status !== null ? { status: status as ApprovalStatus } : {}),
          ...(limit !== null ? { limit: Number(limit) } : {}),
        });
        return { status: 200, json: { approvals: records.map(shown) } };
      },
    },
    {
      method: 'GET',
      path: '/v1/approvals/{id}',
      operationId: 'getApproval',
      summary: 'One approval request (approvers and admins only)',
      parameters: ID_PARAMETER,
      response: APPROVAL_RECORD,
      errors: [400, 401, 403, 404],
      authenticated: true,
      async handle({ request, params }) {
        const safe = host.safe();
        await requireReader(safe, request);
        return { status: 200, json: shown(await record(safe, params.id!)) };
      },
    },
    vote('approve'),
    vote('deny'),
    {
      method: 'GET',
      path: '/v1/approvals/{id}/wait',
      operationId: 'waitForApproval',
      summary: `Long-poll until the request is decided (the requester only; ?timeout=SECONDS, at most ${MAX_APPROVAL_WAIT_SECONDS}): the Decision, with its ticket when approved, or { status: "pending" }`,
      parameters: [
        ...ID_PARAMETER,
        {
          name: 'timeout',
          in: 'query',
          required: false,
          schema: { type: 'integer', minimum: 0, maximum: MAX_APPROVAL_WAIT_SECONDS, default: 30 },
        },
      ],
      response: APPROVAL_WAIT_RESPONSE,
      errors: [400, 401, 403, 404],
      authenticated: true,
      async handle({ request, params, query, signal }) {
        const safe = host.safe();
        const caller = await identify(safe, request);
        const timeout = query.get('timeout') ?? '30';
        if (!/^[0-9]{1,2}$/.test(timeout) || +timeout > MAX_APPROVAL_WAIT_SECONDS) {
          throw new HttpError(
            400,
            'INPUT_INVALID',
            `timeout must be a whole number of seconds from 0 to ${MAX_APPROVAL_WAIT_SECONDS}`,
            'timeout',
          );
        }
        const current = await record(safe, params.id!);
        if (current.caller !== caller.agentId) {
          throw new HttpError(
            403,
            'APPROVAL_REFUSED',
            `only the requester (${current.caller}) may wait for approval ${current.id}: its ticket is for it alone`,
          );
        }
        let decision: Awaited<ReturnType<AgentSafe['approvals']['waitForApproval']>>;
        try {
          decision = await safe.approvals.waitForApproval(current.id, {
            timeoutMs: Number(timeout) * 1000,
            signal,
          });
        } catch (error) {
          throw mapped(error);
        }
        if (decision.result === 'REQUIRE_APPROVAL') {
          return { status: 200, json: { status: 'pending', approvalId: current.id } };
        }
        return { status: 200, json: decision };
      },
    },
  ];
}

/** A record as approvers see it: params are already masked by the SDK; the ticket's token is withheld. */
function shown(record: ApprovalRecord): unknown {
  if (!record.ticket) return record;
  const { token: _secret, ...ticket } = record.ticket;
  return { ...record, ticket };
}

const CONFLICTS = new Set(['EXPIRED', 'ALREADY_DECIDED', 'ALREADY_VOTED']);

/** SDK approval errors as HTTP: unknown 404, refused 403 (409 when the request's state forbids it). */
function mapped(error: unknown): unknown {
  const { code, details, message } = error as {
    code?: string;
    details?: { reason?: string };
    message?: string;
  };
  if (code === 'APPROVAL_UNKNOWN')
    return new HttpError(404, code, message ?? 'no approval request has that id', 'id');
  if (code === 'APPROVAL_REFUSED') {
    const reason = details?.reason ?? 'REFUSED';
    return new HttpError(CONFLICTS.has(reason) ? 409 : 403, code, `${message ?? 'refused'} (${reason})`);
  }
  return error;
}
