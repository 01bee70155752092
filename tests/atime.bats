#!/usr/bin/env bats
# Access times.  A lower layer never changes, its atimes included: the
# daemon opens what it reads there with O_NOATIME (where the kernel allows
# it: owner or CAP_FOWNER; else it opens without).

load helpers

setup() {
	ovl_setup
}

teardown() {
	ovl_teardown
}

# atimes PATH...: "PATH ATIME" lines, ATIME in seconds since the epoch.
atimes() {
	stat -c '%n %X' "$@"
}

# The test means something only where reading updates atimes: with
# relatime, an atime older than a day is updated by any read.
require_atime_updates() {
	echo control >"$TMP/control"
	touch -d 2020-01-01 "$TMP/control"
	cat "$TMP/control" >/dev/null
	if [ "$(stat -c %X "$TMP/control")" = "$(date -d 2020-01-01 +%s)" ]; then
		skip "the filesystem of $TMP does not update atimes on reads (noatime?)"
	fi
}

@test "reads, execs, listings and copy-ups through the mount leave the lower layer's atimes alone" {
	require_atime_updates
	mkdir -p "$LOWER1/d/sub" "$LOWER2/merged" "$LOWER1/merged"
	echo data >"$LOWER1/f"
	echo inner >"$LOWER1/d/x"
	printf '#!/bin/sh\necho ran\n' >"$LOWER1/run.sh"
	chmod 0755 "$LOWER1/run.sh"
	echo "to copy up" >"$LOWER2/c"
	echo below >"$LOWER2/merged/b"
	echo above >"$LOWER1/merged/a"
	ovl_snapshot_lowers   # reads every file: the atimes are set after it
	find "$LOWER1" "$LOWER2" -mindepth 1 -exec touch -a -h -d 2020-01-01 {} +
	local before
	before="$(cd "$TMP" && atimes lower1/f lower1/d lower1/d/x lower1/d/sub lower1/run.sh lower2/c \
		lower2/merged lower1/merged lower2/merged/b)"
	ovl_mount
	cat "$MNT/f" "$MNT/d/x" "$MNT/merged/a" "$MNT/merged/b" >/dev/null
	ls -R "$MNT" >/dev/null
	assert_eq ran "$("$MNT/run.sh")"
	chmod 0600 "$MNT/c"   # copy-up: the data is read from lower2
	assert_eq "to copy up" "$(cat "$MNT/c")"
	ovl_umount
	assert_eq "$before" "$(cd "$TMP" && atimes lower1/f lower1/d lower1/d/x lower1/d/sub lower1/run.sh \
		lower2/c lower2/merged lower1/merged lower2/merged/b)" "lower atimes"
}

# In a user namespace the daemon is not the owner of a file of a user the
# namespace does not map, and has no CAP_FOWNER over it: O_NOATIME is
# refused (EPERM).  The file is read all the same.
@test "a lower file the daemon may not open with O_NOATIME is read all the same" {
	echo "not ours" >"$LOWER1/f"
	mkdir "$LOWER1/d"
	echo "in d" >"$LOWER1/d/x"
	chown -R 4242:4242 "$LOWER1/f" "$LOWER1/d"
	ovl_snapshot_lowers   # (its manifest leaves atimes out: they may change here)
	run timeout 600 unshare -Urm sh -c '
		"$1" -o "lowerdir=$2,upperdir=$3,workdir=$4" "$5" || exit 99
		cat "$5/f" && ls "$5/d" && cat "$5/d/x"
		rc=$?
		umount "$5"
		exit $rc' sh "$FUSE_OVERLAYFS" "$LOWER1" "$UPPER" "$WORK" "$MNT"
	assert_status 0
	assert_output "not ours
x
in d"
}
