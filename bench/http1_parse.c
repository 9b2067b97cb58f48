/* SPDX-License-Identifier: ISC */
/* Microbenchmark: common/http1 parsing one typical request head (what wrk sends plus two
 * headers) N times on one keep-alive parser. Prints ns per request; run it under
 * `valgrind --tool=callgrind` (bench/http1-parse.sh --instructions) for a count that does not
 * depend on the machine's load. Built and run by bench/http1-parse.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http1.h"

static int
on_head(void *ud, struct http1_head *h)
{
    (void)h;
    ++*(long *)ud;
    return HTTP1_OK;
}

static int
on_complete(void *ud, const struct http1_header *trailers, size_t n)
{
    (void)ud;
    (void)trailers;
    (void)n;
    return HTTP1_OK;
}

static const struct http1_callbacks cbs = {on_head, NULL, on_complete};

int
main(int argc, char **argv)
{
    static const char req[] = "GET /index.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                              "User-Agent: wrk/4.2.0\r\nAccept: */*\r\n"
                              "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
                              "X-Request-Id: 0123456789abcdef\r\n\r\n";
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000, heads = 0;
    struct http1_parser *p = http1_parser_new(HTTP1_REQUEST, NULL, &cbs, &heads);
    struct timespec a, b;
    size_t used;
    double ns;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (http1_parser_feed(p, req, sizeof(req) - 1, &used) != 0) {
            fprintf(stderr, "parse error: %s\n", http1_parser_reason(p));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
    printf("http1_parse: %ld requests of %zu bytes, %.0f ns/request\n", heads, sizeof(req) - 1, ns);
    http1_parser_free(p);
    return heads == n ? 0 : 1;
}
