/* SPDX-License-Identifier: ISC */
/* One lifecycle hook script, run to completion on a libuv loop: own process group, output to
 * the deployment logs line by line, timeout → SIGTERM to the group → SIGKILL, `runas` by
 * dropping privileges directly. The outcome codes are the reference agent's (APPSPEC.md). */
#ifndef AGENT_HOOK_RUN_H
#define AGENT_HOOK_RUN_H

#include <stdint.h>
#include <uv.h>

#include "common/err.h"

struct deploy_log;
struct hook_run;

enum hook_run_outcome {
    HOOK_RUN_SUCCEEDED = 0,         /* exit status 0 */
    HOOK_RUN_MISSING = 1,           /* no script at the location */
    HOOK_RUN_NOT_EXECUTABLE = 2,    /* could not be made executable */
    HOOK_RUN_TIMED_OUT = 3,         /* still running at its timeout */
    HOOK_RUN_FAILED = 4,            /* non-zero exit, killed by a signal, or could not start */
    HOOK_RUN_UNKNOWN = 5,           /* anything else (unknown runas user, …) */
    HOOK_RUN_OUTPUTS_LEFT_OPEN = 6, /* reference only: cutover never reports it (see .c) */
    HOOK_RUN_INTERRUPTED = 7,       /* cancelled: the agent is stopping */
};

struct hook_run_spec {
    const char *archive_dir; /* borrowed: the revision the script comes from */
    const char *location;    /* borrowed: relative to archive_dir ('/' prefix harmless) */
    uint32_t timeout_s;
    const char *runas;      /* borrowed: user name or NULL */
    char **env;             /* borrowed, NULL-terminated: the full environment */
    const char *self_exe;   /* borrowed: this binary, re-executed to drop privileges */
    struct deploy_log *log; /* borrowed: may be NULL */
    uint32_t kill_after_ms; /* SIGTERM → SIGKILL delay; 0 = 5000 */
    uint32_t drain_ms;      /* how long to read output after the script exited; 0 = 1000 */
};

struct hook_run_result {
    enum hook_run_outcome outcome;
    int exit_status; /* valid when the script exited */
    int term_signal; /* non-zero when it was killed */
    uint64_t duration_ms;
    char message[ERR_MSG_MAX]; /* the reference's message shape; "" on success */
    const char *tail;          /* borrowed (valid during the callback): last output lines */
    const char *left_running;  /* borrowed: "pid comm, …" still holding output, or NULL */
};

/* Called once, from the loop, after every handle closed; the run is freed when it returns. */
typedef void hook_run_cb(const struct hook_run_result *result, void *arg);

/* Starts the script. Returns 0 and calls <cb> later from the loop (even for a missing script),
 * or a negative errno (and <cb> never runs). *out (may be NULL) is borrowed until <cb>. */
int hook_run_start(uv_loop_t *loop, const struct hook_run_spec *spec, hook_run_cb *cb, void *arg,
                   struct hook_run **out);

/* Stops the script as a timeout would (SIGTERM, then SIGKILL) and reports
 * HOOK_RUN_INTERRUPTED. Idempotent. */
void hook_run_cancel(struct hook_run *run);

const char *hook_run_outcome_name(enum hook_run_outcome outcome);

/* The privilege-dropping helper (`cutover local --exec-as USER -- PATH`): initgroups, setgid,
 * setuid, then execs PATH. Returns only on failure, with an exit status for the child. */
int hook_run_exec_as(const char *user, const char *path);

#endif /* AGENT_HOOK_RUN_H */
