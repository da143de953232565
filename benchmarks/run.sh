#!/usr/bin/env bash
# Side-by-side benchmark: gateway vs nginx vs HAProxy in front of one shared
# nginx backend, plus wrk straight at the backend as the no-proxy baseline.
# Everything runs sequentially on 127.0.0.1 so the numbers of one run are
# comparable with each other (and only with each other).
#
# usage: benchmarks/run.sh [TARGET...]    TARGET: direct gateway nginx haproxy
# env:   DURATION (s, default 10)  CONNECTIONS (small scenario, default 50)
#        BIG_CONNECTIONS (default 10)  WORKERS (per proxy, default 1)
#        SCENARIOS (default "small big")  WARMUP (s, default 1)
#        WRK_THREADS (default 1)  GATEWAY (binary, default .build/release/gateway)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/benchmarks"
RESULTS_DIR="$BENCH_DIR/results"
# Fixed (git-ignored) state dir: its pid files let the next run clean up
# after one that was killed before its trap could run.
STATE="$RESULTS_DIR/tmp"

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-50}"
BIG_CONNECTIONS="${BIG_CONNECTIONS:-10}"
WORKERS="${WORKERS:-1}"
SCENARIOS="${SCENARIOS:-small big}"
WARMUP="${WARMUP:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
GATEWAY="${GATEWAY:-$ROOT/.build/release/gateway}"

BACKEND_PORT=19000
GATEWAY_PORT=19080
NGINX_PORT=19081
HAPROXY_PORT=19082
ALL_PORTS=("$BACKEND_PORT" "$GATEWAY_PORT" "$NGINX_PORT" "$HAPROXY_PORT")

BIG_SIZE=1048576
SMALL_BODY='{"success":true,"data":{"id":"msg_1"}}'

TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(direct gateway nginx haproxy)

log() { printf '[bench] %s\n' "$*" >&2; }

for t in "${TARGETS[@]}"; do
    case "$t" in direct|gateway|nginx|haproxy) ;; -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) log "unknown target '$t' (want: direct gateway nginx haproxy)"; exit 2 ;; esac
done
for s in $SCENARIOS; do
    case "$s" in small|big) ;; *) log "unknown scenario '$s' (want: small big)"; exit 2 ;; esac
done
command -v wrk >/dev/null 2>&1 || { log "wrk is required (./dev.sh deps installs it)"; exit 1; }
command -v curl >/dev/null 2>&1 || { log "curl is required (./dev.sh deps installs it)"; exit 1; }
command -v nginx >/dev/null 2>&1 || { log "nginx is required for the backend (./dev.sh deps installs it)"; exit 1; }

# ---------------------------------------------------------------- processes

# All descendants of a pid (nginx workers, forked gateway workers, ...).
descendants() {
    local kids k
    kids="$(pgrep -P "$1" 2>/dev/null || true)"
    for k in $kids; do echo "$k"; descendants "$k"; done
}

# TERM a process tree, give it 3 s, then KILL what is left.
kill_tree() {
    local root="$1" pids p i
    mapfile -t pids < <(echo "$root"; descendants "$root")
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        local alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "$root" 2>/dev/null || true
}

# Stop whatever a previous (aborted) run left behind, but only processes
# whose command line points into our state dir, so a pid reused by an
# unrelated process is never touched.
kill_stale() {
    local f pid
    [[ -d "$STATE/pids" ]] || return 0
    for f in "$STATE"/pids/*.pid; do
        [[ -e "$f" ]] || continue
        pid="$(cat "$f" 2>/dev/null || true)"
        if [[ -n "$pid" && -r /proc/$pid/cmdline ]] &&
            { tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$STATE" ||
              [[ "$(basename "$f")" == wrk.pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == wrk ]]; }; then
            log "stopping leftover $(basename "$f" .pid) (pid $pid) from an earlier run"
            kill_tree "$pid"
        fi
        rm -f "$f"
    done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

STARTED=()      # pids of everything we launched, for the exit trap
cleanup() {
    local p
    for p in "${STARTED[@]}"; do
        kill -0 "$p" 2>/dev/null && kill_tree "$p"
    done
    # Only our own pid files: never forget another run's processes.
    for p in "${STARTED[@]}"; do
        grep -lx "$p" "$STATE"/pids/*.pid 2>/dev/null | xargs -r rm -f
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Drop a pid once its process is gone, so the exit trap can never hit a reused pid.
forget() {
    local keep=() p
    for p in "${STARTED[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# Run wrk in the background and wait for it: bash delays traps until a
# foreground command ends, but "wait" returns at once on INT/TERM, so
# Ctrl-C during a long wrk run cleans up immediately.
run_waited() {
    "$@" 9>&- &
    local pid=$! rc=0
    STARTED+=("$pid")
    echo "$pid" >"$STATE/pids/wrk.pid"
    wait "$pid" || rc=$?
    forget "$pid"
    rm -f "$STATE/pids/wrk.pid"
    return "$rc"
}

# launch NAME CMD...: run in the background, logs in $STATE/NAME.log.
launch() {
    local name="$1"; shift
    "$@" >"$STATE/$name.log" 2>&1 9>&- &
    local pid=$!
    STARTED+=("$pid")
    echo "$pid" >"$STATE/pids/$name.pid"
    LAUNCHED_PID=$pid
}

stop() {
    local name="$1" pid="$2"
    kill_tree "$pid"
    forget "$pid"
    rm -f "$STATE/pids/$name.pid"
}

# probe PORT PATH EXPECTED_SIZE PID: up to 5 s for a 200 with the right body
# size; fails early if the process has died.
probe() {
    local port="$1" path="$2" want="$3" pid="$4" i out=""
    PROBE_LAST=""
    for ((i = 0; i < 50; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        out="$(curl -s -o /dev/null -m 2 -w '%{http_code} %{size_download}' "http://127.0.0.1:$port$path" 2>/dev/null || true)"
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
worker_rlimit_nofile 16384;
events { worker_connections 4096; }
EOF
}

nginx_temp_paths() { # PREFIX: keep nginx away from /var/lib/nginx
    cat <<EOF
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

write_backend_conf() {
    local p="$STATE/backend"
    mkdir -p "$p/www/v1"
    head -c "$BIG_SIZE" /dev/zero | tr '\0' 'x' >"$p/www/v1/big"
    cat >"$p/nginx.conf" <<EOF
worker_processes 1;
$(nginx_common "$p")
http {
    access_log off;
$(nginx_temp_paths "$p")
    keepalive_requests 100000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location /v1/ {
            default_type application/json;
            return 200 '$SMALL_BODY';
        }
        location = /v1/big {
            root $p/www;
            default_type application/octet-stream;
        }
    }
}
EOF
}

write_nginx_proxy_conf() {
    local p="$STATE/nginx-proxy"
    mkdir -p "$p"
    cat >"$p/nginx.conf" <<EOF
worker_processes $WORKERS;
$(nginx_common "$p")
http {
    access_log off;
$(nginx_temp_paths "$p")
    keepalive_requests 100000;
    keepalive_timeout 75s;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /v1/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Buffer in memory only; spooling 1 MiB bodies to disk would
            # measure the disk, not the proxy.
            proxy_buffer_size 16k;
            proxy_buffers 8 64k;
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
}

write_haproxy_conf() {
    cat >"$STATE/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    # Needs about 2 fds per connection; stays under common hard limits.
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be

backend be
    server backend 127.0.0.1:$BACKEND_PORT
EOF
}

write_gateway_conf() {
    cat >"$STATE/gateway.conf" <<EOF
listen 127.0.0.1:$GATEWAY_PORT;
workers $WORKERS;
access_log off;
upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; connect_timeout 2s; response_timeout 30s; }
route /v1/ { upstream backend; methods GET POST PUT PATCH DELETE; max_body 100m; }
EOF
}

# ---------------------------------------------------------------- measuring

# Peak summed VmRSS (KiB) of a set of pids, written to FILE every sample.
sample_rss() { # FILE PID...
    local out="$1"; shift
    local peak=0 sum p k v _ parent=$$
    # Ends on its own once the script or the measured processes are gone, so
    # even a kill -9 of the script leaves no sampler behind.
    while kill -0 "$parent" 2>/dev/null; do
        sum=0
        for p in "$@"; do
            [[ -r /proc/$p/status ]] || continue
            while read -r k v _; do
                [[ "$k" == "VmRSS:" ]] && { sum=$((sum + v)); break; }
            done <"/proc/$p/status" 2>/dev/null || true
        done
        ((sum == 0)) && break
        if ((sum > peak)); then peak=$sum; echo "$peak" >"$out"; fi
        sleep 0.2
    done
}

# wrk latency "1.23ms" / "850.00us" / "1.20s" -> milliseconds.
to_ms() {
    awk -v x="$1" 'BEGIN {
        if (x ~ /us$/) { sub(/us$/, "", x); printf "%.3f", x / 1000 }
        else if (x ~ /ms$/) { sub(/ms$/, "", x); printf "%.2f", x }
        else if (x ~ /m$/) { sub(/m$/, "", x); printf "%.0f", x * 60000 }
        else if (x ~ /s$/) { sub(/s$/, "", x); printf "%.0f", x * 1000 }
        else printf "?" }'
}

ROWS=()                          # markdown rows, in run order
declare -A RPS                   # RPS[scenario/target] = requests/s
NOTES=()

scenario_path() { [[ "$1" == small ]] && echo /v1/sessions/demo || echo /v1/big; }
scenario_conns() { [[ "$1" == small ]] && echo "$CONNECTIONS" || echo "$BIG_CONNECTIONS"; }

# measure TARGET PORT ROOT_PID|"" : every selected scenario against one target.
measure() {
    local target="$1" port="$2" root="$3" s
    for s in $SCENARIOS; do
        local path conns url out rss_file sampler="" pids
        path="$(scenario_path "$s")"
        conns="$(scenario_conns "$s")"
        url="http://127.0.0.1:$port$path"
        local want=${#SMALL_BODY}
        [[ "$s" == big ]] && want=$BIG_SIZE
        if [[ -n "$root" ]] && ! probe "$port" "$path" "$want" "$root"; then
            NOTES+=("$target / $s: skipped, $path did not answer 200 with a $want-byte body (last: ${PROBE_LAST:-none}).")
            ROWS+=("| $s | $target | skipped | | | | | | |")
            continue
        fi
        # Warm-up fills the proxies' upstream keepalive pools before measuring.
        if [[ "$WARMUP" != 0 ]]; then
            log "$target / $s: warmup ${WARMUP}s"
            run_waited wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
        fi

        rss_file="$STATE/rss-$target-$s"
        echo 0 >"$rss_file"
        if [[ -n "$root" ]]; then
            mapfile -t pids < <(echo "$root"; descendants "$root")
            sample_rss "$rss_file" "${pids[@]}" 9>&- &
            sampler=$!
            STARTED+=("$sampler")
        fi
        log "$target / $s: wrk -t$WRK_THREADS -c$conns -d${DURATION}s $url"
        out="$STATE/wrk-$target-$s.txt"
        run_waited wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --latency "$url" >"$out" 2>&1 || true
        if [[ -n "$sampler" ]]; then
            kill "$sampler" 2>/dev/null || true
            wait "$sampler" 2>/dev/null || true
            forget "$sampler"
        fi
        if [[ -n "$root" ]] && ! kill -0 "$root" 2>/dev/null; then
            NOTES+=("$target / $s: the process exited during the measurement; its numbers are not valid (see benchmarks/results/tmp/).")
        fi

        local rps p50 p99 xfer errs rss
        rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
        xfer="$(awk '/^Transfer\/sec:/ {print $2}' "$out")"
        p50="$(awk '$1 == "50%" {print $2}' "$out")"
        p99="$(awk '$1 == "99%" {print $2}' "$out")"
        # Non-2xx answers and socket errors both mean the run is not clean.
        errs="$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
                     /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
                     END {print n + 0}' "$out")"
        if [[ -z "$rps" ]]; then
            NOTES+=("$target / $s: wrk produced no result, see $out.")
            ROWS+=("| $s | $target | failed | | | | | | |")
            continue
        fi
        RPS["$s/$target"]="$rps"
        if [[ -n "$root" ]]; then
            rss="$(awk '{printf "%.1f", $1 / 1024}' "$rss_file")"
        else
            rss="n/a"
        fi
        ROWS+=("| $s | $target | $(printf '%.0f' "$rps") | $(to_ms "$p50") | $(to_ms "$p99") | $xfer | $errs | $rss | @RATIO:$s/$target@ |")
        log "$target / $s: $rps req/s, p50 $p50, p99 $p99, errors $errs, peak RSS ${rss} MiB"
    done
}

ratio() { # A B -> A/B with 2 decimals, or "–" when either is missing
    if [[ -n "${1:-}" && -n "${2:-}" ]]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo "–"; fi
}

# ---------------------------------------------------------------- run

mkdir -p "$STATE/pids" "$RESULTS_DIR"
# One run at a time: two runs would share ports and the 2 cores.
exec 9>"$STATE/lock"
if ! flock -n 9; then
    log "another benchmarks/run.sh is running; wait for it to finish"
    exit 1
fi
kill_stale
for port in "${ALL_PORTS[@]}"; do
    if port_busy "$port"; then
        log "127.0.0.1:$port is in use by a process this script did not start:"
        (command -v fuser >/dev/null 2>&1 && fuser -v -n tcp "$port" 2>&1 | grep -v '^Cannot stat') >&2 || true
        log "stop it (or free the port) and run again"
        exit 1
    fi
done
rm -f "$STATE"/*.log "$STATE"/wrk-*.txt "$STATE"/rss-*

log "backend: nginx on 127.0.0.1:$BACKEND_PORT"
write_backend_conf
launch backend nginx -p "$STATE/backend" -c "$STATE/backend/nginx.conf" -e "$STATE/backend/error.log" -g 'daemon off;'
BACKEND_PID=$LAUNCHED_PID
if ! probe "$BACKEND_PORT" /v1/sessions/demo "${#SMALL_BODY}" "$BACKEND_PID"; then
    log "backend did not come up; see $STATE/backend.log and $STATE/backend/error.log"
    exit 1
fi

for target in "${TARGETS[@]}"; do
    case "$target" in
    direct)
        measure direct "$BACKEND_PORT" ""
        ;;
    gateway)
        if [[ ! -x "$GATEWAY" ]]; then
            NOTES+=("gateway: skipped, $GATEWAY does not exist (run \`swift build -c release\`).")
            continue
        fi
        write_gateway_conf
        launch gateway "$GATEWAY" --config "$STATE/gateway.conf"
        pid=$LAUNCHED_PID
        if ! probe "$GATEWAY_PORT" /v1/sessions/demo "${#SMALL_BODY}" "$pid"; then
            why="did not answer 200 on 127.0.0.1:$GATEWAY_PORT/v1/sessions/demo within 5 s"
            kill -0 "$pid" 2>/dev/null || why="exited before answering on 127.0.0.1:$GATEWAY_PORT"
            NOTES+=("gateway: skipped, it $why (log: benchmarks/results/tmp/gateway.log; last lines: $(tail -n 3 "$STATE/gateway.log" 2>/dev/null | tr '\n|' ' /' || true))")
            stop gateway "$pid"
            continue
        fi
        measure gateway "$GATEWAY_PORT" "$pid"
        stop gateway "$pid"
        ;;
    nginx)
        write_nginx_proxy_conf
        launch nginx-proxy nginx -p "$STATE/nginx-proxy" -c "$STATE/nginx-proxy/nginx.conf" -e "$STATE/nginx-proxy/error.log" -g 'daemon off;'
        pid=$LAUNCHED_PID
        if ! probe "$NGINX_PORT" /v1/sessions/demo "${#SMALL_BODY}" "$pid"; then
            NOTES+=("nginx: skipped, the proxy did not come up (see benchmarks/results/tmp/nginx-proxy/error.log).")
            stop nginx-proxy "$pid"
            continue
        fi
        measure nginx "$NGINX_PORT" "$pid"
        stop nginx-proxy "$pid"
        ;;
    haproxy)
        if ! command -v haproxy >/dev/null 2>&1; then
            NOTES+=("haproxy: skipped, the haproxy binary is missing and could not be installed.")
            continue
        fi
        write_haproxy_conf
        # -db: stay in the foreground as one process, so its pid is ours to watch.
        launch haproxy haproxy -db -f "$STATE/haproxy.cfg"
        pid=$LAUNCHED_PID
        if ! probe "$HAPROXY_PORT" /v1/sessions/demo "${#SMALL_BODY}" "$pid"; then
            NOTES+=("haproxy: skipped, it did not come up (see benchmarks/results/tmp/haproxy.log).")
            stop haproxy "$pid"
            continue
        fi
        measure haproxy "$HAPROXY_PORT" "$pid"
        stop haproxy "$pid"
        ;;
    esac
done

# ---------------------------------------------------------------- report

gw_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
report="$STATE/report.md"
{
    echo "# Gateway benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), host: $(nproc) cores, $(uname -sr)"
    echo "- gateway: $gw_rev; $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(command -v haproxy >/dev/null 2>&1 && haproxy -v 2>/dev/null | head -n1 | awk '{print "haproxy " $3}' || echo 'haproxy missing'); $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}')"
    echo "- settings: DURATION=${DURATION}s, WORKERS=$WORKERS per proxy, wrk -t$WRK_THREADS, small -c$CONNECTIONS, big -c$BIG_CONNECTIONS, warmup ${WARMUP}s"
    echo "- backend: nginx (1 worker) on 127.0.0.1:$BACKEND_PORT; small = GET /v1/sessions/demo (${#SMALL_BODY}-byte JSON), big = GET /v1/big (1 MiB)"
    echo
    echo "| scenario | target | req/s | p50 ms | p99 ms | transfer/s | errors | peak RSS MiB | gateway ÷ target |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        if [[ "$row" =~ @RATIO:([a-z]+)/([a-z]+)@ ]]; then
            s="${BASH_REMATCH[1]}"; t="${BASH_REMATCH[2]}"
            row="${row/@RATIO:$s\/$t@/$(ratio "${RPS[$s/gateway]:-}" "${RPS[$s/$t]:-}")}"
        fi
        echo "$row"
    done
    echo
    echo "| scenario | gateway ÷ nginx | gateway ÷ haproxy | gateway ÷ direct |"
    echo "|---|---:|---:|---:|"
    for s in $SCENARIOS; do
        echo "| $s | $(ratio "${RPS[$s/gateway]:-}" "${RPS[$s/nginx]:-}") | $(ratio "${RPS[$s/gateway]:-}" "${RPS[$s/haproxy]:-}") | $(ratio "${RPS[$s/gateway]:-}" "${RPS[$s/direct]:-}") |"
    done
    if [[ ${#NOTES[@]} -gt 0 ]]; then
        echo
        echo "Notes:"
        echo
        for n in "${NOTES[@]}"; do echo "- $n"; done
    fi
} >"$report"

cp "$report" "$RESULTS_DIR/latest.md"
cat "$report"
log "written to benchmarks/results/latest.md"
