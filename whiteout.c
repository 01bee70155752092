/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Whiteouts and opaque directories, in every on-disk form in use:
 *  - whiteout: a char device 0/0 (kernel overlayfs) or a ".wh.NAME" file
 *    (AUFS and OCI image layers, fuse-overlayfs without CAP_MKNOD);
 *  - opaque: xattr trusted.overlay.opaque, user.overlay.opaque or
 *    user.fuseoverlayfs.opaque set to "y", or a ".wh..wh..opq" file.
 * Written: char 0/0 when mknod works in the upper, else .wh.NAME; the
 * opaque xattr the upper accepts (trusted first), else .wh..wh..opq; with
 * FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT, .wh.NAME and .wh..wh..opq always.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"

#define WH_PREFIX ".wh."
#define WH_PREFIX_LEN 4
#define OPQ_FILE ".wh..wh..opq"

static const char *const opaque_xattrs[] = {
	"trusted.overlay.opaque",
	"user.overlay.opaque",
	"user.fuseoverlayfs.opaque",
};

bool ovl_is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

bool ovl_is_wh_name(const char *name)
{
	return !strncmp(name, WH_PREFIX, WH_PREFIX_LEN);
}

static int wh_name(char out[NAME_MAX + 1], const char *name)
{
	size_t len = strlen(name);

	if (len + WH_PREFIX_LEN > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(out, WH_PREFIX, WH_PREFIX_LEN);
	memcpy(out + WH_PREFIX_LEN, name, len + 1);
	return 0;
}

int ovl_whiteout_in_layer(struct ovl_fs *fs, int dirfd, const char *name)
{
	char wh[NAME_MAX + 1];
	struct stat st;

	(void)fs;
	if (wh_name(wh, name) < 0)
		return 0;
	if (fstatat(dirfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* A .wh.NAME file: it can be made beside an entry still at NAME, which it
 * hides only once that entry is gone. */
int ovl_create_wh_file(struct ovl_fs *fs, int dirfd, const char *name)
{
	char wh[NAME_MAX + 1];
	int fd, ret;

	ret = wh_name(wh, name);
	if (ret < 0)
		return ret;
	atomic_fetch_add_explicit(&fs->stats.whiteouts, 1, memory_order_relaxed);
	fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0000);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

int ovl_create_whiteout(struct ovl_fs *fs, int dirfd, const char *name)
{
	if (!fs->char_whiteouts)
		return ovl_create_wh_file(fs, dirfd, name);
	atomic_fetch_add_explicit(&fs->stats.whiteouts, 1, memory_order_relaxed);
	return mknodat(dirfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0 ? -errno : 0;
}

int ovl_remove_wh_name(struct ovl_fs *fs, int dirfd, const char *name)
{
	char wh[NAME_MAX + 1];

	(void)fs;
	if (wh_name(wh, name) < 0)
		return 0;
	if (unlinkat(dirfd, wh, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int ovl_set_opaque(struct ovl_fs *fs, int dirfd)
{
	int fd;

	if (fs->opaque_xattr && fsetxattr(dirfd, fs->opaque_xattr, "y", 1, 0) < 0)
		return -errno;
	if (fs->opaque_xattr && !fs->wh_files_only)
		return 0;
	fd = openat(dirfd, OPQ_FILE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0000);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* An xattr marker set to "y": 1, 0 (absent or another value), or -errno */
static int xattr_says_yes(int dirfd, const char *name)
{
	char v[2];
	ssize_t len = fgetxattr(dirfd, name, v, sizeof(v));

	if (len >= 0)
		return len == 1 && v[0] == 'y';
	/* a longer value is not "y"; a filesystem without xattrs has none */
	return errno == ENODATA || errno == ERANGE || errno == ENOTSUP ? 0 : -errno;
}

int ovl_dir_marks(struct ovl_fs *fs, int dirfd, struct ovl_dir_marks *m)
{
	char list[256];
	struct stat st;
	ssize_t len;
	int ret = 0;

	*m = (struct ovl_dir_marks){ false, false };
	/* One listxattr answers "no xattrs at all", the common case (ERANGE:
	 * there are more than fit, so look) */
	len = flistxattr(dirfd, list, sizeof(list));
	if (len < 0 && errno != ERANGE && errno != ENOTSUP)
		return -errno;
	for (size_t i = 0; len != 0 && ret == 0 && !m->opaque &&
			   i < sizeof(opaque_xattrs) / sizeof(opaque_xattrs[0]); i++)
		m->opaque = (ret = xattr_says_yes(dirfd, opaque_xattrs[i])) > 0;
	if (len != 0 && ret >= 0 && fs->impure_xattr)
		m->impure = (ret = xattr_says_yes(dirfd, fs->impure_xattr)) > 0;
	if (ret < 0)
		return ret;
	if (!m->opaque && fstatat(dirfd, OPQ_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
		m->opaque = true;
	else if (!m->opaque && errno != ENOENT)
		return -errno;
	return 0;
}

int ovl_set_impure(struct ovl_fs *fs, int dirfd)
{
	struct ovl_procpath p;

	if (!fs->impure_xattr)
		return 0;
	/* dirfd may be an O_PATH fd: fsetxattr would refuse it */
	return setxattr(ovl_procpath(&p, dirfd), fs->impure_xattr, "y", 1, 0) < 0 ? -errno : 0;
}

int ovl_work_tmpname(struct ovl_fs *fs, char name[NAME_MAX + 1])
{
	snprintf(name, NAME_MAX + 1, "#%x.%lx", (unsigned)getpid(),
		 atomic_fetch_add(&fs->tmp_counter, 1));
	return 0;
}

/* Throws away what an operation left in the workdir once it is done (the
 * old upper entry, a spare whiteout).  The operation has happened: failing
 * here must not make it report an error.  What stays is invisible and goes
 * at the next mount. */
void ovl_work_cleanup(struct ovl_fs *fs, const char *tmp)
{
	int ret = ovl_remove_tree_at(fs->workfd, tmp);

	if (ret < 0)
		ovl_err("cannot remove %s from the workdir (removed at the next mount): %s", tmp,
			strerror(-ret));
}
