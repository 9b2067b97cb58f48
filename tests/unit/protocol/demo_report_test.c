/* SPDX-License-Identifier: ISC */
/* protocol/demo_report: the `cutover demo --output json` report keeps its names and shapes,
 * with nulls for what is unknown and valid JSON whatever the server's messages hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/demo_report.h"

static void
full_report(void **state)
{
    struct demo_report r = {
        .ok = false,
        .failed = {"v3: \"late\""},
        .nfailed = 1,
        .seconds = 12.5,
        .connections = 8,
        .nginx = true,
        .phases = {{.name = "v1->v2",
                    .seconds = 2.0,
                    .requests = 10,
                    .ok = 8,
                    .non2xx = 1,
                    .socket_errors = 1,
                    .p50_ms = 1.5,
                    .p99_ms = 4.0}},
        .nphases = 1,
        .deployments =
            {{.release = "v1", .deployment_id = "d-A", .status = "Succeeded", .seconds = 3.0}},
        .ndeployments = 1,
        .rollback = {.deployment_id = "d-B",
                     .status = "Failed",
                     .error_code = "ALARM_ACTIVE",
                     .error_message = "alarm errors: 0.2\n",
                     .rollback_deployment_id = "d-C",
                     .rollback_message = "rolled back",
                     .rollback_status = "Succeeded",
                     .alarm = "errors",
                     .alarm_ms = 1763787600000LL,
                     .back_ms = 1763787600500LL,
                     .seconds_to_back = 0.5},
    };
    char *got = demo_report_format(&r);

    (void)state;
    assert_string_equal(
        got, "{\"ok\":false,\"failed\":[\"v3: \\\"late\\\"\"],\"seconds\":12.5,\"connections\":8,"
             "\"nginx\":true,\"phases\":[{\"name\":\"v1->v2\",\"seconds\":2.0,\"requests\":10,"
             "\"ok\":8,\"non2xx\":1,\"socketErrors\":1,\"failures\":2,\"rps\":5.0,\"p50Ms\":1.5,"
             "\"p99Ms\":4.0}],\"deployments\":[{\"release\":\"v1\",\"deploymentId\":\"d-A\","
             "\"status\":\"Succeeded\",\"seconds\":3.0}],\"rollback\":{\"deploymentId\":\"d-B\","
             "\"status\":\"Failed\",\"errorInformation\":{\"code\":\"ALARM_ACTIVE\","
             "\"message\":\"alarm errors: 0.2\\n\"},\"rollbackInfo\":{\"rollbackDeploymentId\":"
             "\"d-C\",\"rollbackMessage\":\"rolled back\"},\"rollbackDeploymentStatus\":"
             "\"Succeeded\",\"alarm\":\"errors\",\"alarmAt\":\"2025-11-22T05:00:00.000Z\","
             "\"trafficBackAt\":\"2025-11-22T05:00:00.500Z\",\"firstBadAnswerAt\":null,"
             "\"lastBadAnswerAt\":null,\"secondsToTrafficBack\":0.5}}");
    free(got);
}

static void
no_v3_gives_null_rollback(void **state)
{
    struct demo_report r = {.ok = true, .seconds = 1.0, .connections = 1};
    char *got = demo_report_format(&r);

    (void)state;
    assert_non_null(strstr(got, "\"rollback\":null"));
    assert_non_null(strstr(got, "\"phases\":[]"));
    free(got);
}

static void
times_are_rfc3339_utc(void **state)
{
    char t[40];

    (void)state;
    demo_report_time(1763787600123LL, t, sizeof(t));
    assert_string_equal(t, "2025-11-22T05:00:00.123Z");
    demo_report_time(0, t, sizeof(t));
    assert_string_equal(t, "-");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_report),
        cmocka_unit_test(no_v3_gives_null_rollback),
        cmocka_unit_test(times_are_rfc3339_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
