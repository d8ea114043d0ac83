import { describe, expect, it } from '@jest/globals';
import { AUDIT_GENESIS_HASH, canonicalJson } from '@agent-safe/core';
import type { AuditEventBody } from '@agent-safe/core';
import { BatchEncoder } from '../src/batch-encoder.js';
import { hashAuditEvent } from '../src/index.js';
import { prepareEvent } from '../src/prepared-event.js';

// A small deterministic generator so failures reproduce.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// Keys on both sides of each chain member, and keys that order differently as numbers and as strings.
const KEYS = [
  'action',
  'h',
  'has',
  'hasg',
  'hash_',
  'hashes',
  'i',
  'p',
  'prev',
  'prev_hasg',
  'prev_hash_',
  'prev_hashes',
  'q',
  'seq',
  'sequenc',
  'sequence_',
  'sequencer',
  'z',
  'é',
  '😀',
  'A',
  '_',
  '',
  '10',
  '9',
  '__proto__',
  'constructor',
];
const STRINGS = ['', 'plain', 'é', '"', '\\', '\n', '\u0001', '\ud800', '😀', '\u2028', 'x'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 0.5, 1e21, 1e-7, 123456789012345, -3.25, 2 ** 53];

function value(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 4 : 6));
  if (pick === 0) return STRINGS[Math.floor(next() * STRINGS.length)];
  if (pick === 1) return NUMBERS[Math.floor(next() * NUMBERS.length)];
  if (pick === 2) return [true, false, null, undefined][Math.floor(next() * 4)];
  if (pick === 3) return `${STRINGS[Math.floor(next() * STRINGS.length)]}${Math.floor(next() * 100)}`;
  if (pick === 4) return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
  return record(next, depth + 1, Math.floor(next() * 5));
}

function record(next: () => number, depth: number, members: number): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (let index = members; index > 0; index--) {
    // defineProperty, so that `__proto__` becomes an own member as it does from JSON.parse.
    Object.defineProperty(result, KEYS[Math.floor(next() * KEYS.length)]!, {
      value: value(next, depth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

function body(next: () => number): AuditEventBody {
  return {
    ...record(next, 0, Math.floor(next() * 10)),
    event_id: `evt-${Math.floor(next() * 1e6)}`,
    timestamp: '2025-01-01T00:00:00.000Z',
    event_type: STRINGS[Math.floor(next() * STRINGS.length)] || 'decision',
  } as AuditEventBody;
}

/** What the log must store for `body` at this chain position, computed the slow, obvious way. */
function expected(body: AuditEventBody, sequence: number, prevHash: string): { line: string; hash: string } {
  const stored: Record<string, unknown> = JSON.parse(JSON.stringify({ ...body }));
  stored.sequence = sequence;
  stored.prev_hash = prevHash;
  const hash = hashAuditEvent(stored as never);
  stored.hash = hash;
  return { line: canonicalJson(stored), hash };
}

describe('BatchEncoder', () => {
  it('writes the canonical line and hash of random bodies, chained within and across batches', () => {
    const next = random(11);
    const encoder = new BatchEncoder();
    let prevHash = AUDIT_GENESIS_HASH;
    let sequence = 0;
    for (let batch = 0; batch < 150; batch++) {
      encoder.reset();
      const leadingNewline = batch % 7 === 3;
      if (leadingNewline) encoder.newline();
      const wanted: string[] = [];
      for (let index = Math.floor(next() * 12); index >= 0; index--) {
        const sample = body(next);
        // Sequences of every length, including ones above 2^32.
        sequence = batch === 100 && index === 0 ? 2 ** 53 - 1 : sequence + 1 + Math.floor(next() * 3) ** 9;
        const want = expected(sample, sequence, prevHash);
        const hash = encoder.append(
          prepareEvent(sample, { file: 'test', maxEventBytes: 1024 * 1024 }),
          sequence,
          prevHash,
        );
        expect(hash).toBe(want.hash);
        wanted.push(want.line);
        prevHash = hash;
      }
      expect(encoder.bytes().toString('utf8')).toBe(`${leadingNewline ? '\n' : ''}${wanted.join('\n')}\n`);
    }
  });

  it('handles bodies with only the required members, and members on one side of the chain members', () => {
    const encoder = new BatchEncoder();
    const base = { event_id: 'e', timestamp: 't', event_type: 'x' };
    const samples: AuditEventBody[] = [
      base,
      { ...base, a: 1 },
      { ...base, h: 'é' },
      { ...base, hat: 'é' },
      { ...base, prev: '😀', pz: 2 },
      { ...base, r: [1, 'é'] },
      { ...base, zz: { é: 'é', a: null } },
      { ...base, a: 'é', hat: 'é', r: 'é', zz: 'é' },
    ];
    let prevHash = AUDIT_GENESIS_HASH;
    for (const [index, sample] of samples.entries()) {
      encoder.reset();
      const hash = encoder.append(
        prepareEvent(sample, { file: 'test', maxEventBytes: 4096 }),
        index + 1,
        prevHash,
      );
      const want = expected(sample, index + 1, prevHash);
      expect(encoder.bytes().toString('utf8')).toBe(`${want.line}\n`);
      expect(hash).toBe(want.hash);
      prevHash = hash;
    }
  });

  it('keeps bodies of many shapes apart (more shapes than it caches, keys in any insertion order)', () => {
    const encoder = new BatchEncoder();
    for (let round = 0; round < 3; round++) {
      for (let shape = 0; shape < 40; shape++) {
        const members: [string, unknown][] = [
          [`k${shape}`, shape],
          ['event_id', 'e'],
          ['zeta', { [`n${shape % 5}`]: 1, a: [shape] }],
          ['timestamp', 't'],
          ['event_type', 'x'],
        ];
        if (shape % 2 === 1) members.reverse();
        const sample = Object.fromEntries(members) as AuditEventBody;
        encoder.reset();
        encoder.append(prepareEvent(sample, { file: 'test', maxEventBytes: 4096 }), 1, AUDIT_GENESIS_HASH);
        expect(encoder.bytes().toString('utf8')).toBe(`${expected(sample, 1, AUDIT_GENESIS_HASH).line}\n`);
      }
    }
  });

  it('grows its buffer for an event larger than the buffer, keeping what the batch already holds', () => {
    const encoder = new BatchEncoder();
    encoder.reset();
    const small = { event_id: 'a', timestamp: 't', event_type: 'x' };
    const large = { event_id: 'b', timestamp: 't', event_type: 'x', reason: 'é'.repeat(400_000) };
    const first = encoder.append(
      prepareEvent(small, { file: 'test', maxEventBytes: 4096 }),
      1,
      AUDIT_GENESIS_HASH,
    );
    encoder.append(prepareEvent(large, { file: 'test', maxEventBytes: 1024 * 1024 }), 2, first);
    expect(encoder.bytes().toString('utf8')).toBe(
      `${expected(small, 1, AUDIT_GENESIS_HASH).line}\n${expected(large, 2, first).line}\n`,
    );
  });
});

describe('prepareEvent', () => {
  it('applies the size limit to the members and the commas between them, wherever they sort', () => {
    const base = { event_id: 'e', timestamp: 't', event_type: 'x' };
    // Groups split by the chain members: event_id and event_type sort before hash, timestamp after
    // sequence; the commas next to a chain member are not the body's and are not counted.
    for (const [key, groups] of [
      ['a', 2],
      ['hat', 3],
      ['q', 3],
      ['zz', 2],
    ] as const) {
      const sample = { ...base, [key]: 'é'.repeat(200) };
      const size = Buffer.byteLength(canonicalJson(sample)) - 2 - (groups - 1);
      expect(() => prepareEvent(sample, { file: 'test', maxEventBytes: size })).not.toThrow();
      expect(() => prepareEvent(sample, { file: 'test', maxEventBytes: size - 1 })).toThrow(
        `serialises to ${size} bytes`,
      );
    }
  });

  it('refuses a chain member even when its value is undefined', () => {
    const base = { event_id: 'e', timestamp: 't', event_type: 'x' };
    for (const key of ['sequence', 'prev_hash', 'hash']) {
      expect(() =>
        prepareEvent({ ...base, [key]: undefined }, { file: 'test', maxEventBytes: 4096 }),
      ).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    }
  });
});
