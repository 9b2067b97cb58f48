/* SPDX-License-Identifier: ISC */
/* The proxy admin API's JSON bodies (`cutover proxy` ↔ its clients: the CLI, the server's
 * traffic shifter, tests). The only place their field names appear.
 *
 *   GET  /target-groups/NAME/health  {"target_group":"blue","targets":[{"target":"127.0.0.1:9001",
 *                                     "state":"healthy","reason":null,"description":null,
 *                                     "in_flight":0}]}
 *   PUT  /listeners/NAME/action      {"forward":[{"target_group":"blue","weight":90}, …]}
 *                                    (answer: the listener, as in GET /listeners)
 *   POST|DELETE /target-groups/NAME/targets  {"targets":["127.0.0.1:9003"]}
 *   GET  /listeners                  {"listeners":[{"name":"web","bind":"0.0.0.0:8080",
 *                                     "forward":[…]}]}
 *   GET  /target-groups              {"target_groups":[{"name":"blue","algorithm":"round_robin",
 *                                     "deregistration_delay_ms":30000,"health_check":{…},
 *                                     "targets":["127.0.0.1:9001"]}]}
 *   errors                           {"error":"what is wrong"}
 *
 * A _parse allocates every string and array of its result in the result's arena (freed by the
 * matching _fini); a struct built by the caller for a _format borrows everything and leaves the
 * arena zeroed. */
#ifndef PROTOCOL_PROXY_API_H
#define PROTOCOL_PROXY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

struct err;

#define PROXY_API_MAX_WEIGHT 999 /* as ALB */
#define PROXY_API_NAME_MAX 64    /* listener and target group names */

/* A listener or target group name: 1..PROXY_API_NAME_MAX of A-Z a-z 0-9 . _ - (proxy.yaml,
 * the admin API and stack.yaml accept the same names). */
bool proxy_api_valid_name(const char *s);

struct proxy_api_target_health {
    const char *target;      /* "127.0.0.1:9001" */
    const char *state;       /* initial healthy unhealthy draining unused */
    const char *reason;      /* "Target.Timeout", or NULL (JSON null) when healthy */
    const char *description; /* ALB's description of the reason, or NULL */
    uint32_t in_flight;
};

struct proxy_api_health {
    struct arena arena; /* owns everything below after a _parse */
    const char *target_group;
    struct proxy_api_target_health *targets; /* ntargets entries */
    size_t ntargets;
};

struct proxy_api_forward {
    const char *target_group;
    uint32_t weight; /* 0..PROXY_API_MAX_WEIGHT */
};

struct proxy_api_action {
    struct arena arena;                /* owns everything below after a _parse */
    struct proxy_api_forward *forward; /* nforward entries (>= 1 after a successful parse) */
    size_t nforward;
};

struct proxy_api_listener {
    struct arena arena; /* owns everything below after proxy_api_listener_parse */
    const char *name;
    const char *bind; /* "0.0.0.0:8080" */
    struct proxy_api_action action;
};

struct proxy_api_listeners {
    struct arena arena; /* owns everything below after a _parse */
    struct proxy_api_listener *items;
    size_t n;
};

struct proxy_api_health_check {
    const char *path;
    uint32_t port; /* 0: the target's own port */
    uint64_t interval_ms;
    uint64_t timeout_ms;
    uint32_t healthy_threshold;
    uint32_t unhealthy_threshold;
    const char *matcher; /* "200", "200-399", "200,302" */
};

struct proxy_api_group {
    const char *name;
    const char *algorithm; /* round_robin least_outstanding_requests */
    uint64_t deregistration_delay_ms;
    struct proxy_api_health_check health_check;
    const char **targets; /* ntargets addresses */
    size_t ntargets;
};

struct proxy_api_groups {
    struct arena arena; /* owns everything below after a _parse */
    struct proxy_api_group *items;
    size_t n;
};

struct proxy_api_targets {
    struct arena arena;   /* owns everything below after a _parse */
    const char **targets; /* ntargets addresses, as written ("127.0.0.1:9003") */
    size_t ntargets;
};

/* Encoders: a malloc'd compact JSON text (never NULL). Decoders: parse <len> bytes of <text>
 * into *out (zeroed first), or return -EINVAL with a message naming the field and what was
 * expected ("forward[1].weight: expected an integer 0..999"); nothing is left to free on
 * failure. */
char *proxy_api_health_format(const struct proxy_api_health *h);
int proxy_api_health_parse(struct proxy_api_health *out, const char *text, size_t len,
                           struct err *err);
void proxy_api_health_fini(struct proxy_api_health *h);

char *proxy_api_action_format(const struct proxy_api_action *a);
int proxy_api_action_parse(struct proxy_api_action *out, const char *text, size_t len,
                           struct err *err);
void proxy_api_action_fini(struct proxy_api_action *a);

char *proxy_api_listener_format(const struct proxy_api_listener *l);
char *proxy_api_listeners_format(const struct proxy_api_listeners *ls);
int proxy_api_listener_parse(struct proxy_api_listener *out, const char *text, size_t len,
                             struct err *err);
int proxy_api_listeners_parse(struct proxy_api_listeners *out, const char *text, size_t len,
                              struct err *err);
void proxy_api_listener_fini(struct proxy_api_listener *l);
void proxy_api_listeners_fini(struct proxy_api_listeners *ls);

char *proxy_api_groups_format(const struct proxy_api_groups *gs);
/* One group alone, as an element of GET /target-groups (the answer of PUT /target-groups/NAME). */
char *proxy_api_group_format(const struct proxy_api_group *g);
/* Parses one group document into gs (n = 1), for the answer of PUT /target-groups/NAME. */
int proxy_api_group_parse(struct proxy_api_groups *out, const char *text, size_t len,
                          struct err *err);
int proxy_api_groups_parse(struct proxy_api_groups *out, const char *text, size_t len,
                           struct err *err);
void proxy_api_groups_fini(struct proxy_api_groups *gs);

char *proxy_api_targets_format(const struct proxy_api_targets *t);
int proxy_api_targets_parse(struct proxy_api_targets *out, const char *text, size_t len,
                            struct err *err);
void proxy_api_targets_fini(struct proxy_api_targets *t);

/* Declarative changes (PUT /target-groups/NAME, PUT /listeners/NAME, DELETE of both, and
 * POST /changes, which carries several in one generation):
 *
 *   PUT /target-groups/NAME   {"algorithm","deregistration_delay_ms","health_check":{…},
 *                              "targets":[…]}   every key optional
 *   PUT /listeners/NAME       {"bind":"HOST:PORT","forward":[{"target_group","weight"}…]}
 *   POST /changes             {"target_groups":{NAME:<group body>,…},
 *                              "listeners":{NAME:<listener body>,…},
 *                              "delete_listeners":[NAME…],"delete_target_groups":[NAME…]}
 *                             answer: {"listeners":[…],"target_groups":[…]} (the two GETs)
 *
 * The decoders check JSON types and unknown fields only; ranges are proxy/proxy_conf's. */

/* Which health_check keys a body gave (proxy_api_group_spec.health_set). */
#define PROXY_API_HC_PATH (1u << 0)
#define PROXY_API_HC_PORT (1u << 1)
#define PROXY_API_HC_INTERVAL (1u << 2)
#define PROXY_API_HC_TIMEOUT (1u << 3)
#define PROXY_API_HC_HEALTHY (1u << 4)
#define PROXY_API_HC_UNHEALTHY (1u << 5)
#define PROXY_API_HC_MATCHER (1u << 6)

struct proxy_api_group_spec {
    const char *name;
    const char *algorithm; /* NULL: not given */
    bool has_deregistration_delay;
    uint64_t deregistration_delay_ms;
    unsigned health_set; /* PROXY_API_HC_* of the fields given in health_check */
    struct proxy_api_health_check health_check;
    bool has_targets;     /* "targets" given: the group's set becomes exactly this list */
    const char **targets; /* ntargets addresses */
    size_t ntargets;
};

struct proxy_api_listener_spec {
    const char *name;
    const char *bind; /* NULL: not given */
    bool has_forward;
    struct proxy_api_action action; /* its arena is unused: the changes' arena owns all */
};

struct proxy_api_changes {
    struct arena arena; /* owns everything below after a _parse */
    struct proxy_api_group_spec *groups;
    size_t ngroups;
    struct proxy_api_listener_spec *listeners;
    size_t nlisteners;
    const char **delete_listeners;
    size_t ndelete_listeners;
    const char **delete_groups;
    size_t ndelete_groups;
};

/* POST /changes. Messages name the field ("target_groups.blue.health_check.interval_ms: …"). */
char *proxy_api_changes_format(const struct proxy_api_changes *ch);
int proxy_api_changes_parse(struct proxy_api_changes *out, const char *text, size_t len,
                            struct err *err);
/* The body of PUT /target-groups/<name> or PUT /listeners/<name>, as a change set of one. */
int proxy_api_group_put_parse(struct proxy_api_changes *out, const char *name, const char *text,
                              size_t len, struct err *err);
int proxy_api_listener_put_parse(struct proxy_api_changes *out, const char *name, const char *text,
                                 size_t len, struct err *err);
void proxy_api_changes_fini(struct proxy_api_changes *ch);
/* The body of a group or a listener spec alone (what PUT sends). */
char *proxy_api_group_spec_format(const struct proxy_api_group_spec *g);
char *proxy_api_listener_spec_format(const struct proxy_api_listener_spec *l);

/* {"listeners":[…],"target_groups":[…]}: the answer of POST /changes. */
char *proxy_api_state_format(const struct proxy_api_listeners *ls,
                             const struct proxy_api_groups *gs);

/* {"error":"<message>"} */
char *proxy_api_error_format(const char *message);
/* The message of an error body, malloc'd; NULL if <text> is not one. */
char *proxy_api_error_parse(const char *text, size_t len);

#endif /* PROTOCOL_PROXY_API_H */
