#!/bin/bash
# Boot Debian 13's kernel ($KREL, from linux-image-$KREL) in QEMU (TCG, no
# KVM) with an initramfs made of busybox-static, kernel/init.sh as /init,
# kernel/build/fuse_userns.ko, the kernel's overlay.ko (a stacked fs for the
# max_stack_depth check), test/backing-test.c built static with the host's
# gcc, and the daemon (../build/fuse-overlayfs or $FUSE_OVERLAYFS) with its
# libraries for test/daemon-test.sh; init.sh insmods, checks, runs both
# tests, rmmods and prints
# FUSE_USERNS_VM_TEST: PASS|FAIL.  Exits 0 only on PASS; non-zero on FAIL,
# on a timeout ($VM_TIMEOUT s, default 900) or if QEMU fails.
# Console log: $CACHE/vm/console.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
VM_TIMEOUT=${VM_TIMEOUT:-900}

ko=$here/build/fuse_userns.ko
[ -f "$ko" ] || die "no $ko: run make first"
# The module must be built for the kernel we boot.
grep -aq "vermagic=$KREL " "$ko" || die "$ko is not built for $KREL"

bash "$here/fetch.sh"   # cached: only checks that the .debs are there
need_host_tool qemu-system-x86_64 qemu-system-x86
need_host_tool gzip gzip
need_host_tool xz xz-utils
need_host_tool gcc gcc
# static glibc, for the test program
[ -e "/usr/lib/$(gcc -dumpmachine)/libc.a" ] || need_host_tool "/usr/lib/$(gcc -dumpmachine)/libc.a" libc6-dev

vm=$CACHE/vm
mkdir -p "$vm"

# Kernel image and busybox, extracted once from their .debs.
vmlinuz=$vm/vmlinuz-$KREL
if [ ! -s "$vmlinuz" ]; then
    dpkg-deb --fsys-tarfile "$(deb_of "linux-image-$KREL")" |
        tar -xOf - "./boot/vmlinuz-$KREL" > "$vmlinuz.tmp"
    mv "$vmlinuz.tmp" "$vmlinuz"
fi
bb_deb=$(deb_of busybox-static)
busybox=$vm/busybox-$(dpkg-deb -f "$bb_deb" Version | tr ':' '_')
if [ ! -s "$busybox" ]; then
    dpkg-deb --fsys-tarfile "$bb_deb" | tar -xOf - ./usr/bin/busybox > "$busybox.tmp"
    chmod 755 "$busybox.tmp"
    mv "$busybox.tmp" "$busybox"
fi

# overlay.ko (CONFIG_OVERLAY_FS=m) from the same image, uncompressed: busybox
# insmod does not ask the kernel to decompress.
overlay=$vm/overlay-$KREL.ko
if [ ! -s "$overlay" ]; then
    dpkg-deb --fsys-tarfile "$(deb_of "linux-image-$KREL")" |
        tar -xOf - "./usr/lib/modules/$KREL/kernel/fs/overlayfs/overlay.ko.xz" |
        xz -dc > "$overlay.tmp"
    mv "$overlay.tmp" "$overlay"
fi

# The test program: a minimal FUSE server, static, built by the host's gcc
# (it defines the few 6.12 uapi structures it needs itself).
gcc -static -O2 -Wall -Wextra -Werror -o "$vm/backing-test" "$here/test/backing-test.c" ||
    die "building test/backing-test.c failed"

# The daemon, for test/daemon-test.sh: this tree's build (or $FUSE_OVERLAYFS)
# with the shared libraries it was linked with, at the same paths.
daemon=${FUSE_OVERLAYFS:-$here/../build/fuse-overlayfs}
[ -x "$daemon" ] || die "no fuse-overlayfs at $daemon: build it first (contrib/build.sh)"

# The initramfs (rebuilt every time: it is small).
root=$vm/initramfs
rm -rf "$root"
mkdir -p "$root/bin" "$root/dev"
cp "$busybox" "$root/bin/busybox"
install -m 755 "$here/init.sh" "$root/init"
cp "$ko" "$root/fuse_userns.ko"
cp "$overlay" "$root/overlay.ko"
install -m 755 "$vm/backing-test" "$root/backing-test"
install -m 755 "$here/test/daemon-test.sh" "$root/daemon-test.sh"
install -m 644 "$here/test/check.sh" "$root/check.sh"
install -m 755 "$daemon" "$root/bin/fuse-overlayfs"
# (+ libgcc_s, which glibc loads at run time for pthread_cancel())
# (awk reads to the end: exiting early would SIGPIPE ldconfig, and with
# pipefail that fails the assignment whenever its output outgrows the pipe)
libgcc_s=$(ldconfig -p | awk '/libgcc_s\.so\.1 .*x86-64/ && !f { print $NF; f = 1 }')
[ -n "$libgcc_s" ] || die "no libgcc_s.so.1 on the host"
for lib in $(ldd "$daemon" | grep -oE '/[^ ]+') "$libgcc_s"; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# Under the sanitizer pass, the daemon's sanitizer settings and suppressions
# go into the guest too (daemon-test.sh fails on any report).
: > "$root/sanitizer.env"
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    val=${!v:-}
    [ -n "$val" ] || continue
    if [[ $val == *suppressions=* ]]; then
        supp=${val#*suppressions=}
        supp=${supp%%:*}
        cp "$supp" "$root/lsan.supp"
        val=${val/"$supp"//lsan.supp}
    fi
    printf "export %s='%s'\n" "$v" "$val" >> "$root/sanitizer.env"
done
mknod -m 600 "$root/dev/console" c 5 1
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 > "$vm/initramfs.cpio.gz.tmp"
mv "$vm/initramfs.cpio.gz.tmp" "$vm/initramfs.cpio.gz"

log "booting $KREL in QEMU (TCG, timeout ${VM_TIMEOUT}s); log in $vm/console.log"
rc=0
# stdin from /dev/null: nothing to type, and the caller's terminal is left
# alone.  -no-reboot + panic=-1: a panic ends QEMU at once.
timeout --kill-after=10 "$VM_TIMEOUT" \
    qemu-system-x86_64 -accel tcg -m 1G -smp 1 \
        -display none -monitor none -serial stdio -no-reboot \
        -kernel "$vmlinuz" -initrd "$vm/initramfs.cpio.gz" \
        -append 'console=ttyS0 panic=-1 quiet' \
        < /dev/null 2>&1 | tr -d '\r' | tee "$vm/console.log" || rc=$?
# (rc: with pipefail, timeout's status: 124 = timed out, else QEMU's)
if grep -q '^FUSE_USERNS_VM_TEST: PASS$' "$vm/console.log"; then
    log "vm-test: PASS"
    exit 0
elif grep -q '^FUSE_USERNS_VM_TEST: FAIL' "$vm/console.log"; then
    log "vm-test: FAIL (see the checks above)"
else
    log "vm-test: FAIL: no result line (status $rc; 124 = timeout after ${VM_TIMEOUT}s)"
fi
exit 1
