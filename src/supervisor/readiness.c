/* SPDX-License-Identifier: ISC */
/* Readiness probes and the notify socket; see readiness.h. */
#include "supervisor/readiness.h"

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
#include "common/http_client.h"
#include "common/mem.h"
#include "common/str.h"

struct readiness_probe {
    readiness_probe_cb cb; /* NULL once cancelled */
    void *arg;
    bool ok;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_connect_t connect;
    uv_work_t work;
    char url[512];
    char unix_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    long timeout_ms;
};

void
readiness_probe_cancel(struct readiness_probe *p)
{
    if (p != NULL)
        p->cb = NULL;
}

static void
finish(struct readiness_probe *p)
{
    if (p->cb != NULL)
        p->cb(p->arg, p->ok);
    free(p);
}

static void
on_probe_closed(uv_handle_t *h)
{
    finish(h->data);
}

static void
on_probe_connected(uv_connect_t *req, int status)
{
    struct readiness_probe *p = req->data;

    p->ok = status == 0;
    uv_close((uv_handle_t *)&p->h, on_probe_closed);
}

struct readiness_probe *
readiness_probe_tcp(uv_loop_t *loop, const struct addr *target, readiness_probe_cb cb, void *arg)
{
    struct readiness_probe *p = mem_calloc(1, sizeof(*p));
    int rc;

    p->cb = cb;
    p->arg = arg;
    p->connect.data = p;
    if (addr_is_unix(target)) {
        uv_pipe_init(loop, &p->h.pipe, 0);
        p->h.pipe.data = p;
        uv_pipe_connect(&p->connect, &p->h.pipe,
                        ((const struct sockaddr_un *)&target->ss)->sun_path, on_probe_connected);
        return p;
    }
    uv_tcp_init(loop, &p->h.tcp);
    p->h.tcp.data = p;
    rc = uv_tcp_connect(&p->connect, &p->h.tcp, (const struct sockaddr *)&target->ss,
                        on_probe_connected);
    if (rc != 0) {
        p->ok = false;
        uv_close((uv_handle_t *)&p->h.tcp, on_probe_closed);
    }
    return p;
}

static void
do_http_probe(uv_work_t *req)
{
    struct readiness_probe *p = req->data;
    long status = 0;

    if (http_client_get_status(p->url, p->unix_path[0] ? p->unix_path : NULL, p->timeout_ms,
                               &status, NULL) == 0)
        p->ok = status >= 200 && status < 400;
}

static void
after_http_probe(uv_work_t *req, int status)
{
    (void)status;
    finish(req->data);
}

struct readiness_probe *
readiness_probe_http(uv_loop_t *loop, const struct addr *target, const char *path,
                     uint64_t timeout_ms, readiness_probe_cb cb, void *arg)
{
    struct readiness_probe *p = mem_calloc(1, sizeof(*p));
    char host[ADDR_TEXT_MAX];

    p->cb = cb;
    p->arg = arg;
    p->work.data = p;
    p->timeout_ms = timeout_ms > 0 && timeout_ms < 2000 ? (long)timeout_ms : 2000;
    if (addr_is_unix(target)) {
        str_copy(p->unix_path, ((const struct sockaddr_un *)&target->ss)->sun_path,
                 sizeof(p->unix_path));
        snprintf(p->url, sizeof(p->url), "http://localhost%s", path);
    } else {
        addr_host(target, host, sizeof(host));
        if (target->ss.ss_family == AF_INET6)
            snprintf(p->url, sizeof(p->url), "http://[%s]:%d%s", host, addr_port(target), path);
        else
            snprintf(p->url, sizeof(p->url), "http://%s:%d%s", host, addr_port(target), path);
    }
    uv_queue_work(loop, &p->work, do_http_probe, after_http_probe);
    return p;
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
