/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_options: the command line parser, ovl_config_parse, on any argv.
 *
 * Input: the arguments after argv[0], separated by NUL bytes (at most
 * MAX_ARGS; an empty input is no argument at all).  Each is parsed, then
 * freed with ovl_config_free, whatever the result.  --help and --version
 * print to the harness's /dev/null (fz_init).  A mountpoint must exist for
 * a command line to be accepted: "/", "/tmp" and the harness's own
 * directories do.
 *
 * Beyond the sanitizers: the result is 0, 1 or -1; on 0 the configuration
 * holds what main.c relies on (a mountpoint, 1 to OVL_MAX_LAYERS non-empty
 * lower layers, upperdir and workdir both or neither, mount options for
 * libfuse), and libfuse's fuse_session_new accepts those mount options as
 * main.c passes them.
 *
 * FUZZ_WRITE_SEEDS=DIR: write the seed corpus to DIR and exit.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

/* What main.c takes for granted of a parsed configuration */
static void check_config(const struct ovl_config *cfg)
{
	if (!cfg->mountpoint || !*cfg->mountpoint)
		fz_fail("accepted without a mountpoint");
	if (cfg->nlowerdirs < 1 || cfg->nlowerdirs > OVL_MAX_LAYERS || !cfg->lowerdirs)
		fz_fail("accepted with %zu lower layers", cfg->nlowerdirs);
	for (size_t i = 0; i < cfg->nlowerdirs; i++)
		if (!cfg->lowerdirs[i] || !*cfg->lowerdirs[i])
			fz_fail("accepted with an empty lower layer");
	if (!cfg->upperdir != !cfg->workdir)
		fz_fail("accepted with only one of upperdir and workdir");
	if (!cfg->fuse_mount_opts)
		fz_fail("accepted without mount options");
	if (!cfg->upperdir && !cfg->read_only)
		fz_fail("accepted read-write without an upper layer");
}

/* libfuse takes the mount options the parser collected (main.c's
 * fuse_session_new): anything it refused would fail every mount. */
static void check_libfuse(const struct ovl_config *cfg)
{
	char *fargv[] = { "fuse-overlayfs", "-o", cfg->fuse_mount_opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session *se = fuse_session_new(&args, &ovl_ops, sizeof(ovl_ops), NULL);

	fuse_opt_free_args(&args);
	if (!se)
		fz_fail("libfuse refuses the mount options '%s'", cfg->fuse_mount_opts);
	fuse_session_destroy(se);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ovl_config cfg;
	char *buf = malloc(size + 1);
	char *argv[MAX_ARGS + 2];
	int argc = 1, r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "fuse-overlayfs";
	for (size_t i = 0; size && i <= size && argc <= MAX_ARGS; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;

	r = ovl_config_parse(&cfg, argc, argv);
	if (r != 0 && r != 1 && r != -1)
		fz_fail("ovl_config_parse returned %d", r);
	if (r == 0) {
		check_config(&cfg);
		check_libfuse(&cfg);
	}
	ovl_config_free(&cfg);
	ovl_debug_enabled = false;   /* -d sets it for the process */
	free(buf);
	return 0;
}

/* Seeds: one command line per line of text, arguments separated by '|' */
static const char *const seeds[] = {
	"-o|lowerdir=/tmp|/tmp",
	"-o|lowerdir=/tmp:/,upperdir=/tmp/u,workdir=/tmp/w|/tmp",
	"-f|-d|-o|lowerdir=/a\\:b:/c\\\\d,upperdir=/u,workdir=/w|fuse-overlayfs|/tmp",
	"-olowerdir=/l,uidmapping=0:1000:1:1:100000:65536,gidmapping=:0:100000:65536|/",
	"-o|lowerdir=/l,uidmapping=0:1000:1,1:100000:65536|/",
	"-o|lowerdir=/l,squash_to_root,squash_to_uid=1,squash_to_gid=2,static_nlink|/",
	"-o|lowerdir=/l,noacl,xattr_permissions=2,fsync=0,volatile,timeout=0.5|/",
	"-o|lowerdir=/l,writeback=0,noxattrs=1,fast_ino=1,redirect_dir=off,xino=on,ino32_t|/",
	"-o|lowerdir=/l,plugins=,passthrough=upper,max_stack_depth=2,io_uring=off|/",
	"-o|lowerdir=/l,fuse_device=/dev/fuse_userns,max_write=65536,threaded=4|/",
	"-o|lowerdir=/l,ro,nodev,nosuid,noexec,relatime,nodiratime,sync,dirsync|/",
	"-o|lowerdir=/l,allow_other,allow_root,auto_unmount,max_read=4096|/",
	"-o|lowerdir=/l,fsname=\"a,b\",subtype=x,context=\"system_u:object_r:tmp_t:s0\"|/",
	"-o|lowerdir=/l,x-systemd.automount,_netdev,noauto,defaults,comment=foo|/",
	"-o|lowerdir=/l,strictatime,diratime,default_permissions,lazytime|/",
	"-o|lowerdir=/l,seccomp=log|-s|--|/",
	"--help",
	"-V",
	"-o|lowerdir=/l|-o",
	"-o|lowerdir=|/",
	"-o|\"lowerdir=/l|/",
	"-o|upperdir=/u|/",
	"-o|lowerdir=/l,unknown=1|/ /a /b",
};

static void write_seeds(const char *dir)
{
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/seed-%02zu", dir, i);
		f = fopen(path, "we");
		if (!f)
			fz_fail("cannot write %s", path);
		for (const char *s = seeds[i]; *s; s++)
			fputc(*s == '|' ? '\0' : *s, f);
		if (fclose(f))
			fz_fail("cannot write %s", path);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds_dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fz_init();
	if (seeds_dir) {
		write_seeds(seeds_dir);
		exit(0);
	}
	return 0;
}
