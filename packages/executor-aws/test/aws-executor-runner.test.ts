// The AwsExecutor behind the real Runner: real tickets (@agent-safe/tickets), a real AuditLog in a temp
// dir, the shipped catalog/aws, moto. The audit must hold the execution and the state capture with its
// diff, and generateRollback on those events must give a plan that restores the resource.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog, readAuditLog } from '@agent-safe/audit';
import type { ActionRegistry } from '@agent-safe/registry';
import { DryRunExecutor, generateRollback, Runner } from '@agent-safe/runner';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import type { MotoServer } from '../../audit/test/moto-server.js';
import { AwsExecutor } from '../src/index.js';
import {
  type Clients,
  catalogue,
  clients,
  createService,
  instanceState,
  KEYS,
  motoForTests,
  REGION,
  runInstance,
  service,
} from './aws-helpers.js';

const SECRET = 'executor-aws runner test secret, 32+ bytes';
let moto: MotoServer;
let sdk: Clients;
let actions: ActionRegistry;
let directory: string;
let auditPath: string;
let audit: AuditLog;
let runner: Runner;
let executor: AwsExecutor;
const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });
let decisions = 0;

/** A ticket as the PDP issues it for an ALLOW decision: on the validated params (defaults applied). */
async function ticket(action: string, target: string, params: Record<string, unknown>) {
  const checked = actions.validateParams(action, params);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  decisions += 1;
  const issued = await issuer.issue({
    action,
    target,
    caller: 'agent-1',
    params: checked.params,
    auditId: `evt_decision_${decisions}`,
    policyRevision: 'test',
  });
  return { token: issued.token, params: checked.params };
}

async function runEvents(executionId: string | undefined) {
  const events = await readAuditLog(auditPath);
  const execution = events.find((event) => event.event_id === executionId);
  const capture = events.find(
    (event) => event.event_type === 'state_capture' && event.execution_id === executionId,
  );
  return { events, execution, capture };
}

beforeAll(async () => {
  moto = await motoForTests();
  sdk = clients(moto.url);
  actions = await catalogue();
  directory = await mkdtemp(join(tmpdir(), 'agent-safe-executor-aws-'));
  auditPath = join(directory, 'audit.jsonl');
  audit = await AuditLog.open(auditPath);
  runner = new Runner({
    actions,
    validator: new TicketValidator({ algorithm: 'HS256', key: SECRET }),
    auditSink: audit,
  });
  executor = new AwsExecutor({ endpoint: moto.url, credentials: { ...KEYS }, pollIntervalMs: 50 });
}, 60_000);

afterAll(async () => {
  executor?.close();
  await audit?.close();
  await moto?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe('Runner + AwsExecutor on moto', () => {
  it('ec2-stop-instance: prechecks, stopped (described back), audited with its diff; the rollback starts it again', async () => {
    const id = await runInstance(sdk);
    const target = `aws:${REGION}:instance/${id}`;
    const { token, params } = await ticket('ec2-stop-instance', target, { instance_id: id, region: REGION });
    const result = await runner.execute(token, { params, executor });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({
      status: 'succeeded',
      executor: 'aws',
      beforeState: { state: 'running', instance_type: 't3.micro' },
      afterState: { state: 'stopped', instance_type: 't3.micro' },
      diff: { state: { before: 'running', after: 'stopped' } },
    });
    expect(result.steps.map((step) => `${step.name}:${step.status}`)).toEqual([
      'ticket:ok',
      'credentials:skipped',
      'precheck:instance-exists:ok',
      'precheck:instance-running:ok',
      'before_state:ok',
      'execute:ok',
      'after_state:ok',
    ]);
    expect(await instanceState(sdk, id)).toBe('stopped');

    const { events, execution, capture } = await runEvents(result.auditIds.execution);
    expect(execution).toMatchObject({ event_type: 'execution', status: 'succeeded', executor: 'aws' });
    expect(capture).toMatchObject({
      action: 'ec2-stop-instance',
      before_state: { state: 'running' },
      after_state: { state: 'stopped' },
      diff: { state: { before: 'running', after: 'stopped' } },
    });

    // A second stop of the same (now stopped) instance is refused by its precheck, nothing called.
    const again = await ticket('ec2-stop-instance', target, { instance_id: id, region: REGION });
    const refused = await runner.execute(again.token, { params: again.params, executor });
    expect(refused).toMatchObject({ status: 'refused' });
    expect(refused.steps.find((step) => step.name === 'precheck:instance-running')?.detail).toContain(
      'is stopped; ec2-stop-instance needs it running',
    );

    const rollback = generateRollback(
      events.filter((event) => event.event_id === capture?.event_id),
      actions,
    );
    expect(rollback).toEqual({
      ok: true,
      plan: {
        action: 'ec2-start-instance',
        target,
        params: { instance_id: id, region: REGION },
        correlationId: result.auditIds.decision,
      },
    });
    if (!rollback.ok) return;
    const undo = await ticket(rollback.plan.action, rollback.plan.target, { ...rollback.plan.params });
    const restored = await runner.execute(undo.token, { params: undo.params, executor });
    expect(restored).toMatchObject({
      status: 'succeeded',
      diff: { state: { before: 'stopped', after: 'running' } },
    });
    expect(await instanceState(sdk, id)).toBe('running');
  }, 60_000);

  it('ecs-scale-service: scaled (described back), audited; the rollback restores the captured desired count', async () => {
    await createService(sdk, 2);
    const target = `aws:${REGION}:service/c1/web`;
    const { token, params } = await ticket('ecs-scale-service', target, {
      cluster: 'c1',
      service: 'web',
      desired_count: 7,
      region: REGION,
    });
    const result = await runner.execute(token, { params, executor });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({
      status: 'succeeded',
      beforeState: { desired_count: 2 },
      afterState: { desired_count: 7 },
      diff: { desired_count: { before: 2, after: 7 } },
    });
    expect((await service(sdk))?.desiredCount).toBe(7);
    const { events, capture } = await runEvents(result.auditIds.execution);
    const rollback = generateRollback(
      events.filter((event) => event.event_id === capture?.event_id),
      actions,
    );
    expect(rollback).toMatchObject({
      ok: true,
      plan: {
        action: 'ecs-scale-service',
        params: { cluster: 'c1', service: 'web', desired_count: 2, region: REGION },
      },
    });
    if (!rollback.ok) return;
    const undo = await ticket(rollback.plan.action, rollback.plan.target, { ...rollback.plan.params });
    const restored = await runner.execute(undo.token, { params: undo.params, executor });
    expect(restored).toMatchObject({ status: 'succeeded', diff: { desired_count: { before: 7, after: 2 } } });
    expect((await service(sdk))?.desiredCount).toBe(2);
  }, 60_000);

  it('a precheck failing on moto (unknown service) refuses the run: no UpdateService made', async () => {
    const { token, params } = await ticket('ecs-scale-service', 'aws:svc', {
      cluster: 'c1',
      service: 'missing',
      desired_count: 3,
      region: REGION,
    });
    const result = await runner.execute(token, { params, executor });
    expect(result.status).toBe('refused');
    expect(result.steps.map((step) => step.name)).not.toContain('execute');
    expect(result.steps.find((step) => step.name === 'precheck:service-exists')?.detail).toContain(
      'ECS service missing in cluster c1 does not exist',
    );
  }, 30_000);

  it('the DryRunExecutor through the Runner shows the same calls the AwsExecutor makes, and changes nothing', async () => {
    await createService(sdk, 2);
    const { token, params } = await ticket('ecs-scale-service', 'aws:svc', {
      cluster: 'c1',
      service: 'web',
      desired_count: 4,
      region: REGION,
    });
    const dry = await runner.execute(token, { params, executor: new DryRunExecutor() });
    expect(dry.status).toBe('succeeded');
    const planned = (dry.output as { calls: unknown[] }).calls;
    expect(planned).toEqual(
      executor.plan({ action: actions.get('ecs-scale-service')!, target: 't', params, ticket: {} as never }),
    );
    expect((await service(sdk))?.desiredCount).toBe(2);
  }, 30_000);
});
