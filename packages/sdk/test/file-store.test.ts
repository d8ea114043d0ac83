import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '@agent-safe/core';
import { AgentSafe, type AgentSafeOptions, cliGuardStore, loadProjectConfig } from '../src/index.js';
import { copyProject } from './helpers.js';

// `store: file:PATH`: guard state shared by the processes of one machine. Each check below runs on a
// NEW AgentSafe instance, as each `agent-safe check` is a new process: the limits still hold.

const START = Date.parse('2026-03-03T12:00:00Z');
const restart = {
  action: 'restart-deployment',
  target: 'dev/app',
  params: { namespace: 'd', deployment: 'a' },
};

function open(dir: string, extra: Partial<AgentSafeOptions>, clock = new ManualClock(START)) {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: false,
    config: false,
    clock,
    ...extra,
  });
}

async function checkOnce(
  dir: string,
  extra: Partial<AgentSafeOptions>,
  request: object,
  clock?: ManualClock,
) {
  const safe = open(dir, extra, clock);
  try {
    return await safe.check({ caller: 'agent-01', ...request } as Parameters<AgentSafe['check']>[0]);
  } finally {
    await safe.close();
  }
}

describe('store: file:PATH', () => {
  it('keeps the rate limit between instances (processes), relative to cwd', async () => {
    const dir = copyProject();
    const options = { cwd: dir, store: 'file:./state', rateLimit: { maxRequests: 2, windowSeconds: 60 } };
    const results = [];
    for (let run = 0; run < 3; run++) results.push((await checkOnce(dir, options, restart)).result);
    expect(results).toEqual(['ALLOW', 'ALLOW', 'DENY']);
    expect((await checkOnce(dir, options, restart)).reason).toBe(
      "Rate limit exceeded for caller 'agent-01': 2 requests per 60s window.",
    );
    expect(existsSync(join(dir, 'state', 'guard-state.json'))).toBe(true);
    // The memory store, for contrast, forgets between instances.
    const memory = { ...options, store: 'memory' };
    for (let run = 0; run < 3; run++) expect((await checkOnce(dir, memory, restart)).result).toBe('ALLOW');
  });

  it('keeps cumulative risk between instances: the same escalations as one long-lived instance', async () => {
    const dir = copyProject();
    const options = {
      store: `file:${join(dir, 'state')}`,
      cumulativeRisk: { windowSeconds: 3600, escalationThreshold: 30, denyThreshold: 75 },
    };
    const scale = {
      action: 'scale-deployment',
      target: 'dev/app',
      params: { namespace: 'd', deployment: 'a', replicas: 1 },
    };
    const drain = { action: 'drain-node', target: 'prod/node-1', params: { node: 'n1' } };
    const answers = [];
    for (const request of [scale, drain, scale, drain]) {
      const decision = await checkOnce(dir, options, request);
      answers.push([decision.result, decision.cumulativeRiskScore, decision.escalatedFrom]);
    }
    expect(answers).toEqual([
      ['ALLOW', 1, null],
      ['REQUIRE_APPROVAL', 51, null],
      ['REQUIRE_APPROVAL', 52, 'ALLOW'],
      ['DENY', 52, 'REQUIRE_APPROVAL'],
    ]);
  });

  it('fails closed, naming the store, when the directory cannot be trusted', async () => {
    const dir = copyProject();
    const state = join(dir, 'shared-state');
    mkdirSync(state);
    chmodSync(state, 0o777);
    const decision = await checkOnce(
      dir,
      { store: `file:${state}`, rateLimit: { maxRequests: 5, windowSeconds: 60 } },
      restart,
    );
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toContain(`Denied because file guard store at ${state} could not be consulted`);
    expect(decision.reason).toContain('is writable by other users (mode 777); refused');
  });

  it('still rejects bad guard settings at construction', () => {
    const dir = copyProject();
    expect(() =>
      open(dir, { store: `file:${join(dir, 's')}`, rateLimit: { maxRequests: 0, windowSeconds: 60 } }),
    ).toThrow(/rate_limit \/ cumulative_risk settings are invalid/);
    expect(() => open(dir, { store: 'file:' })).toThrow(/store file:PATH needs the path of a directory/);
  });

  it('reads store: file:PATH from agent-safe.yaml relative to the file', () => {
    const dir = copyProject();
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'agent-safe.yaml'), 'store: file:./state\n');
    expect(loadProjectConfig({ file: join(dir, 'conf', 'agent-safe.yaml') }).store).toBe(
      `file:${join(dir, 'conf', 'state')}`,
    );
    writeFileSync(join(dir, 'conf', 'agent-safe.yaml'), 'store: "file:"\n');
    expect(() => loadProjectConfig({ file: join(dir, 'conf', 'agent-safe.yaml') })).toThrow(
      expect.objectContaining({
        issues: [expect.objectContaining({ path: 'store', message: expect.stringContaining('file:PATH') })],
      }),
    );
  });

  it('accepts a ticket once across instances sharing the directory (nonces in DIR/nonces)', async () => {
    const dir = copyProject();
    const options: Partial<AgentSafeOptions> = {
      store: `file:${join(dir, 'state')}`,
      auditLog: join(dir, 'audit.jsonl'),
      security: { signingKey: 'n'.repeat(48) },
    };
    const first = open(dir, options);
    const second = open(dir, options);
    try {
      const caller = await first.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] });
      const request = {
        action: 'scale-deployment',
        target: 'staging/app',
        params: { namespace: 'staging', deployment: 'app', replicas: 3 },
      };
      const decision = await first.check({ ...request, caller });
      expect(decision.result).toBe('ALLOW');
      const expected = { action: request.action, target: request.target, params: request.params };
      expect(
        await (await second.createTicketValidator()).validate(decision.ticket!.token, expected),
      ).toMatchObject({ valid: true });
      expect(
        await (await first.createTicketValidator()).validate(decision.ticket!.token, expected),
      ).toMatchObject({
        valid: false,
        code: 'REPLAYED',
      });
      expect(existsSync(join(dir, 'state', 'nonces'))).toBe(true);
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('cliGuardStore', () => {
  const guards = { rateLimit: { maxRequests: 2, windowSeconds: 60 } };
  it('defaults to a file store beside agent-safe.yaml when guards are configured and store is unset', () => {
    expect(cliGuardStore({ ...guards, file: '/srv/project/agent-safe.yaml' })).toEqual({
      store: 'file:/srv/project/.agent-safe/state',
      kind: 'default',
      description:
        "file store at /srv/project/.agent-safe/state (the CLI's default; set store: in agent-safe.yaml to change it)",
    });
  });
  it('keeps a configured store, reports memory, and does nothing without guards', () => {
    expect(cliGuardStore({ ...guards, store: 'file:/x' })).toMatchObject({
      store: undefined,
      kind: 'configured',
      description: 'file store at /x',
    });
    expect(cliGuardStore({ ...guards, store: 'redis://user:secret@db:6379/2' }).description).toBe(
      'Redis store at redis://db:6379/2',
    );
    expect(cliGuardStore({ ...guards, store: 'memory' })).toMatchObject({
      store: undefined,
      kind: 'memory',
      description: expect.stringContaining('do not persist between CLI runs'),
    });
    expect(cliGuardStore({ store: 'memory' })).toMatchObject({ store: undefined, kind: 'none' });
  });
});
