/* SPDX-License-Identifier: ISC */
/* Fuzz target: agent/bundle entry checks. Input: one archive entry per line, "L name" for a
 * symlink, "H name\ttarget" for a hard link, anything else a plain entry. Whatever the checks
 * accept must stay inside the root once normalised. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bundle.h"
#include "common/err.h"
#include "fuzz.h"

#define MAX_ENTRIES 256

static bool
escapes(const char *p)
{
    if (p[0] == '/')
        return true;
    for (const char *c = p; *c != '\0';) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return true;
        c += len + (c[len] == '/');
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *line, *next;
    const char *paths[MAX_ENTRIES], *hard[MAX_ENTRIES];
    bool links[MAX_ENTRIES];
    size_t n = 0;
    struct err err;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (line = text; line != NULL && n < MAX_ENTRIES; line = next) {
        char *tab;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        links[n] = strncmp(line, "L ", 2) == 0;
        hard[n] = NULL;
        if (strncmp(line, "H ", 2) == 0 && (tab = strchr(line, '\t')) != NULL) {
            *tab = '\0';
            hard[n] = tab + 1;
        }
        paths[n] = links[n] || hard[n] ? line + 2 : line;
        n++;
    }
    if (bundle_paths_check(paths, links, hard, n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            char *copy = strdup(paths[i]);
            if (copy == NULL || bundle_path_check(paths[i], &err) != 0 ||
                escapes(bundle_path_normalize(copy)))
                abort();
            free(copy);
        }
    }
    free(text);
    return 0;
}
