#!/usr/bin/env bats
# Rootless podman (Debian 12's 4.3, an unprivileged user with subuid/subgid
# ranges) with this fuse-overlayfs as the overlay storage driver's
# mount_program: the daemon runs in podman's user namespace.

load helpers
load podman

setup_file() {
	pm_setup_file rootless
}

teardown_file() {
	pm_teardown_store
}

setup() {
	pm_setup
}

teardown() {
	pm_teardown
}

@test "rootless: the container's / is served by this binary, in podman's user namespace" {
	pm_case_run_is_ours
	[ "$(stat -c %U "/proc/$PM_DAEMON_PID")" = "$PM_USER" ]
	# The daemon's user namespace is podman's, not the initial one.
	[ "$(readlink "/proc/$PM_DAEMON_PID/ns/user")" != "$(readlink /proc/1/ns/user)" ]
}

@test "rootless: podman run writes, deletes and recreates image files" {
	pm_case_run_changes
}

@test "rootless: podman build with RUN steps that delete, recreate, modify, chmod and chown" {
	pm_case_build
}

@test "rootless: podman diff lists what a container added, changed and deleted" {
	pm_case_diff
}

@test "rootless: podman commit, and run the committed images" {
	pm_case_commit
}

@test "rootless: podman exec and podman cp into a running container" {
	pm_case_exec_cp
}

@test "rootless: podman image mount (in podman unshare) is a read-only mount through this binary" {
	pm_case_image_mount
}

@test "rootless: --userns=keep-id reaches the daemon as uidmapping/gidmapping" {
	local uid out upper
	uid="$(id -u "$PM_USER")"
	pm run -d --name kid --userns=keep-id --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours kid
	echo "# daemon: $PM_DAEMON_CMDLINE"
	[[ "$PM_DAEMON_CMDLINE" == *"uidmapping="*"0:1:$uid"* ]]
	[[ "$PM_DAEMON_CMDLINE" == *"gidmapping="*"0:1:$uid"* ]]
	out="$(pm exec kid sh -c 'set -e
		id -u
		stat -c "%n %u:%g" /data/owned /data/keep /tmp
		touch /tmp/mine
		stat -c "%n %u:%g" /tmp/mine')"
	echo "$out"
	[ "$out" = "$(printf '%s\n' "$uid" '/data/owned 1000:1000' '/data/keep 0:0' '/tmp 0:0' "/tmp/mine $uid:$uid")" ]
	# On disk (seen from podman's user namespace) the file belongs to the
	# container's id, as in every other layer of the store.
	upper="$(pm_upper kid)"
	[ "$(pm unshare stat -c %u:%g "$upper/tmp/mine")" = "$uid:$uid" ]
}

@test "rootless: container file I/O works without passthrough (the daemon is not allowed it)" {
	local st
	pm_syslog_start
	pm run -d --name npt --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours npt
	[ "$(pm_container_io npt)" = io-ok ]
	st="$(pm_daemon_stats)"
	echo "# $st" >&3
	[ "$(stat_num "$st" passthrough)" -eq 0 ]
	[ "$(stat_num "$st" "through the daemon")" -ge 4 ]
	if [[ "${OVL_EXTRA_OPTS:-}" != *passthrough=off* ]] &&
		! grep -q 'passthrough: not offered by the kernel\|built without libfuse' "$PM_SYSLOG"; then
		# The kernel refuses backing files to a daemon in a user
		# namespace: said once, then every file goes through the daemon.
		[ "$(grep -c "fuse-overlayfs\[$PM_DAEMON_PID\]: passthrough: not permitted" "$PM_SYSLOG")" -eq 1 ]
	fi
}

@test "rootless: xattr_permissions=2 keeps security.* escaped; podman unshare chgrp of a file with a capability works" {
	pm_case_xattr_permissions
}
