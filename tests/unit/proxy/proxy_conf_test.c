/* SPDX-License-Identifier: ISC */
/* proxy/proxy_conf: the DESIGN.md shape loads with ALB defaults; every error names
 * FILE:LINE:COL; clone and the admin modifiers change only what they say; the registry keeps
 * target objects across generations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "protocol/proxy_api.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

/* DESIGN.md "Config shapes", verbatim. */
static const char design_yaml[] =
    "admin: 127.0.0.1:9901              # admin API; or unix:/run/cutover/proxy.sock\n"
    "workers: auto                      # event-loop threads or processes\n"
    "listeners:\n"
    "  web:\n"
    "    bind: 0.0.0.0:8080\n"
    "    forward:                       # weighted forward action across target groups\n"
    "      - {target_group: blue, weight: 100}\n"
    "      - {target_group: green, weight: 0}\n"
    "  test:                            # a test-traffic listener\n"
    "    bind: 127.0.0.1:8081\n"
    "    forward: [{target_group: green, weight: 1}]\n"
    "target_groups:\n"
    "  blue:\n"
    "    algorithm: round_robin         # or least_outstanding_requests\n"
    "    deregistration_delay: 30s\n"
    "    health_check: {path: /health, interval: 5s, timeout: 2s, healthy_threshold: 3,\n"
    "                   unhealthy_threshold: 2, matcher: \"200-399\"}\n"
    "    targets: [127.0.0.1:9001, 127.0.0.1:9002]\n"
    "  green:\n"
    "    targets: []\n";

static struct proxy_conf *
load_ok(const char *text, struct target_group_registry *reg)
{
    struct proxy_conf *c = NULL;
    struct err err = {0};
    int rc = proxy_conf_load_buffer(&c, "t.yaml", text, strlen(text), reg, &err);

    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    return c;
}

static void
design_shape_loads_with_alb_defaults(void **state)
{
    struct proxy_conf *c = load_ok(design_yaml, NULL);
    const struct proxy_conf_listener *web, *test;
    struct target_group *blue, *green;

    (void)state;
    assert_string_equal(c->admin.text, "127.0.0.1:9901");
    assert_true(c->workers_auto);
    assert_true(c->workers >= 1);
    assert_int_equal(c->nlisteners, 2);
    web = proxy_conf_listener_find(c, "web");
    test = proxy_conf_listener_find(c, "test");
    assert_non_null(web);
    assert_non_null(test);
    assert_string_equal(web->bind.text, "0.0.0.0:8080");
    assert_int_equal(web->idle_timeout_ms, 60000);
    assert_int_equal(web->max_head_bytes, 64 * 1024);
    assert_int_equal(web->nforward, 2);
    assert_string_equal(web->forward[0].group_name, "blue");
    assert_int_equal(web->weights[0], 100);
    assert_int_equal(web->weights[1], 0);
    assert_int_equal(test->forward[0].weight, 1);
    blue = proxy_conf_group_find(c, "blue");
    green = proxy_conf_group_find(c, "green");
    assert_ptr_equal(web->forward[0].group, blue);
    assert_ptr_equal(test->forward[0].group, green);
    assert_int_equal(blue->algorithm, BALANCER_ROUND_ROBIN);
    assert_int_equal(blue->deregistration_delay_ms, 30000);
    assert_int_equal(blue->response_timeout_ms, 60000);
    assert_string_equal(blue->health.path, "/health");
    assert_int_equal(blue->health.interval_ms, 5000);
    assert_int_equal(blue->health.timeout_ms, 2000);
    assert_int_equal(blue->health.healthy_threshold, 3);
    assert_int_equal(blue->health.matcher_lo, 200);
    assert_int_equal(blue->health.matcher_hi, 399);
    assert_int_equal(blue->ntargets, 2);
    assert_string_equal(blue->targets[1]->addr.text, "127.0.0.1:9002");
    assert_int_equal(target_group_state(blue->targets[0]), TARGET_INITIAL);
    /* green: every default as ALB's */
    assert_int_equal(green->ntargets, 0);
    assert_int_equal(green->deregistration_delay_ms, 300000);
    assert_string_equal(green->health.path, "/");
    assert_int_equal(green->health.port, 0);
    assert_int_equal(green->health.interval_ms, 30000);
    assert_int_equal(green->health.timeout_ms, 5000);
    assert_int_equal(green->health.healthy_threshold, 5);
    assert_int_equal(green->health.unhealthy_threshold, 2);
    assert_string_equal(green->health.matcher, "200");
    assert_int_equal(c->shutdown_timeout_ms, 30000);
    assert_true(proxy_conf_group_in_use(c, green));
    assert_true(proxy_conf_has_target(c, blue->targets[0]));
    proxy_conf_unref(c);
}

static void
optional_keys_are_read(void **state)
{
    struct proxy_conf *c =
        load_ok("admin: unix:/tmp/cutover-test.sock\n"
                "workers: 3\n"
                "shutdown_timeout: 1500ms\n"
                "target_groups:\n"
                "  a:\n"
                "    algorithm: least_outstanding_requests\n"
                "    response_timeout: 2s\n"
                "    protocol: HTTP\n"
                "    health_check: {port: 9100, matcher: \"204,302\", protocol: HTTP}\n"
                "  unused: ~\n"
                "listeners:\n"
                "  l:\n"
                "    bind: '[::1]:8080'\n"
                "    idle_timeout: 5\n"
                "    max_head_bytes: 8K\n"
                "    forward: [{target_group: a}]\n",
                NULL);
    struct target_group *a = proxy_conf_group_find(c, "a");

    (void)state;
    assert_string_equal(c->admin.text, "unix:/tmp/cutover-test.sock");
    assert_false(c->workers_auto);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->shutdown_timeout_ms, 1500);
    assert_int_equal(a->algorithm, BALANCER_LEAST_OUTSTANDING);
    assert_int_equal(a->response_timeout_ms, 2000);
    assert_int_equal(a->health.port, 9100);
    assert_int_equal(a->health.matcher_lo, 204);
    assert_int_equal(a->health.matcher_hi, 204);
    assert_int_equal(c->listeners[0].idle_timeout_ms, 5000);
    assert_int_equal(c->listeners[0].max_head_bytes, 8192);
    assert_int_equal(c->listeners[0].forward[0].weight, 1);
    assert_false(proxy_conf_group_in_use(c, proxy_conf_group_find(c, "unused")));
    assert_null(proxy_conf_group_find(c, "nope"));
    assert_null(proxy_conf_listener_find(c, "nope"));
    proxy_conf_unref(c);
}

static const struct {
    const char *name;
    const char *yaml;
    const char *msg;
} bad[] = {
    {"empty", "", "t.yaml:1:1: the file is empty (expected listeners and target_groups)"},
    {"root_not_map", "- a\n- b\n", "t.yaml:1:1: the document is a list (expected a mapping)"},
    {"unknown_top_key",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\nlistner: x\n",
     "t.yaml:8:1: unknown key 'listner' (did you mean 'listeners'?)"},
    {"admin_bad",
     "admin: nowhere\ntarget_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n "
     "   bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:1:8: invalid address 'nowhere' (expected HOST:PORT or unix:/path)"},
    {"workers_bad",
     "workers: many\ntarget_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n  "
     "  bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:1:10: invalid workers 'many' (expected auto or 1 to 256)"},
    {"workers_zero",
     "workers: 0\ntarget_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    "
     "bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:1:10: invalid workers '0' (expected auto or 1 to 256)"},
    {"shutdown_bad",
     "shutdown_timeout: soon\ntarget_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n "
     " web:\n    bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:1:19: shutdown_timeout: 'soon' is not a duration (expected e.g. 500ms, 10s, 5m or "
     "seconds)"},
    {"shutdown_range",
     "shutdown_timeout: 2h\ntarget_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  "
     "web:\n    bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:1:19: shutdown_timeout: duration '2h' is out of range (expected 0ms to 3600s)"},
    {"groups_not_map",
     "target_groups: [a]\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    forward: "
     "[{target_group: blue, weight: 1}]\n",
     "t.yaml:1:16: target_groups is a list (expected a mapping)"},
    {"group_name_bad",
     "target_groups:\n  'bl ue': {}\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    forward: "
     "[{target_group: blue, weight: 1}]\n",
     "t.yaml:2:3: invalid target group name 'bl ue' (expected 1-64 of A-Z a-z 0-9 . _ -)"},
    {"group_not_map",
     "target_groups:\n  blue: [1]\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    forward: "
     "[{target_group: blue, weight: 1}]\n",
     "t.yaml:2:9: a target group is a list (expected a mapping)"},
    {"group_unknown_key",
     "target_groups:\n  blue:\n    algoritm: round_robin\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:5: unknown key 'algoritm' (did you mean 'algorithm'?)"},
    {"algorithm_unknown",
     "target_groups:\n  blue:\n    algorithm: random\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:16: unknown algorithm 'random' (expected round_robin or "
     "least_outstanding_requests)"},
    {"algorithm_not_scalar",
     "target_groups:\n  blue:\n    algorithm: [a]\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n  "
     "  forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:16: algorithm: expected a string, got a list"},
    {"dereg_bad",
     "target_groups:\n  blue:\n    deregistration_delay: forever\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:27: deregistration_delay: 'forever' is not a duration (expected e.g. 500ms, 10s, 5m "
     "or seconds)"},
    {"response_timeout_zero",
     "target_groups:\n  blue:\n    response_timeout: 0\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:23: response_timeout: duration '0' is out of range (expected 1ms to 3600s)"},
    {"hc_not_map",
     "target_groups:\n  blue:\n    health_check: /health\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:19: health_check is a scalar (expected a mapping)"},
    {"hc_unknown_key",
     "target_groups:\n  blue:\n    health_check: {pathh: /x}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:20: health_check: unknown key 'pathh' (did you mean 'path'?)"},
    {"hc_path_bad",
     "target_groups:\n  blue:\n    health_check: {path: health}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:26: health_check: invalid health check path 'health' (expected /path)"},
    {"hc_path_not_scalar",
     "target_groups:\n  blue:\n    health_check: {path: [a]}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:26: health_check: path: expected a string, got a list"},
    {"hc_port_bad",
     "target_groups:\n  blue:\n    health_check: {port: 70000}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:26: health_check: invalid health check port '70000' (expected 1-65535 or "
     "traffic-port)"},
    {"hc_interval_range",
     "target_groups:\n  blue:\n    health_check: {interval: 10m}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:30: health_check: interval: duration '10m' is out of range (expected 100ms to "
     "300s)"},
    {"hc_timeout_bad",
     "target_groups:\n  blue:\n    health_check: {timeout: x}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: timeout: 'x' is not a duration (expected e.g. 500ms, 10s, 5m or "
     "seconds)"},
    {"hc_healthy_range",
     "target_groups:\n  blue:\n    health_check: {healthy_threshold: 11}\nlisteners:\n  web:\n    "
     "bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:39: health_check: healthy_threshold: 11 is out of range (expected 1 to 10)"},
    {"hc_unhealthy_range",
     "target_groups:\n  blue:\n    health_check: {unhealthy_threshold: 0}\nlisteners:\n  web:\n    "
     "bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:41: health_check: unhealthy_threshold: 0 is out of range (expected 1 to 10)"},
    {"hc_matcher_bad",
     "target_groups:\n  blue:\n    health_check: {matcher: ok}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: invalid matcher 'ok' (expected codes 200-499 like 200, 200-399 or "
     "200,302)"},
    {"hc_matcher_range",
     "target_groups:\n  blue:\n    health_check: {matcher: 399-200}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: invalid matcher '399-200' (expected codes 200-499 like 200, "
     "200-399 or 200,302)"},
    {"hc_matcher_long",
     "target_groups:\n  blue:\n    health_check: {matcher: 2000000000000000000-300}\nlisteners:\n  "
     "web:\n    bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: invalid matcher '2000000000000000000-300' (expected codes 200-499 "
     "like 200, 200-399 or 200,302)"},
    {"hc_matcher_list",
     "target_groups:\n  blue:\n    health_check: {matcher: [200]}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: invalid matcher '?' (expected codes 200-499 like 200, 200-399 or "
     "200,302)"},
    {"hc_protocol",
     "target_groups:\n  blue:\n    health_check: {protocol: HTTPS}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:30: health_check: unsupported protocol (expected HTTP)"},
    {"hc_timeout_ge_interval",
     "target_groups:\n  blue:\n    health_check: {interval: 5s, timeout: 5s}\nlisteners:\n  web:\n "
     "   bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:43: health_check: health check timeout must be shorter than the interval (expected "
     "timeout < 5000ms)"},
    {"hc_timeout_ge_default_interval",
     "target_groups:\n  blue:\n    health_check: {timeout: 30s}\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:29: health_check: health check timeout must be shorter than the interval (expected "
     "timeout < 30000ms)"},
    {"group_protocol",
     "target_groups:\n  blue:\n    protocol: TCP\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n   "
     " forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:15: unsupported protocol (expected HTTP)"},
    {"targets_not_list",
     "target_groups:\n  blue:\n    targets: 127.0.0.1:9001\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:14: targets is a scalar (expected a list)"},
    {"target_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001, localhost]\nlisteners:\n  web:\n    "
     "bind: 127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:31: targets: invalid address 'localhost' (expected HOST:PORT)"},
    {"target_unix",
     "target_groups:\n  blue:\n    targets: ['unix:/tmp/x']\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:15: targets: invalid address 'unix:/tmp/x' (expected HOST:PORT)"},
    {"target_not_scalar",
     "target_groups:\n  blue:\n    targets: [[1]]\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n  "
     "  forward: [{target_group: blue, weight: 1}]\n",
     "t.yaml:3:15: targets: expected an address (HOST:PORT), got a list"},
    {"target_dup",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001, 127.0.0.1:9002, "
     "127.0.0.1:9001]\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    forward: [{target_group: "
     "blue, weight: 1}]\n",
     "t.yaml:3:47: targets: duplicate target 127.0.0.1:9001 (expected each address once)"},
    {"no_listeners", "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\n",
     "t.yaml:1:1: no listeners (expected listeners: {NAME: {bind, forward}})"},
    {"listeners_not_map",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners: [web]\n",
     "t.yaml:4:12: listeners is a list (expected a mapping)"},
    {"listeners_empty", "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners: {}\n",
     "t.yaml:4:12: listeners is empty (expected at least one)"},
    {"listener_name_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  'w/b': {}\n",
     "t.yaml:5:3: invalid listener name 'w/b' (expected 1-64 of A-Z a-z 0-9 . _ -)"},
    {"listener_not_map",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web: 8080\n",
     "t.yaml:5:8: a listener is a scalar (expected a mapping)"},
    {"listener_unknown_key",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forwrd: []\n",
     "t.yaml:7:5: unknown key 'forwrd' (did you mean 'forward'?)"},
    {"listener_no_bind",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    forward: "
     "[{target_group: blue}]\n",
     "t.yaml:5:3: listener 'web' has no bind (expected bind: HOST:PORT)"},
    {"listener_no_forward",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n",
     "t.yaml:5:3: listener 'web' has no forward (expected forward: [{target_group, weight}])"},
    {"bind_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: 8080\n "
     "   forward: [{target_group: blue}]\n",
     "t.yaml:6:11: bind: invalid address '8080' (expected HOST:PORT)"},
    {"bind_unix",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "unix:/tmp/s\n    forward: [{target_group: blue}]\n",
     "t.yaml:6:11: bind: invalid address 'unix:/tmp/s' (expected HOST:PORT)"},
    {"forward_not_list",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: blue\n",
     "t.yaml:7:14: forward is a scalar (expected a list)"},
    {"forward_empty",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: []\n",
     "t.yaml:7:14: forward is empty (expected at least one {target_group, weight})"},
    {"forward_entry_not_map",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [blue]\n",
     "t.yaml:7:15: a forward entry is a scalar (expected a mapping)"},
    {"forward_entry_unknown_key",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{group: blue}]\n",
     "t.yaml:7:16: forward: unknown key 'group'"},
    {"forward_no_group",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{weight: 1}]\n",
     "t.yaml:7:15: forward entry has no target_group (expected {target_group: NAME, weight: N})"},
    {"forward_group_not_scalar",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: [blue]}]\n",
     "t.yaml:7:30: forward: target_group is a list (expected a scalar)"},
    {"forward_unknown_group",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: gren, weight: 1}]\n",
     "t.yaml:7:30: forward: unknown target group 'gren' (expected a name under target_groups)"},
    {"forward_dup_group",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue}, {target_group: blue}]\n",
     "t.yaml:7:52: target group 'blue' appears twice in this forward action (expected each group "
     "once)"},
    {"forward_weight_range",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: 1000}]\n",
     "t.yaml:7:44: forward: weight: 1000 is out of range (expected 0 to 999)"},
    {"forward_weight_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue, weight: -1}]\n",
     "t.yaml:7:44: forward: weight: '-1' is not an integer (expected 0 to 999)"},
    {"idle_timeout_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue}]\n    idle_timeout: never\n",
     "t.yaml:8:19: idle_timeout: 'never' is not a duration (expected e.g. 500ms, 10s, 5m or "
     "seconds)"},
    {"max_head_bad",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue}]\n    max_head_bytes: lots\n",
     "t.yaml:8:21: max_head_bytes: 'lots' is not a size (expected e.g. 512K, 10M, 1G or bytes)"},
    {"max_head_range",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue}]\n    max_head_bytes: 100\n",
     "t.yaml:8:21: max_head_bytes 100 is out of range (expected 1K to 1M)"},
    {"dup_bind",
     "target_groups:\n  blue:\n    targets: [127.0.0.1:9001]\nlisteners:\n  web:\n    bind: "
     "127.0.0.1:8080\n    forward: [{target_group: blue}]\n  test:\n    bind: 127.0.0.1:8080\n    "
     "forward: [{target_group: blue}]\n",
     "t.yaml:9:11: bind 127.0.0.1:8080 is already used by listener 'web' (expected a distinct "
     "address per listener)"},
    {"syntax", "listeners: [\n",
     "t.yaml:2:1: did not find expected node content while parsing a flow node"},
    {"forward_group_typo",
     "target_groups:\n  blue: {}\n  green: {}\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    "
     "forward: [{target_group: gren}]\n",
     "t.yaml:7:30: forward: unknown target group 'gren' (did you mean 'green'?)"},
    {"forward_too_many",
     "target_groups:\n  g0: {}\n  g1: {}\n  g2: {}\n  g3: {}\n  g4: {}\n  g5: {}\n  g6: {}\n  g7: "
     "{}\n  g8: {}\n  g9: {}\n  g10: {}\n  g11: {}\n  g12: {}\n  g13: {}\n  g14: {}\n  g15: {}\n  "
     "g16: {}\nlisteners:\n  web:\n    bind: 127.0.0.1:8080\n    forward:\n      - {target_group: "
     "g0}\n      - {target_group: g1}\n      - {target_group: g2}\n      - {target_group: g3}\n    "
     "  - {target_group: g4}\n      - {target_group: g5}\n      - {target_group: g6}\n      - "
     "{target_group: g7}\n      - {target_group: g8}\n      - {target_group: g9}\n      - "
     "{target_group: g10}\n      - {target_group: g11}\n      - {target_group: g12}\n      - "
     "{target_group: g13}\n      - {target_group: g14}\n      - {target_group: g15}\n      - "
     "{target_group: g16}\n",
     "t.yaml:39:9: too many target groups in forward (expected at most 16)"},
};

static void
every_error_names_file_line_and_column(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proxy_conf *c = NULL;
        struct err err = {0};
        int rc = proxy_conf_load_buffer(&c, "t.yaml", bad[i].yaml, strlen(bad[i].yaml), NULL, &err);
        if (rc != -EINVAL || strcmp(err.msg, bad[i].msg) != 0)
            fail_msg("%s: got %d '%s', want '%s'", bad[i].name, rc, err.msg, bad[i].msg);
        assert_null(c);
    }
}

static void
missing_file_is_reported_with_its_path(void **state)
{
    struct proxy_conf *c = NULL;
    struct err err = {0};

    (void)state;
    assert_int_equal(proxy_conf_load(&c, "/nonexistent/proxy.yaml", NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/proxy.yaml"));
    assert_null(c);
}

static void
count_target(void *ud, struct target *t)
{
    (void)t;
    (*(size_t *)ud)++;
}

static size_t
registry_size(struct target_group_registry *reg)
{
    size_t n = 0;

    target_group_registry_foreach(reg, count_target, &n);
    return n;
}

static void
a_failed_load_registers_nothing(void **state)
{
    struct target_group_registry *reg = target_group_registry_new(2);
    struct proxy_conf *c = NULL;
    struct err err = {0};
    const char *text = "target_groups:\n  g: {targets: [127.0.0.1:1, 127.0.0.1:2]}\n"
                       "listeners:\n  l: {bind: 127.0.0.1:80, forward: [{target_group: x}]}\n";

    (void)state;
    assert_int_equal(proxy_conf_load_buffer(&c, "t.yaml", text, strlen(text), reg, &err), -EINVAL);
    assert_int_equal(registry_size(reg), 0);
    target_group_registry_free(reg);
}

static void
a_new_generation_keeps_the_target_objects(void **state)
{
    struct target_group_registry *reg = target_group_registry_new(2);
    struct proxy_conf *one = load_ok(design_yaml, reg);
    struct proxy_conf *two = load_ok(design_yaml, reg);
    struct target *t = proxy_conf_group_find(one, "blue")->targets[0];

    (void)state;
    assert_int_equal(one->nslots, 2);
    assert_ptr_equal(proxy_conf_group_find(two, "blue")->targets[0], t);
    assert_int_equal(registry_size(reg), 2);
    target_group_set_state(t, TARGET_HEALTHY, TARGET_REASON_NONE);
    proxy_conf_unref(one);
    assert_int_equal(target_group_state(proxy_conf_group_find(two, "blue")->targets[0]),
                     TARGET_HEALTHY);
    /* The same address in another group is another target. */
    struct addr a = t->addr;
    struct target *other = target_group_registry_get(reg, "green", &a);
    assert_ptr_not_equal(other, t);
    assert_int_equal(registry_size(reg), 3);
    target_group_registry_forget(reg, other);
    target_group_target_unref(other);
    assert_int_equal(registry_size(reg), 2);
    proxy_conf_unref(two);
    target_group_registry_free(reg);
}

static void
set_forward_changes_only_the_named_listener(void **state)
{
    struct proxy_conf *c = load_ok(design_yaml, NULL);
    struct proxy_conf *next = proxy_conf_clone(c);
    const struct proxy_conf_weight fw[] = {{"blue", 90}, {"green", 10}};
    const struct proxy_conf_listener *web;
    struct err err = {0};

    (void)state;
    assert_int_equal(proxy_conf_set_forward(next, "web", fw, 2, &err), 0);
    web = proxy_conf_listener_find(next, "web");
    assert_int_equal(web->weights[0], 90);
    assert_int_equal(web->weights[1], 10);
    assert_ptr_equal(web->forward[1].group, proxy_conf_group_find(next, "green"));
    /* the source generation is untouched, and the clone shares target objects */
    assert_int_equal(proxy_conf_listener_find(c, "web")->weights[0], 100);
    assert_ptr_equal(proxy_conf_group_find(next, "blue")->targets[0],
                     proxy_conf_group_find(c, "blue")->targets[0]);
    assert_ptr_not_equal(proxy_conf_group_find(next, "blue"), proxy_conf_group_find(c, "blue"));
    assert_int_equal(proxy_conf_listener_find(next, "test")->forward[0].weight, 1);
    proxy_conf_unref(c);
    proxy_conf_unref(next);
}

static void
set_forward_rejects_bad_actions_and_changes_nothing(void **state)
{
    struct proxy_conf *c = load_ok(design_yaml, NULL);
    const struct proxy_conf_weight unknown[] = {{"blue", 50}, {"purple", 50}};
    const struct proxy_conf_weight heavy[] = {{"blue", 1000}};
    const struct proxy_conf_weight twice[] = {{"blue", 1}, {"blue", 2}};
    const struct proxy_conf_weight zero[] = {{"blue", 0}, {"green", 0}};
    struct err err = {0};

    (void)state;
    assert_int_equal(proxy_conf_set_forward(c, "api", zero, 2, &err), -ENOENT);
    assert_string_equal(err.msg, "no listener named 'api'");
    assert_int_equal(proxy_conf_set_forward(c, "web", unknown, 2, &err), -EINVAL);
    assert_string_equal(err.msg, "unknown target group 'purple'");
    assert_int_equal(proxy_conf_set_forward(c, "web", heavy, 1, &err), -EINVAL);
    assert_string_equal(err.msg, "weight 1000 of 'blue' is out of range (expected 0 to 999)");
    assert_int_equal(proxy_conf_set_forward(c, "web", twice, 2, &err), -EINVAL);
    assert_string_equal(err.msg, "target group 'blue' appears twice");
    assert_int_equal(proxy_conf_set_forward(c, "web", zero, 0, &err), -EINVAL);
    assert_int_equal(proxy_conf_listener_find(c, "web")->nforward, 2);
    assert_int_equal(proxy_conf_listener_find(c, "web")->weights[0], 100);
    /* all weights 0 is allowed: the listener answers 503 */
    assert_int_equal(proxy_conf_set_forward(c, "web", zero, 2, &err), 0);
    proxy_conf_unref(c);
}

static void
add_and_remove_targets(void **state)
{
    struct target_group_registry *reg = target_group_registry_new(1);
    struct proxy_conf *c = load_ok(design_yaml, reg);
    struct proxy_conf *next = proxy_conf_clone(c);
    struct addr addrs[2];
    struct err err = {0};
    struct target_group *green;

    (void)state;
    assert_int_equal(addr_parse(&addrs[0], "127.0.0.1:9003"), 0);
    assert_int_equal(addr_parse(&addrs[1], "127.0.0.1:9004"), 0);
    assert_int_equal(proxy_conf_add_targets(next, "green", addrs, 2, reg, &err), 0);
    assert_int_equal(proxy_conf_add_targets(next, "green", addrs, 1, reg, &err), 0);
    green = proxy_conf_group_find(next, "green");
    assert_int_equal(green->ntargets, 2);
    assert_non_null(target_group_find(green, &addrs[1]));
    assert_int_equal(proxy_conf_group_find(c, "green")->ntargets, 0);
    assert_int_equal(registry_size(reg), 4);
    assert_int_equal(proxy_conf_add_targets(next, "purple", addrs, 1, reg, &err), -ENOENT);
    assert_string_equal(err.msg, "no target group named 'purple'");

    assert_int_equal(proxy_conf_remove_targets(next, "green", addrs, 1, &err), 0);
    assert_int_equal(green->ntargets, 1);
    assert_null(target_group_find(green, &addrs[0]));
    assert_string_equal(green->targets[0]->addr.text, "127.0.0.1:9004");
    assert_int_equal(proxy_conf_remove_targets(next, "green", addrs, 1, &err), 0);
    assert_int_equal(proxy_conf_remove_targets(next, "purple", addrs, 1, &err), -ENOENT);
    assert_int_equal(addr_parse(&addrs[0], "unix:/tmp/x"), 0);
    assert_int_equal(proxy_conf_add_targets(next, "green", addrs, 1, reg, &err), -EINVAL);
    /* the registry still knows the removed target until the proxy forgets it after draining */
    assert_int_equal(registry_size(reg), 4);
    proxy_conf_unref(next);
    proxy_conf_unref(c);
    target_group_registry_free(reg);
}

static int
apply_json(struct proxy_conf *c, const char *json, struct target_group_registry *reg,
           struct err *err)
{
    struct proxy_api_changes ch;
    int rc;

    if ((rc = proxy_api_changes_parse(&ch, json, strlen(json), err)) != 0)
        return rc;
    rc = proxy_conf_apply_changes(c, &ch, true, reg, err);
    proxy_api_changes_fini(&ch);
    return rc;
}

static void
changes_create_replace_and_delete(void **state)
{
    struct target_group_registry *reg = target_group_registry_new(2);
    struct proxy_conf *base = load_ok(design_yaml, reg), *c = proxy_conf_clone(base);
    const struct proxy_conf_listener *api, *web;
    struct target_group *red, *blue;
    struct target *t9001;
    struct err err = {0};

    (void)state;
    t9001 = proxy_conf_group_find(base, "blue")->targets[0];
    assert_int_equal(apply_json(c,
                                "{\"target_groups\":{\"red\":{\"targets\":[\"127.0.0.1:7001\"]},"
                                "\"blue\":{\"health_check\":{\"interval_ms\":1000,"
                                "\"timeout_ms\":100},\"targets\":[\"127.0.0.1:9001\"]}},"
                                "\"listeners\":{\"api\":{\"bind\":\"127.0.0.1:8082\",\"forward\":"
                                "[{\"target_group\":\"red\",\"weight\":3}]}}}",
                                reg, &err),
                     0);
    red = proxy_conf_group_find(c, "red");
    blue = proxy_conf_group_find(c, "blue");
    assert_non_null(red);
    assert_true(red->dynamic);
    assert_false(blue->dynamic);
    /* omitted settings: proxy.yaml's defaults */
    assert_int_equal(red->deregistration_delay_ms, 300000);
    assert_int_equal(red->health.interval_ms, 30000);
    assert_string_equal(red->health.path, "/");
    /* replaced: settings from the body, the kept target is the same object */
    assert_int_equal(blue->health.interval_ms, 1000);
    assert_string_equal(blue->health.matcher, "200");
    assert_int_equal(blue->ntargets, 1);
    assert_ptr_equal(blue->targets[0], t9001);
    api = proxy_conf_listener_find(c, "api");
    web = proxy_conf_listener_find(c, "web");
    assert_true(api->dynamic);
    assert_ptr_equal(api->forward[0].group, red);
    assert_ptr_equal(web->forward[0].group, blue); /* relinked after groups[] grew */

    /* a group in use cannot go; an unused one can, and a listener with it */
    assert_int_equal(apply_json(c, "{\"delete_target_groups\":[\"red\"]}", reg, &err), -EBUSY);
    proxy_conf_unref(c);
    c = proxy_conf_clone(base);
    assert_int_equal(apply_json(c, "{\"delete_target_groups\":[\"green\"]}", reg, &err), -EBUSY);
    assert_int_equal(apply_json(c,
                                "{\"delete_listeners\":[\"test\"],\"listeners\":{\"web\":"
                                "{\"forward\":[{\"target_group\":\"blue\",\"weight\":1}]}},"
                                "\"delete_target_groups\":[\"green\"]}",
                                reg, &err),
                     0);
    assert_null(proxy_conf_group_find(c, "green"));
    assert_null(proxy_conf_listener_find(c, "test"));
    assert_ptr_equal(proxy_conf_listener_find(c, "web")->forward[0].group,
                     proxy_conf_group_find(c, "blue"));
    proxy_conf_unref(c);

    c = proxy_conf_clone(base);
    assert_int_equal(
        apply_json(c, "{\"listeners\":{\"test\":{\"bind\":\"0.0.0.0:8080\"}}}", reg, &err),
        -EADDRINUSE);
    assert_non_null(strstr(
        err.msg, "listener test: bind 0.0.0.0:8080: Address already in use (by listener web)"));
    proxy_conf_unref(c);
    c = proxy_conf_clone(base);
    assert_int_equal(apply_json(c, "{\"delete_listeners\":[\"nope\"]}", reg, &err), -ENOENT);
    proxy_conf_unref(c);
    proxy_conf_unref(base);
    target_group_registry_free(reg);
}

/* The API accepts exactly the ranges proxy.yaml accepts. */
static void
changes_and_yaml_share_ranges(void **state)
{
    static const struct {
        const char *yaml, *json;
        bool ok;
    } cases[] = {
        {"interval: 100ms, timeout: 50ms", "\"interval_ms\":100,\"timeout_ms\":50", true},
        {"interval: 99ms, timeout: 50ms", "\"interval_ms\":99,\"timeout_ms\":50", false},
        {"interval: 300s, timeout: 120s", "\"interval_ms\":300000,\"timeout_ms\":120000", true},
        {"interval: 301s", "\"interval_ms\":301000", false},
        {"timeout: 49ms", "\"timeout_ms\":49", false},
        {"healthy_threshold: 10", "\"healthy_threshold\":10", true},
        {"healthy_threshold: 11", "\"healthy_threshold\":11", false},
        {"unhealthy_threshold: 0", "\"unhealthy_threshold\":0", false},
        {"matcher: \"200-499\"", "\"matcher\":\"200-499\"", true},
        {"matcher: \"500\"", "\"matcher\":\"500\"", false},
        {"path: nope", "\"path\":\"nope\"", false},
        {"interval: 1s, timeout: 1s", "\"interval_ms\":1000,\"timeout_ms\":1000", false},
    };
    char yaml[1024], json[512];
    struct err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proxy_conf *y = NULL, *c;
        snprintf(yaml, sizeof(yaml),
                 "listeners: {web: {bind: 127.0.0.1:1, forward: [{target_group: g}]}}\n"
                 "target_groups: {g: {health_check: {%s}}}\n",
                 cases[i].yaml);
        snprintf(json, sizeof(json), "{\"target_groups\":{\"g\":{\"health_check\":{%s}}}}",
                 cases[i].json);
        err_clear(&err);
        assert_int_equal(proxy_conf_load_buffer(&y, "t.yaml", yaml, strlen(yaml), NULL, &err) == 0,
                         cases[i].ok);
        c = load_ok("listeners: {web: {bind: 127.0.0.1:1, forward: [{target_group: g}]}}\n"
                    "target_groups: {g: {}}\n",
                    NULL);
        err_clear(&err);
        if ((apply_json(c, json, NULL, &err) == 0) != cases[i].ok)
            fail_msg("%s: the API %s it (%s)", cases[i].json, cases[i].ok ? "refused" : "took",
                     err.msg);
        if (!cases[i].ok)
            assert_non_null(strstr(err.msg, "target_groups.g.health_check."));
        proxy_conf_unref(c);
        proxy_conf_unref(y);
    }
}

static void
sighup_keeps_dynamic_objects_the_file_lacks(void **state)
{
    struct proxy_conf *cur = load_ok(design_yaml, NULL), *next, *copy;
    struct err err = {0};
    char *text;
    struct proxy_api_changes ch;

    (void)state;
    assert_int_equal(apply_json(cur,
                                "{\"target_groups\":{\"red\":{\"targets\":[\"127.0.0.1:7001\"]}},"
                                "\"listeners\":{\"api\":{\"bind\":\"127.0.0.1:8082\",\"forward\":"
                                "[{\"target_group\":\"red\",\"weight\":3}]}}}",
                                NULL, &err),
                     0);
    next = load_ok(design_yaml, NULL);
    assert_int_equal(proxy_conf_keep_dynamic(next, cur, &err), 0);
    assert_int_equal(next->nlisteners, 3);
    assert_int_equal(next->ngroups, 3);
    assert_true(proxy_conf_listener_find(next, "api")->dynamic);
    assert_ptr_equal(proxy_conf_listener_find(next, "api")->forward[0].group,
                     proxy_conf_group_find(next, "red"));
    assert_ptr_equal(proxy_conf_listener_find(next, "web")->forward[0].group,
                     proxy_conf_group_find(next, "blue"));

    /* the handover document carries exactly the dynamic objects */
    text = proxy_conf_dynamic_format(next);
    assert_int_equal(proxy_api_changes_parse(&ch, text, strlen(text), &err), 0);
    assert_int_equal(ch.ngroups, 1);
    assert_int_equal(ch.nlisteners, 1);
    copy = load_ok(design_yaml, NULL);
    assert_int_equal(proxy_conf_apply_changes(copy, &ch, true, NULL, &err), 0);
    assert_int_equal(proxy_conf_group_find(copy, "red")->ntargets, 1);
    assert_string_equal(proxy_conf_listener_find(copy, "api")->bind.text, "127.0.0.1:8082");
    proxy_api_changes_fini(&ch);
    free(text);
    proxy_conf_unref(copy);
    proxy_conf_unref(next);

    /* a file without the group a kept listener forwards to is refused */
    next = load_ok("listeners: {web: {bind: 127.0.0.1:1, forward: [{target_group: g}]}}\n"
                   "target_groups: {g: {}}\n",
                   NULL);
    assert_int_equal(proxy_conf_keep_dynamic(next, cur, &err), 0); /* red comes along */
    proxy_conf_unref(next);
    proxy_conf_group_find(cur, "red")->dynamic = false; /* as if the file had named it */
    next = load_ok("listeners: {web: {bind: 127.0.0.1:1, forward: [{target_group: g}]}}\n"
                   "target_groups: {g: {}}\n",
                   NULL);
    assert_int_equal(proxy_conf_keep_dynamic(next, cur, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "listener 'api' (created through the admin API) forwards to "
                                    "target group 'red'"));
    proxy_conf_unref(next);
    proxy_conf_unref(cur);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(design_shape_loads_with_alb_defaults),
        cmocka_unit_test(optional_keys_are_read),
        cmocka_unit_test(every_error_names_file_line_and_column),
        cmocka_unit_test(missing_file_is_reported_with_its_path),
        cmocka_unit_test(a_failed_load_registers_nothing),
        cmocka_unit_test(a_new_generation_keeps_the_target_objects),
        cmocka_unit_test(set_forward_changes_only_the_named_listener),
        cmocka_unit_test(set_forward_rejects_bad_actions_and_changes_nothing),
        cmocka_unit_test(add_and_remove_targets),
        cmocka_unit_test(changes_create_replace_and_delete),
        cmocka_unit_test(changes_and_yaml_share_ranges),
        cmocka_unit_test(sighup_keeps_dynamic_objects_the_file_lacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
