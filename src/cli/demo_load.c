/* SPDX-License-Identifier: ISC */
/* The demo's load generator (see demo_load.h). One thread, one loop, one state machine per
 * client connection:
 *
 *   CONNECTING ──connected──▶ REQUEST ──response complete, keep-alive──▶ REQUEST
 *       ▲                        │ Connection: close, error, timeout
 *       └──── BACKOFF ◀── CLOSING (handle closed) ◀─┘       (budget or stop: stays closed)
 *
 * Counters live in struct demo_load under its mutex; the loop thread is the only writer. */
#include "cli/demo_load.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1.h"
#include "common/mem.h"

#define BACKOFF_MS 20 /* after a failed connection, before the next connect */

enum lconn_state {
    LCONN_CONNECTING = 0, /* connect in flight */
    LCONN_REQUEST,        /* request written or being written, waiting for the answer */
    LCONN_CLOSING,        /* tcp handle closing; then BACKOFF or gone */
    LCONN_BACKOFF,        /* waiting before the next connect */
    LCONN_DONE,           /* nothing more to do (budget, time or stop) */
};

struct lconn {
    struct demo_load *l;
    enum lconn_state state;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;            /* request timeout, or backoff */
    struct http1_parser *parser; /* owned */
    uint64_t t0_ns;              /* this request's start */
    int status;                  /* response status, 0 before the head */
    bool keep_alive;             /* from the response head */
    bool complete;               /* on_complete ran for this request */
    bool budgeted;               /* the next request's budget was taken at connect */
    char body[64];               /* the first body bytes */
    size_t body_len;
    char rbuf[16384];
};

struct demo_load {
    struct demo_load_conf conf;
    char *path;
    struct addr addr;
    char *request; /* the serialised request, sent on every connection */
    size_t request_len;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;
    uv_timer_t deadline;
    struct lconn *conns; /* conf.connections entries */
    unsigned open_conns; /* connections not yet DONE */
    bool stopping;
    atomic_uint phase;
    uv_mutex_t mu; /* guards snap */
    struct demo_load_snapshot snap;
};

static void start_connect(struct lconn *c);
static void send_request(struct lconn *c);

static uint64_t
now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static size_t
bucket_of(uint64_t us)
{
    double bound = 50.0;

    for (size_t k = 0; k < DEMO_LOAD_BUCKETS - 1; k++, bound *= 1.1)
        if ((double)us <= bound)
            return k;
    return DEMO_LOAD_BUCKETS - 1;
}

uint64_t
demo_load_quantile_us(const struct demo_load_phase *p, double q)
{
    uint64_t n = 0, seen = 0, want;
    double bound = 50.0;

    for (size_t k = 0; k < DEMO_LOAD_BUCKETS; k++)
        n += p->hist[k];
    if (n == 0)
        return 0;
    want = (uint64_t)(q * (double)n + 0.999999);
    if (want == 0)
        want = 1;
    for (size_t k = 0; k < DEMO_LOAD_BUCKETS; k++, bound *= 1.1) {
        seen += p->hist[k];
        if (seen >= want)
            return (uint64_t)bound;
    }
    return (uint64_t)bound;
}

uint64_t
demo_load_total(const struct demo_load_phase *p)
{
    return p->ok + p->non2xx + p->errors;
}

/* ---- counting ---- */

static void
version_of(const struct lconn *c, char *out, size_t size)
{
    size_t end = 0, start;

    while (end < c->body_len && c->body[end] != '\n' && c->body[end] != '\r')
        end++;
    start = end;
    while (start > 0 && c->body[start - 1] != ' ')
        start--;
    out[0] = '\0';
    if (end > start && end - start < size) {
        memcpy(out, c->body + start, end - start);
        out[end - start] = '\0';
    }
}

static void
count_version(struct demo_load_snapshot *s, const char *name, int status, uint64_t t)
{
    size_t i;

    for (i = 0; i < s->nversions; i++)
        if (strcmp(s->versions[i].name, name) == 0)
            break;
    if (i == s->nversions) {
        if (s->nversions == DEMO_LOAD_MAX_VERSIONS)
            return;
        snprintf(s->versions[i].name, sizeof(s->versions[i].name), "%s", name);
        s->versions[i].first_ms = t;
        s->nversions++;
    }
    s->versions[i].count++;
    s->versions[i].errors += status >= 500;
    s->versions[i].last_ms = t;
}

static void
count_answer(struct lconn *c)
{
    struct demo_load *l = c->l;
    uint64_t us = (uv_hrtime() - c->t0_ns) / 1000u;
    struct demo_load_phase *p = &l->snap.phases[atomic_load(&l->phase)];
    char version[32];

    version_of(c, version, sizeof(version));
    uv_mutex_lock(&l->mu);
    if (c->status >= 200 && c->status < 300)
        p->ok++;
    else
        p->non2xx++;
    p->hist[bucket_of(us)]++;
    if (version[0] != '\0')
        count_version(&l->snap, version, c->status, now_ms());
    uv_mutex_unlock(&l->mu);
}

static void
count_error(struct lconn *c)
{
    struct demo_load *l = c->l;

    uv_mutex_lock(&l->mu);
    l->snap.phases[atomic_load(&l->phase)].errors++;
    uv_mutex_unlock(&l->mu);
}

/* Takes one request from the budget; false when it is spent. */
static bool
take_budget(struct demo_load *l)
{
    bool ok;

    uv_mutex_lock(&l->mu);
    ok = l->snap.sent < l->conf.max_requests;
    if (ok)
        l->snap.sent++;
    uv_mutex_unlock(&l->mu);
    return ok;
}

/* ---- connection state machine ---- */

/* The only place that assigns c->state. */
static void
lconn_enter(struct lconn *c, enum lconn_state next)
{
    ASSERT(c->state != LCONN_DONE);
    c->state = next;
}

static void
on_done_timer_closed(uv_handle_t *h)
{
    struct lconn *c = h->data;
    struct demo_load *l = c->l;

    if (--l->open_conns == 0) {
        uv_timer_stop(&l->deadline);
        uv_mutex_lock(&l->mu);
        l->snap.finished = true;
        uv_mutex_unlock(&l->mu);
    }
}

/* The connection is finished for good: its tcp handle is already closed. */
static void
lconn_done(struct lconn *c)
{
    lconn_enter(c, LCONN_DONE);
    uv_close((uv_handle_t *)&c->timer, on_done_timer_closed);
}

static void
on_backoff(uv_timer_t *t)
{
    struct lconn *c = t->data;

    if (c->l->stopping) {
        lconn_done(c);
        return;
    }
    start_connect(c);
}

static void
on_tcp_closed(uv_handle_t *h)
{
    struct lconn *c = h->data;

    if (c->l->stopping || c->l->snap.sent >= c->l->conf.max_requests) {
        lconn_done(c);
        return;
    }
    lconn_enter(c, LCONN_BACKOFF);
    uv_timer_start(&c->timer, on_backoff, c->status == -1 ? BACKOFF_MS : 0, 0);
}

/* Closes the tcp handle; <failed>: counted as a socket error and followed by a backoff. */
static void
lconn_close(struct lconn *c, bool failed)
{
    if (c->state == LCONN_CLOSING || c->state == LCONN_DONE || c->state == LCONN_BACKOFF)
        return;
    if (failed)
        count_error(c); /* a refused connect is a failed request too: it was budgeted */
    c->status = failed ? -1 : 0;
    uv_timer_stop(&c->timer);
    lconn_enter(c, LCONN_CLOSING);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

static int
on_head(void *ud, struct http1_head *head)
{
    struct lconn *c = ud;

    c->status = head->status;
    c->keep_alive = head->keep_alive;
    return HTTP1_OK;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct lconn *c = ud;
    size_t room = sizeof(c->body) - c->body_len;

    if (len > room)
        len = room;
    memcpy(c->body + c->body_len, data, len);
    c->body_len += len;
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t ntrailers)
{
    struct lconn *c = ud;

    (void)trailers;
    (void)ntrailers;
    c->complete = true;
    return HTTP1_PAUSE;
}

static const struct http1_callbacks parser_cbs = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

static void
answer_complete(struct lconn *c)
{
    count_answer(c);
    if (!c->keep_alive || c->l->stopping) {
        lconn_close(c, false);
        return;
    }
    http1_parser_resume(c->parser);
    send_request(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct lconn *c = h->data;

    (void)suggested;
    *b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct lconn *c = s->data;
    size_t used = 0;
    int rc;

    if (c->state != LCONN_REQUEST)
        return;
    if (n == UV_EOF) {
        rc = http1_parser_finish(c->parser);
        if (rc == 0 && c->complete)
            count_answer(c);
        lconn_close(c, !(rc == 0 && c->complete));
        return;
    }
    if (n < 0) {
        lconn_close(c, true);
        return;
    }
    rc = http1_parser_feed(c->parser, b->base, (size_t)n, &used);
    if (rc < 0 || (c->complete && used < (size_t)n)) {
        lconn_close(c, true); /* invalid, or bytes nobody asked for */
        return;
    }
    if (c->complete)
        answer_complete(c);
}

static void
on_request_timeout(uv_timer_t *t)
{
    lconn_close(t->data, true);
}

static void
on_written(uv_write_t *req, int status)
{
    struct lconn *c = req->data;

    if (status < 0 && c->state == LCONN_REQUEST)
        lconn_close(c, true);
}

static void
send_request(struct lconn *c)
{
    struct demo_load *l = c->l;
    uv_buf_t b = uv_buf_init(l->request, (unsigned)l->request_len);

    if (l->stopping || (!c->budgeted && !take_budget(l))) {
        lconn_close(c, false);
        return;
    }
    c->budgeted = false;
    c->t0_ns = uv_hrtime();
    c->status = 0;
    c->complete = false;
    c->body_len = 0;
    http1_parser_set_request_method(c->parser, "GET");
    lconn_enter(c, LCONN_REQUEST);
    uv_timer_start(&c->timer, on_request_timeout, l->conf.timeout_ms, 0);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        lconn_close(c, true);
}

static void
on_connected(uv_connect_t *req, int status)
{
    struct lconn *c = req->data;

    if (c->state != LCONN_CONNECTING)
        return;
    if (status < 0) {
        lconn_close(c, true); /* the budgeted attempt failed: one error */
        return;
    }
    uv_timer_stop(&c->timer);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        lconn_close(c, true);
        return;
    }
    send_request(c);
}

static void
start_connect(struct lconn *c)
{
    struct demo_load *l = c->l;

    if (!take_budget(l)) { /* taken here so that a refused connect is a failed request */
        lconn_done(c);
        return;
    }
    c->budgeted = true; /* the first request on this connection uses it */
    lconn_enter(c, LCONN_CONNECTING);
    http1_parser_reset(c->parser);
    uv_tcp_init(&l->loop, &c->tcp);
    c->tcp.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    c->t0_ns = uv_hrtime();
    uv_timer_start(&c->timer, on_request_timeout, l->conf.timeout_ms, 0);
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&l->addr.ss, on_connected) < 0)
        lconn_close(c, true);
}

/* ---- the thread ---- */

static void
stop_all(struct demo_load *l)
{
    if (l->stopping)
        return;
    l->stopping = true;
    for (unsigned i = 0; i < l->conf.connections; i++) {
        struct lconn *c = &l->conns[i];

        switch (c->state) {
        case LCONN_CONNECTING:
        case LCONN_REQUEST:
            c->status = 0;
            uv_timer_stop(&c->timer);
            lconn_enter(c, LCONN_CLOSING);
            uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
            break;
        case LCONN_BACKOFF:
            uv_timer_stop(&c->timer);
            lconn_done(c);
            break;
        case LCONN_CLOSING:
        case LCONN_DONE:
            break;
        }
    }
}

/* The only way the loop ends: the async handle keeps it alive until demo_load_stop. */
static void
on_stop(uv_async_t *a)
{
    struct demo_load *l = a->data;

    stop_all(l);
    uv_close((uv_handle_t *)&l->stop_async, NULL);
    uv_close((uv_handle_t *)&l->deadline, NULL);
}

static void
on_deadline(uv_timer_t *t)
{
    stop_all(t->data);
}

static void
run_thread(void *arg)
{
    struct demo_load *l = arg;

    for (unsigned i = 0; i < l->conf.connections; i++) {
        struct lconn *c = &l->conns[i];

        c->l = l;
        c->parser = http1_parser_new(HTTP1_RESPONSE, NULL, &parser_cbs, c);
        uv_timer_init(&l->loop, &c->timer);
        c->timer.data = c;
        c->creq.data = c;
        c->wreq.data = c;
        start_connect(c);
    }
    uv_run(&l->loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < l->conf.connections; i++)
        http1_parser_free(l->conns[i].parser);
}

int
demo_load_start(const struct demo_load_conf *conf, struct demo_load **out, struct err *err)
{
    struct demo_load *l = mem_calloc(1, sizeof(*l));
    char host[ADDR_TEXT_MAX];
    int rc;

    l->conf = *conf;
    if (addr_parse(&l->addr, conf->addr) < 0 || addr_is_unix(&l->addr)) {
        free(l);
        return err_set(err, -EINVAL, "load: bad address %s", conf->addr);
    }
    if (conf->connections == 0 || conf->connections > 1024) {
        free(l);
        return err_set(err, -EINVAL, "load: connections must be 1..1024");
    }
    addr_host(&l->addr, host, sizeof(host));
    l->path = mem_strdup(conf->path);
    l->conf.path = l->path;
    l->conf.addr = NULL;
    {
        struct buf b;

        buf_init(&b);
        buf_appendf(&b, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: cutover-demo\r\n\r\n",
                    l->path, host, addr_port(&l->addr));
        l->request_len = b.len;
        l->request = buf_take(&b);
    }
    l->conns = mem_calloc(conf->connections, sizeof(*l->conns));
    l->open_conns = conf->connections;
    uv_mutex_init(&l->mu);
    uv_loop_init(&l->loop);
    uv_async_init(&l->loop, &l->stop_async, on_stop);
    l->stop_async.data = l;
    uv_timer_init(&l->loop, &l->deadline);
    l->deadline.data = l;
    uv_timer_start(&l->deadline, on_deadline, conf->max_ms, 0);
    if ((rc = uv_thread_create(&l->thread, run_thread, l)) < 0) {
        err_set(err, rc, "load: cannot start its thread: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&l->stop_async, NULL);
        uv_close((uv_handle_t *)&l->deadline, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
        uv_mutex_destroy(&l->mu);
        free(l->conns);
        free(l->request);
        free(l->path);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void
demo_load_set_phase(struct demo_load *l, unsigned phase)
{
    ASSERT(phase < DEMO_LOAD_MAX_PHASES);
    atomic_store(&l->phase, phase);
}

void
demo_load_snapshot(struct demo_load *l, struct demo_load_snapshot *out)
{
    uv_mutex_lock(&l->mu);
    *out = l->snap;
    uv_mutex_unlock(&l->mu);
}

void
demo_load_stop(struct demo_load *l)
{
    if (l == NULL)
        return;
    uv_async_send(&l->stop_async);
    uv_thread_join(&l->thread);
    uv_loop_close(&l->loop);
    uv_mutex_destroy(&l->mu);
    free(l->conns);
    free(l->request);
    free(l->path);
    free(l);
}
