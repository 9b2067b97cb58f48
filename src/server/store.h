/* SPDX-License-Identifier: ISC */
/* The server's state in one SQLite file (WAL, foreign keys on): applications, deployment
 * groups, deployment configs, instances, revisions, deployments with the orchestrator's
 * persisted step, per-instance lifecycle events, and agent commands. The only user of
 * sqlite3.h. Every write is one transaction (or part of the caller's store_begin/store_commit),
 * so a kill -9 at any moment leaves either the old or the new row, never half of one.
 *
 * Threading: one struct store per thread; the server uses it from its loop thread only.
 * Calls are synchronous (each commit is a WAL append with synchronous=NORMAL: tens of µs).
 *
 * Results: every _get/_list fills a caller-provided result struct whose arena owns every
 * string and array in it; release with the matching _fini (safe on a zeroed struct).
 * Returns: 0, -ENOENT (no such row), -EEXIST (duplicate name), -EBUSY (an active deployment
 * exists: see store_deployment_create), -EINVAL (a referenced row is missing), -EIO (SQLite
 * failed: the message is logged by the store, with the statement). */
#ifndef SERVER_STORE_H
#define SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/deploy.h"
#include "protocol/deploy_agent.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"

struct err;
struct store;

#define STORE_ID_MAX 48 /* "d-XXXXXXXXX", "c-<16 hex>", group uuids, with room */

/* Opens (creating if needed) the database at <path>, sets WAL and foreign keys, and migrates
 * the schema to the latest version (seeding the CodeDeployDefault configs). Returns 0 or
 * -EIO with the reason in <err>. */
int store_open(struct store **out, const char *path, struct err *err);
/* Finalises cached statements and closes the database. NULL is fine. */
void store_close(struct store *st);

/* Groups several writes into one transaction (nestable: inner pairs are savepoints).
 * Every store_begin() must be matched by store_commit() or store_rollback(). */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* ---- applications ---- */

struct store_names {
    struct arena arena;
    const char **names;
    size_t n;
};
void store_names_fini(struct store_names *l);

/* -EEXIST if it exists. */
int store_application_create(struct store *st, const char *name);
/* 0 if it exists, else -ENOENT. */
int store_application_exists(struct store *st, const char *name);
int store_application_list(struct store *st, struct store_names *out);

/* ---- deployment groups ---- */

struct store_group {
    struct arena arena;
    const char *id;            /* uuid, stable across updates */
    const char *json;          /* group.json as accepted */
    struct deploy_group group; /* parsed from json (its own arena) */
    int serving_fleet;         /* BLUE_GREEN: index in group.fleets serving traffic (0 or 1) */
    const char *last_good_revision_id; /* revision of the last Succeeded deployment, or NULL */
    int64_t create_ms, update_ms;
};
void store_group_fini(struct store_group *g);

/* Inserts <g> (parsed from <json>) and writes its new id into <id_out> (STORE_ID_MAX).
 * -EEXIST: the group exists; -EINVAL: no such application. */
int store_group_create(struct store *st, const struct deploy_group *g, const char *json,
                       char *id_out);
/* Replaces the group's JSON (same application and group name), keeping id and serving fleet.
 * -ENOENT if it does not exist. */
int store_group_update(struct store *st, const struct deploy_group *g, const char *json);
int store_group_get(struct store *st, const char *app, const char *name, struct store_group *out);
int store_group_list(struct store *st, const char *app, struct store_names *out);
/* Blue/green: records which fleet now serves (after a successful release or a restore). */
int store_group_set_serving_fleet(struct store *st, const char *app, const char *name, int fleet);

/* ---- deployment configs ---- */

/* -EEXIST if the name exists (including the built-ins). */
int store_config_create(struct store *st, const struct deploy_config *c);
/* Fills out (its arena owns the name). */
int store_config_get(struct store *st, const char *name, struct deploy_config *out);

/* ---- instances ---- */

/* The on-premises instance <o> (name, tags, target, agent_version may be NULL) is inserted or
 * its tags/target/version replaced. <token_hash> (hex sha256 of the instance token) replaces
 * the stored one when not NULL (agent registration rotates it); NULL keeps it (admin
 * register-on-premises-instance). */
int store_instance_upsert(struct store *st, const struct deploy_onprem *o, const char *token_hash);
/* One instance; out->n == 1. */
int store_instance_get(struct store *st, const char *name, struct deploy_onprem_list *out);
int store_instance_list(struct store *st, struct deploy_onprem_list *out);
/* The instance whose token hash is <token_hash>: its name into <name_out> (<size> bytes).
 * -ENOENT if none. */
int store_instance_find_by_token(struct store *st, const char *token_hash, char *name_out,
                                 size_t size);
/* Records a heartbeat at now and the command the agent says it runs (NULL: idle). */
int store_instance_heartbeat(struct store *st, const char *name, const char *running_command_id);
/* The last heartbeat (0: never) and the running command it named (into <cmd_out>, "" for
 * none; STORE_ID_MAX bytes; may be NULL). */
int store_instance_last_heartbeat(struct store *st, const char *name, int64_t *at_ms,
                                  char *cmd_out);

/* ---- revisions ---- */

/* Records a revision (idempotent: the same id for the same application is fine). -EINVAL: no
 * such application. */
int store_revision_insert(struct store *st, const struct deploy_revision *r);
/* By id ("sha256:…"); any application's. */
int store_revision_get(struct store *st, const char *revision_id, struct deploy_revision *out);

/* ---- deployments ---- */

struct store_deployment {
    struct deploy_info info; /* its arena owns everything, including step */
    const char *step;        /* the orchestrator's persisted step (JSON object) or NULL */
};
void store_deployment_fini(struct store_deployment *d);

/* Inserts a deployment in status Created with a new id (written to info->deployment_id's
 * storage: <id_out>, STORE_ID_MAX bytes) and create time now. From <info>: application_name,
 * group_name, revision_id, config_name, creator, description, file_exists,
 * ignore_application_stop_failures, auto_rollback_override, type, option,
 * rollback_triggering_deployment_id. In one transaction with the check that the group has no
 * active deployment: -EBUSY with the active one's id in <active_out> (STORE_ID_MAX) if it has.
 * -EINVAL if the application, group or revision does not exist. */
int store_deployment_create(struct store *st, const struct deploy_info *info, char *id_out,
                            char *active_out);
int store_deployment_get(struct store *st, const char *id, struct store_deployment *out);

/* Writes status, error code and message, start/complete times, rollback ids and message from
 * <info> (matched by info->deployment_id). -ENOENT if none. (The overview is computed from the
 * instances on every _get/_list.) */
int store_deployment_update(struct store *st, const struct deploy_info *info);
/* Persists the orchestrator's step (a JSON object text; NULL clears it). */
int store_deployment_set_step(struct store *st, const char *id, const char *step_json);

struct store_deployment_list {
    struct arena arena;
    struct store_deployment *items; /* their arenas are unused: this list's arena owns all */
    size_t n;
};
void store_deployment_list_fini(struct store_deployment_list *l);
/* Deployments of <app>/<group> (either may be NULL: any), newest first, at most <limit>
 * (0: no limit). */
int store_deployment_list(struct store *st, const char *app, const char *group, size_t limit,
                          struct store_deployment_list *out);
/* Every deployment with an active status (Created, Queued, InProgress, Ready), oldest first:
 * what the orchestrator resumes at start. */
int store_deployment_list_active(struct store *st, struct store_deployment_list *out);
/* The newest Succeeded deployment of the group (the last good revision for a rollback).
 * -ENOENT if none. */
int store_deployment_last_succeeded(struct store *st, const char *app, const char *group,
                                    struct store_deployment *out);

/* ---- instances within a deployment, and their lifecycle events ---- */

/* Adds <instance> to deployment <id> with status Pending and <type> (Blue/Green or NONE).
 * Idempotent. -EINVAL if the deployment or instance does not exist. */
int store_target_add(struct store *st, const char *deployment_id, const char *instance,
                     enum deploy_instance_type type);
/* Sets the instance's status in the deployment (and its lastUpdatedAt to now). */
int store_target_set_status(struct store *st, const char *deployment_id, const char *instance,
                            enum deploy_instance_status status);
/* Every instance of the deployment with its lifecycle events in order (the instance's target
 * filled from the instances table). */
int store_target_list(struct store *st, const char *deployment_id,
                      struct deploy_instance_summaries *out);
/* One instance: out->n == 1, or -ENOENT. */
int store_target_get(struct store *st, const char *deployment_id, const char *instance,
                     struct deploy_instance_summaries *out);
/* Counts instances per status into <ov>. */
int store_target_overview(struct store *st, const char *deployment_id, struct deploy_overview *ov);

/* Inserts or updates the lifecycle event <ev->name> of <instance> in the deployment (status,
 * times when non-zero, diagnostics when set). Events keep the order of first insertion.
 * Idempotent: writing the same values twice changes nothing. */
int store_event_upsert(struct store *st, const char *deployment_id, const char *instance,
                       const struct deploy_event *ev);

/* ---- agent commands ---- */

enum store_command_state {
    STORE_COMMAND_QUEUED = 0, /* waiting for the agent's next poll */
    STORE_COMMAND_CLAIMED,    /* handed to the agent */
    STORE_COMMAND_DONE,       /* every event reported final, or the orchestrator closed it */
    STORE_COMMAND_CANCELLED,  /* the deployment ended before the agent claimed it */
};
const char *store_command_state_name(enum store_command_state s);

struct store_command {
    const char *id;
    const char *deployment_id;
    const char *instance;
    enum store_command_state state;
    const char **events; /* nevents lifecycle event names, in order */
    size_t nevents;
    int64_t create_ms, claim_ms, done_ms;
};

struct store_command_list {
    struct arena arena;
    struct store_command *items;
    size_t n;
};
void store_command_list_fini(struct store_command_list *l);

/* Queues a command for <instance> to run <events> of deployment <deployment_id>, writes its
 * id ("c-…") into <id_out> (STORE_ID_MAX), and inserts each event as Pending for that
 * instance (store_target_add must have run). The caller then wakes the instance's long-poll
 * (server_command_queued in server.h). */
int store_command_create(struct store *st, const char *deployment_id, const char *instance,
                         const char *const *events, size_t nevents, char *id_out);
/* Moves every queued command of <instance> to Claimed (claim time now) and returns them,
 * oldest first (out->n may be 0). */
int store_command_claim(struct store *st, const char *instance, struct store_command_list *out);
/* One command: out->n == 1, or -ENOENT. */
int store_command_get(struct store *st, const char *id, struct store_command_list *out);
/* Commands of a deployment, oldest first. */
int store_command_list(struct store *st, const char *deployment_id, struct store_command_list *out);
/* Sets the state (Done or Cancelled stamp done time). */
int store_command_set_state(struct store *st, const char *id, enum store_command_state state);

#endif /* SERVER_STORE_H */
