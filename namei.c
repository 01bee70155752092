/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lookup across layers, top down, as kernel overlayfs does with
 * redirect_dir=off: the topmost non-whiteout entry wins; a non-directory
 * ends the search; directories merge with the directories below them until
 * an opaque one; a whiteout (either form) hides everything below.
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

/* The child may hide what lies below it in layer k: opaque directory. */
static bool stops_below(struct ovl_fs *fs, int k, int fd)
{
	return k < fs->nlayers - 1 && ovl_is_opaque(fs, k, fd);
}

int ovl_lookup_child(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
		     struct ovl_node **out, struct stat *st)
{
	struct ovl_node *n = NULL;
	ino_t lower_ino = 0;
	int lower_ino_layer = -1;
	int top = -1;

	if (!ovl_valid_name(name))
		return strlen(name) > NAME_MAX ? -ENAMETOOLONG : -ENOENT;

	for (int k = 0; k < fs->nlayers; k++) {
		OVL_DFD d = { .fd = -1 };
		struct stat kst;
		int fd;

		if (!ovl_dir_in_layer(parent, k))
			continue;
		if (ovl_dir_fd(fs, parent, k, &d) < 0)
			continue;
		if (fstatat(d.fd, name, &kst, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && errno != ENOTDIR) {
				int err = -errno;
				ovl_node_free(fs, n);
				return err;
			}
			if (ovl_whiteout_in_layer(fs, d.fd, name))
				break;
			continue;
		}
		if (ovl_is_whiteout(&kst))
			break;
		if (top < 0) {
			top = k;
			*st = kst;
			ovl_override_apply(fs, d.fd, name, st);
			n = ovl_node_alloc(fs, kst.st_mode, fs->nlayers);
			if (!n)
				return -ENOMEM;
			atomic_store(&n->layer, k);
			if (!S_ISDIR(kst.st_mode))
				break;
		} else if (!S_ISDIR(kst.st_mode)) {
			break;  /* a non-directory under a directory is hidden */
		}
		/* A directory: keep its fd for lookups of its own children. */
		fd = openat(d.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			int err = -errno;
			if (k == top) {
				ovl_node_free(fs, n);
				return err;
			}
			break;
		}
		if (ovl_layer_is_lower(fs, k) && lower_ino_layer < 0) {
			lower_ino = kst.st_ino;
			lower_ino_layer = k;
		}
		bool opaque = stops_below(fs, k, fd);
		if (opaque && k == 0 && fs->has_upper)
			n->opaque_upper = true;
		ovl_dir_set_fd(fs, n, k, fd);
		if (opaque)
			break;
	}
	if (top < 0)
		return -ENOENT;
	/* A merged directory keeps the inode number of its topmost lower
	 * directory, so copying it up does not change it (as overlayfs). */
	if (lower_ino_layer >= 0)
		n->ino = ovl_map_ino(fs, lower_ino_layer, lower_ino);
	else
		n->ino = ovl_map_ino(fs, top, st->st_ino);
	*out = n;
	return 0;
}

int ovl_lookup_entry(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct ovl_node *fresh, *n;
	struct stat st;
	int ret = ovl_lookup_child(fs, parent, name, &fresh, &st);

	memset(e, 0, sizeof(*e));
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	if (ret < 0)
		return ret;
	n = ovl_node_insert(fs, parent, name, fresh);
	if (!n)
		return -ENOMEM;
	e->ino = n->id;
	e->attr = st;
	ovl_present_stat(fs, n, &e->attr);
	return 0;
}

bool ovl_lower_positive(struct ovl_fs *fs, struct ovl_node *parent, const char *name)
{
	for (int k = fs->has_upper; k < fs->nlayers; k++) {
		OVL_DFD d = { .fd = -1 };
		struct stat st;

		if (!ovl_dir_in_layer(parent, k) || ovl_dir_fd(fs, parent, k, &d) < 0)
			continue;
		if (fstatat(d.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return !ovl_is_whiteout(&st);
		if (ovl_whiteout_in_layer(fs, d.fd, name))
			return false;
	}
	return false;
}

int ovl_node_at(struct ovl_fs *fs, struct ovl_node *n, int layer, struct ovl_dfd *d,
		struct ovl_node **parent, char name[NAME_MAX + 1])
{
	int ret = ovl_node_name(fs, n, parent, name);

	if (ret < 0)
		return ret;
	ret = ovl_dir_fd(fs, *parent ? *parent : n, layer, d);
	if (ret < 0) {
		ovl_node_unpin(fs, *parent);
		*parent = NULL;
	}
	return ret;
}

int ovl_stat_node(struct ovl_fs *fs, struct ovl_node *n, struct stat *st)
{
	struct ovl_node *parent;
	char name[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	int ret;

	if (ovl_is_dir(n)) {
		ret = ovl_dir_fd(fs, n, ovl_node_layer(n), &d);
		if (ret == 0 && fstat(d.fd, st) < 0)
			ret = -errno;
	} else {
		ret = ovl_node_at(fs, n, ovl_node_layer(n), &d, &parent, name);
		if (ret < 0)
			return ret;
		if (fstatat(d.fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		ovl_node_unpin(fs, parent);
	}
	if (ret == 0)
		ovl_present_stat(fs, n, st);
	return ret;
}

int ovl_open_node(struct ovl_fs *fs, struct ovl_node *n, int flags, int *fd)
{
	struct ovl_node *parent;
	char name[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	int ret;

	/* Removed while open, or O_TMPFILE: the file itself, not its old name */
	int orphan = ovl_node_orphan_fd(fs, n);
	if (orphan >= 0) {
		struct ovl_procpath p;
		*fd = open(ovl_procpath(&p, orphan), flags | O_CLOEXEC);
		return *fd < 0 ? -errno : 0;
	}
	flags |= O_NOFOLLOW | O_CLOEXEC;
	if (ovl_is_dir(n)) {
		ret = ovl_dir_fd(fs, n, ovl_node_layer(n), &d);
		if (ret < 0)
			return ret;
		*fd = openat(d.fd, ".", flags);
		return *fd < 0 ? -errno : 0;
	}
	ret = ovl_node_at(fs, n, ovl_node_layer(n), &d, &parent, name);
	if (ret < 0)
		return ret;
	*fd = openat(d.fd, name, flags);
	ret = *fd < 0 ? -errno : 0;
	ovl_node_unpin(fs, parent);
	return ret;
}
