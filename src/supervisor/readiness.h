/* SPDX-License-Identifier: ISC */
/* Readiness checks for workers: one-shot probes (tcp connect, HTTP GET) and the sd_notify
 * datagram socket. A probe is an owned object with its own lifetime: readiness_probe_cancel()
 * only detaches the caller, the probe frees itself once its I/O is done, so a worker can go away
 * with a probe in flight. */
#ifndef SUPERVISOR_READINESS_H
#define SUPERVISOR_READINESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "common/addr.h"

struct err;
struct readiness_probe;
struct readiness_notify;

/* <ok> is true when the target answered as required. Never called after cancel. */
typedef void (*readiness_probe_cb)(void *arg, bool ok);

/* Connects to <target>; ok when the connection is accepted within 2 s. */
struct readiness_probe *readiness_probe_tcp(uv_loop_t *loop, const struct addr *target,
                                            readiness_probe_cb cb, void *arg);
/* GET <path> from <target> on <loop> (non-blocking, Connection: close); ok when the final
 * response status is 200-399 within <timeout_ms> (0 or over 2000: 2000). */
struct readiness_probe *readiness_probe_http(uv_loop_t *loop, const struct addr *target,
                                             const char *path, uint64_t timeout_ms,
                                             readiness_probe_cb cb, void *arg);
/* Detaches the caller; the callback will not run. NULL-safe. */
void readiness_probe_cancel(struct readiness_probe *p);

/* True when process <pid> is accepting on its descriptor <fd>: <fd> is in one of its epoll
 * sets (event-loop servers: Node, Python asyncio, Go, libuv, nginx-style C), or one of its
 * threads is blocked in accept()/accept4() on it. This is how a listen: mode worker is told apart
 * from the others sharing the same socket: an HTTP probe through the shared socket may be
 * answered by any worker, so it only counts once the new worker is accepting itself. */
bool readiness_accepting(pid_t pid, int fd);

/* Receives "READY=1" (and other sd_notify fields, ignored) from workers. The sender is
 * identified by its kernel-verified pid (SO_PASSCRED). */
typedef void (*readiness_notify_cb)(void *arg, pid_t pid, const char *msg);

/* Binds a datagram socket at <path> (replacing a stale file). */
int readiness_notify_open(struct readiness_notify **out, uv_loop_t *loop, const char *path,
                          readiness_notify_cb cb, void *arg, struct err *err);
const char *readiness_notify_path(const struct readiness_notify *n);
/* Closes and unlinks; frees once libuv is done with the handle. NULL-safe. */
void readiness_notify_close(struct readiness_notify *n);

#endif /* SUPERVISOR_READINESS_H */
