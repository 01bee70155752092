/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open file and directory handles.  The kernel holds an id per open
 * (utils/idtable.h), never a pointer: a forged, stale or twice-released id
 * misses the table.  A handle lives while the table
 * holds it (until release) and while requests use it.  The kernel sends no
 * release for what is open when the connection goes away, so unmount frees
 * what is left.
 */
#include <errno.h>

#include "ovl.h"

int ovl_handles_init(struct ovl_handles *t)
{
	*t = (struct ovl_handles){ .ids = { .nslots = 0 } };
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

uint64_t ovl_handle_add(struct ovl_handles *t, struct ovl_handle *h)
{
	uint64_t id = 0;

	atomic_init(&h->refs, 1);
	pthread_mutex_lock(&t->lock);
	if (ovl_id_add(&t->ids, h, &id) < 0)
		id = 0;
	pthread_mutex_unlock(&t->lock);
	return id;
}

/* The handle of a live id of that kind, or NULL (lock held). */
static struct ovl_handle *find(struct ovl_handles *t, uint64_t id, enum ovl_handle_kind kind)
{
	struct ovl_handle *h = ovl_id_find(&t->ids, id);

	return h && h->kind == kind ? h : NULL;
}

struct ovl_handle *ovl_handle_get(struct ovl_handles *t, uint64_t id, enum ovl_handle_kind kind)
{
	struct ovl_handle *h;

	pthread_mutex_lock(&t->lock);
	h = find(t, id, kind);
	if (h)
		atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&t->lock);
	return h;
}

struct ovl_handle *ovl_handle_remove(struct ovl_handles *t, uint64_t id,
				     enum ovl_handle_kind kind)
{
	struct ovl_handle *h;

	pthread_mutex_lock(&t->lock);
	h = find(t, id, kind);
	if (h)
		ovl_id_remove(&t->ids, id);
	pthread_mutex_unlock(&t->lock);
	return h;
}

void ovl_handle_put(struct ovl_handle *h)
{
	if (h && atomic_fetch_sub(&h->refs, 1) == 1)
		h->free(h, true);
}

void ovl_handles_destroy(struct ovl_handles *t)
{
	for (uint32_t i = 0; i < t->ids.nslots; i++) {
		struct ovl_handle *h = t->ids.slots[i];
		if (h)
			h->free(h, false);
	}
	ovl_id_destroy(&t->ids);
	pthread_mutex_destroy(&t->lock);
}
