/* SPDX-License-Identifier: ISC */
/* Checked allocation wrappers. */
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
mem_oom(void)
{
    static const char msg[] = "cutover: out of memory\n";

    /* write(2), not stdio: stdio may itself need memory. */
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more we can do */
    }
    abort();
}

void *
mem_alloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        mem_oom();
    return p;
}

void *
mem_calloc(size_t count, size_t size)
{
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);

    if (p == NULL)
        mem_oom();
    return p;
}

void *
mem_realloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);

    if (q == NULL)
        mem_oom();
    return q;
}

char *
mem_strdup(const char *s)
{
    return mem_memdup(s, strlen(s) + 1);
}

char *
mem_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mem_alloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *
mem_memdup(const void *p, size_t n)
{
    void *q = mem_alloc(n);

    if (n != 0)
        memcpy(q, p, n);
    return q;
}
