/* SPDX-License-Identifier: ISC */
/* The REST API's front door: authenticate the bearer token, split the path, route to the admin
 * or agent handlers, and answer errors as {"error": "..."}. Each request owns one struct
 * api_call (http_server_req data) from on_head to its answer or abort. */
#include "server/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http1.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy_info.h"
#include "server/server.h"
#include "server/server_conf.h"
#include "server/store.h"

#define API_MAX_JSON_BODY (1024 * 1024)

void
api_reply_take(struct api_call *c, int status, char *json)
{
    struct http_server_req *req = c->req;

    log_debug("api: %s %s -> %d", c->method, http_server_req_path(req), status);
    c->req = NULL;
    http_server_req_set_data(req, NULL);
    free(c);
    http_server_respond_take(req, status, "application/json", json,
                             json != NULL ? strlen(json) : 0);
}

void
api_reply_error(struct api_call *c, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (status >= 500)
        log_warn("api: %s %s: %s", c->method, http_server_req_path(c->req), msg);
    api_reply_take(c, status, deploy_info_error_format(NULL, msg, NULL));
}

int
api_status_of(int rc)
{
    switch (rc) {
    case -ENOENT:
        return 404;
    case -EEXIST:
    case -EBUSY:
        return 409;
    case -EINVAL:
        return 400;
    case -EFBIG:
        return 413;
    default:
        return 500;
    }
}

const char *
api_body(const struct api_call *c, size_t *len)
{
    return http_server_req_body(c->req, len);
}

bool
api_seg_is(const struct api_call *c, size_t i, const char *s)
{
    return i < c->nsegs && strcmp(c->segs[i], s) == 0;
}

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Splits the path into percent-decoded segments. -EINVAL: too long, too many, or a decoded
 * segment with '/' or NUL. */
static int
split_path(struct api_call *c, const char *path)
{
    size_t o = 0;

    c->nsegs = 0;
    for (const char *p = path; *p != '\0';) {
        if (*p == '/') {
            p++;
            continue;
        }
        if (c->nsegs == API_MAX_SEGS)
            return -EINVAL;
        c->segs[c->nsegs++] = &c->path_buf[o];
        for (; *p != '\0' && *p != '/'; p++) {
            char ch = *p;

            if (ch == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                ch = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                p += 2;
                if (ch == '\0' || ch == '/')
                    return -EINVAL;
            }
            if (o + 2 >= sizeof(c->path_buf))
                return -EINVAL;
            c->path_buf[o++] = ch;
        }
        c->path_buf[o++] = '\0';
    }
    return 0;
}

static enum api_role
authenticate(struct api_call *c)
{
    const char *token = auth_bearer(http_server_req_header(c->req, "Authorization"));
    char hash[AUTH_HASH_LEN + 1];

    if (token == NULL)
        return API_ROLE_NONE;
    auth_token_hash(token, hash);
    if (auth_hash_equal(hash, c->api->admin_hash))
        return API_ROLE_ADMIN;
    if (auth_hash_equal(hash, c->api->enroll_hash))
        return API_ROLE_ENROLL;
    /* the store looks the hash up by index: a hash reveals nothing about a token */
    if (store_instance_find_by_token(c->api->srv->store, hash, c->instance, sizeof(c->instance)) ==
        0)
        return API_ROLE_AGENT;
    return API_ROLE_NONE;
}

static enum http_server_body_mode
on_head(struct http_server_req *req, void *ud)
{
    struct api *a = ud;
    struct api_call *c = mem_calloc(1, sizeof(*c));
    const struct http1_head *h = http_server_req_head(req);

    c->api = a;
    c->req = req;
    c->method = http_server_req_method(req);
    http_server_req_set_data(req, c);
    if (split_path(c, http_server_req_path(req)) != 0 || !api_seg_is(c, 0, "v1")) {
        api_reply_error(c, 404, "no such resource");
        return HTTP_SERVER_BODY_REJECT;
    }
    if ((c->role = authenticate(c)) == API_ROLE_NONE) {
        http_server_req_add_header(req, "WWW-Authenticate", "Bearer");
        api_reply_error(c, 401, "missing or invalid bearer token");
        return HTTP_SERVER_BODY_REJECT;
    }
    if (api_admin_is_upload(c)) {
        if (api_admin_upload_begin(c) != 0)
            return HTTP_SERVER_BODY_REJECT; /* answered */
        return HTTP_SERVER_BODY_STREAM;
    }
    if (h->framing == HTTP1_BODY_LENGTH && h->content_length > API_MAX_JSON_BODY) {
        api_reply_error(c, 413, "request body over %d bytes", API_MAX_JSON_BODY);
        return HTTP_SERVER_BODY_REJECT;
    }
    return HTTP_SERVER_BODY_BUFFER;
}

static int
on_body(struct http_server_req *req, const char *data, size_t len, void *ud)
{
    (void)ud;
    return api_admin_upload_body(http_server_req_data(req), data, len);
}

static void
on_request(struct http_server_req *req, void *ud)
{
    struct api_call *c = http_server_req_data(req);

    (void)ud;
    if (api_admin_is_upload(c)) {
        api_admin_upload_end(c);
        return;
    }
    if (api_seg_is(c, 1, "agent") || (api_seg_is(c, 1, "revisions") && c->nsegs == 4)) {
        if (!api_agent_route(c))
            api_reply_error(c, 404, "no such resource");
        return;
    }
    if (c->role != API_ROLE_ADMIN) {
        api_reply_error(c, 403, "this token may not call %s %s", c->method,
                        http_server_req_path(req));
        return;
    }
    if (!api_admin_route(c))
        api_reply_error(c, 404, "no such resource");
}

static void
on_abort(struct http_server_req *req, void *ud)
{
    struct api_call *c = http_server_req_data(req);

    (void)ud;
    if (c == NULL)
        return;
    if (api_admin_is_upload(c))
        api_admin_upload_abort(c);
    else
        api_agent_abort(c);
    free(c);
}

static int
read_token_hash(const char *path, char *hash, struct err *err)
{
    char token[256];
    int rc;

    if ((rc = auth_token_read(path, token, sizeof(token), err)) != 0)
        return rc;
    auth_token_hash(token, hash);
    return 0;
}

int
api_new(struct api **out, struct server *srv, struct err *err)
{
    const struct server_conf *conf = srv->conf;
    struct api *a = mem_calloc(1, sizeof(*a));
    struct http_server_conf hc = {
        .max_body = API_MAX_JSON_BODY,
        .idle_timeout_ms = 75000, /* longer than a long-poll */
        .read_timeout_ms = 60000,
        .max_connections = 8192, /* agents keep a poll and a report connection open each */
        .tls_cert_file = conf->tls_cert,
        .tls_key_file = conf->tls_key,
        .log_comp = "api",
    };
    struct http_server_callbacks cb = {.ud = a,
                                       .on_head = on_head,
                                       .on_body = on_body,
                                       .on_request = on_request,
                                       .on_abort = on_abort};
    int rc;

    a->srv = srv;
    if ((rc = read_token_hash(conf->admin_token_file, a->admin_hash, err)) != 0 ||
        (rc = read_token_hash(conf->enroll_token_file, a->enroll_hash, err)) != 0 ||
        (rc = http_server_new(&a->http, srv->loop, &hc, &cb, err)) != 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int
api_listen(struct api *a, struct err *err)
{
    return http_server_listen(a->http, &a->srv->conf->listen, err);
}

struct close_ctx {
    struct api *a;
    void (*done)(void *arg);
    void *arg;
};

static void
on_http_closed(void *arg)
{
    struct close_ctx *cc = arg;

    free(cc->a);
    if (cc->done != NULL)
        cc->done(cc->arg);
    free(cc);
}

void
api_close(struct api *a, void (*done)(void *arg), void *arg)
{
    struct close_ctx *cc = mem_calloc(1, sizeof(*cc));

    cc->a = a;
    cc->done = done;
    cc->arg = arg;
    api_agent_close_polls(a);
    http_server_close(a->http, on_http_closed, cc);
}
