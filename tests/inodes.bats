#!/usr/bin/env bats
# Inode identity: (st_dev, st_ino) unique among the objects of the mount
# whatever filesystems the layers are on, equal to readdir's d_ino, stable
# across copy-up and remounts; hard links with the semantics of kernel
# overlayfs (index=off); layers given twice or nested refused; setgid
# clearing with many supplementary groups; parent mtime kept by copy-up.
#
# The layers are three tmpfs instances mounted in the test: $LOWER1, $LOWER2
# and $FS3 (which holds $UPPER and $WORK), so that their inode numbers
# collide (each tmpfs hands out 2, 3, 4... on its own).
#
# INODES_AGAINST=kernel runs the same tests on kernel overlayfs (a self-check
# of the tests; the tests of fuse-overlayfs-only options are skipped). The
# kernel is mounted with xino=auto unless a test asks otherwise
# (INODES_KERNEL_XINO=off reproduces the kernel's default here): with
# xino=off and layers on different filesystems the kernel gives directories
# private inode numbers that differ from their d_ino and depend on lookup
# order, so they change across a remount.

load helpers

setup() {
	ovl_setup
	# callers other than root (setgid tests) must reach $MNT
	chmod 755 "$TMP"
	mount -t tmpfs -o size=64m,mode=0755 inodes-lower1 "$LOWER1"
	mount -t tmpfs -o size=64m,mode=0755 inodes-lower2 "$LOWER2"
	FS3="$TMP/fs3"
	mkdir "$FS3"
	mount -t tmpfs -o size=64m,mode=0755 inodes-upper "$FS3"
	UPPER="$FS3/upper"
	WORK="$FS3/work"
	mkdir "$UPPER" "$WORK"
	KMNT="$TMP/kmnt"
	mkdir "$KMNT"
}

# Everything stacked on the tmpfs layers goes first (our daemons, kernel
# overlays, bind mounts), then the lower layers are checked while still
# mounted, then the tmpfs go, then the generic teardown.
teardown() {
	[ -n "${TMP:-}" ] && [ -d "$TMP" ] || return 0
	local status=0 mnt m
	for mnt in "${!OVL_PIDS[@]}"; do
		if ! ovl_umount "$mnt"; then
			status=1
		fi
	done
	while read -r m; do
		case "$m" in
		"$LOWER1" | "$LOWER2" | "$FS3") continue ;;
		esac
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r)
	if [ "$OVL_CHECK_LOWERS" = 1 ] && [ -n "$OVL_LOWER_SNAP" ]; then
		if ! ovl_check_lowers; then
			status=1
		fi
	fi
	OVL_CHECK_LOWERS=0
	for m in "$FS3" "$LOWER2" "$LOWER1"; do
		if mountpoint -q "$m"; then
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		fi
	done
	if ! ovl_teardown; then
		status=1
	fi
	return "$status"
}

# ---------------------------------------------------------------- mounting

against_kernel() {
	[ "${INODES_AGAINST:-}" = kernel ]
}

# imount [OPTION...]: ours on $MNT, or kernel overlayfs with
# INODES_AGAINST=kernel (options only fuse-overlayfs knows are dropped).
imount() {
	if ! against_kernel; then
		ovl_mount "$@"
		return
	fi
	local -a k=()
	local o xino="xino=${INODES_KERNEL_XINO:-auto}"
	for o in "$@"; do
		case "$o" in
		passthrough=* | ino32_t | debug) ;;
		xino=*) xino="$o" ;;
		*) k+=("$o") ;;
		esac
	done
	KMNT="$MNT" kovl_mount "$xino" "${k[@]}"
}

iumount() {
	if against_kernel; then
		umount "$MNT"
	else
		ovl_umount
	fi
}

# kernel_ref_mount: kernel overlayfs on $KMNT over the same lower layers,
# with its own upper and work dirs ($KUPPER, $KWORK), for the expected answer
# of a test.
kernel_ref_mount() {
	KUPPER="$FS3/kupper"
	KWORK="$FS3/kwork"
	mkdir -p "$KUPPER" "$KWORK"
	UPPER="$KUPPER" WORK="$KWORK" kovl_mount
}

# ---------------------------------------------------------------- layers

# The identity fixture: files, directories, symlinks, a fifo in each lower
# layer and in the upper layer, a directory merged from all three, a
# whiteout, a shadowed file, no hard links.
make_tree() {
	local l1="$LOWER1" l2="$LOWER2" u="$UPPER"
	# created first in each tmpfs: inode numbers 2, 3... in every layer
	echo "l2 a" >"$l2/a2"
	echo "l2 b" >"$l2/b2"
	mkdir -p "$l2/d2/sub" "$l2/m/inner" "$l2/deep/x/y" "$l2/empty2"
	echo x >"$l2/d2/x"
	echo s >"$l2/d2/sub/s"
	echo deep >"$l2/deep/x/y/f"
	echo m2 >"$l2/m/from2"
	echo i2 >"$l2/m/inner/i2"
	echo shadowed >"$l2/shadow"
	echo hidden >"$l2/gone"
	ln -s a2 "$l2/s2"
	mkfifo "$l2/fifo2"

	echo "l1 a" >"$l1/a1"
	echo "l1 b" >"$l1/b1"
	mkdir -p "$l1/d1" "$l1/m/inner"
	echo y >"$l1/d1/y"
	echo m1 >"$l1/m/from1"
	echo i1 >"$l1/m/inner/i1"
	echo shadow >"$l1/shadow"
	mknod "$l1/gone" c 0 0
	ln -s a1 "$l1/s1"
	ln -s nowhere "$l1/dangling"

	echo up >"$u/u1"
	mkdir -p "$u/ud/sub" "$u/m"
	echo u2 >"$u/ud/u2"
	echo um >"$u/m/fromu"
	ln -s u1 "$u/su"
	ovl_snapshot_lowers
}

# layer_inos DIR: the inode numbers of everything below DIR.
layer_inos() {
	find "$1" -mindepth 1 -printf '%i\n' | LC_ALL=C sort -u
}

# The fixture is only worth something if the layers' own inode numbers
# collide: check it for each pair of layers.
assert_layers_collide() {
	local pair a b n
	for pair in "$LOWER1 $LOWER2" "$LOWER1 $UPPER" "$LOWER2 $UPPER"; do
		read -r a b <<<"$pair"
		n="$(comm -12 <(layer_inos "$a") <(layer_inos "$b") | wc -l)"
		if [ "$n" = 0 ]; then
			echo "# precondition: $a and $b share no inode number; the test proves nothing" >&2
			return 1
		fi
	done
}

# ---------------------------------------------------------------- maps

# ino_map DIR: "PATH DEV INO TYPE" for DIR (".") and everything below it,
# sorted by path.
ino_map() {
	(cd "$1" && find . -printf '%p %D %i %y\n') | LC_ALL=C sort
}

# stat_reverse DIR: looks every entry up in reverse order, so that numbers
# handed out in lookup order show up as a change.
stat_reverse() {
	(cd "$1" && find . -print | LC_ALL=C sort -r | xargs -r stat -c %i >/dev/null)
}

# assert_distinct MAPFILE: no two paths (no hard links in the fixture) share
# (st_dev, st_ino).
assert_distinct() {
	local out
	out="$(awk '{ k = $2 ":" $3; if (k in seen) print "#   " seen[k] " and " $1 " are both dev:ino " k; else seen[k] = $1 }' "$1")"
	if [ -n "$out" ]; then
		echo "# distinct objects share (st_dev, st_ino):" >&2
		echo "$out" >&2
		return 1
	fi
}

# assert_dino DIR MAPFILE: d_ino of every entry of every directory (ovltool
# readdir) equals the st_ino of the entry in MAPFILE (ino_map of DIR).
assert_dino() {
	local dir="$1" map="$2" p type out
	: >"$TMP/dino"
	while read -r p _ _ type; do
		[ "$type" = d ] || continue
		"$OVLTOOL" readdir "$dir/$p" | sed "s|^\([0-9]*\) |$p/ \1 |" >>"$TMP/dino" || {
			echo "# readdir of $dir/$p failed" >&2
			return 1
		}
	done <"$map"
	# lines "DIRPATH/ DINO NAME": the name may hold no space (fixture)
	out="$(awk 'NR == FNR { ino[$1] = $3; next }
		{ p = $1 $3; if (!(p in ino)) print "#   " p ": in readdir (d_ino " $2 ") but not found by find";
		  else if ((ino[p] "") != ($2 "")) print "#   " p ": d_ino " $2 ", st_ino " ino[p]; n++ }
		END { if (n < 1) print "#   no entries read" }' "$map" "$TMP/dino")"
	if [ -n "$out" ]; then
		echo "# readdir's d_ino differs from stat's st_ino:" >&2
		echo "$out" >&2
		return 1
	fi
}

# assert_same_inos WHAT BEFORE AFTER [RENAMES]: every path of BEFORE has the
# same (st_dev, st_ino) in AFTER; RENAMES is "OLD NEW" lines: OLD of BEFORE is
# looked for as NEW in AFTER.  With INODES_REMOUNT=1, only st_ino: st_dev is
# the number the kernel gives the new mount (an anonymous device for FUSE
# and for overlayfs alike), not the filesystem's to keep.
assert_same_inos() {
	local what="$1" out
	out="$(awk -v renames="${4:-}" -v inoonly="${INODES_REMOUNT:-0}" '
		function key() { return inoonly == 1 ? $3 "" : $2 ":" $3 }
		BEGIN { n = split(renames, r, "\n"); for (i = 1; i <= n; i++) { split(r[i], f, " "); if (f[1] != "") to[f[1]] = f[2] } }
		NR == FNR { p = ($1 in to) ? to[$1] : $1; want[p] = key(); old[p] = $1; next }
		{ got[$1] = key() }
		END { for (p in want) {
			if (!(p in got)) print "#   " p ": gone (was " want[p] ")";
			else if (got[p] != want[p]) print "#   " (old[p] != p ? old[p] " -> " : "") p ": before " want[p] ", after " got[p] } }' "$2" "$3" | LC_ALL=C sort)"
	if [ -n "$out" ]; then
		echo "# $what: $([ "${INODES_REMOUNT:-0}" = 1 ] && echo st_ino || echo "(st_dev:st_ino)") changed:" >&2
		echo "$out" >&2
		return 1
	fi
}

# devino PATH: "DEV:INO" of PATH (not following a symlink).
devino() {
	stat -c '%d:%i' "$1"
}

# ino_of PATH: st_ino of PATH, for comparisons across a remount (see
# assert_same_inos).
ino_of() {
	stat -c %i "$1"
}

# dino_of DIR NAME: the d_ino readdir gives NAME in DIR.
dino_of() {
	"$OVLTOOL" readdir "$1" | awk -v n="$2" '$2 == n { print $1 }'
}

# ---------------------------------------------------------------- identity

@test "identity: two lower files with the same inode number on two tmpfs are two objects" {
	echo one >"$LOWER1/one"
	echo two >"$LOWER2/two"
	ovl_snapshot_lowers
	assert_eq "$(stat -c %i "$LOWER1/one")" "$(stat -c %i "$LOWER2/two")" "precondition: inode numbers of lower1/one and lower2/two on their tmpfs"
	imount
	local one two
	one="$(devino "$MNT/one")"
	two="$(devino "$MNT/two")"
	echo "# through the mount: one is dev:ino $one, two is $two" >&2
	assert_ne "$one" "$two" "dev:ino of two (same as one's)"
	run test "$MNT/one" -ef "$MNT/two"
	assert_status 1
	assert_eq one "$(cat "$MNT/one")" "content of one"
	assert_eq two "$(cat "$MNT/two")" "content of two"
}

@test "identity: every object of a tree on three tmpfs layers has its own (st_dev, st_ino)" {
	make_tree
	assert_layers_collide
	imount
	ino_map "$MNT" >"$TMP/map"
	# the root, 18 entries from lower2, 8 more from lower1, 6 from the upper
	assert_eq 33 "$(wc -l <"$TMP/map")" "number of objects found (the fixture)"
	assert_distinct "$TMP/map"
}

@test "identity: readdir's d_ino equals stat's st_ino for every entry" {
	make_tree
	assert_layers_collide
	imount
	ino_map "$MNT" >"$TMP/map"
	assert_dino "$MNT" "$TMP/map"
}

@test "identity: every st_ino is the same after a remount (looked up in another order)" {
	make_tree
	imount
	ino_map "$MNT" >"$TMP/map1"
	iumount
	imount
	stat_reverse "$MNT"
	ino_map "$MNT" >"$TMP/map2"
	INODES_REMOUNT=1 assert_same_inos "after a remount" "$TMP/map1" "$TMP/map2"
	assert_distinct "$TMP/map2"
}

@test "identity: copy-up (chmod, append, setfattr, chown, touch, mkdir inside, rename) keeps every st_ino, also after a remount" {
	make_tree
	imount
	ino_map "$MNT" >"$TMP/map1"
	chmod 0600 "$MNT/a2"
	echo more >>"$MNT/a1"
	setfattr -n user.k -v v "$MNT/d2/x"
	chown 7:8 "$MNT/m/from2"
	touch -h -d '2005-05-05' "$MNT/s2"
	chmod 0700 "$MNT/d1"
	mkdir "$MNT/deep/x/y/new"
	mv "$MNT/b2" "$MNT/b2.moved"
	echo newfile >"$MNT/m/inner/newfile"
	# the copy-ups happened
	[ -f "$UPPER/a2" ]
	[ -f "$UPPER/a1" ]
	[ -f "$UPPER/d2/x" ]
	[ -f "$UPPER/m/from2" ]
	[ -L "$UPPER/s2" ]
	[ -d "$UPPER/d1" ]
	[ -d "$UPPER/deep/x/y/new" ]
	[ -f "$UPPER/b2.moved" ]
	ino_map "$MNT" >"$TMP/map2"
	assert_same_inos "after the copy-ups" "$TMP/map1" "$TMP/map2" "./b2 ./b2.moved"
	assert_distinct "$TMP/map2"
	iumount
	imount
	stat_reverse "$MNT"
	ino_map "$MNT" >"$TMP/map3"
	INODES_REMOUNT=1 assert_same_inos "after the copy-ups and a remount" "$TMP/map1" "$TMP/map3" "./b2 ./b2.moved"
	# and the objects made through the mount
	INODES_REMOUNT=1 assert_same_inos "objects made through the mount, after a remount" "$TMP/map2" "$TMP/map3"
	assert_distinct "$TMP/map3"
	assert_dino "$MNT" "$TMP/map3"
	assert_eq "l1 a
more" "$(cat "$MNT/a1")" "content of a1"
}

@test "identity: xino=on, xino=off and xino=auto: objects distinct, d_ino equal to st_ino, stable across a remount" {
	make_tree
	assert_layers_collide
	local x
	for x in on off auto; do
		echo "# xino=$x" >&2
		imount "xino=$x"
		ino_map "$MNT" >"$TMP/map.$x"
		assert_distinct "$TMP/map.$x"
		if against_kernel && [ "$x" = off ]; then
			# the kernel's xino=off: directories get private numbers (see the top)
			iumount
			continue
		fi
		assert_dino "$MNT" "$TMP/map.$x"
		iumount
		imount "xino=$x"
		stat_reverse "$MNT"
		ino_map "$MNT" >"$TMP/map2.$x"
		INODES_REMOUNT=1 assert_same_inos "xino=$x, after a remount" "$TMP/map.$x" "$TMP/map2.$x"
		iumount
	done
}

@test "identity: ino32_t keeps every st_ino and d_ino below 2^32, objects distinct and stable" {
	if against_kernel; then
		skip "ino32_t is fuse-overlayfs's own option"
	fi
	make_tree
	assert_layers_collide
	local opts
	for opts in ino32_t "ino32_t xino=on"; do
		echo "# -o $opts" >&2
		# shellcheck disable=SC2086 # two options
		imount $opts
		ino_map "$MNT" >"$TMP/map"
		run awk '$3 >= 4294967296 { print "#   " $1 ": st_ino " $3 }' "$TMP/map"
		assert_output ""
		run awk '$1 >= 4294967296 { print "#   d_ino " $1 " of " $2 }' < <(
			awk '$4 == "d" { print $1 }' "$TMP/map" | while read -r p; do "$OVLTOOL" readdir "$MNT/$p"; done)
		assert_output ""
		assert_distinct "$TMP/map"
		assert_dino "$MNT" "$TMP/map"
		iumount
		# shellcheck disable=SC2086
		imount $opts
		stat_reverse "$MNT"
		ino_map "$MNT" >"$TMP/map2"
		INODES_REMOUNT=1 assert_same_inos "-o $opts, after a remount" "$TMP/map" "$TMP/map2"
		iumount
	done
}

# ---------------------------------------------------------------- hard links

# assert_one_file NLINK NAME...: all the names show one st_ino (stat and
# readdir) and NLINK links.
assert_one_file() {
	local nlink="$1" first="$2" n want got
	shift
	want="$(devino "$first")"
	for n in "$@"; do
		got="$(devino "$n")"
		echo "# $n: dev:ino $got nlink $(stat -c %h "$n") d_ino $(dino_of "$(dirname "$n")" "$(basename "$n")")" >&2
		assert_eq "$want" "$got" "dev:ino of $n (that of $first expected)"
		assert_eq "$(stat -c %i "$n")" "$(dino_of "$(dirname "$n")" "$(basename "$n")")" "d_ino of $n"
		assert_eq "$nlink" "$(stat -c %h "$n")" "nlink of $n"
	done
}

@test "hard link made through the mount: three names, one st_ino and nlink 3 on each, in readdir too, also after a remount" {
	mkdir "$LOWER1/d"
	ovl_snapshot_lowers
	imount
	echo hello >"$MNT/a"
	ln "$MNT/a" "$MNT/b"
	ln "$MNT/a" "$MNT/d/c"
	assert_one_file 3 "$MNT/a" "$MNT/b" "$MNT/d/c"
	run test "$MNT/a" -ef "$MNT/d/c"
	assert_status 0
	local before
	before="$(ino_of "$MNT/a")"
	iumount
	imount
	assert_one_file 3 "$MNT/a" "$MNT/b" "$MNT/d/c"
	assert_eq "$before" "$(ino_of "$MNT/b")" "st_ino of b after a remount (that of a before)"
	assert_eq hello "$(cat "$MNT/d/c")" "content of d/c"
}

@test "hard link: data and metadata changed through one name show through the others" {
	imount
	echo hello >"$MNT/a"
	ln "$MNT/a" "$MNT/b"
	ln "$MNT/b" "$MNT/c"
	echo more >>"$MNT/b"
	assert_eq "hello
more" "$(cat "$MNT/a")" "content of a after appending through b"
	assert_eq "hello
more" "$(cat "$MNT/c")" "content of c after appending through b"
	chmod 0600 "$MNT/a"
	assert_eq 600 "$(stat -c %a "$MNT/b")" "mode of b after chmod of a"
	assert_eq 600 "$(stat -c %a "$MNT/c")" "mode of c after chmod of a"
	chown 12:34 "$MNT/c"
	assert_eq 12:34 "$(stat -c %u:%g "$MNT/a")" "owner of a after chown of c"
	touch -d '2004-04-04 04:04:04' "$MNT/b"
	assert_eq "$(date -d '2004-04-04 04:04:04' +%s)" "$(stat -c %Y "$MNT/a")" "mtime of a after touch of b"
	setfattr -n user.k -v linked "$MNT/a"
	assert_eq linked "$(getfattr --only-values -n user.k "$MNT/c")" "user.k of c after setfattr on a"
	truncate -s 2 "$MNT/c"
	assert_eq he "$(cat "$MNT/a")" "content of a after truncate of c"
	assert_eq 2 "$(stat -c %s "$MNT/b")" "size of b after truncate of c"
	# a writer on one name, a reader on another, both open at once
	run sh -c 'exec 5>>"$1"; exec 6<"$2"; printf X >&5; cat <&6' sh "$MNT/a" "$MNT/b"
	assert_output heX
}

@test "hard link: unlink of one name leaves the others working, and ln of a remaining name works" {
	imount
	echo hello >"$MNT/a"
	ln "$MNT/a" "$MNT/b"
	rm "$MNT/a"
	[ ! -e "$MNT/a" ]
	assert_eq hello "$(cat "$MNT/b")" "content of b after rm a"
	assert_eq 1 "$(stat -c %h "$MNT/b")" "nlink of b after rm a"
	ln "$MNT/b" "$MNT/c"
	assert_eq hello "$(cat "$MNT/c")" "content of the new link c"
	assert_one_file 2 "$MNT/b" "$MNT/c"
	echo again >>"$MNT/c"
	assert_eq "hello
again" "$(cat "$MNT/b")" "content of b after appending through c"
	rm "$MNT/b"
	assert_eq 1 "$(stat -c %h "$MNT/c")" "nlink of c after rm b"
	assert_eq "hello
again" "$(cat "$MNT/c")" "content of c after rm b"
	run ls "$MNT"
	assert_output c
}

@test "hard link to a lower file: both names keep the lower file's st_ino (one link before), also after a remount" {
	echo lower >"$LOWER2/lf"
	mkdir "$LOWER1/d"
	ovl_snapshot_lowers
	imount
	local before
	before="$(devino "$MNT/lf")"
	ln "$MNT/lf" "$MNT/d/lf2"
	[ -f "$UPPER/lf" ]
	echo "# lf before the link: $before" >&2
	assert_one_file 2 "$MNT/lf" "$MNT/d/lf2"
	assert_eq "$before" "$(devino "$MNT/d/lf2")" "dev:ino of the new link (that of lf before copy-up)"
	iumount
	imount
	stat_reverse "$MNT"
	assert_one_file 2 "$MNT/lf" "$MNT/d/lf2"
	assert_eq "${before#*:}" "$(ino_of "$MNT/lf")" "st_ino of lf after a remount (before the copy-up)"
	echo more >>"$MNT/d/lf2"
	assert_eq "lower
more" "$(cat "$MNT/lf")" "content of lf after appending through d/lf2"
}

# replace_open_file DIR: opens DIR/f, replaces it by rename(2) of DIR/t, and
# reports what the open file shows: key=value lines.
# shellcheck disable=SC2016 # the script's own variables
REPLACE_SCRIPT='
	d=$1 tool=$2
	exec 7<"$d/f" || exit 1
	echo "replacement, longer" >"$d/t"
	"$tool" rename2 none "$d/t" "$d/f" >/dev/null || { echo "rename failed"; exit 1; }
	echo "fd=$("$tool" pread 7 0 100)"
	echo "fstat=$(perl -e "open(my \$f, q{<&=}, 7) or die; my @s = stat(\$f); print qq{\$s[3] \$s[7]}")"
	echo "stat=$(stat -L -c "%h %s" /proc/self/fd/7)"
	echo "reopen=$(cat /proc/self/fd/7)"
	echo "name=$(cat "$d/f")"
	exec 7<&-
'

@test "open file replaced by rename(2): the fd keeps its content; fstat says nlink 0 and its own size" {
	imount
	echo "old" >"$MNT/f"
	run bash -c "$REPLACE_SCRIPT" sh "$MNT" "$OVLTOOL"
	assert_status 0
	printf '%s\n' "$output" | sed 's/^/# /' >&2
	assert_eq "fd=old" "$(grep '^fd=' <<<"$output")" "content read through the fd"
	assert_eq "fstat=0 4" "$(grep '^fstat=' <<<"$output")" "fstat of the fd (nlink size)"
	assert_eq "stat=0 4" "$(grep '^stat=' <<<"$output")" "stat of /proc/self/fd/N (nlink size)"
	assert_eq "reopen=old" "$(grep '^reopen=' <<<"$output")" "content read by reopening /proc/self/fd/N"
	assert_eq "name=replacement, longer" "$(grep '^name=' <<<"$output")" "content of the name"
}

@test "open file with a second name replaced by rename(2): nlink 1, the other name keeps the content" {
	imount
	echo "old" >"$MNT/f"
	ln "$MNT/f" "$MNT/g"
	run bash -c "$REPLACE_SCRIPT" sh "$MNT" "$OVLTOOL"
	assert_status 0
	printf '%s\n' "$output" | sed 's/^/# /' >&2
	assert_eq "fd=old" "$(grep '^fd=' <<<"$output")" "content read through the fd"
	assert_eq "fstat=1 4" "$(grep '^fstat=' <<<"$output")" "fstat of the fd (nlink size)"
	assert_eq "name=replacement, longer" "$(grep '^name=' <<<"$output")" "content of the name"
	assert_eq old "$(cat "$MNT/g")" "content of the other name"
	assert_eq 1 "$(stat -c %h "$MNT/g")" "nlink of the other name"
	assert_ne "$(devino "$MNT/f")" "$(devino "$MNT/g")" "dev:ino of g (the replaced f's)"
}

@test "lower hard links: both names show one st_ino (stat and readdir) and nlink 2 while both are lower" {
	echo shared >"$LOWER2/h1"
	mkdir "$LOWER2/d"
	ln "$LOWER2/h1" "$LOWER2/d/h2"
	# something with the same inode number on the other lower layer
	echo other >"$LOWER1/o1"
	ovl_snapshot_lowers
	assert_eq "$(stat -c %i "$LOWER2/h1")" "$(stat -c %i "$LOWER1/o1")" "precondition: inode numbers of lower2/h1 and lower1/o1"
	imount
	assert_one_file 2 "$MNT/h1" "$MNT/d/h2"
	run test "$MNT/h1" -ef "$MNT/d/h2"
	assert_status 0
	run test "$MNT/h1" -ef "$MNT/o1"
	assert_status 1
	iumount
	imount
	assert_one_file 2 "$MNT/h1" "$MNT/d/h2"
}

@test "lower hard links: copy-up of one name breaks the link: old content and a different st_ino on the other, also after a remount" {
	mkdir "$LOWER2/d"
	echo shared >"$LOWER2/h1"
	ln "$LOWER2/h1" "$LOWER2/d/h2"
	ovl_snapshot_lowers
	imount
	local h1 h2 h1b h2b
	h1="$(devino "$MNT/h1")"
	h2="$(devino "$MNT/d/h2")"
	assert_eq "$h1" "$h2" "dev:ino of d/h2 before the copy-up (that of h1)"
	echo appended >>"$MNT/h1"
	[ -f "$UPPER/h1" ]
	h1b="$(devino "$MNT/h1")"
	h2b="$(devino "$MNT/d/h2")"
	echo "# before: h1 $h1, h2 $h2; after appending to h1: h1 $h1b, h2 $h2b" >&2
	assert_eq "shared
appended" "$(cat "$MNT/h1")" "content of h1"
	assert_eq shared "$(cat "$MNT/d/h2")" "content of d/h2 (the name not written)"
	assert_ne "$h1b" "$h2b" "dev:ino of d/h2 after copy-up of h1 (same as h1's)"
	run test "$MNT/h1" -ef "$MNT/d/h2"
	assert_status 1
	assert_eq "$h2" "$h2b" "dev:ino of d/h2, still lower, across the copy-up of h1"
	assert_eq 1 "$(stat -c %h "$MNT/h1")" "nlink of the copied-up h1"
	assert_eq "$(stat -c %i "$MNT/h1")" "$(dino_of "$MNT" h1)" "d_ino of h1 after the copy-up"
	iumount
	imount
	stat_reverse "$MNT"
	assert_eq "${h1b#*:}" "$(ino_of "$MNT/h1")" "st_ino of h1 after a remount"
	assert_eq "${h2b#*:}" "$(ino_of "$MNT/d/h2")" "st_ino of d/h2 after a remount"
	assert_eq shared "$(cat "$MNT/d/h2")" "content of d/h2 after a remount"
	# the second name copied up too: still two files
	echo other >>"$MNT/d/h2"
	assert_ne "$(devino "$MNT/h1")" "$(devino "$MNT/d/h2")" "dev:ino of d/h2 after its own copy-up (same as h1's)"
	assert_eq "shared
appended" "$(cat "$MNT/h1")" "content of h1 after d/h2's copy-up"
}

@test "lower hard links: the listing the kernel keeps shows the new st_ino after a copy-up of one name" {
	# the directory is upper and lower (merged), so that only the file is
	# copied up; the kernel keeps its listing (FOPEN_CACHE_DIR)
	mkdir "$LOWER2/d" "$UPPER/d"
	echo shared >"$LOWER2/d/h1"
	ln "$LOWER2/d/h1" "$LOWER2/d/h2"
	ovl_snapshot_lowers
	imount
	local before after
	before="$(dino_of "$MNT/d" h1)"
	assert_eq "$(stat -c %i "$MNT/d/h1")" "$before" "d_ino of d/h1 before the copy-up"
	chmod 600 "$MNT/d/h1"
	after="$(stat -c %i "$MNT/d/h1")"
	assert_ne "$before" "$after" "st_ino of d/h1 after its copy-up split the lower link"
	assert_eq "$after" "$(dino_of "$MNT/d" h1)" "d_ino of d/h1 after the copy-up"
	assert_eq "$(stat -c %i "$MNT/d/h2")" "$(dino_of "$MNT/d" h2)" "d_ino of d/h2 after the copy-up"
}

# ---------------------------------------------------------------- layers given twice

# expect_layers_refused NEEDLES OPTIONS: the mount with -o OPTIONS fails with
# status 1 and one line "fuse-overlayfs: ..." that names one of NEEDLES
# ('|'-separated paths) and says what is wrong; nothing is mounted and the
# upper layer is unchanged (the pattern of errors.bats).  With
# INODES_AGAINST=kernel: mount -t overlay fails and nothing is mounted.
expect_layers_refused() {
	local needles="$1" opts="$2"
	if against_kernel; then
		run mount -t overlay overlay -o "$opts" "$MNT"
		if mountpoint -q "$MNT"; then
			umount "$MNT"
			echo "# kernel overlayfs mounted -o $opts" >&2
			return 1
		fi
		if [ "$status" = 0 ]; then
			echo "# kernel overlayfs: mount -o $opts succeeded" >&2
			return 1
		fi
		return 0
	fi
	expect_mount_error "$needles" -o "$opts" "$MNT" || return 1
	if ! grep -Eqi 'twice|conflict|overlap|nest|inside|contain|same|duplicate' <<<"$output"; then
		echo "# message does not say what is wrong (twice, conflicting, overlapping, nested, inside...): $output" >&2
		return 1
	fi
}

layers_for_refusal() {
	mkdir -p "$LOWER1/sub/deeper" "$LOWER2/other"
	echo x >"$LOWER1/sub/deeper/x"
	echo existing >"$UPPER/existing"
	ovl_snapshot_lowers
}

@test "refused: the same lowerdir twice (lowerdir=L:L, kernel: conflicting lowerdir path)" {
	layers_for_refusal
	expect_layers_refused "$LOWER1" "lowerdir=$LOWER1:$LOWER1,upperdir=$UPPER,workdir=$WORK"
}

@test "refused: the same lowerdir twice, spelt differently (L:L/, L:L/., around another layer)" {
	layers_for_refusal
	expect_layers_refused "$LOWER1" "lowerdir=$LOWER1:$LOWER1/,upperdir=$UPPER,workdir=$WORK"
	expect_layers_refused "$LOWER1" "lowerdir=$LOWER1/.:$LOWER1,upperdir=$UPPER,workdir=$WORK"
	expect_layers_refused "$LOWER1" "lowerdir=$LOWER1:$LOWER2:$LOWER1,upperdir=$UPPER,workdir=$WORK"
}

@test "refused: the same lowerdir twice, through a symlink and through a bind mount" {
	layers_for_refusal
	ln -s "$LOWER1" "$TMP/alias"
	expect_layers_refused "$LOWER1|$TMP/alias" "lowerdir=$LOWER1:$TMP/alias,upperdir=$UPPER,workdir=$WORK"
	mkdir "$TMP/bind"
	mount --bind "$LOWER1" "$TMP/bind"
	expect_layers_refused "$LOWER1|$TMP/bind" "lowerdir=$TMP/bind:$LOWER1,upperdir=$UPPER,workdir=$WORK"
}

@test "refused: a lowerdir nested in another (L:L/sub and L/sub:L, kernel: overlapping lowerdir path)" {
	layers_for_refusal
	expect_layers_refused "$LOWER1/sub" "lowerdir=$LOWER1:$LOWER1/sub,upperdir=$UPPER,workdir=$WORK"
	expect_layers_refused "$LOWER1/sub" "lowerdir=$LOWER1/sub:$LOWER1,upperdir=$UPPER,workdir=$WORK"
	expect_layers_refused "$LOWER1/sub" "lowerdir=$LOWER1:$LOWER2:$LOWER1/sub/deeper,upperdir=$UPPER,workdir=$WORK"
}

@test "refused: a lowerdir nested in another, without upper layer" {
	layers_for_refusal
	expect_layers_refused "$LOWER1" "lowerdir=$LOWER1:$LOWER1"
	expect_layers_refused "$LOWER1/sub" "lowerdir=$LOWER1/sub/deeper:$LOWER1/sub"
}

@test "refused: the upperdir given as a lowerdir, and a lowerdir inside the upperdir" {
	layers_for_refusal
	mkdir "$UPPER/in"
	expect_layers_refused "$UPPER" "lowerdir=$LOWER1:$UPPER,upperdir=$UPPER,workdir=$WORK"
	expect_layers_refused "$UPPER" "lowerdir=$UPPER/in:$LOWER1,upperdir=$UPPER,workdir=$WORK"
}

@test "accepted: sibling directories of one filesystem as two lowerdirs" {
	layers_for_refusal
	mkdir -p "$LOWER1/a" "$LOWER1/ab"
	echo a >"$LOWER1/a/fa"
	echo ab >"$LOWER1/ab/fab"
	ovl_snapshot_lowers
	LOWERDIRS="$LOWER1/a:$LOWER1/ab" imount
	assert_eq a "$(cat "$MNT/fa")" "content of fa"
	assert_eq ab "$(cat "$MNT/fab")" "content of fab"
}

# ---------------------------------------------------------------- supplementary groups

# The caller: uid/gid 4242 with 80 supplementary groups 5001..5080; the
# file's group 5075 is the 75th.  Group 6000 is not the caller's.
SG_IN=5075
SG_OUT=6000
sg_groups() {
	seq -s, 5001 5080
}

# sg_files DIR KIND: files of mode 2666 (setgid, not group-executable), one
# per operation, in the group of the caller or not.
sg_files() {
	local dir="$1" kind="$2" op g
	for op in append write trunc otrunc; do
		for g in in out; do
			echo data >"$dir/$kind-$op-$g"
			if [ "$g" = in ]; then
				chown "0:$SG_IN" "$dir/$kind-$op-$g"
			else
				chown "0:$SG_OUT" "$dir/$kind-$op-$g"
			fi
			chmod 2666 "$dir/$kind-$op-$g"
		done
	done
}

# shellcheck disable=SC2016 # the inner shell's $1
sg_ops() {
	local d="$1" k g
	for k in lower upper; do
		for g in in out; do
			setpriv --reuid=4242 --regid=4242 --groups="$(sg_groups)" sh -c '
				set -e
				echo x >>"$1-append-$2"
				printf y | dd of="$1-write-$2" conv=notrunc status=none
				truncate -s 2 "$1-trunc-$2"
				: >"$1-otrunc-$2"' sh "$d/$k/$k" "$g"
		done
	done
}

sg_state() {
	(cd "$1" && stat -c '%n %a %s %g' -- */* | LC_ALL=C sort)
}

# sg_check [OPTION...]: the operations on kernel overlayfs (expected) and on
# the mount under test, same lower layer.
sg_check() {
	mkdir -p "$LOWER1/lower" "$LOWER1/upper"
	sg_files "$LOWER1/lower" lower
	ovl_snapshot_lowers
	# kernel overlayfs: the expected answer
	kernel_ref_mount
	mkdir -p "$KUPPER/upper"
	sg_files "$KUPPER/upper" upper
	sg_ops "$KMNT"
	local expected actual
	expected="$(sg_state "$KMNT")"
	umount "$KMNT"
	# sanity: what the VFS rule gives
	grep -qx "lower/lower-append-in 2666 7 $SG_IN" <<<"$expected"
	grep -qx "lower/lower-append-out 666 7 $SG_OUT" <<<"$expected"
	grep -qx "upper/upper-trunc-in 2666 2 $SG_IN" <<<"$expected"
	grep -qx "upper/upper-otrunc-out 666 0 $SG_OUT" <<<"$expected"
	# the mount under test
	mkdir -p "$UPPER/upper"
	sg_files "$UPPER/upper" upper
	imount "$@"
	sg_ops "$MNT"
	actual="$(sg_state "$MNT")"
	iumount
	if [ "$expected" != "$actual" ]; then
		echo "# NAME MODE SIZE GROUP: kernel overlayfs (-), ours (+):" >&2
		diff <(echo "$expected") <(echo "$actual") | grep '^[<>]' | sed 's/^</#   -/; s/^>/#   +/' >&2
		return 1
	fi
	# what reached the upper layer agrees
	assert_eq "$expected" "$(sg_state "$UPPER")" "the upper layer (NAME MODE SIZE GROUP)"
}

@test "setgid with 80 supplementary groups: kept for a caller in the file's group (its 75th), cleared otherwise, as kernel overlayfs" {
	sg_check
}

@test "setgid with 80 supplementary groups, passthrough=off: kept for a caller in the file's group, cleared otherwise" {
	if against_kernel; then
		skip "passthrough is fuse-overlayfs's own option"
	fi
	sg_check passthrough=off
}

# ---------------------------------------------------------------- parent mtime

mt_layers() {
	mkdir -p "$LOWER1/d/e" "$LOWER2/d/m"
	echo f >"$LOWER1/d/e/f"
	echo g >"$LOWER1/d/g"
	echo h >"$LOWER2/d/m/h"
	touch -d '2001-01-01 00:00:00' "$LOWER1/d/e" "$LOWER1/d" "$LOWER2/d/m" "$LOWER2/d"
	ovl_snapshot_lowers
}

# copy-ups of data (append) and of metadata only (chmod, setfattr), the
# parents lower, or already copied up
mt_ops() {
	echo more >>"$1/d/e/f"
	chmod 0600 "$1/d/g"
	setfattr -n user.k -v v "$1/d/m/h"
}

mt_state() {
	(cd "$1" && stat -c '%n %Y' . d d/e d/m)
}

@test "copy-up keeps the mtime of the merged parent directories (as kernel overlayfs)" {
	mt_layers
	local when root expected actual
	when="$(date -d '2001-01-01 00:00:00' +%s)"
	root="$(date -d '2003-03-03 00:00:00' +%s)"
	mkdir "$FS3/kupper"
	touch -d @"$root" "$FS3/kupper"
	kernel_ref_mount
	mt_ops "$KMNT"
	expected="$(mt_state "$KMNT")"
	umount "$KMNT"
	echo "# kernel overlayfs: $(tr '\n' ' ' <<<"$expected")" >&2
	grep -qx "d $when" <<<"$expected"
	grep -qx "d/e $when" <<<"$expected"
	assert_eq "$expected" "$(mt_state "$KUPPER")" "kernel overlayfs: mtimes in its upper layer"
	touch -d @"$root" "$UPPER"
	imount
	# the merged directories before any copy-up
	assert_eq "$when" "$(stat -c %Y "$MNT/d")" "mtime of d before"
	mt_ops "$MNT"
	[ -f "$UPPER/d/e/f" ]
	actual="$(mt_state "$MNT")"
	assert_eq "$expected" "$actual" "mtimes of . d d/e d/m after the copy-ups (kernel overlayfs's first)"
	# the kernel may answer the above from its attribute cache: the layer
	assert_eq "$expected" "$(mt_state "$UPPER")" "mtimes of . d d/e d/m in the upper layer"
	assert_eq "$when" "$(stat -c %Y "$MNT/d/e")" "mtime of d/e after the copy-up of d/e/f"
	assert_eq "$when" "$(stat -c %Y "$MNT/d")" "mtime of d after the copy-ups"
	iumount
	imount
	assert_eq "$expected" "$(mt_state "$MNT")" "mtimes of . d d/e d/m after a remount"
}
