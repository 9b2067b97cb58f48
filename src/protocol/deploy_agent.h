/* SPDX-License-Identifier: ISC */
/* The agent ↔ server wire contract (server-design.md). Every body is JSON; every call carries
 * a bearer token (the enrollment token for register, the instance token otherwise).
 *
 *   POST /v1/agent/register          deploy_agent_register → deploy_agent_registered
 *   GET  /v1/agent/commands?waitSeconds=N    → deploy_command_list ({"commands":[]} on timeout)
 *   GET  /v1/revisions/{revisionId}/bundle   → the bundle bytes
 *   POST /v1/agent/commands/{commandId}/events   deploy_event_report → {}
 *   POST /v1/agent/heartbeat         deploy_heartbeat → {}
 *
 * A _parse allocates everything in the result's arena (freed by the matching _fini) and
 * accepts unknown keys (a newer peer may add fields); a _format borrows its input and returns
 * a malloc'd string. Parse errors name the JSON path. */
#ifndef PROTOCOL_DEPLOY_AGENT_H
#define PROTOCOL_DEPLOY_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/deploy.h"

struct err;

#define DEPLOY_AGENT_DEFAULT_WAIT_S 20
#define DEPLOY_AGENT_MAX_WAIT_S 60

/* {"name":"blue-1","tags":{"fleet":"blue"},"target":"127.0.0.1:8001","agentVersion":"0.1.0"} */
struct deploy_agent_register {
    struct arena arena;
    const char *name;
    struct deploy_tag *tags;
    size_t ntags;
    const char *target;        /* host:port the proxy sends traffic to, or NULL */
    const char *agent_version; /* may be NULL */
};
int deploy_agent_register_parse(const char *json, size_t len, struct deploy_agent_register *out,
                                struct err *err);
void deploy_agent_register_fini(struct deploy_agent_register *r);
char *deploy_agent_register_format(const struct deploy_agent_register *r);

/* {"instanceName":"blue-1","instanceToken":"…","heartbeatIntervalSeconds":5} */
struct deploy_agent_registered {
    struct arena arena;
    const char *instance_name;
    const char *instance_token;
    uint32_t heartbeat_interval_s;
};
int deploy_agent_registered_parse(const char *json, size_t len, struct deploy_agent_registered *out,
                                  struct err *err);
void deploy_agent_registered_fini(struct deploy_agent_registered *r);
char *deploy_agent_registered_format(const struct deploy_agent_registered *r);

/* One command: run <events> of a revision. */
struct deploy_command {
    const char *command_id;    /* "c-…" */
    const char *deployment_id; /* "d-XXXXXXXXX" */
    const char *application_name;
    const char *group_name;
    const char *group_id;
    const char *revision_id; /* "sha256:<hex>" */
    const char *sha256;      /* <hex>, the bundle's digest: verify before unpacking */
    const char *bundle_type; /* "tgz", "tar", "zip" */
    const char *bundle_url;  /* "/v1/revisions/sha256:…/bundle" (relative to the server) */
    const char **events;     /* lifecycle event names, in order; nevents entries */
    size_t nevents;
    enum deploy_file_exists file_exists;
    bool ignore_application_stop_failures;
};

/* {"commands":[{…}, …]} */
struct deploy_command_list {
    struct arena arena;
    struct deploy_command *items;
    size_t n;
};
int deploy_agent_commands_parse(const char *json, size_t len, struct deploy_command_list *out,
                                struct err *err);
void deploy_agent_commands_fini(struct deploy_command_list *l);
char *deploy_agent_commands_format(const struct deploy_command *items, size_t n);

/* diagnostics of one lifecycle event; every field optional. */
struct deploy_diagnostics {
    const char *error_code;  /* deploy_diag_code_name(): "ScriptFailed", or NULL */
    const char *script_name; /* "scripts/x.sh" */
    const char *message;
    const char *log_tail; /* last lines of the script's output */
    int exit_code;        /* -1: none */
};

/* {"lifecycleEvent":"AfterInstall","status":"Failed","startTime":"…","endTime":"…",
 *  "diagnostics":{"errorCode":"ScriptFailed","scriptName":"…","message":"…","logTail":"…",
 *                 "exitCode":4}} */
struct deploy_event_report {
    struct arena arena;
    const char *lifecycle_event;
    enum deploy_event_status status;
    int64_t start_ms; /* 0: absent */
    int64_t end_ms;   /* 0: absent */
    struct deploy_diagnostics diag;
};
int deploy_agent_event_parse(const char *json, size_t len, struct deploy_event_report *out,
                             struct err *err);
void deploy_agent_event_fini(struct deploy_event_report *r);
char *deploy_agent_event_format(const struct deploy_event_report *r);

/* {"runningCommandId":"c-…"|null} */
struct deploy_heartbeat {
    struct arena arena;
    const char *running_command_id; /* NULL: idle */
};
int deploy_agent_heartbeat_parse(const char *json, size_t len, struct deploy_heartbeat *out,
                                 struct err *err);
void deploy_agent_heartbeat_fini(struct deploy_heartbeat *h);
char *deploy_agent_heartbeat_format(const struct deploy_heartbeat *h);

#endif /* PROTOCOL_DEPLOY_AGENT_H */
