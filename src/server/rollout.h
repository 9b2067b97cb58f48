/* SPDX-License-Identifier: ISC */
/* Inside the orchestrator (not for other modules): the context one step of one deployment
 * works on, and the functions orchestrator.c (loop, records, alarms, hooks), rollout.c (steps,
 * proxy calls, ending) and fleet.c (hosts through their phases) share. Everything here runs on
 * the loop thread. A struct rollout is loaded from the store for one step and dropped after
 * it: nothing in it outlives the step but what was persisted. */
#ifndef SERVER_ROLLOUT_H
#define SERVER_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/log.h"
#include "protocol/deploy_progress.h"
#include "protocol/proxy_api.h"
#include "server/deployment.h"
#include "server/store.h"

struct alarms_window;
struct notify;
struct server;

#define ROLLOUT_HEALTH_FRESH_MS 200
/* consecutive failed proxy calls (one per tick) before a step fails: about 10 s; moving traffic
 * back (ROLLBACK_TRAFFIC) tries four times as long */
#define ROLLOUT_PROXY_MAX_FAILURES 40
#define ROLLOUT_MAX_ALARMS 8
#define ROLLOUT_MAX_SCRAPE_FAILURES 10 /* alarm state unknown for this many scrapes: stop */
#define ROLLOUT_NAME_MAX 128

/* Why a host failed. */
struct rollout_reason {
    enum deployment_error code;
    char msg[400];
};

struct orch_alarm {
    struct deployment_alarm a;
    char name[64];
    char group[ROLLOUT_NAME_MAX]; /* the target group it watches */
};

/* What the orchestrator remembers of one active deployment between ticks (forgettable). */
struct orch_dep {
    struct orch_dep *next;
    struct orch *o;
    char id[STORE_ID_MAX];
    bool is_busy;             /* a proxy call for it is in flight */
    bool is_seen;             /* listed active by the last tick */
    bool is_scraping;         /* a /metrics scrape is in flight */
    unsigned proxy_failures;  /* consecutive failed proxy calls */
    unsigned scrape_failures; /* consecutive failed /metrics scrapes */
    bool ignore_poll_failure; /* alarmConfiguration.ignorePollAlarmFailure */
    char admin[256];          /* the group's proxy admin address */
    char health_group[ROLLOUT_NAME_MAX];
    uint64_t health_at;                  /* uv_now of the cached health; 0: none */
    struct proxy_api_health health;      /* owned copy */
    bool rb_registered;                  /* ROLLBACK_TRAFFIC: original targets re-registered */
    struct rollout_reason first_failure; /* the first host failure seen (in place, install) */
    bool has_first_failure;
    uint64_t hold_since; /* uv_now since when no host could start for capacity; 0: none */
    bool watch;          /* alarms are evaluated now */
    struct orch_alarm alarms[ROLLOUT_MAX_ALARMS];
    size_t nalarms;
    char win_group[2][ROLLOUT_NAME_MAX];
    struct alarms_window *win[2]; /* owned */
    size_t nwin;
};

struct orch {
    struct server *srv;
    uv_loop_t *loop;
    uv_timer_t tick;   /* periodic */
    uv_timer_t kick;   /* one-shot, 0 ms: "something changed" */
    uv_timer_t scrape; /* periodic alarm scrapes */
    struct notify *notify;
    struct orch_dep *deps;
    int64_t started_ms; /* wall clock at start: heartbeat ages count from here at most */
    uint64_t heartbeat_timeout_ms;
    unsigned inflight;     /* proxy calls in flight */
    unsigned handles_open; /* timers not yet closed */
    bool is_stopping;
};

/* The rows of one deployment, loaded for one step. */
struct rollout {
    struct orch *o;
    struct orch_dep *od;
    struct store_deployment dep;
    struct store_group grp;
    bool has_grp;
    struct deploy_progress prog;
    struct deployment_plan plan;
    enum deployment_step step;
    struct deploy_instance_summaries hosts;
    struct store_command_list cmds;
    int64_t now; /* wall clock, ms */
};

enum rollout_verdict {
    ROLLOUT_BUSY = 0,
    ROLLOUT_DONE,
    ROLLOUT_FAILED,
};

enum rollout_op {
    ROLLOUT_OP_HEALTH = 0,
    ROLLOUT_OP_TARGETS,
    ROLLOUT_OP_SHIFT,      /* SHIFT: the split <shift> */
    ROLLOUT_OP_TEST,       /* ALLOW: the test listener to the replacement */
    ROLLOUT_OP_RB_TARGETS, /* ROLLBACK_TRAFFIC: original targets back */
    ROLLOUT_OP_RB_SHIFT,   /* ROLLBACK_TRAFFIC: all traffic to the original */
    ROLLOUT_OP_SERVING,    /* START: which fleet the listener serves (first deployment) */
};

/* ---- orchestrator.c ---- */

/* Runs a tick soon (coalesced): something changed. */
void orchestrator_kick(struct orch *o);
/* Loads deployment <id>'s rows into <c> (zeroed first); c->od is its in-memory record. Returns 0
 * or a negative errno; call orchestrator_unload either way. */
int orchestrator_load(struct orch *o, const char *id, struct rollout *c);
void orchestrator_unload(struct rollout *c);
/* Stops evaluating alarms for <d>. */
void orchestrator_unwatch(struct orch_dep *d);
/* A proxy call or scrape of deployment <id> ended: the record if the result still matters,
 * NULL when the deployment was forgotten or the orchestrator is stopping (<o> may then have
 * been freed). */
struct orch_dep *orchestrator_op_end(struct orch *o, const char *id);

/* ---- rollout.c ---- */

/* Logs with the deployment's context ("deployment=d-… step=shift"). */
void rollout_log(const struct rollout *c, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Takes the deployment's next action for its persisted step. */
void rollout_advance(struct rollout *c);
/* Persists the progress (phase = c->step). */
void rollout_save(struct rollout *c);
/* Moves to <next> (step time now, nothing applied yet) and persists it. */
void rollout_enter(struct rollout *c, enum deployment_step next);
/* Writes the deployment row (with fresh instance counts). */
void rollout_update_info(struct rollout *c);
/* Sends the group's webhooks that want <event> (<instance> NULL for deployment events). */
void rollout_notify(struct rollout *c, const char *event, const char *instance, const char *status);
/* Decides that the deployment ends (persisted first); traffic flips back first when it may have
 * moved, then the records are finalized and the rollback created. The first decision wins. */
void rollout_end(struct rollout *c, enum deployment_end_cause cause, enum deployment_error code,
                 const char *msg, int stop_rollback);
/* True (and the deployment ended, ELASTIC_LOAD_BALANCING_INVALID) when the proxy keeps failing. */
bool rollout_proxy_gave_up(struct rollout *c);
/* The cached health of <group> is recent enough to decide on. */
bool rollout_health_fresh(struct rollout *c, const char *group);
/* Proxy calls; each is a no-op while another call of the deployment is in flight. */
void rollout_start_health(struct rollout *c, const char *group);
void rollout_start_serving(struct rollout *c);
void rollout_start_targets(struct rollout *c, enum rollout_op kind, const char *group, bool add,
                           const char *const *targets, size_t n);

/* ---- fleet.c ---- */

/* The target group of the replacement (or original) fleet; in place, the group's target group;
 * NULL when there is none. */
const char *fleet_group(const struct rollout *c, bool replacement);
enum deploy_instance_type fleet_role_type(enum deployment_role r);
void fleet_set_instance(struct rollout *c, const char *instance, enum deploy_instance_status st,
                        const char *event);
void fleet_set_event(struct rollout *c, const char *instance, const char *name,
                     enum deploy_event_status st, int64_t start_ms, const char *diag_code,
                     const char *message);
/* Hosts of <role> through the install stage, at most <batch> in flight, finished ones taking
 * <done_status>: DONE when all are, FAILED (<why>) once a host failed and none is in flight.
 * <mhh> (in place with a target group; NULL: not applied): a host whose target is healthy only
 * starts while more than the minimum healthy hosts serve (deployment_may_take_out); held back
 * with nothing in flight for longer than healthCheck.timeout, FAILED with HEALTH_CONSTRAINTS. */
enum rollout_verdict fleet_install(struct rollout *c, enum deployment_role role, size_t batch,
                                   const struct deployment_mhh *mhh,
                                   enum deploy_instance_status done_status,
                                   struct rollout_reason *why);
/* Every host of <role> through <stage> at once. */
enum rollout_verdict fleet_all(struct rollout *c, enum deployment_role role,
                               enum deployment_stage stage, const char *group,
                               struct rollout_reason *why);

#endif /* SERVER_ROLLOUT_H */
