import { performance } from 'node:perf_hooks';
import {
  AgentSafeError,
  type ApprovalRecord,
  type AuditEventBody,
  type Caller,
  type Clock,
  type ExecutionTicket,
  MemorySuspensionStore,
  type SuspensionRecord,
  type SuspensionStore,
  isSafeId,
  randomId,
} from '@agent-safe/core';
import type { ApprovalService } from '@agent-safe/approvals';
import type { Evaluation } from '@agent-safe/pdp';
import { denyEvaluation } from './evaluations.js';
import { loadFileStore } from './file-store.js';
import { loadRedisStore } from './load-redis-store.js';

/** Settings of the kill switch (`suspensions:` in agent-safe.yaml). */
export interface SuspensionsOptions {
  /**
   * How often a facade re-reads a shared suspension list (file or Redis `store`), in ms. A suspension
   * reaches every replica within this interval plus one store round trip. Default 1000 (100…60 000).
   */
  readonly refreshIntervalMs?: number;
  /**
   * How long the list may go unrefreshed (the store unreachable) before every check is DENY, naming the
   * store. Default 5000; at least twice `refreshIntervalMs`.
   */
  readonly maxStaleMs?: number;
  /** A store object instead of the one the `store` option names (tests, custom stores). */
  readonly store?: SuspensionStore;
}

export const DEFAULT_SUSPENSION_REFRESH_MS = 1000;
export const DEFAULT_SUSPENSION_MAX_STALE_MS = 5000;

/** Options of {@link AgentsFacade.suspend}. */
export interface SuspendOptions {
  /** Who suspends (an admin's agent id; the CLI uses the OS user). */
  readonly by: string;
  /** Why; recorded in the audit log and quoted in every denial. */
  readonly reason?: string;
}

/** What {@link AgentsFacade.suspend} did. */
export interface SuspendOutcome {
  readonly suspension: SuspensionRecord;
  /** Pending (or approved, not yet collected) approval requests denied because of it. */
  readonly deniedApprovals: readonly string[];
}

/** What the kill switch needs from its facade. */
export interface SuspensionsHost {
  readonly clock: Clock;
  /** Appends an audit event; undefined when auditing is off. */
  readonly audit: ((body: AuditEventBody) => Promise<unknown>) | undefined;
  /** The approval service when approvals are configured (opened on demand), else undefined. */
  readonly approvals: (() => Promise<ApprovalService>) | undefined;
}

/**
 * The kill switch of one facade (docs/server.md, "Kill switch"): a copy of the suspension list kept in
 * memory, so `check()` pays one Set lookup per agent of the chain and no I/O. With a shared store the
 * copy is refreshed every `refreshIntervalMs` by an unref'd timer (one version read; the list only when
 * it moved); when no refresh has succeeded for `maxStaleMs`, every check and ticket is refused.
 */
export class Suspensions {
  readonly #location: string | undefined;
  readonly #given: SuspensionStore | undefined;
  readonly #refreshIntervalMs: number;
  readonly #maxStaleMs: number;
  readonly #host: SuspensionsHost;
  /** Suspended agent id → record: the in-memory copy the hot path reads (shared stores). */
  #suspended = new Map<string, SuspensionRecord>();
  /** The in-process list itself when the store is not shared: read directly, never copied. */
  #local: MemorySuspensionStore | undefined;
  #version = -1;
  /** performance.now() of the last successful refresh; -1 before the first. */
  #refreshedAt = -1;
  #lastError = '';
  #store: Promise<SuspensionStore> | undefined;
  #storeName: string;
  #started: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #closed = false;
  /** Sweeps of approval requests under way (awaited by close()). */
  readonly #sweeps = new Set<Promise<unknown>>();

  constructor(location: string | undefined, options: SuspensionsOptions, host: SuspensionsHost) {
    this.#location = location;
    this.#given = options.store;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_SUSPENSION_REFRESH_MS;
    this.#maxStaleMs = options.maxStaleMs ?? DEFAULT_SUSPENSION_MAX_STALE_MS;
    this.#host = host;
    this.#storeName = this.#given?.name ?? describeLocation(location);
    if (!this.shared) {
      // The in-process list: always current, nothing to refresh.
      this.#local = (this.#given as MemorySuspensionStore | undefined) ?? new MemorySuspensionStore();
      this.#store = Promise.resolve(this.#local);
      this.#version = 0;
      this.#refreshedAt = Number.POSITIVE_INFINITY;
      this.#started = Promise.resolve();
    }
  }

  /** Checks the settings; throws CONFIG_INVALID naming `where` and the field. */
  static check(options: SuspensionsOptions, where: string): void {
    const problem = (path: string, message: string): never => {
      throw new AgentSafeError('CONFIG_INVALID', `${where}: suspensions.${path}: ${message}`, {
        issues: [{ path: `suspensions.${path}`, message }],
      });
    };
    if (options === null || typeof options !== 'object')
      problem('', 'expected { refresh_interval_ms, max_stale_ms }');
    for (const key of Object.keys(options)) {
      if (key !== 'refreshIntervalMs' && key !== 'maxStaleMs' && key !== 'store')
        problem(
          key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`),
          'unknown setting; expected refresh_interval_ms or max_stale_ms',
        );
    }
    const refresh = options.refreshIntervalMs ?? DEFAULT_SUSPENSION_REFRESH_MS;
    if (!Number.isInteger(refresh) || refresh < 100 || refresh > 60_000)
      problem(
        'refresh_interval_ms',
        `expected an integer between 100 and 60000 (ms), got ${String(refresh)}`,
      );
    const stale = options.maxStaleMs ?? Math.max(DEFAULT_SUSPENSION_MAX_STALE_MS, 2 * refresh);
    if (!Number.isInteger(stale) || stale < 2 * refresh || stale > 3_600_000)
      problem(
        'max_stale_ms',
        `expected an integer between twice refresh_interval_ms (${2 * refresh}) and 3600000 (ms), got ${String(stale)}`,
      );
    if (options.store !== undefined && typeof options.store?.snapshot !== 'function')
      problem('store', 'expected a SuspensionStore (suspend, resume, version, snapshot, close)');
  }

  /** Whether the list is shared beyond this process (a file or Redis store, or a given store object). */
  get shared(): boolean {
    if (this.#given) return !(this.#given instanceof MemorySuspensionStore);
    return this.#location !== undefined && this.#location !== 'memory';
  }

  /**
   * Keeps using `previous`'s in-process list when neither store is shared: the server calls it when a
   * reload swaps in a new facade, so a reload never lifts a suspension. A no-op for shared stores.
   */
  adopt(previous: Suspensions): void {
    if (this.#local === undefined || previous.#local === undefined || this.#given !== undefined) return;
    this.#local = previous.#local;
    this.#store = Promise.resolve(previous.#local);
  }

  /** The store's name, for messages. */
  get storeName(): string {
    return this.#storeName;
  }

  /** True once the first list is loaded: the hot path then needs no await. */
  get loaded(): boolean {
    return this.#refreshedAt >= 0;
  }

  /** Opens the store and loads the list once, then keeps it fresh. Never rejects (the failure is kept). */
  start(): Promise<void> {
    if (!this.#started) {
      this.#started = this.#refresh();
      this.#timer = setInterval(() => {
        void this.#refresh();
      }, this.#refreshIntervalMs);
      this.#timer.unref();
    }
    return this.#started;
  }

  /**
   * The check-time stage: the evaluation unchanged, or DENY when the caller or an agent of its verified
   * delegation chain is suspended, or when the list is stale (fail closed).
   */
  apply(evaluation: Evaluation, caller: Caller): Evaluation {
    const stale = this.#staleness();
    if (stale !== undefined) {
      // Already a DENY (a guard store that failed the same way, say): its reason stands.
      if (evaluation.result === 'DENY') return evaluation;
      return denyEvaluation(evaluation, stale, { code: 'INTERNAL', message: stale });
    }
    if ((this.#local ?? this.#suspended).size === 0) return evaluation;
    const found = this.#find(caller.agentId, caller.delegationChain);
    if (found === undefined) return evaluation;
    const reason = denial(found, caller.agentId);
    return denyEvaluation(evaluation, reason, { code: 'AGENT_SUSPENDED', path: 'caller', message: reason });
  }

  /** {@link apply} for a check that arrives before the first load: waits for it once. */
  async applyAsync(evaluation: Evaluation, caller: Caller): Promise<Evaluation> {
    await this.start();
    return this.apply(evaluation, caller);
  }

  /** The ticket validator's hook: why a ticket must be refused, or undefined. */
  ticketRefusal(ticket: ExecutionTicket): string | undefined {
    const stale = this.#staleness();
    if (stale !== undefined) return stale;
    if ((this.#local ?? this.#suspended).size === 0) return undefined;
    const found = this.#find(
      ticket.caller,
      (ticket.delegationChain ?? []).map((agentId) => ({ agentId })),
    );
    return found === undefined ? undefined : denial(found, ticket.caller).replace(/^Denied/, 'Refused');
  }

  /** The suspension of an agent (itself, not its chain), read from this facade's copy. */
  get(agentId: string): SuspensionRecord | undefined {
    return this.#local ? this.#local.peek(agentId) : this.#suspended.get(agentId);
  }

  /**
   * Suspends `agentId` in the store, updates this facade's copy at once, records `agent_suspended` and
   * denies the open approval requests of the agent and its delegates.
   */
  async suspend(agentId: string, options: SuspendOptions): Promise<SuspendOutcome> {
    if (typeof agentId !== 'string' || !isSafeId(agentId)) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        'the agent id to suspend must be 1-512 characters without control characters',
      );
    }
    const record: SuspensionRecord = {
      agentId,
      by: options?.by,
      reason: options?.reason ?? '',
      at: this.#host.clock.now(),
    };
    // The timer too: this facade's copy must follow later changes made elsewhere.
    await this.start();
    const store = await this.#open();
    await store.suspend(record);
    await this.#audit('agent_suspended', record);
    await this.#refresh(false);
    if (!this.#local && !this.#suspended.has(agentId)) this.#suspended.set(agentId, record);
    const deniedApprovals = await this.#sweep();
    return { suspension: record, deniedApprovals };
  }

  /** Lifts a suspension; records `agent_resumed`. Resolves to the record removed, or undefined. */
  async resume(
    agentId: string,
    options: { by: string; reason?: string },
  ): Promise<SuspensionRecord | undefined> {
    if (typeof agentId !== 'string' || !isSafeId(agentId)) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        'the agent id to resume must be 1-512 characters without control characters',
      );
    }
    if (typeof options?.by !== 'string' || !isSafeId(options.by)) {
      throw new AgentSafeError('INPUT_INVALID', 'resume needs by: the agent id of whoever resumes');
    }
    // The timer too: this facade's copy must follow later changes made elsewhere.
    await this.start();
    const store = await this.#open();
    const removed = await store.resume(agentId);
    if (removed) {
      await this.#audit(
        'agent_resumed',
        {
          agentId,
          by: options.by,
          reason: options.reason ?? '',
          at: this.#host.clock.now(),
        },
        removed,
      );
    }
    await this.#refresh(false);
    this.#suspended.delete(agentId);
    return removed;
  }

  /** Every suspension, read from the store (not the copy): rejects when the store cannot answer. */
  async list(): Promise<SuspensionRecord[]> {
    const snapshot = await (await this.#open()).snapshot();
    return [...snapshot.records].sort((a, b) => a.at - b.at);
  }

  /** Stops the refresh timer, waits for sweeps under way and closes the store this facade opened. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#sweeps]);
    await this.#refreshing?.catch(() => undefined);
    if (this.#store && !this.#given) await (await this.#store.catch(() => undefined))?.close();
  }

  #open(): Promise<SuspensionStore> {
    if (!this.#store) {
      const opening = this.#given ? Promise.resolve(this.#given) : openSuspensionStore(this.#location!);
      this.#store = opening;
      opening.then(
        (store) => {
          this.#storeName = store.name;
        },
        () => {
          // Retried by the next refresh.
          if (this.#store === opening) this.#store = undefined;
        },
      );
    }
    return this.#store;
  }

  /**
   * One refresh; concurrent callers share it. Never rejects: the failure is kept for the messages.
   * `sweep`: deny the open approvals of agents newly suspended elsewhere (suspend() sweeps by itself).
   */
  #refresh(sweep = true): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (!this.#refreshing) {
      const run = (async () => {
        try {
          const store = await this.#open();
          const version = await store.version();
          if (version !== this.#version) {
            const snapshot = await store.snapshot();
            const before = this.#suspended;
            this.#suspended = new Map(snapshot.records.map((record) => [record.agentId, record]));
            this.#version = snapshot.version;
            // Another replica suspended someone: deny the open approvals this facade's store holds too
            // (a request created here just before the refresh would otherwise stay pending).
            if (sweep && [...this.#suspended.keys()].some((id) => !before.has(id)))
              void this.#sweep().catch(() => undefined);
          }
          this.#refreshedAt = performance.now();
          this.#lastError = '';
        } catch (error) {
          this.#lastError = error instanceof Error ? error.message : String(error);
        }
      })();
      this.#refreshing = run;
      void run.finally(() => {
        if (this.#refreshing === run) this.#refreshing = undefined;
      });
    }
    return this.#refreshing;
  }

  /** Why the copy cannot be trusted (never loaded, or not refreshed for maxStaleMs), or undefined. */
  #staleness(): string | undefined {
    const refreshedAt = this.#refreshedAt;
    if (refreshedAt === Number.POSITIVE_INFINITY) return undefined;
    if (refreshedAt >= 0) {
      const age = performance.now() - refreshedAt;
      if (age <= this.#maxStaleMs) return undefined;
      return `Denied because the suspension list (kill switch) could not be refreshed from ${this.#storeName} for ${Math.round(age / 1000)} s (more than ${this.#maxStaleMs} ms)${this.#lastError ? `: ${this.#lastError}` : ''}; checks are denied until it can be read again`;
    }
    return `Denied because the suspension list (kill switch) could not be read from ${this.#storeName}${this.#lastError ? `: ${this.#lastError}` : ''}`;
  }

  #find(agentId: string, chain: readonly { readonly agentId: string }[]): SuspensionRecord | undefined {
    const own = this.get(agentId);
    if (own) return own;
    for (const link of chain) {
      const found = this.get(link.agentId);
      if (found) return found;
    }
    return undefined;
  }

  async #audit(
    type: 'agent_suspended' | 'agent_resumed',
    record: SuspensionRecord,
    lifted?: SuspensionRecord,
  ) {
    if (!this.#host.audit) return;
    await this.#host.audit({
      event_id: randomId('evt'),
      timestamp: new Date(record.at).toISOString(),
      event_type: type,
      agent_id: record.agentId,
      by: record.by,
      reason: record.reason,
      store: this.#storeName,
      ...(lifted
        ? {
            suspended_by: lifted.by,
            suspended_at: new Date(lifted.at).toISOString(),
            suspension_reason: lifted.reason,
          }
        : {}),
    });
  }

  /**
   * Denies every open (pending, or approved but not collected) approval request whose requester or
   * delegation chain is suspended. Compare-and-swap on the record's version: a request decided meanwhile
   * is left as it is. Resolves to the ids denied.
   */
  #sweep(): Promise<string[]> {
    const load = this.#host.approvals;
    if (!load || (this.#local ?? this.#suspended).size === 0) return Promise.resolve([]);
    const sweep = (async () => {
      const service = await load();
      const denied: string[] = [];
      const open = [
        ...(await service.store.list({ status: 'pending', limit: 10_000 })),
        ...(await service.store.list({ status: 'approved', limit: 10_000 })),
      ];
      for (const record of open) {
        const found = this.#find(
          record.caller,
          record.delegationChain.map((agentId) => ({ agentId })),
        );
        if (!found) continue;
        const now = this.#host.clock.now();
        const next: ApprovalRecord = {
          ...record,
          version: record.version + 1,
          status: 'denied',
          denials: [
            ...record.denials,
            { approver: found.by, roles: [], at: now, comment: denial(found, record.caller) },
          ],
          decidedAt: now,
        };
        if (!(await service.store.replace(next))) continue;
        denied.push(record.id);
        await this.#host.audit?.({
          event_id: randomId('evt'),
          timestamp: new Date(now).toISOString(),
          event_type: 'approval_denied',
          approval_id: record.id,
          approval_status: 'denied',
          action: record.action,
          target: record.target,
          caller: record.caller,
          caller_authenticated: record.callerAuthenticated,
          ...(record.delegationChain.length > 0 ? { delegation_chain: record.delegationChain } : {}),
          params_digest: record.paramsDigest,
          policy_revision: record.policyRevision,
          decision_audit_id: record.auditId,
          approver: found.by,
          comment: denial(found, record.caller),
          kill_switch: found.agentId,
        });
      }
      return denied;
    })();
    this.#sweeps.add(sweep);
    void sweep.finally(() => this.#sweeps.delete(sweep)).catch(() => undefined);
    return sweep;
  }
}

/** The reason of every denial a suspension causes: who is suspended, by whom, when and why. */
function denial(record: SuspensionRecord, caller: string): string {
  const who =
    record.agentId === caller
      ? `agent ${record.agentId} is suspended`
      : `agent ${caller} acts by delegation from ${record.agentId}, which is suspended`;
  return `Denied because ${who} (kill switch: by ${record.by} at ${new Date(record.at).toISOString()}${record.reason ? `: ${record.reason}` : ''})`;
}

function describeLocation(location: string | undefined): string {
  if (location === undefined || location === 'memory') return 'the in-process suspension list';
  if (location.startsWith('file:')) return `the file suspension store at ${location.slice(5)}/suspensions`;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return `the Redis suspension store at ${url.toString()}`;
  } catch {
    return 'the Redis suspension store';
  }
}

/** Opens the store a `store` location names, loading the file or Redis package only then. */
async function openSuspensionStore(location: string): Promise<SuspensionStore> {
  if (location.startsWith('file:')) {
    const { FileSuspensionStore } = await loadFileStore();
    return new FileSuspensionStore({ directory: location.slice(5) });
  }
  // The same loader as the guards': a missing package is named with the command that installs both.
  const { RedisSuspensionStore } = await loadRedisStore();
  return RedisSuspensionStore.connect({ url: location });
}

/**
 * `safe.agents`: the kill switch. With the default `store: memory` a suspension holds in this process
 * only; with `store: file:DIR` or a Redis URL it reaches every process and replica sharing that store
 * within `suspensions.refreshIntervalMs`.
 */
export interface AgentsFacade {
  /** Suspends an agent and, through their verified chains, every agent it delegated to. */
  suspend(agentId: string, options: SuspendOptions): Promise<SuspendOutcome>;
  /** Lifts a suspension; resolves to the record removed (undefined when the agent was not suspended). */
  resume(agentId: string, options: { by: string; reason?: string }): Promise<SuspensionRecord | undefined>;
  /** Every suspension, oldest first, read from the store. */
  list(): Promise<SuspensionRecord[]>;
  /** The agent's own suspension as this facade last saw it (its copy, refreshed every interval). */
  isSuspended(agentId: string): Promise<SuspensionRecord | undefined>;
  /** Whether suspensions reach other processes (a file or Redis store). */
  readonly shared: boolean;
  /** The store's name, for messages. */
  readonly storeName: string;
  /**
   * With the in-process store, share `previous`'s list (a server reload calls it, so a reload never
   * lifts a suspension); a no-op for shared stores.
   */
  adopt(previous: AgentsFacade): void;
}

const owners = new WeakMap<AgentsFacade, Suspensions>();

/** The {@link AgentsFacade} of a {@link Suspensions}. */
export function agentsFacade(suspensions: Suspensions): AgentsFacade {
  const facade: AgentsFacade = {
    suspend: (agentId, options) => suspensions.suspend(agentId, options),
    resume: (agentId, options) => suspensions.resume(agentId, options),
    list: () => suspensions.list(),
    isSuspended: async (agentId) => {
      await suspensions.start();
      return suspensions.get(agentId);
    },
    get shared() {
      return suspensions.shared;
    },
    get storeName() {
      return suspensions.storeName;
    },
    adopt: (previous) => {
      const owner = owners.get(previous);
      if (owner) suspensions.adopt(owner);
    },
  };
  owners.set(facade, suspensions);
  return facade;
}
