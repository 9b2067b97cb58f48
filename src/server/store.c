/* SPDX-License-Identifier: ISC */
/* The server's SQLite store. Statements are prepared, run and finalised within each call (the
 * volumes are small; simplicity wins). Constraint failures map to -EEXIST (unique) and -EINVAL
 * (foreign key); anything else is -EIO, logged here with the statement's first words. */
#include "server/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "server/deployment.h"
#include "server/migrate.h"

/* libsqlite3 is loaded with dlopen() when the server opens its store instead of being linked:
 * only `cutover server` uses it, and linking it (it needs libm for its SQL math functions) made
 * every other role (the supervisor, the proxy, each CLI command) map both at exec. */
#define STORE_LIBSQLITE "libsqlite3.so.0"

static struct {
    int (*bind_int)(sqlite3_stmt *s, int i, int v);
    int (*bind_int64)(sqlite3_stmt *s, int i, sqlite3_int64 v);
    int (*bind_null)(sqlite3_stmt *s, int i);
    int (*bind_text)(sqlite3_stmt *s, int i, const char *v, int n, void (*d)(void *));
    int (*busy_timeout)(sqlite3 *db, int ms);
    int (*changes)(sqlite3 *db);
    int (*close_db)(sqlite3 *db);
    int (*column_int)(sqlite3_stmt *s, int i);
    sqlite3_int64 (*column_int64)(sqlite3_stmt *s, int i);
    const unsigned char *(*column_text)(sqlite3_stmt *s, int i);
    const char *(*errmsg)(sqlite3 *db);
    int (*exec)(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
                char **errmsg);
    int (*extended_errcode)(sqlite3 *db);
    int (*extended_result_codes)(sqlite3 *db, int on);
    int (*finalize)(sqlite3_stmt *s);
    void (*free_mem)(void *p);
    int (*open_v2)(const char *path, sqlite3 **db, int flags, const char *vfs);
    int (*prepare_v2)(sqlite3 *db, const char *sql, int n, sqlite3_stmt **s, const char **tail);
    const char *(*sql)(sqlite3_stmt *s);
    int (*step)(sqlite3_stmt *s);
    char why[256]; /* why the load failed; empty once loaded */
} sq;

static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

static void
load_sqlite(void)
{
    /* POSIX: function pointers round-trip through dlsym's void *. */
    const struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"sqlite3_bind_int", (void **)&sq.bind_int},
        {"sqlite3_bind_int64", (void **)&sq.bind_int64},
        {"sqlite3_bind_null", (void **)&sq.bind_null},
        {"sqlite3_bind_text", (void **)&sq.bind_text},
        {"sqlite3_busy_timeout", (void **)&sq.busy_timeout},
        {"sqlite3_changes", (void **)&sq.changes},
        {"sqlite3_close", (void **)&sq.close_db},
        {"sqlite3_column_int", (void **)&sq.column_int},
        {"sqlite3_column_int64", (void **)&sq.column_int64},
        {"sqlite3_column_text", (void **)&sq.column_text},
        {"sqlite3_errmsg", (void **)&sq.errmsg},
        {"sqlite3_exec", (void **)&sq.exec},
        {"sqlite3_extended_errcode", (void **)&sq.extended_errcode},
        {"sqlite3_extended_result_codes", (void **)&sq.extended_result_codes},
        {"sqlite3_finalize", (void **)&sq.finalize},
        {"sqlite3_free", (void **)&sq.free_mem},
        {"sqlite3_open_v2", (void **)&sq.open_v2},
        {"sqlite3_prepare_v2", (void **)&sq.prepare_v2},
        {"sqlite3_sql", (void **)&sq.sql},
        {"sqlite3_step", (void **)&sq.step},
    };
    void *h = dlopen(STORE_LIBSQLITE, RTLD_NOW | RTLD_LOCAL);

    if (h == NULL) {
        const char *why = dlerror();
        snprintf(sq.why, sizeof(sq.why), "%s", why ? why : STORE_LIBSQLITE ": cannot load");
        return;
    }
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        if ((*syms[i].slot = dlsym(h, syms[i].name)) == NULL) {
            snprintf(sq.why, sizeof(sq.why), "%s: no %s", STORE_LIBSQLITE, syms[i].name);
            return;
        }
    }
}

/* protocol/deploy.h and server/deployment.h number these the same way (deploy.h says so). */
_Static_assert((int)DEPLOY_STOPPED == (int)DEPLOYMENT_STOPPED, "status numbering");
_Static_assert((int)DEPLOY_READY == (int)DEPLOYMENT_READY, "status numbering");
_Static_assert((int)DEPLOY_EVENT_SKIPPED == (int)DEPLOYMENT_EVENT_SKIPPED, "event numbering");
_Static_assert((int)DEPLOY_INSTANCE_READY == (int)DEPLOYMENT_INSTANCE_READY, "instance numbering");
_Static_assert((int)DEPLOY_INSTANCE_UNKNOWN == (int)DEPLOYMENT_INSTANCE_UNKNOWN, "numbering");
_Static_assert((int)DEPLOY_ERR_INTERNAL_ERROR == (int)DEPLOYMENT_ERR_INTERNAL_ERROR, "errors");
_Static_assert((int)DEPLOY_ERR_ALARM_ACTIVE == (int)DEPLOYMENT_ERR_ALARM_ACTIVE, "errors");

struct store {
    sqlite3 *db;
    int depth; /* store_begin nesting */
};

/* ---- plumbing ---- */

static int
map_rc(struct store *st, int rc, const char *sql)
{
    int ext = sq.extended_errcode(st->db);

    if (rc == SQLITE_DONE || rc == SQLITE_OK || rc == SQLITE_ROW)
        return 0;
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        return -EEXIST;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY || ext == SQLITE_CONSTRAINT_NOTNULL)
        return -EINVAL;
    log_error("store: %.60s: %s", sql, sq.errmsg(st->db));
    return -EIO;
}

/* Prepares <sql> and binds the arguments described by <fmt>: 's' text (NULL binds NULL),
 * 'i' int64_t, 'd' int. Returns NULL (logged) on error. */
static sqlite3_stmt *
prep(struct store *st, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s = NULL;
    va_list ap;
    int i = 1;

    if (sq.prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("store: prepare %.60s: %s", sql, sq.errmsg(st->db));
        return NULL;
    }
    va_start(ap, fmt);
    for (const char *f = fmt; *f != '\0'; f++, i++) {
        switch (*f) {
        case 's': {
            const char *v = va_arg(ap, const char *);

            if (v != NULL)
                sq.bind_text(s, i, v, -1, SQLITE_TRANSIENT);
            else
                sq.bind_null(s, i);
            break;
        }
        case 'i':
            sq.bind_int64(s, i, va_arg(ap, int64_t));
            break;
        case 'd':
            sq.bind_int(s, i, va_arg(ap, int));
            break;
        default:
            ASSERT(!"bad bind format");
        }
    }
    va_end(ap);
    return s;
}

/* Runs a statement that returns no rows and finalises it. */
static int
run(struct store *st, sqlite3_stmt *s)
{
    int rc;

    if (s == NULL)
        return -EIO;
    rc = map_rc(st, sq.step(s), sq.sql(s));
    sq.finalize(s);
    return rc;
}

static const char *
col_str(struct arena *a, sqlite3_stmt *s, int i)
{
    const unsigned char *v = sq.column_text(s, i);

    return v != NULL ? arena_strdup(a, (const char *)v) : NULL;
}

static int
exec_script(struct store *st, const char *sql, struct err *err)
{
    char *msg = NULL;

    if (sq.exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = err_set(err, -EIO, "%s", msg != NULL ? msg : sq.errmsg(st->db));

        sq.free_mem(msg);
        return rc;
    }
    return 0;
}

static void
random_chars(char *out, size_t n, const char *alphabet)
{
    unsigned char raw[64];
    size_t alen = strlen(alphabet);

    ASSERT(n <= sizeof(raw));
    if (getrandom(raw, n, 0) != (ssize_t)n)
        ASSERT(!"getrandom failed");
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[raw[i] % alen]; /* 256 % 36 bias is irrelevant for ids */
    out[n] = '\0';
}

int
store_begin(struct store *st)
{
    char sql[48];
    int rc;

    if (st->depth == 0)
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE");
    else
        snprintf(sql, sizeof(sql), "SAVEPOINT s%d", st->depth);
    rc = sq.exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return map_rc(st, rc, sql);
    st->depth++;
    return 0;
}

int
store_commit(struct store *st)
{
    char sql[48];
    int rc;

    ASSERT(st->depth > 0);
    st->depth--;
    if (st->depth == 0)
        snprintf(sql, sizeof(sql), "COMMIT");
    else
        snprintf(sql, sizeof(sql), "RELEASE s%d", st->depth);
    rc = sq.exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = map_rc(st, rc, sql);
        if (st->depth == 0)
            sq.exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return 0;
}

void
store_rollback(struct store *st)
{
    char sql[64];

    ASSERT(st->depth > 0);
    st->depth--;
    if (st->depth == 0)
        snprintf(sql, sizeof(sql), "ROLLBACK");
    else
        snprintf(sql, sizeof(sql), "ROLLBACK TO s%d; RELEASE s%d", st->depth, st->depth);
    sq.exec(st->db, sql, NULL, NULL, NULL);
}

/* Ends a transaction begun with store_begin: commit when rc == 0, else roll back. */
static int
finish(struct store *st, int rc)
{
    if (rc == 0)
        return store_commit(st);
    store_rollback(st);
    return rc;
}

/* ---- open / close / migrate ---- */

static int
schema_version(struct store *st, int *out)
{
    sqlite3_stmt *s;
    int rc;

    *out = 0;
    rc = run(st,
             prep(st, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ""));
    if (rc != 0)
        return rc;
    if ((s = prep(st, "SELECT max(version) FROM schema_version", "")) == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW)
        *out = sq.column_int(s, 0);
    sq.finalize(s);
    return 0;
}

static int
migrate_to_latest(struct store *st, struct err *err)
{
    int version, rc;

    if ((rc = schema_version(st, &version)) != 0)
        return err_set(err, rc, "cannot read the schema version");
    if ((size_t)version > migrate_count())
        return err_set(err, -EINVAL,
                       "schema version %d is newer than this binary knows (%zu): upgrade cutover",
                       version, migrate_count());
    for (size_t v = (size_t)version; v < migrate_count(); v++) {
        if ((rc = store_begin(st)) != 0)
            return err_set(err, rc, "cannot begin migration %zu", v + 1);
        rc = exec_script(st, migrate_script(v + 1), err);
        if (rc == 0)
            rc = run(st, prep(st, "INSERT INTO schema_version VALUES (?)", "d", (int)v + 1));
        if ((rc = finish(st, rc)) != 0)
            return err->code != 0 ? rc : err_set(err, rc, "migration %zu failed", v + 1);
        log_info("store: migrated to schema version %zu", v + 1);
    }
    return 0;
}

int
store_open(struct store **out, const char *path, struct err *err)
{
    struct store *st;
    int rc;

    pthread_once(&sq_once, load_sqlite);
    if (sq.why[0] != '\0')
        return err_set(err, -ENOSYS, "%s (install libsqlite3-0)", sq.why);
    st = mem_calloc(1, sizeof(*st));

    if (sq.open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        rc = err_set(err, -EIO, "%s: %s", path, sq.errmsg(st->db));
        goto fail;
    }
    sq.extended_result_codes(st->db, 1);
    sq.busy_timeout(st->db, 5000);
    /* WAL + synchronous=NORMAL: a commit survives a kill -9 of this process (it is in the WAL
     * in the page cache); only a power loss can take the last commits. */
    if ((rc = exec_script(st,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "PRAGMA foreign_keys=ON;",
                          err)) != 0)
        goto fail;
    if ((rc = migrate_to_latest(st, err)) != 0)
        goto fail;
    *out = st;
    return 0;
fail:
    if (err != NULL && rc == -EIO && strncmp(err->msg, path, strlen(path)) != 0) {
        char msg[ERR_MSG_MAX];

        str_copy(msg, err->msg, sizeof(msg));
        err_set(err, rc, "%.200s: %.300s", path, msg);
    }
    sq.close_db(st->db);
    free(st);
    return rc;
}

void
store_close(struct store *st)
{
    if (st == NULL)
        return;
    sq.close_db(st->db);
    free(st);
}

/* ---- names ---- */

void
store_names_fini(struct store_names *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

/* Room for one more element in an arena array of <n> elements of <size> bytes: returns
 * <items>, or a copy with twice the capacity *cap when full (the old one stays in the arena
 * until the list is freed). */
static void *
grow_items(struct arena *a, void *items, size_t n, size_t *cap, size_t size)
{
    void *more;

    if (n + 1 < *cap)
        return items;
    more = arena_calloc(a, *cap * 2, size);
    memcpy(more, items, n * size);
    *cap *= 2;
    return more;
}

/* Collects column 0 of every row of <s> (finalised here). */
static int
collect_names(struct store *st, sqlite3_stmt *s, struct store_names *out)
{
    size_t cap = 16;
    const char **names;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 1024);
    if (s == NULL)
        return -EIO;
    names = mem_calloc(cap, sizeof(*names));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        if (out->n + 1 >= cap)
            names = mem_realloc(names, (cap *= 2) * sizeof(*names));
        names[out->n++] = col_str(&out->arena, s, 0);
    }
    rc = map_rc(st, rc, sq.sql(s));
    sq.finalize(s);
    out->names = arena_memdup(&out->arena, names, (out->n + 1) * sizeof(*names));
    free(names);
    return rc;
}

/* ---- applications ---- */

int
store_application_create(struct store *st, const char *name)
{
    return run(
        st, prep(st, "INSERT INTO applications VALUES (?, ?)", "si", name, deploy_time_now_ms()));
}

int
store_application_exists(struct store *st, const char *name)
{
    sqlite3_stmt *s = prep(st, "SELECT 1 FROM applications WHERE name = ?", "s", name);
    int rc;

    if (s == NULL)
        return -EIO;
    rc = sq.step(s) == SQLITE_ROW ? 0 : -ENOENT;
    sq.finalize(s);
    return rc;
}

int
store_application_list(struct store *st, struct store_names *out)
{
    return collect_names(st, prep(st, "SELECT name FROM applications ORDER BY name", ""), out);
}

/* ---- deployment groups ---- */

void
store_group_fini(struct store_group *g)
{
    deploy_group_fini(&g->group);
    arena_fini(&g->arena);
    memset(g, 0, sizeof(*g));
}

static void
new_uuid(char *out)
{
    unsigned char b[16];

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        ASSERT(!"getrandom failed");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, STORE_ID_MAX,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int
store_group_create(struct store *st, const struct deploy_group *g, const char *json, char *id_out)
{
    int64_t now = deploy_time_now_ms();

    new_uuid(id_out);
    return run(st, prep(st,
                        "INSERT INTO deployment_groups (id, application, name, json, "
                        "deployment_type, config_name, create_ms, update_ms) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        "ssssssii", id_out, g->application_name, g->name, json,
                        deploy_type_name(g->type), g->config_name, now, now));
}

int
store_group_update(struct store *st, const struct deploy_group *g, const char *json)
{
    int rc = run(st, prep(st,
                          "UPDATE deployment_groups SET json = ?, deployment_type = ?, "
                          "config_name = ?, update_ms = ? WHERE application = ? AND name = ?",
                          "sssiss", json, deploy_type_name(g->type), g->config_name,
                          deploy_time_now_ms(), g->application_name, g->name));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

static int
group_last_good(struct store *st, struct store_group *out, const char *app, const char *name)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT revision_id FROM deployments WHERE application = ? AND "
                           "group_name = ? AND status = 'Succeeded' ORDER BY create_ms DESC, "
                           "rowid DESC LIMIT 1",
                           "ss", app, name);

    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW)
        out->last_good_revision_id = col_str(&out->arena, s, 0);
    sq.finalize(s);
    return 0;
}

int
store_group_get(struct store *st, const char *app, const char *name, struct store_group *out)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT id, json, serving_fleet, create_ms, update_ms FROM "
                           "deployment_groups WHERE application = ? AND name = ?",
                           "ss", app, name);
    struct err err = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 1024);
    if (s == NULL)
        return -EIO;
    if ((rc = sq.step(s)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? -ENOENT : map_rc(st, rc, "group get");
        sq.finalize(s);
        return rc;
    }
    out->id = col_str(&out->arena, s, 0);
    out->json = col_str(&out->arena, s, 1);
    out->serving_fleet = sq.column_int(s, 2);
    out->create_ms = sq.column_int64(s, 3);
    out->update_ms = sq.column_int64(s, 4);
    sq.finalize(s);
    if ((rc = deploy_group_parse(out->json, strlen(out->json), "stored group", &out->group,
                                 &err)) != 0) {
        log_error("store: group %s/%s: %s", app, name, err.msg);
        return -EIO;
    }
    return group_last_good(st, out, app, name);
}

int
store_group_list(struct store *st, const char *app, struct store_names *out)
{
    return collect_names(
        st,
        prep(st, "SELECT name FROM deployment_groups WHERE application = ? ORDER BY name", "s",
             app),
        out);
}

int
store_group_set_serving_fleet(struct store *st, const char *app, const char *name, int fleet)
{
    int rc = run(st, prep(st,
                          "UPDATE deployment_groups SET serving_fleet = ? WHERE application = ? "
                          "AND name = ?",
                          "dss", fleet, app, name));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

/* ---- deployment configs ---- */

int
store_config_create(struct store *st, const struct deploy_config *c)
{
    return run(st, prep(st, "INSERT INTO deployment_configs VALUES (?, ?, ?, 0, ?)", "ssdi",
                        c->name, deploy_min_healthy_type_name(c->min_healthy_type),
                        (int)c->min_healthy_value, deploy_time_now_ms()));
}

int
store_config_get(struct store *st, const char *name, struct deploy_config *out)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT name, min_healthy_type, min_healthy_value FROM "
                           "deployment_configs WHERE name = ?",
                           "s", name);
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 256);
    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        out->name = col_str(&out->arena, s, 0);
        (void)deploy_min_healthy_type_parse((const char *)sq.column_text(s, 1),
                                            &out->min_healthy_type);
        out->min_healthy_value = (uint32_t)sq.column_int(s, 2);
        rc = 0;
    } else {
        rc = -ENOENT;
    }
    sq.finalize(s);
    return rc;
}

/* ---- instances ---- */

int
store_instance_upsert(struct store *st, const struct deploy_onprem *o, const char *token_hash)
{
    int rc;

    if ((rc = store_begin(st)) != 0)
        return rc;
    rc = run(st,
             prep(st,
                  "INSERT INTO instances (name, target, agent_version, token_hash, "
                  "register_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET "
                  "target = coalesce(?2, target), agent_version = coalesce(?3, "
                  "agent_version), token_hash = coalesce(?4, token_hash)",
                  "ssssi", o->name, o->target, o->agent_version, token_hash, deploy_time_now_ms()));
    if (rc == 0 && (o->ntags > 0 || token_hash != NULL))
        rc = run(st, prep(st, "DELETE FROM instance_tags WHERE instance = ?", "s", o->name));
    for (size_t i = 0; rc == 0 && i < o->ntags; i++)
        rc = run(st, prep(st, "INSERT OR REPLACE INTO instance_tags VALUES (?, ?, ?)", "sss",
                          o->name, o->tags[i].key, o->tags[i].value));
    return finish(st, rc);
}

static int
read_tags(struct store *st, struct arena *a, struct deploy_onprem *o)
{
    sqlite3_stmt *s = prep(
        st, "SELECT key, value FROM instance_tags WHERE instance = ? ORDER BY key", "s", o->name);
    size_t cap = 4;
    int rc;

    if (s == NULL)
        return -EIO;
    o->tags = arena_calloc(a, cap, sizeof(*o->tags));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        if (o->ntags + 1 >= cap) {
            struct deploy_tag *more = arena_calloc(a, cap * 2, sizeof(*more));

            memcpy(more, o->tags, o->ntags * sizeof(*more));
            o->tags = more;
            cap *= 2;
        }
        o->tags[o->ntags].key = col_str(a, s, 0);
        o->tags[o->ntags].value = col_str(a, s, 1);
        o->ntags++;
    }
    rc = map_rc(st, rc, "tags");
    sq.finalize(s);
    return rc;
}

static int
read_instances(struct store *st, sqlite3_stmt *s, struct deploy_onprem_list *out)
{
    size_t cap = 8;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 4096);
    if (s == NULL)
        return -EIO;
    out->items = arena_calloc(&out->arena, cap, sizeof(*out->items));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        struct deploy_onprem *o;

        out->items = grow_items(&out->arena, out->items, out->n, &cap, sizeof(*out->items));
        o = &out->items[out->n++];
        o->name = col_str(&out->arena, s, 0);
        o->target = col_str(&out->arena, s, 1);
        o->agent_version = col_str(&out->arena, s, 2);
        o->register_ms = sq.column_int64(s, 3);
        o->last_heartbeat_ms = sq.column_int64(s, 4);
    }
    rc = map_rc(st, rc, "instances");
    sq.finalize(s);
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        rc = read_tags(st, &out->arena, &out->items[i]);
    return rc;
}

#define INSTANCE_COLUMNS "SELECT name, target, agent_version, register_ms, last_heartbeat_ms "

int
store_instance_get(struct store *st, const char *name, struct deploy_onprem_list *out)
{
    int rc = read_instances(
        st, prep(st, INSTANCE_COLUMNS "FROM instances WHERE name = ?", "s", name), out);

    if (rc == 0 && out->n == 0)
        return -ENOENT;
    return rc;
}

int
store_instance_list(struct store *st, struct deploy_onprem_list *out)
{
    return read_instances(st, prep(st, INSTANCE_COLUMNS "FROM instances ORDER BY name", ""), out);
}

int
store_instance_find_by_token(struct store *st, const char *token_hash, char *name_out, size_t size)
{
    sqlite3_stmt *s = prep(st, "SELECT name FROM instances WHERE token_hash = ?", "s", token_hash);
    int rc = -ENOENT;

    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        str_copy(name_out, (const char *)sq.column_text(s, 0), size);
        rc = 0;
    }
    sq.finalize(s);
    return rc;
}

int
store_instance_heartbeat(struct store *st, const char *name, const char *running_command_id)
{
    int rc = run(st, prep(st,
                          "UPDATE instances SET last_heartbeat_ms = ?, running_command = ? WHERE "
                          "name = ?",
                          "iss", deploy_time_now_ms(), running_command_id, name));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

int
store_instance_last_heartbeat(struct store *st, const char *name, int64_t *at_ms, char *cmd_out)
{
    sqlite3_stmt *s = prep(
        st, "SELECT last_heartbeat_ms, running_command FROM instances WHERE name = ?", "s", name);
    int rc = -ENOENT;

    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        const unsigned char *cmd = sq.column_text(s, 1);

        *at_ms = sq.column_int64(s, 0);
        if (cmd_out != NULL)
            str_copy(cmd_out, cmd != NULL ? (const char *)cmd : "", STORE_ID_MAX);
        rc = 0;
    }
    sq.finalize(s);
    return rc;
}

/* ---- revisions ---- */

int
store_revision_insert(struct store *st, const struct deploy_revision *r)
{
    return run(st,
               prep(st, "INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    "ssssii", r->revision_id, r->application_name, r->sha256,
                    r->bundle_type != NULL ? r->bundle_type : "tgz", (int64_t)r->size,
                    r->register_ms != 0 ? r->register_ms : deploy_time_now_ms()));
}

int
store_revision_get(struct store *st, const char *revision_id, struct deploy_revision *out)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT id, application, sha256, bundle_type, size, register_ms FROM "
                           "revisions WHERE id = ? ORDER BY register_ms LIMIT 1",
                           "s", revision_id);
    int rc = -ENOENT;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 512);
    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        out->revision_id = col_str(&out->arena, s, 0);
        out->application_name = col_str(&out->arena, s, 1);
        out->sha256 = col_str(&out->arena, s, 2);
        out->bundle_type = col_str(&out->arena, s, 3);
        out->size = (uint64_t)sq.column_int64(s, 4);
        out->register_ms = sq.column_int64(s, 5);
        rc = 0;
    }
    sq.finalize(s);
    return rc;
}

/* ---- deployments ---- */

#define DEPLOYMENT_COLUMNS                                                                         \
    "SELECT id, application, group_name, revision_id, config_name, status, error_code, "           \
    "error_message, creator, description, rollback_deployment_id, "                                \
    "rollback_triggering_deployment_id, rollback_message, deployment_type, deployment_option, "    \
    "file_exists, ignore_stop_failures, auto_rollback_override, create_ms, start_ms, "             \
    "complete_ms, step FROM deployments "

static void
read_deployment(struct arena *a, sqlite3_stmt *s, struct store_deployment *d)
{
    struct deploy_info *i = &d->info;

    i->deployment_id = col_str(a, s, 0);
    i->application_name = col_str(a, s, 1);
    i->group_name = col_str(a, s, 2);
    i->revision_id = col_str(a, s, 3);
    i->config_name = col_str(a, s, 4);
    (void)deploy_status_parse((const char *)sq.column_text(s, 5), &i->status);
    (void)deploy_error_code_parse((const char *)sq.column_text(s, 6), &i->error_code);
    i->error_message = col_str(a, s, 7);
    i->creator = col_str(a, s, 8);
    i->description = col_str(a, s, 9);
    i->rollback_deployment_id = col_str(a, s, 10);
    i->rollback_triggering_deployment_id = col_str(a, s, 11);
    i->rollback_message = col_str(a, s, 12);
    (void)deploy_type_parse((const char *)sq.column_text(s, 13), &i->type);
    (void)deploy_option_parse((const char *)sq.column_text(s, 14), &i->option);
    (void)deploy_file_exists_parse((const char *)sq.column_text(s, 15), &i->file_exists);
    i->ignore_application_stop_failures = sq.column_int(s, 16) != 0;
    i->auto_rollback_override = sq.column_int(s, 17);
    i->create_ms = sq.column_int64(s, 18);
    i->start_ms = sq.column_int64(s, 19);
    i->complete_ms = sq.column_int64(s, 20);
    d->step = col_str(a, s, 21);
    i->progress_json = d->step;
}

void
store_deployment_fini(struct store_deployment *d)
{
    arena_fini(&d->info.arena);
    memset(d, 0, sizeof(*d));
}

static int
active_in_group(struct store *st, const char *app, const char *group, char *active_out)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT id FROM deployments WHERE application = ? AND group_name = ? "
                           "AND status IN ('Created', 'Queued', 'InProgress', 'Ready') "
                           "ORDER BY create_ms LIMIT 1",
                           "ss", app, group);
    int rc = 0;

    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        if (active_out != NULL)
            str_copy(active_out, (const char *)sq.column_text(s, 0), STORE_ID_MAX);
        rc = -EBUSY;
    }
    sq.finalize(s);
    return rc;
}

int
store_deployment_create(struct store *st, const struct deploy_info *in, char *id_out,
                        char *active_out)
{
    int rc;

    if ((rc = store_begin(st)) != 0)
        return rc;
    if ((rc = active_in_group(st, in->application_name, in->group_name, active_out)) != 0)
        return finish(st, rc);
    memcpy(id_out, "d-", 2);
    random_chars(id_out + 2, 9, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    rc = run(st,
             prep(st,
                  "INSERT INTO deployments (id, application, group_name, revision_id, "
                  "config_name, status, creator, description, "
                  "rollback_triggering_deployment_id, deployment_type, deployment_option, "
                  "file_exists, ignore_stop_failures, auto_rollback_override, create_ms) "
                  "VALUES (?, ?, ?, ?, ?, 'Created', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  "sssssssssssddi", id_out, in->application_name, in->group_name, in->revision_id,
                  in->config_name, in->creator != NULL ? in->creator : "user", in->description,
                  in->rollback_triggering_deployment_id, deploy_type_name(in->type),
                  deploy_option_name(in->option), deploy_file_exists_name(in->file_exists),
                  (int)in->ignore_application_stop_failures, in->auto_rollback_override,
                  in->create_ms != 0 ? in->create_ms : deploy_time_now_ms()));
    return finish(st, rc);
}

int
store_deployment_get(struct store *st, const char *id, struct store_deployment *out)
{
    sqlite3_stmt *s = prep(st, DEPLOYMENT_COLUMNS "WHERE id = ?", "s", id);
    int rc = -ENOENT;

    memset(out, 0, sizeof(*out));
    arena_init(&out->info.arena, 2048);
    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        read_deployment(&out->info.arena, s, out);
        rc = 0;
    }
    sq.finalize(s);
    if (rc == 0)
        rc = store_target_overview(st, id, &out->info.overview);
    return rc;
}

int
store_deployment_update(struct store *st, const struct deploy_info *i)
{
    int rc = run(
        st, prep(st,
                 "UPDATE deployments SET status = ?, error_code = ?, error_message = ?, "
                 "start_ms = ?, complete_ms = ?, rollback_deployment_id = ?, "
                 "rollback_triggering_deployment_id = ?, rollback_message = ? WHERE id = ?",
                 "sssiissss", deploy_status_name(i->status), deploy_error_code_name(i->error_code),
                 i->error_message, i->start_ms, i->complete_ms, i->rollback_deployment_id,
                 i->rollback_triggering_deployment_id, i->rollback_message, i->deployment_id));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

int
store_deployment_set_step(struct store *st, const char *id, const char *step_json)
{
    int rc = run(st, prep(st, "UPDATE deployments SET step = ? WHERE id = ?", "ss", step_json, id));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

void
store_deployment_list_fini(struct store_deployment_list *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

static int
read_deployments(struct store *st, sqlite3_stmt *s, struct store_deployment_list *out)
{
    size_t cap = 8;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 8192);
    if (s == NULL)
        return -EIO;
    out->items = arena_calloc(&out->arena, cap, sizeof(*out->items));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        out->items = grow_items(&out->arena, out->items, out->n, &cap, sizeof(*out->items));
        read_deployment(&out->arena, s, &out->items[out->n++]);
    }
    rc = map_rc(st, rc, "deployments");
    sq.finalize(s);
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        rc = store_target_overview(st, out->items[i].info.deployment_id,
                                   &out->items[i].info.overview);
    return rc;
}

int
store_deployment_list(struct store *st, const char *app, const char *group, size_t limit,
                      struct store_deployment_list *out)
{
    return read_deployments(st,
                            prep(st,
                                 DEPLOYMENT_COLUMNS "WHERE (?1 IS NULL OR application = ?1) AND "
                                                    "(?2 IS NULL OR group_name = ?2) ORDER BY "
                                                    "create_ms DESC, rowid DESC LIMIT ?3",
                                 "ssi", app, group, limit == 0 ? (int64_t)-1 : (int64_t)limit),
                            out);
}

int
store_deployment_list_active(struct store *st, struct store_deployment_list *out)
{
    return read_deployments(st,
                            prep(st,
                                 DEPLOYMENT_COLUMNS
                                 "WHERE status IN ('Created', 'Queued', 'InProgress', 'Ready') "
                                 "ORDER BY create_ms, rowid",
                                 ""),
                            out);
}

int
store_deployment_last_succeeded(struct store *st, const char *app, const char *group,
                                struct store_deployment *out)
{
    sqlite3_stmt *s = prep(st,
                           DEPLOYMENT_COLUMNS "WHERE application = ? AND group_name = ? AND "
                                              "status = 'Succeeded' ORDER BY create_ms DESC, "
                                              "rowid DESC LIMIT 1",
                           "ss", app, group);
    int rc = -ENOENT;

    memset(out, 0, sizeof(*out));
    arena_init(&out->info.arena, 2048);
    if (s == NULL)
        return -EIO;
    if (sq.step(s) == SQLITE_ROW) {
        read_deployment(&out->info.arena, s, out);
        rc = 0;
    }
    sq.finalize(s);
    return rc;
}

/* ---- instances within a deployment ---- */

int
store_target_add(struct store *st, const char *deployment_id, const char *instance,
                 enum deploy_instance_type type)
{
    return run(st, prep(st,
                        "INSERT INTO deployment_targets VALUES (?, ?, 'Pending', ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        "sssi", deployment_id, instance, deploy_instance_type_name(type),
                        deploy_time_now_ms()));
}

int
store_target_set_status(struct store *st, const char *deployment_id, const char *instance,
                        enum deploy_instance_status status)
{
    int rc = run(st, prep(st,
                          "UPDATE deployment_targets SET status = ?, last_updated_ms = ? WHERE "
                          "deployment_id = ? AND instance = ?",
                          "siss", deploy_instance_status_name(status), deploy_time_now_ms(),
                          deployment_id, instance));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}

static int
read_events(struct store *st, struct arena *a, struct deploy_instance_summary *sum)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT name, status, start_ms, end_ms, error_code, script_name, "
                           "message, log_tail, exit_code FROM lifecycle_events WHERE "
                           "deployment_id = ? AND instance = ? ORDER BY seq",
                           "ss", sum->deployment_id, sum->instance_id);
    size_t cap = 16;
    int rc;

    if (s == NULL)
        return -EIO;
    sum->events = arena_calloc(a, cap, sizeof(*sum->events));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        struct deploy_event *ev;

        if (sum->nevents + 1 >= cap) {
            struct deploy_event *more = arena_calloc(a, cap * 2, sizeof(*more));

            memcpy(more, sum->events, sum->nevents * sizeof(*more));
            sum->events = more;
            cap *= 2;
        }
        ev = &sum->events[sum->nevents++];
        ev->name = col_str(a, s, 0);
        if (deploy_event_status_parse((const char *)sq.column_text(s, 1), &ev->status) != 0)
            ev->status = DEPLOY_EVENT_UNKNOWN;
        ev->start_ms = sq.column_int64(s, 2);
        ev->end_ms = sq.column_int64(s, 3);
        ev->diag.error_code = col_str(a, s, 4);
        ev->diag.script_name = col_str(a, s, 5);
        ev->diag.message = col_str(a, s, 6);
        ev->diag.log_tail = col_str(a, s, 7);
        ev->diag.exit_code = sq.column_int(s, 8);
    }
    rc = map_rc(st, rc, "events");
    sq.finalize(s);
    return rc;
}

static int
read_targets(struct store *st, sqlite3_stmt *s, struct deploy_instance_summaries *out)
{
    size_t cap = 8;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 8192);
    if (s == NULL)
        return -EIO;
    out->items = arena_calloc(&out->arena, cap, sizeof(*out->items));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        struct deploy_instance_summary *sum;

        out->items = grow_items(&out->arena, out->items, out->n, &cap, sizeof(*out->items));
        sum = &out->items[out->n++];
        sum->deployment_id = col_str(&out->arena, s, 0);
        sum->instance_id = col_str(&out->arena, s, 1);
        if (deploy_instance_status_parse((const char *)sq.column_text(s, 2), &sum->status))
            sum->status = DEPLOY_INSTANCE_UNKNOWN;
        (void)deploy_instance_type_parse((const char *)sq.column_text(s, 3), &sum->instance_type);
        sum->last_updated_ms = sq.column_int64(s, 4);
        sum->target = col_str(&out->arena, s, 5);
    }
    rc = map_rc(st, rc, "targets");
    sq.finalize(s);
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        rc = read_events(st, &out->arena, &out->items[i]);
    return rc;
}

#define TARGET_COLUMNS                                                                             \
    "SELECT t.deployment_id, t.instance, t.status, t.instance_type, t.last_updated_ms, "           \
    "i.target FROM deployment_targets t JOIN instances i ON i.name = t.instance "

int
store_target_list(struct store *st, const char *deployment_id,
                  struct deploy_instance_summaries *out)
{
    return read_targets(st,
                        prep(st, TARGET_COLUMNS "WHERE t.deployment_id = ? ORDER BY t.instance",
                             "s", deployment_id),
                        out);
}

int
store_target_get(struct store *st, const char *deployment_id, const char *instance,
                 struct deploy_instance_summaries *out)
{
    int rc = read_targets(st,
                          prep(st, TARGET_COLUMNS "WHERE t.deployment_id = ? AND t.instance = ?",
                               "ss", deployment_id, instance),
                          out);

    if (rc == 0 && out->n == 0)
        return -ENOENT;
    return rc;
}

int
store_target_overview(struct store *st, const char *deployment_id, struct deploy_overview *ov)
{
    sqlite3_stmt *s = prep(st,
                           "SELECT status, count(*) FROM deployment_targets WHERE "
                           "deployment_id = ? GROUP BY status",
                           "s", deployment_id);
    int rc;

    memset(ov, 0, sizeof(*ov));
    if (s == NULL)
        return -EIO;
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        enum deploy_instance_status status;
        uint32_t n = (uint32_t)sq.column_int(s, 1);

        if (deploy_instance_status_parse((const char *)sq.column_text(s, 0), &status) != 0)
            continue;
        switch (status) {
        case DEPLOY_INSTANCE_PENDING:
            ov->pending += n;
            break;
        case DEPLOY_INSTANCE_IN_PROGRESS:
            ov->in_progress += n;
            break;
        case DEPLOY_INSTANCE_SUCCEEDED:
            ov->succeeded += n;
            break;
        case DEPLOY_INSTANCE_FAILED:
            ov->failed += n;
            break;
        case DEPLOY_INSTANCE_SKIPPED:
            ov->skipped += n;
            break;
        case DEPLOY_INSTANCE_READY:
            ov->ready += n;
            break;
        case DEPLOY_INSTANCE_UNKNOWN:
            break;
        }
    }
    rc = map_rc(st, rc, "overview");
    sq.finalize(s);
    return rc;
}

int
store_event_upsert(struct store *st, const char *deployment_id, const char *instance,
                   const struct deploy_event *ev)
{
    /* A final status is never overwritten by a late Pending/InProgress (agent retries). */
    return run(
        st,
        prep(st,
             "INSERT INTO lifecycle_events (deployment_id, instance, name, seq, status, start_ms, "
             "end_ms, error_code, script_name, message, log_tail, exit_code) VALUES (?1, ?2, ?3, "
             "(SELECT coalesce(max(seq), 0) + 1 FROM lifecycle_events WHERE deployment_id = ?1 "
             "AND instance = ?2), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
             "ON CONFLICT (deployment_id, instance, name) DO UPDATE SET "
             "status = CASE WHEN status IN ('Succeeded', 'Failed', 'Skipped') AND "
             "excluded.status IN ('Pending', 'InProgress') THEN status ELSE excluded.status END, "
             "start_ms = CASE WHEN excluded.start_ms != 0 THEN excluded.start_ms ELSE start_ms "
             "END, end_ms = CASE WHEN excluded.end_ms != 0 THEN excluded.end_ms ELSE end_ms END, "
             "error_code = coalesce(excluded.error_code, error_code), "
             "script_name = coalesce(excluded.script_name, script_name), "
             "message = coalesce(excluded.message, message), "
             "log_tail = coalesce(excluded.log_tail, log_tail), "
             "exit_code = CASE WHEN excluded.exit_code >= 0 THEN excluded.exit_code ELSE "
             "exit_code END",
             "ssssiissssd", deployment_id, instance, ev->name, deploy_event_status_name(ev->status),
             ev->start_ms, ev->end_ms, ev->diag.error_code, ev->diag.script_name, ev->diag.message,
             ev->diag.log_tail, ev->diag.exit_code));
}

/* ---- agent commands ---- */

static const char *const command_states[] = {
    [STORE_COMMAND_QUEUED] = "Queued",
    [STORE_COMMAND_CLAIMED] = "Claimed",
    [STORE_COMMAND_DONE] = "Done",
    [STORE_COMMAND_CANCELLED] = "Cancelled",
};

const char *
store_command_state_name(enum store_command_state s)
{
    return (size_t)s < sizeof(command_states) / sizeof(command_states[0]) ? command_states[s] : "?";
}

static enum store_command_state
command_state_parse(const char *s)
{
    for (size_t i = 0; s != NULL && i < sizeof(command_states) / sizeof(command_states[0]); i++)
        if (strcmp(command_states[i], s) == 0)
            return (enum store_command_state)i;
    return STORE_COMMAND_DONE;
}

void
store_command_list_fini(struct store_command_list *l)
{
    arena_fini(&l->arena);
    memset(l, 0, sizeof(*l));
}

static void
split_events(struct arena *a, const char *csv, struct store_command *c)
{
    size_t n = csv[0] != '\0' ? 1 : 0;
    char *copy = arena_strdup(a, csv), *p = copy;

    for (const char *q = csv; *q != '\0'; q++)
        n += *q == ',';
    c->events = arena_calloc(a, n + 1, sizeof(*c->events));
    for (size_t i = 0; i < n; i++) {
        char *comma = strchr(p, ',');

        if (comma != NULL)
            *comma = '\0';
        c->events[i] = p;
        p = comma != NULL ? comma + 1 : p + strlen(p);
    }
    c->nevents = n;
}

static int
read_commands(struct store *st, sqlite3_stmt *s, struct store_command_list *out)
{
    size_t cap = 4;
    int rc;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 2048);
    if (s == NULL)
        return -EIO;
    out->items = arena_calloc(&out->arena, cap, sizeof(*out->items));
    while ((rc = sq.step(s)) == SQLITE_ROW) {
        struct store_command *c;

        out->items = grow_items(&out->arena, out->items, out->n, &cap, sizeof(*out->items));
        c = &out->items[out->n++];
        c->id = col_str(&out->arena, s, 0);
        c->deployment_id = col_str(&out->arena, s, 1);
        c->instance = col_str(&out->arena, s, 2);
        c->state = command_state_parse((const char *)sq.column_text(s, 3));
        split_events(&out->arena, (const char *)sq.column_text(s, 4), c);
        c->create_ms = sq.column_int64(s, 5);
        c->claim_ms = sq.column_int64(s, 6);
        c->done_ms = sq.column_int64(s, 7);
    }
    rc = map_rc(st, rc, "commands");
    sq.finalize(s);
    return rc;
}

#define COMMAND_COLUMNS                                                                            \
    "SELECT id, deployment_id, instance, state, events, create_ms, claim_ms, done_ms FROM "        \
    "commands "

int
store_command_create(struct store *st, const char *deployment_id, const char *instance,
                     const char *const *events, size_t nevents, char *id_out)
{
    struct buf csv;
    int rc;

    buf_init(&csv);
    for (size_t i = 0; i < nevents; i++)
        buf_appendf(&csv, "%s%s", i > 0 ? "," : "", events[i]);
    memcpy(id_out, "c-", 2);
    random_chars(id_out + 2, 16, "0123456789abcdef");
    if ((rc = store_begin(st)) != 0) {
        buf_fini(&csv);
        return rc;
    }
    rc = run(st, prep(st,
                      "INSERT INTO commands (id, deployment_id, instance, state, events, "
                      "create_ms) VALUES (?, ?, ?, 'Queued', ?, ?)",
                      "ssssi", id_out, deployment_id, instance, csv.data != NULL ? csv.data : "",
                      deploy_time_now_ms()));
    buf_fini(&csv);
    for (size_t i = 0; rc == 0 && i < nevents; i++) {
        rc = run(st, prep(st,
                          "INSERT INTO lifecycle_events (deployment_id, instance, name, seq, "
                          "status) VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM "
                          "lifecycle_events WHERE deployment_id = ?1 AND instance = ?2), "
                          "'Pending') ON CONFLICT DO NOTHING",
                          "sss", deployment_id, instance, events[i]));
    }
    return finish(st, rc);
}

int
store_command_claim(struct store *st, const char *instance, struct store_command_list *out)
{
    int rc;

    if ((rc = store_begin(st)) != 0) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    rc = read_commands(st,
                       prep(st,
                            COMMAND_COLUMNS "WHERE instance = ? AND state = 'Queued' ORDER BY "
                                            "create_ms, rowid",
                            "s", instance),
                       out);
    if (rc == 0 && out->n > 0)
        rc = run(st, prep(st,
                          "UPDATE commands SET state = 'Claimed', claim_ms = ? WHERE instance = ? "
                          "AND state = 'Queued'",
                          "is", deploy_time_now_ms(), instance));
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        out->items[i].state = STORE_COMMAND_CLAIMED;
    if ((rc = finish(st, rc)) != 0)
        store_command_list_fini(out);
    return rc;
}

int
store_command_get(struct store *st, const char *id, struct store_command_list *out)
{
    int rc = read_commands(st, prep(st, COMMAND_COLUMNS "WHERE id = ?", "s", id), out);

    if (rc == 0 && out->n == 0)
        return -ENOENT;
    return rc;
}

int
store_command_list(struct store *st, const char *deployment_id, struct store_command_list *out)
{
    return read_commands(st,
                         prep(st,
                              COMMAND_COLUMNS "WHERE deployment_id = ? ORDER BY create_ms, rowid",
                              "s", deployment_id),
                         out);
}

int
store_command_set_state(struct store *st, const char *id, enum store_command_state state)
{
    bool is_end = state == STORE_COMMAND_DONE || state == STORE_COMMAND_CANCELLED;
    int rc = run(st, prep(st,
                          "UPDATE commands SET state = ?, done_ms = CASE WHEN ? THEN ? ELSE "
                          "done_ms END WHERE id = ?",
                          "sdis", store_command_state_name(state), (int)is_end,
                          deploy_time_now_ms(), id));

    if (rc == 0 && sq.changes(st->db) == 0)
        return -ENOENT;
    return rc;
}
