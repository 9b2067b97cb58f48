/* SPDX-License-Identifier: ISC */
/* String helpers: bounded copies, checked number parsing, durations and sizes as configs
 * write them, and "did you mean" suggestions. */
#ifndef COMMON_STR_H
#define COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* strlcpy semantics: copies at most size-1 bytes, always terminates (size > 0), returns
 * strlen(src) so truncation is detectable (result >= size). */
size_t str_copy(char *dst, const char *src, size_t size);

/* Whole-string decimal parse within [min, max]. Returns 0, -EINVAL (not a number, trailing
 * junk, empty) or -ERANGE. */
int str_to_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max);
int str_to_u64(const char *s, uint64_t *out, uint64_t min, uint64_t max);

/* Durations as configs write them: "500ms", "10s", "5m", "1h", "1.5s" or bare seconds ("30").
 * Result in milliseconds. Returns 0, -EINVAL or -ERANGE. */
int str_parse_duration_ms(const char *s, uint64_t *out_ms);

/* Sizes: "512", "64K", "10M", "1G" (binary multiples, optional trailing "B" or "iB").
 * Returns 0, -EINVAL or -ERANGE. */
int str_parse_size(const char *s, uint64_t *out_bytes);

/* ASCII case-insensitive comparisons. */
bool str_ieq(const char *a, const char *b);
bool str_ieqn(const char *a, size_t alen, const char *b);
bool str_has_prefix(const char *s, const char *prefix);

/* Returns the candidate closest to <word> by edit distance if it is close enough to be a
 * plausible typo (distance <= max(2, len/3)), else NULL. */
const char *str_closest(const char *word, const char *const *candidates, size_t n);

#endif /* COMMON_STR_H */
