/* SPDX-License-Identifier: ISC */
/* The two logs every deployment writes, in the reference agent's formats:
 *   <deployment dir>/logs/scripts.log        "YYYY-MM-DD HH:MM:SS <entry>"
 *   <root>/deployment-logs/<name>.log        "[YYYY-MM-DD HH:MM:SS.mmm] [<deployment-id>]<entry>"
 * Entries: "LifecycleEvent - <Event>", "Script - <location>", "[stdout]<line>", "[stderr]<line>".
 */
#ifndef AGENT_DEPLOY_LOG_H
#define AGENT_DEPLOY_LOG_H

struct deploy_log;

/* Opens both files for appending (creating them 0644). Returns 0 or a negative errno. */
int deploy_log_open(struct deploy_log **out, const char *scripts_log, const char *deployments_log,
                    const char *deployment_id);
void deploy_log_close(struct deploy_log *log);

/* Appends one entry to both logs with one write(2) each. <log> may be NULL (no-op). */
void deploy_log_entry(struct deploy_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* AGENT_DEPLOY_LOG_H */
