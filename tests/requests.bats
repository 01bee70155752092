#!/usr/bin/env bats
# Request-level tests: the daemon served through a FUSE "device" this test
# holds, and sent raw requests no kernel would send: forged, zero, stale and
# wrong-generation node ids and handles, double releases, oversized counts,
# truncated bodies, names without their NUL, header lengths that lie,
# unknown opcodes.  Every request must get a well-formed reply with an errno
# (or none, for FORGET and the like), the daemon must survive each case, end
# with exit status 0 when its device closes, and leave no sanitizer report.
#
# How: -o fuse_device=/dev/fuse_fakewire makes the daemon open that path,
# mount(2) it with "fd=N,..." and give libfuse /dev/fd/N (mount.c).
# helpers/fakefuse.c, preloaded into the daemon, turns the open into one
# end of a SOCK_SEQPACKET socketpair and mount(2) into a no-op;
# helpers/fusewire.c holds the other end, plays the kernel (INIT, replies
# checked) and runs the cases of one group (see the top of fusewire.c for
# the groups and what each case expects).  Nothing is mounted.
#
# Each test runs its group three times, on fresh upper and work dirs:
#   read    libfuse reads each request into its per-thread buffer
#   splice  -o max_write=65536: libfuse splices requests in and copies one of
#           4176 bytes or more into a buffer of its exact size (reading past
#           the message is visible to ASan there)
#   pt      INIT offers FUSE_PASSTHROUGH; the shim gives made-up backing ids
# Run it against the ASan/UBSan build (tests/run.sh does, in its asan pass):
#   FUSE_OVERLAYFS=$PWD/build-asan/fuse-overlayfs bats tests/requests.bats
# Env: REQUESTS_MODES="read splice pt", REQUESTS_TIMEOUT (seconds a reply may
# take, default 120), REQUESTS_OUT=DIR (keep every fusewire transcript there).

load helpers

setup() {
	ovl_setup
	ovl_build_helper fakefuse -shared -fPIC -ldl -pthread || return 1
	FAKEFUSE="$OVL_HELPER_BIN"
	ovl_build_helper fusewire || return 1
	FUSEWIRE="$OVL_HELPER_BIN"
	make_layers
	# what tests/run.sh sets for its sanitizer pass, when run alone
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
	export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$OVL_TESTS_DIR/lsan.supp}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
}

teardown() {
	ovl_teardown
}

# wire GROUP: runs fusewire's GROUP in each mode; fails (showing what failed)
# if any case failed in any mode.
wire() {
	local group="$1" mode opts out rc failed=0
	for mode in ${REQUESTS_MODES:-read splice pt}; do
		# a fresh upper: a case that wrongly succeeded must not hide the
		# next mode's failure
		rm -rf "$UPPER" "$WORK"
		mkdir -p "$UPPER" "$WORK"
		opts="lowerdir=$LOWERDIRS,upperdir=$UPPER,workdir=$WORK,fuse_device=/dev/fuse_fakewire"
		opts="$opts${OVL_EXTRA_OPTS:+,$OVL_EXTRA_OPTS}"
		[ "$mode" = splice ] && opts="$opts,max_write=65536"
		out="$TMP/fusewire-$group-$mode.out"
		rc=0
		"$FUSEWIRE" -s "$FAKEFUSE" -l "$TMP/daemon-$group-$mode.log" -d /dev/fuse_fakewire \
			-g "$group" -m "$mode" -t "${REQUESTS_TIMEOUT:-120}" -- \
			"$FUSE_OVERLAYFS" -f -o "$opts" "$MNT" >"$out" 2>&1 3>&- || rc=$?
		if [ -n "${REQUESTS_OUT:-}" ]; then
			mkdir -p "$REQUESTS_OUT"
			cp "$out" "$REQUESTS_OUT/"
		fi
		if [ "$rc" != 0 ]; then
			failed=1
			echo "# mode $mode: fusewire exited $rc ($out):" >&2
			# what failed, the request after which a report began (the
			# daemon died, or one without reply), the report
			awk '/!!/ && prev !~ /DAEMON GONE|<-- expected/ { print prev }
			     /^(not ok|#   |fusewire)|DAEMON GONE|<-- expected|!!|not sent/ { print }
			     { prev = $0 }' "$out" | head -n 150 | sed 's/^/#   /' >&2
		else
			tail -n 1 "$out" | sed 's/^/# /' >&3
		fi
	done
	return "$failed"
}

@test "requests: forged, zero, huge, stale and wrong-generation node ids" {
	wire ids
}

@test "requests: forged and wrong-kind handles, double release, releases racing I/O" {
	wire handles
}

@test "requests: FORGET and BATCH_FORGET of unknown ids, huge counts, the root" {
	wire forget
}

@test "requests: odd names, creating over existing names, LINK of the root, RENAME into itself" {
	local escapes_before
	escapes_before="$(ls -d /tmp/ovl-escape* 2>/dev/null || true)"
	wire names
	# names with "/" or ".." created nothing outside the upper directory
	run find "$TMP" -name 'ovl-escape*'
	assert_output ""
	assert_eq "$escapes_before" "$(ls -d /tmp/ovl-escape* 2>/dev/null || true)" "/tmp/ovl-escape*"
}

@test "requests: oversized counts, sizes, offsets, modes and flags" {
	wire sizes
}

@test "requests: truncated bodies, lying lengths, names without NUL, BATCH_FORGET past the message, unknown opcodes" {
	wire malformed
}

@test "requests: stray INTERRUPT and NOTIFY_REPLY leave nothing behind" {
	wire stray
}

@test "requests: before INIT, INIT of other versions, DESTROY then INIT again" {
	wire lifecycle
}

@test "requests: a message shorter than a request header ends the daemon without a crash" {
	wire short
}
