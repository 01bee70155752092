/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests checked before libfuse reads them.  libfuse trusts the kernel to
 * send well-formed requests and parses them unchecked (its
 * doc/README.custom-io): a name without its NUL is read past the end of the
 * buffer, a BATCH_FORGET count past the array, a SETXATTR value past the
 * message.  A kernel module built elsewhere (kernel/'s), or a kernel bug,
 * must not turn that into undefined behaviour here.  So the session reads
 * through libfuse's custom io hooks, and each request is checked first: its
 * length against the bytes read, the fixed part its opcode needs, every
 * count and size against what is there, every name NUL-terminated inside
 * the message, every reply size asked for within what the kernel can take
 * (libfuse allocates it).  A bad request is answered EINVAL (an operation we do not
 * implement, ENOSYS) without libfuse seeing it, or dropped where the
 * protocol has no reply (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY).
 *
 * Needs a libfuse built with custom io (contrib/build-libfuse.sh builds it
 * so); with another, the session reads /dev/fuse itself, unchecked.
 *
 * FUSE over io_uring (libfuse 3.18, io_uring=auto): once the kernel has
 * the ring, every request but FORGET and INTERRUPT arrives in ring buffers
 * that libfuse's ring threads read and dispatch themselves, with no hook
 * before its parsing; those requests are not checked here.  Their only
 * writer is the kernel, as for /dev/fuse; a forged request from a user of
 * the mount cannot reach either.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <linux/limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>

#include "ovl.h"

#ifndef FUSE_DEV_IOC_CLONE
#define FUSE_DEV_IOC_CLONE _IOR(229, 0, uint32_t)
#endif
#define OPCODE_STATX 52  /* 7.39, newer than some headers */

/* What an opcode carries after its fixed part */
enum tail { NONE, NAME, TWO_NAMES, XATTR_VALUE, WRITE_DATA, IOCTL_DATA, FORGETS, NOT_OURS, NO_REPLY };

struct shape {
	size_t fixed;     /* the fixed part (protocol 7.12 and later) */
	enum tail tail;
};

/* Fixed parts as libfuse reads them from a kernel speaking 7.12 or later
 * (older kernels cannot mount: libfuse needs 7.12 features we ask for). */
static struct shape shape_of(const struct ovl_fs *fs, uint32_t opcode)
{
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_REMOVEXATTR:
		return (struct shape){ 0, NAME };
	case FUSE_FORGET:
		return (struct shape){ sizeof(struct fuse_forget_in), NO_REPLY };
	case FUSE_GETATTR:
		return (struct shape){ sizeof(struct fuse_getattr_in), NONE };
	case FUSE_SETATTR:
		return (struct shape){ sizeof(struct fuse_setattr_in), NONE };
	case FUSE_READLINK: case FUSE_STATFS: case FUSE_DESTROY:
		return (struct shape){ 0, NONE };
	case FUSE_SYMLINK:
		return (struct shape){ 0, TWO_NAMES };
	case FUSE_MKNOD:
		return (struct shape){ sizeof(struct fuse_mknod_in), NAME };
	case FUSE_MKDIR:
		return (struct shape){ sizeof(struct fuse_mkdir_in), NAME };
	case FUSE_RENAME:
		return (struct shape){ sizeof(struct fuse_rename_in), TWO_NAMES };
	case FUSE_RENAME2:
		return (struct shape){ sizeof(struct fuse_rename2_in), TWO_NAMES };
	case FUSE_LINK:
		return (struct shape){ sizeof(struct fuse_link_in), NAME };
	case FUSE_OPEN: case FUSE_OPENDIR:
		return (struct shape){ sizeof(struct fuse_open_in), NONE };
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		return (struct shape){ sizeof(struct fuse_read_in), NONE };
	case FUSE_WRITE:
		return (struct shape){ sizeof(struct fuse_write_in), WRITE_DATA };
	case FUSE_RELEASE: case FUSE_RELEASEDIR:
		return (struct shape){ sizeof(struct fuse_release_in), NONE };
	case FUSE_FSYNC: case FUSE_FSYNCDIR:
		return (struct shape){ sizeof(struct fuse_fsync_in), NONE };
	case FUSE_SETXATTR:
		return (struct shape){ atomic_load(&fs->wire.setxattr_ext) ?
					       sizeof(struct fuse_setxattr_in) :
					       FUSE_COMPAT_SETXATTR_IN_SIZE, XATTR_VALUE };
	case FUSE_GETXATTR:
		return (struct shape){ sizeof(struct fuse_getxattr_in), NAME };
	case FUSE_LISTXATTR:
		return (struct shape){ sizeof(struct fuse_getxattr_in), NONE };
	case FUSE_FLUSH:
		return (struct shape){ sizeof(struct fuse_flush_in), NONE };
	case FUSE_INIT:   /* libfuse checks what it reads of it */
		return (struct shape){ 8, NONE };
	case FUSE_ACCESS:
		return (struct shape){ sizeof(struct fuse_access_in), NONE };
	case FUSE_CREATE:
		return (struct shape){ sizeof(struct fuse_create_in), NAME };
	case FUSE_TMPFILE:
		return (struct shape){ sizeof(struct fuse_create_in), NONE };
	case FUSE_INTERRUPT:
		return (struct shape){ sizeof(struct fuse_interrupt_in), NO_REPLY };
	case FUSE_BATCH_FORGET:
		return (struct shape){ sizeof(struct fuse_batch_forget_in), FORGETS };
	case FUSE_NOTIFY_REPLY:   /* we never ask the kernel for data */
		return (struct shape){ (size_t)-1, NO_REPLY };
	case FUSE_FALLOCATE:
		return (struct shape){ sizeof(struct fuse_fallocate_in), NONE };
	case FUSE_LSEEK:
		return (struct shape){ sizeof(struct fuse_lseek_in), NONE };
	case FUSE_COPY_FILE_RANGE:
		return (struct shape){ sizeof(struct fuse_copy_file_range_in), NONE };
	case FUSE_IOCTL:
		return (struct shape){ sizeof(struct fuse_ioctl_in), IOCTL_DATA };
	default:   /* locks, poll, bmap, DAX, syncfs, statx, unknown */
		return (struct shape){ 0, NOT_OURS };
	}
}

/* A NUL-terminated string at the start of [p, end): the byte after it */
static const char *string_end(const char *p, const char *end)
{
	const char *nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;

	return nul ? nul + 1 : NULL;
}

/*
 * The largest reply to a READ or READDIR the kernel can take: max_pages
 * pages, which the INIT reply sets from max_write (libfuse rounds it up to
 * pages), or FUSE_DEFAULT_MAX_PAGES_PER_REQ (32) if the kernel did not ask.
 */
static size_t max_read_reply(const struct ovl_fs *fs)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = (fs->wire.max_write + page - 1) / page;

	return (pages > 32 ? pages : 32) * page;
}

/* A request asking for a reply larger than any the kernel takes: libfuse
 * would allocate all of it (a READ of 4 GiB of a short file allocates 4
 * GiB), and so would getxattr.  The kernel's own bounds: max_pages for
 * reads and listings, XATTR_SIZE_MAX and XATTR_LIST_MAX for xattrs. */
static bool asks_too_much(const struct ovl_fs *fs, uint32_t opcode, const char *arg)
{
	switch (opcode) {
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		return ((const struct fuse_read_in *)arg)->size > max_read_reply(fs);
	case FUSE_GETXATTR: case FUSE_LISTXATTR:
		return ((const struct fuse_getxattr_in *)arg)->size > XATTR_SIZE_MAX;
	default:
		return false;
	}
}

/* 0 when libfuse may have the request, else the errno to answer it with
 * (or to drop it, for those without a reply) */
static int check(const struct ovl_fs *fs, const char *msg, size_t len)
{
	const struct fuse_in_header *h = (const void *)msg;
	struct shape s = shape_of(fs, h->opcode);
	const char *arg = msg + sizeof(*h), *end, *p;
	size_t ext = (size_t)h->total_extlen * 8;

	if (h->len != len || ext > len - sizeof(*h))
		return EINVAL;
	if (s.tail == NOT_OURS)
		return ENOSYS;
	/* the payload ends where the extensions (7.38) begin */
	end = msg + len - ext;
	if (s.fixed > (size_t)(end - arg) || asks_too_much(fs, h->opcode, arg))
		return EINVAL;
	p = arg + s.fixed;
	switch (s.tail) {
	case TWO_NAMES:
		p = string_end(p, end);
		/* fall through */
	case NAME:
		return p && string_end(p, end) ? 0 : EINVAL;
	case XATTR_VALUE:
		p = string_end(p, end);
		return p && ((const struct fuse_setxattr_in *)arg)->size <= (size_t)(end - p)
			       ? 0 : EINVAL;
	case WRITE_DATA:
		return ((const struct fuse_write_in *)arg)->size <= (size_t)(end - p) ? 0 : EINVAL;
	case IOCTL_DATA:
		return ((const struct fuse_ioctl_in *)arg)->in_size <= (size_t)(end - p) ? 0 : EINVAL;
	case FORGETS:
		return ((const struct fuse_batch_forget_in *)arg)->count <=
				       (size_t)(end - p) / sizeof(struct fuse_forget_one)
			       ? 0 : EINVAL;
	default:
		return 0;
	}
}

static bool has_reply(uint32_t opcode)
{
	return opcode != FUSE_FORGET && opcode != FUSE_BATCH_FORGET &&
	       opcode != FUSE_INTERRUPT && opcode != FUSE_NOTIFY_REPLY;
}

static void answer(int fd, const struct fuse_in_header *h, int err)
{
	struct fuse_out_header out = {
		.len = sizeof(out), .error = -err, .unique = h->unique,
	};

	if (write(fd, &out, sizeof(out)) < 0)
		ovl_debug("wire: cannot answer request %llu: %s", (unsigned long long)h->unique,
			  strerror(errno));
}

/* One request that libfuse may parse: a bad one is answered (or dropped)
 * here and the next one read. */
static ssize_t wire_read(int fd, void *buf, size_t size, void *userdata)
{
	struct ovl_fs *fs = userdata;

	for (;;) {
		ssize_t n = read(fd, buf, size);
		const struct fuse_in_header *h = buf;
		int err;

		if (n < (ssize_t)sizeof(*h))
			return n;   /* an error, or a short read: libfuse ends the session */
		err = check(fs, buf, (size_t)n);
		if (!err)
			return n;
		if (err != ENOSYS)
			ovl_err("request %llu (opcode %u, %zd bytes) malformed: %s",
				(unsigned long long)h->unique, h->opcode, n,
				has_reply(h->opcode) ? "answered EINVAL" : "dropped");
		if (has_reply(h->opcode))
			answer(fd, h, err);
	}
}

static ssize_t wire_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

static ssize_t wire_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 17)
/* A descriptor per worker thread, as libfuse makes without custom io, from
 * the device the session was mounted through (/dev/fuse, or kernel/'s);
 * -1: libfuse goes on with the one descriptor. */
static int wire_clone_fd(int master)
{
	struct ovl_procpath p;
	char device[PATH_MAX];
	uint32_t id = (uint32_t)master;
	ssize_t len = readlink(ovl_procpath(&p, master), device, sizeof(device) - 1);
	int fd;

	if (len <= 0 || strncmp(device, "/dev/", 5) != 0)
		return -1;
	device[len] = '\0';
	fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && ioctl(fd, FUSE_DEV_IOC_CLONE, &id) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}
#endif

/* libfuse (3.18) starts the ring after init returns when we want it and the
 * kernel offers it (root sets /sys/module/fuse/parameters/enable_uring);
 * else requests keep coming over /dev/fuse.  libfuse makes each ring
 * buffer max_write bytes long, and the kernel refuses to register one
 * shorter than FUSE_MIN_READ_BUFFER or than max_write in whole pages: the
 * session would then end with EINVAL at unmount, so such a max_write
 * keeps /dev/fuse. */
void ovl_wire_init(struct ovl_fs *fs, struct fuse_conn_info *conn)
{
	fs->wire.max_write = conn->max_write;
#ifdef HAVE_FUSE_URING
	long page = sysconf(_SC_PAGESIZE);
	bool ring_fits = conn->max_write >= FUSE_MIN_READ_BUFFER && page > 0 &&
			 conn->max_write % (unsigned long)page == 0;

	if (fs->cfg->io_uring && ring_fits && (conn->capable & FUSE_CAP_OVER_IO_URING))
		conn->want |= FUSE_CAP_OVER_IO_URING;
	else
		conn->want &= ~FUSE_CAP_OVER_IO_URING;
	fs->wire.uring_asked = (conn->want & FUSE_CAP_OVER_IO_URING) != 0;
	ovl_debug("init: io_uring %s", fs->wire.uring_asked ? "offered by the kernel, taken"
			  : !fs->cfg->io_uring ? "off (io_uring=off)"
			  : !(conn->capable & FUSE_CAP_OVER_IO_URING) ? "not offered by the kernel (enable_uring)"
			  : "not taken: max_write too small for a ring buffer");
#endif
}

/* The kernel sends every request over the ring once it has it: the first
 * lookup or getattr that comes over it says the ring is in use. */
void ovl_wire_note_transport(struct ovl_fs *fs, fuse_req_t req)
{
#ifdef HAVE_FUSE_URING
	if (!fs->wire.uring_asked || atomic_load_explicit(&fs->wire.uring_seen, memory_order_relaxed) ||
	    !fuse_req_is_uring(req))
		return;
	if (!atomic_exchange(&fs->wire.uring_seen, true))
		ovl_debug("requests arrive over io_uring");
#else
	(void)fs;
	(void)req;
#endif
}

const char *ovl_wire_transport(struct ovl_fs *fs)
{
	return atomic_load(&fs->wire.uring_seen) ? "io_uring" : "/dev/fuse";
}

int ovl_wire_attach(struct ovl_fs *fs, struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.writev = wire_writev,
		.read = wire_read,
		.splice_send = wire_splice_send,
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 17)
		.clone_fd = wire_clone_fd,
#endif
	};
	int ret;

	(void)fs;
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 17)
	ret = fuse_session_custom_io(se, &io, sizeof(io), fuse_session_fd(se));
#else
	ret = fuse_session_custom_io(se, &io, fuse_session_fd(se));
#endif
	if (ret < 0)
		ovl_debug("wire: requests reach libfuse unchecked (custom io: %s)", strerror(-ret));
	return ret;
}
