/* SPDX-License-Identifier: ISC */
/* A growable byte buffer. Always NUL-terminated after len (not counted), so a buf holding text
 * can be passed to C string functions. */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);

/* Ensures room for <n> more bytes (plus the terminator). */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first <n> bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);

/* Hands the data to the caller (who frees it) and leaves <b> empty. Never NULL. */
char *buf_take(struct buf *b);

#endif /* COMMON_BUF_H */
