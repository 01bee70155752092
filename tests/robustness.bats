#!/usr/bin/env bats
# Hostile layers, odd names, signals, concurrency.

load helpers

# A directory outside every layer that the daemon must never touch.
make_outside() {
	OUTSIDE="$TMP/outside"
	mkdir -p "$OUTSIDE/sub"
	echo secret >"$OUTSIDE/secret"
	echo deeper >"$OUTSIDE/sub/deeper"
	ovl_tree_manifest "$OUTSIDE" >"$TMP/outside.before"
}

check_outside() {
	ovl_tree_manifest "$OUTSIDE" >"$TMP/outside.after"
	diff -u "$TMP/outside.before" "$TMP/outside.after"
}

@test "lower symlink under a directory of an upper layer is not followed" {
	make_outside
	ln -s "$OUTSIDE" "$LOWER1/d"
	mkdir "$UPPER/d"
	echo up >"$UPPER/d/upfile"
	ovl_snapshot_lowers
	ovl_mount
	run ls -A "$MNT/d"
	assert_output upfile
	[ ! -e "$MNT/d/secret" ]
	[ ! -e "$MNT/d/sub/deeper" ]
	echo new >"$MNT/d/new"
	mkdir "$MNT/d/sub"
	echo x >"$MNT/d/sub/x"
	rm -r "$MNT/d"
	ovl_umount
	check_outside
}

@test "lower symlink below a lower directory of the same name is not followed" {
	make_outside
	mkdir "$LOWER1/d"
	echo f >"$LOWER1/d/f"
	ln -s "$OUTSIDE" "$LOWER2/d"
	ovl_snapshot_lowers
	ovl_mount
	run ls -A "$MNT/d"
	assert_output f
	run stat "$MNT/d/secret"
	[ "$status" -ne 0 ]
	[ ! -e "$MNT/d/sub" ]
	# writes, copy-ups and deletions inside the merged directory
	echo new >"$MNT/d/secret"
	mkdir -p "$MNT/d/sub/more"
	echo app >>"$MNT/d/f"
	rm "$MNT/d/secret"
	rm -r "$MNT/d/sub"
	rmdir "$MNT/d" 2>/dev/null || rm -r "$MNT/d"
	ovl_umount
	check_outside
}

@test "intermediate lower symlink component is not followed on lookup" {
	make_outside
	mkdir -p "$LOWER1/a/b"
	echo inner >"$LOWER1/a/b/inner"
	mkdir "$LOWER2/a"
	ln -s "$OUTSIDE" "$LOWER2/a/b"
	ovl_snapshot_lowers
	ovl_mount
	run ls -A "$MNT/a/b"
	assert_output inner
	[ ! -e "$MNT/a/b/secret" ]
	touch "$MNT/a/b/secret"
	chmod 600 "$MNT/a/b/inner"
	ovl_umount
	check_outside
	[ -f "$UPPER/a/b/secret" ]
}

@test "symlinks pointing out of the layers are presented as symlinks" {
	make_outside
	ln -s / "$LOWER1/root"
	ln -s ../../../../../../../../etc "$LOWER1/escape"
	ln -s "$OUTSIDE/secret" "$LOWER1/abs"
	ovl_snapshot_lowers
	ovl_mount
	[ -L "$MNT/root" ]
	[ -L "$MNT/escape" ]
	[ -L "$MNT/abs" ]
	assert_eq / "$(readlink "$MNT/root")"
	assert_eq ../../../../../../../../etc "$(readlink "$MNT/escape")"
	assert_eq "$OUTSIDE/secret" "$(readlink "$MNT/abs")"
	# operations on the links themselves stay in the upper
	chown -h 5:5 "$MNT/abs"
	rm "$MNT/root"
	mv "$MNT/escape" "$MNT/escape2"
	ovl_umount
	check_outside
	[ -L "$UPPER/abs" ]
	[ -L "$UPPER/escape2" ]
	assert_eq "5:5" "$(stat -c %u:%g "$UPPER/abs")"
	assert_eq "0:0" "$(stat -c %u:%g "$OUTSIDE/secret")"
}

@test "layers given through .., trailing slashes and symlinks" {
	make_layers
	ln -s "$LOWER2" "$TMP/l2link"
	LOWERDIRS="$TMP/upper/../lower1/:$TMP/l2link"
	ovl_mount
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	assert_eq "lower2 file" "$(cat "$MNT/file2")"
	echo w >"$MNT/w"
	ovl_umount
	assert_eq w "$(cat "$UPPER/w")"
}

@test "odd names: spaces, newlines, unicode, leading dash, 255 bytes" {
	make_layers
	printf 'nl\n' >"$LOWER2/$(printf 'low\nname')"
	ovl_snapshot_lowers
	ovl_mount
	local n255 n256
	n255="$(printf 'n%.0s' $(seq 255))"
	n256="$(printf 'n%.0s' $(seq 256))"
	local names=("with space" "$(printf 'new\nline')" "ünïcödé ✓" "-dash" "$n255" "tab	tab" "a'quote\"")
	local n
	for n in "${names[@]}"; do
		echo "$n" >"$MNT/$n"
		assert_eq "$n" "$(cat "$MNT/$n")"
	done
	run bash -c "echo x > '$MNT/$n256'"
	[ "$status" -ne 0 ]
	assert_output_contains "File name too long"
	for n in "${names[@]}"; do
		[ -f "$UPPER/$n" ]
	done
	assert_eq nl "$(cat "$MNT/$(printf 'low\nname')")"
	mv "$MNT/$(printf 'low\nname')" "$MNT/$(printf 'moved\nname')"
	assert_eq nl "$(cat "$MNT/$(printf 'moved\nname')")"
	mkdir "$MNT/${n255:0:250}.dir"
	[ -d "$UPPER/${n255:0:250}.dir" ]
	ovl_umount
}

@test "creating .wh.* names: refused, or visible without hiding anything" {
	make_layers
	ovl_mount
	run touch "$MNT/.wh.file1"
	if [ "$status" -eq 0 ]; then
		# accepted (kernel overlayfs does so): must not act as a whiteout
		[ -e "$MNT/.wh.file1" ]
		assert_eq "lower1 file" "$(cat "$MNT/file1")"
		ovl_umount
		ovl_mount
		assert_eq "lower1 file" "$(cat "$MNT/file1")"
	else
		# refused (fuse-overlayfs does so): nothing in the upper
		[ ! -e "$UPPER/.wh.file1" ]
		assert_eq "lower1 file" "$(cat "$MNT/file1")"
	fi
	run mkdir "$MNT/dir/.wh..wh..opq"
	run ls -A "$MNT/dir"
	[[ "$output" == *a*b*c* ]]
	ovl_umount
	ovl_mount
	run ls "$MNT/dir"
	assert_output "$(printf 'a\nb\nc\nsub')"
	ovl_umount
}

@test "SIGTERM to the daemon unmounts cleanly" {
	make_layers
	ovl_mount
	echo data >"$MNT/written"
	local pid="$OVL_PID" i
	kill -TERM "$pid"
	ovl_wait_until "the exit of daemon $pid" ovl_dead "$pid" || true
	! ovl_alive "$pid" || false
	local rc=0
	wait "$pid" || rc=$?
	unset "OVL_PIDS[$MNT]"
	! mountpoint -q "$MNT" || false
	[ "$rc" -lt 128 ] || {
		echo "# daemon died from the signal (status $rc)" >&2
		false
	}
	! grep -Eq "$OVL_SANITIZER_RE" "$OVL_LOG" || false
	assert_eq data "$(cat "$UPPER/written")"
}

@test "SIGINT to the daemon unmounts cleanly" {
	make_layers
	ovl_mount
	local pid="$OVL_PID" i
	kill -INT "$pid"
	ovl_wait_until "the exit of daemon $pid" ovl_dead "$pid" || true
	! ovl_alive "$pid" || false
	unset "OVL_PIDS[$MNT]"
	! mountpoint -q "$MNT" || false
}

@test "parallel writers and readers keep data intact" {
	make_layers
	for i in $(seq 1 20); do
		head -c $((4096 * i + 17)) /dev/urandom >"$LOWER2/src$i"
	done
	ovl_snapshot_lowers
	(cd "$LOWER2" && sha256sum src*) >"$TMP/src.sums"
	ovl_mount threaded=1
	local pids=() w
	for w in 1 2 3 4; do
		(
			set -e
			mkdir -p "$MNT/w$w"
			for i in $(seq 1 20); do
				cat "$MNT/src$i" >"$MNT/w$w/copy$i"
				echo "w$w-$i" >>"$MNT/dir/shared_$w"
				mv "$MNT/w$w/copy$i" "$MNT/w$w/c$i"
			done
		) &
		pids+=($!)
		(
			set -e
			for r in 1 2 3; do
				(cd "$MNT" && sha256sum -c --quiet "$TMP/src.sums")
				ls -R "$MNT/dir" >/dev/null
			done
		) &
		pids+=($!)
	done
	for w in "${pids[@]}"; do
		wait "$w"
	done
	for w in 1 2 3 4; do
		for i in $(seq 1 20); do
			cmp "$LOWER2/src$i" "$MNT/w$w/c$i"
		done
		assert_eq 20 "$(wc -l <"$MNT/dir/shared_$w")"
	done
	ovl_umount
	for w in 1 2 3 4; do
		for i in $(seq 1 20); do
			cmp "$LOWER2/src$i" "$UPPER/w$w/c$i"
		done
	done
}

@test "concurrent copy-up of the same lower file" {
	make_layers
	head -c 3000000 /dev/urandom >"$LOWER2/bigcopy"
	ovl_snapshot_lowers
	ovl_mount threaded=1
	local pids=() i
	for i in 1 2 3 4; do
		(chmod 0600 "$MNT/bigcopy"; touch "$MNT/bigcopy"; setfattr -n "user.p$i" -v "$i" "$MNT/bigcopy") &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	cmp "$LOWER2/bigcopy" "$MNT/bigcopy"
	ovl_umount
	cmp "$LOWER2/bigcopy" "$UPPER/bigcopy"
	for i in 1 2 3 4; do
		assert_eq "$i" "$(getfattr --only-values -n "user.p$i" "$UPPER/bigcopy")"
	done
}

@test "a lazily unmounted busy mount lets the daemon exit" {
	make_layers
	ovl_mount
	exec 7<"$MNT/file1"
	run umount "$MNT"
	[ "$status" -ne 0 ]
	umount -l "$MNT"
	exec 7<&-
	local pid="$OVL_PID" i
	ovl_wait_until "the exit of daemon $pid" ovl_dead "$pid" || true
	unset "OVL_PIDS[$MNT]"
	ovl_wait_daemon "$pid"
}
