/* SPDX-License-Identifier: ISC */
/* Target objects, their names and counters, and the main thread's registry. Stats slots are
 * per worker so the hot path never executes a locked instruction for them. */
#include "proxy/target_group.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

static const char *const state_names[TARGET_NSTATES] = {
    [TARGET_INITIAL] = "initial",   [TARGET_HEALTHY] = "healthy", [TARGET_UNHEALTHY] = "unhealthy",
    [TARGET_DRAINING] = "draining", [TARGET_UNUSED] = "unused",
};

static const struct {
    const char *name;
    const char *description;
} reason_info[TARGET_NREASONS] = {
    [TARGET_REASON_NONE] = {NULL, NULL},
    [TARGET_REASON_REGISTRATION_IN_PROGRESS] = {"Elb.RegistrationInProgress",
                                                "Target registration is in progress"},
    [TARGET_REASON_INITIAL_HEALTH_CHECKING] = {"Elb.InitialHealthChecking",
                                               "Initial health checks in progress"},
    [TARGET_REASON_RESPONSE_CODE_MISMATCH] = {"Target.ResponseCodeMismatch",
                                              "Health checks failed with these codes"},
    [TARGET_REASON_TIMEOUT] = {"Target.Timeout", "Request timed out"},
    [TARGET_REASON_FAILED_HEALTH_CHECKS] = {"Target.FailedHealthChecks", "Health checks failed"},
    [TARGET_REASON_DEREGISTRATION] = {"Target.DeregistrationInProgress",
                                      "Target deregistration is in progress"},
    [TARGET_REASON_NOT_IN_USE] = {"Target.NotInUse", "Target group is not configured to receive "
                                                     "traffic from the load balancer"},
    [TARGET_REASON_NOT_REGISTERED] = {"Target.NotRegistered",
                                      "Target is not registered to the target group"},
    [TARGET_REASON_INTERNAL_ERROR] = {"Elb.InternalError",
                                      "Health checks failed due to an internal error"},
};

static const uint64_t rt_bounds_ms[TARGET_RT_NBUCKETS] = TARGET_RT_BUCKET_BOUNDS_MS;

const char *
target_group_state_name(enum target_state s)
{
    return (unsigned)s < TARGET_NSTATES ? state_names[s] : "?";
}

const char *
target_group_reason_name(enum target_reason r)
{
    return (unsigned)r < TARGET_NREASONS ? reason_info[r].name : NULL;
}

const char *
target_group_reason_description(enum target_reason r)
{
    return (unsigned)r < TARGET_NREASONS ? reason_info[r].description : NULL;
}

struct target *
target_group_target_new(const struct addr *addr, const char *group_name, size_t nslots)
{
    struct target *t = mem_calloc(1, sizeof(*t));

    ASSERT(nslots >= 1);
    t->addr = *addr;
    t->group_name = mem_strdup(group_name);
    atomic_init(&t->refs, 1);
    atomic_init(&t->state, TARGET_INITIAL);
    atomic_init(&t->reason, TARGET_REASON_REGISTRATION_IN_PROGRESS);
    atomic_init(&t->drain_deadline_ms, 0);
    atomic_init(&t->drain_expired, false);
    atomic_init(&t->in_flight, 0);
    t->nslots = nslots;
    t->slots = aligned_alloc(64, ((nslots * sizeof(struct target_stats) + 63) / 64) * 64);
    if (t->slots == NULL)
        mem_oom();
    memset(t->slots, 0, nslots * sizeof(struct target_stats));
    return t;
}

struct target *
target_group_target_ref(struct target *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void
target_group_target_unref(struct target *t)
{
    if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    ASSERT(t->probe == NULL);
    free(t->group_name);
    free(t->slots);
    free(t);
}

void
target_group_set_state(struct target *t, enum target_state s, enum target_reason r)
{
    atomic_store_explicit(&t->reason, (int)r, memory_order_relaxed);
    atomic_store_explicit(&t->state, (int)s, memory_order_release);
}

bool
target_group_is_routable(const struct target *t, bool fail_open)
{
    enum target_state s = target_group_state(t);

    switch (s) {
    case TARGET_HEALTHY:
        return true;
    case TARGET_INITIAL:
    case TARGET_UNHEALTHY:
        return fail_open;
    case TARGET_DRAINING:
    case TARGET_UNUSED:
        return false;
    }
    return false;
}

/* Counters are 64-bit words written by one thread: a relaxed load + store compiles to plain
 * moves, and readers on other threads see whole values. */
static inline void
bump(uint64_t *word, uint64_t n)
{
    _Atomic uint64_t *a = (_Atomic uint64_t *)word;

    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t
peek(const uint64_t *word)
{
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)word, memory_order_relaxed);
}

void
target_group_stats_read(const struct target *t, struct target_stats *out)
{
    const size_t nwords = sizeof(*out) / sizeof(uint64_t);
    uint64_t *dst = (uint64_t *)out;

    memset(out, 0, sizeof(*out));
    for (size_t s = 0; s < t->nslots; s++) {
        const uint64_t *src = (const uint64_t *)&t->slots[s];
        for (size_t i = 0; i < nwords; i++)
            dst[i] += peek(&src[i]);
    }
}

static size_t
rt_bucket(int64_t rt_us)
{
    for (size_t i = 0; i + 1 < TARGET_RT_NBUCKETS; i++) {
        if ((uint64_t)rt_us <= rt_bounds_ms[i] * 1000)
            return i;
    }
    return TARGET_RT_NBUCKETS - 1;
}

void
target_group_stats_record(struct target *t, size_t slot, int status, uint64_t sent,
                          uint64_t received, int64_t rt_us)
{
    struct target_stats *s = &t->slots[slot];
    int cls = status / 100;

    ASSERT(slot < t->nslots);
    bump(&s->requests[cls >= 1 && cls <= 5 ? cls : 0], 1);
    bump(&s->bytes_sent, sent);
    bump(&s->bytes_received, received);
    if (rt_us >= 0) {
        bump(&s->rt_buckets[rt_bucket(rt_us)], 1);
        bump(&s->rt_sum_us, (uint64_t)rt_us);
        bump(&s->rt_count, 1);
    }
}

void
target_group_stats_connect_error(struct target *t, size_t slot)
{
    ASSERT(slot < t->nslots);
    bump(&t->slots[slot].connect_errors, 1);
}

void
target_group_stats_timeout(struct target *t, size_t slot)
{
    ASSERT(slot < t->nslots);
    bump(&t->slots[slot].timeouts, 1);
}

struct target *
target_group_find(const struct target_group *g, const struct addr *addr)
{
    for (size_t i = 0; i < g->ntargets; i++) {
        if (addr_equal(&g->targets[i]->addr, addr))
            return g->targets[i];
    }
    return NULL;
}

void
target_group_count(const struct target_group *g, size_t *healthy, size_t *unhealthy)
{
    *healthy = 0;
    *unhealthy = 0;
    for (size_t i = 0; i < g->ntargets; i++) {
        if (target_group_state(g->targets[i]) == TARGET_HEALTHY)
            (*healthy)++;
        else
            (*unhealthy)++;
    }
}

/* The registry: a plain array. Registrations are rare and counts small (tens of targets), so
 * a linear scan on the main thread beats a hash table in code and in time. */
struct target_group_registry {
    size_t nslots;
    struct target **items; /* owned: one ref each */
    size_t n;
    size_t cap;
};

struct target_group_registry *
target_group_registry_new(size_t nslots)
{
    struct target_group_registry *reg = mem_calloc(1, sizeof(*reg));

    ASSERT(nslots >= 1);
    reg->nslots = nslots;
    return reg;
}

void
target_group_registry_free(struct target_group_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        target_group_target_unref(reg->items[i]);
    free(reg->items);
    free(reg);
}

size_t
target_group_registry_nslots(const struct target_group_registry *reg)
{
    return reg->nslots;
}

struct target *
target_group_registry_get(struct target_group_registry *reg, const char *group,
                          const struct addr *addr)
{
    struct target *t;

    for (size_t i = 0; i < reg->n; i++) {
        t = reg->items[i];
        if (strcmp(t->group_name, group) == 0 && addr_equal(&t->addr, addr))
            return target_group_target_ref(t);
    }
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 16;
        reg->items = mem_realloc(reg->items, reg->cap * sizeof(*reg->items));
    }
    t = target_group_target_new(addr, group, reg->nslots);
    reg->items[reg->n++] = t;
    return target_group_target_ref(t);
}

void
target_group_registry_forget(struct target_group_registry *reg, struct target *t)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (reg->items[i] == t) {
            memmove(&reg->items[i], &reg->items[i + 1], (reg->n - i - 1) * sizeof(*reg->items));
            reg->n--;
            target_group_target_unref(t);
            return;
        }
    }
}

void
target_group_registry_foreach(struct target_group_registry *reg,
                              void (*fn)(void *ud, struct target *t), void *ud)
{
    for (size_t i = 0; i < reg->n; i++)
        fn(ud, reg->items[i]);
}
