/* SPDX-License-Identifier: ISC */
/* protocol/deploy_progress: the orchestrator's progress object survives a format/parse round
 * trip (it is what a restarted server resumes from), old or partial objects get defaults, and
 * a webhook notice carries what a receiver needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "protocol/deploy_progress.h"

static void
round_trip_keeps_every_field(void **state)
{
    struct deploy_progress p, back;
    struct err err;
    char *text;

    (void)state;
    deploy_progress_init(&p);
    p.phase = "shift";
    p.step_ms = 1763773200123;
    p.shift = 2;
    p.percent = 30;
    p.applied = true;
    p.original_fleet = 1;
    p.restore = true;
    p.continued = true;
    p.batch = 3;
    p.ntraffic = 2;
    p.traffic_names[0] = "blue";
    p.traffic_weights[0] = 70;
    p.traffic_names[1] = "green";
    p.traffic_weights[1] = 30;
    p.alarm = "errors";
    p.end_cause = "DEPLOYMENT_STOP_ON_ALARM";
    p.end_code = "ALARM_ACTIVE";
    p.end_message = "alarm \"errors\" fired";
    p.stop_rollback = 1;
    text = deploy_progress_format(&p);
    assert_int_equal(deploy_progress_parse(&back, text, strlen(text), &err), 0);
    assert_string_equal(back.phase, "shift");
    assert_true(back.step_ms == 1763773200123);
    assert_int_equal(back.shift, 2);
    assert_int_equal(back.percent, 30);
    assert_true(back.applied && back.restore && back.continued);
    assert_int_equal(back.original_fleet, 1);
    assert_int_equal(back.batch, 3);
    assert_int_equal(back.ntraffic, 2);
    for (size_t i = 0; i < 2; i++) {
        uint32_t want = strcmp(back.traffic_names[i], "blue") == 0 ? 70 : 30;
        assert_int_equal(back.traffic_weights[i], want);
    }
    assert_string_equal(back.alarm, "errors");
    assert_string_equal(back.end_cause, "DEPLOYMENT_STOP_ON_ALARM");
    assert_string_equal(back.end_code, "ALARM_ACTIVE");
    assert_string_equal(back.end_message, "alarm \"errors\" fired");
    assert_int_equal(back.stop_rollback, 1);
    deploy_progress_fini(&back);
    free(text);
}

static void
missing_keys_get_defaults_and_junk_is_refused(void **state)
{
    struct deploy_progress p;
    struct err err;
    const char *old = "{\"phase\":\"install\",\"future\":[1,2]}";

    (void)state;
    assert_int_equal(deploy_progress_parse(&p, old, strlen(old), &err), 0);
    assert_string_equal(p.phase, "install");
    assert_int_equal(p.original_fleet, -1);
    assert_int_equal(p.stop_rollback, -1);
    assert_null(p.end_cause);
    assert_null(p.alarm);
    assert_false(p.applied);
    deploy_progress_fini(&p);
    assert_int_equal(deploy_progress_parse(&p, "[1]", 3, &err), -EINVAL);
    assert_int_equal(deploy_progress_parse(&p, "{\"phase\":", 9, &err), -EINVAL);
}

static void
notice_names_the_deployment_and_error(void **state)
{
    struct deploy_progress_notice n = {
        .trigger_name = "ops",
        .event = "DeploymentFailure",
        .application_name = "web",
        .group_name = "prod",
        .deployment_id = "d-ABCDEFGHI",
        .status = "Failed",
        .error_code = "ALARM_ACTIVE",
        .error_message = "alarm errors",
        .at_ms = 1763773200000,
    };
    char *text = deploy_progress_notice_format(&n);

    (void)state;
    assert_non_null(strstr(text, "\"triggerEvent\":\"DeploymentFailure\""));
    assert_non_null(strstr(text, "\"deploymentId\":\"d-ABCDEFGHI\""));
    assert_non_null(strstr(text, "\"code\":\"ALARM_ACTIVE\""));
    assert_non_null(strstr(text, "\"time\":\"2025-11-22T01:00:00.000Z\""));
    assert_null(strstr(text, "instanceId"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_every_field),
        cmocka_unit_test(missing_keys_get_defaults_and_junk_is_refused),
        cmocka_unit_test(notice_names_the_deployment_and_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
