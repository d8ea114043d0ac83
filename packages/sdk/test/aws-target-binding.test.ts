import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { awsSessionPolicy, renderScope } from '@agent-safe/credentials';
import { ActionRegistry } from '@agent-safe/registry';
import { AgentSafe } from '../src/index.js';

// The curated AWS catalogue (catalog/aws) against AWS targets: every action's params must name the
// instance, service, cluster, function, bucket or role (and region) of the target the policy decided on.
const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'aws');

const INVENTORY = `targets:
  - id: dev/instance
    type: aws-ec2-instance
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", region: eu-west-1, instance_id: i-0123456789abcdef0, arn: "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0" }
  - id: dev/service
    type: aws-ecs-service
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", region: eu-west-1, cluster: dev-cluster, name: api }
  - id: dev/cluster
    type: aws-ecs-cluster
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", region: eu-west-1, cluster: dev-cluster }
  - id: dev/function
    type: aws-lambda-function
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", region: eu-west-1, name: thumbnailer }
  - id: dev/bucket
    type: aws-s3-bucket
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", region: eu-west-1, name: dev-scratch }
  - id: dev/role
    type: aws-iam-role
    environment: dev
    sensitivity: public
    identifiers: { account: "123456789012", name: ci-role, arn: "arn:aws:iam::123456789012:role/ci-role" }
`;

const dir = mkdtempSync(join(tmpdir(), 'agent-safe-aws-binding-'));
writeFileSync(join(dir, 'inventory.yaml'), INVENTORY);
writeFileSync(
  join(dir, 'policy.yaml'),
  'rules:\n  - { name: allow-all, match: { actions: ["*"] }, decision: allow }\n',
);
writeFileSync(
  join(dir, 'agent-safe.yaml'),
  `registry: ${JSON.stringify(CATALOG)}\npolicies: ./policy.yaml\ninventory: ./inventory.yaml\nenforce_target_types: true\nenforce_target_binding: true\n`,
);
const safe = new AgentSafe({ cwd: dir, auditLog: false });
afterAll(() => safe.close());

const region = 'eu-west-1';
const policy = { Version: '2012-10-17', Statement: [] };
const readOnly = 'arn:aws:iam::aws:policy/ReadOnlyAccess';

/** For each action: its target, params naming that target, and well-formed params naming another resource. */
const CASES: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
  [
    'ec2-stop-instance',
    'dev/instance',
    { instance_id: 'i-0123456789abcdef0', region },
    { instance_id: 'i-0fedcba987654321f' },
  ],
  [
    'ec2-start-instance',
    'dev/instance',
    { instance_id: 'i-0123456789abcdef0', region },
    { region: 'eu-west-2' },
  ],
  [
    'ec2-reboot-instance',
    'dev/instance',
    { instance_id: 'i-0123456789abcdef0', region },
    { instance_id: 'i-01234567' },
  ],
  [
    'ec2-terminate-instance',
    'dev/instance',
    { instance_id: 'i-0123456789abcdef0', region },
    { region: 'us-east-1' },
  ],
  [
    'ecs-scale-service',
    'dev/service',
    { cluster: 'dev-cluster', service: 'api', desired_count: 2, region },
    { service: 'payments' },
  ],
  [
    'ecs-update-service',
    'dev/service',
    { cluster: 'dev-cluster', service: 'api', force_new_deployment: true, region },
    { cluster: 'prod-cluster' },
  ],
  [
    'ecs-stop-task',
    'dev/cluster',
    { cluster: 'dev-cluster', task: '0123456789abcdef0123456789abcdef', region },
    { cluster: 'prod-cluster' },
  ],
  [
    'lambda-update-function-config',
    'dev/function',
    { function_name: 'thumbnailer', memory_size: 256, region },
    { function_name: 'billing-run' },
  ],
  [
    'lambda-invoke-function',
    'dev/function',
    { function_name: 'thumbnailer', region },
    { region: 'us-east-1' },
  ],
  [
    's3-delete-object',
    'dev/bucket',
    { bucket: 'dev-scratch', key: 'tmp/Q1 report #2.csv', region },
    { bucket: 'customer-data' },
  ],
  [
    's3-put-bucket-policy',
    'dev/bucket',
    { bucket: 'dev-scratch', policy, region },
    { bucket: 'customer-data' },
  ],
  [
    'iam-attach-role-policy',
    'dev/role',
    { role_name: 'ci-role', policy_arn: readOnly, region },
    { role_name: 'app-role' },
  ],
  [
    'iam-detach-role-policy',
    'dev/role',
    { role_name: 'ci-role', policy_arn: readOnly, region },
    { role_name: 'app-role' },
  ],
];

describe('the AWS catalogue is bound to its targets', () => {
  it('covers all 13 actions', () => {
    expect(new Set(CASES.map(([action]) => action)).size).toBe(13);
  });

  it.each(CASES)(
    '%s: params naming the target are allowed, another resource is DENY TARGET_MISMATCH',
    async (action, target, params, other) => {
      const allowed = await safe.check({ action, target, caller: 'agent', params });
      expect([allowed.result, allowed.reason]).toEqual(['ALLOW', expect.any(String)]);
      const denied = await safe.check({ action, target, caller: 'agent', params: { ...params, ...other } });
      expect(denied.result).toBe('DENY');
      expect(denied.errors[0]?.code).toBe('TARGET_MISMATCH');
      const [name, value] = Object.entries(other)[0]!;
      expect(denied.reason).toContain(`params.${name} is "${String(value)}" but target "${target}"`);
    },
  );

  it('refuses an action on a target of another AWS type', async () => {
    const decision = await safe.check({
      action: 's3-delete-object',
      target: 'dev/role',
      caller: 'agent',
      params: { bucket: 'ci-role', key: 'k', region },
    });
    expect(decision.result).toBe('DENY');
    expect(decision.reason).toMatch(/applies to target types \[aws-s3-bucket\].*"aws-iam-role"/);
  });
});

/** The resources each allowed request's credential is limited to: the target's own resource. */
const SCOPED: Record<string, string[]> = {
  'ec2-stop-instance': ['arn:aws:ec2:eu-west-1:*:instance/i-0123456789abcdef0'],
  'ec2-start-instance': ['arn:aws:ec2:eu-west-1:*:instance/i-0123456789abcdef0'],
  'ec2-reboot-instance': ['arn:aws:ec2:eu-west-1:*:instance/i-0123456789abcdef0'],
  'ec2-terminate-instance': ['arn:aws:ec2:eu-west-1:*:instance/i-0123456789abcdef0'],
  'ecs-scale-service': ['arn:aws:ecs:eu-west-1:*:service/dev-cluster/api'],
  'ecs-update-service': ['arn:aws:ecs:eu-west-1:*:service/dev-cluster/api'],
  'ecs-stop-task': ['arn:aws:ecs:eu-west-1:*:task/dev-cluster/0123456789abcdef0123456789abcdef'],
  'lambda-update-function-config': ['arn:aws:lambda:eu-west-1:*:function:thumbnailer'],
  'lambda-invoke-function': ['arn:aws:lambda:eu-west-1:*:function:thumbnailer'],
  's3-delete-object': ['arn:aws:s3:::dev-scratch/tmp/Q1 report #2.csv'],
  's3-put-bucket-policy': ['arn:aws:s3:::dev-scratch'],
  'iam-attach-role-policy': ['arn:aws:iam::*:role/ci-role'],
  'iam-detach-role-policy': ['arn:aws:iam::*:role/ci-role'],
};

describe("the AWS catalogue's credential scopes render for the bound request", () => {
  const registry = ActionRegistry.loadSync(CATALOG);

  it.each(CASES)("%s: a session policy on the target's resource only", (action, _target, params) => {
    const definition = registry.get(action)!;
    const document = awsSessionPolicy(renderScope(definition, params)!);
    const [scoped, ...unscoped] = document.Statement;
    expect(scoped?.Resource).toEqual(SCOPED[action]);
    expect(scoped?.Action).not.toContain('*');
    // Only the reads IAM cannot scope to a resource are allowed on "*".
    for (const statement of unscoped) {
      expect([statement.Resource, statement.Action]).toEqual([
        '*',
        [action.startsWith('ec2-') ? 'ec2:DescribeInstances' : 'iam:GetPolicy'],
      ]);
    }
    expect(unscoped.length).toBe(action.startsWith('ec2-') || action === 'iam-attach-role-policy' ? 1 : 0);
  });
});
