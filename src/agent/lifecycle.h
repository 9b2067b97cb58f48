/* SPDX-License-Identifier: ISC */
/* One deployment of one revision to one deployment group on this host, through the lifecycle
 * events in order: the engine behind `cutover local` and the host agent. It owns the deployment
 * root layout (APPSPEC.md), the group lock, the pointers and pruning. */
#ifndef AGENT_LIFECYCLE_H
#define AGENT_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/appspec.h"
#include "agent/bundle.h"
#include "agent/hook_run.h"
#include "agent/install.h"

struct err;

enum lifecycle_revision {
    LIFECYCLE_REV_NEW = 0,         /* the revision being deployed */
    LIFECYCLE_REV_LAST_SUCCESSFUL, /* <group>_last_successful_install */
    LIFECYCLE_REV_MOST_RECENT,     /* <group>_most_recent_install, as it was before this one */
};

enum lifecycle_status {
    LIFECYCLE_NOT_RUN = 0, /* after a failure */
    LIFECYCLE_SKIPPED,     /* no scripts, or no previous revision */
    LIFECYCLE_SUCCEEDED,
    LIFECYCLE_FAILED,
    LIFECYCLE_FAILED_IGNORED, /* failed, --ignore-application-stop-failures */
};

struct lifecycle_script_report {
    char *location; /* owned */
    char *runas;    /* owned, or NULL */
    enum hook_run_outcome outcome;
    int exit_status;
    int term_signal;
    uint64_t duration_ms;
};

struct lifecycle_event_report {
    enum appspec_event event;
    enum lifecycle_status status;
    uint64_t duration_ms;
    const char *revision;                    /* static: lifecycle_revision_name(), or NULL */
    const char *note;                        /* static: why it was skipped, or NULL */
    struct lifecycle_script_report *scripts; /* owned */
    size_t nscripts;
};

struct lifecycle_report {
    char deployment_id[32];
    char *deployment_dir;  /* owned */
    char *scripts_log;     /* owned */
    char *deployments_log; /* owned */
    bool succeeded;
    struct lifecycle_event_report events[APPSPEC_NEVENTS];
    size_t nevents;
    struct install_stats install;
    /* failure (succeeded == false) */
    enum appspec_event failed_event;
    char *failed_script; /* owned, or NULL when the event has no script (Install) */
    int error_code;      /* hook_run outcome code, or 5 for the agent's own steps */
    char *error_message; /* owned */
    char *log_tail;      /* owned: last lines of the failing script's output, or NULL */
};

/* Progress as it happens: <script> is a script that just finished (then <ev> is its event, still
 * running), or NULL when event <ev> just ended. */
typedef void lifecycle_progress_cb(const struct lifecycle_event_report *ev,
                                   const struct lifecycle_script_report *script, void *arg);

struct lifecycle_opts {
    const char *root;            /* deployment root */
    const char *bundle_location; /* directory or archive file */
    enum bundle_type bundle_type;
    const char *sha256;                   /* expected hex digest of an archive, or NULL */
    enum appspec_file_exists file_exists; /* the command line's; the appspec's value wins */
    const char *group_id;
    const char *group_name;
    const char *application_name;
    const char *appspec_name;                   /* "appspec.yml" */
    enum appspec_event events[APPSPEC_NEVENTS]; /* from lifecycle_select_events */
    size_t nevents;
    unsigned max_revisions;          /* >= 1 */
    bool ignore_stop_failures;       /* ApplicationStop/BlockTraffic failures only warn */
    bool rollback;                   /* blue/green rollback: see lifecycle_revision_for() */
    const char *self_exe;            /* for runas */
    const char *deployment_id;       /* NULL: a new d-XXXXXXXXX-local id */
    const char *dir_name;            /* the deployment directory under <root>/<group-id>;
                                      * NULL: the deployment id (the host agent runs a
                                      * deployment's traffic events as separate commands, each
                                      * in a directory of its own) */
    char *const *extra_env;          /* NULL-terminated "NAME=value" added to every hook's
                                      * environment (the host agent's BUNDLE_*, CUTOVER_*) */
    lifecycle_progress_cb *progress; /* may be NULL */
    void *progress_arg;
};

/* Runs the deployment. Returns 0 when it ran (rep->succeeded says how it ended), -EBUSY when
 * another deployment holds the group's lock, or another negative errno when the revision was
 * refused before anything ran (unreadable or unsafe bundle, digest mismatch, invalid appspec):
 * then err says why and nothing was applied. Blocking; runs its own libuv loop. */
int lifecycle_run(const struct lifecycle_opts *o, struct lifecycle_report *rep, struct err *err);

/* --check: unpacks (into a scratch directory) and validates the revision, runs nothing.
 * Returns 0 or a negative errno with err set. */
int lifecycle_check(const struct lifecycle_opts *o, struct err *err);

void lifecycle_report_fini(struct lifecycle_report *rep);

/* The events to run for `--events` <csv> (NULL: all, in lifecycle order). Listed events run in
 * the given order after DownloadBundle and Install, which are prepended when absent, as the
 * reference's codedeploy-local does. Unknown or repeated names fail with a suggestion. */
int lifecycle_select_events(const char *csv, enum appspec_event *out, size_t *n, struct err *err);

const char *lifecycle_status_name(enum lifecycle_status status);

/* Whose scripts an event runs (APPSPEC.md "Which revision's scripts run"). Normally
 * ApplicationStop and the BlockTraffic events run the last successful revision's, the rest the
 * new one's; in a blue/green rollback the BlockTraffic events run the most recent revision's and
 * the AllowTraffic events the last successful one's. */
enum lifecycle_revision lifecycle_revision_for(enum appspec_event ev, bool rollback);
const char *lifecycle_revision_name(enum lifecycle_revision rev);

#endif /* AGENT_LIFECYCLE_H */
