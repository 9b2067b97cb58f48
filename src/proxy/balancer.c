/* SPDX-License-Identifier: ISC */
/* Target and group choice. Reads target state and in_flight atomically (relaxed): a pick may
 * see a state a few microseconds old, which is harmless because the health checker's
 * transitions are seconds apart. */
#include "proxy/balancer.h"

#include <errno.h>
#include <string.h>

#include "proxy/target_group.h"

const char *
balancer_algorithm_name(enum balancer_algorithm a)
{
    switch (a) {
    case BALANCER_ROUND_ROBIN:
        return "round_robin";
    case BALANCER_LEAST_OUTSTANDING:
        return "least_outstanding_requests";
    }
    return "?";
}

int
balancer_algorithm_parse(const char *s, enum balancer_algorithm *out)
{
    if (strcmp(s, "round_robin") == 0)
        *out = BALANCER_ROUND_ROBIN;
    else if (strcmp(s, "least_outstanding_requests") == 0)
        *out = BALANCER_LEAST_OUTSTANDING;
    else
        return -EINVAL;
    return 0;
}

static bool
skipped(const struct target *t, const struct target *const *skip, size_t nskip)
{
    for (size_t i = 0; i < nskip; i++) {
        if (skip[i] == t)
            return true;
    }
    return false;
}

bool
balancer_group_has_healthy(struct target *const *targets, size_t n,
                           const struct target *const *skip, size_t nskip)
{
    for (size_t i = 0; i < n; i++) {
        if (target_group_is_routable(targets[i], false) && !skipped(targets[i], skip, nskip))
            return true;
    }
    return false;
}

static uint32_t
outstanding(const struct target *t)
{
    return atomic_load_explicit(&((struct target *)(uintptr_t)t)->in_flight, memory_order_relaxed);
}

/* One scan from the cursor: round robin takes the first routable target, least outstanding the
 * routable one with the fewest requests in flight (the first such from the cursor on a tie). */
static struct target *
scan(enum balancer_algorithm algo, struct target *const *targets, size_t n,
     struct balancer_cursor *cur, bool fail_open, const struct target *const *skip, size_t nskip)
{
    struct target *best = NULL;
    size_t best_i = 0;
    uint32_t best_load = UINT32_MAX;
    size_t start = cur->next % n;

    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        struct target *t = targets[i];
        if (!target_group_is_routable(t, fail_open) || skipped(t, skip, nskip))
            continue;
        if (algo == BALANCER_ROUND_ROBIN) {
            best = t;
            best_i = i;
            break;
        }
        uint32_t load = outstanding(t);
        if (load < best_load) {
            best = t;
            best_i = i;
            best_load = load;
        }
    }
    if (best != NULL)
        cur->next = (uint32_t)((best_i + 1) % n);
    return best;
}

struct target *
balancer_pick_target(enum balancer_algorithm algo, struct target *const *targets, size_t n,
                     struct balancer_cursor *cur, const struct target *const *skip, size_t nskip)
{
    struct target *t;

    if (n == 0)
        return NULL;
    t = scan(algo, targets, n, cur, false, skip, nskip);
    if (t == NULL && !balancer_group_has_healthy(targets, n, NULL, 0))
        t = scan(algo, targets, n, cur, true, skip, nskip);
    return t;
}

bool
balancer_group_routable(struct target *const *targets, size_t n, const struct target *const *skip,
                        size_t nskip)
{
    bool fail_open = !balancer_group_has_healthy(targets, n, NULL, 0);

    for (size_t i = 0; i < n; i++) {
        if (target_group_is_routable(targets[i], fail_open) && !skipped(targets[i], skip, nskip))
            return true;
    }
    return false;
}

int
balancer_pick_weighted(const uint32_t *weights, const bool *eligible, size_t n, int64_t *credits)
{
    int64_t total = 0;
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        if (!eligible[i] || weights[i] == 0)
            continue;
        credits[i] += weights[i];
        total += weights[i];
        if (best < 0 || credits[i] > credits[best])
            best = (int)i;
    }
    if (best >= 0)
        credits[best] -= total;
    return best;
}
