/* SPDX-License-Identifier: ISC */
/* `cutover apps VERB [APP]`: one request on the supervisor's control socket, one reply,
 * printed as a table or JSON. `logs` asks for the log paths, then reads the files itself. */
#include "cli/cli_apps.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/mem.h"
#include "common/str.h"
#include "common/yaml_conf.h"
#include "protocol/apps_msg.h"

#define APPS_DEFAULT_CONF "/etc/cutover/apps.yaml"
#define APPS_DEFAULT_SOCKET "/run/cutover/supervise.sock"

struct opts {
    const char *verb;
    const char *app;
    const char *socket;
    const char *config;
    bool json;
    bool follow;
    unsigned lines;
    uint32_t parallel;
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover apps status|start|stop|restart|reload|logs [APP]\n"
                 "           [--socket PATH] [-c apps.yaml] [--output json|table]\n"
                 "           [--parallel N] [--lines N] [--follow]\n"
                 "see docs/man/cutover-apps.md\n");
}

/* The control: path of apps.yaml (read with the shared YAML loader, nothing else checked). */
static int
socket_from_conf(const char *path, char *dst, size_t size, bool explicit_conf)
{
    struct yaml_conf_doc *doc;
    const struct yaml_conf_node *n;
    struct err err = {0};
    const char *s = APPS_DEFAULT_SOCKET;

    if (yaml_conf_load_file(&doc, path, &err) != 0) {
        if (explicit_conf) {
            fprintf(stderr, "%s\n", err.msg);
            return -EINVAL;
        }
        str_copy(dst, s, size);
        return 0;
    }
    n = yaml_conf_get(doc->root, "control");
    if (n != NULL && yaml_conf_string(doc, n, &s, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        yaml_conf_free(doc);
        return -EINVAL;
    }
    str_copy(dst, s, size);
    yaml_conf_free(doc);
    return 0;
}

static int
connect_socket(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one request and reads the reply line into <out>. */
static int
roundtrip(const char *path, const struct apps_msg_request *req, struct buf *out)
{
    char *line = apps_msg_request_encode(req), chunk[65536];
    int fd = connect_socket(path), rc;

    if (fd < 0) {
        fprintf(stderr, "cutover apps: cannot reach the supervisor at %s: %s\n", path,
                strerror(-fd));
        free(line);
        return fd;
    }
    rc = write_all(fd, line, strlen(line));
    if (rc == 0)
        rc = write_all(fd, "\n", 1);
    free(line);
    while (rc == 0 && memchr(out->data ? out->data : "", '\n', out->len) == NULL) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == 0 ? -ECONNRESET : -errno;
            break;
        }
        buf_append(out, chunk, (size_t)n);
        if (out->len > APPS_MSG_LINE_MAX)
            rc = -EMSGSIZE;
    }
    close(fd);
    if (rc != 0)
        fprintf(stderr, "cutover apps: control socket %s: %s\n", path, strerror(-rc));
    return rc;
}

static void
format_uptime(double s, char *dst, size_t size)
{
    if (s <= 0)
        snprintf(dst, size, "-");
    else if (s < 60)
        snprintf(dst, size, "%.1fs", s);
    else if (s < 3600)
        snprintf(dst, size, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(dst, size, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void
print_table(const struct apps_msg_reply *rep)
{
    printf("%-16s %5s %8s %-9s %8s %9s %10s %6s %4s\n", "APP", "INDEX", "PID", "STATE", "RESTARTS",
           "UPTIME", "RSS", "CPU%", "GEN");
    for (size_t i = 0; i < rep->nworkers; i++) {
        const struct apps_msg_worker *w = &rep->workers[i];
        char up[32], rss[32];

        format_uptime(w->uptime_s, up, sizeof(up));
        snprintf(rss, sizeof(rss), "%.1fM", (double)w->rss_bytes / (1024.0 * 1024.0));
        printf("%-16s %5u %8d %-9s %8u %9s %10s %6.1f %4u\n", w->app, w->index, w->pid, w->state,
               w->restarts, up, rss, w->cpu_pct, w->generation);
    }
}

static int
print_result(const struct opts *o, const struct apps_msg_reply *rep, const char *raw)
{
    if (!rep->ok) {
        fprintf(stderr, "cutover apps %s%s%s: %s\n", o->verb, o->app ? " " : "",
                o->app ? o->app : "", rep->error ? rep->error : "failed");
        if (rep->failed_worker != NULL)
            fprintf(stderr, "failed worker: %s\n", rep->failed_worker);
        if (rep->log_tail != NULL && rep->log_tail[0] != '\0')
            fprintf(stderr, "last log lines:\n%s\n", rep->log_tail);
    }
    if (o->json) {
        if (strcmp(o->verb, "status") == 0) {
            char *s = apps_msg_workers_encode_pretty(rep);

            printf("%s\n", s);
            free(s);
        } else {
            fputs(raw, stdout);
        }
    } else {
        if (rep->ok && strcmp(o->verb, "status") != 0)
            printf("%s%s%s: ok\n", o->verb, o->app ? " " : "", o->app ? o->app : "");
        print_table(rep);
    }
    return rep->ok ? ERR_EXIT_OK : ERR_EXIT_FAILED;
}

/* ---- logs ---------------------------------------------------------------------------------- */

struct log_src {
    char label[APPS_MSG_NAME_MAX + 32]; /* "web[0] out" */
    const char *app;
    uint32_t index;
    const char *stream;
    const char *path; /* borrowed from the reply */
    ino_t ino;
    off_t offset;
    struct buf partial;
};

static void
emit_lines(const struct opts *o, struct log_src *s, const char *data, size_t len)
{
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (o->json) {
            char *j = apps_msg_log_line_encode(s->app, s->index, s->stream, s->path, p, n);

            printf("%s\n", j);
            free(j);
        } else {
            printf("%s | %.*s\n", s->label, (int)n, p);
        }
        p += n + (nl ? 1 : 0);
    }
}

static void
follow_one(const struct opts *o, struct log_src *s)
{
    struct stat st;
    char chunk[65536];
    FILE *f;

    if (stat(s->path, &st) != 0)
        return;
    if (st.st_ino != s->ino || st.st_size < s->offset) { /* rotated: start the new file */
        s->ino = st.st_ino;
        s->offset = 0;
    }
    if (st.st_size == s->offset || (f = fopen(s->path, "re")) == NULL)
        return;
    fseeko(f, s->offset, SEEK_SET);
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        char *last;

        if (n == 0)
            break;
        s->offset += (off_t)n;
        buf_append(&s->partial, chunk, n);
        last = memrchr(s->partial.data, '\n', s->partial.len);
        if (last != NULL) {
            size_t k = (size_t)(last - s->partial.data);

            emit_lines(o, s, s->partial.data, k);
            buf_consume(&s->partial, k + 1);
        }
    }
    fclose(f);
    fflush(stdout);
}

static int
show_logs(const struct opts *o, const struct apps_msg_reply *rep)
{
    struct log_src *srcs = mem_calloc(rep->nworkers * 2 + 1, sizeof(*srcs));
    size_t n = 0;

    for (size_t i = 0; i < rep->nworkers; i++) {
        const struct apps_msg_worker *w = &rep->workers[i];

        for (int k = 0; k < 2; k++) {
            const char *path = k == 0 ? w->log_out : w->log_err;
            bool dup = path[0] == '\0';
            struct stat st;

            for (size_t j = 0; j < n && !dup; j++)
                dup = strcmp(srcs[j].path, path) == 0;
            if (dup)
                continue;
            snprintf(srcs[n].label, sizeof(srcs[n].label), "%s[%u] %s", w->app, w->index,
                     k == 0 ? "out" : "err");
            srcs[n].app = w->app;
            srcs[n].index = w->index;
            srcs[n].stream = k == 0 ? "out" : "err";
            srcs[n].path = path;
            buf_init(&srcs[n].partial);
            if (stat(path, &st) == 0) {
                srcs[n].ino = st.st_ino;
                srcs[n].offset = st.st_size;
            }
            n++;
        }
    }
    for (size_t j = 0; j < n; j++) {
        struct buf b;

        buf_init(&b);
        if (fsutil_tail(srcs[j].path, o->lines, &b) == 0 && b.len > 0)
            emit_lines(o, &srcs[j], b.data, b.len);
        buf_fini(&b);
    }
    fflush(stdout);
    while (o->follow) {
        poll(NULL, 0, 200);
        for (size_t j = 0; j < n; j++)
            follow_one(o, &srcs[j]);
    }
    for (size_t j = 0; j < n; j++)
        buf_fini(&srcs[j].partial);
    free(srcs);
    return ERR_EXIT_OK;
}

/* ---- main ---------------------------------------------------------------------------------- */

static int
parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'}, {"follow", no_argument, NULL, 'f'},
        {"lines", required_argument, NULL, 'n'},  {"parallel", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    uint32_t v;
    int ch;

    o->json = !isatty(STDOUT_FILENO);
    o->lines = 20;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:c:o:fn:p:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->socket = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                fprintf(stderr, "cutover apps: --output '%s' (expected json or table)\n", optarg);
                return -EINVAL;
            }
            o->json = strcmp(optarg, "json") == 0;
            break;
        case 'f':
            o->follow = true;
            break;
        case 'n':
            if (str_to_u32(optarg, &v, 0, 100000) != 0) {
                fprintf(stderr, "cutover apps: --lines '%s' (expected 0 to 100000)\n", optarg);
                return -EINVAL;
            }
            o->lines = v;
            break;
        case 'p':
            if (str_to_u32(optarg, &o->parallel, 1, 1024) != 0) {
                fprintf(stderr, "cutover apps: --parallel '%s' (expected 1 to 1024)\n", optarg);
                return -EINVAL;
            }
            break;
        case 'h':
            usage(stdout);
            exit(ERR_EXIT_OK);
        default:
            return -EINVAL;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "cutover apps: missing verb\n");
        return -EINVAL;
    }
    o->verb = argv[optind++];
    if (optind < argc)
        o->app = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "cutover apps: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

static bool
verb_known(const char *v)
{
    static const char *const verbs[] = {"status", "start", "stop", "restart", "reload", "logs"};

    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(v, verbs[i]) == 0)
            return true;
    return false;
}

int
cli_apps_main(int argc, char **argv)
{
    struct opts o = {0};
    struct apps_msg_request req = {0};
    struct apps_msg_reply rep;
    struct err err = {0};
    struct buf raw;
    char sock[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    int rc;

    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    if (!verb_known(o.verb)) {
        fprintf(stderr, "cutover apps: unknown verb '%s'\n", o.verb);
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    if (o.socket != NULL)
        str_copy(sock, o.socket, sizeof(sock));
    else if (socket_from_conf(o.config ? o.config : APPS_DEFAULT_CONF, sock, sizeof(sock),
                              o.config != NULL) != 0)
        return ERR_EXIT_USAGE;
    str_copy(req.cmd, strcmp(o.verb, "logs") == 0 ? "status" : o.verb, sizeof(req.cmd));
    if (o.app != NULL && str_copy(req.app, o.app, sizeof(req.app)) >= sizeof(req.app)) {
        fprintf(stderr, "cutover apps: app name too long\n");
        return ERR_EXIT_USAGE;
    }
    req.parallel = o.parallel;
    buf_init(&raw);
    if (roundtrip(sock, &req, &raw) != 0) {
        buf_fini(&raw);
        return ERR_EXIT_FAILED;
    }
    if (apps_msg_reply_decode(&rep, raw.data, &err) != 0) {
        fprintf(stderr, "cutover apps: bad reply from the supervisor: %s\n", err.msg);
        buf_fini(&raw);
        return ERR_EXIT_FAILED;
    }
    if (strcmp(o.verb, "logs") == 0 && rep.ok)
        rc = show_logs(&o, &rep);
    else
        rc = print_result(&o, &rep, raw.data);
    apps_msg_reply_fini(&rep);
    buf_fini(&raw);
    return rc;
}
