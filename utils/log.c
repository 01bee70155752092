/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

bool ovl_debug_enabled;

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	/* One write per line, so lines from worker threads never interleave. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "fuse-overlayfs: %s", prefix);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void ovl_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void ovl_debug_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}
