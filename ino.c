/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode numbers the mount reports.  FUSE gives the whole mount one
 * st_dev, so numbers must be unique across the layers' filesystems on
 * their own:
 *  - xino: with layers on more than one filesystem, the top xino_bits of
 *    st_ino hold the index of the object's filesystem (fsid), the rest its
 *    own number; a number too big for that gets one from a per-mount map
 *    under a reserved fsid (unique, but only for this mount);
 *  - a copied-up file keeps the number it had below (as overlayfs does
 *    through its origin file handle): copy-up records the lower object's
 *    (fsid, inode number) on the copy, in an xattr of our own that kernel
 *    overlayfs ignores, and marks the parent "impure" so that readdir knows
 *    which directories hold such copies.  A lower file with more than one
 *    link gets no record: its other names stay lower files of their own,
 *    and must not share a number with the copy.
 *  - ino32_t folds the result into 32 bits (not unique; the user's choice).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "ovl.h"

#define ORIGIN_VERSION 1

struct ovl_ino_entry {
	uint64_t real;
	uint64_t value;   /* 0: empty slot */
	unsigned int fsid;
};

struct ovl_ino_map {
	pthread_mutex_t lock;
	struct ovl_ino_entry *ents;
	size_t size, count;
	uint64_t next;
};

static size_t entry_hash(unsigned int fsid, uint64_t real)
{
	uint64_t h = (real ^ ((uint64_t)fsid << 56)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 31));
}

static struct ovl_ino_entry *map_slot(struct ovl_ino_map *m, unsigned int fsid, uint64_t real)
{
	size_t mask = m->size - 1;

	for (size_t i = entry_hash(fsid, real) & mask;; i = (i + 1) & mask) {
		struct ovl_ino_entry *e = &m->ents[i];
		if (!e->value || (e->fsid == fsid && e->real == real))
			return e;
	}
}

static int map_grow(struct ovl_ino_map *m)
{
	size_t old_size = m->size, size = old_size ? old_size * 2 : 64;
	struct ovl_ino_entry *old = m->ents, *ents = calloc(size, sizeof(*ents));

	if (!ents)
		return -ENOMEM;
	m->ents = ents;
	m->size = size;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].value)
			*map_slot(m, old[i].fsid, old[i].real) = old[i];
	free(old);
	return 0;
}

/* The number of an object whose own does not fit beside its fsid. */
static uint64_t overflow_ino(struct ovl_fs *fs, unsigned int fsid, uint64_t real,
			     unsigned int shift)
{
	struct ovl_ino_map *m = fs->overflow;
	struct ovl_ino_entry *e;
	uint64_t value = 0;

	pthread_mutex_lock(&m->lock);
	if ((m->count + 1) * 2 <= m->size || map_grow(m) == 0) {
		e = map_slot(m, fsid, real);
		if (!e->value) {
			/* the reserved fsid, nfsids, marks the mapped numbers */
			e->value = ((uint64_t)fs->nfsids << shift) | ++m->next;
			e->fsid = fsid;
			e->real = real;
			m->count++;
		}
		value = e->value;
	}
	pthread_mutex_unlock(&m->lock);
	/* without memory: the plain number, as xino=off would give */
	return value ? value : real;
}

static ino_t map_fsid(struct ovl_fs *fs, unsigned int fsid, ino_t real)
{
	uint64_t ino = real;

	if (fs->xino_bits) {
		unsigned int shift = 64 - fs->xino_bits;
		if (ino >> shift)
			ino = overflow_ino(fs, fsid, ino, shift);
		else
			ino |= (uint64_t)fsid << shift;
	}
	if (fs->cfg->ino32)
		ino = (ino ^ (ino >> 32)) & 0xffffffffu;
	return (ino_t)ino;
}

ino_t ovl_map_ino(struct ovl_fs *fs, int layer, ino_t real)
{
	return map_fsid(fs, fs->layers[layer].fsid, real);
}

/* The origin record of (dirfd, name): 0 and the number it keeps, or -1. */
static int read_origin(struct ovl_fs *fs, int dirfd, const char *name, ino_t *ino)
{
	char path[NAME_MAX + 40], buf[64];
	unsigned int version, fsid;
	uint64_t real;
	ssize_t len;
	int used = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	len = lgetxattr(path, fs->origin_xattr, buf, sizeof(buf) - 1);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	if (sscanf(buf, "%u:%u:%" SCNu64 "%n", &version, &fsid, &real, &used) != 3 ||
	    used != len || version != ORIGIN_VERSION || fsid >= fs->nfsids)
		return -1;   /* not ours, or from another layer stack */
	*ino = map_fsid(fs, fsid, (ino_t)real);
	return 0;
}

ino_t ovl_entry_ino(struct ovl_fs *fs, int layer, int dirfd, const char *name, bool is_dir,
		    bool impure, ino_t real)
{
	ino_t ino;

	if (!is_dir && impure && layer == 0 && fs->has_upper && fs->origin_xattr &&
	    read_origin(fs, dirfd, name, &ino) == 0)
		return ino;
	return ovl_map_ino(fs, layer, real);
}

int ovl_set_origin(struct ovl_fs *fs, int fd, int layer, const struct stat *st)
{
	struct ovl_procpath p;
	char buf[64];
	int len;

	if (!fs->origin_xattr || st->st_nlink > 1 || S_ISDIR(st->st_mode))
		return 0;
	len = snprintf(buf, sizeof(buf), "%u:%u:%" PRIu64, ORIGIN_VERSION,
		       fs->layers[layer].fsid, (uint64_t)st->st_ino);
	/* symlinks and devices refuse user.* xattrs: they keep no record
	 * (their number changes after a remount, as with no xattrs at all) */
	if (setxattr(ovl_procpath(&p, fd), fs->origin_xattr, buf, (size_t)len, 0) == 0)
		return 1;
	return errno == EPERM || errno == EOPNOTSUPP ? 0 : -errno;
}

int ovl_ino_init(struct ovl_fs *fs)
{
	fs->overflow = calloc(1, sizeof(*fs->overflow));
	if (!fs->overflow)
		return -ENOMEM;
	pthread_mutex_init(&fs->overflow->lock, NULL);
	return 0;
}

void ovl_ino_destroy(struct ovl_fs *fs)
{
	if (!fs->overflow)
		return;
	pthread_mutex_destroy(&fs->overflow->lock);
	free(fs->overflow->ents);
	free(fs->overflow);
	fs->overflow = NULL;
}
