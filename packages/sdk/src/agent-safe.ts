import {
  type ActionLookup,
  AgentSafeError,
  type ApprovalRecord,
  type AuditSink,
  type Caller,
  type CheckRequest,
  type Clock,
  type Decision,
  type DecisionError,
  type NonceStore,
  type TargetLookup,
  isSafeId,
  randomId,
  systemClock,
} from '@agent-safe/core';
import { AuditLog, type BackgroundShipping, loadCheckpointKey } from '@agent-safe/audit';
import type { AuditShippersOptions } from './audit-shippers.js';
import type { Evaluation, PolicyRule, PolicySet, PolicyDecisionPoint } from '@agent-safe/pdp';
import type {
  CreateTokenOptions,
  DelegateOptions,
  DelegationResult,
  DelegationVerificationResult,
  IdentityVerificationResult,
  JSONWebKeySet,
} from '@agent-safe/identity';
import type { ParseCache } from '@agent-safe/registry';
import type { TicketValidator } from '@agent-safe/tickets';
import type { ApprovalService } from '@agent-safe/approvals';
import { ApprovalsFacade } from './approvals-facade.js';
import type { ApprovalsOptions, ResolvedApprovals } from './approvals-options.js';
import { appendDecision, decisionEventBody, unrecordableBody } from './audit-record.js';
import { INVALID_CALLER, plainCaller, resolvePlainCaller } from './caller-resolution.js';
import {
  type CheckOutcome,
  DecisionRecord,
  type GuardedEvaluation,
  type RiskOutcome,
} from './decision-record.js';
import { denyEvaluation, guardFailure, inputDenial, scrubEvaluation } from './evaluations.js';
import { applyGuards, applyGuardsSync } from './guard-stage.js';
import { type CumulativeRiskSettings, Guards, type RateLimitOptions, type StoreOption } from './guards.js';
import {
  loadDecisionCore,
  resolveApprovalSetup,
  resolveAuditSetup,
  resolveGuardSetup,
} from './facade-setup.js';
import { sensitiveValues } from './masking.js';
import { type AgentsFacade, Suspensions, type SuspensionsOptions, agentsFacade } from './suspensions.js';
import { callerProblem, optionalId, refusedInput, requestProblem } from './request-checks.js';
import type { Security } from './security.js';
import type {
  Enforcement,
  ExecuteOptions,
  RollbackCheckOptions,
  RunnerFacadeOptions,
} from './execution-facade.js';
import type { Runner } from '@agent-safe/runner';
import type { ExecutionResult } from '@agent-safe/core';
import type { StateCaptureRecord, StateCoverageReport } from './state-capture.js';
import type { RollbackCheck, RollbackExecution, RollbackPlanResult } from './rollback.js';
import type { ApprovalStageInput, ApprovalStageOutcome } from './approval-stage.js';
import { type SecurityOptions, securityConfigured } from './security-options.js';
import {
  type AuditCheckpointsOptions,
  type AuditRotateOptions,
  type ProjectConfig,
  loadProjectConfig,
} from './project-config.js';
import { type OperationalStatistics, operationalStatistics } from './operational-statistics.js';
import type { ShadowMode, ShadowStats } from './shadow-mode.js';
import { type ShadowOptions, resolveShadowSetup } from './shadow-options.js';

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
  /**
   * Signed checkpoints of the audit log (see docs/audit.md): `{ key: 'env:NAME' | 'file:PATH', keyId,
   * every, intervalSeconds }`. Off by default.
   */
  readonly auditCheckpoints?: AuditCheckpointsOptions;
  /** Rotation of the audit log file: `{ maxBytes, daily }` (docs/audit.md#rotation). Off by default. */
  readonly auditRotate?: AuditRotateOptions;
  /**
   * Ship the audit log off the box in the background (see docs/audit.md, "Shipping"): `{ filesystemPath,
   * webhookUrl, webhookSecret, s3Bucket, s3Prefix, s3Region, s3Endpoint, … }`; never slows a check.
   */
  readonly auditShippers?: AuditShippersOptions;
  /** IANA time zone for policy time windows. Default: UTC. */
  readonly timeZone?: string;
  /**
   * DENY requests whose target's type is not one of the action's `target_types`. Default false, as in
   * the original tool; `agent-safe init` turns it on for new projects.
   */
  readonly enforceTargetTypes?: boolean;
  /**
   * Believe the roles, groups and delegation chain of a `Caller` object passed to `check()`. Default
   * false: anything that can build a request could claim any role, so an unauthenticated caller object
   * contributes its `agentId` only, and roles come from verified identity tokens. Turn it on only when
   * this process itself authenticated the caller; its audit events then say `caller_claims: "host"`
   * and record the roles and groups that were used.
   */
  readonly trustCallerObjects?: boolean;
  /**
   * DENY requests whose action declares no `target_binding` or whose target has no `identifiers`.
   * Declared bindings are enforced either way. Default false, as files written before target binding
   * have neither; `agent-safe init` turns it on for new projects.
   */
  readonly enforceTargetBinding?: boolean;
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
  /**
   * Human approvals for REQUIRE_APPROVAL (the seeds' approval workflow): `{ approverRoles, ttlSeconds,
   * thresholds, defaultApprovals, requireComment, dedupe, store, webhook, slack }`. Needs identity
   * (`security.signingKey`): approvers are identity tokens, and an approved request yields a ticket.
   */
  readonly approvals?: ApprovalsOptions;
  /**
   * Where guard state lives: 'memory' (default), 'file:PATH' (a directory shared by the processes of one
   * machine; relative to `cwd`) or a Redis URL shared by all replicas.
   */
  readonly store?: StoreOption;
  /**
   * The kill switch (docs/server.md, "Kill switch"): `{ refreshIntervalMs, maxStaleMs, store }`. The list
   * lives in the `store` (memory: this process; file or Redis: every process sharing it).
   */
  readonly suspensions?: SuspensionsOptions;
  /**
   * Shadow mode: `{ policies }`, candidate policies evaluated beside the enforced ones on every check;
   * differences become `shadow_difference` audit events and `shadowStats()` counts, never answers.
   */
  readonly shadow?: ShadowOptions;
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
  readonly #checkpoints: AuditCheckpointsOptions | undefined;
  readonly #rotate: AuditRotateOptions | undefined;
  readonly #cwd: string;
  /** Background shipping of the audit log, when `auditShippers` is set; started with the log. */
  readonly #shipping: BackgroundShipping | undefined;
  readonly #trustCallerObjects: boolean;
  #audit: Promise<AuditSink> | undefined;
  readonly #security: Promise<Security> | undefined;
  /** The resolved security layer, once keys are imported: spares the hot path an await. */
  #securityReady: Security | undefined;
  readonly #guardOptions:
    | { rateLimit?: RateLimitOptions; cumulativeRisk?: CumulativeRiskSettings; store?: StoreOption }
    | undefined;
  #guards: Promise<Guards> | undefined;
  #guardsReady: Guards | undefined;
  /** Checks answered DENY because the guard store could not be opened (operationalStatistics). */
  #guardLoadFailures = 0;
  /** The configured `store`, also used for ticket nonces. */
  readonly #store: StoreOption | undefined;
  /** Approval settings, when approvals are configured. */
  readonly #approvalsConfig: ResolvedApprovals | undefined;
  #approvalService: Promise<ApprovalService> | undefined;
  /** Requests this instance sent that created approval requests (for waitForApproval), newest last. */
  readonly #approvalRequests = new Map<string, CheckRequest>();
  #approvalsFacade: ApprovalsFacade | undefined;
  /** A Redis store opened for ticket nonces alone (no guards configured), closed by close(). */
  #nonceStore: Promise<NonceStore & { close(): Promise<void> }> | undefined;
  /** Execute, state capture and rollback (execution-facade.ts), loaded on first use. */
  #enforcement: Promise<Enforcement> | undefined;
  /** The kill switch: suspended agents, checked on every request (suspensions.ts). */
  readonly #suspensions: Suspensions;
  /** Candidate policies evaluated beside the enforced ones (shadow-mode.ts); undefined when none. */
  readonly #shadow: ShadowMode | undefined;

  /** Loads configuration synchronously, so that a bad file fails here with an error naming it. */
  constructor(options: AgentSafeOptions = {}) {
    const cwd = options.cwd ?? process.cwd();
    this.projectConfig =
      options.config === false
        ? {}
        : loadProjectConfig({ cwd, file: options.config, parseCache: options.parseCache });
    const config = this.projectConfig;
    ({
      registry: this.registry,
      inventory: this.inventory,
      pdp: this.pdp,
    } = loadDecisionCore(options, config, cwd));
    this.#shadow = resolveShadowSetup(options, config, cwd, this);
    const audit = resolveAuditSetup(options, config, cwd);
    this.#auditTarget = audit.target;
    this.#durability = audit.durability;
    this.#checkpoints = audit.checkpoints;
    this.#rotate = audit.rotate;
    this.#shipping = audit.shipping;
    this.#cwd = cwd;
    this.#clock = options.clock ?? systemClock;
    this.#trustCallerObjects = options.trustCallerObjects === true;
    const guards = resolveGuardSetup(options, config, cwd);
    this.#store = guards.store;
    this.#guardOptions = guards.options;
    if (guards.ready) {
      this.#guardsReady = guards.ready;
      this.#guards = Promise.resolve(guards.ready);
    }
    const security: SecurityOptions = { ...config.security, ...options.security };
    this.#approvalsConfig = resolveApprovalSetup(options, config, security, cwd);
    const suspensionOptions = options.suspensions ?? config.suspensions ?? {};
    Suspensions.check(suspensionOptions, options.suspensions ? 'options' : (config.file ?? 'configuration'));
    this.#suspensions = new Suspensions(
      typeof guards.store === 'string' ? guards.store : undefined,
      suspensionOptions,
      {
        clock: this.#clock,
        audit: this.#auditTarget === false ? undefined : async (body) => (await this.#sink()).append(body),
        approvals: this.#approvalsConfig ? () => this.#loadApprovals() : undefined,
      },
    );
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

  /** Shadow mode's counters (evaluations, differences by result, errors); undefined without shadow. */
  shadowStats(): ShadowStats | undefined {
    return this.#shadow?.stats();
  }

  /** The audit backlog, guard-store failures and shipper lag, for metrics (operational-statistics.ts). */
  async operationalStatistics(): Promise<OperationalStatistics> {
    return operationalStatistics({
      audit: this.#audit,
      shipping: this.#shipping,
      guardStoreErrors: this.#guardLoadFailures + (this.#guardsReady?.storeErrors ?? 0),
    });
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
   * Approval requests: `get`, `list`, `approve`, `deny`, `resolveApproval` and `waitForApproval`.
   * Throws USAGE when approvals are not configured.
   */
  get approvals(): ApprovalsFacade {
    if (!this.#approvalsConfig) {
      throw new AgentSafeError(
        'USAGE',
        'approvals are not configured: pass approvals: { approverRoles: [...] } (or an approvals: block in agent-safe.yaml)',
      );
    }
    this.#approvalsFacade ??= new ApprovalsFacade({
      service: () => this.#loadApprovals(),
      security: () => this.#requireSecurity(),
      check: (request) => this.check(request),
      requestFor: (id) => this.#approvalRequests.get(id),
      closedDecision: (record) => closedApprovalDecision(record),
    });
    return this.#approvalsFacade;
  }

  /** The approval service, created once (its store opened on first use; a failure is retried). */
  #loadApprovals(): Promise<ApprovalService> {
    if (!this.#approvalService) {
      const config = this.#approvalsConfig!;
      this.#approvalService = import('./approvals-runtime.js').then(({ createApprovalService }) =>
        createApprovalService(config, {
          clock: this.#clock,
          audit: this.#auditTarget === false ? undefined : async (body) => (await this.#sink()).append(body),
        }),
      );
      this.#approvalService.catch(() => {
        this.#approvalService = undefined;
      });
    }
    return this.#approvalService;
  }

  /** The kill switch: `suspend`, `resume`, `list`, `isSuspended` (docs/server.md, "Kill switch"). */
  get agents(): AgentsFacade {
    return agentsFacade(this.#suspensions);
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
    // The kill switch refuses the tickets of suspended agents and their delegates (loaded first).
    await this.#suspensions.start();
    const suspensions = this.#suspensions;
    return security.createValidator({
      ...options,
      clock: this.#clock,
      ...(auditSink ? { auditSink } : {}),
      suspended: (ticket) => suspensions.ticketRefusal(ticket),
    });
  }

  /**
   * Whether ticket nonces go to a store shared beyond this facade (a file or Redis `store`, or a given
   * store object). False for the default `'memory'`: a validator then remembers nonces only as long as
   * it lives, so a long-lived caller (the server across reloads) should pass its own `nonceStore`.
   */
  get sharesNonces(): boolean {
    const store = this.#store;
    if (store === undefined || store === 'memory') return false;
    return typeof store !== 'object' || typeof store.consume === 'function';
  }

  /**
   * Rate limit and breaker before the policy's answer counts, cumulative risk after it (see
   * guard-stage.ts). A guard store that fails (Redis down) makes the answer DENY, naming the store.
   */
  async #applyGuards(evaluation: Evaluation, caller: Caller, malformed: boolean): Promise<GuardedEvaluation> {
    let guards: Guards | undefined = this.#guardsReady;
    try {
      guards ??= await this.#loadGuards();
    } catch (error) {
      this.#guardLoadFailures++;
      return { evaluation: guardFailure(evaluation, 'the guard store', error) };
    }
    return applyGuards(guards, evaluation, caller, malformed);
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
    // 1. The request's shape. The caller is checked on its own, so that a request with some other bad
    // field is still attributed to whoever presented it.
    const isObject = request !== null && typeof request === 'object' && !Array.isArray(request);
    const problem = requestProblem(request);
    const callerIssue = isObject ? callerProblem(request.caller) : undefined;
    // 2. Who is asking.
    let caller: Caller;
    let refusal: DecisionError | undefined;
    let security: Security | undefined;
    if (!isObject) caller = plainCaller('anonymous');
    else if (callerIssue) caller = INVALID_CALLER;
    else if (this.#security) {
      try {
        security = this.#securityReady ?? (await this.#security);
        if (typeof request.caller === 'string' && security.revealsSecret(request.caller)) {
          // Key material never reaches the log: not as the caller, not in a reason.
          throw new SecretAsCaller();
        }
        const cached =
          typeof request.caller === 'string' ? security.identity.verifyCached(request.caller) : undefined;
        if (cached) caller = cached.caller;
        else {
          const resolution = await security.resolveCaller(request.caller, (value) =>
            resolvePlainCaller(value as CheckRequest['caller'], this.#trustCallerObjects),
          );
          caller = resolution.caller;
          if (!resolution.ok) refusal = resolution.error;
        }
      } catch (error) {
        if (error instanceof SecretAsCaller) {
          caller = plainCaller('(redacted)');
          refusal = {
            code: 'INPUT_INVALID',
            path: 'caller',
            message:
              'the caller is the signing secret itself (read from the wrong variable or file?); pass an agent id or an identity token',
          };
        } else {
          const message = `identity keys could not be loaded, so no caller can be verified: ${error instanceof Error ? error.message : String(error)}`;
          caller = plainCaller('(unverified)');
          refusal = { code: 'KEY_INVALID', message };
        }
      }
    } else caller = resolvePlainCaller(request.caller, this.#trustCallerObjects);
    // 3. The policy's answer (or the refusal of a malformed request or caller).
    const decided = this.#decide(request, now, caller, problem ?? callerIssue ?? refusal);
    const { target, ticketId, correlationId } = decided;
    let evaluation = decided.evaluation;
    // Shadow mode: the candidate policies' answer to the same request, compared and counted, never used.
    const shadowed =
      this.#shadow && !decided.malformed
        ? this.#shadow.compare(evaluation, request.action, target, caller, request.params, ticketId, now)
        : undefined;
    // 4. Guards: rate limit and breaker, then cumulative risk.
    let riskOutcome: RiskOutcome | undefined;
    if (this.#guardOptions) {
      const guarded = this.#guardsReady?.synchronous
        ? applyGuardsSync(this.#guardsReady, evaluation, caller, decided.malformed)
        : await this.#applyGuards(evaluation, caller, decided.malformed);
      evaluation = guarded.evaluation;
      riskOutcome = guarded.risk;
    }
    // 4b. The kill switch: a suspended caller or delegator is DENY (an in-memory lookup, no I/O).
    evaluation = this.#suspensions.loaded
      ? this.#suspensions.apply(evaluation, caller)
      : await this.#suspensions.applyAsync(evaluation, caller);
    const actionName = isObject && typeof request.action === 'string' ? request.action : '';
    // Sensitive values never reach a message. Only messages about the params can quote them, and every
    // such message (validation, binding, a stage that failed) comes with an error.
    if (isObject && evaluation.errors.length > 0) {
      const secrets = sensitiveValues(this.registry.get(actionName), request.params);
      if (secrets) evaluation = scrubEvaluation(evaluation, secrets);
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
      refusedInput: refusedInput(problem),
    };
    // Without an audit log this is a dry run: no event, so no audit id and no ticket that would name one.
    if (this.#auditTarget === false) return new DecisionRecord(outcome, '');
    const eventId = randomId('evt');
    let approvalRecorded: Promise<void> | undefined;
    // 5. A REQUIRE_APPROVAL becomes (or joins) an approval request; an approved one collects its ticket.
    if (evaluation.result === 'REQUIRE_APPROVAL' && this.#approvalsConfig && security && !decided.malformed) {
      const staged = await this.#approvalStage(security, {
        evaluation,
        caller,
        action: actionName,
        actionDefinition: this.registry.get(actionName),
        target,
        ticketId,
        correlationId,
        eventId,
      });
      evaluation = staged.evaluation;
      outcome.evaluation = evaluation;
      outcome.approvalId = staged.approvalId;
      if (staged.ticket) outcome.ticket = staged.ticket;
      if (staged.approvalId) this.#rememberApprovalRequest(staged.approvalId, request);
      approvalRecorded = staged.recorded;
    }
    // 6. The execution ticket of an ALLOW.
    if (evaluation.result === 'ALLOW' && security?.tickets && !outcome.ticket) {
      try {
        outcome.ticket = await security.issueTicket({
          action: request.action,
          target,
          caller: caller.agentId,
          delegationChain: caller.delegationChain,
          params: evaluation.params,
          auditId: eventId,
          policyRevision: evaluation.policyRevision,
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        outcome.evaluation = denyEvaluation(
          evaluation,
          `Denied because the execution ticket could not be issued: ${message}`,
          { code: 'INTERNAL', message },
        );
      }
    }
    // 7. The audit event, on disk before the answer.
    try {
      const sink = await this.#sink();
      const body = decisionEventBody(eventId, now, outcome, this.registry.get(actionName));
      const appended = await appendDecision(sink, body);
      // The new approval request's own event went to the log just before: usually the same fsync.
      if (approvalRecorded) await approvalRecorded;
      if (appended === 'recorded') {
        if (shadowed)
          this.#shadow?.record(sink, shadowed, eventId, now, {
            action: actionName,
            target,
            caller,
            correlationId,
          });
        return new DecisionRecord(outcome, eventId);
      }
      // The event could not be stored as it is: record a DENY without the offending values instead.
      const reason = `Denied because the decision could not be recorded in the audit log: ${appended}`;
      await sink.append(unrecordableBody(body, reason));
      const denied = denyEvaluation(outcome.evaluation, reason, {
        code: 'AUDIT_WRITE_FAILED',
        message: appended,
      });
      return new DecisionRecord({ ...outcome, evaluation: denied, ticket: undefined }, eventId);
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
    const isObject = request !== null && typeof request === 'object' && !Array.isArray(request);
    const problem = requestProblem(request) ?? (isObject ? callerProblem(request.caller) : undefined);
    // Policy tests state the caller's roles, groups and chain: a preview trusts the Caller it is given.
    const caller = !isObject
      ? plainCaller('anonymous')
      : problem?.path?.startsWith('caller')
        ? INVALID_CALLER
        : resolvePlainCaller(request.caller, true);
    const { evaluation, target, ticketId, correlationId } = this.#decide(request, now, caller, problem);
    return new DecisionRecord({ evaluation, request, caller, target, ticketId, correlationId }, '');
  }

  /** The approval stage (approval-stage.ts, loaded with the approvals); a store that cannot open is DENY. */
  async #approvalStage(security: Security, input: ApprovalStageInput): Promise<ApprovalStageOutcome> {
    try {
      // Resolved once: a dynamic import per check goes through the module loader each time.
      approvalStageModule ??= import('./approval-stage.js');
      const [{ applyApprovalStage }, service] = await Promise.all([
        approvalStageModule,
        this.#loadApprovals(),
      ]);
      return await applyApprovalStage(service, security, input);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return {
        evaluation: denyEvaluation(
          input.evaluation,
          `Denied because the approval store could not be opened: ${message}`,
          {
            code: 'INTERNAL',
            message,
          },
        ),
        approvalId: null,
      };
    }
  }

  /** waitForApproval needs the original request of the approvals this instance created (bounded). */
  #rememberApprovalRequest(id: string, request: CheckRequest): void {
    if (this.#approvalRequests.has(id)) return;
    if (this.#approvalRequests.size >= 1000) {
      this.#approvalRequests.delete(this.#approvalRequests.keys().next().value as string);
    }
    this.#approvalRequests.set(id, request);
  }

  /** The enforcement half (execution-facade.ts); loaded on first use, so a check never pays for it. */
  #enforcer(): Promise<Enforcement> {
    this.#enforcement ??= import('./execution-facade.js').then(
      ({ Enforcement }) =>
        new Enforcement({
          registry: this.registry,
          clock: this.#clock,
          auditLogPath: typeof this.#auditTarget === 'string' ? this.#auditTarget : undefined,
          aws: this.projectConfig.aws,
          auditSink:
            this.#auditTarget === false
              ? undefined
              : { append: async (body) => (await this.#sink()).append(body), close: async () => undefined },
          check: (request) => this.check(request),
          createTicketValidator: (options) => this.createTicketValidator(options),
        }),
    );
    return this.#enforcement;
  }

  /**
   * Executes the ticket of an ALLOW decision (or a bare ticket token with `params`) through the runner;
   * executor `'dry-run'` (default), `'kubectl'`, `'kubernetes'` or `'aws'`. See docs/enforcement.md#sdk.
   */
  async execute(decisionOrTicket: Decision | string, options?: ExecuteOptions): Promise<ExecutionResult> {
    return (await this.#enforcer()).execute(decisionOrTicket, options);
  }
  /** A runner on this instance's registry, ticket validator and audit log. */
  async runner(options?: RunnerFacadeOptions): Promise<Runner> {
    return (await this.#enforcer()).runner(options);
  }
  /** Records the before-state of an ALLOW decision's object (`state_capture` with `after_state: null`). */
  async recordBeforeState(auditId: string, state: Record<string, unknown>): Promise<{ eventId: string }> {
    return (await this.#enforcer()).recordBeforeState(auditId, state);
  }
  /** Records the after-state: a complete capture with the diff. */
  async recordAfterState(auditId: string, state: Record<string, unknown>): Promise<StateCaptureRecord> {
    return (await this.#enforcer()).recordAfterState(auditId, state);
  }
  /** Records before- and after-state at once. */
  async recordState(
    auditId: string,
    before: Record<string, unknown>,
    after: Record<string, unknown>,
  ): Promise<StateCaptureRecord> {
    return (await this.#enforcer()).recordState(auditId, before, after);
  }
  /** The last state capture of a decision in the audit log. */
  async getStateCapture(auditId: string): Promise<StateCaptureRecord | undefined> {
    return (await this.#enforcer()).getStateCapture(auditId);
  }
  /** ALLOW decisions vs those with a state capture, per action. */
  async stateCoverage(): Promise<StateCoverageReport> {
    return (await this.#enforcer()).stateCoverage();
  }
  /**
   * The rollback plan of a decision; `{ ok: false, reason }` when there is none. Pass the
   * ExecutionResult `execute` returned to restore sensitive state fields the log holds only masked.
   */
  async generateRollback(auditIdOrResult: string | ExecutionResult): Promise<RollbackPlanResult> {
    return (await this.#enforcer()).generateRollback(auditIdOrResult);
  }
  /** The rollback plan, decided by check() with the original audit id as correlation id. */
  async checkRollback(auditId: string, options?: RollbackCheckOptions): Promise<RollbackCheck> {
    return (await this.#enforcer()).checkRollback(auditId, options);
  }
  /** checkRollback, then execute the rollback's ticket when it is ALLOW. */
  async executeRollback(
    auditId: string,
    options?: ExecuteOptions & RollbackCheckOptions,
  ): Promise<RollbackExecution> {
    return (await this.#enforcer()).executeRollback(auditId, options);
  }

  /** Flushes and closes the audit log, and closes the guard and nonce stores this instance opened. */
  async close(): Promise<void> {
    await this.#suspensions.close();
    if (this.#approvalService) await (await this.#approvalService.catch(() => undefined))?.close();
    if (this.#audit) await (await this.#audit).close();
    await this.#shipping?.stop(1000);
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
      this.#nonceStore = Guards.openStore(store);
      // A failed connection is retried by the next validator.
      this.#nonceStore.catch(() => {
        this.#nonceStore = undefined;
      });
    }
    return this.#nonceStore;
  }

  /** The policy's answer for a request whose caller is resolved, or the refusal of a malformed one. */
  #decide(request: CheckRequest, now: number, caller: Caller, problem: DecisionError | undefined) {
    const wellFormed = problem === undefined;
    // Fields are recorded only when they passed the door: a refused value is described, not stored.
    const target =
      wellFormed ||
      (problem.path !== 'target' && typeof request?.target === 'string' && isSafeId(request.target))
        ? typeof request?.target === 'string'
          ? request.target
          : ''
        : '';
    const ticketId = optionalId(request, 'ticketId', problem);
    const correlationId = optionalId(request, 'correlationId', problem);
    const evaluation: Evaluation = wellFormed
      ? this.pdp.evaluate({ action: request.action, target, caller, params: request.params, ticketId, now })
      : inputDenial(this.pdp.revision, problem);
    return { evaluation, target, ticketId, correlationId, malformed: !wellFormed };
  }

  #sink(): Promise<AuditSink> {
    if (!this.#audit) {
      const target = this.#auditTarget as string | AuditSink;
      this.#audit = typeof target === 'string' ? this.#openAuditLog(target) : Promise.resolve(target);
      // A failed open is retried on the next check rather than cached forever.
      this.#audit.catch(() => {
        this.#audit = undefined;
      });
      if (this.#shipping)
        void this.#audit.then(
          () => this.#shipping?.start(),
          () => undefined,
        );
    }
    return this.#audit;
  }

  /** Opens the JSONL log, loading the checkpoint key first when checkpoints are on. */
  async #openAuditLog(target: string): Promise<AuditSink> {
    const checkpoints = this.#checkpoints;
    const rotate = this.#rotate === undefined ? {} : { rotate: this.#rotate };
    if (checkpoints === undefined)
      return AuditLog.open(target, { durability: this.#durability, clock: this.#clock, ...rotate });
    const key = await loadCheckpointKey(checkpoints.key, {
      cwd: this.#cwd,
      ...(checkpoints.keyId === undefined ? {} : { keyId: checkpoints.keyId }),
    });
    return AuditLog.open(target, {
      durability: this.#durability,
      clock: this.#clock,
      ...rotate,
      checkpoints: {
        key,
        ...(checkpoints.every === undefined ? {} : { every: checkpoints.every }),
        ...(checkpoints.intervalSeconds === undefined
          ? {}
          : { intervalSeconds: checkpoints.intervalSeconds }),
      },
    });
  }
}

/** Thrown inside check() when the caller is the signing secret, so the secret goes no further. */
class SecretAsCaller extends Error {}

let approvalStageModule: Promise<typeof import('./approval-stage.js')> | undefined;

/** The answer for a request whose approval was denied or expired: DENY, without a new request. */
function closedApprovalDecision(record: ApprovalRecord): Decision {
  const denial = record.denials[0];
  const reason =
    record.status === 'denied'
      ? `Denied by ${denial?.approver ?? 'an approver'} (approval ${record.id})${denial?.comment ? `: ${denial.comment}` : ''}`
      : `Approval ${record.id} expired at ${new Date(record.expiresAt).toISOString()} without a decision`;
  const evaluation: Evaluation = {
    result: 'DENY',
    reason,
    matchedRule: record.matchedRule,
    riskClass: null,
    effectiveRisk: record.effectiveRisk,
    params: record.params,
    errors: [{ code: record.status === 'denied' ? 'APPROVAL_DENIED' : 'APPROVAL_EXPIRED', message: reason }],
    policyRevision: record.policyRevision,
    explanation: { matchedRules: [], consideredRules: [], defaultDeny: false, summary: [reason] },
  };
  return new DecisionRecord(
    {
      evaluation,
      request: { action: record.action, target: record.target, caller: record.caller },
      caller: {
        agentId: record.caller,
        roles: [],
        groups: [],
        authenticated: record.callerAuthenticated,
        delegationChain: [],
      },
      target: record.target,
      ticketId: record.ticketId,
      correlationId: record.correlationId,
      approvalId: record.id,
    },
    '',
  );
}
