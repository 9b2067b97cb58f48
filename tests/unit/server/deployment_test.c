/* SPDX-License-Identifier: ISC */
/* server/deployment: name tables round-trip, legal status transitions, host phases per role,
 * step sequences per deployment type, minimum healthy hosts and batches, traffic splits,
 * alarm verdicts over a window, and how a deployment ends (rollback or not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "server/deployment.h"

static void
status_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < DEPLOYMENT_NSTATUSES; s++) {
        enum deployment_status back;
        assert_int_equal(deployment_status_parse(deployment_status_name(s), &back), 0);
        assert_int_equal(back, s);
    }
    assert_string_equal(deployment_status_name(DEPLOYMENT_IN_PROGRESS), "InProgress");
    assert_string_equal(deployment_status_name(DEPLOYMENT_READY), "Ready");
    for (int s = 0; s < DEPLOYMENT_NEVENT_STATUSES; s++) {
        enum deployment_event_status back;
        assert_int_equal(deployment_event_status_parse(deployment_event_status_name(s), &back), 0);
        assert_int_equal(back, s);
    }
    for (int s = 0; s < DEPLOYMENT_NINSTANCE_STATUSES; s++) {
        enum deployment_instance_status back;
        assert_int_equal(
            deployment_instance_status_parse(deployment_instance_status_name(s), &back), 0);
        assert_int_equal(back, s);
    }
    enum deployment_status st;
    assert_int_equal(deployment_status_parse("inprogress", &st), -EINVAL);
    assert_int_equal(deployment_status_parse(NULL, &st), -EINVAL);
}

static void
error_and_event_names_are_codedeploys(void **state)
{
    enum deployment_error e;
    enum deployment_event ev;

    (void)state;
    for (int i = 1; i < DEPLOYMENT_NERRORS; i++) {
        assert_int_equal(deployment_error_parse(deployment_error_name(i), &e), 0);
        assert_int_equal(e, i);
    }
    assert_string_equal(deployment_error_name(DEPLOYMENT_ERR_SCRIPT_FAILED), "SCRIPT_FAILED");
    assert_string_equal(deployment_error_name(DEPLOYMENT_ERR_ALARM_ACTIVE), "ALARM_ACTIVE");
    assert_string_equal(deployment_error_name(DEPLOYMENT_ERR_AGENT_ISSUE), "AGENT_ISSUE");
    assert_string_equal(deployment_error_name(DEPLOYMENT_ERR_MANUAL_STOP), "MANUAL_STOP");
    assert_int_equal(deployment_error_parse("", &e), 0);
    assert_int_equal(e, DEPLOYMENT_ERR_NONE);
    assert_int_equal(deployment_error_parse("BOGUS", &e), -EINVAL);
    for (int i = 0; i < DEPLOYMENT_NEVENTS; i++) {
        assert_int_equal(deployment_event_parse(deployment_event_name(i), &ev), 0);
        assert_int_equal(ev, i);
    }
    assert_string_equal(deployment_event_name(DEPLOYMENT_EV_VALIDATE_SERVICE), "ValidateService");
    assert_true(deployment_event_is_server_side(DEPLOYMENT_EV_ALLOW_TRAFFIC));
    assert_true(deployment_event_is_server_side(DEPLOYMENT_EV_BLOCK_TRAFFIC));
    assert_false(deployment_event_is_server_side(DEPLOYMENT_EV_INSTALL));
    assert_int_equal(deployment_error_from_diagnostic("ScriptFailed"),
                     DEPLOYMENT_ERR_SCRIPT_FAILED);
    assert_int_equal(deployment_error_from_diagnostic("ScriptTimedOut"),
                     DEPLOYMENT_ERR_SCRIPT_FAILED);
    assert_int_equal(deployment_error_from_diagnostic("AgentRestarted"),
                     DEPLOYMENT_ERR_AGENT_ISSUE);
    assert_int_equal(deployment_error_from_diagnostic(NULL), DEPLOYMENT_ERR_SCRIPT_FAILED);
}

static void
other_tables_round_trip(void **state)
{
    enum deployment_step step;
    enum deployment_type type;
    enum deployment_role role;
    enum deployment_mhh_type mhh;
    enum deployment_routing_type rt;
    enum deployment_metric m;
    enum deployment_end_cause c;

    (void)state;
    for (int i = 0; i < DEPLOYMENT_NSTEPS; i++) {
        assert_int_equal(deployment_step_parse(deployment_step_name(i), &step), 0);
        assert_int_equal(step, i);
    }
    assert_int_equal(deployment_type_parse("BLUE_GREEN", &type), 0);
    assert_int_equal(type, DEPLOYMENT_BLUE_GREEN);
    assert_int_equal(deployment_role_parse("Green", &role), 0);
    assert_int_equal(role, DEPLOYMENT_ROLE_REPLACEMENT);
    assert_int_equal(deployment_mhh_type_parse("FLEET_PERCENT", &mhh), 0);
    assert_int_equal(mhh, DEPLOYMENT_MHH_FLEET_PERCENT);
    assert_int_equal(deployment_routing_type_parse("TimeBasedLinear", &rt), 0);
    assert_int_equal(rt, DEPLOYMENT_ROUTING_LINEAR);
    assert_int_equal(deployment_metric_parse("p99_target_time", &m), 0);
    assert_int_equal(m, DEPLOYMENT_METRIC_TARGET_P99_SECONDS);
    assert_int_equal(deployment_metric_parse("target_5xx_ratio", &m), 0);
    assert_int_equal(m, DEPLOYMENT_METRIC_TARGET_5XX_RATIO);
    assert_int_equal(deployment_end_cause_parse("DEPLOYMENT_STOP_ON_ALARM", &c), 0);
    assert_int_equal(c, DEPLOYMENT_END_ALARM);
    assert_int_equal(deployment_end_cause_parse("nope", &c), -EINVAL);
}

static void
status_transitions_follow_the_diagram(void **state)
{
    (void)state;
    assert_true(deployment_status_can_enter(DEPLOYMENT_CREATED, DEPLOYMENT_IN_PROGRESS));
    assert_true(deployment_status_can_enter(DEPLOYMENT_CREATED, DEPLOYMENT_QUEUED));
    assert_true(deployment_status_can_enter(DEPLOYMENT_QUEUED, DEPLOYMENT_IN_PROGRESS));
    assert_true(deployment_status_can_enter(DEPLOYMENT_IN_PROGRESS, DEPLOYMENT_READY));
    assert_true(deployment_status_can_enter(DEPLOYMENT_READY, DEPLOYMENT_IN_PROGRESS));
    assert_true(deployment_status_can_enter(DEPLOYMENT_READY, DEPLOYMENT_STOPPED));
    assert_true(deployment_status_can_enter(DEPLOYMENT_IN_PROGRESS, DEPLOYMENT_SUCCEEDED));
    assert_true(deployment_status_can_enter(DEPLOYMENT_CREATED, DEPLOYMENT_FAILED));
    assert_false(deployment_status_can_enter(DEPLOYMENT_READY, DEPLOYMENT_SUCCEEDED));
    assert_false(deployment_status_can_enter(DEPLOYMENT_CREATED, DEPLOYMENT_SUCCEEDED));
    assert_false(deployment_status_can_enter(DEPLOYMENT_IN_PROGRESS, DEPLOYMENT_IN_PROGRESS));
    assert_false(deployment_status_can_enter(DEPLOYMENT_IN_PROGRESS, DEPLOYMENT_CREATED));
    for (int to = 0; to < DEPLOYMENT_NSTATUSES; to++) {
        assert_false(deployment_status_can_enter(DEPLOYMENT_SUCCEEDED, to));
        assert_false(deployment_status_can_enter(DEPLOYMENT_FAILED, to));
        assert_false(deployment_status_can_enter(DEPLOYMENT_STOPPED, to));
    }
    assert_true(deployment_status_is_terminal(DEPLOYMENT_STOPPED));
    assert_false(deployment_status_is_terminal(DEPLOYMENT_READY));
}

static void
in_place_host_with_target_group_runs_every_event_in_order(void **state)
{
    struct deployment_phase p[DEPLOYMENT_MAX_PHASES];
    size_t n = deployment_host_phases(DEPLOYMENT_ROLE_IN_PLACE, DEPLOYMENT_STAGE_INSTALL, true, p);
    enum deployment_event next = DEPLOYMENT_EV_BEFORE_BLOCK_TRAFFIC;

    (void)state;
    assert_int_equal(n, 7);
    /* phases cover all 13 events exactly once, in lifecycle order */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i].first, next);
        if (p[i].kind != DEPLOYMENT_PHASE_COMMAND) {
            assert_true(deployment_event_is_server_side(p[i].first));
            assert_int_equal(p[i].count, 1);
        }
        next = (enum deployment_event)(p[i].first + p[i].count);
    }
    assert_int_equal(next, DEPLOYMENT_NEVENTS);
    assert_int_equal(p[1].kind, DEPLOYMENT_PHASE_BLOCK);
    assert_int_equal(p[3].first, DEPLOYMENT_EV_APPLICATION_STOP);
    assert_int_equal(p[3].count, 7);
    assert_int_equal(p[5].kind, DEPLOYMENT_PHASE_ALLOW);

    n = deployment_host_phases(DEPLOYMENT_ROLE_IN_PLACE, DEPLOYMENT_STAGE_INSTALL, false, p);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].first, DEPLOYMENT_EV_APPLICATION_STOP);
    assert_int_equal(p[0].count, 7);
    assert_int_equal(
        deployment_host_phases(DEPLOYMENT_ROLE_IN_PLACE, DEPLOYMENT_STAGE_BLOCK, true, p), 0);
}

static void
blue_green_roles_split_the_lifecycle(void **state)
{
    struct deployment_phase p[DEPLOYMENT_MAX_PHASES];
    size_t n;

    (void)state;
    n = deployment_host_phases(DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_INSTALL, true, p);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].first, DEPLOYMENT_EV_APPLICATION_STOP);
    assert_int_equal(p[0].first + p[0].count - 1, DEPLOYMENT_EV_VALIDATE_SERVICE);
    n = deployment_host_phases(DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_ALLOW, true, p);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].first, DEPLOYMENT_EV_BEFORE_ALLOW_TRAFFIC);
    assert_int_equal(p[1].kind, DEPLOYMENT_PHASE_ALLOW);
    n = deployment_host_phases(DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_AFTER_ALLOW, true, p);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].first, DEPLOYMENT_EV_AFTER_ALLOW_TRAFFIC);
    assert_int_equal(
        deployment_host_phases(DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_BLOCK, true, p), 0);
    n = deployment_host_phases(DEPLOYMENT_ROLE_ORIGINAL, DEPLOYMENT_STAGE_BLOCK, true, p);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].first, DEPLOYMENT_EV_BEFORE_BLOCK_TRAFFIC);
    assert_int_equal(p[1].kind, DEPLOYMENT_PHASE_BLOCK);
    assert_int_equal(p[2].first, DEPLOYMENT_EV_AFTER_BLOCK_TRAFFIC);
    assert_int_equal(
        deployment_host_phases(DEPLOYMENT_ROLE_ORIGINAL, DEPLOYMENT_STAGE_INSTALL, true, p), 0);
}

static size_t
walk(const struct deployment_plan *p, enum deployment_step *out, size_t max)
{
    enum deployment_step s = DEPLOYMENT_STEP_START;
    size_t n = 0;

    while (s != DEPLOYMENT_STEP_DONE && n < max) {
        out[n++] = s;
        s = deployment_step_next(p, s);
    }
    return n;
}

static void
step_sequences_per_type(void **state)
{
    enum deployment_step seq[16];
    struct deployment_plan ip = {.type = DEPLOYMENT_IN_PLACE};
    struct deployment_plan bg = {.type = DEPLOYMENT_BLUE_GREEN};
    struct deployment_plan bg_wait = {.type = DEPLOYMENT_BLUE_GREEN, .wait_for_continue = true};
    struct deployment_plan restore = {.type = DEPLOYMENT_BLUE_GREEN, .is_restore = true};
    const enum deployment_step want_bg[] = {
        DEPLOYMENT_STEP_START,          DEPLOYMENT_STEP_INSTALL,
        DEPLOYMENT_STEP_ALLOW,          DEPLOYMENT_STEP_SHIFT,
        DEPLOYMENT_STEP_AFTER_ALLOW,    DEPLOYMENT_STEP_TERMINATION_WAIT,
        DEPLOYMENT_STEP_BLOCK_ORIGINAL,
    };
    const enum deployment_step want_restore[] = {
        DEPLOYMENT_STEP_START,       DEPLOYMENT_STEP_ALLOW,          DEPLOYMENT_STEP_SHIFT,
        DEPLOYMENT_STEP_AFTER_ALLOW, DEPLOYMENT_STEP_BLOCK_ORIGINAL,
    };

    (void)state;
    assert_int_equal(walk(&ip, seq, 16), 2);
    assert_int_equal(seq[1], DEPLOYMENT_STEP_INSTALL);
    assert_int_equal(walk(&bg, seq, 16), 7);
    assert_memory_equal(seq, want_bg, sizeof(want_bg));
    assert_int_equal(walk(&bg_wait, seq, 16), 8);
    assert_int_equal(seq[2], DEPLOYMENT_STEP_READY_WAIT);
    assert_int_equal(seq[3], DEPLOYMENT_STEP_ALLOW);
    assert_int_equal(walk(&restore, seq, 16), 5);
    assert_memory_equal(seq, want_restore, sizeof(want_restore));
    assert_int_equal(deployment_step_next(&bg, DEPLOYMENT_STEP_ROLLBACK_TRAFFIC),
                     DEPLOYMENT_STEP_DONE);

    assert_false(deployment_step_needs_traffic_rollback(&bg, DEPLOYMENT_STEP_INSTALL));
    assert_false(deployment_step_needs_traffic_rollback(&bg, DEPLOYMENT_STEP_READY_WAIT));
    assert_true(deployment_step_needs_traffic_rollback(&bg, DEPLOYMENT_STEP_SHIFT));
    assert_true(deployment_step_needs_traffic_rollback(&bg, DEPLOYMENT_STEP_TERMINATION_WAIT));
    assert_false(deployment_step_needs_traffic_rollback(&ip, DEPLOYMENT_STEP_INSTALL));
    assert_true(deployment_step_watches_alarms(&bg, DEPLOYMENT_STEP_SHIFT));
    assert_true(deployment_step_watches_alarms(&bg, DEPLOYMENT_STEP_TERMINATION_WAIT));
    assert_false(deployment_step_watches_alarms(&bg, DEPLOYMENT_STEP_INSTALL));
    assert_false(deployment_step_watches_alarms(&bg, DEPLOYMENT_STEP_BLOCK_ORIGINAL));
    assert_true(deployment_step_watches_alarms(&ip, DEPLOYMENT_STEP_INSTALL));
}

static void
builtin_configs_and_minimum_healthy(void **state)
{
    struct deployment_mhh m;
    size_t batch = 0;

    (void)state;
    assert_int_equal(deployment_config_builtin("CodeDeployDefault.AllAtOnce", &m), 0);
    assert_int_equal(deployment_max_batch(&m, 5, &batch), 0);
    assert_int_equal(batch, 5);
    assert_int_equal(deployment_config_builtin("CodeDeployDefault.OneAtATime", &m), 0);
    assert_int_equal(deployment_max_batch(&m, 3, &batch), 0);
    assert_int_equal(batch, 1);
    assert_int_equal(deployment_max_batch(&m, 100, &batch), 0);
    assert_int_equal(batch, 1);
    assert_int_equal(deployment_max_batch(&m, 1, &batch), 0); /* one host: still deployable */
    assert_int_equal(batch, 1);
    assert_int_equal(deployment_config_builtin("CodeDeployDefault.HalfAtATime", &m), 0);
    assert_int_equal(deployment_min_healthy(&m, 5), 3); /* rounded up */
    assert_int_equal(deployment_max_batch(&m, 5, &batch), 0);
    assert_int_equal(batch, 2);
    assert_int_equal(deployment_max_batch(&m, 4, &batch), 0);
    assert_int_equal(batch, 2);
    assert_int_equal(deployment_max_batch(&m, 0, &batch), -ENOENT);
    assert_int_equal(deployment_config_builtin("CodeDeployDefault.Nope", &m), -ENOENT);

    m = (struct deployment_mhh){DEPLOYMENT_MHH_HOST_COUNT, 3, 0};
    assert_int_equal(deployment_max_batch(&m, 3, &batch), -EINVAL);
    assert_int_equal(deployment_max_batch(&m, 10, &batch), 0);
    assert_int_equal(batch, 7);
    m = (struct deployment_mhh){DEPLOYMENT_MHH_FLEET_PERCENT, 100, 0};
    assert_int_equal(deployment_max_batch(&m, 4, &batch), -EINVAL);
    m = (struct deployment_mhh){DEPLOYMENT_MHH_FLEET_PERCENT, 75, 0};
    assert_int_equal(deployment_min_healthy(&m, 10), 8);
}

static void
one_at_a_time_never_has_two_hosts_in_flight(void **state)
{
    struct deployment_fleet_counts c = {.pending = 3};
    size_t nstart, started = 0;

    (void)state;
    /* simulate: start what the decision says, finish one host per round */
    for (int round = 0; round < 10; round++) {
        enum deployment_decision d = deployment_fleet_decide(1, &c, &nstart);
        if (d == DEPLOYMENT_DECIDE_SUCCEEDED)
            break;
        if (d == DEPLOYMENT_DECIDE_START) {
            assert_int_equal(nstart, 1);
            c.pending -= nstart;
            c.in_progress += nstart;
            started += nstart;
        }
        assert_true(c.in_progress <= 1);
        c.in_progress--;
        c.succeeded++;
    }
    assert_int_equal(started, 3);
    assert_int_equal(c.succeeded, 3);
    assert_int_equal(deployment_fleet_decide(1, &c, &nstart), DEPLOYMENT_DECIDE_SUCCEEDED);
}

static void
a_failed_host_stops_new_starts(void **state)
{
    struct deployment_fleet_counts c = {.pending = 4, .in_progress = 1, .failed = 1};
    size_t nstart;

    (void)state;
    assert_int_equal(deployment_fleet_decide(3, &c, &nstart), DEPLOYMENT_DECIDE_WAIT);
    assert_int_equal(nstart, 0);
    c.in_progress = 0;
    assert_int_equal(deployment_fleet_decide(3, &c, &nstart), DEPLOYMENT_DECIDE_FAILED);
    c = (struct deployment_fleet_counts){.pending = 5, .in_progress = 1};
    assert_int_equal(deployment_fleet_decide(3, &c, &nstart), DEPLOYMENT_DECIDE_START);
    assert_int_equal(nstart, 2);
    c = (struct deployment_fleet_counts){.pending = 1, .in_progress = 0, .succeeded = 4};
    assert_int_equal(deployment_fleet_decide(3, &c, &nstart), DEPLOYMENT_DECIDE_START);
    assert_int_equal(nstart, 1);
}

static void
a_serving_host_only_starts_above_the_minimum(void **state)
{
    struct deployment_mhh half = {DEPLOYMENT_MHH_FLEET_PERCENT, 50, 0};
    size_t min = deployment_min_healthy(&half, 3); /* 2 of 3 */

    (void)state;
    /* all three serve: one may go */
    assert_true(deployment_may_take_out(true, 3, min, 3));
    /* one serving host already down (partition) and one in flight: the last two serving
     * stay, but the one that serves nothing may start */
    assert_false(deployment_may_take_out(true, 2, min, 3));
    assert_true(deployment_may_take_out(false, 2, min, 3));
    assert_false(deployment_may_take_out(true, 1, min, 3));
    /* AllAtOnce: no minimum */
    assert_true(deployment_may_take_out(true, 1, 0, 3));
    /* a single host is always deployable */
    assert_true(deployment_may_take_out(true, 1, 1, 1));
}

static void
canary_holds_then_goes_to_100(void **state)
{
    struct deployment_routing r = {DEPLOYMENT_ROUTING_CANARY, 10, 20000};
    uint32_t pct;
    uint64_t hold;

    (void)state;
    assert_false(deployment_traffic_step(&r, 0, &pct, &hold));
    assert_int_equal(pct, 10);
    assert_int_equal(hold, 20000);
    assert_true(deployment_traffic_step(&r, 1, &pct, &hold));
    assert_int_equal(pct, 100);
    assert_int_equal(hold, 0);
    assert_true(deployment_traffic_step(&r, 7, &pct, &hold));
    assert_int_equal(pct, 100);

    r = (struct deployment_routing){DEPLOYMENT_ROUTING_ALL_AT_ONCE, 0, 0};
    assert_true(deployment_traffic_step(&r, 0, &pct, &hold));
    assert_int_equal(pct, 100);
}

static void
linear_climbs_by_percentage_and_ends_at_100(void **state)
{
    struct deployment_routing r = {DEPLOYMENT_ROUTING_LINEAR, 30, 1000};
    uint32_t pct, prev = 0, want[] = {30, 60, 90, 100};
    uint64_t hold;
    bool last = false;
    uint32_t i;

    (void)state;
    for (i = 0; !last && i < 10; i++) {
        last = deployment_traffic_step(&r, i, &pct, &hold);
        assert_int_equal(pct, want[i]);
        assert_true(pct > prev);
        assert_int_equal(hold, last ? 0 : 1000);
        prev = pct;
    }
    assert_int_equal(i, 4);

    uint32_t ow, rw;
    deployment_traffic_weights(10, &ow, &rw);
    assert_int_equal(ow, 90);
    assert_int_equal(rw, 10);
    deployment_traffic_weights(100, &ow, &rw);
    assert_int_equal(ow, 0);
    assert_int_equal(rw, 100);
}

static struct deployment_metric_sample
sample(uint64_t at, uint64_t req, uint64_t err)
{
    struct deployment_metric_sample s;

    memset(&s, 0, sizeof(s));
    s.at_ms = at;
    s.requests = req;
    s.errors = err;
    return s;
}

static void
error_ratio_alarm_fires_above_threshold_over_the_window(void **state)
{
    struct deployment_alarm a = {DEPLOYMENT_METRIC_TARGET_5XX_RATIO, 0.01, 10000, 1};
    struct deployment_metric_sample o = sample(0, 1000, 990);
    struct deployment_metric_sample n = sample(10000, 2000, 995);
    double v;

    (void)state;
    /* the old errors are outside the window: 5 / 1000 */
    assert_false(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v > 0.0049 && v < 0.0051);
    n.errors = 1040; /* 50 / 1000 = 5 % */
    assert_true(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v > 0.049 && v < 0.051);
    /* exactly at the threshold does not fire */
    n.errors = 1000;
    assert_false(deployment_alarm_eval(&a, &o, &n, &v));
    /* no traffic in the window: no verdict */
    n = sample(10000, 1000, 990);
    assert_false(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v == 0);
    /* too few requests for min_requests */
    a.min_requests = 50;
    n = sample(10000, 1010, 1000);
    assert_false(deployment_alarm_eval(&a, &o, &n, &v));
    /* the proxy restarted: counters start over */
    a.min_requests = 1;
    n = sample(10000, 100, 10);
    assert_true(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v > 0.099 && v < 0.101);
}

static void
p99_alarm_reads_the_histogram_delta(void **state)
{
    struct deployment_alarm a = {DEPLOYMENT_METRIC_TARGET_P99_SECONDS, 0.5, 30000, 1};
    const double le[] = {0.005, 0.1, 0.5, 1, 0};
    struct deployment_metric_sample o = sample(0, 100, 0);
    struct deployment_metric_sample n = sample(30000, 1100, 0);
    double v;

    (void)state;
    o.nbuckets = n.nbuckets = 5;
    memcpy(o.le, le, sizeof(le));
    memcpy(n.le, le, sizeof(le));
    /* before: 100 fast; window: 985 fast + 15 between 0.5 s and 1 s → p99 is in the 1 s bucket */
    uint64_t oc[] = {100, 100, 100, 100, 100}, nc[] = {1085, 1085, 1085, 1100, 1100};
    memcpy(o.cumulative, oc, sizeof(oc));
    memcpy(n.cumulative, nc, sizeof(nc));
    assert_true(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v == 1.0);
    /* only 5 slow of 1000: p99 stays in the 0.005 bucket */
    uint64_t nc2[] = {1095, 1095, 1095, 1100, 1100};
    memcpy(n.cumulative, nc2, sizeof(nc2));
    assert_false(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v == 0.005);
    /* slow beyond the last finite bound reports that bound */
    uint64_t nc3[] = {100, 100, 100, 100, 1100};
    memcpy(n.cumulative, nc3, sizeof(nc3));
    assert_true(deployment_alarm_eval(&a, &o, &n, &v));
    assert_true(v == 1.0);
}

static struct deployment_rollback_plan
end(const struct deployment_rollback_conf *conf, struct deployment_ending e)
{
    struct deployment_rollback_plan p;

    deployment_plan_ending(conf, &e, DEPLOYMENT_ERR_SCRIPT_FAILED, &p);
    return p;
}

static void
ending_decides_status_error_and_rollback(void **state)
{
    struct deployment_rollback_conf conf = {true, (1u << DEPLOYMENT_END_FAILURE) |
                                                      (1u << DEPLOYMENT_END_ALARM)};
    struct deployment_ending e = {.cause = DEPLOYMENT_END_FAILURE,
                                  .stop_rollback = -1,
                                  .has_last_good = true,
                                  .type = DEPLOYMENT_BLUE_GREEN};
    struct deployment_rollback_plan p;

    (void)state;
    /* ValidateService failed on the replacement: traffic never moved, rollback recorded */
    p = end(&conf, e);
    assert_int_equal(p.status, DEPLOYMENT_FAILED);
    assert_int_equal(p.error, DEPLOYMENT_ERR_SCRIPT_FAILED);
    assert_false(p.flip_traffic_back);
    assert_true(p.create_rollback);
    assert_true(p.rollback_is_restore);
    /* alarm after the shift: traffic back first */
    e.cause = DEPLOYMENT_END_ALARM;
    e.traffic_may_have_moved = true;
    p = end(&conf, e);
    assert_int_equal(p.error, DEPLOYMENT_ERR_ALARM_ACTIVE);
    assert_true(p.flip_traffic_back);
    assert_true(p.create_rollback);
    /* stop on request is not in the configured events, unless the stop asks for it */
    e.cause = DEPLOYMENT_END_REQUEST;
    p = end(&conf, e);
    assert_int_equal(p.status, DEPLOYMENT_STOPPED);
    assert_int_equal(p.error, DEPLOYMENT_ERR_MANUAL_STOP);
    assert_false(p.create_rollback);
    assert_true(p.flip_traffic_back);
    e.stop_rollback = 1;
    assert_true(end(&conf, e).create_rollback);
    conf.events |= 1u << DEPLOYMENT_END_REQUEST;
    e.stop_rollback = 0;
    assert_false(end(&conf, e).create_rollback);
    /* a rollback never rolls back; no last good revision, no rollback */
    e = (struct deployment_ending){.cause = DEPLOYMENT_END_FAILURE,
                                   .stop_rollback = -1,
                                   .is_rollback = true,
                                   .has_last_good = true,
                                   .type = DEPLOYMENT_IN_PLACE};
    assert_false(end(&conf, e).create_rollback);
    e.is_rollback = false;
    e.has_last_good = false;
    assert_false(end(&conf, e).create_rollback);
    e.has_last_good = true;
    p = end(&conf, e);
    assert_true(p.create_rollback);
    assert_false(p.rollback_is_restore);
    assert_false(p.flip_traffic_back);
    /* disabled */
    conf.enabled = false;
    assert_false(end(&conf, e).create_rollback);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_names_round_trip),
        cmocka_unit_test(error_and_event_names_are_codedeploys),
        cmocka_unit_test(other_tables_round_trip),
        cmocka_unit_test(status_transitions_follow_the_diagram),
        cmocka_unit_test(in_place_host_with_target_group_runs_every_event_in_order),
        cmocka_unit_test(blue_green_roles_split_the_lifecycle),
        cmocka_unit_test(step_sequences_per_type),
        cmocka_unit_test(builtin_configs_and_minimum_healthy),
        cmocka_unit_test(one_at_a_time_never_has_two_hosts_in_flight),
        cmocka_unit_test(a_failed_host_stops_new_starts),
        cmocka_unit_test(a_serving_host_only_starts_above_the_minimum),
        cmocka_unit_test(canary_holds_then_goes_to_100),
        cmocka_unit_test(linear_climbs_by_percentage_and_ends_at_100),
        cmocka_unit_test(error_ratio_alarm_fires_above_threshold_over_the_window),
        cmocka_unit_test(p99_alarm_reads_the_histogram_delta),
        cmocka_unit_test(ending_decides_status_error_and_rollback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
