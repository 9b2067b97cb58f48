/* SPDX-License-Identifier: ISC */
/* A client connection, from accept to the last close callback.
 *
 *   IDLE ──head──▶ CONNECTING ──connected──▶ WAITING ──response head──▶ RESPONDING
 *    ▲   (pooled upstream: straight to WAITING)   │ 101                  │ response done
 *    │                                            ▼                      │
 *    │                                          TUNNEL                   │
 *    └──────────── keep-alive: next request (pipelined bytes first) ◀────┘
 *   local answers (400/431/503/502/504) and Connection: close ──▶ LINGER ──written──▶ CLOSING
 *   error, timeout, client gone (any state) ──▶ CLOSING ──last handle closed──▶ freed
 *
 * A request takes the worker's current generation when its head is parsed and keeps it to its
 * end, so a configuration switch is a per-request decision and never closes a connection.
 * Request heads are always re-serialised (the client's bytes never reach a target), bodies are
 * relayed as the parser decodes them, with backpressure both ways (OUTQ_HIGH_WATER). */
#include "proxy/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "proxy/access_log.h"
#include "proxy/listener.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"
#include "proxy/upstream.h"
#include "proxy/proxy_worker.h"

enum conn_state {
    CONN_IDLE = 0,   /* waiting for a request head (keep-alive idle) */
    CONN_CONNECTING, /* target chosen, upstream connect in flight */
    CONN_WAITING,    /* request sent (its body may still stream), no response head yet */
    CONN_RESPONDING, /* relaying the response body */
    CONN_TUNNEL,     /* after 101: raw bytes both ways */
    CONN_LINGER,     /* the last response is queued: close once written */
    CONN_CLOSING,    /* handles closing; no new work */
};

enum conn_timeout {
    TO_NONE = 0,
    TO_IDLE,     /* the listener's idle_timeout, since the last byte either way */
    TO_CONNECT,  /* CONNECT_TIMEOUT_MS */
    TO_RESPONSE, /* the group's response_timeout once the request is sent */
    TO_LINGER,   /* LINGER_TIMEOUT_MS */
};

static const struct {
    const char *name;
    enum conn_timeout timeout;
} state_info[] = {
    [CONN_IDLE] = {"idle", TO_IDLE},           [CONN_CONNECTING] = {"connecting", TO_CONNECT},
    [CONN_WAITING] = {"waiting", TO_RESPONSE}, [CONN_RESPONDING] = {"responding", TO_IDLE},
    [CONN_TUNNEL] = {"tunnel", TO_IDLE},       [CONN_LINGER] = {"linger", TO_LINGER},
    [CONN_CLOSING] = {"closing", TO_NONE},
};

#define CONNECT_TIMEOUT_MS 5000
#define LINGER_TIMEOUT_MS 5000
#define RETIRE_IDLE_MS 1000  /* retiring: an idle keep-alive connection closes after this */
#define HELD_MAX (64 * 1024) /* pipelined bytes kept while a request is in flight */
#define TIMER_SLACK_MS 50

/* One request/response exchange. Reset for every request. */
struct exchange {
    struct proxy_conf *conf;                 /* ref: the generation the request took */
    const struct proxy_conf_listener *lconf; /* borrowed: conf */
    struct target_group *group;              /* borrowed: conf; NULL until routed */
    struct target *target;                   /* ref, counted in its in_flight */
    struct target *failed;                   /* borrowed (conf holds it): skip on retry */
    struct upstream *up;                     /* the upstream while attached */
    struct http1_head *req;                  /* borrowed: the parser's arena (paused) */
    bool active;                             /* a request is in progress */
    bool req_done;                           /* the request ended (client side) */
    bool req_chunked;                        /* re-chunking the request body */
    bool body_sent;                          /* request body bytes went to the upstream */
    bool local;                              /* we answer ourselves; the body is dropped */
    bool resp_started;                       /* a response head reached the client queue */
    bool resp_done;                          /* the response ended */
    bool resp_chunked;                       /* re-chunking the response body */
    bool up_keep_alive;                      /* the target keeps the connection */
    bool retried;                            /* the one retry on another target was used */
    bool stale_retried;                      /* a reused pooled connection failed: redone */
    int status;                              /* sent to the client, 0 until then */
    uint64_t start_ns;                       /* head parsed */
    uint64_t sent_ns;                        /* request head handed to the upstream */
    int64_t target_us;                       /* sent → response head; -1 if none */
    uint64_t in_bytes;                       /* client bytes of this request */
    uint64_t out_start;                      /* c->out.bytes when the response began */
    uint64_t up_sent_start;                  /* up->out.bytes when the request began */
    uint64_t up_sent;                        /* request bytes written to the target */
    uint64_t up_received;                    /* response body bytes from the target */
    int64_t start_unix_us;                   /* wall clock, for the access log */
    const char *error;                       /* why we answered ourselves */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    enum conn_state state;
    struct proxy_worker *w;
    struct proxy_worker_listen *wl;
    uint64_t id;
    struct parser_slot *ps; /* owned while a request is being read or served; NULL idle */
    size_t max_head;        /* the listener's max_head_bytes */
    bool parser_dirty;      /* refused, aborted or upgraded: never pooled again */
    struct outq out;        /* to the client */
    struct buf held;        /* owned: bytes read ahead (pipelining, tunnel start) */
    struct exchange x;
    struct sockaddr_in6 peer; /* the client (or a sockaddr_in): compact, formatted on use */
    socklen_t peer_len;       /* 0 when unknown */
    uint64_t last_active;     /* uv_now() of the last byte either way */
    uint64_t state_since;     /* uv_now() when the state's clock started */
    uint64_t armed_due;       /* when the timer fires (uv_now() ms), 0 when not armed */
    bool reading;             /* uv_read_start is on */
    bool paused;              /* the parser stopped after a request: bytes go to held */
    bool close_after;         /* this response ends the connection */
    bool retiring;            /* the worker retires: Connection: close from now on */
    bool client_keep_alive;
    bool in_parse;    /* parse_client is on the stack */
    bool client_eof;  /* the client half-closed (or is gone) */
    bool shut;        /* LINGER: our write side is shut down */
    uint64_t idle_ms; /* the listener's idle_timeout */
    int pending_closes;
    struct conn *next, *prev; /* the worker's list */
};

static void conn_enter(struct conn *c, enum conn_state next);
static void conn_close(struct conn *c, const char *why);
static void next_request(struct conn *c);
static void route_and_send(struct conn *c);
static void reply_local(struct conn *c, int status, const char *why);
static void finish_exchange(struct conn *c);
static void linger_close(struct conn *c);

static const struct upstream_events up_events;

/* Request parsers are lent to connections only while they read or serve a request, and come
 * back to a per-worker free list when the connection goes idle, so 10,000 idle keep-alive
 * connections hold no parser (its arena and buffers are most of a connection's memory). */
struct parser_slot {
    struct http1_parser *parser; /* owned */
    struct conn *c;              /* the borrower, or NULL in the free list */
    size_t max_head;             /* the limit it was made with */
    struct parser_slot *next;    /* free list */
};

#define PARSER_POOL_MAX 256
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

#define conn_log(c, level, fmt, ...)                                                               \
    do {                                                                                           \
        if (log_enabled(level)) {                                                                  \
            char ctx_[96];                                                                         \
            snprintf(ctx_, sizeof(ctx_), "conn=%llu state=%s", (unsigned long long)(c)->id,        \
                     state_info[(c)->state].name);                                                 \
            log_write(level, ctx_, fmt, __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)

struct conn *
conn_next(const struct conn *c)
{
    return c->next;
}

/* ---- timers ---- */

static uint64_t
timeout_ms(const struct conn *c, enum conn_state s)
{
    switch (state_info[s].timeout) {
    case TO_NONE:
        return 0;
    case TO_IDLE:
        if (c->retiring && s == CONN_IDLE)
            return RETIRE_IDLE_MS;
        return c->idle_ms;
    case TO_CONNECT:
        return CONNECT_TIMEOUT_MS;
    case TO_RESPONSE:
        /* the response clock starts once the whole request is sent; before, idle rules */
        if (!c->x.req_done)
            return c->idle_ms;
        return c->x.group ? c->x.group->response_timeout_ms : 60000;
    case TO_LINGER:
        return LINGER_TIMEOUT_MS;
    }
    return 0;
}

static void on_timer(uv_timer_t *t);

/* The timer is moved only when the new deadline is earlier than the armed one; a timer that
 * fires early re-arms itself for the rest (on_timer), so a request cycle costs no timer
 * operation at all in the common case. */
static void
arm_timer(struct conn *c)
{
    uint64_t now = uv_now(&c->w->loop);
    uint64_t ms = timeout_ms(c, c->state);

    c->last_active = now;
    c->state_since = now;
    if (ms == 0)
        return;
    if (c->armed_due != 0 && c->armed_due <= now + ms)
        return;
    c->armed_due = now + ms;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void
conn_enter(struct conn *c, enum conn_state next)
{
    ASSERT(c->state != CONN_CLOSING);
    conn_log(c, LOG_DEBUG, "-> %s", state_info[next].name);
    c->state = next;
    arm_timer(c);
}

static void
touch(struct conn *c)
{
    c->last_active = uv_now(&c->w->loop);
}

/* ---- small helpers ---- */

static uint64_t
now_ns(void)
{
    return uv_hrtime();
}

static bool
idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0 || strcmp(m, "TRACE") == 0;
}

static bool
has_body(const struct http1_head *h)
{
    return h->framing == HTTP1_BODY_CHUNKED ||
           (h->framing == HTTP1_BODY_LENGTH && h->content_length > 0);
}

/* Bytes gathered for <q> and not flushed yet. */
static uint64_t
batched(const struct proxy_worker *w, const struct outq *q)
{
    uint64_t n = 0;

    if (w->batch.q != q)
        return 0;
    for (unsigned i = 0; i < w->batch.n; i++)
        n += w->batch.iov[i].len;
    return n;
}

static void
flush(struct conn *c)
{
    outq_batch_flush(&c->w->batch);
}

static void
send_copy(struct conn *c, struct outq *q, const void *p, size_t n)
{
    outq_batch_copy(&c->w->batch, q, p, n);
}

static void
send_ref(struct conn *c, struct outq *q, const void *p, size_t n)
{
    outq_batch_add(&c->w->batch, q, p, n);
}

static void
set_reading(struct conn *c, bool on)
{
    if (c->state == CONN_CLOSING || on == c->reading)
        return;
    if (on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- serialising heads ---- */

/* The client's address without port, for X-Forwarded-For. IPv4 is formatted by hand:
 * inet_ntop goes through sprintf and cost 1,700 instructions per request. */
static void
peer_host(const struct conn *c, char *dst, size_t size)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)&c->peer;
    const unsigned char *b = (const unsigned char *)&in->sin_addr;
    size_t n = 0;

    if (c->peer_len != 0 && c->peer.sin6_family == AF_INET && size >= 16) {
        for (int i = 0; i < 4; i++) {
            unsigned v = b[i];
            if (v >= 100)
                dst[n++] = (char)('0' + v / 100);
            if (v >= 10)
                dst[n++] = (char)('0' + v / 10 % 10);
            dst[n++] = (char)('0' + v % 10);
            dst[n++] = i < 3 ? '.' : '\0';
        }
        return;
    }
    if (c->peer_len == 0 || inet_ntop(AF_INET6, &c->peer.sin6_addr, dst, (socklen_t)size) == NULL)
        str_copy(dst, "unknown", size);
}

static void
append_header(struct buf *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
    buf_reserve(b, nlen + vlen + 4);
    memcpy(b->data + b->len, name, nlen);
    b->len += nlen;
    b->data[b->len++] = ':';
    b->data[b->len++] = ' ';
    memcpy(b->data + b->len, value, vlen);
    b->len += vlen;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
}

static void
append_lit(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* ASCII case-insensitive equality of <n> bytes; <lower> is lowercase. */
static bool
ieq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lower[i])
            return false;
    }
    return true;
}

#define NAME_IS(hd, lit)                                                                           \
    ((hd)->name_len == sizeof(lit) - 1 && ieq((hd)->name, lit, sizeof(lit) - 1))

enum hdr_kind {
    HDR_PLAIN = 0, /* forwarded as is */
    HDR_HOP,       /* hop-by-hop: dropped */
    HDR_UPGRADE,   /* Upgrade: hop-by-hop, re-added for an upgrade */
    HDR_XFF,       /* X-Forwarded-For: extended with the client */
    HDR_XF_OWN,    /* X-Forwarded-Proto/-Port: replaced by ours */
};

/* The Connection headers of a head, found once so each header is checked against their
 * tokens only when there are any (the common head has none, or just "keep-alive"). */
struct conn_tokens {
    const struct http1_header *list[4];
    size_t n;
};

static void
find_connection(const struct http1_head *h, struct conn_tokens *t)
{
    t->n = 0;
    for (size_t i = 0; i < h->nheaders && t->n < 4; i++) {
        if (NAME_IS(&h->headers[i], "connection"))
            t->list[t->n++] = &h->headers[i];
    }
}

static bool
token_listed(const struct http1_header *list, const struct http1_header *hd)
{
    const char *p = list->value, *end = list->value + list->value_len;

    while (p < end) {
        const char *t, *te;
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        t = p;
        while (p < end && *p != ',')
            p++;
        te = p;
        while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - t) == hd->name_len && str_ieqn(t, hd->name_len, hd->name))
            return true;
    }
    return false;
}

/* Same verdicts as http1_is_hop_by_hop(), without its per-header scan of every header. */
static enum hdr_kind
classify(const struct http1_header *hd, const struct conn_tokens *ct)
{
    switch (hd->name_len) {
    case 2:
        if (NAME_IS(hd, "te"))
            return HDR_HOP;
        break;
    case 7:
        if (NAME_IS(hd, "upgrade"))
            return HDR_UPGRADE;
        if (NAME_IS(hd, "trailer"))
            return HDR_HOP;
        break;
    case 10:
        if (NAME_IS(hd, "connection") || NAME_IS(hd, "keep-alive"))
            return HDR_HOP;
        break;
    case 15:
        if (NAME_IS(hd, "x-forwarded-for"))
            return HDR_XFF;
        break;
    case 16:
        if (NAME_IS(hd, "proxy-connection"))
            return HDR_HOP;
        if (NAME_IS(hd, "x-forwarded-port"))
            return HDR_XF_OWN;
        break;
    case 17:
        if (NAME_IS(hd, "transfer-encoding"))
            return HDR_HOP;
        if (NAME_IS(hd, "x-forwarded-proto"))
            return HDR_XF_OWN;
        break;
    case 18:
        if (NAME_IS(hd, "proxy-authenticate"))
            return HDR_HOP;
        break;
    case 19:
        if (NAME_IS(hd, "proxy-authorization"))
            return HDR_HOP;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < ct->n; i++) {
        if (token_listed(ct->list[i], hd))
            return HDR_HOP;
    }
    return HDR_PLAIN;
}

/* "%zx\r\n" into <out> (at least 20 bytes); returns the length. */
static size_t
chunk_line(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0, len = 0;

    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n != 0);
    while (k > 0)
        out[len++] = tmp[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    return len;
}

/* RFC 9112 §3.2.1: a target is sent the origin-form; "http://host:port/p?q" → "/p?q" (the
 * Host header, which the parser requires, carries the authority). */
static const char *
origin_form(const char *target)
{
    const char *p;

    if (target[0] == '/' || strcmp(target, "*") == 0)
        return target;
    p = strstr(target, "://");
    if (p == NULL)
        return target; /* authority-form (CONNECT): as is */
    p = strpbrk(p + 3, "/?");
    return p == NULL ? "/" : p; /* "?q" alone: the caller puts the "/" in front */
}

static void
send_request_head(struct conn *c)
{
    const struct http1_head *h = c->x.req;
    struct buf *b = &c->w->scratch;
    const struct http1_header *upgrade = NULL;
    struct conn_tokens ct;
    bool xff = false;
    char peer[INET6_ADDRSTRLEN];
    const char *target;

    peer_host(c, peer, sizeof(peer));
    find_connection(h, &ct);
    buf_reset(b);
    append_lit(b, h->method);
    buf_append(b, " ", 1);
    target = origin_form(h->target);
    if (target[0] == '?')
        buf_append(b, "/", 1);
    append_lit(b, target);
    append_lit(b, " HTTP/1.1\r\n");
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http1_header *hd = &h->headers[i];
        switch (classify(hd, &ct)) {
        case HDR_PLAIN:
            append_header(b, hd->name, hd->name_len, hd->value, hd->value_len);
            break;
        case HDR_UPGRADE:
            upgrade = hd;
            break;
        case HDR_XFF:
            /* append the client to the list, as ALB does */
            append_header(b, hd->name, hd->name_len, hd->value, hd->value_len);
            b->len -= 2;
            buf_append(b, ", ", 2);
            append_lit(b, peer);
            buf_append(b, "\r\n", 2);
            xff = true;
            break;
        case HDR_HOP:
        case HDR_XF_OWN:
            break;
        }
    }
    if (h->host == NULL)
        append_header(b, "Host", 4, c->x.target->addr.text, strlen(c->x.target->addr.text));
    if (!xff)
        append_header(b, "X-Forwarded-For", 15, peer, strlen(peer));
    buf_append(b, c->wl->xf_proto_port, c->wl->xf_proto_port_len);
    if (h->framing == HTTP1_BODY_CHUNKED)
        append_lit(b, "Transfer-Encoding: chunked\r\n");
    if (h->upgrade && upgrade != NULL) {
        append_lit(b, "Connection: upgrade\r\n");
        append_header(b, "Upgrade", 7, upgrade->value, upgrade->value_len);
    }
    buf_append(b, "\r\n", 2);
    send_copy(c, &c->x.up->out, b->data, b->len);
}

static void
send_response_head(struct conn *c, const struct http1_head *h, bool interim)
{
    struct buf *b = &c->w->scratch;
    const struct http1_header *upgrade = NULL;
    struct conn_tokens ct;
    char line[16] = "HTTP/1.1 000 ";
    int st = h->status;

    find_connection(h, &ct);
    buf_reset(b);
    line[9] = (char)('0' + st / 100 % 10);
    line[10] = (char)('0' + st / 10 % 10);
    line[11] = (char)('0' + st % 10);
    buf_append(b, line, 13);
    append_lit(b, h->reason[0] != '\0' ? h->reason : http1_status_reason(h->status));
    buf_append(b, "\r\n", 2);
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http1_header *hd = &h->headers[i];
        switch (classify(hd, &ct)) {
        case HDR_PLAIN:
        case HDR_XFF:
        case HDR_XF_OWN:
            append_header(b, hd->name, hd->name_len, hd->value, hd->value_len);
            break;
        case HDR_UPGRADE:
            upgrade = hd;
            break;
        case HDR_HOP:
            break;
        }
    }
    if (h->status == 101 && upgrade != NULL) {
        append_lit(b, "Connection: upgrade\r\n");
        append_header(b, "Upgrade", 7, upgrade->value, upgrade->value_len);
    } else if (!interim) {
        if (c->x.resp_chunked)
            append_lit(b, "Transfer-Encoding: chunked\r\n");
        if (c->close_after)
            append_lit(b, "Connection: close\r\n");
        else if (c->x.req->version_minor == 0)
            append_lit(b, "Connection: keep-alive\r\n");
    }
    buf_append(b, "\r\n", 2);
    send_copy(c, &c->out, b->data, b->len);
}

/* ---- the exchange ---- */

static const struct proxy_conf_listener *
listener_conf(struct conn *c, struct proxy_conf *conf)
{
    struct proxy_worker_listen *wl = c->wl;

    if (wl->cache_seq != conf->seq || wl->cache_lconf == NULL) {
        wl->cache_lconf = proxy_conf_listener_find(conf, wl->listener->name);
        wl->cache_seq = conf->seq;
    }
    return wl->cache_lconf;
}

static void
begin_exchange(struct conn *c, struct http1_head *h)
{
    struct exchange *x = &c->x;

    memset(x, 0, sizeof(*x));
    x->active = true;
    x->conf = proxy_conf_ref(c->w->conf);
    x->lconf = listener_conf(c, x->conf);
    x->req = h;
    x->start_ns = now_ns();
    x->target_us = -1;
    x->out_start = c->out.bytes;
    if (h != NULL) {
        x->in_bytes = strlen(h->method) + strlen(h->target) + 12;
        for (size_t i = 0; i < h->nheaders; i++)
            x->in_bytes += h->headers[i].name_len + h->headers[i].value_len + 4;
    }
    if (c->w->access_log != NULL) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x->start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    if (x->lconf != NULL)
        c->idle_ms = x->lconf->idle_timeout_ms;
}

static struct target *
route(struct conn *c, const struct target *skip)
{
    const struct proxy_conf_listener *l = c->x.lconf;
    const struct target *const skips[1] = {skip};
    size_t nskip = skip != NULL ? 1 : 0;
    size_t slot = c->w->id;
    bool eligible[PROXY_CONF_MAX_FORWARD];
    struct target_group *g;
    int k;

    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < l->nforward; i++) {
        g = l->forward[i].group;
        eligible[i] =
            l->weights[i] > 0 && balancer_group_routable(g->targets, g->ntargets, skips, nskip);
    }
    k = balancer_pick_weighted(l->weights, eligible, l->nforward,
                               l->credits + slot * l->credits_stride);
    if (k < 0)
        return NULL;
    g = l->forward[k].group;
    c->x.group = g;
    return balancer_pick_target(g->algorithm, g->targets, g->ntargets, &g->cursors[slot], skips,
                                nskip);
}

/* Lets go of the upstream (pooled when <reusable>) and counts what was sent. */
static void
detach_upstream(struct conn *c, bool reusable)
{
    struct exchange *x = &c->x;

    if (x->up == NULL)
        return;
    upstream_release(x->up, reusable);
    x->up = NULL;
}

static void
drop_target(struct conn *c)
{
    struct exchange *x = &c->x;

    if (x->target == NULL)
        return;
    atomic_fetch_sub_explicit(&x->target->in_flight, 1, memory_order_relaxed);
    target_group_target_unref(x->target);
    x->target = NULL;
}

static void
account(struct conn *c)
{
    struct exchange *x = &c->x;
    struct listener *l = c->wl->listener;
    uint64_t out = c->out.bytes + batched(c->w, &c->out) - x->out_start;
    int64_t req_us = (int64_t)((now_ns() - x->start_ns) / 1000);

    if (x->target != NULL)
        target_group_stats_record(x->target, c->w->id, x->local ? 0 : x->status, x->up_sent,
                                  x->up_received, x->target_us);
    listener_stats_request(l, c->w->id, x->status, x->in_bytes, out);
    if (c->w->access_log != NULL) {
        struct addr client;
        addr_from_sockaddr(&client, (const struct sockaddr *)&c->peer, c->peer_len);
        struct access_log_entry e = {
            .start_unix_us = x->start_unix_us,
            .client = &client,
            .listener = l->name,
            .group = x->group ? x->group->name : NULL,
            .target = x->target ? &x->target->addr : NULL,
            .method = x->req ? x->req->method : "-",
            .uri = x->req ? x->req->target : "-",
            .version_minor = x->req ? x->req->version_minor : 1,
            .status = x->status,
            .bytes_in = x->in_bytes,
            .bytes_out = out,
            .request_time_us = req_us,
            .target_time_us = x->target_us,
            .error = x->error,
        };
        access_log_write(c->w->access_log, &e);
    }
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;

    free(req);
    if (c->state != CONN_CLOSING && (status < 0 || c->client_eof))
        conn_close(c, "done");
}

/* LINGER with everything written: close without losing the answer. Closing a socket that
 * still has unread client bytes makes the kernel send a reset, which can destroy the response
 * in the client's buffers; so shut our side down and read (dropping) until the client closes
 * or LINGER_TIMEOUT_MS passes, as nginx's lingering close does. */
static void
linger_close(struct conn *c)
{
    uv_shutdown_t *req;

    if (c->state == CONN_CLOSING || c->shut)
        return;
    if (c->client_eof) {
        conn_close(c, "done");
        return;
    }
    c->shut = true;
    req = mem_alloc(sizeof(*req));
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close(c, "done");
        return;
    }
    set_reading(c, true);
}

/* The request is over on both sides: count it, then the next one (or close). */
static void
finish_exchange(struct conn *c)
{
    struct exchange *x = &c->x;

    if (!x->active)
        return;
    detach_upstream(c, false);
    account(c);
    drop_target(c);
    proxy_conf_unref(x->conf);
    memset(x, 0, sizeof(*x));
    flush(c); /* after counting: see parse_client */
    if (c->close_after || c->state == CONN_CLOSING) {
        if (c->state != CONN_CLOSING) {
            set_reading(c, false);
            conn_enter(c, CONN_LINGER);
            if (outq_idle(&c->out))
                linger_close(c);
        }
        return;
    }
    next_request(c);
}

static void
maybe_finish(struct conn *c)
{
    if (c->x.active && c->x.req_done && c->x.resp_done && c->state != CONN_TUNNEL)
        finish_exchange(c);
}

static void
reply_local(struct conn *c, int status, const char *why)
{
    struct exchange *x = &c->x;
    char head[256], body[128];
    int blen, hlen;

    if (!x->active) {
        begin_exchange(c, NULL);
        x->req_done = true;
    }
    detach_upstream(c, false);
    x->local = true;
    x->error = why;
    x->status = status;
    if (!x->req_done || !c->client_keep_alive || c->retiring || status == 400 || status == 431 ||
        status == 501 || status == 505)
        c->close_after = true;
    blen = snprintf(body, sizeof(body), "%d %s\n", status, http1_status_reason(status));
    hlen = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    "Cache-Control: no-store\r\n%s\r\n",
                    status, http1_status_reason(status), blen,
                    c->close_after ? "Connection: close\r\n" : "");
    send_copy(c, &c->out, head, (size_t)hlen);
    if (x->req == NULL || strcmp(x->req->method, "HEAD") != 0)
        send_copy(c, &c->out, body, (size_t)blen);
    x->resp_started = true;
    x->resp_done = true;
    if (c->state != CONN_IDLE)
        conn_enter(c, CONN_RESPONDING);
    if (!x->req_done)
        finish_exchange(c); /* the body is still coming: we will not read it, we close */
}

static void
route_and_send(struct conn *c)
{
    struct exchange *x = &c->x;
    struct target *t = route(c, x->failed);

    if (t == NULL) {
        reply_local(c, x->failed != NULL ? 502 : 503,
                    x->failed != NULL ? "no other target to retry on" : "no routable target");
        return;
    }
    x->target = target_group_target_ref(t);
    atomic_fetch_add_explicit(&t->in_flight, 1, memory_order_relaxed);
    x->up = upstream_acquire(c->w->pool, t, &up_events, c);
    upstream_begin(x->up, x->req->method);
    x->up_sent_start = x->up->out.bytes;
    x->req_chunked = x->req->framing == HTTP1_BODY_CHUNKED;
    send_request_head(c);
    x->sent_ns = now_ns();
    conn_enter(c, x->up->state == UPSTREAM_ACTIVE ? CONN_WAITING : CONN_CONNECTING);
}

/* The upstream failed before the client got a response head. */
static void
retry_or_fail(struct conn *c, int status, const char *why, bool stale)
{
    struct exchange *x = &c->x;
    bool safe = x->req != NULL && !has_body(x->req) && !x->resp_started;

    conn_log(c, LOG_DEBUG, "upstream %s: %s", x->target ? x->target->addr.text : "?", why);
    if (safe && stale && !x->stale_retried) {
        x->stale_retried = true; /* a pooled connection the target had closed: redo */
        drop_target(c);
        route_and_send(c);
        return;
    }
    if (safe && !x->retried && idempotent(x->req->method) && x->target != NULL) {
        x->retried = true;
        x->failed = x->target;
        drop_target(c);
        route_and_send(c);
        return;
    }
    (void)status;
    reply_local(c, 502, why);
}

/* ---- request parser callbacks ---- */

static int
on_req_head(void *ud, struct http1_head *h)
{
    struct conn *c = ((struct parser_slot *)ud)->c;

    begin_exchange(c, h);
    c->client_keep_alive = h->keep_alive && !h->upgrade;
    route_and_send(c);
    return c->state == CONN_LINGER || c->state == CONN_CLOSING ? HTTP1_ABORT : HTTP1_OK;
}

static int
on_req_body(void *ud, const char *p, size_t n)
{
    struct conn *c = ((struct parser_slot *)ud)->c;
    struct exchange *x = &c->x;
    char line[24];
    int len;

    x->in_bytes += n;
    if (x->local || x->up == NULL)
        return HTTP1_OK;
    if (x->req_chunked) {
        len = (int)chunk_line(line, n);
        send_copy(c, &x->up->out, line, (size_t)len);
        send_ref(c, &x->up->out, p, n);
        send_ref(c, &x->up->out, "\r\n", 2);
    } else {
        send_ref(c, &x->up->out, p, n);
    }
    x->body_sent = true;
    return HTTP1_OK;
}

static int
on_req_complete(void *ud, const struct http1_header *trailers, size_t ntrailers)
{
    struct conn *c = ((struct parser_slot *)ud)->c;
    struct exchange *x = &c->x;
    struct buf *b = &c->w->scratch;

    x->req_done = true;
    c->paused = true;
    if (x->req_chunked && x->up != NULL && !x->local) {
        buf_reset(b);
        append_lit(b, "0\r\n");
        for (size_t i = 0; i < ntrailers; i++)
            append_header(b, trailers[i].name, trailers[i].name_len, trailers[i].value,
                          trailers[i].value_len);
        append_lit(b, "\r\n");
        send_copy(c, &x->up->out, b->data, b->len);
    }
    if (c->state == CONN_WAITING)
        arm_timer(c); /* the response timeout starts now */
    return HTTP1_PAUSE;
}

static const struct http1_callbacks req_callbacks = {
    .on_head = on_req_head,
    .on_body = on_req_body,
    .on_complete = on_req_complete,
};

/* ---- the parser pool ---- */

static void
take_parser(struct conn *c)
{
    struct proxy_worker *w = c->w;
    struct parser_slot *ps, **pp;

    if (c->ps != NULL)
        return;
    for (pp = &w->parsers; (ps = *pp) != NULL; pp = &ps->next) {
        if (ps->max_head == c->max_head) {
            *pp = ps->next;
            w->nparsers--;
            break;
        }
    }
    if (ps == NULL) {
        struct http1_limits limits = {c->max_head, 0};
        ps = mem_calloc(1, sizeof(*ps));
        ps->max_head = c->max_head;
        ps->parser = http1_parser_new(HTTP1_REQUEST, &limits, &req_callbacks, ps);
    }
    ps->c = c;
    ps->next = NULL;
    c->ps = ps;
}

/* Back to the pool when it sits between messages, else freed (a half-read head). */
static void
give_parser(struct conn *c)
{
    struct parser_slot *ps = c->ps;
    struct proxy_worker *w = c->w;

    if (ps == NULL)
        return;
    c->ps = NULL;
    ps->c = NULL;
    if (!c->parser_dirty && !http1_parser_in_message(ps->parser) && w->nparsers < PARSER_POOL_MAX &&
        !w->stopping) {
        http1_parser_reset(ps->parser); /* a pooled parser starts clean */
        ps->next = w->parsers;
        w->parsers = ps;
        w->nparsers++;
        return;
    }
    http1_parser_free(ps->parser);
    free(ps);
}

void
conn_pool_free(struct proxy_worker *w)
{
    struct parser_slot *ps, *next;

    for (ps = w->parsers; ps != NULL; ps = next) {
        next = ps->next;
        http1_parser_free(ps->parser);
        free(ps);
    }
    w->parsers = NULL;
    w->nparsers = 0;
}

/* ---- reading the client ---- */

static void
hold(struct conn *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    buf_append(&c->held, p, n);
    if (c->held.len > HELD_MAX)
        set_reading(c, false);
}

static void
bad_request(struct conn *c)
{
    int status = http1_parser_status(c->ps->parser);
    const char *why = http1_parser_reason(c->ps->parser);

    conn_log(c, LOG_DEBUG, "refused request: %d %s", status, why);
    c->close_after = true;
    reply_local(c, status, why);
    finish_exchange(c);
}

static void
feed(struct conn *c, const char *p, size_t n)
{
    size_t used = 0;
    int rc;

    take_parser(c);
    rc = http1_parser_feed(c->ps->parser, p, n, &used);
    if (rc < 0)
        c->parser_dirty = true;

    if (c->state == CONN_CLOSING || c->state == CONN_LINGER)
        return;
    if (rc == -EPROTO) {
        bad_request(c);
        return;
    }
    if (rc == -ECANCELED)
        return;
    hold(c, p + used, n - used);
}

/* Parses <n> new bytes, then whatever earlier reads left while requests were in flight. */
static void
parse_client(struct conn *c, const char *p, size_t n)
{
    if (c->in_parse)
        return;
    c->in_parse = true;
    /* a finished exchange is counted before its last bytes are flushed, so a client that
     * got its response and then reads /metrics sees it counted */
    if (n > 0)
        feed(c, p, n);
    maybe_finish(c);
    flush(c);
    while (c->state == CONN_IDLE && !c->paused && c->held.len > 0) {
        struct buf tmp = c->held;
        buf_init(&c->held);
        feed(c, tmp.data, tmp.len);
        maybe_finish(c);
        flush(c); /* gathered slices point into tmp */
        buf_fini(&tmp);
    }
    c->in_parse = false;
    if (c->state == CONN_IDLE && !c->paused && c->held.len == 0 && c->ps != NULL &&
        !http1_parser_in_message(c->ps->parser))
        give_parser(c);
}

static void
next_request(struct conn *c)
{
    c->paused = false;
    if (c->ps != NULL)
        http1_parser_resume(c->ps->parser);
    conn_enter(c, CONN_IDLE);
    if (!c->in_parse && c->held.len > 0)
        parse_client(c, NULL, 0);
    if (c->state == CONN_IDLE && !c->in_parse && c->held.len == 0)
        give_parser(c);
    if (c->state == CONN_IDLE && c->held.len <= HELD_MAX)
        set_reading(c, true);
}

static void
update_flow(struct conn *c)
{
    struct upstream *up = c->x.up;

    if (c->state == CONN_CLOSING)
        return;
    if (c->out.err != 0) {
        conn_close(c, "client write failed");
        return;
    }
    if (up != NULL) {
        bool up_full = outq_queued(&up->out) > OUTQ_HIGH_WATER;
        upstream_pause(up, outq_queued(&c->out) > OUTQ_HIGH_WATER);
        if (up_full)
            set_reading(c, false);
        else if (!c->paused || c->state == CONN_TUNNEL)
            set_reading(c, c->held.len <= HELD_MAX);
    }
    if (c->state == CONN_LINGER && outq_idle(&c->out))
        linger_close(c);
}

/* The end of every event handler: finish what is finished, send, adjust flow control. */
static void
after_event(struct conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    maybe_finish(c);
    flush(c);
    update_flow(c);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)hint;
    *buf = uv_buf_init(c->w->rbuf, PROXY_WORKER_READ_BUF);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (c->state == CONN_CLOSING || nread == 0)
        return;
    if (c->state == CONN_LINGER) {
        /* our answer is the last one: drop what the client still sends until it closes */
        c->client_eof = nread < 0;
        if (nread < 0 && (c->shut || nread != UV_EOF))
            conn_close(c, "done");
        else if (nread < 0)
            set_reading(c, false);
        return;
    }
    if (nread == UV_EOF && c->state != CONN_TUNNEL && c->x.active && c->x.req_done) {
        /* a half-close after the request: answer it, then close */
        set_reading(c, false);
        c->close_after = true;
        c->client_eof = true;
        return;
    }
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "client closed" : uv_strerror((int)nread));
        return;
    }
    touch(c);
    if (c->state == CONN_TUNNEL) {
        if (c->x.up != NULL)
            send_ref(c, &c->x.up->out, buf->base, (size_t)nread);
        flush(c);
        update_flow(c);
        return;
    }
    if (c->paused) {
        hold(c, buf->base, (size_t)nread);
        return;
    }
    parse_client(c, buf->base, (size_t)nread);
    update_flow(c);
}

static void
on_client_drained(struct outq *q, int status)
{
    struct conn *c = q->data;

    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, "client write failed");
        return;
    }
    touch(c);
    update_flow(c);
}

/* ---- upstream events ---- */

static void
ev_connected(void *owner, int status)
{
    struct conn *c = owner;

    if (status < 0) {
        c->x.up = NULL;
        if (c->x.target != NULL)
            target_group_stats_connect_error(c->x.target, c->w->id);
        retry_or_fail(c, status, "upstream connect failed", false);
    } else if (c->state == CONN_CONNECTING) {
        conn_enter(c, CONN_WAITING);
    }
    after_event(c);
}

static int
ev_head(void *owner, struct http1_head *h)
{
    struct conn *c = owner;
    struct exchange *x = &c->x;

    if (x->target_us < 0)
        x->target_us = (int64_t)((now_ns() - x->sent_ns) / 1000);
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        if (x->req->version_minor >= 1)
            send_response_head(c, h, true);
        return HTTP1_OK;
    }
    x->status = h->status;
    x->resp_started = true;
    if (h->status == 101) {
        if (!x->req->upgrade) {
            x->resp_started = false;
            reply_local(c, 502, "unexpected 101 from target");
            return HTTP1_ABORT;
        }
        send_response_head(c, h, false);
        c->parser_dirty = true;
        conn_enter(c, CONN_TUNNEL);
        if (c->held.len > 0) {
            send_copy(c, &x->up->out, c->held.data, c->held.len);
            buf_reset(&c->held);
        }
        set_reading(c, true);
        return HTTP1_OK;
    }
    x->up_keep_alive = h->keep_alive && h->framing != HTTP1_BODY_UNTIL_CLOSE;
    if (h->framing == HTTP1_BODY_CHUNKED || h->framing == HTTP1_BODY_UNTIL_CLOSE) {
        if (x->req->version_minor >= 1)
            x->resp_chunked = true;
        else
            c->close_after = true; /* HTTP/1.0: the body ends when we close */
    }
    if (!c->client_keep_alive || c->retiring || !x->req_done)
        c->close_after = true;
    send_response_head(c, h, false);
    conn_enter(c, CONN_RESPONDING);
    return HTTP1_OK;
}

static int
ev_body(void *owner, const char *p, size_t n)
{
    struct conn *c = owner;
    struct exchange *x = &c->x;
    char line[24];
    int len;

    x->up_received += n;
    if (x->resp_chunked) {
        len = (int)chunk_line(line, n);
        send_copy(c, &c->out, line, (size_t)len);
        send_ref(c, &c->out, p, n);
        send_ref(c, &c->out, "\r\n", 2);
    } else {
        send_ref(c, &c->out, p, n);
    }
    return HTTP1_OK;
}

static int
ev_complete(void *owner)
{
    struct conn *c = owner;
    struct exchange *x = &c->x;

    x->resp_done = true;
    if (x->resp_chunked)
        send_ref(c, &c->out, "0\r\n\r\n", 5);
    x->up_sent = x->up->out.bytes - x->up_sent_start;
    detach_upstream(c, x->up_keep_alive && x->req_done);
    finish_exchange(c);
    /* counted before the last bytes leave (see parse_client) */ /* answered before the request
                                                                    body ended: close_after is
                                                                    set */
    flush(c);
    return HTTP1_OK;
}

static void
ev_tunnel(void *owner, const char *p, size_t n)
{
    struct conn *c = owner;

    touch(c);
    send_ref(c, &c->out, p, n);
}

static void
ev_failed(void *owner, int status, const char *why)
{
    struct conn *c = owner;
    struct exchange *x = &c->x;
    bool stale = x->up != NULL && x->up->reused && !x->up->got_bytes;

    x->up = NULL;
    if (c->state == CONN_TUNNEL || x->resp_started) {
        conn_close(c, why);
        return;
    }
    retry_or_fail(c, status, why, stale);
    after_event(c);
}

static void
ev_drained(void *owner)
{
    struct conn *c = owner;

    after_event(c);
}

static const struct upstream_events up_events = {
    .connected = ev_connected,
    .head = ev_head,
    .body = ev_body,
    .complete = ev_complete,
    .tunnel = ev_tunnel,
    .failed = ev_failed,
    .drained = ev_drained,
};

/* ---- timers, closing ---- */

static void
on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    enum conn_state s = c->state;
    uint64_t ms = timeout_ms(c, s);
    uint64_t now = uv_now(&c->w->loop);
    bool lazy = state_info[s].timeout == TO_IDLE || (s == CONN_WAITING && !c->x.req_done);
    uint64_t due = (lazy ? c->last_active : c->state_since) + ms;

    c->armed_due = 0;
    if (s == CONN_CLOSING || ms == 0)
        return;
    if (now + TIMER_SLACK_MS < due) {
        c->armed_due = due;
        uv_timer_start(&c->timer, on_timer, due - now, 0);
        return;
    }
    switch (s) {
    case CONN_IDLE:
    case CONN_RESPONDING:
    case CONN_TUNNEL:
    case CONN_LINGER:
        conn_close(c, "idle timeout");
        return;
    case CONN_CONNECTING:
        detach_upstream(c, false);
        if (c->x.target != NULL)
            target_group_stats_connect_error(c->x.target, c->w->id);
        retry_or_fail(c, -ETIMEDOUT, "upstream connect timeout", false);
        break;
    case CONN_WAITING:
        if (!c->x.req_done) {
            conn_close(c, "idle timeout");
            return;
        }
        detach_upstream(c, false);
        if (c->x.target != NULL)
            target_group_stats_timeout(c->x.target, c->w->id);
        reply_local(c, 504, "response timeout");
        break;
    case CONN_CLOSING:
        return;
    }
    after_event(c);
}

static void
on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct proxy_worker *w = c->w;
    struct proxy_worker_listen *wl;

    if (--c->pending_closes > 0)
        return;
    listener_stats_conn(c->wl->listener, w->id, 0);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    w->nconns--;
    wl = c->wl;
    give_parser(c);
    outq_fini(&c->out);
    buf_fini(&c->held);
    free(c);
    proxy_worker_conn_gone(w, wl);
}

static void
conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSING)
        return;
    conn_log(c, LOG_DEBUG, "close: %s", why);
    if (c->x.active) {
        detach_upstream(c, false);
        if (c->x.error == NULL && !c->x.resp_done)
            c->x.error = why;
        account(c);
        drop_target(c);
        proxy_conf_unref(c->x.conf);
        memset(&c->x, 0, sizeof(c->x));
    }
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

void
conn_abort(struct conn *c)
{
    conn_close(c, "worker stopping");
}

struct proxy_worker_listen *
conn_listen(const struct conn *c)
{
    return c->wl;
}

void
conn_retire(struct conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->retiring = true;
    if (c->state == CONN_IDLE && !c->x.active &&
        (c->ps == NULL || !http1_parser_in_message(c->ps->parser)))
        arm_timer(c); /* RETIRE_IDLE_MS from now */
}

void
conn_drain_check(struct conn *c)
{
    struct exchange *x = &c->x;

    if (c->state == CONN_CLOSING || x->target == NULL ||
        !atomic_load_explicit(&x->target->drain_expired, memory_order_relaxed))
        return;
    if (x->resp_started || c->state == CONN_TUNNEL) {
        conn_close(c, "deregistration delay expired");
        return;
    }
    detach_upstream(c, false);
    c->close_after = true;
    reply_local(c, 502, "deregistration delay expired");
    after_event(c);
}

int
conn_accept(struct proxy_worker *w, struct proxy_worker_listen *wl, uv_stream_t *server)
{
    struct conn *c = mem_calloc(1, sizeof(*c));
    const struct proxy_conf_listener *lc;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc;

    c->w = w;
    c->wl = wl;
    c->id = ++w->next_conn_id;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->pending_closes = 2;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    wl->nconns++;
    listener_stats_conn(wl->listener, w->id, 1);
    outq_init(&c->out, (uv_stream_t *)&c->tcp, on_client_drained, c);
    lc = proxy_conf_listener_find(w->conf, wl->listener->name);
    c->idle_ms = lc != NULL ? lc->idle_timeout_ms : 60000;
    c->max_head = lc != NULL ? lc->max_head_bytes : HTTP1_DEFAULT_MAX_HEAD_BYTES;
    buf_init(&c->held);
    c->retiring = w->retiring;
    if ((rc = uv_accept(server, (uv_stream_t *)&c->tcp)) != 0) {
        c->state = CONN_IDLE;
        conn_close(c, "accept failed");
        return rc;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0 &&
        (size_t)len <= sizeof(c->peer)) {
        memcpy(&c->peer, &ss, (size_t)len);
        c->peer_len = (socklen_t)len;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_enter(c, CONN_IDLE);
    set_reading(c, true);
    return 0;
}
