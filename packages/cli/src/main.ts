import { Builtins, Cli } from 'clipanion';
import { AuditShowCommand, AuditVerifyCommand } from './commands/audit.js';
import { CheckCommand } from './commands/check.js';
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
  for (const command of COMMANDS) cli.register(command as never);
  return cli.run(argv, context);
}

if (process.argv[1] && import.meta.url.endsWith('/main.js')) {
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
}
