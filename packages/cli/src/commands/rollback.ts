import { Command, Option } from 'clipanion';
import type { RollbackPlan } from '@agent-safe/sdk';
import { ConfigCommand } from '../base-command.js';
import { callerArgument } from '../caller-argument.js';
import { CliError } from '../cli-error.js';
import { decisionExitCode, decisionJson, printDecision } from '../decision-output.js';
import { EXIT } from '../exit-codes.js';
import { errorEntry } from '../json-envelope.js';
import { refuseSigningKeyAsCaller } from '../key-options.js';
import { printable, type Style } from '../output.js';
import { findCapture, notFound, projectAuditLog } from './audit-state.js';
import { auditIdArgument } from './enforcement-input.js';

function printPlan(print: (text?: string) => void, style: Style, plan: RollbackPlan, original: string): void {
  const row = (label: string, text: string) => print(`  ${style.dim(label.padEnd(14))}${text}`);
  print(`${style.bold('rollback')} of ${printable(original)}`);
  row('action', printable(plan.action));
  row('target', printable(plan.target));
  row('params', printable(JSON.stringify(plan.params)));
  if (plan.correlationId) row('correlation', printable(plan.correlationId));
}

/** The plan for an id (decision, execution or capture id): `{ok, plan}` or `{ok: false, reason}`. */
async function planFor(
  log: string,
  id: string,
  actions: Parameters<typeof import('@agent-safe/sdk').rollbackPlanFromCapture>[1],
) {
  const capture = await findCapture(log, id);
  if (capture === undefined) return { capture, result: undefined };
  const { rollbackPlanFromCapture } = await import('@agent-safe/sdk');
  return { capture, result: rollbackPlanFromCapture(capture, actions) };
}

export class RollbackShowCommand extends ConfigCommand {
  static override paths = [['rollback', 'show']];
  static override usage = Command.Usage({
    description: 'Show the rollback plan of an executed action, from the state captured before it ran',
    details: `
      Builds the rollback request from the action's \`rollback_action\` and \`rollback_params\`, reading the
      state the runner (or the agent) captured before acting: e.g. scale-deployment back to the replica
      count it had. A field that was not captured, a masked sensitive param or a value the rollback
      action refuses is reported with the reason, never guessed. Nothing is decided or run: \`agent-safe
      rollback check\` sends the plan through the policy.

      The id is the decision's audit id (what \`check\` printed), or an id \`runner execute\` printed.
      Reads \`--log-file\`, by default the project's audit log.

      Exit codes: 0 a plan was built, 1 none can be (the reason is printed) or bad input.
    `,
    examples: [
      ['The rollback of a run', '$0 rollback show evt-2f072d63790444ccec187f593752aecd'],
      ['As JSON', '$0 rollback show evt-2f072d63790444ccec187f593752aecd --json-output'],
    ],
  });

  auditId = Option.String({ name: 'audit-id' });
  logFile = Option.String('--log-file', {
    description: "Audit log file or directory (default: the project's)",
  });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds the plan (or the reason there is none)',
  });

  async run(): Promise<number> {
    const id = auditIdArgument(this.auditId);
    const log = await projectAuditLog(this.logFile, this.config);
    const safe = await this.open({ auditLog: false });
    try {
      const { capture, result } = await planFor(log, id, safe.registry);
      if (capture === undefined || result === undefined) throw notFound(id, log, 'state capture');
      if (!result.ok) {
        const reason = `no rollback for ${capture.action} (decision ${capture.decisionAuditId}): ${result.reason}`;
        if (this.jsonOutput) {
          return this.printEnvelope(
            EXIT.ERROR,
            { decisionAuditId: capture.decisionAuditId, plan: null, reason },
            [{ code: 'INPUT_INVALID', message: reason, path: 'audit id' }],
          );
        }
        this.print(`${this.out.red('✗')} ${printable(reason)}`);
        if (capture.recordedBy.includes('dry-run')) {
          this.print(
            this.out.dim(
              '  a dry run reads no state: run the ticket with --executor kubectl or kubernetes to capture what a rollback restores',
            ),
          );
        }
        return EXIT.ERROR;
      }
      if (this.jsonOutput) {
        return this.printEnvelope(EXIT.OK, { decisionAuditId: capture.decisionAuditId, plan: result.plan });
      }
      printPlan(
        (text) => this.print(text),
        this.out,
        result.plan,
        `${capture.action} (decision ${capture.decisionAuditId})`,
      );
      this.print(this.out.dim(`  decide it: agent-safe rollback check ${capture.decisionAuditId}`));
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

export class RollbackCheckCommand extends ConfigCommand {
  static override paths = [['rollback', 'check']];
  static override usage = Command.Usage({
    description: 'Build the rollback plan of an executed action and decide it through the policy',
    details: `
      A rollback is a new request: it goes through \`check\` like any other (correlation id = the original
      decision's audit id), is recorded in the audit log, and on ALLOW gets its own execution ticket, which
      \`agent-safe runner execute\` runs. Nothing rolls back unaudited.

      \`--caller\` is who asks (an agent id, an identity token, or env:NAME / file:PATH / - holding one);
      default: the original decision's caller. The id is the decision's audit id, or an id \`runner
      execute\` printed. The project's audit log is read and written.

      Exit codes (as \`check\`): 0 ALLOW, 2 DENY, 3 REQUIRE_APPROVAL, 1 no plan, bad input, or the decision
      could not be recorded.
    `,
    examples: [
      ['Decide the rollback of a run', '$0 rollback check evt-2f072d63790444ccec187f593752aecd'],
      [
        'As another caller, as JSON',
        '$0 rollback check evt-2f072d63790444ccec187f593752aecd --caller deploy-agent --json-output',
      ],
    ],
  });

  auditId = Option.String({ name: 'audit-id' });
  caller = Option.String('--caller', {
    description:
      'Agent id, identity token, or env:NAME / file:PATH / - holding one (default: the original caller)',
  });
  auditLog = Option.String('--audit-log', { description: 'Audit log file (default ./audit.jsonl)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds the plan and the decision',
  });

  async run(): Promise<number> {
    const id = auditIdArgument(this.auditId);
    const caller = await callerArgument(this.caller, this.context.stdin);
    const config = await this.projectConfig();
    refuseSigningKeyAsCaller(this.caller, caller, config);
    const log = this.auditLog ?? config.auditLog ?? './audit.jsonl';
    const { cliGuardStore } = await import('@agent-safe/sdk/facade');
    const guardStore = cliGuardStore(config);
    const safe = await this.open({ auditLog: log, ...(guardStore.store ? { store: guardStore.store } : {}) });
    try {
      // An execution or capture id names its decision; checkRollback takes the decision's audit id.
      const capture = await findCapture(log, id);
      if (capture === undefined) throw notFound(id, log, 'state capture');
      let checked: Awaited<ReturnType<typeof safe.checkRollback>>;
      try {
        checked = await safe.checkRollback(capture.decisionAuditId, caller !== undefined ? { caller } : {});
      } catch (error) {
        if ((error as { code?: unknown }).code === 'INPUT_INVALID') {
          throw new CliError('INPUT_INVALID', `${(error as Error).message}`, {
            issues: [{ path: 'audit id', message: (error as Error).message }],
          });
        }
        throw error;
      }
      const { plan, decision } = checked;
      const exitCode = decisionExitCode(decision);
      if (this.jsonOutput) {
        return this.printEnvelope(
          exitCode,
          { plan, decision: decisionJson(decision) },
          decision.errors.map((error) => errorEntry(error.code, error)),
        );
      }
      const style = this.out;
      printPlan(
        (text) => this.print(text),
        style,
        plan,
        `${capture.action} (decision ${capture.decisionAuditId})`,
      );
      this.print();
      printDecision((text) => this.print(text), style, decision);
      if (decision.result === 'ALLOW' && decision.ticket) {
        this.print(
          style.dim(
            `  run it: agent-safe runner execute <exec ticket> --params '${printable(JSON.stringify(plan.params))}' --executor kubectl|kubernetes`,
          ),
        );
      }
      return exitCode;
    } finally {
      await safe.close();
    }
  }
}
