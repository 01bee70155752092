#!/usr/bin/env bats
# Concurrency stress: copy-up triggers (open for write, chmod, setxattr,
# truncate, utimes, fchmod, fsetxattr) racing unlink, rename, link and
# RENAME_EXCHANGE of the same names, for a bounded time.  tests/helpers/stress.c
# keeps an exact model of the namespace (one thread changes the names of a
# group, the others only copy up) and checks every result against it during
# the run; afterwards the merged tree is verified against the model on our
# mount, on kernel overlayfs over the same layers and on a fresh mount of
# ours, and the three manifests must be equal.  See stress.c for the oracles.
#
# Knobs: STRESS_SECONDS (run length, default 8), STRESS_SEED (default random,
# printed), STRESS_SLOTS (names in the fixture, default 2000),
# STRESS_ON_KERNEL=1 (the workload runs on kernel overlayfs instead of ours:
# the self-check of the oracle, which must always pass).

load helpers

setup() {
	ovl_setup
	ovl_build_helper stress -pthread
	STRESS="$OVL_HELPER_BIN"
	STRESS_FAILED=0
}

# stress_step LABEL CMD...: runs CMD, shows its output when it fails and
# notes the failure without stopping the test (the other checks still tell
# what went wrong).
stress_step() {
	local label="$1" rc=0
	shift
	"$@" >"$TMP/step.out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "# $label: FAILED (exit $rc)" >&2
		head -n 25 "$TMP/step.out" | sed 's/^/#   /' >&2
		if [ "$(wc -l <"$TMP/step.out")" -gt 25 ]; then
			tail -n 1 "$TMP/step.out" | sed 's/^/#   /' >&2
		fi
		STRESS_FAILED=1
	fi
	return 0
}

# stress_same LABEL A B: the two manifests are equal.
stress_same() {
	if ! diff -u "$2" "$3" >"$TMP/manifest.diff"; then
		echo "# $1: the merged trees differ ($(grep -c '^[-+]/' "$TMP/manifest.diff") lines):" >&2
		head -n 40 "$TMP/manifest.diff" | sed 's/^/#   /' >&2
		STRESS_FAILED=1
	fi
}

stress_mount() {
	if [ "${STRESS_ON_KERNEL:-0}" = 1 ]; then
		kovl_mount
	else
		ovl_mount
	fi
}

stress_umount() {
	if [ "${STRESS_ON_KERNEL:-0}" = 1 ]; then
		kovl_umount
	else
		ovl_umount
	fi
}

# stress_case MODE: fixture, run, then the checks on the three mounts.
stress_case() {
	local mode="$1"
	local secs="${STRESS_SECONDS:-8}" slots="${STRESS_SLOTS:-2000}"
	local seed="${STRESS_SEED:-$((RANDOM * 32768 + RANDOM + 1))}"
	local impl="$FUSE_OVERLAYFS"
	[ "${STRESS_ON_KERNEL:-0}" = 1 ] && impl="kernel overlayfs"

	"$STRESS" setup "$LOWER1" "$LOWER2" "$slots"
	ovl_snapshot_lowers
	stress_mount

	local rc=0
	"$STRESS" run "$MNT" "$secs" "$seed" "$mode" "$TMP/state" >"$TMP/run.out" 2>&1 || rc=$?
	# one line in the TAP output even on success: a run that did nothing shows
	echo "# $mode on $impl: $(grep -m 1 '^mode ' "$TMP/run.out")" >&3
	if [ "$rc" != 0 ]; then
		echo "# the run failed (exit $rc), reproduce with STRESS_SEED=$seed:" >&2
		grep -v '^FAIL' "$TMP/run.out" | sed 's/^/#   /' >&2
		# wrong names and contents first, then odd errnos of racing ops
		{
			grep '^FAIL' "$TMP/run.out" | grep -v '): unexpected E' || true
			grep '^FAIL' "$TMP/run.out" | grep '): unexpected E' || true
		} | head -n 25 | sed 's/^/#   /' >&2
		STRESS_FAILED=1
	fi
	stress_step "verify, the mount of the run" "$STRESS" verify "$MNT" "$TMP/state"
	"$STRESS" manifest "$MNT" >"$TMP/m.run"
	stress_umount

	if [ "${STRESS_ON_KERNEL:-0}" != 1 ]; then
		local left l
		left="$(find "$WORK/work" -mindepth 1 | head -n 5)"
		if [ -n "$left" ]; then
			echo "# the work directory is not empty after unmounting:" >&2
			while IFS= read -r l; do echo "#   $l"; done <<<"$left" >&2
			STRESS_FAILED=1
		fi
	fi
	# copy-ups and whiteouts did reach the upper layer
	local n
	n="$(find "$UPPER" -mindepth 2 | wc -l)"
	if [ "$n" -lt 50 ]; then
		echo "# only $n entries in the upper layer" >&2
		STRESS_FAILED=1
	fi

	kovl_mount
	stress_step "verify, kernel overlayfs on the layers" "$STRESS" verify "$MNT" "$TMP/state"
	"$STRESS" manifest "$MNT" >"$TMP/m.kernel"
	kovl_umount
	stress_same "the mount of the run vs kernel overlayfs" "$TMP/m.run" "$TMP/m.kernel"

	if [ "${STRESS_ON_KERNEL:-0}" != 1 ]; then
		ovl_mount
		stress_step "verify, a fresh mount of ours" "$STRESS" verify "$MNT" "$TMP/state"
		"$STRESS" manifest "$MNT" >"$TMP/m.again"
		ovl_umount
		stress_same "kernel overlayfs vs a fresh mount of ours" "$TMP/m.kernel" "$TMP/m.again"
	fi
	if [ "$STRESS_FAILED" != 0 ]; then
		echo "# seed $seed: STRESS_SEED=$seed FUSE_OVERLAYFS=$FUSE_OVERLAYFS bats tests/concurrency.bats" >&2
		return 1
	fi
}

@test "copy-up vs unlink: no deleted name comes back" {
	stress_case unlink
}

@test "copy-up vs rename and rename over an existing name" {
	stress_case rename
}

@test "link/unlink/exchange churn: merged view equals kernel overlayfs" {
	stress_case churn
}
