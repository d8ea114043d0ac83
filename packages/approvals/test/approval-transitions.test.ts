import { describe, expect, it } from '@jest/globals';
import { castVote, resolveApprovalSettings } from '../src/index.js';
import { START, approver, record, settings } from './helpers.js';

describe('castVote', () => {
  it('approves with one approval when the risk needs one', () => {
    const outcome = castVote(
      record(),
      { approver: approver('alice'), verdict: 'approve', comment: 'ok' },
      settings,
      START,
    );
    expect(outcome).toMatchObject({ ok: true, record: { status: 'approved', version: 2, decidedAt: START } });
    if (outcome.ok)
      expect(outcome.record.approvals).toEqual([
        { approver: 'alice', roles: ['approver'], at: START, comment: 'ok' },
      ]);
  });

  it('needs two distinct approvers for critical risk, and the same approver counts once', () => {
    const critical = record({ effectiveRisk: 'critical', requiredApprovals: 2 });
    const first = castVote(critical, { approver: approver('alice'), verdict: 'approve' }, settings, START);
    expect(first).toMatchObject({ ok: true, record: { status: 'pending' } });
    if (!first.ok) return;
    const again = castVote(
      first.record,
      { approver: approver('alice'), verdict: 'approve' },
      settings,
      START,
    );
    expect(again).toMatchObject({ ok: false, code: 'ALREADY_VOTED' });
    const second = castVote(first.record, { approver: approver('bob'), verdict: 'approve' }, settings, START);
    expect(second).toMatchObject({ ok: true, record: { status: 'approved' } });
  });

  it('denies on one denial', () => {
    const outcome = castVote(
      record(),
      { approver: approver('alice'), verdict: 'deny', comment: 'not now' },
      settings,
      START,
    );
    expect(outcome).toMatchObject({
      ok: true,
      record: { status: 'denied', denials: [{ approver: 'alice' }] },
    });
  });

  it('refuses an unauthenticated approver', () => {
    const outcome = castVote(
      record(),
      { approver: approver('alice', { authenticated: false }), verdict: 'approve' },
      settings,
      START,
    );
    expect(outcome).toMatchObject({ ok: false, code: 'NOT_AUTHENTICATED' });
  });

  it('refuses an approver without an approver role, naming the roles', () => {
    const outcome = castVote(
      record(),
      { approver: approver('eve', { roles: ['deployer'] }), verdict: 'approve' },
      settings,
      START,
    );
    expect(outcome).toMatchObject({ ok: false, code: 'NOT_APPROVER' });
    if (!outcome.ok) expect(outcome.message).toContain('approver');
  });

  it('refuses self-approval by the requester, by its chain, and by an agent the requester delegated to', () => {
    for (const [who, overrides] of [
      ['deploy-bot', {}],
      ['orchestrator', {}],
      ['helper', { delegationChain: [{ agentId: 'deploy-bot' }] }],
    ] as const) {
      const outcome = castVote(
        record(),
        { approver: approver(who, overrides), verdict: 'approve' },
        settings,
        START,
      );
      expect(outcome).toMatchObject({ ok: false, code: 'SELF_APPROVAL' });
    }
  });

  it('expires into a denial: a vote after the expiry is refused and the record becomes expired', () => {
    const outcome = castVote(
      record(),
      { approver: approver('alice'), verdict: 'approve' },
      settings,
      START + settings.ttlMs,
    );
    expect(outcome).toMatchObject({ ok: false, code: 'EXPIRED', record: { status: 'expired', version: 2 } });
  });

  it('refuses votes on a request that is no longer pending', () => {
    for (const status of ['approved', 'denied', 'expired', 'used'] as const) {
      const outcome = castVote(
        record({ status }),
        { approver: approver('alice'), verdict: 'approve' },
        settings,
        START,
      );
      expect(outcome).toMatchObject({ ok: false, code: 'ALREADY_DECIDED' });
    }
  });

  it('requires a comment when configured, and refuses control characters in it', () => {
    const strict = resolveApprovalSettings({ approverRoles: ['approver'], requireComment: true });
    const pending = record({ requireComment: true });
    expect(
      castVote(pending, { approver: approver('alice'), verdict: 'approve' }, strict, START),
    ).toMatchObject({
      ok: false,
      code: 'COMMENT_REQUIRED',
    });
    expect(
      castVote(
        pending,
        { approver: approver('alice'), verdict: 'approve', comment: 'ok\u001b[2J' },
        strict,
        START,
      ),
    ).toMatchObject({ ok: false, code: 'COMMENT_INVALID' });
  });
});

describe('resolveApprovalSettings', () => {
  it('fills in defaults', () => {
    const resolved = resolveApprovalSettings({ approverRoles: ['approver'] });
    expect(resolved).toMatchObject({ ttlMs: 3_600_000, requireComment: false, dedupe: true });
    expect(resolved.thresholds).toEqual({ low: 1, medium: 1, high: 1, critical: 2 });
  });

  it('lists every problem with its path', () => {
    expect(() =>
      resolveApprovalSettings({
        approverRoles: [],
        ttlSeconds: 5,
        thresholds: { extreme: 2 } as never,
        bogus: 1,
      } as never),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: expect.arrayContaining([
          expect.objectContaining({ path: 'approvals.approverRoles' }),
          expect.objectContaining({ path: 'approvals.ttlSeconds' }),
          expect.objectContaining({ path: 'approvals.thresholds.extreme' }),
          expect.objectContaining({ path: 'approvals.bogus' }),
        ]),
      }),
    );
  });
});
