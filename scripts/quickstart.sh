#!/usr/bin/env bash
# The quickstart on embedded defaults: set up, scaffold a project, validate it, run its policy tests,
# evaluate checks (ALLOW, REQUIRE_APPROVAL, DENY) and verify the audit log. Files only, no servers.
# Installs only the workspace's dependencies (pnpm install, inside the clone) and, when no pnpm 10.34.8
# is on PATH, pnpm into a user cache (scripts/ensure-pnpm.sh): no npm -g, no apt-get, no root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cli="node $PWD/packages/cli/bin/agent-safe.js"
demo=${1:-$(mktemp -d)/myproject}
run() { echo; echo "\$ agent-safe $*"; $cli "$@" && code=0 || code=$?; echo "(exit $code)"; }

run init "$demo"
cd "$demo"
run validate
run test tests/
run list-actions --risk high
run check restart-deployment --target dev/test-app --caller deploy-agent --params '{"namespace": "dev", "deployment": "app"}'
run check restart-deployment --target prod/api-server --caller deploy-agent --params '{"namespace": "prod", "deployment": "api-server"}' --ticket-id JIRA-1234
run check scale-deployment --target dev/test-app --caller deploy-agent --params '{"namespace": "dev", "deployment": "app", "replicas": 500}' --explain
run audit verify audit.jsonl
run audit show audit.jsonl --last 3
echo; echo "Project left in $demo"
