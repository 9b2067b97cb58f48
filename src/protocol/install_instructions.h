/* SPDX-License-Identifier: ISC */
/* <root>/deployment-instructions/<group>-install.json: what the Install event does, written by
 * the agent after planning and before touching anything (docs/man/cutover-local.md). This file is
 * the only place its field names appear.
 *
 *   {"file_exists_behavior":"DISALLOW",
 *    "instructions":[{"type":"mkdir","directory":"/srv/app","exists":false},
 *                    {"type":"copy"|"retain","source":"…","destination":"…"}]}
 *
 * Paths need not be UTF-8: invalid bytes come out as U+FFFD (json_util_string).
 */
#ifndef PROTOCOL_INSTALL_INSTRUCTIONS_H
#define PROTOCOL_INSTALL_INSTRUCTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum install_instructions_type {
    INSTALL_INSTRUCTIONS_MKDIR = 0, /* destination is a directory; exists says if it was there */
    INSTALL_INSTRUCTIONS_COPY,      /* source is copied to destination */
    INSTALL_INSTRUCTIONS_RETAIN,    /* destination exists and is kept (RETAIN) */
};

struct install_instructions_item {
    enum install_instructions_type type;
    const char *source;      /* borrowed; unused for MKDIR */
    const char *destination; /* borrowed */
    bool exists;             /* MKDIR only */
};

/* A malloc'd single-line JSON text ending in a newline. Never NULL. */
char *install_instructions_encode(const char *file_exists_behavior,
                                  const struct install_instructions_item *items, size_t n);

#endif /* PROTOCOL_INSTALL_INSTRUCTIONS_H */
