/* SPDX-License-Identifier: ISC */
/* apps.yaml → struct supervisor_conf. Checks everything up front so that a bad file changes
 * nothing: the caller only acts on a conf that loaded without error. */
#include "supervisor/supervisor_conf.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"
#include "common/yaml_conf.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = {"control", "apps"};
static const char *const app_keys[] = {
    "command", "cwd",           "instances", "listen", "ports",       "env",
    "ready",   "ready_timeout", "user",      "group",  "kill_signal", "kill_timeout",
    "restart", "max_memory",    "logs",      "nginx",
};
static const char *const ready_keys[] = {"http", "tcp", "notify"};
static const char *const restart_keys[] = {"min_uptime", "backoff_max", "max_restarts", "window"};
static const char *const logs_keys[] = {"dir", "max_size", "keep"};
static const char *const nginx_keys[] = {"upstream", "reload"};

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGHUP", SIGHUP},
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGKILL", SIGKILL}, {"SIGWINCH", SIGWINCH},
};

int
supervisor_conf_signal_parse(const char *s, int *out)
{
    uint32_t n;

    for (size_t i = 0; i < ARRAY_LEN(signals); i++) {
        if (str_ieq(s, signals[i].name) || str_ieq(s, signals[i].name + 3)) {
            *out = signals[i].sig;
            return 0;
        }
    }
    if (str_to_u32(s, &n, 1, 64) == 0) {
        *out = (int)n;
        return 0;
    }
    return -EINVAL;
}

const char *
supervisor_conf_signal_name(int sig)
{
    for (size_t i = 0; i < ARRAY_LEN(signals); i++)
        if (signals[i].sig == sig)
            return signals[i].name;
    return "signal";
}

static void
app_defaults(struct supervisor_app_conf *a)
{
    a->instances = 1;
    a->ready = SUPERVISOR_READY_NONE;
    a->ready_timeout_ms = 30000;
    a->kill_signal = SIGTERM;
    a->kill_timeout_ms = 5000;
    a->min_uptime_ms = 1000;
    a->backoff_max_ms = 30000;
    a->max_restarts = 10;
    a->window_ms = 60000;
    a->log_max_size = 10 * 1024 * 1024;
    a->log_keep = 5;
}

static int
parse_argv(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, const char *what,
           const char ***out, size_t *argc, struct err *err)
{
    const char **v;
    int rc;

    if (n == NULL || n->kind != YAML_CONF_SEQ || n->n == 0)
        return yaml_conf_error(err, doc, n,
                               "%s must be a non-empty list (expected an argv list such as "
                               "[node, server.js], never a shell string)",
                               what);
    v = mem_calloc(n->n + 1, sizeof(*v));
    *out = v;
    *argc = n->n;
    for (size_t i = 0; i < n->n; i++) {
        if ((rc = yaml_conf_string(doc, n->items[i], &v[i], err)) != 0)
            return rc;
        if (v[i][0] == '\0')
            return yaml_conf_error(err, doc, n->items[i],
                                   "empty %s argument (expected a non-empty string)", what);
    }
    return 0;
}

static int
parse_command(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
              struct supervisor_app_conf *a, struct err *err)
{
    return parse_argv(doc, n, "command", &a->argv, &a->argc, err);
}

static int
parse_env(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
          struct supervisor_app_conf *a, struct err *err)
{
    int rc;

    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "env", err)) != 0)
        return rc;
    a->env = mem_calloc(n->n + 1, sizeof(*a->env));
    a->nenv = n->n;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->keys[i]->value;

        if (k[0] == '\0' || strchr(k, '=') != NULL)
            return yaml_conf_error(err, doc, n->keys[i],
                                   "bad environment name '%s' (expected no '=' and not empty)", k);
        a->env[i].name = k;
        if ((rc = yaml_conf_string(doc, n->items[i], &a->env[i].value, err)) != 0)
            return rc;
    }
    return 0;
}

static int
expect_true(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, struct err *err)
{
    bool b;
    int rc;

    if ((rc = yaml_conf_bool(doc, n, &b, err)) != 0)
        return rc;
    if (!b)
        return yaml_conf_error(err, doc, n, "false is not a readiness check (expected true)");
    return 0;
}

static int
parse_ready(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
            struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "ready", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, n, ready_keys, ARRAY_LEN(ready_keys), err)) != 0)
        return rc;
    if (n->n != 1)
        return yaml_conf_error(err, doc, n,
                               "ready needs exactly one check (expected one of http, tcp, notify)");
    if ((v = yaml_conf_get(n, "http")) != NULL) {
        a->ready = SUPERVISOR_READY_HTTP;
        if ((rc = yaml_conf_string(doc, v, &a->ready_path, err)) != 0)
            return rc;
        if (a->ready_path[0] != '/')
            return yaml_conf_error(err, doc, v, "'%s' is not a path (expected /health or similar)",
                                   a->ready_path);
        for (const char *c = a->ready_path; *c != '\0'; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                return yaml_conf_error(err, doc, v,
                                       "'%s': a space or control character in the path (expected "
                                       "a request target, percent-encoded)",
                                       a->ready_path);
        return 0;
    }
    if ((v = yaml_conf_get(n, "tcp")) != NULL) {
        a->ready = SUPERVISOR_READY_TCP;
        return expect_true(doc, v, err);
    }
    a->ready = SUPERVISOR_READY_NOTIFY;
    return expect_true(doc, yaml_conf_get(n, "notify"), err);
}

static int
parse_restart(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
              struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "restart", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, n, restart_keys, ARRAY_LEN(restart_keys), err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "min_uptime")) &&
        (rc = yaml_conf_duration_ms(doc, v, &a->min_uptime_ms, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "backoff_max")) &&
        (rc = yaml_conf_duration_ms(doc, v, &a->backoff_max_ms, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "max_restarts")) &&
        (rc = yaml_conf_u32(doc, v, 0, 63, &a->max_restarts, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "window")) &&
        (rc = yaml_conf_duration_ms(doc, v, &a->window_ms, err)) != 0)
        return rc;
    if (a->window_ms == 0)
        return yaml_conf_error(err, doc, v, "window must be positive (expected e.g. 60s)");
    return 0;
}

static int
parse_logs(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
           struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "logs", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, n, logs_keys, ARRAY_LEN(logs_keys), err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "dir")) == NULL)
        return yaml_conf_error(err, doc, n, "logs needs dir (expected a directory path)");
    if ((rc = yaml_conf_string(doc, v, &a->log_dir, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "max_size")) != NULL) {
        if ((rc = yaml_conf_size(doc, v, &a->log_max_size, err)) != 0)
            return rc;
        if (a->log_max_size < 1024)
            return yaml_conf_error(err, doc, v, "max_size is too small (expected at least 1K)");
    }
    if ((v = yaml_conf_get(n, "keep")) &&
        (rc = yaml_conf_u32(doc, v, 0, 1000, &a->log_keep, err)) != 0)
        return rc;
    return 0;
}

static int
parse_nginx(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
            struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "nginx", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, n, nginx_keys, ARRAY_LEN(nginx_keys), err)) != 0)
        return rc;
    if ((v = yaml_conf_get(n, "upstream")) == NULL)
        return yaml_conf_error(err, doc, n, "nginx needs upstream (expected a file path)");
    if ((rc = yaml_conf_string(doc, v, &a->nginx_upstream, err)) != 0)
        return rc;
    size_t argc;

    if ((v = yaml_conf_get(n, "reload")) != NULL)
        return parse_argv(doc, v, "reload", &a->nginx_reload, &argc, err);
    a->nginx_reload = mem_calloc(4, sizeof(*a->nginx_reload));
    a->nginx_reload[0] = "nginx";
    a->nginx_reload[1] = "-s";
    a->nginx_reload[2] = "reload";
    return 0;
}

static int
parse_listen_ports(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map,
                   struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *l = yaml_conf_get(map, "listen");
    const struct yaml_conf_node *p = yaml_conf_get(map, "ports");
    const char *s;
    int rc;

    if (l != NULL && p != NULL)
        return yaml_conf_error(err, doc, p, "listen and ports exclude each other (expected one)");
    if (l != NULL) {
        if ((rc = yaml_conf_string(doc, l, &s, err)) != 0)
            return rc;
        if (addr_parse(&a->listen, s) != 0)
            return yaml_conf_error(err, doc, l,
                                   "'%s' is not an address (expected 127.0.0.1:3000, [::1]:3000 "
                                   "or unix:/path)",
                                   s);
        a->has_listen = true;
    }
    if (p != NULL) {
        if ((rc = yaml_conf_u32(doc, p, 1, 65535, &a->ports, err)) != 0)
            return rc;
        if (a->ports + a->instances - 1 > 65535)
            return yaml_conf_error(err, doc, p,
                                   "ports %u + %u instances passes 65535 (expected at most %u)",
                                   a->ports, a->instances, 65536 - a->instances);
    }
    return 0;
}

static int
parse_identity(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map,
               struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    const char *sig;
    int rc;

    if ((v = yaml_conf_get(map, "cwd")) && (rc = yaml_conf_string(doc, v, &a->cwd, err)))
        return rc;
    if ((v = yaml_conf_get(map, "user")) && (rc = yaml_conf_string(doc, v, &a->user, err)))
        return rc;
    if ((v = yaml_conf_get(map, "group")) && (rc = yaml_conf_string(doc, v, &a->group, err)))
        return rc;
    if ((v = yaml_conf_get(map, "kill_signal")) != NULL) {
        if ((rc = yaml_conf_string(doc, v, &sig, err)) != 0)
            return rc;
        if (supervisor_conf_signal_parse(sig, &a->kill_signal) != 0)
            return yaml_conf_error(
                err, doc, v, "unknown signal '%s' (expected SIGTERM, SIGINT, SIGQUIT, ...)", sig);
    }
    return 0;
}

static int
parse_app_scalars(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map,
                  struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    if ((v = yaml_conf_get(map, "instances")) &&
        (rc = yaml_conf_u32(doc, v, 1, 1024, &a->instances, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "ready_timeout")) &&
        (rc = yaml_conf_duration_ms(doc, v, &a->ready_timeout_ms, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "kill_timeout")) &&
        (rc = yaml_conf_duration_ms(doc, v, &a->kill_timeout_ms, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "max_memory")) &&
        (rc = yaml_conf_size(doc, v, &a->max_memory, err)) != 0)
        return rc;
    return parse_identity(doc, map, a, err);
}

static int
parse_app(const struct yaml_conf_doc *doc, const struct yaml_conf_node *key,
          const struct yaml_conf_node *map, struct supervisor_app_conf *a, struct err *err)
{
    const struct yaml_conf_node *v;
    int rc;

    app_defaults(a);
    a->name = key->value;
    if (a->name[0] == '\0' || strspn(a->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_.-") != strlen(a->name))
        return yaml_conf_error(
            err, doc, key, "bad app name '%s' (expected letters, digits, '_', '.', '-')", a->name);
    if ((rc = yaml_conf_expect(doc, map, YAML_CONF_MAP, "an app", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, map, app_keys, ARRAY_LEN(app_keys), err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "command")) == NULL)
        return yaml_conf_error(err, doc, map, "app '%s' has no command (expected an argv list)",
                               a->name);
    if ((rc = parse_command(doc, v, a, err)) != 0 ||
        (rc = parse_app_scalars(doc, map, a, err)) != 0 ||
        (rc = parse_listen_ports(doc, map, a, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "env")) && (rc = parse_env(doc, v, a, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "ready")) && (rc = parse_ready(doc, v, a, err)) != 0)
        return rc;
    if ((a->ready == SUPERVISOR_READY_HTTP || a->ready == SUPERVISOR_READY_TCP) && !a->has_listen &&
        a->ports == 0)
        return yaml_conf_error(err, doc, v,
                               "an http or tcp check needs listen: or ports: (expected "
                               "{notify: true} otherwise)");
    if ((v = yaml_conf_get(map, "restart")) && (rc = parse_restart(doc, v, a, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "logs")) && (rc = parse_logs(doc, v, a, err)) != 0)
        return rc;
    if ((v = yaml_conf_get(map, "nginx")) != NULL) {
        if (a->ports == 0)
            return yaml_conf_error(err, doc, v, "nginx needs ports: (expected ports: BASE)");
        return parse_nginx(doc, v, a, err);
    }
    return 0;
}

static int
parse_root(struct supervisor_conf *c, struct err *err)
{
    const struct yaml_conf_doc *doc = c->doc;
    const struct yaml_conf_node *root = doc->root, *apps, *v;
    int rc;

    if ((rc = yaml_conf_expect(doc, root, YAML_CONF_MAP, "the top level", err)) != 0 ||
        (rc = yaml_conf_check_keys(doc, root, top_keys, ARRAY_LEN(top_keys), err)) != 0)
        return rc;
    c->control = SUPERVISOR_CONF_DEFAULT_CONTROL;
    if ((v = yaml_conf_get(root, "control")) && (rc = yaml_conf_string(doc, v, &c->control, err)))
        return rc;
    if (strlen(c->control) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return yaml_conf_error(err, doc, v, "control path is too long (expected < 108 bytes)");
    if ((apps = yaml_conf_get(root, "apps")) == NULL)
        return yaml_conf_error(err, doc, root, "no apps (expected an apps: mapping)");
    if ((rc = yaml_conf_expect(doc, apps, YAML_CONF_MAP, "apps", err)))
        return rc;
    c->apps = mem_calloc(apps->n + 1, sizeof(*c->apps));
    for (size_t i = 0; i < apps->n; i++) {
        c->napps = i + 1;
        if ((rc = parse_app(doc, apps->keys[i], apps->items[i], &c->apps[i], err)) != 0)
            return rc;
    }
    return 0;
}

static int
finish_load(struct supervisor_conf **out, struct yaml_conf_doc *doc, struct err *err)
{
    struct supervisor_conf *c = mem_calloc(1, sizeof(*c));
    int rc;

    c->doc = doc;
    c->path = doc->path;
    if ((rc = parse_root(c, err)) != 0) {
        supervisor_conf_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int
supervisor_conf_load(struct supervisor_conf **out, const char *path, struct err *err)
{
    struct yaml_conf_doc *doc;
    int rc;

    if ((rc = yaml_conf_load_file(&doc, path, err)) != 0)
        return rc;
    return finish_load(out, doc, err);
}

int
supervisor_conf_load_buffer(struct supervisor_conf **out, const char *name, const char *data,
                            size_t len, struct err *err)
{
    struct yaml_conf_doc *doc;
    int rc;

    if ((rc = yaml_conf_load_buffer(&doc, name, data, len, err)) != 0)
        return rc;
    return finish_load(out, doc, err);
}

void
supervisor_conf_free(struct supervisor_conf *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->napps; i++) {
        free((void *)conf->apps[i].argv);
        free(conf->apps[i].env);
        free((void *)conf->apps[i].nginx_reload);
    }
    free(conf->apps);
    yaml_conf_free(conf->doc);
    free(conf);
}

const struct supervisor_app_conf *
supervisor_conf_app(const struct supervisor_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->napps; i++)
        if (strcmp(conf->apps[i].name, name) == 0)
            return &conf->apps[i];
    return NULL;
}

static bool
str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool
supervisor_conf_app_equal(const struct supervisor_app_conf *a, const struct supervisor_app_conf *b)
{
    if (a->argc != b->argc || a->nenv != b->nenv || a->instances != b->instances ||
        a->has_listen != b->has_listen || a->ports != b->ports || a->ready != b->ready ||
        !str_same(a->cwd, b->cwd) || !str_same(a->user, b->user) || !str_same(a->group, b->group) ||
        !str_same(a->ready_path, b->ready_path))
        return false;
    if (a->has_listen && !addr_equal(&a->listen, &b->listen))
        return false;
    for (size_t i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nenv; i++)
        if (!str_same(a->env[i].name, b->env[i].name) ||
            !str_same(a->env[i].value, b->env[i].value))
            return false;
    return true;
}
