import { Command, Option } from 'clipanion';
import type { StateCaptureRecord } from '@agent-safe/sdk';
import { BaseCommand } from '../base-command.js';
import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { printable, type Style } from '../output.js';
import { auditIdArgument } from './enforcement-input.js';

/**
 * The audit log a command reads: `--log-file` (or the positional log), else agent-safe.yaml's
 * `audit_log`, else ./audit.jsonl. Without an explicit log the project config is read (and must load).
 */
export async function projectAuditLog(
  explicit: string | undefined,
  configFile: string | undefined,
): Promise<string> {
  if (explicit !== undefined) return explicit;
  const { loadProjectConfig } = await import('@agent-safe/sdk');
  return loadProjectConfig({ file: configFile }).auditLog ?? './audit.jsonl';
}

/**
 * The last state capture an id names: the decision's audit id, or else the id of the `state_capture`,
 * `execution` or `execution_started` event of its run (what `runner execute` prints).
 */
export async function findCapture(logPath: string, id: string): Promise<StateCaptureRecord | undefined> {
  const { findStateCapture, readAuditLog } = await import('@agent-safe/sdk');
  const direct = await findStateCapture(logPath, id);
  if (direct !== undefined) return direct;
  for (const eventType of ['state_capture', 'execution', 'execution_started']) {
    const events = await readAuditLog(logPath, { eventType });
    const event = events.find(
      (candidate) =>
        candidate.event_id === id || (eventType === 'state_capture' && candidate.execution_id === id),
    );
    const decision = event?.decision_audit_id;
    if (typeof decision === 'string' && decision !== id) return findStateCapture(logPath, decision);
  }
  return undefined;
}

/** "not found in <log>" with what to pass instead. */
export function notFound(id: string, logPath: string, what: string): CliError {
  return new CliError(
    'INPUT_INVALID',
    `${what} for ${id} not found in ${printable(logPath)}: pass the audit id of an ALLOW decision that was executed (the "audit id" \`check\` printed, or the ids \`runner execute\` printed), and the log it was written to (--log-file)`,
    { issues: [{ path: 'audit id', message: `not found in ${printable(logPath)}` }] },
  );
}

function value(field: unknown): string {
  const text = JSON.stringify(field) ?? String(field);
  return printable(text.length > 300 ? `${text.slice(0, 300)}…` : text);
}

/** Prints a state capture: what ran, with which params, the state before and after, and the diff. */
export function printCapture(
  print: (text?: string) => void,
  style: Style,
  capture: StateCaptureRecord,
): void {
  const row = (label: string, text: string) => print(`  ${style.dim(label.padEnd(14))}${text}`);
  print(
    `${style.bold(printable(capture.action))} on ${printable(capture.target)}${capture.caller ? ` by ${printable(capture.caller)}` : ''}`,
  );
  row('decision', printable(capture.decisionAuditId));
  row(
    'capture',
    `${printable(capture.eventId)} ${style.dim(`at ${printable(capture.timestamp)}, recorded by ${printable(capture.recordedBy)}`)}`,
  );
  if (capture.executionId) row('execution', printable(capture.executionId));
  row('params', value(capture.params));
  const fields = new Set([...Object.keys(capture.beforeState), ...Object.keys(capture.afterState ?? {})]);
  if (fields.size === 0) {
    row('state', style.dim('no field captured (a dry run reads no state)'));
  } else {
    print(`  ${style.dim('state'.padEnd(14))}${style.dim('before → after')}`);
    for (const field of fields) {
      const before = Object.hasOwn(capture.beforeState, field)
        ? value(capture.beforeState[field])
        : style.dim('-');
      const after =
        capture.afterState === null
          ? style.dim('(not recorded)')
          : Object.hasOwn(capture.afterState, field)
            ? value(capture.afterState[field])
            : style.dim('-');
      const changed = capture.diff !== null && Object.hasOwn(capture.diff, field);
      print(`    ${printable(field)}: ${before} → ${after}${changed ? style.yellow('  (changed)') : ''}`);
    }
  }
  if (capture.afterState === null) row('after', style.dim('not recorded yet (only the before-state)'));
}

export class AuditShowStateCommand extends BaseCommand {
  static override paths = [['audit', 'show-state']];
  static override usage = Command.Usage({
    description: 'Show the state captured before and after an executed action',
    details: `
      Prints the last \`state_capture\` of a decision: the action, target and params (sensitive values
      masked), the state fields before and after, and which changed. The id is the decision's audit id
      (what \`check\` printed), or the \`execution\` / \`state capture\` id \`runner execute\` printed.

      Reads \`--log-file\` (the log or the directory of its rotated files), by default the project's audit
      log (agent-safe.yaml's \`audit_log\`, else ./audit.jsonl).

      Exit codes: 0 found, 1 not found or the log is unreadable.
    `,
    examples: [
      ['The state of a run', '$0 audit show-state evt-2f072d63790444ccec187f593752aecd'],
      [
        'From another log, as JSON',
        '$0 audit show-state evt-2f072d63790444ccec187f593752aecd --log-file ./audit.jsonl --json-output',
      ],
    ],
  });

  auditId = Option.String({ name: 'audit-id' });
  logFile = Option.String('--log-file', {
    description: "Audit log file or directory (default: the project's)",
  });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data is the state capture',
  });

  async run(): Promise<number> {
    const id = auditIdArgument(this.auditId);
    const log = await projectAuditLog(this.logFile, this.config);
    const capture = await findCapture(log, id);
    if (capture === undefined) throw notFound(id, log, 'state capture');
    if (this.jsonOutput) return this.printEnvelope(EXIT.OK, capture);
    printCapture((text) => this.print(text), this.out, capture);
    return EXIT.OK;
  }
}

export class AuditStateCoverageCommand extends BaseCommand {
  static override paths = [['audit', 'state-coverage']];
  static override usage = Command.Usage({
    description: 'How many ALLOW decisions of a log have their state captured, per action',
    details: `
      Counts the ALLOW decisions of the log and, of those, how many have a \`state_capture\` (by the runner
      or recorded by the agent) and how many a complete one (before and after). A low coverage for a
      reversible action means its changes cannot be rolled back from the log.

      Reads the log given (or the directory of its rotated files), by default the project's audit log.
      Exit codes: 0 the report was printed, 1 the log is unreadable.
    `,
    examples: [
      ["The project's log", '$0 audit state-coverage'],
      ['A given log, as JSON', '$0 audit state-coverage ./audit.jsonl --json-output'],
    ],
  });

  log = Option.String({ name: 'log', required: false });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data is the coverage report',
  });

  async run(): Promise<number> {
    const log = await projectAuditLog(this.log, this.config);
    const { stateCoverage } = await import('@agent-safe/sdk');
    const report = await stateCoverage(log);
    if (this.jsonOutput) return this.printEnvelope(EXIT.OK, { log, ...report });
    const style = this.out;
    const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
    this.print(
      `${printable(log)}: ${report.captured} of ${report.allowed} ALLOW decisions have a state capture (${percent(report.coverage)}), ${report.complete} complete (before and after)`,
    );
    if (report.actions.length > 0) {
      const width = Math.max(6, ...report.actions.map((entry) => entry.action.length));
      this.print(style.dim(`  ${'action'.padEnd(width)}  allowed  captured  complete  coverage`));
      for (const entry of report.actions) {
        this.print(
          `  ${printable(entry.action.padEnd(width))}  ${String(entry.allowed).padStart(7)}  ${String(entry.captured).padStart(8)}  ${String(entry.complete).padStart(8)}  ${percent(entry.coverage).padStart(8)}`,
        );
      }
    }
    if (report.unmatchedCaptures > 0) {
      this.print(
        style.yellow(
          `  ! ${report.unmatchedCaptures} state capture(s) belong to no ALLOW decision of this log (rotated away, another log's, or written by something else)`,
        ),
      );
    }
    return EXIT.OK;
  }
}
