/* SPDX-License-Identifier: ISC */
/* `cutover server`: the control plane's root object and its entry points. server_main wires
 * the store, the revision store, the HTTP API and the orchestrator on one libuv loop.
 *
 * Who tells whom: the API writes what it accepted to the store FIRST, then calls the
 * orchestrator's hooks (struct server_hooks) so it acts on rows that already exist. The
 * orchestrator, after queuing a command with store_command_create, calls
 * server_command_queued() so a parked agent long-poll answers at once.
 *
 * Startup order in server_main: load server.yaml → store_open → revisions → server_new →
 * orchestrator_start(srv) (C: it sets srv->hooks and resumes active deployments) → API listen
 * → loop. Shutdown (SIGINT/SIGTERM): API stops accepting → orchestrator_stop(srv) →
 * loop drains → store_close. */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stdbool.h>

#include <uv.h>

struct api;
struct deploy_event_report;
struct revisions;
struct server_conf;
struct store;

/* Callbacks the orchestrator registers; any may be NULL. Called on the loop thread, after the
 * corresponding rows are committed. Strings are borrowed for the call only. */
struct server_hooks {
    void *ud;
    /* POST /v1/deployments stored a Created deployment. */
    void (*deployment_created)(void *ud, const char *deployment_id);
    /* stop-deployment on an active deployment. <auto_rollback>: 1 enabled, 0 disabled, -1 not
     * given. The orchestrator moves it to Stopped (MANUAL_STOP) and maybe rolls back. */
    void (*deployment_stop)(void *ud, const char *deployment_id, int auto_rollback);
    /* continue-deployment on a Ready deployment. */
    void (*deployment_continue)(void *ud, const char *deployment_id);
    /* An agent claimed a command (long-poll answered with it). */
    void (*command_claimed)(void *ud, const char *command_id, const char *instance);
    /* An agent reported a lifecycle event of a command; the event row is already upserted.
     * Repeated reports (agent retries) arrive again: the hook must be idempotent. */
    void (*event_reported)(void *ud, const char *command_id, const char *instance,
                           const struct deploy_event_report *report);
    /* An agent heartbeat (already stored). */
    void (*heartbeat)(void *ud, const char *instance, const char *running_command_id);
};

/* The root of the server process. */
struct server {
    uv_loop_t *loop;                /* borrowed: the default loop */
    const struct server_conf *conf; /* borrowed: server_main's */
    struct store *store;            /* owned */
    struct revisions *revisions;    /* owned */
    struct api *api;                /* owned */
    struct server_hooks hooks;      /* set by the orchestrator; zeroed until then */
    void *orchestrator;             /* owned by the orchestrator (C); opaque here */
    bool is_stopping;               /* SIGTERM seen: no new work */
};

/* A command was queued for <instance>: answer its parked long-poll now (no-op when none). */
void server_command_queued(struct server *srv, const char *instance);

/* Wire-up (tests and server_main): installs <hooks>, replacing any previous ones. */
void server_set_hooks(struct server *srv, const struct server_hooks *hooks);

/* `cutover server init --data DIR` and `cutover server -c server.yaml [--check]`. */
int server_main(int argc, char **argv);

#endif /* SERVER_SERVER_H */
