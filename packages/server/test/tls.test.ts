import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { copyProject } from './helpers.js';

/** Certificates made at test time with openssl: a CA, a server cert for 127.0.0.1, client certs. */
let pki: Record<
  'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'rogueCert' | 'rogueKey',
  string
>;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const authority = (name: string) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.crt`),
    );
  const issue = (name: string, ca: string, extensions: string) => {
    writeFileSync(at(`${name}.ext`), extensions);
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      at(`${name}.key`),
      '-out',
      at(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      at(`${name}.csr`),
      '-CA',
      at(`${ca}.crt`),
      '-CAkey',
      at(`${ca}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      at(`${name}.ext`),
      '-out',
      at(`${name}.crt`),
    );
  };
  authority('test-ca');
  authority('rogue-ca');
  issue('server', 'test-ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  issue('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string) => readFileSync(at(name), 'utf8');
  pki = {
    ca: read('test-ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    rogueCert: read('rogue.crt'),
    rogueKey: read('rogue.key'),
  };
});

let running: AgentSafeServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** GET over HTTPS trusting the test CA, with an optional client certificate; the status or the error code. */
function get(url: string, client?: { cert: string; key: string }): Promise<number | string> {
  return new Promise((done) => {
    const call = request(`${url}/healthz`, { ca: pki.ca, agent: false, ...client }, (response) => {
      response.resume();
      response.on('end', () => done(response.statusCode ?? 0));
    });
    call.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    call.end();
  });
}

describe('TLS', () => {
  it('serves HTTPS with the given certificate', async () => {
    running = await startServer({
      port: 0,
      config: { cwd: copyProject(), config: false, auditLog: false },
      tls: { cert: pki.serverCert, key: pki.serverKey },
    });
    expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(running.url)).toBe(200);
  });

  it('with a client CA (mTLS), answers clients whose certificate it signed and refuses the others in the handshake', async () => {
    running = await startServer({
      port: 0,
      config: { cwd: copyProject(), config: false, auditLog: false },
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
    });
    expect(await get(running.url, { cert: pki.clientCert, key: pki.clientKey })).toBe(200);
    // No HTTP status at all: the TLS layer refused the connection (an alert, or a reset after it).
    const refused = /^(ERR_SSL_|ECONNRESET$|EPIPE$)/;
    expect(String(await get(running.url))).toMatch(refused);
    expect(String(await get(running.url, { cert: pki.rogueCert, key: pki.rogueKey }))).toMatch(refused);
  });

  it('refuses settings that are not PEM, and a client certificate requirement without a CA', async () => {
    const config = { cwd: copyProject(), config: false as const, auditLog: false as const };
    await expect(
      startServer({ port: 0, config, tls: { cert: '/etc/server.crt', key: pki.serverKey } }),
    ).rejects.toThrow('tls.cert must be PEM text');
    await expect(
      startServer({
        port: 0,
        config,
        tls: { cert: pki.serverCert, key: pki.serverKey, requestClientCert: true },
      }),
    ).rejects.toThrow('tls.requestClientCert needs tls.ca');
  });
});
