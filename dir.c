/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Namespace operations: creating, linking, removing and renaming entries.
 * Everything happens in the upper layer, after copying up the parent.
 * Replacing a whiteout and leaving one behind are atomic: the new object
 * is built in workdir/work and renamed (or exchanged) into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovl.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* What the upper layer holds at a name of a directory copied up. */
enum upper_state { UPPER_NONE, UPPER_WHITEOUT, UPPER_WH_FILE, UPPER_ENTRY };

static enum upper_state upper_state(struct ovl_fs *fs, int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return ovl_is_whiteout(&st) ? UPPER_WHITEOUT : UPPER_ENTRY;
	return ovl_whiteout_in_layer(fs, dirfd, name) ? UPPER_WH_FILE : UPPER_NONE;
}

static struct ovl_node *get_dir(struct ovl_fs *fs, fuse_ino_t id, int *err)
{
	struct ovl_node *n = ovl_node_get(fs, id);

	*err = !n ? ESTALE : !ovl_is_dir(n) ? ENOTDIR : 0;
	return *err ? NULL : n;
}

/* Looks name up in the merged tree: the cached node, else a fresh lookup
 * that enters the table (the caller forgets it). */
static int lookup_pinned(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
			 struct ovl_node **out, bool *looked_up)
{
	struct fuse_entry_param e;
	int ret;

	*looked_up = false;
	*out = ovl_node_find(fs, parent, name);
	if (*out)
		return 0;
	ret = ovl_lookup_entry(fs, parent, name, &e);
	if (ret < 0)
		return ret;
	*out = ovl_node_get(fs, e.ino);
	ovl_node_pin(fs, *out);
	ovl_node_forget(fs, *out, 1);
	*looked_up = true;
	return 0;
}

static void put_node(struct ovl_fs *fs, struct ovl_node *n)
{
	ovl_node_unpin(fs, n);
}

/* Ownership of a new object (dirfd, name), or of the nameless file fd
 * when name is "": the caller's ids, mapped to disk.  In a setgid directory
 * the filesystem already gave it the directory's group. */
static int own_new(fuse_req_t req, int dirfd, int fd, const char *name)
{
	struct ovl_fs *fs = ovl_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dst;
	uid_t uid = ovl_uid_to_disk(fs, ctx->uid);
	gid_t gid = ovl_gid_to_disk(fs, ctx->gid);

	if (fstat(dirfd, &dst) == 0 && (dst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	return ovl_set_owner(fs, *name ? dirfd : fd, name, uid, gid);
}

/* Makes the object in dirfd under name; returns an fd for regular files
 * and directories (O_PATH otherwise) in *fd. */
static int make_object(fuse_req_t req, int dirfd, const char *name, mode_t mode, dev_t rdev,
		       const char *link, int open_flags, int *fd)
{
	int ret = 0;

	*fd = -1;
	switch (mode & S_IFMT) {
	case S_IFREG:
		*fd = openat(dirfd, name, (open_flags & ~O_TRUNC) | O_CREAT | O_EXCL | O_NOFOLLOW |
						  O_CLOEXEC, mode & 07777);
		break;
	case S_IFDIR:
		if (mkdirat(dirfd, name, mode & 07777) == 0)
			*fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		break;
	case S_IFLNK:
		if (symlinkat(link, dirfd, name) == 0)
			*fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		break;
	default:
		if (mknodat(dirfd, name, mode, rdev) == 0)
			*fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		break;
	}
	if (*fd < 0)
		return -errno;
	ret = own_new(req, dirfd, *fd, name);
	/* chown clears setuid/setgid: put the asked-for mode back */
	if (ret == 0 && (mode & (S_ISUID | S_ISGID)) && !S_ISLNK(mode)) {
		struct ovl_procpath p;
		if (chmod(ovl_procpath(&p, *fd), mode & 07777) < 0)
			ret = -errno;
	}
	if (ret < 0) {
		close(*fd);
		*fd = -1;
		S_ISDIR(mode) ? unlinkat(dirfd, name, AT_REMOVEDIR) : unlinkat(dirfd, name, 0);
	}
	return ret;
}

/* Replaces the whiteout at (dirfd, name) with tmp from the workdir. */
static int replace_whiteout(struct ovl_fs *fs, int dirfd, const char *name, const char *tmp,
			    bool is_dir, enum upper_state state)
{
	if (state == UPPER_WH_FILE) {
		if (renameat2(fs->workfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0)
			return -errno;
		return ovl_remove_wh_name(fs, dirfd, name);
	}
	if (!is_dir)
		return renameat(fs->workfd, tmp, dirfd, name) < 0 ? -errno : 0;
	/* rename(2) cannot put a directory over a device: exchange them and
	 * drop the whiteout that lands in the workdir */
	if (renameat2(fs->workfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0)
		return -errno;
	unlinkat(fs->workfd, tmp, 0);
	return 0;
}

static int fill_new_entry(struct ovl_fs *fs, struct ovl_node *parent, const char *name, int fd,
			  struct fuse_entry_param *e, ino_t inherit_ino)
{
	struct ovl_node *fresh, *n;
	struct stat st;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = e->entry_timeout = fs->timeout;
	if (fstat(fd, &st) < 0)
		return -errno;
	ovl_override_apply_fd(fs, fd, &st);
	fresh = ovl_node_alloc(fs, st.st_mode, fs->nlayers);
	if (!fresh)
		return -ENOMEM;
	atomic_store(&fresh->layer, 0);
	fresh->ino = inherit_ino ? inherit_ino : ovl_map_ino(fs, 0, st.st_ino);
	if (S_ISDIR(st.st_mode)) {
		int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			ovl_node_free(fs, fresh);
			return -errno;
		}
		ovl_dir_set_fd(fs, fresh, 0, dfd);
	}
	n = ovl_node_insert(fs, parent, name, fresh);   /* name NULL: O_TMPFILE */
	if (!n)
		return -ENOMEM;
	e->ino = n->id;
	e->attr = st;
	ovl_present_stat(fs, n, &e->attr);
	return 0;
}

int ovl_create_object(fuse_req_t req, struct ovl_node *parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link, int open_flags, int *fdp,
		      struct fuse_entry_param *e)
{
	struct ovl_fs *fs = ovl_fs(req);
	char tmp[NAME_MAX + 1];
	OVL_DFD d = { .fd = -1 };
	enum upper_state state;
	int fd = -1, ret;

	if (!ovl_valid_name(name))
		return strlen(name) > NAME_MAX ? -ENAMETOOLONG : -EINVAL;
	ret = ovl_copy_up(fs, parent, false);
	if (ret == 0)
		ret = ovl_dir_fd(fs, parent, 0, &d);
	if (ret < 0)
		return ret;
	state = upper_state(fs, d.fd, name);
	if (state == UPPER_ENTRY)
		return -EEXIST;
	if (state == UPPER_NONE) {
		ret = make_object(req, d.fd, name, mode, rdev, link, open_flags, &fd);
	} else {
		/* Over a whiteout: build aside, then swap in atomically.  A new
		 * directory there must not show what the whiteout hid. */
		ovl_work_tmpname(fs, tmp);
		ret = make_object(req, fs->workfd, tmp, mode, rdev, link, open_flags, &fd);
		if (ret == 0 && S_ISDIR(mode))
			ret = ovl_set_opaque(fs, fd);
		if (ret == 0)
			ret = replace_whiteout(fs, d.fd, name, tmp, S_ISDIR(mode), state);
		if (ret < 0 && fd >= 0) {
			close(fd);
			fd = -1;
			ovl_remove_tree_at(fs->workfd, tmp);
		}
	}
	if (ret == 0)
		ret = fill_new_entry(fs, parent, name, fd, e, 0);
	if (ret == 0 && fdp && S_ISREG(mode)) {
		*fdp = fd;
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * An O_TMPFILE file in the parent's upper directory.  Its node has no name,
 * like a file removed while open, and is reached through an O_PATH fd of the
 * file until a link gives it a name (ovl_link).
 */
int ovl_create_tmpfile(fuse_req_t req, struct ovl_node *parent, mode_t mode, int open_flags,
		       int *fdp, struct fuse_entry_param *e)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_DFD d = { .fd = -1 };
	struct ovl_procpath p;
	struct ovl_node *n = NULL;
	int fd, path_fd = -1, ret;

	ret = ovl_copy_up(fs, parent, false);
	if (ret == 0)
		ret = ovl_dir_fd(fs, parent, 0, &d);
	if (ret < 0)
		return ret;
	fd = openat(d.fd, ".", (open_flags & ~O_TRUNC) | O_TMPFILE | O_CLOEXEC, mode & 07777);
	if (fd < 0)
		return -errno;
	ret = own_new(req, d.fd, fd, "");
	/* chown clears setuid/setgid: put the asked-for mode back */
	if (ret == 0 && (mode & (S_ISUID | S_ISGID)) && fchmod(fd, mode & 07777) < 0)
		ret = -errno;
	if (ret == 0 && (path_fd = open(ovl_procpath(&p, fd), O_PATH | O_CLOEXEC)) < 0)
		ret = -errno;
	if (ret == 0)
		ret = fill_new_entry(fs, parent, NULL, fd, e, 0);
	if (ret == 0 && !(n = ovl_node_get(fs, e->ino)))
		ret = -ESTALE;
	if (ret == 0) {
		atomic_store(&n->orphan_fd, path_fd);
		*fdp = fd;
		return 0;
	}
	if (path_fd >= 0)
		close(path_fd);
	close(fd);
	return ret;
}

static void reply_new(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct fuse_entry_param e;
	struct ovl_node *p;
	int err, ret;

	p = get_dir(fs, parent, &err);
	if (!p) {
		fuse_reply_err(req, err);
		return;
	}
	ret = ovl_create_object(req, p, name, mode, rdev, link, 0, NULL, &e);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

void ovl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	ovl_debug("mkdir parent=%lu name=%s mode=0%o", (unsigned long)parent, name, mode);
	reply_new(req, parent, name, (mode & 07777) | S_IFDIR, 0, NULL);
}

void ovl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	ovl_debug("mknod parent=%lu name=%s mode=0%o rdev=%lu", (unsigned long)parent, name, mode,
		  (unsigned long)rdev);
	/* a 0/0 char device would read back as a whiteout */
	if (S_ISCHR(mode) && rdev == makedev(0, 0)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	reply_new(req, parent, name, mode, rdev, NULL);
}

void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	ovl_debug("symlink parent=%lu name=%s target=%s", (unsigned long)parent, name, link);
	reply_new(req, parent, name, S_IFLNK | 0777, 0, link);
}

void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *n = ovl_node_get(fs, ino), *src_parent = NULL, *q;
	struct fuse_entry_param e;
	char name[NAME_MAX + 1], tmp[NAME_MAX + 1];
	OVL_DFD from = { .fd = -1 };
	OVL_DFD to = { .fd = -1 };
	enum upper_state state;
	struct ovl_procpath p;
	const char *src;
	int err, ret, orphan, src_dir, src_flags;
	bool nameless;

	ovl_debug("link ino=%lu newparent=%lu newname=%s", (unsigned long)ino,
		  (unsigned long)newparent, newname);
	q = get_dir(fs, newparent, &err);
	if (!n || !q) {
		fuse_reply_err(req, !n ? ESTALE : err);
		return;
	}
	if (!ovl_valid_name(newname)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* A nameless node (O_TMPFILE, or removed while open) links from the
	 * file itself: the kernel allows it for an O_TMPFILE file only. */
	orphan = ovl_node_orphan_fd(fs, n);
	nameless = orphan >= 0;
	ret = ovl_copy_up(fs, n, true);
	if (ret == 0)
		ret = ovl_copy_up(fs, q, false);
	if (ret == 0 && !nameless)
		ret = ovl_node_name(fs, n, &src_parent, name);
	if (ret == 0 && !nameless)
		ret = ovl_dir_fd(fs, src_parent, 0, &from);
	if (ret == 0)
		ret = ovl_dir_fd(fs, q, 0, &to);
	src_dir = nameless ? AT_FDCWD : from.fd;
	src = nameless ? ovl_procpath(&p, orphan) : name;
	src_flags = nameless ? AT_SYMLINK_FOLLOW : 0;
	if (ret == 0) {
		state = upper_state(fs, to.fd, newname);
		if (state == UPPER_ENTRY) {
			ret = -EEXIST;
		} else if (state == UPPER_NONE) {
			ret = linkat(src_dir, src, to.fd, newname, src_flags) < 0 ? -errno : 0;
		} else {
			ovl_work_tmpname(fs, tmp);
			ret = linkat(src_dir, src, fs->workfd, tmp, src_flags) < 0 ? -errno : 0;
			if (ret == 0)
				ret = replace_whiteout(fs, to.fd, newname, tmp, false, state);
			if (ret < 0)
				unlinkat(fs->workfd, tmp, 0);
		}
	}
	/* A hard link is the same inode: answer with the same node, so the
	 * kernel updates its link count.  A later lookup of the new name
	 * builds a node of its own, as for any name. */
	if (ret == 0) {
		memset(&e, 0, sizeof(e));
		e.attr_timeout = e.entry_timeout = fs->timeout;
		if (fstatat(to.fd, newname, &e.attr, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
		} else {
			ovl_override_apply(fs, to.fd, newname, &e.attr);
			ovl_present_stat(fs, n, &e.attr);
			ovl_node_ref(fs, n);
			e.ino = n->id;
		}
	}
	ovl_node_unpin(fs, src_parent);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

/*
 * Takes name out of the upper directory dirfd.  When a lower layer still
 * has the name, a whiteout takes its place in the same step: a char
 * whiteout is swapped in by rename; a .wh. file is made first, so a crash
 * in between leaves the name hidden rather than resurrected.
 */
static int remove_upper(struct ovl_fs *fs, int dirfd, const char *name, bool is_dir,
			bool whiteout)
{
	char tmp[NAME_MAX + 1];
	int ret;

	if (!whiteout && !is_dir)
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	ovl_work_tmpname(fs, tmp);
	if (whiteout && fs->char_whiteouts) {
		if (mknodat(fs->workfd, tmp, S_IFCHR | 0000, makedev(0, 0)) < 0)
			return -errno;
		atomic_fetch_add_explicit(&fs->stats.whiteouts, 1, memory_order_relaxed);
		if (renameat2(fs->workfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0) {
			ret = -errno;
			unlinkat(fs->workfd, tmp, 0);
			return ret;
		}
	} else {
		if (whiteout && (ret = ovl_create_whiteout(fs, dirfd, name)) < 0)
			return ret;
		/* a directory may still hold whiteouts: move it aside whole */
		if (renameat(dirfd, name, fs->workfd, tmp) < 0)
			return -errno;
	}
	return ovl_remove_tree_at(fs->workfd, tmp);
}

/* A file removed while open keeps being reachable for getattr and setattr
 * (the kernel sends them without a file handle too) through an O_PATH fd. */
static void keep_orphan_fd(struct ovl_fs *fs, struct ovl_node *n)
{
	int fd;

	if (ovl_open_node(fs, n, O_PATH, &fd) < 0)
		return;
	fd = atomic_exchange(&n->orphan_fd, fd);
	if (fd >= 0)
		close(fd);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool rmdir)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_node *p, *n = NULL;
	OVL_DFD d = { .fd = -1 };
	bool looked_up;
	int err, ret;

	p = get_dir(fs, parent, &err);
	if (!p) {
		fuse_reply_err(req, err);
		return;
	}
	ret = lookup_pinned(fs, p, name, &n, &looked_up);
	if (ret == 0 && rmdir != ovl_is_dir(n))
		ret = rmdir ? -ENOTDIR : -EISDIR;
	if (ret == 0 && rmdir)
		ret = ovl_dir_is_empty(fs, n);
	if (ret == 0)
		ret = ovl_copy_up(fs, p, false);
	if (ret == 0)
		ret = ovl_dir_fd(fs, p, 0, &d);
	if (ret == 0 && !rmdir && atomic_load(&n->opens) > 0)
		keep_orphan_fd(fs, n);
	if (ret == 0) {
		bool lower = ovl_lower_positive(fs, p, name);
		if (ovl_node_is_upper(fs, n))
			ret = remove_upper(fs, d.fd, name, rmdir, lower);
		else
			ret = ovl_create_whiteout(fs, d.fd, name);
	}
	if (ret == 0)
		ovl_node_unhash(fs, n);
	if (n)
		put_node(fs, n);
	fuse_reply_err(req, -ret);
}

void ovl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ovl_debug("unlink parent=%lu name=%s", (unsigned long)parent, name);
	do_remove(req, parent, name, false);
}

void ovl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ovl_debug("rmdir parent=%lu name=%s", (unsigned long)parent, name);
	do_remove(req, parent, name, true);
}

static bool dir_is_merged(struct ovl_fs *fs, struct ovl_node *dir)
{
	for (int k = 1; k < fs->nlayers; k++)
		if (ovl_dir_in_layer(dir, k))
			return true;
	return false;
}

/* Without redirect_dir a directory can move only if it is wholly upper. */
static bool can_move(struct ovl_fs *fs, struct ovl_node *n)
{
	if (!ovl_is_dir(n))
		return true;
	return !dir_is_merged(fs, n) && ovl_node_is_upper(fs, n);
}

struct rename_ctx {
	struct ovl_node *p, *q, *src, *dst;
	const char *name, *newname;
	int pfd, qfd;
	unsigned int flags;
};

static int rename_exchange(struct ovl_fs *fs, struct rename_ctx *r)
{
	int ret;

	if (!r->dst)
		return -ENOENT;
	if (!can_move(fs, r->src) || !can_move(fs, r->dst))
		return -EXDEV;
	if ((ret = ovl_copy_up(fs, r->src, true)) < 0 || (ret = ovl_copy_up(fs, r->dst, true)) < 0)
		return ret;
	if (renameat2(r->pfd, r->name, r->qfd, r->newname, RENAME_EXCHANGE) < 0)
		return -errno;
	return 0;
}

static int rename_plain(struct ovl_fs *fs, struct rename_ctx *r)
{
	bool whiteout_old, dst_lower;
	enum upper_state state;
	int ret;

	if (r->dst && (r->flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (!can_move(fs, r->src))
		return -EXDEV;
	if (r->dst) {
		if (ovl_is_dir(r->dst) != ovl_is_dir(r->src))
			return ovl_is_dir(r->src) ? -ENOTDIR : -EISDIR;
		if (ovl_is_dir(r->dst) && (ret = ovl_dir_is_empty(fs, r->dst)) < 0)
			return ret;
	}
	if ((ret = ovl_copy_up(fs, r->src, true)) < 0)
		return ret;
	whiteout_old = ovl_lower_positive(fs, r->p, r->name);
	dst_lower = ovl_lower_positive(fs, r->q, r->newname);
	state = upper_state(fs, r->qfd, r->newname);
	if (state == UPPER_ENTRY && r->dst && ovl_is_dir(r->dst)) {
		/* the empty-looking target may still hold whiteouts */
		ret = remove_upper(fs, r->qfd, r->newname, true, false);
		if (ret < 0)
			return ret;
		state = UPPER_NONE;
	}
	/* A moved directory must not merge with whatever a lower layer has
	 * (or may later show) at its new name: overlayfs marks it opaque
	 * whenever its new parent is merged. */
	if (ovl_is_dir(r->src) && !r->src->opaque_upper && (dst_lower || dir_is_merged(fs, r->q))) {
		OVL_DFD d = { .fd = -1 };
		if ((ret = ovl_dir_fd(fs, r->src, 0, &d)) < 0 || (ret = ovl_set_opaque(fs, d.fd)) < 0)
			return ret;
		r->src->opaque_upper = true;
	}
	if (ovl_is_dir(r->src) && state == UPPER_WHITEOUT) {
		/* a directory cannot be renamed over the whiteout device */
		if (unlinkat(r->qfd, r->newname, 0) < 0)
			return -errno;
		state = UPPER_NONE;
	}
	if (whiteout_old && fs->char_whiteouts && state != UPPER_WH_FILE &&
	    renameat2(r->pfd, r->name, r->qfd, r->newname, RENAME_WHITEOUT) == 0) {
		atomic_fetch_add_explicit(&fs->stats.whiteouts, 1, memory_order_relaxed);
		return 0;
	}
	if (whiteout_old && state != UPPER_WH_FILE && fs->char_whiteouts &&
	    errno != EINVAL && errno != EPERM)
		return -errno;
	if (renameat(r->pfd, r->name, r->qfd, r->newname) < 0)
		return -errno;
	if (state == UPPER_WH_FILE)
		ovl_remove_wh_name(fs, r->qfd, r->newname);
	if (whiteout_old)
		return ovl_create_whiteout(fs, r->pfd, r->name);
	return 0;
}

void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct rename_ctx r = { .name = name, .newname = newname, .flags = flags };
	OVL_DFD pd = { .fd = -1 };
	OVL_DFD qd = { .fd = -1 };
	bool looked_up;
	int err = 0, ret;

	ovl_debug("rename parent=%lu name=%s newparent=%lu newname=%s flags=%u",
		  (unsigned long)parent, name, (unsigned long)newparent, newname, flags);
	r.p = get_dir(fs, parent, &err);
	if (r.p)
		r.q = get_dir(fs, newparent, &err);
	if (!r.p || !r.q) {
		fuse_reply_err(req, err);
		return;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!ovl_valid_name(newname)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = lookup_pinned(fs, r.p, name, &r.src, &looked_up);
	if (ret == 0 && lookup_pinned(fs, r.q, newname, &r.dst, &looked_up) < 0)
		r.dst = NULL;
	if (ret == 0 && r.src == r.dst)
		goto out;
	if (ret == 0 && (ret = ovl_copy_up(fs, r.p, false)) == 0)
		ret = ovl_copy_up(fs, r.q, false);
	if (ret == 0 && (ret = ovl_dir_fd(fs, r.p, 0, &pd)) == 0)
		ret = ovl_dir_fd(fs, r.q, 0, &qd);
	if (ret == 0) {
		r.pfd = pd.fd;
		r.qfd = qd.fd;
		ret = (flags & RENAME_EXCHANGE) ? rename_exchange(fs, &r) : rename_plain(fs, &r);
	}
	if (ret == 0 && (flags & RENAME_EXCHANGE)) {
		ovl_node_move(fs, r.dst, r.p, "\x01tmp");
		ovl_node_move(fs, r.src, r.q, newname);
		ovl_node_move(fs, r.dst, r.p, name);
	} else if (ret == 0) {
		ovl_node_move(fs, r.src, r.q, newname);
	}
out:
	if (r.src)
		put_node(fs, r.src);
	if (r.dst)
		put_node(fs, r.dst);
	fuse_reply_err(req, -ret);
}
