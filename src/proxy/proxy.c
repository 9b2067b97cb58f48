/* SPDX-License-Identifier: ISC */
/* `cutover proxy`: flags, startup, workers, signals, configuration publication, deregistration
 * draining, graceful retirement and binary upgrade. Everything here runs on the main thread;
 * workers reach it only through the inbox below (acks and exits), woken with uv_async_send.
 *
 *   STARTING ──listeners bound, workers running──▶ SERVING ──SIGTERM, or upgrade handed over──▶
 *   RETIRING (no accept; Connection: close; idle closes) ──all workers done or timeout──▶ exit 0
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/proxy_api.h"
#include "proxy/access_log.h"
#include "proxy/admin_api.h"
#include "proxy/health.h"
#include "proxy/listener.h"
#include "proxy/proxy_conf.h"
#include "proxy/target_group.h"
#include "proxy/proxy_worker.h"

#define ENV_FDS "CUTOVER_PROXY_FDS" /* "web=3,4;test=5,6;admin=7;ready=8;state=9" */
#define DRAIN_TICK_MS 100
#define MAX_WATCHERS 8
#define MAX_INHERITED 512

struct publication {
    uint64_t seq;
    proxy_published_cb cb;
    void *ud;
    struct publication *next;
};

/* Worker → main. */
struct main_msg {
    size_t worker;
    uint64_t seq; /* acked generation; 0 for "exited" */
    bool exited;
    struct main_msg *next;
};

struct inherited {
    char name[64];
    int fds[MAX_INHERITED];
    size_t n;
};

struct proxy {
    uv_loop_t loop;
    const char *conf_path;
    struct proxy_conf *conf; /* ref: the current generation */
    struct target_group_registry *registry;
    struct listener *listeners;
    struct proxy_worker **workers;
    size_t nworkers;
    struct access_log *access_log;
    struct health *health;
    struct admin_api *admin;
    uv_signal_t sigs[4];
    uv_async_t wake;
    uv_mutex_t lock;        /* guards inbox */
    struct main_msg *inbox; /* owned, under lock */
    uv_timer_t drain_timer; /* while some target drains */
    uv_timer_t shutdown_timer;
    uint64_t seq;
    uint64_t *acked;          /* owned: per worker, the newest generation it switched to */
    struct publication *pubs; /* owned: pending, oldest first */
    struct {
        proxy_conf_watch_cb fn;
        void *ud;
    } watchers[MAX_WATCHERS];
    size_t nwatchers;
    bool retiring;
    bool stopped;
    bool loop_ready; /* the loop and our handles exist */
    size_t nexited;
    char **argv; /* borrowed: for the binary upgrade */
    char exe[4096];
    uv_process_t child;
    bool child_running;
    uv_pipe_t ready_pipe; /* the new binary says it is serving */
    bool upgrading;
    struct inherited *inh; /* owned: fds handed to us by the previous binary */
    size_t ninh;
    int ready_fd; /* tell the previous binary we serve; -1 when none */
};

/* ---- accessors (proxy.h) ---- */

uv_loop_t *
proxy_loop(struct proxy *p)
{
    return &p->loop;
}

struct proxy_conf *
proxy_acquire_conf(struct proxy *p)
{
    return proxy_conf_ref(p->conf);
}

struct target_group_registry *
proxy_registry(struct proxy *p)
{
    return p->registry;
}

struct listener *
proxy_listeners(struct proxy *p)
{
    return p->listeners;
}

size_t
proxy_nworkers(const struct proxy *p)
{
    return p->nworkers;
}

bool
proxy_is_retiring(const struct proxy *p)
{
    return p->retiring;
}

void
proxy_watch_conf(struct proxy *p, proxy_conf_watch_cb fn, void *ud)
{
    ASSERT(p->nwatchers < MAX_WATCHERS);
    p->watchers[p->nwatchers].fn = fn;
    p->watchers[p->nwatchers].ud = ud;
    p->nwatchers++;
}

static void
notify_watchers(struct proxy *p)
{
    for (size_t i = 0; i < p->nwatchers; i++)
        p->watchers[i].fn(p->watchers[i].ud, p->conf);
}

/* ---- deregistration ---- */

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_drain_tick(uv_timer_t *t);

/* Targets of <old> missing from <next> start draining; targets of <next> that were draining
 * (registered again) start over as new registrations. */
static void
diff_targets(struct proxy *p, const struct proxy_conf *old, const struct proxy_conf *next)
{
    bool draining = false;

    for (size_t i = 0; old != NULL && i < old->ngroups; i++) {
        const struct target_group *g = &old->groups[i];
        for (size_t j = 0; j < g->ntargets; j++) {
            struct target *t = g->targets[j];
            enum target_state s = target_group_state(t);
            if (proxy_conf_has_target(next, t) || s == TARGET_DRAINING || s == TARGET_UNUSED)
                continue;
            atomic_store(&t->drain_deadline_ms, mono_ms() + g->deregistration_delay_ms);
            atomic_store(&t->drain_expired, false);
            target_group_set_state(t, TARGET_DRAINING, TARGET_REASON_DEREGISTRATION);
            log_info("target %s of %s draining (deregistration delay %llums)", t->addr.text,
                     g->name, (unsigned long long)g->deregistration_delay_ms);
            draining = true;
        }
    }
    for (size_t i = 0; i < next->ngroups; i++) {
        const struct target_group *g = &next->groups[i];
        for (size_t j = 0; j < g->ntargets; j++) {
            struct target *t = g->targets[j];
            enum target_state s = target_group_state(t);
            if (s != TARGET_DRAINING && s != TARGET_UNUSED)
                continue;
            atomic_store(&t->drain_deadline_ms, 0);
            atomic_store(&t->drain_expired, false);
            target_group_set_state(t, TARGET_INITIAL, TARGET_REASON_REGISTRATION_IN_PROGRESS);
        }
    }
    if (draining && !uv_is_active((uv_handle_t *)&p->drain_timer))
        uv_timer_start(&p->drain_timer, on_drain_tick, DRAIN_TICK_MS, DRAIN_TICK_MS);
}

struct drain_scan {
    struct target *done[64]; /* finished this tick: forgotten after the scan */
    size_t ndone;
    bool expired; /* some target just passed its deadline */
    bool any;     /* some target still drains */
};

static void
scan_draining(void *ud, struct target *t)
{
    struct drain_scan *s = ud;
    uint32_t in_flight = atomic_load(&t->in_flight);

    if (target_group_state(t) != TARGET_DRAINING)
        return;
    if (in_flight == 0) {
        if (s->ndone < sizeof(s->done) / sizeof(s->done[0]))
            s->done[s->ndone++] = t;
        else
            s->any = true;
        return;
    }
    s->any = true;
    if (!atomic_load(&t->drain_expired) && mono_ms() >= atomic_load(&t->drain_deadline_ms)) {
        atomic_store(&t->drain_expired, true);
        log_warn("target %s of %s: deregistration delay over with %u requests in flight: "
                 "cutting them",
                 t->addr.text, t->group_name, in_flight);
        s->expired = true;
    }
}

static void
on_drain_tick(uv_timer_t *timer)
{
    struct proxy *p = timer->data;
    struct drain_scan s = {.ndone = 0};

    target_group_registry_foreach(p->registry, scan_draining, &s);
    for (size_t i = 0; i < s.ndone; i++) {
        struct target *t = s.done[i];
        log_info("target %s of %s deregistered", t->addr.text, t->group_name);
        target_group_set_state(t, TARGET_UNUSED, TARGET_REASON_NOT_REGISTERED);
        target_group_registry_forget(p->registry, t);
    }
    if (s.expired) {
        for (size_t i = 0; i < p->nworkers; i++)
            proxy_worker_drain_check(p->workers[i]);
    }
    if (!s.any)
        uv_timer_stop(timer);
}

/* ---- publication ---- */

static int
check_compatible(const struct proxy *p, const struct proxy_conf *next, struct err *err)
{
    if (next->workers != p->nworkers)
        return err_set(err, -EINVAL,
                       "%s: workers changed from %zu to %u (restart, or upgrade with SIGUSR2)",
                       next->path, p->nworkers, next->workers);
    if (!addr_equal(&next->admin, &p->conf->admin))
        return err_set(err, -EINVAL, "%s: admin changed to %s (restart, or upgrade with SIGUSR2)",
                       next->path, next->admin.text);
    return 0;
}

static struct listener *
find_listener(const struct proxy *p, const char *name)
{
    for (struct listener *l = p->listeners; l != NULL; l = l->next) {
        if (strcmp(l->name, name) == 0)
            return l;
    }
    return NULL;
}

/* Listener sockets one publication opens and closes. */
struct listener_plan {
    struct listener **add; /* owned array of new listeners (a ref each), bound and listening */
    size_t nadd;
    struct listener **remove; /* borrowed: p's listeners the generation replaces or drops */
    size_t nremove;
    struct proxy_worker_listen_add **per_worker; /* owned: per worker, its dups of add's fds */
    size_t *nper_worker;
};

static void
plan_free(struct listener_plan *pl, size_t nworkers)
{
    for (size_t w = 0; pl->per_worker != NULL && w < nworkers; w++) {
        for (size_t i = 0; i < pl->nper_worker[w]; i++) {
            close(pl->per_worker[w][i].fd);
            listener_unref(pl->per_worker[w][i].listener);
        }
        free(pl->per_worker[w]);
    }
    for (size_t i = 0; i < pl->nadd; i++)
        listener_unref(pl->add[i]);
    free(pl->per_worker);
    free(pl->nper_worker);
    free(pl->add);
    free(pl->remove);
    memset(pl, 0, sizeof(*pl));
}

/* Binds the listeners <next> adds or moves, and dups their fds for each worker; nothing is
 * published yet. Returns 0, or a negative errno with "listener NAME: bind ADDR: …" (every
 * socket opened here is closed again). */
static int
plan_listeners(struct proxy *p, const struct proxy_conf *next, struct listener_plan *pl,
               struct err *err)
{
    size_t n = 0;
    int rc;

    memset(pl, 0, sizeof(*pl));
    for (struct listener *l = p->listeners; l != NULL; l = l->next)
        n++;
    pl->add = mem_calloc(next->nlisteners + 1, sizeof(*pl->add));
    pl->remove = mem_calloc(n + 1, sizeof(*pl->remove));
    for (struct listener *l = p->listeners; l != NULL; l = l->next) {
        const struct proxy_conf_listener *lc = proxy_conf_listener_find(next, l->name);
        if (lc == NULL || !addr_equal(&lc->bind, &l->addr))
            pl->remove[pl->nremove++] = l;
    }
    for (size_t i = 0; i < next->nlisteners; i++) {
        const struct proxy_conf_listener *lc = &next->listeners[i];
        struct listener *l = find_listener(p, lc->name);
        if (l != NULL && addr_equal(&lc->bind, &l->addr))
            continue;
        if ((rc = listener_new(&pl->add[pl->nadd], lc->name, &lc->bind, p->nworkers, NULL, 0,
                               err)) != 0) {
            plan_free(pl, p->nworkers);
            return rc;
        }
        pl->nadd++;
    }
    pl->per_worker = mem_calloc(p->nworkers, sizeof(*pl->per_worker));
    pl->nper_worker = mem_calloc(p->nworkers, sizeof(*pl->nper_worker));
    for (size_t w = 0; w < p->nworkers; w++)
        pl->per_worker[w] = mem_calloc(pl->nadd + 1, sizeof(**pl->per_worker));
    for (size_t i = 0; i < pl->nadd; i++) {
        struct listener *l = pl->add[i];
        for (size_t j = 0; j < l->nfds; j++) {
            size_t w = j % p->nworkers;
            int fd = dup(l->fds[j]);
            if (fd < 0) {
                rc = -errno;
                err_set(err, rc, "listener %s: dup: %s", l->name, strerror(-rc));
                plan_free(pl, p->nworkers);
                return rc;
            }
            pl->per_worker[w][pl->nper_worker[w]++] =
                (struct proxy_worker_listen_add){listener_ref(l), fd};
        }
    }
    return 0;
}

/* The plan is in force: p's list drops the removed listeners (their own fds close now; the
 * workers close their dups when they switch) and gains the new ones. */
static void
commit_listeners(struct proxy *p, struct listener_plan *pl)
{
    struct listener **pp;

    for (size_t i = 0; i < pl->nremove; i++) {
        struct listener *l = pl->remove[i];
        for (pp = &p->listeners; *pp != l; pp = &(*pp)->next)
            ;
        *pp = l->next;
        l->next = NULL;
        log_info("listener %s on %s: no longer accepting", l->name, l->addr.text);
        listener_close_fds(l);
        listener_unref(l);
    }
    for (pp = &p->listeners; *pp != NULL; pp = &(*pp)->next)
        ;
    for (size_t i = 0; i < pl->nadd; i++) {
        log_info("listener %s: accepting on %s", pl->add[i]->name, pl->add[i]->addr.text);
        *pp = pl->add[i]; /* the plan's ref becomes the list's */
        pp = &pl->add[i]->next;
    }
    pl->nadd = 0;
}

struct orphans {
    const struct proxy_conf *conf;
    struct target **v;
    size_t n, cap;
};

static void
collect_orphan(void *ud, struct target *t)
{
    struct orphans *o = ud;
    enum target_state s = target_group_state(t);

    if (s == TARGET_DRAINING || s == TARGET_UNUSED || proxy_conf_has_target(o->conf, t))
        return;
    if (o->n == o->cap) {
        o->cap = o->cap * 2 + 16;
        o->v = mem_realloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = t;
}

/* A refused generation registered targets no generation has: forget them. */
static void
forget_orphans(struct proxy *p)
{
    struct orphans o = {.conf = p->conf};

    target_group_registry_foreach(p->registry, collect_orphan, &o);
    for (size_t i = 0; i < o.n; i++)
        target_group_registry_forget(p->registry, o.v[i]);
    free(o.v);
}

int
proxy_publish(struct proxy *p, struct proxy_conf *next, proxy_published_cb cb, void *ud,
              struct err *err)
{
    struct publication *pub, **pp;
    struct proxy_conf *old = p->conf;
    struct listener_plan pl;
    int rc;

    if (p->retiring) {
        rc = err_set(err, -ECANCELED, "the proxy is shutting down");
        goto refused;
    }
    if ((rc = check_compatible(p, next, err)) != 0 || (rc = plan_listeners(p, next, &pl, err)) != 0)
        goto refused;
    next->seq = ++p->seq;
    p->conf = next;
    diff_targets(p, old, next);
    pub = mem_calloc(1, sizeof(*pub));
    pub->seq = next->seq;
    pub->cb = cb;
    pub->ud = ud;
    for (pp = &p->pubs; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = pub;
    for (size_t i = 0; i < p->nworkers; i++) {
        proxy_worker_publish(p->workers[i], next, next->seq, pl.per_worker[i], pl.nper_worker[i],
                             pl.remove, pl.nremove);
        pl.nper_worker[i] = 0; /* the refs and fds went to the worker */
    }
    commit_listeners(p, &pl);
    plan_free(&pl, p->nworkers);
    notify_watchers(p);
    proxy_conf_unref(old);
    log_info("configuration generation %llu published", (unsigned long long)next->seq);
    return 0;
refused:
    proxy_conf_unref(next);
    forget_orphans(p);
    return rc;
}

/* Runs the callbacks of the publications every worker has switched to (oldest first), or of
 * all of them with <status> < 0 when the proxy stops. */
static void
complete_publications(struct proxy *p, int status)
{
    while (p->pubs != NULL) {
        struct publication *pub = p->pubs;
        for (size_t i = 0; status == 0 && i < p->nworkers; i++) {
            if (p->acked[i] < pub->seq)
                return;
        }
        p->pubs = pub->next;
        if (pub->cb != NULL)
            pub->cb(pub->ud, status);
        free(pub);
    }
}

/* ---- worker → main ---- */

static void
post_main(struct proxy *p, size_t worker, uint64_t seq, bool exited)
{
    struct main_msg *m = mem_calloc(1, sizeof(*m));
    struct main_msg **pp;

    m->worker = worker;
    m->seq = seq;
    m->exited = exited;
    uv_mutex_lock(&p->lock);
    for (pp = &p->inbox; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = m;
    uv_mutex_unlock(&p->lock);
    uv_async_send(&p->wake);
}

static void
hook_acked(void *ud, size_t id, uint64_t seq)
{
    post_main(ud, id, seq, false);
}

static void
hook_exited(void *ud, size_t id)
{
    post_main(ud, id, 0, true);
}

static void stop_everything(struct proxy *p);

static void
on_wake(uv_async_t *a)
{
    struct proxy *p = a->data;
    struct main_msg *m, *next;

    uv_mutex_lock(&p->lock);
    m = p->inbox;
    p->inbox = NULL;
    uv_mutex_unlock(&p->lock);
    for (; m != NULL; m = next) {
        next = m->next;
        if (m->exited)
            p->nexited++;
        else if (m->seq > p->acked[m->worker])
            p->acked[m->worker] = m->seq;
        free(m);
    }
    complete_publications(p, 0);
    if (p->retiring && p->nexited == p->nworkers)
        stop_everything(p);
}

/* ---- shutdown ---- */

static void
on_closed_quietly(uv_handle_t *h)
{
    (void)h;
}

static void
stop_everything(struct proxy *p)
{
    if (p->stopped)
        return;
    p->stopped = true;
    log_info("proxy stopped");
    for (size_t i = 0; i < p->nworkers && p->workers != NULL; i++) {
        if (p->workers[i] != NULL)
            proxy_worker_stop(p->workers[i]);
    }
    for (size_t i = 0; i < p->nworkers && p->workers != NULL; i++) {
        if (p->workers[i] != NULL)
            proxy_worker_join(p->workers[i]);
    }
    p->nworkers = 0;
    complete_publications(p, -ECANCELED);
    for (size_t i = 0; i < sizeof(p->sigs) / sizeof(p->sigs[0]); i++)
        uv_close((uv_handle_t *)&p->sigs[i], on_closed_quietly);
    uv_close((uv_handle_t *)&p->wake, on_closed_quietly);
    uv_close((uv_handle_t *)&p->drain_timer, on_closed_quietly);
    uv_close((uv_handle_t *)&p->shutdown_timer, on_closed_quietly);
    if (p->upgrading)
        uv_close((uv_handle_t *)&p->ready_pipe, on_closed_quietly);
    if (p->child_running)
        uv_close((uv_handle_t *)&p->child, on_closed_quietly);
}

static void
on_shutdown_timeout(uv_timer_t *t)
{
    struct proxy *p = t->data;

    log_warn("shutdown timeout: closing the connections still open");
    stop_everything(p);
}

/* Stops accepting and lets connections finish. <handed_over>: a new binary owns the sockets. */
static void
retire(struct proxy *p, bool handed_over)
{
    if (p->retiring)
        return;
    p->retiring = true;
    log_info("retiring%s: no new connections, finishing requests (up to %llums)",
             handed_over ? " after the binary upgrade" : "",
             (unsigned long long)p->conf->shutdown_timeout_ms);
    if (p->admin != NULL) {
        admin_api_stop(p->admin);
        p->admin = NULL;
    }
    if (p->health != NULL) {
        health_stop(p->health);
        p->health = NULL;
    }
    for (size_t i = 0; i < p->nworkers; i++)
        proxy_worker_retire(p->workers[i]);
    if (!handed_over) {
        /* nobody else holds the sockets: close them so connects are refused at once */
        for (struct listener *l = p->listeners; l != NULL; l = l->next) {
            for (size_t i = 0; i < l->nfds; i++) {
                if (l->fds[i] >= 0)
                    close(l->fds[i]);
                l->fds[i] = -1;
            }
        }
    }
    uv_timer_start(&p->shutdown_timer, on_shutdown_timeout, p->conf->shutdown_timeout_ms + 1, 0);
}

/* ---- reload (SIGHUP) ---- */

/* The file's listeners and groups take the file's settings; objects created through the admin
 * API that the file does not name are kept as they run (proxy_conf_keep_dynamic). */
static void
reload(struct proxy *p)
{
    struct proxy_conf *check = NULL, *next = NULL;
    struct err err = {0};

    log_info("reloading %s", p->conf_path);
    /* validate without touching the registry first, so a refused file registers nothing */
    if (proxy_conf_load(&check, p->conf_path, NULL, &err) != 0 ||
        proxy_conf_keep_dynamic(check, p->conf, &err) != 0 ||
        check_compatible(p, check, &err) != 0) {
        log_error("reload failed, keeping the running configuration: %s", err.msg);
        proxy_conf_unref(check);
        return;
    }
    proxy_conf_unref(check);
    if (proxy_conf_load(&next, p->conf_path, p->registry, &err) != 0 ||
        proxy_conf_keep_dynamic(next, p->conf, &err) != 0) {
        log_error("reload failed, keeping the running configuration: %s", err.msg);
        proxy_conf_unref(next);
        forget_orphans(p);
        return;
    }
    if (proxy_publish(p, next, NULL, NULL, &err) != 0)
        log_error("reload failed, keeping the running configuration: %s", err.msg);
}

/* ---- binary upgrade (SIGUSR2) ---- */

static void
on_child_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct proxy *p = proc->data;

    log_info("new binary (pid %d) exited: status %lld signal %d", proc->pid, (long long)status,
             sig);
    p->child_running = false;
    uv_close((uv_handle_t *)proc, on_closed_quietly);
}

static void
on_ready_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char byte[16];

    (void)h;
    (void)hint;
    *buf = uv_buf_init(byte, sizeof(byte));
}

static void
on_ready_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct proxy *p = s->data;

    (void)buf;
    if (nread == 0)
        return;
    uv_read_stop(s);
    uv_close((uv_handle_t *)s, on_closed_quietly);
    p->upgrading = false;
    if (nread > 0) {
        log_info("new binary is serving: handing over");
        retire(p, true);
    } else {
        log_error("binary upgrade failed: the new process exited before serving; still serving");
    }
}

/* Appends "name=fd,fd;" to <env> for <nfds> fds mapped to child fds starting at *next. */
static void
map_fds(struct buf *env, const char *name, const int *fds, size_t nfds, uv_stdio_container_t *st,
        int *next)
{
    buf_appendf(env, "%s%s=", env->len > strlen(ENV_FDS) + 1 ? ";" : "", name);
    for (size_t i = 0; i < nfds; i++) {
        st[*next].flags = UV_INHERIT_FD;
        st[*next].data.fd = fds[i];
        buf_appendf(env, "%s%d", i ? "," : "", *next);
        (*next)++;
    }
}

static size_t
count_fds(const struct proxy *p)
{
    size_t n = 3 + 3;

    for (struct listener *l = p->listeners; l != NULL; l = l->next)
        n += l->nfds;
    return n;
}

/* The objects created through the admin API, as a POST /changes body in a memfd for the new
 * binary (it reads proxy.yaml itself). Returns the fd or a negative errno. */
static int
state_fd(const struct proxy *p)
{
    char *doc = proxy_conf_dynamic_format(p->conf);
    size_t len = strlen(doc), off = 0;
    int fd = memfd_create("cutover-proxy-state", MFD_CLOEXEC), rc = 0;

    if (fd < 0)
        rc = -errno;
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, doc + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        off += n > 0 ? (size_t)n : 0;
    }
    if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
        rc = -errno;
    free(doc);
    if (rc != 0 && fd >= 0)
        close(fd);
    return rc != 0 ? rc : fd;
}

static int
spawn_upgrade(struct proxy *p, int ready_w, struct err *err)
{
    extern char **environ;
    size_t nst = count_fds(p), nenv = 0;
    uv_stdio_container_t *st = mem_calloc(nst, sizeof(*st));
    uv_process_options_t opt = {0};
    struct buf env;
    char **envp;
    int next = 3, admin_fd = admin_api_fd(p->admin), sfd = state_fd(p), rc;

    if (sfd < 0) {
        free(st);
        return err_set(err, sfd, "binary upgrade: state: %s", strerror(-sfd));
    }
    buf_init(&env);
    buf_append_str(&env, ENV_FDS "=");
    for (int i = 0; i < 3; i++) {
        st[i].flags = UV_INHERIT_FD;
        st[i].data.fd = i;
    }
    for (struct listener *l = p->listeners; l != NULL; l = l->next)
        map_fds(&env, l->name, l->fds, l->nfds, st, &next);
    map_fds(&env, "admin", &admin_fd, 1, st, &next);
    map_fds(&env, "ready", &ready_w, 1, st, &next);
    map_fds(&env, "state", &sfd, 1, st, &next);
    for (char **e = environ; *e != NULL; e++)
        nenv++;
    envp = mem_calloc(nenv + 2, sizeof(*envp));
    nenv = 0;
    for (char **e = environ; *e != NULL; e++) {
        if (!str_has_prefix(*e, ENV_FDS "="))
            envp[nenv++] = *e;
    }
    envp[nenv++] = env.data;
    opt.file = p->exe;
    opt.args = p->argv;
    opt.env = envp;
    opt.stdio = st;
    opt.stdio_count = next;
    opt.exit_cb = on_child_exit;
    p->child.data = p;
    rc = uv_spawn(&p->loop, &p->child, &opt);
    if (rc == 0) {
        p->child_running = true;
        log_info("binary upgrade: started %s (pid %d)", p->exe, p->child.pid);
    } else {
        err_set(err, rc, "binary upgrade: spawn %s: %s", p->exe, uv_strerror(rc));
    }
    free(envp);
    buf_fini(&env);
    free(st);
    close(sfd);
    return rc;
}

static void
upgrade(struct proxy *p)
{
    struct err err = {0};
    uv_file fds[2];
    int rc;

    if (p->upgrading || p->retiring || p->admin == NULL) {
        log_warn("binary upgrade refused: %s", p->retiring    ? "retiring"
                                               : p->upgrading ? "already upgrading"
                                                              : "no admin socket");
        return;
    }
    if ((rc = uv_pipe(fds, 0, 0)) != 0) {
        log_error("binary upgrade: pipe: %s", uv_strerror(rc));
        return;
    }
    rc = spawn_upgrade(p, fds[1], &err);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        log_error("%s", err.msg);
        return;
    }
    uv_pipe_init(&p->loop, &p->ready_pipe, 0);
    p->ready_pipe.data = p;
    uv_pipe_open(&p->ready_pipe, fds[0]);
    p->upgrading = true;
    uv_read_start((uv_stream_t *)&p->ready_pipe, on_ready_alloc, on_ready_read);
}

/* ---- signals ---- */

static void
on_signal(uv_signal_t *h, int signum)
{
    struct proxy *p = h->data;

    switch (signum) {
    case SIGTERM:
    case SIGINT:
        log_info("signal %s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        retire(p, false);
        return;
    case SIGHUP:
        if (!p->retiring)
            reload(p);
        return;
    case SIGUSR2:
        log_info("signal SIGUSR2: binary upgrade");
        upgrade(p);
        return;
    default:
        return;
    }
}

/* ---- startup ---- */

/* Parses CUTOVER_PROXY_FDS from the previous binary. Returns 0 (nothing or parsed) or -EINVAL. */
static int
parse_inherited(struct proxy *p, struct err *err)
{
    const char *env = getenv(ENV_FDS);
    char *copy, *save = NULL, *item;

    p->ready_fd = -1;
    if (env == NULL || *env == '\0')
        return 0;
    copy = mem_strdup(env);
    p->inh = mem_calloc(64, sizeof(*p->inh));
    for (item = strtok_r(copy, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '='), *s2 = NULL, *num;
        struct inherited *in;
        if (eq == NULL || p->ninh == 64)
            goto bad;
        *eq = '\0';
        in = &p->inh[p->ninh++];
        str_copy(in->name, item, sizeof(in->name));
        for (num = strtok_r(eq + 1, ",", &s2); num != NULL; num = strtok_r(NULL, ",", &s2)) {
            uint32_t fd;
            if (str_to_u32(num, &fd, 3, 65535) != 0 || in->n == MAX_INHERITED)
                goto bad;
            in->fds[in->n++] = (int)fd;
        }
    }
    free(copy);
    unsetenv(ENV_FDS);
    return 0;
bad:
    free(copy);
    return err_set(err, -EINVAL, "%s: malformed (expected name=fd,fd;…)", ENV_FDS);
}

static const struct inherited *
find_inherited(const struct proxy *p, const char *name)
{
    for (size_t i = 0; i < p->ninh; i++) {
        if (strcmp(p->inh[i].name, name) == 0)
            return &p->inh[i];
    }
    return NULL;
}

static int
open_listeners(struct proxy *p, struct err *err)
{
    struct listener **tail = &p->listeners;
    int rc;

    for (size_t i = 0; i < p->conf->nlisteners; i++) {
        const struct proxy_conf_listener *lc = &p->conf->listeners[i];
        const struct inherited *in = find_inherited(p, lc->name);
        struct listener *l;
        rc = listener_new(&l, lc->name, &lc->bind, p->nworkers, in ? in->fds : NULL, in ? in->n : 0,
                          err);
        if (rc != 0)
            return rc;
        *tail = l;
        tail = &l->next;
    }
    /* inherited sockets of listeners this configuration no longer has */
    for (size_t i = 0; i < p->ninh; i++) {
        if (strcmp(p->inh[i].name, "admin") != 0 && strcmp(p->inh[i].name, "ready") != 0 &&
            strcmp(p->inh[i].name, "state") != 0 &&
            proxy_conf_listener_find(p->conf, p->inh[i].name) == NULL) {
            for (size_t j = 0; j < p->inh[i].n; j++)
                close(p->inh[i].fds[j]);
        }
    }
    return 0;
}

static int
start_workers(struct proxy *p, struct err *err)
{
    static const struct proxy_worker_hooks hooks_template = {hook_acked, hook_exited, NULL};
    struct proxy_worker_hooks hooks = hooks_template;
    int rc;

    hooks.ud = p;
    p->workers = mem_calloc(p->nworkers, sizeof(*p->workers));
    p->acked = mem_calloc(p->nworkers, sizeof(*p->acked));
    for (size_t i = 0; i < p->nworkers; i++) {
        rc = proxy_worker_start(&p->workers[i], i, p->nworkers, p->conf, p->listeners,
                                p->access_log, &hooks, err);
        if (rc != 0)
            return rc;
        p->acked[i] = p->conf->seq;
    }
    return 0;
}

static void
init_loop_handles(struct proxy *p)
{
    static const int signums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};

    uv_loop_init(&p->loop);
    p->loop_ready = true;
    uv_mutex_init(&p->lock);
    uv_async_init(&p->loop, &p->wake, on_wake);
    p->wake.data = p;
    uv_timer_init(&p->loop, &p->drain_timer);
    p->drain_timer.data = p;
    uv_timer_init(&p->loop, &p->shutdown_timer);
    p->shutdown_timer.data = p;
    for (size_t i = 0; i < sizeof(signums) / sizeof(signums[0]); i++) {
        uv_signal_init(&p->loop, &p->sigs[i]);
        p->sigs[i].data = p;
        uv_signal_start(&p->sigs[i], on_signal, signums[i]);
    }
    signal(SIGPIPE, SIG_IGN);
}

static void
tell_previous_binary(struct proxy *p)
{
    const struct inherited *ready = find_inherited(p, "ready");

    if (ready == NULL || ready->n != 1)
        return;
    if (write(ready->fds[0], "1", 1) != 1)
        log_warn("could not tell the previous binary to retire: %s", strerror(errno));
    close(ready->fds[0]);
}

static int
start(struct proxy *p, struct err *err)
{
    const struct inherited *admin;
    int rc;

    if ((rc = open_listeners(p, err)) != 0)
        return rc;
    init_loop_handles(p);
    if ((rc = start_workers(p, err)) != 0)
        return rc;
    p->health = health_new(&p->loop);
    health_update(p->health, p->conf);
    proxy_watch_conf(p, health_update, p->health);
    admin = find_inherited(p, "admin");
    if ((rc = admin_api_start(&p->admin, p, admin ? admin->fds[0] : -1, err)) != 0)
        return rc;
    log_info("proxy serving: %zu listeners, %zu workers, generation %llu", p->conf->nlisteners,
             p->nworkers, (unsigned long long)p->conf->seq);
    tell_previous_binary(p);
    return 0;
}

static void
teardown(struct proxy *p)
{
    struct listener *l, *next;

    proxy_conf_unref(p->conf);
    target_group_registry_free(p->registry);
    for (l = p->listeners; l != NULL; l = next) {
        next = l->next;
        listener_unref(l);
    }
    if (p->access_log != NULL)
        access_log_close(p->access_log);
    free(p->workers);
    free(p->acked);
    free(p->inh);
    if (p->loop_ready)
        uv_mutex_destroy(&p->lock);
}

/* ---- flags ---- */

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover proxy -c FILE [--check] [--log-level error|warn|info|debug]\n"
                 "                     [--access-log PATH|-]\n"
                 "       cutover proxy <verb> … (describe-target-health, modify-listener, …)\n"
                 "see docs/man/cutover-proxy.md\n");
}

struct flags {
    const char *conf;
    const char *access_log;
    bool check;
    enum log_level level;
};

static int
parse_flags(int argc, char **argv, struct flags *f)
{
    static const struct option opts[] = {
        {"conf", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"access-log", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    f->level = LOG_INFO;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            f->conf = optarg;
            break;
        case 'k':
            f->check = true;
            break;
        case 'l':
            if (log_level_parse(optarg, &f->level) != 0) {
                fprintf(stderr, "cutover proxy: invalid --log-level '%s'\n", optarg);
                return ERR_EXIT_USAGE;
            }
            break;
        case 'a':
            f->access_log = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return ERR_EXIT_USAGE;
        }
    }
    if (f->conf == NULL || optind != argc) {
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    return 0;
}

static char *
read_all(int fd)
{
    struct buf b;
    char chunk[4096];
    ssize_t n;

    buf_init(&b);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        buf_append(&b, chunk, (size_t)n);
    }
    buf_append(&b, "", 1);
    return buf_take(&b);
}

/* Drops from <ch> what the file names: the file's settings win, as on SIGHUP. */
static void
skip_file_objects(struct proxy_api_changes *ch, const struct proxy_conf *file)
{
    size_t k = 0;

    for (size_t i = 0; i < ch->ngroups; i++) {
        if (proxy_conf_group_find(file, ch->groups[i].name) == NULL)
            ch->groups[k++] = ch->groups[i];
    }
    ch->ngroups = k;
    k = 0;
    for (size_t i = 0; i < ch->nlisteners; i++) {
        if (proxy_conf_listener_find(file, ch->listeners[i].name) == NULL)
            ch->listeners[k++] = ch->listeners[i];
    }
    ch->nlisteners = k;
    ch->ndelete_groups = 0;
    ch->ndelete_listeners = 0;
}

/* A binary upgrade: the previous process's admin-API objects join the file's. A state that
 * no longer fits the file is logged and dropped (the file's configuration still starts). */
static void
adopt_state(struct proxy *p)
{
    const struct inherited *in = find_inherited(p, "state");
    struct proxy_api_changes ch;
    struct proxy_conf *check;
    struct err err = {0};
    char *text;

    if (in == NULL || in->n != 1)
        return;
    text = read_all(in->fds[0]);
    close(in->fds[0]);
    if (proxy_api_changes_parse(&ch, text, strlen(text), &err) != 0) {
        log_error("binary upgrade: the previous process's state is unreadable: %s", err.msg);
        free(text);
        return;
    }
    free(text);
    skip_file_objects(&ch, p->conf);
    check = proxy_conf_clone(p->conf);
    if (proxy_conf_apply_changes(check, &ch, true, NULL, &err) != 0) {
        log_error("binary upgrade: objects created through the admin API dropped: %s", err.msg);
    } else {
        err_clear(&err);
        if (proxy_conf_apply_changes(p->conf, &ch, true, p->registry, &err) != 0)
            log_error("binary upgrade: %s", err.msg); /* cannot happen: validated above */
        else if (ch.ngroups + ch.nlisteners > 0)
            log_info("binary upgrade: kept %zu target groups and %zu listeners created through "
                     "the admin API",
                     ch.ngroups, ch.nlisteners);
    }
    proxy_conf_unref(check);
    proxy_api_changes_fini(&ch);
}

static int
run_proxy(struct proxy *p, const struct flags *f)
{
    struct err err = {0};
    struct proxy_conf *first = NULL;
    ssize_t n;
    int rc;

    if (proxy_conf_load(&first, f->conf, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return ERR_EXIT_USAGE;
    }
    p->nworkers = first->workers;
    proxy_conf_unref(first);
    p->registry = target_group_registry_new(p->nworkers);
    if (proxy_conf_load(&p->conf, f->conf, p->registry, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return ERR_EXIT_USAGE;
    }
    if ((rc = parse_inherited(p, &err)) != 0) {
        fprintf(stderr, "cutover proxy: %s\n", err.msg);
        return ERR_EXIT_FAILED;
    }
    adopt_state(p);
    p->conf->seq = ++p->seq;
    if (f->access_log != NULL && access_log_open(&p->access_log, f->access_log, &err) != 0) {
        fprintf(stderr, "cutover proxy: %s\n", err.msg);
        return ERR_EXIT_FAILED;
    }
    n = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1);
    p->exe[n > 0 ? n : 0] = '\0';
    if (start(p, &err) != 0) {
        log_error("%s", err.msg);
        if (p->loop_ready) {
            /* workers may already run on the listeners teardown frees: stop them first */
            if (p->health != NULL)
                health_stop(p->health);
            p->health = NULL;
            stop_everything(p);
            uv_run(&p->loop, UV_RUN_DEFAULT);
            uv_loop_close(&p->loop);
        }
        return ERR_EXIT_FAILED;
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    if (p->health != NULL)
        health_stop(p->health);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    uv_loop_close(&p->loop);
    return ERR_EXIT_OK;
}

int
proxy_main(int argc, char **argv)
{
    struct proxy *p;
    struct flags f = {0};
    struct err err = {0};
    struct proxy_conf *c = NULL;
    int rc;

    if ((rc = parse_flags(argc, argv, &f)) != 0)
        return rc < 0 ? ERR_EXIT_OK : rc;
    log_init("proxy", f.level);
    if (f.check) {
        if (proxy_conf_load(&c, f.conf, NULL, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return ERR_EXIT_USAGE;
        }
        proxy_conf_unref(c);
        printf("ok\n");
        return ERR_EXIT_OK;
    }
    p = mem_calloc(1, sizeof(*p));
    p->conf_path = f.conf;
    p->argv = argv - 1; /* "cutover" "proxy" …: the same argv for a binary upgrade */
    rc = run_proxy(p, &f);
    teardown(p);
    free(p);
    return rc;
}
