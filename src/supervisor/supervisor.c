/* SPDX-License-Identifier: ISC */
/* supervisor_main: flags, config, wiring of apps, control socket, notify socket and signals. */
#include "supervisor/supervisor.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/pidfd.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/apps_msg.h"
#include "supervisor/readiness.h"
#include "supervisor/supervisor_app.h"
#include "supervisor/supervisor_conf.h"
#include "supervisor/supervisor_control.h"

#define SAMPLE_INTERVAL_MS 1000
#define STATE_INTERVAL_MS 100

struct supervisor {
    uv_loop_t *loop;
    struct supervisor_conf *conf;
    struct supervisor_app **apps; /* owned: every app running (or being removed) now */
    size_t napps;
    struct supervisor_app **retired; /* owned: apps removed by SIGHUP, stopped and finished */
    size_t nretired;
    struct supervisor_control *control;
    struct readiness_notify *notify;
    uv_signal_t sigterm, sigint, sighup, sigusr2;
    char **argv; /* borrowed from main: SIGUSR2 re-executes with the same arguments */
    uv_timer_t sample;
    uv_timer_t state_timer;
    char *state_last; /* the last state written, to write only on change */
    char state_path[PATH_MAX];
    uv_timer_t shutdown_poll;
    bool shutting_down;
    struct supervisor_conf **hup_confs; /* confs loaded by SIGHUP; apps borrow from them */
    size_t nhup_confs;
    int initial_pending; /* apps whose first start has not finished */
    char self_exe[PATH_MAX];
    char notify_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
};

/* One control request spanning one or more apps. */
struct pending {
    struct supervisor *sv;
    struct supervisor_control_req *req;
    const char *app; /* borrowed from the conf; NULL: every app */
    int remaining;
    bool ok;
    struct apps_msg_reply rep;
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover supervise [-c apps.yaml] [--check] [--log-level LEVEL]\n"
                 "       cutover supervise --exec-worker -- COMMAND [ARG...]\n"
                 "see docs/man/cutover-supervise.md\n");
}

static int
exec_worker(int argc, char **argv)
{
    char pid[32];

    if (argc < 1) {
        fprintf(stderr, "cutover supervise --exec-worker: no command\n");
        return 127;
    }
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "cutover: exec %s: %s\n", argv[0], strerror(errno));
    return 127;
}

/* ---- sd_notify for the supervisor itself (Type=notify) ----------------------------------- */

static void
notify_systemd(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    str_copy(sun.sun_path, path, sizeof(sun.sun_path));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    if (path[0] == '@')
        sun.sun_path[0] = '\0';
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
    close(fd);
}

/* ---- control requests ---------------------------------------------------------------------- */

/* The app named <name>; one that SIGHUP removed (still stopping) only with <removed_too>. */
static struct supervisor_app *
find_app(const struct supervisor *sv, const char *name, bool removed_too)
{
    for (size_t i = 0; i < sv->napps; i++)
        if ((removed_too || !sv->apps[i]->removed) && strcmp(sv->apps[i]->conf->name, name) == 0)
            return sv->apps[i];
    return NULL;
}

static void
reply_with_status(struct pending *p)
{
    struct supervisor *sv = p->sv;
    char *line;

    p->rep.ok = p->ok;
    for (size_t i = 0; i < sv->napps; i++)
        if (p->app == NULL || strcmp(p->app, sv->apps[i]->conf->name) == 0)
            supervisor_app_status(sv->apps[i], &p->rep);
    line = apps_msg_reply_encode(&p->rep);
    supervisor_control_reply(p->req, line);
    free(line);
    apps_msg_reply_fini(&p->rep);
    free(p);
}

static void
reply_error(struct supervisor_control_req *req, const char *msg)
{
    struct apps_msg_reply rep = {.ok = false, .error = mem_strdup(msg)};
    char *line = apps_msg_reply_encode(&rep);

    supervisor_control_reply(req, line);
    free(line);
    apps_msg_reply_fini(&rep);
}

static void
on_op_done(void *arg, const struct supervisor_app_result *r)
{
    struct pending *p = arg;

    if (!r->ok) {
        p->ok = false;
        if (p->rep.error == NULL) {
            p->rep.error = mem_strdup(r->error);
            if (r->failed_worker[0] != '\0')
                p->rep.failed_worker = mem_strdup(r->failed_worker);
            if (r->log_tail.len > 0)
                p->rep.log_tail = mem_strdup(r->log_tail.data);
        }
    }
    if (--p->remaining == 0)
        reply_with_status(p);
}

static int
parse_op(const char *cmd, enum supervisor_app_op *op)
{
    static const struct {
        const char *name;
        enum supervisor_app_op op;
    } ops[] = {{"start", SUPERVISOR_APP_START},
               {"stop", SUPERVISOR_APP_STOP},
               {"restart", SUPERVISOR_APP_RESTART},
               {"reload", SUPERVISOR_APP_RELOAD}};

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(cmd, ops[i].name) == 0) {
            *op = ops[i].op;
            return 0;
        }
    }
    return -EINVAL;
}

static void
run_op(struct pending *p, enum supervisor_app_op op, uint32_t parallel)
{
    struct supervisor *sv = p->sv;
    char msg[256];

    /* Refuse before starting anything if one app is busy: nothing half-applied. */
    for (size_t i = 0; i < sv->napps; i++) {
        if (p->app != NULL && strcmp(p->app, sv->apps[i]->conf->name) != 0)
            continue;
        if (sv->apps[i]->removed || sv->apps[i]->op.kind != SUPERVISOR_APP_IDLE) {
            snprintf(msg, sizeof(msg),
                     sv->apps[i]->removed
                         ? "app %s was removed from apps.yaml and is being stopped"
                         : "app %s is busy with another operation; retry when done",
                     sv->apps[i]->conf->name);
            reply_error(p->req, msg);
            free(p);
            return;
        }
        p->remaining++;
    }
    p->remaining++; /* held until every app has been started */
    for (size_t i = 0; i < sv->napps; i++)
        if (p->app == NULL || strcmp(p->app, sv->apps[i]->conf->name) == 0)
            supervisor_app_run(sv->apps[i], op, parallel, on_op_done, p);
    if (--p->remaining == 0)
        reply_with_status(p);
}

static void
on_control(void *arg, struct supervisor_control_req *req, const char *line)
{
    struct supervisor *sv = arg;
    struct apps_msg_request r;
    struct err err = {0};
    struct pending *p;
    enum supervisor_app_op op;
    char msg[APPS_MSG_NAME_MAX + 64];
    const struct supervisor_app *app = NULL;

    if (apps_msg_request_decode(&r, line, &err) != 0) {
        reply_error(req, err.msg);
        return;
    }
    if (r.app[0] != '\0' && (app = find_app(sv, r.app, true)) == NULL) {
        snprintf(msg, sizeof(msg), "no app named '%s'", r.app);
        reply_error(req, msg);
        return;
    }
    if (sv->shutting_down) {
        reply_error(req, "supervisor is shutting down");
        return;
    }
    p = mem_calloc(1, sizeof(*p));
    p->sv = sv;
    p->req = req;
    p->app = app != NULL ? app->conf->name : NULL;
    p->ok = true;
    if (strcmp(r.cmd, "status") == 0 || strcmp(r.cmd, "logs") == 0) {
        reply_with_status(p);
    } else if (parse_op(r.cmd, &op) == 0) {
        run_op(p, op, r.parallel);
    } else {
        free(p);
        snprintf(msg, sizeof(msg), "unknown command '%.15s'", r.cmd);
        reply_error(req, msg);
    }
}

static void
on_notify(void *arg, pid_t pid, const char *msg)
{
    struct supervisor *sv = arg;

    for (size_t i = 0; i < sv->napps; i++)
        if (supervisor_app_notify(sv->apps[i], pid, msg))
            return;
    log_debug("notify from unknown pid %d ignored", (int)pid);
}

/* ---- state file and adoption --------------------------------------------------------------- */

/* The running workers, written atomically (temp file, fsync, rename) whenever they change, so
 * that a supervisor started after a crash adopts them instead of starting duplicates. */
static void
write_state(struct supervisor *sv)
{
    struct apps_msg_reply rep = {.ok = true};
    char tmp[PATH_MAX + 8];
    char *text;
    int fd;

    for (size_t i = 0; i < sv->napps; i++)
        supervisor_app_status(sv->apps[i], &rep);
    for (size_t i = 0; i < rep.nworkers; i++) { /* only what identifies a worker */
        rep.workers[i].uptime_s = 0;
        rep.workers[i].rss_bytes = 0;
        rep.workers[i].cpu_pct = 0;
    }
    text = apps_msg_reply_encode(&rep);
    apps_msg_reply_fini(&rep);
    if (sv->state_last != NULL && strcmp(text, sv->state_last) == 0) {
        free(text);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", sv->state_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0 ||
        rename(tmp, sv->state_path) != 0) {
        log_warn("%s: cannot write the state file: %s", sv->state_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(text);
        return;
    }
    close(fd);
    free(sv->state_last);
    sv->state_last = text;
}

static void retire_removed(struct supervisor *sv);

static void
on_state_timer(uv_timer_t *t)
{
    retire_removed(t->data);
    write_state(t->data);
}

/* True when <pid> runs with CUTOVER_APP=<app> and CUTOVER_WORKER_INDEX=<index>: a pid that was
 * reused by something else is never adopted. */
static bool
pid_is_worker(pid_t pid, const char *app, uint32_t index)
{
    char path[64], want_app[APPS_MSG_NAME_MAX + 16], want_idx[48], data[65536];
    bool has_app = false, has_idx = false;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, data, sizeof(data) - 1);
    close(fd);
    if (n <= 0)
        return false;
    data[n] = '\0';
    snprintf(want_app, sizeof(want_app), "CUTOVER_APP=%s", app);
    snprintf(want_idx, sizeof(want_idx), "CUTOVER_WORKER_INDEX=%u", index);
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(data + off) + 1) {
        has_app |= strcmp(data + off, want_app) == 0;
        has_idx |= strcmp(data + off, want_idx) == 0;
    }
    return has_app && has_idx;
}

/* The listening socket the workers still hold (fd 3 of one of them), if it is the one the
 * config asks for. Returns the fd or -1. */
static int
steal_listen_fd(pid_t pid, const struct addr *want)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct addr got;
    int pidfd = pidfd_open(pid, 0), fd, hi;

    if (pidfd < 0)
        return -1;
    fd = pidfd_getfd(pidfd, 3, 0);
    close(pidfd);
    if (fd < 0)
        return -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return -1;
    }
    addr_from_sockaddr(&got, (struct sockaddr *)&ss, len);
    if (!addr_equal(&got, want)) {
        close(fd);
        return -1;
    }
    hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return hi;
}

/* The workers of <app> in the old state that are still alive and really ours: the ready ones
 * into <ready> (adopted), the others into <unready> (they may hold the listening socket, which
 * is taken back from them before they are killed). Returns how many are ready. */
static size_t
adoptable(const struct apps_msg_reply *state, const char *app, struct apps_msg_worker *ready,
          struct apps_msg_worker *unready, size_t *nunready)
{
    size_t n = 0;

    *nunready = 0;
    for (size_t i = 0; state != NULL && i < state->nworkers; i++) {
        const struct apps_msg_worker *w = &state->workers[i];

        if (strcmp(w->app, app) != 0 || w->pid <= 0 || !pid_is_worker(w->pid, app, w->index))
            continue;
        if (strcmp(w->state, "ready") == 0)
            ready[n++] = *w;
        else
            unready[(*nunready)++] = *w;
    }
    return n;
}

static struct apps_msg_reply *
load_state(const char *path)
{
    struct apps_msg_reply *rep;
    struct buf b;
    struct err err = {0};
    char chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    buf_init(&b);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(fd);
    rep = mem_calloc(1, sizeof(*rep));
    if (b.len == 0 || apps_msg_reply_decode(rep, b.data, &err) != 0) {
        log_warn("%s: ignoring an unreadable state file: %s", path, err.msg);
        free(rep);
        rep = NULL;
    }
    buf_fini(&b);
    return rep;
}

/* Kills workers of a previous supervisor that cannot be adopted (their socket is gone or not
 * the configured one), so nothing runs unsupervised. */
static void
kill_orphans(const struct apps_msg_worker *ws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        log_warn("app %s: worker %u (pid %d) cannot be adopted: killing it", ws[i].app, ws[i].index,
                 ws[i].pid);
        kill(-ws[i].pid, SIGKILL);
    }
}

static int
init_app(struct supervisor *sv, size_t i, const struct apps_msg_reply *state, struct err *err)
{
    const struct supervisor_app_conf *c = &sv->conf->apps[i];
    size_t cap = state ? state->nworkers + 1 : 1, nunready, adopted;
    struct apps_msg_worker *ws = mem_calloc(cap, sizeof(*ws));
    struct apps_msg_worker *unready = mem_calloc(cap, sizeof(*unready));
    size_t n = adoptable(state, c->name, ws, unready, &nunready);
    int fd = -1, rc;

    /* Any live worker may hold the socket, ready or not (the state file may be up to one
     * timer tick behind a worker that just became ready): without it a new bind would fail
     * with EADDRINUSE while an orphan keeps the port. Workers not known to be ready are
     * never adopted: they are killed once the socket is back. */
    if (c->has_listen) {
        for (size_t k = 0; k < n && fd < 0; k++)
            fd = steal_listen_fd(ws[k].pid, &c->listen);
        for (size_t k = 0; k < nunready && fd < 0; k++)
            fd = steal_listen_fd(unready[k].pid, &c->listen);
        if (fd < 0 && n > 0) {
            kill_orphans(ws, n);
            n = 0;
        }
    }
    kill_orphans(unready, nunready);
    rc = supervisor_app_init(sv->apps[i], sv->loop, c, sv->self_exe, sv->notify_path, fd, err);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        free(ws);
        free(unready);
        return rc;
    }
    adopted = n > 0 ? supervisor_app_adopt(sv->apps[i], ws, n) : 0;
    if (n > 0)
        log_info("app %s: adopted %zu running worker(s) of the previous supervisor", c->name,
                 adopted);
    free(ws);
    free(unready);
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void
on_sample(uv_timer_t *t)
{
    struct supervisor *sv = t->data;

    for (size_t i = 0; i < sv->napps; i++)
        supervisor_app_sample(sv->apps[i]);
}

static void
on_initial_start(void *arg, const struct supervisor_app_result *r)
{
    struct supervisor *sv = arg;

    if (!r->ok)
        log_error("%s", r->error);
    if (--sv->initial_pending == 0)
        notify_systemd("READY=1\nSTATUS=workers started");
}

static void
finish_shutdown(struct supervisor *sv)
{
    for (size_t i = 0; i < sv->napps; i++)
        supervisor_app_fini(sv->apps[i]);
    readiness_notify_close(sv->notify);
    sv->notify = NULL;
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sighup, NULL);
    uv_close((uv_handle_t *)&sv->sigusr2, NULL);
    uv_close((uv_handle_t *)&sv->sample, NULL);
    uv_close((uv_handle_t *)&sv->shutdown_poll, NULL);
    uv_timer_stop(&sv->state_timer);
    uv_close((uv_handle_t *)&sv->state_timer, NULL);
    unlink(sv->state_path); /* a clean stop leaves nothing to adopt */
    FREE_AND_NULL(sv->state_last);
}

static void
on_shutdown_poll(uv_timer_t *t)
{
    struct supervisor *sv = t->data;

    for (size_t i = 0; i < sv->napps; i++)
        if (!supervisor_app_idle(sv->apps[i]) || sv->apps[i]->op.kind != SUPERVISOR_APP_IDLE)
            return;
    uv_timer_stop(t);
    log_info("every worker stopped; exiting");
    finish_shutdown(sv);
}

static void
begin_shutdown(struct supervisor *sv, const char *why)
{
    if (sv->shutting_down)
        return;
    sv->shutting_down = true;
    log_info("%s: stopping every app", why);
    notify_systemd("STOPPING=1");
    supervisor_control_close(sv->control);
    sv->control = NULL;
    uv_timer_stop(&sv->sample);
    for (size_t i = 0; i < sv->napps; i++)
        supervisor_app_shutdown(sv->apps[i]);
    uv_timer_start(&sv->shutdown_poll, on_shutdown_poll, 0, 20);
}

static void
on_hup_op_done(void *arg, const struct supervisor_app_result *r)
{
    (void)arg;
    if (!r->ok)
        log_error("SIGHUP: %s", r->error);
}

static void
apply_app_change(struct supervisor_app *app, const struct supervisor_app_conf *nc)
{
    enum supervisor_app_change change;
    uint32_t was = app->conf->instances;
    char why[512];

    if (supervisor_app_set_conf(app, nc, &change, why, sizeof(why)) != 0) {
        log_error("SIGHUP: app %s: %s; it keeps its running definition", nc->name, why);
        return;
    }
    if (change == SUPERVISOR_CHANGE_NONE)
        return;
    if (change == SUPERVISOR_CHANGE_SCALE)
        log_info("SIGHUP: app %s: instances %u -> %u", nc->name, was, nc->instances);
    else
        log_info("SIGHUP: app %s changed: reloading it%s", nc->name,
                 app->rebind_pending ? " onto its new listen/ports binding" : "");
    /* set_conf refused a busy app, so this cannot be refused */
    supervisor_app_run(
        app, change == SUPERVISOR_CHANGE_SCALE ? SUPERVISOR_APP_SCALE : SUPERVISOR_APP_RELOAD, 0,
        on_hup_op_done, NULL);
}

static void
add_app(struct supervisor *sv, const struct supervisor_app_conf *c)
{
    struct supervisor_app *app = mem_calloc(1, sizeof(*app));
    struct err err = {0};

    if (supervisor_app_init(app, sv->loop, c, sv->self_exe, sv->notify_path, -1, &err) != 0) {
        log_error("SIGHUP: new app %s: %s; not started", c->name, err.msg);
        free(app);
        return;
    }
    sv->apps = mem_realloc(sv->apps, (sv->napps + 1) * sizeof(*sv->apps));
    sv->apps[sv->napps++] = app;
    log_info("SIGHUP: new app %s: starting it", c->name);
    supervisor_app_run(app, SUPERVISOR_APP_START, 0, on_hup_op_done, NULL);
}

static void
remove_app(struct supervisor_app *app)
{
    if (app->op.kind != SUPERVISOR_APP_IDLE) {
        log_error("SIGHUP: app %s was removed but an operation is in progress; it keeps running: "
                  "send SIGHUP again when it is done",
                  app->conf->name);
        return;
    }
    log_info("SIGHUP: app %s was removed: stopping it", app->conf->name);
    app->removed = true;
    supervisor_app_run(app, SUPERVISOR_APP_STOP, 0, on_hup_op_done, NULL);
}

/* Apps removed by SIGHUP whose workers are all gone: finished and out of the list (kept
 * allocated until exit: handles still closing point into them). */
static void
retire_removed(struct supervisor *sv)
{
    for (size_t i = 0; i < sv->napps;) {
        struct supervisor_app *app = sv->apps[i];

        if (!app->removed || app->op.kind != SUPERVISOR_APP_IDLE || !supervisor_app_idle(app)) {
            i++;
            continue;
        }
        log_info("app %s: removed", app->conf->name);
        supervisor_app_fini(app);
        sv->retired = mem_realloc(sv->retired, (sv->nretired + 1) * sizeof(*sv->retired));
        sv->retired[sv->nretired++] = app;
        memmove(&sv->apps[i], &sv->apps[i + 1], (sv->napps - i - 1) * sizeof(*sv->apps));
        sv->napps--;
    }
}

/* Re-reads apps.yaml: a bad file changes nothing; each app gets what its change needs (a
 * reload, a scale, a rebind rollout, new log files, or nothing); removed apps stop, new ones
 * start. What cannot be applied is logged and that app keeps its running definition. */
static void
reread_conf(struct supervisor *sv)
{
    struct supervisor_conf *nc;
    struct err err = {0};
    size_t napps = sv->napps;

    if (supervisor_conf_load(&nc, sv->conf->path, &err) != 0) {
        log_error("SIGHUP: %s; nothing changed", err.msg);
        return;
    }
    sv->hup_confs = mem_realloc(sv->hup_confs, (sv->nhup_confs + 1) * sizeof(*sv->hup_confs));
    sv->hup_confs[sv->nhup_confs++] = nc;
    if (strcmp(nc->control, sv->conf->control) != 0)
        log_error("SIGHUP: control changed: the control socket stays %s until the supervisor "
                  "restarts",
                  sv->conf->control);
    for (size_t i = 0; i < napps; i++) {
        struct supervisor_app *app = sv->apps[i];
        const struct supervisor_app_conf *a;

        if (app->removed)
            continue;
        if ((a = supervisor_conf_app(nc, app->conf->name)) == NULL)
            remove_app(app);
        else
            apply_app_change(app, a);
    }
    for (size_t i = 0; i < nc->napps; i++) {
        const struct supervisor_app *app = find_app(sv, nc->apps[i].name, true);

        if (app == NULL)
            add_app(sv, &nc->apps[i]);
        else if (app->removed)
            log_error("SIGHUP: app %s: still stopping after its removal; send SIGHUP again "
                      "once it is gone to start it",
                      nc->apps[i].name);
    }
}

/* SIGUSR2: replace this process image with the binary now at self_exe (an upgraded cutover),
 * same pid, same arguments, without touching the workers: the state file is written first and
 * the new image adopts them, as after a crash, but they stay our children. */
static void
reexec(struct supervisor *sv)
{
    const char *busy = NULL;

    for (size_t i = 0; i < sv->napps && busy == NULL; i++)
        if (sv->apps[i]->op.kind != SUPERVISOR_APP_IDLE)
            busy = sv->apps[i]->conf->name;
    if (busy != NULL) {
        log_warn("SIGUSR2: app %s has an operation in progress; retry when it is done", busy);
        return;
    }
    FREE_AND_NULL(sv->state_last);
    write_state(sv);
    log_info("SIGUSR2: re-executing %s in place; workers keep running", sv->self_exe);
    uv_loop_close(sv->loop); /* best effort; the exec discards the rest */
    execv(sv->self_exe, sv->argv);
    log_error("SIGUSR2: exec %s failed: %s; exiting, the next start adopts the workers",
              sv->self_exe, strerror(errno));
    _exit(ERR_EXIT_FAILED);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct supervisor *sv = h->data;

    if (signum == SIGUSR2) {
        if (!sv->shutting_down)
            reexec(sv);
        return;
    }

    if (signum == SIGHUP) {
        if (!sv->shutting_down)
            reread_conf(sv);
        return;
    }
    begin_shutdown(sv, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int
mkdir_parent(const char *path)
{
    char dir[PATH_MAX];
    char *slash;

    str_copy(dir, path, sizeof(dir));
    if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void
signal_start(struct supervisor *sv, uv_signal_t *h, int signum)
{
    uv_signal_init(sv->loop, h);
    h->data = sv;
    uv_signal_start(h, on_signal, signum);
}

static int
setup(struct supervisor *sv, struct err *err)
{
    const char *control = sv->conf->control;
    struct apps_msg_reply *state;
    ssize_t n;
    int rc;

    n = readlink("/proc/self/exe", sv->self_exe, sizeof(sv->self_exe) - 1);
    if (n <= 0)
        return err_set(err, -errno, "readlink /proc/self/exe: %s", strerror(errno));
    sv->self_exe[n] = '\0';
    if ((rc = mkdir_parent(control)) != 0)
        return err_set(err, rc, "%s: cannot create its directory: %s", control, strerror(-rc));
    if ((size_t)snprintf(sv->notify_path, sizeof(sv->notify_path), "%s.notify", control) >=
        sizeof(sv->notify_path))
        return err_set(err, -ENAMETOOLONG, "%s.notify: path too long (expected < 108 bytes)",
                       control);
    if ((rc = readiness_notify_open(&sv->notify, sv->loop, sv->notify_path, on_notify, sv, err)) !=
        0)
        return rc;
    snprintf(sv->state_path, sizeof(sv->state_path), "%s.state", control);
    state = load_state(sv->state_path);
    sv->apps = mem_calloc(sv->conf->napps, sizeof(*sv->apps));
    for (size_t i = 0; i < sv->conf->napps; i++)
        sv->apps[i] = mem_calloc(1, sizeof(*sv->apps[i]));
    sv->napps = sv->conf->napps;
    for (size_t i = 0; i < sv->napps; i++) {
        if ((rc = init_app(sv, i, state, err)) != 0) {
            for (size_t j = 0; j < i; j++)
                supervisor_app_fini(sv->apps[j]);
            if (state != NULL)
                apps_msg_reply_fini(state);
            free(state);
            return rc;
        }
    }
    if (state != NULL)
        apps_msg_reply_fini(state);
    free(state);
    return supervisor_control_open(&sv->control, sv->loop, control, on_control, sv, err);
}

static void
run(struct supervisor *sv)
{
    signal_start(sv, &sv->sigterm, SIGTERM);
    signal_start(sv, &sv->sigint, SIGINT);
    signal_start(sv, &sv->sighup, SIGHUP);
    signal_start(sv, &sv->sigusr2, SIGUSR2);
    uv_timer_init(sv->loop, &sv->sample);
    sv->sample.data = sv;
    uv_timer_start(&sv->sample, on_sample, 100, SAMPLE_INTERVAL_MS);
    uv_timer_init(sv->loop, &sv->shutdown_poll);
    sv->shutdown_poll.data = sv;
    uv_timer_init(sv->loop, &sv->state_timer);
    sv->state_timer.data = sv;
    uv_timer_start(&sv->state_timer, on_state_timer, 0, STATE_INTERVAL_MS);
    sv->initial_pending = (int)sv->napps;
    log_info("control socket %s; %zu app(s)", sv->conf->control, sv->napps);
    for (size_t i = 0; i < sv->napps; i++)
        supervisor_app_run(sv->apps[i], SUPERVISOR_APP_START, 0, on_initial_start, sv);
    uv_run(sv->loop, UV_RUN_DEFAULT);
}

static int
parse_args(int argc, char **argv, const char **conf_path, bool *check)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum log_level level;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            *conf_path = optarg;
            break;
        case 'k':
            *check = true;
            break;
        case 'l':
            if (log_level_parse(optarg, &level) != 0)
                err_die(ERR_EXIT_USAGE, "--log-level: '%s' (expected error|warn|info|debug)",
                        optarg);
            log_set_level(level);
            break;
        case 'h':
            usage(stdout);
            exit(ERR_EXIT_OK);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "cutover supervise: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

int
supervisor_main(int argc, char **argv)
{
    const char *conf_path = SUPERVISOR_CONF_DEFAULT_PATH;
    struct supervisor sv = {0};
    struct err err = {0};
    bool check = false;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "--exec-worker") == 0) {
        int skip = argc >= 3 && strcmp(argv[2], "--") == 0 ? 3 : 2;

        return exec_worker(argc - skip, argv + skip);
    }
    log_init("supervise", LOG_INFO);
    sv.argv = argv - 1; /* main passes argv + 1: keep "cutover" in front */
    if (parse_args(argc, argv, &conf_path, &check) != 0)
        return ERR_EXIT_USAGE;
    if (supervisor_conf_load(&sv.conf, conf_path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return ERR_EXIT_USAGE;
    }
    if (check) {
        printf("%s: ok (%zu app%s)\n", conf_path, sv.conf->napps, sv.conf->napps == 1 ? "" : "s");
        supervisor_conf_free(sv.conf);
        return ERR_EXIT_OK;
    }
    signal(SIGPIPE, SIG_IGN);
    sv.loop = mem_calloc(1, sizeof(*sv.loop));
    uv_loop_init(sv.loop);
    if ((rc = setup(&sv, &err)) != 0) {
        fprintf(stderr, "cutover supervise: %s\n", err.msg);
        readiness_notify_close(sv.notify);
        uv_run(sv.loop, UV_RUN_DEFAULT);
        rc = ERR_EXIT_FAILED;
    } else {
        run(&sv);
        rc = ERR_EXIT_OK;
    }
    uv_loop_close(sv.loop);
    free(sv.loop);
    for (size_t i = 0; i < sv.napps; i++)
        free(sv.apps[i]);
    free(sv.apps);
    for (size_t i = 0; i < sv.nretired; i++)
        free(sv.retired[i]);
    free(sv.retired);
    for (size_t i = 0; i < sv.nhup_confs; i++)
        supervisor_conf_free(sv.hup_confs[i]);
    free(sv.hup_confs);
    supervisor_conf_free(sv.conf);
    return rc;
}
