/* SPDX-License-Identifier: ISC */
/* appspec.yml validation. Every rule of APPSPEC.md lives here; the first violation stops the
 * parse with the node's position. Unknown keys inside files entries and hook scripts are ignored,
 * as the reference agent does (real bundles carry `overwrite:` and `sudo:`). */
#include "agent/appspec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"
#include "common/yaml_conf.h"

static const char *const event_names[APPSPEC_NEVENTS] = {
    [APPSPEC_BEFORE_BLOCK_TRAFFIC] = "BeforeBlockTraffic",
    [APPSPEC_AFTER_BLOCK_TRAFFIC] = "AfterBlockTraffic",
    [APPSPEC_APPLICATION_STOP] = "ApplicationStop",
    [APPSPEC_DOWNLOAD_BUNDLE] = "DownloadBundle",
    [APPSPEC_BEFORE_INSTALL] = "BeforeInstall",
    [APPSPEC_INSTALL] = "Install",
    [APPSPEC_AFTER_INSTALL] = "AfterInstall",
    [APPSPEC_APPLICATION_START] = "ApplicationStart",
    [APPSPEC_VALIDATE_SERVICE] = "ValidateService",
    [APPSPEC_BEFORE_ALLOW_TRAFFIC] = "BeforeAllowTraffic",
    [APPSPEC_AFTER_ALLOW_TRAFFIC] = "AfterAllowTraffic",
};

/* Events that exist in CodeDeploy but never run scripts: named so the error can say why. */
static const char *const builtin_events[] = {"DownloadBundle", "Install", "BlockTraffic",
                                             "AllowTraffic"};

static const char *const fe_names[] = {
    [APPSPEC_FE_DISALLOW] = "DISALLOW",
    [APPSPEC_FE_OVERWRITE] = "OVERWRITE",
    [APPSPEC_FE_RETAIN] = "RETAIN",
};

const char *
appspec_event_name(enum appspec_event ev)
{
    return ev < APPSPEC_NEVENTS ? event_names[ev] : "?";
}

int
appspec_event_parse(const char *name, enum appspec_event *out)
{
    for (int i = 0; i < APPSPEC_NEVENTS; i++) {
        if (strcmp(name, event_names[i]) == 0) {
            *out = (enum appspec_event)i;
            return 0;
        }
    }
    return -ENOENT;
}

bool
appspec_event_is_scriptable(enum appspec_event ev)
{
    return ev != APPSPEC_DOWNLOAD_BUNDLE && ev != APPSPEC_INSTALL && ev < APPSPEC_NEVENTS;
}

const char *
appspec_event_suggest(const char *name)
{
    return str_closest(name, event_names, APPSPEC_NEVENTS);
}

const char *
appspec_file_exists_name(enum appspec_file_exists fe)
{
    return fe_names[fe];
}

int
appspec_file_exists_parse(const char *s, enum appspec_file_exists *out)
{
    for (size_t i = 0; i < sizeof(fe_names) / sizeof(fe_names[0]); i++) {
        if (strcmp(s, fe_names[i]) == 0) {
            *out = (enum appspec_file_exists)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool
appspec_path_stays_inside(const char *p)
{
    int depth = 0;

    while (*p != '\0') {
        size_t len;

        while (*p == '/')
            p++;
        len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p += len;
    }
    return true;
}

/* A required string scalar: present, a scalar, not null, not empty. */
static int
get_string(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map, const char *key,
           bool required, const char **out, struct err *err)
{
    const struct yaml_conf_node *n = yaml_conf_get(map, key);

    *out = NULL;
    if (n == NULL || yaml_conf_is_null(n)) {
        if (required)
            return yaml_conf_error(err, doc, n ? n : map, "missing '%s' (expected a string)", key);
        return 0;
    }
    if (n->kind != YAML_CONF_SCALAR)
        return yaml_conf_error(err, doc, n, "'%s' is %s (expected a string)", key,
                               yaml_conf_kind_name(n->kind));
    if (n->value[0] == '\0')
        return yaml_conf_error(err, doc, n, "'%s' is empty (expected a string)", key);
    *out = n->value;
    return 0;
}

/* A scalar or a list of scalars, as `except:` and `acls:` are written. */
static int
get_string_list(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, const char *key,
                const char ***out, size_t *nout, struct err *err)
{
    const struct yaml_conf_node *const *items = &n;
    size_t count = 1;

    *out = NULL;
    *nout = 0;
    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    if (n->kind == YAML_CONF_MAP)
        return yaml_conf_error(err, doc, n, "'%s' is a mapping (expected a list of strings)", key);
    if (n->kind == YAML_CONF_SEQ) {
        items = (const struct yaml_conf_node *const *)n->items;
        count = n->n;
    }
    *out = mem_calloc(count ? count : 1, sizeof(**out));
    for (size_t i = 0; i < count; i++) {
        if (items[i]->kind != YAML_CONF_SCALAR || items[i]->value[0] == '\0')
            return yaml_conf_error(err, doc, items[i], "'%s' entries must be strings", key);
        (*out)[(*nout)++] = items[i]->value;
    }
    return 0;
}

static int
check_version(const struct yaml_conf_doc *doc, const struct yaml_conf_node *root, struct err *err)
{
    const struct yaml_conf_node *n = yaml_conf_get(root, "version");
    char *end = NULL;
    double v;

    if (n == NULL)
        return yaml_conf_error(err, doc, root, "missing 'version' (expected 0.0)");
    if (n->kind != YAML_CONF_SCALAR)
        return yaml_conf_error(err, doc, n, "'version' is %s (expected 0.0)",
                               yaml_conf_kind_name(n->kind));
    /* Plain scalars are numbers to YAML: 0, 0.0 and 0.00 are all the float 0.0. Quoted, only the
     * literal "0.0" (which the reference agent wrongly rejects). */
    if (!n->is_plain) {
        if (strcmp(n->value, "0.0") == 0)
            return 0;
    } else if (n->value[0] != '\0') {
        errno = 0;
        v = strtod(n->value, &end);
        if (errno == 0 && *end == '\0' && isfinite(v) && v == 0.0 &&
            strspn(n->value, "+-.0123456789eE") == strlen(n->value))
            return 0;
    }
    return yaml_conf_error(err, doc, n, "invalid version value (%s) (expected 0.0)", n->value);
}

static int
check_os(const struct yaml_conf_doc *doc, const struct yaml_conf_node *root, struct err *err)
{
    const struct yaml_conf_node *n = yaml_conf_get(root, "os");

    if (n == NULL)
        return yaml_conf_error(err, doc, root, "missing 'os' (expected linux)");
    if (n->kind != YAML_CONF_SCALAR || strcmp(n->value, "linux") != 0)
        return yaml_conf_error(err, doc, n, "unsupported os '%s' (expected linux)",
                               n->kind == YAML_CONF_SCALAR ? n->value : "?");
    return 0;
}

static int
parse_files(struct appspec *spec, const struct yaml_conf_node *list, struct err *err)
{
    const struct yaml_conf_doc *doc = spec->doc;
    int rc;

    if (list == NULL || yaml_conf_is_null(list))
        return 0;
    if ((rc = yaml_conf_expect(doc, list, YAML_CONF_SEQ, "'files'", err)))
        return rc;
    spec->files = mem_calloc(list->n ? list->n : 1, sizeof(*spec->files));
    for (size_t i = 0; i < list->n; i++) {
        const struct yaml_conf_node *e = list->items[i];
        struct appspec_file *f = &spec->files[spec->nfiles++];

        if ((rc = yaml_conf_expect(doc, e, YAML_CONF_MAP, "a files entry", err)))
            return rc;
        f->line = e->line;
        if ((rc = get_string(doc, e, "source", true, &f->source, err)) ||
            (rc = get_string(doc, e, "destination", true, &f->destination, err)))
            return rc;
        ASSERT(f->source != NULL && f->destination != NULL); /* required above */
        if (!appspec_path_stays_inside(f->source))
            return yaml_conf_error(err, doc, yaml_conf_get(e, "source"),
                                   "source '%s' leaves the bundle (expected a path inside it)",
                                   f->source);
        if (f->destination[0] != '/')
            return yaml_conf_error(err, doc, yaml_conf_get(e, "destination"),
                                   "destination '%s' is relative (expected an absolute path)",
                                   f->destination);
    }
    return 0;
}

static int
parse_mode(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, int *out,
           struct err *err)
{
    size_t len;

    *out = -1;
    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    /* The digits are octal as users mean them: 644 and 0644 are both rw-r--r--. */
    len = n->kind == YAML_CONF_SCALAR ? strlen(n->value) : 0;
    if (len == 0 || len > 4 || strspn(n->value, "01234567") != len)
        return yaml_conf_error(err, doc, n,
                               "invalid mode '%s' (expected 3 or 4 octal digits, like 644 or 0755)",
                               n->kind == YAML_CONF_SCALAR ? n->value : "?");
    *out = (int)strtol(n->value, NULL, 8);
    return 0;
}

static int
parse_types(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, unsigned *out,
            struct err *err)
{
    const char **names = NULL;
    size_t count = 0;
    int rc;

    *out = APPSPEC_TYPE_FILE | APPSPEC_TYPE_DIRECTORY;
    if ((rc = get_string_list(doc, n, "type", &names, &count, err)) != 0)
        goto out;
    if (count > 0)
        *out = 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], "file") == 0) {
            *out |= APPSPEC_TYPE_FILE;
        } else if (strcmp(names[i], "directory") == 0) {
            *out |= APPSPEC_TYPE_DIRECTORY;
        } else {
            const struct yaml_conf_node *at = n->kind == YAML_CONF_SEQ ? n->items[i] : n;
            rc = yaml_conf_error(err, doc, at, "unknown type '%s' (expected file or directory)",
                                 names[i]);
            goto out;
        }
    }
out:
    free(names);
    return rc;
}

static int
parse_context(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
              struct appspec_permission *p, struct err *err)
{
    static const char *const keys[] = {"name", "type", "range"};
    int rc;

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    if ((rc = yaml_conf_expect(doc, n, YAML_CONF_MAP, "'context'", err)) ||
        (rc = yaml_conf_check_keys(doc, n, keys, 3, err)) ||
        (rc = get_string(doc, n, "name", false, &p->context_name, err)) ||
        (rc = get_string(doc, n, "type", true, &p->context_type, err)) ||
        (rc = get_string(doc, n, "range", false, &p->context_range, err)))
        return rc;
    return 0;
}

static int
parse_permission(const struct yaml_conf_doc *doc, const struct yaml_conf_node *e,
                 struct appspec_permission *p, struct err *err)
{
    static const char *const keys[] = {"object", "pattern", "except", "type",   "owner",
                                       "group",  "mode",    "acls",   "context"};
    int rc;

    if ((rc = yaml_conf_expect(doc, e, YAML_CONF_MAP, "a permissions entry", err)) ||
        (rc = yaml_conf_check_keys(doc, e, keys, sizeof(keys) / sizeof(keys[0]), err)))
        return rc;
    p->line = e->line;
    if ((rc = get_string(doc, e, "object", true, &p->object, err)) ||
        (rc = get_string(doc, e, "pattern", false, &p->pattern, err)) ||
        (rc = get_string(doc, e, "owner", false, &p->owner, err)) ||
        (rc = get_string(doc, e, "group", false, &p->group, err)))
        return rc;
    if (p->object[0] != '/')
        return yaml_conf_error(err, doc, yaml_conf_get(e, "object"),
                               "object '%s' is relative (expected an absolute path)", p->object);
    if (p->pattern == NULL)
        p->pattern = "**";
    if ((rc = get_string_list(doc, yaml_conf_get(e, "except"), "except", &p->except, &p->nexcept,
                              err)) ||
        (rc = get_string_list(doc, yaml_conf_get(e, "acls"), "acls", &p->acls, &p->nacls, err)) ||
        (rc = parse_types(doc, yaml_conf_get(e, "type"), &p->types, err)) ||
        (rc = parse_mode(doc, yaml_conf_get(e, "mode"), &p->mode, err)) ||
        (rc = parse_context(doc, yaml_conf_get(e, "context"), p, err)))
        return rc;
    for (size_t i = 0; i < p->nacls; i++) {
        /* setfacl entry syntax: [d[efault]:]u|g|m|o[ser|roup|ask|ther]:[name]:perms */
        if (strchr(p->acls[i], ':') == NULL)
            return yaml_conf_error(err, doc, yaml_conf_get(e, "acls"),
                                   "invalid ACL entry '%s' (expected e.g. u:alice:rw)", p->acls[i]);
    }
    return 0;
}

static int
parse_permissions(struct appspec *spec, const struct yaml_conf_node *list, struct err *err)
{
    int rc;

    if (list == NULL || yaml_conf_is_null(list))
        return 0;
    if ((rc = yaml_conf_expect(spec->doc, list, YAML_CONF_SEQ, "'permissions'", err)))
        return rc;
    spec->permissions = mem_calloc(list->n ? list->n : 1, sizeof(*spec->permissions));
    for (size_t i = 0; i < list->n; i++) {
        struct appspec_permission *p = &spec->permissions[spec->npermissions++];
        if ((rc = parse_permission(spec->doc, list->items[i], p, err)) != 0)
            return rc;
    }
    return 0;
}

static int
parse_script(const struct yaml_conf_doc *doc, const struct yaml_conf_node *e,
             struct appspec_script *s, struct err *err)
{
    const struct yaml_conf_node *t;
    int rc;

    if ((rc = yaml_conf_expect(doc, e, YAML_CONF_MAP, "a script entry", err)) ||
        (rc = get_string(doc, e, "location", true, &s->location, err)) ||
        (rc = get_string(doc, e, "runas", false, &s->runas, err)))
        return rc;
    if (!appspec_path_stays_inside(s->location))
        return yaml_conf_error(err, doc, yaml_conf_get(e, "location"),
                               "location '%s' leaves the bundle (expected a path inside it)",
                               s->location);
    s->timeout_s = APPSPEC_DEFAULT_TIMEOUT_S;
    t = yaml_conf_get(e, "timeout");
    if (t != NULL && !yaml_conf_is_null(t) &&
        (t->kind != YAML_CONF_SCALAR ||
         str_to_u32(t->value, &s->timeout_s, 1, APPSPEC_MAX_TIMEOUT_S) != 0))
        return yaml_conf_error(err, doc, t,
                               "invalid timeout '%s' (expected whole seconds from 1 to %u)",
                               t->kind == YAML_CONF_SCALAR ? t->value : "?", APPSPEC_MAX_TIMEOUT_S);
    return 0;
}

static int
unknown_event(const struct yaml_conf_doc *doc, const struct yaml_conf_node *key, struct err *err)
{
    const char *hint;

    for (size_t i = 0; i < sizeof(builtin_events) / sizeof(builtin_events[0]); i++) {
        if (strcmp(key->value, builtin_events[i]) == 0)
            return yaml_conf_error(err, doc, key,
                                   "'%s' is performed by cutover, not by scripts (expected a "
                                   "scriptable event such as BeforeInstall)",
                                   key->value);
    }
    hint = appspec_event_suggest(key->value);
    if (hint != NULL)
        return yaml_conf_error(err, doc, key, "unknown lifecycle event '%s' (did you mean %s?)",
                               key->value, hint);
    return yaml_conf_error(err, doc, key,
                           "unknown lifecycle event '%s' (expected one of BeforeBlockTraffic, "
                           "AfterBlockTraffic, ApplicationStop, BeforeInstall, AfterInstall, "
                           "ApplicationStart, ValidateService, BeforeAllowTraffic, "
                           "AfterAllowTraffic)",
                           key->value);
}

static int
parse_hooks(struct appspec *spec, const struct yaml_conf_node *map, struct err *err)
{
    const struct yaml_conf_doc *doc = spec->doc;
    int rc;

    if (map == NULL || yaml_conf_is_null(map))
        return 0;
    if ((rc = yaml_conf_expect(doc, map, YAML_CONF_MAP, "'hooks'", err)))
        return rc;
    for (size_t i = 0; i < map->n; i++) {
        const struct yaml_conf_node *list = map->items[i];
        enum appspec_event ev;
        struct appspec_hook *h;

        if (appspec_event_parse(map->keys[i]->value, &ev) != 0 || !appspec_event_is_scriptable(ev))
            return unknown_event(doc, map->keys[i], err);
        if (yaml_conf_is_null(list))
            continue;
        if ((rc = yaml_conf_expect(doc, list, YAML_CONF_SEQ, map->keys[i]->value, err)))
            return rc;
        h = &spec->hooks[ev];
        h->scripts = mem_calloc(list->n ? list->n : 1, sizeof(*h->scripts));
        for (size_t j = 0; j < list->n; j++) {
            if ((rc = parse_script(doc, list->items[j], &h->scripts[h->nscripts++], err)) != 0)
                return rc;
        }
    }
    return 0;
}

static int
parse_file_exists(struct appspec *spec, const struct yaml_conf_node *root, struct err *err)
{
    const struct yaml_conf_node *n = yaml_conf_get(root, "file_exists_behavior");

    if (n == NULL || yaml_conf_is_null(n))
        return 0;
    if (n->kind != YAML_CONF_SCALAR || appspec_file_exists_parse(n->value, &spec->file_exists))
        return yaml_conf_error(err, spec->doc, n,
                               "invalid file_exists_behavior '%s' (expected DISALLOW, OVERWRITE or "
                               "RETAIN)",
                               n->kind == YAML_CONF_SCALAR ? n->value : "?");
    spec->has_file_exists = true;
    return 0;
}

static int
validate(struct appspec *spec, struct err *err)
{
    const struct yaml_conf_node *root = spec->doc->root;
    int rc;

    if (root == NULL || root->kind != YAML_CONF_MAP)
        return yaml_conf_error(err, spec->doc, root,
                               "appspec is %s (expected a mapping with version, os, files, hooks)",
                               root ? yaml_conf_kind_name(root->kind) : "empty");
    if ((rc = check_version(spec->doc, root, err)) || (rc = check_os(spec->doc, root, err)) ||
        (rc = parse_file_exists(spec, root, err)) ||
        (rc = parse_files(spec, yaml_conf_get(root, "files"), err)) ||
        (rc = parse_permissions(spec, yaml_conf_get(root, "permissions"), err)) ||
        (rc = parse_hooks(spec, yaml_conf_get(root, "hooks"), err)))
        return rc;
    return 0;
}

static int
finish(struct appspec **out, struct yaml_conf_doc *doc, struct err *err)
{
    struct appspec *spec = mem_calloc(1, sizeof(*spec));
    int rc;

    spec->doc = doc;
    if ((rc = validate(spec, err)) != 0) {
        appspec_free(spec);
        return rc;
    }
    *out = spec;
    return 0;
}

int
appspec_load(struct appspec **out, const char *path, struct err *err)
{
    struct yaml_conf_doc *doc = NULL;
    int rc;

    if ((rc = yaml_conf_load_file(&doc, path, err)) != 0)
        return rc;
    return finish(out, doc, err);
}

int
appspec_parse(struct appspec **out, const char *name, const char *data, size_t len, struct err *err)
{
    struct yaml_conf_doc *doc = NULL;
    int rc;

    if ((rc = yaml_conf_load_buffer(&doc, name, data, len, err)) != 0)
        return rc;
    return finish(out, doc, err);
}

void
appspec_free(struct appspec *spec)
{
    if (spec == NULL)
        return;
    for (int i = 0; i < APPSPEC_NEVENTS; i++)
        free(spec->hooks[i].scripts);
    for (size_t i = 0; i < spec->npermissions; i++) {
        free(spec->permissions[i].except);
        free(spec->permissions[i].acls);
    }
    free(spec->permissions);
    free(spec->files);
    yaml_conf_free(spec->doc);
    free(spec);
}
