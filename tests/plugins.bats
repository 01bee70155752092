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
	(cd "$1" && find . -mindepth 1 ! -type d -printf '%p|nlink=%n\n' | LC_ALL=C sort)
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
	expect_mount_error "fuse-overlayfs 1.x plugin" -o "$base,lowerdir=$LOWER1,plugins=$TMP/noentry.so" "$MNT"
	# a shared object that is no plugin at all
	expect_mount_error "not a fuse-overlayfs plugin" -o "$base,lowerdir=$LOWER1,plugins=$(gcc -print-file-name=libz.so)" "$MNT"
	expect_mount_error "ABI 2" -o "$base,lowerdir=$LOWER1,plugins=$TMP/abi2.so" "$MNT"
	expect_mount_error "lacks a required operation" -o "$base,lowerdir=$LOWER1,plugins=$TMP/noread.so" "$MNT"
	expect_mount_error "is loaded already" -o "$base,lowerdir=$LOWER1,plugins=$TMP/demo.so:$TMP/demo.so" "$MNT"
	# a bare name is a plugin installed with the program
	local dir
	dir="$("$FUSE_OVERLAYFS" --help 2>&1 | sed -n 's/.*installed in \([^ ]*\) .*/\1/p')"
	[ -n "$dir" ]
	expect_mount_error "cannot load plugin '$dir/nosuch.so'" -o "$base,lowerdir=$LOWER1,plugins=nosuch" "$MNT"
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

@test "a plugin that crashes costs its layer's reads, not the daemon" {
	build_demo "$TMP/crash.so" -DDEMO_CRASH
	echo bottom >"$LOWER2/bottom"
	LOWERDIRS="//demo/x/unused:$LOWER2" ovl_mount plugins="$TMP/crash.so"
	assert_eq bottom "$(cat "$MNT/bottom")"
	run cat "$MNT/greeting"
	[ "$status" != 0 ]
	ovl_wait_until "the crashed server to be gone" no_server_of demo
	# the daemon lives on: what was found already still reads; a name
	# not yet looked up cannot be (the dead layer might hide it), an
	# error, never "not there"
	assert_eq bottom "$(cat "$MNT/bottom")"
	run stat "$MNT/unseen"
	[ "$status" != 0 ]
	[[ $output != *"No such file"* ]]
	ovl_alive "$OVL_PID"
	ovl_umount
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

# pack_layer DIR OUT: DIR as an image layer tarball, every xattr kept
# (trusted.overlay.opaque, user.*), times to the nanosecond (pax)
pack_layer() {
	tar --format=pax --xattrs --xattrs-include='*' --numeric-owner -C "$1" -cf "$2" .
}

@test "tar layers (plain, gzip, zstd) give the tree of the same layers unpacked, before and after writes" {
	tar_plugin
	make_layers
	# hard links inside a layer: one node of the archive, two names
	ln "$LOWER2/file2" "$LOWER2/file2.link"
	ln "$LOWER1/suid" "$LOWER1/dir/suid.link"
	ovl_snapshot_lowers
	ovl_mount
	merged_manifest "$MNT" >"$TMP/plain.before"
	write_through "$MNT"
	merged_manifest "$MNT" >"$TMP/plain.after"
	ovl_umount
	pack_layer "$LOWER1" "$TMP/l1.tar"
	pack_layer "$LOWER2" "$TMP/l2.tar"
	gzip -k "$TMP/l1.tar" "$TMP/l2.tar"
	zstd -q "$TMP/l1.tar" "$TMP/l2.tar"
	local c
	for c in "" .gz .zst; do
		rm -rf "$UPPER" "$WORK"
		mkdir "$UPPER" "$WORK"
		LOWERDIRS="//tar/-/$TMP/l1.tar$c://tar/-/$TMP/l2.tar$c" ovl_mount plugins="$TAR_SO"
		merged_manifest "$MNT" >"$TMP/tar$c.before"
		diff -u "$TMP/plain.before" "$TMP/tar$c.before"
		write_through "$MNT"
		merged_manifest "$MNT" >"$TMP/tar$c.after"
		diff -u "$TMP/plain.after" "$TMP/tar$c.after"
		ovl_umount
	done
}

# bad_archives DIR: one malformed layer per kind, made byte by byte
bad_archives() {
	python3 - "$1" <<'PY'
import io, sys, tarfile
d = sys.argv[1]
def make(name, members, fmt=tarfile.PAX_FORMAT, pax=None):
    with tarfile.open(f"{d}/{name}", "w", format=fmt, pax_headers=pax or {}) as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
def reg(n, data=b"x"):
    i = tarfile.TarInfo(n); i.size = len(data); return (i, data)
def link(n, target):
    i = tarfile.TarInfo(n); i.type = tarfile.LNKTYPE; i.linkname = target; return (i, None)
def dirent(n):
    i = tarfile.TarInfo(n); i.type = tarfile.DIRTYPE; i.mode = 0o755; return (i, None)
make("dotdot.tar", [reg("ok"), reg("a/../../escape")])
make("absolute.tar", [reg("/etc/evil")])
make("link-missing.tar", [link("l", "nowhere"), reg("nowhere")])
make("link-dir.tar", [dirent("d"), link("l", "d")])
make("long-component.tar", [reg("x" * 300)])
make("huge-pax.tar", [reg("f")], pax={"comment": "y" * (2 << 20)})
good = io.BytesIO()
with tarfile.open(fileobj=good, mode="w", format=tarfile.GNU_FORMAT) as t:
    i, data = reg("big", b"z" * 100000); t.addfile(i, io.BytesIO(data))
raw = good.getvalue()
open(f"{d}/truncated.tar", "wb").write(raw[:50000])
bad = bytearray(raw); bad[148:156] = b"0000000\0"
open(f"{d}/checksum.tar", "wb").write(bytes(bad))
huge = bytearray(raw[:512]); huge[124:136] = b"77777777777\0"
s = sum(huge[:148]) + 8 * 32 + sum(huge[156:]); huge[148:156] = b"%06o\0 " % s
open(f"{d}/size-beyond.tar", "wb").write(bytes(huge) + b"\0" * 1024)
PY
}

@test "malformed tar layers: the mount fails with one line naming the fault, nothing served" {
	tar_plugin
	bad_archives "$TMP"
	local base="plugins=$TAR_SO,upperdir=$UPPER,workdir=$WORK"
	expect_mount_error "'..' in name" -o "$base,lowerdir=//tar/-/$TMP/dotdot.tar" "$MNT"
	expect_mount_error "absolute name" -o "$base,lowerdir=//tar/-/$TMP/absolute.tar" "$MNT"
	expect_mount_error "no such earlier entry" -o "$base,lowerdir=//tar/-/$TMP/link-missing.tar" "$MNT"
	expect_mount_error "a directory" -o "$base,lowerdir=//tar/-/$TMP/link-dir.tar" "$MNT"
	expect_mount_error "longer than 255" -o "$base,lowerdir=//tar/-/$TMP/long-component.tar" "$MNT"
	expect_mount_error "too large" -o "$base,lowerdir=//tar/-/$TMP/huge-pax.tar" "$MNT"
	expect_mount_error "truncated" -o "$base,lowerdir=//tar/-/$TMP/truncated.tar" "$MNT"
	expect_mount_error "checksum" -o "$base,lowerdir=//tar/-/$TMP/checksum.tar" "$MNT"
	expect_mount_error "truncated|bad size" -o "$base,lowerdir=//tar/-/$TMP/size-beyond.tar" "$MNT"
	expect_mount_error "unknown option 'zzz'" -o "$base,lowerdir=//tar/zzz/$TMP/checksum.tar" "$MNT"
	expect_mount_error "No such file" -o "$base,lowerdir=//tar/-/$TMP/missing.tar" "$MNT"
	ovl_wait_until "the tar plugin's servers to exit" no_server_of tar
	no_server_of tar
}

@test "tar layers: random 4 KiB reads inside large compressed files match the original bytes" {
	tar_plugin
	mkdir "$TMP/src"
	head -c 48M /dev/urandom >"$TMP/src/random"
	# compressible too: gzip and zstd then cover many bytes per block
	seq 1 6000000 >"$TMP/src/text"
	pack_layer "$TMP/src" "$TMP/l.tar"
	gzip -k "$TMP/l.tar"
	zstd -q "$TMP/l.tar"
	# several frames, as zstd:chunked layers are
	split -b 8M "$TMP/l.tar" "$TMP/part."
	for p in "$TMP"/part.*; do zstd -q -c "$p"; done >"$TMP/l.frames.tar.zst"
	local layer
	for layer in l.tar.gz l.tar.zst l.frames.tar.zst; do
		LOWERDIRS="//tar/-/$TMP/$layer" OVL_NO_UPPER=1 ovl_mount plugins="$TAR_SO"
		run "$OVLTOOL" cmpreads "$TMP/src/random" "$MNT/random" 4096 300
		assert_output ok
		run "$OVLTOOL" cmpreads "$TMP/src/text" "$MNT/text" 4096 300
		assert_output ok
		ovl_umount
	done
}

@test "the man page's example: an image mounted from its layer blobs and a directory" {
	tar_plugin
	mkdir -p "$TMP/src1/etc" "$TMP/src2/etc" "$TMP/dir/layer3/etc"
	echo base >"$TMP/src1/etc/os-release"
	echo one >"$TMP/src1/etc/only1"
	echo two >"$TMP/src2/etc/os-release"
	: >"$TMP/src2/etc/.wh.only1"
	echo three >"$TMP/dir/layer3/etc/added"
	pack_layer "$TMP/src1" "$TMP/layer1.tar"
	pack_layer "$TMP/src2" "$TMP/layer2.tar"
	gzip "$TMP/layer1.tar"
	zstd -q --rm "$TMP/layer2.tar"
	# as written there, but for the plugin's path and the places
	(cd "$TMP" && "$FUSE_OVERLAYFS" -o plugins="$TAR_SO" \
		-o lowerdir=dir/layer3://tar/-/layer2.tar.zst://tar/-/layer1.tar.gz \
		-o upperdir=upper,workdir=work mnt)
	ovl_wait_until "the mount" mountpoint -q "$MNT"
	run ls "$MNT/etc"
	assert_output "$(printf 'added\nos-release')"
	assert_eq two "$(cat "$MNT/etc/os-release")"
	echo changed >"$MNT/etc/os-release"
	assert_eq changed "$(cat "$UPPER/etc/os-release")"
	umount "$MNT"
	ovl_wait_until "the tar plugin's servers to exit" no_server_of tar
}
