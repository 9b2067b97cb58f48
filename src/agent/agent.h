/* SPDX-License-Identifier: ISC */
/* `cutover agent`: the host agent. It registers with the server, long-polls for commands, runs
 * each with the `cutover local` lifecycle engine under its own deployment root, and reports every
 * lifecycle event back through a durable outbox drained by a reporter thread that also sends the
 * heartbeats (flags and exit codes in docs/man/cutover-agent.md).
 *
 * Threads: the main thread polls and runs commands (lifecycle_run blocks it); the reporter thread
 * delivers the outbox in order and heartbeats. They share struct agent's outbox and running
 * command id under <lock>. */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent_client.h"
#include "agent/agent_outbox.h"

struct agent {
    /* flags */
    const char *server; /* borrowed: argv */
    const char *name;   /* borrowed: argv or hostname below */
    const char *target; /* borrowed: argv, may be NULL */
    const char *cafile; /* borrowed: argv, may be NULL */
    char *token;        /* owned: the enrollment token */
    char *tags;         /* owned: writable copy of --tags */
    uint32_t poll_wait_s;
    unsigned max_revisions;
    bool once;
    bool check;
    char hostname[256];
    char root[PATH_MAX];        /* absolute deployment root */
    char state_dir[PATH_MAX];   /* <root>/agent-state */
    char bundles_dir[PATH_MAX]; /* <state_dir>/bundles */
    char self_exe[PATH_MAX];
    char *extra_env[3];  /* owned: CUTOVER_INSTANCE_NAME=, CUTOVER_TARGET=, NULL */
    char *register_body; /* owned */

    struct agent_client client;
    pthread_mutex_t lock; /* guards outbox, running, stopping */
    pthread_cond_t wake;  /* signalled on push and on stop */
    struct agent_outbox outbox;
    char running[128]; /* the command in flight, "" when idle */
    bool stopping;
    pthread_t reporter;
    bool reporter_started;

    unsigned commands_run;
    unsigned commands_failed;
    bool interrupted; /* a run was cut short by SIGTERM/SIGINT: exit after it */
};

/* Exit status: 0 stopped cleanly (or --once ran every command it got, all succeeded), 1 a
 * --once command failed, 2 usage error, 75 the server was unreachable (--once) or the --once
 * reports could not be delivered in time. */
int agent_main(int argc, char **argv);

/* Queues a report durably and wakes the reporter. Returns 0 or a negative errno (logged). */
int agent_push_report(struct agent *a, const char *command_id, const char *body);

/* Sets (command_id != NULL) or clears the command the heartbeats name. */
void agent_set_running(struct agent *a, const char *command_id);

#endif /* AGENT_AGENT_H */
