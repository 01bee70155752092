/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Statistics of a live mount: SIGUSR1 writes them as one line to stderr
 * (syslog once daemonised).  Tests and users read how many opens were
 * passed through and why the others were not.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ovl.h"

static unsigned long get(atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void ovl_stats_dump(struct ovl_fs *fs)
{
	char why[512] = "";
	size_t len = 0;

	for (int r = 0; r < OVL_PT_NREASONS; r++) {
		unsigned long v = get(&fs->stats.pt_fallbacks[r]);
		int w;

		if (!v)
			continue;
		w = snprintf(why + len, sizeof(why) - len, "%s%s: %lu", len ? ", " : "",
			     ovl_pt_reason_names[r], v);
		if (w < 0 || (size_t)w >= sizeof(why) - len)
			break;
		len += (size_t)w;
	}
	ovl_err("stats: opens %lu, passthrough %lu, through the daemon %lu%s%s%s, copy-ups %lu, "
		"whiteouts %lu, node ids renewed %lu, backings replaced %lu, transport %s",
		get(&fs->stats.opens), get(&fs->stats.pt_opens),
		get(&fs->stats.opens) - get(&fs->stats.pt_opens), len ? " (" : "", why,
		len ? ")" : "", get(&fs->stats.copyups), get(&fs->stats.whiteouts),
		get(&fs->stats.pt_new_ids), get(&fs->stats.pt_replaced), ovl_wire_transport(fs));
}

static void *stats_thread(void *arg)
{
	struct ovl_fs *fs = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0)
		ovl_stats_dump(fs);
	return NULL;
}

/*
 * SIGUSR1 is blocked in every thread and taken by one of its own, so the
 * dump runs in a normal thread context.  Call before the worker threads
 * start (they inherit the mask) and after daemonising (fork keeps only
 * the calling thread).
 */
int ovl_stats_start(struct ovl_fs *fs)
{
	pthread_t t;
	sigset_t set;
	int ret;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	ret = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ret == 0)
		ret = pthread_create(&t, NULL, stats_thread, fs);
	if (ret == 0)
		ret = pthread_detach(t);
	if (ret != 0)
		ovl_err("cannot start the statistics thread: %s", strerror(ret));
	return -ret;
}
