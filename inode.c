/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Attributes: getattr, setattr (always in the upper, after copy-up, and
 * the setuid/setgid killing it owes writes), readlink, access and statfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"

/* The override xattr of a located object, when in use */
static void override_apply_loc(struct ovl_fs *fs, const struct ovl_loc *loc, struct stat *st)
{
	if (!ovl_override_xattr(fs))
		return;
	if (*loc->name)
		ovl_override_apply(fs, loc->dirfd, loc->name, st);
	else
		ovl_override_apply_fd(fs, loc->dirfd, st);
}

/* stat of n (through its open file f, if one), as the mount shows it */
static int stat_inode(struct ovl_inode *n, struct ovl_file *f, struct stat *st)
{
	struct ovl_fs *fs = n->fs;
	OVL_LOC loc = OVL_LOC_INIT;
	int ret;

	if (f) {
		int fd = ovl_file_fd(f);
		if (fstat(fd, st) < 0)
			return -errno;
		if (ovl_override_xattr(fs))
			ovl_override_apply_fd(fs, fd, st);
	} else {
		ret = ovl_locate(n, ovl_inode_layer(n), &loc);
		if (ret == 0 && fstatat(loc.dirfd, loc.name, st,
					AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
			ret = -errno;
		if (ret < 0)
			return ret;
		override_apply_loc(fs, &loc, st);
	}
	ovl_present_stat(n, st);
	return 0;
}

/* The open file of fi when it is one of n's (getattr and setattr may come
 * with one); a bad handle is ignored: the request stands without it. */
static struct ovl_file *file_of(struct ovl_inode *n, struct fuse_file_info *fi)
{
	struct ovl_file *f = ovl_is_dir(n) ? NULL : ovl_file_get(n->fs, fi);

	if (f && f->inode != n) {
		ovl_file_put(f);
		f = NULL;
	}
	return f;
}

void ovl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_file *f;
	struct stat st;
	int ret;

	ovl_debug("getattr ino=%lu", (unsigned long)ino);
	ovl_wire_note_transport(fs, req);
	if (!(n = ovl_req_inode(req, ino)))
		return;
	f = file_of(n, fi);
	ret = stat_inode(n, f, &st);
	ovl_file_put(f);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

static struct timespec set_time(int to_set, int now_flag, int flag, struct timespec t)
{
	if (to_set & now_flag)
		return (struct timespec){ .tv_nsec = UTIME_NOW };
	if (to_set & flag)
		return t;
	return (struct timespec){ .tv_nsec = UTIME_OMIT };
}

static int apply_setattr(struct ovl_fs *fs, const struct ovl_loc *loc, struct ovl_file *f,
			 const struct stat *attr, int to_set)
{
	const char *name = loc->name;
	int at = *name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH;
	struct ovl_procpath p;
	struct stat cur;
	int fd, ret = 0;

	/* The mtime that comes with a size is the kernel's "now" (truncate(2)
	 * and O_TRUNC send both; no call sets a size and a chosen mtime), and
	 * truncate(2) of the upper file sets it itself: one step, not two that
	 * could fail apart. */
	if (to_set & FUSE_SET_ATTR_SIZE)
		to_set &= ~(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
	fd = ovl_loc_open(loc, O_PATH);
	if (fd < 0)
		return fd;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? ovl_uid_to_disk(fs, attr->st_uid) : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? ovl_gid_to_disk(fs, attr->st_gid) : (gid_t)-1;
		if (ovl_override_xattr(fs))
			ret = ovl_set_owner(fs, loc->dirfd, name, uid, gid);
		else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
			ret = -errno;
	}
	if (ret == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
		if (ovl_override_xattr(fs) && fstatat(loc->dirfd, name, &cur, at) == 0) {
			struct stat ov = cur;
			ovl_override_apply_fd(fs, fd, &ov);
			ret = ovl_write_override(fs, loc->dirfd, name, ov.st_uid, ov.st_gid, attr->st_mode);
		} else if (chmod(ovl_procpath(&p, fd), attr->st_mode & 07777) < 0) {
			ret = -errno;
		}
	}
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (f && f->layer == 0 ? ftruncate(f->fd, attr->st_size) < 0
				       : truncate(ovl_procpath(&p, fd), attr->st_size) < 0)
			ret = -errno;
	}
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		struct timespec ts[2] = {
			set_time(to_set, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_ATIME, attr->st_atim),
			set_time(to_set, FUSE_SET_ATTR_MTIME_NOW, FUSE_SET_ATTR_MTIME, attr->st_mtim),
		};
		if (utimensat(loc->dirfd, name, ts, at) < 0)
			ret = -errno;
	}
	close(fd);
	return ret;
}

/*
 * With FUSE_CAP_HANDLE_KILLPRIV_V2 (passthrough.c) killing setuid/setgid is
 * ours.  The kernel decides that the caller lacks CAP_FSETID and says so by
 * a KILL flag (truncate, chown), fi->kill_suidgid (write, open O_TRUNC) or,
 * for a write through a backing file, an otherwise empty SETATTR; it
 * removes security.capability itself, through removexattr.  What goes is
 * what the VFS takes: setuid, and setgid when group-executable or when the
 * caller is not in the file's group.
 */
static bool in_group(fuse_req_t req, gid_t gid)
{
	gid_t small[64], *groups = small;
	int n, size = 64;
	bool found = false;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	/* fuse_req_getgroups says how many there are when they do not fit */
	while ((n = fuse_req_getgroups(req, size, groups)) > size) {
		gid_t *more = realloc(groups == small ? NULL : groups, (size_t)n * sizeof(*more));
		if (!more)
			break;
		groups = more;
		size = n;
	}
	for (int i = 0; i < n && i < size; i++)
		found = found || groups[i] == gid;
	if (groups != small)
		free(groups);
	return found;
}

static bool kill_suidgid_mode(fuse_req_t req, struct ovl_inode *n, mode_t *mode)
{
	struct stat st;
	mode_t m;

	if (stat_inode(n, NULL, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	m = st.st_mode & 07777 & ~(mode_t)S_ISUID;
	if ((m & S_ISGID) && ((m & S_IXGRP) || !in_group(req, st.st_gid)))
		m &= ~(mode_t)S_ISGID;
	*mode = m;
	return m != (st.st_mode & 07777);
}

void ovl_kill_suidgid(fuse_req_t req, struct ovl_inode *n)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_LOC loc = OVL_LOC_INIT;
	struct stat attr = { 0 };

	if (!kill_suidgid_mode(req, n, &attr.st_mode) || !ovl_inode_is_upper(n) ||
	    ovl_locate(n, 0, &loc) < 0)
		return;
	if (apply_setattr(fs, &loc, NULL, &attr, FUSE_SET_ATTR_MODE) < 0)
		ovl_debug("cannot clear setuid/setgid of inode %lu", (unsigned long)n->id);
	else   /* no reply carries the new mode: the kernel must ask again */
		fuse_lowlevel_notify_inval_inode(fs->se, n->id, -1, 0);
}

/* Immutable refuses every change, append-only all but times set to now
 * (as notify_change and vfs_truncate do).  With the writeback cache the
 * kernel keeps a file's times itself and sends every change of them as
 * given times, its own after writes and touch's "now" alike: there they
 * all count as now, or an append would fail at its close. */
static int may_setattr(struct ovl_fs *fs, struct ovl_inode *n, int to_set)
{
	bool explicit_times = !fs->writeback &&
			      (((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
			       ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW)));
	int owner_mode_size = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			      FUSE_SET_ATTR_SIZE;

	if (!(to_set & (owner_mode_size | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		return 0;
	return ovl_may_change(n, !(to_set & owner_mode_size) && !explicit_times);
}

void ovl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		 struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	OVL_LOC loc = OVL_LOC_INIT;
	struct ovl_file *f;
	struct stat st;
	bool truncating = (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0;
	int ret;

	ovl_debug("setattr ino=%lu to_set=0x%x", (unsigned long)ino, to_set);
	if (!(n = ovl_req_inode(req, ino)))
		return;
	f = file_of(n, fi);
	if ((to_set == 0 || (to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID))) &&
	    !(to_set & FUSE_SET_ATTR_MODE) && kill_suidgid_mode(req, n, &attr->st_mode))
		to_set |= FUSE_SET_ATTR_MODE;
	ret = may_setattr(fs, n, to_set);
	if (ret == 0)
		ret = ovl_copy_up(n, !truncating);
	if (ret == 0)
		ret = ovl_locate(n, 0, &loc);
	if (ret == 0)
		ret = apply_setattr(fs, &loc, f, attr, to_set);
	ovl_loc_put(&loc);
	if (ret == 0)
		ret = stat_inode(n, f, &st);
	ovl_file_put(f);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

void ovl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	OVL_INODE n = NULL;
	OVL_LOC loc = OVL_LOC_INIT;
	char *target = NULL;
	int ret;

	ovl_debug("readlink ino=%lu", (unsigned long)ino);
	if (!(n = ovl_req_inode(req, ino)))
		return;
	ret = ovl_locate(n, ovl_inode_layer(n), &loc);
	if (ret == 0 && !(target = ovl_readlinkat(loc.dirfd, loc.name)))
		ret = -errno;
	ovl_loc_put(&loc);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

void ovl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;

	/* The kernel checks permissions itself (default_permissions); this
	 * only answers for the inode's existence and for writes on a
	 * read-only overlay. */
	ovl_debug("access ino=%lu mask=%d", (unsigned long)ino, mask);
	if (!(n = ovl_req_inode(req, ino)))
		return;
	fuse_reply_err(req, (mask & W_OK) && !fs->has_upper ? EROFS : 0);
}

void ovl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct statvfs sv;

	ovl_debug("statfs ino=%lu", (unsigned long)ino);
	if (fstatvfs(fs->layers[0].fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}
