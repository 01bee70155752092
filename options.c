/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command line parsing: fuse-overlayfs 1.x syntax.
 *
 *   fuse-overlayfs [-f] [-d] [-o opt[,opt...]]... [SOURCE] MOUNTPOINT
 *
 * Options of our own are consumed into struct ovl_config; generic mount
 * options that libfuse understands are collected, escaped for libfuse's
 * option parser, into cfg->fuse_mount_opts; fstab/mount(8)-only options are
 * accepted and dropped.  Anything else is an error: nothing is mounted.
 */
#include "config.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "utils/log.h"

/* ------------------------------------------------------------------ */
/* A growable string                                                   */

struct sbuf {
	char *s;
	size_t len;
	size_t cap;
	bool oom;
};

static void sb_putn(struct sbuf *b, const char *p, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_puts(struct sbuf *b, const char *p)
{
	sb_putn(b, p, strlen(p));
}

/* Appends one option to a comma separated list. */
static void sb_addopt(struct sbuf *b, const char *opt)
{
	if (b->len)
		sb_putc(b, ',');
	sb_puts(b, opt);
}

/* ------------------------------------------------------------------ */
/* Parser state                                                        */

struct parse_state {
	struct ovl_config *cfg;
	struct sbuf fuse;         /* generic options for libfuse, in order */
	char *positional[2];
	int npositional;
	bool have_fsname;
	bool have_subtype;
	bool user_ro;             /* ro / rw: the last one given */
	bool seen_ro_rw;
	bool user_allow_root;
	bool user_default_permissions;
	bool user_allow_other;
	char *lowerdir_raw;       /* raw value of the last lowerdir= */
	char *uidmap_raw;
	char *gidmap_raw;
	char **mapping_target;    /* last option was uid/gidmapping: its raw value */
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		ovl_err("out of memory");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);
	memcpy(p, s, n);
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void replace_str(char **dst, char *val)
{
	free(*dst);
	*dst = val;
}

/*
 * Removes one level of quoting from an option value: a backslash takes
 * the next character literally, double quotes group and are dropped.
 */
static char *unquote(const char *v)
{
	char *out = xmalloc(strlen(v) + 1);
	char *d = out;
	for (const char *s = v; *s; s++) {
		if (*s == '\\' && s[1])
			*d++ = *++s;
		else if (*s != '"')
			*d++ = *s;
	}
	*d = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Value checks                                                        */

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	if (!s || !*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_bool01(const char *s, bool *out)
{
	if (s && !strcmp(s, "0")) {
		*out = false;
		return true;
	}
	if (s && !strcmp(s, "1")) {
		*out = true;
		return true;
	}
	return false;
}

static int bad_value(const char *name, const char *value, const char *expected)
{
	ovl_err("invalid value '%s' for option '%s': %s", value ? value : "", name, expected);
	return 1;
}

/*
 * lowerdir=A:B:C, topmost first.  ':' separates layers unless escaped as
 * "\:"; "\\" is a backslash (any "\X" is X, as in the kernel).
 */
static int parse_lowerdir(struct ovl_config *cfg, const char *raw)
{
	if (!*raw) {
		ovl_err("lowerdir is empty");
		return 1;
	}

	size_t n = 1;
	for (const char *s = raw; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		else if (*s == ':')
			n++;
	}
	if (n > OVL_MAX_LAYERS) {
		ovl_err("too many lower layers: %zu (at most %d)", n, OVL_MAX_LAYERS);
		return 1;
	}

	char **dirs = calloc(n, sizeof(*dirs));
	if (!dirs) {
		ovl_err("out of memory");
		return 1;
	}
	size_t i = 0;
	const char *s = raw;
	for (;;) {
		struct sbuf b = {0};
		while (*s && *s != ':') {
			if (*s == '\\' && s[1])
				s++;
			if (*s != '"')
				sb_putc(&b, *s);
			s++;
		}
		if (b.oom) {
			free(b.s);
			goto oom;
		}
		if (b.len == 0) {
			free(b.s);
			for (size_t k = 0; k < i; k++)
				free(dirs[k]);
			free(dirs);
			ovl_err("lowerdir '%s' has an empty layer", raw);
			return 1;
		}
		dirs[i++] = b.s;
		if (!*s)
			break;
		s++; /* the ':' */
	}

	for (size_t k = 0; k < cfg->nlowerdirs; k++)
		free(cfg->lowerdirs[k]);
	free(cfg->lowerdirs);
	cfg->lowerdirs = dirs;
	cfg->nlowerdirs = i;
	return 0;
oom:
	for (size_t k = 0; k < i; k++)
		free(dirs[k]);
	free(dirs);
	ovl_err("out of memory");
	return 1;
}

/* "D:P:L[:D:P:L...]"; triples may also be separated by ','. Empty fields
 * are skipped, as fuse-overlayfs 1.x does: containers/storage writes
 * "uidmapping=:0:100000:65536". */
static int parse_idmap(const char *name, const char *raw, struct ovl_idmap **out, size_t *nout)
{
	char *fields = xstrdup(raw), *save = NULL;
	struct ovl_idmap *map = NULL;
	size_t n = 0, f = 0;
	unsigned long v[3];
	int ret = 1;

	for (char *tok = strtok_r(fields, ":,", &save); tok; tok = strtok_r(NULL, ":,", &save), f++) {
		if (!parse_ulong(tok, UINT32_MAX, &v[f % 3])) {
			ovl_err("invalid %s '%s': '%s' is not a number", name, raw, tok);
			goto out;
		}
		if (f % 3 != 2)
			continue;
		if (v[2] == 0 || v[0] + v[2] - 1 > UINT32_MAX || v[1] + v[2] - 1 > UINT32_MAX) {
			ovl_err("invalid %s '%s': range %lu:%lu:%lu is empty or out of bounds",
				name, raw, v[0], v[1], v[2]);
			goto out;
		}
		struct ovl_idmap *grown = realloc(map, (n + 1) * sizeof(*map));
		if (!grown) {
			ovl_err("out of memory");
			goto out;
		}
		map = grown;
		map[n++] = (struct ovl_idmap){ .disk = (unsigned int)v[0],
			.presented = (unsigned int)v[1], .len = (unsigned int)v[2] };
	}
	if (n == 0 || f % 3) {
		ovl_err("invalid %s '%s': expected DISK:PRESENTED:LEN triples", name, raw);
		goto out;
	}
	free(*out);
	*out = map;
	*nout = n;
	map = NULL;
	ret = 0;
out:
	free(map);
	free(fields);
	return ret;
}

/* Escapes a raw token for libfuse's option parser: quoted commas get "\,". */
static void add_fuse_opt(struct parse_state *st, const char *tok)
{
	struct sbuf *b = &st->fuse;
	if (b->len)
		sb_putc(b, ',');
	for (const char *s = tok; *s; s++) {
		if (*s == '\\' && s[1]) {
			sb_putn(b, s, 2);
			s++;
		} else if (*s == ',') {
			sb_puts(b, "\\,");
		} else {
			sb_putc(b, *s);
		}
	}
}

static bool selinux_enabled(void)
{
	return access("/sys/fs/selinux/enforce", F_OK) == 0;
}

/* ------------------------------------------------------------------ */
/* One option                                                          */

/* Options that take no value. */
static int no_value(const char *name, const char *value)
{
	if (value) {
		ovl_err("option '%s' takes no value", name);
		return 1;
	}
	return 0;
}

static int need_value(const char *name, const char *value)
{
	if (!value) {
		ovl_err("option '%s' needs a value", name);
		return 1;
	}
	return 0;
}

/* seccomp=enforce|kill|log|off; only off where built without libseccomp. */
static int parse_seccomp(struct ovl_config *cfg, const char *value)
{
	static const struct { const char *name; int mode; } modes[] = {
		{ "off", OVL_SECCOMP_OFF }, { "log", OVL_SECCOMP_LOG },
		{ "enforce", OVL_SECCOMP_ENFORCE }, { "kill", OVL_SECCOMP_KILL },
	};

	if (need_value("seccomp", value))
		return 1;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(value, modes[i].name))
			continue;
#ifndef HAVE_SECCOMP
		if (modes[i].mode != OVL_SECCOMP_OFF)
			return bad_value("seccomp", value, "built without libseccomp: only off");
#endif
		cfg->seccomp = modes[i].mode;
		return 0;
	}
	return bad_value("seccomp", value, "expected enforce, kill, log or off");
}

/* fstab/mount(8)/mount.fuse options with no meaning to the filesystem. */
static bool ignored_option(const char *name, const char *value)
{
	static const char *const bare[] = {
		"_netdev", "noauto", "auto", "user", "nouser", "users", "owner", "group",
		"nofail", "defaults", "lazytime", "nolazytime",
		"iversion", "noiversion", "loud", "silent", NULL,
	};
	if (!strncmp(name, "x-", 2) || !strcmp(name, "comment"))
		return true;
	if (value)
		return false;
	for (int i = 0; bare[i]; i++)
		if (!strcmp(name, bare[i]))
			return true;
	return false;
}

/* Generic mount options libfuse 3.14+ takes in fuse_session_new()/mount. */
static bool libfuse_flag(const char *name)
{
	static const char *const flags[] = {
		"rw", "ro", "nodev", "dev", "nosuid", "suid", "noexec", "exec",
		"noatime", "sync", "async", "dirsync", NULL,
	};
	for (int i = 0; flags[i]; i++)
		if (!strcmp(name, flags[i]))
			return true;
	return false;
}

/*
 * Handles one "name[=value]" token; raw is the whole token as written
 * (quotes and escapes intact), value the raw text after '=' or NULL.
 */
static int handle_option(struct parse_state *st, const char *name, const char *value,
			 const char *raw)
{
	struct ovl_config *cfg = st->cfg;
	unsigned long ul;

	st->mapping_target = NULL;

	/* layers */
	if (!strcmp(name, "lowerdir")) {
		if (need_value(name, value))
			return 1;
		replace_str(&st->lowerdir_raw, xstrdup(value));
		return 0;
	}
	if (!strcmp(name, "upperdir") || !strcmp(name, "workdir")) {
		if (need_value(name, value))
			return 1;
		char *v = unquote(value);
		if (!*v) {
			free(v);
			ovl_err("%s is empty", name);
			return 1;
		}
		replace_str(name[0] == 'u' ? &cfg->upperdir : &cfg->workdir, v);
		return 0;
	}

	/* ownership */
	if (!strcmp(name, "uidmapping") || !strcmp(name, "gidmapping")) {
		if (need_value(name, value))
			return 1;
		char **target = name[0] == 'u' ? &st->uidmap_raw : &st->gidmap_raw;
		replace_str(target, unquote(value));
		st->mapping_target = target;
		return 0;
	}
	if (!strcmp(name, "squash_to_root")) {
		if (no_value(name, value))
			return 1;
		cfg->squash_to_root = true;
		return 0;
	}
	if (!strcmp(name, "squash_to_uid") || !strcmp(name, "squash_to_gid")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, UINT32_MAX - 1, &ul))
			return bad_value(name, value, "expected a numeric id");
		if (!strcmp(name, "squash_to_uid"))
			cfg->squash_to_uid = (long)ul;
		else
			cfg->squash_to_gid = (long)ul;
		return 0;
	}

	/* behaviour */
	if (!strcmp(name, "static_nlink")) {
		if (no_value(name, value))
			return 1;
		cfg->static_nlink = true;
		return 0;
	}
	if (!strcmp(name, "noacl")) {
		if (no_value(name, value))
			return 1;
		cfg->noacl = true;
		return 0;
	}
	if (!strcmp(name, "xattr_permissions")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, 2, &ul))
			return bad_value(name, value, "expected 0, 1 or 2");
		cfg->xattr_permissions = (int)ul;
		return 0;
	}
	if (!strcmp(name, "fsync")) {
		if (need_value(name, value))
			return 1;
		if (!parse_bool01(value, &cfg->fsync))
			return bad_value(name, value, "expected 0 or 1");
		return 0;
	}
	if (!strcmp(name, "volatile")) {
		if (no_value(name, value))
			return 1;
		cfg->volatile_mode = true;
		cfg->fsync = false;
		return 0;
	}
	if (!strcmp(name, "timeout")) {
		if (need_value(name, value))
			return 1;
		char *end;
		errno = 0;
		double t = strtod(value, &end);
		if (!*value || *end || errno || !isfinite(t) || t < 0)
			return bad_value(name, value, "expected a number of seconds >= 0");
		cfg->timeout = t;
		return 0;
	}
	if (!strcmp(name, "threaded")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, INT_MAX, &ul))
			return bad_value(name, value, "expected a number");
		return 0; /* accepted: the daemon is always multi-threaded */
	}
	if (!strcmp(name, "writeback")) {
		if (need_value(name, value))
			return 1;
		if (!parse_bool01(value, &cfg->writeback))
			return bad_value(name, value, "expected 0 or 1");
		return 0;
	}
	if (!strcmp(name, "noxattrs")) {
		if (!value) {
			cfg->noxattrs = true;
			return 0;
		}
		if (!parse_bool01(value, &cfg->noxattrs))
			return bad_value(name, value, "expected 0 or 1");
		return 0;
	}
	if (!strcmp(name, "fast_ino")) {
		if (need_value(name, value))
			return 1;
		if (!parse_bool01(value, &cfg->fast_ino))
			return bad_value(name, value, "expected 0 or 1");
		return 0;
	}
	if (!strcmp(name, "redirect_dir")) {
		if (need_value(name, value))
			return 1;
		if (strcmp(value, "off")) {
			ovl_err("only redirect_dir=off is supported");
			return 1;
		}
		return 0;
	}
	if (!strcmp(name, "xino")) {
		if (need_value(name, value))
			return 1;
		if (!strcmp(value, "off"))
			cfg->xino = OVL_XINO_OFF;
		else if (!strcmp(value, "auto"))
			cfg->xino = OVL_XINO_AUTO;
		else if (!strcmp(value, "on"))
			cfg->xino = OVL_XINO_ON;
		else
			return bad_value(name, value, "expected off, auto or on");
		return 0;
	}
	if (!strcmp(name, "ino32_t")) {
		if (no_value(name, value))
			return 1;
		cfg->ino32 = true;
		return 0;
	}
	if (!strcmp(name, "plugins")) {
		if (need_value(name, value))
			return 1;
		char *v = unquote(value);   /* loaded by plugin.c */
		if (!*v) {
			free(v);
			v = NULL;
		}
		replace_str(&cfg->plugins, v);
		return 0;
	}
	if (!strcmp(name, "passthrough")) {
		if (need_value(name, value))
			return 1;
		if (!strcmp(value, "off"))
			cfg->passthrough = OVL_PASSTHROUGH_OFF;
		else if (!strcmp(value, "upper"))
			cfg->passthrough = OVL_PASSTHROUGH_UPPER;
		else if (!strcmp(value, "all"))
			cfg->passthrough = OVL_PASSTHROUGH_ALL;
		else
			return bad_value(name, value, "expected off, upper or all");
		return 0;
	}
	if (!strcmp(name, "seccomp"))
		return parse_seccomp(cfg, value);
#ifdef OVL_TEST_HOOKS
	if (!strcmp(name, "test_syscall")) {
		if (need_value(name, value))
			return 1;
		free(cfg->test_syscall);
		cfg->test_syscall = xstrdup(value);
		return 0;
	}
#endif
	if (!strcmp(name, "max_stack_depth")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, 2, &ul) || ul < 1)
			return bad_value(name, value, "expected 1 or 2");
		cfg->max_stack_depth = (int)ul;
		return 0;
	}
	if (!strcmp(name, "io_uring")) {   /* bare: libfuse's spelling of auto */
		if (!value || !strcmp(value, "auto"))
			cfg->io_uring = true;
		else if (!strcmp(value, "off"))
			cfg->io_uring = false;
		else
			return bad_value(name, value, "expected auto or off");
		return 0;
	}
	if (!strcmp(name, "fuse_device")) {
		const char *base;
		if (need_value(name, value))
			return 1;
		if (!strcmp(value, "auto")) {
			replace_str(&cfg->fuse_device, NULL);
			return 0;
		}
		/* the filesystem type is the device's name (mount.c) */
		base = strrchr(value, '/');
		if (value[0] != '/' || strncmp(base + 1, "fuse", 4))
			return bad_value(name, value, "expected auto or the path of a FUSE device "
					 "such as /dev/fuse_userns");
		replace_str(&cfg->fuse_device, xstrdup(value));
		return 0;
	}
	if (!strcmp(name, "debug")) {
		if (no_value(name, value))
			return 1;
		cfg->debug = true;
		return 0;
	}
	if (!strcmp(name, "max_write")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, UINT_MAX, &ul) || ul < 4096)
			return bad_value(name, value, "expected a number of bytes >= 4096");
		cfg->max_write = (unsigned int)ul;
		return 0;
	}

	/* generic mount options */
	if (libfuse_flag(name)) {
		if (no_value(name, value))
			return 1;
		if (!strcmp(name, "ro") || !strcmp(name, "rw")) {
			st->user_ro = name[1] == 'o';
			st->seen_ro_rw = true;
		}
		if (!strcmp(name, "noatime"))
			cfg->strictatime = cfg->relatime = false;
		add_fuse_opt(st, raw);
		return 0;
	}
	if (!strcmp(name, "atime") || !strcmp(name, "relatime") || !strcmp(name, "strictatime")) {
		/* libfuse knows none of these (3.18 refuses "atime"): the
		 * mount gets noatime and main.c sets the mode right after. */
		if (no_value(name, value))
			return 1;
		cfg->strictatime = name[0] == 's';
		cfg->relatime = !cfg->strictatime;
		return 0;
	}
	if (!strcmp(name, "diratime") || !strcmp(name, "nodiratime")) {
		if (no_value(name, value))
			return 1;
		cfg->nodiratime = name[0] == 'n';
		return 0;
	}
	if (!strcmp(name, "default_permissions")) {
		if (no_value(name, value))
			return 1;
		return 0; /* always on */
	}
	if (!strcmp(name, "allow_other")) {
		if (no_value(name, value))
			return 1;
		st->user_allow_other = true;
		return 0;
	}
	if (!strcmp(name, "allow_root")) {
		if (no_value(name, value))
			return 1;
		st->user_allow_root = true;
		return 0;
	}
	if (!strcmp(name, "auto_unmount")) {
		if (no_value(name, value))
			return 1;
		add_fuse_opt(st, raw);
		return 0;
	}
	if (!strcmp(name, "max_read")) {
		if (need_value(name, value))
			return 1;
		if (!parse_ulong(value, UINT_MAX, &ul))
			return bad_value(name, value, "expected a number of bytes");
		add_fuse_opt(st, raw);
		return 0;
	}
	if (!strcmp(name, "fsname") || !strcmp(name, "subtype")) {
		if (need_value(name, value))
			return 1;
		if (!*value)
			return bad_value(name, value, "expected a name");
		if (name[0] == 'f')
			st->have_fsname = true;
		else
			st->have_subtype = true;
		add_fuse_opt(st, raw);
		return 0;
	}
	if (!strcmp(name, "context") || !strcmp(name, "fscontext") ||
	    !strcmp(name, "defcontext") || !strcmp(name, "rootcontext")) {
		if (need_value(name, value))
			return 1;
		/* The kernel refuses SELinux labels when SELinux is off. */
		if (selinux_enabled())
			add_fuse_opt(st, raw);
		return 0;
	}
	if (ignored_option(name, value))
		return 0;

	ovl_err("unknown option '%s'", name);
	return 1;
}

/* Splits one -o argument into options and handles each. */
static int handle_option_string(struct parse_state *st, const char *opts)
{
	const char *s = opts;
	while (*s) {
		/* one token: up to a ',' outside quotes and not escaped */
		const char *start = s;
		const char *eq = NULL;
		bool quoted = false;
		for (; *s; s++) {
			if (*s == '\\' && s[1]) {
				s++;
			} else if (*s == '"') {
				quoted = !quoted;
			} else if (!quoted && *s == ',') {
				break;
			} else if (!quoted && *s == '=' && !eq) {
				eq = s;
			}
		}
		if (quoted) {
			ovl_err("unterminated quote in option '%.*s'", (int)(s - start), start);
			return 1;
		}
		size_t len = (size_t)(s - start);
		if (*s)
			s++;
		if (len == 0)
			continue;

		char *raw = xstrndup(start, len);
		char *name = xstrndup(start, eq ? (size_t)(eq - start) : len);
		const char *value = eq ? raw + (eq - start) + 1 : NULL;
		int r;

		if (!eq && st->mapping_target && strspn(raw, "0123456789:") == len) {
			/* "uidmapping=0:1000:1,1:100000:65536": a comma separated
			 * triple continues the mapping (1.x man page syntax). */
			struct sbuf b = {0};
			sb_puts(&b, *st->mapping_target);
			sb_putc(&b, ':');
			sb_puts(&b, raw);
			if (b.oom) {
				ovl_err("out of memory");
				r = 1;
			} else {
				replace_str(st->mapping_target, b.s);
				r = 0;
			}
		} else {
			r = handle_option(st, name, value, raw);
		}
		free(name);
		free(raw);
		if (r)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
#ifdef HAVE_SECCOMP
#define SECCOMP_DEFAULT "enforce"
#define SECCOMP_STATE "built in (default enforce)"
#else
#define SECCOMP_DEFAULT "off: built without libseccomp"
#define SECCOMP_STATE "not built in (no libseccomp): only seccomp=off"
#endif

/* Help and version                                                    */

static void print_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPTION[,OPTION...]]... [SOURCE] MOUNTPOINT\n\n", prog);
	printf(
"general options:\n"
"    -h, --help               print this help and exit\n"
"    -V, --version            print version and exit\n"
"    -f, --foreground         stay in the foreground\n"
"    -d, --debug              debug output on stderr (implies -f)\n"
"    -s                       accepted for compatibility (always multi-threaded)\n"
"\n"
"overlay options:\n"
"    -o lowerdir=DIR[:DIR...] lower layers, topmost first (\\: escapes a colon)\n"
"    -o upperdir=DIR          writable upper layer (none: read-only mount)\n"
"    -o workdir=DIR           work directory, same filesystem as upperdir\n"
"    -o uidmapping=D:P:L[:...] map uids: D on disk is shown as P, L ids\n"
"    -o gidmapping=D:P:L[:...] map gids: D on disk is shown as P, L ids\n"
"    -o squash_to_root        every file is owned by 0:0\n"
"    -o squash_to_uid=UID     every file is owned by UID\n"
"    -o squash_to_gid=GID     every file is owned by GID\n"
"    -o static_nlink          directories report st_nlink 1\n"
"    -o noacl                 disable POSIX ACLs\n"
"    -o xattr_permissions=N   0: off, 1: privileged (trusted.) xattr, 2: user. xattr\n"
"                             override file ownership and mode (default 0)\n"
"    -o fsync=0|1             0: ignore fsync requests (default 1)\n"
"    -o volatile              never sync anything (as overlayfs volatile)\n"
"    -o timeout=SECONDS       entry and attribute cache timeout (default 1000000000;\n"
"                             0: no listings kept either)\n"
"    -o threaded=N            accepted for compatibility (always multi-threaded)\n"
"    -o writeback=0|1         kernel writeback cache (default 1)\n"
"    -o noxattrs[=0|1]        disable extended attributes\n"
"    -o fast_ino=0|1          accepted for compatibility (inode numbers are stable)\n"
"    -o redirect_dir=off      only off is supported\n"
"    -o xino=off|auto|on      the layer's filesystem in inode numbers (default auto)\n"
"    -o ino32_t               inode numbers fit in 32 bits\n"
"    -o plugins=PLUGIN[:PLUGIN...] layer plugins to load: a path, or a name\n"
"                             installed in " PLUGINDIR " (e.g. tar); a\n"
"                             lowerdir //NAME/DATA/PATH is served by plugin NAME\n"
"    -o passthrough=all|upper|off  FUSE passthrough of file I/O (default all)\n"
"    -o max_stack_depth=1|2   stacking depth reserved for passthrough (default auto)\n"
"    -o fuse_device=auto|PATH mount through PATH (e.g. /dev/fuse_userns of kernel/)\n"
"    -o io_uring=auto|off     FUSE over io_uring when the kernel offers it (default auto)\n"
"    -o seccomp=enforce|kill|log|off  system calls outside the daemon's list fail\n"
"                             (EPERM), kill it, are logged, or are allowed\n"
"                             (default " SECCOMP_DEFAULT ")\n"
"    -o debug                 debug output on stderr\n"
"\n"
"mount options:\n"
"    -o ro, -o rw             read-only / read-write mount\n"
"    -o nodev, dev, nosuid, suid, noexec, exec    the usual mount flags\n"
"                             (default for root: dev,suid,exec)\n"
"    -o noatime, atime, relatime, strictatime     access time updates (default noatime)\n"
"    -o sync, async, dirsync  synchronous writes / directory updates\n"
"    -o diratime, nodiratime  directory access time updates\n"
"    -o lazytime              accepted and ignored\n"
"    -o context=, fscontext=, defcontext=, rootcontext=  SELinux labels\n"
"    -o default_permissions   always on: the kernel checks permissions\n"
"    -o allow_other           allow access by all users (default for root)\n"
"    -o allow_root            allow access by root\n"
"    -o auto_unmount          unmount when the daemon dies\n"
"    -o max_write=BYTES       largest write request\n"
"    -o max_read=BYTES        largest read request\n"
"    -o fsname=NAME           mount source shown (default fuse-overlayfs)\n"
"    -o subtype=NAME          type shown as fuse.NAME (default fuse-overlayfs)\n"
"    -o x-*, _netdev, noauto, auto, user, users, nofail, defaults, comment=\n"
"                             fstab options, ignored\n");
}

/* Whether mounts made now would run over io_uring (io_uring=auto) */
char ovl_uring_param(void)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	int c;

	if (!f)
		return 0;
	c = fgetc(f);
	fclose(f);
	return c == 'Y' ? 'Y' : 'N';
}

static const char *uring_state(void)
{
#ifdef HAVE_FUSE_URING
	switch (ovl_uring_param()) {
	case 'Y':
		return "on (the kernel offers it: enable_uring is Y)";
	case 'N':
		return "off (the kernel does not offer it: enable_uring is N)";
	default:
		return "off (this kernel has no FUSE over io_uring)";
	}
#else
	return "off (not built: libfuse older than 3.18)";
#endif
}

static void print_version(void)
{
	printf("fuse-overlayfs: version %s\n", PACKAGE_VERSION);
	printf("FUSE over io_uring: %s\n", uring_state());
	printf("seccomp: %s\n", SECCOMP_STATE);
	printf("FUSE library version %s\n", fuse_pkgversion());
	fflush(stdout);
	fuse_lowlevel_version();
	fflush(stdout);
}

/* ------------------------------------------------------------------ */

static void config_defaults(struct ovl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->squash_to_uid = -1;
	cfg->squash_to_gid = -1;
	cfg->fsync = true;
	cfg->timeout = 1000000000.0;
	cfg->writeback = true;
	cfg->xino = OVL_XINO_AUTO;
	cfg->passthrough = OVL_PASSTHROUGH_ALL;
	cfg->max_stack_depth = 0;
	cfg->io_uring = true;
#ifdef HAVE_SECCOMP
	cfg->seccomp = OVL_SECCOMP_ENFORCE;
#else
	cfg->seccomp = OVL_SECCOMP_OFF;
#endif
}

static int finish(struct parse_state *st)
{
	struct ovl_config *cfg = st->cfg;

	if (st->npositional == 0) {
		ovl_err("no mountpoint specified");
		return 1;
	}
	/* With two, the first is mount(8)'s source ("fuse-overlayfs"). */
	const char *mnt = st->positional[st->npositional - 1];
	cfg->mountpoint = realpath(mnt, NULL);
	if (!cfg->mountpoint) {
		ovl_err("cannot use mountpoint '%s': %s", mnt, strerror(errno));
		return 1;
	}
	struct stat mst;
	if (stat(cfg->mountpoint, &mst) != 0 || !S_ISDIR(mst.st_mode)) {
		ovl_err("mountpoint '%s' is not a directory", mnt);
		return 1;
	}

	if (!st->lowerdir_raw) {
		ovl_err("lowerdir not specified");
		return 1;
	}
	if (parse_lowerdir(cfg, st->lowerdir_raw))
		return 1;

	if (cfg->upperdir && !cfg->workdir) {
		ovl_err("upperdir requires workdir");
		return 1;
	}
	if (cfg->workdir && !cfg->upperdir) {
		ovl_err("workdir requires upperdir");
		return 1;
	}

	if (st->uidmap_raw && parse_idmap("uidmapping", st->uidmap_raw, &cfg->uidmap, &cfg->nuidmap))
		return 1;
	if (st->gidmap_raw && parse_idmap("gidmapping", st->gidmap_raw, &cfg->gidmap, &cfg->ngidmap))
		return 1;

	cfg->read_only = !cfg->upperdir || (st->seen_ro_rw && st->user_ro);
	if (cfg->debug)
		ovl_debug_enabled = true;

	/* Options for libfuse: our defaults first, the user's after (the last
	 * of nosuid/suid, atime/noatime, ro/rw wins in libfuse). */
	bool root = geteuid() == 0;
	struct sbuf f = {0};
	if (!st->have_fsname)
		sb_addopt(&f, "fsname=fuse-overlayfs");
	if (!st->have_subtype)
		sb_addopt(&f, "subtype=fuse-overlayfs");
	sb_addopt(&f, "default_permissions");
	if (root || st->user_allow_other)
		sb_addopt(&f, "allow_other");
	else if (st->user_allow_root)
		sb_addopt(&f, "allow_root");
	if (root)
		sb_addopt(&f, "dev,suid"); /* as the kernel overlay; the user's nodev,nosuid follow */
	sb_addopt(&f, "noatime");
	if (st->fuse.len)
		sb_addopt(&f, st->fuse.s);
	if (!cfg->upperdir)
		sb_addopt(&f, "ro"); /* no upper layer: read-only, as overlayfs */
	if (f.oom) {
		free(f.s);
		ovl_err("out of memory");
		return 1;
	}
	cfg->fuse_mount_opts = f.s;
	return 0;
}

int ovl_config_parse(struct ovl_config *cfg, int argc, char **argv)
{
	struct parse_state st = {.cfg = cfg};
	const char *prog = argc > 0 && argv[0] ? argv[0] : "fuse-overlayfs";
	bool only_positional = false;
	int ret = 0;

	config_defaults(cfg);

	/* --help and --version win over everything else */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_usage(prog);
			return -1;
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			print_version();
			return -1;
		}
		if (!strcmp(argv[i], "-o"))
			i++; /* its argument is not a flag */
	}

	for (int i = 1; i < argc && !ret; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || !a[1]) {
			if (st.npositional == 2) {
				ovl_err("too many arguments: '%s'", a);
				ret = 1;
				break;
			}
			st.positional[st.npositional++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			only_positional = true;
		} else if (!strcmp(a, "-o")) {
			if (i + 1 >= argc) {
				ovl_err("option '-o' needs an argument");
				ret = 1;
				break;
			}
			ret = handle_option_string(&st, argv[++i]);
		} else if (!strncmp(a, "-o", 2)) {
			ret = handle_option_string(&st, a + 2);
		} else if (!strcmp(a, "-f") || !strcmp(a, "--foreground")) {
			cfg->foreground = true;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--debug")) {
			cfg->debug = true;
			cfg->foreground = true;
		} else if (!strcmp(a, "-s")) {
			/* single-threaded: accepted, ignored */
		} else {
			ovl_err("unknown option '%s'", a);
			ret = 1;
		}
	}

	if (!ret)
		ret = finish(&st);

	free(st.fuse.s);
	free(st.lowerdir_raw);
	free(st.uidmap_raw);
	free(st.gidmap_raw);
	if (ret)
		ovl_config_free(cfg);
	return ret;
}

void ovl_config_free(struct ovl_config *cfg)
{
	for (size_t i = 0; i < cfg->nlowerdirs; i++)
		free(cfg->lowerdirs[i]);
	free(cfg->lowerdirs);
	cfg->lowerdirs = NULL;
	cfg->nlowerdirs = 0;
	free(cfg->upperdir);
	cfg->upperdir = NULL;
	free(cfg->workdir);
	cfg->workdir = NULL;
	free(cfg->mountpoint);
	cfg->mountpoint = NULL;
	free(cfg->uidmap);
	cfg->uidmap = NULL;
	cfg->nuidmap = 0;
	free(cfg->gidmap);
	cfg->gidmap = NULL;
	cfg->ngidmap = 0;
	free(cfg->plugins);
	cfg->plugins = NULL;
	free(cfg->test_syscall);
	cfg->test_syscall = NULL;
	free(cfg->fuse_device);
	cfg->fuse_device = NULL;
	free(cfg->fuse_mount_opts);
	cfg->fuse_mount_opts = NULL;
}
