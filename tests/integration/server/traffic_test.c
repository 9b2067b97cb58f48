/* SPDX-License-Identifier: ISC */
/* server/traffic and server/alarms against a real `cutover proxy` with two real backends
 * (tests/backend/backend.py), on a real loop: health read, target registration until healthy,
 * a forward change verified by read-back, a refused change reported with the proxy's message,
 * /metrics turned into a 5xx-ratio sample, deregistration, and a dead admin port. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/err.h"
#include "common/http_fetch.h"
#include "server/alarms.h"
#include "server/traffic.h"

struct world {
    uv_loop_t loop;
    uv_process_t procs[3];
    int nprocs;
    int admin_port, web_port, blue_port, green_port;
    char admin[64], blue[64], green[64];
    char dir[64];
};

static struct world W;

/* The result of the last call, copied out of the callback. */
struct got {
    bool done;
    int status;
    char msg[256];
    char states[4][32]; /* target states, in the order of <want_targets> */
    uint32_t weights[2];
    size_t nforward;
    uint64_t requests, errors;
    struct deployment_metric_sample sample;
};

static const char *want_targets[2];
static const char *metrics_group;

static int
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)p;
    (void)status;
    (void)sig;
}

static void
spawn(const char *const *argv)
{
    uv_process_options_t o = {
        .file = argv[0], .args = (char **)(uintptr_t)argv, .exit_cb = on_exit_cb};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};

    o.stdio = stdio;
    o.stdio_count = 3;
    assert_int_equal(uv_spawn(&W.loop, &W.procs[W.nprocs], &o), 0);
    W.nprocs++;
}

static void
on_result(void *ud, const struct traffic_result *res)
{
    struct got *g = ud;

    g->done = true;
    g->status = res->status;
    snprintf(g->msg, sizeof(g->msg), "%s", res->msg);
    for (size_t i = 0; i < 2 && want_targets[i] != NULL; i++) {
        const char *s = traffic_target_state(&res->health, want_targets[i]);
        snprintf(g->states[i], sizeof(g->states[i]), "%s", s != NULL ? s : "absent");
    }
    g->nforward = res->action.nforward;
    for (size_t i = 0; i < res->action.nforward && i < 2; i++)
        g->weights[i] = res->action.forward[i].weight;
    if (res->text != NULL && metrics_group != NULL) {
        struct deployment_metric_sample s;
        assert_int_equal(alarms_parse_sample(res->text, res->text_len, metrics_group, 0, &s), 0);
        g->requests = s.requests;
        g->errors = s.errors;
        g->sample = s;
    }
}

/* Runs the loop until the call reported (bounded). */
static void
wait_done(struct got *g)
{
    uint64_t deadline = uv_hrtime() + 10ull * 1000000000ull;

    while (!g->done && uv_hrtime() < deadline)
        uv_run(&W.loop, UV_RUN_ONCE);
    assert_true(g->done);
}

static struct got
health(const char *group, const char *t0)
{
    struct got g = {0};

    want_targets[0] = t0;
    want_targets[1] = NULL;
    assert_int_equal(traffic_health(&W.loop, W.admin, group, on_result, &g), 0);
    wait_done(&g);
    return g;
}

/* Polls the group's health until <target> is in <state> (bounded). */
static void
wait_state(const char *group, const char *target, const char *state)
{
    uint64_t deadline = uv_hrtime() + 15ull * 1000000000ull;
    struct got g = {0};

    while (uv_hrtime() < deadline) {
        g = health(group, target);
        if (g.status == 0 && strcmp(g.states[0], state) == 0)
            return;
        usleep(100 * 1000); /* poll interval of a bounded wait, not a race cover */
    }
    fail_msg("%s %s: state %s (status %d %s), wanted %s", group, target, g.states[0], g.status,
             g.msg, state);
}

static int
setup(void **state)
{
    char conf[1024], path[128], port_s[3][16];
    FILE *f;

    (void)state;
    memset(&W, 0, sizeof(W));
    assert_int_equal(uv_loop_init(&W.loop), 0);
    assert_int_equal(http_fetch_global_init(), 0);
    W.admin_port = free_port();
    W.web_port = free_port();
    W.blue_port = free_port();
    W.green_port = free_port();
    snprintf(W.admin, sizeof(W.admin), "127.0.0.1:%d", W.admin_port);
    snprintf(W.blue, sizeof(W.blue), "127.0.0.1:%d", W.blue_port);
    snprintf(W.green, sizeof(W.green), "127.0.0.1:%d", W.green_port);
    snprintf(W.dir, sizeof(W.dir), "/tmp/cutover-traffic-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    snprintf(conf, sizeof(conf),
             "admin: %s\nworkers: 1\nlisteners:\n  web:\n    bind: 127.0.0.1:%d\n"
             "    forward:\n      - {target_group: blue, weight: 100}\n"
             "      - {target_group: green, weight: 0}\n"
             "target_groups:\n  blue:\n    deregistration_delay: 1s\n"
             "    health_check: {path: /health, interval: 200ms, timeout: 150ms,"
             " healthy_threshold: 2, unhealthy_threshold: 2}\n    targets: [%s]\n"
             "  green:\n    deregistration_delay: 1s\n"
             "    health_check: {path: /health, interval: 200ms, timeout: 150ms,"
             " healthy_threshold: 2, unhealthy_threshold: 2}\n    targets: []\n",
             W.admin, W.web_port, W.blue);
    snprintf(path, sizeof(path), "%s/proxy.yaml", W.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(conf, f);
    fclose(f);
    snprintf(port_s[0], sizeof(port_s[0]), "%d", W.blue_port);
    snprintf(port_s[1], sizeof(port_s[1]), "%d", W.green_port);
    spawn((const char *[]){"/usr/bin/python3", CUTOVER_BACKEND, "--port", port_s[0], "--name",
                           "blue", NULL});
    spawn((const char *[]){"/usr/bin/python3", CUTOVER_BACKEND, "--port", port_s[1], "--name",
                           "green", NULL});
    spawn((const char *[]){CUTOVER_BIN, "proxy", "-c", path, NULL});
    return 0;
}

static int
teardown(void **state)
{
    char path[128];

    (void)state;
    for (int i = 0; i < W.nprocs; i++) {
        uv_process_kill(&W.procs[i], SIGKILL);
        uv_close((uv_handle_t *)&W.procs[i], NULL);
    }
    uv_run(&W.loop, UV_RUN_DEFAULT);
    uv_loop_close(&W.loop);
    snprintf(path, sizeof(path), "%s/proxy.yaml", W.dir);
    unlink(path);
    rmdir(W.dir);
    return 0;
}

static void
register_shift_scrape_deregister(void **state)
{
    struct got g = {0};
    struct proxy_api_forward fw[2] = {{"blue", 0}, {"green", 100}};
    const char *targets[1] = {W.green};
    char url[128];

    (void)state;
    /* the proxy comes up: blue's backend turns healthy */
    wait_state("blue", W.blue, "healthy");

    /* register green's backend; it turns healthy */
    assert_int_equal(traffic_targets(&W.loop, W.admin, "green", true, targets, 1, on_result, &g),
                     0);
    wait_done(&g);
    assert_int_equal(g.status, 0);
    wait_state("green", W.green, "healthy");

    /* move all traffic to green: the change is read back */
    memset(&g, 0, sizeof(g));
    assert_int_equal(traffic_set_forward(&W.loop, W.admin, "web", fw, 2, on_result, &g), 0);
    wait_done(&g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.nforward, 2);
    assert_int_equal(g.weights[0] + g.weights[1], 100);

    /* 20 requests answered 500 by green are 20 errors in green's sample */
    for (int i = 0; i < 20; i++) {
        struct http_fetch_response r;
        struct err err;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/x?status=500", W.web_port);
        assert_int_equal(http_fetch_request("GET", url, NULL, NULL, 0, 3000, &r, &err), 0);
        assert_int_equal(r.status, 500);
        http_fetch_response_fini(&r);
    }
    memset(&g, 0, sizeof(g));
    metrics_group = "green";
    assert_int_equal(traffic_metrics(&W.loop, W.admin, on_result, &g), 0);
    wait_done(&g);
    metrics_group = NULL;
    assert_int_equal(g.status, 0);
    assert_true(g.requests >= 20);
    assert_true(g.errors >= 20);

    /* 10 answers after 300 ms: the p99 of green's histogram is in the 0.5 s bucket */
    for (int i = 0; i < 10; i++) {
        struct http_fetch_response r;
        struct err err;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/x?delay=0.3", W.web_port);
        assert_int_equal(http_fetch_request("GET", url, NULL, NULL, 0, 3000, &r, &err), 0);
        assert_int_equal(r.status, 200);
        http_fetch_response_fini(&r);
    }
    memset(&g, 0, sizeof(g));
    metrics_group = "green";
    assert_int_equal(traffic_metrics(&W.loop, W.admin, on_result, &g), 0);
    wait_done(&g);
    metrics_group = NULL;
    {
        struct deployment_alarm p99 = {DEPLOYMENT_METRIC_TARGET_P99_SECONDS, 0.25, 30000, 1};
        struct deployment_metric_sample zero;
        double v;
        memset(&zero, 0, sizeof(zero));
        assert_true(g.sample.nbuckets > 2);
        assert_true(deployment_alarm_eval(&p99, &zero, &g.sample, &v));
        assert_true(v >= 0.3 && v <= 0.5);
    }

    /* deregister green's backend: draining, then gone */
    fw[0].weight = 100;
    fw[1].weight = 0;
    memset(&g, 0, sizeof(g));
    assert_int_equal(traffic_set_forward(&W.loop, W.admin, "web", fw, 2, on_result, &g), 0);
    wait_done(&g);
    assert_int_equal(g.status, 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(traffic_targets(&W.loop, W.admin, "green", false, targets, 1, on_result, &g),
                     0);
    wait_done(&g);
    assert_int_equal(g.status, 0);
    wait_state("green", W.green, "absent");
}

static void
refusals_and_dead_proxies_are_reported(void **state)
{
    struct proxy_api_forward fw[1] = {{"nosuchgroup", 100}};
    struct got g = {0};

    (void)state;
    wait_state("blue", W.blue, "healthy");
    assert_int_equal(traffic_set_forward(&W.loop, W.admin, "web", fw, 1, on_result, &g), 0);
    wait_done(&g);
    assert_int_equal(g.status, -EPROTO);
    assert_non_null(strstr(g.msg, "HTTP 4"));

    memset(&g, 0, sizeof(g));
    assert_int_equal(traffic_health(&W.loop, "127.0.0.1:1", "blue", on_result, &g), 0);
    wait_done(&g);
    assert_int_equal(g.status, -ECONNREFUSED);

    assert_int_equal(traffic_health(&W.loop, "", "blue", on_result, &g), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(register_shift_scrape_deregister, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_and_dead_proxies_are_reported, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
