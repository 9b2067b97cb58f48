/* SPDX-License-Identifier: ISC */
/* Webhook deliveries (triggerConfigurations): each notification is POSTed as JSON on the
 * threadpool, retried on failure with doubling delays (NOTIFY_FIRST_RETRY_MS, ×2, at most
 * NOTIFY_ATTEMPTS attempts), and never blocks or fails a deployment: a notification that
 * cannot be delivered is logged and dropped. Deliveries are in memory only (a webhook is a
 * notification, not a record: the deployment's rows are the record). */
#ifndef SERVER_NOTIFY_H
#define SERVER_NOTIFY_H

#include <stdint.h>

#include <uv.h>

#define NOTIFY_ATTEMPTS 5
#define NOTIFY_FIRST_RETRY_MS 500
#define NOTIFY_TIMEOUT_MS 5000

struct notify;

/* Creates the sender on <loop> (NOTIFY_ATTEMPTS, NOTIFY_FIRST_RETRY_MS). */
struct notify *notify_new(uv_loop_t *loop);

/* Overrides the retry policy for deliveries queued from now on (tests; attempts >= 1). */
void notify_set_policy(struct notify *n, unsigned attempts, uint64_t first_retry_ms);

/* Queues one delivery of <body> (taken: malloc'd JSON) to <url>. Never fails. */
void notify_send(struct notify *n, const char *url, char *body);

/* Deliveries pending or in flight (tests wait for 0). */
unsigned notify_pending(const struct notify *n);

/* Delivered and given-up counts since notify_new. */
uint64_t notify_delivered(const struct notify *n);
uint64_t notify_dropped(const struct notify *n);

/* Stops retrying: waiting deliveries are dropped, requests in flight finish; <n> is freed when
 * the last one has. Call once, from the loop thread. */
void notify_close(struct notify *n);

#endif /* SERVER_NOTIFY_H */
