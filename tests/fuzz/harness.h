/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the libFuzzer harnesses of tests/fuzz/ share: a quiet process, a
 * private temporary directory, and an overlay served in-process.
 *
 * The overlay is the daemon itself minus main.c: ovl_config_parse and
 * ovl_fs_new on layers in the temporary directory, a libfuse session with
 * ovl_ops, and wire.c's custom io on one end of a SOCK_SEQPACKET
 * socketpair instead of /dev/fuse (the session is "mounted" on
 * /dev/fd/N, which libfuse takes as an fd it was given, so nothing is
 * mounted).  The harness plays the kernel on the other end: it writes one
 * request, lets libfuse read it through wire.c's checks
 * (fuse_session_receive_buf) and dispatch it (fuse_session_process_buf),
 * then reads back every message the daemon wrote and checks it (see
 * fz_send).  FUSE_DEV_IOC_BACKING_OPEN on a socket fails with ENOTTY, so
 * passthrough falls back to I/O through the daemon.
 */
#ifndef OVL_FUZZ_HARNESS_H
#define OVL_FUZZ_HARNESS_H

#include "ovl.h"

#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif

/* The kernel's side of the protocol we speak (linux/fuse.h may be older) */
#define FZ_MINOR 40

/* Once per process: output of the daemon and libfuse silenced (unless
 * FUZZ_VERBOSE is set; sanitizer reports and libFuzzer's own lines are
 * never silenced), umask 0 and a high fd limit as main.c sets them, and
 * the private temporary directory made (see fz_tmpdir). */
void fz_init(void);

/* The process's own temporary directory: "ovl-fuzz.PID.XXXXXX" in
 * $FUZZ_TMPDIR, else /dev/shm (tmpfs: fast), else $TMPDIR or /tmp; as
 * root, a tmpfs of its own (fz_bounded).  Removed at exit; a crash leaves
 * the empty directory, and the next harness to start in the same place
 * removes those of processes that are gone (run.sh its whole work
 * directory). */
const char *fz_tmpdir(void);

/* tmpdir/name, malloc'd */
char *fz_path(const char *name);

/* The temporary directory is a tmpfs of its own, of bounded size (root,
 * in a private mount namespace): a huge fallocate fails with ENOSPC. */
bool fz_bounded(void);

/* Makes path an empty directory of mode 0755 again: whatever is there is
 * removed (never following a symlink; immutable or append-only flags are
 * cleared on the way), with the directory's own xattrs and mode. */
void fz_reset_dir(const char *path);

/* Stops the run with a message on the real stderr: libFuzzer saves the
 * input as a crash. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Number of open file descriptors of the process */
int fz_count_fds(void);

/* The staging directory workdir/work holds what an operation builds only
 * while it runs: once it answered, nothing may stay there (fz_fail). */
void fz_check_staging(const char *workdir);

/* Every entry below path, one line each: name, inode, mode, links, size,
 * mtime and ctime (any change to an object moves its ctime; any change to
 * a directory's entries, its mtime).  malloc'd; compare with strcmp. */
char *fz_snapshot(const char *path);

/* Fixture helpers: name in directory dirfd; failures are fz_fail, but
 * fz_xattr, whose namespace the filesystem may refuse (false then). */
void fz_mkfile(int dirfd, const char *name, const void *data, size_t len, mode_t mode);
int fz_mkdir(int dirfd, const char *name, mode_t mode);   /* an O_DIRECTORY fd */
void fz_symlink(int dirfd, const char *name, const char *target);
void fz_mknod(int dirfd, const char *name, mode_t mode, dev_t dev);
bool fz_xattr(int dirfd, const char *name, const char *xname, const void *value, size_t len);

/* ------------------------------------------------------------------ */
/* Building requests                                                   */

struct fz_msg {
	unsigned char buf[65536 + 4096];
	size_t len;
};

/* A request header for opcode on nodeid (uid 0, unique filled in by
 * fz_send); the arguments follow with fz_put and fz_str. */
void fz_start(struct fz_msg *m, uint32_t opcode, uint64_t nodeid);
void fz_put(struct fz_msg *m, const void *p, size_t n);
/* a NUL-terminated string */
void fz_str(struct fz_msg *m, const char *s);

/* ------------------------------------------------------------------ */
/* An overlay served in-process                                        */

struct fz_mount {
	struct ovl_config cfg;
	struct ovl_fs *fs;
	struct fuse_session *se;
	int peer;                 /* the kernel's end of the socketpair */
	struct fuse_buf buf;      /* libfuse's request buffer */
	uint64_t unique;
	bool check_bodies;        /* reply sizes as protocol 7.12+ has them */
	bool initialized;         /* between INIT and DESTROY */
	bool exited;              /* the session ended: nothing more is read */

	/* the reply to the last request of fz_send, if it had one */
	bool replied;
	int32_t error;
	const unsigned char *body; /* in rbuf, valid until the next fz_send */
	size_t blen;
	unsigned char *rbuf;
	size_t rsize;
};

/* INIT flags a kernel of today offers, before the per-input variations */
#define FZ_INIT_FLAGS                                                                   \
	(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |      \
	 FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |           \
	 FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA |   \
	 FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | \
	 FUSE_HANDLE_KILLPRIV | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |                        \
	 FUSE_HANDLE_KILLPRIV_V2 | FUSE_INIT_EXT)

/*
 * Parses "-o opts mountpoint" as main.c gets it, opens the layers, makes
 * the session and sends it FUSE_INIT with flags and flags2 (the INIT must
 * succeed: anything else is a harness failure).  io_uring=off is added: a
 * socket has no ring.
 */
void fz_mount_start(struct fz_mount *m, const char *opts, const char *mountpoint,
		    uint32_t flags, uint32_t flags2);
/* Destroys the session and the filesystem, as main.c does at unmount. */
void fz_mount_stop(struct fz_mount *m);

/*
 * One request (its header's len is left as it is, unique is set) through
 * wire.c and libfuse, then every message the daemon wrote, each checked:
 * whole messages, as long as their headers say; a notification, or
 * the one reply to this request (none for FORGET, BATCH_FORGET, INTERRUPT
 * and NOTIFY_REPLY once initialized, exactly one for the others), with an
 * errno in range
 * and no body, or a body of the size the opcode's reply has (at most the
 * size asked for, directory entries well-formed).  Anything else is
 * fz_fail.  Returns false once the session has ended.
 */
bool fz_send(struct fz_mount *m, struct fz_msg *msg);
/* The same for raw bytes: len of them at p, copied (at most 64 KiB) */
bool fz_send_raw(struct fz_mount *m, const void *p, size_t len);

#endif
