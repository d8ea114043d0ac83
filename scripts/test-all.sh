#!/usr/bin/env bash
# Sets up everything, then runs lint, typecheck and every package's tests.
# Prints a final "N passed, N failed" line summed over all packages.
# Works on a fresh machine with only Node 20 + npm: pnpm comes from scripts/ensure-pnpm.sh (a user
# cache, never npm -g), redis-server from scripts/ensure-redis.sh (apt-get, only as root), and moto from
# scripts/services.sh install moto (a Python venv under ~/.cache/agent-safe, outside the clone), and the
# Kubernetes test binaries from scripts/services.sh install k8s (built with Go, cached there too).
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
. scripts/ensure-pnpm.sh || { echo "pnpm setup failed"; echo "0 passed, 1 failed"; exit 1; }
bash scripts/ensure-redis.sh || { echo "redis setup failed"; echo "0 passed, 1 failed"; exit 1; }
# moto (the S3 API of the audit shipping tests): a venv cached outside the clone, installed once per machine.
bash scripts/services.sh install moto >&2 || echo "moto setup failed: the S3 shipping tests will fail and say what to run" >&2
# schemathesis (the server's API fuzz test, packages/server/test/schemathesis.test.ts): a venv cached the same way.
bash scripts/services.sh install schemathesis >&2 || echo "schemathesis setup failed: the server's schemathesis test will fail and say what to run" >&2
# Kubernetes (etcd + kube-apiserver + kube-controller-manager + kubectl for the executor-k8s tests): built from
# the Go module proxy into ~/.cache/agent-safe/k8s-<version> once per machine (~12-17 min, progress printed), then a no-op.
bash scripts/services.sh install k8s >&2 || echo "k8s setup failed: the Kubernetes tests will fail and say what to run" >&2
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

status=0
"$PNPM" turbo run lint typecheck --output-logs=errors-only || status=1
[ $status -eq 0 ] || echo "lint/typecheck failed" >&2

results=$PWD/.jest-results
rm -rf "$results"
JEST_RESULTS_DIR=$results "$PNPM" turbo run test --concurrency=1 --continue || status=1

node - "$results" "$status" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const [dir, status] = process.argv.slice(2);
const packages = fs.readdirSync('packages').filter((p) => fs.existsSync(path.join('packages', p, 'jest.config.js')));
let passed = 0, failed = 0;
for (const name of packages) {
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) { console.log(`${name}: no test results (jest did not finish)`); failed += 1; continue; }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += r.passed; failed += r.failed + r.pending;
  if (r.pending) console.log(`${name}: ${r.pending} skipped/todo tests count as failures`);
  if (r.suitesFailed && !r.failed) failed += r.suitesFailed;
}
if (status !== '0' && failed === 0) { console.log('lint, typecheck or a test run failed (see above)'); failed = 1; }
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
JS
