#!/usr/bin/env bats
# Every filesystem operation through the mount.

load helpers

setup() {
	ovl_setup
	make_layers
	ovl_mount
}

@test "lookup and getattr of lower, upper and missing entries" {
	[ -f "$MNT/file1" ]
	[ -f "$MNT/dir/sub/deep" ]
	[ ! -e "$MNT/nope" ]
	run stat "$MNT/nope"
	assert_output_contains "No such file or directory"
	assert_eq "1234:5678 640 6" "$(stat -c '%u:%g %a %s' "$MNT/owned")"
	assert_eq "4755" "$(stat -c %a "$MNT/suid")"
	assert_eq "$(stat -c %Y "$LOWER1/file1")" "$(stat -c %Y "$MNT/file1")"
}

@test "chmod copies up and changes only the mode" {
	chmod 0600 "$MNT/file2"
	assert_eq 600 "$(stat -c %a "$MNT/file2")"
	assert_eq 600 "$(stat -c %a "$UPPER/file2")"
	assert_eq "lower2 file" "$(cat "$UPPER/file2")"
	assert_eq 644 "$(stat -c %a "$LOWER2/file2")"
	chmod 0711 "$MNT/dir"
	assert_eq 711 "$(stat -c %a "$MNT/dir")"
}

@test "chown copies up with the new owner" {
	chown 42:43 "$MNT/file1"
	assert_eq "42:43" "$(stat -c %u:%g "$MNT/file1")"
	assert_eq "42:43" "$(stat -c %u:%g "$UPPER/file1")"
	chown -h 7:8 "$MNT/link"
	assert_eq "7:8" "$(stat -c %u:%g "$MNT/link")"
	assert_eq "file1" "$(readlink "$MNT/link")"
}

@test "truncate shrinks and grows a lower file" {
	truncate -s 3 "$MNT/file1"
	assert_eq "low" "$(cat "$MNT/file1")"
	truncate -s 100 "$MNT/file1"
	assert_eq 100 "$(stat -c %s "$MNT/file1")"
	assert_eq 100 "$(stat -c %s "$UPPER/file1")"
	: >"$MNT/file2"
	assert_eq 0 "$(stat -c %s "$MNT/file2")"
}

@test "utimens: touch -d sets mtime and atime" {
	touch -d '2010-01-02 03:04:05' "$MNT/file2"
	assert_eq "$(date -d '2010-01-02 03:04:05' +%s)" "$(stat -c %Y "$MNT/file2")"
	assert_eq "$(date -d '2010-01-02 03:04:05' +%s)" "$(stat -c %X "$MNT/file2")"
	touch -m -d '2011-01-01 00:00:00' "$MNT/dir"
	assert_eq "$(date -d '2011-01-01' +%s)" "$(stat -c %Y "$MNT/dir")"
	touch -h -d '2012-01-01 00:00:00' "$MNT/link"
	assert_eq "$(date -d '2012-01-01' +%s)" "$(stat -c %Y "$MNT/link")"
}

@test "readlink of lower symlinks" {
	assert_eq file1 "$(readlink "$MNT/link")"
	assert_eq nowhere "$(readlink "$MNT/dangling")"
	assert_eq "lower1 file" "$(cat "$MNT/link")"
	[ -L "$MNT/dangling" ]
	[ ! -e "$MNT/dangling" ]
}

@test "mknod: fifo, socket and character device" {
	mkfifo "$MNT/fifo"
	[ -p "$MNT/fifo" ]
	[ -p "$UPPER/fifo" ]
	mknod "$MNT/chr" c 1 3
	[ -c "$MNT/chr" ]
	assert_eq "1:3" "$(stat -c '%t:%T' "$MNT/chr")"
	mknod "$MNT/blk" b 7 0
	[ -b "$MNT/blk" ]
	run python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('$MNT/sock')"
	assert_status 0
	[ -S "$MNT/sock" ]
	[ -S "$UPPER/sock" ]
}

@test "mkdir, including inside lower directories" {
	mkdir "$MNT/newdir"
	mkdir -p "$MNT/lowdir/l1/l2/n1/n2"
	[ -d "$UPPER/lowdir/l1/l2/n1/n2" ]
	[ -f "$MNT/lowdir/l1/l2/f" ]
	run mkdir "$MNT/dir"
	assert_output_contains "File exists"
	mkdir -m 0700 "$MNT/private"
	assert_eq 700 "$(stat -c %a "$MNT/private")"
}

@test "unlink of upper, lower and merged-over files" {
	echo u >"$MNT/up"
	rm "$MNT/up"
	[ ! -e "$MNT/up" ]
	[ ! -e "$UPPER/up" ]
	rm "$MNT/file2"
	[ ! -e "$MNT/file2" ]
	is_whiteout "$UPPER/file2"
	rm "$MNT/shadow"
	[ ! -e "$MNT/shadow" ]
	run rm "$MNT/nope"
	[ "$status" -ne 0 ]
	run ls "$MNT"
	[[ "$output" != *file2* && "$output" != *shadow* ]]
}

@test "rmdir of lower, empty and non-empty directories" {
	run rmdir "$MNT/dir"
	[ "$status" -ne 0 ]
	assert_output_contains "not empty"
	rm -r "$MNT/lowdir"
	[ ! -e "$MNT/lowdir" ]
	is_whiteout "$UPPER/lowdir"
	mkdir "$MNT/e"
	rmdir "$MNT/e"
	[ ! -e "$UPPER/e" ]
	rm "$MNT/merged/x" "$MNT/merged/y"
	rmdir "$MNT/merged"
	[ ! -e "$MNT/merged" ]
}

@test "symlink creation" {
	ln -s dir/a "$MNT/sl"
	assert_eq dir/a "$(readlink "$MNT/sl")"
	assert_eq a "$(cat "$MNT/sl")"
	assert_eq dir/a "$(readlink "$UPPER/sl")"
	local long
	long="$(printf 'x%.0s' $(seq 1000))"
	ln -s "$long" "$MNT/longlink"
	assert_eq "$long" "$(readlink "$MNT/longlink")"
}

@test "rename of files: new name, over existing, back and forth" {
	mv "$MNT/file2" "$MNT/renamed"
	[ ! -e "$MNT/file2" ]
	assert_eq "lower2 file" "$(cat "$MNT/renamed")"
	mv "$MNT/renamed" "$MNT/file1"
	assert_eq "lower2 file" "$(cat "$MNT/file1")"
	mv "$MNT/file1" "$MNT/file2"
	assert_eq "lower2 file" "$(cat "$MNT/file2")"
	[ ! -e "$MNT/file1" ]
	mv "$MNT/dir/a" "$MNT/merged/a"
	assert_eq a "$(cat "$MNT/merged/a")"
	run ls "$MNT/dir"
	assert_output "$(printf 'b\nc\nsub')"
}

@test "rename with RENAME_NOREPLACE" {
	assert_errno EEXIST ovltool rename2 noreplace "$MNT/file1" "$MNT/file2"
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	assert_errno ok ovltool rename2 noreplace "$MNT/file1" "$MNT/fresh"
	assert_eq "lower1 file" "$(cat "$MNT/fresh")"
	# a whited-out name counts as free
	rm "$MNT/file2"
	assert_errno ok ovltool rename2 noreplace "$MNT/fresh" "$MNT/file2"
	assert_eq "lower1 file" "$(cat "$MNT/file2")"
}

@test "rename with RENAME_EXCHANGE" {
	echo u >"$MNT/up"
	assert_errno ok ovltool rename2 exchange "$MNT/file1" "$MNT/up"
	assert_eq u "$(cat "$MNT/file1")"
	assert_eq "lower1 file" "$(cat "$MNT/up")"
	assert_errno ok ovltool rename2 exchange "$MNT/file1" "$MNT/file2"
	assert_eq u "$(cat "$MNT/file2")"
	assert_eq "lower2 file" "$(cat "$MNT/file1")"
	assert_errno ENOENT ovltool rename2 exchange "$MNT/file1" "$MNT/nope"
}

@test "rename of a lower directory: EXDEV or a correct move" {
	run ovltool rename2 none "$MNT/lowdir" "$MNT/moved"
	if [ "$output" = EXDEV ]; then
		[ -f "$MNT/lowdir/l1/l2/f" ]
		[ ! -e "$MNT/moved" ]
	else
		assert_output ok
		[ ! -e "$MNT/lowdir" ]
		assert_eq f "$(cat "$MNT/moved/l1/l2/f")"
	fi
	# an upper-only directory always renames
	mkdir -p "$MNT/updir/x"
	assert_errno ok ovltool rename2 none "$MNT/updir" "$MNT/updir2"
	[ -d "$MNT/updir2/x" ]
}

@test "hard links of lower and upper files keep nlink consistent" {
	ln "$MNT/file1" "$MNT/hl"
	assert_eq 2 "$(stat -c %h "$MNT/file1")"
	assert_eq 2 "$(stat -c %h "$MNT/hl")"
	assert_eq "$(stat -c %i "$MNT/file1")" "$(stat -c %i "$MNT/hl")"
	echo more >>"$MNT/hl"
	assert_eq "$(cat "$MNT/hl")" "$(cat "$MNT/file1")"
	rm "$MNT/hl"
	assert_eq 1 "$(stat -c %h "$MNT/file1")"
	echo u >"$MNT/u"
	ln "$MNT/u" "$MNT/u2"
	assert_eq 2 "$(stat -c %h "$MNT/u")"
	assert_eq 2 "$(stat -c %h "$UPPER/u")"
}

@test "open, create, read, write, append" {
	echo hello >"$MNT/new"
	assert_eq hello "$(cat "$MNT/new")"
	echo world >>"$MNT/new"
	assert_eq "$(printf 'hello\nworld')" "$(cat "$MNT/new")"
	echo app >>"$MNT/file2"
	assert_eq "$(printf 'lower2 file\napp')" "$(cat "$MNT/file2")"
	assert_errno EEXIST ovltool openflags "$MNT/file1" wronly creat excl
	assert_errno ok ovltool openflags "$MNT/file1" rdonly
	assert_errno ELOOP ovltool openflags "$MNT/link" rdonly nofollow
	assert_errno ENOTDIR ovltool openflags "$MNT/file1" rdonly directory
	printf 'XY' | dd of="$MNT/file1" bs=1 seek=2 conv=notrunc status=none
	assert_eq "loXYr1 file" "$(cat "$MNT/file1")"
	assert_eq "lower1 file" "$(cat "$LOWER1/file1")"
}

@test "fsync and fdatasync" {
	assert_errno ok ovltool fsync "$MNT/file1"
	assert_errno ok ovltool fsync "$MNT/newsync"
	sync -f "$MNT/file1"
}

@test "statfs reports the upper filesystem" {
	run stat -f -c '%b %S' "$MNT"
	assert_status 0
	local mb ub
	mb=$(stat -f -c %b "$MNT")
	ub=$(stat -f -c %b "$UPPER")
	assert_eq "$ub" "$mb" "total blocks"
	df "$MNT" >/dev/null
}

@test "xattrs: get, set, list, remove on lower and upper files" {
	assert_eq hello "$(getfattr --only-values -n user.test "$MNT/xattr_file")"
	setfattr -n user.new -v v1 "$MNT/xattr_file"
	assert_eq v1 "$(getfattr --only-values -n user.new "$MNT/xattr_file")"
	assert_eq hello "$(getfattr --only-values -n user.test "$UPPER/xattr_file")"
	run getfattr --absolute-names -d "$MNT/xattr_file"
	assert_output_contains 'user.new="v1"'
	assert_output_contains 'user.test="hello"'
	setfattr -x user.test "$MNT/xattr_file"
	run getfattr -n user.test "$MNT/xattr_file"
	[ "$status" -ne 0 ]
	assert_output_contains "No such attribute"
	echo u >"$MNT/u"
	setfattr -n user.a -v 1 "$MNT/u"
	assert_eq 1 "$(getfattr --only-values -n user.a "$UPPER/u")"
	# a lower file's xattr change copies it up only
	[ -z "$(getfattr --absolute-names -d "$LOWER2/xattr_file" | grep user.new)" ]
}

@test "xattrs: internal names are hidden and refused" {
	echo u >"$MNT/u"
	mkdir "$MNT/od"
	setfattr -n user.overlay.foo -v 1 "$UPPER/u" || true
	setfattr -n user.fuseoverlayfs.foo -v 1 "$UPPER/u"
	setfattr -n user.containers.override_stat -v 0:0:0644 "$UPPER/u"
	setfattr -n trusted.overlay.foo -v 1 "$UPPER/u"
	run getfattr --absolute-names -d -m - "$MNT/u" "$MNT/opq" "$MNT"
	[[ "$output" != *overlay* ]]
	[[ "$output" != *fuseoverlayfs* ]]
	[[ "$output" != *override_* ]]
	local x
	for x in trusted.overlay.opaque user.overlay.opaque user.fuseoverlayfs.opaque user.containers.override_stat; do
		run setfattr -n "$x" -v y "$MNT/od"
		[ "$status" -ne 0 ] || {
			echo "# $x was settable through the mount" >&2
			false
		}
	done
	assert_eq "visible" "$(ls "$MNT/opq")"
}

@test "access(2) follows the mode" {
	assert_errno ok ovltool access "$MNT/file1" rw
	assert_errno ok ovltool access "$MNT/suid" x
	assert_errno EACCES ovltool access "$MNT/file1" x
	assert_errno ENOENT ovltool access "$MNT/nope" f
}

@test "fallocate allocates and punches" {
	assert_errno ok ovltool fallocate "$MNT/fa" 0 1048576
	assert_eq 1048576 "$(stat -c %s "$MNT/fa")"
	assert_errno ok ovltool fallocate "$MNT/file1" 0 8192 keep
	assert_eq 12 "$(stat -c %s "$MNT/file1")"
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	head -c 65536 /dev/urandom >"$MNT/punch"
	assert_errno ok ovltool fallocate "$MNT/punch" 4096 8192 punch
	assert_eq 65536 "$(stat -c %s "$MNT/punch")"
	[ "$(dd if="$MNT/punch" bs=4096 skip=1 count=2 status=none | tr -d '\0' | wc -c)" = 0 ]
}

@test "copy_file_range between lower and upper files" {
	assert_errno ok ovltool cfr "$MNT/sparse" "$MNT/copy"
	cmp "$LOWER1/sparse" "$MNT/copy"
	assert_errno ok ovltool cfr "$MNT/file1" "$MNT/file2"
	assert_eq "lower1 file" "$(cat "$MNT/file2")"
}

@test "lseek SEEK_DATA/SEEK_HOLE on a sparse lower file" {
	run ovltool seek "$MNT/sparse" data 0
	assert_output 0
	run ovltool seek "$MNT/sparse" hole 0
	[ "$output" -gt 0 ]
	[ "$output" -le $((5 * 1048576)) ]
	run ovltool seek "$MNT/sparse" data 65536
	[ "$output" -ge 65536 ]
	[ "$output" -le $((5 * 1048576)) ]
	run ovltool seek "$MNT/sparse" data $((6 * 1048576))
	assert_output ENXIO
}

# The libfuse the binary runs with (libfuse 3.14 has no tmpfile operation).
libfuse_version() {
	"$FUSE_OVERLAYFS" --version 2>&1 | sed -n 's/^FUSE library version \([0-9]*\.[0-9]*\).*/\1/p'
}

@test "O_TMPFILE: anonymous file, then linked in" {
	local v
	v="$(libfuse_version)"
	if [ "${v%%.*}" = 3 ] && [ "${v#*.}" -lt 15 ]; then
		skip "built with libfuse $v, which has no tmpfile operation (O_TMPFILE gives EOPNOTSUPP)"
	fi
	run ovltool tmpfile "$MNT/dir" "$MNT/dir/linked"
	assert_output ok
	assert_eq tmpdata "$(cat "$MNT/dir/linked")"
	assert_eq tmpdata "$(cat "$UPPER/dir/linked")"
	assert_eq 1 "$(stat -c %h "$MNT/dir/linked")"
}

@test "O_TMPFILE: never linked, nothing stays; in a lower directory, copied up" {
	local v
	v="$(libfuse_version)"
	if [ "${v%%.*}" = 3 ] && [ "${v#*.}" -lt 15 ]; then
		skip "built with libfuse $v, which has no tmpfile operation"
	fi
	local before
	before="$(ls -A "$UPPER/dir" 2>/dev/null | sort)"
	run ovltool tmpfile "$MNT/dir"
	assert_output ok
	assert_eq "$before" "$(ls -A "$UPPER/dir" 2>/dev/null | sort)"
	# a lower-only directory is copied up to hold the file
	[ ! -e "$UPPER/lowdir" ]
	run ovltool tmpfile "$MNT/lowdir" "$MNT/lowdir/t"
	assert_output ok
	assert_eq tmpdata "$(cat "$UPPER/lowdir/t")"
}

@test "file handles: name_to_handle_at refused with EOPNOTSUPP, as kernel overlayfs without nfs_export" {
	mkdir -p "$TMP/ku" "$TMP/kw" "$TMP/kmnt"
	mount -t overlay overlay -o "lowerdir=$LOWER1,upperdir=$TMP/ku,workdir=$TMP/kw,nfs_export=off" "$TMP/kmnt"
	local kernel ours
	kernel="$(ovltool handle "$TMP/kmnt/file1" || true)"
	umount "$TMP/kmnt"
	ours="$(ovltool handle "$MNT/file1" || true)"
	assert_eq EOPNOTSUPP "$kernel" "kernel overlayfs"
	assert_eq "$kernel" "$ours"
}

@test "a file unlinked while open stays readable and writable" {
	echo data >"$MNT/open_up"
	run ovltool unlinked "$MNT/open_up"
	assert_output "data
+more|size=10"
	run ovltool unlinked "$MNT/file1"
	assert_output "lower1 file
+more|size=17"
	[ ! -e "$MNT/file1" ]
	assert_eq "lower1 file" "$(cat "$LOWER1/file1")"
}

@test "inode numbers: stat equals readdir, unique, stable across remount" {
	local f
	ovltool readdir "$MNT" | sort -k2 >"$TMP/rd"
	while read -r ino name; do
		assert_eq "$(stat -c %i "$MNT/$name")" "$ino" "ino of $name"
	done <"$TMP/rd"
	ovltool readdir "$MNT/dir" | while read -r ino name; do
		assert_eq "$(stat -c %i "$MNT/dir/$name")" "$ino" "ino of dir/$name"
	done
	run bash -c "find '$MNT' -printf '%i\n' | sort | uniq -d"
	assert_output ""
	find "$MNT" -printf '%P %i\n' | sort >"$TMP/before"
	ovl_umount
	ovl_mount
	find "$MNT" -printf '%P %i\n' | sort >"$TMP/after"
	diff -u "$TMP/before" "$TMP/after"
}

@test "inode number of a file stays the same across copy-up" {
	local before
	before=$(stat -c %i "$MNT/file2")
	echo x >>"$MNT/file2"
	assert_eq "$before" "$(stat -c %i "$MNT/file2")"
}

@test "readdir merges layers, hides whiteouts and opaque lower content" {
	run ls -A "$MNT"
	assert_output "$(printf '%s\n' dangling dir file1 file2 link lowdir merged opq owned shadow sparse suid xattr_file)"
	run ls -A "$MNT/merged"
	assert_output "$(printf 'x\ny')"
	run ls -A "$MNT/opq"
	assert_output visible
	run ls -a "$MNT/dir"
	assert_output "$(printf '%s\n' . .. a b c sub)"
}
