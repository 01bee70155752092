#!/bin/bash
# Run all the tests: lint the bats files (tests/lint-bats.sh: assertions
# that can never fail), build (with deps), build the ASan/UBSan variant, run
# every tests/*.bats and executable tests/*.test against the normal binary,
# the bats files again with passthrough=off, again over FUSE over io_uring
# (the kernel's enable_uring turned on for it), then everything against the
# sanitizer binary, then the fuzzers (tests/fuzz/run.sh: each for
# FUZZ_SECONDS, default 60, after replaying tests/fuzz/regress/; one passed
# or failed test per fuzzer). Ends with one line
# "N passed, N failed[, N skipped]" and exits non-zero if anything failed.
#
# Env: TESTS="a b.bats tests/c.bats" (only these bats files), NO_ASAN=1 (skip
# the sanitizer pass), NO_FUZZ=1 (skip the fuzzers), NO_FALLBACK=1 (skip the passthrough=off pass),
# NO_URING=1 (skip the io_uring pass), SKIP_DEPS=1 (no apt), SKIP_BUILD=1 (use existing
# build/ and build-asan/), BATS_TEST_TIMEOUT (seconds per test, default
# 600), BATS_TIMEOUT (seconds per file, default 1800): generous, as a loaded
# machine can be many times slower; waits inside tests are event-driven
# (helpers.bash OVL_WAIT_SECONDS, default 180).
set -uo pipefail   # no -e: a failing test must not stop the run

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
unset BUILD_DIR SANITIZE   # the binaries must land in build/ and build-asan/
LOGDIR=$ROOT/tests/logs
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

PASS=0 FAIL=0 SKIP=0
SUMMARY=()

finish() {
    echo
    echo "== per-file summary"
    ((${#SUMMARY[@]})) && printf '%s\n' "${SUMMARY[@]}"
    if ((SKIP)); then echo "$PASS passed, $FAIL failed, $SKIP skipped"
    else echo "$PASS passed, $FAIL failed"; fi
    ((FAIL == 0))
    exit
}

# A build failure is one failed "test", reported like any other.
build() {   # build LABEL ENV...
    local label=$1; shift
    echo "== build ($label)"
    if ! env "$@" "$ROOT/contrib/build.sh" >"$LOGDIR/build-$label.log" 2>&1; then
        tail -n 60 "$LOGDIR/build-$label.log"
        echo "not ok build $label"
        FAIL=$((FAIL + 1)); SUMMARY+=("build ($label): FAILED, see tests/logs/build-$label.log")
        return 1
    fi
    sed -n '/configured:$/,/^$/p' "$LOGDIR/build-$label.log"
}

# The bats files to run: all of them, or those named in $TESTS.
BATS_FILES=()
if [[ -n ${TESTS:-} ]]; then
    for t in $TESTS; do
        t=${t#tests/}; t=${t%.bats}
        [[ -f tests/$t.bats ]] || { echo "not ok no such test file: tests/$t.bats"
            FAIL=$((FAIL + 1)); SUMMARY+=("tests/$t.bats: no such file"); continue; }
        BATS_FILES+=("tests/$t.bats")
    done
else
    for f in tests/*.bats; do [[ -e $f ]] && BATS_FILES+=("$f"); done
fi
TEST_PROGS=()
for f in tests/*.test; do [[ -x $f ]] && TEST_PROGS+=("$f"); done

# A hung test must not eat CI's 90 minutes: bats kills a test after
# BATS_TEST_TIMEOUT (reported "not ok ... # timeout"), timeout(1) a whole file.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-600}
# timeout(1) runs in its own process group, so forward ^C / SIGTERM to it.
TPID=
trap '[[ -n $TPID ]] && kill "$TPID" 2>/dev/null; echo "interrupted"; FAIL=$((FAIL + 1)); finish' INT TERM
limited() {   # limited LOG CMD...: run CMD with the file timeout, output to LOG
    local log=$1; shift
    timeout -k 30 "${BATS_TIMEOUT:-1800}" "$@" </dev/null >"$log" 2>&1 &
    TPID=$!
    wait "$TPID"
    local rc=$?
    TPID=
    return $rc
}

# Run one bats file, count its TAP results.
run_bats() {   # run_bats LABEL FILE
    local label=$1 f=$2 log rc p=0 n=0 s=0 planned ran
    log=$LOGDIR/$label-$(basename "$f" .bats).tap
    echo "== $label: $f"
    limited "$log" bats --tap "$f"
    rc=$?
    # Show results, plus the diagnostics of failed tests only.
    awk '/^not ok /{show=1; print; next} /^ok /{show=0; print; next} /^#/{if (show) print; next} {print}' "$log"
    p=$(grep -Ec '^ok [0-9]+ ' "$log")
    s=$(grep -Ec '^ok [0-9]+ .* # skip' "$log")
    n=$(grep -Ec '^not ok [0-9]+ ' "$log")
    p=$((p - s))
    # A crash, timeout or syntax error leaves tests unreported: count them failed.
    planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n1)
    ran=$((p + s + n))
    if [[ -n $planned ]] && ((ran < planned)); then n=$((n + planned - ran)); fi
    if ((rc != 0 && n == 0)); then n=1; fi
    ((rc == 124 || rc == 137)) && echo "not ok $f timed out after ${BATS_TIMEOUT:-1800}s"
    PASS=$((PASS + p)); FAIL=$((FAIL + n)); SKIP=$((SKIP + s))
    SUMMARY+=("$(printf '%-6s %-40s %3d passed, %d failed, %d skipped' "$label" "$f" "$p" "$n" "$s")")
}

# Run one test program: exit 0 = pass, 77 = skip, anything else = fail.
run_prog() {   # run_prog LABEL FILE
    local label=$1 f=$2 log rc
    log=$LOGDIR/$label-$(basename "$f").log
    limited "$log" "$f"
    rc=$?
    case $rc in
        0)  echo "ok $f"; PASS=$((PASS + 1)); SUMMARY+=("$(printf '%-6s %-40s passed' "$label" "$f")") ;;
        77) echo "ok $f # skip $(tail -n1 "$log")"; SKIP=$((SKIP + 1))
            SUMMARY+=("$(printf '%-6s %-40s skipped' "$label" "$f")") ;;
        # What failed comes first (CI shows the lines next to "not ok"),
        # then the rest without the passing checks, then the end of the
        # log, where a crash or a timeout shows.
        *)  echo "not ok $f (exit $rc)"
            { grep -E 'FAIL' "$log" | head -n 20; echo "-- log without passing checks:"
              grep -vE '^ok |: ok: ' "$log" | head -n 80; echo "-- end of log:"; tail -n 5 "$log"; } |
                sed 's/^/# /'
            FAIL=$((FAIL + 1))
            SUMMARY+=("$(printf '%-6s %-40s FAILED (exit %d)' "$label" "$f" "$rc")") ;;
    esac
}

run_pass() {   # run_pass LABEL [bats]  (uses the exported environment)
    local f
    for f in "${BATS_FILES[@]}"; do run_bats "$1" "$f"; done
    [[ ${2:-} == bats ]] && return
    for f in "${TEST_PROGS[@]}"; do run_prog "$1" "$f"; done
}

# 0. lint: an `A && B` list or a `! cmd` that is not the last command of a
# test never fails it (bats' set -e ignores them). One failed test per line
# found; the suites run anyway.
lint_bats() {
    local log=$LOGDIR/lint.log rc n
    echo "== lint: tests/*.bats"
    tests/lint-bats.sh >"$log" 2>&1
    rc=$?
    cat "$log"
    n=$(grep -c '^not ok lint ' "$log")
    if ((rc == 0 && n == 0)); then
        PASS=$((PASS + 1))
        SUMMARY+=("$(printf '%-6s %-40s passed' lint 'tests/*.bats')")
        return
    fi
    if ((n == 0)); then
        echo "not ok lint: tests/lint-bats.sh exited $rc"
        FAIL=$((FAIL + 1))
        SUMMARY+=("$(printf '%-6s %-40s FAILED (tests/lint-bats.sh exited %d)' lint 'tests/*.bats' "$rc")")
        return
    fi
    FAIL=$((FAIL + n))
    SUMMARY+=("$(printf '%-6s %-40s %3d failed: %s' lint 'tests/*.bats' "$n" \
        "$(sed -n 's/^not ok lint \([^ ]*\): .*/\1/p' "$log" | paste -sd ' ' -)")")
}
lint_bats

# 1. normal build and pass
if [[ -z ${SKIP_BUILD:-} ]]; then build normal || finish; fi
export FUSE_OVERLAYFS=$ROOT/build/fuse-overlayfs
run_pass normal

# 2. the bats suites again with file I/O through the daemon: what runs
# where passthrough is unavailable (older kernels, user namespaces)
if [[ -z ${NO_FALLBACK:-} ]]; then
    OVL_EXTRA_OPTS=passthrough=off run_pass nopt bats
fi

# 3. the bats suites again with requests over io_uring instead of /dev/fuse:
# the kernel offers it only while enable_uring is on (root), and the daemon
# takes it by default.  What the machine had is put back after.
uring_pass() {
    local param=/sys/module/fuse/parameters/enable_uring was why="" state
    if [[ ! -w $param ]]; then
        why="$param is not writable (no FUSE over io_uring in this kernel, or not root)"
    else
        was=$(cat "$param")
        echo Y >"$param"
        # read whole: grep -q on the pipe would end it early (SIGPIPE)
        state=$("$FUSE_OVERLAYFS" --version 2>&1 | sed -n 's/^FUSE over io_uring: //p')
        [[ $state == on* ]] || why="$FUSE_OVERLAYFS would not use it: $state"
    fi
    if [[ -z $why ]]; then
        # crash.bats holds and traces the /dev/fuse workers: it mounts with
        # io_uring=off, and has run in the normal pass already
        local f
        for f in "${BATS_FILES[@]}"; do [[ $f == */crash.bats ]] || run_bats uring "$f"; done
        echo "== uring pass: tests/crash.bats left out (it mounts with io_uring=off)"
    else
        echo "== uring pass skipped: $why"
        SKIP=$((SKIP + 1))
        SUMMARY+=("$(printf '%-6s %-40s skipped: %s' uring 'tests/*.bats' "$why")")
    fi
    [[ -n ${was:-} ]] && echo "$was" >"$param"
}
if [[ -z ${NO_URING:-} ]]; then
    uring_pass
fi

# 4. sanitizer build and pass (deps are installed by now)
if [[ -z ${NO_ASAN:-} ]]; then
    if [[ -n ${SKIP_BUILD:-} ]] || build asan SKIP_DEPS=1 SANITIZE=1; then
        export FUSE_OVERLAYFS=$ROOT/build-asan/fuse-overlayfs OVL_SANITIZER=1
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp
        export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        # the differential test's abi mode (lower layers through the plugin
        # ABI) ran in the normal pass; plugins.bats takes the serving code
        # through the sanitizers: CI's time goes to the rest here
        export DIFF_MODES="1fs 2fs"
        run_pass asan
    fi
fi

# 5. the fuzzers (tests/fuzz/run.sh, which builds them with clang in
# build-fuzz/): one test per fuzzer, passed when it ran its time without a
# crash (a crash's input is kept in tests/fuzz/regress/); a failed build
# fails them all.  About 3-4 minutes.
fuzz_pass() {
    local log=$LOGDIR/fuzz.log rc p n
    echo "== fuzz: tests/fuzz/run.sh (FUZZ_SECONDS=${FUZZ_SECONDS:-60} each)"
    limited "$log" env -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS tests/fuzz/run.sh
    rc=$?
    # the summary lines, and the reports of failed fuzzers
    grep -E '^(fuzz_|ok |not ok |# )' "$log"
    p=$(grep -c '^ok fuzz_' "$log")
    n=$(grep -c '^not ok ' "$log")
    if ((rc != 0 && n == 0)); then
        echo "not ok fuzz: tests/fuzz/run.sh exited $rc"
        n=1
    fi
    PASS=$((PASS + p)); FAIL=$((FAIL + n))
    SUMMARY+=("$(printf '%-6s %-40s %3d passed, %d failed' fuzz 'tests/fuzz/run.sh' "$p" "$n")")
}
if [[ -z ${NO_FUZZ:-} ]]; then
    fuzz_pass
fi

finish
