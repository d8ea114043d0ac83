import { userInfo } from 'node:os';
import { Command, Option } from 'clipanion';
import type { AgentSafe, SuspensionRecord } from '@agent-safe/sdk';
import { ConfigCommand } from '../base-command.js';
import { usageError as usage } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { printable } from '../output.js';

/** The kill-switch commands share their configuration, audit-log and identity flags. */
abstract class AgentCommand extends ConfigCommand {
  auditLog = Option.String('--audit-log', { description: 'Audit log file (default ./audit.jsonl)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md)',
  });

  /**
   * The facade with the project's audit log, refused unless its `store` is shared: with the default
   * `store: memory` a suspension made by this process would reach no running server.
   */
  protected async openShared(): Promise<AgentSafe> {
    const config = await this.projectConfig();
    const safe = (await this.open({
      auditLog: this.auditLog ?? config.auditLog ?? './audit.jsonl',
    })) as AgentSafe;
    if (!safe.agents.shared) {
      await safe.close();
      throw usage(
        'the kill switch needs a shared store: with store: memory (the default) the suspension list lives inside each server process, so this command could reach none. Set store: file:./.agent-safe/state (the processes of one machine) or store: redis://HOST:6379 (every replica) in agent-safe.yaml and restart the servers, or call POST /v1/admin/agents/{id}/suspend on the running server with an admin token',
      );
    }
    return safe;
  }
}

/** `--by`, else the operating-system user as `cli:NAME`. */
function operator(by: string | undefined): string {
  if (by !== undefined) return by;
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** A suspension as the JSON envelope shows it: the time as ISO 8601. */
function wire(record: SuspensionRecord) {
  return { ...record, at: new Date(record.at).toISOString() };
}

export class AgentSuspendCommand extends AgentCommand {
  static override paths = [['agent', 'suspend']];
  static override usage = Command.Usage({
    description: 'Suspend an agent: it and every agent it delegated to are denied on every check',
    details: `
      The kill switch (docs/server.md, "Kill switch"). Writes the suspension to the project's shared \`store\`
      (file:DIR or a Redis URL; the default memory store is refused, since no server would see it), denies the
      open approval requests of the agent and its delegates, and records \`agent_suspended\` in the audit log.
      Every server sharing the store denies the agent within \`suspensions.refresh_interval_ms\` (default 1 s)
      and refuses its tickets. Exit codes: 0 suspended, 1 error.
    `,
    examples: [
      ['Stop an agent at once', '$0 agent suspend deploy-bot --reason "leaked token"'],
      ['As JSON', '$0 agent suspend deploy-bot --reason "incident 42" --json-output'],
    ],
  });

  agentId = Option.String({ name: 'agent-id' });
  reason = Option.String('--reason', {
    description: 'Why (recorded in the audit log, quoted in every denial)',
  });
  by = Option.String('--by', { description: 'Who suspends (default cli:<OS user>)' });

  async run(): Promise<number> {
    const safe = await this.openShared();
    try {
      const outcome = await safe.agents.suspend(this.agentId, {
        by: operator(this.by),
        ...(this.reason !== undefined ? { reason: this.reason } : {}),
      });
      if (this.jsonOutput) {
        return this.printEnvelope(EXIT.OK, {
          suspension: wire(outcome.suspension),
          deniedApprovals: outcome.deniedApprovals,
          store: safe.agents.storeName,
        });
      }
      this.print(
        `${this.out.red('suspended')} ${printable(this.agentId)} in ${printable(safe.agents.storeName)}${outcome.deniedApprovals.length ? `; denied approval requests: ${outcome.deniedApprovals.join(', ')}` : ''}`,
      );
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

export class AgentResumeCommand extends AgentCommand {
  static override paths = [['agent', 'resume']];
  static override usage = Command.Usage({
    description: 'Lift the suspension of an agent',
    details: `
      Removes the suspension from the shared \`store\` and records \`agent_resumed\` in the audit log. Denied
      approval requests stay denied; the agent asks again. Exit codes: 0 resumed, 1 error or not suspended.
    `,
    examples: [['Resume an agent', '$0 agent resume deploy-bot --reason "token rotated"']],
  });

  agentId = Option.String({ name: 'agent-id' });
  reason = Option.String('--reason', { description: 'Why (recorded in the audit log)' });
  by = Option.String('--by', { description: 'Who resumes (default cli:<OS user>)' });

  async run(): Promise<number> {
    const safe = await this.openShared();
    try {
      const removed = await safe.agents.resume(this.agentId, {
        by: operator(this.by),
        ...(this.reason !== undefined ? { reason: this.reason } : {}),
      });
      if (!removed) {
        const message = `agent ${printable(this.agentId)} is not suspended in ${printable(safe.agents.storeName)}`;
        if (this.jsonOutput) {
          return this.printEnvelope(EXIT.ERROR, { agentId: this.agentId, resumed: false }, [
            { code: 'USAGE', message },
          ]);
        }
        this.context.stderr.write(`error [USAGE] ${message}\n`);
        return EXIT.ERROR;
      }
      if (this.jsonOutput) {
        return this.printEnvelope(EXIT.OK, {
          agentId: this.agentId,
          resumed: true,
          suspension: wire(removed),
        });
      }
      this.print(`${this.out.green('resumed')} ${printable(this.agentId)}`);
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}

export class AgentListCommand extends AgentCommand {
  static override paths = [['agent', 'list']];
  static override usage = Command.Usage({
    description: 'List the suspended agents, oldest first',
    details: 'Reads the shared `store`. Exit codes: 0 listed, 1 error.',
    examples: [['Who is suspended', '$0 agent list']],
  });

  async run(): Promise<number> {
    const safe = await this.openShared();
    try {
      const records = await safe.agents.list();
      if (this.jsonOutput) {
        return this.printEnvelope(EXIT.OK, { suspensions: records.map(wire), store: safe.agents.storeName });
      }
      if (records.length === 0) {
        this.print(this.out.dim('no suspended agents'));
        return EXIT.OK;
      }
      for (const record of records) {
        this.print(
          `${printable(record.agentId)}  suspended by ${printable(record.by)} at ${new Date(record.at).toISOString()}${record.reason ? `: ${printable(record.reason)}` : ''}`,
        );
      }
      return EXIT.OK;
    } finally {
      await safe.close();
    }
  }
}
