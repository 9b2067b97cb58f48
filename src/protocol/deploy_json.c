/* SPDX-License-Identifier: ISC */
/* jansson helpers for the control plane codecs: every error names the JSON path. */
#include "protocol/deploy_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy.h"
#include "protocol/deploy_agent.h"

json_t *
deploy_json_load(const char *json, size_t len, const char *name, struct err *err)
{
    json_error_t je;
    json_t *v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);

    if (v == NULL) {
        err_set(err, -EINVAL, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(err, -EINVAL, "%s:1:1: expected a JSON object", name);
        return NULL;
    }
    return v;
}

int
deploy_json_strict(json_t *obj, const char *const *keys, size_t nkeys, const char *path,
                   struct err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool known = false;

        for (size_t i = 0; i < nkeys && !known; i++)
            known = strcmp(key, keys[i]) == 0;
        if (!known) {
            const char *near = str_closest(key, keys, nkeys);
            struct buf b;
            int rc;

            buf_init(&b);
            for (size_t i = 0; i < nkeys; i++)
                buf_appendf(&b, "%s%s", i ? ", " : "", keys[i]);
            if (near != NULL)
                rc = err_set(err, -EINVAL, "%s: unknown key '%s' (did you mean '%s'?)", path, key,
                             near);
            else
                rc = err_set(err, -EINVAL, "%s: unknown key '%s' (expected one of %s)", path, key,
                             b.data);
            buf_fini(&b);
            return rc;
        }
    }
    return 0;
}

int
deploy_json_str(json_t *obj, const char *key, bool required, struct arena *a, const char **out,
                const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            return err_set(err, -EINVAL, "%s.%s: missing (expected a string)", path, key);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "%s.%s: expected a string", path, key);
    *out = arena_strndup(a, json_string_value(v), json_string_length(v));
    return 0;
}

int
deploy_json_bool(json_t *obj, const char *key, bool *out, const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return err_set(err, -EINVAL, "%s.%s: expected true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

int
deploy_json_u32(json_t *obj, const char *key, uint32_t min, uint32_t max, uint32_t *out,
                const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);
    json_int_t i;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "%s.%s: expected an integer", path, key);
    i = json_integer_value(v);
    if (i < (json_int_t)min || i > (json_int_t)max)
        return err_set(err, -EINVAL, "%s.%s: %lld out of range (expected %u..%u)", path, key,
                       (long long)i, min, max);
    *out = (uint32_t)i;
    return 0;
}

int
deploy_json_int(json_t *obj, const char *key, int *out, const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);
    json_int_t i;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "%s.%s: expected an integer", path, key);
    i = json_integer_value(v);
    if (i < -1000000 || i > 1000000)
        return err_set(err, -EINVAL, "%s.%s: out of range", path, key);
    *out = (int)i;
    return 0;
}

int
deploy_json_time(json_t *obj, const char *key, int64_t *out, const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || deploy_time_parse(json_string_value(v), out) != 0)
        return err_set(err, -EINVAL, "%s.%s: expected an RFC 3339 time", path, key);
    return 0;
}

int
deploy_json_interval(json_t *obj, const char *key, uint64_t *out, const char *path, struct err *err)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t m = json_integer_value(v);

        if (m < 0 || m > 60 * 24 * 30)
            return err_set(err, -EINVAL, "%s.%s: %lld minutes out of range (expected 0..43200)",
                           path, key, (long long)m);
        *out = (uint64_t)m * 60000;
        return 0;
    }
    if (json_is_string(v) && str_parse_duration_ms(json_string_value(v), out) == 0)
        return 0;
    return err_set(err, -EINVAL,
                   "%s.%s: expected integer minutes or a duration such as \"20s\" or \"5m\"", path,
                   key);
}

static int
get_typed(json_t *obj, const char *key, json_t **out, bool want_array, const char *path,
          struct err *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (want_array ? !json_is_array(v) : !json_is_object(v))
        return err_set(err, -EINVAL, "%s.%s: expected %s", path, key,
                       want_array ? "an array" : "an object");
    *out = v;
    return 0;
}

int
deploy_json_obj(json_t *obj, const char *key, json_t **out, const char *path, struct err *err)
{
    return get_typed(obj, key, out, false, path, err);
}

int
deploy_json_arr(json_t *obj, const char *key, json_t **out, const char *path, struct err *err)
{
    return get_typed(obj, key, out, true, path, err);
}

json_t *
deploy_json_string(const char *s)
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    if (v == NULL && s != NULL) { /* not UTF-8 (a log tail may carry anything): mask high bytes */
        char *copy = mem_strdup(s);

        for (char *p = copy; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        v = json_string(copy);
        free(copy);
    }
    if (v == NULL)
        mem_oom();
    return v;
}

void
deploy_json_set(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        mem_oom();
}

void
deploy_json_set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL)
        deploy_json_set(obj, key, deploy_json_string(s));
}

void
deploy_json_set_time(json_t *obj, const char *key, int64_t ms)
{
    char t[DEPLOY_TIME_MAX];

    if (ms != 0)
        deploy_json_set(obj, key, json_string(deploy_time_format(ms, t)));
}

void
deploy_json_set_int(json_t *obj, const char *key, int64_t v)
{
    deploy_json_set(obj, key, json_integer((json_int_t)v));
}

void
deploy_json_set_bool(json_t *obj, const char *key, bool v)
{
    deploy_json_set(obj, key, json_boolean(v));
}

char *
deploy_json_dump(json_t *v)
{
    char *s;

    if (v == NULL)
        mem_oom();
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (s == NULL)
        mem_oom();
    return s;
}

int
deploy_json_diagnostics_parse(json_t *o, struct arena *a, struct deploy_diagnostics *d,
                              const char *path, struct err *err)
{
    int rc;

    d->exit_code = -1;
    if (o == NULL)
        return 0;
    if ((rc = deploy_json_str(o, "errorCode", false, a, &d->error_code, path, err)) ||
        (rc = deploy_json_str(o, "scriptName", false, a, &d->script_name, path, err)) ||
        (rc = deploy_json_str(o, "message", false, a, &d->message, path, err)) ||
        (rc = deploy_json_str(o, "logTail", false, a, &d->log_tail, path, err)) ||
        (rc = deploy_json_int(o, "exitCode", &d->exit_code, path, err)))
        return rc;
    return 0;
}

json_t *
deploy_json_diagnostics(const struct deploy_diagnostics *d)
{
    json_t *o = json_object();

    deploy_json_set_str(o, "errorCode", d->error_code);
    deploy_json_set_str(o, "scriptName", d->script_name);
    deploy_json_set_str(o, "message", d->message);
    deploy_json_set_str(o, "logTail", d->log_tail);
    if (d->exit_code >= 0)
        deploy_json_set_int(o, "exitCode", d->exit_code);
    return o;
}
