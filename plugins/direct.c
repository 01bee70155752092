/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The built-in data source: the layer is a directory on a local filesystem. */
#include <errno.h>
#include <fcntl.h>

#include "ds.h"

static int direct_open_root(const char *spec)
{
	int fd = open(spec, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

const struct ovl_ds ovl_ds_direct = {
	.name = "direct",
	.open_root = direct_open_root,
};
