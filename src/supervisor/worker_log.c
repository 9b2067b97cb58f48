/* SPDX-License-Identifier: ISC */
/* Timestamped, size-rotated worker log files; see worker_log.h. */
#include "supervisor/worker_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "common/mem.h"

static int
open_file(struct worker_log *lg)
{
    struct stat st;

    lg->fd = open(lg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (lg->fd < 0)
        return -errno;
    lg->size = fstat(lg->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

int
worker_log_open(struct worker_log *lg, const char *dir, const char *name, uint64_t max_size,
                uint32_t keep, struct err *err)
{
    char path[4096];
    int rc;

    lg->fd = -1;
    lg->path = NULL;
    if ((rc = fsutil_mkdir_p(dir, 0750)) != 0)
        return err_set(err, rc, "%s: cannot create log directory: %s", dir, strerror(-rc));
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
    lg->path = mem_strdup(path);
    lg->max_size = max_size;
    lg->keep = keep;
    if ((rc = open_file(lg)) != 0) {
        err_set(err, rc, "%s: %s", path, strerror(-rc));
        FREE_AND_NULL(lg->path);
        return rc;
    }
    return 0;
}

void
worker_log_close(struct worker_log *lg)
{
    if (lg->fd >= 0)
        close(lg->fd);
    lg->fd = -1;
    FREE_AND_NULL(lg->path);
}

static void
rotate(struct worker_log *lg)
{
    char from[4200], to[4200];

    close(lg->fd);
    lg->fd = -1;
    if (lg->keep == 0) {
        unlink(lg->path);
    } else {
        for (uint32_t i = lg->keep; i >= 1; i--) {
            snprintf(to, sizeof(to), "%s.%u", lg->path, i);
            if (i == 1)
                snprintf(from, sizeof(from), "%s", lg->path);
            else
                snprintf(from, sizeof(from), "%s.%u", lg->path, i - 1);
            rename(from, to); /* ENOENT for slots not yet used: fine */
        }
    }
    if (open_file(lg) != 0)
        lg->size = 0; /* stays closed; the next write retries */
}

static void
write_all(struct worker_log *lg, const char *p, size_t n)
{
    if (lg->fd < 0 && (lg->path == NULL || open_file(lg) != 0))
        return;
    if (lg->size > 0 && lg->size + n > lg->max_size)
        rotate(lg);
    if (lg->fd < 0)
        return;
    while (n > 0) {
        ssize_t w = write(lg->fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* disk full or similar: drop rather than block the supervisor */
        lg->size += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
}

static size_t
timestamp(char *dst, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(dst, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(dst + n, size - n, ".%03ldZ ", ts.tv_nsec / 1000000);
    return n;
}

static void
write_line(struct worker_log *lg, const char *line, size_t len)
{
    char out[WORKER_LOG_LINE_MAX + 64];
    size_t n = timestamp(out, sizeof(out));

    if (len > WORKER_LOG_LINE_MAX)
        len = WORKER_LOG_LINE_MAX;
    memcpy(out + n, line, len);
    n += len;
    out[n++] = '\n';
    write_all(lg, out, n);
}

void
worker_log_write(struct worker_log *lg, struct buf *pending, int flush)
{
    size_t start = 0;

    if (pending->len == 0) /* nothing buffered: data may still be NULL */
        return;
    for (;;) {
        const char *nl = memchr(pending->data + start, '\n', pending->len - start);
        size_t len;

        if (nl != NULL)
            len = (size_t)(nl - (pending->data + start));
        else if (pending->len - start > WORKER_LOG_LINE_MAX || (flush && pending->len > start))
            len = pending->len - start;
        else
            break;
        if (len > WORKER_LOG_LINE_MAX)
            len = WORKER_LOG_LINE_MAX;
        write_line(lg, pending->data + start, len);
        start += len + (nl != NULL && pending->data + start + len == nl ? 1 : 0);
    }
    if (start > 0)
        buf_consume(pending, start);
}

void
worker_log_note(struct worker_log *lg, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    write_line(lg, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
