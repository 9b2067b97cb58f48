/* SPDX-License-Identifier: ISC */
/* The orchestrator's client of the proxy admin API (DESIGN.md): change a listener's forward
 * action and read it back, register and deregister targets, read a target group's health,
 * scrape /metrics. Each call runs as one uv_queue_work request (libcurl through
 * common/http_fetch on the threadpool) and reports on the loop thread, so the loop never
 * blocks on a slow or dead proxy; every request is bounded by TRAFFIC_TIMEOUT_MS.
 * The admin address is "http://host:port", "host:port" or "unix:/path". */
#ifndef SERVER_TRAFFIC_H
#define SERVER_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "protocol/proxy_api.h"

#define TRAFFIC_TIMEOUT_MS 3000

struct traffic_result {
    int status;                     /* 0, or a negative errno */
    char msg[256];                  /* why, when status < 0 */
    struct proxy_api_action action; /* set_forward: the listener's action as read back */
    struct proxy_api_health health; /* health: the group's targets */
    const char *text;               /* metrics: the exposition (NUL-terminated) */
    size_t text_len;
};

/* Called once on the loop thread with the result (borrowed for the call). */
typedef void traffic_cb(void *ud, const struct traffic_result *res);

/* PUT /listeners/<listener>/action with <fw> (<n> entries, copied), then GET /listeners and
 * check that the listener forwards exactly those weights: -EPROTO "read back …" if not.
 * Returns 0 (cb will run) or -EINVAL for a bad admin address (cb will not run). */
int traffic_set_forward(uv_loop_t *loop, const char *admin, const char *listener,
                        const struct proxy_api_forward *fw, size_t n, traffic_cb *cb, void *ud);

/* POST (<add>) or DELETE /target-groups/<group>/targets with <targets> (copied). */
int traffic_targets(uv_loop_t *loop, const char *admin, const char *group, bool add,
                    const char *const *targets, size_t n, traffic_cb *cb, void *ud);

/* GET /target-groups/<group>/health into res->health. */
int traffic_health(uv_loop_t *loop, const char *admin, const char *group, traffic_cb *cb, void *ud);

/* GET /listeners: the forward action of <listener> into res->action (-EPROTO if there is no
 * such listener). */
int traffic_listener(uv_loop_t *loop, const char *admin, const char *listener, traffic_cb *cb,
                     void *ud);

/* GET /metrics into res->text. */
int traffic_metrics(uv_loop_t *loop, const char *admin, traffic_cb *cb, void *ud);

/* The state of <target> in <h> ("healthy", "draining", …), or NULL when it is not listed. */
const char *traffic_target_state(const struct proxy_api_health *h, const char *target);

#endif /* SERVER_TRAFFIC_H */
