/* SPDX-License-Identifier: ISC */
/* The report `cutover local --output json` prints: one JSON object on one line. Users script
 * against it, so its names and shapes only ever grow. This file is the only place its field
 * names appear.
 *
 *   {"deploymentId":"d-…","deploymentGroupId":"…","status":"Succeeded"|"Failed",
 *    "deploymentDir":"…","scriptsLog":"…","deploymentsLog":"…",
 *    "install":{"filesWritten":3,"filesRetained":0,"dirsCreated":1,"cleaned":0},
 *    "events":[{"event":"BeforeInstall","status":"Succeeded","durationMs":12,
 *               "revision":"new"|null,"note":"…"|null,
 *               "scripts":[{"location":"…","runas":"…"|null,"status":"Succeeded","code":0,
 *                           "exitStatus":0,"signal":0,"durationMs":11}]}],
 *    "error":null|{"event":"…","script":"…"|null,"code":1,"name":"ScriptFailed",
 *                  "message":"…","logTail":"…"|null}}
 *
 * and, when the deployment never started (or for --check):
 *
 *   {"status":"Refused"|"Busy","error":{"message":"…"}}      {"status":"ok"}
 *
 * Strings need not be UTF-8: invalid bytes come out as U+FFFD (json_util_string).
 */
#ifndef PROTOCOL_LOCAL_REPORT_H
#define PROTOCOL_LOCAL_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* Every pointer below is borrowed; a NULL string is written as null. */
struct local_report_script {
    const char *location;
    const char *runas;
    const char *status; /* hook_run outcome name */
    int code;           /* hook_run outcome code */
    int exit_status;
    int signal;
    uint64_t duration_ms;
};

struct local_report_event {
    const char *event;
    const char *status;
    uint64_t duration_ms;
    const char *revision;
    const char *note;
    const struct local_report_script *scripts;
    size_t nscripts;
};

struct local_report_error {
    const char *event;
    const char *script;
    int code;
    const char *name;
    const char *message;
    const char *log_tail;
};

struct local_report {
    const char *deployment_id;
    const char *deployment_group_id;
    const char *status; /* "Succeeded" or "Failed" */
    const char *deployment_dir;
    const char *scripts_log;
    const char *deployments_log;
    size_t files_written;
    size_t files_retained;
    size_t dirs_created;
    size_t cleaned;
    const struct local_report_event *events;
    size_t nevents;
    const struct local_report_error *error; /* NULL: "error":null */
};

/* Encoders return a malloc'd single-line JSON text without the trailing newline. Never NULL. */
char *local_report_encode(const struct local_report *rep);
/* {"status":<status>} when <message> is NULL, else {"status":…,"error":{"message":…}}. */
char *local_report_encode_status(const char *status, const char *message);

#endif /* PROTOCOL_LOCAL_REPORT_H */
