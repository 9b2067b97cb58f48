/* SPDX-License-Identifier: ISC */
/* A listener's sockets and counters, which outlive configuration generations (a generation
 * only says where a listener forwards). Each listener has one SO_REUSEPORT listening socket
 * per worker, so the kernel spreads connections and no worker wakes for another's accept.
 * The fds can be inherited across a binary upgrade, which keeps their accept queues. A listener
 * object never changes address: re-binding a listener replaces the object (proxy.c), and the
 * old one lives until the last worker socket and connection using it are gone. */
#ifndef PROXY_LISTENER_H
#define PROXY_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

struct err;

/* One worker's counters for one listener. Read them summed with listener_stats_read(). */
struct listener_stats {
    uint64_t requests[6];    /* finished requests by status class (index status/100; 0: none) */
    uint64_t bytes_received; /* bytes read from clients */
    uint64_t bytes_sent;     /* bytes written to clients */
    uint64_t conns_accepted; /* client connections accepted */
    uint64_t conns_closed;   /* client connections closed (active = accepted - closed) */
};

struct listener {
    _Atomic uint32_t refs; /* the proxy's list, and each worker socket serving it */
    char *name;            /* owned */
    struct addr addr;      /* what the fds are bound to */
    int *fds;              /* owned: nfds listening sockets (workers serve dups); -1 once closed */
    size_t nfds;
    size_t nslots;                /* stats slots: one per worker */
    struct listener_stats *slots; /* owned: cache-line aligned */
    struct listener *next;        /* the proxy's list */
};

/* Binds <nworkers> SO_REUSEPORT listening sockets for <addr>, or adopts the <ninherited> fds
 * of <inherited> when not NULL (binary upgrade; worker i serves fds[j] for j % nworkers == i).
 * Stats get one slot per worker. Returns 0 or a negative errno with
 * "listener NAME: bind ADDR: …". */
int listener_new(struct listener **out, const char *name, const struct addr *addr, size_t nworkers,
                 const int *inherited, size_t ninherited, struct err *err);
/* Reference counting; any thread. The last unref closes the fds still owned and frees. */
struct listener *listener_ref(struct listener *l);
void listener_unref(struct listener *l);
/* Closes the fds the listener owns (main thread): once every worker closed its dups too, the
 * address stops accepting. */
void listener_close_fds(struct listener *l);

/* Sums every slot into <out>; any thread. */
void listener_stats_read(const struct listener *l, struct listener_stats *out);

/* Worker <slot> only: account one event (relaxed load + store on the worker's own slot). */
void listener_stats_request(struct listener *l, size_t slot, int status, uint64_t received,
                            uint64_t sent);
void listener_stats_conn(struct listener *l, size_t slot, int opened);

#endif /* PROXY_LISTENER_H */
