/* SPDX-License-Identifier: ISC */
/* `cutover proxy <verb>`: builds the request body with protocol/proxy_api, sends it with
 * common/http_fetch, and prints the answer as JSON (the API's own document) or as a table. */
#include "cli/cli_proxy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/proxy_api.h"

#define CLI_PROXY_DEFAULT_ADMIN "127.0.0.1:9901"
#define CLI_PROXY_TIMEOUT_MS 30000
#define CLI_PROXY_MAX_LIST 1024

struct opts {
    const char *verb;
    const char *admin;        /* --admin, $CUTOVER_PROXY_ADMIN or the default */
    const char *target_group; /* --target-group */
    const char *listener;     /* --listener */
    const char *forward;      /* --forward blue=90,green=10 */
    const char *targets;      /* --targets a:p,b:p */
    const char *bind;         /* --bind HOST:PORT */
    const char *algorithm;    /* --algorithm */
    const char *dereg_ms;     /* --deregistration-delay-ms */
    const char *hc_path;      /* --health-check-path */
    const char *hc_port;      /* --health-check-port */
    const char *hc_interval;  /* --health-check-interval-ms */
    const char *hc_timeout;   /* --health-check-timeout-ms */
    const char *healthy;      /* --healthy-threshold */
    const char *unhealthy;    /* --unhealthy-threshold */
    const char *matcher;      /* --matcher */
    bool json;                /* --output json */
};

enum verb_id {
    VERB_DESCRIBE_TARGET_HEALTH,
    VERB_MODIFY_LISTENER,
    VERB_REGISTER_TARGETS,
    VERB_DEREGISTER_TARGETS,
    VERB_DESCRIBE_LISTENERS,
    VERB_DESCRIBE_TARGET_GROUPS,
    VERB_CREATE_TARGET_GROUP,
    VERB_DELETE_TARGET_GROUP,
    VERB_CREATE_LISTENER,
    VERB_DELETE_LISTENER,
};

static const struct verb {
    const char *name;
    enum verb_id id;
    const char *usage;
} verbs[] = {
    {"describe-target-health", VERB_DESCRIBE_TARGET_HEALTH, "--target-group NAME"},
    {"modify-listener", VERB_MODIFY_LISTENER, "--listener NAME --forward GROUP=WEIGHT[,…]"},
    {"register-targets", VERB_REGISTER_TARGETS, "--target-group NAME --targets HOST:PORT[,…]"},
    {"deregister-targets", VERB_DEREGISTER_TARGETS, "--target-group NAME --targets HOST:PORT[,…]"},
    {"describe-listeners", VERB_DESCRIBE_LISTENERS, ""},
    {"describe-target-groups", VERB_DESCRIBE_TARGET_GROUPS, ""},
    {"create-target-group", VERB_CREATE_TARGET_GROUP,
     "--target-group NAME [--targets HOST:PORT[,…]] [--algorithm A]\n"
     "                                         [--deregistration-delay-ms N] "
     "[--health-check-path P]\n"
     "                                         [--health-check-port N] "
     "[--health-check-interval-ms N]\n"
     "                                         [--health-check-timeout-ms N] "
     "[--healthy-threshold N]\n"
     "                                         [--unhealthy-threshold N] [--matcher M]"},
    {"delete-target-group", VERB_DELETE_TARGET_GROUP, "--target-group NAME"},
    {"create-listener", VERB_CREATE_LISTENER,
     "--listener NAME [--bind HOST:PORT] [--forward GROUP=WEIGHT[,…]]"},
    {"delete-listener", VERB_DELETE_LISTENER, "--listener NAME"},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static const struct verb *
find_verb(const char *word)
{
    for (size_t i = 0; i < NVERBS; i++) {
        if (strcmp(word, verbs[i].name) == 0)
            return &verbs[i];
    }
    return NULL;
}

bool
cli_proxy_is_verb(const char *word)
{
    return word != NULL && find_verb(word) != NULL;
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: cutover proxy <verb> [--admin ADDR] [--output json|table] …\n\n");
    for (size_t i = 0; i < NVERBS; i++)
        fprintf(out, "  cutover proxy %-22s %s\n", verbs[i].name, verbs[i].usage);
    fprintf(out, "\nADDR: host:port (default $CUTOVER_PROXY_ADMIN or %s) or unix:/path\n",
            CLI_PROXY_DEFAULT_ADMIN);
}

static int usage_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cutover proxy %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return ERR_EXIT_USAGE;
}

/* --flag value or --flag=value. */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
    static const char *const names[] = {"--admin",
                                        "--target-group",
                                        "--listener",
                                        "--forward",
                                        "--targets",
                                        "--bind",
                                        "--algorithm",
                                        "--deregistration-delay-ms",
                                        "--health-check-path",
                                        "--health-check-port",
                                        "--health-check-interval-ms",
                                        "--health-check-timeout-ms",
                                        "--healthy-threshold",
                                        "--unhealthy-threshold",
                                        "--matcher",
                                        "--output"};
    const char **slots[] = {&o->admin,   &o->target_group, &o->listener,    &o->forward,
                            &o->targets, &o->bind,         &o->algorithm,   &o->dereg_ms,
                            &o->hc_path, &o->hc_port,      &o->hc_interval, &o->hc_timeout,
                            &o->healthy, &o->unhealthy,    &o->matcher};
    const char *output = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq = strchr(a, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        size_t k;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(ERR_EXIT_OK);
        }
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (strlen(names[k]) == nlen && strncmp(a, names[k], nlen) == 0)
                break;
        }
        if (k == sizeof(names) / sizeof(names[0]))
            return usage_error(o->verb, "unknown option '%s' (see --help)", a);
        if (eq != NULL)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error(o->verb, "%s needs a value", names[k]);
        if (k < sizeof(slots) / sizeof(slots[0]))
            *slots[k] = val;
        else
            output = val;
    }
    if (output != NULL) {
        if (strcmp(output, "json") != 0 && strcmp(output, "table") != 0)
            return usage_error(o->verb, "--output '%s' (expected json or table)", output);
        o->json = strcmp(output, "json") == 0;
    }
    return 0;
}

/* ---- talking to the proxy ---- */

struct target_url {
    char url[512];
    char unix_path[256];
    bool is_unix;
};

static int
admin_url(const char *admin, const char *path, struct target_url *u)
{
    const char *host = admin;

    memset(u, 0, sizeof(*u));
    if (str_has_prefix(admin, "unix:")) {
        if (str_copy(u->unix_path, admin + 5, sizeof(u->unix_path)) >= sizeof(u->unix_path) ||
            u->unix_path[0] == '\0')
            return -EINVAL;
        u->is_unix = true;
        host = "localhost";
    } else if (str_has_prefix(admin, "http://")) {
        host = admin + 7;
    }
    if ((size_t)snprintf(u->url, sizeof(u->url), "http://%.*s%s", (int)strcspn(host, "/"), host,
                         path) >= sizeof(u->url))
        return -EINVAL;
    return 0;
}

/* Sends the request; on success *resp holds a 2xx answer. Returns an exit status. */
static int
call(const struct opts *o, const char *method, const char *path, const char *body,
     struct http_fetch_response *resp)
{
    struct target_url u;
    struct err err;
    char *msg;

    if (admin_url(o->admin, path, &u) < 0)
        return usage_error(o->verb, "--admin '%s' (expected host:port or unix:/path)", o->admin);
    err_clear(&err);
    if (http_fetch_global_init() < 0 ||
        http_fetch_request(method, u.url, u.is_unix ? u.unix_path : NULL, body,
                           body != NULL ? strlen(body) : 0, CLI_PROXY_TIMEOUT_MS, resp, &err) < 0) {
        fprintf(stderr, "cutover proxy %s: cannot reach the proxy admin API at %s: %s\n", o->verb,
                o->admin, err.msg);
        return ERR_EXIT_TEMPFAIL;
    }
    if (resp->status >= 200 && resp->status < 300)
        return ERR_EXIT_OK;
    msg = proxy_api_error_parse(resp->body.data != NULL ? resp->body.data : "", resp->body.len);
    fprintf(stderr, "cutover proxy %s: %s (HTTP %ld)\n", o->verb,
            msg != NULL ? msg : "the proxy refused the request", resp->status);
    free(msg);
    http_fetch_response_fini(resp);
    return ERR_EXIT_FAILED;
}

static int
bad_answer(const struct opts *o, const struct err *err, struct http_fetch_response *resp)
{
    fprintf(stderr, "cutover proxy %s: unexpected answer from the proxy: %s\n", o->verb, err->msg);
    http_fetch_response_fini(resp);
    return ERR_EXIT_FAILED;
}

/* ---- printing ---- */

static const char *
or_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

static void
print_health_table(const struct proxy_api_health *h)
{
    printf("%-24s %-10s %-32s %-9s %s\n", "TARGET", "STATE", "REASON", "IN_FLIGHT", "DESCRIPTION");
    for (size_t i = 0; i < h->ntargets; i++) {
        const struct proxy_api_target_health *t = &h->targets[i];
        printf("%-24s %-10s %-32s %-9u %s\n", t->target, t->state, or_dash(t->reason), t->in_flight,
               or_dash(t->description));
    }
}

static void
print_listener_rows(const struct proxy_api_listener *l)
{
    for (size_t i = 0; i < l->action.nforward; i++)
        printf("%-16s %-24s %-16s %u\n", i == 0 ? l->name : "", i == 0 ? l->bind : "",
               l->action.forward[i].target_group, l->action.forward[i].weight);
    if (l->action.nforward == 0)
        printf("%-16s %-24s %-16s %s\n", l->name, l->bind, "-", "-");
}

static void
print_json(const struct http_fetch_response *resp)
{
    fwrite(resp->body.data, 1, resp->body.len, stdout);
    if (resp->body.len == 0 || resp->body.data[resp->body.len - 1] != '\n')
        fputc('\n', stdout);
}

/* Prints a health document answer (describe-target-health, register, deregister). */
static int
show_health(const struct opts *o, struct http_fetch_response *resp)
{
    struct proxy_api_health h;
    struct err err;

    if (proxy_api_health_parse(&h, resp->body.data, resp->body.len, &err) < 0)
        return bad_answer(o, &err, resp);
    if (o->json)
        print_json(resp);
    else
        print_health_table(&h);
    proxy_api_health_fini(&h);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

static int
show_listener(const struct opts *o, struct http_fetch_response *resp)
{
    struct proxy_api_listener l;
    struct err err;

    if (proxy_api_listener_parse(&l, resp->body.data, resp->body.len, &err) < 0)
        return bad_answer(o, &err, resp);
    if (o->json) {
        print_json(resp);
    } else {
        printf("%-16s %-24s %-16s %s\n", "LISTENER", "BIND", "TARGET_GROUP", "WEIGHT");
        print_listener_rows(&l);
    }
    proxy_api_listener_fini(&l);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

static int
show_listeners(const struct opts *o, struct http_fetch_response *resp)
{
    struct proxy_api_listeners ls;
    struct err err;

    if (proxy_api_listeners_parse(&ls, resp->body.data, resp->body.len, &err) < 0)
        return bad_answer(o, &err, resp);
    if (o->json) {
        print_json(resp);
    } else {
        printf("%-16s %-24s %-16s %s\n", "LISTENER", "BIND", "TARGET_GROUP", "WEIGHT");
        for (size_t i = 0; i < ls.n; i++)
            print_listener_rows(&ls.items[i]);
    }
    proxy_api_listeners_fini(&ls);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

static int
show_groups(const struct opts *o, struct http_fetch_response *resp)
{
    struct proxy_api_groups gs;
    struct err err;

    if (proxy_api_groups_parse(&gs, resp->body.data, resp->body.len, &err) < 0)
        return bad_answer(o, &err, resp);
    if (o->json) {
        print_json(resp);
    } else {
        printf("%-16s %-28s %-10s %-16s %-10s %s\n", "TARGET_GROUP", "ALGORITHM", "DEREG_S",
               "HEALTH_PATH", "MATCHER", "TARGETS");
        for (size_t i = 0; i < gs.n; i++) {
            const struct proxy_api_group *g = &gs.items[i];
            printf("%-16s %-28s %-10.1f %-16s %-10s ", g->name, g->algorithm,
                   (double)g->deregistration_delay_ms / 1000.0, g->health_check.path,
                   g->health_check.matcher);
            for (size_t k = 0; k < g->ntargets; k++)
                printf("%s%s", k ? "," : "", g->targets[k]);
            printf("%s\n", g->ntargets == 0 ? "-" : "");
        }
    }
    proxy_api_groups_fini(&gs);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

/* ---- request bodies from flags ---- */

/* Splits "a,b,c" into at most <max> pieces in <buf>. Returns the count or -1. */
static int
split_list(const char *s, char *buf, size_t size, char **items, int max)
{
    int n = 0;

    if (str_copy(buf, s, size) >= size)
        return -1;
    for (char *p = buf; p != NULL;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*p == '\0' || n == max)
            return -1;
        items[n++] = p;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return n;
}

static int
forward_body(const struct opts *o, char **out)
{
    static char buf[8192];
    char *items[64];
    struct proxy_api_forward fw[64];
    struct proxy_api_action a;
    int n = split_list(o->forward, buf, sizeof(buf), items, 64);

    if (n <= 0)
        return usage_error(o->verb, "--forward '%s' (expected GROUP=WEIGHT[,GROUP=WEIGHT…])",
                           o->forward);
    for (int i = 0; i < n; i++) {
        char *eq = strrchr(items[i], '=');
        uint32_t w;
        if (eq == NULL || eq == items[i] || str_to_u32(eq + 1, &w, 0, PROXY_API_MAX_WEIGHT) != 0)
            return usage_error(
                o->verb, "--forward: '%s' (expected GROUP=WEIGHT with a weight 0..999)", items[i]);
        *eq = '\0';
        fw[i].target_group = items[i];
        fw[i].weight = w;
    }
    memset(&a, 0, sizeof(a));
    a.forward = fw;
    a.nforward = (size_t)n;
    *out = proxy_api_action_format(&a);
    return 0;
}

static int
targets_body(const struct opts *o, char **out)
{
    static char buf[64 * 1024];
    static char *items[CLI_PROXY_MAX_LIST];
    static const char *addrs[CLI_PROXY_MAX_LIST];
    struct proxy_api_targets t;
    struct addr a;
    int n = split_list(o->targets, buf, sizeof(buf), items, CLI_PROXY_MAX_LIST);

    if (n <= 0)
        return usage_error(o->verb, "--targets '%s' (expected HOST:PORT[,HOST:PORT…])", o->targets);
    for (int i = 0; i < n; i++) {
        if (addr_parse(&a, items[i]) < 0 || addr_is_unix(&a))
            return usage_error(o->verb, "--targets: '%s' (expected HOST:PORT)", items[i]);
        addrs[i] = items[i];
    }
    memset(&t, 0, sizeof(t));
    t.targets = addrs;
    t.ntargets = (size_t)n;
    *out = proxy_api_targets_format(&t);
    return 0;
}

/* "a,b" into <out> (borrowing <buf>); "" gives an empty list. Returns the count or -1. */
static int
target_list(const struct opts *o, char *buf, size_t size, char **items, const char **out)
{
    struct addr a;
    int n;

    if (*o->targets == '\0')
        return 0;
    if ((n = split_list(o->targets, buf, size, items, CLI_PROXY_MAX_LIST)) <= 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (addr_parse(&a, items[i]) < 0 || addr_is_unix(&a))
            return -1;
        out[i] = items[i];
    }
    return n;
}

static int
number_flag(const struct opts *o, const char *flag, const char *value, uint64_t max, uint64_t *out)
{
    uint32_t v;

    if (str_to_u32(value, &v, 0, (uint32_t)max) != 0)
        return usage_error(o->verb, "%s '%s' (expected an integer 0..%llu)", flag, value,
                           (unsigned long long)max);
    *out = v;
    return 0;
}

/* The PUT /target-groups/NAME body: only what the flags give (the proxy defaults the rest). */
static int
group_body(const struct opts *o, char **out)
{
    static char buf[64 * 1024];
    static char *items[CLI_PROXY_MAX_LIST];
    static const char *addrs[CLI_PROXY_MAX_LIST];
    const struct {
        const char *flag, *value;
        unsigned bit;
        uint64_t max;
    } nums[] = {
        {"--health-check-port", o->hc_port, PROXY_API_HC_PORT, 65535},
        {"--health-check-interval-ms", o->hc_interval, PROXY_API_HC_INTERVAL, UINT32_MAX},
        {"--health-check-timeout-ms", o->hc_timeout, PROXY_API_HC_TIMEOUT, UINT32_MAX},
        {"--healthy-threshold", o->healthy, PROXY_API_HC_HEALTHY, UINT32_MAX},
        {"--unhealthy-threshold", o->unhealthy, PROXY_API_HC_UNHEALTHY, UINT32_MAX},
    };
    struct proxy_api_group_spec g;
    struct proxy_api_health_check *hc = &g.health_check;
    uint64_t v = 0;
    int n, rc;

    memset(&g, 0, sizeof(g));
    g.algorithm = o->algorithm;
    if (o->dereg_ms != NULL) {
        if ((rc = number_flag(o, "--deregistration-delay-ms", o->dereg_ms, UINT32_MAX,
                              &g.deregistration_delay_ms)) != 0)
            return rc;
        g.has_deregistration_delay = true;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (nums[i].value == NULL)
            continue;
        if ((rc = number_flag(o, nums[i].flag, nums[i].value, nums[i].max, &v)) != 0)
            return rc;
        g.health_set |= nums[i].bit;
        if (nums[i].bit == PROXY_API_HC_PORT)
            hc->port = (uint32_t)v;
        else if (nums[i].bit == PROXY_API_HC_INTERVAL)
            hc->interval_ms = v;
        else if (nums[i].bit == PROXY_API_HC_TIMEOUT)
            hc->timeout_ms = v;
        else if (nums[i].bit == PROXY_API_HC_HEALTHY)
            hc->healthy_threshold = (uint32_t)v;
        else
            hc->unhealthy_threshold = (uint32_t)v;
    }
    if (o->hc_path != NULL) {
        hc->path = o->hc_path;
        g.health_set |= PROXY_API_HC_PATH;
    }
    if (o->matcher != NULL) {
        hc->matcher = o->matcher;
        g.health_set |= PROXY_API_HC_MATCHER;
    }
    if (o->targets != NULL) {
        if ((n = target_list(o, buf, sizeof(buf), items, addrs)) < 0)
            return usage_error(o->verb, "--targets '%s' (expected HOST:PORT[,HOST:PORT…])",
                               o->targets);
        g.has_targets = true;
        g.targets = addrs;
        g.ntargets = (size_t)n;
    }
    *out = proxy_api_group_spec_format(&g);
    return 0;
}

/* The PUT /listeners/NAME body. */
static int
listener_body(const struct opts *o, char **out)
{
    struct proxy_api_listener_spec l;
    struct proxy_api_action a;
    char *fw = NULL;
    int rc;

    memset(&l, 0, sizeof(l));
    if (o->bind == NULL && o->forward == NULL)
        return usage_error(o->verb, "--bind or --forward is required (see --help)");
    l.bind = o->bind;
    if (o->forward != NULL) {
        struct err err;
        if ((rc = forward_body(o, &fw)) != 0)
            return rc;
        if (proxy_api_action_parse(&a, fw, strlen(fw), &err) < 0) { /* cannot: we made it */
            free(fw);
            return usage_error(o->verb, "--forward: %s", err.msg);
        }
        free(fw);
        l.has_forward = true;
        l.action = a;
    }
    *out = proxy_api_listener_spec_format(&l);
    if (l.has_forward)
        proxy_api_action_fini(&a);
    return 0;
}

static int
show_group(const struct opts *o, struct http_fetch_response *resp)
{
    struct proxy_api_groups gs;
    struct err err;

    if (proxy_api_group_parse(&gs, resp->body.data, resp->body.len, &err) < 0)
        return bad_answer(o, &err, resp);
    if (o->json) {
        print_json(resp);
    } else {
        const struct proxy_api_group *g = &gs.items[0];
        printf("%-16s %-28s %-10s %-16s %-10s %s\n", "TARGET_GROUP", "ALGORITHM", "DEREG_S",
               "HEALTH_PATH", "MATCHER", "TARGETS");
        printf("%-16s %-28s %-10.1f %-16s %-10s ", g->name, g->algorithm,
               (double)g->deregistration_delay_ms / 1000.0, g->health_check.path,
               g->health_check.matcher);
        for (size_t k = 0; k < g->ntargets; k++)
            printf("%s%s", k ? "," : "", g->targets[k]);
        printf("%s\n", g->ntargets == 0 ? "-" : "");
    }
    proxy_api_groups_fini(&gs);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

static int
show_deleted(const struct opts *o, struct http_fetch_response *resp, const char *what,
             const char *name)
{
    if (o->json)
        print_json(resp);
    else
        printf("deleted %s %s\n", what, name);
    http_fetch_response_fini(resp);
    return ERR_EXIT_OK;
}

/* ---- verbs ---- */

static int
need(const struct opts *o, const char *value, const char *flag)
{
    if (value == NULL || *value == '\0')
        return usage_error(o->verb, "%s is required (see --help)", flag);
    return 0;
}

static int
path_with(char *dst, size_t size, const char *prefix, const char *name, const char *suffix)
{
    /* names are YAML keys: refuse what would need escaping in a URL path */
    if (strpbrk(name, "/?#% \t\r\n") != NULL ||
        (size_t)snprintf(dst, size, "%s%s%s", prefix, name, suffix) >= size)
        return -1;
    return 0;
}

static int
run_verb(const struct verb *v, const struct opts *o)
{
    struct http_fetch_response resp;
    char path[512];
    char *body = NULL;
    int rc;

    switch (v->id) {
    case VERB_DESCRIBE_TARGET_HEALTH:
        if ((rc = need(o, o->target_group, "--target-group")) != 0)
            return rc;
        if (path_with(path, sizeof(path), "/target-groups/", o->target_group, "/health") < 0)
            return usage_error(o->verb, "--target-group '%s': invalid name", o->target_group);
        if ((rc = call(o, "GET", path, NULL, &resp)) != 0)
            return rc;
        return show_health(o, &resp);
    case VERB_MODIFY_LISTENER:
        if ((rc = need(o, o->listener, "--listener")) != 0 ||
            (rc = need(o, o->forward, "--forward")) != 0 || (rc = forward_body(o, &body)) != 0)
            return rc;
        if (path_with(path, sizeof(path), "/listeners/", o->listener, "/action") < 0) {
            free(body);
            return usage_error(o->verb, "--listener '%s': invalid name", o->listener);
        }
        rc = call(o, "PUT", path, body, &resp);
        free(body);
        return rc != 0 ? rc : show_listener(o, &resp);
    case VERB_REGISTER_TARGETS:
    case VERB_DEREGISTER_TARGETS:
        if ((rc = need(o, o->target_group, "--target-group")) != 0 ||
            (rc = need(o, o->targets, "--targets")) != 0 || (rc = targets_body(o, &body)) != 0)
            return rc;
        if (path_with(path, sizeof(path), "/target-groups/", o->target_group, "/targets") < 0) {
            free(body);
            return usage_error(o->verb, "--target-group '%s': invalid name", o->target_group);
        }
        rc = call(o, v->id == VERB_REGISTER_TARGETS ? "POST" : "DELETE", path, body, &resp);
        free(body);
        return rc != 0 ? rc : show_health(o, &resp);
    case VERB_DESCRIBE_LISTENERS:
        if ((rc = call(o, "GET", "/listeners", NULL, &resp)) != 0)
            return rc;
        return show_listeners(o, &resp);
    case VERB_DESCRIBE_TARGET_GROUPS:
        if ((rc = call(o, "GET", "/target-groups", NULL, &resp)) != 0)
            return rc;
        return show_groups(o, &resp);
    case VERB_CREATE_TARGET_GROUP:
    case VERB_DELETE_TARGET_GROUP:
        if ((rc = need(o, o->target_group, "--target-group")) != 0)
            return rc;
        if (path_with(path, sizeof(path), "/target-groups/", o->target_group, "") < 0)
            return usage_error(o->verb, "--target-group '%s': invalid name", o->target_group);
        if (v->id == VERB_DELETE_TARGET_GROUP) {
            rc = call(o, "DELETE", path, NULL, &resp);
            return rc != 0 ? rc : show_deleted(o, &resp, "target group", o->target_group);
        }
        if ((rc = group_body(o, &body)) != 0)
            return rc;
        rc = call(o, "PUT", path, body, &resp);
        free(body);
        return rc != 0 ? rc : show_group(o, &resp);
    case VERB_CREATE_LISTENER:
    case VERB_DELETE_LISTENER:
        if ((rc = need(o, o->listener, "--listener")) != 0)
            return rc;
        if (path_with(path, sizeof(path), "/listeners/", o->listener, "") < 0)
            return usage_error(o->verb, "--listener '%s': invalid name", o->listener);
        if (v->id == VERB_DELETE_LISTENER) {
            rc = call(o, "DELETE", path, NULL, &resp);
            return rc != 0 ? rc : show_deleted(o, &resp, "listener", o->listener);
        }
        if ((rc = listener_body(o, &body)) != 0)
            return rc;
        rc = call(o, "PUT", path, body, &resp);
        free(body);
        return rc != 0 ? rc : show_listener(o, &resp);
    }
    return ERR_EXIT_USAGE;
}

int
cli_proxy_main(int argc, char **argv)
{
    const struct verb *v = argc > 0 ? find_verb(argv[0]) : NULL;
    struct opts o;
    int rc;

    if (v == NULL) {
        usage(stderr);
        return ERR_EXIT_USAGE;
    }
    memset(&o, 0, sizeof(o));
    o.verb = v->name;
    o.admin = getenv("CUTOVER_PROXY_ADMIN");
    if (o.admin == NULL || *o.admin == '\0')
        o.admin = CLI_PROXY_DEFAULT_ADMIN;
    o.json = !isatty(STDOUT_FILENO);
    if ((rc = parse_opts(argc, argv, &o)) != 0)
        return rc;
    return run_verb(v, &o);
}
