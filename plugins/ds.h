/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer data sources.  A data source turns a layer specification into a
 * directory fd that every later access is relative to.  The built-in
 * "direct" source reads a plain directory; loadable sources (plugins=) will
 * implement the same interface.
 */
#ifndef OVL_DS_H
#define OVL_DS_H

struct ovl_ds {
	const char *name;
	/* Opens the layer root; returns an O_DIRECTORY fd or -errno. */
	int (*open_root)(const char *spec);
};

extern const struct ovl_ds ovl_ds_direct;

#endif
