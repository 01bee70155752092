# shellcheck shell=bash
# Scenarios of the differential test.  Each scn_NAME gets the merged mount
# directory as $1 and works only through it; every command goes through `op`
# so that its exit status and messages are compared too (nothing may go to
# stderr).  Layers: see gen_layers in lib.sh; scenarios named hl_* get the
# hard-link fixtures too.  $OVLTOOL is the syscall helper; `remount`
# (differential.test) unmounts and mounts the same layers again.

# --- creating ------------------------------------------------------------
scn_create_file() { op sh -c "echo new > '$1/newfile'"; op cat "$1/newfile"; }
scn_create_in_lower_dir() { op sh -c "echo n > '$1/d/newfile'"; op ls "$1/d"; }
scn_create_in_deep_lower_dir() { op sh -c "echo n > '$1/deep/a/b/c/new'"; op ls -R "$1/deep"; }
scn_create_excl_existing() { op "$OVLTOOL" openflags "$1/f_lower2" wronly creat excl; }
scn_create_over_whiteout() { op sh -c "echo back > '$1/wh_target'"; op cat "$1/wh_target"; }
scn_mkdir_over_whiteout() { op mkdir "$1/whd"; op ls -A "$1/whd"; op sh -c "echo z > '$1/whd/z'"; }
scn_mkdir_p_deep_under_lower() { op mkdir -p "$1/deep/a/b/c/d/e/f"; op ls -R "$1/deep"; }
scn_mkdir_existing() { op mkdir "$1/d"; }
scn_mkdir_mode() { op mkdir -m 0701 "$1/m701"; op stat -c %a "$1/m701"; }

# --- writing -------------------------------------------------------------
scn_overwrite_lower() { op sh -c "echo over > '$1/f_lower2'"; op cat "$1/f_lower2"; }
scn_overwrite_shadowed() { op sh -c "echo over > '$1/f_both'"; op cat "$1/f_both"; }
scn_append_lower() { op sh -c "echo more >> '$1/f_lower1'"; op cat "$1/f_lower1"; }
scn_partial_write_lower() { op sh -c "printf XY | dd of='$1/d/a' bs=1 seek=0 conv=notrunc status=none"; op cat "$1/d/a"; }
scn_truncate_lower_shrink() { op truncate -s 2 "$1/f_lower2"; op cat "$1/f_lower2"; }
scn_truncate_lower_grow() { op truncate -s 10000 "$1/f_both"; op stat -c %s "$1/f_both"; }
scn_truncate_zero_via_open() { op sh -c ": > '$1/owned'"; op stat -c '%s %a %u' "$1/owned"; }
scn_write_hardlinked_lower() { op sh -c "echo changed >> '$1/hl1'"; op cat "$1/hl1"; op cat "$1/hl2"; }
scn_sparse_copy_up() { op sh -c "echo tail >> '$1/sparse'"; op stat -c %s "$1/sparse"; }
scn_sparse_punch_like() { op truncate -s 1M "$1/sparse"; op stat -c %s "$1/sparse"; }
scn_write_noperm_as_root() { op sh -c "echo w >> '$1/noperm'"; op cat "$1/noperm"; }
scn_fallocate_new() { op "$OVLTOOL" fallocate "$1/fa" 0 65536; op stat -c %s "$1/fa"; }
scn_fallocate_modes_lower() {
	op "$OVLTOOL" fallocate "$1/sparse" 0 4096 punch
	op "$OVLTOOL" fallocate "$1/f_lower2" 0 2 zero
	op "$OVLTOOL" fallocate "$1/f_both" 0 1048576 keep
	op stat -c %s "$1/sparse" "$1/f_lower2" "$1/f_both"
}
scn_copy_file_range() { op "$OVLTOOL" cfr "$1/f_lower2" "$1/cfr_copy"; op cat "$1/cfr_copy"; }

# --- metadata ------------------------------------------------------------
scn_chmod_lower() { op chmod 0600 "$1/f_lower2"; op stat -c %a "$1/f_lower2"; }
scn_chmod_lower_dir() { op chmod 0700 "$1/d"; op stat -c %a "$1/d"; }
scn_chmod_setuid() { op chmod 0755 "$1/suid"; op chmod u+s "$1/f_lower1"; op stat -c %a "$1/suid" "$1/f_lower1"; }
scn_chmod_setgid_dir() { op chmod 2775 "$1/d"; op mkdir "$1/d/sgdir"; op stat -c %a "$1/d/sgdir"; }
scn_chown_lower() { op chown 1234:5678 "$1/f_lower2"; op stat -c %u:%g "$1/f_lower2"; }
scn_chown_clears_suid() { op chown 0:1000 "$1/suid"; op stat -c %a "$1/suid"; }
scn_chown_symlink_nofollow() { op chown -h 77:88 "$1/sym"; op stat -c %u:%g "$1/sym" "$1/f_lower2"; }
scn_chown_lower_dir_deep() { op chown 42:42 "$1/deep/a/b"; op stat -c %u:%g "$1/deep/a/b" "$1/deep/a"; }
scn_utimes_lower() {
	op touch -d '2003-04-05 06:07:08' "$1/f_lower2"
	track_mtime "$1/f_lower2"
}
scn_utimes_dir() {
	op touch -m -d '2004-01-01 00:00:00' "$1/d"
	track_mtime "$1/d"
}
scn_utimes_symlink() {
	op touch -h -d '2005-01-01 00:00:00' "$1/sym"
	track_mtime "$1/sym"
	track_mtime "$1/f_lower2"
}
scn_xattr_set_lower() { op setfattr -n user.new -v val "$1/f_lower2"; op getfattr -n user.new "$1/f_lower2"; }
scn_xattr_remove_lower() { op setfattr -x user.a "$1/xf"; op getfattr -d "$1/xf"; }
scn_xattr_replace_lower() { op setfattr -n user.b -v changed "$1/xf"; op getfattr -d "$1/xf"; }
scn_xattr_remove_missing() { op setfattr -x user.missing "$1/xf1"; }
scn_xattr_on_lower_dir() { op setfattr -n user.dx -v 1 "$1/deep/a"; op getfattr -d "$1/deep/a"; }
scn_xattr_get_lower1() { op getfattr -d "$1/xf1"; op getfattr -d "$1/d"; }
scn_capability_copy_up() { op setfattr -n user.t -v 1 "$1/capf"; op getcap "$1/capf"; }
scn_capability_cleared_by_write() { op sh -c "echo w >> '$1/capf'"; op getcap "$1/capf"; }

scn_acl_default_inherited() {
	op setfacl -d -m u::rwx,g::rwx,o::- "$1/d"
	op sh -c "umask 022 && mkdir '$1/d/sub2' && echo x > '$1/d/f' && mkfifo '$1/d/p'"
	op rm "$1/d/a"
	op sh -c "umask 022 && echo back > '$1/d/a'"
	op stat -c '%n %a' "$1/d/sub2" "$1/d/f" "$1/d/p" "$1/d/a"
}
scn_chattr_immutable_append() {
	op chattr +i "$1/f_lower2"
	op sh -c "echo x >> '$1/f_lower2'"
	op rm "$1/f_lower2"
	op chattr +a "$1/d"
	op sh -c "echo n > '$1/d/new'"
	op rm "$1/d/b"
	op lsattr -d "$1/f_lower2" "$1/d"
	op chattr -a "$1/d"
}

# --- removing ------------------------------------------------------------
scn_unlink_lower2_file() { op rm "$1/f_lower2"; op ls "$1"; }
scn_unlink_lower1_file() { op rm "$1/f_lower1"; op ls "$1"; }
scn_unlink_shadowed() { op rm "$1/f_both"; op cat "$1/f_both"; }
scn_unlink_upper_file() { op sh -c "echo u > '$1/up'"; op rm "$1/up"; op ls "$1"; }
scn_unlink_copied_up() { op chmod 600 "$1/f_lower2"; op rm "$1/f_lower2"; }
scn_unlink_hardlink_one() { op rm "$1/hl1"; op cat "$1/hl2"; op stat -c %h "$1/hl2"; }
scn_unlink_symlink_lower() { op rm "$1/sym"; op cat "$1/f_lower2"; }
scn_unlink_fifo_lower() { op rm "$1/fifo2"; }
scn_unlink_missing() { op rm "$1/nothing"; op rm "$1/wh_target"; }
scn_rmdir_lower_nonempty() { op rmdir "$1/d"; }
scn_rm_r_lower_dir() { op rm -r "$1/d"; op ls "$1"; }
scn_rm_r_merged_dir() { op rm -r "$1/md"; op ls "$1"; }
scn_rmdir_empty_lower() { op rmdir "$1/emptyd"; op ls "$1"; }
scn_rmdir_recreate() { op rm -r "$1/d"; op mkdir "$1/d"; op ls -A "$1/d"; op sh -c "echo n > '$1/d/n'"; }
scn_rmdir_recreate_merged() { op rm -r "$1/md"; op mkdir "$1/md"; op ls -A "$1/md"; }
scn_rm_opaque_dir() { op rm -r "$1/od"; op mkdir "$1/od"; op ls -A "$1/od"; }
scn_rm_lower_file_in_opaque() { op rm "$1/od/visible"; op ls -A "$1/od"; }
scn_rmdir_upper_only() { op mkdir "$1/tmpd"; op rmdir "$1/tmpd"; op ls "$1"; }

# --- renaming ------------------------------------------------------------
scn_rename_lower_file_new() { op mv "$1/f_lower2" "$1/renamed"; op cat "$1/renamed"; }
scn_rename_lower_over_lower() { op mv "$1/f_lower2" "$1/f_lower1"; op cat "$1/f_lower1"; }
scn_rename_upper_over_lower() { op sh -c "echo u > '$1/up'"; op mv "$1/up" "$1/f_both"; op cat "$1/f_both"; }
scn_rename_over_whiteout() { op mv "$1/f_lower2" "$1/wh_target"; op cat "$1/wh_target"; }
scn_rename_into_lower_dir() { op mv "$1/f_lower1" "$1/d/moved"; op ls "$1/d"; }
scn_rename_out_of_lower_dir() { op mv "$1/d/a" "$1/a_moved"; op ls "$1/d"; }
scn_rename_back_and_forth() { op mv "$1/d/a" "$1/d/z"; op mv "$1/d/z" "$1/d/a"; op cat "$1/d/a"; }
scn_rename_lower_dir_syscall() { op "$OVLTOOL" rename2 none "$1/rd" "$1/rd_new"; op ls "$1"; }
scn_rename_lower_dir_over_dir() { op "$OVLTOOL" rename2 none "$1/rd2" "$1/emptyd"; }
scn_rename_upper_dir() { op mkdir -p "$1/ud/x"; op "$OVLTOOL" rename2 none "$1/ud" "$1/ud2"; op ls -R "$1/ud2"; }
scn_rename_upper_dir_over_empty_lower() { op mkdir -p "$1/ud/x"; op "$OVLTOOL" rename2 none "$1/ud" "$1/emptyd"; op ls -A "$1/emptyd"; }
scn_rename_noreplace() { op "$OVLTOOL" rename2 noreplace "$1/f_lower2" "$1/f_lower1"; op "$OVLTOOL" rename2 noreplace "$1/f_lower2" "$1/nr"; }
scn_rename_noreplace_whiteout() { op "$OVLTOOL" rename2 noreplace "$1/f_lower2" "$1/wh_target"; op cat "$1/wh_target"; }
scn_rename_exchange_files() { op "$OVLTOOL" rename2 exchange "$1/f_lower1" "$1/f_lower2"; op cat "$1/f_lower1" "$1/f_lower2"; }
scn_rename_symlink() { op mv "$1/sym" "$1/sym2"; op readlink "$1/sym2"; }
scn_rename_file_to_itself() { op "$OVLTOOL" rename2 none "$1/f_lower2" "$1/f_lower2"; }
scn_rename_hardlink_pair() { op mv "$1/hl1" "$1/hl2"; op cat "$1/hl2"; }

# --- links and special files --------------------------------------------
scn_symlink_create() { op ln -s d/a "$1/newsym"; op cat "$1/newsym"; op readlink "$1/newsym"; }
scn_symlink_over_whiteout() { op ln -s target "$1/wh_target"; op readlink "$1/wh_target"; }
scn_hardlink_lower_file() { op ln "$1/f_lower2" "$1/f_lower2_link"; op stat -c %h "$1/f_lower2" "$1/f_lower2_link"; }
scn_hardlink_then_write() { op ln "$1/f_lower1" "$1/l1link"; op sh -c "echo w >> '$1/l1link'"; op cat "$1/f_lower1"; }
scn_hardlink_upper() { op sh -c "echo u > '$1/up'"; op ln "$1/up" "$1/up2"; op stat -c %h "$1/up"; }
scn_hardlink_to_existing() { op ln "$1/f_lower1" "$1/f_lower2"; }
scn_mknod_fifo() { op mkfifo "$1/fifo"; op mkfifo "$1/d/fifo"; }
scn_mknod_chardev() { op mknod "$1/null2" c 1 3; op mknod "$1/d/zero2" c 1 5; }
scn_mknod_over_whiteout() { op mkfifo "$1/wh_target"; op stat -c %F "$1/wh_target"; }

# --- reading (merged view only, nothing changes) ------------------------
scn_read_everything() { op cat "$1/f_both" "$1/d/sub/deep" "$1/od/visible" "$1/sym" "$1/dsym/c"; op ls -A "$1/od" "$1/d" "$1/dsym/"; }
scn_read_missing() { op cat "$1/wh_target" "$1/whd/x" "$1/od/hidden"; }
scn_exec_lower() { op "$1/exe"; }
scn_find_tree() { op find "$1" -name '*' -type f -newer "$1/nonexistent"; op sh -c "cd '$1' && find . | sort"; }
scn_seek_data_sparse() { op "$OVLTOOL" seek "$1/sparse" data 0; op "$OVLTOOL" seek "$1/sparse" data $((3 * 1048576 + 1)); }

# --- combinations --------------------------------------------------------
scn_delete_recreate_dir_file() { op rm "$1/f_lower2"; op mkdir "$1/f_lower2"; op ls -A "$1/f_lower2"; }
scn_replace_dir_with_file() { op rm -r "$1/d"; op sh -c "echo f > '$1/d'"; op cat "$1/d"; }
scn_copy_tree_into_lower_dir() { op cp -a "$1/deep" "$1/d/deepcopy"; op ls -R "$1/d/deepcopy"; }
scn_move_tree_with_fallback() { op mv "$1/rd" "$1/d/rd"; op ls -R "$1/d/rd"; }
scn_many_files_in_lower_dir() { op sh -c "for i in \$(seq 1 50); do echo \$i > '$1/d/n'\$i; done"; op sh -c "ls '$1/d' | wc -l"; }
scn_chmod_then_unlink_dir_content() { op chmod 0700 "$1/d/sub"; op rm "$1/d/sub/deep"; op rmdir "$1/d/sub"; op ls "$1/d"; }
scn_whiteout_then_rename_over() { op rm "$1/f_lower1"; op mv "$1/f_lower2" "$1/f_lower1"; op ls "$1"; }

# --- copy-up while the lower file is held open ----------------------------
# (fd 4 holds the lower file; what it reads after the copy-up differs by
# design with passthrough, see the man page: it is not compared)
scn_held_append() {
	op sh -c "exec 4<'$1/f_lower2'; echo more >> '$1/f_lower2' && cat '$1/f_lower2'; cat '$1/f_lower2'"
	op cat "$1/f_lower2"
}
scn_held_otrunc_then_readers() {
	op sh -c "exec 4<'$1/f_lower1'; echo new > '$1/f_lower1' && cat '$1/f_lower1' && exec 5<'$1/f_lower1' && echo again >> '$1/f_lower1' && cat <&5"
	op cat "$1/f_lower1"
}
scn_held_truncate_chmod_xattr() {
	op sh -c "exec 4<'$1/f_both' 5<'$1/d/a' 6<'$1/xf1'; truncate -s 3 '$1/f_both'; chmod 600 '$1/d/a'; setfattr -n user.h -v 1 '$1/xf1'; cat '$1/f_both' '$1/d/a' '$1/xf1'; echo w >> '$1/d/a'; cat '$1/d/a'"
	op stat -c '%n %s %a' "$1/f_both" "$1/d/a" "$1/xf1"
	op getfattr -n user.h "$1/xf1"
}
scn_held_rename_then_write() {
	op sh -c "exec 4<'$1/f_lower2'; mv '$1/f_lower2' '$1/moved' && echo x >> '$1/moved' && cat '$1/moved'"
	op ls "$1"
}
scn_held_link_then_write() {
	op sh -c "exec 4<'$1/f_lower1'; ln '$1/f_lower1' '$1/lnk' && echo x >> '$1/lnk' && cat '$1/f_lower1' '$1/lnk'"
	op stat -c '%n %h' "$1/f_lower1" "$1/lnk"
}
scn_held_mmap_across_copy_up() {
	op sh -c "'$OVLTOOL' mmaphold '$1/f_lower2' 7 shared '$1/go' > '$1/out' & until grep -qs before '$1/out'; do sleep 0.05; done; printf Z | dd of='$1/f_lower2' conv=notrunc status=none; touch '$1/go'; wait; cat '$1/out'"
	op cat "$1/f_lower2"
	op rm "$1/go" "$1/out"
}

# --- hard links ----------------------------------------------------------
# Which names are one file: the merged manifest has a "same-file:" line per
# group of names sharing (st_dev, st_ino), and nlink per file; the scenarios
# below also show content, nlink, mode and owner through every other name.
# Kernel overlayfs runs with index=off: copying up one name of a LOWER hard
# link breaks the link (the other names keep the lower file, whose nlink they
# still report); hard links made through the mount (upper) stay one file.
# Lower fixtures (gen_hardlink_fixtures): lower2 hl1=hl2, hd/p1=hd/p2,
# hd/c1=hx/c2, usrbin/perl=usrbin/perl5, sh1=sh2 (sh2 whited out by lower1),
# d/f2 (AAAA), d/leaf (BBBBBBBB); lower1 h1a=h1b, tri/t1=tri/t2=t3.
# These run in the 2fs pass too (lower1 and lower2 on tmpfs of their own).

# hl_show PATH...: content, then nlink, mode, owner, size of every name
hl_show() {
	op cat "$@"
	op stat -c '%n %h %a %u:%g %s' "$@"
}
# hl_every_op VIA [OTHER...]: through VIA append, truncate, chmod, chown;
# after each, what the other names show
hl_every_op() {
	local via="$1"
	shift
	op sh -c "echo 'via ${via##*/}' >> '$via'"
	[ $# = 0 ] || op cat "$@"
	op truncate -s 5 "$via"
	[ $# = 0 ] || op cat "$@"
	op chmod 0604 "$via"
	op chown 12:34 "$via"
	op stat -c '%n %h %a %u:%g %s' "$via" "$@"
}

# the reproducers, verbatim
scn_hl_repro_unlink_first() {
	op sh -c "echo hello > '$1/a'"
	op ln "$1/a" "$1/b"
	op unlink "$1/a"
	op cat "$1/b"
	op ln "$1/b" "$1/c"
	hl_show "$1/b" "$1/c"
}
scn_hl_repro_rename_over_target() {
	op ln "$1/d/f2" "$1/d/hl"
	op mv "$1/d/leaf" "$1/d/f2"
	op sh -c "printf x >> '$1/d/hl'"
	op cat "$1/d/hl" "$1/d/f2"
	op stat -c '%n %h' "$1/d/hl" "$1/d/f2"
}
scn_hl_repro_rm_then_append_chmod() {
	op ln "$1/d/f2" "$1/d/hl"
	op rm "$1/d/f2"
	op sh -c "echo x >> '$1/d/hl'"
	op chmod 0600 "$1/d/hl"
	hl_show "$1/d/hl"
}
scn_hl_repro_containers_perl() {
	op chown 1:1 "$1/usrbin/perl5"
	op rm "$1/usrbin/perl"
	op ln "$1/usrbin/perl5" "$1/usrbin/perl"
	op rm "$1/usrbin/perl5"
	op ln "$1/usrbin/perl" "$1/usrbin/perl5"
	hl_show "$1/usrbin/perl" "$1/usrbin/perl5"
}

# links of files created through the mount
scn_hl_up_ops_via_second() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	hl_every_op "$1/b" "$1/a"
}
scn_hl_up_ops_via_first() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	hl_every_op "$1/a" "$1/b"
}
scn_hl_up_rm_target_append_chmod() {
	op sh -c "echo up > '$1/f2'"
	op ln "$1/f2" "$1/hl"
	op rm "$1/f2"
	op sh -c "echo x >> '$1/hl'"
	op chmod 0600 "$1/hl"
	op chown 7:8 "$1/hl"
	op truncate -s 2 "$1/hl"
	hl_show "$1/hl"
}
scn_hl_up_unlink_second() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op rm "$1/b"
	hl_show "$1/a"
	op ln "$1/a" "$1/b2"
	hl_every_op "$1/b2" "$1/a"
}
scn_hl_up_triple_unlink_middle() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op ln "$1/b" "$1/d/c"
	op rm "$1/b"
	hl_every_op "$1/d/c" "$1/a"
}
scn_hl_up_rename_first() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op mv "$1/a" "$1/a2"
	hl_every_op "$1/b" "$1/a2"
}
scn_hl_up_rename_second_into_lower_dir() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op mv "$1/b" "$1/d/b"
	hl_every_op "$1/d/b" "$1/a"
}
scn_hl_up_rename_over_sibling() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op mv -T "$1/b" "$1/a"
	op "$OVLTOOL" rename2 none "$1/a" "$1/b"
	op "$OVLTOOL" rename2 noreplace "$1/a" "$1/b"
	op ls "$1/a" "$1/b"
	hl_every_op "$1/a" "$1/b"
}
scn_hl_up_exchange_siblings() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op "$OVLTOOL" rename2 exchange "$1/a" "$1/b"
	hl_every_op "$1/b" "$1/a"
}
scn_hl_up_exchange_with_other() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "echo other > '$1/c'"
	op "$OVLTOOL" rename2 exchange "$1/b" "$1/c"
	hl_show "$1/a" "$1/b" "$1/c"
	hl_every_op "$1/c" "$1/a"
}
scn_hl_up_rename_other_over_first() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "echo other > '$1/c'"
	op mv "$1/c" "$1/a"
	hl_show "$1/a" "$1/b"
	hl_every_op "$1/b" "$1/a"
}
scn_hl_up_rename_other_over_second() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op stat -c '%n %h' "$1/a" "$1/b"
	op sh -c "echo other > '$1/c'"
	op mv "$1/c" "$1/b"
	hl_show "$1/a" "$1/b"
	hl_every_op "$1/a" "$1/b"
}
scn_hl_up_rename_first_over_other() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op mv "$1/a" "$1/f_lower1"
	hl_every_op "$1/b" "$1/f_lower1"
}
scn_hl_up_rename_across_pairs() {
	op sh -c "echo A > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "echo C > '$1/c'"
	op ln "$1/c" "$1/e"
	op mv "$1/e" "$1/a"
	hl_show "$1/a" "$1/b" "$1/c"
	hl_every_op "$1/a" "$1/b" "$1/c"
}
scn_hl_up_name_reused() {
	op sh -c "echo old > '$1/a'"
	op ln "$1/a" "$1/b"
	op rm "$1/a"
	op sh -c "echo new > '$1/a'"
	hl_show "$1/a" "$1/b"
	op ln "$1/b" "$1/c"
	hl_every_op "$1/c" "$1/a" "$1/b"
}
scn_hl_up_relink_removed_name() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op rm "$1/a"
	op ln "$1/b" "$1/a"
	op rm "$1/b"
	op ln "$1/a" "$1/b"
	hl_every_op "$1/a" "$1/b"
}
scn_hl_up_dir_of_first_removed() {
	op mkdir "$1/x"
	op sh -c "echo up > '$1/x/a'"
	op ln "$1/x/a" "$1/y"
	op rm -r "$1/x"
	hl_every_op "$1/y"
	op ln "$1/y" "$1/md/y2"
	hl_show "$1/y" "$1/md/y2"
}
scn_hl_up_link_over_whiteout() {
	op sh -c "echo up > '$1/a'"
	op rm "$1/f_lower2"
	op ln "$1/a" "$1/f_lower2"
	op ln "$1/a" "$1/wh_target"
	hl_every_op "$1/f_lower2" "$1/a" "$1/wh_target"
}
scn_hl_up_symlink_and_fifo() {
	op ln -s f_lower1 "$1/s"
	op ln -P "$1/s" "$1/s2"
	op mkfifo "$1/p"
	op ln "$1/p" "$1/p2"
	op rm "$1/s" "$1/p"
	op stat -c '%n %h %F' "$1/s2" "$1/p2"
	op readlink "$1/s2"
}
scn_hl_up_xattr_utimes_via_other() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op setfattr -n user.k -v v "$1/b"
	op getfattr -n user.k "$1/a"
	op touch -m -d '2001-02-03 04:05:06' "$1/b"
	op stat -c %Y "$1/a"
	track_mtime "$1/a"
}
scn_hl_up_open_unlink_all() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "exec 3<>'$1/a'; rm '$1/a' '$1/b' && echo more >&3; cat /proc/self/fd/3; stat -L -c %h /proc/self/fd/3; ln -L /proc/self/fd/3 '$1/c'"
	op ls "$1/a" "$1/b" "$1/c"
}
scn_hl_up_open_unlink_one_relink_fd() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "exec 3>>'$1/a'; rm '$1/a' && ln -L /proc/self/fd/3 '$1/c' && echo more >&3; cat '$1/b' '$1/c'"
	hl_show "$1/b" "$1/c"
}
scn_hl_tmpfile_then_links() {
	op "$OVLTOOL" tmpfile "$1" "$1/t1"
	op ln "$1/t1" "$1/d/t2"
	op rm "$1/t1"
	hl_every_op "$1/d/t2"
	op "$OVLTOOL" tmpfile "$1/d" "$1/d/t3"
	op ln "$1/d/t3" "$1/t4"
	hl_every_op "$1/t4" "$1/d/t3"
}

# links of lower files (index=off: copy-up of one name breaks the link)
scn_hl_lower_view() {
	op stat -c '%n %h' "$1/hl1" "$1/hl2" "$1/hd/p1" "$1/hd/p2" "$1/hd/c1" "$1/hx/c2" \
		"$1/usrbin/perl" "$1/usrbin/perl5" "$1/sh1" "$1/h1a" "$1/h1b" "$1/tri/t1" "$1/tri/t2" "$1/t3"
	op cat "$1/sh2"
}
scn_hl_lower_append_triple_middle() {
	op sh -c "echo more >> '$1/tri/t2'"
	hl_show "$1/tri/t1" "$1/tri/t2" "$1/t3"
}
scn_hl_lower_chmod_pair() { op chmod 0600 "$1/h1a"; hl_show "$1/h1a" "$1/h1b"; }
scn_hl_lower_chown_cross_dir() { op chown 5:6 "$1/hx/c2"; hl_show "$1/hd/c1" "$1/hx/c2"; }
scn_hl_lower_truncate_subdir_pair() { op truncate -s 2 "$1/hd/p2"; hl_show "$1/hd/p1" "$1/hd/p2"; }
scn_hl_lower_unlink_one() {
	op rm "$1/hd/p1"
	hl_every_op "$1/hd/p2"
}
scn_hl_lower_unlink_two_of_triple() {
	op rm "$1/t3" "$1/tri/t1"
	hl_every_op "$1/tri/t2"
}
scn_hl_lower_rename_one() {
	op mv "$1/h1a" "$1/h1new"
	hl_show "$1/h1new" "$1/h1b"
	hl_every_op "$1/h1b" "$1/h1new"
}
scn_hl_lower_rename_over_sibling() {
	op mv -T "$1/tri/t1" "$1/t3"
	op "$OVLTOOL" rename2 exchange "$1/tri/t1" "$1/tri/t2"
	op "$OVLTOOL" rename2 none "$1/hd/p1" "$1/hd/p2"
	op ls "$1/tri" "$1/hd"
	hl_show "$1/tri/t1" "$1/tri/t2" "$1/t3" "$1/hd/p1" "$1/hd/p2"
}
scn_hl_lower_rename_other_over_one() {
	op mv "$1/f_lower2" "$1/hl1"
	hl_every_op "$1/hl2" "$1/hl1"
}
scn_hl_lower_exchange_with_upper() {
	op sh -c "echo up > '$1/u'"
	op "$OVLTOOL" rename2 exchange "$1/h1a" "$1/u"
	hl_show "$1/h1a" "$1/h1b" "$1/u"
	hl_every_op "$1/u" "$1/h1b"
}
scn_hl_lower_link_lower_name() {
	op ln "$1/hl1" "$1/hl3"
	hl_show "$1/hl1" "$1/hl2" "$1/hl3"
	hl_every_op "$1/hl3" "$1/hl1" "$1/hl2"
}
scn_hl_lower_link_then_copyup_other() {
	op ln "$1/hl1" "$1/hl3"
	op chmod 0600 "$1/hl2"
	op sh -c "echo more >> '$1/hl1'"
	hl_show "$1/hl1" "$1/hl2" "$1/hl3"
}
scn_hl_lower_link_into_other_dir() {
	op ln "$1/hd/p1" "$1/hx/p3"
	hl_every_op "$1/hx/p3" "$1/hd/p1" "$1/hd/p2"
}
scn_hl_lower_link_onto_half_whiteout() {
	op stat -c '%n %h' "$1/sh1"
	op ln "$1/sh1" "$1/sh2"
	hl_every_op "$1/sh2" "$1/sh1"
}
scn_hl_lower_open_unlink_all() {
	op sh -c "exec 3<'$1/hl1'; rm '$1/hl1' '$1/hl2' && cat <&3; cat /proc/self/fd/3; stat -L -c %h /proc/self/fd/3; ln -L /proc/self/fd/3 '$1/hl3'"
	op ls "$1/hl1" "$1/hl2" "$1/hl3"
}
scn_hl_lower_rm_all_recreate() {
	op rm "$1/hl1" "$1/hl2"
	op sh -c "echo new > '$1/hl1'"
	op ln "$1/hl1" "$1/hl2"
	hl_every_op "$1/hl2" "$1/hl1"
}
scn_hl_lower_rmdir_keep_link_outside() {
	op ln "$1/hd/p1" "$1/keep"
	op rm -r "$1/hd"
	hl_every_op "$1/keep" "$1/hx/c2"
}
scn_hl_lower_mv_dir_fallback() {
	op mv "$1/hd" "$1/hd_moved"
	op ls "$1/hd" "$1/hd_moved"
	hl_show "$1/hd_moved/p1" "$1/hd_moved/p2" "$1/hx/c2"
}

# the same after a remount
scn_hl_remount_only() {
	remount
	op stat -c '%n %h' "$1/hl1" "$1/hl2" "$1/tri/t1" "$1/t3"
}
scn_hl_up_remount_ops() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op ln "$1/a" "$1/d/c"
	remount
	hl_every_op "$1/b" "$1/a" "$1/d/c"
	remount
	hl_show "$1/a" "$1/b" "$1/d/c"
}
scn_hl_up_unlink_first_remount() {
	op sh -c "echo hello > '$1/a'"
	op ln "$1/a" "$1/b"
	op unlink "$1/a"
	remount
	op cat "$1/b"
	op ln "$1/b" "$1/c"
	hl_every_op "$1/c" "$1/b"
}
scn_hl_up_rename_remount() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op mv "$1/a" "$1/x"
	remount
	hl_every_op "$1/b" "$1/x"
}
scn_hl_up_rename_over_remount() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op stat -c '%n %h' "$1/a" "$1/b"
	op sh -c "echo other > '$1/c'"
	op mv "$1/c" "$1/a"
	remount
	hl_show "$1/a" "$1/b"
	hl_every_op "$1/b" "$1/a"
}
scn_hl_up_exchange_remount() {
	op sh -c "echo up > '$1/a'"
	op ln "$1/a" "$1/b"
	op sh -c "echo other > '$1/c'"
	op "$OVLTOOL" rename2 exchange "$1/a" "$1/c"
	remount
	hl_show "$1/a" "$1/b" "$1/c"
	hl_every_op "$1/c" "$1/b"
}
scn_hl_up_name_reused_remount() {
	op sh -c "echo old > '$1/a'"
	op ln "$1/a" "$1/b"
	op rm "$1/a"
	op sh -c "echo new > '$1/a'"
	remount
	hl_show "$1/a" "$1/b"
	op ln "$1/b" "$1/c"
	hl_every_op "$1/c" "$1/b"
}
scn_hl_tmpfile_remount() {
	op "$OVLTOOL" tmpfile "$1" "$1/t1"
	op ln "$1/t1" "$1/t2"
	remount
	hl_every_op "$1/t1" "$1/t2"
}
scn_hl_lower_copyup_remount() {
	op sh -c "echo more >> '$1/hl1'"
	remount
	hl_show "$1/hl1" "$1/hl2"
	op ln "$1/hl2" "$1/hl3"
	hl_show "$1/hl1" "$1/hl2" "$1/hl3"
}
scn_hl_lower_link_remount() {
	op ln "$1/hl1" "$1/hl3"
	remount
	hl_every_op "$1/hl3" "$1/hl1" "$1/hl2"
}
scn_hl_lower_chmod_chown_remount() {
	op chmod 0600 "$1/h1a"
	op chown 3:4 "$1/tri/t1"
	remount
	hl_show "$1/h1a" "$1/h1b" "$1/tri/t1" "$1/tri/t2" "$1/t3"
	op truncate -s 1 "$1/t3"
	hl_show "$1/tri/t1" "$1/tri/t2" "$1/t3"
}
scn_hl_lower_unlink_remount() {
	op rm "$1/tri/t1"
	remount
	hl_show "$1/tri/t2" "$1/t3"
	hl_every_op "$1/t3" "$1/tri/t2"
}
scn_hl_lower_rename_remount() {
	op mv "$1/hd/p1" "$1/hd/q"
	remount
	hl_every_op "$1/hd/p2" "$1/hd/q"
}
scn_hl_lower_rename_over_remount() {
	op mv "$1/f_lower1" "$1/hl2"
	remount
	hl_every_op "$1/hl1" "$1/hl2"
}
scn_hl_lower_half_whiteout_remount() {
	op ln "$1/sh1" "$1/sh2"
	remount
	hl_every_op "$1/sh2" "$1/sh1"
}
scn_hl_repro_rename_over_target_remount() {
	op ln "$1/d/f2" "$1/d/hl"
	op stat -c '%n %h' "$1/d/hl" "$1/d/f2"
	remount
	op mv "$1/d/leaf" "$1/d/f2"
	remount
	op sh -c "printf x >> '$1/d/hl'"
	op cat "$1/d/hl" "$1/d/f2"
	op stat -c '%n %h' "$1/d/hl" "$1/d/f2"
}
scn_hl_repro_containers_perl_remount() {
	op chown 1:1 "$1/usrbin/perl5"
	remount
	op rm "$1/usrbin/perl"
	op ln "$1/usrbin/perl5" "$1/usrbin/perl"
	remount
	op rm "$1/usrbin/perl5"
	op ln "$1/usrbin/perl" "$1/usrbin/perl5"
	remount
	hl_show "$1/usrbin/perl" "$1/usrbin/perl5"
}
