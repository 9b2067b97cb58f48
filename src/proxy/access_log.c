/* SPDX-License-Identifier: ISC */
/* The access log. Workers format a line on their own stack and append it to a shared buffer
 * under a mutex that is never held across I/O; a flusher thread swaps the buffer out and writes
 * it with write(2) every 100 ms, or sooner when 64 KiB are pending. If the disk falls behind
 * by more than 8 MiB, lines are dropped (and counted) rather than slowing requests down.
 *
 * One line per request, space separated (ALB-like):
 *   2026-11-22T00:45:49.123456Z 127.0.0.1:51234 web blue 127.0.0.1:9001 "GET /a?b HTTP/1.1" 200
 *   231 1045 0.001234 0.000987 "-"
 * time client listener group target "request" status bytes_in bytes_out request_time
 * target_time "error"; times in seconds; "-" for absent values; target_time -1 without target. */
#include "proxy/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

#define ACCESS_LOG_FLUSH_BYTES (64 * 1024)
#define ACCESS_LOG_MAX_PENDING (8 * 1024 * 1024)
#define ACCESS_LOG_FLUSH_NS (100ULL * 1000 * 1000)
#define ACCESS_LOG_LINE_MAX 4096

struct access_log {
    int fd;              /* the file, or 1 for "-"; only the flusher uses it once started */
    int next_fd;         /* a reopened file the flusher switches to, or -1; guarded by lock */
    struct buf before;   /* lines written before the reopen, for the old file; guarded */
    bool owns_fd;        /* close fd at the end */
    char *path;          /* owned: for access_log_reopen; NULL for "-" */
    uv_mutex_t lock;     /* guards pending, stop, dropped, next_fd */
    uv_cond_t wake;      /* signalled when pending is large or on stop */
    uv_thread_t flusher; /* writes pending out */
    struct buf pending;  /* lines not yet written */
    bool stop;           /* access_log_close ran */
    uint64_t dropped;    /* lines dropped because the writer fell behind */
};

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_warn("access log: write: %s", strerror(w < 0 ? errno : EIO));
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Writes a batch, switching files first when access_log_reopen handed over a new one: the lines
 * written before the reopen still go to the old file. */
static void
flush_batch(struct access_log *log, struct buf *before, int new_fd, const struct buf *out)
{
    if (new_fd >= 0) {
        if (before->len > 0)
            write_all(log->fd, before->data, before->len);
        buf_reset(before);
        close(log->fd);
        log->fd = new_fd;
    }
    if (out->len > 0)
        write_all(log->fd, out->data, out->len);
}

static void
flusher_main(void *arg)
{
    struct access_log *log = arg;
    struct buf out, before;
    bool stop = false;
    uint64_t dropped = 0;
    int new_fd;

    buf_init(&out);
    buf_init(&before);
    while (!stop) {
        uv_mutex_lock(&log->lock);
        if (!log->stop && log->pending.len < ACCESS_LOG_FLUSH_BYTES && log->next_fd < 0)
            (void)uv_cond_timedwait(&log->wake, &log->lock, ACCESS_LOG_FLUSH_NS);
        /* swap: the workers get our empty buffer (with its capacity) back */
        {
            struct buf tmp = log->pending;
            log->pending = out;
            out = tmp;
        }
        new_fd = log->next_fd;
        log->next_fd = -1;
        if (new_fd >= 0) {
            struct buf tmp = log->before;
            log->before = before;
            before = tmp;
        }
        stop = log->stop;
        dropped = log->dropped;
        log->dropped = 0;
        uv_mutex_unlock(&log->lock);
        flush_batch(log, &before, new_fd, &out);
        buf_reset(&out);
        if (dropped > 0)
            log_warn("access log: %llu lines dropped (the log writer fell behind)",
                     (unsigned long long)dropped);
    }
    buf_fini(&out);
    buf_fini(&before);
}

int
access_log_open(struct access_log **out, const char *path, struct err *err)
{
    struct access_log *log = mem_calloc(1, sizeof(*log));
    int rc;

    log->next_fd = -1;
    if (strcmp(path, "-") == 0) {
        log->fd = STDOUT_FILENO;
    } else {
        log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log->fd < 0) {
            rc = -errno;
            free(log);
            return err_set(err, rc, "access log %s: %s", path, strerror(-rc));
        }
        log->owns_fd = true;
        log->path = mem_strdup(path);
    }
    buf_init(&log->pending);
    buf_init(&log->before);
    buf_reserve(&log->pending, ACCESS_LOG_FLUSH_BYTES * 2);
    if (uv_mutex_init(&log->lock) != 0 || uv_cond_init(&log->wake) != 0)
        mem_oom();
    rc = uv_thread_create(&log->flusher, flusher_main, log);
    if (rc != 0) {
        uv_cond_destroy(&log->wake);
        uv_mutex_destroy(&log->lock);
        if (log->owns_fd)
            close(log->fd);
        buf_fini(&log->pending);
        free(log->path);
        free(log);
        return err_set(err, rc, "access log %s: thread: %s", path, uv_strerror(rc));
    }
    *out = log;
    return 0;
}

void
access_log_close(struct access_log *log)
{
    if (log == NULL)
        return;
    uv_mutex_lock(&log->lock);
    log->stop = true;
    uv_cond_signal(&log->wake);
    uv_mutex_unlock(&log->lock);
    uv_thread_join(&log->flusher);
    /* whatever came after the flusher's last swap */
    flush_batch(log, &log->before, log->next_fd, &log->pending);
    uv_cond_destroy(&log->wake);
    uv_mutex_destroy(&log->lock);
    if (log->owns_fd)
        close(log->fd);
    buf_fini(&log->pending);
    buf_fini(&log->before);
    free(log->path);
    free(log);
}

int
access_log_reopen(struct access_log *log, struct err *err)
{
    int fd, rc;

    if (log == NULL || !log->owns_fd)
        return 0;
    fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        return err_set(err, rc, "access log %s: reopen: %s", log->path, strerror(-rc));
    }
    uv_mutex_lock(&log->lock);
    if (log->next_fd >= 0) { /* two reopens before the flusher looked: the newest wins */
        close(log->next_fd);
    } else if (log->pending.len > 0) { /* buffered now: written before the rotation */
        buf_append(&log->before, log->pending.data, log->pending.len);
        buf_reset(&log->pending);
    }
    log->next_fd = fd;
    uv_cond_signal(&log->wake);
    uv_mutex_unlock(&log->lock);
    return 0;
}

/* "2026-11-22T00:45:49" for the current second, cached per thread. */
static const char *
second_text(time_t sec)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[32];
    struct tm tm;

    if (sec != cached_sec) {
        gmtime_r(&sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    return cached;
}

/* Appends <s> with '"', '\\', control bytes and bytes above 0x7e escaped as \xHH. */
static size_t
put_escaped(char *dst, size_t room, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *s != '\0' && o + 4 < room; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return o;
}

static size_t
put_seconds(char *dst, size_t room, int64_t us)
{
    int n;

    if (us < 0)
        n = snprintf(dst, room, " -1");
    else
        n = snprintf(dst, room, " %lld.%06lld", (long long)(us / 1000000),
                     (long long)(us % 1000000));
    return n < 0 ? 0 : (size_t)n >= room ? room - 1 : (size_t)n;
}

static size_t
format_line(char *line, size_t size, const struct access_log_entry *e)
{
    time_t sec = (time_t)(e->start_unix_us / 1000000);
    size_t o;
    int n;

    n = snprintf(line, size, "%s.%06lldZ %s %s %s %s \"%s ", second_text(sec),
                 (long long)(e->start_unix_us % 1000000), e->client ? e->client->text : "-",
                 e->listener ? e->listener : "-", e->group ? e->group : "-",
                 e->target ? e->target->text : "-", e->method ? e->method : "-");
    o = n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
    o += put_escaped(line + o, size - o, e->uri ? e->uri : "-");
    n = snprintf(line + o, size - o, " HTTP/1.%d\" %d %llu %llu", e->version_minor, e->status,
                 (unsigned long long)e->bytes_in, (unsigned long long)e->bytes_out);
    o += n < 0 ? 0 : (size_t)n >= size - o ? size - o - 1 : (size_t)n;
    o += put_seconds(line + o, size - o, e->request_time_us);
    o += put_seconds(line + o, size - o, e->target_time_us);
    if (o + 8 < size) {
        line[o++] = ' ';
        line[o++] = '"';
        o += put_escaped(line + o, size - o - 2, e->error ? e->error : "-");
        line[o++] = '"';
    }
    line[o++] = '\n';
    return o;
}

void
access_log_write(struct access_log *log, const struct access_log_entry *e)
{
    char line[ACCESS_LOG_LINE_MAX];
    size_t n;

    if (log == NULL)
        return;
    n = format_line(line, sizeof(line), e);
    uv_mutex_lock(&log->lock);
    if (log->pending.len + n > ACCESS_LOG_MAX_PENDING) {
        log->dropped++;
    } else {
        buf_append(&log->pending, line, n);
        if (log->pending.len >= ACCESS_LOG_FLUSH_BYTES)
            uv_cond_signal(&log->wake);
    }
    uv_mutex_unlock(&log->lock);
}
