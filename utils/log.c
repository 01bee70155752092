/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "log.h"

bool ovl_debug_enabled;
static bool use_syslog;

/* Connected now (LOG_NDELAY): the system call filter allows sending on
 * the socket, not making one. */
void ovl_log_to_syslog(void)
{
	openlog("fuse-overlayfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

static void vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
	/* One write per line, so lines from worker threads never interleave. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "fuse-overlayfs: %s", prefix);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (use_syslog)
		syslog(level, "%s", line + sizeof("fuse-overlayfs: ") - 1);
	else
		fprintf(stderr, "%s\n", line);
}

void ovl_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERR, "", fmt, ap);
	va_end(ap);
}

void ovl_debug_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, "debug: ", fmt, ap);
	va_end(ap);
}
