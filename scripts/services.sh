#!/usr/bin/env bash
# Starts/stops the real servers the integration tests and local replicas use.
#   scripts/services.sh up|down|status
# Redis: redis-server on 127.0.0.1:${AGENT_SAFE_REDIS_PORT:-6390}, no persistence, state under .services/
# (git-ignored). Prints the URL to use, e.g. RedisStore.connect({ url }).
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

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status   (AGENT_SAFE_REDIS_PORT, default 6390)" >&2
    exit 2
    ;;
esac
