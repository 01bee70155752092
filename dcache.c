/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reaching objects: a directory through its fds (one per layer it spans,
 * cached within a budget, else reopened beneath its nearest cached
 * ancestor), any other object through one of its names under its parent's
 * lock, or through its O_PATH fd once it has none.  And the directory locks
 * that keep names meaning what they mean (lock order: ovl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovl.h"

bool ovl_dir_in_layer(const struct ovl_inode *dir, int layer)
{
	return dir->dir && atomic_load(&dir->dir->fds[layer]) != OVL_FD_ABSENT;
}

/* One rule for "merged": the directory spans more than one layer.  Such a
 * directory cannot know its subdirectory count (nlink 1, as overlayfs) and
 * cannot move without redirects. */
bool ovl_dir_is_merged(const struct ovl_inode *dir)
{
	int layers = 0;

	for (int k = 0; k < dir->fs->nlayers && layers < 2; k++)
		layers += ovl_dir_in_layer(dir, k);
	return layers > 1;
}

void ovl_dir_set_fd(struct ovl_inode *dir, int layer, int fd)
{
	struct ovl_fs *fs = dir->fs;

	/* Directory fds make every lookup a single-component *at() call, but
	 * the fd budget is finite: past it the directory is reopened by path
	 * beneath its nearest cached ancestor. */
	if (atomic_fetch_add(&fs->cached_fds, 1) < fs->max_cached_fds) {
		int old = atomic_exchange(&dir->dir->fds[layer], fd);
		if (old >= 0) {   /* raced with another thread caching it */
			close(old);
			atomic_fetch_sub(&fs->cached_fds, 1);
		}
		return;
	}
	atomic_fetch_sub(&fs->cached_fds, 1);
	close(fd);
	atomic_store(&dir->dir->fds[layer], OVL_FD_UNCACHED);
}

void ovl_dfd_put(struct ovl_dfd *d)
{
	if (d->owned && d->fd >= 0)
		close(d->fd);
	d->owned = false;
	d->fd = -1;
}

int ovl_dir_fd(struct ovl_inode *dir, int layer, struct ovl_dfd *out)
{
	int fd = atomic_load(&dir->dir->fds[layer]);
	struct ovl_inode *anc;
	char *path;
	int ret;

	out->owned = false;
	out->fd = -1;
	if (fd >= 0) {
		out->fd = fd;
		return 0;
	}
	if (fd == OVL_FD_ABSENT)
		return -ENOENT;
	path = ovl_dir_path(dir, layer, &anc, &ret);
	if (!path)
		return ret;
	fd = atomic_load(&anc->dir->fds[layer]);
	ret = fd < 0 ? -ENOENT : ovl_openat_beneath(fd, path, O_RDONLY | O_DIRECTORY, 0);
	free(path);
	ovl_inode_put(anc);
	if (ret < 0)
		return ret;
	out->fd = ret;
	out->owned = true;
	return 0;
}

void ovl_dir_keep_fd(struct ovl_inode *dir, int layer)
{
	OVL_DFD d = { .fd = -1 };

	if (atomic_load(&dir->dir->fds[layer]) != OVL_FD_UNCACHED || ovl_dir_fd(dir, layer, &d) < 0)
		return;
	atomic_fetch_add(&dir->fs->cached_fds, 1);
	if (atomic_compare_exchange_strong(&dir->dir->fds[layer], &(int){ OVL_FD_UNCACHED }, d.fd))
		d.owned = false;
	else
		atomic_fetch_sub(&dir->fs->cached_fds, 1);
}

void ovl_dir_lock(struct ovl_inode *dir, bool exclusive)
{
	if (exclusive)
		pthread_rwlock_wrlock(&dir->dir->lock);
	else
		pthread_rwlock_rdlock(&dir->dir->lock);
}

void ovl_dir_unlock(struct ovl_inode *dir)
{
	pthread_rwlock_unlock(&dir->dir->lock);
}

/* Ancestor first: a rename never runs while another holds the ancestry
 * fixed in the other order (the caller holds fs->rename_lock when p != q). */
void ovl_lock_rename(struct ovl_inode *p, struct ovl_inode *q)
{
	if (p == q) {
		ovl_dir_lock(p, true);
		return;
	}
	if (ovl_is_ancestor(q, p) || (!ovl_is_ancestor(p, q) && q->id < p->id)) {
		struct ovl_inode *t = p;
		p = q;
		q = t;
	}
	ovl_dir_lock(p, true);
	ovl_dir_lock(q, true);
}

void ovl_unlock_rename(struct ovl_inode *p, struct ovl_inode *q)
{
	ovl_dir_unlock(p);
	if (q != p)
		ovl_dir_unlock(q);
}

void ovl_loc_put(struct ovl_loc *loc)
{
	ovl_dfd_put(&loc->d);
	if (loc->locked) {
		ovl_dir_unlock(loc->locked);
		ovl_inode_put(loc->locked);
		loc->locked = NULL;
	}
	loc->dirfd = -1;
}

/* Through one of n's names: under its parent's lock (shared), the name
 * must still be n's (a rename may have taken it meanwhile). */
static int locate_by_name(struct ovl_inode *n, int layer, struct ovl_loc *loc)
{
	struct ovl_inode *parent;

	for (;;) {
		if (!ovl_inode_alias(n, &parent, loc->buf))
			return -ENOENT;
		ovl_dir_lock(parent, false);
		if (ovl_dentry_is(parent, loc->buf, n))
			break;
		ovl_dir_unlock(parent);
		ovl_inode_put(parent);
	}
	loc->locked = parent;
	loc->name = loc->buf;
	return ovl_dir_fd(parent, layer, &loc->d);
}

int ovl_locate(struct ovl_inode *n, int layer, struct ovl_loc *loc)
{
	int ret, fd;

	*loc = (struct ovl_loc)OVL_LOC_INIT;
	if (ovl_is_dir(n)) {
		ret = ovl_dir_fd(n, layer, &loc->d);
		loc->name = ".";
	} else if ((fd = atomic_load(&n->orphan_fd)) >= 0) {
		/* nameless, or a name unknown to us: the object itself, in the
		 * layer it was in when it lost its name (it cannot change) */
		if (layer != ovl_inode_layer(n))
			return -ENOENT;
		loc->dirfd = fd;
		return 0;
	} else {
		ret = locate_by_name(n, layer, loc);
	}
	if (ret < 0) {
		ovl_loc_put(loc);
		return ret;
	}
	loc->dirfd = loc->d.fd;
	return 0;
}

int ovl_loc_open(const struct ovl_loc *loc, int flags)
{
	int fd;

	if (*loc->name || !(flags & O_PATH))
		return ovl_open_at(loc->dirfd, loc->name, flags | O_NOFOLLOW);
	fd = fcntl(loc->dirfd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int ovl_inode_stat(struct ovl_inode *n, struct stat *st)
{
	OVL_LOC loc = OVL_LOC_INIT;
	int ret = ovl_locate(n, ovl_inode_layer(n), &loc);

	if (ret == 0 && fstatat(loc.dirfd, loc.name, st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
		ret = -errno;
	return ret;
}

int ovl_inode_open(struct ovl_inode *n, int flags, int *fd, int *layer)
{
	OVL_LOC loc = OVL_LOC_INIT;
	int k = ovl_inode_layer(n);
	int ret = ovl_locate(n, k, &loc);

	/* the layer it was opened in, which a copy-up may change right after */
	if (layer)
		*layer = k;
	if (!(flags & O_PATH))
		flags |= ovl_noatime_flag(n->fs, k, S_ISDIR(n->type));
	if (ret == 0)
		ret = *fd = ovl_loc_open(&loc, flags);
	return ret < 0 ? ret : 0;
}
