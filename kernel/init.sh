#!/bin/busybox sh
# /init of the VM test's initramfs (busybox only).  Loads /fuse_userns.ko
# beside the kernel's built-in fuse, checks its names, mounts it once, runs
# /backing-test (test/backing-test.c: BACKING_OPEN from a user namespace and
# its safeguards) and /daemon-test.sh (fuse-overlayfs through the module as
# an unprivileged user; both first round only), unloads it (twice over),
# checks the kernel log, prints
#   FUSE_USERNS_VM_TEST: PASS   or   FUSE_USERNS_VM_TEST: FAIL (...)
# and powers the VM off.  vm-test.sh looks for that line.

/bin/busybox mkdir -p /bin /proc /sys /dev /mnt /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null   # not automatic for an initramfs
mount -t tmpfs -o mode=1777 tmpfs /tmp        # xattrs for overlayfs' upper dir
# As distributions' udev rules do (devtmpfs makes it 0600): backing-test
# opens it as an unprivileged user to show that the built-in fuse refuses.
chmod 666 /dev/fuse

T=fuse_userns-vm-test
. /check.sh
# backing_test: /backing-test as root (it drops to uid 1000 + a user
# namespace itself), with the files it expects (see backing-test.c).
backing_test() {
    echo "$T: --- backing-test (BACKING_OPEN from a user namespace) ---"
    check "insmod /overlay.ko (a stacked fs)" insmod /overlay.ko
    rm -rf /tmp/bt /tmp/ov
    mkdir -p /tmp/bt/u /tmp/bt/mnt /tmp/bt/mnt2 /tmp/bt/mnt3 /tmp/bt/pin \
        /tmp/ov/l /tmp/ov/u /tmp/ov/w /tmp/ov/m
    echo "read-only secret" > /tmp/bt/ro
    echo "user file" > /tmp/bt/u/rw
    echo "append only" > /tmp/bt/ap
    echo "on overlayfs" > /tmp/ov/l/f
    chmod 644 /tmp/bt/ro /tmp/bt/u/rw /tmp/bt/ap /tmp/ov/l/f
    chown -R 1000:1000 /tmp/bt/u /tmp/bt/pin /tmp/bt/ap   # (backing-test makes ap append-only)
    check "mount overlayfs on /tmp/ov/m" mount -t overlay \
        -o lowerdir=/tmp/ov/l,upperdir=/tmp/ov/u,workdir=/tmp/ov/w overlay /tmp/ov/m
    check "/backing-test passes" /backing-test
    check "max_backing_files is 1024 again" \
        test "$(cat /sys/module/fuse_userns/parameters/max_backing_files)" = 1024
    check "umount overlayfs" umount /tmp/ov/m
    check "rmmod overlay" rmmod overlay
}

# daemon_test: fuse-overlayfs mounted by an unprivileged user in a user
# namespace through /dev/fuse_userns (test/daemon-test.sh), with
# max_backing_files 2 for its cap check.
daemon_test() {
    echo "$T: --- daemon-test (fuse-overlayfs as uid 1000 in a user namespace) ---"
    check "insmod /overlay.ko (a stacked fs)" insmod /overlay.ko
    echo 2 > /sys/module/fuse_userns/parameters/max_backing_files
    check "/daemon-test.sh passes" /daemon-test.sh
    echo 1024 > /sys/module/fuse_userns/parameters/max_backing_files
    check "rmmod overlay" rmmod overlay
}

has_fs() { grep -q "[[:space:]]$1\$" /proc/filesystems; }
has_slab() { grep -q "^$1 " /proc/slabinfo || test -e "/sys/kernel/slab/$1"; }
# "MAJ:MIN" of a device node, in decimal
# shellcheck disable=SC2046  # split on purpose
devnum() { set -- $(stat -c '%t %T' "$1"); printf '%d:%d' "0x$1" "0x$2"; }

echo "$T: kernel $(uname -r)"
echo "$T: begin" > /dev/kmsg     # dmesg is checked from here on

check "built-in fuse registered" has_fs fuse
check "built-in /dev/fuse is 10:229" test "$(devnum /dev/fuse)" = 10:229

for round in 1 2; do
    echo "$T: --- round $round ---"
    check "insmod /fuse_userns.ko" insmod /fuse_userns.ko
    for fs in fuse_userns fuse_usernsblk fuse_usernsctl fuse fuseblk fusectl; do
        check "/proc/filesystems lists $fs" has_fs "$fs"
    done
    check "/sys/fs/fuse_userns/connections exists" test -d /sys/fs/fuse_userns/connections
    check "/sys/fs/fuse still exists" test -d /sys/fs/fuse
    check "/sys/class/misc/fuse_userns/dev exists" test -r /sys/class/misc/fuse_userns/dev
    dev=$(cat /sys/class/misc/fuse_userns/dev 2>/dev/null)
    echo "$T: misc device fuse_userns is $dev"
    if [ ! -c /dev/fuse_userns ]; then
        echo "$T: devtmpfs made no /dev/fuse_userns: mknod $dev"
        mknod /dev/fuse_userns c "${dev%%:*}" "${dev##*:}"
    fi
    check "/dev/fuse_userns is char device $dev" test "$(devnum /dev/fuse_userns)" = "$dev"
    check "minor is dynamic, not FUSE_MINOR 229" test "${dev##*:}" != 229
    check "/dev/fuse_userns is mode 0666 (the module's, as udev makes /dev/fuse)" \
        test "$(stat -c %a /dev/fuse_userns)" = 666
    for c in fuse_userns_inode fuse_userns_request; do   # (SLUB may merge caches:
        check "slab cache $c" has_slab "$c"               #  then only in sysfs)
    done
    if mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null; then
        check "trace events under events/fuse_userns" \
            test -d /sys/kernel/tracing/events/fuse_userns/fuse_request_send
        umount /sys/kernel/tracing
    else
        echo "$T: (no tracefs: trace system not checked)"
    fi

    # Mount smoke test with no server: the mount itself does not wait for
    # the FUSE_INIT reply.  Closing the device fd aborts the connection, so
    # that nothing can then block on it, and it is unmounted.  (No busybox
    # "timeout" here: its watcher process inherits fd 3 and would keep the
    # module busy; a hang is caught by vm-test.sh's timeout.)
    mkdir -p /mnt/f
    exec 3<>/dev/fuse_userns
    check "mount -t fuse_userns (fd of /dev/fuse_userns)" \
        mount -t fuse_userns -o fd=3,rootmode=40000,user_id=0,group_id=0 vmtest /mnt/f
    check "/proc/mounts shows it" grep -q '^vmtest /mnt/f fuse_userns ' /proc/mounts
    check "mount -t fuse_usernsctl" \
        mount -t fuse_usernsctl none /sys/fs/fuse_userns/connections
    conns=$(ls /sys/fs/fuse_userns/connections 2>/dev/null)
    echo "$T: connections: $conns"
    check "one connection in fuse_usernsctl" test -n "$conns"
    exec 3<&-
    check "umount fuse_userns" umount /mnt/f
    check "umount fuse_usernsctl" umount /sys/fs/fuse_userns/connections

    if [ "$round" = 1 ]; then backing_test; daemon_test; fi

    echo "$T: module refcnt before rmmod: $(cat /sys/module/fuse_userns/refcnt)"
    check "rmmod fuse_userns" rmmod fuse_userns
    check "fuse_userns gone from /proc/filesystems" eval '! has_fs fuse_userns'
    check "/sys/fs/fuse_userns gone" test ! -e /sys/fs/fuse_userns
    check "/sys/class/misc/fuse_userns gone" test ! -e /sys/class/misc/fuse_userns
    check "built-in fuse still registered" has_fs fuse
done

# Kernel log since "begin": any splat fails the test.  (The Debian kernel
# has no lockdep, CONFIG_PROVE_LOCKING is off: those patterns are for a
# debug kernel.)
dmesg | sed -n "/$T: begin/,\$p" > /tmp/dmesg
echo "$T: kernel log since begin:"
sed 's/^/  dmesg: /' /tmp/dmesg
if grep -qE 'WARNING|BUG|Oops|lockdep|circular locking|Call Trace|general protection' /tmp/dmesg; then
    bad "kernel log has a warning/oops (above)"
fi

if [ "$fails" -eq 0 ]; then
    echo "FUSE_USERNS_VM_TEST: PASS"
else
    echo "FUSE_USERNS_VM_TEST: FAIL ($fails failed checks)"
fi
sync
poweroff -f
echo o > /proc/sysrq-trigger   # in case poweroff did not
sleep 10
