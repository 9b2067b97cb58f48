/* SPDX-License-Identifier: ISC */
/* The deployment model, pure: statuses, lifecycle events and their statuses, error codes (names
 * as CodeDeploy's), the orchestrator's steps for each deployment type, and the decisions the
 * orchestrator takes (which hosts next under minimum healthy hosts, which traffic split next,
 * whether an alarm fires, whether and how to roll back). No I/O, no clock, no allocation: the
 * rows live in SQLite (server/store) and server/orchestrator drives them on the loop.
 *
 * Deployment status:
 *
 *   Created ──▶ Queued ──▶ InProgress ◀──▶ Ready (blue/green STOP_DEPLOYMENT, waiting)
 *      │          │            │
 *      └──────────┴────────────┴──▶ Succeeded | Failed | Stopped   (terminal)
 *
 * Orchestrator steps (persisted before they are acted on; see deployment_step_next):
 *
 *   IN_PLACE:   START ─▶ INSTALL (hosts in batches, per-host phases) ─▶ DONE
 *   BLUE_GREEN: START ─▶ INSTALL (replacement) ─▶ [READY_WAIT] ─▶ ALLOW ─▶ SHIFT (k = 0..n)
 *               ─▶ AFTER_ALLOW ─▶ TERMINATION_WAIT ─▶ BLOCK_ORIGINAL ─▶ DONE
 *   BG restore (a rollback: the original fleet takes traffic back, nothing reinstalled):
 *               START ─▶ ALLOW ─▶ SHIFT ─▶ AFTER_ALLOW ─▶ BLOCK_ORIGINAL ─▶ DONE
 *   failing with traffic possibly moved: any ─▶ ROLLBACK_TRAFFIC ─▶ DONE (status Failed/Stopped)
 */
#ifndef SERVER_DEPLOYMENT_H
#define SERVER_DEPLOYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- statuses ------------------------------------------------------------------------------ */

enum deployment_status {
    DEPLOYMENT_CREATED = 0, /* accepted, not yet picked up */
    DEPLOYMENT_QUEUED,      /* waiting for another deployment of the group to end */
    DEPLOYMENT_IN_PROGRESS, /* the orchestrator is driving it */
    DEPLOYMENT_READY,       /* blue/green: replacement installed, waiting for continue */
    DEPLOYMENT_SUCCEEDED,   /* terminal */
    DEPLOYMENT_FAILED,      /* terminal: errorInformation says why */
    DEPLOYMENT_STOPPED,     /* terminal: stopped on request */
};
#define DEPLOYMENT_NSTATUSES 7

/* "Created" "Queued" "InProgress" "Ready" "Succeeded" "Failed" "Stopped". */
const char *deployment_status_name(enum deployment_status s);
/* Exact (case-sensitive) name to value. Returns 0 or -EINVAL. */
int deployment_status_parse(const char *name, enum deployment_status *out);
bool deployment_status_is_terminal(enum deployment_status s);
/* True when <from> → <to> is a legal transition (the diagram above; from == to is not). */
bool deployment_status_can_enter(enum deployment_status from, enum deployment_status to);

/* Lifecycle event status (per host, per event) and instance status. */
enum deployment_event_status {
    DEPLOYMENT_EVENT_PENDING = 0,
    DEPLOYMENT_EVENT_IN_PROGRESS,
    DEPLOYMENT_EVENT_SUCCEEDED,
    DEPLOYMENT_EVENT_FAILED,
    DEPLOYMENT_EVENT_SKIPPED,
};
#define DEPLOYMENT_NEVENT_STATUSES 5

/* "Pending" "InProgress" "Succeeded" "Failed" "Skipped". */
const char *deployment_event_status_name(enum deployment_event_status s);
int deployment_event_status_parse(const char *name, enum deployment_event_status *out);
bool deployment_event_status_is_final(enum deployment_event_status s);

enum deployment_instance_status {
    DEPLOYMENT_INSTANCE_PENDING = 0,
    DEPLOYMENT_INSTANCE_IN_PROGRESS,
    DEPLOYMENT_INSTANCE_SUCCEEDED,
    DEPLOYMENT_INSTANCE_FAILED,
    DEPLOYMENT_INSTANCE_SKIPPED,
    DEPLOYMENT_INSTANCE_READY, /* blue/green replacement installed, traffic not yet moved */
    DEPLOYMENT_INSTANCE_UNKNOWN,
};
#define DEPLOYMENT_NINSTANCE_STATUSES 7

/* "Pending" "InProgress" "Succeeded" "Failed" "Skipped" "Ready" "Unknown". */
const char *deployment_instance_status_name(enum deployment_instance_status s);
int deployment_instance_status_parse(const char *name, enum deployment_instance_status *out);

/* ---- error codes ------------------------------------------------------------------------- */

enum deployment_error {
    DEPLOYMENT_ERR_NONE = 0,
    DEPLOYMENT_ERR_SCRIPT_FAILED,      /* a lifecycle hook failed on a host */
    DEPLOYMENT_ERR_HEALTH_CONSTRAINTS, /* too few healthy hosts, or a target never healthy */
    DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID, /* minimum healthy hosts cannot be met */
    DEPLOYMENT_ERR_TIMEOUT,                    /* a step ran past its time limit */
    DEPLOYMENT_ERR_AGENT_ISSUE,                /* an agent stopped heartbeating mid-command */
    DEPLOYMENT_ERR_ALARM_ACTIVE,               /* an alarm fired while the deployment ran */
    DEPLOYMENT_ERR_MANUAL_STOP,                /* stop-deployment */
    DEPLOYMENT_ERR_NO_INSTANCES,               /* no instance matches the group's tags */
    DEPLOYMENT_ERR_REVISION_MISSING,           /* the revision is not in the store */
    DEPLOYMENT_ERR_DEPLOYMENT_GROUP_MISSING,
    DEPLOYMENT_ERR_ELASTIC_LOAD_BALANCING_INVALID, /* the proxy admin API refused or is gone */
    DEPLOYMENT_ERR_INTERNAL_ERROR, /* e.g. resumed in a step that cannot be resumed */
};
#define DEPLOYMENT_NERRORS 13

/* "SCRIPT_FAILED", "HEALTH_CONSTRAINTS", … ("" for NONE). */
const char *deployment_error_name(enum deployment_error e);
int deployment_error_parse(const char *name, enum deployment_error *out);

/* The deployment error a failed lifecycle event maps to, from the agent's diagnostics code
 * ("ScriptFailed", "ScriptMissing", "ScriptTimedOut", "ScriptNotExecutable", "OutputsLeftOpen",
 * "UnknownError", "AgentRestarted", …): SCRIPT_FAILED for a script's own failure, AGENT_ISSUE
 * for an interrupted agent, SCRIPT_FAILED for anything unknown. NULL → SCRIPT_FAILED. */
enum deployment_error deployment_error_from_diagnostic(const char *diag_code);

/* ---- lifecycle events -------------------------------------------------------------------- */

/* In lifecycle order (APPSPEC.md). BLOCK_TRAFFIC and ALLOW_TRAFFIC are performed by the
 * server through the proxy, DOWNLOAD_BUNDLE and INSTALL by the agent itself. */
enum deployment_event {
    DEPLOYMENT_EV_BEFORE_BLOCK_TRAFFIC = 0,
    DEPLOYMENT_EV_BLOCK_TRAFFIC,
    DEPLOYMENT_EV_AFTER_BLOCK_TRAFFIC,
    DEPLOYMENT_EV_APPLICATION_STOP,
    DEPLOYMENT_EV_DOWNLOAD_BUNDLE,
    DEPLOYMENT_EV_BEFORE_INSTALL,
    DEPLOYMENT_EV_INSTALL,
    DEPLOYMENT_EV_AFTER_INSTALL,
    DEPLOYMENT_EV_APPLICATION_START,
    DEPLOYMENT_EV_VALIDATE_SERVICE,
    DEPLOYMENT_EV_BEFORE_ALLOW_TRAFFIC,
    DEPLOYMENT_EV_ALLOW_TRAFFIC,
    DEPLOYMENT_EV_AFTER_ALLOW_TRAFFIC,
};
#define DEPLOYMENT_NEVENTS 13

/* "BeforeBlockTraffic" … "AfterAllowTraffic". */
const char *deployment_event_name(enum deployment_event ev);
int deployment_event_parse(const char *name, enum deployment_event *out);
/* True for BlockTraffic and AllowTraffic (the server's own events, never sent to an agent). */
bool deployment_event_is_server_side(enum deployment_event ev);

/* ---- deployment shapes ------------------------------------------------------------------- */

enum deployment_type {
    DEPLOYMENT_IN_PLACE = 0,
    DEPLOYMENT_BLUE_GREEN,
};
/* "IN_PLACE" "BLUE_GREEN". */
const char *deployment_type_name(enum deployment_type t);
int deployment_type_parse(const char *name, enum deployment_type *out);

/* What a host does in a deployment. */
enum deployment_role {
    DEPLOYMENT_ROLE_IN_PLACE = 0, /* in-place host: the whole lifecycle */
    DEPLOYMENT_ROLE_REPLACEMENT,  /* blue/green: gets the revision, then the traffic ("Green") */
    DEPLOYMENT_ROLE_ORIGINAL,     /* blue/green: gives the traffic up ("Blue") */
};
/* "InPlace" "Green" "Blue" (CodeDeploy's instanceType for blue/green). */
const char *deployment_role_name(enum deployment_role r);
int deployment_role_parse(const char *name, enum deployment_role *out);

/* One host's part of a deployment: an ordered list of phases, each either a command the agent
 * runs (a run of hook events) or a traffic action the server performs. */
enum deployment_phase_kind {
    DEPLOYMENT_PHASE_COMMAND = 0, /* send events[first..first+count) to the agent */
    DEPLOYMENT_PHASE_BLOCK,       /* server: deregister the host's target, wait until drained */
    DEPLOYMENT_PHASE_ALLOW,       /* server: register the host's target, wait until healthy */
};

struct deployment_phase {
    enum deployment_phase_kind kind;
    enum deployment_event first; /* COMMAND: first event; BLOCK/ALLOW: the traffic event */
    size_t count;                /* COMMAND: number of consecutive events; else 1 */
};

#define DEPLOYMENT_MAX_PHASES 8

/* The phases of a host with <role>: in-place with a target group (<has_target_group>):
 * BeforeBlockTraffic, [BLOCK], AfterBlockTraffic, ApplicationStop…ValidateService,
 * BeforeAllowTraffic, [ALLOW], AfterAllowTraffic; in-place without one: ApplicationStop…
 * ValidateService as one command. A replacement host in the INSTALL step runs ApplicationStop…
 * ValidateService (<stage> = DEPLOYMENT_STAGE_INSTALL), then in ALLOW BeforeAllowTraffic,
 * [ALLOW], AfterAllowTraffic (<stage> = DEPLOYMENT_STAGE_ALLOW, the AfterAllowTraffic command
 * runs in AFTER_ALLOW); an original host in BLOCK_ORIGINAL: BeforeBlockTraffic, [BLOCK],
 * AfterBlockTraffic. Traffic events each travel as their own command (wire contract). Fills
 * out[] (DEPLOYMENT_MAX_PHASES entries) and returns the number of phases (0 when the host
 * has nothing to do in that stage). */
enum deployment_stage {
    DEPLOYMENT_STAGE_INSTALL = 0, /* in-place: everything; replacement: up to ValidateService */
    DEPLOYMENT_STAGE_ALLOW,       /* replacement: BeforeAllowTraffic + [ALLOW] */
    DEPLOYMENT_STAGE_AFTER_ALLOW, /* replacement: AfterAllowTraffic */
    DEPLOYMENT_STAGE_BLOCK,       /* original: BeforeBlockTraffic, [BLOCK], AfterBlockTraffic */
};
size_t deployment_host_phases(enum deployment_role role, enum deployment_stage stage,
                              bool has_target_group, struct deployment_phase *out);

/* ---- orchestrator steps ------------------------------------------------------------------ */

enum deployment_step {
    DEPLOYMENT_STEP_START = 0,        /* pick hosts, read the listener, decide roles */
    DEPLOYMENT_STEP_INSTALL,          /* hosts (in place) or the replacement fleet install */
    DEPLOYMENT_STEP_READY_WAIT,       /* blue/green STOP_DEPLOYMENT: status Ready until continue */
    DEPLOYMENT_STEP_ALLOW,            /* replacement: BeforeAllowTraffic, register, healthy */
    DEPLOYMENT_STEP_SHIFT,            /* traffic split number <shift_index> */
    DEPLOYMENT_STEP_AFTER_ALLOW,      /* replacement: AfterAllowTraffic */
    DEPLOYMENT_STEP_TERMINATION_WAIT, /* original kept serving-ready for termination_wait */
    DEPLOYMENT_STEP_BLOCK_ORIGINAL,   /* original: BeforeBlockTraffic, deregister, After… */
    DEPLOYMENT_STEP_ROLLBACK_TRAFFIC, /* failing: traffic back on the original fleet */
    DEPLOYMENT_STEP_DONE,             /* nothing left to do: the status is terminal */
};
#define DEPLOYMENT_NSTEPS 10

/* "start" "install" "ready_wait" "allow" "shift" "after_allow" "termination_wait"
 * "block_original" "rollback_traffic" "done" (the strings persisted in the store). */
const char *deployment_step_name(enum deployment_step s);
int deployment_step_parse(const char *name, enum deployment_step *out);

struct deployment_plan {
    enum deployment_type type;
    bool is_restore;        /* blue/green rollback: the original fleet takes traffic back */
    bool wait_for_continue; /* blue/green deploymentReadyOption STOP_DEPLOYMENT */
};

/* The step after <cur> once <cur> completed (not for SHIFT's own iterations: see
 * deployment_traffic_step). ROLLBACK_TRAFFIC and DONE lead to DONE. */
enum deployment_step deployment_step_next(const struct deployment_plan *p,
                                          enum deployment_step cur);

/* True while traffic may sit (partly) on the replacement fleet, i.e. failing from this step
 * must go through ROLLBACK_TRAFFIC: ALLOW (test listener, targets registered), SHIFT,
 * AFTER_ALLOW, TERMINATION_WAIT and BLOCK_ORIGINAL, for blue/green only. */
bool deployment_step_needs_traffic_rollback(const struct deployment_plan *p,
                                            enum deployment_step s);

/* True for the steps an alarm is evaluated in: in place INSTALL; blue/green SHIFT,
 * AFTER_ALLOW and TERMINATION_WAIT (after that the original is being blocked: too late). */
bool deployment_step_watches_alarms(const struct deployment_plan *p, enum deployment_step s);

/* ---- minimum healthy hosts --------------------------------------------------------------- */

enum deployment_mhh_type {
    DEPLOYMENT_MHH_HOST_COUNT = 0,
    DEPLOYMENT_MHH_FLEET_PERCENT,
};

struct deployment_mhh {
    enum deployment_mhh_type type;
    uint32_t value;         /* hosts, or percent 0..100 */
    uint32_t max_in_flight; /* 0: only the minimum limits the batch; OneAtATime: 1 */
};

/* "HOST_COUNT" "FLEET_PERCENT". */
const char *deployment_mhh_type_name(enum deployment_mhh_type t);
int deployment_mhh_type_parse(const char *name, enum deployment_mhh_type *out);

/* The built-in configs: CodeDeployDefault.AllAtOnce (HOST_COUNT 0), .HalfAtATime
 * (FLEET_PERCENT 50), .OneAtATime (HOST_COUNT 1, and one host in flight whatever the fleet
 * size, as CodeDeploy does). Returns 0 or -ENOENT. */
int deployment_config_builtin(const char *name, struct deployment_mhh *out);

/* Hosts that must stay healthy in a fleet of <nhosts>: HOST_COUNT as is, FLEET_PERCENT rounded
 * up (CodeDeploy rounds the healthy count up). */
size_t deployment_min_healthy(const struct deployment_mhh *m, size_t nhosts);

/* How many hosts may be in flight at once: nhosts - min_healthy, capped by max_in_flight. A
 * single host is always
 * deployable (batch 1, as CodeDeploy's OneAtATime does on a one-host group). Returns 0 with
 * *batch set, -ENOENT for nhosts == 0 (NO_INSTANCES), or -EINVAL when the minimum leaves no
 * host to deploy to (HEALTH_CONSTRAINTS_INVALID). */
int deployment_max_batch(const struct deployment_mhh *m, size_t nhosts, size_t *batch);

/* Hosts of an in-place deployment by where they are. */
struct deployment_fleet_counts {
    size_t pending;     /* not started: old revision, serving */
    size_t in_progress; /* somewhere in their phases */
    size_t succeeded;
    size_t failed;
};

enum deployment_decision {
    DEPLOYMENT_DECIDE_START = 0, /* start *nstart more hosts */
    DEPLOYMENT_DECIDE_WAIT,      /* hosts in flight; nothing to start */
    DEPLOYMENT_DECIDE_SUCCEEDED, /* every host succeeded */
    DEPLOYMENT_DECIDE_FAILED,    /* a host failed and none is in flight any more */
};

/* The next move of an in-place fleet with at most <batch> hosts in flight. A failed host
 * stops new starts (cutover is stricter than CodeDeploy's "at least min healthy": a revision
 * that failed somewhere is not rolled onto more hosts); the deployment fails once the hosts in
 * flight finished. Sets *nstart (0 unless START). */
enum deployment_decision
deployment_fleet_decide(size_t batch, const struct deployment_fleet_counts *c, size_t *nstart);

/* Whether a Pending host may be taken out of service now, in place with a target group:
 * <serves> is true when its target is healthy in the proxy, <healthy> is how many of the
 * deployment's hosts not in flight are healthy there (it included), <min> the minimum healthy
 * hosts of a fleet of <nhosts>. A host that serves nothing takes no capacity away and may
 * always start; a serving one only while more than <min> serve, so a host that becomes
 * unhealthy outside of the deployment (a crash, a partition) is not compounded by taking a
 * healthy one out. A single host is always deployable (as deployment_max_batch says). */
bool deployment_may_take_out(bool serves, size_t healthy, size_t min, size_t nhosts);

/* ---- traffic routing --------------------------------------------------------------------- */

enum deployment_routing_type {
    DEPLOYMENT_ROUTING_ALL_AT_ONCE = 0,
    DEPLOYMENT_ROUTING_CANARY, /* TimeBasedCanary: percentage for interval, then 100 */
    DEPLOYMENT_ROUTING_LINEAR, /* TimeBasedLinear: +percentage every interval up to 100 */
};

struct deployment_routing {
    enum deployment_routing_type type;
    uint32_t percentage; /* 1..99 for canary and linear */
    uint64_t interval_ms;
};

/* "AllAtOnce" "TimeBasedCanary" "TimeBasedLinear". */
const char *deployment_routing_type_name(enum deployment_routing_type t);
int deployment_routing_type_parse(const char *name, enum deployment_routing_type *out);

/* Traffic split number <index> (0-based): *percent of the listener's traffic on the replacement
 * and how long to hold it before the next split (*hold_ms, 0 for the last). Returns true when
 * <index> is the last split (100 %), false when more follow; <index> past the last returns the
 * last. Percentages never go down and always end at 100. */
bool deployment_traffic_step(const struct deployment_routing *r, uint32_t index, uint32_t *percent,
                             uint64_t *hold_ms);

/* Weights on the listener for <percent> on the replacement: original 100 - percent,
 * replacement percent. */
void deployment_traffic_weights(uint32_t percent, uint32_t *original_weight,
                                uint32_t *replacement_weight);

/* ---- alarms ------------------------------------------------------------------------------ */

enum deployment_metric {
    DEPLOYMENT_METRIC_TARGET_5XX_RATIO = 0, /* (5xx + no response) / all, over the window */
    DEPLOYMENT_METRIC_TARGET_P99_SECONDS,   /* p99 target response time, over the window */
};
/* "target_5xx_ratio" "target_p99_seconds" (also accepted: "p99_target_time"). */
const char *deployment_metric_name(enum deployment_metric m);
int deployment_metric_parse(const char *name, enum deployment_metric *out);

#define DEPLOYMENT_METRIC_MAX_BUCKETS 24

/* Cumulative counters of one target group at one scrape (summed over its targets). */
struct deployment_metric_sample {
    uint64_t at_ms;    /* when it was scraped (monotonic) */
    uint64_t requests; /* all finished requests */
    uint64_t errors;   /* 5xx answers plus requests the target never answered */
    size_t nbuckets;   /* histogram buckets, ascending le; the last one is +Inf */
    double le[DEPLOYMENT_METRIC_MAX_BUCKETS];           /* upper bounds in seconds */
    uint64_t cumulative[DEPLOYMENT_METRIC_MAX_BUCKETS]; /* Prometheus cumulative counts */
};

struct deployment_alarm {
    enum deployment_metric metric;
    double threshold;      /* fires when the value is strictly above it */
    uint64_t window_ms;    /* the sliding window */
    uint64_t min_requests; /* fewer requests in the window: no verdict (default 1) */
};

/* Evaluates <a> over the window that ends at <newest>: <oldest> is the latest sample at or
 * before newest->at_ms - window_ms (or the oldest sample there is). Counters that went down
 * (a proxy restart) count from zero. Sets *value (ratio, or seconds; for p99 in the +Inf
 * bucket, the largest finite bound) and returns true when the alarm fires, false when it does
 * not or when fewer than min_requests requests fell in the window (*value is then 0). */
bool deployment_alarm_eval(const struct deployment_alarm *a,
                           const struct deployment_metric_sample *oldest,
                           const struct deployment_metric_sample *newest, double *value);

/* ---- rollback ---------------------------------------------------------------------------- */

/* Why a deployment ends without success (the auto-rollback events of CodeDeploy). */
enum deployment_end_cause {
    DEPLOYMENT_END_FAILURE = 0, /* DEPLOYMENT_FAILURE */
    DEPLOYMENT_END_ALARM,       /* DEPLOYMENT_STOP_ON_ALARM */
    DEPLOYMENT_END_REQUEST,     /* DEPLOYMENT_STOP_ON_REQUEST */
};
/* "DEPLOYMENT_FAILURE" "DEPLOYMENT_STOP_ON_ALARM" "DEPLOYMENT_STOP_ON_REQUEST". */
const char *deployment_end_cause_name(enum deployment_end_cause c);
int deployment_end_cause_parse(const char *name, enum deployment_end_cause *out);

struct deployment_rollback_conf {
    bool enabled;
    unsigned events; /* bit (1u << enum deployment_end_cause) per configured event */
};

/* The inputs of the rollback decision. */
struct deployment_ending {
    enum deployment_end_cause cause;
    int stop_rollback;  /* stop-deployment's autoRollbackEnabled: 1, 0, or -1 (not given) */
    bool is_rollback;   /* the ending deployment is itself a rollback */
    bool has_last_good; /* the group has a last successful revision (or serving fleet) */
    enum deployment_type type;
    bool traffic_may_have_moved; /* deployment_step_needs_traffic_rollback of its step */
};

/* What ending looks like. */
struct deployment_rollback_plan {
    enum deployment_status status; /* Failed, or Stopped for a stop on request */
    enum deployment_error error;   /* MANUAL_STOP, ALARM_ACTIVE, or <failure_error> */
    bool flip_traffic_back;        /* ROLLBACK_TRAFFIC first: original fleet 100 % */
    bool create_rollback;          /* a new deployment, creator "rollback" */
    bool rollback_is_restore;      /* blue/green: restore the original fleet (no reinstall) */
};

/* Decides how a deployment ends. A rollback is created when auto rollback covers the cause
 * (for a stop on request, stop_rollback overrides the group: 1 forces, 0 prevents), the group
 * has a last good revision, and the ending deployment is not itself a rollback. Traffic is
 * flipped back whenever it may have moved, rollback or not. <failure_error> is the code for
 * DEPLOYMENT_END_FAILURE. */
void deployment_plan_ending(const struct deployment_rollback_conf *conf,
                            const struct deployment_ending *e, enum deployment_error failure_error,
                            struct deployment_rollback_plan *out);

#endif /* SERVER_DEPLOYMENT_H */
