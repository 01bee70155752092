#!/bin/bash
# Install everything needed to build and test fuse-overlayfs on Debian 12
# (as root), then build libfuse >= 3.17 into /opt/fuse3 (build-libfuse.sh).
# Re-runs are fast: apt is only consulted when a package is missing.
set -euo pipefail

[[ $(id -u) == 0 ]] || { echo "install-deps: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

PKGS=(
    build-essential autoconf automake libtool pkg-config   # autotools build
    libfuse3-dev fuse3 libcap-dev libseccomp-dev            # libraries we link
    zlib1g-dev libzstd-dev zstd                             # plugins/tar: gzip and zstd layers
    dpkg-dev meson ninja-build liburing-dev libnuma-dev     # build-libfuse.sh (io_uring needs both)
    bats attr acl fio util-linux libcap2-bin strace         # tests: xattr/acl tools, fio, unshare, setcap
    fuse-overlayfs                                          # Debian's 1.10: the comparison peer
    podman runc uidmap busybox-static procps                # podman suites (runc: crun fails here)
    debootstrap qemu-system-x86 xz-utils                    # kernel/: trixie chroot, VM test
    clang libclang-rt-14-dev                                # tests/fuzz: libFuzzer, sanitizers
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    APT=(-q -y -o DPkg::Lock::Timeout=600)
    apt-get "${APT[@]}" update >/dev/null
    apt-get "${APT[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        # Re-run visibly so the log shows why.
        apt-get "${APT[@]}" install --no-install-recommends "${missing[@]}"; exit 1; }
    echo "install-deps: installed ${missing[*]}"
else
    echo "install-deps: all packages present"
fi

"$(dirname "$0")/build-libfuse.sh"
