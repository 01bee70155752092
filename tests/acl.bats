#!/usr/bin/env bats
# POSIX ACLs at creation: a default ACL of the parent directory decides a
# new object's mode and ACLs in place of the caller's umask.  The daemon
# gets the mode unmasked (FUSE_CAP_DONT_MASK) with the umask beside it, and
# must give what kernel overlayfs gives, for objects made directly in the
# upper directory and for those built in the workdir (another owner than the
# daemon's, or a whiteout replaced).

load helpers

setup() {
	ovl_setup
	chmod 0755 "$TMP"   # the unprivileged caller below walks into it
}

teardown() {
	ovl_teardown
}

# acl_layers: upper directories with and without default ACLs (one setgid),
# a lower one with a default ACL, lower names to remove and make again.
acl_layers() {
	rm -rf "$LOWER1" "$UPPER" "$WORK" && mkdir "$LOWER1" "$UPPER" "$WORK"
	mkdir "$UPPER/acl" "$UPPER/plain" "$UPPER/sgid" "$LOWER1/lower"
	setfacl -d -m u::rwx,g::rwx,o::- "$UPPER/acl" "$LOWER1/lower"
	chown 0:100 "$UPPER/sgid"
	chmod 2775 "$UPPER/sgid"
	setfacl -d -m u::rwx,g::rwx,m::rwx,o::r-x,u:1000:r-x "$UPPER/sgid"
	mkdir "$LOWER1/acl"
	echo x >"$LOWER1/acl/gone"
	mkdir "$LOWER1/acl/gonedir"
	OVL_LOWER_SNAP=""
}

# acl_make MNT: creates files, directories and fifos there under several
# umasks, as root (made in place) and as uid 1000 (built in the workdir),
# and over whiteouts.
acl_make() {
	local m="$1" um d
	chmod 1777 "$m/acl" "$m/plain" "$m/sgid" "$m/lower"
	for um in 022 722 077 000; do
		for d in acl plain sgid lower; do
			(umask "$um" && mkdir "$m/$d/dir$um" && touch "$m/$d/f$um" && mknod "$m/$d/p$um" p)
			setpriv --reuid=1000 --regid=1000 --clear-groups \
				sh -c 'umask "$1" && mkdir "$2/udir$1" && touch "$2/uf$1" && mknod "$2/up$1" p' \
				sh "$um" "$m/$d"
		done
	done
	rm "$m/acl/gone"
	rmdir "$m/acl/gonedir"
	(umask 022 && touch "$m/acl/gone" && mkdir "$m/acl/gonedir")
}

# acl_list MNT: each object made, with its mode, owner and ACLs.
acl_list() {
	local f
	(cd "$1" && find . -mindepth 2 | sort) | while read -r f; do
		echo "$f $(stat -c '%A %u:%g' "$1/$f") $(getfacl -cp "$1/$f" 2>/dev/null | grep -v '^$' | tr '\n' ' ')"
	done
}

@test "new files, directories and fifos under default ACLs and umasks: as on kernel overlayfs" {
	local want got
	acl_layers
	kovl_mount
	acl_make "$MNT"
	want="$(acl_list "$MNT")"
	kovl_umount
	acl_layers
	ovl_mount
	acl_make "$MNT"
	got="$(acl_list "$MNT")"
	ovl_umount
	assert_eq "$want" "$got" "modes and ACLs"
	# the issue's example, spelled out: the default ACL wins over umask 022
	assert_eq "./acl/dir022 drwxrwx--- 0:0" "$(grep '^./acl/dir022 ' <<<"$got" | cut -d' ' -f1-3)"
	assert_eq "./acl/uf022 -rw-rw---- 1000:1000" "$(grep '^./acl/uf022 ' <<<"$got" | cut -d' ' -f1-3)"
	assert_eq "./plain/dir022 drwxr-xr-x 0:0" "$(grep '^./plain/dir022 ' <<<"$got" | cut -d' ' -f1-3)"
	assert_eq "./sgid/udir022 drwxrwsr-x 1000:100" "$(grep '^./sgid/udir022 ' <<<"$got" | cut -d' ' -f1-3)"
}

@test "O_TMPFILE under a default ACL and without one: as on kernel overlayfs" {
	local tmpfile_mode want got
	tmpfile_mode() {
		setpriv --reuid=1000 --regid=1000 --clear-groups /usr/bin/python3 -c '
import os, sys
for d in sys.argv[1:]:
    os.umask(0o22)
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o666)
    print(d.rsplit("/", 1)[1], oct(os.fstat(fd).st_mode))' "$@"
	}
	command -v /usr/bin/python3 >/dev/null || skip "no /usr/bin/python3"
	acl_layers
	kovl_mount
	chmod 1777 "$MNT/acl" "$MNT/plain"
	want="$(tmpfile_mode "$MNT/acl" "$MNT/plain")"
	kovl_umount
	acl_layers
	ovl_mount
	chmod 1777 "$MNT/acl" "$MNT/plain"
	got="$(tmpfile_mode "$MNT/acl" "$MNT/plain")"
	ovl_umount
	assert_eq "acl 0o100660
plain 0o100644" "$want" "kernel overlayfs"
	assert_eq "$want" "$got"
}

@test "noacl: the umask always applies, no ACL is shown" {
	acl_layers
	ovl_mount noacl
	chmod 1777 "$MNT/acl"
	(umask 022 && mkdir "$MNT/acl/d" && touch "$MNT/acl/f")
	setpriv --reuid=1000 --regid=1000 --clear-groups sh -c 'umask 022 && touch "$1/uf"' sh "$MNT/acl"
	assert_eq "755 644 644" "$(stat -c %a "$MNT/acl/d" "$MNT/acl/f" "$MNT/acl/uf" | paste -sd ' ')"
	run getfattr -n system.posix_acl_default "$MNT/acl/d"
	assert_status 1
	ovl_umount
	# nor did the upper's filesystem give them one
	run getfattr -m 'system\.posix_acl' -d "$UPPER/acl/d" "$UPPER/acl/f" "$UPPER/acl/uf"
	assert_status 0
	assert_output ""
}
