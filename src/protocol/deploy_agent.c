/* SPDX-License-Identifier: ISC */
/* Codecs of the agent ↔ server wire contract. Parsers accept unknown keys (a newer peer may
 * add some) but insist on the types and the required fields. */
#include "protocol/deploy_agent.h"

#include <errno.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/deploy_json.h"

#define ARENA_CHUNK 4096

/* ---- tags: {"k":"v"} ---- */

static int
parse_tag_object(json_t *o, struct arena *a, struct deploy_tag **out, size_t *n, const char *path,
                 struct err *err)
{
    const char *key;
    json_t *v;
    size_t i = 0;

    *out = arena_calloc(a, json_object_size(o) + 1, sizeof(**out));
    json_object_foreach(o, key, v)
    {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "%s.%s: expected a string", path, key);
        (*out)[i].key = arena_strdup(a, key);
        (*out)[i].value = arena_strdup(a, json_string_value(v));
        i++;
    }
    *n = i;
    return 0;
}

int
deploy_agent_register_parse(const char *json, size_t len, struct deploy_agent_register *out,
                            struct err *err)
{
    json_t *root, *tags;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "register", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, ARENA_CHUNK);
    if ((rc = deploy_json_str(root, "name", true, &out->arena, &out->name, "register", err)) ||
        (rc = deploy_json_str(root, "target", false, &out->arena, &out->target, "register", err)) ||
        (rc = deploy_json_str(root, "agentVersion", false, &out->arena, &out->agent_version,
                              "register", err)) ||
        (rc = deploy_json_obj(root, "tags", &tags, "register", err)))
        goto fail;
    if (tags != NULL &&
        (rc = parse_tag_object(tags, &out->arena, &out->tags, &out->ntags, "register.tags", err)))
        goto fail;
    if (out->name[0] == '\0') {
        rc = err_set(err, -EINVAL, "register.name: empty (expected an instance name)");
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    deploy_agent_register_fini(out);
    return rc;
}

void
deploy_agent_register_fini(struct deploy_agent_register *r)
{
    arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

char *
deploy_agent_register_format(const struct deploy_agent_register *r)
{
    json_t *o = json_object(), *tags = json_object();

    deploy_json_set_str(o, "name", r->name);
    for (size_t i = 0; i < r->ntags; i++)
        deploy_json_set_str(tags, r->tags[i].key, r->tags[i].value);
    deploy_json_set(o, "tags", tags);
    deploy_json_set_str(o, "target", r->target);
    deploy_json_set_str(o, "agentVersion", r->agent_version);
    return deploy_json_dump(o);
}

int
deploy_agent_registered_parse(const char *json, size_t len, struct deploy_agent_registered *out,
                              struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "registered", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 512);
    out->heartbeat_interval_s = 5;
    if ((rc = deploy_json_str(root, "instanceName", true, &out->arena, &out->instance_name,
                              "registered", err)) ||
        (rc = deploy_json_str(root, "instanceToken", true, &out->arena, &out->instance_token,
                              "registered", err)) ||
        (rc = deploy_json_u32(root, "heartbeatIntervalSeconds", 1, 3600, &out->heartbeat_interval_s,
                              "registered", err))) {
        json_decref(root);
        deploy_agent_registered_fini(out);
        return rc;
    }
    json_decref(root);
    return 0;
}

void
deploy_agent_registered_fini(struct deploy_agent_registered *r)
{
    arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

char *
deploy_agent_registered_format(const struct deploy_agent_registered *r)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "instanceName", r->instance_name);
    deploy_json_set_str(o, "instanceToken", r->instance_token);
    deploy_json_set_int(o, "heartbeatIntervalSeconds", r->heartbeat_interval_s);
    return deploy_json_dump(o);
}

/* ---- commands ---- */

static json_t *
command_json(const struct deploy_command *c)
{
    json_t *o = json_object(), *rev = json_object(), *evs = json_array();

    deploy_json_set_str(o, "commandId", c->command_id);
    deploy_json_set_str(o, "deploymentId", c->deployment_id);
    deploy_json_set_str(o, "applicationName", c->application_name);
    deploy_json_set_str(o, "deploymentGroupName", c->group_name);
    deploy_json_set_str(o, "deploymentGroupId", c->group_id);
    deploy_json_set_str(rev, "revisionId", c->revision_id);
    deploy_json_set_str(rev, "sha256", c->sha256);
    deploy_json_set_str(rev, "bundleType", c->bundle_type);
    deploy_json_set_str(rev, "url", c->bundle_url);
    deploy_json_set(o, "revision", rev);
    for (size_t i = 0; i < c->nevents; i++)
        json_array_append_new(evs, deploy_json_string(c->events[i]));
    deploy_json_set(o, "events", evs);
    deploy_json_set_str(o, "fileExistsBehavior", deploy_file_exists_name(c->file_exists));
    deploy_json_set_bool(o, "ignoreApplicationStopFailures", c->ignore_application_stop_failures);
    return o;
}

char *
deploy_agent_commands_format(const struct deploy_command *items, size_t n)
{
    json_t *o = json_object(), *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, command_json(&items[i]));
    deploy_json_set(o, "commands", arr);
    return deploy_json_dump(o);
}

static int
parse_events(json_t *arr, struct arena *a, struct deploy_command *c, const char *path,
             struct err *err)
{
    c->nevents = json_array_size(arr);
    c->events = arena_calloc(a, c->nevents + 1, sizeof(*c->events));
    for (size_t i = 0; i < c->nevents; i++) {
        json_t *e = json_array_get(arr, i);

        if (!json_is_string(e))
            return err_set(err, -EINVAL, "%s.events[%zu]: expected a string", path, i);
        c->events[i] = arena_strdup(a, json_string_value(e));
    }
    return 0;
}

static int
parse_command(json_t *o, struct arena *a, struct deploy_command *c, const char *path,
              struct err *err)
{
    json_t *rev, *evs;
    const char *fe = NULL;
    int rc;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "%s: expected an object", path);
    if ((rc = deploy_json_str(o, "commandId", true, a, &c->command_id, path, err)) ||
        (rc = deploy_json_str(o, "deploymentId", true, a, &c->deployment_id, path, err)) ||
        (rc = deploy_json_str(o, "applicationName", false, a, &c->application_name, path, err)) ||
        (rc = deploy_json_str(o, "deploymentGroupName", false, a, &c->group_name, path, err)) ||
        (rc = deploy_json_str(o, "deploymentGroupId", false, a, &c->group_id, path, err)) ||
        (rc = deploy_json_str(o, "fileExistsBehavior", false, a, &fe, path, err)) ||
        (rc = deploy_json_bool(o, "ignoreApplicationStopFailures",
                               &c->ignore_application_stop_failures, path, err)) ||
        (rc = deploy_json_obj(o, "revision", &rev, path, err)) ||
        (rc = deploy_json_arr(o, "events", &evs, path, err)))
        return rc;
    if (fe != NULL && deploy_file_exists_parse(fe, &c->file_exists) != 0)
        return err_set(err, -EINVAL,
                       "%s.fileExistsBehavior: '%s' (expected DISALLOW, OVERWRITE "
                       "or RETAIN)",
                       path, fe);
    if (rev == NULL || evs == NULL)
        return err_set(err, -EINVAL, "%s: missing revision or events", path);
    if ((rc = deploy_json_str(rev, "revisionId", true, a, &c->revision_id, path, err)) ||
        (rc = deploy_json_str(rev, "sha256", true, a, &c->sha256, path, err)) ||
        (rc = deploy_json_str(rev, "bundleType", false, a, &c->bundle_type, path, err)) ||
        (rc = deploy_json_str(rev, "url", true, a, &c->bundle_url, path, err)))
        return rc;
    return parse_events(evs, a, c, path, err);
}

int
deploy_agent_commands_parse(const char *json, size_t len, struct deploy_command_list *out,
                            struct err *err)
{
    json_t *root, *arr;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "commands", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, ARENA_CHUNK);
    if ((rc = deploy_json_arr(root, "commands", &arr, "commands", err)) != 0)
        goto fail;
    if (arr == NULL) {
        rc = err_set(err, -EINVAL, "commands: missing (expected an array)");
        goto fail;
    }
    out->n = json_array_size(arr);
    out->items = arena_calloc(&out->arena, out->n + 1, sizeof(*out->items));
    for (size_t i = 0; i < out->n; i++) {
        char path[32];

        snprintf(path, sizeof(path), "commands[%zu]", i);
        if ((rc = parse_command(json_array_get(arr, i), &out->arena, &out->items[i], path, err)))
            goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    deploy_agent_commands_fini(out);
    return rc;
}

void
deploy_agent_commands_fini(struct deploy_command_list *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

/* ---- event reports ---- */

int
deploy_agent_event_parse(const char *json, size_t len, struct deploy_event_report *out,
                         struct err *err)
{
    const char *status = NULL;
    json_t *root, *diag;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "event", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, ARENA_CHUNK);
    if ((rc = deploy_json_str(root, "lifecycleEvent", true, &out->arena, &out->lifecycle_event,
                              "event", err)) ||
        (rc = deploy_json_str(root, "status", true, &out->arena, &status, "event", err)) ||
        (rc = deploy_json_time(root, "startTime", &out->start_ms, "event", err)) ||
        (rc = deploy_json_time(root, "endTime", &out->end_ms, "event", err)) ||
        (rc = deploy_json_obj(root, "diagnostics", &diag, "event", err)) ||
        (rc = deploy_json_diagnostics_parse(diag, &out->arena, &out->diag, "event.diagnostics",
                                            err)))
        goto fail;
    if (deploy_event_status_parse(status, &out->status) != 0) {
        rc = err_set(err, -EINVAL,
                     "event.status: '%s' (expected Pending, InProgress, Succeeded, Failed or "
                     "Skipped)",
                     status);
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    deploy_agent_event_fini(out);
    return rc;
}

void
deploy_agent_event_fini(struct deploy_event_report *r)
{
    arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

char *
deploy_agent_event_format(const struct deploy_event_report *r)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "lifecycleEvent", r->lifecycle_event);
    deploy_json_set_str(o, "status", deploy_event_status_name(r->status));
    deploy_json_set_time(o, "startTime", r->start_ms);
    deploy_json_set_time(o, "endTime", r->end_ms);
    deploy_json_set(o, "diagnostics", deploy_json_diagnostics(&r->diag));
    return deploy_json_dump(o);
}

/* ---- heartbeat ---- */

int
deploy_agent_heartbeat_parse(const char *json, size_t len, struct deploy_heartbeat *out,
                             struct err *err)
{
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((root = deploy_json_load(json, len, "heartbeat", err)) == NULL)
        return -EINVAL;
    arena_init(&out->arena, 256);
    rc = deploy_json_str(root, "runningCommandId", false, &out->arena, &out->running_command_id,
                         "heartbeat", err);
    json_decref(root);
    if (rc != 0)
        deploy_agent_heartbeat_fini(out);
    return rc;
}

void
deploy_agent_heartbeat_fini(struct deploy_heartbeat *h)
{
    arena_fini(&h->arena);
    memset(h, 0, sizeof(*h));
}

char *
deploy_agent_heartbeat_format(const struct deploy_heartbeat *h)
{
    json_t *o = json_object();

    deploy_json_set(o, "runningCommandId", deploy_json_string(h->running_command_id));
    return deploy_json_dump(o);
}
