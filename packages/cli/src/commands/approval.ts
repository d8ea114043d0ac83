import { Command, Option } from 'clipanion';
import type { AgentSafe, ApprovalRecord, ApprovalStatus } from '@agent-safe/sdk';
import { ConfigCommand } from '../base-command.js';
import { usageError as usage } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { type Style, printable } from '../output.js';
import { MAX_TOKEN_BYTES, readInputFile, readInputStream } from '../read-input.js';

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];

/** The approval commands share their configuration and audit-log flags. */
abstract class ApprovalCommand extends ConfigCommand {
  auditLog = Option.String('--audit-log', { description: 'Audit log file (default ./audit.jsonl)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md)',
  });

  /** The facade with the project's audit log, so every approval transition is recorded. */
  protected async openWithAudit(): Promise<AgentSafe> {
    const config = await this.projectConfig();
    return (await this.open({ auditLog: this.auditLog ?? config.auditLog ?? './audit.jsonl' })) as AgentSafe;
  }
}

export class ApprovalListCommand extends ApprovalCommand {
  static override paths = [['approval', 'list']];
  static override usage = Command.Usage({
    description: 'List approval requests, newest first',
    details: `
      Lists the requests in the project's approval store (\`approvals.store\`, default \`.agent-safe/approvals\` beside
      agent-safe.yaml). Pending requests whose time is up are shown as expired. Exit codes: 0 listed, 1 error.
    `,
    examples: [
      ['Requests waiting for a decision', '$0 approval list --status pending'],
      ['Everything, as JSON', '$0 approval list --json-output'],
    ],
  });

  status = Option.String('--status', {
    description: `Only requests with this status (${STATUSES.join(', ')})`,
  });
  limit = Option.String('--limit', { description: 'At most this many (default 100)' });

  async run(): Promise<number> {
    if (this.status !== undefined && !STATUSES.includes(this.status as ApprovalStatus)) {
      throw usage(`--status must be one of ${STATUSES.join(', ')}, got "${printable(this.status)}"`);
    }
    const limit = this.limit === undefined ? 100 : Number(this.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw usage(`--limit must be a whole number from 1 to 10000, got "${printable(this.limit ?? '')}"`);
    }
    const safe = await this.openWithAudit();
    try {
      const records = await safe.approvals.list({
        ...(this.status ? { status: this.status as ApprovalStatus } : {}),
        limit,
      });
      if (this.jsonOutput) return this.printEnvelope(EXIT.OK, { requests: records.map(wire) });
      const style = this.out;
      if (records.length === 0) {
        this.print(style.dim(`no ${this.status ?? ''}${this.status ? ' ' : ''}approval requests`));
        return EXIT.OK;
      }
      for (const record of records) {
        this.print(
          `${record.id}  ${statusText(record.status, style)}  ${printable(record.action)} on ${printable(record.target)} by ${printable(record.caller)}  ${record.approvals.length}/${record.requiredApprovals}  expires ${new Date(record.expiresAt).toISOString()}`,
        );
      }
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

export class ApprovalShowCommand extends ApprovalCommand {
  static override paths = [['approval', 'show']];
  static override usage = Command.Usage({
    description: 'Show one approval request: what was asked, by whom, why, and the votes so far',
    details: 'Exit codes: 0 shown, 1 unknown id or error.',
    examples: [['Show a request', '$0 approval show apr-0123456789abcdef0123456789abcdef']],
  });

  id = Option.String({ name: 'id' });

  async run(): Promise<number> {
    const safe = await this.openWithAudit();
    try {
      const record = await safe.approvals.get(this.id);
      if (this.jsonOutput) return this.printEnvelope(EXIT.OK, wire(record));
      printRecord(record, this.out, (line) => this.print(line));
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

/** approve and deny: an authenticated approver's verdict. */
abstract class VoteCommand extends ApprovalCommand {
  id = Option.String({ name: 'id' });
  approverToken = Option.String('--approver-token', {
    required: true,
    description: "Where the approver's identity token is: env:NAME, file:PATH or - (standard input)",
  });
  comment = Option.String('--comment', {
    description: 'Why (required when approvals.require_comment is on)',
  });

  protected abstract readonly verdict: 'approve' | 'deny';

  async run(): Promise<number> {
    const token = await this.readApproverToken();
    const safe = await this.openWithAudit();
    try {
      const options = {
        approverToken: token,
        ...(this.comment !== undefined ? { comment: this.comment } : {}),
      };
      const record =
        this.verdict === 'approve'
          ? await safe.approvals.approve(this.id, options)
          : await safe.approvals.deny(this.id, options);
      if (this.jsonOutput) return this.printEnvelope(EXIT.OK, wire(record));
      const style = this.out;
      const votes = record.approvals.length;
      this.print(
        record.status === 'approved'
          ? `${style.green('approved')} ${record.id}: the agent gets its ticket by asking again (the same check)`
          : record.status === 'denied'
            ? `${style.red('denied')} ${record.id}`
            : `${style.yellow('recorded')} ${record.id}: ${votes} of ${record.requiredApprovals} approvals; waiting for another approver`,
      );
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }

  /**
   * Tokens are read from a variable, a file or standard input, never taken from the command line,
   * where they would show in the process list and shell history.
   */
  private async readApproverToken(): Promise<string> {
    const value = this.approverToken;
    let token: string;
    if (value === '-')
      token = await readInputStream(this.context.stdin, '--approver-token -', MAX_TOKEN_BYTES);
    else if (value.startsWith('env:')) {
      const name = value.slice(4);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw usage(`--approver-token env:NAME needs a variable name`);
      const found = process.env[name];
      if (!found) throw usage(`--approver-token ${value}: environment variable ${name} is not set`);
      token = found;
    } else if (value.startsWith('file:')) {
      token = await readInputFile(value.slice(5), '--approver-token file:', MAX_TOKEN_BYTES);
    } else {
      throw usage(
        '--approver-token takes env:NAME, file:PATH or - (standard input), not the token itself (it would show in the process list)',
      );
    }
    token = token.trim();
    if (token.length === 0) throw usage('--approver-token: the token is empty');
    return token;
  }
}

export class ApprovalApproveCommand extends VoteCommand {
  static override paths = [['approval', 'approve']];
  static override usage = Command.Usage({
    description: 'Approve a request as an authenticated approver',
    details: `
      The approver is the identity in \`--approver-token\` (create one with \`agent-safe identity create --agent-id alice
      --roles approver\`); its roles must include one of \`approvals.approver_roles\`. The requester and the agents of its
      delegation chain cannot approve their own request, and each approver counts once. Once enough approvers have
      approved, the agent gets its one execution ticket by asking again. Exit codes: 0 recorded, 1 refused or error.
    `,
    examples: [
      [
        'Approve with a token kept in a variable',
        '$0 approval approve apr-0123456789abcdef0123456789abcdef --approver-token env:AGENT_SAFE_APPROVER_TOKEN --comment "CHG-7 window"',
      ],
    ],
  });
  protected readonly verdict = 'approve';
}

export class ApprovalDenyCommand extends VoteCommand {
  static override paths = [['approval', 'deny']];
  static override usage = Command.Usage({
    description: 'Deny a request as an authenticated approver (one denial denies)',
    details: 'Same rules as approve. Exit codes: 0 recorded, 1 refused or error.',
    examples: [
      [
        'Deny, saying why',
        '$0 approval deny apr-0123456789abcdef0123456789abcdef --approver-token file:alice.token --comment "not during the freeze"',
      ],
    ],
  });
  protected readonly verdict = 'deny';
}

/** A record as the JSON envelope shows it: times as ISO strings. */
function wire(record: ApprovalRecord) {
  const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());
  return {
    ...record,
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    decidedAt: iso(record.decidedAt),
    approvals: record.approvals.map((vote) => ({ ...vote, at: iso(vote.at) })),
    denials: record.denials.map((vote) => ({ ...vote, at: iso(vote.at) })),
    ticket: record.ticket ? { nonce: record.ticket.nonce, expiresAt: iso(record.ticket.expiresAt) } : null,
  };
}

function statusText(status: ApprovalStatus, style: Style): string {
  const padded = status.padEnd(8);
  return status === 'approved' || status === 'used'
    ? style.green(padded)
    : status === 'pending'
      ? style.yellow(padded)
      : style.red(padded);
}

function printRecord(record: ApprovalRecord, style: Style, print: (line: string) => void): void {
  const iso = (time: number) => new Date(time).toISOString();
  print(`${style.bold(record.id)}  ${statusText(record.status, style)}`);
  print(`  action     ${printable(record.action)}`);
  print(`  target     ${printable(record.target)}`);
  print(
    `  caller     ${printable(record.caller)}${record.callerAuthenticated ? '' : ' (unauthenticated)'}${record.delegationChain.length ? ` via ${record.delegationChain.map(printable).join(' → ')}` : ''}`,
  );
  print(
    `  params     ${printable(JSON.stringify(record.params))}${record.maskedPaths.length ? ` (masked: ${record.maskedPaths.join(', ')})` : ''}`,
  );
  print(`  digest     ${record.paramsDigest}`);
  print(`  reason     ${printable(record.reason)}`);
  print(
    `  rule       ${printable(record.matchedRule ?? '(none)')}  risk ${record.effectiveRisk ?? 'unknown'}`,
  );
  print(`  created    ${iso(record.createdAt)}  expires ${iso(record.expiresAt)}`);
  print(`  approvals  ${record.approvals.length} of ${record.requiredApprovals}`);
  for (const vote of [...record.approvals, ...record.denials]) {
    const verdict = record.approvals.includes(vote) ? style.green('approved') : style.red('denied');
    print(
      `    ${verdict} by ${printable(vote.approver)} at ${iso(vote.at)}${vote.comment ? `: ${printable(vote.comment)}` : ''}`,
    );
  }
  if (record.ticket)
    print(`  ticket     nonce ${record.ticket.nonce}, expires ${iso(record.ticket.expiresAt)}`);
  if (record.status === 'pending') {
    print(
      style.dim(
        `  decide with: agent-safe approval approve ${record.id} --approver-token env:AGENT_SAFE_APPROVER_TOKEN`,
      ),
    );
  }
}
