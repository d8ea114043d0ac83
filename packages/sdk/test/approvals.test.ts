import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { AgentSafe, type AgentSafeOptions, signWebhook } from '../src/index.js';
import { copyProject, readJsonl } from './helpers.js';

const SECRET = 'a'.repeat(48);
const START = Date.parse('2026-03-03T12:00:00Z');
const restart = {
  action: 'restart-deployment',
  target: 'prod/app',
  params: { namespace: 'prod', deployment: 'app' },
};
const drain = { action: 'drain-node', target: 'prod/node-1', params: { node: 'n1' } };

function open(dir: string, options: Partial<AgentSafeOptions> = {}): AgentSafe {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    auditDurability: 'write',
    config: false,
    cwd: dir,
    clock: new ManualClock(START),
    security: { signingKey: SECRET },
    approvals: { approverRoles: ['approver'], thresholds: { critical: 2 } },
    ...options,
  });
}

async function tokens(safe: AgentSafe) {
  return {
    agent: await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] }),
    alice: await safe.identity.createToken({ agentId: 'alice', roles: ['approver'] }),
    bob: await safe.identity.createToken({ agentId: 'bob', roles: ['approver'] }),
    selfApprover: await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['approver'] }),
    deployer: await safe.identity.createToken({ agentId: 'dave', roles: ['deployer'] }),
  };
}

describe('approvals through check()', () => {
  it('closes the loop: REQUIRE_APPROVAL makes one request, an approver approves, asking again is ALLOW with one ticket', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const t = await tokens(safe);
    const first = await safe.check({ ...restart, caller: t.agent });
    expect(first.result).toBe('REQUIRE_APPROVAL');
    expect(first.approvalId).toMatch(/^apr-[0-9a-f]{32}$/);
    expect(first.reason).toContain(`approval ${first.approvalId}: 0 of 1 approval`);
    expect(first.ticket).toBeNull();
    const again = await safe.check({ ...restart, caller: t.agent });
    expect(again.approvalId).toBe(first.approvalId);
    const id = first.approvalId!;

    await expect(safe.approvals.approve(id, { approverToken: t.selfApprover })).rejects.toMatchObject({
      code: 'APPROVAL_REFUSED',
      details: { reason: 'SELF_APPROVAL' },
    });
    await expect(safe.approvals.approve(id, { approverToken: t.deployer })).rejects.toMatchObject({
      details: { reason: 'NOT_APPROVER' },
    });
    await expect(safe.approvals.approve(id, { approverToken: 'alice' })).rejects.toMatchObject({
      code: 'IDENTITY_INVALID',
    });
    const approved = await safe.approvals.approve(id, { approverToken: t.alice, comment: 'CHG-7' });
    expect(approved.status).toBe('approved');

    const collected = await safe.check({ ...restart, caller: t.agent });
    expect(collected.result).toBe('ALLOW');
    expect(collected.approvalId).toBe(id);
    expect(collected.reason).toMatch(/^Approved by alice/);
    expect(collected.ticket?.token).toBeTruthy();
    const once = await safe.check({ ...restart, caller: t.agent });
    expect(once.ticket?.token).toBe(collected.ticket?.token);
    expect((await safe.approvals.get(id)).status).toBe('used');

    // The ticket binds the approved request and is accepted once.
    const validator = await safe.createTicketValidator();
    expect(await validator.validate(collected.ticket!.token, restart)).toMatchObject({ valid: true });
    expect(await validator.validate(collected.ticket!.token, restart)).toMatchObject({
      valid: false,
      code: 'REPLAYED',
    });

    // Other params are another request.
    const other = await safe.check({
      ...restart,
      caller: t.agent,
      params: { namespace: 'prod', deployment: 'other' },
    });
    expect(other.result).toBe('REQUIRE_APPROVAL');
    expect(other.approvalId).not.toBe(id);

    // A plain id with the same name never collects a token caller's request.
    const plain = open(dir, { security: { signingKey: SECRET, allowPlainCallers: true } });
    const impostor = await plain.check({ ...restart, caller: 'deploy-bot' });
    expect(impostor.result).toBe('REQUIRE_APPROVAL');
    expect(impostor.approvalId).not.toBe(id);
    await plain.close();

    await safe.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    const types = events.map((event) => event.event_type);
    for (const type of ['approval_requested', 'approval_granted', 'approval_ticket_issued'])
      expect(types).toContain(type);
    expect(
      events.find((e) => e.event_type === 'decision' && e.decision === 'REQUIRE_APPROVAL'),
    ).toMatchObject({
      approval_id: id,
    });
    expect(events.find((e) => e.event_type === 'approval_granted')).toMatchObject({
      approver: 'alice',
      comment: 'CHG-7',
    });
    // The default store is a private directory beside the project.
    expect(statSync(join(dir, '.agent-safe', 'approvals')).mode & 0o777).toBe(0o700);
  });

  it('refuses self-approval through a delegation chain, and the ticket binds the approved params only', async () => {
    const safe = open(copyProject());
    const t = await tokens(safe);
    const orchestrator = await safe.identity.createToken({
      agentId: 'orchestrator',
      roles: ['deployer', 'approver'],
    });
    const worker = await safe.delegate({
      parentToken: orchestrator,
      childAgentId: 'worker-7',
      childRoles: ['deployer'],
    });
    if (!worker.success) throw new Error(worker.reason);
    const decision = await safe.check({ ...restart, caller: worker.token });
    expect(decision.result).toBe('REQUIRE_APPROVAL');
    const id = decision.approvalId!;
    expect((await safe.approvals.get(id)).delegationChain).toEqual(['orchestrator']);
    await expect(safe.approvals.approve(id, { approverToken: orchestrator })).rejects.toMatchObject({
      details: { reason: 'SELF_APPROVAL' },
    });
    await safe.approvals.approve(id, { approverToken: t.alice });
    const collected = await safe.check({ ...restart, caller: worker.token });
    expect(collected.result).toBe('ALLOW');
    const validator = await safe.createTicketValidator();
    expect(
      await validator.validate(collected.ticket!.token, {
        ...restart,
        params: { namespace: 'prod', deployment: 'other' },
      }),
    ).toMatchObject({ valid: false, code: 'PARAMS_MISMATCH' });
    expect(await validator.validate(collected.ticket!.token, restart)).toMatchObject({ valid: true });
    await safe.close();
  });

  it('needs two distinct approvers for critical risk', async () => {
    const safe = open(copyProject());
    const t = await tokens(safe);
    const decision = await safe.check({ ...drain, caller: t.agent });
    expect(decision.reason).toContain('0 of 2 approvals');
    const id = decision.approvalId!;
    await safe.approvals.approve(id, { approverToken: t.alice });
    await expect(safe.approvals.approve(id, { approverToken: t.alice })).rejects.toMatchObject({
      details: { reason: 'ALREADY_VOTED' },
    });
    expect((await safe.check({ ...drain, caller: t.agent })).result).toBe('REQUIRE_APPROVAL');
    await safe.approvals.approve(id, { approverToken: t.bob });
    expect((await safe.check({ ...drain, caller: t.agent })).result).toBe('ALLOW');
    await safe.close();
  });

  it('lets a policy that now DENYs win over an approval granted under the old one', async () => {
    const dir = copyProject();
    const safe = open(dir);
    const t = await tokens(safe);
    const id = (await safe.check({ ...restart, caller: t.agent })).approvalId!;
    await safe.approvals.approve(id, { approverToken: t.alice });
    await safe.close();
    writeFileSync(
      join(dir, 'policies', 'zz-deny.yaml'),
      'rules:\n  - name: freeze\n    priority: 5000\n    match: { targets: { environments: [prod] } }\n    decision: deny\n    reason: Change freeze\n',
    );
    const later = open(dir);
    const decision = await later.check({ ...restart, caller: t.agent });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toBe('Change freeze');
    expect(decision.ticket).toBeNull();
    expect((await later.approvals.get(id)).status).toBe('approved');
    await later.close();
  });

  it('waitForApproval wakes on the decision and answers with the ticket, or DENY when denied', async () => {
    const safe = open(copyProject(), { clock: undefined });
    const t = await tokens(safe);
    const first = await safe.check({ ...restart, caller: t.agent });
    const waiting = safe.approvals.waitForApproval(first.approvalId!, { timeoutMs: 10_000 });
    const started = performance.now();
    setTimeout(() => void safe.approvals.approve(first.approvalId!, { approverToken: t.alice }), 30);
    const decision = await waiting;
    expect(decision.result).toBe('ALLOW');
    expect(decision.ticket?.token).toBeTruthy();
    expect(performance.now() - started).toBeLessThan(2_000);

    const second = await safe.check({
      ...restart,
      caller: t.agent,
      params: { namespace: 'prod', deployment: 'x' },
    });
    setTimeout(
      () => void safe.approvals.deny(second.approvalId!, { approverToken: t.bob, comment: 'no' }),
      30,
    );
    const denied = await safe.approvals.waitForApproval(second.approvalId!, { timeoutMs: 10_000 });
    expect(denied).toMatchObject({ result: 'DENY', approvalId: second.approvalId });
    expect(denied.reason).toBe(`Denied by bob (approval ${second.approvalId}): no`);

    const third = await safe.check({
      ...restart,
      caller: t.agent,
      params: { namespace: 'prod', deployment: 'y' },
    });
    const timedOut = await safe.approvals.waitForApproval(third.approvalId!, { timeoutMs: 50 });
    expect(timedOut).toMatchObject({ result: 'REQUIRE_APPROVAL', approvalId: third.approvalId });
    await safe.close();
  });

  it('expires an undecided request into a denial; asking again makes a new one', async () => {
    const clock = new ManualClock(START);
    const safe = open(copyProject(), { clock, approvals: { approverRoles: ['approver'], ttlSeconds: 600 } });
    const t = await tokens(safe);
    const first = await safe.check({ ...restart, caller: t.agent });
    clock.advance(600_000);
    expect((await safe.approvals.get(first.approvalId!)).status).toBe('expired');
    await expect(safe.approvals.approve(first.approvalId!, { approverToken: t.alice })).rejects.toMatchObject(
      {
        details: { reason: 'ALREADY_DECIDED' },
      },
    );
    const again = await safe.check({ ...restart, caller: t.agent });
    expect(again.approvalId).not.toBe(first.approvalId);
    expect((await safe.approvals.list({ status: 'expired' })).map((r) => r.id)).toEqual([first.approvalId]);
    await safe.close();
  });

  it('creates no request on a dry run (auditing off)', async () => {
    const dir = copyProject();
    const safe = open(dir, { auditLog: false });
    const t = await tokens(safe);
    const decision = await safe.check({ ...restart, caller: t.agent });
    expect(decision).toMatchObject({ result: 'REQUIRE_APPROVAL', approvalId: null });
    expect(existsSync(join(dir, '.agent-safe', 'approvals'))).toBe(false);
  });

  it('refuses approvals without a signing key, and unknown settings, at construction', () => {
    const dir = copyProject();
    expect(() => open(dir, { security: {} })).toThrow(/approvals need identity and tickets/);
    expect(() => open(dir, { approvals: { approverRoles: ['approver'], bogus: 1 } as never })).toThrow(
      /approvals settings are invalid/,
    );
  });

  it('reads approvals: from agent-safe.yaml and notifies a signed webhook', async () => {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const dir = copyProject();
    process.env.AGENT_SAFE_TEST_WEBHOOK_SECRET = 'w'.repeat(40);
    writeFileSync(join(dir, 'signing-key'), SECRET, { mode: 0o600 });
    writeFileSync(
      join(dir, 'agent-safe.yaml'),
      [
        'signing_key: file:signing-key',
        'audit_durability: write',
        'approvals:',
        '  approver_roles: [approver]',
        '  ttl_seconds: 1800',
        '  store: file:./state/approvals',
        `  webhook: { url: "http://127.0.0.1:${port}/hook", secret: env:AGENT_SAFE_TEST_WEBHOOK_SECRET }`,
      ].join('\n'),
    );
    const safe = new AgentSafe({ cwd: dir });
    const agent = await safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
    const decision = await safe.check({ ...restart, caller: agent });
    await safe.close();
    server.close();
    expect(existsSync(join(dir, 'state', 'approvals', 'requests', `${decision.approvalId}.json`))).toBe(true);
    expect(received).toHaveLength(1);
    const { headers, body } = received[0]!;
    expect(headers['x-agent-safe-signature']).toBe(
      signWebhook('w'.repeat(40), String(headers['x-agent-safe-timestamp']), body),
    );
    expect(JSON.parse(body)).toMatchObject({ approval_id: decision.approvalId, caller: 'deploy-bot' });
    const record = JSON.parse(body) as { expires_at: string; created_at: string };
    expect(Date.parse(record.expires_at) - Date.parse(record.created_at)).toBe(1_800_000);
  });

  it('audits a notification that could not be delivered, and the request stands', async () => {
    const server = createServer((_request, response) => {
      response.statusCode = 400;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const dir = copyProject();
    const safe = open(dir, {
      approvals: {
        approverRoles: ['approver'],
        webhook: { url: `http://127.0.0.1:${port}/hook`, secret: 's'.repeat(40) },
      },
    });
    const t = await tokens(safe);
    const decision = await safe.check({ ...restart, caller: t.agent });
    expect(decision.result).toBe('REQUIRE_APPROVAL');
    await safe.close();
    server.close();
    const events = await readJsonl(join(dir, 'audit.jsonl'));
    expect(events.find((e) => e.event_type === 'approval_notification_failed')).toMatchObject({
      approval_id: decision.approvalId,
      notifier: 'webhook',
      error: 'HTTP 400',
    });
  });
});
