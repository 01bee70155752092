/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Messages: errors always, debug lines only with -o debug. */
#ifndef OVL_LOG_H
#define OVL_LOG_H

#include <stdbool.h>

extern bool ovl_debug_enabled;

/* "fuse-overlayfs: <message>" on stderr (or syslog once daemonised). */
void ovl_log_to_syslog(void);
void ovl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line per request with -o debug; cheap no-op otherwise. */
#define ovl_debug(...) do { if (ovl_debug_enabled) ovl_debug_line(__VA_ARGS__); } while (0)
void ovl_debug_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
