/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "idtable.h"

static int grow(struct ovl_idtable *t)
{
	uint32_t want = t->nslots ? t->nslots * 2 : 1024;
	void **slots;
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
		gen[i] = 0;
		next[i] = i + 1 < want ? i + 1 : 0;
	}
	t->free_slot = t->nslots ? t->nslots : 1;
	t->nslots = want;
	return 0;
}

int ovl_id_add(struct ovl_idtable *t, void *obj, uint64_t *id)
{
	uint32_t slot;
	int ret;

	if (!t->free_slot && (ret = grow(t)) < 0)
		return ret;
	slot = t->free_slot;
	t->free_slot = t->next_free[slot];
	t->slots[slot] = obj;
	*id = ((uint64_t)t->gen[slot] << 32) | slot;
	return 0;
}

void *ovl_id_find(const struct ovl_idtable *t, uint64_t id)
{
	uint32_t slot = (uint32_t)id;

	if (!slot || slot >= t->nslots || t->gen[slot] != (uint32_t)(id >> 32))
		return NULL;
	return t->slots[slot];
}

void ovl_id_remove(struct ovl_idtable *t, uint64_t id)
{
	uint32_t slot = (uint32_t)id;

	t->slots[slot] = NULL;
	t->gen[slot]++;
	t->next_free[slot] = t->free_slot;
	t->free_slot = slot;
}

void ovl_id_destroy(struct ovl_idtable *t)
{
	free(t->slots);
	free(t->gen);
	free(t->next_free);
	*t = (struct ovl_idtable){ .nslots = 0 };
}
