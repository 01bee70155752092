/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table (see ovl.h for the model): every inode the kernel knows
 * by its FUSE id (utils/idtable.c: a forged or stale id misses); those
 * with an upper object also by that object's inode number; their names,
 * the dentries, by (parent, name).
 *
 * fs->table_lock guards the three maps, the alias lists, nlookup and
 * real_ino; it is held for memory work only, never across a system call.
 *
 * Lifetime: an inode lives while the kernel holds lookups on it (nlookup)
 * or something holds a reference (refs: a request working on it, an open
 * file or directory, a dentry of one of its children).  When both are zero
 * it leaves the table with its dentries, which release their parents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovl.h"

/* ------------------------------------------------------------ hashes */

static size_t name_hash(const struct ovl_inode *parent, const char *name)
{
	/* FNV-1a over the name, seeded with the parent's id. */
	uint64_t h = 1469598103934665603ULL ^ parent->id;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static size_t ino_hash(ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 32));
}

static struct ovl_dentry **dentry_bucket(struct ovl_fs *fs, const struct ovl_inode *parent,
					 const char *name)
{
	return &fs->dhash[name_hash(parent, name) & (fs->dhash_size - 1)];
}

static struct ovl_inode **inode_bucket(struct ovl_fs *fs, ino_t ino)
{
	return &fs->uhash[ino_hash(ino) & (fs->uhash_size - 1)];
}

/* Doubles a table when it is as full as it is long; without memory the
 * chains just grow longer, which is slower but still right. */
static void dhash_grow(struct ovl_fs *fs)
{
	size_t old_size = fs->dhash_size;
	struct ovl_dentry **old = fs->dhash;
	struct ovl_dentry **fresh = calloc(old_size * 2, sizeof(*fresh));

	if (!fresh)
		return;
	fs->dhash = fresh;
	fs->dhash_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		for (struct ovl_dentry *d = old[i], *next; d; d = next) {
			struct ovl_dentry **b = dentry_bucket(fs, d->parent, d->name);
			next = d->hnext;
			d->hnext = *b;
			*b = d;
		}
	}
	free(old);
}

static void uhash_grow(struct ovl_fs *fs)
{
	size_t old_size = fs->uhash_size;
	struct ovl_inode **old = fs->uhash;
	struct ovl_inode **fresh = calloc(old_size * 2, sizeof(*fresh));

	if (!fresh)
		return;
	fs->uhash = fresh;
	fs->uhash_size = old_size * 2;
	for (size_t i = 0; i < old_size; i++) {
		for (struct ovl_inode *n = old[i], *next; n; n = next) {
			struct ovl_inode **b = inode_bucket(fs, n->real_ino);
			next = n->hnext;
			n->hnext = *b;
			*b = n;
		}
	}
	free(old);
}

static struct ovl_dentry *dentry_lookup(struct ovl_fs *fs, const struct ovl_inode *parent,
					const char *name)
{
	for (struct ovl_dentry *d = *dentry_bucket(fs, parent, name); d; d = d->hnext)
		if (d->parent == parent && !strcmp(d->name, name))
			return d;
	return NULL;
}

static struct ovl_inode *upper_lookup(struct ovl_fs *fs, ino_t ino)
{
	for (struct ovl_inode *n = *inode_bucket(fs, ino); n; n = n->hnext)
		if (n->real_ino == ino)
			return n;
	return NULL;
}

static void upper_unhash(struct ovl_fs *fs, struct ovl_inode *n)
{
	if (!n->hashed)
		return;
	for (struct ovl_inode **p = inode_bucket(fs, n->real_ino); *p; p = &(*p)->hnext) {
		if (*p == n) {
			*p = n->hnext;
			break;
		}
	}
	n->hnext = NULL;
	n->hashed = false;
	fs->uhash_count--;
}

/* Hard links are for non-directories only: a directory is found by its
 * one name.  A new object with the number of one we still hold means that
 * one is gone (the filesystem reused its number): it loses the entry. */
static void upper_hash(struct ovl_fs *fs, struct ovl_inode *n)
{
	struct ovl_inode *old;

	if (ovl_is_dir(n) || n->hashed)
		return;
	old = upper_lookup(fs, n->real_ino);
	if (old)
		upper_unhash(fs, old);
	if (fs->uhash_count >= fs->uhash_size)
		uhash_grow(fs);
	struct ovl_inode **b = inode_bucket(fs, n->real_ino);
	n->hnext = *b;
	*b = n;
	n->hashed = true;
	fs->uhash_count++;
}

/* ------------------------------------------------------------ inodes */

struct ovl_inode *ovl_inode_alloc(struct ovl_fs *fs, mode_t type)
{
	struct ovl_inode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->fs = fs;
	n->type = type & S_IFMT;
	ovl_list_init(&n->aliases);
	atomic_init(&n->orphan_fd, -1);
	pthread_mutex_init(&n->copyup_lock, NULL);
	pthread_mutex_init(&n->io_lock, NULL);
	if (S_ISDIR(type)) {
		n->dir = calloc(1, sizeof(*n->dir));
		if (n->dir)
			n->dir->fds = malloc(sizeof(*n->dir->fds) * (size_t)fs->nlayers);
		if (!n->dir || !n->dir->fds) {
			ovl_inode_free(n);
			return NULL;
		}
		pthread_rwlock_init(&n->dir->lock, NULL);
		for (int i = 0; i < fs->nlayers; i++)
			atomic_init(&n->dir->fds[i], OVL_FD_ABSENT);
	}
	return n;
}

void ovl_inode_free(struct ovl_inode *n)
{
	int fd;

	if (!n)
		return;
	if (n->dir && n->dir->fds) {
		for (int i = 0; i < n->fs->nlayers; i++) {
			fd = atomic_load(&n->dir->fds[i]);
			if (fd >= 0) {
				close(fd);
				atomic_fetch_sub(&n->fs->cached_fds, 1);
			}
		}
		pthread_rwlock_destroy(&n->dir->lock);
		free(n->dir->fds);
	}
	free(n->dir);
	fd = atomic_load(&n->orphan_fd);
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&n->copyup_lock);
	pthread_mutex_destroy(&n->io_lock);
	free(n->old_id);
	free(n);
}

int ovl_itable_init(struct ovl_fs *fs, struct ovl_inode *root)
{
	pthread_rwlock_init(&fs->table_lock, NULL);
	pthread_mutex_init(&fs->rename_lock, NULL);
	fs->dhash_size = fs->uhash_size = 1024;
	fs->dhash = calloc(fs->dhash_size, sizeof(*fs->dhash));
	fs->uhash = calloc(fs->uhash_size, sizeof(*fs->uhash));
	uint64_t id;

	if (!fs->dhash || !fs->uhash || ovl_id_add(&fs->ids, root, &id) < 0) {
		free(fs->dhash);
		free(fs->uhash);
		fs->dhash = NULL;
		fs->uhash = NULL;
		return -ENOMEM;
	}
	atomic_init(&root->id, id);
	/* the kernel never forgets the root */
	atomic_init(&root->nlookup, 1);
	atomic_init(&root->refs, 1);
	fs->root = root;
	return 0;
}

void ovl_itable_destroy(struct ovl_fs *fs)
{
	for (size_t i = 0; fs->dhash && i < fs->dhash_size; i++) {
		for (struct ovl_dentry *d = fs->dhash[i], *next; d; d = next) {
			next = d->hnext;
			free(d);
		}
	}
	/* an inode with an old id too is in two slots: that one goes first */
	for (uint32_t i = 0; i < fs->ids.nslots; i++) {
		struct ovl_inode *n = fs->ids.slots[i];
		if (n && n->old_id)
			fs->ids.slots[(uint32_t)n->old_id->id] = NULL;
	}
	for (uint32_t i = 0; i < fs->ids.nslots; i++)
		ovl_inode_free(fs->ids.slots[i]);
	ovl_id_destroy(&fs->ids);
	free(fs->dhash);
	free(fs->uhash);
	pthread_rwlock_destroy(&fs->table_lock);
	pthread_mutex_destroy(&fs->rename_lock);
}

struct ovl_inode *ovl_inode_get(struct ovl_fs *fs, fuse_ino_t id)
{
	struct ovl_inode *n;

	pthread_rwlock_rdlock(&fs->table_lock);
	n = ovl_id_find(&fs->ids, id);
	if (n)
		atomic_fetch_add(&n->refs, 1);
	pthread_rwlock_unlock(&fs->table_lock);
	return n;
}

struct ovl_inode *ovl_req_inode(fuse_req_t req, fuse_ino_t id)
{
	struct ovl_inode *n = ovl_inode_get(ovl_fs(req), id);

	if (!n)
		fuse_reply_err(req, ESTALE);
	return n;
}

struct ovl_inode *ovl_req_dir(fuse_req_t req, fuse_ino_t id)
{
	struct ovl_inode *n = ovl_inode_get(ovl_fs(req), id);

	if (n && !ovl_is_dir(n)) {
		ovl_inode_put(n);
		fuse_reply_err(req, ENOTDIR);
		return NULL;
	}
	if (!n)
		fuse_reply_err(req, ESTALE);
	return n;
}

void ovl_inode_hold(struct ovl_inode *n)
{
	atomic_fetch_add(&n->refs, 1);
}

static void dentry_unlink(struct ovl_fs *fs, struct ovl_dentry *d);

/*
 * Takes n out of the table if nothing holds it, then the parents its
 * dentries held, in turn (a worklist through hnext: parents are
 * directories, which are never in the upper hash).  What is taken out is
 * queued on *dead to be freed, and its fds closed, after the lock is
 * released.
 */
static void release_one(struct ovl_fs *fs, struct ovl_inode *n, struct ovl_inode **work,
			struct ovl_inode **dead)
{
	if (atomic_load(&n->refs) || n == fs->root)
		return;
	upper_unhash(fs, n);
	ovl_id_remove(&fs->ids, n->id);
	if (n->old_id)
		ovl_id_remove(&fs->ids, n->old_id->id);
	while (n->aliases.next != &n->aliases) {
		struct ovl_dentry *d = ovl_container_of(n->aliases.next, struct ovl_dentry, alias);
		struct ovl_inode *parent = d->parent;

		dentry_unlink(fs, d);
		free(d);
		if (atomic_fetch_sub(&parent->refs, 1) == 1) {
			parent->hnext = *work;
			*work = parent;
		}
	}
	n->hnext = *dead;
	*dead = n;
}

static void maybe_release(struct ovl_fs *fs, struct ovl_inode *n, struct ovl_inode **dead)
{
	struct ovl_inode *work = NULL;

	release_one(fs, n, &work, dead);
	while (work) {
		n = work;
		work = n->hnext;
		n->hnext = NULL;
		release_one(fs, n, &work, dead);
	}
}

static void free_dead(struct ovl_inode *dead)
{
	while (dead) {
		struct ovl_inode *next = dead->hnext;
		ovl_inode_free(dead);
		dead = next;
	}
}

/*
 * While the kernel holds lookups on an inode they count as one reference,
 * so a request's reference is dropped without the table lock; the last one
 * is dropped under it, where no ovl_inode_get can take a new one.
 */
void ovl_inode_put(struct ovl_inode *n)
{
	struct ovl_fs *fs;
	struct ovl_inode *dead = NULL;
	unsigned int r;

	if (!n)
		return;
	r = atomic_load(&n->refs);
	while (r > 1)
		if (atomic_compare_exchange_weak(&n->refs, &r, r - 1))
			return;
	fs = n->fs;
	pthread_rwlock_wrlock(&fs->table_lock);
	if (atomic_fetch_sub(&n->refs, 1) == 1)
		maybe_release(fs, n, &dead);
	pthread_rwlock_unlock(&fs->table_lock);
	free_dead(dead);
}

void ovl_inode_putp(struct ovl_inode **n)
{
	ovl_inode_put(*n);
}

/* nlookup changes under the table lock; its first and last counts hold
 * and drop the kernel's reference. */
static void kernel_ref(struct ovl_inode *n)
{
	if (atomic_fetch_add(&n->nlookup, 1) == 0)
		atomic_fetch_add(&n->refs, 1);
}

void ovl_inode_forget(struct ovl_inode *n, uint64_t nlookup)
{
	struct ovl_fs *fs = n->fs;
	struct ovl_inode *dead = NULL;
	uint64_t cur;

	pthread_rwlock_wrlock(&fs->table_lock);
	cur = atomic_load(&n->nlookup);
	if (cur && n != fs->root) {
		atomic_store(&n->nlookup, nlookup > cur ? 0 : cur - nlookup);
		if (nlookup >= cur && atomic_fetch_sub(&n->refs, 1) == 1)
			maybe_release(fs, n, &dead);
	}
	pthread_rwlock_unlock(&fs->table_lock);
	free_dead(dead);
}

void ovl_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct ovl_inode *n;

	if (fuse_reply_entry(req, e) != -ENOENT || !e->ino)
		return;
	/* the caller is gone: the kernel never took the reference */
	n = ovl_inode_get(ovl_fs(req), e->ino);
	if (n) {
		ovl_inode_forget(n, 1);
		ovl_inode_put(n);
	}
}

int ovl_inode_renew_id(struct ovl_inode *n, struct ovl_old_id *old)
{
	struct ovl_fs *fs = n->fs;
	uint64_t id;
	int ret;

	pthread_rwlock_wrlock(&fs->table_lock);
	ret = ovl_id_add(&fs->ids, n, &id);
	if (ret == 0) {
		old->id = atomic_load(&n->id);
		n->old_id = old;
		atomic_store(&n->id, id);
	}
	pthread_rwlock_unlock(&fs->table_lock);
	return ret;
}

void ovl_inode_lookup_ref(struct ovl_inode *n)
{
	pthread_rwlock_wrlock(&n->fs->table_lock);
	kernel_ref(n);
	pthread_rwlock_unlock(&n->fs->table_lock);
}

/* ------------------------------------------------------------ dentries */

static struct ovl_dentry *dentry_alloc(const char *name)
{
	size_t len = strlen(name);
	struct ovl_dentry *d = malloc(sizeof(*d) + len + 1);

	if (d)
		memcpy(d->name, name, len + 1);
	return d;
}

/* d names n from now on (table lock held; d is not in the table). */
static void dentry_link(struct ovl_fs *fs, struct ovl_dentry *d, struct ovl_inode *parent,
			struct ovl_inode *n)
{
	struct ovl_dentry **b;

	if (fs->dhash_count >= fs->dhash_size)
		dhash_grow(fs);
	d->parent = parent;
	d->inode = n;
	atomic_fetch_add(&parent->refs, 1);
	b = dentry_bucket(fs, parent, d->name);
	d->hnext = *b;
	*b = d;
	ovl_list_add(&n->aliases, &d->alias);
	fs->dhash_count++;
}

/* Out of the maps; the caller frees d and drops its parent's reference. */
static void dentry_unlink(struct ovl_fs *fs, struct ovl_dentry *d)
{
	for (struct ovl_dentry **p = dentry_bucket(fs, d->parent, d->name); *p; p = &(*p)->hnext) {
		if (*p == d) {
			*p = d->hnext;
			break;
		}
	}
	ovl_list_del(&d->alias);
	fs->dhash_count--;
}

/* Removes d, queueing its parent for release if that was its last
 * reference.  The inode it named loses an alias and keeps orphan_fd if
 * that was its last one; the fd is returned to be closed otherwise. */
static int dentry_remove(struct ovl_fs *fs, struct ovl_dentry *d, int orphan_fd,
			 struct ovl_inode **dead)
{
	struct ovl_inode *parent = d->parent, *n = d->inode;

	dentry_unlink(fs, d);
	free(d);
	if (orphan_fd >= 0 && n->aliases.next == &n->aliases)
		orphan_fd = atomic_exchange(&n->orphan_fd, orphan_fd);
	if (atomic_fetch_sub(&parent->refs, 1) == 1)
		maybe_release(fs, parent, dead);
	return orphan_fd;
}

/* The same object: a stale dentry (the layers changed under us) is not. */
static bool same_object(const struct ovl_inode *n, const struct ovl_inode *fresh)
{
	return n->type == fresh->type && ovl_inode_layer(n) == ovl_inode_layer(fresh) &&
	       n->real_ino == fresh->real_ino;
}

struct ovl_inode *ovl_inode_attach(struct ovl_inode *parent, const char *name,
				   struct ovl_inode *fresh, enum ovl_attach how, bool kernel)
{
	struct ovl_fs *fs = fresh->fs;
	struct ovl_dentry *d = NULL, *fresh_d = name ? dentry_alloc(name) : NULL;
	struct ovl_inode *n = NULL, *dead = NULL;
	bool upper = ovl_inode_is_upper(fresh);

	if (name && !fresh_d) {
		ovl_inode_free(fresh);
		return NULL;
	}
	pthread_rwlock_wrlock(&fs->table_lock);
	if (name) {
		d = dentry_lookup(fs, parent, name);
		if (d && how == OVL_ATTACH_FOUND && same_object(d->inode, fresh))
			n = d->inode;
	}
	if (!n && upper && how == OVL_ATTACH_FOUND && !ovl_is_dir(fresh)) {
		n = upper_lookup(fs, fresh->real_ino);
		if (n && n->type != fresh->type)
			n = NULL;
	}
	if (!n) {
		uint64_t id;

		if (ovl_id_add(&fs->ids, fresh, &id) < 0) {
			pthread_rwlock_unlock(&fs->table_lock);
			free(fresh_d);
			ovl_inode_free(fresh);
			return NULL;
		}
		atomic_store(&fresh->id, id);
		n = fresh;
		fresh = NULL;
		if (upper)
			upper_hash(fs, n);
	}
	if (name && (!d || d->inode != n)) {
		/* the name now stands for n: a stale dentry goes */
		if (d)
			dentry_remove(fs, d, -1, &dead);
		dentry_link(fs, fresh_d, parent, n);
		fresh_d = NULL;
	}
	atomic_fetch_add(&n->refs, 1);
	if (kernel)
		kernel_ref(n);
	pthread_rwlock_unlock(&fs->table_lock);
	free(fresh_d);
	ovl_inode_free(fresh);
	free_dead(dead);
	return n;
}

void ovl_inode_set_upper(struct ovl_inode *n, struct ovl_inode *parent, ino_t upper_ino,
			 bool keep_ino)
{
	struct ovl_fs *fs = n->fs;

	if (!keep_ino)
		atomic_store(&n->ino, ovl_map_ino(fs, 0, upper_ino));
	pthread_rwlock_wrlock(&fs->table_lock);
	upper_unhash(fs, n);
	n->real_ino = upper_ino;
	atomic_store_explicit(&n->layer, 0, memory_order_release);
	upper_hash(fs, n);
	pthread_rwlock_unlock(&fs->table_lock);
	/* the kernel keeps the old number with the attributes and in the
	 * parent's listing (FOPEN_CACHE_DIR): it must ask again (attributes
	 * and a directory's pages only: safe from within any request) */
	if (!keep_ino && fs->se) {
		fuse_lowlevel_notify_inval_inode(fs->se, n->id, -1, 0);
		fuse_lowlevel_notify_inval_inode(fs->se, parent->id, 0, 0);
	}
}

struct ovl_inode *ovl_dentry_find(struct ovl_inode *parent, const char *name)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_dentry *d;
	struct ovl_inode *n = NULL;

	pthread_rwlock_rdlock(&fs->table_lock);
	d = dentry_lookup(fs, parent, name);
	if (d) {
		n = d->inode;
		atomic_fetch_add(&n->refs, 1);
	}
	pthread_rwlock_unlock(&fs->table_lock);
	return n;
}

bool ovl_dentry_is(struct ovl_inode *parent, const char *name, struct ovl_inode *n)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_dentry *d;
	bool ret;

	pthread_rwlock_rdlock(&fs->table_lock);
	d = dentry_lookup(fs, parent, name);
	ret = d && d->inode == n;
	pthread_rwlock_unlock(&fs->table_lock);
	return ret;
}

bool ovl_dentry_is_last(struct ovl_inode *parent, const char *name, struct ovl_inode *n)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_dentry *d;
	bool ret;

	pthread_rwlock_rdlock(&fs->table_lock);
	d = dentry_lookup(fs, parent, name);
	ret = d && d->inode == n && n->aliases.next == &d->alias && d->alias.next == &n->aliases;
	pthread_rwlock_unlock(&fs->table_lock);
	return ret;
}

int ovl_dentry_add(struct ovl_inode *parent, const char *name, struct ovl_inode *n)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_dentry *d = dentry_alloc(name), *old;
	struct ovl_inode *dead = NULL;

	if (!d)
		return -ENOMEM;
	pthread_rwlock_wrlock(&fs->table_lock);
	old = dentry_lookup(fs, parent, name);
	if (old)
		dentry_remove(fs, old, -1, &dead);
	dentry_link(fs, d, parent, n);
	pthread_rwlock_unlock(&fs->table_lock);
	free_dead(dead);
	return 0;
}

void ovl_dentry_drop(struct ovl_inode *parent, const char *name, int orphan_fd)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_dentry *d;
	struct ovl_inode *dead = NULL;

	pthread_rwlock_wrlock(&fs->table_lock);
	d = dentry_lookup(fs, parent, name);
	if (d)
		orphan_fd = dentry_remove(fs, d, orphan_fd, &dead);
	pthread_rwlock_unlock(&fs->table_lock);
	if (orphan_fd >= 0)
		close(orphan_fd);
	free_dead(dead);
}

int ovl_dentry_move(struct ovl_inode *p, const char *name, struct ovl_inode *q,
		    const char *newname, int victim_orphan_fd)
{
	struct ovl_fs *fs = p->fs;
	struct ovl_dentry *moved = dentry_alloc(newname), *d, *victim;
	struct ovl_inode *dead = NULL;
	int ret = 0;

	pthread_rwlock_wrlock(&fs->table_lock);
	victim = dentry_lookup(fs, q, newname);
	d = dentry_lookup(fs, p, name);
	if (victim && victim != d)
		victim_orphan_fd = dentry_remove(fs, victim, victim_orphan_fd, &dead);
	if (d) {
		struct ovl_inode *n = d->inode;
		/* link the new name before the old one goes: q's reference
		 * is taken before p's may drop to zero */
		if (moved)
			dentry_link(fs, moved, q, n);
		else
			ret = -ENOMEM;
		moved = NULL;
		dentry_remove(fs, d, -1, &dead);
	}
	pthread_rwlock_unlock(&fs->table_lock);
	free(moved);
	if (victim_orphan_fd >= 0)
		close(victim_orphan_fd);
	free_dead(dead);
	return ret;
}

void ovl_dentry_exchange(struct ovl_inode *p, const char *name, struct ovl_inode *q,
			 const char *newname)
{
	struct ovl_fs *fs = p->fs;
	struct ovl_dentry *a, *b;
	struct ovl_inode *dead = NULL;

	pthread_rwlock_wrlock(&fs->table_lock);
	a = dentry_lookup(fs, p, name);
	b = dentry_lookup(fs, q, newname);
	if (a && b) {
		struct ovl_inode *an = a->inode, *bn = b->inode;
		ovl_list_del(&a->alias);
		ovl_list_del(&b->alias);
		a->inode = bn;
		b->inode = an;
		ovl_list_add(&bn->aliases, &a->alias);
		ovl_list_add(&an->aliases, &b->alias);
	} else {
		/* a name we never looked up: forget both, lookups find them */
		if (a)
			dentry_remove(fs, a, -1, &dead);
		if (b)
			dentry_remove(fs, b, -1, &dead);
	}
	pthread_rwlock_unlock(&fs->table_lock);
	free_dead(dead);
}

bool ovl_inode_alias(struct ovl_inode *n, struct ovl_inode **parent, char name[NAME_MAX + 1])
{
	struct ovl_fs *fs = n->fs;
	bool found = false;

	pthread_rwlock_rdlock(&fs->table_lock);
	if (n->aliases.next != &n->aliases) {
		struct ovl_dentry *d = ovl_container_of(n->aliases.next, struct ovl_dentry, alias);
		size_t len = strlen(d->name);
		if (len <= NAME_MAX) {
			memcpy(name, d->name, len + 1);
			*parent = d->parent;
			atomic_fetch_add(&d->parent->refs, 1);
			found = true;
		}
	}
	pthread_rwlock_unlock(&fs->table_lock);
	return found;
}

bool ovl_inode_named(struct ovl_inode *n)
{
	bool named;

	pthread_rwlock_rdlock(&n->fs->table_lock);
	named = n == n->fs->root || n->aliases.next != &n->aliases;
	pthread_rwlock_unlock(&n->fs->table_lock);
	return named;
}

/* A directory's parent (table lock held): NULL for the root or a removed one */
static struct ovl_inode *dir_parent(struct ovl_inode *dir)
{
	if (dir->aliases.next == &dir->aliases)
		return NULL;
	return ovl_container_of(dir->aliases.next, struct ovl_dentry, alias)->parent;
}

static const char *dir_name(struct ovl_inode *dir)
{
	return ovl_container_of(dir->aliases.next, struct ovl_dentry, alias)->name;
}

bool ovl_is_ancestor(struct ovl_inode *a, struct ovl_inode *b)
{
	bool found = false;

	pthread_rwlock_rdlock(&a->fs->table_lock);
	for (struct ovl_inode *i = b; i && !found; i = dir_parent(i))
		found = i == a;
	pthread_rwlock_unlock(&a->fs->table_lock);
	return found;
}

char *ovl_dir_path(struct ovl_inode *dir, int layer, struct ovl_inode **anc, int *err)
{
	struct ovl_fs *fs = dir->fs;
	struct ovl_inode *a;
	size_t len = 0;
	char *path = NULL, *p;

	*err = -ENOENT;
	pthread_rwlock_rdlock(&fs->table_lock);
	for (a = dir; dir_parent(a) && atomic_load(&a->dir->fds[layer]) < 0; a = dir_parent(a))
		len += strlen(dir_name(a)) + 1;
	if (a == dir || atomic_load(&a->dir->fds[layer]) < 0)
		goto out;
	*err = -ENOMEM;
	path = malloc(len);
	if (!path)
		goto out;
	p = path + len - 1;
	*p = '\0';
	for (struct ovl_inode *i = dir; i != a; i = dir_parent(i)) {
		size_t l = strlen(dir_name(i));
		p -= l;
		memcpy(p, dir_name(i), l);
		if (dir_parent(i) != a)
			*--p = '/';
	}
	atomic_fetch_add(&a->refs, 1);
	*anc = a;
	*err = 0;
out:
	pthread_rwlock_unlock(&fs->table_lock);
	return path;
}
