/* SPDX-License-Identifier: ISC */
/* One target's health probe, on the main loop. One TCP connection per check (as ALB), closed
 * after the status line; the timer bounds the whole check (connect + response head).
 *
 *   IDLE ──interval──▶ CONNECTING ──connected──▶ WAITING ──status / error──▶ CLOSING ─▶ IDLE
 *     └──────────────── timeout (CONNECTING, WAITING) ─────────▶ CLOSING
 *   any state ──health_stop / target gone──▶ STOPPED ─▶ freed when its handles closed
 */
#include "proxy/health.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "proxy/proxy_conf.h"

enum probe_state {
    PROBE_IDLE = 0,   /* waiting for the next interval */
    PROBE_CONNECTING, /* TCP connect in flight */
    PROBE_WAITING,    /* request sent, reading the status line */
    PROBE_CLOSING,    /* check over, its connection closing */
    PROBE_STOPPED,    /* detached from its target; handles closing; freed at the last close */
};

static const char *const probe_state_names[] = {
    [PROBE_IDLE] = "idle",       [PROBE_CONNECTING] = "connecting", [PROBE_WAITING] = "waiting",
    [PROBE_CLOSING] = "closing", [PROBE_STOPPED] = "stopped",
};

struct health {
    uv_loop_t *loop;             /* borrowed: the main loop */
    struct health_probe *probes; /* owned: live probes (stopped ones are off the list) */
    uint64_t sweep;              /* mark of the current reconciliation */
    size_t closing;              /* stopped probes whose handles are still closing */
    bool stopping;               /* health_stop ran: free once closing reaches 0 */
};

struct health_probe {
    struct health *h;          /* borrowed: the checker */
    struct target *target;     /* a ref is held until the probe is freed */
    struct health_probe *next; /* the checker's list */
    enum probe_state state;
    uv_timer_t timer; /* interval in IDLE, timeout in CONNECTING/WAITING */
    uv_tcp_t tcp;     /* one connection per check */
    bool tcp_open;    /* tcp initialised and its close callback not yet run */
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct http1_parser *parser; /* owned: this check's response parser */
    struct buf request;          /* the request bytes of this check */
    char rbuf[2048];
    int status;             /* this check's response status, 0 if none yet */
    int pending_closes;     /* STOPPED: handles still closing */
    uint64_t check_started; /* uv_now() when the current or last check began */
    uint64_t mark;          /* last reconciliation that saw this target in use */
    /* the group's settings, refreshed by every generation */
    char *path;    /* owned */
    char *host;    /* owned: Host header value */
    uint16_t port; /* 0: the target's own port */
    uint64_t interval_ms, timeout_ms;
    uint32_t healthy_threshold, unhealthy_threshold;
    struct health_matcher matcher;
};

static const char *const outcome_names[HEALTH_NOUTCOMES] = {
    [HEALTH_PASS] = "pass",
    [HEALTH_BAD_STATUS] = "bad_status",
    [HEALTH_TIMEOUT] = "timeout",
    [HEALTH_CONNECT_FAILED] = "connect_failed",
    [HEALTH_BAD_RESPONSE] = "bad_response",
};

const char *
health_outcome_name(enum health_outcome o)
{
    return (unsigned)o < HEALTH_NOUTCOMES ? outcome_names[o] : "?";
}

/* ---- pure logic ---- */

static enum target_reason
reason_of(enum health_outcome o)
{
    switch (o) {
    case HEALTH_PASS:
        return TARGET_REASON_NONE;
    case HEALTH_BAD_STATUS:
        return TARGET_REASON_RESPONSE_CODE_MISMATCH;
    case HEALTH_TIMEOUT:
        return TARGET_REASON_TIMEOUT;
    case HEALTH_CONNECT_FAILED:
    case HEALTH_BAD_RESPONSE:
        return TARGET_REASON_FAILED_HEALTH_CHECKS;
    }
    return TARGET_REASON_INTERNAL_ERROR;
}

struct health_verdict
health_next(struct health_verdict cur, uint32_t *passes, uint32_t *failures,
            uint32_t healthy_threshold, uint32_t unhealthy_threshold, enum health_outcome o)
{
    struct health_verdict v = cur;
    bool pass = o == HEALTH_PASS;

    if (cur.state == TARGET_DRAINING || cur.state == TARGET_UNUSED)
        return cur;
    if (pass) {
        (*passes)++;
        *failures = 0;
    } else {
        (*failures)++;
        *passes = 0;
    }
    switch (cur.state) {
    case TARGET_INITIAL:
        if (pass)
            v = (struct health_verdict){TARGET_HEALTHY, TARGET_REASON_NONE};
        else if (*failures >= unhealthy_threshold)
            v = (struct health_verdict){TARGET_UNHEALTHY, reason_of(o)};
        else
            v.reason = TARGET_REASON_INITIAL_HEALTH_CHECKING;
        break;
    case TARGET_HEALTHY:
        if (!pass && *failures >= unhealthy_threshold)
            v = (struct health_verdict){TARGET_UNHEALTHY, reason_of(o)};
        else
            v.reason = TARGET_REASON_NONE;
        break;
    case TARGET_UNHEALTHY:
        if (pass && *passes >= healthy_threshold)
            v = (struct health_verdict){TARGET_HEALTHY, TARGET_REASON_NONE};
        else if (!pass)
            v.reason = reason_of(o);
        break;
    case TARGET_DRAINING:
    case TARGET_UNUSED:
        break;
    }
    return v;
}

static int
parse_code(const char *s, size_t len, uint32_t *out)
{
    char tmp[8];

    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return str_to_u32(tmp, out, 200, 499);
}

int
health_matcher_parse(struct health_matcher *m, const char *s, struct err *err)
{
    const char *p = s;

    memset(m, 0, sizeof(*m));
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        const char *dash;
        uint32_t lo, hi;
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        dash = memchr(p, '-', len);
        if (m->n == HEALTH_MATCHER_MAX)
            goto bad;
        if (dash == NULL) {
            if (parse_code(p, len, &lo) != 0)
                goto bad;
            hi = lo;
        } else if (parse_code(p, (size_t)(dash - p), &lo) != 0 ||
                   parse_code(dash + 1, len - (size_t)(dash - p) - 1, &hi) != 0 || hi < lo) {
            goto bad;
        }
        m->ranges[m->n].lo = (uint16_t)lo;
        m->ranges[m->n].hi = (uint16_t)hi;
        m->n++;
        if (end == NULL)
            break;
        p = end + 1;
        if (*p == '\0')
            goto bad;
    }
    if (m->n == 0)
        goto bad;
    return 0;
bad:
    memset(m, 0, sizeof(*m));
    return err_set(err, -EINVAL,
                   "invalid matcher '%s' (expected codes 200-499 like 200, 200-399 or 200,302)", s);
}

bool
health_matcher_match(const struct health_matcher *m, int status)
{
    for (size_t i = 0; i < m->n; i++) {
        if (status >= m->ranges[i].lo && status <= m->ranges[i].hi)
            return true;
    }
    return false;
}

/* ---- one probe ---- */

static void on_timer(uv_timer_t *t);
static void on_tcp_closed(uv_handle_t *h);

static void probe_log(const struct health_probe *pr, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
probe_log(const struct health_probe *pr, enum log_level level, const char *fmt, ...)
{
    char ctx[256];
    va_list ap;

    if (!log_enabled(level))
        return;
    snprintf(ctx, sizeof(ctx), "group=%s target=%s probe=%s", pr->target->group_name,
             pr->target->addr.text, probe_state_names[pr->state]);
    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}

/* The only place that assigns pr->state. */
static void
probe_enter(struct health_probe *pr, enum probe_state next)
{
    ASSERT(pr->state != PROBE_STOPPED);
    probe_log(pr, LOG_DEBUG, "-> %s", probe_state_names[next]);
    pr->state = next;
    switch (next) {
    case PROBE_IDLE: { /* as ALB: the interval runs from one check's start to the next */
        uint64_t spent = uv_now(pr->h->loop) - pr->check_started;
        uv_timer_start(&pr->timer, on_timer, spent < pr->interval_ms ? pr->interval_ms - spent : 0,
                       0);
        break;
    }
    case PROBE_CONNECTING:
        uv_timer_start(&pr->timer, on_timer, pr->timeout_ms, 0);
        break;
    case PROBE_WAITING: /* the timeout covers connect + response: keep the timer */
        break;
    case PROBE_CLOSING:
    case PROBE_STOPPED:
        uv_timer_stop(&pr->timer);
        break;
    }
}

static void
record(struct health_probe *pr, enum health_outcome o)
{
    struct target *t = pr->target;
    struct health_verdict cur = {target_group_state(t),
                                 (enum target_reason)atomic_load(&t->reason)};
    struct health_verdict next = health_next(cur, &t->health_passes, &t->health_failures,
                                             pr->healthy_threshold, pr->unhealthy_threshold, o);

    t->health_last_status = pr->status;
    probe_log(pr, LOG_DEBUG, "check %s (status %d)", health_outcome_name(o), pr->status);
    if (next.state == cur.state && next.reason == cur.reason)
        return;
    target_group_set_state(t, next.state, next.reason);
    if (next.state != cur.state)
        probe_log(pr, LOG_INFO, "target %s %s (was %s) after check %s, status %d%s%s", t->addr.text,
                  target_group_state_name(next.state), target_group_state_name(cur.state),
                  health_outcome_name(o), pr->status, next.reason != TARGET_REASON_NONE ? ": " : "",
                  next.reason != TARGET_REASON_NONE ? target_group_reason_name(next.reason) : "");
}

/* Ends the current check with <o>: records it and closes the connection. */
static void
finish(struct health_probe *pr, enum health_outcome o)
{
    if (pr->state != PROBE_CONNECTING && pr->state != PROBE_WAITING)
        return;
    record(pr, o);
    http1_parser_free(pr->parser);
    pr->parser = NULL;
    probe_enter(pr, PROBE_CLOSING);
    uv_close((uv_handle_t *)&pr->tcp, on_tcp_closed);
}

static int
on_response_head(void *ud, struct http1_head *head)
{
    struct health_probe *pr = ud;

    if (head->status < 200) /* interim (100, 103): the final status follows */
        return HTTP1_OK;
    pr->status = head->status;
    return HTTP1_ABORT; /* the status is all a check needs */
}

static const struct http1_callbacks response_cbs = {on_response_head, NULL, NULL};

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct health_probe *pr = h->data;

    (void)suggested;
    *b = uv_buf_init(pr->rbuf, sizeof(pr->rbuf));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct health_probe *pr = s->data;
    size_t used;
    int rc;

    if (pr->state != PROBE_WAITING)
        return;
    if (nread == UV_EOF) {
        finish(pr, HEALTH_BAD_RESPONSE);
        return;
    }
    if (nread < 0) {
        finish(pr, HEALTH_CONNECT_FAILED);
        return;
    }
    rc = http1_parser_feed(pr->parser, b->base, (size_t)nread, &used);
    if (pr->status != 0)
        finish(pr,
               health_matcher_match(&pr->matcher, pr->status) ? HEALTH_PASS : HEALTH_BAD_STATUS);
    else if (rc < 0)
        finish(pr, HEALTH_BAD_RESPONSE);
}

static void
on_written(uv_write_t *req, int status)
{
    struct health_probe *pr = req->data;

    if (status < 0 && pr->state == PROBE_WAITING)
        finish(pr, HEALTH_CONNECT_FAILED);
}

static void
on_connected(uv_connect_t *req, int status)
{
    struct health_probe *pr = req->data;
    uv_buf_t b;

    if (pr->state != PROBE_CONNECTING) /* late: timed out or stopped (UV_ECANCELED) */
        return;
    if (status < 0) {
        probe_log(pr, LOG_DEBUG, "connect: %s", uv_strerror(status));
        finish(pr, HEALTH_CONNECT_FAILED);
        return;
    }
    probe_enter(pr, PROBE_WAITING);
    b = uv_buf_init(pr->request.data, (unsigned)pr->request.len);
    pr->write_req.data = pr;
    if (uv_write(&pr->write_req, (uv_stream_t *)&pr->tcp, &b, 1, on_written) < 0 ||
        uv_read_start((uv_stream_t *)&pr->tcp, on_alloc, on_read) < 0)
        finish(pr, HEALTH_CONNECT_FAILED);
}

static void
begin_check(struct health_probe *pr)
{
    struct target *t = pr->target;
    struct sockaddr_storage ss = t->addr.ss;
    int rc;

    if (target_group_state(t) == TARGET_INITIAL &&
        atomic_load(&t->reason) == TARGET_REASON_REGISTRATION_IN_PROGRESS)
        target_group_set_state(t, TARGET_INITIAL, TARGET_REASON_INITIAL_HEALTH_CHECKING);
    if (pr->port != 0 && ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(pr->port);
    else if (pr->port != 0 && ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(pr->port);
    pr->status = 0;
    pr->check_started = uv_now(pr->h->loop);
    buf_reset(&pr->request);
    buf_appendf(&pr->request,
                "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cutover-health-checker/1.0\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n",
                pr->path, pr->host);
    pr->parser = http1_parser_new(HTTP1_RESPONSE, NULL, &response_cbs, pr);
    http1_parser_set_request_method(pr->parser, "GET");
    uv_tcp_init(pr->h->loop, &pr->tcp);
    pr->tcp.data = pr;
    pr->tcp_open = true;
    pr->connect_req.data = pr;
    probe_enter(pr, PROBE_CONNECTING);
    rc = uv_tcp_connect(&pr->connect_req, &pr->tcp, (const struct sockaddr *)&ss, on_connected);
    if (rc < 0) {
        probe_log(pr, LOG_DEBUG, "connect: %s", uv_strerror(rc));
        finish(pr, HEALTH_CONNECT_FAILED);
    }
}

static void
on_timer(uv_timer_t *timer)
{
    struct health_probe *pr = timer->data;

    switch (pr->state) {
    case PROBE_IDLE:
        begin_check(pr);
        break;
    case PROBE_CONNECTING:
    case PROBE_WAITING:
        finish(pr, HEALTH_TIMEOUT);
        break;
    case PROBE_CLOSING:
    case PROBE_STOPPED:
        break;
    }
}

static void
probe_free(struct health_probe *pr)
{
    struct health *h = pr->h;

    http1_parser_free(pr->parser);
    buf_fini(&pr->request);
    free(pr->path);
    free(pr->host);
    target_group_target_unref(pr->target);
    free(pr);
    if (--h->closing == 0 && h->stopping)
        free(h);
}

static void
on_probe_handle_closed(uv_handle_t *handle)
{
    struct health_probe *pr = handle->data;

    if (--pr->pending_closes == 0)
        probe_free(pr);
}

static void
on_tcp_closed(uv_handle_t *handle)
{
    struct health_probe *pr = handle->data;

    pr->tcp_open = false;
    if (pr->state == PROBE_STOPPED)
        on_probe_handle_closed(handle);
    else
        probe_enter(pr, PROBE_IDLE);
}

/* Detaches <pr> from its target and closes its handles; freed in the last close callback. */
static void
probe_stop(struct health_probe *pr)
{
    pr->target->probe = NULL;
    probe_enter(pr, PROBE_STOPPED);
    pr->h->closing++;
    pr->pending_closes = 1;
    uv_close((uv_handle_t *)&pr->timer, on_probe_handle_closed);
    if (pr->tcp_open) {
        pr->pending_closes++;
        if (!uv_is_closing((uv_handle_t *)&pr->tcp))
            uv_close((uv_handle_t *)&pr->tcp, on_tcp_closed);
    }
}

static void
probe_configure(struct health_probe *pr, const struct target_group *g)
{
    const struct target_group_health *hc = &g->health;
    uint64_t old_interval = pr->interval_ms;
    struct err err;
    char host[ADDR_TEXT_MAX + 8];

    free(pr->path);
    pr->path = mem_strdup(hc->path != NULL && hc->path[0] == '/' ? hc->path : "/");
    pr->port = hc->port;
    pr->interval_ms = hc->interval_ms != 0 ? hc->interval_ms : 30000;
    pr->timeout_ms = hc->timeout_ms != 0 ? hc->timeout_ms : 5000;
    pr->healthy_threshold = hc->healthy_threshold != 0 ? hc->healthy_threshold : 5;
    pr->unhealthy_threshold = hc->unhealthy_threshold != 0 ? hc->unhealthy_threshold : 2;
    if (hc->matcher == NULL || health_matcher_parse(&pr->matcher, hc->matcher, &err) != 0) {
        pr->matcher.n = 1;
        pr->matcher.ranges[0].lo = hc->matcher_lo != 0 ? hc->matcher_lo : 200;
        pr->matcher.ranges[0].hi = hc->matcher_hi != 0 ? hc->matcher_hi : 200;
    }
    free(pr->host);
    if (pr->port == 0) {
        pr->host = mem_strdup(pr->target->addr.text);
    } else {
        struct buf b;
        addr_host(&pr->target->addr, host, sizeof(host));
        buf_init(&b);
        buf_appendf(&b, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host, pr->port);
        pr->host = buf_take(&b);
    }
    /* a new interval counts from the last check's start, not after the old interval ran out */
    if (old_interval != 0 && old_interval != pr->interval_ms && pr->state == PROBE_IDLE)
        probe_enter(pr, PROBE_IDLE);
}

static struct health_probe *
probe_new(struct health *h, struct target *t, const struct target_group *g)
{
    struct health_probe *pr = mem_calloc(1, sizeof(*pr));

    pr->h = h;
    pr->target = target_group_target_ref(t);
    t->health_passes = 0; /* a new probe counts from scratch (re-registered, back in use) */
    t->health_failures = 0;
    buf_init(&pr->request);
    uv_timer_init(h->loop, &pr->timer);
    pr->timer.data = pr;
    probe_configure(pr, g);
    t->probe = pr;
    pr->next = h->probes;
    h->probes = pr;
    /* the first check runs at once: a new target should not wait an interval to leave initial */
    pr->state = PROBE_IDLE;
    uv_timer_start(&pr->timer, on_timer, 0, 0);
    return pr;
}

/* ---- following generations ---- */

static void
reconcile_group(struct health *h, struct proxy_conf *conf, const struct target_group *g)
{
    bool in_use = proxy_conf_group_in_use(conf, g);

    for (size_t i = 0; i < g->ntargets; i++) {
        struct target *t = g->targets[i];
        enum target_state st = target_group_state(t);
        if (st == TARGET_DRAINING)
            continue;
        if (!in_use) {
            if (st != TARGET_UNUSED)
                target_group_set_state(t, TARGET_UNUSED, TARGET_REASON_NOT_IN_USE);
            continue;
        }
        if (st == TARGET_UNUSED) /* its group is back in an action: check it again */
            target_group_set_state(t, TARGET_INITIAL, TARGET_REASON_INITIAL_HEALTH_CHECKING);
        if (t->probe == NULL)
            probe_new(h, t, g);
        else
            probe_configure(t->probe, g);
        t->probe->mark = h->sweep;
    }
}

void
health_update(void *health, struct proxy_conf *conf)
{
    struct health *h = health;
    struct health_probe **pp = &h->probes;

    if (h->stopping)
        return;
    h->sweep++;
    for (size_t i = 0; i < conf->ngroups; i++)
        reconcile_group(h, conf, &conf->groups[i]);
    while (*pp != NULL) { /* stop the probes of targets no longer checked */
        struct health_probe *pr = *pp;
        if (pr->mark == h->sweep) {
            pp = &pr->next;
            continue;
        }
        *pp = pr->next;
        probe_stop(pr);
    }
}

struct health *
health_new(uv_loop_t *loop)
{
    struct health *h = mem_calloc(1, sizeof(*h));

    h->loop = loop;
    return h;
}

void
health_stop(struct health *h)
{
    if (h == NULL || h->stopping)
        return;
    h->stopping = true;
    while (h->probes != NULL) {
        struct health_probe *pr = h->probes;
        h->probes = pr->next;
        probe_stop(pr);
    }
    if (h->closing == 0)
        free(h);
}
