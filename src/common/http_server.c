/* SPDX-License-Identifier: ISC */
/* HTTP/1.1 API server: one struct hs_conn per client connection.
 *
 *   READING ──request complete──▶ HANDLING ──respond──▶ WRITING ──written, keep-alive──▶ READING
 *      └──────── peer closed, error, timeout, not keep-alive (any state) ─────────▶ CLOSING ─▶
 * freed
 *
 * TLS: ciphertext from the socket goes into a memory BIO, SSL_read yields plaintext for the
 * HTTP parser; responses go through SSL_write into the other memory BIO, which is drained to
 * the socket. The handshake runs the same way (SSL_read drives it). */
#include "common/http_server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"

enum hs_state {
    HS_READING = 0, /* waiting for (the rest of) a request */
    HS_HANDLING,    /* request handed to the handler, no response yet */
    HS_WRITING,     /* response queued on the socket */
    HS_CLOSING,     /* handles closing; no new work */
};

static const struct {
    const char *name;
} state_info[] = {
    [HS_READING] = {"reading"},
    [HS_HANDLING] = {"handling"},
    [HS_WRITING] = {"writing"},
    [HS_CLOSING] = {"closing"},
};

#define HS_MAX_PENDING_INPUT (256 * 1024) /* bytes kept while a request is handled */
#define HS_FEED_SLICE (16 * 1024)         /* bytes handed to the parser per call */
#define HS_MIN(a, b) ((a) < (b) ? (a) : (b))

struct http_server_req {
    struct hs_conn *conn;          /* borrowed: owner */
    const struct http1_head *head; /* borrowed: the parser's arena (paused until respond) */
    enum http_server_body_mode mode;
    struct buf body;    /* BUFFER mode */
    struct buf headers; /* extra response headers, "Name: value\r\n" each */
    char *path;         /* owned: the target up to '?' */
    void *data;         /* the handler's */
    bool is_dispatched; /* on_request (or STREAM on_head) ran: on_abort is owed */
    bool too_large;     /* body over max_body: 413 once complete */
};

struct hs_conn {
    struct http_server *srv; /* borrowed */
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    uv_timer_t timer;
    enum hs_state state;
    struct http1_parser *parser; /* owned */
    struct http_server_req *req; /* owned: the request being read or handled, or NULL */
    struct buf pending;          /* plaintext received while handling, fed after the response */
    size_t pending_off;          /* bytes of <pending> already fed (compacted lazily: a flood
                                  * of pipelined requests must not memmove per request) */
    bool keep_alive;             /* of the request being answered */
    bool peer_closed;
    bool is_paused;     /* reading stopped: too much pipelined input while handling */
    int file_fd;        /* owned: file body being sent (respond_fd), or -1 */
    uint64_t file_left; /* its bytes still to send */
    SSL *ssl;           /* owned, NULL without TLS */
    BIO *rbio, *wbio;
    char peer[ADDR_TEXT_MAX];
    int pending_closes;
    struct hs_conn *next, *prev; /* server's list */
};

struct http_server {
    uv_loop_t *loop;
    struct http_server_conf conf;
    struct http_server_callbacks cb;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t handle;
        uv_stream_t stream;
    } listener;
    bool is_listening;
    bool is_unix;
    bool is_closing;
    SSL_CTX *ssl_ctx; /* owned, NULL without TLS */
    struct hs_conn *conns;
    size_t nconns;
    void (*done)(void *arg);
    void *done_arg;
};

enum hs_write_kind {
    HS_WRITE_MORE = 0, /* part of a response, or TLS handshake records */
    HS_WRITE_LAST,     /* the end of the response */
    HS_WRITE_FILE,     /* a chunk of a file body: its completion sends the next one */
};

struct hs_write {
    uv_write_t req;
    struct hs_conn *conn;
    char *data; /* owned */
    enum hs_write_kind kind;
};

#define HS_FILE_CHUNK (256 * 1024)

static void conn_close(struct hs_conn *c, const char *why);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);
static void send_file_chunk(struct hs_conn *c);
static void on_timer(uv_timer_t *t);
static void conn_process(struct hs_conn *c);
static void server_maybe_done(struct http_server *s);

static void conn_log(const struct hs_conn *c, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_log(const struct hs_conn *c, enum log_level level, const char *fmt, ...)
{
    char ctx[192];
    va_list ap;

    if (!log_enabled(level))
        return;
    snprintf(ctx, sizeof(ctx), "comp=%s peer=%s state=%s",
             c->srv->conf.log_comp != NULL ? c->srv->conf.log_comp : "http", c->peer,
             state_info[c->state].name);
    va_start(ap, fmt);
    log_writev(level, ctx, fmt, ap);
    va_end(ap);
}

static void
conn_enter(struct hs_conn *c, enum hs_state next)
{
    ASSERT(c->state != HS_CLOSING);
    c->state = next;
    switch (next) {
    case HS_READING:
        uv_timer_start(&c->timer, on_timer, c->srv->conf.idle_timeout_ms, 0);
        break;
    case HS_HANDLING:
    case HS_WRITING:
        uv_timer_stop(&c->timer);
        break;
    case HS_CLOSING:
        break;
    }
}

/* ---- requests ---- */

static struct http_server_req *
req_new(struct hs_conn *c)
{
    struct http_server_req *r = mem_calloc(1, sizeof(*r));

    r->conn = c;
    buf_init(&r->body);
    buf_init(&r->headers);
    return r;
}

static void
req_free(struct http_server_req *r)
{
    if (r == NULL)
        return;
    buf_fini(&r->body);
    buf_fini(&r->headers);
    free(r->path);
    free(r);
}

/* Forgets the connection's request, telling the handler if it holds it. */
static void
drop_req(struct hs_conn *c)
{
    struct http_server_req *r = c->req;

    c->req = NULL;
    if (r != NULL && r->is_dispatched && c->srv->cb.on_abort != NULL)
        c->srv->cb.on_abort(r, c->srv->cb.ud);
    req_free(r);
}

/* ---- output ---- */

static void
on_written(uv_write_t *wr, int status)
{
    struct hs_write *w = wr->data;
    struct hs_conn *c = w->conn;
    enum hs_write_kind kind = w->kind;

    free(w->data);
    free(w);
    if (c->state == HS_CLOSING)
        return;
    if (status < 0) {
        conn_close(c, uv_strerror(status));
        return;
    }
    if (kind == HS_WRITE_FILE) {
        send_file_chunk(c);
        return;
    }
    if (kind != HS_WRITE_LAST)
        return;
    if (!c->keep_alive || c->peer_closed || c->srv->is_closing) {
        conn_close(c, "response sent");
        return;
    }
    conn_enter(c, HS_READING);
    if (c->is_paused) {
        c->is_paused = false;
        uv_read_start(&c->h.stream, on_alloc, on_read);
    }
    conn_process(c);
}

static void
write_raw(struct hs_conn *c, char *data, size_t len, enum hs_write_kind kind)
{
    struct hs_write *w = mem_calloc(1, sizeof(*w));
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rc;

    w->req.data = w;
    w->conn = c;
    w->data = data;
    w->kind = kind;
    if ((rc = uv_write(&w->req, &c->h.stream, &b, 1, on_written)) < 0) {
        free(w->data);
        free(w);
        conn_close(c, uv_strerror(rc));
    }
}

/* Moves whatever TLS produced (handshake records, encrypted data) to the socket. */
static void
flush_tls(struct hs_conn *c, enum hs_write_kind kind)
{
    size_t pending = BIO_ctrl_pending(c->wbio);
    char *out;
    int n;

    if (pending == 0) {
        if (kind != HS_WRITE_MORE) /* nothing to send but the step is done: an empty write */
            write_raw(c, mem_strdup(""), 0, kind);
        return;
    }
    out = mem_alloc(pending);
    n = BIO_read(c->wbio, out, (int)pending);
    if (n <= 0) {
        free(out);
        conn_close(c, "tls: cannot read the output bio");
        return;
    }
    write_raw(c, out, (size_t)n, kind);
}

static void
send_bytes(struct hs_conn *c, char *data, size_t len, enum hs_write_kind kind)
{
    if (c->ssl == NULL) {
        write_raw(c, data, len, kind);
        return;
    }
    for (size_t off = 0; off < len;) {
        int n = SSL_write(c->ssl, data + off, (int)(len - off));

        if (n <= 0) {
            free(data);
            conn_close(c, "tls: write failed");
            return;
        }
        off += (size_t)n;
    }
    free(data);
    flush_tls(c, kind);
}

static void
send_response(struct hs_conn *c, int status, const char *ctype, const char *extra, char *body,
              size_t len)
{
    struct buf out;

    buf_init(&out);
    buf_appendf(&out, "HTTP/1.1 %d %s\r\n", status, http1_status_reason(status));
    if (ctype != NULL)
        buf_appendf(&out, "Content-Type: %s\r\n", ctype);
    buf_appendf(&out, "Content-Length: %zu\r\n", len);
    if (!c->keep_alive || c->srv->is_closing)
        buf_append_str(&out, "Connection: close\r\n");
    if (extra != NULL)
        buf_append_str(&out, extra);
    buf_append_str(&out, "\r\n");
    if (len > 0)
        buf_append(&out, body, len);
    free(body);
    len = out.len;
    send_bytes(c, buf_take(&out), len, HS_WRITE_LAST);
}

/* The next chunk of a respond_fd body; the last one ends the response. Reads block the loop
 * briefly (a bundle is in the page cache right after its upload). */
static void
send_file_chunk(struct hs_conn *c)
{
    size_t want = c->file_left < HS_FILE_CHUNK ? (size_t)c->file_left : HS_FILE_CHUNK;
    char *chunk = mem_alloc(want > 0 ? want : 1);
    ssize_t n = want > 0 ? read(c->file_fd, chunk, want) : 0;

    if (n < 0 || (n == 0 && want > 0)) {
        free(chunk);
        conn_close(c, "file body: read failed or the file shrank");
        return;
    }
    c->file_left -= (uint64_t)n;
    if (c->file_left == 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    send_bytes(c, chunk, (size_t)n, c->file_left == 0 ? HS_WRITE_LAST : HS_WRITE_FILE);
}

/* An error the connection answers itself (bad request, 413, timeouts): then closes. */
static void
respond_and_close(struct hs_conn *c, int status, const char *reason)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", reason);

    conn_log(c, LOG_DEBUG, "answering %d: %s", status, reason);
    c->keep_alive = false;
    drop_req(c);
    conn_enter(c, HS_WRITING);
    send_response(c, status, "application/json", NULL, mem_memdup(body, (size_t)n), (size_t)n);
}

void
http_server_respond_take(struct http_server_req *r, int status, const char *content_type,
                         char *body, size_t len)
{
    struct hs_conn *c = r->conn;
    char *extra = r->headers.len > 0 ? r->headers.data : NULL;

    ASSERT(c->req == r && (c->state == HS_HANDLING || c->state == HS_READING));
    if (c->state == HS_READING) /* from on_head/on_body: the rest of the body is not read */
        c->keep_alive = false;
    conn_enter(c, HS_WRITING);
    if (body == NULL)
        len = 0;
    send_response(c, status, content_type, extra, body, len);
    c->req = NULL;
    req_free(r);
}

void
http_server_respond_fd(struct http_server_req *r, int status, const char *content_type, int fd,
                       uint64_t size)
{
    struct hs_conn *c = r->conn;
    struct buf out;
    size_t len;

    ASSERT(c->req == r && c->state == HS_HANDLING);
    conn_enter(c, HS_WRITING);
    buf_init(&out);
    buf_appendf(&out, "HTTP/1.1 %d %s\r\n", status, http1_status_reason(status));
    if (content_type != NULL)
        buf_appendf(&out, "Content-Type: %s\r\n", content_type);
    buf_appendf(&out, "Content-Length: %llu\r\n", (unsigned long long)size);
    if (!c->keep_alive || c->srv->is_closing)
        buf_append_str(&out, "Connection: close\r\n");
    if (r->headers.len > 0)
        buf_append_str(&out, r->headers.data);
    buf_append_str(&out, "\r\n");
    c->req = NULL;
    req_free(r);
    c->file_fd = fd;
    c->file_left = size;
    len = out.len;
    send_bytes(c, buf_take(&out), len, HS_WRITE_FILE); /* its completion sends the body */
}

void
http_server_respond(struct http_server_req *r, int status, const char *content_type,
                    const char *body, size_t len)
{
    http_server_respond_take(r, status, content_type, len > 0 ? mem_memdup(body, len) : NULL, len);
}

/* ---- parser callbacks ---- */

static int
on_head(void *ud, struct http1_head *head)
{
    struct hs_conn *c = ud;
    struct http_server *s = c->srv;
    struct http_server_req *r = req_new(c);
    enum http_server_body_mode mode;

    c->req = r;
    r->head = head;
    r->path = mem_strndup(head->target, strcspn(head->target, "?"));
    c->keep_alive = head->keep_alive;
    mode = s->cb.on_head != NULL ? s->cb.on_head(r, s->cb.ud) : HTTP_SERVER_BODY_BUFFER;
    if (mode == HTTP_SERVER_BODY_REJECT) {
        ASSERT(c->req == NULL); /* the handler responded, which freed <r> */
        return HTTP1_ABORT;
    }
    r->mode = mode;
    if (r->mode == HTTP_SERVER_BODY_BUFFER && head->framing == HTTP1_BODY_LENGTH &&
        head->content_length > s->conf.max_body) {
        r->too_large = true;
        return HTTP1_ABORT;
    }
    if (r->mode == HTTP_SERVER_BODY_STREAM)
        r->is_dispatched = true;
    if (head->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        send_bytes(c, mem_strdup(cont), sizeof(cont) - 1, HS_WRITE_MORE);
    }
    return HTTP1_OK;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct hs_conn *c = ud;
    struct http_server_req *r = c->req;

    if (r->mode == HTTP_SERVER_BODY_STREAM)
        return c->srv->cb.on_body(r, data, len, c->srv->cb.ud) == 0 ? HTTP1_OK : HTTP1_ABORT;
    if (r->body.len + len > c->srv->conf.max_body) {
        r->too_large = true;
        return HTTP1_ABORT;
    }
    buf_append(&r->body, data, len);
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t ntrailers)
{
    struct hs_conn *c = ud;
    struct http_server_req *r = c->req;

    (void)trailers;
    (void)ntrailers;
    conn_enter(c, HS_HANDLING);
    r->is_dispatched = true;
    c->srv->cb.on_request(r, c->srv->cb.ud);
    return HTTP1_PAUSE; /* one request at a time: resume once answered */
}

static const struct http1_callbacks parser_cb = {
    .on_head = on_head,
    .on_body = on_body,
    .on_complete = on_complete,
};

/* Feeds buffered plaintext to the parser while the connection is reading. */
static void
conn_process(struct hs_conn *c)
{
    while (c->state == HS_READING && c->pending.len > c->pending_off) {
        size_t used = 0;
        int rc;

        http1_parser_resume(c->parser);
        /* in slices: the parser looks at everything it is given, and a flood of pipelined
         * requests must cost linear time, not the whole backlog per request */
        rc = http1_parser_feed(c->parser, c->pending.data + c->pending_off,
                               HS_MIN(c->pending.len - c->pending_off, HS_FEED_SLICE), &used);
        if (c->state == HS_CLOSING)
            return;
        c->pending_off += used;
        if (c->pending_off == c->pending.len) {
            buf_reset(&c->pending);
            c->pending_off = 0;
        } else if (c->pending_off > 65536 && c->pending_off > c->pending.len / 2) {
            buf_consume(&c->pending, c->pending_off);
            c->pending_off = 0;
        }
        if (rc == -EPROTO) {
            respond_and_close(c, http1_parser_status(c->parser), http1_parser_reason(c->parser));
            return;
        }
        if (rc == -ECANCELED) {
            if (c->req != NULL && c->req->too_large)
                respond_and_close(c, 413, "request body too large");
            else if (c->req != NULL)
                conn_close(c, "handler aborted the body");
            else if (c->state == HS_READING)
                conn_close(c, "rejected");
            else
                c->keep_alive = false; /* rejected from on_head and answered: close after */
            return;
        }
        if (rc != HTTP1_PAUSE && used == 0)
            break; /* nothing taken (an upgrade's tunnel bytes): do not spin */
    }
    if (c->state == HS_READING && c->peer_closed) {
        if (http1_parser_in_message(c->parser))
            respond_and_close(c, 400, "connection closed mid-request");
        else
            conn_close(c, "peer closed");
    }
}

/* ---- input ---- */

static int
tls_decrypt(struct hs_conn *c, const char *data, size_t len)
{
    char plain[16384];
    int n;

    if (BIO_write(c->rbio, data, (int)len) != (int)len)
        return -EIO;
    while ((n = SSL_read(c->ssl, plain, sizeof(plain))) > 0)
        buf_append(&c->pending, plain, (size_t)n);
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        break;
    case SSL_ERROR_ZERO_RETURN:
        c->peer_closed = true;
        break;
    default:
        ERR_clear_error();
        return -EPROTO;
    }
    if (BIO_ctrl_pending(c->wbio) > 0)
        flush_tls(c, HS_WRITE_MORE);
    return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    b->base = mem_alloc(65536);
    b->len = 65536;
}

static void
handle_eof(struct hs_conn *c)
{
    c->peer_closed = true;
    uv_read_stop(&c->h.stream);
    switch (c->state) {
    case HS_READING:
        conn_process(c);
        break;
    case HS_HANDLING: /* the client gave up on a parked request */
        conn_close(c, "peer closed");
        break;
    case HS_WRITING: /* finish the response; on_written closes */
        break;
    case HS_CLOSING:
        break;
    }
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct hs_conn *c = stream->data;

    if (c->state == HS_CLOSING || nread == 0) {
        free(b->base);
        return;
    }
    if (nread < 0) {
        free(b->base);
        if (nread == UV_EOF)
            handle_eof(c);
        else
            conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (c->ssl != NULL) {
        int rc = tls_decrypt(c, b->base, (size_t)nread);

        free(b->base);
        if (rc != 0) {
            conn_close(c, "tls handshake or record error");
            return;
        }
    } else {
        buf_append(&c->pending, b->base, (size_t)nread);
        free(b->base);
    }
    if (c->state == HS_CLOSING)
        return;
    if (c->state == HS_READING) /* an inactivity timeout: a long upload that moves is fine */
        uv_timer_start(&c->timer, on_timer, c->srv->conf.read_timeout_ms, 0);
    if (c->pending.len - c->pending_off > HS_MAX_PENDING_INPUT && c->state != HS_READING) {
        uv_read_stop(&c->h.stream); /* pipelining flood while handling: back-pressure */
        c->is_paused = true;
    }
    if (c->peer_closed && c->state == HS_HANDLING) {
        conn_close(c, "peer closed");
        return;
    }
    conn_process(c);
}

/* ---- connection lifecycle ---- */

static void
on_timer(uv_timer_t *t)
{
    struct hs_conn *c = t->data;

    if (c->state != HS_READING)
        return;
    if (http1_parser_in_message(c->parser))
        respond_and_close(c, 408, "request timeout");
    else
        conn_close(c, "idle timeout");
}

static void
conn_free(struct hs_conn *c)
{
    struct http_server *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    http1_parser_free(c->parser);
    buf_fini(&c->pending);
    if (c->file_fd >= 0)
        close(c->file_fd);
    if (c->ssl != NULL)
        SSL_free(c->ssl); /* frees both BIOs */
    free(c);
    server_maybe_done(s);
}

static void
on_conn_handle_closed(uv_handle_t *h)
{
    struct hs_conn *c = h->data;

    if (--c->pending_closes == 0)
        conn_free(c);
}

static void
conn_close(struct hs_conn *c, const char *why)
{
    if (c->state == HS_CLOSING)
        return;
    conn_log(c, LOG_DEBUG, "closing: %s", why);
    c->state = HS_CLOSING;
    drop_req(c);
    c->pending_closes = 2;
    uv_close(&c->h.handle, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static int
conn_setup_tls(struct hs_conn *c)
{
    if ((c->ssl = SSL_new(c->srv->ssl_ctx)) == NULL)
        return -ENOMEM;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->rbio == NULL || c->wbio == NULL)
        mem_oom();
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    return 0;
}

static void
on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    struct hs_conn *c;
    struct http1_limits limits = {HTTP1_DEFAULT_MAX_HEAD_BYTES, HTTP1_DEFAULT_MAX_HEADERS};

    if (status < 0 || s->is_closing)
        return;
    c = mem_calloc(1, sizeof(*c));
    c->srv = s;
    c->file_fd = -1;
    if (s->is_unix)
        uv_pipe_init(s->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(s->loop, &c->h.tcp);
    uv_timer_init(s->loop, &c->timer);
    c->h.handle.data = c;
    c->timer.data = c;
    c->parser = http1_parser_new(HTTP1_REQUEST, &limits, &parser_cb, c);
    buf_init(&c->pending);
    snprintf(c->peer, sizeof(c->peer), "%s", s->is_unix ? "unix" : "?");
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, &c->h.stream) != 0 || s->nconns > s->conf.max_connections ||
        (s->ssl_ctx != NULL && conn_setup_tls(c) != 0)) {
        conn_close(c, "refused");
        return;
    }
    if (!s->is_unix) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        struct addr a;

        if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            addr_from_sockaddr(&a, (struct sockaddr *)&ss, (socklen_t)len);
            snprintf(c->peer, sizeof(c->peer), "%s", a.text);
        }
        uv_tcp_nodelay(&c->h.tcp, 1);
    }
    c->state = HS_READING;
    uv_timer_start(&c->timer, on_timer, s->conf.read_timeout_ms, 0);
    uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* ---- server ---- */

static int
tls_load(struct http_server *s, struct err *err)
{
    const char *cert = s->conf.tls_cert_file, *key = s->conf.tls_key_file;
    unsigned long e;
    char reason[200];

    if (cert == NULL && key == NULL)
        return 0;
    if (cert == NULL || key == NULL)
        return err_set(err, -EINVAL, "tls: both a certificate and a key are needed");
    s->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (s->ssl_ctx == NULL)
        mem_oom();
    SSL_CTX_set_min_proto_version(s->ssl_ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(s->ssl_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ssl_ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl_ctx) != 1) {
        e = ERR_get_error();
        ERR_error_string_n(e, reason, sizeof(reason));
        ERR_clear_error();
        return err_set(err, -EINVAL, "tls: %s / %s: %s", cert, key, reason);
    }
    return 0;
}

int
http_server_new(struct http_server **out, uv_loop_t *loop, const struct http_server_conf *conf,
                const struct http_server_callbacks *cb, struct err *err)
{
    struct http_server *s = mem_calloc(1, sizeof(*s));
    int rc;

    s->loop = loop;
    s->conf = *conf;
    s->cb = *cb;
    if (s->conf.max_body == 0)
        s->conf.max_body = 1024 * 1024;
    if (s->conf.idle_timeout_ms == 0)
        s->conf.idle_timeout_ms = 30000;
    if (s->conf.read_timeout_ms == 0)
        s->conf.read_timeout_ms = 30000;
    if (s->conf.max_connections == 0)
        s->conf.max_connections = 1024;
    if (s->conf.backlog == 0)
        s->conf.backlog = 1024; /* a fleet of agents reconnecting at once (the kernel caps it) */
    if ((rc = tls_load(s, err)) != 0) {
        SSL_CTX_free(s->ssl_ctx);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int
http_server_listen(struct http_server *s, const struct addr *a, struct err *err)
{
    int rc;

    s->is_unix = addr_is_unix(a);
    if (s->is_unix) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;

        uv_pipe_init(s->loop, &s->listener.pipe, 0);
        struct stat sb;

        if (lstat(sun->sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode)) /* left by a crash */
            (void)unlink(sun->sun_path);
        rc = uv_pipe_bind(&s->listener.pipe, sun->sun_path);
    } else {
        uv_tcp_init(s->loop, &s->listener.tcp);
        rc = uv_tcp_bind(&s->listener.tcp, (const struct sockaddr *)&a->ss, 0);
    }
    s->listener.handle.data = s;
    s->is_listening = true;
    if (rc == 0)
        rc = uv_listen(&s->listener.stream, s->conf.backlog, on_connection);
    if (rc != 0)
        return err_set(err, rc, "%s: %s", a->text, uv_strerror(rc));
    return 0;
}

int
http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    struct addr a;

    if (s->is_unix || !s->is_listening ||
        uv_tcp_getsockname(&s->listener.tcp, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    addr_from_sockaddr(&a, (struct sockaddr *)&ss, (socklen_t)len);
    return addr_port(&a);
}

static void
server_maybe_done(struct http_server *s)
{
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;

    if (!s->is_closing || s->nconns > 0 || s->is_listening)
        return;
    SSL_CTX_free(s->ssl_ctx);
    free(s);
    if (done != NULL)
        done(arg);
}

static void
on_listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;

    s->is_listening = false;
    server_maybe_done(s);
}

void
http_server_close(struct http_server *s, void (*done)(void *arg), void *arg)
{
    if (s->is_closing)
        return;
    s->is_closing = true;
    s->done = done;
    s->done_arg = arg;
    for (struct hs_conn *c = s->conns; c != NULL; c = c->next)
        conn_close(c, "server closing");
    if (s->is_listening)
        uv_close(&s->listener.handle, on_listener_closed);
    else
        server_maybe_done(s);
}

/* ---- accessors ---- */

const struct http1_head *
http_server_req_head(const struct http_server_req *r)
{
    return r->head;
}

const char *
http_server_req_method(const struct http_server_req *r)
{
    return r->head->method;
}

const char *
http_server_req_path(const struct http_server_req *r)
{
    return r->path;
}

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void
decode_into(const char *s, size_t n, char *buf, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            buf[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            buf[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    buf[o] = '\0';
}

const char *
http_server_req_query(const struct http_server_req *r, const char *name, char *buf, size_t size)
{
    const char *q = strchr(r->head->target, '?');
    size_t nlen = strlen(name);

    if (q == NULL || size == 0)
        return NULL;
    for (const char *p = q + 1; *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
            if (len == nlen)
                buf[0] = '\0';
            else
                decode_into(p + nlen + 1, len - nlen - 1, buf, size);
            return buf;
        }
        p += len + (end != NULL ? 1 : 0);
    }
    return NULL;
}

const char *
http_server_req_header(const struct http_server_req *r, const char *name)
{
    const struct http1_header *h = http1_head_get(r->head, name);

    return h != NULL ? h->value : NULL;
}

const char *
http_server_req_body(const struct http_server_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data != NULL ? r->body.data : "";
}

const char *
http_server_req_peer(const struct http_server_req *r)
{
    return r->conn->peer;
}

void
http_server_req_set_data(struct http_server_req *r, void *data)
{
    r->data = data;
}

void *
http_server_req_data(const struct http_server_req *r)
{
    return r->data;
}

void
http_server_req_add_header(struct http_server_req *r, const char *name, const char *value)
{
    buf_appendf(&r->headers, "%s: %s\r\n", name, value);
}
