# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run). Expects STATE (a scratch folder) and a
# `log` function to be defined first.

# One lock for every benchmark on this machine, run.sh's included: two at once would share the
# 2 cores and the fixed ports. It lives outside the work tree because every clone or worktree
# has its own benchmarks/results/tmp/ but they all share the machine.
BENCH_LOCK="${BENCH_LOCK:-/tmp/gateway-benchmarks.lock}"
bench_lock() {
    mkdir -p "$STATE"
    exec 9>>"$BENCH_LOCK"
    flock -n 9 || { log "another benchmark is running on this machine (lock: $BENCH_LOCK); wait for it to finish"; exit 1; }
}

# Processes to stop on any exit: append their pids to PIDS.
PIDS=()
bench_cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap bench_cleanup EXIT

# start_nginx_backend DIR PORT SERVER_BODY: an nginx with one worker in DIR answering on PORT
# with the given `location` blocks; keep-alive is never the bottleneck.
start_nginx_backend() {
    local dir=$1 port=$2 body=$3
    cat >"$dir/backend.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
$([[ "$(id -u)" -eq 0 ]] && echo "user root;")
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/cb; proxy_temp_path $dir/px; fastcgi_temp_path $dir/fc; uwsgi_temp_path $dir/uw; scgi_temp_path $dir/sc;
    keepalive_requests 1000000;
    default_type application/json;
    server { listen 127.0.0.1:$port; $body }
}
CONF
    nginx -p "$dir" -c "$dir/backend.conf" -g 'daemon off;' 9>&- &
    PIDS+=($!)
}
