/* SPDX-License-Identifier: ISC */
/* Small filesystem helpers shared by components: directory creation and reading the end of a
 * log file. */
#ifndef COMMON_FSUTIL_H
#define COMMON_FSUTIL_H

#include <sys/types.h>

struct buf;

/* mkdir -p <dir> with <mode> for the directories it creates. Returns 0 or -errno. */
int fsutil_mkdir_p(const char *dir, mode_t mode);

/* Appends the last <lines> lines of <path> (looking at most at its last 256 KiB) to <out>.
 * Returns 0 or -errno. */
int fsutil_tail(const char *path, unsigned lines, struct buf *out);

#endif /* COMMON_FSUTIL_H */
