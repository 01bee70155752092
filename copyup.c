/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Copy-up: make a lower object exist in the upper layer before it is
 * changed.  The copy is built in workdir/work under a temporary name with
 * its data, owner, mode, xattrs, origin record and times, then renamed into
 * place over nothing, so the upper never shows a half-made file: a crash
 * before the rename leaves garbage in the workdir (removed at the next
 * mount), after it the complete copy.  Before the rename the parent is
 * marked impure when the copy carries an origin record (harmless alone);
 * after it the parent gets its times back, so a crash right there can
 * leave the parent's mtime changed, the one trace a crash can leave.
 * Parents are copied up first, with their own metadata.  Lower layers are
 * only ever opened read-only.
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

/* Owner, mode, xattrs, origin and times of the copy, in the order that
 * keeps them: chown clears setuid bits, so mode comes after it; times come
 * last.  srcfd: the lower object (O_PATH will do), or -1.  Returns 1 when
 * the copy carries an origin record (ovl_set_origin), 0, or -errno. */
static int copy_meta(struct ovl_fs *fs, int srcfd, int srclayer, int dstdir,
		     const char *dstname, const struct stat *st)
{
	const struct timespec times[2] = { st->st_atim, st->st_mtim };
	struct ovl_procpath p;
	int fd, ret = 0;

	if (fchownat(dstdir, dstname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (errno != EPERM || fs->euid == 0))
		return -errno;
	fd = openat(dstdir, dstname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!S_ISLNK(st->st_mode) && chmod(ovl_procpath(&p, fd), st->st_mode & 07777) < 0)
		ret = -errno;
	if (ret == 0 && srcfd >= 0 && !fs->cfg->noxattrs)
		ret = ovl_copy_xattrs(fs, srcfd, fd);
	/* srcfd is O_RDONLY for these (build_copy, build_dir_copy) */
	if (ret == 0 && srcfd >= 0 && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)))
		ret = ovl_copy_fileattr(fs, srcfd, fd);
	if (ret == 0)
		ret = ovl_set_origin(fs, fd, srclayer, st);
	close(fd);
	if (ret >= 0 && utimensat(dstdir, dstname, times, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	return ret;
}

/* Builds the copy of the non-directory (srcdir, name) of layer srclayer in
 * workfd under tmp; its upper inode number in *ino, and whether it keeps
 * the lower one in *keep_ino. */
static int build_copy(struct ovl_fs *fs, int srcdir, int srclayer, const char *name,
		      const struct stat *st, const char *tmp, bool with_data, ino_t *ino,
		      bool *keep_ino)
{
	int src = -1, dst = -1, ret = 0;
	struct stat dst_st;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		src = ovl_open_at(srcdir, name, O_RDONLY | O_NOFOLLOW | O_NOATIME);
		if (src < 0)
			return src;
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
		if (ret == 0)
			src = openat(srcdir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
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
		ret = copy_meta(fs, src, srclayer, fs->workfd, tmp, st);
	*keep_ino = ret == 1;
	if (ret >= 0)
		ret = fstatat(fs->workfd, tmp, &dst_st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	*ino = dst_st.st_ino;
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return ret;
}

/* Builds the copy of directory n (without its entries) in workfd under
 * tmp; an fd of it in *fd, its inode number in *ino. */
static int build_dir_copy(struct ovl_inode *n, const char *tmp, int *fd, ino_t *ino)
{
	struct ovl_fs *fs = n->fs;
	int layer = ovl_inode_layer(n);
	OVL_DFD src = { .fd = -1 };
	struct stat st;
	int ret;

	ret = ovl_dir_fd(n, layer, &src);
	if (ret < 0)
		return ret;
	if (fstat(src.fd, &st) < 0)
		return -errno;
	if (mkdirat(fs->workfd, tmp, 0700) < 0)
		return -errno;
	*fd = openat(fs->workfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	ret = copy_meta(fs, src.fd, layer, fs->workfd, tmp, &st);
	if (ret >= 0)
		ret = fstat(*fd, &st) < 0 ? -errno : 0;
	*ino = st.st_ino;
	return ret;
}

/*
 * The last step, under the parent's lock: if name still names n, rename
 * the copy into place (never over anything), marking the parent impure
 * first when the copy carries an origin record, and give the parent its
 * times back (kernel overlayfs does too: a copy-up changes no directory).
 */
static int install(struct ovl_inode *n, struct ovl_inode *parent, const char *name,
		   const char *tmp, bool origin)
{
	struct ovl_fs *fs = n->fs;
	OVL_DFD up = { .fd = -1 };
	struct timespec times[2];
	struct stat pst;
	int ret;

	if (!ovl_dentry_is(parent, name, n))
		return -EEXIST;   /* removed meanwhile: it must not come back */
	ret = ovl_dir_fd(parent, 0, &up);
	if (ret == 0 && fstat(up.fd, &pst) < 0)
		ret = -errno;
	if (ret == 0 && origin && !atomic_load(&parent->dir->impure)) {
		ret = ovl_set_impure(fs, up.fd);
		if (ret == 0)
			atomic_store(&parent->dir->impure, true);
	}
	if (ret == 0 && renameat2(fs->workfd, tmp, up.fd, name, RENAME_NOREPLACE) < 0)
		ret = -errno;
	if (ret < 0)
		return ret;
	times[0] = pst.st_atim;
	times[1] = pst.st_mtim;
	if (futimens(up.fd, times) < 0)
		ovl_debug("copy-up: cannot restore the times of the parent of %s: %s", name,
			  strerror(errno));
	return 0;
}

static int do_copy_up(struct ovl_inode *n, bool with_data)
{
	struct ovl_fs *fs = n->fs;
	struct ovl_inode *parent;
	char name[NAME_MAX + 1], tmp[NAME_MAX + 1];
	int layer = ovl_inode_layer(n), fd = -1, ret;
	bool keep_ino = true;   /* a merged directory keeps its lower number */
	ino_t ino = 0;

	/* Nameless: a removed lower object stays removed.  EEXIST, as kernel
	 * overlayfs answers: its copy-up finds the name taken (a whiteout). */
	if (!ovl_inode_alias(n, &parent, name))
		return -EEXIST;
	ret = ovl_copy_up(parent, false);
	ovl_work_tmpname(fs, tmp);
	if (ret == 0 && ovl_is_dir(n)) {
		ret = build_dir_copy(n, tmp, &fd, &ino);
	} else if (ret == 0) {
		/* a lower layer never changes: no lock needed to read it */
		OVL_DFD src = { .fd = -1 };
		struct stat st;
		ret = ovl_dir_fd(parent, layer, &src);
		if (ret == 0 && fstatat(src.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		if (ret == 0)
			ret = build_copy(fs, src.fd, layer, name, &st, tmp, with_data, &ino,
					 &keep_ino);
	}
	if (ret == 0) {
		ovl_dir_lock(parent, true);
		ret = install(n, parent, name, tmp, !ovl_is_dir(n) && keep_ino);
		if (ret == 0 && ovl_is_dir(n)) {
			ovl_dir_set_fd(n, 0, fd);
			fd = -1;
		}
		if (ret == 0)
			ovl_inode_set_upper(n, parent, ino, keep_ino);
		ovl_dir_unlock(parent);
	}
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		ovl_remove_tree_at(fs->workfd, tmp);
	else
		atomic_fetch_add_explicit(&fs->stats.copyups, 1, memory_order_relaxed);
	ovl_inode_put(parent);
	return ret;
}

int ovl_copy_up(struct ovl_inode *n, bool with_data)
{
	int ret = 0;

	if (!n->fs->has_upper)
		return -EROFS;
	if (ovl_inode_is_upper(n))
		return 0;
	pthread_mutex_lock(&n->copyup_lock);
	if (!ovl_inode_is_upper(n))
		ret = do_copy_up(n, with_data);
	pthread_mutex_unlock(&n->copyup_lock);
	if (ret < 0)
		ovl_debug("copy-up of inode %lu failed: %s", (unsigned long)n->id, strerror(-ret));
	return ret;
}
