/* SPDX-License-Identifier: ISC */
/* Choosing where a request goes: first a group among a listener's weighted forward action
 * (smooth weighted round-robin, exact over every window of sum(weights) picks), then a target
 * inside the group (round_robin or least_outstanding_requests).
 * Pure: no I/O, no clock, no allocation. The mutable state (cursors, credits) is per worker and
 * passed in, so no two threads ever write the same word. */
#ifndef PROXY_BALANCER_H
#define PROXY_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct target; /* proxy/target_group.h */

enum balancer_algorithm {
    BALANCER_ROUND_ROBIN = 0,   /* "round_robin": the next routable target in order */
    BALANCER_LEAST_OUTSTANDING, /* "least_outstanding_requests": fewest in flight, ties in turn */
};

/* One worker's round-robin position in one group; padded so workers never share a line. */
struct balancer_cursor {
    _Alignas(64) uint32_t next; /* index where the next scan starts */
};

/* "round_robin" / "least_outstanding_requests". */
const char *balancer_algorithm_name(enum balancer_algorithm a);
/* Parses the names above. Returns 0 or -EINVAL. */
int balancer_algorithm_parse(const char *s, enum balancer_algorithm *out);

/* True if <targets> has a healthy target that is not in <skip>. Routing within a group uses
 * healthy targets only, unless there is none: then it fails open to every non-draining target
 * (as ALB does). */
bool balancer_group_has_healthy(struct target *const *targets, size_t n,
                                const struct target *const *skip, size_t nskip);

/* True if balancer_pick_target() would find a target: a healthy one not in <skip>, or, when
 * the group has no healthy target at all, a non-draining one not in <skip>. */
bool balancer_group_routable(struct target *const *targets, size_t n,
                             const struct target *const *skip, size_t nskip);

/* Returns a routable target of <targets> not in <skip> (the targets a failed attempt used), or
 * NULL if none. Advances <cur>. Never allocates. */
struct target *balancer_pick_target(enum balancer_algorithm algo, struct target *const *targets,
                                    size_t n, struct balancer_cursor *cur,
                                    const struct target *const *skip, size_t nskip);

/* Smooth weighted round-robin over <n> choices: returns the index of the chosen entry among
 * those with eligible[i] and weights[i] > 0, or -1 if there is none. <credits> (n entries,
 * zeroed initially) is the caller's per-worker running state. Over any window of sum(weights)
 * picks with constant eligibility, entry i is chosen exactly weights[i] times, spread evenly. */
int balancer_pick_weighted(const uint32_t *weights, const bool *eligible, size_t n,
                           int64_t *credits);

#endif /* PROXY_BALANCER_H */
