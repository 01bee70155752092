#!/bin/bash
# Build fuse-overlayfs out of tree against /opt/fuse3's libfuse when present
# (passthrough, io_uring), else the system's 3.14.
# Env: SKIP_DEPS=1 (don't run install-deps.sh), SANITIZE=1 (ASan+UBSan build
# in build-asan/), BUILD_DIR (default build/ or build-asan/), FUSE_PREFIX
# (default /opt/fuse3), JOBS (default 2), CONFIGURE_FLAGS (extra flags).
# Prints the path of the built binary on its last line.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUSE_PREFIX=${FUSE_PREFIX:-/opt/fuse3}

if [[ -z ${SKIP_DEPS:-} ]]; then
    "$ROOT/contrib/install-deps.sh"
fi

flags=(--enable-werror --enable-test-hooks)   # the tests use the hooks
if [[ -n ${SANITIZE:-} ]]; then
    BUILD_DIR=${BUILD_DIR:-build-asan}
    flags+=(--enable-sanitizers)
else
    BUILD_DIR=${BUILD_DIR:-build}
fi
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR

# An in-tree ./configure would break every VPATH build: say so plainly.
if [[ -f $ROOT/config.status ]]; then
    echo "build.sh: $ROOT was configured in tree; run 'make distclean' there first" >&2
    exit 1
fi

# Regenerate the autotools files only when missing or out of date.
if [[ ! -x $ROOT/configure || $ROOT/configure.ac -nt $ROOT/configure ||
      $ROOT/Makefile.am -nt $ROOT/Makefile.in ]]; then
    "$ROOT/autogen.sh"
fi

# configure adds -Wl,-rpath for a libfuse outside the system library path.
if [[ -f $FUSE_PREFIX/lib/pkgconfig/fuse3.pc ]]; then
    export PKG_CONFIG_PATH=$FUSE_PREFIX/lib/pkgconfig:$FUSE_PREFIX/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
else
    echo "build.sh: warning: no libfuse in $FUSE_PREFIX, using the system's (no passthrough)" >&2
fi

mkdir -p "$BUILD_DIR"
cd "$BUILD_DIR"
# shellcheck disable=SC2086  # CONFIGURE_FLAGS is a list of words
"$ROOT/configure" "${flags[@]}" ${CONFIGURE_FLAGS:-} >configure.out 2>&1 ||
    { cat configure.out >&2; tail -n 40 config.log >&2; exit 1; }
sed -n '/configured:$/,$p' configure.out
make -j"${JOBS:-2}"
echo "$BUILD_DIR/fuse-overlayfs"
