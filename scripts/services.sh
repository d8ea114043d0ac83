#!/usr/bin/env bash
# Starts/stops the real servers the integration tests and local replicas use.
#   scripts/services.sh up|down|status [redis|moto]     (default: both)
#   scripts/services.sh install moto                    (only installs moto, e.g. before the tests)
# Redis: redis-server on 127.0.0.1:${AGENT_SAFE_REDIS_PORT:-6390}, no persistence, state under .services/
# (git-ignored). Prints the URL to use, e.g. RedisStore.connect({ url }).
# moto (an S3 API for the audit shipping tests): moto 5.2.5 in a Python venv cached OUTSIDE the clone,
# under ${AGENT_SAFE_MOTO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/moto-5.2.5} (installed on first
# use, ~20 s), served on http://127.0.0.1:${AGENT_SAFE_MOTO_PORT:-5055}. Prints AWS_ENDPOINT_URL=….
# The tests start private servers of their own from the same venv; `up` is for trying things by hand.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
services="$root/.services"
port="${AGENT_SAFE_REDIS_PORT:-6390}"
redis_dir="$services/redis-$port"
pid_file="$redis_dir/redis.pid"
url="redis://127.0.0.1:$port"

if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then
  echo "AGENT_SAFE_REDIS_PORT must be a port number (got '$port')" >&2
  exit 2
fi

redis_running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]
  else
    # bash /dev/tcp fallback when only redis-server is installed
    exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    local reply
    read -r -t 1 reply <&3 || true
    exec 3>&-
    [[ "$reply" == +PONG* ]]
  fi
}

up() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server is not installed. Install it with: sudo apt-get install -y redis-server" >&2
    echo "(macOS: brew install redis)" >&2
    exit 1
  fi
  mkdir -p "$redis_dir"
  if redis_running; then
    echo "redis already running (pid $(cat "$pid_file")): $url"
    return
  fi
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --save '' --appendonly no \
    --dir "$redis_dir" --daemonize yes --pidfile "$pid_file" --logfile "$redis_dir/redis.log"
  for _ in $(seq 1 100); do
    if redis_answers; then
      echo "redis up: $url"
      return
    fi
    sleep 0.1
  done
  echo "redis-server did not answer on port $port; see $redis_dir/redis.log" >&2
  exit 1
}

down() {
  if redis_running; then
    local pid
    pid="$(cat "$pid_file")"
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "redis stopped ($url)"
  else
    echo "redis not running ($url)"
  fi
  rm -f "$pid_file"
}

status() {
  if redis_running && redis_answers; then
    echo "redis running (pid $(cat "$pid_file")): $url"
  else
    echo "redis not running ($url)"
    return 3
  fi
}

moto_version=5.2.5
moto_dir="${AGENT_SAFE_MOTO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/moto-$moto_version}"
moto_python="$moto_dir/venv/bin/python"
moto_port="${AGENT_SAFE_MOTO_PORT:-5055}"
moto_state="$services/moto-$moto_port"
moto_url="http://127.0.0.1:$moto_port"

if ! [[ "$moto_port" =~ ^[0-9]+$ ]] || (( moto_port < 1 || moto_port > 65535 )); then
  echo "AGENT_SAFE_MOTO_PORT must be a port number (got '$moto_port')" >&2
  exit 2
fi

moto_installed() {
  [[ "$("$moto_python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" == "$moto_version" ]]
}

moto_install() {
  if moto_installed; then return; fi
  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is not installed; moto (the S3 API the audit shipping tests use) needs Python 3 with venv and pip" >&2
    exit 1
  fi
  mkdir -p "$moto_dir"
  if ! python3 -m venv "$moto_dir/venv" >/dev/null 2>&1; then
    rm -rf "$moto_dir/venv"
    # Debian/Ubuntu ship venv separately.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing python3-venv (apt-get) for moto…" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >&2
      python3 -m venv "$moto_dir/venv"
    else
      echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv), then run $0 install moto" >&2
      exit 1
    fi
  fi
  echo "installing moto $moto_version into $moto_dir (once per machine, ~20 s)…" >&2
  PIP_NO_CACHE_DIR=1 "$moto_python" -m pip install --quiet --disable-pip-version-check \
    "moto[s3]==$moto_version" flask flask-cors >&2
  moto_installed || { echo "moto $moto_version did not install into $moto_dir" >&2; exit 1; }
}

moto_running() {
  [[ -f "$moto_state/moto.pid" ]] && kill -0 "$(cat "$moto_state/moto.pid")" 2>/dev/null
}

moto_answers() {
  if command -v curl >/dev/null 2>&1; then
    curl -sf "$moto_url/moto-api/data.json" >/dev/null 2>&1
  else
    "$moto_python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "$moto_url/moto-api/data.json" >/dev/null 2>&1
  fi
}

moto_up() {
  moto_install
  mkdir -p "$moto_state"
  if moto_running; then
    echo "moto already running (pid $(cat "$moto_state/moto.pid")): AWS_ENDPOINT_URL=$moto_url"
    return
  fi
  nohup "$moto_python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$moto_state/moto.log" 2>&1 &
  echo $! >"$moto_state/moto.pid"
  for _ in $(seq 1 150); do
    if moto_answers; then
      echo "moto up: AWS_ENDPOINT_URL=$moto_url"
      return
    fi
    moto_running || break
    sleep 0.1
  done
  echo "moto did not answer on port $moto_port; see $moto_state/moto.log" >&2
  exit 1
}

moto_down() {
  if moto_running; then
    local pid
    pid="$(cat "$moto_state/moto.pid")"
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "moto stopped ($moto_url)"
  else
    echo "moto not running ($moto_url)"
  fi
  rm -f "$moto_state/moto.pid"
}

moto_status() {
  if moto_running && moto_answers; then
    echo "moto running (pid $(cat "$moto_state/moto.pid")): AWS_ENDPOINT_URL=$moto_url"
  else
    echo "moto not running ($moto_url)$(moto_installed || echo "; not installed: $0 install moto")"
    return 3
  fi
}

which="${2:-all}"
case "$which" in
  all | redis | moto) ;;
  *)
    echo "unknown service '$which' (redis or moto)" >&2
    exit 2
    ;;
esac

case "${1:-}" in
  up)
    if [[ "$which" != moto ]]; then up; fi
    if [[ "$which" != redis ]]; then moto_up; fi
    ;;
  down)
    if [[ "$which" != moto ]]; then down; fi
    if [[ "$which" != redis ]]; then moto_down; fi
    ;;
  status)
    code=0
    if [[ "$which" != moto ]]; then status || code=$?; fi
    if [[ "$which" != redis ]]; then moto_status || code=$?; fi
    exit "$code"
    ;;
  install)
    if [[ "$which" != moto ]]; then
      echo "usage: $0 install moto   (redis-server comes from the system: scripts/ensure-redis.sh)" >&2
      exit 2
    fi
    moto_install
    echo "moto $moto_version installed in $moto_dir"
    ;;
  *)
    echo "usage: $0 up|down|status [redis|moto] | $0 install moto" >&2
    echo "  (AGENT_SAFE_REDIS_PORT default 6390, AGENT_SAFE_MOTO_PORT default 5055, AGENT_SAFE_MOTO_DIR)" >&2
    exit 2
    ;;
esac
