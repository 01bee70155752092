/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal intrusive doubly linked list. */
#ifndef OVL_LIST_H
#define OVL_LIST_H

#include <stddef.h>

struct ovl_list {
	struct ovl_list *prev, *next;
};

static inline void ovl_list_init(struct ovl_list *head)
{
	head->prev = head->next = head;
}

static inline void ovl_list_add(struct ovl_list *head, struct ovl_list *item)
{
	item->next = head->next;
	item->prev = head;
	head->next->prev = item;
	head->next = item;
}

static inline void ovl_list_del(struct ovl_list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	item->prev = item->next = item;
}

#define ovl_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
