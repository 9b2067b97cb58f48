/* SPDX-License-Identifier: ISC */
/* One log file for one stream (stdout or stderr) of one worker slot (app, index). Every line is
 * prefixed with an RFC 3339 UTC timestamp; the file is rotated when it would pass max_size
 * (FILE → FILE.1 → … → FILE.keep, the oldest dropped), so a log never grows without bound.
 * Writes are synchronous on the loop thread: a line is at most WORKER_LOG_LINE_MAX bytes, longer
 * output is split. Old and new workers of the same slot share the writer during a reload. */
#ifndef SUPERVISOR_WORKER_LOG_H
#define SUPERVISOR_WORKER_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct err;

#define WORKER_LOG_LINE_MAX 16384

struct worker_log {
    char *path;        /* owned */
    int fd;            /* -1 when closed */
    uint64_t size;     /* bytes in the current file */
    uint64_t max_size; /* rotate before passing this */
    uint32_t keep;     /* rotated files kept */
};

/* Opens (creating the directory and file, mode 0640) <dir>/<name> for appending. */
int worker_log_open(struct worker_log *lg, const char *dir, const char *name, uint64_t max_size,
                    uint32_t keep, struct err *err);
void worker_log_close(struct worker_log *lg);

/* Appends complete lines from <pending> (consumed), each with a timestamp. A partial last line
 * stays in <pending> unless <flush> is set or it exceeds WORKER_LOG_LINE_MAX. */
void worker_log_write(struct worker_log *lg, struct buf *pending, int flush);

/* Writes one supervisor-authored line ("[cutover] worker started pid=…"). */
void worker_log_note(struct worker_log *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* SUPERVISOR_WORKER_LOG_H */
