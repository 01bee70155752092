/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The overlay filesystem: shared types and the functions each concern
 * exports.  One file per concern, as Linux's fs/overlayfs:
 *   super.c    layers, workdir, feature probes, mount-wide state
 *   node.c     the node table: FUSE ids, the merged tree, lifetimes
 *   namei.c    lookup across layers (whiteouts, opaque dirs)
 *   whiteout.c whiteouts and opaque markers, both on-disk forms
 *   copyup.c   atomic copy-up into the upper layer
 *   readdir.c  merged directory listings
 *   dir.c      mkdir, mknod, symlink, link, unlink, rmdir, rename, create
 *   file.c     open files and their I/O
 *   passthrough.c  FUSE passthrough: backing files, the lower-file policy
 *   stats.c    counters of a live mount, dumped on SIGUSR1
 *   mount.c    mounting through a FUSE device other than libfuse's /dev/fuse
 *   inode.c    attributes, id mapping, statfs, access
 *   xattr.c    extended attributes, internal names hidden
 *   fuse_ops.c the fuse_lowlevel_ops table, init and debug lines
 */
#ifndef OVL_H
#define OVL_H

#include "config.h"

#include <fuse_lowlevel.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "options.h"
#include "utils/fsutil.h"
#include "utils/list.h"
#include "utils/log.h"

struct ovl_ds;

/* A layer directory.  Every access to it is relative to fd. */
struct ovl_layer {
	int fd;                  /* O_DIRECTORY fd of the layer root */
	char *path;
	dev_t dev;               /* st_dev of the root */
	unsigned int fsid;       /* index of the layer's filesystem, for xino */
	const struct ovl_ds *ds; /* data source that reads it (plugins/) */
	atomic_bool no_passthrough; /* backing files refused here (ELOOP) */
};

/*
 * A node is one object of the merged tree, named by (parent, name) like a
 * dentry.  Hard links are separate nodes.  FUSE ids are
 * (generation << 32 | slot), validated against the table (node.c).
 *
 * Locking: fs->tree_lock (rwlock) guards parent, name, the name hash and the
 * counters; it is never held across a system call.  node->lock serialises
 * copy-up of this node.  layer and dirfds[0] only ever change from
 * "lower"/"absent" to "upper", under node->lock, and are read atomically.
 */
#define OVL_FD_ABSENT  (-1)  /* not present (or hidden) in that layer */
#define OVL_FD_UNCACHED (-2) /* present, but no fd kept: open by path */

struct ovl_node {
	fuse_ino_t id;
	struct ovl_node *parent;
	char *name;
	struct ovl_node *hnext;   /* (parent, name) hash chain */
	uint64_t nlookup;         /* kernel references */
	uint32_t pins;            /* children in the table + internal users */
	bool hashed;              /* reachable by (parent, name) */
	mode_t type;              /* S_IFMT bits, fixed for the node's life */
	ino_t ino;                /* st_ino reported, fixed while cached */
	pthread_mutex_t lock;
	_Atomic int layer;        /* topmost layer holding the object (0 = upper when present) */
	_Atomic int *dirfds;      /* directories: one per layer, fd or OVL_FD_* */
	bool opaque_upper;        /* directory: hides every lower layer */
	atomic_int opens;         /* open files, so removal knows to keep an fd */
	_Atomic int orphan_fd;    /* O_PATH fd kept when removed while open */
	/* How the kernel does I/O on its opens (passthrough.c), under io_lock */
	pthread_mutex_t io_lock;
	int backing_id;           /* registered backing file, 0 = none */
	bool backing_lower;       /* ... and it is a lower file */
	uint32_t passthrough_opens;
	uint32_t cached_opens;
};

/* Why an open was not passed through (passthrough.c) */
enum ovl_pt_reason {
	OVL_PT_OFF,    /* off by option, or not available at all */
	OVL_PT_LOWER,  /* a lower file, outside the policy */
	OVL_PT_CACHED, /* the file is open through the daemon already */
	OVL_PT_EPERM,
	OVL_PT_ELOOP,
	OVL_PT_LIMIT,  /* fuse_userns: the connection holds its most backing files */
	OVL_PT_ERROR,
	OVL_PT_NREASONS
};
extern const char *const ovl_pt_reason_names[OVL_PT_NREASONS];

/* Counters shown by the SIGUSR1 dump; relaxed atomics. */
struct ovl_stats {
	atomic_ulong copyups;
	atomic_ulong whiteouts;
	atomic_ulong opens;
	atomic_ulong pt_opens;
	atomic_ulong pt_fallbacks[OVL_PT_NREASONS];
};

struct ovl_fs {
	struct ovl_config *cfg;
	struct ovl_layer *layers; /* layers[0] is the upper when has_upper */
	int nlayers;
	bool has_upper;
	int workfd;               /* workdir/work: copy-up and whiteout staging */

	bool char_whiteouts;      /* mknod of 0/0 works in the upper */
	const char *opaque_xattr; /* xattr written to mark opaque, NULL: .wh..wh..opq */
	unsigned int xino_bits;   /* high bits holding the fsid, 0 = single fs */
	uid_t euid;
	gid_t egid;

	pthread_rwlock_t tree_lock;
	struct ovl_node **slots;  /* node table indexed by slot */
	uint32_t *slot_gen;
	uint32_t nslots;
	uint32_t free_slot;       /* head of the free list (0 = none) */
	uint32_t *slot_next_free;
	struct ovl_node **hash;   /* (parent, name) -> node */
	size_t hash_size;
	size_t hash_count;
	atomic_int cached_fds;    /* directory fds held by nodes */
	atomic_ulong tmp_counter; /* names of files being built in workfd */
	int max_cached_fds;

	struct ovl_stats stats;
	/* Open file and directory handles: the kernel sends no release for
	 * them when the connection goes away, so unmount frees what is left. */
	pthread_mutex_t handles_lock;
	struct ovl_list open_files;
	struct ovl_list open_dirs;
	struct fuse_session *se;
	double timeout;
	/* negotiated at init */
	atomic_bool passthrough;  /* backing files may be registered */
	_Atomic enum ovl_pt_reason passthrough_off_why; /* if not: OFF or EPERM */
	atomic_bool pt_limit_said; /* the backing file limit was logged */
	bool writeback;           /* the kernel caches writes */
};

static inline struct ovl_fs *ovl_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline bool ovl_is_dir(const struct ovl_node *n)
{
	return S_ISDIR(n->type);
}

static inline int ovl_node_layer(const struct ovl_node *n)
{
	return atomic_load_explicit(&n->layer, memory_order_acquire);
}

/* An open with these flags changes the file's data. */
static inline bool ovl_open_writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static inline bool ovl_node_is_upper(const struct ovl_fs *fs, const struct ovl_node *n)
{
	return fs->has_upper && ovl_node_layer(n) == 0;
}

/* super.c */
int ovl_fs_new(struct ovl_config *cfg, struct ovl_fs **out);
void ovl_fs_free(struct ovl_fs *fs);
bool ovl_layer_is_lower(const struct ovl_fs *fs, int layer);
ino_t ovl_map_ino(const struct ovl_fs *fs, int layer, ino_t real);

/* node.c */
int ovl_nodes_init(struct ovl_fs *fs, struct ovl_node *root);
void ovl_nodes_destroy(struct ovl_fs *fs);
struct ovl_node *ovl_node_alloc(struct ovl_fs *fs, mode_t type, int nlayers_dirfds);
void ovl_node_free(struct ovl_fs *fs, struct ovl_node *n);
struct ovl_node *ovl_node_get(struct ovl_fs *fs, fuse_ino_t id);
struct ovl_node *ovl_node_insert(struct ovl_fs *fs, struct ovl_node *parent,
				 const char *name, struct ovl_node *fresh);
/* Returns the cached child, pinned (release with ovl_node_unpin), or NULL. */
struct ovl_node *ovl_node_find(struct ovl_fs *fs, struct ovl_node *parent, const char *name);
void ovl_node_forget(struct ovl_fs *fs, struct ovl_node *n, uint64_t nlookup);
void ovl_node_unhash(struct ovl_fs *fs, struct ovl_node *n);
/* false once n was removed (unlinked, rmdir'ed, renamed over) */
bool ovl_node_live(struct ovl_fs *fs, struct ovl_node *n);
int ovl_node_orphan_fd(struct ovl_fs *fs, struct ovl_node *n);
void ovl_node_move(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node *newparent,
		   const char *newname);
int ovl_node_name(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node **parent,
		  char name[NAME_MAX + 1]);
void ovl_node_pin(struct ovl_fs *fs, struct ovl_node *n);
/* one more kernel reference, as a reply naming n again gives it */
void ovl_node_ref(struct ovl_fs *fs, struct ovl_node *n);
void ovl_node_unpin(struct ovl_fs *fs, struct ovl_node *n);

/*
 * A directory's fd in one layer.  Borrowed from the node when cached, else
 * opened beneath the nearest cached ancestor and owned (closed by
 * ovl_dfd_put).  Declare as OVL_DFD d = { .fd = -1 }; for automatic
 * release (the cleanup runs on every path, so it must start initialised).
 */
struct ovl_dfd {
	int fd;
	bool owned;
};
int ovl_dir_fd(struct ovl_fs *fs, struct ovl_node *dir, int layer, struct ovl_dfd *out);
void ovl_dfd_put(struct ovl_dfd *d);
#define OVL_DFD __attribute__((cleanup(ovl_dfd_put))) struct ovl_dfd
bool ovl_dir_in_layer(const struct ovl_node *dir, int layer);
int ovl_dir_set_fd(struct ovl_fs *fs, struct ovl_node *dir, int layer, int fd);

/* namei.c */
bool ovl_valid_name(const char *name);
int ovl_lookup_child(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
		     struct ovl_node **out, struct stat *st);
int ovl_lookup_entry(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
		     struct fuse_entry_param *e);
bool ovl_lower_positive(struct ovl_fs *fs, struct ovl_node *parent, const char *name);
int ovl_stat_node(struct ovl_fs *fs, struct ovl_node *n, struct stat *st);
int ovl_open_node(struct ovl_fs *fs, struct ovl_node *n, int flags, int *fd);
/* Where n lives in a layer: its parent's directory there and its name (the
 * root: its own directory and "."); the parent comes back pinned. */
int ovl_node_at(struct ovl_fs *fs, struct ovl_node *n, int layer, struct ovl_dfd *d,
		struct ovl_node **parent, char name[NAME_MAX + 1]);

/* whiteout.c */
bool ovl_is_whiteout(const struct stat *st);
bool ovl_is_wh_name(const char *name);
int ovl_create_whiteout(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_remove_wh_name(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_set_opaque(struct ovl_fs *fs, int dirfd);
bool ovl_is_opaque(struct ovl_fs *fs, int layer, int dirfd);
int ovl_whiteout_in_layer(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_work_tmpname(struct ovl_fs *fs, char name[NAME_MAX + 1]);

/* copyup.c */
int ovl_copy_up(struct ovl_fs *fs, struct ovl_node *n, bool with_data);

/* readdir.c */
void ovl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void ovl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void ovl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
int ovl_dir_is_empty(struct ovl_fs *fs, struct ovl_node *dir);

/* dir.c */
void ovl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void ovl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void ovl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ovl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
int ovl_create_object(fuse_req_t req, struct ovl_node *parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link, int open_flags, int *fd,
		      struct fuse_entry_param *e);
int ovl_create_tmpfile(fuse_req_t req, struct ovl_node *parent, mode_t mode, int open_flags,
		       int *fdp, struct fuse_entry_param *e);

/* file.c */
struct ovl_file {
	int fd;
	int layer;      /* layer the fd was opened in */
	int flags;
	int stale_fd;   /* the lower fd replaced after a copy-up, closed at release */
	bool passthrough; /* the kernel does its I/O on the node's backing */
	enum ovl_pt_reason pt_why; /* if not: why (OVL_PT_NREASONS: registration failed) */
	struct ovl_node *node; /* alive while open: the kernel holds the inode */
	struct ovl_list link;  /* in fs->open_files */
	pthread_mutex_t lock;
};
void ovl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi);
void ovl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void ovl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ovl_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *buf, off_t off,
		   struct fuse_file_info *fi);
void ovl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void ovl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi);
void ovl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags);
void ovl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
struct ovl_file *ovl_file_new(int fd, int layer, int flags);
void ovl_file_free(struct ovl_fs *fs, struct ovl_file *f, bool connected);
void ovl_handle_track(struct ovl_fs *fs, struct ovl_list *link);
void ovl_handle_untrack(struct ovl_fs *fs, struct ovl_list *link);
void ovl_handles_free_all(struct ovl_fs *fs);
void ovl_dir_handle_free(struct ovl_list *link);
int ovl_file_fd(struct ovl_fs *fs, struct ovl_node *n, struct ovl_file *f);

/* passthrough.c */
/* Set when the kernel asks us to kill setuid/setgid (KILLPRIV_V2, asked
 * for with libfuse >= 3.17 only) */
static inline bool ovl_fi_kill_suidgid(const struct fuse_file_info *fi)
{
#ifdef HAVE_FUSE_PASSTHROUGH
	return fi->kill_suidgid;
#else
	(void)fi;
	return false;
#endif
}

void ovl_passthrough_init(struct ovl_fs *fs, struct fuse_conn_info *conn);
/* Choose passthrough or I/O through us for a new open f of n, fill fi. */
int ovl_passthrough_open(struct ovl_fs *fs, struct ovl_node *n, struct ovl_file *f,
			 struct fuse_file_info *fi);
/* "passthrough, backing B" or "through the daemon (why)", for -o debug */
const char *ovl_passthrough_how(const struct ovl_file *f, const struct fuse_file_info *fi,
				char *buf, size_t len);
/* connected: false when the connection is gone (no backing to close) */
void ovl_passthrough_release(struct ovl_fs *fs, struct ovl_file *f, bool connected);
/* -ETXTBSY while a lower backing serves reads of n (passthrough=all) */
int ovl_passthrough_may_write(struct ovl_node *n);

/* mount.c: the device to mount through (NULL: libfuse's /dev/fuse), and
 * the mount through it; fd_path receives "/dev/fd/N" for libfuse. */
const char *ovl_fuse_device(const struct ovl_config *cfg);
int ovl_mount_device(const struct ovl_config *cfg, const char *device, char *fd_path,
		     size_t size);

/* stats.c */
void ovl_stats_dump(struct ovl_fs *fs);
int ovl_stats_start(struct ovl_fs *fs);

/* inode.c */
void ovl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		 struct fuse_file_info *fi);
void ovl_readlink(fuse_req_t req, fuse_ino_t ino);
void ovl_access(fuse_req_t req, fuse_ino_t ino, int mask);
void ovl_statfs(fuse_req_t req, fuse_ino_t ino);
void ovl_present_stat(struct ovl_fs *fs, struct ovl_node *n, struct stat *st);
uid_t ovl_uid_to_disk(struct ovl_fs *fs, uid_t presented);
gid_t ovl_gid_to_disk(struct ovl_fs *fs, gid_t presented);
/* xattr_permissions: owner and mode from the override xattr, if any */
void ovl_override_apply(struct ovl_fs *fs, int dirfd, const char *name, struct stat *st);
void ovl_override_apply_fd(struct ovl_fs *fs, int fd, struct stat *st);
/* clear setuid/setgid as a write by req's caller, who lacks CAP_FSETID,
 * does (FUSE_CAP_HANDLE_KILLPRIV_V2) */
void ovl_kill_suidgid(fuse_req_t req, struct ovl_node *n);
/* chown (dirfd, name) to disk ids (-1 keeps one); 0 or -errno */
int ovl_set_owner(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid);

/* xattr.c */
void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
bool ovl_xattr_is_internal(const char *name);
int ovl_copy_xattrs(struct ovl_fs *fs, int srcfd, int dstfd);

/* fuse_ops.c */
extern const struct fuse_lowlevel_ops ovl_ops;

#endif
