import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from '@agent-safe/core';
import { newScanResult, scanCanonicalLine } from '../src/canonical-line-scanner.js';
import { fastCanonicalJson } from '../src/fast-canonical-json.js';

// A small deterministic generator so failures reproduce.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const STRINGS = [
  '',
  'a',
  'hash',
  'prev_hash',
  'é',
  '"',
  '\\',
  '\n',
  '\u0001',
  '\ud800',
  '😀',
  '/',
  'Z',
  '10',
  '9',
  '__proto__',
];
const NUMBERS = [0, -0, 1, -1, 0.5, 1e21, 1e-7, 123456789012345, 1234567890123456800, -3.25, 2 ** 53];

function value(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 4 : 6));
  if (pick === 0) return STRINGS[Math.floor(next() * STRINGS.length)];
  if (pick === 1) return NUMBERS[Math.floor(next() * NUMBERS.length)];
  if (pick === 2) return [true, false, null][Math.floor(next() * 3)];
  if (pick === 3) return `${STRINGS[Math.floor(next() * STRINGS.length)]}${Math.floor(next() * 100)}`;
  if (pick === 4) return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
  const record: Record<string, unknown> = {};
  for (let index = Math.floor(next() * 5); index > 0; index--) {
    Object.defineProperty(record, STRINGS[Math.floor(next() * STRINGS.length)]!, {
      value: value(next, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return record;
}

function event(next: () => number): Record<string, unknown> {
  const body = value(next, 0);
  return {
    ...(body !== null && typeof body === 'object' && !Array.isArray(body) ? body : { extra: body }),
    event_type: 'decision',
    sequence: 1 + Math.floor(next() * 1000),
    prev_hash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
  };
}

function mutate(line: string, next: () => number): string {
  const position = Math.floor(next() * line.length);
  const choices = [' ', ',', '"', '\\', '0', '-', '.', 'e', '{', '}', 'x', 'é', '\\u0041'];
  const kind = Math.floor(next() * 3);
  const insert = choices[Math.floor(next() * choices.length)]!;
  if (kind === 0) return line.slice(0, position) + insert + line.slice(position);
  if (kind === 1) return line.slice(0, position) + line.slice(position + 1);
  return line.slice(0, position) + insert + line.slice(position + 1);
}

describe('fastCanonicalJson', () => {
  it('agrees with core canonicalJson on random values', () => {
    const next = random(7);
    for (let index = 0; index < 3000; index++) {
      const sample = value(next, 0);
      expect(fastCanonicalJson(sample)).toBe(canonicalJson(sample));
    }
  });

  it('refuses what core refuses', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, () => 1, 1n, Symbol('s')]) {
      expect(() => fastCanonicalJson({ bad })).toThrow(TypeError);
    }
  });
});

describe('scanCanonicalLine (verify fast path)', () => {
  it('accepts only lines that are exactly the canonical JSON of what they parse to', () => {
    const next = random(11);
    const scan = newScanResult();
    let accepted = 0;
    for (let index = 0; index < 4000; index++) {
      const canonical = canonicalJson(event(next));
      const line = index % 2 === 0 ? canonical : mutate(canonical, next);
      const bytes = Buffer.from(line);
      if (!scanCanonicalLine(bytes, 0, bytes.length, scan)) continue;
      accepted++;
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(line).toBe(canonicalJson(parsed));
      expect(Buffer.byteLength(line)).toBe(line.length);
      // Cutting the hash member out of the bytes equals canonicalising the event without it.
      if (scan.hashMemberStart >= 0) {
        const { hash: _hash, ...rest } = parsed;
        const cut =
          bytes[scan.hashMemberStart - 1] === 0x2c
            ? line.slice(0, scan.hashMemberStart - 1) + line.slice(scan.hashValueEnd)
            : line.slice(0, scan.hashMemberStart) + line.slice(scan.hashValueEnd + 1);
        expect(cut).toBe(canonicalJson(rest));
      }
    }
    expect(accepted).toBeGreaterThan(500);
  });

  it('rejects whitespace, duplicate or unsorted keys, non-canonical numbers and escapes', () => {
    const scan = newScanResult();
    for (const line of [
      '{"a":1, "b":2}',
      '{"a":1,"a":2}',
      '{"b":1,"a":2}',
      '{"a":1.0}',
      '{"a":-0}',
      '{"a":1e2}',
      '{"a":"\\u0041"}',
      '{"a":"\\/"}',
      '{"a":01}',
      '{"a":1}x',
      '{"a\\n":1}',
      '{"a":"é"}',
      '{"a":[1,]}',
      '{"a":tru}',
    ]) {
      const bytes = Buffer.from(line);
      expect([line, scanCanonicalLine(bytes, 0, bytes.length, scan)]).toEqual([line, false]);
    }
  });
});
