/* SPDX-License-Identifier: ISC */
/* Upstream connections and the per-worker keep-alive pool. An upstream reports to exactly one
 * owner at a time; once it reports connected(<0) or failed() it has detached itself, and the
 * owner must forget it. */
#include "proxy/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/target_group.h"
#include "proxy/proxy_worker.h"

#define POOL_IDLE_TIMEOUT_MS 4000 /* below common backend keep-alive timeouts (Node: 5 s) */
#define POOL_MAX_IDLE 512         /* per target per worker */

struct pool_entry {
    struct target *target; /* ref */
    struct upstream *idle; /* LIFO */
    size_t nidle;
};

struct upstream_pool {
    struct proxy_worker *w;
    struct pool_entry *entries; /* owned */
    size_t n, cap;
    size_t live; /* upstreams not yet freed */
    bool freeing;
};

static const char *const state_names[] = {
    [UPSTREAM_CONNECTING] = "connecting",
    [UPSTREAM_ACTIVE] = "active",
    [UPSTREAM_IDLE] = "idle",
    [UPSTREAM_CLOSING] = "closing",
};

static void upstream_close(struct upstream *u);

static void
upstream_enter(struct upstream *u, enum upstream_state next)
{
    ASSERT(u->state != UPSTREAM_CLOSING);
    log_debug("upstream %s: %s -> %s", u->target->addr.text, state_names[u->state],
              state_names[next]);
    u->state = next;
}

static struct pool_entry *
entry_for(struct upstream_pool *pool, struct target *t)
{
    for (size_t i = 0; i < pool->n; i++) {
        if (pool->entries[i].target == t)
            return &pool->entries[i];
    }
    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? pool->cap * 2 : 8;
        pool->entries = mem_realloc(pool->entries, pool->cap * sizeof(*pool->entries));
    }
    pool->entries[pool->n] = (struct pool_entry){target_group_target_ref(t), NULL, 0};
    return &pool->entries[pool->n++];
}

static void
unlink_idle(struct upstream *u)
{
    struct pool_entry *e = entry_for(u->pool, u->target);

    for (struct upstream **pp = &e->idle; *pp != NULL; pp = &(*pp)->next_idle) {
        if (*pp == u) {
            *pp = u->next_idle;
            u->next_idle = NULL;
            e->nidle--;
            return;
        }
    }
}

/* ---- the response parser's callbacks ---- */

static int
on_resp_head(void *ud, struct http1_head *h)
{
    struct upstream *u = ud;

    u->interim = h->status >= 100 && h->status < 200 && h->status != 101;
    u->switching = h->status == 101;
    return u->ev->head(u->owner, h);
}

static int
on_resp_body(void *ud, const char *p, size_t n)
{
    struct upstream *u = ud;

    return u->ev->body(u->owner, p, n);
}

static int
on_resp_complete(void *ud, const struct http1_header *trailers, size_t ntrailers)
{
    struct upstream *u = ud;

    (void)trailers;
    (void)ntrailers;
    if (u->interim)
        return HTTP1_OK;
    if (u->switching) {
        u->tunnel = true; /* feed() stops at the first tunnel byte */
        return HTTP1_OK;
    }
    u->complete = true;
    return HTTP1_PAUSE;
}

static const struct http1_callbacks resp_callbacks = {
    .on_head = on_resp_head,
    .on_body = on_resp_body,
    .on_complete = on_resp_complete,
};

/* ---- handles ---- */

static void
on_closed(uv_handle_t *h)
{
    struct upstream *u = h->data;
    struct upstream_pool *pool = u->pool;

    if (--u->pending_closes > 0)
        return;
    http1_parser_free(u->parser);
    outq_fini(&u->out);
    target_group_target_unref(u->target);
    free(u);
    if (--pool->live == 0 && pool->freeing) {
        for (size_t i = 0; i < pool->n; i++)
            target_group_target_unref(pool->entries[i].target);
        free(pool->entries);
        free(pool);
    }
}

static void
upstream_close(struct upstream *u)
{
    if (u->state == UPSTREAM_CLOSING)
        return;
    if (u->state == UPSTREAM_IDLE)
        unlink_idle(u);
    u->state = UPSTREAM_CLOSING;
    u->ev = NULL;
    u->owner = NULL;
    uv_close((uv_handle_t *)&u->tcp, on_closed);
    uv_close((uv_handle_t *)&u->idle_timer, on_closed);
}

/* Detaches from the owner, closes, and tells the owner why. */
static void
fail(struct upstream *u, int status, const char *why)
{
    const struct upstream_events *ev = u->ev;
    void *owner = u->owner;

    upstream_close(u);
    if (ev != NULL)
        ev->failed(owner, status, why);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct upstream *u = h->data;

    (void)hint;
    *buf = uv_buf_init(u->w->rbuf, PROXY_WORKER_READ_BUF);
}

static void
feed_response(struct upstream *u, const char *p, size_t n)
{
    size_t used = 0;
    int rc;

    u->got_bytes = true;
    u->bytes_in += n;
    if (u->tunnel) {
        u->ev->tunnel(u->owner, p, n);
        return;
    }
    rc = http1_parser_feed(u->parser, p, n, &used);
    if (rc == -ECANCELED || u->state != UPSTREAM_ACTIVE)
        return; /* the owner let go from inside a callback */
    if (rc == -EPROTO) {
        fail(u, -EPROTO, http1_parser_reason(u->parser));
        return;
    }
    if (u->complete) {
        u->dirty = used < n; /* bytes after the response: never reuse */
        (void)u->ev->complete(u->owner);
        return;
    }
    if (u->tunnel && used < n)
        u->ev->tunnel(u->owner, p + used, n - used);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct upstream *u = s->data;

    if (u->state == UPSTREAM_CLOSING || nread == 0)
        return;
    if (u->state == UPSTREAM_IDLE) {
        /* an idle keep-alive connection spoke or closed: it cannot be reused */
        upstream_close(u);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF && !u->tunnel && http1_parser_finish(u->parser) == 0 && u->complete) {
            (void)u->ev->complete(u->owner);
            return;
        }
        fail(u, (int)nread, nread == UV_EOF ? "upstream closed" : uv_strerror((int)nread));
        return;
    }
    feed_response(u, buf->base, (size_t)nread);
    outq_batch_flush(&u->w->batch);
    if (u->state == UPSTREAM_ACTIVE && u->ev != NULL && u->ev->drained != NULL)
        u->ev->drained(u->owner);
}

static void
on_write_drained(struct outq *q, int status)
{
    struct upstream *u = q->data;

    if (u->state == UPSTREAM_CLOSING)
        return;
    if (status < 0) {
        fail(u, status, uv_strerror(status));
        return;
    }
    if (u->ev != NULL && u->ev->drained != NULL)
        u->ev->drained(u->owner);
}

static void
on_connected(uv_connect_t *req, int status)
{
    struct upstream *u = req->data;

    if (u->state == UPSTREAM_CLOSING)
        return;
    if (status < 0) {
        const struct upstream_events *ev = u->ev;
        void *owner = u->owner;
        upstream_close(u);
        ev->connected(owner, status);
        return;
    }
    uv_tcp_nodelay(&u->tcp, 1);
    upstream_enter(u, UPSTREAM_ACTIVE);
    if (uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) == 0)
        u->reading = true;
    outq_release(&u->out);
    u->ev->connected(u->owner, 0);
}

static void
on_idle_timeout(uv_timer_t *t)
{
    struct upstream *u = t->data;

    if (u->state == UPSTREAM_IDLE)
        upstream_close(u);
}

static struct upstream *
upstream_new(struct upstream_pool *pool, struct target *t)
{
    struct upstream *u = mem_calloc(1, sizeof(*u));

    u->w = pool->w;
    u->pool = pool;
    u->target = target_group_target_ref(t);
    u->parser = http1_parser_new(HTTP1_RESPONSE, NULL, &resp_callbacks, u);
    uv_tcp_init(&pool->w->loop, &u->tcp);
    uv_timer_init(&pool->w->loop, &u->idle_timer);
    u->tcp.data = u;
    u->idle_timer.data = u;
    u->pending_closes = 2;
    outq_init(&u->out, (uv_stream_t *)&u->tcp, on_write_drained, u);
    pool->live++;
    return u;
}

/* A connect that failed at once still reports from the loop: through the close callback. */
static void
on_closed_after_connect_error(uv_handle_t *h)
{
    struct upstream *u = h->data;
    const struct upstream_events *ev = u->ev;
    void *owner = u->owner;
    int status = (int)(intptr_t)u->connect_req.data;

    u->ev = NULL;
    u->owner = NULL;
    on_closed(h);
    if (ev != NULL)
        ev->connected(owner, status);
}

struct upstream *
upstream_acquire(struct upstream_pool *pool, struct target *t, const struct upstream_events *ev,
                 void *owner)
{
    struct pool_entry *e = entry_for(pool, t);
    struct upstream *u = e->idle;
    int rc;

    if (u != NULL) {
        e->idle = u->next_idle;
        e->nidle--;
        u->next_idle = NULL;
        uv_timer_stop(&u->idle_timer);
        upstream_enter(u, UPSTREAM_ACTIVE);
        u->ev = ev;
        u->owner = owner;
        u->reused = true;
        return u;
    }
    u = upstream_new(pool, t);
    u->ev = ev;
    u->owner = owner;
    u->out.hold = true;
    u->state = UPSTREAM_CONNECTING;
    u->connect_req.data = u;
    rc = uv_tcp_connect(&u->connect_req, &u->tcp, (const struct sockaddr *)&t->addr.ss,
                        on_connected);
    if (rc != 0) {
        u->state = UPSTREAM_CLOSING;
        u->connect_req.data = (void *)(intptr_t)rc;
        uv_close((uv_handle_t *)&u->tcp, on_closed_after_connect_error);
        uv_close((uv_handle_t *)&u->idle_timer, on_closed);
    }
    return u;
}

void
upstream_begin(struct upstream *u, const char *method)
{
    http1_parser_set_request_method(u->parser, method);
    u->got_bytes = false;
    u->complete = false;
    u->interim = false;
    u->switching = false;
    u->bytes_in = 0;
}

static bool
poolable(const struct upstream *u, bool reusable)
{
    enum target_state s = target_group_state(u->target);

    return reusable && !u->dirty && u->state == UPSTREAM_ACTIVE && !u->tunnel && u->complete &&
           outq_idle(&u->out) && u->out.err == 0 && s != TARGET_DRAINING && s != TARGET_UNUSED &&
           !u->w->stopping;
}

void
upstream_release(struct upstream *u, bool reusable)
{
    struct pool_entry *e;

    if (u->state == UPSTREAM_CLOSING)
        return;
    if (poolable(u, reusable)) {
        e = entry_for(u->pool, u->target);
        if (e->nidle < POOL_MAX_IDLE) {
            upstream_enter(u, UPSTREAM_IDLE);
            u->ev = NULL;
            u->owner = NULL;
            u->reused = false;
            http1_parser_resume(u->parser);
            if (!u->reading && uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) == 0)
                u->reading = true;
            uv_timer_start(&u->idle_timer, on_idle_timeout, POOL_IDLE_TIMEOUT_MS, 0);
            u->next_idle = e->idle;
            e->idle = u;
            e->nidle++;
            return;
        }
    }
    upstream_close(u);
}

void
upstream_pause(struct upstream *u, bool pause)
{
    if (u->state != UPSTREAM_ACTIVE)
        return;
    if (pause && u->reading) {
        uv_read_stop((uv_stream_t *)&u->tcp);
        u->reading = false;
    } else if (!pause && !u->reading) {
        if (uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) == 0)
            u->reading = true;
    }
}

struct upstream_pool *
upstream_pool_new(struct proxy_worker *w)
{
    struct upstream_pool *pool = mem_calloc(1, sizeof(*pool));

    pool->w = w;
    return pool;
}

static void
close_idle(struct pool_entry *e)
{
    while (e->idle != NULL)
        upstream_close(e->idle); /* unlinks itself */
}

void
upstream_pool_prune(struct upstream_pool *pool)
{
    size_t kept = 0;

    for (size_t i = 0; i < pool->n; i++) {
        struct pool_entry *e = &pool->entries[i];
        enum target_state s = target_group_state(e->target);
        if (s == TARGET_DRAINING || s == TARGET_UNUSED)
            close_idle(e);
        if (s == TARGET_UNUSED) {
            target_group_target_unref(e->target); /* deregistered: forget its entry */
            continue;
        }
        pool->entries[kept++] = *e;
    }
    pool->n = kept;
}

void
upstream_pool_free(struct upstream_pool *pool)
{
    for (size_t i = 0; i < pool->n; i++)
        close_idle(&pool->entries[i]);
    pool->freeing = true;
    if (pool->live == 0) {
        for (size_t i = 0; i < pool->n; i++)
            target_group_target_unref(pool->entries[i].target);
        free(pool->entries);
        free(pool);
    }
}
