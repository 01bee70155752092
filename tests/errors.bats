#!/usr/bin/env bats
# Bad command lines: exit status 1, one line on stderr that starts with
# "fuse-overlayfs:" and names the problem, nothing mounted, upper unchanged.

load helpers

setup() {
	ovl_setup
	make_layers
	echo existing >"$UPPER/existing"
}

@test "unknown option: named in the message" {
	expect_mount_error "bogus_option" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,bogus_option" "$MNT"
}

@test "unknown option with a value: named in the message" {
	expect_mount_error "frobnicate" -o "frobnicate=3,lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "missing lowerdir path" {
	expect_mount_error "$TMP/nonexistent" -o "lowerdir=$LOWER1:$TMP/nonexistent,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "lowerdir that is a regular file" {
	echo f >"$TMP/afile"
	expect_mount_error "$TMP/afile" -o "lowerdir=$TMP/afile,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "unreadable lower layer (mode 000, no DAC override)" {
	command -v capsh >/dev/null || skip "capsh (libcap2-bin) not installed"
	mkdir "$TMP/locked"
	echo x >"$TMP/locked/x"
	chmod 000 "$TMP/locked"
	# keep CAP_SYS_ADMIN (mount) but lose the DAC overrides of root
	run capsh --drop=cap_dac_override,cap_dac_read_search -- -c "test -r '$TMP/locked/x'"
	[ "$status" -ne 0 ] || skip "cannot drop the DAC capabilities here"
	local before="$TMP/upper.before"
	ovl_tree_manifest "$UPPER" >"$before"
	run timeout 20 capsh --drop=cap_dac_override,cap_dac_read_search -- -c \
		"exec '$FUSE_OVERLAYFS' -o 'lowerdir=$TMP/locked:$LOWER2,upperdir=$UPPER,workdir=$WORK' '$MNT'" 3>&-
	chmod 755 "$TMP/locked"
	if mountpoint -q "$MNT"; then
		umount "$MNT"
		echo "# mounted an unreadable layer" >&2
		return 1
	fi
	assert_status 1
	assert_output_contains "$TMP/locked"
	diff -u "$before" <(ovl_tree_manifest "$UPPER")
}

@test "no lowerdir at all" {
	expect_mount_error "lowerdir" -o "upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "empty lowerdir=" {
	expect_mount_error "lowerdir" -o "lowerdir=,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "upperdir without workdir" {
	expect_mount_error "workdir" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER" "$MNT"
}

@test "workdir on another filesystem than upperdir" {
	mkdir "$TMP/tmpfs"
	mount -t tmpfs tmpfs "$TMP/tmpfs"
	mkdir "$TMP/tmpfs/work"
	expect_mount_error "$TMP/tmpfs/work" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$TMP/tmpfs/work" "$MNT"
}

@test "upperdir on another filesystem than workdir" {
	mkdir "$TMP/tmpfs"
	mount -t tmpfs tmpfs "$TMP/tmpfs"
	mkdir "$TMP/tmpfs/upper"
	expect_mount_error "$TMP/tmpfs/upper" -o "lowerdir=$LOWERDIRS,upperdir=$TMP/tmpfs/upper,workdir=$WORK" "$MNT"
}

@test "upperdir inside a lower layer" {
	mkdir "$LOWER2/up" "$TMP/w2"
	ovl_snapshot_lowers
	expect_mount_error "$LOWER2/up" -o "lowerdir=$LOWERDIRS,upperdir=$LOWER2/up,workdir=$TMP/w2" "$MNT"
}

@test "workdir inside a lower layer" {
	mkdir "$LOWER1/wk"
	ovl_snapshot_lowers
	expect_mount_error "$LOWER1/wk" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$LOWER1/wk" "$MNT"
}

@test "upperdir inside the mountpoint" {
	mkdir "$MNT/up" "$MNT/wk"
	expect_mount_error "$MNT/up" -o "lowerdir=$LOWERDIRS,upperdir=$MNT/up,workdir=$MNT/wk" "$MNT"
}

@test "workdir inside the mountpoint" {
	mkdir "$MNT/wk"
	# same filesystem as the upper, so only the placement is wrong
	expect_mount_error "$MNT/wk" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$MNT/wk" "$MNT"
}

@test "missing upperdir path" {
	expect_mount_error "$TMP/noupper" -o "lowerdir=$LOWERDIRS,upperdir=$TMP/noupper,workdir=$WORK" "$MNT"
}

@test "missing mountpoint argument" {
	run timeout 20 "$FUSE_OVERLAYFS" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" 3>&-
	assert_status 1
	[[ "$output" == fuse-overlayfs:* ]]
	[ "$(printf '%s\n' "$output" | grep -c .)" = 1 ]
}

@test "nonexistent mountpoint" {
	run timeout 20 "$FUSE_OVERLAYFS" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" "$TMP/nomnt" 3>&-
	assert_status 1
	assert_output_contains "$TMP/nomnt"
	[ ! -e "$TMP/nomnt" ]
}

@test "bad value for xino=" {
	expect_mount_error "xino" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,xino=sometimes" "$MNT"
}

@test "bad value for io_uring=" {
	expect_mount_error "io_uring" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,io_uring=on" "$MNT"
}

@test "malformed uidmapping=" {
	expect_mount_error "uidmapping" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,uidmapping=0:1000" "$MNT"
}

@test "uidmapping= with empty fields still needs whole triples" {
	expect_mount_error "expected DISK:PRESENTED:LEN" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,uidmapping=:0:1000:" "$MNT"
}

@test "malformed gidmapping=" {
	expect_mount_error "gidmapping" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,gidmapping=a:b:c" "$MNT"
}

@test "bad xattr_permissions value" {
	expect_mount_error "xattr_permissions" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,xattr_permissions=7" "$MNT"
}

@test "more than 500 lower layers" {
	local dirs="" i
	for ((i = 0; i < 501; i++)); do
		mkdir "$TMP/L$i"
		dirs="$dirs${dirs:+:}$TMP/L$i"
	done
	expect_mount_error "" -o "lowerdir=$dirs,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

@test "fuse_device= that is not a FUSE device path" {
	expect_mount_error "fuse_device" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,fuse_device=/dev/null" "$MNT"
}

@test "fuse_device= naming a missing device" {
	expect_mount_error "cannot open /dev/fuse_missing" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,fuse_device=/dev/fuse_missing" "$MNT"
}

@test "an option only libfuse's own mount knows, with fuse_device=" {
	expect_mount_error "auto_unmount" -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,fuse_device=/dev/fuse,auto_unmount" "$MNT"
}
