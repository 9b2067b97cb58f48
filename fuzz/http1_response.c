/* SPDX-License-Identifier: ISC */
/* Fuzz target: common/http1 response parsing (what targets send back) on arbitrary bytes, for
 * each kind of request (GET, HEAD, CONNECT), fed whole and in pieces, then finished as if the
 * target closed; both runs must agree. The first byte picks the method and the piece size. */
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "common/http1.h"
#include "fuzz.h"

struct tally {
    size_t heads;
    size_t completes;
    size_t body_bytes;
    bool no_body; /* the last head said HTTP1_BODY_NONE */
    bool upgrade; /* the last head switched protocols */
    bool tunnel;  /* an upgrade completed: the rest is not HTTP */
};

static int
on_head(void *ud, struct http1_head *h)
{
    struct tally *t = ud;

    ASSERT(h->kind == HTTP1_RESPONSE);
    ASSERT(h->status >= 100 && h->status <= 599);
    ASSERT(h->reason != NULL);
    t->no_body = h->framing == HTTP1_BODY_NONE;
    t->upgrade = h->upgrade;
    t->heads++;
    return HTTP1_OK;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct tally *t = ud;

    (void)data;
    ASSERT(!t->no_body); /* HEAD, 1xx, 204, 304: never a body byte */
    t->body_bytes += len;
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t n)
{
    struct tally *t = ud;

    (void)trailers;
    (void)n;
    t->completes++;
    t->tunnel = t->upgrade;
    return HTTP1_OK;
}

static const struct http1_callbacks cbs = {on_head, on_body, on_complete};

static int
run(const char *method, const uint8_t *data, size_t size, size_t step, struct tally *t)
{
    struct http1_parser *p = http1_parser_new(HTTP1_RESPONSE, NULL, &cbs, t);
    size_t off = 0;
    int rc = 0;

    http1_parser_set_request_method(p, method);
    while (off < size) {
        size_t len = size - off < step ? size - off : step, used;
        rc = http1_parser_feed(p, (const char *)data + off, len, &used);
        ASSERT(used <= len);
        off += used;
        if (rc != 0 || t->tunnel) /* error, or 101/CONNECT: the rest is tunnel bytes */
            break;
        ASSERT(used == len);
    }
    if (rc == 0 && !t->tunnel)
        rc = http1_parser_finish(p);
    http1_parser_free(p);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "HEAD", "CONNECT", "POST"};
    struct tally whole = {0}, split = {0};
    const char *method = methods[size > 0 ? data[0] % 4 : 0];
    size_t step = size > 0 ? (size_t)(data[0] >> 2) % 9 + 1 : 1;
    int a, b;

    if (size > 0) { /* the selector byte is not part of the response */
        data++;
        size--;
    }
    a = run(method, data, size, size == 0 ? 1 : size, &whole);
    b = run(method, data, size, step, &split);
    ASSERT((a == 0) == (b == 0));
    if (a == 0) {
        ASSERT(whole.heads == split.heads);
        ASSERT(whole.completes == split.completes);
        ASSERT(whole.body_bytes == split.body_bytes);
    }
    return 0;
}
