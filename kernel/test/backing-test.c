/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backing-test: VM test of fuse_userns' FUSE_DEV_IOC_BACKING_OPEN for a FUSE
 * server that is root in its own user namespace only (see
 * kernel/patches/0001-*.patch).  A minimal FUSE server, no libfuse.
 *
 * Run as root in the guest by init.sh, which prepares (as root):
 *   /tmp/bt/ro          root:root 0644 "read-only secret\n"
 *   /tmp/bt/ap          1000:1000 0644 (made append-only here: no busybox chattr)
 *   /tmp/bt/u/rw        1000:1000 0644 "user file\n" (/tmp/bt/u owned by 1000)
 *   /tmp/bt/mnt{,2,3}   mount points; /tmp/bt/pin: empty dir owned by 1000
 *   /tmp/ov/m/f         a file on an overlayfs (stack depth 1)
 *   /dev/fuse 0666      as udev would
 * The parent stays root in the initial namespace; the child drops to
 * uid/gid 1000, unshares a user + mount namespace (uid 0 inside = 1000
 * outside) and runs the checks.  The parent serves two requests of the
 * child over a pipe: read the child's fdinfo from the initial namespace,
 * and set the module parameter max_backing_files (root only).
 * Prints "backing-test: ok: ..." / "backing-test: FAIL: ..." lines; exit
 * status 0 only if every check passed.  Timeouts (alarm) turn a hang into
 * a failure.
 *
 * Build: gcc -static -O2 -Wall -Wextra -Werror -o backing-test backing-test.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * From the 6.12 uapi <linux/fuse.h> (protocol 7.41).  The build host's
 * (Debian 12, linux-libc-dev 6.1: 7.38) lacks passthrough: FUSE_PASSTHROUGH,
 * max_stack_depth, backing_id, struct fuse_backing_map and the ioctls.
 * Only what this test uses, not the whole header.
 */
#define FUSE_KERNEL_VERSION	7
#define FUSE_INIT_EXT		(1U << 30)
#define FUSE_PASSTHROUGH	(1ULL << 37)
#define FOPEN_PASSTHROUGH	(1U << 7)

enum {
	FUSE_LOOKUP = 1, FUSE_FORGET = 2, FUSE_GETATTR = 3, FUSE_OPEN = 14,
	FUSE_READ = 15, FUSE_WRITE = 16, FUSE_RELEASE = 18, FUSE_FLUSH = 25,
	FUSE_INIT = 26, FUSE_INTERRUPT = 36, FUSE_BATCH_FORGET = 42,
};

struct fuse_attr {
	uint64_t ino, size, blocks, atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec;
	uint32_t mode, nlink, uid, gid, rdev, blksize, flags;
};
struct fuse_entry_out {
	uint64_t nodeid, generation, entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct fuse_attr attr;
};
struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec, dummy;
	struct fuse_attr attr;
};
struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};
struct fuse_init_in {
	uint32_t major, minor, max_readahead, flags, flags2, unused[11];
};
struct fuse_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth, unused[6];
};
struct fuse_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};
struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};
struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_MAGIC		229
#define FUSE_DEV_IOC_CLONE		_IOR(FUSE_DEV_IOC_MAGIC, 0, uint32_t)
#define FUSE_DEV_IOC_BACKING_OPEN	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE	_IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
/* fuse_userns only (patches/0002-backing-replace.patch) */
struct fuse_userns_backing_replace {
	uint64_t nodeid;
	int32_t backing_id;
	uint32_t flags;
};
#define FUSE_USERNS_BACKING_REPLACE_PROBE	(1 << 0)
#define FUSE_USERNS_IOC_BACKING_REPLACE	_IOW(FUSE_DEV_IOC_MAGIC, 0x80, \
					     struct fuse_userns_backing_replace)

/* <linux/fs.h> (it clashes with <sys/mount.h>): chattr +a / -a */
#define FS_IOC_GETFLAGS		_IOR('f', 1, long)
#define FS_IOC_SETFLAGS		_IOW('f', 2, long)
#define FS_APPEND_FL		0x00000020

/* --- test environment (made by init.sh) --------------------------------- */
#define DIR		"/tmp/bt"
#define RO_FILE		DIR "/ro"
#define RO_TEXT		"read-only secret\n"
#define AP_FILE		DIR "/ap"
#define RW_FILE		DIR "/u/rw"
#define ODD_FILE	DIR "/u/tab\tnl\nbs\\"		/* seq_path escapes \t \n \\ */
#define ODD_ESCAPED	DIR "/u/tab\\011nl\\012bs\\134"
#define MNT		DIR "/mnt"	/* fuse_userns, max_stack_depth 1 */
#define MNT2		DIR "/mnt2"	/* fuse_userns, max_stack_depth 2 */
#define MNT3		DIR "/mnt3"	/* built-in fuse */
#define PIN_DIR		DIR "/pin"
#define OVL_FILE	"/tmp/ov/m/f"
#define DEV_USERNS	"/dev/fuse_userns"
#define DEV_FUSE	"/dev/fuse"
#define PARAM		"/sys/module/fuse_userns/parameters/max_backing_files"
#define USER_ID		1000

static int fails;
static const char *who = "test";

static void report(int good, const char *fmt, va_list ap)
{
	printf("backing-test: %s: ", good ? "ok" : "FAIL");
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	if (!good)
		fails++;
}

static void __attribute__((format(printf, 1, 2))) ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(1, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(0, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) check(int good, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(good, fmt, ap);
	va_end(ap);
}

/* ret is a syscall's result: expect -1 with errno err */
static void expect_errno(long ret, int err, const char *what)
{
	int e = errno;

	if (ret == -1 && e == err)
		ok("%s: %s, as expected", what, strerrorname_np(err));
	else if (ret == -1)
		fail("%s: %s, expected %s", what, strerrorname_np(e), strerrorname_np(err));
	else
		fail("%s: succeeded (%ld), expected %s", what, ret, strerrorname_np(err));
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, len = 0;

	if (fd < 0)
		return -1;
	while ((size_t)len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return len;
}

/* Does text contain exactly this line? */
static int has_line(const char *text, const char *line)
{
	size_t l = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[l] == '\n')
			return 1;
	return 0;
}

static const char *fdinfo(pid_t pid, int fd)
{
	static char buf[64 * 1024];
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	if (read_file(path, buf, sizeof(buf)) < 0)
		snprintf(buf, sizeof(buf), "(cannot read %s: %s)\n", path, strerror(errno));
	return buf;
}

static void show(const char *title, const char *text)
{
	const char *p, *e;

	printf("backing-test: %s:\n", title);
	for (p = text; *p; p = e + 1) {
		e = strchrnul(p, '\n');
		printf("backing-test:   | %.*s\n", (int)(e - p), p);
		if (!*e)
			break;
	}
	fflush(stdout);
}

/* --- FUSE device ---------------------------------------------------------- */
static unsigned char req[256 * 1024 + 4096];

static int reply(int fd, uint64_t unique, int error, const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + (error ? 0 : len), .error = error, .unique = unique,
	};
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { (void *)data, error ? 0 : len } };

	if (writev(fd, iov, 2) != (ssize_t)oh.len) {
		fail("[%s] reply to request %llu: %s", who, (unsigned long long)unique,
		     strerror(errno));
		return -1;
	}
	return 0;
}

/* One request into req[], waiting at most ms; 0: none in time, -1: error */
static ssize_t read_req(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = read(fd, req, sizeof(req));
	if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
		return 0;
	if (n >= 0 && (size_t)n < sizeof(struct fuse_in_header)) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

/*
 * Open dev, mount it as type on mnt from the current (user) namespace and
 * answer FUSE_INIT, offering passthrough with the given max_stack_depth.
 * Nothing touches the mount point afterwards unless a test does, so no
 * other request needs an answer.  Returns the device fd or -1.
 */
static int fuse_start(const char *dev, const char *type, const char *mnt, unsigned depth)
{
	const struct fuse_in_header *ih = (void *)req;
	const struct fuse_init_in *in = (void *)(ih + 1);
	struct fuse_init_out out;
	char opts[128];
	ssize_t n;
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail("open %s: %s", dev, strerror(errno));
		return -1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	if (mount("fuse_userns-test", mnt, type, MS_NOSUID | MS_NODEV, opts)) {
		fail("mount -t %s %s (%s): %s", type, mnt, opts, strerror(errno));
		close(fd);
		return -1;
	}
	n = read_req(fd, 10000);
	if (n <= 0 || ih->opcode != FUSE_INIT) {
		fail("%s: no FUSE_INIT request (%zd, %s)", type, n, n < 0 ? strerror(errno) : "-");
		close(fd);
		umount2(mnt, MNT_DETACH);
		return -1;
	}
	if (!(in->flags & FUSE_INIT_EXT) || !(in->flags2 & (FUSE_PASSTHROUGH >> 32)))
		fail("%s: the kernel does not offer FUSE_PASSTHROUGH (flags %#x flags2 %#x)",
		     type, in->flags, in->flags2);
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = in->minor;
	out.max_readahead = in->max_readahead;
	out.flags = FUSE_INIT_EXT;
	out.flags2 = FUSE_PASSTHROUGH >> 32;
	out.max_background = 12;
	out.congestion_threshold = 9;
	out.max_write = 128 * 1024;
	out.time_gran = 1;
	out.max_stack_depth = depth;
	if (reply(fd, ih->unique, 0, &out, sizeof(out))) {
		close(fd);
		umount2(mnt, MNT_DETACH);
		return -1;
	}
	ok("mounted %s on %s from the user namespace, protocol 7.%u, passthrough, "
	   "max_stack_depth %u", type, mnt, in->minor, depth);
	return fd;
}

static int backing_open(int devfd, int fd, uint32_t flags)
{
	struct fuse_backing_map map = { .fd = fd, .flags = flags };

	return ioctl(devfd, FUSE_DEV_IOC_BACKING_OPEN, &map);
}

static int backing_close(int devfd, int id)
{
	uint32_t i = id;

	return ioctl(devfd, FUSE_DEV_IOC_BACKING_CLOSE, &i);
}

static char *header(unsigned count, unsigned limit)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "fuse_backing_files:\t%u\t%u", count, limit);
	return buf;
}

static char *entry(int id, unsigned fsuid, const char *path)
{
	static char buf[600];

	snprintf(buf, sizeof(buf), "fuse_backing:\t%d\t%u\t%s", id, fsuid, path);
	return buf;
}

/* --- parent (root of the initial namespace) <-> child ---------------------- */
static FILE *to_parent;
static int from_parent = -1;

/* Ask the parent to do something; it answers when done */
static void ask_parent(const char *fmt, ...)
{
	va_list ap;
	char c;

	va_start(ap, fmt);
	vfprintf(to_parent, fmt, ap);
	va_end(ap);
	fputc('\n', to_parent);
	fflush(to_parent);
	if (read(from_parent, &c, 1) != 1)
		fail("no answer from the parent");
}

static void parent_serve(FILE *cmds, int answer)
{
	char line[1024], path[512];
	int pid, fd, id;
	unsigned val;

	while (fgets(line, sizeof(line), cmds)) {
		who = "initial namespace";
		if (sscanf(line, "fdinfo %d %d %d %511[^\n]", &pid, &fd, &id, path) == 4) {
			const char *text = fdinfo(pid, fd);

			check(has_line(text, entry(id, USER_ID, path)),
			      "root of the initial namespace sees /proc/%d/fdinfo/%d list "
			      "backing file %d with fsuid %d (the server's uid there): %s",
			      pid, fd, id, USER_ID, path);
			if (!has_line(text, entry(id, USER_ID, path)))
				show("fdinfo seen from the initial namespace", text);
		} else if (sscanf(line, "param %u", &val) == 1) {
			char v[16];

			snprintf(v, sizeof(v), "%u\n", val);
			check(write_file(PARAM, v) == 0,
			      "root of the initial namespace sets max_backing_files = %u", val);
		} else {
			fail("parent: unknown request %s", line);
		}
		if (write(answer, "", 1) != 1)
			fail("parent: cannot answer the child");
	}
}

/* --- child: drop privileges, own user namespace --------------------------- */
static int enter_userns(void)
{
	char buf[64];

	if (setgroups(0, NULL) || setresgid(USER_ID, USER_ID, USER_ID) ||
	    setresuid(USER_ID, USER_ID, USER_ID)) {
		fail("dropping privileges to uid/gid %d: %s", USER_ID, strerror(errno));
		return -1;
	}
	/* setresuid() made us non-dumpable: /proc/self/{uid_map,...} would be root's */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS)) {
		fail("unshare(CLONE_NEWUSER | CLONE_NEWNS) as uid %d: %s", USER_ID,
		     strerror(errno));
		return -1;
	}
	snprintf(buf, sizeof(buf), "0 %d 1\n", USER_ID);
	if (write_file("/proc/self/uid_map", buf) || write_file("/proc/self/setgroups", "deny") ||
	    write_file("/proc/self/gid_map", buf)) {
		fail("writing uid_map/setgroups/gid_map: %s", strerror(errno));
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		fail("making / private in the new mount namespace: %s", strerror(errno));
	ok("uid/gid %d, root of its own user namespace (uid_map \"0 %d 1\"), "
	   "no capability in the initial one", USER_ID, USER_ID);
	return 0;
}

/* --- a. the built-in fuse refuses, fuse_userns allows ---------------------- */
static void test_builtin_refuses(void)
{
	int dev, fd;

	who = "built-in fuse";
	dev = fuse_start(DEV_FUSE, "fuse", MNT3, 1);
	if (dev < 0)
		return;
	fd = open(RW_FILE, O_RDONLY | O_CLOEXEC);
	expect_errno(backing_open(dev, fd, 0), EPERM,
		     "built-in /dev/fuse: BACKING_OPEN from the user namespace "
		     "(upstream wants CAP_SYS_ADMIN in the initial one)");
	close(fd);
	close(dev);
	if (umount2(MNT3, MNT_DETACH))
		fail("umount %s: %s", MNT3, strerror(errno));
}

/* --- the passthrough open checks: a server answers, a process opens ------- */
struct node {
	const char *name;
	const char *path;	/* for the attributes */
	int backing_id;
};
static struct node nodes[4];	/* nodeid = index + 2 */
static int nnodes;
/* called by serve() before it answers the first OPEN of node 3 */
static void (*open3_hook)(int dev);

static void fill_attr(struct fuse_attr *a, uint64_t nodeid)
{
	struct stat st;

	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->nlink = 1;
	a->blksize = 4096;
	if (nodeid == 1) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		/* No default_permissions: the FUSE side lets every open through */
		a->mode = S_IFREG | 0666;
		if (stat(nodes[nodeid - 2].path, &st) == 0)
			a->size = st.st_size;
	}
}

/* Answer requests until the opener has exited (and a little after) */
static int serve(int dev, pid_t opener)
{
	int status = -1, quiet = 0;

	for (;;) {
		const struct fuse_in_header *ih = (void *)req;
		union {
			struct fuse_entry_out e;
			struct fuse_attr_out a;
			struct fuse_open_out o;
		} out;
		uint64_t n;
		ssize_t len;

		if (opener > 0 && waitpid(opener, &status, WNOHANG) == opener)
			opener = 0;
		len = read_req(dev, 50);
		if (len < 0) {
			fail("[server] reading a request: %s", strerror(errno));
			break;
		}
		if (len == 0) {
			/* RELEASE comes asynchronously after the opener's close() */
			if (opener == 0 && ++quiet > 6)
				break;
			continue;
		}
		memset(&out, 0, sizeof(out));
		n = ih->nodeid;
		switch (ih->opcode) {
		case FUSE_LOOKUP: {
			const char *name = (const char *)(ih + 1);
			int i;

			for (i = 0; i < nnodes; i++)
				if (n == 1 && strcmp(name, nodes[i].name) == 0)
					break;
			if (i == nnodes) {
				reply(dev, ih->unique, -ENOENT, NULL, 0);
				break;
			}
			out.e.nodeid = i + 2;
			out.e.generation = 1;
			fill_attr(&out.e.attr, i + 2);
			reply(dev, ih->unique, 0, &out.e, sizeof(out.e));
			break;
		}
		case FUSE_GETATTR:
			if (n != 1 && (n < 2 || n >= (uint64_t)nnodes + 2)) {
				reply(dev, ih->unique, -ENOENT, NULL, 0);
				break;
			}
			fill_attr(&out.a.attr, n);
			reply(dev, ih->unique, 0, &out.a, sizeof(out.a));
			break;
		case FUSE_OPEN:
			if (n < 2 || n >= (uint64_t)nnodes + 2) {
				reply(dev, ih->unique, -ENOENT, NULL, 0);
				break;
			}
			if (n == 3 && open3_hook) {
				open3_hook(dev);
				open3_hook = NULL;
			}
			out.o.fh = n;
			out.o.open_flags = FOPEN_PASSTHROUGH;
			out.o.backing_id = nodes[n - 2].backing_id;
			reply(dev, ih->unique, 0, &out.o, sizeof(out.o));
			break;
		case FUSE_READ:
		case FUSE_WRITE:
			/* Passthrough I/O never gets here */
			reply(dev, ih->unique, -EIO, NULL, 0);
			break;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			reply(dev, ih->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;		/* no reply */
		default:
			reply(dev, ih->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
	if (opener > 0) {
		fail("[server] the opener did not finish");
		kill(opener, SIGKILL);
		waitpid(opener, &status, 0);
	}
	return status;
}

static void opener(int have_ap)
{
	char buf[256];
	ssize_t n;
	int fd;

	who = "opener";
	alarm(60);
	fd = open(MNT "/ro", O_RDONLY);
	if (fd < 0) {
		fail("open of a passthrough file O_RDONLY (backing: root's 0644 %s, "
		     "registered O_RDONLY): %s", RO_FILE, strerror(errno));
	} else {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		check(n > 0 && strcmp(buf, RO_TEXT) == 0,
		      "read through passthrough returns the backing file's content "
		      "(the server answers FUSE_READ with EIO)");
		close(fd);
	}
	/* fuse turns a failed passthrough open into EIO (iomode.c) */
	fd = open(MNT "/ro", O_RDWR);
	expect_errno(fd, EIO, "open O_RDWR of a passthrough file backed by root's 0644 "
		     RO_FILE " (the server may not write it)");
	if (fd >= 0) {
		n = pwrite(fd, "0WNED", 5, 0);
		fail("... and writing to it returned %zd: passthrough gave write access", n);
		close(fd);
	}
	fd = open(MNT "/ro", O_WRONLY);
	expect_errno(fd, EIO, "open O_WRONLY of the same file");
	if (fd >= 0)
		close(fd);

	fd = open(MNT "/rw", O_RDWR);
	if (fd < 0) {
		fail("open O_RDWR of a passthrough file backed by the server's own "
		     RW_FILE " (registered O_PATH): %s", strerror(errno));
	} else {
		check(pwrite(fd, "USER", 4, 0) == 4, "write through passthrough to the server's own file");
		close(fd);
		check(read_file(RW_FILE, buf, sizeof(buf)) > 0 && strncmp(buf, "USER file", 9) == 0,
		      "the write reached the backing file");
	}

	if (have_ap) {
		fd = open(MNT "/ap", O_WRONLY | O_APPEND);
		expect_errno(fd, EIO, "open O_WRONLY|O_APPEND of a passthrough file backed "
			     "by an append-only file");
		if (fd >= 0)
			close(fd);
		fd = open(MNT "/ap", O_RDONLY);
		check(fd >= 0, "open O_RDONLY of it works");
		if (fd >= 0)
			close(fd);
	}
	exit(fails ? 1 : 0);
}

static void test_passthrough_open(int dev)
{
	int fds[3] = { -1, -1, -1 }, i, status, have_ap;
	pid_t pid;

	who = "passthrough open";
	have_ap = access(AP_FILE, F_OK) == 0;
	nnodes = 0;
	fds[0] = open(RO_FILE, O_RDONLY | O_CLOEXEC);
	nodes[nnodes++] = (struct node){ "ro", RO_FILE, backing_open(dev, fds[0], 0) };
	fds[1] = open(RW_FILE, O_PATH | O_CLOEXEC);
	nodes[nnodes++] = (struct node){ "rw", RW_FILE, backing_open(dev, fds[1], 0) };
	if (have_ap) {
		fds[2] = open(AP_FILE, O_RDONLY | O_CLOEXEC);
		nodes[nnodes++] = (struct node){ "ap", AP_FILE, backing_open(dev, fds[2], 0) };
	}
	for (i = 0; i < nnodes; i++)
		if (nodes[i].backing_id <= 0)
			fail("BACKING_OPEN %s: %s", nodes[i].path, strerror(errno));
	ok("registered %s (O_RDONLY), %s (O_PATH)%s", RO_FILE, RW_FILE,
	   have_ap ? ", " AP_FILE " (O_RDONLY)" : "");

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		opener(have_ap);
	status = serve(dev, pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the opener had failures (status %#x)", status);
	for (i = 0; i < nnodes; i++) {
		if (nodes[i].backing_id > 0 && backing_close(dev, nodes[i].backing_id))
			fail("BACKING_CLOSE %d: %s", nodes[i].backing_id, strerror(errno));
		if (fds[i] >= 0)
			close(fds[i]);
	}
	who = "test";
}

/* --- f. replacing a read-only backing (0002-backing-replace.patch) -------- */
static int replace(int dev, uint64_t nodeid, int id, uint32_t flags)
{
	struct fuse_userns_backing_replace arg = { nodeid, id, flags };

	return ioctl(dev, FUSE_USERNS_IOC_BACKING_REPLACE, &arg);
}

static int w_id;	/* RW_FILE registered O_RDWR */

/* In the server, while the opener holds node 2 ("ro") open with the
 * read-only backing and opens node 3 ("rw"). */
static void replace_checks(int dev)
{
	int fd;

	who = "replace (server)";
	check(replace(dev, 0, 0, FUSE_USERNS_BACKING_REPLACE_PROBE) == 0,
	      "BACKING_REPLACE probe answers 0");
	expect_errno(replace(dev, 2, nodes[1].backing_id, 2), EINVAL, "BACKING_REPLACE with unknown flags");
	expect_errno(replace(dev, 2, 0, 0), EINVAL, "BACKING_REPLACE with backing id 0");
	expect_errno(replace(dev, 2, 9999, 0), ENOENT, "BACKING_REPLACE with an unknown backing id");
	expect_errno(replace(dev, 99, nodes[1].backing_id, 0), ENOENT,
		     "BACKING_REPLACE of an unknown node id");
	expect_errno(replace(dev, 1, nodes[1].backing_id, 0), EINVAL,
		     "BACKING_REPLACE of the root directory");
	expect_errno(replace(dev, 3, nodes[0].backing_id, 0), ENODATA,
		     "BACKING_REPLACE of an inode with no backing (no passthrough file open)");
	check(replace(dev, 2, nodes[1].backing_id, 0) == 0,
	      "BACKING_REPLACE of the read-only backing of an open inode by %s's", RW_FILE);
	fd = open(RW_FILE, O_RDWR | O_CLOEXEC);
	w_id = backing_open(dev, fd, 0);
	close(fd);
	check(w_id > 0 && replace(dev, 2, w_id, 0) == 0,
	      "... and again by %s registered O_RDWR (the O_PATH one is not writable)", RW_FILE);
	expect_errno(replace(dev, 2, nodes[0].backing_id, 0), EPERM,
		     "BACKING_REPLACE of a backing open for writing");
	nodes[0].backing_id = w_id;	/* what later opens of node 2 must name */
	who = "replace";
}

static void replace_opener(void)
{
	char buf[256], buf2[256];
	ssize_t n;
	int held, fd;

	who = "replace (opener)";
	alarm(60);
	held = open(MNT "/ro", O_RDONLY);
	if (held < 0) {
		fail("open of /ro: %s", strerror(errno));
		exit(1);
	}
	fd = open(MNT "/rw", O_RDONLY);		/* the server replaces node 2's backing */
	check(fd >= 0, "open of /rw, whose OPEN runs the server's BACKING_REPLACE checks");
	if (fd >= 0)
		close(fd);
	fd = open(MNT "/ro", O_RDONLY);
	check(fd >= 0, "a new open of /ro with the new backing id: no EBUSY (%s)",
	      fd >= 0 ? "ok" : strerror(errno));
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		check(read_file(RW_FILE, buf2, sizeof(buf2)) > 0 && strcmp(buf, buf2) == 0,
		      "it reads %s, the new backing", RW_FILE);
		close(fd);
	}
	n = pread(held, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	check(n > 0 && strcmp(buf, RO_TEXT) == 0,
	      "the open made before the replacement still reads %s", RO_FILE);
	close(held);
	exit(fails ? 1 : 0);
}

static void test_replace(int dev)
{
	int fds[2], i, status;
	pid_t pid;

	who = "replace";
	nnodes = 0;
	fds[0] = open(RO_FILE, O_RDONLY | O_CLOEXEC);
	nodes[nnodes++] = (struct node){ "ro", RO_FILE, backing_open(dev, fds[0], 0) };
	fds[1] = open(RW_FILE, O_PATH | O_CLOEXEC);
	nodes[nnodes++] = (struct node){ "rw", RW_FILE, backing_open(dev, fds[1], 0) };
	int ro_id = nodes[0].backing_id;
	open3_hook = replace_checks;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		replace_opener();
	status = serve(dev, pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the opener had failures (status %#x)", status);
	if (open3_hook)
		fail("the server never saw the OPEN of /rw");
	open3_hook = NULL;
	nodes[0].backing_id = ro_id;
	for (i = 0; i < nnodes; i++) {
		if (nodes[i].backing_id > 0 && backing_close(dev, nodes[i].backing_id))
			fail("BACKING_CLOSE %d: %s", nodes[i].backing_id, strerror(errno));
		close(fds[i]);
	}
	if (w_id > 0 && backing_close(dev, w_id))
		fail("BACKING_CLOSE %d: %s", w_id, strerror(errno));
	w_id = 0;
	who = "test";
}

/* --- c. the cap ---------------------------------------------------------- */
/* Register fd until it fails; returns how many succeeded (ids in ids[]) */
static int fill(int dev, int fd, int *ids, int max, int *err)
{
	int n = 0, id;

	*err = 0;
	while (n < max) {
		id = backing_open(dev, fd, 0);
		if (id < 0) {
			*err = errno;
			break;
		}
		ids[n++] = id;
	}
	return n;
}

static void close_all(int dev, int *ids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (backing_close(dev, ids[i]))
			fail("BACKING_CLOSE %d: %s", ids[i], strerror(errno));
}

static void test_cap(int dev, unsigned param)
{
	struct rlimit old, rl;
	int ids[64], n, err, fd, id;
	const unsigned soft = 8;

	fd = open(RW_FILE, O_RDONLY | O_CLOEXEC);
	getrlimit(RLIMIT_NOFILE, &old);
	rl = old;
	rl.rlim_cur = soft;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		fail("setrlimit(RLIMIT_NOFILE, %u): %s", soft, strerror(errno));

	/* The same fd over and over: no new fd needed under the low limit */
	n = fill(dev, fd, ids, 64, &err);
	check(n == (int)soft && err == EMFILE,
	      "RLIMIT_NOFILE soft %u (max_backing_files %u): %d BACKING_OPENs succeed, "
	      "then %s (expected %u, then EMFILE)", soft, param, n,
	      err ? strerrorname_np(err) : "none", soft);
	if (n > 0) {
		if (backing_close(dev, ids[n - 1]))
			fail("BACKING_CLOSE %d: %s", ids[n - 1], strerror(errno));
		id = backing_open(dev, fd, 0);
		check(id > 0, "after one BACKING_CLOSE, one more BACKING_OPEN succeeds (id %d)", id);
		ids[n - 1] = id > 0 ? id : ids[n - 1];
		expect_errno(backing_open(dev, fd, 0), EMFILE, "and the next one");
	}
	/* (reading fdinfo needs one more fd than the low limit allows) */
	setrlimit(RLIMIT_NOFILE, &old);
	check(has_line(fdinfo(getpid(), dev), header(n, param)),
	      "fdinfo: \"%s\"", header(n, param));
	close_all(dev, ids, n);

	/* The module parameter: only root of the initial namespace sets it */
	expect_errno(write_file(PARAM, "100000\n"), EACCES,
		     "writing " PARAM " from the user namespace");
	ask_parent("param 3");
	n = fill(dev, fd, ids, 64, &err);
	check(n == 3 && err == EMFILE,
	      "max_backing_files 3 (RLIMIT_NOFILE soft %llu): %d BACKING_OPENs succeed, then %s",
	      (unsigned long long)old.rlim_cur, n, err ? strerrorname_np(err) : "none");
	check(has_line(fdinfo(getpid(), dev), header(n, 3)), "fdinfo: \"%s\"", header(n, 3));
	close_all(dev, ids, n);
	ask_parent("param %u", param);
	close(fd);
}

/* --- d. refused fds -------------------------------------------------------- */
static void test_refused(int dev)
{
	int fd, p[2];

	fd = open(DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	expect_errno(backing_open(dev, fd, 0), EISDIR, "BACKING_OPEN of a directory");
	close(fd);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	expect_errno(backing_open(dev, fd, 0), EINVAL, "BACKING_OPEN of /dev/null (char device)");
	close(fd);
	if (pipe2(p, O_CLOEXEC) == 0) {
		expect_errno(backing_open(dev, p[0], 0), EINVAL, "BACKING_OPEN of a pipe");
		close(p[0]);
		close(p[1]);
	}
	expect_errno(backing_open(dev, 9999, 0), EBADF, "BACKING_OPEN of a closed fd");
	fd = open(RW_FILE, O_RDONLY | O_CLOEXEC);
	expect_errno(backing_open(dev, fd, 1), EINVAL, "BACKING_OPEN with flags != 0");
	close(fd);
	fd = open(OVL_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", OVL_FILE, strerror(errno));
	expect_errno(backing_open(dev, fd, 0), ELOOP,
		     "BACKING_OPEN of a file on overlayfs with max_stack_depth 1");
	close(fd);
	expect_errno(backing_close(dev, 0), EINVAL, "BACKING_CLOSE of id 0");
	expect_errno(backing_close(dev, 12345), ENOENT, "BACKING_CLOSE of an unknown id");
}

static void test_stack_depth_2(void)
{
	int dev, fd, id;

	who = "max_stack_depth 2";
	dev = fuse_start(DEV_USERNS, "fuse_userns", MNT2, 2);
	if (dev < 0)
		return;
	fd = open(OVL_FILE, O_RDONLY | O_CLOEXEC);
	id = backing_open(dev, fd, 0);
	check(id > 0, "BACKING_OPEN of the overlayfs file with max_stack_depth 2: %d (%s)",
	      id, id > 0 ? "accepted" : strerror(errno));
	close(fd);
	close(dev);	/* drops the backing file, aborts the connection */
	if (umount2(MNT2, MNT_DETACH))
		fail("umount %s: %s", MNT2, strerror(errno));
	who = "test";
}

static int child(unsigned param)
{
	const char *text;
	int dev, clone, unbound, fd, id, odd_id, err;

	if (enter_userns())
		return 1;
	test_builtin_refuses();

	/* a. BACKING_OPEN on fuse_userns with CAP_SYS_ADMIN in the user namespace only */
	dev = fuse_start(DEV_USERNS, "fuse_userns", MNT, 1);
	if (dev < 0)
		return 1;
	fd = open(RW_FILE, O_RDONLY | O_CLOEXEC);
	id = backing_open(dev, fd, 0);
	check(id > 0, "fuse_userns: BACKING_OPEN of %s from the user namespace: id %d%s%s",
	      RW_FILE, id, id > 0 ? "" : ": ", id > 0 ? "" : strerror(errno));
	close(fd);	/* the registration keeps its own reference */

	/* b. visible in fdinfo: own namespace (fsuid 0), initial one (1000), clones */
	text = fdinfo(getpid(), dev);
	check(has_line(text, header(1, param)) && has_line(text, entry(id, 0, RW_FILE)),
	      "/proc/self/fdinfo/%d: \"%s\" and \"%s\"", dev, header(1, param),
	      entry(id, 0, RW_FILE));
	show("fdinfo of the device fd (from the user namespace)", text);
	ask_parent("fdinfo %d %d %d %s", (int)getpid(), dev, id, RW_FILE);

	clone = open(DEV_USERNS, O_RDWR | O_CLOEXEC);
	if (clone < 0 || ioctl(clone, FUSE_DEV_IOC_CLONE, &(uint32_t){ dev })) {
		fail("FUSE_DEV_IOC_CLONE: %s", strerror(errno));
	} else {
		text = fdinfo(getpid(), clone);
		check(has_line(text, header(1, param)) && has_line(text, entry(id, 0, RW_FILE)),
		      "the fdinfo of a clone of the device fd lists it too");
	}
	unbound = open(DEV_USERNS, O_RDWR | O_CLOEXEC);
	text = fdinfo(getpid(), unbound);
	check(unbound >= 0 && !strstr(text, "fuse_backing"),
	      "the fdinfo of an unbound /dev/fuse_userns fd shows nothing of it");
	close(unbound);

	fd = open(ODD_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	odd_id = backing_open(dev, fd, 0);
	close(fd);
	text = fdinfo(getpid(), dev);
	check(odd_id > 0 && has_line(text, header(2, param)) &&
	      has_line(text, entry(odd_id, 0, ODD_ESCAPED)),
	      "a path with tab, newline and backslash is escaped: \"%s\"",
	      entry(odd_id, 0, ODD_ESCAPED));
	if (odd_id > 0 && backing_close(dev, odd_id))
		fail("BACKING_CLOSE %d: %s", odd_id, strerror(errno));
	if (id > 0 && backing_close(dev, id))
		fail("BACKING_CLOSE %d: %s", id, strerror(errno));
	check(has_line(fdinfo(getpid(), dev), header(0, param)),
	      "after BACKING_CLOSE: \"%s\"", header(0, param));

	/* d. refused: directory, non-regular, stacked beyond max_stack_depth */
	test_refused(dev);
	test_stack_depth_2();

	/* credentials / permissions of passthrough opens */
	test_passthrough_open(dev);

	/* f. an inode's read-only backing replaced */
	test_replace(dev);

	/* c. the cap */
	test_cap(dev, param);

	/* e. all closed: count 0 */
	check(has_line(fdinfo(getpid(), dev), header(0, param)),
	      "all closed: \"%s\"", header(0, param));

	/* Registered files pin their mount, until the last device fd is closed */
	if (mount("pin", PIN_DIR, "tmpfs", 0, "size=1m")) {
		fail("mount tmpfs on %s: %s", PIN_DIR, strerror(errno));
	} else {
		fd = open(PIN_DIR "/f", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		id = backing_open(dev, fd, 0);
		close(fd);
		check(id > 0, "registered %s/f (id %d), its fd closed", PIN_DIR, id);
		expect_errno(umount2(PIN_DIR, 0), EBUSY,
			     "umount of its tmpfs while registered");
		close(clone);
		close(dev);
		errno = 0;
		err = umount2(PIN_DIR, 0);
		check(err == 0,
		      "after closing the last device fd (no BACKING_CLOSE, fuse still mounted) "
		      "the tmpfs unmounts: the backing files were released%s%s",
		      err ? ": " : "", err ? strerror(errno) : "");
		dev = clone = -1;
	}
	if (dev >= 0)
		close(dev);
	if (clone >= 0)
		close(clone);
	check(umount2(MNT, MNT_DETACH) == 0, "umount2(%s, MNT_DETACH)", MNT);
	return fails ? 1 : 0;
}

/* chattr +a / -a AP_FILE (as root); without it, that check is skipped */
static void set_append_only(int on)
{
	int fd = open(AP_FILE, O_RDONLY | O_CLOEXEC), flags = 0;

	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_APPEND_FL : flags & ~FS_APPEND_FL;
		if (ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0) {
			close(fd);
			return;
		}
	}
	printf("backing-test: (cannot make %s append-only: %s; not tested)\n", AP_FILE,
	       strerror(errno));
	close(fd);
	if (on)
		unlink(AP_FILE);
}

static unsigned read_param(void)
{
	char buf[32];

	if (read_file(PARAM, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoul(buf, NULL, 10);
}

int main(void)
{
	int cmd[2], ans[2], status;
	unsigned param;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getuid() != 0) {
		fail("must be started as root (it drops privileges itself)");
		return 1;
	}
	param = read_param();
	check(param == 1024, "max_backing_files is %u (default 1024)", param);
	set_append_only(1);
	if (pipe2(cmd, O_CLOEXEC) || pipe2(ans, O_CLOEXEC)) {
		fail("pipe: %s", strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		alarm(240);
		close(cmd[0]);
		close(ans[1]);
		to_parent = fdopen(cmd[1], "w");
		from_parent = ans[0];
		exit(child(param));
	}
	alarm(250);
	close(cmd[1]);
	close(ans[0]);
	parent_serve(fdopen(cmd[0], "r"), ans[1]);
	if (waitpid(pid, &status, 0) != pid)
		status = -1;
	who = "test";
	if (WIFSIGNALED(status))
		fail("the test was killed by signal %d%s", WTERMSIG(status),
		     WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	if (read_param() != param)
		fail("max_backing_files not restored");
	set_append_only(0);
	if (status != 0 || fails) {
		printf("backing-test: %s\n", "FAILED");
		return 1;
	}
	printf("backing-test: all passed\n");
	return 0;
}
