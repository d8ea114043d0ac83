import { Command, Option } from 'clipanion';
import type { AgentSafe, ApiCall, ExecutionResult, ExecutionTicket } from '@agent-safe/sdk';
import { ConfigCommand } from '../base-command.js';
import { usageError as usage } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { type EnvelopeError, writeEnvelope } from '../json-envelope.js';
import { printable, type Style } from '../output.js';
import {
  executorArgument,
  nonceStoreFor,
  paramsHint,
  readTicketAndParams,
  timeoutMilliseconds,
} from './enforcement-input.js';
import { ExecutionResultMask as OutputMask } from '@agent-safe/sdk/facade';

/** Longest output of a run printed for people (the JSON envelope carries all of it). */
const MAX_PRINTED_OUTPUT = 4000;

/** An IAM role ARN (`arn:aws:iam::123456789012:role/NAME`), or a USAGE error naming the flag. */
export function roleArnArgument(value: string, flag = '--role-arn'): string {
  if (!/^arn:aws(-[a-z]+)*:iam::\d{12}:role\/(?:[\x21-\x7e]*\/)?[\w+=,.@-]{1,64}$/.test(value)) {
    throw usage(
      `${flag} must be an IAM role ARN such as arn:aws:iam::123456789012:role/agent-safe-executor, got "${printable(value.slice(0, 100))}"`,
    );
  }
  return value;
}

/** The exit code of a run: 0 only when it succeeded with nothing left wrong (docs/cli.md). */
export function executionExitCode(result: ExecutionResult): number {
  if (result.status === 'succeeded') return result.error === undefined ? EXIT.OK : EXIT.EXECUTION_FAILED;
  if (result.status === 'refused') return EXIT.ERROR;
  return EXIT.EXECUTION_FAILED;
}

/**
 * The envelope error of a run that did not cleanly succeed: ticket refusals are TICKET_INVALID, bad
 * params PARAMS_INVALID, bad options USAGE; anything else EXECUTION_REFUSED (stopped before acting) or
 * EXECUTION_FAILED (attempted). The runner's own code leads the message and stays in `data.error.code`.
 */
function executionErrors(result: ExecutionResult, hint: string | undefined): EnvelopeError[] {
  if (result.error === undefined) return [];
  const { code, message } = result.error;
  const envelopeCode = code.startsWith('TICKET_')
    ? 'TICKET_INVALID'
    : code === 'PARAMS_INVALID' || code === 'USAGE'
      ? code
      : result.status === 'refused'
        ? 'EXECUTION_REFUSED'
        : 'EXECUTION_FAILED';
  const path = code === 'PARAMS_INVALID' || code === 'TICKET_PARAMS_MISMATCH' ? 'params' : 'ticket';
  return [{ code: envelopeCode, message: `${code}: ${message}${hint ? `; ${hint}` : ''}`, path }];
}

/** A hint for refusals a person can fix by passing other params. */
function paramsProblemHint(result: ExecutionResult, paramsGiven: boolean): string | undefined {
  const code = result.error?.code;
  if (code === 'TICKET_PARAMS_MISMATCH' || code === 'PARAMS_INVALID') return paramsHint(paramsGiven);
  return undefined;
}

function formatValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return printable(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/** One API call on one line: method, path, query, content type and body (bounded, escaped). */
function formatCall(call: ApiCall): string {
  const query =
    call.query && Object.keys(call.query).length > 0
      ? `?${new URLSearchParams(call.query as Record<string, string>)}`
      : '';
  const type = call.contentType ? ` [${call.contentType}]` : '';
  const body = call.body === undefined ? '' : ` ${formatValue(call.body)}`;
  return printable(`${call.method} ${call.path}${query}${type}`) + body;
}

function callsOf(output: unknown): readonly ApiCall[] | undefined {
  const calls = (output as { calls?: unknown } | null | undefined)?.calls;
  return Array.isArray(calls) ? (calls as ApiCall[]) : undefined;
}

const STATUS_MARK: Readonly<Record<string, string>> = {
  ok: '✓',
  skipped: '-',
  warned: '!',
  forced: '!',
  failed: '✗',
};

/** Prints a run for people: status, steps, the calls or output, the diff and the audit ids. */
function printExecution(
  print: (text?: string) => void,
  style: Style,
  result: ExecutionResult,
  hint: string | undefined,
): void {
  const colour =
    result.status === 'succeeded' && result.error === undefined
      ? style.green
      : result.status === 'refused'
        ? style.yellow
        : style.red;
  print(
    `${colour(style.bold(result.status))}  ${style.bold(printable(result.action || '(unknown action)'))} on ${printable(result.target || '(unknown target)')} ${style.dim(`(executor ${printable(result.executor)}, ${result.durationMs} ms${result.forced ? ', forced' : ''})`)}`,
  );
  if (result.error) {
    print(`  ${style.dim('error'.padEnd(14))}${printable(`${result.error.code}: ${result.error.message}`)}`);
    if (hint) print(`  ${style.dim('fix'.padEnd(14))}${hint}`);
  }
  if (result.steps.length > 0) {
    print(`  ${style.dim('steps')}`);
    const width = Math.max(...result.steps.map((step) => step.name.length));
    for (const step of result.steps) {
      const mark = STATUS_MARK[step.status] ?? '?';
      const detail = step.detail ? `  ${style.dim(printable(step.detail))}` : '';
      print(
        `    ${mark} ${printable(step.name.padEnd(width))}  ${step.status.padEnd(7)} ${String(step.durationMs).padStart(5)} ms${detail}`,
      );
    }
  }
  const calls = callsOf(result.output);
  if (calls !== undefined) {
    print(
      `  ${style.dim(result.executor === 'dry-run' ? 'calls (dry run: none was made, nothing changed)' : 'calls')}`,
    );
    for (const call of calls) print(`    ${formatCall(call)}`);
  } else if (result.output !== undefined) {
    const text = typeof result.output === 'string' ? result.output : (JSON.stringify(result.output) ?? '');
    const shown =
      text.length > MAX_PRINTED_OUTPUT
        ? `${text.slice(0, MAX_PRINTED_OUTPUT)}… (${text.length} characters; --json-output has all of it)`
        : text;
    print(`  ${style.dim('output')}`);
    for (const line of shown.split('\n')) print(`    ${printable(line)}`);
  }
  if (result.diff !== undefined) {
    const fields = Object.entries(result.diff);
    print(`  ${style.dim('diff')}${fields.length === 0 ? style.dim('  (no captured field changed)') : ''}`);
    for (const [field, change] of fields) {
      print(`    ${printable(field)}: ${formatValue(change.before)} → ${formatValue(change.after)}`);
    }
  }
  const ids = result.auditIds;
  const rows: [string, string | undefined][] = [
    ['decision', ids.decision],
    ['started', ids.started],
    ['execution', ids.execution],
    ['state capture', ids.stateCapture],
  ];
  if (rows.some(([, id]) => id !== undefined)) {
    print(`  ${style.dim('audit ids')}`);
    for (const [label, id] of rows) if (id !== undefined) print(`    ${label.padEnd(14)}${printable(id)}`);
  }
}

/** Why a ticket is not valid for the params given: its code, the reason and what to do. */
export interface Refusal {
  readonly ok: false;
  readonly code: string;
  readonly reason: string;
  readonly hint?: string;
}

/** A ticket verified for the params (not consumed), with its action definition and validated params. */
export interface Verified {
  readonly ok: true;
  readonly definition: ActionDefinition;
  readonly target: string;
  readonly params: Record<string, unknown>;
  readonly ticket: Omit<ExecutionTicket, 'token'>;
}

type ActionDefinition = NonNullable<ReturnType<AgentSafe['registry']['get']>>;

/**
 * Verifies a ticket against params WITHOUT consuming it, as the runner would (params validated against
 * the action first, defaults applied, then signature, issuer, expiry, action, target and params
 * digest). Single use is not checked: the nonce store is a throw-away one, so the ticket stays usable.
 */
export async function verifyUnconsumed(
  safe: AgentSafe,
  ticket: string,
  params: Record<string, unknown>,
  paramsGiven: boolean,
): Promise<Verified | Refusal> {
  const { InMemoryNonceStore, unverifiedTicketClaims } = await import('@agent-safe/sdk');
  const claims = unverifiedTicketClaims(ticket);
  if (claims.action === undefined || claims.target === undefined) {
    return {
      ok: false,
      code: 'MALFORMED',
      reason: 'the ticket is not an execution ticket (a JWT with "act" and "tgt" claims)',
      hint: 'pass the exec ticket `agent-safe check` printed for an ALLOW decision',
    };
  }
  const definition = safe.registry.get(claims.action);
  if (definition === undefined) {
    return {
      ok: false,
      code: 'ACTION_UNKNOWN',
      reason: `the ticket's action "${claims.action.slice(0, 100)}" is not in this project's registry`,
      hint: 'run the command in the project that issued the ticket (or pass its --registry)',
    };
  }
  const checked = safe.registry.validateParams(claims.action, params);
  if (!checked.ok) {
    return {
      ok: false,
      code: 'PARAMS_INVALID',
      reason: `the params are not valid for ${definition.name}: ${checked.errors.map((error) => error.message).join('; ')}`,
      hint: paramsHint(paramsGiven),
    };
  }
  const validator = await safe.createTicketValidator({ nonceStore: new InMemoryNonceStore() });
  const validation = await validator.validate(ticket, {
    action: claims.action,
    target: claims.target,
    params: checked.params,
  });
  if (!validation.valid) {
    return {
      ok: false,
      code: validation.code,
      reason: validation.reason,
      ...(validation.code === 'PARAMS_MISMATCH' ? { hint: paramsHint(paramsGiven) } : {}),
    };
  }
  const { token: _token, ...shown } = validation.ticket;
  return { ok: true, definition, target: claims.target, params: checked.params, ticket: shown };
}

/** Reports a {@link Refusal} (text or envelope); nothing was executed. Returns exit code 1. */
export function printRefusal(command: ConfigCommand & { jsonOutput: boolean }, refused: Refusal): number {
  const { code, reason, hint } = refused;
  if (command.jsonOutput) {
    writeEnvelope(command.context.stdout, {
      command: command.path.join(' '),
      exitCode: EXIT.ERROR,
      data: { code, reason, executed: false, consumed: false },
      errors: [
        {
          code: code === 'PARAMS_INVALID' ? 'PARAMS_INVALID' : 'TICKET_INVALID',
          message: `${code}: ${reason}${hint ? `; ${hint}` : ''}`,
          path: code === 'PARAMS_INVALID' ? 'params' : 'ticket',
        },
      ],
    });
    return EXIT.ERROR;
  }
  const style = command.out;
  const print = (text: string) => command.context.stdout.write(`${text}\n`);
  print(`${style.red('✗ invalid')} (${code}) ${printable(reason)}`);
  if (hint) print(`  ${style.dim('fix')}  ${hint}`);
  print(style.dim('  nothing was executed'));
  return EXIT.ERROR;
}

export class RunnerExecuteCommand extends ConfigCommand {
  static override paths = [['runner', 'execute']];
  static override usage = Command.Usage({
    description: 'Execute an approved action: the execution ticket of an ALLOW decision, through the runner',
    details: `
      Runs the ticket through the runner's pipeline (docs/enforcement.md): validate the ticket against the
      params (signature, expiry, action, target, params digest, single use) → credentials → prechecks →
      before-state → execute → after-state → audit. Prints each step, the status, the calls or output, the
      diff and the audit ids.

      The params must be exactly those the ticket was issued for (\`--params JSON\` or \`--params-file
      PATH\`, \`-\` for standard input; default \`{}\`): the ticket carries their digest, not the params.
      Pass \`-\` as the ticket to read it from standard input.

      \`--executor\`: \`dry-run\` (default; acts on nothing and shows the API calls, but does use the
      ticket), \`kubectl\` (alias \`subprocess\`; runs kubectl with \`--kubeconfig\` / \`--context\`),
      \`kubernetes\` (alias \`k8s\`; calls the API through @agent-safe/executor-k8s, an optional package) or
      \`aws\` (calls the AWS APIs through @agent-safe/executor-aws, an optional package, with the AWS SDK's
      own credentials: environment, profile, instance role). For \`aws\`, the action's \`region\` param
      wins; \`--region\` and \`--endpoint\` (https://, or http:// on 127.0.0.1 / localhost for moto or
      LocalStack) are the defaults, else agent-safe.yaml's \`aws:\` block, else AWS_REGION /
      AWS_DEFAULT_REGION and AWS_ENDPOINT_URL.

      \`--credentials kubernetes\` (with \`--executor kubernetes\`): each run gets a ServiceAccount token scoped
      by the action's \`credentials\` block (a Role on exactly the objects the params name), created by the
      kubeconfig's identity in \`--credential-namespace\` (default agent-safe) and revoked when the run ends,
      also on failure (\`agent-safe credential resolve\` shows it; \`credential test-vault\` checks the rights
      this needs). By default the executor acts with the kubeconfig's own identity.

      \`--credentials aws --role-arn ARN\` (with \`--executor aws\`): each run assumes the role through STS
      with an inline session policy rendered from the action's \`credentials\` block (at least 900 s, STS's
      minimum), and the action runs with that session only; when the run ends the session is revoked by a
      deny on the role for its \`aws:userid\`. The runner's own AWS identity needs sts:AssumeRole on the role
      and iam:GetRole, iam:GetRolePolicy and iam:PutRolePolicy on it (\`credential test-vault --vault aws\`).

      A ticket runs once: its nonce is recorded in the project's \`store\`, or in the CLI's file store at
      .agent-safe/state/ beside agent-safe.yaml, so a second run is refused (TICKET_REPLAYED). Every run
      is recorded in the audit log (agent-safe.yaml's \`audit_log\`, default ./audit.jsonl). Ctrl-C
      cancels the run (recorded as cancelled).

      Exit codes: 0 succeeded; 1 refused before acting (bad ticket or params, a failed precheck …) or bad
      input: nothing was changed; 4 attempted but failed, timed out or was cancelled (or its audit record
      or credential revoke failed): the system may have changed, see the after-state.
    `,
    examples: [
      [
        'Show what a ticket does, acting on nothing (the ticket is used up)',
        `$0 runner execute "$TICKET" --params '{"namespace":"dev","deployment":"app","replicas":3}'`,
      ],
      [
        'Scale with kubectl, the ticket on standard input',
        `$0 runner execute - --executor kubectl --context dev --params-file params.json < ticket.jwt`,
      ],
      [
        'Through the Kubernetes API, with a 60 s timeout, as JSON',
        `$0 runner execute "$TICKET" --executor kubernetes --kubeconfig ~/.kube/config --params-file params.json --timeout 60 --json-output`,
      ],
      [
        'Stop an EC2 instance with a per-run STS session scoped to it',
        `$0 runner execute "$TICKET" --executor aws --credentials aws --role-arn arn:aws:iam::123456789012:role/agent-safe-executor --params '{"instance_id":"i-0abc1234def567890","region":"eu-west-1"}'`,
      ],
      [
        'Against moto on this machine',
        `$0 runner execute "$TICKET" --executor aws --endpoint http://127.0.0.1:5000 --params-file params.json`,
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
  executor = Option.String('--executor', {
    description: 'dry-run (default), kubectl (alias subprocess), kubernetes (alias k8s) or aws',
  });
  kubeconfig = Option.String('--kubeconfig', { description: 'Kubeconfig file (kubectl and kubernetes)' });
  kubeContext = Option.String('--context', { description: 'Kubeconfig context (kubectl and kubernetes)' });
  region = Option.String('--region', {
    description: "Default AWS region (aws; the action's region param wins; default aws.region, AWS_REGION)",
  });
  endpoint = Option.String('--endpoint', {
    description: 'AWS endpoint override: https://, or http:// on a loopback address (aws; moto, LocalStack)',
  });
  credentials = Option.String('--credentials', {
    description:
      'none (default: the executor acts with its own identity), kubernetes (a scoped ServiceAccount token per run) or aws (a scoped STS session of --role-arn per run), revoked when the run ends',
  });
  credentialNamespace = Option.String('--credential-namespace', {
    description: 'Namespace of the per-run ServiceAccounts (--credentials kubernetes; default agent-safe)',
  });
  roleArn = Option.String('--role-arn', {
    description: 'IAM role each run assumes with its session policy (--credentials aws)',
  });
  force = Option.Boolean('--force', false, {
    description: 'Override failed prechecks the action marks force_allowed (audited)',
  });
  timeout = Option.String('--timeout', { description: 'Timeout of the run in seconds (default 300)' });
  auditLog = Option.String('--audit-log', { description: 'Audit log file (default ./audit.jsonl)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data is the execution result',
  });

  /** The STS provider of `--credentials aws`: the runner's own AWS identity assumes `--role-arn`. */
  private async awsCredentialProvider(aws: { region?: string; endpoint?: string }) {
    const { StsCredentialProvider } = await import('@agent-safe/sdk');
    return new StsCredentialProvider({ roleArn: this.roleArn as string, ...aws });
  }

  private async credentialProvider(namespace: string) {
    const { KubernetesCredentialProvider, kubernetesCredentialApi } = await import('@agent-safe/sdk');
    const api = await kubernetesCredentialApi({
      ...(this.kubeconfig !== undefined ? { kubeconfig: this.kubeconfig } : {}),
      ...(this.kubeContext !== undefined ? { context: this.kubeContext } : {}),
    });
    return new KubernetesCredentialProvider({ api, namespace });
  }

  /** Refuses flags that do not fit the executor and credentials chosen (nothing is read or run yet). */
  private checkFlags(executor: string, credentials: string): void {
    const aws = executor === 'aws';
    if (
      (executor === 'dry-run' || aws) &&
      (this.kubeconfig !== undefined || this.kubeContext !== undefined)
    ) {
      throw usage(
        `--kubeconfig and --context apply to --executor kubectl or kubernetes; ${executor} talks to no cluster`,
      );
    }
    if (!aws && (this.region !== undefined || this.endpoint !== undefined)) {
      throw usage('--region and --endpoint apply to --executor aws');
    }
    if (credentials !== 'none' && credentials !== 'kubernetes' && credentials !== 'aws') {
      throw usage(
        `--credentials must be none, kubernetes or aws, got "${printable(credentials.slice(0, 40))}"`,
      );
    }
    if (credentials === 'kubernetes' && executor !== 'kubernetes' && executor !== 'k8s') {
      throw usage(
        '--credentials kubernetes needs --executor kubernetes: only the Kubernetes executor acts with the per-run token (kubectl and dry-run would ignore it)',
      );
    }
    if (credentials === 'aws' && !aws) {
      throw usage(
        '--credentials aws needs --executor aws: only the AWS executor acts with the per-run STS session',
      );
    }
    if (credentials === 'aws' && this.roleArn === undefined) {
      throw usage(
        '--credentials aws needs --role-arn ARN: the IAM role each run assumes (e.g. arn:aws:iam::123456789012:role/agent-safe-executor)',
      );
    }
    if (this.roleArn !== undefined && credentials !== 'aws') {
      throw usage('--role-arn applies to --credentials aws');
    }
    if (this.roleArn !== undefined) roleArnArgument(this.roleArn);
    if (this.credentialNamespace !== undefined && credentials !== 'kubernetes') {
      throw usage('--credential-namespace applies to --credentials kubernetes');
    }
  }

  async run(): Promise<number> {
    const executor = executorArgument(this.executor);
    const timeoutMs = timeoutMilliseconds(this.timeout);
    const credentials = this.credentials ?? 'none';
    this.checkFlags(executor, credentials);
    const credentialNamespace = this.credentialNamespace ?? 'agent-safe';
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(credentialNamespace)) {
      throw usage(
        `--credential-namespace must be a Kubernetes namespace name (a DNS-1123 label), got "${printable(credentialNamespace.slice(0, 70))}"`,
      );
    }
    const awsFlags = {
      ...(this.region !== undefined ? { region: this.region } : {}),
      ...(this.endpoint !== undefined ? { endpoint: this.endpoint } : {}),
    };
    if (executor === 'aws') {
      // Checked before the ticket is read, so a typo costs no ticket.
      const { resolveAwsOptions } = await import('@agent-safe/sdk');
      resolveAwsOptions(awsFlags, {}, {}, (key) => `--${key}`);
    }
    // JSON mode keeps stderr quiet: no AWS SDK notice about Node 20 (docs/aws.md), as audit ship does.
    if (this.jsonOutput && executor === 'aws')
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
    const { ticket, params, paramsGiven } = await readTicketAndParams(this, this.context.stdin);
    const config = await this.projectConfig();
    const { CLI_STATE_DIRECTORY } = await import('@agent-safe/sdk');
    const store = nonceStoreFor(config, CLI_STATE_DIRECTORY);
    const safe = await this.open({
      auditLog: this.auditLog ?? config.auditLog ?? './audit.jsonl',
      ...(store ? { store } : {}),
    });
    // Ctrl-C / SIGTERM cancel the run: the runner stops at the next step, reads the after-state if it
    // acted, revokes credentials and records the outcome, instead of dying half-way unrecorded.
    const controller = new AbortController();
    const cancel = () => controller.abort();
    process.once('SIGINT', cancel);
    process.once('SIGTERM', cancel);
    let ran: ExecutionResult;
    try {
      // The provider manages credentials as the runner's own identity: the same kubeconfig and context,
      // or the same AWS region and endpoint (flags, then agent-safe.yaml's aws: block, then AWS_*).
      const provider =
        credentials === 'kubernetes'
          ? await this.credentialProvider(credentialNamespace)
          : credentials === 'aws'
            ? await this.awsCredentialProvider(
                (await import('@agent-safe/sdk')).resolveAwsOptions(
                  awsFlags,
                  config.aws,
                  process.env,
                  (key) => `--${key}`,
                ),
              )
            : undefined;
      ran = await safe.execute(ticket, {
        executor,
        params,
        ...(provider !== undefined ? { credentials: provider } : {}),
        ...awsFlags,
        signal: controller.signal,
        ...(this.kubeconfig !== undefined ? { kubeconfig: this.kubeconfig } : {}),
        ...(this.kubeContext !== undefined ? { context: this.kubeContext } : {}),
        ...(this.force ? { force: true } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
    } finally {
      process.removeListener('SIGINT', cancel);
      process.removeListener('SIGTERM', cancel);
      await safe.close();
    }
    // Sensitive params and state fields never reach the terminal or a CI log (the audit log masks them too).
    const result = new OutputMask(safe.registry.get(ran.action), params).result(ran);
    const exitCode = executionExitCode(result);
    const hint = paramsProblemHint(result, paramsGiven);
    if (this.jsonOutput) return this.printEnvelope(exitCode, result, executionErrors(result, hint));
    printExecution((text) => this.print(text), this.out, result, hint);
    if (result.status === 'refused') this.print(this.out.dim('  nothing was executed'));
    return exitCode;
  }
}

export class RunnerDryRunCommand extends ConfigCommand {
  static override paths = [['runner', 'dry-run']];
  static override usage = Command.Usage({
    description: 'Show what a ticket would do, without executing it or using it up',
    details: `
      Verifies the execution ticket against the params (signature, issuer, expiry, action, target,
      params digest) WITHOUT consuming it, and prints the exact API calls an execution would make
      (Kubernetes, or AWS \`service:Operation\` with its input), the kubectl command, the prechecks the
      runner would run, the state it would capture and the rollback action. Nothing is executed, nothing is recorded, and the ticket stays unused: run it with \`agent-safe
      runner execute\`. Whether it was already used is only known when it runs (single use is checked
      then).

      Exit codes: 0 the ticket is valid for these params; 1 it is not, or bad input.
    `,
    examples: [
      [
        'What would this ticket do?',
        `$0 runner dry-run "$TICKET" --params '{"namespace":"dev","deployment":"app","replicas":3}'`,
      ],
      [
        'As JSON, the ticket on standard input',
        '$0 runner dry-run - --params-file params.json --json-output < ticket.jwt',
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
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds the ticket, the calls and the prechecks',
  });

  /** Prints (or envelopes) why the ticket is not valid for these params; exit 1. */
  private refusal(refused: Refusal): number {
    return printRefusal(this, refused);
  }

  async run(): Promise<number> {
    const { ticket, params, paramsGiven } = await readTicketAndParams(this, this.context.stdin);
    // No audit log and a throw-away nonce store: a dry run records nothing and consumes nothing.
    const safe = await this.open({ auditLog: false });
    const { DryRunExecutor, kubectlArgs } = await import('@agent-safe/sdk');
    try {
      const verified = await verifyUnconsumed(safe, ticket, params, paramsGiven);
      if (!verified.ok) return this.refusal(verified);
      const { definition, target, ticket: claims } = verified;
      const checked = { params: verified.params };
      const validation = { ticket: claims };
      // The executor's plan reads the action and params only; the token is never handed on.
      const request = {
        action: definition,
        target,
        params: checked.params,
        ticket: { ...claims, token: '' },
      };
      let calls: readonly ApiCall[] | undefined;
      let callsUnavailable: string | undefined;
      try {
        calls = new DryRunExecutor().plan(request);
      } catch (error) {
        callsUnavailable = (error as Error).message;
      }
      let kubectl: string[] | undefined;
      try {
        kubectl = kubectlArgs(definition.name, checked.params);
      } catch {
        kubectl = undefined;
      }
      const claimsShown = validation.ticket;
      const mask = new OutputMask(definition, checked.params);
      calls = calls === undefined ? undefined : mask.value(calls);
      kubectl = kubectl === undefined ? undefined : mask.value(kubectl);
      const data = {
        executed: false,
        consumed: false,
        ticket: claimsShown,
        action: definition.name,
        target,
        params: mask.params(checked.params),
        calls: calls ?? null,
        ...(callsUnavailable !== undefined ? { callsUnavailable } : {}),
        kubectl: kubectl ?? null,
        prechecks: definition.prechecks.map((check) => ({
          name: check.name,
          description: check.description,
          forceAllowed: check.forceAllowed === true,
        })),
        stateFields: definition.stateFields.map((field) => field.name),
        rollbackAction: definition.rollbackAction,
      };
      if (this.jsonOutput) return this.printEnvelope(EXIT.OK, data);
      const style = this.out;
      this.print(
        `${style.green('✓ valid')} ${style.bold(printable(definition.name))} on ${printable(target)} ${style.dim(`(caller ${printable(validation.ticket.caller)}, decision ${printable(validation.ticket.auditId)}, expires ${new Date(validation.ticket.expiresAt).toISOString()})`)}`,
      );
      this.print(
        style.yellow('  DRY RUN: nothing was executed and the ticket was NOT used; it can still run once'),
      );
      if (calls !== undefined) {
        this.print(`  ${style.dim('API calls an execution would make')}`);
        for (const call of calls) this.print(`    ${formatCall(call)}`);
      } else {
        this.print(
          `  ${style.dim('API calls')}  ${style.dim(printable(`cannot be shown: ${callsUnavailable}`))}`,
        );
      }
      if (kubectl !== undefined)
        this.print(`  ${style.dim('with --executor kubectl')}  kubectl ${printable(kubectl.join(' '))}`);
      if (definition.prechecks.length > 0) {
        this.print(
          `  ${style.dim('prechecks')}   ${definition.prechecks.map((check) => printable(check.name)).join(', ')}`,
        );
      }
      if (definition.stateFields.length > 0) {
        this.print(
          `  ${style.dim('state')}       ${data.stateFields.map((name) => printable(name)).join(', ')}`,
        );
      }
      this.print(
        `  ${style.dim('rollback')}    ${definition.rollbackAction ? printable(definition.rollbackAction) : style.dim('none')}`,
      );
      const onAws = calls?.some((call) => call.method === 'AWS') === true;
      this.print(
        style.dim(
          `  run it: agent-safe runner execute <ticket> --params … --executor ${onAws ? 'aws' : 'kubectl|kubernetes'}`,
        ),
      );
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}
