/* SPDX-License-Identifier: ISC */
/* Drives deployments. The persisted progress (deploy_progress: phase = deployment_step) is the
 * state; hosts move through their phases (deployment_host_phases), each phase's state being
 * the lifecycle event rows and the command rows in the store. In memory there is only what a
 * restart may forget: which proxy call is in flight, a short-lived health cache, the alarm
 * windows. See deployment.h for the step diagram.
 *
 *   tick/kick ─▶ for each active deployment: load rows ─▶ step function ─▶ persist ─▶ act
 *   proxy call done ─▶ persist the result ─▶ kick
 */
#include "server/orchestrator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy_progress.h"
#include "server/alarms.h"
#include "server/deployment.h"
#include "server/notify.h"
#include "server/server.h"
#include "server/store.h"
#include "server/traffic.h"

#define HEALTH_FRESH_MS 200
#define PROXY_MAX_FAILURES 10 /* consecutive failed proxy calls before the deployment fails */
#define MAX_ALARMS 8
#define NAME_MAX_LEN 128

struct orch_alarm {
    struct deployment_alarm a;
    char name[64];
    char group[NAME_MAX_LEN]; /* the target group it watches */
};

/* What the orchestrator remembers of one active deployment between ticks (forgettable). */
struct orch_dep {
    struct orch_dep *next;
    struct orch *o;
    char id[STORE_ID_MAX];
    bool is_busy;            /* a proxy call for it is in flight */
    bool is_seen;            /* listed active by the last tick */
    bool is_scraping;        /* a /metrics scrape is in flight */
    unsigned proxy_failures; /* consecutive failed proxy calls */
    char admin[256];         /* the group's proxy admin address */
    char health_group[NAME_MAX_LEN];
    uint64_t health_at;             /* uv_now of the cached health; 0: none */
    struct proxy_api_health health; /* owned copy */
    bool rb_registered;             /* ROLLBACK_TRAFFIC: original targets re-registered */
    bool watch;                     /* alarms are evaluated now */
    struct orch_alarm alarms[MAX_ALARMS];
    size_t nalarms;
    char win_group[2][NAME_MAX_LEN];
    struct alarms_window *win[2]; /* owned */
    size_t nwin;
};

struct orch {
    struct server *srv;
    uv_loop_t *loop;
    uv_timer_t tick;   /* periodic */
    uv_timer_t kick;   /* one-shot, 0 ms: "something changed" */
    uv_timer_t scrape; /* periodic alarm scrapes */
    struct notify *notify;
    struct orch_dep *deps;
    int64_t started_ms; /* wall clock at start: heartbeat ages count from here at most */
    uint64_t heartbeat_timeout_ms;
    unsigned inflight;     /* proxy calls in flight */
    unsigned handles_open; /* timers not yet closed */
    bool is_stopping;
};

/* The rows of one deployment, loaded for one step. */
struct ctx {
    struct orch *o;
    struct orch_dep *od;
    struct store_deployment dep;
    struct store_group grp;
    bool has_grp;
    struct deploy_progress prog;
    struct deployment_plan plan;
    enum deployment_step step;
    struct deploy_instance_summaries hosts;
    struct store_command_list cmds;
    int64_t now; /* wall clock, ms */
};

/* Why a host failed. */
struct reason {
    enum deployment_error code;
    char msg[400];
};

enum host_verdict {
    HOST_BUSY = 0,
    HOST_DONE,
    HOST_FAILED,
};

static void kick(struct orch *o);
static void end_deployment(struct ctx *c, enum deployment_end_cause cause,
                           enum deployment_error code, const char *msg, int stop_rollback);

/* ---- in-memory deployment records ---------------------------------------------------------- */

static struct orch_dep *
dep_find(struct orch *o, const char *id)
{
    for (struct orch_dep *d = o->deps; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    return NULL;
}

static struct orch_dep *
dep_get(struct orch *o, const char *id)
{
    struct orch_dep *d = dep_find(o, id);

    if (d != NULL)
        return d;
    d = mem_calloc(1, sizeof(*d));
    d->o = o;
    str_copy(d->id, id, sizeof(d->id));
    d->next = o->deps;
    o->deps = d;
    return d;
}

static void
dep_unwatch(struct orch_dep *d)
{
    for (size_t i = 0; i < d->nwin; i++)
        FREE_AND_NULL(d->win[i]);
    d->nwin = 0;
    d->nalarms = 0;
    d->watch = false;
}

static void
dep_free(struct orch_dep *d)
{
    dep_unwatch(d);
    proxy_api_health_fini(&d->health);
    free(d);
}

/* Forgets deployments no longer active once nothing of theirs is in flight. */
static void
dep_sweep(struct orch *o)
{
    struct orch_dep **pp = &o->deps;

    while (*pp != NULL) {
        struct orch_dep *d = *pp;
        if (!d->is_seen && !d->is_busy && !d->is_scraping) {
            *pp = d->next;
            dep_free(d);
            continue;
        }
        pp = &d->next;
    }
}

/* ---- loading and saving -------------------------------------------------------------------- */

static void
ctx_fini(struct ctx *c)
{
    store_deployment_fini(&c->dep);
    if (c->has_grp)
        store_group_fini(&c->grp);
    deploy_progress_fini(&c->prog);
    deploy_info_instances_fini(&c->hosts);
    store_command_list_fini(&c->cmds);
}

static int
ctx_load(struct orch *o, const char *id, struct ctx *c)
{
    struct store *st = o->srv->store;
    struct err err;
    int rc;

    memset(c, 0, sizeof(*c));
    c->o = o;
    c->now = deploy_time_now_ms();
    deploy_progress_init(&c->prog);
    if ((rc = store_deployment_get(st, id, &c->dep)) < 0)
        return rc;
    c->od = dep_get(o, id);
    if (c->dep.step != NULL &&
        deploy_progress_parse(&c->prog, c->dep.step, strlen(c->dep.step), &err) < 0) {
        log_warn("deployment %s: unreadable progress, failing it: %s", id, err.msg);
        deploy_progress_init(&c->prog);
        c->prog.phase = "corrupt";
    }
    if (c->prog.arena.chunk_size == 0)
        arena_init(&c->prog.arena, 512);
    if (deployment_step_parse(c->prog.phase, &c->step) < 0)
        c->step = DEPLOYMENT_STEP_ROLLBACK_TRAFFIC; /* unknown: make traffic safe, then end */
    c->has_grp =
        store_group_get(st, c->dep.info.application_name, c->dep.info.group_name, &c->grp) == 0;
    c->plan.type = c->has_grp ? (enum deployment_type)c->grp.group.type
                              : (enum deployment_type)c->dep.info.type;
    c->plan.is_restore = c->prog.restore;
    c->plan.wait_for_continue = c->has_grp && c->grp.group.ready_action == DEPLOY_READY_STOP;
    if ((rc = store_target_list(st, id, &c->hosts)) < 0)
        return rc;
    if ((rc = store_command_list(st, id, &c->cmds)) < 0)
        return rc;
    if (c->has_grp && c->grp.group.proxy_admin != NULL)
        str_copy(c->od->admin, c->grp.group.proxy_admin, sizeof(c->od->admin));
    return 0;
}

static void
save(struct ctx *c)
{
    char *text;

    c->prog.phase = deployment_step_name(c->step);
    text = deploy_progress_format(&c->prog);
    if (store_deployment_set_step(c->o->srv->store, c->dep.info.deployment_id, text) < 0)
        log_error("deployment %s: cannot persist its progress", c->dep.info.deployment_id);
    free(text);
}

static void
enter(struct ctx *c, enum deployment_step next)
{
    log_info("deployment %s: %s -> %s", c->dep.info.deployment_id, deployment_step_name(c->step),
             deployment_step_name(next));
    c->step = next;
    c->prog.step_ms = c->now;
    c->prog.applied = false;
    save(c);
}

static void
update_info(struct ctx *c)
{
    store_target_overview(c->o->srv->store, c->dep.info.deployment_id, &c->dep.info.overview);
    if (store_deployment_update(c->o->srv->store, &c->dep.info) < 0)
        log_error("deployment %s: cannot update its record", c->dep.info.deployment_id);
}

/* ---- notifications ------------------------------------------------------------------------ */

static bool
trigger_wants(const struct deploy_trigger *t, const char *event)
{
    for (size_t i = 0; i < t->nevents; i++)
        if (strcmp(t->events[i], event) == 0)
            return true;
    return false;
}

static void
notify_event(struct ctx *c, const char *event, const char *instance, const char *status)
{
    if (!c->has_grp || c->o->notify == NULL)
        return;
    for (size_t i = 0; i < c->grp.group.ntriggers; i++) {
        const struct deploy_trigger *t = &c->grp.group.triggers[i];
        struct deploy_progress_notice n = {
            .trigger_name = t->name,
            .event = event,
            .application_name = c->dep.info.application_name,
            .group_name = c->dep.info.group_name,
            .deployment_id = c->dep.info.deployment_id,
            .status = status,
            .instance = instance,
            .error_code = deploy_error_code_name(c->dep.info.error_code),
            .error_message = c->dep.info.error_message,
            .at_ms = c->now,
        };
        if (t->url != NULL && trigger_wants(t, event))
            notify_send(c->o->notify, t->url, deploy_progress_notice_format(&n));
    }
}

/* ---- hosts --------------------------------------------------------------------------------- */

static const struct deploy_event *
find_event(const struct deploy_instance_summary *h, const char *name)
{
    for (size_t i = 0; i < h->nevents; i++)
        if (strcmp(h->events[i].name, name) == 0)
            return &h->events[i];
    return NULL;
}

static const struct store_command *
find_command(const struct ctx *c, const char *instance, const char *first_event)
{
    for (size_t i = 0; i < c->cmds.n; i++) {
        const struct store_command *cmd = &c->cmds.items[i];
        if (strcmp(cmd->instance, instance) == 0 && cmd->nevents > 0 &&
            strcmp(cmd->events[0], first_event) == 0)
            return cmd;
    }
    return NULL;
}

static enum deploy_instance_type
role_type(enum deployment_role r)
{
    switch (r) {
    case DEPLOYMENT_ROLE_IN_PLACE:
        return DEPLOY_INSTANCE_TYPE_NONE;
    case DEPLOYMENT_ROLE_REPLACEMENT:
        return DEPLOY_INSTANCE_TYPE_GREEN;
    case DEPLOYMENT_ROLE_ORIGINAL:
        return DEPLOY_INSTANCE_TYPE_BLUE;
    }
    return DEPLOY_INSTANCE_TYPE_NONE;
}

static void
set_event(struct ctx *c, const char *instance, const char *name, enum deploy_event_status st,
          int64_t start_ms, const char *diag_code, const char *message)
{
    struct deploy_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.name = name;
    ev.status = st;
    ev.start_ms = start_ms;
    ev.end_ms = deployment_event_status_is_final((enum deployment_event_status)st) ? c->now : 0;
    ev.diag.exit_code = -1;
    ev.diag.error_code = diag_code;
    ev.diag.message = message;
    if (store_event_upsert(c->o->srv->store, c->dep.info.deployment_id, instance, &ev) < 0)
        log_error("deployment %s: %s: cannot record %s", c->dep.info.deployment_id, instance, name);
}

static enum deployment_error
error_of_diag(const struct deploy_diagnostics *d)
{
    if (d->error_code != NULL && strcmp(d->error_code, "HealthConstraints") == 0)
        return DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
    if (d->error_code != NULL && strcmp(d->error_code, "Timeout") == 0)
        return DEPLOYMENT_ERR_TIMEOUT;
    if (d->error_code != NULL && strcmp(d->error_code, "UnknownError") == 0 && d->exit_code == 7)
        return DEPLOYMENT_ERR_AGENT_ISSUE; /* interrupted by an agent restart */
    return deployment_error_from_diagnostic(d->error_code);
}

/* The reason of a failed host, from its first failed event. */
static void
reason_of(const struct deploy_instance_summary *h, struct reason *r)
{
    r->code = DEPLOYMENT_ERR_SCRIPT_FAILED;
    snprintf(r->msg, sizeof(r->msg), "instance %s failed", h->instance_id);
    for (size_t i = 0; i < h->nevents; i++) {
        const struct deploy_event *ev = &h->events[i];
        if (ev->status != DEPLOY_EVENT_FAILED)
            continue;
        r->code = error_of_diag(&ev->diag);
        if (ev->diag.script_name != NULL)
            snprintf(r->msg, sizeof(r->msg), "instance %s: %s failed (%s): %s", h->instance_id,
                     ev->name, ev->diag.script_name,
                     ev->diag.message != NULL ? ev->diag.message : "no message");
        else
            snprintf(r->msg, sizeof(r->msg), "instance %s: %s failed: %s", h->instance_id, ev->name,
                     ev->diag.message != NULL ? ev->diag.message : "no message");
        return;
    }
}

/* True when the agent of <instance> has been silent too long while <cmd> is not done. */
static bool
agent_is_silent(struct ctx *c, const char *instance, const struct store_command *cmd)
{
    int64_t at = 0, last;

    store_instance_last_heartbeat(c->o->srv->store, instance, &at, NULL);
    last = at;
    if (c->o->started_ms > last)
        last = c->o->started_ms;
    if (cmd->create_ms > last)
        last = cmd->create_ms;
    if (cmd->claim_ms > last)
        last = cmd->claim_ms;
    return c->now - last > (int64_t)c->o->heartbeat_timeout_ms;
}

static enum host_verdict
host_command(struct ctx *c, const struct deploy_instance_summary *h,
             const struct deployment_phase *p, struct reason *why)
{
    const char *names[DEPLOYMENT_NEVENTS];
    const struct store_command *cmd;
    const char *pending = NULL;
    char id[STORE_ID_MAX];

    for (size_t i = 0; i < p->count; i++)
        names[i] = deployment_event_name((enum deployment_event)(p->first + i));
    cmd = find_command(c, h->instance_id, names[0]);
    if (cmd == NULL) {
        if (store_command_create(c->o->srv->store, c->dep.info.deployment_id, h->instance_id, names,
                                 p->count, id) < 0) {
            log_error("deployment %s: %s: cannot queue %s", c->dep.info.deployment_id,
                      h->instance_id, names[0]);
            return HOST_BUSY;
        }
        log_info("deployment %s: %s: command %s queued (%s, %zu events)", c->dep.info.deployment_id,
                 h->instance_id, id, names[0], p->count);
        server_command_queued(c->o->srv, h->instance_id);
        return HOST_BUSY;
    }
    for (size_t i = 0; i < p->count; i++) {
        const struct deploy_event *ev = find_event(h, names[i]);
        if (ev != NULL && ev->status == DEPLOY_EVENT_FAILED) {
            reason_of(h, why);
            if (cmd->state != STORE_COMMAND_DONE)
                store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
            return HOST_FAILED;
        }
        if (pending == NULL && (ev == NULL || (ev->status != DEPLOY_EVENT_SUCCEEDED &&
                                               ev->status != DEPLOY_EVENT_SKIPPED)))
            pending = names[i];
    }
    if (pending == NULL) {
        if (cmd->state != STORE_COMMAND_DONE)
            store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
        return HOST_DONE;
    }
    if (agent_is_silent(c, h->instance_id, cmd)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no heartbeat from the agent for %llu ms during %s",
                 (unsigned long long)c->o->heartbeat_timeout_ms, pending);
        set_event(c, h->instance_id, pending, DEPLOY_EVENT_FAILED, 0, "AgentIssue", msg);
        store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
        why->code = DEPLOYMENT_ERR_AGENT_ISSUE;
        snprintf(why->msg, sizeof(why->msg), "instance %s: %s", h->instance_id, msg);
        return HOST_FAILED;
    }
    return HOST_BUSY;
}

/* ---- proxy calls ---------------------------------------------------------------------------- */

enum op_kind {
    OP_HEALTH = 0,
    OP_TARGETS,
    OP_SHIFT,      /* SHIFT: the split <shift> */
    OP_TEST,       /* ALLOW: the test listener to the replacement */
    OP_RB_TARGETS, /* ROLLBACK_TRAFFIC: original targets back */
    OP_RB_SHIFT,   /* ROLLBACK_TRAFFIC: all traffic to the original */
};

struct op {
    struct orch *o;
    char id[STORE_ID_MAX];
    enum op_kind kind;
    uint32_t shift;
    uint32_t percent;
    char names[2][NAME_MAX_LEN]; /* OP_SHIFT/OP_RB_SHIFT: original, replacement groups */
    char group[NAME_MAX_LEN];    /* OP_HEALTH */
};

static struct op *
op_new(struct ctx *c, enum op_kind kind)
{
    struct op *op = mem_calloc(1, sizeof(*op));

    op->o = c->o;
    op->kind = kind;
    str_copy(op->id, c->dep.info.deployment_id, sizeof(op->id));
    c->od->is_busy = true;
    c->o->inflight++;
    return op;
}

/* Returns the deployment's record if the result still matters. */
static struct orch_dep *
op_finish(struct op *op, const struct traffic_result *res)
{
    struct orch *o = op->o;
    struct orch_dep *d = dep_find(o, op->id);

    o->inflight--;
    if (o->is_stopping) {
        if (o->inflight == 0 && o->handles_open == 0)
            free(o);
        return NULL;
    }
    if (d == NULL)
        return NULL;
    d->is_busy = false;
    if (res->status < 0) {
        d->proxy_failures++;
        log_warn("deployment %s: proxy %s: %s (failure %u)", op->id, d->admin, res->msg,
                 d->proxy_failures);
    } else {
        d->proxy_failures = 0;
    }
    kick(o);
    return d;
}

static void
on_op_done(void *ud, const struct traffic_result *res)
{
    struct op *op = ud;
    struct orch_dep *d = op_finish(op, res);
    struct ctx c;

    if (d == NULL || res->status < 0)
        goto out;
    switch (op->kind) {
    case OP_HEALTH: {
        char *text = proxy_api_health_format(&res->health);
        proxy_api_health_fini(&d->health);
        if (proxy_api_health_parse(&d->health, text, strlen(text), NULL) == 0) {
            str_copy(d->health_group, op->group, sizeof(d->health_group));
            d->health_at = uv_now(op->o->loop);
        }
        free(text);
        break;
    }
    case OP_TARGETS:
        d->health_at = 0;
        break;
    case OP_RB_TARGETS:
        d->health_at = 0;
        d->rb_registered = true;
        break;
    case OP_SHIFT:
    case OP_TEST:
    case OP_RB_SHIFT:
        if (ctx_load(op->o, op->id, &c) == 0) {
            enum deployment_step want = op->kind == OP_SHIFT  ? DEPLOYMENT_STEP_SHIFT
                                        : op->kind == OP_TEST ? DEPLOYMENT_STEP_ALLOW
                                                              : DEPLOYMENT_STEP_ROLLBACK_TRAFFIC;
            /* ignore a late answer for a step the deployment already left */
            if (c.step == want && (op->kind != OP_SHIFT || c.prog.shift == op->shift) &&
                !c.prog.applied) {
                c.prog.applied = true;
                if (op->kind != OP_TEST) {
                    c.prog.percent = op->percent;
                    c.prog.ntraffic = 2;
                    c.prog.traffic_names[0] = op->names[0];
                    c.prog.traffic_names[1] = op->names[1];
                    c.prog.traffic_weights[0] = 100 - op->percent;
                    c.prog.traffic_weights[1] = op->percent;
                    c.prog.step_ms = c.now; /* the hold counts from the verified change */
                    log_info("deployment %s: traffic %s=%u %s=%u verified", op->id, op->names[0],
                             100 - op->percent, op->names[1], op->percent);
                }
                save(&c);
            }
        }
        ctx_fini(&c);
        break;
    }
out:
    free(op);
}

static bool
health_fresh(struct ctx *c, const char *group)
{
    struct orch_dep *d = c->od;

    return d->health_at != 0 && strcmp(d->health_group, group) == 0 &&
           uv_now(c->o->loop) - d->health_at <= HEALTH_FRESH_MS;
}

static void
start_health(struct ctx *c, const char *group)
{
    struct op *op;

    if (c->od->is_busy)
        return;
    op = op_new(c, OP_HEALTH);
    str_copy(op->group, group, sizeof(op->group));
    if (traffic_health(c->o->loop, c->od->admin, group, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

static void
start_targets(struct ctx *c, enum op_kind kind, const char *group, bool add,
              const char *const *targets, size_t n)
{
    struct op *op;

    if (c->od->is_busy)
        return;
    op = op_new(c, kind);
    log_info("deployment %s: %s %zu target(s) %s %s (first %s)", c->dep.info.deployment_id,
             add ? "registering" : "deregistering", n, add ? "in" : "from", group, targets[0]);
    if (traffic_targets(c->o->loop, c->od->admin, group, add, targets, n, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

static void
start_forward(struct ctx *c, enum op_kind kind, const char *original, const char *replacement,
              uint32_t percent)
{
    struct proxy_api_forward fw[2];
    const char *listener = kind == OP_TEST ? c->grp.group.test_listener : c->grp.group.listener;
    struct op *op;
    size_t n = 2;

    if (c->od->is_busy)
        return;
    op = op_new(c, kind);
    op->shift = c->prog.shift;
    op->percent = percent;
    str_copy(op->names[0], original, sizeof(op->names[0]));
    str_copy(op->names[1], replacement, sizeof(op->names[1]));
    if (kind == OP_TEST) {
        fw[0] = (struct proxy_api_forward){replacement, 1};
        n = 1;
    } else {
        deployment_traffic_weights(percent, &fw[0].weight, &fw[1].weight);
        fw[0].target_group = original;
        fw[1].target_group = replacement;
    }
    if (n == 2)
        log_info("deployment %s: listener %s: %s=%u %s=%u", c->dep.info.deployment_id, listener,
                 fw[0].target_group, fw[0].weight, fw[1].target_group, fw[1].weight);
    else
        log_info("deployment %s: listener %s: %s=%u", c->dep.info.deployment_id, listener,
                 fw[0].target_group, fw[0].weight);
    if (traffic_set_forward(c->o->loop, c->od->admin, listener, fw, n, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

/* True (and the deployment ended) when the proxy keeps failing. */
static bool
proxy_gave_up(struct ctx *c)
{
    char msg[400];

    if (c->od->proxy_failures < PROXY_MAX_FAILURES)
        return false;
    snprintf(msg, sizeof(msg), "proxy admin %s failed %u times in a row", c->od->admin,
             c->od->proxy_failures);
    c->od->proxy_failures = 0;
    end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_ELASTIC_LOAD_BALANCING_INVALID, msg,
                   -1);
    return true;
}

/* ---- server-side traffic events ------------------------------------------------------------- */

static enum host_verdict
host_traffic(struct ctx *c, const struct deploy_instance_summary *h,
             const struct deployment_phase *p, const char *group, struct reason *why)
{
    const char *name = deployment_event_name(p->first);
    const struct deploy_event *ev = find_event(h, name);
    int64_t since = ev != NULL && ev->start_ms != 0 ? ev->start_ms : c->now;
    const char *state;

    if (ev != NULL && (ev->status == DEPLOY_EVENT_SUCCEEDED || ev->status == DEPLOY_EVENT_SKIPPED))
        return HOST_DONE;
    if (ev != NULL && ev->status == DEPLOY_EVENT_FAILED) {
        reason_of(h, why);
        return HOST_FAILED;
    }
    if (group == NULL || (p->kind == DEPLOYMENT_PHASE_BLOCK && h->target == NULL)) {
        set_event(c, h->instance_id, name, DEPLOY_EVENT_SKIPPED, since, NULL, NULL);
        return HOST_DONE;
    }
    if (ev == NULL || ev->status != DEPLOY_EVENT_IN_PROGRESS) /* persisted before acting */
        set_event(c, h->instance_id, name, DEPLOY_EVENT_IN_PROGRESS, since, NULL, NULL);
    if (h->target == NULL) {
        set_event(c, h->instance_id, name, DEPLOY_EVENT_FAILED, since, "HealthConstraints",
                  "the instance has no target address (agent --target)");
        why->code = DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
        snprintf(why->msg, sizeof(why->msg), "instance %s: no target to register in %s",
                 h->instance_id, group);
        return HOST_FAILED;
    }
    if (!health_fresh(c, group)) {
        start_health(c, group);
        return HOST_BUSY;
    }
    state = traffic_target_state(&c->od->health, h->target);
    if (p->kind == DEPLOYMENT_PHASE_BLOCK) {
        if (state == NULL) {
            set_event(c, h->instance_id, name, DEPLOY_EVENT_SUCCEEDED, since, NULL, NULL);
            return HOST_DONE;
        }
        if (strcmp(state, "draining") != 0)
            start_targets(c, OP_TARGETS, group, false, &h->target, 1);
        return HOST_BUSY;
    }
    if (state != NULL && strcmp(state, "healthy") == 0) {
        set_event(c, h->instance_id, name, DEPLOY_EVENT_SUCCEEDED, since, NULL, NULL);
        return HOST_DONE;
    }
    if (state == NULL || strcmp(state, "draining") == 0 || strcmp(state, "unused") == 0) {
        start_targets(c, OP_TARGETS, group, true, &h->target, 1);
        return HOST_BUSY;
    }
    if (c->has_grp && c->now - since > (int64_t)c->grp.group.health_timeout_ms) {
        char msg[256];
        snprintf(msg, sizeof(msg), "target %s not healthy in %s after %llu ms (state %s)",
                 h->target, group, (unsigned long long)c->grp.group.health_timeout_ms, state);
        set_event(c, h->instance_id, name, DEPLOY_EVENT_FAILED, since, "HealthConstraints", msg);
        why->code = DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
        snprintf(why->msg, sizeof(why->msg), "instance %s: %s", h->instance_id, msg);
        return HOST_FAILED;
    }
    return HOST_BUSY;
}

/* Runs <h> through its phases of <stage>, as far as it goes this tick. */
static enum host_verdict
host_advance(struct ctx *c, const struct deploy_instance_summary *h, enum deployment_role role,
             enum deployment_stage stage, const char *group, struct reason *why)
{
    struct deployment_phase ph[DEPLOYMENT_MAX_PHASES];
    size_t n = deployment_host_phases(role, stage, group != NULL, ph);

    for (size_t i = 0; i < n; i++) {
        enum host_verdict v = ph[i].kind == DEPLOYMENT_PHASE_COMMAND
                                  ? host_command(c, h, &ph[i], why)
                                  : host_traffic(c, h, &ph[i], group, why);
        if (v != HOST_DONE)
            return v;
    }
    return HOST_DONE;
}

/* ---- fleets -------------------------------------------------------------------------------- */

static const char *
fleet_group(const struct ctx *c, bool replacement)
{
    int idx;

    if (!c->has_grp)
        return NULL;
    if (c->grp.group.type == DEPLOY_TYPE_IN_PLACE)
        return c->grp.group.proxy_admin != NULL ? c->grp.group.target_group : NULL;
    idx = replacement ? 1 - c->prog.original_fleet : c->prog.original_fleet;
    if (idx < 0 || idx > 1 || (size_t)idx >= c->grp.group.nfleets)
        return NULL;
    return c->grp.group.fleets[idx].target_group;
}

static void
set_instance(struct ctx *c, const char *instance, enum deploy_instance_status st, const char *event)
{
    store_target_set_status(c->o->srv->store, c->dep.info.deployment_id, instance, st);
    if (event != NULL)
        notify_event(c, event, instance, deploy_instance_status_name(st));
}

/* Hosts of <type> through <stage> in batches of <batch>: a Pending host is started (status
 * InProgress) when the batch allows, a finished one takes <done_status>. Returns DONE when all
 * are done, FAILED (with <why>) when a host failed and none is in flight any more. */
static enum host_verdict
fleet_install(struct ctx *c, enum deployment_role role, size_t batch,
              enum deploy_instance_status done_status, struct reason *why)
{
    struct deployment_fleet_counts cnt = {0};
    enum deploy_instance_type type = role_type(role);
    const char *group = role == DEPLOYMENT_ROLE_IN_PLACE ? fleet_group(c, false) : NULL;
    enum deployment_decision dec;
    bool has_reason = false;
    size_t nstart;

    for (size_t i = 0; i < c->hosts.n; i++) {
        struct deploy_instance_summary *h = &c->hosts.items[i];
        struct reason r;
        if (h->instance_type != type)
            continue;
        if (h->status == DEPLOY_INSTANCE_IN_PROGRESS) {
            enum host_verdict v = host_advance(c, h, role, DEPLOYMENT_STAGE_INSTALL, group, &r);
            if (v == HOST_DONE) {
                h->status = done_status;
                set_instance(c, h->instance_id, done_status,
                             done_status == DEPLOY_INSTANCE_READY ? "InstanceReady"
                                                                  : "InstanceSuccess");
            } else if (v == HOST_FAILED) {
                if (!has_reason)
                    *why = r; /* this tick's reason: the rows above may not show it yet */
                has_reason = true;
                h->status = DEPLOY_INSTANCE_FAILED;
                set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, "InstanceFailure");
            }
        }
        switch (h->status) {
        case DEPLOY_INSTANCE_PENDING:
            cnt.pending++;
            break;
        case DEPLOY_INSTANCE_IN_PROGRESS:
            cnt.in_progress++;
            break;
        case DEPLOY_INSTANCE_FAILED:
            if (!has_reason)
                reason_of(h, why);
            has_reason = true;
            cnt.failed++;
            break;
        case DEPLOY_INSTANCE_SUCCEEDED:
        case DEPLOY_INSTANCE_READY:
        case DEPLOY_INSTANCE_SKIPPED:
        case DEPLOY_INSTANCE_UNKNOWN:
            cnt.succeeded++;
            break;
        }
    }
    dec = deployment_fleet_decide(batch, &cnt, &nstart);
    switch (dec) {
    case DEPLOYMENT_DECIDE_START:
        for (size_t i = 0; i < c->hosts.n && nstart > 0; i++) {
            struct deploy_instance_summary *h = &c->hosts.items[i];
            if (h->instance_type != type || h->status != DEPLOY_INSTANCE_PENDING)
                continue;
            set_instance(c, h->instance_id, DEPLOY_INSTANCE_IN_PROGRESS, "InstanceStart");
            nstart--;
        }
        kick(c->o);
        return HOST_BUSY;
    case DEPLOYMENT_DECIDE_WAIT:
        return HOST_BUSY;
    case DEPLOYMENT_DECIDE_SUCCEEDED:
        return HOST_DONE;
    case DEPLOYMENT_DECIDE_FAILED:
        return HOST_FAILED;
    }
    return HOST_BUSY;
}

/* Every host of <role> through <stage> at once. */
static enum host_verdict
fleet_all(struct ctx *c, enum deployment_role role, enum deployment_stage stage, const char *group,
          struct reason *why)
{
    enum deploy_instance_type type = role_type(role);
    enum host_verdict all = HOST_DONE;

    for (size_t i = 0; i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        enum host_verdict v;
        if (h->instance_type != type)
            continue;
        v = host_advance(c, h, role, stage, group, why);
        if (v == HOST_FAILED) {
            set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, "InstanceFailure");
            return HOST_FAILED;
        }
        if (v == HOST_BUSY)
            all = HOST_BUSY;
    }
    return all;
}

/* ---- ending ------------------------------------------------------------------------------- */

static bool
has_last_good(struct ctx *c, char *rev, size_t size)
{
    struct store_deployment last;
    bool ok = false;

    memset(&last, 0, sizeof(last));
    if (store_deployment_last_succeeded(c->o->srv->store, c->dep.info.application_name,
                                        c->dep.info.group_name, &last) == 0 &&
        last.info.revision_id != NULL) {
        str_copy(rev, last.info.revision_id, size);
        ok = true;
    }
    store_deployment_fini(&last);
    return ok;
}

static void
plan_of(struct ctx *c, enum deployment_end_cause cause, enum deployment_error code,
        int stop_rollback, bool has_good, struct deployment_rollback_plan *out)
{
    struct deployment_rollback_conf conf = {0};
    struct deployment_ending e = {
        .cause = cause,
        .stop_rollback = stop_rollback,
        .is_rollback = c->dep.info.creator != NULL && strcmp(c->dep.info.creator, "rollback") == 0,
        .has_last_good = has_good,
        .type = c->plan.type,
        .traffic_may_have_moved = deployment_step_needs_traffic_rollback(&c->plan, c->step),
    };

    if (c->has_grp) {
        conf.enabled = c->grp.group.rollback_enabled;
        conf.events = c->grp.group.rollback_events;
    }
    if (c->dep.info.auto_rollback_override >= 0)
        conf.enabled = c->dep.info.auto_rollback_override == 1;
    deployment_plan_ending(&conf, &e, code, out);
}

static void
cancel_commands(struct ctx *c)
{
    for (size_t i = 0; i < c->cmds.n; i++) {
        const struct store_command *cmd = &c->cmds.items[i];
        if (cmd->state == STORE_COMMAND_QUEUED)
            store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_CANCELLED);
        else if (cmd->state == STORE_COMMAND_CLAIMED)
            store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
    }
}

static void
create_rollback(struct ctx *c, const char *revision, bool restore)
{
    struct deploy_info r;
    struct deploy_progress p;
    char id[STORE_ID_MAX], active[STORE_ID_MAX] = "", msg[200];
    char *text;
    int rc;

    memset(&r, 0, sizeof(r));
    r.application_name = c->dep.info.application_name;
    r.group_name = c->dep.info.group_name;
    r.revision_id = revision;
    r.config_name = c->dep.info.config_name;
    r.creator = "rollback";
    snprintf(msg, sizeof(msg), "rollback of %s", c->dep.info.deployment_id);
    r.description = msg;
    r.file_exists = c->dep.info.file_exists;
    r.ignore_application_stop_failures = c->dep.info.ignore_application_stop_failures;
    r.auto_rollback_override = -1;
    r.type = c->dep.info.type;
    r.option = c->dep.info.option;
    r.rollback_triggering_deployment_id = c->dep.info.deployment_id;
    rc = store_deployment_create(c->o->srv->store, &r, id, active);
    if (rc < 0) {
        log_error("deployment %s: cannot create its rollback (%s%s)", c->dep.info.deployment_id,
                  strerror(-rc), active[0] != '\0' ? ", active elsewhere" : "");
        return;
    }
    deploy_progress_init(&p);
    p.restore = restore;
    text = deploy_progress_format(&p);
    store_deployment_set_step(c->o->srv->store, id, text);
    free(text);
    c->dep.info.rollback_deployment_id = arena_strdup(&c->prog.arena, id);
    snprintf(msg, sizeof(msg), "rolled back by %s (%s of %s)", id,
             restore ? "original fleet restored" : "redeploy", revision);
    c->dep.info.rollback_message = arena_strdup(&c->prog.arena, msg);
    log_info("deployment %s: rollback %s created (%s)", c->dep.info.deployment_id, id,
             restore ? "restore" : "redeploy");
}

/* The last act of a failing or stopped deployment: records, commands, rollback, in one
 * transaction. */
static void
finalize_failure(struct ctx *c)
{
    enum deployment_end_cause cause = DEPLOYMENT_END_FAILURE;
    enum deployment_error code = DEPLOYMENT_ERR_INTERNAL_ERROR;
    struct deployment_rollback_plan plan;
    char rev[STORE_ID_MAX * 2];
    bool good = has_last_good(c, rev, sizeof(rev));

    deployment_end_cause_parse(c->prog.end_cause, &cause);
    deployment_error_parse(c->prog.end_code, &code);
    plan_of(c, cause, code, c->prog.stop_rollback, good, &plan);
    store_begin(c->o->srv->store);
    cancel_commands(c);
    for (size_t i = 0; i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        if (h->status == DEPLOY_INSTANCE_IN_PROGRESS)
            set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, NULL);
        else if (h->status == DEPLOY_INSTANCE_PENDING)
            set_instance(c, h->instance_id, DEPLOY_INSTANCE_SKIPPED, NULL);
    }
    c->dep.info.status = (enum deploy_status)plan.status;
    c->dep.info.error_code = (enum deploy_error_code)plan.error;
    c->dep.info.error_message = c->prog.end_message;
    c->dep.info.complete_ms = c->now;
    if (c->dep.info.start_ms == 0)
        c->dep.info.start_ms = c->now;
    c->step = DEPLOYMENT_STEP_DONE;
    save(c);
    update_info(c); /* terminal before the rollback is created: one active per group */
    if (plan.create_rollback) {
        create_rollback(c, rev, plan.rollback_is_restore);
        update_info(c);
    }
    store_commit(c->o->srv->store);
    log_info("deployment %s: %s (%s: %s)", c->dep.info.deployment_id,
             deployment_status_name(plan.status), deployment_error_name(plan.error),
             c->prog.end_message != NULL ? c->prog.end_message : "");
    notify_event(c, plan.status == DEPLOYMENT_STOPPED ? "DeploymentStop" : "DeploymentFailure",
                 NULL, deployment_status_name(plan.status));
    if (c->dep.info.rollback_deployment_id != NULL)
        notify_event(c, "DeploymentRollback", NULL, deployment_status_name(plan.status));
    dep_unwatch(c->od);
    kick(c->o);
}

/* Decides that the deployment ends (persisted first), then flips traffic back if it may have
 * moved, then finalizes. Idempotent: the first decision wins. */
static void
end_deployment(struct ctx *c, enum deployment_end_cause cause, enum deployment_error code,
               const char *msg, int stop_rollback)
{
    struct deployment_rollback_plan plan;
    char rev[STORE_ID_MAX * 2];

    if (c->prog.end_cause != NULL || c->step == DEPLOYMENT_STEP_DONE)
        return;
    plan_of(c, cause, code, stop_rollback, has_last_good(c, rev, sizeof(rev)), &plan);
    c->prog.end_cause = deployment_end_cause_name(cause);
    c->prog.end_code = deployment_error_name(plan.error);
    c->prog.end_message = arena_strdup(&c->prog.arena, msg);
    c->prog.stop_rollback = stop_rollback;
    log_warn("deployment %s: ending in %s: %s: %s", c->dep.info.deployment_id,
             deployment_step_name(c->step), deployment_error_name(plan.error), msg);
    if (plan.flip_traffic_back) {
        c->od->rb_registered = false;
        enter(c, DEPLOYMENT_STEP_ROLLBACK_TRAFFIC);
        kick(c->o);
        return;
    }
    save(c);
    finalize_failure(c);
}

static void
finalize_success(struct ctx *c)
{
    store_begin(c->o->srv->store);
    for (size_t i = 0; i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        if (h->status != DEPLOY_INSTANCE_SUCCEEDED && h->status != DEPLOY_INSTANCE_SKIPPED)
            set_instance(c, h->instance_id, DEPLOY_INSTANCE_SUCCEEDED, NULL);
    }
    if (c->plan.type == DEPLOYMENT_BLUE_GREEN)
        store_group_set_serving_fleet(c->o->srv->store, c->dep.info.application_name,
                                      c->dep.info.group_name, 1 - c->prog.original_fleet);
    c->dep.info.status = DEPLOY_SUCCEEDED;
    c->dep.info.complete_ms = c->now;
    c->step = DEPLOYMENT_STEP_DONE;
    save(c);
    update_info(c);
    store_commit(c->o->srv->store);
    log_info("deployment %s: Succeeded", c->dep.info.deployment_id);
    notify_event(c, "DeploymentSuccess", NULL, "Succeeded");
    dep_unwatch(c->od);
}

/* ---- steps --------------------------------------------------------------------------------- */

static bool
tags_match(const struct deploy_onprem *inst, const struct deploy_tag *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < inst->ntags && !found; k++)
            found = strcmp(inst->tags[k].key, want[i].key) == 0 &&
                    (want[i].value == NULL || strcmp(inst->tags[k].value, want[i].value) == 0);
        if (!found)
            return false;
    }
    return n > 0;
}

static int
resolve_mhh(struct ctx *c, struct deployment_mhh *m)
{
    struct deploy_config cfg;
    const char *name =
        c->dep.info.config_name != NULL ? c->dep.info.config_name : c->grp.group.config_name;

    if (deployment_config_builtin(name, m) == 0)
        return 0;
    memset(&cfg, 0, sizeof(cfg));
    if (name == NULL || store_config_get(c->o->srv->store, name, &cfg) < 0)
        return -ENOENT;
    m->type = (enum deployment_mhh_type)cfg.min_healthy_type;
    m->value = cfg.min_healthy_value;
    m->max_in_flight = 0;
    deploy_group_config_fini(&cfg);
    return 0;
}

/* Adds the hosts of a fleet (or the in-place selection) to the deployment with every event
 * they will run as Pending, so instance summaries list them in lifecycle order. */
static size_t
add_hosts(struct ctx *c, const struct deploy_onprem_list *all, const struct deploy_tag *tags,
          size_t ntags, enum deployment_role role)
{
    static const enum deployment_stage stages[] = {DEPLOYMENT_STAGE_INSTALL, DEPLOYMENT_STAGE_ALLOW,
                                                   DEPLOYMENT_STAGE_AFTER_ALLOW,
                                                   DEPLOYMENT_STAGE_BLOCK};
    bool has_group = fleet_group(c, role == DEPLOYMENT_ROLE_REPLACEMENT) != NULL;
    size_t n = 0;

    for (size_t i = 0; i < all->n; i++) {
        if (!tags_match(&all->items[i], tags, ntags))
            continue;
        store_target_add(c->o->srv->store, c->dep.info.deployment_id, all->items[i].name,
                         role_type(role));
        for (size_t s = 0; s < sizeof(stages) / sizeof(stages[0]); s++) {
            struct deployment_phase ph[DEPLOYMENT_MAX_PHASES];
            size_t np = deployment_host_phases(role, stages[s], has_group, ph);
            if (c->plan.is_restore && stages[s] == DEPLOYMENT_STAGE_INSTALL)
                continue;
            for (size_t k = 0; k < np; k++)
                for (size_t e = 0; e < ph[k].count; e++)
                    set_event(c, all->items[i].name,
                              deployment_event_name((enum deployment_event)(ph[k].first + e)),
                              DEPLOY_EVENT_PENDING, 0, NULL, NULL);
        }
        n++;
    }
    return n;
}

static void
step_start(struct ctx *c)
{
    struct deploy_onprem_list all;
    struct deploy_revision rev;
    struct deployment_mhh mhh;
    size_t nrepl, batch = 1;
    int rc;

    if (!c->has_grp) {
        end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_DEPLOYMENT_GROUP_MISSING,
                       "the deployment group no longer exists", -1);
        return;
    }
    memset(&rev, 0, sizeof(rev));
    if (store_revision_get(c->o->srv->store, c->dep.info.revision_id, &rev) < 0) {
        end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_REVISION_MISSING,
                       "the revision is not in the revision store", -1);
        return;
    }
    deploy_info_revision_fini(&rev);
    if (resolve_mhh(c, &mhh) < 0) {
        end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID,
                       "unknown deployment config", -1);
        return;
    }
    memset(&all, 0, sizeof(all));
    if (store_instance_list(c->o->srv->store, &all) < 0)
        return;
    store_begin(c->o->srv->store);
    if (c->plan.type == DEPLOYMENT_IN_PLACE) {
        nrepl = add_hosts(c, &all, c->grp.group.tag_filters, c->grp.group.ntag_filters,
                          DEPLOYMENT_ROLE_IN_PLACE);
    } else {
        int serving = c->grp.serving_fleet == 1 ? 1 : 0;
        c->prog.original_fleet = c->plan.is_restore ? 1 - serving : serving;
        add_hosts(c, &all, &c->grp.group.fleets[c->prog.original_fleet].tag, 1,
                  DEPLOYMENT_ROLE_ORIGINAL);
        nrepl = add_hosts(c, &all, &c->grp.group.fleets[1 - c->prog.original_fleet].tag, 1,
                          DEPLOYMENT_ROLE_REPLACEMENT);
    }
    rc = deployment_max_batch(&mhh, nrepl, &batch);
    c->prog.batch = (uint32_t)batch;
    c->dep.info.status = DEPLOY_IN_PROGRESS;
    c->dep.info.start_ms = c->now;
    update_info(c);
    if (rc == 0)
        enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_START));
    store_commit(c->o->srv->store);
    deploy_info_onprem_list_fini(&all);
    if (rc == -ENOENT)
        end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_NO_INSTANCES,
                       "no instance matches the deployment group's tags", -1);
    else if (rc < 0)
        end_deployment(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID,
                       "the minimum healthy hosts leave no host to deploy to", -1);
    else
        notify_event(c, "DeploymentStart", NULL, "InProgress");
    kick(c->o);
}

static void
step_install(struct ctx *c)
{
    bool bg = c->plan.type == DEPLOYMENT_BLUE_GREEN;
    struct reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    enum host_verdict v =
        fleet_install(c, bg ? DEPLOYMENT_ROLE_REPLACEMENT : DEPLOYMENT_ROLE_IN_PLACE,
                      c->prog.batch > 0 ? c->prog.batch : 1,
                      bg ? DEPLOY_INSTANCE_READY : DEPLOY_INSTANCE_SUCCEEDED, &why);

    if (v == HOST_FAILED) {
        end_deployment(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
        return;
    }
    if (v != HOST_DONE)
        return;
    if (!bg) {
        finalize_success(c);
        return;
    }
    enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_INSTALL));
    if (c->step == DEPLOYMENT_STEP_READY_WAIT) {
        c->dep.info.status = DEPLOY_READY;
        update_info(c);
        notify_event(c, "DeploymentReady", NULL, "Ready");
    }
    kick(c->o);
}

static void
step_ready_wait(struct ctx *c)
{
    uint64_t wait = c->grp.group.ready_wait_ms;

    if (c->prog.continued) {
        c->dep.info.status = DEPLOY_IN_PROGRESS;
        update_info(c);
        enter(c, DEPLOYMENT_STEP_ALLOW);
        kick(c->o);
        return;
    }
    if (wait > 0 && c->now - c->prog.step_ms > (int64_t)wait)
        end_deployment(c, DEPLOYMENT_END_REQUEST, DEPLOYMENT_ERR_TIMEOUT,
                       "not continued within the deployment ready wait time", 0);
}

static void
step_allow(struct ctx *c)
{
    struct reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    const char *repl = fleet_group(c, true);
    enum host_verdict v;

    if (c->grp.group.test_listener != NULL && repl != NULL && !c->prog.applied) {
        if (!c->od->is_busy)
            start_forward(c, OP_TEST, repl, repl, 0);
        return;
    }
    v = fleet_all(c, DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_ALLOW, repl, &why);
    if (v == HOST_FAILED)
        end_deployment(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == HOST_DONE) {
        c->prog.shift = 0;
        enter(c, DEPLOYMENT_STEP_SHIFT);
        kick(c->o);
    }
}

static void
routing_of(const struct ctx *c, struct deployment_routing *r)
{
    r->type = (enum deployment_routing_type)c->grp.group.traffic_type;
    r->percentage = c->grp.group.traffic_percentage;
    r->interval_ms = c->grp.group.traffic_interval_ms;
    if (c->plan.is_restore)
        r->type = DEPLOYMENT_ROUTING_ALL_AT_ONCE; /* a restore takes traffic back at once */
}

static void
step_shift(struct ctx *c)
{
    struct deployment_routing r;
    uint32_t pct;
    uint64_t hold;
    bool last;
    const char *orig = fleet_group(c, false), *repl = fleet_group(c, true);

    if (orig == NULL || repl == NULL || c->grp.group.listener == NULL) {
        enter(c, DEPLOYMENT_STEP_AFTER_ALLOW); /* no traffic control: nothing to shift */
        return;
    }
    routing_of(c, &r);
    last = deployment_traffic_step(&r, c->prog.shift, &pct, &hold);
    if (!c->prog.applied) {
        if (!c->od->is_busy && !proxy_gave_up(c))
            start_forward(c, OP_SHIFT, orig, repl, pct);
        return;
    }
    if (last) {
        enter(c, DEPLOYMENT_STEP_AFTER_ALLOW);
        kick(c->o);
    } else if (c->now - c->prog.step_ms >= (int64_t)hold) {
        c->prog.shift++;
        c->prog.applied = false;
        save(c); /* the next split is persisted before it is applied */
        kick(c->o);
    }
}

static void
step_after_allow(struct ctx *c)
{
    struct reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    enum host_verdict v = fleet_all(c, DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_AFTER_ALLOW,
                                    fleet_group(c, true), &why);

    if (v == HOST_FAILED)
        end_deployment(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == HOST_DONE) {
        enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_AFTER_ALLOW));
        kick(c->o);
    }
}

static void
step_termination_wait(struct ctx *c)
{
    if (c->now - c->prog.step_ms >= (int64_t)c->grp.group.termination_wait_ms) {
        enter(c, DEPLOYMENT_STEP_BLOCK_ORIGINAL);
        kick(c->o);
    }
}

static void
step_block_original(struct ctx *c)
{
    struct reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    enum host_verdict v =
        fleet_all(c, DEPLOYMENT_ROLE_ORIGINAL, DEPLOYMENT_STAGE_BLOCK, fleet_group(c, false), &why);

    if (v == HOST_FAILED)
        end_deployment(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == HOST_DONE)
        finalize_success(c);
}

static void
step_rollback_traffic(struct ctx *c)
{
    const char *orig = fleet_group(c, false), *repl = fleet_group(c, true);
    const char *targets[256];
    size_t n = 0;

    if (c->prog.end_cause == NULL) { /* resumed from an unknown phase */
        c->prog.end_cause = deployment_end_cause_name(DEPLOYMENT_END_FAILURE);
        c->prog.end_code = deployment_error_name(DEPLOYMENT_ERR_INTERNAL_ERROR);
        c->prog.end_message = "the server could not resume this deployment's step";
        save(c);
    }
    if (c->prog.applied || orig == NULL || repl == NULL || c->grp.group.listener == NULL) {
        finalize_failure(c);
        return;
    }
    if (c->od->is_busy)
        return;
    if (c->od->proxy_failures >= PROXY_MAX_FAILURES) {
        /* nothing more can be done from here: record it, an operator must look */
        log_error("deployment %s: traffic could not be moved back: proxy %s keeps failing",
                  c->dep.info.deployment_id, c->od->admin);
        c->od->proxy_failures = 0;
        finalize_failure(c);
        return;
    }
    if (!c->od->rb_registered) {
        for (size_t i = 0; i < c->hosts.n && n < 256; i++)
            if (c->hosts.items[i].instance_type == DEPLOY_INSTANCE_TYPE_BLUE &&
                c->hosts.items[i].target != NULL)
                targets[n++] = c->hosts.items[i].target;
        if (n > 0) {
            start_targets(c, OP_RB_TARGETS, orig, true, targets, n);
            return;
        }
        c->od->rb_registered = true;
    }
    start_forward(c, OP_RB_SHIFT, orig, repl, 0);
}

/* ---- alarms --------------------------------------------------------------------------------- */

static const char *
alarm_group(const struct ctx *c, const char *sel)
{
    if (sel == NULL || strcmp(sel, "replacement") == 0)
        return fleet_group(c, true);
    if (strcmp(sel, "original") == 0)
        return fleet_group(c, false);
    return sel;
}

static size_t
window_for(struct orch_dep *d, const char *group)
{
    for (size_t i = 0; i < d->nwin; i++)
        if (strcmp(d->win_group[i], group) == 0)
            return i;
    if (d->nwin == 2)
        return 2;
    str_copy(d->win_group[d->nwin], group, sizeof(d->win_group[0]));
    d->win[d->nwin] = mem_alloc(sizeof(struct alarms_window));
    alarms_window_init(d->win[d->nwin]);
    return d->nwin++;
}

/* Keeps the deployment's alarm set in step with its phase. */
static void
update_watch(struct ctx *c)
{
    struct orch_dep *d = c->od;
    bool want = c->has_grp && c->grp.group.alarms_enabled && c->grp.group.nalarms > 0 &&
                c->prog.end_cause == NULL && deployment_step_watches_alarms(&c->plan, c->step);

    if (!want) {
        if (d->watch)
            dep_unwatch(d);
        return;
    }
    if (d->watch)
        return;
    d->nalarms = 0;
    for (size_t i = 0; i < c->grp.group.nalarms && d->nalarms < MAX_ALARMS; i++) {
        const struct deploy_alarm *a = &c->grp.group.alarms[i];
        struct orch_alarm *oa = &d->alarms[d->nalarms];
        const char *g = alarm_group(c, a->target_group);
        if (g == NULL || deployment_metric_parse(a->metric, &oa->a.metric) < 0 ||
            window_for(d, g) == 2)
            continue;
        oa->a.threshold = a->threshold;
        oa->a.window_ms = a->window_ms > 0 ? a->window_ms : 30000;
        oa->a.min_requests = 10;
        str_copy(oa->name, a->name != NULL ? a->name : a->metric, sizeof(oa->name));
        str_copy(oa->group, g, sizeof(oa->group));
        d->nalarms++;
    }
    d->watch = d->nalarms > 0;
}

struct scrape {
    struct orch *o;
    char id[STORE_ID_MAX];
};

static void
alarm_fired(struct orch *o, const char *id, const struct orch_alarm *a, double value)
{
    struct ctx c;
    char msg[300];

    if (ctx_load(o, id, &c) == 0 &&
        !deployment_status_is_terminal((enum deployment_status)c.dep.info.status) &&
        deployment_step_watches_alarms(&c.plan, c.step)) {
        snprintf(msg, sizeof(msg), "alarm %s: %s of %s is %.4g, above %.4g over %llu ms", a->name,
                 deployment_metric_name(a->a.metric), a->group, value, a->a.threshold,
                 (unsigned long long)a->a.window_ms);
        c.prog.alarm = arena_strdup(&c.prog.arena, a->name);
        end_deployment(&c, DEPLOYMENT_END_ALARM, DEPLOYMENT_ERR_ALARM_ACTIVE, msg, -1);
    }
    ctx_fini(&c);
}

static void
on_scraped(void *ud, const struct traffic_result *res)
{
    struct scrape *s = ud;
    struct orch *o = s->o;
    struct orch_dep *d = dep_find(o, s->id);

    o->inflight--;
    if (o->is_stopping) {
        if (o->inflight == 0 && o->handles_open == 0)
            free(o);
        free(s);
        return;
    }
    if (d != NULL)
        d->is_scraping = false;
    if (d == NULL || !d->watch || res->status < 0) {
        if (res->status < 0)
            log_warn("deployment %s: alarm scrape: %s", s->id, res->msg);
        free(s);
        return;
    }
    for (size_t i = 0; i < d->nwin; i++) {
        struct deployment_metric_sample smp;
        if (alarms_parse_sample(res->text, res->text_len, d->win_group[i], uv_now(o->loop), &smp) ==
            0)
            alarms_window_push(d->win[i], &smp);
    }
    for (size_t i = 0; i < d->nalarms; i++) {
        double v;
        size_t w = window_for(d, d->alarms[i].group);
        if (w < d->nwin && alarms_window_eval(d->win[w], &d->alarms[i].a, &v)) {
            struct orch_alarm a = d->alarms[i];
            log_warn("deployment %s: alarm %s fired (%.4g > %.4g)", s->id, a.name, v,
                     a.a.threshold);
            alarm_fired(o, s->id, &a, v);
            kick(o);
            break;
        }
    }
    free(s);
}

static void
on_scrape_timer(uv_timer_t *t)
{
    struct orch *o = t->data;

    for (struct orch_dep *d = o->deps; d != NULL; d = d->next) {
        struct scrape *s;
        if (!d->watch || d->is_scraping || d->admin[0] == '\0')
            continue;
        s = mem_calloc(1, sizeof(*s));
        s->o = o;
        str_copy(s->id, d->id, sizeof(s->id));
        d->is_scraping = true;
        o->inflight++;
        if (traffic_metrics(o->loop, d->admin, on_scraped, s) < 0) {
            d->is_scraping = false;
            o->inflight--;
            free(s);
        }
    }
}

/* ---- the tick ------------------------------------------------------------------------------- */

static void
advance(struct orch *o, const char *id)
{
    struct ctx c;

    if (ctx_load(o, id, &c) < 0) {
        ctx_fini(&c);
        return;
    }
    c.od->is_seen = true;
    if (deployment_status_is_terminal((enum deployment_status)c.dep.info.status) || c.od->is_busy) {
        ctx_fini(&c);
        return;
    }
    if (c.step != DEPLOYMENT_STEP_ROLLBACK_TRAFFIC && proxy_gave_up(&c)) {
        ctx_fini(&c);
        return;
    }
    switch (c.step) {
    case DEPLOYMENT_STEP_START:
        step_start(&c);
        break;
    case DEPLOYMENT_STEP_INSTALL:
        step_install(&c);
        break;
    case DEPLOYMENT_STEP_READY_WAIT:
        step_ready_wait(&c);
        break;
    case DEPLOYMENT_STEP_ALLOW:
        step_allow(&c);
        break;
    case DEPLOYMENT_STEP_SHIFT:
        step_shift(&c);
        break;
    case DEPLOYMENT_STEP_AFTER_ALLOW:
        step_after_allow(&c);
        break;
    case DEPLOYMENT_STEP_TERMINATION_WAIT:
        step_termination_wait(&c);
        break;
    case DEPLOYMENT_STEP_BLOCK_ORIGINAL:
        step_block_original(&c);
        break;
    case DEPLOYMENT_STEP_ROLLBACK_TRAFFIC:
        step_rollback_traffic(&c);
        break;
    case DEPLOYMENT_STEP_DONE:
        /* done but not terminal: the finalize transaction did not commit; redo it */
        if (c.prog.end_cause != NULL)
            finalize_failure(&c);
        else
            finalize_success(&c);
        break;
    }
    update_watch(&c);
    ctx_fini(&c);
}

static void
run_tick(struct orch *o)
{
    struct store_deployment_list l;

    if (o->is_stopping)
        return;
    memset(&l, 0, sizeof(l));
    for (struct orch_dep *d = o->deps; d != NULL; d = d->next)
        d->is_seen = false;
    if (store_deployment_list_active(o->srv->store, &l) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            char id[STORE_ID_MAX];
            str_copy(id, l.items[i].info.deployment_id, sizeof(id));
            advance(o, id);
        }
    }
    store_deployment_list_fini(&l);
    dep_sweep(o);
}

static void
on_tick(uv_timer_t *t)
{
    run_tick(t->data);
}

static void
kick(struct orch *o)
{
    if (!o->is_stopping && !uv_is_active((uv_handle_t *)&o->kick))
        uv_timer_start(&o->kick, on_tick, 0, 0);
}

/* ---- hooks ---------------------------------------------------------------------------------- */

static void
on_created(void *ud, const char *id)
{
    (void)id;
    kick(ud);
}

static void
on_stop(void *ud, const char *id, int auto_rollback)
{
    struct orch *o = ud;
    struct ctx c;

    if (ctx_load(o, id, &c) == 0 &&
        !deployment_status_is_terminal((enum deployment_status)c.dep.info.status))
        end_deployment(&c, DEPLOYMENT_END_REQUEST, DEPLOYMENT_ERR_MANUAL_STOP,
                       "stopped by request (stop-deployment)", auto_rollback);
    ctx_fini(&c);
    kick(o);
}

static void
on_continue(void *ud, const char *id)
{
    struct orch *o = ud;
    struct ctx c;

    if (ctx_load(o, id, &c) == 0 && c.step == DEPLOYMENT_STEP_READY_WAIT && !c.prog.continued) {
        c.prog.continued = true;
        save(&c);
        log_info("deployment %s: continue-deployment received", id);
    }
    ctx_fini(&c);
    kick(o);
}

static void
on_claimed(void *ud, const char *command_id, const char *instance)
{
    (void)command_id;
    (void)instance;
    kick(ud);
}

static void
on_event(void *ud, const char *command_id, const char *instance,
         const struct deploy_event_report *report)
{
    (void)command_id;
    (void)instance;
    (void)report;
    kick(ud);
}

/* ---- start and stop ------------------------------------------------------------------------ */

int
orchestrator_start(struct server *srv)
{
    struct orch *o = mem_calloc(1, sizeof(*o));
    struct server_hooks hooks = {
        .ud = o,
        .deployment_created = on_created,
        .deployment_stop = on_stop,
        .deployment_continue = on_continue,
        .command_claimed = on_claimed,
        .event_reported = on_event,
        .heartbeat = NULL,
    };

    o->srv = srv;
    o->loop = srv->loop;
    o->started_ms = deploy_time_now_ms();
    o->heartbeat_timeout_ms = ORCHESTRATOR_HEARTBEAT_TIMEOUT_MS;
    o->notify = notify_new(srv->loop);
    uv_timer_init(o->loop, &o->tick);
    uv_timer_init(o->loop, &o->kick);
    uv_timer_init(o->loop, &o->scrape);
    o->tick.data = o->kick.data = o->scrape.data = o;
    o->handles_open = 3;
    srv->orchestrator = o;
    server_set_hooks(srv, &hooks);
    uv_timer_start(&o->tick, on_tick, 0, ORCHESTRATOR_TICK_MS);
    uv_timer_start(&o->scrape, on_scrape_timer, ORCHESTRATOR_SCRAPE_MS, ORCHESTRATOR_SCRAPE_MS);
    log_info("orchestrator started");
    return 0;
}

void
orchestrator_set_heartbeat_timeout(struct server *srv, uint64_t ms)
{
    struct orch *o = srv->orchestrator;

    if (o != NULL && ms > 0)
        o->heartbeat_timeout_ms = ms;
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct orch *o = h->data;

    if (--o->handles_open == 0 && o->inflight == 0)
        free(o);
}

void
orchestrator_stop(struct server *srv)
{
    struct orch *o = srv->orchestrator;
    struct server_hooks none = {0};
    struct orch_dep *d, *next;

    if (o == NULL)
        return;
    o->is_stopping = true;
    server_set_hooks(srv, &none);
    srv->orchestrator = NULL;
    notify_close(o->notify);
    o->notify = NULL;
    for (d = o->deps; d != NULL; d = next) {
        next = d->next;
        dep_free(d);
    }
    o->deps = NULL;
    uv_close((uv_handle_t *)&o->tick, on_timer_closed);
    uv_close((uv_handle_t *)&o->kick, on_timer_closed);
    uv_close((uv_handle_t *)&o->scrape, on_timer_closed);
}
