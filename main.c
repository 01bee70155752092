/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Start-up: parse the command line, open the layers, mount, daemonise,
 * serve requests until unmounted or signalled, tear down.
 */
#include "ovl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* The filesystem keeps a directory fd per cached node: allow many. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			ovl_debug("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
	}
}

/*
 * strictatime and nodiratime have no libfuse option: set them on the new
 * mount directly (needs CAP_SYS_ADMIN over it; otherwise one line and on).
 */
static void apply_mount_attrs(const struct ovl_config *cfg)
{
	struct mount_attr attr = {0};

	if (cfg->strictatime || cfg->relatime) {
		attr.attr_clr |= MOUNT_ATTR__ATIME;
		attr.attr_set |= cfg->strictatime ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
	}
	if (cfg->nodiratime)
		attr.attr_set |= MOUNT_ATTR_NODIRATIME;
	if (!attr.attr_set && !attr.attr_clr)
		return;
	if (mount_setattr(AT_FDCWD, cfg->mountpoint, 0, &attr, sizeof(attr)) != 0)
		ovl_err("cannot set the atime mode of %s: %s", cfg->mountpoint, strerror(errno));
}

static unsigned int worker_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n * 2 > 4 ? (unsigned int)(n * 2) : 4;
}

/*
 * At exit, unmount what is still mounted: umount2 where the daemon may (as
 * libfuse would, but libfuse might run umount(8), which the system call
 * filter forbids), else through the unmount helper (mount.c) that runs
 * fusermount3 for a plain user; without the helper (start-up failed
 * before it) libfuse's fusermount3 path is still open.
 */
static void unmount_at_exit(struct fuse_session *se, const struct ovl_config *cfg,
			    bool own_device, int unmounter)
{
	int fd = fuse_session_fd(se), null = open("/dev/null", O_RDWR | O_CLOEXEC);

	/*
	 * Our end of the connection goes first, as in libfuse's unmount: the
	 * umount2 below may drop the last reference to the mount, and the
	 * superblock's shutdown (inode times to write back, with the writeback
	 * cache) would send requests this thread could never answer.  /dev/null
	 * takes the descriptor's place: fuse_session_destroy() closes it.
	 */
	if (fd >= 0 && null >= 0)
		dup3(null, fd, O_CLOEXEC);
	if (null >= 0)
		close(null);
	if (umount2(cfg->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return;
	if (unmounter >= 0)
		ovl_unmounter_ask(unmounter);
	else if (!own_device)
		fuse_session_unmount(se);
	else
		ovl_err("cannot unmount %s: %s", cfg->mountpoint, strerror(errno));
}

static int serve(struct fuse_session *se)
{
	unsigned int threads = worker_threads();
	int ret;

#if FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
	struct fuse_loop_config lc = {
		.clone_fd = 1,
		.max_idle_threads = threads,
	};
	ret = fuse_session_loop_mt(se, &lc);
#else
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc) {
		ovl_err("cannot allocate the loop configuration");
		return -ENOMEM;
	}
	fuse_loop_cfg_set_clone_fd(lc, 1);
	fuse_loop_cfg_set_max_threads(lc, threads);
	fuse_loop_cfg_set_idle_threads(lc, threads);
	ret = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
#endif
	return ret;
}

int main(int argc, char **argv)
{
	static struct ovl_config cfg;
	struct ovl_fs *fs = NULL;
	struct fuse_session *se = NULL;
	struct ovl_filter *filter = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *fargv[6];
	const char *device = NULL;
	char fd_path[32];
	bool mounted = false;
	int unmounter = -1;
	int status = 1;
	int r;

	r = ovl_config_parse(&cfg, argc, argv);
	if (r < 0)
		return 0;   /* --help, --version */
	if (r > 0)
		return 1;
	ovl_debug_enabled = cfg.debug;

	/* Modes of new files are applied exactly as the caller asked. */
	umask(0);
	raise_nofile_limit();

	r = ovl_fs_new(&cfg, &fs);
	if (r < 0)
		goto out_cfg;   /* ovl_fs_new printed why */

	/* Never "-d": our own debug lines replace libfuse's. */
	fargv[0] = argv[0];
	fargv[1] = "-o";
	fargv[2] = cfg.fuse_mount_opts;
	args.argc = 3;
#ifdef HAVE_FUSE_URING
	/* the ring is used only if the kernel offers it too (wire.c) */
	if (cfg.io_uring) {
		fargv[args.argc++] = "-o";
		fargv[args.argc++] = "io_uring";
	}
#endif
	fargv[args.argc] = NULL;
	args.argv = fargv;
	ovl_debug("fuse mount options: %s", cfg.fuse_mount_opts);

	se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), fs);
	fuse_opt_free_args(&args);
	if (!se) {
		ovl_err("cannot create the FUSE session");
		goto out_fs;
	}
	fs->se = se;

	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * leaves ignored signals alone: SIGINT must unmount all the same. */
	signal(SIGINT, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0) {
		ovl_err("cannot set signal handlers");
		goto out_session;
	}

	/* Through libfuse's /dev/fuse, or mounted here through another FUSE
	 * device (kernel/'s fuse_userns) and handed to libfuse as /dev/fd/N. */
	device = ovl_fuse_device(&cfg);
	if (device) {
		if (ovl_mount_device(&cfg, device, fd_path, sizeof(fd_path)) != 0)
			goto out_signals;
		mounted = true;
	}
	if (fuse_session_mount(se, device ? fd_path : cfg.mountpoint) != 0) {
		ovl_err("cannot mount on %s", cfg.mountpoint);
		goto out_unmount;
	}
	mounted = true;
	ovl_wire_attach(fs, se);
	apply_mount_attrs(&cfg);

	/* Least privilege from here on (privilege.c); the filter is built now,
	 * while errors still reach the terminal, and loaded once daemonised.
	 * A plain user's mount needs fusermount3 to come down: a helper that
	 * can still run it is forked first. */
	if (!device && geteuid() != 0 && (unmounter = ovl_unmounter_start(cfg.mountpoint)) < 0)
		goto out_unmount;
	if (ovl_filter_build(&cfg, &filter) != 0 || ovl_drop_privileges() != 0)
		goto out_unmount;

	/*
	 * Daemonise only once mounted: errors above reach the terminal, and
	 * the parent's exit status tells mount(8) or podman the mount is up.
	 */
	if (!cfg.foreground) {
		if (fuse_daemonize(0) != 0) {
			ovl_err("cannot daemonize");
			goto out_unmount;
		}
		ovl_log_to_syslog();
	}
	if (ovl_filter_load(filter) != 0)
		goto out_unmount;
#ifdef OVL_TEST_HOOKS
	if (cfg.test_syscall)
		ovl_test_syscall(cfg.test_syscall);
#endif
	if (ovl_stats_start(fs) != 0)
		goto out_unmount;

	r = serve(se);
	/* 0: unmounted; ECONNABORTED: the kernel ended the connection as it
	 * took the mount down (a lazy unmount does, at times); SIGTERM, SIGINT,
	 * SIGHUP: clean exit too */
	if (r == 0 || r == -ECONNABORTED)
		mounted = false;   /* the kernel took it down already */
	if (r == 0 || r == -ECONNABORTED || r == SIGTERM || r == SIGINT || r == SIGHUP)
		status = 0;
	else
		ovl_err("session loop failed: %s", r < 0 ? strerror(-r) : strsignal(r));

out_unmount:
	if (mounted)
		unmount_at_exit(se, &cfg, device != NULL, unmounter);
	if (unmounter >= 0)
		close(unmounter);   /* a helper not asked to unmount exits */
	ovl_filter_free(filter);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fs:
	ovl_fs_free(fs);
out_cfg:
	ovl_config_free(&cfg);
	return status;
}
