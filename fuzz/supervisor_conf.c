/* SPDX-License-Identifier: ISC */
/* Fuzz target: supervisor/supervisor_conf, apps.yaml from arbitrary bytes: every error path
 * must fail cleanly (no leak, no crash), every accepted file must be self-consistent. */
#include <stdlib.h>

#include "common/err.h"
#include "supervisor/supervisor_conf.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct supervisor_conf *c = NULL;
    struct err err;

    if (supervisor_conf_load_buffer(&c, "apps.yaml", (const char *)data, size, &err) != 0)
        return 0;
    for (size_t i = 0; i < c->napps; i++) {
        const struct supervisor_app_conf *a = &c->apps[i];

        if (a->argc == 0 || a->argv[a->argc] != NULL || a->instances == 0 ||
            (a->has_listen && a->ports != 0) || supervisor_conf_app(c, a->name) == NULL)
            abort();
        (void)supervisor_conf_app_equal(a, a);
    }
    supervisor_conf_free(c);
    return 0;
}
