/* SPDX-License-Identifier: ISC */
/* GET /metrics: the Prometheus text exposition (format 0.0.4) of the counters the data path
 * keeps on struct target and struct listener. Rendering only reads (relaxed loads of per-worker
 * slots, summed), so a scrape never slows a worker down.
 *
 *   cutover_requests_total{listener,target_group,target,status_class}   counter
 *       requests a target finished, by status class ("2xx"; "none" when the target gave no
 *       response); <listener> names the listener(s) whose action forwards to the group
 *   cutover_target_response_time_seconds{target_group,target}            histogram
 *   cutover_target_bytes_sent_total / _received_total{target_group,target}
 *   cutover_target_connect_errors_total / cutover_target_timeouts_total
 *   cutover_target_in_flight{target_group,target}                       gauge
 *   cutover_target_state{target_group,target,state}                     gauge (1 for the state)
 *   cutover_target_group_healthy_hosts / _unhealthy_hosts{target_group}  gauge
 *   cutover_listener_requests_total{listener,status_class}              counter
 *   cutover_listener_active_connections{listener}                       gauge
 *   cutover_listener_connections_total{listener}                        counter
 *   cutover_listener_bytes_received_total / _sent_total{listener}       counter
 *   cutover_config_generation                                           gauge
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

struct buf;
struct listener;
struct proxy_conf;
struct target_group_registry;

/* Appends the exposition to <out>. <conf>: the current generation (its groups and actions);
 * <listeners>: the proxy's list (may be NULL); <reg>: when not NULL, draining targets that left
 * <conf> are included too. Main thread (the registry is main-thread only). */
void metrics_render(struct buf *out, const struct proxy_conf *conf,
                    const struct listener *listeners, struct target_group_registry *reg);

#endif /* PROXY_METRICS_H */
