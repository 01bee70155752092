/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_layer: the readers of layer content on hostile layers.  Each input
 * describes the entries of an upper and two lower layers (names, types,
 * owners, modes, contents, symlink targets and xattrs, the overlay's
 * markers among them); the harness makes them, mounts the overlay
 * in-process (harness.h) and walks it as a kernel would: LOOKUP of every
 * name the input made, READDIRPLUS of every directory, GETATTR, LISTXATTR
 * and GETXATTR of every name listed, READLINK, OPEN and READ; then, when
 * the input asks, writes over what it made: each object copied up (which
 * carries the hostile xattrs and owners), its xattrs and flags asked and
 * set, renamed and back, removed (whiteouts over hostile lower entries),
 * each hidden name made again (over whiteouts of every form); and lists
 * the root again.  So namei.c (lookup, whiteouts, opaque directories),
 * whiteout.c, readdir.c, owner.c (override_stat), ino.c (origin records),
 * xattr.c, fileattr.c (protattr), copyup.c and dir.c read what the input
 * wrote.
 *
 * Input: byte 0, the mount (CFG_* below); then entries, each:
 *   kind     low 3 bits: regular, directory, symlink, whiteout (char 0/0),
 *            .wh.NAME file, .wh..wh..opq in the parent, fifo, hard link to
 *            the layer's last regular file; bits 3-4: the layer (0 upper,
 *            1 and 3 lower1, 2 lower2); bits 5-7: the owner
 *   parent   index into the directories made so far (any layer; made in
 *            this one too when missing, so that directories merge)
 *   name     a length byte and the bytes ('/' and NUL become '_')
 *   mode     one byte: group and other permission bits (0-5), the owner's
 *            x (6), setuid (7); the owner may always read and write
 *   payload  a length byte and the bytes: file content, symlink target
 *   xattrs   a count byte (0-7), each: a name byte (an index into
 *            XATTR_NAMES, or beyond it "user." and a length-prefixed name),
 *            a length-prefixed value
 * Everything stops at the end of the input; at most MAX_ENTRIES entries.
 *
 * FUZZ_WRITE_SEEDS=DIR: write the seed corpus to DIR and exit.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_ENTRIES 64
#define MAX_DIRS 32
#define MAX_REQUESTS 3000
#define MAX_LISTED 128

enum {
	CFG_XATTR_PERM = 0x03, /* xattr_permissions=0, 1, 2 (3 is 2) */
	CFG_UPPER = 0x04,      /* an upper layer (else entries of layer 0 go to lower1) */
	CFG_MUTATE = 0x08,     /* copy up and remove what was made */
	CFG_NO_CACHE = 0x10,   /* timeout=0, static_nlink */
	CFG_IDMAP = 0x20,      /* uid/gidmapping */
	CFG_ONE_LOWER = 0x40,  /* lower2 not used (entries of layer 2 go to lower1) */
	CFG_WH_FILES = 0x80,   /* FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT */
};

enum { K_REG, K_DIR, K_LNK, K_WHITEOUT, K_WH_FILE, K_OPQ_FILE, K_FIFO, K_LINK };

/* The mode byte of permission bits perm (see the input format) */
#define MODE(perm) ((uint8_t)(((perm) & 077) | ((perm) & 0100 ? 0x40 : 0) | ((perm) & 04000 ? 0x80 : 0)))

static const char *const XATTR_NAMES[] = {
	"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque",
	"trusted.overlay.whiteout", "trusted.overlay.whiteouts", "user.overlay.whiteout",
	"trusted.overlay.redirect", "trusted.overlay.metacopy", "trusted.overlay.origin",
	"trusted.overlay.impure", "trusted.overlay.nlink", "trusted.overlay.upper",
	"trusted.overlay.protattr", "user.overlay.protattr", "trusted.fuseoverlayfs.origin",
	"user.fuseoverlayfs.origin", "trusted.fuseoverlayfs.impure", "user.fuseoverlayfs.impure",
	"user.containers.override_stat", "user.fuseoverlayfs.override_stat",
	"security.fuseoverlayfs.override_stat", "user.containers.override_security.capability",
	"user.containers.override_security.selinux", "security.capability",
	"system.posix_acl_access", "system.posix_acl_default", "trusted.test", "user.test",
	"security.test",
};
#define N_XATTR_NAMES (sizeof(XATTR_NAMES) / sizeof(XATTR_NAMES[0]))

static const uid_t OWNERS[8] = { 0, 1000, 65534, 100000, 1, 0, 4294967294u, 2000 };

static char *layer_path[3], *work, *mnt;

/* ------------------------------------------------------------------ */
/* Reading the input                                                   */

struct in {
	const uint8_t *p;
	size_t left;
};

static bool take(struct in *in, uint8_t *b)
{
	if (!in->left)
		return false;
	*b = *in->p++;
	in->left--;
	return true;
}

/* A length byte and up to that many bytes (fewer at the end) */
static size_t take_bytes(struct in *in, char *out, size_t max)
{
	uint8_t n;
	size_t len;

	if (!take(in, &n))
		return 0;
	len = n < max ? n : max;
	if (len > in->left)
		len = in->left;
	memcpy(out, in->p, len);
	in->p += len;
	in->left -= len;
	return len;
}

/* ------------------------------------------------------------------ */
/* Making the layers                                                   */

struct layers {
	char dirs[MAX_DIRS][PATH_MAX / 4];  /* relative paths, "" the root */
	int ndirs;
	/* every name made, as a path, for the lookups */
	char made[MAX_ENTRIES][PATH_MAX / 4];
	int nmade;
	char last_file[3][PATH_MAX / 4];    /* per layer, for hard links */
};

/* A name from the input: never empty, no '/' or NUL, not "." or ".." */
static void clean_name(char *name, size_t len)
{
	if (len == 0)
		name[len++] = '_';
	name[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\0')
			name[i] = '_';
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		name[0] = '_';
}

/* dir (relative) in layer k, made with its ancestors where missing: an
 * O_DIRECTORY fd, or -1 (a non-directory is in the way) */
static int open_dir_in(int k, const char *dir)
{
	char path[PATH_MAX / 4 + 1];
	int fd = open(layer_path[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	snprintf(path, sizeof(path), "%s", dir);
	for (char *c = strtok(path, "/"); c && fd >= 0; c = strtok(NULL, "/")) {
		int next;

		mkdirat(fd, c, 0755);
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	return fd;
}

static void add_xattrs(struct in *in, int dirfd, const char *name)
{
	uint8_t count, sel;

	if (!take(in, &count))
		return;
	for (count %= 8; count > 0 && take(in, &sel); count--) {
		char xname[256 + 8], value[256];
		size_t vlen;

		if (sel < N_XATTR_NAMES) {
			snprintf(xname, sizeof(xname), "%s", XATTR_NAMES[sel]);
		} else {
			char tail[256];
			size_t n = take_bytes(in, tail, 200);
			clean_name(tail, n);
			snprintf(xname, sizeof(xname), "user.%s", tail);
		}
		vlen = take_bytes(in, value, sizeof(value));
		/* the kernel refuses some (user.* on a symlink, bad ACLs) */
		fz_xattr(dirfd, name, xname, value, vlen);
	}
}

static void add_entry(struct layers *L, struct in *in, bool upper, bool two_lowers)
{
	uint8_t kind, parent, mode;
	char name[NAME_MAX + 8], payload[256], path[PATH_MAX / 4];
	const char *pdir;
	size_t plen;
	int k, dirfd, made = 0;
	uid_t owner;

	if (!take(in, &kind) || !take(in, &parent))
		return;
	clean_name(name, take_bytes(in, name, NAME_MAX - 4));
	if (!take(in, &mode))
		mode = MODE(0644);
	plen = take_bytes(in, payload, sizeof(payload));
	k = (kind >> 3) & 3;
	if (k == 3 || (k == 0 && !upper) || (k == 2 && !two_lowers))
		k = 1;
	owner = OWNERS[kind >> 5];
	pdir = L->dirs[parent % L->ndirs];
	dirfd = open_dir_in(k, pdir);
	if (dirfd < 0)
		return;
	switch (kind & 7) {
	case K_REG: {
		int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, payload, plen) < 0)
				fz_fail("write: %s", strerror(errno));
			close(fd);
			made = 1;
			snprintf(L->last_file[k], sizeof(L->last_file[k]), "%s%s%s", pdir,
				 *pdir ? "/" : "", name);
		}
		break;
	}
	case K_DIR:
		made = mkdirat(dirfd, name, 0755) == 0;
		if (made && L->ndirs < MAX_DIRS)
			snprintf(L->dirs[L->ndirs++], sizeof(L->dirs[0]), "%s%s%s", pdir,
				 *pdir ? "/" : "", name);
		break;
	case K_LNK:
		for (size_t i = 0; i < plen; i++)
			if (!payload[i])
				payload[i] = '_';
		payload[plen] = '\0';
		made = symlinkat(plen ? payload : "_", dirfd, name) == 0;
		break;
	case K_WHITEOUT:
		made = mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) == 0;
		break;
	case K_WH_FILE: {
		char wh[NAME_MAX + 8];
		int fd;
		snprintf(wh, sizeof(wh), ".wh.%s", name);
		fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		snprintf(name, sizeof(name), "%s", wh);
		made = fd >= 0;
		break;
	}
	case K_OPQ_FILE: {
		int fd = openat(dirfd, ".wh..wh..opq", O_WRONLY | O_CREAT | O_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		snprintf(name, sizeof(name), ".wh..wh..opq");
		made = fd >= 0;
		break;
	}
	case K_FIFO:
		made = mknodat(dirfd, name, S_IFIFO | 0644, 0) == 0;
		break;
	case K_LINK:
		if (*L->last_file[k]) {
			int ld = open(layer_path[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			made = ld >= 0 && linkat(ld, L->last_file[k], dirfd, name, 0) == 0;
			if (ld >= 0)
				close(ld);
		}
		break;
	}
	if (made) {
		if ((kind & 7) != K_LNK && (kind & 7) != K_WHITEOUT)
			fchmodat(dirfd, name, 0600 | (mode & 077) | (mode & 0x40 ? 0100 : 0) |
					      (mode & 0x80 ? 04000 : 0), 0);
		if (owner)
			fchownat(dirfd, name, owner, owner, AT_SYMLINK_NOFOLLOW);
		snprintf(path, sizeof(path), "%s%s%s", pdir, *pdir ? "/" : "", name);
		if (L->nmade < MAX_ENTRIES)
			memcpy(L->made[L->nmade++], path, sizeof(path));
	}
	add_xattrs(in, dirfd, name);
	close(dirfd);
}

static void make_layers(struct layers *L, const uint8_t *data, size_t size, uint8_t cfg)
{
	struct in in = { data, size };

	for (int k = 0; k < 3; k++)
		fz_reset_dir(layer_path[k]);
	fz_reset_dir(work);
	memset(L, 0, sizeof(*L));
	L->ndirs = 1;   /* the root, "" */
	for (int i = 0; i < MAX_ENTRIES && in.left; i++)
		add_entry(L, &in, cfg & CFG_UPPER, !(cfg & CFG_ONE_LOWER));
}

/* ------------------------------------------------------------------ */
/* Walking the overlay                                                 */

struct walk {
	struct fz_mount *m;
	int requests;
};

static bool budget(struct walk *w)
{
	return ++w->requests <= MAX_REQUESTS && !w->m->exited;
}

static uint64_t lookup(struct walk *w, uint64_t parent, const char *name, struct fuse_attr *attr)
{
	struct fz_msg msg;
	struct fuse_entry_out e;

	if (!budget(w))
		return 0;
	fz_start(&msg, FUSE_LOOKUP, parent);
	fz_str(&msg, name);
	fz_send(w->m, &msg);
	if (!w->m->replied || w->m->error || w->m->blen < sizeof(e))
		return 0;
	memcpy(&e, w->m->body, sizeof(e));
	if (attr)
		*attr = e.attr;
	return e.nodeid;
}

static void getattr(struct walk *w, uint64_t nid)
{
	struct fz_msg msg;
	struct fuse_getattr_in in = { 0 };

	if (!budget(w))
		return;
	fz_start(&msg, FUSE_GETATTR, nid);
	fz_put(&msg, &in, sizeof(in));
	fz_send(w->m, &msg);
}

/* LISTXATTR, then GETXATTR of every name listed (size query and value) */
static void xattrs(struct walk *w, uint64_t nid)
{
	struct fz_msg msg;
	struct fuse_getxattr_in in = { .size = 65536 };
	char list[65536];
	size_t len;

	if (!budget(w))
		return;
	fz_start(&msg, FUSE_LISTXATTR, nid);
	fz_put(&msg, &in, sizeof(in));
	fz_send(w->m, &msg);
	if (!w->m->replied || w->m->error)
		return;
	len = w->m->blen;
	memcpy(list, w->m->body, len);
	for (size_t off = 0; off < len; off += strlen(list + off) + 1) {
		for (uint32_t size = 0; size <= 4096; size += 4096) {
			struct fuse_getxattr_in g = { .size = size };
			if (!budget(w))
				return;
			fz_start(&msg, FUSE_GETXATTR, nid);
			fz_put(&msg, &g, sizeof(g));
			fz_str(&msg, list + off);
			fz_send(w->m, &msg);
		}
	}
}

static uint64_t open_(struct walk *w, uint32_t op, uint64_t nid, uint32_t flags)
{
	struct fz_msg msg;
	struct fuse_open_in in = { .flags = flags };
	struct fuse_open_out o;

	if (!budget(w))
		return 0;
	fz_start(&msg, op, nid);
	fz_put(&msg, &in, sizeof(in));
	fz_send(w->m, &msg);
	if (!w->m->replied || w->m->error || w->m->blen < sizeof(o))
		return 0;
	memcpy(&o, w->m->body, sizeof(o));
	return o.fh ? o.fh : UINT64_MAX;   /* 0 is a valid reply only in theory */
}

static void release(struct walk *w, uint32_t op, uint64_t nid, uint64_t fh)
{
	struct fz_msg msg;
	struct fuse_release_in in = { .fh = fh };

	fz_start(&msg, op, nid);
	fz_put(&msg, &in, sizeof(in));
	fz_send(w->m, &msg);   /* always: nothing may stay open */
}

static void read_(struct walk *w, uint32_t op, uint64_t nid, uint64_t fh, uint64_t off,
		  uint32_t size)
{
	struct fz_msg msg;
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	if (!budget(w))
		return;
	fz_start(&msg, op, nid);
	fz_put(&msg, &in, sizeof(in));
	fz_send(w->m, &msg);
}

static void simple(struct walk *w, uint32_t op, uint64_t nid)
{
	struct fz_msg msg;

	if (!budget(w))
		return;
	fz_start(&msg, op, nid);
	fz_send(w->m, &msg);
}

/* Everything a reader does with one object */
static void visit(struct walk *w, uint64_t nid, mode_t mode)
{
	getattr(w, nid);
	xattrs(w, nid);
	if (S_ISLNK(mode)) {
		simple(w, FUSE_READLINK, nid);
	} else if (S_ISREG(mode)) {
		uint64_t fh = open_(w, FUSE_OPEN, nid, O_RDONLY);
		if (fh) {
			read_(w, FUSE_READ, nid, fh, 0, 4096);
			release(w, FUSE_RELEASE, nid, fh);
		}
	}
}

struct listed {
	char name[NAME_MAX + 1];
	uint64_t nid;
	mode_t mode;
};

/* The entries of directory nid, with READDIRPLUS */
static int list_dir(struct walk *w, uint64_t nid, struct listed *out, int max)
{
	uint64_t fh = open_(w, FUSE_OPENDIR, nid, O_RDONLY | O_DIRECTORY);
	uint64_t off = 0;
	int n = 0;

	if (!fh)
		return 0;
	for (int round = 0; round < 16; round++) {
		const unsigned char *b;
		size_t len, pos = 0;

		read_(w, FUSE_READDIRPLUS, nid, fh, off, 4096);
		if (!w->m->replied || w->m->error || !w->m->blen)
			break;
		b = w->m->body;
		len = w->m->blen;
		while (pos + sizeof(struct fuse_entry_out) + FUSE_NAME_OFFSET <= len) {
			struct fuse_entry_out e;
			struct fuse_dirent d;

			memcpy(&e, b + pos, sizeof(e));
			memcpy(&d, b + pos + sizeof(e), FUSE_NAME_OFFSET);
			if (n < max && d.namelen <= NAME_MAX) {
				memcpy(out[n].name, b + pos + sizeof(e) + FUSE_NAME_OFFSET, d.namelen);
				out[n].name[d.namelen] = '\0';
				out[n].nid = e.nodeid;
				out[n].mode = e.attr.mode;
				if (strcmp(out[n].name, ".") && strcmp(out[n].name, ".."))
					n++;
			}
			off = d.off;
			pos += sizeof(e) + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d.namelen);
		}
	}
	read_(w, FUSE_READDIR, nid, fh, 0, 4096);
	release(w, FUSE_RELEASEDIR, nid, fh);
	return n;
}

static void walk_dir(struct walk *w, uint64_t nid, int depth)
{
	static struct listed ents[8][MAX_LISTED];
	int n;

	if (depth >= 8)
		return;
	n = list_dir(w, nid, ents[depth], MAX_LISTED);
	for (int i = 0; i < n; i++) {
		if (!ents[depth][i].nid)
			continue;
		visit(w, ents[depth][i].nid, ents[depth][i].mode);
		if (S_ISDIR(ents[depth][i].mode))
			walk_dir(w, ents[depth][i].nid, depth + 1);
	}
}

/* LOOKUP of each component of path; the last one's node id (0: none) */
static uint64_t lookup_path(struct walk *w, const char *path, struct fuse_attr *attr)
{
	char buf[PATH_MAX / 4 + 1];
	uint64_t nid = 1;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok(buf, "/"); c && nid; c = strtok(NULL, "/"))
		nid = lookup(w, nid, c, attr);
	return nid;
}

/* A name request (UNLINK, RMDIR) */
static void name_op(struct walk *w, uint32_t op, uint64_t parent, const char *name)
{
	struct fz_msg msg;

	if (!budget(w))
		return;
	fz_start(&msg, op, parent);
	fz_str(&msg, name);
	fz_send(w->m, &msg);
}

/* Writes to one object the input made: a copy-up by chmod, xattrs set
 * and removed (copy-up carries the hostile ones, and the upper's own
 * markers), the flags asked (protattr records), a rename and back. */
static void change(struct walk *w, uint64_t parent, const char *name, uint64_t nid, mode_t mode)
{
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = mode ^ 0001 };
	struct fuse_setxattr_in sx = { .size = 1 };
	struct fuse_ioctl_in io = { .cmd = 0x80086601u /* FS_IOC_GETFLAGS */, .out_size = 4 };
	struct fuse_rename_in rn = { .newdir = parent };
	struct fz_msg msg;
	char tmp[NAME_MAX + 1];

	if (!S_ISLNK(mode) && budget(w)) {
		fz_start(&msg, FUSE_SETATTR, nid);
		fz_put(&msg, &sa, sizeof(sa));
		fz_send(w->m, &msg);
	}
	if ((S_ISREG(mode) || S_ISDIR(mode)) && budget(w)) {
		fz_start(&msg, FUSE_IOCTL, nid);
		fz_put(&msg, &io, sizeof(io));
		fz_send(w->m, &msg);
		fz_start(&msg, FUSE_SETXATTR, nid);
		fz_put(&msg, &sx, FUSE_COMPAT_SETXATTR_IN_SIZE);
		fz_str(&msg, "user.fz");
		fz_put(&msg, "1", 1);
		fz_send(w->m, &msg);
		name_op(w, FUSE_REMOVEXATTR, nid, "user.test");
	}
	visit(w, nid, mode);
	snprintf(tmp, sizeof(tmp), "%.*s~", NAME_MAX - 1, name);
	for (int back = 0; back < 2 && budget(w); back++) {
		fz_start(&msg, FUSE_RENAME, parent);
		fz_put(&msg, &rn, sizeof(rn));
		fz_str(&msg, back ? tmp : name);
		fz_str(&msg, back ? name : tmp);
		fz_send(w->m, &msg);
	}
}

/* A name the input hid (whited out, or a .wh. file's target) made again:
 * creation over whiteouts of every form, in hostile layers */
static void recreate(struct walk *w, uint64_t parent, const char *name, bool dir)
{
	struct fuse_create_in cr = { .flags = O_WRONLY | O_CREAT, .mode = S_IFREG | 0644 };
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fz_msg msg;

	if (!budget(w))
		return;
	fz_start(&msg, dir ? FUSE_MKDIR : FUSE_CREATE, parent);
	if (dir)
		fz_put(&msg, &mk, sizeof(mk));
	else
		fz_put(&msg, &cr, sizeof(cr));
	fz_str(&msg, name);
	fz_send(w->m, &msg);
	if (!dir && w->m->replied && !w->m->error &&
	    w->m->blen >= sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)) {
		struct fuse_entry_out e;
		struct fuse_open_out o;

		memcpy(&e, w->m->body, sizeof(e));
		memcpy(&o, w->m->body + sizeof(e), sizeof(o));
		release(w, FUSE_RELEASE, e.nodeid, o.fh);
	}
}

/* Writes over what the input made, last made first: each object changed
 * and removed, each hidden name made again */
static void mutate(struct walk *w, const struct layers *L)
{
	for (int i = L->nmade - 1; i >= 0; i--) {
		const char *slash = strrchr(L->made[i], '/');
		const char *base = slash ? slash + 1 : L->made[i];
		struct fuse_attr attr;
		uint64_t nid, parent = 1;

		if (slash) {
			char dir[PATH_MAX / 4];
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - L->made[i]), L->made[i]);
			parent = lookup_path(w, dir, NULL);
		}
		if (!parent)
			continue;
		if (!strncmp(base, ".wh.", 4)) {
			if (base[4] && strcmp(base, ".wh..wh..opq"))
				recreate(w, parent, base + 4, i % 2);
			continue;
		}
		nid = lookup(w, parent, base, &attr);
		if (!nid) {
			recreate(w, parent, base, i % 2);
			continue;
		}
		change(w, parent, base, nid, attr.mode);
		name_op(w, S_ISDIR(attr.mode) ? FUSE_RMDIR : FUSE_UNLINK, parent, base);
	}
	walk_dir(w, 1, 6);
}

static void run(const struct layers *L, uint8_t cfg)
{
	static const char *const perms[] = { "", ",xattr_permissions=1", ",xattr_permissions=2",
					     ",xattr_permissions=2" };
	char opts[4096];
	struct fz_mount m;
	struct walk w = { &m, 0 };
	int n;

	if (cfg & CFG_WH_FILES)
		setenv("FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT", "1", 1);
	else
		unsetenv("FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT");
	n = snprintf(opts, sizeof(opts), "lowerdir=%s%s%s%s", layer_path[1],
		     cfg & CFG_ONE_LOWER ? "" : ":", cfg & CFG_ONE_LOWER ? "" : layer_path[2],
		     perms[cfg & CFG_XATTR_PERM]);
	if (cfg & CFG_UPPER)
		n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",upperdir=%s,workdir=%s",
			      layer_path[0], work);
	if (cfg & CFG_NO_CACHE)
		n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",timeout=0,static_nlink");
	if (cfg & CFG_IDMAP)
		snprintf(opts + n, sizeof(opts) - (size_t)n,
			 ",uidmapping=0:100000:65536:65536:0:1,gidmapping=0:100000:65536");
	fz_mount_start(&m, opts, mnt, FZ_INIT_FLAGS | FUSE_POSIX_ACL, 0);

	for (int i = 0; i < L->nmade; i++) {
		struct fuse_attr attr;
		uint64_t nid = lookup_path(&w, L->made[i], &attr);
		if (nid)
			visit(&w, nid, attr.mode);
	}
	walk_dir(&w, 1, 0);
	if ((cfg & CFG_MUTATE) && (cfg & CFG_UPPER))
		mutate(&w, L);
	fz_check_staging(work);
	fz_mount_stop(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct layers L;
	int fds;

	if (size < 1)
		return 0;
	fds = fz_count_fds();
	make_layers(&L, data + 1, size - 1, data[0]);
	run(&L, data[0]);
	if (fz_count_fds() != fds)
		fz_fail("%d fds open after the input, %d before", fz_count_fds(), fds);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Seeds                                                               */

struct seed {
	unsigned char b[4096];
	size_t len;
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->b))
		fz_fail("seed too long");
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

static void put_byte(struct seed *s, uint8_t b)
{
	put(s, &b, 1);
}

static void put_str(struct seed *s, const char *str)
{
	put_byte(s, (uint8_t)strlen(str));
	put(s, str, strlen(str));
}

static uint8_t xattr_index(const char *name)
{
	for (size_t i = 0; i < N_XATTR_NAMES; i++)
		if (!strcmp(XATTR_NAMES[i], name))
			return (uint8_t)i;
	fz_fail("no xattr %s in the table", name);
}

/* One entry; xattrs: NULL-terminated name, value pairs */
static void entry(struct seed *s, int kind, int layer, int owner, int parent, const char *name,
		  uint8_t mode, const char *payload, const char *const *xattrs)
{
	int nx = 0;

	put_byte(s, (uint8_t)(kind | layer << 3 | owner << 5));
	put_byte(s, (uint8_t)parent);
	put_str(s, name);
	put_byte(s, mode);
	put_str(s, payload);
	while (xattrs && xattrs[2 * nx])
		nx++;
	put_byte(s, (uint8_t)nx);
	for (int i = 0; i < nx; i++) {
		put_byte(s, xattr_index(xattrs[2 * i]));
		put_str(s, xattrs[2 * i + 1]);
	}
}

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(s->b, 1, s->len, f) != s->len || fclose(f))
		fz_fail("cannot write %s", path);
}

static void write_seeds(const char *dir)
{
	static const char *const opaque[] = { "trusted.overlay.opaque", "y", NULL };
	static const char *const user_opaque[] = { "user.overlay.opaque", "y", NULL };
	static const char *const override[] = { "user.containers.override_stat", "1000:1000:0755",
						NULL };
	static const char *const override1[] = { "security.fuseoverlayfs.override_stat",
						  "0:0:04755", NULL };
	static const char *const bad_override[] = { "user.containers.override_stat",
						    "4294967295:-1:077777777", NULL };
	static const char *const origin[] = { "trusted.fuseoverlayfs.origin", "1:0:42", NULL };
	static const char *const impure[] = { "trusted.fuseoverlayfs.impure", "y", NULL };
	static const char *const protattr[] = { "trusted.overlay.protattr", "ai", NULL };
	static const char *const kernel_marks[] = {
		"trusted.overlay.redirect", "/elsewhere", "trusted.overlay.metacopy", "",
		"trusted.overlay.whiteout", "y", NULL,
	};
	static const char *const escaped[] = {
		"user.containers.override_security.capability", "cap", "user.test", "v", NULL,
	};
	struct seed s;

	/* whiteouts of both forms and opaque directories of all three */
	s.len = 0;
	put_byte(&s, CFG_UPPER);
	entry(&s, K_REG, 2, 0, 0, "a", MODE(0644), "lower a\n", NULL);
	entry(&s, K_REG, 2, 1, 0, "b", MODE(0600), "lower b\n", NULL);
	entry(&s, K_DIR, 2, 0, 0, "d", MODE(0755), "", NULL);
	entry(&s, K_REG, 2, 0, 3, "inner", MODE(0644), "x", NULL);
	entry(&s, K_WHITEOUT, 1, 0, 0, "a", MODE(0), "", NULL);
	entry(&s, K_WH_FILE, 1, 0, 0, "b", MODE(0), "", NULL);
	entry(&s, K_DIR, 1, 0, 0, "d", MODE(0755), "", opaque);
	entry(&s, K_DIR, 1, 0, 0, "e", MODE(0755), "", user_opaque);
	entry(&s, K_DIR, 2, 0, 0, "e", MODE(0755), "", NULL);
	entry(&s, K_REG, 2, 0, 5, "below", MODE(0644), "hidden", NULL);
	entry(&s, K_DIR, 0, 0, 0, "f", MODE(0755), "", NULL);
	entry(&s, K_OPQ_FILE, 0, 0, 6, "", MODE(0), "", NULL);
	write_seed(dir, "whiteouts", &s);

	/* override_stat of both forms, good and bad, and an upper file with
	 * an origin record in an impure directory */
	s.len = 0;
	put_byte(&s, CFG_UPPER | 2 | CFG_MUTATE);
	entry(&s, K_REG, 1, 2, 0, "owned", MODE(0600), "o", override);
	entry(&s, K_REG, 1, 0, 0, "bad", MODE(0600), "o", bad_override);
	entry(&s, K_DIR, 0, 0, 0, "up", MODE(0755), "", impure);
	entry(&s, K_REG, 0, 0, 1, "copied", MODE(0644), "c", origin);
	entry(&s, K_LNK, 1, 3, 0, "sym", MODE(0777), "../../etc/passwd", override);
	entry(&s, K_FIFO, 2, 0, 0, "fifo", MODE(0644), "", NULL);
	write_seed(dir, "override", &s);

	s.len = 0;
	put_byte(&s, CFG_UPPER | 1 | CFG_MUTATE);
	entry(&s, K_REG, 1, 0, 0, "suid", MODE(04755), "#!", override1);
	entry(&s, K_REG, 1, 0, 0, "prot", MODE(0644), "p", protattr);
	entry(&s, K_REG, 1, 0, 0, "marks", MODE(0644), "m", kernel_marks);
	entry(&s, K_LINK, 1, 0, 0, "hardlink", MODE(0), "", NULL);
	write_seed(dir, "xattrperm1", &s);

	/* escaped security names, merged directories three deep */
	s.len = 0;
	put_byte(&s, CFG_UPPER | 2 | CFG_MUTATE | CFG_IDMAP);
	entry(&s, K_DIR, 2, 1, 0, "x", MODE(0755), "", NULL);
	entry(&s, K_DIR, 1, 1, 1, "y", MODE(0755), "", NULL);
	entry(&s, K_DIR, 0, 1, 2, "z", MODE(0700), "", NULL);
	entry(&s, K_REG, 2, 3, 3, "deep", MODE(0644), "deep", escaped);
	entry(&s, K_REG, 1, 4, 2, "mid", MODE(0644), "mid", escaped);
	entry(&s, K_LNK, 0, 0, 1, "ln", MODE(0), "y/z/deep", NULL);
	write_seed(dir, "merged", &s);

	/* one lower layer, read-only, odd names */
	s.len = 0;
	put_byte(&s, CFG_ONE_LOWER | CFG_NO_CACHE);
	entry(&s, K_REG, 1, 0, 0, ".wh.", MODE(0644), "", NULL);
	entry(&s, K_REG, 1, 0, 0, ".wh..wh..opq", MODE(0644), "", NULL);
	entry(&s, K_REG, 1, 0, 0, "\x01\xff name with spaces", MODE(0644), "", NULL);
	entry(&s, K_DIR, 1, 0, 0, "...", MODE(0755), "", NULL);
	entry(&s, K_WHITEOUT, 1, 0, 4, "nothing", MODE(0), "", NULL);
	write_seed(dir, "names", &s);

	/* a listing longer than one READDIRPLUS reply, over two layers */
	s.len = 0;
	put_byte(&s, CFG_UPPER | CFG_WH_FILES | CFG_MUTATE);
	entry(&s, K_DIR, 1, 0, 0, "many", MODE(0755), "", NULL);
	for (int i = 0; i < 40; i++) {
		char name[64];
		snprintf(name, sizeof(name), "a-rather-long-name-for-entry-number-%02d", i);
		entry(&s, i % 3 == 2 ? K_WH_FILE : K_REG, 1 + i % 2, 0, 1, name, MODE(0644), "", NULL);
	}
	write_seed(dir, "long-listing", &s);

	/* xattr_permissions=2 records on directories and an upper layer that
	 * hides, renames over and keeps records of the lower ones */
	s.len = 0;
	put_byte(&s, CFG_UPPER | 2 | CFG_MUTATE);
	entry(&s, K_DIR, 2, 1, 0, "d", MODE(0755), "", override);
	entry(&s, K_REG, 2, 1, 1, "f", MODE(0644), "f", override);
	entry(&s, K_DIR, 0, 0, 0, "d", MODE(0700), "", override);
	entry(&s, K_WHITEOUT, 0, 0, 1, "f", MODE(0), "", NULL);
	entry(&s, K_REG, 0, 0, 1, "g", MODE(04755), "g", override1);
	entry(&s, K_FIFO, 1, 2, 0, "p", MODE(0600), "", override);
	entry(&s, K_LNK, 2, 0, 0, "l", MODE(0), "d/f", escaped);
	write_seed(dir, "override-dirs", &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fz_init();
	layer_path[0] = fz_path("upper");
	layer_path[1] = fz_path("lower1");
	layer_path[2] = fz_path("lower2");
	work = fz_path("work");
	mnt = fz_path("mnt");
	if (mkdir(mnt, 0755) < 0)
		fz_fail("mkdir %s: %s", mnt, strerror(errno));
	if (seeds) {
		write_seeds(seeds);
		exit(0);
	}
	/* Once, so that what libc and libfuse allocate on first use (stdio
	 * buffers...) is not taken for a leak of the first input: libFuzzer
	 * runs an input again whenever it had more mallocs than frees. */
	{
		static const uint8_t warm[] = { CFG_UPPER };
		LLVMFuzzerTestOneInput(warm, sizeof(warm));
	}
	return 0;
}
