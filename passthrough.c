/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE passthrough (Linux 6.9+, libfuse 3.17+): the reads, writes, splices
 * and mmaps of an open file go from the kernel straight to a backing file
 * we registered, without a round trip to this daemon.
 *
 * The kernel's rules shape everything here (fs/fuse/iomode.c):
 *  - a FUSE inode has at most one backing file.  While it has one, every
 *    open of it must be a passthrough open of that same backing, and a
 *    passthrough open fails while cached (non-passthrough) opens exist.  A
 *    wrong answer fails the user's open() with EIO, so each inode counts its
 *    passthrough and cached opens and never mixes them.
 *  - I/O goes to the registered file's path with the registering thread's
 *    credentials, whatever the open flags: a lower file registered as a
 *    backing and then opened for writing would be written in the lower
 *    layer.  So which files may be passed through is a policy:
 *      upper (default)  upper files; lower files too when there is no upper
 *                       layer (nothing can be opened for writing then)
 *      all              also lower files opened read-only; while such an
 *                       open lasts, opening the file for writing or
 *                       truncating it fails with ETXTBSY, as writing a
 *                       running executable does
 *      off              never
 *  - a backing whose filesystem is stacked max_stack_depth deep is refused
 *    (ELOOP); unprivileged servers are refused (EPERM).  Both fall back to
 *    I/O through the daemon with one log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
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
static enum ovl_pt_reason cannot_pass(struct ovl_fs *fs, const struct ovl_inode *n,
				      const struct ovl_file *f)
{
	if (!atomic_load(&fs->passthrough))
		return atomic_load(&fs->passthrough_off_why);
	if (!layer_may_pass(fs, f->layer))
		return OVL_PT_LOWER;
	if (atomic_load(&fs->layers[f->layer].no_passthrough))
		return OVL_PT_ELOOP;
	if (n->cached_opens)
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

int ovl_passthrough_open(struct ovl_fs *fs, struct ovl_inode *n, struct ovl_file *f,
			 struct fuse_file_info *fi)
{
#ifdef HAVE_FUSE_PASSTHROUGH
	enum ovl_pt_reason why = OVL_PT_NREASONS;
	int id = 0;

	pthread_mutex_lock(&n->io_lock);
	if (n->backing_id) {
		/* every open must share the inode's backing */
		if (n->backing_lower && ovl_open_writes(f->flags)) {
			pthread_mutex_unlock(&n->io_lock);
			return -ETXTBSY;
		}
		id = n->backing_id;
	} else {
		why = cannot_pass(fs, n, f);
		if (why == OVL_PT_NREASONS && (id = backing_open(fs, f->layer, f->fd)) > 0) {
			n->backing_id = id;
			n->backing_lower = ovl_layer_is_lower(fs, f->layer);
		}
	}
	if (id > 0) {
		n->passthrough_opens++;
		f->passthrough = true;
	} else {
		n->cached_opens++;
		if (why != OVL_PT_NREASONS)
			count_fallback(fs, why);
	}
	pthread_mutex_unlock(&n->io_lock);

	if (id > 0) {
		fi->backing_id = id;
		fi->keep_cache = 0;
		atomic_fetch_add_explicit(&fs->stats.pt_opens, 1, memory_order_relaxed);
		return 0;
	}
	f->pt_why = why;
#else
	(void)n;
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
	int id = 0;

	if (!n)
		return;
	pthread_mutex_lock(&n->io_lock);
	if (!f->passthrough) {
		n->cached_opens--;
	} else if (--n->passthrough_opens == 0) {
		id = n->backing_id;
		n->backing_id = 0;
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

int ovl_passthrough_may_write(struct ovl_inode *n)
{
	int ret = 0;

	pthread_mutex_lock(&n->io_lock);
	if (n->backing_id && n->backing_lower)
		ret = -ETXTBSY;
	pthread_mutex_unlock(&n->io_lock);
	return ret;
}
