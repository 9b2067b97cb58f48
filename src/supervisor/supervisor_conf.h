/* SPDX-License-Identifier: ISC */
/* apps.yaml, parsed and checked in full before anything runs (DESIGN.md "Config shapes").
 * Every error is "FILE:LINE:COL: what is wrong (what was expected)". The conf owns the parsed
 * document; every string in it is borrowed from that document. */
#ifndef SUPERVISOR_SUPERVISOR_CONF_H
#define SUPERVISOR_SUPERVISOR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

struct err;
struct yaml_conf_doc;

#define SUPERVISOR_CONF_DEFAULT_PATH "/etc/cutover/apps.yaml"
#define SUPERVISOR_CONF_DEFAULT_CONTROL "/run/cutover/supervise.sock"

enum supervisor_ready_kind {
    SUPERVISOR_READY_NONE = 0, /* no ready: key: ready as soon as the process runs */
    SUPERVISOR_READY_HTTP,     /* {http: PATH}: GET answers 2xx/3xx */
    SUPERVISOR_READY_TCP,      /* {tcp: true}: the port accepts a connection */
    SUPERVISOR_READY_NOTIFY,   /* {notify: true}: READY=1 on NOTIFY_SOCKET */
};

struct supervisor_env {
    const char *name;
    const char *value;
};

struct supervisor_app_conf {
    const char *name;
    const char **argv; /* owned array, NULL-terminated; strings borrowed */
    size_t argc;
    const char *cwd; /* NULL: the supervisor's cwd */
    uint32_t instances;
    bool has_listen;
    struct addr listen;         /* has_listen: the shared socket (fd 3 in every worker) */
    uint32_t ports;             /* !has_listen && ports != 0: worker i gets PORT=ports+i */
    struct supervisor_env *env; /* owned array */
    size_t nenv;
    enum supervisor_ready_kind ready;
    const char *ready_path; /* SUPERVISOR_READY_HTTP */
    uint64_t ready_timeout_ms;
    const char *user;  /* NULL: keep the supervisor's */
    const char *group; /* NULL: the user's primary group */
    int kill_signal;
    uint64_t kill_timeout_ms;
    uint64_t min_uptime_ms;  /* restart.min_uptime */
    uint64_t backoff_max_ms; /* restart.backoff_max */
    uint32_t max_restarts;   /* restart.max_restarts within restart.window: errored */
    uint64_t window_ms;      /* restart.window */
    uint64_t max_memory;     /* bytes of RSS; 0: unlimited */
    const char *log_dir;     /* NULL: no log files (output discarded) */
    uint64_t log_max_size;
    uint32_t log_keep;
    const char *nginx_upstream; /* ports mode: upstream file the supervisor owns, or NULL */
    const char **nginx_reload;  /* owned argv, NULL-terminated: [nginx, -s, reload] */
};

struct supervisor_conf {
    struct yaml_conf_doc *doc; /* owned: every string below points into it */
    const char *path;
    const char *control;
    struct supervisor_app_conf *apps; /* owned array */
    size_t napps;
};

/* Loads and validates <path>. On success *out is a new conf (supervisor_conf_free it). */
int supervisor_conf_load(struct supervisor_conf **out, const char *path, struct err *err);
/* Same from a buffer; <name> is used in messages. */
int supervisor_conf_load_buffer(struct supervisor_conf **out, const char *name, const char *data,
                                size_t len, struct err *err);
void supervisor_conf_free(struct supervisor_conf *conf);

const struct supervisor_app_conf *supervisor_conf_app(const struct supervisor_conf *conf,
                                                      const char *name);
/* True when the two app definitions would run the same workers the same way. */
bool supervisor_conf_app_equal(const struct supervisor_app_conf *a,
                               const struct supervisor_app_conf *b);
/* "SIGTERM" → 15. Returns 0 or -EINVAL. Accepts "TERM" and numbers too. */
int supervisor_conf_signal_parse(const char *s, int *out);
const char *supervisor_conf_signal_name(int sig);

#endif /* SUPERVISOR_SUPERVISOR_CONF_H */
