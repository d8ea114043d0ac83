import {
  type Caller,
  type CheckRequest,
  type DecisionError,
  isSafeId,
  MAX_ID_LENGTH,
  REQUEST_VALUE_LIMITS,
  unsafeIdReason,
} from '@agent-safe/core';

/** Longest caller token accepted (a 10-level delegation chain with EdDSA is about 37 KB). */
export const MAX_CALLER_TOKEN_LENGTH = 64 * 1024;

/**
 * The first check of the pipeline: what is wrong with a request's shape, or undefined when it is well
 * formed, the caller aside: it is checked on its own ({@link callerProblem}), so that a request with
 * some other bad field is still attributed to whoever presented it.
 */
export function requestProblem(request: unknown): DecisionError | undefined {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    return {
      code: 'INPUT_INVALID',
      message: 'the request must be an object { action, target, caller, params }',
    };
  }
  const r = request as Record<string, unknown>;
  const badId =
    idProblem(r.action, 'action', true) ??
    idProblem(r.target, 'target', false) ??
    idProblem(r.ticketId, 'ticketId', false) ??
    idProblem(r.correlationId, 'correlationId', false);
  if (badId !== undefined) return badId;
  if (r.params !== undefined && r.params !== null) {
    if (typeof r.params !== 'object' || Array.isArray(r.params)) {
      return { code: 'INPUT_INVALID', path: 'params', message: 'params must be an object of name: value' };
    }
    const problem = valueProblem(r.params, 'params');
    if (problem !== undefined) return problem;
  }
  if (r.context !== undefined && r.context !== null) {
    if (typeof r.context !== 'object' || Array.isArray(r.context)) {
      return { code: 'INPUT_INVALID', path: 'context', message: 'context must be an object' };
    }
    const problem = valueProblem(r.context, 'context');
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * What is wrong with the caller field alone: a plain id must be a safe id (no control characters, at
 * most {@link MAX_ID_LENGTH} characters); a token (three dot-separated parts) may be longer; an object
 * needs a safe `agentId`. Absent is fine (the caller is then `anonymous`).
 */
export function callerProblem(caller: unknown): DecisionError | undefined {
  if (caller === undefined || caller === null || caller === '') return undefined;
  if (typeof caller === 'string') {
    if (knownSafe.has(caller)) return undefined;
    const token = looksLikeTokenShape(caller);
    const reason = unsafeIdReason(caller, token ? MAX_CALLER_TOKEN_LENGTH : MAX_ID_LENGTH);
    if (reason !== undefined) return { code: 'INPUT_INVALID', path: 'caller', message: `caller ${reason}` };
    // Tokens are long and change with every mint: only short ids are worth remembering.
    if (!token) rememberSafe(caller);
    return undefined;
  }
  if (typeof caller !== 'object' || Array.isArray(caller)) {
    return {
      code: 'INPUT_INVALID',
      path: 'caller',
      message: 'caller must be an agent id string, an identity token or a Caller with an agentId',
    };
  }
  const agentId = (caller as Caller).agentId;
  if (typeof agentId !== 'string') {
    return {
      code: 'INPUT_INVALID',
      path: 'caller.agentId',
      message: 'caller must be an agent id string, an identity token or a Caller with an agentId',
    };
  }
  const reason = unsafeIdReason(agentId);
  if (reason !== undefined) {
    return { code: 'INPUT_INVALID', path: 'caller.agentId', message: `caller.agentId ${reason}` };
  }
  const object = caller as Caller;
  return (
    idListProblem(object.roles, 'caller.roles') ??
    idListProblem(object.groups, 'caller.groups') ??
    idListProblem(
      Array.isArray(object.delegationChain)
        ? object.delegationChain.map((link) => (link && typeof link === 'object' ? link.agentId : link))
        : object.delegationChain,
      'caller.delegationChain',
    )
  );
}

/** An optional list of ids in a Caller object (roles, groups, chain members). */
function idListProblem(list: unknown, path: string): DecisionError | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list) || list.length > 64) {
    return { code: 'INPUT_INVALID', path, message: `${path} must be a list of at most 64 ids` };
  }
  for (let index = 0; index < list.length; index++) {
    const item = list[index];
    const reason = typeof item === 'string' ? unsafeIdReason(item) : 'must be a string';
    if (reason !== undefined) {
      return { code: 'INPUT_INVALID', path: `${path}.${index}`, message: `${path}[${index}] ${reason}` };
    }
  }
  return undefined;
}

/** Three base64url-ish parts: may be an identity token, which carries delegation chains and is longer. */
function looksLikeTokenShape(text: string): boolean {
  const first = text.indexOf('.');
  if (first <= 0) return false;
  const second = text.indexOf('.', first + 1);
  return second > first + 1 && text.indexOf('.', second + 1) === -1;
}

/** An id field: absent (unless required), or a safe id string. Never echoes the value. */
function idProblem(value: unknown, key: string, required: boolean): DecisionError | undefined {
  if (value === undefined || value === null) {
    return required ? { code: 'INPUT_INVALID', path: key, message: `${key} is required` } : undefined;
  }
  if (typeof value !== 'string') {
    return { code: 'INPUT_INVALID', path: key, message: `${key} must be a string` };
  }
  // Empty optional ids mean "none", as they always have; an empty action is reported by the PDP.
  if (value === '' || knownSafe.has(value)) return undefined;
  const reason = unsafeIdReason(value);
  if (reason === undefined) {
    rememberSafe(value);
    return undefined;
  }
  return { code: 'INPUT_INVALID', path: key, message: `${key} ${reason}` };
}

/**
 * Ids already found safe. Requests repeat the same few actions, targets and callers, and a Set lookup
 * (the string's hash is cached in the string) is cheaper than scanning it again. Bounded: cleared when
 * full, like the plain-caller cache.
 */
const knownSafe = new Set<string>();
const MAX_KNOWN_SAFE = 10_000;

function rememberSafe(value: string): void {
  if (knownSafe.size >= MAX_KNOWN_SAFE) knownSafe.clear();
  knownSafe.add(value);
}

/**
 * Walks params or context once, bounded by {@link REQUEST_VALUE_LIMITS}: JSON values only (no
 * functions, symbols, bigints, class instances, NaN or Infinity), nesting, value count and total text
 * bounded. Stops at the first problem, so a hostile value costs at most the limits' worth of work.
 */
export function valueProblem(value: object, root: string): DecisionError | undefined {
  budget.values = 0;
  budget.text = 0;
  const problem = walk(value, 1, budget);
  if (problem === undefined) return undefined;
  return {
    code: 'INPUT_INVALID',
    path: problem.path ? `${root}.${problem.path}` : root,
    message: `${root} ${problem.message}`,
  };
}

interface Budget {
  values: number;
  text: number;
}

interface WalkProblem {
  path: string;
  message: string;
}

const { maxDepth, maxValues, maxTextLength } = REQUEST_VALUE_LIMITS;
/** One budget, reset per walk: the walk is synchronous, so nothing else uses it meanwhile. */
const budget: Budget = { values: 0, text: 0 };

function walk(value: unknown, depth: number, budget: Budget): WalkProblem | undefined {
  if (++budget.values > maxValues) {
    return { path: '', message: `hold more than ${maxValues} values; send fewer or smaller values` };
  }
  switch (typeof value) {
    case 'string':
      budget.text += value.length;
      return budget.text > maxTextLength
        ? { path: '', message: `hold more than ${maxTextLength} characters of text in all` }
        : undefined;
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : { path: '', message: `hold a number with no JSON form (${value})` };
    case 'object': {
      if (value === null) return undefined;
      if (depth > maxDepth) {
        return { path: '', message: `are nested more than ${maxDepth} levels deep` };
      }
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) {
          const item = value[index];
          if (item === undefined) return { path: `${index}`, message: 'hold an undefined array item' };
          const problem = walk(item, depth + 1, budget);
          if (problem !== undefined) return prefix(problem, `${index}`);
        }
        return undefined;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) {
        return { path: '', message: 'hold an object that is not plain JSON (a class instance, Date, Map…)' };
      }
      const keys = Object.keys(value);
      for (let index = 0; index < keys.length; index++) {
        const key = keys[index]!;
        budget.text += key.length;
        const item = (value as Record<string, unknown>)[key];
        // Strings and finite numbers, the usual params, without a call each.
        if (typeof item === 'string') {
          budget.text += item.length;
          if (++budget.values <= maxValues && budget.text <= maxTextLength) continue;
        } else if (item === undefined) {
          continue;
        }
        if (budget.text > maxTextLength) {
          return { path: '', message: `hold more than ${maxTextLength} characters of text in all` };
        }
        if (typeof item === 'string') {
          return { path: '', message: `hold more than ${maxValues} values; send fewer or smaller values` };
        }
        const problem = walk(item, depth + 1, budget);
        if (problem !== undefined) return prefix(problem, key);
      }
      return undefined;
    }
    default:
      return { path: '', message: `hold a ${typeof value}, which has no JSON form` };
  }
}

/** Paths in messages are for people: keep them short, and never let a key inject characters. */
function prefix(problem: WalkProblem, segment: string): WalkProblem {
  const safe = unsafeIdReason(segment, 64) === undefined ? segment : '(key)';
  return { path: problem.path ? `${safe}.${problem.path}` : safe, message: problem.message };
}

/** An optional id of the request as recorded: null when absent, empty or refused at the door. */
export function optionalId(
  request: CheckRequest,
  key: 'ticketId' | 'correlationId',
  problem: DecisionError | undefined,
): string | null {
  const value = request !== null && typeof request === 'object' ? request[key] : undefined;
  if (typeof value !== 'string' || value === '') return null;
  if (problem === undefined) return value;
  return problem.path !== key && isSafeId(value) ? value : null;
}

/** Which part of the request was refused at the door for its size or content, and is not recorded. */
export function refusedInput(problem: DecisionError | undefined): 'params' | 'context' | undefined {
  const path = problem?.path;
  if (path === undefined) return undefined;
  if (path === 'params' || path.startsWith('params.')) return 'params';
  if (path === 'context' || path.startsWith('context.')) return 'context';
  return undefined;
}
