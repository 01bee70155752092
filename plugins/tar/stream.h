/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stream.h: the uncompressed byte stream of a layer tarball (plain, gzip or
 * zstd), read once sequentially while indexing and then at random offsets.
 *
 * Offsets are positions in the uncompressed tar stream.  The sequential
 * reader records checkpoints (gzip: deflate block boundaries with their
 * 32 KiB window; zstd: frame starts) from which tar_stream_pread() later
 * resumes decompression near the offset it is asked for.
 */
#ifndef TAR_STREAM_H
#define TAR_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tar_stream;

/* The archive kinds, detected from the magic bytes of the file. */
enum tar_stream_kind { TAR_PLAIN, TAR_GZIP, TAR_ZSTD };

/* Takes fd (closed by tar_stream_free, or here on failure); label names
 * it in messages.  Returns 0 or -errno with a reason in why. */
int tar_stream_open(int fd, const char *label, struct tar_stream **out, char *why, size_t why_size);
void tar_stream_free(struct tar_stream *s);
enum tar_stream_kind tar_stream_kind(const struct tar_stream *s);

/*
 * Sequential reading, for the indexer.  tar_stream_read() returns the
 * count read (short only at the end of the data) or -EIO when the data
 * cannot be decompressed (tar_stream_error() says why).  tar_stream_skip()
 * returns 0, -EIO likewise, or -ENODATA when the stream ends first.
 */
ssize_t tar_stream_read(struct tar_stream *s, void *buf, size_t size);
int tar_stream_skip(struct tar_stream *s, uint64_t size);
uint64_t tar_stream_tell(const struct tar_stream *s);
const char *tar_stream_error(const struct tar_stream *s);
/* Indexing is over: frees the sequential reader's buffers. */
void tar_stream_index_done(struct tar_stream *s);

/* Random access: size bytes at off, all of them (the caller knows they
 * exist from the index), or -EIO. */
ssize_t tar_stream_pread(struct tar_stream *s, void *buf, size_t size, uint64_t off);

/* Checkpoint statistics, for tests and messages. */
size_t tar_stream_checkpoints(const struct tar_stream *s, uint64_t *span);

#endif
