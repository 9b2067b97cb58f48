/* SPDX-License-Identifier: ISC */
/* JSON codecs of the proxy admin API over jansson. Requests (action, targets) are parsed
 * strictly: unknown fields are errors, so a typo never silently changes nothing. Responses
 * (health, listeners, groups) are parsed leniently: a newer proxy may add fields. */
#include "protocol/proxy_api.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/json_util.h"
#include "common/mem.h"

/* ---- encoding ---- */

static json_t *
jstr(const char *s) /* new reference */
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    if (v == NULL) /* not UTF-8: never from our own strings, but do not crash */
        v = json_string("?");
    if (v == NULL)
        mem_oom();
    return v;
}

static json_t *
health_json(const struct proxy_api_health *h) /* new reference */
{
    json_t *arr = json_array();

    for (size_t i = 0; i < h->ntargets; i++) {
        const struct proxy_api_target_health *t = &h->targets[i];
        json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o,s:I}", "target", jstr(t->target),
                                             "state", jstr(t->state), "reason", jstr(t->reason),
                                             "description", jstr(t->description), "in_flight",
                                             (json_int_t)t->in_flight));
    }
    return json_pack("{s:o,s:o}", "target_group", jstr(h->target_group), "targets", arr);
}

char *
proxy_api_health_format(const struct proxy_api_health *h)
{
    return json_util_dump(health_json(h));
}

static json_t *
forward_json(const struct proxy_api_action *a) /* new reference */
{
    json_t *arr = json_array();

    for (size_t i = 0; i < a->nforward; i++)
        json_array_append_new(arr, json_pack("{s:o,s:I}", "target_group",
                                             jstr(a->forward[i].target_group), "weight",
                                             (json_int_t)a->forward[i].weight));
    return arr;
}

char *
proxy_api_action_format(const struct proxy_api_action *a)
{
    return json_util_dump(json_pack("{s:o}", "forward", forward_json(a)));
}

static json_t *
listener_json(const struct proxy_api_listener *l) /* new reference */
{
    return json_pack("{s:o,s:o,s:o}", "name", jstr(l->name), "bind", jstr(l->bind), "forward",
                     forward_json(&l->action));
}

char *
proxy_api_listener_format(const struct proxy_api_listener *l)
{
    return json_util_dump(listener_json(l));
}

char *
proxy_api_listeners_format(const struct proxy_api_listeners *ls)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < ls->n; i++)
        json_array_append_new(arr, listener_json(&ls->items[i]));
    return json_util_dump(json_pack("{s:o}", "listeners", arr));
}

static json_t *
strings_json(const char *const *v, size_t n) /* new reference */
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, jstr(v[i]));
    return arr;
}

static json_t *
group_json(const struct proxy_api_group *g) /* new reference */
{
    const struct proxy_api_health_check *hc = &g->health_check;
    json_t *h = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:o}", "path", jstr(hc->path), "port",
                          (json_int_t)hc->port, "interval_ms", (json_int_t)hc->interval_ms,
                          "timeout_ms", (json_int_t)hc->timeout_ms, "healthy_threshold",
                          (json_int_t)hc->healthy_threshold, "unhealthy_threshold",
                          (json_int_t)hc->unhealthy_threshold, "matcher", jstr(hc->matcher));

    return json_pack("{s:o,s:o,s:I,s:o,s:o}", "name", jstr(g->name), "algorithm",
                     jstr(g->algorithm), "deregistration_delay_ms",
                     (json_int_t)g->deregistration_delay_ms, "health_check", h, "targets",
                     strings_json(g->targets, g->ntargets));
}

char *
proxy_api_group_format(const struct proxy_api_group *g)
{
    return json_util_dump(group_json(g));
}

char *
proxy_api_groups_format(const struct proxy_api_groups *gs)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < gs->n; i++)
        json_array_append_new(arr, group_json(&gs->items[i]));
    return json_util_dump(json_pack("{s:o}", "target_groups", arr));
}

char *
proxy_api_targets_format(const struct proxy_api_targets *t)
{
    return json_util_dump(json_pack("{s:o}", "targets", strings_json(t->targets, t->ntargets)));
}

char *
proxy_api_error_format(const char *message)
{
    return json_util_dump(json_pack("{s:o}", "error", jstr(message)));
}

/* ---- decoding ---- */

#define ARENA_CHUNK 1024

static json_t *
load(const char *text, size_t len, struct err *err) /* new reference or NULL */
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);

    if (v == NULL) {
        err_set(err, -EINVAL, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(err, -EINVAL, "expected a JSON object");
        return NULL;
    }
    return v;
}

/* Unknown keys are errors in requests. */
static int
check_keys(json_t *obj, const char *path, const char *const *allowed, struct err *err)
{
    const char *key;
    json_t *val; /* borrowed */

    json_object_foreach(obj, key, val)
    {
        bool ok = false;
        (void)val;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return err_set(err, -EINVAL, "%s%sunknown field '%s'", path, *path ? ": " : "", key);
    }
    return 0;
}

static int
get_string(struct arena *a, json_t *obj, const char *key, const char *path, bool nullable,
           const char **out, struct err *err)
{
    json_t *v = json_object_get(obj, key); /* borrowed */

    *out = NULL;
    if ((v == NULL || json_is_null(v)) && nullable)
        return 0;
    if (!json_is_string(v) || (!nullable && json_string_length(v) == 0))
        return err_set(err, -EINVAL, "%s%s%s: expected a non-empty string", path, *path ? "." : "",
                       key);
    *out = arena_strdup(a, json_string_value(v));
    return 0;
}

static int
get_uint(json_t *obj, const char *key, const char *path, uint64_t max, uint64_t *out,
         struct err *err)
{
    json_t *v = json_object_get(obj, key); /* borrowed */

    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return err_set(err, -EINVAL, "%s%s%s: expected an integer 0..%llu", path, *path ? "." : "",
                       key, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static json_t *
get_array(json_t *obj, const char *key, bool nonempty, struct err *err) /* borrowed or NULL */
{
    json_t *v = json_object_get(obj, key); /* borrowed */

    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) {
        err_set(err, -EINVAL, "%s: expected %s array", key, nonempty ? "a non-empty" : "an");
        return NULL;
    }
    return v;
}

static int
parse_strings(struct arena *a, json_t *arr, const char *key, const char ***out, size_t *n,
              struct err *err)
{
    size_t count = json_array_size(arr);
    const char **v = arena_calloc(a, count + 1, sizeof(*v));

    for (size_t i = 0; i < count; i++) {
        json_t *s = json_array_get(arr, i); /* borrowed */
        if (!json_is_string(s) || json_string_length(s) == 0)
            return err_set(err, -EINVAL, "%s[%zu]: expected a non-empty string", key, i);
        v[i] = arena_strdup(a, json_string_value(s));
    }
    *out = v;
    *n = count;
    return 0;
}

static int
parse_forward(struct arena *a, json_t *arr, bool strict, struct proxy_api_action *out,
              struct err *err)
{
    static const char *const keys[] = {"target_group", "weight", NULL};
    size_t n = json_array_size(arr);
    char path[32];
    uint64_t w;

    out->forward = arena_calloc(a, n + 1, sizeof(*out->forward));
    out->nforward = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i); /* borrowed */
        snprintf(path, sizeof(path), "forward[%zu]", i);
        if (!json_is_object(e))
            return err_set(err, -EINVAL, "%s: expected an object", path);
        if (strict && check_keys(e, path, keys, err) < 0)
            return -EINVAL;
        if (get_string(a, e, "target_group", path, false, &out->forward[i].target_group, err) < 0 ||
            get_uint(e, "weight", path, PROXY_API_MAX_WEIGHT, &w, err) < 0)
            return -EINVAL;
        out->forward[i].weight = (uint32_t)w;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(out->forward[k].target_group, out->forward[i].target_group) == 0)
                return err_set(err, -EINVAL, "%s.target_group: '%s' appears twice", path,
                               out->forward[i].target_group);
        }
    }
    return 0;
}

/* Loads <text>, runs <fn> over the root object with a fresh arena in *a; on failure the arena
 * is freed and *a zeroed. */
static int
decode(struct arena *a, const char *text, size_t len, struct err *err,
       int (*fn)(struct arena *a, json_t *root, void *out, struct err *err), void *out)
{
    json_t *root = load(text, len, err); /* new */
    int rc;

    arena_init(a, ARENA_CHUNK);
    if (root == NULL)
        return -EINVAL;
    rc = fn(a, root, out, err);
    json_decref(root);
    if (rc < 0)
        arena_fini(a);
    return rc;
}

static int
decode_action(struct arena *a, json_t *root, void *out, struct err *err)
{
    static const char *const keys[] = {"forward", NULL};
    json_t *arr; /* borrowed */

    if (check_keys(root, "", keys, err) < 0 ||
        (arr = get_array(root, "forward", true, err)) == NULL)
        return -EINVAL;
    return parse_forward(a, arr, true, out, err);
}

int
proxy_api_action_parse(struct proxy_api_action *out, const char *text, size_t len, struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_action, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_action_fini(struct proxy_api_action *a)
{
    arena_fini(&a->arena);
    memset(a, 0, sizeof(*a));
}

static int
decode_targets(struct arena *a, json_t *root, void *out, struct err *err)
{
    static const char *const keys[] = {"targets", NULL};
    struct proxy_api_targets *t = out;
    json_t *arr; /* borrowed */

    if (check_keys(root, "", keys, err) < 0 ||
        (arr = get_array(root, "targets", true, err)) == NULL)
        return -EINVAL;
    return parse_strings(a, arr, "targets", &t->targets, &t->ntargets, err);
}

int
proxy_api_targets_parse(struct proxy_api_targets *out, const char *text, size_t len,
                        struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_targets, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_targets_fini(struct proxy_api_targets *t)
{
    arena_fini(&t->arena);
    memset(t, 0, sizeof(*t));
}

static int
parse_target_health(struct arena *a, json_t *e, size_t i, struct proxy_api_target_health *t,
                    struct err *err)
{
    char path[32];
    uint64_t n;

    snprintf(path, sizeof(path), "targets[%zu]", i);
    if (!json_is_object(e))
        return err_set(err, -EINVAL, "%s: expected an object", path);
    if (get_string(a, e, "target", path, false, &t->target, err) < 0 ||
        get_string(a, e, "state", path, false, &t->state, err) < 0 ||
        get_string(a, e, "reason", path, true, &t->reason, err) < 0 ||
        get_string(a, e, "description", path, true, &t->description, err) < 0 ||
        get_uint(e, "in_flight", path, UINT32_MAX, &n, err) < 0)
        return -EINVAL;
    t->in_flight = (uint32_t)n;
    return 0;
}

static int
decode_health(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct proxy_api_health *h = out;
    json_t *arr; /* borrowed */

    if (get_string(a, root, "target_group", "", false, &h->target_group, err) < 0 ||
        (arr = get_array(root, "targets", false, err)) == NULL)
        return -EINVAL;
    h->ntargets = json_array_size(arr);
    h->targets = arena_calloc(a, h->ntargets + 1, sizeof(*h->targets));
    for (size_t i = 0; i < h->ntargets; i++) {
        if (parse_target_health(a, json_array_get(arr, i), i, &h->targets[i], err) < 0)
            return -EINVAL;
    }
    return 0;
}

int
proxy_api_health_parse(struct proxy_api_health *out, const char *text, size_t len, struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_health, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_health_fini(struct proxy_api_health *h)
{
    arena_fini(&h->arena);
    memset(h, 0, sizeof(*h));
}

static int
parse_listener_obj(struct arena *a, json_t *obj, struct proxy_api_listener *out, struct err *err)
{
    json_t *arr; /* borrowed */

    if (!json_is_object(obj))
        return err_set(err, -EINVAL, "listener: expected an object");
    if (get_string(a, obj, "name", "", false, &out->name, err) < 0 ||
        get_string(a, obj, "bind", "", false, &out->bind, err) < 0 ||
        (arr = get_array(obj, "forward", false, err)) == NULL)
        return -EINVAL;
    return parse_forward(a, arr, false, &out->action, err);
}

static int
decode_listener(struct arena *a, json_t *root, void *out, struct err *err)
{
    return parse_listener_obj(a, root, out, err);
}

int
proxy_api_listener_parse(struct proxy_api_listener *out, const char *text, size_t len,
                         struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_listener, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_listener_fini(struct proxy_api_listener *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

static int
decode_listeners(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct proxy_api_listeners *ls = out;
    json_t *arr = get_array(root, "listeners", false, err); /* borrowed */

    if (arr == NULL)
        return -EINVAL;
    ls->n = json_array_size(arr);
    ls->items = arena_calloc(a, ls->n + 1, sizeof(*ls->items));
    for (size_t i = 0; i < ls->n; i++) {
        if (parse_listener_obj(a, json_array_get(arr, i), &ls->items[i], err) < 0)
            return -EINVAL;
    }
    return 0;
}

int
proxy_api_listeners_parse(struct proxy_api_listeners *out, const char *text, size_t len,
                          struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_listeners, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_listeners_fini(struct proxy_api_listeners *ls)
{
    arena_fini(&ls->arena);
    memset(ls, 0, sizeof(*ls));
}

static int
parse_health_check(struct arena *a, json_t *obj, struct proxy_api_health_check *hc, struct err *err)
{
    const char *p = "health_check";
    uint64_t port, healthy, unhealthy;

    if (!json_is_object(obj))
        return err_set(err, -EINVAL, "health_check: expected an object");
    if (get_string(a, obj, "path", p, false, &hc->path, err) < 0 ||
        get_string(a, obj, "matcher", p, false, &hc->matcher, err) < 0 ||
        get_uint(obj, "port", p, 65535, &port, err) < 0 ||
        get_uint(obj, "interval_ms", p, UINT64_MAX / 2, &hc->interval_ms, err) < 0 ||
        get_uint(obj, "timeout_ms", p, UINT64_MAX / 2, &hc->timeout_ms, err) < 0 ||
        get_uint(obj, "healthy_threshold", p, UINT32_MAX, &healthy, err) < 0 ||
        get_uint(obj, "unhealthy_threshold", p, UINT32_MAX, &unhealthy, err) < 0)
        return -EINVAL;
    hc->port = (uint32_t)port;
    hc->healthy_threshold = (uint32_t)healthy;
    hc->unhealthy_threshold = (uint32_t)unhealthy;
    return 0;
}

static int
parse_group_obj(struct arena *a, json_t *obj, struct proxy_api_group *g, struct err *err)
{
    json_t *arr; /* borrowed */

    if (!json_is_object(obj))
        return err_set(err, -EINVAL, "target group: expected an object");
    if (get_string(a, obj, "name", "", false, &g->name, err) < 0 ||
        get_string(a, obj, "algorithm", "", false, &g->algorithm, err) < 0 ||
        get_uint(obj, "deregistration_delay_ms", "", UINT64_MAX / 2, &g->deregistration_delay_ms,
                 err) < 0 ||
        parse_health_check(a, json_object_get(obj, "health_check"), &g->health_check, err) < 0 ||
        (arr = get_array(obj, "targets", false, err)) == NULL)
        return -EINVAL;
    return parse_strings(a, arr, "targets", &g->targets, &g->ntargets, err);
}

static int
decode_groups(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct proxy_api_groups *gs = out;
    json_t *arr = get_array(root, "target_groups", false, err); /* borrowed */

    if (arr == NULL)
        return -EINVAL;
    gs->n = json_array_size(arr);
    gs->items = arena_calloc(a, gs->n + 1, sizeof(*gs->items));
    for (size_t i = 0; i < gs->n; i++) {
        if (parse_group_obj(a, json_array_get(arr, i), &gs->items[i], err) < 0)
            return -EINVAL;
    }
    return 0;
}

int
proxy_api_groups_parse(struct proxy_api_groups *out, const char *text, size_t len, struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_groups, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

static int
decode_group(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct proxy_api_groups *gs = out;

    gs->n = 1;
    gs->items = arena_calloc(a, 2, sizeof(*gs->items));
    return parse_group_obj(a, root, &gs->items[0], err);
}

int
proxy_api_group_parse(struct proxy_api_groups *out, const char *text, size_t len, struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_group, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_groups_fini(struct proxy_api_groups *gs)
{
    arena_fini(&gs->arena);
    memset(gs, 0, sizeof(*gs));
}

char *
proxy_api_error_parse(const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, 0, NULL); /* new */
    json_t *msg;                                   /* borrowed */
    char *out = NULL;

    if (root == NULL)
        return NULL;
    msg = json_object_get(root, "error");
    if (json_is_string(msg))
        out = mem_strdup(json_string_value(msg));
    json_decref(root);
    return out;
}

/* ---- declarative changes ---- */

static json_t *
group_spec_json(const struct proxy_api_group_spec *g) /* new reference */
{
    const struct proxy_api_health_check *hc = &g->health_check;
    json_t *o = json_object();

    if (g->algorithm != NULL)
        json_object_set_new(o, "algorithm", jstr(g->algorithm));
    if (g->has_deregistration_delay)
        json_object_set_new(o, "deregistration_delay_ms",
                            json_integer((json_int_t)g->deregistration_delay_ms));
    if (g->health_set != 0) {
        json_t *h = json_object();
        if (g->health_set & PROXY_API_HC_PATH)
            json_object_set_new(h, "path", jstr(hc->path));
        if (g->health_set & PROXY_API_HC_PORT)
            json_object_set_new(h, "port", json_integer((json_int_t)hc->port));
        if (g->health_set & PROXY_API_HC_INTERVAL)
            json_object_set_new(h, "interval_ms", json_integer((json_int_t)hc->interval_ms));
        if (g->health_set & PROXY_API_HC_TIMEOUT)
            json_object_set_new(h, "timeout_ms", json_integer((json_int_t)hc->timeout_ms));
        if (g->health_set & PROXY_API_HC_HEALTHY)
            json_object_set_new(h, "healthy_threshold",
                                json_integer((json_int_t)hc->healthy_threshold));
        if (g->health_set & PROXY_API_HC_UNHEALTHY)
            json_object_set_new(h, "unhealthy_threshold",
                                json_integer((json_int_t)hc->unhealthy_threshold));
        if (g->health_set & PROXY_API_HC_MATCHER)
            json_object_set_new(h, "matcher", jstr(hc->matcher));
        json_object_set_new(o, "health_check", h);
    }
    if (g->has_targets)
        json_object_set_new(o, "targets", strings_json(g->targets, g->ntargets));
    return o;
}

static json_t *
listener_spec_json(const struct proxy_api_listener_spec *l) /* new reference */
{
    json_t *o = json_object();

    if (l->bind != NULL)
        json_object_set_new(o, "bind", jstr(l->bind));
    if (l->has_forward)
        json_object_set_new(o, "forward", forward_json(&l->action));
    return o;
}

char *
proxy_api_group_spec_format(const struct proxy_api_group_spec *g)
{
    return json_util_dump(group_spec_json(g));
}

char *
proxy_api_listener_spec_format(const struct proxy_api_listener_spec *l)
{
    return json_util_dump(listener_spec_json(l));
}

char *
proxy_api_changes_format(const struct proxy_api_changes *ch)
{
    json_t *o = json_object(), *gs = json_object(), *ls = json_object();

    for (size_t i = 0; i < ch->ngroups; i++)
        json_object_set_new(gs, ch->groups[i].name, group_spec_json(&ch->groups[i]));
    for (size_t i = 0; i < ch->nlisteners; i++)
        json_object_set_new(ls, ch->listeners[i].name, listener_spec_json(&ch->listeners[i]));
    json_object_set_new(o, "target_groups", gs);
    json_object_set_new(o, "listeners", ls);
    json_object_set_new(o, "delete_listeners",
                        strings_json(ch->delete_listeners, ch->ndelete_listeners));
    json_object_set_new(o, "delete_target_groups",
                        strings_json(ch->delete_groups, ch->ndelete_groups));
    return json_util_dump(o);
}

char *
proxy_api_state_format(const struct proxy_api_listeners *ls, const struct proxy_api_groups *gs)
{
    json_t *la = json_array(), *ga = json_array();

    for (size_t i = 0; i < ls->n; i++)
        json_array_append_new(la, listener_json(&ls->items[i]));
    for (size_t i = 0; i < gs->n; i++)
        json_array_append_new(ga, group_json(&gs->items[i]));
    return json_util_dump(json_pack("{s:o,s:o}", "listeners", la, "target_groups", ga));
}

/* "<prefix>.<key>" or "<key>" into <buf>. */
static const char *
field(char *buf, size_t size, const char *prefix, const char *key)
{
    snprintf(buf, size, "%s%s%s", prefix, *prefix ? "." : "", key);
    return buf;
}

static int
spec_string(struct arena *a, json_t *v, const char *path, const char **out, struct err *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return err_set(err, -EINVAL, "%s: expected a non-empty string", path);
    *out = arena_strdup(a, json_string_value(v));
    return 0;
}

static int
spec_uint(json_t *v, const char *path, uint64_t max, uint64_t *out, struct err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return err_set(err, -EINVAL, "%s: expected an integer 0..%llu", path,
                       (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int
spec_check_keys(json_t *obj, const char *path, const char *const *allowed, struct err *err)
{
    if (!json_is_object(obj))
        return err_set(err, -EINVAL, "%s: expected an object", *path ? path : "the body");
    return check_keys(obj, path, allowed, err);
}

/* A body may repeat its name (as GET documents carry it); it must be the one it is put as. */
static int
check_name(json_t *obj, const char *prefix, const char *name, const char *what, struct err *err)
{
    json_t *v = json_object_get(obj, "name"); /* borrowed */
    char fp[320];

    if (v == NULL)
        return 0;
    field(fp, sizeof(fp), prefix, "name");
    if (!json_is_string(v) || strcmp(json_string_value(v), name) != 0)
        return err_set(err, -EINVAL, "%s: expected \"%s\", the %s's name", fp, name, what);
    return 0;
}

static int
parse_health_spec(struct arena *a, json_t *obj, const char *prefix, struct proxy_api_group_spec *g,
                  struct err *err)
{
    static const char *const keys[] = {
        "path",    "port", "interval_ms", "timeout_ms", "healthy_threshold", "unhealthy_threshold",
        "matcher", NULL};
    struct proxy_api_health_check *hc = &g->health_check;
    char path[256], fp[320];
    const char *key;
    json_t *v; /* borrowed */
    uint64_t n;

    field(path, sizeof(path), prefix, "health_check");
    if (spec_check_keys(obj, path, keys, err) < 0)
        return -EINVAL;
    json_object_foreach(obj, key, v)
    {
        field(fp, sizeof(fp), path, key);
        if (strcmp(key, "path") == 0) {
            if (spec_string(a, v, fp, &hc->path, err) < 0)
                return -EINVAL;
            g->health_set |= PROXY_API_HC_PATH;
        } else if (strcmp(key, "matcher") == 0) {
            if (spec_string(a, v, fp, &hc->matcher, err) < 0)
                return -EINVAL;
            g->health_set |= PROXY_API_HC_MATCHER;
        } else if (strcmp(key, "port") == 0) {
            if (spec_uint(v, fp, 65535, &n, err) < 0)
                return -EINVAL;
            hc->port = (uint32_t)n;
            g->health_set |= PROXY_API_HC_PORT;
        } else if (strcmp(key, "interval_ms") == 0) {
            if (spec_uint(v, fp, UINT32_MAX, &hc->interval_ms, err) < 0)
                return -EINVAL;
            g->health_set |= PROXY_API_HC_INTERVAL;
        } else if (strcmp(key, "timeout_ms") == 0) {
            if (spec_uint(v, fp, UINT32_MAX, &hc->timeout_ms, err) < 0)
                return -EINVAL;
            g->health_set |= PROXY_API_HC_TIMEOUT;
        } else if (strcmp(key, "healthy_threshold") == 0) {
            if (spec_uint(v, fp, UINT32_MAX, &n, err) < 0)
                return -EINVAL;
            hc->healthy_threshold = (uint32_t)n;
            g->health_set |= PROXY_API_HC_HEALTHY;
        } else {
            if (spec_uint(v, fp, UINT32_MAX, &n, err) < 0)
                return -EINVAL;
            hc->unhealthy_threshold = (uint32_t)n;
            g->health_set |= PROXY_API_HC_UNHEALTHY;
        }
    }
    return 0;
}

static int
spec_strings(struct arena *a, json_t *arr, const char *path, const char ***out, size_t *n,
             struct err *err)
{
    size_t count = json_array_size(arr);
    const char **v;

    if (!json_is_array(arr))
        return err_set(err, -EINVAL, "%s: expected an array of strings", path);
    v = arena_calloc(a, count + 1, sizeof(*v));
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_array_get(arr, i); /* borrowed */
        if (!json_is_string(s) || json_string_length(s) == 0)
            return err_set(err, -EINVAL, "%s[%zu]: expected a non-empty string", path, i);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(v[k], json_string_value(s)) == 0)
                return err_set(err, -EINVAL, "%s[%zu]: '%s' appears twice", path, i, v[k]);
        }
        v[i] = arena_strdup(a, json_string_value(s));
    }
    *out = v;
    *n = count;
    return 0;
}

static int
parse_group_spec(struct arena *a, json_t *obj, const char *prefix, struct proxy_api_group_spec *g,
                 struct err *err)
{
    static const char *const keys[] = {"name",         "algorithm", "deregistration_delay_ms",
                                       "health_check", "targets",   NULL};
    char fp[320];
    json_t *v; /* borrowed */

    if (spec_check_keys(obj, prefix, keys, err) < 0 ||
        check_name(obj, prefix, g->name, "target group", err) < 0)
        return -EINVAL;
    if ((v = json_object_get(obj, "algorithm")) != NULL &&
        spec_string(a, v, field(fp, sizeof(fp), prefix, "algorithm"), &g->algorithm, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(obj, "deregistration_delay_ms")) != NULL) {
        if (spec_uint(v, field(fp, sizeof(fp), prefix, "deregistration_delay_ms"), UINT32_MAX,
                      &g->deregistration_delay_ms, err) < 0)
            return -EINVAL;
        g->has_deregistration_delay = true;
    }
    if ((v = json_object_get(obj, "health_check")) != NULL &&
        parse_health_spec(a, v, prefix, g, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(obj, "targets")) != NULL) {
        if (spec_strings(a, v, field(fp, sizeof(fp), prefix, "targets"), &g->targets, &g->ntargets,
                         err) < 0)
            return -EINVAL;
        g->has_targets = true;
    }
    return 0;
}

static int
parse_listener_spec(struct arena *a, json_t *obj, const char *prefix,
                    struct proxy_api_listener_spec *l, struct err *err)
{
    static const char *const keys[] = {"name", "bind", "forward", NULL};
    char fp[320];
    json_t *v; /* borrowed */
    int rc;

    if (spec_check_keys(obj, prefix, keys, err) < 0 ||
        check_name(obj, prefix, l->name, "listener", err) < 0)
        return -EINVAL;
    if ((v = json_object_get(obj, "bind")) != NULL &&
        spec_string(a, v, field(fp, sizeof(fp), prefix, "bind"), &l->bind, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(obj, "forward")) == NULL)
        return 0;
    field(fp, sizeof(fp), prefix, "forward");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return err_set(err, -EINVAL, "%s: expected a non-empty array", fp);
    l->has_forward = true;
    rc = parse_forward(a, v, true, &l->action, err);
    if (rc < 0 && *prefix) { /* "forward[1].weight: …" → "listeners.web.forward[1].weight: …" */
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        err_set(err, rc, "%s.%s", prefix, msg);
    }
    return rc;
}

/* Object of NAME → spec, in document order. */
static int
parse_spec_map(struct arena *a, json_t *obj, const char *what, bool groups,
               struct proxy_api_changes *ch, struct err *err)
{
    size_t n;
    const char *key;
    json_t *v; /* borrowed */
    char prefix[256];

    if (!json_is_object(obj))
        return err_set(err, -EINVAL, "%s: expected an object of NAME: {…}", what);
    n = json_object_size(obj);
    if (groups)
        ch->groups = arena_calloc(a, n + 1, sizeof(*ch->groups));
    else
        ch->listeners = arena_calloc(a, n + 1, sizeof(*ch->listeners));
    json_object_foreach(obj, key, v)
    {
        snprintf(prefix, sizeof(prefix), "%s.%s", what, key);
        if (groups) {
            struct proxy_api_group_spec *g = &ch->groups[ch->ngroups++];
            g->name = arena_strdup(a, key);
            if (parse_group_spec(a, v, prefix, g, err) < 0)
                return -EINVAL;
        } else {
            struct proxy_api_listener_spec *l = &ch->listeners[ch->nlisteners++];
            l->name = arena_strdup(a, key);
            if (parse_listener_spec(a, v, prefix, l, err) < 0)
                return -EINVAL;
        }
    }
    return 0;
}

static int
decode_changes(struct arena *a, json_t *root, void *out, struct err *err)
{
    static const char *const keys[] = {"target_groups", "listeners", "delete_listeners",
                                       "delete_target_groups", NULL};
    struct proxy_api_changes *ch = out;
    json_t *v; /* borrowed */

    if (check_keys(root, "", keys, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(root, "target_groups")) != NULL &&
        parse_spec_map(a, v, "target_groups", true, ch, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(root, "listeners")) != NULL &&
        parse_spec_map(a, v, "listeners", false, ch, err) < 0)
        return -EINVAL;
    if ((v = json_object_get(root, "delete_listeners")) != NULL &&
        spec_strings(a, v, "delete_listeners", &ch->delete_listeners, &ch->ndelete_listeners, err) <
            0)
        return -EINVAL;
    if ((v = json_object_get(root, "delete_target_groups")) != NULL &&
        spec_strings(a, v, "delete_target_groups", &ch->delete_groups, &ch->ndelete_groups, err) <
            0)
        return -EINVAL;
    return 0;
}

int
proxy_api_changes_parse(struct proxy_api_changes *out, const char *text, size_t len,
                        struct err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_changes, out)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

struct put_ctx {
    struct proxy_api_changes *ch;
    const char *name;
};

static int
decode_group_put(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct put_ctx *p = out;

    p->ch->groups = arena_calloc(a, 1, sizeof(*p->ch->groups));
    p->ch->ngroups = 1;
    p->ch->groups[0].name = arena_strdup(a, p->name);
    return parse_group_spec(a, root, "", &p->ch->groups[0], err);
}

static int
decode_listener_put(struct arena *a, json_t *root, void *out, struct err *err)
{
    struct put_ctx *p = out;

    p->ch->listeners = arena_calloc(a, 1, sizeof(*p->ch->listeners));
    p->ch->nlisteners = 1;
    p->ch->listeners[0].name = arena_strdup(a, p->name);
    return parse_listener_spec(a, root, "", &p->ch->listeners[0], err);
}

int
proxy_api_group_put_parse(struct proxy_api_changes *out, const char *name, const char *text,
                          size_t len, struct err *err)
{
    struct put_ctx p = {out, name};
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_group_put, &p)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int
proxy_api_listener_put_parse(struct proxy_api_changes *out, const char *name, const char *text,
                             size_t len, struct err *err)
{
    struct put_ctx p = {out, name};
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = decode(&out->arena, text, len, err, decode_listener_put, &p)) < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void
proxy_api_changes_fini(struct proxy_api_changes *ch)
{
    arena_fini(&ch->arena);
    memset(ch, 0, sizeof(*ch));
}

bool
proxy_api_valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > PROXY_API_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}
