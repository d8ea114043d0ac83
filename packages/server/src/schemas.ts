import type { JsonSchema } from './json-schema.js';

// The request and response bodies, written once: validation of incoming bodies and /openapi.json both
// read these. Deeper checks (known action and target, params against the action's definition, id
// syntax and lengths) stay with the SDK's check(), which answers DENY with the reason rather than an
// HTTP error, and records the refusal in the audit log.

const stringMap: JsonSchema = { type: 'object', additionalProperties: true };

/** Body of POST /v1/check: a CheckRequest as the SDK takes it (the caller as an agent id). */
export const CHECK_REQUEST: JsonSchema = {
  type: 'object',
  description:
    'A request to decide. With identity configured the caller is the bearer token; `caller` in the body is an agent id, accepted only when plain callers are allowed.',
  required: ['action'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', minLength: 1, description: 'Action name, e.g. restart-deployment' },
    target: { type: 'string', description: 'Inventory id of the target, e.g. prod/api-server' },
    caller: { type: 'string', description: 'Plain agent id (see Authentication in docs/server.md)' },
    params: { ...stringMap, description: 'Action parameters' },
    ticketId: { type: 'string', description: 'External change ticket to link (JIRA-1234 …)' },
    correlationId: { type: 'string', description: 'Ties several events together' },
    context: { ...stringMap, description: 'Free-form context recorded with the audit event' },
  },
};

/** The most steps one check-plan request may carry. */
export const MAX_PLAN_STEPS = 256;

/** Body of POST /v1/check-plan. */
export const CHECK_PLAN_REQUEST: JsonSchema = {
  type: 'object',
  required: ['steps'],
  additionalProperties: false,
  properties: { steps: { type: 'array', minItems: 1, maxItems: MAX_PLAN_STEPS, items: CHECK_REQUEST } },
};

/** Body of POST /v1/tickets/validate. */
export const TICKET_VALIDATE_REQUEST: JsonSchema = {
  type: 'object',
  required: ['token', 'action', 'target', 'params'],
  additionalProperties: false,
  properties: {
    token: { type: 'string', minLength: 1, description: 'The execution ticket (a JWT)' },
    action: { type: 'string', minLength: 1 },
    target: { type: 'string', minLength: 1 },
    params: { ...stringMap, description: 'The params about to be executed; their digest must match' },
    caller: { type: 'string', description: 'The agent the ticket must have been issued to' },
  },
};

const RESULT: JsonSchema = { type: 'string', enum: ['ALLOW', 'DENY', 'REQUIRE_APPROVAL'] };
const nullableString: JsonSchema = { oneOf: [{ type: 'string' }, { type: 'null' }] };

/** A Decision as the SDK returns it (the fields every decision has; others may be present). */
export const DECISION: JsonSchema = {
  type: 'object',
  required: [
    'result',
    'reason',
    'action',
    'target',
    'caller',
    'callerAuthenticated',
    'auditId',
    'policyRevision',
  ],
  additionalProperties: true,
  properties: {
    result: RESULT,
    reason: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    caller: { type: 'string' },
    callerAuthenticated: { type: 'boolean' },
    matchedRule: nullableString,
    riskClass: nullableString,
    effectiveRisk: nullableString,
    auditId: { type: 'string' },
    ticketId: nullableString,
    correlationId: nullableString,
    params: stringMap,
    errors: { type: 'array', items: { type: 'object', additionalProperties: true } },
    explanation: { type: 'object', additionalProperties: true },
    policyRevision: { type: 'string' },
    ticket: { oneOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] },
    approvalId: nullableString,
  },
};

/** Response of POST /v1/check-plan: one decision per step, in order. */
export const CHECK_PLAN_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['decisions'],
  properties: { decisions: { type: 'array', items: DECISION } },
};

/** A TicketValidationResult as the SDK returns it. */
export const TICKET_VALIDATION_RESULT: JsonSchema = {
  type: 'object',
  required: ['valid', 'reason'],
  additionalProperties: true,
  properties: {
    valid: { type: 'boolean' },
    reason: { type: 'string' },
    code: { type: 'string', description: 'Why validation failed (EXPIRED, REPLAYED, MISMATCH …)' },
    ticket: { type: 'object', additionalProperties: true },
  },
};

/** Every error response: `{ error: { code, message } }`, code from the AgentSafeError table. */
export const ERROR_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, path: { type: 'string' } },
    },
  },
};

/** Response of /healthz and /readyz. */
export const HEALTH_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    checks: { type: 'object', additionalProperties: true },
  },
};

/** An approval request as the SDK gives it: params masked; an issued ticket without its token. */
export const APPROVAL_RECORD: JsonSchema = {
  type: 'object',
  required: ['id', 'status', 'action', 'target', 'caller', 'params', 'expiresAt', 'requiredApprovals'],
  additionalProperties: true,
  properties: {
    id: { type: 'string', description: 'apr- and 32 hex digits' },
    status: { type: 'string', enum: ['pending', 'approved', 'denied', 'expired', 'used'] },
    action: { type: 'string' },
    target: { type: 'string' },
    caller: { type: 'string', description: 'Agent id of the requester' },
    params: { ...stringMap, description: 'Sensitive values masked' },
    reason: { type: 'string' },
    createdAt: { type: 'integer', description: 'Milliseconds since the epoch' },
    expiresAt: { type: 'integer', description: 'Milliseconds since the epoch' },
    requiredApprovals: { type: 'integer' },
    approvals: { type: 'array', items: { type: 'object', additionalProperties: true } },
    denials: { type: 'array', items: { type: 'object', additionalProperties: true } },
    ticket: {
      oneOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }],
      description: 'The issued ticket without its token (only the requester gets that, through /wait)',
    },
  },
};

/** Response of GET /v1/approvals. */
export const APPROVAL_LIST_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['approvals'],
  properties: { approvals: { type: 'array', items: APPROVAL_RECORD } },
};

/** Body of POST /v1/approvals/{id}/approve and /deny: the approver is the bearer token, never a field. */
export const APPROVAL_VOTE_REQUEST: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { comment: { type: 'string', maxLength: 4096, description: 'Why (a change ticket …)' } },
};

/** Response of GET /v1/approvals/{id}/wait: the Decision once decided, else still pending. */
export const APPROVAL_WAIT_RESPONSE: JsonSchema = {
  oneOf: [
    DECISION,
    {
      type: 'object',
      required: ['status', 'approvalId'],
      properties: { status: { type: 'string', enum: ['pending'] }, approvalId: { type: 'string' } },
    },
  ],
};
