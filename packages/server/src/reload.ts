import type { AgentSafe } from '@agent-safe/sdk/facade';
import { HttpError } from './http-error.js';
import type { JsonSchema } from './json-schema.js';

/** Builds a new facade from the configuration on disk (the server's `config`, or the CLI's flags). */
export type SafeFactory = () => AgentSafe | Promise<AgentSafe>;

/** The outcome of the last reload, as /readyz reports it. */
export interface ReloadStatus {
  readonly ok: boolean;
  /** When the reload finished (ISO 8601). */
  readonly time: string;
  /** What triggered it: `admin` (POST /v1/admin/reload), `signal` (SIGHUP), `watch` or `api`. */
  readonly trigger: string;
  /** The policy revision now serving (the old one when the reload failed). */
  readonly policyRevision: string;
  /** Why the new configuration was refused; only when `ok` is false. */
  readonly error?: string;
}

interface Slot {
  readonly safe: AgentSafe;
  /** Requests using this facade right now. */
  active: number;
  /** Replaced by a newer facade: close it once `active` is 0. */
  retired: boolean;
  closed?: Promise<void>;
}

/** A request's hold on the facade it uses; release it once the answer is written. */
export interface Lease {
  readonly safe: AgentSafe;
  release(): void;
}

/**
 * The facade in service and its hot replacement (docs/server.md, "Operations: reload"). A request takes
 * a lease on the current facade and keeps it until answered; a reload builds and validates a new facade
 * first, then swaps it in: new requests get the new one, the old one is closed (audit log flushed) once
 * its last lease is released. A configuration that fails to load leaves the old facade serving.
 *
 * Both facades may append to the same audit log while the old one drains: each AuditLog serialises its
 * batches through `<log>.lock` and re-reads the tail when another writer moved it, so the chain stays
 * unbroken (a test reloads under 200 concurrent checks and verifies the log).
 */
export class SafeSwitch {
  #slot: Slot;
  readonly #factory: SafeFactory | undefined;
  readonly #onSwap: (safe: AgentSafe) => void;
  #reloading: Promise<ReloadStatus> | undefined;
  #again = false;
  #last: ReloadStatus | undefined;
  readonly #counts = { ok: 0, failed: 0 };
  #closing = false;
  /** Closes of retired facades under way, awaited by close(). */
  readonly #draining = new Set<Promise<void>>();

  constructor(safe: AgentSafe, factory: SafeFactory | undefined, onSwap: (safe: AgentSafe) => void) {
    this.#slot = { safe, active: 0, retired: false };
    this.#factory = factory;
    this.#onSwap = onSwap;
  }

  /** The facade new requests use. */
  get current(): AgentSafe {
    return this.#slot.safe;
  }

  /** Whether the server can reload (it was given a configuration or a factory, not only a facade). */
  get reloadable(): boolean {
    return this.#factory !== undefined;
  }

  /** The last reload's outcome; undefined before the first one. */
  get lastReload(): ReloadStatus | undefined {
    return this.#last;
  }

  /** Reloads so far, by result. */
  get counts(): { readonly ok: number; readonly failed: number } {
    return this.#counts;
  }

  acquire(): Lease {
    const slot = this.#slot;
    slot.active++;
    let released = false;
    return {
      safe: slot.safe,
      release: () => {
        if (released) return;
        released = true;
        slot.active--;
        if (slot.retired && slot.active === 0) void this.#close(slot);
      },
    };
  }

  /**
   * Builds, validates and swaps in a new facade. Never rejects: a failure is the returned status (the
   * old facade keeps serving). Reloads asked for while one runs are merged into one more run after it.
   */
  reload(trigger: string): Promise<ReloadStatus> {
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    const run = (async () => {
      let status: ReloadStatus;
      do {
        this.#again = false;
        status = await this.#reloadOnce(trigger);
      } while (this.#again && !this.#closing);
      return status;
    })();
    this.#reloading = run;
    void run.finally(() => {
      if (this.#reloading === run) this.#reloading = undefined;
    });
    return run;
  }

  async #reloadOnce(trigger: string): Promise<ReloadStatus> {
    const old = this.#slot;
    let fresh: AgentSafe | undefined;
    try {
      if (!this.#factory) {
        throw new Error('this server was given a facade, not a configuration, so it cannot reload');
      }
      if (this.#closing) throw new Error('the server is shutting down');
      fresh = await this.#factory();
      // Keys must import (a bad signing key would otherwise only show as DENY on every check).
      await fresh.ready();
      if (this.#closing) throw new Error('the server is shutting down');
    } catch (error) {
      if (fresh) await fresh.close().catch(() => undefined);
      this.#counts.failed++;
      this.#last = {
        ok: false,
        time: new Date().toISOString(),
        trigger,
        policyRevision: old.safe.pdp.revision,
        error: describeFailure(error),
      };
      return this.#last;
    }
    this.#slot = { safe: fresh, active: 0, retired: false };
    this.#onSwap(fresh);
    old.retired = true;
    if (old.active === 0) void this.#close(old);
    this.#counts.ok++;
    this.#last = {
      ok: true,
      time: new Date().toISOString(),
      trigger,
      policyRevision: fresh.pdp.revision,
    };
    return this.#last;
  }

  #close(slot: Slot): Promise<void> {
    if (!slot.closed) {
      const closed = slot.safe.close().catch(() => undefined);
      slot.closed = closed;
      this.#draining.add(closed);
      void closed.finally(() => this.#draining.delete(closed));
    }
    return slot.closed;
  }

  /**
   * Waits for a reload in progress, then closes the current facade and any retired one still draining.
   * Call once no request is in flight.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#reloading;
    this.#slot.retired = true;
    await this.#close(this.#slot);
    await Promise.all([...this.#draining]);
  }
}

/**
 * Whether the bearer token names an admin: identity must be configured, the token must verify, and the
 * caller must hold one of `adminRoles`. Throws the HTTP refusal otherwise: 400 USAGE when no admin roles
 * or no identity are configured (as for tickets), 401 without a valid token, 403 without an admin role.
 */
export async function requireAdmin(
  safe: AgentSafe,
  token: string | undefined,
  adminRoles: readonly string[],
  what = 'reload the configuration',
): Promise<string> {
  if (adminRoles.length === 0) {
    throw new HttpError(
      400,
      'USAGE',
      'no admin roles are configured on this server: set server: { admin_roles: [<role>] } in agent-safe.yaml or start it with --admin-role <role> (adminRoles from code), then call with an identity token holding that role',
    );
  }
  let verify: AgentSafe['identity']['verify'];
  try {
    verify = safe.identity.verify;
  } catch {
    throw new HttpError(
      400,
      'USAGE',
      'admin endpoints need identity: set signing_key (or verification_keys) in agent-safe.yaml, and call with an identity token holding an admin role',
    );
  }
  if (token === undefined) {
    throw new HttpError(
      401,
      'IDENTITY_INVALID',
      'an identity token holding an admin role is required: send "Authorization: Bearer <identity token>"',
      undefined,
      { 'www-authenticate': 'Bearer' },
    );
  }
  const verified = await verify(token);
  if (!verified.ok) {
    throw new HttpError(
      401,
      'IDENTITY_INVALID',
      `the identity token is not valid: ${verified.reason}`,
      undefined,
      {
        'www-authenticate': 'Bearer',
      },
    );
  }
  const roles = new Set(adminRoles);
  if (!verified.caller.roles.some((role) => roles.has(role))) {
    throw new HttpError(
      403,
      'IDENTITY_INVALID',
      `${verified.caller.agentId} may not ${what}: its token needs an admin role (${adminRoles.join(', ')})`,
    );
  }
  return verified.caller.agentId;
}

/** The reload metrics, in the Prometheus text format, appended to the server's. */
export function renderReloadMetrics(reloads: SafeSwitch): string {
  const { ok, failed } = reloads.counts;
  const last = reloads.lastReload;
  const revision = reloads.current.pdp.revision
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n');
  return [
    '# HELP agent_safe_config_reload_total Configuration reloads, by result.',
    '# TYPE agent_safe_config_reload_total counter',
    `agent_safe_config_reload_total{result="ok"} ${ok}`,
    `agent_safe_config_reload_total{result="failed"} ${failed}`,
    '# HELP agent_safe_config_revision The policy revision serving (always 1).',
    '# TYPE agent_safe_config_revision gauge',
    `agent_safe_config_revision{revision="${revision}"} 1`,
    '# HELP agent_safe_config_last_reload_success Whether the last reload succeeded (1 before any reload).',
    '# TYPE agent_safe_config_last_reload_success gauge',
    `agent_safe_config_last_reload_success ${last === undefined || last.ok ? 1 : 0}`,
    '',
  ].join('\n');
}

/** The answer of POST /v1/admin/reload: the {@link ReloadStatus}. */
export const RELOAD_RESPONSE: JsonSchema = {
  type: 'object',
  required: ['ok', 'time', 'trigger', 'policyRevision'],
  properties: {
    ok: { type: 'boolean' },
    time: { type: 'string' },
    trigger: { type: 'string' },
    policyRevision: { type: 'string' },
    error: { type: 'string' },
  },
};

/** The message of a failed load, with its first problems (file, path, message) when it lists them. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const issues = (error as { issues?: unknown })?.issues;
  if (!Array.isArray(issues) || issues.length === 0) return message;
  const listed = issues
    .slice(0, 5)
    .map((issue: { file?: unknown; path?: unknown; message?: unknown }) =>
      [issue.file, issue.path, issue.message]
        .filter((part) => typeof part === 'string' && part !== '')
        .join(': '),
    );
  const more = issues.length > 5 ? `; and ${issues.length - 5} more` : '';
  return `${message}: ${listed.join('; ')}${more}`;
}
