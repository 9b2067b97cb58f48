/* SPDX-License-Identifier: ISC */
/* The access log: one line per finished request, written when it ends (STYLE.md §5), separate
 * from the diagnostic log on stderr. Owned by P2 (access_log.c); this prototype is the contract
 * the data path (conn.c) calls. */
#ifndef PROXY_ACCESS_LOG_H
#define PROXY_ACCESS_LOG_H

#include <stdint.h>

struct addr;
struct err;

struct access_log; /* opaque */

/* Everything one line says. Strings and addresses are borrowed for the call only. */
struct access_log_entry {
    int64_t start_unix_us;     /* wall clock when the request head was complete */
    const struct addr *client; /* the client's address */
    const char *listener;      /* listener name */
    const char *group;         /* target group chosen, NULL when none (503, 400, …) */
    const struct addr *target; /* target that served it, NULL when none */
    const char *method;        /* request method, "-" when the head did not parse */
    const char *uri;           /* request-target as received, "-" when unknown */
    int version_minor;         /* HTTP/1.<version_minor> */
    int status;                /* status sent to the client; 0 when none was sent */
    uint64_t bytes_in;         /* bytes received from the client for this request (head+body) */
    uint64_t bytes_out;        /* bytes sent to the client for this response (head+body) */
    int64_t request_time_us;   /* head complete → last response byte written */
    int64_t target_time_us;    /* request sent → response head received; -1 if no target */
    const char *error;         /* why the proxy answered itself ("no routable target",
                                  "upstream connect refused", "response timeout"), or NULL */
};

/* Opens <path> for appending ("-" is stdout). Returns 0 or a negative errno with a message. */
int access_log_open(struct access_log **out, const char *path, struct err *err);
void access_log_close(struct access_log *log);

/* Reopens the file by its path (log rotation: call on SIGHUP after the file was moved away);
 * lines already buffered go to the old file, later ones to the new. "-" is left alone. Returns 0
 * or a negative errno with a message (the old file stays in use). Main thread. */
int access_log_reopen(struct access_log *log, struct err *err);

/* Writes one line for <e>. Called from any worker thread, once per request, when it ends;
 * thread-safe, never blocks on a lock held across I/O, never fails the request. */
void access_log_write(struct access_log *log, const struct access_log_entry *e);

#endif /* PROXY_ACCESS_LOG_H */
