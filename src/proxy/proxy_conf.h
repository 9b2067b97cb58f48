/* SPDX-License-Identifier: ISC */
/* proxy.yaml → one configuration generation. A generation is immutable once published and
 * reference-counted (C11 atomics): a request holds the generation it started with, so a switch
 * is a per-request decision and never closes a connection. The main thread builds new
 * generations (file reload: proxy_conf_load; admin change: proxy_conf_clone + a modifier), then
 * publishes them with proxy_publish() (proxy.h).
 *
 * Config shape: DESIGN.md "Config shapes". Optional keys beyond it: per listener idle_timeout
 * (60s) and max_head_bytes (64K → 431); per group response_timeout (60s → 504); top-level
 * shutdown_timeout (30s). Every error is "FILE:LINE:COL: what (expected)". */
#ifndef PROXY_PROXY_CONF_H
#define PROXY_PROXY_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/arena.h"

struct err;
struct target;
struct target_group; /* proxy/target_group.h */
struct target_group_registry;

#define PROXY_CONF_DEFAULT_ADMIN "127.0.0.1:9901"
#define PROXY_CONF_MAX_WEIGHT 999 /* as ALB */
#define PROXY_CONF_MAX_WORKERS 256
#define PROXY_CONF_MAX_FORWARD 16 /* target groups in one forward action */

/* One entry of a listener's forward action. */
struct proxy_conf_forward {
    const char *group_name;     /* borrowed: the generation's arena */
    struct target_group *group; /* borrowed: the same generation's groups[] */
    uint32_t weight;            /* 0..999; 0: no new requests */
};

struct proxy_conf_listener {
    const char *name; /* borrowed: arena */
    struct addr bind;
    uint64_t idle_timeout_ms;           /* client keep-alive idle timeout; default 60 s */
    size_t max_head_bytes;              /* request line + headers; over → 431; default 64 KiB */
    struct proxy_conf_forward *forward; /* arena */
    size_t nforward;
    uint32_t *weights;     /* arena: nforward weights, as the balancer takes them */
    int64_t *credits;      /* arena: smooth-WRR credits, worker w's row at w * credits_stride */
    size_t credits_stride; /* int64s per row (nforward rounded up to a cache line) */
    bool dynamic; /* created through the admin API: kept across SIGHUP when the file lacks it */
};

struct proxy_conf {
    _Atomic uint32_t refs;        /* the main thread, each worker, each request in flight */
    struct arena arena;           /* owns every string and array below */
    const char *path;             /* the file it came from ("" for a buffer) */
    uint64_t seq;                 /* generation number, set by proxy_publish() */
    struct addr admin;            /* default 127.0.0.1:9901 */
    uint32_t workers;             /* resolved: >= 1 */
    bool workers_auto;            /* "auto" was written (or nothing) */
    uint64_t shutdown_timeout_ms; /* SIGTERM/retire: max wait for connections; default 30 s */
    struct proxy_conf_listener *listeners; /* arena, in file order */
    size_t nlisteners;
    struct target_group *groups; /* arena, in file order */
    size_t ngroups;
    size_t nslots; /* per-worker slots of balancer state and stats (registry's nslots or 1) */
};

/* Loads <path> into a new generation (refs = 1). Targets come from <reg> (reused when already
 * registered, else created and registered); with reg == NULL (--check, tests) every target is
 * new and private to this generation. Returns 0 or -EINVAL with "FILE:LINE:COL: …" in err;
 * nothing is registered on failure. Main thread only. */
int proxy_conf_load(struct proxy_conf **out, const char *path, struct target_group_registry *reg,
                    struct err *err);
/* Same from memory; <name> is used in messages. */
int proxy_conf_load_buffer(struct proxy_conf **out, const char *name, const char *data, size_t len,
                           struct target_group_registry *reg, struct err *err);

/* Any thread. The last unref frees the generation and drops its target refs. */
struct proxy_conf *proxy_conf_ref(struct proxy_conf *c);
void proxy_conf_unref(struct proxy_conf *c);

/* A deep copy (refs = 1, seq = 0) sharing the target objects, to be modified and published.
 * Main thread only. */
struct proxy_conf *proxy_conf_clone(const struct proxy_conf *c);

/* Modifiers for an unpublished generation (from proxy_conf_clone). Each validates everything
 * first and changes nothing on failure. Strings are copied. */
struct proxy_conf_weight {
    const char *group; /* target group name */
    uint32_t weight;   /* 0..PROXY_CONF_MAX_WEIGHT */
};
/* Replaces the forward action of <listener>. Returns 0, -ENOENT (no such listener) or -EINVAL
 * (unknown group, weight out of range, duplicate group, empty list), with a message. */
int proxy_conf_set_forward(struct proxy_conf *c, const char *listener,
                           const struct proxy_conf_weight *fw, size_t n, struct err *err);
/* Registers <addrs> in <group> (already registered ones are left alone, as ALB does). Targets
 * come from <reg> as in proxy_conf_load. Returns 0, -ENOENT (no such group) or -EINVAL. */
int proxy_conf_add_targets(struct proxy_conf *c, const char *group, const struct addr *addrs,
                           size_t n, struct target_group_registry *reg, struct err *err);
/* Removes <addrs> from <group>; addresses not registered are ignored. Publishing the result
 * starts their deregistration delay. Returns 0 or -ENOENT (no such group). */
int proxy_conf_remove_targets(struct proxy_conf *c, const char *group, const struct addr *addrs,
                              size_t n, struct err *err);

/* Applies a declarative change set (protocol/proxy_api.h: PUT/DELETE of target groups and
 * listeners, POST /changes) to an unpublished generation, all or nothing: group puts, then
 * listener deletes, listener puts, group deletes; then every bind must be distinct. Values
 * are checked against the same ranges as proxy.yaml; omitted settings take proxy.yaml's
 * defaults (response_timeout, idle_timeout and max_head_bytes, which the API does not carry,
 * are kept for an existing object). Objects created here are marked dynamic. Targets come from
 * <reg> as in proxy_conf_load (NULL: private objects, for validation). Messages name the field
 * ("target_groups.blue.health_check.interval_ms: …" when <batch>, else without the prefix).
 * Returns 0, -EINVAL (invalid), -ENOENT (deleting what does not exist), -EBUSY (deleting a
 * group some listener forwards to) or -EADDRINUSE (two listeners on one bind). On failure <c>
 * may be half-changed: drop it. */
struct proxy_api_changes;
int proxy_conf_apply_changes(struct proxy_conf *c, const struct proxy_api_changes *ch, bool batch,
                             struct target_group_registry *reg, struct err *err);

/* SIGHUP: adds to <next> (just loaded from the file) the dynamic groups and listeners of <cur>
 * that the file does not name, as they are. Returns 0 or -EINVAL when a kept listener forwards
 * to a group the file dropped, or shares a bind with a file listener. */
int proxy_conf_keep_dynamic(struct proxy_conf *next, const struct proxy_conf *cur, struct err *err);

/* The dynamic objects of <c> as a POST /changes body (malloc'd), for a binary upgrade. */
char *proxy_conf_dynamic_format(const struct proxy_conf *c);

/* Lookups by name; NULL when absent. */
const struct proxy_conf_listener *proxy_conf_listener_find(const struct proxy_conf *c,
                                                           const char *name);
struct target_group *proxy_conf_group_find(const struct proxy_conf *c, const char *name);

/* True if some listener's forward action names <g> (whatever the weight). A group in no
 * action has its targets "unused" (Target.NotInUse), as ALB reports them. */
bool proxy_conf_group_in_use(const struct proxy_conf *c, const struct target_group *g);
/* True if <t> is a target of some group of <c>. */
bool proxy_conf_has_target(const struct proxy_conf *c, const struct target *t);

#endif /* PROXY_PROXY_CONF_H */
