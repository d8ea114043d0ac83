import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { TICKET_TYPE, TicketIssuer, TicketValidator, ticketParamsDigest } from '../src/index.js';
import { EXPECTED, PARAMS, REQUEST, SECRET, START, claims, segment } from './helpers.js';

function hs256(payload: Record<string, unknown>): string {
  const input = `${segment({ alg: 'HS256', typ: TICKET_TYPE })}.${segment(payload)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

describe('control characters in ticket ids', () => {
  it.each(['caller', 'action', 'target', 'auditId', 'policyRevision'] as const)(
    'the issuer refuses a %s with a newline or escape sequence',
    async (field) => {
      const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
      for (const bad of ['x\nforged line', '\u001b[2Jx', 'x\u202e']) {
        await expect(issuer.issue({ ...REQUEST, [field]: bad })).rejects.toMatchObject({
          code: 'INPUT_INVALID',
          message: expect.stringContaining('without control characters'),
        });
        const error = await issuer.issue({ ...REQUEST, [field]: bad }).catch((caught: unknown) => caught);
        // The offending value is shown escaped, never raw.
        const shown = `${(error as Error).message} ${JSON.stringify((error as { issues: unknown }).issues)}`;
        for (const raw of ['\n', '\u001b', '\u202e']) expect(shown.includes(raw)).toBe(false);
      }
    },
  );

  it.each(['sub', 'act', 'tgt', 'aid', 'rev', 'jti'])(
    'the validator refuses a ticket signed elsewhere with a control character in "%s"',
    async (claim) => {
      const validator = new TicketValidator({
        algorithm: 'HS256',
        key: SECRET,
        clock: new ManualClock(START),
      });
      const pdg = ticketParamsDigest(PARAMS);
      const token = hs256(claims({ pdg, [claim]: 'value\r\nInjected: yes' }));
      expect(await validator.validate(token, EXPECTED)).toMatchObject({
        valid: false,
        code: 'MALFORMED',
        reason: expect.stringContaining(`"${claim}"`),
      });
      expect((await validator.validate(hs256(claims({ pdg })), EXPECTED)).valid).toBe(true);
    },
  );
});
