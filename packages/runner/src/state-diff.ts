import { canonicalJson } from '@agent-safe/core';

/** Field name → `{ before, after }` for every field whose value differs (compared as canonical JSON). */
export function stateDiff(
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
): Record<string, { before: unknown; after: unknown }> {
  const diff: Record<string, { before: unknown; after: unknown }> = {};
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const name of [...names].sort()) {
    const left = Object.hasOwn(before, name) ? before[name] : undefined;
    const right = Object.hasOwn(after, name) ? after[name] : undefined;
    if (comparable(left) !== comparable(right)) diff[name] = { before: left, after: right };
  }
  return diff;
}

function comparable(value: unknown): string {
  if (value === undefined) return '\u0000undefined';
  try {
    return canonicalJson(value);
  } catch {
    return String(value);
  }
}
