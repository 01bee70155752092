# shellcheck shell=bash
# Helpers for the podman suites (tests/podman-rootful.bats, podman-rootless.bats):
# an isolated podman set-up whose overlay storage driver mounts through
# $FUSE_OVERLAYFS, with its own store, configuration and a local base image.
#
# Nothing outside $PM_DIR (/var/tmp/ovl-podman.XXXXXX) is touched, except the
# rootless suite's user (created once) and /dev/fuse's mode (restored).
#
# setup_file:    pm_setup_file rootful|rootless (store, config, base image)
# teardown_file: pm_teardown_store
# setup/teardown: pm_setup / pm_teardown (daemon watcher, syslog listener,
#                containers, sanitizer reports)
# every test:    pm ARGS... runs podman as the suite's user.

PM_USER=ovlpodman
PM_BASE=localhost/ovl-base

# pm_missing: why podman cannot run here at all (nothing when it can). The
# tests skip with this reason (bats cannot skip from setup_file).
pm_missing() {
	local t
	[ "$(id -u)" = 0 ] || { echo "the podman suites need root (they create a store and a user)"; return; }
	for t in podman runc newuidmap; do
		command -v "$t" >/dev/null || { echo "$t is not installed (contrib/install-deps.sh installs it)"; return; }
	done
	if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
		echo "busybox-static is not installed (the base image is built from it)"
		return
	fi
	[ -e /dev/fuse ] || echo "no /dev/fuse"
}

# pm ARGS...: podman as the suite's user, with the suite's configuration.
pm() {
	if [ "$PM_MODE" = rootless ]; then
		runuser -u "$PM_USER" -- env -i HOME="$PM_HOME" USER="$PM_USER" \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			XDG_RUNTIME_DIR="$PM_DIR/xdg" "${PM_ENV[@]}" podman "$@"
	else
		env "${PM_ENV[@]}" podman "$@"
	fi
}

pm_setup_store() {
	PM_MODE=$1
	PM_SKIP="$(pm_missing)"
	export PM_SKIP
	[ -z "$PM_SKIP" ] || return 0
	PM_DIR="$(mktemp -d /var/tmp/ovl-podman.XXXXXX)"
	chmod 755 "$PM_DIR"
	mkdir -p "$PM_DIR/bin" "$PM_DIR/xdg" "$PM_DIR/sanitizer"
	chmod 1777 "$PM_DIR/sanitizer"
	# A copy the rootless user can execute wherever the checkout lives.
	PM_BIN="$PM_DIR/bin/fuse-overlayfs"
	cp "$FUSE_OVERLAYFS" "$PM_BIN"
	chmod 755 "$PM_BIN"

	local storage="$PM_DIR/root" runroot="$PM_DIR/run"
	if [ "$PM_MODE" = rootless ]; then
		pm_make_user || return 1
		PM_HOME="$(getent passwd "$PM_USER" | cut -d: -f6)"
		runroot="$PM_DIR/xdg/containers"
		# Rootless FUSE mounts need /dev/fuse usable by everyone, as
		# distributions' udev rules make it.
		PM_FUSE_MODE="$(stat -c %a /dev/fuse)"
		chmod 666 /dev/fuse
	fi
	pm_write_config "$storage" "$runroot"
	pm_sanitizer_env
	# containers/storage 1.43 (Debian 12's podman 4.3) also puts idmapped
	# mounts under the lower layers when a mount program is set and the
	# kernel supports them, then passes uidmapping= as well: every id is
	# shifted twice and --uidmap containers fail to start, whichever mount
	# program is used (checked with fuse-overlayfs 1.10). Later
	# containers/storage versions skip idmapped mounts with a mount
	# program; answer its cached feature probe the same way.
	mkdir -p "$runroot/overlay"
	: >"$runroot/overlay/idmapped-lower-dir-false"
	if [ "$PM_MODE" = rootless ]; then
		mkdir -p "$storage"
		chown -R "$PM_USER:" "$PM_DIR/xdg" "$storage"
		chmod 700 "$PM_DIR/xdg"
	fi
	export PM_MODE PM_DIR PM_BIN PM_HOME PM_FUSE_MODE
	pm_save_env
	echo "# mount program: $FUSE_OVERLAYFS ($("$PM_BIN" --version 2>&1 | head -n 1))" >&3
}

# pm_write_config GRAPHROOT RUNROOT: containers.conf, storage.conf and an
# empty registries.conf in $PM_DIR, and PM_ENV pointing podman at them.
pm_write_config() {
	cat >"$PM_DIR/containers.conf" <<-EOF
		[containers]
		netns = "none"
		log_driver = "k8s-file"
		default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		tmp_dir = "$PM_DIR/xdg/tmp"
		lock_type = "file"
	EOF
	cat >"$PM_DIR/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		runroot = "$2"
		graphroot = "$1"
		rootless_storage_path = "$1"
		[storage.options.overlay]
		mount_program = "$PM_BIN"
		mountopt = "${OVL_EXTRA_OPTS:-}"
	EOF
	: >"$PM_DIR/registries.conf"
	PM_ENV=(CONTAINERS_CONF="$PM_DIR/containers.conf"
		CONTAINERS_STORAGE_CONF="$PM_DIR/storage.conf"
		CONTAINERS_REGISTRIES_CONF="$PM_DIR/registries.conf")
}

# pm_sanitizer_env: under the sanitizer pass, the daemon's reports land in
# files (podman passes its environment to the mount program; the daemon's
# stderr is closed once it runs).
pm_sanitizer_env() {
	local v
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -n "${!v:-}" ] || continue
		if [ "$v" = LSAN_OPTIONS ]; then
			# The suppressions, where the rootless daemon can read them.
			local supp="${LSAN_OPTIONS#*suppressions=}"
			supp="${supp%%:*}"
			if [ "$supp" != "$LSAN_OPTIONS" ] && [ -r "$supp" ]; then
				cp "$supp" "$PM_DIR/lsan.supp"
				chmod 644 "$PM_DIR/lsan.supp"
				PM_ENV+=("$v=${LSAN_OPTIONS/"$supp"/$PM_DIR/lsan.supp}")
			else
				PM_ENV+=("$v=${!v}")
			fi
		else
			PM_ENV+=("$v=${!v}:log_path=$PM_DIR/sanitizer/report")
		fi
	done
}

# bats runs each test in a subshell of setup_file: arrays do not survive
# export, so tests reload them from a file.
pm_save_env() {
	printf 'PM_ENV=(%s)\n' "${PM_ENV[*]@Q}" >"$PM_DIR/env.bash"
}

pm_load_env() {
	# shellcheck disable=SC1091
	. "$PM_DIR/env.bash"
}

pm_make_user() {
	if ! id "$PM_USER" >/dev/null 2>&1; then
		useradd -m -s /bin/sh "$PM_USER" || return 1
	fi
	local f
	for f in /etc/subuid /etc/subgid; do
		grep -q "^$PM_USER:" "$f" 2>/dev/null && continue
		if [ "$f" = /etc/subuid ]; then
			usermod --add-subuids 200000-265535 "$PM_USER" || return 1
		else
			usermod --add-subgids 200000-265535 "$PM_USER" || return 1
		fi
	done
}

# The base image: busybox with its applets, and /data fixtures that the tests
# delete, modify, chmod and chown.
pm_import_base() {
	[ -z "$PM_SKIP" ] || return 0
	local b="$PM_DIR/base" a
	mkdir -p "$b/bin" "$b/etc" "$b/root" "$b/tmp" "$b/data/tree/sub" "$b/data/keepdir"
	cp /bin/busybox "$b/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$b/bin/$a"
	done
	chmod 1777 "$b/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' >"$b/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$b/etc/group"
	echo keep >"$b/data/keep"
	echo gone >"$b/data/gone"
	echo original >"$b/data/modify"
	echo a >"$b/data/tree/a"
	echo c >"$b/data/tree/sub/c"
	echo k >"$b/data/keepdir/k"
	echo owned >"$b/data/owned"
	chown 1000:1000 "$b/data/owned"
	chmod 640 "$b/data/owned"
	ln -s keep "$b/data/link"
	# rootfs-type: the filesystem type of the container's /.
	cat >"$b/bin/rootfs-type" <<-'EOF'
		#!/bin/sh
		awk '$5 == "/" { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }' /proc/self/mountinfo
	EOF
	chmod 755 "$b/bin/rootfs-type"
	tar -C "$b" --numeric-owner -cf "$PM_DIR/base.tar" .
	chmod 644 "$PM_DIR/base.tar"
	pm import --change 'ENV=PATH=/bin' --change 'CMD=/bin/sh' \
		"$PM_DIR/base.tar" "$PM_BASE" >/dev/null
}

pm_teardown_store() {
	[ -n "${PM_DIR:-}" ] && [ -d "$PM_DIR" ] || return 0
	pm_load_env 2>/dev/null
	pm rm -a -f -t 0 >/dev/null 2>&1
	pm image unmount -a >/dev/null 2>&1 || pm unshare podman image unmount -a >/dev/null 2>&1
	pm system reset -f >/dev/null 2>&1
	if [ "$PM_MODE" = rootless ]; then
		# podman's rootless pause process and anything else of this store
		local p
		for p in $(pgrep -u "$PM_USER"); do
			grep -qzx "XDG_RUNTIME_DIR=$PM_DIR/xdg" "/proc/$p/environ" 2>/dev/null && kill -KILL "$p"
		done
		[ -n "${PM_FUSE_MODE:-}" ] && chmod "$PM_FUSE_MODE" /dev/fuse
	fi
	pkill -KILL -f "^$PM_BIN " 2>/dev/null
	local m
	findmnt -rn -o TARGET | grep "^$PM_DIR/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	rm -rf "$PM_DIR"
}

# ------------------------------------------------------------------ checks

# pm_watch_start / pm_watch_stop: a poller records the command line of every
# daemon running our binary while the test runs (the mounts of podman build's
# RUN steps and of `podman run --rm` last a fraction of a second).
pm_watch_start() {
	PM_SEEN="$BATS_TEST_TMPDIR/daemons"
	: >"$PM_SEEN"
	(
		set +e
		while :; do
			for p in $(pgrep -f "^$PM_BIN "); do
				c="$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
				[ -n "$c" ] && ! grep -qxF "$c" "$PM_SEEN" && echo "$c" >>"$PM_SEEN"
			done
			sleep 0.05
		done
	) 3>&- &
	PM_WATCHER=$!
}

pm_watch_stop() {
	[ -n "${PM_WATCHER:-}" ] || return 0
	kill "$PM_WATCHER" 2>/dev/null
	wait "$PM_WATCHER" 2>/dev/null || true
	PM_WATCHER=
}

# pm_assert_root_is_ours CONTAINER: the running container's / is a FUSE mount
# served by our binary. Sets PM_DAEMON_PID and PM_DAEMON_CMDLINE.
pm_assert_root_is_ours() {
	local c=$1 root merged p
	root="$(pm exec "$c" rootfs-type)"
	if [ "$root" != fuse.fuse-overlayfs ]; then
		echo "# container $c: / is '$root', not fuse.fuse-overlayfs" >&2
		return 1
	fi
	merged="$(pm inspect "$c" --format '{{.GraphDriver.Data.MergedDir}}')"
	PM_DAEMON_PID=
	for p in $(pgrep -f "^$PM_BIN .* $merged\$"); do
		PM_DAEMON_PID=$p
	done
	if [ -z "$PM_DAEMON_PID" ]; then
		echo "# no $PM_BIN daemon serves $merged; running daemons:" >&2
		pgrep -a fuse-overlayfs >&2
		return 1
	fi
	[ "$(readlink "/proc/$PM_DAEMON_PID/exe")" = "$PM_BIN" ] || {
		echo "# pid $PM_DAEMON_PID runs $(readlink "/proc/$PM_DAEMON_PID/exe"), not $PM_BIN" >&2
		return 1
	}
	PM_DAEMON_CMDLINE="$(tr '\0' ' ' <"/proc/$PM_DAEMON_PID/cmdline")"
}

# pm_check_sanitizer: fails with the report when a daemon left one.
pm_check_sanitizer() {
	local f status=0
	for f in "$PM_DIR"/sanitizer/report*; do
		[ -e "$f" ] || continue
		echo "# sanitizer report $f:" >&2
		sed 's/^/#   /' "$f" >&2
		status=1
	done
	return $status
}

# The hooks of both suites: setup_file, setup and teardown (teardown_file
# is pm_teardown_store).
pm_setup_file() {
	ovl_build_tool || return 1
	export OVLTOOL
	pm_setup_store "$1"
	pm_import_base
}

pm_setup() {
	[ -z "$PM_SKIP" ] || skip "$PM_SKIP"
	pm_load_env
	pm_watch_start
}

pm_teardown() {
	local status=0 i
	[ -z "$PM_SKIP" ] || return 0
	pm_syslog_stop
	pm_watch_stop
	pm rm -a -f -t 0 >/dev/null 2>&1
	# Sanitizer reports are written when a daemon exits, after its unmount.
	for ((i = 0; i < 100; i++)); do
		pgrep -f "^$PM_BIN .*/overlay/[0-9a-f]*/merged\$" >/dev/null || break
		sleep 0.05
	done
	pm_check_sanitizer || status=1
	mkdir -p "$PM_DIR/sanitizer/seen"
	mv "$PM_DIR"/sanitizer/report* "$PM_DIR/sanitizer/seen/" 2>/dev/null
	return $status
}

# pm_upper CONTAINER: the container's upper layer directory on the host.
pm_upper() {
	pm inspect "$1" --format '{{.GraphDriver.Data.UpperDir}}'
}

# pm_is_whiteout DIR NAME: DIR holds a whiteout for NAME, in either form.
pm_is_whiteout() {
	[ -e "$1/.wh.$2" ] && return 0
	[ "$(stat -c '%F %t:%T' "$1/$2" 2>/dev/null)" = "character special file 0:0" ]
}

# pm_is_opaque DIR: DIR is marked opaque, in any of the forms.
pm_is_opaque() {
	[ -e "$1/.wh..wh..opq" ] && return 0
	getfattr --absolute-names -d -m '^(trusted\.overlay|user\.overlay|user\.fuseoverlayfs)\.opaque$' \
		"$1" 2>/dev/null | grep -q '="y"'
}

# pm_ctx NAME: a directory the suite's user can read, for build contexts and
# podman cp; prints its path.
pm_ctx() {
	local d="$PM_DIR/ctx/$BATS_TEST_NUMBER-$1"
	mkdir -p "$d"
	chmod 755 "$PM_DIR/ctx"
	if [ "$PM_MODE" = rootless ]; then
		chown "$PM_USER:" "$d"
	fi
	echo "$d"
}

# ------------------------------------------------- cases run by both suites

# The script the checks below run in a container: the merged view of /data.
PM_SHOW_DATA='ls -A /data; echo "tree: $(ls -A /data/tree)"; echo "keepdir: $(ls -A /data/keepdir)"
	echo "modify: $(cat /data/modify)"; echo "keep: $(cat /data/keep)"
	stat -c "%n %a %u:%g %h" /data/modify /data/keep /data/owned
	echo "root: $(rootfs-type)"'

pm_case_run_is_ours() {
	pm run -d --name ours --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours ours
	echo "# daemon: $PM_DAEMON_CMDLINE"
	[[ "$PM_DAEMON_CMDLINE" == "$PM_BIN -o lowerdir="*",upperdir="*",workdir="* ]]
	cmp "$PM_BIN" "$FUSE_OVERLAYFS"
}

pm_case_run_changes() {
	local upper lower out
	pm run -d --name chg --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours chg
	pm exec chg sh -c 'set -e
		echo new >> /data/modify
		rm /data/gone
		rm -r /data/tree
		mkdir /data/tree
		echo fresh > /data/tree/fresh
		rm /data/keep
		echo back > /data/keep
		rm -r /data/keepdir'
	# The changes survive a restart (a new mount of the same layers).
	pm restart -t 0 chg >/dev/null
	pm_assert_root_is_ours chg
	out="$(pm exec chg sh -c 'ls -A /data; echo "tree: $(ls -A /data/tree)"; cat /data/modify /data/keep')"
	echo "$out"
	[ "$out" = "$(printf 'keep\nlink\nmodify\nowned\ntree\ntree: fresh\noriginal\nnew\nback')" ]
	# Recreate what was deleted: a removed directory comes back empty.
	pm exec chg sh -c 'mkdir /data/keepdir && echo g2 > /data/gone'
	[ "$(pm exec chg sh -c 'ls -A /data/keepdir; cat /data/gone')" = g2 ]
	pm exec chg rm /data/gone
	# On disk: whiteouts and an opaque directory in the upper layer, the
	# image layer untouched.
	upper="$(pm_upper chg)"
	lower="$(pm inspect chg --format '{{.GraphDriver.Data.LowerDir}}')"
	pm_is_whiteout "$upper/data" gone
	pm_is_opaque "$upper/data/tree"
	pm_is_opaque "$upper/data/keepdir"
	[ "$(cat "$lower/data/modify" "$lower/data/gone")" = "$(printf 'original\ngone')" ]
	[ -f "$lower/data/tree/sub/c" ]
}

pm_case_build() {
	local ctx out
	ctx="$(pm_ctx build)"
	# Every RUN step records the type of its / (the first one lingers so that
	# the watcher surely sees its daemon).
	cat >"$ctx/Containerfile" <<-EOF
		FROM $PM_BASE
		RUN rm /data/gone && rm -r /data/tree && echo changed > /data/modify && \\
		    rootfs-type >> /steps-root && sleep 1
		RUN mkdir /data/tree && echo fresh > /data/tree/fresh && \\
		    rm -r /data/keepdir && mkdir /data/keepdir && echo n > /data/keepdir/n && \\
		    rootfs-type >> /steps-root
		RUN chmod 600 /data/modify && chown 1000:1000 /data/keep && chown 0:1000 /data/owned && \\
		    chmod 4755 /data/tree/fresh && echo more >> /data/modify && \\
		    echo linked > /data/new && ln /data/new /data/hard && rootfs-type >> /steps-root
	EOF
	pm build --pull=never --network=none -t localhost/ovl-built "$ctx"
	# The RUN steps' containers were mounted by our binary.
	echo "# daemons seen:"
	sed 's/^/#   /' "$PM_SEEN"
	grep -q "^$PM_BIN -o lowerdir=.*,upperdir=" "$PM_SEEN"
	out="$(pm run --rm --pull=never localhost/ovl-built sh -c "$PM_SHOW_DATA
		stat -c '%n %a' /data/tree/fresh; stat -c '%n %h' /data/hard; cat /steps-root")"
	echo "$out"
	[ "$(echo "$out" | sed -n '1,13p')" = "$(printf '%s\n' hard keep keepdir link modify new owned tree \
		'tree: fresh' 'keepdir: n' "modify: changed
more" 'keep: keep')" ]
	echo "$out" | grep -qx '/data/modify 600 0:0 1'
	echo "$out" | grep -qx '/data/keep 644 1000:1000 1'
	echo "$out" | grep -qx '/data/hard 2'
	echo "$out" | grep -qx '/data/owned 640 0:1000 1'
	echo "$out" | grep -qx '/data/tree/fresh 4755'
	echo "$out" | grep -qx 'root: fuse.fuse-overlayfs'
	[ "$(echo "$out" | tail -n 3)" = "$(printf 'fuse.fuse-overlayfs\n%.0s' 1 2 3)" ]
	pm rmi localhost/ovl-built >/dev/null
}

pm_case_diff() {
	local out
	pm run -d --name dif --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours dif
	pm exec dif sh -c 'set -e
		rm /data/gone; echo x > /data/added; echo y >> /data/modify; rm -r /data/tree
		chmod 600 /data/keep'
	out="$(pm diff dif | sort)"
	echo "$out"
	# (/etc: runc creates /etc/hosts and /etc/hostname to mount over them)
	[ "$out" = "$(printf '%s\n' 'A /data/added' 'C /data' 'C /data/keep' 'C /data/modify' \
		'C /etc' 'D /data/gone' 'D /data/tree' | sort)" ]
}

pm_case_commit() {
	local out layer
	pm run -d --name com --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours com
	pm exec com sh -c 'set -e
		rm /data/gone; rm -r /data/tree; mkdir /data/tree; echo fresh > /data/tree/fresh
		echo committed > /data/modify; chmod 700 /data/keep'
	pm commit com localhost/ovl-committed >/dev/null
	# The committed layer as podman stores it (.wh. whiteouts; the replaced
	# directory opaque or its old entries whited out), which this binary
	# reads as a lower layer below.
	layer="$(pm image inspect localhost/ovl-committed --format '{{.GraphDriver.Data.UpperDir}}')"
	pm_is_whiteout "$layer/data" gone
	if ! pm_is_opaque "$layer/data/tree"; then
		pm_is_whiteout "$layer/data/tree" a
		pm_is_whiteout "$layer/data/tree" sub
	fi
	out="$(pm run --rm --pull=never localhost/ovl-committed sh -c "$PM_SHOW_DATA")"
	echo "$out"
	[ "$(echo "$out" | sed -n '1,9p')" = "$(printf '%s\n' keep keepdir link modify owned tree \
		'tree: fresh' 'keepdir: k' 'modify: committed')" ]
	echo "$out" | grep -qx '/data/keep 700 0:0 1'
	echo "$out" | grep -qx 'root: fuse.fuse-overlayfs'
	# A third layer on top: delete from the committed layer, commit again.
	pm run -d --name com2 --pull=never localhost/ovl-committed sleep 600
	pm_assert_root_is_ours com2
	pm exec com2 sh -c 'rm -r /data/tree; echo again > /data/gone'
	pm commit com2 localhost/ovl-committed2 >/dev/null
	out="$(pm run --rm --pull=never localhost/ovl-committed2 sh -c 'ls -A /data; cat /data/gone /data/modify; rootfs-type')"
	echo "$out"
	[ "$out" = "$(printf '%s\n' gone keep keepdir link modify owned again committed fuse.fuse-overlayfs)" ]
	pm rm -f -t 0 com com2 >/dev/null
	pm rmi localhost/ovl-committed2 localhost/ovl-committed >/dev/null
}

pm_case_exec_cp() {
	local ctx out
	ctx="$(pm_ctx cp)"
	pm run -d --name excp --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours excp
	pm exec excp sh -c 'echo from-exec > /data/exec && rm /data/gone && echo appended >> /data/modify'
	echo from-host >"$ctx/cpfile"
	chmod 644 "$ctx/cpfile"
	pm cp "$ctx/cpfile" excp:/data/cpfile
	pm cp "$ctx/cpfile" excp:/data/keep
	out="$(pm exec excp sh -c 'cat /data/exec /data/cpfile /data/keep /data/modify; ls /data/gone 2>&1 || true')"
	echo "$out"
	[ "$(echo "$out" | sed -n '1,5p')" = "$(printf '%s\n' from-exec from-host from-host original appended)" ]
	[[ "$out" == *"No such file or directory"* ]]
	pm cp excp:/data/exec "$ctx/back"
	pm cp excp:/data/modify "$ctx/modify"
	[ "$(cat "$ctx/back" "$ctx/modify")" = "$(printf '%s\n' from-exec original appended)" ]
}

# pm_sh SCRIPT: a shell with the suite's podman set-up, in podman's mount
# namespace (`podman unshare`) when rootless.
pm_sh() {
	if [ "$PM_MODE" = rootless ]; then
		pm unshare sh -c "$1"
	else
		env "${PM_ENV[@]}" sh -c "$1"
	fi
}

# pm_case_image_mount: podman image mount, a read-only mount with lower
# layers only.
pm_case_image_mount() {
	local out
	out="$(pm_sh 'set -e
		m=$(podman image mount '"$PM_BASE"')
		cat "$m/data/keep"
		awk -v m="$m" '\''$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 1), $6 }'\'' /proc/self/mountinfo
		for p in $(pgrep -f "^'"$PM_BIN"' .* $m\$"); do echo "daemon: $(tr "\0" " " < /proc/$p/cmdline)"; done
		touch "$m/new" 2>&1 || true
		podman image unmount '"$PM_BASE"' >/dev/null')"
	echo "$out"
	echo "$out" | sed -n 1p | grep -qx keep
	echo "$out" | sed -n 2p | grep -Eq '^fuse.fuse-overlayfs ro(,|$)'
	echo "$out" | grep -q 'Read-only file system'
	[ "$(echo "$out" | grep -c "^daemon: $PM_BIN -o lowerdir=")" = 1 ]
	[[ "$out" != *upperdir=* ]]
}

# pm_syslog_start: a syslog listener at /dev/log (the daemon logs there once
# it runs in the background), mounted over an existing one for the test.
pm_syslog_start() {
	local sock="$PM_DIR/log.sock" i
	PM_SYSLOG="$BATS_TEST_TMPDIR/syslog"
	: >"$PM_SYSLOG"
	rm -f "$sock"
	"$OVLTOOL" syslogd "$sock" "$PM_SYSLOG" >/dev/null 3>&- &
	PM_SYSLOGD=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && break
		sleep 0.05
	done
	if [ -e /dev/log ] || [ -L /dev/log ]; then
		mount --bind "$sock" /dev/log
		PM_SYSLOG_UNDO="umount /dev/log"
	else
		ln -s "$sock" /dev/log
		PM_SYSLOG_UNDO="rm -f /dev/log"
	fi
}

pm_syslog_stop() {
	[ -n "${PM_SYSLOGD:-}" ] || return 0
	$PM_SYSLOG_UNDO
	kill "$PM_SYSLOGD" 2>/dev/null
	wait "$PM_SYSLOGD" 2>/dev/null || true
	PM_SYSLOGD=
}

# pm_daemon_stats: SIGUSR1 to $PM_DAEMON_PID; prints its stats line.
pm_daemon_stats() {
	local i
	kill -USR1 "$PM_DAEMON_PID" || return 1
	for ((i = 0; i < 100; i++)); do
		if grep -q "fuse-overlayfs\[$PM_DAEMON_PID\]: stats: " "$PM_SYSLOG"; then
			grep "fuse-overlayfs\[$PM_DAEMON_PID\]: stats: " "$PM_SYSLOG" | tail -n 1
			return 0
		fi
		sleep 0.05
	done
	echo "# no stats line in the syslog 5 s after SIGUSR1:" >&2
	sed 's/^/#   /' "$PM_SYSLOG" >&2
	return 1
}

# pm_container_io CONTAINER: 32 MiB written, read back and checked inside.
pm_container_io() {
	pm exec "$1" sh -c 'set -e
		dd if=/dev/urandom of=/tmp/rand bs=1M count=32 2>/dev/null
		a=$(md5sum < /tmp/rand)
		cat /tmp/rand > /data/big
		echo tail >> /data/modify
		b=$(md5sum < /data/big)
		[ "$a" = "$b" ] && [ "$(tail -n 1 /data/modify)" = tail ] && echo io-ok'
}

# pm_case_xattr_permissions: a container mounted with xattr_permissions=2
# (a storage.conf of its own adds it to mountopt; the suite's other
# containers keep theirs).  In its merged tree (podman unshare when
# rootless), security.* names are kept escaped in the upper layer, and
# chgrp of a file with a capability and a security.* name works and drops
# the capability only, as the kernel does; the container sees the same.
pm_case_xattr_permissions() {
	local conf="$PM_DIR/storage-xattr2.conf" out upper opts
	opts="$(sed -n 's/^mountopt = "\(.*\)"$/\1/p' "$PM_DIR/storage.conf")"
	sed "s/^mountopt = .*/mountopt = \"${opts:+$opts,}xattr_permissions=2\"/" \
		"$PM_DIR/storage.conf" >"$conf"
	chmod 644 "$conf"
	local -a PM_ENV=("${PM_ENV[@]/#CONTAINERS_STORAGE_CONF=*/CONTAINERS_STORAGE_CONF=$conf}")
	pm run -d --name xp2 --pull=never "$PM_BASE" sleep 600
	pm_assert_root_is_ours xp2
	[[ "$PM_DAEMON_CMDLINE" == *xattr_permissions=2* ]]
	out="$(pm_sh 'set -e
		m=$(podman mount xp2)
		setcap cap_net_raw+ep "$m/data/keep"
		setfattr -n security.foo -v bar "$m/data/keep"
		getcap "$m/data/keep" | sed "s,^$m,,"
		chgrp 1 "$m/data/keep"
		echo "chgrp: $?"
		echo "after: $(getcap "$m/data/keep")"
		getfattr --only-values -n security.foo "$m/data/keep"; echo
		podman unmount xp2 >/dev/null')"
	echo "$out"
	[ "$out" = "$(printf '%s\n' '/data/keep cap_net_raw=ep' 'chgrp: 0' 'after: ' bar)" ]
	[ "$(pm exec xp2 stat -c %g /data/keep)" = 1 ]
	# on disk: security.foo escaped, no capability in any form
	upper="$(pm_upper xp2)"
	out="$(getfattr --absolute-names -d -m - "$upper/data/keep" | grep -v '^#' | grep . | LC_ALL=C sort)"
	echo "$out"
	echo "$out" | grep -qx 'user.containers.override_security.foo="bar"'
	! echo "$out" | grep -q capability || false
	! echo "$out" | grep -q '^security\.' || false
	pm rm -f -t 0 xp2 >/dev/null
}
