/**
 * JSON Canonicalization Scheme (RFC 8785): object keys sorted by UTF-16 code units, no whitespace,
 * numbers and strings serialised as ECMAScript does. Used for audit hashes and parameter digests.
 * Throws on values JSON cannot represent (NaN, Infinity, functions, bigint, cycles).
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, new Set());
}

function serialise(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'object': {
      if (seen.has(value)) throw new TypeError('canonicalJson: cyclic structure');
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        out = `[${value.map((item) => (item === undefined ? 'null' : serialise(item, seen))).join(',')}]`;
      } else {
        const record = (
          typeof (value as { toJSON?: unknown }).toJSON === 'function'
            ? (value as { toJSON: () => unknown }).toJSON()
            : value
        ) as Record<string, unknown>;
        if (record !== value) {
          seen.delete(value);
          return serialise(record, seen);
        }
        const keys = Object.keys(record)
          .filter((key) => record[key] !== undefined)
          .sort();
        out = `{${keys.map((key) => `${JSON.stringify(key)}:${serialise(record[key], seen)}`).join(',')}}`;
      }
      seen.delete(value);
      return out;
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
  }
}
