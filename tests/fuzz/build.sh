#!/bin/bash
# Build the libFuzzer harnesses of tests/fuzz/ (README.md there): the
# daemon's sources configured in their own build directory with clang and
# -fsanitize=fuzzer-no-link,address,undefined, against
# /opt/fuse3's libfuse when present (contrib/build-libfuse.sh; wire.c's
# request checks need its custom io); then each fuzz_*.c linked with
# harness.c and every object of the daemon but main.o.  The harness files
# are compiled with -Werror; the daemon's are not here (contrib/build.sh
# holds them to -Werror with gcc, and clang warns about some macros of
# system headers, e.g. libseccomp's SCMP_A0).
#
# Env: FUZZ_BUILD_DIR (default build-fuzz/), FUSE_PREFIX (default
# /opt/fuse3), JOBS (default 2), CC (default clang).  Prints the build
# directory on its last line; the fuzzers are in its tests/fuzz/.
set -euo pipefail
# run from `make fuzz`: the make below is not a sub-make of that one
unset MAKEFLAGS MFLAGS MAKELEVEL

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/fuzz
B=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
[[ $B = /* ]] || B=$ROOT/$B
FUSE_PREFIX=${FUSE_PREFIX:-/opt/fuse3}
CC=${CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN"
FUZZERS=(fuzz_request fuzz_options fuzz_layer)

command -v "$CC" >/dev/null || { echo "fuzz/build.sh: no $CC (contrib/install-deps.sh installs clang)" >&2; exit 1; }
if [[ -f $ROOT/config.status ]]; then
    echo "fuzz/build.sh: $ROOT was configured in tree; run 'make distclean' there first" >&2
    exit 1
fi
if [[ ! -x $ROOT/configure || $ROOT/configure.ac -nt $ROOT/configure ||
      $ROOT/Makefile.am -nt $ROOT/Makefile.in ]]; then
    "$ROOT/autogen.sh" >/dev/null
fi
if [[ -f $FUSE_PREFIX/lib/pkgconfig/fuse3.pc ]]; then
    export PKG_CONFIG_PATH=$FUSE_PREFIX/lib/pkgconfig:$FUSE_PREFIX/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
else
    echo "fuzz/build.sh: warning: no libfuse in $FUSE_PREFIX: without custom io the request harnesses cannot run" >&2
fi

mkdir -p "$B/tests/fuzz"
cd "$B"
# configure again only when it changed (or the compiler settings did)
want="$CC $CFLAGS (no -Werror)"
if [[ ! -f config.status || $ROOT/configure -nt config.status ||
      "$(cat .fuzz-flags 2>/dev/null)" != "$want" ]]; then
    "$ROOT/configure" CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$SAN" \
        >configure.out 2>&1 || { cat configure.out >&2; tail -n 40 config.log >&2; exit 1; }
    echo "$want" >.fuzz-flags
fi
# (its output in make.log: clang's warnings are no business of a fuzz run)
make -j"${JOBS:-2}" fuse-overlayfs >make.log 2>&1 || { tail -n 60 make.log >&2; exit 1; }

mk() { make -s --no-print-directory -f Makefile -f "$HERE/vars.mk" "$@"; }
read -r -a cflags <<<"$(mk fuzz-print-cflags)"
read -r -a libs <<<"$(mk fuzz-print-libs)"
objs=()
for o in $(mk fuzz-print-objects); do
    [[ $o == *-main.o ]] || objs+=("$B/$o")
done

for src in harness "${FUZZERS[@]}"; do
    obj=tests/fuzz/$src.o
    if [[ ! -f $obj || $HERE/$src.c -nt $obj || $HERE/harness.h -nt $obj || config.h -nt $obj ]]; then
        "$CC" "${cflags[@]}" -Werror -I"$HERE" -c "$HERE/$src.c" -o "$obj"
    fi
done
for f in "${FUZZERS[@]}"; do
    "$CC" -fsanitize=fuzzer $SAN -g -o "tests/fuzz/$f" "tests/fuzz/$f.o" tests/fuzz/harness.o \
        "${objs[@]}" "${libs[@]}"
done
# fuzz_tar: the tar plugin's sources alone, none of the daemon, with its
# buffers and checkpoint spacing shrunk (stream.c's #ifndef sizes) so that
# inputs of a few KiB already make and thin out decompression checkpoints
# shellcheck disable=SC2086  # CFLAGS and SAN are lists of flags
"$CC" $CFLAGS -fsanitize=fuzzer -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$ROOT/plugins" \
    -DIN_SIZE=512 -DOUT_SIZE=1024 -DFIRST_SPAN=2048 -DZSTD_MIN_SPAN=1024 -DMAX_WINDOWS=4 \
    -o tests/fuzz/fuzz_tar "$HERE/fuzz_tar.c" "$ROOT"/plugins/tar/*.c -lz -lzstd
echo "$B"
