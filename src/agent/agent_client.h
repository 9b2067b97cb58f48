/* SPDX-License-Identifier: ISC */
/* The host agent's side of the agent ↔ server contract (server-design.md): register, long-poll
 * for commands, download a bundle, post event reports and heartbeats. Blocking calls over
 * common/http_fetch, safe from two threads at once: the main thread (register, poll, download)
 * and the reporter thread (events, heartbeats) each keep their own connection alive across
 * calls; the instance token is swapped under a lock, and a call refused with 401 re-registers
 * (once per token) before giving up.
 *
 * Return convention for every call: 0 done; -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EPROTO,
 * -EIO or -EAGAIN (5xx) for "try again later"; -EACCES (401 after re-registering) and -EPERM
 * (403) for authorization; -ENOENT (404) and -EINVAL (other 4xx) for requests the server refuses
 * for good. err says which URL and why. */
#ifndef AGENT_AGENT_CLIENT_H
#define AGENT_AGENT_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct deploy_command_list;
struct err;
struct http_fetch_session;

#define AGENT_CLIENT_TOKEN_MAX 512

struct agent_client {
    const char *server;                 /* borrowed: "http://127.0.0.1:9900" */
    const char *enroll_token;           /* borrowed */
    const char *cafile;                 /* borrowed, may be NULL */
    const char *register_body;          /* borrowed: the JSON register request */
    pthread_mutex_t lock;               /* guards token, heartbeat_s, registrations */
    char token[AGENT_CLIENT_TOKEN_MAX]; /* the instance token; "" before registering */
    char instance_name[128];
    uint32_t heartbeat_s;                        /* from the server */
    unsigned registrations;                      /* how many times we registered (tests, logs) */
    struct http_fetch_session *main_session;     /* owned: register, poll, download */
    struct http_fetch_session *reporter_session; /* owned: events, heartbeats */
};

/* Prepares <c>; nothing is sent. */
void agent_client_init(struct agent_client *c, const char *server, const char *enroll_token,
                       const char *cafile, const char *register_body);
void agent_client_fini(struct agent_client *c);

/* Transient failure: worth retrying after a backoff. */
bool agent_client_is_transient(int rc);

/* POST /v1/agent/register with the enrollment token; keeps the instance token. */
int agent_client_register(struct agent_client *c, struct err *err);

/* GET /v1/agent/commands?waitSeconds=<wait_s>; *out filled on success (deploy_agent_commands_fini
 * it). */
int agent_client_poll(struct agent_client *c, uint32_t wait_s, struct deploy_command_list *out,
                      struct err *err);

/* GET <url> (relative to the server or absolute) into the file <path> (created 0600,
 * replaced). The caller verifies the digest. */
int agent_client_download(struct agent_client *c, const char *url, const char *path,
                          struct err *err);

/* POST /v1/agent/commands/<command_id>/events with <body>. */
int agent_client_post_event(struct agent_client *c, const char *command_id, const char *body,
                            struct err *err);

/* POST /v1/agent/heartbeat; <running_command_id> may be NULL. */
int agent_client_heartbeat(struct agent_client *c, const char *running_command_id, struct err *err);

/* The heartbeat interval the server asked for (seconds, >= 1). */
uint32_t agent_client_heartbeat_s(struct agent_client *c);

#endif /* AGENT_AGENT_CLIENT_H */
