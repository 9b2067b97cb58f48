/* SPDX-License-Identifier: ISC */
/* `cutover apply -f stack.yaml`: declarative, idempotent creation and update of the proxy's
 * listeners and target groups, deployment configs, applications and deployment groups
 * (docs/man/cutover-apply.md). Exit status: 0 applied or nothing to do, 1 a change failed
 * (what was applied is listed), 2 invalid stack file or usage (nothing changed), 75 the proxy
 * or the server is unreachable (nothing changed). */
#ifndef CLI_CLI_APPLY_H
#define CLI_CLI_APPLY_H

int cli_apply_main(int argc, char **argv);

#endif /* CLI_CLI_APPLY_H */
