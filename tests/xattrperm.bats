#!/usr/bin/env bats
# xattr_permissions=2 and security.* names, as fuse-overlayfs 1.14 keeps
# them: stored in the upper layer as user.containers.override_security.*,
# shown as security.*, the real security.* names of upper files hidden;
# copy-up; chown/chgrp of files with a capability by root, by an
# unprivileged daemon in a user namespace (unshare -Urm as nobody) and by
# one outside any (mounted through fusermount3).  And
# FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT: .wh. whiteouts even where mknod of
# 0/0 works, reading unchanged; compared with Debian's fuse-overlayfs 1.10
# (/usr/bin/fuse-overlayfs) when it is installed.

load helpers

ESC=user.containers.override_
# security.capability for cap_net_raw=ep (version 2, as setcap writes it
# for root)
CAP_HEX=0x0100000200200000000000000000000000000000
DEBIAN_OVL=/usr/bin/fuse-overlayfs

setup() {
	ovl_setup
	FUSE_MODE=
}

teardown() {
	if [ -n "${NS_PID:-}" ] && ovl_alive "$NS_PID"; then
		kill -9 "$NS_PID" 2>/dev/null
	fi
	local status=0
	ovl_teardown || status=$?
	[ -z "$FUSE_MODE" ] || chmod "$FUSE_MODE" /dev/fuse
	return $status
}

# xattrs NAMEPATTERN PATH: PATH's xattrs matching NAMEPATTERN, "name=0xvalue"
# one per line, sorted (nothing when it has none).
xattrs() {
	getfattr --absolute-names -h -d -e hex -m "$1" "$2" 2>/dev/null | grep -v '^#' | grep . | LC_ALL=C sort || true
}

# xattr_hex NAME PATH: the value of one xattr in hex (nothing when PATH has
# no such xattr).
xattr_hex() {
	getfattr --absolute-names -h -e hex -n "$1" "$2" 2>/dev/null | sed -n "s/^$1=//p"
}

# The lower file capfile (cap_net_raw=ep, user.keep, security.foo) and
# ovr, as fuse-overlayfs 1.14 leaves a file in an upper layer that later
# became a lower one: its capability and security.foo escaped.
make_cap_layers() {
	echo cap >"$LOWER1/capfile"
	setcap cap_net_raw+ep "$LOWER1/capfile"
	setfattr -n user.keep -v kept "$LOWER1/capfile"
	setfattr -n security.foo -v lowerfoo "$LOWER1/capfile"
	echo ovr >"$LOWER1/ovr"
	setfattr -n "${ESC}security.capability" -v "$CAP_HEX" "$LOWER1/ovr"
	setfattr -n "${ESC}security.foo" -v escfoo "$LOWER1/ovr"
	ovl_snapshot_lowers
}

@test "xattr_permissions=2: security.* kept as user.containers.override_security.*, shown as security.*" {
	make_cap_layers
	ovl_mount xattr_permissions=2
	echo new >"$MNT/new"
	setfattr -n security.foo -v bar "$MNT/new"
	setfattr -n user.plain -v p "$MNT/new"
	# on disk: the escaped name only
	assert_eq "0x626172" "$(xattr_hex "${ESC}security.foo" "$UPPER/new")" "escaped security.foo on disk"
	assert_eq "" "$(xattrs '^security\.' "$UPPER/new")" "real security.* names on disk"
	# through the mount: security.foo, never the escaped name
	assert_eq bar "$(getfattr --only-values -n security.foo "$MNT/new")"
	run getfattr -d -m - "$MNT/new"
	assert_output_contains 'security.foo="bar"'
	assert_output_contains 'user.plain="p"'
	[[ "$output" != *override* ]] || { echo "# listed: $output" >&2; false; }
	run getfattr -n "${ESC}security.foo" "$MNT/new"
	assert_output_contains "Operation not supported"
	run setfattr -n "${ESC}security.foo" -v forged "$MNT/new"
	assert_output_contains "Operation not supported"
	assert_eq "0x626172" "$(xattr_hex "${ESC}security.foo" "$UPPER/new")" "after the forged set"
	# removexattr
	setfattr -x security.foo "$MNT/new"
	run getfattr -n security.foo "$MNT/new"
	assert_output_contains "No such attribute"
	assert_eq "" "$(xattrs "^${ESC}security" "$UPPER/new")" "escaped names after removexattr"
	run setfattr -x security.foo "$MNT/new"
	assert_output_contains "No such attribute"
	# a directory keeps them too
	mkdir "$MNT/dir"
	setfattr -n security.dirattr -v d "$MNT/dir"
	assert_eq "0x64" "$(xattr_hex "${ESC}security.dirattr" "$UPPER/dir")"
	assert_eq d "$(getfattr --only-values -n security.dirattr "$MNT/dir")"
	ovl_umount
	# a new mount reads the same; without xattr_permissions=2 security.*
	# names are the real ones and the escaped ones stay hidden
	ovl_mount xattr_permissions=2
	assert_eq d "$(getfattr --only-values -n security.dirattr "$MNT/dir")"
	ovl_umount
	ovl_mount
	run getfattr -d -m - "$MNT/dir"
	[[ "$output" != *security.dirattr* ]] || { echo "# listed: $output" >&2; false; }
	setfattr -n security.raw -v r "$MNT/dir"
	assert_eq "0x72" "$(xattr_hex security.raw "$UPPER/dir")"
}

@test "xattr_permissions=2: the real security.* names of upper files are not shown, read or changed" {
	mkdir -p "$UPPER"
	echo up >"$UPPER/labelled"
	setfattr -n security.hostlabel -v host "$UPPER/labelled"
	setfattr -n security.foo -v hostfoo "$UPPER/labelled"
	ovl_mount xattr_permissions=2
	run getfattr -d -m - "$MNT/labelled"
	[[ "$output" != *security.* ]] || { echo "# listed: $output" >&2; false; }
	run getfattr -n security.hostlabel "$MNT/labelled"
	assert_output_contains "No such attribute"
	run setfattr -x security.hostlabel "$MNT/labelled"
	assert_output_contains "No such attribute"
	# set and remove reach the escaped name, the host's stays as it was
	setfattr -n security.foo -v mine "$MNT/labelled"
	assert_eq mine "$(getfattr --only-values -n security.foo "$MNT/labelled")"
	setfattr -x security.foo "$MNT/labelled"
	assert_eq "security.foo=0x686f7374666f6f
security.hostlabel=0x686f7374" "$(xattrs '^security\.' "$UPPER/labelled")"
	run getfattr -n security.foo "$MNT/labelled"
	assert_output_contains "No such attribute"
}

@test "xattr_permissions=2: copy-up stores a lower file's capability and security.* escaped" {
	make_cap_layers
	ovl_mount xattr_permissions=2
	# before copy-up: the lower file's own names, and the escaped ones of
	# the file 1.14 wrote, as security.*
	assert_eq "$MNT/capfile cap_net_raw=ep" "$(getcap "$MNT/capfile")"
	assert_eq "$MNT/ovr cap_net_raw=ep" "$(getcap "$MNT/ovr")"
	assert_eq escfoo "$(getfattr --only-values -n security.foo "$MNT/ovr")"
	run getfattr -d -m - "$MNT/ovr"
	assert_output_contains 'security.foo="escfoo"'
	assert_output_contains 'security.capability='
	[[ "$output" != *override* ]] || { echo "# listed: $output" >&2; false; }
	local before_cap before_ovr
	before_cap="$(getfattr -d -m - -e hex "$MNT/capfile" | tail -n +2)"
	before_ovr="$(getfattr -d -m - -e hex "$MNT/ovr" | tail -n +2)"
	# copy-up (data kept, so the capability must stay)
	touch -a "$MNT/capfile" "$MNT/ovr"
	[ -f "$UPPER/capfile" ]
	[ -f "$UPPER/ovr" ]
	assert_eq "${ESC}security.capability=$CAP_HEX
${ESC}security.foo=0x6c6f776572666f6f" "$(xattrs "^${ESC}security" "$UPPER/capfile")" "capfile's escaped names"
	assert_eq "" "$(xattrs '^security\.' "$UPPER/capfile")" "capfile's real security names"
	assert_eq "0x6b657074" "$(xattr_hex user.keep "$UPPER/capfile")"
	assert_eq "${ESC}security.capability=$CAP_HEX
${ESC}security.foo=0x657363666f6f" "$(xattrs "^${ESC}security" "$UPPER/ovr")" "ovr's escaped names"
	# nothing the mount shows changed
	assert_eq "$before_cap" "$(getfattr -d -m - -e hex "$MNT/capfile" | tail -n +2)"
	assert_eq "$before_ovr" "$(getfattr -d -m - -e hex "$MNT/ovr" | tail -n +2)"
	assert_eq "$MNT/capfile cap_net_raw=ep" "$(getcap "$MNT/capfile")"
	ovl_umount
	ovl_mount xattr_permissions=2
	assert_eq "$MNT/ovr cap_net_raw=ep" "$(getcap "$MNT/ovr")"
}

@test "xattr_permissions=2: chown by root drops the capability as kernel overlayfs does, the rest stays" {
	make_cap_layers
	local kmnt="$TMP/kmnt"
	mkdir -p "$kmnt" "$TMP/ku" "$TMP/kw"
	mount -t overlay overlay -o "lowerdir=$LOWERDIRS,upperdir=$TMP/ku,workdir=$TMP/kw" "$kmnt"
	ovl_mount xattr_permissions=2
	local m
	for m in "$kmnt" "$MNT"; do
		chown 7:8 "$m/capfile"
	done
	assert_eq "$(getfattr -d -m '^(security|user)\.' -e hex "$kmnt/capfile" | tail -n +2)" \
		"$(getfattr -d -m '^(security|user)\.' -e hex "$MNT/capfile" | tail -n +2)" "capfile's xattrs"
	assert_eq "$(stat -c '%a %u:%g' "$kmnt/capfile")" "$(stat -c '%a %u:%g' "$MNT/capfile")" "mode and owner"
	assert_eq "" "$(getcap "$MNT/capfile")" "capfile's capability"
	# (kernel overlayfs knows no escaped names: ovr is compared with what
	# it does to capfile)
	chgrp 9 "$MNT/ovr"
	assert_eq "" "$(getcap "$MNT/ovr")" "ovr's capability"
	assert_eq "security.foo=0x657363666f6f" "$(getfattr -d -m - -e hex "$MNT/ovr" | tail -n +2 | grep .)"
	# on disk: the capability gone in either form, the rest escaped
	assert_eq "${ESC}security.foo=0x6c6f776572666f6f" "$(xattrs "^(${ESC}|)security\." "$UPPER/capfile")"
	assert_eq "${ESC}security.foo=0x657363666f6f" "$(xattrs "^(${ESC}|)security\." "$UPPER/ovr")"
	assert_eq "7:8:0644" "$(getfattr --only-values -n "${ESC}stat" "$UPPER/capfile")"
}

@test "xattr_permissions=2: symlinks, fifos and devices (no user xattrs there) keep owner and mode in the inode" {
	make_layers
	ovl_mount xattr_permissions=2
	# creating them must not fail because user.* xattrs are refused there
	ln -s file1 "$MNT/newlink"
	mkfifo -m 0640 "$MNT/fifo"
	mknod -m 0600 "$MNT/null" c 1 3
	chown -h 5:6 "$MNT/newlink" "$MNT/link"
	chown 7:8 "$MNT/fifo"
	chmod 0604 "$MNT/fifo"
	assert_eq "5:6 5:6 7:8 604 0:0 600" "$(stat -c '%u:%g' "$MNT/newlink" "$MNT/link" "$MNT/fifo" | tr '\n' ' ')$(stat -c '%a' "$MNT/fifo") $(stat -c '%u:%g %a' "$MNT/null")"
	assert_eq "lower1 file" "$(cat "$MNT/newlink")"
	# as the real inodes hold them
	assert_eq "5:6 7:8 604" "$(stat -c '%u:%g' "$UPPER/newlink" "$UPPER/fifo" | tr '\n' ' ')$(stat -c '%a' "$UPPER/fifo")"
	ovl_umount
	ovl_mount xattr_permissions=2
	assert_eq "5:6 7:8 604" "$(stat -c '%u:%g' "$MNT/newlink" "$MNT/fifo" | tr '\n' ' ')$(stat -c '%a' "$MNT/fifo")"
}

# ------------------------------------------------------ unprivileged daemons

# ns_layers: $NS/{lower,upper,work,mnt} for a daemon run by nobody, with
# lower/capfile (cap_net_raw=ep, user.keep, security.foo) and lower/ovr
# (the same escaped, as fuse-overlayfs 1.14 writes them); $NS/native holds
# copies of both on the real filesystem, for the kernel's own answer.
# /dev/fuse is made usable by everyone for the test, as distributions do.
ns_layers() {
	NS="$TMP/ns"
	mkdir -p "$NS/lower" "$NS/upper" "$NS/work" "$NS/mnt" "$NS/native" "$TMP/bin"
	chmod 755 "$TMP"
	cp "$FUSE_OVERLAYFS" "$TMP/bin/fuse-overlayfs"
	chmod 755 "$TMP/bin" "$TMP/bin/fuse-overlayfs"
	NS_BIN="$TMP/bin/fuse-overlayfs"
	local d
	for d in lower native; do
		echo cap >"$NS/$d/capfile"
		echo ovr >"$NS/$d/ovr"
	done
	chown -R 65534:65534 "$NS"
	# after the chown, which drops capabilities
	for d in lower native; do
		setcap cap_net_raw+ep "$NS/$d/capfile"
		setfattr -n user.keep -v kept "$NS/$d/capfile"
		setfattr -n security.foo -v lowerfoo "$NS/$d/capfile"
	done
	setfattr -n "${ESC}security.capability" -v "$CAP_HEX" "$NS/lower/ovr"
	setfattr -n "${ESC}security.foo" -v escfoo "$NS/lower/ovr"
	setcap cap_net_raw+ep "$NS/native/ovr"
	setfattr -n security.foo -v escfoo "$NS/native/ovr"
	LOWERDIRS="$NS/lower"
	ovl_snapshot_lowers
	FUSE_MODE="$(stat -c %a /dev/fuse)"
	chmod 666 /dev/fuse
}

# ns_run OPTIONS SCRIPT: as nobody, in a user namespace of its own where it
# is root (unshare -Urm), the daemon mounts $NS/mnt in the foreground; SCRIPT
# runs (sh, in $NS), then the mount is taken down.  Output: SCRIPT's, then
# "daemon status N".  NS_PLAIN=1: as nobody outside any user namespace,
# mounting and unmounting through fusermount3.
ns_run() {
	cat >"$TMP/ns.sh" <<'EOF'
dir=$1 daemon=$2 opts=$3 script=$4
cd "$dir" || exit 1
umount_it() {
	if [ "$NS_PLAIN" = 1 ]; then fusermount3 -u "$1"; else umount "$1"; fi
}
"$daemon" -f -o "lowerdir=$dir/lower,upperdir=$dir/upper,workdir=$dir/work$opts" "$dir/mnt" \
	2>>"$dir/daemon.log" </dev/null &
pid=$!
echo "$pid" >"$dir/daemon.pid"
i=0
while ! mountpoint -q "$dir/mnt"; do
	if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 200 ]; then
		kill -9 "$pid" 2>/dev/null
		echo "no mount"
		exit 1
	fi
	i=$((i + 1))
	sleep 0.05
done
sh -c "$script"
umount_it "$dir/mnt"
wait "$pid"
echo "daemon status $?"
EOF
	local -a userns=(unshare -Urm)
	[ "${NS_PLAIN:-0}" != 1 ] || userns=()
	run timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups env NS_PLAIN="${NS_PLAIN:-0}" \
		"${userns[@]}" sh "$TMP/ns.sh" "$NS" "$NS_BIN" "$1" "$2"
	NS_PID="$(cat "$NS/daemon.pid" 2>/dev/null || true)"
	if [ "$status" -ne 0 ] && [[ "$output" == "unshare: "* ]]; then
		skip "cannot create a user namespace here: $(head -n 1 <<<"$output")"
	fi
	if [[ "$output" == "no mount"* ]]; then
		echo "# the daemon did not mount; its log:" >&2
		sed 's/^/#   /' "$NS/daemon.log" >&2
		return 1
	fi
	if grep -Eq "$OVL_SANITIZER_RE" "$NS/daemon.log"; then
		sed 's/^/#   /' "$NS/daemon.log" | head -n 60 >&2
		return 1
	fi
	[[ "$output" == *"daemon status 0" ]] || {
		echo "# $output" >&2
		sed 's/^/#   /' "$NS/daemon.log" | tail -n 20 >&2
		return 1
	}
}

@test "rootless (user namespace): security.* set through an xattr_permissions=2 mount is kept escaped" {
	ns_layers
	# a daemon without CAP_SYS_ADMIN cannot set real security.* names
	ns_run ,xattr_permissions=2 '
		echo new > mnt/new
		setfattr -n security.foo -v bar mnt/new && echo set-ok
		getfattr --only-values -n security.foo mnt/new; echo
		getfattr -d -m - mnt/new | grep -c override
		setfattr -x security.foo mnt/new && echo removed
		ln -s new mnt/link && mkfifo mnt/fifo && echo special-ok'
	echo "$output"
	assert_eq "set-ok
bar
0
removed
special-ok" "$(sed '$d' <<<"$output")"
	assert_eq "" "$(xattrs "^(${ESC}|)security\." "$NS/upper/new")" "after removexattr"
	ns_run ,xattr_permissions=2 'setfattr -n security.foo -v again mnt/new'
	assert_eq "0x616761696e" "$(xattr_hex "${ESC}security.foo" "$NS/upper/new")"
}

@test "rootless (user namespace): chgrp of files with a capability drops it as the kernel does" {
	ns_layers
	# setcap through the mount, chgrp (to the namespace's only group), and
	# the same on the real filesystem in the same namespace
	ns_run ,xattr_permissions=2 '
		set -e
		echo set > mnt/setcap; echo set > native/setcap
		setcap cap_net_raw+ep mnt/setcap; setcap cap_net_raw+ep native/setcap
		getcap mnt/setcap mnt/capfile mnt/ovr | sed "s,^mnt/,,"
		for f in setcap capfile ovr; do
			chgrp 0 mnt/$f
			chgrp 0 native/$f
			echo "$f mount: $(getfattr -d -m "^(security|user)\." -e hex mnt/$f | tail -n +2 | tr "\n" " ")"
			echo "$f native: $(getfattr -d -m "^(security|user)\." -e hex native/$f | tail -n +2 | tr "\n" " ")"
			echo "$f mode: $(stat -c "%a %u:%g" mnt/$f) $(stat -c "%a %u:%g" native/$f)"
		done'
	echo "$output"
	assert_eq "setcap cap_net_raw=ep
capfile cap_net_raw=ep
ovr cap_net_raw=ep" "$(head -n 3 <<<"$output")"
	local f
	for f in setcap capfile ovr; do
		assert_eq "$(sed -n "s/^$f native: //p" <<<"$output")" "$(sed -n "s/^$f mount: //p" <<<"$output")" "$f's xattrs after chgrp"
		[[ "$(sed -n "s/^$f native: //p" <<<"$output")" != *capability* ]]
		grep -Eq "^$f mode: ([0-7]+ [0-9:]+) \\1\$" <<<"$output"
		# on disk: no capability in either form
		assert_eq "" "$(xattrs "capability" "$NS/upper/$f")" "$f's capability on disk"
	done
	assert_eq "0x6c6f776572666f6f" "$(xattr_hex "${ESC}security.foo" "$NS/upper/capfile")"
	assert_eq "0x6b657074" "$(xattr_hex user.keep "$NS/upper/capfile")"
}

@test "rootless (no user namespace, fusermount3): chgrp of a file with a capability works" {
	ns_layers
	[ -u "$(command -v fusermount3)" ] || skip "fusermount3 is not setuid here"
	# The kernel asks the daemon to remove security.capability on chgrp: a
	# real one it could neither copy up nor remove without CAP_SETFCAP.
	# (Setting security.* names is refused to it by the kernel already.)
	NS_PLAIN=1 ns_run ,xattr_permissions=2 '
		for f in capfile ovr; do
			getcap mnt/$f
			chgrp 65534 mnt/$f && echo chgrp-ok
			echo "after: $(getcap mnt/$f)"
			getfattr --only-values -n security.foo mnt/$f; echo
		done
		getfattr --only-values -n user.keep mnt/capfile; echo'
	echo "$output"
	assert_eq "mnt/capfile cap_net_raw=ep
chgrp-ok
after: 
lowerfoo
mnt/ovr cap_net_raw=ep
chgrp-ok
after: 
escfoo
kept" "$(sed '$d' <<<"$output")"
	assert_eq "${ESC}security.foo=0x6c6f776572666f6f" "$(xattrs "^(${ESC}|)security\." "$NS/upper/capfile")"
	assert_eq "${ESC}security.foo=0x657363666f6f" "$(xattrs "^(${ESC}|)security\." "$NS/upper/ovr")"
}

# -------------------------------------------- FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT

# wh_forms DIR: the whiteouts and opaque markers below DIR, one per line:
# "c PATH" for a char 0/0 device, "w PATH" for a .wh. file, "x PATH" for an
# opaque xattr.
wh_forms() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -type c -printf '%P\n' | while read -r p; do
			if [ "$(stat -c '%t:%T' "$p")" = 0:0 ]; then
				echo "c $p"
			fi
		done
		find . -mindepth 1 -name '.wh.*' -printf 'w %P\n'
		find . -mindepth 1 -type d -printf '%P\n' | while read -r d; do
			if is_opaque_xattr "$d"; then
				echo "x $d"
			fi
		done
	) | LC_ALL=C sort
}

is_opaque_xattr() {
	local x
	for x in trusted.overlay.opaque user.overlay.opaque user.fuseoverlayfs.opaque; do
		[ "$(getfattr --only-values -n "$x" "$1" 2>/dev/null)" != y ] || return 0
	done
	return 1
}

# wh_scenario BIN UPPER WORK MNT: with FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1,
# rm, rmdir, mkdir over a removed directory and rename of lower objects.
wh_scenario() {
	local bin=$1 upper=$2 work=$3 mnt=$4
	mkdir -p "$upper" "$work" "$mnt"
	FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1 "$bin" \
		-o "lowerdir=$LOWERDIRS,upperdir=$upper,workdir=$work" "$mnt" 2>>"$TMP/other.log"
	rm "$mnt/file1" "$mnt/dir/a"
	rm -r "$mnt/lowdir"
	rm -r "$mnt/merged"
	mkdir "$mnt/merged"
	mv "$mnt/file2" "$mnt/file2.moved"
	mv "$mnt/shadow" "$mnt/dir/shadow"
	umount "$mnt"
}

@test "FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1: rm, rmdir and rename leave .wh. files, even as root" {
	make_layers
	local expected="w .wh.file1
w .wh.file2
w .wh.lowdir
w .wh.shadow
w dir/.wh.a
w merged/.wh..wh..opq
x merged"
	wh_scenario "$FUSE_OVERLAYFS" "$UPPER" "$WORK" "$MNT"
	assert_eq "$expected" "$(wh_forms "$UPPER")" "whiteouts in the upper layer"
	# .wh. files are empty regular files
	[ -f "$UPPER/.wh.file1" ]
	assert_eq 0 "$(stat -c %s "$UPPER/.wh.file1")"
	# what a new mount shows, with and without the variable
	local v view
	for v in 1 ""; do
		if [ -n "$v" ]; then
			FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1 ovl_mount
		else
			ovl_mount
		fi
		view="$(cd "$MNT" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')"
		assert_eq "./dangling ./dir ./dir/b ./dir/c ./dir/shadow ./dir/sub ./dir/sub/deep ./file2.moved ./link ./merged ./opq ./opq/visible ./owned ./sparse ./suid ./xattr_file " \
			"$view" "view (variable '$v')"
		ovl_umount
	done
	# Debian's fuse-overlayfs 1.x leaves the same forms
	if [ -x "$DEBIAN_OVL" ] && [ "$DEBIAN_OVL" != "$FUSE_OVERLAYFS" ]; then
		wh_scenario "$DEBIAN_OVL" "$TMP/u110" "$TMP/w110" "$TMP/m110"
		assert_eq "$expected" "$(wh_forms "$TMP/u110")" "$DEBIAN_OVL's whiteouts"
	fi
}

@test "FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1: reading is unchanged, char 0/0 whiteouts included" {
	make_layers
	# an upper layer written without the variable: a char 0/0 whiteout
	ovl_mount
	rm "$MNT/file2"
	ovl_umount
	[ -c "$UPPER/file2" ]
	FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT=1 ovl_mount
	# every form of every layer hides what it should
	run ls -A "$MNT"
	assert_eq "dangling dir file1 link lowdir merged opq owned shadow sparse suid xattr_file" "$(echo $output)"
	assert_eq "visible" "$(ls -A "$MNT/opq")"
	assert_eq "from lower1" "$(cat "$MNT/shadow")"
	# a name whited out by a char device comes back, and goes again as a
	# .wh. file
	echo back >"$MNT/file2"
	assert_eq back "$(cat "$MNT/file2")"
	[ -f "$UPPER/file2" ]
	rm "$MNT/file2"
	[ ! -e "$MNT/file2" ] || false
	assert_eq "w .wh.file2" "$(wh_forms "$UPPER")"
	ovl_umount
	ovl_mount
	[ ! -e "$MNT/file2" ] || false
	run ls -A "$MNT"
	assert_eq "dangling dir file1 link lowdir merged opq owned shadow sparse suid xattr_file" "$(echo $output)"
}
