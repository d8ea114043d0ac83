import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { verifyAuditLog } from '@agent-safe/audit';
import { ManualClock } from '@agent-safe/core';
import { AgentSafe, AgentSafeError, IdentityManager, TicketValidator } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

const SECRET = 'k'.repeat(48);
const START = Date.parse('2026-03-03T12:00:00Z');

function open(dir: string, security: Record<string, unknown> = {}, clock = new ManualClock(START)) {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    clock,
    security: { signingKey: SECRET, ...security },
  });
}

const scaleStaging = { namespace: 'staging', deployment: 'app', replicas: 3 };

describe('identity tokens as callers', () => {
  it('verifies the token, feeds its roles to the policy and records an authenticated caller', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const token = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'staging/app',
      caller: token,
      params: scaleStaging,
    });
    expect(decision.result).toBe('ALLOW');
    expect(decision.matchedRule).toBe('deployers-staging');
    expect(decision.caller).toBe('deploy-bot');
    expect(decision.callerAuthenticated).toBe(true);
    const noRole = await safe.identity.createToken({ agentId: 'chat-bot' });
    expect(
      (
        await safe.check({
          action: 'scale-deployment',
          target: 'staging/app',
          caller: noRole,
          params: scaleStaging,
        })
      ).result,
    ).toBe('DENY');
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ caller: 'deploy-bot', caller_authenticated: true, decision: 'ALLOW' });
  });

  it('denies a token that fails verification, with the reason, and never falls back to a plain id', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(dir, {}, clock);
    const token = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'], ttl: 60 });
    clock.advance(10 * 60_000);
    const expired = await safe.check({
      action: 'scale-deployment',
      target: 'dev/app',
      caller: token,
      params: { namespace: 'd', deployment: 'a', replicas: 1 },
    });
    expect(expired.result).toBe('DENY');
    expect(expired.reason).toMatch(/identity token refused \(EXPIRED\)/);
    expect(expired.errors[0]).toMatchObject({ code: 'IDENTITY_INVALID', path: 'caller' });

    const other = await IdentityManager.create({
      algorithm: 'HS256',
      signingKey: await (await import('@agent-safe/identity')).createSigningKey({
        algorithm: 'HS256',
        material: 'x'.repeat(48),
      }),
      clock,
    });
    const forged = await other.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const denied = await safe.check({
      action: 'scale-deployment',
      target: 'dev/app',
      caller: forged,
      params: { namespace: 'd', deployment: 'a', replicas: 1 },
    });
    expect(denied.result).toBe('DENY');
    expect(denied.reason).toMatch(/SIGNATURE/);
    expect(denied.caller).toBe('(unverified token)');
    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.map((event) => [event.decision, event.caller, event.caller_authenticated])).toEqual([
      ['DENY', '(unverified token)', false],
      ['DENY', '(unverified token)', false],
    ]);
  });

  it('refuses plain caller ids unless allowPlainCallers is set, and then records them unauthenticated', async () => {
    const dir = copyProject();
    const strict = open(dir);
    const refused = await strict.check({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-bot',
      params: { namespace: 'd', deployment: 'a' },
    });
    expect(refused.result).toBe('DENY');
    expect(refused.reason).toMatch(/identity token is required/);
    await strict.close();
    const lax = open(dir, { allowPlainCallers: true });
    const accepted = await lax.check({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'deploy-bot',
      params: { namespace: 'd', deployment: 'a' },
    });
    expect(accepted.result).toBe('ALLOW');
    expect(accepted.callerAuthenticated).toBe(false);
    await lax.close();
  });

  it('fails closed when the signing key is unusable', async () => {
    const dir = copyProject();
    const safe = open(dir, { signingKey: 'too-short' });
    await expect(safe.ready()).rejects.toThrow(AgentSafeError);
    const decision = await safe.check({
      action: 'restart-deployment',
      target: 'dev/app',
      caller: 'x',
      params: { namespace: 'd', deployment: 'a' },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.errors[0]?.code).toBe('KEY_INVALID');
    await safe.close();
  });
});

describe('execution tickets', () => {
  it('issues a ticket on ALLOW only, bound to the request, that an executor validates once', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(dir, {}, clock);
    const token = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const allowed = await safe.check({
      action: 'scale-deployment',
      target: 'staging/app',
      caller: token,
      params: scaleStaging,
    });
    expect(allowed.ticket).toMatchObject({
      action: 'scale-deployment',
      target: 'staging/app',
      caller: 'deploy-bot',
      auditId: allowed.auditId,
    });
    expect(allowed.ticket?.expiresAt).toBe(START + 300_000);
    const approval = await safe.check({
      action: 'restart-deployment',
      target: 'prod/app',
      caller: token,
      params: { namespace: 'p', deployment: 'a' },
    });
    expect(approval.result).toBe('REQUIRE_APPROVAL');
    expect(approval.ticket).toBeNull();

    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock });
    const tampered = await validator.validate(allowed.ticket!.token, {
      action: 'scale-deployment',
      target: 'staging/app',
      params: { ...scaleStaging, replicas: 30 },
    });
    expect(tampered).toMatchObject({ valid: false, code: 'PARAMS_MISMATCH' });
    const first = await validator.validate(allowed.ticket!.token, {
      action: 'scale-deployment',
      target: 'staging/app',
      params: { replicas: 3, deployment: 'app', namespace: 'staging' },
    });
    expect(first.valid).toBe(true);
    const replay = await validator.validate(allowed.ticket!.token, {
      action: 'scale-deployment',
      target: 'staging/app',
      params: scaleStaging,
    });
    expect(replay).toMatchObject({ valid: false, code: 'REPLAYED' });
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event?.execution_ticket).toEqual({
      nonce: allowed.ticket!.nonce,
      expires_at: new Date(START + 300_000).toISOString(),
    });
    expect((await verifyAuditLog(join(dir, 'audit.jsonl'))).ok).toBe(true);
  });
});

describe('audited ticket validation', () => {
  it('records every validation outcome in the same chained log', async () => {
    const dir = copyProject();
    const clock = new ManualClock(START);
    const safe = open(dir, { signingAlgorithm: 'EdDSA', signingKey: undefined }, clock);
    expect(() => safe.identity).toThrow();
    await safe.close();
    const hs = open(dir, {}, clock);
    const token = await hs.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const decision = await hs.check({
      action: 'scale-deployment',
      target: 'staging/app',
      caller: token,
      params: scaleStaging,
    });
    const validator = await hs.createTicketValidator();
    const expected = { action: 'scale-deployment', target: 'staging/app', params: scaleStaging };
    expect((await validator.validate(decision.ticket!.token, expected)).valid).toBe(true);
    expect((await validator.validate(decision.ticket!.token, expected)).valid).toBe(false);
    await hs.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.map((event) => [event.event_type, event.decision, event.failure_code ?? null])).toEqual([
      ['decision', 'ALLOW', null],
      ['ticket_validation', 'VALID', null],
      ['ticket_validation', 'INVALID', 'REPLAYED'],
    ]);
    expect(events[1]?.audit_ref).toBe(decision.auditId);
    expect((await verifyAuditLog(join(dir, 'audit.jsonl'))).ok).toBe(true);
  });
});

describe('delegation', () => {
  it('narrows scope, records the chain, and feeds delegated_from rules', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const parent = await safe.identity.createToken({
      agentId: 'orchestrator-01',
      roles: ['deployer', 'reader'],
    });
    const widened = await safe.delegate({
      parentToken: parent,
      childAgentId: 'worker-7',
      childRoles: ['admin'],
    });
    expect(widened.success).toBe(false);
    const child = await safe.delegate({
      parentToken: parent,
      childAgentId: 'worker-7',
      childRoles: ['reader'],
    });
    if (!child.success) throw new Error(child.reason);
    const decision = await safe.check({
      action: 'update-configmap',
      target: 'staging/app',
      caller: child.token,
      params: { namespace: 's', configmap: 'c', key: 'k', value: 'v' },
    });
    expect([decision.result, decision.reason]).toEqual([
      'ALLOW',
      'Work delegated by the orchestrator may edit staging config',
    ]);
    expect(decision.matchedRule).toBe('orchestrated-staging');
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({
      caller: 'worker-7',
      caller_authenticated: true,
      delegation_chain: ['orchestrator-01'],
    });
  });
});

describe('agent-safe.yaml key sources', () => {
  it('reads the signing key from an environment variable and refuses a literal key', async () => {
    const dir = copyProject();
    process.env.AGENT_SAFE_TEST_KEY = SECRET;
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      'signing_key: env:AGENT_SAFE_TEST_KEY\nallow_plain_callers: false\naudit_log: ./a.jsonl\n',
    );
    const safe = new AgentSafe({ cwd: dir, clock: new ManualClock(START) });
    const token = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock: new ManualClock(START) });
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'staging/app',
      caller: token,
      params: scaleStaging,
    });
    expect(decision.result).toBe('ALLOW');
    expect(
      (
        await validator.validate(decision.ticket!.token, {
          action: 'scale-deployment',
          target: 'staging/app',
          params: scaleStaging,
        })
      ).valid,
    ).toBe(true);
    await safe.close();
    writeFileSync(join(dir, 'agent-safe.yaml'), `signing_key: "${SECRET} literal"\n`);
    expect(() => new AgentSafe({ cwd: dir })).toThrow(AgentSafeError);
    try {
      new AgentSafe({ cwd: dir });
    } catch (error) {
      expect((error as AgentSafeError).describe()).toMatch(
        /signing_key: expected a key source, env:NAME or file:PATH/,
      );
    }
  });
});
