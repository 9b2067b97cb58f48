/* SPDX-License-Identifier: ISC */
/* One app: its workers (every generation alive right now), its log files, its listening socket
 * (listen: mode) or nginx upstream file (ports: mode), and the operation in progress.
 *
 * Operations (start, stop, restart, reload) run one at a time per app and finish by calling
 * their callback once. Worker events never act directly: they schedule a step, and the step
 * looks at every worker and decides, so each decision sees a consistent picture.
 *
 * reload in listen: mode is surge-then-drain (reload.h): the socket never closes, new workers
 * accept from the same queue as old ones, an old worker is told to stop only once a new one is
 * ready. In ports: mode a port can only be held by one worker, so each slot is taken out of the
 * nginx upstream (if configured), drained, restarted, and put back once ready. */
#ifndef SUPERVISOR_SUPERVISOR_APP_H
#define SUPERVISOR_SUPERVISOR_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/addr.h"
#include "supervisor/worker.h"
#include "supervisor/worker_log.h"

struct err;
struct apps_msg_reply;
struct apps_msg_worker;
struct supervisor_app_conf;

enum supervisor_app_op {
    SUPERVISOR_APP_IDLE = 0,
    SUPERVISOR_APP_START,
    SUPERVISOR_APP_STOP,
    SUPERVISOR_APP_RESTART,
    SUPERVISOR_APP_RELOAD,
    SUPERVISOR_APP_SCALE, /* SIGHUP changed only instances: start the new slots or drain the
                             highest indexes */
};

/* What a new definition needs (supervisor_app_set_conf); the caller runs it. */
enum supervisor_app_change {
    SUPERVISOR_CHANGE_NONE = 0, /* applied as it is (timeouts, restart policy, logs, ...) */
    SUPERVISOR_CHANGE_RELOAD,   /* the workers would run differently: a reload */
    SUPERVISOR_CHANGE_SCALE,    /* only instances changed */
};

struct supervisor_app_result {
    bool ok;
    char error[512];
    char failed_worker[160]; /* "web[2]" */
    struct buf log_tail;     /* the failed worker's last log lines */
};

typedef void (*supervisor_app_done_cb)(void *arg, const struct supervisor_app_result *r);

struct supervisor_app {
    const struct supervisor_app_conf *conf; /* borrowed from the supervisor's conf */
    struct worker_env wenv;
    struct worker **workers; /* owned; every generation */
    size_t nworkers;
    struct worker_log *logs; /* owned: 2 per index (stdout, stderr) */
    uint32_t nlogs;
    uint32_t generation; /* the newest generation */
    uv_timer_t step;     /* deferred step after worker events */
    bool closing;
    bool removed;        /* SIGHUP: no longer in apps.yaml; being stopped, then retired */
    bool rebind_pending; /* SIGHUP changed listen/ports: the next reload is a rebind */
    int old_listen_fd;   /* rebind from listen: the previous socket until the rollout is done */
    struct addr old_listen;
    uint32_t scale_from; /* SIGHUP changed instances: the count before, for the SCALE op */
    uint32_t old_ports;  /* rebind from ports: the previous base and count */
    uint32_t old_nports;
    struct {
        enum supervisor_app_op kind;
        uint32_t parallel;
        bool failed;
        bool restart_stopped;  /* RESTART: the stop half is done */
        uint32_t next_slot;    /* ports-mode reload: next index to replace */
        int nginx_busy;        /* ports-mode: an `nginx -s reload` in flight */
        bool restored;         /* ports-mode: ports put back after a failure */
        bool rebind;           /* RELOAD onto a new listen/ports binding: surge then drain */
        bool upstream_done;    /* RELOAD rebind / SCALE with nginx: the upstream was switched */
        bool settled;          /* RELOAD rebind with nginx: nothing is connected to old ports */
        uint64_t settle_until; /* ... or this uv_now passed */
        bool drained;          /* SCALE down: the highest indexes were told to stop */
        uint32_t scale_from;   /* SCALE: instances before */
        struct supervisor_app_result result;
        supervisor_app_done_cb cb;
        void *arg;
    } op;
    bool *port_out; /* ports mode: index taken out of the nginx upstream */
    uv_process_t nginx_proc;
};

/* Prepares the app (opens log files, binds the listen: socket unless <inherited_fd> >= 0).
 * Starts nothing. */
int supervisor_app_init(struct supervisor_app *app, uv_loop_t *loop,
                        const struct supervisor_app_conf *conf, const char *self_exe,
                        const char *notify_path, int inherited_fd, struct err *err);
/* Starts <op> (parallel only for reload). Fails with -EBUSY when another op runs. */
int supervisor_app_run(struct supervisor_app *app, enum supervisor_app_op op, uint32_t parallel,
                       supervisor_app_done_cb cb, void *arg);
/* Takes over the running workers of a previous supervisor (from its state file), as READY
 * members of their recorded generations. Returns how many were adopted. */
size_t supervisor_app_adopt(struct supervisor_app *app, const struct apps_msg_worker *ws, size_t n);
/* SIGHUP: switches the app to <conf> (which must outlive the app). Everything that can fail is
 * done first (user lookup, binding a new listen: socket, opening log files in a new place):
 * on failure nothing changes and the reason is in <why> (-EINVAL, -EBUSY while an operation
 * runs). On success the new definition is in force and *change says what the caller must run:
 * a reload (command, cwd, env, readiness, user/group, logs turned on or off, or a new
 * listen/ports binding: new workers on the new binding, then the old ones drain), a scale
 * (only instances changed), or nothing (timeouts, restart policy, max_memory, log dir, size or
 * keep: the files are reopened at once; nginx settings). */
int supervisor_app_set_conf(struct supervisor_app *app, const struct supervisor_app_conf *conf,
                            enum supervisor_app_change *change, char *why, size_t whylen);
/* Appends every worker to <rep>. */
void supervisor_app_status(const struct supervisor_app *app, struct apps_msg_reply *rep);
/* Periodic RSS/CPU sampling for every running worker. */
void supervisor_app_sample(struct supervisor_app *app);
/* Routes an sd_notify message; true if a worker of this app took it. */
bool supervisor_app_notify(struct supervisor_app *app, pid_t pid, const char *msg);
/* True when no worker process is running. */
bool supervisor_app_idle(const struct supervisor_app *app);
/* Ends any operation (its callback hears "shutting down") and stops every worker gracefully. */
void supervisor_app_shutdown(struct supervisor_app *app);
/* Kills what is left and frees every worker and handle. */
void supervisor_app_fini(struct supervisor_app *app);

#endif /* SUPERVISOR_SUPERVISOR_APP_H */
