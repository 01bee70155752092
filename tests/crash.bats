#!/usr/bin/env bats
# Crash and error injection: one operation per test, the daemon killed
# (strace -e inject=SYSCALL:signal=KILL:when=N) at each system call that can
# change the disk, then mounted again: the merged tree must be the one
# before or the one after the operation, WORKDIR/work empty, and kernel
# overlayfs must read the upper the same.  Then the same with error=EIO at
# every call and error=ENOSPC at every call that allocates: the operation
# fails (tree as before) or succeeds (tree as after), and the upper still
# reads the same on kernel overlayfs.  Every test first checks the operation
# itself against kernel overlayfs doing it on the same layers.  The engine,
# the fixture (crash_layers: D/a D/b, f, g, h, sp, dir/{x,y}, ldir/sub/deep,
# ed/, gone (whited out in lower1), odir/ (opaque), sym, fifo, k) and the
# knobs (CRASH_MODES, CRASH_VERBOSE, CRASH_KEEP...) are in tests/crash/lib.bash.
# Each test prints "# NAME: OP ...; kill V/P [syscall:count...]; eio ...":
# V crash points visited of the P the reference run made.

load helpers
load crash/lib

setup() {
	ovl_setup
	crash_setup
	crash_layers
}

teardown() {
	crash_teardown
	ovl_teardown
}

# The end of a copy-up (the copy renamed into place): scenarios that copy up
# what a copyup_* test covers in full visit only the points after it.
COPIED_UP='^renameat2\(.*RENAME_NOREPLACE\)'

# ---------------------------------------------------------------- create

@test "create a file in a merged directory (copy-up of the parent)" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario create_merged '' '"$OVLTOOL" openflags dir/new wronly creat excl'
}

@test "create a file over a whiteout" {
	crash_scenario create_over_whiteout 'rm f' '"$OVLTOOL" openflags f wronly creat excl'
}

@test "create a file where a lower layer has a whiteout" {
	crash_scenario create_over_lower_whiteout '' '"$OVLTOOL" openflags gone wronly creat excl'
}

@test "create a file deep in a lower-only tree (after the copy-up of two directories)" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario create_deep '' '"$OVLTOOL" openflags ldir/sub/new wronly creat excl'
}

@test "O_TMPFILE linked over a whiteout" {
	crash_scenario tmpfile_link 'rm g' '"$OVLTOOL" tmpfile . g'
}

# ---------------------------------------------------------------- mkdir, mknod, symlink

@test "mkdir in a merged directory" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario mkdir_merged '' 'mkdir dir/nd'
}

@test "mkdir over the whiteout of a directory (opaque directory swapped in)" {
	crash_scenario mkdir_over_whiteout 'rmdir ed' 'mkdir ed'
}

@test "mkdir over the whiteout of a merged directory" {
	crash_scenario mkdir_over_merged_whiteout 'rm D/a D/b; rmdir D' 'mkdir -m 0750 D'
}

@test "mkdir over a whiteout under a default ACL (built in a staging directory)" {
	crash_scenario mkdir_acl_over_whiteout 'setfacl -d -m u::rwx,g::rwx,o::- . && rmdir ed' 'mkdir ed'
}

@test "create a file over a whiteout under a default ACL (built in a staging directory)" {
	crash_scenario create_acl_over_whiteout 'setfacl -d -m u::rwx,g::rwx,o::- . && rm f' \
		'"$OVLTOOL" openflags f wronly creat excl'
}

@test "mkdir where a lower layer has a whiteout" {
	crash_scenario mkdir_over_lower_whiteout '' 'mkdir gone'
}

@test "mknod: a fifo in a merged directory" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario mknod_fifo '' 'mknod dir/p p'
}

@test "mknod: a character device over a whiteout" {
	crash_scenario mknod_over_whiteout 'rm g' 'mknod g c 1 3'
}

@test "symlink in a merged directory" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario symlink_merged '' 'ln -s ../f dir/s'
}

@test "symlink over a whiteout" {
	crash_scenario symlink_over_whiteout 'rm g' 'ln -s f g'
}

# ---------------------------------------------------------------- link

@test "link a lower file into a merged directory (copy-up of both)" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario link_lower '' 'ln f dir/hl'
}

@test "link an upper file over a whiteout" {
	crash_scenario link_over_whiteout 'rm g; echo new > n' 'ln n g'
}

# ---------------------------------------------------------------- unlink, rmdir

@test "unlink a lower file (whiteout)" {
	crash_scenario unlink_lower '' 'rm f'
}

@test "unlink a copied-up file (whiteout swapped in)" {
	crash_scenario unlink_copied_up 'chmod 0600 f' 'rm f'
}

@test "unlink an upper-only file" {
	crash_scenario unlink_upper 'echo new > dir/n' 'rm dir/n'
}

@test "unlink one of two names of a copied-up file" {
	crash_scenario unlink_hardlink 'ln f f2' 'rm f'
}

@test "rmdir a lower directory (whiteout)" {
	crash_scenario rmdir_lower '' 'rmdir ed'
}

@test "rmdir a merged directory holding whiteouts" {
	crash_scenario rmdir_merged 'rm D/a D/b' 'rmdir D'
}

@test "rmdir an upper-only directory" {
	crash_scenario rmdir_upper 'mkdir nd' 'rmdir nd'
}

@test "rmdir an opaque directory emptied of its visible entries" {
	crash_scenario rmdir_opaque 'rm odir/vis' 'rmdir odir'
}

# ---------------------------------------------------------------- rename

@test "rename a lower file to a new name in a merged directory" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario rename_lower_file '' '"$OVLTOOL" rename2 none f dir/f2'
}

@test "rename a lower file over another lower file" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario rename_over_lower_file '' '"$OVLTOOL" rename2 none f g'
}

@test "rename a lower file over a whiteout" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario rename_over_whiteout 'rm g' '"$OVLTOOL" rename2 none f g'
}

@test "rename an upper file over a copied-up file" {
	crash_scenario rename_upper_over_copied 'echo new > n; chmod 0600 g' '"$OVLTOOL" rename2 none n g'
}

@test "rename a new directory over a merged one emptied by whiteouts (the issue's reproducer)" {
	crash_scenario dir_over_merged 'rm D/a D/b; mkdir S; echo new > S/new' '"$OVLTOOL" rename2 none S D'
}

@test "rename a directory over the whiteout of a directory" {
	crash_scenario dir_over_whiteout 'rmdir ed; mkdir S; echo s > S/s' '"$OVLTOOL" rename2 none S ed'
}

@test "rename a directory where a lower layer has a whiteout" {
	crash_scenario dir_over_lower_whiteout 'mkdir S; echo s > S/s' '"$OVLTOOL" rename2 none S gone'
}

@test "rename a directory into a merged directory (opaque marker)" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario dir_into_merged 'mkdir S; echo s > S/s' '"$OVLTOOL" rename2 none S dir/S'
}

@test "rename an upper directory over an empty upper directory" {
	crash_scenario dir_over_upper_dir 'mkdir A B; echo a > A/a' '"$OVLTOOL" rename2 none A B'
}

@test "RENAME_EXCHANGE of two lower files" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario exchange_lower_files '' '"$OVLTOOL" rename2 exchange f g'
}

@test "RENAME_EXCHANGE of a directory with a directory in a merged directory" {
	crash_scenario exchange_dirs 'mkdir S dir/T; echo s > S/s' '"$OVLTOOL" rename2 exchange S dir/T'
}

@test "RENAME_EXCHANGE of a directory and a lower file" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario exchange_dir_file 'mkdir S; echo s > S/s' '"$OVLTOOL" rename2 exchange S h'
}

@test "RENAME_NOREPLACE of a lower file to a new name" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario noreplace_new '' '"$OVLTOOL" rename2 noreplace f n'
}

@test "RENAME_NOREPLACE of a lower file over a whiteout" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario noreplace_over_whiteout 'rm g' '"$OVLTOOL" rename2 noreplace f g'
}

# ---------------------------------------------------------------- copy-up

@test "copy-up of data: open a lower file for writing" {
	CRASH_SAME_VIEW=1
	CRASH_AFTER=$COPIED_UP
	crash_scenario copyup_open '' '"$OVLTOOL" openflags f wronly'
}

@test "copy-up of data: a sparse file, through truncate" {
	crash_scenario copyup_truncate '' 'truncate -s 2M sp'
}

@test "copy-up of metadata: chmod" {
	crash_scenario copyup_chmod '' 'chmod 0604 f'
}

@test "copy-up of metadata: chown" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario copyup_chown '' 'chown 42:43 f'
}

@test "copy-up of metadata: setxattr" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario copyup_setxattr '' 'setfattr -n user.new -v v f'
}

@test "copy-up of metadata: utimes" {
	CRASH_AFTER=$COPIED_UP
	crash_scenario copyup_utimes '' 'touch -h -d "2005-06-07 08:09:10" f'
}

@test "copy-up of metadata: chmod of a directory in a lower-only tree" {
	crash_scenario copyup_chmod_dir '' 'chmod 0700 ldir/sub'
}

@test "copy-up of metadata: chown of a symlink" {
	crash_scenario copyup_chown_symlink '' 'chown -h 7:8 sym'
}

@test "copy-up of metadata: chmod of a fifo" {
	crash_scenario copyup_chmod_fifo '' 'chmod 0600 fifo'
}
