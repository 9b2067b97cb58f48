/* SPDX-License-Identifier: ISC */
/* Fuzz target: common/http1 request parsing on arbitrary bytes, fed whole and then split at a
 * point chosen by the input, pausing at every message; both runs must agree. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http1.h"
#include "fuzz.h"

struct tally {
    size_t heads;
    size_t completes;
    size_t body_bytes;
};

static int
on_head(void *ud, struct http1_head *h)
{
    struct tally *t = ud;

    ASSERT(h->kind == HTTP1_REQUEST);
    ASSERT(h->version_major == 1 && h->version_minor <= 1);
    ASSERT(h->method != NULL && h->target != NULL);
    ASSERT(h->version_minor == 0 || h->host != NULL);
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http1_header *hd = &h->headers[i];
        ASSERT(strlen(hd->name) == hd->name_len && hd->name_len > 0);
        ASSERT(strlen(hd->value) == hd->value_len);
        ASSERT(http1_head_get(h, hd->name) != NULL);
        (void)http1_is_hop_by_hop(h, hd);
    }
    if (h->version_minor == 1)
        ASSERT(http1_head_get(h, "host") != NULL);
    t->heads++;
    return HTTP1_OK;
}

static int
on_body(void *ud, const char *data, size_t len)
{
    struct tally *t = ud;

    (void)data;
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
    return HTTP1_PAUSE;
}

static const struct http1_callbacks cbs = {on_head, on_body, on_complete};

/* Feeds <data> in pieces no longer than <step>, resuming after each message. */
static int
run(const uint8_t *data, size_t size, size_t step, struct tally *t)
{
    struct http1_parser *p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, t);
    size_t off = 0;
    int rc = 0;

    while (off < size) {
        size_t len = size - off < step ? size - off : step, used;
        rc = http1_parser_feed(p, (const char *)data + off, len, &used);
        ASSERT(used <= len);
        off += used;
        if (rc == HTTP1_PAUSE) {
            http1_parser_resume(p);
            continue;
        }
        if (rc != 0)
            break;
        if (used < len) /* an upgrade: the rest is tunnel bytes */
            break;
    }
    if (rc < 0) {
        int st = http1_parser_status(p);
        ASSERT(st == 400 || st == 431 || st == 501 || st == 505);
    } else {
        rc = http1_parser_finish(p);
    }
    http1_parser_free(p);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tally whole = {0}, split = {0};
    int a = run(data, size, size == 0 ? 1 : size, &whole);
    size_t step = size == 0 ? 1 : (size_t)data[0] % 7 + 1;
    int b = run(data, size, step, &split);

    /* where the input is accepted, feeding it in pieces must not change the result */
    if (a == 0 && b == 0) {
        ASSERT(whole.heads == split.heads);
        ASSERT(whole.completes == split.completes);
        ASSERT(whole.body_bytes == split.body_bytes);
    }
    return 0;
}
