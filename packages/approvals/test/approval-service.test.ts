import { describe, expect, it } from '@jest/globals';
import type { AuditEventBody } from '@agent-safe/core';
import { ApprovalService, MemoryApprovalStore, type ApprovalNotifier } from '../src/index.js';
import { approver, clock, requestInput, settings, ticket } from './helpers.js';

function service(options: { notifier?: ApprovalNotifier } = {}) {
  const events: AuditEventBody[] = [];
  const time = clock();
  const approvals = new ApprovalService({
    store: new MemoryApprovalStore(),
    settings,
    clock: time,
    audit: async (body) => {
      events.push(body);
    },
    ...options,
  });
  return { approvals, events, time };
}

describe('ApprovalService', () => {
  it('creates a request once for the same caller, action, target and params, and audits it', async () => {
    const notified: string[] = [];
    const { approvals, events } = service({
      notifier: { notify: (r) => notified.push(r.id), close: async () => undefined },
    });
    const first = await approvals.request(requestInput);
    const again = await approvals.request(requestInput);
    const other = await approvals.request({ ...requestInput, paramsDigest: 'b'.repeat(64) });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, record: { id: first.record.id } });
    expect(other.record.id).not.toBe(first.record.id);
    expect(first.record.id).toMatch(/^apr-[0-9a-f]{32}$/);
    expect(events.map((e) => e.event_type)).toEqual(['approval_requested', 'approval_requested']);
    expect(events[0]).toMatchObject({
      approval_id: first.record.id,
      decision_audit_id: 'evt-1',
      caller: 'deploy-bot',
    });
    expect(notified).toEqual([first.record.id, other.record.id]);
  });

  it('approves, audits the grant with the approver, and refuses with APPROVAL_REFUSED naming the reason', async () => {
    const { approvals, events } = service();
    const { record } = await approvals.request(requestInput);
    await expect(approvals.approve(record.id, { approver: approver('deploy-bot') })).rejects.toMatchObject({
      code: 'APPROVAL_REFUSED',
      details: { reason: 'SELF_APPROVAL' },
    });
    const approved = await approvals.approve(record.id, { approver: approver('alice'), comment: 'go' });
    expect(approved.status).toBe('approved');
    await expect(approvals.deny(record.id, { approver: approver('bob') })).rejects.toMatchObject({
      details: { reason: 'ALREADY_DECIDED' },
    });
    expect(events.at(-1)).toMatchObject({
      event_type: 'approval_granted',
      approver: 'alice',
      comment: 'go',
      approvals: 1,
    });
  });

  it('lets exactly one of two concurrent approvals of a one-approval request win', async () => {
    const { approvals } = service();
    const { record } = await approvals.request(requestInput);
    const results = await Promise.allSettled([
      approvals.approve(record.id, { approver: approver('alice') }),
      approvals.approve(record.id, { approver: approver('bob') }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((await approvals.get(record.id)).approvals).toHaveLength(1);
  });

  it('expires a pending request into a denial and audits the expiry once', async () => {
    const { approvals, events, time } = service();
    const { record } = await approvals.request(requestInput);
    time.advance(settings.ttlMs);
    expect((await approvals.get(record.id)).status).toBe('expired');
    expect((await approvals.get(record.id)).status).toBe('expired');
    await expect(approvals.approve(record.id, { approver: approver('alice') })).rejects.toMatchObject({
      details: { reason: 'ALREADY_DECIDED' },
    });
    expect(events.filter((e) => e.event_type === 'approval_expired')).toHaveLength(1);
    expect(await approvals.list({ status: 'pending' })).toEqual([]);
    expect((await approvals.list({ status: 'expired' })).map((r) => r.id)).toEqual([record.id]);
    // An expired request is not open: asking again creates a new one.
    expect((await approvals.request(requestInput)).created).toBe(true);
  });

  it('attaches one ticket only: concurrent collectors get the same ticket', async () => {
    const { approvals, events } = service();
    const { record } = await approvals.request(requestInput);
    await approvals.approve(record.id, { approver: approver('alice') });
    let minted = 0;
    const issue = async () => {
      minted += 1;
      return ticket(`t${minted}`);
    };
    const tickets = await Promise.all([
      approvals.attachTicket(record.id, issue),
      approvals.attachTicket(record.id, issue),
    ]);
    expect(tickets[0]).toEqual(tickets[1]);
    expect((await approvals.get(record.id)).status).toBe('used');
    expect(events.filter((e) => e.event_type === 'approval_ticket_issued')).toHaveLength(1);
    expect(await approvals.attachTicket(record.id, issue)).toEqual(tickets[0]);
  });

  it('refuses a ticket for a request that is not approved', async () => {
    const { approvals } = service();
    const { record } = await approvals.request(requestInput);
    await expect(approvals.attachTicket(record.id, async () => ticket('t', 0))).rejects.toMatchObject({
      code: 'APPROVAL_REFUSED',
    });
  });

  it('says what an approval id looks like when given a bad one, and which store lacks a good one', async () => {
    const { approvals } = service();
    await expect(approvals.get('../../etc/passwd')).rejects.toThrow(/apr- followed by 32 hex digits/);
    await expect(approvals.get(`apr-${'f'.repeat(32)}`)).rejects.toMatchObject({ code: 'APPROVAL_UNKNOWN' });
  });

  it('wakes every waiter when its request is decided, without waiting for the slice', async () => {
    const { approvals } = service();
    const records = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        approvals.request({ ...requestInput, paramsDigest: `${index}`.padStart(64, '0') }),
      ),
    );
    const started = Date.now();
    const waits = records.map(({ record }) => approvals.waitFor(record.id, { timeoutMs: 30_000 }));
    await Promise.all(
      records.map(({ record }, index) =>
        index % 2
          ? approvals.deny(record.id, { approver: approver('alice') })
          : approvals.approve(record.id, { approver: approver('alice') }),
      ),
    );
    const finished = await Promise.all(waits);
    expect(finished.map((r) => r.status)).toEqual(
      records.map((_, index) => (index % 2 ? 'denied' : 'approved')),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('returns the pending record when the wait times out or is aborted', async () => {
    const { approvals } = service();
    const { record } = await approvals.request(requestInput);
    expect((await approvals.waitFor(record.id, { timeoutMs: 20 })).status).toBe('pending');
    const controller = new AbortController();
    const waiting = approvals.waitFor(record.id, { timeoutMs: 30_000, signal: controller.signal });
    controller.abort();
    expect((await waiting).status).toBe('pending');
  });
});

describe('ApprovalService, after a ticket', () => {
  it('returns the used request while its ticket lives, and starts a new request once it has expired', async () => {
    const { approvals, time } = service();
    const { record } = await approvals.request(requestInput);
    await approvals.approve(record.id, { approver: approver('alice') });
    await approvals.attachTicket(record.id, async () => ticket('t', time.now() + 300_000));
    expect(await approvals.request(requestInput)).toMatchObject({
      created: false,
      record: { id: record.id, status: 'used' },
    });
    time.advance(300_000);
    const fresh = await approvals.request(requestInput);
    expect(fresh.created).toBe(true);
    expect(fresh.record.id).not.toBe(record.id);
  });
});
