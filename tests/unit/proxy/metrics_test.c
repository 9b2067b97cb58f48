/* SPDX-License-Identifier: ISC */
/* proxy/metrics: the exposition sums every worker's slot, labels requests by listener, group,
 * target and status class, renders a cumulative histogram whose +Inf equals _count, counts
 * healthy/unhealthy hosts, and keeps each family contiguous under one TYPE line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "proxy/listener.h"
#include "proxy/metrics.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

static const char conf_yaml[] =
    "workers: 2\n"
    "listeners:\n"
    "  web: {bind: 127.0.0.1:8080, forward: [{target_group: blue, weight: 90},\n"
    "                                         {target_group: green, weight: 10}]}\n"
    "  test: {bind: 127.0.0.1:8081, forward: [{target_group: green, weight: 1}]}\n"
    "target_groups:\n"
    "  blue: {targets: [127.0.0.1:9001, 127.0.0.1:9002]}\n"
    "  green: {targets: [127.0.0.1:9003]}\n"
    "  spare: {targets: []}\n";

struct fixture {
    char name[32]; /* the listener's name (struct listener owns a mutable string) */
    struct target_group_registry *reg;
    struct proxy_conf *conf;
    struct listener web;
    struct listener_stats web_slots[2];
    struct buf out;
};

static struct target *
target(struct fixture *f, const char *group, const char *addr)
{
    struct addr a;

    assert_int_equal(addr_parse(&a, addr), 0);
    return target_group_find(proxy_conf_group_find(f->conf, group), &a);
}

static void
fixture_init(struct fixture *f)
{
    struct err err = {0};

    memset(f, 0, sizeof(*f));
    f->reg = target_group_registry_new(2);
    if (proxy_conf_load_buffer(&f->conf, "m.yaml", conf_yaml, sizeof(conf_yaml) - 1, f->reg,
                               &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(f->name, sizeof(f->name), "web");
    f->web.name = f->name;
    f->web.nslots = 2;
    f->web.slots = f->web_slots;
    buf_init(&f->out);
}

static void
fixture_fini(struct fixture *f)
{
    buf_fini(&f->out);
    proxy_conf_unref(f->conf);
    target_group_registry_free(f->reg);
}

static void
assert_line(const struct buf *out, const char *line)
{
    char want[512];

    snprintf(want, sizeof(want), "\n%s\n", line);
    if (strstr(out->data, want) == NULL)
        fail_msg("missing line: %s\n--- in:\n%s", line, out->data);
}

static void
requests_are_summed_over_workers_and_labelled(void **state)
{
    struct fixture f;
    struct target *b1;

    (void)state;
    fixture_init(&f);
    b1 = target(&f, "blue", "127.0.0.1:9001");
    target_group_stats_record(b1, 0, 200, 100, 1000, 3000);
    target_group_stats_record(b1, 1, 204, 100, 1000, 30000);
    target_group_stats_record(b1, 1, 503, 100, 10, 3000000);
    target_group_stats_record(b1, 0, 0, 100, 0, -1); /* no response */
    target_group_stats_connect_error(b1, 1);
    metrics_render(&f.out, f.conf, &f.web, f.reg);
    assert_line(&f.out, "cutover_requests_total{listener=\"web\",target_group=\"blue\","
                        "target=\"127.0.0.1:9001\",status_class=\"2xx\"} 2");
    assert_line(&f.out, "cutover_requests_total{listener=\"web\",target_group=\"blue\","
                        "target=\"127.0.0.1:9001\",status_class=\"5xx\"} 1");
    assert_line(&f.out, "cutover_requests_total{listener=\"web\",target_group=\"blue\","
                        "target=\"127.0.0.1:9001\",status_class=\"none\"} 1");
    /* green is behind two listeners */
    assert_line(&f.out, "cutover_requests_total{listener=\"web,test\",target_group=\"green\","
                        "target=\"127.0.0.1:9003\",status_class=\"2xx\"} 0");
    assert_line(&f.out, "cutover_target_bytes_sent_total{target_group=\"blue\","
                        "target=\"127.0.0.1:9001\"} 400");
    assert_line(&f.out, "cutover_target_bytes_received_total{target_group=\"blue\","
                        "target=\"127.0.0.1:9001\"} 2010");
    assert_line(&f.out, "cutover_target_connect_errors_total{target_group=\"blue\","
                        "target=\"127.0.0.1:9001\"} 1");
    fixture_fini(&f);
}

static void
histogram_is_cumulative_and_ends_at_count(void **state)
{
    struct fixture f;
    struct target *b2;

    (void)state;
    fixture_init(&f);
    b2 = target(&f, "blue", "127.0.0.1:9002");
    target_group_stats_record(b2, 0, 200, 1, 1, 3000);     /* 3 ms */
    target_group_stats_record(b2, 1, 200, 1, 1, 30000);    /* 30 ms */
    target_group_stats_record(b2, 0, 200, 1, 1, 3000000);  /* 3 s */
    target_group_stats_record(b2, 1, 200, 1, 1, 60000000); /* 60 s: +Inf only */
    metrics_render(&f.out, f.conf, NULL, NULL);
#define B(le, n)                                                                                   \
    "cutover_target_response_time_seconds_bucket{target_group=\"blue\","                           \
    "target=\"127.0.0.1:9002\",le=\"" le "\"} " #n
    assert_line(&f.out, B("0.005", 1));
    assert_line(&f.out, B("0.025", 1));
    assert_line(&f.out, B("0.05", 2));
    assert_line(&f.out, B("2.5", 2));
    assert_line(&f.out, B("5", 3));
    assert_line(&f.out, B("10", 3));
    assert_line(&f.out, B("+Inf", 4));
#undef B
    assert_line(&f.out, "cutover_target_response_time_seconds_count{target_group=\"blue\","
                        "target=\"127.0.0.1:9002\"} 4");
    assert_line(&f.out, "cutover_target_response_time_seconds_sum{target_group=\"blue\","
                        "target=\"127.0.0.1:9002\"} 63.033000");
    fixture_fini(&f);
}

static void
host_counts_states_and_listeners(void **state)
{
    struct fixture f;

    (void)state;
    fixture_init(&f);
    target_group_set_state(target(&f, "blue", "127.0.0.1:9001"), TARGET_HEALTHY,
                           TARGET_REASON_NONE);
    target_group_set_state(target(&f, "blue", "127.0.0.1:9002"), TARGET_UNHEALTHY,
                           TARGET_REASON_TIMEOUT);
    f.web_slots[0].conns_accepted = 5;
    f.web_slots[0].conns_closed = 1;
    f.web_slots[1].conns_accepted = 2;
    f.web_slots[1].conns_closed = 2;
    f.web_slots[1].requests[2] = 7;
    f.web_slots[0].bytes_sent = 11;
    f.web_slots[1].bytes_sent = 31;
    metrics_render(&f.out, f.conf, &f.web, f.reg);
    assert_line(&f.out, "cutover_target_group_healthy_hosts{target_group=\"blue\"} 1");
    assert_line(&f.out, "cutover_target_group_unhealthy_hosts{target_group=\"blue\"} 1");
    assert_line(&f.out, "cutover_target_group_healthy_hosts{target_group=\"spare\"} 0");
    assert_line(&f.out, "cutover_target_state{target_group=\"blue\",target=\"127.0.0.1:9002\","
                        "state=\"unhealthy\"} 1");
    assert_line(&f.out, "cutover_target_state{target_group=\"blue\",target=\"127.0.0.1:9002\","
                        "state=\"healthy\"} 0");
    assert_line(&f.out, "cutover_listener_active_connections{listener=\"web\"} 4");
    assert_line(&f.out, "cutover_listener_connections_total{listener=\"web\"} 7");
    assert_line(&f.out, "cutover_listener_requests_total{listener=\"web\",status_class=\"2xx\"} 7");
    assert_line(&f.out, "cutover_listener_bytes_sent_total{listener=\"web\"} 42");
    fixture_fini(&f);
}

static void
families_are_contiguous_and_labels_escaped(void **state)
{
    struct fixture f;
    char seen[64][96];
    size_t nseen = 0;
    char current[96] = "";

    (void)state;
    fixture_init(&f);
    snprintf(f.name, sizeof(f.name), "we\"b\\x");
    metrics_render(&f.out, f.conf, &f.web, f.reg);
    assert_non_null(strstr(f.out.data, "listener=\"we\\\"b\\\\x\""));
    for (char *line = f.out.data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char name[96];
        size_t len = strcspn(line, "{ ");
        *nl = '\0';
        if (strncmp(line, "# TYPE ", 7) == 0) {
            snprintf(current, sizeof(current), "%.*s", (int)strcspn(line + 7, " "), line + 7);
            for (size_t i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], current);
            assert_true(nseen < 64);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", current);
            continue;
        }
        if (line[0] == '#')
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)len, line);
        if (strncmp(name, current, strlen(current)) != 0)
            fail_msg("sample %s outside its family (current %s)", name, current);
    }
    fixture_fini(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_are_summed_over_workers_and_labelled),
        cmocka_unit_test(histogram_is_cumulative_and_ends_at_count),
        cmocka_unit_test(host_counts_states_and_listeners),
        cmocka_unit_test(families_are_contiguous_and_labels_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
