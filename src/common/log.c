/* SPDX-License-Identifier: ISC */
/* logfmt writer. The settings are the one process-wide state we allow: they are written once
 * before any thread starts and only read afterwards. */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *comp;
    enum log_level level;
} log_conf = {"cutover", LOG_INFO};

static const char *const level_names[] = {
    [LOG_ERROR] = "error",
    [LOG_WARN] = "warn",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
};

void
log_init(const char *comp, enum log_level level)
{
    log_conf.comp = comp;
    log_conf.level = level;
}

void
log_set_level(enum log_level level)
{
    log_conf.level = level;
}

bool
log_enabled(enum log_level level)
{
    return level <= log_conf.level;
}

const char *
log_level_name(enum log_level level)
{
    return level_names[level];
}

int
log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Appends <s> as a logfmt quoted value: quotes and backslashes escaped, control bytes as \xNN. */
static size_t
append_quoted(char *dst, size_t cap, size_t len, const char *s)
{
    if (len < cap)
        dst[len++] = '"';
    for (; *s != '\0' && len + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            dst[len++] = '\\';
            dst[len++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            len += (size_t)snprintf(dst + len, cap - len, "\\x%02x", ch);
        } else {
            dst[len++] = (char)ch;
        }
    }
    if (len < cap)
        dst[len++] = '"';
    return len;
}

void
log_writev(enum log_level level, const char *ctx, const char *fmt, va_list ap)
{
    char msg[2048];
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t len;

    if (!log_enabled(level))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ldZ level=%s comp=%s ",
                            ts.tv_nsec / 1000000, level_names[level], log_conf.comp);
    if (ctx != NULL && *ctx != '\0' && len < sizeof(line))
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s ", ctx);
    if (len < sizeof(line) - 5) {
        memcpy(line + len, "msg=", 4);
        len = append_quoted(line, sizeof(line) - 1, len + 4, msg);
    }
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    line[len++] = '\n';
    if (write(STDERR_FILENO, line, len) < 0) {
        /* stderr is gone: nowhere left to report it */
    }
}

void
log_write(enum log_level level, const char *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}
