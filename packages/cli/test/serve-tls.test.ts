import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from '@jest/globals';
import { BIN, cli } from './run-cli.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  for (const [name, extensions] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl('req', ...ec, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  }
}

/** Resolves with the first line the child prints on stdout. */
function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((done, fail) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code} before printing its URL`)));
  });
}

const KEY = 'serve-tls-test-signing-key-0123456789abcdef';

it('serve: the server: block gives TLS with client certificates (mTLS) and the admin roles; a client without a certificate is refused', async () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-tls-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  makeCertificates(project);
  appendFileSync(
    join(project, 'agent-safe.yaml'),
    '\nsigning_key: env:SERVE_TLS_TEST_KEY\nserver:\n  admin_roles: [ops]\n  tls:\n    cert: server.crt\n    key: server.key\n    client_ca: ca.crt\n',
  );
  const minted = cli(['identity', 'create', '--agent-id', 'ops-bot', '--roles', 'ops'], project, {
    SERVE_TLS_TEST_KEY: KEY,
  });
  expect(minted.code).toBe(0);
  const opsToken = minted.stdout.trim();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    cwd: project,
    env: { ...process.env, AGENT_SAFE_SIGNING_KEY: '', SERVE_TLS_TEST_KEY: KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    const url = /^agent-safe serve listening on (https:\/\/127\.0\.0\.1:\d+)$/.exec(
      await firstLine(child),
    )?.[1];
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(join(project, 'ca.crt'), 'utf8');
    const get = (client: { cert?: string; key?: string }, path = '/healthz', token?: string) =>
      new Promise<number | string>((done) => {
        const headers = token ? { authorization: `Bearer ${token}` } : {};
        const method = path === '/healthz' ? 'GET' : 'POST';
        const call = request(
          `${url}${path}`,
          { ca, agent: false, method, headers, ...client },
          (response) => {
            response.resume();
            response.on('end', () => done(response.statusCode ?? 0));
          },
        );
        call.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
        call.end();
      });
    const client = {
      cert: readFileSync(join(project, 'client.crt'), 'utf8'),
      key: readFileSync(join(project, 'client.key'), 'utf8'),
    };
    expect(await get(client)).toBe(200);
    // admin_roles from the server: block: a token with role ops may reload.
    expect(await get(client, '/v1/admin/reload', opsToken)).toBe(200);
    expect(String(await get({}))).toMatch(/^(ERR_SSL_|ECONNRESET$|EPIPE$)/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});

it('serve: refuses half a TLS setup, an unreadable certificate and a missing Slack secret, naming them', () => {
  const project = join(mkdtempSync(join(tmpdir(), 'agent-safe-serve-tls-')), 'p');
  expect(cli(['init', project], tmpdir()).code).toBe(0);
  const half = cli(['serve', '--port', '0', '--tls-key', 'server.key'], project);
  expect(half.code).toBe(1);
  expect(half.stderr).toContain('--tls-key needs --tls-cert');
  const missing = cli(['serve', '--port', '0', '--tls-cert', 'nope.crt', '--tls-key', 'nope.key'], project);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('--tls-cert');
  expect(missing.stderr).toContain('nope.crt');
  appendFileSync(
    join(project, 'agent-safe.yaml'),
    '\nserver:\n  slack:\n    signing_secret: env:AGENT_SAFE_TEST_SLACK_SECRET_UNSET\n    users: { U0123ABCD: alice }\n',
  );
  const slack = cli(['serve', '--port', '0'], project);
  expect(slack.code).toBe(1);
  expect(slack.stderr).toContain('server.slack.signing_secret');
  expect(slack.stderr).toContain('AGENT_SAFE_TEST_SLACK_SECRET_UNSET');
});
