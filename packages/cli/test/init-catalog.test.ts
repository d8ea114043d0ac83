import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { cli } from './run-cli.js';

// `agent-safe init --catalog kubernetes|aws|all`: each scaffolds a project that validates strictly and
// whose policy tests pass, with the catalogue's actions, targets, rules and tests.

function scaffold(...flags: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-init-catalog-'));
  const result = cli(['init', 'project', ...flags], root);
  expect([result.code, result.stderr]).toEqual([0, '']);
  return join(root, 'project');
}

function actionNames(project: string): string[] {
  const list = cli(['list-actions', '--json-output'], project);
  expect(list.code).toBe(0);
  return (JSON.parse(list.stdout).data.actions as { name: string }[]).map((action) => action.name).sort();
}

function targetTypes(project: string): string[] {
  const inventory = parse(readFileSync(join(project, 'inventory.yaml'), 'utf8')) as {
    targets: { type: string }[];
  };
  return [...new Set(inventory.targets.map((target) => target.type))].sort();
}

function expectValidAndTested(project: string, cases: number): void {
  const validate = cli(['validate', '--strict'], project);
  expect([validate.code, validate.stdout]).toEqual([0, expect.stringMatching(/Valid/)]);
  const tests = cli(['test', 'tests/'], project);
  expect([tests.code, tests.stdout]).toEqual([0, expect.stringContaining(`${cases} passed, 0 failed`)]);
}

const AWS_ACTIONS = [
  'ec2-reboot-instance',
  'ec2-start-instance',
  'ec2-stop-instance',
  'ec2-terminate-instance',
  'ecs-scale-service',
  'ecs-stop-task',
  'ecs-update-service',
  'iam-attach-role-policy',
  'iam-detach-role-policy',
  'lambda-invoke-function',
  'lambda-update-function-config',
  's3-delete-object',
  's3-put-bucket-policy',
];
const AWS_TYPES = [
  'aws-ec2-instance',
  'aws-ecs-cluster',
  'aws-ecs-service',
  'aws-iam-role',
  'aws-lambda-function',
  'aws-s3-bucket',
];

describe('agent-safe init --catalog', () => {
  it('aws: the 13 AWS actions, AWS targets, general and AWS rules, and AWS policy tests that pass', () => {
    const project = scaffold('--catalog', 'aws');
    expect(actionNames(project)).toEqual(AWS_ACTIONS);
    expect(targetTypes(project)).toEqual(AWS_TYPES);
    expect(readdirSync(join(project, 'policies')).sort()).toEqual(['aws.yaml', 'default.yaml']);
    expect(readdirSync(join(project, 'tests'))).toEqual(['aws-policy-tests.yaml']);
    expectValidAndTested(project, 18);
    // The command init suggests works as printed.
    const check = cli(
      [
        'check',
        'ec2-stop-instance',
        '--target',
        'dev/build-instance',
        '--caller',
        'deploy-agent',
        '--params',
        '{"instance_id":"i-0fedcba9876543210","region":"eu-west-1"}',
      ],
      project,
    );
    expect([check.code, check.stdout]).toEqual([0, expect.stringMatching(/^ALLOW/)]);
  });

  it('all: both catalogues, one inventory with both sets of targets, both rule sets and test suites', () => {
    const project = scaffold('--catalog', 'all');
    const names = actionNames(project);
    expect(names).toHaveLength(33);
    expect(names).toEqual(expect.arrayContaining([...AWS_ACTIONS, 'drain-node', 'scale-deployment']));
    expect(targetTypes(project)).toEqual(
      [...AWS_TYPES, 'k8s-deployment', 'k8s-namespace', 'k8s-node', 'k8s-pod'].sort(),
    );
    expect(readdirSync(join(project, 'tests')).sort()).toEqual([
      'aws-policy-tests.yaml',
      'policy-tests.yaml',
    ]);
    expectValidAndTested(project, 31);
  });

  it('kubernetes is the default, and --catalog kubernetes scaffolds the same files', () => {
    const plain = scaffold();
    const explicit = scaffold('--catalog', 'kubernetes');
    expect(actionNames(plain)).toHaveLength(20);
    expect(actionNames(explicit)).toEqual(actionNames(plain));
    expect(targetTypes(plain)).toEqual(['k8s-deployment', 'k8s-namespace', 'k8s-node', 'k8s-pod']);
    for (const file of ['inventory.yaml', 'policies/default.yaml', 'tests/policy-tests.yaml']) {
      expect(readFileSync(join(explicit, file), 'utf8')).toBe(readFileSync(join(plain, file), 'utf8'));
    }
    expect(readdirSync(join(plain, 'policies'))).toEqual(['default.yaml']);
    expectValidAndTested(plain, 13);
  });

  it('aws with --approvals suggests an AWS request that needs approval', () => {
    const root = mkdtempSync(join(tmpdir(), 'agent-safe-init-catalog-'));
    const result = cli(['init', 'project', '--catalog', 'aws', '--approvals'], root);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('agent-safe check ec2-stop-instance --target prod/web-instance');
    const check = cli(
      [
        'check',
        'ec2-stop-instance',
        '--target',
        'prod/web-instance',
        '--caller',
        'deploy-agent',
        '--params',
        '{"instance_id":"i-0a1b2c3d4e5f67890","region":"us-east-1"}',
      ],
      join(root, 'project'),
    );
    expect(check.stdout).toMatch(/^REQUIRE_APPROVAL/);
  });

  it('refuses an unknown catalogue, naming the choices, and writes nothing', () => {
    const root = mkdtempSync(join(tmpdir(), 'agent-safe-init-catalog-'));
    const result = cli(['init', 'project', '--catalog', 'azure'], root);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--catalog: expected one of kubernetes, aws, all, got "azure"/);
    expect(readdirSync(root)).toEqual([]);
  });
});
