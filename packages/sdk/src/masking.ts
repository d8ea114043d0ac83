import type { ActionDefinition } from '@agent-safe/core';

/** What replaces a sensitive value in the audit log. */
export const MASK = '***';

/**
 * Copies params with every parameter the action marks `sensitive` replaced by {@link MASK}, and returns
 * the masked paths. Returns the params object itself (no copy) when nothing is sensitive.
 */
export function maskParams(
  action: ActionDefinition | undefined,
  params: Readonly<Record<string, unknown>>,
): { params: Readonly<Record<string, unknown>>; maskedPaths: string[] } {
  if (!action) return { params, maskedPaths: [] };
  let copy: Record<string, unknown> | undefined;
  const maskedPaths: string[] = [];
  for (const parameter of action.parameters) {
    if (parameter.sensitive && Object.hasOwn(params, parameter.name)) {
      copy ??= { ...params };
      copy[parameter.name] = MASK;
      maskedPaths.push(`params.${parameter.name}`);
    }
  }
  return { params: copy ?? params, maskedPaths };
}

/** Shortest sensitive string value scrubbed from messages (shorter ones would garble every message). */
const MIN_SCRUBBED_LENGTH = 3;

/**
 * Messages (a reason, error messages) with every sensitive param's value replaced by {@link MASK}. The
 * registry's validator never quotes a sensitive value; this is the second line of defence, for messages
 * built elsewhere (a guard, a policy, a future stage). Returns `undefined` when nothing needed masking.
 */
export function sensitiveValues(
  action: ActionDefinition | undefined,
  params: Readonly<Record<string, unknown>> | undefined,
): string[] | undefined {
  if (!action || !params || typeof params !== 'object') return undefined;
  const names = sensitiveNames(action);
  if (names.length === 0) return undefined;
  let values: string[] | undefined;
  for (const name of names) {
    if (!Object.hasOwn(params, name)) continue;
    const value = params[name];
    const text = typeof value === 'string' ? value : value === undefined ? '' : safeJson(value);
    if (text.length < MIN_SCRUBBED_LENGTH) continue;
    values ??= [];
    values.push(text);
    const quoted = JSON.stringify(text).slice(1, -1);
    if (quoted !== text) values.push(quoted);
  }
  return values;
}

/** Replaces each of `values` in `text` with {@link MASK}. */
export function scrub(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) if (out.includes(value)) out = out.split(value).join(MASK);
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** The names of an action's sensitive params, computed once per (frozen) definition. */
const sensitiveByAction = new WeakMap<ActionDefinition, readonly string[]>();

function sensitiveNames(action: ActionDefinition): readonly string[] {
  let names = sensitiveByAction.get(action);
  if (names === undefined) {
    names = action.parameters.filter((parameter) => parameter.sensitive).map((parameter) => parameter.name);
    sensitiveByAction.set(action, names);
  }
  return names;
}
