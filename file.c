/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open files.  A read-only open of a lower file reads the lower file; any
 * open for writing (or O_TRUNC) copies the file up first, so no write can
 * reach a lower layer.  When a file opened read-only below is copied up by
 * someone else, later reads through the daemon switch to the upper copy,
 * as in overlayfs (ovl_file_fd); a passed-through open keeps its lower
 * backing (passthrough.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

static void file_free(struct ovl_handle *h, bool connected);

static struct ovl_file *file_new(struct ovl_inode *n, fuse_ino_t ino, int fd, int layer,
				 int flags)
{
	struct ovl_file *f = calloc(1, sizeof(*f));

	if (f) {
		f->h.kind = OVL_HANDLE_FILE;
		f->h.free = file_free;
		f->fd = fd;
		f->layer = layer;
		f->flags = flags;
		f->ino = ino;
		f->stale_fd = -1;
		pthread_mutex_init(&f->lock, NULL);
		ovl_inode_hold(n);
		f->inode = n;
	}
	return f;
}

struct ovl_file *ovl_file_get(struct ovl_fs *fs, const struct fuse_file_info *fi)
{
	return fi ? (struct ovl_file *)ovl_handle_get(&fs->handles, fi->fh, OVL_HANDLE_FILE) : NULL;
}

struct ovl_file *ovl_req_file(fuse_req_t req, struct fuse_file_info *fi)
{
	struct ovl_file *f = ovl_file_get(ovl_fs(req), fi);

	if (!f)
		fuse_reply_err(req, EBADF);
	return f;
}

void ovl_file_put(struct ovl_file *f)
{
	if (f)
		ovl_handle_put(&f->h);
}

static void file_putp(struct ovl_file **f)
{
	ovl_file_put(*f);
}
#define OVL_FILE __attribute__((cleanup(file_putp))) struct ovl_file *

int ovl_file_fd(struct ovl_file *f)
{
	int fd, ret;

	if (f->layer == 0 || !ovl_inode_is_upper(f->inode))
		return f->fd;
	/* Copied up since it was opened: read the upper copy from now on.
	 * The old fd stays open until release, since another thread may be
	 * reading from it right now. */
	pthread_mutex_lock(&f->lock);
	if (f->layer != 0 && f->stale_fd < 0) {
		int layer;
		ret = ovl_inode_open(f->inode, O_RDONLY, &fd, &layer);
		if (ret == 0) {
			f->stale_fd = f->fd;
			f->fd = fd;
			f->layer = layer;
		}
	}
	fd = f->fd;
	pthread_mutex_unlock(&f->lock);
	return fd;
}

/* With the writeback cache the kernel reads pages of files opened
 * write-only and does O_APPEND itself. */
static int real_open_flags(struct ovl_fs *fs, int flags)
{
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
	if (fs->writeback) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

/* -o debug: the one line of an open, create or tmpfile request, written
 * with its answer: what (the request, formatted only under -o debug), e
 * (the entry, if one), then how the file f is served, or the error ret. */
static void debug_open(const char *what, const struct fuse_entry_param *e,
		       const struct ovl_file *f, const struct fuse_file_info *fi, int ret)
{
	char how[64];

	if (!ovl_debug_enabled)
		return;
	if (ret < 0)
		ovl_debug("%s -> %s", what, strerror(-ret));
	else if (e)
		ovl_debug("%s -> ino=%lu, %s", what, (unsigned long)e->ino,
			  ovl_passthrough_how(f, fi, how, sizeof(how)));
	else
		ovl_debug("%s -> %s", what, ovl_passthrough_how(f, fi, how, sizeof(how)));
}

/*
 * A passed-through file open for writing.  The kernel updates its cached
 * size and times after writes it passes through, but a write through a
 * shared mapping changes the backing file behind it: at the release (the
 * last close, after the last mapping is gone) the file is compared with
 * what it was at the open, and the kernel's attributes dropped if it
 * changed (pt_writer_done).
 */
static bool pt_writer(const struct ovl_file *f)
{
	return f->passthrough && ovl_open_writes(f->flags);
}

static bool same_times(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void pt_writer_done(struct ovl_file *f)
{
	struct stat now;

	if (fstat(f->fd, &now) < 0 || !same_times(&now, &f->at_open))
		fuse_lowlevel_notify_inval_inode(f->inode->fs->se, f->ino, -1, 0);
}

/* Account a new open file handle, choose how the kernel does its I/O and
 * answer; what: the request (-o debug), e: the entry, for create (its
 * kernel reference goes again if the file cannot be opened). */
static void reply_open(fuse_req_t req, struct ovl_fs *fs, struct ovl_file *f,
		       struct fuse_file_info *fi, const char *what,
		       const struct fuse_entry_param *e)
{
	struct ovl_inode *n = f->inode;
	int ret = ovl_passthrough_open(fs, n, f, fi);

	if (ret == 0) {
		f->accounted = true;
		atomic_fetch_add(&n->opens, 1);
		if (pt_writer(f) && fstat(f->fd, &f->at_open) < 0)
			memset(&f->at_open, 0, sizeof(f->at_open));   /* compares as changed */
		atomic_fetch_add_explicit(&fs->stats.opens, 1, memory_order_relaxed);
		fi->fh = ovl_handle_add(&fs->handles, &f->h);
		if (!fi->fh)
			ret = -ENOMEM;
	}
	debug_open(what, e, ret < 0 ? NULL : f, fi, ret);
	if (ret < 0) {
		if (e)
			ovl_inode_forget(n, 1);
		file_free(&f->h, true);
		fuse_reply_err(req, -ret);
		return;
	}
	ret = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	if (ret == -ENOENT)   /* the opener is gone: no release will come */
		ovl_file_put((struct ovl_file *)ovl_handle_remove(&fs->handles, fi->fh,
								  OVL_HANDLE_FILE));
}

/* The answer to create or tmpfile: ret < 0, or the new file open on fd
 * with entry e (the entry holds a kernel reference: the inode stays). */
static void reply_created(fuse_req_t req, struct ovl_fs *fs, const char *what, int ret,
			  int fd, int flags, const struct fuse_entry_param *e,
			  struct fuse_file_info *fi)
{
	OVL_INODE n = NULL;
	struct ovl_file *f = NULL;

	if (ret == 0 && !(n = ovl_inode_get(fs, e->ino)))
		ret = -ESTALE;
	if (ret == 0 && !(f = file_new(n, e->ino, fd, 0, flags)))
		ret = -ENOMEM;
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		if (n)
			ovl_inode_forget(n, 1);
		debug_open(what, NULL, NULL, NULL, ret);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, fs, f, fi, what, e);
}

void ovl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE n = ovl_inode_get(fs, ino);
	struct ovl_file *f = NULL;
	int fd = -1, layer, ret = n ? 0 : -ESTALE;
	int flags = real_open_flags(fs, fi->flags);
	char what[64];

	if (ovl_debug_enabled)
		snprintf(what, sizeof(what), "open ino=%lu flags=0%o", (unsigned long)ino, fi->flags);
	if (ret == 0 && ovl_open_writes(flags)) {
		/* the kernel's flags: real_open_flags drops O_APPEND under the
		 * writeback cache, where the kernel appends itself */
		ret = ovl_may_change(n, (fi->flags & O_APPEND) && !(flags & O_TRUNC));
		if (ret == 0)
			ret = ovl_copy_up(n, !(flags & O_TRUNC));
	}
	if (ret == 0)
		ret = ovl_inode_open(n, flags, &fd, &layer);
	/* never a write into a lower layer, whatever happened meanwhile */
	if (ret == 0 && layer != 0 && ovl_open_writes(flags)) {
		ovl_err("open: inode %lu not in the upper layer after copy-up", (unsigned long)n->id);
		ret = -EIO;
	}
	if (ret == 0 && !(f = file_new(n, ino, fd, layer, flags)))
		ret = -ENOMEM;
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		debug_open(what, NULL, NULL, NULL, ret);
		fuse_reply_err(req, -ret);
		return;
	}
	if ((flags & O_TRUNC) && ovl_fi_kill_suidgid(fi))
		ovl_kill_suidgid(req, n);
	reply_open(req, fs, f, fi, what, NULL);
}

void ovl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE p = ovl_inode_get(fs, parent);
	struct fuse_entry_param e;
	int fd = -1, ret;
	int flags = real_open_flags(fs, fi->flags);
	char what[NAME_MAX + 96];

	if (ovl_debug_enabled)
		snprintf(what, sizeof(what), "create parent=%lu name=%s mode=0%o flags=0%o",
			 (unsigned long)parent, name, mode, fi->flags);
	ret = !p ? -ESTALE : !ovl_is_dir(p) ? -ENOTDIR
		 : ovl_create_object(req, p, name, (mode & 07777) | S_IFREG, 0, NULL, flags, &fd, &e);
	reply_created(req, fs, what, ret, fd, flags, &e, fi);
}

/* O_TMPFILE: an open file with an inode but no name, until a link names it */
void ovl_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_INODE p = ovl_inode_get(fs, parent);
	struct fuse_entry_param e;
	int fd = -1, ret;
	int flags = real_open_flags(fs, fi->flags);
	char what[96];

	if (ovl_debug_enabled)
		snprintf(what, sizeof(what), "tmpfile parent=%lu mode=0%o flags=0%o",
			 (unsigned long)parent, mode, fi->flags);
	ret = !p ? -ESTALE : !ovl_is_dir(p) ? -ENOTDIR : !fs->has_upper ? -EROFS
		 : ovl_create_tmpfile(req, p, mode, flags, &fd, &e);
	reply_created(req, fs, what, ret, fd, flags, &e, fi);
}

void ovl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	OVL_FILE f = NULL;

	ovl_debug("read ino=%lu off=%ld size=%zu", (unsigned long)ino, (long)off, size);
	if (!(f = ovl_req_file(req, fi)))
		return;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = ovl_file_fd(f);
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void ovl_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		   struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	OVL_FILE f = NULL;
	ssize_t n;

	ovl_debug("write ino=%lu off=%ld size=%zu", (unsigned long)ino, (long)off,
		  fuse_buf_size(in));
	if (!(f = ovl_req_file(req, fi)))
		return;
	if (f->layer != 0) {   /* never a write into a lower layer */
		fuse_reply_err(req, EBADF);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->fd;
	out.buf[0].pos = off;
	if (ovl_fi_kill_suidgid(fi))
		ovl_kill_suidgid(req, f->inode);
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void file_free(struct ovl_handle *h, bool connected)
{
	struct ovl_file *f = (struct ovl_file *)h;

	if (f->accounted) {
		if (pt_writer(f) && connected)
			pt_writer_done(f);
		ovl_passthrough_release(f->inode->fs, f, connected);
		atomic_fetch_sub(&f->inode->opens, 1);
	}
	if (f->fd >= 0)
		close(f->fd);
	if (f->stale_fd >= 0)
		close(f->stale_fd);
	ovl_inode_put(f->inode);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void ovl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	struct ovl_handle *h = ovl_handle_remove(&fs->handles, fi->fh, OVL_HANDLE_FILE);

	ovl_debug("release ino=%lu", (unsigned long)ino);
	ovl_handle_put(h);   /* the table's reference: freed once no request uses it */
	fuse_reply_err(req, h ? 0 : EBADF);
}

void ovl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_FILE f = NULL;
	int ret = 0;

	ovl_debug("fsync ino=%lu datasync=%d", (unsigned long)ino, datasync);
	if (!(f = ovl_req_file(req, fi)))
		return;
	if (fs->cfg->fsync && !fs->cfg->volatile_mode &&
	    (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		ret = errno;
	fuse_reply_err(req, ret);
}

void ovl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi)
{
	OVL_FILE f = NULL;
	int ret;

	ovl_debug("fallocate ino=%lu mode=%d off=%ld len=%ld", (unsigned long)ino, mode, (long)off,
		  (long)len);
	if (!(f = ovl_req_file(req, fi)))
		return;
	if (f->layer != 0)
		fuse_reply_err(req, EBADF);
	else if ((ret = ovl_may_change(f->inode, !(mode & ~FALLOC_FL_KEEP_SIZE))) < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_err(req, fallocate(f->fd, mode, off, len) < 0 ? errno : 0);
}

void ovl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct ovl_fs *fs = ovl_fs(req);
	OVL_FILE in = ovl_file_get(fs, fi_in);
	OVL_FILE out = ovl_file_get(fs, fi_out);
	ssize_t done;

	ovl_debug("copy_file_range in=%lu out=%lu len=%zu", (unsigned long)ino_in,
		  (unsigned long)ino_out, len);
	if (!in || !out || out->layer != 0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	done = copy_file_range(ovl_file_fd(in), &off_in, out->fd, &off_out, len,
			       (unsigned int)flags);
	if (done < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)done);
}

void ovl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	OVL_FILE f = NULL;
	off_t res;

	ovl_debug("lseek ino=%lu off=%ld whence=%d", (unsigned long)ino, (long)off, whence);
	if (!(f = ovl_req_file(req, fi)))
		return;
	res = lseek(ovl_file_fd(f), off, whence);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}
