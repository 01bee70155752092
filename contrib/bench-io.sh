#!/bin/bash
# bench-io.sh: file data I/O throughput through several filesystems, side by
# side in one run, printed as a Markdown table (MiB/s, median over REPS).
#
# One test file, upper/big on ext4, is read and written by fio
# (bs=4k, ioengine=sync, one job, one pass of at most RUNTIME seconds, cold
# cache before every run:
# sync + drop_caches; --invalidate=0 so fio does not empty only the FUSE page
# cache) through each configuration:
#   native     fio directly on upper/big
#   kovl       kernel overlayfs (the file is in the upper layer)
#   ours       our fuse-overlayfs ($FUSE_OVERLAYFS), default options
#              (passthrough on)
#   ours-nopt  the same with -o passthrough=off
#   fo110      Debian's fuse-overlayfs 1.10 (/usr/bin/fuse-overlayfs)
# for each mode read, randread, write, randwrite. Repetitions interleave the
# configurations (rep 1: every config x every mode, then rep 2, ...) so that
# drift on a noisy machine hits all of them alike. Writes go to the page cache
# (no fsync), as an application's would. This is a measurement, not a test: it
# never judges the figures.
#
# Run as root (it mounts, drops caches and installs fio and Debian's
# fuse-overlayfs with apt-get when missing; a configuration whose tool cannot be
# had is left out of the table with a one-line note). Progress goes to stderr,
# the table to stdout.
#
# Env knobs:
#   FUSE_OVERLAYFS  our binary (default: $(dirname "$0")/../build/fuse-overlayfs)
#   FO110           the peer's binary (default /usr/bin/fuse-overlayfs)
#   BENCH_DIR       work directory on ext4 (default: a fresh /var/tmp/bench-io.XXXXXX,
#                   removed at exit; a given BENCH_DIR is kept, and its upper/big
#                   reused when it has the right size)
#   SIZE            size of the test file and fio's --size (default 4G)
#   RUNTIME         at most this many seconds per fio run (default 15); a run
#                   also ends after one pass over the file, so that every
#                   pass is a cold one
#   REPS            repetitions; the table shows the median (default 3)
#   CONFIGS         configurations to run (default "native kovl ours ours-nopt fo110")
#   MODES           fio modes to run (default "read randread write randwrite")
#   FIO_EXTRA       extra fio arguments, word-split (default none)
#   KEEP_JSON       a directory to copy every fio JSON output into (default: none)
#
# Example: SIZE=2G RUNTIME=10 REPS=1 contrib/bench-io.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$ROOT/build/fuse-overlayfs}
FO110=${FO110:-/usr/bin/fuse-overlayfs}
SIZE=${SIZE:-4G}
RUNTIME=${RUNTIME:-15}
REPS=${REPS:-3}
CONFIGS=${CONFIGS:-native kovl ours ours-nopt fo110}
MODES=${MODES:-read randread write randwrite}
FIO_EXTRA=${FIO_EXTRA:-}
KEEP_JSON=${KEEP_JSON:-}

ALL_CONFIGS="native kovl ours ours-nopt fo110"
ALL_MODES="read randread write randwrite"

BENCH_NAME=bench-io
# shellcheck source=contrib/bench-lib.sh
. "$ROOT/contrib/bench-lib.sh"

# ---- passthrough check -------------------------------------------------
# after_run CONFIG MODE: our daemons run in the foreground with stderr in
# $RES/daemon-CONFIG.log; SIGUSR1 makes them log their statistics, which
# show whether the opens were really passed through.
after_run() {
    local cfg=$1 mode=$2 log=$RES/daemon-$1.log n i
    [[ $cfg == ours* && -n $DAEMON_PID ]] || return 0
    n=$(grep -c 'stats:' "$log" || true)
    kill -USR1 "$DAEMON_PID" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        (($(grep -c 'stats:' "$log" || true) > n)) && break
        sleep 0.1
    done
    say "$cfg $mode: $(grep 'stats:' "$log" | tail -n 1 | sed 's/^fuse-overlayfs: //')"
}
# -------------------------------------------------------------------------

# ---- arguments ----------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root (mounts, drop_caches, apt-get)"
[[ $RUNTIME =~ ^[0-9]+$ && $RUNTIME -gt 0 ]] || die "RUNTIME must be a number of seconds"
[[ $REPS =~ ^[0-9]+$ && $REPS -gt 0 ]] || die "REPS must be a positive number"
size_arg=${SIZE^^}          # 4g, 4G, 4GiB, 4GB: all 4 GiB, as for fio
size_arg=${size_arg%B}
SIZE_BYTES=$(numfmt --from=iec "${size_arg%I}" 2>/dev/null) || die "SIZE=$SIZE: not a size like 512M or 4G"
((SIZE_BYTES >= 1048576)) || die "SIZE=$SIZE: at least 1M"
for c in $CONFIGS; do
    [[ " $ALL_CONFIGS " == *" $c "* ]] || die "unknown configuration '$c' (known: $ALL_CONFIGS)"
done
for m in $MODES; do
    [[ " $ALL_MODES " == *" $m "* ]] || die "unknown mode '$m' (known: $ALL_MODES)"
done
# shellcheck disable=SC2206  # CONFIGS, MODES and FIO_EXTRA are lists of words
CFGS=($CONFIGS) MODE_LIST=($MODES) FIO_EXTRA_ARGS=($FIO_EXTRA)
((${#CFGS[@]})) || die "CONFIGS is empty"
((${#MODE_LIST[@]})) || die "MODES is empty"


# ---- tools --------------------------------------------------------------
command -v fio >/dev/null || apt_install fio || true
command -v fio >/dev/null || die "could not install fio (apt-get install fio failed); nothing to measure"

if wants fo110 && [[ ! -x $FO110 ]]; then
    apt_install fuse-overlayfs || true
    [[ -x $FO110 ]] || drop_config fo110 "could not install Debian's fuse-overlayfs ($FO110 missing)"
fi
if wants ours || wants ours-nopt; then
    if [[ -x $FUSE_OVERLAYFS ]]; then
        FUSE_OVERLAYFS=$(realpath "$FUSE_OVERLAYFS")
    else
        wants ours && drop_config ours "$FUSE_OVERLAYFS is not an executable (build it: SKIP_DEPS=1 contrib/build.sh)"
        wants ours-nopt && drop_config ours-nopt "$FUSE_OVERLAYFS is not an executable"
    fi
fi
if wants kovl && ! grep -qw overlay /proc/filesystems; then
    modprobe overlay 2>/dev/null || true
    grep -qw overlay /proc/filesystems || drop_config kovl "the kernel has no overlay filesystem"
fi
((${#CFGS[@]})) || die "no configuration left to run"

if python3 -c 'import json' 2>/dev/null; then
    JSON_TOOL=python3
elif command -v jq >/dev/null; then
    JSON_TOOL=jq
else
    die "need python3 or jq to read fio's JSON output"
fi

# ---- work directory -----------------------------------------------------
OWN_DIR=0
if [[ -z ${BENCH_DIR:-} ]]; then
    BENCH_DIR=$(mktemp -d /var/tmp/bench-io.XXXXXX)
    OWN_DIR=1
else
    mkdir -p "$BENCH_DIR"
fi
BENCH_DIR=$(realpath "$BENCH_DIR")
FSTYPE=$(stat -f -c %T "$BENCH_DIR")
LOWER=$BENCH_DIR/lower UPPER=$BENCH_DIR/upper
RES=$BENCH_DIR/results

CUR_MNT="" CUR_PID=""   # the mount in use, for the trap
FIO_PID=""              # the fio running, for the trap

# run_fio ERRFILE ARG...: fio in the background and wait for it, so that an
# interrupt runs the trap at once (fio catches SIGINT and exits 0, after which
# bash would carry on as if nothing happened).
run_fio() {
    local err=$1 rc=0
    shift
    fio "$@" >/dev/null 2>"$err" &
    FIO_PID=$!
    wait "$FIO_PID" || rc=$?
    FIO_PID=""
    return "$rc"
}

# mounted_under DIR: print the mount points at or below DIR.
mounted_under() {
    awk -v d="$1" '{ m = $2; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' /proc/mounts
}

# daemon_pid BIN MNT: the pid of the FUSE daemon started as "BIN ... MNT".
daemon_pid() {
    local p args
    for p in /proc/[0-9]*; do
        mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
        ((${#args[@]} >= 2)) || continue
        if [[ ${args[0]} == "$1" && ${args[-1]} == "$2" ]]; then
            echo "${p#/proc/}"
            return 0
        fi
    done
    return 1
}

# gone PID: the process has exited (a zombie counts: it waits for its reaper).
gone() {
    local state
    [[ -r /proc/$1/stat ]] || return 0
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ -z $state || $state == Z || $state == X ]]
}

# unmount MNT [PID]: umount (retried briefly, then lazy), then wait for the
# daemon to exit; kill it (it is ours) only if it will not.
unmount() {
    local mnt=$1 pid=${2:-} i
    for ((i = 0; i < 20; i++)); do
        mountpoint -q "$mnt" || break
        umount "$mnt" 2>/dev/null && break
        sleep 0.5
    done
    if mountpoint -q "$mnt"; then
        say "umount $mnt keeps failing: lazy unmount"
        umount -l "$mnt" || true
    fi
    [[ -n $pid ]] || return 0
    for ((i = 0; i < 100; i++)); do
        gone "$pid" && return 0
        sleep 0.2
    done
    say "daemon $pid did not exit after unmount: SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
        gone "$pid" && return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? m left
    trap - EXIT INT TERM
    ((rc == 130 || rc == 143)) && say "interrupted: cleaning up"
    if [[ -n $FIO_PID ]]; then
        kill -TERM "$FIO_PID" 2>/dev/null || true
        wait "$FIO_PID" 2>/dev/null || true
    fi
    if [[ -n $CUR_MNT ]]; then
        unmount "$CUR_MNT" "$CUR_PID"
    fi
    # Anything else of ours still mounted (e.g. interrupted mid-mount).
    while read -r m; do
        [[ -n $m ]] && unmount "$m" "$(daemon_pid "$FUSE_OVERLAYFS" "$m" || daemon_pid "$FO110" "$m" || true)"
    done < <(mounted_under "$BENCH_DIR/mnt" | sort -r)
    left=$(mounted_under "$BENCH_DIR")
    if [[ -n $left ]]; then
        say "still mounted, $BENCH_DIR left in place: $left"
    elif ((OWN_DIR)); then
        rm -rf -- "$BENCH_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case $FSTYPE in
ext2/ext3) ;;
*) die "$BENCH_DIR is on $FSTYPE, not ext4 (stat -f shows ext4 as ext2/ext3): set BENCH_DIR" ;;
esac
[[ -z $(mounted_under "$BENCH_DIR") ]] || die "something is mounted under $BENCH_DIR already"

mkdir -p "$LOWER" "$UPPER" "$RES" "$BENCH_DIR/work" "$BENCH_DIR/mnt"
echo "a small file in the lower layer" >"$LOWER/small"
rm -f "$RES"/*

if [[ -f $UPPER/big && $(stat -c %s "$UPPER/big") == "$SIZE_BYTES" &&
      $(($(stat -c %b "$UPPER/big") * $(stat -c %B "$UPPER/big"))) -ge $SIZE_BYTES ]]; then
    say "reusing $UPPER/big ($SIZE)"
else
    rm -f "$UPPER/big"
    avail=$(df -B1 --output=avail "$BENCH_DIR" | tail -n 1)
    ((avail > SIZE_BYTES + 268435456)) || die "not enough space in $BENCH_DIR for a $SIZE file"
    say "writing $UPPER/big ($SIZE of data)"
    run_fio "$RES/create.err" --name=create --filename="$UPPER/big" --rw=write --bs=1M \
        --ioengine=sync --size="$SIZE_BYTES" --fallocate=none --refill_buffers \
        --end_fsync=1 --output=/dev/null ||
        { cat "$RES/create.err" >&2; die "could not write $UPPER/big"; }
    [[ $(stat -c %s "$UPPER/big") == "$SIZE_BYTES" ]] || die "$UPPER/big came out the wrong size"
fi

# ---- configurations -----------------------------------------------------
# mount_config CONFIG: mount it, set MNT (the directory to test in) and
# DAEMON_PID; on failure say why in one line and return 1.
mount_config() {
    local cfg=$1 work=$BENCH_DIR/work/$1 bin opts err
    MNT=$BENCH_DIR/mnt/$cfg DAEMON_PID=""
    err=$RES/mount-$cfg.err
    opts=lowerdir=$LOWER,upperdir=$UPPER,workdir=$work
    case $cfg in
    native)
        MNT=$UPPER
        return 0
        ;;
    kovl)
        mkdir -p "$work" "$MNT"
        if ! mount -t overlay overlay -o "$opts" "$MNT" >"$err" 2>&1; then
            say "kovl: mount failed: $(tail -n 1 "$err"; dmesg 2>/dev/null | grep -i overlay | tail -n 1)"
            return 1
        fi
        CUR_MNT=$MNT
        return 0
        ;;
    ours | ours-nopt | fo110)
        bin=$FUSE_OVERLAYFS
        [[ $cfg == fo110 ]] && bin=$FO110
        local extra=()
        [[ $cfg == ours-nopt ]] && extra=(-o passthrough=off)
        mkdir -p "$work" "$MNT"
        local rc=0
        if [[ $cfg == ours* ]]; then
            # foreground, so that after_run can read its statistics
            "$bin" -f -o "$opts" "${extra[@]}" "$MNT" >"$RES/daemon-$cfg.log" 2>&1 &
            local i
            for ((i = 0; i < 600; i++)); do
                mountpoint -q "$MNT" && break
                kill -0 $! 2>/dev/null || { rc=1; cp "$RES/daemon-$cfg.log" "$err"; break; }
                sleep 0.1
            done
        else
            timeout 60 "$bin" -o "$opts" "${extra[@]}" "$MNT" >"$err" 2>&1 || rc=$?
        fi
        if ((rc)); then
            say "$cfg: $bin failed to mount (exit $rc): $(tail -n 1 "$err")"
            CUR_MNT=$MNT CUR_PID=$(daemon_pid "$bin" "$MNT" || true)
            return 1
        fi
        CUR_MNT=$MNT
        DAEMON_PID=$(daemon_pid "$bin" "$MNT" || true)
        CUR_PID=$DAEMON_PID
        if ! mountpoint -q "$MNT"; then
            say "$cfg: $bin exited 0 but $MNT is not mounted"
            return 1
        fi
        [[ -n $DAEMON_PID ]] || say "$cfg: warning: could not find the daemon's pid"
        return 0
        ;;
    esac
}

unmount_config() {
    if [[ -n $CUR_MNT ]]; then
        unmount "$CUR_MNT" "$CUR_PID"
    fi
    CUR_MNT="" CUR_PID=""
}

# bw_mib JSON DIR: fio's bandwidth in MiB/s for DIR (read or write).
bw_mib() {
    if [[ $JSON_TOOL == python3 ]]; then
        python3 -c '
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
print("%.1f" % (job[sys.argv[2]]["bw_bytes"] / 1048576.0))' "$1" "$2"
    else
        sed -n '/^{/,$p' "$1" | jq -r ".jobs[0].$2.bw_bytes" |
            awk '{ printf "%.1f\n", $1 / 1048576 }'
    fi
}

# ---- header -------------------------------------------------------------
HDR="date $(date -u '+%Y-%m-%d %H:%M UTC') | kernel $(uname -r) | $(fio --version)"
HDR+=" | $BENCH_DIR on $FSTYPE | SIZE=$SIZE RUNTIME=${RUNTIME}s REPS=$REPS"
if wants ours || wants ours-nopt; then
    HDR2="ours: $FUSE_OVERLAYFS: $(version_of "$FUSE_OVERLAYFS")"
else
    HDR2="ours: not run"
fi
wants fo110 && HDR2+=" | fo110: $FO110: $(version_of "$FO110")"
say "$HDR"
say "$HDR2"
say "configs: ${CFGS[*]}; modes: ${MODE_LIST[*]}; about $((REPS * ${#CFGS[@]} * ${#MODE_LIST[@]} * RUNTIME)) s of fio runs"

# ---- runs ---------------------------------------------------------------
: >"$RES/bw"
for ((rep = 1; rep <= REPS; rep++)); do
    for cfg in "${CFGS[@]}"; do
        if ! mount_config "$cfg"; then
            unmount_config
            continue
        fi
        for mode in "${MODE_LIST[@]}"; do
            dir="read"
            [[ $mode == *write ]] && dir="write"
            out=$RES/$cfg.$mode.$rep.json
            cold_cache
            if run_fio "$out.err" --name="$cfg-$mode" --filename="$MNT/big" --rw="$mode" \
                --bs=4k --ioengine=sync --size="$SIZE_BYTES" --invalidate=0 \
                --runtime="$RUNTIME" --numjobs=1 --output-format=json --output="$out" \
                "${FIO_EXTRA_ARGS[@]}" &&
                bw=$(bw_mib "$out" "$dir") && [[ -n $bw ]]; then
                echo "$cfg $mode $rep $bw" >>"$RES/bw"
                say "rep $rep/$REPS $cfg $mode: $bw MiB/s"
            else
                say "rep $rep/$REPS $cfg $mode: fio failed: $(tail -n 1 "$out.err" 2>/dev/null)"
            fi
            [[ -n $KEEP_JSON ]] && mkdir -p "$KEEP_JSON" && cp "$out" "$KEEP_JSON/" 2>/dev/null
            after_run "$cfg" "$mode"
        done
        unmount_config
    done
done

# ---- table --------------------------------------------------------------
echo "$HDR"
echo "$HDR2"
echo "fio bs=4k ioengine=sync numjobs=1, cold cache per run; MiB/s, median of $REPS"
echo
awk -v configs="${CFGS[*]}" -v modes="${MODE_LIST[*]}" '
function median(key,   n, i, j, t, v) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "n/a" : sprintf("%.2f", a / b) }
{ k = $1 SUBSEP $2; val[k, ++cnt[k]] = $4 }
END {
    nc = split(configs, C, " "); nm = split(modes, M, " ")
    for (i = 1; i <= nc; i++) have[C[i]] = 1
    nr = 0
    if (have["ours"] && have["native"]) R[++nr] = "ours native ours/native"
    if (have["ours"] && have["kovl"])   R[++nr] = "ours kovl ours/kovl"
    if (have["ours"] && have["fo110"])  R[++nr] = "ours fo110 ours/fo110"
    if (have["ours-nopt"] && have["native"]) R[++nr] = "ours-nopt native nopt/native"
    line = "| mode |"; sep = "|---|"
    for (i = 1; i <= nc; i++) { line = line " " C[i] " |"; sep = sep "---:|" }
    for (r = 1; r <= nr; r++) { split(R[r], x, " "); line = line " " x[3] " |"; sep = sep "---:|" }
    print line; print sep
    for (m = 1; m <= nm; m++) {
        line = "| " M[m] " |"
        for (i = 1; i <= nc; i++) {
            med[C[i]] = median(C[i] SUBSEP M[m])
            line = line " " (med[C[i]] == "" ? "n/a" : sprintf("%.1f", med[C[i]])) " |"
        }
        for (r = 1; r <= nr; r++) { split(R[r], x, " "); line = line " " ratio(med[x[1]], med[x[2]]) " |" }
        print line
    }
}' "$RES/bw"
