#!/bin/bash
# Build fuse_userns.ko for the Debian 13 kernel $KREL inside the trixie
# chroot prepared by fetch.sh, and copy it to kernel/build/fuse_userns.ko.
#
# The scripts of kernel/ (not its build/) are copied to /build/kernel in the
# chroot and "make module" runs there, exactly as it would on a Debian 13
# system with linux-source-6.12 and linux-headers-$KREL installed (DKMS).
# Nothing is mounted into the chroot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

[ "$(id -u)" = 0 ] || die "must run as root (chroot)"
[ -e "$CHROOT/.fuse_userns-kabi-$KABI" ] || die "chroot not ready for $KABI: run fetch.sh (make fetch)"

# Fresh copy of the scripts (and patches) into the chroot; its build/ is
# kept for the cached pristine extraction (prepare-src.sh redoes the rest).
mkdir -p "$CHROOT/build/kernel"
find "$CHROOT/build/kernel" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
rm -f "$CHROOT/build/kernel/build/fuse_userns.ko"
tar -C "$here" --exclude=./build -cf - . | tar -C "$CHROOT/build/kernel" -xf -

log "building in chroot $CHROOT for $KREL"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    chroot "$CHROOT" make -C /build/kernel module \
        KABI="$KABI" FLAVOUR="$FLAVOUR" \
        KDIR="/usr/src/linux-headers-$KREL" \
        SRC_TARBALL="/usr/src/linux-source-$KSERIES.tar.xz" \
        JOBS="$(nproc)" ||
    die "build failed"

ko=$CHROOT/build/kernel/build/fuse_userns.ko
[ -f "$ko" ] || die "no $ko after the build"
mkdir -p "$here/build"
cp "$ko" "$here/build/fuse_userns.ko.tmp"
mv "$here/build/fuse_userns.ko.tmp" "$here/build/fuse_userns.ko"
# What the build produced, for the record.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$CHROOT" \
    modinfo /build/kernel/build/fuse_userns.ko > "$here/build/fuse_userns.modinfo"
grep -E '^(name|vermagic|srcversion|depends):' "$here/build/fuse_userns.modinfo" >&2
log "built $here/build/fuse_userns.ko"
