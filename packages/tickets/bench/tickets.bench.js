// Throughput of ticket issuing and validation on one core (sequential awaits), and of FileNonceStore.
// Run after a build: `pnpm --filter @agent-safe/tickets bench`.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileNonceStore, InMemoryNonceStore, TicketIssuer, TicketValidator } from '../dist/index.js';

const COUNT = Number(process.env.BENCH_COUNT ?? 50_000);
const params = { namespace: 'prod', deployment: 'api', replicas: 3 };
const request = {
  action: 'scale-deployment',
  target: 'prod/api',
  caller: 'agent-01',
  params,
  auditId: 'evt-0123456789abcdef',
  policyRevision: 'rev-1',
};
const expectations = { action: request.action, target: request.target, params };

function rate(count, startedAt) {
  return Math.round(count / ((performance.now() - startedAt) / 1000));
}

async function bench(algorithm, signKey, verifyKey) {
  const issuer = new TicketIssuer({ algorithm, key: signKey });
  const validator = new TicketValidator({ algorithm, key: verifyKey, nonceStore: new InMemoryNonceStore() });
  for (let index = 0; index < 1000; index += 1)
    await validator.validate((await issuer.issue(request)).token, expectations);
  const tokens = new Array(COUNT);
  let startedAt = performance.now();
  for (let index = 0; index < COUNT; index += 1) tokens[index] = (await issuer.issue(request)).token;
  const issued = rate(COUNT, startedAt);
  startedAt = performance.now();
  for (let index = 0; index < COUNT; index += 1) {
    const result = await validator.validate(tokens[index], expectations);
    if (!result.valid) throw new Error(result.reason);
  }
  const validated = rate(COUNT, startedAt);
  console.log(
    `${algorithm.padEnd(6)} issue ${String(issued).padStart(7)}/s   validate ${String(validated).padStart(7)}/s`,
  );
}

await bench(
  'HS256',
  'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
  'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
);
const ed = generateKeyPairSync('ed25519');
await bench('EdDSA', ed.privateKey, ed.publicKey);
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
await bench('ES256', ec.privateKey, ec.publicKey);

// The ceiling for asymmetric validation: the bare OpenSSL verify of a ticket-sized message, no JWS.
{
  const data = Buffer.alloc(420, 0x61);
  const edSignature = sign(null, data, ed.privateKey);
  const ecKey = { key: ec.publicKey, dsaEncoding: 'ieee-p1363' };
  const ecSignature = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  const count = Math.min(COUNT, 20_000);
  let startedAt = performance.now();
  for (let index = 0; index < count; index += 1) verify(null, data, ed.publicKey, edSignature);
  const edRate = rate(count, startedAt);
  startedAt = performance.now();
  for (let index = 0; index < count; index += 1) verify('sha256', data, ecKey, ecSignature);
  console.log(`raw node:crypto verify   EdDSA ${edRate}/s   ES256 ${rate(count, startedAt)}/s`);
}

const directory = mkdtempSync(join(tmpdir(), 'tickets-bench-'));
try {
  const store = new FileNonceStore({ directory, pruneEvery: 0 });
  const expiresAt = Date.now() + 300_000;
  const startedAt = performance.now();
  for (let index = 0; index < COUNT; index += 1) await store.consume(`nonce-${index}`, expiresAt);
  const consumed = rate(COUNT, startedAt);
  const pruneStartedAt = performance.now();
  await store.prune();
  console.log(
    `FileNonceStore consume ${consumed}/s   prune of ${COUNT} live files ${Math.round(performance.now() - pruneStartedAt)} ms`,
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}
