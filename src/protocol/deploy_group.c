/* SPDX-License-Identifier: ISC */
/* group.json and deployment configs. Strict: unknown keys are errors naming their path. */
#include "protocol/deploy_group.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/str.h"
#include "protocol/deploy_json.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define STRICT(o, path, ...)                                                                       \
    do {                                                                                           \
        static const char *const keys_[] = {__VA_ARGS__};                                          \
        int rc_ = deploy_json_strict((o), keys_, NELEMS(keys_), (path), err);                      \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

static const struct deploy_config builtins[DEPLOY_CONFIG_NBUILTINS] = {
    {.name = "CodeDeployDefault.AllAtOnce",
     .min_healthy_type = DEPLOY_MIN_HEALTHY_HOST_COUNT,
     .min_healthy_value = 0},
    {.name = "CodeDeployDefault.HalfAtATime",
     .min_healthy_type = DEPLOY_MIN_HEALTHY_FLEET_PERCENT,
     .min_healthy_value = 50},
    {.name = "CodeDeployDefault.OneAtATime",
     .min_healthy_type = DEPLOY_MIN_HEALTHY_HOST_COUNT,
     .min_healthy_value = 1},
};

/* Reads optional string <key> of <o> and maps it with <fn> into *<out>. */
#define ENUM_FIELD(o, key, path, fn, out, expected)                                                \
    do {                                                                                           \
        const char *s_;                                                                            \
        TRY(deploy_json_str((o), (key), false, &g->arena, &s_, (path), err));                      \
        if (s_ != NULL && fn(s_, (out)) != 0)                                                      \
            return err_set(err, -EINVAL, "%s.%s: '%s' (expected %s)", (path), (key), s_,           \
                           (expected));                                                            \
    } while (0)

const struct deploy_config *
deploy_group_config_builtin(size_t i)
{
    return i < DEPLOY_CONFIG_NBUILTINS ? &builtins[i] : NULL;
}

static int
parse_tag(json_t *o, struct arena *a, struct deploy_tag *t, const char *path, struct err *err)
{
    const char *type = NULL;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object with Key and Value", path);
    STRICT(o, path, "Key", "Value", "Type");
    TRY(deploy_json_str(o, "Key", true, a, &t->key, path, err));
    TRY(deploy_json_str(o, "Value", true, a, &t->value, path, err));
    TRY(deploy_json_str(o, "Type", false, a, &type, path, err));
    if (type != NULL && strcmp(type, "KEY_AND_VALUE") != 0)
        return err_set(err, -EINVAL, "%s.Type: '%s' (expected KEY_AND_VALUE)", path, type);
    return 0;
}

static int
parse_style(struct deploy_group *g, json_t *root, struct err *err)
{
    json_t *o;

    TRY(deploy_json_obj(root, "deploymentStyle", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, "group.deploymentStyle", "deploymentType", "deploymentOption");
    ENUM_FIELD(o, "deploymentType", "group.deploymentStyle", deploy_type_parse, &g->type,
               "IN_PLACE or BLUE_GREEN");
    ENUM_FIELD(o, "deploymentOption", "group.deploymentStyle", deploy_option_parse, &g->option,
               "WITH_TRAFFIC_CONTROL or WITHOUT_TRAFFIC_CONTROL");
    return 0;
}

static int
parse_tag_filters(struct deploy_group *g, json_t *root, struct err *err)
{
    json_t *arr;

    TRY(deploy_json_arr(root, "onPremisesInstanceTagFilters", &arr, "group", err));
    if (arr == NULL)
        return 0;
    g->ntag_filters = json_array_size(arr);
    g->tag_filters = arena_calloc(&g->arena, g->ntag_filters + 1, sizeof(*g->tag_filters));
    for (size_t i = 0; i < g->ntag_filters; i++) {
        char path[64];

        snprintf(path, sizeof(path), "group.onPremisesInstanceTagFilters[%zu]", i);
        TRY(parse_tag(json_array_get(arr, i), &g->arena, &g->tag_filters[i], path, err));
    }
    return 0;
}

static int
parse_fleets(struct deploy_group *g, json_t *root, struct err *err)
{
    json_t *arr;

    TRY(deploy_json_arr(root, "blueGreenFleets", &arr, "group", err));
    if (arr == NULL)
        return 0;
    if (json_array_size(arr) != 2)
        return err_set(err, -EINVAL, "group.blueGreenFleets: %zu fleets (expected exactly 2)",
                       json_array_size(arr));
    g->nfleets = 2;
    for (size_t i = 0; i < 2; i++) {
        json_t *f = json_array_get(arr, i), *tag;
        char path[48];

        snprintf(path, sizeof(path), "group.blueGreenFleets[%zu]", i);
        if (!json_is_object(f))
            return err_set(err, -EINVAL, "%s: expected an object with tag and targetGroup", path);
        STRICT(f, path, "tag", "targetGroup");
        TRY(deploy_json_str(f, "targetGroup", true, &g->arena, &g->fleets[i].target_group, path,
                            err));
        if ((tag = json_object_get(f, "tag")) == NULL)
            return err_set(err, -EINVAL, "%s.tag: missing (expected {\"Key\":…,\"Value\":…})",
                           path);
        snprintf(path, sizeof(path), "group.blueGreenFleets[%zu].tag", i);
        TRY(parse_tag(tag, &g->arena, &g->fleets[i].tag, path, err));
    }
    if (strcmp(g->fleets[0].target_group, g->fleets[1].target_group) == 0)
        return err_set(err, -EINVAL,
                       "group.blueGreenFleets: both fleets use target group '%s' (expected two "
                       "different ones)",
                       g->fleets[0].target_group);
    return 0;
}

static int
parse_lb(struct deploy_group *g, json_t *root, struct err *err)
{
    const char *p = "group.loadBalancerInfo";
    json_t *o, *tgl;

    TRY(deploy_json_obj(root, "loadBalancerInfo", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, p, "proxyAdmin", "listener", "testListener", "targetGroup", "targetGroupInfoList");
    TRY(deploy_json_str(o, "proxyAdmin", true, &g->arena, &g->proxy_admin, p, err));
    TRY(deploy_json_str(o, "listener", false, &g->arena, &g->listener, p, err));
    TRY(deploy_json_str(o, "testListener", false, &g->arena, &g->test_listener, p, err));
    TRY(deploy_json_str(o, "targetGroup", false, &g->arena, &g->target_group, p, err));
    TRY(deploy_json_arr(o, "targetGroupInfoList", &tgl, p, err));
    if (tgl != NULL && json_array_size(tgl) > 0 && g->target_group == NULL) {
        json_t *first = json_array_get(tgl, 0);

        if (!json_is_object(first))
            return err_set(err, -EINVAL, "%s.targetGroupInfoList[0]: expected {\"name\":…}", p);
        TRY(deploy_json_str(first, "name", true, &g->arena, &g->target_group,
                            "group.loadBalancerInfo.targetGroupInfoList[0]", err));
    }
    return 0;
}

static int
parse_traffic(struct deploy_group *g, json_t *root, struct err *err)
{
    const char *p = "group.trafficRoutingConfig";
    const char *sub_key = NULL, *pct_key = NULL, *int_key = NULL;
    json_t *o, *sub;

    TRY(deploy_json_obj(root, "trafficRoutingConfig", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, p, "type", "timeBasedCanary", "timeBasedLinear");
    ENUM_FIELD(o, "type", p, deploy_traffic_type_parse, &g->traffic_type,
               "AllAtOnce, TimeBasedCanary or TimeBasedLinear");
    switch (g->traffic_type) {
    case DEPLOY_TRAFFIC_ALL_AT_ONCE:
        return 0;
    case DEPLOY_TRAFFIC_TIME_BASED_CANARY:
        sub_key = "timeBasedCanary", pct_key = "canaryPercentage", int_key = "canaryInterval";
        break;
    case DEPLOY_TRAFFIC_TIME_BASED_LINEAR:
        sub_key = "timeBasedLinear", pct_key = "linearPercentage", int_key = "linearInterval";
        break;
    }
    TRY(deploy_json_obj(o, sub_key, &sub, p, err));
    if (sub == NULL)
        return err_set(err, -EINVAL, "%s.%s: missing (expected {\"%s\":…,\"%s\":…})", p, sub_key,
                       pct_key, int_key);
    {
        char path[64];

        snprintf(path, sizeof(path), "%s.%s", p, sub_key);
        const char *const keys[] = {pct_key, int_key};

        TRY(deploy_json_strict(sub, keys, 2, path, err));
        if (json_object_get(sub, pct_key) == NULL || json_object_get(sub, int_key) == NULL)
            return err_set(err, -EINVAL, "%s: expected both %s and %s", path, pct_key, int_key);
        TRY(deploy_json_u32(sub, pct_key, 1, 99, &g->traffic_percentage, path, err));
        return deploy_json_interval(sub, int_key, &g->traffic_interval_ms, path, err);
    }
}

static int
parse_bg_config(struct deploy_group *g, json_t *root, struct err *err)
{
    const char *p = "group.blueGreenDeploymentConfiguration";
    json_t *o, *ready, *term;

    TRY(deploy_json_obj(root, "blueGreenDeploymentConfiguration", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, p, "deploymentReadyOption", "terminateBlueInstancesOnDeploymentSuccess");
    TRY(deploy_json_obj(o, "deploymentReadyOption", &ready, p, err));
    TRY(deploy_json_obj(o, "terminateBlueInstancesOnDeploymentSuccess", &term, p, err));
    if (ready != NULL) {
        const char *rp = "group.blueGreenDeploymentConfiguration.deploymentReadyOption";

        STRICT(ready, rp, "actionOnTimeout", "waitTimeInMinutes");
        ENUM_FIELD(ready, "actionOnTimeout", rp, deploy_ready_action_parse, &g->ready_action,
                   "CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT");
        TRY(deploy_json_interval(ready, "waitTimeInMinutes", &g->ready_wait_ms, rp, err));
    }
    if (term != NULL) {
        const char *tp = "group.blueGreenDeploymentConfiguration."
                         "terminateBlueInstancesOnDeploymentSuccess";

        STRICT(term, tp, "action", "terminationWaitTimeInMinutes");
        ENUM_FIELD(term, "action", tp, deploy_termination_action_parse, &g->termination_action,
                   "TERMINATE or KEEP_ALIVE");
        TRY(deploy_json_interval(term, "terminationWaitTimeInMinutes", &g->termination_wait_ms, tp,
                                 err));
    }
    return 0;
}

static int
parse_rollback(struct deploy_group *g, json_t *root, struct err *err)
{
    const char *p = "group.autoRollbackConfiguration";
    json_t *o, *evs;

    TRY(deploy_json_obj(root, "autoRollbackConfiguration", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, p, "enabled", "events");
    TRY(deploy_json_bool(o, "enabled", &g->rollback_enabled, p, err));
    TRY(deploy_json_arr(o, "events", &evs, p, err));
    for (size_t i = 0; evs != NULL && i < json_array_size(evs); i++) {
        json_t *e = json_array_get(evs, i);
        enum deploy_rollback_event bit;

        if (!json_is_string(e) || deploy_rollback_event_parse(json_string_value(e), &bit) != 0)
            return err_set(err, -EINVAL,
                           "%s.events[%zu]: expected DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM "
                           "or DEPLOYMENT_STOP_ON_REQUEST",
                           p, i);
        g->rollback_events |= (unsigned)bit;
    }
    return 0;
}

static int
parse_alarm(struct deploy_group *g, json_t *o, struct deploy_alarm *al, const char *path,
            struct err *err)
{
    json_t *th;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object", path);
    STRICT(o, path, "name", "metric", "targetGroup", "threshold", "window");
    TRY(deploy_json_str(o, "name", true, &g->arena, &al->name, path, err));
    TRY(deploy_json_str(o, "metric", false, &g->arena, &al->metric, path, err));
    TRY(deploy_json_str(o, "targetGroup", false, &g->arena, &al->target_group, path, err));
    if (al->metric == NULL)
        al->metric = "target_5xx_ratio";
    if (al->target_group == NULL)
        al->target_group = "replacement";
    al->window_ms = 30000;
    TRY(deploy_json_interval(o, "window", &al->window_ms, path, err));
    th = json_object_get(o, "threshold");
    if (th == NULL || !json_is_number(th))
        return err_set(err, -EINVAL, "%s.threshold: expected a number", path);
    al->threshold = json_number_value(th);
    return 0;
}

static int
parse_alarms(struct deploy_group *g, json_t *root, struct err *err)
{
    const char *p = "group.alarmConfiguration";
    json_t *o, *arr;

    TRY(deploy_json_obj(root, "alarmConfiguration", &o, "group", err));
    if (o == NULL)
        return 0;
    STRICT(o, p, "enabled", "ignorePollAlarmFailure", "alarms");
    TRY(deploy_json_bool(o, "enabled", &g->alarms_enabled, p, err));
    TRY(deploy_json_bool(o, "ignorePollAlarmFailure", &g->ignore_poll_alarm_failure, p, err));
    TRY(deploy_json_arr(o, "alarms", &arr, p, err));
    if (arr == NULL)
        return 0;
    g->nalarms = json_array_size(arr);
    g->alarms = arena_calloc(&g->arena, g->nalarms + 1, sizeof(*g->alarms));
    for (size_t i = 0; i < g->nalarms; i++) {
        char path[64];

        snprintf(path, sizeof(path), "%s.alarms[%zu]", p, i);
        TRY(parse_alarm(g, json_array_get(arr, i), &g->alarms[i], path, err));
    }
    return 0;
}

static int
parse_trigger(struct deploy_group *g, json_t *o, struct deploy_trigger *t, const char *path,
              struct err *err)
{
    json_t *evs;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object", path);
    STRICT(o, path, "triggerName", "url", "triggerEvents");
    TRY(deploy_json_str(o, "triggerName", false, &g->arena, &t->name, path, err));
    TRY(deploy_json_str(o, "url", true, &g->arena, &t->url, path, err));
    TRY(deploy_json_arr(o, "triggerEvents", &evs, path, err));
    t->nevents = evs != NULL ? json_array_size(evs) : 0;
    t->events = arena_calloc(&g->arena, t->nevents + 1, sizeof(*t->events));
    for (size_t i = 0; i < t->nevents; i++) {
        json_t *e = json_array_get(evs, i);

        if (!json_is_string(e))
            return err_set(err, -EINVAL, "%s.triggerEvents[%zu]: expected a string", path, i);
        t->events[i] = arena_strdup(&g->arena, json_string_value(e));
    }
    return 0;
}

static int
parse_triggers(struct deploy_group *g, json_t *root, struct err *err)
{
    json_t *arr;

    TRY(deploy_json_arr(root, "triggerConfigurations", &arr, "group", err));
    if (arr == NULL)
        return 0;
    g->ntriggers = json_array_size(arr);
    g->triggers = arena_calloc(&g->arena, g->ntriggers + 1, sizeof(*g->triggers));
    for (size_t i = 0; i < g->ntriggers; i++) {
        char path[64];

        snprintf(path, sizeof(path), "group.triggerConfigurations[%zu]", i);
        TRY(parse_trigger(g, json_array_get(arr, i), &g->triggers[i], path, err));
    }
    return 0;
}

static int
check_group(struct deploy_group *g, struct err *err)
{
    if (g->type == DEPLOY_TYPE_BLUE_GREEN) {
        if (g->nfleets != 2)
            return err_set(err, -EINVAL,
                           "group.blueGreenFleets: missing (BLUE_GREEN expects two fleets)");
        if (g->proxy_admin == NULL || g->listener == NULL)
            return err_set(err, -EINVAL,
                           "group.loadBalancerInfo: BLUE_GREEN expects proxyAdmin "
                           "and listener");
        g->option = DEPLOY_OPTION_WITH_TRAFFIC_CONTROL;
    } else if (g->nfleets != 0) {
        return err_set(err, -EINVAL,
                       "group.blueGreenFleets: only for BLUE_GREEN (IN_PLACE selects instances "
                       "with onPremisesInstanceTagFilters)");
    }
    if (g->target_group != NULL && g->proxy_admin == NULL)
        return err_set(err, -EINVAL, "group.loadBalancerInfo.proxyAdmin: missing");
    return 0;
}

static int
parse_group(struct deploy_group *g, json_t *root, struct err *err)
{
    json_t *hc;

    STRICT(root, "group", "applicationName", "deploymentGroupName", "deploymentConfigName",
           "deploymentStyle", "onPremisesInstanceTagFilters", "blueGreenFleets", "loadBalancerInfo",
           "trafficRoutingConfig", "blueGreenDeploymentConfiguration", "autoRollbackConfiguration",
           "alarmConfiguration", "triggerConfigurations", "healthCheck", "serviceRoleArn",
           "deploymentGroupId");
    TRY(deploy_json_str(root, "applicationName", true, &g->arena, &g->application_name, "group",
                        err));
    TRY(deploy_json_str(root, "deploymentGroupName", true, &g->arena, &g->name, "group", err));
    TRY(deploy_json_str(root, "deploymentConfigName", false, &g->arena, &g->config_name, "group",
                        err));
    if (g->config_name == NULL)
        g->config_name = DEPLOY_CONFIG_DEFAULT;
    g->health_timeout_ms = 300000;
    TRY(deploy_json_obj(root, "healthCheck", &hc, "group", err));
    if (hc != NULL) {
        STRICT(hc, "group.healthCheck", "timeout");
        TRY(deploy_json_interval(hc, "timeout", &g->health_timeout_ms, "group.healthCheck", err));
    }
    TRY(parse_style(g, root, err));
    TRY(parse_tag_filters(g, root, err));
    TRY(parse_fleets(g, root, err));
    TRY(parse_lb(g, root, err));
    TRY(parse_traffic(g, root, err));
    TRY(parse_bg_config(g, root, err));
    TRY(parse_rollback(g, root, err));
    TRY(parse_alarms(g, root, err));
    TRY(parse_triggers(g, root, err));
    return check_group(g, err);
}

int
deploy_group_parse(const char *json, size_t len, const char *name, struct deploy_group *out,
                   struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, name, err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 4096);
    rc = parse_group(out, root, err);
    json_decref(root);
    if (rc != 0) {
        char msg[ERR_MSG_MAX];

        if (err != NULL && strncmp(err->msg, "group", 5) == 0) { /* say which file */
            str_copy(msg, err->msg, sizeof(msg));
            err_set(err, rc, "%.64s: %.400s", name, msg);
        }
        deploy_group_fini(out);
    }
    return rc;
}

void
deploy_group_fini(struct deploy_group *g)
{
    arena_fini(&g->arena);
    memset(g, 0, sizeof(*g));
}

char *
deploy_group_info_format(const char *group_json, const char *group_id)
{
    json_t *g = json_loads(group_json, 0, NULL), *o;

    if (g == NULL || !json_is_object(g)) {
        json_decref(g);
        return NULL;
    }
    deploy_json_set_str(g, "deploymentGroupId", group_id);
    o = json_object();
    deploy_json_set(o, "deploymentGroupInfo", g);
    return deploy_json_dump(o);
}

char *
deploy_group_list_format(const char *application_name, const char *const *names, size_t n)
{
    json_t *o = json_object(), *arr = json_array();

    deploy_json_set_str(o, "applicationName", application_name);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, deploy_json_string(names[i]));
    deploy_json_set(o, "deploymentGroups", arr);
    return deploy_json_dump(o);
}

int
deploy_group_config_parse(const char *json, size_t len, struct deploy_config *out, struct err *err)
{
    const char *p = "config", *type = NULL;
    json_t *root, *mhh;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, p, err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 256);
    if ((rc = deploy_json_str(root, "deploymentConfigName", true, &out->arena, &out->name, p,
                              err)) ||
        (rc = deploy_json_obj(root, "minimumHealthyHosts", &mhh, p, err)))
        goto fail;
    if (mhh == NULL) {
        rc = err_set(err, -EINVAL,
                     "config.minimumHealthyHosts: missing (expected {\"type\":"
                     "\"HOST_COUNT\"|\"FLEET_PERCENT\",\"value\":N})");
        goto fail;
    }
    if ((rc = deploy_json_str(mhh, "type", true, &out->arena, &type, "config.minimumHealthyHosts",
                              err)) ||
        (rc = deploy_json_u32(mhh, "value", 0, 100000, &out->min_healthy_value,
                              "config.minimumHealthyHosts", err)))
        goto fail;
    if (deploy_min_healthy_type_parse(type, &out->min_healthy_type) != 0) {
        rc = err_set(err, -EINVAL,
                     "config.minimumHealthyHosts.type: '%s' (expected HOST_COUNT or "
                     "FLEET_PERCENT)",
                     type);
        goto fail;
    }
    if (out->min_healthy_type == DEPLOY_MIN_HEALTHY_FLEET_PERCENT && out->min_healthy_value > 99) {
        rc = err_set(err, -EINVAL, "config.minimumHealthyHosts.value: %u (expected 0..99 percent)",
                     out->min_healthy_value);
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    deploy_group_config_fini(out);
    return rc;
}

void
deploy_group_config_fini(struct deploy_config *c)
{
    arena_fini(&c->arena);
    memset(c, 0, sizeof(*c));
}

static json_t *
config_json(const struct deploy_config *c)
{
    json_t *o = json_object(), *m = json_object();

    deploy_json_set_str(o, "deploymentConfigName", c->name);
    deploy_json_set_str(m, "type", deploy_min_healthy_type_name(c->min_healthy_type));
    deploy_json_set_int(m, "value", c->min_healthy_value);
    deploy_json_set(o, "minimumHealthyHosts", m);
    return o;
}

char *
deploy_group_config_format(const struct deploy_config *c)
{
    json_t *o = json_object();

    deploy_json_set(o, "deploymentConfigInfo", config_json(c));
    return deploy_json_dump(o);
}

char *
deploy_group_config_request_format(const struct deploy_config *c)
{
    return deploy_json_dump(config_json(c));
}

char *
deploy_group_id_format(const char *group_id)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "deploymentGroupId", group_id);
    return deploy_json_dump(o);
}
