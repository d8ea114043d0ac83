// Throughput of identity tokens on the built package: `pnpm --filter @agent-safe/identity bench`
// (run `build` first). Prints operations per second; nothing here is asserted.
import { createSigningKey, generateKeyPair, IdentityManager } from '../dist/index.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 1000);

async function measure(label, operation) {
  for (let index = 0; index < 200; index += 1) await operation(index);
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < DURATION_MS) {
    for (let index = 0; index < 100; index += 1) await operation(count + index);
    count += 100;
  }
  const seconds = (performance.now() - start) / 1000;
  const perSecond = Math.round(count / seconds);
  console.log(
    `${label.padEnd(42)} ${perSecond.toLocaleString('en-US').padStart(12)} ops/s  ${((seconds * 1e6) / count).toFixed(2).padStart(8)} µs/op`,
  );
  return perSecond;
}

async function bench(algorithm) {
  const signingKey =
    algorithm === 'HS256'
      ? await createSigningKey({ algorithm, material: 'bench-secret-0123456789-0123456789-abcdef' })
      : await generateKeyPair({ algorithm });
  const manager = await IdentityManager.create({ algorithm, signingKey });
  const uncached = await IdentityManager.create({ algorithm, signingKey, cacheMaxEntries: 0 });
  const options = { agentId: 'deploy-agent-01', roles: ['deployer', 'reader'], groups: ['platform-team'] };
  await measure(`${algorithm} createToken`, () => manager.createToken(options));
  const tokens = await Promise.all(Array.from({ length: 1000 }, () => manager.createToken(options)));
  await measure(`${algorithm} verify (uncached)`, async (index) => {
    const result = await uncached.verify(tokens[index % tokens.length]);
    if (!result.ok) throw new Error(result.reason);
  });
  await measure(`${algorithm} verify (cached)`, async (index) => {
    const result = await manager.verify(tokens[index % tokens.length]);
    if (!result.ok) throw new Error(result.reason);
  });
  const child = await manager.delegate({
    parentToken: tokens[0],
    childAgentId: 'worker-01',
    childRoles: ['deployer'],
  });
  const grandchild = await manager.delegate({ parentToken: child.token, childAgentId: 'worker-02' });
  await measure(`${algorithm} verify depth-2 chain (uncached)`, async () => {
    const result = await uncached.verify(grandchild.token);
    if (!result.ok) throw new Error(result.reason);
  });
}

console.log(`node ${process.version}, ${DURATION_MS} ms per measurement`);
for (const algorithm of ['HS256', 'EdDSA', 'ES256']) await bench(algorithm);
