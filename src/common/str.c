/* SPDX-License-Identifier: ISC */
/* String helpers. */
#include "common/str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t
str_copy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size != 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

int
str_to_u64(const char *s, uint64_t *out, uint64_t min, uint64_t max)
{
    char *end;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int
str_to_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
    uint64_t v;
    int rc = str_to_u64(s, &v, min, max);

    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* Parses a non-negative decimal with an optional fraction; *end points after it. */
static int
parse_decimal(const char *s, double *out, const char **end)
{
    char *e;

    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    *out = strtod(s, &e);
    if (errno == ERANGE || !isfinite(*out))
        return -ERANGE;
    /* strtod accepts hex and exponents; configs do not */
    for (const char *p = s; p < e; p++) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -EINVAL;
    }
    *end = e;
    return 0;
}

/* llround() for a finite x in [0, 2^64): without libm, which no other part of cutover needs
 * (every process would map it at exec for these two calls). */
static uint64_t
round_half_up(double x)
{
    uint64_t r = (uint64_t)x;

    return x - (double)r >= 0.5 ? r + 1 : r;
}

int
str_parse_duration_ms(const char *s, uint64_t *out_ms)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    const char *end;
    double v;
    int rc;

    if (s == NULL || (rc = parse_decimal(s, &v, &end)) != 0)
        return s == NULL ? -EINVAL : rc;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double ms = v * units[i].ms;
            if (ms > 1e15)
                return -ERANGE;
            *out_ms = round_half_up(ms);
            return 0;
        }
    }
    return -EINVAL;
}

int
str_parse_size(const char *s, uint64_t *out_bytes)
{
    const char *end;
    double v, mult = 1;
    int rc;

    if (s == NULL || (rc = parse_decimal(s, &v, &end)) != 0)
        return s == NULL ? -EINVAL : rc;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mult = 1024.0;
        end++;
        break;
    case 'M':
        mult = 1024.0 * 1024;
        end++;
        break;
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (mult > 1 && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0')
        return -EINVAL;
    if (v * mult > 9e18)
        return -ERANGE;
    *out_bytes = round_half_up(v * mult);
    return 0;
}

bool
str_ieqn(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);

    return alen == blen && strncasecmp(a, b, alen) == 0;
}

bool
str_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Levenshtein distance, case-insensitive, capped at 64-byte words (longer: no suggestion). */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[65], cur[65];

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

const char *
str_closest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}
