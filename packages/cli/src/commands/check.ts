import { Command, Option } from 'clipanion';
import type { Decision } from '@agent-safe/sdk';
import type { CliGuardStore } from '@agent-safe/sdk/facade';
import { ConfigCommand } from '../base-command.js';
import { callerArgument } from '../caller-argument.js';
import { errorEntry } from '../json-envelope.js';
import { refuseSigningKeyAsCaller } from '../key-options.js';
import { usageError as usage } from '../cli-error.js';
import { MAX_PARAMS_BYTES, readInputFile, readInputStream } from '../read-input.js';
import { decisionExitCode, decisionJson, printDecision } from '../decision-output.js';
import { printable, type Style } from '../output.js';

export class CheckCommand extends ConfigCommand {
  static override paths = [['check']];
  static override usage = Command.Usage({
    description: 'Evaluate a policy decision for an action and record it in the audit log',
    details: `
      Decides whether \`caller\` may perform \`action\` on \`--target\` with \`--params\`, prints the decision and
      appends it to the audit log.

      Exit codes: 0 ALLOW, 2 DENY, 3 REQUIRE_APPROVAL, 1 error (bad flags, unreadable or invalid config, audit
      log unwritable). Only ALLOW exits 0, so \`agent-safe check … && run-the-action\` fails closed.
    `,
    examples: [
      [
        'Check a restart in dev',
        `$0 check restart-deployment --target dev/test-app --caller deploy-agent --params '{"namespace":"dev","deployment":"app"}'`,
      ],
      [
        'Show why a rule matched (or did not)',
        '$0 check drain-node --target prod/worker-node-01 --params \'{"node":"worker-node-01"}\' --explain',
      ],
      [
        'Link a change ticket and print JSON',
        `$0 check restart-deployment --target prod/api-server --params '{"namespace":"prod","deployment":"api-server"}' --ticket-id JIRA-1234 --json-output`,
      ],
    ],
  });

  action = Option.String({ name: 'action' });
  target = Option.String('--target', { description: 'Inventory id of the target, e.g. prod/api-server' });
  caller = Option.String('--caller', {
    description:
      'Agent id, identity token, or env:NAME / file:PATH / - (stdin) holding a token (default: agent-safe.yaml `caller`)',
  });
  params = Option.String('--params', { description: 'Action parameters as a JSON object' });
  paramsFile = Option.String('--params-file', {
    description: 'Read the parameters from a JSON file instead (- for standard input)',
  });
  ticketId = Option.String('--ticket-id', {
    description: 'External change ticket to link (JIRA-1234, CHG0001 …)',
  });
  correlationId = Option.String('--correlation-id', { description: 'Id tying several events together' });
  auditLog = Option.String('--audit-log', { description: 'Audit log file (default ./audit.jsonl)' });
  noAudit = Option.Boolean('--no-audit', false, {
    description: 'Evaluate without recording the decision (a dry run)',
  });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print the decision as JSON' });
  explain = Option.Boolean('--explain', false, {
    description: 'Print which rules matched and why the others did not',
  });

  #guardStore: CliGuardStore | undefined;

  async run(): Promise<number> {
    const params = await this.readParams();
    const caller = await callerArgument(this.caller, this.context.stdin);
    const config = await this.projectConfig();
    refuseSigningKeyAsCaller(this.caller, caller, config);
    // Guard state must outlive this process: a file store beside agent-safe.yaml unless the project
    // chose a store (docs/shared-state.md).
    const { cliGuardStore } = await import('@agent-safe/sdk/facade');
    this.#guardStore = cliGuardStore(config);
    const safe = await this.open({
      auditLog: !this.noAudit ? (this.auditLog ?? config.auditLog ?? './audit.jsonl') : false,
      ...(this.#guardStore.store ? { store: this.#guardStore.store } : {}),
    });
    try {
      const decision = await safe.check({
        action: this.action,
        target: this.target,
        caller: caller ?? config.caller,
        params,
        ticketId: this.ticketId,
        correlationId: this.correlationId,
      });
      const exitCode = decisionExitCode(decision);
      if (this.jsonOutput) {
        const json = decisionJson(decision);
        return this.printEnvelope(
          exitCode,
          this.explain ? { ...json, explanation: decision.explanation } : json,
          decision.errors.map((error) => errorEntry(error.code, error)),
        );
      }
      this.printDecision(decision, this.out);
      return exitCode;
    } finally {
      await safe.close();
    }
  }

  private async readParams(): Promise<Record<string, unknown> | undefined> {
    if (this.params !== undefined && this.paramsFile !== undefined) {
      throw usage('give either --params or --params-file, not both');
    }
    let text = this.params;
    let source = '--params';
    if (this.paramsFile !== undefined) {
      if (this.paramsFile === '-' && this.caller === '-') {
        throw usage('--params-file - and --caller - both want standard input; put one of them in a file');
      }
      source = this.paramsFile === '-' ? '--params-file - (standard input)' : this.paramsFile;
      text =
        this.paramsFile === '-'
          ? await readInputStream(this.context.stdin, '--params-file -', MAX_PARAMS_BYTES)
          : await readInputFile(this.paramsFile, '--params-file', MAX_PARAMS_BYTES);
    }
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw usage(
        `${source} is not valid JSON (${(error as Error).message}); pass an object such as '{"namespace":"dev"}'`,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw usage(`${source} must be a JSON object such as '{"namespace":"dev"}'`);
    }
    return value as Record<string, unknown>;
  }

  private printDecision(decision: Decision, style: Style): void {
    printDecision((text) => this.print(text), style, decision);
    if (this.explain) {
      const explanation = decision.explanation;
      this.print();
      this.print(style.bold('Explanation'));
      for (const line of explanation.summary) this.print(`  ${printable(line)}`);
      for (const trace of explanation.consideredRules) {
        const mark = trace.matched ? style.green('✓') : style.dim('✗');
        const where = trace.failedOn ? style.dim(` [${trace.failedOn}]`) : '';
        this.print(
          `  ${mark} ${trace.rule} ${style.dim(`(priority ${trace.priority}, ${trace.decision})`)}${where}: ${printable(trace.detail)}`,
        );
      }
      if (explanation.defaultDeny) this.print(`  ${style.red('→')} no rule matched: default deny`);
      if (this.#guardStore && this.#guardStore.kind !== 'none')
        this.print(`  ${style.dim('guard state:')} ${this.#guardStore.description}`);
    }
  }
}
