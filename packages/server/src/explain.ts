import type { Decision } from '@agent-safe/sdk';
import { HttpError } from './http-error.js';

/**
 * `?explain=false` on POST /v1/check and /v1/check-plan: the decision without its `explanation` (the
 * trace of every rule considered). Building that trace is the costliest part of answering a check (about a
 * quarter of the server's CPU per decision, docs/server.md "Performance"), and an agent that acts on the
 * result, reason and ticket does not read it. The default stays the whole decision.
 */
export const EXPLAIN_PARAMETER = {
  name: 'explain',
  in: 'query',
  required: false,
  description:
    'false: answer without `explanation` (the trace of the rules considered), which is cheaper; default true',
  schema: { type: 'boolean', default: true },
} as const;

/** Whether the request wants the explanation: `explain` absent or `true`; `false`; anything else is a 400. */
export function wantsExplanation(query: URLSearchParams): boolean {
  const values = query.getAll('explain');
  if (values.length === 0) return true;
  if (values.length === 1 && (values[0] === 'true' || values[0] === 'false')) return values[0] === 'true';
  throw new HttpError(400, 'INPUT_INVALID', 'explain must be true or false, given once', 'explain');
}

/** The JSON keys of a decision class's toJSON(), less `explanation`: read once per class. */
const keysOf = new WeakMap<object, readonly string[]>();

/**
 * The decision's JSON form without `explanation`, built without reading it (the SDK builds it lazily,
 * when read). The keys are those of the class's own toJSON(), so a field the SDK adds appears here too.
 */
export function withoutExplanation(decision: Decision): Record<string, unknown> {
  const record = decision as unknown as Record<string, unknown> & { toJSON?: () => object };
  if (typeof record.toJSON !== 'function') {
    const { explanation: _explanation, ...rest } = record;
    return rest;
  }
  const prototype = Object.getPrototypeOf(record) as object;
  let keys = keysOf.get(prototype);
  if (!keys) {
    keys = Object.keys(record.toJSON()).filter((key) => key !== 'explanation');
    keysOf.set(prototype, keys);
  }
  const json: Record<string, unknown> = {};
  for (const key of keys) json[key] = record[key];
  return json;
}
