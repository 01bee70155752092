/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stress: copy-up racing unlink, rename, link and RENAME_EXCHANGE of the
 * same names, with an exact model of the namespace (tests/concurrency.bats).
 *
 *   stress setup LOWER1 LOWER2 NSLOTS        the fixture (lowers must be empty;
 *                                            NSLOTS a multiple of 10)
 *   stress run MNT SECONDS SEED MODE STATE   the workload; MODE is unlink,
 *                                            rename, churn or copyup (no name
 *                                            changes: a control); writes STATE
 *   stress verify DIR STATE                  the merged tree at DIR against STATE
 *   stress manifest DIR                      one sorted line per entry below DIR
 *                                            (path, type, mode, size, content
 *                                            hash, user.* xattrs)
 * run and verify print "FAIL: ..." lines and exit 1 on a failure.
 *
 * Names.  Slot i is the name dK/fNNNNN (K = i % 4).  The fixture gives each
 * slot an identity ("ID"): a lower file whose content starts with the header
 * "ID %08u\n" and a body that is a function of the ID.  i % 10 says what the
 * lowers hold: 0-3 a file in lower2, 4-5 a file in lower1, 6 a lower1 file
 * over a lower2 file (hidden ID 50000000+i), 7 a char 0/0 whiteout in lower1
 * over a lower2 file (hidden ID), 8 nothing, 9 a lower1 hard link of slot
 * i-5 (same ID: "lower-linked").  Every third ID has a user.orig xattr, every
 * seventh a 64 KiB body.  The upper starts empty.
 *
 * Threads.  The slots are split in two groups.  Each group has one mutator,
 * the only thread that changes the names of its group, so it keeps an exact
 * model (slot -> ID or absent), and two helpers that only trigger copy-up.
 * The mutator works in rounds: it picks a slot P (a cursor walking the
 * group, so that first touches find lower files) and a partner Q a few
 * slots ahead, publishes {P, Q}, and after a random delay (0-400 us) does
 * one of: unlink P, rename P over or onto Q (also RENAME_NOREPLACE), rename
 * P and Q with RENAME_EXCHANGE, link P as Q, or nothing (mode "unlink": 60%
 * unlink in the first pass, then 15%; "rename": renames, 1/4 no-replace,
 * some unlinks; "churn": link, unlink, exchange, rename).  The helpers wake
 * on the round and hit P or Q (1 time in 7 another slot of the group) with
 * one copy-up trigger: open O_RDWR|O_APPEND + write a record, chmod,
 * setxattr user.*, truncate to the current size through an O_PATH fd
 * (setattr without a file handle), utimensat, fchmod or fsetxattr through
 * an O_RDONLY fd, or a plain read.  The mutator waits for them before the
 * next round.  A checker thread reads random slots of both groups.
 *
 * Oracles, during the run:
 *  - every mutator operation has an exact expected result (0, ENOENT,
 *    EEXIST) from the model, and afterwards (at once, and again when the
 *    helpers of the round are done) its slots read as the model says; a
 *    group stops at its first mismatch (its model is no longer known);
 *  - a helper op racing the mutator on P or Q sees the slot's ID before or
 *    after the op, fails only with ENOENT or EEXIST (what kernel overlayfs
 *    answers for a copy-up of a file removed under it), and only where the
 *    op removes or creates the name: never during RENAME_EXCHANGE, never on
 *    the source of a link;
 *  - an op of a helper or of the checker on a slot no mutator touched
 *    meanwhile (a per-slot sequence count, odd while a mutator works on it)
 *    agrees with the model: an absent name answers ENOENT (a deleted name
 *    never comes back), a present one succeeds and shows the model's ID;
 *  - a record is "R <ID> <thread> <seq>\n", the ID read through the same fd.
 * After the run (verify, on any mount of the layers):
 *  - the root lists d0..d3, each directory exactly the names of the model;
 *  - each file is its ID's header and body followed by whole records of
 *    that ID only, each a write that was issued; a record in two names
 *    means two links of one file (same content);
 *  - no record is lost: every successful write to an ID that is still
 *    present (and not lower-linked: copy-up splits lower hard links) is in it;
 *  - names of one ID (not lower-linked) are links of one file: same content.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define NDIRS 4
#define HIDDEN_BASE 50000000u
#define HDR_LEN 12 /* "ID %08u\n" */
#define REC_LEN 25 /* "R %08u %02u %010u\n" */
#define MAX_GROUPS 8
#define HELPERS_PER_GROUP 2
#define MAX_HELPERS (MAX_GROUPS * HELPERS_PER_GROUP)
#define MAX_ERRNO 160
#define MAX_FAIL_SHOWN 40

/* ------------------------------------------------------------ fixture */

enum kind { K_L2, K_L1, K_SHADOW, K_WHITEOUT, K_ABSENT, K_LINK };

static int nslots;

static enum kind slot_kind(int i)
{
	switch (i % 10) {
	case 0: case 1: case 2: case 3: return K_L2;
	case 4: case 5: return K_L1;
	case 6: return K_SHADOW;
	case 7: return K_WHITEOUT;
	case 8: return K_ABSENT;
	default: return K_LINK;
	}
}

static int initial_id(int i)
{
	switch (slot_kind(i)) {
	case K_WHITEOUT:
	case K_ABSENT:
		return -1;
	case K_LINK:
		return i - 5;
	default:
		return i;
	}
}

/* Copy-up splits lower hard links (overlayfs without index=on). */
static bool lower_linked(int id)
{
	return id >= 0 && id % 10 == 4 && id + 5 < nslots;
}

static size_t body_len(unsigned id)
{
	return id % 7 == 3 ? 65536 : 40 + (id * 37u) % 300;
}

static char body_byte(unsigned id, size_t k)
{
	if (k % 64 == 63)
		return '\n';
	return (char)('a' + (id * 31u + k * 7u) % 26);
}

static char *make_content(unsigned id, size_t *len)
{
	size_t bl = body_len(id);
	char *buf = malloc(HDR_LEN + bl + 1);

	if (!buf)
		abort();
	snprintf(buf, HDR_LEN + 1, "ID %08u\n", id);
	for (size_t k = 0; k < bl; k++)
		buf[HDR_LEN + k] = body_byte(id, k);
	*len = HDR_LEN + bl;
	return buf;
}

static void slot_rel(char *buf, size_t n, int i)
{
	snprintf(buf, n, "d%d/f%05d", i % NDIRS, i);
}

static void slot_path(char *buf, size_t n, const char *root, int i)
{
	snprintf(buf, n, "%s/d%d/f%05d", root, i % NDIRS, i);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "stress: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void write_file(const char *path, unsigned id)
{
	size_t len;
	char *buf = make_content(id, &len);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0)
		die("cannot write %s: %s", path, strerror(errno));
	if (id % 3 == 0 && setxattr(path, "user.orig", "lower", 5, 0) < 0)
		die("setxattr %s: %s", path, strerror(errno));
	free(buf);
}

static int cmd_setup(int argc, char **argv)
{
	char p[4096], q[4096];

	if (argc != 5)
		die("usage: setup LOWER1 LOWER2 NSLOTS");
	nslots = atoi(argv[4]);
	if (nslots < 40 || nslots > 99990 || nslots % 10)
		die("NSLOTS must be a multiple of 10 from 40 to 99990");
	for (int k = 0; k < NDIRS; k++) {
		snprintf(p, sizeof(p), "%s/d%d", argv[2], k);
		snprintf(q, sizeof(q), "%s/d%d", argv[3], k);
		if ((mkdir(p, 0755) < 0 && errno != EEXIST) || (mkdir(q, 0755) < 0 && errno != EEXIST))
			die("mkdir: %s", strerror(errno));
	}
	for (int i = 0; i < nslots; i++) {
		slot_path(p, sizeof(p), argv[2], i);
		slot_path(q, sizeof(q), argv[3], i);
		switch (slot_kind(i)) {
		case K_L2:
			write_file(q, (unsigned)i);
			break;
		case K_L1:
			write_file(p, (unsigned)i);
			break;
		case K_SHADOW:
			write_file(p, (unsigned)i);
			write_file(q, HIDDEN_BASE + (unsigned)i);
			break;
		case K_WHITEOUT:
			if (mknod(p, S_IFCHR | 0000, makedev(0, 0)) < 0)
				die("mknod %s: %s", p, strerror(errno));
			write_file(q, HIDDEN_BASE + (unsigned)i);
			break;
		case K_ABSENT:
			break;
		case K_LINK: {
			char src[4096];
			slot_path(src, sizeof(src), argv[2], i - 5);
			if (link(src, p) < 0)
				die("link %s: %s", p, strerror(errno));
			break;
		}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ run state */

enum hop { H_APPEND, H_CHMOD, H_SETXATTR, H_TRUNC, H_UTIMES, H_FCHMOD, H_FSETXATTR, H_READ,
	   M_UNLINK, M_RENAME, M_NOREPLACE, M_EXCHANGE, M_LINK, M_NOOP, C_CHECK, NOPS };

static const char *const op_names[NOPS] = {
	"append", "chmod", "setxattr", "truncate", "utimes", "fchmod", "fsetxattr", "read",
	"unlink", "rename", "rename-noreplace", "exchange", "link", "noop", "check",
};

static atomic_long op_ok[NOPS];
static atomic_long op_err[NOPS][MAX_ERRNO];
static atomic_long checked_stable; /* helper/checker ops with an exact expectation */
static atomic_long kernel_nlink_races; /* links the kernel refused on its own count */

static const char *mnt;
static atomic_int *cur_id;   /* model: ID at each slot, -1 absent */
static atomic_uint *slot_seq; /* odd while a mutator works on the slot */
static char (*absent_why)[96];
static atomic_bool *reported; /* the checker tells a wrong slot once */
static atomic_bool stop;
static pthread_rwlock_t trunc_lock = PTHREAD_RWLOCK_INITIALIZER;

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int nfail;

static void fail(const char *fmt, ...)
{
	va_list ap;
	int n = atomic_fetch_add(&nfail, 1);

	if (n >= MAX_FAIL_SHOWN)
		return;
	pthread_mutex_lock(&fail_lock);
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	pthread_mutex_unlock(&fail_lock);
}

static const char *errname(int e)
{
	static __thread char buf[16];
	const char *n;

	if (e == 0)
		return "success";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void count(enum hop op, int err)
{
	if (err == 0)
		atomic_fetch_add_explicit(&op_ok[op], 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&op_err[op][err < MAX_ERRNO ? err : MAX_ERRNO - 1], 1,
					  memory_order_relaxed);
}

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

static unsigned rndn(uint64_t *s, unsigned n)
{
	return (unsigned)((rnd(s) >> 33) % n);
}

static void pause_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	if (us == 0)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

static const char *id_str(int id, char *buf, size_t n)
{
	if (id == -1)
		return "absent";
	if (id == -2)
		return "not a readable ID file";
	snprintf(buf, n, "ID %d", id);
	return buf;
}

/* What the mount shows at slot i: the ID, -1 (ENOENT) or -2 (anything else:
 * *err set to the errno, or 0 for a wrong type or header). */
static int observe(int i, int *err)
{
	char path[4096], hdr[HDR_LEN + 1];
	struct stat st;
	unsigned id;
	int fd;
	ssize_t n;

	*err = 0;
	slot_path(path, sizeof(path), mnt, i);
	if (lstat(path, &st) < 0) {
		*err = errno;
		return errno == ENOENT ? -1 : -2;
	}
	if (!S_ISREG(st.st_mode))
		return -2;
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0) {
		*err = errno;
		return errno == ENOENT ? -1 : -2; /* unlinked after the lstat */
	}
	n = pread(fd, hdr, HDR_LEN, 0);
	if (n < 0)
		*err = errno;
	close(fd);
	hdr[n > 0 ? n : 0] = 0;
	if (n != HDR_LEN || sscanf(hdr, "ID %8u\n", &id) != 1)
		return -2;
	return (int)id;
}

/* ------------------------------------------------------------ groups */

struct group {
	int index, first, count, cursor, passes;
	uint64_t rng;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned round;        /* under lock */
	int rslots[2];         /* under lock: the slots of the round, */
	int rold[2], rnew[2];  /* the IDs they hold before and after the op, */
	bool rvanish[2];       /* whether a racing op may find no file there */
	char rwhat[128];       /* the op */
	int acked;             /* helpers done with `round` */
	atomic_bool dead;
	long rounds, ops_ok;
};

struct helper {
	int tid;
	struct group *g;
	uint64_t rng;
	/* every write issued: the ID it carries and whether it succeeded */
	uint32_t *att_id;
	uint8_t *att_ok;
	size_t natt, cap;
};

static struct group groups[MAX_GROUPS];
static int ngroups;
static struct helper helpers[MAX_HELPERS];
static int nhelpers;
static const char *mode;

static void seq_begin(int s)
{
	atomic_fetch_add(&slot_seq[s], 1);
}

static void seq_end(int s)
{
	atomic_fetch_add(&slot_seq[s], 1);
}

/* The expected outcome of a helper op when the slot held model_id
 * throughout. */
static void check_stable(enum hop op, int slot, int model_id, int err, int seen_id)
{
	char rel[64], b1[32], b2[32];

	atomic_fetch_add_explicit(&checked_stable, 1, memory_order_relaxed);
	slot_rel(rel, sizeof(rel), slot);
	if (model_id < 0) {
		if (err != ENOENT)
			fail("%s %s: the name is absent (%s) but the op returned %s%s%s", op_names[op],
			     rel, absent_why[slot], errname(err),
			     seen_id >= 0 ? ", it shows " : "",
			     seen_id >= 0 ? id_str(seen_id, b1, sizeof(b1)) : "");
		return;
	}
	if (err != 0) {
		fail("%s %s: the name holds ID %d but the op returned %s", op_names[op], rel, model_id,
		     errname(err));
		return;
	}
	if (seen_id != -3 && seen_id != model_id)
		fail("%s %s: expected %s, the file shows %s", op_names[op], rel,
		     id_str(model_id, b1, sizeof(b1)), id_str(seen_id, b2, sizeof(b2)));
}

static void record_attempt(struct helper *h, uint32_t id, bool ok)
{
	h->att_id[h->natt] = id;
	h->att_ok[h->natt] = ok;
	h->natt++;
}

/* One copy-up trigger on slot s; returns 0 or an errno, *seen the ID read
 * through the fd (-3 when the op reads none). */
static int helper_op(struct helper *h, enum hop op, int s, int *seen)
{
	static const mode_t modes[] = { 0600, 0640, 0644, 0664 };
	char path[4096], val[32];
	int fd, err = 0;

	*seen = -3;
	slot_path(path, sizeof(path), mnt, s);
	switch (op) {
	case H_APPEND: {
		char hdr[HDR_LEN + 1], rec[REC_LEN + 1];
		unsigned id;
		ssize_t n;

		fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW);
		if (fd < 0)
			return errno;
		n = pread(fd, hdr, HDR_LEN, 0);
		if (n != HDR_LEN) {
			err = n < 0 ? errno : EBADMSG;
			close(fd);
			if (err == EBADMSG) {
				char rel[64];
				slot_rel(rel, sizeof(rel), s);
				fail("append %s: short header (%zd bytes) through an fd opened for write",
				     rel, n);
			}
			return err;
		}
		hdr[HDR_LEN] = 0;
		if (sscanf(hdr, "ID %8u\n", &id) != 1) {
			char rel[64];
			slot_rel(rel, sizeof(rel), s);
			fail("append %s: bad header '%.11s' through an fd opened for write", rel, hdr);
			close(fd);
			return EBADMSG;
		}
		*seen = (int)id;
		if (h->natt == h->cap) {
			h->cap = h->cap ? h->cap * 2 : 4096;
			h->att_id = realloc(h->att_id, h->cap * sizeof(*h->att_id));
			h->att_ok = realloc(h->att_ok, h->cap);
			if (!h->att_id || !h->att_ok)
				abort();
		}
		snprintf(rec, sizeof(rec), "R %08u %02d %010zu\n", id, h->tid, h->natt);
		pthread_rwlock_rdlock(&trunc_lock);
		n = write(fd, rec, REC_LEN);
		err = n == REC_LEN ? 0 : n < 0 ? errno : EIO;
		pthread_rwlock_unlock(&trunc_lock);
		record_attempt(h, id, err == 0);
		if (close(fd) < 0 && err == 0)
			err = errno;
		return err;
	}
	case H_CHMOD:
		return chmod(path, modes[rndn(&h->rng, 4)]) < 0 ? errno : 0;
	case H_SETXATTR:
		{
			char name[32];
			snprintf(name, sizeof(name), "user.h%d", h->tid);
			snprintf(val, sizeof(val), "%u", rndn(&h->rng, 1000));
			return setxattr(path, name, val, strlen(val), 0) < 0 ? errno : 0;
		}
	case H_TRUNC: {
		char proc[64];
		struct statx stx;

		fd = open(path, O_PATH | O_NOFOLLOW);
		if (fd < 0)
			return errno;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		/* no append between the size and the truncate: same-size only */
		pthread_rwlock_wrlock(&trunc_lock);
		if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_SIZE, &stx) < 0)
			err = errno;
		else if (truncate(proc, (off_t)stx.stx_size) < 0)
			err = errno;
		pthread_rwlock_unlock(&trunc_lock);
		close(fd);
		return err;
	}
	case H_UTIMES:
		return utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
	case H_FCHMOD:
	case H_FSETXATTR:
		fd = open(path, O_RDONLY | O_NOFOLLOW);
		if (fd < 0)
			return errno;
		if (op == H_FCHMOD) {
			err = fchmod(fd, modes[rndn(&h->rng, 4)]) < 0 ? errno : 0;
		} else {
			char name[32];
			snprintf(name, sizeof(name), "user.f%d", h->tid);
			snprintf(val, sizeof(val), "%u", rndn(&h->rng, 1000));
			err = fsetxattr(fd, name, val, strlen(val), 0) < 0 ? errno : 0;
		}
		close(fd);
		return err;
	case H_READ: {
		int e, id = observe(s, &e);
		if (id == -1)
			return ENOENT;
		*seen = id;
		return id == -2 ? (e ? e : EBADMSG) : 0;
	}
	default:
		abort();
	}
}

static enum hop pick_helper_op(uint64_t *rng)
{
	static const struct { enum hop op; unsigned w; } w[] = {
		{ H_APPEND, 30 }, { H_CHMOD, 15 }, { H_SETXATTR, 15 }, { H_TRUNC, 10 },
		{ H_UTIMES, 8 }, { H_FCHMOD, 8 }, { H_FSETXATTR, 6 }, { H_READ, 8 },
	};
	unsigned total = 0, r;

	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++)
		total += w[k].w;
	r = rndn(rng, total);
	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++) {
		if (r < w[k].w)
			return w[k].op;
		r -= w[k].w;
	}
	return H_READ;
}

/* A helper op on a slot of the round, racing the mutator's op on it: it
 * sees the slot's ID before or after, and finds no file only where the op
 * removes one (unlink, rename away, rename over) or makes one (rename or
 * link to an absent name).  Never during RENAME_EXCHANGE, nor on the source
 * of a link.  Kernel overlayfs answers a copy-up of a file removed under it
 * with ENOENT or EEXIST. */
static void check_racing(enum hop op, int s, int old, int new_, bool vanish, const char *what,
			 int err, int seen)
{
	char rel[64];

	slot_rel(rel, sizeof(rel), s);
	if (err == 0 && seen != -3 && seen != old && seen != new_)
		fail("%s %s (racing %s): the file shows ID %d, neither the ID before (%d) nor "
		     "after (%d)", op_names[op], rel, what, seen, old, new_);
	else if ((err == ENOENT || err == EEXIST) && !vanish)
		fail("%s %s (racing %s): %s, but the name exists before and after", op_names[op],
		     rel, what, errname(err));
	else if (err != 0 && err != ENOENT && err != EEXIST)
		fail("%s %s (racing %s): unexpected %s", op_names[op], rel, what, errname(err));
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct group *g = h->g;
	unsigned last = 0;

	for (;;) {
		int rs[2], rold[2], rnew[2], s, k, seen, err, model;
		bool rvanish[2];
		char rwhat[128];
		unsigned s1, s2;
		enum hop op;

		pthread_mutex_lock(&g->lock);
		while (g->round == last && !atomic_load(&stop))
			pthread_cond_wait(&g->cond, &g->lock);
		if (atomic_load(&stop)) {
			pthread_mutex_unlock(&g->lock);
			break;
		}
		last = g->round;
		for (k = 0; k < 2; k++) {
			rs[k] = g->rslots[k];
			rold[k] = g->rold[k];
			rnew[k] = g->rnew[k];
			rvanish[k] = g->rvanish[k];
		}
		memcpy(rwhat, g->rwhat, sizeof(rwhat));
		pthread_mutex_unlock(&g->lock);

		if (rndn(&h->rng, 100) < 85)
			s = rs[rndn(&h->rng, 2)];
		else
			s = g->first + (int)rndn(&h->rng, (unsigned)g->count);
		if (rndn(&h->rng, 4) == 0)
			pause_us(rndn(&h->rng, 150));
		op = pick_helper_op(&h->rng);
		s1 = atomic_load(&slot_seq[s]);
		model = atomic_load(&cur_id[s]);
		err = helper_op(h, op, s, &seen);
		s2 = atomic_load(&slot_seq[s]);
		count(op, err);
		/* the mutator touches only the round's slots, and waits for
		 * this op before the next round */
		k = s == rs[0] ? 0 : s == rs[1] ? 1 : -1;
		if (k >= 0)
			check_racing(op, s, rold[k], rnew[k], rvanish[k], rwhat, err, seen);
		else if (s1 == s2 && !(s1 & 1))
			check_stable(op, s, model, err, seen);

		pthread_mutex_lock(&g->lock);
		if (g->round == last) {
			g->acked++;
			pthread_cond_broadcast(&g->cond);
		}
		pthread_mutex_unlock(&g->lock);
	}
	return NULL;
}

/* The checker: random slots of every group, read and compared with the
 * model when no mutator touched them meanwhile. */
static void *checker_main(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;

	while (!atomic_load(&stop)) {
		int s = (int)rndn(&rng, (unsigned)nslots), err, id, model;
		unsigned s1, s2;

		pause_us(300); /* leave most of the daemon to the racing threads */
		s1 = atomic_load(&slot_seq[s]);
		model = atomic_load(&cur_id[s]);
		id = observe(s, &err);
		s2 = atomic_load(&slot_seq[s]);
		count(C_CHECK, id == -1 ? ENOENT : id == -2 ? (err ? err : EBADMSG) : 0);
		if (s1 != s2 || (s1 & 1))
			continue;
		if (id != model && !atomic_exchange(&reported[s], true)) {
			char rel[64], b1[32], b2[32];
			slot_rel(rel, sizeof(rel), s);
			fail("check %s: expected %s%s%s, the mount shows %s%s%s", rel,
			     id_str(model, b1, sizeof(b1)), model < 0 ? " - " : "",
			     model < 0 ? absent_why[s] : "", id_str(id, b2, sizeof(b2)),
			     err ? " " : "", err ? errname(err) : "");
		}
		atomic_fetch_add_explicit(&checked_stable, 1, memory_order_relaxed);
	}
	return NULL;
}

/* A slot near s (within the group, after it) that is present (want_present)
 * or absent, with an ID other than avoid; -1 if none in reach. */
static int find_partner(struct group *g, int s, bool want_present, int avoid)
{
	int start = 1 + (int)rndn(&g->rng, 6);

	for (int k = 0; k < 24; k++) {
		int off = (s - g->first + start + k) % g->count;
		int q = g->first + off;
		int id = atomic_load(&cur_id[q]);
		if (q == s)
			continue;
		if (want_present ? (id >= 0 && id != avoid) : id < 0)
			return q;
	}
	return -1;
}

static enum hop pick_mutator_op(struct group *g)
{
	unsigned r = rndn(&g->rng, 100);

	if (!strcmp(mode, "copyup"))
		return M_NOOP;
	/* keep survivors for the content checks once past the first pass */
	if (!strcmp(mode, "unlink"))
		return r < (g->passes ? 15 : 60) ? M_UNLINK : M_NOOP;
	if (!strcmp(mode, "rename"))
		return r < 45 ? M_RENAME : r < 62 ? M_NOREPLACE : r < (g->passes ? 65 : 72) ? M_UNLINK
											: M_NOOP;
	/* churn */
	return r < 25 ? M_LINK : r < 45 ? M_UNLINK : r < 75 ? M_EXCHANGE : r < 90 ? M_RENAME : M_NOOP;
}

static void verify_slot(struct group *g, int s, const char *when, const char *what)
{
	int err, model = atomic_load(&cur_id[s]);
	int id = observe(s, &err);

	if (id != model) {
		char rel[64], b1[32], b2[32];
		slot_rel(rel, sizeof(rel), s);
		fail("%s %s: %s expected %s%s%s, the mount shows %s%s%s", when, what, rel,
		     id_str(model, b1, sizeof(b1)), model < 0 ? " - " : "",
		     model < 0 ? absent_why[s] : "", id_str(id, b2, sizeof(b2)), err ? " " : "",
		     err ? errname(err) : "");
		g->dead = true;
	}
}

/*
 * The kernel's FUSE client keeps its own count of links: it decrements it
 * when an unlink or a rename over a name succeeds, and takes the count in
 * replies (getattr, lookup) as they come.  A getattr answered after the
 * daemon removed a name but applied before the unlinking task decrements
 * makes the kernel count that removal twice; when its count reaches 0,
 * link(2) fails with ENOENT in the VFS, before any request is sent, until
 * the attributes are read again.  Debian's fuse-overlayfs 1.10 does the
 * same; kernel overlayfs does not.  Recognised only by its signature: the
 * cached count is 0, the daemon's count (forced stat) is not, and the link
 * made again after that stat succeeds.  Returns the retried link's result,
 * or ENOENT when it is not that.
 */
static int link_after_kernel_nlink_race(const char *pp, const char *qp)
{
	struct statx cached, fresh;

	if (statx(AT_FDCWD, pp, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_NLINK, &cached) < 0 ||
	    cached.stx_nlink != 0)
		return ENOENT;
	if (statx(AT_FDCWD, pp, AT_SYMLINK_NOFOLLOW | AT_STATX_FORCE_SYNC, STATX_NLINK, &fresh) < 0 ||
	    fresh.stx_nlink == 0)
		return ENOENT;
	if (link(pp, qp) < 0)
		return errno;
	atomic_fetch_add_explicit(&kernel_nlink_races, 1, memory_order_relaxed);
	return 0;
}

static void *mutator_main(void *arg)
{
	struct group *g = arg;
	char pp[4096], qp[4096], pr[32], qr[32], what[128];

	while (!atomic_load(&stop) && !g->dead) {
		int p = g->first + g->cursor, q, qid, expect = 0, err = 0;
		int pid_;
		enum hop op = pick_mutator_op(g);

		g->cursor = (g->cursor + 1) % g->count;
		if (g->cursor == 0)
			g->passes++;
		pid_ = atomic_load(&cur_id[p]);
		switch (op) {
		case M_RENAME:
			/* over a present name or onto an absent one, half each in
			 * the first pass, then mostly moves: names must survive */
			q = find_partner(g, p, rndn(&g->rng, g->passes ? 5 : 2) == 0, pid_);
			break;
		case M_NOREPLACE:
			q = find_partner(g, p, rndn(&g->rng, 4) == 0, pid_);
			break;
		case M_EXCHANGE:
			q = find_partner(g, p, true, pid_);
			break;
		case M_LINK:
			q = find_partner(g, p, rndn(&g->rng, 8) == 0, pid_);
			break;
		default:
			q = find_partner(g, p, true, -1);
			break;
		}
		if (q < 0) {
			op = M_NOOP;
			q = g->first + (p - g->first + 1) % g->count;
		}
		qid = atomic_load(&cur_id[q]);
		if ((op == M_RENAME || op == M_NOREPLACE || op == M_EXCHANGE || op == M_LINK) &&
		    qid == pid_ && pid_ >= 0)
			op = M_NOOP; /* two names of one inode: rename would do nothing */

		switch (op) {
		case M_UNLINK:
			expect = pid_ < 0 ? ENOENT : 0;
			break;
		case M_RENAME:
			expect = pid_ < 0 ? ENOENT : 0;
			break;
		case M_NOREPLACE:
		case M_LINK:
			expect = pid_ < 0 ? ENOENT : qid >= 0 ? EEXIST : 0;
			break;
		case M_EXCHANGE:
			expect = pid_ < 0 || qid < 0 ? ENOENT : 0;
			break;
		default:
			expect = 0;
			break;
		}

		slot_path(pp, sizeof(pp), mnt, p);
		slot_path(qp, sizeof(qp), mnt, q);
		slot_rel(pr, sizeof(pr), p);
		slot_rel(qr, sizeof(qr), q);
		if (op == M_UNLINK || op == M_NOOP)
			snprintf(what, sizeof(what), "%s %s", op_names[op], pr);
		else
			snprintf(what, sizeof(what), "%s %s %s", op_names[op], pr, qr);

		seq_begin(p);
		seq_begin(q);
		pthread_mutex_lock(&g->lock);
		g->round++;
		g->acked = 0;
		g->rslots[0] = p;
		g->rslots[1] = q;
		/* what the op does to the two names when it does what the model
		 * expects: nothing unless it succeeds */
		g->rold[0] = g->rnew[0] = pid_;
		g->rold[1] = g->rnew[1] = qid;
		if (expect == 0) {
			switch (op) {
			case M_UNLINK:
				g->rnew[0] = -1;
				break;
			case M_RENAME:
			case M_NOREPLACE:
				g->rnew[0] = -1;
				g->rnew[1] = pid_;
				break;
			case M_EXCHANGE:
				g->rnew[0] = qid;
				g->rnew[1] = pid_;
				break;
			case M_LINK:
				g->rnew[1] = pid_;
				break;
			default:
				break;
			}
		}
		/* a file removed (or replaced) by the op may be gone under a racing op */
		g->rvanish[0] = g->rold[0] < 0 || g->rnew[0] < 0;
		g->rvanish[1] = g->rold[1] < 0 || g->rnew[1] < 0 ||
				(expect == 0 && (op == M_RENAME || op == M_NOREPLACE));
		snprintf(g->rwhat, sizeof(g->rwhat), "%s", what);
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);

		/* land anywhere in the helpers' copy-ups */
		switch (rndn(&g->rng, 4)) {
		case 0: break;
		case 1: sched_yield(); break;
		default: pause_us(rndn(&g->rng, 400)); break;
		}
		switch (op) {
		case M_UNLINK:
			err = unlink(pp) < 0 ? errno : 0;
			break;
		case M_RENAME:
			err = rename(pp, qp) < 0 ? errno : 0;
			break;
		case M_NOREPLACE:
			err = syscall(SYS_renameat2, AT_FDCWD, pp, AT_FDCWD, qp, RENAME_NOREPLACE) < 0
				      ? errno : 0;
			break;
		case M_EXCHANGE:
			err = syscall(SYS_renameat2, AT_FDCWD, pp, AT_FDCWD, qp, RENAME_EXCHANGE) < 0
				      ? errno : 0;
			break;
		case M_LINK:
			err = link(pp, qp) < 0 ? errno : 0;
			if (err == ENOENT && expect == 0)
				err = link_after_kernel_nlink_race(pp, qp);
			break;
		default:
			break;
		}
		count(op, err);
		if (err != expect) {
			fail("%s: expected %s, got %s (model: %s is %d, %s is %d)", what, errname(expect),
			     errname(err), pr, pid_, qr, qid);
			g->dead = true;
		}
		if (err == 0) {
			if (op != M_NOOP)
				g->ops_ok++;
			switch (op) {
			case M_UNLINK:
				atomic_store(&cur_id[p], -1);
				snprintf(absent_why[p], sizeof(absent_why[p]), "unlinked in round %u",
					 g->round);
				break;
			case M_RENAME:
			case M_NOREPLACE:
				atomic_store(&cur_id[q], pid_);
				atomic_store(&cur_id[p], -1);
				snprintf(absent_why[p], sizeof(absent_why[p]),
					 "renamed to %s in round %u", qr, g->round);
				break;
			case M_EXCHANGE:
				atomic_store(&cur_id[q], pid_);
				atomic_store(&cur_id[p], qid);
				break;
			case M_LINK:
				atomic_store(&cur_id[q], pid_);
				break;
			default:
				break;
			}
		}
		if (!g->dead) {
			verify_slot(g, p, "just after", what);
			verify_slot(g, q, "just after", what);
		}
		seq_end(p);
		seq_end(q);

		pthread_mutex_lock(&g->lock);
		while (g->acked < HELPERS_PER_GROUP && !atomic_load(&stop))
			pthread_cond_wait(&g->cond, &g->lock);
		pthread_mutex_unlock(&g->lock);
		if (!g->dead) {
			verify_slot(g, p, "when the round's copy-ups were done,", what);
			verify_slot(g, q, "when the round's copy-ups were done,", what);
		}
		g->rounds++;
	}
	if (g->dead)
		fail("group %d stopped after its first mismatch", g->index);
	return NULL;
}

static void print_stats(void)
{
	for (int op = 0; op < NOPS; op++) {
		long total = atomic_load(&op_ok[op]);
		char line[2048];
		size_t len;

		for (int e = 0; e < MAX_ERRNO; e++)
			total += atomic_load(&op_err[op][e]);
		if (total == 0)
			continue;
		len = (size_t)snprintf(line, sizeof(line), "  %-16s %8ld ok", op_names[op],
				       atomic_load(&op_ok[op]));
		for (int e = 0; e < MAX_ERRNO && len < sizeof(line) - 40; e++) {
			long n = atomic_load(&op_err[op][e]);
			if (n)
				len += (size_t)snprintf(line + len, sizeof(line) - len, ", %ld %s", n,
						       errname(e));
		}
		printf("%s\n", line);
	}
}

#define JOIN_TIMEOUT 120
#define MIN_NAMESPACE_CHANGES 25
#define MIN_COPYUP_TRIGGERS 50

static void hung(const char *who, int n)
{
	printf("FAIL: %s %d is still in a filesystem call %d s after the end of the run\n", who,
	       n, JOIN_TIMEOUT);
	print_stats();
	fflush(stdout);
	_exit(1);
}

static int cmd_run(int argc, char **argv)
{
	double secs;
	uint64_t seed, crng;
	pthread_t mt[MAX_GROUPS], ht[MAX_HELPERS], ct;
	FILE *f;
	struct timespec t0, t1;
	long rounds = 0, mok = 0, hok = 0;
	char path[4096];

	if (argc != 7)
		die("usage: run MNT SECONDS SEED MODE STATE");
	mnt = argv[2];
	secs = atof(argv[3]);
	seed = strtoull(argv[4], NULL, 0);
	mode = argv[5];
	if (strcmp(mode, "unlink") && strcmp(mode, "rename") && strcmp(mode, "churn") &&
	    strcmp(mode, "copyup"))
		die("MODE is unlink, rename, churn or copyup");
	/* the fixture's size: the highest slot name present or whited out */
	nslots = 0;
	for (int k = 0; k < NDIRS; k++) {
		DIR *d;
		struct dirent *de;
		snprintf(path, sizeof(path), "%s/d%d", mnt, k);
		d = opendir(path);
		if (!d)
			die("opendir %s: %s", path, strerror(errno));
		while ((de = readdir(d))) {
			int i;
			if (sscanf(de->d_name, "f%5d", &i) == 1 && i + 1 > nslots)
				nslots = i + 1;
		}
		closedir(d);
	}
	/* round up over the trailing absent slots of the fixture */
	nslots = (nslots + 9) / 10 * 10;
	if (nslots < 40)
		die("no fixture under %s", mnt);
	prctl(PR_SET_TIMERSLACK, 1UL);

	cur_id = calloc((size_t)nslots, sizeof(*cur_id));
	slot_seq = calloc((size_t)nslots, sizeof(*slot_seq));
	absent_why = calloc((size_t)nslots, sizeof(*absent_why));
	reported = calloc((size_t)nslots, sizeof(*reported));
	if (!cur_id || !slot_seq || !absent_why || !reported)
		abort();
	for (int i = 0; i < nslots; i++) {
		atomic_store(&cur_id[i], initial_id(i));
		snprintf(absent_why[i], sizeof(absent_why[i]), "%s",
			 slot_kind(i) == K_WHITEOUT ? "whiteout in lower1" : "never existed");
	}
	/* a seed must be reproducible */
	if (seed == 0)
		seed = 1;

	ngroups = 2;
	for (int g = 0; g < ngroups; g++) {
		struct group *gr = &groups[g];
		gr->index = g;
		gr->first = nslots * g / ngroups;
		gr->count = nslots * (g + 1) / ngroups - gr->first;
		gr->rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)g * 7919 + 1;
		pthread_mutex_init(&gr->lock, NULL);
		pthread_cond_init(&gr->cond, NULL);
		for (int k = 0; k < HELPERS_PER_GROUP; k++) {
			struct helper *h = &helpers[nhelpers];
			h->tid = nhelpers;
			h->g = gr;
			h->rng = seed * 0xD1B54A32D192ED03ull + (uint64_t)nhelpers * 104729 + 3;
			nhelpers++;
		}
	}
	crng = seed ^ 0xABCDEF12345ull;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < nhelpers; k++)
		if (pthread_create(&ht[k], NULL, helper_main, &helpers[k]))
			die("pthread_create");
	for (int g = 0; g < ngroups; g++)
		if (pthread_create(&mt[g], NULL, mutator_main, &groups[g]))
			die("pthread_create");
	if (pthread_create(&ct, NULL, checker_main, &crng))
		die("pthread_create");
	/* the run ends after SECONDS, or when every group stopped at a mismatch */
	for (;;) {
		struct timespec now, ts = { 0, 50 * 1000 * 1000 };
		int alive = 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
			break;
		for (int g = 0; g < ngroups; g++)
			alive += !atomic_load(&groups[g].dead);
		if (!alive)
			break;
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, true);
	for (int g = 0; g < ngroups; g++) {
		pthread_mutex_lock(&groups[g].lock);
		pthread_cond_broadcast(&groups[g].cond);
		pthread_mutex_unlock(&groups[g].lock);
	}
	/* a thread stuck in the mount is a hang of the filesystem */
	{
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += JOIN_TIMEOUT;
		for (int g = 0; g < ngroups; g++)
			if (pthread_timedjoin_np(mt[g], NULL, &dl))
				hung("the mutator of group", g);
		for (int k = 0; k < nhelpers; k++)
			if (pthread_timedjoin_np(ht[k], NULL, &dl))
				hung("helper", k);
		if (pthread_timedjoin_np(ct, NULL, &dl))
			hung("checker", 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (int g = 0; g < ngroups; g++) {
		rounds += groups[g].rounds;
		mok += groups[g].ops_ok;
	}
	for (int op = H_APPEND; op <= H_FSETXATTR; op++)
		hok += atomic_load(&op_ok[op]);
	printf("mode %s seed %" PRIu64 " slots %d: %.1f s, %ld rounds, %ld namespace changes, "
	       "%ld copy-up triggers succeeded, %ld checked against the model, %d failures\n",
	       mode, seed, nslots,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, rounds,
	       mok, hok, atomic_load(&checked_stable), atomic_load(&nfail));
	print_stats();
	if (atomic_load(&kernel_nlink_races))
		printf("  %ld links refused by the kernel on its own link count (0), made after a "
		       "stat: a FUSE client race, not the daemon's\n", atomic_load(&kernel_nlink_races));

	/* a run without failures must have done something */
	if (!atomic_load(&nfail) &&
	    ((strcmp(mode, "copyup") && mok < MIN_NAMESPACE_CHANGES) || hok < MIN_COPYUP_TRIGGERS)) {
		printf("FAIL: too few operations to mean anything: %ld namespace changes (want %d), "
		       "%ld copy-up triggers succeeded (want %d)\n", mok,
		       strcmp(mode, "copyup") ? MIN_NAMESPACE_CHANGES : 0, hok, MIN_COPYUP_TRIGGERS);
		atomic_fetch_add(&nfail, 1);
	}

	f = fopen(argv[6], "w");
	if (!f)
		die("cannot write %s: %s", argv[6], strerror(errno));
	fprintf(f, "nslots %d\nhelpers %d\n", nslots, nhelpers);
	for (int i = 0; i < nslots; i++)
		fprintf(f, "slot %d %d %s\n", i, atomic_load(&cur_id[i]),
			atomic_load(&cur_id[i]) < 0 ? absent_why[i] : "-");
	for (int k = 0; k < nhelpers; k++)
		for (size_t a = 0; a < helpers[k].natt; a++)
			fprintf(f, "att %d %zu %u %d\n", k, a, helpers[k].att_id[a],
				helpers[k].att_ok[a]);
	if (fclose(f) != 0)
		die("cannot write %s", argv[6]);
	return atomic_load(&nfail) ? 1 : 0;
}

/* ------------------------------------------------------------ verify */

struct vstate {
	int *id;
	char (*why)[96];
	int nh;
	size_t *natt;
	uint32_t **att_id;
	uint8_t **att_ok;
	/* where each attempt's record was found first: slot + 1, 0 = nowhere */
	uint32_t **found;
};

static int verify_fail_count;

static void vfail(const char *fmt, ...)
{
	va_list ap;

	if (verify_fail_count++ >= MAX_FAIL_SHOWN)
		return;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void load_state(const char *path, struct vstate *v)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int nh = 0;

	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f) || sscanf(line, "nslots %d", &nslots) != 1 || nslots < 1)
		die("bad state file");
	if (!fgets(line, sizeof(line), f) || sscanf(line, "helpers %d", &nh) != 1 || nh > MAX_HELPERS)
		die("bad state file");
	v->nh = nh;
	v->id = calloc((size_t)nslots, sizeof(int));
	v->why = calloc((size_t)nslots, sizeof(*v->why));
	v->natt = calloc((size_t)nh, sizeof(size_t));
	v->att_id = calloc((size_t)nh, sizeof(*v->att_id));
	v->att_ok = calloc((size_t)nh, sizeof(*v->att_ok));
	v->found = calloc((size_t)nh, sizeof(*v->found));
	size_t *cap = calloc((size_t)nh, sizeof(size_t));
	while (fgets(line, sizeof(line), f)) {
		int i, id, t, ok;
		size_t a;
		unsigned aid;
		char why[96];
		if (sscanf(line, "slot %d %d %95[^\n]", &i, &id, why) == 3 && i >= 0 && i < nslots) {
			v->id[i] = id;
			snprintf(v->why[i], sizeof(v->why[i]), "%s", why);
		} else if (sscanf(line, "att %d %zu %u %d", &t, &a, &aid, &ok) == 4 && t >= 0 &&
			   t < nh) {
			if (a != v->natt[t])
				die("bad state file (attempts out of order)");
			if (v->natt[t] == cap[t]) {
				cap[t] = cap[t] ? cap[t] * 2 : 4096;
				v->att_id[t] = realloc(v->att_id[t], cap[t] * sizeof(uint32_t));
				v->att_ok[t] = realloc(v->att_ok[t], cap[t]);
				if (!v->att_id[t] || !v->att_ok[t])
					abort();
			}
			v->att_id[t][a] = aid;
			v->att_ok[t][a] = (uint8_t)ok;
			v->natt[t]++;
		} else {
			die("bad state line: %s", line);
		}
	}
	fclose(f);
	for (int t = 0; t < nh; t++) {
		v->found[t] = calloc(v->natt[t] + 1, sizeof(uint32_t));
		if (!v->found[t])
			abort();
	}
	free(cap);
}

static char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	size_t cap = 1 << 17, n = 0;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	for (;;) {
		ssize_t r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		if (!buf)
			abort();
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

static int cmd_verify(int argc, char **argv)
{
	struct vstate v;
	const char *root;
	char path[4096], rel[64];
	char **content;
	size_t *clen;
	long files = 0, records = 0, lost_checked = 0;
	bool *listed;

	if (argc != 4)
		die("usage: verify DIR STATE");
	root = argv[2];
	load_state(argv[3], &v);
	content = calloc((size_t)nslots, sizeof(char *));
	clen = calloc((size_t)nslots, sizeof(size_t));
	listed = calloc((size_t)nslots, sizeof(bool));

	/* the names: the root holds d0..d3, each dK exactly its present slots */
	{
		DIR *d = opendir(root);
		struct dirent *de;
		int seen = 0;
		if (!d)
			die("opendir %s: %s", root, strerror(errno));
		while ((de = readdir(d))) {
			int k;
			char extra;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (sscanf(de->d_name, "d%d%c", &k, &extra) == 1 && k >= 0 && k < NDIRS)
				seen++;
			else
				vfail("unexpected entry /%s", de->d_name);
		}
		closedir(d);
		if (seen != NDIRS)
			vfail("the root lists %d of the %d directories", seen, NDIRS);
	}
	for (int k = 0; k < NDIRS; k++) {
		DIR *d;
		struct dirent *de;
		snprintf(path, sizeof(path), "%s/d%d", root, k);
		d = opendir(path);
		if (!d) {
			vfail("opendir d%d: %s", k, strerror(errno));
			continue;
		}
		while ((de = readdir(d))) {
			int i;
			char extra;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (sscanf(de->d_name, "f%5d%c", &i, &extra) != 1 || i < 0 || i >= nslots ||
			    i % NDIRS != k || strlen(de->d_name) != 6) {
				vfail("unexpected entry d%d/%s", k, de->d_name);
				continue;
			}
			if (listed[i])
				vfail("d%d/%s listed twice", k, de->d_name);
			listed[i] = true;
		}
		closedir(d);
	}

	/* each present slot: header, body, whole records of its own ID */
	for (int i = 0; i < nslots; i++) {
		struct stat st;
		int model = v.id[i];
		slot_rel(rel, sizeof(rel), i);
		slot_path(path, sizeof(path), root, i);
		if (lstat(path, &st) < 0) {
			if (errno != ENOENT)
				vfail("%s: lstat: %s", rel, strerror(errno));
			else if (model >= 0)
				vfail("%s: missing, expected ID %d", rel, model);
			else if (listed[i])
				vfail("%s: listed by readdir but lstat says ENOENT (%s)", rel, v.why[i]);
			continue;
		}
		if (model < 0) {
			unsigned id = 0;
			size_t n = 0;
			char *c = S_ISREG(st.st_mode) ? read_all(path, &n) : NULL;
			if (c && n >= HDR_LEN)
				sscanf(c, "ID %8u", &id);
			vfail("%s: a removed name came back (%s); it shows %s ID %u, %zu bytes%s", rel,
			      v.why[i], S_ISREG(st.st_mode) ? "a file with" : "a non-file,", id, n,
			      listed[i] ? "" : ", not listed by readdir");
			free(c);
			continue;
		}
		if (model >= 0 && !listed[i])
			vfail("%s: present but not listed by readdir", rel);
		if (!S_ISREG(st.st_mode)) {
			vfail("%s: not a regular file (mode 0%o)", rel, st.st_mode);
			continue;
		}
		content[i] = read_all(path, &clen[i]);
		if (!content[i]) {
			vfail("%s: read: %s", rel, strerror(errno));
			continue;
		}
		files++;
		{
			char *c = content[i];
			size_t n = clen[i], bl, off;
			unsigned id;
			char exp[HDR_LEN + 1];
			if (n < HDR_LEN || sscanf(c, "ID %8u\n", &id) != 1) {
				vfail("%s: no ID header (%zu bytes)", rel, n);
				continue;
			}
			if ((int)id != model) {
				vfail("%s: expected ID %d, the file is ID %u%s", rel, model, id,
				      id >= HIDDEN_BASE ? " (a lower file that was never visible)" : "");
				continue;
			}
			snprintf(exp, sizeof(exp), "ID %08u\n", id);
			if (memcmp(c, exp, HDR_LEN)) {
				vfail("%s: malformed header", rel);
				continue;
			}
			bl = body_len(id);
			if (n < HDR_LEN + bl) {
				vfail("%s: ID %u truncated to %zu bytes", rel, id, n);
				continue;
			}
			for (size_t k = 0; k < bl; k++)
				if (c[HDR_LEN + k] != body_byte(id, k)) {
					vfail("%s: ID %u body differs at byte %zu", rel, id, HDR_LEN + k);
					break;
				}
			off = HDR_LEN + bl;
			if ((n - off) % REC_LEN)
				vfail("%s: %zu bytes after the body: not whole records", rel, n - off);
			for (; off + REC_LEN <= n; off += REC_LEN) {
				unsigned rid, rt;
				size_t rs;
				char tail;
				records++;
				if (sscanf(c + off, "R %8u %2u %10zu%c", &rid, &rt, &rs, &tail) != 4 ||
				    tail != '\n' || c[off + REC_LEN - 1] != '\n') {
					vfail("%s: torn record at byte %zu: '%.24s'", rel, off, c + off);
					break;
				}
				if ((int)rt >= v.nh || rs >= v.natt[rt]) {
					vfail("%s: record of a write never issued (thread %u #%zu)", rel, rt,
					      rs);
					continue;
				}
				if (rid != id || v.att_id[rt][rs] != rid) {
					vfail("%s (ID %u): holds a record written to ID %u (thread %u #%zu)",
					      rel, id, v.att_id[rt][rs], rt, rs);
					continue;
				}
				/* one write, one inode: two names showing it are links
				 * of that inode, with the same content */
				if (v.found[rt][rs]) {
					int j = (int)v.found[rt][rs] - 1;
					if (clen[j] != n || memcmp(content[j], c, n)) {
						char r2[64];
						slot_rel(r2, sizeof(r2), j);
						vfail("%s (ID %u): record thread %u #%zu is also in %s, "
						      "a different file", rel, id, rt, rs, r2);
					}
				} else {
					v.found[rt][rs] = (uint32_t)i + 1;
				}
			}
		}
	}
	/* no lost write: an ID still present holds every record written to it */
	{
		bool *alive = calloc((unsigned)nslots + 1u, sizeof(bool));
		for (int i = 0; i < nslots; i++)
			if (v.id[i] >= 0 && v.id[i] < nslots)
				alive[v.id[i]] = true;
		for (int t = 0; t < v.nh; t++)
			for (size_t a = 0; a < v.natt[t]; a++) {
				uint32_t id = v.att_id[t][a];
				if (!v.att_ok[t][a] || id >= (uint32_t)nslots || !alive[id] ||
				    lower_linked((int)id))
					continue;
				lost_checked++;
				if (!v.found[t][a])
					vfail("lost write: record thread %d #%zu to ID %u, which is still "
					      "present, is in no file", t, a, id);
			}
		free(alive);
	}
	/* names of one ID (not lower-linked) are one inode */
	for (int i = 0; i < nslots; i++) {
		if (!content[i] || lower_linked(v.id[i]))
			continue;
		for (int j = i + 1; j < nslots; j++) {
			if (!content[j] || v.id[j] != v.id[i])
				continue;
			char r2[64];
			slot_rel(rel, sizeof(rel), i);
			slot_rel(r2, sizeof(r2), j);
			if (clen[i] != clen[j] || memcmp(content[i], content[j], clen[i]))
				vfail("%s and %s are links of ID %d but differ (%zu and %zu bytes)", rel,
				      r2, v.id[i], clen[i], clen[j]);
		}
	}
	printf("verify %s: %ld files, %ld records, %ld successful writes to present IDs "
	       "checked, %d failures\n",
	       root, files, records, lost_checked, verify_fail_count);
	return verify_fail_count ? 1 : 0;
}

/* ------------------------------------------------------------ manifest */

static char **mlines;
static size_t mcount, mcap;

static void madd(char *s)
{
	if (mcount == mcap) {
		mcap = mcap ? mcap * 2 : 1024;
		mlines = realloc(mlines, mcap * sizeof(char *));
		if (!mlines)
			abort();
	}
	mlines[mcount++] = s;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void manifest_dir(const char *root, const char *rel)
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	d = opendir(path);
	if (!d) {
		char *s;
		if (asprintf(&s, "%s|opendir failed: %s", rel, strerror(errno)) > 0)
			madd(s);
		return;
	}
	while ((de = readdir(d))) {
		char crel[4096], p[4096], xl[8192], xattrs[16384] = "";
		struct stat st;
		uint64_t h = 1469598103934665603ull;
		char *s, *names[256];
		int nn = 0;
		ssize_t xn;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(crel, sizeof(crel), "%s/%s", rel, de->d_name);
		snprintf(p, sizeof(p), "%s%s", root, crel);
		if (lstat(p, &st) < 0) {
			if (asprintf(&s, "%s|lstat failed: %s", crel, strerror(errno)) > 0)
				madd(s);
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			size_t n;
			char *c = read_all(p, &n);
			if (c)
				for (size_t k = 0; k < n; k++)
					h = (h ^ (unsigned char)c[k]) * 1099511628211ull;
			else
				h = 0;
			free(c);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t n = readlink(p, t, sizeof(t));
			for (ssize_t k = 0; k < n; k++)
				h = (h ^ (unsigned char)t[k]) * 1099511628211ull;
		} else {
			h = 0;
		}
		xn = llistxattr(p, xl, sizeof(xl));
		for (ssize_t k = 0; k < xn; k += (ssize_t)strlen(xl + k) + 1)
			if (!strncmp(xl + k, "user.", 5) && nn < 256)
				names[nn++] = xl + k;
		qsort(names, (size_t)nn, sizeof(char *), cmpstr);
		for (int k = 0; k < nn; k++) {
			char val[256];
			ssize_t vn = lgetxattr(p, names[k], val, sizeof(val) - 1);
			size_t len = strlen(xattrs);
			val[vn > 0 ? vn : 0] = 0;
			snprintf(xattrs + len, sizeof(xattrs) - len, "%s%s=%s", k ? "," : "", names[k],
				 val);
		}
		if (asprintf(&s, "%s|%c|%04o|%lld|%016" PRIx64 "|%s", crel,
			     S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' :
			     S_ISLNK(st.st_mode) ? 'l' : S_ISCHR(st.st_mode) ? 'c' : '?',
			     st.st_mode & 07777, S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, h,
			     xattrs) > 0)
			madd(s);
		if (S_ISDIR(st.st_mode))
			manifest_dir(root, crel);
	}
	closedir(d);
}

static int cmd_manifest(int argc, char **argv)
{
	if (argc != 3)
		die("usage: manifest DIR");
	manifest_dir(argv[2], "");
	qsort(mlines, mcount, sizeof(char *), cmpstr);
	for (size_t k = 0; k < mcount; k++)
		printf("%s\n", mlines[k]);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: stress setup|run|verify|manifest ...");
	if (!strcmp(argv[1], "setup"))
		return cmd_setup(argc, argv);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc, argv);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc, argv);
	if (!strcmp(argv[1], "manifest"))
		return cmd_manifest(argc, argv);
	die("unknown subcommand %s", argv[1]);
	return 2;
}
