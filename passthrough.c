/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE passthrough (Linux 6.9+, libfuse 3.17+): the reads, writes, splices
 * and mmaps of an open file go from the kernel straight to a backing file
 * we registered, without a round trip to this daemon.
 *
 * The kernel's rules shape everything here (fs/fuse/iomode.c and
 * passthrough.c, 6.12 to 6.18):
 *  - a FUSE inode has at most one backing file (another one: EBUSY).  While
 *    it has one, every open of it must be a passthrough open of that same
 *    backing (EINVAL otherwise, FOPEN_DIRECT_IO or not), and a passthrough
 *    open fails while cached (non-passthrough) opens exist (ETXTBSY).  The
 *    inode drops its backing when its last passthrough open is released.
 *    A wrong answer fails the user's open() with EIO, so each FUSE inode
 *    counts its passthrough and cached opens (struct ovl_kio) and never
 *    mixes them.
 *  - each open gets its own file on the backing's path, opened with the
 *    user's open flags and the registering thread's credentials: a lower
 *    backing must only ever serve read-only opens.  Every open that writes
 *    copies the file up first, so it opens the upper file.
 * A lower file is therefore passed through to its readers; when the object
 * is copied up while its FUSE inode still has that lower backing, the
 * inode can serve no open of the upper file at all.  The object then takes
 * a new FUSE id and the open is answered ESTALE: the kernel's open(2)
 * repeats the path walk once with LOOKUP_REVAL (fs/namei.c,
 * do_filp_open), its lookup finds the new id, and the open is repeated on
 * a fresh FUSE inode (renew_id).  Through kernel/'s fuse_userns module the
 * inode keeps its id and takes the upper file as its backing instead
 * (replace_backing).  Either way the opens made before the copy-up go on
 * reading the lower file until they close (kernel overlayfs moves them to
 * the upper copy at their next read: a difference the man page states).
 * Policies (-o passthrough=):
 *      all (default)  every regular file
 *      upper          upper files; lower files only without an upper
 *                     layer (nothing is ever copied up then)
 *      off            never
 * A backing whose filesystem is stacked max_stack_depth deep is refused
 * (ELOOP); unprivileged servers are refused (EPERM).  Both fall back to
 * I/O through the daemon with one log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ovl.h"

const char *const ovl_pt_reason_names[OVL_PT_NREASONS] = {
	[OVL_PT_OFF] = "passthrough off",
	[OVL_PT_LOWER] = "lower file",
	[OVL_PT_CACHED] = "file open cached",
	[OVL_PT_EPERM] = "not permitted",
	[OVL_PT_ELOOP] = "stacked too deep",
	[OVL_PT_LIMIT] = "backing file limit",
	[OVL_PT_ERROR] = "other error",
};

#ifdef HAVE_FUSE_PASSTHROUGH
/*
 * The /dev/fuse ioctls (uapi linux/fuse.h, 7.40).  libfuse wraps them only
 * for a request not yet answered and logs every failure; a backing must
 * also be closed when the open's reply could not be sent, so we issue them
 * on the session fd ourselves.
 */
struct ovl_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define OVL_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct ovl_backing_map)
#define OVL_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* kernel/'s fuse_userns only (patches/0002-backing-replace.patch): the
 * inode of a node id, whose backing is read-only, takes another backing */
struct ovl_backing_replace {
	uint64_t nodeid;
	int32_t backing_id;
	uint32_t flags;
};
#define OVL_BACKING_REPLACE_PROBE 1
#define OVL_USERNS_IOC_BACKING_REPLACE _IOW(229, 0x80, struct ovl_backing_replace)

/* statfs f_type of filesystems that stack on others (each adds a level) */
#define OVERLAYFS_MAGIC 0x794c7630
#define FUSE_MAGIC 0x65735546
#define ECRYPTFS_MAGIC 0xf15f


static bool layer_is_stacked(const struct ovl_layer *l)
{
	struct statfs sf;

	if (fstatfs(l->fd, &sf) < 0)
		return false;
	return sf.f_type == OVERLAYFS_MAGIC || sf.f_type == FUSE_MAGIC ||
	       sf.f_type == ECRYPTFS_MAGIC;
}

/* Can files of this layer ever be backing files under the policy? */
static bool layer_may_pass(const struct ovl_fs *fs, int layer)
{
	if (layer == 0 && fs->has_upper)
		return true;
	return !fs->has_upper || fs->cfg->passthrough == OVL_PASSTHROUGH_ALL;
}

/*
 * max_stack_depth 1 keeps room for a kernel overlayfs on top of this mount;
 * 2 is needed when backing files sit on a stacked filesystem themselves.
 */
static int auto_stack_depth(const struct ovl_fs *fs)
{
	for (int i = 0; i < fs->nlayers; i++)
		if (layer_may_pass(fs, i) && layer_is_stacked(&fs->layers[i]))
			return 2;
	return 1;
}

static void count_fallback(struct ovl_fs *fs, enum ovl_pt_reason why)
{
	atomic_fetch_add_explicit(&fs->stats.pt_fallbacks[why], 1, memory_order_relaxed);
}

/* Register fd as a backing file: its id, or 0 (and why, counted). */
static int backing_open(struct ovl_fs *fs, int layer, int fd)
{
	struct ovl_backing_map map = { .fd = fd };
	int id = ioctl(fuse_session_fd(fs->se), OVL_DEV_IOC_BACKING_OPEN, &map);

	if (id > 0)
		return id;
	if (errno == EPERM) {
		/* the kernel wants CAP_SYS_ADMIN in the initial user namespace */
		atomic_store(&fs->passthrough_off_why, OVL_PT_EPERM);
		if (atomic_exchange(&fs->passthrough, false))
			ovl_err("passthrough: not permitted (needs CAP_SYS_ADMIN outside any user "
				"namespace); file I/O goes through the daemon");
		count_fallback(fs, OVL_PT_EPERM);
	} else if (errno == ELOOP) {
		if (!atomic_exchange(&fs->layers[layer].no_passthrough, true))
			ovl_err("passthrough: %s is stacked too deep for max_stack_depth; its "
				"files go through the daemon", fs->layers[layer].path);
		count_fallback(fs, OVL_PT_ELOOP);
	} else if (errno == EMFILE) {
		/* fuse_userns caps a connection's backing files (RLIMIT_NOFILE,
		 * its max_backing_files); more files wait for a backing to close */
		if (!atomic_exchange(&fs->pt_limit_said, true))
			ovl_err("passthrough: the kernel's limit of backing files is reached; "
				"further files go through the daemon until some close");
		count_fallback(fs, OVL_PT_LIMIT);
	} else {
		ovl_debug("passthrough: cannot register fd %d: %s", fd, strerror(errno));
		count_fallback(fs, OVL_PT_ERROR);
	}
	return 0;
}

static void backing_close(struct ovl_fs *fs, int id)
{
	uint32_t arg = (uint32_t)id;

	if (ioctl(fuse_session_fd(fs->se), OVL_DEV_IOC_BACKING_CLOSE, &arg) < 0)
		ovl_debug("passthrough: cannot close backing %d: %s", id, strerror(errno));
}

/* Why f cannot get a backing of its own; OVL_PT_NREASONS if it can. */
static enum ovl_pt_reason cannot_pass(struct ovl_fs *fs, const struct ovl_kio *k,
				      const struct ovl_file *f)
{
	if (!atomic_load(&fs->passthrough))
		return atomic_load(&fs->passthrough_off_why);
	if (!layer_may_pass(fs, f->layer))
		return OVL_PT_LOWER;
	if (atomic_load(&fs->layers[f->layer].no_passthrough))
		return OVL_PT_ELOOP;
	if (k->cached_opens)
		return OVL_PT_CACHED;
	return OVL_PT_NREASONS;
}
#endif

void ovl_passthrough_init(struct ovl_fs *fs, struct fuse_conn_info *conn)
{
#ifdef HAVE_FUSE_PASSTHROUGH
	int depth;

	if (fs->cfg->passthrough == OVL_PASSTHROUGH_OFF)
		return;
	if (!(conn->capable & FUSE_CAP_PASSTHROUGH)) {
		ovl_err("passthrough: not offered by the kernel; file I/O goes through the daemon");
		return;
	}
	depth = fs->cfg->max_stack_depth ? fs->cfg->max_stack_depth : auto_stack_depth(fs);
	conn->want |= FUSE_CAP_PASSTHROUGH;
	/* libfuse counts the levels below the backing files: it sends depth */
	conn->max_backing_stack_depth = (uint32_t)depth - 1;
	atomic_store(&fs->passthrough, true);
	ovl_debug("passthrough: on, max_stack_depth %d", depth);
#else
	(void)conn;
	if (fs->cfg->passthrough != OVL_PASSTHROUGH_OFF)
		ovl_err("passthrough: built without libfuse >= 3.17; file I/O goes through the daemon");
#endif
}

/* The state of the FUSE inode id of n (io_lock held): its current or
 * its old id; NULL for any other. */
static struct ovl_kio *kio_of(struct ovl_inode *n, fuse_ino_t id)
{
	if (id == atomic_load(&n->id))
		return &n->io;
	if (n->old_id && n->old_id->id == id)
		return &n->old_id->io;
	return NULL;
}

#ifdef HAVE_FUSE_PASSTHROUGH
/* Does the kernel replace backings (fuse_userns)?  Asked once, at the
 * first need: before the INIT reply the kernel refuses every ioctl. */
static bool may_replace(struct ovl_fs *fs)
{
	struct ovl_backing_replace probe = { .flags = OVL_BACKING_REPLACE_PROBE };
	int known = atomic_load(&fs->pt_replace);

	if (known == 0) {
		known = ioctl(fuse_session_fd(fs->se), OVL_USERNS_IOC_BACKING_REPLACE, &probe) == 0
			? 1 : -1;
		atomic_store(&fs->pt_replace, known);
		ovl_debug("passthrough: the kernel %s replace a read-only backing",
			  known > 0 ? "can" : "cannot");
	}
	return known > 0;
}

/*
 * With fuse_userns, the FUSE inode of f->ino, whose backing is the lower
 * file of an object copied up since, takes the upper file f as its backing:
 * the opens made before keep reading the lower file, f and every later
 * open pass through to the upper one, the node id stays.  The new backing
 * id, or 0 (not possible: renew_id then).  io_lock held.
 */
static int replace_backing(struct ovl_fs *fs, struct ovl_kio *k, struct ovl_file *f)
{
	struct ovl_backing_replace arg = { .nodeid = f->ino };

	if (!may_replace(fs) || (arg.backing_id = backing_open(fs, f->layer, f->fd)) <= 0)
		return 0;
	/* ENODATA: the kernel has dropped the inode's backing already (its
	 * last passthrough file is gone, the release is on its way) */
	if (ioctl(fuse_session_fd(fs->se), OVL_USERNS_IOC_BACKING_REPLACE, &arg) < 0 &&
	    errno != ENODATA) {
		ovl_debug("passthrough: cannot replace backing %d of inode %lu: %s",
			  k->backing_id, (unsigned long)f->ino, strerror(errno));
		backing_close(fs, arg.backing_id);
		return 0;
	}
	ovl_debug("passthrough: inode %lu was copied up under its lower backing %d: backing %d "
		  "from now on", (unsigned long)f->ino, k->backing_id, arg.backing_id);
	/* no later open names the lower one: the kernel keeps what it needs */
	backing_close(fs, k->backing_id);
	k->backing_id = arg.backing_id;
	k->backing_lower = false;
	atomic_fetch_add_explicit(&fs->stats.pt_replaced, 1, memory_order_relaxed);
	return arg.backing_id;
}

/*
 * n was copied up while the kernel's inode of its current id reads the
 * lower file through a backing.  That inode can serve no open of the upper
 * file: not passed through (one backing per inode: EBUSY), not through the
 * daemon (an inode with a backing takes passthrough opens only: EINVAL).
 * So n gets a new id, whose kernel inode starts without a backing; the old
 * one keeps serving the opens made before the copy-up on the lower file
 * until they close.  io_lock held.
 */
static int renew_id(struct ovl_fs *fs, struct ovl_inode *n)
{
	struct ovl_old_id *old;
	fuse_ino_t was = atomic_load(&n->id);
	int ret;

	/* only a lower file gets a lower backing, and once copied up a file
	 * stays in the upper layer: an object is renewed once */
	if (n->old_id) {
		ovl_err("passthrough: inode %lu would need a third id", (unsigned long)was);
		return -EIO;
	}
	old = calloc(1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	old->io = n->io;
	ret = ovl_inode_renew_id(n, old);
	if (ret < 0) {
		free(old);
		return ret;
	}
	n->io = (struct ovl_kio){ 0 };
	atomic_fetch_add_explicit(&fs->stats.pt_new_ids, 1, memory_order_relaxed);
	ovl_debug("passthrough: inode %lu was copied up under its lower backing %d: now inode "
		  "%lu; the kernel looks it up again (ESTALE)", (unsigned long)was,
		  old->io.backing_id, (unsigned long)atomic_load(&n->id));
	return 0;
}
#endif

int ovl_passthrough_open(struct ovl_fs *fs, struct ovl_inode *n, struct ovl_file *f,
			 struct fuse_file_info *fi)
{
	enum ovl_pt_reason why = OVL_PT_NREASONS;
	struct ovl_kio *k;
	int id = 0, ret = 0;

	pthread_mutex_lock(&n->io_lock);
	k = kio_of(n, f->ino);
	if (!k) {
		ret = -ESTALE;
#ifdef HAVE_FUSE_PASSTHROUGH
	} else if (k->backing_id && k->backing_lower && !ovl_layer_is_lower(fs, f->layer)) {
		/* the upper file behind a lower backing: the inode takes the
		 * upper file as its backing, or the open is repeated on the
		 * object's new id (renewed now, or before) */
		id = replace_backing(fs, k, f);
		if (id == 0)
			ret = k == &n->io ? renew_id(fs, n) : 0;
		if (id == 0 && ret == 0)
			ret = -ESTALE;
	} else if (k->backing_id) {
		/* every open must share the inode's backing; a lower one is
		 * read-only, and a write always opens the upper file */
		id = k->backing_id;
	} else {
		why = cannot_pass(fs, k, f);
		if (why == OVL_PT_NREASONS && (id = backing_open(fs, f->layer, f->fd)) > 0) {
			k->backing_id = id;
			k->backing_lower = ovl_layer_is_lower(fs, f->layer);
		}
#endif
	}
	if (ret < 0) {
		pthread_mutex_unlock(&n->io_lock);
		return ret;
	}
	if (id > 0) {
		k->passthrough_opens++;
		f->passthrough = true;
	} else {
		k->cached_opens++;
		if (why != OVL_PT_NREASONS)
			count_fallback(fs, why);
	}
	pthread_mutex_unlock(&n->io_lock);

#ifdef HAVE_FUSE_PASSTHROUGH
	if (id > 0) {
		fi->backing_id = id;
		fi->keep_cache = 0;
		atomic_fetch_add_explicit(&fs->stats.pt_opens, 1, memory_order_relaxed);
		return 0;
	}
	f->pt_why = why;
#else
	f->pt_why = OVL_PT_OFF;
#endif
	/* Lower files never change, so their pages may outlive the open; an
	 * upper file may have been written through a backing meanwhile. */
	if (atomic_load(&fs->passthrough))
		fi->keep_cache = ovl_layer_is_lower(fs, f->layer);
	else
		fi->keep_cache = !fs->writeback;
	return 0;
}

const char *ovl_passthrough_how(const struct ovl_file *f, const struct fuse_file_info *fi,
				char *buf, size_t len)
{
#ifdef HAVE_FUSE_PASSTHROUGH
	if (f->passthrough) {
		snprintf(buf, len, "passthrough, backing %d", fi->backing_id);
		return buf;
	}
#else
	(void)fi;
#endif
	snprintf(buf, len, "through the daemon (%s)", f->pt_why == OVL_PT_NREASONS ?
		 "registration failed" : ovl_pt_reason_names[f->pt_why]);
	return buf;
}

void ovl_passthrough_release(struct ovl_fs *fs, struct ovl_file *f, bool connected)
{
	struct ovl_inode *n = f->inode;
	struct ovl_kio *k;
	int id = 0;

	if (!n)
		return;
	pthread_mutex_lock(&n->io_lock);
	k = kio_of(n, f->ino);
	if (!k) {
		/* cannot be: both ids stay as long as n */
	} else if (!f->passthrough) {
		k->cached_opens--;
	} else if (--k->passthrough_opens == 0) {
		id = k->backing_id;
		k->backing_id = 0;
	}
	pthread_mutex_unlock(&n->io_lock);
#ifdef HAVE_FUSE_PASSTHROUGH
	/* a closed connection has dropped its backing files already */
	if (id && connected)
		backing_close(fs, id);
#else
	(void)fs;
	(void)connected;
	(void)id;
#endif
}
