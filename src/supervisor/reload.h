/* SPDX-License-Identifier: ISC */
/* Rolling reload planning: surge, then drain. Pure: given what the workers of one app are doing
 * right now, says what to do next. The supervisor calls reload_plan() after every worker state
 * change during a reload and applies the step.
 *
 * Invariants the plan keeps:
 * - ready old + ready new never drops below <instances> because of the plan: an old worker is
 *   drained only once a new one is ready to take its place;
 * - at most <parallel> new workers are starting at once (the surge);
 * - after a failure no new worker is started and no old worker is drained: the rollout stops and
 *   what is still serving keeps serving. */
#ifndef SUPERVISOR_RELOAD_H
#define SUPERVISOR_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

struct reload_view {
    uint32_t instances;    /* target count */
    uint32_t parallel;     /* surge width, >= 1 */
    uint32_t old_ready;    /* old generation, ready and not yet told to stop */
    uint32_t old_other;    /* old generation, alive but not ready (starting, backing off) */
    uint32_t old_draining; /* old generation, told to stop, not yet exited */
    uint32_t new_starting; /* new generation, spawned, not yet ready */
    uint32_t new_ready;    /* new generation, ready */
    bool failed;           /* a new worker failed readiness or exited */
};

enum reload_action {
    RELOAD_WAIT = 0, /* nothing to do until a worker changes state */
    RELOAD_ACT,      /* start and/or drain the counts in the step */
    RELOAD_DONE,     /* every old worker is gone, <instances> new ones are ready */
    RELOAD_FAILED,   /* failed and nothing is still draining: report */
};

struct reload_step {
    enum reload_action action;
    uint32_t start;      /* new workers to spawn now */
    uint32_t drain;      /* old ready workers to stop now */
    uint32_t stop_other; /* old not-ready workers to stop now (they serve nothing) */
};

void reload_plan(const struct reload_view *v, struct reload_step *out);

#endif /* SUPERVISOR_RELOAD_H */
