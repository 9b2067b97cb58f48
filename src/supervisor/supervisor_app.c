/* SPDX-License-Identifier: ISC */
/* An app's workers and the operation in progress; see supervisor_app.h. */
#include "supervisor/supervisor_app.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/apps_msg.h"
#include "supervisor/reload.h"
#include "supervisor/supervisor_conf.h"

#define LISTEN_BACKLOG 4096
#define LOG_TAIL_LINES 15

static void on_worker_event(struct worker *w, enum worker_event ev);
static int write_upstream(const struct supervisor_app *app);
static void schedule_step(struct supervisor_app *app);
static void step_reload_ports(struct supervisor_app *app);
static void step_reload_rebind(struct supervisor_app *app);
static void step_scale(struct supervisor_app *app);
static void begin_scale(struct supervisor_app *app);

/* ---- setup --------------------------------------------------------------------------------- */

static int
bind_listen(const struct supervisor_app_conf *c, int *out, struct err *err)
{
    const struct addr *a = &c->listen;
    int fd, hi, one = 1;

    fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, -errno, "%s: socket: %s", a->text, strerror(errno));
    if (addr_is_unix(a))
        unlink(((const struct sockaddr_un *)&a->ss)->sun_path);
    else
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;

        close(fd);
        return err_set(err, -e, "app %s: cannot listen on %s: %s", c->name, a->text, strerror(e));
    }
    /* Keep it above the stdio range so the spawn's dup2 to fd 3 is a real dup. */
    hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    if (hi < 0)
        return err_set(err, -errno, "dup: %s", strerror(errno));
    *out = hi;
    return 0;
}

static int
resolve_ids(struct worker_env *e, const struct supervisor_app_conf *c, struct err *err)
{
    struct passwd *pw;
    struct group *gr;

    if (c->user == NULL && c->group == NULL)
        return 0;
    e->uid = getuid();
    e->gid = getgid();
    if (c->user != NULL) {
        if ((pw = getpwnam(c->user)) == NULL)
            return err_set(err, -ENOENT, "app %s: no such user '%s'", c->name, c->user);
        e->uid = pw->pw_uid;
        e->gid = pw->pw_gid;
    }
    if (c->group != NULL) {
        if ((gr = getgrnam(c->group)) == NULL)
            return err_set(err, -ENOENT, "app %s: no such group '%s'", c->name, c->group);
        e->gid = gr->gr_gid;
    }
    e->has_ids = true;
    return 0;
}

/* Opens the log files of slots 0..nslots-1 as <c> says into a new array (2 per slot). */
static int
open_log_set(const struct supervisor_app_conf *c, const struct worker_env *ids, uint32_t nslots,
             struct worker_log **out, struct err *err)
{
    struct worker_log *logs = mem_calloc((size_t)nslots * 2, sizeof(*logs));
    char name[256];
    int rc = 0;

    for (uint32_t i = 0; i < nslots * 2; i++)
        logs[i].fd = -1;
    for (uint32_t i = 0; i < nslots * 2 && rc == 0; i++) {
        struct worker_log *lg = &logs[i];

        snprintf(name, sizeof(name), "%s-%u.%s.log", c->name, i / 2, i % 2 == 0 ? "out" : "err");
        rc = worker_log_open(lg, c->log_dir, name, c->log_max_size, c->log_keep, err);
        if (rc == 0 && ids->has_ids && fchown(lg->fd, ids->uid, ids->gid) != 0)
            rc = err_set(err, -errno, "%s: chown: %s", lg->path, strerror(errno));
    }
    if (rc != 0) {
        for (uint32_t i = 0; i < nslots * 2; i++)
            worker_log_close(&logs[i]);
        free(logs);
        return rc;
    }
    *out = logs;
    return 0;
}

static int
open_logs(struct supervisor_app *app, struct err *err)
{
    const struct supervisor_app_conf *c = app->conf;
    int rc;

    if (c->log_dir == NULL)
        return 0;
    if ((rc = open_log_set(c, &app->wenv, c->instances, &app->logs, err)) != 0)
        return rc;
    app->nlogs = c->instances * 2;
    return 0;
}

/* Points every worker (and its live output pipes) at its slot's files in app->logs; a slot
 * beyond them gets none (output discarded). */
static void
relink_logs(struct supervisor_app *app)
{
    for (size_t i = 0; i < app->nworkers; i++) {
        struct worker *w = app->workers[i];
        bool has = app->logs != NULL && w->index < app->nlogs / 2;

        w->log_out = has ? &app->logs[w->index * 2] : NULL;
        w->log_err = has ? &app->logs[w->index * 2 + 1] : NULL;
        worker_relink_logs(w);
    }
}

static void on_step(uv_timer_t *t);

int
supervisor_app_init(struct supervisor_app *app, uv_loop_t *loop,
                    const struct supervisor_app_conf *conf, const char *self_exe,
                    const char *notify_path, int inherited_fd, struct err *err)
{
    int rc;

    memset(app, 0, sizeof(*app));
    app->conf = conf;
    app->wenv.loop = loop;
    app->wenv.conf = conf;
    app->wenv.self_exe = self_exe;
    app->wenv.notify_path = notify_path;
    app->wenv.listen_fd = -1;
    app->old_listen_fd = -1;
    if ((rc = resolve_ids(&app->wenv, conf, err)) != 0 || (rc = open_logs(app, err)) != 0)
        goto fail;
    if (conf->has_listen) {
        if (inherited_fd >= 0)
            app->wenv.listen_fd = inherited_fd;
        else if ((rc = bind_listen(conf, &app->wenv.listen_fd, err)) != 0)
            goto fail;
    }
    app->port_out = mem_calloc(conf->instances, sizeof(*app->port_out));
    if (conf->nginx_upstream != NULL && (rc = write_upstream(app)) != 0) {
        err_set(err, rc, "%s: cannot write the nginx upstream file: %s", conf->nginx_upstream,
                strerror(-rc));
        FREE_AND_NULL(app->port_out);
        goto fail;
    }
    uv_timer_init(loop, &app->step);
    app->step.data = app;
    return 0;
fail:
    for (uint32_t i = 0; i < app->nlogs; i++)
        worker_log_close(&app->logs[i]);
    FREE_AND_NULL(app->logs);
    return rc;
}

/* ---- workers ------------------------------------------------------------------------------- */

static struct worker *
add_worker(struct supervisor_app *app, uint32_t index, bool restartable)
{
    struct worker *w = worker_new(&app->wenv, index, app->generation, on_worker_event, app);

    w->restartable = restartable;
    if (app->logs != NULL && index < app->conf->instances) {
        w->log_out = &app->logs[index * 2];
        w->log_err = &app->logs[index * 2 + 1];
    }
    app->workers = mem_realloc(app->workers, (app->nworkers + 1) * sizeof(*app->workers));
    app->workers[app->nworkers++] = w;
    return w;
}

static void
remove_worker(struct supervisor_app *app, size_t i)
{
    worker_free(app->workers[i]);
    memmove(&app->workers[i], &app->workers[i + 1],
            (app->nworkers - i - 1) * sizeof(*app->workers));
    app->nworkers--;
}

static void
describe_failure(struct supervisor_app *app, const struct worker *w, const char *what)
{
    struct supervisor_app_result *r = &app->op.result;

    if (r->failed_worker[0] != '\0')
        return; /* the first failure is the one reported */
    snprintf(r->failed_worker, sizeof(r->failed_worker), "%s[%u]", app->conf->name, w->index);
    snprintf(r->error, sizeof(r->error), "worker %s (pid %d, generation %u) %s: %s",
             r->failed_worker, (int)w->pid, w->generation, what,
             w->fail_reason[0] ? w->fail_reason : "failed");
    if (w->log_out != NULL && w->log_out->path != NULL) {
        buf_appendf(&r->log_tail, "==> %s <==\n", w->log_out->path);
        fsutil_tail(w->log_out->path, LOG_TAIL_LINES, &r->log_tail);
        buf_appendf(&r->log_tail, "\n==> %s <==\n", w->log_err->path);
        fsutil_tail(w->log_err->path, LOG_TAIL_LINES, &r->log_tail);
    }
}

static void
on_worker_event(struct worker *w, enum worker_event ev)
{
    struct supervisor_app *app = w->owner;

    switch (app->op.kind) {
    case SUPERVISOR_APP_RELOAD:
        if (ev == WORKER_EV_FAILED && w->generation == app->generation) {
            app->op.failed = true;
            describe_failure(app, w, "did not become ready");
        }
        break;
    case SUPERVISOR_APP_START:
    case SUPERVISOR_APP_SCALE:
    case SUPERVISOR_APP_RESTART:
        if ((ev == WORKER_EV_EXITED || ev == WORKER_EV_ERRORED) && w->state != WORKER_READY &&
            w->generation == app->generation && !app->op.failed &&
            (app->op.kind != SUPERVISOR_APP_RESTART || app->op.restart_stopped) &&
            (app->op.kind != SUPERVISOR_APP_SCALE || w->index >= app->op.scale_from)) {
            app->op.failed = true;
            describe_failure(app, w, "did not start");
        }
        break;
    case SUPERVISOR_APP_STOP:
    case SUPERVISOR_APP_IDLE:
        break;
    }
    schedule_step(app);
}

static void
schedule_step(struct supervisor_app *app)
{
    if (!app->closing)
        uv_timer_start(&app->step, on_step, 0, 0);
}

/* ---- operations ---------------------------------------------------------------------------- */

/* After a rebind rollout: the supervisor's copy of the previous socket goes (old workers that
 * still serve hold their own). A unix socket's path is removed only once nothing old is left
 * on it (<done>) and the new binding is not the same path. */
static void
close_old_listen(struct supervisor_app *app, bool done)
{
    const struct supervisor_app_conf *c = app->conf;

    if (app->old_listen_fd < 0)
        return;
    close(app->old_listen_fd);
    app->old_listen_fd = -1;
    if (done && addr_is_unix(&app->old_listen) &&
        !(c->has_listen && addr_equal(&c->listen, &app->old_listen)))
        unlink(((const struct sockaddr_un *)&app->old_listen.ss)->sun_path);
}

static void
finish_op(struct supervisor_app *app, bool ok)
{
    supervisor_app_done_cb cb = app->op.cb;
    void *arg = app->op.arg;
    struct supervisor_app_result *r = &app->op.result;

    r->ok = ok && !app->op.failed;
    if (!r->ok && r->error[0] == '\0')
        snprintf(r->error, sizeof(r->error), "app %s: operation failed", app->conf->name);
    log_write(r->ok ? LOG_INFO : LOG_ERROR, NULL, "app %s: %s", app->conf->name,
              r->ok ? "operation done" : r->error);
    if (app->op.rebind)
        close_old_listen(app, r->ok);
    app->op.kind = SUPERVISOR_APP_IDLE;
    app->op.cb = NULL;
    if (cb != NULL)
        cb(arg, r);
    buf_fini(&r->log_tail);
    memset(r, 0, sizeof(*r));
}

static bool
slot_has_live(const struct supervisor_app *app, uint32_t index)
{
    for (size_t j = 0; j < app->nworkers; j++)
        if (app->workers[j]->index == index && app->workers[j]->state != WORKER_STOPPED)
            return true;
    return false;
}

/* Drops stopped workers that are history: an older generation, or a failed new worker whose
 * slot is still served by an old one. */
static void
sweep_old(struct supervisor_app *app)
{
    for (size_t i = 0; i < app->nworkers;) {
        struct worker *w = app->workers[i];

        if (w->state == WORKER_STOPPED &&
            (w->generation < app->generation || slot_has_live(app, w->index)))
            remove_worker(app, i);
        else
            i++;
    }
}

static bool
all_current(const struct supervisor_app *app, enum worker_state s)
{
    for (size_t i = 0; i < app->nworkers; i++)
        if (app->workers[i]->generation == app->generation && app->workers[i]->state != s)
            return false;
    return true;
}

static bool
all_stopped(const struct supervisor_app *app)
{
    for (size_t i = 0; i < app->nworkers; i++)
        if (app->workers[i]->state != WORKER_STOPPED)
            return false;
    return true;
}

/* A fresh generation of <instances> workers, all restartable. */
static void
start_generation(struct supervisor_app *app)
{
    app->generation++;
    for (uint32_t i = 0; i < app->conf->instances; i++) {
        struct worker *w = add_worker(app, i, true);

        if (worker_start(w) != 0) {
            app->op.failed = true;
            describe_failure(app, w, "could not be spawned");
        }
    }
}

static void
step_start(struct supervisor_app *app)
{
    if (app->op.failed) {
        finish_op(app, false);
        return;
    }
    if (all_current(app, WORKER_READY))
        finish_op(app, true);
}

static void
step_restart(struct supervisor_app *app)
{
    if (!app->op.restart_stopped) {
        if (!all_stopped(app))
            return;
        while (app->nworkers > 0)
            remove_worker(app, app->nworkers - 1);
        app->op.restart_stopped = true;
        start_generation(app);
    }
    step_start(app);
}

static uint32_t
free_index(const struct supervisor_app *app)
{
    for (uint32_t i = 0; i < app->conf->instances; i++) {
        bool taken = false;

        for (size_t j = 0; j < app->nworkers && !taken; j++)
            taken = app->workers[j]->generation == app->generation && app->workers[j]->index == i;
        if (!taken)
            return i;
    }
    return app->conf->instances;
}

static bool
has_new_ready(const struct supervisor_app *app, uint32_t index)
{
    for (size_t j = 0; j < app->nworkers; j++)
        if (app->workers[j]->generation == app->generation && app->workers[j]->index == index &&
            app->workers[j]->state == WORKER_READY)
            return true;
    return false;
}

static void
reload_view(const struct supervisor_app *app, struct reload_view *v)
{
    memset(v, 0, sizeof(*v));
    v->instances = app->conf->instances;
    v->parallel = app->op.parallel;
    v->failed = app->op.failed;
    for (size_t i = 0; i < app->nworkers; i++) {
        const struct worker *w = app->workers[i];
        bool cur = w->generation == app->generation;

        switch (w->state) {
        case WORKER_READY:
            cur ? v->new_ready++ : v->old_ready++;
            break;
        case WORKER_STARTING:
        case WORKER_BACKOFF:
        case WORKER_ERRORED:
            cur ? v->new_starting++ : v->old_other++;
            break;
        case WORKER_DRAINING:
            cur ? v->new_starting++ : v->old_draining++;
            break;
        case WORKER_STOPPED:
            break;
        }
    }
}

static void
drain_old(struct supervisor_app *app, uint32_t n)
{
    /* Prefer old workers whose slot already has a ready replacement. */
    for (int pass = 0; pass < 2 && n > 0; pass++) {
        for (size_t i = 0; i < app->nworkers && n > 0; i++) {
            struct worker *w = app->workers[i];

            if (w->generation == app->generation || w->state != WORKER_READY)
                continue;
            if (pass == 0 && !has_new_ready(app, w->index))
                continue;
            worker_stop(w);
            n--;
        }
    }
}

static void
apply_reload_step(struct supervisor_app *app, const struct reload_step *s)
{
    for (size_t i = 0; i < app->nworkers; i++) {
        struct worker *w = app->workers[i];

        if (s->stop_other > 0 && w->generation < app->generation &&
            (w->state == WORKER_STARTING || w->state == WORKER_BACKOFF ||
             w->state == WORKER_ERRORED))
            worker_stop(w);
    }
    drain_old(app, s->drain);
    for (uint32_t k = 0; k < s->start; k++) {
        struct worker *w = add_worker(app, free_index(app), false);

        if (worker_start(w) != 0) {
            app->op.failed = true;
            describe_failure(app, w, "could not be spawned");
            w->state = WORKER_STOPPED;
            break;
        }
    }
}

static void
step_reload_listen(struct supervisor_app *app)
{
    struct reload_view v;
    struct reload_step s;

    for (int rounds = 0; rounds < 4; rounds++) {
        reload_view(app, &v);
        reload_plan(&v, &s);
        switch (s.action) {
        case RELOAD_WAIT:
            if (app->op.failed) /* tear down new workers still starting: the rollout is over */
                for (size_t i = 0; i < app->nworkers; i++)
                    if (app->workers[i]->generation == app->generation &&
                        app->workers[i]->state == WORKER_STARTING)
                        worker_kill(app->workers[i]);
            return;
        case RELOAD_ACT:
            apply_reload_step(app, &s);
            continue;
        case RELOAD_DONE:
            finish_op(app, true);
            return;
        case RELOAD_FAILED:
            finish_op(app, false);
            return;
        }
    }
}

static void
on_step(uv_timer_t *t)
{
    struct supervisor_app *app = t->data;

    switch (app->op.kind) {
    case SUPERVISOR_APP_IDLE:
        break;
    case SUPERVISOR_APP_START:
        step_start(app);
        break;
    case SUPERVISOR_APP_STOP:
        if (all_stopped(app))
            finish_op(app, true);
        break;
    case SUPERVISOR_APP_RESTART:
        step_restart(app);
        break;
    case SUPERVISOR_APP_SCALE:
        step_scale(app);
        break;
    case SUPERVISOR_APP_RELOAD:
        if (app->op.rebind)
            step_reload_rebind(app);
        else if (app->conf->has_listen || app->conf->ports == 0)
            step_reload_listen(app);
        else
            step_reload_ports(app);
        break;
    }
    if (app->op.kind == SUPERVISOR_APP_IDLE)
        sweep_old(app);
}

static bool
slot_running(const struct supervisor_app *app, uint32_t index)
{
    for (size_t j = 0; j < app->nworkers; j++)
        if (app->workers[j]->index == index && app->workers[j]->state != WORKER_STOPPED &&
            app->workers[j]->state != WORKER_ERRORED)
            return true;
    return false;
}

static void
begin_start(struct supervisor_app *app)
{
    /* Nothing running: a fresh generation (fresh backoff). Otherwise only the empty slots get
     * a worker (after an adoption that found fewer workers than instances, or errored ones). */
    bool running = false;

    for (uint32_t i = 0; i < app->conf->instances; i++)
        running |= slot_running(app, i);
    if (!running) {
        while (app->nworkers > 0)
            remove_worker(app, app->nworkers - 1);
        start_generation(app);
        return;
    }
    for (uint32_t i = 0; i < app->conf->instances; i++) {
        struct worker *w;

        if (slot_running(app, i))
            continue;
        for (size_t j = 0; j < app->nworkers;) {
            if (app->workers[j]->index == i)
                remove_worker(app, j);
            else
                j++;
        }
        w = add_worker(app, i, true);
        if (worker_start(w) != 0) {
            app->op.failed = true;
            describe_failure(app, w, "could not be spawned");
        }
    }
}

int
supervisor_app_run(struct supervisor_app *app, enum supervisor_app_op op, uint32_t parallel,
                   supervisor_app_done_cb cb, void *arg)
{
    if (app->op.kind != SUPERVISOR_APP_IDLE)
        return -EBUSY;
    memset(&app->op, 0, sizeof(app->op));
    buf_init(&app->op.result.log_tail);
    app->op.kind = op;
    app->op.parallel = parallel == 0 ? 1 : parallel;
    app->op.cb = cb;
    app->op.arg = arg;
    log_info("app %s: %s", app->conf->name,
             (const char *[]){"idle", "start", "stop", "restart", "reload", "scale"}[op]);
    switch (op) {
    case SUPERVISOR_APP_START:
        begin_start(app);
        break;
    case SUPERVISOR_APP_STOP:
    case SUPERVISOR_APP_RESTART:
        for (size_t i = 0; i < app->nworkers; i++)
            worker_stop(app->workers[i]);
        break;
    case SUPERVISOR_APP_RELOAD:
        app->op.rebind = app->rebind_pending;
        app->rebind_pending = false;
        app->generation++;
        break;
    case SUPERVISOR_APP_SCALE:
        app->op.scale_from = app->scale_from;
        begin_scale(app);
        break;
    case SUPERVISOR_APP_IDLE:
        break;
    }
    schedule_step(app);
    return 0;
}

/* ---- ports: mode and the nginx upstream ---------------------------------------------------- */

static int
write_upstream(const struct supervisor_app *app)
{
    const struct supervisor_app_conf *c = app->conf;
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", c->nginx_upstream);
    if ((f = fopen(tmp, "we")) == NULL)
        return -errno;
    fprintf(f, "# written by cutover supervise for app %s; do not edit\n", c->name);
    for (uint32_t i = 0; i < c->instances; i++)
        fprintf(f, "server 127.0.0.1:%u max_fails=0%s;\n", c->ports + i,
                app->port_out[i] ? " down" : "");
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    return rename(tmp, c->nginx_upstream) == 0 ? 0 : -errno;
}

static void
on_nginx_closed(uv_handle_t *h)
{
    struct supervisor_app *app = h->data;

    app->op.nginx_busy = 0;
    schedule_step(app);
}

static void
on_nginx_exit(uv_process_t *p, int64_t status, int sig)
{
    struct supervisor_app *app = p->data;

    if (status != 0 || sig != 0) {
        app->op.failed = true;
        snprintf(app->op.result.error, sizeof(app->op.result.error),
                 "app %s: nginx reload (%s) failed (%s %d)", app->conf->name,
                 app->conf->nginx_reload[0], sig ? "signal" : "code", sig ? sig : (int)status);
    }
    uv_close((uv_handle_t *)p, on_nginx_closed);
}

/* Rewrites the upstream file and reloads nginx; the step waits for the reload to finish. */
static void
nginx_update(struct supervisor_app *app)
{
    const char **src = app->conf->nginx_reload;
    char *args[32];
    size_t n = 0;
    uv_process_options_t o = {0};
    int rc;

    if ((rc = write_upstream(app)) != 0) {
        app->op.failed = true;
        snprintf(app->op.result.error, sizeof(app->op.result.error), "%s: %s",
                 app->conf->nginx_upstream, strerror(-rc));
        return;
    }
    for (; src[n] != NULL && n < sizeof(args) / sizeof(args[0]) - 1; n++)
        args[n] = mem_strdup(src[n]);
    args[n] = NULL;
    o.file = args[0];
    o.args = args;
    o.exit_cb = on_nginx_exit;
    app->nginx_proc.data = app;
    app->op.nginx_busy = 1;
    rc = uv_spawn(app->wenv.loop, &app->nginx_proc, &o);
    for (size_t i = 0; i < n; i++)
        free(args[i]);
    if (rc != 0) {
        app->op.failed = true;
        snprintf(app->op.result.error, sizeof(app->op.result.error), "spawn %s: %s", src[0],
                 uv_strerror(rc));
        uv_close((uv_handle_t *)&app->nginx_proc, on_nginx_closed);
    }
}

static struct worker *
slot_worker(const struct supervisor_app *app, uint32_t index, bool current)
{
    for (size_t j = 0; j < app->nworkers; j++) {
        struct worker *w = app->workers[j];

        if (w->index == index && (w->generation == app->generation) == current &&
            w->state != WORKER_STOPPED)
            return w;
    }
    return NULL;
}

/* One slot at a time: out of the upstream, drain the old worker, start the new one on the same
 * port, back into the upstream once ready. Returns true when the slot is done. */
static bool
step_ports_slot(struct supervisor_app *app, uint32_t i)
{
    struct worker *old = slot_worker(app, i, false), *nw;

    if (old != NULL) {
        if (app->conf->nginx_upstream != NULL && !app->port_out[i]) {
            app->port_out[i] = true;
            nginx_update(app);
        } else if (old->state != WORKER_DRAINING) {
            worker_stop(old);
        }
        return false;
    }
    if ((nw = slot_worker(app, i, true)) == NULL) {
        nw = add_worker(app, i, false);
        if (worker_start(nw) != 0) {
            app->op.failed = true;
            describe_failure(app, nw, "could not be spawned");
        }
        return false;
    }
    if (nw->state != WORKER_READY)
        return false;
    if (app->port_out[i]) {
        /* back in, and the next slot out, in one nginx reload */
        app->port_out[i] = false;
        if (i + 1 < app->conf->instances && slot_worker(app, i + 1, false) != NULL)
            app->port_out[i + 1] = true;
        nginx_update(app);
        return false;
    }
    return true;
}

/* After a failure: every port whose worker still serves goes back into the upstream (one
 * attempt). Returns true when an nginx reload was started for it. */
static bool
restore_upstream(struct supervisor_app *app)
{
    bool changed = false;

    if (app->conf->nginx_upstream == NULL || app->op.restored)
        return false;
    app->op.restored = true;
    for (uint32_t i = 0; i < app->conf->instances; i++) {
        struct worker *w = slot_worker(app, i, false);

        if (w == NULL)
            w = slot_worker(app, i, true);
        if (app->port_out[i] && w != NULL && w->state == WORKER_READY) {
            app->port_out[i] = false;
            changed = true;
        }
    }
    if (changed)
        nginx_update(app);
    return app->op.nginx_busy != 0;
}

static void
step_reload_ports(struct supervisor_app *app)
{
    if (app->op.nginx_busy)
        return;
    while (!app->op.failed && app->op.next_slot < app->conf->instances) {
        if (!step_ports_slot(app, app->op.next_slot))
            break;
        app->op.next_slot++;
    }
    if (app->op.nginx_busy)
        return;
    if (app->op.failed && restore_upstream(app))
        return;
    if (app->op.failed) {
        finish_op(app, false);
        return;
    }
    if (app->op.next_slot < app->conf->instances)
        return;
    /* instances went down with the reload: the old workers beyond it drain last (their ports
     * already left the upstream with the first rewrite) */
    for (size_t i = 0; i < app->nworkers; i++) {
        struct worker *w = app->workers[i];

        if (w->generation == app->generation || w->state == WORKER_STOPPED)
            continue;
        if (w->state != WORKER_DRAINING)
            worker_stop(w);
        return;
    }
    finish_op(app, true);
}

/* ---- a new binding (SIGHUP changed listen/ports) -------------------------------------------- */

static bool
nginx_fronted(const struct supervisor_app_conf *c)
{
    return c->nginx_upstream != NULL && !c->has_listen && c->ports != 0;
}

/* True when some TCP connection on this host is established to local port <port>: read from
 * /proc/net/tcp and tcp6 ("sl local rem st ...", hex ports, st 01 = ESTABLISHED). */
static bool
port_connected(uint32_t port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char line[512];

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        FILE *fp = fopen(files[f], "re");
        bool found = false;

        if (fp == NULL)
            continue;
        while (!found && fgets(line, sizeof(line), fp) != NULL) {
            char local[64], st[8];
            unsigned int p;
            const char *colon;

            if (sscanf(line, " %*[^:]: %63s %*s %7s", local, st) != 2 || strcmp(st, "01") != 0)
                continue;
            colon = strrchr(local, ':');
            found = colon != NULL && sscanf(colon + 1, "%x", &p) == 1 && p == port;
        }
        fclose(fp);
        if (found)
            return true;
    }
    return false;
}

/* Behind nginx, `nginx -s reload` returns before nginx's old workers are gone, and they still
 * send requests to the old ports: with every old port gone they would answer 502. nginx keeps
 * its upstream keep-alive connections until a worker exits, so the old workers are gone once
 * nothing is connected to an old port any more. Waits for that, at most kill_timeout. */
static bool
old_ports_quiet(struct supervisor_app *app)
{
    uint64_t now = uv_now(app->wenv.loop);

    if (app->op.settled || app->old_nports == 0)
        return true;
    if (app->op.settle_until == 0)
        app->op.settle_until = now + app->conf->kill_timeout_ms;
    for (uint32_t i = 0; i < app->old_nports && now < app->op.settle_until; i++) {
        if (port_connected(app->old_ports + i)) {
            uv_timer_start(&app->step, on_step, 50, 0);
            return false;
        }
    }
    app->op.settled = true;
    return true;
}

/* Surge then drain, as in listen: mode: new workers come up on the new binding while the old
 * ones keep serving on theirs (the two never collide: set_conf checked). Behind nginx no old
 * worker drains before every new one is ready and the upstream points at the new ports. */
static void
step_reload_rebind(struct supervisor_app *app)
{
    struct reload_view v;
    struct reload_step s;

    if (app->op.nginx_busy)
        return;
    if (nginx_fronted(app->conf) && !app->op.upstream_done && !app->op.failed) {
        reload_view(app, &v);
        if (v.new_ready >= v.instances) {
            app->op.upstream_done = true;
            nginx_update(app);
            if (!app->op.nginx_busy)
                schedule_step(app);
            return;
        }
        v.old_ready = 0; /* hold every drain back */
        reload_plan(&v, &s);
        if (s.action == RELOAD_ACT)
            apply_reload_step(app, &s);
        return;
    }
    if (nginx_fronted(app->conf) && !app->op.failed && !old_ports_quiet(app))
        return;
    step_reload_listen(app);
}

/* ---- scale (SIGHUP changed only instances) -------------------------------------------------- */

static void
begin_scale(struct supervisor_app *app)
{
    const struct supervisor_app_conf *c = app->conf;

    for (uint32_t i = app->op.scale_from; i < c->instances; i++) {
        struct worker *w;

        if (slot_running(app, i))
            continue;
        for (size_t j = 0; j < app->nworkers;) {
            if (app->workers[j]->index == i)
                remove_worker(app, j);
            else
                j++;
        }
        w = add_worker(app, i, true);
        if (worker_start(w) != 0) {
            app->op.failed = true;
            describe_failure(app, w, "could not be spawned");
        }
    }
}

/* Up: the new slots start, the op ends once they are ready (behind nginx: and their ports are
 * in the upstream); a new slot that exits before it is ready fails it (it keeps restarting
 * with backoff, as after `cutover apps start`). Down: behind nginx the upstream loses the highest
 * ports first; then the workers of the highest indexes drain (kill_signal, kill_timeout, SIGKILL).
 */
static void
step_scale(struct supervisor_app *app)
{
    const struct supervisor_app_conf *c = app->conf;
    bool nginx = nginx_fronted(c);

    if (app->op.nginx_busy)
        return;
    if (c->instances >= app->op.scale_from) {
        if (app->op.failed) {
            finish_op(app, false);
            return;
        }
        for (size_t i = 0; i < app->nworkers; i++)
            if (app->workers[i]->generation == app->generation &&
                app->workers[i]->index >= app->op.scale_from &&
                app->workers[i]->state != WORKER_READY)
                return;
        if (nginx && !app->op.upstream_done) {
            app->op.upstream_done = true;
            nginx_update(app);
            if (app->op.nginx_busy)
                return;
        }
        finish_op(app, !app->op.failed);
        return;
    }
    if (nginx && !app->op.upstream_done) {
        app->op.upstream_done = true;
        nginx_update(app);
        if (app->op.nginx_busy)
            return;
    }
    if (app->op.failed) { /* nginx was not reloaded: it may still send to those ports */
        finish_op(app, false);
        return;
    }
    if (!app->op.drained) {
        app->op.drained = true;
        for (size_t i = 0; i < app->nworkers; i++)
            if (app->workers[i]->index >= c->instances)
                worker_stop(app->workers[i]);
    }
    for (size_t i = 0; i < app->nworkers; i++)
        if (app->workers[i]->index >= c->instances && app->workers[i]->state != WORKER_STOPPED)
            return;
    for (size_t i = 0; i < app->nworkers;) {
        if (app->workers[i]->index >= c->instances)
            remove_worker(app, i);
        else
            i++;
    }
    finish_op(app, true);
}

/* ---- configuration changes ----------------------------------------------------------------- */

static bool
same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool
same_binding(const struct supervisor_app_conf *a, const struct supervisor_app_conf *b)
{
    if (a->has_listen != b->has_listen)
        return false;
    return a->has_listen ? addr_equal(&a->listen, &b->listen) : a->ports == b->ports;
}

/* True when a worker started from <b> would run differently from one started from <a>
 * (instances and the binding aside). */
static bool
runs_differently(const struct supervisor_app_conf *a, const struct supervisor_app_conf *b)
{
    if (a->argc != b->argc || a->nenv != b->nenv || a->ready != b->ready ||
        !same_str(a->cwd, b->cwd) || !same_str(a->user, b->user) || !same_str(a->group, b->group) ||
        !same_str(a->ready_path, b->ready_path) || (a->log_dir == NULL) != (b->log_dir == NULL))
        return true;
    for (size_t i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return true;
    for (size_t i = 0; i < a->nenv; i++)
        if (!same_str(a->env[i].name, b->env[i].name) ||
            !same_str(a->env[i].value, b->env[i].value))
            return true;
    return false;
}

/* A rebind whose old and new port ranges overlap would have two workers on one port. */
static const char *
rebind_conflict(const struct supervisor_app_conf *a, const struct supervisor_app_conf *b)
{
    uint32_t lo_a, hi_a, lo_b, hi_b;

    if (a->has_listen || b->has_listen || a->ports == 0 || b->ports == 0)
        return NULL; /* a new listen: socket is bound up front: a clash fails there */
    lo_a = a->ports;
    hi_a = a->ports + a->instances;
    lo_b = b->ports;
    hi_b = b->ports + b->instances;
    if (lo_a < hi_b && lo_b < hi_a)
        return "the new ports overlap the running ones (a worker and its replacement would need "
               "the same port): move to a range that does not overlap";
    return NULL;
}

static uint32_t
highest_slot(const struct supervisor_app *app)
{
    uint32_t n = 0;

    for (size_t i = 0; i < app->nworkers; i++)
        if (app->workers[i]->state != WORKER_STOPPED && app->workers[i]->index + 1 > n)
            n = app->workers[i]->index + 1;
    return n;
}

int
supervisor_app_set_conf(struct supervisor_app *app, const struct supervisor_app_conf *conf,
                        enum supervisor_app_change *change, char *why, size_t whylen)
{
    const struct supervisor_app_conf *old = app->conf;
    struct worker_env ids = app->wenv;
    struct worker_log *logs = NULL;
    uint32_t nslots = 0;
    bool rebind = !same_binding(old, conf), reopen;
    int new_fd = -1, rc;
    struct err err = {0};
    const char *conflict;

    *change = SUPERVISOR_CHANGE_NONE;
    if (app->op.kind != SUPERVISOR_APP_IDLE) {
        snprintf(why, whylen, "an operation is in progress; send SIGHUP again when it is done");
        return -EBUSY;
    }
    /* Everything that can fail first: nothing below changes the running app. */
    ids.has_ids = false;
    if ((rc = resolve_ids(&ids, conf, &err)) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -EINVAL;
    }
    if (rebind && (conflict = rebind_conflict(old, conf)) != NULL) {
        snprintf(why, whylen, "%s", conflict);
        return -EINVAL;
    }
    if (rebind && conf->has_listen && (rc = bind_listen(conf, &new_fd, &err)) != 0) {
        snprintf(why, whylen, "%s", err.msg);
        return -EINVAL;
    }
    nslots = conf->instances > highest_slot(app) ? conf->instances : highest_slot(app);
    reopen = conf->log_dir != NULL &&
             (!same_str(old->log_dir, conf->log_dir) || old->log_max_size != conf->log_max_size ||
              old->log_keep != conf->log_keep || nslots * 2 > app->nlogs ||
              !same_str(old->user, conf->user) || !same_str(old->group, conf->group));
    if (reopen && (rc = open_log_set(conf, &ids, nslots, &logs, &err)) != 0) {
        if (new_fd >= 0)
            close(new_fd);
        snprintf(why, whylen, "%s", err.msg);
        return -EINVAL;
    }

    /* Commit. */
    if (rebind) {
        close_old_listen(app, false); /* from an earlier rebind that failed */
        if (old->has_listen) {
            app->old_listen_fd = app->wenv.listen_fd;
            app->old_listen = old->listen;
        }
        app->wenv.listen_fd = new_fd;
        app->rebind_pending = true;
        app->old_ports = !old->has_listen ? old->ports : 0;
        app->old_nports = !old->has_listen && old->ports != 0 ? old->instances : 0;
    }
    app->wenv.has_ids = ids.has_ids;
    app->wenv.uid = ids.uid;
    app->wenv.gid = ids.gid;
    if (reopen || conf->log_dir == NULL) {
        struct worker_log *was = app->logs;
        uint32_t nwas = app->nlogs;

        app->logs = logs;
        app->nlogs = logs != NULL ? nslots * 2 : 0;
        relink_logs(app);
        for (uint32_t i = 0; i < nwas; i++)
            worker_log_close(&was[i]);
        free(was);
    }
    if (conf->instances > old->instances) {
        app->port_out = mem_realloc(app->port_out, conf->instances * sizeof(*app->port_out));
        memset(app->port_out + old->instances, 0,
               (conf->instances - old->instances) * sizeof(*app->port_out));
    }
    app->scale_from = old->instances;
    app->conf = conf;
    app->wenv.conf = conf;
    if (rebind || runs_differently(old, conf))
        *change = SUPERVISOR_CHANGE_RELOAD;
    else if (conf->instances != old->instances)
        *change = SUPERVISOR_CHANGE_SCALE;
    else if (conf->nginx_upstream != NULL && !same_str(old->nginx_upstream, conf->nginx_upstream))
        *change = SUPERVISOR_CHANGE_RELOAD; /* a new upstream file is written by a reload */
    return 0;
}

/* ---- adoption ------------------------------------------------------------------------------ */

size_t
supervisor_app_adopt(struct supervisor_app *app, const struct apps_msg_worker *ws, size_t n)
{
    size_t adopted = 0;

    for (size_t i = 0; i < n; i++) {
        const struct apps_msg_worker *m = &ws[i];
        uint32_t saved = app->generation;
        struct worker *w;

        if (m->index >= app->conf->instances || slot_running(app, m->index))
            continue;
        app->generation = m->generation;
        w = add_worker(app, m->index, true);
        app->generation = saved;
        if (worker_adopt(w, m->pid, (uint64_t)(m->started_at * 1000.0), m->restarts) != 0) {
            remove_worker(app, app->nworkers - 1);
            continue;
        }
        if (m->generation > app->generation)
            app->generation = m->generation;
        adopted++;
    }
    return adopted;
}

/* ---- queries and teardown ------------------------------------------------------------------ */

void
supervisor_app_status(const struct supervisor_app *app, struct apps_msg_reply *rep)
{
    uint64_t now = uv_now(app->wenv.loop);

    for (size_t i = 0; i < app->nworkers; i++) {
        const struct worker *w = app->workers[i];
        struct apps_msg_worker *m = apps_msg_reply_add_worker(rep);

        str_copy(m->app, app->conf->name, sizeof(m->app));
        m->index = w->index;
        m->pid = (int)w->pid;
        str_copy(m->state, worker_state_public(w->state), sizeof(m->state));
        m->restarts = w->restarts;
        m->uptime_s = w->pid > 0 ? (double)(now - w->started_ms) / 1000.0 : 0.0;
        m->started_at = (double)w->started_wall_ms / 1000.0;
        m->rss_bytes = w->rss_bytes;
        m->cpu_pct = w->cpu_pct;
        m->generation = w->generation;
        m->exit_code = w->last_exit_code;
        m->exit_signal = w->last_signal;
        if (w->log_out != NULL && w->log_out->path != NULL)
            str_copy(m->log_out, w->log_out->path, sizeof(m->log_out));
        if (w->log_err != NULL && w->log_err->path != NULL)
            str_copy(m->log_err, w->log_err->path, sizeof(m->log_err));
    }
}

void
supervisor_app_sample(struct supervisor_app *app)
{
    for (size_t i = 0; i < app->nworkers; i++)
        worker_sample(app->workers[i]);
}

bool
supervisor_app_notify(struct supervisor_app *app, pid_t pid, const char *msg)
{
    for (size_t i = 0; i < app->nworkers; i++) {
        if (worker_owns_pid(app->workers[i], pid)) {
            worker_notify(app->workers[i], msg);
            return true;
        }
    }
    return false;
}

bool
supervisor_app_idle(const struct supervisor_app *app)
{
    for (size_t i = 0; i < app->nworkers; i++)
        if (app->workers[i]->pid > 0)
            return false;
    return app->op.nginx_busy == 0;
}

void
supervisor_app_fini(struct supervisor_app *app)
{
    app->closing = true;
    if (app->op.cb != NULL) {
        app->op.failed = true;
        snprintf(app->op.result.error, sizeof(app->op.result.error),
                 "app %s: supervisor shutting down", app->conf->name);
        finish_op(app, false);
    }
    while (app->nworkers > 0)
        remove_worker(app, app->nworkers - 1);
    free(app->workers);
    app->workers = NULL;
    uv_close((uv_handle_t *)&app->step, NULL);
    for (uint32_t i = 0; i < app->nlogs; i++)
        worker_log_close(&app->logs[i]);
    FREE_AND_NULL(app->logs);
    FREE_AND_NULL(app->port_out);
    close_old_listen(app, false);
    if (app->wenv.listen_fd >= 0) {
        close(app->wenv.listen_fd);
        if (addr_is_unix(&app->conf->listen))
            unlink(((const struct sockaddr_un *)&app->conf->listen.ss)->sun_path);
    }
    app->wenv.listen_fd = -1;
}

void
supervisor_app_shutdown(struct supervisor_app *app)
{
    if (app->op.kind != SUPERVISOR_APP_IDLE) {
        app->op.failed = true;
        snprintf(app->op.result.error, sizeof(app->op.result.error),
                 "app %s: supervisor shutting down", app->conf->name);
        finish_op(app, false);
    }
    supervisor_app_run(app, SUPERVISOR_APP_STOP, 0, NULL, NULL);
}
