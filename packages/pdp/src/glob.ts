/** True when `pattern` contains a glob wildcard (`*` or `?`). */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/**
 * Matches `text` against a glob where `*` is any run of characters (possibly empty) and `?` is one
 * character. Linear-time greedy matching with one backtrack point: no regular expression, so a pattern
 * such as `*a*a*a*a*b` cannot cause catastrophic backtracking.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const char = pattern.charCodeAt(p);
    if (p < pattern.length && (char === 63 /* ? */ || char === text.charCodeAt(t))) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && char === 42 /* * */) {
      starP = p;
      starT = t;
      p += 1;
    } else if (starP !== -1) {
      p = starP + 1;
      starT += 1;
      t = starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p += 1;
  return p === pattern.length;
}

/** True when every string `inner` matches also matches `outer` (sound, not complete, for two globs). */
export function globCovers(outer: string, inner: string): boolean {
  if (!isGlob(inner)) return globMatch(outer, inner);
  if (outer === inner) return true;
  if (/^\*+$/.test(outer)) return true;
  // `prefix*` covers any pattern that starts with the same literal prefix.
  const star = outer.indexOf('*');
  if (star === outer.length - 1 && !outer.includes('?')) {
    const prefix = outer.slice(0, star);
    const innerLiteral = inner.slice(0, firstWildcard(inner));
    return innerLiteral.startsWith(prefix);
  }
  return false;
}

function firstWildcard(pattern: string): number {
  const star = pattern.indexOf('*');
  const question = pattern.indexOf('?');
  if (star === -1) return question === -1 ? pattern.length : question;
  return question === -1 ? star : Math.min(star, question);
}
