/**
 * Static check that a parameter pattern cannot backtrack catastrophically in JavaScript's backtracking
 * regular-expression engine.
 *
 * The pattern is parsed and turned into a position automaton (Glushkov construction) that keeps
 * parallel edges, so `(a+)+` — one position, but two ways to loop — is seen as ambiguous. A pattern is
 * refused when some input can be matched in exponentially many ways (two distinct paths from a state
 * back to itself on the same word: `(a|a)+`, `(a+)+`, `(.*a){20}`), or in polynomially many ways (two
 * loops that can consume the same words one after the other: `a*a*`, `\d+\.?\d*`), since either makes
 * a failing match take time that grows faster than the value. Backreferences, lookbehinds and repeated
 * lookaheads are refused; a lookahead is allowed when its own body passes the same check.
 *
 * Counted repeats `{n,m}` with `m >= 2` are treated as unbounded loops, which is conservative: a few
 * harmless patterns (`[a-z]{1,5}[a-z]{1,5}`) are refused along with the dangerous ones, and the error
 * says how to rewrite them.
 */

type Ranges = readonly (readonly [number, number])[];

type Node =
  | { readonly kind: 'char'; readonly set: Ranges }
  | { readonly kind: 'empty' }
  | { readonly kind: 'seq'; readonly items: readonly Node[] }
  | { readonly kind: 'alt'; readonly options: readonly Node[] }
  | { readonly kind: 'repeat'; readonly body: Node; readonly min: number; readonly max: number };

/** Patterns longer than this are refused outright: a parameter pattern is a short expression. */
export const MAX_PATTERN_LENGTH = 1024;
/** Most character positions (classes and literals, a repeat counting once) the check analyses. */
const MAX_POSITIONS = 200;
/** Bound on the product-automaton work, so checking a pattern is itself cheap. */
const MAX_WORK = 2_000_000;

const MAX_CODE_POINT = 0x10ffff;
const ANY: Ranges = [[0, MAX_CODE_POINT]];
const DIGIT: Ranges = [[0x30, 0x39]];
const WORD: Ranges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const SPACE: Ranges = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const LINE_TERMINATORS: Ranges = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];

class Refused extends Error {}

/**
 * Undefined when `pattern` is safe to run on untrusted values; otherwise why it is refused, naming the
 * rule and how to fix it. Assumes the pattern already compiles in unicode mode.
 */
export function patternSafetyProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `the pattern is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`;
  }
  try {
    const lookaheads: Node[] = [];
    const root = new Parser(pattern, lookaheads).parse();
    for (const node of [root, ...lookaheads]) analyse(node);
    return undefined;
  } catch (error) {
    if (error instanceof Refused) return error.message;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Parsing (the JavaScript syntax of unicode-mode patterns)

class Parser {
  #index = 0;
  readonly #text: string;
  readonly #lookaheads: Node[];

  constructor(text: string, lookaheads: Node[]) {
    this.#text = text;
    this.#lookaheads = lookaheads;
  }

  parse(): Node {
    const node = this.#alternation();
    if (this.#index < this.#text.length) throw new Refused(`unexpected ")" at offset ${this.#index}`);
    return node;
  }

  #peek(offset = 0): string {
    return this.#text[this.#index + offset] ?? '';
  }

  #alternation(): Node {
    const options = [this.#sequence()];
    while (this.#peek() === '|') {
      this.#index += 1;
      options.push(this.#sequence());
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  #sequence(): Node {
    const items: Node[] = [];
    while (this.#index < this.#text.length && this.#peek() !== '|' && this.#peek() !== ')') {
      const start = this.#index;
      const atom = this.#atom();
      const repeated = this.#quantifier(atom.node);
      if (repeated !== atom.node && atom.assertion) {
        throw new Refused(
          `the assertion at offset ${start} is repeated; a lookahead or anchor cannot take a quantifier`,
        );
      }
      items.push(repeated);
    }
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  #atom(): { node: Node; assertion: boolean } {
    const char = this.#peek();
    switch (char) {
      case '^':
      case '$':
        this.#index += 1;
        return { node: { kind: 'empty' }, assertion: true };
      case '.':
        this.#index += 1;
        return { node: { kind: 'char', set: complement(LINE_TERMINATORS) }, assertion: false };
      case '[':
        return { node: { kind: 'char', set: this.#characterClass() }, assertion: false };
      case '(':
        return this.#group();
      case '\\':
        return this.#escape();
      default: {
        const codePoint = this.#text.codePointAt(this.#index)!;
        this.#index += codePoint > 0xffff ? 2 : 1;
        return { node: { kind: 'char', set: [[codePoint, codePoint]] }, assertion: false };
      }
    }
  }

  #group(): { node: Node; assertion: boolean } {
    const start = this.#index;
    this.#index += 1;
    let lookahead = false;
    if (this.#peek() === '?') {
      const next = this.#peek(1);
      if (next === ':') {
        this.#index += 2;
      } else if (next === '=' || next === '!') {
        this.#index += 2;
        lookahead = true;
      } else if (next === '<' && (this.#peek(2) === '=' || this.#peek(2) === '!')) {
        throw new Refused(
          `lookbehind at offset ${start} is not allowed in parameter patterns; use anchors or a lookahead`,
        );
      } else if (next === '<') {
        const close = this.#text.indexOf('>', this.#index);
        if (close < 0) throw new Refused(`unterminated group name at offset ${start}`);
        this.#index = close + 1;
      } else {
        throw new Refused(`unsupported group syntax at offset ${start}`);
      }
    }
    const body = this.#alternation();
    if (this.#peek() !== ')') throw new Refused(`unterminated group at offset ${start}`);
    this.#index += 1;
    if (lookahead) {
      this.#lookaheads.push(body);
      return { node: { kind: 'empty' }, assertion: true };
    }
    return { node: body, assertion: false };
  }

  #escape(): { node: Node; assertion: boolean } {
    const start = this.#index;
    this.#index += 1;
    const char = this.#peek();
    if (char === 'b' || char === 'B') {
      this.#index += 1;
      return { node: { kind: 'empty' }, assertion: true };
    }
    if ((char >= '1' && char <= '9') || char === 'k') {
      throw new Refused(
        `backreference at offset ${start} is not allowed in parameter patterns (matching one can take exponential time)`,
      );
    }
    return { node: { kind: 'char', set: this.#escapeSet(false) }, assertion: false };
  }

  /** The set of an escape after its backslash (`\d`, `\x41`, `\.` …). */
  #escapeSet(inClass: boolean): Ranges {
    const char = this.#peek();
    this.#index += 1;
    switch (char) {
      case 'd':
        return DIGIT;
      case 'D':
        return complement(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complement(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complement(SPACE);
      case 'p':
      case 'P': {
        const close = this.#text.indexOf('}', this.#index);
        if (this.#peek() !== '{' || close < 0) throw new Refused('malformed \\p{…} escape');
        this.#index = close + 1;
        return ANY;
      }
      case 't':
        return single(0x09);
      case 'n':
        return single(0x0a);
      case 'v':
        return single(0x0b);
      case 'f':
        return single(0x0c);
      case 'r':
        return single(0x0d);
      case '0':
        return single(0);
      case 'b':
        if (inClass) return single(0x08);
        throw new Refused('unexpected \\b');
      case 'c': {
        const letter = this.#peek();
        this.#index += 1;
        return single(letter.charCodeAt(0) % 32);
      }
      case 'x': {
        const hex = this.#text.slice(this.#index, this.#index + 2);
        this.#index += 2;
        return single(Number.parseInt(hex, 16));
      }
      case 'u': {
        if (this.#peek() === '{') {
          const close = this.#text.indexOf('}', this.#index);
          if (close < 0) throw new Refused('malformed \\u{…} escape');
          const value = Number.parseInt(this.#text.slice(this.#index + 1, close), 16);
          this.#index = close + 1;
          return single(value);
        }
        const hex = this.#text.slice(this.#index, this.#index + 4);
        this.#index += 4;
        const unit = Number.parseInt(hex, 16);
        // A surrogate pair written as two \u escapes is one code point.
        if (unit >= 0xd800 && unit <= 0xdbff && this.#text.startsWith('\\u', this.#index)) {
          const low = Number.parseInt(this.#text.slice(this.#index + 2, this.#index + 6), 16);
          if (low >= 0xdc00 && low <= 0xdfff) {
            this.#index += 6;
            return single(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00));
          }
        }
        return single(unit);
      }
      default: {
        if (char === '') throw new Refused('the pattern ends with a backslash');
        return single(char.codePointAt(0)!);
      }
    }
  }

  #characterClass(): Ranges {
    const start = this.#index;
    this.#index += 1;
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#index += 1;
    }
    const ranges: [number, number][] = [];
    while (this.#peek() !== ']') {
      if (this.#index >= this.#text.length)
        throw new Refused(`unterminated character class at offset ${start}`);
      const low = this.#classAtom();
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== '' && low.length === 1) {
        const single = low[0]!;
        if (single[0] === single[1]) {
          this.#index += 1;
          const high = this.#classAtom();
          if (high.length === 1 && high[0]![0] === high[0]![1]) {
            ranges.push([single[0], high[0]![0]]);
            continue;
          }
          ranges.push([single[0], single[0]], [0x2d, 0x2d], ...high.map(copyRange));
          continue;
        }
      }
      ranges.push(...low.map(copyRange));
    }
    this.#index += 1;
    const set = normalise(ranges);
    return negated ? complement(set) : set;
  }

  #classAtom(): Ranges {
    if (this.#peek() === '\\') {
      this.#index += 1;
      return this.#escapeSet(true);
    }
    const codePoint = this.#text.codePointAt(this.#index)!;
    this.#index += codePoint > 0xffff ? 2 : 1;
    return single(codePoint);
  }

  #quantifier(atom: Node): Node {
    let min: number;
    let max: number;
    const char = this.#peek();
    if (char === '*') {
      min = 0;
      max = Number.POSITIVE_INFINITY;
      this.#index += 1;
    } else if (char === '+') {
      min = 1;
      max = Number.POSITIVE_INFINITY;
      this.#index += 1;
    } else if (char === '?') {
      min = 0;
      max = 1;
      this.#index += 1;
    } else if (char === '{') {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.#text.slice(this.#index));
      if (match === null) return atom;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === '' ? Number.POSITIVE_INFINITY : Number(match[3]);
      this.#index += match[0].length;
    } else {
      return atom;
    }
    if (this.#peek() === '?') this.#index += 1;
    return { kind: 'repeat', body: atom, min, max };
  }
}

function copyRange(range: readonly [number, number]): [number, number] {
  return [range[0], range[1]];
}

function single(codePoint: number): Ranges {
  return [[codePoint, codePoint]];
}

function normalise(ranges: [number, number][]): Ranges {
  const sorted = ranges.filter(([low, high]) => low <= high).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [low, high] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && low <= last[1] + 1) last[1] = Math.max(last[1], high);
    else merged.push([low, high]);
  }
  return merged;
}

function complement(set: Ranges): Ranges {
  const result: [number, number][] = [];
  let next = 0;
  for (const [low, high] of normalise(set.map(copyRange))) {
    if (low > next) result.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= MAX_CODE_POINT) result.push([next, MAX_CODE_POINT]);
  return result;
}

function intersect(left: Ranges, right: Ranges): Ranges {
  const result: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < left.length && j < right.length) {
    const low = Math.max(left[i]![0], right[j]![0]);
    const high = Math.min(left[i]![1], right[j]![1]);
    if (low <= high) result.push([low, high]);
    if (left[i]![1] < right[j]![1]) i += 1;
    else j += 1;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Position automaton with edge multiplicities (capped at 2: "more than one way")

type Counts = Map<number, number>;

interface Fragment {
  /** Number of ways (capped at 2) to match the empty string; 0 when not nullable. */
  readonly empty: number;
  readonly first: Counts;
  readonly last: Counts;
}

interface Automaton {
  /** Label of each position (index 0 is the start state, with no label). */
  readonly labels: Ranges[];
  /** edges[p]: target position -> number of distinct edges (1 or 2). */
  readonly edges: Counts[];
}

function cap(count: number): number {
  return Math.min(count, 2);
}

function addCounts(into: Counts, from: Counts, factor = 1): void {
  if (factor === 0) return;
  for (const [position, count] of from) into.set(position, cap((into.get(position) ?? 0) + count * factor));
}

function build(root: Node): Automaton {
  const labels: Ranges[] = [[]];
  const edges: Counts[] = [new Map()];
  const connect = (from: Counts, to: Counts): void => {
    for (const [source, sourceCount] of from) {
      const targets = edges[source]!;
      for (const [target, targetCount] of to) {
        targets.set(target, cap((targets.get(target) ?? 0) + sourceCount * targetCount));
      }
    }
  };
  const visit = (node: Node): Fragment => {
    switch (node.kind) {
      case 'char': {
        const position = labels.length;
        if (position > MAX_POSITIONS) {
          throw new Refused(
            `the pattern is too complex to check (more than ${MAX_POSITIONS} character positions); simplify it`,
          );
        }
        labels.push(node.set);
        edges.push(new Map());
        return { empty: 0, first: new Map([[position, 1]]), last: new Map([[position, 1]]) };
      }
      case 'empty':
        return { empty: 1, first: new Map(), last: new Map() };
      case 'seq': {
        let result: Fragment = { empty: 1, first: new Map(), last: new Map() };
        for (const item of node.items) {
          const next = visit(item);
          connect(result.last, next.first);
          const first = new Map(result.first);
          addCounts(first, next.first, result.empty);
          const last = new Map(next.last);
          addCounts(last, result.last, next.empty);
          result = { empty: cap(result.empty * next.empty), first, last };
        }
        return result;
      }
      case 'alt': {
        const first: Counts = new Map();
        const last: Counts = new Map();
        let empty = 0;
        for (const option of node.options) {
          const fragment = visit(option);
          addCounts(first, fragment.first);
          addCounts(last, fragment.last);
          empty = cap(empty + fragment.empty);
        }
        return { empty, first, last };
      }
      case 'repeat': {
        if (node.max === 0) return { empty: 1, first: new Map(), last: new Map() };
        const body = visit(node.body);
        // Two or more iterations (counted or not) are analysed as a loop: conservative, see above.
        if (node.max >= 2) connect(body.last, body.first);
        const empty = node.min === 0 ? cap(1 + body.empty) : body.empty;
        return { empty, first: body.first, last: body.last };
      }
    }
  };
  const fragment = visit(root);
  connect(new Map([[0, 1]]), fragment.first);
  return { labels, edges };
}

// ---------------------------------------------------------------------------------------------------
// Ambiguity analysis

function analyse(root: Node): void {
  const automaton = build(root);
  let work = 0;
  const spend = (amount: number): void => {
    work += amount;
    if (work > MAX_WORK) {
      throw new Refused('the pattern is too complex to check in reasonable time; simplify it');
    }
  };
  const exponential = exponentialWitness(automaton, spend);
  if (exponential !== undefined) {
    throw new Refused(
      `nested or overlapping repetition: some input can be matched in exponentially many ways (${exponential}), so a failing value can stall every check; make each repeated part match in only one way (e.g. "(a+)+" -> "a+", "(a|ab)*" -> "(ab?)*")`,
    );
  }
  const polynomial = polynomialWitness(automaton, spend);
  if (polynomial !== undefined) {
    throw new Refused(
      `adjacent repetitions that overlap: ${polynomial}, so a failing value takes time that grows with a power of its length; make the parts exclusive (e.g. "\\d+\\.?\\d*" -> "\\d+(\\.\\d+)?", "[a-z]+[a-z0-9]*" -> "[a-z][a-z0-9]*")`,
    );
  }
}

function describePosition(automaton: Automaton, position: number): string {
  const set = automaton.labels[position]!;
  if (set.length === 1 && set[0]![0] === set[0]![1]) return JSON.stringify(String.fromCodePoint(set[0]![0]));
  return `a character class (position ${position})`;
}

/**
 * Exponential ambiguity: in the product of the automaton with itself, a strongly connected component
 * that holds a diagonal pair (p, p) and either a pair (p, q) with p != q, or a pair of distinct
 * parallel edges. Returns a short description of the looping position, or undefined.
 */
function exponentialWitness(automaton: Automaton, spend: (amount: number) => void): string | undefined {
  const count = automaton.labels.length;
  const key = (p: number, q: number): number => p * count + q;
  // Nodes reachable from (start, start), with their successors; `split` marks divergent edges.
  const successors = new Map<number, { to: number; split: boolean }[]>();
  const stack = [key(0, 0)];
  successors.set(key(0, 0), []);
  while (stack.length > 0) {
    const node = stack.pop()!;
    const p = Math.floor(node / count);
    const q = node % count;
    const list = successors.get(node)!;
    for (const [p2, pCount] of automaton.edges[p]!) {
      for (const [q2, qCount] of automaton.edges[q]!) {
        spend(1);
        if (intersect(automaton.labels[p2]!, automaton.labels[q2]!).length === 0) continue;
        const next = key(p2, q2);
        list.push({ to: next, split: p === q && p2 === q2 && pCount > 1 && qCount > 1 });
        if (!successors.has(next)) {
          successors.set(next, []);
          stack.push(next);
        }
      }
    }
  }
  const component = stronglyConnected([...successors.keys()], (node) =>
    successors.get(node)!.map((edge) => edge.to),
  );
  const diagonal = new Map<number, number>();
  const mixed = new Set<number>();
  for (const [node, id] of component) {
    const p = Math.floor(node / count);
    const q = node % count;
    if (p === q) diagonal.set(id, p);
    else mixed.add(id);
    for (const edge of successors.get(node)!) {
      if (edge.split && component.get(edge.to) === id) mixed.add(id);
    }
  }
  for (const [id, position] of diagonal) {
    if (mixed.has(id) && position !== 0) return `around ${describePosition(automaton, position)}`;
  }
  return undefined;
}

/**
 * Polynomial ambiguity: positions p != q in different loops with a word w that leads p -> p, p -> q
 * and q -> q. Searched in the product of three copies, from (p, p, q) to (p, q, q).
 */
function polynomialWitness(automaton: Automaton, spend: (amount: number) => void): string | undefined {
  const count = automaton.labels.length;
  const component = stronglyConnected(
    Array.from({ length: count }, (_, index) => index),
    (position) => [...automaton.edges[position]!.keys()],
  );
  const looping = (position: number): boolean => {
    const id = component.get(position)!;
    for (const target of automaton.edges[position]!.keys()) if (component.get(target) === id) return true;
    for (let other = 0; other < count; other++) {
      if (other !== position && component.get(other) === id) return true;
    }
    return false;
  };
  const reachable = reachability(automaton, count);
  for (let p = 1; p < count; p++) {
    if (!looping(p)) continue;
    for (let q = 1; q < count; q++) {
      if (q === p || !looping(q) || component.get(p) === component.get(q) || !reachable[p]![q]) continue;
      if (tripleReaches(automaton, p, q, component, reachable, spend)) {
        return `${describePosition(automaton, p)} and ${describePosition(automaton, q)} can both repeat over the same text`;
      }
    }
  }
  return undefined;
}

function tripleReaches(
  automaton: Automaton,
  p: number,
  q: number,
  component: Map<number, number>,
  reachable: boolean[][],
  spend: (amount: number) => void,
): boolean {
  const count = automaton.labels.length;
  const pComponent = component.get(p)!;
  const qComponent = component.get(q)!;
  const key = (a: number, b: number, c: number): number => (a * count + b) * count + c;
  const goal = key(p, q, q);
  const seen = new Set<number>([key(p, p, q)]);
  const stack: [number, number, number][] = [[p, p, q]];
  while (stack.length > 0) {
    const [a, b, c] = stack.pop()!;
    for (const a2 of automaton.edges[a]!.keys()) {
      if (component.get(a2) !== pComponent) continue;
      for (const b2 of automaton.edges[b]!.keys()) {
        if (!reachable[b2]![q] && b2 !== q) continue;
        const ab = intersect(automaton.labels[a2]!, automaton.labels[b2]!);
        if (ab.length === 0) continue;
        for (const c2 of automaton.edges[c]!.keys()) {
          spend(1);
          if (component.get(c2) !== qComponent) continue;
          if (intersect(ab, automaton.labels[c2]!).length === 0) continue;
          const next = key(a2, b2, c2);
          if (next === goal) return true;
          if (!seen.has(next)) {
            seen.add(next);
            stack.push([a2, b2, c2]);
          }
        }
      }
    }
  }
  return false;
}

function reachability(automaton: Automaton, count: number): boolean[][] {
  const result: boolean[][] = [];
  for (let source = 0; source < count; source++) {
    const row = new Array<boolean>(count).fill(false);
    const stack = [source];
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (const target of automaton.edges[node]!.keys()) {
        if (!row[target]) {
          row[target] = true;
          stack.push(target);
        }
      }
    }
    result.push(row);
  }
  return result;
}

/** Tarjan's algorithm, iterative: node -> component id. */
function stronglyConnected(
  nodes: readonly number[],
  next: (node: number) => readonly number[],
): Map<number, number> {
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const component = new Map<number, number>();
  let counter = 0;
  let components = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: number; targets: readonly number[]; at: number }[] = [];
    const open = (node: number): void => {
      index.set(node, counter);
      low.set(node, counter);
      counter += 1;
      stack.push(node);
      onStack.add(node);
      work.push({ node, targets: next(node), at: 0 });
    };
    open(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.at < frame.targets.length) {
        const target = frame.targets[frame.at]!;
        frame.at += 1;
        if (!index.has(target)) open(target);
        else if (onStack.has(target)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        let member: number;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.set(member, components);
        } while (member !== frame.node);
        components += 1;
      }
    }
  }
  return component;
}
