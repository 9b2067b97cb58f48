/* SPDX-License-Identifier: ISC */
/* struct err helpers, fatal exits and ASSERT. */
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
err_setv(struct err *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int
err_set(struct err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void
err_clear(struct err *err)
{
    err->code = 0;
    err->msg[0] = '\0';
}

void
err_die(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("cutover: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

void
err_assert_failed(const char *file, int line, const char *expr)
{
    fprintf(stderr, "cutover: %s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
