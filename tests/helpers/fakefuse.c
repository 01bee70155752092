/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fakefuse: an LD_PRELOAD shim that lets a test play the kernel's part of
 * FUSE (tests/helpers/fusewire.c, tests/requests.bats).
 *
 * The daemon runs with -o fuse_device=$FAKEFUSE_DEV: it opens that path,
 * calls mount(2) with "fd=N,..." and hands libfuse "/dev/fd/N" (mount.c).
 * Here:
 *  - open*() of $FAKEFUSE_DEV returns a dup of the inherited descriptor
 *    $FAKEFUSE_FD, the daemon's end of an AF_UNIX SOCK_SEQPACKET socketpair
 *    whose other end the test holds (one read = one request, one write =
 *    one reply, as on /dev/fuse);
 *  - mount(2), umount(2) and umount2(2) succeed without doing anything;
 *  - open*() of /dev/fuse fails with ENODEV: libfuse's clone_fd (one device
 *    per worker through FUSE_DEV_IOC_CLONE) falls back to the shared
 *    descriptor, and nothing reaches the real FUSE device;
 *  - read(2) of the socket returning 0 (the test closed its end) becomes
 *    -1/ENODEV, what /dev/fuse returns once the connection is gone, so that
 *    libfuse ends its loop as after an unmount;
 *  - splice(2) from or to the socket is done with recv/send: a real splice
 *    from a pipe into a SEQPACKET socket cuts a large reply into several
 *    messages (one per 64 KiB), and /dev/fuse takes a reply in one piece.
 *    libfuse splices requests in when the daemon wants FUSE_CAP_SPLICE_READ
 *    and its pipe can hold max_write (see fusewire's "splice" mode) and
 *    splices read replies of two pages or more out.
 *  - with FAKEFUSE_BACKING=1, FUSE_DEV_IOC_BACKING_OPEN on the socket returns
 *    made-up backing ids (1, 2, ...) and FUSE_DEV_IOC_BACKING_CLOSE 0, so
 *    that the daemon's passthrough paths run (fusewire's "pt" mode); without
 *    it they fail with ENOTTY, as any ioctl on a socket, and the daemon falls
 *    back to I/O through itself.
 *
 * Built without sanitizers: with an ASan daemon the test sets
 * ASAN_OPTIONS=verify_asan_link_order=0 (this library comes before libasan).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int fake_fd = -1;          /* $FAKEFUSE_FD */
static const char *fake_dev;      /* $FAKEFUSE_DEV */
static dev_t fake_st_dev;
static ino_t fake_st_ino;

static void fakefuse_init(void)
{
	static int done;
	const char *s;
	struct stat st;

	if (done)
		return;
	done = 1;
	fake_dev = getenv("FAKEFUSE_DEV");
	s = getenv("FAKEFUSE_FD");
	if (s && fstat(atoi(s), &st) == 0 && S_ISSOCK(st.st_mode)) {
		fake_fd = atoi(s);
		fake_st_dev = st.st_dev;
		fake_st_ino = st.st_ino;
	}
}

__attribute__((constructor)) static void fakefuse_ctor(void)
{
	fakefuse_init();
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "fakefuse: no next %s\n", name);
		abort();
	}
	return f;
}

/* real_NAME: the next definition of NAME (libasan's or libc's) */
#define NEXT(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)next(#name)

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);

/* Is fd the daemon's end of the test's socketpair (any dup of it)? */
static int is_fake(int fd)
{
	struct stat st;

	fakefuse_init();
	if (fake_fd < 0 || fd < 0)
		return 0;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == fake_st_ino &&
	       st.st_dev == fake_st_dev;
}

/* -2: not ours, open it; else the result for this path */
static int fake_open(const char *path, int flags)
{
	fakefuse_init();
	if (!path || fake_fd < 0)
		return -2;
	if (fake_dev && !strcmp(path, fake_dev))
		return fcntl(fake_fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (!strcmp(path, "/dev/fuse")) {
		errno = ENODEV;
		return -1;
	}
	return -2;
}

/* openat: only absolute paths can name the device */
static int fake_open_abs(const char *path, int flags)
{
	return path && path[0] == '/' ? fake_open(path, flags) : -2;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_WRAPPER(name)                                            \
	int name(const char *path, int flags, ...)                    \
	{                                                             \
		va_list ap;                                           \
		mode_t mode;                                          \
		int r = fake_open(path, flags);                       \
		NEXT(name);          \
		if (r != -2)                                          \
			return r;                                     \
		va_start(ap, flags);                                  \
		mode = mode_arg(flags, ap);                           \
		va_end(ap);                                           \
		return real_##name(path, flags, mode);                \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                          \
	int name(int dirfd, const char *path, int flags, ...)         \
	{                                                             \
		va_list ap;                                           \
		mode_t mode;                                          \
		int r = fake_open_abs(path, flags);                  \
		NEXT(name);     \
		if (r != -2)                                          \
			return r;                                     \
		va_start(ap, flags);                                  \
		mode = mode_arg(flags, ap);                           \
		va_end(ap);                                           \
		return real_##name(dirfd, path, flags, mode);         \
	}
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* _FORTIFY_SOURCE forms */
#define OPEN2_WRAPPER(name)                                           \
	int name(const char *path, int flags)                         \
	{                                                             \
		int r = fake_open(path, flags);                       \
		NEXT(name);               \
		return r != -2 ? r : real_##name(path, flags);        \
	}
OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)

int mount(const char *source, const char *target, const char *type, unsigned long flags,
	  const void *data)
{
	(void)source; (void)target; (void)type; (void)flags; (void)data;
	return 0;
}

int umount(const char *target)
{
	(void)target;
	return 0;
}

int umount2(const char *target, int flags)
{
	(void)target; (void)flags;
	return 0;
}

ssize_t read(int fd, void *buf, size_t count)
{
	NEXT(read);
	ssize_t r = real_read(fd, buf, count);

	if (r == 0 && count > 0 && is_fake(fd)) {
		errno = ENODEV;
		return -1;
	}
	return r;
}

/* Writes all of buf to a (non-blocking) pipe that has room for it. */
static int write_all(int fd, const char *buf, size_t len)
{
	NEXT(write);
	while (len > 0) {
		ssize_t w = real_write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads len bytes out of a pipe (the reply libfuse put there) into buf and
 * sends them as one message. */
static ssize_t pipe_to_socket(int fd_in, int fd_out, char *buf, size_t len)
{
	NEXT(read);
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = real_read(fd_in, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == 0) {
		errno = EAGAIN;
		return -1;
	}
	do
		r = send(fd_out, buf, got, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
	       unsigned int flags)
{
	NEXT(splice);
	char *buf;
	ssize_t r;
	int saved;

	if (is_fake(fd_in)) {
		/* one request into the pipe */
		buf = malloc(len ? len : 1);
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		/* libfuse cancels its workers while they wait here */
		pthread_cleanup_push(free, buf);
		do
			r = recv(fd_in, buf, len, 0);
		while (r < 0 && errno == EINTR);
		pthread_cleanup_pop(0);
		if (r == 0 && len > 0) {
			free(buf);
			errno = ENODEV;
			return -1;
		}
		if (r > 0 && write_all(fd_out, buf, (size_t)r) != 0) {
			saved = errno;
			free(buf);
			fprintf(stderr, "fakefuse: splice: a request of %zd bytes does not fit "
				"the pipe: %s\n", r, strerror(saved));
			errno = EIO;
			return -1;
		}
		saved = errno;
		free(buf);
		errno = saved;
		return r;
	}
	if (is_fake(fd_out)) {
		/* one reply out of the pipe, sent in one piece */
		buf = malloc(len ? len : 1);
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		pthread_cleanup_push(free, buf);
		r = pipe_to_socket(fd_in, fd_out, buf, len);
		pthread_cleanup_pop(0);
		saved = errno;
		free(buf);
		errno = saved;
		return r;
	}
	return real_splice(fd_in, off_in, fd_out, off_out, len, flags);
}

/* FUSE_DEV_IOC_BACKING_OPEN / _CLOSE: _IOW(229, 1 or 2, ...) */
int ioctl(int fd, unsigned long request, ...)
{
	static int backing_ids;
	va_list ap;
	void *arg;
	NEXT(ioctl);

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (_IOC_TYPE(request) == 229 && (_IOC_NR(request) == 1 || _IOC_NR(request) == 2) &&
	    getenv("FAKEFUSE_BACKING") && is_fake(fd))
		return _IOC_NR(request) == 1 ? __atomic_add_fetch(&backing_ids, 1, __ATOMIC_SEQ_CST) : 0;
	return real_ioctl(fd, request, arg);
}
