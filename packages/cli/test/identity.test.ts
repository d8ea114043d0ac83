import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RedisServer, startRedisServer } from '../../store-redis/test/redis-server.js';
import { cli } from './run-cli.js';

let project: string;

/** The decision of `check --json-output`: the envelope's `data`. */
function decisionOf(stdout: string) {
  const document = JSON.parse(stdout);
  return document.data ?? document;
}
let deployerToken: string;
const scale = ['--params', '{"namespace":"staging","deployment":"api-server","replicas":2}'];
/** What an executor about to run that scale tells `ticket verify`. */
const scaleRequest = ['--action', 'scale-deployment', '--target', 'staging/api-server', ...scale];

/** `agent-safe check scale-deployment` on staging as the deployer (token caller): its JSON decision. */
function checkScaleAsDeployer() {
  const check = cli(
    [
      'check',
      'scale-deployment',
      '--target',
      'staging/api-server',
      '--caller',
      'env:TOKEN',
      ...scale,
      '--json-output',
    ],
    project,
    { TOKEN: deployerToken },
  );
  expect(check.code).toBe(0);
  return decisionOf(check.stdout);
}

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-identity-'));
  project = join(root, 'p');
  expect(cli(['init', project], root).code).toBe(0);
  const keygen = cli(['identity', 'keygen', '--out', 'keys'], project);
  expect(keygen.code).toBe(0);
  expect(statSync(join(project, 'keys', 'signing-key.secret')).mode & 0o777).toBe(0o600);
  appendFileSync(join(project, 'agent-safe.yaml'), 'signing_key: file:keys/signing-key.secret\n');
  const created = cli(['identity', 'create', '--agent-id', 'deploy-bot', '--roles', 'deployer'], project);
  expect(created.stderr).toBe('');
  deployerToken = created.stdout.trim();
  expect(deployerToken.split('.')).toHaveLength(3);
});

describe('identity tokens and execution tickets from the CLI', () => {
  it('checks with a token caller, prints an execution ticket, and verifies it exactly once', () => {
    const decision = checkScaleAsDeployer();
    expect(decision).toMatchObject({ result: 'ALLOW', caller: 'deploy-bot', callerAuthenticated: true });
    const ticket = decision.ticket.token as string;
    const store = join(project, 'nonces');
    const wrong = cli(
      ['ticket', 'verify', ticket, ...scaleRequest, '--action', 'delete-pod', '--nonce-store', store],
      project,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/ACTION_MISMATCH/);
    const first = cli(
      [
        'ticket',
        'verify',
        '-',
        '--action',
        'scale-deployment',
        '--target',
        'staging/api-server',
        ...scale,
        '--nonce-store',
        store,
      ],
      project,
      {},
      ticket,
    );
    expect(first.stdout).toMatch(/✓ valid/);
    expect(first.code).toBe(0);
    const replay = cli(
      ['ticket', 'verify', ticket, ...scaleRequest, '--nonce-store', store, '--json-output'],
      project,
    );
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout)).toMatchObject({
      command: 'ticket verify',
      ok: false,
      data: { code: 'REPLAYED' },
      errors: [{ code: 'TICKET_INVALID' }],
    });
    const events = readFileSync(join(project, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(
      events.filter((event) => event.event_type === 'ticket_validation').map((event) => event.failure_code),
    ).toEqual(['ACTION_MISMATCH', null, 'REPLAYED']);
    expect(cli(['audit', 'verify', 'audit.jsonl'], project).code).toBe(0);
  });

  it('refuses plain caller ids once identity is configured, and tokens signed with another key', () => {
    const plain = cli(
      [
        'check',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--caller',
        'deploy-bot',
        '--params',
        '{"namespace":"dev","deployment":"app"}',
      ],
      project,
    );
    expect(plain.code).toBe(2);
    expect(plain.stdout).toMatch(/identity token is required/);
    const other = mkdtempSync(join(tmpdir(), 'agent-safe-other-'));
    cli(['identity', 'keygen', '--out', other], project);
    const forged = cli(
      [
        'identity',
        'create',
        '--agent-id',
        'deploy-bot',
        '--roles',
        'deployer',
        '--signing-key',
        `file:${join(other, 'signing-key.secret')}`,
      ],
      project,
    ).stdout.trim();
    const denied = cli(
      [
        'check',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--caller',
        forged,
        '--params',
        '{"namespace":"dev","deployment":"app"}',
      ],
      project,
    );
    expect(denied.code).toBe(2);
    expect(denied.stdout).toMatch(/identity token refused \(SIGNATURE\)/);
  });

  it('delegates with narrowed scope, refuses widening, and verifies the chain', () => {
    const widened = cli(
      ['delegation', 'create', deployerToken, '--child-id', 'worker-1', '--roles', 'admin'],
      project,
    );
    expect(widened.code).toBe(1);
    expect(widened.stderr).toMatch(/refused.*admin/);
    const child = cli(
      ['delegation', 'create', '-', '--child-id', 'worker-1', '--roles', 'deployer'],
      project,
      {},
      deployerToken,
    );
    expect(child.code).toBe(0);
    const verify = cli(['delegation', 'verify', child.stdout.trim()], project);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/deploy-bot \[deployer\] → worker-1/);
    const tampered = `${child.stdout.trim().slice(0, -4)}AAAA`;
    expect(cli(['delegation', 'verify', tampered], project).code).toBe(1);
  });

  it('never takes a key as a literal argument and never echoes it', () => {
    const secret = 's3cr3t-value-that-must-not-leak-0123456789abcdef';
    const result = cli(['identity', 'create', '--agent-id', 'x', '--signing-key', secret], project);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).toMatch(/env:|file:/);
  });

  it('lets an executor verify EdDSA tickets with the public JWKS only', () => {
    const root = mkdtempSync(join(tmpdir(), 'agent-safe-eddsa-'));
    const dir = join(root, 'p');
    cli(['init', dir], root);
    expect(cli(['identity', 'keygen', '--algorithm', 'EdDSA', '--out', 'keys'], dir).code).toBe(0);
    appendFileSync(
      join(dir, 'agent-safe.yaml'),
      'signing_key: file:keys/signing-key.pem\nsigning_algorithm: EdDSA\nallow_plain_callers: true\n',
    );
    const check = cli(
      [
        'check',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--caller',
        'bot',
        '--params',
        '{"namespace":"dev","deployment":"app"}',
        '--json-output',
      ],
      dir,
    );
    expect(check.code).toBe(0);
    const { ticket, callerAuthenticated } = decisionOf(check.stdout);
    expect(callerAuthenticated).toBe(false);
    const jwks = JSON.parse(readFileSync(join(dir, 'keys', 'jwks.json'), 'utf8'));
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    const verified = cli(
      [
        'ticket',
        'verify',
        ticket.token,
        '--algorithm',
        'EdDSA',
        '--jwks',
        'file:keys/jwks.json',
        '--action',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--params',
        '{"namespace":"dev","deployment":"app"}',
      ],
      dir,
    );
    expect(verified.stdout).toMatch(/✓ valid/);
    expect(verified.code).toBe(0);
    const confused = cli(
      [
        'ticket',
        'verify',
        ticket.token,
        '--algorithm',
        'HS256',
        '--signing-key',
        'file:keys/public-key.pem',
        '--action',
        'restart-deployment',
        '--target',
        'dev/test-app',
        '--params',
        '{"namespace":"dev","deployment":"app"}',
      ],
      dir,
    );
    expect(confused.code).toBe(1);
  });
});

describe('ticket verify with a Redis nonce store', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  function freshTicket(): string {
    return checkScaleAsDeployer().ticket.token as string;
  }

  it('accepts a ticket once across processes sharing Redis, and fails closed naming Redis when it is down', async () => {
    const ticket = freshTicket();
    const first = cli(
      ['ticket', 'verify', ticket, ...scaleRequest, '--nonce-store', redis.url, '--json-output'],
      project,
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ ok: true, errors: [] });
    const replay = cli(
      ['ticket', 'verify', ticket, ...scaleRequest, '--nonce-store', redis.url, '--json-output'],
      project,
    );
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout)).toMatchObject({ ok: false, data: { code: 'REPLAYED' } });
    const unused = freshTicket();
    await redis.kill();
    try {
      const down = cli(
        ['ticket', 'verify', unused, ...scaleRequest, '--nonce-store', redis.url, '--json-output'],
        project,
      );
      expect(down.code).toBe(1);
      const refused = JSON.parse(down.stdout).data;
      expect(refused).toMatchObject({ code: 'NONCE_STORE' });
      expect(refused.reason).toMatch(
        new RegExp(`Redis store at 127\\.0\\.0\\.1:${redis.port} is unavailable`),
      );
      // The refusal is audited like every other outcome.
      const events = readFileSync(join(project, 'audit.jsonl'), 'utf8').trim().split('\n');
      expect(JSON.parse(events.at(-1)!)).toMatchObject({
        event_type: 'ticket_validation',
        failure_code: 'NONCE_STORE',
      });
    } finally {
      await redis.restart();
    }
    // Nothing was consumed while Redis was down: the ticket is still good once.
    const later = cli(['ticket', 'verify', unused, ...scaleRequest, '--nonce-store', redis.url], project);
    expect(later.code).toBe(0);
    expect(later.stdout).toMatch(/✓ valid/);
  });
});
