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

describe('key material never reaches the output or the audit log', () => {
  const KEY = 'signing-secret-that-must-never-be-logged-0123456789';
  const request = [
    'check',
    'restart-deployment',
    '--target',
    'dev/test-app',
    '--params',
    '{"namespace":"dev","deployment":"test-app"}',
  ];

  function project(config: string): string {
    const root = scratch();
    expect(cli(['init', 'p'], root).code).toBe(0);
    const dir = join(root, 'p');
    writeFileSync(join(dir, 'agent-safe.yaml'), config);
    return dir;
  }

  it('refuses a bare signing_key value (it may be the key) without echoing it, in check and validate', () => {
    const dir = project(`signing_key: ${KEY}\n`);
    for (const args of [[...request, '--caller', 'bot'], ['validate']]) {
      const result = cli(args, dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('signing_key: expected a key source, env:NAME or file:PATH');
      expect(`${result.stdout}${result.stderr}`).not.toContain(KEY);
    }
    expect(existsSync(join(dir, 'audit.jsonl'))).toBe(false);
  });

  it('refuses --caller env:/file: sources that hold the signing key, and writes no audit event', () => {
    const dir = project('signing_key: env:AGENT_SAFE_SIGNING_KEY\n');
    const env = { AGENT_SAFE_SIGNING_KEY: KEY, COPY: KEY };
    for (const caller of ['env:AGENT_SAFE_SIGNING_KEY', 'env:COPY']) {
      const result = cli([...request, '--caller', caller], dir, env);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`--caller ${caller} holds the signing key, not a caller`);
      expect(`${result.stdout}${result.stderr}`).not.toContain(KEY);
    }
    const stdin = cli([...request, '--caller', '-'], dir, env, `${KEY}\n`);
    expect(stdin.stderr).toContain('--caller - holds the signing key');
    expect(existsSync(join(dir, 'audit.jsonl'))).toBe(false);

    const fileProject = project('signing_key: file:keys/signing-key.secret\n');
    expect(cli(['identity', 'keygen', '--out', 'keys'], fileProject).code).toBe(0);
    const byFile = cli([...request, '--caller', 'file:./keys/../keys/signing-key.secret'], fileProject);
    expect(byFile.code).toBe(1);
    expect(byFile.stderr).toContain('holds the signing key, not a caller');
    expect(existsSync(join(fileProject, 'audit.jsonl'))).toBe(false);
  });

  it('never echoes a --signing-key value that is not a readable source', () => {
    const dir = scratch();
    for (const value of [`${KEY}/with/slashes`, `env:${KEY}-not-a-name!`]) {
      const result = cli(['identity', 'create', '--agent-id', 'bot', '--signing-key', value], dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/not shown/);
      expect(result.stderr).not.toContain(KEY);
    }
  });
});

describe('validate loads the configured keys', () => {
  function project(config: string): string {
    const root = scratch();
    expect(cli(['init', 'p'], root).code).toBe(0);
    const dir = join(root, 'p');
    writeFileSync(join(dir, 'agent-safe.yaml'), config);
    return dir;
  }

  it.each([
    [
      'an unset variable',
      'signing_key: env:H2_UNSET_KEY\n',
      {},
      'Environment variable H2_UNSET_KEY is not set',
    ],
    [
      'a too-short secret',
      'signing_key: env:H2_SHORT_KEY\n',
      { H2_SHORT_KEY: 'short' },
      'at least 32 are required',
    ],
    ['a missing file', 'signing_key: file:keys/none.secret\n', {}, 'Key file could not be read (ENOENT)'],
    [
      'a JWKS that is not a key set',
      'signing_algorithm: EdDSA\nverification_keys: env:H2_NOT_JWKS\n',
      { H2_NOT_JWKS: '{"kty":"OKP"}' },
      'not a JSON Web Key Set',
    ],
  ])('reports %s as an error naming the setting (exit 1), not "Valid"', (_, config, env, why) => {
    const dir = project(config);
    const result = cli(['validate'], dir, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/error keys: (signing_key|verification_keys): /);
    expect(result.stdout).toContain(why);
    expect(result.stdout).toContain('every check is DENY until it loads');
    expect(result.stdout).not.toMatch(/^Valid/m);
    const json = JSON.parse(cli(['validate', '--json-output'], dir, env).stdout);
    expect(json).toMatchObject({ ok: false, exitCode: 1 });
    expect(json.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: expect.stringMatching(/^(signing_key|verification_keys)$/) }),
      ]),
    );
  });

  it('says the key loads when it does', () => {
    const dir = project('signing_key: env:H2_GOOD_KEY\n');
    const result = cli(['validate'], dir, { H2_GOOD_KEY: SECRET });
    expect(result.stdout).toContain('✓ keys: signing_key: HS256 signing key loads from env:H2_GOOD_KEY');
    expect(result.stdout).not.toContain(SECRET);
    expect(result.code).toBe(0);
  });
});
