/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The overlay filesystem: shared types and the functions each concern
 * exports.  One file per concern, as Linux's fs/overlayfs:
 *   super.c    layers, workdir, feature probes, mount-wide state
 *   itable.c   the inode table: objects by FUSE id and by upper inode,
 *              their names (dentries), lifetimes
 *   dcache.c   reaching an object through a name or an fd; directory fds
 *              and directory locks
 *   ino.c      the inode numbers the mount reports (xino, origin records)
 *   namei.c    lookup across layers (whiteouts, opaque dirs)
 *   whiteout.c whiteouts and opaque markers, both on-disk forms
 *   copyup.c   atomic copy-up into the upper layer
 *   readdir.c  merged directory listings
 *   dir.c      mkdir, mknod, symlink, link, unlink, rmdir, rename, create
 *   file.c     open files and their I/O
 *   handles.c  open file and directory handles: the ids the kernel holds
 *   passthrough.c  FUSE passthrough: backing files, the lower-file policy
 *   stats.c    counters of a live mount, dumped on SIGUSR1
 *   mount.c    mounting through a FUSE device other than libfuse's /dev/fuse
 *   plugin.c   -o plugins= and the lower layers plugins serve (//NAME/DATA/PATH)
 *   plugin_serve.c  a plugin's layer served by a process of its own
 *   inode.c    getattr, setattr, readlink, access, statfs
 *   owner.c    ids mapped between disk and mount, override_stat, what stat shows
 *   xattr.c    extended attributes, internal names hidden
 *   fuse_ops.c the fuse_lowlevel_ops table, init and debug lines
 *   wire.c     requests checked before libfuse parses them
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
#include "utils/idtable.h"
#include "utils/list.h"
#include "utils/log.h"

struct ovl_handle;
struct ovl_plugins;
struct fuse_overlayfs_plugin;

/* A layer directory.  Every access to it is relative to fd. */
struct ovl_layer {
	int fd;                  /* O_DIRECTORY fd of the layer root */
	char *path;
	dev_t dev;               /* st_dev of the root */
	unsigned int fsid;       /* index of the layer's filesystem, for xino */
	bool served;             /* a plugin's layer, on its private mount (plugin.c) */
	atomic_bool no_passthrough; /* backing files refused here (ELOOP) */
	bool private_mount;      /* fd is on a private clone (privmount.c) */
};

/*
 * Objects and names, as kernel overlayfs separates ovl_inode from ovl_entry.
 *
 * An ovl_inode is one object of the merged tree, however many names reach
 * it: the hard links of an upper file share one inode, and an inode
 * outlives its names (a file removed while open, an O_TMPFILE file).  The
 * kernel names it by its FUSE id, (generation << 32 | slot), validated
 * against the table.  An inode with an upper object is found again by that
 * object's inode number (the upper layer is one filesystem), so every name
 * of an upper file leads to the same inode.  A lower-only object has
 * exactly one name: as kernel overlayfs without an index, each name of a
 * lower hard link is a file of its own, copied up on its own.
 *
 * An ovl_dentry is one name: (parent directory, name) -> inode.  The
 * dentries of an inode are its aliases; any of them reaches its object.  A
 * directory has at most one.  An inode whose last alias went away while
 * the kernel still held it is reached through an O_PATH fd of its object
 * (orphan_fd), taken before the name was removed.
 *
 * Lock order (take top down; release in any order):
 *   0. a directory handle's lock, an open file's lock (readdirplus looks
 *                          entries up, ovl_file_fd reopens a copied-up
 *                          file, under them)
 *   1. inode->copyup_lock  a copy-up holds the object's, then takes its
 *                          parent's (to copy it up first): child first
 *   2. fs->rename_lock     renames between two directories, so that
 *                          ancestry does not change under them
 *   3. dir->lock           (rwlock) shared: the names in the directory stay
 *                          as they are (lookup, reaching an object through
 *                          one of its names); exclusive: changing them
 *                          (create, link, unlink, rmdir, rename, and the
 *                          final step of a copy-up into the directory).
 *                          Two at once only in rename (ancestor first, else
 *                          by inode id) and rmdir/rename over a directory
 *                          (parent, then the victim).  Nothing that locates
 *                          an object by name runs under a dir lock.
 *   4. inode->io_lock      around the backing ioctls; giving a file a new
 *                          FUSE id takes table_lock under it
 *   5. fs->handles.lock, fs->overflow's lock, fs->table_lock
 *                          (leaves: memory only; table_lock never across a
 *                          system call)
 * A copy-up is therefore done before a namespace operation takes its dir
 * locks, and the operation checks under them that the names still mean
 * what they meant.
 */
#define OVL_FD_ABSENT  (-1)  /* not present (or hidden) in that layer */
#define OVL_FD_UNCACHED (-2) /* present, but no fd kept: open by path */

struct ovl_fs;

/* What only a directory has. */
struct ovl_dir {
	pthread_rwlock_t lock;    /* its names: see the lock order above */
	_Atomic int *fds;         /* one per layer: fd or OVL_FD_* */
	atomic_bool opaque_upper; /* the upper hides every lower layer */
	atomic_bool impure;       /* the upper holds copied-up files (origin records) */
	atomic_bool no_default_acl; /* its upper was seen without one (dir.c); a
				     * setxattr of one through the mount clears it */
};

/*
 * How the kernel does I/O on the opens of one FUSE inode (passthrough.c),
 * under the object's io_lock.  The kernel gives a FUSE inode at most one
 * backing file, shared by all its opens.
 */
struct ovl_kio {
	int backing_id;           /* registered backing file, 0 = none */
	bool backing_lower;       /* ... and it is a lower file */
	uint32_t passthrough_opens;
	uint32_t cached_opens;
};

/* The FUSE id an object had before passthrough.c gave it a new one: the
 * kernel keeps the old inode, with its lower backing, for the opens made
 * before the object was copied up. */
struct ovl_old_id {
	fuse_ino_t id;
	struct ovl_kio io;
};

struct ovl_inode {
	struct ovl_fs *fs;
	_Atomic fuse_ino_t id;    /* the id lookups give; changes at most once,
				   * for a file (ovl_passthrough_open) */
	mode_t type;              /* S_IFMT bits, fixed for the inode's life */
	_Atomic ino_t ino;        /* st_ino reported; changes only at a copy-up
				   * that cannot keep it (ovl_set_origin) */
	_Atomic uint64_t nlookup; /* kernel lookups: changed under fs->table_lock */
	atomic_uint refs;         /* the kernel's (one while nlookup > 0), requests,
				   * open files, children's dentries */
	/* under fs->table_lock */
	struct ovl_list aliases;  /* its dentries */
	struct ovl_inode *hnext;  /* upper-inode hash chain */
	ino_t real_ino;           /* st_ino of its object in `layer` */
	bool hashed;              /* in the upper-inode hash */
	_Atomic int layer;        /* topmost layer holding it (0 = upper when present);
				   * only ever changes to 0, at copy-up */
	_Atomic int orphan_fd;    /* O_PATH fd of the object, once nameless */
	pthread_mutex_t copyup_lock;
	struct ovl_dir *dir;      /* NULL for non-directories */
	atomic_int opens;         /* open files */
	/* How the kernel does I/O on its opens (passthrough.c) */
	pthread_mutex_t io_lock;
	struct ovl_kio io;        /* of the FUSE inode of `id` */
	struct ovl_old_id *old_id; /* and of the one before; set once, under
				   * io_lock, freed with the inode */
	atomic_uint prot;         /* immutable/append-only (fileattr.c), once
				   * OVL_PROT_KNOWN is set */
};

struct ovl_dentry {
	struct ovl_dentry *hnext; /* (parent, name) hash chain */
	struct ovl_list alias;    /* in inode->aliases */
	struct ovl_inode *parent; /* holds a reference */
	struct ovl_inode *inode;
	char name[];
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
	atomic_ulong pt_new_ids;  /* files given a new FUSE id (passthrough.c) */
	atomic_ulong pt_replaced; /* lower backings replaced by upper ones */
};

/* A table of ids handed to the kernel for open files and directories
 * (handles.c). */
struct ovl_handles {
	pthread_mutex_t lock;
	struct ovl_idtable ids;
};

struct ovl_ino_map;

struct ovl_fs {
	struct ovl_config *cfg;
	struct ovl_layer *layers; /* layers[0] is the upper when has_upper */
	int nlayers;
	bool has_upper;
	int workfd;               /* workdir/work: copy-up and whiteout staging */
	struct ovl_plugins *plugins; /* -o plugins= and the built-in ones */

	bool char_whiteouts;      /* mknod of 0/0 works in the upper */
	bool wh_files_only;       /* FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT (super.c) */
	const char *opaque_xattr; /* xattr written to mark opaque, NULL: .wh..wh..opq */
	const char *origin_xattr; /* origin records of copied-up files, NULL: none */
	const char *impure_xattr; /* marks an upper dir holding such files */
	const char *protattr_xattr; /* immutable/append-only of upper objects */
	unsigned int xino_bits;   /* high bits holding the fsid, 0 = single fs */
	unsigned int nfsids;      /* filesystems among the layers */
	struct ovl_ino_map *overflow; /* numbers too big for xino (ino.c) */
	uid_t euid;
	gid_t egid;

	/* the inode table (itable.c) */
	pthread_rwlock_t table_lock;
	struct ovl_idtable ids;    /* FUSE id -> inode */
	struct ovl_inode **uhash; /* upper inode number -> inode */
	size_t uhash_size, uhash_count;
	struct ovl_dentry **dhash; /* (parent, name) -> dentry */
	size_t dhash_size, dhash_count;
	struct ovl_inode *root;
	pthread_mutex_t rename_lock;

	atomic_int cached_fds;    /* directory fds held by inodes */
	atomic_ulong tmp_counter; /* names of files being built in workfd */
	int max_cached_fds;

	struct ovl_stats stats;
	/* Open file and directory handles: the kernel sends no release for
	 * them when the connection goes away, so unmount frees what is left. */
	struct ovl_handles handles;
	struct fuse_session *se;
	double timeout;
	/* negotiated at init */
	atomic_bool passthrough;  /* backing files may be registered */
	_Atomic enum ovl_pt_reason passthrough_off_why; /* if not: OFF or EPERM */
	atomic_bool pt_limit_said; /* the backing file limit was logged */
	atomic_int pt_replace;    /* the kernel replaces backings: 1, not: -1, unknown: 0 */
	bool writeback;           /* the kernel caches writes */
	struct {
		atomic_bool setxattr_ext; /* SETXATTR carries the 7.33 header */
		uint32_t max_write;       /* as init left it: bounds the replies asked for */
		bool uring_asked;         /* the kernel offers io_uring and we take it */
		atomic_bool uring_seen;   /* a request arrived over io_uring */
	} wire;
};

static inline struct ovl_fs *ovl_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline bool ovl_is_dir(const struct ovl_inode *n)
{
	return S_ISDIR(n->type);
}

static inline int ovl_inode_layer(const struct ovl_inode *n)
{
	return atomic_load_explicit(&n->layer, memory_order_acquire);
}

/* An open with these flags changes the file's data. */
static inline bool ovl_open_writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static inline bool ovl_inode_is_upper(const struct ovl_inode *n)
{
	return n->fs->has_upper && ovl_inode_layer(n) == 0;
}

/* super.c */
int ovl_fs_new(struct ovl_config *cfg, struct ovl_fs **out);
void ovl_fs_free(struct ovl_fs *fs);
static inline bool ovl_layer_is_lower(const struct ovl_fs *fs, int layer)
{
	return !fs->has_upper || layer > 0;
}

/*
 * O_NOATIME where a read through the mount must leave the object's atime
 * alone and no private mount (privmount.c) sees to it: always in a lower
 * layer; in the upper when the overlay's mode says so (noatime, the default;
 * nodiratime for directories).  FUSE inodes have no atime of their own (the
 * kernel marks them S_NOATIME): the overlay's mode only takes effect here.
 */
static inline int ovl_noatime_flag(const struct ovl_fs *fs, int layer, bool dir)
{
	bool noatime = !fs->cfg->strictatime && !fs->cfg->relatime;

	if (fs->layers[layer].private_mount)
		return 0;
	if (ovl_layer_is_lower(fs, layer) || noatime || (dir && fs->cfg->nodiratime))
		return O_NOATIME;
	return 0;
}

/* fileattr.c: chattr/lsattr flags; immutable and append-only enforced */
#define OVL_PROT_KNOWN (1u << 31)
/* 0, or -EPERM when n is immutable, or append-only and !append_only_ok */
int ovl_may_change(struct ovl_inode *n, bool append_only_ok);
/* the same under parent's lock, n being (parent, name) */
int ovl_may_change_entry(struct ovl_inode *parent, const char *name, struct ovl_inode *n,
			 bool append_only_ok);
int ovl_copy_fileattr(struct ovl_fs *fs, int srcfd, int dstfd);
void ovl_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	       struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
	       size_t out_bufsz);

/* plugin.c: -o plugins= and //NAME/DATA/PATH layers */
int ovl_plugins_load(const char *list, struct ovl_plugins **out);
void ovl_plugins_free(struct ovl_plugins *p);
bool ovl_layer_is_plugin(const char *spec);
/* The root fd of a plugin's layer, or -errno (the reason printed).  Its
 * server writes to our stderr only if keep_stderr (a foreground daemon). */
int ovl_plugin_layer_open(const struct ovl_plugins *p, const char *spec, bool keep_stderr);
/* plugin_serve.c: a process serves pl's layer; its root fd as above */
int ovl_plugin_serve(const struct fuse_overlayfs_plugin *pl, const char *data, const char *path,
		     const char *spec, bool keep_stderr);

/* privmount.c */
void ovl_private_mounts(struct ovl_fs *fs);

/* itable.c */
int ovl_itable_init(struct ovl_fs *fs, struct ovl_inode *root);
void ovl_itable_destroy(struct ovl_fs *fs);
/* A new inode, outside the table until ovl_inode_attach. */
struct ovl_inode *ovl_inode_alloc(struct ovl_fs *fs, mode_t type);
void ovl_inode_free(struct ovl_inode *n);
/* The inode of a FUSE id with a reference, or NULL (stale or forged id). */
struct ovl_inode *ovl_inode_get(struct ovl_fs *fs, fuse_ino_t id);
void ovl_inode_hold(struct ovl_inode *n);
void ovl_inode_put(struct ovl_inode *n);
void ovl_inode_putp(struct ovl_inode **n);
/* A reference released when the variable goes out of scope */
#define OVL_INODE __attribute__((cleanup(ovl_inode_putp))) struct ovl_inode *
/* The inode a request names, with a reference, or NULL after replying
 * ESTALE (ENOTDIR for ovl_req_dir when it is not a directory). */
struct ovl_inode *ovl_req_inode(fuse_req_t req, fuse_ino_t id);
struct ovl_inode *ovl_req_dir(fuse_req_t req, fuse_ino_t id);
void ovl_inode_forget(struct ovl_inode *n, uint64_t nlookup);
/*
 * n answers to a new FUSE id from now on, and still to its current one,
 * which old records (io_lock held).  Lookups count for the object, whatever
 * id their replies carried: both ids leave the table with the inode.
 */
int ovl_inode_renew_id(struct ovl_inode *n, struct ovl_old_id *old);
/* one more kernel reference, as a reply naming n again gives it */
void ovl_inode_lookup_ref(struct ovl_inode *n);
/* fuse_reply_entry, taking the reference back if the kernel cannot take it */
void ovl_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);

/* What a lookup, a create or a copy-up found or made at (parent, name),
 * described by a fresh inode: its type, layer, real_ino, ino, dir fds. */
enum ovl_attach {
	OVL_ATTACH_FOUND,  /* found on disk: reuse the inode of the same object */
	OVL_ATTACH_NEW,    /* just created here: a new object */
};
/* Makes (parent, name) name the object described by fresh (name NULL: no
 * name, O_TMPFILE), reusing the inode that already stands for it.  Returns
 * that inode with a reference, and one more kernel lookup if kernel; NULL
 * without memory.  fresh is consumed. */
struct ovl_inode *ovl_inode_attach(struct ovl_inode *parent, const char *name,
				   struct ovl_inode *fresh, enum ovl_attach how, bool kernel);
/* Copy-up done: n's object (named in parent) is now the upper one, inode
 * number upper_ino; the number reported changes to the copy's unless
 * keep_ino, and the kernel forgets the old one. */
void ovl_inode_set_upper(struct ovl_inode *n, struct ovl_inode *parent, ino_t upper_ino,
			 bool keep_ino);
/* The inode (parent, name) names, with a reference, or NULL. */
struct ovl_inode *ovl_dentry_find(struct ovl_inode *parent, const char *name);
/* Does (parent, name) name n? */
bool ovl_dentry_is(struct ovl_inode *parent, const char *name, struct ovl_inode *n);
/* (parent, name) becomes an alias of n (a link); 0 or -ENOMEM */
int ovl_dentry_add(struct ovl_inode *parent, const char *name, struct ovl_inode *n);
/* The name is gone from the directory.  orphan_fd: an O_PATH fd of the
 * object it named, kept when that was its last alias (else closed). */
void ovl_dentry_drop(struct ovl_inode *parent, const char *name, int orphan_fd);
/* (p, name) moves to (q, newname); what (q, newname) named loses that alias
 * (its orphan fd as for ovl_dentry_drop).  0 or -ENOMEM (then both names
 * are dropped: a later lookup finds them again). */
int ovl_dentry_move(struct ovl_inode *p, const char *name, struct ovl_inode *q,
		    const char *newname, int victim_orphan_fd);
/* The two names exchange their objects, in one step. */
void ovl_dentry_exchange(struct ovl_inode *p, const char *name, struct ovl_inode *q,
			 const char *newname);
/* n's only alias is (parent, name): removing it leaves n nameless */
bool ovl_dentry_is_last(struct ovl_inode *parent, const char *name, struct ovl_inode *n);
/* One alias of n: its parent (with a reference) and name; false if none */
bool ovl_inode_alias(struct ovl_inode *n, struct ovl_inode **parent, char name[NAME_MAX + 1]);
bool ovl_inode_named(struct ovl_inode *n);
/* a is b or one of its ancestors */
bool ovl_is_ancestor(struct ovl_inode *a, struct ovl_inode *b);
/* The path of dir in layer below its nearest ancestor holding an fd there
 * (malloc'd; *anc with a reference); NULL with -errno in *err. */
char *ovl_dir_path(struct ovl_inode *dir, int layer, struct ovl_inode **anc, int *err);

/* dcache.c */
/*
 * A directory's fd in one layer.  Borrowed from the inode when cached, else
 * opened beneath the nearest cached ancestor and owned (closed by
 * ovl_dfd_put).  Declare as OVL_DFD d = { .fd = -1 }; for automatic
 * release (the cleanup runs on every path, so it must start initialised).
 */
struct ovl_dfd {
	int fd;
	bool owned;
};
int ovl_dir_fd(struct ovl_inode *dir, int layer, struct ovl_dfd *out);
void ovl_dfd_put(struct ovl_dfd *d);
#define OVL_DFD __attribute__((cleanup(ovl_dfd_put))) struct ovl_dfd
bool ovl_dir_in_layer(const struct ovl_inode *dir, int layer);
/* The directory spans more than one layer */
bool ovl_dir_is_merged(const struct ovl_inode *dir);
void ovl_dir_set_fd(struct ovl_inode *dir, int layer, int fd);
/* Keeps dir's fd in layer open whatever the budget: it is being removed,
 * and a removed directory can only be reached by its fds. */
void ovl_dir_keep_fd(struct ovl_inode *dir, int layer);
void ovl_dir_lock(struct ovl_inode *dir, bool exclusive);
void ovl_dir_unlock(struct ovl_inode *dir);
/* Both directories of a rename, exclusive, in the lock order */
void ovl_lock_rename(struct ovl_inode *p, struct ovl_inode *q);
void ovl_unlock_rename(struct ovl_inode *p, struct ovl_inode *q);

/*
 * Where an object is in one layer: a directory fd and a name in it, for
 * the *at() system calls.  Through a name, its parent's lock is held
 * shared until ovl_loc_put, so the name keeps meaning that object.  A
 * directory is its own fd and "."; a nameless object its O_PATH fd and ""
 * (AT_EMPTY_PATH).  Declare as OVL_LOC l = OVL_LOC_INIT;
 */
struct ovl_loc {
	int dirfd;
	const char *name;
	/* private */
	struct ovl_dfd d;
	struct ovl_inode *locked;
	char buf[NAME_MAX + 1];
};
#define OVL_LOC_INIT { .dirfd = -1, .name = "", .d = { .fd = -1 } }
#define OVL_LOC __attribute__((cleanup(ovl_loc_put))) struct ovl_loc
int ovl_locate(struct ovl_inode *n, int layer, struct ovl_loc *loc);
void ovl_loc_put(struct ovl_loc *loc);
/* openat() of the located object; an fd or -errno */
int ovl_loc_open(const struct ovl_loc *loc, int flags);
/* stat, or open, n's topmost object (0 or -errno); *layer (if not NULL):
 * the layer opened, which may no longer be n's topmost when it returns */
int ovl_inode_stat(struct ovl_inode *n, struct stat *st);
int ovl_inode_open(struct ovl_inode *n, int flags, int *fd, int *layer);

/* ino.c */
ino_t ovl_map_ino(struct ovl_fs *fs, int layer, ino_t real);
/* st_ino of a directory entry found in layer (dirfd, name), with d_ino real */
ino_t ovl_entry_ino(struct ovl_fs *fs, int layer, int dirfd, const char *name, bool is_dir,
		    bool impure, ino_t real);
/* Records on the copy (O_PATH fd) that it was copied from lower object st
 * in layer, so that it keeps its inode number: 1 when recorded, 0 when it
 * cannot be (the copy takes its own number), or -errno. */
int ovl_set_origin(struct ovl_fs *fs, int fd, int layer, const struct stat *st);
int ovl_ino_init(struct ovl_fs *fs);
void ovl_ino_destroy(struct ovl_fs *fs);

/* namei.c */
bool ovl_valid_name(const char *name);
/* Finds name in parent (whose lock the caller holds): the inode with a
 * reference (and a kernel lookup if kernel), and its attributes (st NULL:
 * not needed, a name already known will do). */
int ovl_lookup_locked(struct ovl_inode *parent, const char *name, bool kernel,
		      struct ovl_inode **out, struct stat *st);
int ovl_lookup_entry(struct ovl_inode *parent, const char *name, struct fuse_entry_param *e);
/* A lower layer has the name below parent's upper: 1, 0 or -errno */
int ovl_lower_positive(struct ovl_inode *parent, const char *name);

/* whiteout.c */
bool ovl_is_whiteout(const struct stat *st);
bool ovl_is_wh_name(const char *name);
int ovl_create_whiteout(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_create_wh_file(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_remove_wh_name(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_set_opaque(struct ovl_fs *fs, int dirfd);
/* The markers of an upper or lower directory */
struct ovl_dir_marks {
	bool opaque;
	bool impure;
};
/* The markers of directory dirfd: 0 or -errno (never "unmarked" for a
 * marker that could not be read) */
int ovl_dir_marks(struct ovl_fs *fs, int dirfd, struct ovl_dir_marks *m);
int ovl_set_impure(struct ovl_fs *fs, int dirfd);
/* A .wh.NAME file beside name: 1, 0, or -errno */
int ovl_whiteout_in_layer(struct ovl_fs *fs, int dirfd, const char *name);
int ovl_work_tmpname(struct ovl_fs *fs, char name[NAME_MAX + 1]);
void ovl_work_cleanup(struct ovl_fs *fs, const char *tmp);

/* copyup.c */
int ovl_copy_up(struct ovl_inode *n, bool with_data);

/* readdir.c */
void ovl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void ovl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void ovl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
int ovl_dir_is_empty(struct ovl_inode *dir);

/* dir.c */
void ovl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void ovl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void ovl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ovl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
int ovl_create_object(fuse_req_t req, struct ovl_inode *parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link, int open_flags, int *fd,
		      struct fuse_entry_param *e);
int ovl_create_tmpfile(fuse_req_t req, struct ovl_inode *parent, mode_t mode, int open_flags,
		       int *fdp, struct fuse_entry_param *e);

/* handles.c: ids for open files and directories (utils/idtable.h), so that
 * a forged, stale or twice-released handle misses the table.  An object
 * registered there starts with a struct ovl_handle. */
enum ovl_handle_kind { OVL_HANDLE_FILE, OVL_HANDLE_DIR };
struct ovl_handle {
	enum ovl_handle_kind kind;
	atomic_uint refs;         /* the table's, and requests in flight */
	/* frees the object; connected: false at unmount, when the kernel has
	 * dropped its backing files already */
	void (*free)(struct ovl_handle *h, bool connected);
};
int ovl_handles_init(struct ovl_handles *t);
/* Registers h (one reference: the table's); its id, or 0 without memory */
uint64_t ovl_handle_add(struct ovl_handles *t, struct ovl_handle *h);
/* The object of id if it is of that kind, with a reference; or NULL */
struct ovl_handle *ovl_handle_get(struct ovl_handles *t, uint64_t id, enum ovl_handle_kind kind);
/* Takes id out of the table (release): the object, whose table reference
 * the caller now drops, or NULL */
struct ovl_handle *ovl_handle_remove(struct ovl_handles *t, uint64_t id,
				     enum ovl_handle_kind kind);
void ovl_handle_put(struct ovl_handle *h);
/* Unmount: frees what the kernel left open (no release comes for it) */
void ovl_handles_destroy(struct ovl_handles *t);

/* file.c */
struct ovl_file {
	struct ovl_handle h;       /* first: OVL_HANDLE_FILE */
	int fd;
	int layer;      /* layer the fd was opened in */
	int flags;
	int stale_fd;   /* the lower fd replaced after a copy-up, closed at release */
	struct stat at_open; /* a passed-through writer's file when opened (pt_writer) */
	bool accounted; /* counted in the inode's opens and passthrough state */
	bool passthrough; /* the kernel does its I/O on the inode's backing */
	fuse_ino_t ino;   /* the FUSE inode it was opened through */
	enum ovl_pt_reason pt_why; /* if not: why (OVL_PT_NREASONS: registration failed) */
	struct ovl_inode *inode;   /* with a reference */
	pthread_mutex_t lock;
};
void ovl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi);
void ovl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void ovl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ovl_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *buf, off_t off,
		   struct fuse_file_info *fi);
void ovl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void ovl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi);
void ovl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags);
void ovl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
/* The open file of a request's handle with a reference (put it with
 * ovl_file_put), or NULL after replying EBADF. */
struct ovl_file *ovl_req_file(fuse_req_t req, struct fuse_file_info *fi);
/* The same without replying: NULL for no or a bad handle */
struct ovl_file *ovl_file_get(struct ovl_fs *fs, const struct fuse_file_info *fi);
void ovl_file_put(struct ovl_file *f);
int ovl_file_fd(struct ovl_file *f);

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
/* Choose passthrough or I/O through us for a new open f of n through the
 * FUSE inode f->ino, fill fi.  -ESTALE: that FUSE inode's backing is the
 * lower file of an object copied up since; the kernel looks the name up
 * again, finds the object's new id and repeats the open there. */
int ovl_passthrough_open(struct ovl_fs *fs, struct ovl_inode *n, struct ovl_file *f,
			 struct fuse_file_info *fi);
/* "passthrough, backing B" or "through the daemon (why)", for -o debug */
const char *ovl_passthrough_how(const struct ovl_file *f, const struct fuse_file_info *fi,
				char *buf, size_t len);
/* connected: false when the connection is gone (no backing to close) */
void ovl_passthrough_release(struct ovl_fs *fs, struct ovl_file *f, bool connected);

/* mount.c: the device to mount through (NULL: libfuse's /dev/fuse), and
 * the mount through it; fd_path receives "/dev/fd/N" for libfuse. */
const char *ovl_fuse_device(const struct ovl_config *cfg);
int ovl_mount_device(const struct ovl_config *cfg, const char *device, char *fd_path,
		     size_t size);
/* The unmount helper of a plain user's daemon: start (before confinement)
 * returns the fd to ask it through, or -1 (printed); ask: unmount now. */
int ovl_unmounter_start(const char *mountpoint);
void ovl_unmounter_ask(int fd);

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
/* clear setuid/setgid as a write by req's caller, who lacks CAP_FSETID,
 * does (FUSE_CAP_HANDLE_KILLPRIV_V2) */
void ovl_kill_suidgid(fuse_req_t req, struct ovl_inode *n);

/* owner.c */
void ovl_present_stat(struct ovl_inode *n, struct stat *st);
uid_t ovl_uid_to_disk(struct ovl_fs *fs, uid_t presented);
gid_t ovl_gid_to_disk(struct ovl_fs *fs, gid_t presented);
/* xattr_permissions: the xattr holding "uid:gid:mode", or NULL */
const char *ovl_override_xattr(const struct ovl_fs *fs);
/* owner and mode from the override xattr, if any */
void ovl_override_apply(struct ovl_fs *fs, int dirfd, const char *name, struct stat *st);
void ovl_override_apply_fd(struct ovl_fs *fs, int fd, struct stat *st);
int ovl_write_override(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid,
		       mode_t mode);
/* chown (dirfd, name) to disk ids (-1 keeps one); name "": dirfd itself;
 * 0 or -errno */
int ovl_set_owner(struct ovl_fs *fs, int dirfd, const char *name, uid_t uid, gid_t gid);

/* xattr.c */
void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
bool ovl_xattr_is_internal(const char *name);
int ovl_copy_xattrs(struct ovl_fs *fs, int srcfd, int dstfd);
ssize_t ovl_default_acl(int dirfd, char **value);
int ovl_set_default_acl(int fd, const char *value, size_t size);
int ovl_drop_access_acl(int fd);
static inline bool ovl_acls_shown(const struct ovl_fs *fs)
{
	return !fs->cfg->noacl && !fs->cfg->noxattrs;
}

/* fuse_ops.c */
extern const struct fuse_lowlevel_ops ovl_ops;

/* wire.c: how requests arrive.  Attach: requests checked before libfuse
 * parses them, on the session's descriptor (after it is mounted); 0, or
 * -errno when libfuse has no custom io (requests then reach it unchecked).
 * Init: take FUSE over io_uring when offered and io_uring=auto.  Note: a
 * request's transport, seen by lookup and getattr; transport: its name. */
int ovl_wire_attach(struct ovl_fs *fs, struct fuse_session *se);
void ovl_wire_init(struct ovl_fs *fs, struct fuse_conn_info *conn);
void ovl_wire_note_transport(struct ovl_fs *fs, fuse_req_t req);
const char *ovl_wire_transport(struct ovl_fs *fs);

/* privilege.c: once mounted, drop what serving never needs.  Drop:
 * capabilities and no_new_privs (0 or -errno, printed).  Filter: build the
 * seccomp allow-list for cfg->seccomp (NULL when off) after mounting and
 * before daemonising,
 * load it after, before any thread exists. */
struct ovl_filter;
int ovl_drop_privileges(void);
int ovl_filter_build(const struct ovl_config *cfg, struct ovl_filter **out);
int ovl_filter_load(struct ovl_filter *f);
void ovl_filter_free(struct ovl_filter *f);
#ifdef OVL_TEST_HOOKS
void ovl_test_syscall(const char *name);
#endif

#endif
