/* SPDX-License-Identifier: ISC */
/* The agent endpoints: registration (enrollment token), the command long-poll, event reports,
 * heartbeats and bundle downloads (instance token). A poll with nothing to claim is parked —
 * no busy loop: it is answered when server_command_queued() names its instance, or with
 * {"commands":[]} when its wait timer fires, or dropped when the client leaves. */
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
#include "protocol/deploy_agent.h"
#include "protocol/deploy_info.h"
#include "server/revisions.h"
#include "server/server.h"
#include "server/server_conf.h"
#include "server/store.h"

/* A parked long-poll. Freed in its timer's close callback. */
struct api_poll {
    struct api *api;       /* borrowed */
    struct api_call *call; /* borrowed: NULL once answered or aborted */
    char instance[API_NAME_MAX];
    uv_timer_t timer;
    struct api_poll *next, *prev;
};

static struct store *
store_of(struct api_call *c)
{
    return c->api->srv->store;
}

/* ---- registration ---- */

static void
register_agent(struct api_call *c)
{
    struct deploy_agent_register r;
    struct deploy_onprem o = {0};
    struct deploy_agent_registered out = {0};
    char token[AUTH_TOKEN_LEN + 1], hash[AUTH_HASH_LEN + 1];
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (c->role != API_ROLE_ENROLL && c->role != API_ROLE_ADMIN) {
        api_reply_error(c, 403, "registration needs the enrollment token");
        return;
    }
    if (deploy_agent_register_parse(body, len, &r, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    o.name = r.name;
    o.tags = r.tags;
    o.ntags = r.ntags;
    o.target = r.target;
    o.agent_version = r.agent_version;
    rc = auth_token_new(token);
    if (rc == 0)
        auth_token_hash(token, hash);
    if (rc != 0) {
        api_reply_error(c, 500, "no randomness for a token");
    } else if ((rc = store_instance_upsert(store_of(c), &o, hash)) != 0) {
        api_reply_error(c, api_status_of(rc), "cannot register instance '%s'", r.name);
    } else {
        out.instance_name = r.name;
        out.instance_token = token;
        out.heartbeat_interval_s =
            (uint32_t)((c->api->srv->conf->heartbeat_interval_ms + 999) / 1000);
        log_info("api: agent %s registered (target %s)", r.name, r.target ? r.target : "none");
        api_reply_take(c, 200, deploy_agent_registered_format(&out));
    }
    deploy_agent_register_fini(&r);
}

/* ---- commands ---- */

/* Builds the wire form of claimed commands (strings borrowed from the lookups, kept in
 * <keep> until formatted). */
struct lookups {
    struct store_deployment d;
    struct store_group g;
    struct deploy_revision rev;
    char url[160];
};

static int
describe(struct store *st, const struct store_command *sc, struct lookups *lk,
         struct deploy_command *out)
{
    int rc;

    if ((rc = store_deployment_get(st, sc->deployment_id, &lk->d)) != 0 ||
        (rc = store_group_get(st, lk->d.info.application_name, lk->d.info.group_name, &lk->g)) ||
        (rc = store_revision_get(st, lk->d.info.revision_id, &lk->rev)) != 0)
        return rc;
    snprintf(lk->url, sizeof(lk->url), "/v1/revisions/%s/bundle", lk->rev.revision_id);
    out->command_id = sc->id;
    out->deployment_id = sc->deployment_id;
    out->application_name = lk->d.info.application_name;
    out->group_name = lk->d.info.group_name;
    out->group_id = lk->g.id;
    out->revision_id = lk->rev.revision_id;
    out->sha256 = lk->rev.sha256;
    out->bundle_type = lk->rev.bundle_type;
    out->bundle_url = lk->url;
    out->events = (const char **)sc->events;
    out->nevents = sc->nevents;
    out->file_exists = lk->d.info.file_exists;
    out->ignore_application_stop_failures = lk->d.info.ignore_application_stop_failures;
    return 0;
}

static void
lookups_fini(struct lookups *lk)
{
    store_deployment_fini(&lk->d);
    store_group_fini(&lk->g);
    deploy_info_revision_fini(&lk->rev);
}

/* Claims the instance's queued commands. Answers and returns true when there were some (or on
 * error); false leaves the call unanswered. */
static bool
claim_and_answer(struct api_call *c, const char *instance)
{
    struct server *srv = c->api->srv;
    struct store_command_list l;
    struct deploy_command *cmds;
    struct lookups *lk;
    char *json;
    int rc = store_command_claim(srv->store, instance, &l);

    if (rc != 0) {
        api_reply_error(c, 500, "cannot read commands");
        return true;
    }
    if (l.n == 0) {
        store_command_list_fini(&l);
        return false;
    }
    cmds = mem_calloc(l.n, sizeof(*cmds));
    lk = mem_calloc(l.n, sizeof(*lk));
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = describe(srv->store, &l.items[i], &lk[i], &cmds[i]);
    json = rc == 0 ? deploy_agent_commands_format(cmds, l.n) : NULL;
    for (size_t i = 0; i < l.n; i++)
        lookups_fini(&lk[i]);
    free(lk);
    free(cmds);
    if (json == NULL)
        api_reply_error(c, 500, "a claimed command names a missing deployment or revision");
    else
        api_reply_take(c, 200, json);
    for (size_t i = 0; i < l.n && srv->hooks.command_claimed != NULL; i++)
        srv->hooks.command_claimed(srv->hooks.ud, l.items[i].id, instance);
    store_command_list_fini(&l);
    return true;
}

static void
on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
poll_drop(struct api_poll *p)
{
    struct api *a = p->api;

    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        a->polls = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    if (p->call != NULL)
        p->call->ext = NULL;
    p->call = NULL;
    uv_close((uv_handle_t *)&p->timer, on_poll_closed);
}

static void
on_poll_timeout(uv_timer_t *t)
{
    struct api_poll *p = t->data;
    struct api_call *c = p->call;

    poll_drop(p);
    if (c != NULL)
        api_reply_take(c, 200, deploy_agent_commands_format(NULL, 0));
}

static void
long_poll(struct api_call *c)
{
    char wait[16];
    uint32_t secs = DEPLOY_AGENT_DEFAULT_WAIT_S;
    struct api_poll *p;
    const char *w = http_server_req_query(c->req, "waitSeconds", wait, sizeof(wait));

    if (w != NULL && str_to_u32(w, &secs, 0, DEPLOY_AGENT_MAX_WAIT_S) != 0) {
        api_reply_error(c, 400, "waitSeconds: '%s' (expected 0..%d)", w, DEPLOY_AGENT_MAX_WAIT_S);
        return;
    }
    if (claim_and_answer(c, c->instance))
        return;
    if (secs == 0 || c->api->srv->is_stopping) {
        api_reply_take(c, 200, deploy_agent_commands_format(NULL, 0));
        return;
    }
    p = mem_calloc(1, sizeof(*p));
    p->api = c->api;
    p->call = c;
    str_copy(p->instance, c->instance, sizeof(p->instance));
    uv_timer_init(c->api->srv->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_poll_timeout, (uint64_t)secs * 1000, 0);
    p->next = c->api->polls;
    if (p->next != NULL)
        p->next->prev = p;
    c->api->polls = p;
    c->ext = p; /* so an abort finds its poll */
}

void
api_agent_wake(struct api *a, const char *instance)
{
    struct api_poll *p = a->polls, *next;

    for (; p != NULL; p = next) {
        next = p->next;
        if (strcmp(p->instance, instance) != 0 || p->call == NULL)
            continue;
        if (claim_and_answer(p->call, instance)) {
            p->call = NULL; /* answered: api_reply_take freed the call */
            poll_drop(p);
            return; /* one poll takes everything queued */
        }
    }
}

void
api_agent_abort(struct api_call *c)
{
    struct api_poll *p = c->ext;

    if (p == NULL)
        return;
    p->call = NULL;
    poll_drop(p);
}

void
api_agent_close_polls(struct api *a)
{
    while (a->polls != NULL) {
        struct api_poll *p = a->polls;
        struct api_call *c = p->call;

        poll_drop(p);
        if (c != NULL)
            api_reply_take(c, 200, deploy_agent_commands_format(NULL, 0));
    }
}

/* ---- events and heartbeats ---- */

static void
report_event(struct api_call *c, const char *command_id)
{
    struct server *srv = c->api->srv;
    struct deploy_event_report r;
    struct store_command_list l;
    struct deploy_event ev = {0};
    struct err err = {0};
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (deploy_agent_event_parse(body, len, &r, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    if ((rc = store_command_get(srv->store, command_id, &l)) != 0) {
        api_reply_error(c, api_status_of(rc), "command '%s' does not exist", command_id);
    } else if (strcmp(l.items[0].instance, c->instance) != 0) {
        api_reply_error(c, 403, "command %s belongs to another instance", command_id);
    } else if (l.items[0].state == STORE_COMMAND_DONE ||
               l.items[0].state == STORE_COMMAND_CANCELLED) {
        /* The orchestrator already decided this command's outcome (every event final, or the
         * host failed, e.g. AGENT_ISSUE after a silent agent): a late or repeated report must
         * not rewrite the record. Acknowledge it so the agent's outbox moves on. */
        log_info("command %s is %s: %s %s from %s not recorded", command_id,
                 store_command_state_name(l.items[0].state), r.lifecycle_event,
                 deploy_event_status_name(r.status), c->instance);
        api_reply_take(c, 200, mem_strdup("{\"recorded\":false}"));
    } else {
        ev.name = r.lifecycle_event;
        ev.status = r.status;
        ev.start_ms = r.start_ms;
        ev.end_ms = r.end_ms;
        ev.diag = r.diag;
        rc = store_event_upsert(srv->store, l.items[0].deployment_id, c->instance, &ev);
        if (rc != 0) {
            api_reply_error(c, api_status_of(rc), "cannot record event %s", ev.name);
        } else {
            api_reply_take(c, 200, mem_strdup("{}"));
            if (srv->hooks.event_reported != NULL)
                srv->hooks.event_reported(srv->hooks.ud, command_id, l.items[0].instance, &r);
        }
    }
    store_command_list_fini(&l);
    deploy_agent_event_fini(&r);
}

static void
heartbeat(struct api_call *c)
{
    struct server *srv = c->api->srv;
    struct deploy_heartbeat h;
    struct err err = {0};
    char instance[API_NAME_MAX];
    size_t len;
    const char *body = api_body(c, &len);
    int rc;

    if (deploy_agent_heartbeat_parse(body, len, &h, &err) != 0) {
        api_reply_error(c, 400, "%s", err.msg);
        return;
    }
    str_copy(instance, c->instance, sizeof(instance));
    if ((rc = store_instance_heartbeat(srv->store, instance, h.running_command_id)) != 0) {
        api_reply_error(c, api_status_of(rc), "cannot record the heartbeat");
    } else {
        api_reply_take(c, 200, mem_strdup("{}"));
        if (srv->hooks.heartbeat != NULL)
            srv->hooks.heartbeat(srv->hooks.ud, instance, h.running_command_id);
    }
    deploy_agent_heartbeat_fini(&h);
}

/* ---- bundles ---- */

static void
download_bundle(struct api_call *c, const char *revision_id)
{
    struct server *srv = c->api->srv;
    struct deploy_revision rev;
    struct err err = {0};
    uint64_t size = 0;
    int fd = -1, rc;

    if ((rc = store_revision_get(srv->store, revision_id, &rev)) != 0) {
        api_reply_error(c, api_status_of(rc), "revision '%s' does not exist", revision_id);
    } else if ((rc = revisions_open(srv->revisions, rev.sha256, rev.bundle_type, &fd, &size,
                                    &err)) != 0) {
        api_reply_error(c, 500, "revision %s: %s", revision_id, err.msg);
    } else {
        struct http_server_req *req = c->req;

        http_server_req_add_header(req, "X-Cutover-Sha256", rev.sha256);
        c->req = NULL;
        http_server_req_set_data(req, NULL);
        free(c);
        http_server_respond_fd(req, 200, "application/octet-stream", fd, size);
    }
    deploy_info_revision_fini(&rev);
}

bool
api_agent_route(struct api_call *c)
{
    bool is_get = strcmp(c->method, "GET") == 0, is_post = strcmp(c->method, "POST") == 0;

    if (api_seg_is(c, 1, "revisions") && c->nsegs == 4 && api_seg_is(c, 3, "bundle") && is_get) {
        if (c->role != API_ROLE_AGENT && c->role != API_ROLE_ADMIN)
            api_reply_error(c, 403, "bundles are for instance tokens");
        else
            download_bundle(c, c->segs[2]);
        return true;
    }
    if (c->nsegs == 3 && api_seg_is(c, 2, "register") && is_post) {
        register_agent(c);
        return true;
    }
    if (c->role != API_ROLE_AGENT) {
        api_reply_error(c, 403, "the agent endpoints need an instance token");
        return true;
    }
    if (c->nsegs == 3 && api_seg_is(c, 2, "commands") && is_get)
        long_poll(c);
    else if (c->nsegs == 5 && api_seg_is(c, 2, "commands") && api_seg_is(c, 4, "events") && is_post)
        report_event(c, c->segs[3]);
    else if (c->nsegs == 3 && api_seg_is(c, 2, "heartbeat") && is_post)
        heartbeat(c);
    else
        return false;
    return true;
}
