import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Command, Option } from 'clipanion';
import type { AgentSafe, FileParseCache, ProjectConfig } from '@agent-safe/sdk/facade';
import { EXIT } from './exit-codes.js';
import { type Style, styleFor } from './output.js';

/** Shared error handling: AgentSafeErrors print their issues and exit 1, never a stack trace. */
export abstract class BaseCommand extends Command {
  get out(): Style {
    return styleFor(this.context.stdout);
  }

  get err(): Style {
    return styleFor(this.context.stderr);
  }

  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (error) {
      const err = this.err;
      const candidate = error as { code?: unknown; describe?: unknown } | null;
      if (
        candidate &&
        typeof candidate === 'object' &&
        typeof candidate.code === 'string' &&
        typeof candidate.describe === 'function'
      ) {
        const described = (candidate.describe as () => string).call(candidate);
        this.context.stderr.write(
          `${err.red('error')} ${err.dim(`[${(error as { code: string }).code}]`)} ${described}\n`,
        );
      } else {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        this.context.stderr.write(`${err.red('error')} unexpected failure: ${message}\n`);
      }
      return EXIT.ERROR;
    }
  }

  protected print(text = ''): void {
    this.context.stdout.write(`${text}\n`);
  }

  protected printJson(value: unknown): void {
    this.context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
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
  protected async open(extra: { auditLog?: string | false } = {}): Promise<AgentSafe> {
    const { AgentSafe } = await import('@agent-safe/sdk/facade');
    const parseCache = await this.parseCache();
    const safe = new AgentSafe({
      ...(this.registry ? { registry: this.registry } : {}),
      ...(this.policies ? { policies: this.policies } : {}),
      ...(this.inventory ? { inventory: this.inventory } : {}),
      ...(this.config ? { config: this.config } : {}),
      auditLog: extra.auditLog ?? false,
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
