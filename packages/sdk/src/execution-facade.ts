import {
  type ActionLookup,
  AgentSafeError,
  type AuditSink,
  type CheckRequest,
  type Clock,
  type CredentialProvider,
  type Decision,
  type ExecutionResult,
  type NonceStore,
} from '@agent-safe/core';
import { type CredentialResolver, Runner, type TicketValidatorLike } from '@agent-safe/runner';
import { type AwsOptions, resolveAwsOptions } from './execution-aws.js';
import { type ClusterOptions, type ExecutorChoice, resolveExecutor } from './execution-executors.js';
import { resolveCredentials } from './execution-credentials.js';
import {
  type RollbackCheck,
  type RollbackExecution,
  type RollbackPlanResult,
  rollbackPlanFromLog,
  rollbackPlanFromResult,
  rollbackWithCapture,
} from './rollback.js';
import {
  type StateCaptureRecord,
  type StateCoverageReport,
  captureRecord,
  checkStateValue,
  findStateCapture,
  requireAllowedDecision,
  requireAuditId,
  stateCaptureBody,
  stateCoverage,
} from './state-capture.js';

/** Credentials for a run: a runner resolver, a provider of `@agent-safe/credentials`, or none. */
export type CredentialsOption = CredentialResolver | CredentialProvider | 'none';

/**
 * Options of `safe.execute`. `kubeconfig`, `context` and `inCluster` are for the Kubernetes executors;
 * `region` and `endpoint` for `executor: 'aws'` (defaults: agent-safe.yaml's `aws:` block, then
 * `AWS_REGION` / `AWS_DEFAULT_REGION` and `AWS_ENDPOINT_URL`; a region the action's params name wins).
 */
export interface ExecuteOptions extends ClusterOptions, AwsOptions {
  /** Default `'dry-run'`: nothing acts unless an executor is asked for. */
  readonly executor?: ExecutorChoice;
  /**
   * The params to execute: they must be exactly those the ticket was issued for. Default: the
   * decision's params; required when a bare ticket token is passed.
   */
  readonly params?: Record<string, unknown>;
  /**
   * Default: none (the executor acts with its own identity). A provider (`KubernetesCredentialProvider`,
   * `StsCredentialProvider` …) issues one scoped, short-lived credential per run, revoked when it ends.
   */
  readonly credentials?: CredentialsOption;
  /** Override failed prechecks marked `force_allowed` in the action definition (audited). */
  readonly force?: boolean;
  /** Cancels the run. */
  readonly signal?: AbortSignal;
  /** Timeout of the run; default the runner's (300 000 ms). */
  readonly timeoutMs?: number;
  /**
   * Where ticket nonces are recorded (single use). Default: the configured `store`, else this facade's
   * own memory. A long-lived host that replaces facades (the server across reloads) passes one store
   * that outlives them, so a ticket used before a reload stays used after it.
   */
  readonly nonceStore?: NonceStore;
}

/** Options of `safe.runner()`. */
export interface RunnerFacadeOptions {
  readonly credentials?: CredentialsOption;
  readonly timeoutMs?: number;
  /** Where ticket nonces are recorded; see {@link ExecuteOptions.nonceStore}. */
  readonly nonceStore?: NonceStore;
}

/** Options of `safe.checkRollback`: who asks for the rollback (default: the original decision's caller). */
export interface RollbackCheckOptions {
  readonly caller?: CheckRequest['caller'];
}

/** What the enforcement half needs from the facade (passed by `AgentSafe`, which composes). */
export interface EnforcementHost {
  readonly registry: ActionLookup;
  readonly clock: Clock;
  /** The audit log file, when the log is a file (state capture and rollback read it back). */
  readonly auditLogPath: string | undefined;
  /** The facade's audit sink; undefined when auditing is off. */
  readonly auditSink: AuditSink | undefined;
  /** agent-safe.yaml's `aws:` block (checked when the file was read): defaults of executor 'aws'. */
  readonly aws?: AwsOptions | undefined;
  check(request: CheckRequest): Promise<Decision>;
  /** The facade's ticket validator (same key and issuer, validations audited). */
  createTicketValidator(options?: { nonceStore?: NonceStore }): Promise<TicketValidatorLike>;
}

const EXECUTE_OPTION_KEYS = new Set([
  'executor',
  'params',
  'kubeconfig',
  'context',
  'inCluster',
  'region',
  'endpoint',
  'credentials',
  'force',
  'signal',
  'timeoutMs',
  'nonceStore',
]);

function usage(message: string, path: string, hint: string): AgentSafeError {
  return new AgentSafeError('USAGE', message, { issues: [{ path, message: hint }] });
}

/** A result for a decision that carries no ticket: nothing ran, nothing was audited as a run. */
function refused(decision: Decision, message: string): ExecutionResult {
  return {
    status: 'refused',
    action: typeof decision.action === 'string' ? decision.action : '',
    target: typeof decision.target === 'string' ? decision.target : '',
    executor: 'none',
    steps: [],
    durationMs: 0,
    error: { code: 'TICKET_MISSING', message },
    auditIds:
      typeof decision.auditId === 'string' && decision.auditId !== '' ? { decision: decision.auditId } : {},
    forced: false,
  };
}

/** Why a decision has no ticket, in words a caller can act on. */
function missingTicketReason(decision: Decision): string {
  const id = decision.auditId ? ` ${decision.auditId}` : '';
  if (decision.result === 'DENY')
    return `decision${id} is DENY (${decision.reason}): there is nothing to execute`;
  if (decision.result === 'REQUIRE_APPROVAL') {
    return `decision${id} is REQUIRE_APPROVAL: nothing runs before it is approved; execute the ALLOW decision that safe.approvals.waitForApproval() returns`;
  }
  if (decision.result !== 'ALLOW') return 'the decision has no result: pass a Decision returned by check()';
  if (!decision.auditId) {
    return 'the decision was not recorded (auditing is off), so no execution ticket was issued: configure an audit log';
  }
  return `decision${id} is ALLOW but carries no execution ticket: configure ticket signing (security.signingKey)`;
}

/**
 * The SDK surface of enforcement (composed by `AgentSafe`): execute a decision's ticket through the
 * runner, record state for agents that execute themselves, and plan, check and execute rollbacks from
 * the state captured. Every run goes through the runner on the facade's registry, ticket validator
 * (single use) and audit log.
 */
export class Enforcement {
  readonly #host: EnforcementHost;
  #validator: Promise<TicketValidatorLike> | undefined;
  /** Validators on a nonce store given by the host, one per store. */
  readonly #validators = new WeakMap<NonceStore, Promise<TicketValidatorLike>>();

  constructor(host: EnforcementHost) {
    this.#host = host;
  }

  /** One validator per facade (and per given nonce store), so single use holds across every execute. */
  #ticketValidator(nonceStore?: NonceStore): Promise<TicketValidatorLike> {
    if (nonceStore !== undefined) {
      let validator = this.#validators.get(nonceStore);
      if (validator === undefined) {
        validator = this.#host.createTicketValidator({ nonceStore });
        this.#validators.set(nonceStore, validator);
        validator.catch(() => this.#validators.delete(nonceStore));
      }
      return validator;
    }
    if (!this.#validator) {
      this.#validator = this.#host.createTicketValidator();
      this.#validator.catch(() => {
        this.#validator = undefined;
      });
    }
    return this.#validator;
  }

  #auditSink(): AuditSink {
    if (this.#host.auditSink === undefined) {
      throw usage(
        'the runner needs an audit log, and auditing is off (auditLog: false): nothing runs unaudited',
        'auditLog',
        'configure an audit log path',
      );
    }
    return this.#host.auditSink;
  }

  #logPath(what: string): string {
    if (this.#host.auditLogPath === undefined) {
      throw usage(
        `${what} reads the audit log back, so it needs the audit log to be a file (auditLog: './audit.jsonl'), not ${this.#host.auditSink === undefined ? 'off' : 'a sink object'}`,
        'auditLog',
        'configure an audit log path',
      );
    }
    return this.#host.auditLogPath;
  }

  /**
   * Reads the facade's log; a log file that does not exist yet (nothing was checked) reads as empty,
   * so the answer is the same as for a log without the decision.
   */
  async #readLog<T>(
    what: string,
    read: (path: string) => Promise<T>,
    empty: () => T | Promise<T>,
  ): Promise<T> {
    const path = this.#logPath(what);
    try {
      return await read(path);
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
      if (error instanceof AgentSafeError && error.code === 'FILE_UNREADABLE' && cause?.code === 'ENOENT') {
        return await empty();
      }
      throw error;
    }
  }

  /** A runner on the facade's registry, ticket validator and audit log. */
  async runner(options: RunnerFacadeOptions = {}): Promise<Runner> {
    if (options === null || typeof options !== 'object') {
      throw usage('runner options must be an object', 'options', '{ credentials?, timeoutMs? }');
    }
    const auditSink = this.#auditSink();
    const credentials = await resolveCredentials(options.credentials);
    return new Runner({
      actions: this.#host.registry,
      validator: await this.#ticketValidator(options.nonceStore),
      auditSink,
      clock: this.#host.clock,
      ...(credentials !== undefined ? { credentials } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  /**
   * Executes the ticket of an ALLOW decision (or a bare ticket token) through the runner. A decision
   * without a ticket (DENY, REQUIRE_APPROVAL, auditing off, no signing key) comes back `refused`, and
   * nothing runs. Bad options (an unknown executor, a bare token without params) throw USAGE.
   */
  async execute(decisionOrTicket: Decision | string, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw usage('execute options must be an object', 'options', '{ executor, params, … }');
    }
    for (const key of Object.keys(options)) {
      if (!EXECUTE_OPTION_KEYS.has(key)) {
        throw usage(
          `unknown execute option "${key.slice(0, 64)}"`,
          key.slice(0, 64),
          `one of ${[...EXECUTE_OPTION_KEYS].join(', ')}`,
        );
      }
    }
    let token: string;
    let params: Record<string, unknown> | undefined = options.params;
    if (typeof decisionOrTicket === 'string') {
      token = decisionOrTicket;
      if (params === undefined) {
        throw usage(
          'executing a bare ticket token needs options.params: the exact params the ticket was issued for',
          'params',
          'pass { params: { … } }, or pass the Decision itself',
        );
      }
    } else if (
      decisionOrTicket !== null &&
      typeof decisionOrTicket === 'object' &&
      'result' in decisionOrTicket
    ) {
      const ticket = decisionOrTicket.ticket;
      if (ticket === null || ticket === undefined || typeof ticket.token !== 'string') {
        return refused(decisionOrTicket, missingTicketReason(decisionOrTicket));
      }
      token = ticket.token;
      params ??= { ...decisionOrTicket.params };
    } else {
      throw usage(
        'execute expects a Decision returned by check(), or an execution ticket token',
        'decisionOrTicket',
        'pass the Decision (or decision.ticket.token with options.params)',
      );
    }
    const executor = await resolveExecutor(
      options.executor,
      options.executor === 'aws' ? { ...options, ...resolveAwsOptions(options, this.#host.aws) } : options,
    );
    const runner = await this.runner({
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      ...(options.nonceStore !== undefined ? { nonceStore: options.nonceStore } : {}),
    });
    return runner.execute(token, {
      params: params as Record<string, unknown>,
      executor,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.force !== undefined ? { force: options.force } : {}),
    });
  }

  /**
   * Records the state of the object BEFORE an agent acts on an ALLOW decision of this log (as a
   * `state_capture` with `after_state: null`; {@link recordAfterState} completes it).
   */
  async recordBeforeState(auditId: string, state: Record<string, unknown>): Promise<{ eventId: string }> {
    const event = await this.#record(auditId, checkStateValue(state, 'before_state'), null);
    return { eventId: event.eventId };
  }

  /** Records the state AFTER acting: a complete capture (before, after, diff). Needs the before-state. */
  async recordAfterState(auditId: string, state: Record<string, unknown>): Promise<StateCaptureRecord> {
    const after = checkStateValue(state, 'after_state');
    requireAuditId(auditId);
    const previous = await this.#readLog(
      'recordAfterState',
      (log) => findStateCapture(log, auditId),
      () => undefined,
    );
    if (previous === undefined) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        `no before-state was recorded for decision ${auditId}: call recordBeforeState before acting, or recordState(auditId, before, after)`,
        { issues: [{ path: 'auditId', message: 'record the before-state first' }] },
      );
    }
    return this.#record(auditId, { ...previous.beforeState }, after);
  }

  /** Records before and after state at once (the seeds' `record_state`). */
  async recordState(
    auditId: string,
    before: Record<string, unknown>,
    after: Record<string, unknown>,
  ): Promise<StateCaptureRecord> {
    return this.#record(
      auditId,
      checkStateValue(before, 'before_state'),
      checkStateValue(after, 'after_state'),
    );
  }

  async #record(
    auditId: string,
    before: Record<string, unknown>,
    after: Record<string, unknown> | null,
  ): Promise<StateCaptureRecord> {
    const sink = this.#auditSink();
    requireAuditId(auditId);
    const decision = await this.#readLog(
      'recording state',
      (log) => requireAllowedDecision(log, auditId),
      () => requireAllowedDecision(undefined, auditId),
    );
    const body = stateCaptureBody(
      { decision, actions: this.#host.registry },
      before,
      after,
      this.#host.clock.now(),
    );
    const stored = await sink.append(body);
    const record = captureRecord({ ...body, event_id: stored.event_id });
    if (record === undefined)
      throw new AgentSafeError('INTERNAL', 'the state capture could not be read back');
    return record;
  }

  /** The last state capture of a decision in this facade's audit log, or undefined. */
  async getStateCapture(auditId: string): Promise<StateCaptureRecord | undefined> {
    requireAuditId(auditId);
    return this.#readLog(
      'getStateCapture',
      (log) => findStateCapture(log, auditId),
      () => undefined,
    );
  }

  /** ALLOW decisions vs those with a state capture, overall and per action. */
  async stateCoverage(): Promise<StateCoverageReport> {
    return this.#readLog('stateCoverage', stateCoverage, () => ({
      allowed: 0,
      captured: 0,
      complete: 0,
      coverage: 0,
      actions: [],
      unmatchedCaptures: 0,
    }));
  }

  /**
   * The rollback plan of a decision from its last state capture; `{ ok: false, reason }` when none.
   * Given the ExecutionResult `execute` returned instead of an audit id, the plan takes the result's
   * before-state, which keeps the values of sensitive state fields the log holds only masked.
   */
  async generateRollback(auditIdOrResult: string | ExecutionResult): Promise<RollbackPlanResult> {
    if (auditIdOrResult !== null && typeof auditIdOrResult === 'object') {
      const result = auditIdOrResult;
      return this.#readLog(
        'generateRollback',
        (log) => rollbackPlanFromResult(log, result, this.#host.registry),
        () => ({ ok: false, reason: 'no state capture for this result: the audit log is empty' }),
      );
    }
    const auditId = auditIdOrResult;
    requireAuditId(auditId);
    return this.#readLog(
      'generateRollback',
      (log) => rollbackPlanFromLog(log, auditId, this.#host.registry),
      () => ({ ok: false, reason: `no state capture for decision ${auditId}: the audit log is empty` }),
    );
  }

  /**
   * Sends the rollback plan through `check()` (same target, correlation id = the original audit id), so
   * the rollback is decided and audited like any request. The caller defaults to the original
   * decision's. INPUT_INVALID with the reason when there is no plan (see {@link generateRollback}).
   */
  async checkRollback(auditId: string, options: RollbackCheckOptions = {}): Promise<RollbackCheck> {
    requireAuditId(auditId);
    const found = await this.#readLog(
      'checkRollback',
      (log) => rollbackWithCapture(log, auditId, this.#host.registry),
      () => ({ ok: false as const, reason: 'the audit log is empty' }),
    );
    if (!found.ok) {
      throw new AgentSafeError('INPUT_INVALID', `no rollback for decision ${auditId}: ${found.reason}`, {
        issues: [{ path: 'auditId', message: found.reason }],
      });
    }
    const caller = options?.caller ?? found.capture?.caller ?? undefined;
    const decision = await this.#host.check({
      action: found.plan.action,
      target: found.plan.target,
      params: { ...found.plan.params },
      correlationId: auditId,
      ...(caller !== undefined ? { caller } : {}),
    });
    return { plan: found.plan, decision };
  }

  /** checkRollback, then, on ALLOW, executes the rollback's ticket with the chosen executor. */
  async executeRollback(
    auditId: string,
    options: ExecuteOptions & RollbackCheckOptions = {},
  ): Promise<RollbackExecution> {
    const { caller, ...execute } = options ?? {};
    if (execute.params !== undefined) {
      throw usage(
        'executeRollback takes no params: the rollback runs exactly the plan checkRollback decided',
        'params',
        'leave params out (see generateRollback for the plan)',
      );
    }
    const checked = await this.checkRollback(auditId, caller !== undefined ? { caller } : {});
    if (checked.decision.result !== 'ALLOW') return checked;
    const result = await this.execute(checked.decision, execute);
    return { ...checked, result };
  }
}
