/* SPDX-License-Identifier: ISC */
/* A minimal blocking HTTP client over libcurl, for probes and small requests run from a worker
 * thread (uv_queue_work). Nothing here touches the event loop. */
#ifndef COMMON_HTTP_CLIENT_H
#define COMMON_HTTP_CLIENT_H

struct err;

/* Loads libcurl (dlopen, once) and runs its global setup. Thread-safe; called implicitly by
 * the first request, but call it from *_main before threads start if you can. Returns 0 or
 * -ENOSYS when libcurl cannot be loaded. */
int http_client_global_init(void);

/* GET <url> (through the unix socket <unix_path> when not NULL), giving up after <timeout_ms>.
 * The body is discarded. On a response *status is its code and 0 is returned; otherwise a
 * negative errno with the reason in <err>. Thread-safe. */
int http_client_get_status(const char *url, const char *unix_path, long timeout_ms, long *status,
                           struct err *err);

#endif /* COMMON_HTTP_CLIENT_H */
