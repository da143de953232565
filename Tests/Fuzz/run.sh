#!/usr/bin/env bash
# Builds the libFuzzer targets (GatewayCore + one Tests/Fuzz/Targets/*.swift each, with
# AddressSanitizer) into .build-fuzz/ and runs each for a bounded time, one after another.
#   Tests/Fuzz/run.sh [--check] [TARGET...]    FUZZ_SECONDS=30 per target by default
#   --check: only report whether the toolchain can build fuzz targets (exit 0 if so).
# New corpus entries go to .build-fuzz/corpus/<target>; the committed seeds are read-only input.
# Crashes are copied to Tests/Fuzz/crashes/<target>/ and make the exit status non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
FUZZ="Tests/Fuzz"
OUT=".build-fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
# The Swift runtime's backtracer races ASan's own report and can hang in it.
export SWIFT_BACKTRACE=enable=no

if ! command -v swiftc >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swiftc ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

FLAGS=(-swift-version 6 -O -sanitize=fuzzer,address -parse-as-library
       -Xcc -fmodule-map-file=Sources/COpenSSL/module.modulemap -I Sources/COpenSSL)

# Whether this toolchain links a trivial fuzz target and the binary runs.
toolchain_works() {
    local dir="$OUT/probe"
    mkdir -p "$dir"
    printf '@_cdecl("LLVMFuzzerTestOneInput")\npublic func fuzz(_ d: UnsafePointer<UInt8>, _ n: Int) -> CInt { 0 }\n' >"$dir/probe.swift"
    swiftc "${FLAGS[@]}" "$dir/probe.swift" -o "$dir/probe" >/dev/null 2>&1 && "$dir/probe" -runs=1 >/dev/null 2>&1
}

# GatewayCore once, with -enable-testing so targets can reach internal API; rebuilt when a source changes.
build_core() {
    local sources
    mapfile -t sources < <(find Sources/GatewayCore -name '*.swift' | sort)
    local object="$OUT/GatewayCore.o"
    if [[ -f "$object" ]] && [[ -z "$(find Sources/GatewayCore -name '*.swift' -newer "$object" | head -n1)" ]]; then return 0; fi
    echo "[fuzz] building GatewayCore (sanitizers, -O; about a minute)" >&2
    swiftc "${FLAGS[@]}" -wmo -enable-testing -module-name GatewayCore -emit-module \
        -emit-module-path "$OUT/GatewayCore.swiftmodule" -c "${sources[@]}" -o "$object.tmp" 2>"$OUT/GatewayCore.log" || { cat "$OUT/GatewayCore.log" >&2; return 1; }
    mv "$object.tmp" "$object"
}

build_target() {
    local name="$1" binary="$OUT/fuzz-$1"
    if [[ -f "$binary" && "$binary" -nt "$OUT/GatewayCore.o" && "$binary" -nt "$FUZZ/Targets/$name.swift" \
          && "$binary" -nt "$FUZZ/Support/FuzzSupport.swift" ]]; then return 0; fi
    swiftc "${FLAGS[@]}" -I "$OUT" "$FUZZ/Targets/$name.swift" "$FUZZ/Support/FuzzSupport.swift" \
        "$OUT/GatewayCore.o" -lcrypto -o "$binary" 2>"$OUT/fuzz-$name.build.log" || { cat "$OUT/fuzz-$name.build.log" >&2; return 1; }
}

# Runs one target; prints its executions; returns non-zero on a crash.
run_target() {
    local name="$1"
    local work="$OUT/corpus/$name" crashes="$OUT/crashes/$name" log="$OUT/logs/$name.log"
    mkdir -p "$work" "$crashes" "$(dirname "$log")"
    local args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=4096
                -print_final_stats=1 -artifact_prefix="$crashes/")
    [[ -f "$FUZZ/dict/$name.dict" ]] && args+=(-dict="$FUZZ/dict/$name.dict")
    local rc=0
    "$OUT/fuzz-$name" "${args[@]}" "$work" "$FUZZ/corpus/$name" >"$log" 2>&1 || rc=$?
    local runs
    runs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n1)"
    if [[ $rc -ne 0 ]]; then
        mkdir -p "$FUZZ/crashes/$name"
        cp "$crashes"/* "$FUZZ/crashes/$name/" 2>/dev/null || true
        printf '[fuzz] %-12s FAILED after %s executions (exit %d); log %s, reproducers in %s\n' \
            "$name" "${runs:-?}" "$rc" "$log" "$FUZZ/crashes/$name" >&2
        grep -m3 -E 'ERROR|Fatal error|deadly signal' "$log" >&2 || true
        return 1
    fi
    printf '[fuzz] %-12s ok  %4ss  %10s executions  corpus %s\n' "$name" "$SECONDS_EACH" "${runs:-?}" \
        "$(find "$work" -type f | wc -l)" >&2
}

main() {
    mkdir -p "$OUT"
    if ! toolchain_works; then
        echo "[fuzz] toolchain cannot build libFuzzer targets (swiftc -sanitize=fuzzer,address failed); skipped" >&2
        return 2
    fi
    if [[ "${1:-}" == "--check" ]]; then return 0; fi
    local targets=("$@")
    if [[ ${#targets[@]} -eq 0 ]]; then
        for f in "$FUZZ"/Targets/*.swift; do targets+=("$(basename "$f" .swift)"); done
    fi
    build_core
    local passed=0 failed=0
    for name in "${targets[@]}"; do
        build_target "$name"
        if run_target "$name"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "[fuzz] $passed passed, $failed failed (${SECONDS_EACH}s each)" >&2
    [[ $failed -eq 0 ]]
}

main "$@"
