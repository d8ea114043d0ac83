import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { createSigningKey, type DelegationResult, IdentityManager, MAX_TOKEN_LENGTH } from '../src/index.js';
import { b64, claims, payloadOf, SECRET, signHs256, T0 } from './helpers.js';

async function setup() {
  const clock = new ManualClock(T0);
  const signingKey = await createSigningKey({ algorithm: 'HS256', material: SECRET });
  const manager = await IdentityManager.create({ algorithm: 'HS256', signingKey, clock });
  const root = await manager.createToken({
    agentId: 'orchestrator-01',
    roles: ['deployer', 'reader', 'admin'],
    groups: ['infra-team', 'security'],
    ttl: 3600,
  });
  return { clock, manager, root };
}

function tokenOf(result: DelegationResult): string {
  if (!result.success) throw new Error(`delegation refused: ${result.reason}`);
  return result.token;
}

describe('delegate', () => {
  it('builds a verified 3-level chain with narrowed scope and the chain root first', async () => {
    const { clock, manager, root } = await setup();
    clock.advance(10_000);
    const lead = await manager.delegate({
      parentToken: root,
      childAgentId: 'lead-01',
      childRoles: ['deployer', 'reader'],
      childGroups: ['infra-team'],
    });
    expect(lead).toMatchObject({ success: true, depth: 1, maxDepth: 3 });
    clock.advance(10_000);
    const worker = await manager.delegate({
      parentToken: tokenOf(lead),
      childAgentId: 'worker-01',
      childRoles: ['deployer'],
    });
    expect(worker.success && worker.chain.map((link) => link.agentId)).toEqual([
      'orchestrator-01',
      'lead-01',
    ]);
    const result = await manager.verify(tokenOf(worker));
    expect(result).toMatchObject({ ok: true, delegationDepth: 2, maxDelegationDepth: 3 });
    if (!result.ok) return;
    expect(result.caller).toEqual({
      agentId: 'worker-01',
      roles: ['deployer'],
      groups: ['infra-team'],
      authenticated: true,
      delegationChain: [
        {
          agentId: 'orchestrator-01',
          roles: ['deployer', 'reader', 'admin'],
          groups: ['infra-team', 'security'],
          delegatedAt: T0 / 1000 + 10,
        },
        {
          agentId: 'lead-01',
          roles: ['deployer', 'reader'],
          groups: ['infra-team'],
          delegatedAt: T0 / 1000 + 20,
        },
      ],
    });
    const display = await manager.verifyDelegation(tokenOf(worker));
    expect(display.ok && display.chain).toEqual(result.caller.delegationChain);
    expect(payloadOf(tokenOf(worker)).parent_token).toBe(tokenOf(lead));
  });

  it('inherits the parent scope by default and clamps an absent ttl to the parent’s life', async () => {
    const { clock, manager, root } = await setup();
    clock.advance(3000 * 1000);
    const child = await manager.delegate({ parentToken: root, childAgentId: 'worker-01' });
    expect(child).toMatchObject({ success: true, expiresAt: T0 + 3600_000 });
    const result = await manager.verify(tokenOf(child));
    expect(result.ok && result.caller.roles).toEqual(['deployer', 'reader', 'admin']);
    expect(result.ok && result.expiresAt).toBe(T0 + 3600_000);
  });

  it('refuses widening the roles, naming the extra roles', async () => {
    const { manager, root } = await setup();
    const lead = tokenOf(
      await manager.delegate({ parentToken: root, childAgentId: 'lead', childRoles: ['reader'] }),
    );
    const result = await manager.delegate({
      parentToken: lead,
      childAgentId: 'worker',
      childRoles: ['reader', 'admin'],
    });
    expect(result).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(result.success ? '' : result.reason).toContain('"admin"');
  });

  it('refuses widening the groups, naming the extra groups', async () => {
    const { manager, root } = await setup();
    const result = await manager.delegate({
      parentToken: root,
      childAgentId: 'worker',
      childGroups: ['payments'],
    });
    expect(result).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(result.success ? '' : result.reason).toContain('"payments"');
  });

  it('refuses an explicit ttl that outlives the parent', async () => {
    const { clock, manager, root } = await setup();
    clock.advance(3000 * 1000);
    const result = await manager.delegate({ parentToken: root, childAgentId: 'worker', ttl: 601 });
    expect(result).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(result.success ? '' : result.reason).toContain('outlive');
    expect(await manager.delegate({ parentToken: root, childAgentId: 'worker', ttl: 600 })).toMatchObject({
      success: true,
    });
  });

  it('refuses exceeding the depth limit, and raising it', async () => {
    const { manager, root } = await setup();
    const one = tokenOf(await manager.delegate({ parentToken: root, childAgentId: 'one', maxDepth: 1 }));
    const two = await manager.delegate({ parentToken: one, childAgentId: 'two' });
    expect(two).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(two.success ? '' : two.reason).toContain('depth 2');
    const raised = await manager.delegate({ parentToken: one, childAgentId: 'two', maxDepth: 5 });
    expect(raised).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(raised.success ? '' : raised.reason).toContain('raise');

    const defaultChain = [root];
    for (const agentId of ['a', 'b', 'c']) {
      defaultChain.push(
        tokenOf(await manager.delegate({ parentToken: defaultChain.at(-1)!, childAgentId: agentId })),
      );
    }
    expect(await manager.delegate({ parentToken: defaultChain.at(-1)!, childAgentId: 'd' })).toMatchObject({
      success: false,
      code: 'DELEGATION',
    });
  });

  it('honours a root token that forbids delegation', async () => {
    const { manager } = await setup();
    const root = await manager.createToken({ agentId: 'solo', maxDelegationDepth: 0 });
    expect(await manager.delegate({ parentToken: root, childAgentId: 'worker' })).toMatchObject({
      success: false,
      code: 'DELEGATION',
    });
  });

  it('refuses cycles, including delegating to oneself', async () => {
    const { manager, root } = await setup();
    const self = await manager.delegate({ parentToken: root, childAgentId: 'orchestrator-01' });
    expect(self).toMatchObject({ success: false, code: 'DELEGATION' });
    const b = tokenOf(await manager.delegate({ parentToken: root, childAgentId: 'b' }));
    const back = await manager.delegate({ parentToken: b, childAgentId: 'orchestrator-01' });
    expect(back).toMatchObject({ success: false, code: 'DELEGATION' });
    expect(back.success ? '' : back.reason).toContain('cycle');
  });

  it('refuses an invalid parent token with its specific reason', async () => {
    const { clock, manager, root } = await setup();
    expect(await manager.delegate({ parentToken: 'garbage', childAgentId: 'w' })).toMatchObject({
      success: false,
      code: 'MALFORMED',
    });
    clock.advance(2 * 3600 * 1000);
    const expired = await manager.delegate({ parentToken: root, childAgentId: 'w' });
    expect(expired).toMatchObject({ success: false, code: 'EXPIRED' });
    expect(expired.success ? '' : expired.reason).toContain('parent token refused');
  });

  it('refuses bad input as data', async () => {
    const { manager, root } = await setup();
    const bad = [
      { parentToken: root, childAgentId: '' },
      { parentToken: root, childAgentId: 'w', ttl: -5 },
      { parentToken: root, childAgentId: 'w', maxDepth: 0 },
      { parentToken: root, childAgentId: 'w', childRoles: 'admin' as unknown as string[] },
    ];
    for (const options of bad)
      expect(await manager.delegate(options)).toMatchObject({ success: false, code: 'INPUT_INVALID' });
  });

  it('bounds chain length: depth 10 is the hard cap at delegate and at verify', async () => {
    const { manager } = await setup();
    let token = await manager.createToken({ agentId: 'agent-0', roles: ['deployer'], ttl: 3600 });
    for (let index = 1; index <= 10; index += 1) {
      token = tokenOf(
        await manager.delegate({ parentToken: token, childAgentId: `agent-${index}`, maxDepth: 10 }),
      );
    }
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
    const tenth = await manager.verify(token);
    expect(tenth).toMatchObject({ ok: true, delegationDepth: 10 });
    expect(tenth.ok && tenth.caller.delegationChain.map((link) => link.agentId)).toEqual(
      Array.from({ length: 10 }, (_, index) => `agent-${index}`),
    );
    const eleventh = await manager.delegate({ parentToken: token, childAgentId: 'agent-11', maxDepth: 10 });
    expect(eleventh).toMatchObject({ success: false, code: 'DELEGATION' });
    const forcedEleventh = await signHs256(
      claims(T0 / 1000, {
        sub: 'agent-11',
        agent_id: 'agent-11',
        roles: [],
        max_depth: 10,
        parent_token: token,
      }),
    );
    const refused = await manager.verify(forcedEleventh);
    expect(refused).toMatchObject({ ok: false, code: 'DELEGATION' });
    expect(refused.ok ? '' : refused.reason).toContain('depth 11');
  });
});

describe('verify re-checks every delegation link', () => {
  it('refuses a child whose embedded parent token was tampered with', async () => {
    const { manager, root } = await setup();
    const child = tokenOf(
      await manager.delegate({ parentToken: root, childAgentId: 'worker', childRoles: ['reader'] }),
    );
    // Altering the embedded parent inside the child breaks the child's own signature…
    const [header, payload, signature] = child.split('.');
    const parentParts = root.split('.');
    const tamperedRoot = `${parentParts[0]}.${b64({ ...payloadOf(root), roles: ['reader', 'superuser'] })}.${parentParts[2]}`;
    const altered = b64({
      ...JSON.parse(Buffer.from(payload!, 'base64url').toString()),
      parent_token: tamperedRoot,
    });
    expect(await manager.verify(`${header}.${altered}.${signature}`)).toMatchObject({
      ok: false,
      code: 'SIGNATURE',
    });
    // …and a correctly signed child cannot smuggle a tampered parent either: each link is verified.
    const now = T0 / 1000;
    const resigned = await signHs256(
      claims(now, {
        sub: 'worker',
        agent_id: 'worker',
        roles: ['superuser'],
        max_depth: 3,
        parent_token: tamperedRoot,
      }),
    );
    const result = await manager.verify(resigned);
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE' });
    expect(result.ok ? '' : result.reason).toContain('delegating parent of worker');
  });

  it('refuses a chain rooted in a token from another key', async () => {
    const { manager } = await setup();
    const otherKey = await createSigningKey({ algorithm: 'HS256', material: `${SECRET}-other` });
    const forger = await IdentityManager.create({
      algorithm: 'HS256',
      signingKey: otherKey,
      clock: new ManualClock(T0),
    });
    const forgedRoot = await forger.createToken({ agentId: 'orchestrator-01', roles: ['admin'] });
    const child = await signHs256(
      claims(T0 / 1000, {
        sub: 'w',
        agent_id: 'w',
        roles: ['admin'],
        max_depth: 3,
        parent_token: forgedRoot,
      }),
    );
    expect(await manager.verify(child)).toMatchObject({ ok: false, code: 'SIGNATURE' });
  });

  it('refuses signed children that break the link rules', async () => {
    const { manager, root } = await setup();
    const now = T0 / 1000;
    const child = (extra: Record<string, unknown>) =>
      signHs256(
        claims(now, {
          sub: 'w',
          agent_id: 'w',
          roles: ['reader'],
          max_depth: 3,
          parent_token: root,
          ...extra,
        }),
      );
    const cases: [Record<string, unknown>, string][] = [
      [{ roles: ['root-access'] }, 'roles'],
      [{ groups: ['payments'] }, 'groups'],
      [{ exp: now + 3601 }, 'outlives'],
      [{ sub: 'orchestrator-01', agent_id: 'orchestrator-01' }, 'cycle'],
      [{ max_depth: 0 }, 'exceeds'],
    ];
    for (const [extra, mention] of cases) {
      const result = await manager.verify(await child(extra));
      expect(result).toMatchObject({ ok: false, code: 'DELEGATION' });
      expect(result.ok ? '' : result.reason).toContain(mention);
    }
    const limited = await manager.createToken({
      agentId: 'limited',
      roles: ['reader'],
      maxDelegationDepth: 1,
    });
    const raised = await signHs256(
      claims(now, { sub: 'w', agent_id: 'w', roles: ['reader'], max_depth: 5, parent_token: limited }),
    );
    const result = await manager.verify(raised);
    expect(result).toMatchObject({ ok: false, code: 'DELEGATION' });
    expect(result.ok ? '' : result.reason).toContain('raises');
  });

  it('refuses a delegated token once an ancestor would be expired', async () => {
    const { clock, manager, root } = await setup();
    const child = tokenOf(await manager.delegate({ parentToken: root, childAgentId: 'w' }));
    clock.advance((3600 + 31) * 1000);
    expect(await manager.verify(child)).toMatchObject({ ok: false, code: 'EXPIRED' });
  });
});
