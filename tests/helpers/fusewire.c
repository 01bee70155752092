/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fusewire: plays the kernel's part of FUSE against a fuse-overlayfs daemon
 * and sends it raw requests, well-formed and not (tests/requests.bats).
 *
 *   fusewire -s SHIM -l LOG [-d DEV] [-g GROUPS] [-m MODE] [-t SECS] [-v] -- DAEMON ARGS...
 *
 * The daemon (DAEMON ARGS, which must carry -f and -o fuse_device=DEV) runs
 * with SHIM (helpers/fakefuse.c) preloaded: its FUSE device is one end of a
 * SOCK_SEQPACKET socketpair, the other end is ours.  We send FUSE_INIT, then
 * the cases of GROUPS (comma separated; default all but "short"):
 *
 *   ids        forged, zero, huge, stale and wrong-generation node ids
 *   handles    forged, zero, stale, wrong-kind file and directory handles,
 *              double releases, releases racing I/O
 *   forget     FORGET / BATCH_FORGET of unknown ids, huge counts, the root
 *   names      "", ".", "..", "a/b", long names; creating over names that
 *              exist only in a lower layer (EEXIST); LINK of the root or a
 *              directory; a directory renamed into itself
 *   sizes      well-formed requests with oversized or odd counts, sizes,
 *              offsets, modes and flags
 *   malformed  bodies shorter than their struct, names without their NUL,
 *              header lengths that lie, BATCH_FORGET counts larger than the
 *              message, unknown opcodes, INIT again, unique 0
 *   stray      INTERRUPT and NOTIFY_REPLY for requests that do not exist
 *              (each in a daemon of its own, checked at its exit)
 *   lifecycle  requests before INIT, INIT of other major versions,
 *              requests after DESTROY, INIT after DESTROY
 *   short      a message shorter than a request header (libfuse ends the
 *              session: the daemon must exit without crashing)
 *
 * and each group ends with normal traffic (create, write, read back,
 * readdir), DESTROY, and closing our end: the daemon must then exit 0.
 *
 * Every request expects: a reply whose unique is the request's, whose length
 * is the message's, whose error is 0 or a negative errno (-999..-1) with no
 * body, whose body has the size the opcode's reply has (or at most the size
 * asked for); for FORGET, BATCH_FORGET and NOTIFY_REPLY no reply at all
 * (checked by a STATFS sent after it, and by any stray reply seen later),
 * for INTERRUPT none or -EAGAIN/-ENOSYS (libfuse answers EAGAIN to one it
 * cannot match when the next request comes).  Some cases expect an error,
 * some success, many "a reply" (the point is that the daemon answers and
 * survives).  After a request without reply and after each case, fusewire
 * waits until every libfuse worker is back in read(2) (so that what the
 * request set off is over); then the daemon must be alive and its log free
 * of sanitizer reports.  A daemon that died is restarted for the next case;
 * the rest of the case it died in is not sent.
 *
 * Modes (-m): "read" (default: libfuse reads requests into its per-thread
 * buffer), "splice" (-o max_write=65536 must be on the daemon's command
 * line too: libfuse's pipe can then hold a request and it splices requests
 * in; one of 4176 bytes or more is then copied into a buffer of its exact
 * size, where reading past the message is visible to ASan), "pt" (the INIT
 * offers FUSE_PASSTHROUGH; the shim answers FUSE_DEV_IOC_BACKING_OPEN with
 * made-up ids when FAKEFUSE_BACKING=1, set here).
 *
 * Output: one line per request ("  LABEL -> RESULT"), "ok N group/case" or
 * "not ok N group/case: why" per case, and a summary line.  Exit 0 when all
 * passed, 1 otherwise, 2 on a usage or set-up error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#define OP_STATX 52
#define OP_COPY_FILE_RANGE_64 53
/* FS_IOC_GETFLAGS / SETFLAGS as the kernel's fileattr code sends them (the
 * numbers of linux/fs.h, which say long but carry an int) */
#define FS_IOC_GETFLAGS_32 0x80086601u
#define FS_IOC_SETFLAGS_32 0x40086602u

#define ROOT 1ULL
#define HDR ((uint32_t)sizeof(struct fuse_in_header))
/* libfuse's read buffer before INIT and, with max_write 1 MiB, after it */
#define BIG_MSG (1048576 + 4096)

/* Expectations */
#define EXP_OK (-1)     /* success */
#define EXP_ERR (-2)    /* some errno */
#define EXP_ANY (-3)    /* success or an errno */
#define EXP_NONE (-4)   /* no reply */
#define EXP_NEG (-5)    /* an errno, or a LOOKUP reply with nodeid 0 (negative entry) */
#define EXP_INTR (-6)   /* INTERRUPT: no reply, or (at any time) -EAGAIN or -ENOSYS */
/* a positive value: exactly that errno */

/* ------------------------------------------------------------ state */

struct sent {
	uint64_t unique;
	uint32_t opcode;
	int expect;
	uint32_t size;   /* READ/READDIR/GETXATTR/... size asked for, checked against the reply */
	int caseno;
	bool replied;
	int32_t error;   /* of the reply */
};

static struct {
	char **argv;
	const char *shim, *dev, *log, *mode;
	int timeout;
	bool verbose;

	int fd;          /* our end; -1: no daemon */
	pid_t pid;
	bool dead;       /* the daemon is gone (or unusable) */
	int wstatus;     /* its wait status once reaped */
	bool reaped;
	uint64_t unique;
	uint32_t max_write;
	off_t log_off;   /* where the current case's part of the log starts */
	off_t scan_off;  /* how far it was searched for reports */

	struct sent *sent;
	size_t nsent, capsent;

	unsigned char *rbuf;   /* receive buffer */
	size_t rsize;

	/* the current case */
	int caseno;
	const char *casename;
	bool failed;
	char why[1024];
	int ncases, nfailed, ndeaths;
	int skipped;     /* requests of the case not sent: the daemon is gone */
	int notifications;
} W;

/* The last reply of req() */
struct rep {
	int32_t error;
	uint64_t unique;
	size_t len;               /* body length */
	const unsigned char *body;
};
static struct rep R;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(W.why);

	W.failed = true;
	if (n + 4 >= sizeof(W.why))
		return;
	if (n)
		strcat(W.why, "; "), n += 2;
	va_start(ap, fmt);
	vsnprintf(W.why + n, sizeof(W.why) - n, fmt, ap);
	va_end(ap);
}

static const char *opname(uint32_t op)
{
	static char buf[32];
	static const char *names[] = {
		[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET", [FUSE_GETATTR] = "GETATTR",
		[FUSE_SETATTR] = "SETATTR", [FUSE_READLINK] = "READLINK", [FUSE_SYMLINK] = "SYMLINK",
		[FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR", [FUSE_UNLINK] = "UNLINK",
		[FUSE_RMDIR] = "RMDIR", [FUSE_RENAME] = "RENAME", [FUSE_LINK] = "LINK",
		[FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ", [FUSE_WRITE] = "WRITE",
		[FUSE_STATFS] = "STATFS", [FUSE_RELEASE] = "RELEASE", [FUSE_FSYNC] = "FSYNC",
		[FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
		[FUSE_LISTXATTR] = "LISTXATTR", [FUSE_REMOVEXATTR] = "REMOVEXATTR",
		[FUSE_FLUSH] = "FLUSH", [FUSE_INIT] = "INIT", [FUSE_OPENDIR] = "OPENDIR",
		[FUSE_READDIR] = "READDIR", [FUSE_RELEASEDIR] = "RELEASEDIR",
		[FUSE_FSYNCDIR] = "FSYNCDIR", [FUSE_GETLK] = "GETLK", [FUSE_SETLK] = "SETLK",
		[FUSE_SETLKW] = "SETLKW", [FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE",
		[FUSE_INTERRUPT] = "INTERRUPT", [FUSE_BMAP] = "BMAP", [FUSE_DESTROY] = "DESTROY",
		[FUSE_IOCTL] = "IOCTL", [FUSE_POLL] = "POLL", [FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
		[FUSE_BATCH_FORGET] = "BATCH_FORGET", [FUSE_FALLOCATE] = "FALLOCATE",
		[FUSE_READDIRPLUS] = "READDIRPLUS", [FUSE_RENAME2] = "RENAME2",
		[FUSE_LSEEK] = "LSEEK", [FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
		[FUSE_SETUPMAPPING] = "SETUPMAPPING", [FUSE_REMOVEMAPPING] = "REMOVEMAPPING",
		[FUSE_SYNCFS] = "SYNCFS", [FUSE_TMPFILE] = "TMPFILE", [OP_STATX] = "STATX",
		[OP_COPY_FILE_RANGE_64] = "COPY_FILE_RANGE_64",
	};
	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	if (op == CUSE_INIT)
		return "CUSE_INIT";
	snprintf(buf, sizeof(buf), "op%u", op);
	return buf;
}

static const char *errname(int e)
{
	const char *s = strerrorname_np(e);
	static char buf[32];

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

static const char *expname(int x)
{
	static char buf[32];

	switch (x) {
	case EXP_OK: return "success";
	case EXP_ERR: return "an errno";
	case EXP_ANY: return "a reply";
	case EXP_NONE: return "no reply";
	case EXP_NEG: return "an errno or a negative entry";
	case EXP_INTR: return "no reply, EAGAIN or ENOSYS";
	}
	snprintf(buf, sizeof(buf), "%s", errname(x));
	return buf;
}

/* ------------------------------------------------------------ the log */

static const char *const sanitizer_marks[] = {
	"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer",
	"ERROR: MemorySanitizer", NULL,
};

static char *read_log_from(off_t off)
{
	int fd = open(W.log, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *s;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < off) {
		if (fd >= 0)
			close(fd);
		return strdup("");
	}
	s = malloc((size_t)(st.st_size - off) + 1);
	n = pread(fd, s, (size_t)(st.st_size - off), off);
	close(fd);
	s[n > 0 ? n : 0] = '\0';
	return s;
}

static off_t log_size(void)
{
	struct stat st;

	return stat(W.log, &st) == 0 ? st.st_size : 0;
}

/* Prints s, prefixed with "#   ": from the line of the first sanitizer mark
 * (80 lines), or its last `tail` lines when there is none. */
static void show_log(const char *s, int tail)
{
	const char *from = NULL, *p;
	int lines, max = 80;

	for (int i = 0; sanitizer_marks[i]; i++) {
		p = strstr(s, sanitizer_marks[i]);
		if (p && (!from || p < from))
			from = p;
	}
	if (from) {
		while (from > s && from[-1] != '\n')
			from--;
	} else {
		from = s + strlen(s);
		for (lines = 0; from > s && lines <= tail;)
			if (*--from == '\n')
				lines++;
		if (*from == '\n')
			from++;
	}
	for (p = from, lines = 0; *p && lines < max; lines++) {
		const char *e = strchr(p, '\n');
		int n = e ? (int)(e - p) : (int)strlen(p);
		if (!strncmp(p, "Shadow bytes around", 19)) {
			/* the rest of an ASan report is its shadow map */
			p = strstr(p, "\n==");
			if (!p)
				break;
			p++;
			continue;
		}
		printf("#   %.*s\n", n, p);
		p += n + (e ? 1 : 0);
	}
}

static bool log_has_report(const char *s)
{
	for (int i = 0; sanitizer_marks[i]; i++)
		if (strstr(s, sanitizer_marks[i]))
			return true;
	return false;
}

/* A sanitizer report written since the last call? */
static bool new_report(void)
{
	char *s = read_log_from(W.scan_off);
	bool found = log_has_report(s);

	W.scan_off += (off_t)strlen(s);
	free(s);
	return found;
}

/* ------------------------------------------------------------ the daemon */

static void reap(bool block)
{
	int st;
	pid_t r;

	if (W.reaped || W.pid <= 0)
		return;
	do
		r = waitpid(W.pid, &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == W.pid) {
		W.reaped = true;
		W.wstatus = st;
		W.dead = true;
	}
}

static const char *status_text(int st)
{
	static char buf[64];

	if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by signal %d (%s)", WTERMSIG(st),
			 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(st));
	return buf;
}

/* Waits (up to the timeout) for the daemon to end. */
static bool wait_exit(void)
{
	for (int i = 0; i < W.timeout * 20 && !W.reaped; i++) {
		reap(false);
		if (!W.reaped)
			usleep(50000);
	}
	if (!W.reaped) {
		kill(W.pid, SIGKILL);
		reap(true);
		return false;
	}
	return true;
}

static void reap(bool block);

/* Waits (up to the timeout) until every libfuse worker of the daemon is
 * back waiting for a request (read or recvfrom), or the daemon is gone: what
 * a request without a reply set off is over, and so is any report a worker
 * is writing. */
static void quiesce(void)
{
	char path[320], buf[64];

	for (long i = 0; i < W.timeout * 100L; i++) {
		DIR *d;
		struct dirent *e;
		bool busy = false;

		reap(false);
		if (W.reaped || W.pid <= 0)
			return;
		snprintf(path, sizeof(path), "/proc/%d/task", (int)W.pid);
		d = opendir(path);
		if (!d)
			return;
		while (!busy && (e = readdir(d))) {
			int fd;
			ssize_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)W.pid, e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0 || strncmp(buf, "fuse_worker", 11))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", (int)W.pid, e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			/* 0: read, 45: recvfrom (the shim's splice) */
			if (strncmp(buf, "0 ", 2) && strncmp(buf, "45 ", 3))
				busy = true;
		}
		closedir(d);
		if (!busy)
			return;
		usleep(10000);
	}
}

static void set_bufs(int fd)
{
	int sz = 8 << 20;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static void append_env(const char *name, const char *sep, const char *value, bool front)
{
	const char *old = getenv(name);
	char *v;

	if (!old || !*old) {
		setenv(name, value, 1);
		return;
	}
	if (asprintf(&v, "%s%s%s", front ? value : old, sep, front ? old : value) < 0)
		_exit(127);
	setenv(name, v, 1);
	free(v);
}

static bool start_daemon(void)
{
	int sv[2];
	char num[16];

	W.nsent = 0;
	W.dead = false;
	W.reaped = false;
	W.max_write = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		perror("fusewire: socketpair");
		exit(2);
	}
	set_bufs(sv[0]);
	set_bufs(sv[1]);
	fflush(stdout);
	W.pid = fork();
	if (W.pid < 0) {
		perror("fusewire: fork");
		exit(2);
	}
	if (W.pid == 0) {
		int fd = fcntl(sv[1], F_DUPFD, 10);   /* without FD_CLOEXEC */
		int logfd = open(W.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || logfd < 0 || null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		snprintf(num, sizeof(num), "%d", fd);
		setenv("FAKEFUSE_FD", num, 1);
		setenv("FAKEFUSE_DEV", W.dev, 1);
		if (!strcmp(W.mode, "pt"))
			setenv("FAKEFUSE_BACKING", "1", 1);
		append_env("LD_PRELOAD", ":", W.shim, true);
		/* the shim comes before an ASan daemon's libasan */
		append_env("ASAN_OPTIONS", ":", "verify_asan_link_order=0", false);
		execv(W.argv[0], W.argv);
		fprintf(stderr, "fusewire: cannot run %s: %s\n", W.argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	W.fd = sv[0];
	W.unique = 0;
	return true;
}

/* ------------------------------------------------------------ sending */

struct mb {
	unsigned char *p;
	size_t n, cap;
};

static void mb_add(struct mb *m, const void *data, size_t n)
{
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2 + 256;
		m->p = realloc(m->p, m->cap);
		if (!m->p)
			abort();
	}
	if (data)
		memcpy(m->p + m->n, data, n);
	else
		memset(m->p + m->n, 0, n);
	m->n += n;
}

static void mb_str(struct mb *m, const char *s)
{
	mb_add(m, s, strlen(s) + 1);
}

static void mb_fill(struct mb *m, int c, size_t n)
{
	mb_add(m, NULL, n);
	memset(m->p + m->n - n, c, n);
}

static void mb_free(struct mb *m)
{
	free(m->p);
	*m = (struct mb){ 0 };
}

/* How to lie about a request */
struct sopt {
	bool set_len;
	uint32_t len;        /* header's len field */
	size_t cut;          /* send only this many bytes of the message (0: all) */
	bool set_unique;
	uint64_t unique;
	uint32_t size;       /* size to check a success reply's body against */
};

static struct sent *find_sent(uint64_t unique)
{
	for (size_t i = W.nsent; i-- > 0;)
		if (W.sent[i].unique == unique && !W.sent[i].replied)
			return &W.sent[i];
	for (size_t i = W.nsent; i-- > 0;)
		if (W.sent[i].unique == unique)
			return &W.sent[i];
	return NULL;
}

/* Sends one request (its unique in *unique); false if the daemon is gone. */
static bool send_req(uint32_t op, uint64_t node, const void *body, size_t blen, int expect,
		     const struct sopt *o, uint64_t *unique)
{
	struct fuse_in_header h = {
		.len = HDR + (uint32_t)blen,
		.opcode = op,
		.nodeid = node,
		.uid = 0,
		.gid = 0,
		.pid = (uint32_t)getpid(),
	};
	struct mb m = { 0 };
	ssize_t r;
	size_t n;

	if (W.dead || W.fd < 0)
		return false;
	h.unique = o && o->set_unique ? o->unique : (W.unique += 2);
	if (unique)
		*unique = h.unique;
	if (o && o->set_len)
		h.len = o->len;
	mb_add(&m, &h, sizeof(h));
	mb_add(&m, body, blen);
	n = o && o->cut && o->cut < m.n ? o->cut : m.n;
	if (W.nsent == W.capsent) {
		W.capsent = W.capsent * 2 + 64;
		W.sent = realloc(W.sent, W.capsent * sizeof(*W.sent));
	}
	W.sent[W.nsent++] = (struct sent){
		.unique = h.unique, .opcode = op, .expect = expect,
		.size = o ? o->size : 0, .caseno = W.caseno,
	};
	do
		r = send(W.fd, m.p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	mb_free(&m);
	if (r < 0) {
		W.dead = true;
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ receiving */

static size_t expected_body(uint32_t op)
{
	switch (op) {
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
	case OP_COPY_FILE_RANGE_64:
		return 8;
	case FUSE_STATFS:
		return sizeof(struct fuse_statfs_out);
	case FUSE_LSEEK:
		return sizeof(struct fuse_lseek_out);
	case FUSE_INIT:
		return sizeof(struct fuse_init_out);
	case FUSE_BMAP:
		return sizeof(struct fuse_bmap_out);
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS: case FUSE_READLINK:
	case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_IOCTL: case FUSE_GETLK:
	case FUSE_POLL: case OP_STATX:
		return (size_t)-1;   /* variable */
	}
	return 0;
}

/* Checks a readdir(plus) body: records inside it, names without NUL, sizes. */
static const char *check_dirents(const unsigned char *b, size_t len, bool plus)
{
	size_t off = 0;

	while (off < len) {
		size_t base = plus ? sizeof(struct fuse_entry_out) : 0;
		const struct fuse_dirent *d;
		size_t rec;

		if (off + base + FUSE_NAME_OFFSET > len)
			return "a directory entry is cut";
		d = (const void *)(b + off + base);
		if (d->namelen == 0 || d->namelen > 1024)
			return "a directory entry with a bad name length";
		rec = base + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d->namelen);
		if (off + rec > len)
			return "a directory entry runs past the reply";
		if (memchr(d->name, '\0', d->namelen) || memchr(d->name, '/', d->namelen))
			return "a directory entry name with NUL or '/'";
		off += rec;
	}
	return NULL;
}

/* Validates one message of the daemon; fills R when it answers `want`. */
static void take_message(const unsigned char *b, size_t n, uint64_t want, bool *got)
{
	const struct fuse_out_header *oh = (const void *)b;
	struct sent *s;
	size_t blen;

	if (n < sizeof(*oh)) {
		fail("a message of %zu bytes from the daemon", n);
		return;
	}
	blen = n - sizeof(*oh);
	if (oh->len != n)
		fail("reply #%" PRIu64 ": header says %u bytes, message has %zu", oh->unique,
		     oh->len, n);
	if (oh->unique == 0 && oh->error > 0) {
		/* a notification (inval_inode...) */
		W.notifications++;
		if (W.verbose)
			printf("  (notification %d, %zu bytes)\n", oh->error, blen);
		return;
	}
	s = find_sent(oh->unique);
	if (!s) {
		fail("a reply to unique %" PRIu64 ", never sent (error %d)", oh->unique, oh->error);
		return;
	}
	if (s->replied) {
		fail("a second reply to #%" PRIu64 " (%s)", oh->unique, opname(s->opcode));
		return;
	}
	s->replied = true;
	s->error = oh->error;
	if (s->expect == EXP_INTR) {
		/* libfuse answers EAGAIN to an INTERRUPT it could not match once
		 * the next request comes; the kernel then sends it again */
		if (oh->error != -EAGAIN && oh->error != -ENOSYS)
			fail("INTERRUPT #%" PRIu64 " answered %d", oh->unique, oh->error);
		else if (W.verbose)
			printf("  (INTERRUPT #%" PRIu64 " answered %s)\n", oh->unique,
			       errname(-oh->error));
		return;
	}
	if (s->expect == EXP_NONE) {
		if (s->caseno != W.caseno)
			printf("not ok (late) case %d: %s #%" PRIu64 " got a reply (error %d), it has none\n",
			       s->caseno, opname(s->opcode), oh->unique, oh->error);
		fail("%s #%" PRIu64 " got a reply (error %d), it has none", opname(s->opcode),
		     oh->unique, oh->error);
	}
	if (oh->error > 0 || oh->error <= -1000)
		fail("%s #%" PRIu64 ": error %d is no negative errno", opname(s->opcode), oh->unique,
		     oh->error);
	else if (oh->error < 0 && blen)
		fail("%s #%" PRIu64 ": error %d with %zu bytes of body", opname(s->opcode),
		     oh->unique, oh->error, blen);
	else if (oh->error == 0) {
		size_t want_len = expected_body(s->opcode);
		const char *bad = NULL;

		if (s->opcode == FUSE_GETXATTR || s->opcode == FUSE_LISTXATTR)
			want_len = s->size ? (size_t)-1 : sizeof(struct fuse_getxattr_out);
		if (s->size == UINT32_MAX)
			want_len = (size_t)-1;   /* the size asked for is not known */
		if (want_len != (size_t)-1 && blen != want_len)
			fail("%s #%" PRIu64 ": %zu bytes of body, its reply has %zu", opname(s->opcode),
			     oh->unique, blen, want_len);
		if (want_len == (size_t)-1 && s->size && blen > s->size)
			fail("%s #%" PRIu64 ": %zu bytes of body for %u asked", opname(s->opcode),
			     oh->unique, blen, s->size);
		if (s->opcode == FUSE_READDIR)
			bad = check_dirents(b + sizeof(*oh), blen, false);
		if (s->opcode == FUSE_READDIRPLUS)
			bad = check_dirents(b + sizeof(*oh), blen, true);
		if (bad)
			fail("%s #%" PRIu64 ": %s", opname(s->opcode), oh->unique, bad);
	}
	if (oh->unique == want && got && !*got) {
		*got = true;
		R.error = oh->error;
		R.unique = oh->unique;
		R.len = blen;
		R.body = b + sizeof(*oh);
	}
}

/* Reads messages until `want` is answered (true) or the daemon is gone or
 * silent for the timeout (false). drain: only what is there now. */
static bool wait_msgs(uint64_t want, bool drain)
{
	bool got = false;
	struct timespec start, now;
	struct sent *s = !drain ? find_sent(want) : NULL;

	if (s && s->replied) {
		/* answered while we waited for another: its body is gone */
		R = (struct rep){ .error = s->error, .unique = want };
		return true;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!got) {
		struct pollfd p = { .fd = W.fd, .events = POLLIN };
		int r;
		ssize_t n;

		if (W.fd < 0)
			return false;
		r = poll(&p, 1, drain ? 0 : 200);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (drain)
				return false;
			reap(false);
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec >= W.timeout) {
				fail("no reply to #%" PRIu64 " in %d s", want, W.timeout);
				W.dead = true;   /* hung: restart it */
				return false;
			}
			continue;
		}
		n = recv(W.fd, W.rbuf, W.rsize, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			W.dead = true;   /* EOF: the daemon closed its end, i.e. exited */
			return false;
		}
		if ((size_t)n > W.rsize) {
			fail("a message of %zd bytes", n);
			continue;
		}
		take_message(W.rbuf, (size_t)n, want, drain ? NULL : &got);
	}
	return true;
}

static bool wait_reply(uint64_t want)
{
	return wait_msgs(want, false);
}

static void drain(void)
{
	wait_msgs(0, true);
}

/* ------------------------------------------------------------ requests */

static void print_result(const char *label, uint32_t op, uint64_t unique, const char *res)
{
	printf("  %-58s %s\n", label, res);
	(void)op;
	(void)unique;
}

/* Checks the reply in R against expect; true if it matches. */
static bool judge(const char *label, uint32_t op, int expect, bool replied)
{
	char res[160];
	bool good;

	if (!replied) {
		if (expect == EXP_NONE || expect == EXP_INTR) {
			print_result(label, op, 0, "no reply");
			return true;
		}
		print_result(label, op, 0, W.dead ? "DAEMON GONE" : "no reply");
		fail("%s: %s", label, W.dead ? "the daemon is gone" : "no reply");
		return false;
	}
	if (R.error)
		snprintf(res, sizeof(res), "-%s", errname(-R.error));
	else if (op == FUSE_LOOKUP && R.len >= sizeof(struct fuse_entry_out))
		snprintf(res, sizeof(res), "ok, nodeid %#" PRIx64,
			 ((const struct fuse_entry_out *)R.body)->nodeid);
	else if ((op == FUSE_OPEN || op == FUSE_OPENDIR) && R.len >= sizeof(struct fuse_open_out)) {
		const struct fuse_open_out *o = (const void *)R.body;
		snprintf(res, sizeof(res), "ok, fh %#" PRIx64, (uint64_t)o->fh);
		int32_t backing;   /* after open_flags: "padding" in 7.38, backing_id in 7.40 */
		memcpy(&backing, R.body + offsetof(struct fuse_open_out, open_flags) + 4, 4);
		if (o->open_flags & FOPEN_PASSTHROUGH)
			snprintf(res + strlen(res), sizeof(res) - strlen(res), ", backing id %d",
				 backing);
	}
	else
		snprintf(res, sizeof(res), "ok, %zu bytes", R.len);
	switch (expect) {
	case EXP_OK: good = R.error == 0; break;
	case EXP_ERR: good = R.error < 0; break;
	case EXP_ANY: good = true; break;
	case EXP_NONE: good = false; break;
	case EXP_NEG:
		good = R.error < 0 || (op == FUSE_LOOKUP && R.len >= sizeof(struct fuse_entry_out) &&
				       ((const struct fuse_entry_out *)R.body)->nodeid == 0);
		break;
	default: good = R.error == -expect; break;
	}
	if (!good) {
		strcat(res, "   <-- expected ");
		strcat(res, expname(expect));
		fail("%s: %s", label, res);
	}
	print_result(label, op, R.unique, res);
	return good;
}

/* A request that must not be answered: the STATFS sent after it must be. */
static void probe(void)
{
	uint64_t u;

	if (send_req(FUSE_STATFS, ROOT, NULL, 0, EXP_ANY, NULL, &u) && !wait_reply(u))
		fail("no reply to the STATFS sent after a request without reply");
	quiesce();
}

/* Sends a request and judges the reply. NULL if there is none to look at. */
static const struct rep *reqo(const char *label, int expect, uint32_t op, uint64_t node,
			      const void *body, size_t blen, const struct sopt *o)
{
	uint64_t u;
	bool replied = false, ok;

	if (W.dead) {
		W.skipped++;
		return NULL;
	}
	ok = send_req(op, node, body, blen, expect, o, &u);

	if (ok && (expect == EXP_NONE || expect == EXP_INTR)) {
		probe();
		judge(label, op, expect, false);
		if (new_report())
			printf("  !! a sanitizer report began in the daemon log (below)\n");
		return NULL;
	}
	if (ok)
		replied = wait_reply(u);
	judge(label, op, expect, replied);
	if (W.dead && !W.reaped) {
		/* it is ending: let it finish its report */
		for (int i = 0; i < W.timeout * 20 && !W.reaped; i++) {
			reap(false);
			if (!W.reaped)
				usleep(50000);
		}
	}
	if (new_report())
		printf("  !! a sanitizer report began in the daemon log (below)\n");
	return replied ? &R : NULL;
}

static const struct rep *req(const char *label, int expect, uint32_t op, uint64_t node,
			     const void *body, size_t blen)
{
	return reqo(label, expect, op, node, body, blen, NULL);
}

/* A request with a struct and up to two names (each with its NUL). */
static const struct rep *reqn(const char *label, int expect, uint32_t op, uint64_t node,
			      const void *arg, size_t alen, const char *n1, const char *n2)
{
	struct mb m = { 0 };
	const struct rep *r;

	mb_add(&m, arg, alen);
	if (n1)
		mb_str(&m, n1);
	if (n2)
		mb_str(&m, n2);
	r = req(label, expect, op, node, m.p, m.n);
	mb_free(&m);
	return r;
}

/* ------------------------------------------------------------ helpers */

static char lbl[512];
#define L(...) (snprintf(lbl, sizeof(lbl), __VA_ARGS__), lbl)

static uint64_t lookup(uint64_t parent, const char *name)
{
	const struct rep *r = reqn(L("LOOKUP %#" PRIx64 " \"%s\"", parent, name), EXP_OK, FUSE_LOOKUP,
				   parent, NULL, 0, name, NULL);

	if (!r || r->error || r->len < sizeof(struct fuse_entry_out))
		return 0;
	return ((const struct fuse_entry_out *)r->body)->nodeid;
}

static bool getattr(uint64_t node, struct fuse_attr *a)
{
	struct fuse_getattr_in g = { 0 };
	const struct rep *r = req(L("GETATTR %#" PRIx64, node), EXP_OK, FUSE_GETATTR, node, &g,
				  sizeof(g));

	if (!r || r->error || r->len < sizeof(struct fuse_attr_out))
		return false;
	*a = ((const struct fuse_attr_out *)r->body)->attr;
	return true;
}

static uint64_t open_node(uint64_t node, uint32_t flags, bool dir)
{
	struct fuse_open_in o = { .flags = flags };
	const struct rep *r = req(L("%s %#" PRIx64 " flags %#o", dir ? "OPENDIR" : "OPEN", node, flags),
				  EXP_OK, dir ? FUSE_OPENDIR : FUSE_OPEN, node, &o, sizeof(o));

	if (!r || r->error || r->len < sizeof(struct fuse_open_out))
		return 0;
	return ((const struct fuse_open_out *)r->body)->fh;
}

static void release(uint64_t node, uint64_t fh, bool dir, int expect)
{
	struct fuse_release_in rl = { .fh = fh };

	req(L("%s %#" PRIx64 " fh %#" PRIx64, dir ? "RELEASEDIR" : "RELEASE", node, fh), expect,
	    dir ? FUSE_RELEASEDIR : FUSE_RELEASE, node, &rl, sizeof(rl));
}

static void forget(uint64_t node, uint64_t n)
{
	struct fuse_forget_in f = { .nlookup = n };

	req(L("FORGET %#" PRIx64 " nlookup %" PRIu64, node, n), EXP_NONE, FUSE_FORGET, node, &f,
	    sizeof(f));
}

static const struct rep *do_read(uint64_t node, uint64_t fh, uint64_t off, uint32_t size,
				 int expect)
{
	struct fuse_read_in rd = { .fh = fh, .offset = off, .size = size };
	struct sopt o = { .size = size };

	return reqo(L("READ %#" PRIx64 " fh %#" PRIx64 " off %" PRIu64 " size %u", node, fh, off, size),
		    expect, FUSE_READ, node, &rd, sizeof(rd), &o);
}

static const struct rep *do_write(uint64_t node, uint64_t fh, uint64_t off, const char *data,
				  int expect)
{
	struct fuse_write_in wr = { .fh = fh, .offset = off, .size = (uint32_t)strlen(data) };
	struct mb m = { 0 };
	const struct rep *r;

	mb_add(&m, &wr, sizeof(wr));
	mb_add(&m, data, strlen(data));
	r = req(L("WRITE %#" PRIx64 " fh %#" PRIx64 " off %" PRIu64 " \"%s\"", node, fh, off, data),
		expect, FUSE_WRITE, node, m.p, m.n);
	mb_free(&m);
	return r;
}

static const struct rep *do_readdir(uint64_t node, uint64_t fh, uint64_t off, uint32_t size,
				    bool plus, int expect)
{
	struct fuse_read_in rd = { .fh = fh, .offset = off, .size = size };
	struct sopt o = { .size = size };

	return reqo(L("%s %#" PRIx64 " fh %#" PRIx64 " off %" PRIu64 " size %u",
		      plus ? "READDIRPLUS" : "READDIR", node, fh, off, size),
		    expect, plus ? FUSE_READDIRPLUS : FUSE_READDIR, node, &rd, sizeof(rd), &o);
}

/* Creates (or opens) name in parent: node and handle. */
static bool create(uint64_t parent, const char *name, uint64_t *node, uint64_t *fh)
{
	struct fuse_create_in c = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644 };
	const struct rep *r = reqn(L("CREATE %#" PRIx64 " \"%s\"", parent, name), EXP_OK, FUSE_CREATE,
				   parent, &c, sizeof(c), name, NULL);

	if (!r || r->error || r->len < sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out))
		return false;
	*node = ((const struct fuse_entry_out *)r->body)->nodeid;
	*fh = ((const struct fuse_open_out *)(r->body + sizeof(struct fuse_entry_out)))->fh;
	return true;
}

static bool init_session(uint32_t major, uint32_t minor, int expect)
{
	struct fuse_init_in in = {
		.major = major,
		.minor = minor,
		.max_readahead = 131072,
		.flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
			 FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_FLOCK_LOCKS |
			 FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
			 FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV |
			 FUSE_POSIX_ACL | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |
			 FUSE_HANDLE_KILLPRIV_V2 | FUSE_INIT_EXT,
	};
	const struct rep *r;

	if (!strcmp(W.mode, "pt"))
		in.flags2 = (uint32_t)(FUSE_PASSTHROUGH >> 32);
	r = req(L("INIT %u.%u", major, minor), expect, FUSE_INIT, 0, &in, sizeof(in));
	if (!r || r->error)
		return false;
	if (r->len >= sizeof(struct fuse_init_out)) {
		const struct fuse_init_out *o = (const void *)r->body;
		if (major == 7 && o->major != 7)
			fail("INIT reply: major %u", o->major);
		if (major == 7)
			W.max_write = o->max_write;
		if (W.verbose)
			printf("  (INIT reply %u.%u flags %#x flags2 %#x max_write %u max_pages %u)\n",
			       o->major, o->minor, o->flags, o->flags2, o->max_write, o->max_pages);
	}
	return true;
}

/* ------------------------------------------------------------ the cases */

static const uint64_t BAD_FH[] = { 0, 0xdeadbeef, UINT64_MAX, 0x7fffffff00000001ULL };

/* Node ids nothing was handed out for, and ids of the wrong generation. */
static void bad_ids(uint64_t *ids, const char **names, int *n)
{
	int i = 0;
	uint64_t f = lookup(ROOT, "file1");

	ids[i] = 0, names[i++] = "zero";
	ids[i] = UINT64_MAX, names[i++] = "UINT64_MAX";
	ids[i] = 0xdeadbeef, names[i++] = "0xdeadbeef";
	ids[i] = (1ULL << 32) | ROOT, names[i++] = "root's slot, generation 1";
	ids[i] = 0x00000000ffffffffULL, names[i++] = "slot 0xffffffff";
	if (f) {
		ids[i] = f ^ (1ULL << 32), names[i++] = "file1's slot, other generation";
		ids[i] = f + 1000, names[i++] = "file1 + 1000";
	}
	*n = i;
}

/* Every node operation on node id `id`, expecting an errno (strict) or
 * any reply. */
static void node_ops(uint64_t id, const char *what, bool strict)
{
	struct fuse_getattr_in ga = { 0 };
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFREG | 0600 };
	struct fuse_mknod_in mn = { .mode = S_IFREG | 0644 };
	struct fuse_mkdir_in md = { .mode = 0755 };
	struct fuse_rename_in rn = { .newdir = ROOT };
	struct fuse_rename2_in rn2 = { .newdir = ROOT };
	struct fuse_link_in ln = { .oldnodeid = id };
	struct fuse_open_in op = { .flags = O_RDONLY };
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644 };
	struct fuse_read_in rd = { .fh = 0, .size = 4096 };
	struct fuse_release_in rl = { 0 };
	struct fuse_flush_in fl = { 0 };
	struct fuse_fsync_in fs = { 0 };
	struct fuse_setxattr_in sx = { .size = 1 };
	struct fuse_getxattr_in gx = { .size = 64 };
	struct fuse_access_in ac = { .mask = R_OK };
	struct fuse_fallocate_in fa = { .length = 4096 };
	struct fuse_lseek_in ls = { .whence = SEEK_SET };
	struct fuse_copy_file_range_in cf = { .nodeid_out = ROOT, .len = 10 };
	struct fuse_forget_in fg = { .nlookup = 1 };
	struct mb m = { 0 };

#define E(x) (strict ? (x) : EXP_ANY)
	printf("  -- node id %#" PRIx64 " (%s)\n", id, what);
	reqn("LOOKUP \"file1\" in it", E(EXP_NEG), FUSE_LOOKUP, id, NULL, 0, "file1", NULL);
	req("GETATTR", E(EXP_ERR), FUSE_GETATTR, id, &ga, sizeof(ga));
	req("SETATTR mode", E(EXP_ERR), FUSE_SETATTR, id, &sa, sizeof(sa));
	req("READLINK", E(EXP_ERR), FUSE_READLINK, id, NULL, 0);
	reqn("SYMLINK \"wire-sl\" -> target", E(EXP_ERR), FUSE_SYMLINK, id, NULL, 0, "wire-sl", "target");
	reqn("MKNOD \"wire-nod\"", E(EXP_ERR), FUSE_MKNOD, id, &mn, sizeof(mn), "wire-nod", NULL);
	reqn("MKDIR \"wire-md\"", E(EXP_ERR), FUSE_MKDIR, id, &md, sizeof(md), "wire-md", NULL);
	reqn("UNLINK \"file1\"", E(EXP_ERR), FUSE_UNLINK, id, NULL, 0, "file1", NULL);
	reqn("RMDIR \"dir\"", E(EXP_ERR), FUSE_RMDIR, id, NULL, 0, "dir", NULL);
	reqn("RENAME \"file1\" -> root \"wire-x\"", E(EXP_ERR), FUSE_RENAME, id, &rn, sizeof(rn), "file1",
	     "wire-x");
	rn.newdir = id;
	reqn("RENAME root \"file2\" -> it \"wire-x\"", E(EXP_ERR), FUSE_RENAME, ROOT, &rn, sizeof(rn),
	     "file2", "wire-x");
	reqn("RENAME2 \"file1\" -> root \"wire-x\"", E(EXP_ERR), FUSE_RENAME2, id, &rn2, sizeof(rn2),
	     "file1", "wire-x");
	reqn("LINK it -> root \"wire-ln\"", E(EXP_ERR), FUSE_LINK, ROOT, &ln, sizeof(ln), "wire-ln", NULL);
	ln.oldnodeid = lookup(ROOT, "file2");
	reqn("LINK file2 -> it \"wire-ln\"", E(EXP_ERR), FUSE_LINK, id, &ln, sizeof(ln), "wire-ln", NULL);
	req("OPEN", E(EXP_ERR), FUSE_OPEN, id, &op, sizeof(op));
	op.flags = O_RDONLY | O_DIRECTORY;
	req("OPENDIR", E(EXP_ERR), FUSE_OPENDIR, id, &op, sizeof(op));
	reqn("CREATE \"wire-cr\"", E(EXP_ERR), FUSE_CREATE, id, &cr, sizeof(cr), "wire-cr", NULL);
	req("TMPFILE", E(EXP_ERR), FUSE_TMPFILE, id, &cr, sizeof(cr));
	req("READ fh 0", E(EXP_ERR), FUSE_READ, id, &rd, sizeof(rd));
	req("READDIR fh 0", E(EXP_ERR), FUSE_READDIR, id, &rd, sizeof(rd));
	req("READDIRPLUS fh 0", E(EXP_ERR), FUSE_READDIRPLUS, id, &rd, sizeof(rd));
	{
		struct fuse_write_in wr = { .fh = 0, .size = 4 };
		mb_add(&m, &wr, sizeof(wr));
		mb_add(&m, "data", 4);
		req("WRITE fh 0", E(EXP_ERR), FUSE_WRITE, id, m.p, m.n);
		mb_free(&m);
	}
	req("FLUSH fh 0", EXP_ANY, FUSE_FLUSH, id, &fl, sizeof(fl));
	req("FSYNC fh 0", E(EXP_ERR), FUSE_FSYNC, id, &fs, sizeof(fs));
	req("FSYNCDIR fh 0", E(EXP_ERR), FUSE_FSYNCDIR, id, &fs, sizeof(fs));
	req("FALLOCATE fh 0", E(EXP_ERR), FUSE_FALLOCATE, id, &fa, sizeof(fa));
	req("LSEEK fh 0", E(EXP_ERR), FUSE_LSEEK, id, &ls, sizeof(ls));
	req("COPY_FILE_RANGE fh 0 -> root", E(EXP_ERR), FUSE_COPY_FILE_RANGE, id, &cf, sizeof(cf));
	reqn("SETXATTR user.wire", E(EXP_ERR), FUSE_SETXATTR, id, &sx, 8, "user.wire", "v");
	reqn("GETXATTR user.test", E(EXP_ERR), FUSE_GETXATTR, id, &gx, sizeof(gx), "user.test", NULL);
	req("LISTXATTR", E(EXP_ERR), FUSE_LISTXATTR, id, &gx, sizeof(gx));
	reqn("REMOVEXATTR user.test", E(EXP_ERR), FUSE_REMOVEXATTR, id, NULL, 0, "user.test", NULL);
	req("ACCESS R_OK", E(EXP_ERR), FUSE_ACCESS, id, &ac, sizeof(ac));
	req("STATFS", EXP_ANY, FUSE_STATFS, id, NULL, 0);
	req("RELEASE fh 0", EXP_ANY, FUSE_RELEASE, id, &rl, sizeof(rl));
	req("RELEASEDIR fh 0", EXP_ANY, FUSE_RELEASEDIR, id, &rl, sizeof(rl));
	req("FORGET", EXP_NONE, FUSE_FORGET, id, &fg, sizeof(fg));
#undef E
}

static void c_ids_forged(int arg)
{
	(void)arg;
	uint64_t ids[8];
	const char *names[8];
	int n;

	bad_ids(ids, names, &n);
	for (int i = 0; i < n; i++)
		node_ops(ids[i], names[i], true);
}

/* A forgotten id: the daemon may keep it (a cache) or drop it, but it must
 * not come to mean another object. */
static void c_ids_stale(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "shadow"), again, other;
	struct fuse_getattr_in g = { 0 };
	const struct rep *r;
	struct fuse_attr a, sa = { 0 };

	getattr(f, &sa);
	forget(f, 1);
	other = lookup(ROOT, "owned");
	if (other && other == f)
		fail("the id of a forgotten node now names another file");
	r = req("GETATTR the forgotten id", EXP_ANY, FUSE_GETATTR, f, &g, sizeof(g));
	if (r && !r->error && r->len >= sizeof(struct fuse_attr_out) &&
	    ((const struct fuse_attr_out *)r->body)->attr.ino != sa.ino)
		fail("the forgotten id answers for inode %" PRIu64 ", shadow is %" PRIu64,
		     (uint64_t)((const struct fuse_attr_out *)r->body)->attr.ino, (uint64_t)sa.ino);
	node_ops(f, "shadow after FORGET of its only lookup", false);
	/* the kernel would look it up again: a working id */
	again = lookup(ROOT, "shadow");
	if (again && getattr(again, &a) && !S_ISREG(a.mode))
		fail("shadow looked up again is no regular file");
}

static void c_ids_file_as_dir(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "file1");
	struct fuse_mkdir_in md = { .mode = 0755 };
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644 };
	struct fuse_open_in op = { .flags = O_RDONLY | O_DIRECTORY };
	struct fuse_read_in rd = { .size = 4096 };

	reqn("LOOKUP file1 \"x\"", EXP_NEG, FUSE_LOOKUP, f, NULL, 0, "x", NULL);
	reqn("MKDIR file1 \"wire-md\"", EXP_ERR, FUSE_MKDIR, f, &md, sizeof(md), "wire-md", NULL);
	reqn("CREATE file1 \"wire-cr\"", EXP_ERR, FUSE_CREATE, f, &cr, sizeof(cr), "wire-cr", NULL);
	req("OPENDIR file1", EXP_ERR, FUSE_OPENDIR, f, &op, sizeof(op));
	req("READDIR file1 fh 0", EXP_ERR, FUSE_READDIR, f, &rd, sizeof(rd));
	reqn("UNLINK file1 \"x\"", EXP_ERR, FUSE_UNLINK, f, NULL, 0, "x", NULL);
}

/* ---- handles */

static void file_handle_ops(uint64_t node, uint64_t fh, uint64_t wnode, uint64_t wfh,
			    const char *what, int rw_expect, int rd_expect)
{
	struct fuse_flush_in fl = { .fh = fh };
	struct fuse_fsync_in fs = { .fh = fh };
	struct fuse_fallocate_in fa = { .fh = fh, .length = 4096 };
	struct fuse_lseek_in ls = { .fh = fh, .whence = SEEK_END };
	struct fuse_copy_file_range_in cf = { .fh_in = fh, .nodeid_out = wnode, .fh_out = wfh,
					      .len = 4 };
	struct fuse_setattr_in sa = { .valid = FATTR_FH | FATTR_SIZE, .fh = fh, .size = 3 };
	struct fuse_getattr_in ga = { .getattr_flags = FUSE_GETATTR_FH, .fh = fh };

	printf("  -- file handle %#" PRIx64 " (%s)\n", fh, what);
	do_read(node, fh, 0, 4096, rw_expect);
	do_write(node, fh, 0, "forged", rw_expect);
	req("FLUSH", EXP_ANY, FUSE_FLUSH, node, &fl, sizeof(fl));
	req("FSYNC", EXP_ANY, FUSE_FSYNC, node, &fs, sizeof(fs));
	req("FALLOCATE", EXP_ANY, FUSE_FALLOCATE, node, &fa, sizeof(fa));
	req("LSEEK SEEK_END", rw_expect, FUSE_LSEEK, node, &ls, sizeof(ls));
	req("COPY_FILE_RANGE it -> writable", rw_expect, FUSE_COPY_FILE_RANGE, node, &cf, sizeof(cf));
	cf = (struct fuse_copy_file_range_in){ .fh_in = wfh, .nodeid_out = node, .fh_out = fh,
					       .len = 4 };
	req("COPY_FILE_RANGE writable -> it", rw_expect, FUSE_COPY_FILE_RANGE, wnode, &cf, sizeof(cf));
	req("SETATTR FATTR_FH size 3", EXP_ANY, FUSE_SETATTR, node, &sa, sizeof(sa));
	req("GETATTR GETATTR_FH", EXP_ANY, FUSE_GETATTR, node, &ga, sizeof(ga));
	do_readdir(node, fh, 0, 4096, false, rd_expect);
	do_readdir(node, fh, 0, 4096, true, rd_expect);
}

static void dir_handle_ops(uint64_t node, uint64_t fh, const char *what, int expect,
			   int read_expect)
{
	struct fuse_fsync_in fs = { .fh = fh };

	printf("  -- directory handle %#" PRIx64 " (%s)\n", fh, what);
	do_readdir(node, fh, 0, 4096, false, expect);
	do_readdir(node, fh, 0, 4096, true, expect);
	do_readdir(node, fh, 3, 4096, false, expect);
	req("FSYNCDIR", EXP_ANY, FUSE_FSYNCDIR, node, &fs, sizeof(fs));
	do_read(node, fh, 0, 4096, read_expect);
}

static void c_handles_forged(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "file2"), w = lookup(ROOT, "shadow");
	uint64_t fh = open_node(f, O_RDONLY, false), wfh = open_node(w, O_RDWR, false);
	uint64_t dfh = open_node(ROOT, O_RDONLY | O_DIRECTORY, true);

	for (size_t i = 0; i < sizeof(BAD_FH) / sizeof(BAD_FH[0]); i++)
		file_handle_ops(f, BAD_FH[i], w, wfh, "forged", EXP_ERR, EXP_ERR);
	file_handle_ops(f, fh ^ (1ULL << 32), w, wfh, "file2's handle, other generation", EXP_ERR,
			EXP_ERR);
	file_handle_ops(f, fh + 1000, w, wfh, "file2's handle + 1000", EXP_ERR, EXP_ERR);
	file_handle_ops(f, dfh, w, wfh, "the root's directory handle", EXP_ERR, EXP_ANY);
	file_handle_ops(ROOT, fh, w, wfh, "file2's handle, sent for the root", EXP_ANY, EXP_ERR);
	for (size_t i = 0; i < sizeof(BAD_FH) / sizeof(BAD_FH[0]); i++)
		dir_handle_ops(ROOT, BAD_FH[i], "forged", EXP_ERR, EXP_ERR);
	dir_handle_ops(ROOT, dfh ^ (1ULL << 32), "root's handle, other generation", EXP_ERR, EXP_ERR);
	dir_handle_ops(ROOT, fh, "file2's file handle", EXP_ERR, EXP_ANY);
	dir_handle_ops(f, dfh, "root's handle, sent for file2", EXP_ANY, EXP_ERR);
	/* the real ones still work */
	do_read(f, fh, 0, 4096, EXP_OK);
	do_readdir(ROOT, dfh, 0, 4096, false, EXP_OK);
	for (size_t i = 0; i < sizeof(BAD_FH) / sizeof(BAD_FH[0]); i++) {
		release(f, BAD_FH[i], false, EXP_ANY);
		release(ROOT, BAD_FH[i], true, EXP_ANY);
	}
	release(f, dfh, false, EXP_ANY);    /* a directory handle released as a file */
	release(ROOT, fh, true, EXP_ANY);   /* and the reverse */
	do_read(f, fh, 0, 4096, EXP_ANY);
	do_readdir(ROOT, dfh, 0, 4096, false, EXP_ANY);
	release(f, fh, false, EXP_ANY);
	release(w, wfh, false, EXP_ANY);
	release(ROOT, dfh, true, EXP_ANY);
}

static void c_handles_double_release(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "file2"), s = lookup(ROOT, "shadow"), d;
	uint64_t fh = open_node(f, O_RDONLY, false), fh2, dfh, dfh2;

	do_read(f, fh, 0, 4096, EXP_OK);
	release(f, fh, false, EXP_OK);
	release(f, fh, false, EXP_ANY);
	file_handle_ops(f, fh, s, 0, "released", EXP_ERR, EXP_ERR);
	release(f, fh, false, EXP_ANY);
	/* the slot is handed out again: the old id must not reach the new file */
	fh2 = open_node(s, O_RDONLY, false);
	if (fh2 && fh2 == fh)
		fail("a released handle id was handed out again unchanged");
	do_read(f, fh, 0, 4096, EXP_ERR);
	release(f, fh, false, EXP_ANY);
	do_read(s, fh2, 0, 4096, EXP_OK);
	release(s, fh2, false, EXP_OK);

	dfh = open_node(ROOT, O_RDONLY | O_DIRECTORY, true);
	do_readdir(ROOT, dfh, 0, 4096, false, EXP_OK);
	release(ROOT, dfh, true, EXP_OK);
	release(ROOT, dfh, true, EXP_ANY);
	dir_handle_ops(ROOT, dfh, "released", EXP_ERR, EXP_ERR);
	d = lookup(ROOT, "dir");
	dfh2 = open_node(d, O_RDONLY | O_DIRECTORY, true);
	if (dfh2 && dfh2 == dfh)
		fail("a released directory handle id was handed out again unchanged");
	do_readdir(ROOT, dfh, 0, 4096, false, EXP_ERR);
	release(ROOT, dfh, true, EXP_ANY);
	do_readdir(d, dfh2, 0, 4096, false, EXP_OK);
	release(d, dfh2, true, EXP_OK);
}

/* Requests sent back to back without waiting: workers race on one handle. */
static void c_handles_race(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "sparse");

	for (int round = 0; round < 20; round++) {
		uint64_t fh = open_node(f, round & 1 ? O_RDWR : O_RDONLY, false);
		struct fuse_read_in rd = { .fh = fh, .size = 65536 };
		struct fuse_release_in rl = { .fh = fh };
		struct fuse_flush_in fl = { .fh = fh };
		struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_DATA };
		struct sopt o = { .size = 65536 };
		uint64_t u[8] = { 0 };
		int n = 0;

		send_req(FUSE_READ, f, &rd, sizeof(rd), EXP_ANY, &o, &u[n++]);
		send_req(FUSE_LSEEK, f, &ls, sizeof(ls), EXP_ANY, NULL, &u[n++]);
		send_req(FUSE_RELEASE, f, &rl, sizeof(rl), EXP_ANY, NULL, &u[n++]);
		send_req(FUSE_READ, f, &rd, sizeof(rd), EXP_ANY, &o, &u[n++]);
		send_req(FUSE_RELEASE, f, &rl, sizeof(rl), EXP_ANY, NULL, &u[n++]);
		send_req(FUSE_FLUSH, f, &fl, sizeof(fl), EXP_ANY, NULL, &u[n++]);
		send_req(FUSE_READ, f, &rd, sizeof(rd), EXP_ANY, &o, &u[n++]);
		for (int i = 0; i < n; i++)
			if (u[i] && !wait_reply(u[i]))
				fail("round %d: request %d got no reply", round, i);
	}
	printf("  20 rounds of READ, LSEEK, RELEASE, READ, RELEASE, FLUSH, READ on one handle, "
	       "not waiting in between: all answered\n");
	/* and the same for directories */
	for (int round = 0; round < 20; round++) {
		uint64_t dfh = open_node(ROOT, O_RDONLY | O_DIRECTORY, true);
		struct fuse_read_in rd = { .fh = dfh, .size = 4096 };
		struct fuse_release_in rl = { .fh = dfh };
		struct sopt o = { .size = 4096 };
		uint64_t u[6] = { 0 };
		int n = 0;

		send_req(FUSE_READDIRPLUS, ROOT, &rd, sizeof(rd), EXP_ANY, &o, &u[n++]);
		send_req(FUSE_RELEASEDIR, ROOT, &rl, sizeof(rl), EXP_ANY, NULL, &u[n++]);
		send_req(FUSE_READDIR, ROOT, &rd, sizeof(rd), EXP_ANY, &o, &u[n++]);
		send_req(FUSE_RELEASEDIR, ROOT, &rl, sizeof(rl), EXP_ANY, NULL, &u[n++]);
		for (int i = 0; i < n; i++)
			if (u[i] && !wait_reply(u[i]))
				fail("round %d: directory request %d got no reply", round, i);
	}
	printf("  20 rounds of READDIRPLUS, RELEASEDIR, READDIR, RELEASEDIR on one handle: all "
	       "answered\n");
}

/* ---- forget */

static void batch_forget(const char *label, const struct fuse_forget_one *f, uint32_t n,
			 uint32_t count)
{
	struct fuse_batch_forget_in b = { .count = count };
	struct mb m = { 0 };

	mb_add(&m, &b, sizeof(b));
	mb_add(&m, f, n * sizeof(*f));
	req(label, EXP_NONE, FUSE_BATCH_FORGET, 0, m.p, m.n);
	mb_free(&m);
}

static void c_forget_unknown(int arg)
{
	(void)arg;
	uint64_t ids[8];
	const char *names[8];
	int n;
	struct fuse_forget_one fo[8];

	bad_ids(ids, names, &n);
	for (int i = 0; i < n; i++) {
		forget(ids[i], 1);
		forget(ids[i], UINT64_MAX);
		fo[i] = (struct fuse_forget_one){ .nodeid = ids[i], .nlookup = UINT64_MAX };
	}
	batch_forget("BATCH_FORGET of all of them, nlookup UINT64_MAX", fo, (uint32_t)n, (uint32_t)n);
	batch_forget("BATCH_FORGET count 0", NULL, 0, 0);
	lookup(ROOT, "file1");
}

static void c_forget_counts(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "file1"), f2;
	struct fuse_attr a;

	lookup(ROOT, "file1");   /* nlookup 2 */
	forget(f, 1);
	getattr(f, &a);          /* one lookup left: must work */
	forget(f, 0);
	getattr(f, &a);
	forget(f, UINT64_MAX);   /* more than it has */
	{
		struct fuse_getattr_in g = { 0 };
		req("GETATTR file1 after FORGET UINT64_MAX", EXP_ANY, FUSE_GETATTR, f, &g, sizeof(g));
	}
	forget(f, 1);
	forget(f, UINT64_MAX);
	f2 = lookup(ROOT, "file1");
	getattr(f2, &a);
	{
		/* the same node many times in one batch */
		struct fuse_forget_one fo[64];
		uint64_t d = lookup(ROOT, "dir");
		for (int i = 0; i < 64; i++)
			fo[i] = (struct fuse_forget_one){ .nodeid = i & 1 ? d : f2,
							  .nlookup = i < 32 ? 1 : UINT64_MAX };
		batch_forget("BATCH_FORGET file1 and dir, 64 times each", fo, 64, 64);
		d = lookup(ROOT, "dir");
		lookup(d, "a");
		f2 = lookup(ROOT, "file1");
		getattr(f2, &a);
	}
	/* a node with children forgotten before them */
	{
		uint64_t d = lookup(ROOT, "dir"), sub = lookup(d, "sub"), deep = lookup(sub, "deep");
		forget(d, 1);
		forget(sub, 1);
		getattr(deep, &a);
		lookup(sub, "deep");
		forget(deep, 2);
	}
}

static void c_forget_root(int arg)
{
	(void)arg;
	struct fuse_forget_one fo = { .nodeid = ROOT, .nlookup = 1 };
	struct fuse_getattr_in g = { 0 };

	forget(ROOT, 1);
	req("GETATTR root", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g));
	forget(ROOT, UINT64_MAX);
	batch_forget("BATCH_FORGET root", &fo, 1, 1);
	req("GETATTR root", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g));
	reqn("LOOKUP root \"file1\"", EXP_ANY, FUSE_LOOKUP, ROOT, NULL, 0, "file1", NULL);
	{
		struct fuse_read_in rd = { .size = 4096 };
		struct fuse_open_in op = { .flags = O_RDONLY | O_DIRECTORY };
		const struct rep *r = req("OPENDIR root", EXP_ANY, FUSE_OPENDIR, ROOT, &op, sizeof(op));
		if (r && !r->error && r->len >= sizeof(struct fuse_open_out)) {
			rd.fh = ((const struct fuse_open_out *)r->body)->fh;
			do_readdir(ROOT, rd.fh, 0, 4096, true, EXP_ANY);
			release(ROOT, rd.fh, true, EXP_ANY);
		}
	}
}

/* ---- names */

static void lookup_name(uint64_t parent, const char *name, const char *show, int expect)
{
	reqn(L("LOOKUP %#" PRIx64 " %s", parent, show), expect, FUSE_LOOKUP, parent, NULL, 0,
	     name, NULL);
}

/* ".." must not lead out of the mount: an entry for it is the parent. */
static void dotdot(uint64_t parent, const char *what, uint64_t want_ino)
{
	const struct rep *r = reqn(L("LOOKUP %s \"..\"", what), EXP_ANY, FUSE_LOOKUP, parent, NULL, 0,
				   "..", NULL);

	if (r && !r->error && r->len >= sizeof(struct fuse_entry_out)) {
		const struct fuse_entry_out *e = (const void *)r->body;
		if (e->nodeid && e->attr.ino != want_ino)
			fail("LOOKUP %s \"..\": inode %" PRIu64 ", its parent's is %" PRIu64
			     " (out of the mount?)", what, (uint64_t)e->attr.ino, want_ino);
	}
}

static void c_names_lookup(int arg)
{
	(void)arg;
	static char n255[256], n256[257], n4000[4001], n5000[5001];
	struct fuse_attr root, a;
	uint64_t d;

	memset(n255, 'a', 255);
	memset(n256, 'a', 256);
	memset(n4000, 'a', 4000);
	memset(n5000, 'a', 5000);
	getattr(ROOT, &root);
	lookup_name(ROOT, "", "\"\"", EXP_NEG);
	lookup_name(ROOT, ".", "\".\"", EXP_ANY);
	dotdot(ROOT, "root", root.ino);
	d = lookup(ROOT, "dir");
	dotdot(d, "dir", root.ino);
	lookup_name(ROOT, "dir/a", "\"dir/a\"", EXP_NEG);
	lookup_name(ROOT, "dir/", "\"dir/\"", EXP_NEG);
	lookup_name(ROOT, "/etc", "\"/etc\"", EXP_NEG);
	lookup_name(ROOT, "../upper", "\"../upper\"", EXP_NEG);
	lookup_name(ROOT, "../../../../etc/passwd", "\"../../../../etc/passwd\"", EXP_NEG);
	lookup_name(d, "../file1", "\"../file1\" in dir", EXP_NEG);
	lookup_name(ROOT, ".wh.gone", "\".wh.gone\"", EXP_ANY);
	lookup_name(ROOT, "gone", "\"gone\" (a whiteout)", EXP_NEG);
	lookup_name(ROOT, n255, "255 x 'a'", EXP_NEG);
	lookup_name(ROOT, n256, "256 x 'a'", EXP_NEG);
	lookup_name(ROOT, n4000, "4000 x 'a'", EXP_NEG);
	lookup_name(ROOT, n5000, "5000 x 'a'", EXP_NEG);
	lookup_name(ROOT, "\xff\xfe\x01\x7f", "bytes ff fe 01 7f", EXP_NEG);
	/* still sane */
	if (getattr(ROOT, &a) && a.ino != root.ino)
		fail("the root's inode changed");
}

static void c_names_create(int arg)
{
	(void)arg;
	static const char *const bad[] = {
		"", ".", "..", "ovl-escape/x", "../ovl-escape", "../../ovl-escape",
		"/tmp/ovl-escape", "dir/ovl-escape", NULL,
	};
	struct fuse_mknod_in mn = { .mode = S_IFREG | 0644 };
	struct fuse_mkdir_in md = { .mode = 0755 };
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT | O_EXCL, .mode = S_IFREG | 0644 };
	struct fuse_rename_in rn = { .newdir = ROOT };
	struct fuse_link_in ln = { .oldnodeid = lookup(ROOT, "file1") };
	struct fuse_setxattr_in sx = { .size = 1 };
	uint64_t d = lookup(ROOT, "dir");

	for (int i = 0; bad[i]; i++) {
		const char *n = bad[i];
		printf("  -- name \"%s\"\n", n);
		reqn("MKNOD", EXP_ERR, FUSE_MKNOD, ROOT, &mn, sizeof(mn), n, NULL);
		reqn("MKDIR", EXP_ERR, FUSE_MKDIR, ROOT, &md, sizeof(md), n, NULL);
		reqn("CREATE", EXP_ERR, FUSE_CREATE, ROOT, &cr, sizeof(cr), n, NULL);
		reqn("SYMLINK", EXP_ERR, FUSE_SYMLINK, ROOT, NULL, 0, n, "target");
		reqn("LINK file1 to it", EXP_ERR, FUSE_LINK, ROOT, &ln, sizeof(ln), n, NULL);
		reqn("RENAME file2 to it", EXP_ERR, FUSE_RENAME, ROOT, &rn, sizeof(rn), "file2", n);
		reqn("RENAME it to wire-ren", EXP_ERR, FUSE_RENAME, ROOT, &rn, sizeof(rn), n, "wire-ren");
		reqn("UNLINK", EXP_ERR, FUSE_UNLINK, ROOT, NULL, 0, n, NULL);
		reqn("RMDIR", EXP_ERR, FUSE_RMDIR, ROOT, NULL, 0, n, NULL);
		reqn("RMDIR in dir", EXP_ERR, FUSE_RMDIR, d, NULL, 0, n, NULL);
	}
	reqn("SETXATTR name \"\"", EXP_ERR, FUSE_SETXATTR, ROOT, &sx, 8, "", "v");
	{
		static char n300[301];
		memset(n300, 'u', 300);
		memcpy(n300, "user.", 5);
		reqn("SETXATTR name of 300 bytes", EXP_ERR, FUSE_SETXATTR, ROOT, &sx, 8, n300, "v");
	}
	/* the file they were made from is untouched */
	lookup(ROOT, "file2");
}

static void c_names_link_rename(int arg)
{
	(void)arg;
	uint64_t d = lookup(ROOT, "dir"), sub = lookup(d, "sub"), f = lookup(ROOT, "file1");
	uint64_t f2 = lookup(ROOT, "file2");
	struct fuse_link_in ln = { .oldnodeid = ROOT };
	struct fuse_rename_in rn = { .newdir = sub };
	struct fuse_rename2_in rn2 = { .newdir = ROOT };
	struct fuse_attr a;
	const struct rep *r;

	reqn("LINK root -> root \"wire-rootlink\"", EXP_ERR, FUSE_LINK, ROOT, &ln, sizeof(ln),
	     "wire-rootlink", NULL);
	reqn("LINK root -> dir \"wire-rootlink\"", EXP_ERR, FUSE_LINK, d, &ln, sizeof(ln),
	     "wire-rootlink", NULL);
	ln.oldnodeid = d;
	reqn("LINK dir -> root \"wire-dirlink\"", EXP_ERR, FUSE_LINK, ROOT, &ln, sizeof(ln),
	     "wire-dirlink", NULL);
	reqn("LINK dir -> dir/sub \"wire-dirlink\"", EXP_ERR, FUSE_LINK, sub, &ln, sizeof(ln),
	     "wire-dirlink", NULL);
	ln.oldnodeid = f;
	reqn("LINK file1 -> file2 (no directory) \"x\"", EXP_ERR, FUSE_LINK, f2, &ln, sizeof(ln), "x",
	     NULL);
	reqn("LINK file1 -> root \"file2\" (exists)", EXP_ERR, FUSE_LINK, ROOT, &ln, sizeof(ln), "file2",
	     NULL);
	reqn("RENAME root \"dir\" -> dir/sub \"loop\"", EXP_ERR, FUSE_RENAME, ROOT, &rn, sizeof(rn), "dir",
	     "loop");
	rn.newdir = d;
	reqn("RENAME root \"dir\" -> dir \"self\"", EXP_ERR, FUSE_RENAME, ROOT, &rn, sizeof(rn), "dir",
	     "self");
	rn.newdir = ROOT;
	reqn("RENAME dir \"..\" -> root \"x\"", EXP_ERR, FUSE_RENAME, d, &rn, sizeof(rn), "..", "x");
	reqn("RENAME root \"file1\" -> file2 \"x\"", EXP_ERR, FUSE_RENAME, ROOT,
	     &(struct fuse_rename_in){ .newdir = f2 }, sizeof(rn), "file1", "x");
	rn2.flags = 0xffff;
	reqn("RENAME2 flags 0xffff", EXP_ERR, FUSE_RENAME2, ROOT, &rn2, sizeof(rn2), "file1", "wire-x");
	rn2.flags = RENAME_EXCHANGE | RENAME_NOREPLACE;
	reqn("RENAME2 EXCHANGE|NOREPLACE", EXP_ERR, FUSE_RENAME2, ROOT, &rn2, sizeof(rn2), "file1",
	     "file2");
	rn2.flags = RENAME_EXCHANGE;
	reqn("RENAME2 EXCHANGE with a missing name", EXP_ERR, FUSE_RENAME2, ROOT, &rn2, sizeof(rn2),
	     "file1", "wire-missing");
	rn2.newdir = sub;
	reqn("RENAME2 EXCHANGE dir <-> dir/sub/deep", EXP_ERR, FUSE_RENAME2, ROOT, &rn2, sizeof(rn2),
	     "dir", "deep");
	{
		/* directories of the upper layer only: no EXDEV to hide behind */
		struct fuse_mkdir_in md = { .mode = 0755 };
		uint64_t d1 = 0, d2 = 0;
		r = reqn("MKDIR root \"wire-d1\"", EXP_OK, FUSE_MKDIR, ROOT, &md, sizeof(md), "wire-d1",
			 NULL);
		if (r && !r->error)
			d1 = ((const struct fuse_entry_out *)r->body)->nodeid;
		r = reqn("MKDIR wire-d1 \"wire-d2\"", EXP_OK, FUSE_MKDIR, d1, &md, sizeof(md), "wire-d2",
			 NULL);
		if (r && !r->error)
			d2 = ((const struct fuse_entry_out *)r->body)->nodeid;
		rn.newdir = d2;
		reqn("RENAME root \"wire-d1\" -> wire-d1/wire-d2 \"loop\"", EXP_ERR, FUSE_RENAME, ROOT,
		     &rn, sizeof(rn), "wire-d1", "loop");
		rn.newdir = d1;
		reqn("RENAME root \"wire-d1\" -> wire-d1 \"self\"", EXP_ERR, FUSE_RENAME, ROOT, &rn,
		     sizeof(rn), "wire-d1", "self");
		rn2 = (struct fuse_rename2_in){ .newdir = d1, .flags = RENAME_EXCHANGE };
		reqn("RENAME2 EXCHANGE wire-d1 <-> wire-d1/wire-d2", EXP_ERR, FUSE_RENAME2, ROOT, &rn2,
		     sizeof(rn2), "wire-d1", "wire-d2");
		rn2 = (struct fuse_rename2_in){ .newdir = ROOT, .flags = RENAME_EXCHANGE };
		reqn("RENAME2 EXCHANGE wire-d1/wire-d2 <-> wire-d1", EXP_ERR, FUSE_RENAME2, d1, &rn2,
		     sizeof(rn2), "wire-d2", "wire-d1");
		if (d2 && getattr(d2, &a) && !S_ISDIR(a.mode))
			fail("wire-d1/wire-d2 is no directory any more");
		lookup(d1, "wire-d2");
	}
	/* the tree is still whole */
	d = lookup(ROOT, "dir");
	if (d && getattr(d, &a) && !S_ISDIR(a.mode))
		fail("dir is no directory any more");
	lookup(ROOT, "file1");
}

/* Names that exist, most only in a lower layer: the kernel finds them
 * before it would send a create, a forged request does not. Each operation
 * gets targets of its own (a wrong success replaces the target). */
struct existing {
	const char *op, *name;
	int expect;
};

static void one_existing(const struct existing *x, uint64_t src, uint64_t srcdir)
{
	struct fuse_mknod_in mn = { .mode = S_IFREG | 0644 };
	struct fuse_mkdir_in md = { .mode = 0755 };
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT | O_EXCL, .mode = S_IFREG | 0644 };
	struct fuse_link_in ln = { .oldnodeid = src };
	struct fuse_rename2_in rn2 = { .newdir = ROOT, .flags = RENAME_NOREPLACE };
	struct fuse_rename_in rn = { .newdir = ROOT };
	struct fuse_attr before, after;
	uint64_t parent = ROOT, node;
	const char *name = x->name, *slash = strchr(name, '/');
	char dir[64];

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		parent = lookup(ROOT, dir);
		name = slash + 1;
	}
	node = lookup(parent, name);
	if (!getattr(node, &before))
		return;
	rn2.newdir = rn.newdir = parent;
	if (!strcmp(x->op, "MKNOD"))
		reqn(L("MKNOD \"%s\"", x->name), x->expect, FUSE_MKNOD, parent, &mn, sizeof(mn), name,
		     NULL);
	else if (!strcmp(x->op, "MKDIR"))
		reqn(L("MKDIR \"%s\"", x->name), x->expect, FUSE_MKDIR, parent, &md, sizeof(md), name,
		     NULL);
	else if (!strcmp(x->op, "SYMLINK"))
		reqn(L("SYMLINK \"%s\"", x->name), x->expect, FUSE_SYMLINK, parent, NULL, 0, name,
		     "target");
	else if (!strcmp(x->op, "CREATE"))
		reqn(L("CREATE O_EXCL \"%s\"", x->name), x->expect, FUSE_CREATE, parent, &cr,
		     sizeof(cr), name, NULL);
	else if (!strcmp(x->op, "LINK"))
		reqn(L("LINK wire-src to \"%s\"", x->name), x->expect, FUSE_LINK, parent, &ln,
		     sizeof(ln), name, NULL);
	else if (!strcmp(x->op, "RENAME2"))
		reqn(L("RENAME2 NOREPLACE wire-src to \"%s\"", x->name), x->expect, FUSE_RENAME2, ROOT,
		     &rn2, sizeof(rn2), "wire-src", name);
	else if (!strcmp(x->op, "RENAME"))
		reqn(L("RENAME wire-src (a file) onto \"%s\"", x->name), x->expect, FUSE_RENAME, ROOT,
		     &rn, sizeof(rn), "wire-src", name);
	else if (!strcmp(x->op, "RENAMEDIR"))
		reqn(L("RENAME wire-srcdir (a directory) onto \"%s\"", x->name), x->expect,
		     FUSE_RENAME, ROOT, &rn, sizeof(rn), "wire-srcdir", name);
	(void)srcdir;
	node = lookup(parent, name);
	if (node && getattr(node, &after) &&
	    (after.ino != before.ino || after.mode != before.mode || after.size != before.size))
		fail("\"%s\" was replaced: inode %" PRIu64 " mode %o size %" PRIu64 " became inode %"
		     PRIu64 " mode %o size %" PRIu64, x->name, (uint64_t)before.ino, before.mode,
		     (uint64_t)before.size, (uint64_t)after.ino, after.mode, (uint64_t)after.size);
}

static void c_names_existing(int arg)
{
	(void)arg;
	static const struct existing xs[] = {
		{ "MKNOD", "owned", EEXIST },        /* a file of lower2 */
		{ "MKNOD", "merged", EEXIST },       /* a directory of both lowers */
		{ "MKDIR", "xattr_file", EEXIST },
		{ "SYMLINK", "suid", EEXIST },       /* lower1 */
		{ "CREATE", "dangling", EEXIST },    /* a dangling symlink of lower1 */
		{ "LINK", "file2", EEXIST },
		{ "LINK", "opq", EEXIST },           /* an opaque directory */
		{ "RENAME2", "dir/b", EEXIST },      /* lower2, in a merged directory */
		{ "RENAME", "dir/sub", EISDIR },     /* a directory of lower2 */
		{ "RENAMEDIR", "dir/c", ENOTDIR },   /* a file of lower1 */
		{ NULL, NULL, 0 },
	};
	struct fuse_mkdir_in md = { .mode = 0755 };
	uint64_t src = 0, fh = 0;

	create(ROOT, "wire-src", &src, &fh);
	release(src, fh, false, EXP_OK);
	reqn("MKDIR \"wire-srcdir\"", EXP_OK, FUSE_MKDIR, ROOT, &md, sizeof(md), "wire-srcdir", NULL);
	for (int i = 0; xs[i].op; i++)
		one_existing(&xs[i], src, 0);
}

/* ---- sizes */

static void c_sizes(int arg)
{
	(void)arg;
	uint64_t f = lookup(ROOT, "file1"), s = lookup(ROOT, "sparse"), x = lookup(ROOT, "xattr_file");
	uint64_t fh = open_node(f, O_RDONLY, false), sfh = open_node(s, O_RDONLY, false);
	uint64_t w = 0, wfh = 0, dfh = open_node(ROOT, O_RDONLY | O_DIRECTORY, true);
	struct fuse_attr a;

	create(ROOT, "wire-sizes", &w, &wfh);
	printf("  -- READ\n");
	do_read(f, fh, 0, 0, EXP_ANY);
	do_read(f, fh, 0, UINT32_MAX, EXP_ANY);
	do_read(s, sfh, 0, 4 << 20, EXP_ANY);
	do_read(f, fh, INT64_MAX, 4096, EXP_ANY);
	do_read(f, fh, UINT64_MAX, 4096, EXP_ANY);
	do_read(f, fh, (uint64_t)-4096, 4096, EXP_ANY);
	printf("  -- READDIR\n");
	do_readdir(ROOT, dfh, 0, 0, false, EXP_ANY);
	do_readdir(ROOT, dfh, 0, 1, false, EXP_ANY);
	do_readdir(ROOT, dfh, 0, UINT32_MAX, false, EXP_ANY);
	do_readdir(ROOT, dfh, 0, UINT32_MAX, true, EXP_ANY);
	do_readdir(ROOT, dfh, 0xdeadbeef, 4096, false, EXP_ANY);
	do_readdir(ROOT, dfh, UINT64_MAX, 4096, true, EXP_ANY);
	do_readdir(ROOT, dfh, (uint64_t)-2, 4096, false, EXP_ANY);
	do_readdir(ROOT, dfh, 0, 4096, true, EXP_OK);
	printf("  -- WRITE\n");
	{
		struct fuse_write_in wr = { .fh = wfh, .size = 1 << 20 };
		struct mb m = { 0 };
		mb_add(&m, &wr, sizeof(wr));
		mb_add(&m, "0123456789", 10);
		req("WRITE size 1 MiB, 10 bytes sent", EXP_ERR, FUSE_WRITE, w, m.p, m.n);
		((struct fuse_write_in *)m.p)->size = UINT32_MAX;
		req("WRITE size UINT32_MAX, 10 bytes sent", EXP_ERR, FUSE_WRITE, w, m.p, m.n);
		((struct fuse_write_in *)m.p)->size = 2;
		req("WRITE size 2, 10 bytes sent", EXP_ANY, FUSE_WRITE, w, m.p, m.n);
		((struct fuse_write_in *)m.p)->size = 0;
		req("WRITE size 0", EXP_ANY, FUSE_WRITE, w, m.p, m.n);
		((struct fuse_write_in *)m.p)->size = 10;
		((struct fuse_write_in *)m.p)->offset = INT64_MAX - 4;
		req("WRITE at INT64_MAX - 4", EXP_ERR, FUSE_WRITE, w, m.p, m.n);
		((struct fuse_write_in *)m.p)->offset = (uint64_t)-1;
		req("WRITE at offset -1", EXP_ERR, FUSE_WRITE, w, m.p, m.n);
		mb_free(&m);
	}
	printf("  -- xattrs\n");
	{
		struct fuse_getxattr_in gx = { .size = UINT32_MAX };
		struct sopt o = { .size = UINT32_MAX };
		struct mb m = { 0 };
		mb_add(&m, &gx, sizeof(gx));
		mb_str(&m, "user.test");
		reqo("GETXATTR user.test size UINT32_MAX", EXP_ANY, FUSE_GETXATTR, x, m.p, m.n, &o);
		reqo("LISTXATTR size UINT32_MAX", EXP_ANY, FUSE_LISTXATTR, x, &gx, sizeof(gx), &o);
		gx.size = 1;
		o.size = 1;
		mb_free(&m);
		mb_add(&m, &gx, sizeof(gx));
		mb_str(&m, "user.test");
		reqo("GETXATTR user.test size 1", EXP_ERR, FUSE_GETXATTR, x, m.p, m.n, &o);
		reqo("LISTXATTR size 1", EXP_ERR, FUSE_LISTXATTR, x, &gx, sizeof(gx), &o);
		mb_free(&m);
	}
	{
		/* a value size larger than the message: libfuse hands the daemon a
		 * pointer into its buffer and that size, unchecked */
		struct fuse_setxattr_in sx = { .size = UINT32_MAX };
		struct fuse_getxattr_in gx = { .size = 0 };
		const struct rep *r;
		reqn("SETXATTR user.wire size UINT32_MAX, 3 bytes sent", EXP_ERR, FUSE_SETXATTR, w, &sx, 8,
		     "user.wire", "abc");
		sx.size = 65536 + 1;
		reqn("SETXATTR user.wire size 65537, 3 bytes sent", EXP_ERR, FUSE_SETXATTR, w, &sx, 8,
		     "user.wire", "abc");
		sx.size = 1000;
		reqn("SETXATTR user.wire size 1000, 3 bytes sent", EXP_ANY, FUSE_SETXATTR, w, &sx, 8,
		     "user.wire", "abc");
		r = reqn("GETXATTR user.wire size 0", EXP_ANY, FUSE_GETXATTR, w, &gx, sizeof(gx),
			 "user.wire", NULL);
		if (r && !r->error && r->len >= sizeof(struct fuse_getxattr_out))
			printf("  NOTE: user.wire holds %u bytes, 3 were sent: the rest is whatever "
			       "followed the message in libfuse's buffer\n",
			       ((const struct fuse_getxattr_out *)r->body)->size);
		sx.size = 0;
		sx.flags = 0xffffffff;
		reqn("SETXATTR flags 0xffffffff", EXP_ERR, FUSE_SETXATTR, w, &sx, 8, "user.wire", "");
	}
	printf("  -- SETATTR\n");
	{
		struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = (uint64_t)INT64_MAX + 1 };
		req("SETATTR size 2^63", EXP_ERR, FUSE_SETATTR, w, &sa, sizeof(sa));
		sa.size = UINT64_MAX;
		req("SETATTR size UINT64_MAX", EXP_ERR, FUSE_SETATTR, w, &sa, sizeof(sa));
		sa = (struct fuse_setattr_in){ .valid = FATTR_MODE, .mode = S_IFDIR | 07777 };
		req("SETATTR mode S_IFDIR|07777 on a file", EXP_ANY, FUSE_SETATTR, w, &sa, sizeof(sa));
		if (getattr(w, &a) && !S_ISREG(a.mode))
			fail("SETATTR changed a file's type: mode %o", a.mode);
		sa = (struct fuse_setattr_in){ .valid = FATTR_UID | FATTR_GID, .uid = UINT32_MAX,
					       .gid = UINT32_MAX };
		req("SETATTR uid/gid -1", EXP_ANY, FUSE_SETATTR, w, &sa, sizeof(sa));
		sa = (struct fuse_setattr_in){ .valid = FATTR_ATIME | FATTR_MTIME,
					       .atimensec = 2000000000u, .mtimensec = UINT32_MAX,
					       .atime = UINT64_MAX, .mtime = (uint64_t)INT64_MIN };
		req("SETATTR times with nsec >= 1e9", EXP_ANY, FUSE_SETATTR, w, &sa, sizeof(sa));
		sa = (struct fuse_setattr_in){ .valid = UINT32_MAX };
		req("SETATTR valid 0xffffffff", EXP_ANY, FUSE_SETATTR, w, &sa, sizeof(sa));
		sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = 0 };
		req("SETATTR size 0 through a read-only handle", EXP_ANY, FUSE_SETATTR, f, &sa, sizeof(sa));
	}
	printf("  -- FALLOCATE, LSEEK, COPY_FILE_RANGE\n");
	{
		struct fuse_fallocate_in fa = { .fh = wfh, .length = UINT64_MAX };
		req("FALLOCATE length UINT64_MAX", EXP_ERR, FUSE_FALLOCATE, w, &fa, sizeof(fa));
		fa = (struct fuse_fallocate_in){ .fh = wfh, .offset = (uint64_t)-1, .length = 10 };
		req("FALLOCATE offset -1", EXP_ERR, FUSE_FALLOCATE, w, &fa, sizeof(fa));
		fa = (struct fuse_fallocate_in){ .fh = wfh, .length = 10, .mode = 0xffffffff };
		req("FALLOCATE mode 0xffffffff", EXP_ERR, FUSE_FALLOCATE, w, &fa, sizeof(fa));
		fa = (struct fuse_fallocate_in){ .fh = fh, .length = 10 };
		req("FALLOCATE through a read-only handle", EXP_ANY, FUSE_FALLOCATE, f, &fa, sizeof(fa));
	}
	{
		struct fuse_lseek_in ls = { .fh = sfh, .whence = 99 };
		req("LSEEK whence 99", EXP_ERR, FUSE_LSEEK, s, &ls, sizeof(ls));
		ls = (struct fuse_lseek_in){ .fh = sfh, .offset = (uint64_t)-5, .whence = SEEK_SET };
		req("LSEEK to -5", EXP_ERR, FUSE_LSEEK, s, &ls, sizeof(ls));
		ls = (struct fuse_lseek_in){ .fh = sfh, .offset = 100 << 20, .whence = SEEK_DATA };
		req("LSEEK SEEK_DATA past the end", EXP_ERR, FUSE_LSEEK, s, &ls, sizeof(ls));
		ls = (struct fuse_lseek_in){ .fh = sfh, .offset = 0, .whence = SEEK_HOLE };
		req("LSEEK SEEK_HOLE", EXP_OK, FUSE_LSEEK, s, &ls, sizeof(ls));
	}
	{
		struct fuse_copy_file_range_in cf = { .fh_in = sfh, .nodeid_out = w, .fh_out = wfh,
						      .len = UINT64_MAX };
		req("COPY_FILE_RANGE len UINT64_MAX", EXP_ANY, FUSE_COPY_FILE_RANGE, s, &cf, sizeof(cf));
		req("COPY_FILE_RANGE_64 len UINT64_MAX", EXP_ANY, OP_COPY_FILE_RANGE_64, s, &cf,
		    sizeof(cf));
		cf.off_in = (uint64_t)-1;
		cf.len = 10;
		req("COPY_FILE_RANGE off_in -1", EXP_ERR, FUSE_COPY_FILE_RANGE, s, &cf, sizeof(cf));
		cf.off_in = 0;
		cf.off_out = (uint64_t)-1;
		req("COPY_FILE_RANGE off_out -1", EXP_ERR, FUSE_COPY_FILE_RANGE, s, &cf, sizeof(cf));
		cf.off_out = 0;
		cf.flags = UINT64_MAX;
		req("COPY_FILE_RANGE flags UINT64_MAX", EXP_ANY, FUSE_COPY_FILE_RANGE, s, &cf, sizeof(cf));
		cf = (struct fuse_copy_file_range_in){ .fh_in = wfh, .nodeid_out = w, .fh_out = wfh,
						       .len = 100, .off_out = 2 };
		req("COPY_FILE_RANGE onto itself, overlapping", EXP_ANY, FUSE_COPY_FILE_RANGE, w, &cf,
		    sizeof(cf));
		cf = (struct fuse_copy_file_range_in){ .fh_in = sfh, .nodeid_out = w, .fh_out = fh,
						       .len = 10 };
		req("COPY_FILE_RANGE into a read-only handle", EXP_ANY, FUSE_COPY_FILE_RANGE, s, &cf,
		    sizeof(cf));
	}
	printf("  -- modes and flags\n");
	{
		struct fuse_mknod_in mn = { .mode = UINT32_MAX, .rdev = UINT32_MAX };
		struct fuse_mkdir_in md = { .mode = S_IFREG | 07777, .umask = UINT32_MAX };
		struct fuse_create_in cr = { .flags = O_CREAT | O_DIRECTORY | O_RDWR,
					     .mode = S_IFREG | 0644 };
		struct fuse_open_in op = { .flags = O_RDWR };
		struct fuse_access_in ac = { .mask = UINT32_MAX };
		reqn("MKNOD mode 0xffffffff rdev 0xffffffff", EXP_ANY, FUSE_MKNOD, ROOT, &mn, sizeof(mn),
		     "wire-mknod1", NULL);
		mn = (struct fuse_mknod_in){ .mode = S_IFCHR | 0644, .rdev = 0 };
		reqn("MKNOD char 0/0 (a whiteout's shape)", EXP_ANY, FUSE_MKNOD, ROOT, &mn, sizeof(mn),
		     "wire-mknod2", NULL);
		reqn("MKDIR mode S_IFREG|07777 umask -1", EXP_ANY, FUSE_MKDIR, ROOT, &md, sizeof(md),
		     "wire-mkdir1", NULL);
		reqn("CREATE flags O_CREAT|O_DIRECTORY|O_RDWR", EXP_ANY, FUSE_CREATE, ROOT, &cr, sizeof(cr),
		     "wire-create1", NULL);
		cr = (struct fuse_create_in){ .flags = UINT32_MAX, .mode = UINT32_MAX };
		reqn("CREATE flags and mode 0xffffffff", EXP_ANY, FUSE_CREATE, ROOT, &cr, sizeof(cr),
		     "wire-create2", NULL);
		req("TMPFILE flags and mode 0xffffffff", EXP_ANY, FUSE_TMPFILE, ROOT, &cr, sizeof(cr));
		req("OPEN dir O_RDWR", EXP_ERR, FUSE_OPEN, lookup(ROOT, "dir"), &op, sizeof(op));
		op.flags = UINT32_MAX;
		req("OPEN file1 flags 0xffffffff", EXP_ANY, FUSE_OPEN, f, &op, sizeof(op));
		op.flags = O_RDONLY | O_DIRECTORY;
		req("OPENDIR file1", EXP_ERR, FUSE_OPENDIR, f, &op, sizeof(op));
		req("ACCESS mask 0xffffffff", EXP_ANY, FUSE_ACCESS, f, &ac, sizeof(ac));
		req("READLINK file1", EXP_ERR, FUSE_READLINK, f, NULL, 0);
		req("READLINK root", EXP_ERR, FUSE_READLINK, ROOT, NULL, 0);
	}
	printf("  -- ioctl: the file flags only\n");
	{
		struct { struct fuse_ioctl_in in; uint32_t flags; } io = {
			.in = { .fh = fh, .cmd = 0x5401 } };
		req("IOCTL TCGETS", ENOTTY, FUSE_IOCTL, f, &io.in, sizeof(io.in));
		io.in.cmd = FS_IOC_GETFLAGS_32;
		req("IOCTL GETFLAGS without room for the answer", EINVAL, FUSE_IOCTL, f, &io.in,
		    sizeof(io.in));
		io.in.out_size = 4;
		req("IOCTL GETFLAGS", EXP_OK, FUSE_IOCTL, f, &io.in, sizeof(io.in));
		io.in.cmd = FS_IOC_SETFLAGS_32;
		io.in.out_size = 0;
		io.in.in_size = 64;
		req("IOCTL SETFLAGS with in_size past the request", EINVAL, FUSE_IOCTL, f, &io,
		    sizeof(io));
		io.in.in_size = 2;
		req("IOCTL SETFLAGS with a short argument", EINVAL, FUSE_IOCTL, f, &io,
		    sizeof(io.in) + 2);
	}
	printf("  -- operations the daemon does not implement\n");
	{
		struct fuse_lk_in lk = { .fh = fh };
		struct fuse_bmap_in bm = { .block = 0, .blocksize = 4096 };
		struct fuse_poll_in pl = { .fh = fh };
		req("GETLK", ENOSYS, FUSE_GETLK, f, &lk, sizeof(lk));
		req("SETLK", ENOSYS, FUSE_SETLK, f, &lk, sizeof(lk));
		req("SETLKW", ENOSYS, FUSE_SETLKW, f, &lk, sizeof(lk));
		req("BMAP", ENOSYS, FUSE_BMAP, f, &bm, sizeof(bm));
		req("POLL", ENOSYS, FUSE_POLL, f, &pl, sizeof(pl));
		req("SYNCFS", ENOSYS, FUSE_SYNCFS, ROOT, NULL, 0);
		req("SETUPMAPPING", ENOSYS, FUSE_SETUPMAPPING, f, NULL, 0);
		req("REMOVEMAPPING", ENOSYS, FUSE_REMOVEMAPPING, f, NULL, 0);
		req("STATX", ENOSYS, OP_STATX, f, NULL, 0);
	}
	release(f, fh, false, EXP_ANY);
	release(s, sfh, false, EXP_ANY);
	release(w, wfh, false, EXP_ANY);
	release(ROOT, dfh, true, EXP_ANY);
}

/* ---- malformed */

/* Every opcode with a body, sent with none (header only), and with a body
 * one byte short of its struct. */
static void c_malformed_truncated(int arg)
{
	(void)arg;
	static const struct {
		uint32_t op;
		size_t body;
	} ops[] = {
		{ FUSE_GETATTR, sizeof(struct fuse_getattr_in) },
		{ FUSE_SETATTR, sizeof(struct fuse_setattr_in) },
		{ FUSE_MKNOD, sizeof(struct fuse_mknod_in) },
		{ FUSE_MKDIR, sizeof(struct fuse_mkdir_in) },
		{ FUSE_RENAME, sizeof(struct fuse_rename_in) },
		{ FUSE_RENAME2, sizeof(struct fuse_rename2_in) },
		{ FUSE_LINK, sizeof(struct fuse_link_in) },
		{ FUSE_OPEN, sizeof(struct fuse_open_in) },
		{ FUSE_OPENDIR, sizeof(struct fuse_open_in) },
		{ FUSE_READ, sizeof(struct fuse_read_in) },
		{ FUSE_READDIR, sizeof(struct fuse_read_in) },
		{ FUSE_READDIRPLUS, sizeof(struct fuse_read_in) },
		{ FUSE_WRITE, sizeof(struct fuse_write_in) },
		{ FUSE_RELEASE, sizeof(struct fuse_release_in) },
		{ FUSE_RELEASEDIR, sizeof(struct fuse_release_in) },
		{ FUSE_FLUSH, sizeof(struct fuse_flush_in) },
		{ FUSE_FSYNC, sizeof(struct fuse_fsync_in) },
		{ FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in) },
		{ FUSE_SETXATTR, 8 },
		{ FUSE_GETXATTR, sizeof(struct fuse_getxattr_in) },
		{ FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in) },
		{ FUSE_ACCESS, sizeof(struct fuse_access_in) },
		{ FUSE_CREATE, sizeof(struct fuse_create_in) },
		{ FUSE_TMPFILE, sizeof(struct fuse_create_in) },
		{ FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in) },
		{ FUSE_LSEEK, sizeof(struct fuse_lseek_in) },
		{ FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in) },
		{ FUSE_LOOKUP, 0 }, { FUSE_UNLINK, 0 }, { FUSE_RMDIR, 0 }, { FUSE_SYMLINK, 0 },
		{ FUSE_REMOVEXATTR, 0 },
	};
	uint64_t f = lookup(ROOT, "file1"), d = lookup(ROOT, "dir");
	static unsigned char zeros[256];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		uint32_t op = ops[i].op;
		uint64_t node = op == FUSE_OPENDIR || op == FUSE_READDIR || op == FUSE_READDIRPLUS ||
				op == FUSE_RELEASEDIR || op == FUSE_FSYNCDIR || op == FUSE_MKNOD ||
				op == FUSE_MKDIR || op == FUSE_CREATE || op == FUSE_TMPFILE ||
				op == FUSE_LOOKUP || op == FUSE_UNLINK || op == FUSE_RMDIR ||
				op == FUSE_SYMLINK || op == FUSE_RENAME || op == FUSE_RENAME2 ||
				op == FUSE_LINK ? d : f;
		/* the size asked for is whatever followed in libfuse's buffer */
		struct sopt o = { .size = UINT32_MAX };
		reqo(L("%s, header only", opname(op)), EXP_ANY, op, node, NULL, 0, &o);
		if (ops[i].body > 1)
			reqo(L("%s, %zu of %zu bytes of body", opname(op), ops[i].body - 1, ops[i].body),
			     EXP_ANY, op, node, zeros, ops[i].body - 1, &o);
	}
	/* the same for the requests without reply */
	req("FORGET, header only", EXP_NONE, FUSE_FORGET, f, NULL, 0);
	req("BATCH_FORGET, header only", EXP_NONE, FUSE_BATCH_FORGET, 0, NULL, 0);
	req("INTERRUPT, header only", EXP_INTR, FUSE_INTERRUPT, 0, NULL, 0);
	lookup(ROOT, "file1");
}

/* The header's length field disagreeing with the message. */
static void c_malformed_length(int arg)
{
	(void)arg;
	struct fuse_getattr_in g = { 0 };
	static const uint32_t lens[] = { 0, 1, HDR - 1, HDR, HDR + 4096, 1 << 20, UINT32_MAX };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct sopt o = { .set_len = true, .len = lens[i] };
		reqo(L("GETATTR root, header says %u bytes of %zu", lens[i], HDR + sizeof(g)), EXP_ANY,
		     FUSE_GETATTR, ROOT, &g, sizeof(g), &o);
	}
	{
		uint64_t f = lookup(ROOT, "file1");
		uint64_t fh = open_node(f, O_RDONLY, false);
		struct fuse_read_in rd = { .fh = fh, .size = 4096 };
		struct sopt o = { .set_len = true, .len = HDR, .size = 4096 };
		reqo("READ, header says no body", EXP_ANY, FUSE_READ, f, &rd, sizeof(rd), &o);
		o.len = UINT32_MAX;
		reqo("READ, header says 4 GiB", EXP_ANY, FUSE_READ, f, &rd, sizeof(rd), &o);
		release(f, fh, false, EXP_ANY);
	}
	{
		/* a WRITE whose header claims more data than sent */
		uint64_t w = 0, wfh = 0;
		struct mb m = { 0 };
		struct fuse_write_in wr;
		struct sopt o = { .set_len = true };
		create(ROOT, "wire-len", &w, &wfh);
		wr = (struct fuse_write_in){ .fh = wfh, .size = 8 };
		mb_add(&m, &wr, sizeof(wr));
		mb_add(&m, "12345678", 8);
		o.len = (uint32_t)m.n + HDR + 65536;
		reqo("WRITE of 8 bytes, header says 64 KiB more", EXP_ANY, FUSE_WRITE, w, m.p, m.n, &o);
		o.len = HDR + (uint32_t)sizeof(wr);
		reqo("WRITE of 8 bytes, header says none", EXP_ANY, FUSE_WRITE, w, m.p, m.n, &o);
		mb_free(&m);
		release(w, wfh, false, EXP_ANY);
	}
}

static void name_without_nul(uint32_t op, uint64_t node, const void *arg, size_t alen, size_t n,
			     const char *what)
{
	struct mb m = { 0 };

	const struct rep *r;

	mb_add(&m, arg, alen);
	mb_fill(&m, 'n', n);
	r = req(L("%s, %s (%zu bytes, no NUL)", opname(op), what, n), EXP_ANY, op, node, m.p, m.n);
	mb_free(&m);
	if (r && !r->error && (op == FUSE_MKDIR || op == FUSE_SYMLINK || op == FUSE_LINK ||
			       op == FUSE_MKNOD || op == FUSE_CREATE || op == FUSE_RMDIR ||
			       op == FUSE_UNLINK || op == FUSE_SETXATTR))
		printf("  NOTE: %s succeeded on a name that ran past the message (what followed in "
		       "libfuse's buffer)\n", opname(op));
}

/* One operation whose name (or first name) runs to the end of the
 * message: 5 bytes, 4200 (a message libfuse's splice path copies into a
 * buffer of its exact size) and the whole of libfuse's read buffer. */
static void c_malformed_names(int which)
{
	uint64_t d = lookup(ROOT, "dir"), f = lookup(ROOT, "file1");
	struct fuse_mkdir_in md = { .mode = 0755 };
	struct fuse_rename_in rn = { .newdir = ROOT };
	struct fuse_setxattr_in sx = { .size = 3 };
	struct fuse_getxattr_in gx = { .size = 64 };
	struct fuse_link_in ln = { .oldnodeid = f };
	static const size_t sizes[] = { 5, 4200, BIG_MSG - HDR };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		switch (which) {
		case FUSE_LOOKUP: name_without_nul(FUSE_LOOKUP, d, NULL, 0, n, "name"); break;
		case FUSE_MKDIR: name_without_nul(FUSE_MKDIR, d, &md, sizeof(md), n, "name"); break;
		case FUSE_UNLINK: name_without_nul(FUSE_UNLINK, d, NULL, 0, n, "name"); break;
		case FUSE_RMDIR: name_without_nul(FUSE_RMDIR, d, NULL, 0, n, "name"); break;
		case FUSE_SYMLINK: name_without_nul(FUSE_SYMLINK, d, NULL, 0, n, "name"); break;
		case FUSE_RENAME:
			name_without_nul(FUSE_RENAME, d, &rn, sizeof(rn), n, "old name");
			break;
		case FUSE_LINK: name_without_nul(FUSE_LINK, d, &ln, sizeof(ln), n, "name"); break;
		case FUSE_GETXATTR:
			name_without_nul(FUSE_GETXATTR, f, &gx, sizeof(gx), n, "attribute name");
			break;
		case FUSE_SETXATTR:
			name_without_nul(FUSE_SETXATTR, f, &sx, 8, n, "attribute name");
			break;
		case FUSE_REMOVEXATTR:
			name_without_nul(FUSE_REMOVEXATTR, f, NULL, 0, n, "attribute name");
			break;
		}
	}
	lookup(ROOT, "file1");
}

/* The second name (or the value) missing, or running to the end. */
static void c_malformed_second_name(int arg)
{
	uint64_t f = lookup(ROOT, "file1");
	struct fuse_rename_in rn = { .newdir = ROOT };
	struct fuse_setxattr_in sx = { .size = 100 };
	struct mb m = { 0 };
	static char n4200[4201];
	const struct rep *r;

	memset(n4200, 'o', 4200);
	if (arg == 0) {
	reqn("SETXATTR user.x with no value, size 100", EXP_ANY, FUSE_SETXATTR, f, &sx, 8, "user.x",
	     NULL);
	{
		struct fuse_getxattr_in gx = { .size = 0 };
		r = reqn("GETXATTR user.x size 0", EXP_ANY, FUSE_GETXATTR, f, &gx, sizeof(gx), "user.x",
			 NULL);
		if (r && !r->error && r->len >= sizeof(struct fuse_getxattr_out))
			printf("  NOTE: user.x holds %u bytes, none were sent: whatever followed the "
			       "message in libfuse's buffer\n",
			       ((const struct fuse_getxattr_out *)r->body)->size);
	}
	}
	if (arg == 1) {
	reqn("RENAME \"file2\" with no new name", EXP_ANY, FUSE_RENAME, ROOT, &rn, sizeof(rn),
	     "file2", NULL);
	reqn("RENAME 4200-byte name with no new name", EXP_ANY, FUSE_RENAME, ROOT, &rn, sizeof(rn),
	     n4200, NULL);
	/* new name without NUL */
	mb_add(&m, &rn, sizeof(rn));
	mb_str(&m, "file2");
	mb_fill(&m, 'z', 4200);
	req("RENAME \"file2\" -> 4200 bytes without NUL", EXP_ANY, FUSE_RENAME, ROOT, m.p, m.n);
	mb_free(&m);
	}
	if (arg == 2) {
	reqn("SYMLINK \"wire-sym\" with no target", EXP_ANY, FUSE_SYMLINK, ROOT, NULL, 0,
	     "wire-sym", NULL);
	reqn("SYMLINK 4200-byte name with no target", EXP_ANY, FUSE_SYMLINK, ROOT, NULL, 0, n4200,
	     NULL);
	}
	lookup(ROOT, "file1");
}

static void c_malformed_batch_forget(int arg)
{
	(void)arg;
	struct fuse_forget_one fo[300];
	uint64_t f = lookup(ROOT, "file1");

	for (int i = 0; i < 300; i++)
		fo[i] = (struct fuse_forget_one){ .nodeid = 0xdead0000 + i, .nlookup = 1 };
	batch_forget("BATCH_FORGET count 1000, 2 entries sent", fo, 2, 1000);
	batch_forget("BATCH_FORGET count 301, 300 entries sent (4808 bytes)", fo, 300, 301);
	batch_forget("BATCH_FORGET count 65536, 2 entries sent", fo, 2, 65536);
	batch_forget("BATCH_FORGET count 0xffffffff, 2 entries sent", fo, 2, UINT32_MAX);
	{
		struct fuse_getattr_in g = { 0 };
		req("GETATTR file1", EXP_ANY, FUSE_GETATTR, f, &g, sizeof(g));
	}
}

static void c_malformed_opcodes(int arg)
{
	(void)arg;
	static const uint32_t ops[] = { 0, 54, 99, 4095, 9999, 65536, CUSE_INIT + 1, UINT32_MAX };
	struct fuse_init_in in = { .major = 7, .minor = 38 };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		req(L("opcode %u", ops[i]), ENOSYS, ops[i], ROOT, NULL, 0);
	req("INIT again", EIO, FUSE_INIT, 0, &in, sizeof(in));
	/* a CUSE opcode on a FUSE device: not served, like the ones above */
	req("CUSE_INIT", ENOSYS, CUSE_INIT, 0, &in, sizeof(in));
	{
		struct fuse_getattr_in g = { 0 };
		struct sopt o = { .set_unique = true, .unique = 0 };
		reqo("GETATTR with unique 0", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g), &o);
		o.unique = UINT64_MAX;
		reqo("GETATTR with unique UINT64_MAX", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g), &o);
	}
}

/* Each in a daemon of its own: what they leak shows at its exit. */
static void c_malformed_interrupt(int arg)
{
	(void)arg;
	struct fuse_interrupt_in it = { .unique = 0xfffffff0 };

	req("INTERRUPT of a unique never sent", EXP_INTR, FUSE_INTERRUPT, 0, &it, sizeof(it));
	it.unique = W.unique;
	req("INTERRUPT of a request answered already", EXP_INTR, FUSE_INTERRUPT, 0, &it, sizeof(it));
	it.unique = W.unique + 2;   /* the next request's */
	req("INTERRUPT of the next request, sent before it", EXP_INTR, FUSE_INTERRUPT, 0, &it,
	    sizeof(it));
	lookup(ROOT, "file1");
}

static void c_malformed_notify_reply(int arg)
{
	(void)arg;
	struct fuse_notify_retrieve_in nr = { 0 };

	req("NOTIFY_REPLY to a retrieve never made", EXP_NONE, FUSE_NOTIFY_REPLY, ROOT, &nr,
	    sizeof(nr));
}

/* ---- lifecycle (no INIT made by the framework) */

static void c_lifecycle(int arg)
{
	(void)arg;
	struct fuse_getattr_in g = { 0 };
	struct fuse_init_in in = { .major = 6, .minor = 0 };

	req("GETATTR before INIT", EIO, FUSE_GETATTR, ROOT, &g, sizeof(g));
	reqn("LOOKUP before INIT", EIO, FUSE_LOOKUP, ROOT, NULL, 0, "file1", NULL);
	req("DESTROY before INIT", EIO, FUSE_DESTROY, 0, NULL, 0);
	req("INIT 6.0", EPROTO, FUSE_INIT, 0, &in, sizeof(in));
	init_session(8, 0, EXP_OK);   /* libfuse answers with its version, waits for 7.x */
	init_session(7, 38, EXP_OK);
	init_session(7, 38, EIO);
	lookup(ROOT, "file1");
}

/* ---- the end of every group */

static void normal_traffic(const char *tag)
{
	char name[64], buf[64];
	uint64_t n = 0, fh = 0, f, ffh, dfh;
	const struct rep *r;
	struct fuse_attr a;
	bool found = false;

	snprintf(name, sizeof(name), "wire-new-%s", tag);
	/* a lower file no case touches */
	f = lookup(lookup(lookup(lookup(ROOT, "lowdir"), "l1"), "l2"), "f");
	ffh = open_node(f, O_RDONLY, false);
	r = do_read(f, ffh, 0, 4096, EXP_OK);
	if (r && !r->error && (r->len != 2 || memcmp(r->body, "f\n", 2)))
		fail("lowdir/l1/l2/f reads %zu bytes \"%.*s\"", r->len,
		     (int)(r->len > 20 ? 20 : r->len), (const char *)r->body);
	release(f, ffh, false, EXP_OK);
	if (!create(ROOT, name, &n, &fh))
		return;
	snprintf(buf, sizeof(buf), "hello %s", tag);
	r = do_write(n, fh, 0, buf, EXP_OK);
	if (r && !r->error && ((const struct fuse_write_out *)r->body)->size != strlen(buf))
		fail("WRITE wrote %u bytes of %zu", ((const struct fuse_write_out *)r->body)->size,
		     strlen(buf));
	r = do_read(n, fh, 0, 4096, EXP_OK);
	if (r && !r->error && (r->len != strlen(buf) || memcmp(r->body, buf, r->len)))
		fail("%s reads back %zu bytes", name, r->len);
	release(n, fh, false, EXP_OK);
	if (getattr(n, &a) && (a.size != strlen(buf) || a.mode != (S_IFREG | 0644)))
		fail("%s: size %" PRIu64 " mode %o", name, (uint64_t)a.size, a.mode);
	dfh = open_node(ROOT, O_RDONLY | O_DIRECTORY, true);
	for (uint64_t off = 0, i = 0; i < 1000; i++) {
		const struct fuse_dirent *d;
		size_t pos = 0;
		r = do_readdir(ROOT, dfh, off, 4096, false, EXP_OK);
		if (!r || r->error || r->len == 0)
			break;
		for (; pos + FUSE_NAME_OFFSET <= r->len; pos += FUSE_DIRENT_SIZE(d)) {
			d = (const void *)(r->body + pos);
			if (d->namelen == strlen(name) && !memcmp(d->name, name, d->namelen))
				found = true;
			off = d->off;
		}
	}
	if (!found && !W.dead)
		fail("READDIR of the root does not list %s", name);
	release(ROOT, dfh, true, EXP_OK);
}

/* DESTROY, a request after it, then our end closed: the daemon must exit 0. */
static void shutdown_daemon(void)
{
	struct fuse_getattr_in g = { 0 };

	if (!W.dead) {
		req("DESTROY", EXP_OK, FUSE_DESTROY, 0, NULL, 0);
		req("GETATTR after DESTROY", EIO, FUSE_GETATTR, ROOT, &g, sizeof(g));
	}
	drain();
	close(W.fd);
	W.fd = -1;
	if (!wait_exit()) {
		fail("the daemon did not exit within %d s once its device was closed: killed",
		     W.timeout);
		W.ndeaths++;
		return;
	}
	if (!WIFEXITED(W.wstatus) || WEXITSTATUS(W.wstatus) != 0)
		fail("the daemon ended with %s", status_text(W.wstatus));
	else
		printf("  daemon exited 0\n");
}

static void c_lifecycle_reinit(int arg)
{
	(void)arg;
	struct fuse_getattr_in g = { 0 };

	req("DESTROY", EXP_OK, FUSE_DESTROY, 0, NULL, 0);
	req("GETATTR after DESTROY", EIO, FUSE_GETATTR, ROOT, &g, sizeof(g));
	req("DESTROY again", EIO, FUSE_DESTROY, 0, NULL, 0);
	init_session(7, 38, EXP_ANY);   /* libfuse takes a new INIT after DESTROY */
	req("GETATTR root", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g));
	reqn("LOOKUP root \"file1\"", EXP_ANY, FUSE_LOOKUP, ROOT, NULL, 0, "file1", NULL);
}

static void c_short(int arg)
{
	(void)arg;
	static const unsigned char shortmsg[20] = { 20 };
	ssize_t r;

	printf("  sending a message of 20 bytes (shorter than a request header)\n");
	r = send(W.fd, shortmsg, sizeof(shortmsg), MSG_NOSIGNAL);
	if (r != (ssize_t)sizeof(shortmsg))
		fail("cannot send: %s", strerror(errno));
	/* libfuse says "short read on fuse device" and ends the session: the
	 * daemon may stop; it must not crash */
	drain();
	for (int i = 0; i < 40 && !W.reaped; i++) {
		reap(false);
		usleep(50000);
	}
	if (W.reaped) {
		printf("  daemon ended: %s\n", status_text(W.wstatus));
		if (WIFSIGNALED(W.wstatus))
			fail("the daemon was %s", status_text(W.wstatus));
		W.dead = true;
	} else {
		struct fuse_getattr_in g = { 0 };
		printf("  daemon still running\n");
		req("GETATTR root", EXP_ANY, FUSE_GETATTR, ROOT, &g, sizeof(g));
	}
}

/* ------------------------------------------------------------ the runner */

#define NO_INIT 1      /* the case makes its own INIT */
#define RESTART 2      /* the daemon is shut down (and checked) after the case */
#define MAY_END 4      /* the daemon may end (not by a signal) */

static const struct tcase {
	const char *group, *name;
	void (*fn)(int arg);
	int flags;
	int arg;
} cases[] = {
	{ "ids", "forged node ids", c_ids_forged, 0, 0 },
	{ "ids", "stale node id (forgotten)", c_ids_stale, 0, 0 },
	{ "ids", "a file's id as a directory", c_ids_file_as_dir, 0, 0 },
	{ "handles", "forged and wrong-kind handles", c_handles_forged, 0, 0 },
	{ "handles", "double release, released ids reused", c_handles_double_release, 0, 0 },
	{ "handles", "releases racing I/O on one handle", c_handles_race, 0, 0 },
	{ "forget", "FORGET/BATCH_FORGET of unknown ids", c_forget_unknown, 0, 0 },
	{ "forget", "lookup counts", c_forget_counts, 0, 0 },
	{ "forget", "FORGET of the root", c_forget_root, RESTART, 0 },
	{ "names", "LOOKUP of odd names", c_names_lookup, 0, 0 },
	{ "names", "creating odd names", c_names_create, 0, 0 },
	{ "names", "creating over names that exist (in a lower layer)", c_names_existing, 0, 0 },
	{ "names", "LINK of the root and of directories, RENAME into itself", c_names_link_rename, 0, 0 },
	{ "sizes", "oversized counts, offsets, modes and flags", c_sizes, 0, 0 },
	{ "malformed", "bodies shorter than their struct", c_malformed_truncated, 0, 0 },
	{ "malformed", "header length field that lies", c_malformed_length, 0, 0 },
	{ "malformed", "LOOKUP, name without NUL", c_malformed_names, 0, FUSE_LOOKUP },
	{ "malformed", "MKDIR, name without NUL", c_malformed_names, 0, FUSE_MKDIR },
	{ "malformed", "UNLINK, name without NUL", c_malformed_names, 0, FUSE_UNLINK },
	{ "malformed", "RMDIR, name without NUL", c_malformed_names, 0, FUSE_RMDIR },
	{ "malformed", "SYMLINK, name without NUL", c_malformed_names, 0, FUSE_SYMLINK },
	{ "malformed", "RENAME, name without NUL", c_malformed_names, 0, FUSE_RENAME },
	{ "malformed", "LINK, name without NUL", c_malformed_names, 0, FUSE_LINK },
	{ "malformed", "GETXATTR, name without NUL", c_malformed_names, 0, FUSE_GETXATTR },
	{ "malformed", "SETXATTR, name without NUL", c_malformed_names, 0, FUSE_SETXATTR },
	{ "malformed", "REMOVEXATTR, name without NUL", c_malformed_names, 0, FUSE_REMOVEXATTR },
	{ "malformed", "SETXATTR value shorter than its size", c_malformed_second_name, 0, 0 },
	{ "malformed", "RENAME, new name missing or without NUL", c_malformed_second_name, 0, 1 },
	{ "malformed", "SYMLINK, target missing", c_malformed_second_name, 0, 2 },
	{ "malformed", "BATCH_FORGET count larger than the message", c_malformed_batch_forget, 0, 0 },
	{ "malformed", "unknown opcodes, INIT again, unique 0", c_malformed_opcodes, 0, 0 },
	{ "stray", "stray INTERRUPT (then exit)", c_malformed_interrupt, RESTART, 0 },
	{ "stray", "stray NOTIFY_REPLY (then exit)", c_malformed_notify_reply, RESTART, 0 },
	{ "lifecycle", "requests before INIT, INIT versions", c_lifecycle, NO_INIT, 0 },
	{ "lifecycle", "DESTROY, then a new INIT", c_lifecycle_reinit, RESTART, 0 },
	{ "short", "a message shorter than a header", c_short, MAY_END | RESTART, 0 },
};

static bool in_groups(const char *groups, const char *g)
{
	size_t n = strlen(g);

	if (!groups)
		return strcmp(g, "short") != 0;
	for (const char *p = groups; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == n && !strncmp(p, g, n)) || (len == 3 && !strncmp(p, "all", 3)))
			return true;
		p += len + (e ? 1 : 0);
	}
	return false;
}

static void begin_case(const char *group, const char *name)
{
	W.caseno = ++W.ncases;
	W.casename = name;
	W.failed = false;
	W.skipped = 0;
	W.why[0] = '\0';
	W.log_off = W.scan_off = log_size();
	printf("# case %d %s/%s\n", W.caseno, group, name);
}

/* Verdict of the current case: daemon alive (unless it may end) and no
 * sanitizer report in its log since the case began. */
static void end_case(const char *group, int flags)
{
	char *log;

	drain();
	quiesce();
	reap(false);
	if (W.skipped)
		printf("  (%d more requests of this case not sent: the daemon is gone)\n", W.skipped);
	if (W.dead && !W.reaped && W.fd >= 0) {
		/* gone quiet or hung: give it the timeout to end, then kill */
		close(W.fd);
		W.fd = -1;
		if (!wait_exit())
			fail("hung: killed");
	}
	if (W.reaped && !(flags & MAY_END)) {
		fail("the daemon ended: %s", status_text(W.wstatus));
		W.ndeaths++;
	}
	log = read_log_from(W.log_off);
	if (log_has_report(log)) {
		fail("sanitizer report in the daemon log");
		/* the report is still being written (symbolized) while other
		 * threads serve: let the daemon finish it and end */
		if (!W.reaped) {
			if (W.fd >= 0)
				close(W.fd);
			W.fd = -1;
			W.dead = true;
			if (!wait_exit())
				fail("still running %d s after a sanitizer report: killed", W.timeout);
			if (!(flags & MAY_END))
				fail("the daemon ended: %s", status_text(W.wstatus));
			W.ndeaths++;
		}
		free(log);
		log = read_log_from(W.log_off);
	}
	if (W.failed) {
		printf("not ok %d %s/%s: %s\n", W.caseno, group, W.casename, W.why);
		if (*log) {
			printf("#   daemon log since the case began:\n");
			show_log(log, 20);
		}
		W.nfailed++;
	} else {
		printf("ok %d %s/%s\n", W.caseno, group, W.casename);
	}
	free(log);
	if (W.reaped || W.dead) {
		if (W.fd >= 0)
			close(W.fd);
		W.fd = -1;
		if (!W.reaped) {
			kill(W.pid, SIGKILL);
			reap(true);
		}
	}
}

static bool ensure_daemon(bool init)
{
	if (W.fd >= 0 && !W.dead)
		return true;
	start_daemon();
	if (init && !init_session(7, 38, EXP_OK))
		return false;
	return true;
}

/* The end of a group: normal traffic still works, DESTROY, exit 0. */
static void finish_group(const char *group)
{
	begin_case(group, "normal traffic, DESTROY, exit 0");
	if (ensure_daemon(true)) {
		normal_traffic(group);
		shutdown_daemon();
	} else {
		fail("the daemon did not answer INIT");
	}
	end_case(group, MAY_END);
}

static void usage(void)
{
	fprintf(stderr, "usage: fusewire -s SHIM -l LOG [-d DEV] [-g GROUPS] [-m read|splice|pt] "
		"[-t SECONDS] [-v] -- DAEMON ARGS...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *groups = NULL, *last_group = NULL;
	struct timespec t0, t1;
	int c;

	W.dev = "/dev/fuse_fakewire";
	W.mode = "read";
	W.timeout = 120;
	W.fd = -1;
	while ((c = getopt(argc, argv, "+s:l:d:g:m:t:v")) != -1) {
		switch (c) {
		case 's': W.shim = optarg; break;
		case 'l': W.log = optarg; break;
		case 'd': W.dev = optarg; break;
		case 'g': groups = optarg; break;
		case 'm': W.mode = optarg; break;
		case 't': W.timeout = atoi(optarg); break;
		case 'v': W.verbose = true; break;
		default: usage();
		}
	}
	if (!W.shim || !W.log || optind >= argc || W.timeout <= 0)
		usage();
	if (strcmp(W.mode, "read") && strcmp(W.mode, "splice") && strcmp(W.mode, "pt"))
		usage();
	W.argv = argv + optind;
	W.rsize = 16 << 20;
	W.rbuf = malloc(W.rsize);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];

		if (!in_groups(groups, t->group))
			continue;
		if (last_group && strcmp(last_group, t->group))
			finish_group(last_group);
		last_group = t->group;
		begin_case(t->group, t->name);
		if (!ensure_daemon(!(t->flags & NO_INIT)))
			fail("the daemon did not answer INIT");
		else
			t->fn(t->arg);
		if (t->flags & RESTART) {
			if (!W.dead)
				shutdown_daemon();
			else if (!(t->flags & MAY_END))
				fail("the daemon is gone");
			end_case(t->group, MAY_END | (t->flags & MAY_END));
		} else {
			end_case(t->group, t->flags);
		}
	}
	if (last_group)
		finish_group(last_group);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fusewire: mode %s: %d cases, %d failed, %d daemon deaths, %d notifications, "
	       "%.1f s\n", W.mode, W.ncases, W.nfailed, W.ndeaths, W.notifications,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return W.nfailed ? 1 : 0;
}
