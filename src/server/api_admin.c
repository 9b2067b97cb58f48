/* SPDX-License-Identifier: ISC */
/* Admin REST resources (admin token): applications, deployment groups, deployment configs,
 * revisions (streamed uploads into the revision store), deployments, their instances, stop and
 * continue, on-premises instances. Every write goes to the store first; the orchestrator's
 * hooks run after the commit. */
#include "server/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"
#include "server/deployment.h"
#include "server/revisions.h"
#include "server/server.h"
#include "server/server_conf.h"
#include "server/store.h"

static struct store *
store_of(struct api_call *c)
{
    return c->api->srv->store;
}

static bool
is(struct api_call *c, const char *method, size_t nsegs)
{
    return strcmp(c->method, method) == 0 && c->nsegs == nsegs;
}

/* ---- applications ---- */

static void
create_application(struct api_call *c)
{
    struct arena a;
    const char *name = NULL;
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    arena_init(&a, 256);
    if ((rc = deploy_info_application_parse(body, len, &a, &name, &err)) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
    } else if ((rc = store_application_create(store_of(c), name)) != 0) {
        api_reply_error(c, api_status_of(rc), "application '%s': %s", name,
                        rc == -EEXIST ? "already exists" : strerror(-rc));
    } else {
        log_info("api: application %s created", name);
        api_reply_take(c, 200, deploy_info_application_format(name));
    }
    arena_fini(&a);
}

static void
list_applications(struct api_call *c)
{
    struct store_names n;
    int rc = store_application_list(store_of(c), &n);

    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "cannot list applications");
    else
        api_reply_take(c, 200, deploy_info_application_list_format(n.names, n.n));
    store_names_fini(&n);
}

/* ---- deployment groups ---- */

/* Checks what the parser cannot: the application exists and matches the path, the config and
 * the alarm metrics are known. */
static int
check_group(struct api_call *c, const struct deploy_group *g, const char *app)
{
    struct deploy_config cfg;
    int rc;

    if (strcmp(g->application_name, app) != 0) {
        api_reply_error(c, 400, "applicationName '%s' does not match the path's '%s'",
                        g->application_name, app);
        return -EINVAL;
    }
    if (store_application_exists(store_of(c), app) != 0) {
        api_reply_error(c, 404, "application '%s' does not exist", app);
        return -ENOENT;
    }
    rc = store_config_get(store_of(c), g->config_name, &cfg);
    deploy_group_config_fini(&cfg);
    if (rc != 0) {
        api_reply_error(c, 400, "deploymentConfigName '%s' does not exist", g->config_name);
        return -EINVAL;
    }
    for (size_t i = 0; i < g->nalarms; i++) {
        enum deployment_metric m;

        if (deployment_metric_parse(g->alarms[i].metric, &m) != 0) {
            api_reply_error(c, 400,
                            "alarmConfiguration.alarms[%zu].metric: '%s' (expected "
                            "target_5xx_ratio or target_p99_seconds)",
                            i, g->alarms[i].metric);
            return -EINVAL;
        }
    }
    return 0;
}

static void
put_group(struct api_call *c, bool is_create)
{
    struct deploy_group g;
    struct store_group sg;
    struct err err = {0};
    char id[STORE_ID_MAX];
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (deploy_group_parse(body, len, "request", &g, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if (check_group(c, &g, c->segs[2]) != 0)
        goto out;
    if (!is_create && strcmp(g.name, c->segs[4]) != 0) {
        api_reply_error(c, 400, "deploymentGroupName '%s' does not match the path's '%s'", g.name,
                        c->segs[4]);
        goto out;
    }
    rc = is_create ? store_group_create(store_of(c), &g, body, id)
                   : store_group_update(store_of(c), &g, body);
    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "deployment group '%s': %s", g.name,
                        rc == -EEXIST ? "already exists" : strerror(-rc));
        goto out;
    }
    if (!is_create) {
        if (store_group_get(store_of(c), g.application_name, g.name, &sg) == 0)
            str_copy(id, sg.id, sizeof(id));
        store_group_fini(&sg);
    }
    log_info("api: deployment group %s/%s %s", g.application_name, g.name,
             is_create ? "created" : "updated");
    api_reply_take(c, 200, deploy_group_id_format(id));
out:
    deploy_group_fini(&g);
}

static void
get_group(struct api_call *c)
{
    struct store_group g;
    int rc = store_group_get(store_of(c), c->segs[2], c->segs[4], &g);

    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "deployment group '%s/%s' %s", c->segs[2], c->segs[4],
                        rc == -ENOENT ? "does not exist" : "cannot be read");
    else
        api_reply_take(c, 200, deploy_group_info_format(g.json, g.id));
    store_group_fini(&g);
}

static void
list_groups(struct api_call *c)
{
    struct store_names n;
    int rc = store_group_list(store_of(c), c->segs[2], &n);

    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "cannot list groups");
    else
        api_reply_take(c, 200, deploy_group_list_format(c->segs[2], n.names, n.n));
    store_names_fini(&n);
}

/* ---- deployment configs ---- */

static void
create_config(struct api_call *c)
{
    struct deploy_config cfg;
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (deploy_group_config_parse(body, len, &cfg, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if ((rc = store_config_create(store_of(c), &cfg)) != 0)
        api_reply_error(c, api_status_of(rc), "deployment config '%s': %s", cfg.name,
                        rc == -EEXIST ? "already exists" : strerror(-rc));
    else
        api_reply_take(c, 200, deploy_group_config_format(&cfg));
    deploy_group_config_fini(&cfg);
}

static void
get_config(struct api_call *c)
{
    struct deploy_config cfg;
    int rc = store_config_get(store_of(c), c->segs[2], &cfg);

    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "deployment config '%s' does not exist", c->segs[2]);
    else
        api_reply_take(c, 200, deploy_group_config_format(&cfg));
    deploy_group_config_fini(&cfg);
}

/* ---- revisions: streamed upload ---- */

struct upload {
    struct revisions_upload *u; /* owned until finished */
    char app[API_NAME_MAX];
    char type[8];
    /* finishing (fsync + rename) runs on the thread pool: */
    uv_work_t work;
    struct api_call *call; /* borrowed; NULL once the client went away */
    int rc;
    char hex[REVISIONS_HEX_LEN + 1];
    uint64_t size;
    struct err err;
};

bool
api_admin_is_upload(const struct api_call *c)
{
    return strcmp(c->method, "POST") == 0 && c->nsegs == 4 && api_seg_is(c, 1, "applications") &&
           api_seg_is(c, 3, "revisions");
}

static struct upload *
upload_of(const struct api_call *c)
{
    return c->ext;
}

static void
set_upload(struct api_call *c, struct upload *up)
{
    c->ext = up;
}

int
api_admin_upload_begin(struct api_call *c)
{
    struct upload *up;
    struct err err = {0};
    char type[16];
    const char *t = http_server_req_query(c->req, "bundleType", type, sizeof(type));
    int rc;

    if (c->role != API_ROLE_ADMIN) {
        api_reply_error(c, 403, "only the admin token may push revisions");
        return -EPERM;
    }
    if (store_application_exists(store_of(c), c->segs[2]) != 0) {
        api_reply_error(c, 404, "application '%s' does not exist", c->segs[2]);
        return -ENOENT;
    }
    up = mem_calloc(1, sizeof(*up));
    str_copy(up->app, c->segs[2], sizeof(up->app));
    str_copy(up->type, t != NULL ? t : "tgz", sizeof(up->type));
    if ((rc = revisions_upload_begin(c->api->srv->revisions, up->type, &up->u, &err)) != 0) {
        free(up);
        api_reply_error(c, api_status_of(rc), "%s", err.msg);
        return rc;
    }
    set_upload(c, up);
    return 0;
}

int
api_admin_upload_body(struct api_call *c, const char *data, size_t len)
{
    struct upload *up = upload_of(c);
    struct err err = {0};
    int rc;

    if ((rc = revisions_upload_write(up->u, data, len, &err)) != 0) {
        api_admin_upload_abort(c);
        api_reply_error(c, api_status_of(rc), "%s", err.msg);
    }
    return rc;
}

/* Thread pool: the blocking part (fsync, rename). Touches only <up>. */
static void
upload_work(uv_work_t *w)
{
    struct upload *up = w->data;

    up->rc = revisions_upload_finish(up->u, up->hex, &up->size, &up->err);
    up->u = NULL; /* freed by finish, whatever the result */
}

static void
upload_done(uv_work_t *w, int status)
{
    struct upload *up = w->data;
    struct api_call *c = up->call;
    struct deploy_revision rev = {0};
    char id[REVISIONS_HEX_LEN + 8];
    int rc = status < 0 ? status : up->rc;

    if (c == NULL) /* the client left: the bundle may be on disk, unreferenced and harmless */
        goto out;
    set_upload(c, NULL);
    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "%s", up->err.msg);
        goto out;
    }
    snprintf(id, sizeof(id), "sha256:%s", up->hex);
    rev.revision_id = id;
    rev.sha256 = up->hex;
    rev.application_name = up->app;
    rev.bundle_type = up->type;
    rev.size = up->size;
    rev.register_ms = deploy_time_now_ms();
    if ((rc = store_revision_insert(store_of(c), &rev)) != 0) {
        api_reply_error(c, api_status_of(rc), "cannot record revision %s", id);
        goto out;
    }
    log_info("api: revision %s of %s stored (%llu bytes)", id, up->app,
             (unsigned long long)rev.size);
    api_reply_take(c, 200, deploy_info_revision_format(&rev));
out:
    free(up);
}

void
api_admin_upload_end(struct api_call *c)
{
    struct upload *up = upload_of(c);
    int rc;

    up->call = c;
    up->work.data = up;
    if ((rc = uv_queue_work(c->api->srv->loop, &up->work, upload_work, upload_done)) != 0) {
        set_upload(c, NULL);
        revisions_upload_abort(up->u);
        free(up);
        api_reply_error(c, 500, "cannot queue the bundle's fsync: %s", uv_strerror(rc));
    }
}

void
api_admin_upload_abort(struct api_call *c)
{
    struct upload *up = upload_of(c);

    if (up == NULL)
        return;
    set_upload(c, NULL);
    if (up->call != NULL) { /* finishing on the thread pool: upload_done frees it */
        up->call = NULL;
        return;
    }
    revisions_upload_abort(up->u);
    free(up);
}

/* ---- deployments ---- */

static int
fill_deployment(struct api_call *c, const struct deploy_create_request *r, struct deploy_info *in,
                struct store_group *g)
{
    struct deploy_revision rev;
    struct deploy_config cfg;
    int rc;

    if (store_application_exists(store_of(c), r->application_name) != 0) {
        api_reply_error(c, 404, "application '%s' does not exist", r->application_name);
        return -ENOENT;
    }
    if ((rc = store_group_get(store_of(c), r->application_name, r->group_name, g)) != 0) {
        api_reply_error(c, api_status_of(rc), "deployment group '%s' does not exist",
                        r->group_name);
        return rc;
    }
    rc = store_revision_get(store_of(c), r->revision_id, &rev);
    if (rc == 0 && strcmp(rev.application_name, r->application_name) != 0)
        rc = -ENOENT;
    deploy_info_revision_fini(&rev);
    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "revision '%s' does not exist in application '%s'",
                        r->revision_id, r->application_name);
        return rc;
    }
    in->config_name = r->config_name != NULL ? r->config_name : g->group.config_name;
    rc = store_config_get(store_of(c), in->config_name, &cfg);
    deploy_group_config_fini(&cfg);
    if (rc != 0) {
        api_reply_error(c, 400, "deployment config '%s' does not exist", in->config_name);
        return rc;
    }
    in->application_name = r->application_name;
    in->group_name = r->group_name;
    in->revision_id = r->revision_id;
    in->creator = "user";
    in->description = r->description;
    in->file_exists = r->file_exists;
    in->ignore_application_stop_failures = r->ignore_application_stop_failures;
    in->auto_rollback_override = r->auto_rollback_override;
    in->type = g->group.type;
    in->option = g->group.option;
    return 0;
}

static void
create_deployment(struct api_call *c)
{
    struct deploy_create_request r;
    struct deploy_info in = {0};
    struct store_group g = {0};
    struct err err = {0};
    char id[STORE_ID_MAX], active[STORE_ID_MAX];
    size_t len;
    const char *body = api_body(c, &len);
    struct server *srv = c->api->srv;
    int rc;

    if (deploy_info_request_parse(body, len, &r, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if (fill_deployment(c, &r, &in, &g) != 0)
        goto out;
    if ((rc = store_deployment_create(store_of(c), &in, id, active)) == -EBUSY) {
        api_reply_take(c, 409,
                       deploy_info_error_format("DeploymentAlreadyActive",
                                                "the group has an active deployment", active));
        goto out;
    }
    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "cannot create the deployment");
        goto out;
    }
    log_info("api: deployment %s of %s to %s/%s created", id, r.revision_id, r.application_name,
             r.group_name);
    api_reply_take(c, 200, deploy_info_id_format(id));
    if (srv->hooks.deployment_created != NULL)
        srv->hooks.deployment_created(srv->hooks.ud, id);
out:
    store_group_fini(&g);
    deploy_info_request_fini(&r);
}

static void
get_deployment(struct api_call *c)
{
    struct store_deployment d;
    int rc = store_deployment_get(store_of(c), c->segs[2], &d);

    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "deployment '%s' does not exist", c->segs[2]);
    else
        api_reply_take(c, 200, deploy_info_format(&d.info));
    store_deployment_fini(&d);
}

static void
list_deployments(struct api_call *c)
{
    char app[API_NAME_MAX], group[API_NAME_MAX];
    const char *a = http_server_req_query(c->req, "applicationName", app, sizeof(app));
    const char *g = http_server_req_query(c->req, "deploymentGroupName", group, sizeof(group));
    struct store_deployment_list l;
    const char **ids;
    int rc = store_deployment_list(store_of(c), a, g, 0, &l);

    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "cannot list deployments");
        store_deployment_list_fini(&l);
        return;
    }
    ids = mem_calloc(l.n + 1, sizeof(*ids));
    for (size_t i = 0; i < l.n; i++)
        ids[i] = l.items[i].info.deployment_id;
    api_reply_take(c, 200, deploy_info_list_format(ids, l.n));
    free(ids);
    store_deployment_list_fini(&l);
}

static void
deployment_instances(struct api_call *c)
{
    struct deploy_instance_summaries s;
    struct store_deployment d;
    int rc = store_deployment_get(store_of(c), c->segs[2], &d);

    store_deployment_fini(&d);
    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "deployment '%s' does not exist", c->segs[2]);
        return;
    }
    if (c->nsegs == 5)
        rc = store_target_get(store_of(c), c->segs[2], c->segs[4], &s);
    else
        rc = store_target_list(store_of(c), c->segs[2], &s);
    if (rc != 0)
        api_reply_error(c, api_status_of(rc), "instance '%s' is not part of deployment '%s'",
                        c->nsegs == 5 ? c->segs[4] : "?", c->segs[2]);
    else if (c->nsegs == 5)
        api_reply_take(c, 200, deploy_info_instance_format(&s.items[0]));
    else
        api_reply_take(c, 200, deploy_info_instances_format(s.items, s.n));
    deploy_info_instances_fini(&s);
}

static void
stop_or_continue(struct api_call *c, bool is_stop)
{
    struct server *srv = c->api->srv;
    struct store_deployment d;
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int auto_rollback = -1, rc;

    if (is_stop && deploy_info_stop_parse(body, len, &auto_rollback, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if ((rc = store_deployment_get(store_of(c), c->segs[2], &d)) != 0) {
        api_reply_error(c, api_status_of(rc), "deployment '%s' does not exist", c->segs[2]);
    } else if (!deploy_status_is_active(d.info.status)) {
        api_reply_error(c, 409, "deployment %s is %s, not active", c->segs[2],
                        deploy_status_name(d.info.status));
    } else if (!is_stop && d.info.status != DEPLOY_READY) {
        api_reply_error(c, 409, "deployment %s is %s: only a Ready deployment can continue",
                        c->segs[2], deploy_status_name(d.info.status));
    } else if (is_stop ? srv->hooks.deployment_stop == NULL
                       : srv->hooks.deployment_continue == NULL) {
        api_reply_error(c, 503, "the orchestrator is not running");
    } else {
        log_info("api: %s requested for %s", is_stop ? "stop" : "continue", c->segs[2]);
        api_reply_take(c, 200, mem_strdup("{}"));
        if (is_stop)
            srv->hooks.deployment_stop(srv->hooks.ud, d.info.deployment_id, auto_rollback);
        else
            srv->hooks.deployment_continue(srv->hooks.ud, d.info.deployment_id);
    }
    store_deployment_fini(&d);
}

/* ---- on-premises instances ---- */

static void
register_instance(struct api_call *c)
{
    struct deploy_onprem_list l;
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (deploy_info_onprem_list_parse(body, len, &l, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if (l.n != 1) {
        api_reply_error(c, 400, "expected one instance");
    } else if ((rc = store_instance_upsert(store_of(c), &l.items[0], NULL)) != 0) {
        api_reply_error(c, api_status_of(rc), "cannot register instance '%s'", l.items[0].name);
    } else {
        log_info("api: instance %s registered", l.items[0].name);
        api_reply_take(c, 200, deploy_info_onprem_list_format(l.items, 1));
    }
    deploy_info_onprem_list_fini(&l);
}

static void
list_instances(struct api_call *c)
{
    const struct server_conf *conf = c->api->srv->conf;
    struct deploy_onprem_list l;
    int64_t now = deploy_time_now_ms();
    int rc = store_instance_list(store_of(c), &l);

    if (rc != 0) {
        api_reply_error(c, api_status_of(rc), "cannot list instances");
    } else {
        for (size_t i = 0; i < l.n; i++) {
            struct deploy_onprem *o = &l.items[i];

            if (o->last_heartbeat_ms == 0)
                o->status = "Registered";
            else if (now - o->last_heartbeat_ms <= (int64_t)conf->heartbeat_timeout_ms)
                o->status = "Online";
            else
                o->status = "Offline";
        }
        api_reply_take(c, 200, deploy_info_onprem_list_format(l.items, l.n));
    }
    deploy_info_onprem_list_fini(&l);
}

/* ---- routing ---- */

static bool
route_applications(struct api_call *c)
{
    if (is(c, "POST", 2))
        create_application(c);
    else if (is(c, "GET", 2))
        list_applications(c);
    else if (is(c, "POST", 4) && api_seg_is(c, 3, "deployment-groups"))
        put_group(c, true);
    else if (is(c, "GET", 4) && api_seg_is(c, 3, "deployment-groups"))
        list_groups(c);
    else if (is(c, "PUT", 5) && api_seg_is(c, 3, "deployment-groups"))
        put_group(c, false);
    else if (is(c, "GET", 5) && api_seg_is(c, 3, "deployment-groups"))
        get_group(c);
    else
        return false;
    return true;
}

static bool
route_deployments(struct api_call *c)
{
    if (is(c, "POST", 2))
        create_deployment(c);
    else if (is(c, "GET", 2))
        list_deployments(c);
    else if (is(c, "GET", 3))
        get_deployment(c);
    else if ((is(c, "GET", 4) || is(c, "GET", 5)) && api_seg_is(c, 3, "instances"))
        deployment_instances(c);
    else if (is(c, "POST", 4) && api_seg_is(c, 3, "stop"))
        stop_or_continue(c, true);
    else if (is(c, "POST", 4) && api_seg_is(c, 3, "continue"))
        stop_or_continue(c, false);
    else
        return false;
    return true;
}

bool
api_admin_route(struct api_call *c)
{
    if (api_seg_is(c, 1, "applications"))
        return route_applications(c);
    if (api_seg_is(c, 1, "deployments"))
        return route_deployments(c);
    if (api_seg_is(c, 1, "deployment-configs") && is(c, "POST", 2))
        create_config(c);
    else if (api_seg_is(c, 1, "deployment-configs") && is(c, "GET", 3))
        get_config(c);
    else if (api_seg_is(c, 1, "instances") && is(c, "POST", 2))
        register_instance(c);
    else if (api_seg_is(c, 1, "instances") && is(c, "GET", 2))
        list_instances(c);
    else
        return false;
    return true;
}
