/* SPDX-License-Identifier: ISC */
/* Codecs of the admin API's resources: deploymentInfo, create-deployment requests, instance
 * summaries, on-premises instances, revisions, applications and error bodies. */
#include "protocol/deploy_info.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/deploy_json.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* ---- deploymentInfo ---- */

static json_t *
overview_json(const struct deploy_overview *ov)
{
    json_t *o = json_object();

    deploy_json_set_int(o, "Pending", ov->pending);
    deploy_json_set_int(o, "InProgress", ov->in_progress);
    deploy_json_set_int(o, "Succeeded", ov->succeeded);
    deploy_json_set_int(o, "Failed", ov->failed);
    deploy_json_set_int(o, "Skipped", ov->skipped);
    deploy_json_set_int(o, "Ready", ov->ready);
    return o;
}

static void
set_error_and_rollback(json_t *o, const struct deploy_info *d)
{
    if (d->error_code != DEPLOY_ERR_NONE) {
        json_t *e = json_object();

        deploy_json_set_str(e, "code", deploy_error_code_name(d->error_code));
        deploy_json_set_str(e, "message", d->error_message != NULL ? d->error_message : "");
        deploy_json_set(o, "errorInformation", e);
    }
    if (d->rollback_deployment_id != NULL || d->rollback_triggering_deployment_id != NULL ||
        d->rollback_message != NULL) {
        json_t *r = json_object();

        deploy_json_set_str(r, "rollbackDeploymentId", d->rollback_deployment_id);
        deploy_json_set_str(r, "rollbackTriggeringDeploymentId",
                            d->rollback_triggering_deployment_id);
        deploy_json_set_str(r, "rollbackMessage", d->rollback_message);
        deploy_json_set(o, "rollbackInfo", r);
    }
}

static json_t *
info_json(const struct deploy_info *d)
{
    json_t *o = json_object(), *rev = json_object(), *style = json_object();

    deploy_json_set_str(o, "deploymentId", d->deployment_id);
    deploy_json_set_str(o, "applicationName", d->application_name);
    deploy_json_set_str(o, "deploymentGroupName", d->group_name);
    deploy_json_set_str(o, "deploymentConfigName", d->config_name);
    deploy_json_set_str(rev, "revisionType", "Cutover");
    deploy_json_set_str(rev, "revisionId", d->revision_id);
    if (d->revision_id != NULL && strncmp(d->revision_id, "sha256:", 7) == 0)
        deploy_json_set_str(rev, "sha256", d->revision_id + 7);
    deploy_json_set(o, "revision", rev);
    deploy_json_set_str(o, "status", deploy_status_name(d->status));
    set_error_and_rollback(o, d);
    deploy_json_set_str(o, "creator", d->creator);
    deploy_json_set_str(o, "description", d->description);
    deploy_json_set_time(o, "createTime", d->create_ms);
    deploy_json_set_time(o, "startTime", d->start_ms);
    deploy_json_set_time(o, "completeTime", d->complete_ms);
    deploy_json_set(o, "deploymentOverview", overview_json(&d->overview));
    deploy_json_set_str(style, "deploymentType", deploy_type_name(d->type));
    deploy_json_set_str(style, "deploymentOption", deploy_option_name(d->option));
    deploy_json_set(o, "deploymentStyle", style);
    deploy_json_set_str(o, "fileExistsBehavior", deploy_file_exists_name(d->file_exists));
    deploy_json_set_bool(o, "ignoreApplicationStopFailures", d->ignore_application_stop_failures);
    if (d->auto_rollback_override >= 0) {
        json_t *ar = json_object();

        deploy_json_set_bool(ar, "enabled", d->auto_rollback_override == 1);
        deploy_json_set(o, "autoRollbackConfiguration", ar);
    }
    if (d->progress_json != NULL) {
        json_t *p = json_loads(d->progress_json, 0, NULL);

        if (p != NULL)
            deploy_json_set(o, "progress", p);
    }
    return o;
}

char *
deploy_info_format(const struct deploy_info *d)
{
    json_t *o = json_object();

    deploy_json_set(o, "deploymentInfo", info_json(d));
    return deploy_json_dump(o);
}

char *
deploy_info_list_format(const char *const *ids, size_t n)
{
    json_t *o = json_object(), *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, deploy_json_string(ids[i]));
    deploy_json_set(o, "deployments", arr);
    return deploy_json_dump(o);
}

static int
parse_overview(json_t *o, struct deploy_overview *ov, struct err *err)
{
    const char *p = "deploymentInfo.deploymentOverview";

    if (o == NULL)
        return 0;
    TRY(deploy_json_u32(o, "Pending", 0, UINT32_MAX, &ov->pending, p, err));
    TRY(deploy_json_u32(o, "InProgress", 0, UINT32_MAX, &ov->in_progress, p, err));
    TRY(deploy_json_u32(o, "Succeeded", 0, UINT32_MAX, &ov->succeeded, p, err));
    TRY(deploy_json_u32(o, "Failed", 0, UINT32_MAX, &ov->failed, p, err));
    TRY(deploy_json_u32(o, "Skipped", 0, UINT32_MAX, &ov->skipped, p, err));
    return deploy_json_u32(o, "Ready", 0, UINT32_MAX, &ov->ready, p, err);
}

static int
parse_info_nested(json_t *o, struct deploy_info *d, struct err *err)
{
    const char *p = "deploymentInfo", *code = NULL, *type = NULL, *option = NULL;
    struct arena *a = &d->arena;
    json_t *rev, *e, *rb, *style, *ov, *prog, *ar;

    TRY(deploy_json_obj(o, "revision", &rev, p, err));
    TRY(deploy_json_obj(o, "errorInformation", &e, p, err));
    TRY(deploy_json_obj(o, "rollbackInfo", &rb, p, err));
    TRY(deploy_json_obj(o, "deploymentStyle", &style, p, err));
    TRY(deploy_json_obj(o, "deploymentOverview", &ov, p, err));
    TRY(deploy_json_obj(o, "autoRollbackConfiguration", &ar, p, err));
    if (rev != NULL)
        TRY(deploy_json_str(rev, "revisionId", false, a, &d->revision_id, p, err));
    if (e != NULL) {
        TRY(deploy_json_str(e, "code", false, a, &code, p, err));
        TRY(deploy_json_str(e, "message", false, a, &d->error_message, p, err));
        if (code != NULL && deploy_error_code_parse(code, &d->error_code) != 0)
            d->error_code = DEPLOY_ERR_INTERNAL_ERROR; /* a newer server's code */
    }
    if (rb != NULL) {
        TRY(deploy_json_str(rb, "rollbackDeploymentId", false, a, &d->rollback_deployment_id, p,
                            err));
        TRY(deploy_json_str(rb, "rollbackTriggeringDeploymentId", false, a,
                            &d->rollback_triggering_deployment_id, p, err));
        TRY(deploy_json_str(rb, "rollbackMessage", false, a, &d->rollback_message, p, err));
    }
    if (style != NULL) {
        TRY(deploy_json_str(style, "deploymentType", false, a, &type, p, err));
        TRY(deploy_json_str(style, "deploymentOption", false, a, &option, p, err));
        if (type != NULL)
            (void)deploy_type_parse(type, &d->type);
        if (option != NULL)
            (void)deploy_option_parse(option, &d->option);
    }
    if (ar != NULL) {
        bool en = false;

        TRY(deploy_json_bool(ar, "enabled", &en, p, err));
        d->auto_rollback_override = en;
    }
    if ((prog = json_object_get(o, "progress")) != NULL && json_is_object(prog)) {
        char *s = json_dumps(prog, JSON_COMPACT | JSON_PRESERVE_ORDER);

        d->progress_json = s != NULL ? arena_strdup(a, s) : NULL;
        free(s);
    }
    return parse_overview(ov, &d->overview, err);
}

static int
parse_info(json_t *root, struct deploy_info *d, struct err *err)
{
    const char *p = "deploymentInfo", *status = NULL, *fe = NULL;
    struct arena *a = &d->arena;
    json_t *o;

    TRY(deploy_json_obj(root, "deploymentInfo", &o, "response", err));
    if (o == NULL)
        return err_set(err, -EINVAL, "response: missing deploymentInfo");
    d->auto_rollback_override = -1;
    TRY(deploy_json_str(o, "deploymentId", true, a, &d->deployment_id, p, err));
    TRY(deploy_json_str(o, "applicationName", false, a, &d->application_name, p, err));
    TRY(deploy_json_str(o, "deploymentGroupName", false, a, &d->group_name, p, err));
    TRY(deploy_json_str(o, "deploymentConfigName", false, a, &d->config_name, p, err));
    TRY(deploy_json_str(o, "status", true, a, &status, p, err));
    TRY(deploy_json_str(o, "creator", false, a, &d->creator, p, err));
    TRY(deploy_json_str(o, "description", false, a, &d->description, p, err));
    TRY(deploy_json_str(o, "fileExistsBehavior", false, a, &fe, p, err));
    TRY(deploy_json_bool(o, "ignoreApplicationStopFailures", &d->ignore_application_stop_failures,
                         p, err));
    TRY(deploy_json_time(o, "createTime", &d->create_ms, p, err));
    TRY(deploy_json_time(o, "startTime", &d->start_ms, p, err));
    TRY(deploy_json_time(o, "completeTime", &d->complete_ms, p, err));
    if (deploy_status_parse(status, &d->status) != 0)
        return err_set(err, -EINVAL, "%s.status: unknown status '%s'", p, status);
    if (fe != NULL)
        (void)deploy_file_exists_parse(fe, &d->file_exists);
    return parse_info_nested(o, d, err);
}

int
deploy_info_parse(const char *json, size_t len, struct deploy_info *out, struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "response", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 4096);
    rc = parse_info(root, out, err);
    json_decref(root);
    if (rc != 0)
        deploy_info_fini(out);
    return rc;
}

void
deploy_info_fini(struct deploy_info *d)
{
    arena_fini(&d->arena);
    memset(d, 0, sizeof(*d));
}

/* ---- create-deployment request ---- */

static int
parse_request(json_t *o, struct deploy_create_request *r, struct err *err)
{
    static const char *const keys[] = {"applicationName",
                                       "deploymentGroupName",
                                       "revision",
                                       "deploymentConfigName",
                                       "description",
                                       "fileExistsBehavior",
                                       "ignoreApplicationStopFailures",
                                       "autoRollbackConfiguration"};
    const char *p = "request", *fe = NULL;
    struct arena *a = &r->arena;
    json_t *rev, *ar;

    TRY(deploy_json_strict(o, keys, sizeof(keys) / sizeof(keys[0]), p, err));
    TRY(deploy_json_str(o, "applicationName", true, a, &r->application_name, p, err));
    TRY(deploy_json_str(o, "deploymentGroupName", true, a, &r->group_name, p, err));
    TRY(deploy_json_str(o, "deploymentConfigName", false, a, &r->config_name, p, err));
    TRY(deploy_json_str(o, "description", false, a, &r->description, p, err));
    TRY(deploy_json_str(o, "fileExistsBehavior", false, a, &fe, p, err));
    TRY(deploy_json_bool(o, "ignoreApplicationStopFailures", &r->ignore_application_stop_failures,
                         p, err));
    TRY(deploy_json_obj(o, "revision", &rev, p, err));
    TRY(deploy_json_obj(o, "autoRollbackConfiguration", &ar, p, err));
    if (rev == NULL)
        return err_set(err, -EINVAL, "request.revision: missing (expected {\"revisionId\":…})");
    TRY(deploy_json_str(rev, "revisionId", true, a, &r->revision_id, "request.revision", err));
    if (fe != NULL && deploy_file_exists_parse(fe, &r->file_exists) != 0)
        return err_set(err, -EINVAL,
                       "request.fileExistsBehavior: '%s' (expected DISALLOW, OVERWRITE or RETAIN)",
                       fe);
    if (ar != NULL) {
        bool en = false;

        TRY(deploy_json_bool(ar, "enabled", &en, "request.autoRollbackConfiguration", err));
        r->auto_rollback_override = en;
    }
    return 0;
}

int
deploy_info_request_parse(const char *json, size_t len, struct deploy_create_request *out,
                          struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "request", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 1024);
    out->auto_rollback_override = -1;
    rc = parse_request(root, out, err);
    json_decref(root);
    if (rc != 0)
        deploy_info_request_fini(out);
    return rc;
}

void
deploy_info_request_fini(struct deploy_create_request *r)
{
    arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

char *
deploy_info_request_format(const struct deploy_create_request *r)
{
    json_t *o = json_object(), *rev = json_object();

    deploy_json_set_str(o, "applicationName", r->application_name);
    deploy_json_set_str(o, "deploymentGroupName", r->group_name);
    deploy_json_set_str(rev, "revisionId", r->revision_id);
    deploy_json_set(o, "revision", rev);
    deploy_json_set_str(o, "deploymentConfigName", r->config_name);
    deploy_json_set_str(o, "description", r->description);
    deploy_json_set_str(o, "fileExistsBehavior", deploy_file_exists_name(r->file_exists));
    deploy_json_set_bool(o, "ignoreApplicationStopFailures", r->ignore_application_stop_failures);
    if (r->auto_rollback_override >= 0) {
        json_t *ar = json_object();

        deploy_json_set_bool(ar, "enabled", r->auto_rollback_override == 1);
        deploy_json_set(o, "autoRollbackConfiguration", ar);
    }
    return deploy_json_dump(o);
}

/* ---- instance summaries ---- */

static json_t *
summary_json(const struct deploy_instance_summary *s)
{
    json_t *o = json_object(), *evs = json_array();

    deploy_json_set_str(o, "deploymentId", s->deployment_id);
    deploy_json_set_str(o, "instanceId", s->instance_id);
    deploy_json_set_str(o, "status", deploy_instance_status_name(s->status));
    deploy_json_set_time(o, "lastUpdatedAt", s->last_updated_ms);
    if (s->instance_type != DEPLOY_INSTANCE_TYPE_NONE)
        deploy_json_set_str(o, "instanceType", deploy_instance_type_name(s->instance_type));
    deploy_json_set_str(o, "target", s->target);
    for (size_t i = 0; i < s->nevents; i++) {
        const struct deploy_event *ev = &s->events[i];
        json_t *e = json_object();

        deploy_json_set_str(e, "lifecycleEventName", ev->name);
        deploy_json_set_str(e, "status", deploy_event_status_name(ev->status));
        deploy_json_set_time(e, "startTime", ev->start_ms);
        deploy_json_set_time(e, "endTime", ev->end_ms);
        deploy_json_set(e, "diagnostics", deploy_json_diagnostics(&ev->diag));
        json_array_append_new(evs, e);
    }
    deploy_json_set(o, "lifecycleEvents", evs);
    return o;
}

char *
deploy_info_instance_format(const struct deploy_instance_summary *s)
{
    json_t *o = json_object();

    deploy_json_set(o, "instanceSummary", summary_json(s));
    return deploy_json_dump(o);
}

char *
deploy_info_instances_format(const struct deploy_instance_summary *items, size_t n)
{
    json_t *o = json_object(), *names = json_array(), *sums = json_array();

    for (size_t i = 0; i < n; i++) {
        json_array_append_new(names, deploy_json_string(items[i].instance_id));
        json_array_append_new(sums, summary_json(&items[i]));
    }
    deploy_json_set(o, "instancesList", names);
    deploy_json_set(o, "instanceSummaries", sums);
    return deploy_json_dump(o);
}

static int
parse_event(json_t *o, struct arena *a, struct deploy_event *ev, const char *path, struct err *err)
{
    const char *status = NULL;
    json_t *diag;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object", path);
    TRY(deploy_json_str(o, "lifecycleEventName", true, a, &ev->name, path, err));
    TRY(deploy_json_str(o, "status", true, a, &status, path, err));
    TRY(deploy_json_time(o, "startTime", &ev->start_ms, path, err));
    TRY(deploy_json_time(o, "endTime", &ev->end_ms, path, err));
    TRY(deploy_json_obj(o, "diagnostics", &diag, path, err));
    if (deploy_event_status_parse(status, &ev->status) != 0)
        ev->status = DEPLOY_EVENT_UNKNOWN;
    return deploy_json_diagnostics_parse(diag, a, &ev->diag, path, err);
}

static int
parse_summary(json_t *o, struct arena *a, struct deploy_instance_summary *s, struct err *err)
{
    const char *p = "instanceSummary", *status = NULL, *type = NULL;
    json_t *evs;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object", p);
    TRY(deploy_json_str(o, "deploymentId", false, a, &s->deployment_id, p, err));
    TRY(deploy_json_str(o, "instanceId", true, a, &s->instance_id, p, err));
    TRY(deploy_json_str(o, "status", false, a, &status, p, err));
    TRY(deploy_json_str(o, "instanceType", false, a, &type, p, err));
    TRY(deploy_json_str(o, "target", false, a, &s->target, p, err));
    TRY(deploy_json_time(o, "lastUpdatedAt", &s->last_updated_ms, p, err));
    TRY(deploy_json_arr(o, "lifecycleEvents", &evs, p, err));
    if (status == NULL || deploy_instance_status_parse(status, &s->status) != 0)
        s->status = DEPLOY_INSTANCE_UNKNOWN;
    if (type != NULL)
        (void)deploy_instance_type_parse(type, &s->instance_type);
    s->nevents = evs != NULL ? json_array_size(evs) : 0;
    s->events = arena_calloc(a, s->nevents + 1, sizeof(*s->events));
    for (size_t i = 0; i < s->nevents; i++) {
        char path[64];

        snprintf(path, sizeof(path), "instanceSummary.lifecycleEvents[%zu]", i);
        TRY(parse_event(json_array_get(evs, i), a, &s->events[i], path, err));
    }
    return 0;
}

static int
parse_summaries(json_t *root, struct deploy_instance_summaries *l, struct err *err)
{
    json_t *one = json_object_get(root, "instanceSummary"), *arr;

    if (one != NULL) {
        l->n = 1;
        l->items = arena_calloc(&l->arena, 1, sizeof(*l->items));
        return parse_summary(one, &l->arena, &l->items[0], err);
    }
    TRY(deploy_json_arr(root, "instanceSummaries", &arr, "response", err));
    l->n = arr != NULL ? json_array_size(arr) : 0;
    l->items = arena_calloc(&l->arena, l->n + 1, sizeof(*l->items));
    for (size_t i = 0; i < l->n; i++)
        TRY(parse_summary(json_array_get(arr, i), &l->arena, &l->items[i], err));
    return 0;
}

int
deploy_info_instances_parse(const char *json, size_t len, struct deploy_instance_summaries *out,
                            struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "response", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 4096);
    rc = parse_summaries(root, out, err);
    json_decref(root);
    if (rc != 0)
        deploy_info_instances_fini(out);
    return rc;
}

void
deploy_info_instances_fini(struct deploy_instance_summaries *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

/* ---- on-premises instances ---- */

static json_t *
tags_json(const struct deploy_tag *tags, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object();

        deploy_json_set_str(t, "Key", tags[i].key);
        deploy_json_set_str(t, "Value", tags[i].value);
        json_array_append_new(arr, t);
    }
    return arr;
}

static json_t *
onprem_json(const struct deploy_onprem *o)
{
    json_t *j = json_object();

    deploy_json_set_str(j, "instanceName", o->name);
    deploy_json_set(j, "tags", tags_json(o->tags, o->ntags));
    deploy_json_set_str(j, "target", o->target);
    deploy_json_set_str(j, "agentVersion", o->agent_version);
    deploy_json_set_time(j, "registerTime", o->register_ms);
    deploy_json_set_time(j, "lastHeartbeat", o->last_heartbeat_ms);
    deploy_json_set_str(j, "status", o->status);
    return j;
}

char *
deploy_info_onprem_request_format(const struct deploy_onprem *o)
{
    return deploy_json_dump(onprem_json(o));
}

char *
deploy_info_onprem_list_format(const struct deploy_onprem *items, size_t n)
{
    json_t *o = json_object(), *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, onprem_json(&items[i]));
    deploy_json_set(o, "instanceInfos", arr);
    return deploy_json_dump(o);
}

static int
parse_onprem(json_t *j, struct arena *a, struct deploy_onprem *o, struct err *err)
{
    const char *p = "instance";
    json_t *tags;

    if (!json_is_object(j))
        return err_set(err, -EINVAL, "%s: expected an object", p);
    TRY(deploy_json_str(j, "instanceName", true, a, &o->name, p, err));
    TRY(deploy_json_str(j, "target", false, a, &o->target, p, err));
    TRY(deploy_json_str(j, "agentVersion", false, a, &o->agent_version, p, err));
    TRY(deploy_json_str(j, "status", false, a, &o->status, p, err));
    TRY(deploy_json_time(j, "registerTime", &o->register_ms, p, err));
    TRY(deploy_json_time(j, "lastHeartbeat", &o->last_heartbeat_ms, p, err));
    TRY(deploy_json_arr(j, "tags", &tags, p, err));
    o->ntags = tags != NULL ? json_array_size(tags) : 0;
    o->tags = arena_calloc(a, o->ntags + 1, sizeof(*o->tags));
    for (size_t i = 0; i < o->ntags; i++) {
        json_t *t = json_array_get(tags, i);
        char path[48];

        snprintf(path, sizeof(path), "instance.tags[%zu]", i);
        if (!json_is_object(t))
            return err_set(err, -EINVAL, "%s: expected {\"Key\":…,\"Value\":…}", path);
        TRY(deploy_json_str(t, "Key", true, a, &o->tags[i].key, path, err));
        TRY(deploy_json_str(t, "Value", true, a, &o->tags[i].value, path, err));
    }
    if (o->name[0] == '\0')
        return err_set(err, -EINVAL, "instance.instanceName: empty");
    return 0;
}

static int
parse_onprems(json_t *root, struct deploy_onprem_list *l, struct err *err)
{
    json_t *arr = json_object_get(root, "instanceInfos");

    if (arr == NULL) {
        l->n = 1;
        l->items = arena_calloc(&l->arena, 1, sizeof(*l->items));
        return parse_onprem(root, &l->arena, &l->items[0], err);
    }
    if (!json_is_array(arr))
        return err_set(err, -EINVAL, "instanceInfos: expected an array");
    l->n = json_array_size(arr);
    l->items = arena_calloc(&l->arena, l->n + 1, sizeof(*l->items));
    for (size_t i = 0; i < l->n; i++)
        TRY(parse_onprem(json_array_get(arr, i), &l->arena, &l->items[i], err));
    return 0;
}

int
deploy_info_onprem_list_parse(const char *json, size_t len, struct deploy_onprem_list *out,
                              struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "instance", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 2048);
    rc = parse_onprems(root, out, err);
    json_decref(root);
    if (rc != 0)
        deploy_info_onprem_list_fini(out);
    return rc;
}

void
deploy_info_onprem_list_fini(struct deploy_onprem_list *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

/* ---- revisions ---- */

int
deploy_info_revision_parse(const char *json, size_t len, struct deploy_revision *out,
                           struct err *err)
{
    const char *p = "revision";
    json_t *root, *size;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, p, err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 512);
    if ((rc = deploy_json_str(root, "revisionId", true, &out->arena, &out->revision_id, p, err)) ||
        (rc = deploy_json_str(root, "sha256", false, &out->arena, &out->sha256, p, err)) ||
        (rc = deploy_json_str(root, "applicationName", false, &out->arena, &out->application_name,
                              p, err)) ||
        (rc = deploy_json_str(root, "bundleType", false, &out->arena, &out->bundle_type, p, err)) ||
        (rc = deploy_json_time(root, "registerTime", &out->register_ms, p, err))) {
        json_decref(root);
        deploy_info_revision_fini(out);
        return rc;
    }
    if ((size = json_object_get(root, "size")) != NULL && json_is_integer(size))
        out->size = (uint64_t)json_integer_value(size);
    json_decref(root);
    return 0;
}

void
deploy_info_revision_fini(struct deploy_revision *r)
{
    arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

char *
deploy_info_revision_format(const struct deploy_revision *r)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "revisionId", r->revision_id);
    deploy_json_set_str(o, "sha256", r->sha256);
    deploy_json_set_str(o, "applicationName", r->application_name);
    deploy_json_set_str(o, "bundleType", r->bundle_type);
    deploy_json_set_int(o, "size", (int64_t)r->size);
    deploy_json_set_time(o, "registerTime", r->register_ms);
    return deploy_json_dump(o);
}

/* ---- applications ---- */

int
deploy_info_application_parse(const char *json, size_t len, struct arena *arena,
                              const char **name_out, struct err *err)
{
    static const char *const keys[] = {"applicationName", "computePlatform"};
    json_t *root;
    int rc;

    if ((root = deploy_json_load(json, len, "request", err)) == NULL)
        return -EINVAL;
    if ((rc = deploy_json_strict(root, keys, 2, "request", err)) == 0)
        rc = deploy_json_str(root, "applicationName", true, arena, name_out, "request", err);
    if (rc == 0 && (*name_out)[0] == '\0')
        rc = err_set(err, -EINVAL, "request.applicationName: empty");
    json_decref(root);
    return rc;
}

char *
deploy_info_application_format(const char *name)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "applicationName", name);
    return deploy_json_dump(o);
}

char *
deploy_info_application_list_format(const char *const *names, size_t n)
{
    json_t *o = json_object(), *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, deploy_json_string(names[i]));
    deploy_json_set(o, "applications", arr);
    return deploy_json_dump(o);
}

/* ---- errors ---- */

char *
deploy_info_error_format(const char *code, const char *message, const char *deployment_id)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "error", message);
    deploy_json_set_str(o, "code", code);
    deploy_json_set_str(o, "deploymentId", deployment_id);
    return deploy_json_dump(o);
}

int
deploy_info_error_parse(const char *json, size_t len, struct arena *arena, const char **message,
                        const char **deployment_id)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    int rc;

    *message = NULL;
    *deployment_id = NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return -EINVAL;
    }
    rc = deploy_json_str(root, "error", true, arena, message, "error", NULL);
    if (rc == 0)
        (void)deploy_json_str(root, "deploymentId", false, arena, deployment_id, "error", NULL);
    json_decref(root);
    return rc;
}

/* ---- ids and stop ---- */

char *
deploy_info_id_format(const char *deployment_id)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "deploymentId", deployment_id);
    return deploy_json_dump(o);
}

int
deploy_info_id_parse(const char *json, size_t len, struct arena *arena, const char **id,
                     struct err *err)
{
    json_t *root = deploy_json_load(json, len, "response", err);
    int rc;

    if (root == NULL)
        return -EINVAL;
    rc = deploy_json_str(root, "deploymentId", true, arena, id, "response", err);
    json_decref(root);
    return rc;
}

int
deploy_info_stop_parse(const char *json, size_t len, int *auto_rollback, struct err *err)
{
    static const char *const keys[] = {"autoRollbackEnabled"};
    json_t *root;
    bool v = false;
    int rc;

    *auto_rollback = -1;
    if (len == 0)
        return 0;
    if ((root = deploy_json_load(json, len, "request", err)) == NULL)
        return -EINVAL;
    if ((rc = deploy_json_strict(root, keys, 1, "request", err)) == 0 &&
        json_object_get(root, "autoRollbackEnabled") != NULL &&
        (rc = deploy_json_bool(root, "autoRollbackEnabled", &v, "request", err)) == 0)
        *auto_rollback = v;
    json_decref(root);
    return rc;
}

char *
deploy_info_stop_format(int auto_rollback)
{
    json_t *o = json_object();

    if (auto_rollback >= 0)
        deploy_json_set_bool(o, "autoRollbackEnabled", auto_rollback == 1);
    return deploy_json_dump(o);
}

char *
deploy_info_server_init_format(const char *config, const char *database, const char *admin,
                               const char *enroll, const char *listen)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "config", config);
    deploy_json_set_str(o, "database", database);
    deploy_json_set_str(o, "adminTokenFile", admin);
    deploy_json_set_str(o, "enrollTokenFile", enroll);
    deploy_json_set_str(o, "listen", listen);
    return deploy_json_dump(o);
}
