import type { ActionDefinition } from './action.js';
import type { ExecutionTicket } from './tickets.js';

/**
 * The executor port: what the runner needs from something that acts on a system (dry run, `kubectl`,
 * the Kubernetes API, AWS). The runner owns the pipeline (ticket, credentials, prechecks, state capture,
 * audit, revoke); an executor only knows how to make the calls of one action.
 */

/**
 * One request an executor would send, shown by {@link Executor.plan} (and the dry run). AWS calls use
 * `method: 'AWS'`, `path: '<service>:<Operation>'` (e.g. `ec2:StopInstances`), `body` the exact input of
 * the SDK v3 command and `query.region` the region they go to.
 */
export interface ApiCall {
  /** HTTP method, `EXEC` for a subprocess, or `AWS` for an AWS SDK call. */
  readonly method: string;
  /** API path (e.g. `/apis/apps/v1/namespaces/ops/deployments/web`), the program for `EXEC`, `service:Operation` for `AWS`. */
  readonly path: string;
  /** Request body, the argument array for `EXEC`, the SDK command input for `AWS`. */
  readonly body?: unknown;
  /** Content type of the body when it matters (merge patch, server-side apply …). */
  readonly contentType?: string;
  /** Query parameters. */
  readonly query?: Readonly<Record<string, string>>;
  /** One line a person can read. */
  readonly description?: string;
}

/** The approved request the runner hands to an executor. Params are exactly the ticket's. */
export interface ExecutionRequest {
  readonly action: ActionDefinition;
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** The validated ticket's claims (caller, audit id of the decision, policy revision …). */
  readonly ticket: ExecutionTicket;
}

/** What {@link Executor.execute} gets besides the request. */
export interface ExecutionContext {
  /** Aborted on timeout or cancellation: stop and return (or throw) promptly. */
  readonly signal: AbortSignal;
  /** Short-lived credential material resolved for this run; never log it. */
  readonly credentials?: unknown;
}

/** What the executor reports about the work it did. */
export interface ExecutionOutcome {
  readonly ok: boolean;
  /** Output worth returning (e.g. logs, rollout status); bounded by the executor. */
  readonly output?: unknown;
  /** Why it failed, when `ok` is false. */
  readonly error?: string;
  /** The calls made (or, for a dry run, the calls that would have been made). */
  readonly calls?: readonly ApiCall[];
}

/** Outcome of one named precheck. `warn` never stops a run; `fail` does unless forced where allowed. */
export interface PrecheckOutcome {
  readonly status: 'pass' | 'fail' | 'warn';
  readonly reason: string;
}

/** Something that acts on a system for the runner. */
export interface Executor {
  /** Short name for the audit log (`dry-run`, `kubectl`, `kubernetes` …). */
  readonly name: string;
  /** Exactly the calls `execute` would make for this request, without making them. */
  plan(request: ExecutionRequest): readonly ApiCall[];
  execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome>;
  /** Reads the action's `state_fields` (by name) from the live object; missing fields are left out. */
  readState(
    request: ExecutionRequest,
    fields: readonly string[],
    context: ExecutionContext,
  ): Promise<Record<string, unknown>>;
  /** Runs the named precheck of the action's definition. An unknown name must `fail`, never `pass`. */
  precheck(name: string, request: ExecutionRequest, context: ExecutionContext): Promise<PrecheckOutcome>;
}

/** Final status of a run. `refused`: stopped before acting (ticket, credentials, precheck, force). */
export type ExecutionStatus = 'succeeded' | 'failed' | 'refused' | 'cancelled' | 'timed_out';

/** One pipeline step with its timing. */
export interface ExecutionStep {
  /** `ticket`, `credentials`, `precheck:<name>`, `before_state`, `execute`, `after_state`, `revoke`. */
  readonly name: string;
  readonly status: 'ok' | 'failed' | 'warned' | 'forced' | 'skipped';
  readonly durationMs: number;
  readonly detail?: string;
}

/** What `Runner.execute` returns. Expected failures are results, never exceptions. */
export interface ExecutionResult {
  readonly status: ExecutionStatus;
  readonly action: string;
  readonly target: string;
  readonly executor: string;
  readonly steps: readonly ExecutionStep[];
  readonly durationMs: number;
  readonly error?: { readonly code: string; readonly message: string };
  readonly output?: unknown;
  /**
   * The state as read, unmasked: state fields marked `sensitive` are masked (`***`) only in the audit
   * log's `state_capture`, not here (the caller ran the action and may restore them).
   */
  readonly beforeState?: Readonly<Record<string, unknown>>;
  readonly afterState?: Readonly<Record<string, unknown>>;
  /** Field name → `{ before, after }` for each field whose value changed. */
  readonly diff?: Readonly<Record<string, { readonly before: unknown; readonly after: unknown }>>;
  /** Audit ids: the decision that issued the ticket, and the events this run wrote. */
  readonly auditIds: {
    readonly decision?: string;
    readonly started?: string;
    readonly execution?: string;
    readonly stateCapture?: string;
  };
  /** True when a failed precheck was overridden with `force`. */
  readonly forced: boolean;
}
