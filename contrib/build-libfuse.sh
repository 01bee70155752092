#!/bin/bash
# Build a libfuse >= 3.17 (passthrough; 3.18 adds FUSE over io_uring) into
# /opt/fuse3 from Debian's own fuse3 source package (sid, else trixie), without
# upgrading the host: Debian 12 ships 3.14 and trixie/sid binaries need a newer
# glibc, so we build from source. Only the Debian mirror is reachable, so the
# sources come through a private apt configuration that never touches the
# host's package lists. The system fuse3 (fusermount3, udev rules) stays as is:
# we build the library only; libfuse falls back to fusermount3 from $PATH.
#
# Env: PREFIX (default /opt/fuse3), FUSE_MIN (default 3.17), FORCE=1 rebuild,
#      MIRROR (default: the host's Debian mirror from /etc/apt/sources.list*).
set -euo pipefail

PREFIX=${PREFIX:-/opt/fuse3}
FUSE_MIN=${FUSE_MIN:-3.17}
STAMP=$PREFIX/.debian-source-version   # written only after a successful install
# What this script builds in, besides the version: an install made without
# it is built again.  custom-io: the daemon checks every request before
# libfuse parses it, through fuse_session_custom_io (wire.c).
FEATURES="custom-io"

installed() { PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --modversion fuse3 2>/dev/null; }

# Idempotence: a previous run of this script left a good enough libfuse.
if [[ -z ${FORCE:-} && -f $STAMP ]] && [[ $(sed -n 2p "$STAMP") == "$FEATURES" ]] && \
   PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --atleast-version="$FUSE_MIN" fuse3 2>/dev/null; then
    echo "build-libfuse: libfuse $(installed) already in $PREFIX (Debian $(sed -n 1p "$STAMP"), $FEATURES), nothing to do"
    exit 0
fi

# Host tools needed to fetch and build (normally installed by install-deps.sh).
# libnuma-dev + liburing-dev: libfuse only enables io_uring when both are found.
need=()
for p in dpkg-dev meson ninja-build pkg-config gcc liburing-dev libnuma-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 install "${need[@]}" >/dev/null 2>&1 ||
        { echo "build-libfuse: apt-get install ${need[*]} failed" >&2; exit 1; }
fi

MIRROR=${MIRROR:-$("$(dirname "$0")/debian-mirror.sh")}
[[ -n $MIRROR ]] || { echo "build-libfuse: cannot find the host's Debian mirror" >&2; exit 1; }

# Private apt state: only deb-src lines, own lists and cache, the host's keyring.
WORK=$(mktemp -d /tmp/build-libfuse.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"/lists/partial "$WORK"/cache/archives/partial "$WORK"/src
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
for suite in sid trixie; do
    echo "deb-src [signed-by=$KEY] $MIRROR $suite main"
done >"$WORK/sources.list"
APT=(-q -o Dir::Etc::sourcelist="$WORK/sources.list" -o Dir::Etc::sourceparts=-
     -o Dir::State::Lists="$WORK/lists" -o Dir::Cache="$WORK/cache"
     -o APT::Sandbox::User=root -o Acquire::Languages=none
     # The mirror may be a frozen snapshot whose sid Release is past its
     # Valid-Until (or dated after the local clock); signatures are still checked.
     -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false)
apt-get "${APT[@]}" update >/dev/null

# apt-get source picks the highest version among sid and trixie.
VER=$(apt-cache "${APT[@]}" showsrc fuse3 | awk '/^Version:/ {print $2}' | sort -V | tail -n1)
UPSTREAM=${VER%-*}
if ! dpkg --compare-versions "$UPSTREAM" ge "$FUSE_MIN"; then
    echo "build-libfuse: newest fuse3 source on $MIRROR is $VER (< $FUSE_MIN)" >&2
    exit 1
fi
(cd "$WORK/src" && apt-get "${APT[@]}" source --download-only "fuse3=$VER" >"$WORK/source.log" 2>&1) ||
    { cat "$WORK/source.log" >&2; exit 1; }
# dpkg-source applies Debian's patches; the .dsc checksums were verified by apt.
# (gpgv may say "No public key": debian-keyring is not needed for that reason.)
dpkg-source -q -x "$WORK"/src/fuse3_*.dsc "$WORK/src/fuse3" >"$WORK/dpkg-source.log" 2>&1 ||
    { cat "$WORK/dpkg-source.log" >&2; exit 1; }

# Library and headers only: no utils (keeps the system's setuid fusermount3),
# no examples/tests (extra deps, not needed), no setuid/udev/init scripts.
cd "$WORK/src/fuse3"
# Where custom io is an option, it is off by default: turn it on.
custom_io=()
grep -qs "'enable-custom-io'" meson_options.txt && custom_io=(-Denable-custom-io=true)
meson setup "$WORK/build" --prefix="$PREFIX" --libdir=lib --buildtype=release \
    -Ddefault_library=shared -Dutils=false -Dexamples=false -Dtests=false \
    -Duseroot=false -Dinitscriptdir= "${custom_io[@]}" >"$WORK/meson.log" 2>&1 ||
    { cat "$WORK/meson.log" >&2; exit 1; }
ninja -C "$WORK/build" >"$WORK/ninja.log" 2>&1 || { tail -n 50 "$WORK/ninja.log" >&2; exit 1; }

# Replace any previous install atomically enough: stage, then swap.
rm -rf "$PREFIX.new"
DESTDIR="$PREFIX.new" meson install -C "$WORK/build" >/dev/null
rm -rf "$PREFIX"
mv "$PREFIX.new$PREFIX" "$PREFIX"
rm -rf "$PREFIX.new"
printf '%s\n%s\n' "$VER" "$FEATURES" >"$STAMP"

uring=$(grep -qs '#define HAVE_URING' "$WORK"/build/*config*.h && echo yes || echo no)
echo "build-libfuse: built libfuse $(installed) from Debian fuse3 $VER ($MIRROR) into $PREFIX (io_uring: $uring)"
