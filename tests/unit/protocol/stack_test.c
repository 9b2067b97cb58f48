/* SPDX-License-Identifier: ISC */
/* protocol/stack and stack_plan: stack.yaml parses with defaults filled in, every error points
 * at its LINE:COL (a deployment group's group.json error included), and the plan against live
 * documents says create, update (with what differs) or unchanged, and nothing more. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "protocol/stack.h"
#include "protocol/stack_plan.h"

static const char STACK[] =
    "server: http://127.0.0.1:9900\n" /* 1 */
    "proxy:\n"                        /* 2 */
    "  admin: 127.0.0.1:9901\n"       /* 3 */
    "  listeners:\n"                  /* 4 */
    "    web:\n"                      /* 5 */
    "      bind: 127.0.0.1:8080\n"    /* 6 */
    "      forward: [{target_group: blue, weight: 100}, {target_group: green, weight: 0}]\n"
    "  target_groups:\n"                                                         /* 8 */
    "    blue:\n"                                                                /* 9 */
    "      deregistration_delay: 5s\n"                                           /* 10 */
    "      health_check: {path: /health, interval: 1s, timeout: 500ms}\n"        /* 11 */
    "    green:\n"                                                               /* 12 */
    "      targets: [127.0.0.1:9001]\n"                                          /* 13 */
    "deployment_configs:\n"                                                      /* 14 */
    "  Two: {minimum_healthy_hosts: {type: HOST_COUNT, value: 2}}\n"             /* 15 */
    "applications:\n"                                                            /* 16 */
    "  web:\n"                                                                   /* 17 */
    "    deployment_groups:\n"                                                   /* 18 */
    "      prod:\n"                                                              /* 19 */
    "        deploymentConfigName: Two\n"                                        /* 20 */
    "        deploymentStyle: {deploymentType: BLUE_GREEN}\n"                    /* 21 */
    "        blueGreenFleets:\n"                                                 /* 22 */
    "          - {tag: {Key: fleet, Value: blue}, targetGroup: blue}\n"          /* 23 */
    "          - {tag: {Key: fleet, Value: green}, targetGroup: green}\n"        /* 24 */
    "        loadBalancerInfo: {listener: web}\n"                                /* 25 */
    "        alarmConfiguration:\n"                                              /* 26 */
    "          enabled: true\n"                                                  /* 27 */
    "          alarms: [{name: e, metric: target_5xx_ratio, threshold: 0.5}]\n"; /* 28 */

static const char LISTENERS[] =
    "{\"listeners\":[{\"name\":\"web\",\"bind\":\"127.0.0.1:8080\",\"forward\":["
    "{\"target_group\":\"blue\",\"weight\":0},{\"target_group\":\"green\",\"weight\":100}]}]}";

static const char GROUPS_SAME[] =
    "{\"target_groups\":[{\"name\":\"blue\",\"algorithm\":\"round_robin\","
    "\"deregistration_delay_ms\":5000,\"health_check\":{\"path\":\"/health\",\"port\":0,"
    "\"interval_ms\":1000,\"timeout_ms\":500,\"healthy_threshold\":5,\"unhealthy_threshold\":2,"
    "\"matcher\":\"200\"},\"targets\":[\"127.0.0.1:7000\"]},"
    "{\"name\":\"green\",\"algorithm\":\"round_robin\",\"deregistration_delay_ms\":300000,"
    "\"health_check\":{\"path\":\"/\",\"port\":0,\"interval_ms\":30000,\"timeout_ms\":5000,"
    "\"healthy_threshold\":5,\"unhealthy_threshold\":2,\"matcher\":\"200\"},"
    "\"targets\":[\"127.0.0.1:9001\"]}]}";

static int
parse(const char *text, struct stack *s, struct err *err)
{
    return stack_parse(s, "stack.yaml", text, strlen(text), NULL, err);
}

/* <text> with the first <old> replaced by <new>, in a static buffer. */
static const char *
edit(const char *old, const char *new)
{
    static char out[4096];
    const char *at = strstr(STACK, old);

    assert_non_null(at);
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - STACK), STACK, new, at + strlen(old));
    return out;
}

static void
expect_error(const char *text, const char *want)
{
    struct stack s;
    struct err err = {0};

    assert_int_equal(parse(text, &s, &err), -EINVAL);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("got '%s', want '%s…'", err.msg, want);
}

static void
parses_with_defaults(void **state)
{
    struct stack s;
    struct err err = {0};

    (void)state;
    assert_int_equal(parse(STACK, &s, &err), 0);
    assert_string_equal(s.server, "http://127.0.0.1:9900");
    assert_string_equal(s.admin, "127.0.0.1:9901");
    assert_int_equal(s.nlisteners, 1);
    assert_int_equal(s.listeners[0].nforward, 2);
    assert_int_equal(s.listeners[0].forward[1].weight, 0);
    assert_int_equal(s.ngroups, 2);
    assert_int_equal(s.groups[0].want.deregistration_delay_ms, 5000);
    assert_int_equal(s.groups[0].want.health_check.interval_ms, 1000);
    assert_int_equal(s.groups[0].want.health_check.healthy_threshold, STACK_DEFAULT_HC_HEALTHY);
    assert_false(s.groups[0].has_targets);
    assert_true(s.groups[1].has_targets);
    assert_int_equal(s.groups[1].want.deregistration_delay_ms, STACK_DEFAULT_DEREGISTRATION_MS);
    assert_int_equal(s.ndgroups, 1);
    assert_string_equal(s.dgroups[0].config_name, "Two");
    assert_string_equal(s.dgroups[0].listener, "web");
    assert_string_equal(s.dgroups[0].target_groups[1], "green");
    /* names from the map keys; proxyAdmin from proxy.admin; typed scalars */
    assert_non_null(strstr(s.dgroups[0].body, "\"applicationName\":\"web\""));
    assert_non_null(strstr(s.dgroups[0].body, "\"deploymentGroupName\":\"prod\""));
    assert_non_null(strstr(s.dgroups[0].body, "\"proxyAdmin\":\"http://127.0.0.1:9901\""));
    assert_non_null(strstr(s.dgroups[0].body, "\"enabled\":true"));
    assert_non_null(strstr(s.dgroups[0].body, "\"threshold\":0.5"));
    assert_true(stack_config_is_known(&s, "Two"));
    assert_true(stack_config_is_known(&s, "CodeDeployDefault.OneAtATime"));
    assert_false(stack_config_is_known(&s, "Three"));
    stack_fini(&s);
}

static void
errors_point_at_line_and_column(void **state)
{
    (void)state;
    expect_error(edit("  target_groups:", "  target_grups:"),
                 "stack.yaml:8:3: unknown key 'target_grups' (did you mean 'target_groups'?)");
    expect_error(edit("deregistration_delay: 5s", "deregistration_delay: soon"),
                 "stack.yaml:10:29: deregistration_delay: 'soon' is not a duration");
    expect_error(edit("timeout: 500ms", "timeout: 2s"),
                 "stack.yaml:11:60: health_check: timeout must be shorter than the interval");
    expect_error(edit("127.0.0.1:9001", "nowhere"),
                 "stack.yaml:13:17: targets: invalid address 'nowhere'");
    expect_error(edit("weight: 100", "weight: 1000"),
                 "stack.yaml:7:46: weight: 1000 is out of range");
    expect_error(edit("value: 2", "value: -1"), "stack.yaml:15:58: value: '-1' is not an integer");
    expect_error(edit("bind: 127.0.0.1:8080", "bnd: 127.0.0.1:8080"),
                 "stack.yaml:6:7: unknown key");
    expect_error("", "stack.yaml:1:1: empty file");
    expect_error("proxy: [1, 2", "stack.yaml:");
}

static void
group_errors_map_back_to_yaml(void **state)
{
    (void)state;
    /* a group.json-level error names the JSON path and sits at the YAML node */
    expect_error(
        edit("threshold: 0.5", "threshold: high"),
        "stack.yaml:28:67: deployment group web/prod: alarmConfiguration.alarms[0].threshold: "
        "expected a number");
    expect_error(edit("Value: green}", "Valeu: green}"),
                 "stack.yaml:24:32: deployment group web/prod: blueGreenFleets[1].tag: unknown "
                 "key 'Valeu'");
    expect_error(edit("deploymentType: BLUE_GREEN", "deploymentType: SIDEWAYS"),
                 "stack.yaml:21:43: deployment group web/prod: deploymentStyle.deploymentType: "
                 "'SIDEWAYS'");
    expect_error(edit("        deploymentConfigName: Two\n",
                      "        deploymentConfigName: Two\n        deploymentGroupName: qa\n"),
                 "stack.yaml:21:30: deploymentGroupName is 'qa' (expected 'prod'");
    /* what the server would refuse only after the proxy had changed */
    expect_error(
        edit("metric: target_5xx_ratio", "metric: target_4xx_ratio"),
        "stack.yaml:28:38: deployment group web/prod: alarmConfiguration.alarms[0].metric: "
        "'target_4xx_ratio' (expected target_5xx_ratio or target_p99_seconds)");
    expect_error(edit("      prod:\n", "      prod:\n        nonsense: 1\n"),
                 "stack.yaml:20:9: deployment group web/prod: unknown key 'nonsense'");
}

static const char *
item_line(const struct stack_plan *p, size_t i, char *buf, size_t size)
{
    const struct stack_item *it = &p->items[i];

    snprintf(buf, size, "%s %s %s%s%s", stack_plan_action_name(it->action),
             stack_plan_kind_name(it->kind), it->name, it->differs ? " " : "",
             it->differs ? it->differs : "");
    return buf;
}

static void
plan_against_live(void **state)
{
    const char *config_docs[] = {
        "{\"deploymentConfigInfo\":{\"deploymentConfigName\":\"Two\",\"minimumHealthyHosts\":"
        "{\"type\":\"HOST_COUNT\",\"value\":2}}}"};
    const char *group_docs[] = {NULL};
    struct stack_live live = {.listeners_doc = LISTENERS,
                              .groups_doc = GROUPS_SAME,
                              .apps_doc = "{\"applications\":[\"web\"]}",
                              .config_docs = config_docs,
                              .group_docs = group_docs};
    struct stack s;
    struct stack_plan p;
    struct err err = {0};
    char line[256], *body;

    (void)state;
    assert_int_equal(parse(STACK, &s, &err), 0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), 0);
    assert_int_equal(p.n, 6);
    /* blue keeps its live targets; green's differ only by the healthy threshold default */
    assert_string_equal(item_line(&p, 0, line, sizeof(line)), "unchanged target_group blue");
    assert_string_equal(item_line(&p, 1, line, sizeof(line)), "unchanged target_group green");
    /* the live weights differ, but deployments own them */
    assert_string_equal(item_line(&p, 2, line, sizeof(line)), "unchanged listener web");
    assert_string_equal(p.items[2].note, "traffic owned by deployments");
    assert_string_equal(item_line(&p, 3, line, sizeof(line)), "unchanged deployment_config Two");
    assert_string_equal(item_line(&p, 4, line, sizeof(line)), "unchanged application web");
    assert_string_equal(item_line(&p, 5, line, sizeof(line)), "create deployment_group web/prod");
    assert_null(stack_plan_changes_format(&s, &p));
    stack_plan_fini(&p);

    /* --reset-traffic: the forward action is compared and sent */
    assert_int_equal(stack_plan_make(&s, &live, true, &p, &err), 0);
    assert_string_equal(item_line(&p, 2, line, sizeof(line)), "update listener web forward");
    body = stack_plan_changes_format(&s, &p);
    assert_string_equal(body, "{\"listeners\":{\"web\":{\"bind\":\"127.0.0.1:8080\",\"forward\":["
                              "{\"target_group\":\"blue\",\"weight\":100},"
                              "{\"target_group\":\"green\",\"weight\":0}]}}}");
    free(body);
    stack_plan_fini(&p);
    stack_fini(&s);
}

static void
plan_updates_say_what_differs(void **state)
{
    const char *config_docs[] = {NULL};
    const char *group_docs[] = {NULL};
    struct stack_live live = {.listeners_doc = "{\"listeners\":[]}",
                              .groups_doc = GROUPS_SAME,
                              .apps_doc = "{\"applications\":[]}",
                              .config_docs = config_docs,
                              .group_docs = group_docs};
    struct stack s;
    struct stack_plan p;
    struct err err = {0};
    char line[256], *body, *stored;

    (void)state;
    assert_int_equal(parse(edit("deregistration_delay: 5s", "deregistration_delay: 6s"), &s, &err),
                     0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), 0);
    assert_string_equal(item_line(&p, 0, line, sizeof(line)),
                        "update target_group blue deregistration_delay");
    assert_string_equal(item_line(&p, 2, line, sizeof(line)), "create listener web");
    assert_string_equal(item_line(&p, 3, line, sizeof(line)), "create deployment_config Two");
    assert_string_equal(item_line(&p, 4, line, sizeof(line)), "create application web");
    assert_int_equal(p.ncreate, 4);
    assert_int_equal(p.nupdate, 1);
    assert_int_equal(p.nproxy_changes, 2);
    body = stack_plan_changes_format(&s, &p);
    /* blue: every setting explicit, no targets (left alone); web: created with its forward */
    assert_non_null(strstr(body, "\"blue\":{\"algorithm\":\"round_robin\","
                                 "\"deregistration_delay_ms\":6000,\"health_check\":{"));
    assert_null(strstr(body, "\"targets\""));
    assert_non_null(strstr(body, "\"web\":{\"bind\":\"127.0.0.1:8080\",\"forward\":["));
    free(body);
    stack_plan_fini(&p);

    /* the stored group is the body plus its id: unchanged; another value: that key differs */
    stored = malloc(strlen(s.dgroups[0].body) + 64);
    snprintf(stored, strlen(s.dgroups[0].body) + 64,
             "{\"deploymentGroupInfo\":%.*s,"
             "\"deploymentGroupId\":\"x\"}}",
             (int)strlen(s.dgroups[0].body) - 1, s.dgroups[0].body);
    group_docs[0] = stored;
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), 0);
    assert_string_equal(item_line(&p, 5, line, sizeof(line)),
                        "unchanged deployment_group web/prod");
    stack_plan_fini(&p);
    memcpy(strstr(stored, "\"Two\""), "\"One\"", 5);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), 0);
    assert_string_equal(item_line(&p, 5, line, sizeof(line)),
                        "update deployment_group web/prod deploymentConfigName");
    stack_plan_fini(&p);
    free(stored);
    stack_fini(&s);
}

static void
plan_refuses_what_cannot_be_applied(void **state)
{
    const char *config_docs[] = {
        "{\"deploymentConfigInfo\":{\"deploymentConfigName\":\"Two\",\"minimumHealthyHosts\":"
        "{\"type\":\"FLEET_PERCENT\",\"value\":50}}}"};
    const char *group_docs[] = {NULL};
    struct stack_live live = {.listeners_doc = "{\"listeners\":[]}",
                              .groups_doc = "{\"target_groups\":[]}",
                              .apps_doc = "{\"applications\":[]}",
                              .config_docs = config_docs,
                              .group_docs = group_docs};
    struct stack s;
    struct stack_plan p;
    struct err err = {0};

    (void)state;
    /* a config is immutable */
    assert_int_equal(parse(STACK, &s, &err), 0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), -EINVAL);
    assert_string_equal(err.msg, "stack.yaml:15:8: deployment config Two exists on the server as "
                                 "FLEET_PERCENT 50 (deployment configs are immutable: expected "
                                 "the same settings or a new name)");
    stack_fini(&s);
    config_docs[0] = NULL;
    /* a forward naming a group neither in the stack nor on the proxy */
    assert_int_equal(
        parse(edit("target_group: green, weight: 0", "target_group: teal, weight: 0"), &s, &err),
        0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), -EINVAL);
    assert_string_equal(err.msg, "stack.yaml:7:67: listener web: unknown target group 'teal' "
                                 "(expected one under proxy.target_groups or on the proxy)");
    stack_fini(&s);
    /* a group naming a listener that will not exist; an unknown config */
    assert_int_equal(parse(edit("{listener: web}", "{listener: www}"), &s, &err), 0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), -EINVAL);
    assert_string_equal(err.msg, "stack.yaml:25:38: deployment group web/prod: "
                                 "loadBalancerInfo.listener: unknown listener 'www' (expected one "
                                 "under proxy.listeners or on the proxy)");
    stack_fini(&s);
    assert_int_equal(
        parse(edit("deploymentConfigName: Two", "deploymentConfigName: Six"), &s, &err), 0);
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "stack.yaml:20:31: deployment group web/prod: unknown "
                                    "deploymentConfigName 'Six'"));
    stack_fini(&s);
    /* a live answer that is not what the API returns */
    assert_int_equal(parse(STACK, &s, &err), 0);
    live.groups_doc = "[]";
    assert_int_equal(stack_plan_make(&s, &live, false, &p, &err), -EPROTO);
    stack_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_with_defaults),
        cmocka_unit_test(errors_point_at_line_and_column),
        cmocka_unit_test(group_errors_map_back_to_yaml),
        cmocka_unit_test(plan_against_live),
        cmocka_unit_test(plan_updates_say_what_differs),
        cmocka_unit_test(plan_refuses_what_cannot_be_applied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
