#!/usr/bin/env bats
# Access times.  A lower layer never changes, its atimes included: the
# daemon reads it through a private read-only noatime mount (privmount.c),
# or where it cannot make one, opens what it reads there with O_NOATIME
# (where the kernel allows it: owner or CAP_FOWNER; else it opens without).

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
	ln -s f "$LOWER1/link"
	echo below >"$LOWER2/merged/b"
	echo above >"$LOWER1/merged/a"
	ovl_snapshot_lowers   # reads every file: the atimes are set after it
	find "$LOWER1" "$LOWER2" -mindepth 1 -exec touch -a -h -d 2020-01-01 {} +
	local before
	before="$(cd "$TMP" && atimes lower1/f lower1/d lower1/d/x lower1/d/sub lower1/run.sh lower2/c \
		lower2/merged lower1/merged lower2/merged/b lower1/link)"
	ovl_mount
	cat "$MNT/f" "$MNT/d/x" "$MNT/merged/a" "$MNT/merged/b" >/dev/null
	assert_eq f "$(readlink "$MNT/link")"   # (a lower symlink: its private mount is noatime)
	ls -R "$MNT" >/dev/null
	assert_eq ran "$("$MNT/run.sh")"
	chmod 0600 "$MNT/c"   # copy-up: the data is read from lower2
	assert_eq "to copy up" "$(cat "$MNT/c")"
	ovl_umount
	assert_eq "$before" "$(cd "$TMP" && atimes lower1/f lower1/d lower1/d/x lower1/d/sub lower1/run.sh \
		lower2/c lower2/merged lower1/merged lower2/merged/b lower1/link)" "lower atimes"
}

@test "passthrough=all: lower files the kernel reads itself keep their atimes" {
	require_atime_updates
	echo data >"$LOWER1/f"
	printf '#!/bin/sh\necho ran\n' >"$LOWER1/run.sh"
	chmod 0755 "$LOWER1/run.sh"
	ovl_snapshot_lowers
	touch -a -d 2020-01-01 "$LOWER1/f" "$LOWER1/run.sh"
	ovl_mount passthrough=all
	assert_eq data "$(cat "$MNT/f")"
	assert_eq ran "$("$MNT/run.sh")"
	ovl_umount
	assert_eq "$(date -d 2020-01-01 +%s) $(date -d 2020-01-01 +%s)" \
		"$(stat -c %X "$LOWER1/f" "$LOWER1/run.sh" | paste -sd ' ')" "lower atimes"
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

# atime_layers: upper files and directories for atime_reads.  "old": atime
# 2020 (relatime updates it); "recent": atime a minute ago, after the mtime
# (relatime leaves it, strictatime updates it).
atime_layers() {
	rm -rf "$UPPER" "$WORK" && mkdir "$UPPER" "$WORK"
	echo old >"$UPPER/fold"
	echo recent >"$UPPER/frecent"
	printf '#!/bin/sh\n' >"$UPPER/xold"
	chmod 0755 "$UPPER/xold"
	mkdir "$UPPER/dold" "$UPPER/drecent"
	touch "$UPPER/dold/e" "$UPPER/drecent/e"
	touch -d 2019-01-01 "$UPPER"/*
	touch -a -d 2020-01-01 "$UPPER/fold" "$UPPER/xold" "$UPPER/dold"
	touch -a -d '-1 minute' "$UPPER/frecent" "$UPPER/drecent"
	declare -gA ATIME_BEFORE=()
	local n
	for n in fold frecent xold dold drecent; do
		ATIME_BEFORE[$n]="$(stat -c %X "$UPPER/$n")"
	done
}

# atime_reads MOUNTPOINT: reads, runs and lists what atime_layers made.
atime_reads() {
	local n
	for n in fold frecent xold; do
		cat "$1/$n" >/dev/null
	done
	"$1/xold"
	ls "$1/dold" "$1/drecent" >/dev/null
}

# atime_changes: whether the atime of each in the upper changed.
atime_changes() {
	local n
	for n in fold frecent xold dold drecent; do
		if [ "$(stat -c %X "$UPPER/$n")" = "${ATIME_BEFORE[$n]}" ]; then
			echo "$n same"
		else
			echo "$n changed"
		fi
	done
}

# atime_on_kovl MODE: atime_reads on fresh layers through kernel overlayfs
# mounted with MODE; atime_changes tells what they did.
atime_on_kovl() {
	atime_layers
	kovl_mount "$1"
	atime_reads "$MNT"
	kovl_umount
}

@test "upper atimes follow noatime, relatime, strictatime and nodiratime as on kernel overlayfs" {
	require_atime_updates
	local mode want
	for mode in noatime relatime strictatime "relatime,nodiratime" "strictatime,nodiratime"; do
		atime_on_kovl "$mode"
		want="$(atime_changes)"
		atime_layers
		ovl_mount "$mode"
		atime_reads "$MNT"
		ovl_umount
		assert_eq "$want" "$(atime_changes)" "-o $mode"
	done
	# and what that is, spelled out for the default
	atime_layers
	ovl_mount
	atime_reads "$MNT"
	ovl_umount
	assert_eq "fold same
frecent same
xold same
dold same
drecent same" "$(atime_changes)" "default (noatime)"
}

# In a user namespace the upper's mount has its atime mode locked: no
# private mount with another one.  The daemon then opens what it reads with
# O_NOATIME under noatime (nodiratime: directories), and relatime is the
# upper mount's own.
@test "user namespace (no private mount): noatime, relatime and nodiratime as on kernel overlayfs" {
	require_atime_updates
	local mode want
	for mode in noatime relatime "relatime,nodiratime"; do
		atime_on_kovl "$mode"
		want="$(atime_changes)"
		atime_layers
		run timeout 600 unshare -Urm sh -c '
			"$1" -o "debug,lowerdir=$2,upperdir=$3,workdir=$4,$6" "$5" 2>"$7" || exit 99
			for n in fold frecent xold; do cat "$5/$n" >/dev/null; done
			"$5/xold" && ls "$5/dold" "$5/drecent" >/dev/null
			rc=$?
			umount "$5"
			exit $rc' sh "$FUSE_OVERLAYFS" "$LOWER1" "$UPPER" "$WORK" "$MNT" "$mode" "$TMP/ns.log"
		assert_status 0
		# (relatime is the upper mount's own mode: that clone is allowed)
		if [ "$mode" = noatime ] &&
			! grep -q "upperdir '$UPPER' stays on its own mount" "$TMP/ns.log"; then
			grep -v '^unique\|^   ' "$TMP/ns.log" | head -n 20 | sed 's/^/#   /' >&2
			false
		fi
		assert_eq "$want" "$(atime_changes)" "-o $mode, in a user namespace"
	done
}
