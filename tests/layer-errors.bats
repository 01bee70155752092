#!/usr/bin/env bats
# A layer that cannot be read right now (EACCES, EMFILE) is an error of the
# operation, never "not there": no listing silently misses entries, no
# lookup says ENOENT for a name that exists, no removal leaves the lower
# name without a whiteout.

load helpers

setup() {
	ovl_setup
}

teardown() {
	ovl_teardown
}

# The daemon runs as root of its own user namespace: root's files stay
# accessible, those of a user the namespace does not map do not once they
# are mode 0700.  The layers change behind the mount here, so it keeps
# nothing in the kernel (timeout=0): every step asks the daemon, which is
# what is tested (by default the kernel would answer from the names,
# attributes and listings it keeps).
@test "lower directories made unreadable while mounted: ls, stat and rm fail with EACCES" {
	mkdir -p "$LOWER1/d" "$LOWER1/m" "$UPPER/m"
	echo a >"$LOWER1/d/a"
	echo b >"$LOWER1/d/b"
	echo lm >"$LOWER1/m/lower_only"
	echo um >"$UPPER/m/upper_only"
	chown -R 4242:4242 "$LOWER1/d" "$LOWER1/m"
	ovl_snapshot_lowers
	# the namespace's script waits for the chmod done from outside
	local fifo="$TMP/go"
	mkfifo "$fifo"
	(
		read -r _ <"$fifo"
		chmod 0700 "$LOWER1/d" "$LOWER1/m"
		echo done >"$TMP/chmodded"
	) &
	local chmodder=$!
	run timeout 600 unshare -Urm sh -c '
		"$1" -o "lowerdir=$2,upperdir=$3,workdir=$4,timeout=0" "$5" || exit 99
		m="$5"
		echo "before: $(ls "$m/d" | tr "\n" " ")| $(ls "$m/m" | tr "\n" " ")"
		echo go >"$6/go"
		while [ ! -e "$6/chmodded" ]; do sleep 0.05; done
		ls "$m/d" >/dev/null 2>"$6/e1" && echo "ls d: listed" || echo "ls d: $(sed "s/.*: //" "$6/e1")"
		ls "$m/m" >/dev/null 2>"$6/e2" && echo "ls m: listed" || echo "ls m: $(sed "s/.*: //" "$6/e2")"
		stat "$m/d/b" >/dev/null 2>"$6/e3" && echo "stat d/b: found" || echo "stat d/b: $(sed "s/.*: //" "$6/e3")"
		rm "$m/m/upper_only" 2>"$6/e4" && echo "rm m/upper_only: done" || echo "rm m/upper_only: $(sed "s/.*: //" "$6/e4")"
		umount "$m"' sh "$FUSE_OVERLAYFS" "$LOWER1" "$UPPER" "$WORK" "$MNT" "$TMP"
	# only this job: bats' own BATS_TEST_TIMEOUT watcher is a child too
	wait "$chmodder"
	assert_status 0
	assert_output "before: a b | lower_only upper_only 
ls d: Permission denied
ls m: Permission denied
stat d/b: Permission denied
rm m/upper_only: Permission denied"
	# nothing was removed without its whiteout: readable again, all there
	chmod 0755 "$LOWER1/d" "$LOWER1/m"
	ovl_mount
	assert_eq "a b" "$(ls "$MNT/d" | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "lower_only upper_only" "$(ls "$MNT/m" | tr '\n' ' ' | sed 's/ $//')"
	ovl_umount
}

# With few fds the daemon caches some directory fds and reopens the others
# by path: once its fds run out, those reopenings fail.  A directory whose
# upper fd is cached and whose lower one is not is where an error taken as
# "absent" would lose a whiteout.
@test "the daemon out of file descriptors: EMFILE, never ENOENT, a shorter listing or a lost whiteout" {
	local i n=24
	for i in $(seq 1 $n); do
		mkdir -p "$LOWER1/d$i" "$UPPER/d$i"
		echo "lower $i" >"$LOWER1/d$i/f"
		echo "upper $i" >"$UPPER/d$i/f"   # a copied-up file: removing it needs a whiteout
		echo "$i" >"$LOWER1/file$i"
	done
	ovl_snapshot_lowers
	printf '#!/bin/sh\nexec prlimit --nofile=64:64 "%s" "$@"\n' "$FUSE_OVERLAYFS" >"$TMP/limited"
	chmod +x "$TMP/limited"
	FUSE_OVERLAYFS="$TMP/limited" ovl_mount
	ls -R "$MNT" >/dev/null   # caches what the budget allows
	# hold files open in the daemon until it has no fd left
	local held=0
	for i in $(seq 1 $n); do
		if eval "exec {h$i}<\"\$MNT/file$i\"" 2>/dev/null; then
			held=$((held + 1))
		fi
	done
	local errs="$TMP/errs" removed="$TMP/removed" listed=0
	: >"$errs"
	: >"$removed"
	for i in $(seq 1 $n); do
		if ls "$MNT/d$i" >"$TMP/out" 2>>"$errs"; then
			assert_eq f "$(cat "$TMP/out")" "the listing of d$i"
			listed=$((listed + 1))
		fi
		if rm "$MNT/d$i/f" 2>>"$errs"; then
			echo "d$i/f" >>"$removed"
		fi
	done
	echo "# $held files held, $listed of $n directories listed, $(wc -l <"$removed") files removed; errors:" >&3
	sed 's/.*: //' "$errs" | sort | uniq -c | sed 's/^/#   /' >&3
	# every failure was the daemon's EMFILE, none a missing name
	if grep -v 'Too many open files' "$errs" | grep -q .; then
		echo "# an error other than EMFILE:" >&2
		grep -v 'Too many open files' "$errs" | head -n 5 | sed 's/^/#   /' >&2
		false
	fi
	grep -q 'Too many open files' "$errs"   # the test really ran out
	for i in $(seq 1 $n); do
		eval "exec {h$i}<&-" 2>/dev/null || true
	done
	ovl_umount
	# what rm removed stays removed (its whiteout was made); the rest is there
	ovl_mount
	for i in $(seq 1 $n); do
		if grep -qx "d$i/f" "$removed"; then
			[ ! -e "$MNT/d$i/f" ] || { echo "# d$i/f came back: $(cat "$MNT/d$i/f")" >&2; false; }
		else
			assert_eq "upper $i" "$(cat "$MNT/d$i/f")"
		fi
	done
	ovl_umount
}
