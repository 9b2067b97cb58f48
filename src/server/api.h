/* SPDX-License-Identifier: ISC */
/* The server's REST API on common/http_server: authentication and routing (api.c), the admin
 * resources (api_admin.c) and the agent endpoints with their long-poll (api_agent.c). Paths and
 * bodies: server-design.md and protocol/deploy_*.h.
 *
 * Auth: every call carries "Authorization: Bearer <token>". No or unknown token → 401. The
 * admin token may call everything but the agent endpoints; the enrollment token only
 * POST /v1/agent/register; an instance token only the agent endpoints, for its own commands
 * (anything else → 403). Tokens are compared as SHA-256 hashes in constant time. */
#ifndef SERVER_API_H
#define SERVER_API_H

#include <stdbool.h>
#include <stddef.h>

#include "server/auth.h"

struct addr;
struct err;
struct http_server;
struct http_server_req;
struct server;

enum api_role {
    API_ROLE_NONE = 0, /* no valid token */
    API_ROLE_ADMIN,
    API_ROLE_ENROLL,
    API_ROLE_AGENT,
};

#define API_MAX_SEGS 8
#define API_NAME_MAX 128

/* One routed request. */
struct api_call {
    struct api *api;             /* borrowed */
    struct http_server_req *req; /* borrowed: until answered */
    enum api_role role;
    char instance[API_NAME_MAX]; /* API_ROLE_AGENT: the caller */
    const char *method;
    const char *segs[API_MAX_SEGS]; /* path split on '/', percent-decoded, in path_buf */
    size_t nsegs;
    char path_buf[2048];
    void *ext; /* per-route state: api_admin.c's upload or api_agent.c's parked poll */
};

struct api_poll; /* api_agent.c: a parked long-poll */

struct api {
    struct server *srv;       /* borrowed: the root */
    struct http_server *http; /* owned */
    char admin_hash[AUTH_HASH_LEN + 1];
    char enroll_hash[AUTH_HASH_LEN + 1];
    struct api_poll *polls; /* owned: parked agent long-polls */
};

/* Reads the admin and enrollment tokens named by srv->conf, and creates the HTTP server (TLS
 * when configured). Returns 0 or a negative errno with the reason in <err>. */
int api_new(struct api **out, struct server *srv, struct err *err);
/* Listens on srv->conf->listen. */
int api_listen(struct api *a, struct err *err);
/* Stops listening, answers parked polls with no commands, closes connections; frees <a> once
 * everything is closed and then calls <done> (may be NULL). */
void api_close(struct api *a, void (*done)(void *arg), void *arg);

/* ---- shared by api_*.c ---- */

/* Answers with <status> and a JSON body (taken: malloc'd). */
void api_reply_take(struct api_call *c, int status, char *json);
/* Answers {"error": <fmt…>} with <status>. */
void api_reply_error(struct api_call *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a store error to a status: -ENOENT 404, -EEXIST 409, -EBUSY 409, -EINVAL 400, else 500. */
int api_status_of(int rc);
/* The buffered request body. */
const char *api_body(const struct api_call *c, size_t *len);
bool api_seg_is(const struct api_call *c, size_t i, const char *s);

/* api_admin.c: handles the admin routes; false when no route matched (→ 404). */
bool api_admin_route(struct api_call *c);
/* api_admin.c: revision upload, streamed (POST /v1/applications/{app}/revisions). */
bool api_admin_is_upload(const struct api_call *c);
int api_admin_upload_begin(struct api_call *c);
int api_admin_upload_body(struct api_call *c, const char *data, size_t len);
void api_admin_upload_end(struct api_call *c);
void api_admin_upload_abort(struct api_call *c);

/* api_agent.c: handles the agent and enrollment routes; false when none matched. */
bool api_agent_route(struct api_call *c);
/* api_agent.c: a command was queued for <instance>: answer its parked polls. */
void api_agent_wake(struct api *a, const char *instance);
/* api_agent.c: the client of a parked poll went away (<c> is freed after this). */
void api_agent_abort(struct api_call *c);
/* api_agent.c: answers every parked poll with no commands and forgets them. */
void api_agent_close_polls(struct api *a);

#endif /* SERVER_API_H */
