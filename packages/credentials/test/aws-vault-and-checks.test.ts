import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { inspect } from 'node:util';
import type { ActionDefinition, CredentialRequest } from '@agent-safe/core';
import { parseActionDefinition, parseYaml } from '@agent-safe/registry';
import {
  SecretsManagerVault,
  describeCredentialPlan,
  renderScope,
  testAwsProvider,
  testSecretsManagerVault,
} from '../src/index.js';
import { rejected, thrown } from './helpers.js';
import { type MotoServer, startMoto } from '../../audit/test/moto-server.js';

const RUNNER = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'runner-secret-not-a-real-key' };
const DB_PASSWORD = 'correct-horse-battery-staple-42';

function load(yaml: string): ActionDefinition {
  const result = parseActionDefinition(parseYaml(yaml, 'a.yaml'), 'a.yaml');
  if (result.action === undefined) throw new Error(JSON.stringify(result.issues));
  return result.action;
}

const deleteObject = load(`
name: s3-delete-object
version: "1.0.0"
description: Delete an object.
parameters:
  - { name: bucket, type: string, required: true }
  - { name: key, type: string, required: true, sensitive: true }
  - { name: region, type: string, required: true }
risk_class: high
target_types: [aws-s3-bucket]
reversible: false
credentials:
  type: aws
  fields:
    actions: ["s3:DeleteObject", "s3:GetObject"]
    resources: ["arn:aws:s3:::{{ params.bucket }}/{{ params.key }}"]
  ttl: 300
`);

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto();
}, 60_000);
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await fetch(`${moto.url}/moto-api/reset`, { method: 'POST' });
});

function request(): CredentialRequest {
  const params = { bucket: 'logs', key: 'a/b.txt', region: 'us-east-1' };
  const scope = renderScope(deleteObject, params)!;
  return {
    action: 's3-delete-object@1.0.0',
    target: null,
    params,
    scope,
    ttlSeconds: 300,
    requestId: 'req-1',
  };
}

describe('SecretsManagerVault against moto', () => {
  it('hands out the secret (JSON parsed), never shows it, and forgets it on revoke', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1', endpoint: moto.url, credentials: RUNNER });
    await client.send(
      new CreateSecretCommand({
        Name: 'prod/db',
        SecretString: JSON.stringify({ user: 'app', password: DB_PASSWORD }),
      }),
    );
    const vault = new SecretsManagerVault({
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
      secrets: { 's3-delete-object': 'prod/db' },
    });
    const credential = await vault.issue(request());
    expect(credential.material).toEqual({ user: 'app', password: DB_PASSWORD });
    expect(credential.id).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:prod\/db-/);
    for (const shown of [
      JSON.stringify(credential),
      String(credential),
      inspect(credential),
      credential.notes.join(),
    ]) {
      expect(shown).not.toContain(DB_PASSWORD);
    }
    expect(credential.notes.join()).toMatch(/stays valid at AWS until rotated/);
    await vault.revoke(credential);
    expect(() => credential.material).toThrow(/revoked/);
  });

  it('a missing secret or an unconfigured action: clear errors naming the secret or action', async () => {
    const vault = new SecretsManagerVault({
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
      secrets: (action) => (action.startsWith('s3-') ? 'nope' : undefined),
    });
    expect((await rejected(() => vault.issue(request()))).message).toMatch(
      /Reading secret nope for s3-delete-object@1.0.0 failed \(ResourceNotFoundException/,
    );
    const other = new SecretsManagerVault({ region: 'us-east-1', endpoint: moto.url, secrets: {} });
    const error = await rejected(() => other.issue(request()));
    expect((error as { code?: string }).code).toBe('CONFIG_INVALID');
    expect(() => new SecretsManagerVault({ region: '', secrets: {} })).toThrow(/region is required/);
  });

  it('testSecretsManagerVault describes the secrets without reading them', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1', endpoint: moto.url, credentials: RUNNER });
    await client.send(new CreateSecretCommand({ Name: 'prod/db', SecretString: DB_PASSWORD }));
    const result = await testSecretsManagerVault({
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
      secrets: { 's3-delete-object': 'prod/db', 'ec2-stop-instance': 'prod/missing' },
    });
    expect(result.ok).toBe(false);
    expect(result.checks[0]).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/exists .*its value was not read/),
    });
    expect(result.checks[1]).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/ResourceNotFoundException/),
    });
    expect(JSON.stringify(result)).not.toContain(DB_PASSWORD);
  });
});

describe('testAwsProvider against moto', () => {
  it('checks the caller, the role, AssumeRole with a deny-all policy, and says the revoke rights were not checked', async () => {
    const iam = new IAMClient({ region: 'us-east-1', endpoint: moto.url, credentials: RUNNER });
    const role = await iam.send(
      new CreateRoleCommand({
        RoleName: 'agent-safe-executor',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    const result = await testAwsProvider({
      roleArn: role.Role!.Arn!,
      region: 'us-east-1',
      endpoint: moto.url,
      credentials: RUNNER,
    });
    expect(result.checks.map((check) => [check.name.split(' ')[0], check.ok, check.required])).toEqual([
      ['sts:GetCallerIdentity', true, true],
      ['iam:GetRole', true, true],
      ['sts:AssumeRole', true, true],
      ['iam:GetRolePolicy,', false, false],
    ]);
    expect(result.ok).toBe(true);
    expect(result.checks[3]!.detail).toMatch(/not checked: SimulatePrincipalPolicy failed/);
    // The test session was opened with a deny-all policy (moto keeps it).
    const data = (await (await fetch(`${moto.url}/moto-api/data.json`)).json()) as {
      sts: { AssumedRole: { policy: string; session_name: string }[] };
    };
    expect(data.sts.AssumedRole).toHaveLength(1);
    expect(JSON.parse(data.sts.AssumedRole[0]!.policy).Statement).toEqual([
      { Effect: 'Deny', Action: '*', Resource: '*' },
    ]);
    expect(JSON.stringify(result)).not.toContain(RUNNER.secretAccessKey);
  });

  it('a role that does not exist fails the required check', async () => {
    const result = await testAwsProvider({
      roleArn: 'arn:aws:iam::123456789012:role/missing',
      endpoint: moto.url,
      region: 'us-east-1',
      credentials: RUNNER,
    });
    expect(result.ok).toBe(false);
    expect(result.checks[1]).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/the role does not exist/),
    });
  });

  it('an endpoint that is down: the first check fails and nothing else is tried', async () => {
    const result = await testAwsProvider({
      roleArn: 'arn:aws:iam::123456789012:role/r',
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: RUNNER,
    });
    expect(result.ok).toBe(false);
    expect(result.checks).toHaveLength(1);
    await expect(testAwsProvider({ roleArn: 'role/r' })).rejects.toThrow(/roleArn must be an IAM role ARN/);
  });
});

describe('describeCredentialPlan for aws (no call)', () => {
  it('shows the session policy, the duration asked and granted, the role and the session name; masks sensitive params', () => {
    const description = describeCredentialPlan(
      deleteObject,
      { bucket: 'logs', key: 'private/report.pdf', region: 'us-east-1' },
      { requestId: 'req-9', roleArn: 'arn:aws:iam::123456789012:role/agent-safe-executor' },
    );
    expect(description).toMatchObject({
      type: 'aws',
      ttl: { requestedSeconds: 300, grantedSeconds: 900 },
      scope: { fields: { resources: ['arn:aws:s3:::logs/[masked: sensitive param]'] } },
      session: {
        roleArn: 'arn:aws:iam::123456789012:role/agent-safe-executor',
        sessionName: 'agent-safe-req-9',
        durationSeconds: 900,
        policy: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['s3:DeleteObject', 's3:GetObject'],
              Resource: ['arn:aws:s3:::logs/[masked: sensitive param]'],
            },
          ],
        },
      },
    });
    expect(description.notes.join()).toMatch(/raised to STS's minimum session of 900s/);
    expect(JSON.stringify(description)).not.toContain('private/report.pdf');
  });

  it('a hostile param is refused exactly as the runner refuses it', () => {
    const error = thrown(() =>
      describeCredentialPlan(
        deleteObject,
        { bucket: 'logs', key: 'a/*', region: 'us-east-1' },
        { requestId: 'r' },
      ),
    );
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toMatch(/param "key"/);
  });
});
