/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Namespace operations: creating, linking, removing and renaming entries.
 * Everything happens in the upper layer, after copying up the parent (and
 * the objects moved or linked) and under the directory locks (lock order:
 * ovl.h); under them each operation checks that the names still mean what
 * they meant, then changes the disk, then the inode table.
 *
 * Crash safety: every step on disk leaves a state the merged tree could
 * legally be in, the operation either not begun or done; what a crash
 * leaves in workdir/work is garbage, removed at the next mount.  The
 * sequences (each step one system call):
 *  - create, mkdir, mknod, symlink: made at the name in one step when the
 *    daemon's own ids and mode are right; else built in the workdir (make,
 *    chown, chmod, for a directory over a whiteout the opaque mark) and
 *    renamed over nothing (RENAME_NOREPLACE), or over the char whiteout
 *    (rename replaces it; a directory is exchanged with it), or next to a
 *    .wh. file which is then removed (the entry wins over a .wh. file of
 *    its own layer, in lookup and readdir alike).
 *  - link: linkat at the name, or into the workdir and then as above.
 *  - unlink, rmdir of an upper entry with nothing below: unlink (a file),
 *    or rename the directory into the workdir (it may hold whiteouts) and
 *    empty it there.  With a lower entry below: a char whiteout made in the
 *    workdir and exchanged with the entry in one rename; or a .wh. file
 *    made first (the entry still wins), then the entry renamed away.  Of a
 *    lower-only entry: one whiteout, one step.
 *  - rename: the marks first, each invisible where it is made (opaque on
 *    the moving directory, which is wholly upper; impure on the new
 *    parent); over a merged directory, an empty opaque one is swapped in
 *    for it (clear_empty: the target stays an empty directory); over a
 *    char whiteout the source is exchanged with it in one step, the
 *    whiteout landing at the old name (kept there when a lower entry needs
 *    hiding, else removed next: a crash in between leaves a whiteout of
 *    nothing); otherwise the rename itself leaves the old name's whiteout
 *    in the same step (RENAME_WHITEOUT), or a .wh. file made before it
 *    (and a directory over a char whiteout without RENAME_EXCHANGE gets a
 *    .wh. file before the device goes); a .wh. file at the new name goes
 *    last.  RENAME_EXCHANGE: marks, then one exchange.
 *  - copy-up (copyup.c): built in the workdir whole, then renamed over
 *    nothing.
 * Once the step that makes an operation happen is done, nothing after it
 * fails the operation: what is left in the workdir to remove goes at the
 * next mount if removing it now fails (logged).  Before that step, a
 * failure undoes what was made.
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

/* an upper_state, or -errno */
static int upper_state(struct ovl_fs *fs, int dirfd, const char *name)
{
	struct stat st;
	int ret;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return ovl_is_whiteout(&st) ? UPPER_WHITEOUT : UPPER_ENTRY;
	if (errno != ENOENT)
		return -errno;
	ret = ovl_whiteout_in_layer(fs, dirfd, name);
	return ret < 0 ? ret : ret ? UPPER_WH_FILE : UPPER_NONE;
}

/* Where a new entry is to go in parent's upper dir: UPPER_NONE or a
 * whiteout's form, or -EEXIST when the merged tree has the name (in the
 * upper, or below it with nothing hiding it: the kernel looked the name up
 * before asking, but a request may come from elsewhere), or -errno. */
static int state_for_new(struct ovl_inode *parent, int dirfd, const char *name)
{
	int state = upper_state(parent->fs, dirfd, name), lower;

	if (state == UPPER_ENTRY)
		return -EEXIST;
	if (state != UPPER_NONE)
		return state;
	lower = ovl_lower_positive(parent, name);
	return lower < 0 ? lower : lower ? -EEXIST : UPPER_NONE;
}

/* Who owns a new object of req's caller in the upper directory updir: the
 * caller's ids mapped to disk; in a setgid directory its group, and a new
 * directory is setgid too, as the kernel makes them. */
struct new_owner {
	uid_t uid;
	gid_t gid;
	bool setgid_dir;
	/* made with the daemon's own ids right at its name, it is complete in
	 * one system call; otherwise it is built aside (crash safety) */
	bool in_place;
};

static void new_owner(fuse_req_t req, int updir, mode_t mode, struct new_owner *o)
{
	struct ovl_fs *fs = ovl_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat dst;
	bool sgid_parent = fstat(updir, &dst) == 0 && (dst.st_mode & S_ISGID);

	o->uid = ovl_uid_to_disk(fs, ctx->uid);
	o->gid = sgid_parent ? dst.st_gid : ovl_gid_to_disk(fs, ctx->gid);
	o->setgid_dir = sgid_parent && S_ISDIR(mode);
	o->in_place = !ovl_override_xattr(fs) && o->uid == fs->euid &&
		      (sgid_parent || o->gid == fs->egid) && !(mode & (S_ISUID | S_ISGID));
}

/* Gives the new object fd (name in dirfd, or fd itself when name is "")
 * its owner, then its setuid/setgid bits back (chown clears them): the mode
 * it was made with, which a default ACL may have narrowed. */
static int own_new(struct ovl_fs *fs, int dirfd, const char *name, int fd,
		   const struct new_owner *o)
{
	struct ovl_procpath p;
	struct stat st;
	int ret;

	if (o->in_place)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	ret = ovl_set_owner(fs, *name ? dirfd : fd, name, o->uid, o->gid);
	if (o->setgid_dir)
		st.st_mode |= S_ISGID;
	if (ret == 0 && (st.st_mode & (S_ISUID | S_ISGID)) && !S_ISLNK(st.st_mode) &&
	    chmod(ovl_procpath(&p, fd), st.st_mode & 07777) < 0)
		ret = -errno;
	return ret;
}

/* A new upper object: an fd of it, and its inode, made while the object
 * can still be thrown away.  Once it has its name only the table's own
 * allocation (ovl_inode_attach) can fail. */
struct new_object {
	int fd;   /* for regular files and directories, O_PATH otherwise */
	struct ovl_inode *inode;
	struct stat st;
	bool opaque;
};

static void new_object_drop(struct new_object *m)
{
	if (m->inode)
		ovl_inode_free(m->inode);
	m->inode = NULL;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

static int new_inode(struct ovl_fs *fs, struct new_object *m)
{
	struct ovl_inode *fresh;
	int dfd;

	if (fstat(m->fd, &m->st) < 0)
		return -errno;
	fresh = ovl_inode_alloc(fs, m->st.st_mode);
	if (!fresh)
		return -ENOMEM;
	atomic_store(&fresh->layer, 0);
	atomic_store(&fresh->prot, OVL_PROT_KNOWN);   /* made here: no flags */
	fresh->real_ino = m->st.st_ino;
	fresh->ino = ovl_map_ino(fs, 0, m->st.st_ino);
	if (S_ISDIR(m->st.st_mode)) {
		dfd = openat(m->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			ovl_inode_free(fresh);
			return -errno;
		}
		ovl_dir_set_fd(fresh, 0, dfd);
	}
	m->inode = fresh;
	return 0;
}

/* Makes the object in dirfd under name, and its inode.  On failure nothing
 * is left: an object made but not opened, owned or given an inode is
 * removed again. */
static int make_object(fuse_req_t req, int dirfd, const char *name, mode_t mode, dev_t rdev,
		       const char *link, int open_flags, const struct new_owner *o,
		       struct new_object *m)
{
	int made, ret;

	m->fd = -1;
	switch (mode & S_IFMT) {
	case S_IFREG:
		m->fd = openat(dirfd, name, (open_flags & ~O_TRUNC) | O_CREAT | O_EXCL | O_NOFOLLOW |
						   O_CLOEXEC | ovl_noatime_flag(ovl_fs(req), 0, false),
			       mode & 07777);
		made = m->fd >= 0;
		break;
	case S_IFDIR:
		made = mkdirat(dirfd, name, mode & 07777) == 0;
		if (made)
			m->fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		break;
	case S_IFLNK:
		made = symlinkat(link, dirfd, name) == 0;
		if (made)
			m->fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		break;
	default:
		made = mknodat(dirfd, name, mode, rdev) == 0;
		if (made)
			m->fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		break;
	}
	ret = m->fd < 0 ? -errno : own_new(ovl_fs(req), dirfd, name, m->fd, o);
	if (ret == 0)
		ret = new_inode(ovl_fs(req), m);
	if (ret < 0) {
		new_object_drop(m);
		if (made)
			(void)unlinkat(dirfd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
	}
	return ret;
}

/* Replaces the whiteout at (dirfd, name) with (srcdir, src), which is tmp
 * in the workdir or inside it. */
static int replace_whiteout(struct ovl_fs *fs, int srcdir, const char *src, int dirfd,
			    const char *name, const char *tmp, bool is_dir, enum upper_state state)
{
	int ret;

	if (state == UPPER_WH_FILE) {
		if (renameat2(srcdir, src, dirfd, name, RENAME_NOREPLACE) < 0)
			return -errno;
		/* done: the entry wins over a .wh. file of its own layer */
		ret = ovl_remove_wh_name(fs, dirfd, name);
		if (ret < 0)
			ovl_err("cannot remove the whiteout file of %s: %s", name, strerror(-ret));
		return 0;
	}
	if (!is_dir)
		return renameat(srcdir, src, dirfd, name) < 0 ? -errno : 0;
	/* rename(2) cannot put a directory over a device: exchange them and
	 * drop the whiteout that lands in the workdir */
	if (renameat2(srcdir, src, dirfd, name, RENAME_EXCHANGE) < 0)
		return -errno;
	ovl_work_cleanup(fs, tmp);
	return 0;
}

/* The entry of the new upper object m at (parent, name), m's inode
 * taken over; name NULL for an O_TMPFILE file, reached by orphan_fd. */
static int new_entry(struct ovl_inode *parent, const char *name, struct new_object *m,
		     int orphan_fd, struct fuse_entry_param *e)
{
	struct ovl_fs *fs = parent->fs;
	struct ovl_inode *fresh = m->inode, *n;

	m->inode = NULL;
	memset(e, 0, sizeof(*e));
	e->attr_timeout = e->entry_timeout = fs->timeout;
	/* the times since the rename into place; the earlier ones will do */
	(void)fstat(m->fd, &m->st);
	e->attr = m->st;
	ovl_override_apply_fd(fs, m->fd, &e->attr);
	if (fresh->dir)
		atomic_store(&fresh->dir->opaque_upper, m->opaque);
	atomic_store(&fresh->orphan_fd, orphan_fd);
	n = ovl_inode_attach(parent, name, fresh, OVL_ATTACH_NEW, true);
	if (!n)
		return -ENOMEM;
	e->ino = n->id;
	ovl_present_stat(n, &e->attr);
	ovl_inode_put(n);
	return 0;
}

/* The default ACL of parent's upper dir updir (ovl_default_acl), asked of
 * the filesystem only until it is seen to have none. */
static ssize_t parent_default_acl(struct ovl_inode *parent, int updir, char **acl)
{
	ssize_t ret;

	*acl = NULL;
	if (atomic_load(&parent->dir->no_default_acl))
		return 0;
	ret = ovl_default_acl(updir, acl);
	if (ret == 0)
		atomic_store(&parent->dir->no_default_acl, true);
	return ret;
}

/*
 * Where an object that cannot be made in one step at its name is built:
 * the workdir, or when the parent has a default ACL, a directory of the
 * workdir that carries a copy of it, so that the filesystem gives the
 * object what it would give it in the parent.
 */
struct build_site {
	int dirfd;
	const char *name;
	int own_fd;   /* the staging directory's, or -1 */
};

static int build_site_open(struct ovl_fs *fs, const char *tmp, const char *acl, size_t acl_size,
			   struct build_site *b)
{
	int ret;

	b->dirfd = fs->workfd;
	b->name = tmp;
	b->own_fd = -1;
	if (!acl)
		return 0;
	if (mkdirat(fs->workfd, tmp, 0700) < 0)
		return -errno;
	b->own_fd = openat(fs->workfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ret = b->own_fd < 0 ? -errno : ovl_set_default_acl(b->own_fd, acl, acl_size);
	if (ret < 0)
		return ret;
	b->dirfd = b->own_fd;
	b->name = "new";
	return 0;
}

/*
 * Under the parent's lock: the object made at name in its upper dir.  A
 * crash at any point leaves the name as it was or the object complete:
 * made in one step where it can be; otherwise built in the workdir (owner,
 * mode, the opaque mark of a directory replacing a whiteout) and then
 * renamed over nothing, or swapped with the whiteout it replaces.  What a
 * crash leaves in the workdir goes at the next mount.
 *
 * The mode is the caller's, not yet masked (FUSE_CAP_DONT_MASK): the
 * parent's default ACL, if it has one and the mount shows ACLs, decides in
 * place of the umask, as the kernel does.
 */
static int create_locked(fuse_req_t req, struct ovl_inode *parent, int updir, const char *name,
			 mode_t mode, dev_t rdev, const char *link, int open_flags,
			 struct new_object *m)
{
	struct ovl_fs *fs = parent->fs;
	char tmp[NAME_MAX + 1];
	int state = state_for_new(parent, updir, name);
	struct build_site b = { .own_fd = -1 };
	struct new_owner o;
	bool in_place_ok = true;
	ssize_t acl_size;
	char *acl = NULL;
	int ret;

	if (state < 0)
		return state;
	acl_size = parent_default_acl(parent, updir, &acl);
	if (acl_size < 0)
		return (int)acl_size;
	if (acl && !ovl_acls_shown(fs)) {
		/* noacl: made in the workdir, where no default ACL applies */
		free(acl);
		acl = NULL;
		in_place_ok = false;
	}
	if (!acl && !S_ISLNK(mode))
		mode &= ~(fuse_req_ctx(req)->umask & 0777);
	new_owner(req, updir, mode, &o);
	if (state == UPPER_NONE && o.in_place && in_place_ok) {
		ret = make_object(req, updir, name, mode, rdev, link, open_flags, &o, m);
		free(acl);
		return ret;
	}
	ovl_work_tmpname(fs, tmp);
	ret = build_site_open(fs, tmp, acl, (size_t)acl_size, &b);
	free(acl);
	if (ret == 0)
		ret = make_object(req, b.dirfd, b.name, mode, rdev, link, open_flags, &o, m);
	/* a new directory where a whiteout was must not show what it hid */
	if (ret == 0 && S_ISDIR(mode) && state != UPPER_NONE) {
		ret = ovl_set_opaque(fs, m->fd);
		m->opaque = true;
	}
	if (ret == 0 && state == UPPER_NONE)
		ret = renameat2(b.dirfd, b.name, updir, name, RENAME_NOREPLACE) < 0 ? -errno : 0;
	else if (ret == 0)
		ret = replace_whiteout(fs, b.dirfd, b.name, updir, name, tmp, S_ISDIR(mode), state);
	if (b.own_fd >= 0)
		close(b.own_fd);
	if (ret < 0) {
		new_object_drop(m);
		ovl_remove_tree_at(fs->workfd, tmp);
	} else if (b.own_fd >= 0) {
		ovl_work_cleanup(fs, tmp);   /* the staging directory, empty or with a whiteout */
	}
	return ret;
}

int ovl_create_object(fuse_req_t req, struct ovl_inode *parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link, int open_flags, int *fdp,
		      struct fuse_entry_param *e)
{
	OVL_DFD d = { .fd = -1 };
	struct new_object m = { .fd = -1 };
	int ret;

	if (!ovl_valid_name(name))
		return strlen(name) > NAME_MAX ? -ENAMETOOLONG : -EINVAL;
	ret = ovl_may_change(parent, true);
	if (ret == 0)
		ret = ovl_copy_up(parent, false);
	if (ret < 0)
		return ret;
	ovl_dir_lock(parent, true);
	ret = ovl_dir_fd(parent, 0, &d);
	if (ret == 0)
		ret = create_locked(req, parent, d.fd, name, mode, rdev, link, open_flags, &m);
	if (ret == 0)
		ret = new_entry(parent, name, &m, -1, e);
	ovl_dir_unlock(parent);
	if (ret == 0 && fdp && S_ISREG(mode)) {
		*fdp = m.fd;
		m.fd = -1;
	}
	new_object_drop(&m);
	return ret;
}

/* An O_TMPFILE file is made in updir itself, where the filesystem applies
 * a default ACL: the umask goes only if there is none, or under noacl,
 * where the ACL it gave is taken off again (*drop_acl). */
static int tmpfile_mode(fuse_req_t req, struct ovl_inode *parent, int updir, mode_t *mode,
			bool *drop_acl)
{
	char *acl;
	ssize_t ret = parent_default_acl(parent, updir, &acl);

	if (ret < 0)
		return (int)ret;
	*drop_acl = acl && !ovl_acls_shown(ovl_fs(req));
	if (!acl || *drop_acl)
		*mode &= ~(fuse_req_ctx(req)->umask & 0777);
	free(acl);
	return 0;
}

/*
 * An O_TMPFILE file in the parent's upper directory.  Its inode has no
 * name and is reached through an O_PATH fd of the file until a link gives
 * it one (ovl_link).
 */
int ovl_create_tmpfile(fuse_req_t req, struct ovl_inode *parent, mode_t mode, int open_flags,
		       int *fdp, struct fuse_entry_param *e)
{
	OVL_DFD d = { .fd = -1 };
	struct new_object m = { .fd = -1 };
	struct new_owner o;
	struct ovl_procpath p;
	bool drop_acl = false;
	int path_fd = -1, ret;

	ret = ovl_may_change(parent, true);
	if (ret == 0)
		ret = ovl_copy_up(parent, false);
	if (ret == 0)
		ret = ovl_dir_fd(parent, 0, &d);
	if (ret == 0)
		ret = tmpfile_mode(req, parent, d.fd, &mode, &drop_acl);
	if (ret < 0)
		return ret;
	m.fd = openat(d.fd, ".", (open_flags & ~O_TRUNC) | O_TMPFILE | O_CLOEXEC |
				 ovl_noatime_flag(parent->fs, 0, false), mode & 07777);
	if (m.fd < 0)
		return -errno;
	ret = drop_acl ? ovl_drop_access_acl(m.fd) : 0;
	if (ret == 0 && drop_acl && fchmod(m.fd, mode & 07777) < 0)
		ret = -errno;
	new_owner(req, d.fd, S_IFREG | mode, &o);
	if (ret == 0)
		ret = own_new(ovl_fs(req), d.fd, "", m.fd, &o);
	if (ret == 0 && (path_fd = open(ovl_procpath(&p, m.fd), O_PATH | O_CLOEXEC)) < 0)
		ret = -errno;
	if (ret == 0)
		ret = new_inode(ovl_fs(req), &m);
	if (ret == 0) {
		ret = new_entry(parent, NULL, &m, path_fd, e);
		path_fd = -1;   /* the inode's, or closed with it */
	}
	if (ret == 0) {
		*fdp = m.fd;
		m.fd = -1;
	}
	if (path_fd >= 0)
		close(path_fd);
	new_object_drop(&m);
	return ret;
}

static void reply_new(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link)
{
	struct fuse_entry_param e;
	OVL_INODE p = ovl_req_dir(req, parent);
	int ret;

	if (!p)
		return;
	ret = ovl_create_object(req, p, name, mode, rdev, link, 0, NULL, &e);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		ovl_reply_entry(req, &e);
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
	/* Only what mknod(2) makes (the VFS's may_mknod): a request for a
	 * directory or a symlink (which has no target here) is forged. */
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		break;
	default:
		fuse_reply_err(req, S_ISDIR(mode) ? EPERM : EINVAL);
		return;
	}
	reply_new(req, parent, name, mode, rdev, NULL);
}

void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	ovl_debug("symlink parent=%lu name=%s target=%s", (unsigned long)parent, name, link);
	reply_new(req, parent, name, S_IFLNK | 0777, 0, link);
}

/* A copied-up file carries its origin record (ino.c) wherever it goes:
 * the directory it lands in must say so, so that readdir reads the record
 * (as overlayfs marks the new parent impure). */
static int keep_origin_in(struct ovl_inode *n, struct ovl_inode *dir, int updir)
{
	int ret;

	if (ovl_is_dir(n) || atomic_load(&dir->dir->impure) ||
	    atomic_load(&n->ino) == ovl_map_ino(n->fs, 0, n->real_ino))
		return 0;
	ret = ovl_set_impure(n->fs, updir);
	if (ret == 0)
		atomic_store(&dir->dir->impure, true);
	return ret;
}

/* Under the new parent's lock: the link of the object src (an O_PATH fd)
 * at name in its upper dir. */
static int link_locked(struct ovl_inode *parent, int src, int updir, const char *name)
{
	struct ovl_fs *fs = parent->fs;
	char tmp[NAME_MAX + 1];
	struct ovl_procpath p;
	int state = state_for_new(parent, updir, name);
	int ret;

	if (state < 0)
		return state;
	/* the object itself, whatever its names now (AT_SYMLINK_FOLLOW
	 * follows /proc's link to it, never a symlink it may be) */
	if (state == UPPER_NONE)
		return linkat(AT_FDCWD, ovl_procpath(&p, src), updir, name, AT_SYMLINK_FOLLOW) < 0
			       ? -errno : 0;
	ovl_work_tmpname(fs, tmp);
	ret = linkat(AT_FDCWD, ovl_procpath(&p, src), fs->workfd, tmp, AT_SYMLINK_FOLLOW) < 0
		      ? -errno : 0;
	if (ret == 0)
		ret = replace_whiteout(fs, fs->workfd, tmp, updir, name, tmp, false, state);
	if (ret < 0)
		unlinkat(fs->workfd, tmp, 0);
	return ret;
}

/* A hard link is one more name of the same inode: the kernel gets the
 * same id back and counts the link. */
void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct fuse_entry_param e = { .attr_timeout = fs->timeout, .entry_timeout = fs->timeout };
	OVL_INODE n = NULL;
	OVL_INODE q = NULL;
	OVL_DFD d = { .fd = -1 };
	int src = -1, ret;

	ovl_debug("link ino=%lu newparent=%lu newname=%s", (unsigned long)ino,
		  (unsigned long)newparent, newname);
	if (!(n = ovl_req_inode(req, ino)) || !(q = ovl_req_dir(req, newparent)))
		return;
	if (!ovl_valid_name(newname) || ovl_is_dir(n)) {
		fuse_reply_err(req, ovl_is_dir(n) ? EPERM : EINVAL);
		return;
	}
	/* a removed lower file has no links left to add to (the VFS says
	 * ENOENT for an overlay inode whose count dropped to 0) */
	ret = !ovl_inode_is_upper(n) && !ovl_inode_named(n) ? -ENOENT : ovl_may_change(n, false);
	if (ret == 0)
		ret = ovl_may_change(q, true);
	if (ret == 0)
		ret = ovl_copy_up(n, true);
	if (ret == 0)
		ret = ovl_copy_up(q, false);
	if (ret == 0)
		ret = ovl_inode_open(n, O_PATH, &src, NULL);
	if (ret == 0) {
		ovl_dir_lock(q, true);
		ret = ovl_dir_fd(q, 0, &d);
		if (ret == 0)
			ret = keep_origin_in(n, q, d.fd);
		if (ret == 0)
			ret = link_locked(q, src, d.fd, newname);
		if (ret == 0)
			ret = ovl_dentry_add(q, newname, n);
		if (ret == 0 && fstat(src, &e.attr) < 0)
			ret = -errno;
		if (ret == 0)
			ovl_override_apply(fs, d.fd, newname, &e.attr);
		ovl_dir_unlock(q);
	}
	if (src >= 0)
		close(src);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	ovl_present_stat(n, &e.attr);
	ovl_inode_lookup_ref(n);
	e.ino = n->id;
	ovl_reply_entry(req, &e);
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
		if (whiteout && (ret = ovl_create_wh_file(fs, dirfd, name)) < 0)
			return ret;
		/* a directory may still hold whiteouts: move it aside whole */
		if (renameat(dirfd, name, fs->workfd, tmp) < 0)
			return -errno;
	}
	ovl_work_cleanup(fs, tmp);
	return 0;
}

/* Before the last name of n goes: an O_PATH fd that reaches it without one
 * (a file still open, or held by the kernel), -1 if n keeps a name.  A
 * directory keeps its own fds instead. */
static int fd_for_orphan(struct ovl_inode *parent, const char *name, struct ovl_inode *n)
{
	OVL_DFD d = { .fd = -1 };
	int layer = ovl_inode_layer(n);

	if (ovl_is_dir(n)) {
		ovl_dir_keep_fd(n, layer);
		return -1;
	}
	if (!ovl_dentry_is_last(parent, name, n) || ovl_dir_fd(parent, layer, &d) < 0)
		return -1;
	return openat(d.fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/* Under parent's lock: removes (parent, name), which names n. */
static int remove_locked(struct ovl_inode *parent, int updir, const char *name,
			 struct ovl_inode *n, bool rmdir)
{
	struct ovl_fs *fs = parent->fs;
	int lower, orphan, ret;

	if (rmdir != ovl_is_dir(n))
		return rmdir ? -ENOTDIR : -EISDIR;
	ret = ovl_may_change_entry(parent, name, n, false);
	if (ret < 0)
		return ret;
	lower = ovl_lower_positive(parent, name);
	if (lower < 0)
		return lower;
	if (rmdir)
		ovl_dir_lock(n, true);
	ret = rmdir ? ovl_dir_is_empty(n) : 0;
	orphan = ret == 0 ? fd_for_orphan(parent, name, n) : -1;
	if (ret == 0 && ovl_inode_is_upper(n))
		ret = remove_upper(fs, updir, name, rmdir, lower);
	else if (ret == 0)
		ret = ovl_create_whiteout(fs, updir, name);
	if (rmdir)
		ovl_dir_unlock(n);
	if (ret == 0)
		ovl_dentry_drop(parent, name, orphan);
	else if (orphan >= 0)
		close(orphan);
	return ret;
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool rmdir)
{
	OVL_INODE p = ovl_req_dir(req, parent);
	OVL_INODE n = NULL;
	OVL_DFD d = { .fd = -1 };
	int ret;

	if (!p)
		return;
	ret = ovl_may_change(p, false);   /* nothing leaves an append-only dir */
	if (ret == 0)
		ret = ovl_copy_up(p, false);
	if (ret == 0) {
		ovl_dir_lock(p, true);
		ret = ovl_dir_fd(p, 0, &d);
		if (ret == 0)
			ret = ovl_lookup_locked(p, name, false, &n, NULL);
		if (ret == 0)
			ret = remove_locked(p, d.fd, name, n, rmdir);
		ovl_dir_unlock(p);
	}
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

/* Without redirect_dir a directory can move only if it is wholly upper. */
static bool can_move(struct ovl_inode *n)
{
	return !ovl_is_dir(n) || (ovl_inode_is_upper(n) && !ovl_dir_is_merged(n));
}

struct rename_ctx {
	struct ovl_inode *p, *q;   /* the directories */
	struct ovl_inode *src, *dst;  /* what name and newname name (dst: or NULL) */
	const char *name, *newname;
	int pfd, qfd;              /* their upper directories */
	unsigned int flags;
};

/* A directory moving to (dir, name) must not merge with what a lower layer
 * has (or may show) there: overlayfs marks it opaque whenever its new
 * parent is merged. */
static int make_opaque_for(struct ovl_inode *moving, struct ovl_inode *dir, const char *name)
{
	OVL_DFD d = { .fd = -1 };
	int lower, ret;

	if (!ovl_is_dir(moving) || atomic_load(&moving->dir->opaque_upper))
		return 0;
	lower = ovl_lower_positive(dir, name);
	if (lower < 0)
		return lower;
	if (!lower && !ovl_dir_is_merged(dir))
		return 0;
	ret = ovl_dir_fd(moving, 0, &d);
	if (ret == 0)
		ret = ovl_set_opaque(moving->fs, d.fd);
	if (ret == 0)
		atomic_store(&moving->dir->opaque_upper, true);
	return ret;
}

static int rename_exchange(struct rename_ctx *r)
{
	int ret;

	if (!r->dst)
		return -ENOENT;
	ret = make_opaque_for(r->src, r->q, r->newname);
	if (ret == 0)
		ret = make_opaque_for(r->dst, r->p, r->name);
	if (ret == 0)
		ret = keep_origin_in(r->src, r->q, r->qfd);
	if (ret == 0)
		ret = keep_origin_in(r->dst, r->p, r->pfd);
	if (ret == 0 && renameat2(r->pfd, r->name, r->qfd, r->newname, RENAME_EXCHANGE) < 0)
		ret = -errno;
	if (ret == 0)
		ovl_dentry_exchange(r->p, r->name, r->q, r->newname);
	return ret;
}

/*
 * The empty-looking directory being renamed over may still hold whiteouts
 * in the upper: swap in an empty opaque directory in one step (to the
 * merged tree they are the same), keeping the old one in the workdir as
 * tmp.  Then the rename replaces an empty directory, as rename(2) can;
 * undo_clear puts the old one back if it fails (the inode still reads it);
 * once it succeeded, the old one is thrown away.  A crash in between leaves
 * the empty opaque directory, the same to the merged tree, and tmp, which
 * the next mount cleans up.
 */
static int clear_empty(struct ovl_fs *fs, int dirfd, const char *name, char tmp[NAME_MAX + 1])
{
	struct stat st;
	int fd, ret;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	ovl_work_tmpname(fs, tmp);
	if (mkdirat(fs->workfd, tmp, st.st_mode & 07777) < 0)
		return -errno;
	fd = openat(fs->workfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ret = fd < 0 ? -errno : ovl_set_opaque(fs, fd);
	if (fd >= 0)
		close(fd);
	/* owner: best effort, the rename replaces it right away */
	if (ret == 0)
		(void)!fchownat(fs->workfd, tmp, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	if (ret == 0 && renameat2(fs->workfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0)
		ret = -errno;
	if (ret < 0)
		ovl_work_cleanup(fs, tmp);   /* the new one: nothing changed */
	return ret;
}

static void undo_clear(struct ovl_fs *fs, int dirfd, const char *name, const char *tmp)
{
	if (renameat2(fs->workfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0)
		ovl_err("cannot put back the directory at %s: %s", name, strerror(errno));
	ovl_work_cleanup(fs, tmp);
}

/* Over a char whiteout the source is exchanged with it in one step, as a
 * directory cannot replace a device: the whiteout lands at the old name,
 * where it stays when a lower entry is there to hide; else it goes then (a
 * crash before leaves a whiteout of nothing, which hides nothing).
 * -EINVAL: the upper filesystem cannot exchange. */
static int exchange_with_whiteout(struct rename_ctx *r, int old_lower)
{
	if (renameat2(r->pfd, r->name, r->qfd, r->newname, RENAME_EXCHANGE) < 0)
		return -errno;
	if (!old_lower && unlinkat(r->pfd, r->name, 0) < 0)
		ovl_err("cannot remove a whiteout of nothing at %s: %s", r->name, strerror(errno));
	return 0;
}

static int rename_plain(struct rename_ctx *r)
{
	struct ovl_fs *fs = r->p->fs;
	int old_lower, state, ret, victim_fd = -1;
	bool wh_file = false, cleared = false;
	char cleared_tmp[NAME_MAX + 1];

	if (r->dst && ovl_is_dir(r->dst) != ovl_is_dir(r->src))
		return ovl_is_dir(r->src) ? -ENOTDIR : -EISDIR;
	if (r->dst && ovl_is_dir(r->dst) && (ret = ovl_dir_is_empty(r->dst)) < 0)
		return ret;
	old_lower = ovl_lower_positive(r->p, r->name);
	if (old_lower < 0)
		return old_lower;
	state = upper_state(fs, r->qfd, r->newname);
	if (state < 0)
		return state;
	ret = make_opaque_for(r->src, r->q, r->newname);
	if (ret == 0)
		ret = keep_origin_in(r->src, r->q, r->qfd);
	if (ret == 0 && state == UPPER_ENTRY && r->dst && ovl_is_dir(r->dst) &&
	    ovl_dir_is_merged(r->dst)) {
		ret = clear_empty(fs, r->qfd, r->newname, cleared_tmp);
		cleared = ret == 0;
	}
	if (ret < 0)
		return ret;
	if (r->dst)
		victim_fd = fd_for_orphan(r->q, r->newname, r->dst);
	ret = state == UPPER_WHITEOUT ? exchange_with_whiteout(r, old_lower) : -EINVAL;
	if (ret == -EINVAL && ovl_is_dir(r->src) && state == UPPER_WHITEOUT) {
		/* no RENAME_EXCHANGE, and a directory cannot be renamed over
		 * the device: a .wh. file keeps the name hidden meanwhile */
		ret = ovl_create_wh_file(fs, r->qfd, r->newname);
		if (ret == 0 && unlinkat(r->qfd, r->newname, 0) < 0)
			ret = -errno;
		state = UPPER_WH_FILE;
		if (ret == 0)
			ret = -EINVAL;
	}
	if (ret == -EINVAL && old_lower && fs->char_whiteouts && state != UPPER_WH_FILE) {
		/* the source leaves a whiteout behind in the same step */
		ret = renameat2(r->pfd, r->name, r->qfd, r->newname, RENAME_WHITEOUT) < 0 ? -errno : 0;
		if (ret == 0)
			atomic_fetch_add_explicit(&fs->stats.whiteouts, 1, memory_order_relaxed);
	}
	if (ret == -EINVAL || ret == -EPERM) {
		/* no RENAME_WHITEOUT: a .wh. file first, hiding the lower
		 * entry as soon as the source has moved */
		ret = old_lower ? ovl_create_wh_file(fs, r->pfd, r->name) : 0;
		wh_file = old_lower;
		if (ret == 0 && renameat(r->pfd, r->name, r->qfd, r->newname) < 0)
			ret = -errno;
		if (ret < 0 && wh_file)
			ovl_remove_wh_name(fs, r->pfd, r->name);
	}
	if (ret == 0 && state == UPPER_WH_FILE)
		ovl_remove_wh_name(fs, r->qfd, r->newname);
	if (cleared && ret == 0)
		ovl_work_cleanup(fs, cleared_tmp);
	else if (cleared)
		undo_clear(fs, r->qfd, r->newname, cleared_tmp);
	if (ret == 0)
		ret = ovl_dentry_move(r->p, r->name, r->q, r->newname, victim_fd);
	else if (victim_fd >= 0)
		close(victim_fd);
	return ret;
}

/* Looks name up under dir's lock (shared), for an object to copy up before
 * the dir locks are taken. */
static int lookup_unlocked(struct ovl_inode *dir, const char *name, struct ovl_inode **out)
{
	int ret;

	ovl_dir_lock(dir, false);
	ret = ovl_lookup_locked(dir, name, false, out, NULL);
	ovl_dir_unlock(dir);
	return ret;
}

/* Copies up what the rename moves, so that no copy-up runs under the dir
 * locks; the names are checked again once they are held. */
static int rename_prepare(struct rename_ctx *r)
{
	int ret = lookup_unlocked(r->p, r->name, &r->src);

	if (ret == 0 && (r->flags & RENAME_EXCHANGE))
		ret = lookup_unlocked(r->q, r->newname, &r->dst);
	if (ret == 0 && (!can_move(r->src) || (r->dst && !can_move(r->dst))))
		ret = -EXDEV;
	if (ret == 0)
		ret = ovl_may_change(r->src, false);
	if (ret == 0 && r->dst)
		ret = ovl_may_change(r->dst, false);
	if (ret == 0)
		ret = ovl_copy_up(r->src, true);
	if (ret == 0 && r->dst)
		ret = ovl_copy_up(r->dst, true);
	return ret;
}

static void rename_unlock(struct rename_ctx *r)
{
	ovl_unlock_rename(r->p, r->q);
	if (r->p != r->q)
		pthread_mutex_unlock(&r->p->fs->rename_lock);
}

/* Under the locks: the names still name what was prepared, and the target
 * is known.  -EAGAIN: they changed meanwhile, prepare again. */
static int rename_check(struct rename_ctx *r)
{
	int ret;

	if (!ovl_dentry_is(r->p, r->name, r->src) ||
	    (r->dst && !ovl_dentry_is(r->q, r->newname, r->dst)))
		return -EAGAIN;
	if (!r->dst) {
		ret = ovl_lookup_locked(r->q, r->newname, false, &r->dst, NULL);
		if (ret < 0 && ret != -ENOENT)
			return ret;
	}
	if (ovl_is_dir(r->src) && ovl_is_ancestor(r->src, r->q))
		return -EINVAL;   /* into itself */
	if (r->dst && ovl_is_dir(r->dst) && ovl_is_ancestor(r->dst, r->p))
		return (r->flags & RENAME_EXCHANGE) ? -EINVAL : -ENOTEMPTY;   /* its own ancestor */
	return 0;
}

static int rename_locked(struct rename_ctx *r)
{
	OVL_DFD pd = { .fd = -1 };
	OVL_DFD qd = { .fd = -1 };
	int ret = rename_check(r);
	bool lock_dst;

	if (ret == 0 && r->dst && (r->flags & RENAME_NOREPLACE))
		ret = -EEXIST;
	if (ret < 0 || r->src == r->dst)
		return ret;   /* two names of one file: nothing to do */
	/* what it replaces leaves its directory: not from an append-only one */
	if (r->dst && !(r->flags & RENAME_EXCHANGE)) {
		ret = ovl_may_change_entry(r->q, r->newname, r->dst, false);
		if (ret == 0)   /* (known since ovl_rename asked: no I/O here) */
			ret = ovl_may_change(r->q, false);
		if (ret < 0)
			return ret;
	}
	if ((ret = ovl_dir_fd(r->p, 0, &pd)) < 0 || (ret = ovl_dir_fd(r->q, 0, &qd)) < 0)
		return ret;
	r->pfd = pd.fd;
	r->qfd = qd.fd;
	/* a directory replaced must stay empty meanwhile */
	lock_dst = r->dst && ovl_is_dir(r->dst) && !(r->flags & RENAME_EXCHANGE);
	if (lock_dst)
		ovl_dir_lock(r->dst, true);
	ret = (r->flags & RENAME_EXCHANGE) ? rename_exchange(r) : rename_plain(r);
	if (lock_dst)
		ovl_dir_unlock(r->dst);
	return ret;
}

void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct rename_ctx r = { .name = name, .newname = newname, .flags = flags };
	int ret, tries = 0;

	ovl_debug("rename parent=%lu name=%s newparent=%lu newname=%s flags=%u",
		  (unsigned long)parent, name, (unsigned long)newparent, newname, flags);
	if (!(r.p = ovl_req_dir(req, parent)))
		return;
	if (!(r.q = ovl_req_dir(req, newparent))) {
		ovl_inode_put(r.p);
		return;
	}
	ret = -EINVAL;
	if (!(flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) && ovl_valid_name(newname) &&
	    (flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)) != (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		/* nothing leaves an append-only directory; both can take in */
		ret = ovl_may_change(r.p, false);
		if (ret == 0)
			ret = ovl_may_change(r.q, !(flags & RENAME_EXCHANGE));
		if (ret == 0)
			ret = ovl_copy_up(r.p, false);
		if (ret == 0)
			ret = ovl_copy_up(r.q, false);
	}
	while (ret == 0) {
		ret = rename_prepare(&r);
		if (ret < 0)
			break;
		if (r.p != r.q)
			pthread_mutex_lock(&fs->rename_lock);
		ovl_lock_rename(r.p, r.q);
		ret = rename_locked(&r);
		rename_unlock(&r);
		if (ret != -EAGAIN)
			break;
		/* a concurrent change took a name: start again (bounded,
		 * though the kernel's own locks make this rare) */
		ret = ++tries < 64 ? 0 : -EBUSY;
		ovl_inode_put(r.src);
		ovl_inode_put(r.dst);
		r.src = r.dst = NULL;
	}
	ovl_inode_put(r.src);
	ovl_inode_put(r.dst);
	ovl_inode_put(r.p);
	ovl_inode_put(r.q);
	fuse_reply_err(req, -ret);
}
