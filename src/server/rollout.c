/* SPDX-License-Identifier: ISC */
/* The steps of a deployment (deployment.h draws them), the proxy calls they make, and how a
 * deployment ends: traffic back first when it may have moved, then the records, the commands
 * and the rollback in one transaction. Every function works on one loaded struct rollout. */
#include "server/rollout.h"

#include <errno.h>
#include <stdarg.h>
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

void
rollout_log(const struct rollout *c, enum log_level level, const char *fmt, ...)
{
    char ctx[160];
    va_list ap;

    if (!log_enabled(level))
        return;
    snprintf(ctx, sizeof(ctx), "deployment=%s step=%s", c->dep.info.deployment_id,
             deployment_step_name(c->step));
    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}

void
rollout_save(struct rollout *c)
{
    char *text;

    c->prog.phase = deployment_step_name(c->step);
    text = deploy_progress_format(&c->prog);
    if (store_deployment_set_step(c->o->srv->store, c->dep.info.deployment_id, text) < 0)
        rollout_log(c, LOG_ERROR, "cannot persist its progress");
    free(text);
}

void
rollout_enter(struct rollout *c, enum deployment_step next)
{
    rollout_log(c, LOG_INFO, "%s -> %s", deployment_step_name(c->step), deployment_step_name(next));
    c->step = next;
    c->prog.step_ms = c->now;
    c->prog.applied = false;
    rollout_save(c);
}

void
rollout_update_info(struct rollout *c)
{
    store_target_overview(c->o->srv->store, c->dep.info.deployment_id, &c->dep.info.overview);
    if (store_deployment_update(c->o->srv->store, &c->dep.info) < 0)
        rollout_log(c, LOG_ERROR, "cannot update its record");
}

/* The only place a deployment's status changes (deployment.h draws the legal moves). */
static void
set_status(struct rollout *c, enum deployment_status next)
{
    enum deployment_status cur = (enum deployment_status)c->dep.info.status;

    if (cur == next) /* resumed after the change was committed */
        return;
    ASSERT(deployment_status_can_enter(cur, next));
    rollout_log(c, LOG_INFO, "%s -> %s", deployment_status_name(cur), deployment_status_name(next));
    c->dep.info.status = (enum deploy_status)next;
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

void
rollout_notify(struct rollout *c, const char *event, const char *instance, const char *status)
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

/* ---- proxy calls ---------------------------------------------------------------------------- */

struct op {
    struct orch *o;
    char id[STORE_ID_MAX];
    enum rollout_op kind;
    uint32_t shift;
    uint32_t percent;
    char names[2][ROLLOUT_NAME_MAX]; /* ROLLOUT_OP_SHIFT/ROLLOUT_OP_RB_SHIFT: original, replacement
                                        groups */
    char group[ROLLOUT_NAME_MAX];    /* ROLLOUT_OP_HEALTH */
};

static struct op *
op_new(struct rollout *c, enum rollout_op kind)
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
    struct orch_dep *d = orchestrator_op_end(op->o, op->id);

    if (d == NULL)
        return NULL;
    d->is_busy = false;
    if (res->status < 0) {
        d->proxy_failures++;
        log_warn("deployment %s: proxy %s: %s (failure %u)", op->id, d->admin, res->msg,
                 d->proxy_failures);
        return d; /* retried by the next tick, not at once: a restarting proxy gets time */
    }
    d->proxy_failures = 0;
    orchestrator_kick(op->o);
    return d;
}

/* The first deployment of a blue/green group: the fleet the listener forwards most to is the
 * original (the proxy, not a default, says which fleet serves). */
static void
learn_serving(struct op *op, const struct traffic_result *res)
{
    struct rollout c;
    uint32_t best = 0;
    int fleet = 0;

    if (orchestrator_load(op->o, op->id, &c) == 0 && c.step == DEPLOYMENT_STEP_START &&
        c.prog.original_fleet < 0 && c.has_grp && c.grp.group.nfleets == 2) {
        for (size_t f = 0; f < 2; f++)
            for (size_t i = 0; i < res->action.nforward; i++)
                if (strcmp(res->action.forward[i].target_group,
                           c.grp.group.fleets[f].target_group) == 0 &&
                    res->action.forward[i].weight > best) {
                    best = res->action.forward[i].weight;
                    fleet = (int)f;
                }
        c.prog.original_fleet = fleet;
        log_info("deployment %s: listener %s serves fleet %s: it is the original", op->id,
                 c.grp.group.listener, c.grp.group.fleets[fleet].target_group);
        rollout_save(&c);
    }
    orchestrator_unload(&c);
}

static void
on_op_done(void *ud, const struct traffic_result *res)
{
    struct op *op = ud;
    struct orch_dep *d = op_finish(op, res);
    struct rollout c;

    if (d == NULL || res->status < 0)
        goto out;
    switch (op->kind) {
    case ROLLOUT_OP_HEALTH: {
        char *text = proxy_api_health_format(&res->health);
        proxy_api_health_fini(&d->health);
        if (proxy_api_health_parse(&d->health, text, strlen(text), NULL) == 0) {
            str_copy(d->health_group, op->group, sizeof(d->health_group));
            d->health_at = uv_now(op->o->loop);
        }
        free(text);
        break;
    }
    case ROLLOUT_OP_TARGETS:
        d->health_at = 0;
        break;
    case ROLLOUT_OP_SERVING:
        learn_serving(op, res);
        break;
    case ROLLOUT_OP_RB_TARGETS:
        d->health_at = 0;
        d->rb_registered = true;
        break;
    case ROLLOUT_OP_SHIFT:
    case ROLLOUT_OP_TEST:
    case ROLLOUT_OP_RB_SHIFT:
        if (orchestrator_load(op->o, op->id, &c) == 0) {
            enum deployment_step want = op->kind == ROLLOUT_OP_SHIFT ? DEPLOYMENT_STEP_SHIFT
                                        : op->kind == ROLLOUT_OP_TEST
                                            ? DEPLOYMENT_STEP_ALLOW
                                            : DEPLOYMENT_STEP_ROLLBACK_TRAFFIC;
            /* ignore a late answer for a step the deployment already left */
            if (c.step == want && (op->kind != ROLLOUT_OP_SHIFT || c.prog.shift == op->shift) &&
                !c.prog.applied) {
                c.prog.applied = true;
                if (op->kind != ROLLOUT_OP_TEST) {
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
                rollout_save(&c);
            }
        }
        orchestrator_unload(&c);
        break;
    }
out:
    free(op);
}

void
rollout_start_serving(struct rollout *c)
{
    struct op *op;

    if (c->od->is_busy)
        return;
    op = op_new(c, ROLLOUT_OP_SERVING);
    if (traffic_listener(c->o->loop, c->od->admin, c->grp.group.listener, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

bool
rollout_health_fresh(struct rollout *c, const char *group)
{
    struct orch_dep *d = c->od;

    return d->health_at != 0 && strcmp(d->health_group, group) == 0 &&
           uv_now(c->o->loop) - d->health_at <= ROLLOUT_HEALTH_FRESH_MS;
}

void
rollout_start_health(struct rollout *c, const char *group)
{
    struct op *op;

    if (c->od->is_busy)
        return;
    op = op_new(c, ROLLOUT_OP_HEALTH);
    str_copy(op->group, group, sizeof(op->group));
    if (traffic_health(c->o->loop, c->od->admin, group, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

void
rollout_start_targets(struct rollout *c, enum rollout_op kind, const char *group, bool add,
                      const char *const *targets, size_t n)
{
    struct op *op;

    if (c->od->is_busy)
        return;
    op = op_new(c, kind);
    rollout_log(c, LOG_INFO, "%s %zu target(s) %s %s (first %s)",
                add ? "registering" : "deregistering", n, add ? "in" : "from", group, targets[0]);
    if (traffic_targets(c->o->loop, c->od->admin, group, add, targets, n, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

static void
start_forward(struct rollout *c, enum rollout_op kind, const char *original,
              const char *replacement, uint32_t percent)
{
    struct proxy_api_forward fw[2];
    const char *listener =
        kind == ROLLOUT_OP_TEST ? c->grp.group.test_listener : c->grp.group.listener;
    struct op *op;
    size_t n = 2;

    if (c->od->is_busy)
        return;
    op = op_new(c, kind);
    op->shift = c->prog.shift;
    op->percent = percent;
    str_copy(op->names[0], original, sizeof(op->names[0]));
    str_copy(op->names[1], replacement, sizeof(op->names[1]));
    if (kind == ROLLOUT_OP_TEST) {
        fw[0] = (struct proxy_api_forward){replacement, 1};
        n = 1;
    } else {
        deployment_traffic_weights(percent, &fw[0].weight, &fw[1].weight);
        fw[0].target_group = original;
        fw[1].target_group = replacement;
    }
    if (n == 2)
        rollout_log(c, LOG_INFO, "listener %s: %s=%u %s=%u", listener, fw[0].target_group,
                    fw[0].weight, fw[1].target_group, fw[1].weight);
    else
        rollout_log(c, LOG_INFO, "listener %s: %s=%u", listener, fw[0].target_group, fw[0].weight);
    if (traffic_set_forward(c->o->loop, c->od->admin, listener, fw, n, on_op_done, op) < 0) {
        struct traffic_result r = {.status = -EINVAL};
        str_copy(r.msg, "bad proxy admin address", sizeof(r.msg));
        on_op_done(op, &r);
    }
}

/* True (and the deployment ended) when the proxy keeps failing. */
bool
rollout_proxy_gave_up(struct rollout *c)
{
    char msg[400];

    if (c->od->proxy_failures < ROLLOUT_PROXY_MAX_FAILURES)
        return false;
    snprintf(msg, sizeof(msg), "proxy admin %s failed %u times in a row", c->od->admin,
             c->od->proxy_failures);
    c->od->proxy_failures = 0;
    rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_ELASTIC_LOAD_BALANCING_INVALID, msg, -1);
    return true;
}

/* ---- ending ------------------------------------------------------------------------------- */

static bool
has_last_good(struct rollout *c, char *rev, size_t size)
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
plan_of(struct rollout *c, enum deployment_end_cause cause, enum deployment_error code,
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
cancel_commands(struct rollout *c)
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
create_rollback(struct rollout *c, const char *revision, bool restore)
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
        rollout_log(c, LOG_ERROR, "cannot create its rollback (%s%s)", strerror(-rc),
                    active[0] != '\0' ? ", active elsewhere" : "");
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
    rollout_log(c, LOG_INFO, "rollback %s created (%s)", id, restore ? "restore" : "redeploy");
}

/* The last act of a failing or stopped deployment: records, commands, rollback, in one
 * transaction. */
static void
finalize_failure(struct rollout *c)
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
            fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, NULL);
        else if (h->status == DEPLOY_INSTANCE_PENDING)
            fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_SKIPPED, NULL);
    }
    set_status(c, plan.status);
    c->dep.info.error_code = (enum deploy_error_code)plan.error;
    c->dep.info.error_message = c->prog.end_message;
    c->dep.info.complete_ms = c->now;
    if (c->dep.info.start_ms == 0)
        c->dep.info.start_ms = c->now;
    c->step = DEPLOYMENT_STEP_DONE;
    rollout_save(c);
    rollout_update_info(c); /* terminal before the rollback is created: one active per group */
    if (plan.create_rollback) {
        create_rollback(c, rev, plan.rollback_is_restore);
        rollout_update_info(c);
    }
    store_commit(c->o->srv->store);
    rollout_log(c, LOG_INFO, "%s (%s: %s)", deployment_status_name(plan.status),
                deployment_error_name(plan.error),
                c->prog.end_message != NULL ? c->prog.end_message : "");
    rollout_notify(c, plan.status == DEPLOYMENT_STOPPED ? "DeploymentStop" : "DeploymentFailure",
                   NULL, deployment_status_name(plan.status));
    if (c->dep.info.rollback_deployment_id != NULL)
        rollout_notify(c, "DeploymentRollback", NULL, deployment_status_name(plan.status));
    orchestrator_unwatch(c->od);
    orchestrator_kick(c->o);
}

/* Decides that the deployment ends (persisted first), then flips traffic back if it may have
 * moved, then finalizes. Idempotent: the first decision wins. */
void
rollout_end(struct rollout *c, enum deployment_end_cause cause, enum deployment_error code,
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
    rollout_log(c, LOG_WARN, "ending in %s: %s: %s", deployment_step_name(c->step),
                deployment_error_name(plan.error), msg);
    if (plan.flip_traffic_back) {
        c->od->rb_registered = false;
        rollout_enter(c, DEPLOYMENT_STEP_ROLLBACK_TRAFFIC);
        orchestrator_kick(c->o);
        return;
    }
    rollout_save(c);
    finalize_failure(c);
}

static void
finalize_success(struct rollout *c)
{
    store_begin(c->o->srv->store);
    for (size_t i = 0; i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        if (h->status != DEPLOY_INSTANCE_SUCCEEDED && h->status != DEPLOY_INSTANCE_SKIPPED)
            fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_SUCCEEDED, NULL);
    }
    if (c->plan.type == DEPLOYMENT_BLUE_GREEN)
        store_group_set_serving_fleet(c->o->srv->store, c->dep.info.application_name,
                                      c->dep.info.group_name, 1 - c->prog.original_fleet);
    set_status(c, DEPLOYMENT_SUCCEEDED);
    c->dep.info.complete_ms = c->now;
    c->step = DEPLOYMENT_STEP_DONE;
    rollout_save(c);
    rollout_update_info(c);
    store_commit(c->o->srv->store);
    rollout_log(c, LOG_INFO, "Succeeded");
    rollout_notify(c, "DeploymentSuccess", NULL, "Succeeded");
    orchestrator_unwatch(c->od);
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
resolve_mhh(struct rollout *c, struct deployment_mhh *m)
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
add_hosts(struct rollout *c, const struct deploy_onprem_list *all, const struct deploy_tag *tags,
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
                         fleet_role_type(role));
        for (size_t s = 0; s < sizeof(stages) / sizeof(stages[0]); s++) {
            struct deployment_phase ph[DEPLOYMENT_MAX_PHASES];
            size_t np = deployment_host_phases(role, stages[s], has_group, ph);
            if (c->plan.is_restore && stages[s] == DEPLOYMENT_STAGE_INSTALL)
                continue;
            for (size_t k = 0; k < np; k++)
                for (size_t e = 0; e < ph[k].count; e++)
                    fleet_set_event(c, all->items[i].name,
                                    deployment_event_name((enum deployment_event)(ph[k].first + e)),
                                    DEPLOY_EVENT_PENDING, 0, NULL, NULL);
        }
        n++;
    }
    return n;
}

static void
step_start(struct rollout *c)
{
    struct deploy_onprem_list all;
    struct deploy_revision rev;
    struct deployment_mhh mhh;
    size_t nrepl, batch = 1;
    int rc;

    if (!c->has_grp) {
        rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_DEPLOYMENT_GROUP_MISSING,
                    "the deployment group no longer exists", -1);
        return;
    }
    memset(&rev, 0, sizeof(rev));
    if (store_revision_get(c->o->srv->store, c->dep.info.revision_id, &rev) < 0) {
        rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_REVISION_MISSING,
                    "the revision is not in the revision store", -1);
        return;
    }
    deploy_info_revision_fini(&rev);
    if (resolve_mhh(c, &mhh) < 0) {
        rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID,
                    "unknown deployment config", -1);
        return;
    }
    if (c->plan.type == DEPLOYMENT_BLUE_GREEN && !c->plan.is_restore &&
        c->prog.original_fleet < 0 && c->grp.last_good_revision_id == NULL &&
        c->grp.group.proxy_admin != NULL && c->grp.group.listener != NULL &&
        c->grp.group.nfleets == 2) {
        rollout_start_serving(c); /* persisted by the answer; START runs again after it */
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
        if (c->plan.is_restore)
            c->prog.original_fleet = 1 - serving;
        else if (c->prog.original_fleet < 0) /* else learned from the listener */
            c->prog.original_fleet = serving;
        add_hosts(c, &all, &c->grp.group.fleets[c->prog.original_fleet].tag, 1,
                  DEPLOYMENT_ROLE_ORIGINAL);
        nrepl = add_hosts(c, &all, &c->grp.group.fleets[1 - c->prog.original_fleet].tag, 1,
                          DEPLOYMENT_ROLE_REPLACEMENT);
    }
    rc = deployment_max_batch(&mhh, nrepl, &batch);
    c->prog.batch = (uint32_t)batch;
    set_status(c, DEPLOYMENT_IN_PROGRESS);
    c->dep.info.start_ms = c->now;
    rollout_update_info(c);
    if (rc == 0)
        rollout_enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_START));
    store_commit(c->o->srv->store);
    deploy_info_onprem_list_fini(&all);
    if (rc == -ENOENT)
        rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_NO_INSTANCES,
                    "no instance matches the deployment group's tags", -1);
    else if (rc < 0)
        rollout_end(c, DEPLOYMENT_END_FAILURE, DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID,
                    "the minimum healthy hosts leave no host to deploy to", -1);
    else
        rollout_notify(c, "DeploymentStart", NULL, "InProgress");
    orchestrator_kick(c->o);
}

static void
step_install(struct rollout *c)
{
    bool bg = c->plan.type == DEPLOYMENT_BLUE_GREEN;
    struct rollout_reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    struct deployment_mhh mhh;
    /* in place, the minimum healthy hosts also hold back a start that would take capacity
     * below it (blue/green: the replacement serves nothing until allow) */
    bool capacity = !bg && resolve_mhh(c, &mhh) == 0;
    enum rollout_verdict v =
        fleet_install(c, bg ? DEPLOYMENT_ROLE_REPLACEMENT : DEPLOYMENT_ROLE_IN_PLACE,
                      c->prog.batch > 0 ? c->prog.batch : 1, capacity ? &mhh : NULL,
                      bg ? DEPLOY_INSTANCE_READY : DEPLOY_INSTANCE_SUCCEEDED, &why);

    if (v == ROLLOUT_FAILED) {
        rollout_end(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
        return;
    }
    if (v != ROLLOUT_DONE)
        return;
    if (!bg) {
        finalize_success(c);
        return;
    }
    rollout_enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_INSTALL));
    if (c->step == DEPLOYMENT_STEP_READY_WAIT) {
        set_status(c, DEPLOYMENT_READY);
        rollout_update_info(c);
        rollout_notify(c, "DeploymentReady", NULL, "Ready");
    }
    orchestrator_kick(c->o);
}

static void
step_ready_wait(struct rollout *c)
{
    uint64_t wait = c->grp.group.ready_wait_ms;

    if (c->prog.continued) {
        set_status(c, DEPLOYMENT_IN_PROGRESS);
        rollout_update_info(c);
        rollout_enter(c, DEPLOYMENT_STEP_ALLOW);
        orchestrator_kick(c->o);
        return;
    }
    if (wait > 0 && c->now - c->prog.step_ms > (int64_t)wait)
        rollout_end(c, DEPLOYMENT_END_REQUEST, DEPLOYMENT_ERR_TIMEOUT,
                    "not continued within the deployment ready wait time", 0);
}

static void
step_allow(struct rollout *c)
{
    struct rollout_reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    const char *repl = fleet_group(c, true);
    enum rollout_verdict v;

    if (c->grp.group.test_listener != NULL && repl != NULL && !c->prog.applied) {
        if (!c->od->is_busy)
            start_forward(c, ROLLOUT_OP_TEST, repl, repl, 0);
        return;
    }
    v = fleet_all(c, DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_ALLOW, repl, &why);
    if (v == ROLLOUT_FAILED)
        rollout_end(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == ROLLOUT_DONE) {
        c->prog.shift = 0;
        rollout_enter(c, DEPLOYMENT_STEP_SHIFT);
        orchestrator_kick(c->o);
    }
}

static void
routing_of(const struct rollout *c, struct deployment_routing *r)
{
    r->type = (enum deployment_routing_type)c->grp.group.traffic_type;
    r->percentage = c->grp.group.traffic_percentage;
    r->interval_ms = c->grp.group.traffic_interval_ms;
    if (c->plan.is_restore)
        r->type = DEPLOYMENT_ROUTING_ALL_AT_ONCE; /* a restore takes traffic back at once */
}

static void
step_shift(struct rollout *c)
{
    struct deployment_routing r;
    uint32_t pct;
    uint64_t hold;
    bool last;
    const char *orig = fleet_group(c, false), *repl = fleet_group(c, true);

    if (orig == NULL || repl == NULL || c->grp.group.listener == NULL) {
        rollout_enter(c, DEPLOYMENT_STEP_AFTER_ALLOW); /* no traffic control: nothing to shift */
        return;
    }
    routing_of(c, &r);
    last = deployment_traffic_step(&r, c->prog.shift, &pct, &hold);
    if (!c->prog.applied) {
        if (!c->od->is_busy && !rollout_proxy_gave_up(c))
            start_forward(c, ROLLOUT_OP_SHIFT, orig, repl, pct);
        return;
    }
    if (last) {
        rollout_enter(c, DEPLOYMENT_STEP_AFTER_ALLOW);
        orchestrator_kick(c->o);
    } else if (c->now - c->prog.step_ms >= (int64_t)hold) {
        c->prog.shift++;
        c->prog.applied = false;
        rollout_save(c); /* the next split is persisted before it is applied */
        orchestrator_kick(c->o);
    }
}

static void
step_after_allow(struct rollout *c)
{
    struct rollout_reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    enum rollout_verdict v = fleet_all(c, DEPLOYMENT_ROLE_REPLACEMENT, DEPLOYMENT_STAGE_AFTER_ALLOW,
                                       fleet_group(c, true), &why);

    if (v == ROLLOUT_FAILED)
        rollout_end(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == ROLLOUT_DONE) {
        rollout_enter(c, deployment_step_next(&c->plan, DEPLOYMENT_STEP_AFTER_ALLOW));
        orchestrator_kick(c->o);
    }
}

static void
step_termination_wait(struct rollout *c)
{
    if (c->now - c->prog.step_ms >= (int64_t)c->grp.group.termination_wait_ms) {
        rollout_enter(c, DEPLOYMENT_STEP_BLOCK_ORIGINAL);
        orchestrator_kick(c->o);
    }
}

static void
step_block_original(struct rollout *c)
{
    struct rollout_reason why = {DEPLOYMENT_ERR_SCRIPT_FAILED, ""};
    enum rollout_verdict v =
        fleet_all(c, DEPLOYMENT_ROLE_ORIGINAL, DEPLOYMENT_STAGE_BLOCK, fleet_group(c, false), &why);

    if (v == ROLLOUT_FAILED)
        rollout_end(c, DEPLOYMENT_END_FAILURE, why.code, why.msg, -1);
    else if (v == ROLLOUT_DONE)
        finalize_success(c);
}

static void
step_rollback_traffic(struct rollout *c)
{
    const char *orig = fleet_group(c, false), *repl = fleet_group(c, true);
    const char *targets[256];
    size_t n = 0;

    if (c->prog.end_cause == NULL) { /* resumed from an unknown phase */
        c->prog.end_cause = deployment_end_cause_name(DEPLOYMENT_END_FAILURE);
        c->prog.end_code = deployment_error_name(DEPLOYMENT_ERR_INTERNAL_ERROR);
        c->prog.end_message = "the server could not resume this deployment's step";
        rollout_save(c);
    }
    if (c->prog.applied || orig == NULL || repl == NULL || c->grp.group.listener == NULL) {
        finalize_failure(c);
        return;
    }
    if (c->od->is_busy)
        return;
    if (c->od->proxy_failures >= 4 * ROLLOUT_PROXY_MAX_FAILURES) {
        /* nothing more can be done from here: record it, an operator must look */
        rollout_log(c, LOG_ERROR, "traffic could not be moved back: proxy %s keeps failing",
                    c->od->admin);
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
            rollout_start_targets(c, ROLLOUT_OP_RB_TARGETS, orig, true, targets, n);
            return;
        }
        c->od->rb_registered = true;
    }
    start_forward(c, ROLLOUT_OP_RB_SHIFT, orig, repl, 0);
}

void
rollout_advance(struct rollout *c)
{
    switch (c->step) {
    case DEPLOYMENT_STEP_START:
        step_start(c);
        break;
    case DEPLOYMENT_STEP_INSTALL:
        step_install(c);
        break;
    case DEPLOYMENT_STEP_READY_WAIT:
        step_ready_wait(c);
        break;
    case DEPLOYMENT_STEP_ALLOW:
        step_allow(c);
        break;
    case DEPLOYMENT_STEP_SHIFT:
        step_shift(c);
        break;
    case DEPLOYMENT_STEP_AFTER_ALLOW:
        step_after_allow(c);
        break;
    case DEPLOYMENT_STEP_TERMINATION_WAIT:
        step_termination_wait(c);
        break;
    case DEPLOYMENT_STEP_BLOCK_ORIGINAL:
        step_block_original(c);
        break;
    case DEPLOYMENT_STEP_ROLLBACK_TRAFFIC:
        step_rollback_traffic(c);
        break;
    case DEPLOYMENT_STEP_DONE:
        /* done but not terminal: the finalize transaction did not commit; redo it */
        if (c->prog.end_cause != NULL)
            finalize_failure(c);
        else
            finalize_success(c);
        break;
    }
}
