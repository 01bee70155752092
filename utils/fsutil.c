/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fsutil.h"

int ovl_openat_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : fd;
}

static int open_at(int dirfd, const char *name, int flags)
{
	struct ovl_procpath p;

	if (*name)
		return openat(dirfd, name, flags | O_CLOEXEC);
	/* dirfd's object itself, through its /proc link: a link O_NOFOLLOW
	 * would refuse (ELOOP) */
	return open(ovl_procpath(&p, dirfd), (flags & ~O_NOFOLLOW) | O_CLOEXEC);
}

int ovl_open_at(int dirfd, const char *name, int flags)
{
	int fd = open_at(dirfd, name, flags);

	if (fd < 0 && errno == EPERM && (flags & O_NOATIME))
		fd = open_at(dirfd, name, flags & ~O_NOATIME);
	return fd < 0 ? -errno : fd;
}

int ovl_empty_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	int ret = 0;

	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = ovl_remove_tree_at(dirfd, de->d_name);
		if (r < 0 && !ret)
			ret = r;
	}
	closedir(dir);
	return ret;
}

int ovl_remove_tree_at(int dirfd, const char *name)
{
	int fd, ret;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ovl_empty_dir(fd);
	close(fd);
	if (ret == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -errno;
	return ret;
}

const char *ovl_procpath(struct ovl_procpath *p, int fd)
{
	snprintf(p->buf, sizeof(p->buf), "/proc/self/fd/%d", fd);
	return p->buf;
}

char *ovl_readlinkat(int dirfd, const char *name)
{
	size_t size = 256;

	for (;;) {
		char *buf = malloc(size);
		ssize_t n;

		if (!buf)
			return NULL;
		n = readlinkat(dirfd, name, buf, size);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < size) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		size *= 2;
	}
}
