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

static int open_layer(struct ovl_fs *fs, struct ovl_layer *l, const char *path,
		      const char *what)
{
	struct stat st;
	int fd;

	if (l->served) {
		fd = ovl_plugin_layer_open(fs->plugins, path, fs->cfg->foreground);
		if (fd < 0)
			return fd;   /* the reason is printed */
	} else if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ovl_err("cannot open %s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		ovl_err("cannot stat %s '%s': %s", what, path, strerror(err));
		return -err;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	/* a plugin's layer is named by its spec: it has no path of its own */
	l->path = l->served ? strdup(path) : realpath(path, NULL);
	if (!l->path)
		return -ENOMEM;
	return 0;
}

/* A directory the mount uses, and the identities of it and its ancestors:
 * overlap is found by identity, so no symlink or bind mount hides it. */
struct place {
	const char *what;   /* "upperdir", "lowerdir", "workdir", "mountpoint" */
	const char *path;
	struct { dev_t dev; ino_t ino; } *ids;   /* ids[0]: the directory itself */
	size_t n;
};

static int walk_up(struct place *p, int fd)
{
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	while (cur >= 0 && p->n < 4096) {
		struct stat st;
		void *ids;
		int up;

		if (fstat(cur, &st) < 0)
			break;
		if (p->n && p->ids[p->n - 1].dev == st.st_dev && p->ids[p->n - 1].ino == st.st_ino)
			break;   /* ".." of the root is the root */
		ids = realloc(p->ids, (p->n + 1) * sizeof(*p->ids));
		if (!ids) {
			close(cur);
			return -ENOMEM;
		}
		p->ids = ids;
		p->ids[p->n].dev = st.st_dev;
		p->ids[p->n].ino = st.st_ino;
		p->n++;
		/* an ancestor we may not search ends the walk, not the mount */
		up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = up;
	}
	if (cur >= 0)
		close(cur);
	return 0;
}

/* a is b, or lies inside it */
static bool inside(const struct place *a, const struct place *b)
{
	for (size_t i = 0; i < a->n && b->n; i++)
		if (a->ids[i].dev == b->ids[0].dev && a->ids[i].ino == b->ids[0].ino)
			return true;
	return false;
}

static bool overlap(const struct place *a, const struct place *b)
{
	return inside(a, b) || inside(b, a);
}

/* One line for the first overlap of a with b that the kernel refuses too:
 * a layer twice or inside another would show one object at two places, a
 * writable directory inside a layer would change what the overlay reads,
 * and the mountpoint would hide what lies inside it. */
static int report_overlap(const struct place *a, const struct place *b)
{
	bool lower_a = !strcmp(a->what, "lowerdir"), lower_b = !strcmp(b->what, "lowerdir");

	if (lower_a && lower_b && inside(a, b) && a->ids[0].ino == b->ids[0].ino &&
	    a->ids[0].dev == b->ids[0].dev)
		ovl_err("lowerdir '%s' is given twice (as '%s')", b->path, a->path);
	else if (lower_a && lower_b && overlap(a, b))
		ovl_err("lowerdir '%s' overlaps lowerdir '%s'", a->path, b->path);
	else if (lower_b && !lower_a && strcmp(a->what, "mountpoint") && overlap(a, b))
		ovl_err("%s '%s' overlaps lower layer '%s'", a->what, a->path, b->path);
	else if (!strcmp(b->what, "mountpoint") && !lower_a && inside(a, b))
		ovl_err("%s '%s' is inside the mountpoint '%s'", a->what, a->path, b->path);
	else if (!strcmp(a->what, "workdir") && !strcmp(b->what, "upperdir") && overlap(a, b))
		ovl_err("workdir '%s' and upperdir '%s' overlap", a->path, b->path);
	else
		return 0;
	return lower_a && lower_b ? -ELOOP : -EINVAL;
}

static int add_place(struct place *p, const char *what, const char *path, int fd)
{
	p->what = what;
	p->path = path;
	return walk_up(p, fd);
}

static int check_overlap(struct ovl_fs *fs, const char *workdir)
{
	size_t n = 0, count = (size_t)fs->nlayers + 2;
	struct place *places = calloc(count, sizeof(*places));
	int ret = places ? 0 : -ENOMEM, fd;

	for (int i = 0; ret == 0 && i < fs->nlayers; i++)
		ret = add_place(&places[n++], i == 0 && fs->has_upper ? "upperdir" : "lowerdir",
				fs->layers[i].path, fs->layers[i].fd);
	if (ret == 0 && workdir) {
		fd = open(workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? 0 : add_place(&places[n++], "workdir", workdir, fd);
		if (fd >= 0)
			close(fd);
	}
	if (ret == 0) {
		fd = open(fs->cfg->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			ovl_err("cannot access mountpoint '%s': %s", fs->cfg->mountpoint,
				strerror(errno));
		} else {
			ret = add_place(&places[n++], "mountpoint", fs->cfg->mountpoint, fd);
			close(fd);
		}
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		for (size_t j = 0; ret == 0 && j < i; j++)
			if ((ret = report_overlap(&places[i], &places[j])) == 0)
				ret = report_overlap(&places[j], &places[i]);
	for (size_t i = 0; places && i < n; i++)
		free(places[i].ids);
	free(places);
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
 * xattrs and .wh. files.
 *
 * FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT in the environment, whatever its
 * value (fuse-overlayfs 1.x only asks whether it is set): whiteouts are
 * written as .wh.NAME files even where mknod of 0/0 works, and opaque
 * directories get a .wh..wh..opq file besides the xattr, as 1.x always
 * does.  That is the form of OCI image layers, for whoever reads the upper
 * layer as one (containers/storage's tests run with it).  Reading does not
 * change: every form is honoured in every layer. */
static void probe_upper(struct ovl_fs *fs)
{
	char name[NAME_MAX + 1];
	int fd;

	fs->wh_files_only = getenv("FUSE_OVERLAYFS_DISABLE_OVL_WHITEOUT") != NULL;
	ovl_work_tmpname(fs, name);
	if (!fs->wh_files_only && mknodat(fs->workfd, name, S_IFCHR | 0000, makedev(0, 0)) == 0) {
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
		/* origin records and impure marks go to the same namespace */
		static const char *const origin[] = {
			"trusted.fuseoverlayfs.origin", "user.fuseoverlayfs.origin",
		};
		static const char *const impure[] = {
			"trusted.fuseoverlayfs.impure", "user.fuseoverlayfs.impure",
		};
		static const char *const protattr[] = {
			"trusted.overlay.protattr", "user.overlay.protattr",
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (fsetxattr(fd, names[i], "y", 1, 0) == 0) {
				fs->opaque_xattr = names[i];
				fs->origin_xattr = origin[i];
				fs->impure_xattr = impure[i];
				fs->protattr_xattr = protattr[i];
				break;
			}
		}
		close(fd);
	}
	unlinkat(fs->workfd, name, AT_REMOVEDIR);
}

/* Distinct filesystems get distinct high bits in st_ino (xino), since FUSE
 * reports a single st_dev for the whole mount; one more value is kept for
 * numbers too big to share their bits (ino.c).  Kernel overlayfs can keep
 * xino off and still tell files apart by st_dev; a FUSE mount cannot, so
 * xino=off is honoured only while it costs no uniqueness. */
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
	fs->nfsids = nfs;
	fs->xino_bits = 0;
	if (nfs > 1 && fs->cfg->xino == OVL_XINO_OFF)
		ovl_err("xino=off: the layers are on %u filesystems and a FUSE mount has one "
			"device number: inode numbers carry the filesystem all the same", nfs);
	if (nfs > 1 || fs->cfg->xino == OVL_XINO_ON)
		while ((1u << fs->xino_bits) < nfs + 1)
			fs->xino_bits++;
}

static int make_root(struct ovl_fs *fs)
{
	struct ovl_inode *root = ovl_inode_alloc(fs, S_IFDIR);
	struct stat st;
	int ret;

	if (!root)
		return -ENOMEM;
	for (int i = 0; i < fs->nlayers; i++) {
		int fd = dup(fs->layers[i].fd);
		if (fd < 0) {
			ovl_inode_free(root);
			return -errno;
		}
		atomic_fetch_add(&fs->cached_fds, 1);
		atomic_store(&root->dir->fds[i], fd);
	}
	if (fs->has_upper) {
		struct ovl_dir_marks marks;
		ret = ovl_dir_marks(fs, fs->layers[0].fd, &marks);
		if (ret < 0) {
			ovl_err("cannot read the markers of upperdir '%s': %s", fs->layers[0].path,
				strerror(-ret));
			ovl_inode_free(root);
			return ret;
		}
		atomic_store(&root->dir->impure, marks.impure);
	}
	if (fstat(fs->layers[0].fd, &st) < 0) {
		ovl_inode_free(root);
		return -errno;
	}
	root->real_ino = st.st_ino;
	root->ino = ovl_map_ino(fs, 0, st.st_ino);
	atomic_store(&root->layer, 0);
	ret = ovl_itable_init(fs, root);
	if (ret < 0)
		ovl_inode_free(root);
	return ret;
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
	if (ovl_handles_init(&fs->handles) < 0 || ovl_ino_init(fs) < 0)
		goto fail;
	fs->has_upper = cfg->upperdir != NULL;
	fs->nlayers = (int)cfg->nlowerdirs + fs->has_upper;
	fs->layers = calloc((size_t)fs->nlayers, sizeof(*fs->layers));
	if (!fs->layers)
		goto fail;
	for (int i = 0; i < fs->nlayers; i++)
		fs->layers[i].fd = -1;
	ret = ovl_plugins_load(cfg->plugins, &fs->plugins);
	if (ret < 0)
		goto fail;
	if (fs->has_upper && ovl_layer_is_plugin(cfg->upperdir)) {
		ovl_err("upperdir '%s': plugins serve lower layers only", cfg->upperdir);
		ret = -EINVAL;
		goto fail;
	}
	if (fs->has_upper) {
		ret = open_layer(fs, &fs->layers[0], cfg->upperdir, "upperdir");
		if (ret < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->nlowerdirs; i++) {
		fs->layers[i + fs->has_upper].served = ovl_layer_is_plugin(cfg->lowerdirs[i]);
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
	ovl_private_mounts(fs);
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
	ovl_handles_destroy(&fs->handles);
	if (fs->root)
		ovl_itable_destroy(fs);
	ovl_ino_destroy(fs);
	for (int i = 0; fs->layers && i < fs->nlayers; i++) {
		if (fs->layers[i].fd >= 0)
			close(fs->layers[i].fd);
		free(fs->layers[i].path);
	}
	free(fs->layers);
	ovl_plugins_free(fs->plugins);
	if (fs->workfd >= 0)
		close(fs->workfd);
	free(fs);
}
