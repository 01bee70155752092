/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_request: the FUSE request path, from the bytes the kernel writes to
 * the replies the daemon sends back (wire.c's checks, libfuse's parsing,
 * every operation of ovl_ops), on two lower layers holding every kind of
 * entry and marker and an upper layer made afresh for each input.
 *
 * Input: byte 0 chooses the mount (VARIANT_* below: options and the INIT
 * the harness sends first); the rest is raw FUSE requests, each as long as
 * its header's len says (at least a header; the last one clamped to what
 * is left, and then its header lies), at most MAX_REQUESTS of them.  The
 * harness sets each unique.  Node ids are small (utils/idtable.c): the
 * root is 1, the first LOOKUPs get 2, 3...; file handles likewise.
 *
 * What the harness changes in a request, for the machine's sake, not the
 * daemon's: a MKNOD of a character device other than 0/0 makes /dev/null's
 * 1:3, of a block device 0:0 (never a real disk or a watchdog, created
 * and opened as root); without a bounded tmpfs (fz_bounded) FALLOCATE and
 * COPY_FILE_RANGE lengths are clamped to 1 MiB.  INTERRUPT is not sent:
 * the daemon has no interrupt handling, and libfuse keeps an interrupt for
 * an unknown request queued until a next request (leaked at the end of an
 * input, in libfuse).
 *
 * Besides the sanitizers and fz_send's checks of each reply, after each
 * input: nothing is left in the workdir's staging directory, the lower
 * layers are unchanged (fz_snapshot) and no fd is left open.
 *
 * FUZZ_WRITE_SEEDS=DIR: write the seed corpus (realistic request sequences,
 * run against the live fixture to learn their node ids and handles) to DIR
 * and exit.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_REQUESTS 256

enum {
	VARIANT_SETXATTR_EXT = 0x01, /* INIT offers the 7.33 SETXATTR header */
	VARIANT_PASSTHROUGH = 0x02,  /* INIT offers passthrough (ENOTTY later) */
	VARIANT_WRITEBACK = 0x04,    /* INIT offers the writeback cache */
	VARIANT_XATTR_PERM = 0x08,   /* xattr_permissions=2 */
	VARIANT_READ_ONLY = 0x10,    /* no upper layer */
	VARIANT_WH_FILES = 0x20,     /* FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT */
	VARIANT_NO_CACHE = 0x40,     /* timeout=0, noacl, ino32_t, xino=on, and
				      * few fds: directory fds go uncached */
	VARIANT_IDMAP = 0x80,        /* uid/gidmapping, passthrough=upper */
};

static char *lower1, *lower2, *upper, *work, *mnt;
static char *lower_snap;

/* ------------------------------------------------------------------ */
/* The layers                                                          */

/* The default ACL of a directory: owner rwx, group r-x, other r-x */
static const unsigned char default_acl[] = {
	2, 0, 0, 0,                           /* POSIX_ACL_XATTR_VERSION */
	1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,   /* ACL_USER_OBJ rwx */
	4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,   /* ACL_GROUP_OBJ r-x */
	0x20, 0, 5, 0, 0xff, 0xff, 0xff, 0xff /* ACL_OTHER r-x */
};

#define TXT(s) s, sizeof(s) - 1

static void make_lower2(void)
{
	int d = fz_mkdir(AT_FDCWD, lower2, 0755), sub;

	fz_mkfile(d, "file2", TXT("bottom\n"), 0644);
	fz_mkfile(d, "gone", TXT("gone\n"), 0644);
	fz_mkfile(d, "old", TXT("old\n"), 0644);
	sub = fz_mkdir(d, "merged", 0755);
	fz_mkfile(sub, "m2", TXT("m2\n"), 0600);
	fz_mkfile(sub, "shadow", TXT("below\n"), 0644);
	close(sub);
	sub = fz_mkdir(d, "opq", 0755);
	fz_mkfile(sub, "hidden", TXT("hidden\n"), 0644);
	close(sub);
	sub = fz_mkdir(d, "opq2", 0755);
	fz_mkfile(sub, "hidden2", TXT("hidden\n"), 0644);
	close(sub);
	fz_mkfile(d, "hard1", TXT("linked\n"), 0644);
	if (linkat(d, "hard1", d, "hard2", 0) < 0)
		fz_fail("fixture: link: %s", strerror(errno));
	sub = fz_mkdir(d, "dirfile", 0755);
	fz_mkfile(sub, "inner", TXT("inner\n"), 0644);
	close(sub);
	sub = fz_mkdir(d, "acl", 0755);
	fz_xattr(d, "acl", "system.posix_acl_default", default_acl, sizeof(default_acl));
	fz_mkfile(sub, "a", TXT("a\n"), 0644);
	close(sub);
	close(d);
}

static void make_lower1(void)
{
	int d = fz_mkdir(AT_FDCWD, lower1, 0755), sub, deep;
	char big[20000];

	fz_mkfile(d, "top", TXT("top file\n"), 0644);
	fz_xattr(d, "top", "user.test", TXT("hello"));
	fz_xattr(d, "top", "trusted.test", TXT("t"));
	fz_xattr(d, "top", "user.overlay.origin", TXT("x"));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	fz_mkfile(d, "big", big, sizeof(big), 0644);
	fz_mknod(d, "gone", S_IFCHR | 0, makedev(0, 0));
	fz_mkfile(d, ".wh.old", "", 0, 0);
	sub = fz_mkdir(d, "merged", 0755);
	fz_xattr(d, "merged", "user.dirx", TXT("d"));
	fz_mkfile(sub, "m1", TXT("m1\n"), 0644);
	fz_symlink(sub, "shadow", "m1");
	close(sub);
	sub = fz_mkdir(d, "opq", 0755);
	fz_xattr(d, "opq", "trusted.overlay.opaque", TXT("y"));
	fz_mkfile(sub, "visible", TXT("v\n"), 0644);
	close(sub);
	sub = fz_mkdir(d, "opq2", 0755);
	fz_mkfile(sub, ".wh..wh..opq", "", 0, 0);
	close(sub);
	fz_symlink(d, "link", "top");
	fz_symlink(d, "abs", "/etc/passwd");
	fz_mkfile(d, "dirfile", TXT("a file over a directory\n"), 0644);
	fz_mkfile(d, "exe", TXT("#!/bin/sh\n"), 04755);
	fz_mknod(d, "pipe", S_IFIFO | 0644, 0);
	fz_mknod(d, "null", S_IFCHR | 0666, makedev(1, 3));
	sub = fz_mkdir(d, "sub", 0755);
	deep = fz_mkdir(sub, "deep", 0700);
	fz_mkfile(deep, "file", TXT("deep\n"), 0644);
	close(deep);
	close(sub);
	close(d);
}

/* The upper layer of one input: a copied-up file with its origin record,
 * a merged directory, a whiteout of a lower file, an opaque directory. */
static void make_upper(unsigned variant)
{
	int d, sub;

	fz_reset_dir(upper);
	fz_reset_dir(work);
	if (variant & VARIANT_READ_ONLY)
		return;
	d = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		fz_fail("open %s: %s", upper, strerror(errno));
	fz_mkfile(d, "ufile", TXT("upper\n"), 0644);
	fz_xattr(d, "ufile", "user.u", TXT("1"));
	sub = fz_mkdir(d, "merged", 0755);
	fz_xattr(d, "merged", "trusted.fuseoverlayfs.impure", TXT("y"));
	fz_mkfile(sub, "up", TXT("up\n"), 0644);
	fz_xattr(sub, "up", "trusted.fuseoverlayfs.origin", TXT("1:0:12345"));
	close(sub);
	if (variant & VARIANT_WH_FILES)
		fz_mkfile(d, ".wh.hard2", "", 0, 0);
	else
		fz_mknod(d, "hard2", S_IFCHR | 0, makedev(0, 0));
	sub = fz_mkdir(d, "udir", 0755);
	fz_xattr(d, "udir", "trusted.overlay.opaque", TXT("y"));
	close(sub);
	close(d);
}

static void mount_variant(struct fz_mount *m, unsigned variant)
{
	char opts[4096];
	uint32_t flags = FZ_INIT_FLAGS | FUSE_POSIX_ACL, flags2 = 0;
	int n;

	if (variant & VARIANT_WH_FILES)
		setenv("FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT", "1", 1);
	else
		unsetenv("FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT");
	n = snprintf(opts, sizeof(opts), "lowerdir=%s:%s", lower1, lower2);
	if (!(variant & VARIANT_READ_ONLY))
		n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",upperdir=%s,workdir=%s", upper,
			      work);
	if (variant & VARIANT_XATTR_PERM)
		n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",xattr_permissions=2");
	if (variant & VARIANT_NO_CACHE)
		n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",timeout=0,noacl,ino32_t,xino=on");
	if (variant & VARIANT_IDMAP)
		snprintf(opts + n, sizeof(opts) - (size_t)n,
			 ",uidmapping=0:1000:100,gidmapping=0:1000:100,passthrough=upper");
	if (variant & VARIANT_SETXATTR_EXT)
		flags |= FUSE_SETXATTR_EXT;
	if (variant & VARIANT_WRITEBACK)
		flags |= FUSE_WRITEBACK_CACHE;
	if (variant & VARIANT_PASSTHROUGH)
		flags2 |= (uint32_t)(FUSE_PASSTHROUGH >> 32);
	fz_mount_start(m, opts, mnt, flags, flags2);
}

/* ------------------------------------------------------------------ */
/* One input                                                           */

/* new_encode_dev of the kernel's FUSE client */
static uint32_t encode_dev(unsigned major, unsigned minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* What the harness changes before sending (see the header comment);
 * false: not sent. */
static bool make_safe(struct fz_msg *msg)
{
	struct fuse_in_header *h = (void *)msg->buf;
	unsigned char *arg = msg->buf + sizeof(*h);
	size_t alen = msg->len - sizeof(*h);

	switch (h->opcode) {
	case FUSE_INTERRUPT:
		return false;
	case FUSE_MKNOD:
		if (alen >= sizeof(struct fuse_mknod_in)) {
			struct fuse_mknod_in in;
			memcpy(&in, arg, sizeof(in));
			if (S_ISCHR(in.mode) && in.rdev)
				in.rdev = encode_dev(1, 3);
			else if (S_ISBLK(in.mode))
				in.rdev = 0;
			memcpy(arg, &in, sizeof(in));
		}
		break;
	case FUSE_FALLOCATE:
		if (!fz_bounded() && alen >= sizeof(struct fuse_fallocate_in)) {
			struct fuse_fallocate_in in;
			memcpy(&in, arg, sizeof(in));
			in.offset &= 0xfffff;
			in.length &= 0xfffff;
			memcpy(arg, &in, sizeof(in));
		}
		break;
	case FUSE_COPY_FILE_RANGE:
		if (!fz_bounded() && alen >= sizeof(struct fuse_copy_file_range_in)) {
			struct fuse_copy_file_range_in in;
			memcpy(&in, arg, sizeof(in));
			in.len &= 0xfffff;
			memcpy(arg, &in, sizeof(in));
		}
		break;
	}
	return true;
}

static void run_requests(struct fz_mount *m, const uint8_t *data, size_t size)
{
	static struct fz_msg msg;
	size_t off = 0;

	for (int n = 0; n < MAX_REQUESTS && size - off >= sizeof(struct fuse_in_header); n++) {
		struct fuse_in_header h;
		size_t len;

		memcpy(&h, data + off, sizeof(h));
		len = h.len < sizeof(h) ? sizeof(h) : h.len;
		if (len > size - off)
			len = size - off;
		if (len > sizeof(msg.buf))
			len = sizeof(msg.buf);
		memcpy(msg.buf, data + off, len);
		msg.len = len;
		off += len;
		if (make_safe(&msg) && !fz_send(m, &msg))
			break;
	}
}

/* Both lower layers, as fz_snapshot sees them */
static char *lowers_snapshot(void)
{
	char *l1 = fz_snapshot(lower1), *l2 = fz_snapshot(lower2), *both;

	if (asprintf(&both, "%s%s", l1, l2) < 0)
		fz_fail("out of memory");
	free(l1);
	free(l2);
	return both;
}

/* VARIANT_NO_CACHE: the daemon keeps half of RLIMIT_NOFILE for directory
 * fds (super.c): with a low limit a deep tree reaches the uncached paths
 * (ovl_dir_path) and EMFILE.  *saved: the limit to put back. */
static void limit_fds(unsigned variant, struct rlimit *saved)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, saved);
	if (!(variant & VARIANT_NO_CACHE))
		return;
	rl = *saved;
	rl.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_mount m;
	struct rlimit fdlimit;
	int fds;
	char *now;

	if (size < 1)
		return 0;
	fds = fz_count_fds();
	make_upper(data[0]);
	limit_fds(data[0], &fdlimit);
	mount_variant(&m, data[0]);
	run_requests(&m, data + 1, size - 1);
	fz_check_staging(work);
	fz_mount_stop(&m);
	setrlimit(RLIMIT_NOFILE, &fdlimit);

	if (fz_count_fds() != fds)
		fz_fail("%d fds open after the input, %d before", fz_count_fds(), fds);
	now = lowers_snapshot();
	if (strcmp(now, lower_snap))
		fz_fail("a lower layer changed:\n--- before\n%s--- after\n%s", lower_snap, now);
	free(now);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Seeds                                                               */

static struct fz_mount *sm;   /* the mount a seed is recorded on */
static unsigned char seed[65536];
static size_t seed_len;

/* Sends msg and appends it to the seed */
static void rec(struct fz_msg *msg)
{
	if (seed_len + msg->len > sizeof(seed))
		fz_fail("seed too long");
	memcpy(seed + seed_len, msg->buf, msg->len);
	seed_len += msg->len;
	fz_send(sm, msg);
}

static uint64_t entry_nodeid(void)
{
	struct fuse_entry_out e;

	if (!sm->replied || sm->error || sm->blen < sizeof(e))
		return 0;
	memcpy(&e, sm->body, sizeof(e));
	return e.nodeid;
}

static uint64_t s_lookup(uint64_t parent, const char *name)
{
	struct fz_msg m;

	fz_start(&m, FUSE_LOOKUP, parent);
	fz_str(&m, name);
	rec(&m);
	return entry_nodeid();
}

static void s_simple(uint32_t op, uint64_t nid)
{
	struct fz_msg m;

	fz_start(&m, op, nid);
	rec(&m);
}

static void s_getattr(uint64_t nid)
{
	struct fz_msg m;
	struct fuse_getattr_in in = { 0 };

	fz_start(&m, FUSE_GETATTR, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static uint64_t s_open(uint64_t nid, uint32_t flags, bool dir)
{
	struct fz_msg m;
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out o;

	fz_start(&m, dir ? FUSE_OPENDIR : FUSE_OPEN, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
	if (!sm->replied || sm->error || sm->blen < sizeof(o))
		return 0;
	memcpy(&o, sm->body, sizeof(o));
	return o.fh;
}

static void s_read(uint32_t op, uint64_t nid, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fz_msg m;
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	fz_start(&m, op, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_release(uint64_t nid, uint64_t fh, bool dir)
{
	struct fz_msg m;
	struct fuse_release_in in = { .fh = fh };

	fz_start(&m, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_write(uint64_t nid, uint64_t fh, uint64_t off, const char *data)
{
	struct fz_msg m;
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = (uint32_t)strlen(data) };

	fz_start(&m, FUSE_WRITE, nid);
	fz_put(&m, &in, sizeof(in));
	fz_put(&m, data, strlen(data));
	rec(&m);
}

static uint64_t s_create(uint64_t parent, const char *name, uint32_t mode, uint32_t flags,
			 uint64_t *fh)
{
	struct fz_msg m;
	struct fuse_create_in in = { .flags = flags, .mode = mode };
	struct fuse_open_out o;
	uint64_t nid;

	fz_start(&m, FUSE_CREATE, parent);
	fz_put(&m, &in, sizeof(in));
	fz_str(&m, name);
	rec(&m);
	nid = entry_nodeid();
	if (nid && sm->blen >= sizeof(struct fuse_entry_out) + sizeof(o)) {
		memcpy(&o, sm->body + sizeof(struct fuse_entry_out), sizeof(o));
		*fh = o.fh;
	}
	return nid;
}

static uint64_t s_mkdir(uint64_t parent, const char *name, uint32_t mode)
{
	struct fz_msg m;
	struct fuse_mkdir_in in = { .mode = mode };

	fz_start(&m, FUSE_MKDIR, parent);
	fz_put(&m, &in, sizeof(in));
	fz_str(&m, name);
	rec(&m);
	return entry_nodeid();
}

static uint64_t s_mknod(uint64_t parent, const char *name, uint32_t mode, uint32_t rdev)
{
	struct fz_msg m;
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };

	fz_start(&m, FUSE_MKNOD, parent);
	fz_put(&m, &in, sizeof(in));
	fz_str(&m, name);
	rec(&m);
	return entry_nodeid();
}

static uint64_t s_symlink(uint64_t parent, const char *name, const char *target)
{
	struct fz_msg m;

	fz_start(&m, FUSE_SYMLINK, parent);
	fz_str(&m, name);
	fz_str(&m, target);
	rec(&m);
	return entry_nodeid();
}

static uint64_t s_link(uint64_t nid, uint64_t newparent, const char *newname)
{
	struct fz_msg m;
	struct fuse_link_in in = { .oldnodeid = nid };

	fz_start(&m, FUSE_LINK, newparent);
	fz_put(&m, &in, sizeof(in));
	fz_str(&m, newname);
	rec(&m);
	return entry_nodeid();
}

static void s_name(uint32_t op, uint64_t parent, const char *name)
{
	struct fz_msg m;

	fz_start(&m, op, parent);
	fz_str(&m, name);
	rec(&m);
}

static void s_rename(uint64_t p, const char *name, uint64_t q, const char *newname,
		     uint32_t flags)
{
	struct fz_msg m;
	struct fuse_rename2_in in = { .newdir = q, .flags = flags };

	fz_start(&m, flags ? FUSE_RENAME2 : FUSE_RENAME, p);
	fz_put(&m, &in, flags ? sizeof(in) : sizeof(struct fuse_rename_in));
	fz_str(&m, name);
	fz_str(&m, newname);
	rec(&m);
}

static void s_setattr(uint64_t nid, const struct fuse_setattr_in *in)
{
	struct fz_msg m;

	fz_start(&m, FUSE_SETATTR, nid);
	fz_put(&m, in, sizeof(*in));
	rec(&m);
}

/* SETXATTR with the header of protocol < 7.33 (variant 0 does not offer
 * FUSE_SETXATTR_EXT) */
static void s_setxattr(uint64_t nid, const char *name, const char *value, uint32_t flags)
{
	struct fz_msg m;
	struct fuse_setxattr_in in = { .size = (uint32_t)strlen(value), .flags = flags };

	fz_start(&m, FUSE_SETXATTR, nid);
	fz_put(&m, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	fz_str(&m, name);
	fz_put(&m, value, strlen(value));
	rec(&m);
}

static void s_getxattr(uint32_t op, uint64_t nid, const char *name, uint32_t size)
{
	struct fz_msg m;
	struct fuse_getxattr_in in = { .size = size };

	fz_start(&m, op, nid);
	fz_put(&m, &in, sizeof(in));
	if (name)
		fz_str(&m, name);
	rec(&m);
}

static void s_forget(uint64_t nid, uint64_t n)
{
	struct fz_msg m;
	struct fuse_forget_in in = { .nlookup = n };

	fz_start(&m, FUSE_FORGET, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_batch_forget(const uint64_t *nids, uint32_t count)
{
	struct fz_msg m;
	struct fuse_batch_forget_in in = { .count = count };

	fz_start(&m, FUSE_BATCH_FORGET, 0);
	fz_put(&m, &in, sizeof(in));
	for (uint32_t i = 0; i < count; i++) {
		struct fuse_forget_one one = { .nodeid = nids[i], .nlookup = 1 };
		fz_put(&m, &one, sizeof(one));
	}
	rec(&m);
}

static void s_fsync(uint32_t op, uint64_t nid, uint64_t fh, uint32_t flags)
{
	struct fz_msg m;
	struct fuse_fsync_in in = { .fh = fh, .fsync_flags = flags };

	fz_start(&m, op, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_access(uint64_t nid, uint32_t mask)
{
	struct fz_msg m;
	struct fuse_access_in in = { .mask = mask };

	fz_start(&m, FUSE_ACCESS, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_fallocate(uint64_t nid, uint64_t fh, uint32_t mode, uint64_t off, uint64_t len)
{
	struct fz_msg m;
	struct fuse_fallocate_in in = { .fh = fh, .offset = off, .length = len, .mode = mode };

	fz_start(&m, FUSE_FALLOCATE, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_lseek(uint64_t nid, uint64_t fh, uint64_t off, uint32_t whence)
{
	struct fz_msg m;
	struct fuse_lseek_in in = { .fh = fh, .offset = off, .whence = whence };

	fz_start(&m, FUSE_LSEEK, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

static void s_copy_file_range(uint64_t nid, uint64_t fh, uint64_t nid_out, uint64_t fh_out,
			      uint64_t len)
{
	struct fz_msg m;
	struct fuse_copy_file_range_in in = {
		.fh_in = fh, .nodeid_out = nid_out, .fh_out = fh_out, .len = len,
	};

	fz_start(&m, FUSE_COPY_FILE_RANGE, nid);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
}

/* FS_IOC_GETFLAGS / SETFLAGS as the kernel's fileattr code sends them */
static void s_ioctl_flags(uint64_t nid, uint64_t fh, bool set, uint32_t flags)
{
	struct fz_msg m;
	struct fuse_ioctl_in in = {
		.fh = fh, .cmd = set ? 0x40086602u : 0x80086601u,
		.in_size = set ? 4 : 0, .out_size = set ? 0 : 4,
	};

	fz_start(&m, FUSE_IOCTL, nid);
	fz_put(&m, &in, sizeof(in));
	if (set)
		fz_put(&m, &flags, 4);
	rec(&m);
}

static void s_tmpfile(uint64_t parent, uint32_t mode, uint64_t *nid, uint64_t *fh)
{
	struct fz_msg m;
	struct fuse_create_in in = { .flags = O_RDWR, .mode = mode };
	struct fuse_open_out o;

	fz_start(&m, FUSE_TMPFILE, parent);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
	*nid = entry_nodeid();
	if (*nid && sm->blen >= sizeof(struct fuse_entry_out) + sizeof(o)) {
		memcpy(&o, sm->body + sizeof(struct fuse_entry_out), sizeof(o));
		*fh = o.fh;
	}
}

/* Lists a directory, both ways */
static void s_list(uint64_t dir)
{
	uint64_t fh = s_open(dir, O_RDONLY | O_DIRECTORY, true);

	s_read(FUSE_READDIRPLUS, dir, fh, 0, 4096);
	s_read(FUSE_READDIR, dir, fh, 0, 4096);
	s_read(FUSE_READDIR, dir, fh, 3, 80);
	s_release(dir, fh, true);
}

/* Reads a file whole, then its tail */
static void s_cat(uint64_t nid)
{
	uint64_t fh = s_open(nid, O_RDONLY, false);

	s_read(FUSE_READ, nid, fh, 0, 65536);
	s_read(FUSE_READ, nid, fh, 5, 3);
	s_release(nid, fh, false);
}

/* The scenarios: each a seed of its own */

static void seed_lookup_all(void)
{
	static const char *const names[] = {
		"top", "big", "gone", "old", ".wh.old", "merged", "opq", "opq2", "link", "abs",
		"dirfile", "exe", "pipe", "null", "sub", "file2", "hard1", "hard2", "acl",
		"ufile", "udir", "nothing", ".", "..",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t n = s_lookup(1, names[i]);
		if (n)
			s_getattr(n);
	}
}

static void seed_read_files(void)
{
	uint64_t top = s_lookup(1, "top"), big = s_lookup(1, "big"), lnk = s_lookup(1, "link");
	uint64_t sub = s_lookup(1, "sub"), deep = s_lookup(sub, "deep");

	s_cat(top);
	s_cat(big);
	s_simple(FUSE_READLINK, lnk);
	s_simple(FUSE_READLINK, s_lookup(1, "abs"));
	s_cat(s_lookup(deep, "file"));
	s_forget(top, 1);
	s_forget(big, 1);
}

static void seed_readdir(void)
{
	uint64_t merged = s_lookup(1, "merged"), opq = s_lookup(1, "opq");

	s_list(1);
	s_list(merged);
	s_list(opq);
	s_list(s_lookup(1, "opq2"));
	s_list(s_lookup(1, "udir"));
	s_lookup(merged, "shadow");
	s_lookup(merged, "up");
	s_lookup(opq, "hidden");
}

static void seed_create_write(void)
{
	uint64_t fh = 0, n = s_create(1, "new", S_IFREG | 0644, O_RDWR | O_CREAT, &fh);
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 3 };

	s_write(n, fh, 0, "written through the mount\n");
	s_write(n, fh, 4096, "after a hole\n");
	s_fsync(FUSE_FSYNC, n, fh, 0);
	s_read(FUSE_READ, n, fh, 0, 8192);
	s_lseek(n, fh, 0, 3 /* SEEK_DATA */);
	s_lseek(n, fh, 0, 4 /* SEEK_HOLE */);
	s_fallocate(n, fh, 0, 0, 16384);
	s_fallocate(n, fh, 0x03 /* KEEP_SIZE | PUNCH_HOLE */, 0, 4096);
	s_release(n, fh, false);
	s_getattr(n);
	s_setattr(n, &sa);
	s_cat(n);
}

static void seed_copy_up(void)
{
	uint64_t top = s_lookup(1, "top"), fh;
	struct fuse_setattr_in chmod = { .valid = FATTR_MODE, .mode = S_IFREG | 0600 };
	struct fuse_setattr_in chown = { .valid = FATTR_UID | FATTR_GID, .uid = 1, .gid = 2 };
	struct fuse_setattr_in times = { .valid = FATTR_ATIME | FATTR_MTIME, .atime = 1,
					 .mtime = 2 };

	fh = s_open(top, O_RDONLY, false);
	s_setattr(top, &chmod);
	s_read(FUSE_READ, top, fh, 0, 100);
	s_release(top, fh, false);
	fh = s_open(top, O_WRONLY | O_APPEND, false);
	s_write(top, fh, 0, "appended\n");
	s_release(top, fh, false);
	s_setattr(top, &chown);
	s_setattr(top, &times);
	s_getattr(top);
	fh = s_open(s_lookup(1, "exe"), O_WRONLY | O_TRUNC, false);
	s_release(2, fh, false);
	s_setattr(s_lookup(1, "link"), &chown);
	s_setattr(s_lookup(1, "null"), &chmod);
	s_setattr(s_lookup(1, "merged"), &chmod);
}

static void seed_namespace(void)
{
	uint64_t d = s_mkdir(1, "d", 0755), merged = s_lookup(1, "merged");
	uint64_t fh = 0, f = s_create(d, "f", S_IFREG | 0600, O_WRONLY | O_CREAT, &fh);

	s_release(f, fh, false);
	s_mknod(d, "fifo", S_IFIFO | 0644, 0);
	s_mknod(d, "wh", S_IFCHR | 0644, 0);
	s_symlink(d, "sl", "f");
	s_link(f, 1, "hardlink");
	s_link(s_lookup(1, "top"), d, "toplink");
	s_rename(d, "f", 1, "moved", 0);
	s_rename(1, "top", merged, "renamed", 0);
	s_rename(1, "file2", 1, "ufile", 2 /* RENAME_EXCHANGE */);
	s_rename(merged, "m1", 1, "fresh", 4 /* RENAME_WHITEOUT */);
	s_rename(1, "merged", 1, "dir2", 0);
	s_name(FUSE_UNLINK, 1, "gone");
	s_name(FUSE_UNLINK, 1, "hard1");
	s_name(FUSE_UNLINK, 1, "dirfile");
	s_name(FUSE_RMDIR, 1, "opq");
	s_name(FUSE_RMDIR, 1, "dir2");
	s_name(FUSE_UNLINK, d, "sl");
	s_list(1);
	s_list(d);
}

static void seed_xattrs(void)
{
	uint64_t top = s_lookup(1, "top"), merged = s_lookup(1, "merged");

	s_getxattr(FUSE_LISTXATTR, top, NULL, 0);
	s_getxattr(FUSE_LISTXATTR, top, NULL, 4096);
	s_getxattr(FUSE_GETXATTR, top, "user.test", 0);
	s_getxattr(FUSE_GETXATTR, top, "user.test", 100);
	s_getxattr(FUSE_GETXATTR, top, "trusted.overlay.opaque", 100);
	s_getxattr(FUSE_GETXATTR, top, "security.capability", 100);
	s_setxattr(top, "user.new", "value", 0);
	s_setxattr(merged, "system.posix_acl_default", "x", 0);
	s_setxattr(merged, "trusted.overlay.opaque", "y", 0);
	s_name(FUSE_REMOVEXATTR, top, "user.test");
	s_getxattr(FUSE_LISTXATTR, top, NULL, 4096);
	s_getxattr(FUSE_LISTXATTR, s_lookup(1, "acl"), NULL, 4096);
	s_getxattr(FUSE_GETXATTR, s_lookup(1, "acl"), "system.posix_acl_default", 100);
}

static void seed_misc(void)
{
	uint64_t top = s_lookup(1, "top"), big = s_lookup(1, "big"), fh, fh2, tn = 0, tfh = 0;
	uint64_t acl = s_lookup(1, "acl"), nids[3];

	s_simple(FUSE_STATFS, 1);
	s_access(top, 4);
	s_access(top, 2);
	fh = s_open(top, O_RDWR, false);
	s_ioctl_flags(top, fh, false, 0);
	s_ioctl_flags(top, fh, true, FS_APPEND_FL);
	s_ioctl_flags(top, fh, true, FS_IMMUTABLE_FL);
	s_write(top, fh, 0, "refused");
	s_ioctl_flags(top, fh, true, 0);
	fh2 = s_open(big, O_RDONLY, false);
	s_copy_file_range(big, fh2, top, fh, 8192);
	s_fsync(FUSE_FLUSH, top, fh, 0);
	s_release(big, fh2, false);
	s_release(top, fh, false);
	s_tmpfile(1, S_IFREG | 0600, &tn, &tfh);
	s_write(tn, tfh, 0, "tmp");
	s_link(tn, 1, "was_tmp");
	s_release(tn, tfh, false);
	s_mkdir(acl, "inherits", 0777);
	s_create(acl, "file", S_IFREG | 0666, O_WRONLY | O_CREAT, &fh);
	s_fsync(FUSE_FSYNCDIR, 1, 0, 0);
	nids[0] = top;
	nids[1] = big;
	nids[2] = acl;
	s_batch_forget(nids, 3);
	s_getattr(top);
}

/* Names made again over whiteouts, directories over removed ones
 * (opaque), removal of merged directories */
static void seed_over_whiteouts(void)
{
	uint64_t fh = 0, n, d;

	s_name(FUSE_UNLINK, 1, "top");
	n = s_create(1, "top", S_IFREG | 0600, O_WRONLY | O_CREAT, &fh);
	s_release(n, fh, false);
	n = s_create(1, "hard2", S_IFREG | 0600, O_WRONLY | O_CREAT, &fh);
	s_release(n, fh, false);
	s_mkdir(1, "gone", 0755);
	s_mkdir(1, "old", 0700);
	d = s_lookup(1, "opq2");
	s_name(FUSE_UNLINK, d, "hidden2");
	s_name(FUSE_RMDIR, 1, "opq2");
	d = s_mkdir(1, "opq2", 0755);
	s_list(d);
	d = s_lookup(1, "merged");
	s_name(FUSE_UNLINK, d, "m1");
	s_name(FUSE_UNLINK, d, "m2");
	s_name(FUSE_UNLINK, d, "shadow");
	s_name(FUSE_UNLINK, d, "up");
	s_name(FUSE_RMDIR, 1, "merged");
	s_mkdir(1, "merged", 0755);
	s_symlink(1, "exe", "top");
	s_rename(1, "udir", 1, "gone", 0);
	s_list(1);
}

/* A directory renamed over merged directories that only look empty */
static void seed_rename_over(void)
{
	uint64_t merged = s_lookup(1, "merged"), opq = s_lookup(1, "opq"), fh = 0, n;

	s_name(FUSE_UNLINK, merged, "m1");
	s_name(FUSE_UNLINK, merged, "m2");
	s_name(FUSE_UNLINK, merged, "shadow");
	s_name(FUSE_UNLINK, merged, "up");
	n = s_mkdir(1, "newdir", 0750);
	s_release(s_create(n, "inside", S_IFREG | 0600, O_WRONLY | O_CREAT, &fh), fh, false);
	s_rename(1, "newdir", 1, "merged", 0);
	s_list(merged);
	s_name(FUSE_UNLINK, opq, "visible");
	s_mkdir(1, "other", 0700);
	s_rename(1, "other", 1, "opq", 0);
	s_rename(1, "opq", 1, "merged", 1 /* RENAME_NOREPLACE */);
	s_rename(1, "merged", 1, "sub", 2 /* RENAME_EXCHANGE */);
	s_list(1);
}

/* A tree deeper than the directory fds the daemon keeps under
 * VARIANT_NO_CACHE: the rest are opened by path */
static void seed_deep(void)
{
	uint64_t d = 1, top = 0, fh = 0, n;
	char name[16];

	for (int i = 0; i < 40 && (i == 0 || d); i++) {
		snprintf(name, sizeof(name), "d%02d", i);
		d = s_mkdir(d, name, 0755);
		if (i == 0)
			top = d;
	}
	n = s_create(d, "bottom", S_IFREG | 0644, O_RDWR | O_CREAT, &fh);
	s_write(n, fh, 0, "deep down\n");
	s_release(n, fh, false);
	s_list(d);
	s_rename(1, "d00", 1, "moved", 0);
	s_getattr(n);
	s_cat(n);
	s_setxattr(n, "user.deep", "1", 0);
	s_list(top);
	s_lookup(s_lookup(1, "sub"), "deep");
}

static void seed_lifecycle(void)
{
	struct fz_msg m;
	struct fuse_init_in in = { .major = 7, .minor = 31, .flags = FUSE_ASYNC_READ };

	s_getattr(1);
	s_simple(FUSE_DESTROY, 0);
	s_getattr(1);
	fz_start(&m, FUSE_INIT, 0);
	fz_put(&m, &in, sizeof(in));
	rec(&m);
	s_lookup(1, "top");
	s_simple(9999, 1);   /* unknown opcode */
}

static void seed_malformed(void)
{
	struct fz_msg m;

	fz_start(&m, FUSE_LOOKUP, 1);
	fz_put(&m, "top", 3);   /* no NUL */
	rec(&m);
	fz_start(&m, FUSE_GETATTR, 1);
	fz_put(&m, "ab", 2);    /* shorter than fuse_getattr_in */
	rec(&m);
	s_getattr(0);
	s_getattr(0xdeadbeef00000002ULL);
	s_lookup(7, "x");
	s_read(FUSE_READ, 1, 77, 0, 10);
	s_release(1, 1, false);
}

static void write_seed(const char *dir, const char *name, unsigned variant,
		       void (*scenario)(void))
{
	struct fz_mount m;
	char path[4096];
	FILE *f;

	make_upper(variant);
	mount_variant(&m, variant);
	sm = &m;
	seed[0] = (unsigned char)variant;
	seed_len = 1;
	scenario();
	fz_mount_stop(&m);
	snprintf(path, sizeof(path), "%s/%s-%02x", dir, name, variant);
	f = fopen(path, "we");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f))
		fz_fail("cannot write %s", path);
}

static void write_seeds(const char *dir)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} scenarios[] = {
		{ "lookup", seed_lookup_all }, { "read", seed_read_files },
		{ "readdir", seed_readdir }, { "write", seed_create_write },
		{ "copyup", seed_copy_up }, { "namespace", seed_namespace },
		{ "xattr", seed_xattrs }, { "misc", seed_misc },
		{ "lifecycle", seed_lifecycle }, { "malformed", seed_malformed },
		{ "whiteouts", seed_over_whiteouts }, { "renameover", seed_rename_over },
		{ "deep", seed_deep },
	};
	static const unsigned variants[] = {
		0, VARIANT_SETXATTR_EXT | VARIANT_PASSTHROUGH, VARIANT_WRITEBACK | VARIANT_XATTR_PERM,
		VARIANT_READ_ONLY, VARIANT_WH_FILES | VARIANT_NO_CACHE, VARIANT_IDMAP,
	};

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
			write_seed(dir, scenarios[i].name, variants[v], scenarios[i].fn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fz_init();
	lower1 = fz_path("lower1");
	lower2 = fz_path("lower2");
	upper = fz_path("upper");
	work = fz_path("work");
	mnt = fz_path("mnt");
	make_lower2();
	make_lower1();
	if (mkdir(mnt, 0755) < 0)
		fz_fail("mkdir %s: %s", mnt, strerror(errno));
	lower_snap = lowers_snapshot();
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	/* Once, so that what libc and libfuse allocate on first use (stdio
	 * buffers...) is not taken for a leak of the first input: libFuzzer
	 * runs an input again whenever it had more mallocs than frees. */
	{
		static const uint8_t warm[] = { 0 };
		LLVMFuzzerTestOneInput(warm, sizeof(warm));
	}
	return 0;
}
