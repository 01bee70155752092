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
 * With xattr_permissions=2 the security.* names are stored escaped, in
 * user xattrs (see "Escaped security names" below).
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
#include <linux/limits.h>
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
 * layers directly) and the escaped security names.  Matching on the full
 * prefix with its dot, as the kernel does: "trusted.overlayfoo" is an
 * ordinary name.
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
 * mode records describe the object itself, not its place in a layer (and
 * so do the escaped security names).
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
 * Escaped security names.  With xattr_permissions=2 a security.* name of
 * the mount is stored as the user xattr "user.containers.override_" +
 * name, the form fuse-overlayfs 1.14 writes in this mode (beside
 * containers/storage's user.containers.override_stat).  Why: a daemon
 * without CAP_SYS_ADMIN (rootless) may set no security.* name but
 * security.capability, and that one only on files whose owner and group
 * it maps, or not at all outside a user namespace; yet the kernel removes
 * security.capability through the daemon on every chown, which then
 * failed with EPERM.  And the real security.* names of upper files are the
 * host's (labels its LSM gave them), not the container's.
 *
 * So on such a mount an upper object shows its escaped names as security.*
 * and never its real security.* names, which stay untouched.  A lower
 * object shows both, the escaped form winning over a real name of the
 * same object; copy-up stores both kinds escaped, so that nothing the
 * mount shows changes with it.
 */
#define ESC_PREFIX "user.containers.override_"
#define ESC_PREFIX_LEN (sizeof(ESC_PREFIX) - 1)
#define SECURITY_PREFIX "security."

static bool is_security_name(const char *name)
{
	return strncmp(name, SECURITY_PREFIX, sizeof(SECURITY_PREFIX) - 1) == 0;
}

/* Is name, a name of the mount, stored escaped? */
static bool stored_escaped(const struct ovl_fs *fs, const char *name)
{
	return fs->cfg->xattr_permissions == 2 && is_security_name(name) &&
	       !ovl_xattr_is_internal(name);
}

/* The name of the mount that a stored name stands for when it is an
 * escaped one, else NULL. */
static const char *unescaped(const struct ovl_fs *fs, const char *stored)
{
	if (strncmp(stored, ESC_PREFIX, ESC_PREFIX_LEN) != 0 ||
	    !stored_escaped(fs, stored + ESC_PREFIX_LEN))
		return NULL;
	return stored + ESC_PREFIX_LEN;
}

/* The escaped form of name in out: 0, or -ERANGE when it would be longer
 * than an xattr name may be (what setxattr answers for such a name). */
static int escape(const char *name, char out[XATTR_NAME_MAX + 1])
{
	size_t len = strlen(name);

	if (ESC_PREFIX_LEN + len > XATTR_NAME_MAX)
		return -ERANGE;
	memcpy(out, ESC_PREFIX, ESC_PREFIX_LEN);
	memcpy(out + ESC_PREFIX_LEN, name, len + 1);
	return 0;
}

/* Does the name list [list, list + len) hold the escaped form of name? */
static bool has_escaped_twin(const char *list, ssize_t len, const char *name)
{
	char esc[XATTR_NAME_MAX + 1];

	if (escape(name, esc) < 0)
		return false;
	for (const char *p = list; p < list + len; p += strlen(p) + 1)
		if (strcmp(p, esc) == 0)
			return true;
	return false;
}

/*
 * The name of the mount that the stored name stands for on an object of
 * the upper layer (upper) or of a lower one, given all its stored names
 * (list, len); NULL when the mount does not show it.  Internal and refused
 * names are the caller's to filter.
 */
static const char *shown_as(const struct ovl_fs *fs, const char *stored, bool upper,
			    const char *list, ssize_t len)
{
	const char *name = unescaped(fs, stored);

	if (name)
		return name;
	if (!stored_escaped(fs, stored))
		return stored;
	if (upper || has_escaped_twin(list, len, stored))
		return NULL;
	return stored;
}

/*
 * getxattr of the name of the mount name, on the object at path (in the
 * upper layer or in a lower one): its escaped form, or on a lower object
 * without one the real name.  The size or -errno.
 */
static ssize_t get_shown(const struct ovl_fs *fs, const char *path, bool upper, const char *name,
			 void *buf, size_t size)
{
	char esc[XATTR_NAME_MAX + 1];
	ssize_t got;

	if (!stored_escaped(fs, name)) {
		got = getxattr(path, name, buf, size);
		return got < 0 ? -errno : got;
	}
	if (escape(name, esc) < 0)
		got = -ENODATA; /* too long to be kept escaped: never set so */
	else if ((got = getxattr(path, esc, buf, size)) < 0)
		got = -errno;
	if (got == -ENODATA && !upper) {
		got = getxattr(path, name, buf, size);
		if (got < 0)
			got = -errno;
	}
	return got;
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
 * The default ACL of the upper directory dirfd, which the filesystem gives
 * new objects in it in place of the umask: its size (*value malloc'ed), or 0
 * when it has none, or -errno.  (Under noacl too: there the mount must keep
 * it from new objects.)
 */
ssize_t ovl_default_acl(int dirfd, char **value)
{
	struct ovl_procpath p;
	ssize_t len;

	len = get_all(ovl_procpath(&p, dirfd), ACL_DEFAULT, value);
	if (len == -ENODATA || len == -EOPNOTSUPP || len == 0) {
		free(*value);
		*value = NULL;
		return 0;
	}
	return len;
}

/* Gives the directory fd the default ACL value (ovl_default_acl). */
int ovl_set_default_acl(int fd, const char *value, size_t size)
{
	return fsetxattr(fd, ACL_DEFAULT, value, size, 0) < 0 ? -errno : 0;
}

/* Takes the access ACL a default ACL gave the new file fd, under noacl. */
int ovl_drop_access_acl(int fd)
{
	return fremovexattr(fd, ACL_ACCESS) < 0 && errno != ENODATA ? -errno : 0;
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

/*
 * Stores the xattr name (of the lower object), with its value, in the
 * upper copy dst (its fd dstfd), under stored (name itself, or its escaped
 * form).  0 or -errno.
 */
static int copy_one(const char *dst, int dstfd, const char *name, const char *stored,
		    const char *value, ssize_t vlen)
{
	int err;

	if (setxattr(dst, stored, value, (size_t)vlen, 0) == 0)
		return 0;
	err = errno;
	/*
	 * The upper filesystem lacks this namespace or name (EOPNOTSUPP):
	 * drop it unless it matters for access.  EPERM for user.* on anything
	 * but a regular file or a directory is the kernel's rule (user xattrs
	 * are refused on symlinks and device nodes), not a failure of ours:
	 * such a name can only have come from a filesystem with other rules,
	 * or be an escaped security name, which such objects cannot keep.
	 */
	if (err == EOPNOTSUPP && !must_copy(name))
		return 0;
	if (err == EPERM && strncmp(stored, "user.", 5) == 0 && !is_reg_or_dir(dstfd))
		return 0;
	return -err;
}

int ovl_copy_xattrs(struct ovl_fs *fs, int srcfd, int dstfd)
{
	struct ovl_procpath src_buf, dst_buf;
	const char *src, *dst;
	char *names;
	ssize_t len;
	int ret = 0;

	src = ovl_procpath(&src_buf, srcfd);
	dst = ovl_procpath(&dst_buf, dstfd);

	len = list_all(src, &names);
	if (len == -EOPNOTSUPP)
		return 0; /* the lower filesystem has no xattrs at all */
	if (len < 0)
		return (int)len;

	for (char *name = names; ret == 0 && len > 0 && name < names + len;
	     name += strlen(name) + 1) {
		char esc[XATTR_NAME_MAX + 1];
		const char *stored = name;
		char *value;
		ssize_t vlen;

		if (skip_on_copy(name))
			continue;
		/* a real security name the mount shows goes up escaped */
		if (stored_escaped(fs, name)) {
			if (!shown_as(fs, name, false, names, len) || escape(name, esc) < 0)
				continue;
			stored = esc;
		}

		vlen = get_all(src, name, &value);
		if (vlen == -ENODATA)
			continue; /* removed since the listing */
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		ret = copy_one(dst, dstfd, name, stored, value, vlen);
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

/* Is the copy opened in layer the upper one? */
static bool opened_upper(const struct ovl_fs *fs, int layer)
{
	return fs->has_upper && layer == 0;
}

/*
 * The names the mount shows, of the stored ones in [names, names + len),
 * into out (as large): the length of the list.
 */
static size_t shown_list(const struct ovl_fs *fs, const char *names, ssize_t len, bool upper,
			 bool caller_root, char *out)
{
	size_t n = 0;

	for (const char *name = names; len > 0 && name < names + len; name += strlen(name) + 1) {
		const char *shown = shown_as(fs, name, upper, names, len);

		if (shown && listable(fs, shown, caller_root)) {
			size_t l = strlen(shown) + 1;
			memcpy(out + n, shown, l);
			n += l;
		}
	}
	return n;
}

void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	char *names, *shown;
	ssize_t len;
	size_t out;
	int fd, layer, err;

	ovl_debug("listxattr ino=%" PRIu64 " size=%zu", (uint64_t)ino, size);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	err = ovl_inode_open(n, O_PATH, &fd, &layer);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	/* Always the whole list: filtering may make it fit where the raw
	 * one would not, so the raw size says nothing about the answer. */
	len = list_all(ovl_procpath(&path_buf, fd), &names);
	close(fd);
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}
	/* no shown name is longer than the stored one it comes from */
	shown = malloc((size_t)len + 1);
	if (!shown) {
		free(names);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	out = shown_list(fs, names, len, opened_upper(fs, layer), fuse_req_ctx(req)->uid == 0,
			 shown);
	free(names);

	if (size == 0)
		fuse_reply_xattr(req, out);
	else if (out > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, shown, out);
	free(shown);
}

void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	char *buf = NULL;
	ssize_t got;
	int fd, layer, err;

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
	err = ovl_inode_open(n, O_PATH, &fd, &layer);
	if (err) {
		free(buf);
		fuse_reply_err(req, -err);
		return;
	}
	got = get_shown(fs, ovl_procpath(&path_buf, fd), opened_upper(fs, layer), name, buf, size);
	close(fd);

	if (got < 0)
		fuse_reply_err(req, (int)-got);
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
	else if ((err = -ovl_may_change(n, false)) != 0)
		;   /* immutable or append-only (xattr_permission) */
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

/* The name the upper copy keeps the name of the mount name under, in buf
 * when escaped; NULL with *err set when it cannot keep it. */
static const char *stored_name(const struct ovl_fs *fs, const char *name,
			       char buf[XATTR_NAME_MAX + 1], int *err)
{
	if (!stored_escaped(fs, name))
		return name;
	*err = -escape(name, buf);
	return *err ? NULL : buf;
}

void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	char esc[XATTR_NAME_MAX + 1];
	const char *stored;
	int fd, err = 0;

	ovl_debug("setxattr ino=%" PRIu64 " name=%s size=%zu flags=%d", (uint64_t)ino, name,
		  size, flags);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	stored = stored_name(fs, name, esc, &err);
	if (!stored) {
		fuse_reply_err(req, err);
		return;
	}
	if (!prepare_write(req, fs, n, name, &fd))
		return;
	/* new objects in it are to get it (dir.c) */
	if (n->dir && strcmp(name, ACL_DEFAULT) == 0)
		atomic_store(&n->dir->no_default_acl, false);
	/* XATTR_CREATE / XATTR_REPLACE mean the same on the upper copy: it
	 * carries every xattr of the object since copy-up. */
	if (setxattr(ovl_procpath(&path_buf, fd), stored, value, size, flags) < 0)
		err = errno;
	close(fd);
	fuse_reply_err(req, err);
}

/* Removing what is not there fails without a copy-up, as overlayfs: 0 when
 * the lower object n shows name (or when it cannot be told), else -errno. */
static int lower_has(struct ovl_fs *fs, struct ovl_inode *n, const char *name)
{
	struct ovl_procpath path_buf;
	ssize_t got;
	int fd, layer;

	if (!fs->has_upper || ovl_inode_is_upper(n) || name_refused(fs, name) ||
	    ovl_inode_open(n, O_PATH, &fd, &layer) < 0)
		return 0;
	got = get_shown(fs, ovl_procpath(&path_buf, fd), opened_upper(fs, layer), name, NULL, 0);
	close(fd);
	return got < 0 ? (int)got : 0;
}

void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = NULL;
	struct ovl_procpath path_buf;
	char esc[XATTR_NAME_MAX + 1];
	const char *stored;
	int fd, err = 0;

	ovl_debug("removexattr ino=%" PRIu64 " name=%s", (uint64_t)ino, name);
	n = xattr_inode(req, fs, ino);
	if (!n)
		return;
	stored = stored_name(fs, name, esc, &err);
	/* a name too long to be kept escaped is on no upper copy */
	if (!stored)
		err = ENODATA;
	if (!err)
		err = -lower_has(fs, n, name);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (!prepare_write(req, fs, n, name, &fd))
		return;
	if (removexattr(ovl_procpath(&path_buf, fd), stored) < 0)
		err = errno;
	close(fd);
	fuse_reply_err(req, err);
}
