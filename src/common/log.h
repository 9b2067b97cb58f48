/* SPDX-License-Identifier: ISC */
/* logfmt lines on stderr, one per event:
 *   ts=2026-11-22T00:00:00.123Z level=info comp=proxy msg="target 127.0.0.1:9001 healthy"
 * Thread-safe: each line is formatted in full and written with one write(2). */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
    LOG_ERROR = 0, /* an operator must act */
    LOG_WARN,      /* degraded but self-healing */
    LOG_INFO,      /* state changes a human cares about */
    LOG_DEBUG,     /* per-request detail */
};

/* Process-wide settings, set once in *_main before threads start. <comp> is borrowed and must
 * outlive the process (a string literal). */
void log_init(const char *comp, enum log_level level);
void log_set_level(enum log_level level);

/* Parses "error|warn|info|debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

bool log_enabled(enum log_level level);

/* <ctx> is pre-formatted logfmt pairs ("conn=12 state=reading") or NULL. */
void log_write(enum log_level level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_writev(enum log_level level, const char *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_enabled(LOG_INFO))                                                                 \
            log_write(LOG_INFO, NULL, __VA_ARGS__);                                                \
    } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, NULL, __VA_ARGS__);                                               \
    } while (0)

#endif /* COMMON_LOG_H */
