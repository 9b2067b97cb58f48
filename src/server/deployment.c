/* SPDX-License-Identifier: ISC */
/* The deployment model's tables and decisions. Pure: every function is a function of its
 * arguments (see deployment.h for the diagrams). */
#include "server/deployment.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int
parse_name(const char *const *names, size_t n, const char *name, int *out)
{
    if (name == NULL)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && names[i][0] != '\0' && strcmp(names[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- statuses ------------------------------------------------------------------------------ */

static const char *const status_names[DEPLOYMENT_NSTATUSES] = {
    [DEPLOYMENT_CREATED] = "Created",        [DEPLOYMENT_QUEUED] = "Queued",
    [DEPLOYMENT_IN_PROGRESS] = "InProgress", [DEPLOYMENT_READY] = "Ready",
    [DEPLOYMENT_SUCCEEDED] = "Succeeded",    [DEPLOYMENT_FAILED] = "Failed",
    [DEPLOYMENT_STOPPED] = "Stopped",
};

const char *
deployment_status_name(enum deployment_status s)
{
    return (unsigned)s < NELEMS(status_names) ? status_names[s] : "Unknown";
}

int
deployment_status_parse(const char *name, enum deployment_status *out)
{
    int v;
    int rc = parse_name(status_names, NELEMS(status_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_status)v;
    return rc;
}

bool
deployment_status_is_terminal(enum deployment_status s)
{
    switch (s) {
    case DEPLOYMENT_CREATED:
    case DEPLOYMENT_QUEUED:
    case DEPLOYMENT_IN_PROGRESS:
    case DEPLOYMENT_READY:
        return false;
    case DEPLOYMENT_SUCCEEDED:
    case DEPLOYMENT_FAILED:
    case DEPLOYMENT_STOPPED:
        return true;
    }
    return true;
}

bool
deployment_status_can_enter(enum deployment_status from, enum deployment_status to)
{
    if (from == to || deployment_status_is_terminal(from))
        return false;
    switch (to) {
    case DEPLOYMENT_CREATED:
        return false;
    case DEPLOYMENT_QUEUED:
        return from == DEPLOYMENT_CREATED;
    case DEPLOYMENT_IN_PROGRESS:
        return from == DEPLOYMENT_CREATED || from == DEPLOYMENT_QUEUED || from == DEPLOYMENT_READY;
    case DEPLOYMENT_READY:
        return from == DEPLOYMENT_IN_PROGRESS;
    case DEPLOYMENT_SUCCEEDED:
        return from == DEPLOYMENT_IN_PROGRESS;
    case DEPLOYMENT_FAILED:
    case DEPLOYMENT_STOPPED:
        return true;
    }
    return false;
}

static const char *const event_status_names[DEPLOYMENT_NEVENT_STATUSES] = {
    [DEPLOYMENT_EVENT_PENDING] = "Pending",     [DEPLOYMENT_EVENT_IN_PROGRESS] = "InProgress",
    [DEPLOYMENT_EVENT_SUCCEEDED] = "Succeeded", [DEPLOYMENT_EVENT_FAILED] = "Failed",
    [DEPLOYMENT_EVENT_SKIPPED] = "Skipped",
};

const char *
deployment_event_status_name(enum deployment_event_status s)
{
    return (unsigned)s < NELEMS(event_status_names) ? event_status_names[s] : "Unknown";
}

int
deployment_event_status_parse(const char *name, enum deployment_event_status *out)
{
    int v;
    int rc = parse_name(event_status_names, NELEMS(event_status_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_event_status)v;
    return rc;
}

bool
deployment_event_status_is_final(enum deployment_event_status s)
{
    switch (s) {
    case DEPLOYMENT_EVENT_PENDING:
    case DEPLOYMENT_EVENT_IN_PROGRESS:
        return false;
    case DEPLOYMENT_EVENT_SUCCEEDED:
    case DEPLOYMENT_EVENT_FAILED:
    case DEPLOYMENT_EVENT_SKIPPED:
        return true;
    }
    return false;
}

static const char *const instance_status_names[DEPLOYMENT_NINSTANCE_STATUSES] = {
    [DEPLOYMENT_INSTANCE_PENDING] = "Pending",     [DEPLOYMENT_INSTANCE_IN_PROGRESS] = "InProgress",
    [DEPLOYMENT_INSTANCE_SUCCEEDED] = "Succeeded", [DEPLOYMENT_INSTANCE_FAILED] = "Failed",
    [DEPLOYMENT_INSTANCE_SKIPPED] = "Skipped",     [DEPLOYMENT_INSTANCE_READY] = "Ready",
    [DEPLOYMENT_INSTANCE_UNKNOWN] = "Unknown",
};

const char *
deployment_instance_status_name(enum deployment_instance_status s)
{
    return (unsigned)s < NELEMS(instance_status_names) ? instance_status_names[s] : "Unknown";
}

int
deployment_instance_status_parse(const char *name, enum deployment_instance_status *out)
{
    int v;
    int rc = parse_name(instance_status_names, NELEMS(instance_status_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_instance_status)v;
    return rc;
}

/* ---- errors -------------------------------------------------------------------------------- */

static const char *const error_names[DEPLOYMENT_NERRORS] = {
    [DEPLOYMENT_ERR_NONE] = "",
    [DEPLOYMENT_ERR_SCRIPT_FAILED] = "SCRIPT_FAILED",
    [DEPLOYMENT_ERR_HEALTH_CONSTRAINTS] = "HEALTH_CONSTRAINTS",
    [DEPLOYMENT_ERR_HEALTH_CONSTRAINTS_INVALID] = "HEALTH_CONSTRAINTS_INVALID",
    [DEPLOYMENT_ERR_TIMEOUT] = "TIMEOUT",
    [DEPLOYMENT_ERR_AGENT_ISSUE] = "AGENT_ISSUE",
    [DEPLOYMENT_ERR_ALARM_ACTIVE] = "ALARM_ACTIVE",
    [DEPLOYMENT_ERR_MANUAL_STOP] = "MANUAL_STOP",
    [DEPLOYMENT_ERR_NO_INSTANCES] = "NO_INSTANCES",
    [DEPLOYMENT_ERR_REVISION_MISSING] = "REVISION_MISSING",
    [DEPLOYMENT_ERR_DEPLOYMENT_GROUP_MISSING] = "DEPLOYMENT_GROUP_MISSING",
    [DEPLOYMENT_ERR_ELASTIC_LOAD_BALANCING_INVALID] = "ELASTIC_LOAD_BALANCING_INVALID",
    [DEPLOYMENT_ERR_INTERNAL_ERROR] = "INTERNAL_ERROR",
};

const char *
deployment_error_name(enum deployment_error e)
{
    return (unsigned)e < NELEMS(error_names) ? error_names[e] : "INTERNAL_ERROR";
}

int
deployment_error_parse(const char *name, enum deployment_error *out)
{
    int v;
    int rc;

    if (name != NULL && name[0] == '\0') {
        *out = DEPLOYMENT_ERR_NONE;
        return 0;
    }
    rc = parse_name(error_names, NELEMS(error_names), name, &v);
    if (rc == 0)
        *out = (enum deployment_error)v;
    return rc;
}

enum deployment_error
deployment_error_from_diagnostic(const char *diag_code)
{
    if (diag_code != NULL &&
        (strcmp(diag_code, "AgentRestarted") == 0 || strcmp(diag_code, "AgentIssue") == 0 ||
         strcmp(diag_code, "AGENT_ISSUE") == 0))
        return DEPLOYMENT_ERR_AGENT_ISSUE;
    return DEPLOYMENT_ERR_SCRIPT_FAILED;
}

/* ---- events -------------------------------------------------------------------------------- */

static const char *const event_names[DEPLOYMENT_NEVENTS] = {
    [DEPLOYMENT_EV_BEFORE_BLOCK_TRAFFIC] = "BeforeBlockTraffic",
    [DEPLOYMENT_EV_BLOCK_TRAFFIC] = "BlockTraffic",
    [DEPLOYMENT_EV_AFTER_BLOCK_TRAFFIC] = "AfterBlockTraffic",
    [DEPLOYMENT_EV_APPLICATION_STOP] = "ApplicationStop",
    [DEPLOYMENT_EV_DOWNLOAD_BUNDLE] = "DownloadBundle",
    [DEPLOYMENT_EV_BEFORE_INSTALL] = "BeforeInstall",
    [DEPLOYMENT_EV_INSTALL] = "Install",
    [DEPLOYMENT_EV_AFTER_INSTALL] = "AfterInstall",
    [DEPLOYMENT_EV_APPLICATION_START] = "ApplicationStart",
    [DEPLOYMENT_EV_VALIDATE_SERVICE] = "ValidateService",
    [DEPLOYMENT_EV_BEFORE_ALLOW_TRAFFIC] = "BeforeAllowTraffic",
    [DEPLOYMENT_EV_ALLOW_TRAFFIC] = "AllowTraffic",
    [DEPLOYMENT_EV_AFTER_ALLOW_TRAFFIC] = "AfterAllowTraffic",
};

const char *
deployment_event_name(enum deployment_event ev)
{
    return (unsigned)ev < NELEMS(event_names) ? event_names[ev] : "Unknown";
}

int
deployment_event_parse(const char *name, enum deployment_event *out)
{
    int v;
    int rc = parse_name(event_names, NELEMS(event_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_event)v;
    return rc;
}

bool
deployment_event_is_server_side(enum deployment_event ev)
{
    return ev == DEPLOYMENT_EV_BLOCK_TRAFFIC || ev == DEPLOYMENT_EV_ALLOW_TRAFFIC;
}

/* ---- shapes -------------------------------------------------------------------------------- */

static const char *const type_names[] = {
    [DEPLOYMENT_IN_PLACE] = "IN_PLACE",
    [DEPLOYMENT_BLUE_GREEN] = "BLUE_GREEN",
};

const char *
deployment_type_name(enum deployment_type t)
{
    return (unsigned)t < NELEMS(type_names) ? type_names[t] : "IN_PLACE";
}

int
deployment_type_parse(const char *name, enum deployment_type *out)
{
    int v;
    int rc = parse_name(type_names, NELEMS(type_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_type)v;
    return rc;
}

static const char *const role_names[] = {
    [DEPLOYMENT_ROLE_IN_PLACE] = "InPlace",
    [DEPLOYMENT_ROLE_REPLACEMENT] = "Green",
    [DEPLOYMENT_ROLE_ORIGINAL] = "Blue",
};

const char *
deployment_role_name(enum deployment_role r)
{
    return (unsigned)r < NELEMS(role_names) ? role_names[r] : "InPlace";
}

int
deployment_role_parse(const char *name, enum deployment_role *out)
{
    int v;
    int rc = parse_name(role_names, NELEMS(role_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_role)v;
    return rc;
}

static size_t
add_phase(struct deployment_phase *out, size_t n, enum deployment_phase_kind kind,
          enum deployment_event first, size_t count)
{
    ASSERT(n < DEPLOYMENT_MAX_PHASES);
    out[n].kind = kind;
    out[n].first = first;
    out[n].count = count;
    return n + 1;
}

/* ApplicationStop … ValidateService: seven events, DownloadBundle and Install included. */
#define INSTALL_RUN (DEPLOYMENT_EV_VALIDATE_SERVICE - DEPLOYMENT_EV_APPLICATION_STOP + 1)

static size_t
block_phases(struct deployment_phase *out, size_t n)
{
    n = add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_BEFORE_BLOCK_TRAFFIC, 1);
    n = add_phase(out, n, DEPLOYMENT_PHASE_BLOCK, DEPLOYMENT_EV_BLOCK_TRAFFIC, 1);
    return add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_AFTER_BLOCK_TRAFFIC, 1);
}

static size_t
allow_phases(struct deployment_phase *out, size_t n)
{
    n = add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_BEFORE_ALLOW_TRAFFIC, 1);
    return add_phase(out, n, DEPLOYMENT_PHASE_ALLOW, DEPLOYMENT_EV_ALLOW_TRAFFIC, 1);
}

size_t
deployment_host_phases(enum deployment_role role, enum deployment_stage stage,
                       bool has_target_group, struct deployment_phase *out)
{
    size_t n = 0;

    switch (role) {
    case DEPLOYMENT_ROLE_IN_PLACE:
        if (stage != DEPLOYMENT_STAGE_INSTALL)
            return 0;
        if (has_target_group)
            n = block_phases(out, n);
        n = add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_APPLICATION_STOP,
                      INSTALL_RUN);
        if (has_target_group) {
            n = allow_phases(out, n);
            n = add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_AFTER_ALLOW_TRAFFIC, 1);
        }
        return n;
    case DEPLOYMENT_ROLE_REPLACEMENT:
        switch (stage) {
        case DEPLOYMENT_STAGE_INSTALL:
            return add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_APPLICATION_STOP,
                             INSTALL_RUN);
        case DEPLOYMENT_STAGE_ALLOW:
            return allow_phases(out, n);
        case DEPLOYMENT_STAGE_AFTER_ALLOW:
            return add_phase(out, n, DEPLOYMENT_PHASE_COMMAND, DEPLOYMENT_EV_AFTER_ALLOW_TRAFFIC,
                             1);
        case DEPLOYMENT_STAGE_BLOCK:
            return 0;
        }
        return 0;
    case DEPLOYMENT_ROLE_ORIGINAL:
        return stage == DEPLOYMENT_STAGE_BLOCK ? block_phases(out, n) : 0;
    }
    return 0;
}

/* ---- steps --------------------------------------------------------------------------------- */

static const char *const step_names[DEPLOYMENT_NSTEPS] = {
    [DEPLOYMENT_STEP_START] = "start",
    [DEPLOYMENT_STEP_INSTALL] = "install",
    [DEPLOYMENT_STEP_READY_WAIT] = "ready_wait",
    [DEPLOYMENT_STEP_ALLOW] = "allow",
    [DEPLOYMENT_STEP_SHIFT] = "shift",
    [DEPLOYMENT_STEP_AFTER_ALLOW] = "after_allow",
    [DEPLOYMENT_STEP_TERMINATION_WAIT] = "termination_wait",
    [DEPLOYMENT_STEP_BLOCK_ORIGINAL] = "block_original",
    [DEPLOYMENT_STEP_ROLLBACK_TRAFFIC] = "rollback_traffic",
    [DEPLOYMENT_STEP_DONE] = "done",
};

const char *
deployment_step_name(enum deployment_step s)
{
    return (unsigned)s < NELEMS(step_names) ? step_names[s] : "done";
}

int
deployment_step_parse(const char *name, enum deployment_step *out)
{
    int v;
    int rc = parse_name(step_names, NELEMS(step_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_step)v;
    return rc;
}

static enum deployment_step
blue_green_next(const struct deployment_plan *p, enum deployment_step cur)
{
    switch (cur) {
    case DEPLOYMENT_STEP_START:
        return p->is_restore ? DEPLOYMENT_STEP_ALLOW : DEPLOYMENT_STEP_INSTALL;
    case DEPLOYMENT_STEP_INSTALL:
        return p->wait_for_continue ? DEPLOYMENT_STEP_READY_WAIT : DEPLOYMENT_STEP_ALLOW;
    case DEPLOYMENT_STEP_READY_WAIT:
        return DEPLOYMENT_STEP_ALLOW;
    case DEPLOYMENT_STEP_ALLOW:
        return DEPLOYMENT_STEP_SHIFT;
    case DEPLOYMENT_STEP_SHIFT:
        return DEPLOYMENT_STEP_AFTER_ALLOW;
    case DEPLOYMENT_STEP_AFTER_ALLOW:
        return p->is_restore ? DEPLOYMENT_STEP_BLOCK_ORIGINAL : DEPLOYMENT_STEP_TERMINATION_WAIT;
    case DEPLOYMENT_STEP_TERMINATION_WAIT:
        return DEPLOYMENT_STEP_BLOCK_ORIGINAL;
    case DEPLOYMENT_STEP_BLOCK_ORIGINAL:
    case DEPLOYMENT_STEP_ROLLBACK_TRAFFIC:
    case DEPLOYMENT_STEP_DONE:
        return DEPLOYMENT_STEP_DONE;
    }
    return DEPLOYMENT_STEP_DONE;
}

enum deployment_step
deployment_step_next(const struct deployment_plan *p, enum deployment_step cur)
{
    switch (p->type) {
    case DEPLOYMENT_IN_PLACE:
        return cur == DEPLOYMENT_STEP_START ? DEPLOYMENT_STEP_INSTALL : DEPLOYMENT_STEP_DONE;
    case DEPLOYMENT_BLUE_GREEN:
        return blue_green_next(p, cur);
    }
    return DEPLOYMENT_STEP_DONE;
}

bool
deployment_step_needs_traffic_rollback(const struct deployment_plan *p, enum deployment_step s)
{
    if (p->type != DEPLOYMENT_BLUE_GREEN)
        return false;
    switch (s) {
    case DEPLOYMENT_STEP_ALLOW:
    case DEPLOYMENT_STEP_SHIFT:
    case DEPLOYMENT_STEP_AFTER_ALLOW:
    case DEPLOYMENT_STEP_TERMINATION_WAIT:
    case DEPLOYMENT_STEP_BLOCK_ORIGINAL:
        return true;
    case DEPLOYMENT_STEP_START:
    case DEPLOYMENT_STEP_INSTALL:
    case DEPLOYMENT_STEP_READY_WAIT:
    case DEPLOYMENT_STEP_ROLLBACK_TRAFFIC:
    case DEPLOYMENT_STEP_DONE:
        return false;
    }
    return false;
}

bool
deployment_step_watches_alarms(const struct deployment_plan *p, enum deployment_step s)
{
    if (p->type == DEPLOYMENT_IN_PLACE)
        return s == DEPLOYMENT_STEP_INSTALL;
    return s == DEPLOYMENT_STEP_SHIFT || s == DEPLOYMENT_STEP_AFTER_ALLOW ||
           s == DEPLOYMENT_STEP_TERMINATION_WAIT;
}

/* ---- minimum healthy hosts ----------------------------------------------------------------- */

static const char *const mhh_names[] = {
    [DEPLOYMENT_MHH_HOST_COUNT] = "HOST_COUNT",
    [DEPLOYMENT_MHH_FLEET_PERCENT] = "FLEET_PERCENT",
};

const char *
deployment_mhh_type_name(enum deployment_mhh_type t)
{
    return (unsigned)t < NELEMS(mhh_names) ? mhh_names[t] : "HOST_COUNT";
}

int
deployment_mhh_type_parse(const char *name, enum deployment_mhh_type *out)
{
    int v;
    int rc = parse_name(mhh_names, NELEMS(mhh_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_mhh_type)v;
    return rc;
}

int
deployment_config_builtin(const char *name, struct deployment_mhh *out)
{
    static const struct {
        const char *name;
        struct deployment_mhh mhh;
    } builtins[] = {
        {"CodeDeployDefault.AllAtOnce", {DEPLOYMENT_MHH_HOST_COUNT, 0, 0}},
        {"CodeDeployDefault.HalfAtATime", {DEPLOYMENT_MHH_FLEET_PERCENT, 50, 0}},
        {"CodeDeployDefault.OneAtATime", {DEPLOYMENT_MHH_HOST_COUNT, 1, 1}},
    };

    for (size_t i = 0; name != NULL && i < NELEMS(builtins); i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            *out = builtins[i].mhh;
            return 0;
        }
    }
    return -ENOENT;
}

size_t
deployment_min_healthy(const struct deployment_mhh *m, size_t nhosts)
{
    switch (m->type) {
    case DEPLOYMENT_MHH_HOST_COUNT:
        return m->value;
    case DEPLOYMENT_MHH_FLEET_PERCENT:
        return ((size_t)m->value * nhosts + 99) / 100;
    }
    return nhosts;
}

int
deployment_max_batch(const struct deployment_mhh *m, size_t nhosts, size_t *batch)
{
    size_t min;

    if (nhosts == 0)
        return -ENOENT;
    if (nhosts == 1) {
        *batch = 1;
        return 0;
    }
    min = deployment_min_healthy(m, nhosts);
    if (min >= nhosts)
        return -EINVAL;
    *batch = nhosts - min;
    if (m->max_in_flight > 0 && *batch > m->max_in_flight)
        *batch = m->max_in_flight;
    return 0;
}

enum deployment_decision
deployment_fleet_decide(size_t batch, const struct deployment_fleet_counts *c, size_t *nstart)
{
    *nstart = 0;
    if (c->failed > 0)
        return c->in_progress > 0 ? DEPLOYMENT_DECIDE_WAIT : DEPLOYMENT_DECIDE_FAILED;
    if (c->pending == 0)
        return c->in_progress > 0 ? DEPLOYMENT_DECIDE_WAIT : DEPLOYMENT_DECIDE_SUCCEEDED;
    if (c->in_progress >= batch)
        return DEPLOYMENT_DECIDE_WAIT;
    *nstart = batch - c->in_progress;
    if (*nstart > c->pending)
        *nstart = c->pending;
    return DEPLOYMENT_DECIDE_START;
}

bool
deployment_may_take_out(bool serves, size_t healthy, size_t min, size_t nhosts)
{
    return !serves || nhosts <= 1 || healthy > min;
}

/* ---- traffic ------------------------------------------------------------------------------- */

static const char *const routing_names[] = {
    [DEPLOYMENT_ROUTING_ALL_AT_ONCE] = "AllAtOnce",
    [DEPLOYMENT_ROUTING_CANARY] = "TimeBasedCanary",
    [DEPLOYMENT_ROUTING_LINEAR] = "TimeBasedLinear",
};

const char *
deployment_routing_type_name(enum deployment_routing_type t)
{
    return (unsigned)t < NELEMS(routing_names) ? routing_names[t] : "AllAtOnce";
}

int
deployment_routing_type_parse(const char *name, enum deployment_routing_type *out)
{
    int v;
    int rc = parse_name(routing_names, NELEMS(routing_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_routing_type)v;
    return rc;
}

bool
deployment_traffic_step(const struct deployment_routing *r, uint32_t index, uint32_t *percent,
                        uint64_t *hold_ms)
{
    uint32_t pct = r->percentage;
    uint64_t want;

    if (r->type == DEPLOYMENT_ROUTING_ALL_AT_ONCE || pct == 0 || pct >= 100)
        goto last;
    if (r->type == DEPLOYMENT_ROUTING_CANARY) {
        if (index > 0)
            goto last;
        *percent = pct;
        *hold_ms = r->interval_ms;
        return false;
    }
    want = (uint64_t)pct * ((uint64_t)index + 1);
    if (want >= 100)
        goto last;
    *percent = (uint32_t)want;
    *hold_ms = r->interval_ms;
    return false;

last:
    *percent = 100;
    *hold_ms = 0;
    return true;
}

void
deployment_traffic_weights(uint32_t percent, uint32_t *original_weight,
                           uint32_t *replacement_weight)
{
    if (percent > 100)
        percent = 100;
    *original_weight = 100 - percent;
    *replacement_weight = percent;
}

/* ---- alarms -------------------------------------------------------------------------------- */

static const char *const metric_names[] = {
    [DEPLOYMENT_METRIC_TARGET_5XX_RATIO] = "target_5xx_ratio",
    [DEPLOYMENT_METRIC_TARGET_P99_SECONDS] = "target_p99_seconds",
};

const char *
deployment_metric_name(enum deployment_metric m)
{
    return (unsigned)m < NELEMS(metric_names) ? metric_names[m] : "target_5xx_ratio";
}

int
deployment_metric_parse(const char *name, enum deployment_metric *out)
{
    int v;
    int rc;

    if (name != NULL && strcmp(name, "p99_target_time") == 0) {
        *out = DEPLOYMENT_METRIC_TARGET_P99_SECONDS;
        return 0;
    }
    rc = parse_name(metric_names, NELEMS(metric_names), name, &v);
    if (rc == 0)
        *out = (enum deployment_metric)v;
    return rc;
}

/* newer - older, or newer alone when the counter restarted. */
static uint64_t
delta(uint64_t older, uint64_t newer)
{
    return newer >= older ? newer - older : newer;
}

static double
p99_of(const struct deployment_metric_sample *o, const struct deployment_metric_sample *n,
       uint64_t count)
{
    /* rank of the 99th percentile, rounded up: the smallest bucket holding it */
    uint64_t rank = (count * 99 + 99) / 100;
    double largest_finite = 0;
    bool same_shape = o->nbuckets == n->nbuckets;

    for (size_t b = 0; b < n->nbuckets; b++) {
        uint64_t older = same_shape ? o->cumulative[b] : 0;
        bool is_inf = b == n->nbuckets - 1;
        if (!is_inf)
            largest_finite = n->le[b];
        if (delta(older, n->cumulative[b]) >= rank)
            return is_inf ? largest_finite : n->le[b];
    }
    return largest_finite;
}

bool
deployment_alarm_eval(const struct deployment_alarm *a,
                      const struct deployment_metric_sample *oldest,
                      const struct deployment_metric_sample *newest, double *value)
{
    uint64_t requests = delta(oldest->requests, newest->requests);
    uint64_t min = a->min_requests > 0 ? a->min_requests : 1;

    *value = 0;
    if (oldest->requests > newest->requests) /* restarted: count everything since */
        requests = newest->requests;
    if (requests < min)
        return false;
    switch (a->metric) {
    case DEPLOYMENT_METRIC_TARGET_5XX_RATIO: {
        uint64_t errors = oldest->requests > newest->requests
                              ? newest->errors
                              : delta(oldest->errors, newest->errors);
        *value = (double)errors / (double)requests;
        break;
    }
    case DEPLOYMENT_METRIC_TARGET_P99_SECONDS: {
        static const struct deployment_metric_sample zero;
        const struct deployment_metric_sample *base =
            oldest->requests > newest->requests ? &zero : oldest;
        if (newest->nbuckets == 0)
            return false;
        *value = p99_of(base, newest, requests);
        break;
    }
    }
    return *value > a->threshold;
}

/* ---- rollback ------------------------------------------------------------------------------ */

static const char *const cause_names[] = {
    [DEPLOYMENT_END_FAILURE] = "DEPLOYMENT_FAILURE",
    [DEPLOYMENT_END_ALARM] = "DEPLOYMENT_STOP_ON_ALARM",
    [DEPLOYMENT_END_REQUEST] = "DEPLOYMENT_STOP_ON_REQUEST",
};

const char *
deployment_end_cause_name(enum deployment_end_cause c)
{
    return (unsigned)c < NELEMS(cause_names) ? cause_names[c] : "DEPLOYMENT_FAILURE";
}

int
deployment_end_cause_parse(const char *name, enum deployment_end_cause *out)
{
    int v;
    int rc = parse_name(cause_names, NELEMS(cause_names), name, &v);

    if (rc == 0)
        *out = (enum deployment_end_cause)v;
    return rc;
}

static bool
rollback_wanted(const struct deployment_rollback_conf *conf, const struct deployment_ending *e)
{
    if (e->cause == DEPLOYMENT_END_REQUEST && e->stop_rollback >= 0)
        return e->stop_rollback == 1;
    return conf->enabled && (conf->events & (1u << e->cause)) != 0;
}

void
deployment_plan_ending(const struct deployment_rollback_conf *conf,
                       const struct deployment_ending *e, enum deployment_error failure_error,
                       struct deployment_rollback_plan *out)
{
    memset(out, 0, sizeof(*out));
    switch (e->cause) {
    case DEPLOYMENT_END_FAILURE:
        out->status = DEPLOYMENT_FAILED;
        out->error =
            failure_error != DEPLOYMENT_ERR_NONE ? failure_error : DEPLOYMENT_ERR_INTERNAL_ERROR;
        break;
    case DEPLOYMENT_END_ALARM:
        out->status = DEPLOYMENT_FAILED;
        out->error = DEPLOYMENT_ERR_ALARM_ACTIVE;
        break;
    case DEPLOYMENT_END_REQUEST:
        out->status = DEPLOYMENT_STOPPED;
        out->error = DEPLOYMENT_ERR_MANUAL_STOP;
        break;
    }
    out->flip_traffic_back = e->type == DEPLOYMENT_BLUE_GREEN && e->traffic_may_have_moved;
    out->create_rollback = !e->is_rollback && e->has_last_good && rollback_wanted(conf, e);
    out->rollback_is_restore = out->create_rollback && e->type == DEPLOYMENT_BLUE_GREEN;
}
