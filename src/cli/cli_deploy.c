/* SPDX-License-Identifier: ISC */
/* `cutover deploy <verb>`: parses flags, builds request bodies with protocol/deploy_*, calls
 * the server with common/http_fetch, and prints the answer as the API's JSON or as a table. */
#include "cli/cli_deploy.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "common/http_fetch.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy.h"
#include "protocol/deploy_group.h"
#include "protocol/deploy_info.h"

extern char **environ;

#define CLI_DEPLOY_TIMEOUT_MS 60000
#define MAX_TAGS 16

/* ---- flags ---- */

enum flag_id {
    F_SERVER,
    F_TOKEN,
    F_TOKEN_FILE,
    F_CACERT,
    F_OUTPUT,
    F_APP,
    F_GROUP,
    F_CURRENT_GROUP,
    F_INPUT_JSON,
    F_CONFIG,
    F_MIN_HEALTHY,
    F_INSTANCE_NAME,
    F_TAGS,
    F_TARGET,
    F_SOURCE,
    F_BUNDLE_TYPE,
    F_REVISION,
    F_DESCRIPTION,
    F_FILE_EXISTS,
    F_IGNORE_STOP,
    F_AUTO_ROLLBACK_CONF,
    F_WAIT,
    F_WAIT_TIMEOUT,
    F_DEPLOYMENT_ID,
    F_INSTANCE_ID,
    F_AUTO_ROLLBACK,
    F_NO_AUTO_ROLLBACK,
    F_COUNT
};

static const struct {
    const char *name;
    bool takes_value;
} flag_info[F_COUNT] = {
    [F_SERVER] = {"--server", true},
    [F_TOKEN] = {"--token", true},
    [F_TOKEN_FILE] = {"--token-file", true},
    [F_CACERT] = {"--ca-bundle", true},
    [F_OUTPUT] = {"--output", true},
    [F_APP] = {"--application-name", true},
    [F_GROUP] = {"--deployment-group-name", true},
    [F_CURRENT_GROUP] = {"--current-deployment-group-name", true},
    [F_INPUT_JSON] = {"--cli-input-json", true},
    [F_CONFIG] = {"--deployment-config-name", true},
    [F_MIN_HEALTHY] = {"--minimum-healthy-hosts", true},
    [F_INSTANCE_NAME] = {"--instance-name", true},
    [F_TAGS] = {"--tags", true},
    [F_TARGET] = {"--target", true},
    [F_SOURCE] = {"--source", true},
    [F_BUNDLE_TYPE] = {"--bundle-type", true},
    [F_REVISION] = {"--revision", true},
    [F_DESCRIPTION] = {"--description", true},
    [F_FILE_EXISTS] = {"--file-exists-behavior", true},
    [F_IGNORE_STOP] = {"--ignore-application-stop-failures", false},
    [F_AUTO_ROLLBACK_CONF] = {"--auto-rollback-configuration", true},
    [F_WAIT] = {"--wait", false},
    [F_WAIT_TIMEOUT] = {"--wait-timeout", true},
    [F_DEPLOYMENT_ID] = {"--deployment-id", true},
    [F_INSTANCE_ID] = {"--instance-id", true},
    [F_AUTO_ROLLBACK] = {"--auto-rollback-enabled", false},
    [F_NO_AUTO_ROLLBACK] = {"--no-auto-rollback-enabled", false},
};

struct args {
    const char *verb;
    const char *val[F_COUNT]; /* value, or "" for a boolean flag given; NULL: absent */
    const char *tags[MAX_TAGS];
    size_t ntags;
};

struct verb {
    const char *name;
    int (*run)(const struct cli_deploy_client *cl, const struct args *a);
    const char *usage;
};

static int usage_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cutover deploy %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see cutover deploy --help)\n");
    return ERR_EXIT_USAGE;
}

static int
find_flag(const char *word, size_t len)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strlen(flag_info[i].name) == len && strncmp(word, flag_info[i].name, len) == 0)
            return i;
    return -1;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *w = argv[i], *eq = strchr(w, '=');
        size_t len = eq != NULL && str_has_prefix(w, "--") ? (size_t)(eq - w) : strlen(w);
        int f = find_flag(w, len);
        const char *v = "";

        if (f < 0) {
            const char *names[F_COUNT];

            for (int k = 0; k < F_COUNT; k++)
                names[k] = flag_info[k].name;
            const char *near = str_closest(w, names, F_COUNT);
            return near != NULL
                       ? usage_error(a->verb, "unknown flag '%s' (did you mean %s?)", w, near)
                       : usage_error(a->verb, "unknown argument '%s'", w);
        }
        if (flag_info[f].takes_value) {
            if (eq != NULL && len < strlen(w))
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return usage_error(a->verb, "%s needs a value", flag_info[f].name);
        }
        if (f == F_TAGS) { /* --tags Key=a,Value=b [Key=c,Value=d …] */
            if (a->ntags == MAX_TAGS)
                return usage_error(a->verb, "too many tags");
            a->tags[a->ntags++] = v;
            while (i + 1 < argc && !str_has_prefix(argv[i + 1], "--") && a->ntags < MAX_TAGS)
                a->tags[a->ntags++] = argv[++i];
        }
        a->val[f] = v;
    }
    return 0;
}

static int
need(const struct args *a, enum flag_id f)
{
    if (a->val[f] == NULL || a->val[f][0] == '\0')
        return usage_error(a->verb, "%s is required", flag_info[f].name);
    return 0;
}

/* ---- calls ---- */

int
cli_deploy_call(const struct cli_deploy_client *cl, const char *method, const char *path,
                const char *body, size_t len, const char *content_type, long *status,
                struct buf *out)
{
    struct http_fetch_opts o = {.method = method,
                                .body = body,
                                .body_len = len,
                                .content_type = content_type,
                                .bearer = cl->token,
                                .cafile = cl->cacert,
                                .timeout_ms = CLI_DEPLOY_TIMEOUT_MS,
                                .out_fd = -1};
    struct http_fetch_response resp = {0};
    struct err err = {0};
    char url[2048];

    snprintf(url, sizeof(url), "%s%s", cl->server, path);
    o.url = url;
    if (http_fetch_do(&o, &resp, &err) != 0) {
        fprintf(stderr, "cutover deploy: %s\n", err.msg);
        return ERR_EXIT_TEMPFAIL;
    }
    *status = resp.status;
    buf_append(out, resp.body.data != NULL ? resp.body.data : "", resp.body.len);
    http_fetch_response_fini(&resp);
    return 0;
}

int
cli_deploy_fail(const char *verb, long status, const struct buf *body)
{
    struct arena a;
    const char *msg = NULL, *id = NULL;

    arena_init(&a, 512);
    if (body->data != NULL && deploy_info_error_parse(body->data, body->len, &a, &msg, &id) == 0)
        fprintf(stderr, "cutover deploy %s: %s%s%s (HTTP %ld)\n", verb, msg, id != NULL ? ": " : "",
                id != NULL ? id : "", status);
    else
        fprintf(stderr, "cutover deploy %s: HTTP %ld\n", verb, status);
    arena_fini(&a);
    return ERR_EXIT_FAILED;
}

/* Percent-encodes <s> (unreserved characters and ':' kept). */
static void
append_escaped(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == ':')
            buf_append(b, p, 1);
        else
            buf_appendf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

void
cli_deploy_append_seg(struct buf *b, const char *s)
{
    buf_append_str(b, "/");
    append_escaped(b, s);
}

/* GET/POST <path>; prints the JSON answer (json mode) or hands it to <table> to print. */
static int
simple(const struct cli_deploy_client *cl, const struct args *a, const char *method,
       const char *path, const char *body, void (*table)(const struct buf *))
{
    struct buf out;
    long status = 0;
    int rc;

    buf_init(&out);
    rc = cli_deploy_call(cl, method, path, body, body != NULL ? strlen(body) : 0, NULL, &status,
                         &out);
    if (rc == 0 && (status < 200 || status > 299))
        rc = cli_deploy_fail(a->verb, status, &out);
    else if (rc == 0 && (cl->json || table == NULL))
        printf("%s\n", out.data != NULL ? out.data : "");
    else if (rc == 0)
        table(&out);
    buf_fini(&out);
    return rc;
}

/* ---- file:// inputs ---- */

/* --cli-input-json file://PATH (or a literal JSON text) into <out>; <name> gets the label for
 * messages. */
static int
read_input(const struct args *a, struct buf *out, const char **name)
{
    const char *v = a->val[F_INPUT_JSON];
    char chunk[8192];
    ssize_t n;
    int fd;

    if (!str_has_prefix(v, "file://")) {
        buf_append_str(out, v);
        *name = "--cli-input-json";
        return 0;
    }
    *name = v + 7;
    if ((fd = open(v + 7, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "cutover deploy %s: %s: %s\n", a->verb, v + 7, strerror(errno));
        return ERR_EXIT_USAGE;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(out, chunk, (size_t)n);
    close(fd);
    return 0;
}

/* ---- tables ---- */

static void
table_raw_names(const struct buf *b)
{
    /* {"applications":[…]} or {"deploymentGroups":[…]} or {"deployments":[…]}: one per line */
    const char *p = b->data != NULL ? strchr(b->data, '[') : NULL;

    for (; p != NULL && *p != '\0' && *p != ']'; p++) {
        if (*p == '"') {
            const char *e = strchr(p + 1, '"');

            if (e == NULL)
                break;
            printf("%.*s\n", (int)(e - p - 1), p + 1);
            p = e;
        }
    }
}

static void
table_deployment(const struct buf *b)
{
    struct deploy_info d;
    struct err err = {0};
    char t1[DEPLOY_TIME_MAX], t2[DEPLOY_TIME_MAX];

    if (deploy_info_parse(b->data, b->len, &d, &err) != 0) {
        printf("%s\n", b->data);
        return;
    }
    printf("deploymentId   %s\nstatus         %s\napplication    %s\ngroup          %s\n"
           "revision       %s\nconfig         %s\ncreator        %s\ncreated        %s\n"
           "completed      %s\n",
           d.deployment_id, deploy_status_name(d.status), d.application_name, d.group_name,
           d.revision_id, d.config_name, d.creator, deploy_time_format(d.create_ms, t1),
           d.complete_ms != 0 ? deploy_time_format(d.complete_ms, t2) : "-");
    if (d.error_code != DEPLOY_ERR_NONE)
        printf("error          %s: %s\n", deploy_error_code_name(d.error_code),
               d.error_message != NULL ? d.error_message : "");
    if (d.rollback_deployment_id != NULL)
        printf("rolled back by %s\n", d.rollback_deployment_id);
    if (d.rollback_triggering_deployment_id != NULL)
        printf("rollback of    %s\n", d.rollback_triggering_deployment_id);
    printf("instances      pending %u, in progress %u, succeeded %u, failed %u, skipped %u, "
           "ready %u\n",
           d.overview.pending, d.overview.in_progress, d.overview.succeeded, d.overview.failed,
           d.overview.skipped, d.overview.ready);
    deploy_info_fini(&d);
}

static void
print_events(const struct deploy_instance_summary *s, bool detail)
{
    char t1[DEPLOY_TIME_MAX], t2[DEPLOY_TIME_MAX];

    for (size_t j = 0; j < s->nevents; j++) {
        const struct deploy_event *e = &s->events[j];

        printf("  %-20s %-10s %-24s %s\n", e->name, deploy_event_status_name(e->status),
               e->start_ms != 0 ? deploy_time_format(e->start_ms, t1) : "-",
               e->end_ms != 0 ? deploy_time_format(e->end_ms, t2) : "-");
        if (!detail)
            continue;
        if (e->diag.error_code != NULL || e->diag.message != NULL)
            printf("    %s%s%s%s\n", e->diag.error_code != NULL ? e->diag.error_code : "",
                   e->diag.script_name != NULL ? " " : "",
                   e->diag.script_name != NULL ? e->diag.script_name : "",
                   e->diag.message != NULL ? e->diag.message : "");
        if (e->diag.log_tail != NULL && e->diag.log_tail[0] != '\0') {
            printf("    log tail:\n");
            for (const char *p = e->diag.log_tail; *p != '\0';) {
                size_t n = strcspn(p, "\n");

                printf("      %.*s\n", (int)n, p);
                p += n + (p[n] == '\n');
            }
        }
    }
}

static void
table_instances_common(const struct buf *b, bool detail)
{
    struct deploy_instance_summaries l;
    struct err err = {0};

    if (deploy_info_instances_parse(b->data, b->len, &l, &err) != 0) {
        printf("%s\n", b->data);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct deploy_instance_summary *s = &l.items[i];

        printf("%-16s %-10s %-6s %s\n", s->instance_id, deploy_instance_status_name(s->status),
               deploy_instance_type_name(s->instance_type), s->target != NULL ? s->target : "");
        print_events(s, detail);
    }
    deploy_info_instances_fini(&l);
}

static void
table_instances(const struct buf *b)
{
    table_instances_common(b, false);
}

static void
table_instance(const struct buf *b)
{
    table_instances_common(b, true);
}

static void
table_onprem(const struct buf *b)
{
    struct deploy_onprem_list l;
    struct err err = {0};

    if (deploy_info_onprem_list_parse(b->data, b->len, &l, &err) != 0) {
        printf("%s\n", b->data);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const struct deploy_onprem *o = &l.items[i];

        printf("%-16s %-10s %-22s", o->name, o->status != NULL ? o->status : "-",
               o->target != NULL ? o->target : "-");
        for (size_t j = 0; j < o->ntags; j++)
            printf(" %s=%s", o->tags[j].key, o->tags[j].value);
        printf("\n");
    }
    deploy_info_onprem_list_fini(&l);
}

static void
table_ok(const struct buf *b)
{
    (void)b;
    printf("ok\n");
}

/* ---- verbs: applications, groups, configs, instances ---- */

static int
v_create_application(const struct cli_deploy_client *cl, const struct args *a)
{
    char *body;
    int rc;

    if ((rc = need(a, F_APP)) != 0)
        return rc;
    body = deploy_info_application_format(a->val[F_APP]);
    rc = simple(cl, a, "POST", "/v1/applications", body, table_ok);
    free(body);
    return rc;
}

static int
v_list_applications(const struct cli_deploy_client *cl, const struct args *a)
{
    return simple(cl, a, "GET", "/v1/applications", NULL, table_raw_names);
}

static int
put_group(const struct cli_deploy_client *cl, const struct args *a, bool is_create)
{
    struct deploy_group g;
    struct err err = {0};
    struct buf in, path;
    const char *name = NULL;
    int rc;

    if ((rc = need(a, F_INPUT_JSON)) != 0)
        return rc;
    buf_init(&in);
    buf_init(&path);
    if ((rc = read_input(a, &in, &name)) != 0)
        goto out;
    if (deploy_group_parse(in.data != NULL ? in.data : "", in.len, name, &g, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg); /* FILE:LINE:COL: … */
        rc = ERR_EXIT_USAGE;
        goto out;
    }
    buf_append_str(&path, "/v1/applications");
    cli_deploy_append_seg(&path, g.application_name);
    buf_append_str(&path, "/deployment-groups");
    if (!is_create)
        cli_deploy_append_seg(&path,
                              a->val[F_CURRENT_GROUP] != NULL ? a->val[F_CURRENT_GROUP] : g.name);
    deploy_group_fini(&g);
    rc = simple(cl, a, is_create ? "POST" : "PUT", path.data, in.data, NULL);
out:
    buf_fini(&in);
    buf_fini(&path);
    return rc;
}

static int
v_create_group(const struct cli_deploy_client *cl, const struct args *a)
{
    return put_group(cl, a, true);
}

static int
v_update_group(const struct cli_deploy_client *cl, const struct args *a)
{
    return put_group(cl, a, false);
}

static int
v_get_group(const struct cli_deploy_client *cl, const struct args *a)
{
    struct buf path;
    int rc;

    if ((rc = need(a, F_APP)) != 0 || (rc = need(a, F_GROUP)) != 0)
        return rc;
    buf_init(&path);
    buf_append_str(&path, "/v1/applications");
    cli_deploy_append_seg(&path, a->val[F_APP]);
    buf_append_str(&path, "/deployment-groups");
    cli_deploy_append_seg(&path, a->val[F_GROUP]);
    rc = simple(cl, a, "GET", path.data, NULL, NULL);
    buf_fini(&path);
    return rc;
}

static int
v_list_groups(const struct cli_deploy_client *cl, const struct args *a)
{
    struct buf path;
    int rc;

    if ((rc = need(a, F_APP)) != 0)
        return rc;
    buf_init(&path);
    buf_append_str(&path, "/v1/applications");
    cli_deploy_append_seg(&path, a->val[F_APP]);
    buf_append_str(&path, "/deployment-groups");
    rc = simple(cl, a, "GET", path.data, NULL, table_raw_names);
    buf_fini(&path);
    return rc;
}

/* --minimum-healthy-hosts type=HOST_COUNT,value=2 (aws syntax) */
static int
parse_min_healthy(const struct args *a, struct deploy_config *c)
{
    char copy[128];
    bool has_type = false, has_value = false;

    if (str_copy(copy, a->val[F_MIN_HEALTHY], sizeof(copy)) >= sizeof(copy))
        return usage_error(a->verb, "--minimum-healthy-hosts: too long");
    for (char *kv = copy, *next; kv != NULL; kv = next) {
        if ((next = strchr(kv, ',')) != NULL)
            *next++ = '\0';
        if (str_has_prefix(kv, "type=") &&
            deploy_min_healthy_type_parse(kv + 5, &c->min_healthy_type) == 0)
            has_type = true;
        else if (str_has_prefix(kv, "value=") &&
                 str_to_u32(kv + 6, &c->min_healthy_value, 0, 100000) == 0)
            has_value = true;
        else
            return usage_error(a->verb,
                               "--minimum-healthy-hosts: bad '%s' (expected "
                               "type=HOST_COUNT|FLEET_PERCENT,value=N)",
                               kv);
    }
    if (!has_type || !has_value)
        return usage_error(a->verb, "--minimum-healthy-hosts needs type= and value=");
    return 0;
}

static int
v_create_config(const struct cli_deploy_client *cl, const struct args *a)
{
    struct deploy_config c = {0};
    char *body;
    int rc;

    if ((rc = need(a, F_CONFIG)) != 0 || (rc = need(a, F_MIN_HEALTHY)) != 0)
        return rc;
    c.name = a->val[F_CONFIG];
    if ((rc = parse_min_healthy(a, &c)) != 0)
        return rc;
    body = deploy_group_config_request_format(&c);
    rc = simple(cl, a, "POST", "/v1/deployment-configs", body, table_ok);
    free(body);
    return rc;
}

/* Key=fleet,Value=blue into <t> (strings in <store>). */
static int
parse_tag(const struct args *a, const char *s, struct deploy_tag *t, char *store, size_t size)
{
    char *comma;

    if (str_copy(store, s, size) >= size || !str_has_prefix(store, "Key=") ||
        (comma = strstr(store, ",Value=")) == NULL)
        return usage_error(a->verb, "--tags: bad '%s' (expected Key=K,Value=V)", s);
    *comma = '\0';
    t->key = store + 4;
    t->value = comma + 7;
    return 0;
}

static int
v_register_instance(const struct cli_deploy_client *cl, const struct args *a)
{
    struct deploy_tag tags[MAX_TAGS];
    char store[MAX_TAGS][256];
    struct deploy_onprem o = {0};
    char *body;
    int rc;

    if ((rc = need(a, F_INSTANCE_NAME)) != 0)
        return rc;
    for (size_t i = 0; i < a->ntags; i++)
        if ((rc = parse_tag(a, a->tags[i], &tags[i], store[i], sizeof(store[i]))) != 0)
            return rc;
    o.name = a->val[F_INSTANCE_NAME];
    o.tags = tags;
    o.ntags = a->ntags;
    o.target = a->val[F_TARGET];
    body = deploy_info_onprem_request_format(&o);
    rc = simple(cl, a, "POST", "/v1/instances", body, table_ok);
    free(body);
    return rc;
}

static int
v_list_instances(const struct cli_deploy_client *cl, const struct args *a)
{
    return simple(cl, a, "GET", "/v1/instances", NULL, table_onprem);
}

/* ---- push ---- */

/* tar -czf <out> -C <dir> . — an archive writer is libarchive's job, which only the agent
 * links; the system tar writes exactly the bundle the agent unpacks. */
static int
tar_directory(const char *dir, const char *out)
{
    char tar[] = "tar", czf[] = "-czf", chdir_flag[] = "-C", dot[] = ".";
    char *o = mem_strdup(out), *d = mem_strdup(dir);
    char *const argv[] = {tar, czf, o, chdir_flag, d, dot, NULL};
    pid_t pid;
    int status, rc = 0;

    if ((rc = posix_spawnp(&pid, "tar", NULL, NULL, argv, environ)) != 0)
        rc = -rc;
    else if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = -EIO;
    free(o);
    free(d);
    return rc;
}

static const char *
type_of_file(const char *path)
{
    size_t n = strlen(path);

    if (n > 4 && strcmp(path + n - 4, ".zip") == 0)
        return "zip";
    if (n > 4 && strcmp(path + n - 4, ".tar") == 0)
        return "tar";
    return "tgz";
}

static int
read_file(const char *path, struct buf *out)
{
    char chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(out, chunk, (size_t)n);
    close(fd);
    return n < 0 ? -EIO : 0;
}

static int
upload(const struct cli_deploy_client *cl, const struct args *a, const char *file, const char *type)
{
    struct deploy_revision rev;
    struct buf body, out, path;
    struct err err = {0};
    long status = 0;
    int rc;

    buf_init(&body);
    buf_init(&out);
    buf_init(&path);
    if ((rc = read_file(file, &body)) != 0) {
        fprintf(stderr, "cutover deploy push: %s: %s\n", file, strerror(-rc));
        rc = ERR_EXIT_FAILED;
        goto out;
    }
    buf_append_str(&path, "/v1/applications");
    cli_deploy_append_seg(&path, a->val[F_APP]);
    buf_appendf(&path, "/revisions?bundleType=%s", type);
    rc = cli_deploy_call(cl, "POST", path.data, body.data, body.len, "application/octet-stream",
                         &status, &out);
    if (rc == 0 && (status < 200 || status > 299))
        rc = cli_deploy_fail(a->verb, status, &out);
    else if (rc == 0 && cl->json)
        printf("%s\n", out.data);
    else if (rc == 0 && deploy_info_revision_parse(out.data, out.len, &rev, &err) == 0) {
        printf("%s\n", rev.revision_id);
        deploy_info_revision_fini(&rev);
    }
out:
    buf_fini(&body);
    buf_fini(&out);
    buf_fini(&path);
    return rc;
}

static int
v_push(const struct cli_deploy_client *cl, const struct args *a)
{
    const char *src = a->val[F_SOURCE], *type = a->val[F_BUNDLE_TYPE];
    char tmp[] = "/tmp/cutover-push-XXXXXX";
    struct stat sb;
    int rc, fd;

    if ((rc = need(a, F_APP)) != 0 || (rc = need(a, F_SOURCE)) != 0)
        return rc;
    if (stat(src, &sb) != 0)
        return usage_error(a->verb, "--source %s: %s", src, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return upload(cl, a, src, type != NULL ? type : type_of_file(src));
    if (type != NULL && strcmp(type, "tgz") != 0)
        return usage_error(a->verb, "a directory is pushed as tgz");
    if ((fd = mkstemp(tmp)) < 0)
        return usage_error(a->verb, "cannot create a temporary file: %s", strerror(errno));
    close(fd);
    if ((rc = tar_directory(src, tmp)) != 0) {
        fprintf(stderr, "cutover deploy push: tar of %s failed\n", src);
        unlink(tmp);
        return ERR_EXIT_FAILED;
    }
    rc = upload(cl, a, tmp, "tgz");
    unlink(tmp);
    return rc;
}

/* ---- deployments ---- */

static int
parse_create(const struct args *a, struct deploy_create_request *r)
{
    const char *fe = a->val[F_FILE_EXISTS], *ar = a->val[F_AUTO_ROLLBACK_CONF];
    int rc;

    if ((rc = need(a, F_APP)) != 0 || (rc = need(a, F_GROUP)) != 0 ||
        (rc = need(a, F_REVISION)) != 0)
        return rc;
    r->application_name = a->val[F_APP];
    r->group_name = a->val[F_GROUP];
    r->revision_id = a->val[F_REVISION];
    r->config_name = a->val[F_CONFIG];
    r->description = a->val[F_DESCRIPTION];
    r->ignore_application_stop_failures = a->val[F_IGNORE_STOP] != NULL;
    r->auto_rollback_override = -1;
    if (fe != NULL && deploy_file_exists_parse(fe, &r->file_exists) != 0)
        return usage_error(a->verb,
                           "--file-exists-behavior: '%s' (expected DISALLOW, "
                           "OVERWRITE or RETAIN)",
                           fe);
    if (ar != NULL) {
        if (str_has_prefix(ar, "enabled=true"))
            r->auto_rollback_override = 1;
        else if (str_has_prefix(ar, "enabled=false"))
            r->auto_rollback_override = 0;
        else
            return usage_error(a->verb, "--auto-rollback-configuration: expected enabled=true or "
                                        "enabled=false");
    }
    return 0;
}

static int
v_create_deployment(const struct cli_deploy_client *cl, const struct args *a)
{
    struct deploy_create_request r = {0};
    struct buf out;
    struct arena ar;
    const char *id = NULL;
    uint64_t wait_ms = 3600 * 1000;
    long status = 0;
    char *body;
    int rc;

    if ((rc = parse_create(a, &r)) != 0)
        return rc;
    if (a->val[F_WAIT_TIMEOUT] != NULL && str_parse_duration_ms(a->val[F_WAIT_TIMEOUT], &wait_ms))
        return usage_error(a->verb, "--wait-timeout: expected a duration such as 30m");
    body = deploy_info_request_format(&r);
    buf_init(&out);
    arena_init(&ar, 256);
    rc = cli_deploy_call(cl, "POST", "/v1/deployments", body, strlen(body), NULL, &status, &out);
    free(body);
    if (rc == 0 && (status < 200 || status > 299))
        rc = cli_deploy_fail(a->verb, status, &out);
    else if (rc == 0 && deploy_info_id_parse(out.data, out.len, &ar, &id, NULL) != 0)
        rc = cli_deploy_fail(a->verb, status, &out);
    else if (rc == 0 && a->val[F_WAIT] == NULL)
        printf("%s\n", cl->json ? out.data : id);
    else if (rc == 0) {
        if (!cl->json)
            printf("%s\n", id);
        fflush(stdout);
        rc = cli_deploy_wait_run(cl, id, (long)wait_ms);
    }
    arena_fini(&ar);
    buf_fini(&out);
    return rc;
}

static int
deployment_path(const struct args *a, struct buf *path, const char *suffix)
{
    int rc;

    if ((rc = need(a, F_DEPLOYMENT_ID)) != 0)
        return rc;
    buf_append_str(path, "/v1/deployments");
    cli_deploy_append_seg(path, a->val[F_DEPLOYMENT_ID]);
    if (suffix != NULL)
        buf_append_str(path, suffix);
    return 0;
}

static int
with_path(const struct cli_deploy_client *cl, const struct args *a, const char *method,
          const char *suffix, const char *body, void (*table)(const struct buf *))
{
    struct buf path;
    int rc;

    buf_init(&path);
    if ((rc = deployment_path(a, &path, suffix)) == 0)
        rc = simple(cl, a, method, path.data, body, table);
    buf_fini(&path);
    return rc;
}

static int
v_get_deployment(const struct cli_deploy_client *cl, const struct args *a)
{
    return with_path(cl, a, "GET", NULL, NULL, table_deployment);
}

static int
v_list_deployments(const struct cli_deploy_client *cl, const struct args *a)
{
    struct buf path;
    int rc;

    buf_init(&path);
    buf_append_str(&path, "/v1/deployments?");
    if (a->val[F_APP] != NULL) {
        buf_append_str(&path, "applicationName=");
        append_escaped(&path, a->val[F_APP]);
    }
    if (a->val[F_GROUP] != NULL) {
        buf_append_str(&path, "&deploymentGroupName=");
        append_escaped(&path, a->val[F_GROUP]);
    }
    rc = simple(cl, a, "GET", path.data, NULL, table_raw_names);
    buf_fini(&path);
    return rc;
}

static int
v_list_deployment_instances(const struct cli_deploy_client *cl, const struct args *a)
{
    return with_path(cl, a, "GET", "/instances", NULL, table_instances);
}

static int
v_get_deployment_instance(const struct cli_deploy_client *cl, const struct args *a)
{
    struct buf suffix;
    int rc;

    if ((rc = need(a, F_INSTANCE_ID)) != 0)
        return rc;
    buf_init(&suffix);
    buf_append_str(&suffix, "/instances");
    cli_deploy_append_seg(&suffix, a->val[F_INSTANCE_ID]);
    rc = with_path(cl, a, "GET", suffix.data, NULL, table_instance);
    buf_fini(&suffix);
    return rc;
}

static int
v_stop_deployment(const struct cli_deploy_client *cl, const struct args *a)
{
    int ar = a->val[F_AUTO_ROLLBACK] != NULL ? 1 : a->val[F_NO_AUTO_ROLLBACK] != NULL ? 0 : -1;
    char *body = deploy_info_stop_format(ar);
    int rc = with_path(cl, a, "POST", "/stop", body, table_ok);

    free(body);
    return rc;
}

static int
v_continue_deployment(const struct cli_deploy_client *cl, const struct args *a)
{
    return with_path(cl, a, "POST", "/continue", "{}", table_ok);
}

static const struct verb verbs[] = {
    {"create-application", v_create_application, "--application-name NAME"},
    {"list-applications", v_list_applications, ""},
    {"create-deployment-group", v_create_group, "--cli-input-json file://group.json"},
    {"update-deployment-group", v_update_group,
     "--cli-input-json file://group.json [--current-deployment-group-name NAME]"},
    {"get-deployment-group", v_get_group, "--application-name APP --deployment-group-name GROUP"},
    {"list-deployment-groups", v_list_groups, "--application-name APP"},
    {"create-deployment-config", v_create_config,
     "--deployment-config-name NAME --minimum-healthy-hosts type=HOST_COUNT|FLEET_PERCENT,value=N"},
    {"register-on-premises-instance", v_register_instance,
     "--instance-name NAME [--tags Key=K,Value=V …] [--target HOST:PORT]"},
    {"list-on-premises-instances", v_list_instances, ""},
    {"push", v_push, "--application-name APP --source DIR|BUNDLE [--bundle-type tgz|tar|zip]"},
    {"create-deployment", v_create_deployment,
     "--application-name APP --deployment-group-name GROUP --revision ID "
     "[--deployment-config-name NAME] [--description TEXT] [--file-exists-behavior "
     "DISALLOW|OVERWRITE|RETAIN] [--ignore-application-stop-failures] "
     "[--auto-rollback-configuration enabled=true|false] [--wait [--wait-timeout 1h]]"},
    {"get-deployment", v_get_deployment, "--deployment-id ID"},
    {"list-deployments", v_list_deployments,
     "[--application-name APP] [--deployment-group-name GROUP]"},
    {"list-deployment-instances", v_list_deployment_instances, "--deployment-id ID"},
    {"get-deployment-instance", v_get_deployment_instance, "--deployment-id ID --instance-id NAME"},
    {"stop-deployment", v_stop_deployment,
     "--deployment-id ID [--auto-rollback-enabled | --no-auto-rollback-enabled]"},
    {"continue-deployment", v_continue_deployment, "--deployment-id ID"},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover deploy <verb> [--server URL] [--token T | --token-file PATH] "
                 "[--ca-bundle PEM] [--output json|table] …\n\n");
    for (size_t i = 0; i < NVERBS; i++)
        fprintf(out, "  %s %s\n", verbs[i].name, verbs[i].usage);
    fprintf(out,
            "\nURL defaults to $CUTOVER_SERVER or %s, T to $CUTOVER_TOKEN.\n"
            "Exit: 0 ok, 1 failed, 2 usage, 75 server unreachable.\n",
            CLI_DEPLOY_DEFAULT_SERVER);
}

static int
setup_client(const struct args *a, struct cli_deploy_client *cl, char *token, size_t size)
{
    const char *out = a->val[F_OUTPUT] != NULL ? a->val[F_OUTPUT] : "table";
    const char *env;

    if (strcmp(out, "json") != 0 && strcmp(out, "table") != 0)
        return usage_error(a->verb, "--output: '%s' (expected json or table)", out);
    cl->json = strcmp(out, "json") == 0;
    cl->server = a->val[F_SERVER] != NULL                   ? a->val[F_SERVER]
                 : (env = getenv("CUTOVER_SERVER")) != NULL ? env
                                                            : CLI_DEPLOY_DEFAULT_SERVER;
    cl->cacert = a->val[F_CACERT];
    cl->token = a->val[F_TOKEN] != NULL ? a->val[F_TOKEN] : getenv("CUTOVER_TOKEN");
    if (a->val[F_TOKEN_FILE] != NULL) {
        FILE *fp = fopen(a->val[F_TOKEN_FILE], "re");

        if (fp == NULL || fgets(token, (int)size, fp) == NULL) {
            if (fp != NULL)
                fclose(fp);
            return usage_error(a->verb, "--token-file %s: cannot read it", a->val[F_TOKEN_FILE]);
        }
        fclose(fp);
        token[strcspn(token, " \r\n")] = '\0';
        cl->token = token;
    }
    if (cl->token == NULL || cl->token[0] == '\0')
        return usage_error(a->verb, "no token: give --token, --token-file or set CUTOVER_TOKEN");
    return 0;
}

int
cli_deploy_main(int argc, char **argv)
{
    struct args a;
    struct cli_deploy_client cl = {0};
    char token[512];
    const struct verb *v = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ERR_EXIT_USAGE : ERR_EXIT_OK;
    }
    for (size_t i = 0; i < NVERBS && v == NULL; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            v = &verbs[i];
    a.verb = argv[1];
    if (v == NULL) {
        fprintf(stderr, "cutover deploy: unknown verb '%s'\n", argv[1]);
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: cutover deploy %s %s\n", v->name, v->usage);
            return ERR_EXIT_OK;
        }
    if ((rc = parse_args(argc, argv, &a)) != 0 ||
        (rc = setup_client(&a, &cl, token, sizeof(token))) != 0)
        return rc;
    if (http_fetch_global_init() != 0) {
        fprintf(stderr, "cutover deploy: libcurl failed to initialise\n");
        return ERR_EXIT_FAILED;
    }
    return v->run(&cl, &a);
}
