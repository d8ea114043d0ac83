import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { colourResult, printable } from '../output.js';

export class AuditVerifyCommand extends BaseCommand {
  static override paths = [['audit', 'verify']];
  static override usage = Command.Usage({
    description: 'Verify the audit log: hash chain, canonical form, signed checkpoints, anchors',
    details: `
      Recomputes every event's hash and checks each link to the previous event and the sequence numbers,
      across rotated files (pass the log or its directory). Reports exactly where the chain breaks: a
      modified, deleted, inserted or reordered line, a line that is not exactly the canonical form the
      writer produces (duplicate or reordered keys, whitespace), a missing rotated file. An incomplete
      last line left by a crash is reported as such (a warning, not tampering).

      A hash chain alone cannot show that the end of the log was cut off or that the whole log was
      rewritten with every hash recomputed. \`--checkpoints FILE --key SRC\` checks the signed
      checkpoints (kept off the box) and proves that no event up to the last one was removed, altered,
      reordered or re-chained, and that the log was not cut below it. \`--expect-head\` /
      \`--expect-sequence\` check an anchor kept elsewhere (\`audit head\` prints it). The output says
      what was proven and what was not.

      Exit codes: 0 intact, 1 tampering or damage found, or the log unreadable.
    `,
    examples: [
      ['Verify the chain', '$0 audit verify ./audit.jsonl'],
      [
        'With signed checkpoints',
        '$0 audit verify ./audit.jsonl --checkpoints ./audit.jsonl.checkpoints --key env:AUDIT_CHECKPOINT_KEY',
      ],
      [
        'Against an anchor kept elsewhere',
        '$0 audit verify ./audit.jsonl --expect-sequence 1200 --expect-head <hash>',
      ],
    ],
  });

  log = Option.String({ name: 'log' });
  checkpoints = Option.String('--checkpoints', {
    description: 'Checkpoint file to check the log against (ideally a copy kept off the box)',
  });
  key = Option.String('--key', {
    description: 'Checkpoint key: env:NAME or file:PATH (HS256 secret, Ed25519 public or private key)',
  });
  keyId = Option.String('--key-id', { description: 'Key id, when the key was given one' });
  expectHead = Option.String('--expect-head', {
    description: 'Anchor: an event with this hash must be in the log',
  });
  expectSequence = Option.String('--expect-sequence', {
    description: 'Anchor: the log must reach this sequence (with --expect-head: that event has that hash)',
  });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print the report as JSON' });

  async run(): Promise<number> {
    const { AgentSafeError, loadCheckpointKey, verifyAuditLog } = await import('@agent-safe/sdk');
    let expectSequence: number | undefined;
    if (this.expectSequence !== undefined) {
      expectSequence = Number(this.expectSequence);
      if (!/^[1-9][0-9]{0,15}$/.test(this.expectSequence) || !Number.isSafeInteger(expectSequence)) {
        throw new AgentSafeError(
          'USAGE',
          `--expect-sequence must be a positive integer, got "${this.expectSequence}"`,
        );
      }
    }
    if (this.expectHead !== undefined && !/^[0-9a-f]{64}$/.test(this.expectHead)) {
      throw new AgentSafeError(
        'USAGE',
        '--expect-head must be an event hash (64 lowercase hex digits), as `agent-safe audit head` prints it',
      );
    }
    if (this.keyId !== undefined && this.key === undefined) {
      throw new AgentSafeError('USAGE', '--key-id needs --key (the key to check checkpoint signatures with)');
    }
    const key =
      this.key === undefined
        ? undefined
        : await loadCheckpointKey(this.key, this.keyId === undefined ? {} : { keyId: this.keyId });
    const err = this.err;
    const progress = err.enabled && !this.jsonOutput;
    const report = await verifyAuditLog(this.log, {
      onProgress: progress
        ? (lines: number) => this.context.stderr.write(`\r${err.dim(`verified ${lines} lines…`)}`)
        : undefined,
      ...(this.checkpoints === undefined ? {} : { checkpoints: this.checkpoints }),
      ...(key === undefined ? {} : { key }),
      ...(this.expectHead === undefined ? {} : { expectHead: this.expectHead }),
      ...(expectSequence === undefined ? {} : { expectSequence }),
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
          file: problem.file ?? this.log,
        })),
      );
    }
    const style = this.out;
    const several = report.files.length > 1;
    for (const problem of report.problems) {
      const where = several && problem.file ? `${printable(problem.file)} ` : '';
      this.print(
        `${style.red('✗')} ${where}line ${problem.line}: ${problem.kind}: ${printable(problem.message)}`,
      );
    }
    for (const warning of report.warnings ?? []) {
      this.print(`${style.yellow('!')} line ${warning.line}: ${warning.kind}: ${printable(warning.message)}`);
    }
    const files = several ? ` (${report.files.length} files)` : '';
    if (report.ok) {
      this.print(
        `${style.green('✓')} ${this.log}${files}: ${report.events} events, chain intact${report.lastHash ? style.dim(` (last hash ${report.lastHash.slice(0, 16)}…)`) : ''}`,
      );
      for (const line of report.proves) this.print(`  ${style.green('proves')} ${line}`);
      for (const line of report.cannotProve) this.print(`  ${style.yellow('cannot prove')} ${line}`);
      return EXIT.OK;
    }
    this.print(style.red(`${this.log}${files}: chain BROKEN (${report.problems.length} problem(s))`));
    return EXIT.ERROR;
  }
}

export class AuditHeadCommand extends BaseCommand {
  static override paths = [['audit', 'head']];
  static override usage = Command.Usage({
    description: "Print the log's current anchor (sequence, head hash, log id)",
    details: `
      Reads the last event of the log (the newest rotated file) and the log's id. Keep the anchor
      somewhere the log's host cannot rewrite (a ticket, another system) and later check the log still
      holds it: \`agent-safe audit verify <log> --expect-sequence N --expect-head HASH\`. Does not verify
      the chain: run \`audit verify\` for that.
    `,
    examples: [
      ['Print the anchor', '$0 audit head ./audit.jsonl'],
      ['As JSON', '$0 audit head ./audit.jsonl --json-output'],
    ],
  });

  log = Option.String({ name: 'log' });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print JSON' });

  async run(): Promise<number> {
    const { readAuditHead } = await import('@agent-safe/sdk');
    const head = await readAuditHead(this.log);
    if (this.jsonOutput) return this.printEnvelope(EXIT.OK, head);
    const style = this.out;
    this.print(`sequence  ${head.sequence}`);
    this.print(`head      ${head.headHash}`);
    this.print(`log id    ${head.logId ?? style.dim('(empty log)')}`);
    if (head.timestamp !== undefined) this.print(`time      ${printable(head.timestamp)}`);
    this.print(
      style.dim(
        `check later: agent-safe audit verify ${this.log} --expect-sequence ${head.sequence} --expect-head ${head.headHash}`,
      ),
    );
    return EXIT.OK;
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
      } else if (event.event_type === 'shadow_difference') {
        // Shadow mode (docs/server.md): what the candidate policies would have answered instead.
        this.print(
          `${head} ${colourResult(style, printable(event.enforced_decision))} → ${colourResult(style, printable(event.shadow_decision))} ${printable(event.action)} on ${printable(event.target || '-')} by ${printable(event.caller)}`,
        );
        this.print(
          `    ${style.dim('rule')} ${printable(event.enforced_matched_rule ?? '(none)')} → ${printable(event.shadow_matched_rule ?? '(none)')}  ${style.dim('decision')} ${printable(event.decision_event_id)}`,
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
