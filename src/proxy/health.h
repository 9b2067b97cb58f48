/* SPDX-License-Identifier: ISC */
/* Health checks as ALB does them: one probe per target of every target group that some
 * listener's action names (whatever its weight), on the main loop. Each probe connects to the
 * target (or the group's health check port), sends `GET <path>`, and matches the status against
 * the group's matcher within the timeout. States and reason codes are ALB's:
 *   initial ──1 pass──▶ healthy ──unhealthy_threshold failures in a row──▶ unhealthy
 *   initial ──unhealthy_threshold failures──▶ unhealthy ──healthy_threshold passes──▶ healthy
 * Draining and unused targets are not probed; targets of groups no listener forwards to are
 * `unused` (Target.NotInUse). Every state change is logged at info.
 * Only the main thread (the loop passed by the proxy) touches anything here. */
#ifndef PROXY_HEALTH_H
#define PROXY_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/target_group.h"

#include <uv.h>

struct err;
struct proxy_conf;

/* How one probe ended. */
enum health_outcome {
    HEALTH_PASS = 0,       /* a status the matcher accepts */
    HEALTH_BAD_STATUS,     /* a response with another status: Target.ResponseCodeMismatch */
    HEALTH_TIMEOUT,        /* no response head within the timeout: Target.Timeout */
    HEALTH_CONNECT_FAILED, /* refused, reset, unreachable: Target.FailedHealthChecks */
    HEALTH_BAD_RESPONSE,   /* closed early or not HTTP: Target.FailedHealthChecks */
};
#define HEALTH_NOUTCOMES (HEALTH_BAD_RESPONSE + 1)

/* "pass", "bad_status", "timeout", "connect_failed", "bad_response". */
const char *health_outcome_name(enum health_outcome o);

/* A target state with its reason. */
struct health_verdict {
    enum target_state state;
    enum target_reason reason;
};

/* Pure: the state after outcome <o> for a target in <cur>, updating the consecutive counters
 * *passes and *failures. Draining and unused targets are returned unchanged. */
struct health_verdict health_next(struct health_verdict cur, uint32_t *passes, uint32_t *failures,
                                  uint32_t healthy_threshold, uint32_t unhealthy_threshold,
                                  enum health_outcome o);

/* A matcher as ALB writes them: "200", "200-399", "200,302", "200-299,302" (codes 200-499). */
#define HEALTH_MATCHER_MAX 16
struct health_matcher {
    size_t n;
    struct {
        uint16_t lo, hi; /* inclusive */
    } ranges[HEALTH_MATCHER_MAX];
};

/* Parses <s>. Returns 0 or -EINVAL with "invalid matcher '<s>' (expected …)". */
int health_matcher_parse(struct health_matcher *m, const char *s, struct err *err);
bool health_matcher_match(const struct health_matcher *m, int status);

struct health; /* the checker: every probe of one proxy */

/* A checker on <loop> (the main loop) with no probes yet. Never fails. Wiring (proxy.c):
 *   h = health_new(loop);
 *   health_update(h, current_conf);
 *   proxy_watch_conf(p, health_update, h);
 */
struct health *health_new(uv_loop_t *loop);

/* Reconciles the probes with generation <conf> (borrowed for the call): starts probing new
 * targets (the first check at once), refreshes the settings of existing ones, stops probing
 * targets that left or started draining, and marks the targets of groups in no listener's
 * action `unused`. Has the proxy_conf_watch_cb shape; <health> is a struct health *. */
void health_update(void *health, struct proxy_conf *conf);

/* Stops every probe (checks in flight are abandoned) and frees <h> once its handles closed;
 * the loop must run for that. Call at shutdown, when no further generation will be published
 * (health_update must not run after this). Targets keep their last state. */
void health_stop(struct health *h);

#endif /* PROXY_HEALTH_H */
