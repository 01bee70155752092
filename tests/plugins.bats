#!/usr/bin/env bats
# Layer plugins (plugin.c, plugin_serve.c, plugins/): the ABI of
# <fuse-overlayfs/plugin.h> used from outside the tree, the loader's
# refusals, the built-in direct plugin against the same directories read
# directly, and the tar plugin against the same layers unpacked.

load helpers

BUILD_DIR="$(dirname "$FUSE_OVERLAYFS")"

# plugin.c's file for a name: the build's own .so
tar_plugin() {
	[ -f "$BUILD_DIR/tar.so" ] || {
		echo "# no $BUILD_DIR/tar.so next to the binary" >&2
		return 1
	}
	TAR_SO="$BUILD_DIR/tar.so"
}

# build_demo OUT [CFLAGS...]: tests/helpers/plugin_demo.c compiled against
# the header as `make install` puts it, nothing else of the tree.
build_demo() {
	local out="$1"
	shift
	if [ ! -d "$TMP/inst" ]; then
		[ -f "$BUILD_DIR/Makefile" ] || skip "no build directory next to $FUSE_OVERLAYFS to install the header from"
		make -s -C "$BUILD_DIR" install-pkgincludeHEADERS DESTDIR="$TMP/inst" \
			includedir=/include >/dev/null
		[ -f "$TMP/inst/include/fuse-overlayfs/plugin.h" ]
	fi
	gcc -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -I"$TMP/inst/include" \
		-o "$out" "$OVL_TESTS_DIR/helpers/plugin_demo.c" "$@"
}

# the serving processes of plugin NAME (plugin_serve.c names them plugin:NAME)
servers_of() {
	pgrep -x "plugin:$1" || true
}

no_server_of() {
	[ -z "$(servers_of "$1")" ]
}

# The merged tree, without what differs between two mounts of the same
# layers by nature: directory sizes and link counts (a FUSE layer reports
# its own), the origin records copy-up writes (file handles of the layer).
merged_manifest() {
	ovl_tree_manifest "$1" | sed -E \
		-e 's/^(\.[^|]*\|d\|[^|]*\|[^|]*)\|[0-9]+\|/\1|DIRSIZE|/' \
		-e '/overlay\.(origin|impure)=/d'
}

# A fixed sequence of changes through the mount: copy-ups of every kind,
# whiteouts, an opaque directory, renames, hard links, xattrs.
write_through() {
	local m="$1" start
	start="$(date +%s.%N)"
	sleep 0.01
	echo appended >>"$m/file1"
	echo over >"$m/file2"
	chmod 0600 "$m/shadow"
	chown 42:43 "$m/owned"
	setfattr -n user.new -v value "$m/xattr_file"
	rm "$m/dir/a"
	rm -r "$m/dir/sub"
	mkdir "$m/dir/sub"
	echo new >"$m/dir/sub/new"
	mv "$m/merged" "$m/moved" 2>/dev/null || cp -a "$m/merged" "$m/moved"
	ln "$m/file2" "$m/hard"
	ln -s dir "$m/dirlink"
	touch -d '2010-01-01 00:00:00' "$m/suid"
	truncate -s 1M "$m/sparse"
	# what changed now has one time in both runs
	sleep 0.01
	find "$m" -newermt "@$start" -exec touch -h -d '2020-02-02 02:02:02' {} +
}

@test "//direct/ layers give the tree of the directories read directly, before and after writes" {
	make_layers
	ovl_mount
	merged_manifest "$MNT" >"$TMP/plain.before"
	write_through "$MNT"
	merged_manifest "$MNT" >"$TMP/plain.after"
	ovl_umount
	rm -rf "$UPPER" "$WORK"
	mkdir "$UPPER" "$WORK"

	LOWERDIRS="//direct/-/$LOWER1://direct/-/$LOWER2" ovl_mount
	[ -n "$(servers_of direct)" ]
	merged_manifest "$MNT" >"$TMP/direct.before"
	diff -u "$TMP/plain.before" "$TMP/direct.before"
	write_through "$MNT"
	merged_manifest "$MNT" >"$TMP/direct.after"
	diff -u "$TMP/plain.after" "$TMP/direct.after"
	ovl_umount
	# the serving processes end with the mount
	ovl_wait_until "the direct plugin's servers to exit" no_server_of direct
	no_server_of direct
}

@test "a plugin built from the installed header alone serves its layer, copy-up included" {
	build_demo "$TMP/demo.so"
	echo bottom >"$LOWER2/bottom"
	LOWERDIRS="//demo/world/unused:$LOWER2" ovl_mount plugins="$TMP/demo.so"
	assert_eq "hello from world" "$(cat "$MNT/greeting")"
	assert_eq "bottom" "$(cat "$MNT/bottom")"
	assert_eq "../greeting" "$(readlink "$MNT/sub/link")"
	assert_eq "hello from world" "$(cat "$MNT/sub/link")"
	assert_eq "yes" "$(getfattr --only-values -n user.demo "$MNT/sub")"
	run ls "$MNT"
	assert_output "$(printf 'bottom\ngreeting\nsub')"
	echo again >>"$MNT/greeting"
	assert_eq "$(printf 'hello from world\nagain')" "$(cat "$UPPER/greeting")"
	rm "$MNT/sub/link"
	is_whiteout "$UPPER/sub/link"
	# the server holds no capability and may gain none
	local pid
	pid="$(servers_of demo)"
	[ -n "$pid" ]
	grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"
	grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status"
	ovl_umount
	ovl_wait_until "the demo plugin's server to exit" no_server_of demo
}

@test "plugins given by a bad file, a bad descriptor or a bad layer spec: one line, exit 1, nothing mounted" {
	build_demo "$TMP/demo.so"
	build_demo "$TMP/noentry.so" -DDEMO_NO_ENTRY
	build_demo "$TMP/abi2.so" -DDEMO_ABI=2
	build_demo "$TMP/noread.so" -DDEMO_NO_READ
	echo 'not an ELF' >"$TMP/text.so"
	local base="upperdir=$UPPER,workdir=$WORK"
	expect_mount_error "cannot load plugin" -o "$base,lowerdir=$LOWER1,plugins=$TMP/missing.so" "$MNT"
	expect_mount_error "cannot load plugin" -o "$base,lowerdir=$LOWER1,plugins=$TMP/text.so" "$MNT"
	expect_mount_error "not a fuse-overlayfs plugin" -o "$base,lowerdir=$LOWER1,plugins=$TMP/noentry.so" "$MNT"
	expect_mount_error "ABI 2" -o "$base,lowerdir=$LOWER1,plugins=$TMP/abi2.so" "$MNT"
	expect_mount_error "lacks a required operation" -o "$base,lowerdir=$LOWER1,plugins=$TMP/noread.so" "$MNT"
	expect_mount_error "is loaded already" -o "$base,lowerdir=$LOWER1,plugins=$TMP/demo.so:$TMP/demo.so" "$MNT"
	expect_mount_error "no plugin named 'nosuch'" -o "$base,lowerdir=//nosuch/-/x:$LOWER1" "$MNT"
	expect_mount_error "//NAME/DATA/PATH" -o "$base,lowerdir=//demo:$LOWER1,plugins=$TMP/demo.so" "$MNT"
	expect_mount_error "//NAME/DATA/PATH" -o "$base,lowerdir=//demo/x/:$LOWER1,plugins=$TMP/demo.so" "$MNT"
	expect_mount_error "takes no data" -o "$base,lowerdir=//direct/x/$LOWER1" "$MNT"
	expect_mount_error "No such file" -o "$base,lowerdir=//direct/-/$TMP/missing" "$MNT"
	expect_mount_error "DATA is too long" -o "$base,lowerdir=//demo/$(printf 'x%.0s' {1..300})/p,plugins=$TMP/demo.so" "$MNT"
	expect_mount_error "lower layers only" -o "lowerdir=$LOWER1,upperdir=//direct/-/$UPPER,workdir=$WORK" "$MNT"
	# a failed load leaves no server behind
	ovl_wait_until "the demo plugin's servers to exit" no_server_of demo
	no_server_of demo
	no_server_of direct
}

@test "a plugin layer in a user namespace (rootless podman's case)" {
	make_layers
	run timeout 120 unshare -Urm sh -c '
		"$1" -o "lowerdir=//direct/-/$2://direct/-/$3,upperdir=$4,workdir=$5" "$6" || exit 1
		cat "$6/file1" "$6/file2" && echo x >>"$6/file1" && cat "$4/file1"
		umount "$6"' sh "$FUSE_OVERLAYFS" "$LOWER1" "$LOWER2" "$UPPER" "$WORK" "$MNT"
	assert_status 0
	assert_output "$(printf 'lower1 file\nlower2 file\nlower1 file\nx')"
}
