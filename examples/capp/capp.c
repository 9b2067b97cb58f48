/* SPDX-License-Identifier: ISC */
/* capp: the smallest useful HTTP/1.1 app for `cutover supervise`, in plain C with poll(2).
 *
 *   GET /health   200 "ok" (503 once draining)      GET /version  {"version","pid"}
 *   GET /         "hello from capp VERSION"          anything else 404
 *
 * Binding: LISTEN_FDS=1 and LISTEN_PID = our pid → the supervisor's socket on fd 3 (listen:
 * mode); otherwise PORT (and HOST, default 127.0.0.1). Readiness: "READY=1" is sent to
 * NOTIFY_SOCKET once listening (ready: {notify: true}). VERSION comes from APP_VERSION.
 *
 * Drain contract (docs/man/cutover-supervise.md), on SIGTERM or SIGINT: close our copy of the
 * listening socket, finish what is in flight, answer whatever still arrives with
 * `Connection: close`, close idle keep-alive connections after a 1 s grace, exit 0 when no
 * connection is left.
 *
 * Deliberately small: requests with a body are read by Content-Length and ignored, chunked
 * request bodies get 501 and a close. Build: `make` (see Makefile). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNS = 1024, IN_MAX = 16384, OUT_MAX = 16384 };
#define GRACE_MS 1000
#define IDLE_MS 65000

struct conn {
    int fd;
    size_t in_len;
    size_t out_len, out_off;
    bool close_after; /* close once out is written */
    long long last_ms;
    char in[IN_MAX];
    char out[OUT_MAX];
};

static struct conn *conns[MAX_CONNS];
static size_t nconns;
static int listen_fd = -1;
static bool draining;
static long long drain_ms;
static const char *version = "dev";
static bool head_only; /* the request being answered is HEAD: no body */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
say(const char *msg)
{
    printf("capp pid=%d version=%s %s\n", (int)getpid(), version, msg);
    fflush(stdout);
}

static int
open_listener(void)
{
    const char *fds = getenv("LISTEN_FDS"), *lpid = getenv("LISTEN_PID");
    const char *port = getenv("PORT"), *host = getenv("HOST");
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int one = 1, fd;

    if (fds != NULL && strtol(fds, NULL, 10) >= 1 && lpid != NULL &&
        strtol(lpid, NULL, 10) == (long)getpid()) {
        fcntl(3, F_SETFD, FD_CLOEXEC);
        fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
        say("listening on fd 3");
        return 3;
    }
    if (port == NULL) {
        fprintf(stderr, "capp: set PORT or run under `cutover supervise` (LISTEN_FDS)\n");
        exit(2);
    }
    sa.sin_port = htons((unsigned short)strtol(port, NULL, 10));
    if (inet_pton(AF_INET, host != NULL ? host : "127.0.0.1", &sa.sin_addr) != 1) {
        fprintf(stderr, "capp: HOST must be an IPv4 address\n");
        exit(2);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 511) != 0) {
        perror("capp: listen");
        exit(1);
    }
    say("listening on PORT");
    return fd;
}

/* sd_notify("READY=1") without libsystemd: one datagram to NOTIFY_SOCKET ('@' = abstract). */
static void
notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len;
    int fd;

    if (path == NULL || (len = strlen(path)) == 0 || len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        perror("capp: notify");
    close(fd);
}

static void
conn_close(size_t i)
{
    close(conns[i]->fd);
    free(conns[i]);
    conns[i] = conns[--nconns];
}

static void
respond(struct conn *c, int status, const char *reason, const char *type, const char *body,
        bool keep)
{
    size_t room = OUT_MAX - c->out_len;
    int n;

    if (draining)
        keep = false; /* contract step 3 */
    n = snprintf(c->out + c->out_len, room,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: %s\r\n\r\n%s",
                 status, reason, type, strlen(body), keep ? "keep-alive" : "close",
                 head_only ? "" : body);
    if (n < 0 || (size_t)n >= room) {
        c->close_after = true; /* too many pipelined answers queued: stop here */
        return;
    }
    c->out_len += (size_t)n;
    if (!keep)
        c->close_after = true;
}

static bool
header_is(const char *head, const char *name, const char *value)
{
    size_t nlen = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            h += nlen + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return value == NULL || strncasecmp(h, value, strlen(value)) == 0;
        }
    }
    return false;
}

/* Handles every complete request in c->in. Returns false when the connection must close now. */
static bool
serve(struct conn *c)
{
    char body[256], method[16], target[1024], proto[16];

    while (!c->close_after) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        size_t head_len, clen = 0;
        const char *cl;
        bool keep;

        if (end == NULL)
            return c->in_len < IN_MAX; /* a head larger than the buffer: drop the client */
        *end = '\0';
        head_len = (size_t)(end - c->in) + 4;
        if (sscanf(c->in, "%15s %1023s %15s", method, target, proto) != 3)
            return false;
        keep = strcmp(proto, "HTTP/1.1") == 0 ? !header_is(c->in, "Connection", "close")
                                              : header_is(c->in, "Connection", "keep-alive");
        if (header_is(c->in, "Transfer-Encoding", NULL)) {
            respond(c, 501, "Not Implemented", "text/plain", "chunked bodies not supported\n",
                    false);
            return true;
        }
        if ((cl = strcasestr(c->in, "\r\nContent-Length:")) != NULL)
            clen = strtoul(cl + 17, NULL, 10);
        if (head_len + clen > IN_MAX) {
            respond(c, 413, "Content Too Large", "text/plain", "body too large\n", false);
            return true;
        }
        if (c->in_len < head_len + clen) {
            *end = '\r'; /* wait for the rest of the body */
            return true;
        }
        head_only = strcmp(method, "HEAD") == 0;
        if (strcmp(method, "GET") != 0 && !head_only)
            respond(c, 405, "Method Not Allowed", "text/plain", "GET only\n", keep);
        else if (strcmp(target, "/health") == 0)
            respond(c, draining ? 503 : 200, draining ? "Draining" : "OK", "text/plain",
                    draining ? "draining\n" : "ok\n", keep);
        else if (strcmp(target, "/version") == 0) {
            snprintf(body, sizeof(body), "{\"version\":\"%s\",\"pid\":%d}\n", version,
                     (int)getpid());
            respond(c, 200, "OK", "application/json", body, keep);
        } else if (strcmp(target, "/") == 0) {
            snprintf(body, sizeof(body), "hello from capp %s\n", version);
            respond(c, 200, "OK", "text/plain", body, keep);
        } else
            respond(c, 404, "Not Found", "text/plain", "not found\n", keep);
        memmove(c->in, c->in + head_len + clen, c->in_len - head_len - clen);
        c->in_len -= head_len + clen;
    }
    return true;
}

/* Reads and answers; returns false when the connection is done. */
static bool
on_readable(struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, IN_MAX - c->in_len);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return false;
    if (n > 0) {
        c->in_len += (size_t)n;
        c->last_ms = now_ms();
        return serve(c);
    }
    return true;
}

static bool
on_writable(struct conn *c)
{
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->close_after)
            return false;
        c->last_ms = now_ms();
        return serve(c); /* pipelined requests that waited for room */
    }
    return true;
}

static void
accept_all(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct conn *c;

        if (fd < 0)
            return; /* EAGAIN, or a transient error: poll again */
        if (nconns == MAX_CONNS) {
            close(fd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_ms = now_ms();
        conns[nconns++] = c;
    }
}

static void
start_drain(int sig)
{
    char msg[64];

    if (draining)
        return;
    draining = true;
    drain_ms = now_ms();
    close(listen_fd); /* contract step 1: the other workers keep the socket */
    listen_fd = -1;
    snprintf(msg, sizeof(msg), "%s: draining %zu connection(s)", strsignal(sig), nconns);
    say(msg);
}

/* Closes idle connections: after the grace when draining, after IDLE_MS otherwise. */
static void
sweep_idle(void)
{
    long long now = now_ms();

    for (size_t i = 0; i < nconns;) {
        struct conn *c = conns[i];
        bool idle = c->in_len == 0 && c->out_len == 0;
        if (idle && ((draining && now - drain_ms >= GRACE_MS) || now - c->last_ms >= IDLE_MS))
            conn_close(i);
        else
            i++;
    }
}

int
main(void)
{
    static struct pollfd pfd[MAX_CONNS + 2];
    sigset_t mask;
    int sfd;

    if (getenv("APP_VERSION") != NULL)
        version = getenv("APP_VERSION");
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        perror("capp: signalfd");
        return 1;
    }
    listen_fd = open_listener();
    notify_ready();

    while (!draining || nconns > 0) {
        size_t np = 0, base, polled = nconns;

        pfd[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[np++] = (struct pollfd){.fd = listen_fd, .events = POLLIN}; /* -1: ignored */
        base = np;
        for (size_t i = 0; i < nconns; i++)
            pfd[np++] = (struct pollfd){.fd = conns[i]->fd,
                                        .events = conns[i]->out_len > 0 ? POLLOUT : POLLIN};
        if (poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR) {
            perror("capp: poll");
            return 1;
        }
        /* Downwards: conn_close(i) moves the last connection into slot i, so the slots below
         * i still match pfd. */
        for (size_t i = polled; i-- > 0;) {
            struct conn *c = conns[i];
            short ev = pfd[base + i].revents;
            bool ok = true;

            if (ev == 0)
                continue;
            if (ev & (POLLERR | POLLNVAL))
                ok = false;
            else if (c->out_len > 0)
                ok = on_writable(c);
            else if (ev & (POLLIN | POLLHUP))
                ok = on_readable(c);
            if (ok && c->out_len > 0)
                ok = on_writable(c);
            if (!ok)
                conn_close(i);
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                start_drain((int)si.ssi_signo);
        }
        if (!draining && (pfd[1].revents & POLLIN))
            accept_all();
        sweep_idle();
    }
    say("drained, exiting");
    return 0;
}
