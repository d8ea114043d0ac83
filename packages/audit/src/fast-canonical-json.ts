import { canonicalJson } from '@agent-safe/core';
import { ShapeCache } from './shape-cache.js';

/** Sorted keys of an object shape with each key's member opening: `{"key":` first, `,"key":` after. */
interface Shape {
  readonly sorted: readonly string[];
  readonly opening: readonly string[];
  readonly separated: readonly string[];
}

const shapes = new ShapeCache<Shape>(
  (keys) => {
    // The default sort compares UTF-16 code units, which is RFC 8785's order.
    const sorted = [...keys].sort();
    const quoted = sorted.map((key) => JSON.stringify(key));
    return {
      sorted,
      opening: quoted.map((key) => `{${key}:`),
      separated: quoted.map((key) => `,${key}:`),
    };
  },
  { slots: 32, maxKeys: 64 },
);

/** Deeper than this, hand over to core's implementation, which detects cycles. */
const MAX_FAST_DEPTH = 200;

/**
 * The same function as core's {@link canonicalJson} (RFC 8785), about three times faster on audit
 * bodies: string concatenation instead of map/join, key order and quoted keys remembered per object
 * shape, and a depth bound instead of a `seen` set (a cyclic value exceeds the bound and is handed to
 * core's version, which throws for it). A property test checks the two agree. Throws TypeError for
 * values JSON cannot represent.
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
      const { sorted, opening, separated } = shapes.get(Object.keys(record));
      let out = '';
      for (let index = 0; index < sorted.length; index++) {
        const member = record[sorted[index]!];
        if (member === undefined) continue;
        out += (out.length === 0 ? opening[index]! : separated[index]!) + serialise(member, depth + 1, root);
      }
      return out.length === 0 ? '{}' : `${out}}`;
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
