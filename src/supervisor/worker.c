/* SPDX-License-Identifier: ISC */
/* One worker process and its state machine; see worker.h. */
#include "supervisor/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "supervisor/readiness.h"
#include "supervisor/supervisor_conf.h"
#include "supervisor/worker_log.h"

extern char **environ;

#define PROBE_INTERVAL_MS 50

/* A stdout/stderr pipe of one spawn; frees itself once closed, so a grandchild that keeps the
 * pipe open never holds up a restart. */
struct worker_pipe {
    uv_pipe_t pipe;
    struct buf pending;
    struct worker_log *log;    /* borrowed; cleared when the worker goes away */
    struct worker_pipe **slot; /* where the worker points at us, or NULL */
};

static const struct {
    const char *name;
    const char *public_name;
} state_info[] = {
    [WORKER_STARTING] = {"starting", "starting"}, [WORKER_READY] = {"ready", "ready"},
    [WORKER_DRAINING] = {"draining", "draining"}, [WORKER_BACKOFF] = {"backoff", "starting"},
    [WORKER_STOPPED] = {"stopped", "stopped"},    [WORKER_ERRORED] = {"errored", "errored"},
};

static void on_state_timeout(uv_timer_t *t);

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
static void on_probe_tick(uv_timer_t *t);

const char *
worker_state_name(enum worker_state s)
{
    return state_info[s].name;
}

const char *
worker_state_public(enum worker_state s)
{
    return state_info[s].public_name;
}

static void wlog(const struct worker *w, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
wlog(const struct worker *w, enum log_level level, const char *fmt, ...)
{
    char ctx[256];
    va_list ap;

    if (!log_enabled(level))
        return;
    snprintf(ctx, sizeof(ctx), "app=%s worker=%u gen=%u pid=%d", w->env->conf->name, w->index,
             w->generation, (int)w->pid);
    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}

static void
enter(struct worker *w, enum worker_state next, uint64_t timeout_ms)
{
    wlog(w, LOG_DEBUG, "%s -> %s", state_info[w->state].name, state_info[next].name);
    w->state = next;
    uv_timer_stop(&w->probe_timer);
    if (timeout_ms != 0)
        uv_timer_start(&w->timer, on_state_timeout, timeout_ms, 0);
    else
        uv_timer_stop(&w->timer);
}

struct worker *
worker_new(const struct worker_env *env, uint32_t index, uint32_t generation, worker_event_cb cb,
           void *owner)
{
    struct worker *w = mem_calloc(1, sizeof(*w));
    const struct supervisor_app_conf *c = env->conf;

    w->env = env;
    w->index = index;
    w->generation = generation;
    w->on_event = cb;
    w->owner = owner;
    w->state = WORKER_STOPPED;
    w->restartable = true;
    w->last_exit_code = -1;
    w->pidfd = -1;
    uv_timer_init(env->loop, &w->timer);
    uv_timer_init(env->loop, &w->probe_timer);
    w->timer.data = w;
    w->probe_timer.data = w;
    backoff_init(&w->backoff, c->min_uptime_ms, c->backoff_max_ms, c->max_restarts, c->window_ms);
    return w;
}

/* ---- output pipes -------------------------------------------------------------------------- */

static void
on_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct worker_pipe *p = h->data;

    (void)suggested;
    buf_reserve(&p->pending, 16384);
    b->base = p->pending.data + p->pending.len;
    b->len = p->pending.cap - p->pending.len - 1;
}

static void
on_pipe_closed(uv_handle_t *h)
{
    struct worker_pipe *p = h->data;

    buf_fini(&p->pending);
    free(p);
}

static void
close_pipe(struct worker_pipe *p)
{
    if (p->slot != NULL)
        *p->slot = NULL;
    p->slot = NULL;
    if (p->log != NULL)
        worker_log_write(p->log, &p->pending, 1);
    uv_close((uv_handle_t *)&p->pipe, on_pipe_closed);
}

static void
on_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct worker_pipe *p = s->data;

    (void)b;
    if (n < 0) {
        close_pipe(p);
        return;
    }
    p->pending.len += (size_t)n;
    p->pending.data[p->pending.len] = '\0';
    if (p->log != NULL)
        worker_log_write(p->log, &p->pending, 0);
    else
        buf_reset(&p->pending);
}

static struct worker_pipe *
pipe_new(struct worker *w, struct worker_log *lg)
{
    struct worker_pipe *p = mem_calloc(1, sizeof(*p));

    uv_pipe_init(w->env->loop, &p->pipe, 0);
    p->pipe.data = p;
    p->log = lg;
    buf_init(&p->pending);
    return p;
}

static void
pipes_start(struct worker *w)
{
    struct worker_pipe *ps[2] = {w->out, w->err};

    for (int i = 0; i < 2; i++)
        if (ps[i] != NULL)
            uv_read_start((uv_stream_t *)&ps[i]->pipe, on_pipe_alloc, on_pipe_read);
}

static void
pipes_detach(struct worker *w)
{
    if (w->out != NULL) {
        w->out->slot = NULL;
        w->out->log = NULL;
        close_pipe(w->out);
    }
    if (w->err != NULL) {
        w->err->slot = NULL;
        w->err->log = NULL;
        close_pipe(w->err);
    }
    w->out = w->err = NULL;
}

void
worker_relink_logs(struct worker *w)
{
    if (w->out != NULL)
        w->out->log = w->log_out;
    if (w->err != NULL)
        w->err->log = w->log_err;
}

/* ---- spawning ------------------------------------------------------------------------------ */

static bool
env_overridden(const char *entry, const struct supervisor_app_conf *c)
{
    static const char *const ours[] = {
        "LISTEN_PID=", "LISTEN_FDS=",  "LISTEN_FDNAMES=",      "NOTIFY_SOCKET=",
        "PORT=",       "CUTOVER_APP=", "CUTOVER_WORKER_INDEX="};

    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (str_has_prefix(entry, ours[i]))
            return true;
    for (size_t i = 0; i < c->nenv; i++) {
        size_t n = strlen(c->env[i].name);

        if (strncmp(entry, c->env[i].name, n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

static void
push(char ***v, size_t *n, char *s)
{
    *v = mem_realloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static char *fmt_env(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
fmt_env(const char *name, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    char value[4096];

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    buf_init(&b);
    buf_appendf(&b, "%s=%s", name, value);
    return buf_take(&b);
}

static char **
build_env(const struct worker *w)
{
    const struct supervisor_app_conf *c = w->env->conf;
    char **v = NULL;
    size_t n = 0;

    for (char **e = environ; *e != NULL; e++)
        if (!env_overridden(*e, c))
            push(&v, &n, mem_strdup(*e));
    for (size_t i = 0; i < c->nenv; i++)
        push(&v, &n, fmt_env(c->env[i].name, "%s", c->env[i].value));
    push(&v, &n, fmt_env("CUTOVER_APP", "%s", c->name));
    push(&v, &n, fmt_env("CUTOVER_WORKER_INDEX", "%u", w->index));
    if (c->ports != 0)
        push(&v, &n, fmt_env("PORT", "%u", c->ports + w->index));
    if (w->env->listen_fd >= 0)
        push(&v, &n, fmt_env("LISTEN_FDS", "1"));
    if (w->env->notify_path != NULL)
        push(&v, &n, fmt_env("NOTIFY_SOCKET", "%s", w->env->notify_path));
    return v;
}

static char **
build_argv(const struct worker *w)
{
    const struct supervisor_app_conf *c = w->env->conf;
    char **v = NULL;
    size_t n = 0;

    if (w->env->listen_fd >= 0) {
        /* LISTEN_PID must be the worker's own pid, known only after fork: the helper sets it
         * and execs the command in place (same pid). */
        push(&v, &n, mem_strdup(w->env->self_exe));
        push(&v, &n, mem_strdup("supervise"));
        push(&v, &n, mem_strdup("--exec-worker"));
        push(&v, &n, mem_strdup("--"));
    }
    for (size_t i = 0; i < c->argc; i++)
        push(&v, &n, mem_strdup(c->argv[i]));
    return v;
}

static void
free_strv(char **v, bool strings)
{
    if (v == NULL)
        return;
    if (strings)
        for (char **p = v; *p != NULL; p++)
            free(*p);
    free(v);
}

static void on_exit_cb(uv_process_t *proc, int64_t status, int term_signal);

static int
spawn(struct worker *w)
{
    const struct worker_env *e = w->env;
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[4];
    char **argv = build_argv(w), **envp = build_env(w);
    int rc;

    w->out = e->conf->log_dir ? pipe_new(w, w->log_out) : NULL;
    w->err = e->conf->log_dir ? pipe_new(w, w->log_err) : NULL;
    stdio[0].flags = UV_IGNORE;
    for (int i = 1; i <= 2; i++) {
        struct worker_pipe *p = i == 1 ? w->out : w->err;

        stdio[i].flags = p ? UV_CREATE_PIPE | UV_WRITABLE_PIPE : UV_IGNORE;
        stdio[i].data.stream = p ? (uv_stream_t *)&p->pipe : NULL;
    }
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = e->listen_fd;
    o.exit_cb = on_exit_cb;
    o.file = argv[0];
    o.args = argv;
    o.env = envp;
    o.cwd = e->conf->cwd;
    o.stdio = stdio;
    o.stdio_count = e->listen_fd >= 0 ? 4 : 3;
    o.flags = UV_PROCESS_DETACHED;
    if (e->has_ids) {
        o.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
        o.uid = e->uid;
        o.gid = e->gid;
    }
    w->proc.data = w;
    rc = uv_spawn(e->loop, &w->proc, &o);
    w->proc_open = true; /* uv_spawn initializes the handle even when it fails */
    free_strv(argv, true);
    free_strv(envp, true);
    if (rc != 0) {
        snprintf(w->fail_reason, sizeof(w->fail_reason), "spawn %s: %s", e->conf->argv[0],
                 uv_strerror(rc));
        pipes_detach(w);
        return rc;
    }
    if (w->out)
        w->out->slot = &w->out;
    if (w->err)
        w->err->slot = &w->err;
    w->pid = w->proc.pid;
    pipes_start(w);
    return 0;
}

static void
on_proc_closed(uv_handle_t *h)
{
    struct worker *w = h->data;

    w->proc_open = false;
    if (w->closing && --w->pending_closes == 0)
        free(w);
}

int
worker_start(struct worker *w)
{
    const struct supervisor_app_conf *c = w->env->conf;
    int rc;

    ASSERT(w->pid == 0 && !w->closing);
    if (w->proc_open)
        return -EBUSY; /* the last process handle is still closing; caller retries */
    w->fail_reason[0] = '\0';
    w->rss_bytes = 0;
    w->cpu_pct = 0;
    w->cpu_ticks = 0;
    w->started_ms = uv_now(w->env->loop);
    w->started_wall_ms = wall_ms();
    if ((rc = spawn(w)) != 0) {
        wlog(w, LOG_ERROR, "%s", w->fail_reason);
        uv_close((uv_handle_t *)&w->proc, on_proc_closed);
        return rc;
    }
    wlog(w, LOG_INFO, "started");
    if (w->log_err != NULL)
        worker_log_note(w->log_err, "[cutover] started pid=%d generation=%u", (int)w->pid,
                        w->generation);
    enter(w, WORKER_STARTING, c->ready_timeout_ms);
    uv_timer_start(&w->probe_timer, on_probe_tick, c->ready == SUPERVISOR_READY_NONE ? 0 : 10, 0);
    return 0;
}

/* ---- readiness ----------------------------------------------------------------------------- */

static void
become_ready(struct worker *w)
{
    readiness_probe_cancel(w->probe);
    w->probe = NULL;
    enter(w, WORKER_READY, 0);
    w->restartable = true;
    wlog(w, LOG_INFO, "ready after %" PRIu64 "ms", uv_now(w->env->loop) - w->started_ms);
    w->on_event(w, WORKER_EV_READY);
}

static void
on_probe_done(void *arg, bool ok)
{
    struct worker *w = arg;

    w->probe = NULL;
    if (w->state != WORKER_STARTING)
        return;
    if (ok)
        become_ready(w);
    else
        uv_timer_start(&w->probe_timer, on_probe_tick, PROBE_INTERVAL_MS, 0);
}

static void
probe_target(const struct worker *w, struct addr *out)
{
    const struct supervisor_app_conf *c = w->env->conf;
    char text[64];

    if (c->ports != 0) {
        snprintf(text, sizeof(text), "127.0.0.1:%u", c->ports + w->index);
        addr_parse(out, text);
    } else {
        *out = c->listen;
    }
}

/* listen: mode: a probe through the shared socket may be answered by any worker; it only
 * counts once this worker accepts on fd 3 itself. */
static bool
accepting_itself(const struct worker *w)
{
    return w->env->listen_fd < 0 || readiness_accepting(w->pid, 3);
}

static void
on_probe_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    const struct supervisor_app_conf *c = w->env->conf;
    struct addr target;

    if (w->state != WORKER_STARTING || w->probe != NULL)
        return;
    switch (c->ready) {
    case SUPERVISOR_READY_NONE:
        become_ready(w);
        return;
    case SUPERVISOR_READY_NOTIFY:
        return; /* worker_notify() does it */
    case SUPERVISOR_READY_TCP:
        if (!accepting_itself(w))
            break;
        probe_target(w, &target);
        w->probe = readiness_probe_tcp(w->env->loop, &target, on_probe_done, w);
        return;
    case SUPERVISOR_READY_HTTP:
        if (!accepting_itself(w))
            break;
        probe_target(w, &target);
        w->probe =
            readiness_probe_http(w->env->loop, &target, c->ready_path, 1000, on_probe_done, w);
        return;
    }
    uv_timer_start(&w->probe_timer, on_probe_tick, PROBE_INTERVAL_MS, 0); /* not accepting yet */
}

void
worker_notify(struct worker *w, const char *msg)
{
    const char *p = msg;

    /* sd_notify: newline-separated VAR=VALUE assignments. */
    while (p != NULL && *p != '\0') {
        if (strncmp(p, "READY=1", 7) == 0 && (p[7] == '\n' || p[7] == '\0')) {
            if (w->state == WORKER_STARTING)
                become_ready(w);
            return;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
}

bool
worker_owns_pid(const struct worker *w, pid_t pid)
{
    return w->pid > 0 && (pid == w->pid || getpgid(pid) == w->pid);
}

/* ---- stopping and exits -------------------------------------------------------------------- */

static void
kill_group(struct worker *w, int sig)
{
    if (w->pid > 0 && kill(-w->pid, sig) != 0 && errno == ESRCH)
        kill(w->pid, sig); /* not a group leader yet (between fork and setsid) */
}

void
worker_stop(struct worker *w)
{
    const struct supervisor_app_conf *c = w->env->conf;

    switch (w->state) {
    case WORKER_DRAINING:
    case WORKER_STOPPED:
        return;
    case WORKER_BACKOFF:
    case WORKER_ERRORED:
        enter(w, WORKER_STOPPED, 0);
        w->on_event(w, WORKER_EV_STOPPED);
        return;
    case WORKER_STARTING:
    case WORKER_READY:
        break;
    }
    readiness_probe_cancel(w->probe);
    w->probe = NULL;
    w->restartable = false;
    wlog(w, LOG_INFO, "stopping with %s", supervisor_conf_signal_name(c->kill_signal));
    kill(w->pid, c->kill_signal);
    enter(w, WORKER_DRAINING, c->kill_timeout_ms > 0 ? c->kill_timeout_ms : 1);
}

void
worker_kill(struct worker *w)
{
    if (w->pid == 0) {
        worker_stop(w);
        return;
    }
    readiness_probe_cancel(w->probe);
    w->probe = NULL;
    w->restartable = false;
    kill_group(w, SIGKILL);
    if (w->state != WORKER_DRAINING)
        enter(w, WORKER_DRAINING, 0);
}

static void
restart_now(struct worker *w)
{
    int rc = worker_start(w);

    if (rc == 0) {
        w->restarts++;
    } else if (rc == -EBUSY) {
        enter(w, WORKER_BACKOFF, 1);
    } else if (rc != 0) {
        /* Spawning itself fails (missing binary, bad cwd): count it like a crash. */
        uint64_t now = uv_now(w->env->loop), delay = backoff_on_exit(&w->backoff, now, now);

        if (delay == BACKOFF_GIVE_UP) {
            enter(w, WORKER_ERRORED, 0);
            w->on_event(w, WORKER_EV_ERRORED);
            return;
        }
        enter(w, WORKER_BACKOFF, delay > 0 ? delay : 1);
    }
}

static void
on_state_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;

    switch (w->state) {
    case WORKER_STARTING:
        snprintf(w->fail_reason, sizeof(w->fail_reason), "not ready within %" PRIu64 "ms",
                 w->env->conf->ready_timeout_ms);
        wlog(w, LOG_WARN, "%s: killing it", w->fail_reason);
        if (w->log_err != NULL)
            worker_log_note(w->log_err, "[cutover] %s", w->fail_reason);
        kill_group(w, SIGKILL); /* the exit decides: restart (backoff) or FAILED */
        return;
    case WORKER_DRAINING:
        wlog(w, LOG_WARN, "still running after kill_timeout: SIGKILL to the process group");
        kill_group(w, SIGKILL);
        return;
    case WORKER_BACKOFF:
        restart_now(w);
        return;
    case WORKER_READY:
    case WORKER_STOPPED:
    case WORKER_ERRORED:
        return;
    }
}

static void
note_exit(struct worker *w, int64_t status, int sig)
{
    w->last_exit_code = sig != 0 ? -1 : (int)status;
    w->last_signal = sig;
    if (sig != 0)
        wlog(w, LOG_INFO, "exited on signal %d", sig);
    else
        wlog(w, LOG_INFO, "exited with code %d", (int)status);
    if (w->log_err != NULL) {
        if (w->out != NULL && w->out->log != NULL)
            worker_log_write(w->out->log, &w->out->pending, 1);
        if (w->err != NULL && w->err->log != NULL)
            worker_log_write(w->err->log, &w->err->pending, 1);
        worker_log_note(w->log_err, "[cutover] pid=%d exited %s=%d", (int)w->pid,
                        sig != 0 ? "signal" : "code", sig != 0 ? sig : (int)status);
    }
}

static void
handle_crash(struct worker *w)
{
    uint64_t now = uv_now(w->env->loop);
    uint64_t delay = backoff_on_exit(&w->backoff, w->started_ms, now);

    if (delay == BACKOFF_GIVE_UP) {
        wlog(w, LOG_ERROR, "crash loop: %u restarts within %" PRIu64 "ms, giving up",
             backoff_recent(&w->backoff, now), w->env->conf->window_ms);
        if (w->log_err != NULL)
            worker_log_note(w->log_err, "[cutover] crash loop: errored");
        enter(w, WORKER_ERRORED, 0);
        w->on_event(w, WORKER_EV_ERRORED);
        return;
    }
    wlog(w, LOG_WARN, "restarting in %" PRIu64 "ms", delay);
    enter(w, WORKER_BACKOFF, delay > 0 ? delay : 1);
    w->on_event(w, WORKER_EV_EXITED);
}

/* Common to children (exit status known) and adopted workers (status unknown: -1). */
static void
handle_exit(struct worker *w, int64_t status, int term_signal)
{
    enum worker_state was = w->state;
    bool restartable = w->restartable;

    note_exit(w, status, term_signal);
    kill(-w->pid, SIGKILL); /* leftovers of the group: "stopped" means no process left */
    w->pid = 0;
    w->rss_bytes = 0;
    w->cpu_pct = 0;
    readiness_probe_cancel(w->probe);
    w->probe = NULL;
    if (was == WORKER_STARTING && w->fail_reason[0] == '\0')
        snprintf(w->fail_reason, sizeof(w->fail_reason), "exited before ready (%s %d)",
                 term_signal ? "signal" : "code", term_signal ? term_signal : (int)status);
    if (w->respawn) {
        w->respawn = false;
        w->restartable = true;
        enter(w, WORKER_BACKOFF, 1);
        w->on_event(w, WORKER_EV_EXITED);
        return;
    }
    if (was == WORKER_DRAINING || !restartable) {
        enter(w, WORKER_STOPPED, 0);
        w->on_event(w, was == WORKER_STARTING ? WORKER_EV_FAILED : WORKER_EV_STOPPED);
        return;
    }
    handle_crash(w);
}

static void
on_exit_cb(uv_process_t *proc, int64_t status, int term_signal)
{
    struct worker *w = proc->data;

    uv_close((uv_handle_t *)&w->proc, on_proc_closed);
    handle_exit(w, status, term_signal);
}

/* ---- adopted workers (a previous supervisor's children) ------------------------------------ */

static void
on_pidfd_closed(uv_handle_t *h)
{
    struct worker *w = h->data;

    close(w->pidfd);
    w->pidfd = -1;
    if (w->closing && --w->pending_closes == 0)
        free(w);
}

static void
on_pidfd_readable(uv_poll_t *h, int status, int events)
{
    struct worker *w = h->data;

    int st = 0;

    (void)status;
    (void)events;
    uv_close((uv_handle_t *)&w->pidfd_poll, on_pidfd_closed);
    /* Adopted after an in-place re-exec it is still our child: reap it and learn how it ended.
     * After a crash it is not (ECHILD): init reaps it and the status is unknown. */
    if (waitpid(w->pid, &st, WNOHANG) == w->pid)
        handle_exit(w, WIFEXITED(st) ? WEXITSTATUS(st) : 0, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    else
        handle_exit(w, -1, 0);
}

int
worker_adopt(struct worker *w, pid_t pid, uint64_t started_wall_ms, uint32_t restarts)
{
    int fd = pidfd_open(pid, 0);
    uint64_t now = wall_ms(), uptime_ms = now > started_wall_ms ? now - started_wall_ms : 0;

    if (fd < 0)
        return -errno;
    w->pidfd = fd;
    w->pid = pid;
    w->restarts = restarts;
    w->restartable = true;
    w->adopted = true;
    w->started_wall_ms = started_wall_ms;
    w->started_ms = uv_now(w->env->loop) > uptime_ms ? uv_now(w->env->loop) - uptime_ms : 0;
    uv_poll_init(w->env->loop, &w->pidfd_poll, fd);
    w->pidfd_poll.data = w;
    uv_poll_start(&w->pidfd_poll, UV_READABLE, on_pidfd_readable);
    enter(w, WORKER_READY, 0);
    wlog(w, LOG_INFO, "adopted (ready, up %" PRIu64 "ms)", uptime_ms);
    if (w->log_err != NULL)
        worker_log_note(w->log_err, "[cutover] adopted pid=%d after a supervisor restart",
                        (int)pid);
    return 0;
}

/* ---- sampling and teardown ----------------------------------------------------------------- */

static int
read_small_file(const char *path, char *dst, size_t size)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (f == NULL)
        return -errno;
    n = fread(dst, 1, size - 1, f);
    fclose(f);
    dst[n] = '\0';
    return 0;
}

static void
sample_cpu(struct worker *w)
{
    char path[64], data[1024];
    unsigned long utime, stime;
    const char *p;
    uint64_t now = uv_now(w->env->loop), ticks;
    long hz = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)w->pid);
    if (read_small_file(path, data, sizeof(data)) != 0 || (p = strrchr(data, ')')) == NULL)
        return;
    /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return;
    ticks = utime + stime;
    if (w->cpu_sample_ms != 0 && now > w->cpu_sample_ms && hz > 0 && ticks >= w->cpu_ticks)
        w->cpu_pct = (double)(ticks - w->cpu_ticks) * 1000.0 * 100.0 / (double)hz /
                     (double)(now - w->cpu_sample_ms);
    w->cpu_ticks = ticks;
    w->cpu_sample_ms = now;
}

void
worker_sample(struct worker *w)
{
    const struct supervisor_app_conf *c = w->env->conf;
    char path[64], data[256];
    unsigned long size, resident;

    if (w->pid == 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)w->pid);
    if (read_small_file(path, data, sizeof(data)) == 0 &&
        sscanf(data, "%lu %lu", &size, &resident) == 2)
        w->rss_bytes = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    sample_cpu(w);
    if (c->max_memory != 0 && w->rss_bytes > c->max_memory && w->state == WORKER_READY) {
        wlog(w, LOG_WARN, "rss %" PRIu64 " bytes passes max_memory %" PRIu64 ": restarting",
             w->rss_bytes, c->max_memory);
        if (w->log_err != NULL)
            worker_log_note(w->log_err, "[cutover] rss %" PRIu64 " > max_memory: restarting",
                            w->rss_bytes);
        w->respawn = true;
        worker_stop(w);
    }
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct worker *w = h->data;

    if (--w->pending_closes == 0)
        free(w);
}

void
worker_free(struct worker *w)
{
    if (w == NULL || w->closing)
        return;
    w->closing = true;
    if (w->pid > 0)
        kill_group(w, SIGKILL);
    readiness_probe_cancel(w->probe);
    w->probe = NULL;
    pipes_detach(w);
    w->pending_closes = 2;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
    uv_close((uv_handle_t *)&w->probe_timer, on_timer_closed);
    if (w->pidfd >= 0) {
        w->pending_closes++;
        if (!uv_is_closing((uv_handle_t *)&w->pidfd_poll))
            uv_close((uv_handle_t *)&w->pidfd_poll, on_pidfd_closed);
    }
    if (w->proc_open) {
        w->pending_closes++;
        if (!uv_is_closing((uv_handle_t *)&w->proc))
            uv_close((uv_handle_t *)&w->proc, on_proc_closed);
    }
}
