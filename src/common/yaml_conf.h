/* SPDX-License-Identifier: ISC */
/* Every YAML file cutover reads (proxy.yaml, apps.yaml, appspec.yml, stack.yaml) goes through
 * here, so every error looks the same: "FILE:LINE:COL: what is wrong (what was expected)".
 * The file is parsed with libyaml into an immutable tree of nodes that remember where they
 * came from; typed getters check a node and report at its position. */
#ifndef COMMON_YAML_CONF_H
#define COMMON_YAML_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

struct err;

enum yaml_conf_kind {
    YAML_CONF_SCALAR = 0, /* a string, number, bool or null: always kept as text */
    YAML_CONF_SEQ,        /* a list */
    YAML_CONF_MAP,        /* a mapping with scalar keys, in file order */
};

struct yaml_conf_node {
    enum yaml_conf_kind kind;
    int line;                      /* 1-based */
    int col;                       /* 1-based */
    const char *value;             /* SCALAR: the text; NULL otherwise */
    bool is_plain;                 /* SCALAR: unquoted, so "", "~" and "null" mean null */
    size_t n;                      /* SEQ: items; MAP: pairs */
    struct yaml_conf_node **items; /* SEQ: the items; MAP: the values */
    struct yaml_conf_node **keys;  /* MAP: the key scalars; NULL otherwise */
};

struct yaml_conf_doc {
    struct arena arena;          /* owns every node and string */
    char *path;                  /* owned by the arena: name used in messages */
    struct yaml_conf_node *root; /* NULL for an empty document */
};

/* Parses the file at <path>. On success *out owns a new doc (yaml_conf_free it). Syntax errors,
 * several documents or duplicate keys fail with the position in err. */
int yaml_conf_load_file(struct yaml_conf_doc **out, const char *path, struct err *err);

/* Same for a buffer; <name> is used in messages. */
int yaml_conf_load_buffer(struct yaml_conf_doc **out, const char *name, const char *data,
                          size_t len, struct err *err);

void yaml_conf_free(struct yaml_conf_doc *doc);

/* "FILE:LINE:COL: <fmt>" at node <n> (or 1:1 when n is NULL). Returns -EINVAL. */
int yaml_conf_error(struct err *err, const struct yaml_conf_doc *doc,
                    const struct yaml_conf_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The value for <key> in mapping <map>, or NULL. <map> may be NULL or not a map (→ NULL). */
const struct yaml_conf_node *yaml_conf_get(const struct yaml_conf_node *map, const char *key);

/* The kind names used in messages: "a scalar", "a list", "a mapping". */
const char *yaml_conf_kind_name(enum yaml_conf_kind kind);

bool yaml_conf_is_null(const struct yaml_conf_node *n);

/* Fails unless <n> is of <kind>; <what> names the thing expected in the message. */
int yaml_conf_expect(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                     enum yaml_conf_kind kind, const char *what, struct err *err);

/* Fails at the first key of <map> not in <allowed>, suggesting the closest allowed key. */
int yaml_conf_check_keys(const struct yaml_conf_doc *doc, const struct yaml_conf_node *map,
                         const char *const *allowed, size_t nallowed, struct err *err);

/* Typed scalar getters. Each fails with the node's position and what was expected.
 * Strings are borrowed from the doc. */
int yaml_conf_string(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                     const char **out, struct err *err);
int yaml_conf_bool(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, bool *out,
                   struct err *err);
int yaml_conf_u32(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, uint32_t min,
                  uint32_t max, uint32_t *out, struct err *err);
int yaml_conf_duration_ms(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                          uint64_t *out_ms, struct err *err);
int yaml_conf_size(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n,
                   uint64_t *out_bytes, struct err *err);

#endif /* COMMON_YAML_CONF_H */
