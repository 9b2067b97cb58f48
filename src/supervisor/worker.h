/* SPDX-License-Identifier: ISC */
/* One worker process, from spawn to reaped exit: a state machine (STYLE.md §6).
 *
 *   STARTING ──ready──▶ READY ──worker_stop──▶ DRAINING ──exit──▶ STOPPED
 *      │                  │                       └─kill_timeout: SIGKILL the group
 *      │                  └──exit (crash, max_memory)──▶ BACKOFF ──delay──▶ STARTING
 *      ├──exit / ready_timeout──▶ BACKOFF (restartable) or FAILED→STOPPED (not restartable)
 *      └── crash loop (backoff gives up) ──▶ ERRORED (terminal until an operator starts it)
 *
 * The worker is its own process group (setsid), so a stop reaches every process the app
 * forked, and a supervisor that dies does not take the workers with it. The owner (the app)
 * hears about every state change through the callback. */
#ifndef SUPERVISOR_WORKER_H
#define SUPERVISOR_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/buf.h"
#include "supervisor/backoff.h"

struct supervisor_app_conf;
struct worker_log;
struct readiness_probe;
struct worker_pipe;

enum worker_state {
    WORKER_STARTING = 0, /* spawned, readiness not yet seen */
    WORKER_READY,        /* serving */
    WORKER_DRAINING,     /* kill_signal sent, waiting for the exit */
    WORKER_BACKOFF,      /* exited unexpectedly, restart timer pending */
    WORKER_STOPPED,      /* not running */
    WORKER_ERRORED,      /* crash loop: given up */
};

enum worker_event {
    WORKER_EV_READY = 0, /* STARTING → READY */
    WORKER_EV_FAILED,    /* not ready in time or exited while starting (not restartable) */
    WORKER_EV_EXITED,    /* an exit the worker handles itself (backoff) */
    WORKER_EV_STOPPED,   /* reached STOPPED after worker_stop or a failure */
    WORKER_EV_ERRORED,   /* reached ERRORED */
};

struct worker;
typedef void (*worker_event_cb)(struct worker *w, enum worker_event ev);

/* Everything a worker needs from its app; borrowed, must outlive the worker. */
struct worker_env {
    uv_loop_t *loop;
    const struct supervisor_app_conf *conf;
    const char *self_exe;    /* the cutover binary, for the --exec-worker helper */
    const char *notify_path; /* NOTIFY_SOCKET for every worker, or NULL */
    int listen_fd;           /* listen: mode: fd 3 in the worker; -1 otherwise */
    bool has_ids;
    uid_t uid;
    gid_t gid;
};

struct worker {
    const struct worker_env *env; /* borrowed */
    worker_event_cb on_event;
    void *owner; /* the app */
    uint32_t index;
    uint32_t generation;
    enum worker_state state;
    bool restartable;     /* false for a reload's new worker until it is ready */
    bool closing;         /* worker_free called; waiting for handles */
    bool respawn;         /* stopped for max_memory: start again once it exits */
    bool adopted;         /* a previous supervisor's child, watched through a pidfd */
    int pidfd;            /* adopted: -1 otherwise */
    uv_poll_t pidfd_poll; /* adopted: readable when the process exits */
    int pending_closes;
    pid_t pid; /* 0 when no process */
    uv_process_t proc;
    bool proc_open;
    struct worker_pipe *out, *err;        /* this spawn's output pipes; they free themselves */
    struct worker_log *log_out, *log_err; /* borrowed from the app, may be NULL */
    uv_timer_t timer;              /* the state's timer: ready_timeout, kill_timeout, backoff */
    uv_timer_t probe_timer;        /* next readiness probe */
    struct readiness_probe *probe; /* in flight, or NULL */
    struct backoff backoff;
    uint64_t started_ms;      /* uv_now at the last spawn */
    uint64_t started_wall_ms; /* the same instant, unix time in ms */
    uint32_t restarts;
    int last_exit_code;    /* -1 if none */
    int last_signal;       /* 0 if none */
    char fail_reason[128]; /* why the last start failed */
    uint64_t rss_bytes;    /* last sample */
    double cpu_pct;        /* over the last sampling interval */
    uint64_t cpu_ticks;    /* utime+stime at the last sample */
    uint64_t cpu_sample_ms;
};

/* Allocates a worker in STOPPED. */
struct worker *worker_new(const struct worker_env *env, uint32_t index, uint32_t generation,
                          worker_event_cb cb, void *owner);
/* Spawns the process and enters STARTING. Returns 0 or a negative errno (the reason is in
 * fail_reason and the worker stays STOPPED). */
int worker_start(struct worker *w);
/* Takes over a running worker of a previous supervisor (same app, index and generation) as
 * READY; its exit is seen through a pidfd. Output written after the old supervisor died is
 * lost (its pipes died with it). Returns 0 or -errno (the process is gone). */
int worker_adopt(struct worker *w, pid_t pid, uint64_t started_wall_ms, uint32_t restarts);
/* Graceful stop: kill_signal, then SIGKILL of the group after kill_timeout. From BACKOFF or
 * ERRORED goes straight to STOPPED. Idempotent. */
void worker_stop(struct worker *w);
/* SIGKILL the whole process group now (a failed new worker). */
void worker_kill(struct worker *w);
/* Samples RSS and CPU from /proc; restarts the worker past max_memory. */
void worker_sample(struct worker *w);
/* The app moved this worker's log files (SIGHUP): its output pipes follow log_out/log_err.
 * A worker spawned without pipes (logs were off) keeps discarding its output. */
void worker_relink_logs(struct worker *w);
/* Closes every handle and frees; the process, if any, is SIGKILLed first. */
void worker_free(struct worker *w);

const char *worker_state_name(enum worker_state s);
/* The contract names: BACKOFF reads as "starting". */
const char *worker_state_public(enum worker_state s);
/* Sd_notify message from this worker's process group. */
void worker_notify(struct worker *w, const char *msg);
/* True when <pid> is this worker or in its process group. */
bool worker_owns_pid(const struct worker *w, pid_t pid);

#endif /* SUPERVISOR_WORKER_H */
