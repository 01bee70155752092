/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer data sources: the plugins named by -o plugins=, and the lower
 * layers they serve, written //NAME/DATA/PATH as in fuse-overlayfs 1.x.
 *
 * Each plugin is a shared object exporting fuse_overlayfs_plugin_entry()
 * (plugins/fuse-overlayfs/plugin.h); it is loaded with RTLD_LOCAL, so two
 * plugins never see each other's symbols, and checked before anything is
 * mounted: a file that is not a plugin of this ABI is a one-line error.
 * The built-in "direct" plugin (plugins/direct.c) serves a plain directory
 * through the same interface, without plugins=.
 */
#include "ovl.h"
#include "plugins/direct.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ovl_plugins {
	size_t n;
	const struct fuse_overlayfs_plugin **pl;
	void **handles;   /* dlopen()s, NULL for the built-in one */
};

/* The members every plugin must have, as the header says. */
static bool complete(const struct fuse_overlayfs_plugin *pl)
{
	return pl->size >= offsetof(struct fuse_overlayfs_plugin, read) + sizeof(pl->read) &&
	       pl->name && *pl->name && !strchr(pl->name, '/') && pl->load && pl->lookup &&
	       pl->getattr && pl->readdir && pl->readlink && pl->read;
}

static const struct fuse_overlayfs_plugin *find(const struct ovl_plugins *p, const char *name,
						size_t len)
{
	for (size_t i = 0; i < p->n; i++)
		if (strlen(p->pl[i]->name) == len && !strncmp(p->pl[i]->name, name, len))
			return p->pl[i];
	return NULL;
}

static int add(struct ovl_plugins *p, const struct fuse_overlayfs_plugin *pl, void *handle)
{
	const struct fuse_overlayfs_plugin **npl = realloc(p->pl, (p->n + 1) * sizeof(*npl));
	void **nh;

	if (npl)
		p->pl = npl;
	nh = npl ? realloc(p->handles, (p->n + 1) * sizeof(*nh)) : NULL;
	if (!nh)
		return -ENOMEM;
	p->handles = nh;
	p->pl[p->n] = pl;
	p->handles[p->n] = handle;
	p->n++;
	return 0;
}

/* A bare name (no '/') is a plugin installed with the program. */
static char *plugin_file(const char *entry, size_t len)
{
	char *file;

	if (memchr(entry, '/', len))
		return strndup(entry, len);
	return asprintf(&file, "%s/%.*s.so", PLUGINDIR, (int)len, entry) < 0 ? NULL : file;
}

static int load_one(struct ovl_plugins *p, const char *entry, size_t len)
{
	const struct fuse_overlayfs_plugin *(*entry_fn)(void);
	const struct fuse_overlayfs_plugin *pl;
	char *file = plugin_file(entry, len);
	void *h;
	int ret = -EINVAL;

	if (!file)
		return -ENOMEM;
	h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		ovl_err("cannot load plugin '%s': %s", file, dlerror());
		goto out;
	}
	*(void **)&entry_fn = dlsym(h, FUSE_OVERLAYFS_PLUGIN_ENTRY);
	pl = entry_fn ? entry_fn() : NULL;
	if (!entry_fn && dlsym(h, "plugin_version"))
		ovl_err("plugin '%s' is a fuse-overlayfs 1.x plugin: that ABI is not supported "
			"(see <fuse-overlayfs/plugin.h>)", file);
	else if (!entry_fn)
		ovl_err("plugin '%s' has no %s(): not a fuse-overlayfs plugin", file,
			FUSE_OVERLAYFS_PLUGIN_ENTRY);
	else if (!pl)
		ovl_err("plugin '%s' gave no descriptor", file);
	else if (pl->abi != FUSE_OVERLAYFS_PLUGIN_ABI)
		ovl_err("plugin '%s' is built for plugin ABI %u, this fuse-overlayfs has ABI %d",
			file, pl->abi, FUSE_OVERLAYFS_PLUGIN_ABI);
	else if (!complete(pl))
		ovl_err("plugin '%s' lacks a required operation or a valid name", file);
	else if (find(p, pl->name, strlen(pl->name)))
		ovl_err("plugin '%s': a plugin named '%s' is loaded already", file, pl->name);
	else
		ret = add(p, pl, h);
	if (ret < 0)
		dlclose(h);
out:
	free(file);
	return ret;
}

int ovl_plugins_load(const char *list, struct ovl_plugins **out)
{
	struct ovl_plugins *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	ret = add(p, &ovl_plugin_direct, NULL);
	/* ':' separates; empty entries ("plugins=") are none */
	for (const char *s = list ? list : ""; ret == 0 && *s; ) {
		size_t len = strcspn(s, ":");
		if (len)
			ret = load_one(p, s, len);
		s += len + (s[len] == ':');
	}
	if (ret < 0) {
		ovl_plugins_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

void ovl_plugins_free(struct ovl_plugins *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->handles[i])
			dlclose(p->handles[i]);
	free(p->handles);
	free(p->pl);
	free(p);
}

bool ovl_layer_is_plugin(const char *spec)
{
	return spec[0] == '/' && spec[1] == '/';
}

/* //NAME/DATA/PATH: the plugin NAME serves it from DATA and PATH. */
int ovl_plugin_layer_open(const struct ovl_plugins *p, const char *spec, bool keep_stderr)
{
	const char *name = spec + 2, *data, *path;
	const struct fuse_overlayfs_plugin *pl;
	char *d;
	int ret;

	data = strchr(name, '/');
	path = data ? strchr(data + 1, '/') : NULL;
	if (!data || data == name || !path || path == data + 1 || !path[1]) {
		ovl_err("lowerdir '%s': a plugin layer is written //NAME/DATA/PATH", spec);
		return -EINVAL;
	}
	pl = find(p, name, (size_t)(data - name));
	if (!pl) {
		ovl_err("lowerdir '%s': no plugin named '%.*s' (load it with -o plugins=)", spec,
			(int)(data - name), name);
		return -ENOENT;
	}
	d = strndup(data + 1, (size_t)(path - data - 1));
	if (!d)
		return -ENOMEM;
	ret = ovl_plugin_serve(pl, d, path + 1, spec, keep_stderr);
	free(d);
	return ret;
}
