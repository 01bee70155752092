# shellcheck shell=bash
# Helpers of the passthrough tests (passthrough.bats, lower-passthrough.bats):
# what the daemon's -o debug log says about each open, and whether READ or
# WRITE requests reached it.

# wait_log PATTERN [LOG]: waits for an extended regexp in the log.
wait_log() {
	local pattern="$1" log="${2:-$OVL_LOG}"
	ovl_wait_until "'$pattern' in the log" grep -Eq "$pattern" "$log" && return 0
	echo "# '$pattern' not in $log after $OVL_WAIT_SECONDS s; log:" >&2
	tail -n 30 "$log" | sed 's/^/#   /' >&2
	return 1
}

exe_is() {
	[ "$(readlink "/proc/$1/exe")" = "$2" ]
}

# pt_require: after a mount with -o debug and passthrough wanted, skips
# when the kernel or the build lacks passthrough, fails when it is not on
# for another reason.
pt_require() {
	local log="$OVL_LOG"
	stat "$MNT" >/dev/null # the init reply has been sent once this answers
	wait_log 'debug: passthrough: on|passthrough: not offered by the kernel|passthrough: built without libfuse' "$log" || return 1
	if grep -q 'passthrough: not offered by the kernel' "$log"; then
		skip "the kernel does not offer FUSE passthrough (daemon: 'passthrough: not offered by the kernel')"
	fi
	if grep -q 'passthrough: built without libfuse' "$log"; then
		skip "$FUSE_OVERLAYFS was built without passthrough (libfuse < 3.17)"
	fi
}

# The daemon logs one line per open, create or tmpfile request:
#   open ino=N flags=0F -> passthrough, backing B
#   create parent=P name=X mode=0M flags=0F -> ino=N, through the daemon (WHY)

# The node id of the last successful open (or create).
last_open_ino() {
	grep -oE 'debug: open ino=[0-9]+ flags=[0-7]+ -> (passthrough|through)|-> ino=[0-9]+, ' "$OVL_LOG" |
		tail -n 1 | grep -oE 'ino=[0-9]+' | grep -oE '[0-9]+'
}

# The opens (and creates) of node INO that succeeded, one line each.
opens_of() {
	grep -E "debug: open ino=$1 flags=[0-7]+ -> (passthrough|through)|-> ino=$1, " "$OVL_LOG"
}

# How the last open of node INO was served: "passthrough" or "through the
# daemon (REASON)".
open_result() {
	opens_of "$1" | tail -n 1 | sed -E 's/.* -> (ino=[0-9]+, )?//; s/, backing [0-9]+$//'
}

# wait_released INO: waits (5 s) until the daemon has released every open
# of node INO (close() sends RELEASE asynchronously).
all_released() {
	[ "$(opens_of "$1" | wc -l)" = "$(count_log "debug: release ino=$1\$")" ]
}
wait_released() {
	ovl_wait_until "the releases of node $1" all_released "$1" && return 0
	echo "# node $1: $(opens_of "$1" | wc -l) opens, $(count_log "debug: release ino=$1\$") releases after $OVL_WAIT_SECONDS s" >&2
	return 1
}

# log_mark: assert_no_io looks only at what the daemon logs from now on.
LOG_MARK=0
log_mark() {
	LOG_MARK="$(wc -l <"$OVL_LOG")"
}

# No READ or WRITE request reached the daemon (for node INO, or at all)
# since the last log_mark.
assert_no_io() {
	local re='debug: (read|write) ino=[0-9]+ '
	[ -n "${1:-}" ] && re="debug: (read|write) ino=$1 "
	if tail -n "+$((LOG_MARK + 1))" "$OVL_LOG" | grep -Eq "$re"; then
		echo "# READ/WRITE requests reached the daemon:" >&2
		tail -n "+$((LOG_MARK + 1))" "$OVL_LOG" | grep -E "$re" | head -n 5 | sed 's/^/#   /' >&2
		return 1
	fi
}

sum() {
	sha256sum <"$1" | cut -d' ' -f1
}
