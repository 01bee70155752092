#!/bin/bash
# Build fuse-overlayfs and show it at work: two lower layers, a whiteout in
# the upper layer hiding a lower file, and a copy-up of a modified file.
# Env: as contrib/build.sh (SKIP_DEPS=1 to skip apt), or FUSE_OVERLAYFS=PATH
# to demo an already built binary.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${FUSE_OVERLAYFS:-} ]]; then
    "$ROOT/contrib/build.sh"
    B=${BUILD_DIR:-build}; [[ $B = /* ]] || B=$ROOT/$B
    BIN=$B/fuse-overlayfs
else
    BIN=$FUSE_OVERLAYFS
fi
[[ -x $BIN ]] || { echo "demo: no binary at $BIN" >&2; exit 1; }

D=$(mktemp -d /tmp/fuse-overlayfs-demo.XXXXXX)
cleanup() {
    if mountpoint -q "$D/merged" 2>/dev/null; then
        fusermount3 -u "$D/merged" 2>/dev/null || umount "$D/merged" || true
    fi
    rm -rf "$D"
}
trap cleanup EXIT

mkdir "$D"/{lower1,lower2,upper,work,merged}
echo "from lower1 (the bottom layer)" >"$D/lower1/hello.txt"
echo "deleted by a whiteout in upper" >"$D/lower1/gone.txt"
echo "from lower2, to be edited"      >"$D/lower2/edit.txt"
# A whiteout: a 0/0 char device (needs CAP_MKNOD; else the .wh. file form).
mknod "$D/upper/gone.txt" c 0 0 2>/dev/null || touch "$D/upper/.wh.gone.txt"

echo "== mounting: $BIN -o lowerdir=lower2:lower1,upperdir=upper,workdir=work merged"
"$BIN" -o "lowerdir=$D/lower2:$D/lower1,upperdir=$D/upper,workdir=$D/work" "$D/merged"
for _ in $(seq 50); do mountpoint -q "$D/merged" && break; sleep 0.1; done
mountpoint -q "$D/merged" || { echo "demo: mount did not appear" >&2; exit 1; }

echo "appended through the mount" >>"$D/merged/edit.txt"

echo "== ls -l merged/ (gone.txt is hidden by the whiteout)"
ls -l "$D/merged"
echo "== cat merged/edit.txt"
cat "$D/merged/edit.txt"
echo "== ls -l upper/ (edit.txt was copied up; gone.txt is the whiteout)"
ls -l "$D/upper"

# Check what was shown, so the demo fails loudly if the overlay misbehaves.
[[ ! -e $D/merged/gone.txt ]]                         || { echo "demo: whiteout ignored" >&2; exit 1; }
[[ $(cat "$D/merged/hello.txt") == "from lower1"* ]]  || { echo "demo: lower file wrong" >&2; exit 1; }
grep -q "appended" "$D/upper/edit.txt"                || { echo "demo: no copy-up" >&2; exit 1; }
! grep -q "appended" "$D/lower2/edit.txt"             || { echo "demo: lower layer modified" >&2; exit 1; }

fusermount3 -u "$D/merged" || umount "$D/merged"
echo "== demo OK (unmounted, cleaning up $D)"
