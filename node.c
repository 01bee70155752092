/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node table.  FUSE ids are (generation << 32 | slot): a forged or stale
 * id misses the table instead of being dereferenced.  Nodes are also hashed
 * by (parent, name), so that a lookup of a cached name returns the same id.
 *
 * Lifetime: a node lives while the kernel holds lookups on it (nlookup) or
 * something pins it (its children in the table, an operation walking up
 * from a child).  All of it is guarded by fs->tree_lock, taken for memory
 * work only, never across a system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovl.h"

#define SLOT_BITS 32
#define SLOT_MASK 0xffffffffULL

static size_t name_hash(const struct ovl_node *parent, const char *name)
{
	/* FNV-1a over the name, seeded with the parent's id. */
	uint64_t h = 1469598103934665603ULL ^ parent->id;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct ovl_node **hash_slot(struct ovl_fs *fs, const struct ovl_node *parent,
				   const char *name)
{
	return &fs->hash[name_hash(parent, name) & (fs->hash_size - 1)];
}

static void hash_grow(struct ovl_fs *fs)
{
	size_t old_size = fs->hash_size, i;
	struct ovl_node **old = fs->hash;
	struct ovl_node **fresh = calloc(old_size * 2, sizeof(*fresh));

	if (!fresh)
		return; /* keep the longer chains; still correct */
	fs->hash = fresh;
	fs->hash_size = old_size * 2;
	for (i = 0; i < old_size; i++) {
		struct ovl_node *n = old[i], *next;

		for (; n; n = next) {
			struct ovl_node **head = hash_slot(fs, n->parent, n->name);

			next = n->hnext;
			n->hnext = *head;
			*head = n;
		}
	}
	free(old);
}

static void hash_add(struct ovl_fs *fs, struct ovl_node *n)
{
	struct ovl_node **head;

	if (fs->hash_count >= fs->hash_size)
		hash_grow(fs);
	head = hash_slot(fs, n->parent, n->name);
	n->hnext = *head;
	*head = n;
	n->hashed = true;
	fs->hash_count++;
}

static void hash_del(struct ovl_fs *fs, struct ovl_node *n)
{
	struct ovl_node **p;

	if (!n->hashed)
		return;
	for (p = hash_slot(fs, n->parent, n->name); *p; p = &(*p)->hnext) {
		if (*p == n) {
			*p = n->hnext;
			break;
		}
	}
	n->hnext = NULL;
	n->hashed = false;
	fs->hash_count--;
}

static struct ovl_node *hash_find(struct ovl_fs *fs, const struct ovl_node *parent,
				  const char *name)
{
	struct ovl_node *n = *hash_slot(fs, parent, name);

	for (; n; n = n->hnext)
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

static int slot_alloc(struct ovl_fs *fs, struct ovl_node *n)
{
	uint32_t slot = fs->free_slot;

	if (slot) {
		fs->free_slot = fs->slot_next_free[slot];
	} else {
		if (fs->nslots == UINT32_MAX)
			return -ENFILE;
		uint32_t want = fs->nslots ? fs->nslots * 2 : 1024;
		struct ovl_node **slots = realloc(fs->slots, want * sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		fs->slots = slots;
		uint32_t *gen = realloc(fs->slot_gen, want * sizeof(*gen));
		if (!gen)
			return -ENOMEM;
		fs->slot_gen = gen;
		uint32_t *next = realloc(fs->slot_next_free, want * sizeof(*next));
		if (!next)
			return -ENOMEM;
		fs->slot_next_free = next;
		/* slot 0 is never used: id 0 is invalid; slot 1 is the root */
		for (uint32_t i = fs->nslots; i < want; i++) {
			slots[i] = NULL;
			gen[i] = 0;
			next[i] = (i + 1 < want) ? i + 1 : 0;
		}
		if (fs->nslots == 0) {
			slot = 1;
			fs->free_slot = 2;
		} else {
			slot = fs->nslots;
			fs->free_slot = slot + 1 < want ? slot + 1 : 0;
		}
		fs->nslots = want;
	}
	fs->slots[slot] = n;
	n->id = ((fuse_ino_t)fs->slot_gen[slot] << SLOT_BITS) | slot;
	return 0;
}

static void slot_free(struct ovl_fs *fs, struct ovl_node *n)
{
	uint32_t slot = (uint32_t)(n->id & SLOT_MASK);

	fs->slots[slot] = NULL;
	fs->slot_gen[slot]++;
	fs->slot_next_free[slot] = fs->free_slot;
	fs->free_slot = slot;
}

struct ovl_node *ovl_node_alloc(struct ovl_fs *fs, mode_t type, int ndirfds)
{
	struct ovl_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type & S_IFMT;
	atomic_init(&n->orphan_fd, -1);
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->io_lock, NULL);
	if (S_ISDIR(type)) {
		n->dirfds = malloc(sizeof(*n->dirfds) * (size_t)ndirfds);
		if (!n->dirfds) {
			free(n);
			return NULL;
		}
		for (int i = 0; i < ndirfds; i++)
			atomic_init(&n->dirfds[i], OVL_FD_ABSENT);
	}
	(void)fs;
	return n;
}

void ovl_node_free(struct ovl_fs *fs, struct ovl_node *n)
{
	if (!n)
		return;
	if (n->dirfds) {
		for (int i = 0; i < fs->nlayers; i++) {
			int fd = atomic_load(&n->dirfds[i]);
			if (fd >= 0) {
				close(fd);
				atomic_fetch_sub(&fs->cached_fds, 1);
			}
		}
		free(n->dirfds);
	}
	if (atomic_load(&n->orphan_fd) >= 0)
		close(atomic_load(&n->orphan_fd));
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->io_lock);
	free(n->name);
	free(n);
}

int ovl_nodes_init(struct ovl_fs *fs, struct ovl_node *root)
{
	fs->hash_size = 1024;
	fs->hash = calloc(fs->hash_size, sizeof(*fs->hash));
	if (!fs->hash)
		return -ENOMEM;
	pthread_rwlock_init(&fs->tree_lock, NULL);
	if (slot_alloc(fs, root) < 0)
		return -ENOMEM;
	root->name = strdup("");
	root->nlookup = 1; /* the kernel never forgets the root */
	return root->name ? 0 : -ENOMEM;
}

void ovl_nodes_destroy(struct ovl_fs *fs)
{
	for (uint32_t i = 0; i < fs->nslots; i++)
		ovl_node_free(fs, fs->slots[i]);
	free(fs->slots);
	free(fs->slot_gen);
	free(fs->slot_next_free);
	free(fs->hash);
	pthread_rwlock_destroy(&fs->tree_lock);
}

struct ovl_node *ovl_node_get(struct ovl_fs *fs, fuse_ino_t id)
{
	uint32_t slot = (uint32_t)(id & SLOT_MASK);
	struct ovl_node *n = NULL;

	pthread_rwlock_rdlock(&fs->tree_lock);
	if (slot < fs->nslots && fs->slots[slot] &&
	    fs->slot_gen[slot] == (uint32_t)(id >> SLOT_BITS))
		n = fs->slots[slot];
	pthread_rwlock_unlock(&fs->tree_lock);
	return n;
}

/*
 * Drops n if nothing holds it, then walks up: a freed node unpins its
 * parent.  Freed nodes are queued on *dead (through hnext) to be closed
 * and freed after the lock is released.
 */
static void maybe_release(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node **dead)
{
	while (n && n->nlookup == 0 && n->pins == 0) {
		struct ovl_node *parent = n->parent;

		hash_del(fs, n);
		slot_free(fs, n);
		n->hnext = *dead;
		*dead = n;
		if (parent)
			parent->pins--;
		n = parent;
	}
}

static void free_dead(struct ovl_fs *fs, struct ovl_node *dead)
{
	while (dead) {
		struct ovl_node *next = dead->hnext;
		ovl_node_free(fs, dead);
		dead = next;
	}
}

/* name NULL: a node with no name, an O_TMPFILE file: an id for the kernel
 * and its parent pinned, but never found by name.  Its name is "", which
 * opens nothing in any directory (namei.c reaches it by its orphan fd). */
struct ovl_node *ovl_node_insert(struct ovl_fs *fs, struct ovl_node *parent,
				 const char *name, struct ovl_node *fresh)
{
	struct ovl_node *n;
	char *copy = strdup(name ? name : "");

	if (!copy) {
		ovl_node_free(fs, fresh);
		return NULL;
	}
	pthread_rwlock_wrlock(&fs->tree_lock);
	n = name ? hash_find(fs, parent, name) : NULL;
	if (n && (n->type != fresh->type || ovl_node_layer(n) > ovl_node_layer(fresh))) {
		/* The cached node is out of date (the layers changed under
		 * us): let the fresh one take its name. */
		hash_del(fs, n);
		n = NULL;
	}
	if (n) {
		n->nlookup++;
		pthread_rwlock_unlock(&fs->tree_lock);
		free(copy);
		ovl_node_free(fs, fresh);
		return n;
	}
	if (slot_alloc(fs, fresh) < 0) {
		pthread_rwlock_unlock(&fs->tree_lock);
		free(copy);
		ovl_node_free(fs, fresh);
		return NULL;
	}
	fresh->name = copy;
	fresh->parent = parent;
	parent->pins++;
	fresh->nlookup = 1;
	if (name)
		hash_add(fs, fresh);
	pthread_rwlock_unlock(&fs->tree_lock);
	return fresh;
}

struct ovl_node *ovl_node_find(struct ovl_fs *fs, struct ovl_node *parent, const char *name)
{
	struct ovl_node *n;

	pthread_rwlock_wrlock(&fs->tree_lock);
	n = hash_find(fs, parent, name);
	if (n)
		n->pins++;
	pthread_rwlock_unlock(&fs->tree_lock);
	return n;
}

void ovl_node_forget(struct ovl_fs *fs, struct ovl_node *n, uint64_t nlookup)
{
	struct ovl_node *dead = NULL;

	pthread_rwlock_wrlock(&fs->tree_lock);
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	maybe_release(fs, n, &dead);
	pthread_rwlock_unlock(&fs->tree_lock);
	free_dead(fs, dead);
}

void ovl_node_pin(struct ovl_fs *fs, struct ovl_node *n)
{
	pthread_rwlock_wrlock(&fs->tree_lock);
	n->pins++;
	pthread_rwlock_unlock(&fs->tree_lock);
}

void ovl_node_ref(struct ovl_fs *fs, struct ovl_node *n)
{
	pthread_rwlock_wrlock(&fs->tree_lock);
	n->nlookup++;
	pthread_rwlock_unlock(&fs->tree_lock);
}

void ovl_node_unpin(struct ovl_fs *fs, struct ovl_node *n)
{
	struct ovl_node *dead = NULL;

	if (!n)
		return;
	pthread_rwlock_wrlock(&fs->tree_lock);
	n->pins--;
	maybe_release(fs, n, &dead);
	pthread_rwlock_unlock(&fs->tree_lock);
	free_dead(fs, dead);
}

/* The O_PATH fd of a node with no name (removed while open, or O_TMPFILE),
 * by which it is reached instead of a name; -1 for a node with a name. */
int ovl_node_orphan_fd(struct ovl_fs *fs, struct ovl_node *n)
{
	int fd = atomic_load(&n->orphan_fd);

	return fd >= 0 && !ovl_node_live(fs, n) ? fd : -1;
}

bool ovl_node_live(struct ovl_fs *fs, struct ovl_node *n)
{
	bool live;

	pthread_rwlock_rdlock(&fs->tree_lock);
	live = !n->parent || n->hashed;
	pthread_rwlock_unlock(&fs->tree_lock);
	return live;
}

void ovl_node_unhash(struct ovl_fs *fs, struct ovl_node *n)
{
	pthread_rwlock_wrlock(&fs->tree_lock);
	hash_del(fs, n);
	pthread_rwlock_unlock(&fs->tree_lock);
}

void ovl_node_move(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node *newparent,
		   const char *newname)
{
	struct ovl_node *dead = NULL, *old_parent, *victim;
	char *copy = strdup(newname);

	pthread_rwlock_wrlock(&fs->tree_lock);
	victim = hash_find(fs, newparent, newname);
	if (victim && victim != n)
		hash_del(fs, victim);
	hash_del(fs, n);
	if (copy) {
		free(n->name);
		n->name = copy;
		old_parent = n->parent;
		n->parent = newparent;
		newparent->pins++;
		old_parent->pins--;
		hash_add(fs, n);
		maybe_release(fs, old_parent, &dead);
	}
	/* Without memory for the name the node stays unhashed: the next
	 * lookup builds a fresh one, which is correct, only slower. */
	pthread_rwlock_unlock(&fs->tree_lock);
	free_dead(fs, dead);
}

int ovl_node_name(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node **parent,
		  char name[NAME_MAX + 1])
{
	int ret = 0;

	pthread_rwlock_wrlock(&fs->tree_lock);
	*parent = n->parent;
	if (*parent) {
		(*parent)->pins++;
		size_t len = strlen(n->name);
		if (len > NAME_MAX)
			ret = -ENAMETOOLONG;
		else
			memcpy(name, n->name, len + 1);
	} else {
		strcpy(name, ".");
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (ret < 0) {
		ovl_node_unpin(fs, *parent);
		*parent = NULL;
	}
	return ret;
}

bool ovl_dir_in_layer(const struct ovl_node *dir, int layer)
{
	return dir->dirfds && atomic_load(&dir->dirfds[layer]) != OVL_FD_ABSENT;
}

int ovl_dir_set_fd(struct ovl_fs *fs, struct ovl_node *dir, int layer, int fd)
{
	/* Directory fds make every lookup a single-component *at() call, but
	 * the fd budget is finite: past it the directory is reopened by path
	 * beneath its nearest cached ancestor. */
	if (atomic_fetch_add(&fs->cached_fds, 1) < fs->max_cached_fds) {
		atomic_store(&dir->dirfds[layer], fd);
		return 0;
	}
	atomic_fetch_sub(&fs->cached_fds, 1);
	close(fd);
	atomic_store(&dir->dirfds[layer], OVL_FD_UNCACHED);
	return 0;
}

void ovl_dfd_put(struct ovl_dfd *d)
{
	if (d->owned && d->fd >= 0)
		close(d->fd);
	d->owned = false;
	d->fd = -1;
}

int ovl_dir_fd(struct ovl_fs *fs, struct ovl_node *dir, int layer, struct ovl_dfd *out)
{
	int fd = atomic_load(&dir->dirfds[layer]);
	struct ovl_node *anc;
	char *path = NULL;
	size_t len = 0;
	int ret;

	out->owned = false;
	out->fd = -1;
	if (fd >= 0) {
		out->fd = fd;
		return 0;
	}
	if (fd == OVL_FD_ABSENT)
		return -ENOENT;

	/* Build the path from the nearest ancestor holding an fd. */
	pthread_rwlock_wrlock(&fs->tree_lock);
	for (anc = dir; anc->parent && atomic_load(&anc->dirfds[layer]) < 0; anc = anc->parent)
		len += strlen(anc->name) + 1;
	if (anc == dir || atomic_load(&anc->dirfds[layer]) < 0) {
		pthread_rwlock_unlock(&fs->tree_lock);
		return -ENOENT;
	}
	path = malloc(len);
	if (path) {
		char *p = path + len - 1;
		*p = '\0';
		for (struct ovl_node *i = dir; i != anc; i = i->parent) {
			size_t l = strlen(i->name);
			p -= l;
			memcpy(p, i->name, l);
			if (i->parent != anc)
				*--p = '/';
		}
		anc->pins++;
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (!path)
		return -ENOMEM;

	fd = atomic_load(&anc->dirfds[layer]);
	ret = fd < 0 ? -ENOENT : ovl_openat_beneath(fd, path, O_RDONLY | O_DIRECTORY, 0);
	free(path);
	ovl_node_unpin(fs, anc);
	if (ret < 0)
		return ret;
	out->fd = ret;
	out->owned = true;
	return 0;
}
