import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { createSigningKey, IdentityManager } from '../src/index.js';
import { claims, SECRET, signHs256, T0 } from './helpers.js';

const UNSAFE = [
  'bot\nFAKE LINE',
  'bot\r',
  '\u001b[31mred',
  'a\u0000b',
  'del\u007f',
  'csi\u009b',
  'sep\u2028',
  'rtl\u202e',
  'iso\u2066',
];

/** [printable label, value]: test names must not send the characters under test to the terminal. */
const CASES = UNSAFE.map(
  (value) =>
    [
      value.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
      value,
    ] as const,
);

async function manager() {
  const signingKey = await createSigningKey({ algorithm: 'HS256', material: SECRET });
  return IdentityManager.create({ algorithm: 'HS256', signingKey, clock: new ManualClock(T0) });
}

describe('control characters in ids are refused', () => {
  it.each(CASES)('createToken refuses %s as agent id, name, role or group', async (_label, bad) => {
    const identity = await manager();
    for (const [field, options] of [
      ['agentId', { agentId: bad }],
      ['agentName', { agentId: 'bot', agentName: bad }],
      ['roles', { agentId: 'bot', roles: ['deployer', bad] }],
      ['groups', { agentId: 'bot', groups: [bad] }],
    ] as const) {
      const error = await identity.createToken(options).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'INPUT_INVALID' });
      expect((error as Error).message).toMatch(new RegExp(`^${field} .*must not contain control characters`));
    }
  });

  it('delegate refuses a child id, name, role or group with control characters', async () => {
    const identity = await manager();
    const parentToken = await identity.createToken({ agentId: 'lead', roles: ['deployer'], groups: ['g'] });
    for (const [field, extra] of [
      ['childAgentId', { childAgentId: 'worker\n' }],
      ['childAgentName', { childAgentId: 'worker', childAgentName: 'w\u001b]0;x' }],
      ['childRoles', { childAgentId: 'worker', childRoles: ['deployer\u202e'] }],
      ['childGroups', { childAgentId: 'worker', childGroups: ['g\u2029'] }],
    ] as const) {
      const result = await identity.delegate({ parentToken, ...extra });
      expect(result).toMatchObject({
        success: false,
        code: 'INPUT_INVALID',
        reason: expect.stringMatching(new RegExp(`^${field} .*must not contain control characters`)),
      });
    }
    expect((await identity.delegate({ parentToken, childAgentId: 'worker' })).success).toBe(true);
  });

  it.each([
    ['sub', { sub: 'bot\nx', agent_id: 'bot\nx' }],
    ['agent_name', { agent_name: 'Bot\u001b[2J' }],
    ['roles', { roles: ['reader', 'admin\r\n'] }],
    ['groups', { groups: ['ops\u202e'] }],
    ['jti', { jti: 'id\u0007' }],
  ] as const)(
    'verify refuses a token minted elsewhere with a control character in %s',
    async (claim, extra) => {
      const identity = await manager();
      const now = Math.floor(T0 / 1000);
      const token = await signHs256(claims(now, extra));
      const result = await identity.verify(token);
      expect(result).toMatchObject({
        ok: false,
        code: 'CLAIMS',
        reason: expect.stringMatching(new RegExp(`^claim "${claim}" .*must not contain control characters`)),
      });
      // A delegated token whose parent carries such an id is refused too.
      const child = await signHs256(
        claims(now, {
          sub: 'child',
          agent_id: 'child',
          roles: [],
          groups: [],
          max_depth: 3,
          parent_token: token,
        }),
      );
      expect(await identity.verify(child)).toMatchObject({ ok: false, code: 'CLAIMS' });
    },
  );

  it('still accepts ordinary Unicode ids', async () => {
    const identity = await manager();
    const token = await identity.createToken({
      agentId: 'déploiement-bot 01',
      roles: ['déployeur'],
      groups: ['équipe'],
    });
    expect(await identity.verify(token)).toMatchObject({
      ok: true,
      caller: { agentId: 'déploiement-bot 01' },
    });
  });
});
