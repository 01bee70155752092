/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ownership and what stat shows: ids mapped between the layers and the
 * mount (uidmapping=, gidmapping=, squash_to_*), the override_stat record
 * of xattr_permissions, and an object's attributes as presented (its inode
 * number, the link count of merged directories).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

const char *ovl_override_xattr(const struct ovl_fs *fs)
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

	if (!ovl_override_xattr(fs))
		return;
	len = getxattr(ovl_procpath(&p, fd), ovl_override_xattr(fs), buf, sizeof(buf) - 1);
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

	if (!ovl_override_xattr(fs))
		return;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ovl_override_apply_fd(fs, fd, st);
		close(fd);
	}
}

/*
 * The kernel refuses user.* xattrs on symlinks and special files (EPERM), so
 * with xattr_permissions=2 those keep owner and mode in the inode itself, as
 * far as the daemon may set them there: creating one must not fail for it
 * (fuse-overlayfs 1.x ignores the refusal).  fd: O_PATH, on the object.
 */
static int keep_in_inode(int fd, uid_t uid, gid_t gid, mode_t mode)
{
	struct ovl_procpath p;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		return -EPERM; /* refused for another reason */
	if ((st.st_uid != uid || st.st_gid != gid) &&
	    fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 && errno != EPERM)
		return -errno;
	/* (a symlink's own mode means nothing and cannot be changed) */
	if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != (mode & 07777) &&
	    chmod(ovl_procpath(&p, fd), mode & 07777) < 0)
		return -errno;
	return 0;
}

int ovl_write_override(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid,
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
	if (setxattr(ovl_procpath(&p, fd), ovl_override_xattr(fs), buf, strlen(buf), 0) < 0)
		ret = -errno;
	if (ret == -EPERM && fs->cfg->xattr_permissions == 2)
		ret = keep_in_inode(fd, uid, gid, mode);
	close(fd);
	return ret;
}

/* name "": the object dirfd itself (an O_TMPFILE file has no name) */
int ovl_set_owner(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid)
{
	int at = *name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH;
	struct stat st;

	if (ovl_override_xattr(fs)) {
		if (fstatat(dirfd, name, &st, at) < 0)
			return -errno;
		return ovl_write_override(fs, dirfd, name, uid == (uid_t)-1 ? st.st_uid : uid,
				      gid == (gid_t)-1 ? st.st_gid : gid, st.st_mode);
	}
	if ((uid == (uid_t)-1 || uid == fs->euid) && (gid == (gid_t)-1 || gid == fs->egid))
		return 0; /* created with these ids already */
	return fchownat(dirfd, name, uid, gid, at) < 0 ? -errno : 0;
}

void ovl_present_stat(struct ovl_inode *n, struct stat *st)
{
	const struct ovl_config *cfg = n->fs->cfg;

	st->st_ino = n->ino;
	if (S_ISDIR(st->st_mode) && (cfg->static_nlink || ovl_dir_is_merged(n)))
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
