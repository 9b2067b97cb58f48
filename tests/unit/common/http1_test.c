/* SPDX-License-Identifier: ISC */
/* common/http1: every request-smuggling vector is refused with the right status; ordinary
 * messages (keep-alive, pipelining, chunked split anywhere, trailers, upgrade) parse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/http1.h"

/* What the callbacks saw. */
struct rec {
    int heads;
    int completes;
    char method[16];
    char target[64];
    char host[64];
    int status;
    enum http1_framing framing;
    uint64_t content_length;
    bool keep_alive;
    bool upgrade;
    bool expect_continue;
    size_t nheaders;
    char body[512];
    size_t body_len;
    char trailer[128]; /* "name=value;" for each trailer */
    int complete_ret;  /* what on_complete returns */
    int head_ret;      /* what on_head returns */
};

static int
on_head(void *ud, struct http1_head *h)
{
    struct rec *r = ud;

    r->heads++;
    snprintf(r->method, sizeof(r->method), "%s", h->method != NULL ? h->method : "");
    snprintf(r->target, sizeof(r->target), "%s", h->target != NULL ? h->target : "");
    snprintf(r->host, sizeof(r->host), "%s", h->host != NULL ? h->host : "(null)");
    r->status = h->status;
    r->framing = h->framing;
    r->content_length = h->content_length;
    r->keep_alive = h->keep_alive;
    r->upgrade = h->upgrade;
    r->expect_continue = h->expect_continue;
    r->nheaders = h->nheaders;
    return r->head_ret;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct rec *r = ud;

    assert_true(r->body_len + len < sizeof(r->body));
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t n)
{
    struct rec *r = ud;

    r->completes++;
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(r->trailer);
        snprintf(r->trailer + used, sizeof(r->trailer) - used, "%s=%s;", trailers[i].name,
                 trailers[i].value);
    }
    return r->complete_ret;
}

static const struct http1_callbacks cbs = {on_head, on_body, on_complete};

/* Feeds <in> in one call. */
static int
feed_all(struct http1_parser *p, const char *in, size_t len, size_t *consumed)
{
    return http1_parser_feed(p, in, len, consumed);
}

/* Feeds <in> one byte at a time; stops at the first non-zero return. */
static int
feed_bytes(struct http1_parser *p, const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t used;
        int rc = http1_parser_feed(p, in + i, 1, &used);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* <in> must be refused with <status>, whole and byte by byte. */
static void
assert_refused_kind(enum http1_kind kind, const char *in, size_t len, int status)
{
    struct rec r;
    struct http1_parser *p;
    size_t used;
    int rc;

    memset(&r, 0, sizeof(r));
    p = http1_parser_new(kind, NULL, &cbs, &r);
    rc = feed_all(p, in, len, &used);
    if (rc == 0)
        rc = http1_parser_finish(p);
    if (rc != -EPROTO || http1_parser_status(p) != status)
        fail_msg("whole: rc=%d status=%d reason=%s for %s", rc, http1_parser_status(p),
                 http1_parser_reason(p), in);
    assert_true(strlen(http1_parser_reason(p)) > 0);
    if (getenv("HTTP1_TEST_VERBOSE") != NULL)
        print_message("%d %s\n", http1_parser_status(p), http1_parser_reason(p));
    assert_int_equal(http1_parser_feed(p, "x", 1, &used), -EPROTO); /* sticky */
    http1_parser_free(p);

    memset(&r, 0, sizeof(r));
    p = http1_parser_new(kind, NULL, &cbs, &r);
    rc = feed_bytes(p, in, len);
    if (rc == 0)
        rc = http1_parser_finish(p);
    if (rc != -EPROTO || http1_parser_status(p) != status)
        fail_msg("bytewise: rc=%d status=%d reason=%s for %s", rc, http1_parser_status(p),
                 http1_parser_reason(p), in);
    http1_parser_free(p);
}

#define REFUSED(in, status) assert_refused_kind(HTTP1_REQUEST, in, sizeof(in) - 1, status)
#define REFUSED_RESPONSE(in, status) assert_refused_kind(HTTP1_RESPONSE, in, sizeof(in) - 1, status)

/* ---- smuggling vectors ---- */

static void
refuses_obs_fold(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
}

static void
refuses_transfer_encoding_on_http10(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    REFUSED_RESPONSE("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

static void
refuses_bad_block_ends(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\rXGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\n\n", 400);
}

static void
refuses_bare_lf_anywhere(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n", 400);
    REFUSED("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REFUSED("GET /\n HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void
refuses_bad_header_names(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX@Y: z\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: z\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400);
}

static void
refuses_transfer_codings_other_than_chunked(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 501);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 501);
}

static void
refuses_framing_headers_in_trailers(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nContent-Length: 5\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nTransfer-Encoding: chunked\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nhost: evil\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX-Ok: 1\r\n folded\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX-Ok: 1\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\nGET", 400);
}

static void
refuses_missing_or_doubled_host(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
}

static void
refuses_content_length_with_transfer_encoding(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
            "0\r\n\r\n",
            400);
    REFUSED_RESPONSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\n\r\n",
                     400);
}

static void
refuses_odd_content_length(void **state)
{
    (void)state;
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
    REFUSED_RESPONSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 400);
}

#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

static void
refuses_bad_chunk_sizes(void **state)
{
    (void)state;
    REFUSED(CHUNKED_HEAD "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "1000000000000000\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "g\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5 \r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD " 5\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "-5\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "0x5\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5\rhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5;a=\x01\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5;a b\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5;\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5;a=\"x\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5 ;a=b\r\nhello\r\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5\r\nhelloXX0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5\r\nhello\n0\r\n\r\n", 400);
    REFUSED(CHUNKED_HEAD "5\r\nhello\r0\r\n\r\n", 400);
    REFUSED_RESPONSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
                     400);
}

static void
refuses_nul_and_cr_in_values(void **state)
{
    static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";

    (void)state;
    assert_refused_kind(HTTP1_REQUEST, nul, sizeof(nul) - 1, 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n", 400);
    REFUSED("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REFUSED("GET /\t HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void
refuses_oversized_heads_with_431(void **state)
{
    struct http1_limits lim = {.max_head_bytes = 64, .max_headers = 3};
    struct rec r;
    struct http1_parser *p;
    char big[128 * 1024];
    size_t used, n;

    (void)state;
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, &lim, &cbs, &r);
    assert_int_equal(feed_all(p,
                              "GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789012345678901234567"
                              "89\r\n\r\n",
                              74, &used),
                     -EPROTO);
    assert_int_equal(http1_parser_status(p), 431);
    http1_parser_free(p);

    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, &lim, &cbs, &r);
    assert_int_equal(feed_bytes(p, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 46),
                     -EPROTO);
    assert_int_equal(http1_parser_status(p), 431);
    http1_parser_free(p);

    /* default limit: 64 KiB of head */
    n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'a', sizeof(big) - n);
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(feed_all(p, big, sizeof(big), &used), -EPROTO);
    assert_int_equal(http1_parser_status(p), 431);
    assert_int_equal(r.heads, 0);
    http1_parser_free(p);
}

static void
refuses_bad_versions_and_methods(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REFUSED("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    REFUSED("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501);
    REFUSED("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    REFUSED("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400);
    REFUSED_RESPONSE("HTTP/1.1 999 Nope\r\nContent-Length: 0\r\n\r\n", 400);
}

static void
refuses_truncated_messages_at_finish(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n", 400);
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel", 400);
    REFUSED(CHUNKED_HEAD "5\r\nhel", 400);
    REFUSED_RESPONSE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 400);
}

/* ---- ordinary messages ---- */

static struct http1_parser *
parse_ok(enum http1_kind kind, const char *in, struct rec *r)
{
    struct http1_parser *p;
    size_t used;

    memset(r, 0, sizeof(*r));
    p = http1_parser_new(kind, NULL, &cbs, r);
    assert_int_equal(feed_all(p, in, strlen(in), &used), 0);
    assert_int_equal(used, strlen(in));
    return p;
}

static void
keep_alive_follows_version_and_connection(void **state)
{
    struct rec r;
    struct http1_parser *p;

    (void)state;
    p = parse_ok(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_true(r.keep_alive);
    assert_string_equal(r.host, "a");
    assert_int_equal(r.framing, HTTP1_BODY_NONE);
    http1_parser_free(p);
    p = parse_ok(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    assert_false(r.keep_alive);
    http1_parser_free(p);
    p = parse_ok(HTTP1_REQUEST, "GET / HTTP/1.0\r\n\r\n", &r);
    assert_false(r.keep_alive);
    assert_string_equal(r.host, "(null)");
    http1_parser_free(p);
    p = parse_ok(HTTP1_REQUEST, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r);
    assert_true(r.keep_alive);
    assert_int_equal(r.completes, 1);
    http1_parser_free(p);
    p = parse_ok(HTTP1_RESPONSE, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", &r);
    assert_false(r.keep_alive);
    assert_string_equal(r.body, "ok");
    http1_parser_free(p);
    p = parse_ok(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &r);
    assert_true(r.keep_alive);
    http1_parser_free(p);
}

static void
heads_carry_method_target_headers(void **state)
{
    struct rec r;
    struct http1_parser *p;

    (void)state;
    p = parse_ok(HTTP1_REQUEST,
                 "\r\nPOST /a?b=c HTTP/1.1\r\nHost: example.com:80\r\nX-Pad:  v  \r\n"
                 "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n",
                 &r);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.target, "/a?b=c");
    assert_string_equal(r.host, "example.com:80");
    assert_int_equal(r.nheaders, 4);
    assert_true(r.expect_continue);
    assert_int_equal(r.framing, HTTP1_BODY_LENGTH);
    assert_int_equal(r.content_length, 0);
    assert_int_equal(r.completes, 1);
    http1_parser_free(p);
}

struct keep {
    struct rec r;
    struct http1_head *head;
};

static int
keep_head(void *ud, struct http1_head *h)
{
    struct keep *k = ud;

    k->head = h;
    return on_head(&k->r, h);
}

static int
keep_complete(void *ud, const struct http1_header *t, size_t n)
{
    struct keep *k = ud;

    return on_complete(&k->r, t, n);
}

static int
keep_body(void *ud, const char *d, size_t n)
{
    struct keep *k = ud;

    return on_body(&k->r, d, n);
}

static void
head_helpers_find_headers_and_hop_by_hop(void **state)
{
    static const struct http1_callbacks kcbs = {keep_head, keep_body, keep_complete};
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\n"
                             "x-secret: 1\r\nKeep-Alive: 5\r\nX-Fine: v \r\nTE: trailers\r\n\r\n";
    struct keep k;
    struct http1_parser *p;
    const struct http1_header *h;
    size_t used;

    (void)state;
    memset(&k, 0, sizeof(k));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &kcbs, &k);
    assert_int_equal(http1_parser_feed(p, in, sizeof(in) - 1, &used), 0);
    h = http1_head_get(k.head, "x-fine");
    assert_non_null(h);
    assert_string_equal(h->name, "X-Fine");
    assert_string_equal(h->value, "v");
    assert_int_equal(h->value_len, 1);
    assert_null(http1_head_get(k.head, "x-absent"));
    assert_true(http1_is_hop_by_hop(k.head, http1_head_get(k.head, "x-secret")));
    assert_true(http1_is_hop_by_hop(k.head, http1_head_get(k.head, "keep-alive")));
    assert_true(http1_is_hop_by_hop(k.head, http1_head_get(k.head, "te")));
    assert_false(http1_is_hop_by_hop(k.head, h));
    assert_false(http1_is_hop_by_hop(k.head, http1_head_get(k.head, "host")));
    http1_parser_free(p);
}

static void
pipelined_requests_pause_at_each_boundary(void **state)
{
    static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t first = strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    size_t second = strlen("POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    struct rec r;
    struct http1_parser *p;
    size_t used, off = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.complete_ret = HTTP1_PAUSE;
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, in, sizeof(in) - 1, &used), HTTP1_PAUSE);
    assert_int_equal(used, first);
    assert_string_equal(r.target, "/1");
    assert_false(http1_parser_in_message(p));
    /* still paused: nothing is consumed */
    assert_int_equal(http1_parser_feed(p, in + first, 1, &used), HTTP1_PAUSE);
    assert_int_equal(used, 0);
    off = first;
    http1_parser_resume(p);
    assert_int_equal(http1_parser_feed(p, in + off, sizeof(in) - 1 - off, &used), HTTP1_PAUSE);
    assert_int_equal(used, second);
    assert_string_equal(r.target, "/2");
    assert_string_equal(r.body, "abc");
    off += used;
    http1_parser_resume(p);
    assert_int_equal(http1_parser_feed(p, in + off, sizeof(in) - 1 - off, &used), HTTP1_PAUSE);
    assert_int_equal(off + used, sizeof(in) - 1);
    assert_string_equal(r.target, "/3");
    assert_int_equal(r.completes, 3);
    http1_parser_free(p);

    /* without pausing, all three in one call */
    p = parse_ok(HTTP1_REQUEST, in, &r);
    assert_int_equal(r.completes, 3);
    assert_int_equal(r.heads, 3);
    http1_parser_free(p);
}

/* llhttp 8.1 refuses a quoted-pair and a ';' after an extension value: not used here */
static const char chunked_msg[] = CHUNKED_HEAD "5;name;q=\"a b\"\r\nhello\r\n"
                                               "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                                               "0\r\nX-Checksum: abc\r\nX-Other: 2\r\n\r\n";

static void
chunked_decodes_across_every_split(void **state)
{
    size_t len = sizeof(chunked_msg) - 1;

    (void)state;
    for (size_t cut = 0; cut <= len; cut++) {
        struct rec r;
        struct http1_parser *p;
        size_t used;

        memset(&r, 0, sizeof(r));
        p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
        assert_int_equal(http1_parser_feed(p, chunked_msg, cut, &used), 0);
        assert_int_equal(used, cut);
        assert_int_equal(http1_parser_in_message(p), cut > 0 && cut < len);
        assert_int_equal(http1_parser_feed(p, chunked_msg + cut, len - cut, &used), 0);
        assert_int_equal(used, len - cut);
        assert_int_equal(r.completes, 1);
        assert_int_equal(r.framing, HTTP1_BODY_CHUNKED);
        assert_string_equal(r.body, "helloabcdefghijklmnopqrstuvwxyz");
        assert_string_equal(r.trailer, "X-Checksum=abc;X-Other=2;");
        assert_int_equal(http1_parser_finish(p), 0);
        http1_parser_free(p);
    }
}

static void
chunked_decodes_byte_by_byte(void **state)
{
    struct rec r;
    struct http1_parser *p;

    (void)state;
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(feed_bytes(p, chunked_msg, sizeof(chunked_msg) - 1), 0);
    assert_int_equal(r.completes, 1);
    assert_string_equal(r.body, "helloabcdefghijklmnopqrstuvwxyz");
    assert_string_equal(r.trailer, "X-Checksum=abc;X-Other=2;");
    /* the next message on the same connection */
    assert_int_equal(feed_bytes(p, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n", 31), 0);
    assert_int_equal(r.completes, 2);
    assert_string_equal(r.target, "/next");
    http1_parser_free(p);
}

static void
upgrade_request_stops_at_tunnel_bytes(void **state)
{
    static const char head[] = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                               "Upgrade: websocket\r\n\r\n";
    char in[256];
    struct rec r;
    struct http1_parser *p;
    size_t used, n;

    (void)state;
    n = (size_t)snprintf(in, sizeof(in), "%s\x81\x05hello", head);
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, in, n, &used), 0);
    assert_int_equal(used, sizeof(head) - 1);
    assert_true(r.upgrade);
    assert_int_equal(r.completes, 1);
    http1_parser_free(p);

    /* upstream refused the upgrade: the connection goes on as HTTP */
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, head, sizeof(head) - 1, &used), 0);
    assert_int_equal(http1_parser_feed(p, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 28, &used), 0);
    assert_int_equal(r.completes, 2);
    assert_false(r.upgrade);
    http1_parser_free(p);
}

static void
response_101_ends_parsing(void **state)
{
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n\r\n";
    char in[256];
    struct rec r;
    struct http1_parser *p;
    size_t used, n;

    (void)state;
    n = (size_t)snprintf(in, sizeof(in), "%s\x81\x05hello", head);
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_RESPONSE, NULL, &cbs, &r);
    http1_parser_set_request_method(p, "GET");
    assert_int_equal(http1_parser_feed(p, in, n, &used), 0);
    assert_int_equal(used, sizeof(head) - 1);
    assert_int_equal(r.status, 101);
    assert_true(r.upgrade);
    assert_int_equal(r.body_len, 0);
    http1_parser_free(p);
}

static void
responses_without_body_ignore_content_length(void **state)
{
    static const char *const nobody[] = {
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    char in[256];
    struct rec r;
    struct http1_parser *p;

    (void)state;
    for (size_t i = 0; i < sizeof(nobody) / sizeof(nobody[0]); i++) {
        snprintf(in, sizeof(in), "%sHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", nobody[i]);
        p = parse_ok(HTTP1_RESPONSE, in, &r);
        assert_int_equal(r.completes, 2);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello");
        http1_parser_free(p);
    }
}

static void
response_to_head_has_no_body(void **state)
{
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct rec r;
    struct http1_parser *p;
    size_t used;

    (void)state;
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_RESPONSE, NULL, &cbs, &r);
    http1_parser_set_request_method(p, "HEAD");
    assert_int_equal(http1_parser_feed(p, in, sizeof(in) - 1, &used), 0);
    assert_int_equal(r.completes, 2);
    assert_int_equal(r.framing, HTTP1_BODY_NONE);
    assert_int_equal(r.body_len, 0);
    http1_parser_set_request_method(p, "GET");
    assert_int_equal(
        http1_parser_feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40, &used), 0);
    assert_string_equal(r.body, "ok");
    http1_parser_free(p);
}

static void
response_until_close_completes_at_finish(void **state)
{
    struct rec r;
    struct http1_parser *p;

    (void)state;
    p = parse_ok(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nX: y\r\n\r\nabc", &r);
    assert_int_equal(r.framing, HTTP1_BODY_UNTIL_CLOSE);
    assert_false(r.keep_alive);
    assert_int_equal(r.completes, 0);
    assert_true(http1_parser_in_message(p));
    assert_int_equal(http1_parser_finish(p), 0);
    assert_int_equal(r.completes, 1);
    assert_string_equal(r.body, "abc");
    http1_parser_free(p);

    p = parse_ok(HTTP1_RESPONSE,
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n",
                 &r);
    assert_int_equal(r.completes, 1);
    assert_string_equal(r.body, "abc");
    assert_int_equal(http1_parser_finish(p), 0);
    http1_parser_free(p);
}

static void
abort_from_a_callback_cancels(void **state)
{
    struct rec r;
    struct http1_parser *p;
    size_t used;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.head_ret = HTTP1_ABORT;
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &used),
                     -ECANCELED);
    http1_parser_free(p);
}

static void
reset_makes_a_parser_as_good_as_new(void **state)
{
    struct rec r;
    struct http1_parser *p;
    size_t used;

    (void)state;
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    /* a client that sent half a leading empty line, then went away */
    assert_int_equal(http1_parser_feed(p, "\r", 1, &used), 0);
    assert_false(http1_parser_in_message(p));
    http1_parser_reset(p);
    assert_int_equal(http1_parser_feed(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &used), 0);
    assert_int_equal(r.completes, 1);
    /* an error is sticky until reset */
    assert_int_equal(http1_parser_feed(p, "GET / HTTP/1.1\nHost: a\r\n\r\n", 26, &used), -EPROTO);
    assert_int_equal(http1_parser_feed(p, "G", 1, &used), -EPROTO);
    http1_parser_reset(p);
    assert_int_equal(http1_parser_status(p), 0);
    /* half a body, then a reset: the next connection starts clean */
    assert_int_equal(http1_parser_feed(p,
                                       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc",
                                       50, &used),
                     0);
    assert_true(http1_parser_in_message(p));
    http1_parser_reset(p);
    assert_false(http1_parser_in_message(p));
    assert_int_equal(http1_parser_feed(p, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 28, &used), 0);
    assert_string_equal(r.target, "/x");
    http1_parser_free(p);
}

static void
edge_cases_that_must_parse(void **state)
{
    static const char upgrade_with_body[] =
        "POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
        "Upgrade: x\r\nContent-Length: 3\r\n\r\nabcTUNNEL";
    struct rec r;
    struct http1_parser *p;
    size_t used;

    (void)state;
    /* the coding name is case-insensitive; OWS around it is not part of it */
    p = parse_ok(HTTP1_REQUEST,
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n"
                 "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
                 &r);
    assert_int_equal(r.completes, 2);
    assert_string_equal(r.body, "abc");
    assert_string_equal(r.target, "/next");
    http1_parser_free(p);
    /* an upgrade request with a body: the body is read, the rest is the tunnel */
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, upgrade_with_body, sizeof(upgrade_with_body) - 1, &used),
                     0);
    assert_int_equal(used, sizeof(upgrade_with_body) - 1 - strlen("TUNNEL"));
    assert_true(r.upgrade);
    assert_string_equal(r.body, "abc");
    http1_parser_free(p);
    /* Connection: close on an HTTP/1.1 response */
    p = parse_ok(HTTP1_RESPONSE,
                 "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", &r);
    assert_false(r.keep_alive);
    assert_int_equal(http1_parser_finish(p), 0);
    http1_parser_free(p);
    /* an empty value and an obs-text value are fine */
    p = parse_ok(HTTP1_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Latin: caf\xe9\r\n\r\n",
                 &r);
    assert_int_equal(r.nheaders, 3);
    http1_parser_free(p);
}

static void
trailer_limits_apply(void **state)
{
    struct http1_limits lim = {.max_head_bytes = 256, .max_headers = 4};
    char in[1024];
    struct rec r;
    struct http1_parser *p;
    size_t used, n;

    (void)state;
    n = (size_t)snprintf(in, sizeof(in), "%s0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                         CHUNKED_HEAD);
    memset(&r, 0, sizeof(r));
    p = http1_parser_new(HTTP1_REQUEST, &lim, &cbs, &r);
    assert_int_equal(http1_parser_feed(p, in, n, &used), -EPROTO);
    assert_int_equal(http1_parser_status(p), 431);
    assert_int_equal(r.completes, 0);
    http1_parser_free(p);
}

static void
formats_chunk_sizes_and_reasons(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b);
    http1_format_chunk_size(&b, 26);
    http1_format_chunk_size(&b, 0);
    assert_string_equal(b.data, "1a\r\n0\r\n");
    buf_fini(&b);
    assert_string_equal(http1_status_reason(502), "Bad Gateway");
    assert_string_equal(http1_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http1_status_reason(299), "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_obs_fold),
        cmocka_unit_test(refuses_transfer_encoding_on_http10),
        cmocka_unit_test(refuses_bad_block_ends),
        cmocka_unit_test(refuses_bare_lf_anywhere),
        cmocka_unit_test(refuses_bad_header_names),
        cmocka_unit_test(refuses_transfer_codings_other_than_chunked),
        cmocka_unit_test(refuses_framing_headers_in_trailers),
        cmocka_unit_test(refuses_missing_or_doubled_host),
        cmocka_unit_test(refuses_content_length_with_transfer_encoding),
        cmocka_unit_test(refuses_odd_content_length),
        cmocka_unit_test(refuses_bad_chunk_sizes),
        cmocka_unit_test(refuses_nul_and_cr_in_values),
        cmocka_unit_test(refuses_oversized_heads_with_431),
        cmocka_unit_test(refuses_bad_versions_and_methods),
        cmocka_unit_test(refuses_truncated_messages_at_finish),
        cmocka_unit_test(keep_alive_follows_version_and_connection),
        cmocka_unit_test(heads_carry_method_target_headers),
        cmocka_unit_test(head_helpers_find_headers_and_hop_by_hop),
        cmocka_unit_test(pipelined_requests_pause_at_each_boundary),
        cmocka_unit_test(chunked_decodes_across_every_split),
        cmocka_unit_test(chunked_decodes_byte_by_byte),
        cmocka_unit_test(upgrade_request_stops_at_tunnel_bytes),
        cmocka_unit_test(response_101_ends_parsing),
        cmocka_unit_test(responses_without_body_ignore_content_length),
        cmocka_unit_test(response_to_head_has_no_body),
        cmocka_unit_test(response_until_close_completes_at_finish),
        cmocka_unit_test(abort_from_a_callback_cancels),
        cmocka_unit_test(reset_makes_a_parser_as_good_as_new),
        cmocka_unit_test(edge_cases_that_must_parse),
        cmocka_unit_test(trailer_limits_apply),
        cmocka_unit_test(formats_chunk_sizes_and_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
