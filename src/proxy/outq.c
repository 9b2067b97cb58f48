/* SPDX-License-Identifier: ISC */
/* Write queue: try the socket first, copy the remainder, keep one uv_write in flight. */
#include "proxy/outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

#define KEEP_CAP 0 /* a drained queue frees its buffers: idle connections hold none */

void
outq_init(struct outq *q, uv_stream_t *stream, outq_drain_cb cb, void *data)
{
    memset(q, 0, sizeof(*q));
    q->stream = stream;
    q->on_drain = cb;
    q->data = data;
    buf_init(&q->inflight);
    buf_init(&q->pending);
}

void
outq_fini(struct outq *q)
{
    buf_fini(&q->inflight);
    buf_fini(&q->pending);
}

static void
trim(struct buf *b)
{
    if (b->len == 0 && b->cap > KEEP_CAP)
        buf_fini(b);
    else
        buf_reset(b);
}

static void on_written(uv_write_t *req, int status);

static void
start_write(struct outq *q)
{
    struct buf tmp;
    uv_buf_t ub;
    int rc;

    if (q->writing || q->hold || q->pending.len == 0 || q->err != 0)
        return;
    tmp = q->inflight;
    q->inflight = q->pending;
    q->pending = tmp;
    ub = uv_buf_init(q->inflight.data, (unsigned)q->inflight.len);
    q->req = mem_alloc(sizeof(*q->req));
    q->req->data = q;
    if ((rc = uv_write(q->req, q->stream, &ub, 1, on_written)) != 0) {
        FREE_AND_NULL(q->req);
        q->err = rc;
        return;
    }
    q->writing = true;
}

static void
on_written(uv_write_t *req, int status)
{
    struct outq *q = req->data;

    FREE_AND_NULL(q->req);
    q->writing = false;
    trim(&q->inflight);
    if (status < 0 && q->err == 0)
        q->err = status;
    if (q->err == 0)
        start_write(q);
    if (q->on_drain != NULL)
        q->on_drain(q, q->err);
}

static void
append(struct buf *b, const uv_buf_t *bufs, unsigned n, size_t skip)
{
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        buf_append(b, bufs[i].base + skip, len - skip);
        skip = 0;
    }
}

int
outq_send(struct outq *q, const uv_buf_t *bufs, unsigned n)
{
    size_t total = 0;
    int rc;

    if (q->err != 0)
        return q->err;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    q->bytes += total;
    if (q->writing || q->hold || q->pending.len > 0) {
        append(&q->pending, bufs, n, 0);
        return 0;
    }
    rc = uv_try_write(q->stream, bufs, n);
    if (rc == UV_EAGAIN || rc == UV_ENOSYS)
        rc = 0;
    if (rc < 0)
        return q->err = rc;
    if ((size_t)rc < total) {
        append(&q->pending, bufs, n, (size_t)rc);
        start_write(q);
    }
    return q->err;
}

void
outq_release(struct outq *q)
{
    q->hold = false;
    start_write(q);
}

size_t
outq_queued(const struct outq *q)
{
    return q->inflight.len + q->pending.len;
}

bool
outq_idle(const struct outq *q)
{
    return !q->writing && q->pending.len == 0;
}

void
outq_batch_flush(struct outq_batch *b)
{
    if (b->q != NULL && b->n > 0)
        (void)outq_send(b->q, b->iov, b->n);
    b->q = NULL;
    b->n = 0;
    b->used = 0;
}

static void
switch_to(struct outq_batch *b, struct outq *q, unsigned need_iov)
{
    if (b->q != q || b->n + need_iov > OUTQ_BATCH_IOV)
        outq_batch_flush(b);
    b->q = q;
}

void
outq_batch_add(struct outq_batch *b, struct outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    switch_to(b, q, 1);
    b->iov[b->n++] = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
}

void
outq_batch_copy(struct outq_batch *b, struct outq *q, const void *p, size_t n)
{
    uv_buf_t one;

    if (n == 0)
        return;
    switch_to(b, q, 1);
    if (n > sizeof(b->copy) - b->used) {
        outq_batch_flush(b);
        if (n > sizeof(b->copy)) {
            one = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
            (void)outq_send(q, &one, 1);
            return;
        }
        b->q = q;
    }
    memcpy(b->copy + b->used, p, n);
    /* merge with the previous iov when it ends where this copy starts */
    if (b->n > 0 && b->iov[b->n - 1].base + b->iov[b->n - 1].len == b->copy + b->used)
        b->iov[b->n - 1].len += n;
    else
        b->iov[b->n++] = uv_buf_init(b->copy + b->used, (unsigned)n);
    b->used += n;
}
