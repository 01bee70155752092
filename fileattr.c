/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File flags (chattr, lsattr), as kernel overlayfs keeps them.
 *
 * The kernel's FUSE client reads and changes them with FUSE_IOCTL
 * (FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/FSSETXATTR) on a file it
 * opens for the purpose, after its own checks (owner, CAP_LINUX_IMMUTABLE).
 * They are the flags of the object's file in its layer, except immutable
 * and append-only: set on an upper file they would stop the daemon itself
 * (no rename into place, no link, no xattr), so they are kept in the
 * overlay.protattr xattr ("a", "i", or both) and enforced here
 * (ovl_may_change), where the kernel cannot: a FUSE inode has no such
 * flags.  A lower file's own flags count until its copy-up, which carries
 * immutable and append-only into protattr and sync and noatime into the
 * copy's flags (ovl_copy_fileattr).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/fs.h>

#include "ovl.h"

#define PROT_FLAGS (FS_APPEND_FL | FS_IMMUTABLE_FL)
#define PROT_XFLAGS (FS_XFLAG_APPEND | FS_XFLAG_IMMUTABLE)
/* what a copy-up carries into the copy's own flags, as the kernel */
#define COPIED_FLAGS (FS_SYNC_FL | FS_NOATIME_FL)

/* FS_*_FL protection flags from a protattr value; -EINVAL if malformed */
static int parse_protattr(const char *buf, ssize_t len)
{
	int flags = 0;

	for (ssize_t i = 0; i < len; i++) {
		if (buf[i] == 'a')
			flags |= FS_APPEND_FL;
		else if (buf[i] == 'i')
			flags |= FS_IMMUTABLE_FL;
		else
			return -EINVAL;
	}
	return len > 0 ? flags : -EINVAL;
}

/* The protection flags recorded on the upper object (dirfd, name), name ""
 * for dirfd itself (O_PATH will do). */
static int read_protattr(struct ovl_fs *fs, int dirfd, const char *name)
{
	char path[sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX];
	char buf[8];
	ssize_t len;
	int flags;

	if (!fs->protattr_xattr)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d%s%s", dirfd, *name ? "/" : "", name);
	len = lgetxattr(path, fs->protattr_xattr, buf, sizeof(buf));
	if (len < 0)
		return errno == ENODATA || errno == EOPNOTSUPP ? 0 : -errno;
	flags = parse_protattr(buf, len);
	if (flags < 0)   /* as the kernel: warn and ignore */
		ovl_err("ignoring a malformed %s (%zd bytes)", fs->protattr_xattr, len);
	return flags < 0 ? 0 : flags;
}

/* Stores the protection flags of flags on the upper object fd, or removes
 * the record when there are none. */
static int write_protattr(struct ovl_fs *fs, int fd, unsigned int flags)
{
	struct ovl_procpath p;
	char buf[2];
	size_t len = 0;

	if (flags & FS_APPEND_FL)
		buf[len++] = 'a';
	if (flags & FS_IMMUTABLE_FL)
		buf[len++] = 'i';
	if (!fs->protattr_xattr)
		return len ? -EPERM : 0;   /* the kernel refuses them without xattrs */
	if (len)
		return setxattr(ovl_procpath(&p, fd), fs->protattr_xattr, buf, len, 0) < 0 ? -errno
											     : 0;
	if (removexattr(ovl_procpath(&p, fd), fs->protattr_xattr) < 0 && errno != ENODATA)
		return -errno;
	return 0;
}

/* The object's flags in its layer (O_RDONLY fd); -ENOTTY where its
 * filesystem has none (ENOTTY, EINVAL, EOPNOTSUPP), which kernel overlayfs
 * takes as no flags. */
static int real_flags(int fd, unsigned int *flags)
{
	*flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, flags) == 0)
		return 0;
	return errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP ? -ENOTTY : -errno;
}

/* An fd to read the object's flags with: files and directories only. */
static int open_for_flags(struct ovl_inode *n, int *fd, int *layer)
{
	if (!S_ISREG(n->type) && !S_ISDIR(n->type))
		return -ENOTTY;
	return ovl_inode_open(n, O_RDONLY | O_NONBLOCK, fd, layer);
}

/* n's protection flags from its object (dirfd, name) in layer (name "":
 * dirfd itself, O_PATH will do): the record of an upper object, a lower
 * object's own flags (statx reports them without an open).  Remembered: a
 * copy-up keeps them (protattr), so once known they stay right. */
static int prot_at(struct ovl_inode *n, int layer, int dirfd, const char *name)
{
	struct statx stx;
	int ret;

	if (!ovl_layer_is_lower(n->fs, layer))
		ret = read_protattr(n->fs, dirfd, name);
	else if (statx(dirfd, name, (*name ? 0 : AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW, 0, &stx) < 0)
		ret = -errno;
	else
		ret = (stx.stx_attributes & STATX_ATTR_APPEND ? FS_APPEND_FL : 0) |
		      (stx.stx_attributes & STATX_ATTR_IMMUTABLE ? FS_IMMUTABLE_FL : 0);
	if (ret >= 0)
		atomic_store(&n->prot, (unsigned int)ret | OVL_PROT_KNOWN);
	return ret;
}

/* n's protection flags (FS_APPEND_FL, FS_IMMUTABLE_FL), or -errno */
static int prot_flags(struct ovl_inode *n)
{
	unsigned int cached = atomic_load(&n->prot);
	int layer, fd, ret;

	if (cached & OVL_PROT_KNOWN)
		return (int)(cached & ~OVL_PROT_KNOWN);
	ret = ovl_inode_open(n, O_PATH, &fd, &layer);
	if (ret < 0)
		return ret;
	ret = prot_at(n, layer, fd, "");
	close(fd);
	return ret;
}

static int verdict(int flags, bool append_only_ok)
{
	if (flags < 0)
		return flags;
	if ((flags & FS_IMMUTABLE_FL) || ((flags & FS_APPEND_FL) && !append_only_ok))
		return -EPERM;
	return 0;
}

int ovl_may_change(struct ovl_inode *n, bool append_only_ok)
{
	return verdict(prot_flags(n), append_only_ok);
}

int ovl_may_change_entry(struct ovl_inode *parent, const char *name, struct ovl_inode *n,
			 bool append_only_ok)
{
	unsigned int cached = atomic_load(&n->prot);
	int layer = ovl_inode_layer(n), ret;
	OVL_DFD d = { .fd = -1 };

	if (cached & OVL_PROT_KNOWN)
		return verdict((int)(cached & ~OVL_PROT_KNOWN), append_only_ok);
	ret = ovl_dir_fd(parent, layer, &d);
	return verdict(ret < 0 ? ret : prot_at(n, layer, d.fd, name), append_only_ok);
}

int ovl_copy_fileattr(struct ovl_fs *fs, int srcfd, int dstfd)
{
	struct ovl_procpath p;
	unsigned int flags, dst_flags;
	int fd, ret = real_flags(srcfd, &flags);

	if (ret < 0)
		return ret == -ENOTTY ? 0 : ret;
	if (flags & PROT_FLAGS) {
		ret = write_protattr(fs, dstfd, flags);
		if (ret == -EPERM)   /* no xattrs on the upper: as the kernel */
			ovl_debug("copy-up: the upper cannot keep immutable/append-only");
		else if (ret < 0)
			return ret;
	}
	if (!(flags & COPIED_FLAGS))
		return 0;
	fd = open(ovl_procpath(&p, dstfd), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = real_flags(fd, &dst_flags);
	if (ret == 0) {
		dst_flags = (dst_flags & ~COPIED_FLAGS) | (flags & COPIED_FLAGS);
		ret = ioctl(fd, FS_IOC_SETFLAGS, &dst_flags) < 0 ? -errno : 0;
	}
	close(fd);
	/* an upper without flags, or not ours to set them on: as the kernel */
	return ret == -ENOTTY || ret == -EPERM ? 0 : ret;
}

/* FS_IOC_GETFLAGS / FS_IOC_FSGETXATTR: the flags of the object's file,
 * with the protection flags of the overlay's record. */
static int get_flags(struct ovl_inode *n, unsigned int cmd, void *out)
{
	int fd, layer, prot, ret = open_for_flags(n, &fd, &layer);

	if (ret < 0)
		return ret;
	ret = ioctl(fd, cmd, out) < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret == -EINVAL || ret == -EOPNOTSUPP ? -ENOTTY : ret;
	prot = prot_flags(n);
	if (prot < 0)
		return prot;
	if (cmd == FS_IOC_GETFLAGS) {
		*(unsigned int *)out |= (unsigned int)prot;
	} else {
		struct fsxattr *fa = out;
		if (prot & FS_APPEND_FL)
			fa->fsx_xflags |= FS_XFLAG_APPEND;
		if (prot & FS_IMMUTABLE_FL)
			fa->fsx_xflags |= FS_XFLAG_IMMUTABLE;
	}
	return 0;
}

/* FS_IOC_SETFLAGS / FS_IOC_FSSETXATTR: on the upper copy, the protection
 * flags into its record, the rest onto its file.  prot: the protection
 * flags asked for, taken out of in by the caller. */
static int set_flags(struct ovl_inode *n, unsigned int cmd, void *in, unsigned int prot)
{
	int fd, layer, ret;

	if (!S_ISREG(n->type) && !S_ISDIR(n->type))
		return -ENOTTY;
	ret = ovl_copy_up(n, true);
	if (ret == 0)
		ret = open_for_flags(n, &fd, &layer);
	if (ret < 0)
		return ret;
	if (layer != 0) {   /* never a change in a lower layer */
		close(fd);
		return -EIO;
	}
	ret = write_protattr(n->fs, fd, prot);
	if (ret == 0)
		atomic_store(&n->prot, prot | OVL_PROT_KNOWN);
	if (ret == 0 && ioctl(fd, cmd, in) < 0)
		ret = errno == EINVAL || errno == EOPNOTSUPP ? -ENOTTY : -errno;
	close(fd);
	/* its ctime changed, which no reply carries */
	if (ret == 0)
		fuse_lowlevel_notify_inval_inode(n->fs->se, n->id, -1, 0);
	return ret;
}

void ovl_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	       struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
	       size_t out_bufsz)
{
	OVL_INODE n = NULL;
	union { unsigned int flags; struct fsxattr fsx; } v;
	size_t size = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS ? sizeof(v.flags)
								     : sizeof(v.fsx);
	bool get = cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_FSGETXATTR;
	int ret;

	(void)arg;
	(void)fi;
	(void)flags;
	ovl_debug("ioctl ino=%lu cmd=0x%x in=%zu out=%zu", (unsigned long)ino, cmd, in_bufsz,
		  out_bufsz);
	/* what the kernel's fileattr code sends; anything else is not ours */
	if (cmd != FS_IOC_GETFLAGS && cmd != FS_IOC_SETFLAGS && cmd != FS_IOC_FSGETXATTR &&
	    cmd != FS_IOC_FSSETXATTR) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (get ? out_bufsz < size : in_bufsz < size) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!(n = ovl_req_inode(req, ino)))
		return;
	memset(&v, 0, sizeof(v));
	if (get) {
		ret = get_flags(n, cmd, &v);
	} else {
		unsigned int prot;

		memcpy(&v, in_buf, size);
		if (cmd == FS_IOC_SETFLAGS) {
			prot = v.flags & PROT_FLAGS;
			v.flags &= ~PROT_FLAGS;
		} else {
			prot = (v.fsx.fsx_xflags & FS_XFLAG_APPEND ? FS_APPEND_FL : 0) |
			       (v.fsx.fsx_xflags & FS_XFLAG_IMMUTABLE ? FS_IMMUTABLE_FL : 0);
			v.fsx.fsx_xflags &= ~PROT_XFLAGS;
		}
		ret = set_flags(n, cmd, &v, prot);
	}
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_ioctl(req, 0, get ? &v : NULL, get ? size : 0);
}
