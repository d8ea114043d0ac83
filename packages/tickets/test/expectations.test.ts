import { describe, expect, it } from '@jest/globals';
import { AgentSafeError, ManualClock, type TicketExpectations } from '@agent-safe/core';
import { TicketIssuer, TicketValidator } from '../src/index.js';
import { EXPECTED, MemoryAuditSink, PARAMS, REQUEST, SECRET, START } from './helpers.js';

function setup(auditSink?: MemoryAuditSink) {
  const clock = new ManualClock(START);
  return {
    issuer: new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock }),
    validator: new TicketValidator({
      algorithm: 'HS256',
      key: SECRET,
      clock,
      ...(auditSink ? { auditSink } : {}),
    }),
  };
}

const omit = (field: 'action' | 'target' | 'params'): TicketExpectations => {
  const copy: Partial<TicketExpectations> = { ...EXPECTED };
  delete copy[field];
  return copy as TicketExpectations;
};

describe('a validator must be told which request the ticket is for', () => {
  it('refuses a ticket validated without expectations, and does not burn it', async () => {
    const { issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    const result = await (validator.validate as (token: unknown) => ReturnType<TicketValidator['validate']>)(
      ticket.token,
    );
    expect(result).toMatchObject({
      valid: false,
      code: 'EXPECTATION_MISSING',
      reason: expect.stringContaining('pass { action, target, params }'),
      // The claims verified, so they are shown; the result is still not valid.
      ticket: { nonce: ticket.nonce, action: REQUEST.action },
    });
    expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
  });

  it('refuses empty expectations, naming every missing field', async () => {
    const { issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    const result = await validator.validate(ticket.token, {} as TicketExpectations);
    expect(result).toMatchObject({ valid: false, code: 'EXPECTATION_MISSING' });
    expect(result.reason).toContain('action, target, params were not given');
  });

  it.each(['action', 'target', 'params'] as const)(
    'refuses expectations without %s, naming it',
    async (field) => {
      const { issuer, validator } = setup();
      const ticket = await issuer.issue(REQUEST);
      const result = await validator.validate(ticket.token, omit(field));
      expect(result).toMatchObject({
        valid: false,
        code: 'EXPECTATION_MISSING',
        reason: expect.stringContaining(`The expected ${field} was not given`),
      });
      // Undefined is the same as absent.
      expect(
        await validator.validate(ticket.token, { ...EXPECTED, [field]: undefined } as TicketExpectations),
      ).toMatchObject({ valid: false, code: 'EXPECTATION_MISSING' });
      expect((await validator.validate(ticket.token, EXPECTED)).valid).toBe(true);
    },
  );

  it('checks the caller only when it is given', async () => {
    const { issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    expect(await validator.validate(ticket.token, { ...EXPECTED, caller: 'someone-else' })).toMatchObject({
      code: 'CALLER_MISMATCH',
    });
    expect((await validator.validate(ticket.token, { ...EXPECTED, caller: REQUEST.caller })).valid).toBe(
      true,
    );
  });

  it('binds empty params: {} is an expectation, not an omission', async () => {
    const { issuer, validator } = setup();
    const none = await issuer.issue({ ...REQUEST, params: {} });
    expect((await validator.validate(none.token, { ...EXPECTED, params: {} })).valid).toBe(true);
    const some = await issuer.issue(REQUEST);
    expect(await validator.validate(some.token, { ...EXPECTED, params: {} })).toMatchObject({
      code: 'PARAMS_MISMATCH',
    });
    expect((await validator.validate(some.token, { ...EXPECTED, params: { ...PARAMS } })).valid).toBe(true);
  });

  it('require() throws TICKET_INVALID with EXPECTATION_MISSING', async () => {
    const { issuer, validator } = setup();
    const ticket = await issuer.issue(REQUEST);
    const error = await validator.require(ticket.token, omit('params')).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AgentSafeError);
    expect(error).toMatchObject({ code: 'TICKET_INVALID', details: { code: 'EXPECTATION_MISSING' } });
  });

  it('audits the refusal as INVALID', async () => {
    const sink = new MemoryAuditSink();
    const { issuer, validator } = setup(sink);
    const ticket = await issuer.issue(REQUEST);
    await validator.validate(ticket.token, omit('target'));
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({ decision: 'INVALID', failure_code: 'EXPECTATION_MISSING' });
  });
});
