/* SPDX-License-Identifier: ISC */
/* The supervisor's control protocol (`cutover apps` ↔ `cutover supervise`): one JSON object per
 * line over a unix stream socket, a request from the client, then one reply. This file is the
 * only place its field names appear.
 *
 *   request  {"cmd":"reload","app":"web","parallel":1}
 *   reply    {"ok":false,"error":"...","failed_worker":"web[2]","log_tail":"...",
 *             "workers":[{"app":"web","index":0,"pid":123,"state":"ready","restarts":0,
 *                         "uptime_s":12.5,"rss_bytes":123456,"cpu_pct":0.4,"generation":2,
 *                         "exit_code":-1,"exit_signal":0,"log_out":"/var/log/…","log_err":"…"}]}
 */
#ifndef PROTOCOL_APPS_MSG_H
#define PROTOCOL_APPS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define APPS_MSG_NAME_MAX 128
#define APPS_MSG_PATH_MAX 4096
#define APPS_MSG_LINE_MAX (1024 * 1024) /* the longest line either side accepts */

struct apps_msg_request {
    char cmd[16];                /* status start stop restart reload logs */
    char app[APPS_MSG_NAME_MAX]; /* "" for every app */
    uint32_t parallel;           /* reload surge width; 0: default (1) */
};

struct apps_msg_worker {
    char app[APPS_MSG_NAME_MAX];
    uint32_t index;
    int pid;        /* 0 when not running */
    char state[16]; /* starting ready draining stopped errored */
    uint32_t restarts;
    double uptime_s;
    double started_at; /* unix seconds of the last start, 0 if never */
    uint64_t rss_bytes;
    double cpu_pct;
    uint32_t generation;
    int exit_code;   /* last exit status, -1 if none */
    int exit_signal; /* last terminating signal, 0 if none */
    char log_out[APPS_MSG_PATH_MAX];
    char log_err[APPS_MSG_PATH_MAX];
};

struct apps_msg_reply {
    bool ok;
    char *error;                     /* owned, NULL when ok */
    char *failed_worker;             /* owned: "web[2]" when a reload failed on that worker */
    char *log_tail;                  /* owned: the failed worker's last log lines */
    struct apps_msg_worker *workers; /* owned array */
    size_t nworkers;
};

/* Encoders return a malloc'd single-line JSON text without the trailing newline. */
char *apps_msg_request_encode(const struct apps_msg_request *req);
int apps_msg_request_decode(struct apps_msg_request *out, const char *text, struct err *err);

char *apps_msg_reply_encode(const struct apps_msg_reply *rep);
int apps_msg_reply_decode(struct apps_msg_reply *out, const char *text, struct err *err);
/* The workers part alone, pretty-printed, for `status --output json`. */
char *apps_msg_workers_encode_pretty(const struct apps_msg_reply *rep);

/* One JSON object for `apps logs --output json` (JSON lines):
 * {"app":"web","index":0,"stream":"out","path":"…","line":"…"}. */
char *apps_msg_log_line_encode(const char *app, uint32_t index, const char *stream,
                               const char *path, const char *line, size_t len);

void apps_msg_reply_fini(struct apps_msg_reply *rep);
/* Appends a zeroed worker to rep->workers and returns it. */
struct apps_msg_worker *apps_msg_reply_add_worker(struct apps_msg_reply *rep);

#endif /* PROTOCOL_APPS_MSG_H */
