/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mounting through a FUSE device of our choosing.
 *
 * libfuse opens /dev/fuse and mounts filesystem type "fuse" itself. The
 * fuse_userns module of kernel/ (FUSE passthrough for servers in user
 * namespaces) has a device and a filesystem type of its own,
 * /dev/fuse_userns and "fuse_userns". For such a device the daemon opens
 * it, calls mount(2) itself and hands libfuse the descriptor as
 * "/dev/fd/N", libfuse's convention for a mount made by its caller. The
 * filesystem type is always the device's name.
 */
#include "ovl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>


#define USERNS_DEVICE "/dev/fuse_userns"

/* The initial user namespace maps every id to itself. */
static bool in_initial_userns(void)
{
	unsigned long inside, outside, count;
	FILE *f = fopen("/proc/self/uid_map", "re");
	bool initial = false;

	if (!f)
		return true;
	if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		initial = inside == 0 && outside == 0 && count == 4294967295UL;
	fclose(f);
	return initial;
}

const char *ovl_fuse_device(const struct ovl_config *cfg)
{
	if (cfg->fuse_device)
		return cfg->fuse_device;
	/* auto: only where the stock kernel would refuse passthrough */
	if (!in_initial_userns() && access(USERNS_DEVICE, R_OK | W_OK) == 0)
		return USERNS_DEVICE;
	return NULL;
}

/* Mount flags among the options libfuse would have taken. */
static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flags[] = {
	{ "ro", MS_RDONLY, 0 },         { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },     { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },       { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },     { "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },  { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },   { "noatime", MS_NOATIME, 0 },
};

/* Options the kernel's FUSE takes as they are; allow_root is enforced by
 * libfuse on top of the kernel's allow_other. */
static const char *kernel_option(const char *opt)
{
	static const char *const as_is[] = {
		"default_permissions", "allow_other", "max_read=", "context=",
		"fscontext=", "defcontext=", "rootcontext=", NULL,
	};
	if (!strcmp(opt, "allow_root"))
		return "allow_other";
	for (int i = 0; as_is[i]; i++) {
		size_t n = strlen(as_is[i]);
		if (as_is[i][n - 1] == '=' ? !strncmp(opt, as_is[i], n) : !strcmp(opt, as_is[i]))
			return opt;
	}
	return NULL;
}

struct mount_req {
	unsigned long flags;
	char *source;        /* fsname= */
	char *subtype;       /* subtype= */
	char *data;          /* the kernel's options, comma separated */
};

/* Appends ",opt" (or "opt") to *list; false when out of memory. */
static bool add_opt(char **list, const char *opt)
{
	char *grown;

	if (asprintf(&grown, "%s%s%s", *list ? *list : "", *list ? "," : "", opt) < 0)
		return false;
	free(*list);
	*list = grown;
	return true;
}

/* Takes one option of the libfuse list; 0, or -1 after saying why. */
static int take_option(struct mount_req *req, const char *opt)
{
	const char *k;

	for (size_t i = 0; i < sizeof(mount_flags) / sizeof(mount_flags[0]); i++) {
		if (!strcmp(opt, mount_flags[i].name)) {
			req->flags = (req->flags & ~mount_flags[i].clear) | mount_flags[i].set;
			return 0;
		}
	}
	if (!strncmp(opt, "fsname=", 7) || !strncmp(opt, "subtype=", 8)) {
		char **dst = opt[0] == 'f' ? &req->source : &req->subtype;
		free(*dst);
		*dst = strdup(strchr(opt, '=') + 1);
		return *dst ? 0 : -1;
	}
	k = kernel_option(opt);
	if (k)
		return add_opt(&req->data, k) ? 0 : -1;
	ovl_err("option '%s' needs libfuse's own mount through /dev/fuse", opt);
	return -1;
}

/* Splits libfuse's option list ("\," is a comma inside a value). */
static int parse_options(struct mount_req *req, const char *list)
{
	size_t len = strlen(list);
	char *opt = malloc(len + 1);
	int ret = 0;

	if (!opt)
		return -1;
	for (const char *s = list; *s && !ret;) {
		size_t n = 0;
		for (; *s && *s != ','; s++)
			opt[n++] = (*s == '\\' && s[1]) ? *++s : *s;
		opt[n] = '\0';
		if (*s)
			s++;
		if (n)
			ret = take_option(req, opt);
	}
	free(opt);
	return ret;
}

int ovl_mount_device(const struct ovl_config *cfg, const char *device, char *fd_path,
		     size_t size)
{
	struct mount_req req = { .flags = MS_NOSUID | MS_NODEV };
	const char *name = strrchr(device, '/') ? strrchr(device, '/') + 1 : device;
	char *type = NULL, *data = NULL;
	struct stat st;
	int fd = -1, ret = -1;

	if (stat(cfg->mountpoint, &st) != 0) {
		ovl_err("cannot mount on %s: %s", cfg->mountpoint, strerror(errno));
		return -1;
	}
	if (parse_options(&req, cfg->fuse_mount_opts) != 0)
		goto out;
	fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ovl_err("cannot open %s: %s", device, strerror(errno));
		goto out;
	}
	if (asprintf(&type, "%s%s%s", name, req.subtype ? "." : "", req.subtype ? req.subtype : "") < 0 ||
	    asprintf(&data, "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", fd,
		     st.st_mode & S_IFMT, getuid(), getgid(), req.data ? "," : "",
		     req.data ? req.data : "") < 0) {
		type = data = NULL;
		ovl_err("out of memory");
		goto out;
	}
	ovl_debug("mount %s type %s (%s) through %s", cfg->mountpoint, type, data, device);
	if (mount(req.source ? req.source : name, cfg->mountpoint, type, req.flags, data) != 0) {
		ovl_err("cannot mount on %s through %s: %s", cfg->mountpoint, device,
			strerror(errno));
		goto out;
	}
	snprintf(fd_path, size, "/dev/fd/%d", fd);
	fd = -1;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(type);
	free(data);
	free(req.source);
	free(req.subtype);
	free(req.data);
	return ret;
}

/*
 * A plain user's mount is made, and can only be undone, by the setuid
 * fusermount3.  Once confined (no_new_privs, the system call filter) the
 * daemon can no longer run it, so a helper forked before confinement waits
 * on a pipe: one byte means "unmount now", end of file (the daemon is gone
 * or the kernel unmounted already) means leave things as they are.
 */
static void unmounter(int fd, const char *mountpoint)
{
	ssize_t n;
	char c;

	/* only the pipe: a FUSE descriptor kept here would keep a dead
	 * daemon's connection open and its mount hanging instead of failing */
	if (dup2(fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	do
		n = read(3, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1) {
		execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--", mountpoint, (char *)NULL);
		execl("/usr/bin/fusermount3", "fusermount3", "-u", "-q", "-z", "--", mountpoint,
		      (char *)NULL);
	}
	_exit(n == 1);
}

int ovl_unmounter_start(const char *mountpoint)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		ovl_err("cannot start the unmount helper: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		unmounter(p[0], mountpoint);
	}
	close(p[0]);
	if (pid < 0) {
		ovl_err("cannot start the unmount helper: %s", strerror(errno));
		close(p[1]);
		return -1;
	}
	return p[1];
}

void ovl_unmounter_ask(int fd)
{
	if (write(fd, "u", 1) != 1)
		ovl_err("cannot reach the unmount helper: %s", strerror(errno));
}
