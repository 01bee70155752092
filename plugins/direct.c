/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in "direct" plugin: a layer that is a plain directory, served
 * through the plugin ABI (//direct/-/PATH).  An ordinary lowerdir is read
 * by the daemon itself, with real fds (passthrough needs them); this one
 * exists so that the ABI and its serving process (plugin_serve.c) can be
 * checked against the same trees read directly, and as a model plugin.
 *
 * A node is one object of the directory, held by an O_PATH fd and found
 * again by its (st_dev, st_ino), so that every name of a hard link gives
 * the same node; it goes when the daemon forgets its last lookup.  Calls
 * never overlap (plugin.h): nothing here is locked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "direct.h"

struct node {
	dev_t dev;
	ino_t ino;
	int fd;             /* O_PATH */
	uint64_t nlookup;
	uint64_t id;        /* index in nodes[] + 1 */
};

struct layer {
	struct node **nodes;   /* by id - 1; NULL: free */
	size_t nnodes;
	void *by_ident;        /* tsearch tree keyed by (dev, ino) */
};

static int by_ident(const void *a, const void *b)
{
	const struct node *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static struct node *node_of(struct layer *l, uint64_t id)
{
	return id && id <= l->nnodes ? l->nodes[id - 1] : NULL;
}

static char *proc_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* The node of the object fd holds (fd is taken), one lookup more. */
static int node_for(struct layer *l, int fd, struct stat *st, uint64_t *id)
{
	struct node key, *n, **found, **grown;
	size_t slot = 0;

	if (fstat(fd, st) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	key.dev = st->st_dev;
	key.ino = st->st_ino;
	found = tfind(&key, &l->by_ident, by_ident);
	if (found) {
		close(fd);
		(*found)->nlookup++;
		*id = (*found)->id;
		return 0;
	}
	while (slot < l->nnodes && l->nodes[slot])
		slot++;
	if (slot == l->nnodes) {
		grown = realloc(l->nodes, (l->nnodes * 2 + 16) * sizeof(*grown));
		if (!grown)
			goto nomem;
		memset(grown + l->nnodes, 0, (l->nnodes + 16) * sizeof(*grown));
		l->nodes = grown;
		l->nnodes = l->nnodes * 2 + 16;
	}
	n = malloc(sizeof(*n));
	if (!n)
		goto nomem;
	*n = (struct node){ .dev = st->st_dev, .ino = st->st_ino, .fd = fd, .nlookup = 1,
			    .id = slot + 1 };
	if (!tsearch(n, &l->by_ident, by_ident)) {
		free(n);
		goto nomem;
	}
	l->nodes[slot] = n;
	*id = n->id;
	return 0;
nomem:
	close(fd);
	return -ENOMEM;
}

static int direct_load(const char *data, const char *path, void **layer, uint64_t *root,
		       char *why, size_t why_size)
{
	struct layer *l;
	struct stat st;
	int fd, ret;

	if (strcmp(data, "-")) {
		snprintf(why, why_size, "the direct plugin takes no data (write '-')");
		return -EINVAL;
	}
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, why_size, "cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	ret = node_for(l, fd, &st, root);
	if (ret < 0) {
		free(l);
		return ret;
	}
	*layer = l;
	return 0;
}

static void free_node(void *p)
{
	struct node *n = p;

	close(n->fd);
	free(n);
}

static void direct_release(void *layer)
{
	struct layer *l = layer;

	tdestroy(l->by_ident, free_node);
	free(l->nodes);
	free(l);
}

static int direct_lookup(void *layer, uint64_t dir, const char *name, uint64_t *node,
			 struct stat *st)
{
	struct node *d = node_of(layer, dir);
	int fd;

	if (!d)
		return -ESTALE;
	fd = openat(d->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return node_for(layer, fd, st, node);
}

static void direct_forget(void *layer, uint64_t id, uint64_t nlookup)
{
	struct layer *l = layer;
	struct node *n = node_of(l, id);

	if (!n || id == 1)
		return;   /* the root stays */
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	if (n->nlookup)
		return;
	tdelete(n, &l->by_ident, by_ident);
	l->nodes[id - 1] = NULL;
	free_node(n);
}

static int direct_getattr(void *layer, uint64_t id, struct stat *st)
{
	struct node *n = node_of(layer, id);

	if (!n)
		return -ESTALE;
	return fstat(n->fd, st) < 0 ? -errno : 0;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int direct_readdir(void *layer, uint64_t dir, uint64_t cookie, fuse_overlayfs_fill_fn fill,
			  void *ctx)
{
	struct node *d = node_of(layer, dir);
	char pp[32], buf[16384];
	int fd, ret = 0;
	long len;

	if (!d)
		return -ESTALE;
	fd = open(proc_path(pp, d->fd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (lseek(fd, (off_t)cookie, SEEK_SET) < 0)
		ret = -errno;
	while (ret == 0 && (len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < len; ) {
			struct linux_dirent64 *e = (void *)(buf + pos);

			pos += e->d_reclen;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (fill(ctx, e->d_name, e->d_ino, DTTOIF(e->d_type), (uint64_t)e->d_off))
				goto out;
		}
	}
	if (ret == 0 && len < 0)
		ret = -errno;
out:
	close(fd);
	return ret;
}

static ssize_t direct_readlink(void *layer, uint64_t id, char *buf, size_t size)
{
	struct node *n = node_of(layer, id);
	ssize_t len;

	if (!n)
		return -ESTALE;
	len = readlinkat(n->fd, "", buf, size);
	return len < 0 ? -errno : len;
}

static int direct_open(void *layer, uint64_t id, uint64_t *fh)
{
	struct node *n = node_of(layer, id);
	char pp[32];
	int fd;

	if (!n)
		return -ESTALE;
	fd = open(proc_path(pp, n->fd), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*fh = (uint64_t)fd;
	return 0;
}

static ssize_t direct_read(void *layer, uint64_t id, uint64_t fh, void *buf, size_t size,
			   uint64_t off)
{
	ssize_t n;

	(void)layer;
	(void)id;
	if (off > (uint64_t)INT64_MAX)
		return 0;
	n = pread((int)fh, buf, size, (off_t)off);
	return n < 0 ? -errno : n;
}

static void direct_close(void *layer, uint64_t id, uint64_t fh)
{
	(void)layer;
	(void)id;
	close((int)fh);
}

static ssize_t direct_listxattr(void *layer, uint64_t id, char *list, size_t size)
{
	struct node *n = node_of(layer, id);
	char pp[32];
	ssize_t len;

	if (!n)
		return -ESTALE;
	len = listxattr(proc_path(pp, n->fd), list, size);
	return len < 0 ? -errno : len;
}

static ssize_t direct_getxattr(void *layer, uint64_t id, const char *name, void *value,
			       size_t size)
{
	struct node *n = node_of(layer, id);
	char pp[32];
	ssize_t len;

	if (!n)
		return -ESTALE;
	len = getxattr(proc_path(pp, n->fd), name, value, size);
	return len < 0 ? -errno : len;
}

static int direct_statfs(void *layer, struct statvfs *st)
{
	struct node *root = node_of(layer, 1);

	return root && fstatvfs(root->fd, st) == 0 ? 0 : -errno;
}

static int64_t direct_lseek(void *layer, uint64_t id, uint64_t fh, int64_t off, int whence)
{
	off_t ret;

	(void)layer;
	(void)id;
	ret = lseek((int)fh, (off_t)off, whence);
	return ret < 0 ? -errno : ret;
}

static int direct_getflags(void *layer, uint64_t id, uint32_t *flags)
{
	struct node *n = node_of(layer, id);
	char pp[32];
	int fd, ret, v = 0;

	if (!n)
		return -ESTALE;
	fd = open(proc_path(pp, n->fd), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, FS_IOC_GETFLAGS, &v) < 0 ? -errno : 0;
	close(fd);
	*flags = (uint32_t)v;
	return ret;
}

const struct fuse_overlayfs_plugin ovl_plugin_direct = {
	.abi = FUSE_OVERLAYFS_PLUGIN_ABI,
	.size = sizeof(struct fuse_overlayfs_plugin),
	.name = "direct",
	.load = direct_load,
	.release = direct_release,
	.lookup = direct_lookup,
	.forget = direct_forget,
	.getattr = direct_getattr,
	.readdir = direct_readdir,
	.readlink = direct_readlink,
	.open = direct_open,
	.read = direct_read,
	.close = direct_close,
	.listxattr = direct_listxattr,
	.getxattr = direct_getxattr,
	.statfs = direct_statfs,
	.lseek = direct_lseek,
	.getflags = direct_getflags,
};
