/* SPDX-License-Identifier: ISC */
/* supervisor/reload: the surge-then-drain plan, driven over a simulated app, never lets ready
 * workers drop below instances, never starts more than parallel at once, finishes with every
 * worker new, and stops cold on a failure with the old workers still serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "supervisor/reload.h"

/* Applies a step the way the supervisor would; new workers become ready, and draining ones
 * exit, one event at a time. */
static void
apply(struct reload_view *v, const struct reload_step *s)
{
    v->new_starting += s->start;
    v->old_ready -= s->drain;
    v->old_draining += s->drain;
    v->old_draining += s->stop_other;
    v->old_other -= s->stop_other;
}

static int
run_reload(uint32_t instances, uint32_t parallel, int fail_at, struct reload_view *out)
{
    struct reload_view v = {.instances = instances, .parallel = parallel, .old_ready = instances};
    struct reload_step s;
    int events = 0;

    for (int guard = 0; guard < 1000; guard++) {
        reload_plan(&v, &s);
        assert_true(v.old_ready + v.new_ready >= (v.failed ? 0 : instances));
        if (s.action == RELOAD_DONE || s.action == RELOAD_FAILED) {
            *out = v;
            return s.action;
        }
        if (s.action == RELOAD_ACT) {
            apply(&v, &s);
            assert_true(v.new_starting <= parallel);
            continue;
        }
        /* WAIT: the next event, draining exits first, else a new worker's verdict. */
        if (v.old_draining > 0) {
            v.old_draining--;
        } else if (v.new_starting > 0) {
            v.new_starting--;
            if (++events == fail_at)
                v.failed = true;
            else
                v.new_ready++;
        } else {
            fail_msg("WAIT with nothing pending");
        }
    }
    fail_msg("no end");
    return -1;
}

static void
reload_replaces_every_worker_one_at_a_time(void **state)
{
    struct reload_view end;

    (void)state;
    assert_int_equal(run_reload(4, 1, 0, &end), RELOAD_DONE);
    assert_int_equal(end.new_ready, 4);
    assert_int_equal(end.old_ready, 0);
    assert_int_equal(end.old_draining, 0);
}

static void
parallel_widens_the_surge(void **state)
{
    struct reload_view end;
    struct reload_view v = {.instances = 4, .parallel = 2, .old_ready = 4};
    struct reload_step s;

    (void)state;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_ACT);
    assert_int_equal(s.start, 2);
    assert_int_equal(s.drain, 0);
    assert_int_equal(run_reload(4, 2, 0, &end), RELOAD_DONE);
    assert_int_equal(run_reload(3, 8, 0, &end), RELOAD_DONE);
}

static void
an_old_worker_drains_only_once_a_new_one_is_ready(void **state)
{
    struct reload_view v = {.instances = 4, .parallel = 1, .old_ready = 4, .new_starting = 1};
    struct reload_step s;

    (void)state;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_WAIT);
    v.new_starting = 0;
    v.new_ready = 1;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_ACT);
    assert_int_equal(s.drain, 1);
    assert_int_equal(s.start, 1);
}

static void
a_failure_stops_the_rollout_and_keeps_old_workers(void **state)
{
    struct reload_view end;

    (void)state;
    assert_int_equal(run_reload(4, 1, 1, &end), RELOAD_FAILED);
    assert_int_equal(end.old_ready, 4); /* the first new worker failed: nothing was drained */
    assert_int_equal(end.new_ready, 0);
    assert_int_equal(run_reload(4, 1, 3, &end), RELOAD_FAILED);
    assert_int_equal(end.old_ready + end.new_ready, 4); /* two replaced, two old kept */
    assert_int_equal(end.old_ready, 2);
}

static void
failure_waits_for_workers_in_flight(void **state)
{
    struct reload_view v = {
        .instances = 4, .old_ready = 3, .old_draining = 1, .new_ready = 1, .failed = true};
    struct reload_step s;

    (void)state;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_WAIT);
    assert_int_equal(s.start + s.drain, 0);
    v.old_draining = 0;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_FAILED);
}

static void
old_workers_that_serve_nothing_are_stopped_first(void **state)
{
    struct reload_view v = {.instances = 2, .parallel = 1, .old_ready = 1, .old_other = 1};
    struct reload_step s;

    (void)state;
    reload_plan(&v, &s);
    assert_int_equal(s.action, RELOAD_ACT);
    assert_int_equal(s.stop_other, 1);
    assert_int_equal(s.start, 1);
    assert_int_equal(s.drain, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reload_replaces_every_worker_one_at_a_time),
        cmocka_unit_test(parallel_widens_the_surge),
        cmocka_unit_test(an_old_worker_drains_only_once_a_new_one_is_ready),
        cmocka_unit_test(a_failure_stops_the_rollout_and_keeps_old_workers),
        cmocka_unit_test(failure_waits_for_workers_in_flight),
        cmocka_unit_test(old_workers_that_serve_nothing_are_stopped_first),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
