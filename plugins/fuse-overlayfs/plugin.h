/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <fuse-overlayfs/plugin.h>: the layer data-source ABI of fuse-overlayfs.
 *
 * A plugin serves read-only lower layers that are not plain directories:
 * an archive, an image format, a remote store.  It is a shared object,
 * loaded with -o plugins=PATH[:PATH...], that exports one function:
 *
 *     const struct fuse_overlayfs_plugin *fuse_overlayfs_plugin_entry(void);
 *
 * A lower layer written //NAME/DATA/PATH is served by the plugin called
 * NAME; DATA (often "-") and PATH are handed to its load().  PATH is taken
 * as written: relative to the daemon's working directory unless it starts
 * with '/' (so //tar/-//srv/l.tar names /srv/l.tar).
 *
 * How it runs.  Each such layer is served by a process of its own, forked
 * by the daemon before it mounts: the process calls load(), then answers
 * the daemon's reads of the layer through the operations below, one call
 * at a time (a plugin needs no locking), with no capabilities.  The daemon
 * reaches the layer as a read-only directory tree and treats it as any
 * other lower layer (whiteouts, opaque directories, copy-up).
 *
 * Objects.  load() names the layer's root by a node number; lookup() names
 * the others.  A node number is the plugin's own, nonzero, and stands for
 * one object for as long as the layer is loaded: the names of a hard link
 * give the same node.  forget() tells when the daemon holds a node no more.
 *
 * Errors.  Every operation returns 0 (or a byte count where it says so) or
 * a negative errno: -ENOENT for a name that is not there, -EIO for data the
 * layer cannot give (a damaged archive), never a crash.
 *
 * Versions.  abi is FUSE_OVERLAYFS_PLUGIN_ABI as the plugin was built; a
 * daemon loads only plugins of its own ABI number, which changes only when
 * an existing member changes meaning.  New operations are added at the end
 * of the structure without changing the number: size (sizeof the
 * structure as the plugin was built) tells the daemon which members the
 * plugin knows, and members beyond it count as NULL.
 */
#ifndef FUSE_OVERLAYFS_PLUGIN_H
#define FUSE_OVERLAYFS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FUSE_OVERLAYFS_PLUGIN_ABI 1
#define FUSE_OVERLAYFS_PLUGIN_ENTRY "fuse_overlayfs_plugin_entry"

/*
 * One directory entry for readdir(): its name, inode number (st_ino as
 * lookup() would give it; 0 if not known without a lookup), type (S_IFMT
 * bits of st_mode) and the cookie that resumes the listing after it, below
 * 2^63.  fill() returns nonzero when the reply is full: stop there, the
 * entry was not taken.
 */
typedef int (*fuse_overlayfs_fill_fn)(void *ctx, const char *name, uint64_t ino,
				      mode_t type, uint64_t next_cookie);

struct fuse_overlayfs_plugin {
	uint32_t abi;   /* FUSE_OVERLAYFS_PLUGIN_ABI */
	uint32_t size;  /* sizeof(struct fuse_overlayfs_plugin) */
	const char *name;

	/*
	 * Required.  Opens the layer data, path the part of its spec.
	 * Returns 0 with *layer (private data passed to every other call)
	 * and *root (the root directory's node) set, or -errno with a
	 * one-line reason in why[0..why_size) (may be left empty).
	 */
	int (*load)(const char *data, const char *path, void **layer, uint64_t *root,
		    char *why, size_t why_size);
	/* Optional.  The layer is no longer served: free what load() made. */
	void (*release)(void *layer);

	/* Required.  name (one component, never "." or "..") in directory dir:
	 * its node and attributes, or -ENOENT. */
	int (*lookup)(void *layer, uint64_t dir, const char *name, uint64_t *node,
		      struct stat *st);
	/* Optional.  The daemon dropped nlookup of the lookups that gave node. */
	void (*forget)(void *layer, uint64_t node, uint64_t nlookup);
	/* Required.  The attributes of node.  st_ino is reported as is;
	 * st_nlink counts the names of the object in the layer. */
	int (*getattr)(void *layer, uint64_t node, struct stat *st);

	/*
	 * Required.  Lists directory dir from cookie (0: the start; then a
	 * next_cookie fill() was given) by calling fill() per entry, "." and
	 * ".." left out, until it returns nonzero or the directory ends.
	 */
	int (*readdir)(void *layer, uint64_t dir, uint64_t cookie, fuse_overlayfs_fill_fn fill,
		       void *ctx);
	/* Required.  A symlink's target: its full length, up to size bytes
	 * of it stored in buf (no terminating NUL). */
	ssize_t (*readlink)(void *layer, uint64_t node, char *buf, size_t size);

	/* Optional.  A regular file is opened for reading: *fh is passed to
	 * read() and close().  Without open(), *fh is 0. */
	int (*open)(void *layer, uint64_t node, uint64_t *fh);
	/* Required.  Up to size bytes at off: the count read, 0 at the end. */
	ssize_t (*read)(void *layer, uint64_t node, uint64_t fh, void *buf, size_t size,
			uint64_t off);
	/* Optional.  The last use of fh. */
	void (*close)(void *layer, uint64_t node, uint64_t fh);

	/*
	 * Optional (none: the layer has no extended attributes).  As
	 * listxattr(2) and getxattr(2): size 0 asks for the size needed;
	 * -ERANGE when size is too small; getxattr() returns -ENODATA for a
	 * name the node does not have.
	 */
	ssize_t (*listxattr)(void *layer, uint64_t node, char *list, size_t size);
	ssize_t (*getxattr)(void *layer, uint64_t node, const char *name, void *value,
			    size_t size);

	/* Optional.  Sizes for statfs(2) on the layer (none: all zero). */
	int (*statfs)(void *layer, struct statvfs *st);

	/*
	 * Optional.  The holes of a sparse regular file, as lseek(2) finds
	 * them: whence SEEK_DATA or SEEK_HOLE, from off; the offset found, or
	 * -ENXIO at or past the end.  Without it a file is all data.
	 */
	int64_t (*lseek)(void *layer, uint64_t node, uint64_t fh, int64_t off, int whence);

	/*
	 * Optional.  The inode flags of a regular file or directory, as
	 * FS_IOC_GETFLAGS gives them (FS_IMMUTABLE_FL, FS_APPEND_FL,
	 * FS_NODUMP_FL...: chattr(1)); a copy-up keeps them.  Without it
	 * the layer's objects have none.
	 */
	int (*getflags)(void *layer, uint64_t node, uint32_t *flags);
};

/* The one symbol a plugin exports. */
const struct fuse_overlayfs_plugin *fuse_overlayfs_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif
