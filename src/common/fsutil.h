/* SPDX-License-Identifier: ISC */
/* Small filesystem helpers shared by components: directory creation and reading the end of a
 * log file. */
#ifndef COMMON_FSUTIL_H
#define COMMON_FSUTIL_H

#include <sys/types.h>

struct buf;
struct err;

/* mkdir -p <dir> with <mode> for the directories it creates. Returns 0 or -errno. */
int fsutil_mkdir_p(const char *dir, mode_t mode);

/* Appends the last <lines> lines of <path> (looking at most at its last 256 KiB) to <out>.
 * Returns 0 or -errno. */
int fsutil_tail(const char *path, unsigned lines, struct buf *out);

/* Creates or truncates <path> and writes <text> to it. Returns 0, or -errno with <err> naming
 * the path. */
int fsutil_write_text(const char *path, const char *text, struct err *err);

#endif /* COMMON_FSUTIL_H */
