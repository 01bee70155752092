# shellcheck shell=bash
# bench-lib.sh: what the benchmark scripts of contrib/ share.  Sourced;
# the script sets BENCH_NAME first (the prefix of its messages).

say() { echo "${BENCH_NAME:-bench}: $*" >&2; }
die() { say "$*"; exit 1; }

# wants CONFIG: CONFIG is among those to run (the array CFGS)
wants() { [[ " ${CFGS[*]} " == *" $1 "* ]]; }

# drop_config CONFIG WHY: leaves CONFIG out of the run, saying why
drop_config() {
    local c keep=()
    for c in "${CFGS[@]}"; do [[ $c == "$1" ]] || keep+=("$c"); done
    CFGS=("${keep[@]}")
    say "dropping $1: $2"
}

# bench_dir: BENCH_DIR made absolute (a fresh /var/tmp/$BENCH_NAME.XXXXXX
# when unset, OWN_DIR=1: removed at exit) and checked to be on ext4
# shellcheck disable=SC2034 # OWN_DIR is read by the caller
bench_dir() {
    OWN_DIR=0
    if [[ -z ${BENCH_DIR:-} ]]; then
        BENCH_DIR=$(mktemp -d "/var/tmp/$BENCH_NAME.XXXXXX")
        OWN_DIR=1
    fi
    mkdir -p "$BENCH_DIR"
    BENCH_DIR=$(realpath "$BENCH_DIR")
    # stat -f shows ext4 as ext2/ext3
    [[ $(stat -f -c %T "$BENCH_DIR") == ext2/ext3 ]] || die "$BENCH_DIR is not on ext4: set BENCH_DIR"
}

# bench_traps: at exit (also after INT or TERM) the script's bench_cleanup
# runs, then BENCH_DIR goes if bench_dir made it and nothing is mounted
# below it any more
bench_exit() {
    local rc=$?
    trap - EXIT INT TERM
    bench_cleanup || true
    if ((OWN_DIR)) && ! grep -q " $BENCH_DIR/" /proc/mounts; then
        rm -rf -- "$BENCH_DIR"
    fi
    exit "$rc"
}
bench_traps() {
    trap bench_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# wait_mounted PID MNT LOG: waits (30 s) until the daemon PID has mounted
# MNT; dies with the last line of its LOG if it exits first
wait_mounted() {
    local i
    for ((i = 0; i < 300; i++)); do
        mountpoint -q "$2" && return 0
        kill -0 "$1" 2>/dev/null || die "the daemon for $2 did not mount: $(tail -n 1 "$3")"
        sleep 0.1
    done
    die "$2: not mounted after 30 s"
}

# apt_install PKG...: quiet; apt-get update and retry once
apt_install() {
    local apt=(apt-get -q -y -o DPkg::Lock::Timeout=600)
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >/dev/null 2>&1 && return 0
    "${apt[@]}" update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >/dev/null 2>&1
}

# cold_cache: clean pages written and every cache dropped.  Twice: the
# first sync may push a FUSE mount's dirty pages into ext4's page cache
# after ext4 was already synced.
cold_cache() {
    sync
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# version_of BIN: the "fuse-overlayfs: version X" line of BIN --version
# (the output read whole: grep -m1 on a pipe would SIGPIPE it)
version_of() {
    local out
    out=$("$1" --version 2>&1 || true)
    grep -m1 -i 'overlayfs.*version' <<<"$out" || echo "(no version line)"
}

# median: the median of the numbers on stdin, one per line ("" for none)
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A/B with two decimals, n/a when either is missing or B is 0
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
