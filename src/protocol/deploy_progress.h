/* SPDX-License-Identifier: ISC */
/* The orchestrator's persisted progress of one deployment (the JSON object stored with the
 * deployment and shown verbatim as deploymentInfo.progress), and the JSON body of a webhook
 * trigger notification. The only place these field names appear.
 *
 *   {"phase":"shift","stepTime":1763773200123,"shift":0,"percent":10,"applied":true,
 *    "originalFleet":0,"restore":false,"continued":false,"batch":1,
 *    "traffic":{"blue":90,"green":10},"alarm":"errors",
 *    "ending":{"cause":"DEPLOYMENT_STOP_ON_ALARM","code":"ALARM_ACTIVE","message":"…",
 *              "stopRollback":-1}}
 *
 * The deploy CLI's --wait reads "phase", "traffic" and "alarm". */
#ifndef PROTOCOL_DEPLOY_PROGRESS_H
#define PROTOCOL_DEPLOY_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

struct err;

struct deploy_progress {
    struct arena arena; /* owns the strings after a _parse */
    const char *phase;  /* server/deployment.h step name ("start" … "done") */
    int64_t step_ms;    /* wall clock (ms since the epoch) when the phase began */
    uint32_t shift;     /* SHIFT: index of the traffic split */
    uint32_t percent;   /* traffic on the replacement as last verified on the proxy */
    bool applied;       /* SHIFT/ROLLBACK_TRAFFIC: this phase's proxy change is verified */
    int original_fleet; /* blue/green: index of the original fleet; -1 in place */
    bool restore;       /* blue/green rollback: the original fleet takes traffic back */
    bool continued;     /* continue-deployment received (READY_WAIT) */
    uint32_t batch;     /* in place: hosts in flight at most */
    const char *traffic_names[2]; /* "traffic": target group → weight, as last verified */
    uint32_t traffic_weights[2];
    size_t ntraffic;
    const char *alarm;       /* the alarm that fired, or NULL */
    const char *end_cause;   /* NULL until the deployment is decided to end */
    const char *end_code;    /* errorInformation.code it will end with */
    const char *end_message; /* errorInformation.message */
    int stop_rollback;       /* stop-deployment's autoRollbackEnabled: -1, 0, 1 */
};

/* Zeroes <p> and sets the defaults (original_fleet -1, stop_rollback -1, phase "start"). */
void deploy_progress_init(struct deploy_progress *p);
/* A malloc'd compact JSON object (never NULL). Borrows <p>. */
char *deploy_progress_format(const struct deploy_progress *p);
/* Parses <len> bytes (lenient: unknown keys ignored, missing keys keep their defaults).
 * Returns 0 or -EINVAL with a message; nothing to free on failure. */
int deploy_progress_parse(struct deploy_progress *out, const char *text, size_t len,
                          struct err *err);
void deploy_progress_fini(struct deploy_progress *p);

/* One webhook notification (triggerConfigurations[].triggerEvents names: DeploymentStart,
 * DeploymentSuccess, DeploymentFailure, DeploymentStop, DeploymentRollback, DeploymentReady,
 * InstanceStart, InstanceSuccess, InstanceFailure, InstanceReady):
 *   {"eventTriggerName","triggerEvent","applicationName","deploymentGroupName","deploymentId",
 *    "status","instanceId"?,"errorInformation":{"code","message"}?,"time"} */
struct deploy_progress_notice {
    const char *trigger_name;
    const char *event;
    const char *application_name;
    const char *group_name;
    const char *deployment_id;
    const char *status;        /* deployment or instance status */
    const char *instance;      /* NULL for deployment events */
    const char *error_code;    /* NULL or "": none */
    const char *error_message; /* NULL: none */
    int64_t at_ms;
};
char *deploy_progress_notice_format(const struct deploy_progress_notice *n);

#endif /* PROTOCOL_DEPLOY_PROGRESS_H */
