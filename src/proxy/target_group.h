/* SPDX-License-Identifier: ISC */
/* Targets and target groups. A struct target is the runtime object for one (group, address):
 * shared by every thread and carried across config generations (registering the same address
 * in the same group again keeps the object, its state and its counters). A struct target_group
 * is one group as one generation configures it (immutable once published).
 *
 * Threads: health state and reason are written only by the main thread (health checker,
 * deregistration); workers only read them. in_flight is a shared atomic counter. Statistics
 * have one slot per worker: a worker writes only its own slot (relaxed load + store, no lock
 * prefix) and readers sum the slots with target_group_stats_read(). */
#ifndef PROXY_TARGET_GROUP_H
#define PROXY_TARGET_GROUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "proxy/balancer.h"

struct err;
struct health_probe; /* proxy/health.h: the health checker's per-target state */

/* Health states, named as ALB names them (target_group_state_name() gives "initial", …). */
enum target_state {
    TARGET_INITIAL = 0, /* registered, no health check passed yet */
    TARGET_HEALTHY,     /* passed healthy_threshold checks in a row (or the first one) */
    TARGET_UNHEALTHY,   /* failed unhealthy_threshold checks in a row */
    TARGET_DRAINING,    /* deregistered: no new requests, in-flight ones finish */
    TARGET_UNUSED,      /* deregistration finished, or its group is in no listener's action */
};
#define TARGET_NSTATES (TARGET_UNUSED + 1)

/* Reason codes, as ALB's (target_group_reason_name() gives "Target.Timeout", …; NULL for
 * TARGET_REASON_NONE, which healthy targets have). */
enum target_reason {
    TARGET_REASON_NONE = 0,
    TARGET_REASON_REGISTRATION_IN_PROGRESS, /* Elb.RegistrationInProgress */
    TARGET_REASON_INITIAL_HEALTH_CHECKING,  /* Elb.InitialHealthChecking */
    TARGET_REASON_RESPONSE_CODE_MISMATCH,   /* Target.ResponseCodeMismatch */
    TARGET_REASON_TIMEOUT,                  /* Target.Timeout */
    TARGET_REASON_FAILED_HEALTH_CHECKS,     /* Target.FailedHealthChecks (connect refused, …) */
    TARGET_REASON_DEREGISTRATION,           /* Target.DeregistrationInProgress */
    TARGET_REASON_NOT_IN_USE,               /* Target.NotInUse */
    TARGET_REASON_NOT_REGISTERED,           /* Target.NotRegistered */
    TARGET_REASON_INTERNAL_ERROR,           /* Elb.InternalError */
};
#define TARGET_NREASONS (TARGET_REASON_INTERNAL_ERROR + 1)

/* Status classes counted per target and per listener: index = status / 100 (1..5), and 0 for
 * a request that got no response from the target (connect failure, reset, timeout). */
#define TARGET_NCLASSES 6

/* Target response time histogram (head sent → response head received), upper bounds in
 * milliseconds; the last bucket is +Inf. Counts per bucket are NOT cumulative. */
#define TARGET_RT_NBUCKETS 12
#define TARGET_RT_BUCKET_BOUNDS_MS                                                                 \
    {                                                                                              \
        5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 0                                   \
    }

/* One worker's counters for one target. Read them summed with target_group_stats_read(). */
struct target_stats {
    uint64_t requests[TARGET_NCLASSES];      /* finished requests by status class */
    uint64_t bytes_sent;                     /* request bytes written to the target (head + body) */
    uint64_t bytes_received;                 /* response bytes read from the target (head + body) */
    uint64_t connect_errors;                 /* upstream connect failures */
    uint64_t timeouts;                       /* response timeouts (answered 504) */
    uint64_t rt_buckets[TARGET_RT_NBUCKETS]; /* response time histogram, per bucket */
    uint64_t rt_sum_us;                      /* sum of response times, microseconds */
    uint64_t rt_count;                       /* number of response times recorded */
};

struct target {
    struct addr addr;      /* immutable: where requests go */
    char *group_name;      /* owned, immutable: the group this target belongs to */
    _Atomic uint32_t refs; /* generations, the registry and in-flight requests hold refs */

    /* Written by the main thread only; read anywhere (relaxed). */
    _Atomic int state;                  /* enum target_state */
    _Atomic int reason;                 /* enum target_reason */
    _Atomic uint64_t drain_deadline_ms; /* DRAINING: clock_gettime(MONOTONIC) ms; else 0 */
    _Atomic bool drain_expired;         /* DRAINING past its deadline: workers cut requests */

    _Atomic uint32_t in_flight; /* requests being served by this target, all workers */

    struct health_probe *probe; /* owned by proxy/health.c (main thread only); NULL if none */
    uint32_t health_passes;     /* consecutive passes, main thread only (health.c) */
    uint32_t health_failures;   /* consecutive failures, main thread only (health.c) */
    int health_last_status;     /* last health check HTTP status, 0 if none; main thread */

    size_t nslots;              /* stats slots: one per worker */
    struct target_stats *slots; /* owned: nslots entries, cache-line aligned */
};

/* Health check settings of one group (DESIGN.md; defaults as ALB's). */
struct target_group_health {
    const char *path;             /* default "/" */
    uint16_t port;                /* 0: the target's own port ("traffic-port") */
    uint64_t interval_ms;         /* default 30 s */
    uint64_t timeout_ms;          /* default 5 s */
    uint32_t healthy_threshold;   /* default 5 */
    uint32_t unhealthy_threshold; /* default 2 */
    uint16_t matcher_lo;          /* matcher "200" or "200-399": inclusive range */
    uint16_t matcher_hi;
    const char *matcher; /* as written ("200", "200-399"), for the API */
};

/* One group as one generation configures it. Immutable once published, except the per-worker
 * balancer cursors, which each worker writes in its own slot only. */
struct target_group {
    const char *name; /* borrowed: the generation's arena */
    enum balancer_algorithm algorithm;
    uint64_t deregistration_delay_ms; /* default 300 s */
    uint64_t response_timeout_ms;     /* default 60 s → 504 */
    struct target_group_health health;
    struct target **targets; /* each holds a ref; in configuration order */
    size_t ntargets;
    struct balancer_cursor *cursors; /* nslots entries, one per worker */
    bool dynamic; /* created through the admin API: kept across SIGHUP when the file lacks it */
};

/* The main thread's index of live targets by (group, address), so that a new generation reuses
 * the objects of the previous one. Main thread only. */
struct target_group_registry;

const char *target_group_state_name(enum target_state s);
/* "Target.Timeout", …; NULL for TARGET_REASON_NONE. */
const char *target_group_reason_name(enum target_reason r);
/* ALB's description for the reason ("Health checks failed", …); NULL for TARGET_REASON_NONE. */
const char *target_group_reason_description(enum target_reason r);

/* A new target (refs = 1, state INITIAL, reason Elb.RegistrationInProgress) with <nslots>
 * stats slots (>= 1). Never fails. */
struct target *target_group_target_new(const struct addr *addr, const char *group_name,
                                       size_t nslots);
/* Reference counting; any thread. The last unref frees (probe must already be NULL). */
struct target *target_group_target_ref(struct target *t);
void target_group_target_unref(struct target *t);

/* Main thread only: sets state and reason (the health checker, deregistration). */
void target_group_set_state(struct target *t, enum target_state s, enum target_reason r);

static inline enum target_state
target_group_state(const struct target *t)
{
    return (enum target_state)atomic_load_explicit(&t->state, memory_order_relaxed);
}

/* Routable as the balancer sees it: HEALTHY, or any non-draining state when fail-open. */
bool target_group_is_routable(const struct target *t, bool fail_open);

/* Sums every slot into <out>; any thread (values are eventually consistent). */
void target_group_stats_read(const struct target *t, struct target_stats *out);

/* Worker <slot> only: counters of one finished request. <status> is 0 when the target gave no
 * response; <rt_us> < 0 when no response time was measured. */
void target_group_stats_record(struct target *t, size_t slot, int status, uint64_t sent,
                               uint64_t received, int64_t rt_us);
void target_group_stats_connect_error(struct target *t, size_t slot);
void target_group_stats_timeout(struct target *t, size_t slot);

/* Registry (main thread only). <nslots>: the number of workers, fixed for the process. */
struct target_group_registry *target_group_registry_new(size_t nslots);
void target_group_registry_free(struct target_group_registry *reg);
size_t target_group_registry_nslots(const struct target_group_registry *reg);
/* The target for (group, addr): the live one (a new ref) or a new one, registered. */
struct target *target_group_registry_get(struct target_group_registry *reg, const char *group,
                                         const struct addr *addr);
/* Forgets <t> (deregistration finished); drops the registry's ref. */
void target_group_registry_forget(struct target_group_registry *reg, struct target *t);
/* Calls <fn> for every registered target (including draining ones), in registration order. */
void target_group_registry_foreach(struct target_group_registry *reg,
                                   void (*fn)(void *ud, struct target *t), void *ud);

/* The target of group <g> at <addr>, or NULL. */
struct target *target_group_find(const struct target_group *g, const struct addr *addr);

/* Healthy and unhealthy counts for metrics (healthy = HEALTHY; unhealthy = everything else
 * that is registered in <g>). */
void target_group_count(const struct target_group *g, size_t *healthy, size_t *unhealthy);

#endif /* PROXY_TARGET_GROUP_H */
