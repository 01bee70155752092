#!/usr/bin/env bats
# fallocate(2) in every mode and SEEK_DATA/SEEK_HOLE, on upper files and
# on lower files they copy up, through the daemon and through passthrough:
# the same bytes, sizes and data extents as kernel overlayfs gives.
# COLLAPSE_RANGE and INSERT_RANGE never reach a FUSE daemon: the kernel's
# FUSE client refuses them (EOPNOTSUPP) for every FUSE filesystem.

load helpers

setup() {
	ovl_setup
}

teardown() {
	ovl_teardown
}

# falloc_layers: a lower file, a sparse lower file (data at 0 and at 1 MiB).
falloc_layers() {
	rm -rf "$LOWER1" "$UPPER" "$WORK" && mkdir "$LOWER1" "$UPPER" "$WORK"
	seq 1 40000 >"$LOWER1/lower"
	printf start >"$LOWER1/sparse"
	printf middle | dd of="$LOWER1/sparse" bs=1 seek=1048576 conv=notrunc status=none
	truncate -s 3M "$LOWER1/sparse"
	OVL_LOWER_SNAP=""
}

# falloc_state FILE [noextents]: its size, checksum and data extents.
falloc_state() {
	local state
	state="$(stat -c %s "$1") $(md5sum <"$1" | cut -c1-32)"
	[ "${2:-}" = noextents ] || state="$state $(ovltool extents "$1" | paste -sd ' ')"
	echo "$state"
}

# falloc_run MNT: each mode on a file made through the mount, on a lower
# file and on a sparse lower file, the state after each step.  Extents are
# left out where they depend on the page cache, not on the overlay: ext4
# counts an allocated but unwritten range as a hole unless its pages are
# cached, and who read what differs between the two mounts.  So are those
# of the sparse lower file, whose holes after copy-up are the copy-up's
# choice (kernel overlayfs keeps only holes that span its 1 MiB copy chunks,
# fuse-overlayfs every hole; the next test checks that).
falloc_run() {
	local m="$1" f step extents
	seq 1 40000 >"$m/new"
	for f in new lower sparse; do
		for step in "0 4096 keep" "1048576 65536 keep" "8192 8192 punch" "16384 4096 zero" \
			"4194304 4096 zerokeep" "0 4194304" "5242880 4096"; do
			extents=yes
			case "$f $step" in sparse*|*" 0 4194304"|*" 5242880 4096") extents=noextents ;; esac
			# shellcheck disable=SC2086
			echo "$f $step: $(ovltool fallocate "$m/$f" $step) $(falloc_state "$m/$f" $extents)"
			case "$f $step" in [nl]*punch)
				echo "  hole from 0: $(ovltool seek "$m/$f" hole 0)," \
					"data from 8192: $(ovltool seek "$m/$f" data 8192)," \
					"beyond the end: $(ovltool seek "$m/$f" data $((64 << 20)))" ;;
			esac
		done
	done
}

@test "every fallocate mode and SEEK_DATA/SEEK_HOLE: as on kernel overlayfs" {
	local want got
	falloc_layers
	kovl_mount
	want="$(falloc_run "$MNT")"
	kovl_umount
	falloc_layers
	ovl_mount
	got="$(falloc_run "$MNT")"
	ovl_umount
	assert_eq "$want" "$got"
	# the layer below never changed
	assert_eq "$(seq 1 40000 | md5sum)" "$(md5sum <"$LOWER1/lower")"
}

@test "a sparse lower file keeps its holes through copy-up, and SEEK_HOLE finds them" {
	falloc_layers
	ovl_mount
	assert_eq "0-4096 1048576-1052672" "$(ovltool extents "$MNT/sparse" | paste -sd ' ')" "before"
	printf x | dd of="$MNT/sparse" bs=1 seek=8192 conv=notrunc status=none   # copies up
	assert_eq "0-4096 8192-12288 1048576-1052672" \
		"$(ovltool extents "$MNT/sparse" | paste -sd ' ')" "after"
	assert_eq "0-4096 8192-12288 1048576-1052672" \
		"$(ovltool extents "$UPPER/sparse" | paste -sd ' ')" "upper"
	ovl_umount
}

@test "COLLAPSE_RANGE and INSERT_RANGE: refused by the kernel's FUSE client, nothing changes" {
	falloc_layers
	ovl_mount
	seq 1 40000 >"$MNT/new"
	assert_errno EOPNOTSUPP ovltool fallocate "$MNT/new" 65536 4096 collapse
	assert_errno EOPNOTSUPP ovltool fallocate "$MNT/new" 8192 4096 insert
	assert_errno EOPNOTSUPP ovltool fallocate "$MNT/lower" 8192 4096 insert
	assert_eq "$(seq 1 40000 | md5sum)" "$(md5sum <"$MNT/new")"
	assert_eq "$(seq 1 40000 | md5sum)" "$(md5sum <"$MNT/lower")"
	ovl_umount
}

@test "fallocate on a file open through passthrough, then read through it" {
	falloc_layers
	ovl_mount
	seq 1 40000 >"$MNT/new"
	exec 7<>"$MNT/new"
	assert_errno ok ovltool fallocate "$MNT/new" 4096 4096 punch
	assert_errno ok ovltool fallocate "$MNT/new" 0 4096 zero
	assert_errno ok ovltool fallocate "$MNT/new" 300000 4096
	# what the open file reads is what the upper holds
	assert_eq "$(md5sum <"$UPPER/new")" "$(md5sum <&7)"
	exec 7<&-
	ovl_umount
}
