/* SPDX-License-Identifier: ISC */
/* The orchestrator: drives every active deployment on the server loop, from the rows in the
 * store (server/store.h) and the pure decisions of server/deployment.h. Level-triggered: each
 * tick (and each kick from an API hook) re-reads an active deployment's persisted progress,
 * hosts, events and commands, and takes the next action. Every action is persisted before it
 * is acted on (a command row before the agent is woken, an event row InProgress before the
 * proxy is called, the traffic split before the PUT, the ending before traffic flips back), so
 * a server killed at any moment resumes each deployment from its last persisted step when
 * restarted; proxy calls are idempotent and re-issued.
 *
 * Talks to the proxy only through server/traffic (non-blocking), evaluates alarms from the
 * proxy's /metrics (server/alarms), sends webhooks (server/notify). */
#ifndef SERVER_ORCHESTRATOR_H
#define SERVER_ORCHESTRATOR_H

#include <stdint.h>

struct server;

#define ORCHESTRATOR_TICK_MS 250
#define ORCHESTRATOR_KICK_MS 10 /* kicks (agent reports, API calls) coalesce into one tick */
#define ORCHESTRATOR_SCRAPE_MS 500
#define ORCHESTRATOR_HEARTBEAT_TIMEOUT_MS 15000 /* 3 × the agents' 5 s heartbeat interval */

/* Attaches to srv->loop: installs srv->hooks (server_set_hooks), starts the tick, and resumes
 * every active deployment of the store. srv->store must be open. Returns 0 or a negative
 * errno. */
int orchestrator_start(struct server *srv);

/* How long an agent running a command may stay silent before its host fails with
 * AGENT_ISSUE (default ORCHESTRATOR_HEARTBEAT_TIMEOUT_MS). */
void orchestrator_set_heartbeat_timeout(struct server *srv, uint64_t ms);

/* Detaches from the loop: timers closed, webhooks waiting dropped; proxy calls in flight
 * finish and are ignored. Rows are left as they are: a restart resumes them. */
void orchestrator_stop(struct server *srv);

#endif /* SERVER_ORCHESTRATOR_H */
