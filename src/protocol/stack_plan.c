/* SPDX-License-Identifier: ISC */
/* stack.yaml against the live proxy and server: the reference checks that need live state, the
 * per-object comparison, and the bodies that apply the result. Comparisons are semantic (JSON
 * equality, address equality, target sets), so a second apply of the same file finds nothing. */
#include "protocol/stack_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json_util.h"
#include "common/str.h"
#include "protocol/deploy_group.h"
#include "protocol/proxy_api.h"
#include "protocol/stack.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

struct planner {
    const struct stack *s;
    const struct stack_live *live;
    struct proxy_api_listeners ls; /* live listeners (empty without a proxy) */
    struct proxy_api_groups gs;    /* live target groups */
    bool has_live_proxy;           /* ls and gs were fetched */
    bool reset_traffic;
    struct stack_plan *out;
    struct err *err;
};

static const char *const kind_names[] = {
    [STACK_TARGET_GROUP] = "target_group",         [STACK_LISTENER] = "listener",
    [STACK_CONFIG] = "deployment_config",          [STACK_APPLICATION] = "application",
    [STACK_DEPLOYMENT_GROUP] = "deployment_group",
};

static const char *const action_names[] = {
    [STACK_UNCHANGED] = "unchanged",
    [STACK_CREATE] = "create",
    [STACK_UPDATE] = "update",
};

const char *
stack_plan_kind_name(enum stack_kind k)
{
    return kind_names[k];
}

const char *
stack_plan_action_name(enum stack_action a)
{
    return action_names[a];
}

static struct stack_item *
add_item(struct planner *pl, enum stack_kind kind, size_t index, const char *name,
         enum stack_action action)
{
    struct stack_plan *p = pl->out;
    struct stack_item *it = &p->items[p->n++];

    it->kind = kind;
    it->index = index;
    it->name = arena_strdup(&p->arena, name);
    it->action = action;
    p->ncreate += action == STACK_CREATE;
    p->nupdate += action == STACK_UPDATE;
    if (action != STACK_UNCHANGED && (kind == STACK_TARGET_GROUP || kind == STACK_LISTENER))
        p->nproxy_changes++;
    return it;
}

/* Marks <it> as an update when <differs> names anything. */
static void
set_differs(struct planner *pl, struct stack_item *it, struct buf *differs)
{
    if (differs->len == 0)
        return;
    it->action = STACK_UPDATE;
    it->differs = arena_strdup(&pl->out->arena, differs->data);
    pl->out->nupdate++;
    if (it->kind == STACK_TARGET_GROUP || it->kind == STACK_LISTENER)
        pl->out->nproxy_changes++;
}

static void
differ(struct buf *b, const char *what)
{
    buf_appendf(b, "%s%s", b->len > 0 ? ", " : "", what);
}

/* ---- lookups ---- */

static const struct proxy_api_listener *
live_listener(const struct planner *pl, const char *name)
{
    for (size_t i = 0; i < pl->ls.n; i++)
        if (strcmp(pl->ls.items[i].name, name) == 0)
            return &pl->ls.items[i];
    return NULL;
}

static const struct proxy_api_group *
live_group(const struct planner *pl, const char *name)
{
    for (size_t i = 0; i < pl->gs.n; i++)
        if (strcmp(pl->gs.items[i].name, name) == 0)
            return &pl->gs.items[i];
    return NULL;
}

static bool
stack_has_group(const struct stack *s, const char *name)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (strcmp(s->groups[i].want.name, name) == 0)
            return true;
    return false;
}

static bool
stack_has_listener(const struct stack *s, const char *name)
{
    for (size_t i = 0; i < s->nlisteners; i++)
        if (strcmp(s->listeners[i].name, name) == 0)
            return true;
    return false;
}

static bool
same_addr(const char *a, const char *b)
{
    struct addr x, y;

    if (addr_parse(&x, a) != 0 || addr_parse(&y, b) != 0)
        return strcmp(a, b) == 0;
    return addr_equal(&x, &y);
}

/* ---- reference checks ---- */

static int
check_forward_refs(struct planner *pl, const struct stack_listener *l)
{
    const struct yaml_conf_node *fwd = yaml_conf_get(l->node, "forward");

    for (size_t i = 0; i < l->nforward; i++) {
        const char *name = l->forward[i].target_group;
        const struct yaml_conf_node *at;

        if (stack_has_group(pl->s, name) || live_group(pl, name) != NULL)
            continue;
        at = yaml_conf_get(fwd->items[i], "target_group");
        return yaml_conf_error(pl->err, pl->s->doc, at,
                               "listener %s: unknown target group '%s' (expected one under "
                               "proxy.target_groups or on the proxy)",
                               l->name, name);
    }
    if (l->nforward == 0 && live_listener(pl, l->name) == NULL)
        return yaml_conf_error(pl->err, pl->s->doc, l->node,
                               "listener %s does not exist on the proxy and has no forward "
                               "(expected forward: [{target_group, weight}] for a new listener)",
                               l->name);
    return 0;
}

static int
check_group_ref(struct planner *pl, const struct stack_group *g, const char *path, bool listener,
                const char *name)
{
    bool ok = listener ? stack_has_listener(pl->s, name) || live_listener(pl, name) != NULL
                       : stack_has_group(pl->s, name) || live_group(pl, name) != NULL;

    if (ok)
        return 0;
    return yaml_conf_error(pl->err, pl->s->doc, stack_node_at(g->node, path),
                           "deployment group %s/%s: %s: unknown %s '%s' (expected one under "
                           "proxy.%s or on the proxy)",
                           g->application, g->name, path, listener ? "listener" : "target group",
                           name, listener ? "listeners" : "target_groups");
}

static int
check_dgroup_refs(struct planner *pl, const struct stack_group *g)
{
    static const char *const tg_paths[] = {"blueGreenFleets[0].targetGroup",
                                           "blueGreenFleets[1].targetGroup",
                                           "loadBalancerInfo.targetGroup"};
    bool known = stack_config_is_known(pl->s, g->config_name);

    for (size_t i = 0; i < pl->live->nknown_configs && !known; i++)
        known = strcmp(pl->live->known_configs[i], g->config_name) == 0;
    if (!known)
        return yaml_conf_error(pl->err, pl->s->doc, stack_node_at(g->node, "deploymentConfigName"),
                               "deployment group %s/%s: unknown deploymentConfigName '%s' "
                               "(expected a built-in, one under deployment_configs or one on "
                               "the server)",
                               g->application, g->name, g->config_name);
    if (!pl->has_live_proxy)
        return 0;
    if (g->listener != NULL)
        TRY(check_group_ref(pl, g, "loadBalancerInfo.listener", true, g->listener));
    if (g->test_listener != NULL)
        TRY(check_group_ref(pl, g, "loadBalancerInfo.testListener", true, g->test_listener));
    for (size_t i = 0; i < 3; i++) {
        const char *path = tg_paths[i];

        if (g->target_groups[i] == NULL)
            continue;
        if (i == 2 && stack_node_at(g->node, path) == stack_node_at(g->node, "loadBalancerInfo"))
            path = "loadBalancerInfo.targetGroupInfoList[0].name";
        TRY(check_group_ref(pl, g, path, false, g->target_groups[i]));
    }
    return 0;
}

/* ---- proxy ---- */

static void
diff_health(const struct proxy_api_health_check *w, const struct proxy_api_health_check *h,
            struct buf *d)
{
    if (strcmp(w->path, h->path != NULL ? h->path : "") != 0)
        differ(d, "health_check.path");
    if (w->port != h->port)
        differ(d, "health_check.port");
    if (w->interval_ms != h->interval_ms)
        differ(d, "health_check.interval");
    if (w->timeout_ms != h->timeout_ms)
        differ(d, "health_check.timeout");
    if (w->healthy_threshold != h->healthy_threshold)
        differ(d, "health_check.healthy_threshold");
    if (w->unhealthy_threshold != h->unhealthy_threshold)
        differ(d, "health_check.unhealthy_threshold");
    if (strcmp(w->matcher, h->matcher != NULL ? h->matcher : "") != 0)
        differ(d, "health_check.matcher");
}

static bool
same_targets(const struct proxy_api_group *w, const struct proxy_api_group *h)
{
    if (w->ntargets != h->ntargets)
        return false;
    for (size_t i = 0; i < w->ntargets; i++) {
        bool found = false;

        for (size_t j = 0; j < h->ntargets && !found; j++)
            found = same_addr(w->targets[i], h->targets[j]);
        if (!found)
            return false;
    }
    return true;
}

static void
plan_target_group(struct planner *pl, size_t i)
{
    const struct stack_target_group *tg = &pl->s->groups[i];
    const struct proxy_api_group *w = &tg->want, *h = live_group(pl, w->name);
    struct stack_item *it;
    struct buf d;

    if (h == NULL) {
        add_item(pl, STACK_TARGET_GROUP, i, w->name, STACK_CREATE);
        return;
    }
    it = add_item(pl, STACK_TARGET_GROUP, i, w->name, STACK_UNCHANGED);
    buf_init(&d);
    if (strcmp(w->algorithm, h->algorithm != NULL ? h->algorithm : "") != 0)
        differ(&d, "algorithm");
    if (w->deregistration_delay_ms != h->deregistration_delay_ms)
        differ(&d, "deregistration_delay");
    diff_health(&w->health_check, &h->health_check, &d);
    if (tg->has_targets && !same_targets(w, h))
        differ(&d, "targets");
    if (!tg->has_targets)
        it->note = "targets owned by deployments";
    set_differs(pl, it, &d);
    buf_fini(&d);
}

static bool
same_forward(const struct stack_listener *l, const struct proxy_api_listener *h)
{
    if (h->action.nforward != l->nforward)
        return false;
    for (size_t i = 0; i < l->nforward; i++) {
        bool found = false;

        for (size_t j = 0; j < h->action.nforward && !found; j++)
            found = strcmp(h->action.forward[j].target_group, l->forward[i].target_group) == 0 &&
                    h->action.forward[j].weight == l->forward[i].weight;
        if (!found)
            return false;
    }
    return true;
}

static void
plan_listener(struct planner *pl, size_t i)
{
    const struct stack_listener *l = &pl->s->listeners[i];
    const struct proxy_api_listener *h = live_listener(pl, l->name);
    struct stack_item *it;
    struct buf d;

    if (h == NULL) {
        it = add_item(pl, STACK_LISTENER, i, l->name, STACK_CREATE);
        it->send_forward = true;
        return;
    }
    it = add_item(pl, STACK_LISTENER, i, l->name, STACK_UNCHANGED);
    buf_init(&d);
    if (!same_addr(l->bind, h->bind != NULL ? h->bind : ""))
        differ(&d, "bind");
    if (pl->reset_traffic && l->nforward > 0 && !same_forward(l, h)) {
        differ(&d, "forward");
        it->send_forward = true;
    } else if (l->nforward > 0 && !pl->reset_traffic) {
        it->note = "traffic owned by deployments";
    }
    set_differs(pl, it, &d);
    buf_fini(&d);
}

/* ---- server ---- */

/* The object under <wrapper> in the answer <doc> (a new reference), or NULL. */
static json_t *
unwrap(const char *doc, const char *wrapper)
{
    json_t *root = json_loads(doc, 0, NULL), *o;

    o = json_incref(json_object_get(root, wrapper));
    json_decref(root);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int
plan_config(struct planner *pl, size_t i)
{
    const struct stack_config *c = &pl->s->configs[i];
    const char *doc = pl->live->config_docs[i];
    json_t *o, *mhh;
    const char *type;
    json_int_t value;

    if (doc == NULL) {
        add_item(pl, STACK_CONFIG, i, c->name, STACK_CREATE);
        return 0;
    }
    if ((o = unwrap(doc, "deploymentConfigInfo")) == NULL)
        return err_set(pl->err, -EPROTO, "server: deployment config %s: unexpected answer",
                       c->name);
    mhh = json_object_get(o, "minimumHealthyHosts");
    type = json_string_value(json_object_get(mhh, "type"));
    value = json_integer_value(json_object_get(mhh, "value"));
    if (type == NULL || strcmp(type, deploy_min_healthy_type_name(c->type)) != 0 ||
        value != (json_int_t)c->value) {
        int rc = yaml_conf_error(pl->err, pl->s->doc, c->node,
                                 "deployment config %s exists on the server as %s %lld "
                                 "(deployment configs are immutable: expected the same settings "
                                 "or a new name)",
                                 c->name, type != NULL ? type : "?", (long long)value);
        json_decref(o);
        return rc;
    }
    json_decref(o);
    add_item(pl, STACK_CONFIG, i, c->name, STACK_UNCHANGED);
    return 0;
}

static int
plan_apps(struct planner *pl)
{
    json_t *root = json_loads(pl->live->apps_doc, 0, NULL);
    json_t *arr = json_object_get(root, "applications");

    if (!json_is_array(arr)) {
        json_decref(root);
        return err_set(pl->err, -EPROTO, "server: GET /v1/applications: unexpected answer");
    }
    for (size_t i = 0; i < pl->s->napps; i++) {
        const char *name = pl->s->apps[i].name;
        bool exists = false;

        for (size_t k = 0; k < json_array_size(arr) && !exists; k++) {
            const char *have = json_string_value(json_array_get(arr, k));

            exists = have != NULL && strcmp(have, name) == 0;
        }
        add_item(pl, STACK_APPLICATION, i, name, exists ? STACK_UNCHANGED : STACK_CREATE);
    }
    json_decref(root);
    return 0;
}

static void
diff_objects(json_t *want, json_t *have, struct buf *d)
{
    const char *key;
    json_t *v;

    json_object_foreach(want, key, v)
    {
        if (!json_equal(v, json_object_get(have, key)))
            differ(d, key);
    }
    json_object_foreach(have, key, v)
    {
        if (json_object_get(want, key) == NULL)
            differ(d, key);
    }
}

static int
plan_dgroup(struct planner *pl, size_t i)
{
    const struct stack_group *g = &pl->s->dgroups[i];
    const char *doc = pl->live->group_docs[i];
    struct stack_item *it;
    json_t *have, *want;
    struct buf name, d;

    buf_init(&name);
    buf_appendf(&name, "%s/%s", g->application, g->name);
    if (doc == NULL) {
        add_item(pl, STACK_DEPLOYMENT_GROUP, i, name.data, STACK_CREATE);
        buf_fini(&name);
        return 0;
    }
    if ((have = unwrap(doc, "deploymentGroupInfo")) == NULL) {
        buf_fini(&name);
        return err_set(pl->err, -EPROTO, "server: deployment group %s/%s: unexpected answer",
                       g->application, g->name);
    }
    json_object_del(have, "deploymentGroupId");
    want = json_loads(g->body, 0, NULL);
    it = add_item(pl, STACK_DEPLOYMENT_GROUP, i, name.data, STACK_UNCHANGED);
    buf_init(&d);
    diff_objects(want, have, &d);
    set_differs(pl, it, &d);
    buf_fini(&d);
    buf_fini(&name);
    json_decref(want);
    json_decref(have);
    return 0;
}

/* ---- the plan ---- */

static int
load_live_proxy(struct planner *pl)
{
    const struct stack_live *live = pl->live;
    struct err perr = {0};

    if (live->listeners_doc == NULL || live->groups_doc == NULL)
        return 0;
    if (proxy_api_listeners_parse(&pl->ls, live->listeners_doc, strlen(live->listeners_doc),
                                  &perr) != 0)
        return err_set(pl->err, -EPROTO, "proxy: GET /listeners: %s", perr.msg);
    if (proxy_api_groups_parse(&pl->gs, live->groups_doc, strlen(live->groups_doc), &perr) != 0)
        return err_set(pl->err, -EPROTO, "proxy: GET /target-groups: %s", perr.msg);
    pl->has_live_proxy = true;
    return 0;
}

static int
make(struct planner *pl)
{
    const struct stack *s = pl->s;

    TRY(load_live_proxy(pl));
    if (s->has_proxy && !pl->has_live_proxy)
        return err_set(pl->err, -EINVAL, "the stack has a proxy part but no live proxy state");
    for (size_t i = 0; i < s->nlisteners; i++)
        TRY(check_forward_refs(pl, &s->listeners[i]));
    for (size_t i = 0; i < s->ndgroups; i++)
        TRY(check_dgroup_refs(pl, &s->dgroups[i]));
    for (size_t i = 0; i < s->ngroups; i++)
        plan_target_group(pl, i);
    for (size_t i = 0; i < s->nlisteners; i++)
        plan_listener(pl, i);
    for (size_t i = 0; i < s->nconfigs; i++)
        TRY(plan_config(pl, i));
    if (s->napps > 0)
        TRY(plan_apps(pl));
    for (size_t i = 0; i < s->ndgroups; i++)
        TRY(plan_dgroup(pl, i));
    return 0;
}

int
stack_plan_make(const struct stack *s, const struct stack_live *live, bool reset_traffic,
                struct stack_plan *out, struct err *err)
{
    struct planner pl = {
        .s = s, .live = live, .reset_traffic = reset_traffic, .out = out, .err = err};
    size_t cap = s->ngroups + s->nlisteners + s->nconfigs + s->napps + s->ndgroups + 1;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 4096);
    out->items = arena_calloc(&out->arena, cap, sizeof(*out->items));
    if ((s->nconfigs > 0 && live->config_docs == NULL) ||
        (s->ndgroups > 0 && live->group_docs == NULL) || (s->napps > 0 && live->apps_doc == NULL))
        rc = err_set(err, -EINVAL, "the stack has a server part but no live server state");
    else
        rc = make(&pl);
    proxy_api_listeners_fini(&pl.ls);
    proxy_api_groups_fini(&pl.gs);
    if (rc != 0)
        stack_plan_fini(out);
    return rc;
}

void
stack_plan_fini(struct stack_plan *p)
{
    arena_fini(&p->arena);
    memset(p, 0, sizeof(*p));
}

/* ---- bodies ---- */

static json_t *
group_body(const struct stack_target_group *tg)
{
    const struct proxy_api_group *g = &tg->want;
    const struct proxy_api_health_check *h = &g->health_check;
    json_t *o = json_object(), *hc = json_object();

    json_object_set_new(o, "algorithm", json_util_string(g->algorithm));
    json_object_set_new(o, "deregistration_delay_ms",
                        json_integer((json_int_t)g->deregistration_delay_ms));
    json_object_set_new(hc, "path", json_util_string(h->path));
    json_object_set_new(hc, "port", json_integer(h->port));
    json_object_set_new(hc, "interval_ms", json_integer((json_int_t)h->interval_ms));
    json_object_set_new(hc, "timeout_ms", json_integer((json_int_t)h->timeout_ms));
    json_object_set_new(hc, "healthy_threshold", json_integer(h->healthy_threshold));
    json_object_set_new(hc, "unhealthy_threshold", json_integer(h->unhealthy_threshold));
    json_object_set_new(hc, "matcher", json_util_string(h->matcher));
    json_object_set_new(o, "health_check", hc);
    if (tg->has_targets) {
        json_t *arr = json_array();

        for (size_t i = 0; i < g->ntargets; i++)
            json_array_append_new(arr, json_util_string(g->targets[i]));
        json_object_set_new(o, "targets", arr);
    }
    return o;
}

static json_t *
listener_body(const struct stack_listener *l, bool send_forward)
{
    json_t *o = json_object();

    json_object_set_new(o, "bind", json_util_string(l->bind));
    if (send_forward) {
        json_t *arr = json_array();

        for (size_t i = 0; i < l->nforward; i++) {
            json_t *f = json_object();

            json_object_set_new(f, "target_group", json_util_string(l->forward[i].target_group));
            json_object_set_new(f, "weight", json_integer(l->forward[i].weight));
            json_array_append_new(arr, f);
        }
        json_object_set_new(o, "forward", arr);
    }
    return o;
}

char *
stack_plan_changes_format(const struct stack *s, const struct stack_plan *p)
{
    json_t *root, *tgs = json_object(), *ls = json_object();

    if (p->nproxy_changes == 0) {
        json_decref(tgs);
        json_decref(ls);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct stack_item *it = &p->items[i];

        if (it->action == STACK_UNCHANGED)
            continue;
        if (it->kind == STACK_TARGET_GROUP)
            json_object_set_new(tgs, it->name, group_body(&s->groups[it->index]));
        else if (it->kind == STACK_LISTENER)
            json_object_set_new(ls, it->name,
                                listener_body(&s->listeners[it->index], it->send_forward));
    }
    root = json_object();
    if (json_object_size(tgs) > 0)
        json_object_set(root, "target_groups", tgs);
    if (json_object_size(ls) > 0)
        json_object_set(root, "listeners", ls);
    json_decref(tgs);
    json_decref(ls);
    return json_util_dump(root);
}

char *
stack_plan_format(const struct stack_plan *p, const bool *applied, bool dry_run)
{
    json_t *root = json_object(), *arr = json_array();
    bool all = true;

    for (size_t i = 0; i < p->n; i++) {
        const struct stack_item *it = &p->items[i];
        json_t *o = json_object();

        json_object_set_new(o, "kind", json_string(kind_names[it->kind]));
        json_object_set_new(o, "name", json_util_string(it->name));
        json_object_set_new(o, "action", json_string(action_names[it->action]));
        if (it->differs != NULL)
            json_object_set_new(o, "differs", json_util_string(it->differs));
        if (it->note != NULL)
            json_object_set_new(o, "note", json_util_string(it->note));
        if (it->action != STACK_UNCHANGED) {
            bool done = applied != NULL && applied[i];

            json_object_set_new(o, "applied", json_boolean(done));
            all = all && done;
        }
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "plan", arr);
    json_object_set_new(root, "dry_run", json_boolean(dry_run));
    json_object_set_new(root, "changes", json_integer((json_int_t)(p->ncreate + p->nupdate)));
    json_object_set_new(root, "applied", json_boolean(!dry_run && all));
    return json_util_dump(root);
}
