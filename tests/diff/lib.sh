# shellcheck shell=bash
# Library of the differential test (tests/differential.test): layer
# generator, manifests and the operations log.

# gen_hardlink_fixtures LOWER1 LOWER2: the lower hard links of the hl_*
# scenarios (hl1=hl2 of gen_layers too).
gen_hardlink_fixtures() {
	local l1="$1" l2="$2"
	# lower2: a pair in a subdirectory, a pair across two directories, the
	# reproducer's d/f2 and d/leaf, a containers/storage-like perl/perl5 pair,
	# a pair whose second name lower1 whites out
	mkdir -p "$l2/hd" "$l2/hx" "$l2/usrbin"
	echo "pair in hd" >"$l2/hd/p1"
	ln "$l2/hd/p1" "$l2/hd/p2"
	echo "cross pair" >"$l2/hd/c1"
	ln "$l2/hd/c1" "$l2/hx/c2"
	printf AAAA >"$l2/d/f2"
	printf BBBBBBBB >"$l2/d/leaf"
	printf '#!perl\n' >"$l2/usrbin/perl"
	chmod 0755 "$l2/usrbin/perl"
	ln "$l2/usrbin/perl" "$l2/usrbin/perl5"
	echo "half whited out" >"$l2/sh1"
	ln "$l2/sh1" "$l2/sh2"
	mknod "$l1/sh2" c 0 0
	# lower1: a pair, and a triple across the root and a subdirectory
	mkdir -p "$l1/tri"
	echo "lower1 pair" >"$l1/h1a"
	ln "$l1/h1a" "$l1/h1b"
	echo "triple" >"$l1/tri/t1"
	ln "$l1/tri/t1" "$l1/tri/t2"
	ln "$l1/tri/t1" "$l1/t3"
}

# gen_layers BASE [hardlinks]: BASE/lower1 (top), BASE/lower2, empty
# BASE/upper, BASE/work, BASE/mnt.  Only the on-disk forms kernel overlayfs
# knows: char 0/0 whiteouts and trusted.overlay.opaque.  With "hardlinks",
# also the lower hard-link fixtures of the hl_* scenarios (the others run
# without them, so that their results do not change with them).
gen_layers() {
	local b="$1" extra="${2:-}"
	local l1="$b/lower1" l2="$b/lower2"
	mkdir -p "$l1" "$l2" "$b/upper" "$b/work" "$b/mnt"

	# lower2 (bottom)
	mkdir -p "$l2/d/sub" "$l2/od" "$l2/whd" "$l2/deep/a/b/c" "$l2/emptyd" \
		"$l2/rd/sub" "$l2/md" "$l2/rd2"
	echo "l2 only" >"$l2/f_lower2"
	echo "both: lower2" >"$l2/f_both"
	echo "whited out" >"$l2/wh_target"
	echo x >"$l2/whd/x"
	echo a >"$l2/d/a"
	echo b >"$l2/d/b"
	echo deep >"$l2/d/sub/deep"
	echo hidden >"$l2/od/hidden"
	echo leaf >"$l2/deep/a/b/c/leaf"
	echo hardlinked >"$l2/hl1"
	ln "$l2/hl1" "$l2/hl2"
	truncate -s 4M "$l2/sparse"
	printf 'start' | dd of="$l2/sparse" conv=notrunc status=none
	printf 'middle' | dd of="$l2/sparse" bs=1M seek=2 conv=notrunc status=none
	echo suid >"$l2/suid"
	chmod 4755 "$l2/suid"
	echo sgid >"$l2/sgid"
	chmod 2775 "$l2/sgid"
	echo owned >"$l2/owned"
	chown 1000:1000 "$l2/owned"
	chmod 0640 "$l2/owned"
	echo xf >"$l2/xf"
	setfattr -n user.a -v 1 "$l2/xf"
	setfattr -n user.b -v 2 "$l2/xf"
	ln -s f_lower2 "$l2/sym"
	mkfifo "$l2/fifo2"
	echo rx >"$l2/rd/x"
	echo ry >"$l2/rd/sub/y"
	echo m2 >"$l2/md/m2"
	echo r2 >"$l2/rd2/r2"
	echo noperm >"$l2/noperm"
	chmod 0000 "$l2/noperm"
	chown 1000:1000 "$l2/d/sub"
	chmod 0750 "$l2/d/sub"

	# lower1 (top)
	mkdir -p "$l1/d" "$l1/od" "$l1/md" "$l1/l1dir/inner"
	echo "l1 only" >"$l1/f_lower1"
	echo "both: lower1" >"$l1/f_both"
	mknod "$l1/wh_target" c 0 0
	mknod "$l1/whd" c 0 0
	echo c >"$l1/d/c"
	setfattr -n trusted.overlay.opaque -v y "$l1/od"
	echo visible >"$l1/od/visible"
	echo m1 >"$l1/md/m1"
	echo in >"$l1/l1dir/inner/in"
	ln -s d "$l1/dsym"
	printf '#!/bin/sh\necho exe\n' >"$l1/exe"
	chmod 0755 "$l1/exe"
	echo cap >"$l1/capf"
	if command -v setcap >/dev/null; then
		setcap cap_net_raw+ep "$l1/capf"
	fi
	echo xf1 >"$l1/xf1"
	setfattr -n user.x -v lower1 "$l1/xf1"
	setfattr -n user.dirattr -v yes "$l1/d"

	[ "$extra" = hardlinks ] && gen_hardlink_fixtures "$l1" "$l2"

	# fixed times, so that tracked mtimes of untouched entries compare equal
	find "$l1" "$l2" -exec touch -h -d '2000-01-01 00:00:00' {} +
}

# copy_layers TEMPLATE BASE 1fs|2fs: BASE gets the layers of TEMPLATE (made
# by gen_layers; cp -a keeps hard links, xattrs, owners, modes and times, and
# is much cheaper than gen_layers).  With 2fs, BASE/lower1 and BASE/lower2
# are each a tmpfs of its own (undone by unmount_lowers); upper and work stay
# on the filesystem of BASE.  The copy runs on one CPU: tmpfs hands out inode
# numbers in per-CPU batches, so this keeps them the same from run to run.
copy_layers() {
	local t="$1" b="$2" fs="$3" l cpu
	mkdir -p "$b/lower1" "$b/lower2" "$b/upper" "$b/work" "$b/mnt"
	cpu="$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)"
	for l in lower1 lower2; do
		if [ "$fs" = 2fs ]; then
			mount -t tmpfs -o mode=0755,size=64m "$l" "$b/$l" || return 1
		fi
		taskset -c "${cpu:-0}" cp -a "$t/$l/." "$b/$l/" || return 1
	done
}

# unmount_lowers BASE: undoes the tmpfs mounts of copy_layers BASE 2fs.
unmount_lowers() {
	local l
	for l in "$1/lower1" "$1/lower2"; do
		if mountpoint -q "$l"; then
			umount "$l" 2>/dev/null || umount -l "$l"
		fi
	done
}

# manifest DIR KIND [MTIME_LIST]: normalised listing of DIR.
#   KIND merged: as seen through a mount
#   KIND upper:  whiteouts (char 0/0 or .wh.NAME) shown as "whiteout", any
#                opaque marker (xattr or .wh..wh..opq) as "opaque", other
#                internal xattrs dropped but overlay.protattr
# Shown xattrs: user.*, security.capability, POSIX ACLs, overlay.protattr.
# Lines starting with "N " give directory link counts (compared apart).
# MTIME_LIST names paths (relative) whose mtime is compared.
# KIND merged also gets identity classes: one line "same-file: P1 P2 ..."
# (sorted paths) per group of two or more non-directories with the same
# (st_dev, st_ino), i.e. the names that are one file; the numbers themselves
# are not shown.
manifest() {
	local dir="$1" kind="$2" mtimes="${3:-/dev/null}"
	(
		cd "$dir" || exit 1
		find . -mindepth 1 -printf 'E\t%P\t%y\t%m\t%U:%G\t%s\t%n\t%l\t%T@\t%D:%i\n'
		find . -mindepth 1 -type c -printf '%P\0' | xargs -0 -r stat -c 'R	%n	%t:%T'
		find . -mindepth 1 -type f -printf '%P\0' | xargs -0 -r md5sum 2>/dev/null |
			sed -E 's/^([0-9a-f]+)  (.*)$/H\t\2\t\1/'
		getfattr -R -P -d -m - -e hex --absolute-names . 2>/dev/null |
			awk '/^# file: / { f = substr($0, 11); next } NF { print "X\t" f "\t" $0 }'
		sed 's/^/M\t/' "$mtimes"
	) | awk -F'\t' -v kind="$kind" '
	function base(p) { sub(/.*\//, "", p); return p }
	function dirn(p) { if (p !~ /\//) return "."; sub(/\/[^\/]*$/, "", p); return p }
	$1 == "E" { n++; path[n] = $2; type[$2] = $3; mode[$2] = $4; own[$2] = $5;
		size[$2] = $6; nl[$2] = $7; tgt[$2] = $8; mt[$2] = $9
		if (kind == "merged" && $3 != "d") { ids[$10] = ids[$10] "\n" $2; idn[$10]++ }
		next }
	$1 == "R" { rdev[$2] = $3; next }
	$1 == "H" { hash[$2] = $3; next }
	$1 == "M" { want_mt[$2] = 1; next }
	$1 == "X" {
		p = $2; split($3, kv, "="); name = kv[1]; val = substr($3, length(name) + 2)
		if (name == "trusted.overlay.opaque" || name == "user.overlay.opaque" ||
		    name == "user.fuseoverlayfs.opaque") {
			if (val == "0x79") opaque[p] = 1
			next
		}
		if (name ~ /^user\.(overlay|fuseoverlayfs|containers)\./ && name != "user.overlay.protattr")
			next
		if (name ~ /^user\./ || name == "security.capability" || name ~ /^system\.posix_acl_/ ||
		    name == "trusted.overlay.protattr") {
			xa[p] = xa[p] (xa[p] == "" ? "" : ";") name "=" val
		}
		next
	}
	END {
		for (i = 1; i <= n; i++) {
			p = path[i]; b = base(p)
			if (kind == "upper") {
				if (b == ".wh..wh..opq") { opaque[dirn(p)] = 1; continue }
				if (type[p] == "c" && rdev[p] == "0:0") { out[p] = p " whiteout"; continue }
				if (substr(b, 1, 4) == ".wh.") {
					q = dirn(p) "/" substr(b, 5); sub(/^\.\//, "", q)
					out[q] = q " whiteout"; continue
				}
			}
		}
		for (i = 1; i <= n; i++) {
			p = path[i]; b = base(p); t = type[p]
			if (kind == "upper" && (b == ".wh..wh..opq" || (t == "c" && rdev[p] == "0:0") || substr(b, 1, 4) == ".wh."))
				continue
			if (t == "d") {
				line = p " d " mode[p] " " own[p] (opaque[p] ? " opaque" : "")
				print "N " p " " nl[p]
			} else if (t == "f") {
				line = p " f " mode[p] " " own[p] " size=" size[p] " nlink=" nl[p] " " hash[p]
			} else if (t == "l") {
				line = p " l " own[p] " -> " tgt[p]
			} else if (t == "c" || t == "b") {
				line = p " " t " " mode[p] " " own[p] " rdev=" rdev[p] " nlink=" nl[p]
			} else {
				line = p " " t " " mode[p] " " own[p] " nlink=" nl[p]
			}
			if (xa[p] != "") line = line " xattrs{" xa[p] "}"
			if (want_mt[p]) { split(mt[p], s, "."); line = line " mtime=" s[1] }
			out[p] = line
		}
		for (p in out) print out[p]
		for (k in idn) {
			if (idn[k] < 2) continue
			m = split(substr(ids[k], 2), mem, "\n")
			for (i = 2; i <= m; i++) {	# insertion sort: a few names
				v = mem[i]
				for (j = i - 1; j >= 1 && mem[j] > v; j--) mem[j + 1] = mem[j]
				mem[j + 1] = v
			}
			line = "same-file:"
			for (i = 1; i <= m; i++) line = line " " mem[i]
			print line
		}
	}' | LC_ALL=C sort
}

# lowers_manifest BASE: the manifests of BASE/lower1 and BASE/lower2.
lowers_manifest() {
	echo "== lower1"
	manifest "$1/lower1" upper /dev/null | grep -v '^N '
	echo "== lower2"
	manifest "$1/lower2" upper /dev/null | grep -v '^N '
}

# lowers_stamp BASE: every inode of BASE/lower1 and BASE/lower2 with its
# number, mode, owner, size, links, mtime and ctime.  Any change to a lower
# layer (data, metadata, xattrs, entries) moves a ctime, so an unchanged stamp
# means unchanged lowers, and their manifests are those of the template.
lowers_stamp() {
	(cd "$1" && find lower1 lower2 -printf '%p %y %i %m %U:%G %s %n %T@ %C@\n') | LC_ALL=C sort
}

# The operations log: `op CMD ARGS...` runs a command of a scenario and
# records its exit status and output (mount path replaced by MNT).
OPS_LOG=/dev/null
OPS_MNT=/nonexistent
op() {
	local out rc cmd="$*"
	out="$("$@" 2>&1)"
	rc=$?
	out="${out//$OPS_MNT/MNT}"
	out="${out//${OPS_MNT#/}/MNT}"
	cmd="${cmd//$OPS_MNT/MNT}"
	printf '%s -> rc=%d %s\n' "$cmd" "$rc" "$out" >>"$OPS_LOG"
	return 0
}

# track_mtime MNT/PATH: the mtime of PATH is part of the manifests.
MTIME_LIST=/dev/null
track_mtime() {
	local p="$1"
	p="${p#"$OPS_MNT"/}"
	echo "$p" >>"$MTIME_LIST"
}
