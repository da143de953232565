#!/usr/bin/env bash
# Side-by-side benchmark: the gateway (each io engine, plain and keyed) vs nginx vs HAProxy in
# front of one shared nginx backend, plus a copy of the backend measured directly as the
# ceiling. Every scenario runs ROUNDS interleaved rounds (round 1 of every target, then round 2
# of every target, ...) so drift on this shared machine hits all targets alike; the report
# gives medians, the min–max spread and the proxy's CPU time per request.
#
# usage: benchmarks/run.sh [TARGET...]     TARGET: direct gateway nginx haproxy (default: all)
# env (defaults in brackets; benchmarks/README.md explains each):
#   ROUNDS [5]  DURATION [10] s  WARMUP [1] s  WORKERS [1]  WRK_THREADS [1]
#   SCENARIOS [get post download upload fixed-rate idle-memory tls-get tls-handshake tls-idle-memory]
#   CONNECTIONS ["64 1000"]  TLS_CONNECTIONS [64]  TLS_SUITE [TLS_AES_128_GCM_SHA256]  TLS_TICKETS [on]
#   BIG_CONNECTIONS [10]  UPSTREAM_KEEPALIVE [1024]  KEYED [1]  OBSERVE [1]  GATEWAY_ENGINES [auto]  GATEWAY [.build/release/gateway]
#   GATEWAY_BASELINE [none]: another gateway binary (an earlier build) measured in the same run
#   FIXED_RATE [FIXED_FRACTION × nginx's get-64 median]  FIXED_FRACTION [0.5]
#   FIXED_CONNECTIONS [64]  IDLE_CONNECTIONS [10000]  IDLE_SETTLE [3] s
#   PROXY_CPU [0]  CLIENT_CPU [1]  BACKEND_CPU [1]  (PIN=0: no pinning)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/benchmarks"
RESULTS_DIR="$BENCH_DIR/results"
# Fixed (git-ignored) state dir: its pid files let the next run clean up after one that was
# killed before its trap could run.
STATE="$RESULTS_DIR/tmp"

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-1}"
WORKERS="${WORKERS:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
SCENARIOS="${SCENARIOS:-get post download upload fixed-rate idle-memory tls-get tls-handshake tls-idle-memory}"
CONNECTIONS="${CONNECTIONS:-64 1000}"
TLS_CONNECTIONS="${TLS_CONNECTIONS:-64}"
TLS_SUITE="${TLS_SUITE:-TLS_AES_128_GCM_SHA256}"
TLS_TICKETS="${TLS_TICKETS:-on}"
BIG_CONNECTIONS="${BIG_CONNECTIONS:-10}"
# Idle connections each proxy keeps to the backend: room for every client connection's request
# (HAProxy's http-reuse keeps them all), so no proxy pays a backend connect per request.
UPSTREAM_KEEPALIVE="${UPSTREAM_KEEPALIVE:-1024}"
KEYED="${KEYED:-1}"
OBSERVE="${OBSERVE:-1}"
GATEWAY_ENGINES="${GATEWAY_ENGINES-auto}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
GATEWAY_BASELINE="${GATEWAY_BASELINE:-}"
FIXED_RATE="${FIXED_RATE:-}"
FIXED_FRACTION="${FIXED_FRACTION:-0.5}"
FIXED_CONNECTIONS="${FIXED_CONNECTIONS:-64}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
IDLE_SETTLE="${IDLE_SETTLE:-3}"
PIN="${PIN:-1}"
PROXY_CPU="${PROXY_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
BACKEND_CPU="${BACKEND_CPU:-1}"

# Every port is PORT_BASE plus a fixed offset, so a run can move aside from a port someone holds.
PORT_BASE="${PORT_BASE:-19000}"
REPORT="${REPORT:-latest}"   # results/REPORT.md, .svg and -rounds.txt
BACKEND_PORT=$PORT_BASE
DIRECT_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 10))
HAPROXY_PORT=$((PORT_BASE + 11))
GATEWAY_FIRST_PORT=$((PORT_BASE + 20))   # gateway targets take base+20, base+21, ... in target order
ADMIN_PORT_OFFSET=200      # the observed ones their admin listener 200 ports above
TLS_PORT_OFFSET=100        # a proxy's HTTPS listener: its plain port + 100 (nginx 19110, HAProxy 19111, ...)

BIG_SIZE=1048576
SMALL_BODY='{"success":true,"data":{"id":"msg_1"}}'
API_KEY="bench-key-0123456789"
# Room for the idle-memory scenario's connections plus the upstream side, in every process.
# FD_LIMIT is what we ask for; raise_fd_limit sets it to what we got.
FD_LIMIT=$((IDLE_CONNECTIONS * 2 + 8192))
CONN_LIMIT=$((IDLE_CONNECTIONS + 1024))

log() { printf '[bench] %s\n' "$*" >&2; }
note() { NOTES+=("$*"); log "note: $*"; }
NOTES=()

# shellcheck source=benchmarks/lib.sh
source "$BENCH_DIR/lib.sh"

# ---------------------------------------------------------------- arguments and tools

check_arguments() {
    local t s
    for t in "${REQUESTED[@]}"; do
        case "$t" in direct|gateway|nginx|haproxy) ;;
            -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
            *) log "unknown target '$t' (want: direct gateway nginx haproxy)"; exit 2 ;; esac
    done
    for s in $SCENARIOS; do
        case "$s" in get|post|download|upload|fixed-rate|idle-memory|tls-get|tls-handshake|tls-idle-memory) ;;
            *) log "unknown scenario '$s' (want: get post download upload fixed-rate idle-memory tls-get tls-handshake tls-idle-memory)"; exit 2 ;; esac
    done
    [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { log "ROUNDS must be a positive whole number"; exit 2; }
    [[ "$TLS_TICKETS" == on || "$TLS_TICKETS" == off ]] || { log "TLS_TICKETS must be on or off"; exit 2; }
    if ((ROUNDS < 5)); then log "ROUNDS=$ROUNDS: fine for a smoke run, too few for numbers worth quoting"; fi
}

check_tools() {
    local tool
    for tool in wrk curl nginx python3; do
        command -v "$tool" >/dev/null 2>&1 || { log "$tool is required (./dev.sh deps installs it)"; exit 1; }
    done
    if uses_tls && ! command -v openssl >/dev/null 2>&1; then
        log "openssl is required for the TLS scenarios (./dev.sh deps installs it)"; exit 1
    fi
    if [[ "$PIN" == 1 ]] && ! command -v taskset >/dev/null 2>&1; then
        log "taskset missing: running unpinned"
        PIN=0
    fi
}

# Pinning: proxies on PROXY_CPU, load generators and the shared backend on CLIENT_CPU /
# BACKEND_CPU, so the proxy under test has a core to itself and the numbers say what it costs,
# not how the scheduler mixed it with wrk.
#
# exec_on_cpu CPU CMD...: replaces the calling shell, always a background subshell here, with
# CMD pinned to CPU (taskset execs it too), so that $! is CMD's own pid: the process to measure
# and to stop, not a bash wrapper whose memory would count as the proxy's.
exec_on_cpu() {
    local cpu=$1; shift
    if [[ "$PIN" == 1 && -n "$cpu" ]]; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}

# Every process inherits this; 10,000 idle connections need more than the usual 1024 fds.
# Raising the hard limit needs CAP_SYS_RESOURCE (not granted in some containers): then the
# hard limit is what we get, and the configs below are written for it.
raise_fd_limit() {
    ulimit -Hn "$FD_LIMIT" 2>/dev/null || true
    ulimit -Sn "$FD_LIMIT" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
    FD_LIMIT="$(ulimit -Sn)"
    if ((FD_LIMIT < CONN_LIMIT + 100)); then
        note "open-file limit $FD_LIMIT is too low for IDLE_CONNECTIONS=$IDLE_CONNECTIONS: raise the hard limit (ulimit -Hn) or lower IDLE_CONNECTIONS"
    fi
}

# The C open-loop generator is built on demand into the state dir (never committed).
build_openloop() {
    OPENLOOP="$STATE/openloop"
    if [[ ! -x "$OPENLOOP" || "$BENCH_DIR/openloop.c" -nt "$OPENLOOP" ]]; then
        command -v cc >/dev/null 2>&1 || { log "cc is required for the fixed-rate scenario (./dev.sh deps installs it)"; exit 1; }
        cc -O2 -Wall -o "$OPENLOOP" "$BENCH_DIR/openloop.c"
    fi
}

# Whether any TLS scenario runs: then every proxy (but `direct`) also gets an HTTPS listener.
uses_tls() { [[ " $SCENARIOS " == *" tls-"* ]]; }

# One certificate for every proxy (EC P-256, self-signed for 127.0.0.1), made once per run; with
# TLS 1.3 and TLS_SUITE forced everywhere, every target does the same crypto per handshake.
make_tls_certificate() {
    TLS_DIR="$STATE/tls"
    mkdir -p "$TLS_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
        -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" 2>/dev/null
    # HAProxy wants the chain and the key in one file.
    cat "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" >"$TLS_DIR/combined.pem"
}

# ---------------------------------------------------------------- processes

# All descendants of a pid (nginx workers, forked gateway workers, ...).
descendants() {
    local kids k
    kids="$(pgrep -P "$1" 2>/dev/null || true)"
    for k in $kids; do echo "$k"; descendants "$k"; done
}

# TERM a process tree, give it 3 s, then KILL what is left.
kill_tree() {
    local root="$1" pids p i alive
    mapfile -t pids < <(echo "$root"; descendants "$root")
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "$root" 2>/dev/null || true
}

# Stop whatever a previous (aborted) run left behind, but only processes whose command line
# points into our state dir, so a pid reused by an unrelated process is never touched.
kill_stale() {
    local f pid
    [[ -d "$STATE/pids" ]] || return 0
    for f in "$STATE"/pids/*.pid; do
        [[ -e "$f" ]] || continue
        pid="$(cat "$f" 2>/dev/null || true)"
        if [[ -n "$pid" && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$STATE"; then
            log "stopping leftover $(basename "$f" .pid) (pid $pid) from an earlier run"
            kill_tree "$pid"
        fi
        rm -f "$f"
    done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
    local port
    for port in "$@"; do
        if port_busy "$port"; then
            log "127.0.0.1:$port is in use by a process this script did not start:"
            (command -v fuser >/dev/null 2>&1 && fuser -v -n tcp "$port" 2>&1 | grep -v '^Cannot stat') >&2 || true
            log "stop it (or free the port) and run again"
            exit 1
        fi
    done
}

STARTED=()      # pids of everything we launched, for the exit trap
# shellcheck disable=SC2317  # only called from the EXIT trap
cleanup() {
    local p
    for p in "${STARTED[@]}"; do
        if kill -0 "$p" 2>/dev/null; then kill_tree "$p"; fi
    done
    # Only our own pid files: never forget another run's processes.
    for p in "${STARTED[@]}"; do
        grep -lx "$p" "$STATE"/pids/*.pid 2>/dev/null | xargs -r rm -f
    done
}

# Drop a pid once its process is gone, so the exit trap can never hit a reused pid.
forget() {
    local keep=() p
    for p in "${STARTED[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# launch NAME CPU CMD...: run pinned in the background, output in $STATE/NAME.log.
launch() {
    local name="$1" cpu="$2"; shift 2
    exec_on_cpu "$cpu" "$@" >"$STATE/$name.log" 2>&1 9>&- &
    LAUNCHED_PID=$!
    STARTED+=("$LAUNCHED_PID")
    echo "$LAUNCHED_PID" >"$STATE/pids/$name.pid"
}

stop() { # NAME PID
    kill_tree "$2"
    forget "$2"
    rm -f "$STATE/pids/$1.pid"
}

# Run a load generator in the background and wait for it: bash delays traps until a
# foreground command ends, but "wait" returns at once on INT/TERM, so Ctrl-C during a long
# measurement cleans up immediately.
run_waited() { # OUTFILE CMD...
    local out="$1"; shift
    exec_on_cpu "$CLIENT_CPU" "$@" >"$out" 2>&1 9>&- &
    local pid=$! rc=0
    STARTED+=("$pid")
    echo "$pid" >"$STATE/pids/client.pid"
    wait "$pid" || rc=$?
    forget "$pid"
    rm -f "$STATE/pids/client.pid"
    return "$rc"
}

# probe PORT PATH EXPECTED_SIZE PID [HEADER]: up to 5 s for a 200 with the right body size;
# fails early if the process has died.
probe() {
    local port="$1" path="$2" want="$3" pid="$4" header="${5:-X-Probe: 1}" i out=""
    PROBE_LAST=""
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        out="$(curl -s -o /dev/null -m 2 -H "$header" -w '%{http_code} %{size_download}' "http://127.0.0.1:$port$path" 2>/dev/null || true)"
        [[ "$out" == "200 $want" ]] && return 0
        sleep 0.1
    done
    PROBE_LAST="$out"
    return 1
}

# ---------------------------------------------------------------- configs

# The worker user must be able to read the state dir; as root, stay root.
nginx_user_line() { if [[ "$(id -u)" -eq 0 ]]; then echo "user root;"; fi; }

nginx_common() { # PREFIX
    cat <<EOF
$(nginx_user_line)
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile $FD_LIMIT;
events { worker_connections $CONN_LIMIT; }
EOF
}

nginx_http_common() { # PREFIX: temp paths away from /var/lib/nginx, same keep-alive as the others
    cat <<EOF
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_max_body_size 8m;
EOF
}

# The backend (and the `direct` target, a second copy of it): a small JSON answer for any
# /v1/ request whatever its method and body, and a 1 MiB file at /v1/big.
write_backend_conf() { # PREFIX PORT
    local p="$1" port="$2"
    mkdir -p "$p/www/v1"
    head -c "$BIG_SIZE" /dev/zero | tr '\0' 'x' >"$p/www/v1/big"
    cat >"$p/nginx.conf" <<EOF
worker_processes 1;
$(nginx_common "$p")
http {
$(nginx_http_common "$p")
    upstream self {
        server 127.0.0.1:$port;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location /v1/ {
            default_type application/json;
            return 200 '$SMALL_BODY';
        }
        # An upload endpoint reads the whole body before it answers. 'return' would answer
        # at once and drop the rest of the body, and a proxy relaying such an early answer
        # mid-upload may close the client connection (nginx does): that measures reconnects,
        # not streaming. Proxying to ourselves without the body makes nginx read it first
        # (into memory) and then answer with the small JSON.
        location = /v1/upload {
            client_body_buffer_size 2m;
            proxy_request_buffering on;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://self/v1/sessions/demo;
        }
        location = /v1/big {
            root $p/www;
            default_type application/octet-stream;
        }
    }
}
EOF
}

nginx_proxy_location() {
    cat <<EOF
        location /v1/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream request bodies as the gateway and HAProxy do, instead of spooling them.
            proxy_request_buffering off;
            # Buffer answers in memory only; spooling 1 MiB bodies to disk would measure the
            # disk, not the proxy.
            proxy_buffer_size 16k;
            proxy_buffers 8 64k;
            proxy_max_temp_file_size 0;
        }
EOF
}

# The HTTPS server of a proxy under test: same location, the run's certificate, TLS 1.3 with
# TLS_SUITE only, session tickets as TLS_TICKETS says (nginx's defaults otherwise: no session cache).
nginx_tls_server() { # PORT
    uses_tls || return 0
    cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl backlog=4096;
        ssl_certificate $TLS_DIR/cert.pem;
        ssl_certificate_key $TLS_DIR/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites $TLS_SUITE;
        ssl_session_tickets $TLS_TICKETS;
$(nginx_proxy_location)
    }
EOF
}

write_nginx_proxy_conf() { # PREFIX
    local p="$1"
    cat >"$p/nginx.conf" <<EOF
worker_processes $WORKERS;
$(nginx_common "$p")
http {
$(nginx_http_common "$p")
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive $UPSTREAM_KEEPALIVE;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
$(nginx_proxy_location)
    }
$(nginx_tls_server $((NGINX_PORT + TLS_PORT_OFFSET)))
}
EOF
}

haproxy_tls_frontend() {
    uses_tls || return 0
    local tickets=""
    if [[ "$TLS_TICKETS" == off ]]; then tickets=" no-tls-tickets"; fi
    printf 'frontend fe_tls\n    bind 127.0.0.1:%s ssl crt %s alpn http/1.1%s\n    default_backend be\n' \
        "$((HAPROXY_PORT + TLS_PORT_OFFSET))" "$TLS_DIR/combined.pem" "$tickets"
}

write_haproxy_conf() { # FILE
    cat >"$1" <<EOF
global
    nbthread $WORKERS
    maxconn $CONN_LIMIT
    # HAProxy wants 2 fds per connection in case each needs a server side, and by default
    # refuses to start when it cannot raise the limit that far. Idle client connections hold
    # no server side (http-reuse), so the limit we have suffices: warn and run.
    no strict-limits
    ssl-default-bind-ciphersuites $TLS_SUITE
    ssl-default-bind-options ssl-min-ver TLSv1.3

defaults
    mode http
    option http-keep-alive
    http-reuse always
    maxconn $CONN_LIMIT
    timeout connect 2s
    timeout client 75s
    timeout server 30s
    timeout http-keep-alive 75s

frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be
$(haproxy_tls_frontend)

backend be
    server backend 127.0.0.1:$BACKEND_PORT
EOF
}

# write_gateway_conf FILE PORT ENGINE KEYED [OBSERVE [TLS]]: ENGINE "" writes no io_engine line; TLS 1
# adds the HTTPS listener at PORT + TLS_PORT_OFFSET. The keyed configuration is the realistic one:
# an API key, a rate limit and concurrency limits far
# above what the benchmark reaches (so nothing is refused, but every check runs) and
# `idempotency optional` on the route. OBSERVE: metrics (an admin listener, so every loop
# counts) or jsonlog (that, plus the JSON access log to a file next to the config).
write_gateway_conf() {
    local file=$1 port=$2 engine=$3 keyed=$4 observe=${5:-} tls=${6:-0}
    local log_line="access_log off;"
    [[ "$observe" == jsonlog ]] && log_line="access_log ${file%/*}/access.log format=json;"
    {
        if [[ -n "$engine" ]]; then echo "io_engine $engine;"; fi
        echo "listen 127.0.0.1:$port;"
        if [[ "$tls" == 1 ]]; then
            echo "listen 127.0.0.1:$((port + TLS_PORT_OFFSET)) ssl;"
            echo "ssl_certificate $TLS_DIR/cert.pem;"
            echo "ssl_certificate_key $TLS_DIR/key.pem;"
            echo "ssl_protocols TLSv1.3;"
            echo "ssl_ciphersuites $TLS_SUITE;"
            echo "ssl_session_tickets $TLS_TICKETS;"
        fi
        echo "workers $WORKERS;"
        if [[ -n "$observe" ]]; then echo "admin_listen 127.0.0.1:$((port + ADMIN_PORT_OFFSET));"; fi
        echo "$log_line"
        echo "keepalive_requests 100000;"
        echo "keepalive_timeout 75s;"
        echo "upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive $UPSTREAM_KEEPALIVE; connect_timeout 2s; response_timeout 30s; }"
        if [[ "$keyed" == 1 ]]; then
            echo "global_concurrency 1000000;"
            echo "plan bench { rate 1000000/s burst 10000000; concurrency 100000; }"
            echo "key sha256:$API_KEY_HASH { plan bench; }"
            echo "route /v1/ { upstream backend; methods GET POST; max_body 8m; auth required; idempotency optional; }"
        else
            echo "route /v1/ { upstream backend; methods GET POST; max_body 8m; }"
        fi
    } >"$file"
}

# ---------------------------------------------------------------- targets

# Registry of targets, in report order. T_KIND: direct|gateway|nginx|haproxy.
TARGETS=()
declare -A T_KIND T_PORT T_PID T_ENGINE T_KEYED T_OBSERVE T_DEAD T_BIN T_TLS

add_target() { # NAME KIND PORT [ENGINE KEYED OBSERVE BINARY]
    TARGETS+=("$1")
    T_KIND[$1]=$2; T_PORT[$1]=$3; T_ENGINE[$1]=${4:-}; T_KEYED[$1]=${5:-0}; T_OBSERVE[$1]=${6:-}; T_PID[$1]=""; T_DEAD[$1]=0
    T_BIN[$1]=${7:-$GATEWAY}
    # An HTTPS listener in this run: every proxy but `direct` and the keyed and observed twins, and
    # a gateway binary only when it knows TLS (a baseline build may predate it).
    T_TLS[$1]=0
    if uses_tls && [[ "$2" != direct && "${T_KEYED[$1]}" == 0 && -z "${T_OBSERVE[$1]}" ]]; then
        if [[ "$2" != gateway ]] || gateway_knows_tls "${T_BIN[$1]}"; then
            T_TLS[$1]=1
        else
            note "$1: left out of the TLS scenarios, $(basename "${T_BIN[$1]}") does not accept \`listen ... ssl;\`"
        fi
    fi
}

gateway_knows_tls() { # BINARY
    local conf="$STATE/tls-check.conf"
    write_gateway_conf "$conf" "$GATEWAY_FIRST_PORT" "" 0 "" 1
    "$1" --check-config "$conf" >/dev/null 2>&1
}

serves_tls() { [[ "${T_TLS[$1]}" == 1 ]]; }
tls_port() { echo $((T_PORT[$1] + TLS_PORT_OFFSET)); }
is_tls_scenario() { [[ "$1" == tls-* ]]; }

# Which io engines the gateway binary accepts: GATEWAY_ENGINES=auto means "epoll io_uring"
# when the io_engine directive exists, else the gateway as it is, without the line.
detect_engines() {
    local wanted=$GATEWAY_ENGINES engine conf="$STATE/engine-check.conf" out accepted=()
    [[ "$wanted" == none ]] && wanted=""
    if [[ "$wanted" == auto ]]; then
        wanted="epoll io_uring"
        write_gateway_conf "$conf" "$GATEWAY_FIRST_PORT" epoll 0
        if ! "$GATEWAY" --check-config "$conf" >/dev/null 2>&1; then
            wanted=""
        fi
    fi
    for engine in $wanted; do
        write_gateway_conf "$conf" "$GATEWAY_FIRST_PORT" "$engine" 0
        if out="$("$GATEWAY" --check-config "$conf" 2>&1)"; then
            accepted+=("$engine")
        else
            # The first line of the complaint, without the file name and the list of directives.
            out="$(sed -n '1{s/^gateway: //; s/^[^ ]*:[0-9]*:[0-9]*: //; s/; expected one of.*//; p}' <<<"$out")"
            note "gateway-$engine: skipped, the gateway rejects \`io_engine $engine;\` ($out)"
        fi
    done
    if [[ -n "$wanted" && ${#accepted[@]} -eq 0 ]]; then
        note "no io engine in GATEWAY_ENGINES=\"$GATEWAY_ENGINES\" was accepted: measuring the gateway without an io_engine line"
    fi
    ENGINES=("${accepted[@]}")
}

build_target_list() {
    local t port=$GATEWAY_FIRST_PORT engine name
    for t in "${REQUESTED[@]}"; do
        case "$t" in
        direct) add_target direct direct "$DIRECT_PORT" ;;
        nginx) add_target nginx nginx "$NGINX_PORT" ;;
        haproxy) add_target haproxy haproxy "$HAPROXY_PORT" ;;
        gateway)
            if [[ ! -x "$GATEWAY" ]]; then
                note "gateway: skipped, $GATEWAY does not exist (run \`swift build -c release\`)"
                continue
            fi
            API_KEY_HASH="$("$GATEWAY" hash-key "$API_KEY")"
            detect_engines
            local engines=("${ENGINES[@]}")
            [[ ${#engines[@]} -eq 0 ]] && engines=("")
            for engine in "${engines[@]}"; do
                name="gateway${engine:+-$engine}"
                add_target "$name" gateway "$port" "$engine" 0; port=$((port + 1))
                if [[ "$KEYED" == 1 ]]; then
                    add_target "$name-keyed" gateway "$port" "$engine" 1; port=$((port + 1))
                fi
                # The cost of observing: the plain path with metrics on, then with the JSON log too.
                if [[ "$OBSERVE" == 1 ]]; then
                    add_target "$name-metrics" gateway "$port" "$engine" 0 metrics; port=$((port + 1))
                    add_target "$name-jsonlog" gateway "$port" "$engine" 0 jsonlog; port=$((port + 1))
                fi
            done
            # An earlier build beside this one, for before/after ratios measured in one run.
            if [[ -n "$GATEWAY_BASELINE" ]]; then
                if [[ -x "$GATEWAY_BASELINE" ]]; then
                    add_target gateway-baseline gateway "$port" "" 0 "" "$GATEWAY_BASELINE"; port=$((port + 1))
                else
                    note "gateway-baseline: skipped, $GATEWAY_BASELINE is not an executable"
                fi
            fi
            ;;
        esac
    done
}

# start_target NAME: write its config, launch it on PROXY_CPU, wait for a 200. A target that
# does not come up is marked dead and left out of the rest of the run, with a note.
start_target() {
    local name=$1 dir="$STATE/$1" pid
    mkdir -p "$dir"
    case "${T_KIND[$name]}" in
    direct)
        write_backend_conf "$dir" "$DIRECT_PORT"
        launch "$name" "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' ;;
    nginx)
        write_nginx_proxy_conf "$dir"
        launch "$name" "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' ;;
    haproxy)
        if ! command -v haproxy >/dev/null 2>&1; then
            note "haproxy: skipped, the haproxy binary is missing (./dev.sh deps installs it)"
            T_DEAD[$name]=1; return 1
        fi
        write_haproxy_conf "$dir/haproxy.cfg"
        # -db: stay in the foreground as one process, so its pid is ours to watch.
        launch "$name" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" ;;
    gateway)
        write_gateway_conf "$dir/gateway.conf" "${T_PORT[$name]}" "${T_ENGINE[$name]}" "${T_KEYED[$name]}" "${T_OBSERVE[$name]}" "${T_TLS[$name]}"
        launch "$name" "$PROXY_CPU" "${T_BIN[$name]}" --config "$dir/gateway.conf" ;;
    esac
    pid=$LAUNCHED_PID
    if ! probe "${T_PORT[$name]}" /v1/sessions/demo "${#SMALL_BODY}" "$pid" "X-API-Key: $API_KEY"; then
        local why="did not answer 200 on 127.0.0.1:${T_PORT[$name]}/v1/sessions/demo within 5 s (last: ${PROBE_LAST:-none})"
        kill -0 "$pid" 2>/dev/null || why="exited before answering"
        note "$name: skipped, it $why; last log lines: $(tail -n 3 "$STATE/$name.log" 2>/dev/null | tr '\n|' ' /' || true)"
        stop "$name" "$pid"
        T_DEAD[$name]=1
        return 1
    fi
    T_PID[$name]=$pid
    # An HTTPS listener that does not answer leaves the target out of the TLS scenarios only.
    if serves_tls "$name"; then
        local code
        code="$(curl -sk -o /dev/null -m 2 -H "X-API-Key: $API_KEY" -w '%{http_code}' \
            "https://127.0.0.1:$(tls_port "$name")/v1/sessions/demo" || true)"
        if [[ "$code" != 200 ]]; then
            note "$name: left out of the TLS scenarios, its HTTPS listener on 127.0.0.1:$(tls_port "$name") answered '$code', not 200"
            T_TLS[$name]=0
        fi
    fi
    # A keyed target that answered without a key would measure the plain path under a new name.
    if [[ "${T_KEYED[$name]}" == 1 ]]; then
        local code
        code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${T_PORT[$name]}/v1/sessions/demo" || true)"
        if [[ "$code" != 401 ]]; then
            note "$name: skipped, a request without the API key got $code, not 401: the keyed configuration is not in force"
            stop_target "$name"
            T_DEAD[$name]=1
            return 1
        fi
    fi
}

stop_target() {
    local name=$1
    [[ -n "${T_PID[$name]}" ]] || return 0
    stop "$name" "${T_PID[$name]}"
    T_PID[$name]=""
}

# A target that died during a measurement stays out of the rest of the run.
check_alive() { # NAME WHAT
    if ! kill -0 "${T_PID[$1]}" 2>/dev/null; then
        note "$1: the process exited during $2; its later measurements are missing (log: benchmarks/results/tmp/$1.log)"
        forget "${T_PID[$1]}"
        T_PID[$1]=""
        T_DEAD[$1]=1
        return 1
    fi
}

# Targets in the order of round ROUND: rotated by one each round, so that no target always
# runs right after the same neighbour (whose leftover load or heat it would inherit).
round_order() { # ROUND NAME...
    local r=$1; shift
    local n=$# i
    local list=("$@")
    for ((i = 0; i < n; i++)); do echo "${list[$(((i + r - 1) % n))]}"; done
}

# ---------------------------------------------------------------- measuring

# CPU time (user + sys, in µs) consumed so far by a process tree, from /proc/PID/stat.
CLK_TCK="$(getconf CLK_TCK)"
cpu_us() { # ROOT_PID
    local p line rest total=0
    local -a f
    for p in "$1" $(descendants "$1"); do
        read -r line <"/proc/$p/stat" 2>/dev/null || continue
        rest="${line##*) }"          # the command name may contain spaces: cut after it
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))  # utime, stime (fields 14 and 15 of stat)
    done
    echo $((total * 1000000 / CLK_TCK))
}

# The scenarios that wrk drives, expanded: get-64, post-64, get-1000, ..., download, upload.
load_scenarios() {
    local s c
    for s in $SCENARIOS; do
        case "$s" in
        get|post) for c in $CONNECTIONS; do echo "$s-$c"; done ;;
        download|upload|tls-get|tls-handshake) echo "$s" ;;
        esac
    done
}

# Keyed targets exist to measure the policy path on small requests; the 1 MiB scenarios and
# idle memory would measure the same code as the plain target.
target_runs() { # NAME SCENARIO
    [[ "${T_DEAD[$1]}" == 0 ]] || return 1
    if is_tls_scenario "$2"; then serves_tls "$1"; return; fi
    [[ ( "${T_KEYED[$1]}" == 1 || -n "${T_OBSERVE[$1]}" ) && ( "$2" == download || "$2" == upload || "$2" == idle-memory ) ]] && return 1
    [[ "${T_KIND[$1]}" == direct && "$2" == idle-memory ]] && return 1
    return 0
}

# A wrk script per scenario: the request, and a done() that prints one machine-readable line.
write_wrk_script() { # SCENARIO FILE
    local body=""
    case "$1" in
    post-*) body="string.sub('{\"to\":\"+15550100\",\"text\":\"' .. string.rep('x', 1024) , 1, 1022) .. '\"}'" ;;
    upload) body="string.rep('x', $BIG_SIZE)" ;;
    esac
    {
        if [[ -n "$body" ]]; then
            echo "wrk.method = \"POST\""
            echo "wrk.body = $body"
            echo "wrk.headers[\"Content-Type\"] = \"application/json\""
        fi
        echo "wrk.headers[\"X-API-Key\"] = \"$API_KEY\""
        # Every request on a new connection, each a TLS handshake (resumed from the connection
        # before when session tickets are on: wrk keeps its session across reconnects).
        if [[ "$1" == tls-handshake ]]; then echo "wrk.headers[\"Connection\"] = \"close\""; fi
        cat <<'LUA'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
    } >"$2"
}

scenario_path() {
    case "$1" in
    get-*|tls-get|tls-handshake) echo /v1/sessions/demo ;;
    post-*) echo /v1/messages ;;
    download) echo /v1/big ;;
    upload) echo /v1/upload ;;
    esac
}

scenario_conns() {
    case "$1" in
    get-*|post-*) echo "${1#*-}" ;;
    download|upload) echo "$BIG_CONNECTIONS" ;;
    tls-get|tls-handshake) echo "$TLS_CONNECTIONS" ;;
    esac
}

# A target writing the JSON access log starts each measurement with an empty file, so a full run
# does not fill the disk (the gateway appends, so it goes on at the new end).
truncate_access_log() { # NAME
    [[ "${T_OBSERVE[$1]}" == jsonlog ]] || return 0
    : >"$STATE/$1/access.log"
}

# Raw results: one line per measurement, `key=value` fields, read by report.py.
record() { printf '%s\n' "$*" >>"$ROUNDS_FILE"; }

# field NAME LINE: the value of NAME=... in a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

measure_load() { # NAME SCENARIO ROUND
    local name=$1 s=$2 round=$3 port=${T_PORT[$1]} pid=${T_PID[$1]}
    local url conns script out cpu0 cpu1 line
    url="http://127.0.0.1:$port$(scenario_path "$s")"
    if is_tls_scenario "$s"; then url="https://127.0.0.1:$(tls_port "$name")$(scenario_path "$s")"; fi
    conns="$(scenario_conns "$s")"
    script="$STATE/wrk-$s.lua"
    out="$STATE/out/$s-$name-$round.txt"
    # Warm-up fills the proxies' upstream keep-alive pools and opens the client connections.
    if [[ "$WARMUP" != 0 ]]; then
        run_waited /dev/null wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" || true
    fi
    truncate_access_log "$name"
    cpu0="$(cpu_us "$pid")"
    run_waited "$out" wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" -s "$script" "$url" || true
    cpu1="$(cpu_us "$pid")"
    check_alive "$name" "$s round $round" || return 0
    line="$(grep '^RESULT' "$out" || true)"
    if [[ -z "$line" ]]; then
        note "$name / $s round $round: wrk produced no result (see benchmarks/results/tmp/out/$(basename "$out"))"
        return 0
    fi
    record "kind=load scenario=$s target=$name round=$round conns=$conns cpu_us=$((cpu1 - cpu0)) ${line#RESULT }"
    log "  $name: $(awk -v r="$(field requests "$line")" -v d="$(field duration_us "$line")" 'BEGIN {printf "%.0f req/s", r / d * 1e6}'), p99 $(field p99_us "$line") µs, errors $(field errors "$line")"
}

# The open-loop rate: FIXED_RATE, else FIXED_FRACTION of nginx's median GET req/s at the
# first of CONNECTIONS (get-64 by default), measured earlier in this run.
fixed_rate() {
    if [[ -n "$FIXED_RATE" ]]; then echo "$FIXED_RATE"; return; fi
    local line rates=() base="get-${CONNECTIONS%% *}"
    while read -r line; do
        rates+=("$(awk -v r="$(field requests "$line")" -v d="$(field duration_us "$line")" 'BEGIN {printf "%.1f", r / d * 1e6}')")
    done < <(grep " scenario=$base target=nginx " "$ROUNDS_FILE" || true)
    [[ ${#rates[@]} -gt 0 ]] || return 0
    printf '%s\n' "${rates[@]}" | sort -n | awk -v f="$FIXED_FRACTION" '
        { r[NR] = $1 }
        END { m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "%.0f", m * f }'
}

measure_rate() { # NAME RATE ROUND
    local name=$1 rate=$2 round=$3 port=${T_PORT[$1]} pid=${T_PID[$1]} out cpu0 cpu1 line
    local args=(-p "$port" -r "$rate" -c "$FIXED_CONNECTIONS" -P /v1/sessions/demo -H "X-API-Key: $API_KEY")
    out="$STATE/out/fixed-rate-$name-$round.txt"
    if [[ "$WARMUP" != 0 ]]; then run_waited /dev/null "$OPENLOOP" "${args[@]}" -d "$WARMUP" || true; fi
    truncate_access_log "$name"
    cpu0="$(cpu_us "$pid")"
    run_waited "$out" "$OPENLOOP" "${args[@]}" -d "$DURATION" || true
    cpu1="$(cpu_us "$pid")"
    check_alive "$name" "fixed-rate round $round" || return 0
    line="$(grep '^RESULT' "$out" || true)"
    if [[ -z "$line" ]]; then
        note "$name / fixed-rate round $round: openloop produced no result (see benchmarks/results/tmp/out/$(basename "$out"))"
        return 0
    fi
    record "kind=rate scenario=fixed-rate target=$name round=$round conns=$FIXED_CONNECTIONS rate=$rate duration_us=$((DURATION * 1000000)) cpu_us=$((cpu1 - cpu0)) ${line#RESULT }"
    log "  $name: p50 $(field p50_us "$line") µs, p99 $(field p99_us "$line") µs, p99.9 $(field p999_us "$line") µs, incomplete $(field incomplete "$line")"
}

# Idle memory wants a fresh process: memory pooled by the earlier load scenarios would hide
# what the connections themselves cost. The target is restarted for every round.
measure_idle() { # NAME ROUND SCENARIO (idle-memory or tls-idle-memory)
    local name=$1 round=$2 s=$3 out line pids port=${T_PORT[$1]} tls=()
    if is_tls_scenario "$s"; then port="$(tls_port "$name")"; tls=(--tls); fi
    stop_target "$name"
    start_target "$name" || return 0
    mapfile -t pids < <(echo "${T_PID[$name]}"; descendants "${T_PID[$name]}")
    out="$STATE/out/$s-$name-$round.txt"
    run_waited "$out" python3 "$BENCH_DIR/idle_conns.py" "${tls[@]}" "$port" /v1/sessions/demo \
        "$IDLE_CONNECTIONS" "$IDLE_SETTLE" "${pids[@]}" || true
    check_alive "$name" "$s round $round" || return 0
    line="$(grep '^RESULT' "$out" || true)"
    if [[ -z "$line" ]]; then
        note "$name / $s round $round: no result (see benchmarks/results/tmp/out/$(basename "$out"))"
        return 0
    fi
    record "kind=idle scenario=$s target=$name round=$round ${line#RESULT }"
    log "  $name: RSS $(field before_kib "$line") → $(field with_kib "$line") → $(field after_kib "$line") KiB, failed $(field failed "$line"), dropped $(field dropped "$line")"
}

# ---------------------------------------------------------------- phases

run_load_scenarios() {
    local s round t
    for s in $(load_scenarios); do
        write_wrk_script "$s" "$STATE/wrk-$s.lua"
        for ((round = 1; round <= ROUNDS; round++)); do
            log "$s: round $round/$ROUNDS (wrk -c$(scenario_conns "$s") -d${DURATION}s)"
            for t in $(round_order "$round" "${TARGETS[@]}"); do
                if target_runs "$t" "$s"; then measure_load "$t" "$s" "$round"; fi
            done
        done
    done
}

run_fixed_rate() {
    local rate round t
    rate="$(fixed_rate)"
    if [[ -z "$rate" || "$rate" == 0 ]]; then
        note "fixed-rate: skipped, it needs nginx's get-${CONNECTIONS%% *} result from this run, or FIXED_RATE"
        return 0
    fi
    build_openloop
    for ((round = 1; round <= ROUNDS; round++)); do
        log "fixed-rate: round $round/$ROUNDS ($rate req/s open-loop over $FIXED_CONNECTIONS connections)"
        for t in $(round_order "$round" "${TARGETS[@]}"); do
            if target_runs "$t" fixed-rate; then measure_rate "$t" "$rate" "$round"; fi
        done
    done
}

run_idle_memory() { # SCENARIO
    local s=$1 round t
    for ((round = 1; round <= ROUNDS; round++)); do
        log "$s: round $round/$ROUNDS ($IDLE_CONNECTIONS idle keep-alive connections)"
        for t in $(round_order "$round" "${TARGETS[@]}"); do
            if target_runs "$t" "$s"; then measure_idle "$t" "$round" "$s"; fi
        done
    done
}

has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# "name version" of a tool from the first line of its version output (awk reads it all: no
# SIGPIPE for pipefail to trip on).
first_words() { # TOOL FLAG
    if ! command -v "$1" >/dev/null 2>&1; then echo "$1 missing"; return; fi
    "$@" 2>&1 | awk -v tool="$1" 'NR == 1 { v = $3; if (tool == "nginx") { sub(/^nginx\//, "", $3); v = $3 } if (tool == "wrk") v = $2; print tool " " v }' || true
}

# Settings and versions for the report's header, as `key: value` lines.
write_meta() {
    local gw_rev pin
    gw_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    pin="proxies on CPU $PROXY_CPU, load generators on CPU $CLIENT_CPU, backend on CPU $BACKEND_CPU"
    [[ "$PIN" == 1 ]] || pin="none"
    {
        echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "versions: gateway $gw_rev; $(first_words nginx -v); $(first_words haproxy -v); $(first_words wrk -v)"
        echo "settings: ROUNDS=$ROUNDS × DURATION=${DURATION}s (warm-up ${WARMUP}s before each), WORKERS=$WORKERS per proxy, wrk -t$WRK_THREADS, big bodies over $BIG_CONNECTIONS connections"
        echo "pinning: $pin"
        if uses_tls; then
            echo "tls: TLS 1.3 with $TLS_SUITE only, one EC P-256 certificate, session tickets $TLS_TICKETS (wrk resumes the session of its previous connection when it can)"
        fi
        echo "targets: ${TARGETS[*]}"
        if ((ROUNDS < 5 || DURATION < 10)); then
            echo "warning: smoke run (ROUNDS=$ROUNDS, DURATION=${DURATION}s): it shows the format, not numbers to quote"
        fi
    } >"$STATE/meta.txt"
}

# ---------------------------------------------------------------- main

main() {
    REQUESTED=("$@")
    [[ ${#REQUESTED[@]} -eq 0 ]] && REQUESTED=(direct gateway nginx haproxy)
    check_arguments
    check_tools

    mkdir -p "$STATE/pids" "$STATE/out" "$RESULTS_DIR"
    bench_lock                     # one benchmark at a time on this machine (lib.sh)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    kill_stale
    local gateway_ports
    mapfile -t gateway_ports < <(seq "$GATEWAY_FIRST_PORT" $((GATEWAY_FIRST_PORT + 7)); \
        seq $((GATEWAY_FIRST_PORT + ADMIN_PORT_OFFSET)) $((GATEWAY_FIRST_PORT + ADMIN_PORT_OFFSET + 7)))
    check_ports_free "$BACKEND_PORT" "$DIRECT_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "${gateway_ports[@]}"
    if uses_tls; then
        local tls_ports=() port
        for port in "$NGINX_PORT" "$HAPROXY_PORT" "${gateway_ports[@]}"; do tls_ports+=($((port + TLS_PORT_OFFSET))); done
        check_ports_free "${tls_ports[@]}"
        make_tls_certificate
    fi
    raise_fd_limit
    rm -rf "$STATE"/out/* "$STATE"/*.log
    ROUNDS_FILE="$STATE/rounds.txt"
    : >"$ROUNDS_FILE"

    build_target_list
    [[ ${#TARGETS[@]} -gt 0 ]] || { log "no target left to measure"; exit 1; }
    write_meta

    log "backend: nginx on 127.0.0.1:$BACKEND_PORT"
    mkdir -p "$STATE/backend"
    write_backend_conf "$STATE/backend" "$BACKEND_PORT"
    launch backend "$BACKEND_CPU" nginx -p "$STATE/backend" -c "$STATE/backend/nginx.conf" -e "$STATE/backend/error.log" -g 'daemon off;'
    if ! probe "$BACKEND_PORT" /v1/sessions/demo "${#SMALL_BODY}" "$LAUNCHED_PID"; then
        log "backend did not come up; see $STATE/backend.log and $STATE/backend/error.log"
        exit 1
    fi

    # Every target runs for the whole run (idle while another is measured), so a round can
    # go straight from one target to the next.
    local t
    for t in "${TARGETS[@]}"; do
        log "starting $t on 127.0.0.1:${T_PORT[$t]}"
        start_target "$t" || true
    done

    run_load_scenarios
    if has_scenario fixed-rate; then run_fixed_rate; fi
    if has_scenario idle-memory; then run_idle_memory idle-memory; fi
    if has_scenario tls-idle-memory; then run_idle_memory tls-idle-memory; fi
    for t in "${TARGETS[@]}"; do stop_target "$t"; done

    local note_file="$STATE/notes.txt"
    printf '%s\n' "${NOTES[@]}" >"$note_file"
    cp "$ROUNDS_FILE" "$RESULTS_DIR/$REPORT-rounds.txt"
    python3 "$BENCH_DIR/report.py" --rounds "$ROUNDS_FILE" --meta "$STATE/meta.txt" --notes "$note_file" \
        --markdown "$RESULTS_DIR/$REPORT.md" --svg "$RESULTS_DIR/$REPORT.svg"
    cat "$RESULTS_DIR/$REPORT.md"
    log "written: benchmarks/results/$REPORT.md, $REPORT.svg, $REPORT-rounds.txt (raw rounds)"
}

# On one line with main, so bash has read the exit before main runs: editing this file during a
# run cannot make bash execute whatever then sits at its old read offset.
main "$@"; exit
