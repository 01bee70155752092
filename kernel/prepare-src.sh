#!/bin/bash
# prepare-src.sh TARBALL OUTDIR [EXPECT_VERSION]
#
# Produce the fuse_userns module sources in OUTDIR/src/fs/fuse:
#   1. extract the pristine fs/fuse from TARBALL (Debian's
#      /usr/src/linux-source-6.12.tar.xz) into OUTDIR/pristine (cached
#      until the tarball changes);
#   2. copy it to OUTDIR/src and run rename.sh on the copy;
#   3. apply kernel/patches/*.patch in name order, with patch -p1 from
#      OUTDIR/src (so patch paths look like a/fs/fuse/dev.c); the patches
#      apply to the RENAMED sources.
# If EXPECT_VERSION (e.g. 6.12.107) is given, the tarball's kernel version
# must be that one (set ALLOW_VERSION_MISMATCH=1 to only warn).
# Runs inside the build chroot, or on a Debian 13 host for DKMS: needs only
# tar, xz, perl, patch, coreutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tarball=${1:?usage: prepare-src.sh TARBALL OUTDIR [EXPECT_VERSION]}
out=${2:?usage: prepare-src.sh TARBALL OUTDIR [EXPECT_VERSION]}
expect=${3:-}
die() { printf 'prepare-src.sh: ERROR: %s\n' "$*" >&2; exit 1; }
[ -r "$tarball" ] || die "no kernel source tarball $tarball (install linux-source-6.12)"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# 1. pristine fs/fuse (+ the top Makefile, for the version)
pristine=$out/pristine
if [ ! -e "$pristine/.stamp" ] || [ "$tarball" -nt "$pristine/.stamp" ]; then
    echo "prepare-src.sh: extracting fs/fuse from $tarball"
    rm -rf "$pristine"
    mkdir -p "$pristine"
    tar -xJf "$tarball" -C "$pristine" --strip-components=1 \
        --wildcards --no-wildcards-match-slash 'linux-source-*/fs/fuse/*' 'linux-source-*/Makefile'
    [ -f "$pristine/fs/fuse/inode.c" ] || die "fs/fuse not found in $tarball"
    touch "$pristine/.stamp"
fi
mk() { sed -n "s/^$1 = //p" "$pristine/Makefile"; }
version=$(mk VERSION).$(mk PATCHLEVEL).$(mk SUBLEVEL)
echo "prepare-src.sh: kernel source version $version"
if [ -n "$expect" ] && [ "$version" != "$expect" ]; then
    msg="source is $version but the target kernel is $expect"
    [ "${ALLOW_VERSION_MISMATCH:-0}" = 1 ] || die "$msg (ALLOW_VERSION_MISMATCH=1 to build anyway)"
    echo "prepare-src.sh: WARNING: $msg" >&2
fi

# 2. renamed copy
rm -rf "$out/src"
mkdir -p "$out/src/fs"
cp -a "$pristine/fs/fuse" "$out/src/fs/fuse"
bash "$here/rename.sh" "$out/src/fs/fuse"

# 3. functional patches (patches/*.patch; see patches/README.md)
shopt -s nullglob
for p in "$here"/patches/*.patch; do
    echo "prepare-src.sh: applying $(basename "$p")"
    patch -d "$out/src" -p1 --forward --batch --no-backup-if-mismatch < "$p" ||
        die "patch $p does not apply"
done
echo "$version" > "$out/src/fs/fuse/.fuse_userns-source-version"
echo "prepare-src.sh: sources ready in $out/src/fs/fuse"
