/* SPDX-License-Identifier: ISC */
/* `cutover demo` (see cli_demo.h): the site is set up step by step on the main thread
 * (demo_proc runs the processes and catches Ctrl-C between steps), the load runs on its own
 * thread (demo_load), and the deployments are followed through the server's REST API, with
 * the traffic split read from the proxy's admin API. Whatever happens, everything started is
 * stopped before the report is printed. */
#include "cli/cli_demo.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli_deploy.h"
#include "cli/demo_bundle.h"
#include "cli/demo_load.h"
#include "cli/demo_proc.h"
#include "cli/demo_site.h"
#include "cli/demo_stack.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/http_fetch.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/demo_report.h"
#include "protocol/deploy.h"
#include "protocol/deploy_info.h"
#include "protocol/deploy_progress.h"
#include "protocol/proxy_api.h"

#define DEMO_SHARE_BUNDLE "/usr/local/share/cutover/examples/webapp"
#define DEMO_BUDGET_MS (180 * 1000)   /* the whole scenario must fit */
#define DEMO_DEPLOY_TIMEOUT_MS 120000 /* one deployment */
#define DEMO_STEADY_MS 3000           /* load on a stable fleet between deployments */
#define DEMO_ROLLBACK_LIMIT_MS 5000   /* alarm → traffic back on the last good fleet */
#define DEMO_FAIL_EVERY 5             /* the bad release: every 5th GET / answers 500 */
#define DEMO_MAX_REQUESTS 20000000ull /* the load's request budget */

enum demo_phase {
    PHASE_V1 = 0, /* load on v1 */
    PHASE_V1_V2,  /* v2 deployed blue/green with a canary */
    PHASE_V2,     /* load on v2 */
    PHASE_V3,     /* the bad v3, its alarm and the rollback */
    PHASE_AFTER,  /* load on v2 again */
    PHASE_COUNT,
};

static const char *const phase_names[PHASE_COUNT] = {
    [PHASE_V1] = "v1",       [PHASE_V1_V2] = "v1->v2",      [PHASE_V2] = "v2",
    [PHASE_V3] = "v3 (bad)", [PHASE_AFTER] = "rolled back",
};

struct demo {
    struct demo_site site;
    struct demo_proc_set *ps;
    struct demo_load *load;
    struct arena arena; /* report strings */
    char bundle[PATH_MAX];
    unsigned connections;
    bool keep, json;
    FILE *live;       /* the live view: stdout, or stderr with --output json */
    uint64_t t0;      /* monotonic ms at start */
    int64_t wall_off; /* wall clock ms = monotonic ms + wall_off */
    int phase;        /* -1: no load yet */
    uint64_t phase_t0[PHASE_COUNT], phase_t1[PHASE_COUNT];
    uint64_t last_line; /* monotonic ms of the last live line */
    uint64_t last_total;
    struct demo_report rep;
    const char *blocker; /* why the scenario stopped, or NULL */
};

/* ---- small helpers ---- */

static uint64_t
mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static int64_t
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *
keep_str(struct demo *d, const char *s)
{
    return s != NULL ? arena_strdup(&d->arena, s) : NULL;
}

static void fail(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records what failed (the report lists it); the first failure of a step stops the scenario. */
static void
fail(struct demo *d, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d->rep.nfailed < DEMO_REPORT_MAX)
        d->rep.failed[d->rep.nfailed++] = keep_str(d, msg);
    if (d->blocker == NULL)
        d->blocker = d->rep.failed[d->rep.nfailed - 1];
}

static void say(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct demo *d, const char *fmt, ...)
{
    va_list ap;

    fprintf(d->live, "[%5.1fs] ", (double)(mono_ms() - d->t0) / 1000.0);
    va_start(ap, fmt);
    vfprintf(d->live, fmt, ap);
    va_end(ap);
    fputc('\n', d->live);
    fflush(d->live);
}

/* SITE/<rel>; the site's directory is short (/tmp/cutover-demo.XXXXXX), so it always fits. */
static void
path_in(const struct demo *d, char *out, size_t size, const char *rel)
{
    int n = snprintf(out, size, "%s/%s", d->site.dir, rel);

    ASSERT(n > 0 && (size_t)n < size);
}

/* ---- the proxy's traffic split ---- */

struct split {
    bool known;
    uint32_t weight[2]; /* per host fleet: blue, green */
};

static struct split
read_split(struct demo *d)
{
    struct http_fetch_response resp = {0};
    struct proxy_api_listeners ls;
    struct split s = {0};
    struct err err = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/listeners", d->site.admin_url);
    if (http_fetch_request("GET", url, NULL, NULL, 0, 2000, &resp, &err) != 0)
        return s;
    if (resp.status == 200 &&
        proxy_api_listeners_parse(&ls, resp.body.data, resp.body.len, &err) == 0) {
        for (size_t i = 0; i < ls.n; i++) {
            if (strcmp(ls.items[i].name, DEMO_STACK_LISTENER) != 0)
                continue;
            for (size_t f = 0; f < ls.items[i].action.nforward; f++)
                for (int h = 0; h < 2; h++)
                    if (strcmp(ls.items[i].action.forward[f].target_group,
                               d->site.hosts[h].fleet) == 0)
                        s.weight[h] = ls.items[i].action.forward[f].weight;
            s.known = true;
        }
        proxy_api_listeners_fini(&ls);
    }
    http_fetch_response_fini(&resp);
    return s;
}

/* ---- the live view ---- */

static void
live_line(struct demo *d, const struct deploy_info *info, const char *step, bool force)
{
    struct demo_load_snapshot snap;
    struct split sp;
    uint64_t now = mono_ms(), total = 0, fails = 0, p99 = 0;
    double rps = 0;
    char traffic[64] = "?";

    if (!force && now - d->last_line < 1000)
        return;
    sp = read_split(d);
    if (sp.known) {
        uint32_t sum = sp.weight[0] + sp.weight[1];

        snprintf(traffic, sizeof(traffic), "blue %3u%% green %3u%%",
                 sum ? sp.weight[0] * 100 / sum : 0, sum ? sp.weight[1] * 100 / sum : 0);
    }
    if (d->load != NULL && d->phase >= 0) {
        const struct demo_load_phase *p;

        demo_load_snapshot(d->load, &snap);
        p = &snap.phases[d->phase];
        for (int i = 0; i < PHASE_COUNT; i++)
            total += demo_load_total(&snap.phases[i]);
        fails = p->non2xx + p->errors;
        p99 = demo_load_quantile_us(p, 0.99);
        if (d->last_line != 0 && now > d->last_line)
            rps = (double)(total - d->last_total) * 1000.0 / (double)(now - d->last_line);
        d->last_total = total;
    }
    say(d, "%-12s %-22s %7.0f req/s  failures %-5llu p99 %6.1f ms  %s %s%s%s",
        d->phase >= 0 ? phase_names[d->phase] : "v1 (no load)", traffic, rps,
        (unsigned long long)fails, (double)p99 / 1000.0, info != NULL ? info->deployment_id : "-",
        info != NULL ? deploy_status_name(info->status) : "", step != NULL ? "/" : "",
        step != NULL ? step : "");
    d->last_line = now;
}

static void
enter_phase(struct demo *d, int phase)
{
    uint64_t now = mono_ms();

    if (d->phase >= 0)
        d->phase_t1[d->phase] = now;
    d->phase = phase;
    d->phase_t0[phase] = now;
    if (d->load != NULL)
        demo_load_set_phase(d->load, (unsigned)phase);
}

/* Keeps the live view going for <ms> on a steady fleet. */
static bool
steady(struct demo *d, uint64_t ms)
{
    uint64_t end = mono_ms() + ms;

    while (mono_ms() < end) {
        live_line(d, NULL, NULL, false);
        if (!demo_proc_sleep(d->ps, 100)) {
            fail(d, "interrupted");
            return false;
        }
    }
    return true;
}

/* ---- deployments ---- */

struct followed {
    char id[64];
    enum deploy_status status;
    const char *error_code, *error_message; /* in the demo's arena */
    const char *rollback_id, *rollback_message;
    const char *alarm;
    int64_t alarm_ms; /* wall: when the server decided to end it (rollback_traffic began) */
    int64_t seen_ms;  /* wall: when we first saw the alarm, the fallback for alarm_ms */
    int64_t start_ms, complete_ms;
    uint64_t t0, t1; /* monotonic: created, seen ended */
    char step[96];   /* progress.phase as last seen, and the alarm that fired */
};

static int
get_deployment(struct demo *d, const char *id, struct deploy_info *info)
{
    char path[128];
    struct buf out;
    long status = 0;
    int rc;

    snprintf(path, sizeof(path), "/v1/deployments/%s", id);
    buf_init(&out);
    rc = cli_deploy_call(&d->site.api, "GET", path, NULL, 0, NULL, &status, &out);
    if (rc == 0 && status == 200)
        rc = deploy_info_parse(out.data, out.len, info, NULL);
    else
        rc = -EIO;
    buf_fini(&out);
    return rc;
}

static void
note_progress(struct demo *d, struct followed *f, const struct deploy_info *info, const char **step)
{
    struct deploy_progress p;

    *step = NULL;
    if (info->progress_json == NULL ||
        deploy_progress_parse(&p, info->progress_json, strlen(info->progress_json), NULL) != 0)
        return;
    snprintf(f->step, sizeof(f->step), "%s%s%s", p.phase, p.alarm != NULL ? ", alarm " : "",
             p.alarm != NULL ? p.alarm : "");
    *step = f->step;
    if (p.alarm != NULL && f->alarm == NULL) {
        f->alarm = keep_str(d, p.alarm);
        f->seen_ms = wall_ms();
    }
    /* rollback_traffic begins when the server decides to end the deployment; once it is done
     * its progress keeps that step's start (the end is not a step of its own). */
    if (p.end_cause != NULL && f->alarm_ms == 0 &&
        (strcmp(p.phase, "rollback_traffic") == 0 ||
         (strcmp(p.phase, "done") == 0 && p.step_ms > 0 &&
          (info->complete_ms == 0 || p.step_ms <= info->complete_ms))))
        f->alarm_ms = p.step_ms;
    deploy_progress_fini(&p);
}

/* Follows deployment <f->id> until it ends, with the live view. Returns false when it could not
 * be followed (timeout, server gone, Ctrl-C): the scenario stops. */
static bool
follow(struct demo *d, struct followed *f)
{
    uint64_t deadline = mono_ms() + DEMO_DEPLOY_TIMEOUT_MS;
    unsigned misses = 0;

    for (;;) {
        struct deploy_info info;
        const char *step = NULL;
        const char *dead = demo_proc_first_dead(d->ps);

        if (dead != NULL) {
            fail(d, "%s exited during deployment %s (see its log)", dead, f->id);
            return false;
        }
        if (get_deployment(d, f->id, &info) != 0) {
            if (++misses > 50) {
                fail(d, "the server stopped answering about %s", f->id);
                return false;
            }
        } else {
            misses = 0;
            note_progress(d, f, &info, &step);
            live_line(d, &info, step, false);
            f->status = info.status;
            if ((info.status == DEPLOY_SUCCEEDED || info.status == DEPLOY_FAILED ||
                 info.status == DEPLOY_STOPPED)) {
                if (info.error_code != DEPLOY_ERR_NONE)
                    f->error_code = keep_str(d, deploy_error_code_name(info.error_code));
                f->error_message = keep_str(d, info.error_message);
                f->rollback_id = keep_str(d, info.rollback_deployment_id);
                f->rollback_message = keep_str(d, info.rollback_message);
                f->start_ms = info.start_ms;
                f->complete_ms = info.complete_ms;
                f->t1 = mono_ms();
                live_line(d, &info, step, true);
                deploy_info_fini(&info);
                return true;
            }
            deploy_info_fini(&info);
        }
        if (mono_ms() > deadline) {
            fail(d, "deployment %s still running after %d s", f->id, DEMO_DEPLOY_TIMEOUT_MS / 1000);
            return false;
        }
        if (!demo_proc_sleep(d->ps, 100)) {
            fail(d, "interrupted");
            return false;
        }
    }
}

/* The host that will receive the next revision: the fleet the web listener sends less to (the
 * server's rule: the fleet serving is the original, the other the replacement). */
static const struct demo_host *
replacement(struct demo *d)
{
    struct split s = read_split(d);

    if (!s.known)
        return NULL;
    return &d->site.hosts[s.weight[0] >= s.weight[1] ? 1 : 0];
}

static bool
push(struct demo *d, const char *label, const char *dir, char *rev, size_t size)
{
    char log[PATH_MAX], token[PATH_MAX], line[4096];
    const char *argv[] = {d->site.self,       "deploy",       "push", "--application-name",
                          DEMO_STACK_APP,     "--source",     dir,    "--server",
                          d->site.server_url, "--token-file", token,  NULL};
    struct err err = {0};
    FILE *f;
    int rc;

    path_in(d, token, sizeof(token), "server/admin.token");
    snprintf(line, sizeof(line), "logs/push-%s.log", label);
    path_in(d, log, sizeof(log), line);
    rc = demo_proc_run(d->ps, "deploy push", argv, NULL, log, 60000, &err);
    if (rc != 0) {
        fail(d, "push of %s failed (%s; see %s)", label, rc < 0 ? err.msg : "exit status", log);
        return false;
    }
    rev[0] = '\0';
    if ((f = fopen(log, "r")) != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            const char *p = strstr(line, "sha256:");

            if (p != NULL && strlen(p) >= 7 + 64) {
                snprintf(rev, size, "%.71s", p);
                break;
            }
        }
        fclose(f);
    }
    if (rev[0] == '\0') {
        fail(d, "push of %s printed no revision id (see %s)", label, log);
        return false;
    }
    return true;
}

static bool
create_deployment(struct demo *d, const char *label, const char *rev, struct followed *f)
{
    struct deploy_create_request r = {0};
    struct buf out;
    struct arena ar;
    const char *id = NULL;
    long status = 0;
    char *body;
    bool ok;

    r.application_name = DEMO_STACK_APP;
    r.group_name = DEMO_STACK_GROUP;
    r.revision_id = rev;
    r.description = label;
    r.auto_rollback_override = -1;
    body = deploy_info_request_format(&r);
    buf_init(&out);
    arena_init(&ar, 256);
    ok = cli_deploy_call(&d->site.api, "POST", "/v1/deployments", body, strlen(body), NULL, &status,
                         &out) == 0 &&
         status >= 200 && status <= 299 &&
         deploy_info_id_parse(out.data, out.len, &ar, &id, NULL) == 0;
    if (ok)
        snprintf(f->id, sizeof(f->id), "%s", id);
    else
        fail(d, "create-deployment of %s refused (HTTP %ld: %s)", label, status,
             out.data != NULL ? out.data : "");
    free(body);
    arena_fini(&ar);
    buf_fini(&out);
    f->t0 = mono_ms();
    return ok;
}

/* Renders, pushes and deploys release <label> (app/VERSION <version>) onto the replacement
 * fleet, and follows the deployment to its end. */
static bool
release(struct demo *d, const char *label, const char *version, int fail_every, struct followed *f)
{
    const struct demo_host *h = replacement(d);
    char dir[PATH_MAX], rel[128], rev[128];
    struct err err = {0};

    memset(f, 0, sizeof(*f));
    if (h == NULL) {
        fail(d, "cannot read the proxy's listener %s", DEMO_STACK_LISTENER);
        return false;
    }
    snprintf(rel, sizeof(rel), "bundles/%s-%s", label, h->name);
    path_in(d, dir, sizeof(dir), rel);
    if (demo_bundle_render(&d->site, h, d->bundle, dir, version, fail_every, &err) != 0) {
        fail(d, "bundle %s: %s", label, err.msg);
        return false;
    }
    if (!push(d, label, dir, rev, sizeof(rev)) || !create_deployment(d, label, rev, f))
        return false;
    say(d, "%s (%s%s) → %s: deployment %s", label, version,
        fail_every > 0 ? ", every 5th GET / answers 500" : "", h->name, f->id);
    return follow(d, f);
}

static void
record_deployment(struct demo *d, const char *label, const struct followed *f)
{
    struct demo_report_deployment *r;

    if (d->rep.ndeployments == DEMO_REPORT_MAX || f->id[0] == '\0')
        return;
    r = &d->rep.deployments[d->rep.ndeployments++];
    r->release = label;
    r->deployment_id = keep_str(d, f->id);
    r->status = deploy_status_name(f->status);
    r->seconds = f->t1 > f->t0 ? (double)(f->t1 - f->t0) / 1000.0 : 0;
}

/* ---- setting the site up ---- */

/* What `cutover apply -f stack.yaml` printed: its plan, one line per object. */
static void
show_apply(struct demo *d)
{
    char path[PATH_MAX], line[512];
    FILE *f;

    path_in(d, path, sizeof(path), "logs/apply.log");
    if ((f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        say(d, "apply: %s", line);
    }
    fclose(f);
}

static bool
set_up(struct demo *d)
{
    struct err err = {0};

    if (demo_site_start(&d->site, d->ps, &err) != 0) {
        fail(d, "%s", err.msg);
        return false;
    }
    say(d,
        "site %s: server 127.0.0.1:%d, proxy web 127.0.0.1:%d test 127.0.0.1:%d admin "
        "127.0.0.1:%d",
        d->site.dir, d->site.server_port, d->site.web_port, d->site.test_port, d->site.admin_port);
    for (int i = 0; i < 2; i++) {
        const struct demo_host *h = &d->site.hosts[i];

        say(d, "host %s: agent, target %s (%s workers 127.0.0.1:%d-%d)", h->name, h->target,
            d->site.nginx ? "nginx →" : "no nginx:", h->worker_base, h->worker_base + 3);
    }
    show_apply(d);
    say(d,
        "application %s, deployment group %s: blue/green, canary %d%% for %s, alarm "
        "target_5xx_ratio > %s over %s on the replacement, auto rollback; agents online",
        DEMO_STACK_APP, DEMO_STACK_GROUP, DEMO_STACK_CANARY_PERCENT, DEMO_STACK_CANARY_INTERVAL,
        DEMO_STACK_ALARM_THRESHOLD, DEMO_STACK_ALARM_WINDOW);
    return true;
}

/* ---- the scenario ---- */

static bool
start_load(struct demo *d)
{
    char addr[64];
    uint64_t used = mono_ms() - d->t0;
    struct demo_load_conf c = {
        .addr = addr,
        .path = "/",
        .connections = d->connections,
        .max_requests = DEMO_MAX_REQUESTS,
        .max_ms = used < DEMO_BUDGET_MS ? DEMO_BUDGET_MS - used : 1000,
        .timeout_ms = 10000,
    };
    struct err err = {0};

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", d->site.web_port);
    if (demo_load_start(&c, &d->load, &err) != 0) {
        fail(d, "%s", err.msg);
        return false;
    }
    say(d, "load: %u keep-alive connections to http://%s/ (at most %llu requests, %llu s)",
        d->connections, addr, (unsigned long long)c.max_requests,
        (unsigned long long)c.max_ms / 1000);
    return true;
}

static void
record_v3(struct demo *d, const struct followed *bad, const struct followed *rb)
{
    struct demo_report_rollback *r = &d->rep.rollback;
    struct demo_load_snapshot snap;

    r->deployment_id = keep_str(d, bad->id);
    r->status = deploy_status_name(bad->status);
    r->error_code = bad->error_code;
    r->error_message = bad->error_message;
    r->rollback_deployment_id = bad->rollback_id;
    r->rollback_message = bad->rollback_message;
    r->rollback_status = rb != NULL && rb->id[0] != '\0' ? deploy_status_name(rb->status) : NULL;
    r->alarm = bad->alarm;
    r->alarm_ms = bad->alarm_ms != 0 ? bad->alarm_ms : bad->seen_ms;
    r->back_ms = bad->complete_ms;
    r->seconds_to_back = -1;
    if (d->load != NULL) {
        demo_load_snapshot(d->load, &snap);
        for (size_t i = 0; i < snap.nversions; i++)
            if (strcmp(snap.versions[i].name, "3.0.0") == 0) {
                r->first_bad_ms = (int64_t)snap.versions[i].first_ms + d->wall_off;
                r->last_bad_ms = (int64_t)snap.versions[i].last_ms + d->wall_off;
            }
    }
    if (r->alarm_ms != 0 && r->back_ms != 0) {
        int64_t back = r->back_ms > r->last_bad_ms ? r->back_ms : r->last_bad_ms;

        r->seconds_to_back = (double)(back - r->alarm_ms) / 1000.0;
        if (r->seconds_to_back < 0)
            r->seconds_to_back = 0;
    }
}

static void
scenario(struct demo *d)
{
    struct followed v1, v2, v3, rb;

    memset(&rb, 0, sizeof(rb));
    if (!set_up(d) || !release(d, "v1", "1.0.0", 0, &v1))
        return;
    record_deployment(d, "v1", &v1);
    if (v1.status != DEPLOY_SUCCEEDED) {
        fail(d, "v1 deployment %s %s: %s %s", v1.id, deploy_status_name(v1.status),
             v1.error_code ? v1.error_code : "", v1.error_message ? v1.error_message : "");
        return;
    }
    if (!start_load(d))
        return;
    enter_phase(d, PHASE_V1);
    if (!steady(d, DEMO_STEADY_MS))
        return;
    enter_phase(d, PHASE_V1_V2);
    if (!release(d, "v2", "2.0.0", 0, &v2))
        return;
    record_deployment(d, "v2", &v2);
    if (v2.status != DEPLOY_SUCCEEDED) {
        fail(d, "v2 deployment %s %s: %s %s", v2.id, deploy_status_name(v2.status),
             v2.error_code ? v2.error_code : "", v2.error_message ? v2.error_message : "");
        return;
    }
    enter_phase(d, PHASE_V2);
    if (!steady(d, DEMO_STEADY_MS))
        return;
    enter_phase(d, PHASE_V3);
    if (!release(d, "v3", "3.0.0", DEMO_FAIL_EVERY, &v3))
        return;
    record_deployment(d, "v3", &v3);
    if (v3.rollback_id != NULL) {
        snprintf(rb.id, sizeof(rb.id), "%s", v3.rollback_id);
        rb.t0 = mono_ms();
        say(d, "v3 %s %s: rollback deployment %s", v3.id, deploy_status_name(v3.status), rb.id);
        if (follow(d, &rb))
            record_deployment(d, "rollback", &rb);
    }
    record_v3(d, &v3, &rb);
    enter_phase(d, PHASE_AFTER);
    steady(d, DEMO_STEADY_MS);
}

/* ---- the verdict and the report ---- */

static void
judge(struct demo *d, const struct demo_load_snapshot *snap, uint64_t elapsed)
{
    const struct demo_report_rollback *r = &d->rep.rollback;

    if (d->blocker == NULL) {
        for (int p = PHASE_V1; p <= PHASE_V2; p++) {
            uint64_t bad = snap->phases[p].non2xx + snap->phases[p].errors;

            if (bad != 0)
                fail(d, "%llu failed requests in phase %s (%llu non-2xx, %llu socket errors)",
                     (unsigned long long)bad, phase_names[p],
                     (unsigned long long)snap->phases[p].non2xx,
                     (unsigned long long)snap->phases[p].errors);
        }
        if (demo_load_total(&snap->phases[PHASE_V1_V2]) == 0)
            fail(d, "no request was made while v2 was deployed");
        if (r->error_code == NULL || strcmp(r->error_code, "ALARM_ACTIVE") != 0)
            fail(d, "v3 was not stopped by its alarm (status %s, code %s)",
                 r->status ? r->status : "-", r->error_code ? r->error_code : "none");
        else if (r->seconds_to_back < 0)
            fail(d, "v3: when the alarm fired or traffic came back is unknown");
        else if (r->seconds_to_back * 1000 > DEMO_ROLLBACK_LIMIT_MS)
            fail(d, "v3: traffic back on the last good fleet %.1f s after the alarm (limit %d s)",
                 r->seconds_to_back, DEMO_ROLLBACK_LIMIT_MS / 1000);
        if (r->rollback_status == NULL || strcmp(r->rollback_status, "Succeeded") != 0)
            fail(d, "v3's rollback deployment %s: %s",
                 r->rollback_deployment_id ? r->rollback_deployment_id : "(none)",
                 r->rollback_status ? r->rollback_status : "not created");
        if (snap->phases[PHASE_AFTER].non2xx + snap->phases[PHASE_AFTER].errors != 0)
            fail(d, "requests still failing after the rollback");
    }
    if (elapsed > DEMO_BUDGET_MS)
        fail(d, "the demo took %.0f s (limit %d s)", (double)elapsed / 1000.0,
             DEMO_BUDGET_MS / 1000);
}

static void
fill_phases(struct demo *d, const struct demo_load_snapshot *snap)
{
    for (int p = 0; p < PHASE_COUNT; p++) {
        struct demo_report_phase *rp;
        const struct demo_load_phase *lp = &snap->phases[p];

        if (d->phase_t0[p] == 0)
            continue;
        rp = &d->rep.phases[d->rep.nphases++];
        rp->name = phase_names[p];
        rp->seconds =
            (double)((d->phase_t1[p] ? d->phase_t1[p] : mono_ms()) - d->phase_t0[p]) / 1000.0;
        rp->requests = demo_load_total(lp);
        rp->ok = lp->ok;
        rp->non2xx = lp->non2xx;
        rp->socket_errors = lp->errors;
        rp->p50_ms = (double)demo_load_quantile_us(lp, 0.50) / 1000.0;
        rp->p99_ms = (double)demo_load_quantile_us(lp, 0.99) / 1000.0;
    }
}

static void
print_table(const struct demo *d)
{
    const struct demo_report *r = &d->rep;
    const struct demo_report_rollback *rb = &r->rollback;
    char t1[40], t2[40], t3[40];

    printf("\ncutover demo: %s in %.1f s (%u connections, %s)\n\n", r->ok ? "PASSED" : "FAILED",
           r->seconds, r->connections, r->nginx ? "nginx per host" : "no nginx");
    printf("%-12s %8s %10s %9s %8s %9s %9s\n", "phase", "seconds", "requests", "failures", "req/s",
           "p50 ms", "p99 ms");
    for (size_t i = 0; i < r->nphases; i++) {
        const struct demo_report_phase *p = &r->phases[i];

        printf("%-12s %8.1f %10llu %9llu %8.0f %9.2f %9.2f\n", p->name, p->seconds,
               (unsigned long long)p->requests, (unsigned long long)(p->non2xx + p->socket_errors),
               p->seconds > 0 ? (double)p->requests / p->seconds : 0.0, p->p50_ms, p->p99_ms);
    }
    printf("\n");
    for (size_t i = 0; i < r->ndeployments; i++)
        printf("%-9s %s %-10s %6.1f s\n", r->deployments[i].release,
               r->deployments[i].deployment_id, r->deployments[i].status,
               r->deployments[i].seconds);
    if (rb->deployment_id != NULL) {
        demo_report_time(rb->alarm_ms, t1, sizeof(t1));
        demo_report_time(rb->back_ms, t2, sizeof(t2));
        demo_report_time(rb->last_bad_ms, t3, sizeof(t3));
        printf("\nv3 %s: %s %s\n  %s\n", rb->deployment_id, rb->status,
               rb->error_code ? rb->error_code : "", rb->error_message ? rb->error_message : "");
        printf("  alarm %s fired at        %s\n", rb->alarm ? rb->alarm : "-", t1);
        printf("  traffic back (proxy) at   %s\n  last answer from v3 at    %s\n", t2, t3);
        if (rb->seconds_to_back >= 0)
            printf("  alarm → last good fleet   %.2f s\n", rb->seconds_to_back);
        printf("  rolled back by %s (%s): %s\n",
               rb->rollback_deployment_id ? rb->rollback_deployment_id : "-",
               rb->rollback_status ? rb->rollback_status : "-",
               rb->rollback_message ? rb->rollback_message : "");
    }
    for (size_t i = 0; i < r->nfailed; i++)
        printf("%sFAILED: %s\n", i == 0 ? "\n" : "", r->failed[i]);
}

/* ---- main ---- */

static int
usage(FILE *out, int status)
{
    fprintf(out, "usage: cutover demo [--bundle DIR] [--connections N] [--keep] "
                 "[--output json|table]\n"
                 "  the reference architecture on this machine under load: v1, v2 blue/green "
                 "with a canary, a bad v3 rolled back by its alarm (docs/man/cutover-demo.md)\n");
    return status;
}

static bool
is_bundle(const char *dir)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/appspec.yml", dir);

    return n > 0 && (size_t)n < sizeof(p) && access(p, R_OK) == 0;
}

static bool
find_bundle(struct demo *d, const char *given)
{
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    ssize_t n;

    if (given != NULL)
        return realpath(given, d->bundle) != NULL && is_bundle(d->bundle);
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
        char *slash;

        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL)
            *slash = '\0';
        snprintf(cand, sizeof(cand), "%s/../examples/webapp", exe);
        if (is_bundle(cand) && realpath(cand, d->bundle) != NULL)
            return true;
    }
    snprintf(d->bundle, sizeof(d->bundle), "%s", DEMO_SHARE_BUNDLE);
    return is_bundle(d->bundle);
}

static bool
in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char cand[PATH_MAX];

    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t len = colon != NULL ? (size_t)(colon - path) : strlen(path);

        snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, prog);
        if (len > 0 && access(cand, X_OK) == 0)
            return true;
        path = colon != NULL ? colon + 1 : NULL;
    }
    return false;
}

static int
parse_args(struct demo *d, int argc, char **argv, const char **bundle)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint32_t n;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout, -1);
        if (strcmp(a, "--keep") == 0) {
            d->keep = true;
        } else if (strcmp(a, "--bundle") == 0 && i + 1 < argc) {
            *bundle = argv[++i];
        } else if (strcmp(a, "--connections") == 0 && i + 1 < argc) {
            if (str_to_u32(argv[++i], &n, 1, 256) != 0) {
                fprintf(stderr, "cutover demo: --connections: expected 1..256\n");
                return ERR_EXIT_USAGE;
            }
            d->connections = n;
        } else if (strcmp(a, "--output") == 0 && i + 1 < argc) {
            const char *o = argv[++i];

            if (strcmp(o, "json") != 0 && strcmp(o, "table") != 0) {
                fprintf(stderr, "cutover demo: --output: expected json or table\n");
                return ERR_EXIT_USAGE;
            }
            d->json = strcmp(o, "json") == 0;
        } else {
            fprintf(stderr, "cutover demo: unknown or incomplete flag '%s'\n", a);
            return usage(stderr, ERR_EXIT_USAGE);
        }
    }
    return 0;
}

static int
init_site(struct demo *d)
{
    static const char *const names[2] = {"blue-1", "green-1"};
    static const char *const fleets[2] = {"blue", "green"};
    static const char *const ips[2] = {"127.0.0.2", "127.0.0.3"};
    unsigned char rnd[8] = {0};
    ssize_t n;
    char exe[PATH_MAX];
    int fd;

    snprintf(d->site.dir, sizeof(d->site.dir), "/tmp/cutover-demo.XXXXXX");
    if (mkdtemp(d->site.dir) == NULL)
        return -errno;
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
        return -errno;
    exe[n] = '\0';
    snprintf(d->site.self, sizeof(d->site.self), "%s", exe);
    if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) >= 0) {
        if (read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        close(fd);
    }
    snprintf(d->site.marker, sizeof(d->site.marker), "demo-%d-%02x%02x%02x%02x%02x%02x%02x%02x",
             (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    d->site.nginx = in_path("nginx");
    for (int i = 0; i < 2; i++) {
        d->site.hosts[i].name = names[i];
        d->site.hosts[i].fleet = fleets[i];
        d->site.hosts[i].ip = ips[i];
        snprintf(d->site.hosts[i].dir, sizeof(d->site.hosts[i].dir), "%s/hosts/%s", d->site.dir,
                 names[i]);
    }
    return 0;
}

static void
remove_tree(const char *dir, int depth)
{
    char p[PATH_MAX];
    struct dirent *de;
    DIR *dp;

    if (depth > 64 || (dp = opendir(dir)) == NULL) {
        unlink(dir);
        return;
    }
    while ((de = readdir(dp)) != NULL) {
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p, depth + 1);
        else
            unlink(p);
    }
    closedir(dp);
    rmdir(dir);
}

static void
finish(struct demo *d)
{
    struct demo_load_snapshot snap;
    uint64_t elapsed;
    unsigned killed;
    int left[16];
    size_t nleft;

    memset(&snap, 0, sizeof(snap));
    if (d->phase >= 0)
        d->phase_t1[d->phase] = mono_ms();
    if (d->load != NULL)
        demo_load_snapshot(d->load, &snap);
    demo_load_stop(d->load);
    d->load = NULL;
    elapsed = mono_ms() - d->t0;
    say(d, "stopping every process");
    killed = demo_proc_stop_all(d->ps, 20000);
    nleft = demo_proc_find_marked(d->site.marker, left, 16);
    fill_phases(d, &snap);
    judge(d, &snap, elapsed);
    if (killed != 0)
        say(d, "%u process(es) did not stop on SIGTERM and were killed", killed);
    if (nleft != 0)
        fail(d, "%zu process(es) still running after the stop (pid %d…)", nleft, left[0]);
    d->rep.ok = d->rep.nfailed == 0;
    d->rep.seconds = (double)elapsed / 1000.0;
    d->rep.connections = d->connections;
    d->rep.nginx = d->site.nginx;
}

int
cli_demo_main(int argc, char **argv)
{
    struct demo d;
    const char *given = NULL;
    int rc;

    memset(&d, 0, sizeof(d));
    d.connections = 8;
    d.phase = -1;
    if ((rc = parse_args(&d, argc, argv, &given)) != 0)
        return rc < 0 ? ERR_EXIT_OK : rc;
    d.live = d.json ? stderr : stdout;
    if (!find_bundle(&d, given)) {
        fprintf(stderr, "cutover demo: no webapp bundle (appspec.yml) at %s%s\n",
                given != NULL ? given : DEMO_SHARE_BUNDLE,
                given != NULL ? "" : " nor next to this binary (../examples/webapp): use --bundle");
        return ERR_EXIT_USAGE;
    }
    if ((rc = init_site(&d)) != 0) {
        fprintf(stderr, "cutover demo: cannot create its directory: %s\n", strerror(-rc));
        return ERR_EXIT_FAILED;
    }
    if (http_fetch_global_init() != 0) {
        fprintf(stderr, "cutover demo: libcurl initialisation failed\n");
        return ERR_EXIT_FAILED;
    }
    arena_init(&d.arena, 4096);
    d.t0 = mono_ms();
    d.wall_off = wall_ms() - (int64_t)d.t0;
    d.ps = demo_proc_set_new(d.site.marker);
    say(&d, "cutover demo: bundle %s, %s", d.bundle,
        d.site.nginx ? "nginx in front of each host's workers" : "nginx not installed");
    scenario(&d);
    if (d.blocker != NULL)
        say(&d, "stopped: %s", d.blocker);
    finish(&d);
    demo_proc_set_free(d.ps);
    if (d.json) {
        char *doc = demo_report_format(&d.rep);

        printf("%s\n", doc);
        free(doc);
    } else {
        print_table(&d);
    }
    if (d.keep)
        fprintf(d.live, "kept %s (logs in %s/logs)\n", d.site.dir, d.site.dir);
    else
        remove_tree(d.site.dir, 0);
    rc = d.rep.ok ? ERR_EXIT_OK : ERR_EXIT_FAILED;
    arena_fini(&d.arena);
    return rc;
}
