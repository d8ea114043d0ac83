import { Builtins, Cli } from 'clipanion';
import { AuditShowCommand, AuditVerifyCommand } from './commands/audit.js';
import { CheckCommand } from './commands/check.js';
import { DelegationCreateCommand, DelegationVerifyCommand } from './commands/delegation.js';
import { IdentityCreateCommand, IdentityKeygenCommand } from './commands/identity.js';
import { TicketVerifyCommand } from './commands/ticket.js';
import { InitCommand } from './commands/init.js';
import { ListActionsCommand } from './commands/list-actions.js';
import { TestCommand } from './commands/test.js';
import { ValidateCommand } from './commands/validate.js';
import { colourEnabled } from './output.js';
import { VERSION } from './version.js';

/** Every command of the agent-safe CLI. */
export const COMMANDS = [
  InitCommand,
  ValidateCommand,
  CheckCommand,
  ListActionsCommand,
  TestCommand,
  AuditVerifyCommand,
  AuditShowCommand,
  IdentityCreateCommand,
  IdentityKeygenCommand,
  DelegationCreateCommand,
  DelegationVerifyCommand,
  TicketVerifyCommand,
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

/** Runs the CLI with `argv` and resolves to the exit code. */
export async function runCli(
  argv: string[],
  context = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const cli = new Cli({
    binaryLabel: 'Agent-Safe',
    binaryName: 'agent-safe',
    binaryVersion: VERSION,
    enableColors: colourEnabled(context.stdout),
  });
  for (const command of commandsFor(argv)) cli.register(command as never);
  return cli.run(argv, context);
}

/**
 * Clipanion builds one state machine over every registered command, which costs milliseconds on each
 * start. When the arguments name one command unambiguously (and no help is asked for), only that
 * command is registered; anything else gets the full set, so help and error messages are unchanged.
 */
function commandsFor(argv: readonly string[]): readonly (typeof COMMANDS)[number][] {
  if (argv.some((argument) => argument === '-h' || argument === '--help')) return COMMANDS;
  const matching = COMMANDS.filter((command) =>
    (command.paths ?? []).some(
      (path) => path.length > 0 && path.every((segment, index) => argv[index] === segment),
    ),
  );
  return matching.length === 1 ? matching : COMMANDS;
}
