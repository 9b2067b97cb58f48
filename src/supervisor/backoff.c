/* SPDX-License-Identifier: ISC */
/* Restart delays and crash-loop detection; see backoff.h. */
#include "supervisor/backoff.h"

#include <string.h>

void
backoff_init(struct backoff *b, uint64_t min_uptime_ms, uint64_t max_ms, uint32_t max_restarts,
             uint64_t window_ms)
{
    memset(b, 0, sizeof(*b));
    b->min_uptime_ms = min_uptime_ms;
    b->max_ms = max_ms;
    b->max_restarts = max_restarts;
    b->window_ms = window_ms;
}

void
backoff_reset(struct backoff *b)
{
    b->delay_ms = 0;
    b->nhistory = 0;
    b->head = 0;
}

uint32_t
backoff_recent(const struct backoff *b, uint64_t now_ms)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < b->nhistory; i++) {
        uint64_t t = b->history[(b->head + BACKOFF_HISTORY - 1 - i) % BACKOFF_HISTORY];

        if (now_ms - t >= b->window_ms)
            break; /* the ring is in time order: older entries are older still */
        n++;
    }
    return n;
}

static void
record(struct backoff *b, uint64_t now_ms)
{
    b->history[b->head] = now_ms;
    b->head = (b->head + 1) % BACKOFF_HISTORY;
    if (b->nhistory < BACKOFF_HISTORY)
        b->nhistory++;
}

uint64_t
backoff_on_exit(struct backoff *b, uint64_t started_ms, uint64_t now_ms)
{
    uint64_t uptime = now_ms >= started_ms ? now_ms - started_ms : 0;

    if (backoff_recent(b, now_ms) >= b->max_restarts)
        return BACKOFF_GIVE_UP;
    if (uptime >= b->min_uptime_ms) {
        b->delay_ms = 0;
    } else if (b->delay_ms == 0) {
        b->delay_ms = BACKOFF_BASE_MS;
    } else {
        b->delay_ms = b->delay_ms >= b->max_ms / 2 ? b->max_ms : b->delay_ms * 2;
    }
    if (b->delay_ms > b->max_ms)
        b->delay_ms = b->max_ms;
    record(b, now_ms);
    return b->delay_ms;
}
