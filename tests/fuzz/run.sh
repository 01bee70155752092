#!/bin/bash
# Build the fuzzers (tests/fuzz/build.sh) and run each for a bounded time:
# first every input of tests/fuzz/regress/NAME/ once (a crash found once
# stays there), then libFuzzer for FUZZ_SECONDS on a copy of the seed
# corpus tests/fuzz/corpus/NAME/ with the dictionary NAME.dict.  Prints
# per fuzzer one line
#   fuzz_NAME: 123456 execs, cov 2345, ft 3456, 0 crashes
# then "ok fuzz_NAME" or "not ok fuzz_NAME: why".  A crash (sanitizer
# report, leak, timeout, out of memory, a harness check) is copied into
# tests/fuzz/regress/NAME/ and its path printed, with the end of the
# report.  Exits non-zero if anything failed.
#
#   tests/fuzz/run.sh [NAME...]      (default: request options layer tar)
#
# Env: FUZZ_SECONDS (default 60, per fuzzer), FUZZ_TIMEOUT (seconds one
# input may take, default 20), SKIP_FUZZ_BUILD=1 (use what build.sh built
# last), FUZZ_BUILD_DIR (build.sh's, default build-fuzz/), FUZZ_KEEP=1
# (keep the work directory: logs, the grown corpora), FUZZ_FLAGS (more
# libFuzzer flags).  Root is not required, but as root each harness gets a
# private bounded tmpfs (harness.c); the request harnesses need
# /opt/fuse3's libfuse (contrib/build-libfuse.sh).
set -uo pipefail   # no -e: one fuzzer failing must not stop the others

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/fuzz
SECONDS_EACH=${FUZZ_SECONDS:-60}
TIMEOUT=${FUZZ_TIMEOUT:-20}
NAMES=("$@")
((${#NAMES[@]})) || NAMES=(request options layer tar)

fail_all() {   # every fuzzer fails, for one reason
    for n in "${NAMES[@]}"; do echo "not ok fuzz_$n: $1"; done
    exit 1
}

if [[ -z ${SKIP_FUZZ_BUILD:-} ]]; then
    echo "== fuzz: building (tests/fuzz/build.sh)"
    B=$("$HERE/build.sh" | tail -n 1)
    [[ -x $B/tests/fuzz/fuzz_${NAMES[0]} ]] || fail_all "build failed"
else
    B=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
    [[ $B = /* ]] || B=$ROOT/$B
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/ovl-fuzz-run.XXXXXX") || fail_all "no temporary directory"
[[ -n ${FUZZ_KEEP:-} ]] && echo "== fuzz: work directory $W (kept)"
cleanup() { [[ -n ${FUZZ_KEEP:-} ]] || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/tmp"
# The harnesses' own temporary directories go here, so that a crash's
# leftovers go with the work directory.
export FUZZ_TMPDIR=$W/tmp
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
unset LSAN_OPTIONS FUZZ_VERBOSE FUZZ_TRACE FUZZ_WRITE_SEEDS

status=0

# The report of a failed run: its sanitizer summary and stack, briefly
show_report() {   # show_report LOG
    grep -E 'ERROR:|SUMMARY:|runtime error|fuzz harness:|^    #[0-9]+ .* in (ovl_|fz_|LLVM)|Test unit written' "$1" |
        head -n 30 | sed 's/^/# /'
}

# A crash artifact is kept as a regression input; its new path
keep_artifact() {   # keep_artifact NAME FILE
    local dir=$HERE/regress/$1 dst
    mkdir -p "$dir"
    dst=$dir/$(basename "$2")
    cp "$2" "$dst"
    echo "$dst"
}

run_one() {   # run_one NAME
    local n=$1 bin=$B/tests/fuzz/fuzz_$1 log=$W/$1.log corpus=$W/corpus-$1 art=$W/art-$1/
    local dict=() regress=() rc execs cov ft crashes=0 why=""

    if [[ ! -x $bin ]]; then
        echo "not ok fuzz_$n: $bin was not built"
        status=1
        return
    fi
    [[ -f $HERE/$n.dict ]] && dict=(-dict="$HERE/$n.dict")

    # 1. every regression input, once
    for f in "$HERE/regress/$n"/*; do [[ -f $f ]] && regress+=("$f"); done
    if ((${#regress[@]})); then
        "$bin" -timeout="$TIMEOUT" -runs=1 "${regress[@]}" >"$W/$n-regress.log" 2>&1
        rc=$?
        if ((rc != 0)); then
            echo "fuzz_$n: regression input $(grep '^Running: ' "$W/$n-regress.log" | tail -n 1 | cut -d' ' -f2-) fails again"
            show_report "$W/$n-regress.log"
            echo "not ok fuzz_$n: a regression input of tests/fuzz/regress/$n fails"
            status=1
            return
        fi
    fi

    # 2. fuzzing, on a copy of the seed corpus
    mkdir -p "$corpus" "$art"
    cp "$HERE/corpus/$n"/* "$corpus/" 2>/dev/null
    # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
    "$bin" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -print_final_stats=1 \
        -artifact_prefix="$art" "${dict[@]}" ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    for a in "$art"*; do
        [[ -f $a ]] || continue
        crashes=$((crashes + 1))
        echo "fuzz_$n: crash input kept as $(keep_artifact "$n" "$a")"
    done
    echo "fuzz_$n: ${execs:-0} execs, cov ${cov:-?}, ft ${ft:-?}, $crashes crashes"
    if ((crashes)); then
        why="$crashes crash(es), see tests/fuzz/regress/$n"
    elif ((rc != 0)); then
        why="libFuzzer exited $rc"
    elif [[ -z $execs ]]; then
        why="no statistics in its output"
    fi
    if [[ -n $why ]]; then
        show_report "$log"
        echo "not ok fuzz_$n: $why"
        status=1
    else
        echo "ok fuzz_$n"
    fi
}

for n in "${NAMES[@]}"; do
    echo "== fuzz: fuzz_$n for ${SECONDS_EACH}s"
    run_one "$n"
done
exit $status
