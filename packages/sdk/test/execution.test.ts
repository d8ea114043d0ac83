import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  Credential,
  type CredentialProvider,
  type CredentialRequest,
  type ExecutionRequest,
} from '@agent-safe/core';
import {
  type AgentSafe,
  AgentSafeError,
  DryRunExecutor,
  KUBERNETES_EXECUTOR_PACKAGE,
  KubectlExecutor,
  Runner,
  loadKubernetesExecutor,
  resolveExecutor,
} from '../src/index.js';
import { readJsonl } from './helpers.js';
import { CALLER, openProject, scaleParams, writeExecutionProject } from './execution-project.js';

const opened: AgentSafe[] = [];
function open(dir: string, extra: Parameters<typeof openProject>[1] = {}): AgentSafe {
  const safe = openProject(dir, extra);
  opened.push(safe);
  return safe;
}
afterEach(async () => {
  for (const safe of opened.splice(0)) await safe.close();
});

async function events(dir: string) {
  return readJsonl(join(dir, 'audit.jsonl'));
}

describe('safe.execute with the dry-run executor (the default)', () => {
  it('runs the ticket of an ALLOW decision: the planned calls, audited and linked to the decision', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4),
    });
    expect(decision.result).toBe('ALLOW');
    const result = await safe.execute(decision);
    expect(result).toMatchObject({
      status: 'succeeded',
      action: 'scale-deployment',
      target: 'dev/web',
      executor: 'dry-run',
      auditIds: { decision: decision.auditId },
      forced: false,
    });
    expect(result.output).toEqual({
      dryRun: true,
      calls: [
        expect.objectContaining({
          method: 'PATCH',
          path: '/apis/apps/v1/namespaces/dev/deployments/web/scale',
          body: { spec: { replicas: 4 } },
        }),
      ],
    });
    const log = await events(dir);
    const types = log.map((event) => event.event_type);
    expect(types[0]).toBe('decision');
    expect(types).toEqual(
      expect.arrayContaining(['ticket_validation', 'execution_started', 'execution', 'state_capture']),
    );
    const execution = log.find((event) => event.event_type === 'execution');
    expect(execution).toMatchObject({
      status: 'succeeded',
      decision_audit_id: decision.auditId,
      caller: CALLER,
    });
  });

  it('refuses a replayed ticket: the second execute of the same decision runs nothing', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4),
    });
    expect((await safe.execute(decision)).status).toBe('succeeded');
    const replay = await safe.execute(decision);
    expect(replay.status).toBe('refused');
    expect(replay.error?.code).toBe('TICKET_REPLAYED');
    expect(replay.steps.map((step) => step.name)).not.toContain('execute');
    // A runner from safe.runner() shares the validator, so it refuses the replay too.
    const runner = await safe.runner();
    const again = await runner.execute(decision.ticket!.token, {
      params: decision.params,
      executor: new DryRunExecutor(),
    });
    expect(again.error?.code).toBe('TICKET_REPLAYED');
    expect((await events(dir)).filter((event) => event.event_type === 'execution_started')).toHaveLength(1);
  });

  it('refuses params that differ from the ticket, and needs params with a bare token', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4),
    });
    const token = decision.ticket!.token;
    const other = await safe.execute(token, { params: scaleParams(40) });
    expect(other.status).toBe('refused');
    expect(other.error?.code).toBe('TICKET_PARAMS_MISMATCH');
    const overridden = await safe.execute(decision, { params: scaleParams(5) });
    expect(overridden.error?.code).toBe('TICKET_PARAMS_MISMATCH');
    await expect(safe.execute(token)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/needs options.params/),
    });
    expect((await events(dir)).some((event) => event.event_type === 'execution_started')).toBe(false);
    // The exact params run.
    expect((await safe.execute(token, { params: scaleParams(4) })).status).toBe('succeeded');
  });

  it('a DENY, a REQUIRE_APPROVAL and an unaudited ALLOW carry no ticket: refused, nothing runs', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const denied = await safe.check({
      action: 'restart-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: { namespace: 'dev', deployment: 'web' },
    });
    expect(denied.result).toBe('DENY');
    const refusedDeny = await safe.execute(denied, { executor: 'dry-run' });
    expect(refusedDeny).toMatchObject({
      status: 'refused',
      executor: 'none',
      steps: [],
      error: {
        code: 'TICKET_MISSING',
        message: expect.stringMatching(/is DENY \(Restarts are not allowed here\)/),
      },
    });
    const approval = await safe.check({
      action: 'scale-deployment',
      target: 'prod/web',
      caller: CALLER,
      params: scaleParams(2, 'prod'),
    });
    expect(approval.result).toBe('REQUIRE_APPROVAL');
    expect((await safe.execute(approval)).error?.message).toMatch(
      /REQUIRE_APPROVAL: nothing runs before it is approved/,
    );
    const types = (await events(dir)).map((event) => event.event_type);
    expect(types).toEqual(['decision', 'decision']);

    const unaudited = open(dir, { auditLog: false });
    const allowed = await unaudited.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(2),
    });
    expect(allowed.result).toBe('ALLOW');
    expect((await unaudited.execute(allowed)).error?.message).toMatch(/auditing is off/);
  });

  it('refuses an expired ticket (the same project an hour later)', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(3),
    });
    const later = open(dir, { clock: { now: () => Date.now() + 3_600_000 } });
    const result = await later.execute(decision);
    expect(result.status).toBe('refused');
    expect(result.error?.code).toBe('TICKET_EXPIRED');
  });

  it('passes credentials to the run and revokes them; force where no precheck allows it is refused', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const revoked: string[] = [];
    const seen: string[] = [];
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(6),
    });
    const result = await safe.execute(decision, {
      credentials: async (request: ExecutionRequest) => {
        seen.push(`${request.action.name} ${request.target}`);
        return {
          value: 'token-value-never-logged',
          id: 'cred-1',
          revoke: async () => void revoked.push('cred-1'),
        };
      },
    });
    expect(result.status).toBe('succeeded');
    expect(seen).toEqual(['scale-deployment dev/web']);
    expect(revoked).toEqual(['cred-1']);
    expect(JSON.stringify(await events(dir))).not.toContain('token-value-never-logged');

    const forced = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(7),
    });
    const refused = await safe.execute(forced, { force: true });
    expect(refused.error?.code).toBe('FORCE_NOT_ALLOWED');
  });

  it('a credential provider is plugged in through credentialResolver: scoped to the request, revoked, never logged', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const issued: CredentialRequest[] = [];
    const revoked: string[] = [];
    const provider: CredentialProvider<string> = {
      type: 'kubernetes',
      issue: async (request) => {
        issued.push(request);
        return new Credential({
          kind: 'test-token',
          id: 'agent-safe-cred-1',
          issuedAt: Date.now(),
          expiresAt: Date.now() + 600_000,
          material: 'minted-token-material',
        });
      },
      revoke: async (credential) => {
        revoked.push(credential.id);
        credential.invalidate();
      },
    };
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(3),
    });
    const result = await safe.execute(decision, { credentials: provider });
    expect(result.status).toBe('succeeded');
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({
      action: 'scale-deployment@1.0.0',
      target: 'dev/web',
      requestId: decision.auditId,
      scope: { type: 'kubernetes', fields: expect.objectContaining({ namespaces: ['dev'] }) },
    });
    expect(revoked).toEqual(['agent-safe-cred-1']);
    expect(result.steps.find((step) => step.name === 'credentials')?.detail).toMatch(
      /^agent-safe-cred-1 \(test-token/,
    );
    expect(JSON.stringify(await events(dir))).not.toContain('minted-token-material');
  });

  it('bad options throw USAGE naming the option; no audit log means no runner', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4),
    });
    await expect(safe.execute(decision, { executor: 'ssh' as never })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(
        /options.executor must be an Executor or one of dry-run, kubectl, subprocess, kubernetes, k8s, aws, got "ssh"/,
      ),
    });
    await expect(safe.execute(decision, { exectuor: 'kubectl' } as never)).rejects.toMatchObject({
      code: 'USAGE',
      message: 'unknown execute option "exectuor"',
    });
    await expect(safe.execute(decision, { credentials: { some: 'thing' } as never })).rejects.toMatchObject({
      code: 'USAGE',
      issues: [{ path: 'credentials' }],
    });
    await expect(safe.execute(42 as never)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(safe.execute(decision, { executor: 'kubectl', inCluster: true })).rejects.toMatchObject({
      code: 'USAGE',
      issues: [{ path: 'inCluster' }],
    });
    // None of these consumed the ticket.
    expect((await safe.execute(decision)).status).toBe('succeeded');
    const off = open(dir, { auditLog: false });
    await expect(off.runner()).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/nothing runs unaudited/),
    });
  });

  it("passes the caller's signal and timeout to the run", async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const decide = (replicas: number) =>
      safe.check({
        action: 'scale-deployment',
        target: 'dev/web',
        caller: CALLER,
        params: scaleParams(replicas),
      });
    const cancelled = await safe.execute(await decide(2), { signal: AbortSignal.abort() });
    expect({ status: cancelled.status, code: cancelled.error?.code }).toEqual({
      status: 'cancelled',
      code: 'CANCELLED',
    });
    expect(cancelled.steps.map((step) => step.name)).not.toContain('execute');
    const badTimeout = await safe.execute(await decide(3), { timeoutMs: 0 });
    expect(badTimeout).toMatchObject({ status: 'refused', error: { code: 'USAGE' } });
    expect(badTimeout.error?.message).toMatch(/timeoutMs must be an integer/);
  });

  it('safe.runner() is a Runner on the facade registry, validator and audit log', async () => {
    const dir = writeExecutionProject();
    const safe = open(dir);
    const runner = await safe.runner({ timeoutMs: 5000 });
    expect(runner).toBeInstanceOf(Runner);
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(2),
    });
    const result = await runner.execute(decision.ticket!.token, {
      params: decision.params,
      executor: new DryRunExecutor(),
    });
    expect(result.status).toBe('succeeded');
    expect((await events(dir)).filter((event) => event.event_type === 'execution')).toHaveLength(1);
  });
});

describe('executor choices', () => {
  it('names map to the runner executors; kubectl gets the kubeconfig and context', async () => {
    expect(await resolveExecutor(undefined)).toBeInstanceOf(DryRunExecutor);
    const kubectl = await resolveExecutor('subprocess', { kubeconfig: '/tmp/kc', context: 'ops' });
    expect(kubectl).toBeInstanceOf(KubectlExecutor);
    const plan = kubectl.plan({
      action: { name: 'scale-deployment' },
      params: scaleParams(3),
    } as unknown as ExecutionRequest);
    expect(plan[0]?.body).toEqual(
      expect.arrayContaining(['--kubeconfig=/tmp/kc', '--context=ops', '--replicas=3']),
    );
    const custom = new DryRunExecutor();
    expect(await resolveExecutor(custom)).toBe(custom);
    await expect(resolveExecutor('kubectl', { kubeconfig: '' })).rejects.toMatchObject({
      code: 'USAGE',
      issues: [{ path: 'kubeconfig' }],
    });
  });

  it('kubernetes: a missing @agent-safe/executor-k8s is a USAGE error naming the package to install', async () => {
    const missing = async () => {
      throw Object.assign(new Error("Cannot find package '@agent-safe/executor-k8s' imported from x"), {
        code: 'ERR_MODULE_NOT_FOUND',
      });
    };
    const error = await loadKubernetesExecutor(missing).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AgentSafeError);
    expect(error).toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`needs the optional package ${KUBERNETES_EXECUTOR_PACKAGE}`),
    });
    expect((error as Error).message).toContain(
      'npm install @agent-safe/executor-k8s @kubernetes/client-node',
    );
    // Any other failure is not disguised as a missing package.
    await expect(loadKubernetesExecutor(async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    // A module without the class (a mismatched version) says so.
    await expect(loadKubernetesExecutor(async () => ({}))).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringMatching(/has no KubernetesExecutor/),
    });
    // The class gets the cluster options.
    class FakeKubernetesExecutor extends DryRunExecutor {
      constructor(readonly options: unknown) {
        super();
      }
    }
    const executor = await resolveExecutor(
      'k8s',
      { kubeconfig: '/tmp/kc', context: 'ops', inCluster: false },
      async () => ({ KubernetesExecutor: FakeKubernetesExecutor }),
    );
    expect((executor as FakeKubernetesExecutor).options).toEqual({
      kubeconfig: '/tmp/kc',
      context: 'ops',
      inCluster: false,
    });
  });
});
