/* SPDX-License-Identifier: ISC */
/* Control socket server; see supervisor_control.h. */
#include "supervisor/supervisor_control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"
#include "protocol/apps_msg.h"

struct supervisor_control {
    uv_pipe_t server;
    char *path;
    supervisor_control_cb cb;
    void *arg;
};

/* One client connection, alive until the reply is written and the handle closed. */
struct supervisor_control_req {
    uv_pipe_t pipe;
    uv_write_t write;
    struct buf in;
    char *out;
    bool dispatched; /* the handler owns a reply */
    bool replied;
    bool closing;
    bool closed; /* the handle's close callback ran */
    struct supervisor_control *ctl;
};

static void
req_free(struct supervisor_control_req *r)
{
    buf_fini(&r->in);
    free(r->out);
    free(r);
}

static void
on_req_closed(uv_handle_t *h)
{
    struct supervisor_control_req *r = h->data;

    r->closed = true;
    if (!r->dispatched || r->replied)
        req_free(r); /* else the handler still holds r: reply() frees it */
}

static void
close_req(struct supervisor_control_req *r)
{
    if (r->closing)
        return;
    r->closing = true;
    uv_close((uv_handle_t *)&r->pipe, on_req_closed);
}

static void
on_written(uv_write_t *w, int status)
{
    (void)status;
    close_req(w->data);
}

void
supervisor_control_reply(struct supervisor_control_req *r, const char *line)
{
    uv_buf_t b;
    size_t n = strlen(line);

    r->replied = true;
    if (r->closing) {
        /* the client went away while we worked */
        if (r->closed)
            req_free(r);
        return;
    }
    r->out = mem_alloc(n + 2);
    memcpy(r->out, line, n);
    r->out[n] = '\n';
    r->out[n + 1] = '\0';
    b = uv_buf_init(r->out, (unsigned)(n + 1));
    r->write.data = r;
    uv_read_stop((uv_stream_t *)&r->pipe);
    if (uv_write(&r->write, (uv_stream_t *)&r->pipe, &b, 1, on_written) != 0)
        close_req(r);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct supervisor_control_req *r = h->data;

    (void)suggested;
    buf_reserve(&r->in, 4096);
    b->base = r->in.data + r->in.len;
    b->len = r->in.cap - r->in.len - 1;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct supervisor_control_req *r = s->data;
    char *nl;

    (void)b;
    if (n < 0) {
        close_req(r); /* EOF or error: if dispatched, reply() finishes the cleanup */
        return;
    }
    r->in.len += (size_t)n;
    r->in.data[r->in.len] = '\0';
    if (r->dispatched)
        return; /* extra bytes after the request: ignored */
    if ((nl = memchr(r->in.data, '\n', r->in.len)) == NULL) {
        if (r->in.len > APPS_MSG_LINE_MAX)
            close_req(r);
        return;
    }
    *nl = '\0';
    r->dispatched = true;
    r->ctl->cb(r->ctl->arg, r, r->in.data);
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct supervisor_control *c = server->data;
    struct supervisor_control_req *r;

    if (status < 0)
        return;
    r = mem_calloc(1, sizeof(*r));
    r->ctl = c;
    buf_init(&r->in);
    uv_pipe_init(server->loop, &r->pipe, 0);
    r->pipe.data = r;
    if (uv_accept(server, (uv_stream_t *)&r->pipe) != 0) {
        close_req(r);
        return;
    }
    uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read);
}

static void
on_server_closed(uv_handle_t *h)
{
    struct supervisor_control *c = h->data;

    free(c->path);
    free(c);
}

int
supervisor_control_open(struct supervisor_control **out, uv_loop_t *loop, const char *path,
                        supervisor_control_cb cb, void *arg, struct err *err)
{
    struct supervisor_control *c = mem_calloc(1, sizeof(*c));
    mode_t old;
    int rc;

    c->path = mem_strdup(path);
    c->cb = cb;
    c->arg = arg;
    uv_pipe_init(loop, &c->server, 0);
    c->server.data = c;
    unlink(path);
    old = umask(0177); /* the socket is born 0600: no window where others could connect */
    rc = uv_pipe_bind(&c->server, path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->server, 128, on_connection);
    if (rc == 0 && chmod(path, 0600) != 0)
        rc = -errno;
    if (rc != 0) {
        err_set(err, rc, "control socket %s: %s", path, uv_strerror(rc));
        unlink(path);
        uv_close((uv_handle_t *)&c->server, on_server_closed);
        *out = NULL;
        return rc;
    }
    *out = c;
    return 0;
}

void
supervisor_control_close(struct supervisor_control *c)
{
    if (c == NULL)
        return;
    unlink(c->path);
    uv_close((uv_handle_t *)&c->server, on_server_closed);
}
