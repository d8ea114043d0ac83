import { Builtins, Cli } from 'clipanion';
import {
  ApprovalApproveCommand,
  ApprovalDenyCommand,
  ApprovalListCommand,
  ApprovalShowCommand,
} from './commands/approval.js';
import { AgentListCommand, AgentResumeCommand, AgentSuspendCommand } from './commands/agent.js';
import { AuditHeadCommand, AuditShowCommand, AuditVerifyCommand } from './commands/audit.js';
import { AuditShipCommand } from './commands/audit-ship.js';
import { AuditShowStateCommand, AuditStateCoverageCommand } from './commands/audit-state.js';
import { CheckCommand } from './commands/check.js';
import { CredentialResolveCommand, CredentialTestVaultCommand } from './commands/credential.js';
import { DelegationCreateCommand, DelegationVerifyCommand } from './commands/delegation.js';
import { IdentityCreateCommand, IdentityKeygenCommand } from './commands/identity.js';
import { InitCommand } from './commands/init.js';
import { ListActionsCommand } from './commands/list-actions.js';
import { RollbackCheckCommand, RollbackShowCommand } from './commands/rollback.js';
import { RunnerDryRunCommand, RunnerExecuteCommand } from './commands/runner.js';
import { ServeCommand } from './commands/serve.js';
import { TestCommand } from './commands/test.js';
import { TicketVerifyCommand } from './commands/ticket.js';
import { ValidateCommand } from './commands/validate.js';
import { EXIT } from './exit-codes.js';
import { writeEnvelope } from './json-envelope.js';
import { colourEnabled, styleFor } from './output.js';
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
  AuditHeadCommand,
  AuditShipCommand,
  IdentityCreateCommand,
  IdentityKeygenCommand,
  DelegationCreateCommand,
  DelegationVerifyCommand,
  TicketVerifyCommand,
  ApprovalListCommand,
  ApprovalShowCommand,
  ApprovalApproveCommand,
  ApprovalDenyCommand,
  AgentSuspendCommand,
  AgentResumeCommand,
  AgentListCommand,
  RunnerExecuteCommand,
  RunnerDryRunCommand,
  AuditShowStateCommand,
  AuditStateCoverageCommand,
  RollbackShowCommand,
  RollbackCheckCommand,
  CredentialResolveCommand,
  CredentialTestVaultCommand,
  ServeCommand,
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

type Context = { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };

/** Runs the CLI with `argv` and resolves to the exit code. */
export async function runCli(
  argv: string[],
  context: Context = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const cli = new AgentSafeCli({
    binaryLabel: 'Agent-Safe',
    binaryName: 'agent-safe',
    binaryVersion: VERSION,
    enableColors: colourEnabled(context.stdout as never),
  });
  for (const command of commandsFor(argv)) cli.register(command as never);
  let command: ReturnType<Cli['process']>;
  try {
    command = cli.process(argv, context as never);
  } catch (error) {
    return usageError(cli, argv, context, error);
  }
  return cli.run(command, context as never);
}

/**
 * Clipanion prints value placeholders as `#0` (`--target #0`); ours name what is expected. Overriding
 * `usage` and `error` covers help, the command list and usage errors alike.
 */
class AgentSafeCli extends Cli {
  override usage(...args: Parameters<Cli['usage']>): string {
    return withPlaceholders(super.usage(...args));
  }

  override error(...args: Parameters<Cli['error']>): string {
    return withPlaceholders(super.error(...args));
  }
}

const PLACEHOLDERS: Readonly<Record<string, string>> = {
  '--registry': '<dir>',
  '--policies': '<path>',
  '--inventory': '<file>',
  '--config': '<file>',
  '--target': '<target>',
  '--caller': '<caller>',
  '--params': '<json>',
  '--params-file': '<file>',
  '--ticket-id': '<id>',
  '--correlation-id': '<id>',
  '--audit-log': '<file>',
  '--last': '<n>',
  '--event-type': '<type>',
  '--tag': '<tag>',
  '--risk': '<class>',
  '--out': '<file>',
  '--jwks': '<file>',
  '--signing-key': '<key>',
  '--nonce-store': '<dir>',
  '--ttl': '<seconds>',
  '--max-depth': '<n>',
  '--executor': '<name>',
  '--kubeconfig': '<file>',
  '--context': '<context>',
  '--timeout': '<seconds>',
  '--log-file': '<file>',
  '--namespace': '<namespace>',
  '--credentials': '<none|kubernetes|aws>',
  '--credential-namespace': '<namespace>',
  '--target-namespace': '<namespace>',
  '--name-prefix': '<prefix>',
  '--vault': '<kubernetes|aws|secrets-manager|env>',
  '--vault-config': '<file>',
  '--action': '<action>',
  '--host': '<host>',
  '--port': '<port>',
};

// One line of a command's option list: two spaces, the (optionally bold) definition padded to the widest
// one, four spaces, the description.
// biome-ignore lint/suspicious/noControlCharactersInRegex: clipanion's bold escape codes are what is matched
const OPTION_LINE = /^ {2}(\u001b\[1m)?(-\S.*?) *(\u001b\[22m)? {4}(\S.*)$/;

function withPlaceholders(text: string): string {
  if (!text.includes(' #0')) return text;
  const named = (line: string) =>
    line.replace(
      /(--[a-z0-9][a-z0-9-]*) #0/g,
      (_match, name: string) => `${name} ${PLACEHOLDERS[name] ?? '<value>'}`,
    );
  const lines = text.split('\n');
  const options = lines.map((line) => OPTION_LINE.exec(line));
  // The placeholders are longer than `#0`: re-pad the option list so descriptions stay in one column.
  const width = Math.max(0, ...options.map((match) => (match ? named(match[2]!).length : 0)));
  return lines
    .map((line, index) => {
      const match = options[index];
      if (!match) return named(line);
      return `  ${match[1] ?? ''}${named(match[2]!).padEnd(width)}${match[3] ?? ''}    ${match[4]}`;
    })
    .join('\n');
}

/**
 * A command line clipanion could not parse. Errors go to stderr (stdout stays for results); an unknown
 * command or option gets the nearest known one as a suggestion; with `--json-output` stdout still gets
 * the envelope.
 */
function usageError(cli: AgentSafeCli, argv: readonly string[], context: Context, error: unknown): number {
  const colored = colourEnabled(context.stderr as never);
  const style = styleFor(context.stderr as never);
  const message = error instanceof Error ? error.message : String(error);
  const path = commandPath(argv);
  let text: string | undefined;
  let summary = message.split('\n')[0] ?? message;
  const suggestion = /^Command not found/.test(message) ? suggestCommand(argv) : undefined;
  if (suggestion || (/^Command not found/.test(message) && !knownFirstWord(argv))) {
    const typed = leadingWords(argv)
      .slice(0, suggestion ? suggestion.split(' ').length : 1)
      .join(' ');
    summary = `unknown command "${typed}"${suggestion ? `; did you mean "agent-safe ${suggestion}"?` : ''}`;
    text = `${style.red('error')} ${summary}\nRun "agent-safe --help" to list the commands.\n`;
  } else {
    const unknownOption = /(?:Unsupported|Invalid) option name \("(--?[^"=]*)(?:=[^"]*)?"\)/.exec(message);
    if (unknownOption && path) {
      const suggestion = nearest(unknownOption[1]!, optionNames(cli, path));
      summary = `unknown option "${unknownOption[1]}" for "agent-safe ${path}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
      text = `${style.red('error')} ${summary}\nRun "agent-safe ${path} --help" for its options.\n`;
    }
  }
  if (text === undefined) {
    text = cli.error(error as Error, { colored });
    if (path) summary = `${summary.replace(/\.$/, '')}; run "agent-safe ${path} --help" for its usage`;
  }
  if (argv.includes('--json-output')) {
    writeEnvelope(context.stdout as never, {
      command: path ?? leadingWords(argv).join(' '),
      exitCode: EXIT.ERROR,
      errors: [{ code: 'USAGE', message: summary }],
    });
    context.stderr.write(`${style.red('error')} ${style.dim('[USAGE]')} ${summary}\n`);
  } else {
    context.stderr.write(text);
  }
  return EXIT.ERROR;
}

/** The positional words at the start of the command line (the command path, as typed). */
function leadingWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (const argument of argv) {
    if (argument.startsWith('-')) break;
    words.push(argument);
  }
  return words;
}

function knownFirstWord(argv: readonly string[]): boolean {
  const first = leadingWords(argv)[0];
  return COMMANDS.some((command) => (command.paths ?? []).some((path) => path[0] === first));
}

/** The longest registered command path that the command line starts with. */
function commandPath(argv: readonly string[]): string | undefined {
  let best: readonly string[] | undefined;
  for (const command of COMMANDS) {
    for (const path of command.paths ?? []) {
      if (path.length > 0 && path.every((segment, index) => argv[index] === segment)) {
        if (!best || path.length > best.length) best = path;
      }
    }
  }
  return best?.join(' ');
}

function suggestCommand(argv: readonly string[]): string | undefined {
  const words = leadingWords(argv);
  const candidates: string[] = [];
  const typedFor = new Map<string, string>();
  for (const command of COMMANDS) {
    for (const path of command.paths ?? []) {
      if (path.length === 0 || path[0]!.startsWith('-') || words.length < path.length) continue;
      const name = path.join(' ');
      candidates.push(name);
      typedFor.set(name, words.slice(0, path.length).join(' '));
    }
  }
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of candidates) {
    const distance = editDistance(typedFor.get(name)!, name);
    if (distance <= threshold(name) && distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

function optionNames(cli: AgentSafeCli, path: string): string[] {
  const definition = cli.definitions().find((entry) => entry.path === `agent-safe ${path}`);
  const names = new Set<string>(['--help']);
  for (const option of definition?.options ?? []) {
    for (const name of option.definition.match(/--[a-z0-9][a-z0-9-]*/g) ?? []) names.add(name);
  }
  return [...names];
}

/** The nearest candidate within a few edits, or the only one the input is a prefix of. */
export function nearest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(input, candidate);
    if (distance <= threshold(candidate) && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  const prefixed = candidates.filter((candidate) => input.length > 2 && candidate.startsWith(input));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

function threshold(candidate: string): number {
  return Math.min(3, Math.max(1, Math.floor(candidate.length / 3)));
}

/**
 * Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment),
 * so `chekc` is one edit from `check`. Inputs are command-line words: bounded to keep it cheap.
 */
export function editDistance(a: string, b: string): number {
  if (a.length > 100 || b.length > 100) return Number.POSITIVE_INFINITY;
  const rows = a.length + 1;
  const columns = b.length + 1;
  const d: number[] = new Array(rows * columns).fill(0);
  for (let i = 0; i < rows; i++) d[i * columns] = i;
  for (let j = 0; j < columns; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < columns; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        d[(i - 1) * columns + j]! + 1,
        d[i * columns + j - 1]! + 1,
        d[(i - 1) * columns + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, d[(i - 2) * columns + j - 2]! + 1);
      }
      d[i * columns + j] = value;
    }
  }
  return d[rows * columns - 1]!;
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
