/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open file and directory handles.  The kernel holds an id per open,
 * (generation << 32 | slot), never a pointer: a forged, stale or
 * twice-released id misses the table.  A handle lives while the table
 * holds it (until release) and while requests use it.  The kernel sends no
 * release for what is open when the connection goes away, so unmount frees
 * what is left.
 */
#include <errno.h>
#include <stdlib.h>

#include "ovl.h"

#define SLOT_MASK 0xffffffffULL

int ovl_handles_init(struct ovl_handles *t)
{
	*t = (struct ovl_handles){ .nslots = 0 };
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

static int grow(struct ovl_handles *t)
{
	uint32_t want = t->nslots ? t->nslots * 2 : 256;
	struct ovl_handle **slots;
	uint32_t *gen, *next;

	if (t->nslots >= UINT32_MAX / 2)
		return -ENFILE;
	slots = realloc(t->slots, want * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	gen = realloc(t->gen, want * sizeof(*gen));
	if (!gen)
		return -ENOMEM;
	t->gen = gen;
	next = realloc(t->next_free, want * sizeof(*next));
	if (!next)
		return -ENOMEM;
	t->next_free = next;
	/* slot 0 stays unused: id 0 is never valid */
	for (uint32_t i = t->nslots; i < want; i++) {
		slots[i] = NULL;
		gen[i] = 1;
		next[i] = i + 1 < want ? i + 1 : 0;
	}
	t->free_slot = t->nslots ? t->nslots : 1;
	t->nslots = want;
	return 0;
}

uint64_t ovl_handle_add(struct ovl_handles *t, struct ovl_handle *h)
{
	uint64_t id = 0;
	uint32_t slot;

	atomic_init(&h->refs, 1);
	pthread_mutex_lock(&t->lock);
	if (t->free_slot || grow(t) == 0) {
		slot = t->free_slot;
		t->free_slot = t->next_free[slot];
		t->slots[slot] = h;
		id = ((uint64_t)t->gen[slot] << 32) | slot;
	}
	pthread_mutex_unlock(&t->lock);
	return id;
}

/* The slot of a live id of that kind, or 0 (lock held). */
static uint32_t find(struct ovl_handles *t, uint64_t id, enum ovl_handle_kind kind)
{
	uint32_t slot = (uint32_t)(id & SLOT_MASK);

	if (!slot || slot >= t->nslots || !t->slots[slot] || t->gen[slot] != (uint32_t)(id >> 32) ||
	    t->slots[slot]->kind != kind)
		return 0;
	return slot;
}

struct ovl_handle *ovl_handle_get(struct ovl_handles *t, uint64_t id, enum ovl_handle_kind kind)
{
	struct ovl_handle *h = NULL;
	uint32_t slot;

	pthread_mutex_lock(&t->lock);
	slot = find(t, id, kind);
	if (slot) {
		h = t->slots[slot];
		atomic_fetch_add(&h->refs, 1);
	}
	pthread_mutex_unlock(&t->lock);
	return h;
}

struct ovl_handle *ovl_handle_remove(struct ovl_handles *t, uint64_t id,
				     enum ovl_handle_kind kind)
{
	struct ovl_handle *h = NULL;
	uint32_t slot;

	pthread_mutex_lock(&t->lock);
	slot = find(t, id, kind);
	if (slot) {
		h = t->slots[slot];
		t->slots[slot] = NULL;
		t->gen[slot]++;
		t->next_free[slot] = t->free_slot;
		t->free_slot = slot;
	}
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
	for (uint32_t i = 0; i < t->nslots; i++)
		if (t->slots[i])
			t->slots[i]->free(t->slots[i], false);
	free(t->slots);
	free(t->gen);
	free(t->next_free);
	pthread_mutex_destroy(&t->lock);
	*t = (struct ovl_handles){ .nslots = 0 };
}
