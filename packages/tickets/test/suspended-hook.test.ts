import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { type ExecutionTicket, ManualClock } from '@agent-safe/core';
import { TICKET_TYPE, TicketIssuer, TicketValidator } from '../src/index.js';
import { EXPECTED, REQUEST, SECRET, START, claims, segment } from './helpers.js';

// The kill switch's part in tickets: the delegation chain signed into a ticket (claim dch) and the
// validator's `suspended` hook, consulted before the nonce is spent.

function setup(suspended?: (ticket: ExecutionTicket) => string | undefined) {
  const clock = new ManualClock(START);
  return {
    issuer: new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock }),
    validator: new TicketValidator({
      algorithm: 'HS256',
      key: SECRET,
      clock,
      ...(suspended ? { suspended } : {}),
    }),
  };
}

function signed(payload: Record<string, unknown>): string {
  const header = segment({ alg: 'HS256', typ: TICKET_TYPE });
  const body = segment(payload);
  return `${header}.${body}.${createHmac('sha256', SECRET).update(`${header}.${body}`).digest('base64url')}`;
}

describe('the delegation chain in a ticket', () => {
  it('is signed as dch for a delegated caller and read back; a direct caller has none', async () => {
    const { issuer, validator } = setup();
    const delegated = await issuer.issue({ ...REQUEST, delegationChain: ['orchestrator', 'planner'] });
    expect(delegated.delegationChain).toEqual(['orchestrator', 'planner']);
    const payload = JSON.parse(Buffer.from(delegated.token.split('.')[1]!, 'base64url').toString('utf8'));
    expect(payload.dch).toEqual(['orchestrator', 'planner']);
    expect(await validator.validate(delegated.token, EXPECTED)).toMatchObject({
      valid: true,
      ticket: { delegationChain: ['orchestrator', 'planner'] },
    });
    const direct = await issuer.issue({ ...REQUEST, delegationChain: [] });
    expect(direct.delegationChain).toBeUndefined();
    expect(
      JSON.parse(Buffer.from(direct.token.split('.')[1]!, 'base64url').toString('utf8')),
    ).not.toHaveProperty('dch');
  });

  it('refuses a malformed chain at issue and in a token', async () => {
    const { issuer, validator } = setup();
    await expect(issuer.issue({ ...REQUEST, delegationChain: ['ok', 'bad\nid'] })).rejects.toThrow(
      /delegationChain\[1\]/,
    );
    await expect(issuer.issue({ ...REQUEST, delegationChain: Array(17).fill('a') })).rejects.toThrow(
      /at most 16 agent ids/,
    );
    for (const dch of [[], 'orchestrator', [1], Array(17).fill('a')]) {
      expect(await validator.validate(signed(claims({ dch })), EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
        reason: 'The ticket claim "dch" is not a list of 1-16 agent ids',
      });
    }
  });
});

describe('the suspended hook', () => {
  it('refuses the ticket with its reason, before the nonce is spent', async () => {
    let suspended = new Set(['orchestrator']);
    const seen: ExecutionTicket[] = [];
    const { issuer, validator } = setup((ticket) => {
      seen.push(ticket);
      const hit = [ticket.caller, ...(ticket.delegationChain ?? [])].find((id) => suspended.has(id));
      return hit ? `Refused because ${hit} is suspended` : undefined;
    });
    const ticket = await issuer.issue({ ...REQUEST, delegationChain: ['orchestrator'] });
    expect(await validator.validate(ticket.token, EXPECTED)).toEqual({
      valid: false,
      code: 'SUSPENDED',
      reason: 'Refused because orchestrator is suspended',
      ticket: expect.objectContaining({ caller: 'agent-01', delegationChain: ['orchestrator'] }),
    });
    suspended = new Set();
    // Not spent by the refusal: valid once the suspension is lifted, then single use as ever.
    expect(await validator.validate(ticket.token, EXPECTED)).toMatchObject({ valid: true });
    expect(await validator.validate(ticket.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'REPLAYED',
    });
    // Consulted on every validation that passed the other checks (the replay included).
    expect(seen).toHaveLength(3);
  });

  it('refuses when the hook throws (fail closed), and is not consulted for a bad signature', async () => {
    let calls = 0;
    const { issuer, validator } = setup(() => {
      calls++;
      throw new Error('list unavailable');
    });
    const ticket = await issuer.issue(REQUEST);
    expect(await validator.validate(ticket.token, EXPECTED)).toMatchObject({
      valid: false,
      code: 'SUSPENDED',
      reason: 'The suspension list could not be consulted: list unavailable',
    });
    expect(await validator.validate(`${ticket.token.slice(0, -4)}AAAA`, EXPECTED)).toMatchObject({
      code: 'SIGNATURE',
    });
    expect(calls).toBe(1);
    expect(() => new TicketValidator({ algorithm: 'HS256', key: SECRET, suspended: 'yes' as never })).toThrow(
      /suspended must be a function/,
    );
  });
});
