/* SPDX-License-Identifier: ISC */
/* The host agent's durable state under <root>/agent-state/: the outbox, a FIFO of event reports
 * not yet acknowledged by the server (one file per report, named by a sequence number, written
 * with write + fsync + rename so a kill at any moment leaves either the whole report or none),
 * and the "running" record naming the command and lifecycle event in flight, which lets an agent
 * restarted mid-event report that event as interrupted (code 7). Not thread-safe: the caller
 * serialises access. */
#ifndef AGENT_AGENT_OUTBOX_H
#define AGENT_AGENT_OUTBOX_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct err;

struct agent_outbox {
    char dir[PATH_MAX];     /* <state dir>/outbox */
    char running[PATH_MAX]; /* <state dir>/running */
    uint64_t next_seq;      /* the sequence number the next push gets */
};

/* One queued report. */
struct agent_outbox_entry {
    uint64_t seq;
    char command_id[128];
    char *body; /* owned: the JSON body to POST */
};

/* What was running when the agent last stopped: command <command_id>, event <event> (NUL when
 * the command had no event left), and <last_final> (owned, may be NULL): the final report of the
 * event before it, sent again on recovery because the kill may have come before it was queued. */
struct agent_outbox_running {
    char command_id[128];
    char event[64];
    char *last_final; /* owned */
};

/* Creates <state_dir>/outbox if needed and finds the next sequence number. Leftover temporary
 * files of a killed writer are removed. Returns 0 or a negative errno with err set. */
int agent_outbox_open(struct agent_outbox *ob, const char *state_dir, struct err *err);

/* Appends a report for <command_id> (durable when this returns 0). */
int agent_outbox_push(struct agent_outbox *ob, const char *command_id, const char *body);

/* The oldest report into *out (free with agent_outbox_entry_fini), or -ENOENT when empty. */
int agent_outbox_peek(const struct agent_outbox *ob, struct agent_outbox_entry *out);

/* Removes report <seq> (delivered or refused for good). */
int agent_outbox_pop(struct agent_outbox *ob, uint64_t seq);

/* Number of queued reports. */
size_t agent_outbox_count(const struct agent_outbox *ob);

void agent_outbox_entry_fini(struct agent_outbox_entry *e);

/* Records (atomically, durably) that <event> of <command_id> is about to run. <last_final> may
 * be NULL. */
int agent_outbox_running_save(struct agent_outbox *ob, const char *command_id, const char *event,
                              const char *last_final);

/* Loads the running record into *out: 0, -ENOENT when there is none, -EINVAL when it is
 * unreadable (it is then best discarded). */
int agent_outbox_running_load(const struct agent_outbox *ob, struct agent_outbox_running *out);
void agent_outbox_running_fini(struct agent_outbox_running *r);

/* Forgets the running record (the command ended and its reports are queued). */
int agent_outbox_running_clear(struct agent_outbox *ob);

#endif /* AGENT_AGENT_OUTBOX_H */
