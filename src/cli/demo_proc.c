/* SPDX-License-Identifier: ISC */
/* Processes of `cutover demo` (see demo_proc.h): uv_spawn with UV_PROCESS_DETACHED (setsid), a
 * log file per process, and a stop that reaches descendants which left the process group (the
 * supervisors the hooks start with setsid) through the marker in their environment. */
#include "cli/demo_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/err.h"
#include "common/mem.h"

extern char **environ;

struct demo_proc {
    struct demo_proc_set *ps;
    const char *name; /* borrowed */
    uv_process_t proc;
    int pid;
    bool exited;
    bool stopping; /* we asked it to stop: its exit is expected */
    int status;    /* exit status, 128+signal */
};

struct demo_proc_set {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t sleep_timer;
    char *marker_env; /* "CUTOVER_DEMO_ID=<marker>" */
    char *marker;
    struct demo_proc *items[DEMO_PROC_MAX];
    size_t n;
    bool interrupted;
};

static void
on_signal(uv_signal_t *s, int signum)
{
    struct demo_proc_set *ps = s->data;

    (void)signum;
    ps->interrupted = true;
    uv_stop(&ps->loop);
}

struct demo_proc_set *
demo_proc_set_new(const char *marker)
{
    struct demo_proc_set *ps = mem_calloc(1, sizeof(*ps));
    size_t n = strlen(DEMO_PROC_MARKER_ENV) + strlen(marker) + 2;

    ps->marker = mem_strdup(marker);
    ps->marker_env = mem_alloc(n);
    snprintf(ps->marker_env, n, "%s=%s", DEMO_PROC_MARKER_ENV, marker);
    uv_loop_init(&ps->loop);
    uv_signal_init(&ps->loop, &ps->sigint);
    uv_signal_init(&ps->loop, &ps->sigterm);
    ps->sigint.data = ps;
    ps->sigterm.data = ps;
    uv_signal_start(&ps->sigint, on_signal, SIGINT);
    uv_signal_start(&ps->sigterm, on_signal, SIGTERM);
    uv_timer_init(&ps->loop, &ps->sleep_timer);
    ps->sleep_timer.data = ps;
    return ps;
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct demo_proc *dp = p->data;

    dp->exited = true;
    dp->status = term_signal != 0 ? 128 + term_signal : (int)status;
    uv_close((uv_handle_t *)p, NULL);
}

static char **
build_env(const struct demo_proc_set *ps, const char *const extra[])
{
    size_t n = 0, m = 0, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    env = mem_calloc(n + m + 2, sizeof(*env));
    for (size_t i = 0; i < n; i++) {
        bool overridden =
            strncmp(environ[i], ps->marker_env, strlen(DEMO_PROC_MARKER_ENV) + 1) == 0;

        for (size_t j = 0; j < m && !overridden; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t len = eq != NULL ? (size_t)(eq - extra[j]) + 1 : strlen(extra[j]);

            overridden = strncmp(environ[i], extra[j], len) == 0;
        }
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)(uintptr_t)extra[j]; /* uv_spawn takes char **, never writes */
    env[k++] = ps->marker_env;
    env[k] = NULL;
    return env;
}

int
demo_proc_spawn(struct demo_proc_set *ps, const char *name, const char *const argv[],
                const char *const env[], const char *cwd, const char *log_path, struct err *err)
{
    struct demo_proc *dp;
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    char **full_env;
    int fd, rc;

    if (ps->n == DEMO_PROC_MAX)
        return err_set(err, -ENOSPC, "%s: too many processes", name);
    fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, -errno, "%s: %s", log_path, strerror(errno));
    dp = mem_calloc(1, sizeof(*dp));
    dp->ps = ps;
    dp->name = name;
    full_env = build_env(ps, env);
    memset(&o, 0, sizeof(o));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fd;
    o.file = argv[0];
    o.args = (char **)(uintptr_t)argv;
    o.env = full_env;
    o.cwd = cwd;
    o.flags = UV_PROCESS_DETACHED;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.exit_cb = on_exit_cb;
    dp->proc.data = dp;
    rc = uv_spawn(&ps->loop, &dp->proc, &o);
    close(fd);
    free(full_env);
    if (rc < 0) {
        uv_close((uv_handle_t *)&dp->proc, NULL);
        uv_run(&ps->loop, UV_RUN_NOWAIT);
        free(dp);
        return err_set(err, rc, "%s: cannot start %s: %s", name, argv[0], uv_strerror(rc));
    }
    dp->pid = dp->proc.pid;
    ps->items[ps->n] = dp;
    return (int)ps->n++;
}

static void
on_sleep_done(uv_timer_t *t)
{
    struct demo_proc_set *ps = t->data;

    uv_stop(&ps->loop);
}

/* Runs the loop for <ms> whatever the interrupted flag says. */
static void
pump(struct demo_proc_set *ps, uint64_t ms)
{
    uv_timer_start(&ps->sleep_timer, on_sleep_done, ms, 0);
    uv_run(&ps->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&ps->sleep_timer);
}

bool
demo_proc_sleep(struct demo_proc_set *ps, uint64_t ms)
{
    if (ps->interrupted)
        return false;
    pump(ps, ms);
    return !ps->interrupted;
}

bool
demo_proc_interrupted(const struct demo_proc_set *ps)
{
    return ps->interrupted;
}

int
demo_proc_run(struct demo_proc_set *ps, const char *name, const char *const argv[],
              const char *const env[], const char *log_path, uint64_t timeout_ms, struct err *err)
{
    uint64_t deadline = uv_hrtime() / 1000000u + timeout_ms;
    struct demo_proc *dp;
    int h = demo_proc_spawn(ps, name, argv, env, NULL, log_path, err);

    if (h < 0)
        return h;
    dp = ps->items[h];
    dp->stopping = true; /* its exit is the expected outcome */
    while (!dp->exited) {
        if (!demo_proc_sleep(ps, 20)) {
            kill(-dp->pid, SIGKILL);
            return err_set(err, -EINTR, "%s: interrupted", name);
        }
        if (uv_hrtime() / 1000000u > deadline) {
            kill(-dp->pid, SIGKILL);
            return err_set(err, -ETIMEDOUT, "%s: still running after %llu ms", name,
                           (unsigned long long)timeout_ms);
        }
    }
    return dp->status;
}

bool
demo_proc_alive(const struct demo_proc_set *ps, int h)
{
    return h >= 0 && (size_t)h < ps->n && !ps->items[h]->exited;
}

const char *
demo_proc_first_dead(const struct demo_proc_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->items[i]->exited && !ps->items[i]->stopping)
            return ps->items[i]->name;
    return NULL;
}

/* ---- finding what was started on our behalf ---- */

static bool
is_zombie(int pid)
{
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return true; /* gone */
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

static bool
has_marker(int pid, const char *needle, size_t nlen)
{
    char path[64];
    char *data = NULL;
    size_t len = 0, cap = 0;
    bool found = false;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/environ", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    for (;;) {
        ssize_t n;

        if (cap - len < 4096) {
            cap = cap * 2 + 8192;
            data = mem_realloc(data, cap);
        }
        n = read(fd, data + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    for (size_t off = 0; off < len && !found;) {
        size_t elen = strnlen(data + off, len - off);

        found = elen == nlen && memcmp(data + off, needle, nlen) == 0;
        off += elen + 1;
    }
    free(data);
    return found;
}

size_t
demo_proc_find_marked(const char *marker, int *out, size_t max)
{
    char needle[256];
    size_t nlen, count = 0;
    struct dirent *de;
    DIR *d;

    nlen = (size_t)snprintf(needle, sizeof(needle), "%s=%s", DEMO_PROC_MARKER_ENV, marker);
    if (nlen >= sizeof(needle) || (d = opendir("/proc")) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end != '\0' || pid <= 1 || pid == getpid())
            continue;
        if (!has_marker((int)pid, needle, nlen) || is_zombie((int)pid))
            continue;
        if (count < max)
            out[count] = (int)pid;
        count++;
    }
    closedir(d);
    return count;
}

static bool
all_gone(struct demo_proc_set *ps)
{
    int pids[1];

    for (size_t i = 0; i < ps->n; i++)
        if (!ps->items[i]->exited)
            return false;
    return demo_proc_find_marked(ps->marker, pids, 1) == 0;
}

static void
signal_all(struct demo_proc_set *ps, int sig)
{
    int pids[256];
    size_t n;

    for (size_t i = ps->n; i-- > 0;) {
        struct demo_proc *dp = ps->items[i];

        dp->stopping = true;
        if (!dp->exited)
            kill(-dp->pid, sig);
    }
    n = demo_proc_find_marked(ps->marker, pids, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        kill(pids[i], sig);
}

unsigned
demo_proc_stop_all(struct demo_proc_set *ps, uint64_t grace_ms)
{
    uint64_t deadline = uv_hrtime() / 1000000u + grace_ms;
    unsigned killed = 0;

    signal_all(ps, SIGTERM); /* a second Ctrl-C does not cut the grace short */
    while (!all_gone(ps) && uv_hrtime() / 1000000u < deadline)
        pump(ps, 50);
    for (int round = 0; round < 20 && !all_gone(ps); round++) {
        int pids[256];
        size_t n = demo_proc_find_marked(ps->marker, pids, 256);

        killed += (unsigned)n;
        for (size_t i = ps->n; i-- > 0;)
            if (!ps->items[i]->exited) {
                kill(-ps->items[i]->pid, SIGKILL);
                killed++;
            }
        for (size_t i = 0; i < n && i < 256; i++)
            kill(pids[i], SIGKILL);
        pump(ps, 50);
    }
    return killed;
}

void
demo_proc_set_free(struct demo_proc_set *ps)
{
    if (ps == NULL)
        return;
    demo_proc_stop_all(ps, 10000);
    uv_close((uv_handle_t *)&ps->sigint, NULL);
    uv_close((uv_handle_t *)&ps->sigterm, NULL);
    uv_close((uv_handle_t *)&ps->sleep_timer, NULL);
    for (size_t i = 0; i < ps->n; i++)
        if (!ps->items[i]->exited && !uv_is_closing((uv_handle_t *)&ps->items[i]->proc))
            uv_close((uv_handle_t *)&ps->items[i]->proc, NULL);
    uv_run(&ps->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ps->loop);
    for (size_t i = 0; i < ps->n; i++)
        free(ps->items[i]);
    free(ps->marker_env);
    free(ps->marker);
    free(ps);
}
