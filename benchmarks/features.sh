#!/usr/bin/env bash
# Feature costs, side by side in one run against one nginx backend:
#   plain GET | upstream 4xx rewritten into the envelope | plain POST |
#   POST with a fresh Idempotency-Key each (every answer stored) | POST replaying stored keys,
# then the memory an idempotency entry costs, measured over FILL stored entries.
#
# usage: benchmarks/features.sh      env: DURATION (s, default 10) CONNECTIONS (50) FILL (1000000)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/benchmarks/results/tmp"
DIR="$STATE/features"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-50}"
FILL="${FILL:-1000000}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
BACKEND_PORT=19200
GATEWAY_PORT=19280
log() { printf '[features] %s\n' "$*" >&2; }
[[ -x "$GATEWAY" ]] || { log "$GATEWAY missing: run swift build -c release"; exit 1; }
mkdir -p "$DIR"
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock


start_nginx_backend "$DIR" "$BACKEND_PORT" "
        location /v1/sessions/ { return 200 '{\"success\":true,\"data\":{\"id\":\"s1\",\"status\":\"connected\"}}'; }
        location /v1/missing/ { return 404 '{\"error\":{\"code\":\"SESSION_NOT_FOUND\",\"message\":\"Session not found\"}}'; }
        location /v1/messages/ { return 201 '{\"success\":true,\"data\":{\"id\":\"msg_1\",\"status\":\"queued\"}}'; }"

cat >"$DIR/gateway.conf" <<CONF
listen 127.0.0.1:$GATEWAY_PORT;
workers 1;
upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
route /v1/ { upstream backend; }
idempotency { ttl 24h; max_memory 4g; }
CONF
"$GATEWAY" --config "$DIR/gateway.conf" 2>"$DIR/gateway.log" 9>&- &
GW=$!
PIDS+=("$GW")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$GATEWAY_PORT/v1/sessions/x" >/dev/null 2>&1 && break; sleep 0.05; done

cat >"$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"to":"+15550100","text":"hi"}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$DIR/unique.lua" <<'LUA'
local counter = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
request = function()
    counter = counter + 1
    return wrk.format("POST", nil, {["Idempotency-Key"] = prefix .. "-" .. counter, ["Content-Type"] = "application/json"},
                      '{"to":"+15550100","text":"hi"}')
end
LUA
cat >"$DIR/replay.lua" <<'LUA'
local counter = 0
request = function()
    counter = counter % 100 + 1
    return wrk.format("POST", nil, {["Idempotency-Key"] = "replay-" .. counter, ["Content-Type"] = "application/json"},
                      '{"to":"+15550100","text":"hi"}')
end
LUA
cat >"$DIR/report.lua" <<'LUA'
done = function(summary, latency, requests)
    io.write(string.format("RESULT %d %.2f %.3f %d\n", summary.requests, summary.requests / (summary.duration / 1e6),
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

rows=()
measure() {  # name path script
    local name=$1 path=$2 script=$3
    local combined="$DIR/run.lua"
    cat "$script" "$DIR/report.lua" > "$combined"
    wrk -t1 -c"$CONNECTIONS" -d1s -s "$combined" "http://127.0.0.1:$GATEWAY_PORT$path" >/dev/null 2>&1 || true
    local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$combined" "http://127.0.0.1:$GATEWAY_PORT$path" | grep '^RESULT')
    read -r _ total rps p99 errors <<<"$out"
    rows+=("$name|$rps|$p99|$errors")
    log "$name: $rps req/s, p99 $p99 ms, non-2xx or errors $errors"
}
: >"$DIR/empty.lua"
measure "plain GET" /v1/sessions/x "$DIR/empty.lua"
measure "GET, upstream 404 rewritten" /v1/missing/x "$DIR/empty.lua"
measure "plain POST" /v1/messages/text "$DIR/post.lua"
measure "POST, fresh Idempotency-Key (stored)" /v1/messages/text "$DIR/unique.lua"
measure "POST, replayed Idempotency-Key" /v1/messages/text "$DIR/replay.lua"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$GW/status"; }
cat "$DIR/unique.lua" "$DIR/report.lua" > "$DIR/fill.lua"
before=$(rss_kb); stored=0
log "filling $FILL idempotency entries"
while (( stored < FILL )); do
    out=$(wrk -t1 -c"$CONNECTIONS" -d10s -s "$DIR/fill.lua" "http://127.0.0.1:$GATEWAY_PORT/v1/messages/text" | grep '^RESULT')
    read -r _ total _ _ _ <<<"$out"
    stored=$((stored + total))
done
after=$(rss_kb)
per_entry=$(( (after - before) * 1024 / stored ))

{
    echo "# Feature costs (gateway, 1 worker, wrk -t1 -c$CONNECTIONS, ${DURATION}s each, one run)"
    echo
    echo "| request | req/s | p99 ms | non-2xx or socket errors | ÷ plain of its method |"
    echo "|---|---:|---:|---:|---:|"
    base_get=""; base_post=""
    for row in "${rows[@]}"; do
        IFS='|' read -r name rps p99 errors <<<"$row"
        [[ "$name" == "plain GET" ]] && base_get=$rps
        [[ "$name" == "plain POST" ]] && base_post=$rps
        base=$base_get; [[ "$name" == *POST* ]] && base=$base_post
        printf '| %s | %.0f | %s | %s | %.2f |\n' "$name" "$rps" "$p99" "$errors" "$(echo "$rps / $base" | bc -l)"
    done
    echo
    echo "The rewritten row's non-2xx count is its 404s, as intended."
    echo
    echo "Idempotency store: $stored entries stored, gateway RSS $((before / 1024)) → $((after / 1024)) MiB: about $per_entry bytes per entry (key, fingerprint, 56-byte body and headers, index)."
} | tee "$ROOT/benchmarks/results/features.md"
