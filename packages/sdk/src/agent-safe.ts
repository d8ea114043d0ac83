import { resolve } from 'node:path';
import {
  type ActionLookup,
  AgentSafeError,
  type AuditEventBody,
  type AuditSink,
  type Caller,
  type CheckRequest,
  type Clock,
  type Decision,
  type DecisionError,
  type DecisionResult,
  type ExecutionTicket,
  type Explanation,
  type NonceStore,
  type RiskClass,
  MAX_ID_LENGTH,
  type TargetLookup,
  anonymousCaller,
  randomId,
  systemClock,
} from '@agent-safe/core';
import { AuditLog } from '@agent-safe/audit';
import {
  type Evaluation,
  type PolicyRule,
  type PolicySet,
  PolicyDecisionPoint,
  loadPoliciesSync,
} from '@agent-safe/pdp';
import type {
  CreateTokenOptions,
  DelegateOptions,
  DelegationResult,
  DelegationVerificationResult,
  IdentityVerificationResult,
  JSONWebKeySet,
} from '@agent-safe/identity';
import { ActionRegistry, Inventory, type ParseCache } from '@agent-safe/registry';
import type { TicketValidator } from '@agent-safe/tickets';
import { loadRedisStore } from './load-redis-store.js';
import {
  type CumulativeRiskSettings,
  type GuardedOutcome,
  type GuardedRequest,
  Guards,
  type RateLimitOptions,
  type StoreOption,
} from './guards.js';
import { maskParams } from './masking.js';
import type { CallerResolution, Security } from './security.js';
import { type SecurityOptions, securityConfigured } from './security-options.js';
import { DEFAULT_PATHS, type ProjectConfig, loadProjectConfig } from './project-config.js';

/** Options of {@link AgentSafe}. Paths are relative to `cwd`; already-loaded objects are used as they are. */
export interface AgentSafeOptions {
  /** Directory of action YAML files, or a loaded registry. Default: `./actions`. */
  readonly registry?: string | ActionLookup;
  /** Directory or file of policy YAML, or loaded rules. Default: `./policies`. */
  readonly policies?: string | PolicySet | readonly PolicyRule[];
  /** Inventory YAML file, or a loaded inventory. Default: `./inventory.yaml`. */
  readonly inventory?: string | TargetLookup;
  /** JSONL audit log path, a sink, or `false` to turn auditing off. Default: `./audit.jsonl`. */
  readonly auditLog?: string | AuditSink | false;
  /** `fsync` (default): a check resolves only once its event is on disk. `write`: after the write call. */
  readonly auditDurability?: 'fsync' | 'write';
  /** IANA time zone for policy time windows. Default: UTC. */
  readonly timeZone?: string;
  /**
   * DENY requests whose target's type is not one of the action's `target_types`. Default false, as in
   * the original tool; `agent-safe init` turns it on for new projects.
   */
  readonly enforceTargetTypes?: boolean;
  readonly clock?: Clock;
  /** Working directory for relative paths and `agent-safe.yaml`. Default: `process.cwd()`. */
  readonly cwd?: string;
  /** Path of the project config file, or `false` to ignore `agent-safe.yaml`. */
  readonly config?: string | false;
  /**
   * Memo of YAML parse results for files loaded from paths (the CLI passes a FileParseCache).
   * Files are still read and hashed; unchanged action definitions are reused as validated.
   */
  readonly parseCache?: ParseCache;
  /**
   * Identity tokens and execution tickets (see SecurityOptions). The seeds' `signing_key` is
   * `signingKey` here, or `signing_key: env:NAME` in agent-safe.yaml.
   */
  readonly security?: SecurityOptions;
  /**
   * Per-caller sliding-window rate limit and circuit breaker (the seeds' `rate_limit`):
   * `{ maxRequests, windowSeconds, circuitBreakerThreshold, circuitBreakerCooldownSeconds }`.
   */
  readonly rateLimit?: RateLimitOptions;
  /**
   * Per-caller cumulative risk (the seeds' `cumulative_risk`): `{ windowSeconds, escalationThreshold,
   * denyThreshold, riskScores, chargeRoot }`.
   */
  readonly cumulativeRisk?: CumulativeRiskSettings;
  /** Where guard state lives: 'memory' (default) or a Redis URL shared by all replicas. */
  readonly store?: StoreOption;
}

/** `safe.identity`: the identity manager's operations, usable before keys finish importing. */
export interface IdentityFacade {
  createToken(options: CreateTokenOptions): Promise<string>;
  verify(token: string): Promise<IdentityVerificationResult>;
  verifyDelegation(token: string): Promise<DelegationVerificationResult>;
  /** Public keys (EdDSA/ES256 only), for verifiers that must not be able to mint. */
  jwks(): Promise<JSONWebKeySet>;
}

/** One step of a plan for {@link AgentSafe.checkPlan}. */
export type PlanStep = CheckRequest;

/** A request evaluated without writing the audit log (policy tests, dry runs). */
export interface EvaluateOptions {
  /** Evaluation time in ms since the epoch; default: the clock's now. */
  readonly now?: number;
}

/**
 * The Agent-Safe facade: decides whether an agent may perform an action on a target, and records every
 * request and decision in the audit log.
 *
 * @example
 * const safe = new AgentSafe({ registry: './actions', policies: './policies', inventory: './inventory.yaml' });
 * const decision = await safe.check({ action: 'restart-deployment', target: 'dev/test-app',
 *   caller: 'deploy-agent', params: { namespace: 'dev', deployment: 'app' } });
 */
export class AgentSafe {
  /** The action registry in use. */
  readonly registry: ActionLookup;
  /** The target inventory in use. */
  readonly inventory: TargetLookup;
  /** The compiled policy decision point. */
  readonly pdp: PolicyDecisionPoint;
  /** Settings read from `agent-safe.yaml`, if any. */
  readonly projectConfig: ProjectConfig;
  readonly #clock: Clock;
  readonly #auditTarget: string | AuditSink | false;
  readonly #durability: 'fsync' | 'write';
  #audit: Promise<AuditSink> | undefined;
  readonly #security: Promise<Security> | undefined;
  /** The resolved security layer, once keys are imported: spares the hot path an await. */
  #securityReady: Security | undefined;
  readonly #guardOptions:
    | { rateLimit?: RateLimitOptions; cumulativeRisk?: CumulativeRiskSettings; store?: StoreOption }
    | undefined;
  #guards: Promise<Guards> | undefined;
  #guardsReady: Guards | undefined;
  /** The configured `store`, also used for ticket nonces. */
  readonly #store: StoreOption | undefined;
  /** A Redis store opened for ticket nonces alone (no guards configured), closed by close(). */
  #nonceStore: Promise<NonceStore & { close(): Promise<void> }> | undefined;

  /** Loads configuration synchronously, so that a bad file fails here with an error naming it. */
  constructor(options: AgentSafeOptions = {}) {
    const cwd = options.cwd ?? process.cwd();
    this.projectConfig =
      options.config === false
        ? {}
        : loadProjectConfig({ cwd, file: options.config, parseCache: options.parseCache });
    const config = this.projectConfig;
    const path = (value: string) => resolve(cwd, value);
    const parseCache = options.parseCache;
    const registry = options.registry ?? config.registry ?? DEFAULT_PATHS.registry;
    this.registry =
      typeof registry === 'string' ? ActionRegistry.loadSync(path(registry), { parseCache }) : registry;
    const inventory = options.inventory ?? config.inventory ?? DEFAULT_PATHS.inventory;
    this.inventory =
      typeof inventory === 'string' ? Inventory.loadSync(path(inventory), { parseCache }) : inventory;
    const policies = options.policies ?? config.policies ?? DEFAULT_PATHS.policies;
    this.pdp = new PolicyDecisionPoint({
      actions: this.registry,
      targets: this.inventory,
      policies: typeof policies === 'string' ? loadPoliciesSync(path(policies), { parseCache }) : policies,
      timeZone: options.timeZone ?? config.timeZone,
      enforceTargetTypes: options.enforceTargetTypes ?? config.enforceTargetTypes ?? false,
    });
    const audit = options.auditLog ?? config.auditLog ?? DEFAULT_PATHS.auditLog;
    this.#auditTarget = typeof audit === 'string' ? path(audit) : audit;
    this.#durability = options.auditDurability ?? config.auditDurability ?? 'fsync';
    this.#clock = options.clock ?? systemClock;
    const rateLimit = options.rateLimit ?? config.rateLimit;
    const cumulativeRisk = options.cumulativeRisk ?? config.cumulativeRisk;
    const store = options.store ?? config.store;
    // Checked here for every use (guards and ticket nonces), so a bad value fails at construction.
    if (store !== undefined) Guards.remote(store);
    this.#store = store;
    if (rateLimit || cumulativeRisk) {
      this.#guardOptions = {
        ...(rateLimit ? { rateLimit } : {}),
        ...(cumulativeRisk ? { cumulativeRisk } : {}),
        ...(store ? { store } : {}),
      };
      // Local guards are built now, so bad settings fail at construction like every other
      // configuration error; a Redis store connects on the first check.
      if (!Guards.remote(store)) {
        try {
          this.#guardsReady = Guards.createLocal({
            ...this.#guardOptions,
            clock: options.clock ?? systemClock,
          });
        } catch (error) {
          const where =
            options.rateLimit || options.cumulativeRisk
              ? 'options'
              : (this.projectConfig.file ?? 'configuration');
          throw new AgentSafeError(
            'CONFIG_INVALID',
            `${where}: rate_limit / cumulative_risk settings are invalid: ${(error as Error).message}`,
            { cause: error },
          );
        }
        this.#guards = Promise.resolve(this.#guardsReady);
      }
    }
    const security: SecurityOptions = { ...config.security, ...options.security };
    if (securityConfigured(security)) {
      // Loaded on demand: without keys, nothing of JOSE is ever imported.
      this.#security = import('./security.js').then((module) =>
        module.Security.create(security, this.#clock, cwd),
      );
      // Reported by check() (fail closed) and by ready(); not an unhandled rejection meanwhile.
      this.#security.then(
        (ready) => {
          this.#securityReady = ready;
        },
        () => undefined,
      );
    }
  }

  /**
   * Resolves once keys are imported; rejects with KEY_INVALID naming the key source when they cannot
   * be. Optional: `check()` waits by itself and denies (fail closed) if the keys are unusable.
   */
  async ready(): Promise<void> {
    await this.#security;
  }

  /** Identity tokens: create, verify, delegate, JWKS. Throws USAGE when no keys are configured. */
  get identity(): IdentityFacade {
    const security = this.#requireSecurity();
    return {
      createToken: async (options) => (await security).identity.createToken(options),
      verify: async (token) => (await security).identity.verify(token),
      verifyDelegation: async (token) => (await security).identity.verifyDelegation(token),
      jwks: async () => (await security).identity.jwks(),
    };
  }

  /**
   * Delegates from a parent token to a child agent with narrowed roles and groups (never wider, never
   * outliving the parent, depth-capped). The child's token carries the verified chain.
   */
  async delegate(options: DelegateOptions): Promise<DelegationResult> {
    return (await this.#requireSecurity()).identity.delegate(options);
  }

  /**
   * A validator for this instance's execution tickets, with the same key and issuer, that records every
   * validation outcome in this instance's audit log (when auditing is on). Nonces (single use) go to
   * `options.nonceStore` when given, else to the configured `store`: with a Redis URL every replica
   * sharing that Redis accepts a ticket once; with `'memory'` (the default) only this process knows.
   * Rejects (INTERNAL, naming the store) when the Redis store cannot be reached.
   */
  async createTicketValidator(
    options: { nonceStore?: NonceStore; clockSkewSeconds?: number } = {},
  ): Promise<TicketValidator> {
    const security = await this.#requireSecurity();
    if (options.nonceStore === undefined) {
      const shared = await this.#sharedNonceStore();
      if (shared !== undefined) options = { ...options, nonceStore: shared };
    }
    const auditSink: AuditSink | undefined =
      this.#auditTarget === false
        ? undefined
        : { append: async (body) => (await this.#sink()).append(body), close: async () => undefined };
    return security.createValidator({ ...options, clock: this.#clock, ...(auditSink ? { auditSink } : {}) });
  }

  /** {@link AgentSafe.#applyGuards} without awaits, for in-memory guards (the common hot path). */
  #applyGuardsSync(
    guards: Guards,
    evaluation: Evaluation,
    caller: Caller,
    malformed: boolean,
  ): GuardedEvaluation {
    try {
      if (malformed) return { evaluation };
      const guarded = guards.admitSync(guardedRequest(evaluation, caller));
      const outcome = this.#guardOutcome(evaluation, guarded);
      const admission = guarded.admission;
      if (admission?.ok) guards.afterSync(admission.token, outcome.evaluation.result === 'DENY');
      return outcome;
    } catch (error) {
      return { evaluation: guardFailure(evaluation, guards.storeName, error) };
    }
  }

  /**
   * Rate limit and breaker before the policy's answer counts, cumulative risk after it. A guard store
   * that fails (Redis down) makes the answer DENY, naming the store.
   */
  async #applyGuards(evaluation: Evaluation, caller: Caller, malformed: boolean): Promise<GuardedEvaluation> {
    let guards: Guards | undefined = this.#guardsReady;
    try {
      guards ??= await this.#loadGuards();
      if (malformed) return { evaluation };
      const guarded = await guards.admit(guardedRequest(evaluation, caller));
      const outcome = this.#guardOutcome(evaluation, guarded);
      const admission = guarded.admission;
      // After a policy DENY on a fused store the breaker already counted it and this adds nothing.
      const pending = admission?.ok
        ? guards.after(admission.token, outcome.evaluation.result === 'DENY')
        : undefined;
      if (pending) await pending;
      return outcome;
    } catch (error) {
      return { evaluation: guardFailure(evaluation, guards?.storeName ?? 'the guard store', error) };
    }
  }

  /**
   * Turns the guards' answers into the decision: a refused admission is DENY with its reason, and
   * cumulative risk may escalate. The caller then reports an admitted request's final decision to the
   * breaker.
   */
  #guardOutcome(evaluation: Evaluation, guarded: GuardedOutcome): GuardedEvaluation {
    const { admission, risk: applied } = guarded;
    if (admission && !admission.ok) {
      return {
        evaluation: denyEvaluation(evaluation, admission.reason, {
          code: admission.code,
          message: admission.reason,
          path: 'caller',
        }),
      };
    }
    if (applied === undefined) return { evaluation };
    const risk: RiskOutcome = {
      score: applied.cumulativeRiskScore,
      riskClass: applied.cumulativeRiskClass,
      escalatedFrom: applied.escalatedFrom,
    };
    if (applied.result !== evaluation.result) {
      evaluation = escalateEvaluation(
        evaluation,
        applied.result,
        applied.reason ?? 'cumulative risk escalated the decision',
      );
    }
    return { evaluation, risk };
  }

  /** The guards, created once; a failed creation (Redis down at start) is retried by the next check. */
  #loadGuards(): Promise<Guards> {
    if (!this.#guards) {
      this.#guards = Guards.create({ ...this.#guardOptions, clock: this.#clock });
      this.#guards.then(
        (guards) => {
          this.#guardsReady = guards;
        },
        () => {
          this.#guards = undefined;
        },
      );
    }
    return this.#guards;
  }

  #requireSecurity(): Promise<Security> {
    if (!this.#security) {
      throw new AgentSafeError(
        'USAGE',
        'identity is not configured: pass security.signingKey (or signing_key: env:NAME in agent-safe.yaml)',
      );
    }
    return this.#security;
  }

  /**
   * Decides one request and records it in the audit log. Never rejects because of bad input: a malformed
   * request, an unknown action or target, or invalid params give a DENY with the reason. Resolves only
   * once the audit event is stored; if it cannot be stored the answer is DENY (fail closed).
   */
  async check(request: CheckRequest): Promise<Decision> {
    const now = this.#clock.now();
    const malformed = requestProblem(request);
    let security: Security | undefined;
    let resolution: CallerResolution | undefined;
    if (this.#security) {
      try {
        security = this.#securityReady ?? (await this.#security);
        const cached =
          typeof request?.caller === 'string' ? security.identity.verifyCached(request.caller) : undefined;
        if (cached) resolution = { ok: true, caller: cached.caller };
        else if (!malformed)
          resolution = await security.resolveCaller(request.caller, (value) =>
            resolveCaller(value as CheckRequest['caller']),
          );
      } catch (error) {
        const message = `identity keys could not be loaded, so no caller can be verified: ${error instanceof Error ? error.message : String(error)}`;
        resolution = {
          ok: false,
          caller: plainCaller('(unverified)'),
          error: { code: 'KEY_INVALID', message },
        };
      }
    }
    const decided = this.#decide(request, now, resolution, malformed);
    const { caller, target, ticketId, correlationId } = decided;
    let evaluation = decided.evaluation;
    let riskOutcome: RiskOutcome | undefined;
    if (this.#guardOptions) {
      const guarded = this.#guardsReady?.synchronous
        ? this.#applyGuardsSync(this.#guardsReady, evaluation, caller, decided.malformed)
        : await this.#applyGuards(evaluation, caller, decided.malformed);
      evaluation = guarded.evaluation;
      riskOutcome = guarded.risk;
    }
    // Everything the decision and its audit event say, completed as the check proceeds.
    const outcome: CheckOutcome = {
      evaluation,
      request,
      caller,
      target,
      ticketId,
      correlationId,
      risk: riskOutcome,
    };
    if (this.#auditTarget === false && !security?.tickets) return new DecisionRecord(outcome, '');
    const eventId = randomId('evt');
    if (evaluation.result === 'ALLOW' && security?.tickets) {
      try {
        outcome.ticket = await security.issueTicket({
          action: request.action,
          target,
          caller: caller.agentId,
          params: evaluation.params,
          auditId: eventId,
          policyRevision: evaluation.policyRevision,
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        outcome.evaluation = denyEvaluation(
          evaluation,
          `Denied because the execution ticket could not be issued: ${message}`,
          {
            code: 'INTERNAL',
            message,
          },
        );
      }
    }
    if (this.#auditTarget === false) return new DecisionRecord(outcome, eventId);
    try {
      const sink = await this.#sink();
      await appendRobustly(sink, this.#auditBody(eventId, now, outcome));
      return new DecisionRecord(outcome, eventId);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const failed: Evaluation = denyEvaluation(
        outcome.evaluation,
        `Denied because the decision could not be recorded in the audit log: ${message}`,
        { code: 'AUDIT_WRITE_FAILED', message },
      );
      // The minted ticket is dropped with the ALLOW: nobody ever receives it.
      return new DecisionRecord({ ...outcome, evaluation: failed, ticket: undefined }, '');
    }
  }

  /**
   * Decides every step of a plan; one Decision per step, in order. Steps share a correlation id (the
   * first step's, or a new one) unless they carry their own, so the audit log ties them together.
   */
  async checkPlan(steps: readonly PlanStep[]): Promise<Decision[]> {
    if (!Array.isArray(steps)) {
      throw new AgentSafeError(
        'INPUT_INVALID',
        'checkPlan expects an array of steps ({ action, target, params, … })',
      );
    }
    const planCorrelation = randomId('plan');
    return Promise.all(
      steps.map((step) =>
        this.check(
          step && typeof step === 'object'
            ? { ...step, correlationId: step.correlationId ?? planCorrelation }
            : (step as CheckRequest),
        ),
      ),
    );
  }

  /**
   * Evaluates without writing the audit log: for policy tests and previews. `caller` may be a full
   * Caller (roles, groups, delegation chain) so role- and delegation-based rules can be exercised.
   */
  evaluate(request: CheckRequest, options: EvaluateOptions = {}): Decision {
    const now = options.now ?? this.#clock.now();
    const { evaluation, caller, target, ticketId, correlationId } = this.#decide(request, now);
    return new DecisionRecord({ evaluation, request, caller, target, ticketId, correlationId }, '');
  }

  /** Flushes and closes the audit log, and closes the guard and nonce stores this instance opened. */
  async close(): Promise<void> {
    if (this.#audit) await (await this.#audit).close();
    if (this.#guards) await (await this.#guards.catch(() => undefined))?.close();
    if (this.#nonceStore) await (await this.#nonceStore.catch(() => undefined))?.close();
  }

  /**
   * The nonce store of the configured `store`: the guards' own store when guards are configured (one
   * Redis connection pool for both), otherwise a Redis store opened on first use, or the given object.
   * Undefined for 'memory': the validator then keeps nonces in this process.
   */
  async #sharedNonceStore(): Promise<NonceStore | undefined> {
    const store = this.#store;
    if (store === undefined || store === 'memory') return undefined;
    if (typeof store === 'object') return typeof store.consume === 'function' ? store : undefined;
    if (this.#guardOptions) return (await this.#loadGuards()).store;
    if (!this.#nonceStore) {
      this.#nonceStore = loadRedisStore().then(({ RedisStore }) =>
        RedisStore.connect({ url: store }),
      );
      // A failed connection is retried by the next validator.
      this.#nonceStore.catch(() => {
        this.#nonceStore = undefined;
      });
    }
    return this.#nonceStore;
  }

  #decide(
    request: CheckRequest,
    now: number,
    resolution?: CallerResolution,
    malformed: DecisionError | undefined = requestProblem(request),
  ) {
    // A refused identity still leaves a well-formed request: its target and ids are recorded.
    const shape = malformed ?? (resolution && !resolution.ok ? resolution.error : undefined);
    const caller = resolution ? resolution.caller : resolveCaller(malformed ? undefined : request.caller);
    const target = malformed ? '' : typeof request.target === 'string' ? request.target : '';
    const ticketId =
      !malformed && typeof request.ticketId === 'string' && request.ticketId ? request.ticketId : null;
    const correlationId =
      !malformed && typeof request.correlationId === 'string' && request.correlationId
        ? request.correlationId
        : null;
    let evaluation: Evaluation;
    if (shape) {
      evaluation = inputDenial(this.pdp.revision, shape);
    } else {
      evaluation = this.pdp.evaluate({
        action: request.action,
        target: request.target,
        caller,
        params: request.params,
        ticketId,
        now,
      });
    }
    return {
      evaluation,
      caller,
      target,
      ticketId,
      correlationId,
      malformed: malformed !== undefined || shape !== undefined,
    };
  }

  #sink(): Promise<AuditSink> {
    if (!this.#audit) {
      const target = this.#auditTarget as string | AuditSink;
      this.#audit =
        typeof target === 'string'
          ? AuditLog.open(target, { durability: this.#durability, clock: this.#clock })
          : Promise.resolve(target);
      // A failed open is retried on the next check rather than cached forever.
      this.#audit.catch(() => {
        this.#audit = undefined;
      });
    }
    return this.#audit;
  }

  #auditBody(eventId: string, now: number, outcome: CheckOutcome): AuditEventBody {
    const { request, evaluation, caller, target, ticketId, correlationId, ticket, risk } = outcome;
    const action = typeof request?.action === 'string' ? request.action : '';
    const given = evaluation.errors.length === 0 ? evaluation.params : (request?.params ?? {});
    const masked = maskParams(this.registry.get(action), given as Record<string, unknown>);
    return {
      event_id: eventId,
      timestamp: new Date(now).toISOString(),
      event_type: 'decision',
      action,
      target,
      caller: caller.agentId,
      caller_authenticated: caller.authenticated,
      ...(caller.delegationChain.length > 0
        ? { delegation_chain: caller.delegationChain.map((l) => l.agentId) }
        : {}),
      params: masked.params,
      ...(masked.maskedPaths.length > 0 ? { masked_paths: masked.maskedPaths } : {}),
      decision: evaluation.result,
      reason: evaluation.reason,
      matched_rule: evaluation.matchedRule,
      risk_class: evaluation.riskClass,
      effective_risk: evaluation.effectiveRisk,
      correlation_id: correlationId,
      ticket_id: ticketId,
      policy_revision: evaluation.policyRevision,
      ...(risk
        ? {
            cumulative_risk_score: risk.score,
            cumulative_risk_class: risk.riskClass,
            escalated_from: risk.escalatedFrom,
          }
        : {}),
      ...(ticket
        ? { execution_ticket: { nonce: ticket.nonce, expires_at: new Date(ticket.expiresAt).toISOString() } }
        : {}),
      ...(evaluation.errors.length > 0 ? { errors: evaluation.errors } : {}),
      context: request?.context && typeof request.context === 'object' ? request.context : null,
    };
  }
}

/** Appends; if the body cannot be serialised (hostile params), records a sanitised copy instead. */
async function appendRobustly(sink: AuditSink, body: AuditEventBody): Promise<void> {
  try {
    await sink.append(body);
  } catch (error) {
    if (!(error instanceof AgentSafeError) || error.code !== 'INPUT_INVALID') throw error;
    await sink.append({
      ...body,
      params: { _unrecordable: `params could not be serialised: ${error.message}` },
      context: body.context ? { _unrecordable: 'context could not be serialised' } : null,
    });
  }
}

/** Longest caller token accepted (a 10-level delegation chain with EdDSA is about 37 KB). */
const MAX_CALLER_TOKEN_LENGTH = 64 * 1024;

/** Plain-id callers are immutable values: reuse them instead of allocating one per check. */
const plainCallers = new Map<string, Caller>();
const MAX_PLAIN_CALLERS = 10_000;

function plainCaller(agentId: string): Caller {
  let caller = plainCallers.get(agentId);
  if (caller === undefined) {
    if (plainCallers.size >= MAX_PLAIN_CALLERS) plainCallers.clear();
    caller = Object.freeze(anonymousCaller(agentId));
    plainCallers.set(agentId, caller);
  }
  return caller;
}

function resolveCaller(caller: CheckRequest['caller']): Caller {
  if (caller === undefined || caller === null || caller === '') return plainCaller('anonymous');
  if (typeof caller === 'string') return plainCaller(caller);
  // A Caller object comes from in-process code; until identity verification is configured it is never
  // treated as authenticated, whatever it claims.
  return {
    agentId: String(caller.agentId),
    agentName: caller.agentName,
    roles: Array.isArray(caller.roles) ? caller.roles.map(String) : [],
    groups: Array.isArray(caller.groups) ? caller.groups.map(String) : [],
    authenticated: false,
    delegationChain: Array.isArray(caller.delegationChain) ? caller.delegationChain : [],
  };
}

/** Describes what is wrong with the request's shape, or returns undefined when it is well formed. */
/** What the guards need of an evaluated request. */
function guardedRequest(evaluation: Evaluation, caller: Caller): GuardedRequest {
  return {
    callerKey: caller.agentId,
    rootKey: caller.delegationChain[0]?.agentId,
    effectiveRisk: evaluation.effectiveRisk,
    result: evaluation.result,
  };
}

/** An optional id field that is not a short string. */
function idProblem(
  request: Record<string, unknown>,
  key: 'target' | 'ticketId' | 'correlationId',
): DecisionError | undefined {
  const value = request[key];
  if (value === undefined || value === null || (typeof value === 'string' && value.length <= MAX_ID_LENGTH)) {
    return undefined;
  }
  return {
    code: 'INPUT_INVALID',
    path: key,
    message: `${key} must be a string of at most ${MAX_ID_LENGTH} characters`,
  };
}

function requestProblem(request: unknown): DecisionError | undefined {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    return {
      code: 'INPUT_INVALID',
      message: 'the request must be an object { action, target, caller, params }',
    };
  }
  const r = request as Record<string, unknown>;
  const badId = idProblem(r, 'target') ?? idProblem(r, 'ticketId') ?? idProblem(r, 'correlationId');
  if (badId !== undefined) return badId;
  const caller = r.caller;
  if (caller !== undefined && caller !== null) {
    if (typeof caller === 'string') {
      // Identity tokens (three dot-separated parts) carry delegation chains and may be long.
      if (
        caller.length > MAX_ID_LENGTH &&
        caller.length > (caller.split('.', 4).length === 3 ? MAX_CALLER_TOKEN_LENGTH : MAX_ID_LENGTH)
      ) {
        return {
          code: 'INPUT_INVALID',
          path: 'caller',
          message: `caller must be at most ${MAX_ID_LENGTH} characters`,
        };
      }
    } else if (
      typeof caller !== 'object' ||
      typeof (caller as Caller).agentId !== 'string' ||
      !(caller as Caller).agentId
    ) {
      return {
        code: 'INPUT_INVALID',
        path: 'caller',
        message: 'caller must be an agent id string or a Caller with an agentId',
      };
    }
  }
  if (
    r.context !== undefined &&
    r.context !== null &&
    (typeof r.context !== 'object' || Array.isArray(r.context))
  ) {
    return { code: 'INPUT_INVALID', path: 'context', message: 'context must be an object' };
  }
  return undefined;
}

function inputDenial(policyRevision: string, error: DecisionError): Evaluation {
  return {
    result: 'DENY',
    reason: `Invalid request: ${error.path ? `${error.path}: ` : ''}${error.message}`,
    matchedRule: null,
    riskClass: null,
    effectiveRisk: null,
    params: {},
    errors: [error],
    policyRevision,
    explanation: {
      matchedRules: [],
      consideredRules: [],
      defaultDeny: false,
      summary: [`Denied before policy evaluation: ${error.message}`],
    },
  };
}

/** What one check produced: the parts of its Decision and of its audit event. */
interface CheckOutcome {
  evaluation: Evaluation;
  readonly request: CheckRequest;
  readonly caller: Caller;
  readonly target: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  ticket?: ExecutionTicket | undefined;
  readonly risk?: RiskOutcome | undefined;
}

/** Cumulative risk as reported on a decision. */
/** A decision after the guards, with its cumulative risk when that was applied. */
interface GuardedEvaluation {
  evaluation: Evaluation;
  risk?: RiskOutcome;
}

interface RiskOutcome {
  readonly score: number;
  readonly riskClass: RiskClass;
  readonly escalatedFrom: DecisionResult | null;
}

function escalateEvaluation(base: Evaluation, result: DecisionResult, reason: string): Evaluation {
  return {
    result,
    reason,
    matchedRule: base.matchedRule,
    riskClass: base.riskClass,
    effectiveRisk: base.effectiveRisk,
    params: base.params,
    errors: base.errors,
    policyRevision: base.policyRevision,
    get explanation() {
      const explanation = base.explanation;
      return { ...explanation, summary: [...explanation.summary, `Escalated by cumulative risk: ${reason}`] };
    },
  };
}

/** DENY because the guard store failed: rate limits and risk cannot be enforced (fail closed). */
function guardFailure(evaluation: Evaluation, where: string, error: unknown): Evaluation {
  const message = error instanceof Error ? error.message : String(error);
  return denyEvaluation(
    evaluation,
    `Denied because ${where} could not be consulted (rate limits and risk cannot be enforced): ${message}`,
    { code: 'INTERNAL', message },
  );
}

function denyEvaluation(base: Evaluation, reason: string, error: DecisionError): Evaluation {
  return {
    result: 'DENY',
    reason,
    matchedRule: null,
    riskClass: base.riskClass,
    effectiveRisk: base.effectiveRisk,
    params: base.params,
    errors: [...base.errors, error],
    policyRevision: base.policyRevision,
    explanation: {
      matchedRules: [],
      consideredRules: [],
      defaultDeny: false,
      summary: [reason],
    },
  };
}

/** A Decision whose explanation is computed only when read. */
class DecisionRecord implements Decision {
  readonly result;
  readonly reason;
  readonly action: string;
  readonly target: string;
  readonly caller: string;
  readonly callerAuthenticated: boolean;
  readonly matchedRule;
  readonly riskClass;
  readonly effectiveRisk;
  readonly auditId: string;
  readonly ticketId: string | null;
  readonly correlationId: string | null;
  readonly params;
  readonly errors;
  readonly policyRevision: string;
  readonly ticket: ExecutionTicket | null;
  readonly cumulativeRiskScore: number | null;
  readonly cumulativeRiskClass: RiskClass | null;
  readonly escalatedFrom: DecisionResult | null;
  readonly #evaluation: Evaluation;

  constructor(outcome: CheckOutcome, auditId: string) {
    const { evaluation, request, caller, target, ticketId, correlationId, ticket, risk } = outcome;
    this.#evaluation = evaluation;
    this.ticket = ticket ?? null;
    this.cumulativeRiskScore = risk?.score ?? null;
    this.cumulativeRiskClass = risk?.riskClass ?? null;
    this.escalatedFrom = risk?.escalatedFrom ?? null;
    this.result = evaluation.result;
    this.reason = evaluation.reason;
    this.action = typeof request?.action === 'string' ? request.action : '';
    this.target = target;
    this.caller = caller.agentId;
    this.callerAuthenticated = caller.authenticated;
    this.matchedRule = evaluation.matchedRule;
    this.riskClass = evaluation.riskClass;
    this.effectiveRisk = evaluation.effectiveRisk;
    this.auditId = auditId;
    this.ticketId = ticketId;
    this.correlationId = correlationId;
    this.params = evaluation.params;
    this.errors = evaluation.errors;
    this.policyRevision = evaluation.policyRevision;
  }

  get explanation(): Explanation {
    return this.#evaluation.explanation;
  }

  toJSON(): Omit<Decision, never> {
    return {
      result: this.result,
      reason: this.reason,
      action: this.action,
      target: this.target,
      caller: this.caller,
      callerAuthenticated: this.callerAuthenticated,
      matchedRule: this.matchedRule,
      riskClass: this.riskClass,
      effectiveRisk: this.effectiveRisk,
      auditId: this.auditId,
      ticketId: this.ticketId,
      correlationId: this.correlationId,
      params: this.params,
      errors: this.errors,
      policyRevision: this.policyRevision,
      ticket: this.ticket,
      cumulativeRiskScore: this.cumulativeRiskScore,
      cumulativeRiskClass: this.cumulativeRiskClass,
      escalatedFrom: this.escalatedFrom,
      explanation: this.explanation,
    };
  }
}
