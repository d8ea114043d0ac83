import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Command, Option } from 'clipanion';
import type { AgentSafe, FileParseCache, ProjectConfig } from '@agent-safe/sdk/facade';
import { EXIT } from './exit-codes.js';
import {
  type EnvelopeError,
  errorsFromException,
  isAgentSafeErrorLike,
  writeEnvelope,
} from './json-envelope.js';
import { type Style, styleFor } from './output.js';

/**
 * Shared error handling: AgentSafeErrors print their issues and exit 1, never a stack trace (an
 * unexpected failure prints one line; `AGENT_SAFE_DEBUG=1` adds the stack). With `--json-output` a
 * failure still prints the JSON envelope on stdout, and stderr gets one summary line.
 */
export abstract class BaseCommand extends Command {
  get out(): Style {
    return styleFor(this.context.stdout);
  }

  get err(): Style {
    return styleFor(this.context.stderr);
  }

  abstract run(): Promise<number>;

  /** True when the command was given `--json-output` (every command that has the flag names it so). */
  protected get jsonMode(): boolean {
    return (this as { jsonOutput?: unknown }).jsonOutput === true;
  }

  /** The command path as typed, space-separated (`audit verify`). */
  protected get commandName(): string {
    const paths = (this.constructor as { paths?: string[][] }).paths;
    return (this.path.length > 0 ? this.path : (paths?.[0] ?? [])).join(' ');
  }

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (error) {
      return this.fail(error);
    }
  }

  /** Reports `error` (see the class comment) and returns the error exit code. */
  protected fail(error: unknown): number {
    const err = this.err;
    if (this.jsonMode) {
      const errors = errorsFromException(error);
      writeEnvelope(this.context.stdout, { command: this.commandName, exitCode: EXIT.ERROR, errors });
      const first = errors[0];
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
      this.context.stderr.write(
        `${err.red('error')} ${err.dim(`[${first?.code ?? 'INTERNAL'}]`)} ${oneLine(first?.message ?? '')}${more}\n`,
      );
      return EXIT.ERROR;
    }
    if (isAgentSafeErrorLike(error)) {
      this.context.stderr.write(`${err.red('error')} ${err.dim(`[${error.code}]`)} ${describe(error)}\n`);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      const stack =
        process.env.AGENT_SAFE_DEBUG === '1' && error instanceof Error && error.stack
          ? `\n${error.stack}`
          : '';
      this.context.stderr.write(
        `${err.red('error')} unexpected failure: ${oneLine(message)}${stack || err.dim(' (AGENT_SAFE_DEBUG=1 shows the stack)')}\n`,
      );
    }
    return EXIT.ERROR;
  }

  protected print(text = ''): void {
    this.context.stdout.write(`${text}\n`);
  }

  /** @deprecated Prints bare JSON; commands with `--json-output` use {@link printEnvelope}. */
  protected printJson(value: unknown): void {
    this.context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Prints the JSON envelope for this command (docs/cli.md) and returns `exitCode`. */
  protected printEnvelope(exitCode: number, data: unknown, errors: readonly EnvelopeError[] = []): number {
    writeEnvelope(this.context.stdout, { command: this.commandName, exitCode, data, errors });
    return exitCode;
  }
}

/**
 * The message and then each located issue, except issues the message already states (an error about one
 * file often says the same thing in both): each problem prints once.
 */
function describe(error: { message: string; issues?: unknown; describe(): string }): string {
  if (!Array.isArray(error.issues)) return error.describe();
  const lines = [error.message];
  for (const issue of error.issues as { message?: unknown; file?: unknown; path?: unknown }[]) {
    if (typeof issue?.message !== 'string' || error.message.includes(issue.message)) continue;
    const where = [issue.file, issue.path].filter((part) => typeof part === 'string' && part).join(': ');
    lines.push(`  - ${where ? `${where}: ` : ''}${issue.message}`);
  }
  return lines.join('\n');
}

/** The first line of a message, so a summary never spans lines. */
function oneLine(message: string): string {
  const newline = message.indexOf('\n');
  return newline < 0 ? message : message.slice(0, newline);
}

/** Commands that read the registry, policies and inventory accept the same path flags. */
export abstract class ConfigCommand extends BaseCommand {
  registry = Option.String('--registry', {
    description: 'Directory of action YAML files (default ./actions)',
  });
  policies = Option.String('--policies', { description: 'Policy directory or file (default ./policies)' });
  inventory = Option.String('--inventory', {
    description: 'Target inventory file (default ./inventory.yaml)',
  });
  config = Option.String('--config', {
    description: 'Project config file (default ./agent-safe.yaml when present)',
  });

  #parseCache: FileParseCache | undefined | null = null;

  /**
   * The CLI's parse cache (see FileParseCache): repeated runs on unchanged files skip YAML parsing.
   * `AGENT_SAFE_NO_CACHE=1` turns it off.
   */
  protected async parseCache(): Promise<FileParseCache | undefined> {
    if (this.#parseCache === null) {
      const { FileParseCache, defaultCacheDirectory } = await import('@agent-safe/sdk/facade');
      const key = projectKey([this.registry, this.policies, this.inventory, this.config]);
      this.#parseCache = process.env.AGENT_SAFE_NO_CACHE
        ? undefined
        : FileParseCache.open(join(defaultCacheDirectory(), `parse-${key}.json`));
    }
    return this.#parseCache;
  }

  /** Builds the facade; flags win over agent-safe.yaml, which wins over the defaults. */
  protected async open(
    extra: { auditLog?: string | false; store?: string; shadowPolicies?: string } = {},
  ): Promise<AgentSafe> {
    const { AgentSafe } = await import('@agent-safe/sdk/facade');
    const parseCache = await this.parseCache();
    const safe = new AgentSafe({
      ...(this.registry ? { registry: this.registry } : {}),
      ...(this.policies ? { policies: this.policies } : {}),
      ...(this.inventory ? { inventory: this.inventory } : {}),
      ...(this.config ? { config: this.config } : {}),
      auditLog: extra.auditLog ?? false,
      ...(extra.store ? { store: extra.store } : {}),
      ...(extra.shadowPolicies ? { shadow: { policies: extra.shadowPolicies } } : {}),
      ...(parseCache ? { parseCache } : {}),
    });
    parseCache?.save();
    return safe;
  }

  protected async projectConfig(): Promise<ProjectConfig> {
    const { loadProjectConfig } = await import('@agent-safe/sdk/facade');
    return loadProjectConfig({ file: this.config, parseCache: await this.parseCache() });
  }
}

/** One parse-cache file per working directory and set of path flags, so projects do not evict each other. */
function projectKey(flags: readonly (string | undefined)[]): string {
  return createHash('sha256')
    .update(JSON.stringify([process.cwd(), ...flags]))
    .digest('hex')
    .slice(0, 32);
}
