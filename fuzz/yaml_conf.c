/* SPDX-License-Identifier: ISC */
/* Fuzz target: common/yaml_conf on arbitrary bytes, then every getter on every node. */
#include <stdbool.h>

#include "common/err.h"
#include "common/yaml_conf.h"
#include "fuzz.h"

static void
walk(const struct yconf_doc *doc, const struct yconf_node *n, int depth)
{
    struct err err;
    const char *s;
    bool b;
    uint32_t u;
    uint64_t v;

    if (n == NULL || depth > 64)
        return;
    if (n->kind == YCONF_SCALAR) {
        (void)yconf_string(doc, n, &s, &err);
        (void)yconf_bool(doc, n, &b, &err);
        (void)yconf_u32(doc, n, 0, 100, &u, &err);
        (void)yconf_duration_ms(doc, n, &v, &err);
        (void)yconf_size(doc, n, &v, &err);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        walk(doc, n->items[i], depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yconf_doc *doc = NULL;
    struct err err;

    if (yconf_load_buffer(&doc, "fuzz.yaml", (const char *)data, size, &err) == 0) {
        walk(doc, doc->root, 0);
        yconf_free(doc);
    }
    return 0;
}
