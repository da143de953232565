#!/usr/bin/env bash
# Single entry point for developing the gateway: deps | run | test | bench | fuzz.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

log() { printf '[dev] %s\n' "$*" >&2; }

usage() {
    cat >&2 <<'EOF'
usage: ./dev.sh <command> [args]
  deps                      install missing system packages (Debian) and put swift on PATH
  run [UPSTREAM_HOST:PORT]  release build, then run the gateway with gateway.conf
                            (without an upstream, a mock-upstream on :9000 is started too)
  test                      debug build (all products), swift test, then each fuzz target for 5 s
                            (skipped when the toolchain cannot build libFuzzer targets)
  fuzz [SECONDS]            build and run every fuzz target for SECONDS each (default 30); see Tests/Fuzz/README.md
  bench [args]              release build, then benchmarks/run.sh args
EOF
}

# The toolchain lives in /opt/swift on our machines and is not always on PATH.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [[ -x /opt/swift/usr/bin/swift ]]; then
            export PATH="/opt/swift/usr/bin:$PATH"
        else
            log "swift not found (looked on PATH and in /opt/swift/usr/bin)"
            exit 1
        fi
    fi
}

# Run as root directly; fall back to sudo only when we are not root.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

# Another apt run (e.g. a provisioning step in the background) may hold the
# locks; wait for it instead of failing.
wait_for_apt() {
    local waited=0
    local locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)
    while true; do
        local busy=0
        if command -v fuser >/dev/null 2>&1; then
            for l in "${locks[@]}"; do
                if [[ -e "$l" ]] && as_root fuser "$l" >/dev/null 2>&1; then busy=1; fi
            done
        elif pgrep -x 'apt|apt-get|dpkg' >/dev/null 2>&1; then
            busy=1
        fi
        [[ $busy -eq 0 ]] && return 0
        if (( waited % 30 == 0 )); then log "waiting for another apt/dpkg run to finish..."; fi
        sleep 2
        waited=$((waited + 2))
        if (( waited > 900 )); then
            log "apt locks still held after 15 minutes; giving up"
            return 1
        fi
    done
}

APT_UPDATED=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    wait_for_apt
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
        wait_for_apt
    fi
    log "apt-get install $*"
    as_root apt-get install -y -qq --no-install-recommends "$@"
}

pkg_installed() { dpkg -s "$1" >/dev/null 2>&1; }

cmd_deps() {
    ensure_swift
    local missing=()
    # Headers and .pc file are what the COpenSSL system library needs to build.
    pkg_installed libssl-dev || missing+=(libssl-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # The TLS tests make a throwaway CA and certificates, and talk to the gateway, with the openssl command.
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    # The shared-store tests and benchmark start private redis-server instances (never the system
    # service) and make a Redis Cluster of three with redis-cli.
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    # fuser lets the benchmark clear its own ports after an aborted run.
    command -v fuser >/dev/null 2>&1 || missing+=(psmisc)
    # The benchmark compiles its open-loop load generator (benchmarks/openloop.c) with cc,
    # and pins proxy and load generator to separate cores with taskset.
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
    # Lint for the scripts, and rsvg-convert to look at the benchmark chart as a PNG.
    command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
    command -v rsvg-convert >/dev/null 2>&1 || missing+=(librsvg2-bin)
    local want_nginx=0
    command -v nginx >/dev/null 2>&1 || want_nginx=1

    local want_prometheus=0
    python3 -c 'import prometheus_client' >/dev/null 2>&1 || want_prometheus=1

    if [[ ${#missing[@]} -eq 0 && $want_nginx -eq 0 && $want_prometheus -eq 0 ]]; then
        log "deps: all present"
        return 0
    fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    fi
    if [[ $want_nginx -eq 1 ]]; then
        # nginx-light is the small build; newer Debian releases only ship "nginx".
        apt_install nginx-light || apt_install nginx
    fi
    if [[ $want_prometheus -eq 1 ]]; then
        install_prometheus_client
    fi
}

# The metrics test parses /metrics with the Prometheus client library's own text parser, in
# whichever python3 is on PATH: pip first (a pyenv or venv python), then pip into a Debian
# system python (PEP 668 marks it externally managed), then Debian's package.
install_prometheus_client() {
    log "installing prometheus_client for python3 (the metrics test's Prometheus text parser)"
    python3 -m pip install --quiet prometheus_client 2>/dev/null && return 0
    python3 -m pip install --quiet --break-system-packages prometheus_client 2>/dev/null && return 0
    apt_install python3-prometheus-client
}

cmd_test() {
    cmd_deps
    # Integration tests spawn .build/debug/{gateway,mock-upstream}; build them first.
    log "swift build (debug)"
    swift build
    log "swift test"
    local rc=0
    swift test || rc=$?
    # io_engine auto picked one engine above (io_uring where the kernel allows it); the
    # integration tests run again on epoll, so both engines pass them on every run.
    log "integration tests again with io_engine epoll"
    GATEWAY_TEST_IO_ENGINE=epoll swift test --skip-build --filter GatewayIntegrationTests || rc=$?
    # A short fuzz pass catches a parser regression the unit tests miss; a missing fuzz
    # toolchain is not a failure of the code, so it only skips.
    local fuzz_rc=0
    "$ROOT/Tests/Fuzz/run.sh" --check || fuzz_rc=$?
    if [[ $fuzz_rc -eq 0 ]]; then
        log "fuzz targets, 5 s each"
        FUZZ_SECONDS=5 "$ROOT/Tests/Fuzz/run.sh" || fuzz_rc=$?
    elif [[ $fuzz_rc -eq 2 ]]; then
        log "fuzz pass skipped: this toolchain cannot build libFuzzer targets"
        fuzz_rc=0
    fi
    if [[ $rc -eq 0 ]]; then rc=$fuzz_rc; fi
    exit "$rc"
}

cmd_fuzz() {
    local seconds="${1:-30}"
    if [[ ! "$seconds" =~ ^[0-9]+$ ]]; then
        log "fuzz: SECONDS must be a whole number, got '$seconds'"
        exit 2
    fi
    ensure_swift
    FUZZ_SECONDS="$seconds" exec "$ROOT/Tests/Fuzz/run.sh"
}

cmd_run() {
    local upstream="${1:-}"
    cmd_deps
    log "swift build -c release"
    swift build -c release

    # Globals, not locals: the EXIT trap runs after this function has returned.
    RUN_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/gateway-run.XXXXXX")"
    MOCK_PID=""
    # Whatever happens, take down the mock upstream and the temp config with us.
    trap 'if [[ -n "$MOCK_PID" ]]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi; rm -rf "$RUN_TMPDIR"' EXIT
    trap 'exit 130' INT TERM

    local conf="$ROOT/gateway.conf"
    if [[ ! -f "$conf" ]]; then
        # Keep "run" usable on a fresh checkout: fall back to the documented demo config.
        log "no gateway.conf at the repo top; using the built-in demo config"
        conf="$RUN_TMPDIR/demo.conf"
        cat >"$conf" <<'EOF'
listen 127.0.0.1:8080;
workers auto;
access_log off;
upstream messaging { server 127.0.0.1:9000; keepalive 64; connect_timeout 2s; response_timeout 30s; }
route /v1/ { upstream messaging; methods GET POST PUT PATCH DELETE; max_body 100m; }
errors { vocabulary snake; retry_after_default 5s; }
EOF
    fi

    if [[ -n "$upstream" ]]; then
        if [[ ! "$upstream" =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]]; then
            log "upstream must look like HOST:PORT, got '$upstream'"
            exit 2
        fi
        # Replace every "server ...;" inside upstream blocks with the given one,
        # whether the block is written on one line or over several.
        local runconf="$RUN_TMPDIR/gateway.conf"
        sed -E '/^[[:space:]]*upstream[[:space:]]+[^;{]*[{]/,/}/ s/(^|[{;[:space:]])server[[:space:]]+[^;]*;/\1server '"$upstream"';/g' \
            "$conf" >"$runconf"
        conf="$runconf"
        log "using upstream $upstream (config copy: $conf)"
    else
        log "starting mock-upstream on :9000"
        "$ROOT/.build/release/mock-upstream" --port 9000 &
        MOCK_PID=$!
    fi

    local listen
    listen="$(sed -nE 's/^[[:space:]]*listen[[:space:]]+([^;]+);.*/\1/p' "$conf" | head -n1)"
    listen="${listen:-127.0.0.1:8080}"
    local port="${listen##*:}"
    cat >&2 <<EOF

  gateway listening on $listen (config: $conf)
  try:  curl -s localhost:$port/v1/sessions/demo -H 'Authorization: Bearer demo-key-123'
        curl -s -X POST localhost:$port/v1/messages/text -H 'Authorization: Bearer demo-key-123' \\
             -H 'Idempotency-Key: demo-1' -H 'content-type: application/json' -d '{"to":"+15550100","text":"hi"}'
        curl -s localhost:$port/v1/sessions/demo          # no key: the 401 envelope
  stop: Ctrl-C

EOF
    # Not exec: the EXIT trap must still stop the mock upstream afterwards.
    "$ROOT/.build/release/gateway" --config "$conf"
}

cmd_bench() {
    cmd_deps
    log "swift build -c release"
    swift build -c release
    exec "$ROOT/benchmarks/run.sh" "$@"
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        deps)  cmd_deps "$@" ;;
        run)   cmd_run "$@" ;;
        test)  cmd_test "$@" ;;
        bench) cmd_bench "$@" ;;
        fuzz)  cmd_fuzz "$@" ;;
        -h|--help|help) usage ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
