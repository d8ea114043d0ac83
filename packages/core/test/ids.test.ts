import { describe, expect, it } from '@jest/globals';
import { MAX_ID_LENGTH, escapeForTerminal, isSafeId, unsafeIdReason } from '../src/index.js';

describe('unsafeIdReason', () => {
  it('accepts ordinary ids, including non-ASCII letters', () => {
    for (const id of [
      'deploy-agent',
      'prod/api-server',
      'JIRA-1234',
      'agent.é.ü',
      'a'.repeat(MAX_ID_LENGTH),
    ]) {
      expect(unsafeIdReason(id)).toBeUndefined();
      expect(isSafeId(id)).toBe(true);
    }
  });

  it.each([
    ['newline', 'agent\nforged line'],
    ['carriage return', 'agent\rx'],
    ['escape sequence', 'agent\u001b[31mred'],
    ['DEL', 'agent\u007f'],
    ['C1 control', 'agent\u009b'],
    ['line separator', 'agent\u2028x'],
    ['bidi override', 'agent\u202etxt.exe'],
    ['bidi isolate', 'agent\u2066x'],
    ['NUL', 'agent\u0000'],
  ])('refuses %s, naming the character and its position', (_name, id) => {
    const reason = unsafeIdReason(id);
    expect(reason).toMatch(/control characters \(found U\+[0-9A-F]{4} at position 6\)/);
    expect(isSafeId(id)).toBe(false);
  });

  it('refuses empty, blank and over-long ids', () => {
    expect(unsafeIdReason('')).toBe('must not be empty');
    expect(unsafeIdReason('   ')).toBe('must not be blank');
    expect(unsafeIdReason('a'.repeat(MAX_ID_LENGTH + 1))).toBe(`must be at most ${MAX_ID_LENGTH} characters`);
    expect(unsafeIdReason('abcd', 3)).toBe('must be at most 3 characters');
  });
});

describe('escapeForTerminal', () => {
  it('leaves safe text as it is (same string)', () => {
    const text = 'prod/api-server é';
    expect(escapeForTerminal(text)).toBe(text);
  });

  it('escapes controls, separators and bidi characters', () => {
    expect(escapeForTerminal('a\nb\u001b[2Jc\u202ed')).toBe('a\\u{a}b\\u{1b}[2Jc\\u{202e}d');
  });
});
