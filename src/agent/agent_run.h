/* SPDX-License-Identifier: ISC */
/* One command of the host agent, start to end: the bundle downloaded into the agent's cache and
 * checked against its sha256 before anything is unpacked, the revision validated, then its
 * lifecycle events run by the `cutover local` engine, each reported (InProgress, then its final
 * status with diagnostics) through the agent's durable outbox. The running record is kept up to
 * date so a restarted agent reports the interrupted event (code 7). */
#ifndef AGENT_AGENT_RUN_H
#define AGENT_AGENT_RUN_H

#include <stdbool.h>

struct agent;
struct deploy_command;

/* Runs <cmd> on the calling thread (blocking). Failures are reported to the server, not
 * returned: the result says whether every event succeeded or was skipped. */
bool agent_run_command(struct agent *a, const struct deploy_command *cmd);

/* At startup: turns a running record left by a killed agent into reports (the last final report
 * again, then the interrupted event as Failed with code 7) and clears it. */
void agent_run_recover(struct agent *a);

#endif /* AGENT_AGENT_RUN_H */
