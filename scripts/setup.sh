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
# Integration tests run against a real Redis server (Debian's package); install it when missing.
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing redis-server (apt-get)…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2 || echo "could not install redis-server" >&2
  else
    echo "redis-server is missing: install it (sudo apt-get install redis-server) or the Redis tests will fail" >&2
  fi
fi
pnpm install --frozen-lockfile >&2
pnpm turbo run build --output-logs=errors-only >&2
