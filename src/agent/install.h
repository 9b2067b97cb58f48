/* SPDX-License-Identifier: ISC */
/* The Install event: copy a revision's files into place, all or nothing.
 *   1. plan   every target from the appspec `files` and the unpacked archive; conflicts,
 *             file_exists_behavior and permission names are decided here, nothing is touched
 *   2. stage  missing directories are created, files are copied next to their targets under
 *             temporary names, permissions are applied to the staged copies
 *   3. commit the previous revision's -cleanup list is replayed (reverse order), staged files
 *             are renamed over their targets, the new -cleanup list is written
 * A failure in 1 or 2 removes what 2 made: the previous revision's files stay as they were. */
#ifndef AGENT_INSTALL_H
#define AGENT_INSTALL_H

#include <stddef.h>

#include "agent/appspec.h"

struct err;

struct install_opts {
    const struct appspec *spec;        /* borrowed */
    const char *appspec_path;          /* borrowed: for messages */
    const char *archive_dir;           /* borrowed: the unpacked revision */
    enum appspec_file_exists fallback; /* the command line's; the appspec's value wins */
    const char *cleanup_path;          /* borrowed: <group>-cleanup, read then replaced */
    const char *instructions_path;     /* borrowed: <group>-install.json, written after planning */
};

struct install_stats {
    size_t files_written;  /* files and symlinks copied */
    size_t files_retained; /* existing files kept by RETAIN */
    size_t dirs_created;
    size_t cleaned; /* previous revision's paths removed */
};

/* Runs the three steps above. Blocking. Returns 0, or a negative errno with err saying what
 * failed (for DISALLOW: "The deployment failed because a specified file already exists at this
 * location: <path>"). */
int install_run(const struct install_opts *o, struct install_stats *stats, struct err *err);

/* The behaviour install_run applies: the appspec's when given, else <fallback>. */
enum appspec_file_exists install_effective_behavior(const struct appspec *spec,
                                                    enum appspec_file_exists fallback);

#endif /* AGENT_INSTALL_H */
