/* SPDX-License-Identifier: ISC */
/* server.yaml → struct server_conf. Relative paths are resolved against the file's directory.
 *
 *   listen: 127.0.0.1:9900        # or unix:/run/cutover/server.sock
 *   data: .                       # cutover.db and revisions/ live here
 *   admin_token_file: admin.token # relative to data
 *   enroll_token_file: enroll.token
 *   tls: {cert: cert.pem, key: key.pem}      # optional: HTTPS
 *   heartbeat_interval: 5s        # told to agents at registration
 *   heartbeat_timeout: 15s        # silent agent with a running command → AGENT_ISSUE
 *   max_bundle_size: 512M
 *   log_level: info */
#ifndef SERVER_SERVER_CONF_H
#define SERVER_SERVER_CONF_H

#include <stdint.h>

#include "common/addr.h"
#include "common/arena.h"

struct err;

#define SERVER_CONF_DEFAULT_LISTEN "127.0.0.1:9900"

struct server_conf {
    struct arena arena; /* owns every string below */
    const char *path;   /* the file loaded */
    struct addr listen;
    const char *data_dir;
    const char *db_path;       /* <data>/cutover.db */
    const char *revisions_dir; /* <data>/revisions */
    const char *admin_token_file;
    const char *enroll_token_file;
    const char *tls_cert; /* NULL: plain HTTP */
    const char *tls_key;
    uint64_t heartbeat_interval_ms;
    uint64_t heartbeat_timeout_ms;
    uint64_t max_bundle_size;
    const char *log_level; /* "info" … */
};

/* Loads and validates <path>. Errors are "FILE:LINE:COL: …" and -EINVAL (or -ENOENT/-EIO for
 * an unreadable file). On error nothing is left to free. */
int server_conf_load(struct server_conf *out, const char *path, struct err *err);
void server_conf_fini(struct server_conf *c);

#endif /* SERVER_SERVER_CONF_H */
