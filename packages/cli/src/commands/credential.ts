import { Command, Option } from 'clipanion';
import type { CredentialPlanDescription } from '@agent-safe/sdk';
import { BaseCommand, ConfigCommand } from '../base-command.js';
import { CliError, usageError as usage } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { printable, type Style } from '../output.js';
import { MAX_PARAMS_BYTES, readInputFile } from '../read-input.js';
import { readTicketAndParams } from './enforcement-input.js';
import { printRefusal, roleArnArgument, verifyUnconsumed } from './runner.js';

/** Namespace the Kubernetes credential provider creates its ServiceAccounts in, unless told otherwise. */
export const DEFAULT_CREDENTIAL_NAMESPACE = 'agent-safe';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function namespaceArgument(value: string | undefined, flag: string): string {
  const namespace = value ?? DEFAULT_CREDENTIAL_NAMESPACE;
  if (!DNS1123_LABEL.test(namespace)) {
    throw usage(
      `${flag} must be a Kubernetes namespace name (a DNS-1123 label: lowercase letters, digits and -, at most 63 characters), got "${printable(namespace.slice(0, 70))}"`,
    );
  }
  return namespace;
}

/** Region and endpoint of `--vault aws|secrets-manager`: flags, then agent-safe.yaml's aws: block, then AWS_*. */
async function awsFlags(region: string | undefined, endpoint: string | undefined) {
  const { loadProjectConfig, resolveAwsOptions } = await import('@agent-safe/sdk');
  const flags = {
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
  };
  // The flags are checked before the file is read, so a typo is reported as the flag's.
  resolveAwsOptions(flags, {}, {}, (key) => `--${key}`);
  return resolveAwsOptions(flags, loadProjectConfig().aws, process.env, (key) => `--${key}`);
}

function printPlan(print: (text?: string) => void, style: Style, plan: CredentialPlanDescription): void {
  const row = (label: string, text: string) =>
    print(`  ${style.dim(label.length < 15 ? label.padEnd(15) : `${label} `)}${text}`);
  if (plan.scope === null) {
    row('credentials', style.dim('none declared: the runner resolves no credential for this action'));
  } else {
    row('type', printable(plan.scope.type));
    for (const [field, values] of Object.entries(plan.scope.fields)) {
      row(field, printable(values.map((value) => (value === '' ? '""' : value)).join(', ')));
    }
  }
  if (plan.ttl !== null) {
    row(
      'ttl',
      `${plan.ttl.requestedSeconds} s asked, ${plan.ttl.grantedSeconds} s requested from ${plan.type === 'aws' ? 'STS (DurationSeconds; 900 s at least)' : 'Kubernetes'}`,
    );
  } else if (plan.scope !== null) {
    row('ttl', `${plan.scope.ttl} s`);
  }
  if (plan.objects.length > 0) {
    print(`  ${style.dim('objects the provider would create, in order')}`);
    for (const object of plan.objects) {
      const where = object.namespace ? `${object.namespace}/` : '';
      const extra =
        object.expirationSeconds !== undefined
          ? style.dim(` (expirationSeconds ${object.expirationSeconds})`)
          : '';
      print(`    ${printable(`${object.kind} ${where}${object.name}`)}${extra}`);
      for (const rule of object.rules ?? [])
        print(`      ${style.dim('rule')} ${printable(JSON.stringify(rule))}`);
      if (object.roleRef !== undefined) {
        print(
          `      ${style.dim('binds')} ${printable(JSON.stringify(object.roleRef))} ${style.dim('to')} ${printable(JSON.stringify(object.subjects ?? []))}`,
        );
      }
    }
  }
  if (plan.session !== undefined) {
    const { session } = plan;
    row(
      'role',
      session.roleArn === null ? style.dim('(pass --role-arn to show it)') : printable(session.roleArn),
    );
    row('session name', printable(session.sessionName));
    print(`  ${style.dim('session policy (inline, given to AssumeRole)')}`);
    for (const statement of session.policy.Statement ?? [])
      print(`    ${printable(JSON.stringify(statement))}`);
    row('revoke', printable(session.revoke));
  }
  if (plan.deleteOrder.length > 0) row('revoke order', printable(plan.deleteOrder.join(' → ')));
  for (const note of plan.notes) row('note', printable(note));
}

export class CredentialResolveCommand extends ConfigCommand {
  static override paths = [['credential', 'resolve']];
  static override usage = Command.Usage({
    description:
      'Show the credential a ticket would get: scope, ttl, the Kubernetes objects or the AWS session policy, minting nothing',
    details: `
      Verifies the execution ticket against the params WITHOUT consuming it (as \`runner dry-run\`), renders
      the action's \`credentials\` block with those params exactly as the runner would (every value
      checked), and prints the credential plan: the scope, the ttl asked for and the one requested from
      Kubernetes (at least 600 s), and the ServiceAccount, Role(s), RoleBinding(s) and TokenRequest the
      Kubernetes provider would create, with their rules, and the order they are revoked in.

      For an action with an \`aws\` block: the IAM actions and resources rendered from the params, the
      session duration asked for and the one STS is asked for (the block's ttl raised to STS's 900 s
      minimum, with a note), the session name, the inline session policy AssumeRole would get, and how
      revoke denies the session (\`--role-arn\` shows the role it would assume).

      Nothing is created, no token is minted and no secret is printed; values of params marked sensitive
      are masked. \`--namespace\` is where the provider creates its ServiceAccounts (default agent-safe);
      \`--name-prefix\` starts every object name (default agent-safe).

      Exit codes: 0 the plan was printed; 1 the ticket is not valid for the params, the block cannot be
      rendered, or bad input.
    `,
    examples: [
      [
        'The credential a scale would get',
        `$0 credential resolve "$TICKET" --params '{"namespace":"dev","deployment":"app","replicas":3}'`,
      ],
      [
        'As JSON, ServiceAccounts in ops',
        '$0 credential resolve - --params-file params.json --namespace ops --json-output < ticket.jwt',
      ],
      [
        'The STS session policy an EC2 stop would run with',
        `$0 credential resolve "$TICKET" --params '{"instance_id":"i-0abc1234def567890","region":"eu-west-1"}' --role-arn arn:aws:iam::123456789012:role/agent-safe-executor`,
      ],
    ],
  });

  token = Option.String({ name: 'ticket' });
  params = Option.String('--params', {
    description: 'The params the ticket was issued for, as a JSON object',
  });
  paramsFile = Option.String('--params-file', {
    description: 'File holding the params JSON object (- for standard input)',
  });
  namespace = Option.String('--namespace', {
    description: `Namespace of the provider's ServiceAccounts (default ${DEFAULT_CREDENTIAL_NAMESPACE})`,
  });
  namePrefix = Option.String('--name-prefix', {
    description: 'Start of every object name (default agent-safe)',
  });
  roleArn = Option.String('--role-arn', {
    description: 'IAM role the STS provider would assume (aws blocks; shown in the plan)',
  });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds the ticket claims and the plan',
  });

  async run(): Promise<number> {
    const namespace = namespaceArgument(this.namespace, '--namespace');
    if (this.namePrefix !== undefined && !DNS1123_LABEL.test(this.namePrefix)) {
      throw usage(
        '--name-prefix must be a DNS-1123 label (lowercase letters, digits and -), at most 30 characters',
      );
    }
    if (this.roleArn !== undefined) roleArnArgument(this.roleArn);
    const { ticket, params, paramsGiven } = await readTicketAndParams(this, this.context.stdin);
    const safe = await this.open({ auditLog: false });
    try {
      const verified = await verifyUnconsumed(safe, ticket, params, paramsGiven);
      if (!verified.ok) return printRefusal(this, verified);
      const { describeCredentialPlan } = await import('@agent-safe/sdk');
      const plan = describeCredentialPlan(verified.definition, verified.params, {
        namespace,
        requestId: verified.ticket.auditId,
        ...(this.namePrefix !== undefined ? { namePrefix: this.namePrefix } : {}),
        ...(this.roleArn !== undefined ? { roleArn: this.roleArn } : {}),
      });
      if (this.jsonOutput) {
        return this.printEnvelope(EXIT.OK, { minted: false, consumed: false, ticket: verified.ticket, plan });
      }
      const style = this.out;
      this.print(
        `${style.green('✓ valid')} ${style.bold(printable(plan.action))} on ${printable(verified.target)} ${style.dim(`(decision ${printable(verified.ticket.auditId)})`)}`,
      );
      this.print(
        style.yellow(
          `  PLAN ONLY: nothing was created, ${plan.type === 'aws' ? 'no role was assumed' : 'no token was minted'}, the ticket was NOT used`,
        ),
      );
      printPlan((text) => this.print(text), style, plan);
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

/** Most bytes of a `--vault-config` file. */
const MAX_VAULT_CONFIG_BYTES = MAX_PARAMS_BYTES;

/** The env vault's map (action → credential field → environment variable), from a JSON or YAML file. */
async function envVaultActions(file: string): Promise<Record<string, Record<string, string>>> {
  const text = await readInputFile(file, '--vault-config', MAX_VAULT_CONFIG_BYTES);
  const { parseYaml } = await import('@agent-safe/sdk');
  const document = parseYaml(text, file) as { actions?: unknown } | null;
  const actions = document?.actions;
  const shape =
    'expected `actions:` mapping each action to its credential fields and the environment variables holding them, e.g. actions: { scale-deployment: { token: DEV_K8S_TOKEN } }';
  if (actions === null || typeof actions !== 'object' || Array.isArray(actions)) {
    throw new CliError('CONFIG_INVALID', `${file}: ${shape}`, {
      issues: [{ file, path: 'actions', message: shape }],
    });
  }
  for (const [action, fields] of Object.entries(actions as Record<string, unknown>)) {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
      throw new CliError('CONFIG_INVALID', `${file}: actions.${printable(action)}: ${shape}`, {
        issues: [{ file, path: `actions.${action}`, message: shape }],
      });
    }
  }
  return actions as Record<string, Record<string, string>>;
}

/** The `--secrets-manager` vault's map (action → secret name or ARN), from a JSON or YAML file. */
async function secretsMap(file: string): Promise<Record<string, string>> {
  const text = await readInputFile(file, '--vault-config', MAX_VAULT_CONFIG_BYTES);
  const { parseYaml } = await import('@agent-safe/sdk');
  const document = parseYaml(text, file) as { secrets?: unknown } | null;
  const secrets = document?.secrets;
  const shape =
    'expected `secrets:` mapping each action to the name or ARN of its secret, e.g. secrets: { rotate-db-password: prod/db/password }';
  if (
    secrets === null ||
    typeof secrets !== 'object' ||
    Array.isArray(secrets) ||
    Object.keys(secrets).length === 0 ||
    Object.values(secrets).some((id) => typeof id !== 'string' || !/^[\w/+=.@:-]{1,2048}$/.test(id))
  ) {
    throw new CliError('CONFIG_INVALID', `${file}: ${shape}`, {
      issues: [{ file, path: 'secrets', message: shape }],
    });
  }
  return secrets as Record<string, string>;
}

const VAULTS = ['kubernetes', 'aws', 'secrets-manager', 'env'] as const;
type Vault = (typeof VAULTS)[number];

/** The flags each vault takes (anything else given is refused, so a flag never silently does nothing). */
const VAULT_FLAGS: Readonly<Record<Vault, readonly string[]>> = {
  kubernetes: ['--kubeconfig', '--context', '--namespace', '--target-namespace'],
  aws: ['--role-arn', '--region', '--endpoint'],
  'secrets-manager': ['--vault-config', '--action', '--region', '--endpoint'],
  env: ['--vault-config', '--action'],
};

export class CredentialTestVaultCommand extends BaseCommand {
  static override paths = [['credential', 'test-vault']];
  static override usage = Command.Usage({
    description:
      'Check that the credential vault can work: variables set, Kubernetes rights held, an AWS role assumable or secrets present',
    details: `
      \`--vault kubernetes\` (default): asks the API server, with the kubeconfig's identity (the runner's own:
      \`--kubeconfig\`, \`--context\`, else $KUBECONFIG or ~/.kube/config), whether the namespace of the
      credential ServiceAccounts exists (\`--namespace\`, default agent-safe) and, through
      SelfSubjectAccessReviews, whether it may create and delete ServiceAccounts and their tokens there,
      Roles and RoleBindings where actions act (\`--target-namespace\`, repeatable; default every
      namespace), and — needed only by node and namespace actions — ClusterRoles and ClusterRoleBindings.
      Creates nothing. Needs @agent-safe/executor-k8s (with @kubernetes/client-node) installed.

      \`--vault aws\`: with the runner's own AWS identity (the SDK's default chain: environment, profile,
      instance role), asks STS who it is, checks that \`--role-arn\` exists (iam:GetRole), assumes it once
      with a deny-all session policy (the session can do nothing; its keys are dropped at once), and
      whether the runner may write the revoke policy on the role (iam:GetRolePolicy, iam:PutRolePolicy;
      reported as not checked where the endpoint cannot simulate policies). \`--region\` and \`--endpoint\`
      default to agent-safe.yaml's \`aws:\` block, then AWS_REGION / AWS_DEFAULT_REGION and AWS_ENDPOINT_URL.

      \`--vault secrets-manager\`: reads \`--vault-config FILE\` (\`secrets:\` → action → secret name or ARN)
      and checks that each secret exists (DescribeSecret), never reading a value; \`--action\` limits
      the check to those actions.

      \`--vault env\` (development only): reads \`--vault-config FILE\` (JSON or YAML: \`actions:\` → action →
      credential field → environment variable name) and reports which variables are set and which are
      missing, never their values; \`--action\` (repeatable) limits the check to those actions.

      Exit codes: 0 every required check passed; 1 a check failed (each failure says what is missing) or
      bad input.
    `,
    examples: [
      [
        'The runner identity of the current kubeconfig context',
        '$0 credential test-vault --vault kubernetes',
      ],
      [
        'Another context, actions acting in dev',
        '$0 credential test-vault --vault kubernetes --context dev --namespace agent-safe --target-namespace dev',
      ],
      [
        'Development env vault',
        '$0 credential test-vault --vault env --vault-config vault.yaml --json-output',
      ],
      [
        'The STS provider of --credentials aws',
        '$0 credential test-vault --vault aws --role-arn arn:aws:iam::123456789012:role/agent-safe-executor --region eu-west-1',
      ],
      [
        'Secrets Manager secrets of the actions',
        '$0 credential test-vault --vault secrets-manager --vault-config secrets.yaml --region eu-west-1',
      ],
    ],
  });

  vault = Option.String('--vault', { description: 'kubernetes (default), aws, secrets-manager or env' });
  kubeconfig = Option.String('--kubeconfig', { description: 'Kubeconfig file (kubernetes)' });
  kubeContext = Option.String('--context', { description: 'Kubeconfig context (kubernetes)' });
  namespace = Option.String('--namespace', {
    description: `Namespace of the credential ServiceAccounts (kubernetes; default ${DEFAULT_CREDENTIAL_NAMESPACE})`,
  });
  targetNamespaces = Option.Array('--target-namespace', {
    description: 'A namespace actions act in (kubernetes; repeatable; default every namespace)',
  });
  roleArn = Option.String('--role-arn', { description: 'IAM role the STS provider assumes (aws)' });
  region = Option.String('--region', { description: 'AWS region (aws, secrets-manager)' });
  endpoint = Option.String('--endpoint', {
    description: 'AWS endpoint override: https://, or http:// on a loopback address (aws, secrets-manager)',
  });
  vaultConfig = Option.String('--vault-config', {
    description: 'Env vault map or secrets map, JSON or YAML (env, secrets-manager)',
  });
  actions = Option.Array('--action', {
    description: 'Only check this action (env, secrets-manager; repeatable)',
  });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds ok and the checks',
  });

  async run(): Promise<number> {
    const vault = this.vault ?? 'kubernetes';
    if (!(VAULTS as readonly string[]).includes(vault)) {
      throw usage(`--vault must be one of ${VAULTS.join(', ')}, got "${printable(vault.slice(0, 40))}"`);
    }
    const flags: Record<string, unknown> = {
      '--kubeconfig': this.kubeconfig,
      '--context': this.kubeContext,
      '--namespace': this.namespace,
      '--target-namespace': this.targetNamespaces,
      '--role-arn': this.roleArn,
      '--region': this.region,
      '--endpoint': this.endpoint,
      '--vault-config': this.vaultConfig,
      '--action': this.actions,
    };
    const misplaced = Object.entries(flags)
      .filter(([flag, value]) => value !== undefined && !VAULT_FLAGS[vault as Vault].includes(flag))
      .map(([flag]) => flag);
    if (misplaced.length > 0) {
      throw usage(`${misplaced.join(', ')} do(es) not apply to --vault ${vault}`);
    }
    if (this.jsonOutput && (vault === 'aws' || vault === 'secrets-manager')) {
      // JSON mode keeps stderr quiet: no AWS SDK notice about Node 20 (docs/aws.md).
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
    }
    const result =
      vault === 'env'
        ? await this.testEnv()
        : vault === 'aws'
          ? await this.testAws()
          : vault === 'secrets-manager'
            ? await this.testSecretsManager()
            : await this.testKubernetes();
    const exitCode = result.ok ? EXIT.OK : EXIT.ERROR;
    if (this.jsonOutput) {
      const failed = result.checks.filter((check) => !check.ok && check.required !== false);
      return this.printEnvelope(
        exitCode,
        { vault, ...result },
        failed.map((check) => ({
          code: 'CONFIG_INVALID',
          message: `${check.name}: ${check.detail}`,
          path: check.name,
        })),
      );
    }
    const style = this.out;
    for (const check of result.checks) {
      const mark = check.ok
        ? style.green('✓')
        : check.required === false
          ? style.yellow('!')
          : style.red('✗');
      const optional = !check.ok && check.required === false ? style.dim(' (optional)') : '';
      this.print(`${mark} ${printable(check.name)}${optional}: ${printable(check.detail)}`);
    }
    this.print(
      result.ok
        ? style.green(`${vault} vault: every required check passed`)
        : style.red(
            `${vault} vault: ${result.checks.filter((check) => !check.ok && check.required !== false).length} required check(s) failed`,
          ),
    );
    return exitCode;
  }

  private async testAws() {
    if (this.roleArn === undefined) {
      throw usage(
        '--vault aws needs --role-arn ARN: the IAM role the STS provider assumes (e.g. arn:aws:iam::123456789012:role/agent-safe-executor)',
      );
    }
    const roleArn = roleArnArgument(this.roleArn);
    const aws = await awsFlags(this.region, this.endpoint);
    const { testAwsProvider } = await import('@agent-safe/sdk');
    return testAwsProvider({ roleArn, ...aws });
  }

  private async testSecretsManager() {
    if (this.vaultConfig === undefined) {
      throw usage(
        '--vault secrets-manager needs --vault-config FILE: the map of action → secret name or ARN (e.g. secrets: { rotate-db-password: prod/db/password })',
      );
    }
    const secrets = await secretsMap(this.vaultConfig);
    const aws = await awsFlags(this.region, this.endpoint);
    if (aws.region === undefined) {
      throw usage(
        '--vault secrets-manager needs a region: pass --region, set aws.region in agent-safe.yaml, or AWS_REGION',
      );
    }
    const { testSecretsManagerVault } = await import('@agent-safe/sdk');
    return testSecretsManagerVault({
      region: aws.region,
      ...(aws.endpoint !== undefined ? { endpoint: aws.endpoint } : {}),
      secrets,
      ...(this.actions !== undefined ? { actions: this.actions } : {}),
    });
  }

  private async testEnv() {
    if (this.vaultConfig === undefined) {
      throw usage(
        '--vault env needs --vault-config FILE: the map of action → credential field → environment variable name (e.g. actions: { scale-deployment: { token: DEV_K8S_TOKEN } })',
      );
    }
    const actions = await envVaultActions(this.vaultConfig);
    const { EnvVault, testEnvVault } = await import('@agent-safe/sdk');
    const result = testEnvVault(new EnvVault({ actions }), this.actions);
    return { ...result, checks: result.checks.map((check) => ({ ...check, required: true })) };
  }

  private async testKubernetes() {
    const namespace = namespaceArgument(this.namespace, '--namespace');
    for (const target of this.targetNamespaces ?? []) namespaceArgument(target, '--target-namespace');
    const { kubernetesCredentialApi, kubernetesPrecheckReadRules, testKubernetesProvider } = await import(
      '@agent-safe/sdk'
    );
    const api = await kubernetesCredentialApi({
      ...(this.kubeconfig !== undefined ? { kubeconfig: this.kubeconfig } : {}),
      ...(this.kubeContext !== undefined ? { context: this.kubeContext } : {}),
    });
    // The runner's identity also runs the Kubernetes executor's prechecks: their reads are checked too.
    return testKubernetesProvider(api, namespace, {
      ...(this.targetNamespaces !== undefined ? { targetNamespaces: this.targetNamespaces } : {}),
      readRules: await kubernetesPrecheckReadRules(),
    });
  }
}
