/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lookup across layers, top down, as kernel overlayfs does with
 * redirect_dir=off: the topmost non-whiteout entry wins; a non-directory
 * ends the search; directories merge with the directories below them until
 * an opaque one; a whiteout (either form) hides everything below.  A layer
 * that cannot be read fails the lookup: it is never taken as empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

bool ovl_valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > NAME_MAX || strchr(name, '/'))
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	/* .wh.* entries are on-disk markers, never part of the merged tree */
	return !ovl_is_wh_name(name);
}

enum { ENTRY_NONE, ENTRY_FOUND, ENTRY_WHITEOUT };

/* What is name in the directory fd of a layer: ENTRY_FOUND with *st,
 * ENTRY_NONE, ENTRY_WHITEOUT (of either form), or -errno. */
static int entry_in_layer(struct ovl_fs *fs, int dirfd, const char *name, struct stat *st)
{
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return ovl_is_whiteout(st) ? ENTRY_WHITEOUT : ENTRY_FOUND;
	if (errno != ENOENT && errno != ENOTDIR)
		return -errno;
	int wh = ovl_whiteout_in_layer(fs, dirfd, name);

	return wh < 0 ? wh : wh ? ENTRY_WHITEOUT : ENTRY_NONE;
}

/* Layer k of a directory being looked up: keep its fd for the lookups of
 * its own children, and say whether it hides the layers below. */
static int add_dir_layer(struct ovl_inode *n, int k, int parentfd, const char *name,
			 bool *stop)
{
	struct ovl_fs *fs = n->fs;
	struct ovl_dir_marks marks = { false, false };
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	/* the bottom layer hides nothing; only the upper is ever impure */
	if (k < fs->nlayers - 1 || (k == 0 && fs->has_upper))
		ret = ovl_dir_marks(fs, fd, &marks);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	if (k == 0 && fs->has_upper) {
		atomic_store(&n->dir->opaque_upper, marks.opaque);
		atomic_store(&n->dir->impure, marks.impure);
	}
	ovl_dir_set_fd(n, k, fd);
	*stop = marks.opaque && k < fs->nlayers - 1;
	return 0;
}

/*
 * What the merged tree has at (parent, name), as a fresh inode: its type,
 * topmost layer and real inode number, the number to report, and a
 * directory's fds in every layer it spans; *st: the topmost object's
 * attributes.
 */
static int lookup_walk(struct ovl_inode *parent, const char *name, struct ovl_inode **out,
		       struct stat *st)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_inode *n = NULL;
	int lower_layer = -1, ret = -ENOENT;
	ino_t lower_ino = 0;

	for (int k = 0; k < fs->nlayers; k++) {
		OVL_DFD d = { .fd = -1 };
		struct stat kst;
		bool stop = false;

		if (!ovl_dir_in_layer(parent, k))
			continue;
		ret = ovl_dir_fd(parent, k, &d);
		if (ret == 0)
			ret = entry_in_layer(fs, d.fd, name, &kst);
		if (ret == ENTRY_NONE)
			continue;
		if (ret != ENTRY_FOUND)
			break;   /* an error, or a whiteout */
		if (!n) {
			*st = kst;
			ovl_override_apply(fs, d.fd, name, st);
			n = ovl_inode_alloc(fs, kst.st_mode);
			if (!n)
				return -ENOMEM;
			atomic_store(&n->layer, k);
			n->real_ino = kst.st_ino;
			if (!S_ISDIR(kst.st_mode)) {
				n->ino = ovl_entry_ino(fs, k, d.fd, name, false,
						       atomic_load(&parent->dir->impure), kst.st_ino);
				break;
			}
		} else if (!S_ISDIR(kst.st_mode)) {
			break;   /* a non-directory under a directory is hidden */
		}
		ret = add_dir_layer(n, k, d.fd, name, &stop);
		if (ret < 0)
			break;
		/* A merged directory keeps the inode number of its topmost
		 * lower directory, so copying it up does not change it. */
		if (ovl_layer_is_lower(fs, k) && lower_layer < 0) {
			lower_layer = k;
			lower_ino = kst.st_ino;
		}
		if (stop)
			break;
	}
	if (ret < 0 || !n) {
		ovl_inode_free(n);
		return ret < 0 ? ret : -ENOENT;
	}
	if (ovl_is_dir(n))
		n->ino = lower_layer >= 0 ? ovl_map_ino(fs, lower_layer, lower_ino)
					  : ovl_map_ino(fs, ovl_inode_layer(n), n->real_ino);
	*out = n;
	return 0;
}

int ovl_lookup_locked(struct ovl_inode *parent, const char *name, bool kernel,
		      struct ovl_inode **out, struct stat *st)
{
	struct ovl_inode *fresh;
	struct stat ignored;
	int ret;

	if (!ovl_valid_name(name))
		return strlen(name) > NAME_MAX ? -ENAMETOOLONG : -ENOENT;
	/* the caller needs no attributes: the name as we know it will do */
	if (!st && !kernel && (*out = ovl_dentry_find(parent, name)))
		return 0;
	ret = lookup_walk(parent, name, &fresh, st ? st : &ignored);
	if (ret < 0)
		return ret;
	*out = ovl_inode_attach(parent, name, fresh, OVL_ATTACH_FOUND, kernel);
	return *out ? 0 : -ENOMEM;
}

int ovl_lookup_entry(struct ovl_inode *parent, const char *name, struct fuse_entry_param *e)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_inode *n;
	int ret;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	ovl_dir_lock(parent, false);
	ret = ovl_lookup_locked(parent, name, true, &n, &e->attr);
	ovl_dir_unlock(parent);
	if (ret < 0)
		return ret;
	e->ino = n->id;
	e->attr_timeout = fs->timeout;
	ovl_present_stat(n, &e->attr);
	ovl_inode_put(n);
	return 0;
}

int ovl_lower_positive(struct ovl_inode *parent, const char *name)
{
	struct ovl_fs *fs = parent->fs;

	for (int k = fs->has_upper; k < fs->nlayers; k++) {
		OVL_DFD d = { .fd = -1 };
		struct stat st;
		int ret;

		if (!ovl_dir_in_layer(parent, k))
			continue;
		ret = ovl_dir_fd(parent, k, &d);
		if (ret == 0)
			ret = entry_in_layer(fs, d.fd, name, &st);
		if (ret != ENTRY_NONE)   /* an error, found, or a whiteout hiding the rest */
			return ret < 0 ? ret : ret == ENTRY_FOUND;
	}
	return 0;
}
