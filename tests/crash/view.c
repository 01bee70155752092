/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crashview DIR: the view of a merged tree that tests/crash.bats compares
 * (in C: find, md5sum, stat and getfattr take ten times as long, and it
 * runs twice per crash point).  One line per name below DIR, sorted (C
 * locale), paths relative to DIR:
 *
 *   PATH d MODE UID:GID
 *   PATH f MODE UID:GID size=SIZE nlink=N HASH mtime=T
 *   PATH l UID:GID -> TARGET mtime=T
 *   PATH c|b|p|s MODE UID:GID [rdev=MAJ:MIN] nlink=N mtime=T
 *
 * MODE in octal as find's %m, HASH a 64-bit FNV-1a of the content, T the
 * mtime in seconds when before 2011 (the fixtures' times) or "new";
 * " xattrs{NAME=0xHEX;...}" is appended for user.* xattrs but the
 * overlay's own (user.overlay.*, user.fuseoverlayfs.*, user.containers.*),
 * and for POSIX ACLs (system.posix_acl_access, system.posix_acl_default).
 * Then one "same-file: PATH PATH..." line per inode of several names.
 * Exit 1 (with a message on stderr) when something cannot be read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct ent {
	char *line;
	char *path;
	dev_t dev;
	ino_t ino;
	int is_dir;
};

static struct ent *ents;
static size_t nents, cap;
static size_t root_len;
static int failed;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		perror("crashview");
		exit(2);
	}
	return p;
}

static int append(char **buf, size_t *len, size_t *bcap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char **buf, size_t *len, size_t *bcap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *bcap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < *bcap - *len) {
			*len += (size_t)n;
			return 0;
		}
		*bcap = (*bcap + (size_t)n) * 2;
		*buf = xrealloc(*buf, *bcap);
	}
}

static int hash_file(const char *path, uint64_t *h)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	*h = 1469598103934665603ULL;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			*h ^= (unsigned char)buf[i];
			*h *= 1099511628211ULL;
		}
	close(fd);
	return n < 0 ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_xattrs(const char *path, char **buf, size_t *len, size_t *bcap)
{
	char list[65536], val[65536];
	char *names[512];
	size_t nn = 0;
	ssize_t l = llistxattr(path, list, sizeof(list));
	int first = 1;

	if (l < 0) {
		if (errno != ENOTSUP && errno != ENODATA) {
			fprintf(stderr, "crashview: llistxattr %s: %s\n", path, strerror(errno));
			failed = 1;
		}
		return;
	}
	for (char *p = list; p < list + l && nn < 512; p += strlen(p) + 1) {
		bool acl = !strncmp(p, "system.posix_acl_", 17);

		if (!acl && (strncmp(p, "user.", 5) || !strncmp(p, "user.overlay.", 13) ||
			     !strncmp(p, "user.fuseoverlayfs.", 19) ||
			     !strncmp(p, "user.containers.", 16)))
			continue;
		names[nn++] = p;
	}
	qsort(names, nn, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < nn; i++) {
		ssize_t v = lgetxattr(path, names[i], val, sizeof(val));
		if (v < 0) {
			fprintf(stderr, "crashview: lgetxattr %s %s: %s\n", path, names[i],
				strerror(errno));
			failed = 1;
			continue;
		}
		append(buf, len, bcap, "%s%s=0x", first ? " xattrs{" : ";", names[i]);
		for (ssize_t j = 0; j < v; j++)
			append(buf, len, bcap, "%02x", (unsigned char)val[j]);
		first = 0;
	}
	if (!first)
		append(buf, len, bcap, "}");
}

static void mtime(const struct stat *st, char **buf, size_t *len, size_t *bcap)
{
	if (st->st_mtim.tv_sec < 1300000000)
		append(buf, len, bcap, " mtime=%lld", (long long)st->st_mtim.tv_sec);
	else
		append(buf, len, bcap, " mtime=new");
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t bcap = 256, len = 0;
	char *buf = xrealloc(NULL, bcap);
	const char *rel = path + root_len + 1;
	unsigned mode = st->st_mode & 07777;
	char owner[64];

	if (ftw->level == 0) {
		free(buf);
		return 0;
	}
	if (flag == FTW_NS || flag == FTW_DNR) {
		fprintf(stderr, "crashview: cannot read %s\n", path);
		failed = 1;
	}
	snprintf(owner, sizeof(owner), "%u:%u", (unsigned)st->st_uid, (unsigned)st->st_gid);
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		append(&buf, &len, &bcap, "%s d %o %s", rel, mode, owner);
		break;
	case S_IFREG: {
		uint64_t h;
		if (hash_file(path, &h) < 0) {
			fprintf(stderr, "crashview: cannot read %s: %s\n", path, strerror(errno));
			failed = 1;
		}
		append(&buf, &len, &bcap, "%s f %o %s size=%lld nlink=%lu %016llx", rel, mode, owner,
		       (long long)st->st_size, (unsigned long)st->st_nlink, (unsigned long long)h);
		mtime(st, &buf, &len, &bcap);
		break;
	}
	case S_IFLNK: {
		char target[4097];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0) {
			fprintf(stderr, "crashview: readlink %s: %s\n", path, strerror(errno));
			failed = 1;
			n = 0;
		}
		target[n] = 0;
		append(&buf, &len, &bcap, "%s l %s -> %s", rel, owner, target);
		mtime(st, &buf, &len, &bcap);
		break;
	}
	default: {
		char t = S_ISCHR(st->st_mode) ? 'c' : S_ISBLK(st->st_mode) ? 'b' :
			 S_ISFIFO(st->st_mode) ? 'p' : 's';
		append(&buf, &len, &bcap, "%s %c %o %s", rel, t, mode, owner);
		if (t == 'c' || t == 'b')
			append(&buf, &len, &bcap, " rdev=%x:%x", major(st->st_rdev),
			       minor(st->st_rdev));
		append(&buf, &len, &bcap, " nlink=%lu", (unsigned long)st->st_nlink);
		mtime(st, &buf, &len, &bcap);
		break;
	}
	}
	add_xattrs(path, &buf, &len, &bcap);
	if (nents == cap) {
		cap = cap ? cap * 2 : 256;
		ents = xrealloc(ents, cap * sizeof(*ents));
	}
	ents[nents].line = buf;
	ents[nents].path = strdup(rel);
	ents[nents].dev = st->st_dev;
	ents[nents].ino = st->st_ino;
	ents[nents].is_dir = S_ISDIR(st->st_mode);
	nents++;
	return 0;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->path, y->path);
}

int main(int argc, char **argv)
{
	char **lines;
	size_t nlines = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: crashview DIR\n");
		return 2;
	}
	root_len = strlen(argv[1]);
	while (root_len > 1 && argv[1][root_len - 1] == '/')
		argv[1][--root_len] = 0;
	if (nftw(argv[1], visit, 64, FTW_PHYS) < 0) {
		fprintf(stderr, "crashview: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	lines = xrealloc(NULL, (nents * 2 + 1) * sizeof(*lines));
	for (size_t i = 0; i < nents; i++)
		lines[nlines++] = ents[i].line;
	/* names of one inode: same-file lines */
	qsort(ents, nents, sizeof(*ents), cmp_ino);
	for (size_t i = 0; i < nents;) {
		size_t j = i + 1;
		while (j < nents && !ents[j].is_dir && ents[j].dev == ents[i].dev &&
		       ents[j].ino == ents[i].ino)
			j++;
		if (!ents[i].is_dir && j - i > 1) {
			size_t bcap = 64, len = 0;
			char *buf = xrealloc(NULL, bcap);
			append(&buf, &len, &bcap, "same-file:");
			for (size_t k = i; k < j; k++)
				append(&buf, &len, &bcap, " %s", ents[k].path);
			lines[nlines++] = buf;
		}
		i = j;
	}
	qsort(lines, nlines, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < nlines; i++)
		puts(lines[i]);
	return failed;
}
