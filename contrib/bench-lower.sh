#!/bin/bash
# bench-lower.sh: reading image files (the lower layer) through several
# filesystems side by side in one run, printed as Markdown tables.
#
# Configurations (each on the same lower layer, with an empty upper):
#   native      the lower directory itself
#   kovl        kernel overlayfs
#   ours        our fuse-overlayfs ($FUSE_OVERLAYFS), default options
#               (passthrough=all: lower files passed through)
#   ours_upper  the same with -o passthrough=upper (lower files through the
#               daemon, as before lower passthrough)
#   fo110       Debian's fuse-overlayfs 1.10 (/usr/bin/fuse-overlayfs)
# Parts (PARTS):
#   fio    fio read and randread, bs 4k and 128k, ioengine=sync, one job,
#          on a SIZE lower file, cold cache before each run, one pass of at
#          most RUNTIME seconds; MiB/s, median of REPS
#   start  wall time of a python3 start that imports a few modules, with
#          the interpreter and its standard library in the lower layer
#          (PYTHONHOME in the mount), cold cache before each start; ms,
#          median of STARTS
#   cache  growth of the page cache (Cached in /proc/meminfo) when a
#          PC_SIZE lower file is read once through each of 1, 2 and 4
#          mounts of the same layers, the file evicted first; MiB
# Repetitions interleave the configurations, which are all mounted at once,
# so that drift on a noisy machine hits all of them alike.  A measurement,
# not a test: it never judges the figures.  Our daemons' SIGUSR1 statistics
# go to stderr after each part (how many opens were passed through).
#
# Run as root (mounts, drop_caches; installs fio and Debian's fuse-overlayfs
# with apt-get when missing).  Progress on stderr, tables on stdout.
#
# Env knobs: FUSE_OVERLAYFS, FO110, BENCH_DIR (on ext4; default a fresh
# /var/tmp/bench-lower.XXXXXX, removed at exit), SIZE (2G), RUNTIME (15),
# REPS (3), STARTS (20), PC_SIZE (512M), CONFIGS, PARTS ("fio start cache").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=bench-lower
# shellcheck source=contrib/bench-lib.sh
. "$ROOT/contrib/bench-lib.sh"

FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$ROOT/build/fuse-overlayfs}
FO110=${FO110:-/usr/bin/fuse-overlayfs}
SIZE=${SIZE:-2G}
RUNTIME=${RUNTIME:-15}
REPS=${REPS:-3}
STARTS=${STARTS:-20}
PC_SIZE=${PC_SIZE:-512M}
ALL_CONFIGS="native kovl ours ours_upper fo110"
CONFIGS=${CONFIGS:-$ALL_CONFIGS}
PARTS=${PARTS:-fio start cache}
PYTHON=$(readlink -f "${PYTHON:-/usr/bin/python3}")
PYVER=$(basename "$PYTHON")

[[ $(id -u) == 0 ]] || die "run as root (mounts, drop_caches, apt-get)"
for n in "$RUNTIME" "$REPS" "$STARTS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "RUNTIME, REPS and STARTS must be positive numbers"
done
SIZE_BYTES=$(numfmt --from=iec "${SIZE%[bB]}") || die "SIZE=$SIZE: not a size like 2G"
PC_BYTES=$(numfmt --from=iec "${PC_SIZE%[bB]}") || die "PC_SIZE=$PC_SIZE: not a size like 512M"
# shellcheck disable=SC2206  # lists of words
CFGS=($CONFIGS) PART_LIST=($PARTS)
for c in "${CFGS[@]}"; do
    [[ " $ALL_CONFIGS " == *" $c "* ]] || die "unknown configuration '$c' (known: $ALL_CONFIGS)"
done
part() { [[ " ${PART_LIST[*]} " == *" $1 "* ]]; }

command -v fio >/dev/null || apt_install fio || true
part fio && ! command -v fio >/dev/null && die "fio is missing and could not be installed"
if wants fo110 && [[ ! -x $FO110 ]]; then
    apt_install fuse-overlayfs || true
    [[ -x $FO110 ]] || drop_config fo110 "$FO110 is missing"
fi
[[ -x $FUSE_OVERLAYFS ]] || die "$FUSE_OVERLAYFS is not executable (SKIP_DEPS=1 contrib/build.sh)"
FUSE_OVERLAYFS=$(realpath "$FUSE_OVERLAYFS")
[[ -d /usr/lib/$PYVER ]] || die "no /usr/lib/$PYVER to put in the lower layer (PYTHON=$PYTHON)"

bench_dir
LOWER=$BENCH_DIR/lower RES=$BENCH_DIR/results

# ---- mounts -------------------------------------------------------------
# Mounts are named CFG.I; MNT_OF[name] is the directory to read in, PID_OF
# our daemons' pids (statistics, and waited for at the unmount).
declare -A MNT_OF=() PID_OF=()

mount_one() {  # mount_one CFG I
    local cfg=$1 name=$1.$2 up=$BENCH_DIR/upper/$1.$2 work=$BENCH_DIR/work/$1.$2
    local mnt=$BENCH_DIR/mnt/$1.$2 bin=$FUSE_OVERLAYFS opts=""
    if [[ $cfg == native ]]; then
        MNT_OF[$name]=$LOWER
        return 0
    fi
    mkdir -p "$up" "$work" "$mnt"
    case $cfg in
    kovl)
        mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$up,workdir=$work" "$mnt" ;;
    ours | ours_upper | fo110)
        [[ $cfg == fo110 ]] && bin=$FO110
        [[ $cfg == ours_upper ]] && opts=,passthrough=upper
        "$bin" -f -o "lowerdir=$LOWER,upperdir=$up,workdir=$work$opts" "$mnt" 2>>"$RES/daemon-$name.log" &
        PID_OF[$name]=$!
        wait_mounted "${PID_OF[$name]}" "$mnt" "$RES/daemon-$name.log" ;;
    esac
    mountpoint -q "$mnt" || die "$name: not mounted"
    MNT_OF[$name]=$mnt
}

unmount_all() {
    local name mnt pid i
    for name in "${!MNT_OF[@]}"; do
        mnt=${MNT_OF[$name]}
        [[ $mnt == "$LOWER" ]] && continue
        umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
    done
    for name in "${!PID_OF[@]}"; do
        pid=${PID_OF[$name]}
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        wait "$pid" 2>/dev/null || true
    done
    MNT_OF=() PID_OF=()
    rm -rf "$BENCH_DIR/upper" "$BENCH_DIR/work"
}

# stats WHAT: each of our daemons logs its statistics; the lines go to stderr
stats() {
    local name pid n i log
    for name in "${!PID_OF[@]}"; do
        [[ $name == ours* ]] || continue
        pid=${PID_OF[$name]} log=$RES/daemon-$name.log
        n=$(grep -c 'stats:' "$log" || true)
        kill -USR1 "$pid" 2>/dev/null || continue
        for ((i = 0; i < 50; i++)); do
            (($(grep -c 'stats:' "$log" || true) > n)) && break
            sleep 0.1
        done
        say "$1, $name: $(grep 'stats:' "$log" | tail -n 1 | sed 's/^fuse-overlayfs: //')"
    done
}

bench_cleanup() { unmount_all 2>/dev/null; }
bench_traps

# ---- the lower layer ----------------------------------------------------
mkdir -p "$RES" "$LOWER/usr/bin" "$LOWER/usr/lib"
: >"$RES/results"
say "making the lower layer: a $SIZE file, a $PC_SIZE file, $PYVER and its library"
! part fio || head -c "$SIZE_BYTES" /dev/urandom >"$LOWER/big"
! part cache || head -c "$PC_BYTES" /dev/urandom >"$LOWER/pc"
cp -a "$PYTHON" "$LOWER/usr/bin/$PYVER"
cp -a "/usr/lib/$PYVER" "$LOWER/usr/lib/"
sync

HDR="date $(date -u '+%Y-%m-%d %H:%M UTC') | kernel $(uname -r) | $(nproc) cpus | $BENCH_DIR on ext4"
HDR+=" | SIZE=$SIZE RUNTIME=${RUNTIME}s REPS=$REPS STARTS=$STARTS PC_SIZE=$PC_SIZE"
HDR2="ours: $(version_of "$FUSE_OVERLAYFS")"
wants fo110 && HDR2+=" | fo110: $(version_of "$FO110")"
say "$HDR"
say "configs: ${CFGS[*]}; parts: ${PART_LIST[*]}"

# bw_mib JSON: fio's read bandwidth in MiB/s
bw_mib() {
    python3 -c '
import json, sys
text = open(sys.argv[1]).read()
print("%.1f" % (json.loads(text[text.index("{"):])["jobs"][0]["read"]["bw_bytes"] / 1048576.0))' "$1"
}

FIO_MODES="read-4k randread-4k read-128k randread-128k"
if part fio; then
    for c in "${CFGS[@]}"; do mount_one "$c" 1; done
    for ((rep = 1; rep <= REPS; rep++)); do
        for m in $FIO_MODES; do
            for c in "${CFGS[@]}"; do
                out=$RES/fio.$c.$m.$rep.json
                cold_cache
                if fio --name="$c" --filename="${MNT_OF[$c.1]}/big" --rw="${m%-*}" --bs="${m#*-}" \
                    --ioengine=sync --size="$SIZE_BYTES" --invalidate=0 --runtime="$RUNTIME" \
                    --numjobs=1 --output-format=json --output="$out" >/dev/null 2>"$out.err"; then
                    bw=$(bw_mib "$out")
                    echo "fio $c $m $bw" >>"$RES/results"
                    say "fio rep $rep/$REPS $m $c: $bw MiB/s"
                else
                    say "fio rep $rep/$REPS $m $c: failed: $(tail -n 1 "$out.err")"
                fi
            done
        done
    done
    stats "after fio"
    unmount_all
fi

if part start; then
    for c in "${CFGS[@]}"; do mount_one "$c" 1; done
    for ((i = 1; i <= STARTS; i++)); do
        for c in "${CFGS[@]}"; do
            m=${MNT_OF[$c.1]}
            cold_cache
            t0=$(date +%s%N)
            PYTHONHOME=$m/usr PYTHONDONTWRITEBYTECODE=1 "$m/usr/bin/$PYVER" -c \
                'import json, email.parser, http.client, decimal, sqlite3' ||
                die "$c: $PYVER from the lower layer failed"
            t1=$(date +%s%N)
            echo "start $c - $(((t1 - t0) / 1000000))" >>"$RES/results"
        done
    done
    say "start: $STARTS cold starts per configuration done"
    stats "after the starts"
    unmount_all
fi

if part cache; then
    for n in 1 2 4; do
        for c in "${CFGS[@]}"; do
            for ((i = 1; i <= n; i++)); do mount_one "$c" "$i"; done
            cold_cache
            before=$(awk '$1 == "Cached:" { print $2 }' /proc/meminfo)
            for ((i = 1; i <= n; i++)); do cat "${MNT_OF[$c.$i]}/pc" >/dev/null; done
            after=$(awk '$1 == "Cached:" { print $2 }' /proc/meminfo)
            echo "cache $c $n $(((after - before) / 1024))" >>"$RES/results"
            say "cache: $PC_SIZE read through $n mount(s) of $c: page cache +$(((after - before) / 1024)) MiB"
            unmount_all
        done
    done
fi

# ---- tables -------------------------------------------------------------
RATIOS="ours/native ours/kovl ours/fo110 ours/ours_upper"
med() {  # med PART CFG KEY: the median of the recorded values
    awk -v p="$1" -v c="$2" -v k="$3" '$1 == p && $2 == c && $3 == k { print $4 }' "$RES/results" | median
}
row() {  # row PART KEY LABEL: one table row, the configurations then the ratios
    local c r a b line="| $3 |"
    local -A val=()
    for c in "${CFGS[@]}"; do
        val[$c]=$(med "$1" "$c" "$2")
        line+=" ${val[$c]:-n/a} |"
    done
    for r in $RATIOS; do
        a=${r%/*} b=${r#*/}
        wants "$a" && wants "$b" && line+=" $(ratio "${val[$a]}" "${val[$b]}") |"
    done
    echo "$line"
}
header() {  # header FIRST-COLUMN
    local c r line="| $1 |" sep="|---|"
    for c in "${CFGS[@]}"; do line+=" $c |"; sep+="---:|"; done
    for r in $RATIOS; do
        wants "${r%/*}" && wants "${r#*/}" && { line+=" $r |"; sep+="---:|"; }
    done
    echo "$line"
    echo "$sep"
}

echo "$HDR"
echo "$HDR2"
if part fio; then
    echo
    echo "fio on a $SIZE lower file, ioengine=sync, one job, cold cache per run; MiB/s, median of $REPS"
    echo
    header mode
    for m in $FIO_MODES; do row fio "$m" "$m"; done
fi
if part start; then
    echo
    echo "$PYVER started from the lower layer, cold cache; ms, median of $STARTS"
    echo
    header workload
    row start - "python3 start"
fi
if part cache; then
    echo
    echo "page cache growth when a $PC_SIZE lower file is read once through each of N mounts; MiB"
    echo
    header mounts
    for n in 1 2 4; do row cache "$n" "$n"; done
fi
