import {
  type ActionDefinition,
  type ActionLookup,
  type Caller,
  type DecisionError,
  type DecisionResult,
  type Explanation,
  MAX_ID_LENGTH,
  type RiskClass,
  type RuleTrace,
  type TargetDefinition,
  type TargetLookup,
} from '@agent-safe/core';
import { effectiveRisk } from '@agent-safe/risk';
import { type CompiledRule, type MatchContext, compileRules, matchesAction } from './compiled-rule.js';
import type { Evaluation, EvaluationRequest } from './evaluation.js';
import { globMatch } from './glob.js';
import { LocalTimeReader } from './local-time.js';
import type { PolicyRule, PolicySet } from './policy-rule.js';
import { policyRevision } from './policy-revision.js';

/** Options of {@link PolicyDecisionPoint}. */
export interface PolicyDecisionPointOptions {
  readonly actions: ActionLookup;
  readonly targets: TargetLookup;
  readonly policies: PolicySet | readonly PolicyRule[];
  /** IANA zone in which `time_windows` are read (default UTC). */
  readonly timeZone?: string;
  /**
   * DENY a request whose target's type is not one of the action's `target_types`. Off by default for
   * compatibility with the original tool, which never checked it (its own policy tests rely on that);
   * projects made by `agent-safe init` turn it on.
   */
  readonly enforceTargetTypes?: boolean;
  /**
   * DENY a request whose action declares no `target_binding`, or whose target has no `identifiers`.
   * A binding that is declared is always enforced (a param that names another object than the target
   * is DENY whatever this says); this setting decides what requests that cannot be bound get. Off by
   * default so files written before target binding keep their decisions; `agent-safe init` turns it on.
   */
  readonly enforceTargetBinding?: boolean;
}

const NO_ERRORS: readonly DecisionError[] = Object.freeze([]);
const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_CANDIDATES = new Uint32Array(0);
/** Candidate rule ranks, sorted: those without an environment selector, and those per environment. */
interface Bucket {
  readonly any: Uint32Array;
  readonly byEnvironment: ReadonlyMap<string, Uint32Array>;
}
const EMPTY_BUCKET: Bucket = { any: NO_CANDIDATES, byEnvironment: new Map() };
const END = 0xffffffff;
/** Upper bound of the per-action candidate cache; only registered action names ever enter it. */
const MAX_CACHED_ACTIONS = 1_000_000;
/** Caller lists longer than this are refused: no real identity has that many roles or hops. */
const MAX_CALLER_LIST = 10_000;

/**
 * The policy decision point: compiles rules once, then answers `evaluate` synchronously. Evaluation
 * is a pure function of the request, the lookups and the rules; it never throws — every problem,
 * including an unexpected internal failure, is a DENY carrying the reason and errors.
 */
export class PolicyDecisionPoint {
  /** Policy revision every evaluation is recorded under. */
  readonly revision: string;
  /** Rules in evaluation order (priority descending, then load order). */
  readonly rules: readonly PolicyRule[];
  readonly #actions: ActionLookup;
  readonly #enforceTargetTypes: boolean;
  readonly #enforceTargetBinding: boolean;
  /** Each action's binding as a flat [param, identifier, …] list, so the check walks an array. */
  readonly #bindings = new WeakMap<ActionDefinition, readonly string[]>();
  readonly #targets: TargetLookup;
  readonly #compiled: readonly CompiledRule[];
  readonly #universal: Bucket;
  readonly #exact = new Map<string, number[]>();
  readonly #globbed: readonly CompiledRule[];
  readonly #candidates = new Map<string, Bucket>();
  readonly #clock: LocalTimeReader;
  readonly #context: MatchContext;

  /** Throws CONFIG_INVALID for malformed rules or an unknown time zone. */
  constructor(options: PolicyDecisionPointOptions) {
    const policies = options.policies;
    const rules = Array.isArray(policies)
      ? (policies as readonly PolicyRule[])
      : (policies as PolicySet).rules;
    this.#compiled = compileRules(rules);
    this.revision = Array.isArray(policies) ? policyRevision(rules) : (policies as PolicySet).revision;
    this.rules = this.#compiled.map((compiled) => compiled.rule);
    this.#actions = options.actions;
    this.#enforceTargetTypes = options.enforceTargetTypes === true;
    this.#enforceTargetBinding = options.enforceTargetBinding === true;
    this.#targets = options.targets;
    this.#clock = new LocalTimeReader(options.timeZone);
    const universal: number[] = [];
    const globbed: CompiledRule[] = [];
    for (const compiled of this.#compiled) {
      if (compiled.universal) {
        universal.push(compiled.rank);
        continue;
      }
      for (const name of compiled.exactActions) {
        const ranks = this.#exact.get(name);
        if (ranks === undefined) this.#exact.set(name, [compiled.rank]);
        else if (ranks[ranks.length - 1] !== compiled.rank) ranks.push(compiled.rank);
      }
      if (compiled.globActions.length > 0) globbed.push(compiled);
    }
    this.#universal = this.#bucket(universal);
    this.#globbed = globbed;
    this.#context = newContext(this.#clock);
  }

  /** Decides one request. Never throws. */
  evaluate(request: EvaluationRequest): Evaluation {
    try {
      return this.#evaluate(request);
    } catch (error) {
      const message = `internal error during evaluation (failed closed): ${error instanceof Error ? error.message : String(error)}`;
      return new EvaluationRecord(this, 'DENY', message, null, null, null, NO_PARAMS, [
        { code: 'INTERNAL', message },
      ]).withStage(request, 'an internal error stopped evaluation before a decision was reached');
    }
  }

  #evaluate(request: EvaluationRequest): Evaluation {
    if (typeof request !== 'object' || request === null) {
      return this.#inputInvalid(request, 'request', 'the request must be an object');
    }
    const actionName = request.action;
    if (typeof actionName !== 'string' || actionName.length === 0 || actionName.length > MAX_ID_LENGTH) {
      return this.#inputInvalid(
        request,
        'action',
        `action must be a string of 1–${MAX_ID_LENGTH} characters`,
      );
    }
    const targetId = request.target;
    if (
      targetId !== undefined &&
      targetId !== null &&
      (typeof targetId !== 'string' || targetId.length > MAX_ID_LENGTH)
    ) {
      return this.#inputInvalid(
        request,
        'target',
        `target must be an inventory id of at most ${MAX_ID_LENGTH} characters`,
      );
    }
    const callerProblem = checkCaller(request.caller);
    if (callerProblem !== undefined)
      return this.#inputInvalid(request, callerProblem.path, callerProblem.message);
    const now = request.now;
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      return this.#inputInvalid(
        request,
        'now',
        'now must be a finite number of milliseconds since the epoch',
      );
    }
    const ticketId = request.ticketId;
    if (
      ticketId !== undefined &&
      ticketId !== null &&
      (typeof ticketId !== 'string' || ticketId.length > MAX_ID_LENGTH)
    ) {
      return this.#inputInvalid(
        request,
        'ticketId',
        `ticketId must be a string of at most ${MAX_ID_LENGTH} characters`,
      );
    }

    const action = this.#actions.get(actionName);
    if (action === undefined) {
      const message = `unknown action ${quote(actionName)}: it is not in the action registry (check \`agent-safe list-actions\` for the registered names)`;
      return new EvaluationRecord(this, 'DENY', message, null, null, null, NO_PARAMS, [
        { code: 'ACTION_UNKNOWN', message, path: 'action' },
      ]).withStage(request, 'the action is not registered, so no policy rule was considered');
    }
    const riskClass = action.riskClass;
    if (typeof targetId !== 'string' || targetId.length === 0) {
      const message = `no target given: action ${quote(actionName)} needs the id of a target from the inventory`;
      return new EvaluationRecord(this, 'DENY', message, null, riskClass, null, NO_PARAMS, [
        { code: 'TARGET_UNKNOWN', message, path: 'target' },
      ]).withStage(request, 'no target was given, so no policy rule was considered');
    }
    const target = this.#targets.get(targetId);
    if (target === undefined) {
      const message = `unknown target ${quote(targetId)}: it is not in the target inventory (add it to the inventory file or check the id)`;
      return new EvaluationRecord(this, 'DENY', message, null, riskClass, null, NO_PARAMS, [
        { code: 'TARGET_UNKNOWN', message, path: 'target' },
      ]).withStage(request, 'the target is not in the inventory, so no policy rule was considered');
    }
    if (this.#enforceTargetTypes && !action.targetTypes.includes(target.type)) {
      const message = `action ${quote(actionName)} applies to target types [${action.targetTypes.join(', ')}], but target ${quote(targetId)} is of type ${quote(target.type)}`;
      return new EvaluationRecord(this, 'DENY', message, null, riskClass, null, NO_PARAMS, [
        { code: 'INPUT_INVALID', message, path: 'target' },
      ]).withStage(request, 'the target type does not fit the action, so no policy rule was considered');
    }
    const risk = effectiveRisk(riskClass, target.sensitivity);
    // Missing params are validated as `{}` so required parameters are always enforced.
    const validation = this.#actions.validateParams(
      actionName,
      request.params === undefined ? NO_PARAMS : request.params,
    );
    if (validation?.ok !== true) {
      const errors =
        validation && Array.isArray(validation.errors) && validation.errors.length > 0
          ? validation.errors
          : [{ code: 'PARAMS_INVALID', message: 'the parameters were rejected', path: 'params' }];
      const message = `invalid params for ${quote(actionName)}: ${errors.map(describeError).join('; ')}`;
      return new EvaluationRecord(this, 'DENY', message, null, riskClass, risk, NO_PARAMS, errors).withStage(
        request,
        'the parameters do not satisfy the action definition, so no policy rule was considered',
      );
    }
    const params = validation.params;
    const bindingProblem = this.#checkBinding(action, target, params);
    if (bindingProblem !== undefined) {
      return new EvaluationRecord(this, 'DENY', bindingProblem, null, riskClass, risk, NO_PARAMS, [
        { code: 'TARGET_MISMATCH', message: bindingProblem, path: 'target' },
      ]).withStage(
        request,
        'the params do not name the target the request is about (target binding), so no policy rule was considered',
      );
    }

    const context = this.#context;
    context.action = actionName;
    context.target = target;
    context.caller = request.caller;
    context.effectiveRisk = risk;
    context.hasTicket = hasTicketId(ticketId);
    context.now = now;
    context.day = -1;
    context.hour = -1;
    const winner = this.#firstMatch(this.#candidatesFor(actionName), target.environment, context);
    if (winner === undefined) {
      return new EvaluationRecord(
        this,
        'DENY',
        'no policy rule matched (default deny)',
        null,
        riskClass,
        risk,
        params,
        NO_ERRORS,
      ).withRules(request, action, target, risk);
    }
    const rule = winner.rule;
    return new EvaluationRecord(
      this,
      winner.decision,
      rule.reason.length > 0 ? rule.reason : `matched rule ${quote(rule.name)}`,
      rule.name,
      riskClass,
      risk,
      params,
      NO_ERRORS,
    ).withRules(request, action, target, risk);
  }

  /**
   * The target binding: every param the action binds must equal the target's identifier of that name.
   * Undefined when it holds; otherwise the reason, naming the param, the value given and the target's
   * value (a sensitive param's value is not shown). No allocation when it holds.
   */
  #checkBinding(
    action: ActionDefinition,
    target: TargetDefinition,
    params: Readonly<Record<string, unknown>>,
  ): string | undefined {
    const binding = action.targetBinding;
    const identifiers = target.identifiers;
    if (binding === undefined) {
      if (!this.#enforceTargetBinding) return undefined;
      return `action ${quote(action.name)} declares no target_binding, and this project enforces target binding (enforce_target_binding): add target_binding to the action definition so its params are checked against the target`;
    }
    if (identifiers === undefined && this.#enforceTargetBinding) {
      return `target ${quote(target.id)} has no identifiers, and this project enforces target binding (enforce_target_binding): add identifiers (e.g. namespace, name) to the target in the inventory`;
    }
    let pairs = this.#bindings.get(action);
    if (pairs === undefined) {
      pairs = Object.keys(binding).flatMap((param) => [param, binding[param]!]);
      this.#bindings.set(action, pairs);
    }
    for (let index = 0; index < pairs.length; index += 2) {
      const param = pairs[index]!;
      const identifier = pairs[index + 1]!;
      const expected =
        identifiers !== undefined && Object.hasOwn(identifiers, identifier)
          ? identifiers[identifier]
          : undefined;
      if (expected === undefined) {
        return `target ${quote(target.id)} has no ${quote(identifier)} identifier, which action ${quote(action.name)} binds params.${param} to: add identifiers: { ${identifier}: … } to the target in the inventory`;
      }
      const given = Object.hasOwn(params, param) ? params[param] : undefined;
      if (given !== expected) {
        const shown =
          given === undefined
            ? 'missing'
            : isSensitive(action, param)
              ? 'a sensitive value'
              : `${quote(String(given))}`;
        return `target binding: params.${param} is ${shown} but target ${quote(target.id)} has ${identifier} ${quote(expected)}; the params must name the object the request is decided on`;
      }
    }
    return undefined;
  }

  /**
   * Walks, in rank order, the merge of four sorted lists: the action's own candidates and the universal
   * rules, each split into rules without an environment selector and rules for this environment.
   * Rules for other environments are never visited.
   */
  #firstMatch(specific: Bucket, environment: string, context: MatchContext): CompiledRule | undefined {
    const universal = this.#universal;
    const l0 = specific.any;
    const l1 = specific.byEnvironment.get(environment) ?? NO_CANDIDATES;
    const l2 = universal.any;
    const l3 = universal.byEnvironment.get(environment) ?? NO_CANDIDATES;
    const compiled = this.#compiled;
    let i0 = 0;
    let i1 = 0;
    let i2 = 0;
    let i3 = 0;
    let winner: CompiledRule | undefined;
    for (;;) {
      const r0 = i0 < l0.length ? l0[i0]! : END;
      const r1 = i1 < l1.length ? l1[i1]! : END;
      const r2 = i2 < l2.length ? l2[i2]! : END;
      const r3 = i3 < l3.length ? l3[i3]! : END;
      const rank = Math.min(r0, r1, r2, r3);
      if (rank === END) break;
      if (rank === r0) i0 += 1;
      else if (rank === r1) i1 += 1;
      else if (rank === r2) i2 += 1;
      else i3 += 1;
      const rule = compiled[rank]!;
      if (winner !== undefined) {
        if (rule.priority < winner.priority) break;
        // Same priority: only a more restrictive decision can change the outcome.
        if (rule.strictness <= winner.strictness) continue;
      }
      if (passes(rule, context)) {
        winner = rule;
        if (rule.decision === 'DENY') break;
      }
    }
    return winner;
  }

  /** The non-universal rules whose action patterns cover `action`, cached per registered action. */
  #candidatesFor(action: string): Bucket {
    const cached = this.#candidates.get(action);
    if (cached !== undefined) return cached;
    const ranks = new Set(this.#exact.get(action));
    for (const compiled of this.#globbed) {
      if (ranks.has(compiled.rank)) continue;
      for (const pattern of compiled.globActions) {
        if (globMatch(pattern, action)) {
          ranks.add(compiled.rank);
          break;
        }
      }
    }
    const result = this.#bucket([...ranks].sort((a, b) => a - b));
    if (this.#candidates.size >= MAX_CACHED_ACTIONS) this.#candidates.clear();
    this.#candidates.set(action, result);
    return result;
  }

  /** Splits sorted ranks by environment selector, so evaluation skips other environments' rules. */
  #bucket(ranks: readonly number[]): Bucket {
    if (ranks.length === 0) return EMPTY_BUCKET;
    const any: number[] = [];
    const byEnvironment = new Map<string, number[]>();
    for (const rank of ranks) {
      const environments = this.#compiled[rank]!.rule.match.targets?.environments;
      if (environments === undefined) {
        any.push(rank);
        continue;
      }
      for (const environment of environments) {
        const list = byEnvironment.get(environment);
        if (list === undefined) byEnvironment.set(environment, [rank]);
        else if (list[list.length - 1] !== rank) list.push(rank);
      }
    }
    const split = new Map<string, Uint32Array>();
    for (const [environment, list] of byEnvironment) split.set(environment, Uint32Array.from(list));
    return { any: any.length === 0 ? NO_CANDIDATES : Uint32Array.from(any), byEnvironment: split };
  }

  #inputInvalid(request: unknown, path: string, message: string): Evaluation {
    return new EvaluationRecord(this, 'DENY', `invalid request: ${message}`, null, null, null, NO_PARAMS, [
      { code: 'INPUT_INVALID', message, path },
    ]).withStage(request, 'the request is malformed, so no policy rule was considered');
  }

  /** Full trace of the rule walk for one request (used by the lazy explanation). */
  explainRules(
    request: EvaluationRequest,
    action: ActionDefinition,
    target: TargetDefinition,
    risk: RiskClass,
    record: Evaluation,
  ): Explanation {
    const context = newContext(this.#clock);
    context.action = request.action;
    context.target = target;
    context.caller = request.caller;
    context.effectiveRisk = risk;
    context.hasTicket = hasTicketId(request.ticketId);
    context.now = request.now;
    const consideredRules: RuleTrace[] = [];
    const matchedRules: RuleTrace[] = [];
    let winner: CompiledRule | undefined;
    for (const rule of this.#compiled) {
      if (winner !== undefined && rule.priority < winner.priority) break;
      const trace = traceRule(rule, context);
      consideredRules.push(trace);
      if (trace.matched) {
        matchedRules.push(trace);
        if (winner === undefined || rule.strictness > winner.strictness) winner = rule;
      }
    }
    const summary: string[] = [];
    if (winner === undefined) {
      summary.push(
        `DENY: no policy rule matched (default deny); ${consideredRules.length} rule(s) considered`,
      );
    } else {
      summary.push(
        `${winner.decision} by rule ${quote(winner.rule.name)} (priority ${winner.priority}): ${record.reason}`,
      );
      if (matchedRules.length > 1) {
        summary.push(
          `${matchedRules.length} rules matched at priority ${winner.priority} (${matchedRules.map((trace) => quote(trace.rule)).join(', ')}); the most restrictive decision wins`,
        );
      }
      summary.push(`${consideredRules.length} rule(s) considered before the decision`);
    }
    summary.push(describeBinding(action, target));
    summary.push(
      `effective risk ${risk}: action ${quote(action.name)} is ${action.riskClass}, target ${quote(target.id)} is ${target.sensitivity}`,
    );
    return { matchedRules, consideredRules, defaultDeny: winner === undefined, summary };
  }
}

function passes(rule: CompiledRule, context: MatchContext): boolean {
  const checks = rule.checks;
  for (let index = 0; index < checks.length; index += 1) {
    if (!checks[index]!.test(context)) return false;
  }
  return true;
}

function traceRule(rule: CompiledRule, context: MatchContext): RuleTrace {
  const name = rule.rule.name;
  if (!matchesAction(rule, context.action)) {
    return {
      rule: name,
      priority: rule.priority,
      decision: rule.decision,
      matched: false,
      failedOn: 'actions',
      detail: `action ${quote(context.action)} not in [${rule.actionList}]`,
    };
  }
  const checks = rule.checks;
  for (let index = 0; index < checks.length; index += 1) {
    const check = checks[index]!;
    if (!check.test(context)) {
      return {
        rule: name,
        priority: rule.priority,
        decision: rule.decision,
        matched: false,
        failedOn: check.field,
        detail: check.describe(context),
      };
    }
  }
  return {
    rule: name,
    priority: rule.priority,
    decision: rule.decision,
    matched: true,
    detail: rule.matchedDetail,
  };
}

function newContext(clock: LocalTimeReader): MatchContext {
  return {
    action: '',
    target: undefined as unknown as TargetDefinition,
    caller: undefined as unknown as Caller,
    effectiveRisk: 'critical',
    hasTicket: false,
    now: 0,
    day: -1,
    hour: -1,
    clock,
  };
}

function checkCaller(caller: unknown): { path: string; message: string } | undefined {
  if (typeof caller !== 'object' || caller === null) {
    return { path: 'caller', message: 'caller must be a resolved Caller object' };
  }
  const { agentId, roles, groups, delegationChain } = caller as Caller;
  if (typeof agentId !== 'string' || agentId.length === 0 || agentId.length > MAX_ID_LENGTH) {
    return {
      path: 'caller.agentId',
      message: `caller.agentId must be a string of 1–${MAX_ID_LENGTH} characters`,
    };
  }
  if (!Array.isArray(roles) || roles.length > MAX_CALLER_LIST) {
    return {
      path: 'caller.roles',
      message: `caller.roles must be a list of at most ${MAX_CALLER_LIST} strings`,
    };
  }
  if (!Array.isArray(groups) || groups.length > MAX_CALLER_LIST) {
    return {
      path: 'caller.groups',
      message: `caller.groups must be a list of at most ${MAX_CALLER_LIST} strings`,
    };
  }
  if (!Array.isArray(delegationChain) || delegationChain.length > MAX_CALLER_LIST) {
    return {
      path: 'caller.delegationChain',
      message: `caller.delegationChain must be a list of at most ${MAX_CALLER_LIST} links`,
    };
  }
  return undefined;
}

/** A change ticket id counts only when it has a non-blank character: `require_ticket` is not met by spaces. */
function hasTicketId(ticketId: unknown): boolean {
  if (typeof ticketId !== 'string' || ticketId.length === 0) return false;
  const first = ticketId.charCodeAt(0);
  // Fast path: an ordinary id starts with a visible ASCII character.
  if (first > 0x20 && first < 0x7f) return true;
  return ticketId.trim().length > 0;
}

function isSensitive(action: ActionDefinition, param: string): boolean {
  for (const parameter of action.parameters) if (parameter.name === param) return parameter.sensitive;
  return false;
}

/** One explanation line on the target binding of a request that reached the rules. */
function describeBinding(action: ActionDefinition, target: TargetDefinition): string {
  const binding = action.targetBinding;
  if (binding === undefined) {
    return `target binding: not checked (action ${quote(action.name)} declares no target_binding)`;
  }
  const pairs = Object.keys(binding).map((param) => {
    const identifier = binding[param]!;
    const value = isSensitive(action, param)
      ? '(sensitive value)'
      : quote(target.identifiers?.[identifier] ?? '');
    return `params.${param} = ${identifier} ${value}`;
  });
  return pairs.length === 0
    ? `target binding: action ${quote(action.name)} declares that its params name no object`
    : `target binding held: ${pairs.join(', ')} of target ${quote(target.id)}`;
}

function describeError(error: DecisionError): string {
  // Registry messages usually start with the path already; do not repeat it.
  return error.path && !error.message.startsWith(error.path)
    ? `${error.path}: ${error.message}`
    : error.message;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

/** An evaluation whose explanation is built only when someone reads it. */
class EvaluationRecord implements Evaluation {
  readonly policyRevision: string;
  #pdp: PolicyDecisionPoint;
  #request: unknown;
  #stage: string | undefined;
  #action: ActionDefinition | undefined;
  #target: TargetDefinition | undefined;
  #explanation: Explanation | undefined;

  constructor(
    pdp: PolicyDecisionPoint,
    readonly result: DecisionResult,
    readonly reason: string,
    readonly matchedRule: string | null,
    readonly riskClass: RiskClass | null,
    readonly effectiveRisk: RiskClass | null,
    readonly params: Readonly<Record<string, unknown>>,
    readonly errors: readonly DecisionError[],
  ) {
    this.policyRevision = pdp.revision;
    this.#pdp = pdp;
    this.#request = undefined;
    this.#stage = undefined;
    this.#action = undefined;
    this.#target = undefined;
    this.#explanation = undefined;
  }

  withStage(request: unknown, stage: string): this {
    this.#request = request;
    this.#stage = stage;
    return this;
  }

  withRules(
    request: EvaluationRequest,
    action: ActionDefinition,
    target: TargetDefinition,
    _risk: RiskClass,
  ): this {
    this.#request = request;
    this.#action = action;
    this.#target = target;
    return this;
  }

  get explanation(): Explanation {
    if (this.#explanation === undefined) this.#explanation = this.#explain();
    return this.#explanation;
  }

  #explain(): Explanation {
    if (this.#action === undefined || this.#target === undefined || this.effectiveRisk === null) {
      return {
        matchedRules: [],
        consideredRules: [],
        defaultDeny: false,
        summary: [
          `${this.result} before any policy rule was considered: ${this.#stage ?? 'no detail'}`,
          this.reason,
        ],
      };
    }
    try {
      return this.#pdp.explainRules(
        this.#request as EvaluationRequest,
        this.#action,
        this.#target,
        this.effectiveRisk,
        this,
      );
    } catch (error) {
      return {
        matchedRules: [],
        consideredRules: [],
        defaultDeny: this.matchedRule === null,
        summary: [
          `${this.result}: ${this.reason}`,
          `explanation unavailable: ${(error as Error)?.message ?? error}`,
        ],
      };
    }
  }

  /** JSON form including the explanation (which is a lazy getter, not an own property). */
  toJSON(): Omit<Evaluation, never> {
    return {
      result: this.result,
      reason: this.reason,
      matchedRule: this.matchedRule,
      riskClass: this.riskClass,
      effectiveRisk: this.effectiveRisk,
      params: this.params,
      errors: this.errors,
      explanation: this.explanation,
      policyRevision: this.policyRevision,
    };
  }
}
