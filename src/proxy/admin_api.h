/* SPDX-License-Identifier: ISC */
/* The proxy's admin API: JSON over HTTP/1.1 on the main loop, bound to `admin:` (TCP, loopback
 * by default) or `unix:/path` (mode 0600). Bodies are protocol/proxy_api's.
 *
 *   GET    /healthz                         200 {"status":"ok"}
 *   GET    /metrics                         Prometheus text (proxy/metrics.h)
 *   GET    /listeners                       every listener and its forward action
 *   GET    /listeners/NAME                  one listener
 *   PUT    /listeners/NAME/action           replace the forward action
 *   PUT    /listeners/NAME                  create (201) or replace (200) {"bind","forward"}
 *   DELETE /listeners/NAME                  stop accepting; accepted connections finish
 *   GET    /target-groups                   every group, its settings and targets
 *   GET    /target-groups/NAME              one group
 *   PUT    /target-groups/NAME              create (201) or replace (200) settings and targets
 *   DELETE /target-groups/NAME              409 while a listener forwards to it
 *   GET    /target-groups/NAME/health       targets with state, reason, description, in_flight
 *   POST   /target-groups/NAME/targets      register {"targets":[…]}
 *   DELETE /target-groups/NAME/targets      deregister (starts the deregistration delay)
 *   POST   /changes                         several of the above in one generation
 *
 * Every change is atomic: a new generation is cloned from the current one, modified, validated
 * and published to every worker; the answer is sent only after every worker switched to it.
 * Invalid JSON or values → 400, unknown listener or group in the path → 404, a bind that fails
 * or a group still in use → 409, all with {"error":"…"}; nothing is changed on any error. */
#ifndef PROXY_ADMIN_API_H
#define PROXY_ADMIN_API_H

struct err;
struct proxy;

struct admin_api; /* opaque */

/* Serves the admin API of <p> on the address of its current generation (conf->admin), or on
 * <inherited_fd> (>= 0: a listening socket handed over by a binary upgrade; -1 otherwise).
 * A unix socket path is created with mode 0600 (a stale socket file is replaced). Returns 0 or
 * a negative errno with "admin ADDR: …" in <err>. Main thread. */
int admin_api_start(struct admin_api **out, struct proxy *p, int inherited_fd, struct err *err);

/* The listening socket's fd, to hand to a new binary (it stays open and owned by <a>). */
int admin_api_fd(const struct admin_api *a);

/* Stops listening, closes every admin connection and frees <a> once all handles closed (and
 * every pending publication called back); the loop must run for that. Main thread. */
void admin_api_stop(struct admin_api *a);

#endif /* PROXY_ADMIN_API_H */
