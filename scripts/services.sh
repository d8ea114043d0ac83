#!/usr/bin/env bash
# Starts/stops the real servers the integration tests and local replicas use.
#   scripts/services.sh up|down|status [redis|moto|k8s] (default: redis and moto; k8s only when named)
#   scripts/services.sh install moto|k8s|opa|schemathesis (only installs, e.g. before the tests)
# Redis: redis-server on 127.0.0.1:${AGENT_SAFE_REDIS_PORT:-6390}, no persistence, state under .services/
# (git-ignored). Prints the URL to use, e.g. RedisStore.connect({ url }).
# moto (an S3 API for the audit shipping tests): moto 5.2.5 in a Python venv cached OUTSIDE the clone,
# under ${AGENT_SAFE_MOTO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/moto-5.2.5} (installed on first
# use, ~20 s), served on http://127.0.0.1:${AGENT_SAFE_MOTO_PORT:-5055}. Prints AWS_ENDPOINT_URL=….
# k8s (the executor-k8s tests): etcd v3.7.3, kube-apiserver, kube-controller-manager and kubectl v1.37.2 built
# from the Go module proxy (needs Go >= 1.26; ~12-17 min on 2 cores, once per machine) into
# ${AGENT_SAFE_K8S_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/k8s-v1.37.2}/bin, with Go's module and build
# caches beside it (never in the clone). `up k8s` serves https://127.0.0.1:${AGENT_SAFE_K8S_PORT:-16443} (RBAC
# on, etcd on ${AGENT_SAFE_K8S_ETCD_PORT:-23790}) and prints KUBECONFIG=… (an admin kubeconfig). See docs/test-servers.md.
# opa (the load bench's comparison, packages/server/bench): OPA v1.22.4 built with `go install` from the Go
# module proxy into ${AGENT_SAFE_OPA_DIR:-…/agent-safe/opa-v1.22.4}/bin/opa. schemathesis (the server's API fuzz
# test): schemathesis 4.32.5 in a venv under ${AGENT_SAFE_SCHEMATHESIS_DIR:-…/agent-safe/schemathesis-4.32.5}.
# The tests start private servers of their own from the same caches; `up` is for trying things by hand.
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

# ------------------------------------------------------------------ k8s (kube-apiserver + etcd)
# Pinned versions; the cache directory is keyed by them, so a version bump builds afresh.
k8s_version=v1.37.2
k8s_etcd_version=v3.7.3
k8s_dir="${AGENT_SAFE_K8S_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/k8s-$k8s_version}"
k8s_bin="$k8s_dir/bin"
k8s_api_port="${AGENT_SAFE_K8S_PORT:-16443}"
k8s_etcd_port="${AGENT_SAFE_K8S_ETCD_PORT:-23790}"
k8s_state="$services/k8s-$k8s_api_port"
k8s_components=(kube-apiserver kube-controller-manager kubectl)

for k8s_p in "$k8s_api_port" "$k8s_etcd_port"; do
  if ! [[ "$k8s_p" =~ ^[0-9]+$ ]] || (( k8s_p < 1 || k8s_p > 65534 )); then
    echo "AGENT_SAFE_K8S_PORT / AGENT_SAFE_K8S_ETCD_PORT must be port numbers below 65535 (got '$k8s_p')" >&2
    exit 2
  fi
done

k8s_log() { printf '[k8s %(%T)T] %s\n' -1 "$*" >&2; }

# A binary counts as installed only when it runs and reports the pinned version.
k8s_bin_ok() {
  local out
  case "$1" in
    kubectl) out="$("$k8s_bin/kubectl" version --client 2>/dev/null)" || return 1 ;;
    etcd) out="$("$k8s_bin/etcd" --version 2>/dev/null)" || return 1 ;;
    *) out="$("$k8s_bin/$1" --version 2>/dev/null)" || return 1 ;;
  esac
  case "$1" in
    etcd) [[ "$out" == *"etcd Version: ${k8s_etcd_version#v}"* ]] ;;
    *) [[ "$out" == *"$k8s_version"* ]] ;;
  esac
}

k8s_installed() {
  local c
  for c in "${k8s_components[@]}" etcd; do k8s_bin_ok "$c" || return 1; done
}

# Prints a line every minute while a long, silent step (go build) runs.
k8s_heartbeat() {
  local what=$1 start=$SECONDS
  while sleep 60; do k8s_log "… still $what ($(( (SECONDS - start) / 60 )) min)"; done
}

# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module proxy.
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces its staging modules with ./staging
# paths), so a small wrapper module requires it and replaces each staging module k8s.io/X with the
# published k8s.io/X v0.<minor>.<patch>. etcd's server module likewise gets a one-file main module.
k8s_build() {
  command -v go >/dev/null 2>&1 || {
    echo "go is not installed; building the test cluster needs Go >= 1.26 (https://go.dev/dl/), then: $0 install k8s" >&2
    exit 1
  }
  local t0=$SECONDS
  mkdir -p "$k8s_bin" "$k8s_dir/src/k8s" "$k8s_dir/src/etcd" "$k8s_dir/tmp"
  # Module and build caches live next to the binaries, outside the clone.
  export GOPATH="$k8s_dir/go" GOMODCACHE="$k8s_dir/go/pkg/mod" GOCACHE="$k8s_dir/gocache" \
    GOTMPDIR="$k8s_dir/tmp" GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
  k8s_heartbeat building &
  local hb=$!
  # shellcheck disable=SC2064
  trap "kill $hb 2>/dev/null" EXIT

  local missing=() c
  for c in "${k8s_components[@]}"; do k8s_bin_ok "$c" || missing+=("$c"); done
  if (( ${#missing[@]} > 0 )); then
    k8s_log "reading k8s.io/kubernetes $k8s_version's go.mod"
    local gomod
    gomod="$(cd "$k8s_dir/tmp" && go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$k8s_version")"
    local staging_version="v0.${k8s_version#v1.}"
    # staging modules = required at v0.0.0 AND replaced by ./staging/… (sample-* are replaced but not required)
    local staging
    staging="$(awk '
      /^[[:space:]]*k8s\.io\/[^[:space:]]+ v0\.0\.0([[:space:]]|$)/ { req[$1] = 1 }
      /=>[[:space:]]*\.\/staging\// { for (i = 1; i <= NF; i++) if ($i == "=>") rep[$(i - 1)] = 1 }
      END { for (m in rep) if (m in req) print m }' "$gomod" | sort)"
    [[ -n "$staging" ]] || { echo "no staging modules found in $gomod" >&2; exit 1; }
    k8s_log "wrapper module: $(wc -l <<<"$staging") staging modules pinned to $staging_version"
    {
      printf 'module agent-safe.local/k8s-test-binaries\n\n'
      grep -E '^(go [0-9]|godebug [^(])' "$gomod" || true
      printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$k8s_version"
      while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done <<<"$staging"
      printf ')\n'
    } >"$k8s_dir/src/k8s/go.mod"
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for c in "${k8s_components[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
      printf ')\n'
    } >"$k8s_dir/src/k8s/tools.go"
    k8s_log "go mod tidy: downloading the Kubernetes dependencies (~1 GB, once)"
    (cd "$k8s_dir/src/k8s" && go mod tidy)
    local minor="${k8s_version#v1.}" ldflags="-s -w" pkg
    minor="${minor%%.*}"
    # What --version prints (the proxy's source has no git metadata).
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=none -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    k8s_log "go build ${missing[*]} (cold: ~12-17 min on 2 cores, peak ~2.3 GB RAM)"
    rm -rf "$k8s_dir/bin.new" && mkdir -p "$k8s_dir/bin.new"
    (cd "$k8s_dir/src/k8s" && go build -trimpath -ldflags "$ldflags" -o "$k8s_dir/bin.new/" \
      "${missing[@]/#/k8s.io/kubernetes/cmd/}")
    for c in "${missing[@]}"; do mv -f "$k8s_dir/bin.new/$c" "$k8s_bin/$c"; done
    k8s_log "built ${missing[*]} after $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s"
  fi

  if ! k8s_bin_ok etcd; then
    k8s_log "building etcd $k8s_etcd_version"
    printf 'module agent-safe.local/etcd-binary\n\ngo 1.26.0\n' >"$k8s_dir/src/etcd/go.mod"
    cat >"$k8s_dir/src/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$k8s_dir/src/etcd" && go get "go.etcd.io/etcd/server/v3@$k8s_etcd_version" && go mod tidy \
      && go build -trimpath -ldflags "-s -w" -o "$k8s_dir/bin.new/etcd" .)
    mv -f "$k8s_dir/bin.new/etcd" "$k8s_bin/etcd"
  fi
  rm -rf "$k8s_dir/bin.new"
  kill "$hb" 2>/dev/null || true
  trap - EXIT
  k8s_installed || { echo "the built binaries in $k8s_bin do not report $k8s_version / etcd $k8s_etcd_version" >&2; exit 1; }
  k8s_log "done in $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s"
}

k8s_install() {
  if k8s_installed; then return; fi
  mkdir -p "$k8s_dir"
  echo "building the Kubernetes test binaries ($k8s_version, etcd $k8s_etcd_version) into $k8s_bin" >&2
  echo "(once per machine: ~12-17 min on 2 cores, ~5 GB of Go caches under $k8s_dir)" >&2
  # One build at a time per cache directory (e.g. a CI run and a developer's install).
  exec 8>"$k8s_dir/.install.lock"
  if ! flock -n 8; then
    k8s_log "another install is running in $k8s_dir; waiting for it"
    flock 8
  fi
  if ! k8s_installed; then (k8s_build); fi
  exec 8>&-
  k8s_installed || { echo "installing the Kubernetes test binaries failed; see the output above" >&2; exit 1; }
}

k8s_running() {
  [[ -f "$k8s_state/apiserver.pid" ]] && kill -0 "$(cat "$k8s_state/apiserver.pid")" 2>/dev/null
}

k8s_answers() {
  [[ -f "$k8s_state/token" ]] || return 1
  curl -sf --max-time 2 --cacert "$k8s_state/pki/apiserver.crt" \
    -H "Authorization: Bearer $(cat "$k8s_state/token")" "https://127.0.0.1:$k8s_api_port$1" >/dev/null 2>&1
}

k8s_wait() { # k8s_wait <seconds> <what> <pid file> <command…>
  local secs=$1 what=$2 pid_file=$3 i
  shift 3
  for ((i = 0; i < secs * 10; i++)); do
    if "$@"; then return 0; fi
    kill -0 "$(cat "$pid_file")" 2>/dev/null || break
    sleep 0.1
  done
  echo "$what did not come up; see its log in $k8s_state" >&2
  k8s_down >/dev/null
  exit 1
}

# etcd + kube-apiserver (RBAC on, static admin token in system:masters) + kube-controller-manager on
# loopback. No scheduler and no kubelet: Pods never run. The serving certificate is the one
# kube-apiserver generates for itself in pki/ (apiserver.crt: the certificate, then its CA → pki/ca.crt).
k8s_up() {
  if k8s_running; then
    echo "k8s already running (pid $(cat "$k8s_state/apiserver.pid")): KUBECONFIG=$k8s_state/kubeconfig"
    return
  fi
  k8s_installed || { echo "the Kubernetes test binaries are not installed; run: $0 install k8s" >&2; exit 1; }
  command -v openssl >/dev/null 2>&1 || { echo "openssl is needed to make the service-account key" >&2; exit 1; }
  command -v curl >/dev/null 2>&1 || { echo "curl is needed to wait for kube-apiserver" >&2; exit 1; }
  k8s_down >/dev/null
  rm -rf "$k8s_state"
  mkdir -p "$k8s_state/pki" "$k8s_state/etcd"
  chmod 700 "$k8s_state"
  local pki="$k8s_state/pki" token t0=$SECONDS
  token="$(openssl rand -hex 24)"
  printf '%s\n' "$token" >"$k8s_state/token"
  printf '%s,agent-safe-admin,agent-safe-admin,system:masters\n' "$token" >"$pki/tokens.csv"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

  nohup "$k8s_bin/etcd" --name agent-safe --data-dir "$k8s_state/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$k8s_etcd_port" --advertise-client-urls "http://127.0.0.1:$k8s_etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((k8s_etcd_port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((k8s_etcd_port + 1))" \
    --initial-cluster "agent-safe=http://127.0.0.1:$((k8s_etcd_port + 1))" >"$k8s_state/etcd.log" 2>&1 &
  echo $! >"$k8s_state/etcd.pid"
  k8s_wait 30 etcd "$k8s_state/etcd.pid" curl -sf --max-time 1 "http://127.0.0.1:$k8s_etcd_port/health" -o /dev/null

  # ServiceAccount admission is off: Pods are accepted before a namespace's default ServiceAccount exists.
  nohup "$k8s_bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$k8s_etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$k8s_api_port" --cert-dir "$pki" \
    --authorization-mode RBAC --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer "https://127.0.0.1:$k8s_api_port" --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
    --disable-admission-plugins ServiceAccount --endpoint-reconciler-type none >"$k8s_state/apiserver.log" 2>&1 &
  echo $! >"$k8s_state/apiserver.pid"
  k8s_wait 120 kube-apiserver "$k8s_state/apiserver.pid" k8s_answers /readyz
  # apiserver.crt is the serving certificate followed by its CA: keep the CA alone (the last block).
  awk '/-----BEGIN CERTIFICATE-----/ { block = "" } { block = block $0 "\n" } END { printf "%s", block }' \
    "$pki/apiserver.crt" >"$pki/ca.crt"

  cat >"$k8s_state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: agent-safe-test
  cluster:
    server: https://127.0.0.1:$k8s_api_port
    certificate-authority: $pki/ca.crt
users:
- name: agent-safe-admin
  user:
    token: $token
contexts:
- name: agent-safe-test
  context:
    cluster: agent-safe-test
    user: agent-safe-admin
    namespace: default
current-context: agent-safe-test
EOF
  chmod 600 "$k8s_state/kubeconfig"

  # Deployments get ReplicaSets and Pods, namespaces finish deleting, PDB status is computed.
  nohup "$k8s_bin/kube-controller-manager" --kubeconfig "$k8s_state/kubeconfig" \
    --authentication-kubeconfig "$k8s_state/kubeconfig" --authorization-kubeconfig "$k8s_state/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    >"$k8s_state/controller-manager.log" 2>&1 &
  echo $! >"$k8s_state/controller-manager.pid"
  sleep 0.5
  kill -0 "$(cat "$k8s_state/controller-manager.pid")" 2>/dev/null \
    || { echo "kube-controller-manager exited; see $k8s_state/controller-manager.log" >&2; k8s_down >/dev/null; exit 1; }
  echo "k8s up in $((SECONDS - t0)) s: https://127.0.0.1:$k8s_api_port (RBAC on)" >&2
  echo "KUBECONFIG=$k8s_state/kubeconfig"
}

k8s_down() {
  local p pid stopped=0
  for p in controller-manager apiserver etcd; do
    [[ -f "$k8s_state/$p.pid" ]] || continue
    pid="$(cat "$k8s_state/$p.pid")"
    rm -f "$k8s_state/$p.pid"
    kill "$pid" 2>/dev/null || continue
    stopped=1
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  if ((stopped)); then echo "k8s stopped (https://127.0.0.1:$k8s_api_port)"; else echo "k8s not running (https://127.0.0.1:$k8s_api_port)"; fi
}

k8s_status() {
  if k8s_running && k8s_answers /readyz; then
    echo "k8s running (pid $(cat "$k8s_state/apiserver.pid")): KUBECONFIG=$k8s_state/kubeconfig"
  else
    echo "k8s not running (https://127.0.0.1:$k8s_api_port)$(k8s_installed || echo "; not installed: $0 install k8s")"
    return 3
  fi
}

# ------------------------------------------------------------------ opa (the load bench's comparison)
# OPA's server, built from the Go module proxy with `go install` into a cache outside the clone
# (~3-8 min on 2 cores, once per machine). packages/server/bench/load.mjs runs it beside agent-safe serve.
opa_version=v1.22.4
opa_dir="${AGENT_SAFE_OPA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/opa-$opa_version}"
opa_bin="$opa_dir/bin/opa"

opa_installed() {
  [[ "$("$opa_bin" version 2>/dev/null | head -1)" == "Version: ${opa_version#v}" ]]
}

opa_install() {
  if opa_installed; then return; fi
  command -v go >/dev/null 2>&1 || {
    echo "go is not installed; building OPA needs Go (https://go.dev/dl/), then: $0 install opa" >&2
    exit 1
  }
  mkdir -p "$opa_dir/bin" "$opa_dir/tmp"
  exec 7>"$opa_dir/.install.lock"
  if ! flock -n 7; then
    echo "another OPA install is running in $opa_dir; waiting for it" >&2
    flock 7
  fi
  if ! opa_installed; then
    echo "building OPA $opa_version into $opa_dir/bin (once per machine: ~3-8 min on 2 cores)…" >&2
    local t0=$SECONDS
    (
      export GOPATH="$opa_dir/go" GOMODCACHE="$opa_dir/go/pkg/mod" GOCACHE="$opa_dir/gocache" \
        GOTMPDIR="$opa_dir/tmp" GOBIN="$opa_dir/bin" GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
      while sleep 60; do echo "[opa $(date +%T)] … still building ($(( (SECONDS - t0) / 60 )) min)" >&2; done &
      hb=$!
      # shellcheck disable=SC2064
      trap "kill $hb 2>/dev/null" EXIT
      cd "$opa_dir/tmp" && go install -trimpath -ldflags "-s -w" "github.com/open-policy-agent/opa@$opa_version" >&2
    )
    echo "built OPA $opa_version in $(( (SECONDS - t0) / 60 )) min $(( (SECONDS - t0) % 60 )) s" >&2
  fi
  exec 7>&-
  opa_installed || { echo "OPA $opa_version did not install into $opa_dir/bin; see the output above" >&2; exit 1; }
}

# ------------------------------------------------------------------ schemathesis (the server's API fuzz test)
# schemathesis in a Python venv cached outside the clone, like moto. packages/server/test/schemathesis.test.ts
# runs "$schemathesis_dir/venv/bin/st" (or AGENT_SAFE_SCHEMATHESIS) against a running agent-safe serve.
schemathesis_version=4.32.5
schemathesis_dir="${AGENT_SAFE_SCHEMATHESIS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-safe/schemathesis-$schemathesis_version}"

schemathesis_installed() {
  [[ "$("$schemathesis_dir/venv/bin/st" --version 2>/dev/null)" == *"$schemathesis_version"* ]]
}

schemathesis_install() {
  if schemathesis_installed; then return; fi
  command -v python3 >/dev/null 2>&1 || {
    echo "python3 is not installed; schemathesis (the server's API fuzz test) needs Python >= 3.9 with venv and pip" >&2
    exit 1
  }
  mkdir -p "$schemathesis_dir"
  exec 6>"$schemathesis_dir/.install.lock"
  flock 6
  if ! schemathesis_installed; then
    rm -rf "$schemathesis_dir/venv"
    if ! python3 -m venv "$schemathesis_dir/venv" >/dev/null 2>&1; then
      rm -rf "$schemathesis_dir/venv"
      if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing python3-venv (apt-get) for schemathesis…" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >&2
        python3 -m venv "$schemathesis_dir/venv"
      else
        echo "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv), then run $0 install schemathesis" >&2
        exit 1
      fi
    fi
    echo "installing schemathesis $schemathesis_version into $schemathesis_dir (once per machine, ~30 s)…" >&2
    PIP_NO_CACHE_DIR=1 "$schemathesis_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "schemathesis==$schemathesis_version" >&2
  fi
  exec 6>&-
  schemathesis_installed || { echo "schemathesis $schemathesis_version did not install into $schemathesis_dir" >&2; exit 1; }
}

which="${2:-all}"
case "$which" in
  all | redis | moto | k8s) ;;
  opa | schemathesis) [[ "${1:-}" == install ]] || { echo "$which is only installed (install $which), not run as a service" >&2; exit 2; } ;;
  *)
    echo "unknown service '$which' (redis, moto, k8s, opa or schemathesis)" >&2
    exit 2
    ;;
esac

case "${1:-}" in
  up)
    if [[ "$which" == all || "$which" == redis ]]; then up; fi
    if [[ "$which" == all || "$which" == moto ]]; then moto_up; fi
    if [[ "$which" == k8s ]]; then k8s_up; fi
    ;;
  down)
    if [[ "$which" == all || "$which" == redis ]]; then down; fi
    if [[ "$which" == all || "$which" == moto ]]; then moto_down; fi
    if [[ "$which" == all || "$which" == k8s ]]; then k8s_down; fi
    ;;
  status)
    code=0
    if [[ "$which" == all || "$which" == redis ]]; then status || code=$?; fi
    if [[ "$which" == all || "$which" == moto ]]; then moto_status || code=$?; fi
    if [[ "$which" == k8s ]]; then k8s_status || code=$?; fi
    exit "$code"
    ;;
  install)
    case "$which" in
      moto)
        moto_install
        echo "moto $moto_version installed in $moto_dir"
        ;;
      k8s)
        k8s_install
        echo "kube-apiserver, kube-controller-manager, kubectl $k8s_version and etcd $k8s_etcd_version installed in $k8s_bin"
        ;;
      opa)
        opa_install
        echo "OPA $opa_version installed: $opa_bin"
        ;;
      schemathesis)
        schemathesis_install
        echo "schemathesis $schemathesis_version installed: $schemathesis_dir/venv/bin/st"
        ;;
      *)
        echo "usage: $0 install moto|k8s|opa|schemathesis   (redis-server comes from the system: scripts/ensure-redis.sh)" >&2
        exit 2
        ;;
    esac
    ;;
  *)
    echo "usage: $0 up|down|status [redis|moto|k8s] | $0 install moto|k8s|opa|schemathesis" >&2
    echo "  (no service = redis and moto; k8s is started only when named)" >&2
    echo "  (AGENT_SAFE_REDIS_PORT default 6390, AGENT_SAFE_MOTO_PORT default 5055, AGENT_SAFE_MOTO_DIR," >&2
    echo "   AGENT_SAFE_K8S_PORT default 16443, AGENT_SAFE_K8S_ETCD_PORT default 23790, AGENT_SAFE_K8S_DIR)" >&2
    exit 2
    ;;
esac
