/* SPDX-License-Identifier: ISC */
/* Errors that carry their message: a caller-owned struct err filled by err_set().
 * Functions return 0 or a negative errno; the message says where and why. */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

#include <stdarg.h>

#define ERR_MSG_MAX 512

struct err {
    int code;              /* negative errno, 0 when unset */
    char msg[ERR_MSG_MAX]; /* "file:line:col: what is wrong (what was expected)" */
};

/* Formats <fmt> into err->msg, stores <code>, and returns <code>, so callers can write
 * `return err_set(err, -EINVAL, "...")`. <err> may be NULL (the code is still returned). */
int err_set(struct err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_setv(struct err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Resets <err> to "no error". */
void err_clear(struct err *err);

/* Exit statuses shared by every subcommand (STYLE.md §3.8). */
enum err_exit {
    ERR_EXIT_OK = 0,
    ERR_EXIT_FAILED = 1,
    ERR_EXIT_USAGE = 2,
    ERR_EXIT_TEMPFAIL = 75,
};

/* Prints "cutover: <msg>" on stderr and exits with <status>. Only for *_main before the loop. */
void err_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Invariant check that stays on in release builds: logs file:line and aborts. */
#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            err_assert_failed(__FILE__, __LINE__, #cond);                                          \
    } while (0)
void err_assert_failed(const char *file, int line, const char *expr) __attribute__((noreturn));

#endif /* COMMON_ERR_H */
