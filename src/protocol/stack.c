/* SPDX-License-Identifier: ISC */
/* stack.yaml → struct stack. The proxy part is checked here key by key; a deployment group is
 * converted to JSON and handed to deploy_group_parse, whose error (a JSON path) is mapped back
 * to the YAML node it came from, so every message points into stack.yaml. */
#include "protocol/stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/addr.h"
#include "common/err.h"
#include "common/json_util.h"
#include "common/str.h"
#include "protocol/deploy_group.h"

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_DELAY_MS (3600 * 1000ULL)
#define MAX_FORWARD 8
#define GROUP_LABEL "stack" /* deploy_group_parse's label, stripped from its messages */

static const char *const top_keys[] = {"server", "proxy", "deployment_configs", "applications"};
static const char *const proxy_keys[] = {"admin", "listeners", "target_groups"};
static const char *const listener_keys[] = {"bind", "forward"};
static const char *const forward_keys[] = {"target_group", "weight"};
static const char *const group_keys[] = {"algorithm", "deregistration_delay", "health_check",
                                         "targets"};
static const char *const health_keys[] = {
    "path", "port", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "matcher"};
static const char *const config_keys[] = {"minimum_healthy_hosts"};
static const char *const mhh_keys[] = {"type", "value"};
static const char *const app_keys[] = {"deployment_groups"};

struct parser {
    struct stack *s;
    const struct yaml_conf_doc *doc;
    const char *admin_url; /* borrowed: default loadBalancerInfo.proxyAdmin, or NULL */
    struct err *err;
};

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

static int
get_name(struct parser *p, const struct yaml_conf_node *key, const char *what, const char **out)
{
    if (!proxy_api_valid_name(key->value))
        return yaml_conf_error(p->err, p->doc, key,
                               "invalid %s name '%s' (expected 1-64 of A-Z a-z 0-9 . _ -)", what,
                               key->value);
    *out = arena_strdup(&p->s->arena, key->value);
    return 0;
}

/* <n> must be a mapping (or null when <null_ok>) with only <keys>. */
static int
expect_map(struct parser *p, const struct yaml_conf_node *n, const char *what,
           const char *const *keys, size_t nkeys)
{
    TRY(yaml_conf_expect(p->doc, n, YAML_CONF_MAP, what, p->err));
    return yaml_conf_check_keys(p->doc, n, keys, nkeys, p->err);
}

static int
get_addr(struct parser *p, const struct yaml_conf_node *n, const char **out)
{
    struct addr a;

    if (n->kind != YAML_CONF_SCALAR || addr_parse(&a, n->value) != 0 || addr_is_unix(&a))
        return yaml_conf_error(p->err, p->doc, n, "invalid address '%s' (expected HOST:PORT)",
                               n->kind == YAML_CONF_SCALAR ? n->value : "?");
    *out = arena_strdup(&p->s->arena, a.text);
    return 0;
}

static int
get_duration(struct parser *p, const struct yaml_conf_node *n, uint64_t min_ms, uint64_t max_ms,
             uint64_t *out)
{
    TRY(yaml_conf_duration_ms(p->doc, n, out, p->err));
    if (*out < min_ms || *out > max_ms)
        return yaml_conf_error(p->err, p->doc, n,
                               "duration '%s' is out of range (expected %llums to %llus)", n->value,
                               (unsigned long long)min_ms, (unsigned long long)(max_ms / 1000));
    return 0;
}

/* Names the key in a getter's message that does not already:
 * "F:L:C: '5x' is not a duration (…)" → "F:L:C: deregistration_delay: '5x' is not …". */
static int
keyed(struct parser *p, const char *key, int rc)
{
    char rest[ERR_MSG_MAX], *msg;
    size_t skip;

    if (rc == 0 || p->err == NULL || strstr(p->err->msg, key) != NULL)
        return rc;
    msg = p->err->msg;
    skip = strlen(p->doc->path);
    if (strncmp(msg, p->doc->path, skip) != 0)
        return rc;
    for (int colons = 0; msg[skip] != '\0' && colons < 3; skip++)
        colons += msg[skip] == ':';
    if (msg[skip] == ' ')
        skip++;
    str_copy(rest, msg + skip, sizeof(rest));
    snprintf(msg + skip, ERR_MSG_MAX - skip, "%s: %s", key, rest);
    return rc;
}

/* ---- proxy: target groups ---- */

static int
parse_matcher(struct parser *p, const struct yaml_conf_node *n, const char **out)
{
    const char *s = n->kind == YAML_CONF_SCALAR ? n->value : "";

    if (s[0] == '\0' || strspn(s, "0123456789,-") != strlen(s))
        return yaml_conf_error(p->err, p->doc, n,
                               "invalid matcher '%s' (expected codes like 200, 200-399 or "
                               "200,302)",
                               s);
    *out = arena_strdup(&p->s->arena, s);
    return 0;
}

static int
parse_health_field(struct parser *p, const char *key, const struct yaml_conf_node *v,
                   struct proxy_api_health_check *h)
{
    const char *s;

    if (strcmp(key, "path") == 0) {
        TRY(yaml_conf_string(p->doc, v, &s, p->err));
        if (s[0] != '/' || strpbrk(s, " \t\r\n") != NULL)
            return yaml_conf_error(p->err, p->doc, v,
                                   "invalid health check path '%s' (expected /path)", s);
        h->path = arena_strdup(&p->s->arena, s);
        return 0;
    }
    if (strcmp(key, "port") == 0) {
        if (v->kind == YAML_CONF_SCALAR && strcmp(v->value, "traffic-port") == 0) {
            h->port = 0;
            return 0;
        }
        return yaml_conf_u32(p->doc, v, 1, 65535, &h->port, p->err);
    }
    if (strcmp(key, "interval") == 0)
        return get_duration(p, v, 100, 300000, &h->interval_ms);
    if (strcmp(key, "timeout") == 0)
        return get_duration(p, v, 50, 120000, &h->timeout_ms);
    if (strcmp(key, "healthy_threshold") == 0)
        return yaml_conf_u32(p->doc, v, 1, 10, &h->healthy_threshold, p->err);
    if (strcmp(key, "unhealthy_threshold") == 0)
        return yaml_conf_u32(p->doc, v, 1, 10, &h->unhealthy_threshold, p->err);
    return parse_matcher(p, v, &h->matcher);
}

static int
parse_health(struct parser *p, const struct yaml_conf_node *n, struct proxy_api_health_check *h)
{
    if (yaml_conf_is_null(n))
        return 0;
    TRY(expect_map(p, n, "health_check", health_keys, NKEYS(health_keys)));
    for (size_t i = 0; i < n->n; i++)
        TRY(keyed(p, n->keys[i]->value, parse_health_field(p, n->keys[i]->value, n->items[i], h)));
    if (h->timeout_ms >= h->interval_ms) {
        const struct yaml_conf_node *at = yaml_conf_get(n, "timeout");
        return yaml_conf_error(p->err, p->doc, at != NULL ? at : n,
                               "timeout must be shorter than the interval "
                               "(expected timeout < %llums)",
                               (unsigned long long)h->interval_ms);
    }
    return 0;
}

static int
parse_targets(struct parser *p, const struct yaml_conf_node *n, struct stack_target_group *tg)
{
    struct proxy_api_group *g = &tg->want;

    tg->has_targets = true;
    if (yaml_conf_is_null(n))
        return 0;
    TRY(yaml_conf_expect(p->doc, n, YAML_CONF_SEQ, "targets", p->err));
    g->targets = arena_calloc(&p->s->arena, n->n + 1, sizeof(*g->targets));
    for (size_t i = 0; i < n->n; i++) {
        const char *t;

        TRY(get_addr(p, n->items[i], &t));
        for (size_t j = 0; j < g->ntargets; j++)
            if (strcmp(g->targets[j], t) == 0)
                return yaml_conf_error(p->err, p->doc, n->items[i],
                                       "duplicate target %s (expected each address once)", t);
        g->targets[g->ntargets++] = t;
    }
    return 0;
}

static int
parse_group_field(struct parser *p, const char *key, const struct yaml_conf_node *v,
                  struct stack_target_group *tg)
{
    struct proxy_api_group *g = &tg->want;
    const char *s;

    if (strcmp(key, "algorithm") == 0) {
        TRY(yaml_conf_string(p->doc, v, &s, p->err));
        if (strcmp(s, "round_robin") != 0 && strcmp(s, "least_outstanding_requests") != 0)
            return yaml_conf_error(p->err, p->doc, v,
                                   "unknown algorithm '%s' (expected round_robin or "
                                   "least_outstanding_requests)",
                                   s);
        g->algorithm = arena_strdup(&p->s->arena, s);
        return 0;
    }
    if (strcmp(key, "deregistration_delay") == 0)
        return get_duration(p, v, 0, MAX_DELAY_MS, &g->deregistration_delay_ms);
    if (strcmp(key, "health_check") == 0)
        return parse_health(p, v, &g->health_check);
    return parse_targets(p, v, tg);
}

static int
parse_target_group(struct parser *p, const struct yaml_conf_node *key,
                   const struct yaml_conf_node *n, struct stack_target_group *tg)
{
    struct proxy_api_group *g = &tg->want;

    TRY(get_name(p, key, "target group", &g->name));
    g->algorithm = STACK_DEFAULT_ALGORITHM;
    g->deregistration_delay_ms = STACK_DEFAULT_DEREGISTRATION_MS;
    g->health_check = (struct proxy_api_health_check){
        .path = STACK_DEFAULT_HC_PATH,
        .interval_ms = STACK_DEFAULT_HC_INTERVAL_MS,
        .timeout_ms = STACK_DEFAULT_HC_TIMEOUT_MS,
        .healthy_threshold = STACK_DEFAULT_HC_HEALTHY,
        .unhealthy_threshold = STACK_DEFAULT_HC_UNHEALTHY,
        .matcher = STACK_DEFAULT_HC_MATCHER,
    };
    tg->node = n;
    if (yaml_conf_is_null(n))
        return 0;
    TRY(expect_map(p, n, "a target group", group_keys, NKEYS(group_keys)));
    for (size_t i = 0; i < n->n; i++)
        TRY(keyed(p, n->keys[i]->value, parse_group_field(p, n->keys[i]->value, n->items[i], tg)));
    return 0;
}

/* ---- proxy: listeners ---- */

static int
parse_forward_entry(struct parser *p, const struct yaml_conf_node *n, struct stack_listener *l)
{
    struct proxy_api_forward *f = &l->forward[l->nforward];
    const struct yaml_conf_node *tg, *w;

    TRY(expect_map(p, n, "a forward entry", forward_keys, NKEYS(forward_keys)));
    if ((tg = yaml_conf_get(n, "target_group")) == NULL)
        return yaml_conf_error(p->err, p->doc, n,
                               "forward entry has no target_group (expected {target_group: "
                               "NAME, weight: N})");
    TRY(yaml_conf_expect(p->doc, tg, YAML_CONF_SCALAR, "target_group", p->err));
    TRY(get_name(p, tg, "target group", &f->target_group));
    for (size_t i = 0; i < l->nforward; i++)
        if (strcmp(l->forward[i].target_group, f->target_group) == 0)
            return yaml_conf_error(p->err, p->doc, tg,
                                   "target group '%s' appears twice in this forward action "
                                   "(expected each group once)",
                                   f->target_group);
    f->weight = 1;
    if ((w = yaml_conf_get(n, "weight")) != NULL)
        TRY(keyed(p, "weight",
                  yaml_conf_u32(p->doc, w, 0, PROXY_API_MAX_WEIGHT, &f->weight, p->err)));
    l->nforward++;
    return 0;
}

static int
parse_listener(struct parser *p, const struct yaml_conf_node *key, const struct yaml_conf_node *n,
               struct stack_listener *l)
{
    const struct yaml_conf_node *bind, *fwd;

    TRY(get_name(p, key, "listener", &l->name));
    l->node = n;
    TRY(expect_map(p, n, "a listener", listener_keys, NKEYS(listener_keys)));
    if ((bind = yaml_conf_get(n, "bind")) == NULL)
        return yaml_conf_error(p->err, p->doc, key,
                               "listener '%s' has no bind (expected bind: "
                               "HOST:PORT)",
                               l->name);
    TRY(get_addr(p, bind, &l->bind));
    if ((fwd = yaml_conf_get(n, "forward")) == NULL || yaml_conf_is_null(fwd))
        return 0;
    TRY(yaml_conf_expect(p->doc, fwd, YAML_CONF_SEQ, "forward", p->err));
    if (fwd->n == 0 || fwd->n > MAX_FORWARD)
        return yaml_conf_error(p->err, p->doc, fwd,
                               "forward has %zu entries (expected 1 to %d {target_group, weight})",
                               fwd->n, MAX_FORWARD);
    l->forward = arena_calloc(&p->s->arena, fwd->n, sizeof(*l->forward));
    for (size_t i = 0; i < fwd->n; i++)
        TRY(parse_forward_entry(p, fwd->items[i], l));
    return 0;
}

static int
parse_proxy(struct parser *p, const struct yaml_conf_node *n)
{
    const struct yaml_conf_node *admin, *ls, *gs;
    struct stack *s = p->s;

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    TRY(expect_map(p, n, "proxy", proxy_keys, NKEYS(proxy_keys)));
    if ((admin = yaml_conf_get(n, "admin")) != NULL) {
        struct addr a;

        if (admin->kind != YAML_CONF_SCALAR || addr_parse(&a, admin->value) != 0)
            return yaml_conf_error(p->err, p->doc, admin,
                                   "invalid admin address '%s' (expected HOST:PORT or "
                                   "unix:/path)",
                                   admin->kind == YAML_CONF_SCALAR ? admin->value : "?");
        s->admin = arena_strdup(&s->arena, admin->value);
    }
    if ((gs = yaml_conf_get(n, "target_groups")) != NULL && !yaml_conf_is_null(gs)) {
        TRY(yaml_conf_expect(p->doc, gs, YAML_CONF_MAP, "target_groups", p->err));
        s->groups = arena_calloc(&s->arena, gs->n + 1, sizeof(*s->groups));
        for (size_t i = 0; i < gs->n; i++, s->ngroups++)
            TRY(parse_target_group(p, gs->keys[i], gs->items[i], &s->groups[i]));
    }
    if ((ls = yaml_conf_get(n, "listeners")) != NULL && !yaml_conf_is_null(ls)) {
        TRY(yaml_conf_expect(p->doc, ls, YAML_CONF_MAP, "listeners", p->err));
        s->listeners = arena_calloc(&s->arena, ls->n + 1, sizeof(*s->listeners));
        for (size_t i = 0; i < ls->n; i++, s->nlisteners++)
            TRY(parse_listener(p, ls->keys[i], ls->items[i], &s->listeners[i]));
    }
    s->has_proxy = s->ngroups + s->nlisteners > 0;
    return 0;
}

/* ---- deployment configs ---- */

static int
parse_config(struct parser *p, const struct yaml_conf_node *key, const struct yaml_conf_node *n,
             struct stack_config *c)
{
    const struct yaml_conf_node *mhh, *type, *value;
    uint32_t max;

    if (key->value[0] == '\0' || strlen(key->value) > 100 || strchr(key->value, '/') != NULL)
        return yaml_conf_error(p->err, p->doc, key,
                               "invalid deployment config name '%s' (expected 1-100 characters, "
                               "no '/')",
                               key->value);
    c->name = arena_strdup(&p->s->arena, key->value);
    c->node = n;
    TRY(expect_map(p, n, "a deployment config", config_keys, NKEYS(config_keys)));
    if ((mhh = yaml_conf_get(n, "minimum_healthy_hosts")) == NULL)
        return yaml_conf_error(p->err, p->doc, key,
                               "deployment config '%s' has no minimum_healthy_hosts (expected "
                               "{type: HOST_COUNT|FLEET_PERCENT, value: N})",
                               c->name);
    TRY(expect_map(p, mhh, "minimum_healthy_hosts", mhh_keys, NKEYS(mhh_keys)));
    type = yaml_conf_get(mhh, "type");
    value = yaml_conf_get(mhh, "value");
    if (type == NULL || value == NULL)
        return yaml_conf_error(p->err, p->doc, mhh,
                               "minimum_healthy_hosts needs type and value (expected {type: "
                               "HOST_COUNT|FLEET_PERCENT, value: N})");
    if (type->kind != YAML_CONF_SCALAR || deploy_min_healthy_type_parse(type->value, &c->type) != 0)
        return yaml_conf_error(p->err, p->doc, type,
                               "invalid type '%s' (expected HOST_COUNT or FLEET_PERCENT)",
                               type->kind == YAML_CONF_SCALAR ? type->value : "?");
    max = c->type == DEPLOY_MIN_HEALTHY_FLEET_PERCENT ? 99 : 100000;
    return keyed(p, "value", yaml_conf_u32(p->doc, value, 0, max, &c->value, p->err));
}

static int
parse_configs(struct parser *p, const struct yaml_conf_node *n)
{
    struct stack *s = p->s;

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    TRY(yaml_conf_expect(p->doc, n, YAML_CONF_MAP, "deployment_configs", p->err));
    s->configs = arena_calloc(&s->arena, n->n + 1, sizeof(*s->configs));
    for (size_t i = 0; i < n->n; i++, s->nconfigs++)
        TRY(parse_config(p, n->keys[i], n->items[i], &s->configs[i]));
    return 0;
}

/* ---- deployment groups: YAML → JSON → deploy_group_parse ---- */

/* A plain scalar is typed the way YAML 1.2's core schema types it; a quoted one is a string. */
static json_t *
scalar_json(const struct yaml_conf_node *n)
{
    const char *v = n->value;
    char *end;

    if (!n->is_plain)
        return json_util_string(v);
    if (yaml_conf_is_null(n))
        return json_null();
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
        return json_true();
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
        return json_false();
    if (strspn(v, "-+0123456789") == strlen(v) && strlen(v) < 19) {
        long long i = strtoll(v, &end, 10);
        if (*end == '\0' && end != v)
            return json_integer(i);
    }
    if (strpbrk(v, ".eE") != NULL && strspn(v, "-+0123456789.eE") == strlen(v)) {
        double d = strtod(v, &end);
        if (*end == '\0' && end != v)
            return json_real(d);
    }
    return json_util_string(v);
}

static json_t *
node_json(const struct yaml_conf_node *n)
{
    json_t *v;

    switch (n->kind) {
    case YAML_CONF_SCALAR:
        return scalar_json(n);
    case YAML_CONF_SEQ:
        v = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(v, node_json(n->items[i]));
        return v;
    case YAML_CONF_MAP:
        v = json_object();
        for (size_t i = 0; i < n->n; i++)
            json_object_set_new(v, n->keys[i]->value, node_json(n->items[i]));
        return v;
    }
    return json_null();
}

/* The node at JSON path <path> ("loadBalancerInfo.listener", "alarms[1].name") under <root>:
 * the deepest one that exists. *key_out gets the key node of the last map step (or NULL). */
static const struct yaml_conf_node *
node_at(const struct yaml_conf_node *root, const char *path, const struct yaml_conf_node **key_out)
{
    const struct yaml_conf_node *n = root;

    *key_out = NULL;
    while (*path != '\0' && n != NULL) {
        size_t len = strcspn(path, ".[");
        const struct yaml_conf_node *next = NULL;

        if (len > 0 && n->kind == YAML_CONF_MAP) {
            for (size_t i = 0; i < n->n && next == NULL; i++)
                if (strlen(n->keys[i]->value) == len && strncmp(n->keys[i]->value, path, len) == 0)
                    next = n->items[i], *key_out = n->keys[i];
        } else if (*path == '[' && n->kind == YAML_CONF_SEQ) {
            size_t idx = strtoul(path + 1, NULL, 10);
            len = strcspn(path, "]") + 1;
            next = idx < n->n ? n->items[idx] : NULL;
        }
        if (next == NULL)
            return n;
        n = next;
        path += len;
        if (*path == '.')
            path++;
    }
    return n;
}

const struct yaml_conf_node *
stack_node_at(const struct yaml_conf_node *root, const char *path)
{
    const struct yaml_conf_node *key;

    return node_at(root, path, &key);
}

/* "stack.yaml: group.alarmConfiguration.alarms[0]: unknown key 'x' (…)" → the same at the
 * YAML node, as "stack.yaml:L:C: deployment group web/prod: alarmConfiguration.alarms[0]: …". */
static int
map_group_error(struct parser *p, const struct stack_group *g, struct err *gerr)
{
    char path[256] = "", rest[ERR_MSG_MAX];
    const char *m = gerr->msg, *g0 = NULL, *uk;
    const struct yaml_conf_node *n = g->node, *key = NULL;

    if (str_has_prefix(m, GROUP_LABEL ": "))
        m += strlen(GROUP_LABEL ": ");
    if (str_has_prefix(m, "group"))
        g0 = m;
    str_copy(rest, m, sizeof(rest));
    if (g0 != NULL) {
        size_t plen = strcspn(g0, ": ");

        if (plen > 5 && g0[5] == '.')
            snprintf(path, sizeof(path), "%.*s", (int)(plen - 6), g0 + 6);
        str_copy(rest, g0[plen] == ':' ? g0 + plen + 1 + (g0[plen + 1] == ' ') : g0 + plen,
                 sizeof(rest));
        n = node_at(g->node, path, &key);
    }
    if ((uk = strstr(rest, "unknown key '")) != NULL && n != NULL && n->kind == YAML_CONF_MAP) {
        size_t klen = strcspn(uk + 13, "'");

        for (size_t i = 0; i < n->n; i++)
            if (strlen(n->keys[i]->value) == klen && strncmp(n->keys[i]->value, uk + 13, klen) == 0)
                n = n->keys[i];
    }
    return yaml_conf_error(p->err, p->doc, n, "deployment group %s/%s: %s%s%s", g->application,
                           g->name, path, path[0] != '\0' ? ": " : "", rest);
}

/* The name keys of group.json come from the map keys; when written they must agree. */
static int
set_name(struct parser *p, json_t *o, const struct yaml_conf_node *map, const char *key,
         const char *value)
{
    const struct yaml_conf_node *n = yaml_conf_get(map, key);

    if (n != NULL && (n->kind != YAML_CONF_SCALAR || strcmp(n->value, value) != 0))
        return yaml_conf_error(p->err, p->doc, n,
                               "%s is '%s' (expected '%s', the map key, or "
                               "nothing)",
                               key, n->kind == YAML_CONF_SCALAR ? n->value : "?", value);
    json_object_set_new(o, key, json_util_string(value));
    return 0;
}

static int
group_to_json(struct parser *p, struct stack_group *g, json_t **out)
{
    json_t *o = node_json(g->node), *lb;
    int rc;

    if ((rc = set_name(p, o, g->node, "applicationName", g->application)) != 0 ||
        (rc = set_name(p, o, g->node, "deploymentGroupName", g->name)) != 0) {
        json_decref(o);
        return rc;
    }
    lb = json_object_get(o, "loadBalancerInfo");
    if (json_is_object(lb) && json_object_get(lb, "proxyAdmin") == NULL) {
        char url[300];

        if (p->admin_url != NULL)
            json_object_set_new(lb, "proxyAdmin", json_util_string(p->admin_url));
        else if (p->s->admin != NULL && !str_has_prefix(p->s->admin, "unix:") &&
                 (size_t)snprintf(url, sizeof(url), "http://%s", p->s->admin) < sizeof(url))
            json_object_set_new(lb, "proxyAdmin", json_util_string(url));
    }
    *out = o;
    return 0;
}

/* The alarm metrics the server evaluates (deploy_group.h; server/deployment.c decides). The
 * server would refuse others only after the proxy had changed, so they are refused here. */
static int
check_metrics(struct parser *p, const struct stack_group *g, const struct deploy_group *dg)
{
    static const char *const metrics[] = {"target_5xx_ratio", "target_p99_seconds",
                                          "p99_target_time"};

    for (size_t i = 0; i < dg->nalarms; i++) {
        const char *m = dg->alarms[i].metric;
        bool ok = false;
        char path[64];

        for (size_t k = 0; k < NKEYS(metrics) && m != NULL && !ok; k++)
            ok = strcmp(m, metrics[k]) == 0;
        if (ok)
            continue;
        snprintf(path, sizeof(path), "alarmConfiguration.alarms[%zu].metric", i);
        return yaml_conf_error(p->err, p->doc, stack_node_at(g->node, path),
                               "deployment group %s/%s: %s: '%s' (expected target_5xx_ratio or "
                               "target_p99_seconds)",
                               g->application, g->name, path, m != NULL ? m : "missing");
    }
    return 0;
}

static int
parse_dgroup(struct parser *p, struct stack_group *g)
{
    struct deploy_group dg;
    struct err gerr = {0};
    json_t *o = NULL;
    char *body;
    int rc;

    TRY(yaml_conf_expect(p->doc, g->node, YAML_CONF_MAP, "a deployment group", p->err));
    TRY(group_to_json(p, g, &o));
    body = json_util_dump(o);
    if (deploy_group_parse(body, strlen(body), GROUP_LABEL, &dg, &gerr) != 0) {
        free(body);
        return map_group_error(p, g, &gerr);
    }
    g->body = arena_strdup(&p->s->arena, body);
    free(body);
    if ((rc = check_metrics(p, g, &dg)) != 0) {
        deploy_group_fini(&dg);
        return rc;
    }
    g->config_name = arena_strdup(&p->s->arena, dg.config_name);
    g->proxy_admin = dg.proxy_admin != NULL ? arena_strdup(&p->s->arena, dg.proxy_admin) : NULL;
    g->listener = dg.listener != NULL ? arena_strdup(&p->s->arena, dg.listener) : NULL;
    g->test_listener =
        dg.test_listener != NULL ? arena_strdup(&p->s->arena, dg.test_listener) : NULL;
    for (size_t i = 0; i < dg.nfleets; i++)
        g->target_groups[i] = arena_strdup(&p->s->arena, dg.fleets[i].target_group);
    if (dg.target_group != NULL)
        g->target_groups[2] = arena_strdup(&p->s->arena, dg.target_group);
    deploy_group_fini(&dg);
    return 0;
}

static int
parse_app(struct parser *p, const struct yaml_conf_node *key, const struct yaml_conf_node *n,
          struct stack_application *app)
{
    const struct yaml_conf_node *gs;
    struct stack *s = p->s;

    TRY(get_name(p, key, "application", &app->name));
    app->node = key;
    if (yaml_conf_is_null(n))
        return 0;
    TRY(expect_map(p, n, "an application", app_keys, NKEYS(app_keys)));
    if ((gs = yaml_conf_get(n, "deployment_groups")) == NULL || yaml_conf_is_null(gs))
        return 0;
    TRY(yaml_conf_expect(p->doc, gs, YAML_CONF_MAP, "deployment_groups", p->err));
    for (size_t i = 0; i < gs->n; i++) {
        struct stack_group *g = &s->dgroups[s->ndgroups];

        g->application = app->name;
        TRY(get_name(p, gs->keys[i], "deployment group", &g->name));
        g->node = gs->items[i];
        TRY(parse_dgroup(p, g));
        s->ndgroups++;
    }
    return 0;
}

static size_t
count_groups(const struct yaml_conf_node *apps)
{
    size_t n = 0;

    for (size_t i = 0; i < apps->n; i++) {
        const struct yaml_conf_node *gs = yaml_conf_get(apps->items[i], "deployment_groups");

        if (gs != NULL && gs->kind == YAML_CONF_MAP)
            n += gs->n;
    }
    return n;
}

static int
parse_apps(struct parser *p, const struct yaml_conf_node *n)
{
    struct stack *s = p->s;

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    TRY(yaml_conf_expect(p->doc, n, YAML_CONF_MAP, "applications", p->err));
    s->apps = arena_calloc(&s->arena, n->n + 1, sizeof(*s->apps));
    s->dgroups = arena_calloc(&s->arena, count_groups(n) + 1, sizeof(*s->dgroups));
    for (size_t i = 0; i < n->n; i++, s->napps++)
        TRY(parse_app(p, n->keys[i], n->items[i], &s->apps[i]));
    return 0;
}

static int
parse_root(struct parser *p, const struct yaml_conf_node *root)
{
    const struct yaml_conf_node *server;

    if (root == NULL)
        return yaml_conf_error(p->err, p->doc, NULL,
                               "empty file (expected proxy, deployment_configs or applications)");
    TRY(expect_map(p, root, "a stack", top_keys, NKEYS(top_keys)));
    if ((server = yaml_conf_get(root, "server")) != NULL) {
        const char *url;

        TRY(yaml_conf_string(p->doc, server, &url, p->err));
        if (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://"))
            return yaml_conf_error(p->err, p->doc, server,
                                   "invalid server '%s' (expected http://HOST:PORT or "
                                   "https://HOST:PORT)",
                                   url);
        p->s->server = arena_strdup(&p->s->arena, url);
    }
    TRY(parse_proxy(p, yaml_conf_get(root, "proxy")));
    TRY(parse_configs(p, yaml_conf_get(root, "deployment_configs")));
    return parse_apps(p, yaml_conf_get(root, "applications"));
}

int
stack_parse(struct stack *out, const char *name, const char *text, size_t len,
            const char *admin_url, struct err *err)
{
    struct parser p = {.s = out, .admin_url = admin_url, .err = err};
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = yaml_conf_load_buffer(&out->doc, name, text, len, err)) != 0)
        return rc;
    arena_init(&out->arena, 4096);
    p.doc = out->doc;
    if ((rc = parse_root(&p, out->doc->root)) != 0)
        stack_fini(out);
    return rc;
}

void
stack_fini(struct stack *s)
{
    if (s->doc != NULL)
        yaml_conf_free(s->doc);
    arena_fini(&s->arena);
    memset(s, 0, sizeof(*s));
}

bool
stack_config_is_known(const struct stack *s, const char *name)
{
    for (size_t i = 0; i < DEPLOY_CONFIG_NBUILTINS; i++)
        if (strcmp(deploy_group_config_builtin(i)->name, name) == 0)
            return true;
    for (size_t i = 0; i < s->nconfigs; i++)
        if (strcmp(s->configs[i].name, name) == 0)
            return true;
    return false;
}

char *
stack_config_body_format(const struct stack *s, size_t i)
{
    struct deploy_config c = {.name = s->configs[i].name,
                              .min_healthy_type = s->configs[i].type,
                              .min_healthy_value = s->configs[i].value};

    return deploy_group_config_request_format(&c);
}
