import { describe, expect, it } from '@jest/globals';
import * as v from 'valibot';
import { CheckRequestSchema, MAX_ID_LENGTH } from '../src/schemas.js';

describe('wire schemas (@agent-safe/core/schemas)', () => {
  it('accepts a well-formed check request and rejects unknown fields and over-long ids', () => {
    expect(
      v.safeParse(CheckRequestSchema, { action: 'restart-deployment', target: 'dev/app', params: { a: 1 } })
        .success,
    ).toBe(true);
    expect(v.safeParse(CheckRequestSchema, { action: 'x', colour: 'red' }).success).toBe(false);
    expect(v.safeParse(CheckRequestSchema, { action: 'x'.repeat(MAX_ID_LENGTH + 1) }).success).toBe(false);
    expect(v.safeParse(CheckRequestSchema, { action: '' }).success).toBe(false);
  });
});
