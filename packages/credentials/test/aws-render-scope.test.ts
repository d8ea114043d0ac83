import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionDefinition } from '@agent-safe/core';
import { parseActionDefinition, parseYaml } from '@agent-safe/registry';
import { AWS_SESSION_POLICY_MAX_CHARS, awsSessionPolicy, renderScope } from '../src/index.js';
import { thrown } from './helpers.js';

/** The seeds' ec2-stop-instance, in the original's schema (credentials with an ARN template). */
const EC2_STOP = `
name: ec2-stop-instance
version: "1.0.0"
description: Stop an EC2 instance.
parameters:
  - { name: instance_id, type: string, required: true }
  - { name: region, type: string, required: true }
  - { name: account, type: string, required: false }
  - { name: count, type: integer, required: false }
risk_class: high
target_types: [aws-ec2-instance]
reversible: true
credentials:
  type: aws
  fields:
    actions: ["ec2:StopInstances", "ec2:DescribeInstances"]
    resources: ["arn:aws:ec2:{{ params.region }}:*:instance/{{ params.instance_id }}"]
  ttl: 300
`;

function load(yaml: string): ActionDefinition {
  const result = parseActionDefinition(parseYaml(yaml, 'test.yaml'), 'test.yaml');
  if (result.action === undefined) throw new Error(JSON.stringify(result.issues));
  return result.action;
}

const base = load(EC2_STOP);

function withFields(fields: Record<string, unknown>): ActionDefinition {
  return { ...base, credentials: { type: 'aws', fields, ttl: 300 } };
}

const good = { instance_id: 'i-0123456789abcdef0', region: 'us-east-1' };

describe('renderScope for aws', () => {
  it('renders the seed block: templates inside the ARN, the literal account "*" kept', () => {
    const scope = renderScope(base, good)!;
    expect(scope.type).toBe('aws');
    expect(scope.fields.actions).toEqual(['ec2:StopInstances', 'ec2:DescribeInstances']);
    expect(scope.fields.resources).toEqual(['arn:aws:ec2:us-east-1:*:instance/i-0123456789abcdef0']);
  });

  it('renders an S3 object ARN whose key (ending the ARN) holds slashes', () => {
    const action = withFields({
      actions: ['s3:DeleteObject'],
      resources: ['arn:aws:s3:::{{ params.instance_id }}/{{ params.region }}'],
    });
    const scope = renderScope(action, { instance_id: 'my-bucket', region: 'logs/2026/app.log' })!;
    expect(scope.fields.resources).toEqual(['arn:aws:s3:::my-bucket/logs/2026/app.log']);
  });

  // Each hostile value is refused as PARAMS_INVALID naming the param, never echoing the value.
  const attacks: [string, Record<string, string>, RegExp][] = [
    ['a wildcard instance id', { ...good, instance_id: '*' }, /instance_id.*wildcard/],
    ['a trailing wildcard', { ...good, instance_id: 'i-0*' }, /instance_id.*wildcard/],
    ['a "?" wildcard', { ...good, instance_id: 'i-012345678?' }, /instance_id.*wildcard/],
    ['a region spilling into the account', { ...good, region: 'us-east-1:*:' }, /param "region"/],
    ['a region "*"', { ...good, region: '*' }, /region.*wildcard/],
    ['an empty region', { ...good, region: '' }, /region.*empty/],
    ['a made-up region', { ...good, region: 'moon-base' }, /region.*region name/],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
    ['a policy variable', { ...good, instance_id: '${aws:username}' }, /instance_id.*"\$"/],
    ['a path under another resource', { ...good, instance_id: 'i-1/../i-2' }, /instance_id.*"\.\."/],
    ['a colon in the resource part', { ...good, instance_id: 'i-1:extra' }, /instance_id.*":"/],
    ['a newline', { ...good, instance_id: 'i-1\narn:aws:ec2:*:*:instance/*' }, /instance_id.*control/],
    ['a NUL byte', { ...good, instance_id: 'i-1\u0000' }, /instance_id.*control/],
    ['a line separator', { ...good, instance_id: 'i-1\u2028' }, /instance_id.*control/],
    ['JSON breaking quotes', { ...good, instance_id: 'i-1","Resource":"*' }, /instance_id/],
    ['spaces', { ...good, instance_id: 'i-1 i-2' }, /instance_id.*characters/],
    ['an empty id', { ...good, instance_id: '' }, /instance_id.*empty/],
    ['a very long id', { ...good, instance_id: 'i'.repeat(1025) }, /instance_id.*longer/],
  ];
  for (const [what, params, message] of attacks) {
    it(`refuses ${what} (PARAMS_INVALID, value not echoed)`, () => {
      const error = thrown(() => renderScope(base, params));
      expect(error.code).toBe('PARAMS_INVALID');
      expect(error.message).toMatch(message);
      expect(error.message).toContain('credentials.fields.resources[0]');
      const hostile = params.instance_id !== good.instance_id ? params.instance_id : params.region;
      if (hostile!.length > 1)
        expect(JSON.stringify({ m: error.message, i: error.issues })).not.toContain(hostile);
    });
  }

  it('refuses an S3 key that is a wildcard, a "." segment or a policy variable', () => {
    const action = withFields({
      actions: ['s3:DeleteObject'],
      resources: ['arn:aws:s3:::{{ params.instance_id }}/{{ params.region }}'],
    });
    for (const key of [
      'a/*',
      '*',
      'a/?',
      'a/../b',
      './a',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
      'a/${aws:userid}',
      'a"b',
      'a:b',
      'a\\b',
      'caf\u00e9',
      'a\tb',
    ]) {
      const error = thrown(() => renderScope(action, { instance_id: 'bucket', region: key }));
      expect(error.code).toBe('PARAMS_INVALID');
      expect(error.message).toContain('param "region"');
    }
    // S3 keys may hold spaces and punctuation IAM matches literally.
    expect(
      renderScope(action, { instance_id: 'bucket', region: 'reports/Q1 2026 #final (v2).pdf' })!.fields
        .resources,
    ).toEqual(['arn:aws:s3:::bucket/reports/Q1 2026 #final (v2).pdf']);
    // The bucket is followed by "/": it may not hold one itself (bucket "a/b" + key "c" = bucket "a" + key "b/c").
    expect(thrown(() => renderScope(action, { instance_id: '..', region: 'c' })).message).toMatch(
      /param "instance_id".*"\.\." path segment/,
    );
    const error = thrown(() => renderScope(action, { instance_id: 'a/b', region: 'c' }));
    expect(error.message).toMatch(/param "instance_id".*"\/"/);
  });

  it('refuses params that are missing or not strings', () => {
    expect(thrown(() => renderScope(base, { region: 'us-east-1' })).message).toMatch(
      /instance_id" is missing/,
    );
    expect(thrown(() => renderScope(base, { ...good, instance_id: ['i-1', 'i-2'] })).message).toMatch(
      /must be a string.*an array/,
    );
    expect(thrown(() => renderScope(base, { ...good, instance_id: { toString: () => '*' } })).code).toBe(
      'PARAMS_INVALID',
    );
  });

  it('accepts an account id slot and refuses a non-account value there', () => {
    const action = withFields({
      actions: ['ec2:StopInstances'],
      resources: ['arn:aws:ec2:{{ params.region }}:{{ params.account }}:instance/{{ params.instance_id }}'],
    });
    expect(renderScope(action, { ...good, account: '123456789012' })!.fields.resources).toEqual([
      'arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0',
    ]);
    for (const account of ['*', '12345678901', 'aws', '123456789012:x']) {
      const error = thrown(() => renderScope(action, { ...good, account }));
      expect(error.code).toBe('PARAMS_INVALID');
      expect(error.message).toContain('param "account"');
    }
  });

  const configDefects: [string, Record<string, unknown>, RegExp][] = [
    ['an action not in service:Action form', { actions: ['StopInstances'], resources: ['*'] }, /IAM action/],
    [
      'an action with odd characters',
      { actions: ['ec2:Stop_Instances'], resources: ['arn:aws:s3:::b'] },
      /IAM action/,
    ],
    ['an action wildcard without opt-in', { actions: ['ec2:*'], resources: ['arn:aws:s3:::b'] }, /wildcard/],
    ['the action "*" without opt-in', { actions: ['*'], resources: ['arn:aws:s3:::b'] }, /wildcard/],
    [
      'a templated action',
      { actions: ['{{ params.region }}'], resources: ['arn:aws:s3:::b'] },
      /a param may not choose it/,
    ],
    ['a resource "*" without opt-in', { actions: ['ec2:StopInstances'], resources: ['*'] }, /wildcard/],
    [
      'a resource-part wildcard without opt-in',
      { actions: ['s3:GetObject'], resources: ['arn:aws:s3:::b/*'] },
      /wildcard/,
    ],
    [
      'a templated ARN with a literal wildcard',
      { actions: ['s3:GetObject'], resources: ['arn:aws:s3:::{{ params.instance_id }}/*'] },
      /wildcard/,
    ],
    [
      'a template in the service',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:{{ params.region }}:us-east-1:*:x'] },
      /partition or service/,
    ],
    [
      'a template sharing the region part',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:ec2:us-{{ params.region }}:*:instance/x'] },
      /whole region/,
    ],
    [
      'two templates touching',
      {
        actions: ['ec2:StopInstances'],
        resources: ['arn:aws:ec2:us-east-1:*:instance/{{ params.region }}{{ params.instance_id }}'],
      },
      /touch/,
    ],
    [
      'a malformed template',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:ec2:{{ params.region }:*:instance/x'] },
      /malformed/,
    ],
    [
      'an undeclared param',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:ec2:us-east-1:*:instance/{{ params.nope }}'] },
      /does not declare/,
    ],
    [
      'a literal that is not an ARN',
      { actions: ['ec2:StopInstances'], resources: ['instance/i-1'] },
      /not an ARN/,
    ],
    [
      'a skeleton that is not an ARN',
      {
        actions: ['ec2:StopInstances'],
        resources: ['arn:aws:ec2:{{ params.region }}:instance/{{ params.instance_id }}'],
      },
      /whole account part/,
    ],
    [
      'an unknown partition',
      { actions: ['ec2:StopInstances'], resources: ['arn:evil:ec2:us-east-1:*:instance/i-1'] },
      /partition/,
    ],
    [
      'a literal skeleton that is not an ARN',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:ec2:{{ params.region }}:*:'] },
      /not an ARN/,
    ],
    [
      'a policy variable in a literal',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
      { actions: ['s3:GetObject'], resources: ['arn:aws:s3:::b/${aws:username}'] },
      /policy variables/,
    ],
    [
      'an unknown field',
      { actions: ['ec2:StopInstances'], resources: ['arn:aws:s3:::b'], conditions: [] },
      /not a aws credentials field/,
    ],
    ['no resources', { actions: ['ec2:StopInstances'] }, /resources: is required|is required/],
    [
      'an unscoped action not among actions',
      {
        actions: ['ec2:StopInstances'],
        resources: ['arn:aws:s3:::b'],
        unscoped_actions: ['ec2:DescribeInstances'],
      },
      /not under actions/,
    ],
    [
      'an unscoped write',
      {
        actions: ['ec2:StopInstances'],
        resources: ['arn:aws:s3:::b'],
        unscoped_actions: ['ec2:StopInstances'],
      },
      /read action/,
    ],
  ];
  for (const [what, fields, message] of configDefects) {
    it(`refuses ${what} (CONFIG_INVALID)`, () => {
      const error = thrown(() => renderScope(withFields(fields), good));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(JSON.stringify(error.issues)).toMatch(message);
    });
  }

  it('grants wildcards only when written literally and opted into', () => {
    const scope = renderScope(
      withFields({
        actions: ['s3:Get*'],
        resources: ['arn:aws:s3:::{{ params.instance_id }}/*'],
        allow_wildcards: ['actions', 'resources'],
      }),
      { ...good, instance_id: 'bucket' },
    )!;
    expect(scope.fields.resources).toEqual(['arn:aws:s3:::bucket/*']);
    // Even opted in, a param never supplies a wildcard.
    const error = thrown(() =>
      renderScope(
        withFields({
          actions: ['s3:GetObject'],
          resources: ['arn:aws:s3:::{{ params.instance_id }}/x'],
          allow_wildcards: ['resources'],
        }),
        { ...good, instance_id: '*' },
      ),
    );
    expect(error.code).toBe('PARAMS_INVALID');
  });
});

describe('awsSessionPolicy', () => {
  it('is one Allow statement of actions x resources, plus unscoped reads on "*"', () => {
    const scope = renderScope(
      withFields({
        actions: ['ec2:StopInstances', 'ec2:DescribeInstances'],
        resources: ['arn:aws:ec2:{{ params.region }}:*:instance/{{ params.instance_id }}'],
        unscoped_actions: ['ec2:DescribeInstances'],
      }),
      good,
    )!;
    expect(awsSessionPolicy(scope)).toEqual({
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
    expect(awsSessionPolicy(renderScope(base, good)!).Statement).toHaveLength(1);
  });

  it("refuses a policy over STS's 2048 characters, naming the limit", () => {
    const action = withFields({
      actions: ['s3:DeleteObject'],
      resources: ['arn:aws:s3:::{{ params.instance_id }}/{{ params.region }}'],
    });
    const scope = renderScope(action, { instance_id: 'bucket', region: 'k'.repeat(1000) })!;
    const twice = {
      ...scope,
      fields: {
        ...scope.fields,
        resources: [scope.fields.resources![0]!, `${scope.fields.resources![0]!}2`],
      },
    };
    const error = thrown(() => awsSessionPolicy(twice));
    expect(error.code).toBe('PARAMS_INVALID');
    expect(error.message).toContain(String(AWS_SESSION_POLICY_MAX_CHARS));
    expect(error.message).not.toContain('kkkk');
  });

  it('refuses a scope of another type', () => {
    expect(thrown(() => awsSessionPolicy({ type: 'kubernetes', fields: {}, ttl: 1 })).code).toBe(
      'CONFIG_INVALID',
    );
  });
});

describe('renderScope on the curated AWS catalogue (catalog/aws)', () => {
  const dir = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');
  const params = {
    instance_id: 'i-0123456789abcdef0',
    region: 'eu-west-3',
    cluster: 'shop',
    service: 'web',
    task: '0123456789abcdef0123456789abcdef',
    role_name: 'app-role',
    policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
    function_name: 'resize',
    bucket: 'shop-logs',
    key: 'logs/2026/app.log',
  };
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.yaml'))) {
    it(`${file}: renders, and its session policy fits STS's limit`, () => {
      const path = join(dir, file);
      const result = parseActionDefinition(parseYaml(readFileSync(path, 'utf8'), path), path);
      const scope = renderScope(result.action!, params)!;
      expect(scope.type).toBe('aws');
      expect(JSON.stringify(scope.fields.resources)).not.toContain('{{');
      expect(awsSessionPolicy(scope).Statement.length).toBeGreaterThan(0);
    });
  }
});
