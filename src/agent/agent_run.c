/* SPDX-License-Identifier: ISC */
/* Report order for one command, each report durable before the next step:
 *   running record (refusal target) → bundle fetched + verified → revision validated →
 *   InProgress(first event) → per event end: running record (next event, this report) →
 *   final report → InProgress(next) … → running record cleared.
 * A refused revision (digest mismatch, unsafe archive, invalid appspec) is reported as a failed
 * DownloadBundle (or the command's first event when it has none) and nothing is unpacked in the
 * deployment root. */
#include "agent/agent_run.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_wire.h"
#include "agent/bundle.h"
#include "agent/fsops.h"
#include "agent/lifecycle.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/str.h"
#include "protocol/deploy_agent.h"

#define DOWNLOAD_ATTEMPTS 4
#define BUNDLES_KEPT 4
#define TAIL_LINES 200
#define TAIL_MAX 4096 /* bytes of log tail sent with a successful event */

/* One command in flight. */
struct run {
    struct agent *a;                  /* borrowed */
    const struct deploy_command *cmd; /* borrowed */
    struct lifecycle_opts o;
    struct lifecycle_report rep;
    int64_t event_start_ms; /* of the event now running */
    size_t next;            /* index in o.events of the event now running */
};

static bool
is_safe_name(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    return len > 0 && len < 120 && s[0] != '.' &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:") == len;
}

static bool
is_hex64(const char *s)
{
    return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64;
}

static void
push_event(struct run *r, enum appspec_event ev, enum deploy_event_status st, int64_t start_ms,
           const struct agent_wire_failure *f)
{
    int64_t end = st == DEPLOY_EVENT_IN_PROGRESS ? 0 : deploy_time_now_ms();
    char *body = agent_wire_event_body(appspec_event_name(ev), st, start_ms, end, f);

    (void)agent_push_report(r->a, r->cmd->command_id, body);
    free(body);
}

/* Reports the command as refused before any event ran: <ev> Failed with code 5. */
static void
refuse(struct run *r, enum appspec_event ev, const char *message)
{
    struct agent_wire_failure f = {.code = HOOK_RUN_UNKNOWN, .message = message};

    log_error("command %s (deployment %s): %s: %s", r->cmd->command_id, r->cmd->deployment_id,
              appspec_event_name(ev), message);
    push_event(r, ev, DEPLOY_EVENT_FAILED, deploy_time_now_ms(), &f);
}

/* ---- the bundle ---- */

/* Keeps the BUNDLES_KEPT most recently used bundles of the cache. */
static void
prune_bundles(const char *dir)
{
    char path[PATH_MAX], oldest[PATH_MAX];
    for (;;) {
        time_t oldest_t = 0;
        size_t n = 0;
        struct dirent *e;
        struct stat st;
        DIR *d = opendir(dir);
        if (d == NULL)
            return;
        oldest[0] = '\0';
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' ||
                fsops_path(path, sizeof(path), "%s/%s", dir, e->d_name) != 0 ||
                stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            n++;
            if (oldest[0] == '\0' || st.st_mtime < oldest_t) {
                oldest_t = st.st_mtime;
                str_copy(oldest, path, sizeof(oldest));
            }
        }
        closedir(d);
        if (n <= BUNDLES_KEPT || oldest[0] == '\0' || unlink(oldest) != 0)
            return;
    }
}

static int
verify(const char *path, const char *expected, struct err *err)
{
    char hex[65];
    int rc;

    if ((rc = bundle_sha256(path, hex, err)) != 0)
        return rc;
    if (!str_ieq(hex, expected))
        return err_set(err, -EBADMSG, "bundle sha256 is %s (expected %s): refused before unpacking",
                       hex, expected);
    return 0;
}

static int
download(struct run *r, const char *part, struct err *err)
{
    int rc = 0;

    for (unsigned attempt = 0; attempt < DOWNLOAD_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            uint32_t ms = agent_wire_backoff_ms(attempt - 1, 8000, agent_wire_jitter());
            struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
            log_warn("bundle download failed, retrying in %u ms: %s", (unsigned)ms, err->msg);
            nanosleep(&ts, NULL);
        }
        rc = agent_client_download(&r->a->client, r->cmd->bundle_url, part, err);
        if (rc == 0 || !agent_client_is_transient(rc))
            break;
    }
    return rc;
}

/* Downloads (or finds in the cache) the command's bundle into <path>, verified. */
static int
fetch_bundle(struct run *r, char *path, size_t size, struct err *err)
{
    const struct deploy_command *cmd = r->cmd;
    char part[PATH_MAX];
    int rc;

    if (!is_hex64(cmd->sha256))
        return err_set(err, -EINVAL, "the command carries no usable sha256 ('%s')",
                       cmd->sha256 ? cmd->sha256 : "");
    if (cmd->bundle_url == NULL || cmd->bundle_url[0] == '\0')
        return err_set(err, -EINVAL, "the command carries no bundle url");
    if (fsops_path(path, size, "%s/%s.%s", r->a->bundles_dir, cmd->sha256,
                   bundle_type_name(r->o.bundle_type)) != 0 ||
        fsops_path(part, sizeof(part), "%s.part", path) != 0)
        return err_set(err, -ENAMETOOLONG, "%s: path too long", r->a->bundles_dir);
    if (access(path, F_OK) == 0) {
        if (verify(path, cmd->sha256, err) == 0) {
            (void)utimensat(AT_FDCWD, path, NULL, 0); /* most recently used */
            return 0;
        }
        unlink(path); /* damaged on disk: fetch again */
    }
    if ((rc = download(r, part, err)) != 0)
        return rc;
    if ((rc = verify(part, cmd->sha256, err)) != 0) {
        unlink(part);
        return rc;
    }
    if (rename(part, path) != 0) {
        rc = err_set(err, -errno, "%s: %s", path, strerror(errno));
        unlink(part);
        return rc;
    }
    prune_bundles(r->a->bundles_dir);
    return 0;
}

/* ---- the lifecycle ---- */

/* The lines the scripts of <event> wrote, from the end of the deployment's scripts.log (at most
 * TAIL_MAX bytes, whole lines), as CodeDeploy's diagnostics.logTail; NULL when there are none. */
static char *
event_tail(const char *scripts_log, enum appspec_event event)
{
    char marker[96];
    const char *p, *found = NULL;
    struct buf b;
    char *out = NULL;

    buf_init(&b);
    (void)snprintf(marker, sizeof(marker), "LifecycleEvent - %s\n", appspec_event_name(event));
    if (scripts_log == NULL || fsutil_tail(scripts_log, TAIL_LINES, &b) != 0 || b.len == 0)
        goto out;
    for (p = b.data; (p = strstr(p, marker)) != NULL; p++)
        found = p;
    if (found == NULL)
        goto out;
    p = found + strlen(marker);
    if (b.data + b.len - p > TAIL_MAX) {
        p = b.data + b.len - TAIL_MAX;
        p += strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');
    }
    if (*p != '\0')
        out = strdup(p);
out:
    buf_fini(&b);
    return out;
}

static void
on_progress(const struct lifecycle_event_report *ev, const struct lifecycle_script_report *sc,
            void *arg)
{
    struct run *r = arg;
    struct agent_wire_failure f = {0};
    enum deploy_event_status st;
    bool failed, has_next;
    char *body, *tail = NULL;

    if (sc != NULL) {
        log_info("deployment %s: %s %s: %s", r->cmd->deployment_id, appspec_event_name(ev->event),
                 sc->location, hook_run_outcome_name(sc->outcome));
        return;
    }
    if (!agent_wire_event_status(ev->status, &st))
        return;
    failed = ev->status == LIFECYCLE_FAILED;
    if (failed) {
        f.code = r->rep.error_code;
        f.script = r->rep.failed_script;
        f.message = r->rep.error_message;
        f.log_tail = r->rep.log_tail;
    } else if (ev->nscripts > 0) { /* CodeDeploy's diagnostics of a successful event */
        f.message = ev->status == LIFECYCLE_FAILED_IGNORED ? "Failed, ignored" : "Succeeded";
        f.log_tail = tail = event_tail(r->rep.scripts_log, ev->event);
    }
    body = agent_wire_event_body(appspec_event_name(ev->event), st, r->event_start_ms,
                                 deploy_time_now_ms(), failed || ev->nscripts > 0 ? &f : NULL);
    free(tail);
    while (r->next < r->o.nevents && r->o.events[r->next] != ev->event)
        r->next++;
    r->next++;
    has_next = !failed && r->next < r->o.nevents;
    pthread_mutex_lock(&r->a->lock);
    if (agent_outbox_running_save(&r->a->outbox, r->cmd->command_id,
                                  has_next ? appspec_event_name(r->o.events[r->next]) : "",
                                  body) != 0)
        log_warn("cannot record the running event under %s", r->a->state_dir);
    pthread_mutex_unlock(&r->a->lock);
    (void)agent_push_report(r->a, r->cmd->command_id, body);
    free(body);
    log_info("deployment %s: %s %s", r->cmd->deployment_id, appspec_event_name(ev->event),
             deploy_event_status_name(st));
    if (has_next) {
        r->event_start_ms = deploy_time_now_ms();
        push_event(r, r->o.events[r->next], DEPLOY_EVENT_IN_PROGRESS, r->event_start_ms, NULL);
    }
}

static int
build_opts(struct run *r, struct err *err)
{
    const struct deploy_command *cmd = r->cmd;
    struct lifecycle_opts *o = &r->o;
    static const enum appspec_file_exists fe[] = {
        [DEPLOY_FILE_EXISTS_DISALLOW] = APPSPEC_FE_DISALLOW,
        [DEPLOY_FILE_EXISTS_OVERWRITE] = APPSPEC_FE_OVERWRITE,
        [DEPLOY_FILE_EXISTS_RETAIN] = APPSPEC_FE_RETAIN,
    };

    o->root = r->a->root;
    o->group_id = cmd->group_id;
    o->group_name = cmd->group_name ? cmd->group_name : cmd->group_id;
    o->application_name = cmd->application_name ? cmd->application_name : "";
    o->appspec_name = "appspec.yml";
    o->max_revisions = r->a->max_revisions;
    o->ignore_stop_failures = cmd->ignore_application_stop_failures;
    o->self_exe = r->a->self_exe;
    o->deployment_id = cmd->deployment_id;
    o->extra_env = r->a->extra_env;
    o->file_exists = fe[cmd->file_exists];
    o->progress = on_progress;
    o->progress_arg = r;
    if (!is_safe_name(cmd->group_id))
        return err_set(err, -EINVAL, "deployment group id '%s' is not usable as a file name",
                       cmd->group_id ? cmd->group_id : "");
    if (!is_safe_name(cmd->deployment_id) || !is_safe_name(cmd->command_id))
        return err_set(err, -EINVAL, "deployment id or command id unusable as a file name");
    if (bundle_type_parse(cmd->bundle_type ? cmd->bundle_type : "tgz", &o->bundle_type) != 0 ||
        o->bundle_type == BUNDLE_DIRECTORY)
        return err_set(err, -EINVAL, "bundle type '%s' (expected tgz, tar or zip)",
                       cmd->bundle_type);
    return agent_wire_events(cmd->events, cmd->nevents, o->events, &o->nevents, err);
}

/* The deployment directory: the deployment id, or for a later command of the same deployment
 * on this host (its traffic events) "<deployment id>.<command id>". */
static void
choose_dir(struct run *r, char *dir_name, size_t size)
{
    char path[PATH_MAX];

    (void)fsops_path(path, sizeof(path), "%s/%s/%s", r->a->root, r->cmd->group_id,
                     r->cmd->deployment_id);
    if (access(path, F_OK) == 0) {
        (void)fsops_path(dir_name, size, "%s.%s", r->cmd->deployment_id, r->cmd->command_id);
        r->o.dir_name = dir_name;
    }
}

static bool
run_lifecycle(struct run *r, const char *bundle)
{
    struct err err = {0};
    char dir_name[256];
    bool ok;

    r->o.bundle_location = bundle;
    r->o.sha256 = r->cmd->sha256; /* checked again right before unpacking */
    if (lifecycle_check(&r->o, &err) != 0) {
        refuse(r, r->o.events[0], err.msg);
        return false;
    }
    choose_dir(r, dir_name, sizeof(dir_name));
    r->event_start_ms = deploy_time_now_ms();
    r->next = 0;
    push_event(r, r->o.events[0], DEPLOY_EVENT_IN_PROGRESS, r->event_start_ms, NULL);
    if (lifecycle_run(&r->o, &r->rep, &err) != 0) {
        refuse(r, r->o.events[0], err.msg);
        return false;
    }
    if (!r->rep.succeeded && r->rep.error_code == HOOK_RUN_INTERRUPTED)
        r->a->interrupted = true;
    ok = r->rep.succeeded;
    lifecycle_report_fini(&r->rep);
    return ok;
}

/* The event a refusal is reported against: DownloadBundle when the command has it. */
static enum appspec_event
refusal_event(const struct run *r)
{
    for (size_t i = 0; i < r->o.nevents; i++) {
        if (r->o.events[i] == APPSPEC_DOWNLOAD_BUNDLE)
            return APPSPEC_DOWNLOAD_BUNDLE;
    }
    return r->o.events[0];
}

bool
agent_run_command(struct agent *a, const struct deploy_command *cmd)
{
    struct run *r = calloc(1, sizeof(*r));
    char bundle[PATH_MAX];
    struct err err = {0};
    bool ok = false;
    enum appspec_event target;

    if (r == NULL)
        return false;
    r->a = a;
    r->cmd = cmd;
    log_info("command %s: deployment %s, %zu events", cmd->command_id, cmd->deployment_id,
             cmd->nevents);
    agent_set_running(a, cmd->command_id);
    if (build_opts(r, &err) != 0 || r->o.nevents == 0) {
        enum appspec_event ev;
        if (cmd->nevents > 0 && appspec_event_parse(cmd->events[0], &ev) == 0)
            refuse(r, ev, err.msg[0] ? err.msg : "command lists no events");
        else
            log_error("command %s refused: %s", cmd->command_id, err.msg);
        goto out;
    }
    target = refusal_event(r);
    pthread_mutex_lock(&a->lock);
    (void)agent_outbox_running_save(&a->outbox, cmd->command_id, appspec_event_name(target), NULL);
    pthread_mutex_unlock(&a->lock);
    if (fetch_bundle(r, bundle, sizeof(bundle), &err) != 0) {
        refuse(r, target, err.msg);
        goto out;
    }
    ok = run_lifecycle(r, bundle);
out:
    pthread_mutex_lock(&a->lock);
    (void)agent_outbox_running_clear(&a->outbox);
    pthread_mutex_unlock(&a->lock);
    agent_set_running(a, NULL);
    free(r);
    return ok;
}

void
agent_run_recover(struct agent *a)
{
    struct agent_outbox_running rr;
    struct agent_wire_failure f = {
        .code = HOOK_RUN_INTERRUPTED,
        .message = "the agent was restarted while this event ran (interrupted, code 7)"};
    char *body;
    int rc;

    pthread_mutex_lock(&a->lock);
    rc = agent_outbox_running_load(&a->outbox, &rr);
    pthread_mutex_unlock(&a->lock);
    if (rc == -ENOENT)
        return;
    if (rc == 0) {
        if (rr.last_final != NULL)
            (void)agent_push_report(a, rr.command_id, rr.last_final); /* idempotent resend */
        if (rr.event[0] != '\0') {
            log_warn("command %s: %s was interrupted by an agent restart: reporting it failed",
                     rr.command_id, rr.event);
            body =
                agent_wire_event_body(rr.event, DEPLOY_EVENT_FAILED, 0, deploy_time_now_ms(), &f);
            (void)agent_push_report(a, rr.command_id, body);
            free(body);
        }
        agent_outbox_running_fini(&rr);
    } else {
        log_warn("%s: unreadable running record discarded", a->state_dir);
    }
    pthread_mutex_lock(&a->lock);
    (void)agent_outbox_running_clear(&a->outbox);
    pthread_mutex_unlock(&a->lock);
}
