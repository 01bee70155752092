#!/usr/bin/env bats
# Lower files passed through (-o passthrough=all, the default): readers of
# image files never reach the daemon, and a copy-up while readers hold the
# lower file (its FUSE inode then has the lower file as its backing) never
# fails an open and never writes the lower layer.  The object gets a new
# FUSE node id, and the open that needed the upper file is repeated there
# by the kernel (ESTALE, then a lookup).  Opens made before the copy-up keep
# reading the lower file (kernel overlayfs would move them to the upper
# copy: the man page says so).
#
# Every test names passthrough=all (overriding tests/run.sh's
# passthrough=off pass) and mounts with -o debug; teardown checks that the
# lower layers are byte-identical.  A test skips (saying why) only when the
# kernel or the build lacks passthrough.

load helpers
load helpers/passthrough

# the fds a failed test left open would keep the mount busy
teardown() {
	exec 7<&- 8<&- 9<&-
	ovl_teardown
}

# appender FILE LINE: appends LINE to FILE from another process
appender() {
	sh -c 'printf "%s\n" "$2" >>"$1"' sh "$1" "$2"
}

@test "a reader holds a lower file while another process writes it: every open succeeds, later opens see the upper file" {
	make_layers
	ovl_mount debug passthrough=all
	pt_require
	log_mark
	local ino1 ino2 st
	exec 8<"$MNT/file1"
	ino1="$(last_open_ino)"
	assert_eq passthrough "$(open_result "$ino1")" "the reader's open"
	assert_eq "lower1 file" "$(ovltool pread 8 0 100)"

	# a writer: copy-up under the reader's lower backing, new node id
	exec 9>>"$MNT/file1"
	ino2="$(last_open_ino)"
	assert_ne "$ino1" "$ino2"
	assert_eq passthrough "$(open_result "$ino2")" "the writer's open"
	[ "$(count_log "open ino=$ino1 flags=[0-7]+ -> Stale file handle")" = 1 ]
	echo w1 >&9
	appender "$MNT/file1" w2
	# the reader's open stays on the lower file; new opens see the upper
	assert_eq "lower1 file" "$(ovltool pread 8 0 100)" "the held reader"
	assert_eq "lower1 file
w1
w2" "$(cat "$MNT/file1")"
	exec 7<"$MNT/file1"
	assert_eq passthrough "$(open_result "$ino2")" "a new reader"
	echo w3 >&9
	assert_eq "lower1 file
w1
w2
w3" "$(ovltool pread 7 0 100)" "a new reader sees the writer's later writes"
	assert_eq "lower1 file
w1
w2
w3" "$(cat "$UPPER/file1")"

	exec 7<&- 8<&- 9<&-
	wait_released "$ino1"
	wait_released "$ino2"
	assert_eq "lower1 file
w1
w2
w3" "$(cat "$MNT/file1")"
	assert_eq passthrough "$(open_result "$ino2")" "a reopen"
	assert_no_io
	st="$(ovl_stats)"
	assert_eq 1 "$(stat_num "$st" "node ids renewed")" "$st"
	assert_eq 0 "$(stat_num "$st" "through the daemon")" "$st"
	assert_eq 1 "$(stat_num "$st" copy-ups)" "$st"
}

@test "every kind of copy-up while a reader holds the lower file: truncate, O_TRUNC, chmod, xattr, utimes, rename, link" {
	make_layers
	ovl_mount debug passthrough=all
	pt_require
	log_mark
	local -a held=(file1 file2 shadow dir/a dir/b dir/c owned)
	(cd "$MNT" && ovltool holdread "$TMP/go" "${held[@]}") >"$TMP/held.out" &
	local holder=$!
	ovl_wait_until "the reader's opens" grep -q opened "$TMP/held.out"
	truncate -s 3 "$MNT/file1"
	sh -c ': >"$1"' sh "$MNT/file2"
	chmod 0600 "$MNT/shadow"
	setfattr -n user.k -v v "$MNT/dir/a"
	touch -d '2010-01-01 00:00:00' "$MNT/dir/b"
	mv "$MNT/dir/c" "$MNT/dir/c2"
	ln "$MNT/owned" "$MNT/owned2"
	# new opens see the upper objects, and can write them
	assert_eq low "$(cat "$MNT/file1")"
	assert_eq "" "$(cat "$MNT/file2")"
	assert_eq "from lower1" "$(cat "$MNT/shadow")"
	assert_eq 600 "$(stat -c %a "$MNT/shadow")"
	assert_eq a "$(cat "$MNT/dir/a")"
	assert_eq v "$(getfattr --absolute-names --only-values -n user.k "$MNT/dir/a")"
	assert_eq b "$(cat "$MNT/dir/b")"
	assert_eq c "$(cat "$MNT/dir/c2")"
	assert_eq owned "$(cat "$MNT/owned2")"
	local f
	for f in file1 file2 shadow dir/a dir/b dir/c2 owned2; do
		appender "$MNT/$f" more
	done
	assert_eq lowmore "$(cat "$MNT/file1")"
	assert_eq more "$(cat "$MNT/file2")"
	assert_eq "owned
more" "$(cat "$MNT/owned")" "the other name of the link"
	assert_eq "c
more" "$(cat "$UPPER/dir/c2")"
	# the held opens still read the lower files
	touch "$TMP/go"
	wait "$holder"
	assert_eq "opened
lower1 file
lower2 file
from lower1
a
b
c
owned" "$(cat "$TMP/held.out")"
	assert_no_io
	local st
	st="$(ovl_stats)"
	assert_eq 0 "$(stat_num "$st" "through the daemon")" "$st"
	[ "$(stat_num "$st" "node ids renewed")" -ge 7 ] || { echo "# $st" >&2; return 1; }
}

@test "MAP_SHARED and MAP_PRIVATE mappings of a lower file across its copy-up" {
	make_layers
	ovl_mount debug passthrough=all
	pt_require
	ovltool mmaphold "$MNT/file1" 11 shared "$TMP/go" >"$TMP/shared.out" &
	local shared=$!
	ovltool mmaphold "$MNT/file2" 11 private "$TMP/go" >"$TMP/private.out" &
	local private=$!
	ovl_wait_until "the shared mapping" grep -q before "$TMP/shared.out"
	ovl_wait_until "the private mapping" grep -q before "$TMP/private.out"
	printf XY | dd of="$MNT/file1" conv=notrunc status=none
	printf XY | dd of="$MNT/file2" conv=notrunc status=none
	touch "$TMP/go"
	wait "$shared"
	wait "$private"
	# as on kernel overlayfs, a mapping made before the copy-up keeps the lower file
	assert_eq "before: lower1 file
after: lower1 file" "$(cat "$TMP/shared.out")"
	assert_eq "before: lower2 file
after: lower2 file
private: Power2 file" "$(cat "$TMP/private.out")"
	assert_eq "XYwer1 file" "$(cat "$MNT/file1")"
	assert_eq "XYwer2 file" "$(cat "$MNT/file2")"
	# a mapping made now maps the upper file
	ovltool mmaphold "$MNT/file1" 11 shared "$TMP/go" >"$TMP/shared2.out"
	assert_eq "before: XYwer1 file
after: XYwer1 file" "$(cat "$TMP/shared2.out")"
	assert_eq 0 "$(stat_num "$(ovl_stats)" "through the daemon")"
}

@test "a lower binary runs while it is copied up; the copy runs too; writing it waits for the first to exit" {
	make_layers
	cp "$(command -v sleep)" "$LOWER1/mysleep"
	ovl_snapshot_lowers
	ovl_mount debug passthrough=all
	pt_require
	"$MNT/mysleep" 60 &
	local first=$!
	ovl_wait_until "the exec of mysleep" exe_is "$first" "$MNT/mysleep"
	chmod 0700 "$MNT/mysleep"   # a copy-up
	[ -f "$UPPER/mysleep" ]
	"$MNT/mysleep" 60 &
	local second=$!
	ovl_wait_until "the exec of the copy" exe_is "$second" "$MNT/mysleep"
	# the running programs deny writes, as on any filesystem
	assert_errno ETXTBSY ovltool openflags "$MNT/mysleep" wronly
	kill "$first" "$second"
	wait "$first" || true
	wait "$second" || true
	sh -c 'printf "#!/bin/sh\necho replaced\n" >"$1"' sh "$MNT/mysleep"
	assert_eq replaced "$("$MNT/mysleep")"
	assert_eq 0 "$(stat_num "$(ovl_stats)" "through the daemon")"
}

@test "reading 256 MiB of lower files (read, O_DIRECT, sendfile) sends no READ to the daemon" {
	make_layers
	dd if=/dev/urandom of="$LOWER2/big" bs=1M count=192 status=none
	dd if=/dev/urandom of="$LOWER1/big2" bs=1M count=64 status=none
	ovl_snapshot_lowers
	ovl_mount debug passthrough=all
	pt_require
	log_mark
	assert_eq "$(sum "$LOWER2/big")" "$(sum "$MNT/big")"
	assert_eq "$(sum "$LOWER1/big2")" "$(dd if="$MNT/big2" bs=128k iflag=direct status=none | sha256sum | cut -d' ' -f1)" "O_DIRECT"
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	ovltool sendfile "$MNT/big2" "$TMP/spliced"
	assert_eq "$(sum "$LOWER1/big2")" "$(sum "$TMP/spliced")" "sendfile"
	assert_no_io
	# copy_file_range is not passed through by the kernel: the daemon copies
	ovltool cfr "$MNT/big2" "$MNT/copied"
	assert_eq "$(sum "$LOWER1/big2")" "$(sum "$UPPER/copied")" "copy_file_range"
	local st
	st="$(ovl_stats)"
	assert_eq 0 "$(stat_num "$st" "through the daemon")" "$st"
	[ ! -e "$UPPER/big" ]
}

# page_cache_kib: Cached from /proc/meminfo
page_cache_kib() {
	awk '$1 == "Cached:" { print $2 }' /proc/meminfo
}

# cache_growth_mib POLICY: reads the 256 MiB lower file "big" once through
# each of two mounts of the same lower layers and prints how much the page
# cache grew (MiB), the file evicted first.
cache_growth_mib() {
	local before after
	mkdir -p "$TMP/upper2" "$TMP/work2" "$TMP/mnt2"
	ovl_mount debug "passthrough=$1"
	ovl_start -o "lowerdir=$LOWERDIRS,upperdir=$TMP/upper2,workdir=$TMP/work2,debug,passthrough=$1" "$TMP/mnt2"
	dd if="$LOWER2/big" iflag=nocache count=0 status=none
	sync
	before="$(page_cache_kib)"
	cat "$MNT/big" >/dev/null
	cat "$TMP/mnt2/big" >/dev/null
	after="$(page_cache_kib)"
	ovl_umount "$TMP/mnt2"
	ovl_umount "$MNT"
	echo $(((after - before) / 1024))
}

@test "two mounts reading one lower file share one copy in the page cache" {
	make_layers
	dd if=/dev/urandom of="$LOWER2/big" bs=1M count=256 status=none
	ovl_snapshot_lowers
	ovl_mount debug passthrough=all
	pt_require
	ovl_umount "$MNT"
	local shared daemon
	shared="$(cache_growth_mib all)"
	daemon="$(cache_growth_mib upper)"
	echo "# page cache growth for 256 MiB read through 2 mounts: passthrough=all $shared MiB, passthrough=upper $daemon MiB" >&3
	# one copy (the lower file's), with room for unrelated activity
	[ "$shared" -lt 384 ] || { echo "# passthrough=all: $shared MiB" >&2; return 1; }
	# the measure sees the copies the daemon's way makes (lower + one per mount)
	[ "$daemon" -gt 640 ] || { echo "# passthrough=upper: $daemon MiB" >&2; return 1; }
}

@test "with uid mapping: lower files passed through and copied up under a reader" {
	make_layers
	# disk 1000..1009 <-> presented 0..9 ; disk 5000..5999 <-> presented 100..1099
	ovl_mount debug passthrough=all uidmapping=1000:0:10:1200:100:100 gidmapping=5000:100:1000
	pt_require
	log_mark
	assert_eq "134:778" "$(stat -c %u:%g "$MNT/owned")"
	exec 8<"$MNT/owned"
	assert_eq passthrough "$(open_result "$(last_open_ino)")"
	echo more >>"$MNT/owned"
	assert_eq owned "$(ovltool pread 8 0 100)"
	assert_eq "owned
more" "$(cat "$MNT/owned")"
	assert_eq "134:778" "$(stat -c %u:%g "$MNT/owned")"
	assert_eq "1234:5678" "$(stat -c %u:%g "$UPPER/owned")"
	exec 8<&-
	assert_no_io
}

@test "many readers while files held open are copied up: no open fails, no read reaches the daemon" {
	make_layers
	local i
	local -a files=()
	for i in $(seq 1 40); do
		echo "lower $i" >"$LOWER2/f$i"
		files+=("f$i")
	done
	ovl_snapshot_lowers
	ovl_mount debug passthrough=all
	pt_require
	log_mark
	# every file is copied up under a held lower open
	(cd "$MNT" && ovltool holdread "$TMP/go" "${files[@]}") >"$TMP/held.out" &
	local holder=$!
	ovl_wait_until "the held opens" grep -q opened "$TMP/held.out"
	local -a readers=()
	for i in 1 2 3 4; do
		# shellcheck disable=SC2016 # $1 of the inner shell
		sh -c 'for r in 1 2 3 4 5 6 7 8 9 10; do for f in "$1"/f*; do cat "$f" >/dev/null || echo "FAIL $f"; done; done' sh "$MNT" >"$TMP/reader$i" 2>&1 &
		readers+=($!)
	done
	for i in $(seq 1 40); do
		appender "$MNT/f$i" "upper $i"
	done
	for i in "${readers[@]}"; do
		wait "$i"
	done
	touch "$TMP/go"
	wait "$holder"
	cat "$TMP"/reader* >"$TMP/readers"
	assert_eq "" "$(cat "$TMP/readers")" "failed reads"
	assert_eq 41 "$(wc -l <"$TMP/held.out")"
	assert_eq 40 "$(grep -c '^lower [0-9]*$' "$TMP/held.out")" "the held opens read the lower files"
	for i in $(seq 1 40); do
		assert_eq "lower $i
upper $i" "$(cat "$MNT/f$i")"
	done
	assert_no_io
	local st
	st="$(ovl_stats)"
	assert_eq 0 "$(stat_num "$st" "through the daemon")" "$st"
	assert_eq 40 "$(stat_num "$st" "node ids renewed")" "$st"
}
