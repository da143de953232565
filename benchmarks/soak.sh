#!/usr/bin/env bash
# Soak: a release gateway in front of a release mock-upstream under mixed traffic (valid requests,
# 429s from a tight plan, idempotent replays, garbage, slow clients, slow readers, upstream failures)
# for SOAK_SECONDS, sampling the gateway's RSS and descriptor count every 5 s. Fails when either
# grows after the warm-up (first 20 %): RSS by more than RSS_LIMIT_MIB (2) or descriptors by more
# than FD_LIMIT (5), extrapolated to 10 minutes from a least-squares fit. See benchmarks/soak.py.
#
# usage: benchmarks/soak.sh
# env:   SOAK_SECONDS (default 600)  SAMPLE_S (5)  RSS_LIMIT_MIB (2)  FD_LIMIT (5)
#        GATEWAY (default .build/release/gateway)  MOCK (default .build/release/mock-upstream)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/benchmarks/results/tmp"
SOAK_SECONDS="${SOAK_SECONDS:-600}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"
MOCK="${MOCK:-$ROOT/.build/release/mock-upstream}"
MOCK_PORT=19200
GATEWAY_PORT=19280
GOOD_KEY="soak-good-key"
TIGHT_KEY="soak-tight-key"

log() { printf '[soak] %s\n' "$*" >&2; }
command -v python3 >/dev/null 2>&1 || { log "python3 is required"; exit 1; }
for b in "$GATEWAY" "$MOCK"; do
    [[ -x "$b" ]] || { log "$b missing: run swift build -c release"; exit 1; }
done

mkdir -p "$STATE/soak"
# shellcheck source=benchmarks/lib.sh
source "$ROOT/benchmarks/lib.sh"
bench_lock
DIR="$STATE/soak"


for p in $MOCK_PORT $GATEWAY_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then log "port $p is in use; stop whatever holds it"; exit 1; fi
done

cat >"$DIR/gateway.conf" <<CONF
listen 127.0.0.1:$GATEWAY_PORT;
workers 2;
client_header_timeout 2s;
client_body_timeout 2s;
send_timeout 2s;
keepalive_timeout 10s;
upstream messaging {
    server 127.0.0.1:$MOCK_PORT max_fails=0;
    response_timeout 1s;
    keepalive 16;
}
plan roomy { rate 100000/s burst 100000; concurrency 1000; }
plan tight { rate 5/s burst 5; concurrency 2; }
key sha256:$("$GATEWAY" hash-key "$GOOD_KEY") { plan roomy; scopes messages:write sessions:read; }
key sha256:$("$GATEWAY" hash-key "$TIGHT_KEY") { plan tight; scopes sessions:read; }
route /v1/ {
    upstream messaging;
    auth required;
    max_body 1m;
    idempotency optional;
}
idempotency { ttl 60s; max_memory 8m; max_response_size 16k; }
CONF

"$MOCK" --port "$MOCK_PORT" >"$DIR/mock.log" 2>&1 &
PIDS+=($!)
"$GATEWAY" --config "$DIR/gateway.conf" >"$DIR/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 100); do
    curl -fsS -o /dev/null -H "X-API-Key: $GOOD_KEY" "http://127.0.0.1:$GATEWAY_PORT/v1/sessions/ready" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null -H "X-API-Key: $GOOD_KEY" "http://127.0.0.1:$GATEWAY_PORT/v1/sessions/ready" \
    || { log "gateway did not come up:"; cat "$DIR/gateway.log" >&2; exit 1; }

log "soaking for ${SOAK_SECONDS}s (gateway pid $GATEWAY_PID, log $DIR/gateway.log)"
set +e
python3 "$ROOT/benchmarks/soak.py" "$GATEWAY_PORT" "$GATEWAY_PID" "$SOAK_SECONDS" "$GOOD_KEY" "$TIGHT_KEY" "$DIR/result.md"
status=$?
set -e
cp "$DIR/result.md" "$ROOT/benchmarks/results/soak-latest.md"
if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then log "the gateway is gone; its log:"; tail -20 "$DIR/gateway.log" >&2; status=1; fi
log "gateway log: $(grep -c . "$DIR/gateway.log") lines, $(grep -c '\[error\]' "$DIR/gateway.log" || true) errors"
exit $status
