#!/usr/bin/env bash
# Streams 100 MB down and 100 MB up through the gateway and reports its RSS before and at peak:
# with bounded per-connection buffers and backpressure, the peak stays flat whatever the size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MB="${SIZE_MB:-100}"
STREAMS="${STREAMS:-4}"
TMP="$ROOT/benchmarks/results/tmp/stream"
mkdir -p "$TMP"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
MOCK="${MOCK:-$ROOT/.build/release/mock-upstream}"
UP_PORT=19190
GW_PORT=19180
STATE="$ROOT/benchmarks/results/tmp"
log() { printf '[stream] %s\n' "$*" >&2; }
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock

cat > "$TMP/gateway.conf" <<CONF
listen 127.0.0.1:$GW_PORT;
workers 1;
upstream mock { server 127.0.0.1:$UP_PORT; }
route /v1/ { upstream mock; max_body 1g; }
CONF
"$MOCK" --port "$UP_PORT" > "$TMP/mock.log" 2>&1 9>&- & PIDS+=($!)
"$GATEWAY" --config "$TMP/gateway.conf" > "$TMP/gateway.log" 2>&1 9>&- & gw=$!; PIDS+=("$gw")
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$GW_PORT/v1/sessions/x" >/dev/null 2>&1 && break; sleep 0.1; done

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$gw/status"; }
before=$(rss_kb)

bytes=$((SIZE_MB * 1024 * 1024))
head -c "$bytes" /dev/zero > "$TMP/upload.bin"
start=$(date +%s.%N)
transfers=()
for _ in $(seq "$STREAMS"); do
    curl -fs -o /dev/null "http://127.0.0.1:$GW_PORT/v1/bytes/$bytes" & transfers+=($!)
    curl -fs -o /dev/null -T "$TMP/upload.bin" "http://127.0.0.1:$GW_PORT/v1/upload" & transfers+=($!)
done
# Sample RSS until every transfer has finished.
peak=$before
while kill -0 "${transfers[@]}" 2>/dev/null || pgrep -P $$ curl >/dev/null; do
    r=$(rss_kb); (( r > peak )) && peak=$r
    sleep 0.05
done
failed=0
for p in "${transfers[@]}"; do wait "$p" || failed=$((failed + 1)); done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
total_mb=$((SIZE_MB * STREAMS * 2))
printf '| streams | MB moved | seconds | failed transfers | gateway RSS before (MiB) | gateway RSS peak (MiB) |\n|---:|---:|---:|---:|---:|---:|\n'
printf '| %d down + %d up | %d | %.1f | %d | %.1f | %.1f |\n' "$STREAMS" "$STREAMS" "$total_mb" "$elapsed" "$failed" \
    "$(echo "$before/1024" | bc -l)" "$(echo "$peak/1024" | bc -l)"
(( failed == 0 ))
