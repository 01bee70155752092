/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Least privilege.  The daemon reads layers it did not write and requests
 * anyone with access to the mount can forge, so once the mount is up it
 * gives away what it will never need again:
 *
 *  - every capability but those listed in kept_caps[] (and of those, the
 *    ones it does not hold anyway), from the effective, permitted and
 *    inheritable sets, the ambient set and, where CAP_SETPCAP allows, the
 *    bounding set; then no_new_privs, so that no exec can give any back;
 *  - every system call but those in allowed[] and the argument-checked
 *    rules of add_checked_rules(): a seccomp filter (libseccomp), built
 *    before daemonising (errors reach the terminal) and loaded after (the
 *    daemon's own fork and setsid are not on the list).
 *
 * Both happen in main() before any other thread exists; threads inherit
 * them.  A daemon without capabilities (started by a plain user) has
 * nothing to drop and runs confined all the same.
 */
#include "ovl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/capability.h>
#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

/*
 * The capabilities the daemon uses while serving, where its caller gave
 * them (fuse-overlayfs.1, SECURITY, repeats this list for users):
 */
static const cap_value_t kept_caps[] = {
	CAP_CHOWN,           /* owners of new files and copy-ups (owner.c) */
	CAP_DAC_OVERRIDE,    /* read any lower file, write any upper one */
	CAP_FOWNER,          /* modes, times, xattrs, O_NOATIME on others' files */
	CAP_FSETID,          /* keep setuid/setgid bits through copy-up and chmod */
	CAP_MKNOD,           /* whiteouts (0/0 character devices), device nodes */
	CAP_SETFCAP,         /* copy security.capability up */
	CAP_LINUX_IMMUTABLE, /* immutable and append-only flags (fileattr.c) */
	CAP_SYS_ADMIN,       /* trusted.* xattrs, passthrough backing files, unmount */
};

static bool is_kept(cap_value_t c)
{
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
		if (kept_caps[i] == c)
			return true;
	return false;
}

/*
 * The bounding set limits what an exec could ever gain; clearing it needs
 * CAP_SETPCAP, which is dropped right after.  Without CAP_SETPCAP (rootless)
 * it stays as is: no_new_privs already makes it moot.
 */
static int drop_bounding(void)
{
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_t cur = cap_get_proc();

	if (!cur)
		return -errno;
	cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	cap_free(cur);
	if (setpcap != CAP_SET)
		return 0;
	for (cap_value_t c = 0; c <= CAP_LAST_CAP && CAP_IS_SUPPORTED(c); c++) {
		if (!is_kept(c) && cap_drop_bound(c) != 0)
			return -errno;
	}
	return 0;
}

/* Effective and permitted: the kept ones the daemon holds; inheritable: none. */
static int drop_process_caps(void)
{
	cap_t cur = cap_get_proc(), next = cap_init();
	int ret = 0;

	if (!cur || !next) {
		ret = -errno;
		goto out;
	}
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++) {
		cap_flag_value_t held = CAP_CLEAR;

		cap_get_flag(cur, kept_caps[i], CAP_PERMITTED, &held);
		if (held != CAP_SET)
			continue;
		if (cap_set_flag(next, CAP_EFFECTIVE, 1, &kept_caps[i], CAP_SET) != 0 ||
		    cap_set_flag(next, CAP_PERMITTED, 1, &kept_caps[i], CAP_SET) != 0) {
			ret = -errno;
			goto out;
		}
	}
	if (cap_set_proc(next) != 0)
		ret = -errno;
out:
	cap_free(cur);
	cap_free(next);
	return ret;
}

int ovl_drop_privileges(void)
{
	int ret;

	if ((ret = drop_bounding()) < 0) {
		ovl_err("cannot drop the bounding capabilities: %s", strerror(-ret));
		return ret;
	}
	/* the ambient set is cleared by any change of the permitted set too */
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0) {
		ret = -errno;
		ovl_err("cannot clear the ambient capabilities: %s", strerror(-ret));
		return ret;
	}
	if ((ret = drop_process_caps()) < 0) {
		ovl_err("cannot drop capabilities: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		ret = -errno;
		ovl_err("cannot set no_new_privs: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

#ifdef HAVE_SECCOMP

/*
 * What the daemon, libfuse (worker threads, splice, FUSE over io_uring) and
 * glibc call while serving.  Names that do not exist on the architecture are
 * skipped.  Not here: execve, fork, socket, connect, ptrace, mount, kill and
 * all the rest.
 */
static const char *const allowed[] = {
	/* memory, threads, time, signals */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "membarrier",
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "exit", "exit_group", "gettid", "getpid", "tgkill",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "getcpu", "getrandom",
	"mbind", "get_mempolicy", "set_mempolicy",   /* FUSE over io_uring's queues */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
	"restart_syscall", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
	"gettimeofday", "time", "getrlimit", "prlimit64", "getrusage", "uname",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	/* file descriptors and I/O */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"preadv2", "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3",
	"fcntl", "poll", "ppoll", "select", "pselect6", "pipe", "pipe2", "splice", "tee",
	"vmsplice", "eventfd2", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"sendfile", "copy_file_range", "fallocate", "fsync", "fdatasync",
	"syncfs", "sync_file_range", "fadvise64", "readahead", "flock", "recvmsg",
	/* the layers: every path is relative to a layer's directory fd, or
	 * an fd's /proc/self/fd name (chmod, truncate, xattrs) */
	"openat", "open", "openat2", "newfstatat", "fstat", "stat", "lstat", "statx",
	"fstatfs", "statfs", "getdents64", "readlinkat", "readlink", "faccessat",
	"faccessat2", "access", "mkdirat", "mknodat", "symlinkat", "linkat", "unlinkat",
	"renameat", "renameat2", "truncate", "ftruncate", "chmod", "fchmod", "fchmodat",
	"fchmodat2", "fchown", "fchownat", "utimensat", "umask", "fchdir",
	"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
	"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
	"fremovexattr",
	/* the unmount at exit (main.c) */
	"umount2",
};

/* The ioctls the daemon makes (any FUSE device ioctl: type 229). */
static const unsigned long allowed_ioctls[] = {
	FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR, FICLONE,
};
#define FUSE_IOC_TYPE 229

/* Calls allowed with some arguments only. */
static int add_checked_rules(scmp_filter_ctx ctx)
{
	int ret = 0;

	/* threads, not processes: glibc's pthread_create falls back from
	 * clone3 (whose flags a filter cannot see) to clone when ENOSYS */
	ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	for (size_t i = 0; !ret && i < sizeof(allowed_ioctls) / sizeof(allowed_ioctls[0]); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, allowed_ioctls[i]));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00UL, FUSE_IOC_TYPE << 8));
	/* naming threads (libfuse's workers) */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
	/* syslog(3) on the socket connected before the filter (utils/log.c) */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
				       SCMP_A4(SCMP_CMP_EQ, 0));
	return ret;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
/* The sanitizer runtime: LeakSanitizer stops the world at exit with a
 * tracer task (clone, ptrace, wait) and reads /proc/self. */
static const char *const sanitizer_allowed[] = {
	"clone", "ptrace", "wait4", "prctl", "getppid", "getdents", "mincore", "kill",
};
#endif

/*
 * FUSE over io_uring: the operations a ring performs never pass the filter,
 * so io_uring is allowed only to a mount that will use it: io_uring=auto
 * and the kernel offering it to this mount (its INIT, sent as the mount was
 * made, was built from enable_uring).
 */
static const char *const uring_calls[] = {
	"io_uring_setup", "io_uring_enter", "io_uring_register",
};

static bool may_use_uring(const struct ovl_config *cfg)
{
#ifdef HAVE_FUSE_URING
	return cfg->io_uring && ovl_uring_param() == 'Y';
#else
	(void)cfg;
	return false;
#endif
}

static int add_list(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int ret;

		if (nr == __NR_SCMP_ERROR)
			continue;   /* not a system call on this architecture */
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret < 0 && ret != -EEXIST)
			return ret;
	}
	return 0;
}

struct ovl_filter {
	scmp_filter_ctx ctx;
};

int ovl_filter_build(const struct ovl_config *cfg, struct ovl_filter **out)
{
	int mode = cfg->seccomp;
	uint32_t other = mode == OVL_SECCOMP_KILL ? SCMP_ACT_KILL_PROCESS
		       : mode == OVL_SECCOMP_LOG ? SCMP_ACT_LOG
		       : SCMP_ACT_ERRNO(EPERM);
	struct ovl_filter *f;
	int ret;

	*out = NULL;
	if (mode == OVL_SECCOMP_OFF)
		return 0;
	if (!(f = calloc(1, sizeof(*f))) || !(f->ctx = seccomp_init(other))) {
		free(f);
		ovl_err("cannot build the system call filter: out of memory");
		return -ENOMEM;
	}
	/* every thread, should one exist already */
	ret = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_TSYNC, 1);
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 5)
	/* a binary search over the list rather than a chain of tests */
	if (!ret)
		ret = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
#endif
	if (!ret)
		ret = add_list(f->ctx, allowed, sizeof(allowed) / sizeof(allowed[0]));
	if (!ret && may_use_uring(cfg))
		ret = add_list(f->ctx, uring_calls, sizeof(uring_calls) / sizeof(uring_calls[0]));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	if (!ret)
		ret = add_list(f->ctx, sanitizer_allowed,
			       sizeof(sanitizer_allowed) / sizeof(sanitizer_allowed[0]));
#endif
	if (!ret)
		ret = add_checked_rules(f->ctx);
	if (ret < 0) {
		ovl_err("cannot build the system call filter: %s", strerror(-ret));
		ovl_filter_free(f);
		return ret;
	}
	*out = f;
	return 0;
}

int ovl_filter_load(struct ovl_filter *f)
{
	int ret;

	if (!f)
		return 0;
	ret = seccomp_load(f->ctx);
	if (ret < 0)
		ovl_err("cannot load the system call filter: %s", strerror(-ret));
	return ret;
}

void ovl_filter_free(struct ovl_filter *f)
{
	if (!f)
		return;
	seccomp_release(f->ctx);
	free(f);
}

#else /* !HAVE_SECCOMP: options.c accepts only seccomp=off */

int ovl_filter_build(const struct ovl_config *cfg, struct ovl_filter **out)
{
	(void)cfg;
	*out = NULL;
	return 0;
}

int ovl_filter_load(struct ovl_filter *f)
{
	(void)f;
	return 0;
}

void ovl_filter_free(struct ovl_filter *f)
{
	(void)f;
}

#endif

#ifdef OVL_TEST_HOOKS
/* test_syscall=NAME: one call the filter forbids, its outcome logged. */
void ovl_test_syscall(const char *name)
{
	long r;

	if (!strcmp(name, "execve")) {
		char *const argv[] = { "/bin/true", NULL };
		r = execve("/bin/true", argv, argv + 1);
	} else if (!strcmp(name, "ptrace")) {
		r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
	} else if (!strcmp(name, "socket")) {
		r = socket(AF_INET, SOCK_STREAM, 0);
	} else if (!strcmp(name, "io_uring_setup")) {
		char params[120] = {0};   /* struct io_uring_params, zeroed */
		r = syscall(SYS_io_uring_setup, 1, params);
	} else {
		ovl_err("test hook: unknown system call %s", name);
		return;
	}
	ovl_err("test hook: %s returned %ld: %s", name, r, r < 0 ? strerror(errno) : "allowed");
	if (r >= 0 && strcmp(name, "ptrace"))
		close((int)r);
}
#endif
