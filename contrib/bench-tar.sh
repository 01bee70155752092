#!/bin/bash
# bench-tar.sh: an image layer served from its tarball by the tar plugin
# (plugins/tar/) against the same layer unpacked, side by side in one run,
# printed as Markdown tables.
#
# The layer: NFILES files in 100 directories, SIZE in all, one BIG file of
# them (random bytes; the small ones half text, half random).
# Configurations (each with an empty upper):
#   native    the unpacked directory itself (no mount)
#   kovl      kernel overlayfs on the directory
#   fo110     Debian's fuse-overlayfs 1.10 on the directory
#   ours      our fuse-overlayfs on the directory
#   tar, tgz, tzst   ours on lowerdir=//tar/-/layer.tar (.gz, .zst: one
#             zstd frame, as `zstd` writes it)
#   tzstf     ours on the same tar compressed by pzstd: one zstd frame per
#             few MiB, as zstd:chunked layers are many frames
# Measures, median of REPS, the configurations interleaved:
#   mount     wall time of the mount command (it returns once mounted;
#             for tar layers that includes reading the archive and building
#             its index), ms
#   first     after a mount and a cold cache: reading one small file deep
#             in the tree, ms
#   rand      fio randread, bs 4k, one job, RANDIOS reads (at most RUNTIME
#             seconds) on BIG, cold cache: mean latency of a read, µs
#   rss       memory of the tar plugin's serving process after the walk
#             (VmRSS), MiB
# A measurement, not a test: it never judges the figures.
#
# Run as root.  Env: FUSE_OVERLAYFS (build/fuse-overlayfs; tar.so next to
# it), FO110, BENCH_DIR (on ext4), SIZE (500M), NFILES (20000), BIG (128M),
# RANDIOS (2000), RUNTIME (20), REPS (3), CONFIGS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=bench-tar
# shellcheck source=contrib/bench-lib.sh
. "$ROOT/contrib/bench-lib.sh"

FUSE_OVERLAYFS=${FUSE_OVERLAYFS:-$ROOT/build/fuse-overlayfs}
FO110=${FO110:-/usr/bin/fuse-overlayfs}
SIZE=${SIZE:-500M} NFILES=${NFILES:-20000} BIG=${BIG:-128M}
RANDIOS=${RANDIOS:-2000} RUNTIME=${RUNTIME:-20} REPS=${REPS:-3}
ALL_CONFIGS="native kovl fo110 ours tar tgz tzst tzstf"
# shellcheck disable=SC2206
CFGS=(${CONFIGS:-$ALL_CONFIGS})

[[ $(id -u) == 0 ]] || die "run as root (mounts, drop_caches)"
[[ -x $FUSE_OVERLAYFS ]] || die "$FUSE_OVERLAYFS is not executable (SKIP_DEPS=1 contrib/build.sh)"
FUSE_OVERLAYFS=$(realpath "$FUSE_OVERLAYFS")
TAR_SO=$(dirname "$FUSE_OVERLAYFS")/tar.so
[[ -f $TAR_SO ]] || die "no $TAR_SO next to $FUSE_OVERLAYFS"
command -v fio >/dev/null || die "fio is missing (contrib/install-deps.sh)"
command -v pzstd >/dev/null || die "pzstd is missing (apt-get install zstd)"
wants fo110 && [[ ! -x $FO110 ]] && drop_config fo110 "$FO110 is missing"
SIZE_B=$(numfmt --from=iec "$SIZE") BIG_B=$(numfmt --from=iec "$BIG")
((BIG_B < SIZE_B)) || die "BIG must be smaller than SIZE"

bench_dir
SRC=$BENCH_DIR/layer RES=$BENCH_DIR/results
MNT=$BENCH_DIR/mnt UP=$BENCH_DIR/upper WK=$BENCH_DIR/work
mkdir -p "$RES" "$MNT"
: >"$RES/results"

unmount() {
    mountpoint -q "$MNT" || return 0
    umount "$MNT" 2>/dev/null || umount -l "$MNT"
    local i
    for ((i = 0; i < 100; i++)); do pgrep -f "workdir=$WK" >/dev/null || break; sleep 0.1; done
}
bench_cleanup() { unmount; }
bench_traps

# ---- the layer ----------------------------------------------------------
say "making the layer: $NFILES files, $SIZE, one of $BIG"
python3 - "$SRC" "$NFILES" "$((SIZE_B - BIG_B))" <<'PY'
import os, random, sys
src, n, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
each = total // (n - 1)
for i in range(n - 1):
    d = os.path.join(src, "d%02d" % (i % 100), "s%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(each // 2, each * 3 // 2)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        if i % 2:
            f.write(os.urandom(size))
        else:
            f.write((b"line %d of a text file\n" % i) * (size // 24 + 1))
PY
head -c "$BIG_B" /dev/urandom >"$SRC/big"
DEEP=$SRC/d42/s0/f00042
[[ -f $DEEP ]] || DEEP=$(find "$SRC" -type f -name 'f*' | head -n 1)
DEEP=${DEEP#"$SRC"/}
say "packing: layer.tar, .tar.gz, .tar.zst, .frames.tar.zst"
tar --format=pax -C "$SRC" -cf "$BENCH_DIR/layer.tar" .
gzip -k "$BENCH_DIR/layer.tar"
zstd -q -T0 "$BENCH_DIR/layer.tar"
pzstd -q -p "$(nproc)" "$BENCH_DIR/layer.tar" -o "$BENCH_DIR/layer.frames.tar.zst"
sync

# mount_cfg CFG: mounts CFG on $MNT (nothing for native); prints the ms
mount_cfg() {
    local t0 t1 opts="upperdir=$UP,workdir=$WK"
    rm -rf "$UP" "$WK"
    mkdir -p "$UP" "$WK"
    t0=$(date +%s%N)
    case $1 in
    native) ;;
    kovl) mount -t overlay overlay -o "lowerdir=$SRC,$opts" "$MNT" ;;
    fo110) "$FO110" -o "lowerdir=$SRC,$opts" "$MNT" ;;
    ours) "$FUSE_OVERLAYFS" -o "lowerdir=$SRC,$opts" "$MNT" ;;
    tar) "$FUSE_OVERLAYFS" -o "plugins=$TAR_SO,lowerdir=//tar/-/$BENCH_DIR/layer.tar,$opts" "$MNT" ;;
    tgz) "$FUSE_OVERLAYFS" -o "plugins=$TAR_SO,lowerdir=//tar/-/$BENCH_DIR/layer.tar.gz,$opts" "$MNT" ;;
    tzst) "$FUSE_OVERLAYFS" -o "plugins=$TAR_SO,lowerdir=//tar/-/$BENCH_DIR/layer.tar.zst,$opts" "$MNT" ;;
    tzstf) "$FUSE_OVERLAYFS" -o "plugins=$TAR_SO,lowerdir=//tar/-/$BENCH_DIR/layer.frames.tar.zst,$opts" "$MNT" ;;
    esac
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
dir_of() { [[ $1 == native ]] && echo "$SRC" || echo "$MNT"; }

say "configs: ${CFGS[*]}; REPS=$REPS RUNTIME=${RUNTIME}s"
for ((rep = 1; rep <= REPS; rep++)); do
    for c in "${CFGS[@]}"; do
        cold_cache
        ms=$(mount_cfg "$c")
        d=$(dir_of "$c")
        [[ $c == native ]] || echo "mount $c $ms" >>"$RES/results"
        cold_cache
        t0=$(date +%s%N)
        cat "$d/$DEEP" >/dev/null
        t1=$(date +%s%N)
        first=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
        echo "first $c $first" >>"$RES/results"
        cold_cache
        fio --name="$c" --filename="$d/big" --rw=randread --bs=4k --ioengine=sync \
            --size="$BIG_B" --number_ios="$RANDIOS" --invalidate=0 --runtime="$RUNTIME" \
            --numjobs=1 --output-format=json --output="$RES/fio.$c.$rep.json" >/dev/null
        lat=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print("%.0f" % (json.loads(t[t.index("{"):])["jobs"][0]["read"]["clat_ns"]["mean"] / 1000))' "$RES/fio.$c.$rep.json")
        echo "rand $c $lat" >>"$RES/results"
        if [[ $c == t* ]]; then
            find "$d" -type f -size -1 >/dev/null   # the whole tree looked up
            # the newest server is this mount's
            pid=$(pgrep -n -x plugin:tar || true)
            rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || true)
            [[ -z $rss ]] || echo "rss $c $rss" >>"$RES/results"
        fi
        say "rep $rep/$REPS $c: mount ${ms} ms, first read $first ms, randread 4k $lat µs"
        unmount
    done
done

med() { awk -v k="$1" -v c="$2" '$1 == k && $2 == c { print $3 }' "$RES/results" | median; }
echo
echo "## Tar layers: $NFILES files, $SIZE ($BIG in one file)"
echo
echo "date $(date -u '+%Y-%m-%d %H:%M UTC') | kernel $(uname -r) | $(nproc) cpus | REPS=$REPS RANDIOS=$RANDIOS RUNTIME=${RUNTIME}s"
echo
echo "| layer | tar | .tar.gz | .tar.zst | .frames.tar.zst |"
echo "| --- | --- | --- | --- | --- |"
printf '| size (MiB) | %s | %s | %s | %s |\n' \
    "$(du -m "$BENCH_DIR/layer.tar" | cut -f1)" "$(du -m "$BENCH_DIR/layer.tar.gz" | cut -f1)" \
    "$(du -m "$BENCH_DIR/layer.tar.zst" | cut -f1)" "$(du -m "$BENCH_DIR/layer.frames.tar.zst" | cut -f1)"
echo
echo "| config | mount (ms) | first read (ms) | randread 4k (µs) | vs native | vs kovl | vs fo110 | plugin RSS (MiB) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
nat=$(med rand native) kov=$(med rand kovl) fo=$(med rand fo110)
for c in "${CFGS[@]}"; do
    r=$(med rand "$c")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$(med mount "$c")" "$(med first "$c")" \
        "$r" "$(ratio "$r" "$nat")" "$(ratio "$r" "$kov")" "$(ratio "$r" "$fo")" "$(med rss "$c")"
done
