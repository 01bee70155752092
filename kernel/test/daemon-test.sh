#!/bin/sh
# daemon-test.sh (in the QEMU guest, as root, fuse_userns loaded): runs
# fuse-overlayfs as an unprivileged user (uid 1000) in a user namespace of
# its own and checks that the mount goes through /dev/fuse_userns with
# passthrough, and that the module's safeguards hold for a real daemon.
# Prints "daemon-test: ok: ..." / "daemon-test: FAIL: ..." lines and exits
# with the number of failures.
set -u
D=/data
# The sanitizer pass's settings for the daemon (vm-test.sh writes them)
[ -r /sanitizer.env ] && . /sanitizer.env

# --- as root: the layers on a fresh tmpfs, owned by the user ------------------
mkdir -p $D && mount -t tmpfs -o mode=0755 tmpfs $D || exit 1
mkdir -p $D/l $D/u $D/w $D/m $D/t $D/ovl/l $D/ovl/u $D/ovl/w $D/ovl/m
echo lower >$D/l/lowerfile
echo held >$D/l/held
for i in 1 2 3; do echo "file $i" >$D/l/f$i; done
# a kernel overlayfs, to put layers on a stacked filesystem
mount -t overlay overlay -o lowerdir=$D/ovl/l,upperdir=$D/ovl/u,workdir=$D/ovl/w $D/ovl/m || exit 1
mkdir -p $D/ovl/m/l $D/ovl/m/u $D/ovl/m/w $D/ovl/m/mnt
echo stacked >$D/ovl/m/l/s
chown -R 1000:1000 $D/l $D/u $D/w $D/m $D/t $D/ovl/m
chmod 0755 $D

# --- as uid 1000 in its own user and mount namespace --------------------------
# (the heredoc is the user's shell script; its output is the test's)
mkdir -p /etc
grep -q '^user:' /etc/passwd 2>/dev/null || echo 'user:x:1000:1000::/tmp:/bin/sh' >>/etc/passwd
grep -q '^user:' /etc/group 2>/dev/null || echo 'user:x:1000:' >>/etc/group
su -s /bin/sh -c 'unshare -U -r -m sh -s' user <<'USER'
set -u
B=/bin/fuse-overlayfs
D=/data
T=daemon-test
. /check.sh
mounted() { grep -q " $1 " /proc/self/mountinfo; }
wait_mounted() {
	i=0
	while [ $i -lt 600 ]; do mounted "$1" && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
# said PATTERN LOG: the daemon logged it; waits, since the mount shows
# before the kernel's INIT request (which the first lines answer) is served
said() {
	i=0
	while [ $i -lt 600 ]; do grep -q "$1" "$2" && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
wait_gone() {
	i=0
	while [ $i -lt 600 ]; do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
# same FILE1 FILE2: both readable, not empty, same bytes
same() { [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2"; }
# start MNT LOG OPTIONS: the daemon in the background (-f), debug log in LOG
start() {
	$B -f -o "$3,debug" "$1" 2>"$2" &
	PID=$!
	wait_mounted "$1"
}
stop() { # stop MNT LOG: unmount from outside, the daemon must exit 0
	umount "$1" || { echo "daemon-test: umount $1 failed"; return 1; }
	wait_gone "$PID" || { echo "daemon-test: the daemon is still running"; return 1; }
	wait "$PID" && return 0
	echo "daemon-test: the daemon exited with status $?; its log ends:"
	tail -n 5 "$2" | sed 's/^/daemon-test:   /'
	return 1
}
rw_count() { grep -Ec "debug: (read|write) ino=" "$1"; }
# Each of the daemon's device fds (one per worker with clone_fd) lists all
# the backing files of the connection: count each once.
backing_lines() { cat /proc/"$PID"/fdinfo/* 2>/dev/null | grep "^fuse_backing:" | sort -u; }

echo "daemon-test: uid $(id -u) in a user namespace: $(cat /proc/self/uid_map | tr -s ' ')"

# 1. the mount goes through the module, passthrough on -------------------------
start $D/m $D/t/log1 "lowerdir=$D/l,upperdir=$D/u,workdir=$D/w"
check "mounted" mounted $D/m
check "type fuse_userns.fuse-overlayfs" sh -c "grep ' $D/m ' /proc/self/mountinfo | grep -q ' - fuse_userns.fuse-overlayfs '"
check "the daemon says passthrough is on" said "debug: passthrough: on" $D/t/log1

# 2. file I/O passed through: no READ/WRITE request reaches the daemon ----------
dd if=/dev/urandom of=$D/t/rand bs=1M count=16 2>/dev/null
cat $D/t/rand >$D/m/new
check "16 MiB written and read back intact" same $D/t/rand $D/m/new
check "the upper file holds them" same $D/t/rand $D/u/new
check "the opens were passed through" grep -q "passthrough, backing" $D/t/log1
check "no READ/WRITE request reached the daemon ($(rw_count $D/t/log1))" [ "$(rw_count $D/t/log1)" = 0 ]
echo appended >>$D/m/lowerfile
check "a lower file appended to is copied up" [ "$(cat $D/u/lowerfile)" = "$(printf 'lower\nappended')" ]

# 3. fdinfo of the daemon's device fd lists the backing files ------------------
exec 3<$D/m/new
# (the path is the one on the daemon's private mount of the upper where it
# could make one: rooted at the common parent of upperdir and workdir)
check "fdinfo lists the open upper file" sh -c "cat /proc/$PID/fdinfo/* | grep -Eq '^fuse_backing:	[0-9]*	0	($D)?/u/new\$'"
backing_lines | sed 's/^/daemon-test:   /'
exec 3<&-
check "unmounted from outside, the daemon exited 0" stop $D/m $D/t/log1

# 4. the cap on backing files (max_backing_files=2 set by root) --------------
start $D/m $D/t/log4 "lowerdir=$D/l,upperdir=$D/u,workdir=$D/w"
for i in 1 2 3; do echo "upper $i" >$D/u/f$i; done
exec 4<$D/m/f1 5<$D/m/f2 6<$D/m/f3
check "two backing files at most" [ "$(backing_lines | wc -l)" = 2 ]
check "the third open fell back, said once" [ "$(grep -c 'limit of backing files is reached' $D/t/log4)" = 1 ]
check "all three files read right" [ "$(cat <&4)$(cat <&5)$(cat <&6)" = "upper 1upper 2upper 3" ]
exec 4<&- 5<&- 6<&-
stop $D/m $D/t/log4

# 4b. a lower file copied up while a reader holds it: the module replaces the
# inode's read-only lower backing by the upper file (no new node id) ----------
start $D/m $D/t/log6 "lowerdir=$D/l,upperdir=$D/u,workdir=$D/w"
exec 7<$D/m/held
echo more >>$D/m/held
check "the writer's open replaced the reader's lower backing" \
	said "passthrough: inode [0-9]* was copied up under its lower backing [0-9]*: backing" $D/t/log6
check "no new node id, no ESTALE" sh -c "! grep -q 'looks it up again' $D/t/log6"
check "the held reader still reads the lower file" [ "$(cat <&7)" = held ]
check "a new open reads the upper file" [ "$(cat $D/m/held)" = "$(printf 'held\nmore')" ]
check "a reopen of the held reader through /proc/self/fd reads the upper file" \
	[ "$(cat /proc/self/fd/7)" = "$(printf 'held\nmore')" ]
check "the lower file is unchanged" [ "$(cat $D/l/held)" = held ]
check "no READ/WRITE request reached the daemon ($(rw_count $D/t/log6))" [ "$(rw_count $D/t/log6)" = 0 ]
exec 7<&-
stop $D/m $D/t/log6

# 5. max_stack_depth: layers on a kernel overlayfs -----------------------------
S=$D/ovl/m
start $S/mnt $D/t/log2 "lowerdir=$S/l,upperdir=$S/u,workdir=$S/w"
check "on a stacked fs the daemon picks max_stack_depth 2" said "passthrough: on, max_stack_depth 2" $D/t/log2
echo x >$S/mnt/y
check "and passes those files through" grep -q "passthrough, backing" $D/t/log2
stop $S/mnt $D/t/log2
start $S/mnt $D/t/log3 "lowerdir=$S/l,upperdir=$S/u,workdir=$S/w,max_stack_depth=1"
echo z >$S/mnt/z
check "with max_stack_depth=1 the kernel refuses them (ELOOP), said once" \
	[ "$(grep -c 'is stacked too deep for max_stack_depth' $D/t/log3)" = 1 ]
check "their I/O goes through the daemon, data right" [ "$(cat $S/mnt/z)" = z ]
stop $S/mnt $D/t/log3

# 6. under the sanitizer pass (sanitizer.env): no report from any daemon
check "no sanitizer report in the daemon logs" \
	sh -c "! grep -lE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' $D/t/log*"

exit $fails
USER
fails=$?

umount $D/ovl/m
umount $D
exit $fails
