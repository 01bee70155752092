/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Copy-up: make a lower object exist in the upper layer before it is
 * changed.  The copy is built in workdir/work under a temporary name with
 * its data, owner, mode, xattrs and times, then renamed into place, so the
 * upper never shows a half-made file.  Parents are copied up first, with
 * their own metadata.  Lower layers are only ever opened read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include "ovl.h"

/* Copies [0, size) keeping holes: only the data extents are copied. */
static int copy_data(int src, int dst, off_t size)
{
	off_t data = 0;

	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	while (data < size) {
		off_t hole;

		data = lseek(src, data, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* only a hole is left */
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		while (data < hole) {
			off_t in = data, out = data;
			ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(hole - data), 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP))
				n = -2; /* fall back to read/write below */
			if (n == -2) {
				char buf[65536];
				size_t want = (size_t)(hole - data) < sizeof(buf) ? (size_t)(hole - data)
										   : sizeof(buf);
				ssize_t r = pread(src, buf, want, data);
				if (r <= 0)
					return r < 0 ? -errno : -EIO;
				n = pwrite(dst, buf, (size_t)r, data);
			}
			if (n < 0)
				return -errno;
			if (n == 0)
				return 0; /* the file shrank under us: what is there is copied */
			data += n;
		}
	}
	return 0;
}

/* Owner, mode, xattrs and times of the copy, in the order that keeps them:
 * chown clears setuid bits, so mode comes after it; times come last. */
static int copy_meta(struct ovl_fs *fs, int srcfd, int dstdir, const char *dstname,
		     const struct stat *st)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };
	int ret = 0;

	if (fchownat(dstdir, dstname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (errno != EPERM || fs->euid == 0))
		return -errno;
	if (!S_ISLNK(st->st_mode)) {
		struct ovl_procpath p;
		int fd = openat(dstdir, dstname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (chmod(ovl_procpath(&p, fd), st->st_mode & 07777) < 0)
			ret = -errno;
		if (ret == 0 && srcfd >= 0 && !fs->cfg->noxattrs)
			ret = ovl_copy_xattrs(fs, srcfd, fd);
		close(fd);
		if (ret < 0)
			return ret;
	}
	if (utimensat(dstdir, dstname, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Builds the copy of a non-directory in workfd under tmp. */
static int build_copy(struct ovl_fs *fs, int srcdir, const char *name, const struct stat *st,
		      const char *tmp, bool with_data)
{
	int src = -1, dst = -1, ret = 0;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		src = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return -errno;
		dst = openat(fs->workfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (dst < 0) {
			ret = -errno;
			break;
		}
		if (with_data) {
			ret = copy_data(src, dst, st->st_size);
			if (ret == 0 && ftruncate(dst, st->st_size) < 0)
				ret = -errno;
		}
		if (ret == 0 && fs->cfg->fsync && !fs->cfg->volatile_mode && fsync(dst) < 0)
			ret = -errno;
		break;
	case S_IFLNK: {
		char *target = ovl_readlinkat(srcdir, name);
		if (!target)
			return -errno;
		ret = symlinkat(target, fs->workfd, tmp) < 0 ? -errno : 0;
		free(target);
		break;
	}
	default:
		ret = mknodat(fs->workfd, tmp, st->st_mode & (S_IFMT | 0777), st->st_rdev) < 0
			      ? -errno : 0;
		if (ret == 0)
			src = openat(srcdir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		break;
	}
	if (ret == 0)
		ret = copy_meta(fs, src, fs->workfd, tmp, st);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return ret;
}

static int copy_up_dir(struct ovl_fs *fs, struct ovl_node *n, int updir, const char *name)
{
	char tmp[NAME_MAX + 1];
	OVL_DFD src = { .fd = -1 };
	struct stat st;
	int ret, fd;

	ret = ovl_dir_fd(fs, n, ovl_node_layer(n), &src);
	if (ret < 0)
		return ret;
	if (fstat(src.fd, &st) < 0)
		return -errno;
	ovl_work_tmpname(fs, tmp);
	if (mkdirat(fs->workfd, tmp, 0700) < 0)
		return -errno;
	fd = openat(fs->workfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		unlinkat(fs->workfd, tmp, AT_REMOVEDIR);
		return ret;
	}
	ret = copy_meta(fs, src.fd, fs->workfd, tmp, &st);
	if (ret == 0 && renameat(fs->workfd, tmp, updir, name) < 0)
		ret = -errno;
	if (ret < 0) {
		close(fd);
		unlinkat(fs->workfd, tmp, AT_REMOVEDIR);
		return ret;
	}
	ovl_dir_set_fd(fs, n, 0, fd);
	return 0;
}

static int copy_up_other(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node *parent,
			 int updir, const char *name, bool with_data)
{
	char tmp[NAME_MAX + 1];
	OVL_DFD src = { .fd = -1 };
	struct stat st;
	int ret;

	ret = ovl_dir_fd(fs, parent, ovl_node_layer(n), &src);
	if (ret < 0)
		return ret;
	if (fstatat(src.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	ovl_work_tmpname(fs, tmp);
	ret = build_copy(fs, src.fd, name, &st, tmp, with_data);
	if (ret == 0 && renameat(fs->workfd, tmp, updir, name) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(fs->workfd, tmp, 0);
	return ret;
}

static int do_copy_up(struct ovl_fs *fs, struct ovl_node *n, bool with_data)
{
	struct ovl_node *parent;
	char name[NAME_MAX + 1];
	OVL_DFD updir = { .fd = -1 };
	int ret;

	ret = ovl_node_name(fs, n, &parent, name);
	if (ret < 0)
		return ret;
	if (!parent) { /* the root exists in the upper from the start */
		return 0;
	}
	ret = ovl_copy_up(fs, parent, false);
	if (ret == 0)
		ret = ovl_dir_fd(fs, parent, 0, &updir);
	if (ret == 0)
		ret = ovl_is_dir(n) ? copy_up_dir(fs, n, updir.fd, name)
				    : copy_up_other(fs, n, parent, updir.fd, name, with_data);
	if (ret == 0) {
		atomic_store(&n->layer, 0);
		atomic_fetch_add_explicit(&fs->stats.copyups, 1, memory_order_relaxed);
	}
	ovl_node_unpin(fs, parent);
	return ret;
}

/* A removed lower object must never come back through a copy-up (an
 * fchmod on a file unlinked while open, say): it no longer has a name. */
int ovl_copy_up(struct ovl_fs *fs, struct ovl_node *n, bool with_data)
{
	int ret = 0;

	if (!fs->has_upper)
		return -EROFS;
	if (ovl_node_is_upper(fs, n))
		return 0;
	pthread_mutex_lock(&n->lock);
	if (!ovl_node_is_upper(fs, n))
		ret = ovl_node_live(fs, n) ? do_copy_up(fs, n, with_data) : -ENOENT;
	pthread_mutex_unlock(&n->lock);
	if (ret < 0)
		ovl_debug("copy-up of node %lu failed: %s", (unsigned long)n->id, strerror(-ret));
	return ret;
}
