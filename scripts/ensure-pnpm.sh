# Sourced (`. scripts/ensure-pnpm.sh`), never run: makes pnpm 10.34.8 the `pnpm` on PATH for the calling
# script and its children (turbo needs pnpm on PATH), without touching the user's global packages.
#   - a pnpm 10.34.8 already on PATH is used as it is;
#   - otherwise pnpm is installed once into a per-user cache, ${XDG_CACHE_HOME:-~/.cache}/agent-safe/,
#     keyed by version (npm install --prefix: no -g, no root, nothing outside that directory), and that
#     directory's bin is put first on PATH. AGENT_SAFE_TOOLS_DIR overrides the cache location.
# Exports PNPM (the command) and PATH.
AGENT_SAFE_PNPM_VERSION=10.34.8
if [ "$(pnpm --version 2>/dev/null || true)" != "$AGENT_SAFE_PNPM_VERSION" ]; then
  agent_safe_tools=${AGENT_SAFE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe}/pnpm-$AGENT_SAFE_PNPM_VERSION
  if [ "$("$agent_safe_tools/node_modules/.bin/pnpm" --version 2>/dev/null || true)" != "$AGENT_SAFE_PNPM_VERSION" ]; then
    echo "installing pnpm $AGENT_SAFE_PNPM_VERSION into $agent_safe_tools (a user cache; your global pnpm is untouched)…" >&2
    mkdir -p "$agent_safe_tools"
    npm install --prefix "$agent_safe_tools" --no-save --no-package-lock --no-audit --no-fund \
      "pnpm@$AGENT_SAFE_PNPM_VERSION" >&2
  fi
  PATH="$agent_safe_tools/node_modules/.bin:$PATH"
  export PATH
  if [ "$(pnpm --version 2>/dev/null || true)" != "$AGENT_SAFE_PNPM_VERSION" ]; then
    echo "could not provide pnpm $AGENT_SAFE_PNPM_VERSION (see the npm output above)" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
PNPM=pnpm
export PNPM
