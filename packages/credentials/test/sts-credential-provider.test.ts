import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CreateRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { inspect } from 'node:util';
import type { CredentialRequest } from '@agent-safe/core';
import { parseActionDefinition, parseYaml } from '@agent-safe/registry';
import {
  AWS_REVOKE_POLICY_NAME,
  type AwsCredentialMaterial,
  StsCredentialProvider,
  awsSessionName,
  renderScope,
  revokePolicyWith,
  revokedUserIds,
} from '../src/index.js';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';
import { rejected } from './helpers.js';

const RUNNER = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'runner-secret-not-a-real-key' };
const ROLE_NAME = 'agent-safe-executor';
const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }],
});

const action = (() => {
  const yaml = `
name: ec2-stop-instance
version: "1.0.0"
description: Stop an EC2 instance.
parameters:
  - { name: instance_id, type: string, required: true }
  - { name: region, type: string, required: true }
risk_class: high
target_types: [aws-ec2-instance]
reversible: true
credentials:
  type: aws
  fields:
    actions: ["ec2:StopInstances", "ec2:DescribeInstances"]
    resources: ["arn:aws:ec2:{{ params.region }}:*:instance/{{ params.instance_id }}"]
    unscoped_actions: ["ec2:DescribeInstances"]
  ttl: 300
`;
  const result = parseActionDefinition(parseYaml(yaml, 'a.yaml'), 'a.yaml');
  if (result.action === undefined) throw new Error(JSON.stringify(result.issues));
  return result.action;
})();

let moto: MotoServer;
let iam: IAMClient;
let roleArn: string;

function request(
  requestId: string,
  params = { instance_id: 'i-0123456789abcdef0', region: 'us-east-1' },
): CredentialRequest {
  const scope = renderScope(action, params)!;
  return { action: 'ec2-stop-instance@1.0.0', target: null, params, scope, ttlSeconds: scope.ttl, requestId };
}

function provider(extra: Partial<ConstructorParameters<typeof StsCredentialProvider>[0]> = {}) {
  return new StsCredentialProvider({
    roleArn,
    region: 'us-east-1',
    endpoint: moto.url,
    credentials: RUNNER,
    ...extra,
  });
}

async function revokePolicy() {
  const output = await iam.send(
    new GetRolePolicyCommand({ RoleName: ROLE_NAME, PolicyName: AWS_REVOKE_POLICY_NAME }),
  );
  const text = output.PolicyDocument!;
  return JSON.parse(text.startsWith('{') ? text : decodeURIComponent(text));
}

beforeAll(async () => {
  moto = await startMoto();
}, 60_000);
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await fetch(`${moto.url}/moto-api/reset`, { method: 'POST' });
  iam = new IAMClient({ region: 'us-east-1', endpoint: moto.url, credentials: RUNNER });
  const role = await iam.send(
    new CreateRoleCommand({ RoleName: ROLE_NAME, AssumeRolePolicyDocument: TRUST }),
  );
  roleArn = role.Role!.Arn!;
});

describe('StsCredentialProvider against moto', () => {
  it('assumes the role with the rendered session policy (read back from moto), 900 s, a named session', async () => {
    const sts = provider();
    const credential = await sts.issue(request('01HXAMPLE-audit-id'));
    expect(credential.id).toBe(
      `arn:aws:sts::123456789012:assumed-role/${ROLE_NAME}/agent-safe-01HXAMPLE-audit-id`,
    );
    expect(credential.kind).toBe('aws-sts-session');
    expect(credential.notes.join(' ')).toMatch(/ttl 300s raised to STS's minimum session of 900s/);
    expect(credential.expiresAt - credential.issuedAt).toBeLessThanOrEqual(900_000);
    expect(credential.expiresAt - credential.issuedAt).toBeGreaterThan(890_000);
    const material = credential.material;
    expect(material.accessKeyId).toMatch(/^ASIA/);
    expect(material.region).toBe('us-east-1');
    // The session's own identity, with its keys: the assumed role.
    const who = await new STSClient({ region: 'us-east-1', endpoint: moto.url, credentials: material }).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe(credential.id);
    // moto keeps the session policy it was given: it is exactly the rendered one.
    const data = (await (await fetch(`${moto.url}/moto-api/data.json`)).json()) as {
      sts: { AssumedRole: { arn: string; policy: string; session_name: string }[] };
    };
    const session = data.sts.AssumedRole.find((entry) => entry.arn === credential.id)!;
    expect(JSON.parse(session.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AgentSafeScoped',
          Effect: 'Allow',
          Action: ['ec2:StopInstances'],
          Resource: ['arn:aws:ec2:us-east-1:*:instance/i-0123456789abcdef0'],
        },
        { Sid: 'AgentSafeUnscopedReads', Effect: 'Allow', Action: ['ec2:DescribeInstances'], Resource: '*' },
      ],
    });
    expect(sts.sessionOf(credential)).toMatchObject({ requestedSeconds: 300, grantedSeconds: 900 });
    // Nothing secret in what may be printed or audited.
    for (const shown of [
      JSON.stringify(credential),
      String(credential),
      inspect(credential),
      credential.notes.join(),
    ]) {
      expect(shown).not.toContain(material.secretAccessKey);
      expect(shown).not.toContain(material.sessionToken);
      expect(shown).not.toContain(material.accessKeyId);
    }
  });

  it('derives a session name STS accepts from any request id', () => {
    expect(awsSessionName('a b/c:d')).toBe('agent-safe-a-b-c-d');
    expect(awsSessionName('x'.repeat(200))).toHaveLength(64);
    expect(awsSessionName('id', 'runner.prod')).toBe('runner.prod-id');
  });

  it("revoke writes an inline deny for the session's aws:userid on the role (read back), and invalidates the handle", async () => {
    const sts = provider();
    const first = await sts.issue(request('req-1'));
    const second = await sts.issue(request('req-2'));
    const firstUserId = sts.sessionOf(first)!.assumedRoleId;
    await sts.revoke(first);
    expect(() => first.material).toThrow(/revoked/);
    let policy = await revokePolicy();
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0]).toMatchObject({ Effect: 'Deny', Action: '*', Resource: '*' });
    expect(policy.Statement[0].Condition.StringEquals['aws:userid']).toEqual([firstUserId]);
    expect(firstUserId).toMatch(/^AROA[A-Z0-9]+:agent-safe-req-1$/);
    await sts.revoke(second);
    policy = await revokePolicy();
    expect([...revokedUserIds(policy)].sort()).toEqual(
      [firstUserId, `${firstUserId.split(':')[0]}:agent-safe-req-2`].sort(),
    );
    // Idempotent.
    await sts.revoke(second);
    expect(revokedUserIds(await revokePolicy()).size).toBe(2);
  });

  it('concurrent revokes of one provider all end up denied (the policy is rewritten one at a time)', async () => {
    const sts = provider();
    const credentials = await Promise.all(['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => sts.issue(request(id))));
    const userIds = credentials.map((credential) => sts.sessionOf(credential)!.assumedRoleId);
    await Promise.all(credentials.map((credential) => sts.revoke(credential)));
    expect([...revokedUserIds(await revokePolicy())].sort()).toEqual([...userIds].sort());
  });

  it('a runner that restarted revokes by the session ARN alone (iam:GetRole for the role id)', async () => {
    const credential = await provider().issue(request('req-restart'));
    const userId = `${credential.id.split('/')[1]}`;
    expect(userId).toBe(ROLE_NAME);
    await provider().revoke(credential);
    const ids = [...revokedUserIds(await revokePolicy())];
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(/^AROA[A-Z0-9]+:agent-safe-req-restart$/);
  });

  it('prunes the entries of sessions that expired, keeping other statements', async () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    const expired = revokePolicyWith(undefined, 'AROAOLD:old', now - 60 * 60_000, now - 2 * 60 * 60_000);
    const withForeign = {
      ...expired,
      Statement: [
        ...expired.Statement,
        { Sid: 'Custom', Effect: 'Deny' as const, Action: 's3:*', Resource: '*' },
      ],
    };
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: ROLE_NAME,
        PolicyName: AWS_REVOKE_POLICY_NAME,
        PolicyDocument: JSON.stringify(withForeign),
      }),
    );
    const sts = provider({ clock: { now: () => Date.now() } });
    const credential = await sts.issue(request('req-new'));
    await sts.revoke(credential);
    const policy = await revokePolicy();
    const ids = revokedUserIds(policy);
    expect(ids.has('AROAOLD:old')).toBe(false);
    expect(ids.size).toBe(1);
    expect(policy.Statement.map((statement: { Sid: string }) => statement.Sid)).toContain('Custom');
    // Same-minute expiries share one statement; a session expired less than 5 minutes ago is kept.
    const recent = revokePolicyWith(undefined, 'AROA:a', now - 60_000, now);
    const both = revokePolicyWith(recent, 'AROA:b', now - 60_000, now);
    expect(both.Statement).toHaveLength(1);
    expect([...revokedUserIds(both)]).toEqual(['AROA:a', 'AROA:b']);
  });

  it('revoke on a role that is gone: a clear INTERNAL error naming the role, no key in it, handle invalidated', async () => {
    const sts = new StsCredentialProvider({
      roleArn: 'arn:aws:iam::123456789012:role/missing',
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
    });
    // moto lets any role be assumed; the revoke policy cannot be written on a role that does not exist.
    const credential = await sts.issue(request('req-x'));
    const material = credential.material;
    const error = await rejected(() => sts.revoke(credential));
    expect(error.message).toMatch(
      /Writing the revoke policy AgentSafeRevokedSessions on role missing failed \(NoSuchEntity/,
    );
    expect(() => credential.material).toThrow(/revoked/);
    for (const secret of [
      RUNNER.secretAccessKey,
      RUNNER.accessKeyId,
      material.secretAccessKey,
      material.sessionToken,
      material.accessKeyId,
    ]) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('an endpoint that is down: a clear error, nothing issued', async () => {
    const sts = new StsCredentialProvider({
      roleArn,
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: RUNNER,
    });
    const error = await rejected(() => sts.issue(request('req-down')));
    expect((error as { code?: string }).code).toBe('INTERNAL');
    expect(error.message).toMatch(/AssumeRole of .* failed/);
    expect(error.message).not.toContain('\n');
  });

  it('refuses a roleArn that is not a role ARN and a bad session prefix (USAGE)', () => {
    expect(() => new StsCredentialProvider({ roleArn: 'arn:aws:iam::123456789012:user/bob' })).toThrow(
      /roleArn must be an IAM role ARN/,
    );
    expect(
      () =>
        new StsCredentialProvider({ roleArn: 'arn:aws:iam::123456789012:role/r', sessionNamePrefix: 'a b' }),
    ).toThrow(/sessionNamePrefix/);
  });

  it('a scope of another type is refused before any call', async () => {
    const sts = provider();
    const error = await rejected(() =>
      sts.issue({ ...request('req-k'), scope: { type: 'kubernetes', fields: {}, ttl: 600 } }),
    );
    expect((error as { code?: string }).code).toBe('CONFIG_INVALID');
  });
});

export type { AwsCredentialMaterial };
