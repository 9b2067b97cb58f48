/* SPDX-License-Identifier: ISC */
/* HTTP/1.x message parsing for everything that speaks HTTP (proxy, admin API, health checks,
 * clients). The only module that includes llhttp.h. It is strict where a proxy must be:
 * llhttp 8.1 accepts inputs that enable request smuggling, so a raw-head pre-scan and framing
 * checks after parsing refuse them (see http1.c for the list). Bodies are streamed: the parser
 * never buffers a body, it hands out decoded slices (chunked framing removed).
 *
 * Lifetime: a head and all its strings live in the parser's arena until the parser starts the
 * next message (the first http1_parser_feed() after on_complete returned) or is freed. */
#ifndef COMMON_HTTP1_H
#define COMMON_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum http1_kind {
    HTTP1_REQUEST = 0,
    HTTP1_RESPONSE,
};

struct http1_header {
    const char *name; /* as received (case preserved), NUL-terminated */
    size_t name_len;
    const char *value; /* leading/trailing whitespace trimmed, NUL-terminated */
    size_t value_len;
};

enum http1_framing {
    HTTP1_BODY_NONE = 0,    /* no body: no CL/TE on a request, HEAD/1xx/204/304 responses */
    HTTP1_BODY_LENGTH,      /* Content-Length: content_length bytes */
    HTTP1_BODY_CHUNKED,     /* Transfer-Encoding: chunked (the only coding accepted) */
    HTTP1_BODY_UNTIL_CLOSE, /* response without length: body ends when the peer closes */
};

struct http1_head {
    enum http1_kind kind;
    int version_major;            /* 1 */
    int version_minor;            /* 0 or 1 */
    const char *method;           /* request: "GET", "POST", … */
    const char *target;           /* request: as sent ("/a?b", "*", absolute-form) */
    int status;                   /* response: 100–599 */
    const char *reason;           /* response: reason phrase, may be "" */
    struct http1_header *headers; /* in received order, duplicates kept */
    size_t nheaders;
    enum http1_framing framing;
    uint64_t content_length; /* HTTP1_BODY_LENGTH only */
    bool keep_alive;         /* per version and the Connection header */
    bool upgrade;            /* request: Connection: upgrade + Upgrade; response: 101 */
    bool expect_continue;    /* request: Expect: 100-continue */
    const char *host;        /* request: the single Host value, or NULL on HTTP/1.0 */
};

struct http1_limits {
    size_t max_head_bytes; /* request/status line + headers; over → 431 (requests) */
    size_t max_headers;    /* header count; over → 431 */
};

#define HTTP1_DEFAULT_MAX_HEAD_BYTES (64 * 1024)
#define HTTP1_DEFAULT_MAX_HEADERS 128

/* Callback return values. */
#define HTTP1_OK 0
#define HTTP1_PAUSE 1 /* from on_complete: stop before the next message (pipelining) */
#define HTTP1_ABORT 2 /* from any callback: stop; feed() returns -ECANCELED */

struct http1_callbacks {
    /* The head is complete and passed every check. */
    int (*on_head)(void *ud, struct http1_head *head);
    /* A slice of decoded body bytes; <data> is only valid during the call. */
    int (*on_body)(void *ud, const char *data, size_t len);
    /* The message is complete; <trailers> (chunked only, may be 0) live as long as the head.
     * Return HTTP1_PAUSE to stop feeding until http1_parser_resume(). */
    int (*on_complete)(void *ud, const struct http1_header *trailers, size_t ntrailers);
};

struct http1_parser;

/* A new parser for one connection. <cb> and <ud> are borrowed for the parser's life;
 * <limits> is copied (NULL: defaults). Never fails (OOM aborts). */
struct http1_parser *http1_parser_new(enum http1_kind kind, const struct http1_limits *limits,
                                      const struct http1_callbacks *cb, void *ud);
void http1_parser_free(struct http1_parser *p);

/* Feeds <len> bytes and sets *consumed to how many were used. Returns:
 *   0           all consumed (or, after an upgrade, *consumed stops at the first tunnel byte)
 *   HTTP1_PAUSE on_complete paused: bytes after *consumed belong to the next message
 *   -EPROTO     the input is invalid: http1_parser_status()/_reason() say what to answer
 *   -ECANCELED  a callback returned HTTP1_ABORT
 * Callbacks run synchronously from inside this call. */
int http1_parser_feed(struct http1_parser *p, const char *data, size_t len, size_t *consumed);

/* Allows feeding after HTTP1_PAUSE. */
void http1_parser_resume(struct http1_parser *p);

/* Makes <p> as good as new (same kind, limits, callbacks and user data), keeping its
 * allocations: for reusing parsers across connections. Forgets any partial message, pause,
 * error, abort, request method, and empty lines seen before a start line. */
void http1_parser_reset(struct http1_parser *p);

/* The peer closed. Completes an HTTP1_BODY_UNTIL_CLOSE body (on_complete runs); returns
 * -EPROTO if a message was cut short, 0 otherwise (including between messages). */
int http1_parser_finish(struct http1_parser *p);

/* Responses only: the request this response answers, so HEAD and CONNECT get no body.
 * Call before feeding each response. */
void http1_parser_set_request_method(struct http1_parser *p, const char *method);

/* True between the first byte of a message and its on_complete. */
bool http1_parser_in_message(const struct http1_parser *p);

/* After -EPROTO: the status to answer with (400, 431, 501, 505) and a short lowercase reason
 * ("obs-fold in header", "both content-length and transfer-encoding", …). */
int http1_parser_status(const struct http1_parser *p);
const char *http1_parser_reason(const struct http1_parser *p);

/* Case-insensitive lookup of the first header called <name>, or NULL. */
const struct http1_header *http1_head_get(const struct http1_head *h, const char *name);

/* True for hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization) and for any header named
 * in this message's Connection header. */
bool http1_is_hop_by_hop(const struct http1_head *h, const struct http1_header *hdr);

/* Appends "<hex len>\r\n" for a chunk of <len> bytes (len > 0), or the last-chunk
 * "0\r\n" when len == 0 (the caller appends trailers and the final "\r\n"). */
void http1_format_chunk_size(struct buf *out, size_t len);

/* The standard reason phrase for <status> ("OK", "Bad Gateway"), "" when unknown. */
const char *http1_status_reason(int status);

#endif /* COMMON_HTTP1_H */
