import { type ApprovalRecord, type ExecutionTicket, ManualClock } from '@agent-safe/core';
import {
  type Approver,
  type NewApprovalInput,
  newApprovalRecord,
  resolveApprovalSettings,
} from '../src/index.js';

export const START = Date.parse('2026-03-03T12:00:00Z');

export const settings = resolveApprovalSettings({ approverRoles: ['approver'], thresholds: { critical: 2 } });

export function clock(): ManualClock {
  return new ManualClock(START);
}

export const requestInput: Omit<NewApprovalInput, 'id'> = {
  action: 'restart-deployment',
  target: 'prod/api-server',
  caller: 'deploy-bot',
  callerAuthenticated: true,
  delegationChain: ['orchestrator'],
  params: { namespace: 'prod', deployment: 'api-server' },
  maskedPaths: [],
  paramsDigest: 'a'.repeat(64),
  reason: 'Production needs approval',
  matchedRule: 'approve-prod',
  effectiveRisk: 'high',
  policyRevision: 'rev-1',
  ticketId: null,
  correlationId: null,
  auditId: 'evt-1',
};

export function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    ...newApprovalRecord({ ...requestInput, id: `apr-${'0'.repeat(32)}` }, settings, START),
    ...overrides,
  };
}

export function approver(agentId: string, overrides: Partial<Approver> = {}): Approver {
  return { agentId, roles: ['approver'], authenticated: true, delegationChain: [], ...overrides };
}

/** An execution ticket as an approved request would carry. */
export function ticket(token: string, expiresAt = Date.now() + 60_000): ExecutionTicket {
  return {
    token,
    nonce: `nonce-${token}`,
    action: requestInput.action,
    target: requestInput.target,
    caller: requestInput.caller,
    paramsDigest: requestInput.paramsDigest,
    auditId: `evt-${token}`,
    policyRevision: requestInput.policyRevision,
    issuer: 'agent-safe',
    issuedAt: expiresAt - 300_000,
    expiresAt,
  };
}
