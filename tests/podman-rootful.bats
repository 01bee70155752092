#!/usr/bin/env bats
# Rootful podman (Debian 12's 4.3) with this fuse-overlayfs as the overlay
# storage driver's mount_program: run, build, diff, commit, exec, cp,
# --uidmap, image mount, and container file I/O through passthrough.

load helpers
load podman

setup_file() {
	pm_setup_file rootful
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

@test "rootful: the container's / is served by this binary" {
	pm_case_run_is_ours
}

@test "rootful: podman run writes, deletes and recreates image files" {
	pm_case_run_changes
}

@test "rootful: podman build with RUN steps that delete, recreate, modify, chmod and chown" {
	pm_case_build
}

@test "rootful: podman diff lists what a container added, changed and deleted" {
	pm_case_diff
}

@test "rootful: podman commit, and run the committed images" {
	pm_case_commit
}

@test "rootful: podman exec and podman cp into a running container" {
	pm_case_exec_cp
}

@test "rootful: podman image mount is a read-only mount through this binary" {
	pm_case_image_mount
}

@test "rootful: --uidmap/--gidmap reach the daemon as uidmapping/gidmapping" {
	local out upper merged
	pm run -d --name idm --uidmap 0:100000:65536 --gidmap 0:100000:65536 --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours idm
	echo "# daemon: $PM_DAEMON_CMDLINE"
	[[ "$PM_DAEMON_CMDLINE" == *"uidmapping="*"0:100000:65536"* ]]
	[[ "$PM_DAEMON_CMDLINE" == *"gidmapping="*"0:100000:65536"* ]]
	out="$(pm exec idm sh -c 'set -e
		cat /proc/self/uid_map | tr -s " "
		stat -c "%n %u:%g" /data/owned /data/keep
		touch /tmp/mine /data/owned
		chown 1000:1000 /tmp/mine
		stat -c "%n %u:%g" /tmp/mine /data/owned')"
	echo "$out"
	[ "$out" = "$(printf '%s\n' ' 0 100000 65536' '/data/owned 1000:1000' '/data/keep 0:0' \
		'/tmp/mine 1000:1000' '/data/owned 1000:1000')" ]
	# On disk the ids stay the container's; through the mount on the host
	# they are shifted.
	upper="$(pm_upper idm)"
	merged="$(pm inspect idm --format '{{.GraphDriver.Data.MergedDir}}')"
	[ "$(stat -c %u:%g "$upper/tmp/mine" "$upper/data/owned")" = "$(printf '1000:1000\n1000:1000')" ]
	[ "$(stat -c %u:%g "$merged/tmp/mine" "$merged/data/keep")" = "$(printf '101000:101000\n100000:100000')" ]
}

@test "rootful: container file I/O goes through FUSE passthrough" {
	local st pt daemon
	pm_syslog_start
	pm run -d --name pt --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours pt
	[ "$(pm_container_io pt)" = io-ok ]
	st="$(pm_daemon_stats)"
	echo "# $st" >&3
	if grep -q 'passthrough: not offered by the kernel' "$PM_SYSLOG"; then
		skip "the kernel does not offer FUSE passthrough (daemon: $(grep -m1 'passthrough:' "$PM_SYSLOG"))"
	fi
	pt="$(stat_num "$st" passthrough)"
	daemon="$(stat_num "$st" "through the daemon")"
	if [[ "${OVL_EXTRA_OPTS:-}" == *passthrough=off* ]]; then
		[ "$pt" -eq 0 ]
		[ "$daemon" -ge 3 ]
	else
		# /tmp/rand written and read, /data/big written and read: each
		# open of an upper file is passed through. /data/modify is opened
		# for appending, which copies it up first: passed through too.
		[ "$pt" -ge 4 ]
		[ "$(stat_num "$st" copy-ups)" -ge 1 ]
	fi
}
