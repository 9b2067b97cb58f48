/* SPDX-License-Identifier: ISC */
/* `cutover apply -f stack.yaml`: parse and validate the stack, fetch what the proxy and the
 * server hold, print the plan, then apply it in order: the proxy in one POST /changes, then
 * deployment configs, applications and deployment groups. Nothing is written before every check
 * has passed, and nothing at all when the plan has no change. */
#include "cli/cli_apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_deploy.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/deploy_info.h"
#include "protocol/proxy_api.h"
#include "protocol/stack.h"
#include "protocol/stack_plan.h"

#define APPLY_TIMEOUT_MS 60000
#define APPLY_DEFAULT_ADMIN "127.0.0.1:9901"

struct opts {
    const char *file;       /* borrowed: argv */
    const char *server;     /* borrowed: argv; --server, or NULL */
    const char *token;      /* borrowed: argv, environ or run.token */
    const char *token_file; /* borrowed: argv */
    const char *cacert;     /* borrowed: argv */
    const char *admin;      /* borrowed: argv; --admin, or NULL */
    bool json;
    bool dry_run;
    bool reset_traffic;
};

/* Everything one run holds; released by run_fini. */
struct run {
    struct opts o;
    struct stack s;           /* owned */
    struct stack_plan plan;   /* owned */
    const char *admin;        /* borrowed: opts, environ, the stack or a literal */
    const char *server;       /* borrowed: same */
    char token[512];          /* --token-file's token */
    struct buf listeners;     /* owned: GET /listeners */
    struct buf groups;        /* owned: GET /target-groups */
    struct buf apps;          /* owned: GET /v1/applications */
    struct buf *configs;      /* owned: s.nconfigs answers */
    struct buf *dgroups;      /* owned: s.ndgroups answers */
    const char **config_docs; /* owned array; entries borrowed from configs, NULL where 404 */
    const char **group_docs;  /* owned array; entries borrowed from dgroups, NULL where 404 */
    const char **known;       /* owned array; entries borrowed from s: configs the server has
                               * that the stack does not declare */
    size_t nknown;
    bool *applied; /* owned: per plan item, written */
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover apply -f stack.yaml [--dry-run] [--reset-traffic] [--server URL]\n"
                 "                     [--token T | --token-file PATH] [--ca-bundle PEM]\n"
                 "                     [--admin ADDR] [--output json|table]\n\n"
                 "Creates or updates the proxy's listeners and target groups, deployment configs,\n"
                 "applications and deployment groups that stack.yaml describes; never deletes.\n"
                 "Exit: 0 ok, 1 a change failed, 2 invalid stack or usage, 75 unreachable.\n"
                 "See docs/man/cutover-apply.md.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cutover apply: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see cutover apply --help)\n");
    return ERR_EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
    static const char *const valued[] = {"-f",           "--file",      "--server", "--token",
                                         "--token-file", "--ca-bundle", "--admin",  "--output"};
    const char **slots[] = {&o->file,       &o->file,   &o->server, &o->token,
                            &o->token_file, &o->cacert, &o->admin,  NULL};
    const char *output = "table";

    for (int i = 1; i < argc; i++) {
        bool done = false;

        if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "--reset-traffic") == 0) {
            *(argv[i][2] == 'd' ? &o->dry_run : &o->reset_traffic) = true;
            continue;
        }
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]) && !done; k++) {
            if (strcmp(argv[i], valued[k]) != 0)
                continue;
            if (i + 1 >= argc)
                return usage_error("%s needs a value", valued[k]);
            *(slots[k] != NULL ? slots[k] : &output) = argv[++i];
            done = true;
        }
        if (!done)
            return usage_error("unknown argument '%s'", argv[i]);
    }
    if (strcmp(output, "json") != 0 && strcmp(output, "table") != 0)
        return usage_error("--output: '%s' (expected json or table)", output);
    o->json = strcmp(output, "json") == 0;
    if (o->file == NULL)
        return usage_error("%s is required", "-f stack.yaml");
    return 0;
}

/* ---- HTTP ---- */

/* One call. Returns 0 with *status and <out> filled for any answer; ERR_EXIT_TEMPFAIL (after
 * saying so) when <what> cannot be reached. */
static int
call(struct run *r, bool to_proxy, const char *method, const char *path, const char *body,
     long *status, struct buf *out)
{
    struct http_fetch_opts fo = {.method = method,
                                 .body = body,
                                 .body_len = body != NULL ? strlen(body) : 0,
                                 .cafile = r->o.cacert,
                                 .timeout_ms = APPLY_TIMEOUT_MS,
                                 .out_fd = -1};
    struct http_fetch_response resp = {0};
    struct err err = {0};
    char url[2048];
    const char *host = r->admin;

    if (to_proxy && str_has_prefix(r->admin, "unix:")) {
        fo.unix_path = r->admin + 5;
        host = "localhost";
    } else if (to_proxy && str_has_prefix(r->admin, "http://")) {
        host = r->admin + 7;
    }
    if (to_proxy)
        snprintf(url, sizeof(url), "http://%.*s%s", (int)strcspn(host, "/"), host, path);
    else
        snprintf(url, sizeof(url), "%s%s", r->server, path);
    fo.url = url;
    fo.bearer = to_proxy ? NULL : r->o.token;
    if (http_fetch_do(&fo, &resp, &err) != 0) {
        fprintf(stderr, "cutover apply: cannot reach the %s at %s: %s\n",
                to_proxy ? "proxy admin API" : "server", to_proxy ? r->admin : r->server, err.msg);
        return ERR_EXIT_TEMPFAIL;
    }
    *status = resp.status;
    buf_reset(out);
    buf_append(out, resp.body.data != NULL ? resp.body.data : "", resp.body.len);
    buf_append(out, "", 1);
    out->len--;
    http_fetch_response_fini(&resp);
    return 0;
}

/* The error an answer carries ("…" of {"error":"…"}), printed after <what>. */
static int
refused(const char *what, long status, const struct buf *body)
{
    struct arena a;
    const char *msg = NULL, *id = NULL;

    arena_init(&a, 512);
    if (body->len > 0 && deploy_info_error_parse(body->data, body->len, &a, &msg, &id) == 0)
        fprintf(stderr, "cutover apply: %s: %s (HTTP %ld)\n", what, msg, status);
    else
        fprintf(stderr, "cutover apply: %s: HTTP %ld\n", what, status);
    arena_fini(&a);
    return ERR_EXIT_FAILED;
}

/* GET <path>; 404 leaves *found false. */
static int
get(struct run *r, bool to_proxy, const char *path, struct buf *out, bool *found)
{
    long status = 0;
    int rc;

    if ((rc = call(r, to_proxy, "GET", path, NULL, &status, out)) != 0)
        return rc;
    if (found != NULL && status == 404) {
        *found = false;
        return 0;
    }
    if (status != 200)
        return refused(path, status, out);
    if (found != NULL)
        *found = true;
    return 0;
}

/* ---- fetching what exists ---- */

static bool
needs_proxy(const struct stack *s)
{
    bool refs = false;

    for (size_t i = 0; i < s->ndgroups && !refs; i++)
        refs = s->dgroups[i].listener != NULL || s->dgroups[i].target_groups[0] != NULL ||
               s->dgroups[i].target_groups[2] != NULL;
    return s->has_proxy || refs;
}

static void
config_path(struct buf *b, const char *name)
{
    buf_reset(b);
    buf_append_str(b, "/v1/deployment-configs");
    cli_deploy_append_seg(b, name);
}

static void
group_path(struct buf *b, const char *app, const char *group)
{
    buf_reset(b);
    buf_append_str(b, "/v1/applications");
    cli_deploy_append_seg(b, app);
    if (group != NULL) {
        buf_append_str(b, "/deployment-groups");
        cli_deploy_append_seg(b, group);
    }
}

/* Configs the groups name that neither the stack declares nor are built in. */
static int
fetch_other_configs(struct run *r, struct buf *path)
{
    struct buf scratch;
    int rc = 0;

    buf_init(&scratch);
    r->known = mem_calloc(r->s.ndgroups + 1, sizeof(*r->known));
    for (size_t i = 0; i < r->s.ndgroups && rc == 0; i++) {
        const char *name = r->s.dgroups[i].config_name;
        bool found = false;

        if (stack_config_is_known(&r->s, name))
            continue;
        config_path(path, name);
        if ((rc = get(r, false, path->data, &scratch, &found)) == 0 && found)
            r->known[r->nknown++] = name;
    }
    buf_fini(&scratch);
    return rc;
}

static int
fetch_server(struct run *r)
{
    struct stack *s = &r->s;
    struct buf path;
    bool found;
    int rc;

    if ((rc = get(r, false, "/v1/applications", &r->apps, NULL)) != 0)
        return rc;
    buf_init(&path);
    r->configs = mem_calloc(s->nconfigs + 1, sizeof(*r->configs));
    r->config_docs = mem_calloc(s->nconfigs + 1, sizeof(*r->config_docs));
    r->dgroups = mem_calloc(s->ndgroups + 1, sizeof(*r->dgroups));
    r->group_docs = mem_calloc(s->ndgroups + 1, sizeof(*r->group_docs));
    for (size_t i = 0; i < s->nconfigs && rc == 0; i++) {
        buf_init(&r->configs[i]);
        config_path(&path, s->configs[i].name);
        if ((rc = get(r, false, path.data, &r->configs[i], &found)) == 0 && found)
            r->config_docs[i] = r->configs[i].data;
    }
    for (size_t i = 0; i < s->ndgroups && rc == 0; i++) {
        buf_init(&r->dgroups[i]);
        group_path(&path, s->dgroups[i].application, s->dgroups[i].name);
        if ((rc = get(r, false, path.data, &r->dgroups[i], &found)) == 0 && found)
            r->group_docs[i] = r->dgroups[i].data;
    }
    if (rc == 0)
        rc = fetch_other_configs(r, &path);
    buf_fini(&path);
    return rc;
}

static int
fetch(struct run *r, struct stack_live *live)
{
    int rc;

    memset(live, 0, sizeof(*live));
    if (needs_proxy(&r->s)) {
        if ((rc = get(r, true, "/listeners", &r->listeners, NULL)) != 0 ||
            (rc = get(r, true, "/target-groups", &r->groups, NULL)) != 0)
            return rc;
        live->listeners_doc = r->listeners.data;
        live->groups_doc = r->groups.data;
    }
    if (r->s.nconfigs + r->s.napps + r->s.ndgroups == 0)
        return 0;
    if (r->o.token == NULL || r->o.token[0] == '\0')
        return usage_error("%s", "no token for the server: give --token, --token-file or set "
                                 "CUTOVER_TOKEN");
    if ((rc = fetch_server(r)) != 0)
        return rc;
    live->apps_doc = r->apps.data;
    live->config_docs = r->config_docs;
    live->group_docs = r->group_docs;
    live->known_configs = r->known;
    live->nknown_configs = r->nknown;
    return 0;
}

/* ---- output ---- */

static void
print_plan(const struct stack_plan *p)
{
    static const char sign[] = {
        [STACK_UNCHANGED] = '=', [STACK_CREATE] = '+', [STACK_UPDATE] = '~'};

    for (size_t i = 0; i < p->n; i++) {
        const struct stack_item *it = &p->items[i];

        printf("%c %s %s", sign[it->action], stack_plan_kind_name(it->kind), it->name);
        if (it->differs != NULL || it->note != NULL) /* "(what differs; a note)" */
            printf(" (%s%s%s)", it->differs != NULL ? it->differs : "",
                   it->differs != NULL && it->note != NULL ? "; " : "",
                   it->note != NULL ? it->note : "");
        printf("\n");
    }
}

static void
print_partial(const struct run *r)
{
    struct buf done, todo;

    buf_init(&done);
    buf_init(&todo);
    for (size_t i = 0; i < r->plan.n; i++) {
        const struct stack_item *it = &r->plan.items[i];
        struct buf *b = r->applied[i] ? &done : &todo;

        if (it->action == STACK_UNCHANGED)
            continue;
        buf_appendf(b, "%s%s %s", b->len > 0 ? ", " : "", stack_plan_kind_name(it->kind), it->name);
    }
    fprintf(stderr,
            "cutover apply: applied: %s\ncutover apply: not applied: %s\n"
            "cutover apply: fix the cause and run apply again; it converges\n",
            done.len > 0 ? done.data : "nothing", todo.len > 0 ? todo.data : "nothing");
    buf_fini(&done);
    buf_fini(&todo);
}

/* ---- applying ---- */

static int
apply_proxy(struct run *r)
{
    char *body = stack_plan_changes_format(&r->s, &r->plan);
    struct buf out;
    long status = 0;
    int rc;

    if (body == NULL)
        return 0;
    buf_init(&out);
    rc = call(r, true, "POST", "/changes", body, &status, &out);
    free(body);
    if (rc == 0 && status != 200)
        rc = refused("proxy: POST /changes (nothing changed on the proxy)", status, &out);
    buf_fini(&out);
    for (size_t i = 0; i < r->plan.n && rc == 0; i++)
        r->applied[i] =
            r->plan.items[i].kind == STACK_TARGET_GROUP || r->plan.items[i].kind == STACK_LISTENER;
    return rc;
}

/* The request that carries out server item <it>: method, path and body (malloc'd). */
static char *
server_request(struct run *r, const struct stack_item *it, const char **method, struct buf *path)
{
    switch (it->kind) {
    case STACK_CONFIG:
        *method = "POST";
        buf_append_str(path, "/v1/deployment-configs");
        return stack_config_body_format(&r->s, it->index);
    case STACK_APPLICATION:
        *method = "POST";
        buf_append_str(path, "/v1/applications");
        return deploy_info_application_format(it->name);
    case STACK_DEPLOYMENT_GROUP: {
        const struct stack_group *g = &r->s.dgroups[it->index];

        *method = it->action == STACK_CREATE ? "POST" : "PUT";
        group_path(path, g->application, NULL);
        buf_append_str(path, "/deployment-groups");
        if (it->action == STACK_UPDATE)
            cli_deploy_append_seg(path, g->name);
        return mem_strdup(g->body);
    }
    case STACK_TARGET_GROUP:
    case STACK_LISTENER:
        break;
    }
    return NULL;
}

static int
apply_server(struct run *r)
{
    static const enum stack_kind order[] = {STACK_CONFIG, STACK_APPLICATION,
                                            STACK_DEPLOYMENT_GROUP};
    struct buf path, out, what;
    int rc = 0;

    buf_init(&path);
    buf_init(&out);
    buf_init(&what);
    for (size_t k = 0; k < 3 && rc == 0; k++) {
        for (size_t i = 0; i < r->plan.n && rc == 0; i++) {
            const struct stack_item *it = &r->plan.items[i];
            const char *method = NULL;
            long status = 0;
            char *body;

            if (it->kind != order[k] || it->action == STACK_UNCHANGED)
                continue;
            buf_reset(&path);
            body = server_request(r, it, &method, &path);
            rc = call(r, false, method, path.data, body, &status, &out);
            free(body);
            buf_reset(&what);
            buf_appendf(&what, "%s %s", stack_plan_kind_name(it->kind), it->name);
            if (rc == 0 && (status < 200 || status > 299))
                rc = refused(what.data, status, &out);
            r->applied[i] = rc == 0;
        }
    }
    buf_fini(&path);
    buf_fini(&out);
    buf_fini(&what);
    return rc;
}

/* ---- main ---- */

static int
load(struct run *r)
{
    struct buf text;
    struct err err = {0};
    char chunk[8192], url[300];
    const char *override;
    ssize_t n;
    int fd, rc;

    if ((fd = open(r->o.file, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "cutover apply: %s: %s\n", r->o.file, strerror(errno));
        return ERR_EXIT_USAGE;
    }
    buf_init(&text);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(&text, chunk, (size_t)n);
    close(fd);
    override = r->o.admin != NULL ? r->o.admin : getenv("CUTOVER_PROXY_ADMIN");
    if (override != NULL && override[0] == '\0')
        override = NULL;
    url[0] = '\0';
    if (override != NULL && !str_has_prefix(override, "unix:"))
        snprintf(url, sizeof(url), "%s%s", str_has_prefix(override, "http://") ? "" : "http://",
                 override);
    rc = stack_parse(&r->s, r->o.file, text.data != NULL ? text.data : "", text.len,
                     url[0] != '\0' ? url : NULL, &err);
    buf_fini(&text);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return ERR_EXIT_USAGE;
    }
    r->admin = override != NULL ? override : r->s.admin != NULL ? r->s.admin : APPLY_DEFAULT_ADMIN;
    for (size_t i = 0; i < r->s.ndgroups && override == NULL && r->s.admin == NULL; i++)
        if (r->s.dgroups[i].proxy_admin != NULL) { /* no proxy part: the groups' proxy */
            r->admin = r->s.dgroups[i].proxy_admin;
            break;
        }
    r->server = r->o.server != NULL                ? r->o.server
                : getenv("CUTOVER_SERVER") != NULL ? getenv("CUTOVER_SERVER")
                : r->s.server != NULL              ? r->s.server
                                                   : CLI_DEPLOY_DEFAULT_SERVER;
    return 0;
}

static int
read_token(struct run *r)
{
    FILE *fp;

    if (r->o.token == NULL)
        r->o.token = getenv("CUTOVER_TOKEN");
    if (r->o.token_file == NULL)
        return 0;
    if ((fp = fopen(r->o.token_file, "re")) == NULL ||
        fgets(r->token, sizeof(r->token), fp) == NULL) {
        if (fp != NULL)
            fclose(fp);
        return usage_error("--token-file %s: cannot read it", r->o.token_file);
    }
    fclose(fp);
    r->token[strcspn(r->token, " \r\n")] = '\0';
    r->o.token = r->token;
    return 0;
}

static int
plan_and_apply(struct run *r)
{
    struct stack_live live;
    struct err err = {0};
    char *doc;
    int rc;

    if ((rc = fetch(r, &live)) != 0)
        return rc;
    if ((rc = stack_plan_make(&r->s, &live, r->o.reset_traffic, &r->plan, &err)) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return rc == -EINVAL ? ERR_EXIT_USAGE : ERR_EXIT_FAILED;
    }
    r->applied = mem_calloc(r->plan.n + 1, sizeof(*r->applied));
    if (!r->o.json)
        print_plan(&r->plan);
    if (!r->o.dry_run && r->plan.ncreate + r->plan.nupdate > 0) {
        if ((rc = apply_proxy(r)) == 0)
            rc = apply_server(r);
        if (rc != 0)
            print_partial(r);
    }
    if (r->o.json) {
        doc = stack_plan_format(&r->plan, r->applied, r->o.dry_run);
        printf("%s\n", doc);
        free(doc);
    } else if (r->plan.ncreate + r->plan.nupdate == 0) {
        printf("no changes\n");
    } else if (rc == 0 && r->o.dry_run) {
        printf("dry run: %zu to create, %zu to update (nothing changed)\n", r->plan.ncreate,
               r->plan.nupdate);
    } else if (rc == 0) {
        printf("applied: %zu created, %zu updated\n", r->plan.ncreate, r->plan.nupdate);
    }
    return rc;
}

static void
run_fini(struct run *r)
{
    for (size_t i = 0; r->configs != NULL && i < r->s.nconfigs; i++)
        buf_fini(&r->configs[i]);
    for (size_t i = 0; r->dgroups != NULL && i < r->s.ndgroups; i++)
        buf_fini(&r->dgroups[i]);
    free(r->configs);
    free(r->dgroups);
    free(r->config_docs);
    free(r->group_docs);
    free(r->known);
    free(r->applied);
    buf_fini(&r->listeners);
    buf_fini(&r->groups);
    buf_fini(&r->apps);
    stack_plan_fini(&r->plan);
    stack_fini(&r->s);
}

int
cli_apply_main(int argc, char **argv)
{
    struct run *r;
    int rc;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return ERR_EXIT_OK;
        }
    r = mem_calloc(1, sizeof(*r));
    buf_init(&r->listeners);
    buf_init(&r->groups);
    buf_init(&r->apps);
    if ((rc = parse_args(argc, argv, &r->o)) == 0 && (rc = read_token(r)) == 0 &&
        (rc = load(r)) == 0) {
        if (http_fetch_global_init() != 0) {
            fprintf(stderr, "cutover apply: libcurl failed to initialise\n");
            rc = ERR_EXIT_FAILED;
        } else {
            rc = plan_and_apply(r);
        }
    }
    run_fini(r);
    free(r);
    return rc;
}
