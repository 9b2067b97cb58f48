/* SPDX-License-Identifier: ISC */
/* proxy/health: the pure transition rules (ALB semantics) and matchers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "proxy/health.h"

struct sim {
    struct health_verdict v;
    uint32_t passes, failures;
    uint32_t rise, fall; /* healthy_threshold, unhealthy_threshold */
};

static struct sim
sim_new(uint32_t rise, uint32_t fall)
{
    struct sim s = {{TARGET_INITIAL, TARGET_REASON_INITIAL_HEALTH_CHECKING}, 0, 0, rise, fall};
    return s;
}

static void
step(struct sim *s, enum health_outcome o)
{
    s->v = health_next(s->v, &s->passes, &s->failures, s->rise, s->fall, o);
}

static void
one_pass_leaves_initial(void **state)
{
    struct sim s = sim_new(5, 2);

    (void)state;
    step(&s, HEALTH_PASS);
    assert_int_equal(s.v.state, TARGET_HEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_NONE);
}

static void
initial_fails_after_unhealthy_threshold(void **state)
{
    struct sim s = sim_new(5, 3);

    (void)state;
    step(&s, HEALTH_CONNECT_FAILED);
    step(&s, HEALTH_CONNECT_FAILED);
    assert_int_equal(s.v.state, TARGET_INITIAL);
    assert_int_equal(s.v.reason, TARGET_REASON_INITIAL_HEALTH_CHECKING);
    step(&s, HEALTH_CONNECT_FAILED);
    assert_int_equal(s.v.state, TARGET_UNHEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_FAILED_HEALTH_CHECKS);
}

static void
healthy_goes_unhealthy_after_exactly_unhealthy_threshold_failures(void **state)
{
    struct sim s = sim_new(3, 2);

    (void)state;
    step(&s, HEALTH_PASS);
    step(&s, HEALTH_BAD_STATUS);
    assert_int_equal(s.v.state, TARGET_HEALTHY);
    step(&s, HEALTH_PASS); /* a pass resets the failure count */
    step(&s, HEALTH_BAD_STATUS);
    assert_int_equal(s.v.state, TARGET_HEALTHY);
    step(&s, HEALTH_BAD_STATUS);
    assert_int_equal(s.v.state, TARGET_UNHEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_RESPONSE_CODE_MISMATCH);
}

static void
unhealthy_needs_healthy_threshold_passes_in_a_row(void **state)
{
    struct sim s = sim_new(3, 1);

    (void)state;
    step(&s, HEALTH_PASS);
    step(&s, HEALTH_TIMEOUT);
    assert_int_equal(s.v.state, TARGET_UNHEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_TIMEOUT);
    step(&s, HEALTH_PASS);
    step(&s, HEALTH_PASS);
    assert_int_equal(s.v.state, TARGET_UNHEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_TIMEOUT); /* keeps the last failure's reason */
    step(&s, HEALTH_BAD_RESPONSE);                       /* the run of passes starts over */
    assert_int_equal(s.v.reason, TARGET_REASON_FAILED_HEALTH_CHECKS);
    step(&s, HEALTH_PASS);
    step(&s, HEALTH_PASS);
    assert_int_equal(s.v.state, TARGET_UNHEALTHY);
    step(&s, HEALTH_PASS);
    assert_int_equal(s.v.state, TARGET_HEALTHY);
    assert_int_equal(s.v.reason, TARGET_REASON_NONE);
}

static void
reason_codes_follow_the_outcome(void **state)
{
    static const struct {
        enum health_outcome o;
        enum target_reason r;
    } cases[] = {
        {HEALTH_BAD_STATUS, TARGET_REASON_RESPONSE_CODE_MISMATCH},
        {HEALTH_TIMEOUT, TARGET_REASON_TIMEOUT},
        {HEALTH_CONNECT_FAILED, TARGET_REASON_FAILED_HEALTH_CHECKS},
        {HEALTH_BAD_RESPONSE, TARGET_REASON_FAILED_HEALTH_CHECKS},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sim s = sim_new(2, 1);
        step(&s, HEALTH_PASS);
        step(&s, cases[i].o);
        assert_int_equal(s.v.state, TARGET_UNHEALTHY);
        assert_int_equal(s.v.reason, cases[i].r);
    }
    assert_string_equal(health_outcome_name(HEALTH_TIMEOUT), "timeout");
}

static void
draining_and_unused_are_left_alone(void **state)
{
    struct sim s = sim_new(1, 1);

    (void)state;
    s.v.state = TARGET_DRAINING;
    s.v.reason = TARGET_REASON_DEREGISTRATION;
    step(&s, HEALTH_PASS);
    assert_int_equal(s.v.state, TARGET_DRAINING);
    assert_int_equal(s.v.reason, TARGET_REASON_DEREGISTRATION);
    s.v.state = TARGET_UNUSED;
    step(&s, HEALTH_TIMEOUT);
    assert_int_equal(s.v.state, TARGET_UNUSED);
    assert_int_equal(s.passes + s.failures, 0);
}

static void
matchers_accept_codes_ranges_and_lists(void **state)
{
    struct health_matcher m;
    struct err err;

    (void)state;
    assert_int_equal(health_matcher_parse(&m, "200", &err), 0);
    assert_true(health_matcher_match(&m, 200));
    assert_false(health_matcher_match(&m, 201));
    assert_int_equal(health_matcher_parse(&m, "200-399", &err), 0);
    assert_true(health_matcher_match(&m, 200));
    assert_true(health_matcher_match(&m, 302));
    assert_true(health_matcher_match(&m, 399));
    assert_false(health_matcher_match(&m, 400));
    assert_false(health_matcher_match(&m, 199));
    assert_int_equal(health_matcher_parse(&m, "200,302", &err), 0);
    assert_true(health_matcher_match(&m, 302));
    assert_false(health_matcher_match(&m, 301));
    assert_int_equal(health_matcher_parse(&m, "200-204,404", &err), 0);
    assert_true(health_matcher_match(&m, 404));
    assert_true(health_matcher_match(&m, 204));
    assert_false(health_matcher_match(&m, 205));
}

static void
matchers_refuse_junk(void **state)
{
    static const char *const bad[] = {
        "",        "abc",     "199",  "500",  "300-200",
        "200-",    "-200",    "200,", ",200", "200,,302",
        "200 302", "200-600", "2000", "20x",  "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};
    struct health_matcher m;
    struct err err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&err);
        if (health_matcher_parse(&m, bad[i], &err) != -EINVAL)
            fail_msg("matcher '%s' accepted", bad[i]);
        assert_non_null(strstr(err.msg, "invalid matcher"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_pass_leaves_initial),
        cmocka_unit_test(initial_fails_after_unhealthy_threshold),
        cmocka_unit_test(healthy_goes_unhealthy_after_exactly_unhealthy_threshold_failures),
        cmocka_unit_test(unhealthy_needs_healthy_threshold_passes_in_a_row),
        cmocka_unit_test(reason_codes_follow_the_outcome),
        cmocka_unit_test(draining_and_unused_are_left_alone),
        cmocka_unit_test(matchers_accept_codes_ranges_and_lists),
        cmocka_unit_test(matchers_refuse_junk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
