import { appendFileSync, cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { ensureProjectDirectory } from '../project-directory.js';

/**
 * Where `init` copies from: the templates and catalogue copied into `dist/templates` at build time,
 * found from the package root so it works from dist/ and from the single-file bundle alike.
 */
function templatesDirectory(): string {
  let directory = import.meta.dirname;
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error('cannot find the @agent-safe/cli package root');
    directory = parent;
  }
  return join(directory, 'dist', 'templates');
}

export class InitCommand extends BaseCommand {
  static override paths = [['init']];
  static override usage = Command.Usage({
    description: 'Scaffold a project: actions, policies, inventory, policy tests and agent-safe.yaml',
    details: `
      Creates \`dir\` (default: the current directory) with a curated action catalogue, an example policy
      (allow dev, approval for prod and for critical risk, and a few outright denials), an inventory whose
      targets carry the identifiers the actions are bound to, a policy test suite and an \`agent-safe.yaml\`.
      Existing files are never overwritten unless --force is given.

      --catalog picks the catalogue: \`kubernetes\` (the default: 20 Kubernetes actions, deny prod namespace
      deletion), \`aws\` (13 AWS actions on EC2, ECS, Lambda, S3 and IAM; deny prod instance termination and
      prod IAM changes) or \`all\` (both, with both inventories, rule sets and test suites).

      With --approvals, human approvals are on from the start: an HS256 signing key is generated in \`keys/\`
      (as \`identity keygen\` does), and agent-safe.yaml gets \`signing_key\`, \`allow_plain_callers: true\` and
      an \`approvals\` block whose approver role is \`approver\` (docs/approvals.md shows the loop).
    `,
    examples: [
      ['Scaffold into ./myproject', '$0 init myproject'],
      ['Scaffold here', '$0 init'],
      ['Scaffold the AWS catalogue', '$0 init myproject --catalog aws'],
      ['Scaffold with human approvals turned on', '$0 init myproject --approvals'],
    ],
  });

  dir = Option.String({ name: 'dir', required: false });
  force = Option.Boolean('--force', false, { description: 'Overwrite files that already exist' });
  catalog = Option.String('--catalog', 'kubernetes', {
    description: 'Which curated catalogue to scaffold: kubernetes (default), aws or all',
  });
  approvals = Option.Boolean('--approvals', false, {
    description: 'Also generate a signing key and turn on human approvals (approver role: approver)',
  });

  async run(): Promise<number> {
    const catalog = this.catalog;
    if (!isCatalog(catalog)) {
      const { AgentSafeError } = await import('@agent-safe/sdk');
      throw new AgentSafeError(
        'USAGE',
        `--catalog: expected one of ${CATALOGS.join(', ')}, got ${JSON.stringify(catalog.slice(0, 40))}; e.g. --catalog aws`,
      );
    }
    const target = resolve(this.dir ?? '.');
    const entries = ['actions', 'policies', 'inventory.yaml', 'tests', 'agent-safe.yaml'];
    const existing = entries.filter((entry) => existsSync(join(target, entry)));
    if (existing.length > 0 && !this.force) {
      const { AgentSafeError } = await import('@agent-safe/sdk');
      throw new AgentSafeError(
        'USAGE',
        `${target} already has ${existing.join(', ')}; choose an empty directory or pass --force to overwrite`,
      );
    }
    ensureProjectDirectory(target);
    const copy = (source: string, destination: string): void =>
      cpSync(join(templatesDirectory(), source), join(target, destination), {
        recursive: true,
        force: this.force,
        errorOnExist: false,
      });
    for (const [source, destination] of scaffoldFiles(catalog)) copy(source, destination);
    if (catalog === 'all') appendAwsTargets(join(target, 'inventory.yaml'));
    if (this.approvals) {
      // The keygen command itself, so the key gets exactly its checks and modes.
      const { runCli } = await import('../main.js');
      const code = await runCli(['identity', 'keygen', '--out', join(target, 'keys')], {
        stdin: this.context.stdin,
        stdout: this.context.stderr,
        stderr: this.context.stderr,
      });
      if (code !== 0) return code;
      appendFileSync(join(target, 'agent-safe.yaml'), APPROVALS_SETTINGS);
    }
    const style = this.out;
    const where = relative(process.cwd(), target) || '.';
    const actionCount = readdirSync(join(target, 'actions')).filter((file) => file.endsWith('.yaml')).length;
    this.print(`${style.green('Created')} an Agent-Safe project in ${style.bold(where)}:`);
    const { label, policies, tests, example, approvalExample } = SUMMARY[catalog];
    this.print(`  actions/          ${actionCount} curated ${label} action definitions`);
    for (const line of policies) this.print(`  ${line}`);
    this.print(
      '  inventory.yaml    example targets in dev, staging and prod, with the identifiers params must match',
    );
    this.print(`  tests/            ${tests}`);
    this.print('  agent-safe.yaml   paths and defaults used by the CLI and SDK');
    this.print();
    this.print('Next:');
    if (where !== '.') this.print(`  cd ${where}`);
    this.print('  agent-safe validate');
    this.print('  agent-safe test tests/');
    this.print(`  agent-safe check ${example}`);
    if (this.approvals) {
      this.print();
      this.print('Approvals are on (approver role: approver). Try the loop:');
      this.print('  export ALICE=$(agent-safe identity create --agent-id alice --roles approver)');
      this.print(`  agent-safe check ${approvalExample}`);
      this.print('  agent-safe approval list --status pending');
      this.print('  agent-safe approval approve <id> --approver-token env:ALICE');
      this.print('  (then the same check again: ALLOW with its execution ticket)');
    } else {
      this.print('  (human approvals: agent-safe init --approvals, or see docs/approvals.md)');
    }
    return EXIT.OK;
  }
}

/** What `init --approvals` appends to agent-safe.yaml. */
const APPROVALS_SETTINGS = `
# Human approvals (docs/approvals.md): a REQUIRE_APPROVAL becomes an approval request; an approver decides
# with a token carrying the approver role (agent-safe identity create --agent-id alice --roles approver,
# then agent-safe approval approve <id> --approver-token env:NAME); the agent asks again for its ticket.
signing_key: file:keys/signing-key.secret
# Agents may still use plain ids (recorded as unauthenticated); approvers always need tokens.
allow_plain_callers: true
approvals:
  approver_roles: [approver]
  ttl_seconds: 3600
  thresholds: { critical: 2 }
`;

const CATALOGS = ['kubernetes', 'aws', 'all'] as const;
type Catalog = (typeof CATALOGS)[number];

function isCatalog(value: string): value is Catalog {
  return (CATALOGS as readonly string[]).includes(value);
}

/**
 * What each catalogue scaffolds, as [path under dist/templates, path in the project]. The Kubernetes files
 * sit at the top of the templates (as before --catalog existed); the AWS ones under aws/: its own actions,
 * inventory and tests, its rules in policies/aws.yaml, and, without the Kubernetes policy, a default.yaml
 * holding only the general rules (the Kubernetes default.yaml names Kubernetes actions).
 */
function scaffoldFiles(catalog: Catalog): [string, string][] {
  const kubernetes: [string, string][] = [
    ['actions', 'actions'],
    ['policies', 'policies'],
    ['inventory.yaml', 'inventory.yaml'],
    ['tests', 'tests'],
  ];
  const aws: [string, string][] = [
    ['aws/actions', 'actions'],
    ['aws/policies/aws.yaml', 'policies/aws.yaml'],
    ['aws/tests', 'tests'],
  ];
  const common: [string, string][] = [['agent-safe.yaml', 'agent-safe.yaml']];
  if (catalog === 'kubernetes') return [...kubernetes, ...common];
  if (catalog === 'aws')
    return [
      ...aws,
      ['aws/policies/default.yaml', 'policies/default.yaml'],
      ['aws/inventory.yaml', 'inventory.yaml'],
      ...common,
    ];
  return [...kubernetes, ...aws, ...common];
}

/**
 * `--catalog all`: one inventory holds both sets of targets. The AWS inventory's list (everything after its
 * `targets:` line) is appended to the Kubernetes one just copied.
 */
function appendAwsTargets(inventory: string): void {
  const aws = readFileSync(join(templatesDirectory(), 'aws', 'inventory.yaml'), 'utf8');
  const start = aws.search(/^targets:[ \t]*$/m);
  if (start < 0) throw new Error('the AWS inventory template has no "targets:" line');
  const list = aws.slice(aws.indexOf('\n', start) + 1);
  const kubernetes = readFileSync(inventory, 'utf8').trimEnd();
  writeFileSync(
    inventory,
    `${kubernetes}\n\n  # AWS targets (catalog/aws): identifiers account, region, arn and the resource's own id or name.\n${list}`,
  );
}

/** What `init` prints about each catalogue. */
const SUMMARY: Record<
  Catalog,
  { label: string; policies: string[]; tests: string; example: string; approvalExample: string }
> = {
  kubernetes: {
    label: 'Kubernetes',
    policies: ['policies/         default.yaml (allow dev, approval for prod, deny prod namespace deletion)'],
    tests: 'policy test suite',
    example: `restart-deployment --target dev/test-app --caller deploy-agent --params '{"namespace":"dev","deployment":"app"}'`,
    approvalExample: `restart-deployment --target prod/web-frontend --caller deploy-agent --params '{"namespace":"prod","deployment":"web-frontend"}'`,
  },
  aws: {
    label: 'AWS',
    policies: [
      'policies/         default.yaml (allow dev, approval for prod and critical risk)',
      '                  aws.yaml (deny prod instance termination and prod IAM changes)',
    ],
    tests: 'policy test suite for the AWS actions',
    example: `ec2-stop-instance --target dev/build-instance --caller deploy-agent --params '{"instance_id":"i-0fedcba9876543210","region":"eu-west-1"}'`,
    approvalExample: `ec2-stop-instance --target prod/web-instance --caller deploy-agent --params '{"instance_id":"i-0a1b2c3d4e5f67890","region":"us-east-1"}'`,
  },
  all: {
    label: 'Kubernetes and AWS',
    policies: [
      'policies/         default.yaml (allow dev, approval for prod, deny prod namespace deletion)',
      '                  aws.yaml (deny prod instance termination and prod IAM changes)',
    ],
    tests: 'policy test suites for the Kubernetes and the AWS actions',
    example: `restart-deployment --target dev/test-app --caller deploy-agent --params '{"namespace":"dev","deployment":"app"}'`,
    approvalExample: `restart-deployment --target prod/web-frontend --caller deploy-agent --params '{"namespace":"prod","deployment":"web-frontend"}'`,
  },
};
