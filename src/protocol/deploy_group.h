/* SPDX-License-Identifier: ISC */
/* Deployment groups (group.json, the body of create/update-deployment-group, DESIGN.md
 * "Control plane") and deployment configs. Parsing is strict: an unknown key or a wrong type
 * is an error naming its JSON path ("group.json:3:5: blueGreenFleets[1].tag: expected an
 * object with Key and Value"), so a typo never silently changes nothing.
 *
 * group.json keys (CodeDeploy's, plus cutover's marked *):
 *   applicationName, deploymentGroupName, deploymentConfigName (default
 *   CodeDeployDefault.OneAtATime), deploymentStyle{deploymentType, deploymentOption},
 *   onPremisesInstanceTagFilters[{Key, Value, Type:"KEY_AND_VALUE"}]   (IN_PLACE)
 *   *blueGreenFleets[2]{tag{Key, Value}, targetGroup}                   (BLUE_GREEN)
 *   loadBalancerInfo{*proxyAdmin, *listener, *testListener, *targetGroup (IN_PLACE),
 *                    targetGroupInfoList[{name}] (IN_PLACE, CodeDeploy's spelling)}
 *   trafficRoutingConfig{type, timeBasedCanary{canaryPercentage, canaryInterval},
 *                        timeBasedLinear{linearPercentage, linearInterval}}
 *   blueGreenDeploymentConfiguration{deploymentReadyOption{actionOnTimeout, waitTimeInMinutes},
 *                        terminateBlueInstancesOnDeploymentSuccess{action,
 *                                                                  terminationWaitTimeInMinutes}}
 *   autoRollbackConfiguration{enabled, events[]}
 *   alarmConfiguration{enabled, ignorePollAlarmFailure, alarms[{name, *metric, *targetGroup,
 *                      *threshold, *window}]}
 *   triggerConfigurations[{triggerName, *url, triggerEvents[]}]
 *   *healthCheck{timeout} (how long the orchestrator waits for a target to turn healthy)
 * Intervals: integer minutes (CodeDeploy) or a duration string ("20s", "5m"). */
#ifndef PROTOCOL_DEPLOY_GROUP_H
#define PROTOCOL_DEPLOY_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/deploy.h"

struct err;

struct deploy_fleet {
    struct deploy_tag tag;    /* instances whose tag Key has this Value */
    const char *target_group; /* proxy target group this fleet's targets go in */
};

struct deploy_alarm {
    const char *name;
    const char *metric;       /* "target_5xx_ratio", "target_p99_seconds" (deployment_metric_parse
                               * validates it in the server) */
    const char *target_group; /* "replacement", "original", or a target group name */
    double threshold;         /* alarm when the metric is above this */
    uint64_t window_ms;       /* evaluation window, default 30 s */
};

/* Webhook trigger (triggerConfigurations[]). */
struct deploy_trigger {
    const char *name;
    const char *url;     /* http(s) URL the JSON event is POSTed to */
    const char **events; /* "DeploymentStart", "InstanceFailure", …; nevents entries */
    size_t nevents;
};

struct deploy_group {
    struct arena arena; /* owns every string and array below after deploy_group_parse */
    const char *application_name;
    const char *name;
    const char *config_name;
    enum deploy_type type;
    enum deploy_option option;
    struct deploy_tag *tag_filters; /* IN_PLACE instance selection (AND of KEY_AND_VALUE) */
    size_t ntag_filters;
    struct deploy_fleet fleets[2]; /* BLUE_GREEN: exactly two */
    size_t nfleets;
    /* loadBalancerInfo: proxy_admin NULL when the group has no load balancer */
    const char *proxy_admin;   /* "http://127.0.0.1:9901" */
    const char *listener;      /* listener whose forward action is shifted */
    const char *test_listener; /* NULL: none */
    const char *target_group;  /* IN_PLACE: deregistered/registered around each host, or NULL */
    /* trafficRoutingConfig */
    enum deploy_traffic_type traffic_type;
    uint32_t traffic_percentage; /* canary/linear step, 1..99 */
    uint64_t traffic_interval_ms;
    /* blueGreenDeploymentConfiguration */
    enum deploy_ready_action ready_action;
    uint64_t ready_wait_ms; /* STOP_DEPLOYMENT: fail after this without continue (0: forever) */
    enum deploy_termination_action termination_action;
    uint64_t termination_wait_ms;
    /* autoRollbackConfiguration */
    bool rollback_enabled;
    unsigned rollback_events; /* enum deploy_rollback_event bits */
    /* alarmConfiguration */
    bool alarms_enabled;
    bool ignore_poll_alarm_failure;
    struct deploy_alarm *alarms;
    size_t nalarms;
    struct deploy_trigger *triggers;
    size_t ntriggers;
    uint64_t health_timeout_ms; /* healthCheck.timeout, default 5 min */
};

/* Parses group.json text (<len> bytes). <name> labels messages ("group.json", "request body").
 * On success fills *out (deploy_group_fini frees it); on error fills <err> with
 * "<name>:LINE:COL: <path>: what (expected what)" or "<name>: <path>: …" and leaves nothing to
 * free. Returns 0, -EINVAL. */
int deploy_group_parse(const char *json, size_t len, const char *name, struct deploy_group *out,
                       struct err *err);
void deploy_group_fini(struct deploy_group *g);

/* GET deployment-group answer: {"deploymentGroupInfo": <group json as stored, plus
 * "deploymentGroupId": id>}. <group_json> is the text that parsed; returns a malloc'd string
 * or NULL if <group_json> is not a JSON object. */
char *deploy_group_info_format(const char *group_json, const char *group_id);
/* The answer to create/update-deployment-group: {"deploymentGroupId":"<uuid>"}. */
char *deploy_group_id_format(const char *group_id);
/* {"deploymentGroups":["prod", …]} */
char *deploy_group_list_format(const char *application_name, const char *const *names, size_t n);

/* Deployment configs: POST /v1/deployment-configs
 *   {"deploymentConfigName":"Two","minimumHealthyHosts":{"type":"HOST_COUNT","value":2}} */
struct deploy_config {
    struct arena arena; /* owns name after a parse */
    const char *name;
    enum deploy_min_healthy_type min_healthy_type;
    uint32_t min_healthy_value; /* hosts, or percent 0..100 */
};

/* The built-in configs (seeded in the store; server/deployment.c's
 * deployment_config_builtin() gives their meaning): AllAtOnce HOST_COUNT 0, HalfAtATime
 * FLEET_PERCENT 50, OneAtATime HOST_COUNT 1 as listed by get-deployment-config. */
#define DEPLOY_CONFIG_NBUILTINS 3
/* Built-in config <i> (0..DEPLOY_CONFIG_NBUILTINS-1), or NULL. */
const struct deploy_config *deploy_group_config_builtin(size_t i);
#define DEPLOY_CONFIG_DEFAULT "CodeDeployDefault.OneAtATime"

int deploy_group_config_parse(const char *json, size_t len, struct deploy_config *out,
                              struct err *err);
void deploy_group_config_fini(struct deploy_config *c);
/* {"deploymentConfigInfo":{"deploymentConfigName", "minimumHealthyHosts":{"type","value"}}} */
char *deploy_group_config_format(const struct deploy_config *c);
/* Request body as the CLI sends it (no wrapper). */
char *deploy_group_config_request_format(const struct deploy_config *c);

#endif /* PROTOCOL_DEPLOY_GROUP_H */
