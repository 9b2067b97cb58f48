/* SPDX-License-Identifier: ISC */
/* JSON codecs for the supervisor control protocol; see apps_msg.h. */
#include "protocol/apps_msg.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"

char *
apps_msg_request_encode(const struct apps_msg_request *req)
{
    json_t *o = json_object();
    char *s;

    json_object_set_new(o, "cmd", json_string(req->cmd));
    if (req->app[0] != '\0')
        json_object_set_new(o, "app", json_string(req->app));
    if (req->parallel != 0)
        json_object_set_new(o, "parallel", json_integer(req->parallel));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL)
        mem_oom();
    return s;
}

static int
copy_field(json_t *o, const char *key, char *dst, size_t size, bool required, struct err *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        dst[0] = '\0';
        return required ? err_set(err, -EINVAL, "missing \"%s\" (expected a string)", key) : 0;
    }
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "\"%s\" is not a string (expected a string)", key);
    if (str_copy(dst, json_string_value(v), size) >= size)
        return err_set(err, -EINVAL, "\"%s\" is too long (expected < %zu bytes)", key, size);
    return 0;
}

static json_t *
parse_object(const char *text, struct err *err)
{
    json_error_t je;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);

    if (o == NULL) {
        err_set(err, -EINVAL, "bad JSON at %d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        err_set(err, -EINVAL, "not a JSON object (expected {...})");
        return NULL;
    }
    return o;
}

int
apps_msg_request_decode(struct apps_msg_request *out, const char *text, struct err *err)
{
    json_t *o = parse_object(text, err), *v;
    int rc;

    if (o == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if ((rc = copy_field(o, "cmd", out->cmd, sizeof(out->cmd), true, err)) != 0 ||
        (rc = copy_field(o, "app", out->app, sizeof(out->app), false, err)) != 0)
        goto done;
    v = json_object_get(o, "parallel");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1024) {
            rc = err_set(err, -EINVAL, "\"parallel\" must be an integer from 1 to 1024");
            goto done;
        }
        out->parallel = (uint32_t)json_integer_value(v);
    }
done:
    json_decref(o);
    return rc;
}

static json_t *
worker_to_json(const struct apps_msg_worker *w)
{
    json_t *o = json_object();

    json_object_set_new(o, "app", json_string(w->app));
    json_object_set_new(o, "index", json_integer(w->index));
    json_object_set_new(o, "pid", json_integer(w->pid));
    json_object_set_new(o, "state", json_string(w->state));
    json_object_set_new(o, "restarts", json_integer(w->restarts));
    json_object_set_new(o, "uptime_s", json_real(w->uptime_s));
    json_object_set_new(o, "started_at", json_real(w->started_at));
    json_object_set_new(o, "rss_bytes", json_integer((json_int_t)w->rss_bytes));
    json_object_set_new(o, "cpu_pct", json_real(w->cpu_pct));
    json_object_set_new(o, "generation", json_integer(w->generation));
    json_object_set_new(o, "exit_code", json_integer(w->exit_code));
    json_object_set_new(o, "exit_signal", json_integer(w->exit_signal));
    json_object_set_new(o, "log_out", w->log_out[0] ? json_string(w->log_out) : json_null());
    json_object_set_new(o, "log_err", w->log_err[0] ? json_string(w->log_err) : json_null());
    return o;
}

static json_t *
workers_to_json(const struct apps_msg_reply *rep)
{
    json_t *a = json_array();

    for (size_t i = 0; i < rep->nworkers; i++)
        json_array_append_new(a, worker_to_json(&rep->workers[i]));
    return a;
}

static char *
dump(json_t *o, size_t flags)
{
    char *s = json_dumps(o, flags);

    json_decref(o);
    if (s == NULL)
        mem_oom();
    return s;
}

char *
apps_msg_reply_encode(const struct apps_msg_reply *rep)
{
    json_t *o = json_object();

    json_object_set_new(o, "ok", json_boolean(rep->ok));
    if (rep->error != NULL)
        json_object_set_new(o, "error", json_string(rep->error));
    if (rep->failed_worker != NULL)
        json_object_set_new(o, "failed_worker", json_string(rep->failed_worker));
    if (rep->log_tail != NULL)
        json_object_set_new(o, "log_tail", json_string(rep->log_tail));
    json_object_set_new(o, "workers", workers_to_json(rep));
    return dump(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
}

char *
apps_msg_workers_encode_pretty(const struct apps_msg_reply *rep)
{
    return dump(workers_to_json(rep), JSON_INDENT(2) | JSON_REAL_PRECISION(6));
}

static int
get_int(json_t *o, const char *key, json_int_t *out, struct err *err)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "\"%s\" is not an integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int
worker_from_json(json_t *o, struct apps_msg_worker *w, struct err *err)
{
    json_int_t index = 0, pid = 0, restarts = 0, rss = 0, gen = 0, code = -1, sig = 0;
    int rc;

    if (!json_is_object(o))
        return err_set(err, -EINVAL, "worker is not an object");
    if ((rc = copy_field(o, "app", w->app, sizeof(w->app), true, err)) != 0 ||
        (rc = copy_field(o, "state", w->state, sizeof(w->state), true, err)) != 0 ||
        (rc = copy_field(o, "log_out", w->log_out, sizeof(w->log_out), false, err)) != 0 ||
        (rc = copy_field(o, "log_err", w->log_err, sizeof(w->log_err), false, err)) != 0 ||
        (rc = get_int(o, "index", &index, err)) != 0 || (rc = get_int(o, "pid", &pid, err)) != 0 ||
        (rc = get_int(o, "restarts", &restarts, err)) != 0 ||
        (rc = get_int(o, "rss_bytes", &rss, err)) != 0 ||
        (rc = get_int(o, "generation", &gen, err)) != 0 ||
        (rc = get_int(o, "exit_code", &code, err)) != 0 ||
        (rc = get_int(o, "exit_signal", &sig, err)) != 0)
        return rc;
    w->index = (uint32_t)index;
    w->pid = (int)pid;
    w->restarts = (uint32_t)restarts;
    w->rss_bytes = (uint64_t)rss;
    w->generation = (uint32_t)gen;
    w->exit_code = (int)code;
    w->exit_signal = (int)sig;
    w->uptime_s = json_number_value(json_object_get(o, "uptime_s"));
    w->cpu_pct = json_number_value(json_object_get(o, "cpu_pct"));
    w->started_at = json_number_value(json_object_get(o, "started_at"));
    return 0;
}

static char *
opt_string(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? mem_strdup(json_string_value(v)) : NULL;
}

int
apps_msg_reply_decode(struct apps_msg_reply *out, const char *text, struct err *err)
{
    json_t *o = parse_object(text, err), *ws;
    int rc = 0;

    if (o == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ok = json_is_true(json_object_get(o, "ok"));
    out->error = opt_string(o, "error");
    out->failed_worker = opt_string(o, "failed_worker");
    out->log_tail = opt_string(o, "log_tail");
    ws = json_object_get(o, "workers");
    if (ws != NULL && !json_is_array(ws))
        rc = err_set(err, -EINVAL, "\"workers\" is not an array");
    for (size_t i = 0; rc == 0 && ws != NULL && i < json_array_size(ws); i++)
        rc = worker_from_json(json_array_get(ws, i), apps_msg_reply_add_worker(out), err);
    json_decref(o);
    if (rc != 0)
        apps_msg_reply_fini(out);
    return rc;
}

struct apps_msg_worker *
apps_msg_reply_add_worker(struct apps_msg_reply *rep)
{
    struct apps_msg_worker *w;

    rep->workers = mem_realloc(rep->workers, (rep->nworkers + 1) * sizeof(*rep->workers));
    w = &rep->workers[rep->nworkers++];
    memset(w, 0, sizeof(*w));
    w->exit_code = -1;
    return w;
}

void
apps_msg_reply_fini(struct apps_msg_reply *rep)
{
    FREE_AND_NULL(rep->error);
    FREE_AND_NULL(rep->failed_worker);
    FREE_AND_NULL(rep->log_tail);
    FREE_AND_NULL(rep->workers);
    rep->nworkers = 0;
}

char *
apps_msg_log_line_encode(const char *app, uint32_t index, const char *stream, const char *path,
                         const char *line, size_t len)
{
    json_t *o = json_object();

    json_object_set_new(o, "app", json_string(app));
    json_object_set_new(o, "index", json_integer(index));
    json_object_set_new(o, "stream", json_string(stream));
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "line", json_stringn(line, len));
    return dump(o, JSON_COMPACT);
}
