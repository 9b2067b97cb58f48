/* SPDX-License-Identifier: ISC */
/* proxy.yaml → struct proxy_conf. Loading runs in two phases so that a bad file changes
 * nothing: first the whole tree is parsed and cross-checked with target addresses only, then,
 * once it is known to be valid, the target objects are taken from the registry. */
#include "proxy/proxy_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/err.h"
#include "common/http1.h"
#include "common/mem.h"
#include "common/str.h"
#include "common/yaml_conf.h"
#include "protocol/proxy_api.h"
#include "proxy/health.h"
#include "proxy/balancer.h"
#include "proxy/target_group.h"

#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_RESPONSE_TIMEOUT_MS 60000
#define DEFAULT_DEREGISTRATION_DELAY_MS 300000
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 30000
#define MAX_DELAY_MS (3600 * 1000ULL)
#define MIN_HEAD_BYTES 1024
#define MAX_HEAD_BYTES (1024 * 1024)
/* Ranges shared by proxy.yaml and the admin API (both accept exactly the same values). */
#define HC_INTERVAL_MIN_MS 100
#define HC_INTERVAL_MAX_MS 300000
#define HC_TIMEOUT_MIN_MS 50
#define HC_TIMEOUT_MAX_MS 120000
#define HC_THRESHOLD_MIN 1
#define HC_THRESHOLD_MAX 10

/* While loading: the addresses of each group's targets, before they become objects. */
struct pending_group {
    const struct yaml_conf_node *node; /* the group's mapping, for messages */
    struct addr *addrs;                /* arena */
    size_t naddrs;
};

struct loader {
    const struct yaml_conf_doc *doc;
    struct proxy_conf *c;
    struct pending_group *pending; /* arena: ngroups entries */
    struct err *err;
};

static const char *const top_keys[] = {"admin", "workers", "listeners", "target_groups",
                                       "shutdown_timeout"};
static const char *const listener_keys[] = {"bind", "forward", "idle_timeout", "max_head_bytes"};
static const char *const forward_keys[] = {"target_group", "weight"};
static const char *const group_keys[] = {"algorithm", "deregistration_delay", "health_check",
                                         "targets",   "response_timeout",     "protocol"};
static const char *const health_keys[] = {
    "path",    "port",    "interval", "timeout", "healthy_threshold", "unhealthy_threshold",
    "matcher", "protocol"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static struct proxy_conf *
conf_new(const char *path, size_t nslots)
{
    struct proxy_conf *c = mem_calloc(1, sizeof(*c));

    atomic_init(&c->refs, 1);
    arena_init(&c->arena, 4096);
    c->path = arena_strdup(&c->arena, path);
    c->nslots = nslots;
    c->shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
    c->workers = 1;
    c->workers_auto = true;
    return c;
}

/* Zeroed memory from the arena starting on a cache line. */
static void *
alloc_lines(struct proxy_conf *c, size_t size)
{
    char *p = arena_calloc(&c->arena, 1, size + 64);
    uintptr_t u = ((uintptr_t)p + 63) & ~(uintptr_t)63;

    return (void *)u;
}

/* Per-worker balancer state, each worker's part on its own cache lines. */
static struct balancer_cursor *
alloc_cursors(struct proxy_conf *c)
{
    return alloc_lines(c, c->nslots * sizeof(struct balancer_cursor));
}

static void
alloc_credits(struct proxy_conf *c, struct proxy_conf_listener *l)
{
    size_t stride = (l->nforward + 7) & ~(size_t)7; /* 8 int64 = one 64-byte line */

    l->credits_stride = stride;
    l->credits = alloc_lines(c, c->nslots * stride * sizeof(int64_t));
}

static int
get_name(struct loader *ld, const struct yaml_conf_node *key, const char *what, const char **out)
{
    if (!proxy_api_valid_name(key->value))
        return yaml_conf_error(ld->err, ld->doc, key,
                               "invalid %s name '%s' (expected 1-64 of A-Z a-z 0-9 . _ -)", what,
                               key->value);
    *out = arena_strdup(&ld->c->arena, key->value);
    return 0;
}

static int
get_addr(struct loader *ld, const struct yaml_conf_node *n, bool allow_unix, struct addr *out)
{
    const char *s = n->kind == YAML_CONF_SCALAR ? n->value : "";

    if (n->kind != YAML_CONF_SCALAR)
        return yaml_conf_error(ld->err, ld->doc, n, "expected an address (%s), got %s",
                               allow_unix ? "HOST:PORT or unix:/path" : "HOST:PORT",
                               yaml_conf_kind_name(n->kind));

    if (addr_parse(out, s) != 0 || (!allow_unix && addr_is_unix(out)))
        return yaml_conf_error(ld->err, ld->doc, n, "invalid address '%s' (expected %s)", s,
                               allow_unix ? "HOST:PORT or unix:/path" : "HOST:PORT");
    return 0;
}

static int
get_duration(struct loader *ld, const struct yaml_conf_node *n, uint64_t min_ms, uint64_t max_ms,
             uint64_t *out)
{
    int rc;

    if ((rc = yaml_conf_duration_ms(ld->doc, n, out, ld->err)) != 0)
        return rc;
    if (*out < min_ms || *out > max_ms)
        return yaml_conf_error(ld->err, ld->doc, n,
                               "duration '%s' is out of range (expected %llums to %llus)", n->value,
                               (unsigned long long)min_ms, (unsigned long long)(max_ms / 1000));
    return 0;
}

/* Names the key in a getter's message when it does not already:
 * "F:L:C: 0 is out of range (…)" → "F:L:C: healthy_threshold: 0 is out of range (…)". */
static int
keyed(struct loader *ld, const char *key, int rc)
{
    char *msg, rest[ERR_MSG_MAX];
    size_t skip;

    if (rc == 0 || ld->err == NULL)
        return rc;
    msg = ld->err->msg;
    if (strstr(msg, key) != NULL || strncmp(msg, ld->doc->path, strlen(ld->doc->path)) != 0)
        return rc;
    /* skip "PATH:LINE:COL: " */
    skip = strlen(ld->doc->path);
    for (int colons = 0; msg[skip] != '\0' && colons < 3; skip++)
        colons += msg[skip] == ':';
    if (msg[skip] == ' ')
        skip++;
    str_copy(rest, msg + skip, sizeof(rest));
    snprintf(msg + skip, ERR_MSG_MAX - skip, "%s: %s", key, rest);
    return rc;
}

/* Matchers as ALB writes them ("200", "200-399", "200,302"); health.c owns the grammar. */
static int
parse_matcher(struct loader *ld, const struct yaml_conf_node *n, struct target_group_health *h)
{
    struct health_matcher m;
    struct err e;

    if (n->kind != YAML_CONF_SCALAR || health_matcher_parse(&m, n->value, &e) != 0 || m.n == 0)
        return yaml_conf_error(ld->err, ld->doc, n,
                               "invalid matcher '%s' (expected codes 200-499 like 200, 200-399 "
                               "or 200,302)",
                               n->kind == YAML_CONF_SCALAR ? n->value : "?");
    h->matcher_lo = m.ranges[0].lo;
    h->matcher_hi = m.ranges[0].hi;
    h->matcher = arena_strdup(&ld->c->arena, n->value);
    return 0;
}

static int
parse_health_port(struct loader *ld, const struct yaml_conf_node *n, uint16_t *out)
{
    uint32_t port;
    int rc;

    if (n->kind == YAML_CONF_SCALAR && strcmp(n->value, "traffic-port") == 0) {
        *out = 0;
        return 0;
    }
    if (n->kind != YAML_CONF_SCALAR || str_to_u32(n->value, &port, 1, 65535) != 0) {
        rc = yaml_conf_error(ld->err, ld->doc, n,
                             "invalid health check port '%s' (expected 1-65535 or traffic-port)",
                             n->kind == YAML_CONF_SCALAR ? n->value : "?");
        return rc;
    }
    *out = (uint16_t)port;
    return 0;
}

static void
health_defaults(struct target_group_health *h)
{
    h->path = "/";
    h->port = 0;
    h->interval_ms = 30000;
    h->timeout_ms = 5000;
    h->healthy_threshold = 5;
    h->unhealthy_threshold = 2;
    h->matcher_lo = 200;
    h->matcher_hi = 200;
    h->matcher = "200";
}

static int
parse_health_field(struct loader *ld, const char *key, const struct yaml_conf_node *v,
                   struct target_group_health *h)
{
    const char *s;
    int rc;

    if (strcmp(key, "path") == 0) {
        if ((rc = yaml_conf_string(ld->doc, v, &s, ld->err)) != 0)
            return rc;
        if (s[0] != '/' || strpbrk(s, " \t\r\n") != NULL)
            return yaml_conf_error(ld->err, ld->doc, v,
                                   "invalid health check path '%s' (expected /path)", s);
        h->path = arena_strdup(&ld->c->arena, s);
    } else if (strcmp(key, "port") == 0) {
        return parse_health_port(ld, v, &h->port);
    } else if (strcmp(key, "interval") == 0) {
        return get_duration(ld, v, HC_INTERVAL_MIN_MS, HC_INTERVAL_MAX_MS, &h->interval_ms);
    } else if (strcmp(key, "timeout") == 0) {
        return get_duration(ld, v, HC_TIMEOUT_MIN_MS, HC_TIMEOUT_MAX_MS, &h->timeout_ms);
    } else if (strcmp(key, "healthy_threshold") == 0) {
        return yaml_conf_u32(ld->doc, v, HC_THRESHOLD_MIN, HC_THRESHOLD_MAX, &h->healthy_threshold,
                             ld->err);
    } else if (strcmp(key, "unhealthy_threshold") == 0) {
        return yaml_conf_u32(ld->doc, v, HC_THRESHOLD_MIN, HC_THRESHOLD_MAX,
                             &h->unhealthy_threshold, ld->err);
    } else if (strcmp(key, "matcher") == 0) {
        return parse_matcher(ld, v, h);
    } else if (strcmp(key, "protocol") == 0) {
        if (v->kind != YAML_CONF_SCALAR || strcmp(v->value, "HTTP") != 0)
            return yaml_conf_error(ld->err, ld->doc, v, "unsupported protocol (expected HTTP)");
    }
    return 0;
}

static int
parse_health(struct loader *ld, const struct yaml_conf_node *n, struct target_group_health *h)
{
    int rc;

    if (yaml_conf_is_null(n))
        return 0;
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "health_check", ld->err)) != 0 ||
        (rc = yaml_conf_check_keys(ld->doc, n, health_keys, NKEYS(health_keys), ld->err)) != 0)
        return rc;
    for (size_t i = 0; i < n->n; i++) {
        rc = parse_health_field(ld, n->keys[i]->value, n->items[i], h);
        if (keyed(ld, n->keys[i]->value, rc) != 0)
            return rc;
    }
    if (h->timeout_ms >= h->interval_ms) {
        const struct yaml_conf_node *at = yaml_conf_get(n, "timeout");
        return yaml_conf_error(ld->err, ld->doc, at ? at : n,
                               "health check timeout must be shorter than the interval "
                               "(expected timeout < %llums)",
                               (unsigned long long)h->interval_ms);
    }
    return 0;
}

static int
parse_targets(struct loader *ld, const struct yaml_conf_node *n, struct pending_group *pg)
{
    int rc;

    if (yaml_conf_is_null(n))
        return 0;
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_SEQ, "targets", ld->err)) != 0)
        return rc;
    pg->addrs = arena_calloc(&ld->c->arena, n->n + 1, sizeof(struct addr));
    for (size_t i = 0; i < n->n; i++) {
        struct addr *a = &pg->addrs[pg->naddrs];
        if ((rc = get_addr(ld, n->items[i], false, a)) != 0)
            return rc;
        for (size_t j = 0; j < pg->naddrs; j++) {
            if (addr_equal(&pg->addrs[j], a))
                return yaml_conf_error(ld->err, ld->doc, n->items[i],
                                       "duplicate target %s (expected each address once)", a->text);
        }
        pg->naddrs++;
    }
    return 0;
}

static int
parse_group_field(struct loader *ld, const char *key, const struct yaml_conf_node *v,
                  struct target_group *g, struct pending_group *pg)
{
    const char *s;
    int rc;

    if (strcmp(key, "algorithm") == 0) {
        if ((rc = yaml_conf_string(ld->doc, v, &s, ld->err)) != 0)
            return rc;
        if (balancer_algorithm_parse(s, &g->algorithm) != 0)
            return yaml_conf_error(ld->err, ld->doc, v,
                                   "unknown algorithm '%s' (expected round_robin or "
                                   "least_outstanding_requests)",
                                   s);
    } else if (strcmp(key, "deregistration_delay") == 0) {
        return get_duration(ld, v, 0, MAX_DELAY_MS, &g->deregistration_delay_ms);
    } else if (strcmp(key, "response_timeout") == 0) {
        return get_duration(ld, v, 1, MAX_DELAY_MS, &g->response_timeout_ms);
    } else if (strcmp(key, "health_check") == 0) {
        return parse_health(ld, v, &g->health);
    } else if (strcmp(key, "targets") == 0) {
        return parse_targets(ld, v, pg);
    } else if (strcmp(key, "protocol") == 0) {
        if (v->kind != YAML_CONF_SCALAR || strcmp(v->value, "HTTP") != 0)
            return yaml_conf_error(ld->err, ld->doc, v, "unsupported protocol (expected HTTP)");
    }
    return 0;
}

static int
parse_group(struct loader *ld, const struct yaml_conf_node *key, const struct yaml_conf_node *n,
            struct target_group *g, struct pending_group *pg)
{
    int rc;

    if ((rc = get_name(ld, key, "target group", &g->name)) != 0)
        return rc;
    g->algorithm = BALANCER_ROUND_ROBIN;
    g->deregistration_delay_ms = DEFAULT_DEREGISTRATION_DELAY_MS;
    g->response_timeout_ms = DEFAULT_RESPONSE_TIMEOUT_MS;
    health_defaults(&g->health);
    g->cursors = alloc_cursors(ld->c);
    pg->node = n;
    if (yaml_conf_is_null(n))
        return 0;
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "a target group", ld->err)) != 0 ||
        (rc = yaml_conf_check_keys(ld->doc, n, group_keys, NKEYS(group_keys), ld->err)) != 0)
        return rc;
    for (size_t i = 0; i < n->n; i++) {
        rc = parse_group_field(ld, n->keys[i]->value, n->items[i], g, pg);
        if (keyed(ld, n->keys[i]->value, rc) != 0)
            return rc;
    }
    return 0;
}

static int
parse_groups(struct loader *ld, const struct yaml_conf_node *n)
{
    struct proxy_conf *c = ld->c;
    int rc;

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "target_groups", ld->err)) != 0)
        return rc;
    c->groups = arena_calloc(&c->arena, n->n + 1, sizeof(*c->groups));
    ld->pending = arena_calloc(&c->arena, n->n + 1, sizeof(*ld->pending));
    for (size_t i = 0; i < n->n; i++) {
        rc = parse_group(ld, n->keys[i], n->items[i], &c->groups[i], &ld->pending[i]);
        if (rc != 0)
            return rc;
        c->ngroups++;
    }
    return 0;
}

static int
unknown_group(struct loader *ld, const struct yaml_conf_node *n)
{
    const char *names[64];
    size_t k = 0;
    const char *hint;

    for (size_t i = 0; i < ld->c->ngroups && k < 64; i++)
        names[k++] = ld->c->groups[i].name;
    hint = str_closest(n->value, names, k);
    if (hint != NULL)
        return yaml_conf_error(ld->err, ld->doc, n,
                               "unknown target group '%s' (did you mean '%s'?)", n->value, hint);
    return yaml_conf_error(ld->err, ld->doc, n,
                           "unknown target group '%s' (expected a name under target_groups)",
                           n->value);
}

static int
parse_forward_entry(struct loader *ld, const struct yaml_conf_node *n,
                    struct proxy_conf_listener *l)
{
    struct proxy_conf_forward *f = &l->forward[l->nforward];
    const struct yaml_conf_node *tg, *w;
    int rc;

    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "a forward entry", ld->err)) != 0 ||
        (rc = yaml_conf_check_keys(ld->doc, n, forward_keys, NKEYS(forward_keys), ld->err)) != 0)
        return rc;
    tg = yaml_conf_get(n, "target_group");
    if (tg == NULL)
        return yaml_conf_error(ld->err, ld->doc, n,
                               "forward entry has no target_group (expected {target_group: "
                               "NAME, weight: N})");
    if ((rc = yaml_conf_expect(ld->doc, tg, YAML_CONF_SCALAR, "target_group", ld->err)) != 0)
        return rc;
    f->group = proxy_conf_group_find(ld->c, tg->value);
    if (f->group == NULL)
        return unknown_group(ld, tg);
    f->group_name = f->group->name;
    for (size_t i = 0; i < l->nforward; i++) {
        if (l->forward[i].group == f->group)
            return yaml_conf_error(ld->err, ld->doc, tg,
                                   "target group '%s' appears twice in this forward action "
                                   "(expected each group once)",
                                   tg->value);
    }
    f->weight = 1;
    w = yaml_conf_get(n, "weight");
    if (w != NULL &&
        keyed(ld, "weight",
              yaml_conf_u32(ld->doc, w, 0, PROXY_CONF_MAX_WEIGHT, &f->weight, ld->err)) != 0)
        return -EINVAL;
    l->nforward++;
    return 0;
}

static int
parse_forward(struct loader *ld, const struct yaml_conf_node *n, struct proxy_conf_listener *l)
{
    int rc;

    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_SEQ, "forward", ld->err)) != 0)
        return rc;
    if (n->n == 0)
        return yaml_conf_error(ld->err, ld->doc, n,
                               "forward is empty (expected at least one {target_group, weight})");
    if (n->n > PROXY_CONF_MAX_FORWARD)
        return yaml_conf_error(ld->err, ld->doc, n->items[PROXY_CONF_MAX_FORWARD],
                               "too many target groups in forward (expected at most %d)",
                               PROXY_CONF_MAX_FORWARD);
    l->forward = arena_calloc(&ld->c->arena, n->n, sizeof(*l->forward));
    for (size_t i = 0; i < n->n; i++) {
        if ((rc = parse_forward_entry(ld, n->items[i], l)) != 0)
            return rc;
    }
    return 0;
}

static void
finish_forward(struct proxy_conf *c, struct proxy_conf_listener *l)
{
    l->weights = arena_calloc(&c->arena, l->nforward + 1, sizeof(*l->weights));
    for (size_t i = 0; i < l->nforward; i++)
        l->weights[i] = l->forward[i].weight;
    alloc_credits(c, l);
}

static int
parse_listener_field(struct loader *ld, const char *key, const struct yaml_conf_node *v,
                     struct proxy_conf_listener *l)
{
    uint64_t size;
    int rc;

    if (strcmp(key, "bind") == 0)
        return get_addr(ld, v, false, &l->bind);
    if (strcmp(key, "forward") == 0)
        return parse_forward(ld, v, l);
    if (strcmp(key, "idle_timeout") == 0)
        return get_duration(ld, v, 1, MAX_DELAY_MS, &l->idle_timeout_ms);
    if (strcmp(key, "max_head_bytes") == 0) {
        if ((rc = yaml_conf_size(ld->doc, v, &size, ld->err)) != 0)
            return rc;
        if (size < MIN_HEAD_BYTES || size > MAX_HEAD_BYTES)
            return yaml_conf_error(ld->err, ld->doc, v,
                                   "max_head_bytes %s is out of range (expected 1K to 1M)",
                                   v->value);
        l->max_head_bytes = (size_t)size;
    }
    return 0;
}

static int
parse_listener(struct loader *ld, const struct yaml_conf_node *key, const struct yaml_conf_node *n,
               struct proxy_conf_listener *l)
{
    static const char *const required[] = {"bind", "forward"};
    int rc;

    if ((rc = get_name(ld, key, "listener", &l->name)) != 0)
        return rc;
    l->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    l->max_head_bytes = HTTP1_DEFAULT_MAX_HEAD_BYTES;
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "a listener", ld->err)) != 0 ||
        (rc = yaml_conf_check_keys(ld->doc, n, listener_keys, NKEYS(listener_keys), ld->err)) != 0)
        return rc;
    for (size_t i = 0; i < NKEYS(required); i++) {
        if (yaml_conf_get(n, required[i]) == NULL)
            return yaml_conf_error(
                ld->err, ld->doc, key, "listener '%s' has no %s (expected %s)", l->name,
                required[i], i == 0 ? "bind: HOST:PORT" : "forward: [{target_group, weight}]");
    }
    for (size_t i = 0; i < n->n; i++) {
        rc = parse_listener_field(ld, n->keys[i]->value, n->items[i], l);
        if (keyed(ld, n->keys[i]->value, rc) != 0)
            return rc;
    }
    finish_forward(ld->c, l);
    return 0;
}

static int
parse_listeners(struct loader *ld, const struct yaml_conf_node *root)
{
    const struct yaml_conf_node *n = yaml_conf_get(root, "listeners");
    struct proxy_conf *c = ld->c;
    int rc;

    if (n == NULL)
        return yaml_conf_error(ld->err, ld->doc, root,
                               "no listeners (expected listeners: {NAME: {bind, forward}})");
    if ((rc = yaml_conf_expect(ld->doc, n, YAML_CONF_MAP, "listeners", ld->err)) != 0)
        return rc;
    if (n->n == 0)
        return yaml_conf_error(ld->err, ld->doc, n, "listeners is empty (expected at least one)");
    c->listeners = arena_calloc(&c->arena, n->n, sizeof(*c->listeners));
    for (size_t i = 0; i < n->n; i++) {
        struct proxy_conf_listener *l = &c->listeners[i];
        if ((rc = parse_listener(ld, n->keys[i], n->items[i], l)) != 0)
            return rc;
        for (size_t j = 0; j < i; j++) {
            if (addr_equal(&c->listeners[j].bind, &l->bind))
                return yaml_conf_error(ld->err, ld->doc, yaml_conf_get(n->items[i], "bind"),
                                       "bind %s is already used by listener '%s' (expected a "
                                       "distinct address per listener)",
                                       l->bind.text, c->listeners[j].name);
        }
        c->nlisteners++;
    }
    return 0;
}

static int
parse_workers(struct loader *ld, const struct yaml_conf_node *n)
{
    struct proxy_conf *c = ld->c;
    unsigned cores;

    if (n == NULL || (n->kind == YAML_CONF_SCALAR && strcmp(n->value, "auto") == 0)) {
        cores = uv_available_parallelism();
        c->workers = cores < 1                        ? 1
                     : cores > PROXY_CONF_MAX_WORKERS ? PROXY_CONF_MAX_WORKERS
                                                      : cores;
        c->workers_auto = true;
        return 0;
    }
    c->workers_auto = false;
    if (n->kind != YAML_CONF_SCALAR || str_to_u32(n->value, &c->workers, 1, PROXY_CONF_MAX_WORKERS))
        return yaml_conf_error(
            ld->err, ld->doc, n, "invalid workers '%s' (expected auto or 1 to %d)",
            n->kind == YAML_CONF_SCALAR ? n->value : "?", PROXY_CONF_MAX_WORKERS);
    return 0;
}

static int
parse_root(struct loader *ld, const struct yaml_conf_node *root)
{
    const struct yaml_conf_node *n;
    int rc;

    if (root == NULL)
        return yaml_conf_error(ld->err, ld->doc, NULL,
                               "the file is empty (expected listeners and target_groups)");
    if ((rc = yaml_conf_expect(ld->doc, root, YAML_CONF_MAP, "the document", ld->err)) != 0 ||
        (rc = yaml_conf_check_keys(ld->doc, root, top_keys, NKEYS(top_keys), ld->err)) != 0)
        return rc;
    n = yaml_conf_get(root, "admin");
    if (n != NULL) {
        if ((rc = get_addr(ld, n, true, &ld->c->admin)) != 0)
            return rc;
    } else {
        addr_parse(&ld->c->admin, PROXY_CONF_DEFAULT_ADMIN);
    }
    if ((rc = parse_workers(ld, yaml_conf_get(root, "workers"))) != 0)
        return rc;
    n = yaml_conf_get(root, "shutdown_timeout");
    if (n != NULL &&
        (rc = keyed(ld, "shutdown_timeout",
                    get_duration(ld, n, 0, MAX_DELAY_MS, &ld->c->shutdown_timeout_ms))) != 0)
        return rc;
    if ((rc = parse_groups(ld, yaml_conf_get(root, "target_groups"))) != 0)
        return rc;
    return parse_listeners(ld, root);
}

/* Phase two: the file is valid; turn addresses into target objects. */
static void
bind_targets(struct proxy_conf *c, struct pending_group *pending, struct target_group_registry *reg)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        struct target_group *g = &c->groups[i];
        struct pending_group *pg = &pending[i];
        g->targets = arena_calloc(&c->arena, pg->naddrs + 1, sizeof(*g->targets));
        for (size_t j = 0; j < pg->naddrs; j++) {
            g->targets[j] = reg ? target_group_registry_get(reg, g->name, &pg->addrs[j])
                                : target_group_target_new(&pg->addrs[j], g->name, c->nslots);
        }
        g->ntargets = pg->naddrs;
    }
}

static int
load_doc(struct proxy_conf **out, const struct yaml_conf_doc *doc,
         struct target_group_registry *reg, struct err *err)
{
    struct loader ld = {.doc = doc, .err = err};
    int rc;

    ld.c = conf_new(doc->path, reg ? target_group_registry_nslots(reg) : 1);
    if ((rc = parse_root(&ld, doc->root)) != 0) {
        proxy_conf_unref(ld.c);
        return rc;
    }
    bind_targets(ld.c, ld.pending, reg);
    *out = ld.c;
    return 0;
}

int
proxy_conf_load(struct proxy_conf **out, const char *path, struct target_group_registry *reg,
                struct err *err)
{
    struct yaml_conf_doc *doc;
    int rc;

    if ((rc = yaml_conf_load_file(&doc, path, err)) != 0)
        return rc;
    rc = load_doc(out, doc, reg, err);
    yaml_conf_free(doc);
    return rc;
}

int
proxy_conf_load_buffer(struct proxy_conf **out, const char *name, const char *data, size_t len,
                       struct target_group_registry *reg, struct err *err)
{
    struct yaml_conf_doc *doc;
    int rc;

    if ((rc = yaml_conf_load_buffer(&doc, name, data, len, err)) != 0)
        return rc;
    rc = load_doc(out, doc, reg, err);
    yaml_conf_free(doc);
    return rc;
}

struct proxy_conf *
proxy_conf_ref(struct proxy_conf *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void
proxy_conf_unref(struct proxy_conf *c)
{
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < c->ngroups; i++) {
        for (size_t j = 0; j < c->groups[i].ntargets; j++)
            target_group_target_unref(c->groups[i].targets[j]);
    }
    arena_fini(&c->arena);
    free(c);
}

static void
clone_group(struct proxy_conf *c, struct target_group *dst, const struct target_group *src)
{
    struct arena *a = &c->arena;

    *dst = *src;
    dst->name = arena_strdup(a, src->name);
    dst->health.path = arena_strdup(a, src->health.path);
    dst->health.matcher = arena_strdup(a, src->health.matcher);
    dst->cursors = alloc_cursors(c);
    dst->targets = arena_calloc(a, src->ntargets + 1, sizeof(*dst->targets));
    for (size_t j = 0; j < src->ntargets; j++)
        dst->targets[j] = target_group_target_ref(src->targets[j]);
}

static void
clone_listener(struct proxy_conf *c, struct proxy_conf_listener *dst,
               const struct proxy_conf_listener *src)
{
    *dst = *src;
    dst->name = arena_strdup(&c->arena, src->name);
    dst->forward = arena_calloc(&c->arena, src->nforward + 1, sizeof(*dst->forward));
    for (size_t j = 0; j < src->nforward; j++) {
        dst->forward[j].weight = src->forward[j].weight;
        dst->forward[j].group = proxy_conf_group_find(c, src->forward[j].group_name);
        ASSERT(dst->forward[j].group != NULL);
        dst->forward[j].group_name = dst->forward[j].group->name;
    }
    finish_forward(c, dst);
}

struct proxy_conf *
proxy_conf_clone(const struct proxy_conf *src)
{
    struct proxy_conf *c = conf_new(src->path, src->nslots);

    c->admin = src->admin;
    c->workers = src->workers;
    c->workers_auto = src->workers_auto;
    c->shutdown_timeout_ms = src->shutdown_timeout_ms;
    c->groups = arena_calloc(&c->arena, src->ngroups + 1, sizeof(*c->groups));
    for (size_t i = 0; i < src->ngroups; i++)
        clone_group(c, &c->groups[i], &src->groups[i]);
    c->ngroups = src->ngroups;
    c->listeners = arena_calloc(&c->arena, src->nlisteners + 1, sizeof(*c->listeners));
    for (size_t i = 0; i < src->nlisteners; i++)
        clone_listener(c, &c->listeners[i], &src->listeners[i]);
    c->nlisteners = src->nlisteners;
    return c;
}

int
proxy_conf_set_forward(struct proxy_conf *c, const char *listener,
                       const struct proxy_conf_weight *fw, size_t n, struct err *err)
{
    struct proxy_conf_listener *l = NULL;
    struct proxy_conf_forward *forward;

    for (size_t i = 0; i < c->nlisteners && l == NULL; i++) {
        if (strcmp(c->listeners[i].name, listener) == 0)
            l = &c->listeners[i];
    }
    if (l == NULL)
        return err_set(err, -ENOENT, "no listener named '%s'", listener);
    if (n == 0)
        return err_set(err, -EINVAL, "forward is empty (expected at least one target group)");
    if (n > PROXY_CONF_MAX_FORWARD)
        return err_set(err, -EINVAL, "too many target groups (expected at most %d)",
                       PROXY_CONF_MAX_FORWARD);
    forward = arena_calloc(&c->arena, n, sizeof(*forward));
    for (size_t i = 0; i < n; i++) {
        struct target_group *g = proxy_conf_group_find(c, fw[i].group);
        if (g == NULL)
            return err_set(err, -EINVAL, "unknown target group '%s'", fw[i].group);
        if (fw[i].weight > PROXY_CONF_MAX_WEIGHT)
            return err_set(err, -EINVAL, "weight %u of '%s' is out of range (expected 0 to %d)",
                           fw[i].weight, fw[i].group, PROXY_CONF_MAX_WEIGHT);
        for (size_t j = 0; j < i; j++) {
            if (forward[j].group == g)
                return err_set(err, -EINVAL, "target group '%s' appears twice", fw[i].group);
        }
        forward[i] = (struct proxy_conf_forward){g->name, g, fw[i].weight};
    }
    l->forward = forward;
    l->nforward = n;
    finish_forward(c, l);
    return 0;
}

int
proxy_conf_add_targets(struct proxy_conf *c, const char *group, const struct addr *addrs, size_t n,
                       struct target_group_registry *reg, struct err *err)
{
    struct target_group *g = proxy_conf_group_find(c, group);
    struct target **targets;
    size_t count;

    if (g == NULL)
        return err_set(err, -ENOENT, "no target group named '%s'", group);
    for (size_t i = 0; i < n; i++) {
        if (addr_is_unix(&addrs[i]))
            return err_set(err, -EINVAL, "target %s: expected HOST:PORT", addrs[i].text);
    }
    targets = arena_calloc(&c->arena, g->ntargets + n + 1, sizeof(*targets));
    memcpy(targets, g->targets, g->ntargets * sizeof(*targets));
    count = g->ntargets;
    for (size_t i = 0; i < n; i++) {
        bool present = false;
        for (size_t j = 0; j < count && !present; j++)
            present = addr_equal(&targets[j]->addr, &addrs[i]);
        if (present)
            continue;
        targets[count++] = reg ? target_group_registry_get(reg, g->name, &addrs[i])
                               : target_group_target_new(&addrs[i], g->name, c->nslots);
    }
    g->targets = targets;
    g->ntargets = count;
    return 0;
}

int
proxy_conf_remove_targets(struct proxy_conf *c, const char *group, const struct addr *addrs,
                          size_t n, struct err *err)
{
    struct target_group *g = proxy_conf_group_find(c, group);
    size_t kept = 0;

    if (g == NULL)
        return err_set(err, -ENOENT, "no target group named '%s'", group);
    for (size_t j = 0; j < g->ntargets; j++) {
        struct target *t = g->targets[j];
        bool removed = false;
        for (size_t i = 0; i < n && !removed; i++)
            removed = addr_equal(&t->addr, &addrs[i]);
        if (removed)
            target_group_target_unref(t);
        else
            g->targets[kept++] = t;
    }
    g->ntargets = kept;
    return 0;
}

const struct proxy_conf_listener *
proxy_conf_listener_find(const struct proxy_conf *c, const char *name)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        if (strcmp(c->listeners[i].name, name) == 0)
            return &c->listeners[i];
    }
    return NULL;
}

struct target_group *
proxy_conf_group_find(const struct proxy_conf *c, const char *name)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        if (strcmp(c->groups[i].name, name) == 0)
            return &c->groups[i];
    }
    return NULL;
}

bool
proxy_conf_group_in_use(const struct proxy_conf *c, const struct target_group *g)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        for (size_t j = 0; j < c->listeners[i].nforward; j++) {
            if (c->listeners[i].forward[j].group == g)
                return true;
        }
    }
    return false;
}

bool
proxy_conf_has_target(const struct proxy_conf *c, const struct target *t)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        for (size_t j = 0; j < c->groups[i].ntargets; j++) {
            if (c->groups[i].targets[j] == t)
                return true;
        }
    }
    return false;
}

/* ---- declarative changes (admin API) ---- */

/* Points every forward entry at the group of its name (after groups[] moved). */
static int
relink_forwards(struct proxy_conf *c, struct err *err)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct proxy_conf_listener *l = &c->listeners[i];
        for (size_t j = 0; j < l->nforward; j++) {
            struct target_group *g = proxy_conf_group_find(c, l->forward[j].group_name);
            if (g == NULL)
                return err_set(err, -EINVAL,
                               "listener '%s' forwards to target group '%s', which does not "
                               "exist (expected a group defined or created in the same change)",
                               l->name, l->forward[j].group_name);
            l->forward[j].group = g;
            l->forward[j].group_name = g->name;
        }
    }
    return 0;
}

static struct target_group *
append_group(struct proxy_conf *c)
{
    struct target_group *groups = arena_calloc(&c->arena, c->ngroups + 2, sizeof(*groups));

    if (c->ngroups > 0)
        memcpy(groups, c->groups, c->ngroups * sizeof(*groups));
    c->groups = groups;
    return &c->groups[c->ngroups++];
}

static struct proxy_conf_listener *
append_listener(struct proxy_conf *c)
{
    struct proxy_conf_listener *ls = arena_calloc(&c->arena, c->nlisteners + 2, sizeof(*ls));

    if (c->nlisteners > 0)
        memcpy(ls, c->listeners, c->nlisteners * sizeof(*ls));
    c->listeners = ls;
    return &c->listeners[c->nlisteners++];
}

static int
range_error(struct err *err, const char *pre, const char *key, uint64_t v, uint64_t lo, uint64_t hi,
            const char *unit)
{
    return err_set(err, -EINVAL, "%s%s: %llu is out of range (expected %llu to %llu%s)", pre, key,
                   (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi, unit);
}

/* Settings of <g> from <s> over the defaults (what proxy.yaml gives a group without keys). */
static int
spec_settings(struct proxy_conf *c, const struct proxy_api_group_spec *s, const char *pre,
              struct target_group *g, struct err *err)
{
    const struct proxy_api_health_check *hc = &s->health_check;
    struct target_group_health *h = &g->health;
    struct health_matcher m;
    struct err e;

    g->algorithm = BALANCER_ROUND_ROBIN;
    g->deregistration_delay_ms = DEFAULT_DEREGISTRATION_DELAY_MS;
    health_defaults(h);
    if (s->algorithm != NULL && balancer_algorithm_parse(s->algorithm, &g->algorithm) != 0)
        return err_set(err, -EINVAL,
                       "%salgorithm: unknown algorithm '%s' (expected round_robin or "
                       "least_outstanding_requests)",
                       pre, s->algorithm);
    if (s->has_deregistration_delay) {
        if (s->deregistration_delay_ms > MAX_DELAY_MS)
            return range_error(err, pre, "deregistration_delay_ms", s->deregistration_delay_ms, 0,
                               MAX_DELAY_MS, " ms");
        g->deregistration_delay_ms = s->deregistration_delay_ms;
    }
    if (s->health_set & PROXY_API_HC_PATH) {
        if (hc->path[0] != '/' || strpbrk(hc->path, " \t\r\n") != NULL)
            return err_set(err, -EINVAL,
                           "%shealth_check.path: invalid health check path '%s' (expected /path)",
                           pre, hc->path);
        h->path = arena_strdup(&c->arena, hc->path);
    }
    if (s->health_set & PROXY_API_HC_PORT)
        h->port = (uint16_t)hc->port; /* 0..65535 checked by the decoder; 0: traffic port */
    if (s->health_set & PROXY_API_HC_INTERVAL) {
        if (hc->interval_ms < HC_INTERVAL_MIN_MS || hc->interval_ms > HC_INTERVAL_MAX_MS)
            return range_error(err, pre, "health_check.interval_ms", hc->interval_ms,
                               HC_INTERVAL_MIN_MS, HC_INTERVAL_MAX_MS, " ms");
        h->interval_ms = hc->interval_ms;
    }
    if (s->health_set & PROXY_API_HC_TIMEOUT) {
        if (hc->timeout_ms < HC_TIMEOUT_MIN_MS || hc->timeout_ms > HC_TIMEOUT_MAX_MS)
            return range_error(err, pre, "health_check.timeout_ms", hc->timeout_ms,
                               HC_TIMEOUT_MIN_MS, HC_TIMEOUT_MAX_MS, " ms");
        h->timeout_ms = hc->timeout_ms;
    }
    if (s->health_set & PROXY_API_HC_HEALTHY) {
        if (hc->healthy_threshold < HC_THRESHOLD_MIN || hc->healthy_threshold > HC_THRESHOLD_MAX)
            return range_error(err, pre, "health_check.healthy_threshold", hc->healthy_threshold,
                               HC_THRESHOLD_MIN, HC_THRESHOLD_MAX, "");
        h->healthy_threshold = hc->healthy_threshold;
    }
    if (s->health_set & PROXY_API_HC_UNHEALTHY) {
        if (hc->unhealthy_threshold < HC_THRESHOLD_MIN ||
            hc->unhealthy_threshold > HC_THRESHOLD_MAX)
            return range_error(err, pre, "health_check.unhealthy_threshold",
                               hc->unhealthy_threshold, HC_THRESHOLD_MIN, HC_THRESHOLD_MAX, "");
        h->unhealthy_threshold = hc->unhealthy_threshold;
    }
    if (s->health_set & PROXY_API_HC_MATCHER) {
        if (health_matcher_parse(&m, hc->matcher, &e) != 0 || m.n == 0)
            return err_set(err, -EINVAL,
                           "%shealth_check.matcher: invalid matcher '%s' (expected codes 200-499 "
                           "like 200, 200-399 or 200,302)",
                           pre, hc->matcher);
        h->matcher_lo = m.ranges[0].lo;
        h->matcher_hi = m.ranges[0].hi;
        h->matcher = arena_strdup(&c->arena, hc->matcher);
    }
    if (h->timeout_ms >= h->interval_ms)
        return err_set(err, -EINVAL,
                       "%shealth_check.timeout_ms: health check timeout must be shorter than the "
                       "interval (expected timeout < %llums)",
                       pre, (unsigned long long)h->interval_ms);
    return 0;
}

static int
put_group(struct proxy_conf *c, const struct proxy_api_group_spec *s, bool batch,
          struct target_group_registry *reg, struct err *err)
{
    struct target_group *g = proxy_conf_group_find(c, s->name), ng;
    struct addr *addrs;
    char pre[128];
    int rc;

    snprintf(pre, sizeof(pre), batch ? "target_groups.%s." : "", s->name);
    if (!proxy_api_valid_name(s->name))
        return err_set(err, -EINVAL,
                       "invalid target group name '%s' (expected 1-64 of A-Z a-z "
                       "0-9 . _ -)",
                       s->name);
    memset(&ng, 0, sizeof(ng));
    ng.name = g != NULL ? g->name : arena_strdup(&c->arena, s->name);
    ng.response_timeout_ms = g != NULL ? g->response_timeout_ms : DEFAULT_RESPONSE_TIMEOUT_MS;
    ng.dynamic = g != NULL ? g->dynamic : true;
    ng.cursors = g != NULL ? g->cursors : alloc_cursors(c);
    if ((rc = spec_settings(c, s, pre, &ng, err)) != 0)
        return rc;
    if (!s->has_targets) {
        ng.targets = g != NULL ? g->targets : arena_calloc(&c->arena, 1, sizeof(*ng.targets));
        ng.ntargets = g != NULL ? g->ntargets : 0;
        if (g == NULL)
            g = append_group(c);
        *g = ng;
        return 0;
    }
    addrs = arena_calloc(&c->arena, s->ntargets + 1, sizeof(*addrs));
    for (size_t i = 0; i < s->ntargets; i++) {
        if (addr_parse(&addrs[i], s->targets[i]) != 0 || addr_is_unix(&addrs[i]))
            return err_set(err, -EINVAL,
                           "%stargets[%zu]: invalid address '%s' (expected HOST:PORT)", pre, i,
                           s->targets[i]);
        for (size_t j = 0; j < i; j++) {
            if (addr_equal(&addrs[j], &addrs[i]))
                return err_set(err, -EINVAL,
                               "%stargets[%zu]: duplicate target %s (expected each address once)",
                               pre, i, addrs[i].text);
        }
    }
    /* validated: from here nothing fails */
    ng.targets = arena_calloc(&c->arena, s->ntargets + 1, sizeof(*ng.targets));
    ng.ntargets = s->ntargets;
    for (size_t i = 0; i < s->ntargets; i++) {
        struct target *t = g != NULL ? target_group_find(g, &addrs[i]) : NULL;
        ng.targets[i] = t != NULL ? target_group_target_ref(t)
                        : reg     ? target_group_registry_get(reg, ng.name, &addrs[i])
                                  : target_group_target_new(&addrs[i], ng.name, c->nslots);
    }
    if (g != NULL) {
        for (size_t j = 0; j < g->ntargets; j++)
            target_group_target_unref(g->targets[j]);
    } else {
        g = append_group(c);
    }
    *g = ng;
    return 0;
}

static int
put_listener(struct proxy_conf *c, const struct proxy_api_listener_spec *s, bool batch,
             struct err *err)
{
    const struct proxy_conf_listener *cur = proxy_conf_listener_find(c, s->name);
    struct proxy_conf_listener *l;
    struct proxy_conf_weight *fw;
    struct addr bind;
    char pre[128];
    int rc;

    snprintf(pre, sizeof(pre), batch ? "listeners.%s." : "", s->name);
    if (!proxy_api_valid_name(s->name))
        return err_set(err, -EINVAL,
                       "invalid listener name '%s' (expected 1-64 of A-Z a-z 0-9 . _ -)", s->name);
    if (cur == NULL && s->bind == NULL)
        return err_set(err, -EINVAL, "%sbind: listener '%s' is new (expected bind: HOST:PORT)", pre,
                       s->name);
    if (cur == NULL && !s->has_forward)
        return err_set(err, -EINVAL,
                       "%sforward: listener '%s' is new (expected forward: [{target_group, "
                       "weight}])",
                       pre, s->name);
    if (s->bind != NULL && (addr_parse(&bind, s->bind) != 0 || addr_is_unix(&bind)))
        return err_set(err, -EINVAL, "%sbind: invalid address '%s' (expected HOST:PORT)", pre,
                       s->bind);
    if (cur == NULL) {
        l = append_listener(c);
        l->name = arena_strdup(&c->arena, s->name);
        l->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
        l->max_head_bytes = HTTP1_DEFAULT_MAX_HEAD_BYTES;
        l->dynamic = true;
        l->bind = bind;
    } else {
        l = &c->listeners[cur - c->listeners];
        if (s->bind != NULL)
            l->bind = bind;
    }
    if (!s->has_forward)
        return 0;
    fw = mem_calloc(s->action.nforward + 1, sizeof(*fw));
    for (size_t i = 0; i < s->action.nforward; i++) {
        fw[i].group = s->action.forward[i].target_group;
        fw[i].weight = s->action.forward[i].weight;
    }
    rc = proxy_conf_set_forward(c, s->name, fw, s->action.nforward, err);
    free(fw);
    if (rc != 0) {
        char msg[ERR_MSG_MAX];
        str_copy(msg, err->msg, sizeof(msg));
        return err_set(err, -EINVAL, "%sforward: %s", pre, msg);
    }
    return 0;
}

static void
drop_listener(struct proxy_conf *c, size_t i)
{
    memmove(&c->listeners[i], &c->listeners[i + 1],
            (c->nlisteners - i - 1) * sizeof(*c->listeners));
    c->nlisteners--;
}

static void
drop_group(struct proxy_conf *c, size_t i)
{
    for (size_t j = 0; j < c->groups[i].ntargets; j++)
        target_group_target_unref(c->groups[i].targets[j]);
    memmove(&c->groups[i], &c->groups[i + 1], (c->ngroups - i - 1) * sizeof(*c->groups));
    c->ngroups--;
}

static bool
named(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return true;
    }
    return false;
}

static int
check_binds(const struct proxy_conf *c, struct err *err)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        for (size_t j = 0; j < i; j++) {
            if (addr_equal(&c->listeners[i].bind, &c->listeners[j].bind))
                return err_set(err, -EADDRINUSE,
                               "listener %s: bind %s: Address already in use (by listener %s)",
                               c->listeners[i].name, c->listeners[i].bind.text,
                               c->listeners[j].name);
        }
    }
    return 0;
}

int
proxy_conf_apply_changes(struct proxy_conf *c, const struct proxy_api_changes *ch, bool batch,
                         struct target_group_registry *reg, struct err *err)
{
    int rc;

    for (size_t i = 0; i < ch->nlisteners; i++) {
        if (named(ch->delete_listeners, ch->ndelete_listeners, ch->listeners[i].name))
            return err_set(err, -EINVAL,
                           "listener '%s' is both changed and deleted (expected one of them)",
                           ch->listeners[i].name);
    }
    for (size_t i = 0; i < ch->ngroups; i++) {
        if (named(ch->delete_groups, ch->ndelete_groups, ch->groups[i].name))
            return err_set(err, -EINVAL,
                           "target group '%s' is both changed and deleted (expected one of them)",
                           ch->groups[i].name);
    }
    for (size_t i = 0; i < ch->ngroups; i++) {
        if ((rc = put_group(c, &ch->groups[i], batch, reg, err)) != 0)
            return rc;
    }
    if ((rc = relink_forwards(c, err)) != 0)
        return rc;
    for (size_t i = 0; i < ch->ndelete_listeners; i++) {
        const struct proxy_conf_listener *l = proxy_conf_listener_find(c, ch->delete_listeners[i]);
        if (l == NULL)
            return err_set(err, -ENOENT, "no listener named '%s'", ch->delete_listeners[i]);
        drop_listener(c, (size_t)(l - c->listeners));
    }
    for (size_t i = 0; i < ch->nlisteners; i++) {
        if ((rc = put_listener(c, &ch->listeners[i], batch, err)) != 0)
            return rc;
    }
    for (size_t i = 0; i < ch->ndelete_groups; i++) {
        struct target_group *g = proxy_conf_group_find(c, ch->delete_groups[i]);
        if (g == NULL)
            return err_set(err, -ENOENT, "no target group named '%s'", ch->delete_groups[i]);
        for (size_t k = 0; k < c->nlisteners; k++) {
            for (size_t j = 0; j < c->listeners[k].nforward; j++) {
                if (c->listeners[k].forward[j].group == g)
                    return err_set(err, -EBUSY,
                                   "target group '%s' is used by listener '%s' (change its "
                                   "forward action first)",
                                   g->name, c->listeners[k].name);
            }
        }
        drop_group(c, (size_t)(g - c->groups));
        if ((rc = relink_forwards(c, err)) != 0)
            return rc;
    }
    return check_binds(c, err);
}

int
proxy_conf_keep_dynamic(struct proxy_conf *next, const struct proxy_conf *cur, struct err *err)
{
    for (size_t i = 0; i < cur->ngroups; i++) {
        const struct target_group *g = &cur->groups[i];
        if (g->dynamic && proxy_conf_group_find(next, g->name) == NULL)
            clone_group(next, append_group(next), g);
    }
    for (size_t i = 0; i < cur->nlisteners; i++) {
        const struct proxy_conf_listener *l = &cur->listeners[i];
        if (!l->dynamic || proxy_conf_listener_find(next, l->name) != NULL)
            continue;
        for (size_t j = 0; j < l->nforward; j++) {
            if (proxy_conf_group_find(next, l->forward[j].group_name) == NULL)
                return err_set(err, -EINVAL,
                               "%s: listener '%s' (created through the admin API) forwards to "
                               "target group '%s', which the file no longer has (expected the "
                               "group, or delete the listener first)",
                               next->path, l->name, l->forward[j].group_name);
        }
        clone_listener(next, append_listener(next), l);
    }
    if (relink_forwards(next, err) != 0 || check_binds(next, err) != 0) {
        char msg[ERR_MSG_MAX];
        str_copy(msg, err->msg, sizeof(msg));
        return err_set(err, -EINVAL, "%s: %s (a listener created through the admin API)",
                       next->path, msg);
    }
    return 0;
}

char *
proxy_conf_dynamic_format(const struct proxy_conf *c)
{
    struct proxy_api_changes ch;
    char *text;

    memset(&ch, 0, sizeof(ch));
    arena_init(&ch.arena, 4096);
    ch.groups = arena_calloc(&ch.arena, c->ngroups + 1, sizeof(*ch.groups));
    ch.listeners = arena_calloc(&ch.arena, c->nlisteners + 1, sizeof(*ch.listeners));
    for (size_t i = 0; i < c->ngroups; i++) {
        const struct target_group *g = &c->groups[i];
        struct proxy_api_group_spec *s;
        if (!g->dynamic)
            continue;
        s = &ch.groups[ch.ngroups++];
        s->name = g->name;
        s->algorithm = balancer_algorithm_name(g->algorithm);
        s->has_deregistration_delay = true;
        s->deregistration_delay_ms = g->deregistration_delay_ms;
        s->health_set = PROXY_API_HC_PATH | PROXY_API_HC_PORT | PROXY_API_HC_INTERVAL |
                        PROXY_API_HC_TIMEOUT | PROXY_API_HC_HEALTHY | PROXY_API_HC_UNHEALTHY |
                        PROXY_API_HC_MATCHER;
        s->health_check.path = g->health.path;
        s->health_check.port = g->health.port;
        s->health_check.interval_ms = g->health.interval_ms;
        s->health_check.timeout_ms = g->health.timeout_ms;
        s->health_check.healthy_threshold = g->health.healthy_threshold;
        s->health_check.unhealthy_threshold = g->health.unhealthy_threshold;
        s->health_check.matcher = g->health.matcher;
        s->has_targets = true;
        s->ntargets = g->ntargets;
        s->targets = arena_calloc(&ch.arena, g->ntargets + 1, sizeof(*s->targets));
        for (size_t j = 0; j < g->ntargets; j++)
            s->targets[j] = g->targets[j]->addr.text;
    }
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct proxy_conf_listener *l = &c->listeners[i];
        struct proxy_api_listener_spec *s;
        if (!l->dynamic)
            continue;
        s = &ch.listeners[ch.nlisteners++];
        s->name = l->name;
        s->bind = l->bind.text;
        s->has_forward = true;
        s->action.nforward = l->nforward;
        s->action.forward = arena_calloc(&ch.arena, l->nforward + 1, sizeof(*s->action.forward));
        for (size_t j = 0; j < l->nforward; j++) {
            s->action.forward[j].target_group = l->forward[j].group_name;
            s->action.forward[j].weight = l->forward[j].weight;
        }
    }
    text = proxy_api_changes_format(&ch);
    arena_fini(&ch.arena);
    return text;
}
