/* SPDX-License-Identifier: ISC */
/* Bringing the demo's site up (the processes of demo_stack.h's site): `cutover server init`
 * and the server, the proxy, for each host its nginx (when installed) and its agent, the
 * server's objects, and the wait until both agents are online. Every wait is bounded, every
 * process goes through demo_proc (own session, the demo's marker, a log in SITE/logs/). */
#ifndef CLI_DEMO_SITE_H
#define CLI_DEMO_SITE_H

struct demo_site;
struct demo_proc_set;
struct err;

/* Brings <s> up (its dir, self, nginx and hosts set; ports are chosen here) and fills its API
 * client. Returns 0, or a negative errno with <err> naming the step that failed (-EINTR:
 * SIGINT/SIGTERM arrived). Whatever was started stays in <ps> for the caller to stop. */
int demo_site_start(struct demo_site *s, struct demo_proc_set *ps, struct err *err);

#endif /* CLI_DEMO_SITE_H */
