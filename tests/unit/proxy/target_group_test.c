/* SPDX-License-Identifier: ISC */
/* proxy/target_group: ALB's state and reason names, per-worker stats summed by readers,
 * routability per state, and reference counting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/addr.h"
#include "proxy/target_group.h"

static struct target *
new_target(const char *text, size_t nslots)
{
    struct addr a;

    assert_int_equal(addr_parse(&a, text), 0);
    return target_group_target_new(&a, "blue", nslots);
}

static void
states_and_reasons_have_albs_names(void **state)
{
    (void)state;
    assert_string_equal(target_group_state_name(TARGET_INITIAL), "initial");
    assert_string_equal(target_group_state_name(TARGET_HEALTHY), "healthy");
    assert_string_equal(target_group_state_name(TARGET_UNHEALTHY), "unhealthy");
    assert_string_equal(target_group_state_name(TARGET_DRAINING), "draining");
    assert_string_equal(target_group_state_name(TARGET_UNUSED), "unused");
    assert_null(target_group_reason_name(TARGET_REASON_NONE));
    assert_null(target_group_reason_description(TARGET_REASON_NONE));
    assert_string_equal(target_group_reason_name(TARGET_REASON_REGISTRATION_IN_PROGRESS),
                        "Elb.RegistrationInProgress");
    assert_string_equal(target_group_reason_name(TARGET_REASON_INITIAL_HEALTH_CHECKING),
                        "Elb.InitialHealthChecking");
    assert_string_equal(target_group_reason_name(TARGET_REASON_RESPONSE_CODE_MISMATCH),
                        "Target.ResponseCodeMismatch");
    assert_string_equal(target_group_reason_name(TARGET_REASON_TIMEOUT), "Target.Timeout");
    assert_string_equal(target_group_reason_name(TARGET_REASON_FAILED_HEALTH_CHECKS),
                        "Target.FailedHealthChecks");
    assert_string_equal(target_group_reason_name(TARGET_REASON_DEREGISTRATION),
                        "Target.DeregistrationInProgress");
    assert_string_equal(target_group_reason_name(TARGET_REASON_NOT_IN_USE), "Target.NotInUse");
    assert_string_equal(target_group_reason_name(TARGET_REASON_NOT_REGISTERED),
                        "Target.NotRegistered");
    assert_string_equal(target_group_reason_name(TARGET_REASON_INTERNAL_ERROR),
                        "Elb.InternalError");
    for (int r = 1; r < TARGET_NREASONS; r++)
        assert_non_null(target_group_reason_description((enum target_reason)r));
}

static void
a_new_target_is_initial_and_registering(void **state)
{
    struct target *t = new_target("127.0.0.1:9001", 1);

    (void)state;
    assert_int_equal(target_group_state(t), TARGET_INITIAL);
    assert_int_equal(atomic_load(&t->reason), TARGET_REASON_REGISTRATION_IN_PROGRESS);
    assert_string_equal(t->group_name, "blue");
    assert_true(target_group_is_routable(t, true));
    assert_false(target_group_is_routable(t, false));
    target_group_set_state(t, TARGET_HEALTHY, TARGET_REASON_NONE);
    assert_true(target_group_is_routable(t, false));
    target_group_set_state(t, TARGET_DRAINING, TARGET_REASON_DEREGISTRATION);
    assert_false(target_group_is_routable(t, true));
    target_group_set_state(t, TARGET_UNUSED, TARGET_REASON_NOT_IN_USE);
    assert_false(target_group_is_routable(t, true));
    target_group_target_unref(t);
}

static void
stats_from_every_worker_are_summed(void **state)
{
    struct target *t = new_target("127.0.0.1:9001", 4);
    struct target_stats s;

    (void)state;
    target_group_stats_record(t, 0, 200, 100, 1000, 3000); /* 3 ms: first bucket */
    target_group_stats_record(t, 3, 204, 50, 10, 5000);    /* 5 ms: still the first */
    target_group_stats_record(t, 1, 503, 10, 20, 700000);  /* 700 ms: the 1 s bucket */
    target_group_stats_record(t, 2, 0, 10, 0, -1);         /* no response */
    target_group_stats_record(t, 2, 404, 1, 1, 20000000);  /* 20 s: +Inf */
    target_group_stats_connect_error(t, 2);
    target_group_stats_timeout(t, 1);
    target_group_stats_read(t, &s);
    assert_int_equal(s.requests[0], 1);
    assert_int_equal(s.requests[2], 2);
    assert_int_equal(s.requests[4], 1);
    assert_int_equal(s.requests[5], 1);
    assert_int_equal(s.bytes_sent, 171);
    assert_int_equal(s.bytes_received, 1031);
    assert_int_equal(s.rt_count, 4);
    assert_int_equal(s.rt_sum_us, 3000 + 5000 + 700000 + 20000000);
    assert_int_equal(s.rt_buckets[0], 2);
    assert_int_equal(s.rt_buckets[7], 1);
    assert_int_equal(s.rt_buckets[TARGET_RT_NBUCKETS - 1], 1);
    assert_int_equal(s.connect_errors, 1);
    assert_int_equal(s.timeouts, 1);
    target_group_target_unref(t);
}

static void
refs_keep_a_target_alive(void **state)
{
    struct target_group_registry *reg = target_group_registry_new(1);
    struct addr a;
    struct target *t, *again;

    (void)state;
    assert_int_equal(addr_parse(&a, "127.0.0.1:9001"), 0);
    t = target_group_registry_get(reg, "blue", &a);
    again = target_group_registry_get(reg, "blue", &a);
    assert_ptr_equal(t, again);
    assert_int_equal(atomic_load(&t->refs), 3);
    target_group_target_unref(again);
    target_group_registry_forget(reg, t);
    assert_int_equal(atomic_load(&t->refs), 1);
    target_group_registry_forget(reg, t); /* not registered any more: no-op */
    target_group_target_unref(t);
    target_group_registry_free(reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(states_and_reasons_have_albs_names),
        cmocka_unit_test(a_new_target_is_initial_and_registering),
        cmocka_unit_test(stats_from_every_worker_are_summed),
        cmocka_unit_test(refs_keep_a_target_alive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
