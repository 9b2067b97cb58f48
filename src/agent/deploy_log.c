/* SPDX-License-Identifier: ISC */
/* Deployment logs. Each entry is formatted in full, then written with one O_APPEND write, so
 * lines from concurrent writers never interleave inside a line. */
#include "agent/deploy_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"

struct deploy_log {
    int scripts_fd;     /* owned */
    int deployments_fd; /* owned */
    char *id;           /* owned: deployment id */
};

int
deploy_log_open(struct deploy_log **out, const char *scripts_log, const char *deployments_log,
                const char *deployment_id)
{
    struct deploy_log *log = mem_calloc(1, sizeof(*log));
    int rc;

    log->scripts_fd = open(scripts_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    log->deployments_fd = open(deployments_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log->scripts_fd < 0 || log->deployments_fd < 0) {
        rc = -errno;
        log->id = NULL;
        deploy_log_close(log);
        return rc;
    }
    log->id = mem_strdup(deployment_id);
    *out = log;
    return 0;
}

void
deploy_log_close(struct deploy_log *log)
{
    if (log == NULL)
        return;
    if (log->scripts_fd >= 0)
        close(log->scripts_fd);
    if (log->deployments_fd >= 0)
        close(log->deployments_fd);
    free(log->id);
    free(log);
}

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk must not fail the hook; the entry is lost */
        p += w;
        n -= (size_t)w;
    }
}

void
deploy_log_entry(struct deploy_log *log, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    struct buf a, b;
    va_list ap;
    char *entry = NULL;
    int len;

    if (log == NULL)
        return;
    va_start(ap, fmt);
    len = vasprintf(&entry, fmt, ap);
    va_end(ap);
    if (len < 0)
        mem_oom();
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    buf_init(&a);
    buf_init(&b);
    buf_appendf(&a, "%s %s\n", stamp, entry);
    buf_appendf(&b, "[%s.%03ld] [%s]%s\n", stamp, ts.tv_nsec / 1000000, log->id, entry);
    write_all(log->scripts_fd, a.data, a.len);
    write_all(log->deployments_fd, b.data, b.len);
    buf_fini(&a);
    buf_fini(&b);
    free(entry);
}
