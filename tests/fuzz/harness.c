/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The shared part of the fuzz harnesses: see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static char *tmpdir;
static bool verbose;
static bool trace;   /* FUZZ_TRACE: one line per request on stderr */

void fz_fail(const char *fmt, ...)
{
	va_list ap;

	/* fd 2 is the real stderr still: only the FILE pointers moved */
	dprintf(2, "fuzz harness: ");
	va_start(ap, fmt);
	vdprintf(2, fmt, ap);
	va_end(ap);
	dprintf(2, "\n");
	abort();
}

/* libfuse's messages: one of them is a daemon bug (a reply with an errno
 * of the wrong sign or out of range, which libfuse turns into ERANGE). */
static void fuse_log_func(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (strstr(line, "bad error value"))
		fz_fail("libfuse: %s", line);
	if (verbose || level <= FUSE_LOG_CRIT)
		dprintf(2, "%s", line);
}

/* The daemon and libfuse print with fprintf(stderr) and printf: pointing
 * those streams at /dev/null keeps a run quiet, while fd 2 stays where
 * libFuzzer (which keeps its own copy of the old stderr pointer) and the
 * sanitizers write. */
static void quiet(void)
{
	FILE *null;

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	trace = getenv("FUZZ_TRACE") != NULL;
	fuse_set_log_func(fuse_log_func);
	if (verbose)
		return;
	null = fopen("/dev/null", "we");
	if (!null)
		fz_fail("cannot open /dev/null: %s", strerror(errno));
	stdout = null;
	stderr = null;
}

/* ------------------------------------------------------------------ */
/* Removing trees                                                      */

/* Immutable and append-only stop a removal, even root's. */
static void clear_flags_fd(int fd)
{
	int flags = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
	    (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))) {
		flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
		ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
}

static void clear_flags_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0) {
		clear_flags_fd(fd);
		close(fd);
	}
}

static int rm_at(int dirfd, const char *name, int depth);

/* Removes everything in the directory fd (an entry removed while the
 * listing is read may make it skip another: list again until empty). */
static int empty_fd(int fd, int depth)
{
	for (int round = 0; round < 8; round++) {
		int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0), found = 0, ret = 0;
		struct dirent *de;
		DIR *d;

		if (dfd < 0)
			return -errno;
		d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			return -errno;
		}
		rewinddir(d);
		clear_flags_fd(fd);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			found++;
			if ((ret = rm_at(fd, de->d_name, depth + 1)) < 0)
				break;
		}
		closedir(d);
		if (ret < 0)
			return ret;
		if (!found)
			return 0;
	}
	return -ENOTEMPTY;
}

static int rm_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	int flags = 0;

	if (depth > 1000)
		return -ELOOP;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int ret;

		if (fd < 0)
			return -errno;
		ret = empty_fd(fd, depth);
		close(fd);
		if (ret < 0)
			return ret;
		flags = AT_REMOVEDIR;
	}
	if (unlinkat(dirfd, name, flags) == 0)
		return 0;
	if (errno != EPERM)
		return errno == ENOENT ? 0 : -errno;
	clear_flags_at(dirfd, name);
	return unlinkat(dirfd, name, flags) == 0 || errno == ENOENT ? 0 : -errno;
}

void fz_reset_dir(const char *path)
{
	int ret = rm_at(AT_FDCWD, path, 0);

	if (ret < 0)
		fz_fail("cannot remove %s: %s", path, strerror(-ret));
	if (mkdir(path, 0755) < 0)
		fz_fail("cannot create %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* The temporary directory                                             */

static bool writable_dir(const char *p)
{
	struct stat st;

	return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode) && access(p, W_OK | X_OK) == 0;
}

static const char *base_dir(void)
{
	const char *b = getenv("FUZZ_TMPDIR");
	struct statfs sf;

	if (writable_dir(b))
		return b;
	if (writable_dir("/dev/shm") && statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		return "/dev/shm";
	b = getenv("TMPDIR");
	return writable_dir(b) ? b : "/tmp";
}

/* Directories of harness processes that are gone (crashed: no atexit) */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid, n = 0;

		if (sscanf(de->d_name, "ovl-fuzz.%d.%n", &pid, &n) != 1 || n == 0 || pid <= 0 ||
		    pid == getpid())
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			rm_at(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static bool bounded;

static void remove_tmpdir(void)
{
	if (!tmpdir)
		return;
	/* the tmpfs first: the directory under it is the host's */
	if (bounded)
		umount2(tmpdir, MNT_DETACH);
	rm_at(AT_FDCWD, tmpdir, 0);
}

/*
 * Where root may: the temporary directory gets a tmpfs of its own, 256 MiB
 * at most, in a mount namespace of this process alone.  What a request
 * writes (fallocate of a terabyte, copy_file_range of a huge sparse file)
 * then ends with ENOSPC instead of eating the machine's memory or disk,
 * and the mount goes away with the process, whatever way it ends.  The
 * namespace's mounts are made private first, so that nothing propagates
 * back to the host's.
 */
/*
 * The new namespace starts with a copy of every mount, FUSE mounts of
 * other daemons included, and where the host's mounts are private their
 * unmount never reaches the copy: each would stay alive here, its daemon
 * never told it is unmounted, for as long as this process runs.  So the
 * copies go at once.
 */
static void drop_fuse_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, mnt[4096];
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - ");
		size_t j = 0;
		char *p;

		if (!sep || strncmp(sep + 3, "fuse", 4) != 0)
			continue;
		/* field 5 is the mountpoint, with \ooo escapes */
		p = line;
		for (int field = 0; field < 4 && p; field++)
			p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
		for (; p && *p && *p != ' ' && j < sizeof(mnt) - 1; p++) {
			if (*p == '\\' && p[1] && p[2] && p[3]) {
				mnt[j++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				mnt[j++] = *p;
			}
		}
		mnt[j] = 0;
		if (j)
			umount2(mnt, MNT_DETACH);
	}
	free(line);
	fclose(f);
}

static bool private_tmpfs(const char *dir)
{
	if (getenv("FUZZ_NO_TMPFS"))
		return false;
	if (unshare(CLONE_NEWNS) < 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fz_fail("cannot make the new mount namespace private: %s", strerror(errno));
	drop_fuse_mounts();
	if (mount("ovl-fuzz", dir, "tmpfs", MS_NOSUID, "size=256m,nr_inodes=65536,mode=0700") < 0)
		return false;
	return true;
}

bool fz_bounded(void)
{
	return bounded;
}

const char *fz_tmpdir(void)
{
	return tmpdir;
}

char *fz_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		fz_fail("out of memory");
	return p;
}

static void make_tmpdir(void)
{
	const char *base = base_dir();
	char *t;

	remove_stale(base);
	if (asprintf(&t, "%s/ovl-fuzz.%d.XXXXXX", base, (int)getpid()) < 0)
		fz_fail("out of memory");
	if (!mkdtemp(t))
		fz_fail("cannot make a directory in %s: %s", base, strerror(errno));
	tmpdir = t;
	atexit(remove_tmpdir);
	bounded = private_tmpfs(t);
}

void fz_check_staging(const char *workdir)
{
	char *path = NULL;
	struct dirent *de;
	DIR *d;

	if (asprintf(&path, "%s/work", workdir) < 0)
		fz_fail("out of memory");
	d = opendir(path);
	free(path);
	if (!d)
		return;   /* no upper layer: no staging directory */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fz_fail("'%s' left in workdir/work", de->d_name);
	closedir(d);
}

int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		fz_fail("cannot list /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* the listing's own */
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

void fz_mkfile(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		fz_fail("fixture: cannot write %s: %s", name, strerror(errno));
	if (fchmod(fd, mode) < 0)   /* setuid bits, whatever the umask */
		fz_fail("fixture: chmod %s: %s", name, strerror(errno));
	close(fd);
}

int fz_mkdir(int dirfd, const char *name, mode_t mode)
{
	int fd;

	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		fz_fail("fixture: mkdir %s: %s", name, strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fz_fail("fixture: open %s: %s", name, strerror(errno));
	return fd;
}

void fz_symlink(int dirfd, const char *name, const char *target)
{
	if (symlinkat(target, dirfd, name) < 0)
		fz_fail("fixture: symlink %s: %s", name, strerror(errno));
}

void fz_mknod(int dirfd, const char *name, mode_t mode, dev_t dev)
{
	if (mknodat(dirfd, name, mode, dev) < 0)
		fz_fail("fixture: mknod %s: %s", name, strerror(errno));
}

bool fz_xattr(int dirfd, const char *name, const char *xname, const void *value, size_t len)
{
	char path[64 + NAME_MAX];

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	return lsetxattr(path, xname, value, len, 0) == 0;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */

struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			fz_fail("snapshot: vsnprintf");
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n + 1) * 2;
		if (!(t->s = realloc(t->s, t->cap)))
			fz_fail("out of memory");
	}
}

static void snap_at(struct text *t, int at, const char *name, const char *path, int depth)
{
	struct stat st;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		text_add(t, "%s: %s\n", path, strerror(errno));
		return;
	}
	text_add(t, "%s %lu 0%o %lu %lld %lld.%09ld %lld.%09ld\n", path, (unsigned long)st.st_ino,
		 st.st_mode, (unsigned long)st.st_nlink, (long long)st.st_size,
		 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
		 st.st_ctim.tv_nsec);
	if (S_ISDIR(st.st_mode) && depth < 64) {
		int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct dirent *de;
		DIR *d = fd < 0 ? NULL : fdopendir(fd);

		if (!d) {
			if (fd >= 0)
				close(fd);
			text_add(t, "%s/: %s\n", path, strerror(errno));
			return;
		}
		while ((de = readdir(d))) {
			char *sub;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (asprintf(&sub, "%s/%s", path, de->d_name) < 0)
				fz_fail("out of memory");
			snap_at(t, dirfd(d), de->d_name, sub, depth + 1);
			free(sub);
		}
		closedir(d);
	}
}

char *fz_snapshot(const char *path)
{
	struct text t = { NULL, 0, 0 };

	snap_at(&t, AT_FDCWD, path, path, 0);
	return t.s;
}

void fz_init(void)
{
	struct rlimit rl;

	quiet();
	umask(0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* a write past the tmpfs's size or RLIMIT_FSIZE fails, never kills */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	make_tmpdir();
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

void fz_start(struct fz_msg *m, uint32_t opcode, uint64_t nodeid)
{
	struct fuse_in_header h = {
		.len = sizeof(h), .opcode = opcode, .nodeid = nodeid, .pid = 1,
	};

	memcpy(m->buf, &h, sizeof(h));
	m->len = sizeof(h);
}

void fz_put(struct fz_msg *m, const void *p, size_t n)
{
	struct fuse_in_header *h = (void *)m->buf;

	if (m->len + n > sizeof(m->buf))
		fz_fail("request too long");
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	h->len = (uint32_t)m->len;
}

void fz_str(struct fz_msg *m, const char *s)
{
	fz_put(m, s, strlen(s) + 1);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */

static bool has_reply(uint32_t opcode)
{
	return opcode != FUSE_FORGET && opcode != FUSE_BATCH_FORGET &&
	       opcode != FUSE_INTERRUPT && opcode != FUSE_NOTIFY_REPLY;
}

#define VARIABLE ((size_t)-1)

/* The body of a successful reply: its size, or VARIABLE */
static size_t body_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK: case FUSE_LINK:
		return sizeof(struct fuse_entry_out);
	case FUSE_CREATE: case FUSE_TMPFILE:
		return sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out);
	case FUSE_GETATTR: case FUSE_SETATTR:
		return sizeof(struct fuse_attr_out);
	case FUSE_OPEN: case FUSE_OPENDIR:
		return sizeof(struct fuse_open_out);
	case FUSE_WRITE: case FUSE_COPY_FILE_RANGE:
		return sizeof(struct fuse_write_out);
	case FUSE_STATFS:
		return sizeof(struct fuse_statfs_out);
	case FUSE_LSEEK:
		return sizeof(struct fuse_lseek_out);
	case FUSE_INIT: case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
	case FUSE_READLINK: case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_IOCTL:
		return VARIABLE;
	default:
		return 0;
	}
}

/* An entry the mount shows: never a whiteout, always a type */
static void check_attr(const struct fuse_attr *a, const char *what)
{
	mode_t type = a->mode & S_IFMT;

	if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && type != S_IFCHR &&
	    type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK)
		fz_fail("%s: an entry of mode 0%o", what, a->mode);
	if (type == S_IFCHR && a->rdev == 0)
		fz_fail("%s: a whiteout (char 0/0) shown through the mount", what);
}

static void check_entry(const struct fuse_entry_out *e, const char *what)
{
	if (e->nodeid)
		check_attr(&e->attr, what);
}

/* Directory entries: whole records, names without NUL or '/' */
static void check_dirents(const unsigned char *b, size_t len, bool plus)
{
	size_t off = 0;

	while (off < len) {
		size_t base = plus ? sizeof(struct fuse_entry_out) : 0;
		struct fuse_dirent d;
		size_t rec;

		if (off + base + FUSE_NAME_OFFSET > len)
			fz_fail("readdir: an entry is cut at %zu of %zu", off, len);
		memcpy(&d, b + off + base, FUSE_NAME_OFFSET);
		if (d.namelen == 0 || d.namelen > NAME_MAX)
			fz_fail("readdir: an entry with a name of %u bytes", d.namelen);
		rec = base + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d.namelen);
		if (off + rec > len)
			fz_fail("readdir: an entry runs past the reply");
		if (memchr(b + off + base + FUSE_NAME_OFFSET, '\0', d.namelen) ||
		    memchr(b + off + base + FUSE_NAME_OFFSET, '/', d.namelen))
			fz_fail("readdir: a name with NUL or '/'");
		if (plus) {
			struct fuse_entry_out e;
			memcpy(&e, b + off, sizeof(e));
			check_entry(&e, "readdirplus");
		}
		off += rec;
	}
}

/* What the request asked for: the size its reply may have at most */
static size_t asked_size(const struct fz_msg *msg)
{
	const struct fuse_in_header *h = (const void *)msg->buf;
	const unsigned char *arg = msg->buf + sizeof(*h);
	size_t alen = msg->len - sizeof(*h);

	switch (h->opcode) {
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		if (alen >= sizeof(struct fuse_read_in)) {
			struct fuse_read_in in;
			memcpy(&in, arg, sizeof(in));
			return in.size;
		}
		break;
	case FUSE_GETXATTR: case FUSE_LISTXATTR:
		if (alen >= sizeof(struct fuse_getxattr_in)) {
			struct fuse_getxattr_in in;
			memcpy(&in, arg, sizeof(in));
			return in.size;
		}
		break;
	}
	return VARIABLE;
}

static void check_body(struct fz_mount *m, const struct fz_msg *msg, const unsigned char *b,
		       size_t len)
{
	const struct fuse_in_header *h = (const void *)msg->buf;
	size_t want = body_size(h->opcode), asked = asked_size(msg);
	const char *op = "request";

	if (want != VARIABLE) {
		if (len != want)
			fz_fail("opcode %u: a reply body of %zu bytes, not %zu", h->opcode, len, want);
		if (h->opcode == FUSE_LOOKUP || h->opcode == FUSE_MKNOD || h->opcode == FUSE_MKDIR ||
		    h->opcode == FUSE_SYMLINK || h->opcode == FUSE_LINK ||
		    h->opcode == FUSE_CREATE || h->opcode == FUSE_TMPFILE) {
			struct fuse_entry_out e;
			memcpy(&e, b, sizeof(e));
			check_entry(&e, "entry");
		} else if (h->opcode == FUSE_GETATTR || h->opcode == FUSE_SETATTR) {
			struct fuse_attr_out a;
			memcpy(&a, b, sizeof(a));
			check_attr(&a.attr, "attr");
		}
		return;
	}
	(void)m;
	switch (h->opcode) {
	case FUSE_READ:
		op = "read";
		break;
	case FUSE_READDIR: case FUSE_READDIRPLUS:
		op = "readdir";
		check_dirents(b, len, h->opcode == FUSE_READDIRPLUS);
		break;
	case FUSE_READLINK:
		if (len == 0 || memchr(b, '\0', len))
			fz_fail("readlink: a target of %zu bytes with a NUL, or empty", len);
		break;
	case FUSE_GETXATTR: case FUSE_LISTXATTR:
		op = "xattr";
		if (asked == 0) {
			if (len != sizeof(struct fuse_getxattr_out))
				fz_fail("xattr size query: a body of %zu bytes", len);
			return;
		}
		if (h->opcode == FUSE_LISTXATTR && len && b[len - 1] != '\0')
			fz_fail("listxattr: a list not ending in NUL");
		break;
	case FUSE_IOCTL:
		if (len < sizeof(struct fuse_ioctl_out))
			fz_fail("ioctl: a body of %zu bytes", len);
		return;
	default:
		return;
	}
	if (asked != VARIABLE && len > asked)
		fz_fail("%s: %zu bytes answer a request for %zu", op, len, asked);
}

/* One message of the daemon: a notification, or a reply to msg */
static void take(struct fz_mount *m, const struct fz_msg *msg, const unsigned char *b, size_t n,
		 unsigned *replies)
{
	const struct fuse_in_header *h = (const void *)msg->buf;
	struct fuse_out_header oh;

	if (n < sizeof(oh))
		fz_fail("a message of %zu bytes from the daemon", n);
	memcpy(&oh, b, sizeof(oh));
	if (oh.len != n)
		fz_fail("a message of %zu bytes says %u", n, oh.len);
	if (oh.unique == 0 && oh.error > 0)
		return;   /* a notification (inval_inode...) */
	if (oh.unique != h->unique)
		fz_fail("a reply to unique %llu while %llu (opcode %u) was sent",
			(unsigned long long)oh.unique, (unsigned long long)h->unique, h->opcode);
	if (++*replies > 1)
		fz_fail("a second reply to opcode %u", h->opcode);
	if (oh.error > 0 || oh.error < -4095)
		fz_fail("opcode %u: a reply with error %d", h->opcode, oh.error);
	if (oh.error && n != sizeof(oh))
		fz_fail("opcode %u: an error reply with a body of %zu bytes", h->opcode,
			n - sizeof(oh));
	m->replied = true;
	m->error = oh.error;
	m->body = b + sizeof(oh);
	m->blen = n - sizeof(oh);
}

/* A successful INIT (the first, or one after DESTROY) sets the protocol
 * minor the reply sizes follow */
static void note_init(struct fz_mount *m, const struct fz_msg *msg)
{
	struct fuse_init_in in = { 0 };
	size_t alen = msg->len - sizeof(struct fuse_in_header);

	memcpy(&in, msg->buf + sizeof(struct fuse_in_header),
	       alen < sizeof(in) ? alen : sizeof(in));
	m->check_bodies = in.major == 7 && in.minor >= 12;
	m->initialized = in.major == 7;   /* a later major: libfuse waits for 7 */
}

bool fz_send(struct fz_mount *m, struct fz_msg *msg)
{
	struct fuse_in_header *h = (void *)msg->buf;
	unsigned replies = 0;
	size_t have = 0;
	int res;

	m->replied = false;
	m->error = 0;
	m->body = NULL;
	m->blen = 0;
	if (m->exited)
		return false;
	if (msg->len < sizeof(*h))
		fz_fail("a request shorter than its header");
	h->unique = ++m->unique;
	if (send(m->peer, msg->buf, msg->len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)msg->len)
		fz_fail("cannot send a request of %zu bytes: %s", msg->len, strerror(errno));
	res = fuse_session_receive_buf(m->se, &m->buf);
	if (res > 0)
		fuse_session_process_buf(m->se, &m->buf);
	else if (res == 0)
		m->exited = true;   /* read, then dropped: the session is over */
	else if (res != -EAGAIN)   /* -EAGAIN: wire.c answered or dropped it */
		fz_fail("fuse_session_receive_buf: %s", strerror(-res));

	/* everything the daemon wrote, then its messages one by one, as long
	 * as their headers say (a spliced one spans socket messages: see
	 * fz_mount_start) */
	for (;;) {
		ssize_t n = recv(m->peer, m->rbuf + have, m->rsize - have, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			fz_fail("reading the daemon's messages: %s", strerror(errno));
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == m->rsize)
			fz_fail("more than %zu bytes of messages for one request", have);
	}
	for (size_t off = 0, len; off < have; off += len) {
		struct fuse_out_header oh;

		if (have - off < sizeof(oh))
			fz_fail("a message of %zu bytes from the daemon", have - off);
		memcpy(&oh, m->rbuf + off, sizeof(oh));
		len = oh.len;
		if (len < sizeof(oh) || len > have - off)
			fz_fail("a message whose header says %zu bytes, %zu written", len, have - off);
		take(m, msg, m->rbuf + off, len, &replies);
	}
	/* before INIT and after DESTROY libfuse answers whatever it reads with
	 * EIO, FORGET too (a kernel sends none then) */
	if (res != 0 && replies != (has_reply(h->opcode) || (res > 0 && !m->initialized) ? 1u : 0u))
		fz_fail("opcode %u (%u bytes): %u replies", h->opcode, h->len, replies);
	if (m->replied && !m->error && h->opcode == FUSE_DESTROY && res > 0)
		m->initialized = false;
	if (m->replied && !m->error && h->opcode == FUSE_INIT && res > 0)
		note_init(m, msg);
	else if (m->replied && !m->error && m->check_bodies && res > 0)
		check_body(m, msg, m->body, m->blen);
	if (trace)
		dprintf(2, "fz: #%llu op %u node %llu, %u bytes%s: %s%d, body %zu\n",
			(unsigned long long)h->unique, h->opcode, (unsigned long long)h->nodeid, h->len,
			res > 0 ? "" : res == 0 ? " (session over)" : " (refused by wire.c)",
			m->replied ? "error " : "no reply ", m->error, m->blen);
	if (fuse_session_exited(m->se))
		m->exited = true;
	return !m->exited;
}

bool fz_send_raw(struct fz_mount *m, const void *p, size_t len)
{
	static struct fz_msg msg;

	if (len > sizeof(msg.buf))
		len = sizeof(msg.buf);
	memcpy(msg.buf, p, len);
	msg.len = len;
	return fz_send(m, &msg);
}

/* ------------------------------------------------------------------ */
/* The overlay                                                         */

static void *spare_buf;   /* libfuse's request buffer, between sessions */

void fz_mount_start(struct fz_mount *m, const char *opts, const char *mountpoint,
		    uint32_t flags, uint32_t flags2)
{
	static unsigned char *rbuf;
	const size_t rsize = 4 << 20;
	char *o, fd_path[32];
	char *argv[] = { "fuse-overlayfs", "-o", NULL, (char *)mountpoint, NULL };
	char *fargv[] = { "fuse-overlayfs", "-o", NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_init_in in = {
		.major = 7, .minor = FZ_MINOR, .max_readahead = 131072,
		.flags = flags, .flags2 = flags2,
	};
	struct fz_msg msg;
	int sv[2], size = 8 << 20;

	if (!rbuf && !(rbuf = malloc(rsize)))
		fz_fail("out of memory");
	memset(m, 0, sizeof(*m));
	m->buf.mem = spare_buf;
	spare_buf = NULL;
	m->peer = -1;
	m->rbuf = rbuf;
	m->rsize = rsize;
	if (asprintf(&o, "%s,io_uring=off", opts) < 0)
		fz_fail("out of memory");
	argv[2] = o;
	if (ovl_config_parse(&m->cfg, 4, argv) != 0)
		fz_fail("options refused: %s", o);
	free(o);
	ovl_debug_enabled = verbose && m->cfg.debug;
	if (ovl_fs_new(&m->cfg, &m->fs) < 0)
		fz_fail("ovl_fs_new failed (FUZZ_VERBOSE=1 says why)");

	fargv[2] = m->cfg.fuse_mount_opts;
	m->se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), m->fs);
	fuse_opt_free_args(&args);
	if (!m->se)
		fz_fail("fuse_session_new failed");
	m->fs->se = m->se;

	/* SOCK_SEQPACKET: one request is one message, read whole by wire.c
	 * (as from /dev/fuse), and a reply is copied as it is written.  (On
	 * a stream socket the kernel takes spliced pages by reference: the
	 * header libfuse vmsplices from its stack before a READ's data would
	 * be read back after libfuse reused that stack.)  The kernel splices
	 * into a socket 16 pipe buffers per message at most, so a spliced
	 * READ reply of more than 15 pages comes in pieces: fz_send joins
	 * them by the header's length.  The daemon's end is non-blocking:
	 * wire.c reads until EAGAIN after answering a bad request itself,
	 * and a full socket shows as a missing reply instead of a hang. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		fz_fail("socketpair: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	snprintf(fd_path, sizeof(fd_path), "/dev/fd/%d", sv[0]);
	/* libfuse takes "/dev/fd/N" as a device fd it was given: no mount */
	if (fuse_session_mount(m->se, fd_path) != 0)
		fz_fail("fuse_session_mount(%s) failed", fd_path);
	m->peer = sv[1];
	if (ovl_wire_attach(m->fs, m->se) != 0)
		fz_fail("no custom io in this libfuse: requests would not be checked");

	fz_start(&msg, FUSE_INIT, 0);
	fz_put(&msg, &in, sizeof(in));
	if (!fz_send(m, &msg) || !m->replied || m->error)
		fz_fail("INIT refused (error %d)", m->error);
	m->check_bodies = true;
}

void fz_mount_stop(struct fz_mount *m)
{
	if (m->se)
		fuse_session_destroy(m->se);   /* closes the daemon's end */
	ovl_fs_free(m->fs);
	ovl_config_free(&m->cfg);
	if (m->peer >= 0)
		close(m->peer);
	/* libfuse malloc'd it for an outside caller, of the size every new
	 * session starts with: the next session reads into it again (a MiB
	 * mapped and unmapped for each input would cost more than the rest) */
	spare_buf = m->buf.mem;
	memset(&m->buf, 0, sizeof(m->buf));
	m->se = NULL;
	m->fs = NULL;
	m->peer = -1;
	ovl_debug_enabled = false;
}
