/* SPDX-License-Identifier: ISC */
/* `create-deployment --wait`: polls the deployment and its instances until the deployment ends.
 * On a terminal it redraws a small board in place (hosts × lifecycle events, traffic split,
 * alarm); otherwise it prints one line per change, so logs and CI show what happened when. */
#include "cli/cli_deploy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"
#include "protocol/deploy.h"
#include "protocol/deploy_info.h"
#include "protocol/deploy_progress.h"

#define POLL_MS 500
#define MAX_UNREACHABLE 60 /* consecutive failed polls (~30 s) before giving up with 75 */

struct board {
    bool is_tty;
    int width;       /* terminal columns */
    int drawn;       /* lines drawn last time (tty) */
    struct buf prev; /* lines printed last round (plain mode), "\n"-separated */
};

static const struct {
    const char *name, *abbr;
} abbrevs[] = {
    {"BeforeBlockTraffic", "BBlock"},
    {"BlockTraffic", "Block"},
    {"AfterBlockTraffic", "ABlock"},
    {"ApplicationStop", "Stop"},
    {"DownloadBundle", "Fetch"},
    {"BeforeInstall", "BInst"},
    {"Install", "Inst"},
    {"AfterInstall", "AInst"},
    {"ApplicationStart", "Start"},
    {"ValidateService", "Valid"},
    {"BeforeAllowTraffic", "BAllow"},
    {"AllowTraffic", "Allow"},
    {"AfterAllowTraffic", "AAllow"},
};

static const char *
abbr(const char *event)
{
    for (size_t i = 0; i < sizeof(abbrevs) / sizeof(abbrevs[0]); i++)
        if (strcmp(abbrevs[i].name, event) == 0)
            return abbrevs[i].abbr;
    return event;
}

static char
mark(enum deploy_event_status s)
{
    switch (s) {
    case DEPLOY_EVENT_PENDING:
        return '.';
    case DEPLOY_EVENT_IN_PROGRESS:
        return '>';
    case DEPLOY_EVENT_SUCCEEDED:
        return '+';
    case DEPLOY_EVENT_FAILED:
        return 'X';
    case DEPLOY_EVENT_SKIPPED:
        return '-';
    case DEPLOY_EVENT_UNKNOWN:
        return '?';
    }
    return '?';
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "phase=shift traffic=blue:90,green:10 alarm=errors" from deploymentInfo.progress. */
static void
progress_text(const struct deploy_info *d, struct buf *out)
{
    struct deploy_progress p;
    struct err err = {0};

    if (d->progress_json == NULL ||
        deploy_progress_parse(&p, d->progress_json, strlen(d->progress_json), &err) != 0)
        return;
    buf_appendf(out, " phase=%s", p.phase != NULL ? p.phase : "?");
    for (size_t i = 0; i < p.ntraffic; i++)
        buf_appendf(out, "%s%s:%u", i == 0 ? " traffic=" : ",", p.traffic_names[i],
                    p.traffic_weights[i]);
    if (p.alarm != NULL)
        buf_appendf(out, " alarm=%s", p.alarm);
    deploy_progress_fini(&p);
}

/* The board as lines (without times): the deployment, then one line per instance (tty) or per
 * event (plain). */
static void
render(const struct board *b, const struct deploy_info *d,
       const struct deploy_instance_summaries *l, struct buf *out)
{
    buf_appendf(out, "%s %s", d->deployment_id, deploy_status_name(d->status));
    progress_text(d, out);
    buf_append_str(out, "\n");
    for (size_t i = 0; i < l->n; i++) {
        const struct deploy_instance_summary *s = &l->items[i];

        if (b->is_tty) {
            buf_appendf(out, "  %-14s %-5s %-10s", s->instance_id,
                        deploy_instance_type_name(s->instance_type),
                        deploy_instance_status_name(s->status));
            for (size_t j = 0; j < s->nevents; j++)
                buf_appendf(out, " %s%c", abbr(s->events[j].name), mark(s->events[j].status));
            buf_append_str(out, "\n");
            continue;
        }
        for (size_t j = 0; j < s->nevents; j++)
            buf_appendf(out, "%s %s %s\n", s->instance_id, s->events[j].name,
                        deploy_event_status_name(s->events[j].status));
    }
}

static void
draw_tty(struct board *b, const struct buf *text)
{
    int lines = 0;

    if (b->drawn > 0)
        printf("\033[%dA\033[J", b->drawn);
    for (const char *p = text->data; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "\n");

        printf("%.*s\n", (int)(n < (size_t)b->width ? n : (size_t)b->width - 1), p);
        lines++;
        p += n + (p[n] == '\n');
    }
    b->drawn = lines;
    fflush(stdout);
}

static void
draw_plain(struct board *b, const struct buf *text)
{
    char t[DEPLOY_TIME_MAX];

    deploy_time_format(deploy_time_now_ms(), t);
    for (const char *p = text->data; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "\n");
        char *line = mem_strndup(p, n + 1);
        bool seen = b->prev.data != NULL && strstr(b->prev.data, line) != NULL;

        line[n] = '\0';
        if (!seen)
            printf("%s %s\n", t, line);
        free(line);
        p += n + (p[n] == '\n');
    }
    buf_reset(&b->prev);
    buf_append(&b->prev, text->data, text->len);
    fflush(stdout);
}

/* One poll. 0: *d and *l filled; ERR_EXIT_TEMPFAIL: unreachable; ERR_EXIT_FAILED: refused. */
static int
poll_once(const struct cli_deploy_client *cl, const char *id, struct deploy_info *d,
          struct deploy_instance_summaries *l)
{
    struct buf path, body;
    struct err err = {0};
    long status = 0;
    int rc;

    buf_init(&path);
    buf_init(&body);
    buf_appendf(&path, "/v1/deployments/%s", id);
    rc = cli_deploy_call(cl, "GET", path.data, NULL, 0, NULL, &status, &body);
    if (rc == 0 && status != 200)
        rc = cli_deploy_fail("create-deployment --wait", status, &body);
    if (rc == 0 && deploy_info_parse(body.data, body.len, d, &err) != 0)
        rc = ERR_EXIT_FAILED;
    buf_reset(&body);
    buf_append_str(&path, "/instances");
    if (rc == 0 &&
        (cli_deploy_call(cl, "GET", path.data, NULL, 0, NULL, &status, &body) != 0 ||
         status != 200 || deploy_info_instances_parse(body.data, body.len, l, &err) != 0))
        memset(l, 0, sizeof(*l)); /* the board shows the deployment line only */
    if (rc != 0 && rc != ERR_EXIT_TEMPFAIL)
        fprintf(stderr, "cutover deploy create-deployment: cannot follow %s%s%s\n", id,
                err.msg[0] != '\0' ? ": " : "", err.msg);
    buf_fini(&path);
    buf_fini(&body);
    return rc;
}

static int
finish(const struct cli_deploy_client *cl, const struct deploy_info *d, const char *raw_id)
{
    if (cl->json) {
        struct buf path, body;
        long status = 0;

        buf_init(&path);
        buf_init(&body);
        buf_appendf(&path, "/v1/deployments/%s", raw_id);
        if (cli_deploy_call(cl, "GET", path.data, NULL, 0, NULL, &status, &body) == 0)
            printf("%s\n", body.data != NULL ? body.data : "");
        buf_fini(&path);
        buf_fini(&body);
    } else if (d->status == DEPLOY_SUCCEEDED) {
        printf("%s Succeeded\n", d->deployment_id);
    } else {
        printf("%s %s: %s: %s\n", d->deployment_id, deploy_status_name(d->status),
               deploy_error_code_name(d->error_code),
               d->error_message != NULL ? d->error_message : "");
        if (d->rollback_deployment_id != NULL)
            printf("rollback deployment %s\n", d->rollback_deployment_id);
    }
    return d->status == DEPLOY_SUCCEEDED ? ERR_EXIT_OK : ERR_EXIT_FAILED;
}

int
cli_deploy_wait_run(const struct cli_deploy_client *cl, const char *id, long timeout_ms)
{
    struct board b = {.is_tty = !cl->json && isatty(STDOUT_FILENO), .width = 120};
    struct winsize ws;
    long deadline = now_ms() + timeout_ms;
    int unreachable = 0, rc = ERR_EXIT_FAILED;

    if (b.is_tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        b.width = ws.ws_col;
    buf_init(&b.prev);
    for (;;) {
        struct deploy_info d;
        struct deploy_instance_summaries l;
        struct buf text;
        int prc = poll_once(cl, id, &d, &l);

        if (prc == ERR_EXIT_TEMPFAIL && ++unreachable < MAX_UNREACHABLE) {
            sleep_ms(POLL_MS);
            continue;
        }
        if (prc != 0) {
            rc = prc;
            break;
        }
        unreachable = 0;
        buf_init(&text);
        if (!cl->json) {
            render(&b, &d, &l, &text);
            if (b.is_tty)
                draw_tty(&b, &text);
            else
                draw_plain(&b, &text);
        }
        buf_fini(&text);
        deploy_info_instances_fini(&l);
        if (!deploy_status_is_active(d.status)) {
            rc = finish(cl, &d, id);
            deploy_info_fini(&d);
            break;
        }
        deploy_info_fini(&d);
        if (now_ms() > deadline) {
            fprintf(stderr,
                    "cutover deploy create-deployment: %s still running after the wait "
                    "timeout\n",
                    id);
            rc = ERR_EXIT_FAILED;
            break;
        }
        sleep_ms(POLL_MS);
    }
    buf_fini(&b.prev);
    return rc;
}
