#!/usr/bin/env bash
# API-key benchmark: the plain proxy, then auth + rate limit + concurrency (limits high enough
# never to refuse) with 1 key configured and with 1,000,000 keys, all in one run against the
# same nginx backend. Reports req/s, p99, start-up time (launch to first 200) and peak RSS.
#
# usage: benchmarks/keys.sh
# env:   DURATION (s, default 10)  CONNECTIONS (default 50)  WORKERS (default 1)
#        KEYS (default 1000000)  GATEWAY (binary, default .build/release/gateway)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/benchmarks/results/tmp"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-50}"
WORKERS="${WORKERS:-1}"
KEYS="${KEYS:-1000000}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
BACKEND_PORT=19100
GATEWAY_PORT=19180
BENCH_KEY="bench-key"

log() { printf '[keys] %s\n' "$*" >&2; }
for tool in wrk curl nginx python3; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done
[[ -x "$GATEWAY" ]] || { log "$GATEWAY missing: run swift build -c release"; exit 1; }

mkdir -p "$STATE/keys-bench"
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock
DIR="$STATE/keys-bench"


start_nginx_backend "$DIR" "$BACKEND_PORT" "location /v1/ { return 200 '{\"success\":true}'; }"

log "generating $KEYS key hashes"
BENCH_HASH="$("$GATEWAY" hash-key "$BENCH_KEY")"
python3 - "$DIR" "$KEYS" "$BENCH_HASH" <<'PY'
import hashlib, sys
directory, count, bench = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{directory}/one.list", "w") as f:
    f.write(f"sha256:{bench} bench\n")
with open(f"{directory}/many.list", "w") as f:
    f.write(f"sha256:{bench} bench\n")
    for i in range(count - 1):
        f.write("sha256:" + hashlib.sha256(b"key-%d" % i).hexdigest() + " bench\n")
PY

write_conf() { # NAME KEYS_FILE|""
    {
        echo "listen 127.0.0.1:$GATEWAY_PORT; workers $WORKERS; access_log off;"
        echo "upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }"
        if [[ -n "$2" ]]; then
            echo "global_concurrency 1000000;"
            echo "plan bench { rate 1000000/s burst 10000000; concurrency 100000; }"
            echo "keys_file $2;"
            echo "route /v1/ { upstream backend; auth required; }"
        else
            echo "route /v1/ { upstream backend; }"
        fi
    } >"$DIR/$1.conf"
}

ROWS=()
measure() { # NAME KEYS_FILE|"" KEY_COUNT
    local name="$1" start pid i ms out rps p99 errs rss
    write_conf "$name" "$2"
    start=$(date +%s%N)
    "$GATEWAY" --config "$DIR/$name.conf" >"$DIR/$name.log" 2>&1 9>&- &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 3000; i++)); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $BENCH_KEY" "http://127.0.0.1:$GATEWAY_PORT/v1/x" 2>/dev/null)" == 200 ]] && break
        kill -0 "$pid" 2>/dev/null || { log "$name: gateway exited (see $DIR/$name.log)"; return; }
        sleep 0.01
    done
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    log "$name: up in ${ms} ms; wrk -c$CONNECTIONS -d${DURATION}s"
    out="$DIR/wrk-$name.txt"
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "X-API-Key: $BENCH_KEY" "http://127.0.0.1:$GATEWAY_PORT/v1/x" >"$out" 2>&1 9>&- || true
    rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    errs="$(awk '/Non-2xx or 3xx responses:/ {n += $NF} END {print n + 0}' "$out")"
    rss="$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    ROWS+=("| $name | $3 | $ms | ${rps:-failed} | ${p99:-} | $errs | $rss |")
}

measure plain-proxy "" 0
measure one-key "one.list" 1
measure many-keys "many.list" "$KEYS"

echo "| mode | keys | start-up ms | req/s | p99 | non-2xx | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "DURATION=${DURATION}s, wrk -t1 -c$CONNECTIONS, gateway workers $WORKERS, $(nproc) cores; auth + rate limit + concurrency on in the keyed modes."
