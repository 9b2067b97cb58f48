/* SPDX-License-Identifier: ISC */
/* One hook script as a state machine.
 *
 *   RUNNING ──exit, output closed──────────────────────────────────────────────▶ CLOSING ─▶ cb
 *     │  └──exit, output still open──▶ DRAINING ──closed, or drain timer────────▶ CLOSING
 *     └──timeout / cancel──▶ TERMINATING (SIGTERM to the group)
 *                              │  └──exit, output closed, group empty──────────▶ CLOSING
 *                              └──kill timer──▶ KILLING (SIGKILL to the group)
 *                                                 └──exit and output closed, or timer──▶ CLOSING
 *
 * A script is judged by its own exit: a background child that keeps stdout open (the reference
 * agent's "failed to close STDOUT", code 6) gets DRAINING's grace, a warning naming it, and the
 * hook succeeds. Every process stays in the script's own process group unless it leaves it. */
#include "agent/hook_run.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/deploy_log.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

#define TAIL_LINES 100
#define TAIL_LINE_MAX 16384       /* bytes of one line kept in the failure report */
#define LINE_MAX_BYTES (1u << 20) /* a longer line is logged in pieces, never dropped */
#define KILL_WAIT_MS 2000         /* after SIGKILL: how long to wait for the pipes */

enum hook_run_state {
    HR_RUNNING = 0, /* script running, its timeout armed */
    HR_DRAINING,    /* script exited; reading what is left of its output */
    HR_TERMINATING, /* SIGTERM sent to the group; SIGKILL armed */
    HR_KILLING,     /* SIGKILL sent; waiting for exit and EOF */
    HR_CLOSING,     /* result decided; handles closing */
};

static const struct {
    const char *name;
} state_info[] = {
    [HR_RUNNING] = {"running"}, [HR_DRAINING] = {"draining"}, [HR_TERMINATING] = {"terminating"},
    [HR_KILLING] = {"killing"}, [HR_CLOSING] = {"closing"},
};

struct stream {
    uv_pipe_t pipe;
    struct buf partial; /* owned: bytes after the last newline */
    const char *tag;    /* "[stdout]" or "[stderr]" */
    bool open;
    bool started; /* initialised: needs a close */
};

struct hook_run {
    uv_loop_t *loop; /* borrowed */
    enum hook_run_state state;
    uv_process_t proc;
    uv_timer_t timer;
    struct stream streams[2];
    bool spawned;
    bool exited;
    bool timed_out;
    bool cancelled;
    int pending_closes;
    char *location; /* owned */
    char *runas;    /* owned, or NULL */
    uint32_t timeout_s;
    uint32_t kill_after_ms;
    uint32_t drain_ms;
    struct deploy_log *log; /* borrowed: the spec's */
    uint64_t started_ns;
    char *tail[TAIL_LINES]; /* owned: ring of the last lines */
    size_t tail_next;
    char *left_running; /* owned */
    struct hook_run_result res;
    hook_run_cb *cb;
    void *arg;
    char rbuf[65536];
};

static void on_closed(uv_handle_t *h);
static void on_timer(uv_timer_t *t);
static void finish(struct hook_run *r);

const char *
hook_run_outcome_name(enum hook_run_outcome outcome)
{
    switch (outcome) {
    case HOOK_RUN_SUCCEEDED:
        return "Succeeded";
    case HOOK_RUN_MISSING:
        return "ScriptMissing";
    case HOOK_RUN_NOT_EXECUTABLE:
        return "ScriptNotExecutable";
    case HOOK_RUN_TIMED_OUT:
        return "ScriptTimedOut";
    case HOOK_RUN_FAILED:
        return "ScriptFailed";
    case HOOK_RUN_UNKNOWN:
        return "UnknownError";
    case HOOK_RUN_OUTPUTS_LEFT_OPEN:
        return "OutputsLeftOpen";
    case HOOK_RUN_INTERRUPTED:
        return "Interrupted";
    }
    return "?";
}

static void __attribute__((format(printf, 2, 3)))
set_message(struct hook_run_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap); /* a long path is cut, not lost */
    va_end(ap);
}

static void
hook_enter(struct hook_run *r, enum hook_run_state next, uint64_t timeout_ms)
{
    ASSERT(r->state != HR_CLOSING);
    log_debug("hook %s: %s -> %s", r->location, state_info[r->state].name, state_info[next].name);
    r->state = next;
    if (next == HR_CLOSING)
        uv_timer_stop(&r->timer);
    else
        uv_timer_start(&r->timer, on_timer, timeout_ms, 0);
}

static void
tail_add(struct hook_run *r, const char *tag, const char *line, size_t len)
{
    char *s = NULL;

    /* the tail is for a human reading a failure; scripts.log has every line whole */
    if (len > TAIL_LINE_MAX) {
        if (asprintf(&s, "%s%.*s... (%zu more bytes in scripts.log)", tag, TAIL_LINE_MAX, line,
                     len - TAIL_LINE_MAX) < 0)
            mem_oom();
    } else if (asprintf(&s, "%s%.*s", tag, (int)len, line) < 0) {
        mem_oom();
    }
    free(r->tail[r->tail_next]);
    r->tail[r->tail_next] = s;
    r->tail_next = (r->tail_next + 1) % TAIL_LINES;
}

static void
emit_line(struct hook_run *r, struct stream *s, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    deploy_log_entry(r->log, "%s%.*s", s->tag, (int)len, line);
    tail_add(r, s->tag, line, len);
}

static void
flush_partial(struct hook_run *r, struct stream *s)
{
    if (s->partial.len > 0)
        emit_line(r, s, s->partial.data, s->partial.len);
    buf_reset(&s->partial);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct hook_run *r = h->data;

    (void)suggested;
    *b = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

static void
close_stream(struct hook_run *r, struct stream *s)
{
    if (!s->open)
        return;
    s->open = false;
    flush_partial(r, s);
    uv_read_stop((uv_stream_t *)&s->pipe);
    r->pending_closes++;
    uv_close((uv_handle_t *)&s->pipe, on_closed);
    s->started = false;
}

static bool
outputs_closed(const struct hook_run *r)
{
    return !r->streams[0].open && !r->streams[1].open;
}

/* Is any process left in the script's group? */
static bool
group_alive(const struct hook_run *r)
{
    return r->spawned && kill(-r->proc.pid, 0) == 0;
}

/* Decides whether the machine can stop after an exit or an EOF. */
static void
step_progress(struct hook_run *r)
{
    switch (r->state) {
    case HR_RUNNING:
        if (r->exited && outputs_closed(r))
            finish(r);
        else if (r->exited)
            hook_enter(r, HR_DRAINING, r->drain_ms);
        break;
    case HR_DRAINING:
        if (outputs_closed(r))
            finish(r);
        break;
    case HR_TERMINATING:
        if (r->exited && outputs_closed(r) && !group_alive(r))
            finish(r);
        break;
    case HR_KILLING:
        if (r->exited && outputs_closed(r))
            finish(r);
        break;
    case HR_CLOSING:
        break;
    }
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct hook_run *r = stream->data;
    struct stream *s = (uv_pipe_t *)stream == &r->streams[0].pipe ? &r->streams[0] : &r->streams[1];
    const char *p = b->base, *end = b->base + (nread > 0 ? nread : 0), *nl;

    if (nread < 0) {
        close_stream(r, s);
        step_progress(r);
        return;
    }
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (s->partial.len > 0) {
            buf_append(&s->partial, p, (size_t)(nl - p));
            flush_partial(r, s);
        } else {
            emit_line(r, s, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
    if (p < end)
        buf_append(&s->partial, p, (size_t)(end - p));
    if (s->partial.len >= LINE_MAX_BYTES)
        flush_partial(r, s);
}

static void
on_process_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    struct hook_run *r = proc->data;

    r->exited = true;
    r->res.exit_status = (int)exit_status;
    r->res.term_signal = term_signal;
    step_progress(r);
}

/* "pid comm, pid comm" of the processes still in the script's group. */
static char *
describe_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    struct buf out;
    char path[300], stat[512];

    buf_init(&out);
    if (d == NULL)
        return buf_take(&out);
    while ((e = readdir(d)) != NULL) {
        FILE *f;
        char *rp, *lp, *end = NULL;
        long grp;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if ((f = fopen(path, "re")) == NULL)
            continue;
        rp = fgets(stat, sizeof(stat), f);
        fclose(f);
        if (rp == NULL || (lp = strchr(stat, '(')) == NULL || (rp = strrchr(stat, ')')) == NULL)
            continue;
        /* after ") ": state ppid pgrp */
        if (rp[1] != ' ' || rp[2] == '\0' || rp[3] != ' ')
            continue;
        errno = 0;
        (void)strtol(rp + 4, &end, 10); /* ppid */
        grp = errno == 0 && *end == ' ' ? strtol(end + 1, NULL, 10) : 0;
        if (grp != pgid)
            continue;
        buf_appendf(&out, "%s%s %.*s", out.len ? ", " : "", e->d_name, (int)(rp - lp - 1), lp + 1);
    }
    closedir(d);
    return buf_take(&out);
}

static void
on_timer(uv_timer_t *t)
{
    struct hook_run *r = t->data;

    switch (r->state) {
    case HR_RUNNING:
        r->timed_out = true;
        kill(-r->proc.pid, SIGTERM);
        hook_enter(r, HR_TERMINATING, r->kill_after_ms);
        break;
    case HR_DRAINING:
        r->left_running = describe_group(r->proc.pid);
        log_warn("hook %s exited but left output open (%s): not waiting for it", r->location,
                 r->left_running[0] ? r->left_running : "process outside the group");
        deploy_log_entry(r->log, "[stderr]cutover: script exited; still holding its output: %s",
                         r->left_running[0] ? r->left_running : "a process outside its group");
        finish(r);
        break;
    case HR_TERMINATING:
        kill(-r->proc.pid, SIGKILL);
        hook_enter(r, HR_KILLING, KILL_WAIT_MS);
        step_progress(r); /* the leader may be gone and the pipes closed already */
        break;
    case HR_KILLING:
        log_warn("hook %s: group %d still not gone after SIGKILL", r->location, r->proc.pid);
        finish(r);
        break;
    case HR_CLOSING:
        break;
    }
}

static void
set_outcome(struct hook_run *r)
{
    struct hook_run_result *res = &r->res;
    char who[300] = "";

    if (res->outcome != HOOK_RUN_SUCCEEDED)
        return; /* decided before spawning */
    if (r->runas != NULL)
        snprintf(who, sizeof(who), " run as user %s", r->runas);
    if (r->cancelled) {
        res->outcome = HOOK_RUN_INTERRUPTED;
        set_message(res, "Script at specified location: %s was interrupted: cutover is stopping",
                    r->location);
    } else if (r->timed_out) {
        res->outcome = HOOK_RUN_TIMED_OUT;
        set_message(res, "Script at specified location: %s failed to complete in %u seconds",
                    r->location, r->timeout_s);
    } else if (res->term_signal != 0) {
        const char *abbrev = sigabbrev_np(res->term_signal);
        res->outcome = HOOK_RUN_FAILED;
        set_message(res,
                    "Script at specified location: %s%s failed with exit code (signal %d, SIG%s)",
                    r->location, who, res->term_signal, abbrev ? abbrev : "?");
    } else if (res->exit_status != 0) {
        res->outcome = HOOK_RUN_FAILED;
        set_message(res, "Script at specified location: %s%s failed with exit code %d", r->location,
                    who, res->exit_status);
    }
}

static void
close_handle(struct hook_run *r, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    r->pending_closes++;
    uv_close(h, on_closed);
}

static void
finish(struct hook_run *r)
{
    if (r->state == HR_CLOSING)
        return;
    hook_enter(r, HR_CLOSING, 0);
    r->res.duration_ms = (uv_hrtime() - r->started_ns) / 1000000;
    set_outcome(r);
    for (int i = 0; i < 2; i++)
        close_stream(r, &r->streams[i]);
    if (r->spawned)
        close_handle(r, (uv_handle_t *)&r->proc);
    close_handle(r, (uv_handle_t *)&r->timer);
}

void
hook_run_cancel(struct hook_run *r)
{
    if (r->state == HR_CLOSING || r->cancelled)
        return;
    r->cancelled = true;
    if (r->state == HR_RUNNING || r->state == HR_DRAINING) {
        kill(-r->proc.pid, SIGTERM);
        hook_enter(r, HR_TERMINATING, r->kill_after_ms);
    }
}

static void
hook_run_free(struct hook_run *r)
{
    for (int i = 0; i < TAIL_LINES; i++)
        free(r->tail[i]);
    for (int i = 0; i < 2; i++)
        buf_fini(&r->streams[i].partial);
    free(r->left_running);
    free(r->location);
    free(r->runas);
    free(r);
}

static void
on_closed(uv_handle_t *h)
{
    struct hook_run *r = h->data;
    struct buf tail;

    /* a pipe closed at EOF while the script runs is not the end */
    if (--r->pending_closes > 0 || r->state != HR_CLOSING)
        return;
    buf_init(&tail);
    for (size_t i = 0; i < TAIL_LINES; i++) {
        const char *line = r->tail[(r->tail_next + i) % TAIL_LINES];
        if (line != NULL)
            buf_appendf(&tail, "%s\n", line);
    }
    r->res.tail = tail.data ? tail.data : "";
    r->res.left_running = r->left_running && r->left_running[0] ? r->left_running : NULL;
    r->cb(&r->res, r->arg);
    buf_fini(&tail);
    hook_run_free(r);
}

/* Missing or not executable: decided before anything runs. Returns true when it may run. */
static bool
precheck(struct hook_run *r, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        r->res.outcome = HOOK_RUN_MISSING;
        set_message(&r->res, "Script does not exist at specified location: %s", path);
        return false;
    }
    if ((st.st_mode & 0111) != 0111) {
        if ((st.st_mode & 0111) == 0)
            log_warn("script %s is not executable: making it executable", path);
        if (chmod(path, (st.st_mode & 07777) | 0111) != 0) {
            r->res.outcome = HOOK_RUN_NOT_EXECUTABLE;
            set_message(&r->res, "Script at specified location: %s is not executable (%s)",
                        r->location, strerror(errno));
            return false;
        }
    }
    return true;
}

/* The environment with HOME, USER and LOGNAME replaced for <pw>. */
static char **
env_for_user(char **env, const struct passwd *pw)
{
    size_t n = 0, k = 0;
    char **out;

    while (env[n] != NULL)
        n++;
    out = mem_calloc(n + 4, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (str_has_prefix(env[i], "HOME=") || str_has_prefix(env[i], "USER=") ||
            str_has_prefix(env[i], "LOGNAME="))
            continue;
        out[k++] = mem_strdup(env[i]);
    }
    if (asprintf(&out[k++], "HOME=%s", pw->pw_dir) < 0 ||
        asprintf(&out[k++], "USER=%s", pw->pw_name) < 0 ||
        asprintf(&out[k++], "LOGNAME=%s", pw->pw_name) < 0)
        mem_oom();
    return out;
}

static void
free_env(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* Chooses argv and env: direct, or through the privilege-dropping helper. */
static bool
prepare_exec(struct hook_run *r, const struct hook_run_spec *spec, char *path, char **argv,
             char ***env)
{
    struct passwd *pw;

    argv[0] = path;
    argv[1] = NULL;
    *env = NULL;
    if (r->runas == NULL)
        return true;
    if ((pw = getpwnam(r->runas)) == NULL) {
        r->res.outcome = HOOK_RUN_UNKNOWN;
        set_message(&r->res, "Script at specified location: %s run as user %s: no such user",
                    r->location, r->runas);
        return false;
    }
    *env = env_for_user(spec->env, pw);
    if (pw->pw_uid == geteuid())
        return true;
    if (geteuid() != 0) {
        r->res.outcome = HOOK_RUN_UNKNOWN;
        set_message(&r->res,
                    "Script at specified location: %s run as user %s: cutover must run as root to "
                    "change user",
                    r->location, r->runas);
        return false;
    }
    argv[0] = mem_strdup(spec->self_exe); /* freed by spawn() with the rest of argv */
    argv[1] = mem_strdup("local");
    argv[2] = mem_strdup("--exec-as");
    argv[3] = mem_strdup(r->runas);
    argv[4] = mem_strdup("--");
    argv[5] = path;
    argv[6] = NULL;
    return true;
}

static int
spawn(struct hook_run *r, const struct hook_run_spec *spec, char *path)
{
    uv_process_options_t opt = {0};
    uv_stdio_container_t stdio[3];
    char *argv[8];
    char **env = NULL;
    int rc;

    if (!prepare_exec(r, spec, path, argv, &env))
        return 0;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(r->loop, &r->streams[i].pipe, 0);
        r->streams[i].pipe.data = r;
        r->streams[i].started = true;
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&r->streams[i].pipe;
    }
    stdio[0].flags = UV_IGNORE; /* stdin: /dev/null */
    opt.exit_cb = on_process_exit;
    opt.file = argv[0];
    opt.args = argv;
    opt.env = env ? env : spec->env;
    opt.flags = UV_PROCESS_DETACHED; /* setsid(): its own process group */
    opt.stdio_count = 3;
    opt.stdio = stdio;
    r->proc.data = r;
    rc = uv_spawn(r->loop, &r->proc, &opt);
    free_env(env);
    if (argv[0] != path) {
        for (int i = 0; i < 5; i++)
            free(argv[i]);
    }
    if (rc != 0) {
        r->res.outcome = HOOK_RUN_FAILED;
        set_message(&r->res, "Script at specified location: %s failed to start: %s", r->location,
                    uv_strerror(rc));
        r->pending_closes++;
        uv_close((uv_handle_t *)&r->proc, on_closed); /* libuv requires closing it anyway */
        for (int i = 0; i < 2; i++) {
            r->pending_closes++;
            uv_close((uv_handle_t *)&r->streams[i].pipe, on_closed);
        }
        return 0;
    }
    r->spawned = true;
    for (int i = 0; i < 2; i++) {
        r->streams[i].open = true;
        uv_read_start((uv_stream_t *)&r->streams[i].pipe, on_alloc, on_read);
    }
    return 0;
}

int
hook_run_start(uv_loop_t *loop, const struct hook_run_spec *spec, hook_run_cb *cb, void *arg,
               struct hook_run **out)
{
    struct hook_run *r = mem_calloc(1, sizeof(*r));
    char path[4096];
    const char *rel = spec->location + strspn(spec->location, "/");

    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->log = spec->log;
    r->location = mem_strdup(spec->location);
    r->runas = spec->runas ? mem_strdup(spec->runas) : NULL;
    r->timeout_s = spec->timeout_s;
    r->kill_after_ms = spec->kill_after_ms ? spec->kill_after_ms : 5000;
    r->drain_ms = spec->drain_ms ? spec->drain_ms : 1000;
    r->started_ns = uv_hrtime();
    r->streams[0].tag = "[stdout]";
    r->streams[1].tag = "[stderr]";
    buf_init(&r->streams[0].partial);
    buf_init(&r->streams[1].partial);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    if (out != NULL)
        *out = r;
    snprintf(path, sizeof(path), "%s/%s", spec->archive_dir, rel);
    deploy_log_entry(r->log, "Script - %s", spec->location);
    if (precheck(r, path))
        spawn(r, spec, path);
    if (r->spawned) {
        hook_enter(r, HR_RUNNING, (uint64_t)r->timeout_s * 1000);
        return 0;
    }
    /* Not started (state is still RUNNING from calloc): report from the loop, never from
     * inside this call. */
    finish(r);
    return 0;
}

int
hook_run_exec_as(const char *user, const char *path)
{
    struct passwd *pw = getpwnam(user);
    char *argv[2] = {NULL, NULL};

    if (pw == NULL) {
        fprintf(stderr, "cutover: runas: no such user '%s'\n", user);
        return 127;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "cutover: runas %s: %s\n", user, strerror(errno));
        return 126;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        fprintf(stderr, "cutover: runas %s: privileges could not be dropped\n", user);
        return 126;
    }
    argv[0] = mem_strdup(path);
    execv(path, argv);
    fprintf(stderr, "cutover: runas %s: exec %s: %s\n", user, path, strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
