/* SPDX-License-Identifier: ISC */
/* `cutover deploy <verb>`: the command-line client of `cutover server`, verbs named as in
 * `aws deploy`. Every verb takes --server URL and --token T (or CUTOVER_SERVER / CUTOVER_TOKEN,
 * or --token-file PATH) and --output json|table. Exit status: 0 ok, 1 the call or the
 * deployment failed, 2 usage, 75 the server is unreachable (retry later). */
#ifndef CLI_CLI_DEPLOY_H
#define CLI_CLI_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

#define CLI_DEPLOY_DEFAULT_SERVER "http://127.0.0.1:9900"

/* How to reach the server (shared with cli_deploy_wait.c). */
struct cli_deploy_client {
    const char *server; /* base URL, no trailing slash */
    const char *token;  /* bearer */
    const char *cacert; /* PEM to verify an https server with, or NULL */
    bool json;          /* --output json */
};

/* One API call. On a response (any status) fills *status and <body> and returns 0; on a
 * transport failure prints "cutover deploy: <reason>" and returns ERR_EXIT_TEMPFAIL. */
int cli_deploy_call(const struct cli_deploy_client *cl, const char *method, const char *path,
                    const char *body, size_t len, const char *content_type, long *status,
                    struct buf *out);
/* Prints the server's {"error": …} message for a non-2xx answer and returns ERR_EXIT_FAILED. */
int cli_deploy_fail(const char *verb, long status, const struct buf *body);

/* Appends "/<s>" to <b>, percent-encoded: one path segment. */
void cli_deploy_append_seg(struct buf *b, const char *s);

/* --wait: follows deployment <id> until it ends or <timeout_ms> passes, drawing progress on a
 * terminal (plain lines otherwise, nothing but the final JSON with --output json). Returns 0
 * when it Succeeded, ERR_EXIT_FAILED when it failed, stopped or the wait timed out,
 * ERR_EXIT_TEMPFAIL when the server stayed unreachable. */
int cli_deploy_wait_run(const struct cli_deploy_client *cl, const char *id, long timeout_ms);

int cli_deploy_main(int argc, char **argv);

#endif /* CLI_CLI_DEPLOY_H */
