/* SPDX-License-Identifier: ISC */
/* Control plane codecs: names and times, group.json (the DESIGN.md example and its errors),
 * the agent wire contract, deploymentInfo, instance summaries and on-premises instances, each
 * format → parse round trip and each error naming its place. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/mem.h"
#include "protocol/deploy.h"
#include "protocol/deploy_agent.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"

static const char design_group[] =
    "{\"applicationName\": \"web\", \"deploymentGroupName\": \"prod\",\n"
    " \"deploymentConfigName\": \"CodeDeployDefault.AllAtOnce\",\n"
    " \"deploymentStyle\": {\"deploymentType\": \"BLUE_GREEN\", \"deploymentOption\": "
    "\"WITH_TRAFFIC_CONTROL\"},\n"
    " \"blueGreenFleets\": [{\"tag\": {\"Key\": \"fleet\", \"Value\": \"blue\"},  "
    "\"targetGroup\": \"blue\"},\n"
    "                     {\"tag\": {\"Key\": \"fleet\", \"Value\": \"green\"}, "
    "\"targetGroup\": \"green\"}],\n"
    " \"loadBalancerInfo\": {\"proxyAdmin\": \"http://127.0.0.1:9901\", \"listener\": \"web\", "
    "\"testListener\": \"test\"},\n"
    " \"trafficRoutingConfig\": {\"type\": \"TimeBasedCanary\",\n"
    "                          \"timeBasedCanary\": {\"canaryPercentage\": 10, "
    "\"canaryInterval\": \"20s\"}},\n"
    " \"blueGreenDeploymentConfiguration\": {\n"
    "    \"deploymentReadyOption\": {\"actionOnTimeout\": \"CONTINUE_DEPLOYMENT\"},\n"
    "    \"terminateBlueInstancesOnDeploymentSuccess\": {\"action\": \"KEEP_ALIVE\",\n"
    "                                                  \"terminationWaitTimeInMinutes\": 5}},\n"
    " \"autoRollbackConfiguration\": {\"enabled\": true,\n"
    "                               \"events\": [\"DEPLOYMENT_FAILURE\", "
    "\"DEPLOYMENT_STOP_ON_ALARM\"]},\n"
    " \"alarmConfiguration\": {\"enabled\": true, \"alarms\": [\n"
    "    {\"name\": \"errors\", \"metric\": \"target_5xx_ratio\", \"targetGroup\": "
    "\"replacement\",\n"
    "     \"threshold\": 0.01, \"window\": \"10s\"}]}}\n";

static void
times_round_trip_and_offsets_parse(void **state)
{
    char buf[DEPLOY_TIME_MAX];
    int64_t ms;

    (void)state;
    assert_string_equal(deploy_time_format(1763773323456, buf), "2025-11-22T01:02:03.456Z");
    assert_int_equal(deploy_time_parse(buf, &ms), 0);
    assert_int_equal(ms, 1763773323456);
    assert_int_equal(deploy_time_parse("2025-11-22T02:02:03.4+01:00", &ms), 0);
    assert_int_equal(ms, 1763773323400);
    assert_int_equal(deploy_time_parse("2025-11-22T01:02:03Z", &ms), 0);
    assert_int_equal(deploy_time_parse("2025-11-22 01:02:03Z", &ms), -EINVAL);
    assert_int_equal(deploy_time_parse("2025-11-22T01:02:03", &ms), -EINVAL);
    assert_string_equal(deploy_time_format(0, buf), "");
}

static void
names_are_codedeploys(void **state)
{
    enum deploy_status s;
    enum deploy_error_code e;
    enum deploy_rollback_event r;

    (void)state;
    assert_string_equal(deploy_status_name(DEPLOY_IN_PROGRESS), "InProgress");
    assert_int_equal(deploy_status_parse("Ready", &s), 0);
    assert_int_equal(s, DEPLOY_READY);
    assert_int_equal(deploy_status_parse("ready", &s), -EINVAL);
    assert_true(deploy_status_is_active(DEPLOY_CREATED));
    assert_false(deploy_status_is_active(DEPLOY_STOPPED));
    assert_string_equal(deploy_error_code_name(DEPLOY_ERR_ALARM_ACTIVE), "ALARM_ACTIVE");
    assert_string_equal(deploy_error_code_name(DEPLOY_ERR_NONE), "");
    assert_int_equal(deploy_error_code_parse("AGENT_ISSUE", &e), 0);
    assert_int_equal(e, DEPLOY_ERR_AGENT_ISSUE);
    assert_int_equal(deploy_rollback_event_parse("DEPLOYMENT_STOP_ON_REQUEST", &r), 0);
    assert_int_equal(r, DEPLOY_ROLLBACK_ON_STOP_REQUEST);
    assert_string_equal(deploy_instance_type_name(DEPLOY_INSTANCE_TYPE_GREEN), "Green");
    assert_string_equal(deploy_group_config_builtin(2)->name, "CodeDeployDefault.OneAtATime");
    assert_null(deploy_group_config_builtin(3));
}

static void
design_group_json_parses(void **state)
{
    struct deploy_group g;
    struct err err = {0};

    (void)state;
    assert_int_equal(deploy_group_parse(design_group, strlen(design_group), "group.json", &g, &err),
                     0);
    assert_string_equal(g.application_name, "web");
    assert_int_equal(g.type, DEPLOY_TYPE_BLUE_GREEN);
    assert_int_equal(g.nfleets, 2);
    assert_string_equal(g.fleets[1].tag.value, "green");
    assert_string_equal(g.fleets[1].target_group, "green");
    assert_string_equal(g.proxy_admin, "http://127.0.0.1:9901");
    assert_string_equal(g.test_listener, "test");
    assert_int_equal(g.traffic_type, DEPLOY_TRAFFIC_TIME_BASED_CANARY);
    assert_int_equal(g.traffic_percentage, 10);
    assert_int_equal(g.traffic_interval_ms, 20000);
    assert_int_equal(g.termination_wait_ms, 5 * 60000);
    assert_int_equal(g.termination_action, DEPLOY_TERMINATION_KEEP_ALIVE);
    assert_true(g.rollback_enabled);
    assert_int_equal(g.rollback_events, DEPLOY_ROLLBACK_ON_FAILURE | DEPLOY_ROLLBACK_ON_ALARM);
    assert_int_equal(g.nalarms, 1);
    assert_string_equal(g.alarms[0].metric, "target_5xx_ratio");
    assert_true(g.alarms[0].threshold > 0.0099 && g.alarms[0].threshold < 0.0101);
    assert_int_equal(g.alarms[0].window_ms, 10000);
    assert_int_equal(g.health_timeout_ms, 300000);
    deploy_group_fini(&g);
}

static void
expect_group_error(const char *json, const char *needle)
{
    struct deploy_group g;
    struct err err = {0};

    assert_int_equal(deploy_group_parse(json, strlen(json), "group.json", &g, &err), -EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void
group_errors_name_their_place(void **state)
{
    (void)state;
    expect_group_error("{\"applicationName\": \"web\",\n \"deploymentGroupName\": }",
                       "group.json:2:");
    expect_group_error("{\"applicationName\":\"web\",\"deploymentGroupName\":\"p\","
                       "\"deploymentStyl\":{}}",
                       "did you mean 'deploymentStyle'");
    expect_group_error("{\"applicationName\":\"web\",\"deploymentGroupName\":\"p\","
                       "\"deploymentStyle\":{\"deploymentType\":\"BLUE_GREEN\"}}",
                       "BLUE_GREEN expects two fleets");
    expect_group_error("{\"applicationName\":\"web\",\"deploymentGroupName\":\"p\","
                       "\"trafficRoutingConfig\":{\"type\":\"TimeBasedLinear\","
                       "\"timeBasedLinear\":{\"linearPercentage\":100,\"linearInterval\":1}}}",
                       "trafficRoutingConfig.timeBasedLinear.linearPercentage: 100 out of range");
    expect_group_error("{\"applicationName\":\"web\",\"deploymentGroupName\":\"p\","
                       "\"trafficRoutingConfig\":{\"type\":\"TimeBasedCanary\","
                       "\"timeBasedCanary\":{\"canaryPercentage\":10,\"canaryInterval\":\"x\"}}}",
                       "canaryInterval: expected integer minutes");
    expect_group_error("{\"deploymentGroupName\":\"p\"}", "group.applicationName: missing");
    expect_group_error("[1]", "expected a JSON object");
}

static void
agent_register_and_registered_round_trip(void **state)
{
    struct deploy_tag tags[] = {{"fleet", "blue"}, {"zone", "a"}};
    struct deploy_agent_register in = {.name = "blue-1",
                                       .tags = tags,
                                       .ntags = 2,
                                       .target = "127.0.0.1:8001",
                                       .agent_version = "0.1.0"};
    struct deploy_agent_register out;
    struct deploy_agent_registered ok = {.instance_name = "blue-1",
                                         .instance_token = "t",
                                         .heartbeat_interval_s = 5},
                                   ok2;
    struct err err = {0};
    char *s = deploy_agent_register_format(&in);

    (void)state;
    assert_string_equal(s, "{\"name\":\"blue-1\",\"tags\":{\"fleet\":\"blue\",\"zone\":\"a\"},"
                           "\"target\":\"127.0.0.1:8001\",\"agentVersion\":\"0.1.0\"}");
    assert_int_equal(deploy_agent_register_parse(s, strlen(s), &out, &err), 0);
    assert_int_equal(out.ntags, 2);
    assert_string_equal(out.tags[1].value, "a");
    deploy_agent_register_fini(&out);
    free(s);
    assert_int_equal(deploy_agent_register_parse("{\"tags\":{}}", 11, &out, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "register.name"));
    s = deploy_agent_registered_format(&ok);
    assert_int_equal(deploy_agent_registered_parse(s, strlen(s), &ok2, &err), 0);
    assert_string_equal(ok2.instance_token, "t");
    assert_int_equal(ok2.heartbeat_interval_s, 5);
    deploy_agent_registered_fini(&ok2);
    free(s);
}

static void
commands_round_trip(void **state)
{
    const char *evs[] = {"ApplicationStop", "DownloadBundle", "Install"};
    struct deploy_command c = {.command_id = "c-1",
                               .deployment_id = "d-ABCDEFGHI",
                               .application_name = "web",
                               .group_name = "prod",
                               .group_id = "uuid",
                               .revision_id = "sha256:ab",
                               .sha256 = "ab",
                               .bundle_type = "tgz",
                               .bundle_url = "/v1/revisions/sha256:ab/bundle",
                               .events = evs,
                               .nevents = 3,
                               .file_exists = DEPLOY_FILE_EXISTS_OVERWRITE,
                               .ignore_application_stop_failures = true};
    struct deploy_command_list l;
    struct err err = {0};
    char *s = deploy_agent_commands_format(&c, 1), *empty = deploy_agent_commands_format(NULL, 0);

    (void)state;
    assert_string_equal(empty, "{\"commands\":[]}");
    assert_int_equal(deploy_agent_commands_parse(s, strlen(s), &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].bundle_url, "/v1/revisions/sha256:ab/bundle");
    assert_int_equal(l.items[0].nevents, 3);
    assert_string_equal(l.items[0].events[2], "Install");
    assert_int_equal(l.items[0].file_exists, DEPLOY_FILE_EXISTS_OVERWRITE);
    assert_true(l.items[0].ignore_application_stop_failures);
    deploy_agent_commands_fini(&l);
    free(s);
    free(empty);
    {
        static const char bad[] =
            "{\"commands\":[{\"commandId\":\"c\",\"deploymentId\":\"d\",\"events\":[],"
            "\"revision\":{\"revisionId\":\"r\",\"url\":\"u\"}}]}";

        assert_int_equal(deploy_agent_commands_parse(bad, strlen(bad), &l, &err), -EINVAL);
    }
    assert_non_null(strstr(err.msg, "commands[0].sha256: missing"));
}

static void
event_reports_keep_diagnostics(void **state)
{
    static const char j[] =
        "{\"lifecycleEvent\":\"AfterInstall\",\"status\":\"Failed\","
        "\"startTime\":\"2026-11-22T00:00:01Z\",\"endTime\":\"2026-11-22T00:00:02.5Z\","
        "\"diagnostics\":{\"errorCode\":\"ScriptFailed\",\"scriptName\":\"scripts/x.sh\","
        "\"message\":\"m\",\"logTail\":\"a\\nb\\n\",\"exitCode\":4}}";
    struct deploy_event_report r, r2;
    struct err err = {0};
    char *s;

    (void)state;
    assert_int_equal(deploy_agent_event_parse(j, strlen(j), &r, &err), 0);
    assert_int_equal(r.status, DEPLOY_EVENT_FAILED);
    assert_int_equal(r.end_ms - r.start_ms, 1500);
    assert_string_equal(r.diag.log_tail, "a\nb\n");
    assert_int_equal(r.diag.exit_code, 4);
    s = deploy_agent_event_format(&r);
    assert_int_equal(deploy_agent_event_parse(s, strlen(s), &r2, &err), 0);
    assert_int_equal(r2.end_ms, r.end_ms);
    assert_string_equal(r2.diag.script_name, "scripts/x.sh");
    deploy_agent_event_fini(&r2);
    deploy_agent_event_fini(&r);
    free(s);
    s = mem_strdup("{\"lifecycleEvent\":\"x\",\"status\":\"Done\"}");
    assert_int_equal(deploy_agent_event_parse(s, strlen(s), &r, &err), -EINVAL);
    free(s);
    assert_non_null(strstr(err.msg, "event.status: 'Done'"));
}

static void
heartbeat_null_is_idle(void **state)
{
    struct deploy_heartbeat h = {0}, h2;
    struct err err = {0};
    char *s = deploy_agent_heartbeat_format(&h);

    (void)state;
    assert_string_equal(s, "{\"runningCommandId\":null}");
    assert_int_equal(deploy_agent_heartbeat_parse(s, strlen(s), &h2, &err), 0);
    assert_null(h2.running_command_id);
    deploy_agent_heartbeat_fini(&h2);
    free(s);
}

static void
deployment_info_round_trips(void **state)
{
    struct deploy_info d = {.deployment_id = "d-ABCDEFGHI",
                            .application_name = "web",
                            .group_name = "prod",
                            .config_name = "CodeDeployDefault.AllAtOnce",
                            .revision_id = "sha256:ab",
                            .status = DEPLOY_FAILED,
                            .error_code = DEPLOY_ERR_ALARM_ACTIVE,
                            .error_message = "errors",
                            .rollback_deployment_id = "d-ROLLBACK1",
                            .creator = "user",
                            .create_ms = 1000,
                            .complete_ms = 2000,
                            .overview = {.failed = 1, .succeeded = 2},
                            .type = DEPLOY_TYPE_BLUE_GREEN,
                            .option = DEPLOY_OPTION_WITH_TRAFFIC_CONTROL,
                            .auto_rollback_override = -1,
                            .progress_json = "{\"phase\":\"done\",\"traffic\":{\"blue\":100}}"};
    struct deploy_info back;
    struct err err = {0};
    char *s = deploy_info_format(&d);

    (void)state;
    assert_non_null(strstr(s, "\"errorInformation\":{\"code\":\"ALARM_ACTIVE\",\"message\":"
                              "\"errors\"}"));
    assert_non_null(strstr(s, "\"rollbackInfo\":{\"rollbackDeploymentId\":\"d-ROLLBACK1\"}"));
    assert_non_null(strstr(s, "\"progress\":{\"phase\":\"done\""));
    assert_int_equal(deploy_info_parse(s, strlen(s), &back, &err), 0);
    assert_int_equal(back.status, DEPLOY_FAILED);
    assert_int_equal(back.error_code, DEPLOY_ERR_ALARM_ACTIVE);
    assert_string_equal(back.rollback_deployment_id, "d-ROLLBACK1");
    assert_int_equal(back.complete_ms, 2000);
    assert_int_equal(back.overview.succeeded, 2);
    assert_int_equal(back.type, DEPLOY_TYPE_BLUE_GREEN);
    assert_int_equal(back.auto_rollback_override, -1);
    assert_string_equal(back.progress_json, "{\"phase\":\"done\",\"traffic\":{\"blue\":100}}");
    deploy_info_fini(&back);
    free(s);
}

static void
create_requests_are_strict(void **state)
{
    struct deploy_create_request r = {.application_name = "web",
                                      .group_name = "prod",
                                      .revision_id = "sha256:ab",
                                      .auto_rollback_override = 0},
                                 back;
    struct err err = {0};
    char *s = deploy_info_request_format(&r);
    int ar;

    (void)state;
    assert_int_equal(deploy_info_request_parse(s, strlen(s), &back, &err), 0);
    assert_int_equal(back.auto_rollback_override, 0);
    assert_string_equal(back.revision_id, "sha256:ab");
    deploy_info_request_fini(&back);
    free(s);
    {
        static const char bad[] =
            "{\"applicationName\":\"w\",\"deploymentGroupName\":\"p\",\"revison\":{}}";

        assert_int_equal(deploy_info_request_parse(bad, strlen(bad), &back, &err), -EINVAL);
    }
    assert_non_null(strstr(err.msg, "did you mean 'revision'"));
    assert_int_equal(deploy_info_stop_parse("", 0, &ar, &err), 0);
    assert_int_equal(ar, -1);
    assert_int_equal(deploy_info_stop_parse("{\"autoRollbackEnabled\":true}", 28, &ar, &err), 0);
    assert_int_equal(ar, 1);
}

static void
instance_summaries_and_onprem_round_trip(void **state)
{
    struct deploy_event evs[] = {
        {.name = "Install", .status = DEPLOY_EVENT_SUCCEEDED, .diag = {.exit_code = -1}},
        {.name = "ValidateService",
         .status = DEPLOY_EVENT_FAILED,
         .diag = {.error_code = "ScriptFailed", .log_tail = "boom", .exit_code = 4}}};
    struct deploy_instance_summary s = {.deployment_id = "d-1",
                                        .instance_id = "green-1",
                                        .status = DEPLOY_INSTANCE_FAILED,
                                        .instance_type = DEPLOY_INSTANCE_TYPE_GREEN,
                                        .events = evs,
                                        .nevents = 2};
    struct deploy_instance_summaries l;
    struct deploy_tag tag = {"fleet", "green"};
    struct deploy_onprem o = {
        .name = "green-1", .tags = &tag, .ntags = 1, .target = "h:1", .status = "Online"};
    struct deploy_onprem_list ol;
    struct err err = {0};
    char *one = deploy_info_instance_format(&s), *many = deploy_info_instances_format(&s, 1);
    char *on = deploy_info_onprem_list_format(&o, 1);

    (void)state;
    assert_int_equal(deploy_info_instances_parse(one, strlen(one), &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].instance_type, DEPLOY_INSTANCE_TYPE_GREEN);
    assert_int_equal(l.items[0].events[1].diag.exit_code, 4);
    assert_int_equal(l.items[0].events[0].diag.exit_code, -1);
    deploy_info_instances_fini(&l);
    assert_non_null(strstr(many, "\"instancesList\":[\"green-1\"]"));
    assert_int_equal(deploy_info_instances_parse(many, strlen(many), &l, &err), 0);
    assert_string_equal(l.items[0].events[1].diag.log_tail, "boom");
    deploy_info_instances_fini(&l);
    assert_int_equal(deploy_info_onprem_list_parse(on, strlen(on), &ol, &err), 0);
    assert_string_equal(ol.items[0].tags[0].value, "green");
    assert_string_equal(ol.items[0].status, "Online");
    deploy_info_onprem_list_fini(&ol);
    free(one);
    free(many);
    free(on);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times_round_trip_and_offsets_parse),
        cmocka_unit_test(names_are_codedeploys),
        cmocka_unit_test(design_group_json_parses),
        cmocka_unit_test(group_errors_name_their_place),
        cmocka_unit_test(agent_register_and_registered_round_trip),
        cmocka_unit_test(commands_round_trip),
        cmocka_unit_test(event_reports_keep_diagnostics),
        cmocka_unit_test(heartbeat_null_is_idle),
        cmocka_unit_test(deployment_info_round_trips),
        cmocka_unit_test(create_requests_are_strict),
        cmocka_unit_test(instance_summaries_and_onprem_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
