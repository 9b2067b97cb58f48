/* SPDX-License-Identifier: ISC */
/* server/notify on a real loop against a real HTTP receiver (common/http_server): a webhook
 * answered 500 twice is retried and delivered on the third attempt with the same body; a dead
 * receiver is given up after the configured attempts with doubling delays; closing the sender
 * with a delivery waiting drops it and leaves the loop clean. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <uv.h>

#include "common/addr.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/http_server.h"
#include "server/notify.h"

struct receiver {
    struct http_server *srv;
    int fail_first; /* answer 500 to this many requests */
    int seen;
    char last_body[512];
    uint64_t at_ms[8]; /* uv_now of each request */
    uv_loop_t *loop;
};

static void
on_request(struct http_server_req *req, void *ud)
{
    struct receiver *r = ud;
    size_t len = 0;
    const char *body = http_server_req_body(req, &len);

    if (r->seen < 8)
        r->at_ms[r->seen] = uv_now(r->loop);
    r->seen++;
    snprintf(r->last_body, sizeof(r->last_body), "%.*s", (int)len, body != NULL ? body : "");
    if (r->seen <= r->fail_first)
        http_server_respond(req, 500, "text/plain", "no\n", 3);
    else
        http_server_respond(req, 200, "application/json", "{}", 2);
}

static int
start_receiver(uv_loop_t *loop, struct receiver *r)
{
    struct http_server_conf conf = {0};
    struct http_server_callbacks cb = {.ud = r, .on_request = on_request};
    struct addr a;
    struct err err;

    r->loop = loop;
    assert_int_equal(http_server_new(&r->srv, loop, &conf, &cb, &err), 0);
    assert_int_equal(addr_parse(&a, "127.0.0.1:1"), 0);
    ((struct sockaddr_in *)&a.ss)->sin_port = 0; /* any free port */
    assert_int_equal(http_server_listen(r->srv, &a, &err), 0);
    return http_server_port(r->srv);
}

static void
run_until_idle(uv_loop_t *loop, struct notify *n, unsigned seconds)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)seconds * 1000000000ull;

    while (notify_pending(n) > 0 && uv_hrtime() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(notify_pending(n), 0);
}

static void
close_all(uv_loop_t *loop, struct notify *n, struct receiver *r)
{
    notify_close(n);
    if (r != NULL)
        http_server_close(r->srv, NULL, NULL);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void
retried_until_delivered(void **state)
{
    uv_loop_t loop;
    struct receiver r = {.fail_first = 2};
    struct notify *n;
    char url[64];

    (void)state;
    uv_loop_init(&loop);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", start_receiver(&loop, &r));
    n = notify_new(&loop);
    notify_set_policy(n, 5, 50);
    notify_send(n, url, strdup("{\"triggerEvent\":\"DeploymentSuccess\"}"));
    run_until_idle(&loop, n, 10);
    assert_int_equal(r.seen, 3);
    assert_int_equal(notify_delivered(n), 1);
    assert_int_equal(notify_dropped(n), 0);
    assert_string_equal(r.last_body, "{\"triggerEvent\":\"DeploymentSuccess\"}");
    /* backoff: 50 ms then 100 ms between attempts (timer granularity: at least that) */
    assert_true(r.at_ms[1] - r.at_ms[0] >= 50);
    assert_true(r.at_ms[2] - r.at_ms[1] >= 100);
    close_all(&loop, n, &r);
}

static void
dead_receiver_is_given_up(void **state)
{
    uv_loop_t loop;
    struct receiver r = {0};
    struct notify *n;
    char url[64];
    uint64_t t0;
    int port;

    (void)state;
    uv_loop_init(&loop);
    port = start_receiver(&loop, &r);
    http_server_close(r.srv, NULL, NULL); /* nobody listens there any more */
    uv_run(&loop, UV_RUN_DEFAULT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    n = notify_new(&loop);
    notify_set_policy(n, 3, 40);
    t0 = uv_hrtime();
    notify_send(n, url, strdup("{}"));
    run_until_idle(&loop, n, 10);
    assert_int_equal(notify_delivered(n), 0);
    assert_int_equal(notify_dropped(n), 1);
    assert_true(uv_hrtime() - t0 >= 120ull * 1000000ull); /* 40 + 80 ms of backoff */
    close_all(&loop, n, NULL);
}

static void
close_drops_waiting_deliveries(void **state)
{
    uv_loop_t loop;
    struct receiver r = {.fail_first = 100};
    struct notify *n;
    char url[64];
    uint64_t t0 = uv_hrtime();

    (void)state;
    uv_loop_init(&loop);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", start_receiver(&loop, &r));
    n = notify_new(&loop);
    notify_set_policy(n, 5, 60000);
    notify_send(n, url, strdup("{}"));
    while (r.seen == 0 && uv_hrtime() - t0 < 10ull * 1000000000ull)
        uv_run(&loop, UV_RUN_ONCE); /* the first attempt fails; the retry waits a minute */
    assert_int_equal(r.seen, 1);
    t0 = uv_hrtime();
    close_all(&loop, n, &r); /* returns at once: nothing waits a minute */
    assert_true(uv_hrtime() - t0 < 10ull * 1000000000ull);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retried_until_delivered),
        cmocka_unit_test(dead_receiver_is_given_up),
        cmocka_unit_test(close_drops_waiting_deliveries),
    };

    assert_int_equal(http_fetch_global_init(), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
