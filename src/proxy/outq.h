/* SPDX-License-Identifier: ISC */
/* An ordered write queue on one stream, with batching. Bytes are first offered to the socket
 * directly (one writev, no copy) when nothing is queued; only what the kernel does not take is
 * copied, so a fast path never copies a body byte and a slow peer costs at most the queue.
 * Producers watch outq_queued() for backpressure (stop reading the other side above
 * OUTQ_HIGH_WATER) and get on_drain when a write completes. Loop thread only. */
#ifndef PROXY_OUTQ_H
#define PROXY_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/buf.h"

#define OUTQ_HIGH_WATER (256 * 1024)
#define OUTQ_BATCH_IOV 64
#define OUTQ_BATCH_COPY 16384

struct outq;
typedef void (*outq_drain_cb)(struct outq *q, int status);

struct outq {
    uv_stream_t *stream;    /* borrowed: the handle written to */
    uv_write_t *req;        /* owned: the write in flight, allocated only while writing */
    struct buf inflight;    /* owned: bytes handed to uv_write */
    struct buf pending;     /* owned: bytes queued behind them */
    bool writing;           /* req is in flight */
    bool hold;              /* not connected yet: queue only */
    int err;                /* sticky: first write error (negative errno), 0 if none */
    uint64_t bytes;         /* bytes accepted so far (sent or queued) */
    outq_drain_cb on_drain; /* after each completed write (status < 0: failed) */
    void *data;             /* the owner */
};

/* One batch of buffers gathered while parsing one read, flushed into one queue at once. */
struct outq_batch {
    struct outq *q; /* the queue the gathered buffers go to; NULL when empty */
    uv_buf_t iov[OUTQ_BATCH_IOV];
    unsigned n;
    size_t used; /* bytes of copy[] in use */
    char copy[OUTQ_BATCH_COPY];
};

void outq_init(struct outq *q, uv_stream_t *stream, outq_drain_cb cb, void *data);
/* Frees the buffers; only once the stream is closed (its write callbacks have run). */
void outq_fini(struct outq *q);

/* Queues <n> buffers (copied if they cannot be written at once). Returns 0 or q->err. */
int outq_send(struct outq *q, const uv_buf_t *bufs, unsigned n);
/* Starts writing what was queued while q->hold was set. */
void outq_release(struct outq *q);
/* Bytes not yet handed to the kernel. */
size_t outq_queued(const struct outq *q);
bool outq_idle(const struct outq *q);

/* Adds bytes that stay valid until the next flush (borrowed) or copies them. Switching queues
 * flushes the previous one. */
void outq_batch_add(struct outq_batch *b, struct outq *q, const void *p, size_t n);
void outq_batch_copy(struct outq_batch *b, struct outq *q, const void *p, size_t n);
/* Sends what was gathered; errors are left in the queue's err. */
void outq_batch_flush(struct outq_batch *b);

#endif /* PROXY_OUTQ_H */
