#!/usr/bin/env bats
# FUSE passthrough: which opens are passed through (-o passthrough=
# off|upper|all), that their I/O never reaches the daemon yet stays coherent
# (size, mtime, mmap, O_DIRECT, setuid/capabilities), stacking with kernel
# overlayfs (max_stack_depth) and the fallback when the kernel refuses
# (ELOOP, EPERM in a user namespace).  Lower files passed through, and
# copied up under their readers: lower-passthrough.bats.
#
# Every test that needs passthrough names its policy explicitly, which
# overrides the passthrough=off that tests/run.sh adds through
# $OVL_EXTRA_OPTS, and mounts with -o debug: the init line tells whether
# passthrough is on, and each request is logged, so "nothing reached the
# daemon" can be checked.  Such a test skips (saying why) only when the
# kernel does not offer passthrough or the binary was built without it.

load helpers
load helpers/passthrough

# shellcheck disable=SC2016 # $1 of the inner shell
nobody_append() {
	as_nobody sh -c 'echo x >>"$1"' sh "$1"
}

# shellcheck disable=SC2016 # $1 of the inner shell
nobody_otrunc() {
	as_nobody sh -c ': >"$1"' sh "$1"
}

teardown() {
	# a kernel overlayfs stacked on our mount must go before our daemon
	if [ -n "${KTOP:-}" ] && mountpoint -q "$KTOP"; then
		umount "$KTOP" || umount -l "$KTOP"
	fi
	# a daemon started inside a user namespace (test "EPERM ...")
	if [ -n "${NS_PID:-}" ] && ovl_alive "$NS_PID"; then
		echo "# killing the namespace's daemon $NS_PID" >&2
		kill -9 "$NS_PID"
	fi
	ovl_teardown
}

# ---------------------------------------------------------------- 1

@test "passthrough=upper: 256 MiB written and read back never reach the daemon as READ/WRITE" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	dd if=/dev/urandom of="$TMP/src" bs=1M count=256 status=none
	dd if="$TMP/src" of="$MNT/big" bs=1M conv=fsync status=none
	local ino
	ino="$(last_open_ino)"
	assert_eq passthrough "$(open_result "$ino")" "create of big"
	assert_eq "$(sum "$TMP/src")" "$(sum "$MNT/big")" "checksum through the mount"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/big")" "checksum in the upper layer"
	assert_eq passthrough "$(open_result "$ino")" "open of big for reading"
	assert_no_io "$ino"
	assert_no_io
	# the kernel does not ask for security.capability before every write
	local caps
	caps="$(count_log "debug: getxattr ino=$ino name=security.capability")"
	if [ "$caps" -gt 2 ]; then
		echo "# $caps getxattr security.capability requests for 256 writes" >&2
		return 1
	fi
	local st
	st="$(ovl_stats)"
	[ "$(stat_num "$st" passthrough)" -ge 2 ] || { echo "# $st" >&2; return 1; }
}

@test "passthrough=off: file I/O reaches the daemon as READ and WRITE requests" {
	make_layers
	ovl_mount debug passthrough=off
	dd if=/dev/urandom of="$TMP/src" bs=1M count=32 status=none
	dd if="$TMP/src" of="$MNT/big" bs=1M conv=fsync status=none
	local ino
	ino="$(last_open_ino)"
	assert_eq "through the daemon (passthrough off)" "$(open_result "$ino")"
	# O_DIRECT: served by the daemon even when the pages are cached
	assert_eq "$(sum "$TMP/src")" "$(dd if="$MNT/big" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/big")"
	# 32 MiB in requests of at most 1 MiB
	[ "$(count_log "debug: write ino=$ino ")" -ge 32 ]
	[ "$(count_log "debug: read ino=$ino ")" -ge 32 ]
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	[ "$(count_log "debug: read ino=$(last_open_ino) ")" -ge 1 ]
	local st
	st="$(ovl_stats)"
	assert_eq 0 "$(stat_num "$st" passthrough)" "passthrough opens ($st)"
	[ "$(stat_num "$st" "passthrough off")" -ge 3 ] || { echo "# $st" >&2; return 1; }
}

# ---------------------------------------------------------------- 2

@test "passthrough=upper: a lower file held open is written by another process; all views agree" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	local line ino1 ino2 st
	exec 8<"$MNT/file1"
	ino1="$(last_open_ino)"
	read -r line <&8
	assert_eq "lower1 file" "$line"
	assert_eq "through the daemon (lower file)" "$(open_result "$ino1")"

	# O_TRUNC write while the lower open lasts: copy-up, through the daemon
	echo new >"$MNT/file1"
	assert_eq "through the daemon (file open cached)" "$(open_result "$ino1")"
	assert_eq new "$(ovltool pread 8 0 100)" "pread of the held fd"
	assert_eq new "$(cat "$MNT/file1")" "new open"
	assert_eq new "$(cat "$UPPER/file1")" "upper"

	# in-place write (no O_TRUNC): copy-up with data
	exec 9<"$MNT/file2"
	ino2="$(last_open_ino)"
	read -r line <&9
	assert_eq "lower2 file" "$line"
	printf XY | dd of="$MNT/file2" conv=notrunc status=none
	assert_eq "through the daemon (file open cached)" "$(open_result "$ino2")"
	assert_eq "XYwer2 file" "$(ovltool pread 9 0 100)" "pread of the held fd"
	assert_eq "XYwer2 file" "$(cat "$MNT/file2")" "new open"
	assert_eq "XYwer2 file" "$(cat "$UPPER/file2")" "upper"
	assert_eq "lower2 file" "$(cat "$LOWER2/file2")"

	st="$(ovl_stats)"
	assert_eq 2 "$(stat_num "$st" "lower file")" "lower file opens ($st)"
	assert_eq 4 "$(stat_num "$st" "file open cached")" "cached opens ($st)"
	assert_eq 0 "$(stat_num "$st" passthrough)" "passthrough opens ($st)"

	# once the cached opens are gone, the now upper files are passed through
	exec 8<&- 9<&-
	wait_released "$ino1"
	wait_released "$ino2"
	log_mark
	assert_eq new "$(cat "$MNT/file1")"
	assert_eq passthrough "$(open_result "$ino1")"
	assert_eq "XYwer2 file" "$(cat "$MNT/file2")"
	assert_eq passthrough "$(open_result "$ino2")"
	assert_no_io
	st="$(ovl_stats)"
	assert_eq 2 "$(stat_num "$st" passthrough)" "passthrough opens ($st)"
}

# ---------------------------------------------------------------- 3

@test "read-only mount (no upper): lower files are passed through" {
	make_layers
	OVL_NO_UPPER=1 ovl_mount debug passthrough=upper
	pt_require
	local f st
	for f in file1 file2 shadow dir/sub/deep sparse; do
		assert_eq "$(sum "$(ovl_lower_path "$f")")" "$(sum "$MNT/$f")" "$f"
		assert_eq passthrough "$(open_result "$(last_open_ino)")" "open of $f"
	done
	assert_eq "lower1 file" "$(cat "$MNT/file1")"
	assert_eq "middle" "$(dd if="$MNT/sparse" bs=1M skip=5 count=1 status=none | head -c 6)"
	assert_no_io
	st="$(ovl_stats)"
	[ "$(stat_num "$st" passthrough)" -ge 6 ] || { echo "# $st" >&2; return 1; }
	assert_eq 0 "$(stat_num "$st" "through the daemon")" "opens through the daemon ($st)"
}

ovl_lower_path() {
	if [ -e "$LOWER1/$1" ]; then echo "$LOWER1/$1"; else echo "$LOWER2/$1"; fi
}

# ---------------------------------------------------------------- 4

@test "passthrough: size and mtime seen through the mount follow writes" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	local i old
	: >"$MNT/grow"
	for i in 1 2 3 4 5; do
		printf '0123456789' >>"$MNT/grow"
		assert_eq $((i * 10)) "$(stat -c %s "$MNT/grow")" "size after append $i"
	done
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	dd if=/dev/zero of="$MNT/grow" bs=4096 seek=10 count=1 conv=notrunc status=none
	assert_eq $((11 * 4096)) "$(stat -c %s "$MNT/grow")" "size after a write past the end"
	assert_eq $((11 * 4096)) "$(stat -c %s "$UPPER/grow")"

	touch -d '2001-02-03 04:05:06' "$MNT/grow"
	old="$(date -d '2001-02-03 04:05:06' +%s)"
	assert_eq "$old" "$(stat -c %Y "$MNT/grow")"
	printf more >>"$MNT/grow"
	[ "$(stat -c %Y "$MNT/grow")" -gt "$old" ] || {
		echo "# mtime still $(stat -c %Y "$MNT/grow") after a write (upper: $(stat -c %Y "$UPPER/grow"))" >&2
		return 1
	}
	assert_eq "$(stat -c %Y "$UPPER/grow")" "$(stat -c %Y "$MNT/grow")" "mtime = upper's"
	# a write into a copied-up lower file
	echo appended >>"$MNT/file2"
	assert_eq 21 "$(stat -c %s "$MNT/file2")"
	[ "$(stat -c %Y "$MNT/file2")" -gt "$(stat -c %Y "$LOWER2/file2")" ]
	assert_no_io
}

@test "passthrough: an mmap MAP_SHARED write is seen by read() and in the upper file" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	head -c 20000 /dev/zero | tr '\0' a >"$MNT/mapped"
	run ovltool mmapwrite "$MNT/mapped" 10 HELLO
	assert_output ok
	run ovltool mmapwrite "$MNT/mapped" 12000 WORLD
	assert_output ok
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	assert_eq aaaaaaaaaaHELLOaaaaa "$(head -c 20 "$MNT/mapped")"
	assert_eq aaWORLDaa "$(dd if="$MNT/mapped" bs=1 skip=11998 count=9 status=none)"
	assert_eq "$(sum "$MNT/mapped")" "$(sum "$UPPER/mapped")"
	assert_eq 20000 "$(stat -c %s "$MNT/mapped")"
	# a lower file mapped for writing is copied up first
	run ovltool mmapwrite "$MNT/file1" 0 L
	assert_output ok
	assert_eq "Lower1 file" "$(cat "$MNT/file1")"
	assert_eq "Lower1 file" "$(cat "$UPPER/file1")"
	assert_no_io
}

@test "passthrough: mtime and ctime after a write through a shared mapping are the upper file's" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	head -c 20000 /dev/zero >"$MNT/mapped"
	touch -d 2020-01-01 "$MNT/mapped"
	stat "$MNT/mapped" >/dev/null   # the kernel holds its attributes now
	run ovltool mmapwrite "$MNT/mapped" 10 HELLO
	assert_output ok
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	[ "$(stat -c %Y "$UPPER/mapped")" -gt "$(date -d 2020-01-02 +%s)" ]
	assert_eq "$(stat -c '%y %z %s' "$UPPER/mapped")" "$(stat -c '%y %z %s' "$MNT/mapped")"
	assert_no_io
}

@test "passthrough: a binary copied into the mount executes" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	cp /bin/true "$MNT/mytrue"
	cp /bin/echo "$MNT/myecho"
	"$MNT/mytrue"
	assert_eq "hi there" "$("$MNT/myecho" hi there)"
	assert_eq "$(sum /bin/echo)" "$(sum "$UPPER/myecho")"
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	# a running binary cannot be written, as on any filesystem
	cp /bin/sleep "$MNT/mysleep"
	"$MNT/mysleep" 300 &
	local pid=$!
	ovl_wait_until "the exec of mysleep" exe_is "$pid" "$MNT/mysleep"
	run bash -c 'echo x >>"$1"' sh "$MNT/mysleep"
	kill "$pid"
	wait "$pid" || true
	[ "$status" -ne 0 ]
	assert_output_contains "Text file busy"
	assert_eq "$(sum /bin/sleep)" "$(sum "$UPPER/mysleep")"
	assert_no_io
}

@test "passthrough: O_DIRECT and O_APPEND round-trip" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	dd if=/dev/urandom of="$TMP/src" bs=4096 count=64 status=none
	dd if="$TMP/src" of="$MNT/direct" bs=4096 oflag=direct status=none
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	assert_eq "$(sum "$TMP/src")" "$(dd if="$MNT/direct" bs=4096 iflag=direct status=none | sha256sum | cut -d' ' -f1)"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/direct")"
	assert_eq "$(sum "$TMP/src")" "$(sum "$MNT/direct")"

	echo one >"$MNT/app"
	echo two >>"$MNT/app"
	echo three >>"$MNT/app"
	assert_eq "one
two
three" "$(cat "$MNT/app")"
	assert_eq "one
two
three" "$(cat "$UPPER/app")"
	# O_APPEND on a lower file: copy-up keeps the data
	echo more >>"$MNT/file1"
	assert_eq "lower1 file
more" "$(cat "$UPPER/file1")"
	assert_no_io
}

@test "passthrough: fallocate, fsync and copy_file_range on passed-through files" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	echo start >"$MNT/falloc"
	run ovltool fallocate "$MNT/falloc" 0 1048576
	assert_output ok
	assert_eq 1048576 "$(stat -c %s "$MNT/falloc")"
	assert_eq 1048576 "$(stat -c %s "$UPPER/falloc")"
	assert_eq start "$(head -n 1 "$MNT/falloc")"
	fallocate -l 2MiB "$MNT/falloc"
	assert_eq 2097152 "$(stat -c %s "$MNT/falloc")"

	dd if=/dev/urandom of="$MNT/synced" bs=64k count=16 conv=fsync status=none
	assert_eq "$(sum "$MNT/synced")" "$(sum "$UPPER/synced")"
	run ovltool fsync "$MNT/synced2"
	assert_output ok
	assert_eq synced "$(cat "$MNT/synced2")"
	[ "$(count_log 'debug: fsync ino=')" -ge 2 ]

	run ovltool cfr "$MNT/synced" "$MNT/copy"
	assert_output ok
	assert_eq "$(sum "$MNT/synced")" "$(sum "$MNT/copy")"
	assert_eq "$(sum "$UPPER/synced")" "$(sum "$UPPER/copy")"
	assert_eq 1048576 "$(stat -c %s "$MNT/copy")"
	# copy_file_range out of a lower file into an upper one
	run ovltool cfr "$MNT/sparse" "$MNT/sparse_copy"
	assert_output ok
	assert_eq "$(sum "$LOWER1/sparse")" "$(sum "$UPPER/sparse_copy")"
	assert_eq "$(sum "$LOWER1/sparse")" "$(sum "$MNT/sparse_copy")"
}

# ---------------------------------------------------------------- 5

# The files of the setuid tests, made the same way in the upper layer and in
# a plain ext4 directory: NAME MODE [cap].  The l* files are lower files.
PRIV_FILES="a6777 6777
b2777 2777
c2767 2767
d4777 4777
e4777 4777
f6777 6777
g2767 2767
h6777 6777
i2777 2777
cap1 0777 cap
cap2 0777 cap
cap3 0777 cap"
PRIV_LOWER="l6777 6777
lheld 6777
lcap 0777 cap"

mk_priv_files() {
	local dir="$1" name mode cap
	while read -r name mode cap; do
		printf 'data\n' >"$dir/$name"
		chmod "$mode" "$dir/$name"
		[ -z "$cap" ] || setcap cap_net_raw+ep "$dir/$name"
	done <<<"$2"
}

# What is done to each file: by nobody unless said otherwise.
priv_ops() {
	local d="$1"
	nobody_append "$d/a6777"
	nobody_append "$d/b2777"
	nobody_append "$d/c2767"
	nobody_append "$d/d4777"
	echo x >>"$d/e4777" # root: CAP_FSETID keeps setuid
	as_nobody truncate -s 1 "$d/f6777"
	as_nobody truncate -s 1 "$d/g2767"
	nobody_otrunc "$d/h6777"
	as_nobody dd if=/dev/zero of="$d/i2777" bs=1 count=1 conv=notrunc status=none
	nobody_append "$d/cap1"
	echo x >>"$d/cap2" # root: the capability goes anyway
	as_nobody truncate -s 1 "$d/cap3"
	# lower files, copied up by the write; lheld is open read-only
	# meanwhile, so that its write goes through the daemon
	nobody_append "$d/l6777"
	nobody_append "$d/lcap"
	exec 8<"$d/lheld"
	nobody_append "$d/lheld"
	exec 8<&-
}

# One line per file: name, mode, size, capabilities.  The mode is asked
# alone first (statx STATX_MODE, as "stat -c %a" does), so a mode left
# stale in the kernel's attribute cache shows, then with the size.
priv_state() {
	local d="$1" f
	for f in $(printf '%s\n%s\n' "$PRIV_FILES" "$PRIV_LOWER" | cut -d' ' -f1); do
		echo "$f $(stat -c %a "$d/$f") $(stat -c '%a %s' "$d/$f") caps=$(getcap "$d/$f" | awk '{print $2}')"
	done
}

# assert_state WHAT EXPECTED ACTUAL: shows the lines that differ.
assert_state() {
	if [ "$2" != "$3" ]; then
		echo "# $1: expected (-) and got (+), as NAME MODE MODE SIZE CAPS:" >&2
		diff <(echo "$2") <(echo "$3") | grep '^[<>]' | sed 's/^</#   -/; s/^>/#   +/' >&2
		return 1
	fi
}

# priv_check PASSTHROUGH: does priv_ops on a plain ext4 directory and
# through a mount with -o passthrough=PASSTHROUGH; modes, sizes and
# capabilities must match.
priv_check() {
	local pt="$1" native="$TMP/native" expected
	command -v setcap >/dev/null || skip "setcap is missing (libcap2-bin)"
	make_layers
	chmod 755 "$TMP"
	mkdir "$native"
	mk_priv_files "$native" "$PRIV_FILES"
	mk_priv_files "$native" "$PRIV_LOWER"
	priv_ops "$native"
	expected="$(priv_state "$native")"
	# sanity: the native results are what the kernel is known to do
	grep -qx 'a6777 777 777 7 caps=' <<<"$expected"
	grep -qx 'e4777 4777 4777 7 caps=' <<<"$expected"
	grep -qx 'cap2 777 777 7 caps=' <<<"$expected"

	mk_priv_files "$UPPER" "$PRIV_FILES"
	mk_priv_files "$LOWER1" "$PRIV_LOWER"
	ovl_snapshot_lowers
	ovl_mount debug "passthrough=$pt"
	[ "$pt" = off ] || pt_require
	# the files really are opened the way this test says
	cat "$MNT/a6777" >/dev/null
	if [ "$pt" = off ]; then
		assert_eq "through the daemon (passthrough off)" "$(open_result "$(last_open_ino)")"
	else
		assert_eq passthrough "$(open_result "$(last_open_ino)")"
	fi
	priv_ops "$MNT"
	local mnt upper
	mnt="$(priv_state "$MNT")"
	upper="$(priv_state "$UPPER")"
	ovl_umount
	assert_state "passthrough=$pt, in the upper layer" "$expected" "$upper"
	assert_state "passthrough=$pt, through the mount" "$expected" "$mnt"
}

@test "passthrough=upper: setuid, setgid and capabilities are dropped as on ext4" {
	priv_check upper
}

@test "passthrough=off: setuid, setgid and capabilities are dropped as on ext4" {
	priv_check off
}

# ---------------------------------------------------------------- 6

@test "kernel overlayfs stacked on our mount works (max_stack_depth 1 by default)" {
	make_layers
	ovl_mount debug passthrough=upper
	pt_require
	wait_log 'debug: passthrough: on, max_stack_depth 1$'
	local big upperfile
	dd if=/dev/urandom of="$MNT/big" bs=64k count=32 status=none
	big="$(last_open_ino)"
	echo "ours" >"$MNT/upperfile"
	upperfile="$(last_open_ino)"
	KTOP="$TMP/ktop"
	mkdir -p "$KTOP" "$TMP/kupper" "$TMP/kwork"
	mount -t overlay overlay -o "lowerdir=$MNT,upperdir=$TMP/kupper,workdir=$TMP/kwork" "$KTOP"
	assert_eq "lower1 file" "$(cat "$KTOP/file1")"
	assert_eq "ours" "$(cat "$KTOP/upperfile")"
	assert_eq "$(sum "$UPPER/big")" "$(sum "$KTOP/big")"
	# writes land in the kernel overlay's upper layer, ours is untouched
	echo more >>"$KTOP/upperfile"
	echo new >"$KTOP/newfile"
	printf Z | dd of="$KTOP/big" conv=notrunc status=none
	assert_eq "ours
more" "$(cat "$KTOP/upperfile")"
	assert_eq "ours
more" "$(cat "$TMP/kupper/upperfile")"
	assert_eq new "$(cat "$TMP/kupper/newfile")"
	assert_eq Z "$(head -c 1 "$TMP/kupper/big")"
	assert_eq "$(sum "$TMP/kupper/big")" "$(sum "$KTOP/big")"
	assert_eq ours "$(cat "$MNT/upperfile")"
	[ ! -e "$MNT/newfile" ]
	umount "$KTOP"
	KTOP=
	# our upper files were passed through, under the kernel overlay too
	assert_eq passthrough "$(open_result "$big")"
	assert_eq passthrough "$(open_result "$upperfile")"
	assert_no_io "$big"
	assert_no_io "$upperfile"
}

# ---------------------------------------------------------------- 7

# Kernel overlayfs K under $TMP/k; our layers are directories inside it.
mk_kernel_base() {
	K="$TMP/k"
	mkdir -p "$K" "$TMP/kl" "$TMP/ku" "$TMP/kw"
	mkdir -p "$TMP/kl/lower"
	echo "lower in K" >"$TMP/kl/lower/file1"
	dd if=/dev/urandom of="$TMP/kl/lower/rand" bs=64k count=8 status=none
	mount -t overlay overlay -o "lowerdir=$TMP/kl,upperdir=$TMP/ku,workdir=$TMP/kw" "$K"
	mkdir -p "$K/upper" "$K/work"
	LOWERDIRS="$K/lower"
	UPPER="$K/upper"
	WORK="$K/work"
	ovl_snapshot_lowers
	# teardown unmounts K before it would compare the lower layer: the
	# test does it
	# shellcheck disable=SC2034 # read by ovl_teardown
	OVL_CHECK_LOWERS=0
}

@test "layers on kernel overlayfs: max_stack_depth 2 by default, files passed through" {
	mk_kernel_base
	ovl_mount debug passthrough=upper
	pt_require
	wait_log 'debug: passthrough: on, max_stack_depth 2$'
	local ino
	dd if=/dev/urandom of="$TMP/src" bs=1M count=8 status=none
	dd if="$TMP/src" of="$MNT/data" bs=1M conv=fsync status=none
	ino="$(last_open_ino)"
	assert_eq passthrough "$(open_result "$ino")"
	assert_eq "$(sum "$TMP/src")" "$(sum "$MNT/data")"
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/data")"
	echo more >>"$MNT/file1"
	assert_eq "lower in K
more" "$(cat "$MNT/file1")"
	assert_eq "lower in K
more" "$(cat "$UPPER/file1")"
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	assert_eq "$(sum "$TMP/kl/lower/rand")" "$(sum "$MNT/rand")"
	assert_no_io "$ino"
	local st
	st="$(ovl_stats)"
	[ "$(stat_num "$st" passthrough)" -ge 4 ] || { echo "# $st" >&2; return 1; }
	assert_eq 0 "$(stat_num "$st" "stacked too deep")" "($st)"
	assert_eq 0 "$(count_log 'stacked too deep')" "'stacked too deep' log lines"
	ovl_umount
	ovl_check_lowers
}

@test "layers on kernel overlayfs with max_stack_depth=1: one 'stacked too deep' line, I/O through the daemon" {
	mk_kernel_base
	ovl_mount debug passthrough=upper max_stack_depth=1
	pt_require
	wait_log 'debug: passthrough: on, max_stack_depth 1$'
	local i st
	dd if=/dev/urandom of="$TMP/src" bs=1M count=8 status=none
	dd if="$TMP/src" of="$MNT/data" bs=1M conv=fsync status=none
	# the first open finds out (the kernel refuses the backing), later
	# ones know
	[[ "$(open_result "$(last_open_ino)")" == "through the daemon ("* ]]
	for i in 1 2 3; do
		assert_eq "$(sum "$TMP/src")" "$(sum "$MNT/data")" "read $i"
		assert_eq "through the daemon (stacked too deep)" "$(open_result "$(last_open_ino)")"
		echo "line $i" >>"$MNT/f$i"
	done
	echo more >>"$MNT/file1"
	assert_eq "lower in K
more" "$(cat "$MNT/file1")"
	assert_eq "lower in K
more" "$(cat "$UPPER/file1")"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/data")"
	assert_eq "line 3" "$(cat "$UPPER/f3")"
	assert_eq 1 "$(count_log "passthrough: $UPPER is stacked too deep for max_stack_depth; its files go through the daemon")" "'stacked too deep' log lines"
	assert_eq 1 "$(count_log 'stacked too deep for max_stack_depth')"
	[ "$(count_log 'debug: write ino=')" -ge 1 ]
	[ "$(count_log 'debug: read ino=')" -ge 1 ]
	st="$(ovl_stats)"
	assert_eq 0 "$(stat_num "$st" passthrough)" "($st)"
	[ "$(stat_num "$st" "stacked too deep")" -ge 8 ] || { echo "# $st" >&2; return 1; }
	ovl_umount
	ovl_check_lowers
}

# ---------------------------------------------------------------- 8

@test "daemon in a user namespace: passthrough not permitted, one log line, I/O through the daemon" {
	make_layers
	local log="$TMP/ns.log" out
	NS_PID=
	: >"$log"
	dd if=/dev/urandom of="$TMP/src" bs=1M count=4 status=none
	cat >"$TMP/ns.sh" <<'EOF'
# in the namespace: $1 daemon, $2 -o options, $3 mountpoint, $4 log, $5 pid file
daemon=$1 opts=$2 mnt=$3 log=$4
"$daemon" -f -o "$opts" "$mnt" 2>>"$log" </dev/null &
pid=$!
echo "$pid" >"$5"
i=0
while ! mountpoint -q "$mnt"; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 3600 ]; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid"
		echo "no mount (daemon status $?)"
		exit 1
	fi
	i=$((i + 1))
	sleep 0.05
done
stat "$mnt" >/dev/null
dd if="$TMPDIR_SRC" of="$mnt/data" bs=1M conv=fsync status=none
echo "sum $(sha256sum <"$mnt/data" | cut -d' ' -f1)"
echo "lower $(cat "$mnt/file1")"
echo more >>"$mnt/file1"
echo "appended $(tr '\n' '|' <"$mnt/file1")"
n=$(grep -c 'fuse-overlayfs: stats: ' "$log")
kill -USR1 "$pid"
i=0
while [ "$(grep -c 'fuse-overlayfs: stats: ' "$log")" -le "$n" ] && [ $i -lt 3600 ]; do
	i=$((i + 1))
	sleep 0.05
done
umount "$mnt"
wait "$pid"
echo "daemon status $?"
EOF
	run env TMPDIR_SRC="$TMP/src" timeout 60 unshare -U -r -m --propagation private \
		sh "$TMP/ns.sh" "$FUSE_OVERLAYFS" \
		"debug,passthrough=upper,lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK" \
		"$MNT" "$log" "$TMP/ns.pid"
	out="$output"
	NS_PID="$(cat "$TMP/ns.pid" 2>/dev/null || true)"
	# what this machine cannot do, as unshare or libfuse (its messages
	# start "fuse: ") reported it
	if [ "$status" -ne 0 ] && [[ "$out" == "unshare: "* ]]; then
		skip "cannot create a user namespace here: $(head -n 1 <<<"$out")"
	fi
	if [[ "$out" == "no mount "* ]] && grep -Eq '^(fuse|fusermount3): ' "$log"; then
		skip "cannot mount FUSE in a user namespace here: $(grep -m1 -E '^(fuse|fusermount3): ' "$log")"
	fi
	if grep -q 'passthrough: not offered by the kernel' "$log"; then
		skip "the kernel does not offer FUSE passthrough"
	fi
	if grep -q 'passthrough: built without libfuse' "$log"; then
		skip "$FUSE_OVERLAYFS was built without passthrough"
	fi
	if [ "$status" -ne 0 ]; then
		echo "# namespace script failed ($status): $out" >&2
		sed 's/^/#   /' "$log" | tail -n 30 >&2
		return 1
	fi
	[[ "$out" == *"daemon status 0"* ]] || { echo "# $out" >&2; return 1; }
	if [ -n "$NS_PID" ] && ovl_alive "$NS_PID"; then
		echo "# daemon $NS_PID still running" >&2
		return 1
	fi
	if grep -Eq "$OVL_SANITIZER_RE" "$log"; then
		sed 's/^/#   /' "$log" | head -n 60 >&2
		return 1
	fi
	assert_eq "$(sum "$TMP/src")" "$(echo "$out" | sed -n 's/^sum //p')" "checksum through the mount"
	assert_eq "$(sum "$TMP/src")" "$(sum "$UPPER/data")" "checksum in the upper layer"
	assert_eq "lower1 file" "$(echo "$out" | sed -n 's/^lower //p')"
	assert_eq "lower1 file|more|" "$(echo "$out" | sed -n 's/^appended //p')"
	assert_eq "lower1 file
more" "$(cat "$UPPER/file1")"
	assert_eq 1 "$(count_log 'fuse-overlayfs: passthrough: not permitted \(needs CAP_SYS_ADMIN outside any user namespace\); file I/O goes through the daemon$' "$log")" "'not permitted' log lines"
	local st
	st="$(grep 'fuse-overlayfs: stats: ' "$log" | tail -n 1)"
	[ -n "$st" ] || { echo "# no stats line" >&2; return 1; }
	assert_eq 0 "$(stat_num "$st" passthrough)" "($st)"
	[ "$(stat_num "$st" "not permitted")" -ge 1 ] || { echo "# $st" >&2; return 1; }
	[ "$(count_log 'debug: write ino=' "$log")" -ge 1 ]
	[ "$(count_log 'debug: read ino=' "$log")" -ge 1 ]
	# the namespace's mount went with it
	assert_eq 0 "$(count_log " $MNT " /proc/mounts)" "mounts on $MNT"
}
