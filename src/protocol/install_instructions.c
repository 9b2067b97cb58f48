/* SPDX-License-Identifier: ISC */
/* JSON codec of the Install instructions file over jansson; see install_instructions.h. */
#include "protocol/install_instructions.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_util.h"
#include "common/mem.h"

static json_t *
item_json(const struct install_instructions_item *it) /* new reference */
{
    if (it->type == INSTALL_INSTRUCTIONS_MKDIR)
        return json_pack("{s:s,s:o,s:b}", "type", "mkdir", "directory",
                         json_util_string(it->destination), "exists", it->exists);
    return json_pack(
        "{s:s,s:o,s:o}", "type", it->type == INSTALL_INSTRUCTIONS_COPY ? "copy" : "retain",
        "source", json_util_string(it->source), "destination", json_util_string(it->destination));
}

char *
install_instructions_encode(const char *file_exists_behavior,
                            const struct install_instructions_item *items, size_t n)
{
    json_t *arr = json_array(), *doc;
    char *s, *out;
    size_t len;

    if (arr == NULL)
        mem_oom();
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(arr, item_json(&items[i])) != 0)
            mem_oom();
    }
    doc = json_pack("{s:o,s:o}", "file_exists_behavior", json_util_string(file_exists_behavior),
                    "instructions", arr);
    if (doc == NULL)
        mem_oom();
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (s == NULL)
        mem_oom();
    len = strlen(s);
    out = mem_calloc(1, len + 2);
    memcpy(out, s, len);
    memcpy(out + len, "\n", 2);
    free(s);
    return out;
}
