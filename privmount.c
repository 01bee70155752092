/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private mounts of the layers, as kernel overlayfs makes them: the daemon
 * reaches the layers through detached clones of the mounts they lie on, so
 * that the overlay's options decide what those mounts' options would.  Lower
 * layers are read-only and noatime there; the upper (with the workdir, which
 * must share its mount for renames) gets the overlay's atime mode: noatime by
 * default, relatime, strictatime, nodiratime.
 *
 * Why a mount and not O_NOATIME alone: a passed-through file is read by the
 * kernel through a file it opens itself with the opener's flags, so only the
 * mount's mode reaches those reads; and a mount does the same for the
 * daemon's own reads without one EPERM retry per file it does not own.
 *
 * Cloning needs CAP_SYS_ADMIN over the mount namespace, and the atime mode of
 * a mount inherited from a more privileged namespace is locked.  Where either
 * is refused the layers stay as opened: the daemon then still opens what it
 * reads in a lower layer (and in the upper under noatime) with O_NOATIME
 * (ovl_noatime_flag), and the man page says what passthrough does then.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

/*
 * A detached copy of the mount at fd, with attr.  Without the mounts below
 * it, as kernel overlayfs's clone_private_mount: a layer does not reach into
 * other filesystems mounted inside it, and a copy of them would keep them
 * alive (another FUSE daemon's connection open) after their unmount.
 */
static int clone_mount(int fd, const struct mount_attr *attr)
{
	int tree = open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	int err;

	if (tree < 0)
		return -errno;
	if (mount_setattr(tree, "", AT_EMPTY_PATH, (struct mount_attr *)attr, sizeof(*attr)) < 0) {
		err = errno;
		close(tree);
		return -err;
	}
	return tree;
}

/* The directory rel under tree, if it is the very directory fd is. */
static int reopen_in(int tree, const char *rel, int fd)
{
	struct stat a, b;
	int nfd = openat(tree, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (nfd < 0)
		return -errno;
	if (fstat(nfd, &a) < 0 || fstat(fd, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(nfd);
		return -ESTALE;
	}
	return nfd;
}

static int fd_path(int fd, char *buf, size_t size)
{
	char link[64];
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, buf, size);
	if (len < 0)
		return -errno;
	if ((size_t)len >= size || buf[0] != '/')
		return -ENAMETOOLONG;   /* or not a path we can walk ("(unreachable)") */
	buf[len] = '\0';
	return 0;
}

/* The upper and the workdir's work directory, through one clone rooted at
 * their nearest common ancestor. */
static int privatize_upper(struct ovl_fs *fs)
{
	const struct ovl_config *cfg = fs->cfg;
	struct mount_attr attr = { .attr_clr = MOUNT_ATTR__ATIME };
	char up[PATH_MAX], wk[PATH_MAX];
	size_t common = 0;
	int anc, tree, ufd, wfd, ret;

	attr.attr_set = cfg->strictatime ? MOUNT_ATTR_STRICTATIME :
			cfg->relatime ? MOUNT_ATTR_RELATIME : MOUNT_ATTR_NOATIME;
	if (cfg->nodiratime)
		attr.attr_set |= MOUNT_ATTR_NODIRATIME;
	ret = fd_path(fs->layers[0].fd, up, sizeof(up));
	if (ret == 0)
		ret = fd_path(fs->workfd, wk, sizeof(wk));
	if (ret < 0)
		return ret;
	/* the longest common prefix that ends at a '/' of both */
	for (size_t i = 0; up[i] && up[i] == wk[i]; i++)
		if (up[i] == '/')
			common = i;
	up[common] = '\0';
	anc = open(common ? up : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	up[common] = '/';
	if (anc < 0)
		return -errno;
	tree = clone_mount(anc, &attr);
	close(anc);
	if (tree < 0)
		return tree;
	ufd = reopen_in(tree, up + common + 1, fs->layers[0].fd);
	wfd = ufd < 0 ? ufd : reopen_in(tree, wk + common + 1, fs->workfd);
	close(tree);
	if (wfd < 0) {
		if (ufd >= 0)
			close(ufd);
		return wfd;
	}
	close(fs->layers[0].fd);
	fs->layers[0].fd = ufd;
	close(fs->workfd);
	fs->workfd = wfd;
	return 0;
}

static int privatize_lower(struct ovl_layer *l)
{
	const struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME,
		.attr_clr = MOUNT_ATTR__ATIME,
	};
	int tree = clone_mount(l->fd, &attr), fd;

	if (tree < 0)
		return tree;
	fd = reopen_in(tree, "", l->fd);
	close(tree);
	if (fd < 0)
		return fd;
	close(l->fd);
	l->fd = fd;
	return 0;
}

void ovl_private_mounts(struct ovl_fs *fs)
{
	int ret;

	for (int k = 0; k < fs->nlayers; k++) {
		struct ovl_layer *l = &fs->layers[k];

		if (l->served) {
			l->private_mount = true;   /* made so: read-only, noatime */
			continue;
		}
		ret = ovl_layer_is_lower(fs, k) ? privatize_lower(l) : privatize_upper(fs);
		if (ret < 0)
			ovl_debug("%s '%s' stays on its own mount (no private mount: %s)",
				  ovl_layer_is_lower(fs, k) ? "lowerdir" : "upperdir", l->path,
				  strerror(-ret));
		l->private_mount = ret == 0;
	}
}
