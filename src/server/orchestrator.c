/* SPDX-License-Identifier: ISC */
/* Drives deployments. The persisted progress (deploy_progress: phase = deployment_step) is the
 * state; hosts move through their phases (deployment_host_phases), each phase's state being
 * the lifecycle event rows and the command rows in the store. In memory there is only what a
 * restart may forget: which proxy call is in flight, a short-lived health cache, the alarm
 * windows. This file owns the loop side (tick, kick, API hooks, alarm scrapes, the in-memory
 * records); rollout.c the steps and fleet.c the hosts. See deployment.h for the diagram.
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
#include "server/rollout.h"
#include "server/server.h"
#include "server/store.h"
#include "server/traffic.h"

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

void
orchestrator_unwatch(struct orch_dep *d)
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
    orchestrator_unwatch(d);
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

void
orchestrator_unload(struct rollout *c)
{
    store_deployment_fini(&c->dep);
    if (c->has_grp)
        store_group_fini(&c->grp);
    deploy_progress_fini(&c->prog);
    deploy_info_instances_fini(&c->hosts);
    store_command_list_fini(&c->cmds);
}

int
orchestrator_load(struct orch *o, const char *id, struct rollout *c)
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

/* ---- alarms --------------------------------------------------------------------------------- */

static const char *
alarm_group(const struct rollout *c, const char *sel)
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
update_watch(struct rollout *c)
{
    struct orch_dep *d = c->od;
    bool want = c->has_grp && c->grp.group.alarms_enabled && c->grp.group.nalarms > 0 &&
                c->prog.end_cause == NULL && deployment_step_watches_alarms(&c->plan, c->step);

    if (!want) {
        if (d->watch)
            orchestrator_unwatch(d);
        return;
    }
    if (d->watch)
        return;
    d->nalarms = 0;
    for (size_t i = 0; i < c->grp.group.nalarms && d->nalarms < ROLLOUT_MAX_ALARMS; i++) {
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
    d->ignore_poll_failure = c->grp.group.ignore_poll_alarm_failure;
    d->scrape_failures = 0;
}

struct scrape {
    struct orch *o;
    char id[STORE_ID_MAX];
};

static void
alarm_fired(struct orch *o, const char *id, const struct orch_alarm *a, double value)
{
    struct rollout c;
    char msg[300];

    if (orchestrator_load(o, id, &c) == 0 &&
        !deployment_status_is_terminal((enum deployment_status)c.dep.info.status) &&
        deployment_step_watches_alarms(&c.plan, c.step)) {
        if (value < 0)
            snprintf(msg, sizeof(msg),
                     "alarm %s: state unknown, the proxy's metrics could not be read %d times "
                     "(alarmConfiguration.ignorePollAlarmFailure is false)",
                     a->name, ROLLOUT_MAX_SCRAPE_FAILURES);
        else
            snprintf(msg, sizeof(msg), "alarm %s: %s of %s is %.4g, above %.4g over %llu ms",
                     a->name, deployment_metric_name(a->a.metric), a->group, value, a->a.threshold,
                     (unsigned long long)a->a.window_ms);
        c.prog.alarm = arena_strdup(&c.prog.arena, a->name);
        rollout_end(&c, DEPLOYMENT_END_ALARM, DEPLOYMENT_ERR_ALARM_ACTIVE, msg, -1);
    }
    orchestrator_unload(&c);
}

static void
on_scraped(void *ud, const struct traffic_result *res)
{
    struct scrape *s = ud;
    struct orch *o = s->o;
    struct orch_dep *d = orchestrator_op_end(o, s->id);

    if (d == NULL) { /* stopping (<o> may be gone) or the deployment was forgotten */
        free(s);
        return;
    }
    d->is_scraping = false;
    if (d->watch && res->status < 0 && ++d->scrape_failures >= ROLLOUT_MAX_SCRAPE_FAILURES &&
        !d->ignore_poll_failure) {
        /* as CodeDeploy: an alarm whose state cannot be read stops the deployment */
        struct orch_alarm unknown = d->alarms[0];
        log_warn("deployment %s: alarm state unknown: %s", s->id, res->msg);
        d->scrape_failures = 0;
        alarm_fired(o, s->id, &unknown, -1);
        orchestrator_kick(o);
        free(s);
        return;
    }
    if (!d->watch || res->status < 0) {
        if (res->status < 0)
            log_warn("deployment %s: alarm scrape: %s", s->id, res->msg);
        free(s);
        return;
    }
    d->scrape_failures = 0;
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
            orchestrator_kick(o);
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

struct orch_dep *
orchestrator_op_end(struct orch *o, const char *id)
{
    o->inflight--;
    if (o->is_stopping) {
        if (o->inflight == 0 && o->handles_open == 0)
            free(o);
        return NULL;
    }
    return dep_find(o, id);
}

/* ---- the tick ------------------------------------------------------------------------------- */

static void
advance(struct orch *o, const char *id)
{
    struct rollout c;

    if (orchestrator_load(o, id, &c) < 0) {
        orchestrator_unload(&c);
        return;
    }
    c.od->is_seen = true;
    if (deployment_status_is_terminal((enum deployment_status)c.dep.info.status) || c.od->is_busy) {
        orchestrator_unload(&c);
        return;
    }
    if (c.step != DEPLOYMENT_STEP_ROLLBACK_TRAFFIC && rollout_proxy_gave_up(&c)) {
        orchestrator_unload(&c);
        return;
    }
    rollout_advance(&c);
    update_watch(&c);
    orchestrator_unload(&c);
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

void
orchestrator_kick(struct orch *o)
{
    if (!o->is_stopping && !uv_is_active((uv_handle_t *)&o->kick))
        uv_timer_start(&o->kick, on_tick, ORCHESTRATOR_KICK_MS, 0);
}

/* ---- hooks ---------------------------------------------------------------------------------- */

static void
on_created(void *ud, const char *id)
{
    (void)id;
    orchestrator_kick(ud);
}

static void
on_stop(void *ud, const char *id, int auto_rollback)
{
    struct orch *o = ud;
    struct rollout c;

    if (orchestrator_load(o, id, &c) == 0 &&
        !deployment_status_is_terminal((enum deployment_status)c.dep.info.status))
        rollout_end(&c, DEPLOYMENT_END_REQUEST, DEPLOYMENT_ERR_MANUAL_STOP,
                    "stopped by request (stop-deployment)", auto_rollback);
    orchestrator_unload(&c);
    orchestrator_kick(o);
}

static void
on_continue(void *ud, const char *id)
{
    struct orch *o = ud;
    struct rollout c;

    if (orchestrator_load(o, id, &c) == 0 && c.step == DEPLOYMENT_STEP_READY_WAIT &&
        !c.prog.continued) {
        c.prog.continued = true;
        rollout_save(&c);
        log_info("deployment %s: continue-deployment received", id);
    }
    orchestrator_unload(&c);
    orchestrator_kick(o);
}

static void
on_claimed(void *ud, const char *command_id, const char *instance)
{
    (void)command_id;
    (void)instance;
    orchestrator_kick(ud);
}

static void
on_event(void *ud, const char *command_id, const char *instance,
         const struct deploy_event_report *report)
{
    (void)command_id;
    (void)instance;
    (void)report;
    orchestrator_kick(ud);
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
