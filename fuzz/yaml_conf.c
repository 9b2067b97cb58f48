/* SPDX-License-Identifier: ISC */
/* Fuzz target: common/yaml_conf on arbitrary bytes, then every getter on every node. */
#include <stdbool.h>

#include "common/err.h"
#include "common/yaml_conf.h"
#include "fuzz.h"

static void
walk(const struct yaml_conf_doc *doc, const struct yaml_conf_node *n, int depth)
{
    struct err err;
    const char *s;
    bool b;
    uint32_t u;
    uint64_t v;

    if (n == NULL || depth > 64)
        return;
    if (n->kind == YAML_CONF_SCALAR) {
        (void)yaml_conf_string(doc, n, &s, &err);
        (void)yaml_conf_bool(doc, n, &b, &err);
        (void)yaml_conf_u32(doc, n, 0, 100, &u, &err);
        (void)yaml_conf_duration_ms(doc, n, &v, &err);
        (void)yaml_conf_size(doc, n, &v, &err);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        walk(doc, n->items[i], depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yaml_conf_doc *doc = NULL;
    struct err err;

    if (yaml_conf_load_buffer(&doc, "fuzz.yaml", (const char *)data, size, &err) == 0) {
        walk(doc, doc->root, 0);
        yaml_conf_free(doc);
    }
    return 0;
}
