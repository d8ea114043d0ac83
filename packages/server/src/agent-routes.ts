import type { IncomingMessage } from 'node:http';
import type { SuspensionRecord } from '@agent-safe/sdk';
import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { JsonSchema } from './json-schema.js';
import type { RouteDescription } from './openapi.js';
import { requireAdmin } from './reload.js';

/** What a kill-switch route handler receives. */
export interface AgentRouteContext {
  readonly request: IncomingMessage;
  readonly body: unknown;
  readonly params: Readonly<Record<string, string>>;
}

/** A kill-switch route: its description and its handler. */
export interface AgentRoute extends RouteDescription {
  handle(context: AgentRouteContext): Promise<{ status: number; json: unknown }>;
}

/** What the kill-switch routes need from the server. */
export interface AgentRouteHost {
  /** The facade serving now (a reload may replace it, so it is read per request). */
  safe(): AgentSafe;
  /** Roles whose verified tokens may call admin endpoints (ServerOptions.adminRoles). */
  readonly adminRoles: readonly string[];
  /** The bearer token of a request, undefined when none was sent. */
  bearerToken(request: IncomingMessage): string | undefined;
}

const SUSPENSION: JsonSchema = {
  type: 'object',
  required: ['agentId', 'by', 'reason', 'at'],
  properties: {
    agentId: { type: 'string' },
    by: { type: 'string', description: 'The admin who suspended the agent (the bearer token)' },
    reason: { type: 'string' },
    at: { type: 'string', description: 'When (ISO 8601)' },
  },
};

/** Body of POST /v1/admin/agents/{id}/suspend and /resume. */
export const AGENT_SUSPEND_REQUEST: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    reason: {
      type: 'string',
      maxLength: 1000,
      // core's suspension record check: no control characters
      pattern: '^[^\\u0000-\\u001f\\u007f]*$',
      description: 'Why (recorded in the audit log, quoted in denials)',
    },
  },
};

/** Answer of POST /v1/admin/agents/{id}/suspend. */
export const AGENT_SUSPEND_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['suspension', 'deniedApprovals', 'shared', 'store'],
  properties: {
    suspension: SUSPENSION,
    deniedApprovals: { type: 'array', items: { type: 'string' } },
    shared: { type: 'boolean', description: 'Whether other replicas see it (a file or Redis store)' },
    store: { type: 'string' },
  },
};

/** Answer of POST /v1/admin/agents/{id}/resume. */
export const AGENT_RESUME_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['agentId', 'resumed', 'shared', 'store'],
  properties: {
    agentId: { type: 'string' },
    resumed: { type: 'boolean', description: 'False when the agent was not suspended' },
    suspension: { oneOf: [SUSPENSION, { type: 'null' }] },
    shared: { type: 'boolean' },
    store: { type: 'string' },
  },
};

/** Answer of GET /v1/admin/agents/suspended. */
export const AGENT_LIST_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['suspensions', 'shared', 'store'],
  properties: {
    suspensions: { type: 'array', items: SUSPENSION },
    shared: { type: 'boolean' },
    store: { type: 'string' },
  },
};

// An agent id as every id is checked (core's isSafeId): 1-512 characters, no control, separator or bidi
// characters, not blank. The schema says so, so clients (and schemathesis) know which ids are refused.
const UNSAFE = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const BLANK = ' \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000\\ufeff';
const ID_PARAMETER = [
  {
    name: 'id',
    in: 'path',
    required: true,
    schema: {
      type: 'string',
      minLength: 1,
      maxLength: 512, // core's MAX_ID_LENGTH
      pattern: `^[^${UNSAFE}]*[^${UNSAFE}${BLANK}][^${UNSAFE}]*$`,
    },
  },
];

/**
 * The kill switch over HTTP (docs/server.md, "Kill switch"): suspend and resume an agent, list the
 * suspensions. Admin role required; the admin's verified agent id is recorded as `by`.
 */
export function agentRoutes(host: AgentRouteHost): AgentRoute[] {
  const admin = (safe: AgentSafe, request: IncomingMessage, what: string) =>
    requireAdmin(safe, host.bearerToken(request), host.adminRoles, what);
  const storeOf = (safe: AgentSafe) => ({ shared: safe.agents.shared, store: safe.agents.storeName });

  return [
    {
      method: 'POST',
      path: '/v1/admin/agents/{id}/suspend',
      operationId: 'suspendAgent',
      summary:
        'Suspend an agent (admin role): it and every agent it delegated to are denied, their open approvals denied and their tickets refused',
      parameters: ID_PARAMETER,
      request: AGENT_SUSPEND_REQUEST,
      response: AGENT_SUSPEND_RESPONSE,
      errors: [400, 401, 403, 413, 415, 503],
      authenticated: true,
      async handle({ request, body, params }) {
        const safe = host.safe();
        const by = await admin(safe, request, 'suspend agents');
        const { reason } = body as { reason?: string };
        const outcome = await unavailable(() =>
          safe.agents.suspend(params.id!, { by, ...(reason !== undefined ? { reason } : {}) }),
        );
        return {
          status: 200,
          json: {
            suspension: shown(outcome.suspension),
            deniedApprovals: outcome.deniedApprovals,
            ...storeOf(safe),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/admin/agents/{id}/resume',
      operationId: 'resumeAgent',
      summary: 'Lift the suspension of an agent (admin role)',
      parameters: ID_PARAMETER,
      request: AGENT_SUSPEND_REQUEST,
      response: AGENT_RESUME_RESPONSE,
      errors: [400, 401, 403, 413, 415, 503],
      authenticated: true,
      async handle({ request, body, params }) {
        const safe = host.safe();
        const by = await admin(safe, request, 'resume agents');
        const { reason } = body as { reason?: string };
        const removed = await unavailable(() =>
          safe.agents.resume(params.id!, { by, ...(reason !== undefined ? { reason } : {}) }),
        );
        return {
          status: 200,
          json: {
            agentId: params.id!,
            resumed: removed !== undefined,
            suspension: removed ? shown(removed) : null,
            ...storeOf(safe),
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/agents/suspended',
      operationId: 'listSuspendedAgents',
      summary: 'The suspended agents, oldest first (admin role)',
      response: AGENT_LIST_RESPONSE,
      errors: [400, 401, 403, 503],
      authenticated: true,
      async handle({ request }) {
        const safe = host.safe();
        await admin(safe, request, 'list suspended agents');
        const records = await unavailable(() => safe.agents.list());
        return { status: 200, json: { suspensions: records.map(shown), ...storeOf(safe) } };
      },
    },
  ];
}

/**
 * Runs a store operation: a refused input stays 400 (INPUT_INVALID names the field); a store that cannot
 * answer is 503 naming it, so the admin knows the suspension did not happen.
 */
async function unavailable<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    if (code === 'INPUT_INVALID' || code === 'USAGE') throw error;
    throw new HttpError(
      503,
      'INTERNAL',
      `the suspension could not be completed (check GET /v1/admin/agents/suspended): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** A suspension as the API shows it: the time as ISO 8601. */
function shown(record: SuspensionRecord) {
  return { ...record, at: new Date(record.at).toISOString() };
}
