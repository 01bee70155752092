/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tar.c: the "tar" plugin: a read-only lower layer served straight from an
 * OCI/Docker layer tarball (plain, gzip or zstd), without unpacking it.
 *
 *     -o lowerdir=//tar/-//srv/layer.tar.gz
 *
 * load() indexes the archive in one pass (index.c) and keeps decompression
 * checkpoints (stream.c); the operations below answer from the index and
 * read file data at random offsets through the checkpoints.  The layer's
 * own whiteouts (.wh.NAME, .wh..wh..opq) are served as the plain empty
 * files they are: the daemon interprets them.
 *
 * The daemon calls one operation at a time, and everything lives in the
 * struct layer that load() returns, so several layers can share a process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fuse-overlayfs/plugin.h>

#include "index.h"
#include "stream.h"

struct layer {
	struct tar_stream *stream;
	struct tar_index index;
};

static int tar_load(const char *data, const char *path, void **out, uint64_t *root, char *why,
		size_t why_size)
{
	struct layer *l;
	int fd, ret;

	if (why_size > 0)
		why[0] = '\0';
	if (data == NULL || strcmp(data, "-") != 0) {
		snprintf(why, why_size, "tar: unknown option '%s' (only '-' is accepted)", data ? data : "");
		return -EINVAL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return ret;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	ret = tar_stream_open(fd, path, &l->stream, why, why_size);
	if (ret == 0)
		ret = tar_index_build(&l->index, l->stream, path, why, why_size);
	if (ret < 0) {
		tar_stream_free(l->stream);
		free(l);
		return ret;
	}
	tar_stream_index_done(l->stream);
	*out = l;
	*root = TAR_ROOT;
	return 0;
}

static void tar_release(void *layer)
{
	struct layer *l = layer;

	tar_index_free(&l->index);
	tar_stream_free(l->stream);
	free(l);
}

static void fill_stat(const struct tar_node *t, uint64_t n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n;
	st->st_mode = t->mode;
	st->st_nlink = t->nlink;
	st->st_uid = t->uid;
	st->st_gid = t->gid;
	st->st_rdev = makedev(t->rdev_major, t->rdev_minor);
	st->st_size = (off_t) (t->size > INT64_MAX ? INT64_MAX : t->size);
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t) (t->size / 512 + (t->size % 512 != 0));
	st->st_atim.tv_sec = t->atime;
	st->st_atim.tv_nsec = t->atime_ns;
	st->st_mtim.tv_sec = t->mtime;
	st->st_mtim.tv_nsec = t->mtime_ns;
	st->st_ctim.tv_sec = t->ctime;
	st->st_ctim.tv_nsec = t->ctime_ns;
}

static int tar_getattr(void *layer, uint64_t node, struct stat *st)
{
	struct layer *l = layer;
	const struct tar_node *t = tar_index_node(&l->index, node);

	if (t == NULL)
		return -ENOENT;
	fill_stat(t, node, st);
	return 0;
}

/* The directory node dir, or -ENOENT / -ENOTDIR. */
static int dir_node(const struct tar_index *idx, uint64_t dir, const struct tar_node **d)
{
	*d = tar_index_node(idx, dir);
	if (*d == NULL)
		return -ENOENT;
	return S_ISDIR((*d)->mode) ? 0 : -ENOTDIR;
}

static int tar_lookup(void *layer, uint64_t dir, const char *name, uint64_t *node, struct stat *st)
{
	struct layer *l = layer;
	const struct tar_node *d;
	int ret = dir_node(&l->index, dir, &d);

	if (ret < 0)
		return ret;
	uint32_t n = tar_index_lookup(&l->index, dir, name);
	if (n == 0)
		return -ENOENT;
	*node = n;
	return tar_getattr(layer, n, st);
}

/* Cookies are positions in the directory's sorted entries, plus one. */
static int tar_readdir(void *layer, uint64_t dir, uint64_t cookie, fuse_overlayfs_fill_fn fill,
		void *ctx)
{
	struct layer *l = layer;
	const struct tar_index *idx = &l->index;
	const struct tar_node *d;
	int ret = dir_node(idx, dir, &d);

	if (ret < 0)
		return ret;
	for (uint64_t i = cookie; i < d->nchildren; i++) {
		const struct tar_dirent *e = &idx->dirents[idx->children[d->child_first + i]];
		const struct tar_node *t = &idx->nodes[e->node];

		if (fill(ctx, tar_index_str(idx, e->name), e->node, t->mode & S_IFMT, i + 1))
			break;
	}
	return 0;
}

static ssize_t tar_readlink(void *layer, uint64_t node, char *buf, size_t size)
{
	struct layer *l = layer;
	const struct tar_node *t = tar_index_node(&l->index, node);

	if (t == NULL)
		return -ENOENT;
	if (!S_ISLNK(t->mode))
		return -EINVAL;
	memcpy(buf, tar_index_str(&l->index, t->link), t->size < size ? t->size : size);
	return (ssize_t) t->size;
}

/* The regular file node, or -ENOENT / -EISDIR / -EINVAL. */
static int file_node(const struct tar_index *idx, uint64_t node, const struct tar_node **t)
{
	*t = tar_index_node(idx, node);
	if (*t == NULL)
		return -ENOENT;
	if (S_ISDIR((*t)->mode))
		return -EISDIR;
	return S_ISREG((*t)->mode) ? 0 : -EINVAL;
}

static int tar_open(void *layer, uint64_t node, uint64_t *fh)
{
	struct layer *l = layer;
	const struct tar_node *t;
	int ret = file_node(&l->index, node, &t);

	*fh = 0;
	return ret;
}

static ssize_t tar_read(void *layer, uint64_t node, uint64_t fh, void *buf, size_t size,
		uint64_t off)
{
	struct layer *l = layer;
	const struct tar_node *t;
	int ret = file_node(&l->index, node, &t);

	(void) fh;
	if (ret < 0)
		return ret;
	if (off >= t->size || size == 0)
		return 0;
	if (size > t->size - off)
		size = (size_t) (t->size - off);
	if (size > SSIZE_MAX)
		size = SSIZE_MAX;
	/* data_off + size was checked while indexing: no overflow here */
	return tar_stream_pread(l->stream, buf, size, t->data_off + off);
}

static ssize_t tar_listxattr(void *layer, uint64_t node, char *list, size_t size)
{
	struct layer *l = layer;
	const struct tar_index *idx = &l->index;
	const struct tar_node *t = tar_index_node(idx, node);
	size_t need = 0;

	if (t == NULL)
		return -ENOENT;
	for (uint32_t i = 0; i < t->nxattrs; i++)
		need += strlen(tar_index_str(idx, idx->xattrs[t->xattr_first + i].name)) + 1;
	if (size == 0)
		return (ssize_t) need;
	if (size < need)
		return -ERANGE;
	size_t at = 0;
	for (uint32_t i = 0; i < t->nxattrs; i++) {
		const char *name = tar_index_str(idx, idx->xattrs[t->xattr_first + i].name);
		size_t len = strlen(name) + 1;

		memcpy(list + at, name, len);
		at += len;
	}
	return (ssize_t) need;
}

static ssize_t tar_getxattr(void *layer, uint64_t node, const char *name, void *value, size_t size)
{
	struct layer *l = layer;
	const struct tar_index *idx = &l->index;
	const struct tar_node *t = tar_index_node(idx, node);

	if (t == NULL)
		return -ENOENT;
	for (uint32_t i = 0; i < t->nxattrs; i++) {
		const struct tar_xattr *x = &idx->xattrs[t->xattr_first + i];

		if (strcmp(tar_index_str(idx, x->name), name) != 0)
			continue;
		if (size == 0)
			return x->value_len;
		if (size < x->value_len)
			return -ERANGE;
		memcpy(value, tar_index_str(idx, x->value), x->value_len);
		return x->value_len;
	}
	return -ENODATA;
}

static int tar_statfs(void *layer, struct statvfs *st)
{
	struct layer *l = layer;

	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_blocks = l->index.live_blocks;
	st->f_files = l->index.live_nodes;
	st->f_namemax = 255;
	return 0;
}

static const struct fuse_overlayfs_plugin tar_plugin = {
	.abi = FUSE_OVERLAYFS_PLUGIN_ABI,
	.size = sizeof(struct fuse_overlayfs_plugin),
	.name = "tar",
	.load = tar_load,
	.release = tar_release,
	.lookup = tar_lookup,
	.getattr = tar_getattr,
	.readdir = tar_readdir,
	.readlink = tar_readlink,
	.open = tar_open,
	.read = tar_read,
	.listxattr = tar_listxattr,
	.getxattr = tar_getxattr,
	.statfs = tar_statfs,
};

__attribute__((visibility("default"))) const struct fuse_overlayfs_plugin *
fuse_overlayfs_plugin_entry(void)
{
	return &tar_plugin;
}
