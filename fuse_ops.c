/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The FUSE operation table, connection set-up and lookups. */
#include <errno.h>
#include <string.h>

#include "ovl.h"

static void ovl_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ovl_fs *fs = userdata;

	/* O_TRUNC arrives with open, so copy-up can skip the data */
	conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
#ifdef HAVE_FUSE_PASSTHROUGH
	/* Without it the kernel asks us for security.capability before every
	 * write; with it, killing setuid/setgid is our job (inode.c).  Needs
	 * fi->kill_suidgid: libfuse 3.17, as passthrough. */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV_V2)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV_V2;
#endif
	ovl_passthrough_init(fs, conn);
	/* The kernel trusts its own size and times of files it caches writes
	 * for, which writes through a backing file would leave stale. */
	fs->writeback = fs->cfg->writeback && !atomic_load(&fs->passthrough) &&
			(conn->capable & FUSE_CAP_WRITEBACK_CACHE);
	if (fs->writeback)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (fs->cfg->max_write)
		conn->max_write = fs->cfg->max_write;
	/* With ACLs the umask is ours to apply (dir.c): a default ACL of the
	 * parent overrides it, which the kernel cannot know. */
	if (!fs->cfg->noacl && !fs->cfg->noxattrs && (conn->capable & FUSE_CAP_POSIX_ACL)) {
		conn->want |= FUSE_CAP_POSIX_ACL;
		if (conn->capable & FUSE_CAP_DONT_MASK)
			conn->want |= FUSE_CAP_DONT_MASK;
	}
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
#ifdef FUSE_CAP_NO_EXPORT_SUPPORT
	/* A handle names a FUSE id, which dies with the inode and the mount:
	 * name_to_handle_at and NFS export are refused (EOPNOTSUPP), as by
	 * kernel overlayfs without nfs_export, rather than give handles that
	 * go stale. */
	if (conn->capable & FUSE_CAP_NO_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_NO_EXPORT_SUPPORT;
#endif
#ifdef FUSE_CAP_SETXATTR_EXT
	atomic_store(&fs->wire.setxattr_ext, (conn->want & FUSE_CAP_SETXATTR_EXT) != 0);
#endif
	ovl_wire_init(fs, conn);   /* after max_write */
	ovl_debug("init: protocol %u.%u", conn->proto_major, conn->proto_minor);
}

static void ovl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	OVL_INODE p = ovl_req_dir(req, parent);
	struct fuse_entry_param e;
	int ret;

	if (!p)
		return;
	ovl_wire_note_transport(ovl_fs(req), req);
	ret = ovl_lookup_entry(p, name, &e);
	ovl_debug("lookup parent=%lu name=%s -> %s", (unsigned long)parent, name,
		  ret < 0 ? strerror(-ret) : "found");
	if (ret == -ENOENT)
		e.ino = 0;   /* a negative entry, cached like a positive one */
	if (ret < 0 && ret != -ENOENT)
		fuse_reply_err(req, -ret);
	else
		ovl_reply_entry(req, &e);
}

/* A forget for an id not in the table (stale or forged) is ignored. */
static void forget_one(struct ovl_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct ovl_inode *n = ovl_inode_get(fs, ino);

	if (n) {
		ovl_inode_forget(n, nlookup);
		ovl_inode_put(n);
	}
}

static void ovl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ovl_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void ovl_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(ovl_fs(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

const struct fuse_lowlevel_ops ovl_ops = {
	.init = ovl_init,
	.lookup = ovl_lookup,
	.forget = ovl_forget,
	.forget_multi = ovl_forget_multi,
	.getattr = ovl_getattr,
	.setattr = ovl_setattr,
	.readlink = ovl_readlink,
	.mknod = ovl_mknod,
	.mkdir = ovl_mkdir,
	.unlink = ovl_unlink,
	.rmdir = ovl_rmdir,
	.symlink = ovl_symlink,
	.rename = ovl_rename,
	.link = ovl_link,
	.open = ovl_open,
	.read = ovl_read,
	.write_buf = ovl_write_buf,
	/* no .flush: it has nothing to do (the kernel writes cached pages before
	 * asking), and its ENOSYS stops the kernel asking at every close */
	.release = ovl_release,
	.fsync = ovl_fsync,
	.opendir = ovl_opendir,
	.readdir = ovl_readdir,
	.readdirplus = ovl_readdirplus,
	.releasedir = ovl_releasedir,
	.fsyncdir = ovl_fsyncdir,
	.statfs = ovl_statfs,
	.setxattr = ovl_setxattr,
	.getxattr = ovl_getxattr,
	.listxattr = ovl_listxattr,
	.removexattr = ovl_removexattr,
	.access = ovl_access,
	.create = ovl_create,
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 15)   /* libfuse 3.14 has no tmpfile */
	.tmpfile = ovl_tmpfile,
#endif
	.fallocate = ovl_fallocate,
	.copy_file_range = ovl_copy_file_range,
	.lseek = ovl_lseek,
	.ioctl = ovl_ioctl,
};
