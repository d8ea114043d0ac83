#!/usr/bin/env bash
# Test setup only (scripts/test-all.sh): the Redis integration tests start private redis-server processes
# on loopback and are never skipped. Installs Debian's redis-server when it is missing and this runs as
# root with apt-get (CI on a fresh machine); otherwise says what to run. The quickstart never calls this.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing redis-server (apt-get) for the Redis integration tests…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2 ||
    echo "could not install redis-server" >&2
else
  echo "redis-server is missing: install it (sudo apt-get install redis-server; macOS: brew install redis) or the Redis tests will fail" >&2
fi
