/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A plugin built by tests/plugins.bats from the installed header alone
 * (<fuse-overlayfs/plugin.h>), to show the ABI is usable outside the tree;
 * also the model plugin of the man page.  It serves a fixed tree:
 *
 *   /greeting        "hello from DATA\n" (DATA as given in //demo/DATA/PATH)
 *   /sub/            a directory, user.demo="yes"
 *   /sub/link   ->   ../greeting
 *
 * Built with -DDEMO_ABI=N it claims ABI N; with -DDEMO_NO_ENTRY it exports
 * the symbol of a 1.x plugin instead of the entry point; with -DDEMO_NO_READ
 * it lacks a required operation: the loader must refuse each.  With
 * -DDEMO_CRASH it dies when the greeting is read (SIGKILL: a SIGSEGV would
 * be reported by the sanitizers of a sanitizer build as a finding): that
 * must cost the layer, not the daemon.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse-overlayfs/plugin.h>

#ifndef DEMO_ABI
#define DEMO_ABI FUSE_OVERLAYFS_PLUGIN_ABI
#endif

enum { ROOT = 1, GREETING, SUB, LINK };

struct demo {
	char text[256];
};

static int demo_load(const char *data, const char *path, void **layer, uint64_t *root,
		     char *why, size_t why_size)
{
	struct demo *d;

	(void)path;
	if (strlen(data) > 200) {
		snprintf(why, why_size, "demo: DATA is too long");
		return -EINVAL;
	}
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->text, sizeof(d->text), "hello from %s\n", data);
	*layer = d;
	*root = ROOT;
	return 0;
}

static void demo_release(void *layer)
{
	free(layer);
}

static int demo_getattr(void *layer, uint64_t node, struct stat *st)
{
	struct demo *d = layer;

	memset(st, 0, sizeof(*st));
	st->st_ino = node;
	st->st_nlink = 1;
	switch (node) {
	case ROOT:
	case SUB:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = node == ROOT ? 3 : 2;
		break;
	case GREETING:
		st->st_mode = S_IFREG | 0644;
		st->st_size = (off_t)strlen(d->text);
		break;
	case LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = 11;
		break;
	default:
		return -ESTALE;
	}
	st->st_mtime = 1000000000;
	return 0;
}

static int demo_lookup(void *layer, uint64_t dir, const char *name, uint64_t *node,
		       struct stat *st)
{
	if (dir == ROOT && !strcmp(name, "greeting"))
		*node = GREETING;
	else if (dir == ROOT && !strcmp(name, "sub"))
		*node = SUB;
	else if (dir == SUB && !strcmp(name, "link"))
		*node = LINK;
	else
		return -ENOENT;
	return demo_getattr(layer, *node, st);
}

static int demo_readdir(void *layer, uint64_t dir, uint64_t cookie, fuse_overlayfs_fill_fn fill,
			void *ctx)
{
	(void)layer;
	if (dir == ROOT) {
		if (cookie < 1 && fill(ctx, "greeting", GREETING, S_IFREG, 1))
			return 0;
		if (cookie < 2 && fill(ctx, "sub", SUB, S_IFDIR, 2))
			return 0;
	} else if (dir == SUB) {
		if (cookie < 1 && fill(ctx, "link", LINK, S_IFLNK, 1))
			return 0;
	} else {
		return -ENOTDIR;
	}
	return 0;
}

static ssize_t demo_readlink(void *layer, uint64_t node, char *buf, size_t size)
{
	static const char target[] = "../greeting";

	(void)layer;
	if (node != LINK)
		return -EINVAL;
	memcpy(buf, target, size < sizeof(target) - 1 ? size : sizeof(target) - 1);
	return (ssize_t)sizeof(target) - 1;
}

#ifndef DEMO_NO_READ
static ssize_t demo_read(void *layer, uint64_t node, uint64_t fh, void *buf, size_t size,
			 uint64_t off)
{
	struct demo *d = layer;
	size_t len = strlen(d->text);

	(void)fh;
	if (node != GREETING)
		return -EISDIR;
#ifdef DEMO_CRASH
	raise(SIGKILL);
#endif
	if (off >= len)
		return 0;
	if (size > len - off)
		size = len - off;
	memcpy(buf, d->text + off, size);
	return (ssize_t)size;
}
#endif

static ssize_t demo_listxattr(void *layer, uint64_t node, char *list, size_t size)
{
	static const char names[] = "user.demo";

	(void)layer;
	if (node != SUB)
		return 0;
	if (size == 0)
		return sizeof(names);
	if (size < sizeof(names))
		return -ERANGE;
	memcpy(list, names, sizeof(names));
	return sizeof(names);
}

static ssize_t demo_getxattr(void *layer, uint64_t node, const char *name, void *value,
			     size_t size)
{
	(void)layer;
	if (node != SUB || strcmp(name, "user.demo"))
		return -ENODATA;
	if (size == 0)
		return 3;
	if (size < 3)
		return -ERANGE;
	memcpy(value, "yes", 3);
	return 3;
}

static const struct fuse_overlayfs_plugin demo = {
	.abi = DEMO_ABI,
	.size = sizeof(struct fuse_overlayfs_plugin),
	.name = "demo",
	.load = demo_load,
	.release = demo_release,
	.lookup = demo_lookup,
	.getattr = demo_getattr,
	.readdir = demo_readdir,
	.readlink = demo_readlink,
#ifndef DEMO_NO_READ
	.read = demo_read,
#endif
	.listxattr = demo_listxattr,
	.getxattr = demo_getxattr,
};

#ifndef DEMO_NO_ENTRY
const struct fuse_overlayfs_plugin *fuse_overlayfs_plugin_entry(void)
{
	return &demo;
}
#else
/* what a fuse-overlayfs 1.x plugin exports instead */
int plugin_version(void)
{
	return demo.abi;
}
#endif
