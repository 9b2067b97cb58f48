/* SPDX-License-Identifier: ISC */
/* protocol/proxy_api: the admin API bodies round-trip, and bad requests are refused with a
 * message that names the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "protocol/proxy_api.h"

static int
parse_action(const char *json, struct proxy_api_action *a, struct err *err)
{
    return proxy_api_action_parse(a, json, strlen(json), err);
}

static void
action_parses_weights(void **state)
{
    struct proxy_api_action a;
    struct err err;
    char *s;

    (void)state;
    assert_int_equal(parse_action("{\"forward\":[{\"target_group\":\"blue\",\"weight\":90},"
                                  "{\"target_group\":\"green\",\"weight\":10}]}",
                                  &a, &err),
                     0);
    assert_int_equal(a.nforward, 2);
    assert_string_equal(a.forward[0].target_group, "blue");
    assert_int_equal(a.forward[0].weight, 90);
    assert_string_equal(a.forward[1].target_group, "green");
    assert_int_equal(a.forward[1].weight, 10);
    s = proxy_api_action_format(&a);
    assert_string_equal(s, "{\"forward\":[{\"target_group\":\"blue\",\"weight\":90},"
                           "{\"target_group\":\"green\",\"weight\":10}]}");
    free(s);
    proxy_api_action_fini(&a);
}

static void
assert_action_refused(const char *json, const char *msg_part)
{
    struct proxy_api_action a;
    struct err err;

    err_clear(&err);
    assert_int_equal(parse_action(json, &a, &err), -EINVAL);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("'%s' does not contain '%s'", err.msg, msg_part);
    assert_null(a.forward);
    assert_int_equal(a.nforward, 0);
}

static void
action_refuses_bad_input_with_field_names(void **state)
{
    (void)state;
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":1000}]}",
                          "forward[0].weight: expected an integer 0..999");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":-1}]}",
                          "forward[0].weight");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":\"9\"}]}",
                          "forward[0].weight");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":1.5}]}",
                          "forward[0].weight");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":1},"
                          "{\"target_group\":\"\",\"weight\":1}]}",
                          "forward[1].target_group: expected a non-empty string");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"weight\":1},"
                          "{\"target_group\":\"blue\",\"weight\":2}]}",
                          "appears twice");
    assert_action_refused("{\"forward\":[{\"target_group\":\"blue\",\"wieght\":1}]}",
                          "forward[0]: unknown field 'wieght'");
    assert_action_refused("{\"forward\":[],\"x\":1}", "unknown field 'x'");
    assert_action_refused("{\"forward\":[]}", "forward: expected a non-empty array");
    assert_action_refused("{\"forward\":{}}", "forward: expected a non-empty array");
    assert_action_refused("[1]", "expected a JSON object");
    assert_action_refused("{\"forward\":", "invalid JSON at line 1");
    assert_action_refused("{\"forward\":[1]}", "forward[0]: expected an object");
    assert_action_refused("{\"forward\":[],\"forward\":[]}", "invalid JSON");
}

static void
health_round_trips_with_nulls(void **state)
{
    struct proxy_api_target_health t[2] = {
        {"127.0.0.1:9001", "healthy", NULL, NULL, 3},
        {"127.0.0.1:9002", "unhealthy", "Target.Timeout", "Request timed out", 0},
    };
    struct proxy_api_health h = {.target_group = "blue", .targets = t, .ntargets = 2}, back;
    struct err err;
    char *s = proxy_api_health_format(&h);

    (void)state;
    assert_non_null(strstr(s, "\"target_group\":\"blue\""));
    assert_non_null(strstr(s, "{\"target\":\"127.0.0.1:9001\",\"state\":\"healthy\","
                              "\"reason\":null,\"description\":null,\"in_flight\":3}"));
    assert_int_equal(proxy_api_health_parse(&back, s, strlen(s), &err), 0);
    assert_string_equal(back.target_group, "blue");
    assert_int_equal(back.ntargets, 2);
    assert_null(back.targets[0].reason);
    assert_int_equal(back.targets[0].in_flight, 3);
    assert_string_equal(back.targets[1].reason, "Target.Timeout");
    assert_string_equal(back.targets[1].description, "Request timed out");
    proxy_api_health_fini(&back);
    free(s);
    assert_int_equal(proxy_api_health_parse(&back, "{\"targets\":[]}", 14, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "target_group"));
}

static void
targets_parse_and_refuse(void **state)
{
    static const char ok[] = "{\"targets\":[\"127.0.0.1:9003\",\"127.0.0.1:9004\"]}";
    struct proxy_api_targets t;
    struct err err;
    char *s;

    (void)state;
    assert_int_equal(proxy_api_targets_parse(&t, ok, sizeof(ok) - 1, &err), 0);
    assert_int_equal(t.ntargets, 2);
    assert_string_equal(t.targets[1], "127.0.0.1:9004");
    s = proxy_api_targets_format(&t);
    assert_string_equal(s, ok);
    free(s);
    proxy_api_targets_fini(&t);
    assert_int_equal(proxy_api_targets_parse(&t, "{\"targets\":[\"a\",3]}", 19, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "targets[1]: expected a non-empty string"));
    assert_int_equal(proxy_api_targets_parse(&t, "{\"targets\":[]}", 14, &err), -EINVAL);
    assert_int_equal(proxy_api_targets_parse(&t, "{\"target\":[\"a\"]}", 16, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown field 'target'"));
}

static void
listeners_and_groups_round_trip(void **state)
{
    struct proxy_api_forward fw[2] = {{"blue", 100}, {"green", 0}};
    struct proxy_api_listener l = {
        .name = "web", .bind = "0.0.0.0:8080", .action = {.forward = fw, .nforward = 2}};
    struct proxy_api_listeners ls = {.items = &l, .n = 1}, lback;
    const char *targets[] = {"127.0.0.1:9001"};
    struct proxy_api_group g = {
        "blue", "round_robin", 30000, {"/health", 0, 5000, 2000, 3, 2, "200-399"}, targets, 1};
    struct proxy_api_groups gs = {.items = &g, .n = 1}, gback;
    struct err err;
    char *s;

    (void)state;
    s = proxy_api_listeners_format(&ls);
    assert_int_equal(proxy_api_listeners_parse(&lback, s, strlen(s), &err), 0);
    assert_int_equal(lback.n, 1);
    assert_string_equal(lback.items[0].bind, "0.0.0.0:8080");
    assert_int_equal(lback.items[0].action.nforward, 2);
    assert_int_equal(lback.items[0].action.forward[1].weight, 0);
    proxy_api_listeners_fini(&lback);
    free(s);

    s = proxy_api_groups_format(&gs);
    assert_int_equal(proxy_api_groups_parse(&gback, s, strlen(s), &err), 0);
    assert_int_equal(gback.n, 1);
    assert_string_equal(gback.items[0].health_check.matcher, "200-399");
    assert_int_equal(gback.items[0].health_check.interval_ms, 5000);
    assert_int_equal(gback.items[0].deregistration_delay_ms, 30000);
    assert_string_equal(gback.items[0].targets[0], "127.0.0.1:9001");
    proxy_api_groups_fini(&gback);
    free(s);
}

static void
errors_round_trip(void **state)
{
    char *s = proxy_api_error_format("unknown target group 'x'");
    char *m;

    (void)state;
    assert_string_equal(s, "{\"error\":\"unknown target group 'x'\"}");
    m = proxy_api_error_parse(s, strlen(s));
    assert_string_equal(m, "unknown target group 'x'");
    free(m);
    free(s);
    assert_null(proxy_api_error_parse("nope", 4));
}

static void
changes_parse_and_round_trip(void **state)
{
    static const char body[] =
        "{\"target_groups\":{\"red\":{\"algorithm\":\"round_robin\","
        "\"deregistration_delay_ms\":5000,\"health_check\":{\"path\":\"/h\","
        "\"interval_ms\":1000,\"matcher\":\"200-399\"},\"targets\":[\"127.0.0.1:1\"]},"
        "\"amber\":{}},"
        "\"listeners\":{\"api\":{\"bind\":\"127.0.0.1:8081\",\"forward\":"
        "[{\"target_group\":\"red\",\"weight\":7}]},\"web\":{\"bind\":\"127.0.0.1:80\"}},"
        "\"delete_listeners\":[\"old\"],\"delete_target_groups\":[\"gone\"]}";
    struct proxy_api_changes ch, again;
    struct err err;
    char *text;

    (void)state;
    assert_int_equal(proxy_api_changes_parse(&ch, body, strlen(body), &err), 0);
    assert_int_equal(ch.ngroups, 2);
    assert_string_equal(ch.groups[0].name, "red");
    assert_string_equal(ch.groups[0].algorithm, "round_robin");
    assert_true(ch.groups[0].has_deregistration_delay);
    assert_int_equal(ch.groups[0].health_set,
                     PROXY_API_HC_PATH | PROXY_API_HC_INTERVAL | PROXY_API_HC_MATCHER);
    assert_int_equal(ch.groups[0].health_check.interval_ms, 1000);
    assert_true(ch.groups[0].has_targets);
    assert_int_equal(ch.groups[0].ntargets, 1);
    assert_string_equal(ch.groups[1].name, "amber");
    assert_null(ch.groups[1].algorithm);
    assert_false(ch.groups[1].has_targets);
    assert_int_equal(ch.groups[1].health_set, 0);
    assert_int_equal(ch.nlisteners, 2);
    assert_true(ch.listeners[0].has_forward);
    assert_int_equal(ch.listeners[0].action.forward[0].weight, 7);
    assert_string_equal(ch.listeners[1].bind, "127.0.0.1:80");
    assert_false(ch.listeners[1].has_forward);
    assert_int_equal(ch.ndelete_listeners, 1);
    assert_string_equal(ch.delete_groups[0], "gone");

    text = proxy_api_changes_format(&ch);
    assert_int_equal(proxy_api_changes_parse(&again, text, strlen(text), &err), 0);
    free(text);
    assert_int_equal(again.ngroups, 2);
    assert_int_equal(again.groups[0].health_set, ch.groups[0].health_set);
    assert_string_equal(again.groups[0].health_check.matcher, "200-399");
    assert_false(again.groups[1].has_targets);
    assert_int_equal(again.nlisteners, 2);
    assert_false(again.listeners[1].has_forward);
    assert_int_equal(again.ndelete_listeners, 1);
    proxy_api_changes_fini(&again);
    proxy_api_changes_fini(&ch);
}

static void
changes_refuse_bad_input_with_field_names(void **state)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"[]", "expected a JSON object"},
        {"{\"target_groups\":[]}", "target_groups: expected an object"},
        {"{\"target_groups\":{\"r\":{\"health_check\":{\"interval_ms\":\"1s\"}}}}",
         "target_groups.r.health_check.interval_ms: expected an integer"},
        {"{\"target_groups\":{\"r\":{\"targets\":[\"a:1\",\"a:1\"]}}}",
         "target_groups.r.targets[1]: 'a:1' appears twice"},
        {"{\"target_groups\":{\"r\":{\"colour\":1}}}", "unknown field 'colour'"},
        {"{\"listeners\":{\"w\":{\"forward\":[]}}}",
         "listeners.w.forward: expected a non-empty array"},
        {"{\"listeners\":{\"w\":{\"forward\":[{\"target_group\":\"b\",\"weight\":1000}]}}}",
         "listeners.w.forward[0].weight"},
        {"{\"delete_listeners\":[1]}", "delete_listeners[0]: expected a non-empty string"},
    };
    struct proxy_api_changes ch;
    struct err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err_clear(&err);
        assert_int_equal(proxy_api_changes_parse(&ch, cases[i].body, strlen(cases[i].body), &err),
                         -EINVAL);
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("%s: got '%s', want '%s'", cases[i].body, err.msg, cases[i].want);
    }
}

static void
single_puts_parse_as_a_change_of_one(void **state)
{
    struct proxy_api_changes ch;
    struct err err;
    const char *g = "{\"health_check\":{\"port\":8080}}";
    const char *l = "{\"forward\":[{\"target_group\":\"b\",\"weight\":1}]}";

    (void)state;
    assert_int_equal(proxy_api_group_put_parse(&ch, "blue", g, strlen(g), &err), 0);
    assert_int_equal(ch.ngroups, 1);
    assert_string_equal(ch.groups[0].name, "blue");
    assert_int_equal(ch.groups[0].health_set, PROXY_API_HC_PORT);
    assert_int_equal(ch.groups[0].health_check.port, 8080);
    proxy_api_changes_fini(&ch);
    assert_int_equal(proxy_api_listener_put_parse(&ch, "web", l, strlen(l), &err), 0);
    assert_int_equal(ch.nlisteners, 1);
    assert_null(ch.listeners[0].bind);
    assert_true(ch.listeners[0].has_forward);
    proxy_api_changes_fini(&ch);
    g = "{\"name\":\"blue\",\"targets\":[]}"; /* a GET element may be put back as it is */
    assert_int_equal(proxy_api_group_put_parse(&ch, "blue", g, strlen(g), &err), 0);
    assert_true(ch.groups[0].has_targets);
    proxy_api_changes_fini(&ch);
    assert_int_equal(proxy_api_group_put_parse(&ch, "green", g, strlen(g), &err), -EINVAL);
    assert_non_null(strstr(err.msg, "name: expected \"green\""));
    g = "{\"health_check\":{\"port\":70000}}";
    assert_int_equal(proxy_api_group_put_parse(&ch, "blue", g, strlen(g), &err), -EINVAL);
    assert_non_null(strstr(err.msg, "health_check.port: expected an integer 0..65535"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(action_parses_weights),
        cmocka_unit_test(action_refuses_bad_input_with_field_names),
        cmocka_unit_test(health_round_trips_with_nulls),
        cmocka_unit_test(targets_parse_and_refuse),
        cmocka_unit_test(listeners_and_groups_round_trip),
        cmocka_unit_test(errors_round_trip),
        cmocka_unit_test(changes_parse_and_round_trip),
        cmocka_unit_test(changes_refuse_bad_input_with_field_names),
        cmocka_unit_test(single_puts_parse_as_a_change_of_one),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
