/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Merged directory listings.  At opendir (and on rewind) the layers the
 * directory spans are read top down into one snapshot: the first entry of a
 * name wins, whiteouts of either form hide the name below, markers are
 * never shown.  Offsets are positions in the snapshot, so they stay valid
 * across calls.  A hash set of names keeps the merge linear in the number
 * of entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

struct dir_entry {
	char *name;
	ino_t ino;
	unsigned char type;  /* DT_* */
	bool hidden;         /* whited out: remembered only to hide lower names */
	bool merge_done;     /* a directory's ino is final: a lower one taken, or
			      * merging stopped (opaque, or a non-directory below) */
	int layer;
};

struct dir_handle {
	struct ovl_handle h;  /* first: OVL_HANDLE_DIR */
	struct ovl_inode *dir; /* with a reference */
	pthread_mutex_t lock;
	struct dir_entry *ents;
	size_t n, cap;
	size_t *set;          /* open addressing: index + 1 into ents, 0 = empty */
	size_t set_size;
	bool loaded;
};

static size_t str_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static struct dir_entry *set_find(struct dir_handle *h, const char *name, size_t **slot)
{
	size_t mask = h->set_size - 1;

	for (size_t i = str_hash(name) & mask;; i = (i + 1) & mask) {
		if (!h->set[i]) {
			*slot = &h->set[i];
			return NULL;
		}
		if (!strcmp(h->ents[h->set[i] - 1].name, name))
			return &h->ents[h->set[i] - 1];
	}
}

static int set_grow(struct dir_handle *h)
{
	size_t size = h->set_size ? h->set_size * 2 : 64;
	size_t *set = calloc(size, sizeof(*set));

	if (!set)
		return -ENOMEM;
	free(h->set);
	h->set = set;
	h->set_size = size;
	for (size_t i = 0; i < h->n; i++) {
		size_t *slot;
		set_find(h, h->ents[i].name, &slot);
		*slot = i + 1;
	}
	return 0;
}

static int add_entry(struct dir_handle *h, const char *name, ino_t ino, unsigned char type,
		     bool hidden, int layer)
{
	size_t *slot;

	if ((h->n + 1) * 2 > h->set_size && set_grow(h) < 0)
		return -ENOMEM;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct dir_entry *e = realloc(h->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		h->ents = e;
		h->cap = cap;
	}
	set_find(h, name, &slot);
	h->ents[h->n] = (struct dir_entry){
		.name = strdup(name), .ino = ino, .type = type, .hidden = hidden, .layer = layer,
	};
	if (!h->ents[h->n].name)
		return -ENOMEM;
	*slot = ++h->n;
	return 0;
}

static void clear_entries(struct dir_handle *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->ents[i].name);
	h->n = 0;
	if (h->set)
		memset(h->set, 0, h->set_size * sizeof(*h->set));
}

/* The name seen again in lower layer k: a merged directory reports the
 * inode number of its topmost lower directory (as lookup does), unless its
 * upper is opaque; a non-directory below ends the merge. */
static int merge_dir_ino(struct ovl_fs *fs, struct dir_entry *e, int dirfd_top, int k,
			 unsigned char type, ino_t lower)
{
	struct ovl_dir_marks marks = { false, false };

	if (e->type != DT_DIR || e->merge_done)
		return 0;
	e->merge_done = true;
	if (type != DT_DIR || !ovl_layer_is_lower(fs, k))
		return 0;
	if (e->layer == 0 && fs->has_upper) {
		int fd = openat(dirfd_top, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int ret = fd < 0 ? -errno : ovl_dir_marks(fs, fd, &marks);
		if (fd >= 0)
			close(fd);
		if (ret == -ENOENT)
			return 0;   /* gone meanwhile: listed as it was */
		if (ret < 0)
			return ret;
	}
	if (!marks.opaque)
		e->ino = ovl_map_ino(fs, k, lower);
	return 0;
}

static int read_layer(struct ovl_fs *fs, struct dir_handle *h, int dirfd, int k, int topfd,
		      bool impure)
{
	struct dirent *de;
	DIR *dir;
	int fd, ret = 0;

	fd = ovl_open_at(dirfd, ".", O_RDONLY | O_DIRECTORY | ovl_noatime_flag(fs, k, true));
	if (fd < 0)
		return fd;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while (ret == 0 && (errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		unsigned char type = de->d_type;
		struct dir_entry *e;
		size_t *slot;
		bool hidden = false;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (ovl_is_wh_name(name)) {
			/* .wh.NAME hides NAME below; .wh..wh..opq is a marker */
			if (!strcmp(name, ".wh..wh..opq"))
				continue;
			name += 4;
			hidden = true;
		}
		e = set_find(h, name, &slot);
		if (e && !(e->hidden && e->layer == k && !hidden)) {
			if (!hidden)
				ret = merge_dir_ino(fs, e, topfd, k, type, de->d_ino);
			continue;
		}
		if (!hidden && (type == DT_CHR || type == DT_UNKNOWN)) {
			struct stat st;
			if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno != ENOENT)
					ret = -errno;
				continue; /* gone meanwhile */
			}
			hidden = ovl_is_whiteout(&st);
			type = (unsigned char)IFTODT(st.st_mode);
		}
		ino_t ino = hidden ? 0 : ovl_entry_ino(fs, k, dirfd, name, type == DT_DIR, impure,
						       de->d_ino);
		if (e) {
			/* an entry beside its own .wh. file in one layer (a
			 * rename cut short): the entry wins, as in lookup */
			*e = (struct dir_entry){ .name = e->name, .ino = ino, .type = type,
						 .hidden = hidden, .layer = k };
		} else {
			ret = add_entry(h, name, ino, type, hidden, k);
			e = ret == 0 ? &h->ents[h->n - 1] : NULL;
		}
		if (e && !hidden && type == DT_DIR && ovl_layer_is_lower(fs, k))
			e->merge_done = true;
	}
	if (ret == 0 && errno)
		ret = -errno;
	closedir(dir);
	return ret;
}

static int load(struct ovl_fs *fs, struct ovl_inode *dir, struct dir_handle *h)
{
	int topfd = -1, ret = 0;
	OVL_DFD top = { .fd = -1 };

	clear_entries(h);
	if (!h->set && set_grow(h) < 0)
		return -ENOMEM;
	for (int k = 0; k < fs->nlayers && ret == 0; k++) {
		OVL_DFD d = { .fd = -1 };

		if (!ovl_dir_in_layer(dir, k))
			continue;
		ret = ovl_dir_fd(dir, k, &d);
		if (ret < 0)
			break;   /* a layer that cannot be read is not empty */
		if (topfd < 0) {
			/* keep the topmost layer's fd for the opaque checks */
			top = d;
			d.owned = false;
			topfd = top.fd;
		}
		ret = read_layer(fs, h, d.fd, k, topfd, k == 0 && atomic_load(&dir->dir->impure));
	}
	ovl_dfd_put(&top);
	h->loaded = ret == 0;
	return ret;
}

int ovl_dir_is_empty(struct ovl_inode *dir)
{
	struct dir_handle h = { .loaded = false };
	int ret = load(dir->fs, dir, &h);

	for (size_t i = 0; ret == 0 && i < h.n; i++)
		if (!h.ents[i].hidden)
			ret = -ENOTEMPTY;
	clear_entries(&h);
	free(h.ents);
	free(h.set);
	return ret;
}

static void dir_handle_free(struct ovl_handle *hh, bool connected);

void ovl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_inode *n;
	struct dir_handle *h;

	ovl_debug("opendir ino=%lu", (unsigned long)ino);
	if (!(n = ovl_req_dir(req, ino)))
		return;
	h = calloc(1, sizeof(*h));
	if (!h) {
		ovl_inode_put(n);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->h.kind = OVL_HANDLE_DIR;
	h->h.free = dir_handle_free;
	h->dir = n;   /* our reference, dropped with the handle */
	pthread_mutex_init(&h->lock, NULL);
	fi->fh = ovl_handle_add(&fs->handles, &h->h);
	if (!fi->fh) {
		dir_handle_free(&h->h, true);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The kernel keeps the listing, across opens, as it keeps names and
	 * attributes (timeout=): it drops it itself when a change goes
	 * through the mount or the directory's mtime moves; a copy-up that
	 * gives a file a new number drops it from there (itable.c). */
	fi->cache_readdir = fi->keep_cache = fs->timeout > 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		ovl_handle_put(ovl_handle_remove(&fs->handles, fi->fh, OVL_HANDLE_DIR));
}

/* Positions 0 and 1 are "." and ".."; entry i of the snapshot is at i + 2,
 * hidden ones skipped. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_handle *hh = ovl_handle_get(&fs->handles, fi->fh, OVL_HANDLE_DIR);
	struct dir_handle *h = (struct dir_handle *)hh;
	struct ovl_inode *dir;
	char *buf, *p;
	size_t left = size;
	int ret = 0;

	ovl_debug("readdir%s ino=%lu off=%ld size=%zu", plus ? "plus" : "", (unsigned long)ino,
		  (long)off, size);
	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	dir = h->dir;
	buf = malloc(size);
	if (!buf) {
		ovl_handle_put(hh);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	pthread_mutex_lock(&h->lock);
	if (off == 0 || !h->loaded)
		ret = load(fs, dir, h);
	for (size_t pos = (size_t)off; ret == 0 && pos < h->n + 2; pos++) {
		struct stat st = { 0 };
		const char *name;
		size_t len;

		if (pos < 2) {
			name = pos == 0 ? "." : "..";
			st.st_ino = dir->ino;
			st.st_mode = S_IFDIR;
		} else {
			struct dir_entry *e = &h->ents[pos - 2];
			if (e->hidden)
				continue;
			name = e->name;
			st.st_ino = e->ino;
			st.st_mode = (mode_t)DTTOIF(e->type);
		}
		if (!plus) {
			len = fuse_add_direntry(req, p, left, name, &st, (off_t)pos + 1);
		} else {
			struct fuse_entry_param ep = { .attr = st };
			bool looked_up = false;
			if (pos >= 2 && ovl_lookup_entry(dir, name, &ep) == 0)
				looked_up = true;
			else if (pos >= 2)
				continue; /* vanished since the snapshot */
			len = fuse_add_direntry_plus(req, p, left, name, &ep, (off_t)pos + 1);
			if (len > left && looked_up) {
				struct ovl_inode *n = ovl_inode_get(fs, ep.ino);
				if (n) {
					ovl_inode_forget(n, 1);
					ovl_inode_put(n);
				}
			}
		}
		if (len > left)
			break;
		p += len;
		left -= len;
	}
	pthread_mutex_unlock(&h->lock);
	ovl_handle_put(hh);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, size - left);
	free(buf);
}

void ovl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void ovl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void dir_handle_free(struct ovl_handle *hh, bool connected)
{
	struct dir_handle *h = (struct dir_handle *)hh;

	(void)connected;
	clear_entries(h);
	free(h->ents);
	free(h->set);
	ovl_inode_put(h->dir);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void ovl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_handle *h = ovl_handle_remove(&fs->handles, fi->fh, OVL_HANDLE_DIR);

	ovl_debug("releasedir ino=%lu", (unsigned long)ino);
	ovl_handle_put(h);
	fuse_reply_err(req, h ? 0 : EBADF);
}

void ovl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	OVL_DFD d = { .fd = -1 };
	int ret = 0;

	(void)fi;
	ovl_debug("fsyncdir ino=%lu", (unsigned long)ino);
	if (!(n = ovl_req_dir(req, ino)))
		return;
	if (fs->cfg->fsync && !fs->cfg->volatile_mode && ovl_inode_is_upper(n) &&
	    ovl_dir_fd(n, 0, &d) == 0 && (datasync ? fdatasync(d.fd) : fsync(d.fd)) < 0)
		ret = errno;
	fuse_reply_err(req, ret);
}
