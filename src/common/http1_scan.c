/* SPDX-License-Identifier: ISC */
/* Byte-level pre-scan of HTTP/1 heads, trailers and chunked framing (see http1_scan.h). Every
 * function is a small state machine over one byte at a time, so a message split anywhere gives
 * the same verdict as the whole message. */
#include "common/http1_scan.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"

/* The raw-line scanner shared by heads and trailer sections. */
enum scan_state {
    SC_LEAD = 0, /* before the start line: empty lines are skipped */
    SC_LEAD_CR,  /* CR of a leading empty line */
    SC_START,    /* inside the request or status line */
    SC_LINE,     /* at the start of a field line (or of the final empty line) */
    SC_NAME,     /* inside a field name */
    SC_VALUE,    /* after the colon */
    SC_CR,       /* saw CR: LF must follow */
};

enum chunk_state {
    CK_SIZE_FIRST = 0, /* first hex digit of a chunk size */
    CK_SIZE,           /* more hex digits, ';' or CR */
    CK_EXT_NAME_FIRST, /* after ';' */
    CK_EXT_NAME,       /* token chars, '=', ';' or CR */
    CK_EXT_VAL_FIRST,  /* after '=' */
    CK_EXT_TOKEN,      /* unquoted value */
    CK_EXT_QUOTED,     /* inside a quoted value */
    CK_EXT_ESC,        /* after a backslash in a quoted value */
    CK_EXT_QEND,       /* after the closing quote */
    CK_SIZE_LF,        /* CR of the size line seen */
    CK_DATA,           /* chunk data */
    CK_DATA_CR,        /* CR after the data */
    CK_DATA_LF,        /* LF after the data */
    CK_TRAILERS,       /* trailer section, under the head scanner */
};

#define CHUNK_LINE_MAX 4096  /* a size line with its extensions */
#define CHUNK_SIZE_DIGITS 15 /* 15 hex digits: below 2^60, no overflow anywhere */

/* ---- character classes (RFC 9110 §5.6.2) ---- */

/* Character classes, one lookup per byte: CC_TCHAR (RFC 9110 tchar), CC_VALUE (field-vchar, SP,
 * HTAB, obs-text), CC_LINE (the same without HTAB: request-line bytes other than CR/LF). */
#define CC_TCHAR 1
#define CC_VALUE 2
#define CC_LINE 4
static const unsigned char cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    6, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

bool
http1_scan_is_tchar(unsigned char c)
{
    return (cclass[c] & CC_TCHAR) != 0;
}

static bool
is_hex(unsigned char c, unsigned *v)
{
    if (c >= '0' && c <= '9')
        *v = c - '0';
    else if (c >= 'a' && c <= 'f')
        *v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        *v = c - 'A' + 10;
    else
        return false;
    return true;
}

/* field-vchar / SP / HTAB / obs-text */
static bool
is_value_char(unsigned char c)
{
    return (cclass[c] & CC_VALUE) != 0;
}

static int
refuse(struct http1_scan_error *e, int status, const char *reason)
{
    e->status = status;
    e->reason = reason;
    return -EPROTO;
}

void
http1_scan_init(struct http1_scan *s, enum http1_scan_mode mode, size_t max_bytes, size_t max_lines)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->state = mode == HTTP1_SCAN_TRAILERS ? SC_LINE : SC_LEAD;
    s->max_bytes = max_bytes;
    s->max_lines = max_lines;
}

bool
http1_scan_started(const struct http1_scan *s)
{
    return s->state > SC_LEAD_CR;
}

static void begin_size(struct http1_scan_chunk *k);

void
http1_scan_chunk_init(struct http1_scan_chunk *k, size_t max_bytes, size_t max_lines)
{
    memset(k, 0, sizeof(*k));
    http1_scan_init(&k->trailers, HTTP1_SCAN_TRAILERS, max_bytes, max_lines);
    begin_size(k);
}

/* ---- the raw-line scanner ---- */

static int
scan_start_line_byte(struct http1_scan *s, unsigned char c, struct http1_scan_error *e)
{
    if (c == '\r') {
        s->state = SC_CR;
        s->blank = false;
        return 0;
    }
    if (c == '\n')
        return refuse(e, 400, "bare lf in start line");
    /* a status line's reason phrase may hold HTAB; a request line never does */
    if (c == 0x7f || (c < 0x20 && !(c == '\t' && s->mode == HTTP1_SCAN_RESPONSE)))
        return refuse(e, 400, "control character in start line");
    return 0;
}

static int
scan_field_byte(struct http1_scan *s, unsigned char c, struct http1_scan_error *e)
{
    switch ((enum scan_state)s->state) {
    case SC_LINE:
        if (c == '\r') {
            s->state = SC_CR;
            s->blank = true;
            return 0;
        }
        if (c == ' ' || c == '\t')
            return refuse(e, 400, "obs-fold in header");
        if (c == '\n')
            return refuse(e, 400, "bare lf in header");
        if (c == ':')
            return refuse(e, 400, "empty header name");
        if (!http1_scan_is_tchar(c))
            return refuse(e, 400, "invalid character in header name");
        if (++s->lines > s->max_lines)
            return refuse(e, 431, "too many headers");
        s->state = SC_NAME;
        return 0;
    case SC_NAME:
        if (c == ':')
            s->state = SC_VALUE;
        else if (!http1_scan_is_tchar(c))
            return refuse(e, 400, "invalid character in header name");
        return 0;
    case SC_VALUE:
        if (c == '\r') {
            s->state = SC_CR;
            s->blank = false;
        } else if (c == '\n') {
            return refuse(e, 400, "bare lf in header");
        } else if (c == 0) {
            return refuse(e, 400, "nul in header value");
        } else if (!is_value_char(c)) {
            return refuse(e, 400, "control character in header value");
        }
        return 0;
    case SC_LEAD:
    case SC_LEAD_CR:
    case SC_START:
    case SC_CR:
        break;
    }
    ASSERT(0);
    return -EPROTO;
}

/* The longest run from d[i] of bytes that cannot change the state in <state> (start line, name
 * or value bytes), so the per-byte state machine runs only at the few bytes that matter. */
static size_t
skip_run(const struct http1_scan *s, const unsigned char *d, size_t i, size_t end)
{
    unsigned char want = 0; /* every state is handled below; -O2 cannot tell */

    switch ((enum scan_state)s->state) {
    case SC_START:
        want = s->mode == HTTP1_SCAN_RESPONSE ? CC_VALUE : CC_LINE;
        break;
    case SC_NAME:
        want = CC_TCHAR;
        break;
    case SC_VALUE:
        want = CC_VALUE;
        break;
    case SC_LEAD:
    case SC_LEAD_CR:
    case SC_LINE:
    case SC_CR:
        return i;
    }
    while (i + 4 <= end &&
           (cclass[d[i]] & cclass[d[i + 1]] & cclass[d[i + 2]] & cclass[d[i + 3]] & want) != 0)
        i += 4; /* four at a time: runs are names and values, mostly 5-40 bytes */
    while (i < end && (cclass[d[i]] & want) != 0)
        i++;
    return i;
}

int
http1_scan_feed(struct http1_scan *s, const char *data, size_t n, size_t *used,
                struct http1_scan_error *e)
{
    const unsigned char *d = (const unsigned char *)data;
    size_t room = s->max_bytes - s->bytes; /* bytes <= max_bytes always */
    size_t end = n < room ? n : room, i = 0;
    int rc;

    while (i < end) {
        i = skip_run(s, d, i, end);
        if (i == end)
            break;
        if (s->state == SC_CR) {
            if (d[i] != '\n')
                return refuse(e, 400, "bare cr in head");
            i++;
            if (s->blank) {
                s->bytes += i;
                *used = i;
                return 1;
            }
            s->state = SC_LINE;
            continue;
        }
        rc = s->state == SC_START ? scan_start_line_byte(s, d[i], e) : scan_field_byte(s, d[i], e);
        if (rc < 0)
            return rc;
        i++;
    }
    s->bytes += i;
    if (i < n)
        return refuse(e, 431, "header block too large");
    *used = n;
    return 0;
}

int
http1_scan_skip_empty_lines(struct http1_scan *s, const char *d, size_t n, size_t *skipped,
                            struct http1_scan_error *e)
{
    size_t i = 0;

    for (; i < n && s->state <= SC_LEAD_CR; i++) {
        if (s->state == SC_LEAD_CR) {
            if (d[i] != '\n')
                return refuse(e, 400, "bare cr in head");
            s->state = SC_LEAD;
        } else if (d[i] == '\r') {
            s->state = SC_LEAD_CR;
        } else if (d[i] == '\n') {
            return refuse(e, 400, "bare lf in head");
        } else {
            s->state = SC_START;
            break;
        }
    }
    *skipped = i;
    return 0;
}

/* ---- the chunked shadow decoder ---- */

static int
chunk_ext_byte(struct http1_scan_chunk *k, unsigned char c, struct http1_scan_error *e)
{
    switch ((enum chunk_state)k->state) {
    case CK_EXT_NAME_FIRST:
        if (!http1_scan_is_tchar(c))
            return refuse(e, 400, "invalid chunk extension");
        k->state = CK_EXT_NAME;
        return 0;
    case CK_EXT_NAME:
    case CK_EXT_TOKEN:
    case CK_EXT_QEND:
        if (c == ';')
            k->state = CK_EXT_NAME_FIRST;
        else if (c == '=' && k->state == CK_EXT_NAME)
            k->state = CK_EXT_VAL_FIRST;
        else if (c == '\r')
            k->state = CK_SIZE_LF;
        else if (k->state == CK_EXT_QEND || !http1_scan_is_tchar(c))
            return refuse(e, 400, "invalid chunk extension");
        return 0;
    case CK_EXT_VAL_FIRST:
        if (c == '"')
            k->state = CK_EXT_QUOTED;
        else if (http1_scan_is_tchar(c))
            k->state = CK_EXT_TOKEN;
        else
            return refuse(e, 400, "invalid chunk extension");
        return 0;
    case CK_EXT_QUOTED:
        if (c == '"')
            k->state = CK_EXT_QEND;
        else if (c == '\\')
            k->state = CK_EXT_ESC;
        else if (!is_value_char(c))
            return refuse(e, 400, "invalid chunk extension");
        return 0;
    case CK_EXT_ESC:
        if (!is_value_char(c))
            return refuse(e, 400, "invalid chunk extension");
        k->state = CK_EXT_QUOTED;
        return 0;
    case CK_SIZE_FIRST:
    case CK_SIZE:
    case CK_SIZE_LF:
    case CK_DATA:
    case CK_DATA_CR:
    case CK_DATA_LF:
    case CK_TRAILERS:
        break;
    }
    ASSERT(0);
    return -EPROTO;
}

static int
chunk_size_byte(struct http1_scan_chunk *k, unsigned char c, struct http1_scan_error *e)
{
    unsigned v;

    if (is_hex(c, &v)) {
        if (++k->digits > CHUNK_SIZE_DIGITS)
            return refuse(e, 400, "chunk size too large");
        k->remaining = k->remaining << 4 | v;
        k->state = CK_SIZE;
        return 0;
    }
    if (k->state == CK_SIZE_FIRST)
        return refuse(e, 400, "invalid chunk size");
    if (c == ';')
        k->state = CK_EXT_NAME_FIRST;
    else if (c == '\r')
        k->state = CK_SIZE_LF;
    else
        return refuse(e, 400, "invalid chunk size");
    return 0;
}

static void
begin_size(struct http1_scan_chunk *k)
{
    k->state = CK_SIZE_FIRST;
    k->remaining = 0;
    k->digits = 0;
    k->line = 0;
}

int
http1_scan_chunk_feed(struct http1_scan_chunk *k, const char *d, size_t n, size_t *used,
                      struct http1_scan_error *e)
{
    size_t i = 0, m;
    int rc;

    while (i < n) {
        unsigned char c = (unsigned char)d[i];
        switch ((enum chunk_state)k->state) {
        case CK_DATA:
            m = n - i < k->remaining ? n - i : (size_t)k->remaining;
            k->remaining -= m;
            i += m;
            if (k->remaining == 0)
                k->state = CK_DATA_CR;
            continue;
        case CK_DATA_CR:
            if (c != '\r')
                return refuse(e, 400, "missing crlf after chunk data");
            k->state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (c != '\n')
                return refuse(e, 400, "missing crlf after chunk data");
            begin_size(k);
            break;
        case CK_SIZE_LF:
            if (c != '\n')
                return refuse(e, 400, "bare cr in chunk size line");
            if (k->remaining == 0) {
                k->state = CK_TRAILERS;
                http1_scan_init(&k->trailers, HTTP1_SCAN_TRAILERS, k->trailers.max_bytes,
                                k->trailers.max_lines);
            } else {
                k->state = CK_DATA;
            }
            break;
        case CK_TRAILERS:
            rc = http1_scan_feed(&k->trailers, d + i, n - i, &m, e);
            if (rc < 0)
                return rc;
            *used = i + m;
            return rc;
        case CK_SIZE_FIRST:
        case CK_SIZE:
        case CK_EXT_NAME_FIRST:
        case CK_EXT_NAME:
        case CK_EXT_VAL_FIRST:
        case CK_EXT_TOKEN:
        case CK_EXT_QUOTED:
        case CK_EXT_ESC:
        case CK_EXT_QEND:
            if (++k->line > CHUNK_LINE_MAX)
                return refuse(e, 400, "chunk size line too long");
            if (c == '\n')
                return refuse(e, 400, "bare lf in chunk size line");
            rc = k->state <= CK_SIZE ? chunk_size_byte(k, c, e) : chunk_ext_byte(k, c, e);
            if (rc < 0)
                return rc;
            break;
        }
        i++;
    }
    *used = n;
    return 0;
}
