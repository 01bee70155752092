/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef OVL_PLUGIN_DIRECT_H
#define OVL_PLUGIN_DIRECT_H

#include <fuse-overlayfs/plugin.h>

/* The built-in plugin: a plain directory, read through the plugin ABI
 * (//direct/-/PATH).  Ordinary lower layers do not go through it. */
extern const struct fuse_overlayfs_plugin ovl_plugin_direct;

#endif
