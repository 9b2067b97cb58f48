/* SPDX-License-Identifier: ISC */
/* server/orchestrator on a real loop with a real store (SQLite file), a real `cutover proxy`
 * and real backends (tests/backend/backend.py) as the fleets' targets. The agents are played
 * in-process through the store, as the API would record them: each tick they claim their
 * commands and report every event Succeeded (or Failed where a test says so) with a
 * heartbeat. Covers blue/green AllAtOnce (roles swap each release), a ValidateService failure
 * (traffic never moves, restore rollback), an alarm after the shift (traffic back, ALARM_ACTIVE,
 * rollback), a canary resumed by a second orchestrator after the first one stopped mid-split,
 * a silent agent (AGENT_ISSUE), in-place OneAtATime (one host out of the group at a time), and
 * in-place HalfAtATime holding a start while a deployed host is unhealthy (HEALTH_CONSTRAINTS
 * after healthCheck.timeout, or going on once it recovers). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/err.h"
#include "common/addr.h"
#include "common/http_fetch.h"
#include "common/http_server.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"
#include "protocol/proxy_api.h"
#include "server/orchestrator.h"
#include "server/server.h"
#include "server/store.h"

#define NHOSTS 3

struct host {
    char name[32];
    char tags_key[16], tags_value[16];
    int port;
    char target[32];
    bool silent;            /* plays a dead agent: claims nothing, no heartbeat */
    bool sicken;            /* its backend fails /health before it reports AfterAllowTraffic,
                             * which it reports once the proxy has marked it unhealthy */
    bool sick;              /* told to fail /health */
    const char *fail_event; /* reports this event Failed */
};

struct world {
    uv_loop_t loop;
    struct server srv;
    uv_timer_t agents;
    uv_process_t procs[8];
    int nprocs;
    int admin_port, web_port;
    char admin[64];
    char dir[64];
    struct host hosts[NHOSTS * 2];
    size_t nhosts;
    int max_out;                   /* in place: most hosts deregistered from "web" at once */
    bool traffic_load;             /* send requests through the listener each agent tick */
    struct http_server *hooks_srv; /* webhook receiver */
    int hooks_port;
    char hooks_seen[1024]; /* triggerEvent values received, space separated */
    bool in_place;
    const char *config; /* the deployment's config (NULL: by in_place) */
    bool green_serves;  /* the proxy starts with green 100, blue 0 */
};

static struct world W;

/* ---- the server's two functions the orchestrator calls (server.c in the binary) ---- */

void
server_command_queued(struct server *srv, const char *instance)
{
    (void)srv;
    (void)instance;
}

void
server_set_hooks(struct server *srv, const struct server_hooks *hooks)
{
    srv->hooks = *hooks;
}

/* ---- processes ---- */

static int
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)p;
    (void)status;
    (void)sig;
}

static void
spawn(const char *const *argv)
{
    uv_process_options_t o = {
        .file = argv[0], .args = (char **)(uintptr_t)argv, .exit_cb = on_exit_cb};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 2}};

    o.stdio = stdio;
    o.stdio_count = 3;
    assert_int_equal(uv_spawn(&W.loop, &W.procs[W.nprocs], &o), 0);
    W.nprocs++;
}

static long
http(const char *method, const char *path, const char *body, struct buf *out, int port)
{
    struct http_fetch_response r;
    struct err err;
    char url[256];
    long st;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    if (http_fetch_request(method, url, NULL, body, body != NULL ? strlen(body) : 0, 3000, &r,
                           &err) < 0)
        return -1;
    st = r.status;
    if (out != NULL) {
        buf_init(out);
        buf_append(out, r.body.data != NULL ? r.body.data : "", r.body.len);
    }
    http_fetch_response_fini(&r);
    return st;
}

/* The weight <group> has on <listener> now (-1: not forwarded to). */
static int
weight_on(const char *listener, const char *group)
{
    struct buf b;
    struct proxy_api_listeners ls;
    int w = -1;

    assert_int_equal(http("GET", "/listeners", NULL, &b, W.admin_port), 200);
    assert_int_equal(proxy_api_listeners_parse(&ls, b.data, b.len, NULL), 0);
    for (size_t i = 0; i < ls.n; i++)
        for (size_t k = 0;
             strcmp(ls.items[i].name, listener) == 0 && k < ls.items[i].action.nforward; k++)
            if (strcmp(ls.items[i].action.forward[k].target_group, group) == 0)
                w = (int)ls.items[i].action.forward[k].weight;
    proxy_api_listeners_fini(&ls);
    buf_fini(&b);
    return w;
}

static int
weight_of(const char *group)
{
    return weight_on("web", group);
}

/* Targets registered in <group>, not draining. */
static int
registered_in(const char *group)
{
    struct buf b;
    struct proxy_api_health h;
    char path[128];
    int n = 0;

    snprintf(path, sizeof(path), "/target-groups/%s/health", group);
    if (http("GET", path, NULL, &b, W.admin_port) != 200)
        return -1;
    assert_int_equal(proxy_api_health_parse(&h, b.data, b.len, NULL), 0);
    for (size_t i = 0; i < h.ntargets; i++)
        n += strcmp(h.targets[i].state, "draining") != 0;
    proxy_api_health_fini(&h);
    buf_fini(&b);
    return n;
}

/* Targets of <group> in state healthy. */
static int
healthy_in(const char *group)
{
    struct buf b;
    struct proxy_api_health h;
    char path[128];
    int n = 0;

    snprintf(path, sizeof(path), "/target-groups/%s/health", group);
    if (http("GET", path, NULL, &b, W.admin_port) != 200)
        return -1;
    assert_int_equal(proxy_api_health_parse(&h, b.data, b.len, NULL), 0);
    for (size_t i = 0; i < h.ntargets; i++)
        n += strcmp(h.targets[i].state, "healthy") == 0;
    proxy_api_health_fini(&h);
    buf_fini(&b);
    return n;
}

static char watched_dep[STORE_ID_MAX]; /* the deployment a test watches (agents, steps) */

/* ---- the agents, played through the store ---- */

/* The state of <target> in <group> ("" when not registered). */
static void
target_state(const char *group, const char *target, char *out, size_t size)
{
    struct buf b;
    struct proxy_api_health h;
    char path[128];

    snprintf(out, size, "%s", "");
    snprintf(path, sizeof(path), "/target-groups/%s/health", group);
    if (http("GET", path, NULL, &b, W.admin_port) != 200)
        return;
    assert_int_equal(proxy_api_health_parse(&h, b.data, b.len, NULL), 0);
    for (size_t i = 0; i < h.ntargets; i++)
        if (strcmp(h.targets[i].target, target) == 0)
            snprintf(out, size, "%s", h.targets[i].state);
    proxy_api_health_fini(&h);
    buf_fini(&b);
}

static bool
has_queued(const struct host *h, const char *first_event)
{
    struct store_command_list l;
    bool yes = false;

    memset(&l, 0, sizeof(l));
    if (watched_dep[0] == '\0' || store_command_list(W.srv.store, watched_dep, &l) < 0)
        return false;
    for (size_t i = 0; i < l.n; i++)
        yes |= strcmp(l.items[i].instance, h->name) == 0 &&
               l.items[i].state == STORE_COMMAND_QUEUED && l.items[i].nevents > 0 &&
               strcmp(l.items[i].events[0], first_event) == 0;
    store_command_list_fini(&l);
    return yes;
}

/* A host flagged sicken: true while its AfterAllowTraffic must wait (its backend told to fail
 * /health, the proxy not showing it unhealthy yet). */
static bool
sickening(struct host *h)
{
    char state[32];

    if (!h->sicken || !has_queued(h, "AfterAllowTraffic"))
        return false;
    if (!h->sick) {
        assert_int_equal(http("POST", "/_control", "{\"health\": \"fail\"}", NULL, h->port), 200);
        h->sick = true;
    }
    target_state("web", h->target, state, sizeof(state));
    return strcmp(state, "unhealthy") != 0;
}

static void
report(struct host *h, const struct store_command *cmd)
{
    bool failed = false;

    for (size_t i = 0; i < cmd->nevents; i++) {
        struct deploy_event ev = {.name = cmd->events[i], .start_ms = deploy_time_now_ms()};
        ev.end_ms = ev.start_ms;
        ev.diag.exit_code = -1;
        if (failed) {
            ev.status = DEPLOY_EVENT_SKIPPED;
        } else if (h->fail_event != NULL && strcmp(h->fail_event, cmd->events[i]) == 0) {
            ev.status = DEPLOY_EVENT_FAILED;
            ev.diag.error_code = "ScriptFailed";
            ev.diag.script_name = "scripts/validate.sh";
            ev.diag.message = "failed with exit code 3";
            ev.diag.exit_code = 3;
            failed = true;
        } else {
            ev.status = DEPLOY_EVENT_SUCCEEDED;
        }
        assert_int_equal(store_event_upsert(W.srv.store, cmd->deployment_id, h->name, &ev), 0);
        if (W.srv.hooks.event_reported != NULL)
            W.srv.hooks.event_reported(W.srv.hooks.ud, cmd->id, h->name, NULL);
    }
}

static void
on_agents_tick(uv_timer_t *t)
{
    int out = 0;

    (void)t;
    for (size_t i = 0; i < W.nhosts; i++) {
        struct host *h = &W.hosts[i];
        struct store_command_list l;
        if (h->silent)
            continue;
        store_instance_heartbeat(W.srv.store, h->name, NULL);
        if (sickening(h))
            continue;
        memset(&l, 0, sizeof(l));
        if (store_command_claim(W.srv.store, h->name, &l) == 0)
            for (size_t k = 0; k < l.n; k++)
                report(h, &l.items[k]);
        store_command_list_fini(&l);
    }
    if (W.max_out >= 0) {
        out = NHOSTS - healthy_in("web");
        if (out > W.max_out)
            W.max_out = out;
    }
    if (W.traffic_load)
        for (int i = 0; i < 20; i++)
            http("GET", "/", NULL, NULL, W.web_port);
}

/* ---- webhooks ---- */

static void
on_webhook(struct http_server_req *req, void *ud)
{
    size_t len = 0;
    const char *body = http_server_req_body(req, &len);
    const char *ev = body != NULL ? strstr(body, "\"triggerEvent\":\"") : NULL;
    size_t used = strlen(W.hooks_seen);

    (void)ud;
    if (ev != NULL) {
        ev += strlen("\"triggerEvent\":\"");
        snprintf(W.hooks_seen + used, sizeof(W.hooks_seen) - used, "%.*s ", (int)strcspn(ev, "\""),
                 ev);
    }
    http_server_respond(req, 200, "application/json", "{}", 2);
}

static void
start_webhooks(void)
{
    struct http_server_conf conf = {0};
    struct http_server_callbacks cb = {.on_request = on_webhook};
    struct addr a;
    struct err err;

    assert_int_equal(http_server_new(&W.hooks_srv, &W.loop, &conf, &cb, &err), 0);
    assert_int_equal(addr_parse(&a, "127.0.0.1:1"), 0);
    ((struct sockaddr_in *)&a.ss)->sin_port = 0; /* any free port */
    assert_int_equal(http_server_listen(W.hooks_srv, &a, &err), 0);
    W.hooks_port = http_server_port(W.hooks_srv);
}

/* ---- setup ---- */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
add_host(const char *name, const char *key, const char *value)
{
    struct host *h = &W.hosts[W.nhosts++];
    char port_s[16];
    struct deploy_tag tag = {key, value};
    struct deploy_onprem o = {.name = name, .tags = &tag, .ntags = 1};

    snprintf(h->name, sizeof(h->name), "%s", name);
    h->port = free_port();
    snprintf(h->target, sizeof(h->target), "127.0.0.1:%d", h->port);
    snprintf(port_s, sizeof(port_s), "%d", h->port);
    spawn((const char *[]){"/usr/bin/python3", CUTOVER_BACKEND, "--port", port_s, "--name", name,
                           NULL});
    o.target = h->target;
    o.agent_version = "test";
    snprintf(h->tags_key, sizeof(h->tags_key), "%s", key);
    snprintf(h->tags_value, sizeof(h->tags_value), "%s", value);
    assert_int_equal(store_instance_upsert(W.srv.store, &o, name), 0); /* any unique hash */
}

/* A proxy with groups blue, green (and web for in place), listener web on blue. */
static void
start_proxy(void)
{
    char conf[4096], path[128];
    const char *hc = "    deregistration_delay: 1s\n    health_check: {path: /health, interval: "
                     "200ms, timeout: 150ms, healthy_threshold: 2, unhealthy_threshold: 2}\n";
    size_t n;

    W.admin_port = free_port();
    W.web_port = free_port();
    snprintf(W.admin, sizeof(W.admin), "http://127.0.0.1:%d", W.admin_port);
    n = (size_t)snprintf(
        conf, sizeof(conf),
        "admin: 127.0.0.1:%d\nworkers: 1\nlisteners:\n  web:\n"
        "    bind: 127.0.0.1:%d\n    forward:\n"
        "      - {target_group: blue, weight: %d}\n"
        "      - {target_group: green, weight: %d}\n"
        "  app:\n    bind: 127.0.0.1:%d\n    forward: [{target_group: web, weight: 1}]\n"
        "  test:\n    bind: 127.0.0.1:%d\n    forward: [{target_group: blue, weight: 1}]\n"
        "target_groups:\n  blue:\n%s    targets: []\n  green:\n%s    targets: []\n"
        "  web:\n%s    targets: [",
        W.admin_port, W.web_port, W.green_serves ? 0 : 100, W.green_serves ? 100 : 0, free_port(),
        free_port(), hc, hc, hc);
    for (size_t i = 0, k = 0; i < W.nhosts; i++)
        if (strcmp(W.hosts[i].tags_value, "web") == 0)
            n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s%s", k++ > 0 ? ", " : "",
                                  W.hosts[i].target);
    snprintf(conf + n, sizeof(conf) - n, "]\n");
    snprintf(path, sizeof(path), "%s/proxy.yaml", W.dir);
    write_file(path, conf);
    spawn((const char *[]){CUTOVER_BIN, "proxy", "-c", path, NULL});
    for (int i = 0; i < 100 && http("GET", "/healthz", NULL, NULL, W.admin_port) != 200; i++)
        usleep(100 * 1000); /* bounded wait for the proxy to listen */
}

static void
create_group(const char *json_template)
{
    char json[4096];
    const char *mark = strstr(json_template, "@ADMIN@");
    struct deploy_group g;
    struct err err;
    char id[STORE_ID_MAX];

    char *h;

    assert_non_null(mark);
    snprintf(json, sizeof(json), "%.*s%s%s", (int)(mark - json_template), json_template, W.admin,
             mark + strlen("@ADMIN@"));
    h = strstr(json, "@HOOKS@");
    if (h != NULL) {
        char rest[4096];
        snprintf(rest, sizeof(rest), "%s", h + strlen("@HOOKS@"));
        snprintf(h, sizeof(json) - (size_t)(h - json), "http://127.0.0.1:%d/hook%s", W.hooks_port,
                 rest);
    }
    if (deploy_group_parse(json, strlen(json), "group.json", &g, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(store_group_create(W.srv.store, &g, json, id), 0);
    deploy_group_fini(&g);
}

static void
world_init(void)
{
    char db[128];
    struct err err;

    memset(&W, 0, sizeof(W));
    W.max_out = -1;
    assert_int_equal(uv_loop_init(&W.loop), 0);
    snprintf(W.dir, sizeof(W.dir), "/tmp/cutover-orch-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    snprintf(db, sizeof(db), "%s/cutover.db", W.dir);
    if (store_open(&W.srv.store, db, &err) < 0)
        fail_msg("%s", err.msg);
    W.srv.loop = &W.loop;
    assert_int_equal(store_application_create(W.srv.store, "web"), 0);
    uv_timer_init(&W.loop, &W.agents);
    uv_timer_start(&W.agents, on_agents_tick, 20, 20);
    start_webhooks();
}

static int
teardown(void **state)
{
    char cmd[160];

    (void)state;
    orchestrator_stop(&W.srv);
    uv_close((uv_handle_t *)&W.agents, NULL);
    if (W.hooks_srv != NULL)
        http_server_close(W.hooks_srv, NULL, NULL);
    for (int i = 0; i < W.nprocs; i++) {
        uv_process_kill(&W.procs[i], SIGKILL);
        uv_close((uv_handle_t *)&W.procs[i], NULL);
    }
    uv_run(&W.loop, UV_RUN_DEFAULT);
    uv_loop_close(&W.loop);
    store_close(W.srv.store);
    snprintf(cmd, sizeof(cmd), "%s", W.dir);
    for (const char *f = "proxy.yaml\0cutover.db\0cutover.db-wal\0cutover.db-shm\0"; *f != '\0';
         f += strlen(f) + 1) {
        char p[200];
        snprintf(p, sizeof(p), "%s/%s", cmd, f);
        unlink(p);
    }
    rmdir(cmd);
    return 0;
}

static const char *
new_revision(const char *hex_char)
{
    static char id[80];
    char hex[65];
    struct deploy_revision r = {0};

    memset(hex, hex_char[0], 64);
    hex[64] = '\0';
    snprintf(id, sizeof(id), "sha256:%s", hex);
    r.revision_id = id;
    r.sha256 = hex;
    r.application_name = "web";
    r.bundle_type = "tgz";
    r.size = 1;
    assert_int_equal(store_revision_insert(W.srv.store, &r), 0);
    return id;
}

static void
create_deployment(const char *rev, char *id_out)
{
    struct deploy_info info = {0};
    char active[STORE_ID_MAX];

    info.application_name = "web";
    info.group_name = "prod";
    info.revision_id = rev;
    info.config_name = W.config != NULL ? W.config
                       : W.in_place     ? "CodeDeployDefault.OneAtATime"
                                        : "CodeDeployDefault.AllAtOnce";
    info.creator = "user";
    info.auto_rollback_override = -1;
    info.type = W.in_place ? DEPLOY_TYPE_IN_PLACE : DEPLOY_TYPE_BLUE_GREEN;
    info.option = DEPLOY_OPTION_WITH_TRAFFIC_CONTROL;
    assert_int_equal(store_deployment_create(W.srv.store, &info, id_out, active), 0);
    if (W.srv.hooks.deployment_created != NULL)
        W.srv.hooks.deployment_created(W.srv.hooks.ud, id_out);
}

/* Runs the loop until deployment <id> has a terminal status (bounded); returns it. */
static enum deploy_status
wait_final(const char *id, unsigned seconds, struct store_deployment *out)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)seconds * 1000000000ull;
    enum deploy_status st = DEPLOY_CREATED;

    while (uv_hrtime() < deadline) {
        struct store_deployment d;
        uv_run(&W.loop, UV_RUN_ONCE);
        memset(&d, 0, sizeof(d));
        assert_int_equal(store_deployment_get(W.srv.store, id, &d), 0);
        st = d.info.status;
        if (st == DEPLOY_SUCCEEDED || st == DEPLOY_FAILED || st == DEPLOY_STOPPED) {
            if (out != NULL)
                *out = d;
            else
                store_deployment_fini(&d);
            return st;
        }
        store_deployment_fini(&d);
    }
    fail_msg("deployment %s still %s after %u s", id, deploy_status_name(st), seconds);
    return st;
}

/* Runs the loop until <pred> holds (bounded). */
static void
run_until(bool (*pred)(void), unsigned seconds, const char *what)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)seconds * 1000000000ull;

    while (!pred()) {
        if (uv_hrtime() > deadline)
            fail_msg("timed out waiting for %s", what);
        uv_run(&W.loop, UV_RUN_ONCE);
    }
}

static const char *const bg_group =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.AllAtOnce\","
    "\"deploymentStyle\":{\"deploymentType\":\"BLUE_GREEN\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"blueGreenFleets\":[{\"tag\":{\"Key\":\"fleet\",\"Value\":\"blue\"},\"targetGroup\":\"blue\"}"
    ","
    "{\"tag\":{\"Key\":\"fleet\",\"Value\":\"green\"},\"targetGroup\":\"green\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"listener\":\"web\","
    "\"testListener\":\"test\"},"
    "\"trafficRoutingConfig\":{\"type\":\"AllAtOnce\"},"
    "\"triggerConfigurations\":[{\"triggerName\":\"ops\",\"url\":\"@HOOKS@\","
    "\"triggerEvents\":[\"DeploymentStart\",\"DeploymentSuccess\",\"DeploymentFailure\","
    "\"DeploymentRollback\",\"InstanceReady\"]}],"
    "\"blueGreenDeploymentConfiguration\":{\"deploymentReadyOption\":{\"actionOnTimeout\":"
    "\"CONTINUE_DEPLOYMENT\"},\"terminateBlueInstancesOnDeploymentSuccess\":{\"action\":"
    "\"KEEP_ALIVE\",\"terminationWaitTimeInMinutes\":\"2s\"}},"
    "\"autoRollbackConfiguration\":{\"enabled\":true,\"events\":[\"DEPLOYMENT_FAILURE\","
    "\"DEPLOYMENT_STOP_ON_ALARM\"]},"
    "\"alarmConfiguration\":{\"enabled\":true,\"alarms\":[{\"name\":\"errors\","
    "\"metric\":\"target_5xx_ratio\",\"targetGroup\":\"replacement\",\"threshold\":0.01,"
    "\"window\":\"5s\"}]},"
    "\"healthCheck\":{\"timeout\":\"20s\"}}";

static void
blue_green_world(void)
{
    world_init();
    add_host("blue-1", "fleet", "blue");
    add_host("green-1", "fleet", "green");
    start_proxy();
    create_group(bg_group);
    assert_int_equal(orchestrator_start(&W.srv), 0);
}

static void
instance_type_is(const char *dep, const char *name, enum deploy_instance_type want)
{
    struct deploy_instance_summaries s;

    assert_int_equal(store_target_get(W.srv.store, dep, name, &s), 0);
    assert_int_equal(s.items[0].instance_type, want);
    deploy_info_instances_fini(&s);
}

static bool
hooks_delivered(void)
{
    const char *p = W.hooks_seen;
    int n = 0;

    while ((p = strstr(p, "DeploymentSuccess")) != NULL) {
        n++;
        p++;
    }
    return n == 2;
}

static void
blue_green_swaps_roles_each_release(void **state)
{
    char d1[STORE_ID_MAX], d2[STORE_ID_MAX];

    (void)state;
    blue_green_world();
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    instance_type_is(d1, "green-1", DEPLOY_INSTANCE_TYPE_GREEN);
    assert_int_equal(weight_of("green"), 100);
    assert_int_equal(weight_of("blue"), 0);
    assert_int_equal(registered_in("blue"), 0); /* the original's BlockTraffic deregistered it */
    assert_int_equal(registered_in("green"), 1);

    assert_int_equal(weight_on("test", "green"), 1); /* the test listener saw green first */
    create_deployment(new_revision("b"), d2);
    assert_int_equal(wait_final(d2, 30, NULL), DEPLOY_SUCCEEDED);
    assert_int_equal(weight_on("test", "blue"), 1);
    instance_type_is(d2, "blue-1", DEPLOY_INSTANCE_TYPE_GREEN);
    instance_type_is(d2, "green-1", DEPLOY_INSTANCE_TYPE_BLUE);
    assert_int_equal(weight_of("blue"), 100);
    assert_int_equal(registered_in("green"), 0);
    run_until(hooks_delivered, 10, "webhooks");
    assert_non_null(strstr(W.hooks_seen, "DeploymentStart"));
    assert_non_null(strstr(W.hooks_seen, "InstanceReady"));
    assert_null(strstr(W.hooks_seen, "DeploymentFailure"));
}

static void
validate_failure_never_moves_traffic_and_restores(void **state)
{
    char d1[STORE_ID_MAX], d2[STORE_ID_MAX];
    struct store_deployment d, rb;
    char rbid[STORE_ID_MAX];

    (void)state;
    blue_green_world();
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    W.hosts[0].fail_event = "ValidateService"; /* blue-1 is the next replacement */
    create_deployment(new_revision("b"), d2);
    assert_int_equal(wait_final(d2, 30, &d), DEPLOY_FAILED);
    assert_int_equal(d.info.error_code, DEPLOY_ERR_SCRIPT_FAILED);
    assert_non_null(strstr(d.info.error_message, "ValidateService"));
    assert_non_null(d.info.rollback_deployment_id);
    snprintf(rbid, sizeof(rbid), "%s", d.info.rollback_deployment_id);
    store_deployment_fini(&d);
    assert_int_equal(weight_of("green"), 100); /* never moved */
    W.hosts[0].fail_event = NULL;
    assert_int_equal(wait_final(rbid, 30, &rb), DEPLOY_SUCCEEDED);
    assert_string_equal(rb.info.creator, "rollback");
    assert_string_equal(rb.info.rollback_triggering_deployment_id, d2);
    store_deployment_fini(&rb);
    assert_int_equal(weight_of("green"), 100);
    assert_int_equal(weight_of("blue"), 0);
}

static char alarm_dep[STORE_ID_MAX];

static bool
blue_has_all(void)
{
    return weight_of("blue") == 100;
}

static void
alarm_after_shift_moves_traffic_back(void **state)
{
    char d1[STORE_ID_MAX];
    struct store_deployment d;
    uint64_t t_shift, t_back;
    char rbid[STORE_ID_MAX];

    (void)state;
    blue_green_world();
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    /* green serves now; the next release goes to blue-1, which answers 500 */
    assert_int_equal(http("POST", "/_control", "{\"status\":500}", NULL, W.hosts[0].port), 200);
    W.traffic_load = true;
    create_deployment(new_revision("b"), alarm_dep);
    run_until(blue_has_all, 30, "the shift to the failing release");
    t_shift = uv_hrtime();
    assert_int_equal(wait_final(alarm_dep, 30, &d), DEPLOY_FAILED);
    t_back = uv_hrtime();
    W.traffic_load = false;
    assert_int_equal(d.info.error_code, DEPLOY_ERR_ALARM_ACTIVE);
    assert_true((t_back - t_shift) / 1000000ull < 5000);
    assert_int_equal(weight_of("green"), 100);
    assert_non_null(d.info.rollback_deployment_id);
    snprintf(rbid, sizeof(rbid), "%s", d.info.rollback_deployment_id);
    store_deployment_fini(&d);
    assert_int_equal(wait_final(rbid, 30, NULL), DEPLOY_SUCCEEDED);
    assert_int_equal(weight_of("green"), 100);
}

static const char *const canary_group =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.AllAtOnce\","
    "\"deploymentStyle\":{\"deploymentType\":\"BLUE_GREEN\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"blueGreenFleets\":[{\"tag\":{\"Key\":\"fleet\",\"Value\":\"blue\"},\"targetGroup\":\"blue\"}"
    ","
    "{\"tag\":{\"Key\":\"fleet\",\"Value\":\"green\"},\"targetGroup\":\"green\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"listener\":\"web\"},"
    "\"trafficRoutingConfig\":{\"type\":\"TimeBasedCanary\",\"timeBasedCanary\":"
    "{\"canaryPercentage\":10,\"canaryInterval\":\"3s\"}},"
    "\"blueGreenDeploymentConfiguration\":{\"deploymentReadyOption\":{\"actionOnTimeout\":"
    "\"CONTINUE_DEPLOYMENT\"},\"terminateBlueInstancesOnDeploymentSuccess\":{\"action\":"
    "\"KEEP_ALIVE\",\"terminationWaitTimeInMinutes\":0}},"
    "\"healthCheck\":{\"timeout\":\"20s\"}}";

static bool
green_has_ten(void)
{
    return weight_of("green") == 10;
}

static void
canary_resumes_after_the_orchestrator_stops_mid_split(void **state)
{
    char d1[STORE_ID_MAX];
    uint64_t t_canary, t_gap;

    (void)state;
    world_init();
    add_host("blue-1", "fleet", "blue");
    add_host("green-1", "fleet", "green");
    start_proxy();
    create_group(canary_group);
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    run_until(green_has_ten, 30, "the 10 % canary");
    t_canary = uv_hrtime();
    /* the server goes away mid-canary: nothing moves while it is gone */
    orchestrator_stop(&W.srv);
    t_gap = uv_hrtime() + 1000000000ull;
    while (uv_hrtime() < t_gap)
        uv_run(&W.loop, UV_RUN_NOWAIT), usleep(20 * 1000);
    assert_int_equal(weight_of("green"), 10);
    assert_int_equal(weight_of("blue"), 90);
    /* a new orchestrator on the same store resumes the canary and finishes it */
    assert_int_equal(orchestrator_start(&W.srv), 0);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    assert_true(uv_hrtime() - t_canary >= 3000000000ull); /* the interval was honoured */
    assert_int_equal(weight_of("green"), 100);
    assert_int_equal(weight_of("blue"), 0);
}

static void
silent_agent_fails_with_agent_issue(void **state)
{
    char d1[STORE_ID_MAX];
    struct store_deployment d;

    (void)state;
    blue_green_world();
    orchestrator_set_heartbeat_timeout(&W.srv, 1000);
    W.hosts[1].silent = true; /* green-1, the first replacement */
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 20, &d), DEPLOY_FAILED);
    assert_int_equal(d.info.error_code, DEPLOY_ERR_AGENT_ISSUE);
    assert_non_null(strstr(d.info.error_message, "green-1"));
    store_deployment_fini(&d);
    assert_int_equal(weight_of("blue"), 100); /* traffic never moved */
}

static const char *const in_place_group =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.OneAtATime\","
    "\"deploymentStyle\":{\"deploymentType\":\"IN_PLACE\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"onPremisesInstanceTagFilters\":[{\"Key\":\"app\",\"Value\":\"web\","
    "\"Type\":\"KEY_AND_VALUE\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"targetGroup\":\"web\"},"
    "\"healthCheck\":{\"timeout\":\"20s\"}}";

static const char *const in_place_group_rb =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.OneAtATime\","
    "\"deploymentStyle\":{\"deploymentType\":\"IN_PLACE\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"onPremisesInstanceTagFilters\":[{\"Key\":\"app\",\"Value\":\"web\","
    "\"Type\":\"KEY_AND_VALUE\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"targetGroup\":\"web\"},"
    "\"autoRollbackConfiguration\":{\"enabled\":true,\"events\":[\"DEPLOYMENT_FAILURE\"]},"
    "\"healthCheck\":{\"timeout\":\"20s\"}}";

static bool
all_three_healthy(void)
{
    return healthy_in("web") == NHOSTS;
}

static void
in_place_one_at_a_time_keeps_the_others_serving(void **state)
{
    char d1[STORE_ID_MAX];

    (void)state;
    world_init();
    W.in_place = true;
    add_host("web-1", "app", "web");
    add_host("web-2", "app", "web");
    add_host("web-3", "app", "web");
    start_proxy();
    create_group(in_place_group);
    run_until(all_three_healthy, 20, "three healthy targets");
    W.max_out = 0;
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 60, NULL), DEPLOY_SUCCEEDED);
    assert_int_equal(W.max_out, 1);
    assert_int_equal(healthy_in("web"), NHOSTS);
    for (size_t i = 0; i < NHOSTS; i++) {
        struct deploy_instance_summaries s;
        assert_int_equal(store_target_get(W.srv.store, d1, W.hosts[i].name, &s), 0);
        assert_int_equal(s.items[0].status, DEPLOY_INSTANCE_SUCCEEDED);
        assert_int_equal(s.items[0].nevents, 13); /* the whole lifecycle, traffic included */
        deploy_info_instances_fini(&s);
    }
}

static void
in_place_failure_stops_the_rollout_and_redeploys_the_last_good(void **state)
{
    char d1[STORE_ID_MAX], d2[STORE_ID_MAX], rbid[STORE_ID_MAX], good[80];
    struct store_deployment d;
    struct deploy_instance_summaries s;

    (void)state;
    world_init();
    W.in_place = true;
    add_host("web-1", "app", "web");
    add_host("web-2", "app", "web");
    add_host("web-3", "app", "web");
    start_proxy();
    create_group(in_place_group_rb);
    run_until(all_three_healthy, 20, "three healthy targets");
    assert_int_equal(orchestrator_start(&W.srv), 0);
    snprintf(good, sizeof(good), "%s", new_revision("a"));
    create_deployment(good, d1);
    assert_int_equal(wait_final(d1, 60, NULL), DEPLOY_SUCCEEDED);
    W.hosts[1].fail_event = "ValidateService";
    create_deployment(new_revision("b"), d2);
    assert_int_equal(wait_final(d2, 60, &d), DEPLOY_FAILED);
    assert_int_equal(d.info.error_code, DEPLOY_ERR_SCRIPT_FAILED);
    assert_non_null(d.info.rollback_deployment_id);
    snprintf(rbid, sizeof(rbid), "%s", d.info.rollback_deployment_id);
    store_deployment_fini(&d);
    /* the revision stopped at the failed host: the third never started */
    assert_int_equal(store_target_get(W.srv.store, d2, "web-3", &s), 0);
    assert_int_equal(s.items[0].status, DEPLOY_INSTANCE_SKIPPED);
    deploy_info_instances_fini(&s);
    W.hosts[1].fail_event = NULL;
    assert_int_equal(wait_final(rbid, 60, &d), DEPLOY_SUCCEEDED);
    assert_string_equal(d.info.revision_id, good);
    assert_string_equal(d.info.creator, "rollback");
    store_deployment_fini(&d);
    assert_int_equal(healthy_in("web"), NHOSTS);
}

static const char *const in_place_group_short =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.HalfAtATime\","
    "\"deploymentStyle\":{\"deploymentType\":\"IN_PLACE\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"onPremisesInstanceTagFilters\":[{\"Key\":\"app\",\"Value\":\"web\","
    "\"Type\":\"KEY_AND_VALUE\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"targetGroup\":\"web\"},"
    "\"healthCheck\":{\"timeout\":\"3s\"}}";

static const char *const in_place_group_half =
    "{\"applicationName\":\"web\",\"deploymentGroupName\":\"prod\","
    "\"deploymentConfigName\":\"CodeDeployDefault.HalfAtATime\","
    "\"deploymentStyle\":{\"deploymentType\":\"IN_PLACE\","
    "\"deploymentOption\":\"WITH_TRAFFIC_CONTROL\"},"
    "\"onPremisesInstanceTagFilters\":[{\"Key\":\"app\",\"Value\":\"web\","
    "\"Type\":\"KEY_AND_VALUE\"}],"
    "\"loadBalancerInfo\":{\"proxyAdmin\":\"@ADMIN@\",\"targetGroup\":\"web\"},"
    "\"healthCheck\":{\"timeout\":\"20s\"}}";

static enum deploy_instance_status
instance_status(const char *dep, const char *name)
{
    struct deploy_instance_summaries s;
    enum deploy_instance_status st;

    assert_int_equal(store_target_get(W.srv.store, dep, name, &s), 0);
    st = s.items[0].status;
    deploy_info_instances_fini(&s);
    return st;
}

static bool
web_1_done_and_sick(void)
{
    return W.hosts[0].sick && instance_status(watched_dep, "web-1") == DEPLOY_INSTANCE_SUCCEEDED &&
           healthy_in("web") == 2;
}

static void
instance_status_is(const char *dep, const char *name, enum deploy_instance_status want)
{
    struct deploy_instance_summaries s;

    assert_int_equal(store_target_get(W.srv.store, dep, name, &s), 0);
    assert_int_equal(s.items[0].status, want);
    deploy_info_instances_fini(&s);
}

/* HalfAtATime on three hosts: at least 2 serve. web-1 is deployed, then its target goes
 * unhealthy: only web-2 and web-3 serve, so neither may be taken out. The deployment holds,
 * then fails with HEALTH_CONSTRAINTS after healthCheck.timeout; web-2 and web-3 kept serving. */
static void
in_place_holds_a_start_below_the_minimum_then_fails(void **state)
{
    char d1[STORE_ID_MAX];
    struct store_deployment d;
    uint64_t t0;

    (void)state;
    world_init();
    W.in_place = true;
    W.config = "CodeDeployDefault.HalfAtATime";
    add_host("web-1", "app", "web");
    add_host("web-2", "app", "web");
    add_host("web-3", "app", "web");
    start_proxy();
    create_group(in_place_group_short);
    run_until(all_three_healthy, 20, "three healthy targets");
    W.hosts[0].sicken = true;
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    snprintf(watched_dep, sizeof(watched_dep), "%s", d1);
    t0 = uv_hrtime();
    assert_int_equal(wait_final(d1, 30, &d), DEPLOY_FAILED);
    assert_int_equal(d.info.error_code, DEPLOY_ERR_HEALTH_CONSTRAINTS);
    assert_non_null(strstr(d.info.error_message, "minimum healthy hosts"));
    store_deployment_fini(&d);
    assert_true(uv_hrtime() - t0 >= 3000000000ull); /* held for healthCheck.timeout */
    assert_true(W.hosts[0].sick);
    instance_status_is(d1, "web-1", DEPLOY_INSTANCE_SUCCEEDED);
    instance_status_is(d1, "web-2", DEPLOY_INSTANCE_SKIPPED);
    instance_status_is(d1, "web-3", DEPLOY_INSTANCE_SKIPPED);
    assert_int_equal(registered_in("web"), NHOSTS); /* nobody else was taken out */
    assert_int_equal(healthy_in("web"), 2);
}

/* The same hold, but web-1 recovers within healthCheck.timeout: the deployment goes on, web-2
 * and web-3 one at a time, and never more than one host is out of the group. */
static void
in_place_hold_ends_when_the_unhealthy_host_recovers(void **state)
{
    char d1[STORE_ID_MAX];
    uint64_t t_sick;

    (void)state;
    world_init();
    W.in_place = true;
    W.config = "CodeDeployDefault.HalfAtATime";
    add_host("web-1", "app", "web");
    add_host("web-2", "app", "web");
    add_host("web-3", "app", "web");
    start_proxy();
    create_group(in_place_group_half);
    run_until(all_three_healthy, 20, "three healthy targets");
    W.hosts[0].sicken = true;
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    snprintf(watched_dep, sizeof(watched_dep), "%s", d1);
    run_until(web_1_done_and_sick, 20, "web-1 deployed, then unhealthy");
    /* held: for a whole second neither web-2 nor web-3 is taken out */
    t_sick = uv_hrtime();
    while (uv_hrtime() - t_sick < 1000000000ull) {
        uv_run(&W.loop, UV_RUN_ONCE);
        assert_int_equal(instance_status(d1, "web-2"), DEPLOY_INSTANCE_PENDING);
        assert_int_equal(instance_status(d1, "web-3"), DEPLOY_INSTANCE_PENDING);
    }
    W.max_out = 0;
    assert_int_equal(http("POST", "/_control", "{\"health\": \"ok\"}", NULL, W.hosts[0].port), 200);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    assert_int_equal(W.max_out, 1);
    instance_status_is(d1, "web-2", DEPLOY_INSTANCE_SUCCEEDED);
    instance_status_is(d1, "web-3", DEPLOY_INSTANCE_SUCCEEDED);
}

static bool
in_termination_wait(void)
{
    struct store_deployment d;
    bool yes;

    memset(&d, 0, sizeof(d));
    assert_int_equal(store_deployment_get(W.srv.store, watched_dep, &d), 0);
    yes = d.step != NULL && strstr(d.step, "\"phase\":\"termination_wait\"") != NULL;
    store_deployment_fini(&d);
    return yes;
}

static bool
in_rollback_traffic(void)
{
    struct store_deployment d;
    bool yes;

    memset(&d, 0, sizeof(d));
    assert_int_equal(store_deployment_get(W.srv.store, watched_dep, &d), 0);
    yes = d.step != NULL && strstr(d.step, "\"phase\":\"rollback_traffic\"") != NULL;
    store_deployment_fini(&d);
    return yes;
}

static void
unreadable_alarm_state_stops_the_deployment(void **state)
{
    struct store_deployment d;
    char path[128];
    char group[4096];
    char *wait;

    (void)state;
    world_init();
    add_host("blue-1", "fleet", "blue");
    add_host("green-1", "fleet", "green");
    start_proxy();
    /* the blue/green group, with a termination wait long enough to lose the proxy in it */
    snprintf(group, sizeof(group), "%s", bg_group);
    wait = strstr(group, "\"terminationWaitTimeInMinutes\":\"2s\"");
    assert_non_null(wait);
    memcpy(wait + strlen("\"terminationWaitTimeInMinutes\":\""), "60", 2);
    create_group(group);
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), watched_dep);
    run_until(in_termination_wait, 30, "the termination wait");
    uv_process_kill(&W.procs[2], SIGKILL); /* the proxy: its metrics can no longer be read */
    run_until(in_rollback_traffic, 20, "the alarm on an unknown state");
    /* the proxy comes back (as after a crash): traffic is put back on the original */
    snprintf(path, sizeof(path), "%s/proxy.yaml", W.dir);
    spawn((const char *[]){CUTOVER_BIN, "proxy", "-c", path, NULL});
    assert_int_equal(wait_final(watched_dep, 40, &d), DEPLOY_FAILED);
    assert_int_equal(weight_of("blue"), 100);
    assert_int_equal(weight_of("green"), 0);
    assert_int_equal(d.info.error_code, DEPLOY_ERR_ALARM_ACTIVE);
    assert_non_null(strstr(d.info.error_message, "state unknown"));
    store_deployment_fini(&d);
}

static void
first_release_goes_to_the_fleet_the_listener_does_not_serve(void **state)
{
    char d1[STORE_ID_MAX];

    (void)state;
    world_init();
    W.green_serves = true;
    add_host("blue-1", "fleet", "blue");
    add_host("green-1", "fleet", "green");
    start_proxy();
    create_group(bg_group);
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    instance_type_is(d1, "blue-1", DEPLOY_INSTANCE_TYPE_GREEN); /* the replacement */
    instance_type_is(d1, "green-1", DEPLOY_INSTANCE_TYPE_BLUE);
    assert_int_equal(weight_of("blue"), 100);
    assert_int_equal(weight_of("green"), 0);
}

static bool
green_has_half(void)
{
    return weight_of("green") == 50 && weight_of("blue") == 50;
}

static void
linear_climbs_in_steps_to_all(void **state)
{
    char d1[STORE_ID_MAX], group[4096];
    char *canary;
    uint64_t t_half;

    (void)state;
    world_init();
    add_host("blue-1", "fleet", "blue");
    add_host("green-1", "fleet", "green");
    start_proxy();
    snprintf(group, sizeof(group), "%s", canary_group);
    canary = strstr(group, "\"trafficRoutingConfig\"");
    assert_non_null(canary);
    /* same length as the canary's routing, so the rest of the group stays in place */
    {
        const char *linear = "\"trafficRoutingConfig\":{\"type\":\"TimeBasedLinear\","
                             "\"timeBasedLinear\":{\"linearPercentage\":50,"
                             "\"linearInterval\":\"2s\"}},";
        const char *end = strstr(canary, "}},") + 3;
        char rest[4096];
        snprintf(rest, sizeof(rest), "%s", end);
        snprintf(canary, sizeof(group) - (size_t)(canary - group), "%s%s", linear, rest);
    }
    create_group(group);
    assert_int_equal(orchestrator_start(&W.srv), 0);
    create_deployment(new_revision("a"), d1);
    run_until(green_has_half, 30, "the 50 % step");
    t_half = uv_hrtime();
    assert_int_equal(wait_final(d1, 30, NULL), DEPLOY_SUCCEEDED);
    assert_true(uv_hrtime() - t_half >= 2000000000ull); /* held a whole interval */
    assert_int_equal(weight_of("green"), 100);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(blue_green_swaps_roles_each_release, teardown),
        cmocka_unit_test_teardown(validate_failure_never_moves_traffic_and_restores, teardown),
        cmocka_unit_test_teardown(alarm_after_shift_moves_traffic_back, teardown),
        cmocka_unit_test_teardown(canary_resumes_after_the_orchestrator_stops_mid_split, teardown),
        cmocka_unit_test_teardown(silent_agent_fails_with_agent_issue, teardown),
        cmocka_unit_test_teardown(in_place_one_at_a_time_keeps_the_others_serving, teardown),
        cmocka_unit_test_teardown(in_place_failure_stops_the_rollout_and_redeploys_the_last_good,
                                  teardown),
        cmocka_unit_test_teardown(in_place_holds_a_start_below_the_minimum_then_fails, teardown),
        cmocka_unit_test_teardown(in_place_hold_ends_when_the_unhealthy_host_recovers, teardown),
        cmocka_unit_test_teardown(unreadable_alarm_state_stops_the_deployment, teardown),
        cmocka_unit_test_teardown(first_release_goes_to_the_fleet_the_listener_does_not_serve,
                                  teardown),
        cmocka_unit_test_teardown(linear_climbs_in_steps_to_all, teardown),
    };

    assert_int_equal(http_fetch_global_init(), 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
