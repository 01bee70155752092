#!/usr/bin/env bats
# Least privilege (privilege.c): once mounted, the daemon keeps only the
# capabilities listed in the man page, sets no_new_privs and serves under a
# seccomp allow-list; forbidden calls fail (enforce), kill it (kill) or are
# logged (log).  The other suites run with all of this in force.

load helpers

# The kept set (fuse-overlayfs.1, CAPABILITIES): CHOWN 0, DAC_OVERRIDE 1,
# FOWNER 3, FSETID 4, LINUX_IMMUTABLE 9, SYS_ADMIN 21, MKNOD 27, SETFCAP 31.
KEPT_CAPS=000000008820021b

# status_of PID FIELD: a field of /proc/PID/status
status_of() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# assert_confined PID CAPS SECCOMP: the capability sets and filter mode
assert_confined() {
	assert_eq "$2" "$(status_of "$1" CapEff)"
	assert_eq "$2" "$(status_of "$1" CapPrm)"
	assert_eq 0000000000000000 "$(status_of "$1" CapInh)"
	assert_eq 0000000000000000 "$(status_of "$1" CapAmb)"
	assert_eq 1 "$(status_of "$1" NoNewPrivs)"
	assert_eq "$3" "$(status_of "$1" Seccomp)"
}

# The hooks are built by contrib/build.sh (--enable-test-hooks) only.
need_hooks() {
	"$FUSE_OVERLAYFS" --version | grep -q '^seccomp: built in' ||
		skip "built without libseccomp"
	if "$FUSE_OVERLAYFS" -o lowerdir=/nonexistent,test_syscall=x "$MNT" 2>&1 |
		grep -q "unknown option 'test_syscall'"; then
		skip "built without --enable-test-hooks (contrib/build.sh builds them)"
	fi
}

@test "--version says whether the system call filter is built in" {
	run "$FUSE_OVERLAYFS" --version
	assert_status 0
	assert_output_contains "seccomp: built in (default enforce)"
}

@test "seccomp= takes enforce, kill, log or off; anything else is refused" {
	make_layers
	expect_mount_error "seccomp" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,seccomp=strict" "$MNT"
	expect_mount_error "seccomp" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,seccomp" "$MNT"
}

@test "root: only the kept capabilities, no_new_privs, the filter; and that is enough" {
	make_layers
	chown 1234:1234 "$LOWER1/file1"
	chmod 4755 "$LOWER1/file1"
	ovl_snapshot_lowers
	ovl_mount
	assert_confined "$OVL_PID" "$KEPT_CAPS" 2
	assert_eq "$KEPT_CAPS" "$(status_of "$OVL_PID" CapBnd)"
	# what the kept capabilities are for: copy-up keeping owner and setuid
	# bits, whiteouts, device nodes, trusted.* markers, others' files
	setfattr -n user.x -v y "$MNT/file1"
	assert_eq "1234:1234 4755" "$(stat -c '%u:%g %a' "$UPPER/file1")"
	rm "$MNT/file2"
	is_whiteout "$UPPER/file2"
	mknod "$MNT/null" c 1 3
	assert_eq "c 1:3" "$(stat -c '%F' "$MNT/null" | cut -c1) $(stat -c '%t:%T' "$MNT/null")"
	rm -rf "$MNT/dir"
	mkdir "$MNT/dir"
	is_opaque "$UPPER/dir"
	touch -d @1000000000 "$MNT/file1"
	assert_eq 1000000000 "$(stat -c %Y "$UPPER/file1")"
	ovl_umount
}

@test "seccomp=off: capabilities dropped all the same, no filter" {
	make_layers
	ovl_mount seccomp=off
	assert_confined "$OVL_PID" "$KEPT_CAPS" 0
	ovl_umount
}

@test "user namespace root: the same sets, counted in its namespace" {
	make_layers
	run unshare -Urm sh -c '
		"$1" -o "lowerdir=$2,upperdir=$3,workdir=$4,fuse_device=/dev/fuse" "$5" || exit 1
		pid=$(pgrep -n -x fuse-overlayfs)
		grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/$pid/status
		echo ns >"$5/from-ns"
		umount "$5"' sh "$FUSE_OVERLAYFS" "$LOWERDIRS" "$UPPER" "$WORK" "$MNT"
	assert_status 0
	assert_output "$(printf 'CapEff:\t%s\nCapBnd:\t%s\nNoNewPrivs:\t1\nSeccomp:\t2' "$KEPT_CAPS" "$KEPT_CAPS")"
	assert_eq ns "$(cat "$UPPER/from-ns")"
}

# A plain user mounts through the setuid fusermount3, which wants the user
# in the password database (nobody) and /dev/fuse open to all (its mode is
# put back by teardown).
FUSE_MODE=""
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS=""
# (root may not even stat a plain user's FUSE mount: /proc/mounts tells)
in_mounts() {
	grep -q " $1 " /proc/mounts
}
not_in_mounts() {
	! in_mounts "$1"
}
mounted_or_dead() {
	in_mounts "$2" || ovl_dead "$1"
}

teardown() {
	[ -z "$FUSE_MODE" ] || chmod "$FUSE_MODE" /dev/fuse
	[ -z "$URING_WAS" ] || echo "$URING_WAS" >"$URING_PARAM"
	ovl_teardown
}

@test "a plain user (fusermount3): no capabilities, filtered, unmounted at SIGTERM" {
	command -v fusermount3 >/dev/null || skip "no fusermount3"
	make_layers
	FUSE_MODE=$(stat -c %a /dev/fuse)
	chmod 666 /dev/fuse
	chmod 755 "$TMP"
	chown -R 65534:65534 "$LOWER1" "$LOWER2" "$UPPER" "$WORK" "$MNT"
	ovl_snapshot_lowers
	# (setpriv itself, not the as_nobody function: $! is then the daemon)
	setpriv --reuid=65534 --regid=65534 --clear-groups "$FUSE_OVERLAYFS" -f -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" \
		"$MNT" 2>>"$OVL_LOG" </dev/null 3>&- &
	local pid=$!
	ovl_wait_until "the mount" mounted_or_dead "$pid" "$MNT"
	in_mounts "$MNT"
	assert_confined "$pid" 0000000000000000 2
	run as_nobody sh -c 'cat "$1/file1" && echo up >"$1/new"' sh "$MNT"
	assert_status 0
	assert_output "lower1 file"
	assert_eq up "$(cat "$UPPER/new")"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq 0 "$rc"
	# the helper forked before confinement runs fusermount3 -u
	ovl_wait_until "the unmount" not_in_mounts "$MNT"
	! in_mounts "$MNT" || false
	! grep -Eq "$OVL_SANITIZER_RE" "$OVL_LOG" || false
}

@test "enforce: forbidden calls (execve, socket, ptrace) fail with EPERM; serving goes on" {
	need_hooks
	make_layers
	local calls="execve socket ptrace" c
	# LeakSanitizer stops the world with ptrace: a sanitizer build allows it
	[ -z "${OVL_SANITIZER:-}" ] || calls="execve socket"
	for c in $calls; do
		ovl_mount "test_syscall=$c"
		assert_eq "lower1 file" "$(cat "$MNT/file1")"
		ovl_umount
		grep -q "test hook: $c returned -1: Operation not permitted" "$OVL_LOG" || {
			sed 's/^/#   /' "$OVL_LOG" >&2
			false
		}
	done
}

@test "kill: a forbidden call kills the daemon (SIGSYS)" {
	need_hooks
	make_layers
	"$FUSE_OVERLAYFS" -f -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,seccomp=kill,test_syscall=socket" \
		"$MNT" 2>>"$OVL_LOG" </dev/null 3>&- &
	local pid=$! rc=0
	wait "$pid" || rc=$?
	umount -l "$MNT" 2>/dev/null || true
	assert_eq $((128 + $(kill -l SYS))) "$rc"
	! grep -q "test hook: socket returned" "$OVL_LOG" || false
}

@test "log: a call outside the list is allowed (and logged by the kernel)" {
	need_hooks
	make_layers
	ovl_mount seccomp=log test_syscall=socket
	assert_confined "$OVL_PID" "$KEPT_CAPS" 2
	ovl_umount
	grep -Eq "test hook: socket returned [0-9]+: allowed" "$OVL_LOG" || {
		sed 's/^/#   /' "$OVL_LOG" >&2
		false
	}
}

# A ring's operations never pass the filter: io_uring is allowed only to a
# mount that uses FUSE over io_uring.
@test "io_uring: allowed only when the kernel offers it to the mount and io_uring=auto" {
	need_hooks
	[ -w "$URING_PARAM" ] || skip "this kernel has no FUSE over io_uring"
	make_layers
	URING_WAS=$(cat "$URING_PARAM")
	echo N >"$URING_PARAM"
	ovl_mount test_syscall=io_uring_setup
	ovl_umount
	echo Y >"$URING_PARAM"
	ovl_mount test_syscall=io_uring_setup,io_uring=off
	ovl_umount
	assert_eq 2 "$(count_log 'test hook: io_uring_setup returned -1: Operation not permitted')"
	ovl_mount test_syscall=io_uring_setup
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
	assert_eq 1 "$(count_log 'test hook: io_uring_setup returned [0-9]+: allowed')"
}
