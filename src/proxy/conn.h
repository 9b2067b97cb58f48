/* SPDX-License-Identifier: ISC */
/* A client connection: reads requests, routes each one (generation, group, target), relays it
 * to an upstream and the response back, in order, with keep-alive and pipelining. See conn.c
 * for the state machine. Worker thread only. */
#ifndef PROXY_CONN_H
#define PROXY_CONN_H

#include <uv.h>

struct conn;
struct proxy_worker;
struct proxy_worker_listen;

/* Accepts one connection from <server> (a listening handle of <wl>). Returns 0 or a negative
 * errno (the connection, if any, is gone). */
int conn_accept(struct proxy_worker *w, struct proxy_worker_listen *wl, uv_stream_t *server);

/* The worker is retiring: idle connections close soon, busy ones answer their current or next
 * response with Connection: close. */
void conn_retire(struct conn *c);

/* Cuts the request in flight when its target's deregistration delay is over (502 if nothing
 * was answered yet, else the connection closes). */
void conn_drain_check(struct conn *c);

/* Closes now (worker stopping). Idempotent. */
void conn_abort(struct conn *c);

/* Frees the worker's idle request parsers (worker teardown). */
void conn_pool_free(struct proxy_worker *w);

/* The listening socket <c> was accepted on. */
struct proxy_worker_listen *conn_listen(const struct conn *c);

/* The worker's list. */
struct conn *conn_next(const struct conn *c);

#endif /* PROXY_CONN_H */
