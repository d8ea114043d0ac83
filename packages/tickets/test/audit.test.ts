import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { TicketIssuer, TicketValidator } from '../src/index.js';
import { EXPECTED, MemoryAuditSink, OTHER_SECRET, REQUEST, SECRET, START } from './helpers.js';

function setup() {
  const clock = new ManualClock(START);
  const auditSink = new MemoryAuditSink();
  return {
    auditSink,
    issuer: new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock }),
    validator: new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, auditSink }),
  };
}

describe('audit of validations', () => {
  it('records a valid outcome with the ticket nonce and the issuing audit id', async () => {
    const { auditSink, issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
    expect(auditSink.events).toEqual([
      {
        event_id: expect.stringMatching(/^evt-[0-9a-f]{32}$/),
        timestamp: new Date(START).toISOString(),
        event_type: 'ticket_validation',
        action: 'restart-deployment',
        target: 'dev/test-app',
        caller: 'agent-01',
        decision: 'VALID',
        reason: expect.stringContaining('Valid ticket'),
        ticket_nonce: ticket.nonce,
        audit_ref: 'evt-0001',
        failure_code: null,
        policy_revision: 'rev-42',
      },
    ]);
  });

  it('records invalid outcomes, with the failure code, for replays and mismatches', async () => {
    const { auditSink, issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    await validator.validate(ticket.token, { ...EXPECTED, target: 'prod/payments' });
    await validator.validate(ticket.token, EXPECTED);
    await validator.validate(ticket.token, EXPECTED);
    expect(auditSink.events.map((event) => [event.decision, event.failure_code, event.ticket_nonce])).toEqual(
      [
        ['INVALID', 'TARGET_MISMATCH', ticket.nonce],
        ['VALID', null, ticket.nonce],
        ['INVALID', 'REPLAYED', ticket.nonce],
      ],
    );
  });

  it('never records unverified claims of a forged ticket, only what the executor expected', async () => {
    const { auditSink, validator } = setup();
    const forger = new TicketIssuer({ algorithm: 'HS256', key: OTHER_SECRET, clock: new ManualClock(START) });
    const forged = await forger.issue({ ...REQUEST, action: 'delete-namespace', caller: 'mallory' });
    await validator.validate(forged.token, { ...EXPECTED, action: 'restart-deployment' });
    expect(auditSink.events).toHaveLength(1);
    expect(auditSink.events[0]).toMatchObject({
      decision: 'INVALID',
      failure_code: 'SIGNATURE',
      action: 'restart-deployment',
      ticket_nonce: null,
      audit_ref: null,
    });
    expect(auditSink.events[0]).not.toHaveProperty('caller');
  });

  it('refuses a valid ticket when its validation cannot be audited', async () => {
    const { auditSink, issuer, validator } = setup();
    auditSink.failWith = new Error('disk full');
    const ticket = await issuer.issue(REQUEST);
    const result = await validator.validate(ticket.token, EXPECTED);
    expect(result).toMatchObject({
      valid: false,
      code: 'AUDIT',
      reason: expect.stringMatching(/audit log \(disk full\)/),
    });
  });
});
