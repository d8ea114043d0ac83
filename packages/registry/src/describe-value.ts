const MAX_SHOWN_STRING = 64;

/** A string as it may appear in a message: JSON-quoted (so control characters are escaped) and cut short. */
export function quoteString(value: string): string {
  return value.length > MAX_SHOWN_STRING
    ? `${JSON.stringify(value.slice(0, MAX_SHOWN_STRING))}… (${value.length} characters)`
    : JSON.stringify(value);
}

/** A value as it may appear after "got": its kind and, for scalars, the value (`string "ten"`). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  switch (typeof value) {
    case 'string':
      return `string ${quoteString(value)}`;
    case 'number':
      return Number.isNaN(value) ? 'NaN' : `number ${value}`;
    case 'boolean':
      return `boolean ${value}`;
    case 'object':
      return 'a mapping';
    default:
      return `a ${typeof value}`;
  }
}

/** A scalar shown inside a constraint message (`101`, `"Foo"`). */
export function showScalar(value: unknown): string {
  return typeof value === 'string' ? quoteString(value) : String(value);
}

/** Closest candidate within edit distance 2, for "did you mean" hints on misspelt field names. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase().replaceAll('-', '_'), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(left: string, right: string): number {
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const cost = left[i - 1] === right[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[right.length]!;
}
