/* SPDX-License-Identifier: ISC */
/* `cutover proxy`: the root object and its wiring. The main thread runs one uv loop with the
 * admin API, the health checker, signals and configuration publication; workers (worker.c)
 * each run their own loop and serve connections. Everything in this header is main-thread
 * only unless it says otherwise.
 *
 * Publication: proxy_publish() makes a generation current on the main thread at once, then
 * hands it to every worker (uv_async_send); each worker swaps its pointer on its own loop and
 * acks; the completion callback runs once every worker acked, so an admin call that waits for
 * it answers only when the change is in force everywhere. Targets present in the previous
 * generation and absent from the new one start draining (deregistration delay). Listener
 * sockets follow the generation: see proxy_publish. */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct err;
struct listener;
struct proxy_conf;
struct target_group_registry;

struct proxy; /* opaque: the root, created by proxy_main */

/* `cutover proxy -c FILE [--check] [--log-level L] [--access-log PATH|-]`; see
 * docs/man/cutover-proxy.md. Returns the exit status. */
int proxy_main(int argc, char **argv);

uv_loop_t *proxy_loop(struct proxy *p);

/* The current generation (the newest published), with a new ref: release with
 * proxy_conf_unref(). Never NULL once the proxy runs. */
struct proxy_conf *proxy_acquire_conf(struct proxy *p);

/* The registry of live targets (including draining ones), for the health checker, the admin
 * API and proxy_conf_add_targets(). */
struct target_group_registry *proxy_registry(struct proxy *p);

/* The listeners (sockets + counters), linked by ->next; for metrics. */
struct listener *proxy_listeners(struct proxy *p);

/* Worker count (= stats slots); fixed for the life of the process. */
size_t proxy_nworkers(const struct proxy *p);

/* Called once every worker switched to the published generation (status 0), or when the
 * proxy shuts down first (-ECANCELED). */
typedef void (*proxy_published_cb)(void *ud, int status);

/* Makes <next> current and sends it to every worker; takes ownership of the caller's ref.
 * Listeners <next> adds or re-binds are bound first (one SO_REUSEPORT socket per worker); the
 * same message that switches a worker to <next> makes it accept on its new sockets and stop
 * accepting on the sockets of listeners <next> drops or re-binds (their connections finish).
 * Returns 0 and runs <cb> (may be NULL) later from the loop, never from inside this call; or a
 * negative errno and a message (the generation is dropped, targets it alone registered are
 * forgotten, cb never runs): -EINVAL when <next> changes what cannot change at run time (the
 * worker count, the admin address), -ECANCELED while retiring, or the bind error
 * ("listener NAME: bind ADDR: …"). */
int proxy_publish(struct proxy *p, struct proxy_conf *next, proxy_published_cb cb, void *ud,
                  struct err *err);

/* <fn> runs on the main thread every time a new generation becomes current (right after
 * proxy_publish switched p's pointer and marked removed targets draining, before workers
 * ack). Used by the health checker to add and drop probes. At most 8 watchers. */
typedef void (*proxy_conf_watch_cb)(void *ud, struct proxy_conf *conf);
void proxy_watch_conf(struct proxy *p, proxy_conf_watch_cb fn, void *ud);

/* True once SIGTERM (or a binary upgrade handover) started retiring the process. */
bool proxy_is_retiring(const struct proxy *p);

#endif /* PROXY_PROXY_H */
