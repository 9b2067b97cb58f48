/* SPDX-License-Identifier: ISC */
/* Surge-then-drain planning; see reload.h. */
#include "supervisor/reload.h"

#include <string.h>

static uint32_t
min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void
plan_failed(const struct reload_view *v, struct reload_step *out)
{
    /* Stop the rollout: nothing new starts, nothing old is drained. Wait only for the workers
     * already draining (they were replaced by ready new ones) and for new ones being torn down. */
    if (v->old_draining > 0 || v->new_starting > 0)
        out->action = RELOAD_WAIT;
    else
        out->action = RELOAD_FAILED;
}

void
reload_plan(const struct reload_view *v, struct reload_step *out)
{
    uint32_t parallel = v->parallel == 0 ? 1 : v->parallel;
    uint32_t ready = v->old_ready + v->new_ready;
    uint32_t wanted, room;

    memset(out, 0, sizeof(*out));
    if (v->failed) {
        plan_failed(v, out);
        return;
    }
    out->stop_other = v->old_other;
    /* Drain: each ready new worker beyond <instances> lets one old ready worker go. */
    if (ready > v->instances)
        out->drain = min_u32(ready - v->instances, v->old_ready);
    /* Surge: start new workers while fewer than <instances> are new, <parallel> at a time. */
    wanted = v->instances > v->new_ready + v->new_starting
                 ? v->instances - v->new_ready - v->new_starting
                 : 0;
    room = parallel > v->new_starting ? parallel - v->new_starting : 0;
    out->start = min_u32(wanted, room);
    if (out->start > 0 || out->drain > 0 || out->stop_other > 0) {
        out->action = RELOAD_ACT;
        return;
    }
    if (v->new_ready >= v->instances && v->old_ready == 0 && v->old_draining == 0)
        out->action = RELOAD_DONE;
    else
        out->action = RELOAD_WAIT;
}
