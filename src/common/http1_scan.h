/* SPDX-License-Identifier: ISC */
/* The byte-level checks common/http1 runs before llhttp sees a byte (llhttp 8.1 accepts inputs
 * a proxy must refuse). Pure, incremental (any split of the input gives the same answer),
 * allocation-free. Used only by common/http1.c; a module of its own so each file stays small.
 *
 *   http1_scan: a head or trailer block. Every line ends in CRLF (no bare LF or CR, so no
 *   "\r\n\rX" or "\r\r\n" block end), no obs-fold, field names are tokens followed directly by
 *   ':', values hold no NUL or other CTL but HTAB; empty lines before a start line are skipped.
 *   http1_scan_chunk: chunked framing, a shadow of llhttp's decoder: hex sizes (15 digits at
 *   most), strict extensions (token[=token|quoted-string]), CRLF after every chunk, trailers
 *   under the block rules. */
#ifndef COMMON_HTTP1_SCAN_H
#define COMMON_HTTP1_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why the input was refused: the status to answer and a short lowercase reason (static). */
struct http1_scan_error {
    int status; /* 400 or 431 */
    const char *reason;
};

enum http1_scan_mode {
    HTTP1_SCAN_REQUEST = 0, /* request line + fields */
    HTTP1_SCAN_RESPONSE,    /* status line (the reason may hold HTAB) + fields */
    HTTP1_SCAN_TRAILERS,    /* fields only */
};

struct http1_scan {
    enum http1_scan_mode mode;
    int state;        /* private: where in the block we are */
    bool blank;       /* private: the pending CR began an empty line */
    size_t bytes;     /* bytes of the block so far (leading empty lines not counted) */
    size_t lines;     /* field lines so far */
    size_t max_bytes; /* over → 431 */
    size_t max_lines; /* over → 431 */
};

void http1_scan_init(struct http1_scan *s, enum http1_scan_mode mode, size_t max_bytes,
                     size_t max_lines);

/* True once the first byte of the start line was seen (empty lines before it do not count). */
bool http1_scan_started(const struct http1_scan *s);

/* Before the start line: skips empty lines (CRLF only; RFC 9112 §2.2) and sets *skipped to
 * the bytes skipped (all <n> while only empty lines came). Returns 0 or -EPROTO with *e. A no-op
 * once the start line began. */
int http1_scan_skip_empty_lines(struct http1_scan *s, const char *d, size_t n, size_t *skipped,
                                struct http1_scan_error *e);

/* Scans <n> bytes of the block (after any skipped empty lines). Returns 1 when the block ended
 * (*used = bytes up to and including its last LF), 0 when it needs more (*used = n), or
 * -EPROTO with *e filled. */
int http1_scan_feed(struct http1_scan *s, const char *d, size_t n, size_t *used,
                    struct http1_scan_error *e);

struct http1_scan_chunk {
    int state;          /* private */
    uint64_t remaining; /* data bytes left in the current chunk; the size being read */
    size_t line;        /* bytes of the current size line */
    unsigned digits;    /* hex digits of the current size */
    struct http1_scan trailers;
};

/* Ready for the first chunk-size line; trailers obey <max_bytes> and <max_lines>. */
void http1_scan_chunk_init(struct http1_scan_chunk *c, size_t max_bytes, size_t max_lines);

/* Checks <n> body bytes. Returns 1 when the message ends (*used = its last byte + 1), 0 when it
 * needs more (*used = n), or -EPROTO with *e filled. */
int http1_scan_chunk_feed(struct http1_scan_chunk *c, const char *d, size_t n, size_t *used,
                          struct http1_scan_error *e);

/* RFC 9110 tchar. */
bool http1_scan_is_tchar(unsigned char c);

#endif /* COMMON_HTTP1_SCAN_H */
