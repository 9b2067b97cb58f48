/* SPDX-License-Identifier: ISC */
/* `cutover proxy <verb>`: the proxy admin API's command-line client, verbs named as in
 * `aws elbv2`: describe-target-health, modify-listener, register-targets, deregister-targets,
 * describe-listeners, describe-target-groups. Every verb takes --admin ADDR (default
 * $CUTOVER_PROXY_ADMIN, else 127.0.0.1:9901; "unix:/path" for a unix socket) and
 * --output json|table (table on a terminal). Exit status: 0 ok, 1 the proxy refused the
 * request, 2 usage, 75 the proxy could not be reached. See docs/man/cutover-proxy.md. */
#ifndef CLI_CLI_PROXY_H
#define CLI_CLI_PROXY_H

#include <stdbool.h>

/* True if <word> is one of the verbs above (main.c routes `cutover proxy <verb>` here and
 * everything else to proxy_main). */
bool cli_proxy_is_verb(const char *word);

/* argv[0] is the verb. Returns the exit status. */
int cli_proxy_main(int argc, char **argv);

#endif /* CLI_CLI_PROXY_H */
