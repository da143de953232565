#!/usr/bin/env bash
# Builds gateway and mock-upstream with ThreadSanitizer and AddressSanitizer (separate scratch paths)
# and runs the integration tests against those binaries (the harness honours GATEWAY_BUILD_DIR; it
# starts every gateway with `workers 2`, so two event loops share the process). Sanitizer reports go
# to files (log_path), one per process; the summary lists them.
#
#   Tests/sanitize.sh                 both sanitizers, the whole integration suite
#   SANITIZERS=thread Tests/sanitize.sh
#   FILTER=SmugglingTests Tests/sanitize.sh
#   JOBS=1 (default: 1, the machine is shared)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SANITIZERS="${SANITIZERS:-thread address}"
FILTER="${FILTER:-GatewayIntegrationTests}"
JOBS="${JOBS:-1}"
OUT="${OUT:-$(mktemp -d /tmp/gateway-sanitize.XXXXXX)}"
mkdir -p "$OUT"

log() { printf '[sanitize] %s\n' "$*" >&2; }

# The test runner itself is an ordinary debug build.
log "building the test runner (plain debug)"
swift build --build-tests -j "$JOBS" >"$OUT/build-tests.log" 2>&1 || { log "test build failed: $OUT/build-tests.log"; exit 2; }

# Synchronization.Mutex on Linux locks with a futex through atomics compiled without TSan, so TSan sees
# no happens-before edge and reports every Mutex-protected access as a race (a 15-line program with two
# threads incrementing under one Mutex reproduces it: correct result, three "Swift access race" reports).
# Code that touches shared state only inside Mutex.withLock is therefore suppressed, by its wrapper
# (withLock itself is inlined and never appears in the stacks). Any race in those wrappers is hidden too:
# keep them to "lock, touch the guarded state, unlock".
SUPPRESSIONS="$OUT/tsan-suppressions.txt"
cat >"$SUPPRESSIONS" <<'SUPP'
race:7ShardedC9withShard
race:16IdempotencyStore
race:17IdempotencyJournal
race:14JournalStorage
race:11JournalFile
race:9MockStats
race:11LoopMailbox
race:8Reloader
SUPP

declare -A RESULT REPORTS TESTS
for san in $SANITIZERS; do
    case "$san" in
        thread) short=tsan ;;
        address) short=asan ;;
        *) log "unknown sanitizer $san"; exit 2 ;;
    esac
    scratch=".build-$short"
    log "building gateway + mock-upstream with --sanitize=$san into $scratch"
    if ! swift build -c debug --sanitize="$san" --scratch-path "$scratch" -j "$JOBS" \
            --product gateway >"$OUT/build-$short.log" 2>&1 \
       || ! swift build -c debug --sanitize="$san" --scratch-path "$scratch" -j "$JOBS" \
            --product mock-upstream >>"$OUT/build-$short.log" 2>&1; then
        log "build failed: $OUT/build-$short.log"
        RESULT[$san]="build failed"
        continue
    fi
    reports="$OUT/$short"
    mkdir -p "$reports"
    rm -f "$reports"/report*
    log "running $FILTER against $scratch/debug (reports in $reports)"
    start=$(date +%s)
    # halt_on_error=0 for TSan: keep running and report every race; ASan stops the process at the first error
    # (the test then fails too). Leak checking is off: the gateway is stopped with SIGTERM, which skips it.
    # atexit_sleep_ms=0: TSan otherwise waits a second in every exit, and a drained gateway exits by itself.
    GATEWAY_BUILD_DIR="$PWD/$scratch/debug" \
    TSAN_OPTIONS="log_path=$reports/report halt_on_error=0 second_deadlock_stack=1 atexit_sleep_ms=0 suppressions=$SUPPRESSIONS" \
    ASAN_OPTIONS="log_path=$reports/report detect_leaks=0 abort_on_error=0" \
        swift test --skip-build --filter "$FILTER" >"$OUT/test-$short.log" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))
    executed=$(grep -E "^\s+Executed [0-9]+ tests" "$OUT/test-$short.log" | tail -1 | sed -E 's/^\s+//')
    RESULT[$san]="exit $rc in ${elapsed}s; ${executed:-no summary}"
    n=$(ls "$reports" 2>/dev/null | wc -l)
    REPORTS[$san]="$n report file(s)"
    failures=$(grep -E "error: .*: XCTAssert|error: .*failed" "$OUT/test-$short.log" | head -20)
    TESTS[$san]="$failures"
done

echo
echo "== sanitizer summary (logs in $OUT) =="
for san in $SANITIZERS; do
    short=$([[ $san == thread ]] && echo tsan || echo asan)
    echo "-- $san: ${RESULT[$san]:-not run}; ${REPORTS[$san]:-}"
    if compgen -G "$OUT/$short/report*" >/dev/null; then
        # One line per distinct report: its kind and the first gateway frame.
        for f in "$OUT/$short"/report*; do
            kind=$(grep -m1 -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|SUMMARY:" "$f" | sed -E 's/^=+[0-9]*=+//')
            frame=$(grep -m1 -E "#[0-9]+ .*(Sources/|GatewayIO|GatewayCore)" "$f" | sed -E 's/^ +//')
            echo "   $(basename "$f"): $kind | $frame"
        done | sort | uniq -c | sort -rn | head -30
    fi
    [[ -n "${TESTS[$san]:-}" ]] && { echo "   failing assertions:"; echo "${TESTS[$san]}" | sed 's/^/     /'; }
done
status=0
for san in $SANITIZERS; do
    short=$([[ $san == thread ]] && echo tsan || echo asan)
    if compgen -G "$OUT/$short/report*" >/dev/null; then status=1; fi
    [[ "${RESULT[$san]:-}" == exit\ 0* ]] || status=1
done
echo "== overall: $([[ $status -eq 0 ]] && echo CLEAN || echo FINDINGS) =="
exit $status
