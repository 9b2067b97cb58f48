/* SPDX-License-Identifier: ISC */
/* What jansson leaves to its callers. jansson itself is confined to protocol/ and this module
 * (STYLE.md §1); the header names its type without including it. */
#ifndef COMMON_JSON_UTIL_H
#define COMMON_JSON_UTIL_H

struct json_t;

/* A new jansson value for <s>: JSON null when s is NULL, else a string. Script output and file
 * names need not be UTF-8 and jansson refuses such text, so each byte that does not start a
 * valid UTF-8 sequence (stray, truncated, overlong, surrogate, > U+10FFFF) becomes U+FFFD.
 * Never NULL (aborts when out of memory). */
struct json_t *json_util_string(const char *s);

/* Serialises <v> compactly and releases it (the reference is stolen, as jansson's "o"
 * format does). <v> may be NULL, which is what a failed json_pack returns: out of memory
 * aborts. The caller frees the string. */
char *json_util_dump(struct json_t *v);

#endif /* COMMON_JSON_UTIL_H */
