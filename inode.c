/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Attributes: what stat shows (inode numbers, link counts, ids mapped
 * between disk and presented), what setattr changes (always in the upper,
 * after copy-up), readlink, access and statfs.
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

#define OVERFLOW_ID 65534

static unsigned int map_id(const struct ovl_idmap *map, size_t n, unsigned int id, bool to_disk)
{
	if (n == 0)
		return id;
	for (size_t i = 0; i < n; i++) {
		unsigned int from = to_disk ? map[i].presented : map[i].disk;
		unsigned int to = to_disk ? map[i].disk : map[i].presented;
		if (id >= from && id - from < map[i].len)
			return to + (id - from);
	}
	return OVERFLOW_ID;
}

uid_t ovl_uid_to_disk(struct ovl_fs *fs, uid_t presented)
{
	return map_id(fs->cfg->uidmap, fs->cfg->nuidmap, presented, true);
}

gid_t ovl_gid_to_disk(struct ovl_fs *fs, gid_t presented)
{
	return map_id(fs->cfg->gidmap, fs->cfg->ngidmap, presented, true);
}

static const char *override_xattr(struct ovl_fs *fs)
{
	switch (fs->cfg->xattr_permissions) {
	case 1:
		return "security.fuseoverlayfs.override_stat";
	case 2:
		return "user.containers.override_stat";
	default:
		return NULL;
	}
}

/* xattr_permissions: owner and mode kept as "uid:gid:mode" in an xattr, for
 * daemons that cannot chown (as containers/storage writes them). */
void ovl_override_apply_fd(struct ovl_fs *fs, int fd, struct stat *st)
{
	struct ovl_procpath p;
	char buf[128];
	unsigned int uid, gid, mode;
	ssize_t len;

	if (!override_xattr(fs))
		return;
	len = getxattr(ovl_procpath(&p, fd), override_xattr(fs), buf, sizeof(buf) - 1);
	if (len <= 0)
		return;
	buf[len] = '\0';
	if (sscanf(buf, "%u:%u:%o", &uid, &gid, &mode) == 3) {
		st->st_uid = uid;
		st->st_gid = gid;
		st->st_mode = (st->st_mode & S_IFMT) | (mode & 07777);
	}
}

void ovl_override_apply(struct ovl_fs *fs, int dirfd, const char *name, struct stat *st)
{
	int fd;

	if (!override_xattr(fs))
		return;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ovl_override_apply_fd(fs, fd, st);
		close(fd);
	}
}

static int write_override(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid,
			  mode_t mode)
{
	struct ovl_procpath p;
	char buf[64];
	int fd = *name ? openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
		       : fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	int ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%u:%u:0%o", uid, gid, mode & 07777);
	if (setxattr(ovl_procpath(&p, fd), override_xattr(fs), buf, strlen(buf), 0) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* name "": the object dirfd itself (an O_TMPFILE file has no name) */
int ovl_set_owner(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	int at = *name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH;
	struct stat st;

	if (override_xattr(fs)) {
		if (fstatat(dirfd, name, &st, at) < 0)
			return -errno;
		return write_override(fs, dirfd, name, uid == (uid_t)-1 ? st.st_uid : uid,
				      gid == (gid_t)-1 ? st.st_gid : gid, st.st_mode);
	}
	if ((uid == (uid_t)-1 || uid == fs->euid) && (gid == (gid_t)-1 || gid == fs->egid))
		return 0; /* created with these ids already */
	return fchownat(dirfd, name, uid, gid, at) < 0 ? -errno : 0;
}

/* A merged directory cannot know its subdirectory count: nlink 1, as
 * overlayfs reports ("find" treats it as unknown). */
static bool dir_is_merged(struct ovl_fs *fs, struct ovl_node *n)
{
	int layers = 0;

	for (int k = 0; k < fs->nlayers && layers < 2; k++)
		layers += ovl_dir_in_layer(n, k);
	return layers > 1;
}

void ovl_present_stat(struct ovl_fs *fs, struct ovl_node *n, struct stat *st)
{
	const struct ovl_config *cfg = fs->cfg;

	st->st_ino = n->ino;
	if (S_ISDIR(st->st_mode) && (cfg->static_nlink || dir_is_merged(fs, n)))
		st->st_nlink = 1;
	st->st_uid = map_id(cfg->uidmap, cfg->nuidmap, st->st_uid, false);
	st->st_gid = map_id(cfg->gidmap, cfg->ngidmap, st->st_gid, false);
	if (cfg->squash_to_root)
		st->st_uid = st->st_gid = 0;
	if (cfg->squash_to_uid >= 0)
		st->st_uid = (uid_t)cfg->squash_to_uid;
	if (cfg->squash_to_gid >= 0)
		st->st_gid = (gid_t)cfg->squash_to_gid;
}

/* stat of n, with the override xattr applied when it is in use */
static int stat_node(struct ovl_fs *fs, struct ovl_node *n, struct ovl_file *f, struct stat *st)
{
	struct ovl_node *parent;
	char name[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	int ret, orphan;

	if (f) {
		if (fstat(ovl_file_fd(fs, n, f), st) < 0)
			return -errno;
		if (!override_xattr(fs)) {
			ovl_present_stat(fs, n, st);
			return 0;
		}
	}
	if (!f && (orphan = ovl_node_orphan_fd(fs, n)) >= 0) {
		if (fstat(orphan, st) < 0)
			return -errno;
		ovl_present_stat(fs, n, st);
		return 0;
	}
	if (!override_xattr(fs))
		return ovl_stat_node(fs, n, st);
	ret = ovl_node_at(fs, n, ovl_node_layer(n), &d, &parent, name);
	if (ret < 0)
		return ret;
	if (!f && fstatat(d.fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	if (ret == 0)
		ovl_override_apply(fs, d.fd, name, st);
	ovl_node_unpin(fs, parent);
	if (ret == 0)
		ovl_present_stat(fs, n, st);
	return ret;
}

void ovl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *n = ovl_node_get(fs, ino);
	struct stat st;
	int ret;

	ovl_debug("getattr ino=%lu", (unsigned long)ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = stat_node(fs, n, fi && !ovl_is_dir(n) ? (struct ovl_file *)(uintptr_t)fi->fh : NULL,
			&st);
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

static int apply_setattr(struct ovl_fs *fs, int dirfd, const char *name, struct ovl_file *f,
			 const struct stat *attr, int to_set)
{
	struct ovl_procpath p;
	struct stat cur;
	int fd, ret = 0;

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? ovl_uid_to_disk(fs, attr->st_uid) : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? ovl_gid_to_disk(fs, attr->st_gid) : (gid_t)-1;
		if (override_xattr(fs))
			ret = ovl_set_owner(fs, dirfd, name, uid, gid);
		else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
			ret = -errno;
	}
	if (ret == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
		if (override_xattr(fs) && fstatat(dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
			struct stat ov = cur;
			ovl_override_apply(fs, dirfd, name, &ov);
			ret = write_override(fs, dirfd, name, ov.st_uid, ov.st_gid, attr->st_mode);
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
		if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
	}
	close(fd);
	return ret;
}

/* A file whose name is gone but which is still open: change it through
 * its open fd or the O_PATH fd kept at removal.  A lower file reached that
 * way can only have its times touched (by the kernel's own cache). */
static void setattr_removed(fuse_req_t req, struct ovl_node *n, struct ovl_file *f,
			    const struct stat *attr, int to_set)
{
	struct ovl_fs *fs = ovl_fs(req);
	int fd = f ? f->fd : atomic_load(&n->orphan_fd);
	bool upper = f ? f->layer == 0 : ovl_node_is_upper(fs, n);
	struct ovl_procpath p;
	struct stat st;
	int ret = 0;

	if (fd < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (upper) {
		if ((to_set & FUSE_SET_ATTR_SIZE) && truncate(ovl_procpath(&p, fd), attr->st_size) < 0)
			ret = errno;
		if (!ret && (to_set & FUSE_SET_ATTR_MODE) &&
		    chmod(ovl_procpath(&p, fd), attr->st_mode & 07777) < 0)
			ret = errno;
	} else if (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			     FUSE_SET_ATTR_GID)) {
		ret = EROFS;
	}
	if (!ret && fstat(fd, &st) < 0)
		ret = errno;
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	ovl_present_stat(fs, n, &st);
	fuse_reply_attr(req, &st, fs->timeout);
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
	gid_t groups[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static bool kill_suidgid_mode(fuse_req_t req, struct ovl_node *n, mode_t *mode)
{
	struct stat st;
	mode_t m;

	if (stat_node(ovl_fs(req), n, NULL, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	m = st.st_mode & 07777 & ~(mode_t)S_ISUID;
	if ((m & S_ISGID) && ((m & S_IXGRP) || !in_group(req, st.st_gid)))
		m &= ~(mode_t)S_ISGID;
	*mode = m;
	return m != (st.st_mode & 07777);
}

void ovl_kill_suidgid(fuse_req_t req, struct ovl_node *n)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *parent;
	char name[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	struct stat attr = { 0 };

	if (!kill_suidgid_mode(req, n, &attr.st_mode) || !ovl_node_is_upper(fs, n) ||
	    ovl_node_at(fs, n, 0, &d, &parent, name) < 0)
		return;
	if (apply_setattr(fs, d.fd, name, NULL, &attr, FUSE_SET_ATTR_MODE) < 0)
		ovl_debug("cannot clear setuid/setgid of node %lu", (unsigned long)n->id);
	else   /* no reply carries the new mode: the kernel must ask again */
		fuse_lowlevel_notify_inval_inode(fs->se, n->id, -1, 0);
	ovl_node_unpin(fs, parent);
}

void ovl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		 struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *n = ovl_node_get(fs, ino), *parent = NULL;
	struct ovl_file *f = fi ? (struct ovl_file *)(uintptr_t)fi->fh : NULL;
	char name[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	struct stat st;
	bool truncating = (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0;
	int ret;

	ovl_debug("setattr ino=%lu to_set=0x%x", (unsigned long)ino, to_set);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (ovl_is_dir(n))
		f = NULL;
	if (!ovl_node_live(fs, n)) {
		setattr_removed(req, n, f, attr, to_set);
		return;
	}
	if ((to_set == 0 || (to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID))) &&
	    !(to_set & FUSE_SET_ATTR_MODE) && kill_suidgid_mode(req, n, &attr->st_mode))
		to_set |= FUSE_SET_ATTR_MODE;
	ret = (to_set & FUSE_SET_ATTR_SIZE) ? ovl_passthrough_may_write(n) : 0;
	if (ret == 0)
		ret = ovl_copy_up(fs, n, !truncating);
	if (ret == 0)
		ret = ovl_node_at(fs, n, 0, &d, &parent, name);
	if (ret == 0) {
		ret = apply_setattr(fs, d.fd, name, f, attr, to_set);
		ovl_node_unpin(fs, parent);
	}
	if (ret == 0)
		ret = stat_node(fs, n, NULL, &st);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->timeout);
}

void ovl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *n = ovl_node_get(fs, ino), *parent;
	char name[NAME_MAX + 1], *target = NULL;
	OVL_DFD d = { .fd = -1 };
	int ret;

	ovl_debug("readlink ino=%lu", (unsigned long)ino);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = ovl_node_at(fs, n, ovl_node_layer(n), &d, &parent, name);
	if (ret == 0) {
		target = ovl_readlinkat(d.fd, name);
		if (!target)
			ret = -errno;
		ovl_node_unpin(fs, parent);
	}
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

void ovl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *n = ovl_node_get(fs, ino);

	/* The kernel checks permissions itself (default_permissions); this
	 * only answers for the node's existence and for writes on a
	 * read-only overlay. */
	ovl_debug("access ino=%lu mask=%d", (unsigned long)ino, mask);
	if (!n)
		fuse_reply_err(req, ESTALE);
	else if ((mask & W_OK) && !fs->has_upper)
		fuse_reply_err(req, EROFS);
	else
		fuse_reply_err(req, 0);
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
