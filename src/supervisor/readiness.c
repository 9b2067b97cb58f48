/* SPDX-License-Identifier: ISC */
/* Readiness probes and the notify socket; see readiness.h.
 *
 * A probe runs on the supervisor's loop: one connection, one timer bounding all of it.
 *
 *   CONNECTING ──connected (http)──▶ WAITING ──final head: ok iff 200-399──▶ CLOSING
 *       │                                 └── EOF / error / bad response / timeout ──▶ CLOSING
 *       ├── connected (tcp): ok ────────────────────────────────────────────────────▶ CLOSING
 *       └── refused / timeout ──────────────────────────────────────────────────────▶ CLOSING
 *   CLOSING: timer and socket closing; the last close callback reports the verdict and frees.
 *   Late callbacks (a cancelled connect or write, a read after the verdict) are ignored.
 *
 * readiness_probe_cancel() only clears the callback: the probe still closes on its own. */
#include "supervisor/readiness.h"

#include <assert.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/buf.h"
#include "common/http1.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

/* Upper bound of any probe: connect + request + response head. */
#define READINESS_PROBE_MAX_MS 2000

enum probe_state {
    PROBE_CONNECTING = 0, /* connect in flight (timer armed) */
    PROBE_WAITING,        /* http: request written, reading the response head */
    PROBE_CLOSING,        /* verdict set; handles closing; freed at the last close callback */
};

static const char *const probe_state_names[] = {
    [PROBE_CONNECTING] = "connecting",
    [PROBE_WAITING] = "waiting",
    [PROBE_CLOSING] = "closing",
};

struct readiness_probe {
    readiness_probe_cb cb; /* NULL once cancelled */
    void *arg;
    enum probe_state state;
    bool http;          /* GET the path after connecting; otherwise the connect is the check */
    bool ok;            /* the verdict, set once by probe_close() */
    const char *reason; /* why it closed (static string), for the debug log */
    int open_handles;   /* handles not yet closed; freed when it reaches 0 */
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer; /* bounds the whole probe: connect, request, response head */
    uv_connect_t connect;
    uv_write_t write;
    struct http1_parser *parser; /* owned; http probes only */
    struct buf request;          /* the request bytes; live until freed (write may be pending) */
    char target[ADDR_TEXT_MAX];  /* for the log */
    char rbuf[2048];
};

/* The only assignment of p->state. */
static void
probe_enter(struct readiness_probe *p, enum probe_state next)
{
    switch (next) {
    case PROBE_CONNECTING:
        assert(!"a probe never re-enters connecting");
        break;
    case PROBE_WAITING:
        assert(p->state == PROBE_CONNECTING && p->http);
        break;
    case PROBE_CLOSING:
        assert(p->state != PROBE_CLOSING);
        break;
    }
    log_debug("readiness probe %s: %s -> %s", p->target, probe_state_names[p->state],
              probe_state_names[next]);
    p->state = next;
}

void
readiness_probe_cancel(struct readiness_probe *p)
{
    if (p != NULL)
        p->cb = NULL;
}

static void
on_probe_handle_closed(uv_handle_t *h)
{
    struct readiness_probe *p = h->data;

    if (--p->open_handles > 0)
        return;
    if (p->cb != NULL)
        p->cb(p->arg, p->ok);
    http1_parser_free(p->parser);
    buf_fini(&p->request);
    free(p);
}

/* The one exit: records the verdict, closes both handles; the last close callback reports and
 * frees. Idempotent. Pending connect/write requests are cancelled by libuv before the close
 * callbacks run, and their callbacks see PROBE_CLOSING. */
static void
probe_close(struct readiness_probe *p, bool ok, const char *reason)
{
    if (p->state == PROBE_CLOSING)
        return;
    probe_enter(p, PROBE_CLOSING);
    p->ok = ok;
    p->reason = reason;
    log_debug("readiness probe %s: %s (%s)", p->target, ok ? "ready" : "not ready", reason);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_probe_handle_closed);
    uv_close((uv_handle_t *)&p->h, on_probe_handle_closed);
}

static void
on_probe_timeout(uv_timer_t *t)
{
    probe_close(t->data, false, "timed out");
}

/* Decides on the first final response head: ready on 200-399. */
static int
on_probe_head(void *ud, struct http1_head *head)
{
    struct readiness_probe *p = ud;

    if (head->status >= 100 && head->status < 200 && head->status != 101)
        return HTTP1_OK; /* interim response: the final one follows */
    if (head->status >= 200 && head->status < 400)
        probe_close(p, true, "status 2xx/3xx");
    else
        probe_close(p, false, head->status >= 500 ? "status 5xx" : "status not 2xx/3xx");
    return HTTP1_ABORT; /* the verdict is in; the body is not needed */
}

static const struct http1_callbacks probe_http1_callbacks = {.on_head = on_probe_head};

static void
on_probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct readiness_probe *p = h->data;

    (void)suggested;
    *buf = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void
on_probe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct readiness_probe *p = s->data;
    size_t consumed = 0;
    int rc;

    if (p->state != PROBE_WAITING)
        return;
    if (nread == UV_EOF) {
        http1_parser_finish(p->parser);
        probe_close(p, false, "connection closed before a response");
        return;
    }
    if (nread < 0) {
        probe_close(p, false, "read error");
        return;
    }
    rc = http1_parser_feed(p->parser, buf->base, (size_t)nread, &consumed);
    if (p->state != PROBE_WAITING)
        return; /* on_head decided */
    if (rc == -EPROTO)
        probe_close(p, false, "invalid HTTP response");
    else if (rc != 0)
        probe_close(p, false, "response ended without a final status");
}

static void
on_probe_written(uv_write_t *req, int status)
{
    struct readiness_probe *p = req->data;

    if (p->state == PROBE_WAITING && status < 0)
        probe_close(p, false, "write error");
}

/* Connected: send the request and read the response head. */
static void
probe_send(struct readiness_probe *p)
{
    uv_buf_t b = uv_buf_init(p->request.data, (unsigned int)p->request.len);

    probe_enter(p, PROBE_WAITING);
    if (uv_read_start((uv_stream_t *)&p->h, on_probe_alloc, on_probe_read) != 0 ||
        uv_write(&p->write, (uv_stream_t *)&p->h, &b, 1, on_probe_written) != 0)
        probe_close(p, false, "cannot send the request");
}

static void
on_probe_connected(uv_connect_t *req, int status)
{
    struct readiness_probe *p = req->data;

    if (p->state != PROBE_CONNECTING)
        return; /* closed meanwhile (timeout): status is UV_ECANCELED */
    if (status < 0)
        probe_close(p, false, "connect failed");
    else if (!p->http)
        probe_close(p, true, "connected");
    else
        probe_send(p);
}

/* Starts the connect and the timer. Never calls <cb> before returning. */
static struct readiness_probe *
probe_start(uv_loop_t *loop, const struct addr *target, struct readiness_probe *p,
            uint64_t timeout_ms)
{
    int rc = 0;

    assert(p->state == PROBE_CONNECTING); /* calloc: the initial state */
    p->connect.data = p;
    p->write.data = p;
    str_copy(p->target, target->text, sizeof(p->target));
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->open_handles++;
    if (addr_is_unix(target)) {
        uv_pipe_init(loop, &p->h.pipe, 0);
        p->h.pipe.data = p;
        p->open_handles++;
        uv_pipe_connect(&p->connect, &p->h.pipe,
                        ((const struct sockaddr_un *)&target->ss)->sun_path, on_probe_connected);
    } else {
        uv_tcp_init(loop, &p->h.tcp);
        p->h.tcp.data = p;
        p->open_handles++;
        rc = uv_tcp_connect(&p->connect, &p->h.tcp, (const struct sockaddr *)&target->ss,
                            on_probe_connected);
    }
    uv_timer_start(&p->timer, on_probe_timeout, timeout_ms, 0);
    if (rc != 0)
        probe_close(p, false, "connect failed"); /* reported from the close callbacks */
    return p;
}

struct readiness_probe *
readiness_probe_tcp(uv_loop_t *loop, const struct addr *target, readiness_probe_cb cb, void *arg)
{
    struct readiness_probe *p = mem_calloc(1, sizeof(*p));

    p->cb = cb;
    p->arg = arg;
    buf_init(&p->request);
    return probe_start(loop, target, p, READINESS_PROBE_MAX_MS);
}

struct readiness_probe *
readiness_probe_http(uv_loop_t *loop, const struct addr *target, const char *path,
                     uint64_t timeout_ms, readiness_probe_cb cb, void *arg)
{
    static const struct http1_limits limits = {.max_head_bytes = 16 * 1024, .max_headers = 64};
    struct readiness_probe *p = mem_calloc(1, sizeof(*p));
    char host[ADDR_TEXT_MAX];

    p->cb = cb;
    p->arg = arg;
    p->http = true;
    p->parser = http1_parser_new(HTTP1_RESPONSE, &limits, &probe_http1_callbacks, p);
    http1_parser_set_request_method(p->parser, "GET");
    buf_init(&p->request);
    if (addr_is_unix(target)) {
        str_copy(host, "localhost", sizeof(host));
    } else {
        char ip[ADDR_TEXT_MAX];

        addr_host(target, ip, sizeof(ip));
        snprintf(host, sizeof(host), target->ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
                 addr_port(target));
    }
    buf_appendf(&p->request,
                "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cutover-supervise\r\n"
                "Connection: close\r\n\r\n",
                path, host);
    if (timeout_ms == 0 || timeout_ms > READINESS_PROBE_MAX_MS)
        timeout_ms = READINESS_PROBE_MAX_MS;
    return probe_start(loop, target, p, timeout_ms);
}

struct readiness_notify {
    uv_poll_t poll;
    int fd;
    char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    readiness_notify_cb cb;
    void *arg;
};

static void
on_notify_readable(uv_poll_t *h, int status, int events)
{
    struct readiness_notify *n = h->data;
    char data[4096];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;

    (void)events;
    if (status < 0)
        return;
    for (;;) {
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data) - 1};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf)};
        struct cmsghdr *c;
        ssize_t len = recvmsg(n->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        pid_t pid = 0;

        if (len < 0)
            return; /* EAGAIN: drained */
        data[len] = '\0';
        for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cred;

                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                pid = cred.pid;
            }
        }
        if (pid > 0)
            n->cb(n->arg, pid, data);
    }
}

int
readiness_notify_open(struct readiness_notify **out, uv_loop_t *loop, const char *path,
                      readiness_notify_cb cb, void *arg, struct err *err)
{
    struct readiness_notify *n = mem_calloc(1, sizeof(*n));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int one = 1;

    if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        free(n);
        return err_set(err, -ENAMETOOLONG, "%s: notify socket path too long", path);
    }
    str_copy(n->path, path, sizeof(n->path));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0 || setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
        goto fail;
    unlink(path);
    if (bind(n->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        goto fail;
    /* Workers may run as another user: they must be able to send. */
    chmod(path, 0666);
    n->cb = cb;
    n->arg = arg;
    uv_poll_init(loop, &n->poll, n->fd);
    n->poll.data = n;
    uv_poll_start(&n->poll, UV_READABLE, on_notify_readable);
    *out = n;
    return 0;
fail:
    err_set(err, -errno, "%s: notify socket: %s", path, strerror(errno));
    if (n->fd >= 0)
        close(n->fd);
    free(n);
    return -EIO;
}

const char *
readiness_notify_path(const struct readiness_notify *n)
{
    return n->path;
}

static void
on_notify_closed(uv_handle_t *h)
{
    struct readiness_notify *n = h->data;

    close(n->fd);
    free(n);
}

void
readiness_notify_close(struct readiness_notify *n)
{
    if (n == NULL)
        return;
    unlink(n->path);
    uv_close((uv_handle_t *)&n->poll, on_notify_closed);
}

static bool
epoll_watches(pid_t pid, const char *epfd, int fd)
{
    char path[384], line[256];
    FILE *f;
    bool found = false;
    int tfd;

    snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, epfd);
    if ((f = fopen(path, "re")) == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd;
    fclose(f);
    return found;
}

static bool
in_epoll_set(pid_t pid, int fd)
{
    char path[64], link[384], target[64];
    struct dirent *de;
    bool found = false;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if ((d = opendir(path)) == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0)
            found = epoll_watches(pid, de->d_name, fd);
    }
    closedir(d);
    return found;
}

static bool
blocked_in_accept(pid_t pid, int fd)
{
    char path[384], line[256];
    struct dirent *de;
    bool found = false;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    if ((d = opendir(path)) == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        long nr = -1;
        unsigned long arg0 = 0;
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", (int)pid, de->d_name);
        if ((f = fopen(path, "re")) == NULL)
            continue;
        if (fgets(line, sizeof(line), f) != NULL && sscanf(line, "%ld %lx", &nr, &arg0) == 2)
            found = (nr == SYS_accept || nr == SYS_accept4) && arg0 == (unsigned long)fd;
        fclose(f);
    }
    closedir(d);
    return found;
}

bool
readiness_accepting(pid_t pid, int fd)
{
    return in_epoll_set(pid, fd) || blocked_in_accept(pid, fd);
}
