/* SPDX-License-Identifier: ISC */
/* common/http_server on a real loop over 127.0.0.1: keep-alive and pipelining, query decoding,
 * body limits, streamed bodies, parked (long-poll) responses, abort when the client leaves,
 * malformed requests, and TLS with a certificate generated for the test. The clients run on a
 * thread with blocking sockets (or libcurl), the server on the test's loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http_fetch.h"
#include "common/http_server.h"
#include "common/str.h"

struct fixture {
    uv_loop_t loop;
    struct http_server *srv;
    int port;
    uv_async_t done;
    pthread_t thread;
    void (*client)(struct fixture *f);
    struct buf result;            /* written by the client thread, read after join */
    atomic_int parked;            /* requests parked by /hang */
    atomic_int aborts;            /* on_abort calls */
    struct http_server_req *late; /* /park: answered by the timer */
    uv_timer_t late_timer;
    char tmpdir[64];
    char cert[128], key[128];
};

/* ---- handler ---- */

static void
on_late(uv_timer_t *t)
{
    struct fixture *f = t->data;

    if (f->late != NULL)
        http_server_respond(f->late, 200, "text/plain", "late", 4);
    f->late = NULL;
}

static enum http_server_body_mode
on_head(struct http_server_req *r, void *ud)
{
    (void)ud;
    if (strcmp(http_server_req_path(r), "/stream") == 0) {
        http_server_req_set_data(r, calloc(1, sizeof(size_t)));
        return HTTP_SERVER_BODY_STREAM;
    }
    if (strcmp(http_server_req_path(r), "/reject") == 0) {
        http_server_respond(r, 403, NULL, NULL, 0);
        return HTTP_SERVER_BODY_REJECT;
    }
    return HTTP_SERVER_BODY_BUFFER;
}

static int
on_body(struct http_server_req *r, const char *data, size_t len, void *ud)
{
    size_t *n = http_server_req_data(r);

    (void)ud;
    (void)data;
    *n += len;
    return 0;
}

static void
on_request(struct http_server_req *r, void *ud)
{
    struct fixture *f = ud;
    const char *path = http_server_req_path(r);
    char q[64], out[256];
    size_t blen;
    const char *body = http_server_req_body(r, &blen);

    if (strcmp(path, "/echo") == 0) {
        int n = snprintf(out, sizeof(out), "%s %s q=%s body=%zu", http_server_req_method(r), path,
                         http_server_req_query(r, "x", q, sizeof(q)) ? q : "-", blen);

        (void)body;
        http_server_req_add_header(r, "X-Test", "yes");
        http_server_respond(r, 200, "text/plain", out, (size_t)n);
    } else if (strcmp(path, "/stream") == 0) {
        size_t *n = http_server_req_data(r);
        int len = snprintf(out, sizeof(out), "%zu", *n);

        free(n);
        http_server_respond(r, 200, "text/plain", out, (size_t)len);
    } else if (strcmp(path, "/park") == 0) {
        f->late = r;
        uv_timer_start(&f->late_timer, on_late, 50, 0);
    } else if (strcmp(path, "/file") == 0) {
        char tmpl[] = "/tmp/hs-file-XXXXXX";
        int fd = mkstemp(tmpl);
        char block[4096];

        unlink(tmpl);
        for (size_t i = 0; i < sizeof(block); i++)
            block[i] = (char)('a' + i % 26);
        for (int i = 0; i < 768; i++) /* 3 MiB */
            assert_int_equal(write(fd, block, sizeof(block)), sizeof(block));
        lseek(fd, 0, SEEK_SET);
        http_server_respond_fd(r, 200, "application/octet-stream", fd, 768 * 4096);
    } else if (strcmp(path, "/hang") == 0) {
        atomic_fetch_add(&f->parked, 1);
    } else {
        http_server_respond(r, 404, NULL, NULL, 0);
    }
}

static void
on_abort(struct http_server_req *r, void *ud)
{
    struct fixture *f = ud;

    if (strcmp(http_server_req_path(r), "/stream") == 0)
        free(http_server_req_data(r));
    atomic_fetch_add(&f->aborts, 1);
    uv_async_send(&f->done); /* the abort test waits for this */
}

/* ---- client side (thread) ---- */

static int
connect_local(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends <req> and reads until the server closes (bounded by SO_RCVTIMEO). */
static void
exchange(struct fixture *f, const char *req, size_t len)
{
    int fd = connect_local(f->port);
    char b[4096];
    ssize_t n;

    if (fd < 0)
        return;
    if (write(fd, req, len) == (ssize_t)len)
        while ((n = read(fd, b, sizeof(b))) > 0)
            buf_append(&f->result, b, (size_t)n);
    close(fd);
}

static void *
client_main(void *arg)
{
    struct fixture *f = arg;

    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void
on_done(uv_async_t *a)
{
    struct fixture *f = a->data;

    uv_stop(&f->loop);
}

static void
run_client(struct fixture *f, void (*client)(struct fixture *))
{
    f->client = client;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->thread, NULL);
}

/* ---- fixture ---- */

static void
start_server(struct fixture *f, const char *cert, const char *key)
{
    struct http_server_conf conf = {.max_body = 1024, .tls_cert_file = cert, .tls_key_file = key};
    struct http_server_callbacks cb = {.ud = f,
                                       .on_head = on_head,
                                       .on_body = on_body,
                                       .on_request = on_request,
                                       .on_abort = on_abort};
    struct err err = {0};
    struct addr a;

    assert_int_equal(addr_parse(&a, "127.0.0.1:1"), 0);
    ((struct sockaddr_in *)&a.ss)->sin_port = 0; /* any free port */
    assert_int_equal(http_server_new(&f->srv, &f->loop, &conf, &cb, &err), 0);
    assert_int_equal(http_server_listen(f->srv, &a, &err), 0);
    f->port = http_server_port(f->srv);
    assert_true(f->port > 0);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    uv_timer_init(&f->loop, &f->late_timer);
    f->late_timer.data = f;
    buf_init(&f->result);
    *state = f;
    return 0;
}

static void
on_server_closed(void *arg)
{
    *(int *)arg = 1;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    int closed = 0;

    if (f->srv != NULL)
        http_server_close(f->srv, on_server_closed, &closed);
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_close((uv_handle_t *)&f->late_timer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, f->srv != NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    buf_fini(&f->result);
    free(f);
    return 0;
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- tests ---- */

static void
client_pipelined(struct fixture *f)
{
    static const char req[] = "GET /echo?x=a%20b+c HTTP/1.1\r\nHost: t\r\n\r\n"
                              "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    exchange(f, req, sizeof(req) - 1);
}

static void
keep_alive_answers_pipelined_requests_in_order(void **state)
{
    struct fixture *f = *state;
    const char *r;

    start_server(f, NULL, NULL);
    run_client(f, client_pipelined);
    r = f->result.data != NULL ? f->result.data : "";
    assert_int_equal(count(r, "HTTP/1.1 200 OK"), 3);
    assert_non_null(strstr(r, "GET /echo q=a b c body=0"));
    assert_non_null(strstr(r, "POST /echo q=- body=5"));
    assert_true(strstr(r, "q=a b c") < strstr(r, "POST /echo q=-"));
    assert_int_equal(count(r, "X-Test: yes\r\n"), 3);
    assert_int_equal(count(r, "Connection: close"), 1);
}

static void
client_too_large(struct fixture *f)
{
    static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n";

    exchange(f, req, sizeof(req) - 1);
}

static void
body_over_the_limit_is_413(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_too_large);
    assert_non_null(f->result.data);
    assert_true(strncmp(f->result.data, "HTTP/1.1 413 ", 13) == 0);
}

static void
client_stream(struct fixture *f)
{
    struct http_fetch_opts o = {.method = "POST", .timeout_ms = 5000, .out_fd = -1};
    struct http_fetch_response resp = {0};
    struct err err = {0};
    char url[64];
    size_t len = 300 * 1024;
    char *body = calloc(1, len);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/stream", f->port);
    o.url = url;
    o.body = body;
    o.body_len = len;
    if (http_fetch_do(&o, &resp, &err) == 0) {
        buf_appendf(&f->result, "%ld %s", resp.status, resp.body.data);
        http_fetch_response_fini(&resp);
    }
    free(body);
}

static void
streamed_body_passes_the_buffer_limit(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_stream);
    assert_non_null(f->result.data);
    assert_string_equal(f->result.data, "200 307200");
}

static void
client_park(struct fixture *f)
{
    static const char req[] = "GET /park HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                              "GET /reject HTTP/1.1\r\nHost: t\r\n\r\n";

    exchange(f, req, sizeof(req) - 1);
}

static void
parked_request_is_answered_later(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_park);
    assert_non_null(f->result.data);
    assert_non_null(strstr(f->result.data, "200 OK"));
    assert_non_null(strstr(f->result.data, "\r\n\r\nlate"));
    assert_null(strstr(f->result.data, "403")); /* closed after the first: no second answer */
}

static void
client_reject(struct fixture *f)
{
    static const char req[] = "POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
                              "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";

    exchange(f, req, sizeof(req) - 1);
}

static void
handler_can_answer_from_the_head_and_the_connection_closes(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_reject);
    assert_non_null(f->result.data);
    assert_true(strncmp(f->result.data, "HTTP/1.1 403 ", 13) == 0);
    assert_non_null(strstr(f->result.data, "Connection: close"));
    assert_int_equal(count(f->result.data, "HTTP/1.1"), 1); /* the unread body ends the conn */
}

static void
client_hang_then_leave(struct fixture *f)
{
    static const char req[] = "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = connect_local(f->port);

    if (fd < 0 || write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        return;
    for (int i = 0; i < 500 && atomic_load(&f->parked) == 0; i++) /* bounded: 5 s */
        usleep(10000);
    close(fd);
}

static void
client_leaving_aborts_its_parked_request(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    f->client = client_hang_then_leave;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
    while (atomic_load(&f->aborts) == 0 && uv_run(&f->loop, UV_RUN_ONCE) != 0)
        ;
    pthread_join(f->thread, NULL);
    assert_int_equal(atomic_load(&f->parked), 1);
    assert_int_equal(atomic_load(&f->aborts), 1);
}

static void
client_garbage(struct fixture *f)
{
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n";

    exchange(f, req, sizeof(req) - 1);
}

static void
malformed_request_is_400_and_closed(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_garbage);
    assert_non_null(f->result.data);
    assert_true(strncmp(f->result.data, "HTTP/1.1 400 ", 13) == 0);
    assert_non_null(strstr(f->result.data, "Connection: close"));
}

static void
client_unix(struct fixture *f)
{
    struct http_fetch_opts o = {.method = "GET",
                                .timeout_ms = 5000,
                                .out_fd = -1,
                                .url = "http://localhost/echo?x=unix",
                                .unix_path = f->cert};
    struct http_fetch_response resp = {0};
    struct err err = {0};

    if (http_fetch_do(&o, &resp, &err) == 0) {
        buf_appendf(&f->result, "%ld %s", resp.status, resp.body.data);
        http_fetch_response_fini(&resp);
    } else {
        buf_appendf(&f->result, "error %s", err.msg);
    }
}

static void
unix_socket_serves_and_replaces_a_stale_socket_file(void **state)
{
    struct fixture *f = *state;
    struct http_server_conf conf = {0};
    struct http_server_callbacks cb = {.ud = f, .on_request = on_request};
    struct err err = {0};
    char spec[160];
    struct addr a;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/hs-unix-XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    snprintf(f->cert, sizeof(f->cert), "%s/api.sock", f->tmpdir); /* the socket path */
    str_copy(sun.sun_path, f->cert, sizeof(sun.sun_path));        /* a socket left by a crash */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    snprintf(spec, sizeof(spec), "unix:%s", f->cert);
    assert_int_equal(addr_parse(&a, spec), 0);
    assert_int_equal(http_server_new(&f->srv, &f->loop, &conf, &cb, &err), 0);
    assert_int_equal(http_server_listen(f->srv, &a, &err), 0);
    assert_int_equal(http_server_port(f->srv), 0);
    run_client(f, client_unix);
    assert_non_null(f->result.data);
    assert_string_equal(f->result.data, "200 GET /echo q=unix body=0");
    unlink(f->cert);
    rmdir(f->tmpdir);
}

static void
client_file(struct fixture *f)
{
    struct http_fetch_opts o = {.method = "GET", .timeout_ms = 10000, .out_fd = -1};
    struct http_fetch_response resp = {0};
    struct err err = {0};
    char url[64];
    size_t bad = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/file", f->port);
    o.url = url;
    if (http_fetch_do(&o, &resp, &err) != 0)
        return;
    for (size_t i = 0; i < resp.body.len; i++)
        bad += resp.body.data[i] != (char)('a' + (i % 4096) % 26);
    buf_appendf(&f->result, "%ld %zu %zu", resp.status, resp.body.len, bad);
    http_fetch_response_fini(&resp);
}

static void
file_body_is_streamed_whole(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_file);
    assert_non_null(f->result.data);
    assert_string_equal(f->result.data, "200 3145728 0");
}

/* Writes <out> while reading everything back (poll), so neither side's buffers deadlock. */
static void
exchange_duplex(struct fixture *f, const char *out, size_t len)
{
    int fd = connect_local(f->port);
    size_t off = 0;
    char b[65536];

    time_t deadline = time(NULL) + 20;

    if (fd < 0)
        return;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int rounds = 0; rounds < 100000 && time(NULL) < deadline; rounds++) { /* bounded */
        struct pollfd p = {.fd = fd, .events = POLLIN | (off < len ? POLLOUT : 0)};
        ssize_t n;

        if (poll(&p, 1, 5000) <= 0)
            break;
        if ((p.revents & POLLOUT) && (n = write(fd, out + off, len - off)) > 0)
            off += (size_t)n;
        if (p.revents & (POLLIN | POLLHUP)) {
            if ((n = read(fd, b, sizeof(b))) <= 0)
                break;
            buf_append(&f->result, b, (size_t)n);
        }
    }
    close(fd);
}

#define FLOOD_REQUESTS 400 /* × ~1 KiB: more pipelined input than the pause threshold */

static void
client_flood(struct fixture *f)
{
    char pad[1001];
    struct buf out;

    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    buf_init(&out);
    for (int i = 0; i < FLOOD_REQUESTS; i++)
        buf_appendf(&out, "GET /echo HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\n%s\r\n", pad,
                    i == FLOOD_REQUESTS - 1 ? "Connection: close\r\n" : "");
    exchange_duplex(f, out.data, out.len);
    buf_fini(&out);
}

static void
pipelining_flood_is_paused_and_resumed_not_dropped(void **state)
{
    struct fixture *f = *state;

    start_server(f, NULL, NULL);
    run_client(f, client_flood);
    assert_non_null(f->result.data);
    assert_int_equal(count(f->result.data, "HTTP/1.1 200 OK"), FLOOD_REQUESTS);
}

/* ---- TLS ---- */

static void
write_self_signed(struct fixture *f)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    FILE *fp;

    assert_non_null(pkey);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->tmpdir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->tmpdir);
    assert_non_null(fp = fopen(f->cert, "w"));
    PEM_write_X509(fp, x);
    fclose(fp);
    assert_non_null(fp = fopen(f->key, "w"));
    PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static void
client_tls(struct fixture *f)
{
    struct http_fetch_opts o = {
        .method = "POST", .timeout_ms = 5000, .cafile = f->cert, .out_fd = -1};
    struct http_fetch_response resp = {0};
    struct err err = {0};
    char url[64];

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo?x=tls", f->port);
    o.url = url;
    o.body = "{}";
    o.body_len = 2;
    if (http_fetch_do(&o, &resp, &err) == 0) {
        buf_appendf(&f->result, "%ld %s", resp.status, resp.body.data);
        http_fetch_response_fini(&resp);
    } else {
        buf_appendf(&f->result, "error %s", err.msg);
    }
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/file", f->port);
    o.method = "GET";
    o.body = NULL;
    o.body_len = 0;
    if (http_fetch_do(&o, &resp, &err) == 0) { /* a streamed file body through TLS */
        buf_appendf(&f->result, " file=%zu", resp.body.len);
        http_fetch_response_fini(&resp);
    }
    /* a plain-HTTP client gets no answer: the handshake fails and the server closes */
    exchange(f, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 32);
}

static void
tls_serves_https_with_the_configured_certificate(void **state)
{
    struct fixture *f = *state;

    snprintf(f->tmpdir, sizeof(f->tmpdir), "/tmp/hs-test-XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    write_self_signed(f);
    start_server(f, f->cert, f->key);
    run_client(f, client_tls);
    assert_non_null(f->result.data);
    assert_string_equal(f->result.data, "200 POST /echo q=tls body=2 file=3145728");
    unlink(f->cert);
    unlink(f->key);
    rmdir(f->tmpdir);
}

static void
tls_with_a_missing_key_fails_at_start(void **state)
{
    struct fixture *f = *state;
    struct http_server_conf conf = {.tls_cert_file = "/nonexistent/c.pem",
                                    .tls_key_file = "/nonexistent/k.pem"};
    struct http_server_callbacks cb = {.ud = f, .on_request = on_request};
    struct err err = {0};
    struct http_server *s = NULL;

    assert_int_equal(http_server_new(&s, &f->loop, &conf, &cb, &err), -EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/nonexistent/c.pem"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keep_alive_answers_pipelined_requests_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(body_over_the_limit_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(streamed_body_passes_the_buffer_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(parked_request_is_answered_later, setup, teardown),
        cmocka_unit_test_setup_teardown(file_body_is_streamed_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelining_flood_is_paused_and_resumed_not_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(handler_can_answer_from_the_head_and_the_connection_closes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(client_leaving_aborts_its_parked_request, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_request_is_400_and_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(unix_socket_serves_and_replaces_a_stale_socket_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tls_serves_https_with_the_configured_certificate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tls_with_a_missing_key_fails_at_start, setup, teardown),
    };

    http_fetch_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
