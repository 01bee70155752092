/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Serving a plugin's layer (plugins/fuse-overlayfs/plugin.h) as a directory
 * tree the rest of the daemon reads like any other layer.
 *
 * The layer is a FUSE filesystem of its own, answered by a process of its
 * own: forked before the daemon mounts anything, it loads the layer, gives
 * up every capability and answers one request at a time through the
 * plugin's operations.  The daemon mounts it with fsmount(2) and never
 * attaches the mount anywhere: only the daemon, through the root fd it
 * keeps, can reach it, and the mount goes away with the daemon's last fd
 * of it, which ends the connection and with it the serving process.
 *
 * So the overlay core keeps one way of reading layers (fds, relative to
 * the layer's root), a plugin cannot corrupt the daemon's memory, and a
 * plugin that crashes costs its layer (ENOTCONN from it), not the daemon.
 * Mounting this way needs CAP_SYS_ADMIN over the daemon's user namespace:
 * root, or root in a user namespace (rootless podman).
 */
#include "ovl.h"

#include "plugins/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A layer never changes while mounted: the kernel may cache it all. */
#define LAYER_TIMEOUT 86400.0

struct served {
	const struct fuse_overlayfs_plugin *pl;
	void *layer;
	uint64_t root;
};

/* The plugin's member, or NULL if its descriptor is too old to have it. */
#define OP(s, member) \
	((s)->pl->size >= offsetof(struct fuse_overlayfs_plugin, member) + \
	 sizeof((s)->pl->member) ? (s)->pl->member : NULL)

/* FUSE names the root 1; the plugin names it as it likes.  Exchanging the
 * two numbers maps every node to a distinct FUSE id and back. */
static uint64_t to_fuse(const struct served *s, uint64_t node)
{
	return node == s->root ? FUSE_ROOT_ID : node == FUSE_ROOT_ID ? s->root : node;
}
#define to_node to_fuse

static struct served *served(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void sv_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct served *s = served(req);
	struct fuse_entry_param e = { .attr_timeout = LAYER_TIMEOUT, .entry_timeout = LAYER_TIMEOUT };
	uint64_t node = 0;
	int ret = s->pl->lookup(s->layer, to_node(s, parent), name, &node, &e.attr);

	if (ret == -ENOENT) {
		fuse_reply_entry(req, &e);   /* ino 0: cache the absence too */
		return;
	}
	if (ret == 0 && node == 0)
		ret = -EIO;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	e.ino = to_fuse(s, node);
	fuse_reply_entry(req, &e);
}

static void sv_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct served *s = served(req);
	void (*forget)(void *, uint64_t, uint64_t) = OP(s, forget);

	if (forget)
		forget(s->layer, to_node(s, ino), nlookup);
	fuse_reply_none(req);
}

static void sv_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct served *s = served(req);
	struct stat st;
	int ret;

	(void)fi;
	memset(&st, 0, sizeof(st));
	ret = s->pl->getattr(s->layer, to_node(s, ino), &st);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, LAYER_TIMEOUT);
}

static void sv_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct served *s = served(req);
	char buf[PATH_MAX];
	ssize_t len = s->pl->readlink(s->layer, to_node(s, ino), buf, sizeof(buf));

	if (len >= (ssize_t)sizeof(buf))
		len = -ENAMETOOLONG;
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}

static void sv_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* A READDIR reply: the plugin's entries, its cookies as offsets ("." and
 * ".." are not listed: nothing reads them from a layer). */
struct listing {
	fuse_req_t req;
	char *buf;
	size_t size, used;
};

static int fill_one(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next_cookie)
{
	struct listing *l = ctx;
	struct stat st = { .st_ino = ino, .st_mode = type & S_IFMT };
	size_t len = fuse_add_direntry(l->req, NULL, 0, name, NULL, 0);

	if (next_cookie > (uint64_t)INT64_MAX || l->used + len > l->size)
		return 1;
	fuse_add_direntry(l->req, l->buf + l->used, l->size - l->used, name, &st,
			  (off_t)next_cookie);
	l->used += len;
	return 0;
}

static void sv_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct served *s = served(req);
	struct listing l = { .req = req, .size = size };
	int ret;

	(void)fi;
	l.buf = malloc(size ? size : 1);
	if (!l.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = s->pl->readdir(s->layer, to_node(s, ino), (uint64_t)off, fill_one, &l);
	if (ret < 0 && l.used == 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, l.buf, l.used);
	free(l.buf);
}

static void sv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct served *s = served(req);
	int (*open_op)(void *, uint64_t, uint64_t *) = OP(s, open);
	uint64_t fh = 0;
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ret = open_op ? open_op(s->layer, to_node(s, ino), &fh) : 0;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = fh;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* A short read tells the kernel the file ends there: fill the buffer. */
static void sv_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct served *s = served(req);
	char *buf = malloc(size ? size : 1);
	size_t got = 0;
	ssize_t n = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (got < size) {
		n = s->pl->read(s->layer, to_node(s, ino), fi->fh, buf + got, size - got,
				(uint64_t)off + got);
		if (n <= 0)
			break;
		got += (size_t)n < size - got ? (size_t)n : size - got;
	}
	if (n < 0 && got == 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void sv_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct served *s = served(req);
	void (*close_op)(void *, uint64_t, uint64_t) = OP(s, close);

	if (close_op)
		close_op(s->layer, to_node(s, ino), fi->fh);
	fuse_reply_err(req, 0);
}

/* listxattr and getxattr share the size-0-asks-for-the-size protocol. */
static void reply_xattr(fuse_req_t req, size_t size, ssize_t (*fetch)(struct served *, uint64_t,
			const char *, char *, size_t), uint64_t node, const char *name)
{
	struct served *s = served(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = fetch(s, node, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if ((size_t)n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static ssize_t fetch_list(struct served *s, uint64_t node, const char *name, char *buf, size_t size)
{
	ssize_t (*op)(void *, uint64_t, char *, size_t) = OP(s, listxattr);

	(void)name;
	return op ? op(s->layer, node, buf, size) : 0;
}

static ssize_t fetch_value(struct served *s, uint64_t node, const char *name, char *buf,
			   size_t size)
{
	ssize_t (*op)(void *, uint64_t, const char *, void *, size_t) = OP(s, getxattr);

	return op ? op(s->layer, node, name, buf, size) : -ENODATA;
}

static void sv_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr(req, size, fetch_list, to_node(served(req), ino), NULL);
}

static void sv_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_xattr(req, size, fetch_value, to_node(served(req), ino), name);
}

static void sv_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct served *s = served(req);
	int (*op)(void *, struct statvfs *) = OP(s, statfs);
	struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = NAME_MAX };
	int ret = op ? op(s->layer, &st) : 0;

	(void)ino;
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &st);
}

static void sv_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct served *s = served(req);
	int64_t (*op)(void *, uint64_t, uint64_t, int64_t, int) = OP(s, lseek);
	int64_t ret;

	if (!op || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		fuse_reply_err(req, ENOSYS);   /* the kernel's own: all data */
		return;
	}
	ret = op(s->layer, to_node(s, ino), fi->fh, off, whence);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_lseek(req, ret);
}

/*
 * Inode flags (chattr) are read through ioctls: FS_IOC_GETFLAGS, and
 * FS_IOC_FSGETXATTR, whose flags are the same ones in other bits.  Any
 * other ioctl, or a plugin without getflags: ENOTTY, as a filesystem
 * without flags answers, which the overlay takes as none.
 */
static const struct {
	uint32_t flag, xflag;
} xflags[] = {
	{ FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE }, { FS_APPEND_FL, FS_XFLAG_APPEND },
	{ FS_SYNC_FL, FS_XFLAG_SYNC },           { FS_NOATIME_FL, FS_XFLAG_NOATIME },
	{ FS_NODUMP_FL, FS_XFLAG_NODUMP },       { FS_DAX_FL, FS_XFLAG_DAX },
	{ FS_PROJINHERIT_FL, FS_XFLAG_PROJINHERIT },
};

static void sv_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct served *s = served(req);
	int (*op)(void *, uint64_t, uint32_t *) = OP(s, getflags);
	struct fsxattr fa = { 0 };
	uint32_t fl = 0;
	int ret;

	(void)arg;
	(void)fi;
	(void)flags;
	(void)in_buf;
	(void)in_bufsz;
	if (!op || (cmd != FS_IOC_GETFLAGS && cmd != FS_IOC_FSGETXATTR)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	ret = op(s->layer, to_node(s, ino), &fl);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (cmd == FS_IOC_GETFLAGS) {
		int out = (int)fl;   /* the kernel's FS_IOC_GETFLAGS takes an int */
		fuse_reply_ioctl(req, 0, &out, out_bufsz < sizeof(out) ? out_bufsz : sizeof(out));
		return;
	}
	for (size_t i = 0; i < sizeof(xflags) / sizeof(xflags[0]); i++)
		if (fl & xflags[i].flag)
			fa.fsx_xflags |= xflags[i].xflag;
	fuse_reply_ioctl(req, 0, &fa, out_bufsz < sizeof(fa) ? out_bufsz : sizeof(fa));
}

static const struct fuse_lowlevel_ops served_ops = {
	.lookup = sv_lookup,
	.forget = sv_forget,
	.getattr = sv_getattr,
	.readlink = sv_readlink,
	.opendir = sv_opendir,
	.readdir = sv_readdir,
	.open = sv_open,
	.read = sv_read,
	.release = sv_release,
	.listxattr = sv_listxattr,
	.getxattr = sv_getxattr,
	.statfs = sv_statfs,
	.lseek = sv_lseek,
	.ioctl = sv_ioctl,
};

/*
 * A loaded plugin's process needs no capability: it only reads what load()
 * opened and answers on the FUSE fd it was given.  The built-in direct
 * plugin reads its directory as the daemon reads a lower layer: any file
 * (CAP_DAC_READ_SEARCH) and its trusted.* xattrs (CAP_SYS_ADMIN), if the
 * daemon may.
 */
static int drop_privileges(bool keep_read)
{
	static const cap_value_t read_caps[] = { CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN };
	cap_t cur = cap_get_proc(), next = cap_init();
	int ret = 0;

	for (size_t i = 0; keep_read && cur && next && i < sizeof(read_caps) / sizeof(*read_caps); i++) {
		cap_flag_value_t held = CAP_CLEAR;

		cap_get_flag(cur, read_caps[i], CAP_PERMITTED, &held);
		if (held == CAP_SET && (cap_set_flag(next, CAP_EFFECTIVE, 1, &read_caps[i], CAP_SET) ||
					cap_set_flag(next, CAP_PERMITTED, 1, &read_caps[i], CAP_SET)))
			ret = -errno;
	}
	if (!cur || !next || cap_set_proc(next) != 0)
		ret = -errno;
	cap_free(cur);
	cap_free(next);
	if (ret == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		ret = -errno;
	return ret;
}

/* Its status to the daemon: an errno, then the plugin's reason. */
static void report(int fd, int err, const char *why)
{
	char msg[sizeof(int) + 512];
	size_t len = strnlen(why, 511);

	memcpy(msg, &err, sizeof(int));
	memcpy(msg + sizeof(int), why, len);
	if (write(fd, msg, sizeof(int) + len) < 0)
		return;   /* the daemon is gone: nothing to tell */
}

/*
 * Nothing of the daemon's but the two fds it serves with, and its stderr
 * only while the daemon keeps its own (in the foreground): a pipe reading
 * a daemonised mount's output must not wait for this process.
 */
static void close_all_but(int a, int b, bool keep_stderr)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	int null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		for (int fd = 0; fd < 3 - keep_stderr; fd++)
			if (fd != lo && fd != hi)
				dup2(null, fd);
		if (null != lo && null != hi && null > 2)
			close(null);
	}
	if (lo > 3)
		close_range(3, lo - 1, 0);
	if (hi > lo + 1)
		close_range(lo + 1, hi - 1, 0);
	close_range(hi + 1, ~0U, 0);
}

/*
 * The serving process: load, say so, wait for the daemon to mount (a read
 * of the FUSE fd before that fails), serve until the mount goes away.
 */
static void serve_layer(const struct fuse_overlayfs_plugin *pl, const char *data,
			const char *path, int devfd, int chan, bool keep_stderr)
{
	struct served s = { .pl = pl };
	char why[512] = "";
	char *argv[] = { "fuse-overlayfs-plugin", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se;
	void (*release)(void *) = NULL;
	char devpath[32], comm[16], go = 0;
	int ret;

	/* the daemon's signals (^C at the terminal) are for the daemon: this
	 * process ends with the connection */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	close_all_but(devfd, chan, keep_stderr);
	snprintf(comm, sizeof(comm), "plugin:%s", pl->name);
	prctl(PR_SET_NAME, comm);   /* ps shows whose server it is */
	ret = pl->load(data, path, &s.layer, &s.root, why, sizeof(why));
	if (ret == 0 && s.root == 0) {
		ret = -EIO;
		snprintf(why, sizeof(why), "the plugin gave no root node");
	}
	if (ret == 0)
		ret = drop_privileges(pl == &ovl_plugin_direct);
	report(chan, ret < 0 ? -ret : 0, why);
	if (ret < 0 || read(chan, &go, 1) != 1)
		_exit(1);   /* failed, or the daemon did not mount */
	close(chan);
	se = fuse_session_new(&args, &served_ops, sizeof(served_ops), &s);
	snprintf(devpath, sizeof(devpath), "/dev/fd/%d", devfd);
	if (se && fuse_session_mount(se, devpath) == 0)
		fuse_session_loop(se);
	if (se)
		fuse_session_destroy(se);
	release = OP(&s, release);
	if (release)
		release(s.layer);
	_exit(0);
}

/*
 * Starts the serving process, detached from the daemon (a grandchild, so
 * no one has to reap it), and waits for its word on load().  Returns the
 * daemon's end of the channel to it (one byte: mounted, serve), or -errno
 * with the reason printed.
 */
static int start_server(const struct fuse_overlayfs_plugin *pl, const char *data,
			const char *path, const char *spec, int devfd, bool keep_stderr)
{
	int chan[2], err = 0, wstatus;
	char msg[sizeof(int) + 512];
	ssize_t len;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(chan[0]);
		if (fork() == 0)
			serve_layer(pl, data, path, devfd, chan[1], keep_stderr);
		_exit(0);
	}
	close(chan[1]);
	if (pid < 0) {
		close(chan[0]);
		return -errno;
	}
	waitpid(pid, &wstatus, 0);
	len = read(chan[0], msg, sizeof(msg) - 1);
	if (len < (ssize_t)sizeof(int)) {
		close(chan[0]);
		ovl_err("lowerdir '%s': the plugin process died while loading", spec);
		return -EIO;
	}
	memcpy(&err, msg, sizeof(int));
	msg[len] = '\0';
	if (err) {
		close(chan[0]);
		ovl_err("lowerdir '%s': %s", spec,
			len > (ssize_t)sizeof(int) ? msg + sizeof(int) : strerror(err));
		return -err;
	}
	return chan[0];
}

static int fsconfig_str(int fsfd, const char *key, const char *fmt, long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), fmt, value);
	return syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key, buf, 0) < 0 ? -errno : 0;
}

/* A detached, read-only FUSE mount on devfd: its mount fd. */
static int mount_detached(int devfd)
{
	int fsfd = (int)syscall(SYS_fsopen, "fuse", FSOPEN_CLOEXEC);
	int ret, mnt;

	if (fsfd < 0)
		return -errno;
	ret = fsconfig_str(fsfd, "fd", "%ld", devfd);
	if (ret == 0)
		ret = fsconfig_str(fsfd, "rootmode", "%lo", S_IFDIR);
	if (ret == 0)
		ret = fsconfig_str(fsfd, "user_id", "%ld", (long)geteuid());
	if (ret == 0)
		ret = fsconfig_str(fsfd, "group_id", "%ld", (long)getegid());
	if (ret == 0 && syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		ret = -errno;
	mnt = ret < 0 ? ret : (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC,
					    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV |
					    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME);
	if (mnt < 0 && ret == 0)
		ret = -errno;
	close(fsfd);
	return ret < 0 ? ret : mnt;
}

int ovl_plugin_serve(const struct fuse_overlayfs_plugin *pl, const char *data, const char *path,
		     const char *spec, bool keep_stderr)
{
	int devfd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	int chan, mnt, ret;

	if (devfd < 0) {
		ret = -errno;
		ovl_err("lowerdir '%s': cannot open /dev/fuse: %s", spec, strerror(-ret));
		return ret;
	}
	chan = start_server(pl, data, path, spec, devfd, keep_stderr);
	mnt = chan < 0 ? chan : mount_detached(devfd);
	close(devfd);
	if (chan < 0)
		return chan;
	if (mnt < 0) {
		close(chan);   /* without a byte: the server exits */
		ovl_err("lowerdir '%s': cannot mount the plugin's layer: %s%s", spec,
			strerror(-mnt), mnt == -EPERM ?
			" (plugin layers need root, or root in a user namespace)" : "");
		return mnt;
	}
	/* the server answers from now on; the first request (opening the
	 * root) waits for it */
	ret = write(chan, "", 1) == 1 ? 0 : -EIO;
	close(chan);
	if (ret == 0) {
		ret = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ret < 0)
			ret = -errno;
	}
	close(mnt);
	if (ret < 0)
		ovl_err("lowerdir '%s': cannot open the plugin's layer: %s", spec, strerror(-ret));
	return ret;
}
