/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovltool: syscalls the shell cannot reach, for the test suite.
 *
 * Every subcommand prints one result line on stdout: "ok" (or a value) on
 * success, or the errno name (e.g. "EXDEV") on failure, and exits 0 on
 * success, 1 on a failed syscall, 2 on a usage error.
 *
 *   rename2 none|noreplace|exchange|whiteout OLD NEW
 *   tmpfile DIR [LINKNAME]       O_TMPFILE, write, read back, fsync, optional linkat
 *   cfr SRC DST                  copy_file_range of all of SRC into DST
 *   sendfile SRC DST             sendfile (splice) of all of SRC into DST
 *   seek FILE data|hole OFFSET   prints the resulting offset
 *   unlinked FILE                open, unlink, then write/read the open fd
 *   fallocate FILE OFF LEN [keep|punch|zero|zerokeep|collapse|insert]
 *   extents FILE                 "OFF-END" per data extent, by SEEK_DATA and
 *                                SEEK_HOLE over the whole file
 *   access PATH MODE             MODE from "rwxf"
 *   readdir DIR                  "INO NAME" per entry (no . and ..)
 *   count DIR                    number of entries (no . and ..)
 *   fsync FILE                   open, write, fsync, fdatasync
 *   openflags PATH FLAGS...      open with flags (rdonly wronly rdwr creat
 *                                excl trunc append nofollow directory)
 *   mmapwrite FILE OFFSET STRING write STRING at OFFSET through a MAP_SHARED
 *                                mapping, msync(MS_SYNC) (FILE must be that long)
 *   pread FD OFFSET LEN          pread of an inherited fd, prints the bytes read
 *   cmpreads A B LEN COUNT       COUNT preads of LEN bytes at the same random
 *                                offsets (fixed seed, back and forth) of files A
 *                                and B; prints "ok", or the first offset that differs
 *   holdread GO FILE...          opens each FILE read-only, prints "opened",
 *                                waits (60 s at most) until the file GO
 *                                exists, then prints what a pread of each
 *                                open gives now, one line each
 *   mmaphold FILE LEN shared|private GO
 *                                maps LEN bytes of FILE opened read-only (and
 *                                kept open) and prints "before: BYTES"; waits (60 s at most)
 *                                until the file GO exists, then prints
 *                                "after: BYTES" read from the same mapping;
 *                                a private mapping is then written ('P' at
 *                                offset 0) and printed as "private: BYTES"
 *   handle PATH                  name_to_handle_at, then open_by_handle_at
 *                                with an fd of PATH as mount_fd
 *   syslogd SOCKET FILE          a minimal syslog: binds a datagram socket at
 *                                SOCKET (mode 0666), prints "ok", then appends
 *                                every message received to FILE as one line
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

static int fail(void)
{
	int e = errno;
	const char *n = strerrorname_np(e);
	if (n)
		printf("%s\n", n);
	else
		printf("E%d\n", e);
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "ovltool: bad usage\n");
	return 2;
}

static int cmd_handle(int argc, char **argv)
{
	struct file_handle *fh;
	int mount_id, mfd, fd;

	if (argc != 3)
		return usage();
	fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	if (!fh)
		return fail();
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, argv[2], fh, &mount_id, 0) < 0)
		return fail();
	mfd = open(argv[2], O_RDONLY);
	if (mfd < 0)
		return fail();
	fd = open_by_handle_at(mfd, fh, O_RDONLY);
	if (fd < 0)
		return fail();
	close(fd);
	close(mfd);
	free(fh);
	printf("ok\n");
	return 0;
}

static int cmd_rename2(int argc, char **argv)
{
	unsigned int flags = 0;
	if (argc != 5)
		return usage();
	if (!strcmp(argv[2], "noreplace"))
		flags = RENAME_NOREPLACE;
	else if (!strcmp(argv[2], "exchange"))
		flags = RENAME_EXCHANGE;
	else if (!strcmp(argv[2], "whiteout"))
		flags = RENAME_WHITEOUT;
	else if (strcmp(argv[2], "none"))
		return usage();
	if (syscall(SYS_renameat2, AT_FDCWD, argv[3], AT_FDCWD, argv[4], flags) < 0)
		return fail();
	printf("ok\n");
	return 0;
}

static int cmd_tmpfile(int argc, char **argv)
{
	char buf[64] = {0};
	char proc[64];
	int fd;
	if (argc < 3)
		return usage();
	fd = open(argv[2], O_TMPFILE | O_RDWR, 0640);
	if (fd < 0)
		return fail();
	if (write(fd, "tmpdata", 7) != 7)
		return fail();
	if (pread(fd, buf, sizeof(buf) - 1, 0) != 7 || strcmp(buf, "tmpdata")) {
		printf("readback-mismatch\n");
		return 1;
	}
	/* the data on disk before the file gets a name (with the writeback
	 * cache the write above only reached the page cache) */
	if (fsync(fd) < 0)
		return fail();
	if (argc > 3) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, argv[3], AT_SYMLINK_FOLLOW) < 0)
			return fail();
	}
	close(fd);
	printf("ok\n");
	return 0;
}

/* cfr and sendfile: all of SRC into DST through copy_file_range or sendfile */
static int copy_whole(int argc, char **argv, bool splice)
{
	struct stat st;
	loff_t off_in = 0, off_out = 0;
	int in, out;

	if (argc != 4)
		return usage();
	in = open(argv[2], O_RDONLY);
	if (in < 0 || fstat(in, &st) < 0)
		return fail();
	out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return fail();
	while (off_in < st.st_size) {
		size_t left = (size_t)(st.st_size - off_in);
		ssize_t n = splice ? sendfile(out, in, &off_in, left)
				   : copy_file_range(in, &off_in, out, &off_out, left, 0);
		if (n < 0)
			return fail();
		if (n == 0)
			break;
	}
	close(in);
	if (close(out) < 0)
		return fail();
	printf("ok\n");
	return 0;
}

static int cmd_seek(int argc, char **argv)
{
	int fd, whence;
	off_t r;
	if (argc != 5)
		return usage();
	if (!strcmp(argv[3], "data"))
		whence = SEEK_DATA;
	else if (!strcmp(argv[3], "hole"))
		whence = SEEK_HOLE;
	else
		return usage();
	fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		return fail();
	r = lseek(fd, strtoll(argv[4], NULL, 0), whence);
	if (r < 0)
		return fail();
	printf("%lld\n", (long long) r);
	return 0;
}

static int cmd_extents(int argc, char **argv)
{
	off_t pos = 0, data, hole;
	int fd;
	if (argc != 3)
		return usage();
	fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		return fail();
	for (;;) {
		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return fail();
		printf("%lld-%lld\n", (long long)data, (long long)hole);
		pos = hole;
	}
	close(fd);
	return 0;
}

static int cmd_unlinked(int argc, char **argv)
{
	struct stat st;
	char buf[4096];
	ssize_t n;
	int fd;
	if (argc != 3)
		return usage();
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		return fail();
	if (unlink(argv[2]) < 0)
		return fail();
	if (access(argv[2], F_OK) == 0) {
		printf("still-visible\n");
		return 1;
	}
	if (fstat(fd, &st) < 0)
		return fail();
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return fail();
	buf[n] = 0;
	if (pwrite(fd, "+more", 5, n) != 5)
		return fail();
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return fail();
	buf[n] = 0;
	if (fstat(fd, &st) < 0)
		return fail();
	/* content and size after the write */
	printf("%s|size=%lld\n", buf, (long long) st.st_size);
	close(fd);
	return 0;
}

static int cmd_fallocate(int argc, char **argv)
{
	int fd, mode = 0;
	if (argc < 5)
		return usage();
	static const struct { const char *name; int mode; } modes[] = {
		{ "keep", FALLOC_FL_KEEP_SIZE },
		{ "punch", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE },
		{ "zero", FALLOC_FL_ZERO_RANGE },
		{ "zerokeep", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE },
		{ "collapse", FALLOC_FL_COLLAPSE_RANGE },
		{ "insert", FALLOC_FL_INSERT_RANGE },
	};
	if (argc > 6)
		return usage();
	for (size_t i = 0; argc == 6 && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[5], modes[i].name))
			mode = modes[i].mode;
	if (argc == 6 && !mode)
		return usage();
	fd = open(argv[2], O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fail();
	if (fallocate(fd, mode, strtoll(argv[3], NULL, 0), strtoll(argv[4], NULL, 0)) < 0)
		return fail();
	close(fd);
	printf("ok\n");
	return 0;
}

static int cmd_access(int argc, char **argv)
{
	int mode = 0;
	if (argc != 4)
		return usage();
	for (const char *p = argv[3]; *p; p++) {
		switch (*p) {
		case 'r': mode |= R_OK; break;
		case 'w': mode |= W_OK; break;
		case 'x': mode |= X_OK; break;
		case 'f': mode |= F_OK; break;
		default: return usage();
		}
	}
	if (access(argv[2], mode) < 0)
		return fail();
	printf("ok\n");
	return 0;
}

static int cmd_readdir(int argc, char **argv, int count_only)
{
	struct dirent *de;
	unsigned long n = 0;
	DIR *d;
	if (argc != 3)
		return usage();
	d = opendir(argv[2]);
	if (!d)
		return fail();
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (!count_only)
			printf("%llu %s\n", (unsigned long long) de->d_ino, de->d_name);
	}
	if (errno)
		return fail();
	closedir(d);
	if (count_only)
		printf("%lu\n", n);
	return 0;
}

static int cmd_fsync(int argc, char **argv)
{
	int fd;
	if (argc != 3)
		return usage();
	fd = open(argv[2], O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fail();
	if (write(fd, "synced\n", 7) != 7)
		return fail();
	if (fsync(fd) < 0)
		return fail();
	if (fdatasync(fd) < 0)
		return fail();
	if (close(fd) < 0)
		return fail();
	printf("ok\n");
	return 0;
}

static int cmd_openflags(int argc, char **argv)
{
	int flags = 0, fd;
	if (argc < 4)
		return usage();
	for (int i = 3; i < argc; i++) {
		const char *f = argv[i];
		if (!strcmp(f, "rdonly")) flags |= O_RDONLY;
		else if (!strcmp(f, "wronly")) flags |= O_WRONLY;
		else if (!strcmp(f, "rdwr")) flags |= O_RDWR;
		else if (!strcmp(f, "creat")) flags |= O_CREAT;
		else if (!strcmp(f, "excl")) flags |= O_EXCL;
		else if (!strcmp(f, "trunc")) flags |= O_TRUNC;
		else if (!strcmp(f, "append")) flags |= O_APPEND;
		else if (!strcmp(f, "nofollow")) flags |= O_NOFOLLOW;
		else if (!strcmp(f, "directory")) flags |= O_DIRECTORY;
		else return usage();
	}
	fd = open(argv[2], flags, 0644);
	if (fd < 0)
		return fail();
	close(fd);
	printf("ok\n");
	return 0;
}

static int cmd_mmapwrite(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	off_t off, start;
	size_t len, maplen;
	char *map;
	int fd;
	if (argc != 5)
		return usage();
	off = strtoll(argv[3], NULL, 0);
	len = strlen(argv[4]);
	start = off - off % page;
	maplen = (size_t)(off - start) + len;
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		return fail();
	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, start);
	if (map == MAP_FAILED)
		return fail();
	memcpy(map + (off - start), argv[4], len);
	if (msync(map, maplen, MS_SYNC) < 0)
		return fail();
	if (munmap(map, maplen) < 0)
		return fail();
	if (close(fd) < 0)
		return fail();
	printf("ok\n");
	return 0;
}

static void print_map(const char *what, const char *map, size_t len)
{
	printf("%s: ", what);
	fwrite(map, 1, len, stdout);
	printf("\n");
	fflush(stdout);
}

static void wait_for(const char *path)
{
	for (int i = 0; i < 6000 && access(path, F_OK) < 0; i++)
		usleep(10000);
}

static int cmd_holdread(int argc, char **argv)
{
	int fds[64];
	char buf[4096];

	if (argc < 4 || argc - 3 > 64)
		return usage();
	for (int i = 3; i < argc; i++)
		if ((fds[i - 3] = open(argv[i], O_RDONLY)) < 0)
			return fail();
	printf("opened\n");
	fflush(stdout);
	wait_for(argv[2]);
	for (int i = 3; i < argc; i++) {
		ssize_t n = pread(fds[i - 3], buf, sizeof(buf), 0);
		if (n < 0)
			return fail();
		/* one line each: the content's own newlines go */
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		for (ssize_t j = 0; j < n; j++)
			if (buf[j] == '\n')
				buf[j] = ' ';
		printf("%.*s\n", (int)n, buf);
	}
	return 0;
}

static int cmd_mmaphold(int argc, char **argv)
{
	bool private;
	size_t len;
	char *map;
	int fd;

	if (argc != 6 || (strcmp(argv[4], "shared") && strcmp(argv[4], "private")))
		return usage();
	private = !strcmp(argv[4], "private");
	len = strtoull(argv[3], NULL, 0);
	fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		return fail();
	map = mmap(NULL, len, PROT_READ | (private ? PROT_WRITE : 0),
		   private ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail();
	/* the open stays as long as the mapping (closed at exit) */
	print_map("before", map, len);
	wait_for(argv[5]);
	print_map("after", map, len);
	if (private) {
		map[0] = 'P';
		print_map("private", map, len);
	}
	munmap(map, len);
	return 0;
}

static int cmd_pread(int argc, char **argv)
{
	char *buf;
	size_t len;
	ssize_t n;
	if (argc != 5)
		return usage();
	len = strtoull(argv[4], NULL, 0);
	buf = malloc(len + 1);
	if (!buf)
		return fail();
	n = pread(atoi(argv[2]), buf, len, strtoll(argv[3], NULL, 0));
	if (n < 0)
		return fail();
	fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return 0;
}

static int cmd_cmpreads(int argc, char **argv)
{
	int a, b;
	size_t len;
	long count;
	struct stat st;
	char *ba, *bb;

	if (argc != 6)
		return usage();
	a = open(argv[2], O_RDONLY);
	b = open(argv[3], O_RDONLY);
	len = strtoull(argv[4], NULL, 0);
	count = strtol(argv[5], NULL, 0);
	ba = malloc(len);
	bb = malloc(len);
	if (a < 0 || b < 0 || fstat(a, &st) < 0 || !ba || !bb)
		return fail();
	srand48(count);
	for (long i = 0; i < count; i++) {
		off_t off = (off_t)(drand48() * (double)st.st_size);
		ssize_t na = pread(a, ba, len, off), nb = pread(b, bb, len, off);

		if (na < 0 || nb < 0)
			return fail();
		if (na != nb || memcmp(ba, bb, (size_t)na)) {
			printf("differs at %lld\n", (long long)off);
			return 1;
		}
	}
	printf("ok\n");
	return 0;
}

static int cmd_syslogd(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char msg[8192];
	FILE *out;
	int s;
	if (argc != 4 || strlen(argv[2]) >= sizeof(addr.sun_path))
		return usage();
	strcpy(addr.sun_path, argv[2]);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(argv[2], 0666) < 0)
		return fail();
	out = fopen(argv[3], "a");
	if (!out)
		return fail();
	printf("ok\n");
	for (;;) {
		ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail();
		}
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\0'))
			n--;
		fprintf(out, "%.*s\n", (int)n, msg);
		fflush(out);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "rename2"))
		return cmd_rename2(argc, argv);
	if (!strcmp(argv[1], "handle"))
		return cmd_handle(argc, argv);
	if (!strcmp(argv[1], "tmpfile"))
		return cmd_tmpfile(argc, argv);
	if (!strcmp(argv[1], "cfr"))
		return copy_whole(argc, argv, false);
	if (!strcmp(argv[1], "sendfile"))
		return copy_whole(argc, argv, true);
	if (!strcmp(argv[1], "seek"))
		return cmd_seek(argc, argv);
	if (!strcmp(argv[1], "extents"))
		return cmd_extents(argc, argv);
	if (!strcmp(argv[1], "unlinked"))
		return cmd_unlinked(argc, argv);
	if (!strcmp(argv[1], "fallocate"))
		return cmd_fallocate(argc, argv);
	if (!strcmp(argv[1], "access"))
		return cmd_access(argc, argv);
	if (!strcmp(argv[1], "readdir"))
		return cmd_readdir(argc, argv, 0);
	if (!strcmp(argv[1], "count"))
		return cmd_readdir(argc, argv, 1);
	if (!strcmp(argv[1], "fsync"))
		return cmd_fsync(argc, argv);
	if (!strcmp(argv[1], "openflags"))
		return cmd_openflags(argc, argv);
	if (!strcmp(argv[1], "mmapwrite"))
		return cmd_mmapwrite(argc, argv);
	if (!strcmp(argv[1], "pread"))
		return cmd_pread(argc, argv);
	if (!strcmp(argv[1], "holdread"))
		return cmd_holdread(argc, argv);
	if (!strcmp(argv[1], "mmaphold"))
		return cmd_mmaphold(argc, argv);
	if (!strcmp(argv[1], "cmpreads"))
		return cmd_cmpreads(argc, argv);
	if (!strcmp(argv[1], "syslogd"))
		return cmd_syslogd(argc, argv);
	return usage();
}
