import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRoleCommand,
  IAMClient,
  ListRolesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import type { Credential, CredentialRequest } from '@agent-safe/core';
import { type AwsCredentialMaterial, StsCredentialProvider } from '../src/index.js';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';

// What moto can and cannot show about least privilege, with its IAM enforcement switched on
// (INITIAL_NO_AUTH_ACTION_COUNT through /moto-api/reset-auth). docs/aws.md "What the moto tests prove"
// relies on these facts: if moto starts applying session policies or aws:userid conditions, these
// assertions fail and the docs (and stronger tests) must follow.
const ALLOW_ALL = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
});
let moto: MotoServer;
let provider: StsCredentialProvider;
let roleArn: string;

async function call(
  credential: Credential<AwsCredentialMaterial>,
  what: 'GetRole' | 'ListRoles',
): Promise<string> {
  const iam = new IAMClient({
    region: 'us-east-1',
    endpoint: moto.url,
    credentials: { ...credential.material },
  });
  try {
    if (what === 'GetRole') await iam.send(new GetRoleCommand({ RoleName: 'exec' }));
    else await iam.send(new ListRolesCommand({}));
    return 'allowed';
  } catch (error) {
    return (error as Error).name;
  }
}

function request(requestId: string): CredentialRequest {
  return {
    action: 'iam-get-role@1.0.0',
    target: null,
    params: {},
    scope: { type: 'aws', fields: { actions: ['iam:GetRole'], resources: [roleArn] }, ttl: 900 },
    ttlSeconds: 900,
    requestId,
  };
}

beforeAll(async () => {
  moto = await startMoto();
  const boot = new IAMClient({
    region: 'us-east-1',
    endpoint: moto.url,
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'bootstrap' },
  });
  await boot.send(new CreateUserCommand({ UserName: 'runner' }));
  await boot.send(
    new PutUserPolicyCommand({ UserName: 'runner', PolicyName: 'all', PolicyDocument: ALLOW_ALL }),
  );
  const key = (await boot.send(new CreateAccessKeyCommand({ UserName: 'runner' }))).AccessKey!;
  const role = await boot.send(
    new CreateRoleCommand({
      RoleName: 'exec',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  roleArn = role.Role!.Arn!;
  await boot.send(
    new PutRolePolicyCommand({ RoleName: 'exec', PolicyName: 'all', PolicyDocument: ALLOW_ALL }),
  );
  const enforce = await fetch(`${moto.url}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  expect(enforce.ok).toBe(true);
  provider = new StsCredentialProvider({
    roleArn,
    region: 'us-east-1',
    endpoint: moto.url,
    credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! },
  });
}, 60_000);

afterAll(async () => {
  await moto?.stop();
});

describe('moto with IAM enforcement on', () => {
  it('enforces identity policies: unknown keys are refused', async () => {
    const stranger = new IAMClient({
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'bootstrap' },
    });
    await expect(stranger.send(new ListRolesCommand({}))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
    });
  });

  it('does NOT apply the session policy: a session scoped to iam:GetRole may still ListRoles (so least privilege is not provable here)', async () => {
    const session = await provider.issue(request('scoped'));
    expect(await call(session, 'GetRole')).toBe('allowed');
    expect(await call(session, 'ListRoles')).toBe('allowed');
    // Revoked in the next test (a revoke here would deny every session of the role on moto).
    session.invalidate();
  });

  it('the revoke deny takes effect on the revoked session — and, moto evaluating an unknown aws:userid condition as a match, on every other session too', async () => {
    const revoked = await provider.issue(request('revoked'));
    const other = await provider.issue(request('other'));
    expect(await call(revoked, 'GetRole')).toBe('allowed');
    expect(await call(other, 'GetRole')).toBe('allowed');
    const material = { ...revoked.material };
    await provider.revoke(revoked);
    const iam = new IAMClient({ region: 'us-east-1', endpoint: moto.url, credentials: material });
    await expect(iam.send(new GetRoleCommand({ RoleName: 'exec' }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    // On real AWS the other session is unaffected; moto denies it too, so narrowness is not provable here.
    expect(await call(other, 'GetRole')).toBe('AccessDenied');
  });
});
