/* SPDX-License-Identifier: ISC */
/* A generic HTTP/1.1 API server on a libuv loop, built on common/http1: TCP or a unix socket,
 * optional TLS (OpenSSL over memory BIOs) when a certificate and key are given, keep-alive,
 * idle and read timeouts, request bodies buffered up to a limit (413 beyond) or streamed to
 * the handler, and asynchronous responses: a handler may keep a request and answer it later
 * (long-poll), and is told if the client goes away first.
 *
 * One request at a time per connection: while a request waits for its response the
 * connection keeps reading only to notice the client closing (pipelined bytes are kept). */
#ifndef COMMON_HTTP_SERVER_H
#define COMMON_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct addr;
struct err;
struct http1_head;
struct http_server;
struct http_server_req;

enum http_server_body_mode {
    HTTP_SERVER_BODY_BUFFER = 0, /* collect the body (≤ max_body) and hand it to on_request */
    HTTP_SERVER_BODY_STREAM,     /* hand each slice to on_body; on_request at the end */
    HTTP_SERVER_BODY_REJECT,     /* the handler already responded from on_head */
};

struct http_server_callbacks {
    void *ud;
    /* Optional. The head is in: choose how to take the body. May respond at once (then return
     * HTTP_SERVER_BODY_REJECT). NULL: always buffer. */
    enum http_server_body_mode (*on_head)(struct http_server_req *req, void *ud);
    /* STREAM mode only: a slice of the body. Return 0, or a negative errno to abort the
     * connection (respond first if you want the client to see a status). */
    int (*on_body)(struct http_server_req *req, const char *data, size_t len, void *ud);
    /* The request is complete. Respond now or later with http_server_respond(). */
    void (*on_request)(struct http_server_req *req, void *ud);
    /* Optional. The connection closed before a request that reached on_request (or on_head with
     * STREAM) was answered. <req> is freed right after: drop every reference to it. */
    void (*on_abort)(struct http_server_req *req, void *ud);
};

struct http_server_conf {
    size_t max_body;           /* buffered body limit, 0: 1 MiB; beyond → 413 */
    uint64_t idle_timeout_ms;  /* keep-alive connection without a request, 0: 30 s */
    uint64_t read_timeout_ms;  /* no byte for this long while reading a request (408), 0: 30 s */
    size_t max_connections;    /* beyond: accept and close at once, 0: 1024 */
    int backlog;               /* listen(2) backlog, 0: 1024 */
    const char *tls_cert_file; /* PEM; NULL with tls_key_file NULL: plain HTTP */
    const char *tls_key_file;  /* PEM */
    const char *log_comp;      /* name in log lines ("api"), NULL: "http" */
};

/* A server that will call <cb> (copied) on <loop>. <conf> is copied (strings borrowed for the
 * life of the server). With TLS configured, loads the certificate and key now: returns -EINVAL
 * with the reason in <err> if they do not load or match. */
int http_server_new(struct http_server **out, uv_loop_t *loop, const struct http_server_conf *conf,
                    const struct http_server_callbacks *cb, struct err *err);
/* Binds and listens on <a> (TCP, port 0 picks one, or unix: a stale socket file is replaced,
 * any other file is left alone and the bind fails). Returns 0 or a negative errno with "<addr>:
 * <reason>" in <err>. */
int http_server_listen(struct http_server *s, const struct addr *a, struct err *err);
/* The bound TCP port (after listen), 0 for unix sockets. */
int http_server_port(const struct http_server *s);
/* Stops listening and closes every connection (aborting requests in flight); calls <done> (may
 * be NULL) once every handle is closed, then the server frees itself. */
void http_server_close(struct http_server *s, void (*done)(void *arg), void *arg);

/* ---- request accessors (valid from on_head until respond/abort) ---- */

const struct http1_head *http_server_req_head(const struct http_server_req *r);
const char *http_server_req_method(const struct http_server_req *r);
/* The path without the query, percent-decoding not applied. Never NULL. */
const char *http_server_req_path(const struct http_server_req *r);
/* The value of query parameter <name> (percent-decoded) copied into <buf> (<size>), or NULL
 * when absent. */
const char *http_server_req_query(const struct http_server_req *r, const char *name, char *buf,
                                  size_t size);
/* First header called <name> (case-insensitive) or NULL. */
const char *http_server_req_header(const struct http_server_req *r, const char *name);
/* The buffered body (BUFFER mode; NUL-terminated) and its length. */
const char *http_server_req_body(const struct http_server_req *r, size_t *len);
/* The peer's address text ("127.0.0.1:53122", "unix"). */
const char *http_server_req_peer(const struct http_server_req *r);
void http_server_req_set_data(struct http_server_req *r, void *data);
void *http_server_req_data(const struct http_server_req *r);

/* Adds a response header (copied) before http_server_respond. */
void http_server_req_add_header(struct http_server_req *r, const char *name, const char *value);
/* Answers <r> with <status>, <content_type> (NULL: none) and <body> (<len> bytes, copied).
 * Ends the request: <r> must not be used afterwards. Safe to call from any loop callback. */
void http_server_respond(struct http_server_req *r, int status, const char *content_type,
                         const char *body, size_t len);
/* Same, but takes ownership of the malloc'd <body>. */
void http_server_respond_take(struct http_server_req *r, int status, const char *content_type,
                              char *body, size_t len);

/* Answers with the next <size> bytes of <fd> as the body, streamed in chunks as the socket
 * drains (a large bundle never sits in memory). Takes <fd> (closed when sent or on close). */
void http_server_respond_fd(struct http_server_req *r, int status, const char *content_type, int fd,
                            uint64_t size);

#endif /* COMMON_HTTP_SERVER_H */
