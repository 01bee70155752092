#!/bin/bash
# bench-meta.sh: metadata workloads through several filesystems, side by
# side in one run, printed as a Markdown table (seconds, median over REPS,
# ratios to kernel overlayfs, and our daemon's CPU time and peak RSS).
#
# Configurations:
#   native  the workload on the layers' ext4 directly (a copy of the lower
#           tree where it writes)
#   kovl    kernel overlayfs
#   ours    our fuse-overlayfs ($FUSE_OVERLAYFS), default options: requests
#           over io_uring (the run turns the kernel's enable_uring on, and
#           back to what it was at the end)
#   ours_dev  ours with -o io_uring=off: requests over /dev/fuse
#   fo110   Debian's fuse-overlayfs 1.10 (/usr/bin/fuse-overlayfs)
# Every workload gets a fresh mount over the same lower tree (TREE_DIRS x
# TREE_FILES small files, plus symlinks, a C project and a 256 MiB file) and
# an empty upper layer; "cold" ones start with the caches dropped.
# Repetitions interleave (rep 1: every workload x every config, then rep 2)
# so that drift on a noisy machine hits all configurations alike.  This is a
# measurement, not a test: it never judges the figures.
#
# Run as root (mounts, drop_caches; apt-get for Debian's fuse-overlayfs when
# missing: without it that column is left out, with a one-line note).
# Progress goes to stderr, the table to stdout.
#
# Env knobs:
#   FUSE_OVERLAYFS  our binary (default: $(dirname "$0")/../build/fuse-overlayfs)
#   FO110           the peer's binary (default /usr/bin/fuse-overlayfs)
#   BENCH_DIR       work directory on ext4 (default: a fresh /var/tmp/bench-meta.XXXXXX)
#   REPS            repetitions (default 3)
#   CONFIGS         (default "native kovl ours ours_dev fo110")
#   WORKLOADS       names to run (default all; see the list printed at start)
#   TREE_DIRS, TREE_FILES  the lower tree's shape (default 200 x 100)
#
# Example: REPS=1 WORKLOADS="find_cold create stat" contrib/bench-meta.sh
set -euo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$ROOT/build/fuse-overlayfs}
FO110=${FO110:-/usr/bin/fuse-overlayfs}
REPS=${REPS:-3}
CONFIGS=${CONFIGS:-native kovl ours ours_dev fo110}
TREE_DIRS=${TREE_DIRS:-200}
TREE_FILES=${TREE_FILES:-100}

BENCH_NAME=bench-meta
# shellcheck source=contrib/bench-lib.sh
. "$ROOT/contrib/bench-lib.sh"

# ---- workloads ------------------------------------------------------------
# Each wl_NAME runs in $M (the mount); the lower tree is $M/tree, a C
# project $M/proj, a big file $M/big.  COLD lists those that start with
# dropped caches.  Loops run in one perl process, so that process creation
# does not hide the filesystem.
WORKLOADS_ALL="find_cold find_warm lsR_cold cat_cold lstat_walk untar create stat rename unlink
copyup_small copyup_big rm_rf chmod_R chown_R make walkers_1 walkers_2 creators_1 creators_2"
COLD="find_cold lsR_cold cat_cold untar copyup_small copyup_big rm_rf chmod_R chown_R make walkers_1 walkers_2"
declare -A TITLE=(
    [find_cold]="find, cold" [find_warm]="find, warm (second run)" [lsR_cold]="ls -lR, cold"
    [cat_cold]="cat every file, cold" [lstat_walk]="lstat every file, warm (git status)"
    [untar]="untar 5000 small files" [create]="create 10k files in one dir"
    [stat]="stat them" [rename]="rename them" [unlink]="unlink them"
    [copyup_small]="append 1 byte to 1000 lower files (copy-up)"
    [copyup_big]="append 1 byte to a 256 MiB lower file"
    [rm_rf]="rm -rf of 11 lower dirs (1122 entries)" [chmod_R]="chmod -R of 11 lower dirs"
    [chown_R]="chown -R of 11 lower dirs"
    [make]="make -j2 of a 40-file C project" [walkers_1]="find+stat walker, 1 thread, cold"
    [walkers_2]="find+stat walkers, 2 threads, cold" [creators_1]="create 4k files, 1 thread"
    [creators_2]="create 4k files in 2 dirs, 2 threads")

wl_find_cold() { find "$M/tree" >/dev/null; }
wl_find_warm() { find "$M/tree" >/dev/null; }   # after a first, untimed run (prep_find_warm)
wl_lsR_cold() { ls -lR "$M/tree" >/dev/null; }
wl_cat_cold() { find "$M/tree" -type f -exec cat {} + >/dev/null; }
wl_lstat_walk() { perl -MFile::Find -e 'find({ wanted => sub { lstat $_ }, no_chdir => 1 }, $ARGV[0])' "$M/tree"; }
wl_untar() { mkdir "$M/x" && tar -xf "$BENCH_DIR/small.tar" -C "$M/x"; }
wl_create() { mkdir "$M/many" && perl -e 'for (1..10000) { open(my $f, ">", "$ARGV[0]/f$_") or die "$!" }' "$M/many"; }
wl_stat() { perl -e 'for (1..10000) { stat("$ARGV[0]/f$_") or die "$!" }' "$M/many"; }
wl_rename() { perl -e 'for (1..10000) { rename("$ARGV[0]/f$_", "$ARGV[0]/g$_") or die "$!" }' "$M/many"; }
wl_unlink() { perl -e 'for (1..10000) { unlink("$ARGV[0]/g$_") or die "$!" }' "$M/many"; }
wl_copyup_small() {
    perl -e 'for my $d (0..9) { for my $f (0..99) {
        open(my $h, ">>", "$ARGV[0]/d$d/f$f") or die "$!"; print $h "x" } }' "$M/tree"
}
wl_copyup_big() { printf x >>"$M/big"; }
wl_rm_rf() { rm -rf "$M/tree/d1" "$M"/tree/d1?; }
wl_chmod_R() { chmod -R go-w "$M/tree/d2" "$M"/tree/d2?; }
wl_chown_R() { chown -R 1:1 "$M/tree/d3" "$M"/tree/d3?; }
wl_make() { make -s -j2 -C "$M/proj" >/dev/null; }
walkers() {  # walkers N: N parallel walkers, each over every Nth top directory
    local i pids=() dirs=()
    mapfile -t dirs < <(printf '%s\n' "$M"/tree/d*)
    for ((i = 0; i < $1; i++)); do
        perl -MFile::Find -e 'find({ wanted => sub { lstat $_ }, no_chdir => 1 }, @ARGV)' \
            $(printf '%s\n' "${dirs[@]}" | awk -v n="$1" -v i="$i" 'NR % n == i') &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
}
wl_walkers_1() { walkers 1; }
wl_walkers_2() { walkers 2; }
creators() {  # creators N: N processes creating 4000/N files each, one dir each
    local i pids=()
    for ((i = 0; i < $1; i++)); do
        mkdir "$M/c$i"
        perl -e 'for (1..$ARGV[1]) { open(my $f, ">", "$ARGV[0]/f$_") or die "$!" }' "$M/c$i" \
            $((4000 / $1)) &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
}
wl_creators_1() { creators 1; }
wl_creators_2() { creators 2; }

# prep_NAME (untimed, after the mount, before the caches are dropped)
prep_find_warm() { find "$M/tree" >/dev/null; }
prep_stat() { wl_create; }
prep_rename() { wl_create; }
prep_unlink() { wl_create && wl_rename; }
prep_lstat_walk() { wl_lstat_walk; }

# ---- arguments ------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root (mounts, drop_caches, apt-get)"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive number"
# shellcheck disable=SC2206  # lists of words
CFGS=($CONFIGS) WLS=(${WORKLOADS:-$WORKLOADS_ALL})
for c in "${CFGS[@]}"; do
    [[ " native kovl ours ours_dev fo110 " == *" $c "* ]] || die "unknown configuration '$c'"
done
for w in "${WLS[@]}"; do
    [[ -n ${TITLE[$w]:-} ]] || die "unknown workload '$w' (known: $(echo $WORKLOADS_ALL))"
done
for tool in perl make gcc tar; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if wants fo110 && [[ ! -x $FO110 ]]; then
    apt_install fuse-overlayfs || true
    [[ -x $FO110 ]] || drop_config fo110 "no Debian fuse-overlayfs at $FO110"
fi
if wants ours || wants ours_dev; then
    [[ -x $FUSE_OVERLAYFS ]] || die "$FUSE_OVERLAYFS: not built (SKIP_DEPS=1 contrib/build.sh)"
    FUSE_OVERLAYFS=$(realpath "$FUSE_OVERLAYFS")
fi
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
wants kovl && ! grep -qw overlay /proc/filesystems && drop_config kovl "no overlay filesystem"

# ---- the tree -------------------------------------------------------------
bench_dir
LOWER=$BENCH_DIR/lower RES=$BENCH_DIR/results
CUR_MNT="" CUR_PID=""
URING_PARAM=/sys/module/fuse/parameters/enable_uring URING_WAS=""

bench_cleanup() {
    [[ -z $CUR_MNT ]] || unmount_config
    [[ -z $URING_WAS ]] || echo "$URING_WAS" >"$URING_PARAM"
}
bench_traps

make_tree() {
    local d f
    say "making the lower tree ($TREE_DIRS x $TREE_FILES files, a C project, a 256 MiB file)"
    rm -rf "$LOWER" && mkdir -p "$LOWER/tree" "$LOWER/proj"
    perl -e 'my ($root, $nd, $nf) = @ARGV;
        for my $d (0 .. $nd - 1) { mkdir "$root/d$d" or die "$!";
            for my $f (0 .. $nf - 1) { open(my $h, ">", "$root/d$d/f$f") or die "$!";
                print $h "file $d/$f\n" x (1 + ($f % 8)) }
            symlink("f0", "$root/d$d/link") or die "$!" }' "$LOWER/tree" "$TREE_DIRS" "$TREE_FILES"
    for ((f = 0; f < 40; f++)); do
        printf 'int f%d(int x) { return x * %d + 1; }\n' "$f" "$f" >"$LOWER/proj/f$f.c"
    done
    printf 'int main(void) { return 0; }\n' >"$LOWER/proj/main.c"
    {
        echo 'OBJS := $(patsubst %.c,%.o,$(wildcard *.c))'
        echo 'prog: $(OBJS)'
        printf '\t$(CC) -o $@ $^\n'
    } >"$LOWER/proj/Makefile"
    head -c 268435456 /dev/zero | tr '\0' 'b' >"$LOWER/big"
    mkdir -p "$BENCH_DIR/tarsrc"
    perl -e 'for my $d (0..49) { mkdir "$ARGV[0]/t$d"; for my $f (0..99) {
        open(my $h, ">", "$ARGV[0]/t$d/f$f") or die; print $h "t\n" } }' "$BENCH_DIR/tarsrc"
    tar -cf "$BENCH_DIR/small.tar" -C "$BENCH_DIR/tarsrc" .
    rm -rf "$BENCH_DIR/tarsrc"
    sync
}

# ---- mounts ---------------------------------------------------------------
# ext4 skips inodes freed in the last seconds when it allocates new ones
# (recently_deleted(): 5 s once written back, 5 min while the inode table
# block is dirty; checked on every allocation when there is no journal, as
# on this machine's root), at a cost that grows with their number: a
# workload run just after the previous configuration's tree was deleted
# would pay for it.  So trees are set aside, and deleted only between
# workloads, then written back and left to age (purge_trash).
TRASH=$BENCH_DIR/trash N_ASIDE=0
set_aside() {
    local d
    for d in "$@"; do
        [[ -e $d ]] || continue
        mkdir -p "$TRASH" && mv "$d" "$TRASH/$((N_ASIDE++))"
    done
}
purge_trash() {
    [[ -d $TRASH ]] || return 0
    rm -rf "$TRASH" && sync && sleep 6
}

# mount_config CONFIG: a fresh upper and a mount; sets M and DAEMON_PID.
mount_config() {
    local cfg=$1 up=$BENCH_DIR/upper work=$BENCH_DIR/work mnt=$BENCH_DIR/mnt
    set_aside "$up" "$work" && mkdir -p "$up" "$work" "$mnt"
    DAEMON_PID=""
    case $cfg in
    native)
        # the same tree, writable: a copy made before the caches are dropped
        # (the big file linked: appending a byte to it is the same anywhere)
        cp -a "$LOWER/tree" "$LOWER/proj" "$up/"
        ln "$LOWER/big" "$up/big"
        M=$up
        return 0 ;;
    kovl)
        mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$up,workdir=$work" "$mnt" ;;
    ours | ours_dev | fo110)
        local bin=$FUSE_OVERLAYFS opts=""
        [[ $cfg == fo110 ]] && bin=$FO110
        [[ $cfg == ours_dev ]] && opts=,io_uring=off
        "$bin" -f -o "lowerdir=$LOWER,upperdir=$up,workdir=$work$opts" "$mnt" 2>"$RES/daemon-$cfg.log" &
        DAEMON_PID=$!
        wait_mounted "$DAEMON_PID" "$mnt" "$RES/daemon-$cfg.log" ;;
    esac
    mountpoint -q "$mnt" || die "$cfg: not mounted"
    CUR_MNT=$mnt CUR_PID=$DAEMON_PID M=$mnt
}

unmount_config() {
    local i
    if [[ -n $CUR_MNT ]]; then
        umount "$CUR_MNT" 2>/dev/null || umount -l "$CUR_MNT"
    fi
    if [[ -n $CUR_PID ]]; then
        for ((i = 0; i < 100; i++)); do kill -0 "$CUR_PID" 2>/dev/null || break; sleep 0.1; done
        wait "$CUR_PID" 2>/dev/null || true
    fi
    CUR_MNT="" CUR_PID=""
}

now() { date +%s.%N; }
# cpu_ticks PID: user + system time of the daemon (all its threads), in ticks
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)

# ---- runs -----------------------------------------------------------------
if [[ -w $URING_PARAM ]]; then
    URING_WAS=$(cat "$URING_PARAM")
    echo Y >"$URING_PARAM"
fi
mkdir -p "$RES"
: >"$RES/times"
make_tree
HDR="date $(date -u '+%Y-%m-%d %H:%M UTC') | kernel $(uname -r) | $(nproc) cpus | $BENCH_DIR on ext4"
HDR+=" | tree ${TREE_DIRS}x${TREE_FILES} | REPS=$REPS | enable_uring $(cat "$URING_PARAM" 2>/dev/null || echo absent)"
HDR2="ours: $(version_of "$FUSE_OVERLAYFS")"
wants fo110 && HDR2+=" | fo110: $(version_of "$FO110")"
say "$HDR"
say "configs: ${CFGS[*]}; workloads: ${WLS[*]}"
for ((rep = 1; rep <= REPS; rep++)); do
    for w in "${WLS[@]}"; do
        purge_trash
        for cfg in "${CFGS[@]}"; do
            mount_config "$cfg"
            if declare -F "prep_$w" >/dev/null; then "prep_$w"; fi
            [[ " $COLD " == *" $w "* ]] && cold_cache
            t0=$(cpu_ticks "${DAEMON_PID:-self}")
            s=$(now)
            "wl_$w" || die "$cfg $w failed"
            e=$(now)
            cpu=0 rss=0
            if [[ -n $DAEMON_PID ]]; then
                cpu=$(awk -v a="$t0" -v b="$(cpu_ticks "$DAEMON_PID")" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }')
                rss=$(hwm_kib "$DAEMON_PID")
            fi
            unmount_config
            secs=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
            echo "$w $cfg $rep $secs $cpu $rss" >>"$RES/times"
            say "rep $rep/$REPS $w $cfg: ${secs}s (daemon cpu ${cpu}s, peak rss ${rss} KiB)"
        done
    done
done

# ---- table ----------------------------------------------------------------
echo "$HDR"
echo "$HDR2"
echo "seconds, median of $REPS; ratios to kernel overlayfs; ours: daemon CPU seconds and peak RSS"
echo
awk -v configs="${CFGS[*]}" -v wls="${WLS[*]}" -v titles="$(for w in "${WLS[@]}"; do printf '%s\t' "${TITLE[$w]}"; done)" '
function median(k,   n, i, j, t, v) {
    n = cnt[k]; if (!n) return ""
    for (i = 1; i <= n; i++) v[i] = val[k, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function r(a, b) { return (a == "" || b == "" || b == 0) ? "n/a" : sprintf("%.2f", a / b) }
{ k = $1 SUBSEP $2; val[k, ++cnt[k]] = $4; cpuv[k, cnt[k]] = $5; if ($6 > rss[k]) rss[k] = $6 }
END {
    nc = split(configs, C, " "); nw = split(wls, W, " "); split(titles, TT, "\t")
    for (i = 1; i <= nc; i++) have[C[i]] = 1
    line = "| workload |"; sep = "|---|"
    for (i = 1; i <= nc; i++) { line = line " " C[i] " |"; sep = sep "---:|" }
    if (have["kovl"] && have["ours"]) { line = line " ours/kovl |"; sep = sep "---:|" }
    if (have["kovl"] && have["ours_dev"]) { line = line " ours_dev/kovl |"; sep = sep "---:|" }
    if (have["kovl"] && have["fo110"]) { line = line " fo110/kovl |"; sep = sep "---:|" }
    if (have["ours"]) { line = line " ours cpu s | ours rss MiB |"; sep = sep "---:|---:|" }
    print line; print sep
    for (w = 1; w <= nw; w++) {
        line = "| " TT[w] " |"
        for (i = 1; i <= nc; i++) { m[C[i]] = median(W[w] SUBSEP C[i]); line = line " " (m[C[i]] == "" ? "n/a" : sprintf("%.3f", m[C[i]])) " |" }
        if (have["kovl"] && have["ours"]) line = line " " r(m["ours"], m["kovl"]) " |"
        if (have["kovl"] && have["ours_dev"]) line = line " " r(m["ours_dev"], m["kovl"]) " |"
        if (have["kovl"] && have["fo110"]) line = line " " r(m["fo110"], m["kovl"]) " |"
        if (have["ours"]) {
            k = W[w] SUBSEP "ours"; n = cnt[k]
            for (i = 1; i <= n; i++) val[k "cpu", i] = cpuv[k, i]; cnt[k "cpu"] = n
            line = line " " median(k "cpu") " | " sprintf("%.1f", rss[k] / 1024) " |"
        }
        print line
    }
}' "$RES/times"
