/* SPDX-License-Identifier: ISC */
/* Prometheus text rendering. Each target's per-worker slots are summed once per scrape, so all
 * families of one scrape agree with each other; families are emitted whole, as the format
 * requires (one TYPE line, then every series). */
#include "proxy/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "proxy/listener.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"

struct row {
    const char *group;     /* borrowed: the generation or the target */
    struct target *target; /* borrowed: alive for the call (the generation or registry holds it) */
    struct target_stats st;
    char listeners[256]; /* the listeners forwarding to the group, joined by ',' */
};

struct rows {
    struct row *v; /* owned */
    size_t n, cap;
    const struct proxy_conf *conf;
};

static const char *const class_names[TARGET_NCLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* Label values escape backslash, double quote and newline. */
static void
append_label(struct buf *out, const char *name, const char *value, bool comma)
{
    buf_appendf(out, "%s%s=\"", comma ? "," : "", name);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            buf_appendf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_append_str(out, "\\n");
        else
            buf_append(out, p, 1);
    }
    buf_append_str(out, "\"");
}

static void
family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
target_labels(struct buf *out, const struct row *r)
{
    append_label(out, "target_group", r->group, false);
    append_label(out, "target", r->target->addr.text, true);
}

static void
listeners_of(const struct proxy_conf *conf, const char *group, char *dst, size_t size)
{
    size_t used = 0;

    dst[0] = '\0';
    for (size_t i = 0; i < conf->nlisteners; i++) {
        const struct proxy_conf_listener *l = &conf->listeners[i];
        for (size_t k = 0; k < l->nforward; k++) {
            if (strcmp(l->forward[k].group_name, group) != 0)
                continue;
            used += (size_t)snprintf(dst + used, size - used, "%s%s", used ? "," : "", l->name);
            if (used >= size)
                used = size - 1;
            break;
        }
    }
}

static void
add_row(struct rows *rs, const char *group, struct target *t)
{
    struct row *r;

    if (rs->n == rs->cap) {
        rs->cap = rs->cap * 2 + 16;
        rs->v = mem_realloc(rs->v, rs->cap * sizeof(*rs->v));
    }
    r = &rs->v[rs->n++];
    r->group = group;
    r->target = t;
    target_group_stats_read(t, &r->st);
    listeners_of(rs->conf, group, r->listeners, sizeof(r->listeners));
}

/* Draining targets that left the generation keep being reported until they are forgotten. */
static void
add_draining(void *ud, struct target *t)
{
    struct rows *rs = ud;
    const struct target_group *g = proxy_conf_group_find(rs->conf, t->group_name);

    if (target_group_state(t) != TARGET_DRAINING)
        return;
    if (g != NULL && target_group_find(g, &t->addr) != NULL)
        return;
    add_row(rs, t->group_name, t);
}

static void
render_requests(struct buf *out, const struct rows *rs)
{
    family(out, "cutover_requests_total", "counter",
           "Requests finished by a target, by status class (none: no response from the target).");
    for (size_t i = 0; i < rs->n; i++) {
        const struct row *r = &rs->v[i];
        for (int c = 0; c < TARGET_NCLASSES; c++) {
            buf_append_str(out, "cutover_requests_total{");
            append_label(out, "listener", r->listeners, false);
            buf_append_str(out, ",");
            target_labels(out, r);
            append_label(out, "status_class", class_names[c], true);
            buf_appendf(out, "} %llu\n", (unsigned long long)r->st.requests[c]);
        }
    }
}

static void
render_histogram(struct buf *out, const struct rows *rs)
{
    static const uint64_t bounds[TARGET_RT_NBUCKETS] = TARGET_RT_BUCKET_BOUNDS_MS;
    const char *name = "cutover_target_response_time_seconds";

    family(out, name, "histogram", "Time from request sent to response head received.");
    for (size_t i = 0; i < rs->n; i++) {
        const struct row *r = &rs->v[i];
        uint64_t cum = 0;
        for (int b = 0; b < TARGET_RT_NBUCKETS; b++) {
            char le[32];
            bool last = b == TARGET_RT_NBUCKETS - 1 || bounds[b] == 0;
            cum += r->st.rt_buckets[b];
            if (last)
                snprintf(le, sizeof(le), "+Inf");
            else
                snprintf(le, sizeof(le), "%g", (double)bounds[b] / 1000.0);
            buf_appendf(out, "%s_bucket{", name);
            target_labels(out, r);
            append_label(out, "le", le, true);
            buf_appendf(out, "} %llu\n", (unsigned long long)cum);
            if (last)
                break;
        }
        /* _count is the +Inf bucket, so the two agree even while workers add samples */
        buf_appendf(out, "%s_sum{", name);
        target_labels(out, r);
        buf_appendf(out, "} %.6f\n%s_count{", (double)r->st.rt_sum_us / 1e6, name);
        target_labels(out, r);
        buf_appendf(out, "} %llu\n", (unsigned long long)cum);
    }
}

enum target_field { F_SENT, F_RECEIVED, F_CONNECT_ERRORS, F_TIMEOUTS, F_IN_FLIGHT };

static uint64_t
field_of(const struct row *r, enum target_field f)
{
    switch (f) {
    case F_SENT:
        return r->st.bytes_sent;
    case F_RECEIVED:
        return r->st.bytes_received;
    case F_CONNECT_ERRORS:
        return r->st.connect_errors;
    case F_TIMEOUTS:
        return r->st.timeouts;
    case F_IN_FLIGHT:
        return atomic_load_explicit(&r->target->in_flight, memory_order_relaxed);
    }
    return 0;
}

static void
render_target_field(struct buf *out, const struct rows *rs, const char *name, const char *type,
                    const char *help, enum target_field f)
{
    family(out, name, type, help);
    for (size_t i = 0; i < rs->n; i++) {
        buf_appendf(out, "%s{", name);
        target_labels(out, &rs->v[i]);
        buf_appendf(out, "} %llu\n", (unsigned long long)field_of(&rs->v[i], f));
    }
}

static void
render_states(struct buf *out, const struct rows *rs)
{
    family(out, "cutover_target_state", "gauge", "1 for the target's current state.");
    for (size_t i = 0; i < rs->n; i++) {
        enum target_state cur = target_group_state(rs->v[i].target);
        for (int s = 0; s < TARGET_NSTATES; s++) {
            buf_append_str(out, "cutover_target_state{");
            target_labels(out, &rs->v[i]);
            append_label(out, "state", target_group_state_name((enum target_state)s), true);
            buf_appendf(out, "} %d\n", (int)cur == s);
        }
    }
}

static void
render_groups(struct buf *out, const struct proxy_conf *conf)
{
    static const char *const names[2] = {"cutover_target_group_healthy_hosts",
                                         "cutover_target_group_unhealthy_hosts"};

    for (int k = 0; k < 2; k++) {
        family(out, names[k], "gauge",
               k == 0 ? "Healthy targets per group."
                      : "Registered targets not healthy, per group.");
        for (size_t i = 0; i < conf->ngroups; i++) {
            size_t healthy, unhealthy;
            target_group_count(&conf->groups[i], &healthy, &unhealthy);
            buf_appendf(out, "%s{", names[k]);
            append_label(out, "target_group", conf->groups[i].name, false);
            buf_appendf(out, "} %zu\n", k == 0 ? healthy : unhealthy);
        }
    }
}

static void
render_listeners(struct buf *out, const struct listener *ls)
{
    static const char *const names[] = {
        "cutover_listener_active_connections", "cutover_listener_connections_total",
        "cutover_listener_bytes_received_total", "cutover_listener_bytes_sent_total"};
    static const char *const types[] = {"gauge", "counter", "counter", "counter"};
    static const char *const helps[] = {"Open client connections.", "Client connections accepted.",
                                        "Bytes read from clients.", "Bytes written to clients."};

    family(out, "cutover_listener_requests_total", "counter",
           "Requests answered on a listener, by status class (none: no response sent).");
    for (const struct listener *l = ls; l != NULL; l = l->next) {
        struct listener_stats st;
        listener_stats_read(l, &st);
        for (int c = 0; c < TARGET_NCLASSES; c++) {
            buf_append_str(out, "cutover_listener_requests_total{");
            append_label(out, "listener", l->name, false);
            append_label(out, "status_class", class_names[c], true);
            buf_appendf(out, "} %llu\n", (unsigned long long)st.requests[c]);
        }
    }
    for (int k = 0; k < 4; k++) {
        family(out, names[k], types[k], helps[k]);
        for (const struct listener *l = ls; l != NULL; l = l->next) {
            struct listener_stats st;
            uint64_t v[4];
            listener_stats_read(l, &st);
            v[0] = st.conns_accepted >= st.conns_closed ? st.conns_accepted - st.conns_closed : 0;
            v[1] = st.conns_accepted;
            v[2] = st.bytes_received;
            v[3] = st.bytes_sent;
            buf_appendf(out, "%s{", names[k]);
            append_label(out, "listener", l->name, false);
            buf_appendf(out, "} %llu\n", (unsigned long long)v[k]);
        }
    }
}

void
metrics_render(struct buf *out, const struct proxy_conf *conf, const struct listener *listeners,
               struct target_group_registry *reg)
{
    struct rows rs = {NULL, 0, 0, conf};

    for (size_t i = 0; i < conf->ngroups; i++) {
        const struct target_group *g = &conf->groups[i];
        for (size_t k = 0; k < g->ntargets; k++)
            add_row(&rs, g->name, g->targets[k]);
    }
    if (reg != NULL)
        target_group_registry_foreach(reg, add_draining, &rs);
    render_requests(out, &rs);
    render_histogram(out, &rs);
    render_target_field(out, &rs, "cutover_target_bytes_sent_total", "counter",
                        "Request bytes written to the target.", F_SENT);
    render_target_field(out, &rs, "cutover_target_bytes_received_total", "counter",
                        "Response bytes read from the target.", F_RECEIVED);
    render_target_field(out, &rs, "cutover_target_connect_errors_total", "counter",
                        "Failed upstream connects.", F_CONNECT_ERRORS);
    render_target_field(out, &rs, "cutover_target_timeouts_total", "counter",
                        "Responses that timed out (answered 504).", F_TIMEOUTS);
    render_target_field(out, &rs, "cutover_target_in_flight", "gauge",
                        "Requests being served by the target.", F_IN_FLIGHT);
    render_states(out, &rs);
    render_groups(out, conf);
    render_listeners(out, listeners);
    family(out, "cutover_config_generation", "gauge", "Sequence number of the current config.");
    buf_appendf(out, "cutover_config_generation %llu\n", (unsigned long long)conf->seq);
    free(rs.v);
}
