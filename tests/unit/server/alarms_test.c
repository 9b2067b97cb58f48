/* SPDX-License-Identifier: ISC */
/* server/alarms: a /metrics exposition as proxy/metrics.c writes it summed per target group
 * (5xx and no-response as errors, histogram buckets by le), and the sliding window's verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server/alarms.h"

static const char exposition[] =
    "# HELP cutover_requests_total Requests finished by a target.\n"
    "# TYPE cutover_requests_total counter\n"
    "cutover_requests_total{listener=\"web\",target_group=\"green\",target=\"127.0.0.1:9003\","
    "status_class=\"2xx\"} 90\n"
    "cutover_requests_total{listener=\"web\",target_group=\"green\",target=\"127.0.0.1:9003\","
    "status_class=\"5xx\"} 6\n"
    "cutover_requests_total{listener=\"web\",target_group=\"green\",target=\"127.0.0.1:9003\","
    "status_class=\"none\"} 1\n"
    "cutover_requests_total{listener=\"web\",target_group=\"green\",target=\"127.0.0.1:9004\","
    "status_class=\"2xx\"} 3\n"
    "cutover_requests_total{listener=\"web,test\",target_group=\"blue\",target=\"127.0.0.1:9001\","
    "status_class=\"5xx\"} 1000\n"
    "# TYPE cutover_target_response_time_seconds histogram\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9003\","
    "le=\"0.005\"} 50\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9003\","
    "le=\"0.5\"} 90\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9003\","
    "le=\"+Inf\"} 97\n"
    "cutover_target_response_time_seconds_sum{target_group=\"green\",target=\"127.0.0.1:9003\"} "
    "1.5\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9004\","
    "le=\"0.005\"} 3\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9004\","
    "le=\"0.5\"} 3\n"
    "cutover_target_response_time_seconds_bucket{target_group=\"green\",target=\"127.0.0.1:9004\","
    "le=\"+Inf\"} 3\n"
    "cutover_target_state{target_group=\"green\",target=\"127.0.0.1:9003\",state=\"healthy\"} 1\n";

static void
sums_one_group_over_its_targets(void **state)
{
    struct deployment_metric_sample s;

    (void)state;
    assert_int_equal(alarms_parse_sample(exposition, strlen(exposition), "green", 42, &s), 0);
    assert_int_equal(s.at_ms, 42);
    assert_int_equal(s.requests, 100);
    assert_int_equal(s.errors, 7);
    assert_int_equal(s.nbuckets, 3);
    assert_true(s.le[0] == 0.005);
    assert_true(s.le[1] == 0.5);
    assert_true(isinf(s.le[2]));
    assert_int_equal(s.cumulative[0], 53);
    assert_int_equal(s.cumulative[1], 93);
    assert_int_equal(s.cumulative[2], 100);

    assert_int_equal(alarms_parse_sample(exposition, strlen(exposition), "blue", 0, &s), 0);
    assert_int_equal(s.requests, 1000);
    assert_int_equal(s.errors, 1000);
    assert_int_equal(alarms_parse_sample(exposition, strlen(exposition), "none", 0, &s), 0);
    assert_int_equal(s.requests, 0);
    assert_int_equal(s.nbuckets, 0);
}

static void
malformed_series_is_an_error(void **state)
{
    const char *bad = "cutover_requests_total{target_group=\"green\" 12\n";
    const char *novalue = "cutover_requests_total{target_group=\"green\",status_class=\"2xx\"}\n";
    struct deployment_metric_sample s;

    (void)state;
    assert_int_equal(alarms_parse_sample(bad, strlen(bad), "green", 0, &s), -EINVAL);
    assert_int_equal(alarms_parse_sample(novalue, strlen(novalue), "green", 0, &s), -EINVAL);
}

static void
window_uses_the_sample_a_window_back(void **state)
{
    static struct alarms_window w; /* large: keep it off the stack */
    struct deployment_alarm a = {DEPLOYMENT_METRIC_TARGET_5XX_RATIO, 0.01, 10000, 1};
    struct deployment_metric_sample s;
    double v;

    (void)state;
    alarms_window_init(&w);
    memset(&s, 0, sizeof(s));
    alarms_window_push(&w, &s);
    assert_false(alarms_window_eval(&w, &a, &v)); /* one sample: no verdict */
    /* 1000 bad requests long ago, then 20 s of clean traffic */
    s.at_ms = 1000;
    s.requests = 1000;
    s.errors = 1000;
    alarms_window_push(&w, &s);
    for (int i = 1; i <= 40; i++) {
        s.at_ms = 1000 + (uint64_t)i * 500;
        s.requests += 100;
        alarms_window_push(&w, &s);
    }
    assert_false(alarms_window_eval(&w, &a, &v));
    assert_true(v == 0);
    /* 5 % errors in the last half second fires */
    s.at_ms += 500;
    s.requests += 100;
    s.errors += 50;
    alarms_window_push(&w, &s);
    assert_true(alarms_window_eval(&w, &a, &v));
    /* the ring keeps working past its size */
    for (int i = 0; i < ALARMS_WINDOW_SAMPLES * 2; i++) {
        s.at_ms += 500;
        s.requests += 100;
        alarms_window_push(&w, &s);
    }
    assert_int_equal(w.n, ALARMS_WINDOW_SAMPLES);
    assert_false(alarms_window_eval(&w, &a, &v));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sums_one_group_over_its_targets),
        cmocka_unit_test(malformed_series_is_an_error),
        cmocka_unit_test(window_uses_the_sample_a_window_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
