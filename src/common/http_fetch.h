/* SPDX-License-Identifier: ISC */
/* One blocking HTTP request over libcurl, for command-line clients (`cutover proxy <verb>`):
 * a small JSON body out, the whole response body back, bounded by a timeout. TCP or a unix
 * socket. Never used on an event loop thread. */
#ifndef COMMON_HTTP_FETCH_H
#define COMMON_HTTP_FETCH_H

#include <stddef.h>

#include "common/buf.h"

struct err;

struct http_fetch_response {
    long status;     /* HTTP status */
    struct buf body; /* owned: the response body (NUL-terminated) */
};

/* libcurl's process-wide setup; call once from a *_main before any request. Returns 0 or
 * -EIO. */
int http_fetch_global_init(void);

/* Sends <method> <url> with <body> (<body_len> bytes, Content-Type: application/json; NULL for
 * none), through the unix socket <unix_path> when not NULL (the URL's host is then ignored),
 * giving up after <timeout_ms>. Fills *out (call http_fetch_response_fini) and returns 0 for
 * any HTTP response, whatever its status; otherwise a negative errno (-ECONNREFUSED,
 * -ETIMEDOUT, -EHOSTUNREACH, -EPROTO, -EIO) with "<url>: <reason>" in <err> and nothing to free.
 * Bodies over 16 MiB are refused (-EFBIG). */
int http_fetch_request(const char *method, const char *url, const char *unix_path, const char *body,
                       size_t body_len, long timeout_ms, struct http_fetch_response *out,
                       struct err *err);

/* A curl handle kept across requests, so they reuse their connection (keep-alive) instead of
 * opening one each: for a daemon's steady traffic (agent polls, reports, heartbeats). One
 * session per thread: a session is not safe to share between threads. */
struct http_fetch_session;
struct http_fetch_session *http_fetch_session_new(void);
void http_fetch_session_free(struct http_fetch_session *s);

/* Every knob of one request. Zero-initialise and set what you need. */
struct http_fetch_opts {
    const char *method;       /* "GET" when NULL */
    const char *url;          /* http:// or https:// */
    const char *unix_path;    /* NULL: TCP */
    const char *body;         /* NULL: no body */
    size_t body_len;          /* bytes of <body> */
    const char *content_type; /* NULL: application/json (when there is a body) */
    const char *bearer;       /* NULL: no Authorization header */
    const char *cafile;       /* PEM bundle to verify an https server with; NULL: system */
    long timeout_ms;          /* whole request */
    int out_fd;               /* >= 0: a 2xx body is written there instead of into out->body
                               * (any size); other statuses still fill out->body */
    struct http_fetch_session *session; /* NULL: a fresh handle (and connection) per request */
};

/* The general form of http_fetch_request: same return convention. With out_fd, the body of a
 * 2xx response streams to the fd (a write error gives -EIO). */
int http_fetch_do(const struct http_fetch_opts *o, struct http_fetch_response *out,
                  struct err *err);

void http_fetch_response_fini(struct http_fetch_response *r);

#endif /* COMMON_HTTP_FETCH_H */
