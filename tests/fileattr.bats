#!/usr/bin/env bats
# File flags (chattr, lsattr) as kernel overlayfs keeps them: immutable and
# append-only in the overlay.protattr xattr of the upper file (never on the
# file itself) and enforced by the overlay; other flags on the upper file;
# a lower file's own flags until its copy-up, which carries immutable and
# append-only into protattr, sync and noatime into the copy's flags.

load helpers

setup() {
	ovl_setup
	command -v chattr >/dev/null || skip "no chattr (e2fsprogs)"
	chattr -i "$TMP" 2>/dev/null || skip "the filesystem of $TMP has no file flags"
}

teardown() {
	# nothing immutable may stay behind, or it could not be removed
	chattr -R -i -a "$TMP" 2>/dev/null || true
	ovl_teardown
}

# fa_layers: lower files with and without flags of their own, a lower
# directory, an upper file and directory.
fa_layers() {
	chattr -R -i -a "$LOWER1" "$UPPER" 2>/dev/null || true
	rm -rf "$LOWER1" "$UPPER" "$WORK" && mkdir "$LOWER1" "$UPPER" "$WORK"
	echo lower >"$LOWER1/plain"
	echo immutable >"$LOWER1/limm"
	echo append >"$LOWER1/lapp"
	echo flags >"$LOWER1/lflags"
	mkdir "$LOWER1/ldir"
	echo in >"$LOWER1/ldir/x"
	echo upper >"$UPPER/up"
	mkdir "$UPPER/udir"
	echo in >"$UPPER/udir/y"
	chattr +i "$LOWER1/limm"
	chattr +a "$LOWER1/lapp"
	chattr +A +S +d "$LOWER1/lflags"
	OVL_LOWER_SNAP=""
}

# try WHAT CMD...: "WHAT ok" or "WHAT refused"
try() {
	local what="$1"
	shift
	if "$@" >/dev/null 2>&1; then echo "$what ok"; else echo "$what refused"; fi
}

# fa_flags PATH...: the flags lsattr shows, without the filesystem's own
# (e: extents), which differ by layer.
fa_flags() {
	local p
	for p in "$@"; do
		echo "$(basename "$p") $(lsattr -d "$p" 2>&1 | cut -d' ' -f1 | tr -d e)"
	done
}

# fa_run MNT: flags shown, set and enforced through the mount.
fa_run() {
	local m="$1"
	fa_flags "$m/plain" "$m/limm" "$m/lapp" "$m/lflags" "$m/ldir" "$m/up" "$m/udir"
	# a lower immutable file: nothing changes it, and it is not copied up
	try "limm write" sh -c "echo x >>'$m/limm'"
	try "limm chmod" chmod 600 "$m/limm"
	try "limm rm" rm "$m/limm"
	# append-only: appending only
	try "lapp append" sh -c "echo x >>'$m/lapp'"
	try "lapp overwrite" sh -c "echo x >'$m/lapp'"
	try "lapp truncate" truncate -s 0 "$m/lapp"
	try "lapp touch now" touch "$m/lapp"
	try "lapp touch -d" touch -d 2020-01-01 "$m/lapp"
	try "lapp mv" mv "$m/lapp" "$m/lapp2"
	# set through the mount: a lower file, an upper one, directories
	try "chattr +i plain" chattr +i "$m/plain"
	try "plain write" sh -c "echo x >>'$m/plain'"
	try "plain link" ln "$m/plain" "$m/plainlink"
	try "plain setfattr" setfattr -n user.x -v y "$m/plain"
	try "plain over" mv "$m/up" "$m/plain"
	try "chattr +a up" chattr +a "$m/up"
	try "up append" sh -c "echo x >>'$m/up'"
	try "up rm" rm "$m/up"
	try "chattr +i ldir" chattr +i "$m/ldir"
	try "ldir create" touch "$m/ldir/new"
	try "ldir rm x" rm "$m/ldir/x"
	try "ldir x write" sh -c "echo x >>'$m/ldir/x'"
	try "chattr +a udir" chattr +a "$m/udir"
	try "udir create" touch "$m/udir/new"
	try "udir rm y" rm "$m/udir/y"
	try "udir mv in" mv "$m/lflags" "$m/udir/moved"
	try "chattr +A lflags" chattr +A "$m/udir/moved"
	fa_flags "$m/plain" "$m/limm" "$m/lapp" "$m/up" "$m/ldir" "$m/udir" "$m/udir/moved"
	# and off again
	try "chattr -i plain" chattr -i "$m/plain"
	try "plain write" sh -c "echo x >>'$m/plain'"
	try "chattr -i limm" chattr -i "$m/limm"
	try "limm write" sh -c "echo x >>'$m/limm'"
	try "chattr -a udir" chattr -a "$m/udir"
	try "udir rm y" rm "$m/udir/y"
	fa_flags "$m/plain" "$m/limm" "$m/udir"
}

# fa_upper: what the upper holds: each file's own flags and protattr.
fa_upper() {
	local p
	(cd "$UPPER" && find . -mindepth 1 \( -type f -o -type d \) | sort) | while read -r p; do
		echo "$p $(lsattr -d "$UPPER/$p" | cut -d' ' -f1 | tr -d e)" \
			"$(getfattr --only-values -n trusted.overlay.protattr "$UPPER/$p" 2>/dev/null)"
	done
}

@test "chattr and lsattr, and immutable and append-only enforced: as on kernel overlayfs" {
	local want want_upper got
	fa_layers
	kovl_mount
	want="$(fa_run "$MNT")"
	kovl_umount
	want_upper="$(fa_upper)"
	fa_layers
	ovl_mount
	got="$(fa_run "$MNT")"
	ovl_umount
	# with the writeback cache (passthrough=off) the kernel sends every
	# time change as given times: "now" cannot be told from touch -d
	if [[ ${OVL_EXTRA_OPTS:-} == *passthrough=off* ]]; then
		want="${want/lapp touch -d refused/lapp touch -d ok}"
	fi
	assert_eq "$want" "$got" "through the mount"
	assert_eq "$want_upper" "$(fa_upper)" "the upper layer"
	# spelled out: protattr, not the flag, on the upper file
	assert_eq "./up --------------------- a" "$(grep '^./up ' <<<"$(fa_upper)")"
	assert_eq "plain ----i----------------" "$(grep '^plain -' <<<"$got" | sed -n 2p)"
	# the lower layer did not change
	assert_eq "lower" "$(cat "$LOWER1/plain")"
	assert_eq "----i" "$(lsattr "$LOWER1/limm" | cut -c1-5)"
}

@test "lsattr through a mount made in a user namespace" {
	fa_layers
	chattr -i "$LOWER1/limm"
	run timeout 600 unshare -Urm sh -c '
		"$1" -o "lowerdir=$2,upperdir=$3,workdir=$4" "$5" || exit 99
		lsattr -d "$5/lflags" "$5/ldir" | cut -d" " -f1
		rc=$?
		umount "$5"
		exit $rc' sh "$FUSE_OVERLAYFS" "$LOWER1" "$UPPER" "$WORK" "$MNT"
	assert_status 0
	assert_eq "$(lsattr -d "$LOWER1/lflags" "$LOWER1/ldir" | cut -d' ' -f1 | paste -sd ' ')" \
		"$(echo $output)"
}
