/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index.h: the in-memory tree of a tar archive, built in one sequential
 * pass over its (uncompressed) stream.
 *
 * Nodes are numbered from 1 (the root); a node is an object, so the names
 * of a hard link share one.  Names, symlink targets and xattr names and
 * values live in one arena of bytes, referred to by offset.  Each
 * directory's entries are sorted by name, for lookup by binary search and
 * a stable readdir order.
 */
#ifndef TAR_INDEX_H
#define TAR_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stream.h"

#define TAR_ROOT 1

struct tar_node {
	uint64_t size;      /* regular: data size; symlink: target length */
	uint64_t data_off;  /* regular: offset of the data in the stream */
	int64_t mtime, atime, ctime;
	uint32_t mtime_ns, atime_ns, ctime_ns;
	uint32_t mode;      /* S_IFMT bits and permissions */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t rdev_major, rdev_minor;
	uint32_t link;      /* symlink: arena offset of the target */
	uint32_t xattr_first, nxattrs;  /* into tar_index.xattrs */
	uint32_t child_first, nchildren; /* directory: into tar_index.children */
};

struct tar_dirent {
	uint32_t name;     /* arena offset, NUL-terminated */
	uint32_t parent;
	uint32_t node;
};

struct tar_xattr {
	uint32_t name;     /* arena offset, NUL-terminated */
	uint32_t value;    /* arena offset */
	uint32_t value_len;
};

struct tar_index {
	struct tar_node *nodes;    /* [0] unused */
	uint32_t nnodes, nodes_cap;
	struct tar_dirent *dirents;
	uint32_t ndirents, dirents_cap;
	struct tar_xattr *xattrs;
	uint32_t nxattrs, xattrs_cap;
	uint32_t *children;        /* dirent numbers, grouped per directory */
	char *arena;
	uint32_t arena_len, arena_cap;
	uint32_t *hash;            /* (parent, name) -> dirent + 1; while building */
	uint32_t hash_size, hash_used;
	uint64_t live_nodes, live_blocks;  /* for statfs: reachable objects */
};

/* Reads the archive from s; label names it in messages.  Returns 0 or
 * -errno with a reason in why. */
int tar_index_build(struct tar_index *idx, struct tar_stream *s, const char *label, char *why,
		    size_t why_size);
void tar_index_free(struct tar_index *idx);

/* The node numbered n, or NULL. */
const struct tar_node *tar_index_node(const struct tar_index *idx, uint64_t n);
/* name in directory dir: its node number, or 0. */
uint32_t tar_index_lookup(const struct tar_index *idx, uint64_t dir, const char *name);

static inline const char *
tar_index_str(const struct tar_index *idx, uint32_t off)
{
	return idx->arena + off;
}

#endif
