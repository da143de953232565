#!/usr/bin/env bash
# Where a proxied request's CPU goes, for the gateway and for nginx under the same load: the
# share of user and kernel time, system calls per request (strace -c, a separate pass, since
# tracing slows everything), and the hottest symbols of a `perf record -g` sample.
#
# usage: benchmarks/profile.sh
# env:   DURATION (s, default 5)  CONNECTIONS (default 64)  GATEWAY (binary)  ENGINE (io_engine, default epoll)
#        KEYED (1: the keyed configuration, default 0)  TOP (symbols listed, default 25)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/benchmarks/results/tmp"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
ENGINE="${ENGINE:-epoll}"
KEYED="${KEYED:-0}"
TOP="${TOP:-25}"
BACKEND_PORT=19700
NGINX_PORT=19710
GATEWAY_PORT=19720
KEY="profile-key"

log() { printf '[profile] %s\n' "$*" >&2; }
for tool in wrk nginx perf strace taskset; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is required (./dev.sh deps installs it)"; exit 1; }
done
[[ -x "$GATEWAY" ]] || { log "$GATEWAY missing: run swift build -c release"; exit 1; }

# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock
DIR="$STATE/profile"
mkdir -p "$DIR"

start_nginx_backend "$DIR" "$BACKEND_PORT" "location /v1/ { return 200 '{\"success\":true,\"data\":{\"id\":\"demo\"}}'; }"
mkdir -p "$DIR/proxy"
cat >"$DIR/proxy/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/proxy/nginx.pid;
error_log $DIR/proxy/error.log warn;
$([[ "$(id -u)" -eq 0 ]] && echo "user root;")
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $DIR/proxy/cb; proxy_temp_path $DIR/proxy/px; fastcgi_temp_path $DIR/proxy/fc; uwsgi_temp_path $DIR/proxy/uw; scgi_temp_path $DIR/proxy/sc;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
taskset -c 0 nginx -p "$DIR/proxy" -c "$DIR/proxy/nginx.conf" -g 'daemon off;' 9>&- &
PIDS+=($!)

{
    echo "listen 127.0.0.1:$GATEWAY_PORT;"
    echo "workers 1;"
    echo "io_engine $ENGINE;"
    echo "access_log off;"
    echo "upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }"
    if [[ "$KEYED" == 1 ]]; then
        echo "plan bench { rate 1000000/s burst 10000000; concurrency 100000; }"
        echo "key sha256:$("$GATEWAY" hash-key "$KEY") { plan bench; }"
        echo "global_concurrency 100000;"
        echo "route /v1/ { upstream backend; auth required; idempotency optional; }"
    else
        echo "route /v1/ { upstream backend; idempotency off; }"
    fi
} >"$DIR/gateway.conf"
taskset -c 0 "$GATEWAY" --config "$DIR/gateway.conf" >"$DIR/gateway.log" 2>&1 9>&- &
GATEWAY_PID=$!
PIDS+=($GATEWAY_PID)
sleep 1
NGINX_WORKER=$(pgrep -P "$(cat "$DIR/proxy/nginx.pid")" | head -1)

HEADER=(-H "X-API-Key: $KEY")
load() { # PORT SECONDS -> requests completed
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${2}s" "${HEADER[@]}" "http://127.0.0.1:$1/v1/sessions/demo" \
        | awk '/requests in/ {print $1}'
}
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }   # utime stime, in clock ticks

for target in gateway nginx; do
    if [[ $target == gateway ]]; then pid=$GATEWAY_PID; port=$GATEWAY_PORT; else pid=$NGINX_WORKER; port=$NGINX_PORT; fi
    load "$port" 1 >/dev/null   # warm-up: pools filled, caches warm
    read -r u0 s0 < <(ticks "$pid")
    requests=$(load "$port" "$DURATION")
    read -r u1 s1 < <(ticks "$pid")
    hz=$(getconf CLK_TCK)
    awk -v n="$requests" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" -v t="$target" 'BEGIN {
        printf "%-8s %9d requests  CPU %.2f µs/request: user %.2f (%.0f%%), kernel %.2f (%.0f%%)\n",
            t, n, (u + s) / hz / n * 1e6, u / hz / n * 1e6, 100 * u / (u + s), s / hz / n * 1e6, 100 * s / (u + s) }'

    strace -c -f -p "$pid" -o "$DIR/strace-$target.txt" 2>/dev/null &
    tracer=$!
    sleep 0.5
    requests=$(load "$port" 2)
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    awk -v n="$requests" 'NR > 2 && $4 ~ /^[0-9]+$/ && $NF != "total" && $4 / n >= 0.01 {
        printf "    %-16s %.2f per request\n", $NF, $4 / n }' "$DIR/strace-$target.txt"

    perf record -q -g -o "$DIR/perf-$target.data" -p "$pid" -- sleep "$DURATION" >/dev/null 2>&1 &
    recorder=$!
    load "$port" "$DURATION" >/dev/null
    wait "$recorder" || true
    echo "    hottest symbols (self time, % of $target's samples):"
    perf report -q -i "$DIR/perf-$target.data" --no-children --sort sym --percent-limit 0.8 2>/dev/null \
        | awk 'NF && $1 ~ /%$/' | head -n "$TOP" | sed 's/^/      /'
done
