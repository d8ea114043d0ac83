// The enforcement commands on AWS, against moto (real AWS APIs in server mode, one private server for
// this file; `scripts/services.sh install moto` installs it once per machine; never skipped), on a
// project whose registry is the repository's catalog/aws and whose aws/ec2-web target is an instance
// created here:
//  - runner execute --executor aws stops it for real; rollback check decides the start, and the
//    rollback's own ticket, run the same way, restores `running`;
//  - --credentials aws --role-arn: the run acts with a per-run STS session, revoked when it ends;
//  - bad flags are refused before the ticket is read (exit 1), moto down is a refusal at the first
//    precheck (exit 1), credential resolve shows the session policy and the 900 s clamp, and
//    credential test-vault reaches STS / IAM and Secrets Manager.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateRoleCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';
import { cli } from './run-cli.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/agent-safe-executor`;
const SECRET_KEY = 'moto-secret-key-never-printed';

let moto: MotoServer;
let project: string;
let instanceId = '';
let env: Record<string, string>;

// biome-ignore lint/suspicious/noExplicitAny: the envelope's payloads are asserted field by field
type Payload = any;

function json(stdout: string): { ok: boolean; exitCode: number; data: Payload; errors: Payload[] } {
  return JSON.parse(stdout);
}

/** The AWS query API (EC2 speaks it), signed by nobody: moto accepts any caller. */
async function ec2(action: string, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ Action: action, Version: '2016-11-15', ...params });
  const response = await fetch(`${moto.url}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20261203/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=x`,
    },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`EC2 ${action}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return text;
}

async function instanceState(): Promise<string | undefined> {
  const xml = await ec2('DescribeInstances', { 'InstanceId.1': instanceId });
  return /<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)<\/name>/.exec(xml)?.[1];
}

function awsClientConfig() {
  return {
    endpoint: moto.url,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

function allowStop(): { ticket: string; auditId: string; params: string } {
  const params = JSON.stringify({ instance_id: instanceId, region: REGION });
  const check = cli(
    [
      'check',
      'ec2-stop-instance',
      '--target',
      'aws/ec2-web',
      '--caller',
      'ops-agent',
      '--params',
      params,
      '--json-output',
    ],
    project,
    env,
  );
  expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
  const decision = json(check.stdout).data;
  return { ticket: decision.ticket.token, auditId: decision.auditId, params };
}

async function closedPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  moto = await startMoto();
  const run = await ec2('RunInstances', {
    ImageId: 'ami-12345678',
    InstanceType: 't3.micro',
    MinCount: '1',
    MaxCount: '1',
  });
  instanceId = /<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(run)?.[1] ?? '';
  expect(instanceId).toMatch(/^i-[0-9a-f]{17}$/);
  const iam = new IAMClient(awsClientConfig());
  await iam.send(
    new CreateRoleCommand({
      RoleName: 'agent-safe-executor',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' },
        ],
      }),
    }),
  );
  const secrets = new SecretsManagerClient(awsClientConfig());
  await secrets.send(
    new CreateSecretCommand({ Name: 'prod/db/password', SecretString: 'hunter2-never-printed' }),
  );

  project = mkdtempSync(join(tmpdir(), 'agent-safe-runner-aws-'));
  writeFileSync(
    join(project, 'inventory.yaml'),
    JSON.stringify({
      targets: [
        {
          id: 'aws/ec2-web',
          type: 'aws-ec2-instance',
          environment: 'dev',
          sensitivity: 'internal',
          identifiers: { instance_id: instanceId, region: REGION },
        },
      ],
    }),
  );
  writeFileSync(
    join(project, 'policy.yaml'),
    'rules:\n  - { name: allow-all, priority: 100, match: { actions: ["*"] }, decision: allow, reason: test }\n',
  );
  mkdirSync(join(project, 'keys'));
  env = {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: '',
    AWS_ENDPOINT_URL: '',
    AWS_REGION: '',
    AWS_DEFAULT_REGION: '',
    // Text mode prints the AWS SDK's notice about Node 20 on stderr; JSON mode keeps stderr quiet by itself.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  expect(cli(['identity', 'keygen', '--out', 'keys'], project, env).code).toBe(0);
  writeFileSync(
    join(project, 'agent-safe.yaml'),
    [
      `registry: ${JSON.stringify(join(REPO, 'catalog', 'aws'))}`,
      'policies: ./policy.yaml',
      'inventory: ./inventory.yaml',
      'enforce_target_binding: true',
      'signing_key: file:keys/signing-key.secret',
      'allow_plain_callers: true',
      `aws: { region: ${REGION} }`,
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await moto?.stop();
}, 30_000);

describe('runner execute --executor aws (moto)', () => {
  it('stops the instance; rollback check decides the start and its ticket restores running', async () => {
    expect(await instanceState()).toBe('running');
    const { ticket, auditId, params } = allowStop();
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'aws',
        '--endpoint',
        moto.url,
        '--timeout',
        '60',
      ],
      project,
      env,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^succeeded {2}ec2-stop-instance on aws\/ec2-web \(executor aws/);
    expect(run.stdout).toMatch(/✓ precheck:instance-exists +ok/);
    expect(run.stdout).toContain('state: "running" → "stopped"');
    expect(await instanceState()).toBe('stopped');

    const check = cli(['rollback', 'check', auditId, '--json-output'], project, env);
    expect(check.code).toBe(0);
    const rollback = json(check.stdout).data;
    expect(rollback.plan).toMatchObject({ action: 'ec2-start-instance', target: 'aws/ec2-web' });
    expect(rollback.decision).toMatchObject({ result: 'ALLOW', correlationId: auditId });
    const undo = cli(
      [
        'runner',
        'execute',
        '-',
        '--params',
        JSON.stringify(rollback.plan.params),
        '--executor',
        'aws',
        '--endpoint',
        moto.url,
        '--json-output',
      ],
      project,
      env,
      rollback.decision.ticket.token,
    );
    expect({ code: undo.code, stderr: undo.stderr }).toEqual({ code: 0, stderr: '' });
    expect(json(undo.stdout)).toMatchObject({
      ok: true,
      data: {
        status: 'succeeded',
        executor: 'aws',
        diff: { state: { before: 'stopped', after: 'running' } },
      },
    });
    expect(await instanceState()).toBe('running');
    expect(run.stdout + undo.stdout).not.toContain(SECRET_KEY);
  }, 60_000);

  it('--credentials aws --role-arn: the run acts with a per-run STS session, denied at the role when it ends', async () => {
    const { ticket, params } = allowStop();
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'aws',
        '--endpoint',
        moto.url,
        '--credentials',
        'aws',
        '--role-arn',
        ROLE_ARN,
        '--json-output',
      ],
      project,
      env,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = json(run.stdout).data;
    expect(result.status).toBe('succeeded');
    const steps = result.steps.map((step: Payload) => `${step.name}:${step.status}`);
    expect(steps).toEqual(expect.arrayContaining(['credentials:ok', 'revoke:ok']));
    expect(await instanceState()).toBe('stopped');
    // Revoked: the role carries a deny on that session's aws:userid.
    const iam = new IAMClient(awsClientConfig());
    const deny = await iam.send(
      new GetRolePolicyCommand({ RoleName: 'agent-safe-executor', PolicyName: 'AgentSafeRevokedSessions' }),
    );
    expect(decodeURIComponent(deny.PolicyDocument ?? '')).toContain('aws:userid');
    expect(run.stdout).not.toContain(SECRET_KEY);
    await ec2('StartInstances', { 'InstanceId.1': instanceId });
  }, 60_000);

  it('bad flags are refused before the ticket is read (exit 1), naming the flag', () => {
    const { ticket, params } = allowStop();
    const cases: [string[], RegExp][] = [
      [['--executor', 'dry-run', '--region', REGION], /--region and --endpoint apply to --executor aws/],
      [
        ['--executor', 'aws', '--endpoint', 'http://10.0.0.8:5000'],
        /--endpoint: plain http:\/\/ is accepted only/,
      ],
      [['--executor', 'aws', '--region', 'Europe'], /--region: expected an AWS region name/],
      [['--executor', 'aws', '--kubeconfig', '/k'], /--kubeconfig and --context apply to --executor kubectl/],
      [['--executor', 'aws', '--credentials', 'aws'], /--credentials aws needs --role-arn ARN/],
      [['--executor', 'dry-run', '--credentials', 'aws', '--role-arn', ROLE_ARN], /needs --executor aws/],
      [
        ['--executor', 'aws', '--credentials', 'aws', '--role-arn', 'arn:aws:iam::1:role/x'],
        /--role-arn must be an IAM role ARN/,
      ],
      [['--executor', 'aws', '--role-arn', ROLE_ARN], /--role-arn applies to --credentials aws/],
    ];
    for (const [flags, message] of cases) {
      const run = cli(['runner', 'execute', ticket, '--params', params, ...flags], project, env);
      expect({ flags, code: run.code, message: message.test(run.stderr + run.stdout) }).toEqual({
        flags,
        code: 1,
        message: true,
      });
    }
    // None of them used the ticket: it still runs (with the dry run, acting on nothing).
    expect(cli(['runner', 'execute', ticket, '--params', params], project, env).code).toBe(0);
  });

  it('moto down: refused at the first precheck (exit 1), audited, nothing changed', async () => {
    const { ticket, params } = allowStop();
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'aws',
        '--endpoint',
        endpoint,
        '--json-output',
      ],
      project,
      { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain('NodeVersionSupportWarning'); // JSON mode: stderr stays quiet
    const envelope = json(run.stdout);
    expect(envelope).toMatchObject({ ok: false, exitCode: 1, data: { status: 'refused', executor: 'aws' } });
    expect(envelope.errors[0].code).toBe('EXECUTION_REFUSED');
    expect(envelope.errors[0].message).not.toMatch(/\n\s+at /);
    expect(run.stdout).not.toContain(SECRET_KEY);
    expect(await instanceState()).toBe('running');
  });
});

describe('credential resolve and test-vault on AWS', () => {
  it('runner dry-run shows the AWS calls a run would make and how to run it', () => {
    const { ticket, params } = allowStop();
    const dry = cli(['runner', 'dry-run', ticket, '--params', params], project, env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`AWS ec2:StopInstances?region=${REGION} {"InstanceIds":["${instanceId}"]}`);
    expect(dry.stdout).toContain('--executor aws');
  });

  it('credential resolve shows the session policy and the ttl raised to 900 s, assuming nothing', () => {
    const { ticket, params } = allowStop();
    const text = cli(
      ['credential', 'resolve', ticket, '--params', params, '--role-arn', ROLE_ARN],
      project,
      env,
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('no role was assumed');
    expect(text.stdout).toContain('300 s asked, 900 s requested from STS');
    expect(text.stdout).toContain(`arn:aws:ec2:${REGION}:*:instance/${instanceId}`);
    expect(text.stdout).toContain(ROLE_ARN);
    const envelope = json(
      cli(['credential', 'resolve', ticket, '--params', params, '--json-output'], project, env).stdout,
    );
    expect(envelope.data.plan).toMatchObject({
      type: 'aws',
      ttl: { requestedSeconds: 300, grantedSeconds: 900 },
      session: { roleArn: null, durationSeconds: 900 },
    });
    expect(JSON.stringify(envelope.data.plan.session.policy)).toContain('ec2:StopInstances');
  });

  it('test-vault --vault aws reaches STS and IAM with the runner identity; a missing role fails', () => {
    const ok = cli(
      [
        'credential',
        'test-vault',
        '--vault',
        'aws',
        '--role-arn',
        ROLE_ARN,
        '--endpoint',
        moto.url,
        '--json-output',
      ],
      project,
      env,
    );
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(json(ok.stdout).data).toMatchObject({ vault: 'aws', ok: true });
    const missing = cli(
      [
        'credential',
        'test-vault',
        '--vault',
        'aws',
        '--role-arn',
        `arn:aws:iam::${ACCOUNT}:role/no-such-role`,
        '--endpoint',
        moto.url,
      ],
      project,
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('the role does not exist');
    expect(ok.stdout + missing.stdout).not.toContain(SECRET_KEY);
  });

  it('test-vault --vault secrets-manager finds the secrets without reading them; a missing one fails', () => {
    const file = join(project, 'secrets.yaml');
    writeFileSync(file, 'secrets:\n  rotate-db-password: prod/db/password\n');
    const ok = cli(
      [
        'credential',
        'test-vault',
        '--vault',
        'secrets-manager',
        '--vault-config',
        file,
        '--endpoint',
        moto.url,
      ],
      project,
      env,
    );
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ok.stdout).not.toContain('hunter2');
    writeFileSync(file, 'secrets:\n  rotate-db-password: prod/db/nothing-here\n');
    const missing = cli(
      [
        'credential',
        'test-vault',
        '--vault',
        'secrets-manager',
        '--vault-config',
        file,
        '--endpoint',
        moto.url,
      ],
      project,
      env,
    );
    expect(missing.code).toBe(1);
    const misplaced = cli(
      ['credential', 'test-vault', '--vault', 'aws', '--role-arn', ROLE_ARN, '--namespace', 'x'],
      project,
      env,
    );
    expect(misplaced.code).toBe(1);
    expect(misplaced.stderr + misplaced.stdout).toContain('--namespace do(es) not apply to --vault aws');
  });
});
