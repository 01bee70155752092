# shellcheck shell=bash
# Crash and error injection for tests/crash.bats (load it after helpers).
#
# A scenario is a set-up made through the mount (PRE) and one operation
# (OP), both shell snippets run in the mountpoint.  crash_scenario:
#
#  1. builds the start state s0: the shared lower layers (crash_layers) and
#     an upper made by PRE through our daemon.  BEFORE is the merged view of
#     s0; kernel overlayfs must read s0 the same.
#  2. runs OP once on a copy of s0 with the daemon traced (the reference
#     run): AFTER is the merged view then; the upper must read as AFTER on a
#     fresh mount of ours and on kernel overlayfs, and kernel overlayfs doing
#     OP on its own copy of s0 must give the same exit status, output and
#     view.  The trace lists the daemon's system calls during OP.
#  3. kill: for each call that can change the disk (see CRASH_KILL_RE),
#     its number N among the calls of its syscall: a fresh copy of s0,
#     mount, strace -e inject=SYSCALL:signal=KILL:when=N, OP, umount -l,
#     mount again: WORKDIR/work must be empty, the view BEFORE or AFTER, and
#     kernel overlayfs must read the upper the same.
#  4. eio / enospc: the same with error=EIO at every traced call, and
#     error=ENOSPC at every call that can run out of space: OP must fail
#     (the view is BEFORE) or succeed (AFTER), on the live mount, after
#     unmounting (status 0, no sanitizer report) on kernel overlayfs.
#
# strace counts `when=N` per syscall and per thread, and the daemon serves
# requests on several threads (one request may even come in two: a rename
# or an exclusive create first looks the target up again).  So one worker
# thread is traced and injected into, and a second strace holds every other
# worker in the entry of its read(2) of /dev/fuse (inject=read:delay_enter):
# the traced thread serves every request of OP, one at a time, and N counts
# its calls in one deterministic order.  Each run checks that the held
# threads read nothing.  So requests must come over /dev/fuse: the mounts
# use io_uring=off (over io_uring, one ring thread per CPU serves them, with
# no read(2) to hold).
#
# A scenario may set CRASH_AFTER, a regex: the points up to the last call
# matching it in the reference run are not visited (a copy-up that another
# test covers in full), and CRASH_SAME_VIEW=1 when OP leaves the merged view
# as it was (copy-up only).
#
# Knobs: CRASH_MODES (default "kill eio enospc"), CRASH_JOBS (runs in
# parallel, default the number of CPUs up to 4), CRASH_VERBOSE=1 (one line
# per run on fd 3), CRASH_KEEP=1 (the directory of each failed run is kept
# under $TMP/failed; with OVL_KEEP_FAILED=1), CRASH_DEBUG=DIR (the traces
# are copied there), CRASH_REPORT_LINES (default 200).

# The calls traced during OP (everything that may change the disk or fail
# in a way the daemon must handle; not stat, read, getdents).
CRASH_TRACE=openat,open,creat,mkdirat,mkdir,mknodat,mknod,symlinkat,symlink,linkat,link
CRASH_TRACE+=,unlinkat,unlink,rmdir,renameat2,renameat,rename
CRASH_TRACE+=,fsetxattr,setxattr,lsetxattr,fremovexattr,removexattr,lremovexattr
CRASH_TRACE+=,fgetxattr,getxattr,lgetxattr,flistxattr,listxattr,llistxattr
CRASH_TRACE+=,fchownat,fchown,chown,lchown,fchmodat,fchmod,chmod
CRASH_TRACE+=,utimensat,utimes,futimesat,ftruncate,truncate,fallocate
CRASH_TRACE+=,write,pwrite64,pwritev,pwritev2,copy_file_range,sendfile,ioctl,pread64
CRASH_TRACE+=,readlinkat,readlink,lseek,fsync,fdatasync

# Killed at: calls that change the disk (an open only with O_CREAT,
# O_TMPFILE or O_TRUNC).  A kill at the entry of any other call leaves the
# disk as a kill at the next of these does, or as OP's end.
CRASH_KILL_RE='^(mkdirat|mkdir|mknodat|mknod|symlinkat|symlink|linkat|link|unlinkat|unlink|rmdir|renameat2|renameat|rename|fsetxattr|setxattr|lsetxattr|fremovexattr|removexattr|lremovexattr|fchownat|fchown|chown|lchown|fchmodat|fchmod|chmod|utimensat|utimes|futimesat|ftruncate|truncate|fallocate|write|pwrite64|pwritev|pwritev2|copy_file_range|sendfile|ioctl)\(|^(openat|open|creat)\(.*(O_CREAT|O_TMPFILE|O_TRUNC)'
# ENOSPC at: calls that allocate.
CRASH_ENOSPC_RE='^(mkdirat|mkdir|mknodat|mknod|symlinkat|symlink|linkat|link|renameat2|renameat|rename|fsetxattr|setxattr|lsetxattr|fallocate|write|pwrite64|pwritev|pwritev2|copy_file_range|sendfile|ioctl)\(|^(openat|open|creat)\(.*(O_CREAT|O_TMPFILE)'

# Bounds (seconds) for events that take milliseconds on an idle machine;
# the second for the daemon's worker threads to be idle after the warm-up
# (a longer wait means another thread layout than libfuse's: say so soon).
CRASH_WAIT=180
CRASH_IDLE_WAIT=30

crash_setup() {
	command -v strace >/dev/null || skip "strace is not installed"
	crash_build_view || return 1
	KMNT="$TMP/kmnt"
	mkdir -p "$KMNT"
	CRASH_KOPTS="index=off,redirect_dir=off,metacopy=off"
	if ! mount -t overlay overlay -o "lowerdir=$LOWER2,upperdir=$UPPER,workdir=$WORK,$CRASH_KOPTS" \
		"$KMNT" 2>/dev/null; then
		skip "kernel overlayfs is not available"
	fi
	umount "$KMNT"
	rm -rf "$UPPER" "$WORK"
	export OVLTOOL
}

# ---------------------------------------------------------------- layers

# The lower layers every scenario starts from (all times in 2001: a view
# shows times before 2011 and "new" for later ones).
#   lower2 (bottom)                       lower1 (top)
#   D/a D/b                               dir/y
#   f "lower f" 0640 1234:5678 user.x=1   gone (char 0/0 whiteout)
#   g h "lower g/h"                       odir/ (opaque) odir/vis
#   sp (3 MiB, data at 0 and 2 MiB)       k "lower1 k"
#   dir/x ldir/sub/deep ed/ (empty)
#   gone "hidden" odir/hid
#   sym -> f (1234:5678), fifo
crash_layers() {
	local l1="$LOWER1" l2="$LOWER2"
	mkdir -p "$l2/D" "$l2/dir" "$l2/ldir/sub" "$l2/ed" "$l2/odir" "$l1/dir" "$l1/odir"
	echo a >"$l2/D/a"
	echo b >"$l2/D/b"
	echo "lower f" >"$l2/f"
	chown 1234:5678 "$l2/f"
	chmod 0640 "$l2/f"
	setfattr -n user.x -v 1 "$l2/f"
	echo "lower g" >"$l2/g"
	echo "lower h" >"$l2/h"
	truncate -s 3M "$l2/sp"
	printf head | dd of="$l2/sp" conv=notrunc status=none
	printf middle | dd of="$l2/sp" bs=1M seek=2 conv=notrunc status=none
	echo x >"$l2/dir/x"
	echo deep >"$l2/ldir/sub/deep"
	echo hidden >"$l2/gone"
	echo hid >"$l2/odir/hid"
	ln -s f "$l2/sym"
	chown -h 1234:5678 "$l2/sym"
	mkfifo "$l2/fifo"
	echo y >"$l1/dir/y"
	mknod "$l1/gone" c 0 0
	setfattr -n trusted.overlay.opaque -v y "$l1/odir"
	echo vis >"$l1/odir/vis"
	echo "lower1 k" >"$l1/k"
	find "$l1" "$l2" -exec touch -h -d '2001-02-03 04:05:06' {} +
	ovl_snapshot_lowers
}

# ---------------------------------------------------------------- views

# crash_build_view: compiles tests/crash/view.c (see there) once per
# file of tests into $BATS_FILE_TMPDIR (or $TMP); sets CRASH_VIEW.
crash_build_view() {
	local dir="${BATS_FILE_TMPDIR:-$TMP}" src="$OVL_TESTS_DIR/crash/view.c"
	CRASH_VIEW="$dir/crashview"
	if [ -x "$CRASH_VIEW" ] && [ "$CRASH_VIEW" -nt "$src" ]; then
		return 0
	fi
	gcc -O2 -Wall -Werror -o "$CRASH_VIEW.tmp" "$src" || return 1
	mv -f "$CRASH_VIEW.tmp" "$CRASH_VIEW"
}

# crash_view DIR: the merged tree below DIR, one line per name (type, mode,
# owner, size, links, content hash, symlink target, rdev, user.* xattrs,
# the mtime of non-directories when before 2011 else "new"), and a
# "same-file:" line per set of names of one inode (tests/crash/view.c).
crash_view() {
	"$CRASH_VIEW" "$1" || echo "crashview failed on $1"
}

# ---------------------------------------------------------------- polling

# The waits below poll every few milliseconds for thousands of runs: with
# builtins only (no awk, grep or sleep process per look).

# crash_alive PID: PID exists and is not a zombie.
crash_alive() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	st="${st##*) }"
	[[ "${st%% *}" != [ZX] ]]
}

# crash_state PID TID: the state letter of thread TID.
crash_state() {
	local st
	read -r st 2>/dev/null <"/proc/$1/task/$2/stat" || return 1
	st="${st##*) }"
	echo "${st%% *}"
}

# crash_sleep SECONDS: the read builtin with a timeout, on a FIFO no one
# writes.
crash_sleep() {
	if [ -z "${CRASH_SLEEP_FD:-}" ]; then
		mkfifo "$TMP/sleep.fifo.$BASHPID"
		exec {CRASH_SLEEP_FD}<>"$TMP/sleep.fifo.$BASHPID"
		rm -f "$TMP/sleep.fifo.$BASHPID"
	fi
	read -r -t "$1" -u "$CRASH_SLEEP_FD" _ || true
}

# crash_mounted [TYPE]: $MNT is in /proc/self/mounts (as TYPE).
crash_mounted() {
	local -a m
	mapfile -t m </proc/self/mounts
	[[ "${m[*]}" == *" $MNT ${1:-}"* ]]
}

# crash_has FILE STRING: FILE has a line containing STRING.
crash_has() {
	local -a l
	mapfile -t l <"$1" 2>/dev/null || return 1
	[[ "${l[*]}" == *"$2"* ]]
}

# ---------------------------------------------------------------- daemons

# crash_wait_gone: waits (bounded) for the daemon to exit; its exit status
# in CRASH_RC.
crash_wait_gone() {
	local i
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		crash_alive "$CRASH_JOB" || break
		crash_sleep 0.005
	done
	if crash_alive "$CRASH_JOB"; then
		echo "# daemon $CRASH_PID still alive after ${CRASH_WAIT}s" >&2
		kill -9 "$CRASH_PID" 2>/dev/null
	fi
	wait "$CRASH_JOB" 2>/dev/null
	CRASH_RC="$(cat "$CRASH_STATUS" 2>/dev/null)"
	CRASH_RC="${CRASH_RC:-lost}"
}

# crash_start DIR: our daemon on the lowers + DIR/upper, DIR/work at $MNT,
# stderr in DIR/daemon.log; sets CRASH_PID.  Waits (bounded) for the mount.
crash_start() {
	local d="$1" i
	local opts="lowerdir=$LOWERDIRS,upperdir=$d/upper,workdir=$d/work,io_uring=off${OVL_EXTRA_OPTS:+,$OVL_EXTRA_OPTS}"
	# in a subshell that outlives it: bash reports a child killed by a
	# signal on stderr, not a grandchild
	rm -f "$d/status"
	(
		"$FUSE_OVERLAYFS" -f -o "$opts" "$MNT" 2>>"$d/daemon.log" </dev/null 3>&-
		echo "$?" >"$d/status"
	) 2>/dev/null &
	CRASH_JOB=$!
	CRASH_STATUS="$d/status"
	CRASH_PID=
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		read -r CRASH_PID _ <"/proc/$CRASH_JOB/task/$CRASH_JOB/children" 2>/dev/null
		[ -n "$CRASH_PID" ] && break
		crash_alive "$CRASH_JOB" || break
		crash_sleep 0.005
	done
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		if crash_mounted fuse; then
			return 0
		fi
		if ! crash_alive "$CRASH_PID"; then
			break
		fi
		crash_sleep 0.005
	done
	echo "# the daemon did not mount $MNT; log:" >&2
	sed 's/^/#   /' "$d/daemon.log" | tail -n 20 >&2
	[ -n "$CRASH_PID" ] && kill -9 "$CRASH_PID" 2>/dev/null
	wait "$CRASH_JOB" 2>/dev/null
	return 1
}

# crash_stop DIR: unmounts $MNT; fails (why in CRASH_MSG) unless the
# daemon exits 0 without a sanitizer report.  (Not in a $( ): it waits for
# its child.)
crash_stop() {
	local d="$1" i
	CRASH_MSG=
	for ((i = 0; i < CRASH_WAIT * 10; i++)); do
		umount "$MNT" 2>/dev/null && break
		crash_mounted || break
		crash_sleep 0.1
	done
	if crash_mounted; then
		CRASH_MSG="cannot unmount $MNT"
		umount -l "$MNT"
	fi
	crash_wait_gone
	if grep -Eq "$OVL_SANITIZER_RE" "$d/daemon.log"; then
		CRASH_MSG="sanitizer report in the daemon log:
$(sed -En "/$OVL_SANITIZER_RE/,\$p" "$d/daemon.log" | head -n 40)"
		return 1
	fi
	if [ "$CRASH_RC" != 0 ]; then
		CRASH_MSG="the daemon exited with status $CRASH_RC; log:
$(tail -n 20 "$d/daemon.log")"
		return 1
	fi
	[ -z "$CRASH_MSG" ]
}

# crash_drop DIR: after the daemon was killed: lazy unmount, reap it.
crash_drop() {
	crash_wait_gone
	while crash_mounted; do
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || break
	done
}

# crash_kview DIR: the view of kernel overlayfs on the lowers + DIR/upper.
crash_kview() {
	local d="$1"
	rm -rf "$d/kwork"
	mkdir "$d/kwork"
	if ! mount -t overlay overlay \
		-o "lowerdir=$LOWERDIRS,upperdir=$d/upper,workdir=$d/kwork,$CRASH_KOPTS" "$KMNT"; then
		echo "kernel overlayfs does not mount this upper"
		return 1
	fi
	crash_view "$KMNT"
	umount "$KMNT"
}

# crash_fresh DIR: DIR/upper a copy of s0's, an empty DIR/work.
crash_fresh() {
	local d="$1"
	rm -rf "$d"
	mkdir -p "$d/work"
	cp -a "$TMP/s0/upper" "$d/upper"
	: >"$d/daemon.log"
}

# Lookups of every name, so that each run starts with the same cache.
crash_warm() {
	find "$MNT" >/dev/null 2>&1 || true
}

# crash_op DIR: runs $CRASH_OP in $MNT; DIR/op.out holds "rc=N" and its
# output.  When strace is attached and the traced thread dies, the held
# threads are let go at once: a killed daemon only drops its connection
# (and OP gets ENOTCONN) once all its threads are gone.
crash_op() {
	local d="$1" rc=0 opid i
	(cd "$MNT" && exec timeout -k 10 "$CRASH_WAIT" bash -c "$CRASH_OP") >"$d/op.raw" 2>&1 &
	opid=$!
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		crash_alive "$opid" || break
		if [ -n "${CRASH_SPID:-}" ] && [ -n "${CRASH_DPID:-}" ] && ! crash_alive "$CRASH_SPID"; then
			crash_end_strace "$CRASH_DPID"
			CRASH_DPID=
		fi
		crash_sleep 0.005
	done
	wait "$opid" || rc=$?
	printf 'rc=%s %s\n' "$rc" "$(cat "$d/op.raw")" >"$d/op.out"
	CRASH_OP_RC=$rc
}

# ---------------------------------------------------------------- strace

# crash_workers: the worker threads of $CRASH_PID, once all are idle (in
# read(2) of /dev/fuse: a busy one could serve a request unheld), in
# CRASH_WORKERS.  Not workers: the main thread and the signal thread.
crash_workers() {
	local t nr fd rest i idle
	for ((i = 0; i < CRASH_IDLE_WAIT * 200; i++)); do
		CRASH_WORKERS=()
		idle=1
		for t in /proc/"$CRASH_PID"/task/*; do
			[ "${t##*/}" = "$CRASH_PID" ] && continue
			nr=running
			read -r nr fd rest <"$t/syscall" 2>/dev/null
			[ "$nr" = 128 ] && continue   # rt_sigtimedwait
			if [ "$nr" = 0 ] && [ "/proc/$CRASH_PID/fd/$((fd))" -ef /dev/fuse ]; then
				CRASH_WORKERS+=("${t##*/}")
			else
				idle=0
			fi
		done
		[ "$idle" = 1 ] && [ "${#CRASH_WORKERS[@]}" -gt 0 ] && return 0
		crash_sleep 0.005
	done
	CRASH_MSG="the threads of $CRASH_PID are not all idle readers of /dev/fuse after ${CRASH_IDLE_WAIT}s:
$(for t in /proc/"$CRASH_PID"/task/*; do echo "${t##*/}: $(cat "$t/syscall" 2>&1) $(cat "$t/wchan" 2>&1)"; done)"
	return 1
}

# crash_attach DIR [INJECT]: one worker thread of $CRASH_PID traced into
# DIR/trace.log (-e trace=$CRASH_TRACE, plus -e inject=INJECT), the other
# workers held at the entry of their read of /dev/fuse.
crash_attach() {
	local d="$1" inject="${2:-}" t i all
	local -a held=() inj=()
	CRASH_MSG=
	crash_workers || return 1
	CRASH_TID="${CRASH_WORKERS[0]}"
	: >"$d/delay.err"
	: >"$d/trace.err"
	: >"$d/delay.log"
	CRASH_DPID=
	CRASH_HELD=0
	if [ "${#CRASH_WORKERS[@]}" -gt 1 ]; then
		CRASH_HELD=1
		for t in "${CRASH_WORKERS[@]:1}"; do
			held+=(-p "$t")
		done
		strace -o "$d/delay.log" -e trace=read -e inject=read:delay_enter=900s \
			"${held[@]}" 2>"$d/delay.err" &
		CRASH_DPID=$!
	fi
	[ -n "$inject" ] && inj=(-e "inject=$inject")
	strace -o "$d/trace.log" -e "trace=$CRASH_TRACE" "${inj[@]}" -p "$CRASH_TID" \
		2>"$d/trace.err" &
	CRASH_SPID=$!
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		all=1
		crash_has "$d/trace.err" "Process $CRASH_TID attached" || all=0
		for t in "${CRASH_WORKERS[@]:1}"; do
			if ! crash_has "$d/delay.err" "Process $t attached" ||
				[ "$(crash_state "$CRASH_PID" "$t")" != t ]; then
				all=0
			fi
		done
		[ "$all" = 1 ] && return 0
		crash_sleep 0.005
	done
	CRASH_MSG="strace did not attach; $(cat "$d/trace.err" "$d/delay.err")"
	return 1
}

# crash_end_strace PID: makes strace PID detach and exit.  A SIGINT that
# comes just before strace waits for its tracees can be lost: send it again
# until strace is gone (SIGKILL after a while: its tracees are let go).
crash_end_strace() {
	local pid="$1" i
	for ((i = 0; i < CRASH_WAIT * 200; i++)); do
		crash_alive "$pid" || break
		((i % 20 == 0)) && kill -INT "$pid" 2>/dev/null
		crash_sleep 0.005
	done
	if crash_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# crash_detach DIR: stops both straces; fails when a held thread read a
# request (the run did not count calls in one thread).
crash_detach() {
	local d="$1"
	CRASH_MSG=
	[ -n "$CRASH_SPID" ] && crash_end_strace "$CRASH_SPID"
	CRASH_SPID=
	[ -n "$CRASH_DPID" ] && crash_end_strace "$CRASH_DPID"
	CRASH_DPID=
	if [ "$CRASH_HELD" = 1 ] &&
		grep -Eq '^([0-9]+ +)?(read\(|<\.\.\. read resumed>).*= [0-9]' "$d/delay.log"; then
		CRASH_MSG="a held worker thread served a request: calls were counted in two threads"
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- reports

# crash_fail WHAT DETAIL...: records a failed run (in this job's files).
crash_fail() {
	CRASH_RUN_FAILED=1
	{
		echo "FAIL $CRASH_NAME: $1"
		shift
		local l
		for l in "$@"; do
			printf '%s\n' "$l" | sed 's/^/    /'
		done
	} >>"$CRASH_REPORT"
	if [ -n "${CRASH_KEEP:-}" ] && [ -d "$CRASH_RUN" ]; then
		mkdir -p "$TMP/failed"
		cp -a "$CRASH_RUN" "$TMP/failed/$(printf '%s' "$CRASH_POINT" | tr -c 'a-zA-Z0-9_#.-' _)"
	fi
}

crash_note() {
	echo "note $CRASH_NAME: $*" >>"$CRASH_REPORT"
}

# crash_diff_views A B: the lines that differ.
crash_diff_views() {
	diff -U0 "$1" "$2" | sed -e '1,2d' -e '/^@@/d' | head -n 16
}

# crash_legal VIEW: which legal state VIEW is (before/after), or "illegal".
crash_legal() {
	if cmp -s "$1" "$TMP/before.view"; then
		echo before
	elif cmp -s "$1" "$TMP/after.view"; then
		echo after
	else
		echo illegal
	fi
}

# crash_legal_but_nlink VIEW: crash_legal, st_nlink left out.
crash_legal_but_nlink() {
	local a
	for a in before after; do
		if cmp -s <(sed 's/ nlink=[0-9]*//' "$1") <(sed 's/ nlink=[0-9]*//' "$TMP/$a.view"); then
			echo "$a"
			return
		fi
	done
	echo illegal
}

# ---------------------------------------------------------------- runs

# crash_reference: s0 and BEFORE, the traced run of OP and AFTER, the
# checks against kernel overlayfs, and the crash points: $TMP/points.MODE,
# lines "SYSCALL N CALL".
crash_reference() {
	local s0="$TMP/s0" r="$TMP/run" k="$TMP/krun"
	CRASH_REPORT="$TMP/crash.report"
	rm -rf "$s0"
	mkdir -p "$s0/upper" "$s0/work"
	: >"$s0/daemon.log"
	crash_start "$s0" || return 1
	if [ -n "$CRASH_PRE" ]; then
		if ! (cd "$MNT" && bash -ec "$CRASH_PRE") >"$TMP/pre.out" 2>&1; then
			echo "# the set-up failed: $CRASH_PRE" >&2
			sed 's/^/#   /' "$TMP/pre.out" >&2
			crash_stop "$s0"
			return 1
		fi
	fi
	crash_view "$MNT" >"$TMP/before.view"
	crash_stop "$s0" || { echo "# set-up: $CRASH_MSG" >&2; return 1; }
	rm -rf "$s0/work"
	mkdir "$s0/work"

	# the kernel reads s0 as we do
	crash_fresh "$r"
	crash_kview "$r" >"$TMP/kbefore.view"
	if ! cmp -s "$TMP/before.view" "$TMP/kbefore.view"; then
		echo "# kernel overlayfs reads the set-up's upper differently (ours -, kernel +):" >&2
		crash_diff_views "$TMP/before.view" "$TMP/kbefore.view" | sed 's/^/#   /' >&2
		return 1
	fi

	# the reference run
	crash_fresh "$r"
	crash_start "$r" || return 1
	crash_warm
	crash_attach "$r" || { echo "# reference run: $CRASH_MSG" >&2; crash_stop "$r"; return 1; }
	crash_op "$r"
	crash_detach "$r" || { echo "# reference run: $CRASH_MSG" >&2; crash_stop "$r"; return 1; }
	cp "$r/op.out" "$TMP/after.op"
	crash_view "$MNT" >"$TMP/after.view"
	crash_stop "$r" || { echo "# reference run: $CRASH_MSG" >&2; return 1; }
	cp "$r/trace.log" "$TMP/reference.trace"
	if [ -n "$(ls -A "$r/work/work" 2>/dev/null)" ]; then
		crash_note "the reference run left in WORKDIR/work: $(ls -A "$r/work/work" | head -n 5 | tr '\n' ' ')"
	fi
	crash_start "$r" || return 1
	crash_view "$MNT" >"$TMP/after.remount.view"
	crash_stop "$r" || { echo "# the mount after the reference run: $CRASH_MSG" >&2; return 1; }
	if ! cmp -s "$TMP/after.view" "$TMP/after.remount.view"; then
		echo "# after OP, a new mount of ours reads the upper differently (live -, new mount +):" >&2
		crash_diff_views "$TMP/after.view" "$TMP/after.remount.view" | sed 's/^/#   /' >&2
		return 1
	fi
	crash_kview "$r" >"$TMP/kafter.view"
	if ! cmp -s "$TMP/after.view" "$TMP/kafter.view"; then
		echo "# after OP, kernel overlayfs reads our upper differently (ours -, kernel +):" >&2
		crash_diff_views "$TMP/after.view" "$TMP/kafter.view" | sed 's/^/#   /' >&2
		return 1
	fi

	# kernel overlayfs doing OP itself
	crash_fresh "$k"
	if ! mount -t overlay overlay \
		-o "lowerdir=$LOWERDIRS,upperdir=$k/upper,workdir=$k/work,$CRASH_KOPTS" "$KMNT"; then
		echo "# kernel overlayfs does not mount the set-up's upper" >&2
		return 1
	fi
	local save="$MNT"
	MNT="$KMNT"
	crash_warm
	crash_op "$k"
	crash_view "$KMNT" >"$TMP/kop.view"
	MNT="$save"
	umount "$KMNT"
	if ! cmp -s "$TMP/after.op" "$k/op.out"; then
		echo "# OP answers differently on kernel overlayfs: ours '$(cat "$TMP/after.op")', kernel '$(cat "$k/op.out")'" >&2
		return 1
	fi
	if ! cmp -s "$TMP/after.view" "$TMP/kop.view"; then
		echo "# OP gives another tree on kernel overlayfs (ours -, kernel +):" >&2
		crash_diff_views "$TMP/after.view" "$TMP/kop.view" | sed 's/^/#   /' >&2
		return 1
	fi
	if cmp -s "$TMP/before.view" "$TMP/after.view" && [ -z "${CRASH_SAME_VIEW:-}" ]; then
		echo "# OP changed nothing in the merged view: the scenario tests nothing" >&2
		return 1
	fi

	# the crash points: "SYSCALL N CALL" per traced call, but those up to
	# the last call matching $CRASH_AFTER (a copy-up that another test
	# covers; all of them if none does), and libfuse's own look at
	# /proc/sys/fs/pipe-max-size
	if [ -n "${CRASH_AFTER:-}" ] && ! grep -Eq "$CRASH_AFTER" "$TMP/reference.trace"; then
		crash_note "no call matches CRASH_AFTER='$CRASH_AFTER': every point is visited"
	fi
	awk -v after="${CRASH_AFTER:-}" '
	/^[a-z0-9_]+\(/ { s = $0; sub(/\(.*/, "", s); n[s]++; line[++k] = s " " n[s] " " $0
		if (after != "" && $0 ~ after) last = k }
	END { for (i = last + 1; i <= k; i++) print line[i] }
	' "$TMP/reference.trace" | grep -v 'pipe-max-size' >"$TMP/points.all"
	# shellcheck disable=SC2016 # awk program
	local sel='{ c = $0; sub(/^[^ ]+ [^ ]+ /, "", c); if (c ~ re) print }'
	awk -v re="$CRASH_KILL_RE" "$sel" "$TMP/points.all" >"$TMP/points.kill"
	cp "$TMP/points.all" "$TMP/points.eio"
	awk -v re="$CRASH_ENOSPC_RE" "$sel" "$TMP/points.all" >"$TMP/points.enospc"
	if [ -n "${CRASH_DEBUG:-}" ]; then
		mkdir -p "$CRASH_DEBUG"
		cp "$TMP"/points.* "$TMP"/*.view "$TMP/reference.trace" "$CRASH_DEBUG/"
	fi
}

# crash_point MODE SYSCALL N CALL: one injected run, in $CRASH_RUN on $MNT;
# one result line "MODE SYSCALL#N FIRED(0/1) ok|FAIL" in $CRASH_RESULTS.
crash_point() {
	local mode="$1" sc="$2" n="$3" call="$4" r="$CRASH_RUN" action v kv fired left
	CRASH_POINT="$mode $sc#$n"
	CRASH_RUN_FAILED=0
	case "$mode" in
	kill) action=signal=KILL ;;
	eio) action=error=EIO ;;
	enospc) action=error=ENOSPC ;;
	esac
	crash_fresh "$r"
	if ! crash_start "$r" 2>"$r/start.err"; then
		crash_fail "$CRASH_POINT: cannot mount" "$(cat "$r/start.err")"
		echo "$CRASH_POINT 0 FAIL" >>"$CRASH_RESULTS"
		return 0
	fi
	crash_warm
	if ! crash_attach "$r" "$sc:$action:when=$n"; then
		crash_fail "$CRASH_POINT: $CRASH_MSG"
		crash_detach "$r"
		crash_stop "$r"
		echo "$CRASH_POINT 0 FAIL" >>"$CRASH_RESULTS"
		return 0
	fi
	crash_op "$r"
	if ! crash_detach "$r"; then
		crash_fail "$CRASH_POINT: $CRASH_MSG"
		if crash_alive "$CRASH_PID"; then crash_stop "$r"; else crash_drop "$r"; fi
		echo "$CRASH_POINT 0 FAIL" >>"$CRASH_RESULTS"
		return 0
	fi
	if [ -n "${CRASH_DEBUG:-}" ]; then
		cp "$r/trace.log" "$CRASH_DEBUG/trace.$mode.$sc.$n"
	fi
	fired=0
	if [ "$mode" = kill ]; then
		grep -q '^+++ killed by SIGKILL' "$r/trace.log" && fired=1
	else
		grep -q '(INJECTED)$' "$r/trace.log" && fired=1
	fi
	if [ "$fired" = 0 ]; then
		crash_note "$CRASH_POINT ($call): not reached in this run (the reference run made it)"
	fi
	if [ "$mode" = kill ] && [ "$fired" = 1 ]; then
		crash_drop "$r"
		if ! crash_start "$r" 2>"$r/start.err"; then
			crash_fail "$CRASH_POINT ($call): cannot mount again after the kill" "$(cat "$r/start.err")"
			echo "$CRASH_POINT $fired FAIL" >>"$CRASH_RESULTS"
			return 0
		fi
		left="$(ls -A "$r/work/work" 2>/dev/null | head -n 5 | tr '\n' ' ')"
		crash_view "$MNT" >"$r/view"
		crash_stop "$r" || crash_fail "$CRASH_POINT ($call): the mount after the kill: $CRASH_MSG"
		if [ -n "$left" ]; then
			crash_fail "$CRASH_POINT ($call): WORKDIR/work not empty after the mount that followed the kill: $left"
		fi
	else
		crash_view "$MNT" >"$r/view"
		crash_stop "$r" || crash_fail "$CRASH_POINT ($call): unmount: $CRASH_MSG"
	fi
	crash_kview "$r" >"$r/kview"
	v="$(crash_legal "$r/view")"
	kv="$(crash_legal "$r/kview")"
	# An operation that succeeded although the cleanup of its workdir
	# leftover failed (an old name of a file with other names) leaves that
	# name counted in st_nlink until the next mount cleans the workdir, on
	# kernel overlayfs as here: AFTER but for nlink is legal then.
	if [ "$v" = illegal ] && [ "$mode" != kill ] && [ "$CRASH_OP_RC" = 0 ] &&
		[ "$(crash_legal_but_nlink "$r/view")" = after ]; then
		crash_note "$CRASH_POINT ($call): after, with st_nlink counting what the failed cleanup left in the workdir"
		v=after
	fi
	if [ -n "${CRASH_VERBOSE:-}" ]; then
		echo "# $CRASH_NAME $CRASH_POINT fired=$fired $(head -c 60 "$r/op.out") view=$v kernel=$kv" >&3
	fi
	if [ "$v" = illegal ]; then
		if [ "$mode" = kill ]; then
			crash_fail "$CRASH_POINT ($call): illegal state after the kill and a new mount" \
				"vs BEFORE (-before +now):" "$(crash_diff_views "$TMP/before.view" "$r/view")" \
				"vs AFTER (-after +now):" "$(crash_diff_views "$TMP/after.view" "$r/view")"
		else
			crash_fail "$CRASH_POINT ($call): illegal state after OP ($(head -c 100 "$r/op.out"))" \
				"vs BEFORE (-before +now):" "$(crash_diff_views "$TMP/before.view" "$r/view")" \
				"vs AFTER (-after +now):" "$(crash_diff_views "$TMP/after.view" "$r/view")"
		fi
	elif [ "$mode" != kill ] && ! cmp -s "$TMP/before.view" "$TMP/after.view"; then
		# an error must leave BEFORE, a success AFTER
		if [ "$CRASH_OP_RC" != 0 ] && [ "$v" = after ]; then
			crash_fail "$CRASH_POINT ($call): OP failed ($(head -c 100 "$r/op.out")) but made its change"
		elif [ "$CRASH_OP_RC" = 0 ] && [ "$v" = before ]; then
			crash_fail "$CRASH_POINT ($call): OP succeeded but changed nothing"
		fi
	fi
	if ! cmp -s "$r/view" "$r/kview"; then
		crash_fail "$CRASH_POINT ($call): kernel overlayfs reads the upper differently (ours is $v; ours -, kernel +)" \
			"$(crash_diff_views "$r/view" "$r/kview")"
	fi
	if [ "$CRASH_RUN_FAILED" = 1 ]; then
		echo "$CRASH_POINT $fired FAIL" >>"$CRASH_RESULTS"
	else
		echo "$CRASH_POINT $fired ok" >>"$CRASH_RESULTS"
	fi
}

# crash_job J JOBS: the points of every mode whose rank is J modulo JOBS,
# on a mountpoint and directories of its own.
crash_job() {
	local j="$1" jobs="$2" mode sc n call i=0
	MNT="$TMP/mnt.$j"
	KMNT="$TMP/kmnt.$j"
	CRASH_RUN="$TMP/run.$j"
	CRASH_REPORT="$TMP/report.$j"
	CRASH_RESULTS="$TMP/results.$j"
	mkdir -p "$MNT" "$KMNT"
	: >"$CRASH_REPORT"
	: >"$CRASH_RESULTS"
	for mode in ${CRASH_MODES:-kill eio enospc}; do
		while read -r sc n call; do
			if ((i++ % jobs == j)); then
				crash_point "$mode" "$sc" "$n" "$call" </dev/null
			fi
		done <"$TMP/points.$mode"
	done
	crash_teardown
}

# crash_teardown: what a failed or interrupted run may leave behind.
crash_teardown() {
	local p
	for p in "${CRASH_SPID:-}" "${CRASH_DPID:-}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	if [ -n "${CRASH_PID:-}" ] && crash_alive "$CRASH_PID"; then
		kill -KILL "$CRASH_PID" 2>/dev/null
	fi
	umount -l "$MNT" 2>/dev/null
	umount -l "$KMNT" 2>/dev/null
	return 0
}

# crash_scenario NAME PRE OP: the whole scenario (see the top).  Runs with
# bats' ERR trap and errexit off (a failing command is a finding to report,
# not the end of the test); fails when a run failed.
crash_scenario() {
	local err_trap rc
	err_trap="$(trap -p ERR)"
	trap - ERR
	crash_scenario_body "$@"
	rc=$?
	eval "$err_trap"
	return "$rc"
}

crash_scenario_body() {
	local -
	set +eE
	CRASH_NAME="$1"
	CRASH_PRE="$2"
	CRASH_OP="$3"
	local t0=$SECONDS j jobs="${CRASH_JOBS:-}" summary="" mode np nv counts fails
	if [ -z "$jobs" ]; then
		jobs="$(nproc 2>/dev/null || echo 1)"
		((jobs > 4)) && jobs=4
	fi
	: >"$TMP/crash.report"
	if ! crash_reference; then
		echo "# $CRASH_NAME: the reference run failed" >&2
		return 1
	fi
	local -a pids=()
	for ((j = 0; j < jobs; j++)); do
		crash_job "$j" "$jobs" &
		pids+=($!)
	done
	for j in "${pids[@]}"; do
		wait "$j"
	done
	cat "$TMP"/results.* >"$TMP/results"
	cat "$TMP"/report.* >>"$TMP/crash.report"
	for mode in ${CRASH_MODES:-kill eio enospc}; do
		np="$(grep -c . "$TMP/points.$mode")"
		nv="$(grep -c "^$mode [^ ]* 1 " "$TMP/results")"
		counts="$(awk '{ c[$1]++ } END { for (s in c) printf "%s%s:%d", (k++ ? " " : ""), s, c[s] }' "$TMP/points.$mode")"
		summary+="$mode $nv/$np [${counts:-none}]; "
	done
	echo "# $CRASH_NAME: OP $(head -c 60 "$TMP/after.op"); ${summary}$jobs jobs, $((SECONDS - t0))s" >&3
	fails="$(grep -c ' FAIL$' "$TMP/results")"
	if [ -s "$TMP/crash.report" ]; then
		head -n "${CRASH_REPORT_LINES:-200}" "$TMP/crash.report" | sed 's/^/# /' >&2
	fi
	if [ "$fails" -gt 0 ]; then
		echo "# $CRASH_NAME: $fails failed run(s): $(grep ' FAIL$' "$TMP/results" | cut -d' ' -f1-2 | paste -sd, -)" >&2
		return 1
	fi
	return 0
}
