/* SPDX-License-Identifier: ISC */
/* A worker: one thread, one uv loop, its own listening sockets (SO_REUSEPORT), its client
 * connections and its upstream pools. The main thread talks to it only through worker_*()
 * calls, which post a message and wake the loop with uv_async_send; the worker answers through
 * the hooks (called on the worker thread). Nothing on the request path takes a lock. */
#ifndef PROXY_PROXY_WORKER_H
#define PROXY_PROXY_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/outq.h"

struct access_log;
struct conn;
struct parser_slot;
struct err;
struct listener;
struct proxy_conf;
struct proxy_conf_listener;
struct upstream_pool;

#define PROXY_WORKER_READ_BUF (64 * 1024)

/* Called on the worker thread; the main thread's implementation must be thread-safe. */
struct proxy_worker_hooks {
    void (*acked)(void *ud, size_t id, uint64_t seq); /* switched to generation <seq> */
    void (*exited)(void *ud, size_t id);              /* retired: no connection left */
    void *ud;
};

/* One listening socket served by this worker. It lives until its handle closed and the last
 * connection accepted on it ended (connections read their listener's name and counters). */
struct proxy_worker_listen {
    uv_tcp_t tcp;
    struct listener *listener; /* ref */
    struct proxy_worker *w;
    bool closed;                      /* uv_close called: accepts no more */
    bool handle_done;                 /* its close callback ran */
    size_t nconns;                    /* connections accepted on it and still open */
    struct proxy_worker_listen *next; /* the worker's list */
    char xf_proto_port[64];           /* "X-Forwarded-Proto: http\r\nX-Forwarded-Port: N\r\n" */
    size_t xf_proto_port_len;
    uint64_t cache_seq;                            /* generation of cache_lconf */
    const struct proxy_conf_listener *cache_lconf; /* this listener in that generation */
};

/* A listening socket a new generation adds to one worker. */
struct proxy_worker_listen_add {
    struct listener *listener; /* a ref, passed to the worker */
    int fd;                    /* owned: a dup of one of the listener's fds */
};

struct proxy_worker {
    size_t id; /* also the stats and balancer slot */
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;                /* main → worker */
    uv_mutex_t lock;                /* guards the inbox only */
    struct proxy_worker_msg *inbox; /* owned, FIFO, under lock */
    struct proxy_worker_hooks hooks;

    struct proxy_conf *conf;             /* ref: the current generation */
    struct access_log *access_log;       /* borrowed: the proxy's, NULL when off */
    struct proxy_worker_listen *listens; /* owned: list, including closed ones still in use */
    struct upstream_pool *pool;          /* owned */
    struct conn *conns;                  /* every client connection, linked */
    size_t nconns;
    bool retiring;    /* stop accepting; answer with Connection: close */
    bool stopping;    /* closing everything; the loop ends */
    bool exited_sent; /* hooks.exited ran */

    char *rbuf;              /* owned: PROXY_WORKER_READ_BUF, shared by every read on this loop */
    bool rbuf_busy;          /* handed to a read that has not completed */
    struct outq_batch batch; /* buffers gathered while handling one event */
    struct buf scratch;      /* head serialisation */
    uint64_t next_conn_id;
    struct parser_slot *parsers; /* owned: idle request parsers (conn.c) */
    size_t nparsers;
};

/* Starts a worker thread serving, for every listener, the fds j with j % nworkers == id.
 * <conf>: a ref is taken. Returns 0 or a negative errno with a message. Main thread. */
int proxy_worker_start(struct proxy_worker **out, size_t id, size_t nworkers,
                       struct proxy_conf *conf, struct listener *listeners, struct access_log *log,
                       const struct proxy_worker_hooks *hooks, struct err *err);

/* Main thread: post messages. proxy_worker_publish takes its own ref on <conf>; with the switch
 * the worker starts accepting on the <nadd> sockets of <add> (their refs and fds pass to the
 * worker) and stops accepting on every socket of the <nremove> listeners of <remove> (refs
 * taken here). Connections accepted on a removed listener finish; when the new generation has
 * no listener of that name any more, they answer with Connection: close and idle ones close. */
void proxy_worker_publish(struct proxy_worker *w, struct proxy_conf *conf, uint64_t seq,
                          const struct proxy_worker_listen_add *add, size_t nadd,
                          struct listener *const *remove, size_t nremove);
void
proxy_worker_drain_check(struct proxy_worker *w); /* cut requests on targets past their deadline */
void proxy_worker_retire(struct proxy_worker *w); /* stop accepting, finish, then hooks.exited */
void proxy_worker_stop(struct proxy_worker *w);   /* close everything now; the loop ends */
/* Waits for the thread to end and frees. Main thread, after proxy_worker_stop or exited. */
void proxy_worker_join(struct proxy_worker *w);

/* Worker thread: a connection accepted on <wl> closed (the worker may now be done retiring;
 * <wl> may be freed). */
void proxy_worker_conn_gone(struct proxy_worker *w, struct proxy_worker_listen *wl);

#endif /* PROXY_PROXY_WORKER_H */
