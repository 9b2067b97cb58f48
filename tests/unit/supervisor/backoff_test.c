/* SPDX-License-Identifier: ISC */
/* supervisor/backoff: immediate restart after a stable run, doubling delays capped at
 * backoff_max, reset after a stable run, and a crash loop counted over a time window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "supervisor/backoff.h"

static void
stable_exit_restarts_at_once(void **state)
{
    struct backoff b;

    (void)state;
    backoff_init(&b, 1000, 30000, 10, 60000);
    assert_int_equal(backoff_on_exit(&b, 0, 5000), 0);
    assert_int_equal(backoff_on_exit(&b, 5000, 9000), 0);
}

static void
unstable_exits_double_up_to_the_cap(void **state)
{
    struct backoff b;
    uint64_t t = 0, expect[] = {100, 200, 400, 800, 1600, 2000, 2000};

    (void)state;
    backoff_init(&b, 1000, 2000, 60, 60000);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        uint64_t d = backoff_on_exit(&b, t, t + 10);

        assert_int_equal(d, expect[i]);
        t += 10 + d;
    }
}

static void
a_stable_run_resets_the_delay(void **state)
{
    struct backoff b;

    (void)state;
    backoff_init(&b, 1000, 30000, 60, 60000);
    assert_int_equal(backoff_on_exit(&b, 0, 10), 100);
    assert_int_equal(backoff_on_exit(&b, 110, 120), 200);
    assert_int_equal(backoff_on_exit(&b, 320, 5000), 0); /* ran 4.7 s: stable */
    assert_int_equal(backoff_on_exit(&b, 5000, 5010), 100);
}

static void
too_many_restarts_in_the_window_give_up(void **state)
{
    struct backoff b;
    uint64_t t = 0;

    (void)state;
    /* Stable-looking runs (2 s each) still make a crash loop when they come too often. */
    backoff_init(&b, 1000, 30000, 3, 10000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(backoff_on_exit(&b, t, t + 2000), 0);
        t += 2000;
    }
    assert_int_equal(backoff_recent(&b, t), 3);
    assert_true(backoff_on_exit(&b, t, t + 2000) == BACKOFF_GIVE_UP);
}

static void
old_restarts_leave_the_window(void **state)
{
    struct backoff b;

    (void)state;
    backoff_init(&b, 1000, 30000, 2, 10000);
    assert_int_equal(backoff_on_exit(&b, 0, 2000), 0);
    assert_int_equal(backoff_on_exit(&b, 2000, 4000), 0);
    assert_int_equal(backoff_recent(&b, 4000), 2);
    /* 11 s later both are out of the window. */
    assert_int_equal(backoff_recent(&b, 15000), 0);
    assert_int_equal(backoff_on_exit(&b, 13000, 15000), 0);
    backoff_reset(&b);
    assert_int_equal(backoff_recent(&b, 15000), 0);
}

static void
zero_max_restarts_never_restarts(void **state)
{
    struct backoff b;

    (void)state;
    backoff_init(&b, 1000, 30000, 0, 10000);
    assert_true(backoff_on_exit(&b, 0, 5000) == BACKOFF_GIVE_UP);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stable_exit_restarts_at_once),
        cmocka_unit_test(unstable_exits_double_up_to_the_cap),
        cmocka_unit_test(a_stable_run_resets_the_delay),
        cmocka_unit_test(too_many_restarts_in_the_window_give_up),
        cmocka_unit_test(old_restarts_leave_the_window),
        cmocka_unit_test(zero_max_restarts_never_restarts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
