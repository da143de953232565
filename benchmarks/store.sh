#!/usr/bin/env bash
# Shared store benchmark, all in one run against one nginx backend and one private redis-server
# (--save "" --appendonly no, on its own port; never the system service):
#   local-1  one gateway, store local           (keyed path: auth + rate limit + concurrency)
#   redis-1  one gateway, store redis           (the same limits, checked in Redis)
#   redis-3  three gateways, store redis, one wrk each with a third of the connections
#   rate-1   one gateway, store redis, a key with only a rate limit (no slot: one command a request)
#   sync-1   the same with `store_sync local_burst=16` (most requests admitted without a round trip)
# Rounds are interleaved (round 1 of each, then round 2, ...); the report gives medians of req/s
# and p99, and Redis commands per request (from each gateway's gateway_store_commands_total).
# `benchmarks/store.sh shared-rate` instead runs the 20-second proof: three gateways, one key at
# 10x its rate round robin over them; admitted must never exceed burst + rate x elapsed.
#
# usage: benchmarks/store.sh [shared-rate]
# env:   DURATION (s, default 10)  ROUNDS (3)  CONNECTIONS (64)  GATEWAY (default .build/release/gateway)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/benchmarks/results/tmp"
DIR="$STATE/store"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
BACKEND_PORT=19300
REDIS_PORT=19379
GATEWAY_PORT=19380   # instances take 19380, 19381, 19382; their admin listeners 19390...
BENCH_KEY="bench-key"
log() { printf '[store] %s\n' "$*" >&2; }
for tool in wrk curl nginx redis-server python3; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is required (./dev.sh deps)"; exit 1; }
done
[[ -x "$GATEWAY" ]] || { log "$GATEWAY missing: run swift build -c release"; exit 1; }
mkdir -p "$DIR"
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock

start_nginx_backend "$DIR" "$BACKEND_PORT" "location /v1/ { return 200 '{\"success\":true}'; }"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no \
    >"$DIR/redis.log" 2>&1 9>&- &
PIDS+=($!)
for _ in $(seq 100); do [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break; sleep 0.05; done

write_conf() { # INDEX STORE PLAN [EXTRA]
    cat >"$DIR/gateway-$1.conf" <<CONF
listen 127.0.0.1:$((GATEWAY_PORT + $1));
admin_listen 127.0.0.1:$((GATEWAY_PORT + 10 + $1));
workers 1;
access_log off;
store $2;
${4:-}
upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
plan bench { $3 }
key plain:$BENCH_KEY { plan bench; }
route /v1/ { upstream backend; auth required; }
CONF
}

GATEWAYS=()
start_gateways() { # COUNT STORE PLAN [EXTRA]
    local i
    GATEWAYS=()
    for ((i = 0; i < $1; i++)); do
        write_conf "$i" "$2" "$3" "${4:-}"
        "$GATEWAY" --config "$DIR/gateway-$i.conf" >"$DIR/gateway-$i.log" 2>&1 9>&- &
        GATEWAYS+=($!)
        PIDS+=($!)
    done
    for ((i = 0; i < $1; i++)); do
        for _ in $(seq 200); do
            [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $BENCH_KEY" "http://127.0.0.1:$((GATEWAY_PORT + i))/v1/x")" == 200 ]] && break
            sleep 0.02
        done
    done
}

stop_gateways() {
    local pid
    for pid in "${GATEWAYS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    GATEWAYS=()
}

store_commands() { # COUNT: commands all instances have had answered by Redis
    local i total=0 n
    for ((i = 0; i < $1; i++)); do
        n="$(curl -s "http://127.0.0.1:$((GATEWAY_PORT + 10 + i))/metrics" | awk '/^gateway_store_commands_total\{result="replied"\}/ {print $2}')"
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

if [[ "${1:-}" == "shared-rate" ]]; then
    # 20 s, one key at 20/s burst 10, 10x that load spread round robin over three instances.
    start_gateways 3 "redis://127.0.0.1:$REDIS_PORT" "rate 20/s burst 10;"
    python3 "$ROOT/benchmarks/shared_rate.py" --key "$BENCH_KEY" --rate 20 --burst 10 --load 10 --seconds 20 \
        --ports "$GATEWAY_PORT" "$((GATEWAY_PORT + 1))" "$((GATEWAY_PORT + 2))"
    exit $?
fi

# Limits high enough never to refuse: every request runs the whole keyed path.
PLAN="rate 1000000/s burst 10000000; concurrency 100000;"
# Only a rate: nothing held in Redis, so store_sync local_burst applies.
RATE_PLAN="rate 1000000/s burst 10000000;"
RESULTS="$DIR/rounds.tsv"
: >"$RESULTS"
to_us() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /ms$/) v *= 1000; else if (t ~ /us$/) v *= 1; else if (t ~ /s$/) v *= 1000000; printf "%.0f", v }'; }

run_target() { # NAME COUNT STORE ROUND [PLAN] [EXTRA]
    local name=$1 count=$2 i before after requests=0 rps=0 out p99=0 per pids=()
    start_gateways "$count" "$3" "${5:-$PLAN}" "${6:-}"
    before="$(store_commands "$count")"
    per=$((CONNECTIONS / count))
    for ((i = 0; i < count; i++)); do
        wrk -t1 -c"$per" -d"${DURATION}s" --latency -H "X-API-Key: $BENCH_KEY" "http://127.0.0.1:$((GATEWAY_PORT + i))/v1/x" \
            >"$DIR/wrk-$name-$4-$i.txt" 2>&1 9>&- &
        pids+=($!)
    done
    wait "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < count; i++)); do
        out="$DIR/wrk-$name-$4-$i.txt"
        rps=$(awk -v s="$rps" '/^Requests\/sec:/ {s += $2} END {printf "%.0f", s}' "$out")
        requests=$((requests + $(awk '/requests in/ {n = $1} END {print n + 0}' "$out")))
        # The slowest instance's p99 stands for the group.
        local this; this="$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")"
        ((this > p99)) && p99=$this
    done
    after="$(store_commands "$count")"
    stop_gateways
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$count" "$rps" "$p99" "$(( (after - before) * 100 / (requests > 0 ? requests : 1) ))" >>"$RESULTS"
    log "round $4 $name: $rps req/s, p99 ${p99} us, $((after - before)) Redis commands for $requests requests"
}

for ((round = 1; round <= ROUNDS; round++)); do
    run_target local-1 1 local "$round"
    run_target redis-1 1 "redis://127.0.0.1:$REDIS_PORT" "$round"
    run_target redis-3 3 "redis://127.0.0.1:$REDIS_PORT" "$round"
    run_target rate-1 1 "redis://127.0.0.1:$REDIS_PORT" "$round" "$RATE_PLAN"
    run_target sync-1 1 "redis://127.0.0.1:$REDIS_PORT" "$round" "$RATE_PLAN" "store_sync local_burst=16;"
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
def med(name, column): return statistics.median(float(r[column]) for r in rows if r[0] == name)
print("| target | gateways | req/s (median) | p99 µs (median) | Redis commands per request |")
print("|---|---:|---:|---:|---:|")
for name, count in (("local-1", 1), ("redis-1", 1), ("redis-3", 3), ("rate-1", 1), ("sync-1", 1)):
    print(f"| {name} | {count} | {med(name, 2):.0f} | {med(name, 3):.0f} | {med(name, 4) / 100:.2f} |")
print()
print(f"redis-1 / local-1 = {med('redis-1', 2) / med('local-1', 2):.2f} (req/s), {med('redis-1', 3) / med('local-1', 3):.2f} (p99); "
      f"redis-3 / redis-1 = {med('redis-3', 2) / med('redis-1', 2):.2f} (req/s); "
      f"sync-1 / rate-1 = {med('sync-1', 2) / med('rate-1', 2):.2f} (req/s), {med('sync-1', 3) / med('rate-1', 3):.2f} (p99)")
PY
echo "DURATION=${DURATION}s x $ROUNDS rounds, wrk -t1, $CONNECTIONS connections in all, 1 worker per gateway, $(nproc) cores shared by"
echo "every process (gateways, redis-server, nginx, wrk); keyed path: auth + rate limit + concurrency (never refusing);"
echo "rate-1 and sync-1: auth + rate limit only, sync-1 with store_sync local_burst=16."
