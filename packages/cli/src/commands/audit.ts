import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { colourResult, printable } from '../output.js';

export class AuditVerifyCommand extends BaseCommand {
  static override paths = [['audit', 'verify']];
  static override usage = Command.Usage({
    description: 'Verify the audit log hash chain',
    details: `
      Recomputes every event's hash and checks each link to the previous event and the sequence numbers.
      Reports exactly where the chain breaks: a modified, deleted, inserted or reordered line, or a line that is
      not JSON. An incomplete last line left by a crash is reported as such (a warning, not tampering).
      Exit codes: 0 chain intact, 1 chain broken or log unreadable.
    `,
    examples: [['Verify the default log', '$0 audit verify ./audit.jsonl']],
  });

  log = Option.String({ name: 'log' });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print the report as JSON' });

  async run(): Promise<number> {
    const { verifyAuditLog } = await import('@agent-safe/sdk');
    const err = this.err;
    const progress = err.enabled && !this.jsonOutput;
    const report = await verifyAuditLog(this.log, {
      onProgress: progress
        ? (lines: number) => this.context.stderr.write(`\r${err.dim(`verified ${lines} lines…`)}`)
        : undefined,
    });
    if (progress) this.context.stderr.write('\r\u001b[K');
    if (this.jsonOutput) {
      const { ok: _ok, ...data } = report;
      return this.printEnvelope(
        report.ok ? EXIT.OK : EXIT.ERROR,
        data,
        report.problems.map((problem) => ({
          code: 'AUDIT_CHAIN_BROKEN',
          message: `line ${problem.line}: ${problem.kind}: ${problem.message}`,
          file: this.log,
        })),
      );
    }
    const style = this.out;
    for (const problem of report.problems) {
      this.print(`${style.red('✗')} line ${problem.line}: ${problem.kind}: ${problem.message}`);
    }
    for (const warning of report.warnings ?? []) {
      const text =
        typeof warning === 'string' ? warning : `line ${warning.line}: ${warning.kind}: ${warning.message}`;
      this.print(`${style.yellow('!')} ${text}`);
    }
    if (report.ok) {
      this.print(
        `${style.green('✓')} ${this.log}: ${report.events} events, chain intact${report.lastHash ? style.dim(` (last hash ${report.lastHash.slice(0, 16)}…)`) : ''}`,
      );
      return EXIT.OK;
    }
    this.print(style.red(`${this.log}: chain BROKEN (${report.problems.length} problem(s))`));
    return EXIT.ERROR;
  }
}

export class AuditShowCommand extends BaseCommand {
  static override paths = [['audit', 'show']];
  static override usage = Command.Usage({
    description: 'Show audit log entries',
    examples: [
      ['The last 10 events', '$0 audit show ./audit.jsonl --last 10'],
      ['Only decisions, as JSON', '$0 audit show ./audit.jsonl --event-type decision --json-output'],
    ],
  });

  log = Option.String({ name: 'log' });
  last = Option.String('--last', { description: 'Show only the last N events (default 20)' });
  eventType = Option.String('--event-type', {
    description: 'Only events of this type (decision, recovery …)',
  });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print JSON' });

  async run(): Promise<number> {
    const { readAuditLog } = await import('@agent-safe/sdk');
    const { AgentSafeError } = await import('@agent-safe/sdk');
    const last = this.last === undefined ? 20 : Number(this.last);
    if (!Number.isInteger(last) || last < 1) {
      throw new AgentSafeError('USAGE', `--last must be a positive integer, got "${this.last}"`);
    }
    const events = await readAuditLog(this.log, { last, eventType: this.eventType });
    if (this.jsonOutput) return this.printEnvelope(EXIT.OK, { events });
    const style = this.out;
    for (const event of events) {
      // Every field comes from the log (ultimately from requests): escaped before it reaches a terminal.
      const head = `${style.dim(`#${printable(event.sequence)}`)} ${printable(event.timestamp)} ${style.cyan(printable(event.event_type))}`;
      if (event.event_type === 'decision') {
        this.print(
          `${head} ${colourResult(style, printable(event.decision))} ${printable(event.action)} on ${printable(event.target || '-')} by ${printable(event.caller)}`,
        );
        this.print(
          `    ${style.dim('reason')} ${printable(event.reason)}${event.matched_rule ? style.dim(` (rule ${printable(event.matched_rule)})`) : ''}`,
        );
        this.print(
          `    ${style.dim('id')} ${printable(event.event_id)}${event.ticket_id ? `  ${style.dim('ticket')} ${printable(event.ticket_id)}` : ''}`,
        );
      } else {
        this.print(
          `${head} ${printable(event.event_id)} ${style.dim(printable(JSON.stringify(event).slice(0, 160)))}`,
        );
      }
    }
    if (events.length === 0) this.print(style.dim('no matching events'));
    return EXIT.OK;
  }
}
