/* SPDX-License-Identifier: ISC */
/* The admin API server: one state machine per admin connection, on the main loop.
 *
 *   READING ──request complete──▶ ANSWERING ──(publication acked)──▶ WRITING ──keep-alive──▶
 * READING └──── parse error, client gone, !keep-alive ────▶ CLOSING ─▶ freed (after any pending
 *                                                                   publication called back)
 * Changes never run concurrently with each other's validation: each clones the newest
 * generation, so two PUTs in a row build on each other. */
#include "proxy/admin_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"
#include "protocol/proxy_api.h"
#include "proxy/balancer.h"
#include "proxy/listener.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

#define ADMIN_MAX_BODY (1024 * 1024)
#define ADMIN_MAX_HEAD (16 * 1024)
#define ADMIN_READ_BUF (16 * 1024)
#define ADMIN_MAX_TARGETS 1024
#define ADMIN_IDLE_TIMEOUT_MS 30000 /* reading a request (or waiting for one) */
#define ADMIN_MAX_CONNS 256         /* more are accepted and closed at once */

enum admin_conn_state {
    ADMIN_READING = 0, /* reading a request */
    ADMIN_ANSWERING,   /* request complete; waiting for a publication to be acked */
    ADMIN_WRITING,     /* response being written */
    ADMIN_CLOSING,     /* handle closing; freed when closed and no publication is pending */
};

static const char *const conn_state_names[] = {
    [ADMIN_READING] = "reading",
    [ADMIN_ANSWERING] = "answering",
    [ADMIN_WRITING] = "writing",
    [ADMIN_CLOSING] = "closing",
};

union admin_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

struct admin_api {
    struct proxy *proxy;         /* borrowed: the root */
    uv_loop_t *loop;             /* borrowed */
    union admin_stream listener; /* the listening socket */
    bool is_unix;
    struct admin_conn *conns; /* owned: open connections */
    size_t live;              /* connections not yet freed */
    bool stopping;            /* admin_api_stop ran */
    bool listener_closed;     /* the listener's close callback ran */
    unsigned next_id;
};

struct admin_conn {
    struct admin_api *api; /* borrowed: outlives every connection */
    unsigned id;
    enum admin_conn_state state;
    union admin_stream h;
    uv_timer_t idle;             /* armed while READING */
    int open_handles;            /* handles not yet closed (stream, timer) */
    struct http1_parser *parser; /* owned */
    struct http1_head *head;     /* borrowed: parser's, valid until the next feed */
    struct buf in;               /* received bytes not yet parsed */
    struct buf body;             /* the request body */
    struct buf out;              /* the response being written */
    uv_write_t write_req;
    uv_write_t continue_req;
    bool keep_alive;            /* answer this request and keep the connection */
    bool too_large;             /* the body passed ADMIN_MAX_BODY */
    bool publishing;            /* a proxy_publish callback is pending */
    bool handle_done;           /* the handle's close callback ran */
    struct proxy_conf *pending; /* ref on the generation being published */
    char pending_name[128];     /* listener or group the pending change is about */
    enum { PENDING_ACTION, PENDING_TARGETS, PENDING_GROUP, PENDING_STATE } pending_kind;
    int pending_status;      /* 200, or 201 when the change creates the object */
    struct admin_conn *next; /* the api's list */
    char rbuf[ADMIN_READ_BUF];
};

static void admin_conn_close(struct admin_conn *c);
static void process_input(struct admin_conn *c);
static void start_reading(struct admin_conn *c);

static void conn_log(const struct admin_conn *c, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_log(const struct admin_conn *c, enum log_level level, const char *fmt, ...)
{
    char ctx[96];
    va_list ap;

    if (!log_enabled(level))
        return;
    snprintf(ctx, sizeof(ctx), "admin_conn=%u state=%s", c->id, conn_state_names[c->state]);
    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}

static void
conn_enter(struct admin_conn *c, enum admin_conn_state next)
{
    ASSERT(c->state != ADMIN_CLOSING);
    conn_log(c, LOG_DEBUG, "-> %s", conn_state_names[next]);
    c->state = next;
    if (next != ADMIN_READING)
        uv_timer_stop(&c->idle); /* start_reading re-arms it */
}

/* ---- responses ---- */

static void
on_written(uv_write_t *req, int status)
{
    struct admin_conn *c = req->data;

    if (c->state == ADMIN_CLOSING)
        return;
    if (status < 0 || !c->keep_alive) {
        admin_conn_close(c);
        return;
    }
    buf_reset(&c->out);
    buf_reset(&c->body);
    conn_enter(c, ADMIN_READING);
    http1_parser_resume(c->parser);
    process_input(c); /* a pipelined request may be buffered already */
    if (c->state == ADMIN_READING)
        start_reading(c);
}

/* Sends a response and then reads the next request (or closes). Takes <body> (malloc'd). */
static void
respond(struct admin_conn *c, int status, const char *type, char *body)
{
    size_t len = strlen(body);
    uv_buf_t b;

    if (c->state == ADMIN_CLOSING) {
        free(body);
        return;
    }
    buf_reset(&c->out);
    buf_appendf(&c->out,
                "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-store\r\n%s\r\n",
                status, http1_status_reason(status), type, len,
                c->keep_alive ? "" : "Connection: close\r\n");
    buf_append(&c->out, body, len);
    free(body);
    conn_enter(c, ADMIN_WRITING);
    b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, &c->h.stream, &b, 1, on_written) < 0)
        admin_conn_close(c);
}

static void
respond_json(struct admin_conn *c, int status, char *json)
{
    respond(c, status, "application/json", json);
}

static void respond_error(struct admin_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
respond_error(struct admin_conn *c, int status, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_log(c, LOG_DEBUG, "answer %d: %s", status, msg);
    respond_json(c, status, proxy_api_error_format(msg));
}

/* ---- documents ---- */

static void
fill_forward(struct arena *a, const struct proxy_conf_listener *l, struct proxy_api_action *out)
{
    out->nforward = l->nforward;
    out->forward = arena_calloc(a, l->nforward + 1, sizeof(*out->forward));
    for (size_t i = 0; i < l->nforward; i++) {
        out->forward[i].target_group = l->forward[i].group_name;
        out->forward[i].weight = l->forward[i].weight;
    }
}

static char *
listener_doc(const struct proxy_conf_listener *l)
{
    struct proxy_api_listener doc;
    struct arena a;
    char *s;

    memset(&doc, 0, sizeof(doc));
    arena_init(&a, 1024);
    doc.name = l->name;
    doc.bind = l->bind.text;
    fill_forward(&a, l, &doc.action);
    s = proxy_api_listener_format(&doc);
    arena_fini(&a);
    return s;
}

static void
fill_listeners(struct arena *a, const struct proxy_conf *conf, struct proxy_api_listeners *doc)
{
    doc->n = conf->nlisteners;
    doc->items = arena_calloc(a, conf->nlisteners + 1, sizeof(*doc->items));
    for (size_t i = 0; i < conf->nlisteners; i++) {
        doc->items[i].name = conf->listeners[i].name;
        doc->items[i].bind = conf->listeners[i].bind.text;
        fill_forward(a, &conf->listeners[i], &doc->items[i].action);
    }
}

static char *
listeners_doc(const struct proxy_conf *conf)
{
    struct proxy_api_listeners doc;
    struct arena a;
    char *s;

    memset(&doc, 0, sizeof(doc));
    arena_init(&a, 4096);
    fill_listeners(&a, conf, &doc);
    s = proxy_api_listeners_format(&doc);
    arena_fini(&a);
    return s;
}

static void
fill_group(struct arena *a, const struct target_group *g, struct proxy_api_group *d)
{
    d->name = g->name;
    d->algorithm = balancer_algorithm_name(g->algorithm);
    d->deregistration_delay_ms = g->deregistration_delay_ms;
    d->health_check.path = g->health.path;
    d->health_check.port = g->health.port;
    d->health_check.interval_ms = g->health.interval_ms;
    d->health_check.timeout_ms = g->health.timeout_ms;
    d->health_check.healthy_threshold = g->health.healthy_threshold;
    d->health_check.unhealthy_threshold = g->health.unhealthy_threshold;
    d->health_check.matcher = g->health.matcher;
    d->ntargets = g->ntargets;
    d->targets = arena_calloc(a, g->ntargets + 1, sizeof(*d->targets));
    for (size_t k = 0; k < g->ntargets; k++)
        d->targets[k] = g->targets[k]->addr.text;
}

static void
fill_groups(struct arena *a, const struct proxy_conf *conf, struct proxy_api_groups *doc)
{
    doc->n = conf->ngroups;
    doc->items = arena_calloc(a, conf->ngroups + 1, sizeof(*doc->items));
    for (size_t i = 0; i < conf->ngroups; i++)
        fill_group(a, &conf->groups[i], &doc->items[i]);
}

static char *
groups_doc(const struct proxy_conf *conf)
{
    struct proxy_api_groups doc;
    struct arena a;
    char *s;

    memset(&doc, 0, sizeof(doc));
    arena_init(&a, 4096);
    fill_groups(&a, conf, &doc);
    s = proxy_api_groups_format(&doc);
    arena_fini(&a);
    return s;
}

static char *
group_doc(const struct target_group *g)
{
    struct proxy_api_group doc;
    struct arena a;
    char *s;

    memset(&doc, 0, sizeof(doc));
    arena_init(&a, 1024);
    fill_group(&a, g, &doc);
    s = proxy_api_group_format(&doc);
    arena_fini(&a);
    return s;
}

/* {"listeners":[…],"target_groups":[…]} */
static char *
state_doc(const struct proxy_conf *conf)
{
    struct proxy_api_listeners ls;
    struct proxy_api_groups gs;
    struct arena a;
    char *s;

    memset(&ls, 0, sizeof(ls));
    memset(&gs, 0, sizeof(gs));
    arena_init(&a, 4096);
    fill_listeners(&a, conf, &ls);
    fill_groups(&a, conf, &gs);
    s = proxy_api_state_format(&ls, &gs);
    arena_fini(&a);
    return s;
}

struct health_build {
    struct arena *arena;
    struct proxy_api_health *doc;
    size_t cap;
    const struct target_group *group;
};

static void
add_target_health(struct health_build *b, struct target *t)
{
    struct proxy_api_target_health *e;
    enum target_reason r = (enum target_reason)atomic_load(&t->reason);
    enum target_state st = target_group_state(t);

    if (b->doc->ntargets == b->cap) {
        struct proxy_api_target_health *bigger;
        b->cap = b->cap * 2 + 8;
        bigger = arena_calloc(b->arena, b->cap, sizeof(*bigger));
        if (b->doc->ntargets > 0)
            memcpy(bigger, b->doc->targets, b->doc->ntargets * sizeof(*bigger));
        b->doc->targets = bigger;
    }
    e = &b->doc->targets[b->doc->ntargets++];
    e->target = t->addr.text;
    e->state = target_group_state_name(st);
    e->reason = st == TARGET_HEALTHY ? NULL : target_group_reason_name(r);
    e->description = st == TARGET_HEALTHY ? NULL : target_group_reason_description(r);
    if (e->description != NULL && r == TARGET_REASON_RESPONSE_CODE_MISMATCH &&
        t->health_last_status != 0) {
        char d[128];
        snprintf(d, sizeof(d), "%s: [%d]", e->description, t->health_last_status);
        e->description = arena_strdup(b->arena, d);
    }
    e->in_flight = atomic_load_explicit(&t->in_flight, memory_order_relaxed);
}

/* Draining targets that already left the generation are still reported, as ALB does. */
static void
add_draining(void *ud, struct target *t)
{
    struct health_build *b = ud;

    if (strcmp(t->group_name, b->group->name) != 0 || target_group_find(b->group, &t->addr))
        return;
    if (target_group_state(t) == TARGET_DRAINING)
        add_target_health(b, t);
}

static char *
health_doc(struct proxy *p, const struct target_group *g)
{
    struct proxy_api_health doc;
    struct arena a;
    struct health_build b = {&a, &doc, 0, g};
    char *s;

    memset(&doc, 0, sizeof(doc));
    arena_init(&a, 4096);
    doc.target_group = g->name;
    for (size_t i = 0; i < g->ntargets; i++)
        add_target_health(&b, g->targets[i]);
    target_group_registry_foreach(proxy_registry(p), add_draining, &b);
    s = proxy_api_health_format(&doc);
    arena_fini(&a);
    return s;
}

/* ---- changes ---- */

static void
on_published(void *ud, int status)
{
    struct admin_conn *c = ud;
    struct proxy_conf *next = c->pending;
    char *doc = NULL;

    c->publishing = false;
    c->pending = NULL;
    if (c->state == ADMIN_CLOSING) {
        proxy_conf_unref(next);
        if (c->handle_done)
            admin_conn_close(c); /* frees: the handle already closed */
        return;
    }
    if (status < 0) {
        c->pending_status = 0;
        proxy_conf_unref(next);
        respond_error(c, 503, "the change was not applied everywhere: %s", uv_strerror(status));
        return;
    }
    if (c->pending_kind == PENDING_ACTION) {
        const struct proxy_conf_listener *l = proxy_conf_listener_find(next, c->pending_name);
        if (l != NULL)
            doc = listener_doc(l);
    } else if (c->pending_kind == PENDING_GROUP) {
        const struct target_group *g = proxy_conf_group_find(next, c->pending_name);
        if (g != NULL)
            doc = group_doc(g);
    } else if (c->pending_kind == PENDING_STATE) {
        doc = state_doc(next);
    } else {
        const struct target_group *g = proxy_conf_group_find(next, c->pending_name);
        if (g != NULL)
            doc = health_doc(c->api->proxy, g);
    }
    proxy_conf_unref(next);
    if (doc == NULL) /* cannot happen: the name was validated in this generation */
        respond_error(c, 500, "'%s' vanished from the published configuration", c->pending_name);
    else
        respond_json(c, c->pending_status != 0 ? c->pending_status : 200, doc);
    c->pending_status = 0;
}

/* Publishes <next> (our ref is passed on) and answers when every worker acked. */
static void
publish(struct admin_conn *c, struct proxy_conf *next, int kind, const char *name)
{
    struct err err;
    int rc;

    err_clear(&err);
    c->pending = proxy_conf_ref(next);
    c->pending_kind = kind;
    snprintf(c->pending_name, sizeof(c->pending_name), "%s", name);
    c->publishing = true;
    rc = proxy_publish(c->api->proxy, next, on_published, c, &err);
    if (rc < 0) { /* -EINVAL: a change runtime cannot make; -ECANCELED: the proxy is going
                   * away; anything else: a listener could not bind */
        c->publishing = false;
        c->pending_status = 0;
        proxy_conf_unref(c->pending);
        c->pending = NULL;
        respond_error(c,
                      rc == -EINVAL      ? 400
                      : rc == -ECANCELED ? 503
                                         : 409,
                      "%s", err.msg[0] ? err.msg : uv_strerror(rc));
    }
}

static struct proxy_conf *
clone_current(struct admin_conn *c)
{
    struct proxy_conf *cur = proxy_acquire_conf(c->api->proxy);
    struct proxy_conf *next = proxy_conf_clone(cur);

    proxy_conf_unref(cur);
    return next;
}

static void
put_action(struct admin_conn *c, const char *listener)
{
    struct proxy_api_action a;
    struct proxy_conf_weight *fw;
    struct proxy_conf *next;
    struct err err;
    int rc;

    err_clear(&err);
    if (proxy_api_action_parse(&a, c->body.data != NULL ? c->body.data : "", c->body.len, &err) <
        0) {
        respond_error(c, 400, "%s", err.msg);
        return;
    }
    fw = mem_calloc(a.nforward, sizeof(*fw));
    for (size_t i = 0; i < a.nforward; i++) {
        fw[i].group = a.forward[i].target_group;
        fw[i].weight = a.forward[i].weight;
    }
    next = clone_current(c);
    rc = proxy_conf_set_forward(next, listener, fw, a.nforward, &err);
    free(fw);
    proxy_api_action_fini(&a);
    if (rc < 0) {
        proxy_conf_unref(next);
        respond_error(c, rc == -ENOENT ? 404 : 400, "%s", err.msg);
        return;
    }
    publish(c, next, PENDING_ACTION, listener);
}

static void
change_targets(struct admin_conn *c, const char *group, bool add)
{
    struct proxy_api_targets t;
    struct addr *addrs = NULL;
    struct proxy_conf *next;
    struct err err;
    int rc;

    err_clear(&err);
    if (proxy_api_targets_parse(&t, c->body.data != NULL ? c->body.data : "", c->body.len, &err) <
        0) {
        respond_error(c, 400, "%s", err.msg);
        return;
    }
    if (t.ntargets > ADMIN_MAX_TARGETS) {
        proxy_api_targets_fini(&t);
        respond_error(c, 400, "targets: at most %d per call", ADMIN_MAX_TARGETS);
        return;
    }
    addrs = mem_calloc(t.ntargets, sizeof(*addrs));
    for (size_t i = 0; i < t.ntargets; i++) {
        if (addr_parse(&addrs[i], t.targets[i]) < 0 || addr_is_unix(&addrs[i])) {
            respond_error(c, 400, "targets[%zu]: invalid address '%s' (expected host:port)", i,
                          t.targets[i]);
            goto out;
        }
    }
    next = clone_current(c);
    if (add)
        rc = proxy_conf_add_targets(next, group, addrs, t.ntargets, proxy_registry(c->api->proxy),
                                    &err);
    else
        rc = proxy_conf_remove_targets(next, group, addrs, t.ntargets, &err);
    if (rc < 0) {
        proxy_conf_unref(next);
        respond_error(c, rc == -ENOENT ? 404 : 400, "%s", err.msg);
        goto out;
    }
    publish(c, next, PENDING_TARGETS, group);
out:
    free(addrs);
    proxy_api_targets_fini(&t);
}

/* Validates <ch> on a throwaway copy (private targets, so a refused change registers nothing),
 * then applies it to the generation to publish; answers with <kind>'s document. */
static void
apply_changes(struct admin_conn *c, const struct proxy_api_changes *ch, bool batch, int kind,
              const char *name, bool created)
{
    struct proxy_conf *check = clone_current(c), *next;
    struct err err;
    int rc;

    err_clear(&err);
    rc = proxy_conf_apply_changes(check, ch, batch, NULL, &err);
    proxy_conf_unref(check);
    if (rc < 0) {
        respond_error(c,
                      rc == -ENOENT                       ? (batch ? 400 : 404)
                      : rc == -EBUSY || rc == -EADDRINUSE ? 409
                                                          : 400,
                      "%s", err.msg);
        return;
    }
    next = clone_current(c);
    rc = proxy_conf_apply_changes(next, ch, batch, proxy_registry(c->api->proxy), &err);
    ASSERT(rc == 0); /* the same change on the same generation was just accepted */
    c->pending_status = created ? 201 : 200;
    publish(c, next, kind, name);
}

static const char *
body_text(const struct admin_conn *c)
{
    return c->body.data != NULL ? c->body.data : "";
}

static void
put_group(struct admin_conn *c, const char *name, const struct proxy_conf *conf)
{
    struct proxy_api_changes ch;
    struct err err;

    err_clear(&err);
    if (proxy_api_group_put_parse(&ch, name, body_text(c), c->body.len, &err) < 0) {
        respond_error(c, 400, "%s", err.msg);
        return;
    }
    if (ch.groups[0].has_targets && ch.groups[0].ntargets > ADMIN_MAX_TARGETS) {
        respond_error(c, 400, "targets: at most %d per group", ADMIN_MAX_TARGETS);
    } else {
        apply_changes(c, &ch, false, PENDING_GROUP, name,
                      proxy_conf_group_find(conf, name) == NULL);
    }
    proxy_api_changes_fini(&ch);
}

static void
put_listener(struct admin_conn *c, const char *name, const struct proxy_conf *conf)
{
    struct proxy_api_changes ch;
    struct err err;

    err_clear(&err);
    if (proxy_api_listener_put_parse(&ch, name, body_text(c), c->body.len, &err) < 0) {
        respond_error(c, 400, "%s", err.msg);
        return;
    }
    apply_changes(c, &ch, false, PENDING_ACTION, name,
                  proxy_conf_listener_find(conf, name) == NULL);
    proxy_api_changes_fini(&ch);
}

static void
delete_object(struct admin_conn *c, const char *name, bool group)
{
    struct proxy_api_changes ch;
    const char *names[1] = {name};

    memset(&ch, 0, sizeof(ch));
    if (group) {
        ch.delete_groups = names;
        ch.ndelete_groups = 1;
    } else {
        ch.delete_listeners = names;
        ch.ndelete_listeners = 1;
    }
    apply_changes(c, &ch, false, PENDING_STATE, name, false);
}

static void
post_changes(struct admin_conn *c)
{
    struct proxy_api_changes ch;
    struct err err;

    err_clear(&err);
    if (proxy_api_changes_parse(&ch, body_text(c), c->body.len, &err) < 0) {
        respond_error(c, 400, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < ch.ngroups; i++) {
        if (ch.groups[i].has_targets && ch.groups[i].ntargets > ADMIN_MAX_TARGETS) {
            respond_error(c, 400, "target_groups.%s.targets: at most %d per group",
                          ch.groups[i].name, ADMIN_MAX_TARGETS);
            proxy_api_changes_fini(&ch);
            return;
        }
    }
    apply_changes(c, &ch, true, PENDING_STATE, "changes", false);
    proxy_api_changes_fini(&ch);
}

/* ---- routing ---- */

/* Splits "/a/b/c?q" into at most <max> decoded segments in <buf>; returns the count, or -1 when
 * there are more or a segment is malformed. */
static int
split_path(const char *target, char *buf, size_t size, const char **seg, int max)
{
    size_t o = 0;
    int n = 0;

    if (target[0] != '/')
        return -1;
    for (const char *p = target + 1; *p != '\0' && *p != '?' && *p != '#'; p++) {
        if (o + 2 >= size)
            return -1;
        if (*p == '/') {
            buf[o++] = '\0';
            continue;
        }
        if (o == 0 || buf[o - 1] == '\0') {
            if (n == max)
                return -1;
            seg[n++] = buf + o;
        }
        if (*p == '%' && p[1] != '\0' && p[2] != '\0') {
            char hex[3] = {p[1], p[2], '\0'};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end != '\0' || v <= 0)
                return -1;
            buf[o++] = (char)v;
            p += 2;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return n;
}

static void
route_listeners(struct admin_conn *c, const char *method, const char **seg, int n,
                struct proxy_conf *conf)
{
    const struct proxy_conf_listener *l = n >= 2 ? proxy_conf_listener_find(conf, seg[1]) : NULL;

    if (n == 1 && strcmp(method, "GET") == 0)
        respond_json(c, 200, listeners_doc(conf));
    else if (n == 2 && strcmp(method, "PUT") == 0)
        put_listener(c, seg[1], conf);
    else if (n >= 2 && n <= 3 && l == NULL)
        respond_error(c, 404, "unknown listener '%s'", seg[1]);
    else if (n == 2 && strcmp(method, "GET") == 0)
        respond_json(c, 200, listener_doc(l));
    else if (n == 2 && strcmp(method, "DELETE") == 0)
        delete_object(c, seg[1], false);
    else if (n == 3 && strcmp(seg[2], "action") == 0 && strcmp(method, "PUT") == 0)
        put_action(c, seg[1]);
    else if (n == 3 && strcmp(seg[2], "action") == 0 && strcmp(method, "GET") == 0)
        respond_json(c, 200, listener_doc(l));
    else
        respond_error(c, n <= 3 ? 405 : 404, "no route for %s %s", method, c->head->target);
}

static void
route_groups(struct admin_conn *c, const char *method, const char **seg, int n,
             struct proxy_conf *conf)
{
    const struct target_group *g = n >= 2 ? proxy_conf_group_find(conf, seg[1]) : NULL;

    if (n == 1 && strcmp(method, "GET") == 0)
        respond_json(c, 200, groups_doc(conf));
    else if (n == 2 && strcmp(method, "PUT") == 0)
        put_group(c, seg[1], conf);
    else if (n >= 2 && n <= 3 && g == NULL)
        respond_error(c, 404, "unknown target group '%s'", seg[1]);
    else if (n == 2 && strcmp(method, "GET") == 0)
        respond_json(c, 200, group_doc(g));
    else if (n == 2 && strcmp(method, "DELETE") == 0)
        delete_object(c, seg[1], true);
    else if (n == 3 && strcmp(seg[2], "health") == 0 && strcmp(method, "GET") == 0)
        respond_json(c, 200, health_doc(c->api->proxy, g));
    else if (n == 3 && strcmp(seg[2], "targets") == 0 && strcmp(method, "POST") == 0)
        change_targets(c, seg[1], true);
    else if (n == 3 && strcmp(seg[2], "targets") == 0 && strcmp(method, "DELETE") == 0)
        change_targets(c, seg[1], false);
    else
        respond_error(c, n == 2 || n == 3 ? 405 : 404, "no route for %s %s", method,
                      c->head->target);
}

static void
dispatch(struct admin_conn *c)
{
    const char *method = c->head->method;
    const char *seg[4];
    char path[1024];
    int n = split_path(c->head->target, path, sizeof(path), seg, 4);
    struct proxy_conf *conf;
    struct buf m;

    conn_log(c, LOG_DEBUG, "%s %s", method, c->head->target);
    if (c->too_large) {
        c->keep_alive = false;
        respond_error(c, 413, "request body over %d bytes", ADMIN_MAX_BODY);
        return;
    }
    if (n < 0) {
        respond_error(c, 404, "no route for %s %s", method, c->head->target);
        return;
    }
    conf = proxy_acquire_conf(c->api->proxy);
    if (n == 1 && strcmp(seg[0], "healthz") == 0) {
        respond_json(c, 200, mem_strdup("{\"status\":\"ok\"}"));
    } else if (n == 1 && strcmp(seg[0], "metrics") == 0 && strcmp(method, "GET") == 0) {
        buf_init(&m);
        metrics_render(&m, conf, proxy_listeners(c->api->proxy), proxy_registry(c->api->proxy));
        respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf_take(&m));
    } else if (n >= 1 && strcmp(seg[0], "listeners") == 0) {
        route_listeners(c, method, seg, n, conf);
    } else if (n >= 1 && strcmp(seg[0], "target-groups") == 0) {
        route_groups(c, method, seg, n, conf);
    } else if (n == 1 && strcmp(seg[0], "changes") == 0 && strcmp(method, "POST") == 0) {
        post_changes(c);
    } else {
        respond_error(c, 404, "no route for %s %s", method, c->head->target);
    }
    proxy_conf_unref(conf);
}

/* ---- reading ---- */

static int
on_head(void *ud, struct http1_head *head)
{
    struct admin_conn *c = ud;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    c->head = head;
    c->keep_alive = head->keep_alive;
    c->too_large = head->framing == HTTP1_BODY_LENGTH && head->content_length > ADMIN_MAX_BODY;
    buf_reset(&c->body);
    if (head->expect_continue && !c->too_large) {
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)cont, sizeof(cont) - 1);
        c->continue_req.data = c;
        (void)uv_write(&c->continue_req, &c->h.stream, &b, 1, NULL);
    }
    return c->too_large ? HTTP1_ABORT : HTTP1_OK;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct admin_conn *c = ud;

    if (c->body.len + len > ADMIN_MAX_BODY) {
        c->too_large = true;
        return HTTP1_ABORT;
    }
    buf_append(&c->body, data, len);
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t n)
{
    (void)ud;
    (void)trailers;
    (void)n;
    return HTTP1_PAUSE; /* answer before parsing a pipelined request */
}

static const struct http1_callbacks request_cbs = {on_head, on_body, on_complete};

/* Feeds buffered input; answers the request it completes. */
static void
process_input(struct admin_conn *c)
{
    size_t used = 0;
    int rc;

    if (c->state != ADMIN_READING || c->in.len == 0)
        return;
    rc = http1_parser_feed(c->parser, c->in.data, c->in.len, &used);
    buf_consume(&c->in, used);
    if (rc == HTTP1_PAUSE) {
        uv_read_stop(&c->h.stream);
        conn_enter(c, ADMIN_ANSWERING);
        dispatch(c);
    } else if (rc == -ECANCELED && c->too_large) {
        uv_read_stop(&c->h.stream);
        conn_enter(c, ADMIN_ANSWERING);
        dispatch(c);
    } else if (rc < 0) {
        int st = http1_parser_status(c->parser);
        uv_read_stop(&c->h.stream);
        c->keep_alive = false;
        conn_enter(c, ADMIN_ANSWERING);
        respond_error(c, st != 0 ? st : 400, "%s", http1_parser_reason(c->parser));
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct admin_conn *c = h->data;

    (void)suggested;
    *b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct admin_conn *c = s->data;

    if (c->state == ADMIN_CLOSING)
        return;
    if (nread < 0) {
        admin_conn_close(c);
        return;
    }
    buf_append(&c->in, b->base, (size_t)nread);
    if (c->in.len > ADMIN_MAX_BODY + ADMIN_MAX_HEAD) { /* a client that never stops */
        admin_conn_close(c);
        return;
    }
    process_input(c);
}

static void
on_idle(uv_timer_t *t)
{
    struct admin_conn *c = t->data;

    if (c->state == ADMIN_READING) {
        conn_log(c, LOG_DEBUG, "idle for %d ms: closing", ADMIN_IDLE_TIMEOUT_MS);
        admin_conn_close(c);
    }
}

static void
start_reading(struct admin_conn *c)
{
    uv_timer_start(&c->idle, on_idle, ADMIN_IDLE_TIMEOUT_MS, 0);
    if (uv_read_start(&c->h.stream, on_alloc, on_read) < 0)
        admin_conn_close(c);
}

/* ---- connection lifetime ---- */

static void
conn_free(struct admin_conn *c)
{
    struct admin_api *api = c->api;
    struct admin_conn **pp = &api->conns;

    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    http1_parser_free(c->parser);
    buf_fini(&c->in);
    buf_fini(&c->body);
    buf_fini(&c->out);
    free(c);
    if (--api->live == 0 && api->stopping && api->listener_closed)
        free(api);
}

static void
on_conn_closed(uv_handle_t *h)
{
    struct admin_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    c->handle_done = true;
    if (!c->publishing)
        conn_free(c);
}

/* The only way out; idempotent. Frees once the handle closed and no publication is pending. */
static void
admin_conn_close(struct admin_conn *c)
{
    if (c->state == ADMIN_CLOSING) {
        if (c->handle_done && !c->publishing)
            conn_free(c);
        return;
    }
    c->state = ADMIN_CLOSING;
    uv_close(&c->h.handle, on_conn_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_closed);
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct admin_api *api = server->data;
    struct admin_conn *c;
    struct http1_limits lim = {.max_head_bytes = ADMIN_MAX_HEAD, .max_headers = 64};

    if (status < 0 || api->stopping)
        return;
    c = mem_calloc(1, sizeof(*c));
    c->api = api;
    c->id = ++api->next_id;
    if (api->is_unix)
        uv_pipe_init(api->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(api->loop, &c->h.tcp);
    c->h.handle.data = c;
    uv_timer_init(api->loop, &c->idle);
    c->idle.data = c;
    c->open_handles = 2;
    c->next = api->conns;
    api->conns = c;
    api->live++;
    buf_init(&c->in);
    buf_init(&c->body);
    buf_init(&c->out);
    c->parser = http1_parser_new(HTTP1_REQUEST, &lim, &request_cbs, c);
    c->state = ADMIN_READING;
    if (uv_accept(server, &c->h.stream) < 0) {
        admin_conn_close(c);
        return;
    }
    if (api->live > ADMIN_MAX_CONNS) { /* a local client leaking connections: keep our fds */
        conn_log(c, LOG_WARN, "over %d admin connections: closing this one", ADMIN_MAX_CONNS);
        admin_conn_close(c);
        return;
    }
    if (!api->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    start_reading(c);
}

/* ---- the listening socket ---- */

static int
bind_unix(struct admin_api *api, const char *path, struct err *err)
{
    struct stat st;
    mode_t old;
    int rc;

    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* stale: a live proxy holding it would be a config error anyway */
    uv_pipe_init(api->loop, &api->listener.pipe, 0);
    old = umask(0177); /* the socket is created 0600: no window with wider permissions */
    rc = uv_pipe_bind(&api->listener.pipe, path);
    umask(old);
    if (rc == 0 && chmod(path, 0600) < 0)
        rc = -errno;
    if (rc < 0)
        return err_set(err, rc, "admin unix:%s: bind: %s", path, uv_strerror(rc));
    return 0;
}

int
admin_api_start(struct admin_api **out, struct proxy *p, int inherited_fd, struct err *err)
{
    struct admin_api *api = mem_calloc(1, sizeof(*api));
    struct proxy_conf *conf = proxy_acquire_conf(p);
    struct addr admin = conf->admin;
    bool have_msg = false;
    int rc;

    proxy_conf_unref(conf);
    api->proxy = p;
    api->loop = proxy_loop(p);
    api->is_unix = addr_is_unix(&admin);
    if (inherited_fd >= 0 && api->is_unix) {
        uv_pipe_init(api->loop, &api->listener.pipe, 0);
        rc = uv_pipe_open(&api->listener.pipe, inherited_fd);
    } else if (inherited_fd >= 0) {
        uv_tcp_init(api->loop, &api->listener.tcp);
        rc = uv_tcp_open(&api->listener.tcp, inherited_fd);
    } else if (api->is_unix) {
        rc = bind_unix(api, admin.text + strlen("unix:"), err);
        have_msg = rc < 0;
    } else {
        uv_tcp_init(api->loop, &api->listener.tcp);
        rc = uv_tcp_bind(&api->listener.tcp, (const struct sockaddr *)&admin.ss, 0);
    }
    api->listener.handle.data = api;
    if (rc == 0)
        rc = uv_listen(&api->listener.stream, 128, on_connection);
    if (rc < 0) {
        if (!have_msg)
            err_set(err, rc, "admin %s: %s", admin.text, uv_strerror(rc));
        admin_api_stop(api);
        return rc;
    }
    log_info("admin api listening on %s", admin.text);
    *out = api;
    return 0;
}

int
admin_api_fd(const struct admin_api *a)
{
    uv_os_fd_t fd = -1;

    (void)uv_fileno(&a->listener.handle, &fd);
    return fd;
}

static void
on_listener_closed(uv_handle_t *h)
{
    struct admin_api *api = h->data;

    api->listener_closed = true;
    if (api->live == 0)
        free(api);
}

void
admin_api_stop(struct admin_api *a)
{
    if (a == NULL)
        return;
    a->stopping = true;
    for (struct admin_conn *c = a->conns, *next; c != NULL; c = next) {
        next = c->next;
        admin_conn_close(c);
    }
    if (uv_is_closing(&a->listener.handle))
        return;
    if (a->listener.handle.type == UV_UNKNOWN_HANDLE) { /* never initialised */
        free(a);
        return;
    }
    uv_close(&a->listener.handle, on_listener_closed);
}
