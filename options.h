/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mount options: what the command line asked for, parsed and validated. */
#ifndef OVL_OPTIONS_H
#define OVL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OVL_MAX_LAYERS 500

/* One DISK:PRESENTED:LEN triple of uidmapping= or gidmapping=. */
struct ovl_idmap {
	unsigned int disk;      /* id stored in the layers */
	unsigned int presented; /* id seen through the mount */
	unsigned int len;
};

enum ovl_xino { OVL_XINO_OFF, OVL_XINO_AUTO, OVL_XINO_ON };

struct ovl_config {
	/* layers; lowerdirs[0] is the topmost lower layer */
	char **lowerdirs;
	size_t nlowerdirs;
	char *upperdir;         /* NULL: read-only mount */
	char *workdir;          /* NULL iff upperdir is NULL */
	char *mountpoint;

	struct ovl_idmap *uidmap;
	size_t nuidmap;
	struct ovl_idmap *gidmap;
	size_t ngidmap;
	bool squash_to_root;
	long squash_to_uid;     /* -1 when unset */
	long squash_to_gid;     /* -1 when unset */

	bool static_nlink;
	bool noacl;
	int xattr_permissions;  /* 0, 1 (privileged xattr) or 2 (user xattr) */
	bool fsync;             /* fsync=0 clears it */
	bool volatile_mode;     /* no fsync at all, as overlayfs -o volatile */
	double timeout;         /* entry and attribute cache timeout, seconds */
	bool writeback;
	bool noxattrs;
	bool fast_ino;
	bool ino32;             /* ino32_t: inode numbers fit in 32 bits */
	enum ovl_xino xino;
	char *plugins;          /* PATH[:PATH...] of plugins to load (plugin.c) */

	/* passthrough (issue 3): parsed here so the option exists from the start */
	int passthrough;        /* OVL_PASSTHROUGH_* */
	int max_stack_depth;    /* 0 = choose from the layers, else 1 or 2 */
	char *fuse_device;      /* fuse_device=PATH; NULL: auto (mount.c) */
	bool io_uring;          /* io_uring=auto (default): FUSE over io_uring when offered */
	int seccomp;            /* OVL_SECCOMP_*: the system call filter (privilege.c) */
	/* test_syscall=NAME (built with --enable-test-hooks only): make this
	 * forbidden call once confined, so tests see the filter at work */
	char *test_syscall;

	unsigned int max_write; /* max_write=N: cap for conn->max_write, 0 = libfuse default */
	/* per-mount flags libfuse cannot pass: main.c sets them with
	 * mount_setattr(2) right after mounting */
	bool strictatime;       /* atime modes are set on the mount by main.c */
	bool relatime;
	bool nodiratime;

	bool debug;
	bool foreground;
	bool read_only;         /* ro, or no upperdir */

	/* generic options passed on to the FUSE mount (comma separated), e.g.
	 * "nodev,nosuid,noatime,allow_other,default_permissions" */
	char *fuse_mount_opts;
};

enum { OVL_PASSTHROUGH_OFF, OVL_PASSTHROUGH_UPPER, OVL_PASSTHROUGH_ALL };

/* seccomp=: what a system call outside the allow-list does */
enum { OVL_SECCOMP_OFF, OVL_SECCOMP_LOG, OVL_SECCOMP_ENFORCE, OVL_SECCOMP_KILL };

/*
 * Parses argv (fuse-overlayfs command line: options and the mountpoint).
 * Returns 0 and fills cfg; -1 on --help/--version (already printed, exit 0);
 * 1 on error after printing one line "fuse-overlayfs: ..." to stderr.
 */
int ovl_config_parse(struct ovl_config *cfg, int argc, char **argv);
/* The kernel's FUSE enable_uring parameter, which the kernel reads as it
 * sends a mount's INIT: 'Y' (io_uring offered), 'N', or 0 when this kernel
 * has none. */
char ovl_uring_param(void);
void ovl_config_free(struct ovl_config *cfg);

#endif
