import { appendFileSync, cpSync, existsSync, readdirSync } from 'node:fs';
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
      Creates \`dir\` (default: the current directory) with the curated Kubernetes actions, an example policy
      (allow dev, approval for prod, deny prod namespace deletion), an inventory, a policy test suite and an
      \`agent-safe.yaml\`. Existing files are never overwritten unless --force is given.

      With --approvals, human approvals are on from the start: an HS256 signing key is generated in \`keys/\`
      (as \`identity keygen\` does), and agent-safe.yaml gets \`signing_key\`, \`allow_plain_callers: true\` and
      an \`approvals\` block whose approver role is \`approver\` (docs/approvals.md shows the loop).
    `,
    examples: [
      ['Scaffold into ./myproject', '$0 init myproject'],
      ['Scaffold here', '$0 init'],
      ['Scaffold with human approvals turned on', '$0 init myproject --approvals'],
    ],
  });

  dir = Option.String({ name: 'dir', required: false });
  force = Option.Boolean('--force', false, { description: 'Overwrite files that already exist' });
  approvals = Option.Boolean('--approvals', false, {
    description: 'Also generate a signing key and turn on human approvals (approver role: approver)',
  });

  async run(): Promise<number> {
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
    for (const entry of entries) {
      const source = join(templatesDirectory(), entry);
      const destination = join(target, entry);
      cpSync(source, destination, { recursive: true, force: this.force, errorOnExist: false });
    }
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
    this.print(`  actions/          ${actionCount} curated Kubernetes action definitions`);
    this.print(
      '  policies/         default.yaml (allow dev, approval for prod, deny prod namespace deletion)',
    );
    this.print(
      '  inventory.yaml    example targets in dev, staging and prod, with the identifiers params must match',
    );
    this.print('  tests/            policy test suite');
    this.print('  agent-safe.yaml   paths and defaults used by the CLI and SDK');
    this.print();
    this.print('Next:');
    if (where !== '.') this.print(`  cd ${where}`);
    this.print('  agent-safe validate');
    this.print('  agent-safe test tests/');
    this.print(
      `  agent-safe check restart-deployment --target dev/test-app --caller deploy-agent --params '{"namespace":"dev","deployment":"app"}'`,
    );
    if (this.approvals) {
      this.print();
      this.print('Approvals are on (approver role: approver). Try the loop:');
      this.print('  export ALICE=$(agent-safe identity create --agent-id alice --roles approver)');
      this.print(
        `  agent-safe check restart-deployment --target prod/web-frontend --caller deploy-agent --params '{"namespace":"prod","deployment":"web-frontend"}'`,
      );
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
