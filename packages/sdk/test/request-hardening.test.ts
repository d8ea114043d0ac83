import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type Caller, ManualClock, REQUEST_VALUE_LIMITS } from '@agent-safe/core';
import { AgentSafe, type AgentSafeOptions } from '../src/index.js';
import { copyProject as copyFixture, readJsonl } from './helpers.js';

/** The fixture project plus an action with sensitive, constrained params. */
function copyProject(): string {
  const dir = copyFixture();
  writeFileSync(join(dir, 'actions', 'rotate-credential.yaml'), ROTATE_CREDENTIAL);
  return dir;
}

const ROTATE_CREDENTIAL = `name: rotate-credential
version: "1.0.0"
description: Stores a new credential value for a Deployment (test fixture for sensitive params).
parameters:
  - name: namespace
    type: string
    required: true
  - name: deployment
    type: string
    required: true
  - name: secret_value
    type: string
    required: true
    sensitive: true
    constraints:
      min_length: 8
      max_length: 40
      pattern: "^[A-Za-z0-9]+$"
  - name: pin
    type: integer
    required: false
    sensitive: true
    constraints:
      min_value: 1000
      max_value: 9999
risk_class: low
target_types: [k8s-deployment]
reversible: false
tags: [test]
`;

// Regression tests for issue 8: what a hostile or careless request can make check() do, print or log.

const SECRET = 's'.repeat(48);

function open(dir: string, options: Partial<AgentSafeOptions> = {}): AgentSafe {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    auditDurability: 'write',
    config: false,
    clock: new ManualClock(Date.parse('2026-03-03T12:00:00Z')),
    ...options,
  });
}

const restart = { action: 'restart-deployment', target: 'dev/app', caller: 'agent-01' };

describe('params and context are bounded at the door', () => {
  it('denies megabytes of list items, records the DENY without them, and the decision serialises', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const items = Array.from({ length: 30_000 }, () => 'x'.repeat(100));
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app', extra: items },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/params hold more than (10000 values|262144 characters)/);
    expect(decision.errors[0]).toMatchObject({ code: 'INPUT_INVALID' });
    expect(decision.auditId).toMatch(/^evt-/);
    expect(JSON.stringify(decision).length).toBeLessThan(10_000);
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ decision: 'DENY', caller: 'agent-01', params: {}, params_omitted: true });
  });

  it('denies params nested 20,000 deep without a RangeError, in check() and in JSON output', async () => {
    const dir = copyProject();
    const safe = open(dir);
    let nested: unknown = 'leaf';
    for (let depth = 0; depth < 20_000; depth++) nested = [nested];
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app', command: nested },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toContain(`nested more than ${REQUEST_VALUE_LIMITS.maxDepth} levels deep`);
    expect(() => JSON.stringify(decision)).not.toThrow();
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ decision: 'DENY', params: {}, params_omitted: true });
  });

  it('refuses values with no JSON form, naming the param', async () => {
    const safe = open(copyProject(), { auditLog: false });
    for (const [value, message] of [
      [Number.NaN, /no JSON form \(NaN\)/],
      [10n, /bigint/],
      [new Date(0), /not plain JSON/],
      [() => 1, /function/],
    ] as const) {
      const decision = await safe.check({
        ...restart,
        params: { namespace: 'dev', deployment: 'app', bad: value },
      });
      expect(decision.result).toBe('DENY');
      expect(decision.reason).toMatch(message);
      expect(decision.errors[0]?.path).toBe('params.bad');
    }
  });

  it('counts the values of a wide flat object', async () => {
    const safe = open(copyProject(), { auditLog: false });
    const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, index) => [`k${index}`, 'v']));
    const decision = await safe.check({ ...restart, params: { namespace: 'dev', deployment: 'app', wide } });
    expect(decision.reason).toMatch(/params hold more than 10000 values/);
  });

  it('bounds context the same way and does not record a refused context', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      context: { blob: 'y'.repeat(REQUEST_VALUE_LIMITS.maxTextLength + 1) },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/context hold more than/);
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event?.context).toBeNull();
    expect(event?.params).toEqual({ namespace: 'dev', deployment: 'app' });
  });

  it('still allows ordinary params at the limits', async () => {
    const safe = open(copyProject(), { auditLog: false });
    const decision = await safe.check({ ...restart, params: { namespace: 'dev', deployment: 'app' } });
    expect(decision.result).toBe('ALLOW');
  });
});

describe('a dry run issues no ticket', () => {
  it('gives ALLOW with no ticket and no audit id when auditing is off', async () => {
    const safe = open(copyProject(), {
      auditLog: false,
      security: { signingKey: SECRET, allowPlainCallers: true },
    });
    const decision = await safe.check({ ...restart, params: { namespace: 'dev', deployment: 'app' } });
    expect(decision.result).toBe('ALLOW');
    expect(decision.ticket).toBeNull();
    expect(decision.auditId).toBe('');
  });

  it('issues a ticket naming a written audit event when auditing is on', async () => {
    const dir = copyProject();
    const safe = open(dir, { security: { signingKey: SECRET, allowPlainCallers: true } });
    const decision = await safe.check({ ...restart, params: { namespace: 'dev', deployment: 'app' } });
    expect(decision.ticket?.token).toBeTruthy();
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event?.event_id).toBe(decision.auditId);
  });
});

describe('sensitive params never reach a message', () => {
  const secret = 'hunter2-NOT-ALNUM-topsecret';
  const request = {
    action: 'rotate-credential',
    target: 'dev/app',
    caller: 'agent-01',
    params: { namespace: 'dev', deployment: 'app', secret_value: secret },
  };

  it('keeps a value that fails its pattern out of reason, errors, explanation and the audit event', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decision = await safe.check(request);
    expect(decision.result).toBe('DENY');
    const printed = JSON.stringify(decision);
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain('topsecret');
    await safe.close();
    const raw = (await readJsonl(join(dir, 'audit.jsonl'))).map((event) => JSON.stringify(event)).join('\n');
    expect(raw).not.toContain('hunter2');
    expect(raw).not.toContain('topsecret');
    expect(raw).toContain('params.secret_value');
  });

  it('masks sensitive numbers out of range too', async () => {
    const safe = open(copyProject(), { auditLog: false });
    const decision = await safe.check({
      ...request,
      params: { namespace: 'dev', deployment: 'app', secret_value: 'abcdefgh1', pin: 123456 },
    });
    expect(decision.result).toBe('DENY');
    expect(JSON.stringify(decision)).not.toContain('123456');
  });
});

describe('roles come from verified tokens, not from caller objects', () => {
  const scale = {
    action: 'scale-deployment',
    target: 'staging/app',
    params: { namespace: 'staging', deployment: 'app', replicas: 3 },
  };
  const mallory: Caller = {
    agentId: 'mallory',
    roles: ['deployer'],
    groups: [],
    authenticated: true,
    delegationChain: [],
  };

  it('ignores the roles an unauthenticated caller object claims', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const decision = await safe.check({ ...scale, caller: mallory });
    expect(decision.result).toBe('DENY');
    expect(decision.caller).toBe('mallory');
    expect(decision.callerAuthenticated).toBe(false);
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ caller: 'mallory', caller_authenticated: false });
    expect(event).not.toHaveProperty('caller_claims');
  });

  it('uses them when the host opts in, and the audit event says the host asserted them', async () => {
    const dir = copyProject();
    const safe = open(dir, { trustCallerObjects: true });
    const decision = await safe.check({ ...scale, caller: mallory });
    expect(decision.result).toBe('ALLOW');
    expect(decision.callerAuthenticated).toBe(false);
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({
      caller_claims: 'host',
      caller_roles: ['deployer'],
      caller_authenticated: false,
    });
  });

  it('refuses plain caller objects when identity is configured and plain callers are not allowed', async () => {
    const safe = open(copyProject(), { auditLog: false, security: { signingKey: SECRET } });
    const decision = await safe.check({ ...scale, caller: mallory });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/identity token is required/);
  });
});

describe('every request is attributed to whoever presented it', () => {
  const oversize = 'c'.repeat(600);

  it.each([
    ['correlationId', { correlationId: oversize }],
    ['ticketId', { ticketId: oversize }],
    ['target', { target: oversize }],
  ])('an oversize %s is DENY recorded with the verified caller', async (field, extra) => {
    const dir = copyProject();
    const safe = open(dir, { security: { signingKey: SECRET } });
    const token = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      caller: token,
      ...extra,
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toContain(`${field} must be at most 512 characters`);
    expect(decision.caller).toBe('deploy-bot');
    expect(decision.callerAuthenticated).toBe(true);
    await safe.close();
    const [event] = await readJsonl(join(dir, 'audit.jsonl'));
    expect(event).toMatchObject({ caller: 'deploy-bot', caller_authenticated: true });
    expect(JSON.stringify(event)).not.toContain(oversize);
  });

  it('attributes a plain caller when another field is bad', async () => {
    const safe = open(copyProject(), { auditLog: false });
    const decision = await safe.check({ ...restart, params: {}, correlationId: oversize });
    expect(decision.caller).toBe('agent-01');
  });
});

describe('ids with control characters are refused at the door', () => {
  it.each([
    ['caller', { caller: 'agent\n{"decision":"ALLOW"}' }, '(invalid caller)'],
    ['caller', { caller: 'agent\u001b[2J' }, '(invalid caller)'],
    ['target', { target: 'dev/app\r\nforged' }, 'agent-01'],
    ['ticketId', { ticketId: 'JIRA-1\u202e' }, 'agent-01'],
    ['correlationId', { correlationId: 'run\u0007' }, 'agent-01'],
    ['action', { action: 'restart-deployment\n' }, 'agent-01'],
  ])('%s: DENY naming the character, the raw value nowhere', async (field, extra, recordedCaller) => {
    const dir = copyProject();
    const safe = open(dir);
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      ...extra,
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(new RegExp(`${field} must not contain control characters \\(found U\\+`));
    expect(decision.caller).toBe(recordedCaller);
    await safe.close();
    const lines = (await readJsonl(join(dir, 'audit.jsonl'))).map((event) => JSON.stringify(event)).join('');
    expect(lines).not.toMatch(/\\n\{|\\u001b|\\r\\n|\u202e|\\u0007/);
  });

  it("refuses control characters in a caller object's roles", async () => {
    const safe = open(copyProject(), { auditLog: false, trustCallerObjects: true });
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      caller: {
        agentId: 'a',
        roles: ['ok', 'bad\nrole'],
        groups: [],
        authenticated: false,
        delegationChain: [],
      },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/caller\.roles\[1\] must not contain control characters/);
  });

  it('refuses a blank change-ticket id rather than letting it satisfy require_ticket', async () => {
    const safe = open(copyProject(), { auditLog: false });
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      ticketId: '   ',
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/ticketId must not be blank/);
  });
});

describe('key material never becomes a caller id', () => {
  it('refuses the HS256 secret as a plain caller and records it redacted', async () => {
    const dir = copyProject();
    const safe = open(dir, { security: { signingKey: SECRET, allowPlainCallers: true } });
    const decision = await safe.check({
      ...restart,
      params: { namespace: 'dev', deployment: 'app' },
      caller: SECRET,
    });
    expect(decision.result).toBe('DENY');
    expect(decision.caller).toBe('(redacted)');
    expect(decision.reason).toContain('the caller is the signing secret itself');
    expect(JSON.stringify(decision)).not.toContain(SECRET);
    await safe.close();
    expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8')).not.toContain(SECRET);
  });
});
