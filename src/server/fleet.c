/* SPDX-License-Identifier: ISC */
/* Hosts through their phases (deployment_host_phases): a command phase is a command row the
 * agent claims and whose events it reports; a traffic phase (BlockTraffic, AllowTraffic) is an
 * event row the server writes InProgress before it calls the proxy, and Succeeded once the
 * proxy shows the target gone or healthy. Fleets are hosts in batches (install) or all at
 * once (traffic stages). */
#include "server/rollout.h"

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
find_command(const struct rollout *c, const char *instance, const char *first_event)
{
    for (size_t i = 0; i < c->cmds.n; i++) {
        const struct store_command *cmd = &c->cmds.items[i];
        if (strcmp(cmd->instance, instance) == 0 && cmd->nevents > 0 &&
            strcmp(cmd->events[0], first_event) == 0)
            return cmd;
    }
    return NULL;
}

enum deploy_instance_type
fleet_role_type(enum deployment_role r)
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

void
fleet_set_event(struct rollout *c, const char *instance, const char *name,
                enum deploy_event_status st, int64_t start_ms, const char *diag_code,
                const char *message)
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
        rollout_log(c, LOG_ERROR, "%s: cannot record %s", instance, name);
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
reason_of(const struct deploy_instance_summary *h, struct rollout_reason *r)
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
agent_is_silent(struct rollout *c, const struct deploy_instance_summary *h,
                const struct store_command *cmd)
{
    int64_t at = 0, last;

    store_instance_last_heartbeat(c->o->srv->store, h->instance_id, &at, NULL);
    last = at;
    if (c->o->started_ms > last)
        last = c->o->started_ms;
    if (cmd->create_ms > last)
        last = cmd->create_ms;
    if (cmd->claim_ms > last)
        last = cmd->claim_ms;
    /* an agent reporting events is alive, even if a busy host delays its heartbeats */
    for (size_t i = 0; i < h->nevents; i++) {
        if (h->events[i].start_ms > last)
            last = h->events[i].start_ms;
        if (h->events[i].end_ms > last)
            last = h->events[i].end_ms;
    }
    return c->now - last > (int64_t)c->o->heartbeat_timeout_ms;
}

static enum rollout_verdict
host_command(struct rollout *c, const struct deploy_instance_summary *h,
             const struct deployment_phase *p, struct rollout_reason *why)
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
            rollout_log(c, LOG_ERROR, "%s: cannot queue %s", h->instance_id, names[0]);
            return ROLLOUT_BUSY;
        }
        rollout_log(c, LOG_INFO, "%s: command %s queued (%s, %zu events)", h->instance_id, id,
                    names[0], p->count);
        server_command_queued(c->o->srv, h->instance_id);
        return ROLLOUT_BUSY;
    }
    for (size_t i = 0; i < p->count; i++) {
        const struct deploy_event *ev = find_event(h, names[i]);
        if (ev != NULL && ev->status == DEPLOY_EVENT_FAILED) {
            reason_of(h, why);
            if (cmd->state != STORE_COMMAND_DONE)
                store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
            return ROLLOUT_FAILED;
        }
        if (pending == NULL && (ev == NULL || (ev->status != DEPLOY_EVENT_SUCCEEDED &&
                                               ev->status != DEPLOY_EVENT_SKIPPED)))
            pending = names[i];
    }
    if (pending == NULL) {
        if (cmd->state != STORE_COMMAND_DONE)
            store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
        return ROLLOUT_DONE;
    }
    if (agent_is_silent(c, h, cmd)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "no heartbeat from the agent for %llu ms during %s",
                 (unsigned long long)c->o->heartbeat_timeout_ms, pending);
        fleet_set_event(c, h->instance_id, pending, DEPLOY_EVENT_FAILED, 0, "AgentIssue", msg);
        store_command_set_state(c->o->srv->store, cmd->id, STORE_COMMAND_DONE);
        why->code = DEPLOYMENT_ERR_AGENT_ISSUE;
        snprintf(why->msg, sizeof(why->msg), "instance %s: %s", h->instance_id, msg);
        return ROLLOUT_FAILED;
    }
    return ROLLOUT_BUSY;
}

/* ---- server-side traffic events ------------------------------------------------------------- */

static enum rollout_verdict
host_traffic(struct rollout *c, const struct deploy_instance_summary *h,
             const struct deployment_phase *p, const char *group, struct rollout_reason *why)
{
    const char *name = deployment_event_name(p->first);
    const struct deploy_event *ev = find_event(h, name);
    int64_t since = ev != NULL && ev->start_ms != 0 ? ev->start_ms : c->now;
    const char *state;

    if (ev != NULL && (ev->status == DEPLOY_EVENT_SUCCEEDED || ev->status == DEPLOY_EVENT_SKIPPED))
        return ROLLOUT_DONE;
    if (ev != NULL && ev->status == DEPLOY_EVENT_FAILED) {
        reason_of(h, why);
        return ROLLOUT_FAILED;
    }
    if (group == NULL || (p->kind == DEPLOYMENT_PHASE_BLOCK && h->target == NULL)) {
        fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_SKIPPED, since, NULL, NULL);
        return ROLLOUT_DONE;
    }
    if (ev == NULL || ev->status != DEPLOY_EVENT_IN_PROGRESS) /* persisted before acting */
        fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_IN_PROGRESS, since, NULL, NULL);
    if (h->target == NULL) {
        fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_FAILED, since, "HealthConstraints",
                        "the instance has no target address (agent --target)");
        why->code = DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
        snprintf(why->msg, sizeof(why->msg), "instance %s: no target to register in %s",
                 h->instance_id, group);
        return ROLLOUT_FAILED;
    }
    if (!rollout_health_fresh(c, group)) {
        rollout_start_health(c, group);
        return ROLLOUT_BUSY;
    }
    state = traffic_target_state(&c->od->health, h->target);
    if (p->kind == DEPLOYMENT_PHASE_BLOCK) {
        if (state == NULL) {
            fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_SUCCEEDED, since, NULL, NULL);
            return ROLLOUT_DONE;
        }
        if (strcmp(state, "draining") != 0)
            rollout_start_targets(c, ROLLOUT_OP_TARGETS, group, false, &h->target, 1);
        return ROLLOUT_BUSY;
    }
    if (state != NULL && strcmp(state, "healthy") == 0) {
        fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_SUCCEEDED, since, NULL, NULL);
        return ROLLOUT_DONE;
    }
    if (state == NULL || strcmp(state, "draining") == 0 || strcmp(state, "unused") == 0) {
        rollout_start_targets(c, ROLLOUT_OP_TARGETS, group, true, &h->target, 1);
        return ROLLOUT_BUSY;
    }
    if (c->has_grp && c->now - since > (int64_t)c->grp.group.health_timeout_ms) {
        char msg[256];
        snprintf(msg, sizeof(msg), "target %s not healthy in %s after %llu ms (state %s)",
                 h->target, group, (unsigned long long)c->grp.group.health_timeout_ms, state);
        fleet_set_event(c, h->instance_id, name, DEPLOY_EVENT_FAILED, since, "HealthConstraints",
                        msg);
        why->code = DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
        snprintf(why->msg, sizeof(why->msg), "instance %s: %s", h->instance_id, msg);
        return ROLLOUT_FAILED;
    }
    return ROLLOUT_BUSY;
}

/* Runs <h> through its phases of <stage>, as far as it goes this tick. */
static enum rollout_verdict
host_advance(struct rollout *c, const struct deploy_instance_summary *h, enum deployment_role role,
             enum deployment_stage stage, const char *group, struct rollout_reason *why)
{
    struct deployment_phase ph[DEPLOYMENT_MAX_PHASES];
    size_t n = deployment_host_phases(role, stage, group != NULL, ph);

    for (size_t i = 0; i < n; i++) {
        enum rollout_verdict v = ph[i].kind == DEPLOYMENT_PHASE_COMMAND
                                     ? host_command(c, h, &ph[i], why)
                                     : host_traffic(c, h, &ph[i], group, why);
        if (v != ROLLOUT_DONE)
            return v;
    }
    return ROLLOUT_DONE;
}

/* ---- fleets -------------------------------------------------------------------------------- */

const char *
fleet_group(const struct rollout *c, bool replacement)
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

void
fleet_set_instance(struct rollout *c, const char *instance, enum deploy_instance_status st,
                   const char *event)
{
    store_target_set_status(c->o->srv->store, c->dep.info.deployment_id, instance, st);
    if (event != NULL)
        rollout_notify(c, event, instance, deploy_instance_status_name(st));
}

/* True when <h>'s target is healthy in the cached health of <group>. */
static bool
host_serves(const struct rollout *c, const struct deploy_instance_summary *h, const char *group)
{
    const char *state;

    if (h->target == NULL || strcmp(c->od->health_group, group) != 0)
        return false;
    state = traffic_target_state(&c->od->health, h->target);
    return state != NULL && strcmp(state, "healthy") == 0;
}

/* Starts up to <nstart> Pending hosts of <type>, in order, skipping those the capacity rule
 * holds back (<mhh> non-NULL: the proxy's health of <group> is fresh). Returns how many;
 * <why> says what held the others back. */
static size_t
start_hosts(struct rollout *c, enum deploy_instance_type type, size_t nstart,
            const struct deployment_mhh *mhh, const char *group, char *why, size_t why_size)
{
    size_t healthy = 0, nhosts = 0, min = 0, started = 0;

    for (size_t i = 0; mhh != NULL && i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        if (h->instance_type != type)
            continue;
        nhosts++;
        if (h->status != DEPLOY_INSTANCE_IN_PROGRESS && host_serves(c, h, group))
            healthy++;
    }
    if (mhh != NULL)
        min = deployment_min_healthy(mhh, nhosts);
    for (size_t i = 0; i < c->hosts.n && nstart > 0; i++) {
        struct deploy_instance_summary *h = &c->hosts.items[i];
        bool serves;
        if (h->instance_type != type || h->status != DEPLOY_INSTANCE_PENDING)
            continue;
        serves = mhh != NULL && host_serves(c, h, group);
        if (mhh != NULL && !deployment_may_take_out(serves, healthy, min, nhosts))
            continue;
        if (serves)
            healthy--;
        h->status = DEPLOY_INSTANCE_IN_PROGRESS;
        fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_IN_PROGRESS, "InstanceStart");
        nstart--;
        started++;
    }
    if (mhh != NULL)
        snprintf(why, why_size,
                 "%zu of %zu hosts healthy in %s (hosts in flight not counted), minimum "
                 "healthy hosts %zu",
                 healthy, nhosts, group, min);
    return started;
}

/* Hosts of <type> through <stage> in batches of <batch>: a Pending host is started (status
 * InProgress) when the batch (and, with <mhh>, the capacity) allows, a finished one takes
 * <done_status>. Returns DONE when all are done, FAILED (with <why>) when a host failed and none is
 * in flight any more. */
enum rollout_verdict
fleet_install(struct rollout *c, enum deployment_role role, size_t batch,
              const struct deployment_mhh *mhh, enum deploy_instance_status done_status,
              struct rollout_reason *why)
{
    struct deployment_fleet_counts cnt = {0};
    enum deploy_instance_type type = fleet_role_type(role);
    const char *group = role == DEPLOYMENT_ROLE_IN_PLACE ? fleet_group(c, false) : NULL;
    enum deployment_decision dec;
    bool has_reason = false;
    size_t nstart;
    char held[200] = "";

    for (size_t i = 0; i < c->hosts.n; i++) {
        struct deploy_instance_summary *h = &c->hosts.items[i];
        struct rollout_reason r;
        if (h->instance_type != type)
            continue;
        if (h->status == DEPLOY_INSTANCE_IN_PROGRESS) {
            enum rollout_verdict v = host_advance(c, h, role, DEPLOYMENT_STAGE_INSTALL, group, &r);
            if (v == ROLLOUT_DONE) {
                h->status = done_status;
                fleet_set_instance(c, h->instance_id, done_status,
                                   done_status == DEPLOY_INSTANCE_READY ? "InstanceReady"
                                                                        : "InstanceSuccess");
            } else if (v == ROLLOUT_FAILED) {
                if (!has_reason)
                    *why = r; /* this tick's reason: the rows above may not show it yet */
                has_reason = true;
                if (!c->od->has_first_failure) {
                    c->od->first_failure = r;
                    c->od->has_first_failure = true;
                }
                h->status = DEPLOY_INSTANCE_FAILED;
                fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, "InstanceFailure");
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
            if (!has_reason && c->od->has_first_failure)
                *why = c->od->first_failure; /* late reports may have rewritten its events */
            else if (!has_reason)
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
        if (group == NULL)
            mhh = NULL; /* no target group: no capacity to count */
        if (mhh != NULL && !rollout_health_fresh(c, group)) {
            rollout_start_health(c, group);
            return ROLLOUT_BUSY;
        }
        if (start_hosts(c, type, nstart, mhh, group, held, sizeof(held)) > 0) {
            c->od->hold_since = 0;
            orchestrator_kick(c->o);
        } else if (cnt.in_progress > 0) {
            c->od->hold_since = 0; /* the hosts in flight bring capacity back */
        } else if (c->od->hold_since == 0) {
            c->od->hold_since = uv_now(c->o->loop);
            rollout_log(c, LOG_WARN, "holding: no host may be taken out of service (%s)", held);
        } else if (c->has_grp &&
                   uv_now(c->o->loop) - c->od->hold_since > c->grp.group.health_timeout_ms) {
            why->code = DEPLOYMENT_ERR_HEALTH_CONSTRAINTS;
            snprintf(why->msg, sizeof(why->msg),
                     "no host could be taken out of service for %llu ms: %s",
                     (unsigned long long)c->grp.group.health_timeout_ms, held);
            c->od->hold_since = 0;
            return ROLLOUT_FAILED;
        }
        return ROLLOUT_BUSY;
    case DEPLOYMENT_DECIDE_WAIT:
        return ROLLOUT_BUSY;
    case DEPLOYMENT_DECIDE_SUCCEEDED:
        return ROLLOUT_DONE;
    case DEPLOYMENT_DECIDE_FAILED:
        return ROLLOUT_FAILED;
    }
    return ROLLOUT_BUSY;
}

/* Every host of <role> through <stage> at once. */
enum rollout_verdict
fleet_all(struct rollout *c, enum deployment_role role, enum deployment_stage stage,
          const char *group, struct rollout_reason *why)
{
    enum deploy_instance_type type = fleet_role_type(role);
    enum rollout_verdict all = ROLLOUT_DONE;

    for (size_t i = 0; i < c->hosts.n; i++) {
        const struct deploy_instance_summary *h = &c->hosts.items[i];
        enum rollout_verdict v;
        if (h->instance_type != type)
            continue;
        v = host_advance(c, h, role, stage, group, why);
        if (v == ROLLOUT_FAILED) {
            fleet_set_instance(c, h->instance_id, DEPLOY_INSTANCE_FAILED, "InstanceFailure");
            return ROLLOUT_FAILED;
        }
        if (v == ROLLOUT_BUSY)
            all = ROLLOUT_BUSY;
    }
    return all;
}
