import {
  type ActionDefinition,
  AgentSafeError,
  type ActionLookup,
  type AuditEventBody,
  type AuditSink,
  type Clock,
  type ExecutionContext,
  type ExecutionRequest,
  type ExecutionResult,
  type ExecutionStatus,
  type ExecutionStep,
  type ExecutionTicket,
  type Executor,
  type TicketExpectations,
  type TicketValidationResult,
  randomId,
  systemClock,
} from '@agent-safe/core';
import { MASKED_VALUE } from './generate-rollback.js';
import { maskCapturedState } from './mask-state.js';
import { stateDiff } from './state-diff.js';

/** What the runner needs from a ticket validator (`TicketValidator` of `@agent-safe/tickets`). */
export interface TicketValidatorLike {
  validate(token: unknown, expectations: TicketExpectations): Promise<TicketValidationResult>;
}

/** Credentials resolved for one run; `revoke` is always called, also when the run failed. */
export interface ResolvedCredentials {
  /** Handed to the executor as `context.credentials`; never logged. */
  readonly value: unknown;
  /** A non-secret handle id, safe to log. */
  readonly id?: string;
  revoke(): Promise<void>;
}

/**
 * Resolves credentials for an approved request (the interim port; `@agent-safe/credentials`' providers
 * plug in here). Return `undefined` when the action needs none.
 */
export type CredentialResolver = (request: ExecutionRequest) => Promise<ResolvedCredentials | undefined>;

/** Options of {@link Runner}. */
export interface RunnerOptions {
  /** The action registry the tickets' actions are looked up in. */
  readonly actions: ActionLookup;
  readonly validator: TicketValidatorLike;
  /** Where `execution_started`, `execution_step`, `execution` and `state_capture` events go. */
  readonly auditSink: AuditSink;
  readonly credentials?: CredentialResolver;
  readonly clock?: Clock;
  /** Default timeout of a run (credentials to after-state); default 300 000 ms. */
  readonly timeoutMs?: number;
  /** Timeout of the after-state read, which runs even after a cancellation; default 10 000 ms. */
  readonly afterStateTimeoutMs?: number;
}

/** Options of one {@link Runner.execute}. */
export interface RunOptions {
  /** The params to execute: they must be exactly the ticket's (same canonical digest). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly executor: Executor;
  /** Cancels the run: it stops at the next step (the executor gets the signal). */
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Override failed prechecks marked `force_allowed: true` in the action definition (audited). */
  readonly force?: boolean;
  /** Expected action and target; default the ticket's own (its signature is still checked). */
  readonly action?: string;
  readonly target?: string;
}

/** Longest run timeout (setTimeout's limit, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Longest payload segment of a ticket decoded to find its action and target. */
const MAX_PAYLOAD_LENGTH = 16_384;

/**
 * The `act` and `tgt` claims of an execution ticket, read WITHOUT verification: they say which action
 * definition to validate the params with (and what to audit before the ticket is verified); the
 * ticket validator then checks the signed ticket against them. Empty when the token is not a JWT with
 * those claims, or its payload is longer than 16 KiB.
 */
export function unverifiedTicketClaims(token: unknown): { action?: string; target?: string } {
  if (typeof token !== 'string') return {};
  const start = token.indexOf('.') + 1;
  if (start === 0) return {};
  const end = token.indexOf('.', start);
  if ((end === -1 ? token.length : end) - start > MAX_PAYLOAD_LENGTH) return {};
  const payload = token.slice(start, end === -1 ? undefined : end);
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (claims === null || typeof claims !== 'object') return {};
    const { act, tgt } = claims as Record<string, unknown>;
    return {
      ...(typeof act === 'string' ? { action: act } : {}),
      ...(typeof tgt === 'string' ? { target: tgt } : {}),
    };
  } catch {
    return {};
  }
}

function message(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).slice(0, 2000);
}

class StepFailure extends Error {
  constructor(
    readonly status: ExecutionStatus,
    readonly code: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** Resolves with the promise, or rejects as soon as `signal` aborts (a hung executor cannot hang the run). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function maskParams(
  definition: ActionDefinition,
  params: Readonly<Record<string, unknown>>,
  maskedPaths: string[],
): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...params };
  for (const parameter of definition.parameters) {
    if (parameter.sensitive && Object.hasOwn(masked, parameter.name)) {
      masked[parameter.name] = MASKED_VALUE;
      maskedPaths.push(`params.${parameter.name}`);
    }
  }
  return masked;
}

/**
 * Runs approved requests: validate the ticket (single use; the params must match its digest) → resolve
 * credentials → prechecks → before-state → execute (timeout, cancellation) → after-state → audit →
 * revoke credentials (always). Each step is audited, so a crash leaves a record of how far a run got.
 * `execute` never throws for expected failures: they come back as an {@link ExecutionResult}.
 */
export class Runner {
  readonly #actions: ActionLookup;
  readonly #validator: TicketValidatorLike;
  readonly #audit: AuditSink;
  readonly #credentials: CredentialResolver | undefined;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #afterStateTimeoutMs: number;

  constructor(options: RunnerOptions) {
    const problems: string[] = [];
    if (typeof options?.actions?.get !== 'function') problems.push('actions (an ActionRegistry)');
    if (typeof options?.validator?.validate !== 'function') problems.push('validator (a TicketValidator)');
    if (typeof options?.auditSink?.append !== 'function')
      problems.push('auditSink (an AuditLog or another AuditSink)');
    if (options?.credentials !== undefined && typeof options.credentials !== 'function')
      problems.push('credentials (a function)');
    if (problems.length > 0) {
      throw new AgentSafeError('USAGE', `Runner needs ${problems.join(', ')}`, {
        issues: problems.map((problem) => ({ path: problem.split(' ')[0]!, message: `pass ${problem}` })),
      });
    }
    this.#actions = options.actions;
    this.#validator = options.validator;
    this.#audit = options.auditSink;
    this.#credentials = options.credentials;
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 300_000;
    this.#afterStateTimeoutMs = options.afterStateTimeoutMs ?? 10_000;
  }

  /**
   * Runs the ticket's action. The returned result holds the REAL before/after state and diff; the
   * audit log's `state_capture` has the state fields the action marks `sensitive` masked (`***`). The
   * caller ran the action and is entitled to those values: to roll back a change whose before-state is
   * sensitive, keep the result and pass `captureFromResult(result, params)` to `generateRollback`.
   */
  async execute(ticketToken: string, options: RunOptions): Promise<ExecutionResult> {
    const started = this.#clock.now();
    const claims = unverifiedTicketClaims(ticketToken);
    const actionName = options?.action ?? claims.action ?? '';
    const target = options?.target ?? claims.target ?? '';
    const executorName = typeof options?.executor?.name === 'string' ? options.executor.name : 'unknown';
    const steps: ExecutionStep[] = [];
    const auditIds: { decision?: string; started?: string; execution?: string; stateCapture?: string } = {};
    let ticket: ExecutionTicket | undefined;
    let definition: ActionDefinition | undefined;
    let params: Readonly<Record<string, unknown>> = options?.params ?? {};
    let beforeState: Record<string, unknown> | undefined;
    let afterState: Record<string, unknown> | undefined;
    let output: unknown;
    let forced = false;
    let status: ExecutionStatus = 'succeeded';
    let error: { code: string; message: string } | undefined;
    let executed = false;
    let request: ExecutionRequest | undefined;

    const step = (name: string, stepStatus: ExecutionStep['status'], since: number, detail?: string) => {
      const entry: ExecutionStep = {
        name,
        status: stepStatus,
        durationMs: this.#clock.now() - since,
        ...(detail !== undefined ? { detail } : {}),
      };
      steps.push(entry);
      return entry;
    };
    const base = (eventType: string): AuditEventBody => ({
      event_id: randomId('evt'),
      timestamp: new Date(this.#clock.now()).toISOString(),
      event_type: eventType,
      action: actionName,
      target,
      ...(ticket ? { caller: ticket.caller, ticket_id: ticket.nonce, correlation_id: ticket.auditId } : {}),
      // Before validation, action and target are the ticket's unverified claims: say so.
      ...(ticket ? { decision_audit_id: ticket.auditId } : { ticket_verified: false }),
      executor: executorName,
    });
    let auditFailure: string | undefined;
    // Before execute, an event that cannot be written stops the run (fail closed); after it, the run's
    // outcome must still be reported, so the failure is kept and returned.
    const auditStep = async (entry: ExecutionStep) => {
      try {
        await this.#audit.append({ ...base('execution_step'), step: entry });
      } catch (cause) {
        if (!executed)
          throw new StepFailure('refused', 'AUDIT', `the audit log refused an event: ${message(cause)}`);
        auditFailure ??= message(cause);
      }
    };

    // Timeout and caller cancellation share one signal; `reason` tells which fired.
    const controller = new AbortController();
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const timeoutValid = Number.isSafeInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS;
    const timer = setTimeout(
      () => controller.abort(new StepFailure('timed_out', 'TIMEOUT', `the run exceeded ${timeoutMs} ms`)),
      timeoutValid ? timeoutMs : MAX_TIMEOUT_MS,
    );
    const onCancel = () =>
      controller.abort(new StepFailure('cancelled', 'CANCELLED', 'the run was cancelled by its caller'));
    if (options?.signal?.aborted) onCancel();
    else options?.signal?.addEventListener('abort', onCancel, { once: true });
    const signal = controller.signal;
    const abortFailure = (cause: unknown): StepFailure =>
      signal.aborted && signal.reason instanceof StepFailure
        ? signal.reason
        : new StepFailure('failed', 'EXECUTOR_ERROR', message(cause));

    let credentials: ResolvedCredentials | undefined;
    try {
      // 1. Ticket: definition and params first (pure), then the validator, which consumes the nonce.
      let since = this.#clock.now();
      if (
        typeof options?.executor?.execute !== 'function' ||
        typeof options.executor.precheck !== 'function'
      ) {
        throw new StepFailure(
          'refused',
          'USAGE',
          'options.executor must implement the Executor port (plan, execute, readState, precheck)',
        );
      }
      if (!timeoutValid) {
        throw new StepFailure(
          'refused',
          'USAGE',
          `timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}, got ${String(timeoutMs)}`,
        );
      }
      if (options.params === null || typeof options.params !== 'object' || Array.isArray(options.params)) {
        throw new StepFailure(
          'refused',
          'USAGE',
          'options.params must be the params object the ticket was issued for ({} for none)',
        );
      }
      if (actionName === '') {
        throw new StepFailure(
          'refused',
          'TICKET_MALFORMED',
          'the ticket is not an execution ticket (a JWT with an "act" claim); pass the token of an ALLOW decision',
        );
      }
      definition = this.#actions.get(actionName);
      if (definition === undefined) {
        throw new StepFailure(
          'refused',
          'UNKNOWN_ACTION',
          `the ticket's action "${actionName}" is not registered`,
        );
      }
      const checked = this.#actions.validateParams(actionName, options.params);
      if (!checked.ok) {
        throw new StepFailure(
          'refused',
          'PARAMS_INVALID',
          `the params are not valid for ${actionName}: ${checked.errors.map((e) => e.message).join('; ')}`,
        );
      }
      params = checked.params;
      let validation: TicketValidationResult;
      try {
        validation = await this.#validator.validate(ticketToken, { action: actionName, target, params });
      } catch (cause) {
        throw new StepFailure(
          'refused',
          'TICKET_INVALID',
          `the ticket could not be validated: ${message(cause)}`,
        );
      }
      if (!validation.valid) {
        throw new StepFailure('refused', `TICKET_${validation.code}`, `ticket refused: ${validation.reason}`);
      }
      ticket = validation.ticket;
      auditIds.decision = ticket.auditId;
      step('ticket', 'ok', since);
      let startedEvent: { event_id: string };
      try {
        startedEvent = await this.#audit.append({
          ...base('execution_started'),
          force: options.force === true,
          timeout_ms: timeoutMs,
        });
      } catch (cause) {
        throw new StepFailure(
          'refused',
          'AUDIT',
          `the audit log refused execution_started: ${message(cause)}`,
        );
      }
      auditIds.started = startedEvent.event_id;
      request = { action: definition, target, params, ticket };
      const context = (): ExecutionContext => ({
        signal,
        ...(credentials !== undefined ? { credentials: credentials.value } : {}),
      });

      // Force is checked against the definition before anything else runs.
      if (options.force === true && !definition.prechecks.some((check) => check.forceAllowed === true)) {
        throw new StepFailure(
          'refused',
          'FORCE_NOT_ALLOWED',
          `action ${actionName} allows no forcing: none of its prechecks is marked force_allowed`,
        );
      }

      // 2. Credentials.
      since = this.#clock.now();
      const pending = this.#credentials?.(request);
      try {
        credentials = pending ? await untilAborted(pending, signal) : undefined;
      } catch (cause) {
        // A credential that arrives after a timeout or cancellation is revoked as soon as it arrives.
        pending?.then((late) => late?.revoke()).catch(() => undefined);
        const failure = abortFailure(cause);
        throw failure.code === 'EXECUTOR_ERROR'
          ? new StepFailure('refused', 'CREDENTIALS', `credentials could not be resolved: ${message(cause)}`)
          : failure;
      }
      await auditStep(
        step(
          'credentials',
          credentials ? 'ok' : 'skipped',
          since,
          credentials?.id ?? 'no credential resolver',
        ),
      );

      // 3. Prechecks, in the definition's order; a failure stops the run unless forced where allowed.
      for (const check of definition.prechecks) {
        since = this.#clock.now();
        let outcome: { status: string; reason: string };
        try {
          outcome = await untilAborted(options.executor.precheck(check.name, request, context()), signal);
        } catch (cause) {
          if (signal.aborted) throw abortFailure(cause);
          outcome = { status: 'fail', reason: `the precheck threw: ${message(cause)}` };
        }
        const name = `precheck:${check.name}`;
        if (outcome.status === 'pass') await auditStep(step(name, 'ok', since, outcome.reason));
        else if (outcome.status === 'warn') await auditStep(step(name, 'warned', since, outcome.reason));
        else if (options.force === true && check.forceAllowed === true) {
          forced = true;
          await auditStep(step(name, 'forced', since, outcome.reason));
        } else {
          await auditStep(step(name, 'failed', since, outcome.reason));
          throw new StepFailure(
            'refused',
            options.force === true ? 'FORCE_NOT_ALLOWED' : 'PRECHECK_FAILED',
            `precheck ${check.name} failed: ${outcome.reason}${options.force === true ? ' (this precheck may not be forced)' : ''}`,
          );
        }
      }

      // 4. Before-state: without it there is nothing to diff or roll back to, so the run stops.
      const fields = definition.stateFields.map((field) => field.name);
      since = this.#clock.now();
      try {
        beforeState = await untilAborted(options.executor.readState(request, fields, context()), signal);
      } catch (cause) {
        const failure = abortFailure(cause);
        throw failure.code === 'EXECUTOR_ERROR'
          ? new StepFailure(
              'refused',
              'STATE_CAPTURE',
              `the before-state could not be read: ${message(cause)}`,
            )
          : failure;
      }
      await auditStep(step('before_state', 'ok', since));

      // 5. Execute.
      since = this.#clock.now();
      executed = true;
      try {
        const outcome = await untilAborted(options.executor.execute(request, context()), signal);
        output = outcome.output;
        if (!outcome.ok)
          throw new StepFailure(
            'failed',
            'EXECUTION_FAILED',
            outcome.error ?? 'the executor reported a failure',
          );
        await auditStep(step('execute', 'ok', since));
      } catch (cause) {
        const failure = cause instanceof StepFailure ? cause : abortFailure(cause);
        await auditStep(step('execute', 'failed', since, failure.message));
        throw failure;
      }
    } catch (cause) {
      const failure =
        cause instanceof StepFailure ? cause : new StepFailure('failed', 'RUNNER_ERROR', message(cause));
      status = failure.status;
      error = { code: failure.code, message: failure.message };
    } finally {
      clearTimeout(timer);
      options?.signal?.removeEventListener('abort', onCancel);
    }

    // 6. After-state, whenever execute was attempted (also after a failure or cancellation: the object may
    // have changed), with its own short timeout.
    if (executed && request !== undefined && definition !== undefined) {
      const since = this.#clock.now();
      try {
        afterState = await untilAborted(
          options.executor.readState(
            request,
            definition.stateFields.map((field) => field.name),
            {
              signal: AbortSignal.timeout(this.#afterStateTimeoutMs),
              ...(credentials !== undefined ? { credentials: credentials.value } : {}),
            },
          ),
          AbortSignal.timeout(this.#afterStateTimeoutMs),
        );
        step('after_state', 'ok', since);
      } catch (cause) {
        step('after_state', 'failed', since, message(cause));
      }
    }

    // 7. Revoke, always.
    if (credentials !== undefined) {
      const since = this.#clock.now();
      try {
        await credentials.revoke();
        step('revoke', 'ok', since, credentials.id);
      } catch (cause) {
        step('revoke', 'failed', since, message(cause));
        if (error === undefined)
          error = { code: 'REVOKE_FAILED', message: `credentials were not revoked: ${message(cause)}` };
      }
    }

    // 8. Audit the outcome and the state capture.
    const diff =
      beforeState !== undefined && afterState !== undefined ? stateDiff(beforeState, afterState) : undefined;
    const durationMs = this.#clock.now() - started;
    try {
      const execution = await this.#audit.append({
        ...base('execution'),
        status,
        duration_ms: durationMs,
        forced,
        steps: steps.map((entry) => ({ ...entry })),
        ...(error !== undefined
          ? { errors: [{ code: error.code, message: error.message }], reason: error.message }
          : {}),
      });
      auditIds.execution = execution.event_id;
      if (beforeState !== undefined && definition !== undefined) {
        // Sensitive params and state fields are masked in the log; the ExecutionResult below keeps the
        // real values (the caller ran the action and may restore them: captureFromResult).
        const maskedPaths: string[] = [];
        const maskedParams = maskParams(definition, params, maskedPaths);
        const state = maskCapturedState(definition, beforeState, afterState ?? null, diff ?? null);
        maskedPaths.push(...state.maskedPaths);
        const capture = await this.#audit.append({
          ...base('state_capture'),
          params: maskedParams,
          ...(maskedPaths.length > 0 ? { masked_paths: maskedPaths } : {}),
          before_state: state.beforeState,
          after_state: state.afterState,
          diff: state.diff,
          execution_id: execution.event_id,
        });
        auditIds.stateCapture = capture.event_id;
      }
    } catch (cause) {
      auditFailure ??= message(cause);
    }
    if (auditFailure !== undefined && error === undefined) {
      error = { code: 'AUDIT', message: `the run was not fully audited: ${auditFailure}` };
    }

    return {
      status,
      action: actionName,
      target,
      executor: executorName,
      steps,
      durationMs,
      ...(error !== undefined ? { error } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(beforeState !== undefined ? { beforeState } : {}),
      ...(afterState !== undefined ? { afterState } : {}),
      ...(diff !== undefined ? { diff } : {}),
      auditIds,
      forced,
    };
  }
}
