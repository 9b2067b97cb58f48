/* SPDX-License-Identifier: ISC */
/* Every call goes through call(): copy the token under the lock, send, and on a 401 register
 * again unless another thread already did (the token changed meanwhile), then retry once. */
#include "agent/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_wire.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/log.h"
#include "common/str.h"
#include "protocol/deploy_agent.h"

#define CALL_TIMEOUT_MS 10000
#define DOWNLOAD_TIMEOUT_MS 300000

struct call {
    struct http_fetch_session *session; /* the calling thread's */
    const char *method;
    const char *path; /* relative to the server, or an absolute URL */
    const char *body; /* NULL: none */
    long timeout_ms;
    int out_fd; /* -1: body into resp */
};

void
agent_client_init(struct agent_client *c, const char *server, const char *enroll_token,
                  const char *cafile, const char *register_body)
{
    memset(c, 0, sizeof(*c));
    c->server = server;
    c->enroll_token = enroll_token;
    c->cafile = cafile;
    c->register_body = register_body;
    c->heartbeat_s = 5;
    c->main_session = http_fetch_session_new();
    c->reporter_session = http_fetch_session_new();
    pthread_mutex_init(&c->lock, NULL);
}

void
agent_client_fini(struct agent_client *c)
{
    pthread_mutex_destroy(&c->lock);
    http_fetch_session_free(c->main_session);
    http_fetch_session_free(c->reporter_session);
    explicit_bzero(c->token, sizeof(c->token));
}

bool
agent_client_is_transient(int rc)
{
    return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH || rc == -EPROTO ||
           rc == -EIO || rc == -EAGAIN;
}

static int
status_rc(long status, const char *url, const struct http_fetch_response *resp, struct err *err)
{
    int rc;

    if (status >= 200 && status < 300)
        return 0;
    if (status == 401)
        rc = -EACCES;
    else if (status == 403)
        rc = -EPERM;
    else if (status == 404)
        rc = -ENOENT;
    else if (status >= 500 || status == 408 || status == 429)
        rc = -EAGAIN;
    else
        rc = -EINVAL;
    return err_set(err, rc, "%s: HTTP %ld %.200s", url, status,
                   resp->body.data ? resp->body.data : "");
}

static int
send_once(struct agent_client *c, const struct call *k, const char *token,
          struct http_fetch_response *resp, struct err *err)
{
    char url[2048];
    struct http_fetch_opts o = {.method = k->method,
                                .url = url,
                                .body = k->body,
                                .body_len = k->body ? strlen(k->body) : 0,
                                .bearer = token,
                                .cafile = c->cafile,
                                .timeout_ms = k->timeout_ms,
                                .out_fd = k->out_fd,
                                .session = k->session};
    int rc;

    if (agent_wire_url(url, sizeof(url), c->server, k->path) != 0)
        return err_set(err, -ENAMETOOLONG, "%s%s: URL too long", c->server, k->path);
    if ((rc = http_fetch_do(&o, resp, err)) != 0)
        return rc;
    if ((rc = status_rc(resp->status, url, resp, err)) != 0)
        http_fetch_response_fini(resp);
    return rc;
}

static int register_with(struct agent_client *c, struct http_fetch_session *session,
                         struct err *err);

/* Registers again when <stale> is still the current token. Called with the lock NOT held. */
static int
reregister(struct agent_client *c, struct http_fetch_session *session, const char *stale,
           struct err *err)
{
    bool current;

    pthread_mutex_lock(&c->lock);
    current = strcmp(c->token, stale) == 0;
    pthread_mutex_unlock(&c->lock);
    if (!current)
        return 0; /* another thread registered meanwhile */
    log_warn("instance token refused: registering again");
    return register_with(c, session, err);
}

static int
call(struct agent_client *c, const struct call *k, struct http_fetch_response *resp,
     struct err *err)
{
    char token[AGENT_CLIENT_TOKEN_MAX];
    int rc;

    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&c->lock);
        str_copy(token, c->token, sizeof(token));
        pthread_mutex_unlock(&c->lock);
        if (k->out_fd >= 0 && (ftruncate(k->out_fd, 0) != 0 || lseek(k->out_fd, 0, SEEK_SET) < 0))
            return err_set(err, -errno, "cannot reset the download file: %s", strerror(errno));
        rc = send_once(c, k, token, resp, err);
        if (rc != -EACCES || attempt > 0)
            break;
        if ((rc = reregister(c, k->session, token, err)) != 0)
            break;
    }
    explicit_bzero(token, sizeof(token));
    return rc;
}

int
agent_client_register(struct agent_client *c, struct err *err)
{
    return register_with(c, c->main_session, err);
}

static int
register_with(struct agent_client *c, struct http_fetch_session *session, struct err *err)
{
    struct deploy_agent_registered reg;
    struct http_fetch_response resp = {0};
    char why[ERR_MSG_MAX];
    struct call k = {.session = session,
                     .method = "POST",
                     .path = "/v1/agent/register",
                     .body = c->register_body,
                     .timeout_ms = CALL_TIMEOUT_MS,
                     .out_fd = -1};
    int rc;

    if ((rc = send_once(c, &k, c->enroll_token, &resp, err)) != 0)
        return rc;
    rc = deploy_agent_registered_parse(resp.body.data, resp.body.len, &reg, err);
    http_fetch_response_fini(&resp);
    if (rc != 0) {
        str_copy(why, err->msg, sizeof(why)); /* err_set must not read what it writes */
        return err_set(err, -EPROTO, "register: %s", why);
    }
    if (reg.instance_token == NULL || reg.instance_token[0] == '\0' ||
        strlen(reg.instance_token) >= AGENT_CLIENT_TOKEN_MAX) {
        deploy_agent_registered_fini(&reg);
        return err_set(err, -EPROTO, "register: the server sent no usable instance token");
    }
    pthread_mutex_lock(&c->lock);
    str_copy(c->token, reg.instance_token, sizeof(c->token));
    str_copy(c->instance_name, reg.instance_name ? reg.instance_name : "",
             sizeof(c->instance_name));
    c->heartbeat_s = reg.heartbeat_interval_s >= 1 ? reg.heartbeat_interval_s : 5;
    c->registrations++;
    pthread_mutex_unlock(&c->lock);
    deploy_agent_registered_fini(&reg);
    return 0;
}

int
agent_client_poll(struct agent_client *c, uint32_t wait_s, struct deploy_command_list *out,
                  struct err *err)
{
    struct http_fetch_response resp = {0};
    char path[64];
    struct call k = {.session = c->main_session,
                     .method = "GET",
                     .path = path,
                     .timeout_ms = (long)wait_s * 1000 + CALL_TIMEOUT_MS,
                     .out_fd = -1};
    int rc;

    (void)snprintf(path, sizeof(path), "/v1/agent/commands?waitSeconds=%u", (unsigned)wait_s);
    if ((rc = call(c, &k, &resp, err)) != 0)
        return rc;
    rc = deploy_agent_commands_parse(resp.body.data, resp.body.len, out, err);
    http_fetch_response_fini(&resp);
    if (rc != 0) {
        char why[ERR_MSG_MAX];
        str_copy(why, err->msg, sizeof(why)); /* err_set must not read what it writes */
        return err_set(err, -EPROTO, "commands: %s", why);
    }
    return 0;
}

int
agent_client_download(struct agent_client *c, const char *url, const char *path, struct err *err)
{
    struct http_fetch_response resp;
    struct call k = {.session = c->main_session,
                     .method = "GET",
                     .path = url,
                     .timeout_ms = DOWNLOAD_TIMEOUT_MS};
    int rc;

    if ((k.out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    rc = call(c, &k, &resp, err);
    if (rc == 0)
        http_fetch_response_fini(&resp);
    if (rc == 0 && fsync(k.out_fd) != 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (close(k.out_fd) != 0 && rc == 0)
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc != 0)
        unlink(path);
    return rc;
}

int
agent_client_post_event(struct agent_client *c, const char *command_id, const char *body,
                        struct err *err)
{
    struct http_fetch_response resp;
    char path[256];
    struct call k = {.session = c->reporter_session,
                     .method = "POST",
                     .path = path,
                     .body = body,
                     .timeout_ms = CALL_TIMEOUT_MS,
                     .out_fd = -1};
    int rc;

    if ((size_t)snprintf(path, sizeof(path), "/v1/agent/commands/%s/events", command_id) >=
        sizeof(path))
        return err_set(err, -EINVAL, "command id too long");
    if ((rc = call(c, &k, &resp, err)) == 0)
        http_fetch_response_fini(&resp);
    return rc;
}

int
agent_client_heartbeat(struct agent_client *c, const char *running_command_id, struct err *err)
{
    struct deploy_heartbeat hb;
    struct http_fetch_response resp;
    struct call k = {.session = c->reporter_session,
                     .method = "POST",
                     .path = "/v1/agent/heartbeat",
                     .timeout_ms = CALL_TIMEOUT_MS,
                     .out_fd = -1};
    char *body;
    int rc;

    memset(&hb, 0, sizeof(hb));
    hb.running_command_id = running_command_id;
    body = deploy_agent_heartbeat_format(&hb);
    k.body = body;
    if ((rc = call(c, &k, &resp, err)) == 0)
        http_fetch_response_fini(&resp);
    free(body);
    return rc;
}

uint32_t
agent_client_heartbeat_s(struct agent_client *c)
{
    uint32_t s;

    pthread_mutex_lock(&c->lock);
    s = c->heartbeat_s;
    pthread_mutex_unlock(&c->lock);
    return s;
}
