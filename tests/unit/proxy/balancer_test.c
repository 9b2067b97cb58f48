/* SPDX-License-Identifier: ISC */
/* proxy/balancer: round robin, least outstanding, fail-open, the retry's skip list, and the
 * weighted split across groups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/addr.h"
#include "proxy/balancer.h"
#include "proxy/target_group.h"

#define NT 3

struct fixture {
    struct target *t[NT];
    struct balancer_cursor cur;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[32];
    struct addr a;

    for (int i = 0; i < NT; i++) {
        snprintf(text, sizeof(text), "127.0.0.1:%d", 9001 + i);
        assert_int_equal(addr_parse(&a, text), 0);
        f->t[i] = target_group_target_new(&a, "blue", 1);
        target_group_set_state(f->t[i], TARGET_HEALTHY, TARGET_REASON_NONE);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < NT; i++)
        target_group_target_unref(f->t[i]);
    free(f);
    return 0;
}

static struct target *
pick(struct fixture *f, enum balancer_algorithm algo, const struct target *skip)
{
    const struct target *const skips[] = {skip};

    return balancer_pick_target(algo, f->t, NT, &f->cur, skips, skip ? 1 : 0);
}

static void
round_robin_visits_every_healthy_target_in_turn(void **state)
{
    struct fixture *f = *state;
    int counts[NT] = {0};

    for (int i = 0; i < 3 * 100; i++) {
        struct target *t = pick(f, BALANCER_ROUND_ROBIN, NULL);
        assert_ptr_equal(t, f->t[i % NT]);
        counts[i % NT]++;
    }
    target_group_set_state(f->t[1], TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT);
    for (int i = 0; i < 100; i++)
        assert_ptr_not_equal(pick(f, BALANCER_ROUND_ROBIN, NULL), f->t[1]);
}

static void
initial_targets_get_traffic_only_when_nothing_is_healthy(void **state)
{
    struct fixture *f = *state;

    target_group_set_state(f->t[0], TARGET_INITIAL, TARGET_REASON_INITIAL_HEALTH_CHECKING);
    target_group_set_state(f->t[2], TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT);
    for (int i = 0; i < 10; i++)
        assert_ptr_equal(pick(f, BALANCER_ROUND_ROBIN, NULL), f->t[1]);
    assert_true(balancer_group_has_healthy(f->t, NT, NULL, 0));
}

static void
fails_open_to_non_draining_targets_when_none_is_healthy(void **state)
{
    struct fixture *f = *state;
    int seen[NT] = {0};

    target_group_set_state(f->t[0], TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT);
    target_group_set_state(f->t[1], TARGET_DRAINING, TARGET_REASON_DEREGISTRATION);
    target_group_set_state(f->t[2], TARGET_INITIAL, TARGET_REASON_INITIAL_HEALTH_CHECKING);
    assert_false(balancer_group_has_healthy(f->t, NT, NULL, 0));
    assert_true(balancer_group_routable(f->t, NT, NULL, 0));
    for (int i = 0; i < 30; i++) {
        struct target *t = pick(f, BALANCER_ROUND_ROBIN, NULL);
        assert_ptr_not_equal(t, f->t[1]);
        seen[t == f->t[0] ? 0 : 2]++;
    }
    assert_int_equal(seen[0], 15);
    assert_int_equal(seen[2], 15);
}

static void
draining_and_unused_targets_are_never_picked(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < NT; i++)
        target_group_set_state(f->t[i], i ? TARGET_UNUSED : TARGET_DRAINING,
                               TARGET_REASON_DEREGISTRATION);
    assert_null(pick(f, BALANCER_ROUND_ROBIN, NULL));
    assert_null(pick(f, BALANCER_LEAST_OUTSTANDING, NULL));
    assert_false(balancer_group_routable(f->t, NT, NULL, 0));
    assert_null(balancer_pick_target(BALANCER_ROUND_ROBIN, NULL, 0, &f->cur, NULL, 0));
}

static void
retry_skips_the_target_that_failed(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < 50; i++)
        assert_ptr_not_equal(pick(f, BALANCER_ROUND_ROBIN, f->t[0]), f->t[0]);
    for (int i = 0; i < 50; i++)
        assert_ptr_not_equal(pick(f, BALANCER_LEAST_OUTSTANDING, f->t[2]), f->t[2]);
    /* The only healthy target failed: no fail-open to unhealthy ones for the retry. */
    target_group_set_state(f->t[1], TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT);
    target_group_set_state(f->t[2], TARGET_UNHEALTHY, TARGET_REASON_TIMEOUT);
    assert_null(pick(f, BALANCER_ROUND_ROBIN, f->t[0]));
    const struct target *const skip[] = {f->t[0]};
    assert_false(balancer_group_routable(f->t, NT, skip, 1));
}

static void
least_outstanding_prefers_the_idlest_and_rotates_ties(void **state)
{
    struct fixture *f = *state;
    int counts[NT] = {0};

    atomic_store(&f->t[0]->in_flight, 5);
    atomic_store(&f->t[1]->in_flight, 1);
    atomic_store(&f->t[2]->in_flight, 3);
    for (int i = 0; i < 10; i++)
        assert_ptr_equal(pick(f, BALANCER_LEAST_OUTSTANDING, NULL), f->t[1]);
    for (int i = 0; i < NT; i++)
        atomic_store(&f->t[i]->in_flight, 2);
    for (int i = 0; i < 300; i++) {
        struct target *t = pick(f, BALANCER_LEAST_OUTSTANDING, NULL);
        for (int j = 0; j < NT; j++)
            counts[j] += t == f->t[j];
    }
    for (int j = 0; j < NT; j++)
        assert_int_equal(counts[j], 100);
}

static void
weighted_choice_is_exact_over_each_cycle(void **state)
{
    const uint32_t weights[] = {90, 10, 0};
    const bool eligible[] = {true, true, true};
    int64_t credits[3] = {0};
    int counts[3] = {0};

    (void)state;
    for (int i = 0; i < 10000; i++) {
        int k = balancer_pick_weighted(weights, eligible, 3, credits);
        assert_true(k >= 0 && k < 2);
        counts[k]++;
        if ((i + 1) % 100 == 0) {
            assert_int_equal(counts[0], (i + 1) / 100 * 90);
            assert_int_equal(counts[1], (i + 1) / 100 * 10);
        }
    }
    assert_int_equal(counts[2], 0);
}

static void
weighted_split_stays_within_two_points_for_odd_weights(void **state)
{
    const uint32_t weights[] = {7, 999, 333, 1};
    const bool eligible[] = {true, true, true, true};
    const double total = 7 + 999 + 333 + 1;
    int64_t credits[4] = {0};
    int counts[4] = {0};

    (void)state;
    for (int i = 0; i < 10000; i++)
        counts[balancer_pick_weighted(weights, eligible, 4, credits)]++;
    for (int k = 0; k < 4; k++) {
        double want = 100.0 * weights[k] / total;
        double got = 100.0 * counts[k] / 10000.0;
        assert_true(got > want - 2.0 && got < want + 2.0);
    }
}

static void
weighted_choice_skips_ineligible_groups_and_reports_none(void **state)
{
    const uint32_t weights[] = {50, 50};
    bool eligible[] = {false, true};
    const uint32_t zero[] = {0, 0};
    int64_t credits[2] = {0};

    (void)state;
    for (int i = 0; i < 100; i++)
        assert_int_equal(balancer_pick_weighted(weights, eligible, 2, credits), 1);
    eligible[1] = false;
    assert_int_equal(balancer_pick_weighted(weights, eligible, 2, credits), -1);
    eligible[0] = eligible[1] = true;
    assert_int_equal(balancer_pick_weighted(zero, eligible, 2, credits), -1);
}

static void
algorithm_names_round_trip(void **state)
{
    enum balancer_algorithm a;

    (void)state;
    assert_int_equal(balancer_algorithm_parse("round_robin", &a), 0);
    assert_int_equal(a, BALANCER_ROUND_ROBIN);
    assert_string_equal(balancer_algorithm_name(a), "round_robin");
    assert_int_equal(balancer_algorithm_parse("least_outstanding_requests", &a), 0);
    assert_string_equal(balancer_algorithm_name(a), "least_outstanding_requests");
    assert_int_equal(balancer_algorithm_parse("random", &a), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_robin_visits_every_healthy_target_in_turn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(initial_targets_get_traffic_only_when_nothing_is_healthy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(fails_open_to_non_draining_targets_when_none_is_healthy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(draining_and_unused_targets_are_never_picked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(retry_skips_the_target_that_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(least_outstanding_prefers_the_idlest_and_rotates_ties,
                                        setup, teardown),
        cmocka_unit_test(weighted_choice_is_exact_over_each_cycle),
        cmocka_unit_test(weighted_split_stays_within_two_points_for_odd_weights),
        cmocka_unit_test(weighted_choice_skips_ineligible_groups_and_reports_none),
        cmocka_unit_test(algorithm_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
