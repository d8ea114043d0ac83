#!/usr/bin/env bash
# Installs the workspace's dependencies and builds every package. Safe to run repeatedly.
# Installs nothing outside the clone except, when no pnpm 10.34.8 is on PATH, pnpm itself into a user
# cache (see scripts/ensure-pnpm.sh): no global npm packages, no system packages, no root needed.
# Servers for the integration tests are the test command's business (scripts/test-all.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
. scripts/ensure-pnpm.sh
"$PNPM" install --frozen-lockfile >&2
"$PNPM" turbo run build --output-logs=errors-only >&2
