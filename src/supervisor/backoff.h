/* SPDX-License-Identifier: ISC */
/* When to restart a worker that exited, and when to give up. Pure: the caller passes the clock.
 *
 * - An exit after at least min_uptime of running is "stable": the delay streak resets and the
 *   restart is immediate.
 * - An exit sooner is "unstable": the delay doubles from BACKOFF_BASE_MS up to backoff_max.
 * - Whatever the uptimes, more than max_restarts restarts within <window> is a crash loop:
 *   backoff_on_exit() returns BACKOFF_GIVE_UP and the worker becomes errored. */
#ifndef SUPERVISOR_BACKOFF_H
#define SUPERVISOR_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_BASE_MS 100
#define BACKOFF_HISTORY 64 /* restarts remembered for the window count */
#define BACKOFF_GIVE_UP UINT64_MAX

struct backoff {
    uint64_t min_uptime_ms;
    uint64_t max_ms;
    uint32_t max_restarts;
    uint64_t window_ms;
    uint64_t delay_ms;                 /* the last unstable delay, 0 after a stable run */
    uint64_t history[BACKOFF_HISTORY]; /* ring of restart times (ms) */
    uint32_t nhistory;                 /* entries in use, <= BACKOFF_HISTORY */
    uint32_t head;                     /* next slot to write */
};

void backoff_init(struct backoff *b, uint64_t min_uptime_ms, uint64_t max_ms, uint32_t max_restarts,
                  uint64_t window_ms);

/* A worker that started at <started_ms> exited at <now_ms>. Returns the delay in ms before
 * restarting it, or BACKOFF_GIVE_UP for a crash loop. Records the restart. */
uint64_t backoff_on_exit(struct backoff *b, uint64_t started_ms, uint64_t now_ms);

/* Restarts recorded within the window ending at <now_ms>. */
uint32_t backoff_recent(const struct backoff *b, uint64_t now_ms);

/* Forgets everything (an operator's explicit start or restart). */
void backoff_reset(struct backoff *b);

#endif /* SUPERVISOR_BACKOFF_H */
