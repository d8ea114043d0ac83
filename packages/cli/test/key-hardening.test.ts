import { chmodSync, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

const SECRET = 'key-hardening-secret-0123456789-abcdefghijkl';

function scratch(mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-key-hardening-'));
  chmodSync(dir, mode);
  return dir;
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at |unexpected failure/);

describe('identity keygen writes keys only where nobody else can swap them', () => {
  it('refuses a directory other users can write, naming it and the fix, and writes nothing', () => {
    const shared = scratch(0o777);
    const result = cli(['identity', 'keygen', '--out', shared], shared);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--out ${shared} is writable by other users (mode 777); refused`);
    expect(result.stderr).toContain(`chmod 700 ${shared}`);
    noStack(result.stderr);
    expect(readdirSync(shared)).toEqual([]);
    const group = scratch(0o770);
    expect(cli(['identity', 'keygen', '--out', group], group).stderr).toContain('(mode 770)');
  });

  it('accepts a sticky shared directory (as /tmp) and writes 0600 private, 0644 public files', () => {
    const sticky = scratch(0o1777);
    const result = cli(['identity', 'keygen', '--algorithm', 'EdDSA', '--out', sticky], sticky);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statSync(join(sticky, 'signing-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(sticky, 'public-key.pem')).mode & 0o777).toBe(0o644);
    expect(statSync(join(sticky, 'jwks.json')).mode & 0o777).toBe(0o644);
  });

  it('creates a missing --out directory 0700', () => {
    const parent = scratch();
    expect(cli(['identity', 'keygen', '--out', 'keys'], parent).code).toBe(0);
    expect(statSync(join(parent, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(parent, 'keys', 'signing-key.secret')).mode & 0o777).toBe(0o600);
  });

  it('never overwrites: an existing file is a clear error, and no half key pair is written', () => {
    const dir = scratch();
    expect(cli(['identity', 'keygen', '--out', 'k'], dir).code).toBe(0);
    const before = statSync(join(dir, 'k', 'signing-key.secret')).mtimeMs;
    const again = cli(['identity', 'keygen', '--out', 'k'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `${join(dir, 'k', 'signing-key.secret')} already exists; keygen never overwrites a key`,
    );
    noStack(again.stderr);
    expect(statSync(join(dir, 'k', 'signing-key.secret')).mtimeMs).toBe(before);
    writeFileSync(join(dir, 'k', 'jwks.json'), '{}');
    const pair = cli(['identity', 'keygen', '--algorithm', 'ES256', '--out', 'k'], dir);
    expect(pair.code).toBe(1);
    expect(pair.stderr).toContain('jwks.json already exists');
    expect(existsSync(join(dir, 'k', 'signing-key.pem'))).toBe(false);
  });
});

describe('key files other users can read or write are refused when loaded', () => {
  it.each([
    ['644', 'is readable by other users (mode 644)'],
    ['640', 'is readable by other users (mode 640)'],
    ['666', 'is writable by other users (mode 666)'],
    ['620', 'is writable by other users (mode 620)'],
  ])('refuses a signing secret with mode %s, naming the file and chmod 600', (octal, why) => {
    const mode = Number.parseInt(octal, 8);
    const dir = scratch();
    const key = join(dir, 'key.secret');
    writeFileSync(key, SECRET);
    chmodSync(key, mode);
    const result = cli(['identity', 'create', '--agent-id', 'bot', '--signing-key', `file:${key}`], dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(why);
    expect(result.stderr).toContain(`chmod 600 ${key}`);
    expect(result.stderr).not.toContain(SECRET);
    noStack(result.stderr);
    chmodSync(key, 0o600);
    expect(cli(['identity', 'create', '--agent-id', 'bot', '--signing-key', `file:${key}`], dir).code).toBe(
      0,
    );
  });
});
