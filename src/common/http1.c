/* SPDX-License-Identifier: ISC */
/* HTTP/1 parsing on llhttp 8.1, strict where a proxy must be.
 *
 * llhttp 8.1 (Debian) accepts several inputs that let two parsers disagree about where a message
 * ends. So llhttp never sees a byte we have not checked first (the byte-level checks live in
 * http1_scan.c):
 *   - the head (start line + header fields) is buffered until its end and pre-scanned: every line
 *     ends in CRLF (no bare LF or CR anywhere, so no "\r\n\rX" or "\r\r\n" block ends), no
 *     obs-fold, header names are tokens directly followed by ':', values hold no NUL or CTL;
 *   - chunked framing is pre-scanned by a shadow decoder (hex sizes without overflow, strict
 *     extensions, CRLF after every chunk, trailers under the head rules), and llhttp must end
 *     the message at exactly the byte the shadow does;
 *   - after llhttp parsed a head, framing checks refuse CL+TE, repeated or non-decimal
 *     Content-Length, any Transfer-Encoding but a single "chunked", TE on HTTP/1.0, a missing or
 *     doubled Host on HTTP/1.1, and framing/routing fields in trailers.
 * Responses get no body for HEAD, CONNECT 2xx, 1xx, 204 and 304, whatever their headers say.
 *
 *   IDLE ──first byte──▶ HEAD ──head checked──▶ BODY ──message end──▶ IDLE (on_complete)
 *     any invalid byte or framing ──▶ ERROR (sticky; status + reason say what to answer)
 */
#include "common/http1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1_scan.h"
#include "common/mem.h"
#include "common/str.h"

enum phase {
    PH_IDLE = 0, /* between messages */
    PH_HEAD,     /* pre-scanning (and buffering) the head */
    PH_BODY,     /* llhttp decodes the body, the shadow checks chunked framing */
    PH_ERROR,    /* refused: sticky */
};

#define CONTENT_LENGTH_MAX (UINT64_C(1) << 60)

/* A string llhttp reports in pieces. Usually one piece, pointing into the bytes being fed: kept
 * by reference, then copied once into the arena. Pieces of one string can span two feeds (a
 * trailer split across reads), so references are copied into <copy> after every execute. */
struct span {
    const char *ptr; /* borrowed: the input being fed; valid while !copied */
    size_t len;
    bool copied;     /* the string so far is in <copy> */
    struct buf copy; /* owned */
};

struct http1_parser {
    enum http1_kind kind;
    struct http1_limits limits;
    const struct http1_callbacks *cb; /* borrowed */
    void *ud;                         /* borrowed */
    llhttp_t ll;
    enum phase phase;
    bool paused;            /* on_complete returned HTTP1_PAUSE */
    bool msg_done;          /* llhttp's on_message_complete ran for this message */
    bool aborted;           /* a user callback returned HTTP1_ABORT */
    bool in_trailers;       /* headers collected now are trailers */
    bool req_head;          /* responses: the request was HEAD */
    bool req_connect;       /* responses: the request was CONNECT */
    struct http1_scan scan; /* head pre-scan */
    struct buf headbuf;     /* a head that arrived in pieces */
    struct span field;      /* field name being collected */
    struct span value;      /* field value being collected */
    struct span text;       /* URL or reason phrase being collected */
    struct arena arena;     /* head strings; reset per message */
    struct http1_head head;
    struct http1_header *hdrs; /* owned: reused across messages */
    size_t caphdrs;
    struct http1_header *trl; /* owned: trailers */
    size_t ntrl, captrl;
    struct http1_scan_chunk chunk; /* chunked framing pre-scan */
    int err_status;
    const char *err_reason; /* static, or reason_buf */
    char reason_buf[96];
};

static int
fail(struct http1_parser *p, int status, const char *reason)
{
    if (p->phase != PH_ERROR) {
        p->phase = PH_ERROR;
        p->err_status = status;
        p->err_reason = reason;
    }
    return -EPROTO;
}

/* ---- collecting the head from llhttp's callbacks ---- */

static struct http1_parser *
parser_of(llhttp_t *ll)
{
    return ll->data;
}

static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static void
span_add(struct span *sp, const char *at, size_t len)
{
    if (sp->len == 0 && !sp->copied) {
        sp->ptr = at;
        sp->len = len;
        return;
    }
    if (!sp->copied) {
        buf_reset(&sp->copy);
        buf_append(&sp->copy, sp->ptr, sp->len);
        sp->copied = true;
    }
    buf_append(&sp->copy, at, len);
    sp->len += len;
}

/* The input is about to go away: keep what is only referenced. */
static void
span_detach(struct span *sp)
{
    if (sp->len > 0 && !sp->copied) {
        buf_reset(&sp->copy);
        buf_append(&sp->copy, sp->ptr, sp->len);
        sp->copied = true;
    }
}

static const char *
span_data(const struct span *sp)
{
    return sp->copied ? sp->copy.data : sp->len > 0 ? sp->ptr : "";
}

static void
span_reset(struct span *sp)
{
    sp->len = 0;
    sp->copied = false;
}

static void
commit_header(struct http1_parser *p)
{
    struct http1_header **arr = p->in_trailers ? &p->trl : &p->hdrs;
    size_t *cap = p->in_trailers ? &p->captrl : &p->caphdrs;
    size_t *count = p->in_trailers ? &p->ntrl : &p->head.nheaders;
    const char *v = span_data(&p->value);
    size_t vlen = p->value.len;
    struct http1_header *h;

    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = mem_realloc(*arr, *cap * sizeof(**arr));
        if (!p->in_trailers)
            p->head.headers = *arr;
    }
    trim(&v, &vlen);
    h = &(*arr)[(*count)++];
    {
        char *mem = arena_alloc(&p->arena, p->field.len + vlen + 2); /* "name\0value\0" */
        memcpy(mem, span_data(&p->field), p->field.len);
        mem[p->field.len] = '\0';
        memcpy(mem + p->field.len + 1, v, vlen);
        mem[p->field.len + 1 + vlen] = '\0';
        h->name = mem;
        h->name_len = p->field.len;
        h->value = mem + p->field.len + 1;
        h->value_len = vlen;
    }
    span_reset(&p->field);
    span_reset(&p->value);
}

static int
on_ll_text(llhttp_t *ll, const char *at, size_t len)
{
    span_add(&parser_of(ll)->text, at, len);
    return 0;
}

static int
on_ll_field(llhttp_t *ll, const char *at, size_t len)
{
    span_add(&parser_of(ll)->field, at, len);
    return 0;
}

static int
on_ll_value(llhttp_t *ll, const char *at, size_t len)
{
    span_add(&parser_of(ll)->value, at, len);
    return 0;
}

static int
on_ll_value_complete(llhttp_t *ll)
{
    commit_header(parser_of(ll));
    return 0;
}

/* ---- framing checks after the head ---- */

/* Case-insensitive name test with the length compared first: most names differ in length. */
#define NAME_IS(hdr, lit)                                                                          \
    ((hdr)->name_len == sizeof(lit) - 1 && strncasecmp((hdr)->name, (lit), sizeof(lit) - 1) == 0)

static bool
list_has_token(const char *v, const char *token)
{
    size_t tlen = strlen(token);

    while (*v != '\0') {
        const char *end;
        size_t len;
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        end = v;
        while (*end != '\0' && *end != ',')
            end++;
        len = (size_t)(end - v);
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        if (len == tlen && str_ieqn(v, len, token))
            return true;
        v = end;
    }
    return false;
}

static int
parse_content_length(struct http1_parser *p, const struct http1_header *h)
{
    uint64_t v = 0;

    if (h->value_len == 0 || h->value_len > 19)
        return fail(p, 400, "invalid content-length");
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return fail(p, 400, "invalid content-length");
        v = v * 10 + (uint64_t)(h->value[i] - '0');
    }
    if (v > CONTENT_LENGTH_MAX)
        return fail(p, 400, "content-length too large");
    p->head.content_length = v;
    return 0;
}

/* Only a single "chunked" is accepted. A list ending in chunked names codings we do not
 * implement (501), except "identity", which no longer exists and smuggles (400); chunked
 * anywhere but last, twice, or an empty element is malformed (400, RFC 9112 §6.3). */
static int
check_transfer_encoding(struct http1_parser *p, const char *v)
{
    size_t nelem = 0;
    bool chunked_last = false, has_identity = false;

    if (str_ieq(v, "chunked"))
        return 0;
    for (;;) {
        const char *start = v, *end;
        size_t len;
        while (*start == ' ' || *start == '\t')
            start++;
        end = start;
        while (*end != '\0' && *end != ',')
            end++;
        len = (size_t)(end - start);
        while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
            len--;
        if (len == 0)
            return fail(p, 400, "empty transfer-encoding element");
        if (chunked_last)
            return fail(p, 400, "chunked is not the final transfer coding");
        nelem++;
        chunked_last = str_ieqn(start, len, "chunked");
        has_identity |= str_ieqn(start, len, "identity");
        if (*end == '\0')
            break;
        v = end + 1;
    }
    if (has_identity && nelem > 1)
        return fail(p, 400, "identity in transfer-encoding");
    if (!chunked_last && nelem > 1)
        return fail(p, 400, "chunked is not the final transfer coding");
    return fail(p, 501, "unsupported transfer coding");
}

/* reg-name / IP-literal / port characters (RFC 3986); anything else in Host is refused. */
static bool
is_valid_host(const char *v)
{
    for (; *v != '\0'; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':
        case '%':
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '[':
        case ']':
            continue;
        default:
            return false;
        }
    }
    return true;
}

struct framing_seen {
    const struct http1_header *cl, *te, *host;
    bool conn_close, conn_keep_alive, conn_upgrade, has_upgrade;
};

/* One pass over a Connection value's tokens (it is read on every request). */
static void
scan_connection(const char *v, struct framing_seen *f)
{
    while (*v != '\0') {
        const char *end;
        size_t len;
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        end = v;
        while (*end != '\0' && *end != ',')
            end++;
        len = (size_t)(end - v);
        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        if (len == 5 && strncasecmp(v, "close", 5) == 0)
            f->conn_close = true;
        else if (len == 10 && strncasecmp(v, "keep-alive", 10) == 0)
            f->conn_keep_alive = true;
        else if (len == 7 && strncasecmp(v, "upgrade", 7) == 0)
            f->conn_upgrade = true;
        v = end;
    }
}

static int
collect_framing(struct http1_parser *p, struct framing_seen *f)
{
    struct http1_head *h = &p->head;

    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http1_header *hdr = &h->headers[i];
        if (NAME_IS(hdr, "content-length")) {
            if (f->cl != NULL)
                return fail(p, 400, "repeated content-length");
            f->cl = hdr;
        } else if (NAME_IS(hdr, "transfer-encoding")) {
            if (f->te != NULL)
                return fail(p, 400, "repeated transfer-encoding");
            f->te = hdr;
        } else if (NAME_IS(hdr, "host")) {
            if (f->host != NULL)
                return fail(p, 400, "repeated host");
            f->host = hdr;
        } else if (NAME_IS(hdr, "connection")) {
            scan_connection(hdr->value, f);
        } else if (NAME_IS(hdr, "upgrade")) {
            f->has_upgrade = true;
        } else if (NAME_IS(hdr, "expect")) {
            h->expect_continue |= str_ieq(hdr->value, "100-continue");
        }
    }
    return 0;
}

static int
check_length_headers(struct http1_parser *p, const struct framing_seen *f)
{
    struct http1_head *h = &p->head;
    int rc;

    if (f->cl != NULL && f->te != NULL)
        return fail(p, 400, "both content-length and transfer-encoding");
    if (f->te != NULL) {
        if (h->version_minor == 0)
            return fail(p, 400, "transfer-encoding on http/1.0");
        if ((rc = check_transfer_encoding(p, f->te->value)) < 0)
            return rc;
        h->framing = HTTP1_BODY_CHUNKED;
    } else if (f->cl != NULL) {
        if ((rc = parse_content_length(p, f->cl)) < 0)
            return rc;
        h->framing = HTTP1_BODY_LENGTH;
    }
    return 0;
}

static int
check_request(struct http1_parser *p, const struct framing_seen *f)
{
    struct http1_head *h = &p->head;

    if (p->ll.method == HTTP_CONNECT)
        return fail(p, 501, "connect not supported");
    if (h->version_minor == 1 && f->host == NULL)
        return fail(p, 400, "missing host");
    if (f->host != NULL && !is_valid_host(f->host->value))
        return fail(p, 400, "invalid host");
    h->host = f->host != NULL ? f->host->value : NULL;
    h->upgrade = h->version_minor == 1 && f->conn_upgrade && f->has_upgrade;
    return 0;
}

static void
decide_response_body(struct http1_parser *p)
{
    struct http1_head *h = &p->head;
    int st = h->status;

    if (st == 101 || (p->req_connect && st >= 200 && st < 300)) {
        h->upgrade = true;
        h->framing = HTTP1_BODY_NONE;
        h->keep_alive = false;
    } else if (p->req_head || st < 200 || st == 204 || st == 304) {
        h->framing = HTTP1_BODY_NONE;
    } else if (h->framing == HTTP1_BODY_NONE) {
        h->framing = HTTP1_BODY_UNTIL_CLOSE;
        h->keep_alive = false;
    }
}

static int
check_head(struct http1_parser *p)
{
    struct http1_head *h = &p->head;
    struct framing_seen f;
    int rc;

    h->version_major = p->ll.http_major;
    h->version_minor = p->ll.http_minor;
    if (h->version_major != 1 || h->version_minor > 1)
        return fail(p, 505, "http version not supported");
    if ((rc = collect_framing(p, &f)) < 0)
        return rc;
    if ((rc = check_length_headers(p, &f)) < 0)
        return rc;
    h->keep_alive = h->version_minor == 1 ? !f.conn_close : f.conn_keep_alive && !f.conn_close;
    if (h->kind == HTTP1_REQUEST)
        return check_request(p, &f);
    if (h->status < 100 || h->status > 599)
        return fail(p, 400, "invalid status code");
    decide_response_body(p);
    return 0;
}

static bool
expects_no_body(const struct http1_head *h)
{
    return h->framing == HTTP1_BODY_NONE ||
           (h->framing == HTTP1_BODY_LENGTH && h->content_length == 0);
}

static int
on_ll_headers_complete(llhttp_t *ll)
{
    struct http1_parser *p = parser_of(ll);
    struct http1_head *h = &p->head;

    h->kind = p->kind;
    if (p->kind == HTTP1_REQUEST) {
        h->method = llhttp_method_name((llhttp_method_t)ll->method);
        h->target = arena_strndup(&p->arena, span_data(&p->text), p->text.len);
    } else {
        h->status = ll->status_code;
        h->reason = arena_strndup(&p->arena, span_data(&p->text), p->text.len);
    }
    span_reset(&p->text);
    if (check_head(p) < 0)
        return -1;
    p->in_trailers = true;
    if (p->cb->on_head != NULL && p->cb->on_head(p->ud, h) == HTTP1_ABORT) {
        p->aborted = true;
        return -1;
    }
    /* 1: no body whatever llhttp concluded from the headers */
    return expects_no_body(h) ? 1 : 0;
}

static int
on_ll_body(llhttp_t *ll, const char *at, size_t len)
{
    struct http1_parser *p = parser_of(ll);

    if (p->cb->on_body != NULL && p->cb->on_body(p->ud, at, len) == HTTP1_ABORT) {
        p->aborted = true;
        return -1;
    }
    return 0;
}

static int
on_ll_message_complete(llhttp_t *ll)
{
    parser_of(ll)->msg_done = true;
    return HPE_PAUSED; /* every message ends at a boundary we control */
}

static const llhttp_settings_t ll_settings = {
    .on_url = on_ll_text,
    .on_status = on_ll_text,
    .on_header_field = on_ll_field,
    .on_header_value = on_ll_value,
    .on_header_value_complete = on_ll_value_complete,
    .on_headers_complete = on_ll_headers_complete,
    .on_body = on_ll_body,
    .on_message_complete = on_ll_message_complete,
};

/* ---- driving llhttp ---- */

/* An unknown but well-formed method is 501 (RFC 9110 §9.1); garbage is 400. */
static bool
is_token_then_space(const char *d, size_t len)
{
    size_t i = 0;

    while (i < len && http1_scan_is_tchar((unsigned char)d[i]))
        i++;
    return i > 0 && i < len && d[i] == ' ';
}

static int
fail_llhttp(struct http1_parser *p, llhttp_errno_t e, const char *d, size_t len)
{
    const char *r = llhttp_get_error_reason(&p->ll);
    size_t i = 0;

    if (e == HPE_INVALID_METHOD && is_token_then_space(d, len))
        return fail(p, 501, "method not implemented");
    if (e == HPE_INVALID_VERSION)
        return fail(p, 505, "http version not supported");
    if (r == NULL || *r == '\0')
        r = llhttp_errno_name(e);
    for (; r[i] != '\0' && i + 1 < sizeof(p->reason_buf); i++)
        p->reason_buf[i] = (r[i] >= 'A' && r[i] <= 'Z') ? (char)(r[i] - 'A' + 'a') : r[i];
    p->reason_buf[i] = '\0';
    return fail(p, 400, p->reason_buf);
}

/* Runs llhttp over <len> checked bytes. Returns 1 if the message completed after *used bytes,
 * 0 if all were consumed without completing it, or a negative errno. */
static int
run_llhttp(struct http1_parser *p, const char *d, size_t len, size_t *used)
{
    llhttp_errno_t e = llhttp_execute(&p->ll, d, len);

    span_detach(&p->field);
    span_detach(&p->value);
    span_detach(&p->text);
    if (p->aborted)
        return -ECANCELED;
    if (p->phase == PH_ERROR)
        return -EPROTO;
    if (e == HPE_OK) {
        *used = len;
        return 0;
    }
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && p->msg_done) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - d);
        return 1;
    }
    return fail_llhttp(p, e, d, len);
}

static void
start_message(struct http1_parser *p)
{
    arena_reset(&p->arena);
    memset(&p->head, 0, sizeof(p->head));
    p->head.headers = p->hdrs;
    p->ntrl = 0;
    p->msg_done = false;
    p->in_trailers = false;
    buf_reset(&p->headbuf);
    span_reset(&p->field);
    span_reset(&p->value);
    span_reset(&p->text);
    http1_scan_init(&p->scan, p->kind == HTTP1_REQUEST ? HTTP1_SCAN_REQUEST : HTTP1_SCAN_RESPONSE,
                    p->limits.max_head_bytes, p->limits.max_headers);
    llhttp_reset(&p->ll);
    p->phase = PH_HEAD;
}

/* After the head: the body phase, or a message that already ended. */
static int
enter_body(struct http1_parser *p, int rc, size_t ran, size_t len)
{
    if (rc == 1) {
        if (ran != len || !expects_no_body(&p->head))
            return fail(p, 400, "framing mismatch");
        return 1;
    }
    if (expects_no_body(&p->head))
        return fail(p, 400, "framing mismatch");
    if (p->head.framing == HTTP1_BODY_CHUNKED)
        http1_scan_chunk_init(&p->chunk, p->limits.max_head_bytes, p->limits.max_headers);
    p->phase = PH_BODY;
    return 0;
}

static int
feed_head(struct http1_parser *p, const char *d, size_t n, size_t *used)
{
    struct http1_scan_error e;
    size_t skip = 0, end, ran;
    int rc;

    if (p->phase == PH_IDLE)
        start_message(p);
    if (http1_scan_skip_empty_lines(&p->scan, d, n, &skip, &e) < 0)
        return fail(p, e.status, e.reason);
    if (skip == n) {
        *used = n;
        return 0;
    }
    rc = http1_scan_feed(&p->scan, d + skip, n - skip, &end, &e);
    if (rc < 0)
        return fail(p, e.status, e.reason);
    if (rc == 0) { /* the head continues in a later read: keep what we have */
        buf_append(&p->headbuf, d + skip, n - skip);
        *used = n;
        return 0;
    }
    *used = skip + end;
    if (p->headbuf.len == 0) {
        rc = run_llhttp(p, d + skip, end, &ran);
        return rc < 0 ? rc : enter_body(p, rc, ran, end);
    }
    buf_append(&p->headbuf, d + skip, end);
    rc = run_llhttp(p, p->headbuf.data, p->headbuf.len, &ran);
    return rc < 0 ? rc : enter_body(p, rc, ran, p->headbuf.len);
}

static int
feed_body(struct http1_parser *p, const char *d, size_t n, size_t *used)
{
    struct http1_scan_error e;
    size_t limit = n, ran;
    int shadow = 0, rc;

    if (p->head.framing == HTTP1_BODY_CHUNKED) {
        if ((shadow = http1_scan_chunk_feed(&p->chunk, d, n, &limit, &e)) < 0)
            return fail(p, e.status, e.reason);
    }
    if ((rc = run_llhttp(p, d, limit, &ran)) < 0)
        return rc;
    *used = ran;
    if (p->head.framing == HTTP1_BODY_CHUNKED && (rc != shadow || ran != limit))
        return fail(p, 400, "chunked framing mismatch");
    return rc;
}

static const char *const forbidden_trailers[] = {
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "content-encoding",
    "content-type",
    "content-range",
    "authorization",
    "proxy-authorization",
    "cache-control",
    "set-cookie",
    "cookie",
    "max-forwards",
    "range",
};

static int
check_trailers(struct http1_parser *p)
{
    for (size_t i = 0; i < p->ntrl; i++) {
        for (size_t k = 0; k < sizeof(forbidden_trailers) / sizeof(forbidden_trailers[0]); k++) {
            if (str_ieq(p->trl[i].name, forbidden_trailers[k]))
                return fail(p, 400, "forbidden header in trailers");
        }
    }
    return 0;
}

/* The message ended: tell the user. Returns 0 to go on, HTTP1_PAUSE, 2 after an upgrade, or a
 * negative errno. */
static int
complete_message(struct http1_parser *p)
{
    int r;

    if (check_trailers(p) < 0)
        return -EPROTO;
    p->phase = PH_IDLE;
    r = p->cb->on_complete != NULL ? p->cb->on_complete(p->ud, p->trl, p->ntrl) : HTTP1_OK;
    if (r == HTTP1_ABORT) {
        p->aborted = true;
        return -ECANCELED;
    }
    if (r == HTTP1_PAUSE) {
        p->paused = true;
        return HTTP1_PAUSE;
    }
    return p->head.upgrade ? 2 : 0;
}

int
http1_parser_feed(struct http1_parser *p, const char *data, size_t len, size_t *consumed)
{
    size_t off = 0, used;
    int rc;

    *consumed = 0;
    if (p->phase == PH_ERROR)
        return -EPROTO;
    if (p->aborted)
        return -ECANCELED;
    if (p->paused)
        return HTTP1_PAUSE;
    while (off < len) {
        if (p->phase == PH_BODY)
            rc = feed_body(p, data + off, len - off, &used);
        else
            rc = feed_head(p, data + off, len - off, &used);
        if (rc < 0)
            return rc;
        off += used;
        *consumed = off;
        if (rc == 0)
            continue;
        if ((rc = complete_message(p)) != 0)
            return rc == 2 ? 0 : rc;
    }
    return 0;
}

/* ---- public API ---- */

struct http1_parser *
http1_parser_new(enum http1_kind kind, const struct http1_limits *limits,
                 const struct http1_callbacks *cb, void *ud)
{
    struct http1_parser *p = mem_calloc(1, sizeof(*p));

    p->kind = kind;
    p->limits.max_head_bytes = HTTP1_DEFAULT_MAX_HEAD_BYTES;
    p->limits.max_headers = HTTP1_DEFAULT_MAX_HEADERS;
    if (limits != NULL) {
        if (limits->max_head_bytes != 0)
            p->limits.max_head_bytes = limits->max_head_bytes;
        if (limits->max_headers != 0)
            p->limits.max_headers = limits->max_headers;
    }
    p->cb = cb;
    p->ud = ud;
    llhttp_init(&p->ll, kind == HTTP1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &ll_settings);
    p->ll.data = p;
    buf_init(&p->headbuf);
    buf_init(&p->field.copy);
    buf_init(&p->value.copy);
    buf_init(&p->text.copy);
    arena_init(&p->arena, 2048);
    p->phase = PH_IDLE;
    return p;
}

void
http1_parser_free(struct http1_parser *p)
{
    if (p == NULL)
        return;
    buf_fini(&p->headbuf);
    buf_fini(&p->field.copy);
    buf_fini(&p->value.copy);
    buf_fini(&p->text.copy);
    arena_fini(&p->arena);
    free(p->hdrs);
    free(p->trl);
    free(p);
}

void
http1_parser_resume(struct http1_parser *p)
{
    p->paused = false;
}

void
http1_parser_reset(struct http1_parser *p)
{
    start_message(p); /* clears the head, spans, buffers, scanner and llhttp */
    p->phase = PH_IDLE;
    p->paused = false;
    p->aborted = false;
    p->req_head = false;
    p->req_connect = false;
    p->err_status = 0;
    p->err_reason = NULL;
}

int
http1_parser_finish(struct http1_parser *p)
{
    llhttp_errno_t e;
    int rc;

    if (p->phase == PH_ERROR)
        return -EPROTO;
    if (p->phase == PH_IDLE || (p->phase == PH_HEAD && !http1_scan_started(&p->scan))) {
        p->phase = PH_IDLE;
        return 0;
    }
    if (p->phase == PH_BODY && p->head.framing == HTTP1_BODY_UNTIL_CLOSE) {
        e = llhttp_finish(&p->ll);
        if (p->aborted)
            return -ECANCELED;
        if (e != HPE_OK && e != HPE_PAUSED)
            return fail_llhttp(p, e, "", 0);
        p->paused = false;
        rc = complete_message(p);
        return rc < 0 ? rc : 0;
    }
    return fail(p, 400, "message truncated");
}

void
http1_parser_set_request_method(struct http1_parser *p, const char *method)
{
    p->req_head = method != NULL && strcmp(method, "HEAD") == 0;
    p->req_connect = method != NULL && strcmp(method, "CONNECT") == 0;
}

bool
http1_parser_in_message(const struct http1_parser *p)
{
    return p->phase == PH_BODY || (p->phase == PH_HEAD && http1_scan_started(&p->scan));
}

int
http1_parser_status(const struct http1_parser *p)
{
    return p->phase == PH_ERROR ? p->err_status : 0;
}

const char *
http1_parser_reason(const struct http1_parser *p)
{
    return p->phase == PH_ERROR ? p->err_reason : "";
}

const struct http1_header *
http1_head_get(const struct http1_head *h, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < h->nheaders; i++) {
        if (h->headers[i].name_len == len && strncasecmp(h->headers[i].name, name, len) == 0)
            return &h->headers[i];
    }
    return NULL;
}

bool
http1_is_hop_by_hop(const struct http1_head *h, const struct http1_header *hdr)
{
    if (NAME_IS(hdr, "connection") || NAME_IS(hdr, "keep-alive") ||
        NAME_IS(hdr, "proxy-connection") || NAME_IS(hdr, "te") || NAME_IS(hdr, "trailer") ||
        NAME_IS(hdr, "transfer-encoding") || NAME_IS(hdr, "upgrade") ||
        NAME_IS(hdr, "proxy-authenticate") || NAME_IS(hdr, "proxy-authorization"))
        return true;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (NAME_IS(&h->headers[i], "connection") && list_has_token(h->headers[i].value, hdr->name))
            return true;
    }
    return false;
}

void
http1_format_chunk_size(struct buf *out, size_t len)
{
    buf_appendf(out, "%zx\r\n", len);
}

const char *
http1_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}
