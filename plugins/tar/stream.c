/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.c: random access into a plain, gzip or zstd compressed tarball.
 *
 * Plain archives are read with pread() at the offset asked for.
 *
 * gzip: a deflate stream can only be decoded from its start, unless the
 * decoder is handed, at a block boundary, the bits left over in the last
 * byte of the previous block and the 32 KiB of output that back-references
 * may reach.  So while the indexer reads the archive once, the decoder
 * stops at every block boundary (Z_BLOCK) and, every SPAN bytes of output,
 * records a checkpoint: the compressed offset, the leftover bit count and
 * the window (inflateGetDictionary).  A later read resumes a raw inflate
 * there (inflatePrime for the bits, inflateSetDictionary for the window).
 * The start of each gzip member is a checkpoint too (no window needed), so
 * multi-member files work.  Windows take 32 KiB each; at most MAX_WINDOWS
 * of them are kept (16 MiB): when a layer would need more, the span doubles
 * and every other checkpoint is dropped, so a 512 MiB layer keeps 1 MiB
 * spacing and a 2 GiB layer 4 MiB.
 *
 * zstd: frames are independent, so each frame start is a checkpoint (no
 * window), except that frames starting less than 64 KiB after the last
 * checkpoint are passed over (a frame per small file, as zstd:chunked
 * makes, would cost a checkpoint each for little gain), so checkpoints
 * take at most 32 bytes per 64 KiB of data.  A multi-frame archive thus
 * gets true random access; within one frame there is no way in
 * except from the frame start.  LIMITATION: inside a single large frame the
 * reader keeps its decoder where it stopped, so forward reads continue
 * cheaply, but a backward seek (outside the cached chunk) decompresses
 * again from the frame start.
 *
 * The random reader keeps its last decompressed chunk (OUT_SIZE bytes) as
 * a cache, so sequential reads of small pieces do not repeat work.
 *
 * Integrity: the indexing pass decompresses everything up to the end of
 * the tar data, so zlib and zstd have checked it then.  A read that later
 * fails to decompress (the file changed under us) gets -EIO and the
 * reader starts again from a checkpoint on the next read.  Resumed raw
 * deflate has no CRC to check, and a zstd frame's checksum comes only at
 * its end, so damage made after indexing may also read as wrong bytes.
 */
#include "stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* The sizes can be set small at build time (-D) so that a fuzzer or a
 * test exercises checkpoints, thinning and buffer refills on tiny inputs. */
#ifndef IN_SIZE
#define IN_SIZE (64 * 1024)
#endif
#ifndef OUT_SIZE
#define OUT_SIZE (256 * 1024)
#endif
#ifndef FIRST_SPAN
#define FIRST_SPAN (1024 * 1024)
#endif
#ifndef ZSTD_MIN_SPAN
#define ZSTD_MIN_SPAN (64 * 1024)
#endif
#ifndef MAX_WINDOWS
#define MAX_WINDOWS 512
#endif
#define WINDOW_SIZE 32768

/* A place where decompression can start.  gzip: window == NULL is the
 * start of a member (header included), else a block boundary with bits
 * unused bits in the byte before in.  zstd: a frame start. */
struct checkpoint {
	uint64_t out;
	uint64_t in;
	unsigned char *window;
	uint32_t window_len;
	uint8_t bits;
};

/* One decompressor with its input buffer and its output chunk (the
 * chunk holds uncompressed bytes [out_start, out_start + out_len)). */
struct decoder {
	struct tar_stream *s;
	bool record;     /* the indexer's: records checkpoints */
	bool active;     /* positioned somewhere valid */
	bool eof;
	bool mid_frame;  /* zstd: a frame is started and not finished */
	bool raw;        /* gzip: raw deflate (resumed at a block boundary) */
	int pending;     /* an error met after part of the chunk was made */
	bool z_ready;
	z_stream z;
	ZSTD_DStream *zs;
	unsigned char *in;
	size_t in_len, in_pos;
	uint64_t in_end; /* file offset just after in[in_len - 1] */
	unsigned char *out;
	size_t out_len, out_pos;
	uint64_t out_start;
};

struct tar_stream {
	int fd;
	enum tar_stream_kind kind;
	uint64_t file_size;
	struct checkpoint *cps;
	size_t ncps, cps_cap;
	size_t nwindows;
	uint64_t span;
	uint64_t last_cp_out;
	const char *err;
	char errbuf[128];
	struct decoder *seq;  /* the indexer's */
	struct decoder *rd;   /* the random reader's */
};

static ssize_t pread_full(int fd, void *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t r = pread(fd, (char *) buf + done, size - done, (off_t) (off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t) r;
	}
	return (ssize_t) done;
}

/* --- checkpoints --- */

static int cp_append(struct tar_stream *s, const struct checkpoint *cp)
{
	if (s->ncps == s->cps_cap) {
		size_t cap = s->cps_cap ? s->cps_cap * 2 : 64;
		struct checkpoint *n = realloc(s->cps, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		s->cps = n;
		s->cps_cap = cap;
	}
	s->cps[s->ncps++] = *cp;
	return 0;
}

/* Too many windows: double the span and keep only the window checkpoints
 * at least a span apart (member starts stay, they cost no window). */
static void cp_thin(struct tar_stream *s)
{
	size_t j = 0;
	uint64_t last = 0;

	s->span *= 2;
	s->nwindows = 0;
	for (size_t i = 0; i < s->ncps; i++) {
		struct checkpoint *cp = &s->cps[i];

		if (cp->window != NULL && cp->out - last < s->span) {
			free(cp->window);
			continue;
		}
		if (cp->window != NULL)
			s->nwindows++;
		last = cp->out;
		s->cps[j++] = *cp;
	}
	s->ncps = j;
	s->last_cp_out = last;
}

/* The last checkpoint at or before off (the first one is at 0). */
static const struct checkpoint *cp_find(const struct tar_stream *s, uint64_t off)
{
	size_t lo = 0, hi = s->ncps;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->cps[mid].out <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &s->cps[lo];
}

/* --- input --- */

static uint64_t in_offset(const struct decoder *d)
{
	return d->in_end - (d->in_len - d->in_pos);
}

/* Makes at least want bytes available in d->in (fewer at the end of the
 * file).  Returns the count available or -errno. */
static ssize_t in_fill(struct decoder *d, size_t want)
{
	size_t avail = d->in_len - d->in_pos;

	if (avail >= want)
		return (ssize_t) avail;
	memmove(d->in, d->in + d->in_pos, avail);
	d->in_len = avail;
	d->in_pos = 0;
	ssize_t r = pread_full(d->s->fd, d->in + avail, IN_SIZE - avail, d->in_end);
	if (r < 0)
		return r;
	d->in_len += (size_t) r;
	d->in_end += (uint64_t) r;
	return (ssize_t) d->in_len;
}

static int fail(struct decoder *d, const char *why)
{
	d->s->err = why;
	return -EIO;
}

/* --- gzip --- */

static int gz_checkpoint(struct decoder *d)
{
	struct tar_stream *s = d->s;
	struct checkpoint cp = {
		.out = d->out_start + d->out_len,
		.in = in_offset(d),
		.bits = (uint8_t) (d->z.data_type & 7),
	};
	uInt len = WINDOW_SIZE;

	cp.window = malloc(WINDOW_SIZE);
	if (cp.window == NULL)
		return -ENOMEM;
	if (inflateGetDictionary(&d->z, cp.window, &len) != Z_OK) {
		free(cp.window);
		return fail(d, "gzip: no window");
	}
	cp.window_len = len;
	if (cp_append(s, &cp) < 0) {
		free(cp.window);
		return -ENOMEM;
	}
	s->nwindows++;
	s->last_cp_out = cp.out;
	if (s->nwindows > MAX_WINDOWS)
		cp_thin(s);
	return 0;
}

/* A gzip member ended: skip a raw stream's trailer (gzip mode reads it
 * itself), then either another member starts or the data is over
 * (anything else after the last member is ignored, as gzip -d does with
 * zero padding). */
static int gz_member_end(struct decoder *d)
{
	if (d->raw) {
		ssize_t r = in_fill(d, 8);

		if (r < 0)
			return fail(d, "read error");
		if (r < 8)
			return fail(d, "gzip: truncated trailer");
		d->in_pos += 8;
	}
	ssize_t r = in_fill(d, 2);
	if (r < 0)
		return fail(d, "read error");
	if (r < 2 || d->in[d->in_pos] != 0x1f || d->in[d->in_pos + 1] != 0x8b) {
		d->eof = true;
		return 0;
	}
	if (d->record) {
		struct checkpoint cp = { .out = d->out_start + d->out_len, .in = in_offset(d) };

		if (cp_append(d->s, &cp) < 0)
			return -ENOMEM;
	}
	if (inflateReset2(&d->z, 31) != Z_OK)
		return fail(d, "gzip: reset failed");
	d->raw = false;
	return 0;
}

static bool gz_at_boundary(const struct decoder *d)
{
	/* 128: just after a block's end (or the header); 64: last block,
	 * after which only the trailer comes */
	return (d->z.data_type & 0xc0) == 0x80;
}

/* One inflate() step into the output chunk.  Returns 0 or -errno. */
static int gz_step(struct decoder *d)
{
	ssize_t avail = in_fill(d, 1);

	if (avail < 0)
		return fail(d, "read error");
	if (avail == 0)
		return fail(d, "gzip: truncated data");
	d->z.next_in = d->in + d->in_pos;
	d->z.avail_in = (uInt) avail;
	d->z.next_out = d->out + d->out_len;
	d->z.avail_out = (uInt) (OUT_SIZE - d->out_len);
	int ret = inflate(&d->z, Z_BLOCK);
	size_t used = (size_t) avail - d->z.avail_in;
	size_t made = OUT_SIZE - d->out_len - d->z.avail_out;

	d->in_pos += used;
	d->out_len += made;
	if (ret == Z_STREAM_END)
		return gz_member_end(d);
	if (ret == Z_BUF_ERROR && used == 0 && made == 0)
		return fail(d, "gzip: stuck");
	if (ret != Z_OK && ret != Z_BUF_ERROR) {
		snprintf(d->s->errbuf, sizeof(d->s->errbuf), "gzip: %s",
			 d->z.msg ? d->z.msg : ret == Z_MEM_ERROR ? "out of memory" : "corrupt data");
		return fail(d, d->s->errbuf);
	}
	if (d->record && gz_at_boundary(d)
	    && d->out_start + d->out_len - d->s->last_cp_out >= d->s->span)
		return gz_checkpoint(d);
	return 0;
}

static int gz_restart(struct decoder *d, const struct checkpoint *cp)
{
	if (!d->z_ready) {
		memset(&d->z, 0, sizeof(d->z));
		if (inflateInit2(&d->z, 31) != Z_OK)
			return fail(d, "gzip: init failed");
		d->z_ready = true;
	}
	d->raw = cp->window != NULL;
	if (inflateReset2(&d->z, d->raw ? -15 : 31) != Z_OK)
		return fail(d, "gzip: reset failed");
	if (!d->raw)
		return 0;
	if (cp->bits) {
		unsigned char byte;

		if (cp->in == 0 || pread_full(d->s->fd, &byte, 1, cp->in - 1) != 1)
			return fail(d, "read error");
		if (inflatePrime(&d->z, cp->bits, byte >> (8 - cp->bits)) != Z_OK)
			return fail(d, "gzip: prime failed");
	}
	if (inflateSetDictionary(&d->z, cp->window, cp->window_len) != Z_OK)
		return fail(d, "gzip: dictionary failed");
	return 0;
}

/* --- zstd --- */

static int zs_step(struct decoder *d)
{
	ssize_t avail = in_fill(d, 1);

	if (avail < 0)
		return fail(d, "read error");
	if (avail == 0) {
		if (d->mid_frame)
			return fail(d, "zstd: truncated data");
		d->eof = true;
		return 0;
	}
	ZSTD_inBuffer ib = { d->in, d->in_len, d->in_pos };
	ZSTD_outBuffer ob = { d->out, OUT_SIZE, d->out_len };
	size_t ret = ZSTD_decompressStream(d->zs, &ob, &ib);

	d->in_pos = ib.pos;
	d->out_len = ob.pos;
	if (ZSTD_isError(ret)) {
		snprintf(d->s->errbuf, sizeof(d->s->errbuf), "zstd: %s", ZSTD_getErrorName(ret));
		return fail(d, d->s->errbuf);
	}
	d->mid_frame = ret != 0;
	if (ret == 0 && d->record) {
		/* the next frame starts here; frames closer than
		 * ZSTD_MIN_SPAN to the last checkpoint are not worth one
		 * (zstd:chunked makes a frame per file) */
		struct tar_stream *s = d->s;
		struct checkpoint cp = { .out = d->out_start + d->out_len, .in = in_offset(d) };

		if (cp.out - s->last_cp_out >= ZSTD_MIN_SPAN) {
			if (cp_append(s, &cp) < 0)
				return -ENOMEM;
			s->last_cp_out = cp.out;
		}
	}
	return 0;
}

static int zs_restart(struct decoder *d)
{
	if (d->zs == NULL) {
		d->zs = ZSTD_createDStream();
		if (d->zs == NULL)
			return -ENOMEM;
	}
	if (ZSTD_isError(ZSTD_DCtx_reset(d->zs, ZSTD_reset_session_only)))
		return fail(d, "zstd: reset failed");
	return 0;
}

/* --- decoder --- */

static struct decoder *dec_new(struct tar_stream *s, bool record)
{
	struct decoder *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->s = s;
	d->record = record;
	d->in = malloc(IN_SIZE);
	d->out = malloc(OUT_SIZE);
	if (d->in == NULL || d->out == NULL) {
		free(d->in);
		free(d->out);
		free(d);
		return NULL;
	}
	return d;
}

static void dec_free(struct decoder *d)
{
	if (d == NULL)
		return;
	if (d->z_ready)
		inflateEnd(&d->z);
	ZSTD_freeDStream(d->zs);
	free(d->in);
	free(d->out);
	free(d);
}

/* Positions d at checkpoint cp with an empty chunk. */
static int dec_restart(struct decoder *d, const struct checkpoint *cp)
{
	int ret = 0;

	d->active = false;
	d->eof = false;
	d->pending = 0;
	d->mid_frame = false;
	d->in_len = d->in_pos = 0;
	d->in_end = cp->in;
	d->out_len = d->out_pos = 0;
	d->out_start = cp->out;
	if (d->s->kind == TAR_GZIP)
		ret = gz_restart(d, cp);
	else if (d->s->kind == TAR_ZSTD)
		ret = zs_restart(d);
	if (ret == 0)
		d->active = true;
	return ret;
}

/* Drops the current chunk and decompresses the next one (as full as the
 * data allows).  Returns the count made, 0 at the end, or -errno. */
static ssize_t dec_next_chunk(struct decoder *d)
{
	d->out_start += d->out_len;
	d->out_len = d->out_pos = 0;
	if (d->pending) {
		int ret = d->pending;

		d->pending = 0;
		d->active = false;
		return ret;
	}
	if (d->s->kind == TAR_PLAIN) {
		ssize_t r = pread_full(d->s->fd, d->out, OUT_SIZE, d->out_start);

		if (r < 0) {
			d->active = false;
			return fail(d, "read error");
		}
		d->out_len = (size_t) r;
		return r;
	}
	while (d->out_len < OUT_SIZE && !d->eof) {
		int ret = d->s->kind == TAR_GZIP ? gz_step(d) : zs_step(d);

		if (ret < 0 && d->out_len > 0) {
			/* give what was made first: the tar stream may
			 * end before the damage (garbage after the data) */
			d->pending = ret;
			break;
		}
		if (ret < 0) {
			d->active = false;
			return ret;
		}
	}
	return (ssize_t) d->out_len;
}

/* --- public --- */

static enum tar_stream_kind detect(const unsigned char *m, size_t len)
{
	if (len >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		return TAR_GZIP;
	/* a zstd frame, or a skippable frame (0x184D2A50..5F) */
	if (len >= 4 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd && m[0] == 0x28)
		return TAR_ZSTD;
	if (len >= 4 && (m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18)
		return TAR_ZSTD;
	return TAR_PLAIN;
}

int tar_stream_open(int fd, const char *label, struct tar_stream **out, char *why, size_t why_size)
{
	unsigned char magic[4];
	struct stat st;
	struct tar_stream *s;
	struct checkpoint first = { 0 };
	ssize_t n;

	/* pread() at any offset is needed: no pipes or devices */
	int err = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
	if (err) {
		snprintf(why, why_size, "%s: %s", label, err == EINVAL ? "not a regular file" : strerror(err));
		close(fd);
		return -err;
	}
	n = pread_full(fd, magic, sizeof(magic), 0);
	s = calloc(1, sizeof(*s));
	if (n < 0 || s == NULL) {
		snprintf(why, why_size, "%s: %s", label, n < 0 ? strerror((int) -n) : "out of memory");
		free(s);
		close(fd);
		return n < 0 ? (int) n : -ENOMEM;
	}
	s->fd = fd;
	s->file_size = (uint64_t) st.st_size;
	s->kind = detect(magic, (size_t) n);
	s->span = FIRST_SPAN;
	s->seq = dec_new(s, true);
	s->rd = dec_new(s, false);
	if (s->seq == NULL || s->rd == NULL || cp_append(s, &first) < 0
	    || dec_restart(s->seq, &first) < 0) {
		snprintf(why, why_size, "%s: cannot start decompression", label);
		tar_stream_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void tar_stream_free(struct tar_stream *s)
{
	if (s == NULL)
		return;
	dec_free(s->seq);
	dec_free(s->rd);
	for (size_t i = 0; i < s->ncps; i++)
		free(s->cps[i].window);
	free(s->cps);
	close(s->fd);
	free(s);
}

enum tar_stream_kind tar_stream_kind(const struct tar_stream *s)
{
	return s->kind;
}

const char *tar_stream_error(const struct tar_stream *s)
{
	return s->err ? s->err : "read error";
}

uint64_t tar_stream_tell(const struct tar_stream *s)
{
	return s->seq->out_start + s->seq->out_pos;
}

ssize_t tar_stream_read(struct tar_stream *s, void *buf, size_t size)
{
	struct decoder *d = s->seq;
	size_t done = 0;

	while (done < size) {
		size_t avail = d->out_len - d->out_pos;

		if (avail == 0) {
			ssize_t r = dec_next_chunk(d);

			if (r < 0)
				return r;
			if (r == 0)
				break;
			continue;
		}
		if (avail > size - done)
			avail = size - done;
		memcpy((char *) buf + done, d->out + d->out_pos, avail);
		d->out_pos += avail;
		done += avail;
	}
	return (ssize_t) done;
}

int tar_stream_skip(struct tar_stream *s, uint64_t size)
{
	struct decoder *d = s->seq;

	while (size > 0) {
		uint64_t avail = d->out_len - d->out_pos;

		if (avail >= size) {
			d->out_pos += (size_t) size;
			return 0;
		}
		size -= avail;
		d->out_pos = d->out_len;
		if (s->kind == TAR_PLAIN) {
			/* no need to read what is skipped: just check it exists */
			uint64_t end;

			if (__builtin_add_overflow(d->out_start + d->out_len, size, &end)
			    || end > s->file_size) {
				d->out_start = s->file_size;
				d->out_len = d->out_pos = 0;
				return -ENODATA;
			}
			d->out_start = end;
			d->out_len = d->out_pos = 0;
			return 0;
		}
		ssize_t r = dec_next_chunk(d);
		if (r < 0)
			return (int) r;
		if (r == 0)
			return -ENODATA;
	}
	return 0;
}

void tar_stream_index_done(struct tar_stream *s)
{
	dec_free(s->seq);
	s->seq = NULL;
	s->err = NULL;
}

/* Copies what the reader's chunk holds of [off, off + size). */
static size_t rd_from_chunk(const struct decoder *d, void *buf, size_t size, uint64_t off)
{
	if (!d->active || off < d->out_start || off - d->out_start >= d->out_len)
		return 0;
	size_t at = (size_t) (off - d->out_start);
	size_t n = d->out_len - at;
	if (n > size)
		n = size;
	memcpy(buf, d->out + at, n);
	return n;
}

/* Brings the reader's chunk to the one holding off: onwards from where it
 * is when no checkpoint lies between, else from the nearest checkpoint. */
static int rd_seek(struct tar_stream *s, uint64_t off)
{
	struct decoder *d = s->rd;
	const struct checkpoint *cp = cp_find(s, off);
	uint64_t here = d->out_start + d->out_len;

	if (!d->active || here > off || cp->out > here) {
		int ret = dec_restart(d, cp);

		if (ret < 0)
			return ret;
	}
	for (;;) {
		ssize_t r = dec_next_chunk(d);

		if (r < 0)
			return (int) r;
		if (r == 0) {
			d->active = false;
			return -EIO;
		}
		if (off - d->out_start < d->out_len)
			return 0;
	}
}

ssize_t tar_stream_pread(struct tar_stream *s, void *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	if (s->kind == TAR_PLAIN) {
		ssize_t r = pread_full(s->fd, buf, size, off);

		if (r >= 0 && (size_t) r != size)
			return -EIO;
		return r < 0 ? -EIO : r;
	}
	while (done < size) {
		uint64_t at;

		if (__builtin_add_overflow(off, done, &at))
			return -EIO;
		size_t n = rd_from_chunk(s->rd, (char *) buf + done, size - done, at);
		if (n > 0) {
			done += n;
			continue;
		}
		int ret = rd_seek(s, at);
		if (ret < 0)
			return ret == -ENOMEM ? -ENOMEM : -EIO;
	}
	return (ssize_t) done;
}

size_t tar_stream_checkpoints(const struct tar_stream *s, uint64_t *span)
{
	if (span)
		*span = s->span;
	return s->ncps;
}
