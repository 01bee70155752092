/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests that may take long, handed off the io_uring ring threads.
 *
 * Over FUSE over io_uring (wire.c) each CPU's requests are read and handled
 * by one ring thread, one after the other: a request that copies a large
 * file up or waits for the disk would hold up every request of the
 * processes on that CPU until it is done (measured: a read of a small file
 * waited 1.8 s behind the copy-up of a 512 MiB file; 33 ms over /dev/fuse,
 * whose threads form a pool).  So the requests that may copy data up or
 * sync (an open for writing, setattr, link, rename, setxattr or
 * removexattr of what is not in the upper layer yet; fsync, fsyncdir,
 * fallocate, copy_file_range) are queued here for a few worker threads and
 * the ring thread goes on.  The worker replies, which libfuse allows from
 * any thread.  The request's own buffers stay valid until the reply; what
 * libfuse passed from its stack (file info, attributes) is copied.
 * Requests over /dev/fuse already run on a pool: they are handled in place.
 *
 * libfuse frees a ring's buffers once it has joined the ring's thread at
 * unmount, and a late reply would write into them: every ring thread that
 * queued a request gets a thread-specific value whose destructor, run as
 * the thread exits, waits until the queue is empty and no job runs.
 *
 * Lock: defer.lock, a leaf (nothing else is taken under it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovl.h"

struct ovl_job {
	struct ovl_job *next;
	void (*run)(struct ovl_job *);
};

static void *worker(void *arg)
{
	struct ovl_defer *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct ovl_job *j = d->head;

		if (!j) {
			if (d->stop)
				break;
			pthread_cond_wait(&d->more, &d->lock);
			continue;
		}
		d->head = j->next;
		pthread_mutex_unlock(&d->lock);
		j->run(j);   /* replies */
		free(j);
		pthread_mutex_lock(&d->lock);
		if (--d->busy == 0)
			pthread_cond_broadcast(&d->idle);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Destructor of the ring threads' value: nothing may reply after them. */
static void drain(void *arg)
{
	struct ovl_defer *d = arg;

	pthread_mutex_lock(&d->lock);
	while (d->busy)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

int ovl_defer_init(struct ovl_defer *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->more, NULL);
	pthread_cond_init(&d->idle, NULL);
	if (pthread_key_create(&d->ring_key, drain) != 0)
		return -ENOMEM;
	d->have_key = true;
	return 0;
}

void ovl_defer_destroy(struct ovl_defer *d)
{
	if (!d->have_key)
		return;   /* never set up */
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->more);
	pthread_mutex_unlock(&d->lock);
	for (unsigned int i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	pthread_key_delete(d->ring_key);
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->more);
	pthread_mutex_destroy(&d->lock);
}

/* The workers, one per CPU, started with the first job (under d->lock) */
static bool start_workers(struct ovl_defer *d)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (d->nthreads)
		return true;
	if (n < 2)
		n = 2;
	if (n > OVL_DEFER_MAX_THREADS)
		n = OVL_DEFER_MAX_THREADS;
	for (long i = 0; i < n; i++) {
		if (pthread_create(&d->threads[d->nthreads], NULL, worker, d) != 0)
			break;
		d->nthreads++;
	}
	return d->nthreads > 0;
}

/* Queues j; false (j untouched) when no worker can take it. */
static bool submit(struct ovl_fs *fs, struct ovl_job *j)
{
	struct ovl_defer *d = &fs->defer;
	struct ovl_job **p;
	bool ok;

	if (!pthread_getspecific(d->ring_key) && pthread_setspecific(d->ring_key, d) != 0)
		return false;
	pthread_mutex_lock(&d->lock);
	ok = !d->stop && start_workers(d);
	if (ok) {
		j->next = NULL;
		for (p = &d->head; *p; p = &(*p)->next)
			;
		*p = j;
		d->busy++;
		pthread_cond_signal(&d->more);
	}
	pthread_mutex_unlock(&d->lock);
	return ok;
}

/* A job of type T for req, or NULL: the request is then handled in place */
#define NEW_JOB(T, fn) ((T *)new_job(sizeof(T), fn))
static void *new_job(size_t size, void (*run)(struct ovl_job *))
{
	struct ovl_job *j = calloc(1, size);

	if (j)
		j->run = run;
	return j;
}

/* Whether req arrived over a ring (only then is anything deferred) */
static bool on_ring(fuse_req_t req)
{
#ifdef HAVE_FUSE_URING
	return fuse_req_is_uring(req);
#else
	(void)req;
	return false;
#endif
}

/* Whether a change to inode ino may copy it up first */
static bool may_copy_up(fuse_req_t req, fuse_ino_t ino)
{
	OVL_INODE n = NULL;

	if (!on_ring(req))
		return false;
	n = ovl_inode_get(ovl_fs(req), ino);
	return n && !ovl_inode_is_upper(n);
}

#define DEFER(req, job) \
	do { \
		if (submit(ovl_fs(req), &(job)->j)) \
			return; \
		free(job); \
	} while (0)

/* ---- the deferrable operations ------------------------------------------ */

struct open_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
};

static void run_open(struct ovl_job *j)
{
	struct open_job *o = (struct open_job *)j;

	ovl_open(o->req, o->ino, &o->fi);
}

void ovl_defer_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_job *o;

	if (ovl_open_writes(fi->flags) && may_copy_up(req, ino) &&
	    (o = NEW_JOB(struct open_job, run_open))) {
		*o = (struct open_job){ o->j, req, ino, *fi };
		DEFER(req, o);
	}
	ovl_open(req, ino, fi);
}

struct setattr_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino;
	struct stat attr;
	int to_set;
	bool has_fi;
	struct fuse_file_info fi;
};

static void run_setattr(struct ovl_job *j)
{
	struct setattr_job *s = (struct setattr_job *)j;

	ovl_setattr(s->req, s->ino, &s->attr, s->to_set, s->has_fi ? &s->fi : NULL);
}

void ovl_defer_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct setattr_job *s;

	if (may_copy_up(req, ino) && (s = NEW_JOB(struct setattr_job, run_setattr))) {
		*s = (struct setattr_job){ s->j, req, ino, *attr, to_set, fi != NULL,
					   fi ? *fi : (struct fuse_file_info){ 0 } };
		DEFER(req, s);
	}
	ovl_setattr(req, ino, attr, to_set, fi);
}

struct link_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino, newparent;
	const char *newname;
};

static void run_link(struct ovl_job *j)
{
	struct link_job *l = (struct link_job *)j;

	ovl_link(l->req, l->ino, l->newparent, l->newname);
}

void ovl_defer_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct link_job *l;

	if (may_copy_up(req, ino) && (l = NEW_JOB(struct link_job, run_link))) {
		*l = (struct link_job){ l->j, req, ino, newparent, newname };
		DEFER(req, l);
	}
	ovl_link(req, ino, newparent, newname);
}

struct rename_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t parent, newparent;
	const char *name, *newname;
	unsigned int flags;
};

static void run_rename(struct ovl_job *j)
{
	struct rename_job *r = (struct rename_job *)j;

	ovl_rename(r->req, r->parent, r->name, r->newparent, r->newname, r->flags);
}

/* The source is copied up unless known to be upper already (as it is when
 * the kernel looked it up through us, which it does before a rename). */
static bool rename_may_copy_up(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	OVL_INODE p = NULL;
	OVL_INODE n = NULL;

	if (!on_ring(req) || !(p = ovl_inode_get(ovl_fs(req), parent)))
		return false;
	n = ovl_dentry_find(p, name);
	return !n || !ovl_inode_is_upper(n);
}

void ovl_defer_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct rename_job *r;

	if (rename_may_copy_up(req, parent, name) && (r = NEW_JOB(struct rename_job, run_rename))) {
		*r = (struct rename_job){ r->j, req, parent, newparent, name, newname, flags };
		DEFER(req, r);
	}
	ovl_rename(req, parent, name, newparent, newname, flags);
}

struct xattr_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino;
	const char *name, *value;
	size_t size;
	int flags;
};

static void run_setxattr(struct ovl_job *j)
{
	struct xattr_job *x = (struct xattr_job *)j;

	ovl_setxattr(x->req, x->ino, x->name, x->value, x->size, x->flags);
}

void ovl_defer_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct xattr_job *x;

	if (may_copy_up(req, ino) && (x = NEW_JOB(struct xattr_job, run_setxattr))) {
		*x = (struct xattr_job){ x->j, req, ino, name, value, size, flags };
		DEFER(req, x);
	}
	ovl_setxattr(req, ino, name, value, size, flags);
}

static void run_removexattr(struct ovl_job *j)
{
	struct xattr_job *x = (struct xattr_job *)j;

	ovl_removexattr(x->req, x->ino, x->name);
}

void ovl_defer_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct xattr_job *x;

	if (may_copy_up(req, ino) && (x = NEW_JOB(struct xattr_job, run_removexattr))) {
		*x = (struct xattr_job){ x->j, req, ino, name, NULL, 0, 0 };
		DEFER(req, x);
	}
	ovl_removexattr(req, ino, name);
}

/* fsync and fsyncdir */
struct sync_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino;
	int datasync;
	struct fuse_file_info fi;
};

static void run_fsync(struct ovl_job *j)
{
	struct sync_job *s = (struct sync_job *)j;

	ovl_fsync(s->req, s->ino, s->datasync, &s->fi);
}

static void run_fsyncdir(struct ovl_job *j)
{
	struct sync_job *s = (struct sync_job *)j;

	ovl_fsyncdir(s->req, s->ino, s->datasync, &s->fi);
}

void ovl_defer_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct sync_job *s;

	if (on_ring(req) && (s = NEW_JOB(struct sync_job, run_fsync))) {
		*s = (struct sync_job){ s->j, req, ino, datasync, *fi };
		DEFER(req, s);
	}
	ovl_fsync(req, ino, datasync, fi);
}

void ovl_defer_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct sync_job *s;

	if (on_ring(req) && (s = NEW_JOB(struct sync_job, run_fsyncdir))) {
		*s = (struct sync_job){ s->j, req, ino, datasync, *fi };
		DEFER(req, s);
	}
	ovl_fsyncdir(req, ino, datasync, fi);
}

struct fallocate_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino;
	int mode;
	off_t off, len;
	struct fuse_file_info fi;
};

static void run_fallocate(struct ovl_job *j)
{
	struct fallocate_job *f = (struct fallocate_job *)j;

	ovl_fallocate(f->req, f->ino, f->mode, f->off, f->len, &f->fi);
}

void ovl_defer_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fallocate_job *f;

	if (on_ring(req) && (f = NEW_JOB(struct fallocate_job, run_fallocate))) {
		*f = (struct fallocate_job){ f->j, req, ino, mode, off, len, *fi };
		DEFER(req, f);
	}
	ovl_fallocate(req, ino, mode, off, len, fi);
}

struct cfr_job {
	struct ovl_job j;
	fuse_req_t req;
	fuse_ino_t ino_in, ino_out;
	off_t off_in, off_out;
	struct fuse_file_info fi_in, fi_out;
	size_t len;
	int flags;
};

static void run_copy_file_range(struct ovl_job *j)
{
	struct cfr_job *c = (struct cfr_job *)j;

	ovl_copy_file_range(c->req, c->ino_in, c->off_in, &c->fi_in, c->ino_out, c->off_out,
			    &c->fi_out, c->len, c->flags);
}

void ovl_defer_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct cfr_job *c;

	if (on_ring(req) && (c = NEW_JOB(struct cfr_job, run_copy_file_range))) {
		*c = (struct cfr_job){ c->j, req, ino_in, ino_out, off_in, off_out, *fi_in, *fi_out,
				       len, flags };
		DEFER(req, c);
	}
	ovl_copy_file_range(req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags);
}
