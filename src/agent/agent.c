/* SPDX-License-Identifier: ISC */
/* `cutover agent`: flags, registration, the poll loop on the main thread and the reporter thread
 * (outbox delivery in order, heartbeats). Nothing the agent must report lives only in memory:
 * reports go to the outbox before anyone is told, so SIGKILL, a restart or an unreachable server
 * loses nothing. SIGTERM/SIGINT while idle end the process at once with status 0 (safe for that
 * reason); during a command the lifecycle engine traps them, stops the running script (code 7)
 * and the agent exits once the reports are queued. */
#include "agent/agent.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "agent/agent_run.h"
#include "agent/agent_wire.h"
#include "agent/fsops.h"
#include "common/addr.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/log.h"
#include "common/str.h"
#include "protocol/deploy_agent.h"

#ifndef CUTOVER_VERSION
#define CUTOVER_VERSION "0.1.0"
#endif

#define AGENT_DEFAULT_ROOT "/opt/cutover/deployment-root"
#define BACKOFF_MAX_MS 30000
#define ONCE_FLUSH_MS 30000
#define STOP_FLUSH_MS 5000

static uint64_t
mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void
sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover agent --server URL --token TOKEN [options]\n"
                 "  --server URL          the cutover server (or CUTOVER_SERVER)\n"
                 "  --token TOKEN         enrollment token (or CUTOVER_ENROLL_TOKEN)\n"
                 "  --token-file PATH     read the enrollment token from a file\n"
                 "  --name NAME           instance name (default: the host name)\n"
                 "  --tags K=V[,K=V…]     instance tags, e.g. fleet=blue\n"
                 "  --target HOST:PORT    where the proxy sends this instance's traffic\n"
                 "  --root DIR            deployment root (" AGENT_DEFAULT_ROOT ")\n"
                 "  --cacert PATH         CA bundle to verify an https server\n"
                 "  --poll-wait SECONDS   long-poll wait, 1 to 60 (20)\n"
                 "  --max-revisions N     revisions kept per deployment group (5)\n"
                 "  --once                register, run the commands of one poll, deliver the\n"
                 "                        reports, exit (75 if the server is unreachable)\n"
                 "  --log-level LEVEL     error, warn, info (default) or debug\n"
                 "  --check               validate the flags and the root, print ok\n");
}

/* ---- shared state ---- */

int
agent_push_report(struct agent *a, const char *command_id, const char *body)
{
    int rc;

    pthread_mutex_lock(&a->lock);
    rc = agent_outbox_push(&a->outbox, command_id, body);
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (rc != 0)
        log_error("cannot queue a report for command %s under %s: %s", command_id, a->state_dir,
                  strerror(-rc));
    return rc;
}

void
agent_set_running(struct agent *a, const char *command_id)
{
    pthread_mutex_lock(&a->lock);
    str_copy(a->running, command_id ? command_id : "", sizeof(a->running));
    pthread_mutex_unlock(&a->lock);
}

/* ---- reporter thread ---- */

enum delivery {
    DELIVERY_EMPTY,  /* nothing queued */
    DELIVERY_DONE,   /* one report delivered (or refused for good and dropped) */
    DELIVERY_FAILED, /* transient: retry after a backoff */
};

/* Called and returns with the lock held; drops it during the request. */
static enum delivery
deliver_one(struct agent *a)
{
    struct agent_outbox_entry e;
    struct err err = {0};
    int rc;

    if ((rc = agent_outbox_peek(&a->outbox, &e)) == -ENOENT)
        return DELIVERY_EMPTY;
    if (rc != 0 && rc != -EINVAL) { /* the outbox itself is unreadable: retry later */
        log_error("outbox %s: %s", a->outbox.dir, strerror(-rc));
        return DELIVERY_FAILED;
    }
    if (rc != 0) {
        log_error("outbox report %llu unreadable, dropped: %s", (unsigned long long)e.seq,
                  strerror(-rc));
        (void)agent_outbox_pop(&a->outbox, e.seq);
        return DELIVERY_DONE;
    }
    pthread_mutex_unlock(&a->lock);
    rc = agent_client_post_event(&a->client, e.command_id, e.body, &err);
    pthread_mutex_lock(&a->lock);
    if (rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -EPERM) {
        if (rc != 0)
            log_warn("report for command %s refused by the server, dropped: %s", e.command_id,
                     err.msg);
        (void)agent_outbox_pop(&a->outbox, e.seq);
        agent_outbox_entry_fini(&e);
        return DELIVERY_DONE;
    }
    log_warn("report for command %s not delivered (%zu queued), will retry: %s", e.command_id,
             agent_outbox_count(&a->outbox), err.msg);
    agent_outbox_entry_fini(&e);
    return DELIVERY_FAILED;
}

/* Called and returns with the lock held. */
static void
heartbeat(struct agent *a)
{
    char running[128];
    struct err err = {0};

    str_copy(running, a->running, sizeof(running));
    pthread_mutex_unlock(&a->lock);
    if (agent_client_heartbeat(&a->client, running[0] ? running : NULL, &err) != 0)
        log_warn("heartbeat failed: %s", err.msg);
    pthread_mutex_lock(&a->lock);
}

static void
wait_until(struct agent *a, uint64_t deadline_ms)
{
    struct timespec ts;
    uint64_t now = mono_ms(), ms = deadline_ms > now ? deadline_ms - now : 0;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    (void)pthread_cond_timedwait(&a->wake, &a->lock, &ts);
}

static void *
reporter_main(void *arg)
{
    struct agent *a = arg;
    uint64_t next_hb = 0, retry_at = 0;
    unsigned attempt = 0;
    enum delivery d = DELIVERY_EMPTY;

    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        uint64_t now = mono_ms(), until;
        if (now >= retry_at) {
            d = deliver_one(a);
            if (d == DELIVERY_DONE) {
                attempt = 0;
                continue;
            }
            if (d == DELIVERY_FAILED)
                retry_at = mono_ms() +
                           agent_wire_backoff_ms(attempt++, BACKOFF_MAX_MS, agent_wire_jitter());
        }
        if (mono_ms() >= next_hb) {
            heartbeat(a);
            next_hb = mono_ms() + 1000ull * agent_client_heartbeat_s(&a->client);
            continue;
        }
        until = next_hb;
        if (d == DELIVERY_FAILED && retry_at < until)
            until = retry_at;
        wait_until(a, until);
        if (d == DELIVERY_EMPTY)
            retry_at = 0; /* woken by a push: deliver at once */
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- flags ---- */

enum {
    OPT_SERVER = 256,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_NAME,
    OPT_TAGS,
    OPT_TARGET,
    OPT_ROOT,
    OPT_CACERT,
    OPT_POLL_WAIT,
    OPT_MAXREV,
    OPT_ONCE,
    OPT_LOG_LEVEL,
    OPT_CHECK,
};

static void
read_token_file(struct agent *a, const char *path)
{
    char *data = NULL;
    int rc;

    if ((rc = fsops_read_file(path, &data, NULL)) != 0)
        err_die(ERR_EXIT_USAGE, "--token-file %s: %s", path, strerror(-rc));
    data[strcspn(data, "\r\n")] = '\0';
    free(a->token);
    a->token = data;
}

static void
parse_flag(struct agent *a, int c, const char *arg, const char **root)
{
    enum log_level level;
    uint32_t n;

    switch (c) {
    case OPT_SERVER:
        a->server = arg;
        return;
    case OPT_TOKEN:
        free(a->token);
        a->token = strdup(arg);
        return;
    case OPT_TOKEN_FILE:
        read_token_file(a, arg);
        return;
    case OPT_NAME:
        a->name = arg;
        return;
    case OPT_TAGS:
        free(a->tags);
        a->tags = strdup(arg);
        return;
    case OPT_TARGET:
        a->target = arg;
        return;
    case OPT_ROOT:
        *root = arg;
        return;
    case OPT_CACERT:
        a->cafile = arg;
        return;
    case OPT_POLL_WAIT:
        if (str_to_u32(arg, &n, 1, DEPLOY_AGENT_MAX_WAIT_S) != 0)
            err_die(ERR_EXIT_USAGE, "--poll-wait: '%s' (expected 1 to %d seconds)", arg,
                    DEPLOY_AGENT_MAX_WAIT_S);
        a->poll_wait_s = n;
        return;
    case OPT_MAXREV:
        if (str_to_u32(arg, &n, 1, 1000) != 0)
            err_die(ERR_EXIT_USAGE, "--max-revisions: '%s' (expected 1 to 1000)", arg);
        a->max_revisions = n;
        return;
    case OPT_ONCE:
        a->once = true;
        return;
    case OPT_LOG_LEVEL:
        if (log_level_parse(arg, &level) != 0)
            err_die(ERR_EXIT_USAGE, "--log-level: '%s' (expected error, warn, info or debug)", arg);
        log_set_level(level);
        return;
    case OPT_CHECK:
        a->check = true;
        return;
    case 'h':
        usage(stdout);
        exit(ERR_EXIT_OK);
    default:
        usage(stderr);
        exit(ERR_EXIT_USAGE);
    }
}

static void
check_flags(struct agent *a)
{
    const char *keys[AGENT_WIRE_MAX_TAGS], *values[AGENT_WIRE_MAX_TAGS];
    char *copy;
    struct addr addr;
    struct err err = {0};
    size_t n;

    if (a->server == NULL)
        err_die(ERR_EXIT_USAGE, "--server is required (or CUTOVER_SERVER)");
    if (!agent_wire_server_is_valid(a->server))
        err_die(ERR_EXIT_USAGE, "--server '%s' (expected http://HOST:PORT or https://…)",
                a->server);
    if (a->token == NULL || a->token[0] == '\0')
        err_die(ERR_EXIT_USAGE, "--token or --token-file is required (the enrollment token)");
    if (a->name == NULL) {
        if (gethostname(a->hostname, sizeof(a->hostname) - 1) != 0)
            err_die(ERR_EXIT_USAGE, "--name not given and the host name is unknown");
        a->name = a->hostname;
    }
    if (a->name[0] == '\0' || strlen(a->name) > 100 || strpbrk(a->name, "/ \t\n") != NULL)
        err_die(ERR_EXIT_USAGE, "--name '%s' (expected 1 to 100 characters, no '/' or spaces)",
                a->name);
    if (a->target != NULL && (addr_parse(&addr, a->target) != 0 || addr_is_unix(&addr)))
        err_die(ERR_EXIT_USAGE, "--target '%s' (expected HOST:PORT)", a->target);
    copy = strdup(a->tags ? a->tags : "");
    if (copy == NULL || agent_wire_parse_tags(copy, keys, values, &n, &err) != 0)
        err_die(ERR_EXIT_USAGE, "%s", err.msg);
    free(copy);
}

static char *
make_register_body(struct agent *a)
{
    const char *keys[AGENT_WIRE_MAX_TAGS], *values[AGENT_WIRE_MAX_TAGS];
    struct deploy_tag tags[AGENT_WIRE_MAX_TAGS];
    struct deploy_agent_register reg;
    struct err err = {0};
    char *copy = strdup(a->tags ? a->tags : ""), *body;
    size_t n = 0;

    if (copy == NULL || agent_wire_parse_tags(copy, keys, values, &n, &err) != 0)
        err_die(ERR_EXIT_USAGE, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        tags[i] = (struct deploy_tag){.key = keys[i], .value = values[i]};
    memset(&reg, 0, sizeof(reg));
    reg.name = a->name;
    reg.tags = tags;
    reg.ntags = n;
    reg.target = a->target;
    reg.agent_version = CUTOVER_VERSION;
    body = deploy_agent_register_format(&reg);
    free(copy);
    return body;
}

static void
parse_args(struct agent *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"name", required_argument, NULL, OPT_NAME},
        {"tags", required_argument, NULL, OPT_TAGS},
        {"target", required_argument, NULL, OPT_TARGET},
        {"root", required_argument, NULL, OPT_ROOT},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"poll-wait", required_argument, NULL, OPT_POLL_WAIT},
        {"max-revisions", required_argument, NULL, OPT_MAXREV},
        {"once", no_argument, NULL, OPT_ONCE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = AGENT_DEFAULT_ROOT, *env;
    int c, rc;

    a->server = getenv("CUTOVER_SERVER");
    if ((env = getenv("CUTOVER_ENROLL_TOKEN")) != NULL)
        a->token = strdup(env);
    a->poll_wait_s = DEPLOY_AGENT_DEFAULT_WAIT_S;
    a->max_revisions = 5;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        parse_flag(a, c, optarg, &root);
    if (optind < argc)
        err_die(ERR_EXIT_USAGE, "unexpected argument '%s' (see cutover agent --help)",
                argv[optind]);
    check_flags(a);
    if ((rc = fsops_mkdir_p(root, 0755)) != 0 || realpath(root, a->root) == NULL)
        err_die(ERR_EXIT_USAGE, "--root %s: %s", root, strerror(rc ? -rc : errno));
    if (strlen(a->root) > 1024)
        err_die(ERR_EXIT_USAGE, "--root %s: path too long (at most 1024 bytes)", a->root);
    (void)fsops_path(a->state_dir, sizeof(a->state_dir), "%s/agent-state", a->root);
    (void)fsops_path(a->bundles_dir, sizeof(a->bundles_dir), "%s/bundles", a->state_dir);
}

/* ---- main loop ---- */

/* SIGTERM/SIGINT outside lifecycle_run (which traps them itself and restores the default when it
 * returns): exit at once, cleanly. Safe at any point: reports are renamed into the outbox whole,
 * and a command cut short here is reported as interrupted (code 7) by the next start. */
static void
on_stop_signal(int signum)
{
    (void)signum;
    _exit(ERR_EXIT_OK);
}

static void
trap_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Registers, retrying transient failures with backoff (forever unless --once). */
static int
register_agent(struct agent *a, struct err *err)
{
    int rc;

    for (unsigned attempt = 0;; attempt++) {
        if ((rc = agent_client_register(&a->client, err)) == 0) {
            log_info("registered as %s (heartbeat every %u s)", a->client.instance_name,
                     (unsigned)agent_client_heartbeat_s(&a->client));
            return 0;
        }
        if (a->once)
            return rc;
        if (!agent_client_is_transient(rc) && rc != -EACCES && rc != -EPERM)
            return rc;
        log_warn("cannot register with %s, retrying: %s", a->server, err->msg);
        sleep_ms(agent_wire_backoff_ms(attempt, BACKOFF_MAX_MS, agent_wire_jitter()));
    }
}

static int
poll_loop(struct agent *a, struct err *err)
{
    struct deploy_command_list list;
    unsigned attempt = 0;
    int rc;

    for (;;) {
        rc = agent_client_poll(&a->client, a->poll_wait_s, &list, err);
        if (rc != 0) {
            if (a->once)
                return rc;
            log_warn("polling %s for commands failed, retrying: %s", a->server, err->msg);
            sleep_ms(agent_wire_backoff_ms(attempt++, BACKOFF_MAX_MS, agent_wire_jitter()));
            continue;
        }
        attempt = 0;
        for (size_t i = 0; i < list.n && !a->interrupted; i++) {
            a->commands_run++;
            if (!agent_run_command(a, &list.items[i]))
                a->commands_failed++;
            trap_stop_signals();
        }
        deploy_agent_commands_fini(&list);
        if (a->once || a->interrupted)
            return 0;
    }
}

/* Waits (bounded) for the reporter to empty the outbox. True when it did. */
static bool
flush_outbox(struct agent *a, uint64_t timeout_ms)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    size_t left;

    for (;;) {
        pthread_mutex_lock(&a->lock);
        left = agent_outbox_count(&a->outbox);
        pthread_mutex_unlock(&a->lock);
        if (left == 0)
            return true;
        if (mono_ms() >= deadline) {
            log_warn("%zu reports not delivered yet; they stay queued under %s", left,
                     a->state_dir);
            return false;
        }
        sleep_ms(50);
    }
}

static void
stop_reporter(struct agent *a)
{
    if (!a->reporter_started)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->reporter, NULL);
    a->reporter_started = false;
}

static void
start_reporter(struct agent *a)
{
    sigset_t block, old;

    /* signals go to the main thread, where the lifecycle engine traps them during a command */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (pthread_create(&a->reporter, NULL, reporter_main, a) != 0)
        err_die(ERR_EXIT_FAILED, "cannot start the reporter thread");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    a->reporter_started = true;
}

static void
init_state(struct agent *a)
{
    pthread_condattr_t ca;
    struct err err = {0};
    size_t n = sizeof(a->self_exe);
    int rc;

    if (uv_exepath(a->self_exe, &n) != 0)
        err_die(ERR_EXIT_FAILED, "cannot find this executable");
    if ((rc = fsops_mkdir_p(a->bundles_dir, 0700)) != 0)
        err_die(ERR_EXIT_USAGE, "%s: %s", a->bundles_dir, strerror(-rc));
    if (agent_outbox_open(&a->outbox, a->state_dir, &err) != 0)
        err_die(ERR_EXIT_USAGE, "%s", err.msg);
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (asprintf(&a->extra_env[0], "CUTOVER_INSTANCE_NAME=%s", a->name) < 0 ||
        asprintf(&a->extra_env[1], "CUTOVER_TARGET=%s", a->target ? a->target : "") < 0)
        err_die(ERR_EXIT_FAILED, "out of memory");
    a->register_body = make_register_body(a);
    agent_client_init(&a->client, a->server, a->token, a->cafile, a->register_body);
}

static void
agent_free(struct agent *a)
{
    agent_client_fini(&a->client);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->extra_env[0]);
    free(a->extra_env[1]);
    free(a->register_body);
    free(a->tags);
    if (a->token != NULL)
        explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    free(a);
}

static int
run(struct agent *a)
{
    struct err err = {0};
    int rc, status = ERR_EXIT_OK;

    agent_run_recover(a);
    if ((rc = register_agent(a, &err)) != 0) {
        log_error("cannot register with %s: %s", a->server, err.msg);
        return agent_client_is_transient(rc) ? ERR_EXIT_TEMPFAIL : ERR_EXIT_FAILED;
    }
    start_reporter(a);
    rc = poll_loop(a, &err);
    if (rc != 0) {
        log_error("polling %s failed: %s", a->server, err.msg);
        status = agent_client_is_transient(rc) ? ERR_EXIT_TEMPFAIL : ERR_EXIT_FAILED;
    } else if (a->once && a->commands_failed > 0) {
        status = ERR_EXIT_FAILED;
    }
    if (!flush_outbox(a, a->once ? ONCE_FLUSH_MS : STOP_FLUSH_MS) && a->once)
        status = ERR_EXIT_TEMPFAIL;
    stop_reporter(a);
    return status;
}

int
agent_main(int argc, char **argv)
{
    struct agent *a = calloc(1, sizeof(*a));
    int status;

    if (a == NULL)
        err_die(ERR_EXIT_FAILED, "out of memory");
    log_init("agent", LOG_INFO);
    parse_args(a, argc, argv);
    if (a->check) {
        printf("ok\n");
        free(a->tags);
        free(a->token);
        free(a);
        return ERR_EXIT_OK;
    }
    signal(SIGPIPE, SIG_IGN);
    trap_stop_signals();
    if (http_fetch_global_init() != 0)
        err_die(ERR_EXIT_FAILED, "cannot initialise libcurl");
    init_state(a);
    log_info("agent %s starting: server %s, root %s, %zu reports queued", a->name, a->server,
             a->root, agent_outbox_count(&a->outbox));
    status = run(a);
    agent_free(a);
    return status;
}
