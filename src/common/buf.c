/* SPDX-License-Identifier: ISC */
/* Growable byte buffer. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
buf_fini(struct buf *b)
{
    FREE_AND_NULL(b->data);
    b->len = 0;
    b->cap = 0;
}

void
buf_reserve(struct buf *b, size_t n)
{
    size_t need = b->len + n + 1;
    size_t cap = b->cap == 0 ? 64 : b->cap;

    if (need <= b->cap)
        return;
    while (cap < need)
        cap *= 2;
    b->data = mem_realloc(b->data, cap);
    b->cap = cap;
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n != 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void
buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0);
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
buf_consume(struct buf *b, size_t n)
{
    ASSERT(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

char *
buf_take(struct buf *b)
{
    char *p;

    if (b->data == NULL)
        buf_reserve(b, 0);
    b->data[b->len] = '\0';
    p = b->data;
    buf_init(b);
    return p;
}
