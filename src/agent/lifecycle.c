/* SPDX-License-Identifier: ISC */
/* A deployment, step by step. The bundle is unpacked and the appspec validated before any event
 * runs (a refused revision leaves nothing behind); the events then run in the selected order on
 * one libuv loop, one script at a time. The group lock is an flock(2) on a file in the root, so a
 * holder that dies releases it. */
#include "agent/lifecycle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "agent/deploy_log.h"
#include "agent/fsops.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

extern char **environ;

struct deployment {
    const struct lifecycle_opts *o;
    struct lifecycle_report *rep;
    char instr_dir[PATH_MAX]; /* <root>/deployment-instructions */
    char group_dir[PATH_MAX]; /* <root>/<group-id> */
    char archive[PATH_MAX];   /* <deployment dir>/deployment-archive */
    char appspec_path[PATH_MAX];
    struct appspec *spec;      /* owned: the new revision's */
    struct appspec *prev_spec; /* owned: the last successful revision's, or NULL */
    char prev_archive[PATH_MAX];
    struct appspec *recent_spec; /* owned: the most recent revision's (rollback only), or NULL */
    char recent_archive[PATH_MAX];
    struct deploy_log *log; /* owned */
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    struct hook_run *running; /* borrowed: the script in flight */
    bool stopping;            /* SIGINT/SIGTERM received */
    bool script_done;
    struct hook_run_result last; /* copied from the callback; tail owned in last_tail */
    char *last_tail;
    uint64_t download_ms;
};

const char *
lifecycle_status_name(enum lifecycle_status status)
{
    switch (status) {
    case LIFECYCLE_NOT_RUN:
        return "NotRun";
    case LIFECYCLE_SKIPPED:
        return "Skipped";
    case LIFECYCLE_SUCCEEDED:
        return "Succeeded";
    case LIFECYCLE_FAILED:
        return "Failed";
    case LIFECYCLE_FAILED_IGNORED:
        return "FailedIgnored";
    }
    return "?";
}

enum lifecycle_revision
lifecycle_revision_for(enum appspec_event ev, bool rollback)
{
    switch (ev) {
    case APPSPEC_BEFORE_BLOCK_TRAFFIC:
    case APPSPEC_AFTER_BLOCK_TRAFFIC:
        return rollback ? LIFECYCLE_REV_MOST_RECENT : LIFECYCLE_REV_LAST_SUCCESSFUL;
    case APPSPEC_APPLICATION_STOP:
        return LIFECYCLE_REV_LAST_SUCCESSFUL;
    case APPSPEC_BEFORE_ALLOW_TRAFFIC:
    case APPSPEC_AFTER_ALLOW_TRAFFIC:
        return rollback ? LIFECYCLE_REV_LAST_SUCCESSFUL : LIFECYCLE_REV_NEW;
    case APPSPEC_DOWNLOAD_BUNDLE:
    case APPSPEC_BEFORE_INSTALL:
    case APPSPEC_INSTALL:
    case APPSPEC_AFTER_INSTALL:
    case APPSPEC_APPLICATION_START:
    case APPSPEC_VALIDATE_SERVICE:
    case APPSPEC_NEVENTS:
        break;
    }
    return LIFECYCLE_REV_NEW;
}

const char *
lifecycle_revision_name(enum lifecycle_revision rev)
{
    switch (rev) {
    case LIFECYCLE_REV_NEW:
        return "new";
    case LIFECYCLE_REV_LAST_SUCCESSFUL:
        return "last-successful";
    case LIFECYCLE_REV_MOST_RECENT:
        return "most-recent";
    }
    return "?";
}

static int
add_event(enum appspec_event *out, size_t *n, bool *seen, enum appspec_event ev)
{
    if (seen[ev])
        return -EEXIST;
    seen[ev] = true;
    out[(*n)++] = ev;
    return 0;
}

int
lifecycle_select_events(const char *csv, enum appspec_event *out, size_t *n, struct err *err)
{
    bool seen[APPSPEC_NEVENTS] = {false}, listed[APPSPEC_NEVENTS] = {false};
    enum appspec_event given[APPSPEC_NEVENTS];
    size_t ngiven = 0;
    char name[64];

    *n = 0;
    if (csv == NULL) {
        for (int i = 0; i < APPSPEC_NEVENTS; i++)
            out[(*n)++] = (enum appspec_event)i;
        return 0;
    }
    for (const char *p = csv;;) {
        size_t len = strcspn(p, ",");
        enum appspec_event ev;
        const char *hint;
        if (len == 0 || len >= sizeof(name))
            return err_set(err, -EINVAL, "--events: empty or overlong event name in '%s'", csv);
        memcpy(name, p, len);
        name[len] = '\0';
        if (appspec_event_parse(name, &ev) != 0) {
            hint = appspec_event_suggest(name);
            return err_set(err, -EINVAL, "--events: unknown lifecycle event '%s'%s%s%s", name,
                           hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
        }
        if (listed[ev])
            return err_set(err, -EINVAL, "--events: '%s' listed twice", name);
        listed[ev] = true;
        given[ngiven++] = ev;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (!listed[APPSPEC_DOWNLOAD_BUNDLE])
        add_event(out, n, seen, APPSPEC_DOWNLOAD_BUNDLE);
    if (!listed[APPSPEC_INSTALL])
        add_event(out, n, seen, APPSPEC_INSTALL);
    for (size_t i = 0; i < ngiven; i++)
        add_event(out, n, seen, given[i]);
    return 0;
}

/* ---- deployment root ---- */

static void
make_deployment_id(char out[32])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[9];

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t t = uv_hrtime() ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof(rnd); i++, t >>= 7)
            rnd[i] = (unsigned char)t;
    }
    char id[sizeof(rnd) + 1];

    for (size_t i = 0; i < sizeof(rnd); i++)
        id[i] = alphabet[rnd[i] % 36];
    id[sizeof(rnd)] = '\0';
    snprintf(out, 32, "d-%s-local", id);
}

static int
take_lock(const struct deployment *d, int *fd_out, struct err *err)
{
    char path[PATH_MAX], pid[32] = "";
    int fd;

    (void)fsops_path(path, sizeof(path), "%s/%s.lock", d->instr_dir, d->o->group_id);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return err_set(err, rc,
                       "deployment group %s is busy: another deployment (pid %s) holds %s; "
                       "refusing to run two at once",
                       d->o->group_id, pid[0] ? pid : "?", path);
    }
    (void)fsops_path(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("%s: could not record our pid: %s", path, strerror(errno));
    *fd_out = fd;
    return 0;
}

static void
pointer_path(const struct deployment *d, const char *which, char *out, size_t size)
{
    (void)fsops_path(out, size, "%s/%s_%s", d->instr_dir, d->o->group_id, which);
}

/* Reads a pointer file: the absolute path of a deployment directory, or "" when absent. */
static void
read_pointer(const struct deployment *d, const char *which, char *out, size_t size)
{
    char path[PATH_MAX], *data = NULL;

    out[0] = '\0';
    pointer_path(d, which, path, sizeof(path));
    if (fsops_read_file(path, &data, NULL) != 0)
        return;
    data[strcspn(data, "\n")] = '\0';
    str_copy(out, data, size);
    free(data);
}

static int
write_pointer(const struct deployment *d, const char *which, struct err *err)
{
    char path[PATH_MAX];
    const char *value = d->rep->deployment_dir;
    int rc;

    pointer_path(d, which, path, sizeof(path));
    if ((rc = fsops_write_file(path, value, strlen(value), 0644)) != 0)
        return err_set(err, rc, "%s: %s", path, strerror(-rc));
    return 0;
}

struct revdir {
    char name[NAME_MAX + 1];
    struct timespec mtime;
};

static int
cmp_revdir(const void *a, const void *b)
{
    const struct revdir *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Keeps max_revisions deployment directories (this one included), oldest removed first, never
 * the last successful one. */
static void
prune(const struct deployment *d)
{
    char last[PATH_MAX], path[PATH_MAX];
    const char *keep = NULL;
    struct revdir *dirs = NULL;
    size_t n = 0, cap = 0, total;
    struct dirent *e;
    struct stat st;
    DIR *dir;

    read_pointer(d, "last_successful_install", last, sizeof(last));
    if (last[0] != '\0' && strrchr(last, '/') != NULL)
        keep = strrchr(last, '/') + 1;
    if ((dir = opendir(d->group_dir)) == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        (void)fsops_path(path, sizeof(path), "%s/%s", d->group_dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == cap)
            dirs = mem_realloc(dirs, (cap = cap ? cap * 2 : 16) * sizeof(*dirs));
        str_copy(dirs[n].name, e->d_name, sizeof(dirs[n].name));
        dirs[n++].mtime = st.st_mtim;
    }
    closedir(dir);
    if (n > 0)
        qsort(dirs, n, sizeof(*dirs), cmp_revdir);
    total = n;
    for (size_t i = 0; i < n && total > d->o->max_revisions; i++) {
        if (strcmp(dirs[i].name, d->rep->deployment_id) == 0 ||
            (keep != NULL && strcmp(dirs[i].name, keep) == 0))
            continue;
        (void)fsops_path(path, sizeof(path), "%s/%s", d->group_dir, dirs[i].name);
        if (fsops_remove_tree(path) == 0) {
            log_info("pruned old revision %s", path);
            total--;
        }
    }
    free(dirs);
}

/* ---- before any event: fetch, unpack, validate ---- */

static int
preflight(struct deployment *d, struct err *err)
{
    const struct lifecycle_opts *o = d->o;
    char path[PATH_MAX], hex[65];
    uint64_t t0 = uv_hrtime();
    struct stat st;
    int rc;

    if (stat(o->bundle_location, &st) != 0)
        return err_set(err, -errno, "%s: %s", o->bundle_location, strerror(errno));
    if (o->bundle_type == BUNDLE_DIRECTORY && !S_ISDIR(st.st_mode))
        return err_set(err, -EINVAL, "%s: not a directory (expected --type tar, tgz or zip)",
                       o->bundle_location);
    if (o->bundle_type != BUNDLE_DIRECTORY && S_ISDIR(st.st_mode))
        return err_set(err, -EINVAL, "%s: a directory (expected --type directory, not %s)",
                       o->bundle_location, bundle_type_name(o->bundle_type));
    if (o->sha256 != NULL) {
        if ((rc = bundle_sha256(o->bundle_location, hex, err)) != 0)
            return rc;
        if (!str_ieq(hex, o->sha256))
            return err_set(err, -EINVAL, "%s: sha256 is %s (expected %s)", o->bundle_location, hex,
                           o->sha256);
    }
    if (mkdir(d->rep->deployment_dir, 0755) != 0)
        return err_set(err, -errno, "%s: %s", d->rep->deployment_dir, strerror(errno));
    (void)fsops_path(path, sizeof(path), "%s/logs", d->rep->deployment_dir);
    if (mkdir(path, 0755) != 0 || mkdir(d->archive, 0755) != 0)
        return err_set(err, -errno, "%s: %s", d->archive, strerror(errno));
    if (o->bundle_type != BUNDLE_DIRECTORY) {
        (void)fsops_path(path, sizeof(path), "%s/bundle.tar", d->rep->deployment_dir);
        if ((rc = fsops_copy_file(o->bundle_location, path, 0644, st.st_size, err)) != 0)
            return rc;
    }
    if ((rc = bundle_unpack(o->bundle_type, o->bundle_location, d->archive, o->appspec_name,
                            err)) != 0)
        return rc;
    (void)fsops_path(d->appspec_path, sizeof(d->appspec_path), "%s/%s", d->archive,
                     o->appspec_name);
    if ((rc = appspec_load(&d->spec, d->appspec_path, err)) != 0)
        return rc;
    d->download_ms = (uv_hrtime() - t0) / 1000000;
    return 0;
}

/* A revision recorded by pointer <which> ("last_successful_install", "most_recent_install"):
 * its appspec and archive, or *spec NULL (with a warning when the pointer names something
 * unusable) when there is none. */
static void
load_recorded(struct deployment *d, const char *which, struct appspec **spec, char *archive,
              size_t size)
{
    static const char *const fallbacks[] = {"appspec.yml", "appspec.yaml"};
    char dir[PATH_MAX], path[PATH_MAX];
    struct err err = {0};

    read_pointer(d, which, dir, sizeof(dir));
    if (dir[0] == '\0')
        return;
    (void)fsops_path(archive, size, "%s/deployment-archive", dir);
    (void)fsops_path(path, sizeof(path), "%s/%s", archive, d->o->appspec_name);
    for (size_t i = 0; access(path, F_OK) != 0 && i < 2; i++)
        (void)fsops_path(path, sizeof(path), "%s/%s", archive, fallbacks[i]);
    if (appspec_load(spec, path, &err) != 0)
        log_warn("revision %s (%s) not usable, its scripts are skipped: %s", dir, which, err.msg);
}

static void
load_previous(struct deployment *d)
{
    load_recorded(d, "last_successful_install", &d->prev_spec, d->prev_archive,
                  sizeof(d->prev_archive));
    if (d->o->rollback) /* read before DownloadBundle moves the pointer */
        load_recorded(d, "most_recent_install", &d->recent_spec, d->recent_archive,
                      sizeof(d->recent_archive));
}

static char **
make_env(const struct deployment *d, enum appspec_event ev)
{
    static const char *const ours[] = {
        "LIFECYCLE_EVENT=",     "DEPLOYMENT_ID=", "APPLICATION_NAME=", "DEPLOYMENT_GROUP_NAME=",
        "DEPLOYMENT_GROUP_ID=", "BUNDLE_BUCKET=", "BUNDLE_KEY=",       "BUNDLE_VERSION=",
        "BUNDLE_ETAG="};
    size_t n = 0, k = 0, nextra = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    while (d->o->extra_env != NULL && d->o->extra_env[nextra] != NULL)
        nextra++;
    env = mem_calloc(n + nextra + 6, sizeof(*env));
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t j = 0; j < sizeof(ours) / sizeof(ours[0]) && !skip; j++)
            skip = str_has_prefix(environ[i], ours[j]);
        if (!skip)
            env[k++] = mem_strdup(environ[i]);
    }
    if (asprintf(&env[k++], "LIFECYCLE_EVENT=%s", appspec_event_name(ev)) < 0 ||
        asprintf(&env[k++], "DEPLOYMENT_ID=%s", d->rep->deployment_id) < 0 ||
        asprintf(&env[k++], "APPLICATION_NAME=%s", d->o->application_name) < 0 ||
        asprintf(&env[k++], "DEPLOYMENT_GROUP_NAME=%s", d->o->group_name) < 0 ||
        asprintf(&env[k++], "DEPLOYMENT_GROUP_ID=%s", d->o->group_id) < 0)
        mem_oom();
    for (size_t i = 0; i < nextra; i++)
        env[k++] = mem_strdup(d->o->extra_env[i]);
    return env;
}

static void
free_env(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

static void
on_script_done(const struct hook_run_result *res, void *arg)
{
    struct deployment *d = arg;

    d->last = *res;
    free(d->last_tail);
    d->last_tail = mem_strdup(res->tail ? res->tail : "");
    d->last.tail = NULL;
    d->last.left_running = NULL;
    d->running = NULL;
    d->script_done = true;
}

static void
on_signal(uv_signal_t *s, int signum)
{
    struct deployment *d = s->data;

    log_warn("received %s: stopping the running script", strsignal(signum));
    d->stopping = true;
    if (d->running != NULL)
        hook_run_cancel(d->running);
}

static void
fail(struct deployment *d, enum appspec_event ev, const char *script, int code, const char *msg,
     const char *tail)
{
    struct lifecycle_report *rep = d->rep;

    rep->succeeded = false;
    rep->failed_event = ev;
    rep->failed_script = script ? mem_strdup(script) : NULL;
    rep->error_code = code;
    rep->error_message = mem_strdup(msg);
    rep->log_tail = tail && tail[0] ? mem_strdup(tail) : NULL;
}

/* Runs one script to completion on the loop. Returns true when it succeeded. */
static bool
run_script(struct deployment *d, struct lifecycle_event_report *er, const char *archive,
           const struct appspec_script *s, char **env)
{
    struct hook_run_spec spec = {.archive_dir = archive,
                                 .location = s->location,
                                 .timeout_s = s->timeout_s,
                                 .runas = s->runas,
                                 .env = env,
                                 .self_exe = d->o->self_exe,
                                 .log = d->log};
    struct lifecycle_script_report *sr = &er->scripts[er->nscripts++];

    d->script_done = false;
    if (hook_run_start(&d->loop, &spec, on_script_done, d, &d->running) != 0)
        ASSERT(!"hook_run_start cannot fail");
    if (d->stopping)
        hook_run_cancel(d->running);
    while (!d->script_done)
        uv_run(&d->loop, UV_RUN_ONCE);
    sr->location = mem_strdup(s->location);
    sr->runas = s->runas ? mem_strdup(s->runas) : NULL;
    sr->outcome = d->last.outcome;
    sr->exit_status = d->last.exit_status;
    sr->term_signal = d->last.term_signal;
    sr->duration_ms = d->last.duration_ms;
    if (d->o->progress != NULL)
        d->o->progress(er, sr, d->o->progress_arg);
    return d->last.outcome == HOOK_RUN_SUCCEEDED;
}

/* A scriptable event. Returns false when the deployment must stop. */
static bool
run_hook_event(struct deployment *d, struct lifecycle_event_report *er)
{
    enum lifecycle_revision rev = lifecycle_revision_for(er->event, d->o->rollback);
    bool previous = rev != LIFECYCLE_REV_NEW;
    const struct appspec *spec = rev == LIFECYCLE_REV_NEW               ? d->spec
                                 : rev == LIFECYCLE_REV_LAST_SUCCESSFUL ? d->prev_spec
                                                                        : d->recent_spec;
    const char *archive = rev == LIFECYCLE_REV_NEW               ? d->archive
                          : rev == LIFECYCLE_REV_LAST_SUCCESSFUL ? d->prev_archive
                                                                 : d->recent_archive;
    const struct appspec_hook *hook;
    bool ok = true;
    char **env;

    er->revision = lifecycle_revision_name(rev);
    if (spec == NULL) {
        er->status = LIFECYCLE_SKIPPED;
        er->note = rev == LIFECYCLE_REV_LAST_SUCCESSFUL ? "no previous successful revision"
                                                        : "no recorded revision";
        return true;
    }
    hook = &spec->hooks[er->event];
    if (hook->nscripts == 0) {
        er->status = LIFECYCLE_SKIPPED;
        er->note = "no scripts";
        return true;
    }
    er->scripts = mem_calloc(hook->nscripts, sizeof(*er->scripts));
    deploy_log_entry(d->log, "LifecycleEvent - %s", appspec_event_name(er->event));
    env = make_env(d, er->event);
    for (size_t i = 0; i < hook->nscripts && ok; i++)
        ok = run_script(d, er, archive, &hook->scripts[i], env);
    free_env(env);
    if (ok) {
        er->status = LIFECYCLE_SUCCEEDED;
        return true;
    }
    if (previous && er->event != APPSPEC_BEFORE_ALLOW_TRAFFIC &&
        er->event != APPSPEC_AFTER_ALLOW_TRAFFIC && d->o->ignore_stop_failures &&
        d->last.outcome != HOOK_RUN_INTERRUPTED) {
        er->status = LIFECYCLE_FAILED_IGNORED;
        log_warn("%s failed, ignored (--ignore-application-stop-failures): %s",
                 appspec_event_name(er->event), d->last.message);
        return true;
    }
    er->status = LIFECYCLE_FAILED;
    fail(d, er->event, er->scripts[er->nscripts - 1].location, (int)d->last.outcome,
         d->last.message, d->last_tail);
    return false;
}

static bool
run_download(struct deployment *d, struct lifecycle_event_report *er)
{
    struct err err = {0};

    er->duration_ms = d->download_ms;
    if (write_pointer(d, "most_recent_install", &err) != 0) {
        er->status = LIFECYCLE_FAILED;
        fail(d, er->event, NULL, HOOK_RUN_UNKNOWN, err.msg, NULL);
        return false;
    }
    prune(d);
    er->status = LIFECYCLE_SUCCEEDED;
    return true;
}

static bool
run_install(struct deployment *d, struct lifecycle_event_report *er)
{
    char cleanup[PATH_MAX], instr[PATH_MAX];
    struct install_opts io = {.spec = d->spec,
                              .appspec_path = d->appspec_path,
                              .archive_dir = d->archive,
                              .fallback = d->o->file_exists,
                              .cleanup_path = cleanup,
                              .instructions_path = instr};
    struct err err = {0};

    (void)fsops_path(cleanup, sizeof(cleanup), "%s/%s-cleanup", d->instr_dir, d->o->group_id);
    (void)fsops_path(instr, sizeof(instr), "%s/%s-install.json", d->instr_dir, d->o->group_id);
    if (install_run(&io, &d->rep->install, &err) != 0 ||
        /* the reference records "last successful" here, at the end of Install */
        write_pointer(d, "last_successful_install", &err) != 0) {
        er->status = LIFECYCLE_FAILED;
        fail(d, er->event, NULL, HOOK_RUN_UNKNOWN, err.msg, NULL);
        return false;
    }
    er->status = LIFECYCLE_SUCCEEDED;
    return true;
}

static void
run_events(struct deployment *d)
{
    struct lifecycle_report *rep = d->rep;
    bool go = true;

    rep->succeeded = true;
    for (size_t i = 0; i < d->o->nevents; i++) {
        struct lifecycle_event_report *er = &rep->events[rep->nevents++];
        uint64_t t0 = uv_hrtime();

        er->event = d->o->events[i];
        if (!go)
            continue; /* reported as NotRun */
        if (d->stopping) {
            fail(d, er->event, NULL, HOOK_RUN_INTERRUPTED, "deployment interrupted by a signal",
                 NULL);
            er->status = LIFECYCLE_FAILED;
            go = false;
            continue;
        }
        switch (er->event) {
        case APPSPEC_DOWNLOAD_BUNDLE:
            go = run_download(d, er);
            break;
        case APPSPEC_INSTALL:
            go = run_install(d, er);
            break;
        case APPSPEC_BEFORE_BLOCK_TRAFFIC:
        case APPSPEC_AFTER_BLOCK_TRAFFIC:
        case APPSPEC_APPLICATION_STOP:
        case APPSPEC_BEFORE_INSTALL:
        case APPSPEC_AFTER_INSTALL:
        case APPSPEC_APPLICATION_START:
        case APPSPEC_VALIDATE_SERVICE:
        case APPSPEC_BEFORE_ALLOW_TRAFFIC:
        case APPSPEC_AFTER_ALLOW_TRAFFIC:
            go = run_hook_event(d, er);
            break;
        case APPSPEC_NEVENTS:
            ASSERT(!"not an event");
        }
        if (er->event != APPSPEC_DOWNLOAD_BUNDLE)
            er->duration_ms = (uv_hrtime() - t0) / 1000000;
        if (d->o->progress != NULL)
            d->o->progress(er, NULL, d->o->progress_arg);
    }
}

static int
open_logs(struct deployment *d, struct err *err)
{
    char dlogs[PATH_MAX];
    int rc;

    (void)fsops_path(dlogs, sizeof(dlogs), "%s/deployment-logs/cutover-deployments.log",
                     d->o->root);
    free(d->rep->deployments_log);
    d->rep->deployments_log = mem_strdup(dlogs);
    if ((rc = deploy_log_open(&d->log, d->rep->scripts_log, dlogs, d->rep->deployment_id)) != 0)
        return err_set(err, rc, "%s: %s", dlogs, strerror(-rc));
    return 0;
}

static int
make_root(struct deployment *d, struct err *err)
{
    char path[PATH_MAX];
    int rc;

    (void)fsops_path(d->instr_dir, sizeof(d->instr_dir), "%s/deployment-instructions", d->o->root);
    (void)fsops_path(d->group_dir, sizeof(d->group_dir), "%s/%s", d->o->root, d->o->group_id);
    (void)fsops_path(path, sizeof(path), "%s/deployment-logs", d->o->root);
    if ((rc = fsops_mkdir_p(d->instr_dir, 0755)) != 0 || (rc = fsops_mkdir_p(path, 0755)) != 0 ||
        (rc = fsops_mkdir_p(d->group_dir, 0755)) != 0)
        return err_set(err, rc, "%s: cannot create the deployment root: %s", d->o->root,
                       strerror(-rc));
    return 0;
}

static void
init_report(struct deployment *d)
{
    struct lifecycle_report *rep = d->rep;
    char path[PATH_MAX];

    *rep = (struct lifecycle_report){0};
    if (d->o->deployment_id != NULL)
        str_copy(rep->deployment_id, d->o->deployment_id, sizeof(rep->deployment_id));
    else
        make_deployment_id(rep->deployment_id);
    (void)fsops_path(path, sizeof(path), "%s/%s", d->group_dir,
                     d->o->dir_name != NULL ? d->o->dir_name : rep->deployment_id);
    rep->deployment_dir = mem_strdup(path);
    (void)fsops_path(path, sizeof(path), "%s/logs/scripts.log", rep->deployment_dir);
    rep->scripts_log = mem_strdup(path);
    (void)fsops_path(d->archive, sizeof(d->archive), "%s/deployment-archive", rep->deployment_dir);
}

static void
start_signals(struct deployment *d)
{
    uv_signal_t *sigs[] = {&d->sigint, &d->sigterm};
    int nums[] = {SIGINT, SIGTERM};

    for (int i = 0; i < 2; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, nums[i]);
        uv_unref((uv_handle_t *)sigs[i]); /* never keeps the loop alive */
    }
}

static void
stop_loop(struct deployment *d)
{
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        log_warn("deployment loop closed with handles still open");
}

int
lifecycle_run(const struct lifecycle_opts *o, struct lifecycle_report *rep, struct err *err)
{
    struct deployment *d = mem_calloc(1, sizeof(*d));
    int lock_fd = -1, rc;

    d->o = o;
    d->rep = rep;
    *rep = (struct lifecycle_report){0};
    if ((rc = make_root(d, err)) != 0 || (rc = take_lock(d, &lock_fd, err)) != 0)
        goto out;
    init_report(d);
    if ((rc = preflight(d, err)) != 0) {
        fsops_remove_tree(rep->deployment_dir); /* nothing half-applied */
        goto out;
    }
    if ((rc = open_logs(d, err)) != 0)
        goto out;
    load_previous(d);
    if ((rc = uv_loop_init(&d->loop)) != 0) {
        err_set(err, rc, "event loop: %s", uv_strerror(rc));
        goto out;
    }
    start_signals(d);
    run_events(d);
    stop_loop(d);
    rc = 0;
out:
    if (rc != 0)
        lifecycle_report_fini(rep); /* refused: the caller gets an empty report */
    if (lock_fd >= 0)
        close(lock_fd); /* releases the flock */
    deploy_log_close(d->log);
    appspec_free(d->spec);
    appspec_free(d->prev_spec);
    appspec_free(d->recent_spec);
    free(d->last_tail);
    free(d);
    return rc;
}

void
lifecycle_report_fini(struct lifecycle_report *rep)
{
    for (size_t i = 0; i < rep->nevents; i++) {
        for (size_t j = 0; j < rep->events[i].nscripts; j++) {
            free(rep->events[i].scripts[j].location);
            free(rep->events[i].scripts[j].runas);
        }
        free(rep->events[i].scripts);
    }
    free(rep->deployment_dir);
    free(rep->scripts_log);
    free(rep->deployments_log);
    free(rep->failed_script);
    free(rep->error_message);
    free(rep->log_tail);
    *rep = (struct lifecycle_report){0};
}

int
lifecycle_check(const struct lifecycle_opts *o, struct err *err)
{
    char tmpl[] = "/tmp/cutover-check-XXXXXX";
    char path[PATH_MAX];
    struct appspec *spec = NULL;
    struct stat st;
    int rc;

    if (stat(o->bundle_location, &st) != 0)
        return err_set(err, -errno, "%s: %s", o->bundle_location, strerror(errno));
    if (o->bundle_type == BUNDLE_DIRECTORY && S_ISDIR(st.st_mode)) {
        (void)fsops_path(path, sizeof(path), "%s/%s", o->bundle_location, o->appspec_name);
        if (access(path, F_OK) == 0) /* the common case: no copy needed */
            goto load;
    }
    if (mkdtemp(tmpl) == NULL)
        return err_set(err, -errno, "%s: %s", tmpl, strerror(errno));
    rc = bundle_unpack(o->bundle_type, o->bundle_location, tmpl, o->appspec_name, err);
    (void)fsops_path(path, sizeof(path), "%s/%s", tmpl, o->appspec_name);
    if (rc == 0 && (rc = appspec_load(&spec, path, err)) != 0) {
        /* name the file as it is in the bundle, not in the scratch copy */
        char msg[ERR_MSG_MAX];
        str_copy(msg, err->msg + strlen(tmpl) + 1, sizeof(msg));
        err_set(err, rc, "%s/%s", o->bundle_location, msg);
    }
    appspec_free(spec);
    fsops_remove_tree(tmpl);
    return rc;
load:
    rc = appspec_load(&spec, path, err);
    appspec_free(spec);
    return rc;
}
