/* SPDX-License-Identifier: ISC */
/* The admin API's resources other than groups and configs: deploymentInfo (get-deployment,
 * exactly as DESIGN.md), create-deployment requests, instance summaries with their lifecycle
 * events, on-premises instances, revisions and applications. Shapes follow CodeDeploy's API;
 * cutover's additions are marked *.
 *
 * A _parse allocates everything in the result's arena (freed by _fini) and accepts unknown
 * keys; a struct built for a _format borrows everything and leaves its arena zeroed. */
#ifndef PROTOCOL_DEPLOY_INFO_H
#define PROTOCOL_DEPLOY_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/deploy.h"
#include "protocol/deploy_agent.h"

struct err;

/* deploymentOverview: how many instances are in each status. */
struct deploy_overview {
    uint32_t pending, in_progress, succeeded, failed, skipped, ready;
};

/* {"deploymentInfo":{"deploymentId","applicationName","deploymentGroupName",
 *   "deploymentConfigName","revision":{"revisionType":"Cutover","revisionId","sha256"},
 *   "status","errorInformation":{"code","message"} (only when failed/stopped),
 *   "rollbackInfo":{"rollbackDeploymentId","rollbackTriggeringDeploymentId",
 *                   "rollbackMessage"} (only when set),
 *   "creator":"user"|"rollback","description","createTime","startTime","completeTime",
 *   "deploymentOverview":{"Pending","InProgress","Succeeded","Failed","Skipped","Ready"},
 *   "deploymentStyle":{"deploymentType","deploymentOption"},
 *   "fileExistsBehavior","ignoreApplicationStopFailures",
 *   "autoRollbackConfiguration":{"enabled"} (only when the request overrode it),
 *   *"progress": <the orchestrator's step JSON, verbatim>}}
 * The CLI's --wait reads "progress" for display: keys it knows are "phase" (string),
 * "traffic" ({"<targetGroup>": weight, …}) and "alarm" (name of an active alarm). */
struct deploy_info {
    struct arena arena;
    const char *deployment_id;
    const char *application_name;
    const char *group_name;
    const char *config_name;
    const char *revision_id; /* "sha256:<hex>" */
    enum deploy_status status;
    enum deploy_error_code error_code; /* NONE: no errorInformation */
    const char *error_message;
    const char *rollback_deployment_id;            /* the rollback that undid this one */
    const char *rollback_triggering_deployment_id; /* this is a rollback of that one */
    const char *rollback_message;
    const char *creator; /* "user" or "rollback" */
    const char *description;
    int64_t create_ms, start_ms, complete_ms;
    struct deploy_overview overview;
    enum deploy_type type;
    enum deploy_option option;
    enum deploy_file_exists file_exists;
    bool ignore_application_stop_failures;
    int auto_rollback_override; /* -1: group's setting, 0: disabled, 1: enabled */
    const char *progress_json;  /* JSON object text or NULL */
};
int deploy_info_parse(const char *json, size_t len, struct deploy_info *out, struct err *err);
void deploy_info_fini(struct deploy_info *d);
char *deploy_info_format(const struct deploy_info *d);
/* {"deployments":["d-…", …]} */
char *deploy_info_list_format(const char *const *ids, size_t n);

/* The answer to create-deployment: {"deploymentId":"d-…"}. */
char *deploy_info_id_format(const char *deployment_id);
int deploy_info_id_parse(const char *json, size_t len, struct arena *arena, const char **id,
                         struct err *err);
/* stop-deployment body: {"autoRollbackEnabled":true|false}; absent or empty body: -1. */
int deploy_info_stop_parse(const char *json, size_t len, int *auto_rollback, struct err *err);
char *deploy_info_stop_format(int auto_rollback);

/* POST /v1/deployments: {"applicationName","deploymentGroupName","revision":{"revisionId"},
 *   "deploymentConfigName" (optional: the group's), "description", "fileExistsBehavior",
 *   "ignoreApplicationStopFailures", "autoRollbackConfiguration":{"enabled"}} */
struct deploy_create_request {
    struct arena arena;
    const char *application_name;
    const char *group_name;
    const char *revision_id;
    const char *config_name; /* NULL: the group's */
    const char *description; /* NULL: none */
    enum deploy_file_exists file_exists;
    bool ignore_application_stop_failures;
    int auto_rollback_override; /* -1 none, 0, 1 */
};
int deploy_info_request_parse(const char *json, size_t len, struct deploy_create_request *out,
                              struct err *err);
void deploy_info_request_fini(struct deploy_create_request *r);
char *deploy_info_request_format(const struct deploy_create_request *r);

/* One lifecycle event of one instance in one deployment. */
struct deploy_event {
    const char *name; /* "BeforeInstall" … */
    enum deploy_event_status status;
    int64_t start_ms, end_ms;
    struct deploy_diagnostics diag;
};

/* {"instanceSummary":{"deploymentId","instanceId","status","lastUpdatedAt","instanceType",
 *   *"target", "lifecycleEvents":[{"lifecycleEventName","status","startTime","endTime",
 *   "diagnostics":{"errorCode","scriptName","message","logTail",*"exitCode"}}]}} */
struct deploy_instance_summary {
    const char *deployment_id;
    const char *instance_id; /* the instance name */
    enum deploy_instance_status status;
    int64_t last_updated_ms;
    enum deploy_instance_type instance_type;
    const char *target; /* NULL: unknown */
    struct deploy_event *events;
    size_t nevents;
};

struct deploy_instance_summaries {
    struct arena arena;
    struct deploy_instance_summary *items;
    size_t n;
};
/* {"instanceSummary":{…}} for one, {"instancesList":[names], *"instanceSummaries":[…]} for a
 * list. The parse accepts either shape (n is 1 for the single one). */
char *deploy_info_instance_format(const struct deploy_instance_summary *s);
char *deploy_info_instances_format(const struct deploy_instance_summary *items, size_t n);
int deploy_info_instances_parse(const char *json, size_t len, struct deploy_instance_summaries *out,
                                struct err *err);
void deploy_info_instances_fini(struct deploy_instance_summaries *l);

/* On-premises instances: POST /v1/instances {"instanceName","tags":[{"Key","Value"}],
 * *"target"}; GET /v1/instances → {"instanceInfos":[{"instanceName","tags","registerTime",
 * *"target", *"agentVersion", *"lastHeartbeat", *"status":"Online"|"Offline"|"Registered"}]} */
struct deploy_onprem {
    const char *name;
    struct deploy_tag *tags;
    size_t ntags;
    const char *target;        /* NULL: none */
    const char *agent_version; /* NULL: no agent registered yet */
    int64_t register_ms;
    int64_t last_heartbeat_ms; /* 0: never */
    const char *status;        /* computed by the server; NULL in requests */
};
struct deploy_onprem_list {
    struct arena arena;
    struct deploy_onprem *items;
    size_t n;
};
/* Parses a register request (one instance, n == 1) or an instanceInfos list. */
int deploy_info_onprem_list_parse(const char *json, size_t len, struct deploy_onprem_list *out,
                                  struct err *err);
void deploy_info_onprem_list_fini(struct deploy_onprem_list *l);
char *deploy_info_onprem_request_format(const struct deploy_onprem *o);
char *deploy_info_onprem_list_format(const struct deploy_onprem *items, size_t n);

/* Revisions: POST /v1/applications/{app}/revisions (raw bundle body, header
 * X-Cutover-Bundle-Type: tgz|tar|zip) → {"revisionId":"sha256:…","sha256":…,"bundleType":…,
 * "size":N,"applicationName":…,"registerTime":…} */
struct deploy_revision {
    struct arena arena;
    const char *revision_id; /* "sha256:<hex>" */
    const char *sha256;      /* <hex> */
    const char *application_name;
    const char *bundle_type;
    uint64_t size;
    int64_t register_ms;
};
int deploy_info_revision_parse(const char *json, size_t len, struct deploy_revision *out,
                               struct err *err);
void deploy_info_revision_fini(struct deploy_revision *r);
char *deploy_info_revision_format(const struct deploy_revision *r);

/* Applications: POST /v1/applications {"applicationName":"web"};
 * GET → {"applications":["web", …]}. */
int deploy_info_application_parse(const char *json, size_t len, struct arena *arena,
                                  const char **name_out, struct err *err);
char *deploy_info_application_format(const char *name);
char *deploy_info_application_list_format(const char *const *names, size_t n);

/* `cutover server init --output json`: {"config","database","adminTokenFile","enrollTokenFile",
 * "listen"}. */
char *deploy_info_server_init_format(const char *config, const char *database, const char *admin,
                                     const char *enroll, const char *listen);

/* {"error":"message", *"code":"DeploymentAlreadyActive", *"deploymentId":…} — every non-2xx
 * answer of the API. <code> and <deployment_id> may be NULL. */
char *deploy_info_error_format(const char *code, const char *message, const char *deployment_id);
/* Extracts "error" (and "deploymentId" if present) into <arena>. Returns 0 or -EINVAL. */
int deploy_info_error_parse(const char *json, size_t len, struct arena *arena, const char **message,
                            const char **deployment_id);

#endif /* PROTOCOL_DEPLOY_INFO_H */
