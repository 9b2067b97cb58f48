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
