// Nanoseconds added per request by RateLimitGuard.before() + after() with the in-memory stores.
// Run after a build: `pnpm --filter @agent-safe/ratelimit bench`. Reports p50/p99 over batches.
import { performance } from 'node:perf_hooks';
import { RateLimitGuard } from '../dist/index.js';

const BATCH = 10_000;
const BATCHES = 200;
const CALLERS = 1_000;
const callers = Array.from({ length: CALLERS }, (_, index) => `agent-${index.toString().padStart(4, '0')}`);

function newGuard() {
  return new RateLimitGuard({
    // High enough that the limit never refuses: the bench measures the admitted path.
    maxRequests: 1_000_000_000,
    windowSeconds: 60,
    circuitBreakerThreshold: 10,
    circuitBreakerCooldownSeconds: 300,
  });
}

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

async function measure(name, run) {
  const samples = [];
  for (let batch = 0; batch < BATCHES + 20; batch++) {
    const start = performance.now();
    await run(batch);
    const nsPerCall = ((performance.now() - start) * 1e6) / BATCH;
    if (batch >= 20) samples.push(nsPerCall); // first batches are JIT warm-up
  }
  samples.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(44)} p50 ${percentile(samples, 0.5).toFixed(0).padStart(5)} ns   p99 ${percentile(samples, 0.99).toFixed(0).padStart(5)} ns`,
  );
}

let sink = 0;

const syncGuard = newGuard();
await measure('beforeSync + after (1000 callers, sync)', (batch) => {
  for (let index = 0; index < BATCH; index++) {
    const result = syncGuard.beforeSync(callers[(batch * BATCH + index) % CALLERS]);
    if (result.ok) syncGuard.after(result.token, false);
    else sink++;
  }
});

const asyncGuard = newGuard();
await measure('await before() + await after() (1000 callers)', async (batch) => {
  for (let index = 0; index < BATCH; index++) {
    const result = await asyncGuard.before(callers[(batch * BATCH + index) % CALLERS]);
    if (result.ok) await asyncGuard.after(result.token, false);
    else sink++;
  }
});

// Every request denied, threshold out of reach: measures the denial bookkeeping of a closed breaker.
const deniedGuard = new RateLimitGuard({
  maxRequests: 1_000_000_000,
  windowSeconds: 60,
  circuitBreakerThreshold: 1_000_000_000,
  circuitBreakerCooldownSeconds: 300,
});
await measure('await before() + await after(denied)', async (batch) => {
  for (let index = 0; index < BATCH; index++) {
    const result = await deniedGuard.before(callers[(batch * BATCH + index) % CALLERS]);
    if (result.ok) await deniedGuard.after(result.token, true);
    else sink++;
  }
});

// A paused caller: the refusal path (breaker open), which builds the reason text.
const pausedGuard = new RateLimitGuard({ maxRequests: 100, circuitBreakerThreshold: 1 });
const paused = await pausedGuard.before('paused-agent');
if (paused.ok) await pausedGuard.after(paused.token, true);
await measure('await before() refused (breaker open)', async () => {
  for (let index = 0; index < BATCH; index++) {
    const result = await pausedGuard.before('paused-agent');
    if (!result.ok) sink++;
  }
});

if (sink < 0) console.log(sink); // keeps results alive
