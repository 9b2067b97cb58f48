/* SPDX-License-Identifier: ISC */
/* Helpers around jansson; see json_util.h. */
#include "common/json_util.h"

#include <jansson.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/mem.h"

/* Length of the valid UTF-8 sequence at <s>, or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = s[0] & 0x1fu;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0fu;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    return n;
}

json_t *
json_util_string(const char *s)
{
    json_t *v;
    struct buf b;

    if (s == NULL)
        return json_null();
    if ((v = json_string(s)) != NULL) /* valid UTF-8: the common case */
        return v;
    buf_init(&b);
    for (const char *p = s; *p != '\0';) {
        size_t n = utf8_len((const unsigned char *)p);
        if (n == 0) {
            buf_append(&b, "\xef\xbf\xbd", 3); /* U+FFFD for the offending byte */
            p++;
        } else {
            buf_append(&b, p, n);
            p += n;
        }
    }
    v = json_stringn(b.data != NULL ? b.data : "", b.len);
    buf_fini(&b);
    if (v == NULL)
        mem_oom();
    return v;
}

char *
json_util_dump(json_t *v)
{
    char *s;

    if (v == NULL)
        mem_oom();
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s == NULL)
        mem_oom();
    return s;
}
