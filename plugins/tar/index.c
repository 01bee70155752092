/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index.c: builds the tree of a tar archive (ustar, GNU and PAX headers)
 * in one sequential pass.
 *
 * The archive is hostile until proven otherwise: every header is
 * checksummed, every size checked against overflow and limits, every name
 * checked (no absolute names, no "..", components of at most 255 bytes),
 * and a hard link must name an earlier non-directory entry, so the tree
 * cannot loop.  Anything wrong fails the load with a reason naming the
 * entry or the byte offset.
 *
 * While building, a hash table maps (directory, name) to its entry so that
 * each path component resolves in constant time; when the archive is read,
 * each directory's entries are sorted by name and the table is dropped.
 */
#include "index.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK 512
#define MAX_PAX (1024 * 1024)     /* one PAX header's data */
#define MAX_COMPONENT 255
#define MAX_XATTRS 1024           /* per entry */
#define MAX_XATTR_VALUE 65536     /* as the kernel's XATTR_SIZE_MAX */

/* ustar header fields: offset, length */
#define F_NAME 0, 100
#define F_MODE 100, 8
#define F_UID 108, 8
#define F_GID 116, 8
#define F_SIZE 124, 12
#define F_MTIME 136, 12
#define F_CHKSUM 148, 8
#define F_TYPE 156
#define F_LINKNAME 157, 100
#define F_MAGIC 257
#define F_DEVMAJOR 329, 8
#define F_DEVMINOR 337, 8
#define F_PREFIX 345, 155
/* a field as the (pointer, length) arguments of the parsers */
#define FIELD(h, f) FIELD_(h, f)
#define FIELD_(h, off, len) (h) + (off), (len)
#define STR_FIELD(h, f) STR_FIELD_(h, f)
#define STR_FIELD_(h, off, len) (const char *) (h) + (off), (len)
#define OFFSET(f) OFFSET_(f)
#define OFFSET_(off, len) (off)

struct pending_xattr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* One archive member, as its headers (ustar, GNU, PAX) describe it. */
struct entry {
	char type;
	const char *path;
	size_t path_len;
	const char *link;
	size_t link_len;
	uint64_t size;
	uint32_t mode, uid, gid, devmajor, devminor;
	int64_t mtime, atime, ctime;
	uint32_t mtime_ns, atime_ns, ctime_ns;
	bool has_atime, has_ctime;
	size_t nxattrs;
};

struct builder {
	struct tar_index *idx;
	struct tar_stream *s;
	const char *label;
	char *why;
	size_t why_size;
	uint64_t hdr_off;          /* offset of the header being read */
	char *longname, *longlink; /* GNU 'L' and 'K' data, for the next entry */
	size_t longname_len, longlink_len;
	char *pax, *gpax;          /* PAX 'x' (next entry) and 'g' (all) data */
	size_t pax_len, gpax_len;
	char ustar_path[256 + 1];
	struct pending_xattr *xattrs; /* MAX_XATTRS of them */
};

static int __attribute__((format(printf, 3, 4)))
berr(struct builder *b, int err, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(b->why, b->why_size, "%s: ", b->label);

	if (n >= 0 && (size_t) n < b->why_size) {
		va_start(ap, fmt);
		vsnprintf(b->why + n, b->why_size - (size_t) n, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* --- numbers --- */

/* An octal field: leading spaces, digits, then spaces or NULs to the end
 * (all blank is 0). */
static bool parse_octal(const unsigned char *f, size_t len, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return false;
		v = (v << 3) | (uint64_t) (f[i] - '0');
	}
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = v;
	return true;
}

/* A numeric field: octal, or GNU base-256 (high bit of the first byte
 * set, then a big-endian two's complement number).  Negative values are
 * only for times: *neg says so. */
static bool parse_number(const unsigned char *f, size_t len, uint64_t *out, bool *neg)
{
	*neg = false;
	if (!(f[0] & 0x80))
		return parse_octal(f, len, out);
	*neg = (f[0] & 0x40) != 0;
	uint64_t v = *neg ? UINT64_MAX : 0;
	/* the first byte's low 7 bits belong to the number as well */
	v = (v << 7) | (f[0] & 0x7f);
	for (size_t i = 1; i < len; i++) {
		uint64_t top = v >> 56;

		if (top != (*neg ? 0xff : 0))
			return false;
		v = (v << 8) | f[i];
	}
	if (*neg && !(v >> 63))
		return false;
	if (!*neg && (v >> 63))
		return false;
	*out = *neg ? (uint64_t) -(v) : v;
	return true;
}

static bool parse_unsigned(const unsigned char *f, size_t len, uint64_t max, uint64_t *out)
{
	bool neg;

	return parse_number(f, len, out, &neg) && !neg && *out <= max;
}

static bool parse_time(const unsigned char *f, size_t len, int64_t *out)
{
	uint64_t v;
	bool neg;

	if (!parse_number(f, len, &v, &neg) || v > (uint64_t) INT64_MAX)
		return false;
	*out = neg ? -(int64_t) v : (int64_t) v;
	return true;
}

/* A PAX decimal: digits only. */
static bool parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (s[i] - '0'), &v))
			return false;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* A PAX time: [-]seconds[.fraction]; the fraction is kept to the
 * nanosecond. */
static bool parse_pax_time(const char *s, size_t len, int64_t *sec, uint32_t *ns)
{
	bool neg = len > 0 && s[0] == '-';
	size_t i = neg ? 1 : 0, dot = i;
	uint64_t whole, frac = 0;

	while (dot < len && s[dot] != '.')
		dot++;
	if (!parse_decimal(s + i, dot - i, INT64_MAX - 1, &whole))
		return false;
	for (size_t k = dot + 1, digits = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return false;
		if (digits++ < 9)
			frac = frac * 10 + (uint64_t) (s[k] - '0');
	}
	for (size_t digits = dot + 1 < len ? len - dot - 1 : 0; digits < 9; digits++)
		frac *= 10;
	if (neg && frac > 0) {
		/* -1.25 is 2 s before the epoch plus 0.75 s */
		*sec = -(int64_t) whole - 1;
		*ns = (uint32_t) (1000000000 - frac);
	} else {
		*sec = neg ? -(int64_t) whole : (int64_t) whole;
		*ns = (uint32_t) frac;
	}
	return true;
}

/* --- the arena and the tables --- */

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint64_t n = *cap ? (uint64_t) *cap * 2 : 64;
	while (n < need)
		n *= 2;
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	size_t bytes;
	if (n < need || __builtin_mul_overflow((size_t) n, elem, &bytes))
		return -ENOMEM;
	void *p = realloc(*arr, bytes);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = (uint32_t) n;
	return 0;
}

/* Stores len bytes (plus a NUL) in the arena: *off is where. */
static int arena_add(struct tar_index *idx, const char *data, size_t len, uint32_t *off)
{
	uint32_t end;

	if (len >= UINT32_MAX || __builtin_add_overflow(idx->arena_len, (uint32_t) len + 1, &end))
		return -ENOMEM;
	if (grow((void **) &idx->arena, &idx->arena_cap, end, 1) < 0)
		return -ENOMEM;
	memcpy(idx->arena + idx->arena_len, data, len);
	idx->arena[idx->arena_len + len] = '\0';
	*off = idx->arena_len;
	idx->arena_len = end;
	return 0;
}

static int node_new(struct tar_index *idx, uint32_t *n)
{
	if (idx->nnodes == UINT32_MAX
	    || grow((void **) &idx->nodes, &idx->nodes_cap, idx->nnodes + 1, sizeof(*idx->nodes)) < 0)
		return -ENOMEM;
	*n = idx->nnodes++;
	memset(&idx->nodes[*n], 0, sizeof(idx->nodes[*n]));
	idx->nodes[*n].nlink = 1;
	return 0;
}

static uint64_t hash_key(uint32_t parent, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ parent;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) name[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static bool dirent_is(const struct tar_index *idx, const struct tar_dirent *d, uint32_t parent,
	  const char *name, size_t len)
{
	const char *s = idx->arena + d->name;

	return d->parent == parent && strncmp(s, name, len) == 0 && s[len] == '\0';
}

/* The slot of (parent, name) in the hash table: its dirent + 1, or the
 * empty slot where it would go. */
static uint32_t *hash_slot(const struct tar_index *idx, uint32_t parent, const char *name,
		size_t len)
{
	uint32_t mask = idx->hash_size - 1;
	uint32_t i = (uint32_t) hash_key(parent, name, len) & mask;

	while (idx->hash[i] != 0 && !dirent_is(idx, &idx->dirents[idx->hash[i] - 1], parent, name, len))
		i = (i + 1) & mask;
	return &idx->hash[i];
}

static int hash_grow(struct tar_index *idx)
{
	uint32_t size = idx->hash_size ? idx->hash_size * 2 : 1024;

	if (idx->hash_size >= (1u << 31))
		return -ENOMEM;
	uint32_t *old = idx->hash, old_size = idx->hash_size;
	idx->hash = calloc(size, sizeof(*idx->hash));
	if (idx->hash == NULL) {
		idx->hash = old;
		return -ENOMEM;
	}
	idx->hash_size = size;
	for (uint32_t i = 0; i < old_size; i++) {
		if (old[i] == 0)
			continue;
		const struct tar_dirent *d = &idx->dirents[old[i] - 1];
		const char *name = idx->arena + d->name;
		*hash_slot(idx, d->parent, name, strlen(name)) = old[i];
	}
	free(old);
	return 0;
}

/* The dirent of name in dir, or NULL. */
static struct tar_dirent *dirent_find(struct tar_index *idx, uint32_t dir, const char *name,
		size_t len)
{
	uint32_t v = *hash_slot(idx, dir, name, len);

	return v ? &idx->dirents[v - 1] : NULL;
}

static int dirent_add(struct tar_index *idx, uint32_t dir, const char *name, size_t len,
		uint32_t node)
{
	uint32_t off;

	if ((idx->hash_used + 1) * 2 > idx->hash_size && hash_grow(idx) < 0)
		return -ENOMEM;
	if (idx->ndirents == UINT32_MAX - 1 ||
	    grow((void **)&idx->dirents, &idx->dirents_cap, idx->ndirents + 1,
		 sizeof(*idx->dirents)) < 0 ||
	    arena_add(idx, name, len, &off) < 0)
		return -ENOMEM;
	uint32_t *slot = hash_slot(idx, dir, name, len);
	idx->dirents[idx->ndirents] = (struct tar_dirent) { .name = off, .parent = dir, .node = node };
	*slot = ++idx->ndirents;
	idx->hash_used++;
	return 0;
}

/* --- reading the archive --- */

static int stream_fail(struct builder *b, ssize_t r)
{
	if (r == -ENOMEM)
		return berr(b, -ENOMEM, "out of memory");
	return berr(b, -EIO, "%s at byte %" PRIu64, tar_stream_error(b->s), tar_stream_tell(b->s));
}

static int read_exact(struct builder *b, void *buf, size_t size)
{
	ssize_t r = tar_stream_read(b->s, buf, size);

	if (r < 0)
		return stream_fail(b, r);
	if ((size_t) r < size)
		return berr(b, -EIO, "truncated at byte %" PRIu64, tar_stream_tell(b->s));
	return 0;
}

static int skip_exact(struct builder *b, uint64_t size)
{
	int r = tar_stream_skip(b->s, size);

	if (r == -ENODATA)
		return berr(b, -EIO, "truncated at byte %" PRIu64, tar_stream_tell(b->s));
	return r < 0 ? stream_fail(b, r) : 0;
}

/* size rounded up to whole blocks, or false on overflow. */
static bool padded(uint64_t size, uint64_t *out)
{
	if (__builtin_add_overflow(size, BLOCK - 1, out))
		return false;
	*out &= ~(uint64_t) (BLOCK - 1);
	return true;
}

/* Reads a member's data (at most max bytes) into a new NUL-terminated
 * buffer. */
static int read_member(struct builder *b, uint64_t size, uint64_t max, const char *what,
		char **out, size_t *len)
{
	uint64_t total;

	if (size > max)
		return berr(b, -EINVAL, "%s header at byte %" PRIu64 " too large (%" PRIu64 " bytes)",
			    what, b->hdr_off, size);
	padded(size, &total);
	char *buf = malloc((size_t) size + 1);
	if (buf == NULL)
		return berr(b, -ENOMEM, "out of memory");
	int ret = read_exact(b, buf, (size_t) size);
	if (ret == 0)
		ret = skip_exact(b, total - size);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	buf[size] = '\0';
	free(*out);
	*out = buf;
	*len = (size_t) size;
	return 0;
}

static bool checksum_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned sum = 0;
	int ssum = 0;

	if (!parse_octal(FIELD(h, F_CHKSUM), &want))
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];

		sum += c;
		ssum += (signed char) c;
	}
	/* some old tars summed signed chars */
	return want == sum || (int64_t) want == ssum;
}

static bool all_zero(const unsigned char *h)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (h[i])
			return false;
	return true;
}

/* --- PAX --- */

static int add_xattr(struct builder *b, struct entry *e, const char *name, size_t name_len,
		const char *value,
	  size_t value_len)
{
	if (name_len == 0 || name_len > 255 || memchr(name, '\0', name_len))
		return berr(b, -EINVAL, "bad xattr name in PAX header at byte %" PRIu64, b->hdr_off);
	if (value_len > MAX_XATTR_VALUE)
		return berr(b, -EINVAL, "xattr value too large in PAX header at byte %" PRIu64, b->hdr_off);
	/* a later record (local after global) wins */
	for (size_t i = 0; i < e->nxattrs; i++) {
		struct pending_xattr *x = &b->xattrs[i];

		if (x->name_len == name_len && memcmp(x->name, name, name_len) == 0) {
			x->value = value;
			x->value_len = value_len;
			return 0;
		}
	}
	if (e->nxattrs == MAX_XATTRS)
		return berr(b, -EINVAL, "too many xattrs in PAX header at byte %" PRIu64, b->hdr_off);
	b->xattrs[e->nxattrs++] = (struct pending_xattr) { name, name_len, value, value_len };
	return 0;
}

#define KEY_IS(k, kl, lit) ((kl) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)
#define XATTR_PREFIX "SCHILY.xattr."
#define XATTR_PREFIX_LEN (sizeof(XATTR_PREFIX) - 1)

/* One PAX record key=value applied to e; global records leave the
 * entry's own path, link and size alone. */
static int pax_record(struct builder *b, struct entry *e, bool global, const char *k,
		size_t kl, const char *v,
	   size_t vl)
{
	uint64_t n;
	bool ok = true;

	if (KEY_IS(k, kl, "path") || KEY_IS(k, kl, "linkpath")) {
		if (global || vl == 0)
			return 0;
		if (memchr(v, '\0', vl))
			return berr(b, -EINVAL, "NUL in PAX %.*s at byte %" PRIu64, (int) kl, k, b->hdr_off);
		if (k[0] == 'p') {
			e->path = v;
			e->path_len = vl;
		} else {
			e->link = v;
			e->link_len = vl;
		}
	} else if (KEY_IS(k, kl, "size")) {
		if (!global && (ok = parse_decimal(v, vl, UINT64_MAX, &n)))
			e->size = n;
	} else if (KEY_IS(k, kl, "uid")) {
		if ((ok = parse_decimal(v, vl, UINT32_MAX, &n)))
			e->uid = (uint32_t) n;
	} else if (KEY_IS(k, kl, "gid")) {
		if ((ok = parse_decimal(v, vl, UINT32_MAX, &n)))
			e->gid = (uint32_t) n;
	} else if (KEY_IS(k, kl, "mtime")) {
		ok = parse_pax_time(v, vl, &e->mtime, &e->mtime_ns);
	} else if (KEY_IS(k, kl, "atime")) {
		ok = e->has_atime = parse_pax_time(v, vl, &e->atime, &e->atime_ns);
	} else if (KEY_IS(k, kl, "ctime")) {
		ok = e->has_ctime = parse_pax_time(v, vl, &e->ctime, &e->ctime_ns);
	} else if (kl > XATTR_PREFIX_LEN && memcmp(k, XATTR_PREFIX, XATTR_PREFIX_LEN) == 0) {
		return add_xattr(b, e, k + XATTR_PREFIX_LEN, kl - XATTR_PREFIX_LEN, v, vl);
	}
	if (!ok)
		return berr(b, -EINVAL, "bad PAX %.*s at byte %" PRIu64, (int) kl, k, b->hdr_off);
	return 0;
}

/* PAX data: records "LEN KEY=VALUE\n", LEN counting the whole record, so
 * values may hold any byte. */
static int pax_apply(struct builder *b, struct entry *e, const char *data, size_t len, bool global)
{
	size_t p = 0;

	while (p < len && data[p] != '\0') {
		size_t q = p, n = 0;

		for (; q < len && data[q] >= '0' && data[q] <= '9' && n <= len; q++)
			n = n * 10 + (size_t) (data[q] - '0');
		if (q == p || q >= len || data[q] != ' ' || n > len - p || n < q - p + 3
		    || data[p + n - 1] != '\n')
			return berr(b, -EINVAL, "bad PAX record in header at byte %" PRIu64, b->hdr_off);
		const char *key = data + q + 1, *end = data + p + n - 1;
		const char *eq = memchr(key, '=', (size_t) (end - key));
		if (eq == NULL || eq == key)
			return berr(b, -EINVAL, "bad PAX record in header at byte %" PRIu64, b->hdr_off);
		int ret = pax_record(b, e, global, key, (size_t) (eq - key), eq + 1, (size_t) (end - eq - 1));
		if (ret < 0)
			return ret;
		p += n;
	}
	return 0;
}

/* --- the tree --- */

static const char *type_name(char type)
{
	switch (type) {
	case '1': return "hard link";
	case '2': return "symlink";
	case '5': return "directory";
	default: return "entry";
	}
}

/* Walks path (already checked) to its parent directory, making missing
 * directories when create; *name is its last component (NULL: the root). */
static int walk(struct builder *b, const struct entry *e, const char *path, size_t len,
		bool create, uint32_t *dir,
     const char **name, size_t *name_len)
{
	struct tar_index *idx = b->idx;
	uint32_t at = TAR_ROOT;
	const char *pend = NULL;
	size_t plen = 0;

	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && path[j] != '/')
			j++;
		size_t clen = j - i;
		if (clen == 0 || (clen == 1 && path[i] == '.')) {
			i = j + 1;
			continue;
		}
		if (clen == 2 && path[i] == '.' && path[i + 1] == '.')
			return berr(b, -EINVAL, "%s '%.*s': '..' in name", type_name(e->type), (int) len, path);
		if (clen > MAX_COMPONENT)
			return berr(b, -ENAMETOOLONG, "%s '%.*s': component longer than %d bytes",
				    type_name(e->type), (int) len, path, MAX_COMPONENT);
		if (pend != NULL) {
			struct tar_dirent *d = dirent_find(idx, at, pend, plen);

			if (d == NULL && !create)
				return berr(b, -ENOENT, "%s '%.*s': no such file", type_name(e->type), (int) len, path);
			if (d == NULL) {
				/* an implicit parent: root-owned 0755, dated as
				 * the entry that needs it */
				uint32_t n;

				if (node_new(idx, &n) < 0 || dirent_add(idx, at, pend, plen, n) < 0)
					return berr(b, -ENOMEM, "out of memory");
				idx->nodes[n].mode = S_IFDIR | 0755;
				idx->nodes[n].mtime = idx->nodes[n].atime = idx->nodes[n].ctime = e->mtime;
				at = n;
			} else if (!S_ISDIR(idx->nodes[d->node].mode)) {
				return berr(b, -ENOTDIR, "%s '%.*s': '%.*s' is not a directory", type_name(e->type),
					    (int) len, path, (int) plen, pend);
			} else {
				at = d->node;
			}
		}
		pend = path + i;
		plen = clen;
		i = j + 1;
	}
	*dir = at;
	*name = pend;
	*name_len = plen;
	return 0;
}

static int check_path(struct builder *b, const struct entry *e, const char *path, size_t len)
{
	if (len == 0)
		return berr(b, -EINVAL, "%s with an empty name at byte %" PRIu64, type_name(e->type), b->hdr_off);
	if (len >= PATH_MAX)
		return berr(b, -ENAMETOOLONG, "%s name at byte %" PRIu64 " longer than %d bytes",
			    type_name(e->type), b->hdr_off, PATH_MAX - 1);
	if (path[0] == '/')
		return berr(b, -EINVAL, "%s '%.*s': absolute name", type_name(e->type), (int) len, path);
	return 0;
}

static uint32_t type_mode(char type)
{
	switch (type) {
	case '2': return S_IFLNK;
	case '3': return S_IFCHR;
	case '4': return S_IFBLK;
	case '5': return S_IFDIR;
	case '6': return S_IFIFO;
	default: return S_IFREG;
	}
}

/* Gives node n the entry's attributes (the type bits it already has). */
static int node_set(struct builder *b, uint32_t n, const struct entry *e, uint64_t data_off)
{
	struct tar_index *idx = b->idx;
	struct tar_node *t = &idx->nodes[n];
	uint32_t first = idx->nxattrs;

	t->mode = (t->mode & S_IFMT) | (e->mode & 07777);
	t->uid = e->uid;
	t->gid = e->gid;
	t->mtime = e->mtime;
	t->mtime_ns = e->mtime_ns;
	t->atime = e->has_atime ? e->atime : e->mtime;
	t->atime_ns = e->has_atime ? e->atime_ns : e->mtime_ns;
	t->ctime = e->has_ctime ? e->ctime : e->mtime;
	t->ctime_ns = e->has_ctime ? e->ctime_ns : e->mtime_ns;
	if (S_ISCHR(t->mode) || S_ISBLK(t->mode)) {
		t->rdev_major = e->devmajor;
		t->rdev_minor = e->devminor;
	}
	if (S_ISREG(t->mode)) {
		t->size = e->size;
		t->data_off = data_off;
	}
	if (S_ISLNK(t->mode)) {
		t->size = e->link_len;
		if (arena_add(idx, e->link, e->link_len, &t->link) < 0)
			return berr(b, -ENOMEM, "out of memory");
	}
	if (e->nxattrs > UINT32_MAX - idx->nxattrs
	    || grow((void **) &idx->xattrs, &idx->xattrs_cap, idx->nxattrs + (uint32_t) e->nxattrs,
		    sizeof(*idx->xattrs)) < 0)
		return berr(b, -ENOMEM, "out of memory");
	for (size_t i = 0; i < e->nxattrs; i++) {
		const struct pending_xattr *p = &b->xattrs[i];
		struct tar_xattr *x = &idx->xattrs[idx->nxattrs];

		if (arena_add(idx, p->name, p->name_len, &x->name) < 0
		    || arena_add(idx, p->value, p->value_len, &x->value) < 0)
			return berr(b, -ENOMEM, "out of memory");
		x->value_len = (uint32_t) p->value_len;
		idx->nxattrs++;
	}
	t->xattr_first = first;
	t->nxattrs = (uint32_t) e->nxattrs;
	return 0;
}

/* A hard link: the same node as its target, an earlier non-directory. */
static int insert_link(struct builder *b, const struct entry *e, uint32_t dir,
		const char *name, size_t nlen)
{
	struct tar_index *idx = b->idx;
	uint32_t tdir;
	const char *tname;
	size_t tlen;
	int ret = check_path(b, e, e->link, e->link_len);

	if (ret == 0)
		ret = walk(b, e, e->link, e->link_len, false, &tdir, &tname, &tlen);
	if (ret < 0)
		return ret;
	struct tar_dirent *t = tname ? dirent_find(idx, tdir, tname, tlen) : NULL;
	if (t == NULL || S_ISDIR(idx->nodes[t->node].mode))
		return berr(b, -EINVAL, "hard link '%.*s' to '%.*s': %s", (int) e->path_len, e->path,
			    (int) e->link_len, e->link, t ? "a directory" : "no such earlier entry");
	uint32_t target = t->node;
	struct tar_dirent *d = dirent_find(idx, dir, name, nlen);
	if (d != NULL) {
		d->node = target;
		return 0;
	}
	return dirent_add(idx, dir, name, nlen, target) < 0 ? berr(b, -ENOMEM, "out of memory") : 0;
}

/* Puts the entry in the tree: a later entry replaces an earlier one of the
 * same name, except that a directory over a directory only updates it. */
static int insert(struct builder *b, const struct entry *e, uint64_t data_off)
{
	struct tar_index *idx = b->idx;
	uint32_t dir, n;
	const char *name;
	size_t nlen;
	int ret = check_path(b, e, e->path, e->path_len);

	if (ret == 0)
		ret = walk(b, e, e->path, e->path_len, true, &dir, &name, &nlen);
	if (ret < 0)
		return ret;
	if (name == NULL) {
		if (e->type != '5')
			return berr(b, -EINVAL, "%s '%.*s' names the root", type_name(e->type), (int) e->path_len,
				    e->path);
		return node_set(b, TAR_ROOT, e, 0);
	}
	if (e->type == '1')
		return insert_link(b, e, dir, name, nlen);
	struct tar_dirent *d = dirent_find(idx, dir, name, nlen);
	if (d != NULL && e->type == '5' && S_ISDIR(idx->nodes[d->node].mode))
		return node_set(b, d->node, e, data_off);
	if (node_new(idx, &n) < 0)
		return berr(b, -ENOMEM, "out of memory");
	idx->nodes[n].mode = type_mode(e->type);
	if (d != NULL)
		d->node = n;
	else if (dirent_add(idx, dir, name, nlen, n) < 0)
		return berr(b, -ENOMEM, "out of memory");
	return node_set(b, n, e, data_off);
}

/* --- headers --- */

static bool is_regular_type(char t)
{
	return t == '0' || t == '\0' || t == '7';
}

/* The ustar/GNU fields of header h into e. */
static int parse_header(struct builder *b, const unsigned char *h, struct entry *e)
{
	uint64_t v;

	e->type = (char) h[F_TYPE];
	if (!parse_unsigned(FIELD(h, F_MODE), UINT64_MAX, &v))
		return berr(b, -EINVAL, "bad mode in header at byte %" PRIu64, b->hdr_off);
	e->mode = (uint32_t) (v & 07777);
	if (!parse_unsigned(FIELD(h, F_UID), UINT32_MAX, &v))
		return berr(b, -EINVAL, "bad uid in header at byte %" PRIu64, b->hdr_off);
	e->uid = (uint32_t) v;
	if (!parse_unsigned(FIELD(h, F_GID), UINT32_MAX, &v))
		return berr(b, -EINVAL, "bad gid in header at byte %" PRIu64, b->hdr_off);
	e->gid = (uint32_t) v;
	if (!parse_unsigned(FIELD(h, F_SIZE), UINT64_MAX, &e->size))
		return berr(b, -EINVAL, "bad size in header at byte %" PRIu64, b->hdr_off);
	if (!parse_time(FIELD(h, F_MTIME), &e->mtime))
		return berr(b, -EINVAL, "bad mtime in header at byte %" PRIu64, b->hdr_off);
	bool posix = memcmp(h + F_MAGIC, "ustar\0", 6) == 0;
	bool gnu = memcmp(h + F_MAGIC, "ustar  \0", 8) == 0;
	if ((posix || gnu) && (e->type == '3' || e->type == '4')) {
		if (!parse_unsigned(FIELD(h, F_DEVMAJOR), UINT32_MAX, &v))
			return berr(b, -EINVAL, "bad devmajor in header at byte %" PRIu64, b->hdr_off);
		e->devmajor = (uint32_t) v;
		if (!parse_unsigned(FIELD(h, F_DEVMINOR), UINT32_MAX, &v))
			return berr(b, -EINVAL, "bad devminor in header at byte %" PRIu64, b->hdr_off);
		e->devminor = (uint32_t) v;
	}
	/* the name: the POSIX prefix, '/', the name field */
	size_t plen = posix ? strnlen(STR_FIELD(h, F_PREFIX)) : 0;
	size_t nlen = strnlen(STR_FIELD(h, F_NAME));
	memcpy(b->ustar_path, h + OFFSET(F_PREFIX), plen);
	if (plen > 0)
		b->ustar_path[plen++] = '/';
	memcpy(b->ustar_path + plen, h, nlen);
	e->path = b->ustar_path;
	e->path_len = plen + nlen;
	e->link = (const char *) h + OFFSET(F_LINKNAME);
	e->link_len = strnlen(STR_FIELD(h, F_LINKNAME));
	return 0;
}

/* Applies the extended headers that came before: GNU long names, then
 * PAX (global first, then the entry's own). */
static int apply_extended(struct builder *b, struct entry *e)
{
	int ret = 0;

	if (b->longname) {
		e->path = b->longname;
		e->path_len = strnlen(b->longname, b->longname_len);
	}
	if (b->longlink) {
		e->link = b->longlink;
		e->link_len = strnlen(b->longlink, b->longlink_len);
	}
	if (b->gpax)
		ret = pax_apply(b, e, b->gpax, b->gpax_len, true);
	if (ret == 0 && b->pax)
		ret = pax_apply(b, e, b->pax, b->pax_len, false);
	if (ret == 0 && e->link_len >= PATH_MAX)
		ret = berr(b, -ENAMETOOLONG, "link target at byte %" PRIu64 " longer than %d bytes", b->hdr_off,
			   PATH_MAX - 1);
	return ret;
}

static void clear_extended(struct builder *b)
{
	free(b->longname);
	free(b->longlink);
	free(b->pax);
	b->longname = b->longlink = b->pax = NULL;
}

/* One member of a type that carries a file (or nothing). */
static int do_entry(struct builder *b, const unsigned char *h)
{
	struct entry e = { 0 };
	int ret = parse_header(b, h, &e);

	if (ret == 0)
		ret = apply_extended(b, &e);
	if (ret < 0)
		return ret;
	/* pre-POSIX archives mark directories by a trailing '/' */
	if (e.type == '0' || e.type == '\0') {
		if (e.path_len > 0 && e.path[e.path_len - 1] == '/')
			e.type = '5';
	}
	/* as Go's archive/tar (which writes most layers): only regular
	 * files have data, whatever the size field of others says */
	uint64_t data = is_regular_type(e.type) ? e.size : 0, total;
	uint64_t data_off = tar_stream_tell(b->s);
	if (!is_regular_type(e.type))
		e.size = 0;
	if (!padded(data, &total))
		return berr(b, -EINVAL, "size overflows in header at byte %" PRIu64, b->hdr_off);
	ret = insert(b, &e, data_off);
	if (ret == 0)
		ret = skip_exact(b, total);
	clear_extended(b);
	return ret;
}

/* One header block at the current position.  Returns 1 at the end of the
 * archive, 0 to go on, or -errno. */
static int do_header(struct builder *b)
{
	unsigned char h[BLOCK];
	uint64_t size, total;
	int ret;

	b->hdr_off = tar_stream_tell(b->s);
	ret = read_exact(b, h, BLOCK);
	if (ret < 0)
		return ret;
	if (all_zero(h))
		return 1;
	if (!checksum_ok(h))
		return berr(b, -EINVAL, "header checksum mismatch at byte %" PRIu64, b->hdr_off);
	if (!parse_unsigned(FIELD(h, F_SIZE), UINT64_MAX, &size) || !padded(size, &total))
		return berr(b, -EINVAL, "bad size in header at byte %" PRIu64, b->hdr_off);
	switch (h[F_TYPE]) {
	case 'L':
		return read_member(b, size, PATH_MAX, "GNU long name", &b->longname, &b->longname_len);
	case 'K':
		return read_member(b, size, PATH_MAX, "GNU long link", &b->longlink, &b->longlink_len);
	case 'x':
		return read_member(b, size, MAX_PAX, "PAX", &b->pax, &b->pax_len);
	case 'g':
		return read_member(b, size, MAX_PAX, "PAX global", &b->gpax, &b->gpax_len);
	case 'V': /* a volume label: nothing to serve */
		return skip_exact(b, total);
	case '0': case '\0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		return do_entry(b, h);
	default:
		return berr(b, -EINVAL, "unsupported entry type '%c' at byte %" PRIu64,
			    h[F_TYPE] >= 0x20 && h[F_TYPE] < 0x7f ? h[F_TYPE] : '?', b->hdr_off);
	}
}

/* --- finishing --- */

static int cmp_dirent(const void *a, const void *b, void *arg)
{
	const struct tar_index *idx = arg;
	const struct tar_dirent *x = &idx->dirents[*(const uint32_t *) a];
	const struct tar_dirent *y = &idx->dirents[*(const uint32_t *) b];

	return strcmp(idx->arena + x->name, idx->arena + y->name);
}

/* Groups each directory's entries, sorted by name. */
static int make_children(struct tar_index *idx)
{
	uint32_t pos = 0;

	idx->children = malloc(((size_t) idx->ndirents + 1) * sizeof(*idx->children));
	if (idx->children == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < idx->ndirents; i++)
		idx->nodes[idx->dirents[i].parent].nchildren++;
	for (uint32_t n = 1; n < idx->nnodes; n++) {
		idx->nodes[n].child_first = pos;
		pos += idx->nodes[n].nchildren;
		idx->nodes[n].nchildren = 0;
	}
	for (uint32_t i = 0; i < idx->ndirents; i++) {
		struct tar_node *p = &idx->nodes[idx->dirents[i].parent];

		idx->children[p->child_first + p->nchildren++] = i;
	}
	for (uint32_t n = 1; n < idx->nnodes; n++)
		if (idx->nodes[n].nchildren > 1)
			qsort_r(idx->children + idx->nodes[n].child_first, idx->nodes[n].nchildren,
				sizeof(*idx->children), cmp_dirent, idx);
	return 0;
}

/* Link counts and statfs totals, over what the root reaches (an entry
 * replaced by a later one leaves objects nothing names). */
static int count_links(struct tar_index *idx)
{
	uint32_t *stack = malloc((size_t) idx->nnodes * sizeof(*stack));
	uint32_t top = 0;

	if (stack == NULL)
		return -ENOMEM;
	for (uint32_t n = 1; n < idx->nnodes; n++)
		idx->nodes[n].nlink = S_ISDIR(idx->nodes[n].mode) ? 2 : 0;
	stack[top++] = TAR_ROOT;
	idx->live_nodes = 1;
	while (top > 0) {
		struct tar_node *d = &idx->nodes[stack[--top]];

		for (uint32_t i = 0; i < d->nchildren; i++) {
			uint32_t c = idx->dirents[idx->children[d->child_first + i]].node;
			struct tar_node *t = &idx->nodes[c];

			if (S_ISDIR(t->mode)) {
				/* a directory has one name and its parent is
				 * older, so this is a tree: each pushed once */
				d->nlink++;
				stack[top++] = c;
			} else if (t->nlink++ > 0) {
				continue;
			}
			idx->live_nodes++;
			if (S_ISREG(t->mode))
				idx->live_blocks += t->size / 4096 + (t->size % 4096 != 0);
		}
	}
	for (uint32_t n = 1; n < idx->nnodes; n++)
		if (idx->nodes[n].nlink == 0)
			idx->nodes[n].nlink = 1;
	free(stack);
	return 0;
}

int tar_index_build(struct tar_index *idx, struct tar_stream *s, const char *label, char *why,
		size_t why_size)
{
	struct builder b = { .idx = idx, .s = s, .label = label, .why = why, .why_size = why_size };
	uint32_t root, dummy;
	int ret;

	memset(idx, 0, sizeof(*idx));
	b.xattrs = malloc(MAX_XATTRS * sizeof(*b.xattrs));
	if (b.xattrs == NULL || node_new(idx, &dummy) < 0 || node_new(idx, &root) < 0
	    || arena_add(idx, "", 0, &dummy) < 0 || hash_grow(idx) < 0) {
		ret = berr(&b, -ENOMEM, "out of memory");
		goto out;
	}
	idx->nodes[root].mode = S_IFDIR | 0755;
	while ((ret = do_header(&b)) == 0)
		;
	if (ret == 1)
		ret = make_children(idx);
	if (ret == 0)
		ret = count_links(idx);
	if (ret == -ENOMEM && why_size > 0 && why[0] == '\0')
		berr(&b, -ENOMEM, "out of memory");
out:
	clear_extended(&b);
	free(b.gpax);
	free(b.xattrs);
	free(idx->hash);
	idx->hash = NULL;
	idx->hash_size = idx->hash_used = 0;
	if (ret < 0)
		tar_index_free(idx);
	return ret;
}

void tar_index_free(struct tar_index *idx)
{
	free(idx->nodes);
	free(idx->dirents);
	free(idx->xattrs);
	free(idx->children);
	free(idx->arena);
	free(idx->hash);
	memset(idx, 0, sizeof(*idx));
}

const struct tar_node *tar_index_node(const struct tar_index *idx, uint64_t n)
{
	if (n == 0 || n >= idx->nnodes)
		return NULL;
	return &idx->nodes[n];
}

uint32_t tar_index_lookup(const struct tar_index *idx, uint64_t dir, const char *name)
{
	const struct tar_node *d = tar_index_node(idx, dir);

	if (d == NULL || !S_ISDIR(d->mode))
		return 0;
	const uint32_t *c = idx->children + d->child_first;
	size_t lo = 0, hi = d->nchildren;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tar_dirent *e = &idx->dirents[c[mid]];
		int r = strcmp(name, idx->arena + e->name);

		if (r == 0)
			return e->node;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}
