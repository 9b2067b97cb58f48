/* SPDX-License-Identifier: ISC */
/* Alarms evaluated from the proxy's own metrics: turns one /metrics scrape (Prometheus text,
 * families cutover_requests_total and cutover_target_response_time_seconds, see
 * proxy/metrics.c) into one target group's cumulative sample, and keeps a sliding window of
 * samples per watched group to evaluate server/deployment.h alarms over. Pure: the scrape
 * itself is traffic_metrics(), driven by the orchestrator. */
#ifndef SERVER_ALARMS_H
#define SERVER_ALARMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/deployment.h"

#define ALARMS_WINDOW_SAMPLES 256 /* at one scrape per 500 ms: a bit over two minutes */

/* Sums the counters of <target_group> over its targets in the exposition <text> (<len>
 * bytes): requests of every status class, errors (status_class "5xx" and "none": the client
 * got a 5xx either way), and the response time histogram. at_ms is set to <at_ms>. A group
 * with no series gives a zero sample. Returns 0, or -EINVAL when a line of a family it reads
 * is malformed. */
int alarms_parse_sample(const char *text, size_t len, const char *target_group, uint64_t at_ms,
                        struct deployment_metric_sample *out);

/* The samples of one target group, oldest first, the oldest dropped when full. */
struct alarms_window {
    struct deployment_metric_sample ring[ALARMS_WINDOW_SAMPLES];
    size_t head; /* index of the oldest */
    size_t n;
};

void alarms_window_init(struct alarms_window *w);
void alarms_window_push(struct alarms_window *w, const struct deployment_metric_sample *s);
/* Evaluates <a> over the window ending at the newest sample (the base is the newest sample at
 * or before newest - window, else the oldest one held). False with *value 0 with fewer than two
 * samples. */
bool alarms_window_eval(const struct alarms_window *w, const struct deployment_alarm *a,
                        double *value);

#endif /* SERVER_ALARMS_H */
