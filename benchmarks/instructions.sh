#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind's callgrind: the one figure on
# this shared 2-core box that repeats exactly whatever else runs (wall time and even CPU time do
# not). Kernel work is not counted, so compare builds with it, not proxies.
#
# usage: benchmarks/instructions.sh [BINARY...]   (default: .build/release/gateway)
# Each binary serves GET /v1/sessions/demo from the mock upstream for a short and a long wrk run;
# the difference of the two totals over the difference of the request counts cancels start-up.
# env: SHORT [3] and LONG [9] seconds, CONNECTIONS [4], KEYED [0] (1: API key, rate, concurrency,
# idempotency optional on the route)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHORT="${SHORT:-3}" LONG="${LONG:-9}" CONNECTIONS="${CONNECTIONS:-4}" KEYED="${KEYED:-0}"
PORT=19555 MOCK_PORT=19556
log() { printf '[instructions] %s\n' "$*" >&2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gateway-instructions.XXXXXX")"
STATE="$WORK"
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
# The machine-wide benchmark lock: another run would share the ports (and skew nothing, but collide).
bench_lock
MOCK_PID=""
trap 'if [[ -n "$MOCK_PID" ]]; then kill "$MOCK_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

for tool in valgrind callgrind_annotate wrk curl; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (./dev.sh deps)" >&2; exit 1; }
done
for port in $PORT $MOCK_PORT; do
    if ss -ltn "sport = :$port" | grep -q LISTEN; then
        echo "instructions.sh: port $port is taken; stop whatever listens there first" >&2
        exit 1
    fi
done

"$ROOT/.build/release/mock-upstream" --port "$MOCK_PORT" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!

KEY="instructions-key"
cat >"$WORK/gateway.conf" <<EOF
listen 127.0.0.1:$PORT;
workers 1;
access_log off;
upstream messaging { server 127.0.0.1:$MOCK_PORT; keepalive 64; }
EOF
if [[ "$KEYED" == 1 ]]; then
    HASH="$("${1:-$ROOT/.build/release/gateway}" hash-key "$KEY")"
    cat >>"$WORK/gateway.conf" <<EOF
plan bench { rate 1000000/s burst 1000000; concurrency 10000; }
key sha256:$HASH { plan bench; }
route /v1/ { upstream messaging; auth required; idempotency optional; }
EOF
else
    echo "route /v1/ { upstream messaging; idempotency off; }" >>"$WORK/gateway.conf"
fi

# One callgrind run of BINARY under SECONDS of load: prints "REQUESTS INSTRUCTIONS".
measure() {
    local binary=$1 seconds=$2 out="$WORK/callgrind.$RANDOM" pid requests total
    # Without its DWARF data: valgrind 3.19 cannot read what this toolchain writes; symbols stay.
    objcopy --strip-debug "$binary" "$WORK/gateway"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$WORK/gateway" --config "$WORK/gateway.conf" \
        >"$WORK/valgrind.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -fs -o /dev/null -H "X-API-Key: $KEY" "127.0.0.1:$PORT/v1/sessions/demo" && break
        sleep 0.2
    done
    wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/v1/sessions/demo" >"$out.wrk"
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 2
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    requests="$(awk '/requests in/ {print $1}' "$out.wrk")"
    total="$(callgrind_annotate "$(ls -S "$out".* | grep -v wrk | head -1)" 2>/dev/null \
             | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')"
    echo "$requests $total"
}

for binary in "${@:-$ROOT/.build/release/gateway}"; do
    read -r r1 i1 < <(measure "$binary" "$SHORT")
    read -r r2 i2 < <(measure "$binary" "$LONG")
    echo "$binary: $(( (i2 - i1) / (r2 - r1) )) instructions per request ($((r2 - r1)) requests counted)"
done
