/* SPDX-License-Identifier: ISC */
/* Proxy admin calls on the threadpool. The work function touches only its own request; the
 * loop thread sees the request again in after_work, calls back, and frees it. */
#include "server/traffic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http_fetch.h"
#include "common/mem.h"
#include "common/str.h"

enum traffic_kind {
    TRAFFIC_SET_FORWARD = 0,
    TRAFFIC_TARGETS,
    TRAFFIC_HEALTH,
    TRAFFIC_METRICS,
    TRAFFIC_LISTENER,
};

struct traffic_req {
    uv_work_t work;
    enum traffic_kind kind;
    char base[256];      /* "http://127.0.0.1:9901" or "http://localhost" over a unix socket */
    char unix_path[256]; /* "" for TCP */
    char *name;          /* owned: listener or target group */
    char *body;          /* owned: request body, or NULL */
    const char *method;  /* TARGETS: POST or DELETE */
    struct proxy_api_action want; /* SET_FORWARD: borrows names from <names> */
    char **names;                 /* owned copies of the forward names */
    struct http_fetch_response resp;
    bool has_resp;
    traffic_cb *cb;
    void *ud;
    struct traffic_result res;
};

static int
parse_admin(struct traffic_req *r, const char *admin)
{
    if (admin == NULL || admin[0] == '\0')
        return -EINVAL;
    if (str_has_prefix(admin, "unix:")) {
        if (str_copy(r->unix_path, admin + 5, sizeof(r->unix_path)) >= sizeof(r->unix_path))
            return -EINVAL;
        str_copy(r->base, "http://localhost", sizeof(r->base));
        return 0;
    }
    r->unix_path[0] = '\0';
    if (str_has_prefix(admin, "http://") || str_has_prefix(admin, "https://")) {
        size_t n = str_copy(r->base, admin, sizeof(r->base));
        if (n >= sizeof(r->base))
            return -EINVAL;
        while (n > 0 && r->base[n - 1] == '/')
            r->base[--n] = '\0';
        return 0;
    }
    return (size_t)snprintf(r->base, sizeof(r->base), "http://%s", admin) < sizeof(r->base)
               ? 0
               : -EINVAL;
}

static struct traffic_req *
req_new(enum traffic_kind kind, const char *name, traffic_cb *cb, void *ud)
{
    struct traffic_req *r = mem_calloc(1, sizeof(*r));

    r->kind = kind;
    r->name = name != NULL ? mem_strdup(name) : NULL;
    r->cb = cb;
    r->ud = ud;
    r->work.data = r;
    return r;
}

static void
req_free(struct traffic_req *r)
{
    if (r->has_resp)
        http_fetch_response_fini(&r->resp);
    proxy_api_action_fini(&r->res.action);
    proxy_api_health_fini(&r->res.health);
    for (size_t i = 0; r->names != NULL && i < r->want.nforward; i++)
        free(r->names[i]);
    free(r->names);
    free(r->want.forward);
    free(r->name);
    free(r->body);
    free(r);
}

/* One request; a non-2xx status becomes -EPROTO with the proxy's error message. */
static int
fetch(struct traffic_req *r, const char *method, const char *path, const char *body,
      struct err *err)
{
    char url[512];
    int rc;

    if (r->has_resp) {
        http_fetch_response_fini(&r->resp);
        r->has_resp = false;
    }
    snprintf(url, sizeof(url), "%s%s", r->base, path);
    rc = http_fetch_request(method, url, r->unix_path[0] != '\0' ? r->unix_path : NULL, body,
                            body != NULL ? strlen(body) : 0, TRAFFIC_TIMEOUT_MS, &r->resp, err);
    if (rc < 0)
        return rc;
    r->has_resp = true;
    if (r->resp.status < 200 || r->resp.status > 299) {
        char *msg = proxy_api_error_parse(r->resp.body.data, r->resp.body.len);
        rc = err_set(err, -EPROTO, "%s %s: HTTP %ld: %s", method, path, r->resp.status,
                     msg != NULL ? msg : "(no message)");
        free(msg);
    }
    return rc;
}

static int
same_forward(const struct proxy_api_action *want, const struct proxy_api_action *got)
{
    for (size_t i = 0; i < want->nforward; i++) {
        bool found = false;
        for (size_t k = 0; k < got->nforward; k++) {
            if (strcmp(want->forward[i].target_group, got->forward[k].target_group) != 0)
                continue;
            found = got->forward[k].weight == want->forward[i].weight;
        }
        if (!found && want->forward[i].weight != 0)
            return 0;
    }
    return 1;
}

/* GET /listeners into r->res.action for listener r->name; with <want>, also checks it forwards
 * those weights. */
static int
read_listener(struct traffic_req *r, const struct proxy_api_action *want, struct err *err)
{
    struct proxy_api_listeners ls;
    int rc;

    if ((rc = fetch(r, "GET", "/listeners", NULL, err)) < 0)
        return rc;
    if ((rc = proxy_api_listeners_parse(&ls, r->resp.body.data, r->resp.body.len, err)) < 0)
        return rc;
    rc = err_set(err, -EPROTO, "read back: listener %s not found", r->name);
    for (size_t i = 0; i < ls.n; i++) {
        const struct proxy_api_action *got = &ls.items[i].action;
        char *text;
        if (strcmp(ls.items[i].name, r->name) != 0)
            continue;
        if (want != NULL && !same_forward(want, got)) {
            rc = err_set(err, -EPROTO, "read back: listener %s does not forward what was set",
                         r->name);
            break;
        }
        text = proxy_api_action_format(got); /* a copy that outlives <ls> */
        rc = proxy_api_action_parse(&r->res.action, text, strlen(text), err);
        free(text);
        break;
    }
    proxy_api_listeners_fini(&ls);
    return rc;
}

static int
do_set_forward(struct traffic_req *r, struct err *err)
{
    char path[300];
    int rc;

    snprintf(path, sizeof(path), "/listeners/%s/action", r->name);
    if ((rc = fetch(r, "PUT", path, r->body, err)) < 0)
        return rc;
    /* read the change back from a fresh GET, not from the PUT's answer */
    return read_listener(r, &r->want, err);
}

static void
on_work(uv_work_t *w)
{
    struct traffic_req *r = w->data;
    struct err err;
    char path[300];
    int rc = 0;

    err_clear(&err);
    switch (r->kind) {
    case TRAFFIC_SET_FORWARD:
        rc = do_set_forward(r, &err);
        break;
    case TRAFFIC_TARGETS:
        snprintf(path, sizeof(path), "/target-groups/%s/targets", r->name);
        rc = fetch(r, r->method, path, r->body, &err);
        break;
    case TRAFFIC_HEALTH:
        snprintf(path, sizeof(path), "/target-groups/%s/health", r->name);
        rc = fetch(r, "GET", path, NULL, &err);
        if (rc == 0)
            rc = proxy_api_health_parse(&r->res.health, r->resp.body.data, r->resp.body.len, &err);
        break;
    case TRAFFIC_LISTENER:
        rc = read_listener(r, NULL, &err);
        break;
    case TRAFFIC_METRICS:
        rc = fetch(r, "GET", "/metrics", NULL, &err);
        if (rc == 0) {
            r->res.text = r->resp.body.data != NULL ? r->resp.body.data : "";
            r->res.text_len = r->resp.body.len;
        }
        break;
    }
    r->res.status = rc;
    if (rc < 0)
        str_copy(r->res.msg, err.msg[0] != '\0' ? err.msg : "proxy admin request failed",
                 sizeof(r->res.msg));
}

static void
on_work_done(uv_work_t *w, int status)
{
    struct traffic_req *r = w->data;

    if (status < 0) { /* cancelled before it ran */
        r->res.status = status;
        str_copy(r->res.msg, "cancelled", sizeof(r->res.msg));
    }
    r->cb(r->ud, &r->res);
    req_free(r);
}

static int
submit(uv_loop_t *loop, struct traffic_req *r, const char *admin)
{
    int rc = parse_admin(r, admin);

    if (rc == 0)
        rc = uv_queue_work(loop, &r->work, on_work, on_work_done);
    if (rc < 0)
        req_free(r);
    return rc;
}

int
traffic_set_forward(uv_loop_t *loop, const char *admin, const char *listener,
                    const struct proxy_api_forward *fw, size_t n, traffic_cb *cb, void *ud)
{
    struct traffic_req *r = req_new(TRAFFIC_SET_FORWARD, listener, cb, ud);

    r->want.forward = mem_calloc(n, sizeof(*r->want.forward));
    r->names = mem_calloc(n, sizeof(*r->names));
    r->want.nforward = n;
    for (size_t i = 0; i < n; i++) {
        r->names[i] = mem_strdup(fw[i].target_group);
        r->want.forward[i].target_group = r->names[i];
        r->want.forward[i].weight = fw[i].weight;
    }
    r->body = proxy_api_action_format(&r->want);
    return submit(loop, r, admin);
}

int
traffic_targets(uv_loop_t *loop, const char *admin, const char *group, bool add,
                const char *const *targets, size_t n, traffic_cb *cb, void *ud)
{
    struct traffic_req *r = req_new(TRAFFIC_TARGETS, group, cb, ud);
    struct proxy_api_targets t;

    memset(&t, 0, sizeof(t));
    t.targets = (const char **)(uintptr_t)targets;
    t.ntargets = n;
    r->method = add ? "POST" : "DELETE";
    r->body = proxy_api_targets_format(&t);
    return submit(loop, r, admin);
}

int
traffic_health(uv_loop_t *loop, const char *admin, const char *group, traffic_cb *cb, void *ud)
{
    return submit(loop, req_new(TRAFFIC_HEALTH, group, cb, ud), admin);
}

int
traffic_metrics(uv_loop_t *loop, const char *admin, traffic_cb *cb, void *ud)
{
    return submit(loop, req_new(TRAFFIC_METRICS, NULL, cb, ud), admin);
}

int
traffic_listener(uv_loop_t *loop, const char *admin, const char *listener, traffic_cb *cb, void *ud)
{
    return submit(loop, req_new(TRAFFIC_LISTENER, listener, cb, ud), admin);
}

const char *
traffic_target_state(const struct proxy_api_health *h, const char *target)
{
    for (size_t i = 0; i < h->ntargets; i++)
        if (strcmp(h->targets[i].target, target) == 0)
            return h->targets[i].state;
    return NULL;
}
