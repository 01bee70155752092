#!/usr/bin/env bats
# Layer semantics: whiteouts, opaque directories, copy-up, many layers,
# big directories, and compatibility with kernel overlayfs layers.

load helpers

KOPTS="index=off,redirect_dir=off,metacopy=off,xino=off"

# merged view of a mounted tree, without times and inode numbers
view() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\n' | LC_ALL=C sort
		find . -mindepth 1 -type f -print0 | xargs -0 -r sha256sum | LC_ALL=C sort -k2
		getfattr -R -P -d -m '^user\.' --absolute-names . 2>/dev/null |
			awk '/^# file: / { f = substr($0, 9); next } NF { print "xattr " f " " $0 }' | LC_ALL=C sort
	)
}

@test "lower whiteout as char 0/0 hides the file below" {
	make_layers
	ovl_mount
	[ ! -e "$MNT/gone" ]
	run ls -A "$MNT"
	[[ "$output" != *gone* ]]
	run stat "$MNT/gone"
	assert_output_contains "No such file or directory"
	ovl_umount
}

@test "lower whiteout as .wh.NAME hides the file and itself" {
	make_layers
	ovl_mount
	[ ! -e "$MNT/gone_wh" ]
	[ ! -e "$MNT/.wh.gone_wh" ]
	run ls -A "$MNT"
	[[ "$output" != *gone_wh* ]]
	ovl_umount
}

@test "a whited-out name can be created again" {
	make_layers
	ovl_mount
	echo new >"$MNT/gone"
	echo new2 >"$MNT/gone_wh"
	assert_eq new "$(cat "$MNT/gone")"
	assert_eq new2 "$(cat "$MNT/gone_wh")"
	ovl_umount
	ovl_mount
	assert_eq new "$(cat "$MNT/gone")"
	assert_eq new2 "$(cat "$MNT/gone_wh")"
	ovl_umount
}

# opaque_case SETUP: lower2 has od/{hidden}, lower1 has od/{visible}, SETUP
# marks lower1/od opaque in one form.
opaque_case() {
	mkdir -p "$LOWER2/od" "$LOWER1/od"
	echo hidden >"$LOWER2/od/hidden"
	echo visible >"$LOWER1/od/visible"
	"$@"
	ovl_snapshot_lowers
	ovl_mount
	run ls -A "$MNT/od"
	assert_output visible
	[ ! -e "$MNT/od/hidden" ]
	ovl_umount
}

@test "opaque dir: trusted.overlay.opaque=y" {
	opaque_case setfattr -n trusted.overlay.opaque -v y "$LOWER1/od"
}

@test "opaque dir: user.overlay.opaque=y" {
	opaque_case setfattr -n user.overlay.opaque -v y "$LOWER1/od"
}

@test "opaque dir: user.fuseoverlayfs.opaque=y" {
	opaque_case setfattr -n user.fuseoverlayfs.opaque -v y "$LOWER1/od"
}

@test "opaque dir: .wh..wh..opq file" {
	opaque_case touch "$LOWER1/od/.wh..wh..opq"
}

@test "opaque upper dir hides all lower layers" {
	mkdir -p "$LOWER2/od" "$LOWER1/od" "$UPPER/od"
	echo l2 >"$LOWER2/od/l2"
	echo l1 >"$LOWER1/od/l1"
	echo up >"$UPPER/od/up"
	setfattr -n trusted.overlay.opaque -v y "$UPPER/od"
	ovl_mount
	run ls -A "$MNT/od"
	assert_output up
	ovl_umount
}

@test "deleting a lower file leaves a char 0/0 whiteout in the upper" {
	make_layers
	ovl_mount
	rm "$MNT/file2"
	rm "$MNT/dir/a"
	ovl_umount
	[ -c "$UPPER/file2" ]
	assert_eq "0:0" "$(stat -c '%t:%T' "$UPPER/file2")"
	[ -c "$UPPER/dir/a" ]
	assert_eq "0:0" "$(stat -c '%t:%T' "$UPPER/dir/a")"
	ovl_mount
	[ ! -e "$MNT/file2" ]
	[ ! -e "$MNT/dir/a" ]
	ovl_umount
}

@test "rmdir then mkdir of a lower dir makes an opaque upper dir" {
	make_layers
	ovl_mount
	rm -r "$MNT/dir"
	mkdir "$MNT/dir"
	echo fresh >"$MNT/dir/fresh"
	run ls -A "$MNT/dir"
	assert_output fresh
	ovl_umount
	is_opaque "$UPPER/dir"
	ovl_mount
	run ls -A "$MNT/dir"
	assert_output fresh
	ovl_umount
}

@test "copy-up keeps mode, owner, mtime and xattrs" {
	make_layers
	chown 1234:5678 "$LOWER2/xattr_file"
	chmod 0751 "$LOWER2/xattr_file"
	setfattr -n user.second -v 2 "$LOWER2/xattr_file"
	touch -d '2005-05-05 05:05:05' "$LOWER2/xattr_file"
	ovl_snapshot_lowers
	ovl_mount
	# an xattr change copies up metadata and data without touching mtime
	setfattr -n user.third -v 3 "$MNT/xattr_file"
	ovl_umount
	local f="$UPPER/xattr_file"
	[ -f "$f" ]
	assert_eq "1234:5678 751" "$(stat -c '%u:%g %a' "$f")"
	assert_eq "$(date -d '2005-05-05 05:05:05' +%s)" "$(stat -c %Y "$f")"
	assert_eq hello "$(getfattr --only-values -n user.test "$f")"
	assert_eq 2 "$(getfattr --only-values -n user.second "$f")"
	assert_eq 3 "$(getfattr --only-values -n user.third "$f")"
	assert_eq xattr "$(cat "$f")"
}

@test "copy-up of a file keeps its parents' metadata" {
	make_layers
	chown 11:22 "$LOWER2/lowdir" "$LOWER2/lowdir/l1"
	chmod 0750 "$LOWER2/lowdir/l1"
	chmod 0705 "$LOWER2/lowdir/l1/l2"
	setfattr -n user.dirattr -v d "$LOWER2/lowdir/l1"
	ovl_snapshot_lowers
	ovl_mount
	echo more >>"$MNT/lowdir/l1/l2/f"
	ovl_umount
	assert_eq "11:22 755" "$(stat -c '%u:%g %a' "$UPPER/lowdir")"
	assert_eq "11:22 750" "$(stat -c '%u:%g %a' "$UPPER/lowdir/l1")"
	assert_eq "0:0 705" "$(stat -c '%u:%g %a' "$UPPER/lowdir/l1/l2")"
	assert_eq d "$(getfattr --only-values -n user.dirattr "$UPPER/lowdir/l1")"
	assert_eq "$(printf 'f\nmore')" "$(cat "$UPPER/lowdir/l1/l2/f")"
}

@test "copy-up keeps holes of a sparse file" {
	make_layers
	ovl_mount
	echo tail >>"$MNT/sparse"
	ovl_umount
	local blocks
	blocks=$(stat -c %b "$UPPER/sparse")
	assert_eq $((10 * 1048576 + 5)) "$(stat -c %s "$UPPER/sparse")"
	[ $((blocks * 512)) -lt $((2 * 1048576)) ] || {
		echo "# upper sparse file uses $((blocks * 512)) bytes" >&2
		false
	}
	cmp <(head -c $((10 * 1048576)) "$UPPER/sparse") "$LOWER1/sparse"
}

@test "copy-up keeps security.capability" {
	command -v setcap >/dev/null || skip "setcap (libcap2-bin) not installed"
	make_layers
	echo capfile >"$LOWER2/capfile"
	setcap cap_net_raw+ep "$LOWER2/capfile"
	ovl_snapshot_lowers
	ovl_mount
	[[ "$(getcap "$MNT/capfile")" == *cap_net_raw* ]]
	setfattr -n user.trigger -v 1 "$MNT/capfile"
	[[ "$(getcap "$MNT/capfile")" == *cap_net_raw* ]]
	ovl_umount
	[ -f "$UPPER/capfile" ]
	[[ "$(getcap "$UPPER/capfile")" == *cap_net_raw* ]]
}

@test "500 lower layers" {
	local dirs="" i
	for ((i = 0; i < 500; i++)); do
		mkdir "$TMP/L$i"
		echo "$i" >"$TMP/L$i/f$i"
		echo "$i" >"$TMP/L$i/common"
		dirs="$dirs${dirs:+:}$TMP/L$i"
	done
	LOWERDIRS="$dirs"
	ovl_snapshot_lowers
	ovl_mount
	assert_eq 0 "$(cat "$MNT/common")"
	assert_eq 499 "$(cat "$MNT/f499")"
	assert_eq 250 "$(cat "$MNT/f250")"
	assert_eq 501 "$(ovltool count "$MNT")"
	echo up >"$MNT/f499"
	ovl_umount
	assert_eq up "$(cat "$UPPER/f499")"
}

@test "readdir of a 100000-entry directory" {
	# on a tmpfs: creating 100k files on ext4 takes far longer than the test
	mkdir "$TMP/fs"
	mount -t tmpfs -o size=512m tmpfs "$TMP/fs"
	LOWER1="$TMP/fs/l1" LOWER2="$TMP/fs/l2" UPPER="$TMP/fs/u" WORK="$TMP/fs/w"
	LOWERDIRS="$LOWER1:$LOWER2"
	mkdir -p "$LOWER2/big" "$LOWER1/big" "$UPPER" "$WORK"
	(cd "$LOWER2/big" && seq -f 'entry%06g' 1 60000 | xargs touch)
	(cd "$LOWER1/big" && seq -f 'entry%06g' 60001 100000 | xargs touch)
	# 100k entries: the full manifest would dominate the runtime
	OVL_CHECK_LOWERS=0
	ovl_mount
	assert_eq 100000 "$(ovltool count "$MNT/big")"
	ovl_umount
	assert_eq 60000 "$(ls -f "$LOWER2/big" | grep -c '^entry')"
	[ -z "$(ls -A "$UPPER")" ]
}

# a workload that leaves every kind of change in the upper
change_things() {
	local m="$1"
	echo new >"$m/newfile"
	echo app >>"$m/file2"
	rm "$m/file1"
	rm -r "$m/dir"
	mkdir "$m/dir"
	echo fresh >"$m/dir/fresh"
	rm "$m/merged/x"
	mkdir -p "$m/lowdir/l1/l2/n"
	ln -s target "$m/newlink"
	mv "$m/shadow" "$m/shadow2"
	chmod 600 "$m/owned"
	setfattr -n user.k -v v "$m/newfile"
	mkfifo "$m/fifo"
}

@test "layers written by kernel overlayfs mount correctly with ours" {
	make_layers
	# kernel overlayfs knows only char 0/0 whiteouts
	rm "$LOWER1/.wh.gone_wh"
	ovl_snapshot_lowers
	local kwork="$TMP/kwork"
	mkdir "$kwork"
	mount -t overlay overlay -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$kwork,$KOPTS" "$MNT"
	change_things "$MNT"
	view "$MNT" >"$TMP/kernel.view"
	umount "$MNT"
	ovl_mount
	view "$MNT" >"$TMP/ours.view"
	ovl_umount
	diff -u "$TMP/kernel.view" "$TMP/ours.view"
}

@test "an upper written by ours mounts under kernel overlayfs with the same view" {
	make_layers
	rm "$LOWER1/.wh.gone_wh"
	ovl_snapshot_lowers
	ovl_mount
	change_things "$MNT"
	view "$MNT" >"$TMP/ours.view"
	ovl_umount
	local kwork="$TMP/kwork"
	mkdir "$kwork"
	mount -t overlay overlay -o "lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$kwork,$KOPTS" "$MNT"
	view "$MNT" >"$TMP/kernel.view"
	umount "$MNT"
	diff -u "$TMP/ours.view" "$TMP/kernel.view"
}

@test "read-only mount of several layers shows the merged view like the kernel" {
	make_layers
	rm "$LOWER1/.wh.gone_wh"
	ovl_snapshot_lowers
	mount -t overlay overlay -o "lowerdir=$LOWERDIRS" "$MNT"
	view "$MNT" >"$TMP/kernel.view"
	umount "$MNT"
	OVL_NO_UPPER=1 ovl_mount
	view "$MNT" >"$TMP/ours.view"
	ovl_umount
	diff -u "$TMP/kernel.view" "$TMP/ours.view"
}

# The daemon reaches each layer through a private copy of the layer's own
# mount (privmount.c), as kernel overlayfs does: a filesystem mounted
# inside a layer is not seen through the overlay, on either.
@test "a filesystem mounted inside a lower layer is not crossed: as on kernel overlayfs" {
	local want got
	mkdir -p "$LOWER1/sub"
	echo under >"$LOWER1/sub/under"
	ovl_snapshot_lowers   # (as they are once the tmpfs is gone again)
	mount -t tmpfs tmpfs "$LOWER1/sub"
	echo inside >"$LOWER1/sub/inside"
	kovl_mount "$KOPTS"
	want="$(view "$MNT")"
	kovl_umount
	ovl_mount
	got="$(view "$MNT")"
	ovl_umount
	umount "$LOWER1/sub"
	assert_eq "$want" "$got"
	[[ "$got" == *"./sub/under f"* ]]
}
