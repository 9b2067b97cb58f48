/* SPDX-License-Identifier: ISC */
/* proxy/health on a real loop against real sockets: a passing target goes healthy, a 503 goes
 * unhealthy with Target.ResponseCodeMismatch, a closed port with Target.FailedHealthChecks, a
 * silent one with Target.Timeout; a group no listener forwards to is unused; a target that
 * leaves the configuration stops being probed; and health_stop closes everything. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "common/addr.h"
#include "common/err.h"
#include "proxy/health.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

enum mode { MODE_OK, MODE_503, MODE_SILENT };

struct server {
    uv_tcp_t tcp;
    enum mode mode;
    int port;
    int checks;          /* requests seen */
    char last_head[256]; /* start of the last request */
};

struct peer {
    uv_tcp_t tcp;
    struct server *srv;
    uv_write_t wr;
    char buf[1024];
    bool answered;
};

static void
on_peer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
on_answer_written(uv_write_t *w, int status)
{
    struct peer *pe = w->data;

    (void)status;
    uv_close((uv_handle_t *)&pe->tcp, on_peer_closed);
}

static void
peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    struct peer *pe = h->data;

    (void)n;
    *b = uv_buf_init(pe->buf, sizeof(pe->buf) - 1);
}

static void
peer_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    static char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    static char bad[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    struct peer *pe = s->data;
    uv_buf_t out;

    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_peer_closed);
        return;
    }
    if (nread == 0 || pe->answered)
        return;
    b->base[nread] = '\0';
    pe->srv->checks++;
    snprintf(pe->srv->last_head, sizeof(pe->srv->last_head), "%s", b->base);
    if (pe->srv->mode == MODE_SILENT)
        return;
    pe->answered = true;
    out = pe->srv->mode == MODE_OK ? uv_buf_init(ok, sizeof(ok) - 1)
                                   : uv_buf_init(bad, sizeof(bad) - 1);
    pe->wr.data = pe;
    uv_write(&pe->wr, s, &out, 1, on_answer_written);
}

static void
on_peer(uv_stream_t *server, int status)
{
    struct peer *pe = calloc(1, sizeof(*pe));

    assert_int_equal(status, 0);
    pe->srv = server->data;
    uv_tcp_init(server->loop, &pe->tcp);
    pe->tcp.data = pe;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&pe->tcp), 0);
    uv_read_start((uv_stream_t *)&pe->tcp, peer_alloc, peer_read);
}

static void
server_start(uv_loop_t *loop, struct server *s, enum mode mode)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    memset(s, 0, sizeof(*s));
    s->mode = mode;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 16, on_peer), 0);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&bound, &len);
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

/* A port nothing listens on: bind one, note it, close it. */
static int
closed_port(uv_loop_t *loop)
{
    struct server s;
    int port;

    server_start(loop, &s, MODE_OK);
    port = s.port;
    uv_close((uv_handle_t *)&s.tcp, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return port;
}

static struct proxy_conf *
conf_using(const char *active, const int *ports, size_t n, int idle_port,
           struct target_group_registry *reg)
{
    char yaml[2048];
    size_t o;
    struct proxy_conf *c = NULL;
    struct err err = {0};

    o = (size_t)snprintf(yaml, sizeof(yaml),
                         "workers: 1\n"
                         "listeners:\n"
                         "  web: {bind: 127.0.0.1:1, forward: [{target_group: %s, weight: 1}]}\n"
                         "target_groups:\n"
                         "  g:\n"
                         "    health_check: {path: /health, interval: 150ms, timeout: 100ms,\n"
                         "                   healthy_threshold: 2, unhealthy_threshold: 2}\n"
                         "    targets: [",
                         active);
    for (size_t i = 0; i < n; i++)
        o +=
            (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s127.0.0.1:%d", i ? ", " : "", ports[i]);
    snprintf(yaml + o, sizeof(yaml) - o, "]\n  idle: {targets: [127.0.0.1:%d]}\n", idle_port);
    if (proxy_conf_load_buffer(&c, "t.yaml", yaml, strlen(yaml), reg, &err) != 0)
        fail_msg("%s", err.msg);
    return c;
}

static struct proxy_conf *
conf_for(const int *ports, size_t n, int idle_port, struct target_group_registry *reg)
{
    return conf_using("g", ports, n, idle_port, reg);
}

static struct target *
target_at(const struct proxy_conf *c, const char *group, int port)
{
    struct addr a;
    char text[32];

    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    assert_int_equal(addr_parse(&a, text), 0);
    return target_group_find(proxy_conf_group_find(c, group), &a);
}

struct want {
    struct target *t;
    enum target_state state;
    enum target_reason reason;
};

static bool
all_reached(const struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (target_group_state(w[i].t) != w[i].state ||
            (enum target_reason)atomic_load(&w[i].t->reason) != w[i].reason)
            return false;
    }
    return true;
}

/* Runs the loop until every target reached its state (bounded: 5 s). */
static void
run_until(uv_loop_t *loop, const struct want *w, size_t n)
{
    uint64_t deadline = uv_now(loop) + 5000;

    while (!all_reached(w, n) && uv_now(loop) < deadline)
        uv_run(loop, UV_RUN_ONCE);
    for (size_t i = 0; i < n; i++) {
        if (target_group_state(w[i].t) != w[i].state ||
            (enum target_reason)atomic_load(&w[i].t->reason) != w[i].reason)
            fail_msg("target %s: %s/%s, want %s/%s", w[i].t->addr.text,
                     target_group_state_name(target_group_state(w[i].t)),
                     target_group_reason_name(atomic_load(&w[i].t->reason)),
                     target_group_state_name(w[i].state), target_group_reason_name(w[i].reason));
    }
}

/* Keeps the loop alive while waiting: health's own timers may be the only handles. */
static void
on_tick(uv_timer_t *t)
{
    (void)t;
}

static void
probes_reach_alb_states_and_reasons(void **state)
{
    uv_loop_t loop;
    uv_timer_t tick;
    struct server ok, bad, silent, idle;
    struct target_group_registry *reg = target_group_registry_new(1);
    struct proxy_conf *c1, *c2;
    struct health *h;
    int ports[4];

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    server_start(&loop, &ok, MODE_OK);
    server_start(&loop, &bad, MODE_503);
    server_start(&loop, &silent, MODE_SILENT);
    server_start(&loop, &idle, MODE_OK);
    ports[0] = ok.port;
    ports[1] = bad.port;
    ports[2] = silent.port;
    ports[3] = closed_port(&loop);
    c1 = conf_for(ports, 4, idle.port, reg);

    h = health_new(&loop);
    health_update(h, c1);
    {
        struct want w[] = {
            {target_at(c1, "g", ports[0]), TARGET_HEALTHY, TARGET_REASON_NONE},
            {target_at(c1, "g", ports[1]), TARGET_UNHEALTHY, TARGET_REASON_RESPONSE_CODE_MISMATCH},
            {target_at(c1, "g", ports[2]), TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT},
            {target_at(c1, "g", ports[3]), TARGET_UNHEALTHY, TARGET_REASON_FAILED_HEALTH_CHECKS},
            {target_at(c1, "idle", idle.port), TARGET_UNUSED, TARGET_REASON_NOT_IN_USE},
        };
        run_until(&loop, w, 5);
        assert_int_equal(target_at(c1, "g", ports[1])->health_last_status, 503);
    }
    assert_int_equal(idle.checks, 0);
    assert_non_null(strstr(ok.last_head, "GET /health HTTP/1.1\r\n"));
    assert_non_null(strstr(ok.last_head, "Connection: close\r\n"));

    /* the passing target starts failing, then recovers after healthy_threshold passes */
    ok.mode = MODE_503;
    {
        struct want w[] = {
            {target_at(c1, "g", ports[0]), TARGET_UNHEALTHY, TARGET_REASON_RESPONSE_CODE_MISMATCH}};
        run_until(&loop, w, 1);
    }
    ok.mode = MODE_OK;
    {
        struct want w[] = {{target_at(c1, "g", ports[0]), TARGET_HEALTHY, TARGET_REASON_NONE}};
        run_until(&loop, w, 1);
    }

    /* a generation without the 503 target: its probe stops at once */
    {
        struct target *gone = target_at(c1, "g", ports[1]);
        int seen;
        c2 = conf_for(ports, 1, idle.port, reg);
        assert_ptr_equal(target_at(c2, "g", ports[0]), target_at(c1, "g", ports[0]));
        assert_non_null(gone->probe);
        health_update(h, c2);
        assert_null(gone->probe);
        assert_non_null(target_at(c2, "g", ports[0])->probe);
        seen = bad.checks;
        for (uint64_t end = uv_now(&loop) + 400; uv_now(&loop) < end;)
            uv_run(&loop, UV_RUN_ONCE);
        assert_int_equal(bad.checks, seen);
    }

    /* g leaves every action: its targets become unused and are not probed; back: initial, then
     * healthy after one pass, counting from scratch */
    {
        struct proxy_conf *c3 = conf_using("idle", ports, 1, idle.port, reg);
        struct proxy_conf *c4 = conf_using("g", ports, 1, idle.port, reg);
        struct target *t = target_at(c3, "g", ports[0]);
        health_update(h, c3);
        assert_int_equal(target_group_state(t), TARGET_UNUSED);
        assert_int_equal(atomic_load(&t->reason), TARGET_REASON_NOT_IN_USE);
        assert_null(t->probe);
        {
            struct want w[] = {
                {target_at(c3, "idle", idle.port), TARGET_HEALTHY, TARGET_REASON_NONE}};
            run_until(&loop, w, 1);
        }
        health_update(h, c4);
        assert_int_equal(target_group_state(t), TARGET_INITIAL);
        assert_non_null(t->probe);
        {
            struct want w[] = {{t, TARGET_HEALTHY, TARGET_REASON_NONE}};
            run_until(&loop, w, 1);
        }
        proxy_conf_unref(c3);
        proxy_conf_unref(c4);
    }

    health_stop(h);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&ok.tcp, NULL);
    uv_close((uv_handle_t *)&bad.tcp, NULL);
    uv_close((uv_handle_t *)&silent.tcp, NULL);
    uv_close((uv_handle_t *)&idle.tcp, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    proxy_conf_unref(c1);
    proxy_conf_unref(c2);
    target_group_registry_free(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probes_reach_alb_states_and_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
