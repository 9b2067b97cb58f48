/* SPDX-License-Identifier: ISC */
/* The host agent's translations between the lifecycle engine and the server's wire
 * contract (server-design.md): event statuses and diagnostics codes, report bodies, --tags,
 * server URLs and the retry backoff. No I/O and no clock, but for agent_wire_jitter. */
#ifndef AGENT_AGENT_WIRE_H
#define AGENT_AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/lifecycle.h"
#include "protocol/deploy.h"

struct err;

#define AGENT_WIRE_MAX_TAGS 32

/* An event's diagnostics: what went wrong in a failed event, or the log tail of a successful
 * one (code 0). Strings borrowed, any may be NULL. */
struct agent_wire_failure {
    int code;            /* hook_run outcome code: 1..7 (7: interrupted by an agent restart) */
    const char *script;  /* the failing script's location */
    const char *message; /* the reference agent's message shape */
    const char *log_tail;
};

/* The wire status of an event the lifecycle reported; false for LIFECYCLE_NOT_RUN (never
 * reported). An ignored failure (--ignore-application-stop-failures) is Succeeded. */
bool agent_wire_event_status(enum lifecycle_status st, enum deploy_event_status *out);

/* diagnostics.errorCode for a hook_run outcome code: 1 ScriptMissing, 2 ScriptNotExecutable,
 * 3 ScriptTimedOut, 4 ScriptFailed, anything else UnknownError. */
enum deploy_diag_code agent_wire_diag_code(int code);

/* The JSON body of POST /v1/agent/commands/{id}/events (malloc'd). <diag> (may be NULL: no
 * diagnostics) fills "diagnostics": errorCode from its code (0: "Success"), scriptName,
 * message, logTail, exitCode. */
char *agent_wire_event_body(const char *event, enum deploy_event_status status, int64_t start_ms,
                            int64_t end_ms, const struct agent_wire_failure *failure);

/* --tags "k=v,k2=v2" into parallel arrays of pointers into <buf> (a writable copy the caller
 * owns). Keys are non-empty, unique; values may be empty. Returns 0 or -EINVAL with err set. */
int agent_wire_parse_tags(char *buf, const char **keys, const char **values, size_t *n,
                          struct err *err);

/* <server> (with or without a trailing '/') + <path> (which starts with '/'), or <path> alone
 * when it already is an absolute http(s) URL. Returns 0 or -ENAMETOOLONG. */
int agent_wire_url(char *out, size_t size, const char *server, const char *path);

/* Checks --server: http:// or https:// followed by a host. */
bool agent_wire_server_is_valid(const char *server);

/* Delay before retry number <attempt> (0-based): 500 ms doubling up to <max_ms>, minus up to a
 * quarter chosen by <rnd> (any value), so a fleet does not retry in lockstep. */
uint32_t agent_wire_backoff_ms(unsigned attempt, uint32_t max_ms, uint32_t rnd);

/* A random value for agent_wire_backoff_ms (getrandom, or the clock when it is unavailable).
 * The one impure helper here. */
uint32_t agent_wire_jitter(void);

/* The events of a command, by name, into <out> (APPSPEC_NEVENTS entries). Unknown or repeated
 * names fail with -EINVAL and err naming the event. */
int agent_wire_events(const char *const *names, size_t n, enum appspec_event *out, size_t *nout,
                      struct err *err);

#endif /* AGENT_AGENT_WIRE_H */
