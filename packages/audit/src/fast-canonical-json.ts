import { canonicalJson } from '@agent-safe/core';

/** Deeper than this, hand over to core's implementation, which detects cycles. */
const MAX_FAST_DEPTH = 200;

/**
 * The same function as core's {@link canonicalJson} (RFC 8785), about three times faster on audit
 * bodies: string concatenation instead of map/join, and a depth bound instead of a `seen` set (a cyclic
 * value exceeds the bound and is handed to core's version, which throws for it). A property test checks
 * the two agree. Throws TypeError for values JSON cannot represent.
 */
export function fastCanonicalJson(value: unknown): string {
  return serialise(value, 0, value);
}

function serialise(value: unknown, depth: number, root: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth > MAX_FAST_DEPTH) throw new DeepValue();
      if (Array.isArray(value)) {
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ',';
          const item = value[index];
          out += item === undefined ? 'null' : serialise(item, depth + 1, root);
        }
        return `${out}]`;
      }
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return serialise(toJSON.call(value), depth + 1, root);
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(key)}:${serialise(member, depth + 1, root)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
  }
}

class DeepValue extends Error {}

/** {@link fastCanonicalJson}, falling back to core's implementation for very deep or cyclic values. */
export function canonicalize(value: unknown): string {
  try {
    return fastCanonicalJson(value);
  } catch (error) {
    if (error instanceof DeepValue) return canonicalJson(value);
    throw error;
  }
}
