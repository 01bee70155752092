/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_tar: the tar plugin (plugins/tar/) on hostile archives.  Each input
 * is a layer file (plain tar, gzip or zstd: the plugin tells them by their
 * magic bytes); the harness writes it to a memfd, load()s it through
 * /proc/self/fd/N and, when that succeeds, walks the whole tree as the
 * daemon would: readdir of every directory (resumed from every cookie
 * once), lookup and getattr of every name, readlink, listxattr and
 * getxattr of every xattr (with too-small buffers too), open and read of
 * every regular file in pieces at several offsets (backwards too, to
 * exercise the decompression checkpoints), statfs; then release().
 *
 * The plugin's sources (the .c files of plugins/tar/) are compiled into
 * the fuzzer, e.g. from the top of the tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Iplugins tests/fuzz/fuzz_tar.c plugins/tar/tar.c \
 *       plugins/tar/index.c plugins/tar/stream.c -lz -lzstd -o fuzz_tar
 *
 * Seeds: tests/fuzz/corpus/tar/ (small archives made with GNU tar).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse-overlayfs/plugin.h>

#define MAX_DEPTH 64
#define MAX_NODES 4096
#define MAX_READ (256 * 1024)

struct walk {
	const struct fuse_overlayfs_plugin *p;
	void *layer;
	unsigned visited;
	char *buf;
};

struct names {
	char name[256];
	uint64_t node;
	uint64_t next;
	unsigned n;
	unsigned max;
};

/* Keeps the first entry offered and stops; counts how many were. */
static int
take_one(void *ctx, const char *name, uint64_t node, mode_t type, uint64_t next)
{
	struct names *l = ctx;

	(void) type;
	if (l->n == l->max)
		return 1;
	if (strlen(name) >= sizeof(l->name) || name[0] == '\0')
		abort();
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->node = node;
	l->next = next;
	l->n++;
	return 0;
}

static void
check_xattrs(struct walk *w, uint64_t node)
{
	char list[4096];
	ssize_t need = w->p->listxattr(w->layer, node, NULL, 0);
	ssize_t got;

	if (need <= 0)
		return;
	if (need > 1 && w->p->listxattr(w->layer, node, list, (size_t) need - 1) != -ERANGE)
		abort();
	if ((size_t) need > sizeof(list))
		return;
	got = w->p->listxattr(w->layer, node, list, sizeof(list));
	if (got != need || list[got - 1] != '\0')
		abort();
	for (ssize_t off = 0; off < got; off += (ssize_t) strlen(list + off) + 1) {
		ssize_t vlen = w->p->getxattr(w->layer, node, list + off, NULL, 0);

		if (vlen < 0 || vlen > MAX_READ)
			abort();
		if (w->p->getxattr(w->layer, node, list + off, w->buf, (size_t) vlen) != vlen)
			abort();
		if (vlen > 0 && w->p->getxattr(w->layer, node, list + off, w->buf, (size_t) vlen - 1) != -ERANGE)
			abort();
	}
	if (w->p->getxattr(w->layer, node, "user.no-such-name", w->buf, 16) != -ENODATA)
		abort();
}

/* Reads the file in pieces forwards, then a few pieces backwards. */
static void
check_read(struct walk *w, uint64_t node, const struct stat *st)
{
	uint64_t fh = 0, off = 0;
	uint64_t size = (uint64_t) st->st_size;

	if (w->p->open && w->p->open(w->layer, node, &fh) < 0)
		return;
	while (off < size && off < 4 * MAX_READ) {
		ssize_t r = w->p->read(w->layer, node, fh, w->buf, 65536, off);

		if (r <= 0)
			break;
		off += (uint64_t) r;
	}
	for (int i = 3; i >= 0; i--) {
		uint64_t at = size / 4 * (uint64_t) i;
		ssize_t r = w->p->read(w->layer, node, fh, w->buf, 4096, at);

		if (r > 4096)
			abort();
	}
	if (w->p->read(w->layer, node, fh, w->buf, 16, size) > 0)
		abort();
	if (w->p->close)
		w->p->close(w->layer, node, fh);
}

static void walk_dir(struct walk *w, uint64_t dir, int depth);

static void
visit(struct walk *w, uint64_t dir, const char *name, uint64_t listed, int depth)
{
	uint64_t node;
	struct stat st, st2;

	if (w->p->lookup(w->layer, dir, name, &node, &st) < 0)
		abort(); /* readdir listed it */
	if (node != listed || node == 0 || w->p->getattr(w->layer, node, &st2) < 0 || st.st_ino != st2.st_ino)
		abort();
	check_xattrs(w, node);
	if (S_ISLNK(st.st_mode)) {
		ssize_t r = w->p->readlink(w->layer, node, w->buf, MAX_READ);

		if (r < 0 || r != st.st_size)
			abort();
		w->p->readlink(w->layer, node, w->buf, 1);
	} else if (S_ISREG(st.st_mode)) {
		check_read(w, node, &st);
	} else if (S_ISDIR(st.st_mode)) {
		walk_dir(w, node, depth + 1);
	}
}

static void
walk_dir(struct walk *w, uint64_t dir, int depth)
{
	uint64_t cookie = 0;

	if (depth > MAX_DEPTH)
		return;
	for (;;) {
		struct names l = { .max = 1 };

		if (w->visited++ > MAX_NODES)
			return;
		if (w->p->readdir(w->layer, dir, cookie, take_one, &l) < 0)
			abort();
		if (l.n == 0)
			break;
		if (l.next <= cookie)
			abort(); /* cookies must move on */
		cookie = l.next;
		visit(w, dir, l.name, l.node, depth);
	}
	/* a name that is not there */
	uint64_t node;
	struct stat st;
	if (w->p->lookup(w->layer, dir, "no such name\x01", &node, &st) != -ENOENT)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuse_overlayfs_plugin *p = fuse_overlayfs_plugin_entry();
	char path[64], why[256];
	void *layer;
	uint64_t root;
	int fd = memfd_create("fuzz_tar", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t) size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (p->load("-", path, &layer, &root, why, sizeof(why)) == 0) {
		struct walk w = { .p = p, .layer = layer, .buf = malloc(MAX_READ) };
		struct stat st;
		struct statvfs sv;

		if (w.buf == NULL || p->getattr(layer, root, &st) < 0 || !S_ISDIR(st.st_mode))
			abort();
		walk_dir(&w, root, 0);
		p->getattr(layer, 0, &st);
		p->getattr(layer, UINT64_MAX, &st);
		if (p->statfs)
			p->statfs(layer, &sv);
		free(w.buf);
		p->release(layer);
	} else if (memchr(why, '\0', sizeof(why)) == NULL) {
		abort();
	}
	close(fd);
	return 0;
}
