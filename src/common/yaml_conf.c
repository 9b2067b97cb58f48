/* SPDX-License-Identifier: ISC */
/* libyaml event stream → node tree with positions. The only file that includes yaml.h.
 * Aliases resolve to the anchored node (the tree is a DAG in the arena; nothing is freed
 * per node). Merge keys ("<<") are not expanded. */
#include "common/yaml_conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/str.h"

#define YAML_CONF_MAX_DEPTH 64
#define YAML_CONF_MAX_ANCHORS 256

/* A container being filled: items (and keys for maps) grow on the heap, then move into the
 * arena when the container ends. */
struct frame {
    struct yaml_conf_node *node;
    struct yaml_conf_node **items; /* owned until the frame ends */
    struct yaml_conf_node **keys;  /* owned until the frame ends */
    size_t n, cap;
    bool want_key; /* MAP: the next node is a key */
};

struct anchor {
    char *name; /* owned */
    struct yaml_conf_node *node;
};

struct builder {
    struct yaml_conf_doc *doc;
    struct frame stack[YAML_CONF_MAX_DEPTH];
    int depth;
    struct anchor anchors[YAML_CONF_MAX_ANCHORS];
    size_t nanchors;
    int ndocs;
};

static const char *const kind_names[] = {
    [YAML_CONF_SCALAR] = "a scalar",
    [YAML_CONF_SEQ] = "a list",
    [YAML_CONF_MAP] = "a mapping",
};

const char *
yaml_conf_kind_name(enum yaml_conf_kind kind)
{
    return kind_names[kind];
}

static int __attribute__((format(printf, 5, 0)))
verror_at(struct err *err, const char *path, int line, int col, const char *fmt, va_list ap)
{
    char msg[ERR_MSG_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    return err_set(err, -EINVAL, "%s:%d:%d: %s", path, line, col, msg);
}

static int __attribute__((format(printf, 5, 6)))
error_at(struct err *err, const char *path, int line, int col, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = verror_at(err, path, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

int
yaml_conf_error(struct err *err, const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = verror_at(err, doc->path, n ? n->line : 1, n ? n->col : 1, fmt, ap);
    va_end(ap);
    return rc;
}

static struct yaml_conf_node *
new_node(struct builder *b, enum yaml_conf_kind kind, const yaml_mark_t *mark)
{
    struct yaml_conf_node *n = arena_calloc(&b->doc->arena, 1, sizeof(*n));

    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    return n;
}

static int
remember_anchor(struct builder *b, const yaml_char_t *name, struct yaml_conf_node *n,
                const yaml_mark_t *mark, struct err *err)
{
    if (name == NULL)
        return 0;
    if (b->nanchors == YAML_CONF_MAX_ANCHORS)
        return error_at(err, b->doc->path, (int)mark->line + 1, (int)mark->column + 1,
                        "too many anchors (at most %d)", YAML_CONF_MAX_ANCHORS);
    b->anchors[b->nanchors].name = mem_strdup((const char *)name);
    b->anchors[b->nanchors].node = n;
    b->nanchors++;
    return 0;
}

static int
check_duplicate_key(struct builder *b, struct frame *f, struct yaml_conf_node *key, struct err *err)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->keys[i]->value, key->value) == 0)
            return error_at(err, b->doc->path, key->line, key->col,
                            "duplicate key '%s' (first at line %d)", key->value, f->keys[i]->line);
    }
    return 0;
}

/* Attaches a finished node to the container on top of the stack (or makes it the root). */
static int
attach(struct builder *b, struct yaml_conf_node *n, struct err *err)
{
    struct frame *f;

    if (b->depth == 0) {
        b->doc->root = n;
        return 0;
    }
    f = &b->stack[b->depth - 1];
    if (f->node->kind == YAML_CONF_MAP && f->want_key) {
        if (n->kind != YAML_CONF_SCALAR)
            return error_at(err, b->doc->path, n->line, n->col,
                            "a mapping key must be a scalar (got %s)", kind_names[n->kind]);
        if (check_duplicate_key(b, f, n, err) != 0)
            return -EINVAL;
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 8;
            f->items = mem_realloc(f->items, f->cap * sizeof(*f->items));
            f->keys = mem_realloc(f->keys, f->cap * sizeof(*f->keys));
        }
        f->keys[f->n] = n;
        f->want_key = false;
        return 0;
    }
    if (f->node->kind == YAML_CONF_MAP) {
        f->items[f->n++] = n;
        f->want_key = true;
        return 0;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->items = mem_realloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = n;
    return 0;
}

static int
push(struct builder *b, enum yaml_conf_kind kind, const yaml_event_t *ev, const yaml_char_t *anchor,
     struct err *err)
{
    struct frame *f;

    if (b->depth == YAML_CONF_MAX_DEPTH)
        return error_at(err, b->doc->path, (int)ev->start_mark.line + 1,
                        (int)ev->start_mark.column + 1, "nesting deeper than %d levels",
                        YAML_CONF_MAX_DEPTH);
    f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = new_node(b, kind, &ev->start_mark);
    f->want_key = kind == YAML_CONF_MAP;
    return remember_anchor(b, anchor, f->node, &ev->start_mark, err);
}

static int
pop(struct builder *b, struct err *err)
{
    struct frame *f = &b->stack[--b->depth];
    struct yaml_conf_node *n = f->node;

    n->n = f->n;
    n->items = arena_memdup(&b->doc->arena, f->items, f->n * sizeof(*f->items));
    if (n->kind == YAML_CONF_MAP)
        n->keys = arena_memdup(&b->doc->arena, f->keys, f->n * sizeof(*f->keys));
    FREE_AND_NULL(f->items);
    FREE_AND_NULL(f->keys);
    return attach(b, n, err);
}

static int
on_scalar(struct builder *b, const yaml_event_t *ev, struct err *err)
{
    struct yaml_conf_node *n = new_node(b, YAML_CONF_SCALAR, &ev->start_mark);

    n->value =
        arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->is_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (remember_anchor(b, ev->data.scalar.anchor, n, &ev->start_mark, err) != 0)
        return -EINVAL;
    return attach(b, n, err);
}

static int
on_alias(struct builder *b, const yaml_event_t *ev, struct err *err)
{
    const char *name = (const char *)ev->data.alias.anchor;

    for (size_t i = b->nanchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) != 0)
            continue;
        for (int d = 0; d < b->depth; d++) {
            if (b->stack[d].node == b->anchors[i].node)
                return error_at(err, b->doc->path, (int)ev->start_mark.line + 1,
                                (int)ev->start_mark.column + 1,
                                "alias '*%s' refers to a node that contains it", name);
        }
        return attach(b, b->anchors[i].node, err);
    }
    return error_at(err, b->doc->path, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                    "unknown alias '*%s'", name);
}

static int
on_event(struct builder *b, const yaml_event_t *ev, struct err *err)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1)
            return error_at(err, b->doc->path, (int)ev->start_mark.line + 1,
                            (int)ev->start_mark.column + 1,
                            "more than one YAML document (expected exactly one)");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, err);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev, err);
    case YAML_SEQUENCE_START_EVENT:
        return push(b, YAML_CONF_SEQ, ev, ev->data.sequence_start.anchor, err);
    case YAML_MAPPING_START_EVENT:
        return push(b, YAML_CONF_MAP, ev, ev->data.mapping_start.anchor, err);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop(b, err);
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    }
    return 0;
}

static int
parser_error(struct builder *b, const yaml_parser_t *p, struct err *err)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;

    if (p->error == YAML_MEMORY_ERROR)
        mem_oom();
    if (p->context != NULL)
        return error_at(err, b->doc->path, (int)m->line + 1, (int)m->column + 1, "%s %s",
                        p->problem ? p->problem : "syntax error", p->context);
    return error_at(err, b->doc->path, (int)m->line + 1, (int)m->column + 1, "%s",
                    p->problem ? p->problem : "invalid YAML");
}

static void
builder_fini(struct builder *b)
{
    while (b->depth > 0) {
        struct frame *f = &b->stack[--b->depth];
        FREE_AND_NULL(f->items);
        FREE_AND_NULL(f->keys);
    }
    for (size_t i = 0; i < b->nanchors; i++)
        FREE_AND_NULL(b->anchors[i].name);
}

int
yaml_conf_load_buffer(struct yaml_conf_doc **out, const char *name, const char *data, size_t len,
                      struct err *err)
{
    struct builder b;
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;
    bool done = false;

    memset(&b, 0, sizeof(b));
    b.doc = mem_calloc(1, sizeof(*b.doc));
    arena_init(&b.doc->arena, 8192);
    b.doc->path = arena_strdup(&b.doc->arena, name);
    if (!yaml_parser_initialize(&parser))
        mem_oom();
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(&b, &parser, err);
            break;
        }
        rc = on_event(&b, &ev, err);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    builder_fini(&b);
    if (rc != 0) {
        yaml_conf_free(b.doc);
        return rc;
    }
    *out = b.doc;
    return 0;
}

int
yaml_conf_load_file(struct yaml_conf_doc **out, const char *path, struct err *err)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (f == NULL)
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            data = mem_realloc(data, cap);
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = err_set(err, -EIO, "%s: read error", path);
    } else if (memchr(data, '\0', len) != NULL) {
        rc = err_set(err, -EINVAL, "%s:1:1: file contains a NUL byte (expected UTF-8 text)", path);
    } else {
        rc = yaml_conf_load_buffer(out, path, data, len, err);
    }
    fclose(f);
    free(data);
    return rc;
}

void
yaml_conf_free(struct yaml_conf_doc *doc)
{
    if (doc == NULL)
        return;
    arena_fini(&doc->arena);
    free(doc);
}

const struct yaml_conf_node *
yaml_conf_get(const struct yaml_conf_node *map, const char *key)
{
    if (map == NULL || map->kind != YAML_CONF_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->value, key) == 0)
            return map->items[i];
    }
    return NULL;
}

bool
yaml_conf_is_null(const struct yaml_conf_node *n)
{
    if (n == NULL)
        return true;
    if (n->kind != YAML_CONF_SCALAR || !n->is_plain)
        return false;
    return n->value[0] == '\0' || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

int
yaml_conf_expect(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                 enum yaml_conf_kind kind, const char *what, struct err *err)
{
    if (n != NULL && n->kind == kind && !(kind == YAML_CONF_SCALAR && yaml_conf_is_null(n)))
        return 0;
    if (n == NULL || yaml_conf_is_null(n))
        return yaml_conf_error(err, doc, n, "%s is empty (expected %s)", what, kind_names[kind]);
    return yaml_conf_error(err, doc, n, "%s is %s (expected %s)", what, kind_names[n->kind],
                           kind_names[kind]);
}

int
yaml_conf_check_keys(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map,
                     const char *const *allowed, size_t nallowed, struct err *err)
{
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i]->value;
        const char *hint;
        bool ok = false;

        for (size_t j = 0; j < nallowed && !ok; j++)
            ok = strcmp(key, allowed[j]) == 0;
        if (ok)
            continue;
        hint = str_closest(key, allowed, nallowed);
        if (hint != NULL)
            return yaml_conf_error(err, doc, map->keys[i], "unknown key '%s' (did you mean '%s'?)",
                                   key, hint);
        return yaml_conf_error(err, doc, map->keys[i], "unknown key '%s'", key);
    }
    return 0;
}

int
yaml_conf_string(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, const char **out,
                 struct err *err)
{
    if (n == NULL || n->kind != YAML_CONF_SCALAR)
        return yaml_conf_error(err, doc, n, "expected a string, got %s",
                               n ? kind_names[n->kind] : "nothing");
    *out = n->value;
    return 0;
}

int
yaml_conf_bool(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, bool *out,
               struct err *err)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    if (n != NULL && n->kind == YAML_CONF_SCALAR) {
        for (size_t i = 0; i < 3; i++) {
            if (strcasecmp(n->value, yes[i]) == 0 || strcasecmp(n->value, no[i]) == 0) {
                *out = strcasecmp(n->value, yes[i]) == 0;
                return 0;
            }
        }
    }
    return yaml_conf_error(err, doc, n, "expected true or false, got '%s'",
                           n && n->value ? n->value : "?");
}

int
yaml_conf_u32(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, uint32_t min,
              uint32_t max, uint32_t *out, struct err *err)
{
    int rc;

    if (n == NULL || n->kind != YAML_CONF_SCALAR)
        return yaml_conf_error(err, doc, n, "expected an integer from %u to %u", min, max);
    rc = str_to_u32(n->value, out, min, max);
    if (rc == -ERANGE)
        return yaml_conf_error(err, doc, n, "%s is out of range (expected %u to %u)", n->value, min,
                               max);
    if (rc != 0)
        return yaml_conf_error(err, doc, n, "'%s' is not an integer (expected %u to %u)", n->value,
                               min, max);
    return 0;
}

int
yaml_conf_duration_ms(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                      uint64_t *out_ms, struct err *err)
{
    if (n == NULL || n->kind != YAML_CONF_SCALAR || str_parse_duration_ms(n->value, out_ms) != 0)
        return yaml_conf_error(err, doc, n,
                               "'%s' is not a duration (expected e.g. 500ms, 10s, 5m or seconds)",
                               n && n->value ? n->value : "?");
    return 0;
}

int
yaml_conf_size(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, uint64_t *out_bytes,
               struct err *err)
{
    if (n == NULL || n->kind != YAML_CONF_SCALAR || str_parse_size(n->value, out_bytes) != 0)
        return yaml_conf_error(err, doc, n,
                               "'%s' is not a size (expected e.g. 512K, 10M, 1G or bytes)",
                               n && n->value ? n->value : "?");
    return 0;
}
