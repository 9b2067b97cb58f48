/* SPDX-License-Identifier: ISC */
/* Fuzz target: agent/appspec on arbitrary bytes. A parsed spec must be internally consistent:
 * every event's scripts have a location inside the bundle and a timeout in range. */
#include <stdlib.h>
#include <string.h>

#include "agent/appspec.h"
#include "common/err.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct appspec *spec = NULL;
    struct err err;

    if (appspec_parse(&spec, "fuzz.yml", (const char *)data, size, &err) != 0) {
        if (strncmp(err.msg, "fuzz.yml:", 9) != 0)
            abort(); /* every error names the file */
        return 0;
    }
    for (int ev = 0; ev < APPSPEC_NEVENTS; ev++) {
        const struct appspec_hook *h = &spec->hooks[ev];
        if (h->nscripts > 0 && !appspec_event_is_scriptable((enum appspec_event)ev))
            abort();
        for (size_t i = 0; i < h->nscripts; i++) {
            if (!appspec_path_stays_inside(h->scripts[i].location) ||
                h->scripts[i].timeout_s == 0 || h->scripts[i].timeout_s > APPSPEC_MAX_TIMEOUT_S)
                abort();
        }
    }
    for (size_t i = 0; i < spec->nfiles; i++) {
        if (spec->files[i].destination[0] != '/')
            abort();
    }
    for (size_t i = 0; i < spec->npermissions; i++) {
        if (spec->permissions[i].mode > 07777)
            abort();
    }
    appspec_free(spec);
    return 0;
}
