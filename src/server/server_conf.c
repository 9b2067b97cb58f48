/* SPDX-License-Identifier: ISC */
/* server.yaml loader: every key checked, typos suggested, positions in every message. */
#include "server/server_conf.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/yaml_conf.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = {"listen",
                                       "data",
                                       "admin_token_file",
                                       "enroll_token_file",
                                       "tls",
                                       "heartbeat_interval",
                                       "heartbeat_timeout",
                                       "max_bundle_size",
                                       "log_level"};
static const char *const tls_keys[] = {"cert", "key"};

/* <base>/<p> unless <p> is absolute. */
static const char *
resolve(struct arena *a, const char *base, const char *p)
{
    size_t n;
    char *out;

    if (p[0] == '/')
        return arena_strdup(a, p);
    n = strlen(base) + strlen(p) + 2;
    out = arena_alloc(a, n);
    snprintf(out, n, "%s/%s", base, p);
    return out;
}

static int
opt_string(const struct yaml_conf_doc *doc, const char *key, const char **out, struct err *err)
{
    const struct yaml_conf_node *n = yaml_conf_get(doc->root, key);

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    return yaml_conf_string(doc, n, out, err);
}

static int
load_tls(struct server_conf *c, const struct yaml_conf_doc *doc, const char *base, struct err *err)
{
    const struct yaml_conf_node *tls = yaml_conf_get(doc->root, "tls"), *n;
    const char *cert = NULL, *key = NULL;
    int rc;

    if (tls == NULL || yaml_conf_is_null(tls))
        return 0;
    if ((rc = yaml_conf_expect(doc, tls, YAML_CONF_MAP, "a mapping with cert and key", err)) ||
        (rc = yaml_conf_check_keys(doc, tls, tls_keys, NELEMS(tls_keys), err)))
        return rc;
    if ((n = yaml_conf_get(tls, "cert")) != NULL && (rc = yaml_conf_string(doc, n, &cert, err)))
        return rc;
    if ((n = yaml_conf_get(tls, "key")) != NULL && (rc = yaml_conf_string(doc, n, &key, err)))
        return rc;
    if (cert == NULL || key == NULL)
        return yaml_conf_error(err, doc, tls, "tls needs both cert and key");
    c->tls_cert = resolve(&c->arena, base, cert);
    c->tls_key = resolve(&c->arena, base, key);
    return 0;
}

static int
load_numbers(struct server_conf *c, const struct yaml_conf_doc *doc, struct err *err)
{
    const struct yaml_conf_node *n;
    int rc;

    if ((n = yaml_conf_get(doc->root, "heartbeat_interval")) != NULL &&
        (rc = yaml_conf_duration_ms(doc, n, &c->heartbeat_interval_ms, err)))
        return rc;
    if ((n = yaml_conf_get(doc->root, "heartbeat_timeout")) != NULL) {
        if ((rc = yaml_conf_duration_ms(doc, n, &c->heartbeat_timeout_ms, err)))
            return rc;
    } else {
        c->heartbeat_timeout_ms = 3 * c->heartbeat_interval_ms;
    }
    if (c->heartbeat_interval_ms < 100 || c->heartbeat_timeout_ms < c->heartbeat_interval_ms)
        return yaml_conf_error(err, doc, n != NULL ? n : doc->root,
                               "heartbeat_timeout must be at least heartbeat_interval (>= 100ms)");
    if ((n = yaml_conf_get(doc->root, "max_bundle_size")) != NULL &&
        (rc = yaml_conf_size(doc, n, &c->max_bundle_size, err)))
        return rc;
    if ((n = yaml_conf_get(doc->root, "log_level")) != NULL) {
        enum log_level lvl;

        if ((rc = yaml_conf_string(doc, n, &c->log_level, err)))
            return rc;
        if (log_level_parse(c->log_level, &lvl) != 0)
            return yaml_conf_error(err, doc, n,
                                   "unknown log level '%s' (expected error, warn, "
                                   "info or debug)",
                                   c->log_level);
    }
    return 0;
}

static int
load_doc(struct server_conf *c, const struct yaml_conf_doc *doc, const char *base, struct err *err)
{
    const char *listen = SERVER_CONF_DEFAULT_LISTEN, *data = ".", *admin = "admin.token",
               *enroll = "enroll.token";
    int rc;

    if (doc->root == NULL)
        return yaml_conf_error(err, doc, NULL, "empty file (expected a mapping)");
    if ((rc = yaml_conf_expect(doc, doc->root, YAML_CONF_MAP, "a mapping", err)) ||
        (rc = yaml_conf_check_keys(doc, doc->root, top_keys, NELEMS(top_keys), err)) ||
        (rc = opt_string(doc, "listen", &listen, err)) ||
        (rc = opt_string(doc, "data", &data, err)) ||
        (rc = opt_string(doc, "admin_token_file", &admin, err)) ||
        (rc = opt_string(doc, "enroll_token_file", &enroll, err)))
        return rc;
    if (addr_parse(&c->listen, listen) != 0)
        return yaml_conf_error(err, doc, yaml_conf_get(doc->root, "listen"),
                               "bad address '%s' (expected HOST:PORT or unix:/path)", listen);
    c->data_dir =
        strcmp(data, ".") == 0 ? arena_strdup(&c->arena, base) : resolve(&c->arena, base, data);
    c->db_path = resolve(&c->arena, c->data_dir, "cutover.db");
    c->revisions_dir = resolve(&c->arena, c->data_dir, "revisions");
    c->admin_token_file = resolve(&c->arena, c->data_dir, admin);
    c->enroll_token_file = resolve(&c->arena, c->data_dir, enroll);
    c->heartbeat_interval_ms = 5000;
    c->max_bundle_size = 512ull * 1024 * 1024;
    c->log_level = "info";
    if ((rc = load_tls(c, doc, base, err)) || (rc = load_numbers(c, doc, err)))
        return rc;
    c->log_level = arena_strdup(&c->arena, c->log_level);
    return 0;
}

int
server_conf_load(struct server_conf *out, const char *path, struct err *err)
{
    struct yaml_conf_doc *doc = NULL;
    char *copy, base[PATH_MAX];
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = yaml_conf_load_file(&doc, path, err)) != 0)
        return rc;
    copy = mem_strdup(path);
    if (realpath(dirname(copy), base) == NULL)
        snprintf(base, sizeof(base), "%s", ".");
    free(copy);
    arena_init(&out->arena, 2048);
    out->path = arena_strdup(&out->arena, path);
    rc = load_doc(out, doc, base, err);
    yaml_conf_free(doc);
    if (rc != 0)
        server_conf_fini(out);
    return rc;
}

void
server_conf_fini(struct server_conf *c)
{
    arena_fini(&c->arena);
    memset(c, 0, sizeof(*c));
}
