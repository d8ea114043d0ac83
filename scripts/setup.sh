#!/usr/bin/env bash
# Installs the toolchain and dependencies, then builds every package. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
PNPM_VERSION=10.34.8
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm $PNPM_VERSION (npm i -g)…" >&2
  npm install --global --no-audit --no-fund "pnpm@$PNPM_VERSION" >&2
fi
pnpm install --frozen-lockfile >&2
pnpm turbo run build --output-logs=errors-only >&2
