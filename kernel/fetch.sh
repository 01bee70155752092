#!/bin/bash
# Download everything the build and the VM test need, into $CACHE (default
# /var/tmp/kbuild), and prepare the Debian 13 build chroot.  Idempotent: what
# is already there is reused and nothing is fetched again.
#
#   $CACHE/apt/           private apt configuration + package lists (trixie)
#   $CACHE/debs/          the .debs below, as downloaded (apt checks them
#                         against the archive's signed Release file)
#   $CACHE/chroot-trixie/ debootstrap'ed trixie (gcc-14, make, pahole, ...)
#                         with the headers, kbuild and source .debs unpacked
#
# Packages (for KABI=6.12.107+deb13, FLAVOUR=amd64):
#   linux-headers-$KABI-amd64, linux-headers-$KABI-common, linux-kbuild-$KABI
#                         build tree for out-of-tree modules
#   linux-source-6.12     (same Debian version) full kernel source; only
#                         fs/fuse is used
#   linux-image-$KABI-amd64  the kernel the VM test boots (its vmlinuz only)
#   busybox-static        the VM test's initramfs userland
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
need_host_tool dpkg-deb dpkg
need_host_tool debootstrap debootstrap
[ -r "$KEYRING" ] || die "no archive keyring $KEYRING (install debian-archive-keyring)"

# --- 1. private apt configuration --------------------------------------------
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$DEBS"
touch "$APTDIR/status"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" > "$APTDIR/sources.list.new"
mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
apt_updated=
apt_update() {
    [ -n "$apt_updated" ] && return 0
    log "apt-get update ($SUITE from $MIRROR, private lists in $APTDIR)"
    papt_get update >&2 || die "apt-get update failed"
    apt_updated=1
}

# --- 2. download the .debs ----------------------------------------------------
fetch_deb() { # fetch_deb PACKAGE [VERSION]
    local pkg=$1 ver=${2:-}
    [ -n "$(deb_of "$pkg")" ] && return 0
    apt_update
    if ! papt_cache show "$pkg${ver:+=$ver}" >/dev/null 2>&1; then
        log "available 6.12 kernels in $SUITE:"
        papt_cache search --names-only "^linux-headers-$KSERIES\..*-$FLAVOUR\$" >&2 || true
        die "package $pkg${ver:+ version $ver} is not in $SUITE (set KABI=...?)"
    fi
    log "downloading $pkg${ver:+=$ver}"
    (cd "$DEBS" && papt_get download "$pkg${ver:+=$ver}" >&2) || die "download of $pkg failed"
    [ -n "$(deb_of "$pkg")" ] || die "download of $pkg produced no .deb in $DEBS"
}

fetch_deb "linux-headers-$KREL"
fetch_deb "linux-headers-$KABI-common"
fetch_deb "linux-kbuild-$KABI"
fetch_deb "linux-image-$KREL"
# The source package version must be the one the headers were built from.
dver=$(dpkg-deb -f "$(deb_of "linux-headers-$KREL")" Version)
src_deb=$(deb_of "linux-source-$KSERIES")
if [ -n "$src_deb" ] && [ "$(dpkg-deb -f "$src_deb" Version)" != "$dver" ]; then
    log "cached $src_deb is not version $dver: replacing it"
    rm -f "$src_deb"
fi
fetch_deb "linux-source-$KSERIES" "$dver"
fetch_deb busybox-static

# Record what was used (package, version, sha256).
manifest=$DEBS/manifest-$KABI.txt
for p in "linux-headers-$KREL" "linux-headers-$KABI-common" "linux-kbuild-$KABI" \
         "linux-source-$KSERIES" "linux-image-$KREL" busybox-static; do
    deb=$(deb_of "$p")
    printf '%s %s %s\n' "$p" "$(dpkg-deb -f "$deb" Version)" "$(sha256sum < "$deb" | cut -d' ' -f1)"
done > "$manifest.new"
mv "$manifest.new" "$manifest"

# --- 3. the trixie build chroot ----------------------------------------------
# gcc-14 is the compiler the Debian 6.12 kernel was built with; the
# prebuilt kbuild tools (modpost, objtool, ...) need trixie's glibc, libelf,
# libssl; pahole generates the module's BTF (the headers ship a vmlinux with
# BTF, so kbuild runs pahole); patch applies kernel/patches/*.patch.
CHROOT_PKGS=gcc-14,make,libc6-dev,libelf-dev,libssl3t64,bc,kmod,xz-utils,patch,pahole
chroot_ok=$CHROOT/.fuse_userns-chroot-ok
if [ ! -e "$chroot_ok" ] || [ "$(cat "$chroot_ok")" != "$CHROOT_PKGS" ]; then
    if [ -e "$CHROOT" ]; then
        # Nothing is ever mounted in it by these scripts; refuse to delete
        # a tree that has something mounted inside.
        ! grep -q " ${CHROOT}[/ ]" /proc/mounts || die "something is mounted under $CHROOT"
        log "removing incomplete/outdated chroot $CHROOT"
        rm -rf --one-file-system "$CHROOT"
    fi
    log "debootstrap $SUITE into $CHROOT (about a minute)"
    debootstrap --variant=minbase --include="$CHROOT_PKGS" "$SUITE" "$CHROOT" "$MIRROR" \
        > "$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed, see $CACHE/debootstrap.log"
    echo "$CHROOT_PKGS" > "$chroot_ok"
fi

# --- 4. headers, kbuild and source unpacked into the chroot ------------------
# dpkg -x (not dpkg -i): only the files are needed, and linux-headers depends
# on linux-image, which a build chroot does not want.  The paths are the
# ones the packages install on a real Debian 13 system:
#   /usr/src/linux-headers-$KREL, /usr/lib/linux-kbuild-$KABI,
#   /usr/src/linux-source-6.12.tar.xz
kver_ok=$CHROOT/.fuse_userns-kabi-$KABI
if [ ! -e "$kver_ok" ]; then
    rm -f "$CHROOT"/.fuse_userns-kabi-*
    for p in "linux-headers-$KREL" "linux-headers-$KABI-common" "linux-kbuild-$KABI" \
             "linux-source-$KSERIES"; do
        log "unpacking $p into the chroot"
        dpkg-deb -x "$(deb_of "$p")" "$CHROOT"
    done
    [ -e "$CHROOT/usr/src/linux-headers-$KREL/Makefile" ] || die "headers not unpacked"
    [ -e "$CHROOT/usr/src/linux-source-$KSERIES.tar.xz" ] || die "source not unpacked"
    touch "$kver_ok"
fi
log "fetch: ok ($(tr '\n' ';' < "$manifest"))"
