/* SPDX-License-Identifier: ISC */
/* Allocation that never returns NULL: out of memory aborts (STYLE.md §3.6). */
#ifndef COMMON_MEM_H
#define COMMON_MEM_H

#include <stddef.h>

void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
void *mem_memdup(const void *p, size_t n);

/* Called when any allocation (ours or a library's) fails: logs and aborts. */
void mem_oom(void) __attribute__((noreturn));

#define FREE_AND_NULL(p)                                                                           \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

#endif /* COMMON_MEM_H */
