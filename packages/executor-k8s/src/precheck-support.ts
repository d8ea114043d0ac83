import type { ExecutionRequest, PrecheckOutcome } from '@agent-safe/core';
import type { ConfigurationOptions, V1LabelSelector } from '@kubernetes/client-node';
import type { KubernetesApis } from './apis.js';
import { quote, serverMessage, statusOf, untilAborted } from './session.js';

export { quote };

/** One precheck: judges the request with the runner's clients, bound to the precheck's signal. */
export type Check = (
  request: ExecutionRequest,
  apis: KubernetesApis,
  signal: AbortSignal,
) => Promise<PrecheckOutcome>;

/** Most object names listed in one reason; the rest are counted. */
export const LIST_MAX = 10;
/** Page size of every list call a precheck makes (each read is bounded). */
export const LIST_LIMIT = 500;

export const pass = (reason: string): PrecheckOutcome => ({ status: 'pass', reason });
export const warn = (reason: string): PrecheckOutcome => ({ status: 'warn', reason });
export const fail = (reason: string): PrecheckOutcome => ({ status: 'fail', reason });

/** A precheck that cannot go on: carries the `fail` outcome up to {@link runPrecheck}. */
export class PrecheckStop extends Error {
  readonly outcome: PrecheckOutcome;
  constructor(outcome: PrecheckOutcome) {
    super(outcome.reason);
    this.outcome = outcome;
  }
}

/** `a, b, c and 4 more` (each name quoted). */
export function nameList(names: readonly string[], max = LIST_MAX): string {
  const shown = names.slice(0, max).map((name) => quote(name, 100));
  const rest = names.length - shown.length;
  return rest > 0 ? `${shown.join(', ')} and ${rest} more` : shown.join(', ');
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Request options that tie one API call to the precheck's AbortSignal (client-node 1.4 lets a
 * middleware set the fetch signal of each request).
 */
export function signalOptions(signal: AbortSignal): ConfigurationOptions {
  // client-node 1.4 chains middleware through its own Observable stub, which only needs toPromise().
  const resolved = <T>(value: T) => ({ toPromise: () => Promise.resolve(value) });
  const middleware = {
    pre: (context: { setSignal(signal: AbortSignal): void }) => {
      context.setSignal(signal);
      return resolved(context);
    },
    post: (response: unknown) => resolved(response),
  };
  return {
    middleware: [middleware],
    middlewareMergeStrategy: 'append',
  } as unknown as ConfigurationOptions;
}

/**
 * A one-line account of a failed API call: the status and the server's own message (escaped, cut),
 * never the exception's text (client-node puts response headers in it).
 */
export function apiErrorText(error: unknown): string {
  const status = statusOf(error);
  if (status !== undefined) {
    const message = serverMessage(error);
    const label =
      status === 401
        ? 'unauthorized (the credential was not accepted)'
        : status === 403
          ? 'forbidden'
          : `HTTP ${status}`;
    return message === '' ? label : `${label}: ${quote(message)}`;
  }
  const text = error instanceof Error ? error.message : String(error);
  return quote(text.split('\n')[0] ?? '');
}

/**
 * Runs one API call bound to the signal. An abort rethrows the signal's reason (the precheck stops);
 * a 404 returns `undefined` when `missingOk`; any other failure stops the precheck with `fail` naming
 * what could not be read and why.
 */
export async function read<T>(
  signal: AbortSignal,
  what: string,
  call: (options: ConfigurationOptions) => Promise<T>,
  missingOk: true,
): Promise<T | undefined>;
export async function read<T>(
  signal: AbortSignal,
  what: string,
  call: (options: ConfigurationOptions) => Promise<T>,
  missingOk?: false,
): Promise<T>;
export async function read<T>(
  signal: AbortSignal,
  what: string,
  call: (options: ConfigurationOptions) => Promise<T>,
  missingOk = false,
): Promise<T | undefined> {
  signal.throwIfAborted();
  try {
    return await untilAborted(signal, call(signalOptions(signal)));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (missingOk && statusOf(error) === 404) return undefined;
    const status = statusOf(error);
    const verb = status === 404 ? 'does not exist' : `cannot be read: ${apiErrorText(error)}`;
    throw new PrecheckStop(fail(`${what} ${verb}`));
  }
}

/** How the prechecks read one kind of namespaced object and name it in a reason. */
export interface NamespacedObject<T> {
  /**
   * Reads the object named by the `namespace` param and the kind's own param; a missing or
   * unreadable one stops the precheck with `fail` (`<kind> "ns/name" does not exist`).
   */
  readonly read: (request: ExecutionRequest, apis: KubernetesApis, signal: AbortSignal) => Promise<T>;
  /** `namespace/name` as the params give them, quoted for a reason. */
  readonly label: (request: ExecutionRequest) => string;
}

/** The reader and label of a kind (`Deployment`) named by a param (`deployment`), read through `call`. */
export function namespacedObject<T>(
  kind: string,
  param: string,
  call: (
    apis: KubernetesApis,
    object: { name: string; namespace: string },
    options: ConfigurationOptions,
  ) => Promise<T>,
): NamespacedObject<T> {
  return {
    read: async (request, apis, signal) => {
      const namespace = textParam(request, 'namespace');
      const name = textParam(request, param);
      return await read(signal, `${kind} ${quote(`${namespace}/${name}`)}`, (options) =>
        call(apis, { name, namespace }, options),
      );
    },
    label: (request) => quote(`${String(request.params.namespace)}/${String(request.params[param])}`),
  };
}

/** A list call's items, refusing to judge from a partial page. */
export function items<T>(
  list: { items?: T[]; metadata?: { _continue?: string } },
  what: string,
  bounded = false,
): T[] {
  const all = list.items ?? [];
  if (!bounded && list.metadata?._continue) {
    throw new PrecheckStop(
      fail(`${what}: more than ${LIST_LIMIT} objects, too many to check in one bounded read`),
    );
  }
  return all;
}

/** A required string param (the runner validated params; this still fails closed). */
export function textParam(request: ExecutionRequest, name: string): string {
  const value = request.params[name] ?? defaultOf(request, name);
  if (typeof value !== 'string' || value.length === 0) {
    throw new PrecheckStop(fail(`param "${name}" is missing or not a non-empty string`));
  }
  return value;
}

export function optionalText(request: ExecutionRequest, name: string): string | undefined {
  const value = request.params[name] ?? defaultOf(request, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new PrecheckStop(fail(`param "${name}" must be a non-empty string when given`));
  }
  return value;
}

export function optionalInteger(request: ExecutionRequest, name: string): number | undefined {
  const value = request.params[name] ?? defaultOf(request, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new PrecheckStop(fail(`param "${name}" must be an integer`));
  }
  return value;
}

export function integerParam(request: ExecutionRequest, name: string): number {
  const value = optionalInteger(request, name);
  if (value === undefined) throw new PrecheckStop(fail(`param "${name}" is missing`));
  return value;
}

export function booleanParam(request: ExecutionRequest, name: string, fallback: boolean): boolean {
  const value = request.params[name] ?? defaultOf(request, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new PrecheckStop(fail(`param "${name}" must be true or false`));
  return value;
}

function defaultOf(request: ExecutionRequest, name: string): unknown {
  return request.action.parameters.find((parameter) => parameter.name === name)?.default;
}

/** Does a Kubernetes label selector (policy/v1, apps/v1 shape) select these labels? `null` selects nothing. */
export function selectorMatches(
  selector: V1LabelSelector | undefined | null,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (selector === undefined || selector === null) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, expression.key);
    const value = have[expression.key];
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!present || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (present && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false; // an operator we do not know never matches by accident
    }
  }
  return true;
}

const DECIMAL_SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const BINARY_SUFFIX: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity ("250m", "1.5Gi", "2e3") as a number; undefined when malformed. */
export function parseQuantity(text: unknown): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(
    text,
  );
  if (!match) return undefined;
  const base = Number(match[1]);
  if (match[2] !== undefined) return base * 10 ** Number(match[2].slice(1));
  const suffix = match[3] ?? '';
  const factor = BINARY_SUFFIX[suffix] ?? DECIMAL_SUFFIX[suffix];
  return factor === undefined ? undefined : base * factor;
}

/** Human form of a quantity of `resource` (cpu in cores, memory in MiB, others plain). */
export function formatQuantity(resource: string, value: number): string {
  if (resource.endsWith('cpu')) return `${Math.round(value * 1000)}m CPU`;
  if (resource.endsWith('memory') || resource.endsWith('storage'))
    return `${(value / 2 ** 20).toFixed(value % 2 ** 20 === 0 ? 0 : 1)}Mi ${resource.split('.').pop()}`;
  return `${value} ${resource}`;
}

/** Most objects a paged list reads before a precheck gives up (bounded work on huge clusters). */
export const LIST_ALL_MAX = 10_000;

/** Reads every page of a list call (up to {@link LIST_ALL_MAX} objects), else stops with `fail`. */
export async function listAll<T>(
  signal: AbortSignal,
  what: string,
  call: (
    page: { limit: number; _continue?: string },
    options: ConfigurationOptions,
  ) => Promise<{
    items?: T[];
    metadata?: { _continue?: string };
  }>,
): Promise<T[]> {
  const all: T[] = [];
  let next: string | undefined;
  do {
    const page = await read(signal, what, (options) =>
      call(next === undefined ? { limit: LIST_LIMIT } : { limit: LIST_LIMIT, _continue: next }, options),
    );
    all.push(...(page.items ?? []));
    next = page.metadata?._continue || undefined;
    if (next !== undefined && all.length >= LIST_ALL_MAX) {
      throw new PrecheckStop(fail(`${what}: more than ${LIST_ALL_MAX} objects, too many to check`));
    }
  } while (next !== undefined);
  return all;
}

/** Resource quantities by name (cpu in cores, memory in bytes). */
export type Resources = Record<string, number>;

interface ContainerLike {
  readonly resources?: {
    readonly requests?: Readonly<Record<string, unknown>>;
    readonly limits?: Readonly<Record<string, unknown>>;
  };
}

/**
 * What a pod asks for, as the scheduler and quota count it: the sum over its containers, raised to
 * the largest init container where that is bigger. `kind` picks requests or limits; a request left
 * out falls back to the limit (as Kubernetes defaults it).
 */
export function podResources(
  spec: { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined,
  kind: 'requests' | 'limits',
): Resources {
  const of = (container: ContainerLike): Resources => {
    const out: Resources = {};
    const declared = {
      ...(kind === 'requests' ? (container.resources?.limits ?? {}) : {}),
      ...(container.resources?.[kind] ?? {}),
    };
    for (const [name, value] of Object.entries(declared)) {
      const parsed = parseQuantity(value);
      if (parsed !== undefined) out[name] = parsed;
    }
    return out;
  };
  const total: Resources = {};
  for (const container of spec?.containers ?? []) {
    for (const [name, value] of Object.entries(of(container))) total[name] = (total[name] ?? 0) + value;
  }
  for (const container of spec?.initContainers ?? []) {
    for (const [name, value] of Object.entries(of(container)))
      total[name] = Math.max(total[name] ?? 0, value);
  }
  return total;
}

/** True when the pod's Ready condition is True. */
export function podReady(pod: { status?: { conditions?: { type: string; status: string }[] } }): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The controller owner reference of an object, if any. */
export function controllerOf(object: {
  metadata?: { ownerReferences?: { kind: string; name: string; controller?: boolean; uid: string }[] };
}): { kind: string; name: string; uid: string } | undefined {
  return object.metadata?.ownerReferences?.find((owner) => owner.controller === true);
}
