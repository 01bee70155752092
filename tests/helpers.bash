# shellcheck shell=bash
# Helper library for the bats suites: `load helpers` from a tests/*.bats file.
#
# Every test gets a fresh directory $TMP (under /tmp) with
#   $LOWER1 $LOWER2   two lower layers (LOWERDIRS="$LOWER1:$LOWER2", top first)
#   $UPPER $WORK      upper and work dirs
#   $MNT              the mountpoint
# ovl_mount mounts $FUSE_OVERLAYFS there in the foreground (-f) in the
# background, its stderr in $TMP/daemon.log; ovl_umount unmounts it and fails
# if the daemon exited non-zero or left a sanitizer report in the log.
# teardown unmounts everything and fails if a lower layer changed.

OVL_TESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${FUSE_OVERLAYFS:-}" ]; then
	if [ -x "$OVL_TESTS_DIR/../fuse-overlayfs" ]; then
		FUSE_OVERLAYFS="$OVL_TESTS_DIR/../fuse-overlayfs"
	else
		FUSE_OVERLAYFS=/usr/bin/fuse-overlayfs
	fi
fi
export FUSE_OVERLAYFS

# Patterns that mean a sanitizer found something in the daemon.
OVL_SANITIZER_RE='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ThreadSanitizer|ERROR: MemorySanitizer'

# ---------------------------------------------------------------- tooling

# Compiles tests/helpers/ovltool.c once (cached in tests/.build, rebuilt when
# the source is newer); sets $OVLTOOL.
ovl_build_tool() {
	ovl_build_helper ovltool || return 1
	OVLTOOL="$OVL_HELPER_BIN"
}

# ovltool SUBCOMMAND ARGS... (see tests/helpers/ovltool.c)
ovltool() {
	"$OVLTOOL" "$@"
}

# ---------------------------------------------------------------- setup

ovl_setup() {
	[ "$(id -u)" = 0 ] || skip "the suite needs root (mknod, trusted xattrs, mount)"
	[ -x "$FUSE_OVERLAYFS" ] || {
		echo "FUSE_OVERLAYFS=$FUSE_OVERLAYFS is not executable" >&2
		return 1
	}
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	ovl_build_tool || return 1
	TMP="$(mktemp -d /tmp/ovl-test.XXXXXX)"
	LOWER1="$TMP/lower1"
	LOWER2="$TMP/lower2"
	UPPER="$TMP/upper"
	WORK="$TMP/work"
	MNT="$TMP/mnt"
	LOWERDIRS="$LOWER1:$LOWER2"
	OVL_LOG="$TMP/daemon.log"
	mkdir -p "$LOWER1" "$LOWER2" "$UPPER" "$WORK" "$MNT"
	: >"$OVL_LOG"
	declare -gA OVL_PIDS=()
	OVL_LOWER_SNAP=""
	OVL_CHECK_LOWERS=1
}

ovl_teardown() {
	local status=0 mnt
	[ -n "${TMP:-}" ] && [ -d "$TMP" ] || return 0
	# our daemons: unmount through ovl_umount so exit status and sanitizer
	# reports are checked even when the test did not unmount
	for mnt in "${!OVL_PIDS[@]}"; do
		if ! ovl_umount "$mnt"; then
			status=1
		fi
	done
	# anything else mounted below $TMP (kernel overlayfs, tmpfs), deepest first
	local m
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r)
	if [ "$OVL_CHECK_LOWERS" = 1 ] && [ -n "$OVL_LOWER_SNAP" ]; then
		if ! ovl_check_lowers; then
			status=1
		fi
	fi
	if [ "$status" = 0 ] || [ -z "${OVL_KEEP_FAILED:-}" ]; then
		rm -rf "$TMP"
	else
		echo "kept $TMP" >&2
	fi
	return "$status"
}

setup() {
	ovl_setup
}

teardown() {
	ovl_teardown
}

# ---------------------------------------------------------------- manifests

# ovl_tree_manifest DIR...: one line per entry below each DIR (path, type,
# mode, owner, size, mtime, rdev, symlink target, sha256 of regular files,
# all xattrs).  Access times are left out: reading through a mount may change
# them.  Paths are relative to DIR when one DIR is given.
ovl_tree_manifest() {
	(
		local -a dirs=("$@")
		if [ $# = 1 ]; then
			cd "$1" || exit 1
			dirs=(.)
		fi
		find "${dirs[@]}" -mindepth 1 -printf '%p|%y|%m|%U:%G|%s|%T@|%l\n' | LC_ALL=C sort
		find "${dirs[@]}" -mindepth 1 -type c -exec stat -c '%n|rdev=%t:%T' {} + | LC_ALL=C sort
		find "${dirs[@]}" -mindepth 1 -type f -print0 | xargs -0 -r sha256sum | LC_ALL=C sort -k2
		getfattr -R -P -d -m - -e hex --absolute-names "${dirs[@]}" 2>/dev/null || true
	)
}

# ovl_lowers_manifest OUT LOWERDIRS: manifest of every layer of LOWERDIRS;
# for a plugin's layer (//NAME/DATA/PATH), of PATH (a directory, or the
# checksum of an archive).
ovl_lowers_manifest() {
	local out="$1" l
	local -a layers dirs=()
	IFS=: read -r -a layers <<<"$2"
	printf '%s\n' "${layers[@]}" >"$out"
	for l in "${layers[@]}"; do
		if [[ $l == //*/*/* ]]; then
			l="${l#//*/*/}"
			[ -e "$l" ] || continue   # a plugin's own data, not a path
		fi
		if [ -f "$l" ]; then
			sha256sum "$l" >>"$out"
		else
			dirs+=("$l")
		fi
	done
	[ ${#dirs[@]} = 0 ] || ovl_tree_manifest "${dirs[@]}" >>"$out"
}

# Records the lower layers; teardown checks they are unchanged. Call it
# again after a test changes a lower layer on purpose.
ovl_snapshot_lowers() {
	OVL_LOWER_SNAP="$TMP/lowers.manifest"
	OVL_SNAP_LOWERDIRS="$LOWERDIRS"
	ovl_lowers_manifest "$OVL_LOWER_SNAP" "$LOWERDIRS"
}

# Fails (with a diff) when a lower layer differs from its snapshot.
ovl_check_lowers() {
	ovl_lowers_manifest "$TMP/lowers.now" "$OVL_SNAP_LOWERDIRS"
	if ! diff -u "$OVL_LOWER_SNAP" "$TMP/lowers.now" >"$TMP/lowers.diff"; then
		echo "# a lower layer was modified:" >&2
		head -n 40 "$TMP/lowers.diff" >&2
		return 1
	fi
}

# ---------------------------------------------------------------- layers

# The standard fixture: two lower layers with every kind of entry.
#   lower2 (bottom)                     lower1 (top)
#   file2            "lower2 file"      file1       "lower1 file"
#   shadow           "from lower2"      shadow      "from lower1"
#   gone             "deleted"          gone        whiteout (char 0/0)
#   gone_wh          "deleted too"      .wh.gone_wh whiteout (.wh. form)
#   dir/a dir/b dir/sub/deep            dir/c
#   opq/hidden                          opq/ (trusted.overlay.opaque=y) opq/visible
#   merged/x                            merged/y
#   lowdir/l1/l2/f  (only in lower2)    link -> file1,  dangling -> nowhere
#   owned (1234:5678, 0640)             sparse (10 MiB, data at 0 and 5 MiB)
#   xattr_file (user.test=hello)        suid (4755)
make_layers() {
	local l1="$LOWER1" l2="$LOWER2"
	mkdir -p "$l2/dir/sub" "$l2/opq" "$l2/merged" "$l2/lowdir/l1/l2"
	echo "lower2 file" >"$l2/file2"
	echo "from lower2" >"$l2/shadow"
	echo "deleted" >"$l2/gone"
	echo "deleted too" >"$l2/gone_wh"
	echo a >"$l2/dir/a"
	echo b >"$l2/dir/b"
	echo deep >"$l2/dir/sub/deep"
	echo hidden >"$l2/opq/hidden"
	echo x >"$l2/merged/x"
	echo f >"$l2/lowdir/l1/l2/f"
	echo owned >"$l2/owned"
	chown 1234:5678 "$l2/owned"
	chmod 0640 "$l2/owned"
	echo xattr >"$l2/xattr_file"
	setfattr -n user.test -v hello "$l2/xattr_file"

	mkdir -p "$l1/dir" "$l1/opq" "$l1/merged"
	echo "lower1 file" >"$l1/file1"
	echo "from lower1" >"$l1/shadow"
	mknod "$l1/gone" c 0 0
	: >"$l1/.wh.gone_wh"
	echo c >"$l1/dir/c"
	setfattr -n trusted.overlay.opaque -v y "$l1/opq"
	echo visible >"$l1/opq/visible"
	echo y >"$l1/merged/y"
	ln -s file1 "$l1/link"
	ln -s nowhere "$l1/dangling"
	truncate -s 10M "$l1/sparse"
	printf 'head' | dd of="$l1/sparse" conv=notrunc status=none
	printf 'middle' | dd of="$l1/sparse" bs=1M seek=5 conv=notrunc status=none
	echo suid >"$l1/suid"
	chmod 4755 "$l1/suid"
	touch -d '2001-02-03 04:05:06' "$l2/file2" "$l1/file1"
	ovl_snapshot_lowers
}

# ---------------------------------------------------------------- mounting

# How long to wait for an event (a mount, a daemon's exit) before calling it
# a failure: minutes, since a loaded machine can be many times slower; a
# wait that takes long is reported.
OVL_WAIT_SECONDS=${OVL_WAIT_SECONDS:-180}

# ovl_wait_until WHAT CMD...: polls CMD until it succeeds (0) or
# OVL_WAIT_SECONDS pass (1); says so when it took more than 10 s.
ovl_wait_until() {
	local what="$1" start=$SECONDS
	shift
	until "$@"; do
		if ((SECONDS - start >= OVL_WAIT_SECONDS)); then
			return 1
		fi
		sleep 0.05
	done
	if ((SECONDS - start > 10)); then
		echo "# $what took $((SECONDS - start)) s (a loaded machine?)" >&2
	fi
	return 0
}

# mounted or dead: the event ovl_wait_mounted waits for
ovl_mounted_or_dead() {
	mountpoint -q "$2" || ! ovl_alive "$1"
}

# ovl_wait_mounted PID MNT: waits until MNT is a mountpoint while the
# daemon lives.
ovl_wait_mounted() {
	local pid="$1" mnt="$2"
	ovl_wait_until "mounting $mnt" ovl_mounted_or_dead "$pid" "$mnt"
	if mountpoint -q "$mnt"; then
		return 0
	fi
	if ! ovl_alive "$pid"; then
		wait "$pid" 2>/dev/null
		echo "# daemon exited (status $?) before mounting $mnt; log:" >&2
	else
		echo "# $mnt not mounted after $OVL_WAIT_SECONDS s; log:" >&2
	fi
	sed 's/^/#   /' "$OVL_LOG" >&2
	return 1
}

ovl_try_umount() {
	umount "$1" 2>/dev/null || ! mountpoint -q "$1"
}

ovl_dead() {
	! ovl_alive "$1"
}

ovl_alive() {
	local pid="$1" state
	[ -r "/proc/$pid/stat" ] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# ovl_start ARGS...: runs "$FUSE_OVERLAYFS -f ARGS" in the background (the
# last argument is the mountpoint), stderr appended to $OVL_LOG, and waits
# for the mount.
ovl_start() {
	local mnt="${*: -1}"
	if [ -n "${OVL_PIDS[$mnt]:-}" ] && mountpoint -q "$mnt"; then
		echo "# $mnt is already mounted" >&2
		return 1
	fi
	if [ -z "$OVL_LOWER_SNAP" ]; then
		ovl_snapshot_lowers
	fi
	"$FUSE_OVERLAYFS" -f "$@" 2>>"$OVL_LOG" </dev/null 3>&- &
	local pid=$!
	OVL_PIDS[$mnt]=$pid
	OVL_PID=$pid
	ovl_wait_mounted "$pid" "$mnt"
}

# ovl_mount [OPTION...]: mounts $LOWERDIRS (+ $UPPER/$WORK unless
# OVL_NO_UPPER=1) on $MNT; each argument is one more -o option, after those
# of $OVL_EXTRA_OPTS (set by tests/run.sh for its passthrough=off pass).
ovl_mount() {
	local opts="lowerdir=$LOWERDIRS${OVL_EXTRA_OPTS:+,$OVL_EXTRA_OPTS}"
	if [ "${OVL_NO_UPPER:-0}" != 1 ]; then
		opts="$opts,upperdir=$UPPER,workdir=$WORK"
	fi
	local o
	for o in "$@"; do
		opts="$opts,$o"
	done
	ovl_start -o "$opts" "$MNT"
}

# ovl_umount [MNT]: unmounts, waits for the daemon and checks how it ended.
ovl_umount() {
	local mnt="${1:-$MNT}"
	local pid="${OVL_PIDS[$mnt]:-}"
	if mountpoint -q "$mnt"; then
		if ! umount "$mnt" 2>/dev/null && ! fusermount3 -u "$mnt"; then
			ovl_wait_until "unmounting $mnt" ovl_try_umount "$mnt"
			if mountpoint -q "$mnt"; then
				echo "# cannot unmount $mnt" >&2
				umount -l "$mnt" 2>/dev/null
				[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
				unset "OVL_PIDS[$mnt]"
				return 1
			fi
		fi
	fi
	[ -n "$pid" ] || return 0
	unset "OVL_PIDS[$mnt]"
	ovl_wait_daemon "$pid"
}

# ovl_wait_daemon PID: waits for the daemon to exit; fails unless it
# exited 0 with no sanitizer report in $OVL_LOG.
ovl_wait_daemon() {
	local pid="$1" rc
	ovl_wait_until "the exit of daemon $pid" ovl_dead "$pid"
	if ovl_alive "$pid"; then
		echo "# daemon $pid still running $OVL_WAIT_SECONDS s after unmount" >&2
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	# "|| rc=$?": under bats' set -e a bare failing wait would end the
	# function here, before the report below is shown
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	OVL_DAEMON_STATUS=$rc
	if grep -Eq "$OVL_SANITIZER_RE" "$OVL_LOG"; then
		echo "# sanitizer report in the daemon log:" >&2
		sed -En "/$OVL_SANITIZER_RE/,\$p" "$OVL_LOG" | head -n 60 | sed 's/^/#   /' >&2
		return 1
	fi
	if [ "$rc" != 0 ]; then
		echo "# daemon exited with status $rc; log:" >&2
		sed 's/^/#   /' "$OVL_LOG" | tail -n 30 >&2
		return 1
	fi
}

# kovl_mount [OPTION...] : kernel overlayfs with the same layers on $MNT
# (or $KMNT when set).
kovl_mount() {
	local mnt="${KMNT:-$MNT}"
	local opts="lowerdir=$LOWERDIRS"
	if [ "${OVL_NO_UPPER:-0}" != 1 ]; then
		opts="$opts,upperdir=$UPPER,workdir=$WORK"
	fi
	local o
	for o in "$@"; do
		opts="$opts,$o"
	done
	if [ -z "$OVL_LOWER_SNAP" ]; then
		ovl_snapshot_lowers
	fi
	mount -t overlay overlay -o "$opts" "$mnt"
}

kovl_umount() {
	umount "${1:-${KMNT:-$MNT}}"
}

# as_nobody CMD...: runs CMD as uid/gid 65534 with no other groups.
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# ---------------------------------------------------------------- asserts

# The `run` helpers of bats-assert are not installed; these are enough.
assert_status() {
	if [ "$status" != "$1" ]; then
		echo "# expected status $1, got $status; output:" >&2
		printf '%s\n' "$output" | sed 's/^/#   /' >&2
		return 1
	fi
}

assert_output() {
	if [ "$output" != "$1" ]; then
		echo "# expected output: $1" >&2
		echo "# actual output:   $output" >&2
		return 1
	fi
}

assert_output_contains() {
	if [[ "$output" != *"$1"* ]]; then
		echo "# output does not contain: $1" >&2
		printf '%s\n' "$output" | sed 's/^/#   /' >&2
		return 1
	fi
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	if [ "$1" != "$2" ]; then
		echo "# ${3:-value}: expected '$1', got '$2'" >&2
		return 1
	fi
}

# assert_ne UNEXPECTED ACTUAL WHAT
assert_ne() {
	if [ "$1" = "$2" ]; then
		echo "# ${3:-value}: expected something other than '$1'" >&2
		return 1
	fi
}

# assert_errno EXPECTED_NAME CMD...: runs an ovltool-style command and
# checks the errno name it printed.
assert_errno() {
	local want="$1"
	shift
	run "$@"
	if [ "$output" != "$want" ]; then
		echo "# $*: expected $want, got '$output' (status $status)" >&2
		return 1
	fi
}

# Is the path a whiteout in some on-disk form (char 0/0 or .wh.NAME)?
is_whiteout() {
	local p="$1"
	local d b
	d="$(dirname "$p")"
	b="$(basename "$p")"
	if [ -c "$p" ] && [ "$(stat -c '%t:%T' "$p")" = "0:0" ]; then
		return 0
	fi
	[ -e "$d/.wh.$b" ]
}

# Is the directory marked opaque in some on-disk form?
is_opaque() {
	local d="$1" x
	for x in trusted.overlay.opaque user.overlay.opaque user.fuseoverlayfs.opaque; do
		if [ "$(getfattr --only-values -n "$x" "$d" 2>/dev/null)" = y ]; then
			return 0
		fi
	done
	[ -e "$d/.wh..wh..opq" ]
}

# Does the daemon log show that some request touched PATH? (used only as an
# extra diagnostic)
ovl_log() {
	cat "$OVL_LOG"
}

# count_log REGEX [LOG]: how many lines of the log ($OVL_LOG) match
count_log() {
	grep -Ec "$1" "${2:-$OVL_LOG}" || true
}

# stats_after BEFORE LOG: more stats lines in LOG than BEFORE
stats_after() {
	[ "$(count_log 'fuse-overlayfs: stats: ' "$2")" -gt "$1" ]
}

# ovl_stats: SIGUSR1 to the daemon ($OVL_PID); prints its new stats line.
ovl_stats() {
	local pid="$OVL_PID" log="$OVL_LOG" before
	before="$(count_log 'fuse-overlayfs: stats: ' "$log")"
	kill -USR1 "$pid" || return 1
	if ovl_wait_until "the stats line" stats_after "$before" "$log"; then
		grep 'fuse-overlayfs: stats: ' "$log" | tail -n 1
		return 0
	fi
	echo "# no stats line $OVL_WAIT_SECONDS s after SIGUSR1" >&2
	return 1
}

# stat_num STATSLINE WHAT: the number after "WHAT " / "WHAT: " in a stats
# line (WHAT: opens, passthrough, "through the daemon", copy-ups, "node ids
# renewed" or a reason such as "lower file"); 0 for a reason not listed.
stat_num() {
	local re
	case "$2" in
	opens | passthrough | "through the daemon" | copy-ups | whiteouts | "node ids renewed" | "backings replaced")
		re="(: |, )$2 ([0-9]+)" ;;
	*)
		re="[(, ]$2: ([0-9]+)" ;;
	esac
	if [[ "$1" =~ $re ]]; then
		echo "${BASH_REMATCH[2]:-${BASH_REMATCH[1]}}"
	else
		echo 0
	fi
}

# ---------------------------------------------------------------- refused mounts

# expect_mount_error NEEDLES ARG...: runs the binary (daemonizing: a binary
# that wrongly mounts returns instead of serving in the foreground) and
# checks the failure: exit status 1, nothing mounted, the upper unchanged,
# one line on stderr that starts with "fuse-overlayfs:" and names one of
# NEEDLES ('|'-separated).
expect_mount_error() {
	local needles="$1" needle found=0
	shift
	[ -n "$needles" ] || found=1
	local before="$TMP/upper.before"
	ovl_tree_manifest "$UPPER" >"$before"
	run timeout 20 "$FUSE_OVERLAYFS" "$@" 3>&-
	local mounted=0
	if mountpoint -q "$MNT"; then
		mounted=1
		umount "$MNT"
	fi
	if [ "$mounted" = 1 ]; then
		local cmdline="$*"
		echo "# the bad command line mounted $MNT (status $status): ${cmdline:0:300}" >&2
		return 1
	fi
	if [ "$status" != 1 ]; then
		echo "# expected exit status 1, got $status; output:" >&2
		printf '%s\n' "$output" | sed 's/^/#   /' >&2
		return 1
	fi
	if ! diff -u "$before" <(ovl_tree_manifest "$UPPER") >&2; then
		echo "# the upper layer changed" >&2
		return 1
	fi
	if [ "$(printf '%s\n' "$output" | grep -c .)" != 1 ]; then
		echo "# expected exactly one line on stderr, got:" >&2
		printf '%s\n' "$output" | sed 's/^/#   /' >&2
		return 1
	fi
	if [[ "$output" != fuse-overlayfs:* ]]; then
		echo "# message does not start with 'fuse-overlayfs:': $output" >&2
		return 1
	fi
	local -a alternatives
	IFS='|' read -r -a alternatives <<<"$needles"
	for needle in "${alternatives[@]}"; do
		[[ "$output" == *"$needle"* ]] && found=1
	done
	if [ "$found" = 0 ]; then
		echo "# message names none of '$needles': $output" >&2
		return 1
	fi
}

# ---------------------------------------------------------------- helper programs

# ovl_build_helper NAME [GCC-ARGS...]: compiles tests/helpers/NAME.c once
# into ${OVL_BUILD_DIR:-tests/.build}/NAME (rebuilt when the source is newer),
# like ovl_build_tool; sets $OVL_HELPER_BIN to the binary.
ovl_build_helper() {
	local name="$1"
	shift
	local src="$OVL_TESTS_DIR/helpers/$name.c"
	local dir="${OVL_BUILD_DIR:-$OVL_TESTS_DIR/.build}"
	OVL_HELPER_BIN="$dir/$name"
	if [ -x "$OVL_HELPER_BIN" ] && [ "$OVL_HELPER_BIN" -nt "$src" ]; then
		return 0
	fi
	mkdir -p "$dir" || return 1
	local tmp
	tmp="$(mktemp "$dir/$name.XXXXXX")" || return 1
	if ! gcc -O1 -Wall -o "$tmp" "$src" "$@"; then
		rm -f "$tmp"
		echo "cannot compile $src" >&2
		return 1
	fi
	mv -f "$tmp" "$OVL_HELPER_BIN"
}
