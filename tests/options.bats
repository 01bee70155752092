#!/usr/bin/env bats
# Command line: every option is accepted and, where observable, has its effect.

load helpers

mount_opts_of() {
	awk -v m="$1" '$2 == m { print $4 }' /proc/mounts
}

# atime_mode_is MNT noatime|relatime|strictatime: waits (2 s) for the mount's
# atime mode: with -f, the daemon sets it just after the mount appears.
atime_mode_is() {
	local i o
	for ((i = 0; i < 1200; i++)); do
		o=",$(mount_opts_of "$1"),"
		case "$2" in
		strictatime) [[ $o != *,noatime,* && $o != *,relatime,* ]] && return 0 ;;
		*) [[ $o == *,"$2",* ]] && return 0 ;;
		esac
		sleep 0.05
	done
	echo "# $1: options $o, expected $2" >&2
	return 1
}

@test "--help exits 0 and documents lowerdir" {
	run "$FUSE_OVERLAYFS" --help
	assert_status 0
	assert_output_contains "lowerdir"
	run "$FUSE_OVERLAYFS" -h
	assert_status 0
	assert_output_contains "lowerdir"
}

@test "--version and -V print the version and exit 0" {
	run "$FUSE_OVERLAYFS" --version
	assert_status 0
	assert_output_contains "fuse-overlayfs"
	assert_output_contains "FUSE over io_uring: "
	[[ "$output" =~ [0-9]+\.[0-9]+ ]]
	run "$FUSE_OVERLAYFS" -V
	assert_status 0
	[[ "$output" =~ [0-9]+\.[0-9]+ ]]
	! mountpoint -q "$MNT" || false
}

@test "basic mount shows the merged view and unmounts cleanly" {
	make_layers
	ovl_mount
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	assert_eq "lower2 file" "$(cat "$MNT/file2")"
	assert_eq "from lower1" "$(cat "$MNT/shadow")"
	run ls "$MNT/dir"
	assert_output "$(printf 'a\nb\nc\nsub')"
	ovl_umount
	! mountpoint -q "$MNT" || false
}

@test "daemonizes without -f and mounts" {
	make_layers
	run "$FUSE_OVERLAYFS" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" "$MNT" 3>&-
	assert_status 0
	mountpoint -q "$MNT"
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	umount "$MNT"
}

@test "squash_to_root presents every file as 0:0 and writes real ids" {
	make_layers
	ovl_mount squash_to_root
	assert_eq "0:0" "$(stat -c %u:%g "$MNT/owned")"
	assert_eq "0:0" "$(stat -c %u:%g "$MNT/dir/a")"
	ovl_umount
}

@test "squash_to_uid and squash_to_gid present the given ids" {
	make_layers
	ovl_mount squash_to_uid=4321 squash_to_gid=8765
	assert_eq "4321:8765" "$(stat -c %u:%g "$MNT/owned")"
	assert_eq "4321:8765" "$(stat -c %u:%g "$MNT/file1")"
	ovl_umount
}

@test "uidmapping/gidmapping map ownership on stat and on chown" {
	make_layers
	# disk 1000..1009 <-> presented 0..9 ; disk 5000..5999 <-> presented 100..1099
	ovl_mount uidmapping=1000:0:10:1200:100:100 gidmapping=5000:100:1000
	# lower owned is 1234:5678 on disk -> 134:778 presented
	assert_eq "134:778" "$(stat -c %u:%g "$MNT/owned")"
	touch "$MNT/new"
	chown 3:150 "$MNT/new"
	assert_eq "3:150" "$(stat -c %u:%g "$MNT/new")"
	assert_eq "1003:5050" "$(stat -c %u:%g "$UPPER/new")"
	# chown of a lower file copies up with the mapped ids
	chown 5:101 "$MNT/file1"
	assert_eq "1005:5001" "$(stat -c %u:%g "$UPPER/file1")"
	ovl_umount
}

@test "uidmapping as containers/storage writes it: leading colon, after an empty option" {
	make_layers
	# podman passes "...,workdir=W,,volatile,uidmapping=:0:100000:65536,..."
	ovl_mount "" volatile uidmapping=:1000:0:10:1200:100:100 gidmapping=:5000:100:1000:
	assert_eq "134:778" "$(stat -c %u:%g "$MNT/owned")"
	ovl_umount
}

@test "static_nlink gives directories nlink 1" {
	make_layers
	ovl_mount static_nlink
	assert_eq 1 "$(stat -c %h "$MNT/dir")"
	assert_eq 1 "$(stat -c %h "$MNT/lowdir")"
	assert_eq 1 "$(stat -c %h "$MNT")"
	ovl_umount
}

@test "noxattrs makes xattr calls fail with ENOTSUP" {
	make_layers
	ovl_mount noxattrs
	run getfattr -n user.test "$MNT/xattr_file"
	[ "$status" -ne 0 ]
	assert_output_contains "Operation not supported"
	run setfattr -n user.new -v 1 "$MNT/file1"
	[ "$status" -ne 0 ]
	assert_output_contains "Operation not supported"
	ovl_umount
}

@test "without noxattrs user xattrs are readable" {
	make_layers
	ovl_mount
	assert_eq hello "$(getfattr --only-values -n user.test "$MNT/xattr_file")"
	ovl_umount
}

@test "POSIX ACLs are enforced, and noacl disables them" {
	make_layers
	chmod 755 "$TMP"
	echo secret >"$LOWER1/secret"
	chmod 600 "$LOWER1/secret"
	ovl_snapshot_lowers
	ovl_mount allow_other
	setfacl -m u:65534:r "$MNT/secret"
	run as_nobody cat "$MNT/secret"
	assert_status 0
	assert_output secret
	ovl_umount
	ovl_mount noacl allow_other
	run as_nobody cat "$MNT/secret"
	[ "$status" -ne 0 ]
	assert_output_contains "Permission denied"
	ovl_umount
}

@test "xattr_permissions=1 and =2 keep ownership changes, values 0..2 only" {
	make_layers
	for v in 1 2; do
		ovl_mount xattr_permissions=$v
		touch "$MNT/f$v"
		chown 1234:4321 "$MNT/f$v"
		chmod 0604 "$MNT/f$v"
		assert_eq "1234:4321 604" "$(stat -c '%u:%g %a' "$MNT/f$v")"
		# the override xattrs are internal
		run getfattr -d -m - "$MNT/f$v"
		[[ "$output" != *override* ]]
		ovl_umount
		ovl_mount xattr_permissions=$v
		assert_eq "1234:4321 604" "$(stat -c '%u:%g %a' "$MNT/f$v")"
		ovl_umount
	done
	run "$FUSE_OVERLAYFS" -f -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,xattr_permissions=3" "$MNT"
	assert_status 1
	assert_output_contains "xattr_permissions"
	! mountpoint -q "$MNT" || false
}

@test "fsync=0 and volatile: fsync succeeds and data is written" {
	make_layers
	for o in fsync=0 volatile; do
		ovl_mount "$o"
		run ovltool fsync "$MNT/synced_$o"
		assert_output ok
		ovl_umount
		assert_eq synced "$(cat "$UPPER/synced_$o")"
	done
}

@test "timeout=N is accepted (0 and 5)" {
	make_layers
	for t in 0 5 0.5; do
		ovl_mount timeout=$t
		echo "t$t" >"$MNT/t"
		assert_eq "t$t" "$(cat "$MNT/t")"
		ovl_umount
	done
}

@test "timeout=0: nothing is kept, listings neither (a name added below, behind the mount, shows at once)" {
	make_layers
	ovl_mount timeout=0
	ls "$MNT/dir" >/dev/null
	ls "$MNT/dir" >/dev/null
	# into the lower of dir's two layers: the mtime the mount shows (the
	# top one's) stays, so only not keeping the listing shows the name
	echo behind >"$LOWER2/dir/behind"
	ovl_snapshot_lowers
	run ls "$MNT/dir"
	assert_status 0
	assert_output_contains behind
	assert_eq behind "$(cat "$MNT/dir/behind")"
	ovl_umount
}

@test "threaded=1 serves concurrent readers" {
	make_layers
	ovl_mount threaded=1
	local i pids=()
	for i in 1 2 3 4; do
		(for j in $(seq 50); do [ "$(cat "$MNT/file1")" = "lower1 file" ] || exit 1; done) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
}

@test "writeback=1 keeps written data consistent" {
	make_layers
	ovl_mount writeback=1
	head -c 300000 /dev/urandom >"$TMP/blob"
	cp "$TMP/blob" "$MNT/blob"
	echo tail >>"$MNT/blob"
	cat "$TMP/blob" >"$TMP/expect"
	echo tail >>"$TMP/expect"
	cmp "$TMP/expect" "$MNT/blob"
	echo more >>"$MNT/file1"
	assert_eq "$(printf 'lower1 file\nmore')" "$(cat "$MNT/file1")"
	ovl_umount
	cmp "$TMP/expect" "$UPPER/blob"
}

@test "fast_ino=1 and xino=off|auto|on keep inode numbers unique" {
	make_layers
	for o in fast_ino=1 xino=off xino=auto xino=on; do
		ovl_mount "$o"
		run bash -c "find '$MNT' -xdev -printf '%i\n' | sort | uniq -d"
		assert_output ""
		ovl_umount
	done
}

@test "ino32_t: every inode number fits in 32 bits" {
	make_layers
	ovl_mount ino32_t
	local i
	while read -r i; do
		[ "$i" -lt 4294967296 ] || {
			echo "# inode $i" >&2
			false
		}
	done < <(find "$MNT" -printf '%i\n'; ovltool readdir "$MNT" | cut -d' ' -f1)
	ovl_umount
}

@test "redirect_dir=off: renaming a lower directory gives EXDEV" {
	make_layers
	ovl_mount redirect_dir=off
	assert_errno EXDEV ovltool rename2 none "$MNT/lowdir" "$MNT/lowdir2"
	[ -d "$MNT/lowdir/l1/l2" ]
	ovl_umount
}

@test "plugins= (empty) is accepted" {
	make_layers
	ovl_mount plugins=
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
}

@test "debug with -f prints one line per request on stderr" {
	make_layers
	ovl_mount debug
	local before
	before=$(wc -l <"$OVL_LOG")
	cat "$MNT/file2" >/dev/null
	stat "$MNT/dir/sub/deep" >/dev/null
	ovl_umount
	[ "$(wc -l <"$OVL_LOG")" -gt "$before" ]
	grep -q deep "$OVL_LOG"
}

@test "without debug a mount and some requests log nothing per request" {
	make_layers
	ovl_mount
	stat "$MNT/dir/sub/deep" >/dev/null
	ovl_umount
	! grep -q deep "$OVL_LOG" || false
}

@test "ro refuses writes with EROFS" {
	make_layers
	ovl_mount ro
	run touch "$MNT/new"
	[ "$status" -ne 0 ]
	assert_output_contains "Read-only file system"
	run rm "$MNT/file1"
	[ "$status" -ne 0 ]
	[ -e "$MNT/file1" ]
	[[ "$(mount_opts_of "$MNT")" == ro,* ]]
	ovl_umount
	[ -z "$(ls -A "$UPPER")" ]
}

@test "no upperdir mounts read-only" {
	make_layers
	OVL_NO_UPPER=1 ovl_mount
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	run mkdir "$MNT/newdir"
	[ "$status" -ne 0 ]
	assert_output_contains "Read-only file system"
	ovl_umount
}

@test "rw is accepted and writes work" {
	make_layers
	ovl_mount rw
	echo w >"$MNT/w"
	[[ "$(mount_opts_of "$MNT")" == rw,* ]]
	ovl_umount
	assert_eq w "$(cat "$UPPER/w")"
}

@test "nodev,nosuid,noexec reach the mount; noexec refuses exec" {
	make_layers
	printf '#!/bin/sh\necho ran\n' >"$LOWER1/script"
	chmod 755 "$LOWER1/script"
	ovl_snapshot_lowers
	ovl_mount nodev nosuid noexec
	local o
	o="$(mount_opts_of "$MNT")"
	[[ ",$o," == *,nodev,* && ",$o," == *,nosuid,* && ",$o," == *,noexec,* ]]
	run "$MNT/script"
	[ "$status" -ne 0 ]
	assert_output_contains "Permission denied"
	ovl_umount
}

@test "dev,suid,exec clear nodev,nosuid,noexec" {
	make_layers
	printf '#!/bin/sh\necho ran\n' >"$LOWER1/script"
	chmod 755 "$LOWER1/script"
	ovl_snapshot_lowers
	ovl_mount dev suid exec
	local o
	o="$(mount_opts_of "$MNT")"
	[[ ",$o," != *,nodev,* && ",$o," != *,nosuid,* && ",$o," != *,noexec,* ]]
	run "$MNT/script"
	assert_output ran
	ovl_umount
}

@test "noatime, relatime and strictatime set the atime mode of the mount" {
	make_layers
	ovl_mount noatime
	atime_mode_is "$MNT" noatime
	ovl_umount
	ovl_mount relatime
	atime_mode_is "$MNT" relatime
	ovl_umount
	ovl_mount strictatime
	atime_mode_is "$MNT" strictatime
	ovl_umount
}

@test "atime, lazytime, diratime, nodiratime are accepted" {
	make_layers
	local o
	for o in atime lazytime diratime nodiratime; do
		ovl_mount "$o"
		assert_eq "lower1 file" "$(cat "$MNT/file1")"
		ovl_umount
	done
	ovl_mount nodiratime
	atime_mode_is "$MNT" nodiratime
	ovl_umount
}

@test "context=\"...\" is accepted" {
	make_layers
	ovl_mount 'context="system_u:object_r:container_file_t:s0"'
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
}

@test "default_permissions: other users are checked against the mode" {
	make_layers
	chmod 755 "$TMP"
	echo secret >"$LOWER1/secret"
	chmod 600 "$LOWER1/secret"
	ovl_snapshot_lowers
	ovl_mount default_permissions allow_other
	run as_nobody cat "$MNT/secret"
	[ "$status" -ne 0 ]
	assert_output_contains "Permission denied"
	run as_nobody cat "$MNT/file1"
	assert_status 0
	assert_output "lower1 file"
	run as_nobody touch "$MNT/nobody_file"
	[ "$status" -ne 0 ]
	ovl_umount
}

@test "allow_other lets other users in; allow_root mounts" {
	make_layers
	chmod 755 "$TMP"
	ovl_mount allow_other
	run as_nobody cat "$MNT/file1"
	assert_output "lower1 file"
	ovl_umount
	ovl_mount allow_root
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
}

@test "max_write=N: large writes still land intact" {
	make_layers
	ovl_mount max_write=4096
	head -c 1000000 /dev/urandom >"$TMP/blob"
	dd if="$TMP/blob" of="$MNT/blob" bs=1M status=none
	cmp "$TMP/blob" "$MNT/blob"
	ovl_umount
	cmp "$TMP/blob" "$UPPER/blob"
}

@test "x-* options are ignored" {
	make_layers
	ovl_mount x-foo=bar x-systemd.automount
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	ovl_umount
}

@test "-o may be given several times" {
	make_layers
	ovl_start -o "lowerdir=$LOWERDIRS" -o "upperdir=$UPPER,workdir=$WORK" -o squash_to_root "$MNT"
	assert_eq "0:0" "$(stat -c %u:%g "$MNT/owned")"
	echo x >"$MNT/x"
	ovl_umount
	[ -f "$UPPER/x" ]
}

@test "fuse_device=/dev/fuse: the daemon mounts through the device itself" {
	make_layers
	ovl_mount fuse_device=/dev/fuse nosuid noexec debug
	grep -q "debug: mount $MNT type fuse.fuse-overlayfs (fd=[0-9]*,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other) through /dev/fuse" "$OVL_LOG"
	[ "$(findmnt -n -o FSTYPE,SOURCE "$MNT")" = "fuse.fuse-overlayfs fuse-overlayfs" ]
	findmnt -n -o OPTIONS "$MNT" | grep -q '^rw,nosuid,noexec,noatime,'
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	echo x >"$MNT/new"
	ovl_umount   # unmounted from outside: the daemon exits 0
	assert_eq x "$(cat "$UPPER/new")"
}

@test "fuse_device=/dev/fuse: SIGTERM takes down the mount the daemon made" {
	make_layers
	ovl_mount fuse_device=/dev/fuse
	kill -TERM "$OVL_PID"
	ovl_wait_daemon "$OVL_PID"
	unset "OVL_PIDS[$MNT]"
	! mountpoint -q "$MNT" || false
}

@test "fuse_device=/dev/fuse in a user namespace: mounted there, I/O through the daemon" {
	make_layers
	# (root's own user namespace: its files stay accessible)
	run unshare -Urm sh -c '
		"$1" -o "lowerdir=$2,upperdir=$3,workdir=$4,fuse_device=/dev/fuse" "$5" || exit 1
		awk -v m="$5" '\''$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 1) }'\'' /proc/self/mountinfo
		cat "$5/file1"
		echo ns >"$5/from-ns"
		umount "$5"' sh "$FUSE_OVERLAYFS" "$LOWERDIRS" "$UPPER" "$WORK" "$MNT"
	assert_status 0
	assert_output "$(printf 'fuse.fuse-overlayfs\nlower1 file')"
	assert_eq ns "$(cat "$UPPER/from-ns")"
}

# FUSE over io_uring: the kernel offers it while root has enable_uring on
# (read at each mount's init).  The test sets it both ways and teardown puts
# back what it found.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS=""

teardown() {
	[ -z "$URING_WAS" ] || echo "$URING_WAS" >"$URING_PARAM"
	ovl_teardown
}

# uring_mount_reports TRANSPORT [OPTION...]: mounts, reads a lower file and
# fails unless the stats line names TRANSPORT.
uring_mount_reports() {
	local want="$1"
	shift
	ovl_mount "$@"
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	run ovl_stats
	assert_output_contains ", transport $want"
	ovl_umount
}

@test "io_uring=auto: requests over io_uring while the kernel offers it, else over /dev/fuse; io_uring=off or a small max_write: /dev/fuse" {
	[ -w "$URING_PARAM" ] || skip "$URING_PARAM is not writable (no FUSE over io_uring in this kernel, or not root)"
	run "$FUSE_OVERLAYFS" --version
	[[ "$output" != *"FUSE over io_uring: off (not built"* ]] || skip "$FUSE_OVERLAYFS was built without io_uring (libfuse < 3.18)"
	make_layers
	URING_WAS="$(cat "$URING_PARAM")"
	echo Y >"$URING_PARAM"
	uring_mount_reports io_uring debug
	grep -q "debug: init: io_uring offered by the kernel, taken" "$OVL_LOG"
	grep -q "debug: requests arrive over io_uring" "$OVL_LOG"
	uring_mount_reports /dev/fuse io_uring=off
	# a ring buffer would be shorter than the kernel takes: /dev/fuse, and
	# the daemon still exits 0 at unmount
	uring_mount_reports /dev/fuse max_write=4096
	echo N >"$URING_PARAM"
	uring_mount_reports /dev/fuse
}
