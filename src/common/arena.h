/* SPDX-License-Identifier: ISC */
/* A bump allocator freed in one call: one per request (header strings) or per config
 * generation. Nothing in an arena is freed on its own. */
#ifndef COMMON_ARENA_H
#define COMMON_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* owned: newest chunk first */
    size_t chunk_size;        /* default size of a new chunk */
};

void arena_init(struct arena *a, size_t chunk_size);
void arena_fini(struct arena *a);

/* Keeps the first chunk (if any) for reuse and forgets everything allocated. */
void arena_reset(struct arena *a);

/* Returns <n> bytes aligned for any type; never NULL. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t count, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void *arena_memdup(struct arena *a, const void *p, size_t n);

#endif /* COMMON_ARENA_H */
