// Measures ActionRegistry.validateParams on the built package (run `pnpm build` first).
// Usage: node bench/params.bench.js   (or: pnpm --filter @agent-safe/registry bench)
import { ActionRegistry } from '../dist/index.js';

const registry = ActionRegistry.fromDefinitions([
  {
    name: 'scale-deployment',
    version: '1.0.0',
    description: 'Scale a deployment',
    risk_class: 'medium',
    target_types: ['k8s-deployment'],
    parameters: [
      {
        name: 'namespace',
        type: 'string',
        constraints: { max_length: 63, pattern: '[a-z0-9]([-a-z0-9]*[a-z0-9])?' },
      },
      { name: 'deployment', type: 'string', constraints: { max_length: 253 } },
      { name: 'replicas', type: 'integer', constraints: { min_value: 0, max_value: 100 } },
    ],
  },
]);

const cases = {
  'valid (3 params)': { namespace: 'payments', deployment: 'api-server', replicas: 3 },
  'invalid (above max + unknown)': {
    namespace: 'payments',
    deployment: 'api-server',
    replicas: 101,
    evil_extra: 'hack',
  },
};

const BATCH = 100;
const BATCHES = 20_000;

for (const [label, params] of Object.entries(cases)) {
  let sink = 0;
  for (let index = 0; index < 50_000; index++)
    sink += registry.validateParams('scale-deployment', params).ok ? 1 : 0;
  const perOp = new Float64Array(BATCHES);
  const started = process.hrtime.bigint();
  for (let batch = 0; batch < BATCHES; batch++) {
    const begin = process.hrtime.bigint();
    for (let index = 0; index < BATCH; index++)
      sink += registry.validateParams('scale-deployment', params).ok ? 1 : 0;
    perOp[batch] = Number(process.hrtime.bigint() - begin) / BATCH;
  }
  // Keeps the results observable so the loop is not optimised away.
  globalThis.benchSink = sink;
  const totalNs = Number(process.hrtime.bigint() - started);
  perOp.sort();
  const percentile = (p) =>
    perOp[Math.min(perOp.length - 1, Math.floor((p / 100) * perOp.length))].toFixed(0);
  const operations = BATCH * BATCHES;
  console.log(
    `${label}: ${Math.round((operations / totalNs) * 1e9).toLocaleString('en')} ops/s, ` +
      `p50 ${percentile(50)} ns, p99 ${percentile(99)} ns per call (batches of ${BATCH})`,
  );
}
