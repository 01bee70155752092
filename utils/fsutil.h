/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small filesystem helpers shared by every concern. */
#ifndef OVL_FSUTIL_H
#define OVL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Opens path beneath dirfd: no "..", absolute path or symlink may take the
 * resolution out of dirfd (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
 * Returns an fd or -errno.
 */
int ovl_openat_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * openat(dirfd, name, flags | O_CLOEXEC); name "" reopens dirfd's object
 * itself (through /proc; O_NOFOLLOW is ignored there).  O_NOATIME in flags
 * (reading through the fd leaves the object's atime alone) is refused
 * (EPERM) to whom neither owns the object nor has CAP_FOWNER over it: the
 * open is retried without it then.  An fd or -errno.
 */
int ovl_open_at(int dirfd, const char *name, int flags);

/* Removes name (a file or a whole tree) beneath dirfd; 0 or -errno. */
int ovl_remove_tree_at(int dirfd, const char *name);

/* Removes everything inside the directory fd; 0 or -errno. */
int ovl_empty_dir(int dirfd);

/* "/proc/self/fd/N" for calls that have no fd form usable on O_PATH fds. */
struct ovl_procpath {
	char buf[32];
};
const char *ovl_procpath(struct ovl_procpath *p, int fd);

/* readlinkat into a malloc'd, NUL-terminated buffer; NULL with errno set. */
char *ovl_readlinkat(int dirfd, const char *name);

#endif
