/* SPDX-License-Identifier: ISC */
/* Listening sockets: one SO_REUSEPORT socket per worker, bound and listening before any worker
 * serves them (at startup, or before the generation that adds the listener is published), so a
 * bind error is a startup error or a refused change, and a binary upgrade can hand the fds
 * over. */
#include "proxy/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/mem.h"

#define LISTEN_BACKLOG 4096

static int
open_one(const struct addr *addr, int *out)
{
    int one = 1;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (addr->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    *out = fd;
    return 0;
fail : {
    int rc = -errno;
    close(fd);
    return rc;
}
}

static struct listener *
alloc_listener(const char *name, const struct addr *addr, size_t nfds, size_t nslots)
{
    struct listener *l = mem_calloc(1, sizeof(*l));
    size_t bytes = ((nslots * sizeof(struct listener_stats) + 63) / 64) * 64;

    atomic_init(&l->refs, 1);
    l->name = mem_strdup(name);
    l->addr = *addr;
    l->fds = mem_alloc(nfds * sizeof(int));
    for (size_t i = 0; i < nfds; i++)
        l->fds[i] = -1;
    l->nfds = nfds;
    l->nslots = nslots;
    l->slots = aligned_alloc(64, bytes);
    if (l->slots == NULL)
        mem_oom();
    memset(l->slots, 0, bytes);
    return l;
}

/* SO_REUSEPORT lets any process of the same user join a port: refuse a port that is already
 * bound (by another proxy, or a stale one) instead of silently sharing its traffic. A plain
 * socket cannot bind a port that a reuseport group holds. */
static int
port_free(const struct addr *addr)
{
    int one = 1, rc = 0;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->ss.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

int
listener_new(struct listener **out, const char *name, const struct addr *addr, size_t nworkers,
             const int *inherited, size_t ninherited, struct err *err)
{
    size_t nfds = inherited != NULL ? ninherited : nworkers;
    struct listener *l;
    int rc;

    ASSERT(nworkers >= 1 && nfds >= 1);
    if (inherited == NULL && (rc = port_free(addr)) != 0)
        return err_set(err, rc, "listener %s: bind %s: %s", name, addr->text, strerror(-rc));
    l = alloc_listener(name, addr, nfds, nworkers);
    for (size_t i = 0; i < nfds; i++) {
        if (inherited != NULL) {
            l->fds[i] = inherited[i];
            (void)fcntl(l->fds[i], F_SETFD, FD_CLOEXEC);
            continue;
        }
        if ((rc = open_one(addr, &l->fds[i])) != 0) {
            err_set(err, rc, "listener %s: bind %s: %s", name, addr->text, strerror(-rc));
            listener_unref(l);
            return rc;
        }
    }
    *out = l;
    return 0;
}

struct listener *
listener_ref(struct listener *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

void
listener_close_fds(struct listener *l)
{
    for (size_t i = 0; i < l->nfds; i++) {
        if (l->fds[i] >= 0)
            close(l->fds[i]);
        l->fds[i] = -1;
    }
}

void
listener_unref(struct listener *l)
{
    if (l == NULL || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    listener_close_fds(l);
    free(l->fds);
    free(l->slots);
    free(l->name);
    free(l);
}

static inline void
bump(uint64_t *word, uint64_t n)
{
    _Atomic uint64_t *a = (_Atomic uint64_t *)word;

    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void
listener_stats_read(const struct listener *l, struct listener_stats *out)
{
    const size_t nwords = sizeof(*out) / sizeof(uint64_t);
    uint64_t *dst = (uint64_t *)out;

    memset(out, 0, sizeof(*out));
    for (size_t s = 0; s < l->nslots; s++) {
        _Atomic uint64_t *src = (_Atomic uint64_t *)&l->slots[s];
        for (size_t i = 0; i < nwords; i++)
            dst[i] += atomic_load_explicit(&src[i], memory_order_relaxed);
    }
}

void
listener_stats_request(struct listener *l, size_t slot, int status, uint64_t received,
                       uint64_t sent)
{
    struct listener_stats *s = &l->slots[slot];
    int cls = status / 100;

    bump(&s->requests[cls >= 1 && cls <= 5 ? cls : 0], 1);
    bump(&s->bytes_received, received);
    bump(&s->bytes_sent, sent);
}

void
listener_stats_conn(struct listener *l, size_t slot, int opened)
{
    if (opened)
        bump(&l->slots[slot].conns_accepted, 1);
    else
        bump(&l->slots[slot].conns_closed, 1);
}
