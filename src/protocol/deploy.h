/* SPDX-License-Identifier: ISC */
/* The control plane's vocabulary, named as CodeDeploy names it: deployment, instance and
 * lifecycle-event statuses, error codes, deployment types and options, and RFC 3339 times.
 * Every enum has a _name() (the wire spelling) and a _parse() (exact, case-sensitive match).
 * server/deployment.c owns the transitions between these statuses; this file owns the words.
 * The numeric values of the statuses and error codes equal server/deployment.h's (store.c
 * checks it with static asserts), so the server may convert between them with a cast.
 * Times on the wire are RFC 3339 UTC with milliseconds; in memory and in the store they are
 * int64 milliseconds since the epoch, 0 meaning "not yet". */
#ifndef PROTOCOL_DEPLOY_H
#define PROTOCOL_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum deploy_status {
    DEPLOY_CREATED = 0, /* accepted, not yet picked up by the orchestrator */
    DEPLOY_QUEUED,      /* waiting for another deployment of the group (unused by default) */
    DEPLOY_IN_PROGRESS, /* instances being deployed or traffic moving */
    DEPLOY_READY,       /* blue/green: replacement ready, waiting for continue-deployment */
    DEPLOY_SUCCEEDED,
    DEPLOY_FAILED,
    DEPLOY_STOPPED,
};
#define DEPLOY_STATUS_COUNT 7

enum deploy_event_status {
    DEPLOY_EVENT_PENDING = 0,
    DEPLOY_EVENT_IN_PROGRESS,
    DEPLOY_EVENT_SUCCEEDED,
    DEPLOY_EVENT_FAILED,
    DEPLOY_EVENT_SKIPPED,
    DEPLOY_EVENT_UNKNOWN,
};

/* An instance's status within one deployment (InstanceSummary.status). */
enum deploy_instance_status {
    DEPLOY_INSTANCE_PENDING = 0,
    DEPLOY_INSTANCE_IN_PROGRESS,
    DEPLOY_INSTANCE_SUCCEEDED,
    DEPLOY_INSTANCE_FAILED,
    DEPLOY_INSTANCE_SKIPPED,
    DEPLOY_INSTANCE_READY, /* blue/green: replacement ready, or original kept during the wait */
    DEPLOY_INSTANCE_UNKNOWN,
};

/* errorInformation.code of a deployment. */
enum deploy_error_code {
    DEPLOY_ERR_NONE = 0, /* no errorInformation */
    DEPLOY_ERR_SCRIPT_FAILED,
    DEPLOY_ERR_HEALTH_CONSTRAINTS,
    DEPLOY_ERR_HEALTH_CONSTRAINTS_INVALID,
    DEPLOY_ERR_TIMEOUT,
    DEPLOY_ERR_AGENT_ISSUE,
    DEPLOY_ERR_ALARM_ACTIVE,
    DEPLOY_ERR_MANUAL_STOP,
    DEPLOY_ERR_NO_INSTANCES,
    DEPLOY_ERR_REVISION_MISSING,
    DEPLOY_ERR_DEPLOYMENT_GROUP_MISSING,
    DEPLOY_ERR_ELASTIC_LOAD_BALANCING_INVALID, /* the proxy admin API refused or is unreachable */
    DEPLOY_ERR_INTERNAL_ERROR,                 /* e.g. server restarted and could not resume */
    DEPLOY_ERR_INVALID_REVISION,
    DEPLOY_ERR_APPLICATION_MISSING,
};

/* Lifecycle event diagnostics.errorCode (what the agent reports). */
enum deploy_diag_code {
    DEPLOY_DIAG_SUCCESS = 0,
    DEPLOY_DIAG_SCRIPT_MISSING,        /* code 1 */
    DEPLOY_DIAG_SCRIPT_NOT_EXECUTABLE, /* code 2 */
    DEPLOY_DIAG_SCRIPT_TIMED_OUT,      /* code 3 */
    DEPLOY_DIAG_SCRIPT_FAILED,         /* code 4 */
    DEPLOY_DIAG_UNKNOWN_ERROR,         /* code 5, and 7: agent restarted mid-event */
};

enum deploy_type {
    DEPLOY_TYPE_IN_PLACE = 0,
    DEPLOY_TYPE_BLUE_GREEN,
};

enum deploy_option {
    DEPLOY_OPTION_WITHOUT_TRAFFIC_CONTROL = 0,
    DEPLOY_OPTION_WITH_TRAFFIC_CONTROL,
};

enum deploy_min_healthy_type {
    DEPLOY_MIN_HEALTHY_HOST_COUNT = 0,
    DEPLOY_MIN_HEALTHY_FLEET_PERCENT,
};

enum deploy_traffic_type {
    DEPLOY_TRAFFIC_ALL_AT_ONCE = 0, /* "AllAtOnce" */
    DEPLOY_TRAFFIC_TIME_BASED_CANARY,
    DEPLOY_TRAFFIC_TIME_BASED_LINEAR,
};

enum deploy_ready_action {
    DEPLOY_READY_CONTINUE = 0, /* CONTINUE_DEPLOYMENT */
    DEPLOY_READY_STOP,         /* STOP_DEPLOYMENT: wait for continue-deployment */
};

enum deploy_termination_action {
    DEPLOY_TERMINATION_KEEP_ALIVE = 0, /* original fleet stays registered but gets no traffic */
    DEPLOY_TERMINATION_TERMINATE, /* original fleet runs its BlockTraffic hooks after the wait */
};

/* autoRollbackConfiguration.events, as a bit mask. */
enum deploy_rollback_event {
    DEPLOY_ROLLBACK_ON_FAILURE = 1 << 0,      /* DEPLOYMENT_FAILURE */
    DEPLOY_ROLLBACK_ON_ALARM = 1 << 1,        /* DEPLOYMENT_STOP_ON_ALARM */
    DEPLOY_ROLLBACK_ON_STOP_REQUEST = 1 << 2, /* DEPLOYMENT_STOP_ON_REQUEST */
};

enum deploy_file_exists {
    DEPLOY_FILE_EXISTS_DISALLOW = 0,
    DEPLOY_FILE_EXISTS_OVERWRITE,
    DEPLOY_FILE_EXISTS_RETAIN,
};

/* InstanceSummary.instanceType of a blue/green deployment ("Blue" = original, "Green" =
 * replacement, as CodeDeploy says, whatever the fleets' tags are). */
enum deploy_instance_type {
    DEPLOY_INSTANCE_TYPE_NONE = 0, /* in-place: field omitted */
    DEPLOY_INSTANCE_TYPE_BLUE,
    DEPLOY_INSTANCE_TYPE_GREEN,
};

const char *deploy_status_name(enum deploy_status s);
int deploy_status_parse(const char *s, enum deploy_status *out);
/* Created, Queued, InProgress or Ready: the one deployment a group may have at a time. */
bool deploy_status_is_active(enum deploy_status s);

const char *deploy_event_status_name(enum deploy_event_status s);
int deploy_event_status_parse(const char *s, enum deploy_event_status *out);
const char *deploy_instance_status_name(enum deploy_instance_status s);
int deploy_instance_status_parse(const char *s, enum deploy_instance_status *out);
/* Returns "" for DEPLOY_ERR_NONE. */
const char *deploy_error_code_name(enum deploy_error_code c);
int deploy_error_code_parse(const char *s, enum deploy_error_code *out);
const char *deploy_diag_code_name(enum deploy_diag_code c);
int deploy_diag_code_parse(const char *s, enum deploy_diag_code *out);
const char *deploy_type_name(enum deploy_type t);
int deploy_type_parse(const char *s, enum deploy_type *out);
const char *deploy_option_name(enum deploy_option o);
int deploy_option_parse(const char *s, enum deploy_option *out);
const char *deploy_min_healthy_type_name(enum deploy_min_healthy_type t);
int deploy_min_healthy_type_parse(const char *s, enum deploy_min_healthy_type *out);
const char *deploy_traffic_type_name(enum deploy_traffic_type t);
int deploy_traffic_type_parse(const char *s, enum deploy_traffic_type *out);
const char *deploy_ready_action_name(enum deploy_ready_action a);
int deploy_ready_action_parse(const char *s, enum deploy_ready_action *out);
const char *deploy_termination_action_name(enum deploy_termination_action a);
int deploy_termination_action_parse(const char *s, enum deploy_termination_action *out);
/* One event name ("DEPLOYMENT_FAILURE"…) to its bit. */
const char *deploy_rollback_event_name(enum deploy_rollback_event e);
int deploy_rollback_event_parse(const char *s, enum deploy_rollback_event *out);
const char *deploy_file_exists_name(enum deploy_file_exists f);
int deploy_file_exists_parse(const char *s, enum deploy_file_exists *out);
/* "" for NONE, "Blue", "Green". */
const char *deploy_instance_type_name(enum deploy_instance_type t);
int deploy_instance_type_parse(const char *s, enum deploy_instance_type *out);
/* parse functions all return 0 or -EINVAL. */

/* A tag on an instance, or a KEY_AND_VALUE tag filter. */
struct deploy_tag {
    const char *key;
    const char *value;
};

#define DEPLOY_TIME_MAX 32
/* Formats <ms> as "2026-11-22T01:02:03.456Z" into buf (DEPLOY_TIME_MAX bytes); "" when ms == 0.
 * Returns buf. */
char *deploy_time_format(int64_t ms, char *buf);
/* Parses RFC 3339 ("…Z" or "…+01:00", optional fraction). Returns 0 or -EINVAL. */
int deploy_time_parse(const char *s, int64_t *out_ms);
/* Wall clock now, in ms since the epoch. */
int64_t deploy_time_now_ms(void);

/* Interval fields accept CodeDeploy's integer minutes (JSON number) or a duration string
 * ("20s", "5m"); see deploy_group.h. */

#endif /* PROTOCOL_DEPLOY_H */
