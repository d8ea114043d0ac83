import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog } from '@agent-safe/audit';
import {
  Credential,
  type ExecutionContext,
  type ExecutionOutcome,
  type Executor,
  type PrecheckOutcome,
} from '@agent-safe/core';
import {
  AWS_REVOKE_POLICY_NAME,
  type AwsCredentialMaterial,
  StsCredentialProvider,
} from '@agent-safe/credentials';
import { ActionRegistry } from '@agent-safe/registry';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';
import { Runner, credentialResolver } from '../src/index.js';
import { SECRET, newClock } from './helpers.js';

// The runner with the real StsCredentialProvider on moto (real STS and IAM APIs): the executor acts
// with the minted session's keys only. The AWS SDK is the one @agent-safe/credentials loads.
const fromCredentials = createRequire(join(import.meta.dirname, '..', '..', 'credentials', 'package.json'));
const sdk = async <T>(name: string): Promise<T> =>
  (await import(pathToFileURL(fromCredentials.resolve(name)).href)) as T;
/** The few SDK shapes this test uses (the runner itself does not depend on the AWS SDK). */
type Command = new (input: object) => unknown;
interface Client {
  send(command: unknown): Promise<Record<string, unknown> & { Arn?: string }>;
}
interface Sts {
  STSClient: new (config: object) => Client;
  GetCallerIdentityCommand: Command;
}
interface Iam {
  IAMClient: new (config: object) => Client;
  CreateRoleCommand: Command;
  GetRolePolicyCommand: Command;
}

const RUNNER = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'runner-secret-not-a-real-key' };
const PARAMS = { instance_id: 'i-0123456789abcdef0', region: 'us-east-1' };
const EC2_STOP = {
  name: 'ec2-stop-instance',
  version: '1.0.0',
  description: 'Stop an EC2 instance.',
  parameters: [
    { name: 'instance_id', type: 'string', required: true },
    { name: 'region', type: 'string', required: true },
  ],
  risk_class: 'high',
  target_types: ['aws-ec2-instance'],
  reversible: true,
  credentials: {
    type: 'aws',
    fields: {
      actions: ['ec2:StopInstances'],
      resources: ['arn:aws:ec2:{{ params.region }}:*:instance/{{ params.instance_id }}'],
    },
    ttl: 300,
  },
};

let moto: MotoServer;
let dir: string;
let auditPath: string;
let audit: AuditLog;
let roleArn: string;
let iam: Client;
let iamModule: Iam;
const clock = newClock();
const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock, ttlSeconds: 60 });
const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, clockSkewSeconds: 0 });

/** Acts only with the run's session: asks STS who it is, with the keys from `context.credentials`. */
class WhoAmIExecutor implements Executor {
  readonly name = 'who-am-i';
  identity: string | undefined;
  material: AwsCredentialMaterial | undefined;
  plan(): [] {
    return [];
  }
  async precheck(): Promise<PrecheckOutcome> {
    return { status: 'pass', reason: 'not checked by this test executor' };
  }
  async readState(): Promise<Record<string, unknown>> {
    return {};
  }
  async execute(_request: unknown, context: ExecutionContext): Promise<ExecutionOutcome> {
    if (!(context.credentials instanceof Credential)) return { ok: false, error: 'no credential' };
    const material = (context.credentials as Credential<AwsCredentialMaterial>).material;
    this.material = material;
    const { STSClient, GetCallerIdentityCommand } = await sdk<Sts>('@aws-sdk/client-sts');
    const sts = new STSClient({ region: material.region, endpoint: moto.url, credentials: material });
    this.identity = (await sts.send(new GetCallerIdentityCommand({}))).Arn;
    return { ok: true, output: { stopped: true } };
  }
}

beforeAll(async () => {
  moto = await startMoto();
  iamModule = await sdk<Iam>('@aws-sdk/client-iam');
  iam = new iamModule.IAMClient({ region: 'us-east-1', endpoint: moto.url, credentials: RUNNER });
  const role = await iam.send(
    new iamModule.CreateRoleCommand({
      RoleName: 'agent-safe-executor',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  roleArn = (role.Role as { Arn: string }).Arn;
  dir = await mkdtemp(join(tmpdir(), 'agent-safe-aws-resolver-'));
  auditPath = join(dir, 'audit.jsonl');
  audit = await AuditLog.open(auditPath);
}, 60_000);

afterAll(async () => {
  await audit?.close();
  await moto?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('credentialResolver with StsCredentialProvider through the Runner (moto)', () => {
  it('the executor acts as the minted session; the session is denied on the role after the run; no key in the audit', async () => {
    const provider = new StsCredentialProvider({
      roleArn,
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
    });
    const runner = new Runner({
      actions: ActionRegistry.fromDefinitions([EC2_STOP]),
      validator,
      auditSink: audit,
      clock,
      credentials: credentialResolver(provider),
      timeoutMs: 30_000,
    });
    const { token } = await issuer.issue({
      action: 'ec2-stop-instance',
      target: 'prod-web-1',
      caller: 'deploy-bot',
      params: PARAMS,
      auditId: 'evt_decision_aws_1',
      policyRevision: 'rev1',
    });
    const executor = new WhoAmIExecutor();
    const result = await runner.execute(token, { params: PARAMS, executor });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    const sessionArn =
      'arn:aws:sts::123456789012:assumed-role/agent-safe-executor/agent-safe-evt_decision_aws_1';
    expect(executor.identity).toBe(sessionArn);
    const step = result.steps.find((entry) => entry.name === 'credentials')!;
    expect(step.detail).toContain(`${sessionArn} (aws-sts-session, expires `);
    expect(step.detail).toMatch(/ttl 300s raised to STS's minimum session of 900s/);
    expect(result.steps.find((entry) => entry.name === 'revoke')).toMatchObject({ status: 'ok' });

    // Revoked: the role carries a deny for exactly this session.
    const policy = await iam.send(
      new iamModule.GetRolePolicyCommand({
        RoleName: 'agent-safe-executor',
        PolicyName: AWS_REVOKE_POLICY_NAME,
      }),
    );
    const text = policy.PolicyDocument as string;
    const document = JSON.parse(text.startsWith('{') ? text : decodeURIComponent(text));
    expect(document.Statement[0].Effect).toBe('Deny');
    expect(document.Statement[0].Condition.StringEquals['aws:userid']).toEqual([
      expect.stringMatching(/^AROA[A-Z0-9]+:agent-safe-evt_decision_aws_1$/),
    ]);

    // No key, secret or token in the audit file or the result.
    const log = await readFile(auditPath, 'utf8');
    expect(log).toContain('aws-sts-session');
    for (const secret of [
      executor.material!.secretAccessKey,
      executor.material!.sessionToken,
      executor.material!.accessKeyId,
      RUNNER.secretAccessKey,
    ]) {
      expect(log).not.toContain(secret);
      expect(JSON.stringify(result)).not.toContain(secret);
    }
  });

  it('a hostile param is refused before any call (PARAMS_INVALID), and no session is opened', async () => {
    const provider = new StsCredentialProvider({
      roleArn,
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
    });
    const resolver = credentialResolver(provider);
    const action = ActionRegistry.fromDefinitions([EC2_STOP]).get('ec2-stop-instance');
    const before = (
      (await (await fetch(`${moto.url}/moto-api/data.json`)).json()) as { sts: { AssumedRole: unknown[] } }
    ).sts.AssumedRole.length;
    await expect(
      resolver({
        action,
        params: { instance_id: 'i-1*', region: 'us-east-1' },
        target: 'prod-web-1',
        ticket: { auditId: 'evt_x' },
      } as never),
    ).rejects.toMatchObject({ code: 'PARAMS_INVALID' });
    const after = (
      (await (await fetch(`${moto.url}/moto-api/data.json`)).json()) as { sts: { AssumedRole: unknown[] } }
    ).sts.AssumedRole.length;
    expect(after).toBe(before);
  });
});
