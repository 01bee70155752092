/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mount-wide state: opening and checking the layers and the workdir,
 * probing what the upper filesystem supports, inode number mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"
#include "plugins/ds.h"

/* true when path equals dir or lies inside it (both canonical) */
static bool path_within(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	if (strncmp(path, dir, len))
		return false;
	return path[len] == '\0' || path[len] == '/' || (len == 1 && dir[0] == '/');
}

static int open_layer(struct ovl_fs *fs, struct ovl_layer *l, const char *path,
		      const char *what)
{
	struct stat st;
	int fd = l->ds->open_root(path);

	if (fd < 0) {
		ovl_err("cannot open %s '%s': %s", what, path, strerror(-fd));
		return fd;
	}
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		ovl_err("cannot stat %s '%s': %s", what, path, strerror(err));
		return -err;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->path = realpath(path, NULL);
	if (!l->path)
		return -ENOMEM;
	(void)fs;
	return 0;
}

/* Overlapping layers would let a write through the mount change a layer
 * the overlay reads from, or the mountpoint hide a layer. */
static int check_overlap(struct ovl_fs *fs, const char *workdir)
{
	char *mnt = realpath(fs->cfg->mountpoint, NULL);
	const char *upper = fs->has_upper ? fs->layers[0].path : NULL;
	int ret = 0;

	if (!mnt) {
		ovl_err("cannot access mountpoint '%s': %s", fs->cfg->mountpoint, strerror(errno));
		return -errno;
	}
	for (int i = fs->has_upper; i < fs->nlayers && !ret; i++) {
		const char *lower = fs->layers[i].path;
		if (upper && (path_within(upper, lower) || path_within(lower, upper))) {
			ovl_err("upperdir '%s' overlaps lower layer '%s'", upper, lower);
			ret = -EINVAL;
		} else if (workdir && (path_within(workdir, lower) || path_within(lower, workdir))) {
			ovl_err("workdir '%s' overlaps lower layer '%s'", workdir, lower);
			ret = -EINVAL;
		}
	}
	if (!ret && upper && path_within(upper, mnt)) {
		ovl_err("upperdir '%s' is inside the mountpoint '%s'", upper, mnt);
		ret = -EINVAL;
	} else if (!ret && workdir && path_within(workdir, mnt)) {
		ovl_err("workdir '%s' is inside the mountpoint '%s'", workdir, mnt);
		ret = -EINVAL;
	} else if (!ret && upper && workdir &&
		   (path_within(workdir, upper) || path_within(upper, workdir))) {
		ovl_err("workdir '%s' and upperdir '%s' overlap", workdir, upper);
		ret = -EINVAL;
	}
	free(mnt);
	return ret;
}

/* workdir/work holds copy-ups and whiteouts being built; whatever a
 * crash left there is garbage. */
static int open_workdir(struct ovl_fs *fs)
{
	const char *workdir = fs->cfg->workdir;
	struct stat st;
	int base = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (base < 0) {
		ovl_err("cannot open workdir '%s': %s", workdir, strerror(errno));
		return -errno;
	}
	if (fstat(base, &st) < 0 || st.st_dev != fs->layers[0].dev) {
		close(base);
		ovl_err("workdir '%s' and upperdir '%s' must be on the same filesystem",
			workdir, fs->cfg->upperdir);
		return -EXDEV;
	}
	if (mkdirat(base, "work", 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		close(base);
		ovl_err("cannot create '%s/work': %s", workdir, strerror(-ret));
		return ret;
	}
	fs->workfd = openat(base, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ret = fs->workfd < 0 ? -errno : 0;
	close(base);
	if (ret == 0)
		ret = ovl_empty_dir(fs->workfd);
	if (ret < 0)
		ovl_err("cannot prepare '%s/work': %s", workdir, strerror(-ret));
	return ret;
}

/* Which on-disk forms can this upper hold?  Char 0/0 whiteouts and trusted.*
 * xattrs are what kernel overlayfs reads; rootless falls back to user.*
 * xattrs and .wh. files. */
static void probe_upper(struct ovl_fs *fs)
{
	char name[NAME_MAX + 1];
	int fd;

	ovl_work_tmpname(fs, name);
	if (mknodat(fs->workfd, name, S_IFCHR | 0000, makedev(0, 0)) == 0) {
		fs->char_whiteouts = true;
		unlinkat(fs->workfd, name, 0);
	}
	if (mkdirat(fs->workfd, name, 0700) < 0)
		return;
	fd = openat(fs->workfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		static const char *const names[] = {
			"trusted.overlay.opaque", "user.overlay.opaque",
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (fsetxattr(fd, names[i], "y", 1, 0) == 0) {
				fs->opaque_xattr = names[i];
				break;
			}
		}
		close(fd);
	}
	unlinkat(fs->workfd, name, AT_REMOVEDIR);
}

/* Distinct filesystems get distinct high bits in st_ino (xino), since FUSE
 * reports a single st_dev for the whole mount. */
static void assign_fsids(struct ovl_fs *fs)
{
	unsigned int nfs = 0;

	for (int i = 0; i < fs->nlayers; i++) {
		int j;
		for (j = 0; j < i; j++)
			if (fs->layers[j].dev == fs->layers[i].dev)
				break;
		fs->layers[i].fsid = j < i ? fs->layers[j].fsid : nfs++;
	}
	fs->xino_bits = 0;
	if (nfs > 1 && fs->cfg->xino != OVL_XINO_OFF)
		while ((1u << fs->xino_bits) < nfs)
			fs->xino_bits++;
}

ino_t ovl_map_ino(const struct ovl_fs *fs, int layer, ino_t real)
{
	uint64_t ino = real;

	if (fs->xino_bits)
		ino = (ino & (UINT64_MAX >> fs->xino_bits)) |
		      ((uint64_t)fs->layers[layer].fsid << (64 - fs->xino_bits));
	if (fs->cfg->ino32)
		ino = (ino ^ (ino >> 32)) & 0xffffffffu;
	return (ino_t)ino;
}

bool ovl_layer_is_lower(const struct ovl_fs *fs, int layer)
{
	return !fs->has_upper || layer > 0;
}

static int make_root(struct ovl_fs *fs)
{
	struct ovl_node *root = ovl_node_alloc(fs, S_IFDIR, fs->nlayers);
	struct stat st;

	if (!root)
		return -ENOMEM;
	for (int i = 0; i < fs->nlayers; i++) {
		int fd = dup(fs->layers[i].fd);
		if (fd < 0) {
			ovl_node_free(fs, root);
			return -errno;
		}
		atomic_fetch_add(&fs->cached_fds, 1);
		atomic_store(&root->dirfds[i], fd);
	}
	fstat(fs->layers[0].fd, &st);
	root->ino = ovl_map_ino(fs, 0, st.st_ino);
	atomic_store(&root->layer, 0);
	return ovl_nodes_init(fs, root);
}

int ovl_fs_new(struct ovl_config *cfg, struct ovl_fs **out)
{
	struct ovl_fs *fs = calloc(1, sizeof(*fs));
	struct rlimit rl;
	int ret = -ENOMEM;

	if (!fs)
		goto fail;
	fs->cfg = cfg;
	fs->workfd = -1;
	fs->euid = geteuid();
	fs->egid = getegid();
	fs->timeout = cfg->timeout;
	pthread_mutex_init(&fs->handles_lock, NULL);
	ovl_list_init(&fs->open_files);
	ovl_list_init(&fs->open_dirs);
	fs->has_upper = cfg->upperdir != NULL;
	fs->nlayers = (int)cfg->nlowerdirs + fs->has_upper;
	fs->layers = calloc((size_t)fs->nlayers, sizeof(*fs->layers));
	if (!fs->layers)
		goto fail;
	for (int i = 0; i < fs->nlayers; i++) {
		fs->layers[i].fd = -1;
		fs->layers[i].ds = &ovl_ds_direct;
	}
	if (fs->has_upper) {
		ret = open_layer(fs, &fs->layers[0], cfg->upperdir, "upperdir");
		if (ret < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->nlowerdirs; i++) {
		ret = open_layer(fs, &fs->layers[i + fs->has_upper], cfg->lowerdirs[i], "lowerdir");
		if (ret < 0)
			goto fail;
	}
	if (fs->has_upper) {
		char *work = realpath(cfg->workdir, NULL);
		if (!work) {
			ret = -errno;
			ovl_err("cannot open workdir '%s': %s", cfg->workdir, strerror(-ret));
			goto fail;
		}
		ret = check_overlap(fs, work);
		free(work);
		if (ret == 0)
			ret = open_workdir(fs);
		if (ret < 0)
			goto fail;
		probe_upper(fs);
	} else {
		ret = check_overlap(fs, NULL);
		if (ret < 0)
			goto fail;
	}
	assign_fsids(fs);
	/* keep half of the fd budget for open files */
	fs->max_cached_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (int)(rl.rlim_cur / 2) : 512;
	ret = make_root(fs);
	if (ret < 0)
		goto fail;
	*out = fs;
	return 0;
fail:
	if (ret == -ENOMEM)
		ovl_err("out of memory");
	ovl_fs_free(fs);
	return ret;
}

void ovl_fs_free(struct ovl_fs *fs)
{
	if (!fs)
		return;
	ovl_handles_free_all(fs);
	pthread_mutex_destroy(&fs->handles_lock);
	if (fs->hash)
		ovl_nodes_destroy(fs);
	for (int i = 0; fs->layers && i < fs->nlayers; i++) {
		if (fs->layers[i].fd >= 0)
			close(fs->layers[i].fd);
		free(fs->layers[i].path);
	}
	free(fs->layers);
	if (fs->workfd >= 0)
		close(fs->workfd);
	free(fs);
}
