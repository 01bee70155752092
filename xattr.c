/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Extended attributes.
 *
 * Reads go to the topmost copy of an object, writes to the upper copy
 * after copy-up.  The overlay keeps some names for itself (whiteout and
 * opaque markers, origin, the override_stat ownership records); those are
 * invisible through the mount: never listed, and get, set and remove
 * answer EOPNOTSUPP, as kernel overlayfs does for trusted.overlay.*
 * (ovl_own_xattr_get/set, before the 6.7 escaping scheme).
 *
 * Every real xattr call goes through "/proc/self/fd/N" with the
 * path-following variants: the fds we get may be O_PATH (symlinks, special
 * files), where f*xattr() fails with EBADF, and the /proc magic link
 * resolves to the object itself, symlink included, without following it.
 */
#include "ovl.h" /* first: config.h brings _GNU_SOURCE (O_PATH) */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ACL_ACCESS  "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

/* A growing xattr (list) can beat us between the size query and the read
 * forever in theory; give up after this many rounds. */
#define XATTR_RETRIES 16

struct prefix {
	const char *s;
	size_t len;
};
#define PREFIX(str) { str, sizeof(str) - 1 }

/*
 * Names the overlay owns.  trusted.overlay. and user.overlay. are kernel
 * overlayfs's markers (opaque, redirect, origin...), user.fuseoverlayfs.
 * and trusted.fuseoverlayfs. ours; security.fuseoverlayfs.override_stat
 * is the ownership record of xattr_permissions=1, user.containers.override_
 * that of xattr_permissions=2 (containers/storage writes it too, into the
 * layers directly).  Matching on the full prefix with its dot, as the
 * kernel does: "trusted.overlayfoo" is an ordinary name.
 */
static const struct prefix internal_prefixes[] = {
	PREFIX("trusted.overlay."),
	PREFIX("user.overlay."),
	PREFIX("user.fuseoverlayfs."),
	PREFIX("trusted.fuseoverlayfs."),
	PREFIX("security.fuseoverlayfs."),
	PREFIX("user.containers.override_"),
};

/*
 * Internal names that copy-up must carry over anyway: the ownership and
 * mode records describe the object itself, not its place in a layer.
 */
static const char *const copied_internal[] = {
	"user.fuseoverlayfs.override_stat",
	"security.fuseoverlayfs.override_stat",
};
static const struct prefix copied_internal_prefixes[] = {
	PREFIX("user.containers.override_"),
};

static bool has_prefix(const char *name, const struct prefix *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(name, p[i].s, p[i].len) == 0)
			return true;
	return false;
}

bool ovl_xattr_is_internal(const char *name)
{
	return has_prefix(name, internal_prefixes,
			  sizeof(internal_prefixes) / sizeof(internal_prefixes[0]));
}

static bool is_acl_name(const char *name)
{
	return strcmp(name, ACL_ACCESS) == 0 || strcmp(name, ACL_DEFAULT) == 0;
}

/* Names this mount refuses: the overlay's own, and ACLs under noacl. */
static bool name_refused(const struct ovl_fs *fs, const char *name)
{
	return ovl_xattr_is_internal(name) || (fs->cfg->noacl && is_acl_name(name));
}

/*
 * query(path, name, buf, size) into a malloc'd buffer (*out, never NULL on
 * success: an empty list or value is valid), retrying while it grows
 * between the size probe and the read.  Returns its length or -errno.
 */
static ssize_t read_sized(ssize_t (*query)(const char *, const char *, void *, size_t),
			  const char *path, const char *name, char **out)
{
	*out = NULL;
	for (int tries = 0; tries < XATTR_RETRIES; tries++) {
		ssize_t need = query(path, name, NULL, 0);
		if (need < 0)
			return -errno;
		/* +1: malloc(0) may return NULL */
		char *buf = malloc((size_t)need + 1);
		if (!buf)
			return -ENOMEM;
		/* size 0 would ask for the size again, not read it */
		ssize_t got = need == 0 ? 0 : query(path, name, buf, (size_t)need);
		if (got >= 0) {
			*out = buf;
			return got;
		}
		int err = errno;
		free(buf);
		if (err != ERANGE)
			return -err;
	}
	return -EAGAIN;
}

static ssize_t list_names(const char *path, const char *name, void *buf, size_t size)
{
	(void)name;
	return listxattr(path, buf, size);
}

/* The whole name list of path. */
static ssize_t list_all(const char *path, char **out)
{
	return read_sized(list_names, path, NULL, out);
}

/* The value of name. */
static ssize_t get_all(const char *path, const char *name, char **out)
{
	return read_sized(getxattr, path, name, out);
}

/*
 * Not carried to the upper copy: the layer-specific markers (opaque,
 * whiteout, origin, redirect).  Everything else is, ACLs and
 * security.capability included.
 */
static bool skip_on_copy(const char *name)
{
	if (!ovl_xattr_is_internal(name))
		return false;
	for (size_t i = 0; i < sizeof(copied_internal) / sizeof(copied_internal[0]); i++)
		if (strcmp(name, copied_internal[i]) == 0)
			return false;
	return !has_prefix(name, copied_internal_prefixes,
			   sizeof(copied_internal_prefixes) / sizeof(copied_internal_prefixes[0]));
}

/* Names whose loss would change what the object means (who may read it,
 * what it may do): copy-up fails rather than drop them, as overlayfs. */
static bool must_copy(const char *name)
{
	return is_acl_name(name) || strcmp(name, "security.capability") == 0;
}

static bool is_reg_or_dir(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

int ovl_copy_xattrs(struct ovl_fs *fs, int srcfd, int dstfd)
{
	struct ovl_procpath src_buf, dst_buf;
	const char *src, *dst;
	char *names;
	ssize_t len;
	int ret = 0;

	(void)fs;
	src = ovl_procpath(&src_buf, srcfd);
	dst = ovl_procpath(&dst_buf, dstfd);

	len = list_all(src, &names);
	if (len == -EOPNOTSUPP)
		return 0; /* the lower filesystem has no xattrs at all */
	if (len < 0)
		return (int)len;

	for (char *name = names; len > 0 && name < names + len; name += strlen(name) + 1) {
		char *value;
		ssize_t vlen;

		if (skip_on_copy(name))
			continue;

		vlen = get_all(src, name, &value);
		if (vlen == -ENODATA)
			continue; /* removed since the listing */
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}

		if (setxattr(dst, name, value, (size_t)vlen, 0) < 0) {
			int err = errno;

			/*
			 * The upper filesystem lacks this namespace or name
			 * (EOPNOTSUPP): drop it unless it matters for access.
			 * EPERM for user.* on anything but a regular file or
			 * a directory is the kernel's rule (user xattrs are
			 * refused on symlinks and device nodes), not a
			 * failure of ours: such a name can only have come
			 * from a filesystem with other rules.
			 */
			if (err == EOPNOTSUPP && !must_copy(name))
				err = 0;
			else if (err == EPERM && strncmp(name, "user.", 5) == 0 &&
				 !is_reg_or_dir(dstfd))
				err = 0;
			if (err) {
				ret = -err;
				free(value);
				break;
			}
		}
		free(value);
	}
	free(names);
	return ret;
}

/*
 * Common start of every op: the inode, or a reply already sent.
 * noxattrs answers ENOSYS, as fuse-overlayfs does: the kernel remembers it
 * for the connection, stops asking (no more security.capability lookup
 * before each write) and reports EOPNOTSUPP to every caller.
 */
static struct ovl_inode *xattr_inode(fuse_req_t req, struct ovl_fs *fs, fuse_ino_t ino)
{
	if (fs->cfg->noxattrs) {
		fuse_reply_err(req, ENOSYS);
		return NULL;
	}
	return ovl_req_inode(req, ino);
}

/*
 * trusted.* names are listed only to root, as overlayfs lists them only to
 * CAP_SYS_ADMIN: a daemon running as root would otherwise show them to
 * any user (reading them is refused by the kernel for such callers).
 */
static bool listable(const struct ovl_fs *fs, const char *name, bool caller_root)
{
	if (name_refused(fs, name))
		return false;
	return caller_root || strncmp(name, "trusted.", 8) != 0;
}

void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	const char *path;
	char *names;
	ssize_t len;
	size_t out = 0;
	int fd, err;

	ovl_debug("listxattr ino=%" PRIu64 " size=%zu", (uint64_t)ino, size);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	err = ovl_inode_open(n, O_PATH, &fd, NULL);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	path = ovl_procpath(&path_buf, fd);
	/* Always the whole list: filtering may make it fit where the raw
	 * one would not, so the raw size says nothing about the answer. */
	len = list_all(path, &names);
	close(fd);
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}

	bool caller_root = fuse_req_ctx(req)->uid == 0;
	for (char *name = names; len > 0 && name < names + len;) {
		size_t l = strlen(name) + 1;

		if (listable(fs, name, caller_root)) {
			memmove(names + out, name, l);
			out += l;
		}
		name += l;
	}

	if (size == 0)
		fuse_reply_xattr(req, out);
	else if (out > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, out);
	free(names);
}

void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	const char *path;
	char *buf = NULL;
	ssize_t got;
	int fd, err;

	ovl_debug("getxattr ino=%" PRIu64 " name=%s size=%zu", (uint64_t)ino, name, size);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	if (name_refused(fs, name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* size is bounded by the kernel (XATTR_SIZE_MAX); too small gives
	 * ERANGE straight from the real filesystem. */
	if (size > 0 && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = ovl_inode_open(n, O_PATH, &fd, NULL);
	if (err) {
		free(buf);
		fuse_reply_err(req, -err);
		return;
	}
	path = ovl_procpath(&path_buf, fd);
	got = getxattr(path, name, buf, size);
	err = errno;
	close(fd);

	if (got < 0)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
	free(buf);
}

/*
 * Shared by set and remove: checks, copy-up, then an fd on the upper copy
 * (returned in *fd, true), or false after replying.
 */
static bool prepare_write(fuse_req_t req, struct ovl_fs *fs, struct ovl_inode *n,
			  const char *name, int *fd)
{
	int err;

	/* As the VFS checks the mount before any xattr handler runs. */
	if (!fs->has_upper || fs->cfg->read_only)
		err = EROFS;
	else if (name_refused(fs, name))
		err = EOPNOTSUPP;
	else if ((err = -ovl_copy_up(n, true)) == 0 && !ovl_inode_is_upper(n)) {
		/* Never write into a lower layer, whatever copy-up claimed. */
		ovl_err("xattr: inode %" PRIu64 " not in the upper layer after copy-up",
			(uint64_t)n->id);
		err = EIO;
	}
	if (!err)
		err = -ovl_inode_open(n, O_PATH, fd, NULL);
	if (err) {
		fuse_reply_err(req, err);
		return false;
	}
	return true;
}

void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	const char *path;
	int fd, err = 0;

	ovl_debug("setxattr ino=%" PRIu64 " name=%s size=%zu flags=%d", (uint64_t)ino, name,
		  size, flags);
	n = xattr_inode(req, fs, ino);
	if (!n || !prepare_write(req, fs, n, name, &fd))
		return;
	path = ovl_procpath(&path_buf, fd);
	/* XATTR_CREATE / XATTR_REPLACE mean the same on the upper copy: it
	 * carries every xattr of the object since copy-up. */
	if (setxattr(path, name, value, size, flags) < 0)
		err = errno;
	close(fd);
	fuse_reply_err(req, err);
}

void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	const char *path;
	int fd, err = 0;

	ovl_debug("removexattr ino=%" PRIu64 " name=%s", (uint64_t)ino, name);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	/* Removing what is not there fails without a copy-up, as overlayfs. */
	if (fs->has_upper && !ovl_inode_is_upper(n) && !name_refused(fs, name) &&
	    ovl_inode_open(n, O_PATH, &fd, NULL) == 0) {
		path = ovl_procpath(&path_buf, fd);
		err = getxattr(path, name, NULL, 0) < 0 ? errno : 0;
		close(fd);
		if (err) {
			fuse_reply_err(req, err);
			return;
		}
	}
	if (!prepare_write(req, fs, n, name, &fd))
		return;
	path = ovl_procpath(&path_buf, fd);
	if (removexattr(path, name) < 0)
		err = errno;
	close(fd);
	fuse_reply_err(req, err);
}
