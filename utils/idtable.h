/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ids handed to the kernel for objects of ours: (generation << 32 | slot).
 * A forged, stale or released id misses the table instead of being
 * dereferenced: a slot's generation changes each time it is freed.  Id 0 is
 * never valid.  Not locked: the caller serialises.
 */
#ifndef OVL_IDTABLE_H
#define OVL_IDTABLE_H

#include <stdint.h>

struct ovl_idtable {
	void **slots;
	uint32_t *gen;
	uint32_t *next_free;
	uint32_t nslots;
	uint32_t free_slot;   /* head of the free list, 0: none */
};

/* obj gets an id (0 or -errno: -ENOMEM, -ENFILE) */
int ovl_id_add(struct ovl_idtable *t, void *obj, uint64_t *id);
/* The object of id, or NULL */
void *ovl_id_find(const struct ovl_idtable *t, uint64_t id);
/* Frees id's slot (the id must be valid) */
void ovl_id_remove(struct ovl_idtable *t, uint64_t id);
void ovl_id_destroy(struct ovl_idtable *t);

#endif
