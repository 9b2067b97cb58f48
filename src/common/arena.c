/* SPDX-License-Identifier: ISC */
/* Chunked bump allocator. Large requests get a chunk of their own. */
#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct arena_chunk {
    struct arena_chunk *next; /* owned */
    size_t size;              /* bytes in data[] */
    size_t used;              /* bytes handed out */
    alignas(max_align_t) unsigned char data[];
};

#define ARENA_ALIGN (alignof(max_align_t))

void
arena_init(struct arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size < 256 ? 256 : chunk_size;
}

void
arena_fini(struct arena *a)
{
    struct arena_chunk *c = a->head;

    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void
arena_reset(struct arena *a)
{
    struct arena_chunk *keep = a->head;

    if (keep == NULL)
        return;
    /* keep the oldest chunk: it has the default size */
    while (keep->next != NULL) {
        struct arena_chunk *next = keep->next;
        free(keep);
        keep = next;
    }
    keep->used = 0;
    a->head = keep;
}

void *
arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c = a->head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

    if (need == 0)
        need = ARENA_ALIGN;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;
        c = mem_alloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        if (a->head != NULL && size > a->chunk_size) {
            /* an oversized chunk goes behind the current one, which may still have room */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    c->used += need;
    return c->data + c->used - need;
}

void *
arena_calloc(struct arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / size)
        mem_oom();
    p = arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

void *
arena_memdup(struct arena *a, const void *p, size_t n)
{
    void *q = arena_alloc(a, n);

    if (n != 0)
        memcpy(q, p, n);
    return q;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}
