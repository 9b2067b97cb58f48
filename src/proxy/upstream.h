/* SPDX-License-Identifier: ISC */
/* Connections to targets, and each worker's keep-alive pool of them (per target, reused LIFO,
 * closed on idle timeout, on upstream close, or when the target drains).
 *
 *   CONNECTING ──connected──▶ ACTIVE ──response done, reusable──▶ IDLE ──acquired──▶ ACTIVE
 *        └────────── error, timeout, not reusable, target draining ──────────▶ CLOSING ─▶ freed
 *
 * While ACTIVE the connection belongs to one client connection, which gets the response through
 * struct upstream_events; after a 101 it relays raw bytes (tunnel). Worker thread only. */
#ifndef PROXY_UPSTREAM_H
#define PROXY_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/outq.h"

struct http1_head;
struct http1_parser;
struct target;
struct proxy_worker;

enum upstream_state {
    UPSTREAM_CONNECTING = 0, /* connect in flight; writes are queued */
    UPSTREAM_ACTIVE,         /* owned by a client connection */
    UPSTREAM_IDLE,           /* in the pool, reading only to notice a close */
    UPSTREAM_CLOSING,        /* handles closing */
};

/* What a client connection hears from its upstream. Each returns HTTP1_OK, or HTTP1_ABORT when
 * the owner released or aborted the upstream from inside the call. */
struct upstream_events {
    void (*connected)(void *owner, int status); /* status < 0: connect failed */
    int (*head)(void *owner, struct http1_head *h);
    int (*body)(void *owner, const char *p, size_t n);
    int (*complete)(void *owner);
    void (*tunnel)(void *owner, const char *p, size_t n); /* after 101: raw bytes */
    /* EOF, reset or a bad response; <got_response>: response bytes had arrived */
    void (*failed)(void *owner, int status, const char *why);
    void (*drained)(void *owner); /* a write completed (backpressure) */
};

struct upstream {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t idle_timer; /* IDLE only: pool idle timeout */
    enum upstream_state state;
    struct proxy_worker *w;
    struct upstream_pool *pool;  /* borrowed: outlives every upstream */
    struct target *target;       /* ref */
    struct http1_parser *parser; /* owned: responses */
    struct outq out;             /* request bytes to the target */
    const struct upstream_events *ev;
    void *owner;    /* the client connection while ACTIVE/CONNECTING */
    bool reused;    /* came from the pool for this request */
    bool got_bytes; /* response bytes arrived for the current request */
    bool tunnel;    /* relaying raw bytes after 101 */
    bool reading;   /* uv_read_start is on */
    bool interim;   /* the last head was a 1xx (not 101) */
    bool complete;  /* the current response has ended */
    bool switching; /* the last head was a 101 */
    bool dirty;     /* bytes followed the response: never reuse */
    int pending_closes;
    uint64_t bytes_in;          /* response bytes read, current request */
    struct upstream *next_idle; /* pool list */
};

struct upstream_pool;

struct upstream_pool *upstream_pool_new(struct proxy_worker *w);
/* Closes every idle connection; frees once they are closed (the loop must run). */
void upstream_pool_free(struct upstream_pool *pool);
/* Closes the idle connections to targets that are draining or unused. */
void upstream_pool_prune(struct upstream_pool *pool);

/* An upstream to <t> for <owner>: an idle pooled one (ACTIVE now, reused = true, usable at
 * once), or a new one (CONNECTING; ev->connected runs later). Never NULL: a synchronous
 * connect error is reported through ev->connected from the loop. */
struct upstream *upstream_acquire(struct upstream_pool *pool, struct target *t,
                                  const struct upstream_events *ev, void *owner);

/* Before sending a request: the method decides whether the response has a body. */
void upstream_begin(struct upstream *u, const char *method);

/* The owner is done: back to the pool when <reusable> and the target is not draining, else
 * closed. No event runs for the owner after this. */
void upstream_release(struct upstream *u, bool reusable);

/* Flow control of the response: stop or resume reading the target. */
void upstream_pause(struct upstream *u, bool pause);

#endif /* PROXY_UPSTREAM_H */
