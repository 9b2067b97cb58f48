/* SPDX-License-Identifier: ISC */
/* Worker threads. The inbox is the only shared structure (a mutex-guarded list, touched a few
 * times per configuration change); everything else a worker uses is its own or immutable. */
#include "proxy/proxy_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "proxy/conn.h"
#include "proxy/listener.h"
#include "proxy/proxy_conf.h"
#include "proxy/upstream.h"

enum proxy_worker_msg_kind {
    MSG_CONF = 0,    /* switch to a new generation and ack */
    MSG_DRAIN_CHECK, /* some target's deregistration delay expired */
    MSG_RETIRE,      /* stop accepting, finish, then report */
    MSG_STOP,        /* close everything now */
};

struct proxy_worker_msg {
    enum proxy_worker_msg_kind kind;
    struct proxy_conf *conf; /* MSG_CONF: a ref */
    uint64_t seq;
    struct proxy_worker_listen_add *add; /* MSG_CONF: owned, nadd sockets to start serving */
    size_t nadd;
    struct listener **remove; /* MSG_CONF: owned array of refs: listeners to stop serving */
    size_t nremove;
    struct proxy_worker_msg *next;
};

static void
msg_free(struct proxy_worker_msg *m)
{
    proxy_conf_unref(m->conf); /* NULL unless the worker never took it */
    for (size_t i = 0; i < m->nadd; i++) {
        if (m->add[i].fd >= 0)
            close(m->add[i].fd);
        if (m->add[i].listener != NULL)
            listener_unref(m->add[i].listener);
    }
    for (size_t i = 0; i < m->nremove; i++)
        listener_unref(m->remove[i]);
    free(m->add);
    free(m->remove);
    free(m);
}

static void
post_msg(struct proxy_worker *w, struct proxy_worker_msg *m)
{
    struct proxy_worker_msg **pp;

    uv_mutex_lock(&w->lock);
    for (pp = &w->inbox; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = m;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wake);
}

static void
post(struct proxy_worker *w, enum proxy_worker_msg_kind kind)
{
    struct proxy_worker_msg *m = mem_calloc(1, sizeof(*m));

    m->kind = kind;
    post_msg(w, m);
}

void
proxy_worker_publish(struct proxy_worker *w, struct proxy_conf *conf, uint64_t seq,
                     const struct proxy_worker_listen_add *add, size_t nadd,
                     struct listener *const *remove, size_t nremove)
{
    struct proxy_worker_msg *m = mem_calloc(1, sizeof(*m));

    m->kind = MSG_CONF;
    m->conf = proxy_conf_ref(conf);
    m->seq = seq;
    if (nadd > 0) {
        m->add = mem_calloc(nadd, sizeof(*m->add));
        memcpy(m->add, add, nadd * sizeof(*add));
        m->nadd = nadd;
    }
    if (nremove > 0) {
        m->remove = mem_calloc(nremove, sizeof(*m->remove));
        for (size_t i = 0; i < nremove; i++)
            m->remove[i] = listener_ref(remove[i]);
        m->nremove = nremove;
    }
    post_msg(w, m);
}

void
proxy_worker_drain_check(struct proxy_worker *w)
{
    post(w, MSG_DRAIN_CHECK);
}

void
proxy_worker_retire(struct proxy_worker *w)
{
    post(w, MSG_RETIRE);
}

void
proxy_worker_stop(struct proxy_worker *w)
{
    post(w, MSG_STOP);
}

/* ---- on the worker thread ---- */

static void
check_exit(struct proxy_worker *w)
{
    if (w->retiring && !w->stopping && w->nconns == 0 && !w->exited_sent) {
        w->exited_sent = true;
        w->hooks.exited(w->hooks.ud, w->id);
    }
}

static void
listen_free_if_done(struct proxy_worker *w, struct proxy_worker_listen *wl)
{
    struct proxy_worker_listen **pp;

    if (!wl->handle_done || wl->nconns > 0)
        return;
    for (pp = &w->listens; *pp != wl; pp = &(*pp)->next)
        ;
    *pp = wl->next;
    listener_unref(wl->listener);
    free(wl);
}

void
proxy_worker_conn_gone(struct proxy_worker *w, struct proxy_worker_listen *wl)
{
    wl->nconns--;
    listen_free_if_done(w, wl);
    check_exit(w);
}

static void
on_listen_closed(uv_handle_t *h)
{
    struct proxy_worker_listen *wl = h->data;

    wl->handle_done = true;
    listen_free_if_done(wl->w, wl);
}

static void
close_listen(struct proxy_worker_listen *wl)
{
    if (!wl->closed) {
        wl->closed = true;
        uv_close((uv_handle_t *)&wl->tcp, on_listen_closed);
    }
}

static void
close_listens(struct proxy_worker *w)
{
    for (struct proxy_worker_listen *wl = w->listens; wl != NULL; wl = wl->next)
        close_listen(wl);
}

static void on_connection(uv_stream_t *server, int status);

/* Starts serving <fd> (owned: closed on failure) for <l> (a ref, passed on). */
static int
add_listen(struct proxy_worker *w, struct listener *l, int fd, struct err *err)
{
    struct proxy_worker_listen *wl = mem_calloc(1, sizeof(*wl));
    int rc;

    wl->listener = l;
    wl->w = w;
    wl->xf_proto_port_len = (size_t)snprintf(wl->xf_proto_port, sizeof(wl->xf_proto_port),
                                             "X-Forwarded-Proto: http\r\nX-Forwarded-Port: %d\r\n",
                                             addr_port(&l->addr));
    uv_tcp_init(&w->loop, &wl->tcp);
    wl->tcp.data = wl;
    wl->next = w->listens;
    w->listens = wl;
    if ((rc = uv_tcp_open(&wl->tcp, fd)) != 0) {
        close(fd);
        close_listen(wl);
        return err_set(err, rc, "listener %s: %s", l->name, uv_strerror(rc));
    }
    if ((rc = uv_listen((uv_stream_t *)&wl->tcp, 4096, on_connection)) != 0) {
        close_listen(wl);
        return err_set(err, rc, "listener %s: %s", l->name, uv_strerror(rc));
    }
    return 0;
}

/* A new generation's listener changes: new sockets first, then the switch, then the old
 * sockets stop accepting. */
static void
switch_conf(struct proxy_worker *w, struct proxy_worker_msg *m)
{
    struct proxy_conf *old = w->conf;
    struct err err;

    for (size_t i = 0; i < m->nadd && !w->retiring; i++) { /* retiring: msg_free closes them */
        err_clear(&err);
        if (add_listen(w, m->add[i].listener, m->add[i].fd, &err) != 0)
            log_error("worker %zu: %s", w->id, err.msg);
        m->add[i].fd = -1;         /* the worker's now (or closed) */
        m->add[i].listener = NULL; /* the ref went to the socket */
    }
    w->conf = m->conf;
    m->conf = NULL;
    proxy_conf_unref(old);
    for (size_t i = 0; i < m->nremove; i++) {
        bool deleted = proxy_conf_listener_find(w->conf, m->remove[i]->name) == NULL;
        for (struct proxy_worker_listen *wl = w->listens; wl != NULL; wl = wl->next) {
            if (wl->listener != m->remove[i] || wl->closed)
                continue;
            close_listen(wl);
            for (struct conn *c = w->conns; deleted && c != NULL; c = conn_next(c)) {
                if (conn_listen(c) == wl)
                    conn_retire(c);
            }
        }
    }
}

static void
on_wake_closed(uv_handle_t *h)
{
    (void)h;
}

static void
handle(struct proxy_worker *w, struct proxy_worker_msg *m)
{
    switch (m->kind) {
    case MSG_CONF:
        switch_conf(w, m);
        upstream_pool_prune(w->pool);
        w->hooks.acked(w->hooks.ud, w->id, m->seq);
        return;
    case MSG_DRAIN_CHECK:
        upstream_pool_prune(w->pool);
        for (struct conn *c = w->conns; c != NULL; c = conn_next(c))
            conn_drain_check(c);
        return;
    case MSG_RETIRE:
        w->retiring = true;
        close_listens(w);
        for (struct conn *c = w->conns; c != NULL; c = conn_next(c))
            conn_retire(c);
        check_exit(w);
        return;
    case MSG_STOP:
        if (w->stopping)
            return;
        w->stopping = true;
        close_listens(w);
        for (struct conn *c = w->conns; c != NULL; c = conn_next(c))
            conn_abort(c);
        upstream_pool_free(w->pool);
        w->pool = NULL;
        uv_close((uv_handle_t *)&w->wake, on_wake_closed);
        return;
    }
}

static void
on_wake(uv_async_t *a)
{
    struct proxy_worker *w = a->data;
    struct proxy_worker_msg *m, *next;

    uv_mutex_lock(&w->lock);
    m = w->inbox;
    w->inbox = NULL;
    uv_mutex_unlock(&w->lock);
    for (; m != NULL; m = next) {
        next = m->next;
        if (!w->stopping)
            handle(w, m);
        msg_free(m);
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct proxy_worker_listen *wl = server->data;
    struct proxy_worker *w = wl->w;

    if (status < 0) {
        log_warn("listener %s: accept: %s", wl->listener->name, uv_strerror(status));
        return;
    }
    if (w->retiring || w->stopping)
        return;
    (void)conn_accept(w, wl, server);
}

static void
run(void *arg)
{
    struct proxy_worker *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static int
open_listens(struct proxy_worker *w, size_t nworkers, struct listener *listeners, struct err *err)
{
    int rc, fd;

    for (struct listener *l = listeners; l != NULL; l = l->next) {
        for (size_t j = 0; j < l->nfds; j++) {
            if (j % nworkers != w->id)
                continue;
            if ((fd = dup(l->fds[j])) < 0)
                return err_set(err, -errno, "listener %s: dup: %s", l->name, strerror(errno));
            if ((rc = add_listen(w, listener_ref(l), fd, err)) != 0)
                return rc;
        }
    }
    return 0;
}

int
proxy_worker_start(struct proxy_worker **out, size_t id, size_t nworkers, struct proxy_conf *conf,
                   struct listener *listeners, struct access_log *log,
                   const struct proxy_worker_hooks *hooks, struct err *err)
{
    struct proxy_worker *w = mem_calloc(1, sizeof(*w));
    int rc;

    w->id = id;
    w->hooks = *hooks;
    w->conf = proxy_conf_ref(conf);
    w->access_log = log;
    w->rbuf = mem_alloc(PROXY_WORKER_READ_BUF);
    buf_init(&w->scratch);
    if ((rc = uv_loop_init(&w->loop)) != 0)
        return err_set(err, rc, "worker %zu: %s", id, uv_strerror(rc));
    uv_mutex_init(&w->lock);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    w->pool = upstream_pool_new(w);
    if ((rc = open_listens(w, nworkers, listeners, err)) != 0)
        return rc; /* startup failure: the process exits */
    if ((rc = uv_thread_create(&w->thread, run, w)) != 0)
        return err_set(err, rc, "worker %zu: thread: %s", id, uv_strerror(rc));
    *out = w;
    return 0;
}

void
proxy_worker_join(struct proxy_worker *w)
{
    struct proxy_worker_msg *m, *next;

    uv_thread_join(&w->thread);
    uv_loop_close(&w->loop);
    for (m = w->inbox; m != NULL; m = next) {
        next = m->next;
        msg_free(m);
    }
    while (w->listens != NULL) { /* never started, or the loop ended early */
        struct proxy_worker_listen *wl = w->listens;
        w->listens = wl->next;
        listener_unref(wl->listener);
        free(wl);
    }
    uv_mutex_destroy(&w->lock);
    conn_pool_free(w);
    proxy_conf_unref(w->conf);
    buf_fini(&w->scratch);
    free(w->rbuf);
    free(w);
}
