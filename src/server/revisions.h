/* SPDX-License-Identifier: ISC */
/* The revision store: bundles content-addressed by SHA-256 in a directory
 * (<dir>/<hex>.<type>). An upload streams into a temporary file while hashing; on finish the
 * file is fsync'd and renamed to its digest, so a bundle on disk is always complete and a
 * revision row never names a missing file (rows are written after revisions_upload_finish). */
#ifndef SERVER_REVISIONS_H
#define SERVER_REVISIONS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct revisions;
struct revisions_upload;

#define REVISIONS_HEX_LEN 64

/* Opens (creating) the store at <dir>. Returns 0 or -errno with the reason in <err>. */
int revisions_new(struct revisions **out, const char *dir, uint64_t max_size, struct err *err);
void revisions_free(struct revisions *r);

/* True for "tgz", "tar", "zip". */
int revisions_bundle_type_valid(const char *type);

/* Starts an upload of a <type> bundle. */
int revisions_upload_begin(struct revisions *r, const char *type, struct revisions_upload **out,
                           struct err *err);
/* Appends bytes. -EFBIG past max_size. */
int revisions_upload_write(struct revisions_upload *u, const char *data, size_t len,
                           struct err *err);
/* Completes the upload: <hex_out> (REVISIONS_HEX_LEN + 1) gets the digest and *size the byte
 * count. The upload is freed whatever the result. An empty bundle is -EINVAL. */
int revisions_upload_finish(struct revisions_upload *u, char *hex_out, uint64_t *size,
                            struct err *err);
/* Drops an unfinished upload and its temporary file. NULL is fine. */
void revisions_upload_abort(struct revisions_upload *u);

/* Opens the bundle <hex>.<type> for reading: *fd (the caller closes it) and *size. -ENOENT
 * if missing. */
int revisions_open(struct revisions *r, const char *hex, const char *type, int *fd, uint64_t *size,
                   struct err *err);

#endif /* SERVER_REVISIONS_H */
