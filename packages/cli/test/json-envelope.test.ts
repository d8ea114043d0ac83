import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { errorsFromException, writeEnvelope } from '../src/json-envelope.js';

function written(write: (stream: PassThrough) => void): string {
  const stream = new PassThrough();
  write(stream);
  return String(stream.read());
}

describe('the JSON envelope', () => {
  it('derives ok from the exit code and defaults data and errors', () => {
    const text = written((stream) => writeEnvelope(stream, { command: 'audit show', exitCode: 0 }));
    expect(JSON.parse(text)).toEqual({
      command: 'audit show',
      ok: true,
      exitCode: 0,
      data: null,
      errors: [],
    });
    const failed = JSON.parse(
      written((stream) =>
        writeEnvelope(stream, {
          command: 'check',
          exitCode: 2,
          data: { result: 'DENY' },
          errors: [{ code: 'USAGE', message: 'x' }],
        }),
      ),
    );
    expect(failed.ok).toBe(false);
    expect(failed.data).toEqual({ result: 'DENY' });
  });

  it('still prints a well-formed envelope when the payload cannot be serialised', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const parsed = JSON.parse(
      written((stream) => writeEnvelope(stream, { command: 'check', exitCode: 0, data: cycle })),
    );
    expect(parsed.ok).toBe(false);
    expect(parsed.exitCode).toBe(1);
    expect(parsed.data).toBeNull();
    expect(parsed.errors[0].code).toBe('INTERNAL');
  });

  it('escapes C1 controls and DEL so a terminal never receives them raw', () => {
    const text = written((stream) =>
      writeEnvelope(stream, { command: 'audit show', exitCode: 0, data: { caller: 'a\u009b31mb\u007f' } }),
    );
    expect(text).not.toMatch(/[\u007f-\u009f]/);
    expect(JSON.parse(text).data.caller).toBe('a\u009b31mb\u007f');
  });

  it('turns errors into one entry per problem', () => {
    const located = Object.assign(new Error('2 files are invalid'), {
      code: 'CONFIG_INVALID',
      issues: [
        { message: 'bad priority', file: 'p.yaml', path: 'rules[0].priority' },
        { message: 'unknown key', file: 'q.yaml' },
      ],
      describe: () => '',
    });
    expect(errorsFromException(located)).toEqual([
      { code: 'CONFIG_INVALID', message: 'bad priority', file: 'p.yaml', path: 'rules[0].priority' },
      { code: 'CONFIG_INVALID', message: 'unknown key', file: 'q.yaml' },
    ]);
    const plain = Object.assign(new Error('no such log'), { code: 'FILE_UNREADABLE', describe: () => '' });
    expect(errorsFromException(plain)).toEqual([{ code: 'FILE_UNREADABLE', message: 'no such log' }]);
    const system = Object.assign(new Error('EISDIR: illegal operation'), { code: 'EISDIR' });
    expect(errorsFromException(system)).toEqual([{ code: 'INTERNAL', message: 'EISDIR: illegal operation' }]);
  });
});
