/* SPDX-License-Identifier: ISC */
/* `cutover local`: one revision through the full lifecycle on this host, the equivalent of the
 * reference agent's codedeploy-local (flags, defaults and exit codes in docs/man/cutover-local.md).
 */
#ifndef AGENT_LOCAL_H
#define AGENT_LOCAL_H

/* Exit status: 0 deployed, 1 the deployment failed (or the group is busy), 2 usage, bundle or
 * appspec error (nothing applied). */
int local_main(int argc, char **argv);

#endif /* AGENT_LOCAL_H */
