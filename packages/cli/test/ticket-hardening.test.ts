import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { TicketIssuer } from '@agent-safe/sdk';
import { cli } from './run-cli.js';

const SECRET = 'ticket-hardening-secret-0123456789-abcdefghij';
const PARAMS = { namespace: 'dev', deployment: 'app' };
const REQUEST = ['--action', 'restart-deployment', '--target', 'dev/test-app'];

let dir: string;
let key: string[];
const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET });

async function ticket(params: Record<string, unknown> = PARAMS): Promise<string> {
  const issued = await issuer.issue({
    action: 'restart-deployment',
    target: 'dev/test-app',
    caller: 'deploy-bot',
    params,
    auditId: 'evt-1',
    policyRevision: 'rev-1',
  });
  return issued.token;
}

function verify(args: string[], input?: string) {
  return cli(['ticket', 'verify', ...args, ...key, '--no-audit'], dir, {}, input);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-safe-ticket-hardening-'));
  writeFileSync(join(dir, 'key.secret'), `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'params.json'), JSON.stringify(PARAMS));
  key = ['--signing-key', `file:${join(dir, 'key.secret')}`];
});

describe('ticket verify checks the ticket against the whole request', () => {
  it.each([
    [[], '--action, --target, --params (or --params-file) missing'],
    [['--action', 'restart-deployment'], '--target, --params (or --params-file) missing'],
    [[...REQUEST], '--params (or --params-file) missing'],
    [['--target', 'dev/test-app', '--params', '{}'], '--action missing'],
  ])('refuses to say valid when it is not told the request (%j)', async (args, missing) => {
    const result = verify([await ticket(), ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toMatch(/valid/);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain('--inspect');
  });

  it('checks the params digest: other params are refused, the same params in any order accepted', async () => {
    const token = await ticket();
    const other = verify([token, ...REQUEST, '--params', '{"namespace":"payments","deployment":"app"}']);
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/PARAMS_MISMATCH/);
    const none = verify([token, ...REQUEST, '--params', '{}']);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/PARAMS_MISMATCH/);
    const same = verify([token, ...REQUEST, '--params', '{"deployment":"app","namespace":"dev"}']);
    expect(same.stdout).toMatch(/✓ valid/);
    expect(same.code).toBe(0);
  });

  it('reads params from a file or from standard input', async () => {
    const fromFile = verify([await ticket(), ...REQUEST, '--params-file', join(dir, 'params.json')]);
    expect(fromFile.stdout).toMatch(/✓ valid/);
    expect(fromFile.code).toBe(0);
    const fromStdin = verify([await ticket(), ...REQUEST, '--params-file', '-'], JSON.stringify(PARAMS));
    expect(fromStdin.stdout).toMatch(/✓ valid/);
    expect(fromStdin.code).toBe(0);
    const both = verify(['-', ...REQUEST, '--params-file', '-'], 'x');
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/cannot both be read from standard input/);
    const twice = verify([await ticket(), ...REQUEST, '--params', '{}', '--params-file', 'params.json']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/either --params or --params-file/);
  });

  it('refuses devices, FIFOs, directories and oversized params files without hanging', async () => {
    const token = await ticket();
    const fifo = join(dir, 'params.fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"a":"${'x'.repeat(1024 * 1024)}"}`);
    for (const [path, why] of [
      ['/dev/zero', 'a character device, not a regular file'],
      [fifo, 'a named pipe, not a regular file'],
      [dir, 'a directory, not a regular file'],
      [big, 'larger than the 1048576-byte limit'],
      [join(dir, 'missing.json'), 'no such file'],
    ] as const) {
      const result = verify([token, ...REQUEST, '--params-file', path]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`--params-file ${path}`);
      expect(result.stderr).toContain(why);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('never echoes params that are not valid JSON (they may hold a secret)', async () => {
    const result = verify([await ticket(), ...REQUEST, '--params', '{"password": hunter2-secret}']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--params is not valid JSON/);
    expect(result.stderr).not.toContain('hunter2');
    const array = verify([await ticket(), ...REQUEST, '--params', '[1]']);
    expect(array.stderr).toMatch(/--params must be a JSON object/);
  });
});

describe('ticket verify --inspect', () => {
  it('shows the claims, says plainly that nothing was verified against a request, exits 1 and consumes nothing', async () => {
    const token = await ticket();
    const inspected = verify([token, '--inspect']);
    expect(inspected.code).toBe(1);
    expect(inspected.stdout).toContain('NOT VERIFIED AGAINST A REQUEST');
    expect(inspected.stdout).not.toMatch(/✓ valid/);
    expect(inspected.stdout).toMatch(/action {4}restart-deployment/);
    expect(inspected.stdout).toMatch(/target {4}dev\/test-app/);
    const json = verify([token, '--inspect', '--json-output']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      command: 'ticket verify',
      ok: false,
      exitCode: 1,
      data: { code: 'EXPECTATION_MISSING', inspected: true, verifiedAgainstRequest: false },
      errors: [
        { code: 'TICKET_INVALID', message: expect.stringContaining('NOT VERIFIED AGAINST A REQUEST') },
      ],
    });
    expect(JSON.parse(json.stdout).data.valid).toBeUndefined();
    // Nothing was consumed: the ticket verifies once afterwards against its request.
    const store = join(dir, 'nonces');
    mkdirSync(store, { mode: 0o700 });
    chmodSync(store, 0o700);
    const used = verify([token, ...REQUEST, '--params', JSON.stringify(PARAMS), '--nonce-store', store]);
    expect(used.code).toBe(0);
    const replay = verify([token, ...REQUEST, '--params', JSON.stringify(PARAMS), '--nonce-store', store]);
    expect(replay.stdout).toMatch(/REPLAYED/);
  });

  it('still refuses a forged ticket, and is not combined with a request or a nonce store', async () => {
    const forged = `${(await ticket()).slice(0, -6)}AAAAAA`;
    const result = verify([forged, '--inspect']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/SIGNATURE/);
    expect(result.stdout).not.toContain('NOT VERIFIED AGAINST A REQUEST');
    const mixed = verify([await ticket(), '--inspect', ...REQUEST, '--nonce-store', join(dir, 'n2')]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/--inspect checks no request.*drop --action, --target, --nonce-store/);
  });
});

describe('the JSON envelope of the identity and ticket commands', () => {
  const json = (args: string[], input?: string) => {
    const result = cli([...args, ...key, '--json-output'], dir, {}, input);
    return { code: result.code, stderr: result.stderr, document: JSON.parse(result.stdout) };
  };

  it('identity create, delegation create and delegation verify print one envelope each', () => {
    const created = json(['identity', 'create', '--agent-id', 'lead', '--roles', 'deployer']);
    expect(created).toMatchObject({
      code: 0,
      document: { command: 'identity create', ok: true, exitCode: 0, errors: [], data: { agentId: 'lead' } },
    });
    const parent = created.document.data.token as string;
    const child = json(['delegation', 'create', '-', '--child-id', 'worker'], parent);
    expect(child.document).toMatchObject({
      command: 'delegation create',
      ok: true,
      data: { depth: 1, chain: [{ agentId: 'lead' }] },
    });
    expect(child.document.data.success).toBeUndefined();
    const verified = json(['delegation', 'verify', child.document.data.token]);
    expect(verified.document).toMatchObject({
      command: 'delegation verify',
      ok: true,
      data: { caller: { agentId: 'worker', authenticated: true }, delegationDepth: 1 },
    });
    expect(verified.document.data.ok).toBeUndefined();
    expect(verified.document.data.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const widened = json(['delegation', 'create', parent, '--child-id', 'w2', '--roles', 'admin']);
    expect(widened).toMatchObject({
      code: 1,
      document: { ok: false, data: { code: 'DELEGATION' }, errors: [{ code: 'IDENTITY_INVALID' }] },
    });
    const tampered = json(['delegation', 'verify', `${parent.slice(0, -6)}AAAAAA`]);
    expect(tampered).toMatchObject({
      code: 1,
      document: {
        ok: false,
        data: { code: 'SIGNATURE' },
        errors: [{ code: 'IDENTITY_INVALID', path: 'token' }],
      },
    });
  });

  it('ticket verify: valid, refused and a usage error are envelopes too', async () => {
    const token = await ticket();
    const request = [...REQUEST, '--params', JSON.stringify(PARAMS), '--no-audit'];
    const valid = json(['ticket', 'verify', token, ...request]);
    expect(valid).toMatchObject({
      code: 0,
      document: {
        command: 'ticket verify',
        ok: true,
        errors: [],
        data: { ticket: { action: 'restart-deployment' } },
      },
    });
    const refused = json(['ticket', 'verify', token, ...REQUEST, '--params', '{}', '--no-audit']);
    expect(refused.document).toMatchObject({
      ok: false,
      data: { code: 'PARAMS_MISMATCH' },
      errors: [{ code: 'TICKET_INVALID', message: expect.stringMatching(/^PARAMS_MISMATCH: /) }],
    });
    const usage = json(['ticket', 'verify', token, '--no-audit']);
    expect(usage).toMatchObject({
      code: 1,
      document: { command: 'ticket verify', ok: false, data: null, errors: [{ code: 'USAGE' }] },
    });
  });
});
