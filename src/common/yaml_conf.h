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

enum yconf_kind {
    YCONF_SCALAR = 0, /* a string, number, bool or null: always kept as text */
    YCONF_SEQ,        /* a list */
    YCONF_MAP,        /* a mapping with scalar keys, in file order */
};

struct yconf_node {
    enum yconf_kind kind;
    int line;                  /* 1-based */
    int col;                   /* 1-based */
    const char *value;         /* SCALAR: the text; NULL otherwise */
    bool is_plain;             /* SCALAR: unquoted, so "", "~" and "null" mean null */
    size_t n;                  /* SEQ: items; MAP: pairs */
    struct yconf_node **items; /* SEQ: the items; MAP: the values */
    struct yconf_node **keys;  /* MAP: the key scalars; NULL otherwise */
};

struct yconf_doc {
    struct arena arena;      /* owns every node and string */
    char *path;              /* owned by the arena: name used in messages */
    struct yconf_node *root; /* NULL for an empty document */
};

/* Parses the file at <path>. On success *out owns a new doc (yconf_free it). Syntax errors,
 * several documents or duplicate keys fail with the position in err. */
int yconf_load_file(struct yconf_doc **out, const char *path, struct err *err);

/* Same for a buffer; <name> is used in messages. */
int yconf_load_buffer(struct yconf_doc **out, const char *name, const char *data, size_t len,
                      struct err *err);

void yconf_free(struct yconf_doc *doc);

/* "FILE:LINE:COL: <fmt>" at node <n> (or 1:1 when n is NULL). Returns -EINVAL. */
int yconf_error(struct err *err, const struct yconf_doc *doc, const struct yconf_node *n,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The value for <key> in mapping <map>, or NULL. <map> may be NULL or not a map (→ NULL). */
const struct yconf_node *yconf_get(const struct yconf_node *map, const char *key);

/* The kind names used in messages: "a scalar", "a list", "a mapping". */
const char *yconf_kind_name(enum yconf_kind kind);

bool yconf_is_null(const struct yconf_node *n);

/* Fails unless <n> is of <kind>; <what> names the thing expected in the message. */
int yconf_expect(const struct yconf_doc *doc, const struct yconf_node *n, enum yconf_kind kind,
                 const char *what, struct err *err);

/* Fails at the first key of <map> not in <allowed>, suggesting the closest allowed key. */
int yconf_check_keys(const struct yconf_doc *doc, const struct yconf_node *map,
                     const char *const *allowed, size_t nallowed, struct err *err);

/* Typed scalar getters. Each fails with the node's position and what was expected.
 * Strings are borrowed from the doc. */
int yconf_string(const struct yconf_doc *doc, const struct yconf_node *n, const char **out,
                 struct err *err);
int yconf_bool(const struct yconf_doc *doc, const struct yconf_node *n, bool *out, struct err *err);
int yconf_u32(const struct yconf_doc *doc, const struct yconf_node *n, uint32_t min, uint32_t max,
              uint32_t *out, struct err *err);
int yconf_duration_ms(const struct yconf_doc *doc, const struct yconf_node *n, uint64_t *out_ms,
                      struct err *err);
int yconf_size(const struct yconf_doc *doc, const struct yconf_node *n, uint64_t *out_bytes,
               struct err *err);

#endif /* COMMON_YAML_CONF_H */
