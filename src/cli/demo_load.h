/* SPDX-License-Identifier: ISC */
/* The demo's load generator: N keep-alive HTTP/1.1 connections sending GET requests back to
 * back to one address, on a libuv loop of its own thread, parsed with common/http1. Bounded by
 * a request count AND a time limit. Every answer is counted in the phase current when it
 * completed: 2xx, other statuses, socket errors (connect, reset, timeout, bad response), and a
 * latency histogram; the last word of the first body line is taken as the release that
 * answered ("hello from webapp 2.0.0" → "2.0.0"), with when it was first and last seen. */
#ifndef CLI_DEMO_LOAD_H
#define CLI_DEMO_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define DEMO_LOAD_MAX_PHASES 8
#define DEMO_LOAD_MAX_VERSIONS 8
#define DEMO_LOAD_BUCKETS 160 /* latency buckets, 10 % apart from 50 µs */

struct demo_load_conf {
    const char *addr;      /* "127.0.0.1:8080" (numeric) */
    const char *path;      /* request target, "/" */
    unsigned connections;  /* 1..1024 */
    uint64_t max_requests; /* request budget (attempts, failed ones included) */
    uint64_t max_ms;       /* time limit from demo_load_start */
    uint64_t timeout_ms;   /* one request's limit before it counts as a socket error */
};

struct demo_load_phase {
    uint64_t ok;     /* 2xx */
    uint64_t non2xx; /* any other status */
    uint64_t errors; /* socket errors: no complete response */
    uint64_t hist[DEMO_LOAD_BUCKETS];
};

struct demo_load_version {
    char name[32];     /* "2.0.0" */
    uint64_t count;    /* responses (any status) whose body named it */
    uint64_t errors;   /* of which 5xx */
    uint64_t first_ms; /* uv_hrtime() / 1e6 of the first and last such response */
    uint64_t last_ms;
};

struct demo_load_snapshot {
    struct demo_load_phase phases[DEMO_LOAD_MAX_PHASES];
    struct demo_load_version versions[DEMO_LOAD_MAX_VERSIONS];
    size_t nversions;
    uint64_t sent; /* requests started */
    bool finished; /* the budget or the time limit ended the load */
};

struct demo_load;

/* Starts the load thread. <conf> is copied. Returns 0 and *out, or a negative errno with
 * <err> set (bad address, thread creation). */
int demo_load_start(const struct demo_load_conf *conf, struct demo_load **out, struct err *err);

/* Answers completed from now on count in phase <phase> (< DEMO_LOAD_MAX_PHASES). Any thread. */
void demo_load_set_phase(struct demo_load *l, unsigned phase);

/* Copies the counters so far. Any thread. */
void demo_load_snapshot(struct demo_load *l, struct demo_load_snapshot *out);

/* Stops the load (requests in flight are abandoned, not counted), joins the thread and frees
 * <l>. NULL is ignored. */
void demo_load_stop(struct demo_load *l);

/* Upper bound in microseconds of the bucket holding the <q> quantile (0 < q <= 1) of <p>, or
 * 0 when it has no answers. Pure. */
uint64_t demo_load_quantile_us(const struct demo_load_phase *p, double q);

/* Sum of <p>'s answers and errors. Pure. */
uint64_t demo_load_total(const struct demo_load_phase *p);

#endif /* CLI_DEMO_LOAD_H */
